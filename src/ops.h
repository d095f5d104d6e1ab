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
 * when nothing does). */
const struct graph_const *ops_trace_const(const struct graph *g, uint32_t v, uint32_t *from);

/* Is node `concat` x.view(x.size(0), ...)'s shape, Concat(Unsqueeze(Gather(
 * Shape(data), 0)), constants...)?  Its constants are left to the caller. */
bool ops_batch_from_shape(const struct graph *g, uint32_t concat, uint32_t data);

/* A Clip's bounds, from constant inputs (opset >= 11) or attributes;
 * -HUGE_VAL / HUGE_VAL where a bound is absent.  False when a bound is
 * computed at run time. */
bool ops_clip_bounds(const struct graph *g, uint32_t n, double *lo, double *hi);

#endif
