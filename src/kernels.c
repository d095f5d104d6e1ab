/* kernels.c — abs-max, weighted maxima, rescaling and sums over weight tensors:
 * the scalar versions and the public entry points (the WASM SIMD128
 * versions are in kernels_simd.c, the pieces both share in
 * kernels_internal.h); the two give the same bits.  See kernels.h.
 *
 * Why the two versions agree exactly: maxima are taken over nonnegative
 * values, which is exact in any order (and on the integer bit patterns for
 * abs-max, since nonnegative IEEE numbers order like their bits); every
 * product and quotient is one IEEE operation done the same way in both; the
 * statistics sums are striped into the same 4 lanes, and kernel_sums' in
 * the order kernels.h fixes (each window's own, one window per lane; a
 * row's in 4 lanes); and a NaN element is copied rather than computed (or
 * skipped, in kernel_sums), because NaN payloads are not deterministic in
 * WebAssembly. */
#include "kernels_internal.h"

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

size_t kernel_hits_scalar(const struct kernel_tensor *t, const float *m, size_t r, const float *b, float tb,
			  float a, const float *tc, size_t n, uint32_t *out, size_t cap)
{
	size_t j, bad = 0, stride = t->k * elem_size(t->dt), got = 0;

	for (j = 0; j < n; j++) {
		float v = m != NULL ? m[r + j] : absmax_row(t, t->p + (r + j) * stride, &bad);

		if (!is_hit(v * b[j], tb, v * a, tc[j]))
			continue;
		if (got == cap)
			return cap + 1;
		out[got++] = (uint32_t)j;
	}
	return got;
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
			kernel_q_terms_simd(t->dt, o + x * es, at, len, s, q->run_signal, q->run_noise);
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
size_t kernel_scale_run(const struct kernel_tensor *t, const double *fa, const double *fb,
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
			bad += kernel_scale_chunk_simd(t, fa, fb, e, n, &ps, o);
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
	return kernel_scale_run(t, fa, fb, e0, e1, dst, q, false);
}

/* ---- public entry points ----------------------------------------------- */

const struct kernel_impl kernel_impls[KERNEL_N_IMPLS] = {
	{"scalar", kernel_absmax_reduce_scalar, kernel_weighted_max_scalar, kernel_scale_scalar, kernel_sums_scalar},
#ifdef __wasm_simd128__
	{"simd", kernel_absmax_reduce_simd, kernel_weighted_max_simd, kernel_scale_simd, kernel_sums_simd},
#endif
};

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

size_t kernel_hits(const struct kernel_tensor *t, const float *m, size_t r, const float *b, float tb,
		   float a, const float *tc, size_t n, uint32_t *out, size_t cap)
{
#ifdef __wasm_simd128__
	return kernel_hits_simd(t, m, r, b, tb, a, tc, n, out, cap);
#else
	return kernel_hits_scalar(t, m, r, b, tb, a, tc, n, out, cap);
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

/* ---- kernel_sums ------------------------------------------------------ */

/* S1 and S2 of the n windows of k elements from p on: four windows at a
 * time, so that their sums are four chains of additions, not one.  The
 * elements are added as they are, and four windows are summed again,
 * skipping NaN and Inf, when one of their S2 is not finite: S2 is finite
 * exactly when all its elements are (the squares of finite floats and
 * halves, and their sums, stay far below DBL_MAX), and then nothing was to
 * be skipped. */
static inline void windows_scalar(enum kernel_dtype dt, const uint8_t *p, size_t k, size_t n, double *s1,
				  double *s2)
{
	size_t es = elem_size(dt), x, s, m;

	if (k == 1) { /* a loop the compiler can vectorize; S1 = w, not 0 + w: the
		       * two differ for w = -0 only, and no output can tell */
		for (x = 0; x < n; x++) {
			double w = sum_elem(dt, p + x * es);

			s1[x] = w;
			s2[x] = w * w;
		}
		return;
	}
	for (x = 0; x + 4 <= n; x += 4, p += 4 * k * es) {
		double x1[4] = {0, 0, 0, 0}, x2[4] = {0, 0, 0, 0};

		for (s = 0; s < k; s++)
			for (m = 0; m < 4; m++) {
				double w = sum_elem_raw(dt, p + (m * k + s) * es);

				x1[m] += w;
				x2[m] += w * w;
			}
		for (m = 0; m < 4; m++) {
			s1[x + m] = x1[m];
			s2[x + m] = x2[m];
		}
		if (!(x2[0] <= DBL_MAX && x2[1] <= DBL_MAX && x2[2] <= DBL_MAX && x2[3] <= DBL_MAX))
			for (m = 0; m < 4; m++)
				window_sums(dt, p + m * k * es, k, &s1[x + m], &s2[x + m]);
	}
	for (; x < n; x++, p += k * es)
		window_sums(dt, p, k, &s1[x], &s2[x]);
}

/* row_lanes_one over a whole segment, the lanes in locals where j % 4 == 0. */
static void row_lanes(const double *s, const double *b, size_t j, size_t n, double *R)
{
	size_t x = (4 - (j & 3)) & 3;
	double l0, l1, l2, l3;

	x = x < n ? x : n;
	row_lanes_one(s, b, j, x, R);
	l0 = R[0], l1 = R[1], l2 = R[2], l3 = R[3];
	for (; x + 4 <= n; x += 4) {
		l0 += s[x] * b[x];
		l1 += s[x + 1] * b[x + 1];
		l2 += s[x + 2] * b[x + 2];
		l3 += s[x + 3] * b[x + 3];
	}
	R[0] = l0, R[1] = l1, R[2] = l2, R[3] = l3;
	row_lanes_one(s + x, b + x, j + x, n - x, R);
}

/* The second pass over a segment: windows j .. j + n - 1 of row i, their
 * sums at s1, s2, into the row's lanes R1, R2 and the columns from cj. */
static void segment_scalar(const struct sums_io *o, const double *s1, const double *s2, size_t i,
			   size_t cj, size_t j, size_t n, double *R1, double *R2)
{
	size_t x;

	if (o->r1 != NULL)
		row_lanes(s1, o->b1 + cj, j, n, R1);
	if (o->r2 != NULL)
		row_lanes(s2, o->b2 + cj, j, n, R2);
	for (x = 0; o->c1 != NULL && x < n; x++)
		o->c1[cj + x] += s1[x] * o->a1[i];
	for (x = 0; o->c2 != NULL && x < n; x++)
		o->c2[cj + x] += s2[x] * o->a2[i];
}

/* Row i's sums from its lanes, which start again from 0. */
static void row_end(const struct sums_io *o, size_t i, double *R1, double *R2)
{
	if (o->r1 != NULL)
		o->r1[i] = (R1[0] + R1[1]) + (R1[2] + R1[3]);
	if (o->r2 != NULL)
		o->r2[i] = (R2[0] + R2[1]) + (R2[2] + R2[3]);
	R1[0] = R1[1] = R1[2] = R1[3] = 0;
	R2[0] = R2[1] = R2[2] = R2[3] = 0;
}

/* The second pass when every row is one window (d1 == 1): rows r .. r + n
 * - 1.  A row's sum is then 0 + S * b (lane 0, as row_end adds it to the
 * other lanes' +0: 0 + y is never -0, so adding +0 changes nothing). */
static void one_per_row(const struct kernel_tensor *t, const struct sums_io *o, const double *s1,
			const double *s2, size_t r, size_t n)
{
	size_t per = t->d0 / t->groups, c = r / per, gi = r % per, x;

	for (x = 0; x < n; x++) {
		if (o->r1 != NULL)
			o->r1[r + x] = 0.0 + s1[x] * o->b1[c];
		if (o->r2 != NULL)
			o->r2[r + x] = 0.0 + s2[x] * o->b2[c];
		if (o->c1 != NULL)
			o->c1[c] += s1[x] * o->a1[r + x];
		if (o->c2 != NULL)
			o->c2[c] += s2[x] * o->a2[r + x];
		if (++gi == per) {
			gi = 0;
			c++;
		}
	}
}

/* kernel_sums in two passes over blocks of windows (in flat order, across
 * rows): their S1 and S2, then the rows and columns they go to. */
void kernel_sums_run(const struct kernel_tensor *t, const struct sums_io *o, bool simd)
{
	double s1[SUMS_BLOCK], s2[SUMS_BLOCK], R1[4] = {0, 0, 0, 0}, R2[4] = {0, 0, 0, 0};
	size_t d1 = t->d1, per = t->d0 / t->groups, n_col = t->groups * d1, es = elem_size(t->dt);
	size_t n_win = t->d0 * d1, i = 0, j, gi = 0, c0 = 0, r, x, n, seg;

	(void)simd; /* only the wasm build has a SIMD version */
	for (j = 0; j < n_col; j++) {
		if (o->c1 != NULL)
			o->c1[j] = 0;
		if (o->c2 != NULL)
			o->c2[j] = 0;
	}
	for (i = 0; d1 == 0 && i < t->d0; i++) /* rows of no windows */
		row_end(o, i, R1, R2);
	i = j = 0;
	for (r = 0; r < n_win; r += n) {
		const uint8_t *p = t->p + r * t->k * es;

		n = n_win - r < SUMS_BLOCK ? n_win - r : SUMS_BLOCK;
#ifdef __wasm_simd128__
		if (simd)
			kernel_sums_windows_simd(t->dt, p, t->k, n, s1, s2);
		else
#endif
		if (t->dt == KERNEL_F16)
			windows_scalar(KERNEL_F16, p, t->k, n, s1, s2);
		else
			windows_scalar(KERNEL_F32, p, t->k, n, s1, s2);
		if (d1 == 1) { /* depthwise: a row is one window, the lanes would be overhead */
			one_per_row(t, o, s1, s2, r, n);
			continue;
		}
		for (x = 0; x < n; x += seg) {
			seg = d1 - j < n - x ? d1 - j : n - x;
#ifdef __wasm_simd128__
			if (simd)
				kernel_sums_segment_simd(o, s1 + x, s2 + x, i, c0 + j, j, seg, R1, R2);
			else
#endif
				segment_scalar(o, s1 + x, s2 + x, i, c0 + j, j, seg, R1, R2);
			if ((j += seg) < d1)
				continue;
			row_end(o, i, R1, R2);
			i++;
			j = 0;
			if (++gi == per) {
				gi = 0;
				c0 += d1;
			}
		}
	}
}

void kernel_sums_scalar(const struct kernel_tensor *t, const double *b1, const double *b2, double *r1,
			double *r2, const double *a1, const double *a2, double *c1, double *c2)
{
	const struct sums_io o = {b1, b2, a1, a2, r1, r2, c1, c2};

	kernel_sums_run(t, &o, false);
}

void kernel_sums(const struct kernel_tensor *t, const double *b1, const double *b2, double *r1,
		 double *r2, const double *a1, const double *a2, double *c1, double *c2)
{
#ifdef __wasm_simd128__
	kernel_sums_simd(t, b1, b2, r1, r2, a1, a2, c1, c2);
#else
	kernel_sums_scalar(t, b1, b2, r1, r2, a1, a2, c1, c2);
#endif
}
