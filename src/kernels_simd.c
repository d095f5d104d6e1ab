/* kernels_simd.c — the WASM SIMD128 versions of the kernels, four lanes
 * at a time, giving the same bits as the scalar ones in kernels.c (why
 * they agree: the top of kernels.c).  Compiled to nothing without
 * -msimd128. */
#include "kernels_internal.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>


/* Sum of the four lanes: counters of non-finite elements.  A lane cannot
 * wrap: wasm32 memory holds fewer than 2^32 / 2 halves. */
static inline size_t hsum_u32(v128_t v)
{
	return (size_t)wasm_u32x4_extract_lane(v, 0) + wasm_u32x4_extract_lane(v, 1) +
	       wasm_u32x4_extract_lane(v, 2) + wasm_u32x4_extract_lane(v, 3);
}

static inline uint32_t hmax_u32(v128_t v)
{
	v = wasm_u32x4_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
	v = wasm_u32x4_max(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
	return wasm_u32x4_extract_lane(v, 0);
}

static inline uint16_t hmax_u16(v128_t v)
{
	v = wasm_u16x8_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
	v = wasm_u16x8_max(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
	v = wasm_u16x8_max(v, wasm_i16x8_shuffle(v, v, 1, 0, 3, 2, 5, 4, 7, 6));
	return wasm_u16x8_extract_lane(v, 0);
}

/* Nonnegative floats, never NaN here: pmax in any order gives the same. */
static inline float hmax_f32(v128_t v)
{
	v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
	v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
	return wasm_f32x4_extract_lane(v, 0);
}

/* Halves (one per u32 lane) to floats, exactly as kernel_f16_to_f32. */
static inline v128_t f16_to_f32x4(v128_t h)
{
	v128_t a = wasm_v128_and(h, wasm_i32x4_splat(0x7fff));
	v128_t sign = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16);
	v128_t moved = wasm_i32x4_shl(a, 13);
	v128_t fin = wasm_f32x4_mul(moved, wasm_f32x4_splat(0x1p112f));
	v128_t inf = wasm_v128_or(moved, wasm_i32x4_splat(0x7f800000));

	return wasm_v128_or(wasm_v128_bitselect(inf, fin, wasm_i32x4_ge(a, wasm_i32x4_splat(0x7c00))),
			    sign);
}

/* |w| of 4 floats, non-finite as 0 (t's elements read directly). */
static inline v128_t abs_finite_f32x4(v128_t w)
{
	v128_t a = wasm_v128_and(w, wasm_i32x4_splat(0x7fffffff));

	return wasm_v128_andnot(a, wasm_i32x4_ge(a, wasm_i32x4_splat(0x7f800000)));
}

/* |w| of 4 halves (one per u32 lane) as floats, non-finite as 0. */
static inline v128_t abs_finite_f16x4(v128_t h)
{
	v128_t a = wasm_v128_and(h, wasm_i32x4_splat(0x7fff));

	a = wasm_v128_andnot(a, wasm_i32x4_ge(a, wasm_i32x4_splat(0x7c00)));
	return wasm_f32x4_mul(wasm_i32x4_shl(a, 13), wasm_f32x4_splat(0x1p112f));
}

size_t kernel_absmax_reduce_simd(const struct kernel_tensor *t, float *m)
{
	size_t rows = t->d0 * t->d1, k = t->k, r, s, bad = 0;
	const uint8_t *p = t->p;
	v128_t cnt = wasm_i32x4_splat(0);

	if (t->dt == KERNEL_F32 && k == 1) {
		v128_t mag = wasm_i32x4_splat(0x7fffffff), inf = wasm_i32x4_splat(0x7f800000);

		for (r = 0; r + 4 <= rows; r += 4) {
			v128_t a = wasm_v128_and(wasm_v128_load(p + 4 * r), mag);
			v128_t nf = wasm_i32x4_ge(a, inf);

			wasm_v128_store(m + r, wasm_v128_andnot(a, nf));
			cnt = wasm_i32x4_sub(cnt, nf);
		}
		bad = hsum_u32(cnt);
		for (; r < rows; r++)
			m[r] = f32_from_bits(abs_bits_f32(p + 4 * r, &bad));
		return bad;
	}
	if (t->dt == KERNEL_F32 && k >= 4) {
		v128_t mag = wasm_i32x4_splat(0x7fffffff), inf = wasm_i32x4_splat(0x7f800000);

		for (r = 0; r < rows; r++, p += 4 * k) {
			v128_t acc = wasm_i32x4_splat(0);
			uint32_t best, a;

			for (s = 0; s + 4 <= k; s += 4) {
				v128_t v = wasm_v128_and(wasm_v128_load(p + 4 * s), mag);
				v128_t nf = wasm_i32x4_ge(v, inf);

				acc = wasm_u32x4_max(acc, wasm_v128_andnot(v, nf));
				cnt = wasm_i32x4_sub(cnt, nf);
			}
			best = hmax_u32(acc);
			for (; s < k; s++) {
				a = abs_bits_f32(p + 4 * s, &bad);
				best = a > best ? a : best;
			}
			m[r] = f32_from_bits(best);
		}
		return bad + hsum_u32(cnt);
	}
	if (t->dt == KERNEL_F16 && k == 1) {
		v128_t mag = wasm_i16x8_splat(0x7fff), inf = wasm_i16x8_splat(0x7c00);
		v128_t scale = wasm_f32x4_splat(0x1p112f);

		for (r = 0; r + 8 <= rows; r += 8) {
			v128_t a = wasm_v128_and(wasm_v128_load(p + 2 * r), mag);
			v128_t nf = wasm_i16x8_ge(a, inf);

			/* each non-finite lane is -1; pairs summed into 32-bit counters */
			cnt = wasm_i32x4_sub(cnt, wasm_i32x4_extadd_pairwise_i16x8(nf));
			a = wasm_v128_andnot(a, nf);
			wasm_v128_store(m + r, wasm_f32x4_mul(wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(a), 13),
							      scale));
			wasm_v128_store(m + r + 4,
					wasm_f32x4_mul(wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(a), 13),
						       scale));
		}
		bad = hsum_u32(cnt);
		for (; r < rows; r++)
			m[r] = kernel_f16_to_f32(abs_bits_f16(p + 2 * r, &bad));
		return bad;
	}
	if (t->dt == KERNEL_F16 && k >= 8) {
		v128_t mag = wasm_i16x8_splat(0x7fff), inf = wasm_i16x8_splat(0x7c00);

		for (r = 0; r < rows; r++, p += 2 * k) {
			v128_t acc = wasm_i16x8_splat(0);
			uint16_t best, a;

			for (s = 0; s + 8 <= k; s += 8) {
				v128_t v = wasm_v128_and(wasm_v128_load(p + 2 * s), mag);
				v128_t nf = wasm_i16x8_ge(v, inf);

				acc = wasm_u16x8_max(acc, wasm_v128_andnot(v, nf));
				cnt = wasm_i32x4_sub(cnt, wasm_i32x4_extadd_pairwise_i16x8(nf));
			}
			best = hmax_u16(acc);
			for (; s < k; s++) {
				a = abs_bits_f16(p + 2 * s, &bad);
				best = a > best ? a : best;
			}
			m[r] = kernel_f16_to_f32(best);
		}
		return bad + hsum_u32(cnt);
	}
	/* windows of 2..3 floats or 2..7 halves: too short for a vector */
	return kernel_absmax_reduce_scalar(t, m);
}

/* Four values of the [d0][d1] matrix the weighted maxima read, from flat index r. */
static inline v128_t wm_load4(const struct kernel_tensor *t, const float *m, size_t r)
{
	if (m != NULL)
		return wasm_v128_load(m + r);
	if (t->dt == KERNEL_F16)
		return abs_finite_f16x4(wasm_u32x4_load16x4(t->p + 2 * r));
	return abs_finite_f32x4(wasm_v128_load(t->p + 4 * r));
}

static inline float wm_value(const struct kernel_tensor *t, const float *m, size_t r)
{
	size_t bad = 0;

	return m != NULL ? m[r] : absmax_row(t, t->p + r * elem_size(t->dt), &bad);
}

void kernel_weighted_max_simd(const struct kernel_tensor *t, const float *m, const float *a,
			      const float *b, float *r0, float *r1)
{
	size_t d0 = t->d0, d1 = t->d1, per = d0 / t->groups, n_col = t->groups * d1, i, j;
	v128_t zero = wasm_f32x4_splat(0.0f);

	if (m == NULL && t->k != 1) {
		kernel_weighted_max_scalar(t, m, a, b, r0, r1);
		return;
	}
	if (d1 == 1 && per == 1) {
		/* depthwise: col(i, 0) = i, so both maxima are over one product */
		float o0[4], o1[4]; /* where an output not asked for goes */
		size_t s0 = r0 != NULL ? 4 : 0, s1 = r1 != NULL ? 4 : 0;
		float *p0 = r0 != NULL ? r0 : o0, *p1 = r1 != NULL ? r1 : o1;

		for (i = 0; i + 4 <= d0; i += 4, p0 += s0, p1 += s1) {
			v128_t v = wm_load4(t, m, i);

			wasm_v128_store(p0, wasm_f32x4_pmax(zero, wasm_f32x4_mul(v, wasm_v128_load(b + i))));
			wasm_v128_store(p1, wasm_f32x4_pmax(zero, wasm_f32x4_mul(v, wasm_v128_load(a + i))));
		}
		for (; i < d0; i++) {
			float v = wm_value(t, m, i), x = v * b[i], y = v * a[i];

			if (r0 != NULL)
				r0[i] = 0.0f < x ? x : 0.0f;
			if (r1 != NULL)
				r1[i] = 0.0f < y ? y : 0.0f;
		}
		return;
	}
	if (d1 < 4) {
		kernel_weighted_max_scalar(t, m, a, b, r0, r1);
		return;
	}
	for (j = 0; r1 != NULL && j < n_col; j++)
		r1[j] = 0.0f;
	for (i = 0; i < d0; i++) {
		const float *bg = b + i / per * d1;
		float *rg = r1 != NULL ? r1 + i / per * d1 : NULL, best;
		v128_t acc = zero, av = wasm_f32x4_splat(a[i]);

		if (rg == NULL) { /* row maxima only; two chains (a maximum is the same in any order) */
			v128_t acc2 = zero;

			for (j = 0; j + 8 <= d1; j += 8) {
				acc = wasm_f32x4_pmax(acc, wasm_f32x4_mul(wm_load4(t, m, i * d1 + j),
									  wasm_v128_load(bg + j)));
				acc2 = wasm_f32x4_pmax(acc2, wasm_f32x4_mul(wm_load4(t, m, i * d1 + j + 4),
									    wasm_v128_load(bg + j + 4)));
			}
			for (; j + 4 <= d1; j += 4)
				acc = wasm_f32x4_pmax(acc, wasm_f32x4_mul(wm_load4(t, m, i * d1 + j),
									  wasm_v128_load(bg + j)));
			acc = wasm_f32x4_pmax(acc, acc2);
		} else if (r0 == NULL) { /* column maxima only */
			for (j = 0; j + 4 <= d1; j += 4)
				wasm_v128_store(rg + j, wasm_f32x4_pmax(wasm_v128_load(rg + j),
									wasm_f32x4_mul(wm_load4(t, m, i * d1 + j), av)));
		} else {
			for (j = 0; j + 4 <= d1; j += 4) {
				v128_t vv = wm_load4(t, m, i * d1 + j);

				acc = wasm_f32x4_pmax(acc, wasm_f32x4_mul(vv, wasm_v128_load(bg + j)));
				wasm_v128_store(rg + j, wasm_f32x4_pmax(wasm_v128_load(rg + j), wasm_f32x4_mul(vv, av)));
			}
		}
		best = hmax_f32(acc);
		for (; j < d1; j++)
			best = wm_step(wm_value(t, m, i * d1 + j), bg[j], a[i], best, rg != NULL ? &rg[j] : NULL);
		if (r0 != NULL)
			r0[i] = best;
	}
}

size_t kernel_hits_simd(const struct kernel_tensor *t, const float *m, size_t r, const float *b, float tb,
			float a, const float *tc, size_t n, uint32_t *out, size_t cap)
{
	v128_t zero = wasm_f32x4_splat(0.0f), tbv = wasm_f32x4_splat(tb), av = wasm_f32x4_splat(a);
	size_t j, got = 0, k, i;

	if (m == NULL && t->k != 1)
		return kernel_hits_scalar(t, m, r, b, tb, a, tc, n, out, cap);
	for (j = 0; j + 4 <= n; j += 4) {
		v128_t v = wm_load4(t, m, r + j);
		v128_t x = wasm_f32x4_mul(v, wasm_v128_load(b + j)), y = wasm_f32x4_mul(v, av);
		v128_t hit = wasm_v128_or(wasm_v128_and(wasm_f32x4_gt(x, zero), wasm_f32x4_ge(x, tbv)),
					  wasm_v128_and(wasm_f32x4_gt(y, zero), wasm_f32x4_ge(y, wasm_v128_load(tc + j))));
		unsigned bits = (unsigned)wasm_i32x4_bitmask(hit);

		for (; bits != 0; bits &= bits - 1) {
			if (got == cap)
				return cap + 1;
			out[got++] = (uint32_t)(j + (size_t)__builtin_ctz(bits));
		}
	}
	/* the last n % 4: the scalar version, its indices moved on by j */
	k = kernel_hits_scalar(t, m, r + j, b + j, tb, a, tc + j, n - j, out + got, cap - got);
	for (i = got; i < got + k && i < cap; i++)
		out[i] += (uint32_t)j;
	return k > cap - got ? cap + 1 : got + k;
}

/* 4 floats times (f01, f23) in double, each rounded once to float; NaN in
 * is copied, as scale_one does.  Returns the outputs' non-finite mask. */
static inline v128_t scale_f32x4(const uint8_t *src, v128_t f01, v128_t f23, uint8_t *o)
{
	v128_t w = wasm_v128_load(src);
	v128_t lo = wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(w), f01);
	v128_t hi = wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(w, w, 2, 3, 2, 3)), f23);
	v128_t out = wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi),
					0, 1, 4, 5);

	out = wasm_v128_bitselect(w, out, wasm_f32x4_ne(w, w));
	wasm_v128_store(o, out);
	return wasm_i32x4_ge(wasm_v128_and(out, wasm_i32x4_splat(0x7fffffff)), wasm_i32x4_splat(0x7f800000));
}

/* Two doubles to halves (in the low 16 bits of each 64-bit lane), as
 * kernel_f64_to_f16 rounds them; NaN lanes are left to the caller. */
static inline v128_t f64x2_to_f16(v128_t x)
{
	v128_t sign = wasm_v128_and(wasm_u64x2_shr(x, 48), wasm_i64x2_splat(0x8000));
	v128_t a = wasm_v128_and(x, wasm_i64x2_splat(INT64_MAX));
	/* normal halves: drop the low 42 fraction bits rounding to nearest even
	 * (add just under half a unit, plus the lowest kept bit); a carry moves
	 * into the exponent, which is then rebiased 1023 → 15; past 15 is Inf */
	v128_t odd = wasm_v128_and(wasm_u64x2_shr(a, 42), wasm_i64x2_splat(1));
	v128_t t = wasm_i64x2_add(wasm_i64x2_add(a, wasm_i64x2_splat(0x1ffffffffff)), odd);
	v128_t hn = wasm_i64x2_sub(wasm_u64x2_shr(t, 42), wasm_i64x2_splat((1023 - 15) << 10));
	v128_t inf = wasm_i64x2_splat(0x7c00);
	/* subnormal halves (|x| < 2^-14): adding 2^28, whose ulp is 2^-24, rounds
	 * |x| to whole units of the smallest half; the units are the low bits */
	v128_t big = wasm_f64x2_splat(0x1p28);
	v128_t hs = wasm_i64x2_sub(wasm_f64x2_add(a, big), big);

	hn = wasm_v128_bitselect(inf, hn, wasm_i64x2_gt(hn, inf));
	return wasm_v128_or(wasm_v128_bitselect(hs, hn, wasm_i64x2_lt(a, wasm_i64x2_splat(INT64_C(0x3f10000000000000)))),
			    sign);
}

/* As scale_f32x4 for 4 halves (8 bytes at src and o). */
static inline v128_t scale_f16x4(const uint8_t *src, v128_t f01, v128_t f23, uint8_t *o)
{
	v128_t raw = wasm_v128_load64_zero(src), mag = wasm_i16x8_splat(0x7fff);
	v128_t f = f16_to_f32x4(wasm_u32x4_extend_low_u16x8(raw));
	v128_t lo = f64x2_to_f16(wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(f), f01));
	v128_t hi = f64x2_to_f16(wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(f, f, 2, 3, 2, 3)),
						f23));
	/* the four halves into the low 8 bytes; lo's byte 2 is zero and fills the rest */
	v128_t out = wasm_i8x16_shuffle(lo, hi, 0, 1, 8, 9, 16, 17, 24, 25, 2, 2, 2, 2, 2, 2, 2, 2);

	out = wasm_v128_bitselect(raw, out, wasm_i16x8_gt(wasm_v128_and(raw, mag), wasm_i16x8_splat(0x7c00)));
	wasm_v128_store64_lane(o, out, 0);
	/* -1 per non-finite half, summed in pairs into the four 32-bit lanes */
	return wasm_i32x4_extadd_pairwise_i16x8(
		wasm_i16x8_ge(wasm_v128_and(out, mag), wasm_i16x8_splat(0x7c00)));
}

/* n elements from src, all times f. */
static size_t scale_span(enum kernel_dtype dt, const uint8_t *src, double f, uint8_t *o, size_t n)
{
	v128_t fv = wasm_f64x2_splat(f), cnt = wasm_i32x4_splat(0);
	size_t x, bad, es = elem_size(dt);

	if (dt == KERNEL_F16)
		for (x = 0; x + 4 <= n; x += 4)
			cnt = wasm_i32x4_sub(cnt, scale_f16x4(src + 2 * x, fv, fv, o + 2 * x));
	else
		for (x = 0; x + 4 <= n; x += 4)
			cnt = wasm_i32x4_sub(cnt, scale_f32x4(src + 4 * x, fv, fv, o + 4 * x));
	bad = hsum_u32(cnt);
	for (; x < n; x++)
		bad += scale_one(dt, src + es * x, f, o + es * x);
	return bad;
}

/* n elements from src, element x times fi * fbc[x] (k == 1: one factor per column). */
static size_t scale_cols(enum kernel_dtype dt, const uint8_t *src, double fi, const double *fbc,
			 uint8_t *o, size_t n)
{
	v128_t fv = wasm_f64x2_splat(fi), cnt = wasm_i32x4_splat(0);
	size_t x, bad, es = elem_size(dt);

	for (x = 0; x + 4 <= n; x += 4) {
		v128_t f01 = wasm_f64x2_mul(fv, wasm_v128_load(fbc + x));
		v128_t f23 = wasm_f64x2_mul(fv, wasm_v128_load(fbc + x + 2));

		cnt = wasm_i32x4_sub(cnt, dt == KERNEL_F16 ? scale_f16x4(src + 2 * x, f01, f23, o + 2 * x)
							   : scale_f32x4(src + 4 * x, f01, f23, o + 4 * x));
	}
	bad = hsum_u32(cnt);
	for (; x < n; x++)
		bad += scale_one(dt, src + es * x, fi * fbc[x], o + es * x);
	return bad;
}

/* As scale_chunk_scalar, in spans that share one factor (a row when fb is
 * NULL, a window otherwise) or, for k == 1, along a row. */
size_t kernel_scale_chunk_simd(const struct kernel_tensor *t, const double *fa, const double *fb,
			       size_t e, size_t n, struct pos *ps, uint8_t *o)
{
	size_t es = elem_size(t->dt), d1 = t->d1, k = t->k, x = 0, len, left, off, bad = 0;
	const uint8_t *src = t->p + es * e;

	while (x < n) {
		double fi = fa != NULL ? fa[ps->i] : 1.0;

		if (fb == NULL) {
			left = (d1 - ps->j) * k - ps->s; /* to the end of row i */
			len = left < n - x ? left : n - x;
			/* fi * 1.0 == fi: the same factor the scalar version forms */
			bad += scale_span(t->dt, src + es * x, fi, o + es * x, len);
			if (len == left) {
				pos_next_row(t, ps);
			} else {
				off = ps->j * k + ps->s + len;
				ps->j = off / k;
				ps->s = off % k;
			}
		} else if (k == 1) {
			left = d1 - ps->j;
			len = left < n - x ? left : n - x;
			bad += scale_cols(t->dt, src + es * x, fi, fb + ps->c0 + ps->j, o + es * x, len);
			if (len == left)
				pos_next_row(t, ps);
			else
				ps->j += len;
		} else {
			/* the rest of the chunk: each window's factor spread over its
			 * elements, then as for k == 1 (1.0 * f == f) */
			double fac[CHUNK];
			size_t y = 0, z;

			while (x + y < n) {
				double f = factor(fa, fb, ps);

				left = k - ps->s;
				len = left < n - x - y ? left : n - x - y;
				for (z = 0; z < len; z++)
					fac[y + z] = f;
				y += len;
				if (len < left) {
					ps->s += len;
				} else {
					ps->s = 0;
					if (++ps->j == d1)
						pos_next_row(t, ps);
				}
			}
			bad += scale_cols(t->dt, src + es * x, 1.0, fac, o + es * x, y);
			len = y;
		}
		x += len;
	}
	return bad;
}

/* As q_terms_scalar, four outputs at a time from lane 0 on. */
void kernel_q_terms_simd(enum kernel_dtype dt, const uint8_t *o, size_t e, size_t n, float s,
			 float *ls, float *ln)
{
	size_t es = elem_size(dt), x = 0;

	while (x < n && ((e + x) & 3) != 0)
		x++;
	q_terms_scalar(dt, o, e, x, s, ls, ln);
	if (n - x >= 4) {
		v128_t as = wasm_v128_load(ls), an = wasm_v128_load(ln), sv = wasm_f32x4_splat(s);
		v128_t lo = wasm_f32x4_splat(-127.0f), hi = wasm_f32x4_splat(127.0f);

		for (; x + 4 <= n; x += 4) {
			v128_t f = dt == KERNEL_F16 ? f16_to_f32x4(wasm_u32x4_load16x4(o + 2 * x))
						    : wasm_v128_load(o + 4 * x);
			v128_t u = wasm_f32x4_mul(f, sv), r = wasm_f32x4_nearest(u), d;

			r = wasm_f32x4_pmax(r, lo); /* r < -127 ? -127 : r */
			r = wasm_f32x4_pmin(r, hi); /* 127 < r ? 127 : r */
			d = wasm_f32x4_sub(u, r);
			as = wasm_f32x4_add(as, wasm_f32x4_mul(u, u));
			an = wasm_f32x4_add(an, wasm_f32x4_mul(d, d));
		}
		wasm_v128_store(ls, as);
		wasm_v128_store(ln, an);
	}
	q_terms_scalar(dt, o + x * es, e + x, n - x, s, ls, ln);
}

/* ---- kernel_sums ------------------------------------------------------ */

/* 4 floats with the non-finite ones made +0, as sum_elem does. */
static inline v128_t finite_f32x4(v128_t w)
{
	v128_t a = wasm_v128_and(w, wasm_i32x4_splat(0x7fffffff));

	return wasm_v128_andnot(w, wasm_i32x4_ge(a, wasm_i32x4_splat(0x7f800000)));
}

/* 4 halves (one per u32 lane) as floats, the non-finite ones +0. */
static inline v128_t finite_f16x4(v128_t h)
{
	v128_t a = wasm_v128_and(h, wasm_i32x4_splat(0x7fff));

	return f16_to_f32x4(wasm_v128_andnot(h, wasm_i32x4_ge(a, wasm_i32x4_splat(0x7c00))));
}

/* Four windows' sums (lanes 0 1 in lo, 2 3 in hi) plus 4 floats and their squares. */
static inline void sums_add4(v128_t f, v128_t *x1lo, v128_t *x1hi, v128_t *x2lo, v128_t *x2hi)
{
	v128_t lo = wasm_f64x2_promote_low_f32x4(f);
	v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(f, f, 2, 3, 2, 3));

	*x1lo = wasm_f64x2_add(*x1lo, lo);
	*x1hi = wasm_f64x2_add(*x1hi, hi);
	*x2lo = wasm_f64x2_add(*x2lo, wasm_f64x2_mul(lo, lo));
	*x2hi = wasm_f64x2_add(*x2hi, wasm_f64x2_mul(hi, hi));
}

/* Element s of four consecutive windows of k elements at p, as floats,
 * NaN and Inf as they are. */
static inline v128_t windows_elem4(enum kernel_dtype dt, const uint8_t *p, size_t k, size_t s)
{
	v128_t v;

	if (dt == KERNEL_F16) {
		p += 2 * s;
		v = wasm_v128_load16_lane(p, wasm_i32x4_splat(0), 0);
		v = wasm_v128_load16_lane(p + 2 * k, v, 2);
		v = wasm_v128_load16_lane(p + 4 * k, v, 4);
		return f16_to_f32x4(wasm_v128_load16_lane(p + 6 * k, v, 6));
	}
	p += 4 * s;
	v = wasm_v128_load32_zero(p);
	v = wasm_v128_load32_lane(p + 4 * k, v, 1);
	v = wasm_v128_load32_lane(p + 8 * k, v, 2);
	return wasm_v128_load32_lane(p + 12 * k, v, 3);
}

/* Are the four S2 (two vectors) finite?  They are >= 0, or NaN, or +Inf. */
static inline bool finite4(v128_t lo, v128_t hi)
{
	v128_t inf = wasm_f64x2_splat((double)INFINITY);

	return wasm_i32x4_all_true(wasm_v128_and(wasm_f64x2_lt(lo, inf), wasm_f64x2_lt(hi, inf)));
}

static inline void windows_simd(enum kernel_dtype dt, const uint8_t *p, size_t k, size_t n, double *s1,
				double *s2)
{
	size_t es = elem_size(dt), x, s, m;

	for (x = 0; k == 1 && x + 4 <= n; x += 4, p += 4 * es) { /* S1 = w, as windows_scalar */
		v128_t f = dt == KERNEL_F16 ? finite_f16x4(wasm_u32x4_load16x4(p)) : finite_f32x4(wasm_v128_load(p));
		v128_t lo = wasm_f64x2_promote_low_f32x4(f);
		v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(f, f, 2, 3, 2, 3));

		wasm_v128_store(s1 + x, lo);
		wasm_v128_store(s1 + x + 2, hi);
		wasm_v128_store(s2 + x, wasm_f64x2_mul(lo, lo));
		wasm_v128_store(s2 + x + 2, wasm_f64x2_mul(hi, hi));
	}
	for (; x + 4 <= n; x += 4, p += 4 * k * es) {
		v128_t x1lo = wasm_f64x2_splat(0), x1hi = x1lo, x2lo = x1lo, x2hi = x1lo;

		for (s = 0; s < k; s++)
			sums_add4(windows_elem4(dt, p, k, s), &x1lo, &x1hi, &x2lo, &x2hi);
		if (!finite4(x2lo, x2hi)) { /* again, skipping NaN and Inf, as windows_scalar */
			for (m = 0; m < 4; m++)
				window_sums(dt, p + m * k * es, k, &s1[x + m], &s2[x + m]);
			continue;
		}
		wasm_v128_store(s1 + x, x1lo);
		wasm_v128_store(s1 + x + 2, x1hi);
		wasm_v128_store(s2 + x, x2lo);
		wasm_v128_store(s2 + x + 2, x2hi);
	}
	for (; x < n; x++, p += k * es)
		window_sums(dt, p, k, &s1[x], &s2[x]);
}

/* S1 and S2 of the n windows of k elements from p on: four windows at a
 * time, one per lane, each in its own order as the scalar version. */
void kernel_sums_windows_simd(enum kernel_dtype dt, const uint8_t *p, size_t k, size_t n, double *s1,
			      double *s2)
{
	if (dt == KERNEL_F16 && k == 1)
		windows_simd(KERNEL_F16, p, 1, n, s1, s2);
	else if (dt == KERNEL_F16)
		windows_simd(KERNEL_F16, p, k, n, s1, s2);
	else if (k == 1)
		windows_simd(KERNEL_F32, p, 1, n, s1, s2);
	else
		windows_simd(KERNEL_F32, p, k, n, s1, s2);
}

/* row_lanes_one over a segment, lanes 0 1 and 2 3 as two vectors where
 * j % 4 == 0. */
static inline void row_lanes_simd(const double *s, const double *b, size_t j, size_t n, double *R)
{
	size_t x = (4 - (j & 3)) & 3;
	v128_t l01, l23;

	x = x < n ? x : n;
	row_lanes_one(s, b, j, x, R);
	if (x + 4 <= n) {
		l01 = wasm_v128_load(R);
		l23 = wasm_v128_load(R + 2);
		for (; x + 4 <= n; x += 4) {
			l01 = wasm_f64x2_add(l01, wasm_f64x2_mul(wasm_v128_load(s + x), wasm_v128_load(b + x)));
			l23 = wasm_f64x2_add(l23, wasm_f64x2_mul(wasm_v128_load(s + x + 2), wasm_v128_load(b + x + 2)));
		}
		wasm_v128_store(R, l01);
		wasm_v128_store(R + 2, l23);
	}
	row_lanes_one(s + x, b + x, j + x, n - x, R);
}

/* c[x] += s[x] * a for x < n. */
static inline void cols_simd(const double *s, double a, double *c, size_t n)
{
	v128_t av = wasm_f64x2_splat(a);
	size_t x;

	for (x = 0; x + 2 <= n; x += 2)
		wasm_v128_store(c + x, wasm_f64x2_add(wasm_v128_load(c + x), wasm_f64x2_mul(wasm_v128_load(s + x), av)));
	for (; x < n; x++)
		c[x] += s[x] * a;
}

/* The second pass over a segment, as segment_scalar in kernels.c. */
void kernel_sums_segment_simd(const struct sums_io *o, const double *s1, const double *s2, size_t i,
			      size_t cj, size_t j, size_t n, double *R1, double *R2)
{
	if (o->r1 != NULL)
		row_lanes_simd(s1, o->b1 + cj, j, n, R1);
	if (o->r2 != NULL)
		row_lanes_simd(s2, o->b2 + cj, j, n, R2);
	if (o->c1 != NULL)
		cols_simd(s1, o->a1[i], o->c1 + cj, n);
	if (o->c2 != NULL)
		cols_simd(s2, o->a2[i], o->c2 + cj, n);
}

void kernel_sums_simd(const struct kernel_tensor *t, const double *b1, const double *b2, double *r1,
		      double *r2, const double *a1, const double *a2, double *c1, double *c2)
{
	const struct sums_io o = {b1, b2, a1, a2, r1, r2, c1, c2};

	kernel_sums_run(t, &o, true);
}

size_t kernel_scale_simd(const struct kernel_tensor *t, const double *fa, const double *fb,
			 size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q)
{
	return kernel_scale_run(t, fa, fb, e0, e1, dst, q, true);
}

#endif /* __wasm_simd128__ */
