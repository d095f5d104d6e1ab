/* test_kernels.c — the math kernels against a reference written here in
 * plain arithmetic (double; float where the statistics are defined in
 * float; nothing shared with kernels.c), on many random shapes, both
 * dtypes, unaligned data, NaN and Inf, and sub-ranges; the float16
 * conversions exhaustively.  Built natively it checks the scalar versions;
 * built for WebAssembly (test_kernels_wasm, run by ctest under node) it
 * also checks the SIMD versions, against the reference and byte for byte
 * against the scalar ones.  argv[1] (models folder) is unused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "test.h"

/* One operation per statement below, like kernels.c: no fused multiply-add. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- data -------------------------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *g)
{
	uint64_t z = (g->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t rnd_below(struct rng *g, size_t n)
{
	return (size_t)(rnd(g) % n);
}

/* 2^n for -1022 <= n <= 1023, built from its bits. */
static double pow2(int n)
{
	uint64_t b = (uint64_t)(1023 + n) << 52;
	double v;

	memcpy(&v, &b, 8);
	return v;
}

/* A double with all 52 fraction bits random, in [2^lo, 2^(hi+1)). */
static double rnd_double(struct rng *g, int lo, int hi)
{
	double frac = (double)(rnd(g) >> 12) * pow2(-52);

	return (1.0 + frac) * pow2(lo + (int)rnd_below(g, (size_t)(hi - lo + 1)));
}

static uint32_t f32_bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, 4);
	return b;
}

static uint64_t f64_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, 8);
	return b;
}

/* Equal bits, or both NaN (NaN payloads are not deterministic in wasm). */
static bool same_double(double a, double b)
{
	return (isnan(a) && isnan(b)) || f64_bits(a) == f64_bits(b);
}

enum mode {
	MODE_FINITE,  /* normal numbers over a wide range, zeros, subnormals */
	MODE_SPECIAL, /* the same with NaN and ±Inf sprinkled in */
	MODE_GRID,    /* multiples of 1/8: x / 0.25 lands on ties */
};

static uint32_t rnd_f32(struct rng *g, enum mode mode)
{
	uint32_t sign = (uint32_t)(rnd(g) & 1) << 31, man = (uint32_t)rnd(g) & 0x7fffff;
	size_t pick = rnd_below(g, 100);

	if (mode == MODE_GRID)
		return f32_bits((float)((int)rnd_below(g, 4095) - 2047) * 0.125f);
	if (mode == MODE_SPECIAL && pick < 3)
		return sign | 0x7f800000u | (pick == 0 ? 0 : man | 1); /* Inf, NaN (some signalling) */
	if (pick < 8)
		return sign;
	if (pick < 12)
		return sign | man; /* subnormal */
	return sign | (uint32_t)(127 - 20 + rnd_below(g, 41)) << 23 | man;
}

static uint16_t rnd_f16(struct rng *g, enum mode mode)
{
	uint16_t h;

	if (mode == MODE_GRID) {
		float v = (float)((int)rnd_below(g, 4095) - 2047) * 0.125f;

		return kernel_f64_to_f16((double)v); /* exact: at most 11 significant bits */
	}
	do
		h = (uint16_t)rnd(g);
	while (mode != MODE_SPECIAL && (h & 0x7c00) == 0x7c00);
	return h;
}

/* A tensor in a malloc block at a misaligned offset, so ASan sees overreads. */
struct tcase {
	struct kernel_tensor t;
	uint8_t *mem;
	size_t n; /* elements */
};

static size_t esize(enum kernel_dtype dt)
{
	return dt == KERNEL_F16 ? 2 : 4;
}

static void case_make(struct tcase *c, uint64_t seed, size_t d0, size_t d1, size_t k, size_t groups,
		      enum kernel_dtype dt, enum mode mode)
{
	struct rng g = {seed};
	size_t off = 1 + rnd_below(&g, 3), i, es = esize(dt);

	c->n = d0 * d1 * k;
	c->mem = malloc(off + c->n * es);
	if (c->mem == NULL)
		abort();
	for (i = 0; i < c->n; i++) {
		if (dt == KERNEL_F16) {
			uint16_t h = rnd_f16(&g, mode);

			memcpy(c->mem + off + 2 * i, &h, 2);
		} else {
			uint32_t b = rnd_f32(&g, mode);

			memcpy(c->mem + off + 4 * i, &b, 4);
		}
	}
	c->t = (struct kernel_tensor){c->mem + off, dt, d0, d1, k, groups};
}

/* Shapes chosen to hit every path: k == 1 and 2..3 (no vector), 4, 8, 9,
 * depthwise, grouped, d1 < 4, rows longer than a scale chunk, empty. */
static const size_t shapes[][4] = {
	{7, 5, 3, 1},    {1, 1, 1, 1},   {16, 1, 9, 16},  {8, 8, 1, 2},   {64, 3, 9, 1},
	{32, 17, 1, 1},  {5, 4, 25, 1},  {3, 130, 1, 1},  {12, 6, 9, 3},  {6, 2, 2, 3},
	{9, 9, 7, 3},    {10, 1, 1, 10}, {10, 1, 1, 1},   {10, 1, 1, 5},  {33, 33, 1, 1},
	{2, 3, 8, 1},    {5, 5, 16, 1},  {64, 64, 1, 1},  {40, 8, 9, 4},  {13, 1, 9, 13},
	{4, 7, 4, 2},    {3, 5, 5, 1},   {1, 600, 1, 1},  {6, 4, 1, 6},   {0, 4, 9, 1},
	{4, 0, 1, 1},    {17, 1, 1, 17}, {8, 12, 3, 4},   {1, 1, 300, 1}, {11, 4, 1, 1},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])
#define N_RANDOM 80

/* Case number n: the fixed shapes, then random ones. */
static void case_nth(struct tcase *c, size_t n, enum kernel_dtype dt, enum mode mode)
{
	struct rng g = {n * 7919 + (size_t)dt * 31 + (size_t)mode};
	size_t d0, d1, k, groups;

	if (n < N_SHAPES) {
		d0 = shapes[n][0], d1 = shapes[n][1], k = shapes[n][2], groups = shapes[n][3];
	} else {
		static const size_t ks[] = {1, 1, 1, 2, 3, 4, 5, 7, 8, 9, 9, 16, 25};

		d0 = 1 + rnd_below(&g, 40);
		d1 = 1 + rnd_below(&g, 20);
		k = rnd_below(&g, 4) == 0 ? 1 + rnd_below(&g, 30) : ks[rnd_below(&g, sizeof ks / sizeof ks[0])];
		switch (rnd_below(&g, 4)) {
		case 0: /* depthwise */
			groups = d0;
			d1 = 1;
			break;
		case 1: /* a random divisor of d0 */
			do
				groups = 1 + rnd_below(&g, d0);
			while (d0 % groups != 0);
			break;
		default:
			groups = 1;
		}
	}
	case_make(c, rnd(&g), d0, d1, k, groups, dt, mode);
}

#define N_CASES (N_SHAPES + N_RANDOM)

/* ---- reference --------------------------------------------------------- */

static void *zalloc(size_t n);

static double ref_f16(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v;

	if (e == 0x1f)
		v = m != 0 ? (double)NAN : (double)INFINITY;
	else if (e == 0)
		v = m * pow2(-24);
	else
		v = (1024 + m) * pow2(e - 25);
	return h & 0x8000 ? -v : v;
}

static double ref_elem(const struct kernel_tensor *t, size_t e)
{
	if (t->dt == KERNEL_F16) {
		uint16_t h;

		memcpy(&h, t->p + 2 * e, 2);
		return ref_f16(h);
	} else {
		float f;

		memcpy(&f, t->p + 4 * e, 4);
		return (double)f;
	}
}

/* Round half to even, by truncation, for |y| < 2^62. */
static double ref_round(double y)
{
	long long n = (long long)y;
	double fr = y - (double)n;

	if (fr > 0.5 || (fr == 0.5 && (n & 1)))
		n++;
	else if (fr < -0.5 || (fr == -0.5 && (n & 1)))
		n--;
	return (double)n;
}

/* Nearest half, ties to even: the rounded value first, then its bits by a
 * binary search over the positive halves (they increase with their bits). */
static uint16_t ref_to_f16(double x)
{
	uint16_t sign = signbit(x) ? 0x8000 : 0, lo = 0, hi = 0x7c00;
	double a = x < 0 ? -x : x, unit = pow2(-24), v;
	int e = -14;

	if (isnan(x))
		return sign | 0x7e00;
	if (a >= 65520.0)
		return sign | 0x7c00;
	if (a >= pow2(-14)) {
		while (pow2(e + 1) <= a)
			e++;
		unit = pow2(e - 10);
	}
	v = ref_round(a / unit) * unit;
	while (lo < hi) {
		uint16_t mid = (uint16_t)((lo + hi) / 2);

		if (ref_f16(mid) < v)
			lo = (uint16_t)(mid + 1);
		else
			hi = mid;
	}
	return sign | lo;
}

static size_t col_of(const struct kernel_tensor *t, size_t i, size_t j)
{
	return i / (t->d0 / t->groups) * t->d1 + j;
}

static size_t ref_absmax(const struct kernel_tensor *t, float *m)
{
	size_t r, s, bad = 0;

	for (r = 0; r < t->d0 * t->d1; r++) {
		double best = 0;

		for (s = 0; s < t->k; s++) {
			double v = ref_elem(t, r * t->k + s);

			if (!isfinite(v))
				bad++;
			else if ((v < 0 ? -v : v) > best)
				best = v < 0 ? -v : v;
		}
		m[r] = (float)best; /* exact: best is one of the elements */
	}
	return bad;
}

/* Float products are the double product (exact) rounded once. */
static void ref_weighted_max(const struct kernel_tensor *t, const float *m, const float *a,
			     const float *b, float *r0, float *r1)
{
	size_t i, j, c;

	for (c = 0; c < t->groups * t->d1; c++)
		r1[c] = 0;
	for (i = 0; i < t->d0; i++) {
		float best = 0;

		for (j = 0; j < t->d1; j++) {
			float v = m[i * t->d1 + j];
			float x = (float)((double)v * (double)b[col_of(t, i, j)]);
			float y = (float)((double)v * (double)a[i]);

			if (x > best)
				best = x;
			if (y > r1[col_of(t, i, j)])
				r1[col_of(t, i, j)] = y;
		}
		r0[i] = best;
	}
}

/* kernel_scale by the book: the outputs and the count of non-finite ones. */
static size_t ref_scale(const struct kernel_tensor *t, const double *fa, const double *fb,
			size_t e0, size_t e1, uint8_t *dst)
{
	size_t e, bad = 0, es = esize(t->dt);

	for (e = e0; e < e1; e++) {
		size_t r = e / t->k, i = r / t->d1, j = r % t->d1;
		double f = (fa ? fa[i] : 1.0) * (fb ? fb[col_of(t, i, j)] : 1.0);
		double w = ref_elem(t, e), x;
		uint8_t *o = dst + (e - e0) * es;

		if (isnan(w)) {
			memcpy(o, t->p + e * es, es);
			x = w;
		} else if (t->dt == KERNEL_F16) {
			uint16_t h = ref_to_f16(w * f);

			memcpy(o, &h, 2);
			x = ref_f16(h);
		} else {
			float out = (float)(w * f);

			memcpy(o, &out, 4);
			x = (double)out;
		}
		bad += !isfinite(x);
	}
	return bad;
}

/* The INT8 statistics of a whole tensor's outputs by the definition in
 * kernels.h (struct kernel_sqnr), element by element: runs of one channel
 * cut at multiples of KERNEL_SQNR_RUN, float terms in 4 lanes, each run's
 * lanes added to the channel's doubles at its end. */
static void ref_sqnr(const struct kernel_tensor *t, const uint8_t *out, double step, bool by_col,
		     double *cs, double *cn)
{
	size_t n = t->d0 * t->d1 * t->k, e, l, open = SIZE_MAX;
	float s = (float)(1.0 / step), rs[4] = {0, 0, 0, 0}, rn[4] = {0, 0, 0, 0};

	if (!(s <= 0x1.fffffep127f))
		s = 0x1.fffffep127f;
	for (e = 0; e <= n; e++) {
		size_t r = e < n ? e / t->k : 0, ch = SIZE_MAX; /* past the end: no channel */
		float x, u, q, d, sq, dd;

		if (e < n)
			ch = by_col ? col_of(t, r / t->d1, r % t->d1) : r / t->d1;
		if (open != SIZE_MAX && (e == n || ch != open || e % KERNEL_SQNR_RUN == 0)) {
			for (l = 0; l < 4; l++) {
				cs[4 * open + l] += (double)rs[l];
				cn[4 * open + l] += (double)rn[l];
				rs[l] = rn[l] = 0;
			}
		}
		if (e == n)
			break;
		open = ch;
		if (t->dt == KERNEL_F16)
			x = (float)ref_f16((uint16_t)(out[2 * e] | out[2 * e + 1] << 8));
		else
			memcpy(&x, out + 4 * e, 4);
		u = x * s;
		q = isfinite(u) && fabsf(u) < 0x1p23f ? (float)ref_round((double)u) : u;
		q = q < -127.0f ? -127.0f : q;
		q = 127.0f < q ? 127.0f : q;
		d = u - q;
		sq = u * u;
		dd = d * d;
		rs[e & 3] += sq;
		rn[e & 3] += dd;
	}
}

/* A struct kernel_sqnr for t's channels (rows, or columns with by_col). */
static size_t n_channels(const struct kernel_tensor *t, bool by_col)
{
	return by_col ? t->groups * t->d1 : t->d0;
}

static struct kernel_sqnr sqnr_new(const struct kernel_tensor *t, double step, bool by_col)
{
	struct kernel_sqnr q;

	memset(&q, 0, sizeof q);
	q.step = step;
	q.by_col = by_col;
	q.ch_signal = zalloc(4 * n_channels(t, by_col) * sizeof(double) + 1);
	q.ch_noise = zalloc(4 * n_channels(t, by_col) * sizeof(double) + 1);
	return q;
}

static void sqnr_free(struct kernel_sqnr *q)
{
	free(q->ch_signal);
	free(q->ch_noise);
}

/* q's sums against ref_sqnr of the outputs out (the whole tensor). */
static bool sqnr_matches(const struct kernel_tensor *t, const struct kernel_sqnr *q, const uint8_t *out)
{
	size_t n = 4 * n_channels(t, q->by_col), i;
	double *cs = zalloc(n * sizeof(double) + 1), *cn = zalloc(n * sizeof(double) + 1);
	bool ok = !q->open;

	ref_sqnr(t, out, q->step, q->by_col, cs, cn);
	for (i = 0; i < n; i++)
		ok = ok && same_double(q->ch_signal[i], cs[i]) && same_double(q->ch_noise[i], cn[i]);
	free(cs);
	free(cn);
	return ok;
}

/* ---- the versions under test ------------------------------------------- */

/* every version built (kernels.c), and the public entry points, which pick one */
static const struct kernel_impl public_impl = {"public", kernel_absmax_reduce, kernel_weighted_max, kernel_scale,
					       kernel_sums};
#define N_IMPLS (KERNEL_N_IMPLS + 1)
#define impls(v) ((v) < KERNEL_N_IMPLS ? &kernel_impls[v] : &public_impl)

static const char *const dt_name[] = {"f32", "f16"};

/* Calloc'd and never NULL: n may be 0. */
static void *zalloc(size_t n)
{
	void *p = calloc(n ? n : 1, 1);

	if (p == NULL)
		abort();
	return p;
}

/* ---- float16 conversions ----------------------------------------------- */

static void t_f16_to_f32_all(void)
{
	uint32_t h;

	for (h = 0; h < 0x10000; h++) {
		float f = kernel_f16_to_f32((uint16_t)h);
		double r = ref_f16((uint16_t)h);

		if (isnan(r))
			CHECK_MSG(f32_bits(f) == ((h & 0x8000) << 16 | 0x7f800000 | (h & 0x3ff) << 13),
				  "half %04x: NaN bits %08x", h, f32_bits(f));
		else
			CHECK_MSG(f64_bits((double)f) == f64_bits(r), "half %04x: %a, expected %a", h,
				  (double)f, r);
	}
}

static void t_f64_to_f16_exhaustive(void)
{
	uint32_t h;

	for (h = 0; h < 0x10000; h++) {
		double v = ref_f16((uint16_t)h), next, mid;
		uint16_t r = kernel_f64_to_f16(v), sign = (uint16_t)(h & 0x8000), a = (uint16_t)(h & 0x7fff);

		if (isnan(v)) {
			CHECK_MSG((r & 0x7fff) > 0x7c00 && (r & 0x8000) == sign, "NaN %04x -> %04x", h, r);
			continue;
		}
		CHECK_MSG(r == h, "%a -> %04x, expected %04x", v, r, h);
		if (a >= 0x7c00)
			continue;
		/* halfway to the next half (65536 past the largest) goes to the even one */
		next = a == 0x7bff ? 65536.0 : ref_f16((uint16_t)(a + 1));
		next = sign ? -next : next;
		mid = (v + next) / 2;
		r = kernel_f64_to_f16(mid);
		CHECK_MSG(r == (a & 1 ? (uint16_t)(h + 1) : (uint16_t)h), "tie %a -> %04x", mid, r);
		r = kernel_f64_to_f16(mid * (1 + pow2(-40)));
		CHECK_MSG(r == (uint16_t)(h + 1), "above tie %a -> %04x", mid, r);
		r = kernel_f64_to_f16(mid * (1 - pow2(-40)));
		CHECK_MSG(r == (uint16_t)h, "below tie %a -> %04x", mid, r);
	}
}

static void t_f64_to_f16_edges(void)
{
	static const struct {
		double x;
		uint16_t h;
	} cases[] = {
		{65504.0, 0x7bff},
		{65519.99, 0x7bff},
		{65520.0, 0x7c00}, /* tie between 65504 and 2^16: even is Inf */
		{-65520.0, 0xfc00},
		{1e300, 0x7c00},
		{(double)INFINITY, 0x7c00},
		{-(double)INFINITY, 0xfc00},
		{0.0, 0x0000},
		{-0.0, 0x8000},
		{0x1p-24, 0x0001},          /* smallest subnormal */
		{0x1p-25, 0x0000},          /* half of it: tie to even 0 */
		{0x1.0000000000001p-25, 0x0001},
		{-0x1p-25, 0x8000},
		{0x1.8p-25, 0x0001},        /* 0.75 units */
		{0x1.8p-24, 0x0002},        /* 1.5 units: tie to even 2 */
		{0x1.4p-23, 0x0002},        /* 2.5 units: tie to even 2 */
		{0x1.ff8p-15, 0x03ff},      /* largest subnormal */
		{0x1.ffcp-15, 0x0400},      /* 1023.5 units: tie to even, the smallest normal */
		{0x1p-14, 0x0400},
		{4.9406564584124654e-324, 0x0000}, /* double subnormal */
		{0x1.004p0, 0x3c01},
		{0x1.002p0, 0x3c00},        /* tie to even */
		{0x1.006p0, 0x3c02},        /* tie to even, upwards */
		{0x1.0020000001p0, 0x3c01}, /* above the tie by less than a float ulp */
		{1.0 / 3.0, 0x3555},
		{-2.0, 0xc000},
		{32768.0 + 16.0, 0x7800},   /* tie at the top exponent */
		{32768.0 + 48.0, 0x7802},
	};
	size_t i;
	uint16_t r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		r = kernel_f64_to_f16(cases[i].x);
		CHECK_MSG(r == cases[i].h, "%a -> %04x, expected %04x", cases[i].x, r, cases[i].h);
	}
	/* rounding through float first would land on the tie and go to even */
	CHECK_INT(kernel_f64_to_f16((double)(float)0x1.0020000001p0), 0x3c00);
	r = kernel_f64_to_f16((double)NAN);
	CHECK((r & 0x7c00) == 0x7c00 && (r & 0x3ff) != 0);
	r = kernel_f64_to_f16(-(double)NAN);
	CHECK((r & 0xfc00) == 0xfc00 && (r & 0x3ff) != 0);
}

static void t_f64_to_f16_random(void)
{
	struct rng g = {42};
	int i;

	for (i = 0; i < 200000; i++) {
		double x = rnd_double(&g, -27, 16);
		uint16_t r;

		x = rnd(&g) & 1 ? -x : x;
		r = kernel_f64_to_f16(x);
		CHECK_MSG(r == ref_to_f16(x), "%a -> %04x, expected %04x", x, r, ref_to_f16(x));
	}
}

/* ---- kernels against the reference ------------------------------------- */

static void t_absmax(void)
{
	size_t n, d, mo, v;

	for (v = 0; v < N_IMPLS; v++)
		for (d = 0; d < 2; d++)
			for (mo = MODE_FINITE; mo <= MODE_SPECIAL; mo++)
				for (n = 0; n < N_CASES; n++) {
					struct tcase c;
					float *m, *want;
					size_t bad, wbad, rows;

					case_nth(&c, n, (enum kernel_dtype)d, (enum mode)mo);
					rows = c.t.d0 * c.t.d1;
					m = zalloc(rows * 4);
					want = zalloc(rows * 4);
					bad = impls(v)->absmax(&c.t, m);
					wbad = ref_absmax(&c.t, want);
					if (bad != wbad || memcmp(m, want, rows * 4) != 0)
						test_fail(__FILE__, __LINE__,
							  "%s %s case %zu (%zux%zux%zu): count %zu, expected %zu; m %s",
							  impls(v)->name, dt_name[d], n, c.t.d0, c.t.d1, c.t.k, bad,
							  wbad, memcmp(m, want, rows * 4) ? "differs" : "same");
					free(m);
					free(want);
					free(c.mem);
				}
}

static void rnd_positive(struct rng *g, float *x, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = (float)rnd_double(g, -8, 8);
}

static void t_weighted_max(void)
{
	size_t n, d, mo, v, direct;

	for (v = 0; v < N_IMPLS; v++)
		for (d = 0; d < 2; d++)
			for (mo = MODE_FINITE; mo <= MODE_SPECIAL; mo++)
				for (n = 0; n < N_CASES; n++)
					for (direct = 0; direct < 2; direct++) {
						struct tcase c;
						struct rng g = {n + 1000 * d};
						size_t rows, n_col;
						float *m, *a, *b, *r0, *r1, *w0, *w1;

						case_nth(&c, n, (enum kernel_dtype)d, (enum mode)mo);
						rows = c.t.d0 * c.t.d1;
						n_col = c.t.groups * c.t.d1;
						m = zalloc(rows * 4);
						a = zalloc(c.t.d0 * 4);
						b = zalloc(n_col * 4);
						r0 = zalloc(c.t.d0 * 4);
						r1 = zalloc(n_col * 4);
						w0 = zalloc(c.t.d0 * 4);
						w1 = zalloc(n_col * 4);
						rnd_positive(&g, a, c.t.d0);
						rnd_positive(&g, b, n_col);
						ref_absmax(&c.t, m);
						/* direct: |w| read from the tensor (any k, though meant for k == 1) */
						impls(v)->wmax(&c.t, direct ? NULL : m, a, b, r0, r1);
						ref_weighted_max(&c.t, m, a, b, w0, w1);
						if (memcmp(r0, w0, c.t.d0 * 4) != 0 || memcmp(r1, w1, n_col * 4) != 0)
							test_fail(__FILE__, __LINE__,
								  "%s %s case %zu (%zux%zux%zu g%zu)%s: r0 %s, r1 %s",
								  impls(v)->name, dt_name[d], n, c.t.d0, c.t.d1, c.t.k,
								  c.t.groups, direct ? " direct" : "",
								  memcmp(r0, w0, c.t.d0 * 4) ? "differs" : "same",
								  memcmp(r1, w1, n_col * 4) ? "differs" : "same");
						/* one side at a time: the same values */
						memset(r0, 0xff, c.t.d0 * 4);
						memset(r1, 0xff, n_col * 4);
						impls(v)->wmax(&c.t, direct ? NULL : m, a, b, r0, NULL);
						impls(v)->wmax(&c.t, direct ? NULL : m, a, b, NULL, r1);
						CHECK_MSG(memcmp(r0, w0, c.t.d0 * 4) == 0 && memcmp(r1, w1, n_col * 4) == 0,
							  "%s %s case %zu%s: one side at a time differs", impls(v)->name,
							  dt_name[d], n, direct ? " direct" : "");
						free(m);
						free(a);
						free(b);
						free(r0);
						free(r1);
						free(w0);
						free(w1);
						free(c.mem);
					}
}

/* kernel_hits: every hit of every row, in order, against the definition
 * (products in float over the reference abs-max), m given or read from t;
 * with room for all of them, and for one fewer (cap + 1 back). */
static void t_hits(void)
{
	size_t (*const fns[])(const struct kernel_tensor *, const float *, size_t, const float *, float,
			      float, const float *, size_t, uint32_t *, size_t) = {
		kernel_hits_scalar, kernel_hits,
#ifdef __wasm_simd128__
		kernel_hits_simd,
#endif
	};
	size_t n, d, mo, v, direct, i, j, hits = 0;

	for (v = 0; v < sizeof fns / sizeof fns[0]; v++)
		for (d = 0; d < 2; d++)
			for (mo = MODE_FINITE; mo <= MODE_SPECIAL; mo++)
				for (n = 0; n < N_CASES; n++)
					for (direct = 0; direct < 2; direct++) {
						struct tcase c;
						struct rng g = {n + 77 * d + 5 * mo};
						size_t d1, per, n_col;
						float *m, *a, *b, *tc;
						uint32_t *want, *got;

						case_nth(&c, n, (enum kernel_dtype)d, (enum mode)mo);
						d1 = c.t.d1;
						per = c.t.groups ? c.t.d0 / c.t.groups : 1;
						n_col = c.t.groups * d1;
						m = zalloc(c.t.d0 * d1 * 4);
						a = zalloc(c.t.d0 * 4);
						b = zalloc(n_col * 4);
						tc = zalloc(n_col * 4);
						want = zalloc(d1 * 4 + 4);
						got = zalloc(d1 * 4 + 4);
						rnd_positive(&g, a, c.t.d0);
						rnd_positive(&g, b, n_col);
						rnd_positive(&g, tc, n_col);
						ref_absmax(&c.t, m);
						for (i = 0; i < c.t.d0; i++) {
							const float *bg = b + i / per * d1, *tg = tc + i / per * d1;
							float tb = d1 ? m[i * d1 + rnd_below(&g, d1)] * bg[0] : 0.0f;
							size_t n_want = 0, k;

							for (j = 0; j < d1; j++) {
								float x = m[i * d1 + j] * bg[j], y = m[i * d1 + j] * a[i];

								if ((x > 0.0f && x >= tb) || (y > 0.0f && y >= tg[j]))
									want[n_want++] = (uint32_t)j;
							}
							k = fns[v](&c.t, direct ? NULL : m, i * d1, bg, tb, a[i], tg, d1, got, d1);
							CHECK_MSG(k == n_want && memcmp(got, want, k * 4) == 0,
								  "%s case %zu row %zu: %zu hits, want %zu", dt_name[d], n, i, k, n_want);
							if (n_want > 0) {
								k = fns[v](&c.t, direct ? NULL : m, i * d1, bg, tb, a[i], tg, d1, got,
									   n_want - 1);
								CHECK_MSG(k == n_want && memcmp(got, want, (k - 1) * 4) == 0,
									  "%s case %zu row %zu, room for %zu: %zu", dt_name[d], n, i,
									  n_want - 1, k);
							}
							hits += n_want;
						}
						free(m);
						free(a);
						free(b);
						free(tc);
						free(want);
						free(got);
						free(c.mem);
					}
	CHECK_MSG(hits > 1000, "only %zu hits: the thresholds test too little", hits);
}

/* Factors for a case: fa and fb each present or NULL by bits 0 and 1 of which. */
struct factors {
	double *fa, *fb;
};

static void factors_make(struct factors *f, const struct kernel_tensor *t, size_t which, uint64_t seed)
{
	struct rng g = {seed};
	size_t i, n_col = t->groups * t->d1;

	f->fa = which & 1 ? zalloc(t->d0 * 8) : NULL;
	f->fb = which & 2 ? zalloc(n_col * 8) : NULL;
	for (i = 0; f->fa && i < t->d0; i++)
		f->fa[i] = rnd_double(&g, -3, 2);
	for (i = 0; f->fb && i < n_col; i++)
		f->fb[i] = rnd_double(&g, -3, 2);
}

static void factors_free(struct factors *f)
{
	free(f->fa);
	free(f->fb);
}

/* A step that puts the outputs across the INT8 range: max |w| / 127 times a
 * typical factor, or 0.25 for the grid (x / step lands on halves). */
static double step_for(const struct kernel_tensor *t, enum mode mode)
{
	double best = 0;
	size_t e;

	if (mode == MODE_GRID)
		return 0.25;
	for (e = 0; e < t->d0 * t->d1 * t->k; e++) {
		double v = ref_elem(t, e);

		if (isfinite(v) && (v < 0 ? -v : v) > best)
			best = v < 0 ? -v : v;
	}
	return best > 0 ? best / 127 : 1.0;
}

/* dst in a block with guard bytes on both sides, at offset 1..3. */
#define GUARD 8
static uint8_t *guarded(size_t n, size_t off)
{
	uint8_t *p = malloc(n + off + 2 * GUARD);

	if (p == NULL)
		abort();
	memset(p, 0x5a, n + off + 2 * GUARD);
	return p;
}

static bool guards_ok(const uint8_t *p, size_t n, size_t off)
{
	size_t i;

	for (i = 0; i < GUARD + off; i++)
		if (p[i] != 0x5a)
			return false;
	for (i = 0; i < GUARD; i++)
		if (p[GUARD + off + n + i] != 0x5a)
			return false;
	return true;
}

static void t_scale(void)
{
	size_t n, d, mo, v, which;

	for (v = 0; v < N_IMPLS; v++)
		for (d = 0; d < 2; d++)
			for (mo = MODE_FINITE; mo <= MODE_GRID; mo++)
				for (n = 0; n < N_CASES; n++)
					for (which = 0; which < 4; which++) {
						struct tcase c;
						struct factors f;
						struct rng g = {n * 4 + which};
						struct kernel_sqnr q, q2;
						size_t es = esize((enum kernel_dtype)d), e0, e1, len, off, bad, wbad,
						       bad2;
						bool whole = true;
						uint8_t *out, *want;

						case_nth(&c, n, (enum kernel_dtype)d, (enum mode)mo);
						factors_make(&f, &c.t, mo == MODE_GRID ? 0 : which, rnd(&g));
						/* the whole tensor, or a range starting and ending anywhere */
						e0 = 0;
						e1 = c.n;
						if (c.n > 0 && rnd(&g) & 1) {
							e0 = rnd_below(&g, c.n);
							e1 = e0 + 1 + rnd_below(&g, c.n - e0);
							whole = e0 == 0 && e1 == c.n;
						}
						len = (e1 - e0) * es;
						off = 1 + rnd_below(&g, 3);
						out = guarded(len, off);
						want = zalloc(len);
						q = sqnr_new(&c.t, step_for(&c.t, (enum mode)mo), which >> 1 & 1);
						q2 = sqnr_new(&c.t, q.step, q.by_col);
						bad = impls(v)->scale(&c.t, f.fa, f.fb, e0, e1, out + GUARD + off, &q);
						wbad = ref_scale(&c.t, f.fa, f.fb, e0, e1, want);
						/* dst NULL: the same count and statistics, nothing written */
						bad2 = impls(v)->scale(&c.t, f.fa, f.fb, e0, e1, NULL, &q2);
						if (bad != wbad || bad2 != wbad ||
						    memcmp(out + GUARD + off, want, len) != 0 ||
						    !guards_ok(out, len, off) ||
						    (whole && (!sqnr_matches(&c.t, &q, want) ||
							       !sqnr_matches(&c.t, &q2, want))))
							test_fail(__FILE__, __LINE__,
								  "%s %s mode %zu case %zu (%zux%zux%zu g%zu) fa%d fb%d "
								  "[%zu,%zu): count %zu/%zu, expected %zu; bytes %s; "
								  "guards %s; statistics %s",
								  impls(v)->name, dt_name[d], mo, n, c.t.d0, c.t.d1, c.t.k,
								  c.t.groups, f.fa != NULL, f.fb != NULL, e0, e1, bad,
								  bad2, wbad,
								  memcmp(out + GUARD + off, want, len) ? "differ" : "same",
								  guards_ok(out, len, off) ? "ok" : "overwritten",
								  !whole ? "not compared"
								  : sqnr_matches(&c.t, &q, want) && sqnr_matches(&c.t, &q2, want)
									  ? "same"
									  : "differ");
						sqnr_free(&q);
						sqnr_free(&q2);
						free(out);
						free(want);
						factors_free(&f);
						free(c.mem);
					}
}

/* Calls over consecutive ranges write the bytes of one whole call and
 * count what it counts. */
static void t_scale_pieces(void)
{
	size_t n, d, v, piece;

	for (v = 0; v < N_IMPLS; v++)
		for (d = 0; d < 2; d++)
			for (n = 0; n < N_CASES; n++) {
				struct tcase c;
				struct factors f;
				struct rng g = {n + 77};
				size_t es = esize((enum kernel_dtype)d), e, next, bad = 0, wbad, whole;
				uint8_t *one, *glued, *want;

				case_nth(&c, n, (enum kernel_dtype)d, MODE_SPECIAL);
				if (c.n == 0) {
					free(c.mem);
					continue;
				}
				factors_make(&f, &c.t, 3, rnd(&g));
				one = zalloc(c.n * es);
				glued = zalloc(c.n * es);
				want = zalloc(c.n * es);
				whole = impls(v)->scale(&c.t, f.fa, f.fb, 0, c.n, one, NULL);
				wbad = ref_scale(&c.t, f.fa, f.fb, 0, c.n, want);
				for (e = 0, piece = 0; e < c.n; e = next, piece++) {
					next = e + 1 + rnd_below(&g, piece % 3 == 0 ? 5 : 300);
					next = next > c.n ? c.n : next;
					bad += impls(v)->scale(&c.t, f.fa, f.fb, e, next, glued + e * es, NULL);
				}
				CHECK_MSG(memcmp(one, glued, c.n * es) == 0 && memcmp(one, want, c.n * es) == 0,
					  "%s %s case %zu: pieces differ from the whole", impls(v)->name,
					  dt_name[d], n);
				CHECK_INT(bad, whole);
				CHECK_INT(bad, wbad);
				free(one);
				free(glued);
				free(want);
				factors_free(&f);
				free(c.mem);
			}
}

/* The statistics of a tensor written in pieces of any length (1 to 500
 * outputs, so runs are left open and continued) are the definition's, per
 * row and per column; special values included. */
static void t_scale_channels(void)
{
	size_t n, d, v, bc, piece, mo;

	for (v = 0; v < N_IMPLS; v++)
		for (d = 0; d < 2; d++)
			for (mo = MODE_FINITE; mo <= MODE_GRID; mo++)
				for (bc = 0; bc < 2; bc++)
					for (n = 0; n < N_CASES; n++) {
						struct tcase c;
						struct factors f;
						struct rng g = {n + 991};
						struct kernel_sqnr q;
						size_t es = esize((enum kernel_dtype)d), e, next;
						uint8_t *out;

						case_nth(&c, n, (enum kernel_dtype)d, (enum mode)mo);
						factors_make(&f, &c.t, mo == MODE_GRID ? 0 : 3, rnd(&g));
						out = zalloc(c.n * es + 1);
						q = sqnr_new(&c.t, step_for(&c.t, (enum mode)mo), bc != 0);
						for (e = 0, piece = 0; e < c.n; e = next, piece++) {
							next = e + 1 + rnd_below(&g, piece % 2 ? 7 : 500);
							next = next > c.n ? c.n : next;
							impls(v)->scale(&c.t, f.fa, f.fb, e, next, out + e * es, &q);
						}
						CHECK_MSG(sqnr_matches(&c.t, &q, out),
							  "%s %s mode %zu case %zu (%zux%zux%zu g%zu) %s: statistics differ",
							  impls(v)->name, dt_name[d], mo, n, c.t.d0, c.t.d1, c.t.k,
							  c.t.groups, bc ? "by column" : "by row");
						sqnr_free(&q);
						free(out);
						factors_free(&f);
						free(c.mem);
					}
}

/* Overflow to Inf is counted; NaN in is copied bit for bit and counted. */
static void t_scale_nonfinite(void)
{
	static const uint32_t w32[] = {0x7f000000, 0x3f800000, 0xff7fffff, 0x7fa00001,
				       0xffc12345, 0x7f800000, 0x00000001, 0xbf800000, 0x7f7fffff};
	static const uint16_t w16[] = {0x7800, 0x3c00, 0xfbff, 0x7d01, 0xfe00, 0x7c00, 0x0001, 0x7bff, 0x3c00};
	uint8_t buf32[1 + sizeof w32], buf16[1 + sizeof w16], out[64];
	double fa = 2.0;
	uint32_t o32;
	uint16_t o16;
	size_t v;

	memcpy(buf32 + 1, w32, sizeof w32);
	memcpy(buf16 + 1, w16, sizeof w16);
	for (v = 0; v < N_IMPLS; v++) {
		struct kernel_tensor t32 = {buf32 + 1, KERNEL_F32, 1, 9, 1, 1};
		struct kernel_tensor t16 = {buf16 + 1, KERNEL_F16, 1, 9, 1, 1};

		/* 2^127 * 2, -max * 2, 2 * max overflow; two NaN and one Inf in */
		CHECK_INT(impls(v)->scale(&t32, &fa, NULL, 0, 9, out, NULL), 6);
		memcpy(&o32, out + 0, 4);
		CHECK_INT(o32, 0x7f800000);
		memcpy(&o32, out + 8, 4);
		CHECK_INT(o32, 0xff800000);
		memcpy(&o32, out + 12, 4);
		CHECK_INT(o32, 0x7fa00001);
		memcpy(&o32, out + 16, 4);
		CHECK_INT(o32, 0xffc12345);
		memcpy(&o32, out + 24, 4);
		CHECK_INT(o32, 0x00000002);
		/* 32768 * 2, -65504 * 2, 65504 * 2 overflow; two NaN and one Inf in */
		CHECK_INT(impls(v)->scale(&t16, &fa, NULL, 0, 9, out, NULL), 6);
		memcpy(&o16, out + 0, 2);
		CHECK_INT(o16, 0x7c00);
		memcpy(&o16, out + 2, 2);
		CHECK_INT(o16, 0x4000);
		memcpy(&o16, out + 6, 2);
		CHECK_INT(o16, 0x7d01);
		memcpy(&o16, out + 8, 2);
		CHECK_INT(o16, 0xfe00);
		memcpy(&o16, out + 12, 2);
		CHECK_INT(o16, 0x0002);
		/* just under the top: 65504 * (1 + 2^-12) still rounds to 65504 */
		fa = 1 + pow2(-12);
		CHECK_INT(impls(v)->scale(&t16, &fa, NULL, 7, 8, out, NULL), 0);
		memcpy(&o16, out, 2);
		CHECK_INT(o16, 0x7bff);
		fa = 2.0;
	}
}

/* Every half times factors that make ties, subnormals and overflow, both
 * as one factor per row (fa) and one per column (fb, k == 1). */
static void t_scale_f16_all(void)
{
	static const double factors[] = {1.0, 0.5, 0x1p-10, 1.5, 1 + 0x1p-11, 3.0, 1e-5,
					 0x1.8p-7, 65504.0, 0x1.0000000000001p0, 0.999999, 0.1};
	uint8_t *w = malloc(2 * 0x10000 + 1), *out = malloc(2 * 0x10000), *want = malloc(2 * 0x10000);
	double *fb = malloc(sizeof(double) * 0x10000);
	size_t v, i, f;
	uint16_t h;

	if (w == NULL || out == NULL || want == NULL || fb == NULL)
		abort();
	for (i = 0; i < 0x10000; i++) {
		h = (uint16_t)i;
		memcpy(w + 1 + 2 * i, &h, 2);
		fb[i] = factors[i % (sizeof factors / sizeof factors[0])];
	}
	for (v = 0; v < N_IMPLS; v++) {
		struct kernel_tensor row = {w + 1, KERNEL_F16, 1, 0x10000, 1, 1};
		struct kernel_tensor cols = {w + 1, KERNEL_F16, 16, 0x1000, 1, 16};

		for (f = 0; f < sizeof factors / sizeof factors[0]; f++) {
			struct kernel_sqnr q = sqnr_new(&row, 0.5, false);

			CHECK_INT(impls(v)->scale(&row, &factors[f], NULL, 0, 0x10000, out, &q),
				  ref_scale(&row, &factors[f], NULL, 0, 0x10000, want));
			CHECK_MSG(memcmp(out, want, 2 * 0x10000) == 0, "%s factor %a", impls(v)->name,
				  factors[f]);
			CHECK(sqnr_matches(&row, &q, want));
			sqnr_free(&q);
		}
		CHECK_INT(impls(v)->scale(&cols, NULL, fb, 0, 0x10000, out, NULL),
			  ref_scale(&cols, NULL, fb, 0, 0x10000, want));
		CHECK_MSG(memcmp(out, want, 2 * 0x10000) == 0, "%s column factors", impls(v)->name);
	}
	free(w);
	free(out);
	free(want);
	free(fb);
}

/* absmax counts and zeroes non-finite; a tensor of nothing but specials. */
static void t_absmax_specials(void)
{
	static const uint32_t w[] = {0x7f800000, 0xff800000, 0x7fc00000, 0x80000000, 0x80000001, 0xff7fffff,
				     0x7f800001, 0x3f800000};
	uint8_t buf[3 + sizeof w];
	float m[8];
	size_t v;

	memcpy(buf + 3, w, sizeof w);
	for (v = 0; v < N_IMPLS; v++) {
		struct kernel_tensor t1 = {buf + 3, KERNEL_F32, 8, 1, 1, 1};
		struct kernel_tensor t8 = {buf + 3, KERNEL_F32, 1, 1, 8, 1};
		struct kernel_tensor t4 = {buf + 3, KERNEL_F32, 2, 1, 4, 1};

		CHECK_INT(impls(v)->absmax(&t1, m), 4);
		CHECK(m[0] == 0 && m[1] == 0 && m[2] == 0 && m[3] == 0 && f32_bits(m[3]) == 0);
		CHECK(f32_bits(m[4]) == 1 && m[5] == 0x1.fffffep127f && m[6] == 0 && m[7] == 1);
		CHECK_INT(impls(v)->absmax(&t8, m), 4);
		CHECK(m[0] == 0x1.fffffep127f);
		CHECK_INT(impls(v)->absmax(&t4, m), 4);
		CHECK(m[0] == 0 && m[1] == 0x1.fffffep127f);
	}
}

/* ---- sums -------------------------------------------------------------- */

/* kernel_sums' S1 (which 0) or S2 (which 1) of window (i, j): from 0, in
 * order of s, non-finite elements skipped. */
static double ref_window(const struct kernel_tensor *t, size_t i, size_t j, int which)
{
	double x = 0;
	size_t s;

	for (s = 0; s < t->k; s++) {
		double w = ref_elem(t, (i * t->d1 + j) * t->k + s);

		if (isfinite(w))
			x += which ? w * w : w;
	}
	return x;
}

/* One side of kernel_sums (which 0: r1 c1, 1: r2 c2) as kernels.h defines
 * it, order and all: rows in 4 lanes into r (d0), columns in order of i
 * into c (n_col).  Also each row taken plainly, one term after the other
 * (plain), and the sum of its terms' magnitudes (mag), for a bound on the
 * rounding the lanes may change. */
static void ref_sums(const struct kernel_tensor *t, int which, const double *b, const double *a, double *r,
		     double *c, double *plain, double *mag)
{
	size_t i, j, n_col = t->groups * t->d1;

	for (j = 0; j < n_col; j++)
		c[j] = 0;
	for (i = 0; i < t->d0; i++) {
		double lane[4] = {0, 0, 0, 0};

		plain[i] = mag[i] = 0;
		for (j = 0; j < t->d1; j++) {
			double S = ref_window(t, i, j, which), y = S * b[col_of(t, i, j)];

			lane[j % 4] += y;
			plain[i] += y;
			mag[i] += fabs(y);
			c[col_of(t, i, j)] += S * a[i];
		}
		r[i] = (lane[0] + lane[1]) + (lane[2] + lane[3]);
	}
}

/* n doubles set to a value a kernel would not write. */
static double *poisoned(size_t n)
{
	double *x = zalloc(n * sizeof *x);
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = -12345.0;
	return x;
}

/* Does got hold the n doubles of want, bit for bit? */
static bool same_bits(const double *got, const double *want, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (f64_bits(got[i]) != f64_bits(want[i]))
			return false;
	return true;
}

/* Shapes for the sums beyond case_nth's: blocks of windows (256) crossed
 * within a row and across rows of one window (d1 == 1, depthwise or not). */
static const size_t sums_shapes[][4] = {
	{300, 1, 9, 300}, {300, 1, 1, 3}, {3, 301, 3, 1}, {513, 1, 1, 1}, {2, 517, 1, 2}, {70, 5, 9, 7},
};
#define N_SUMS_SHAPES (sizeof sums_shapes / sizeof sums_shapes[0])

/* kernel_sums, every version and every choice of outputs: the order of
 * kernels.h exactly (so the versions agree bit for bit), and each row within
 * 1e-12 of its plain sum, relative to its terms' magnitudes. */
static void t_sums(void)
{
	size_t n, d, mo, v, i;
	unsigned outs;

	for (d = 0; d < 2; d++)
		for (mo = MODE_FINITE; mo <= MODE_SPECIAL; mo++)
			for (n = 0; n < N_CASES + N_SUMS_SHAPES; n++) {
				struct tcase c;
				struct rng g = {n * 17 + d * 3 + mo};
				size_t n_col, d0;
				double *b[2], *a[2], *r[2], *cl[2], *plain[2], *mag[2], *got[4];

				if (n < N_CASES) {
					case_nth(&c, n, (enum kernel_dtype)d, (enum mode)mo);
				} else {
					const size_t *sh = sums_shapes[n - N_CASES];

					case_make(&c, rnd(&g), sh[0], sh[1], sh[2], sh[3], (enum kernel_dtype)d,
						  (enum mode)mo);
				}
				d0 = c.t.d0;
				n_col = c.t.groups * c.t.d1;
				for (i = 0; i < 2; i++) {
					size_t x;

					b[i] = zalloc(n_col * sizeof(double));
					a[i] = zalloc(d0 * sizeof(double));
					for (x = 0; x < n_col; x++)
						b[i][x] = rnd_double(&g, -6, 6);
					for (x = 0; x < d0; x++)
						a[i][x] = rnd_double(&g, -6, 6);
					r[i] = zalloc(d0 * sizeof(double));
					plain[i] = zalloc(d0 * sizeof(double));
					mag[i] = zalloc(d0 * sizeof(double));
					cl[i] = zalloc(n_col * sizeof(double));
					ref_sums(&c.t, (int)i, b[i], a[i], r[i], cl[i], plain[i], mag[i]);
					for (x = 0; x < d0; x++)
						CHECK_MSG(fabs(r[i][x] - plain[i][x]) <= 1e-12 * mag[i][x],
							  "sums reference, case %zu row %zu", n, x);
				}
				for (v = 0; v < N_IMPLS; v++)
					for (outs = 1; outs < 16; outs++) { /* bits: r1 r2 c1 c2 */
						bool ok = true;

						got[0] = outs & 1 ? poisoned(d0) : NULL;
						got[1] = outs & 2 ? poisoned(d0) : NULL;
						got[2] = outs & 4 ? poisoned(n_col) : NULL;
						got[3] = outs & 8 ? poisoned(n_col) : NULL;
						impls(v)->sums(&c.t, got[0] ? b[0] : NULL, got[1] ? b[1] : NULL, got[0], got[1],
							      got[2] ? a[0] : NULL, got[3] ? a[1] : NULL, got[2], got[3]);
						for (i = 0; i < 2; i++) {
							ok = ok && (got[i] == NULL || same_bits(got[i], r[i], d0));
							ok = ok && (got[2 + i] == NULL || same_bits(got[2 + i], cl[i], n_col));
						}
						for (i = 0; i < 4; i++)
							free(got[i]);
						CHECK_MSG(ok, "%s %s mode %zu sums case %zu (%zux%zux%zu g%zu) outputs %u differ",
							  impls(v)->name, dt_name[d], mo, n, c.t.d0, c.t.d1, c.t.k, c.t.groups,
							  outs);
					}
				for (i = 0; i < 2; i++) {
					free(b[i]);
					free(a[i]);
					free(r[i]);
					free(cl[i]);
					free(plain[i]);
					free(mag[i]);
				}
				free(c.mem);
			}
}

#ifdef __wasm_simd128__
/* The SIMD versions against the scalar ones on the same data, byte for
 * byte and sum for sum, with specials and every range alignment. */
static void t_simd_matches_scalar(void)
{
	size_t n, d, mo, which;

	for (d = 0; d < 2; d++)
		for (mo = MODE_FINITE; mo <= MODE_GRID; mo++)
			for (n = 0; n < N_CASES + 60; n++) {
				struct tcase c;
				struct factors f;
				struct rng g = {n * 13 + d + 5 * mo};
				size_t rows, n_col, es = esize((enum kernel_dtype)d), e0, e1, b1, b2;
				float *m1, *m2, *a, *b, *r01, *r11, *r02, *r12;
				uint8_t *o1, *o2;

				case_nth(&c, n, (enum kernel_dtype)d, (enum mode)mo);
				rows = c.t.d0 * c.t.d1;
				n_col = c.t.groups * c.t.d1;
				m1 = zalloc(rows * 4);
				m2 = zalloc(rows * 4);
				CHECK_INT(kernel_absmax_reduce_simd(&c.t, m1), kernel_absmax_reduce_scalar(&c.t, m2));
				CHECK_MSG(memcmp(m1, m2, rows * 4) == 0, "absmax case %zu", n);
				a = zalloc(c.t.d0 * 4);
				b = zalloc(n_col * 4);
				r01 = zalloc(c.t.d0 * 4);
				r02 = zalloc(c.t.d0 * 4);
				r11 = zalloc(n_col * 4);
				r12 = zalloc(n_col * 4);
				rnd_positive(&g, a, c.t.d0);
				rnd_positive(&g, b, n_col);
				kernel_weighted_max_simd(&c.t, m1, a, b, r01, r11);
				kernel_weighted_max_scalar(&c.t, m2, a, b, r02, r12);
				CHECK_MSG(memcmp(r01, r02, c.t.d0 * 4) == 0 && memcmp(r11, r12, n_col * 4) == 0,
					  "weighted max case %zu", n);
				kernel_weighted_max_simd(&c.t, NULL, a, b, r01, r11);
				kernel_weighted_max_scalar(&c.t, NULL, a, b, r02, r12);
				CHECK_MSG(memcmp(r01, r02, c.t.d0 * 4) == 0 && memcmp(r11, r12, n_col * 4) == 0,
					  "weighted max direct case %zu", n);
				for (which = 0; which < 4; which++) {
					struct kernel_sqnr q1 = sqnr_new(&c.t, step_for(&c.t, (enum mode)mo), which & 1);
					struct kernel_sqnr q2 = sqnr_new(&c.t, q1.step, q1.by_col);
					size_t i;
					bool same;

					factors_make(&f, &c.t, which, rnd(&g));
					e0 = c.n ? rnd_below(&g, c.n) : 0;
					e1 = c.n ? e0 + 1 + rnd_below(&g, c.n - e0) : 0;
					if (which == 3) {
						e0 = 0;
						e1 = c.n;
					}
					o1 = zalloc((e1 - e0) * es);
					o2 = zalloc((e1 - e0) * es);
					b1 = kernel_scale_simd(&c.t, f.fa, f.fb, e0, e1, o1, &q1);
					b2 = kernel_scale_scalar(&c.t, f.fa, f.fb, e0, e1, o2, &q2);
					CHECK_INT(b1, b2);
					CHECK_MSG(memcmp(o1, o2, (e1 - e0) * es) == 0, "scale case %zu", n);
					/* the same sums, and the same run left open */
					same = q1.open == q2.open && (!q1.open || (q1.ch == q2.ch && q1.next == q2.next));
					for (i = 0; i < 4 * n_channels(&c.t, q1.by_col); i++)
						same = same && same_double(q1.ch_signal[i], q2.ch_signal[i]) &&
						       same_double(q1.ch_noise[i], q2.ch_noise[i]);
					for (i = 0; i < 4; i++)
						same = same && same_double((double)q1.run_signal[i], (double)q2.run_signal[i]) &&
						       same_double((double)q1.run_noise[i], (double)q2.run_noise[i]);
					CHECK_MSG(same, "%s mode %zu scale case %zu (%zux%zux%zu g%zu) fa%d fb%d [%zu,%zu): statistics differ",
						  dt_name[d], mo, n, c.t.d0, c.t.d1, c.t.k, c.t.groups, f.fa != NULL,
						  f.fb != NULL, e0, e1);
					sqnr_free(&q1);
					sqnr_free(&q2);
					free(o1);
					free(o2);
					factors_free(&f);
				}
				free(m1);
				free(m2);
				free(a);
				free(b);
				free(r01);
				free(r02);
				free(r11);
				free(r12);
				free(c.mem);
			}
}
#endif

int main(int argc, char **argv)
{
	static const struct test tests[] = {
		{"f16_to_f32_all", t_f16_to_f32_all},
		{"f64_to_f16_exhaustive", t_f64_to_f16_exhaustive},
		{"f64_to_f16_edges", t_f64_to_f16_edges},
		{"f64_to_f16_random", t_f64_to_f16_random},
		{"absmax", t_absmax},
		{"absmax_specials", t_absmax_specials},
		{"weighted_max", t_weighted_max},
		{"hits", t_hits},
		{"scale", t_scale},
		{"scale_pieces", t_scale_pieces},
		{"scale_channels", t_scale_channels},
		{"scale_nonfinite", t_scale_nonfinite},
		{"scale_f16_all", t_scale_f16_all},
		{"sums", t_sums},
#ifdef __wasm_simd128__
		{"simd_matches_scalar", t_simd_matches_scalar},
#endif
		{NULL, NULL},
	};

	return test_main(argc, argv, tests);
}
