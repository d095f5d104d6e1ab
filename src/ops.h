/* ops.h — what each ONNX op does to channels: the one table of op
 * knowledge that the CLE planner and the rules read, instead of comparing
 * op names in if-ladders.  An op missing from the table does not commute
 * with per-channel scaling. */
#ifndef CLE_OPS_H
#define CLE_OPS_H

#include "base.h"
#include "graph.h"

/* How a node relates to per-channel scaling of the tensors around it. */
enum ops_role {
	OPS_BLOCK,   /* reads a tensor in a way that does not commute with scaling */
	OPS_LAYER,   /* Conv, ConvTranspose, Gemm, MatMul: weights take the scales */
	OPS_PASS,    /* output 0 = f(input 0) channel by channel, f(s·x) = s·f(x) for s > 0 */
	OPS_JOIN,    /* elementwise over activations: all inputs and the output share channels */
	OPS_CONCAT,  /* channels of the inputs laid end to end */
	OPS_FLATTEN, /* [N, C, ...] → [N, C·r]: channel c becomes features c·r .. c·r+r-1 */
	OPS_SHAPE,   /* reads only the shape (Shape, Size), which scaling leaves alone */
};

enum ops_flag {
	OPS_REFERENCE = 1,    /* the reference (AIMET) passes through it too: Relu, PRelu, Clip */
	OPS_BOUND = 2,        /* clamps to constant bounds, which must scale with the channel */
	OPS_SHIFT = 4,        /* commutes with subtracting a per-channel constant c from an
			       * input that stays above c (high-bias absorption stays exact) */
	OPS_FIRST_OUTPUT = 8, /* only while its other outputs are unused (pool indices, masks) */
	OPS_VALUE = 16,       /* output holds the input's values (Identity, Cast): a constant
			       * shape or index can be read through it */
	OPS_AFFINE = 32,      /* per-channel scale and shift, whose shift (and mean) must scale
			       * with the channel (an inference BatchNormalization) */
	OPS_CONST = 64,       /* with one constant operand (ops_const_slot), a pass-through
			       * whose constant must scale with the channel: Add, Sub, Max,
			       * Min (c becomes c / s per channel) */
	OPS_GAIN = 128,       /* with one constant operand, a pass-through that needs no
			       * rewrite: Mul, and Div by a constant (a·(x/s) = (a·x)/s) */
};

/* The layer ops, in the order of their table rows. */
enum ops_layer {
	OPS_CONV,
	OPS_CONV_TRANSPOSE,
	OPS_GEMM,
	OPS_MATMUL,
};

struct ops_def {
	const char *op;          /* op_type in the default domain */
	enum ops_role role;
	unsigned flags;          /* enum ops_flag */
	enum ops_layer layer;    /* for OPS_LAYER */
	/* When the role holds only under conditions: NULL when node n meets
	 * them, else why not, as the end of the sentence "<op> node <name>,
	 * <why>".  NULL: the role always holds. */
	const char *(*why_not)(const struct graph *g, uint32_t n);
};

/* The row for node nd, or NULL (other domains, unknown ops). */
const struct ops_def *ops_find(const struct graph_node *nd);

/* Is nd the default-domain op `op`? */
bool ops_is(const struct graph_node *nd, const char *op);

/* The constant behind input slot of node n (through no other node), or NULL. */
const struct graph_const *ops_input_const(const struct graph *g, uint32_t n, uint32_t slot);

/* The constant behind value v, read through OPS_VALUE nodes (Identity,
 * Cast); else NULL, and *from names the node that computes v (GRAPH_NONE
 * when nothing does, v among them when it is GRAPH_NONE: an input left
 * empty). */
const struct graph_const *ops_trace_const(const struct graph *g, uint32_t v, uint32_t *from);

/* Is node `concat` x.view(x.size(0), ...)'s shape, Concat(Unsqueeze(Gather(
 * Shape(data), 0)), constants...)?  Its constants are left to the caller. */
bool ops_batch_from_shape(const struct graph *g, uint32_t concat, uint32_t data);

/* The slot of node n's constant operand when n has two inputs, one a
 * constant (initializer or Constant node) and the other computed; else
 * GRAPH_NONE. */
uint32_t ops_const_slot(const struct graph *g, uint32_t n);

/* The input carrying node n's activation: the other slot when n has a
 * constant operand (Mul(c, x) as Paddle writes it), else 0. */
uint32_t ops_data_slot(const struct graph *g, uint32_t n);

/* Is node n, reading value v, the start of a HardSwish written out as
 * x · Clip(x + 3, 0, 6) / 6 (Add, Clip, Mul, Div; or x · HardSigmoid(x),
 * or a final Mul by 1/6)?  Its nodes go to parts[0..3] (GRAPH_NONE where
 * the form has fewer), in the order they run. */
bool ops_hardswish(const struct graph *g, uint32_t n, uint32_t v, uint32_t parts[4]);

/* A Resize or Upsample whose output size is the constant `sizes` input:
 * true with the entry for the channel axis in *c (-1 when the sizes leave
 * that axis to the input: opset 18's axes without 1). */
bool ops_resize_sizes(const struct graph *g, uint32_t n, int64_t *c);

/* How a constant lines up with an activation of n_ch channels of the
 * given rank (0: channels on the last axis, the rank not known). */
enum ops_fit {
	OPS_FIT_NONE,    /* it would broadcast across channels, or add axes */
	OPS_FIT_SCALAR,  /* one value */
	OPS_FIT_CHANNEL, /* one value per channel, 1 on every other axis */
	OPS_FIT_OTHER,   /* 1 or n_ch on the channel axis, varying along others */
};
enum ops_fit ops_channel_fit(const struct graph_const *c, size_t n_ch, uint32_t rank);

/* A Clip's bounds, from constant inputs (opset >= 11) or attributes;
 * -HUGE_VAL / HUGE_VAL where a bound is absent.  False when a bound is
 * computed at run time. */
bool ops_clip_bounds(const struct graph *g, uint32_t n, double *lo, double *hi);

#endif
