/* cle.h — cross-layer equalization on the graph index.
 *
 * Planning finds the layers (Conv, ConvTranspose, Gemm, MatMul with a
 * constant weight, each with the BatchNormalization or bias Add it absorbs)
 * and the regions between them.  A region is a set of tensors that must
 * share one scale per channel: a layer's output, the channel-preserving
 * ops after it (Relu, pooling, Pad, Resize, Clip, ...), and the tensors an
 * Add or Concat joins to it.  Layers writing into a region are its
 * producers, layers reading it its consumers; scaling channel c of a region
 * by 1/s_c at the producers and by s_c at the consumers keeps the
 * network's function.  A region that anything else reads (a Sigmoid, a
 * graph output, ...) is blocked, with the sentence saying why: that is the
 * CLE map the checker shows.
 *
 * Equalizing balances every region (s_c = sqrt(producer range / consumer
 * range), iterated), folds BatchNormalization, absorbs high biases, and
 * turns the result into edits of the model: each weight is rewritten once,
 * from the original bytes, with per-channel factors kept in double. */
#ifndef CLE_CLE_H
#define CLE_CLE_H

#include "base.h"
#include "graph.h"
#include "ops.h"

struct onnx_sink;

enum cle_relu6 {
	CLE_RELU6_EXACT, /* Clip(lo, hi) becomes Max/Min with per-channel bounds: function kept */
	CLE_RELU6_RELU,  /* Clip(0, 6) becomes Relu, as the reference does: function changes */
	CLE_RELU6_SKIP,  /* Clip blocks its region */
};

/* What the scales are chosen for. */
enum cle_objective {
	CLE_OBJECTIVE_NOISE,   /* least estimated INT8 (per tensor) noise at the outputs */
	CLE_OBJECTIVE_BALANCE, /* equal producer and consumer ranges per channel (the reference's aim) */
};

/* What becomes of a BatchNormalization after a layer. */
enum cle_bn {
	CLE_BN_FOLD, /* folded into the layer's weights and bias (the reference does) */
	CLE_BN_KEEP, /* kept as a node; its mean and bias scale with the channels */
};

struct cle_config {
	bool reference;        /* only what the reference (AIMET) reaches, and how it does it */
	enum cle_objective objective;
	bool hbf;              /* high-bias absorption */
	bool pow2;             /* round scales to powers of two: rescaling is exact */
	enum cle_relu6 relu6;
	enum cle_bn bn;
	int max_rounds;        /* rounds at most; 0: the objective's own (cle_round_limit) */
	double tolerance;      /* stop when no scale moves by more than this (|log| of its change) in a round */
	double max_scale;      /* scales are clamped to [1/max_scale, max_scale]; 0: automatic */
	bool ranges;           /* keep every layer's per-channel ranges for the report */
	const char *strength;  /* --strength: how far each region's scales go, or NULL (all the way) */
};

void cle_config_init(struct cle_config *c);
/* The rounds c allows: max_rounds, or when that is 0 the objective's own
 * limit: 50 for the noise search (every round reads every layer), 1000 for
 * balancing, whose rounds after the first few read only the entries that
 * can still hold a maximum (cle_balance.c's candidate lists), so that it
 * runs until no scale moves by more than the tolerance. */
int cle_round_limit(const struct cle_config *c);

/* How far region r's scales go toward those the objective chose, as the
 * exponent of each scale (0: left as they are, 1: all the way, between:
 * part of it in log scale; up to 2: past them), by spec: comma-separated
 * entries, each "A" (every region no entry names) or "R:A" (region R, as
 * the report numbers them).  NULL: 1.  cle_strength_valid says whether spec
 * reads so (A from 0 to CLE_STRENGTH_MAX, R a whole number). */
#define CLE_STRENGTH_MAX 2.0
bool cle_strength_valid(const char *spec);
double cle_strength_of(const char *spec, uint32_t r);
struct cle_plan;
/* CLE_E_USAGE when p's --strength names a region p cannot scale. */
CLE_NODISCARD enum cle_status cle_strength_check(const struct cle_plan *p, struct cle_error *e);

/* Progress: stage name and fraction done; returning false cancels. */
typedef bool (*cle_progress_fn)(void *ud, const char *stage, double fraction);

/* Constant Mul/Add/Sub/Div nodes a layer absorbs at most (PaddlePaddle's
 * learnable affine is two). */
#define CLE_MAX_AFFINE 4

struct cle_layer {
	const struct graph *g;
	uint32_t node;            /* the Conv/ConvTranspose/Gemm/MatMul */
	enum ops_layer kind;
	const char *why;          /* why it cannot be equalized at all, or NULL */
	bool reference;           /* the reference would equalize it too */
	/* set when why == NULL */
	uint32_t w_value, b_value; /* weight and bias values (b_value GRAPH_NONE if no bias) */
	uint32_t bn;              /* BatchNormalization folded into it, or GRAPH_NONE */
	uint32_t bias_add;        /* Add holding a MatMul's bias, or GRAPH_NONE */
	uint32_t n_affine;        /* Mul, Add, Sub, Div by constants right after it, folded */
	uint32_t affine[CLE_MAX_AFFINE]; /* ... in the order they run */
	uint32_t out_value;       /* the value carrying its result (after BN / bias Add) */
	size_t c_out, c_in;       /* output and input channels */
	size_t d0, d1, k, groups; /* the weight as [d0][d1][k] (see kernels.h) */
	bool lead_out;            /* d0 indexes output channels (else input channels) */
	uint32_t in_region, out_region; /* GRAPH_NONE when there is none */
	size_t in_off, out_off;   /* first channel of this layer within each region */
	size_t in_rep;            /* input features per region channel (Flatten), else 1 */
	uint32_t group;           /* layers joined by regions share a group; GRAPH_NONE if alone */
};

/* What scaling does to a node inside a region with constants. */
enum cle_rescale {
	CLE_RESCALE_CLIP,  /* Clip: bounds become bound / s per channel (Max and Min) */
	CLE_RESCALE_BN,    /* kept BatchNormalization: mean and bias / s */
	CLE_RESCALE_BOUND, /* Max or Min with a constant: c / s per channel */
	CLE_RESCALE_SHIFT, /* Add or Sub with a constant: c / s per channel */
	CLE_RESCALE_GAIN,  /* Mul or Div by a constant: commutes as it is; its shape is checked */
};

/* A node inside a region whose per-channel constants scale with the
 * channels (or are checked to), rewritten when the region is scaled. */
struct cle_rescaled {
	uint32_t node;
	enum cle_rescale kind;
	uint32_t slot;    /* the input holding the activation (the other one holds the constant) */
	size_t off, n_ch; /* its channels within the region */
	uint32_t rank;    /* rank of an NCHW-like tensor, 0 when channels are the last axis */
};

struct cle_region {
	size_t n_ch;
	uint32_t n_producers, n_consumers;
	uint32_t *producers, *consumers; /* layer indices */
	const char *blocked;      /* why it cannot be scaled, or NULL */
	bool reference;           /* inside the reference's scope */
	bool joint;               /* more than one producer or consumer */
	uint32_t n_rescaled;
	struct cle_rescaled *rescaled; /* Clip, BatchNormalization and constant operands inside */
	uint32_t n_through;
	uint32_t *through;        /* the nodes the channels pass through (Relu, pooling, Add, ...) */
	const struct graph *g;
	uint32_t relu;            /* the Relu right after a single producer (for HBF), or GRAPH_NONE */
	bool hbf_path;            /* only ops that commute with subtracting a per-channel constant
				     after that Relu (pooling, Flatten), so HBF is exact for x >= c */
	bool half;                /* some tensor of it is float16 (a layer's weights, a Cast):
				     scales stay within float16's range (cle_stats.c) */
};

struct cle_plan {
	const struct graph_model *gm;
	struct cle_config cfg;
	uint32_t n_layers, n_regions;
	struct cle_layer *layers;
	struct cle_region *regions;
	size_t cap_layers, cap_regions; /* allocated */
	double bn_alternative;          /* estimated SQNR (dB) with batch norm the other way, after the
					   first round (where --batch-norm=auto chooses); 0: not tried */
	struct cle_arena arena;         /* sentences, member lists, results */
};

/* Plans CLE on gm (which must outlive the plan).  Fails only on
 * out-of-memory. */
CLE_NODISCARD enum cle_status cle_plan_groups(struct cle_plan **out,
					      const struct graph_model *gm,
					      const struct cle_config *cfg,
					      const struct cle_alloc *a, struct cle_error *e);
void cle_plan_free(struct cle_plan *p);

/* Per-layer outcome of equalization, for the report. */
struct cle_layer_result {
	bool changed;
	double spread_before, spread_after; /* max/min of per-output-channel abs-max */
	double sqnr_before, sqnr_after;     /* per-tensor symmetric INT8, dB */
	uint32_t clamped;                   /* output channels whose scale hit the limit */
	bool hbf;                           /* bias absorbed into its consumers */
	const float *ranges_before;         /* per output channel (cfg.ranges), or NULL */
	const float *ranges_after;
	const char *note;                   /* why it was left alone, or an approximation made */
	bool measured;                      /* its ranges were read: spreads and SQNRs hold */
	/* the estimated noise it adds at the outputs, relative to their signal
	 * (cle_noise.c), before and after, per tensor and per channel; 0: none */
	double noise_before, noise_after, noise_pc_before, noise_pc_after;
};

/* How far a region's scales moved (bits, over the rounds). */
enum cle_scaling {
	CLE_SCALED_FULL = 1, /* to the best the objective saw */
	CLE_SCALED_PART = 2, /* part of the way: a consumer's per-channel budget held it */
	CLE_SCALED_HELD = 4, /* not at all: the budget held it where the estimate would fall,
			      * or the estimate fell too little to trust (cle_noise.c MIN_GAIN) */
};

struct cle_result {
	uint32_t n_layers;
	struct cle_layer_result *layers; /* parallel to plan->layers */
	uint8_t *scaling;                /* per region: enum cle_scaling bits; 0 for none (or not scalable) */
	int rounds;
	double passes;        /* what the rounds' range maxima read, in passes over the layers'
			       * weights (every weight read once: one pass; a round without
			       * candidate lists reads most twice, for its layer's output and
			       * input ranges); not counted: the pass before them that measures
			       * the model as it is and gives the first rounds both ranges */
	uint32_t bn_folded, bn_rescaled, clips_rewritten, clips_replaced, hbf_layers, clamped;
	uint32_t affine_folded;  /* layers that absorbed constant Mul/Add nodes after them */
	uint32_t consts_rewritten; /* Max, Min, Add, Sub constants rewritten per channel */
	uint32_t half_limited;   /* channels whose scale float16's range limited */
	double max_imbalance; /* largest |log2(producer range / consumer range)| left,
			       * over the channels not held at the clamp */
	uint32_t equalized, measured;       /* layers changed; layers measured */
	double est_before, est_after;       /* estimated output SQNR, dB (noise objective), else 0 */
	double median_spread_before, median_spread_after; /* over the measured layers */
	double mean_sqnr_before, mean_sqnr_after;         /* dB, over the measured layers */
};

/* The two halves of cle_equalize, so that a caller can compare two plans'
 * estimates before writing one: cle_run_solve reads the weights and
 * chooses the scales (the result's estimates and rounds are set);
 * cle_run_write writes the model and completes *res (owned by the plan's
 * arena).  The plan and its model bytes must outlive the run.  prior
 * (NULL: none): an earlier run on another plan of the same model, whose
 * reads of the same weights this run borrows (their abs-max over each
 * window; the statistics' weight sums where their inputs are the same):
 * it must outlive this run.  rounds > 0 (the noise objective): a trial,
 * only the first rounds made, the estimate as if they were all;
 * cle_run_resume (or cle_run_write) makes the rest, to the scales one
 * call with rounds = 0 would have chosen. */
struct cle_run;
CLE_NODISCARD enum cle_status cle_run_solve(struct cle_run **out, struct cle_plan *p,
					    const struct cle_run *prior, int rounds,
					    cle_progress_fn progress, void *progress_ud,
					    struct cle_error *e);
CLE_NODISCARD enum cle_status cle_run_resume(struct cle_run *run, struct cle_error *e);
const struct cle_result *cle_run_result(const struct cle_run *run);
CLE_NODISCARD enum cle_status cle_run_write(struct cle_run *run, const struct onnx_sink *sink,
					    const struct graph_save *gs, struct cle_result *res,
					    struct cle_error *e);
void cle_run_free(struct cle_run *run);

/* Equalizes: writes the new model to sink (external data as gs says) and
 * fills *res (owned by the plan's arena).  The plan's model bytes must still
 * be alive. */
CLE_NODISCARD enum cle_status cle_equalize(struct cle_plan *p, const struct onnx_sink *sink,
					   const struct graph_save *gs, struct cle_result *res,
					   cle_progress_fn progress, void *progress_ud,
					   struct cle_error *e);

/* ---- the CLE map: what check shows of a plan (cle_map.c) ---------------- */

/* Region r exists and can be scaled. */
bool cle_region_open(const struct cle_plan *p, uint32_t r);

/* Layer li can be equalized and at least one of its sides is open. */
bool cle_layer_paired(const struct cle_plan *p, uint32_t li);

/* Why a side (region r, GRAPH_NONE when the layer has none) is closed:
 * the region's sentence, `none` when there is no region; NULL when open. */
const char *cle_side_reason(const struct cle_plan *p, uint32_t r, const char *none);

/* Why layer li is not equalized at all (its own reason, or both sides'),
 * into buf; "" when it is paired. */
void cle_layer_reason(const struct cle_plan *p, uint32_t li, char *buf, size_t n);

/* Paired in a way the reference (AIMET) would not pair it. */
bool cle_layer_beyond_reference(const struct cle_plan *p, uint32_t li);

/* The other layers scaled with layer li through region r, each once:
 * start with *cursor = 0; GRAPH_NONE after the last (or r closed). */
uint32_t cle_next_partner(const struct cle_plan *p, uint32_t li, uint32_t r, uint32_t *cursor);

struct cle_map_totals {
	uint32_t paired; /* layers with an open side */
	uint32_t beyond; /* ... of which beyond the reference */
	uint32_t groups;
};
void cle_map_totals(const struct cle_plan *p, struct cle_map_totals *t);

#endif
