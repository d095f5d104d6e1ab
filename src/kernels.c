/* kernels.c — abs-max, weighted maxima and rescaling over weight tensors;
 * a scalar version and a WASM SIMD128 version that give the same bits.
 * See kernels.h.
 *
 * Why the two versions agree exactly: maxima are taken over nonnegative
 * values, which is exact in any order (and on the integer bit patterns for
 * abs-max, since nonnegative IEEE numbers order like their bits); every
 * product and quotient is one IEEE operation done the same way in both; the
 * statistics sums are striped into the same 4 lanes; and a NaN element is
 * copied rather than computed, because NaN payloads are not deterministic
 * in WebAssembly. */
#include "kernels.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#if FLT_EVAL_METHOD != 0
#error "kernels.c needs float and double arithmetic done in their own precision (SSE, NEON, wasm)"
#endif
/* A fused multiply-add would round once where the other version rounds
 * twice.  GCC in ISO C mode (-std=c11) already contracts nothing. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Elements per kernel_scale pass: the outputs are still in L1 when the
 * statistics pass reads them back. */
#define CHUNK 1024

static inline size_t elem_size(enum kernel_dtype dt)
{
	return dt == KERNEL_F16 ? 2 : 4;
}

static inline uint16_t load_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

static inline uint32_t load_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

static inline float f32_from_bits(uint32_t b)
{
	float f;

	memcpy(&f, &b, sizeof f);
	return f;
}

static inline uint32_t f32_bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, sizeof b);
	return b;
}

/* ---- conversions ------------------------------------------------------- */

float kernel_f16_to_f32(uint16_t h)
{
	uint32_t a = h & 0x7fffu, sign = (uint32_t)(h & 0x8000u) << 16, bits;

	if (a >= 0x7c00u)
		bits = a << 13 | 0x7f800000u; /* Inf, or NaN with its payload */
	else /* the half's bits in float position, rebiased 15 → 127 by an exact
	      * multiply; this also normalizes subnormal halves */
		bits = f32_bits(f32_from_bits(a << 13) * 0x1p112f);
	return f32_from_bits(bits | sign);
}

uint16_t kernel_f64_to_f16(double x)
{
	uint64_t b, sig, q, rem, half;
	uint16_t sign;
	int e, lo;
	unsigned shift;

	memcpy(&b, &x, sizeof b);
	sign = (uint16_t)((b >> 48) & 0x8000u);
	e = (int)((b >> 52) & 0x7ff);
	sig = b & ((UINT64_C(1) << 52) - 1);
	if (e == 0x7ff) /* Inf; NaN keeps its top payload bits and is made quiet */
		return (uint16_t)(sign | 0x7c00u | (sig != 0 ? 0x200u | (unsigned)(sig >> 42) : 0));
	if (e == 0) /* zero or a double subnormal: far below half the smallest half */
		return sign;
	e -= 1023;
	if (e > 15)
		return (uint16_t)(sign | 0x7c00u);
	if (e < -25) /* below 2^-25, half of the smallest subnormal half */
		return sign;
	sig |= UINT64_C(1) << 52;
	/* value = sig * 2^(e-52); the half's unit in the last place is
	 * 2^(max(e,-14) - 10), so drop that many bits and round to even. */
	lo = e < -14 ? -14 : e;
	shift = (unsigned)(42 + lo - e); /* 42 ..= 53 */
	q = sig >> shift;
	rem = sig & ((UINT64_C(1) << shift) - 1);
	half = UINT64_C(1) << (shift - 1);
	q += (rem > half) | ((rem == half) & (q & 1)); /* no branch: the bits are random */
	/* q counts units: exponent field above it (0 for subnormals); a carry
	 * out of the mantissa moves to the next exponent, past 15 to Inf. */
	return (uint16_t)(sign | (((unsigned)(lo + 14) << 10) + (unsigned)q));
}

/* ---- shared scalar pieces ---------------------------------------------- */

/* |w| as bits, non-finite counted in *bad and read as 0.  Nonnegative
 * finite floats and halves order like their bit patterns, so the maxima
 * are taken on integers, exact in any order. */
static inline uint32_t abs_bits_f32(const uint8_t *p, size_t *bad)
{
	uint32_t a = load_u32(p) & 0x7fffffffu;

	if (a >= 0x7f800000u) {
		(*bad)++;
		return 0;
	}
	return a;
}

static inline uint16_t abs_bits_f16(const uint8_t *p, size_t *bad)
{
	uint16_t a = load_u16(p) & 0x7fffu;

	if (a >= 0x7c00u) {
		(*bad)++;
		return 0;
	}
	return a;
}

/* max over s of |w| for the k elements from p on, non-finite as 0. */
static float absmax_row(const struct kernel_tensor *t, const uint8_t *p, size_t *bad)
{
	size_t s;

	if (t->dt == KERNEL_F16) {
		uint16_t best = 0, a;

		for (s = 0; s < t->k; s++) {
			a = abs_bits_f16(p + 2 * s, bad);
			best = a > best ? a : best;
		}
		return kernel_f16_to_f32(best);
	} else {
		uint32_t best = 0, a;

		for (s = 0; s < t->k; s++) {
			a = abs_bits_f32(p + 4 * s, bad);
			best = a > best ? a : best;
		}
		return f32_from_bits(best);
	}
}

/* Where an element sits: row i, column j, position s in its window, and
 * col(i, 0), kept up to date without a division per row. */
struct pos {
	size_t i, j, s;
	size_t c0;  /* col(i, 0) */
	size_t gi;  /* i's row within its group */
	size_t per; /* rows per group, d0 / groups */
};

static void pos_at(const struct kernel_tensor *t, size_t e, struct pos *ps)
{
	size_t r = e / t->k;

	ps->s = e % t->k;
	ps->i = r / t->d1;
	ps->j = r % t->d1;
	ps->per = t->d0 / t->groups;
	ps->gi = ps->i % ps->per;
	ps->c0 = ps->i / ps->per * t->d1;
}

static inline void pos_next_row(const struct kernel_tensor *t, struct pos *ps)
{
	ps->i++;
	ps->j = ps->s = 0;
	if (++ps->gi == ps->per) {
		ps->gi = 0;
		ps->c0 += t->d1;
	}
}

static inline void pos_next(const struct kernel_tensor *t, struct pos *ps)
{
	if (++ps->s == t->k) {
		ps->s = 0;
		if (++ps->j == t->d1)
			pos_next_row(t, ps);
	}
}

static inline double factor(const double *fa, const double *fb, const struct pos *ps)
{
	return (fa != NULL ? fa[ps->i] : 1.0) * (fb != NULL ? fb[ps->c0 + ps->j] : 1.0);
}

/* One output: w * f rounded once to the dtype, or a NaN copied as is.
 * Returns 1 when the output is not finite. */
static inline size_t scale_one(enum kernel_dtype dt, const uint8_t *src, double f, uint8_t *out)
{
	if (dt == KERNEL_F16) {
		uint16_t h = load_u16(src), o;

		o = (h & 0x7fffu) > 0x7c00u ? h : kernel_f64_to_f16((double)kernel_f16_to_f32(h) * f);
		memcpy(out, &o, sizeof o);
		return (o & 0x7fffu) >= 0x7c00u;
	} else {
		uint32_t w = load_u32(src), o;

		o = (w & 0x7fffffffu) > 0x7f800000u ? w
						    : f32_bits((float)((double)f32_from_bits(w) * f));
		memcpy(out, &o, sizeof o);
		return (o & 0x7fffffffu) >= 0x7f800000u;
	}
}

/* Rounds to the nearest integer, ties to even, as nearbyintf() does in the
 * default rounding mode and f32x4.nearest does, without libm: below 2^23,
 * adding 2^23 leaves no fraction bits, so the addition itself rounds. */
static inline float round_even(float v)
{
	float a = __builtin_fabsf(v);

	if (a < 0x1p23f)
		a = (a + 0x1p23f) - 0x1p23f;
	return __builtin_copysignf(a, v);
}

/* One output's two terms, as struct kernel_sqnr defines them, one
 * operation per statement in the order the SIMD version does them. */
static inline void q_terms(float x, float s, float *sq, float *dd)
{
	float u = x * s, r = round_even(u), d;

	r = r < -127.0f ? -127.0f : r;
	r = 127.0f < r ? 127.0f : r;
	d = u - r;
	*sq = u * u;
	*dd = d * d;
}

static inline float out_f32(enum kernel_dtype dt, const uint8_t *p)
{
	return dt == KERNEL_F16 ? kernel_f16_to_f32(load_u16(p)) : f32_from_bits(load_u32(p));
}

/* One entry v of kernel_weighted_max's row: returns the row's maximum so
 * far with v * bj, and raises *rgj (the column's maximum; NULL: not
 * computed) to v * ai.  Written as f32x4.pmax is defined, so a NaN product
 * is skipped alike; the SIMD version's tail takes the same step. */
static inline float wm_step(float v, float bj, float ai, float best, float *rgj)
{
	float x = v * bj, y;

	best = best < x ? x : best;
	if (rgj != NULL) {
		y = v * ai;
		*rgj = *rgj < y ? y : *rgj;
	}
	return best;
}

/* ---- scalar versions --------------------------------------------------- */

size_t kernel_absmax_reduce_scalar(const struct kernel_tensor *t, float *m)
{
	size_t rows = t->d0 * t->d1, r, bad = 0, stride = t->k * elem_size(t->dt);

	for (r = 0; r < rows; r++)
		m[r] = absmax_row(t, t->p + r * stride, &bad);
	return bad;
}

void kernel_weighted_max_scalar(const struct kernel_tensor *t, const float *m, const float *a,
				const float *b, float *r0, float *r1)
{
	size_t d1 = t->d1, per = t->d0 / t->groups, n_col = t->groups * d1, i, j, bad = 0;
	size_t stride = t->k * elem_size(t->dt);

	for (j = 0; r1 != NULL && j < n_col; j++)
		r1[j] = 0.0f;
	for (i = 0; i < t->d0; i++) {
		const float *bg = b + i / per * d1;
		float *rg = r1 != NULL ? r1 + i / per * d1 : NULL, best = 0.0f, v;

		for (j = 0; j < d1; j++) {
			v = m != NULL ? m[i * d1 + j] : absmax_row(t, t->p + (i * d1 + j) * stride, &bad);
			best = wm_step(v, bg[j], a[i], best, rg != NULL ? &rg[j] : NULL);
		}
		if (r0 != NULL)
			r0[i] = best;
	}
}

size_t kernel_next_hit_scalar(const struct kernel_tensor *t, const float *m, size_t r, const float *b,
			      float tb, float a, const float *tc, size_t j0, size_t n)
{
	size_t j, bad = 0, stride = t->k * elem_size(t->dt);

	for (j = j0; j < n; j++) {
		float v = m != NULL ? m[r + j] : absmax_row(t, t->p + (r + j) * stride, &bad);
		float x = v * b[j], y = v * a;

		if ((x > 0.0f && x >= tb) || (y > 0.0f && y >= tc[j]))
			return j;
	}
	return n;
}

/* Writes the n outputs from element e (at *ps, which moves on) to o. */
static size_t scale_chunk_scalar(const struct kernel_tensor *t, const double *fa, const double *fb,
				 size_t e, size_t n, struct pos *ps, uint8_t *o)
{
	size_t es = elem_size(t->dt), bad = 0, x;
	const uint8_t *src = t->p + e * es;
	double f = 0.0;

	for (x = 0; x < n; x++) {
		if (x == 0 || ps->s == 0)
			f = factor(fa, fb, ps);
		bad += scale_one(t->dt, src + x * es, f, o + x * es);
		pos_next(t, ps);
	}
	return bad;
}

/* Adds the terms of the n outputs at o, elements e.. of one run, to the
 * run's lanes ls, ln. */
static void q_terms_scalar(enum kernel_dtype dt, const uint8_t *o, size_t e, size_t n, float s,
			   float *ls, float *ln)
{
	size_t es = elem_size(dt), x;

	for (x = 0; x < n; x++) {
		float sq, dd;

		q_terms(out_f32(dt, o + x * es), s, &sq, &dd);
		ls[(e + x) & 3] += sq;
		ln[(e + x) & 3] += dd;
	}
}

void kernel_sqnr_channel(const struct kernel_sqnr *q, size_t c, double *signal, double *noise)
{
	const double *s = q->ch_signal + 4 * c, *n = q->ch_noise + 4 * c;

	*signal = (s[0] + s[1]) + (s[2] + s[3]);
	*noise = (n[0] + n[1]) + (n[2] + n[3]);
}

/* Ends the open run: its lane sums go to its channel. */
static void q_flush(struct kernel_sqnr *q)
{
	double *cs = q->ch_signal + 4 * q->ch, *cn = q->ch_noise + 4 * q->ch;
	int l;

	for (l = 0; l < 4; l++) {
		cs[l] += (double)q->run_signal[l];
		cn[l] += (double)q->run_noise[l];
		q->run_signal[l] = q->run_noise[l] = 0.0f;
	}
	q->open = false;
}

#ifdef __wasm_simd128__
static size_t scale_chunk_simd(const struct kernel_tensor *t, const double *fa, const double *fb,
			       size_t e, size_t n, struct pos *ps, uint8_t *o);
static void q_terms_simd(enum kernel_dtype dt, const uint8_t *o, size_t e, size_t n, float s,
			 float *ls, float *ln);
#endif

/* The statistics of the n outputs at o, elements [e, e + n) of t, cut into
 * runs (struct kernel_sqnr). */
static void q_chunk(const struct kernel_tensor *t, const uint8_t *o, size_t e, size_t n,
		    struct kernel_sqnr *q, bool simd)
{
	size_t es = elem_size(t->dt), total = t->d0 * t->d1 * t->k, x = 0, ch, left, len;
	float s = (float)(1.0 / q->step); /* the terms multiply by it */
	struct pos ps;

	(void)simd; /* only the wasm build has a SIMD version */
	if (!(s <= FLT_MAX))
		s = FLT_MAX; /* a step below float's range */
	pos_at(t, e, &ps);
	if (q->by_col && t->k == 1 && t->d1 > 1) {
		/* every output is a run of its own (the next one is another
		 * column), so its terms go straight to its channel's lane: the
		 * same bits as a run's float lane flushed (adding the other
		 * lanes' zeros changes nothing) */
		if (q->open)
			q_flush(q);
		for (x = 0; x < n; x++) {
			size_t l = 4 * (ps.c0 + ps.j) + ((e + x) & 3);
			float sq, dd;

			q_terms(out_f32(t->dt, o + x * es), s, &sq, &dd);
			q->ch_signal[l] += (double)sq;
			q->ch_noise[l] += (double)dd;
			if (++ps.j == t->d1)
				pos_next_row(t, &ps);
		}
		return;
	}
	/* the channel and how many of its outputs follow in a row: to the end
	 * of the window (by column) or of the row */
	ch = q->by_col ? ps.c0 + ps.j : ps.i;
	left = q->by_col ? t->k - ps.s : (t->d1 - ps.j) * t->k - ps.s;
	while (x < n) {
		size_t at = e + x, to_run = KERNEL_SQNR_RUN - at % KERNEL_SQNR_RUN;

		len = left < n - x ? left : n - x;
		len = len < to_run ? len : to_run;
		if (q->open && (q->ch != ch || q->next != at))
			q_flush(q);
		q->open = true;
		q->ch = ch;
		q->next = at + len;
#ifdef __wasm_simd128__
		if (simd)
			q_terms_simd(t->dt, o + x * es, at, len, s, q->run_signal, q->run_noise);
		else
#endif
			q_terms_scalar(t->dt, o + x * es, at, len, s, q->run_signal, q->run_noise);
		if (len == to_run || at + len == total)
			q_flush(q);
		x += len;
		left -= len;
		if (left == 0 && q->by_col) {
			if (++ps.j == t->d1)
				pos_next_row(t, &ps);
			ch = ps.c0 + ps.j;
			left = t->k;
		} else if (left == 0) {
			ch++;
			left = t->d1 * t->k;
		}
	}
}

/* kernel_scale's frame, shared: chunks of outputs go to dst (or a stack
 * buffer when dst is NULL), then their statistics. */
static size_t scale_run(const struct kernel_tensor *t, const double *fa, const double *fb,
			size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q, bool simd)
{
	uint8_t buf[CHUNK * 4];
	size_t es, bad = 0, e, n;
	struct pos ps;

	if (e0 >= e1)
		return 0;
	es = elem_size(t->dt);
	pos_at(t, e0, &ps);
	for (e = e0; e < e1; e += n) {
		uint8_t *o = dst != NULL ? dst + (e - e0) * es : buf;

		n = e1 - e < CHUNK ? e1 - e : CHUNK;
#ifdef __wasm_simd128__
		if (simd)
			bad += scale_chunk_simd(t, fa, fb, e, n, &ps, o);
		else
#endif
			bad += scale_chunk_scalar(t, fa, fb, e, n, &ps, o);
		if (q != NULL)
			q_chunk(t, o, e, n, q, simd);
	}
	return bad;
}

size_t kernel_scale_scalar(const struct kernel_tensor *t, const double *fa, const double *fb,
			   size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q)
{
	return scale_run(t, fa, fb, e0, e1, dst, q, false);
}

/* ---- WASM SIMD128 versions --------------------------------------------- */

#ifdef __wasm_simd128__

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

		if (rg == NULL) { /* row maxima only */
			for (j = 0; j + 4 <= d1; j += 4)
				acc = wasm_f32x4_pmax(acc, wasm_f32x4_mul(wm_load4(t, m, i * d1 + j),
									  wasm_v128_load(bg + j)));
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

size_t kernel_next_hit_simd(const struct kernel_tensor *t, const float *m, size_t r, const float *b,
			    float tb, float a, const float *tc, size_t j0, size_t n)
{
	v128_t zero = wasm_f32x4_splat(0.0f), tbv = wasm_f32x4_splat(tb), av = wasm_f32x4_splat(a);
	size_t j = j0;

	if (m == NULL && t->k != 1)
		return kernel_next_hit_scalar(t, m, r, b, tb, a, tc, j0, n);
	for (; j + 4 <= n; j += 4) {
		v128_t v = wm_load4(t, m, r + j);
		v128_t x = wasm_f32x4_mul(v, wasm_v128_load(b + j)), y = wasm_f32x4_mul(v, av);
		v128_t hit = wasm_v128_or(wasm_v128_and(wasm_f32x4_gt(x, zero), wasm_f32x4_ge(x, tbv)),
					  wasm_v128_and(wasm_f32x4_gt(y, zero), wasm_f32x4_ge(y, wasm_v128_load(tc + j))));

		if (wasm_v128_any_true(hit))
			return j + (size_t)__builtin_ctz((unsigned)wasm_i32x4_bitmask(hit));
	}
	return kernel_next_hit_scalar(t, m, r, b, tb, a, tc, j, n);
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
static size_t scale_chunk_simd(const struct kernel_tensor *t, const double *fa, const double *fb,
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
static void q_terms_simd(enum kernel_dtype dt, const uint8_t *o, size_t e, size_t n, float s,
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

size_t kernel_scale_simd(const struct kernel_tensor *t, const double *fa, const double *fb,
			 size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q)
{
	return scale_run(t, fa, fb, e0, e1, dst, q, true);
}

#endif /* __wasm_simd128__ */

/* ---- public entry points ----------------------------------------------- */

size_t kernel_absmax_reduce(const struct kernel_tensor *t, float *m)
{
#ifdef __wasm_simd128__
	return kernel_absmax_reduce_simd(t, m);
#else
	return kernel_absmax_reduce_scalar(t, m);
#endif
}

void kernel_weighted_max(const struct kernel_tensor *t, const float *m, const float *a,
			 const float *b, float *r0, float *r1)
{
#ifdef __wasm_simd128__
	kernel_weighted_max_simd(t, m, a, b, r0, r1);
#else
	kernel_weighted_max_scalar(t, m, a, b, r0, r1);
#endif
}

size_t kernel_next_hit(const struct kernel_tensor *t, const float *m, size_t r, const float *b,
		       float tb, float a, const float *tc, size_t j0, size_t n)
{
#ifdef __wasm_simd128__
	return kernel_next_hit_simd(t, m, r, b, tb, a, tc, j0, n);
#else
	return kernel_next_hit_scalar(t, m, r, b, tb, a, tc, j0, n);
#endif
}

size_t kernel_scale(const struct kernel_tensor *t, const double *fa, const double *fb,
		    size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q)
{
#ifdef __wasm_simd128__
	return kernel_scale_simd(t, fa, fb, e0, e1, dst, q);
#else
	return kernel_scale_scalar(t, fa, fb, e0, e1, dst, q);
#endif
}

void kernel_sums(const struct kernel_tensor *t, const double *b1, const double *b2, double *r1,
		 double *r2, const double *a1, const double *a2, double *c1, double *c2)
{
	size_t d1 = t->d1, per = t->d0 / t->groups, n_col = t->groups * d1, es = elem_size(t->dt);
	const uint8_t *p = t->p;
	size_t i, j, s;

	for (j = 0; j < n_col; j++) {
		if (c1 != NULL)
			c1[j] = 0;
		if (c2 != NULL)
			c2[j] = 0;
	}
	for (i = 0; i < t->d0; i++) {
		size_t c0 = i / per * d1;
		double x1 = 0, x2 = 0;

		for (j = 0; j < d1; j++) {
			double s1 = 0, s2 = 0;

			for (s = 0; s < t->k; s++, p += es) {
				float w = t->dt == KERNEL_F16 ? kernel_f16_to_f32(load_u16(p))
							      : f32_from_bits(load_u32(p));

				if (!isfinite(w))
					continue;
				s1 += (double)w;
				s2 += (double)w * (double)w;
			}
			if (r1 != NULL)
				x1 += s1 * b1[c0 + j];
			if (r2 != NULL)
				x2 += s2 * b2[c0 + j];
			if (c1 != NULL)
				c1[c0 + j] += s1 * a1[i];
			if (c2 != NULL)
				c2[c0 + j] += s2 * a2[i];
		}
		if (r1 != NULL)
			r1[i] = x1;
		if (r2 != NULL)
			r2[i] = x2;
	}
}
