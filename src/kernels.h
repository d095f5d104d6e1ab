/* kernels.h — the equalizer's arithmetic over weight tensors: per-channel
 * abs-max, weighted maxima across the channels of two layers, and rescaling
 * with INT8 quantization statistics.  A portable scalar version is always
 * built (kernel_*_scalar); the public kernel_* use the WASM SIMD128 version
 * when the compiler targets it (__wasm_simd128__).  Both write the same bits
 * and the same sums, and the tests hold them to it.
 *
 * Kernels allocate nothing, keep no state and do not check sizes: the caller
 * has checked that d0 * d1 * k elements lie at p (cle_mul_size) and that the
 * output arrays have the lengths stated. */
#ifndef CLE_KERNELS_H
#define CLE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kernel_dtype { KERNEL_F32 = 0, KERNEL_F16 = 1 }; /* IEEE little-endian float32 / float16 */

/* A weight tensor viewed as [d0][d1][k] elements at p (no alignment assumed:
 * p may be odd).  Element (i, j, s) is at index (i*d1 + j)*k + s.  Column j
 * of row i belongs to global column col(i, j) = (i / (d0 / groups)) * d1 + j;
 * n_col = groups * d1.  (groups == 1: col = j.  A depthwise conv weight
 * [C][1][k] with groups == C: col(i, 0) = i.)  groups >= 1, d0 % groups == 0. */
struct kernel_tensor {
	const uint8_t *p;
	enum kernel_dtype dt;
	size_t d0, d1, k, groups;
};

/* m[i*d1 + j] = max over s of |w[i][j][s]| as float (0 when k == 0).
 * Non-finite elements (NaN, ±Inf) are counted and contribute 0 to m.
 * Returns the count of non-finite elements. */
size_t kernel_absmax_reduce(const struct kernel_tensor *t, float *m);

/* Weighted maxima over a nonnegative [d0][d1] matrix m (or, when m == NULL,
 * over the abs-max of each w[i][j][.] read directly from t, non-finite
 * treated as 0; meant for k == 1, where it saves the m array):
 *   r0[i] = max_j  m[i][j] * b[col(i,j)]                          (d0 outputs)
 *   r1[c] = max over (i,j) with col(i,j) == c of m[i][j] * a[i]   (n_col outputs)
 * a (d0) and b (n_col) are positive finite floats.  Products in float; an
 * empty maximum is 0.  r0 or r1 may be NULL: that side is not computed. */
void kernel_weighted_max(const struct kernel_tensor *t, const float *m, const float *a,
			 const float *b, float *r0, float *r1);

/* Per-channel statistics of symmetric INT8 quantization with one step for
 * the whole tensor, accumulated by kernel_scale.  For an output x (its
 * value as written, float16 read exactly as float), in float arithmetic,
 * one operation at a time, with s = (float)(1 / step) (FLT_MAX if that
 * overflows):
 *   u = x * s,  r = clamp(nearbyint(u), -127, 127) (ties to even),
 *   signal term u * u,  noise term (u - r) * (u - r)
 * — in units of the step, so nothing overflows for |x| up to 127 steps and
 * the ratio signal / noise is the one in units of x.  A channel is row i,
 * or with by_col col(i, j).  Its outputs are taken in runs: consecutive
 * indices of one channel that do not cross a multiple of KERNEL_SQNR_RUN.
 * Within a run the terms are summed in float, in 4 lanes (output e goes to
 * lane e % 4, in index order); at the run's end each lane's float sum is
 * added, as a double, to ch_signal[4 * channel + lane] (ch_noise alike).
 * A run that reaches the end of a call stays open in the struct and is
 * continued by a call that starts where it left off, so the sums do not
 * depend on how the tensor is cut into calls; the run that ends at the
 * tensor's last element is added at once.  Zero the struct, then set step,
 * by_col and the two arrays (4 * channels doubles each, zeroed). */
#define KERNEL_SQNR_RUN 64
struct kernel_sqnr {
	double step; /* the quantization step (absmax / 127), > 0 */
	bool by_col;
	double *ch_signal, *ch_noise;
	/* the open run: its channel, the element after it, its lane sums */
	bool open;
	size_t ch, next;
	float run_signal[4], run_noise[4];
};

/* Channel c's two sums from its 4 lanes: (l0 + l1) + (l2 + l3). */
void kernel_sqnr_channel(const struct kernel_sqnr *q, size_t c, double *signal, double *noise);

/* Writes elements [e0, e1) (indices in the flat [d0][d1][k] order) of the
 * rescaled tensor to dst[0 .. e1-e0) — dst holds just that range, so calls
 * over consecutive ranges write consecutive bytes — same dtype as t,
 * little-endian, no alignment guarantee:
 *   out = w * (fa[i] * fb[col(i,j)])
 * The factor is formed in double, multiplied with w (as double), and the
 * result rounded once to the output dtype, to nearest even (float16 directly
 * from double).  fa (d0) or fb (n_col) may be NULL meaning all ones; factors
 * are positive and finite.  A NaN element is copied unchanged.  dst may be
 * NULL: nothing is written; q may be NULL: no statistics (see struct
 * kernel_sqnr).  Returns the number of outputs that are non-finite
 * (overflowed to ±Inf, or NaN/Inf in). */
size_t kernel_scale(const struct kernel_tensor *t, const double *fa, const double *fb,
		    size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q);

/* For the candidate lists of cle_balance.c (entries that may still hold a
 * row's or a column's weighted maximum): every j in [0, n) where, with v
 * the [d0][d1] value at flat index r + j (m[r + j], or |w| read from t when
 * m is NULL, non-finite as 0),
 *   v * b[j] > 0 and >= tb,  or  v * a > 0 and >= tc[j]     (products in float),
 * in order into out, cap of them at most.  Returns how many there are, or
 * cap + 1 when there are more than cap. */
size_t kernel_hits(const struct kernel_tensor *t, const float *m, size_t r, const float *b, float tb,
		   float a, const float *tc, size_t n, uint32_t *out, size_t cap);

/* Sums of w and w² over each [i][j] window (its k elements), in double,
 * non-finite elements counted as 0, carried across rows or columns:
 *   rows:  r1[i] = sum_j S1[i][j] * b1[col(i,j)]      r2[i] = sum_j S2[i][j] * b2[col(i,j)]
 *   cols:  c1[c] = sum over (i,j) with col(i,j) == c of S1[i][j] * a1[i]   (c2 alike, S2, a2)
 * where S1[i][j] = sum_s w[i][j][s] and S2[i][j] = sum_s w[i][j][s]^2.  The
 * order of the additions is fixed, so that every version gives the same
 * bits: S1, S2 and the column sums from 0 in index order (of s, of i); a
 * row's sum in 4 lanes from 0, term j to lane j % 4 in order of j, then
 * (l0 + l1) + (l2 + l3).  An output left NULL is not computed (its weights
 * may be NULL too).  One pass over the tensor; the data-free statistics
 * (cle_stats.c) carry means and variances forward and noise gains backward
 * with it. */
void kernel_sums(const struct kernel_tensor *t, const double *b1, const double *b2, double *r1,
		 double *r2, const double *a1, const double *a2, double *c1, double *c2);

/* Exact conversions used above, exposed for the rest of the library. */
float kernel_f16_to_f32(uint16_t h);
uint16_t kernel_f64_to_f16(double x); /* round to nearest even, overflow to ±Inf, NaN stays NaN */

/* The portable versions, always built; the tests compare them with the SIMD ones. */
size_t kernel_absmax_reduce_scalar(const struct kernel_tensor *t, float *m);
void kernel_weighted_max_scalar(const struct kernel_tensor *t, const float *m, const float *a,
				const float *b, float *r0, float *r1);
size_t kernel_scale_scalar(const struct kernel_tensor *t, const double *fa, const double *fb,
			   size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q);
size_t kernel_hits_scalar(const struct kernel_tensor *t, const float *m, size_t r, const float *b, float tb,
			  float a, const float *tc, size_t n, uint32_t *out, size_t cap);
void kernel_sums_scalar(const struct kernel_tensor *t, const double *b1, const double *b2, double *r1,
			double *r2, const double *a1, const double *a2, double *c1, double *c2);

#ifdef __wasm_simd128__
size_t kernel_absmax_reduce_simd(const struct kernel_tensor *t, float *m);
void kernel_weighted_max_simd(const struct kernel_tensor *t, const float *m, const float *a,
			      const float *b, float *r0, float *r1);
size_t kernel_scale_simd(const struct kernel_tensor *t, const double *fa, const double *fb,
			 size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q);
size_t kernel_hits_simd(const struct kernel_tensor *t, const float *m, size_t r, const float *b, float tb,
			float a, const float *tc, size_t n, uint32_t *out, size_t cap);
void kernel_sums_simd(const struct kernel_tensor *t, const double *b1, const double *b2, double *r1,
		      double *r2, const double *a1, const double *a2, double *c1, double *c2);
#endif

/* Every version of the kernels built, for the tests and bench/kernels_bench.c:
 * the portable one ("scalar"), then the SIMD one when compiled for it
 * ("simd").  KERNEL_N_IMPLS of them. */
struct kernel_impl {
	const char *name;
	size_t (*absmax)(const struct kernel_tensor *t, float *m);
	void (*wmax)(const struct kernel_tensor *t, const float *m, const float *a, const float *b,
		     float *r0, float *r1);
	size_t (*scale)(const struct kernel_tensor *t, const double *fa, const double *fb, size_t e0,
			size_t e1, uint8_t *dst, struct kernel_sqnr *q);
	void (*sums)(const struct kernel_tensor *t, const double *b1, const double *b2, double *r1,
		     double *r2, const double *a1, const double *a2, double *c1, double *c2);
};
#ifdef __wasm_simd128__
#define KERNEL_N_IMPLS 2
#else
#define KERNEL_N_IMPLS 1
#endif
extern const struct kernel_impl kernel_impls[KERNEL_N_IMPLS];
#endif
