/* kernels_internal.h — what the scalar kernels (kernels.c) and the WASM
 * SIMD128 ones (kernels_simd.c) share: element access, positions in a
 * tensor, the one rounding of a rescaled weight, and the statistics'
 * terms, each written once so that both versions compute the same bits.
 * Private to those two files. */
#ifndef CLE_KERNELS_INTERNAL_H
#define CLE_KERNELS_INTERNAL_H

#include "kernels.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#if FLT_EVAL_METHOD != 0
#error "the kernels need float and double arithmetic done in their own precision (SSE, NEON, wasm)"
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

/* Is the entry with products x = v * b[j] and y = v * a a hit, as
 * kernel_hits says? */
static inline bool is_hit(float x, float tb, float y, float tc)
{
	return (x > 0.0f && x >= tb) || (y > 0.0f && y >= tc);
}

/* max over s of |w| for the k elements from p on, non-finite as 0. */
static inline float absmax_row(const struct kernel_tensor *t, const uint8_t *p, size_t *bad)
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

static inline void pos_at(const struct kernel_tensor *t, size_t e, struct pos *ps)
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

/* Adds the terms of the n outputs at o, elements e.. of one run, to the
 * run's lanes ls, ln. */
static inline void q_terms_scalar(enum kernel_dtype dt, const uint8_t *o, size_t e, size_t n, float s,
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

/* ---- kernel_sums' pieces ---------------------------------------------- */

/* Windows per pass of kernel_sums: their sums are still in L1 when the
 * second pass adds them to the rows and columns. */
#define SUMS_BLOCK 256

/* kernel_sums' arguments (kernels.h). */
struct sums_io {
	const double *b1, *b2, *a1, *a2;
	double *r1, *r2, *c1, *c2;
};

/* One element as a double, +0 when it is not finite: its bits are masked,
 * no branch, no float compare.  (A sum from +0 never is -0, so adding +0
 * changes nothing: the element is skipped.) */
static inline double sum_elem(enum kernel_dtype dt, const uint8_t *p)
{
	if (dt == KERNEL_F16) {
		uint16_t h = load_u16(p);

		h = (uint16_t)(h & (0u - (unsigned)((h & 0x7fffu) < 0x7c00u)));
		return (double)kernel_f16_to_f32(h);
	} else {
		uint32_t u = load_u32(p);

		u &= 0u - (uint32_t)((u & 0x7fffffffu) < 0x7f800000u);
		return (double)f32_from_bits(u);
	}
}

/* One element as a double, NaN and Inf as they are. */
static inline double sum_elem_raw(enum kernel_dtype dt, const uint8_t *p)
{
	if (dt == KERNEL_F16)
		return (double)kernel_f16_to_f32(load_u16(p));
	return (double)f32_from_bits(load_u32(p));
}

/* S1 and S2 of the window of k elements at p, in order. */
static inline void window_sums(enum kernel_dtype dt, const uint8_t *p, size_t k, double *s1, double *s2)
{
	size_t es = elem_size(dt), s;
	double x1 = 0, x2 = 0;

	for (s = 0; s < k; s++) {
		double w = sum_elem(dt, p + s * es);

		x1 += w;
		x2 += w * w;
	}
	*s1 = x1;
	*s2 = x2;
}

/* Adds s[x] * b[x] to lane (j + x) % 4 of a row's lanes R, x < n, one at
 * a time (the versions do the aligned middle of a segment their way). */
static inline void row_lanes_one(const double *s, const double *b, size_t j, size_t n, double *R)
{
	size_t x;

	for (x = 0; x < n; x++)
		R[(j + x) & 3] += s[x] * b[x];
}

/* kernel_sums' frame (kernels.c), for both versions. */
void kernel_sums_run(const struct kernel_tensor *t, const struct sums_io *o, bool simd);

/* kernel_scale's frame (kernels.c), for both versions. */
size_t kernel_scale_run(const struct kernel_tensor *t, const double *fa, const double *fb,
			size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q, bool simd);

#ifdef __wasm_simd128__
/* kernels_simd.c's pieces of kernel_scale_run. */
size_t kernel_scale_chunk_simd(const struct kernel_tensor *t, const double *fa, const double *fb,
			       size_t e, size_t n, struct pos *ps, uint8_t *o);
void kernel_q_terms_simd(enum kernel_dtype dt, const uint8_t *o, size_t e, size_t n, float s,
			 float *ls, float *ln);
/* kernels_simd.c's pieces of kernel_sums_run. */
void kernel_sums_windows_simd(enum kernel_dtype dt, const uint8_t *p, size_t k, size_t n, double *s1,
			      double *s2);
void kernel_sums_segment_simd(const struct sums_io *o, const double *s1, const double *s2, size_t i,
			      size_t cj, size_t j, size_t n, double *R1, double *R2);
#endif

#endif
