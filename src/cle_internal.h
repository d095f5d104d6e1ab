/* cle_internal.h — what the CLE files share: the state of one
 * cle_equalize run (struct eq), each layer's working state (struct
 * lstate), and the steps one file offers the others.  Not installed.
 *
 *   ops.c          the op table: what each op does to channels
 *   cle_layer.c    one layer: weight shape, bias, BN or bias Add it absorbs
 *   cle_plan.c     cle_plan_groups: layers, roles, regions, groups
 *   cle_map.c      the CLE map queries the report shows
 *   cle.c          the run: read weights, balance, bias, measure, write
 *   cle_balance.c  per-channel ranges under the scales, and the balancing rounds
 *   cle_bias.c     BatchNormalization folding and high-bias absorption
 *   cle_write.c    the edits: rescaled weights, new biases, Clip bounds */
#ifndef CLE_INTERNAL_H
#define CLE_INTERNAL_H

#include "cle.h"
#include "kernels.h"

/* The entries that can still hold a row's or a column's weighted maximum
 * (see cle_balance.c).  One side (rows or columns) of a layer. */
struct cand {
	bool based;             /* w0 holds the weights of the last full pass */
	bool ok;                /* the list belongs to w0 */
	uint32_t uses;          /* calls served since it was built */
	double spread;          /* CAND_SPREAD, narrowed while the list does not fit */
	size_t cap, n;          /* room in ix, iy, v; entries; cap 0: no shortcut */
	float *w0;              /* b (rows) or a (columns) at the last full pass */
	float *mx;              /* the maxima before the other factor (kernel_weighted_max) */
	float *w1;              /* b or a when mx was taken (a bound for the next build) */
	float *t;               /* per-column thresholds while building (columns) */
	uint32_t *at;           /* rows: row i's entries are [at[i], at[i+1]) */
	uint32_t *ix, *iy;      /* rows: j, -; columns: row i and global column */
	float *v;               /* the entries' values (k == 1 weights would be gathered) */
	/* the hot list: the list's entries within CAND_HOT of the maxima under
	 * hw0, read while the weights stay that near hw0 */
	bool hok;               /* hp belongs to hw0 and to the list as it is */
	size_t hn;              /* its entries */
	float *hw0;             /* b or a when it was cut */
	uint32_t *hp;           /* positions in ix, iy, v */
	uint32_t *hat;          /* rows: row i's are hp[hat[i] .. hat[i+1]) */
};

enum side { SIDE_OUT = 1, SIDE_IN = 2 }; /* a layer's output or input ranges */

struct eq;

/* One kernel_sums call of the statistics, kept so that a later run on
 * another plan reads the weights again only when its inputs differ. */
struct sums_memo {
	const double *in[4];    /* b1, b2, a1, a2 as given (copies), NULL: not given */
	double *out[4];         /* r1, r2, c1, c2 as computed (copies), NULL: not asked */
	bool set;               /* the call was made and kept */
};

/* One layer during a run. */
struct lstate {
	bool active;            /* weights read and finite: may be rewritten */
	bool changed;           /* some factor differs from 1 */
	struct kernel_tensor t;
	size_t n_col, esize;
	float *m;               /* [d0][d1] abs-max over k; NULL when k == 1 (read t) */
	double *kf;             /* BN fold factor per output channel, NULL: none */
	double *bias;           /* new bias per output channel, NULL: unchanged */
	double *fa, *fb;        /* final factors for kernel_scale (d0, n_col) */
	float *a, *b, *r0, *r1; /* range scratch (d0, n_col, d0, n_col) */
	float *rout, *rin;      /* current per-channel ranges (views of r0/r1) */
	float *rout0;           /* output ranges before scaling (BN folded) */
	struct cand rows, cols; /* shortcuts for later rounds (balance_layer_ranges) */
	unsigned dirty;         /* enum side bits: ranges to recompute */
	struct kernel_sqnr sq;  /* INT8 statistics of the rewritten weights */
	struct kernel_sqnr sq0; /* ... of the weights before (BN folded), taken as they are rewritten */
	/* data-free statistics (cle_stats.c), in the model's units */
	double *e_in;           /* E[x^2] of each input feature (c_in) */
	double *e_out;          /* E[y^2] of each output channel (c_out), BN folded */
	double *g_out;          /* weight of noise in each output channel at the group's end */
	double *t_in;           /* the same for each input feature, through the weights */
	double *kg;             /* a folded BN's gain per output channel, as the estimate sees it */
	double kwin;            /* products summed per output and input channel (the window) */
	double pc_base[2];      /* its per-channel noise estimates as the model was */
	int8_t *qe;             /* float16 weights: log2 of the lowest set bit's value, least over
				   each [d0][d1] window (QE_ZERO: all zero); NULL otherwise */
	struct sums_memo memo[2]; /* kernel_sums calls of the statistics (forward, back) */
	const struct lstate *prior; /* the same weights in the prior run (cle_run_solve), or NULL */
	struct eq *q;
};

#define QE_ZERO INT8_MIN

/* A node rewritten or replaced, whose constants in some slots may go. */
struct done_ref {
	const struct graph *g;
	uint32_t node;
	unsigned slots;         /* bit k: the constant in input k was replaced */
};

/* float16's largest finite value and its smallest normal one */
#define F16_MAX 65504.0
#define F16_MIN_NORMAL 6.103515625e-05

/* One cle_equalize run. */
struct eq {
	struct cle_plan *p;
	const struct eq *prior; /* an earlier run on the same model (cle_run_solve), or NULL */
	struct cle_result *res;
	struct lstate *ls;      /* per layer */
	double **s;             /* per region: scale per channel, NULL when not balanced */
	struct done_ref *done;  /* nodes rewritten or replaced */
	uint32_t n_done;
	struct cle_arena run;   /* everything of this call */
	struct cle_error *e;
	cle_progress_fn progress;
	void *progress_ud;
	uint64_t bytes_total, bytes_done; /* weight bytes to rewrite, and rewritten */
	double reads;           /* [d0][d1] entries the range maxima read (cle_balance.c) */
	/* per region holding float16 tensors (else NULL): the scales each channel
	 * may take so that its biases, bounds and activation estimate stay in
	 * float16's normal range (stats_half_caps), and the channels a limit held */
	double **cap_lo, **cap_hi;
	uint8_t **cap_hit;
	struct noise *noise;    /* the noise objective's search between its rounds (cle_noise.c) */
};

/* ---- cle_layer.c ---- */
/* Sets *out to a sentence in the plan's arena, unless a reason is there
 * already (the first reason found is the one reported). */
CLE_NODISCARD enum cle_status cle_say(struct cle_plan *p, struct cle_error *e, const char **out,
				      const char *fmt, ...) CLE_PRINTF(4, 5);
/* Describes node n of g, a layer op, in l (zeroed by the caller but for
 * its GRAPH_NONE fields): its weight, bias, folded node, or l->why. */
CLE_NODISCARD enum cle_status cle_layer_describe(struct cle_plan *p, struct cle_layer *l,
						 const struct graph *g, uint32_t n, enum ops_layer kind,
						 struct cle_error *e);

/* ---- cle.c ---- */
enum cle_status eq_nomem(struct eq *q);
/* count zeroed elements of size in the run's arena, NULL when out of memory */
void *eq_alloc(struct eq *q, size_t count, size_t size);
/* false when the caller cancelled */
bool eq_progress(struct eq *q, const char *stage, double fraction);
const struct graph_const *eq_const(const struct graph *g, uint32_t v);
/* Some layer to rewrite has float16 weights. */
bool eq_half(const struct eq *q);
/* Scales are rounded to powers of two (--pow2-scales, float16 weights). */
bool eq_pow2(const struct eq *q);
double eq_pow2_round(double s);
/* Scales stay within [1 / this, this] (0: no limit): --max-scale, else
 * 1e4 when balancing (none for the reference), else what the weights'
 * float type allows. */
double eq_max_scale(const struct eq *q);
/* Narrows [*lo, *hi], the scales channel c of region r may take, to keep
 * float16 values in range: its static limits (cap_lo, cap_hi), the largest
 * float16 weights it scales, xp at the producers and xq at the consumers
 * (both at the region's scale 1; 0: none), finite, and what *lo and *hi
 * hold already (stats_half_quanta).  The scale it has now, s_now, always
 * stays allowed.  Nothing changes outside half regions. */
void eq_half_window(const struct eq *q, uint32_t r, size_t c, double xp, double xq, double s_now,
		    double *lo, double *hi);
/* Where no float16 weight of region r's layers would lose a bit (be scaled
 * below 2^-24 times its lowest set bit: into the subnormals), under the
 * other regions' current scales: lo[c] raised, hi[c] lowered per channel.
 * Nothing changes outside half regions. */
void stats_half_quanta(struct eq *q, uint32_t r, double *lo, double *hi);
/* A power of two near s inside [lo, hi], else s itself. */
double eq_pow2_within(double s, double lo, double hi);
/* Says why layer li was left alone or approximated (the report's note). */
CLE_NODISCARD enum cle_status eq_note(struct eq *q, uint32_t li, const char *why);
/* the scale of channel ch of region r (1 where r is not balanced) */
double eq_region_scale(const struct eq *q, uint32_t r, size_t ch);
/* ... of layer l's output channel o, and of its input feature c */
double eq_out_scale(const struct eq *q, const struct cle_layer *l, size_t o);
double eq_in_scale(const struct eq *q, const struct cle_layer *l, size_t c);

/* ---- cle_balance.c ---- */
/* Room for the candidate lists of layer li (after its weights are read). */
CLE_NODISCARD enum cle_status balance_prepare(struct eq *q, uint32_t li);
/* Layer li's output (SIDE_OUT) or input ranges (SIDE_IN), or both, under
 * the current scales, into S->rout / S->rin. */
void balance_layer_ranges(struct eq *q, uint32_t li, unsigned sides);
/* Marks the ranges of region rg's layers stale (after its scales moved). */
void balance_mark_dirty(struct eq *q, const struct cle_region *rg);
/* A trial move of a region's scales, undone: balance_save keeps layer
 * li's stale bits (returned) and, when they are current, the maxima behind
 * its ranges on one side in keep (room for balance_side_count floats);
 * balance_restore puts both back once the scales are as they were, so
 * that the ranges the trial made stale need not be read again. */
size_t balance_side_count(struct eq *q, uint32_t li, unsigned side);
unsigned balance_save(struct eq *q, uint32_t li, unsigned side, float *keep);
void balance_restore(struct eq *q, uint32_t li, unsigned side, const float *keep, unsigned dirty);
/* The most channels of a region being solved (q->s[r] set), at least 1: the
 * size of the solve's per-channel scratch.  A blocked region's extent is
 * not counted: an invalid model may claim anything there (a Resize's sizes
 * made one 2e9 channels, 16 GB of scratch, found by the fuzzer). */
size_t balance_most_channels(const struct eq *q);
/* Balances every open region (ranges equal on both sides); res->rounds. */
CLE_NODISCARD enum cle_status balance_run(struct eq *q);
/* After either solver: scales rounded (--pow2-scales); res->clamped and
 * max_imbalance under the final scales. */
CLE_NODISCARD enum cle_status balance_finish(struct eq *q);

/* ---- cle_stats.c ---- */
/* e^x, erfc(z) (z >= 0) and the cube root by the same operations on every
 * target: the C libraries' differ in their last bits (glibc picks FMA
 * versions on x86-64, the wasm build has musl), and those bits reached the
 * weights of a model with batch norm (fcn-resnet50; the triplet rule's cube
 * root, resnet-100m in balance mode): native and wasm must write the same
 * file.  Within 2.3e-16 (exp), 6e-16 (cbrt) and 2e-13 (erfc) relative of libm's. */
double stats_exp(double x);
double stats_erfc(double z);
double stats_cbrt(double x);
/* Data-free statistics of every active layer (e_in, e_out, g_out, t_in, kwin). */
CLE_NODISCARD enum cle_status stats_run(struct eq *q);
/* kernel_sums over layer li's weights, as call `which` (0: forward, 1:
 * back) of the statistics: taken from the prior run's same call when its
 * inputs were the same, and kept for a later run. */
CLE_NODISCARD enum cle_status stats_sums(struct eq *q, uint32_t li, int which, const double *b1,
					 const double *b2, double *r1, double *r2, const double *a1,
					 const double *a2, double *c1, double *c2);
/* The static float16 limits of every half region's scales (cap_lo, cap_hi):
 * biases, bounds and constants, and, after stats_run, the activations. */
CLE_NODISCARD enum cle_status stats_half_caps(struct eq *q);

/* ---- cle_noise.c ---- */
/* The estimated INT8 (per tensor) noise at the outputs, relative to their
 * signal, summed over the layers, under the current scales. */
double noise_total(struct eq *q);
/* Moves each region's scales to lower the estimate, region by region,
 * round by round, until it stops falling or `limit` rounds are made in
 * all: a later call goes on from where an earlier one stopped;
 * res->rounds. */
CLE_NODISCARD enum cle_status noise_rounds(struct eq *q, int limit);
/* After the rounds: regions that gain too little left alone, scales
 * rounded where they must be powers of two; res->est_before, est_after. */
void noise_end(struct eq *q);

/* ---- cle_bias.c ---- */
/* BN fold factors k = gamma / sqrt(var + eps); false if a variance is unusable. */
bool bias_bn_factors(const struct graph *g, uint32_t bn, size_t n, double *k);
/* What layer l's folded Mul/Add/Sub/Div nodes do to output o: y -> k y + t. */
void bias_affine(const struct cle_layer *l, size_t o, double *k, double *t);
/* Layer l's bias for output o as the file gives it (Gemm: beta * C), 0 if none. */
double bias_of(const struct cle_layer *l, size_t o);
/* Layer l's bias for output o with its BN and affine folded, before any scale. */
double bias_folded(const struct cle_layer *l, size_t o);
/* Layer li's final bias (BN folded, output scales applied) into S->bias, when it changes. */
CLE_NODISCARD enum cle_status bias_layer(struct eq *q, uint32_t li);
/* High-bias absorption from region r's producer into its consumers. */
CLE_NODISCARD enum cle_status bias_absorb_high(struct eq *q, uint32_t r);

/* ---- cle_write.c ---- */
/* The edits of the whole run, then one pass writing the model to sink. */
CLE_NODISCARD enum cle_status write_model(struct eq *q, const struct onnx_sink *sink,
					  const struct graph_save *gs);

#endif
