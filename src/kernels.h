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

/* Per-tensor symmetric INT8 quantization statistics accumulated by kernel_scale. */
struct kernel_sqnr {
	double step;   /* quantization step (absmax / 127); set by the caller, > 0 */
	double signal; /* += x*x         (x: the output value, in double) */
	double noise;  /* += (x - step * clamp(nearbyint(x / step), -127, 127))^2, ties to even */
	/* When non-NULL, the same two sums per output channel as well: channel
	 * i (the row) or, with by_col, col(i, j), each in 4 lanes: output e
	 * (its flat index) goes to ch_signal[4 * channel + e % 4], added in
	 * index order by one scalar loop shared by both versions, so the sums
	 * do not depend on how [e0, e1) is cut into calls.  A channel's sum is
	 * (l0 + l1) + (l2 + l3) (kernel_sqnr_channel).  4 * channels doubles each. */
	double *ch_signal, *ch_noise;
	bool by_col;
};

/* Channel c's two sums from its 4 lanes. */
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
 * NULL: nothing is written and only q is accumulated; q may be NULL.
 * Within one call the sums are kept in 4 lanes striped by (e - e0) mod 4,
 * combined as ((l0 + l1) + (l2 + l3)) and then added to q, so the scalar
 * and SIMD versions give the same bits.  Returns the number of outputs that
 * are non-finite (overflowed to ±Inf, or NaN/Inf in). */
size_t kernel_scale(const struct kernel_tensor *t, const double *fa, const double *fb,
		    size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q);

/* For the candidate lists of cle.c (entries that may still hold a row's or
 * a column's weighted maximum): the first j in [j0, n) where, with v the
 * [d0][d1] value at flat index r + j (m[r + j], or |w| read from t when m
 * is NULL, non-finite as 0),
 *   v * b[j] > 0 and >= tb,  or  v * a > 0 and >= tc[j]     (products in float);
 * n when there is none. */
size_t kernel_next_hit(const struct kernel_tensor *t, const float *m, size_t r, const float *b,
		       float tb, float a, const float *tc, size_t j0, size_t n);

/* Exact conversions used above, exposed for the rest of the library. */
float kernel_f16_to_f32(uint16_t h);
uint16_t kernel_f64_to_f16(double x); /* round to nearest even, overflow to ±Inf, NaN stays NaN */

/* The portable versions, always built; the tests compare them with the SIMD ones. */
size_t kernel_absmax_reduce_scalar(const struct kernel_tensor *t, float *m);
void kernel_weighted_max_scalar(const struct kernel_tensor *t, const float *m, const float *a,
				const float *b, float *r0, float *r1);
size_t kernel_scale_scalar(const struct kernel_tensor *t, const double *fa, const double *fb,
			   size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q);
size_t kernel_next_hit_scalar(const struct kernel_tensor *t, const float *m, size_t r, const float *b,
			      float tb, float a, const float *tc, size_t j0, size_t n);

#ifdef __wasm_simd128__
size_t kernel_absmax_reduce_simd(const struct kernel_tensor *t, float *m);
void kernel_weighted_max_simd(const struct kernel_tensor *t, const float *m, const float *a,
			      const float *b, float *r0, float *r1);
size_t kernel_scale_simd(const struct kernel_tensor *t, const double *fa, const double *fb,
			 size_t e0, size_t e1, uint8_t *dst, struct kernel_sqnr *q);
size_t kernel_next_hit_simd(const struct kernel_tensor *t, const float *m, size_t r, const float *b,
			    float tb, float a, const float *tc, size_t j0, size_t n);
#endif

#endif
