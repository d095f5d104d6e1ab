/* ops.c — the op table (see ops.h) and the conditions under which an op
 * keeps channels: constant Clip bounds, zero Pad on H and W, Resize
 * scales of 1 on N and C, a Reshape that flattens, unused second outputs. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool ops_is(const struct graph_node *nd, const char *op)
{
	return nd->domain[0] == '\0' && strcmp(nd->op, op) == 0;
}

const struct graph_const *ops_input_const(const struct graph *g, uint32_t n, uint32_t slot)
{
	uint32_t v;

	if (slot >= g->node[n].n_in || (v = g->node[n].in[slot]) == GRAPH_NONE)
		return NULL;
	return graph_resolve(g, v, NULL)->konst;
}

const struct graph_const *ops_trace_const(const struct graph *g, uint32_t v, uint32_t *from)
{
	int hops;

	for (hops = 0; hops < 16; hops++) {
		const struct graph_value *val = graph_resolve(g, v, NULL);
		const struct ops_def *d;
		uint32_t p;

		if (val->konst != NULL)
			return val->konst;
		if ((val->flags & GRAPH_IS_OUTER) || (p = val->producer) == GRAPH_NONE) {
			*from = GRAPH_NONE;
			return NULL;
		}
		d = ops_find(&g->node[p]);
		if (d == NULL || !(d->flags & OPS_VALUE) || g->node[p].n_in < 1 ||
		    g->node[p].in[0] == GRAPH_NONE) {
			*from = p;
			return NULL;
		}
		v = g->node[p].in[0];
	}
	*from = GRAPH_NONE;
	return NULL;
}

/* The node producing input slot of node n, if it is the op `op`; else GRAPH_NONE. */
static uint32_t producer_op(const struct graph *g, uint32_t n, uint32_t slot, const char *op)
{
	uint32_t v, p;

	if (slot >= g->node[n].n_in || (v = g->node[n].in[slot]) == GRAPH_NONE)
		return GRAPH_NONE;
	p = g->value[v].producer;
	return p != GRAPH_NONE && ops_is(&g->node[p], op) ? p : GRAPH_NONE;
}

bool ops_batch_from_shape(const struct graph *g, uint32_t concat, uint32_t data)
{
	const struct graph_const *k;
	uint32_t p, from;
	double idx;

	if (!ops_is(&g->node[concat], "Concat") || g->node[concat].n_in < 2)
		return false;
	if ((p = producer_op(g, concat, 0, "Unsqueeze")) == GRAPH_NONE ||
	    (p = producer_op(g, p, 0, "Gather")) == GRAPH_NONE || g->node[p].n_in < 2 ||
	    g->node[p].in[1] == GRAPH_NONE)
		return false;
	k = ops_trace_const(g, g->node[p].in[1], &from);
	if (k == NULL || k->count != 1 || !graph_const_f64(k, 0, &idx) || idx != 0)
		return false;
	return (p = producer_op(g, p, 0, "Shape")) != GRAPH_NONE && g->node[p].in[0] == data;
}

bool ops_clip_bounds(const struct graph *g, uint32_t n, double *lo, double *hi)
{
	const struct graph_node *nd = &g->node[n];
	float f;

	*lo = -HUGE_VAL;
	*hi = HUGE_VAL;
	if (nd->n_in >= 2 && nd->in[1] != GRAPH_NONE) {
		const struct graph_const *c = ops_input_const(g, n, 1);

		if (c == NULL || c->count != 1 || !graph_const_f64(c, 0, lo))
			return false;
	} else if (graph_attr_float(nd, "min", &f)) {
		*lo = (double)f;
	}
	if (nd->n_in >= 3 && nd->in[2] != GRAPH_NONE) {
		const struct graph_const *c = ops_input_const(g, n, 2);

		if (c == NULL || c->count != 1 || !graph_const_f64(c, 0, hi))
			return false;
	} else if (graph_attr_float(nd, "max", &f)) {
		*hi = (double)f;
	}
	return true;
}

/* ---- the conditions ---------------------------------------------------------
 * Each returns NULL when the op's role holds for node n, else the end of
 * the sentence "<op> node <name>, <this>". */

static const char *constant_bounds(const struct graph *g, uint32_t n)
{
	double lo, hi;

	return ops_clip_bounds(g, n, &lo, &hi) ? NULL : "whose bounds are computed at run time";
}

/* Outputs other than the first are unused (MaxPool indices, Dropout mask). */
static const char *only_first_output(const struct graph *g, uint32_t n)
{
	uint32_t i;

	for (i = 1; i < g->node[n].n_out; i++) {
		uint32_t v = g->node[n].out[i];

		if (v != GRAPH_NONE && (g->value[v].n_uses || (g->value[v].flags & GRAPH_IS_OUTPUT)))
			return "whose second output is in use";
	}
	return g->node[n].n_out >= 1 && g->node[n].out[0] != GRAPH_NONE ? NULL : "which has no output";
}

/* Resize/Upsample leave N and C alone: scales constant with 1 on the first
 * two axes.  Sizes would need the channel count to be known: refused.  A
 * crop that fills with a constant does not scale with the channels. */
static const char *resize_keeps_channels(const struct graph *g, uint32_t n)
{
	static const char changes[] =
		"which may change the channel count (its scales are not constant 1 on N and C)";
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *c;
	double a, b;
	float fill = 0;
	uint32_t slot;

	if (ops_is(nd, "Upsample") && nd->n_in < 2) {
		const float *sc;
		size_t cnt;

		/* opset 7: scales as an attribute */
		return graph_attr_floats(nd, "scales", &sc, &cnt) && cnt >= 2 && sc[0] == 1.0f &&
		       sc[1] == 1.0f ? NULL : changes;
	}
	if (graph_attr_is(nd, "coordinate_transformation_mode", "tf_crop_and_resize") &&
	    graph_attr_float(nd, "extrapolation_value", &fill) && fill != 0.0f)
		return "which fills what it crops outside the input with a constant";
	if (ops_is(nd, "Upsample") || (ops_is(nd, "Resize") && nd->n_in == 2))
		slot = 1; /* Upsample-9, Resize-10: X, scales */
	else
		slot = nd->n_in >= 4 && nd->in[3] != GRAPH_NONE ? 3 : 2; /* sizes, else scales */
	c = ops_input_const(g, n, slot);
	if (c == NULL || c->count < 2 || !graph_const_f64(c, 0, &a) || !graph_const_f64(c, 1, &b))
		return changes;
	return slot != 3 && a == 1.0 && b == 1.0 ? NULL : changes;
}

/* Pad that leaves N and C alone and pads with zeros (or copies edges). */
static const char *pad_keeps_channels(const struct graph *g, uint32_t n)
{
	static const char pads_channels[] = "which pads channels or pads with a non-zero value";
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *pads, *val;
	const int64_t *pa;
	size_t cnt, rank, i;
	double v, b, e;
	float f;

	if (!graph_attr_is(nd, "mode", "constant") && !graph_attr_is(nd, "mode", "reflect") &&
	    !graph_attr_is(nd, "mode", "edge"))
		return pads_channels;
	if (nd->n_in < 2 || nd->in[1] == GRAPH_NONE) { /* opset < 11: attributes */
		if (!graph_attr_ints(nd, "pads", &pa, &cnt) || cnt % 2 != 0 || cnt < 4)
			return pads_channels;
		rank = cnt / 2;
		return !pa[0] && !pa[1] && !pa[rank] && !pa[rank + 1] &&
		       (!graph_attr_float(nd, "value", &f) || f == 0.0f) ? NULL : pads_channels;
	}
	pads = ops_input_const(g, n, 1);
	if (pads == NULL || pads->count % 2 != 0 || pads->count < 4)
		return pads_channels;
	rank = pads->count / 2;
	for (i = 0; i < 2; i++)
		if (!graph_const_f64(pads, i, &b) || !graph_const_f64(pads, i + rank, &e) || b != 0 ||
		    e != 0)
			return pads_channels;
	if (nd->n_in >= 4 && nd->in[3] != GRAPH_NONE)
		return pads_channels; /* axes given: be safe */
	if (nd->n_in >= 3 && nd->in[2] != GRAPH_NONE) {
		val = ops_input_const(g, n, 2);
		if (val == NULL || val->count != 1 || !graph_const_f64(val, 0, &v) || v != 0)
			return pads_channels;
	}
	return NULL;
}

/* Reshape(x, [b, -1]) with b 0 or 1, or the x.view(x.size(0), -1) form. */
static const char *reshape_is_flatten(const struct graph *g, uint32_t n)
{
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *c = ops_input_const(g, n, 1);
	double a, b;
	uint32_t p;

	if (nd->n_in < 2 || nd->in[1] == GRAPH_NONE)
		return "which rearranges channels";
	if (c != NULL)
		return c->count == 2 && graph_const_f64(c, 0, &a) && graph_const_f64(c, 1, &b) &&
		       (a == 0 || a == 1) && b == -1 ? NULL : "which rearranges channels";
	p = g->value[nd->in[1]].producer;
	if (p == GRAPH_NONE || g->node[p].n_in != 2)
		return "which rearranges channels";
	c = ops_input_const(g, p, 1);
	return c != NULL && c->count == 1 && graph_const_f64(c, 0, &b) && b == -1 &&
	       ops_batch_from_shape(g, p, nd->in[0]) ? NULL : "which rearranges channels";
}

/* Every input an activation (no constant operand). */
static const char *all_activations(const struct graph *g, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < g->node[n].n_in; i++)
		if (g->node[n].in[i] == GRAPH_NONE || ops_input_const(g, n, i) != NULL)
			return "which combines it with a constant that does not scale with it";
	return g->node[n].n_in >= 1 ? NULL : "which has no input";
}

static const char *concat_on_channels(const struct graph *g, uint32_t n)
{
	int64_t axis = 1;

	if (!graph_attr_int(&g->node[n], "axis", &axis) || axis != 1)
		return "which joins along an axis other than channels (1)";
	return all_activations(g, n) ? "which joins a constant to the channels, and a constant does "
				       "not scale with them" : NULL;
}

/* An inference BatchNormalization: constant float parameters, one per
 * channel (not opset 6's spatial=0), no running statistics written. */
static const char *bn_inference(const struct graph *g, uint32_t n)
{
	static const char training[] = "which is not an inference BatchNormalization with constant "
				       "parameters";
	const struct graph_node *nd = &g->node[n];
	int64_t x = 0;
	uint32_t i;

	if (nd->n_in < 5 || (graph_attr_int(nd, "training_mode", &x) && x != 0) ||
	    (graph_attr_int(nd, "spatial", &x) && x == 0))
		return training;
	for (i = 1; i < nd->n_out; i++)
		if (nd->out[i] != GRAPH_NONE)
			return training; /* opset < 14 writes running statistics: training */
	for (i = 1; i < 5; i++) {
		const struct graph_const *c = ops_input_const(g, n, i), *c1 = ops_input_const(g, n, 1);

		if (c == NULL || !c->ok || c1 == NULL || c->count != c1->count ||
		    (c->dtype != GRAPH_FLOAT && c->dtype != GRAPH_FLOAT16 && c->dtype != GRAPH_DOUBLE))
			return training;
	}
	return NULL;
}

static const char *flatten_from_channels(const struct graph *g, uint32_t n)
{
	int64_t axis = 1;

	return graph_attr_int(&g->node[n], "axis", &axis) && axis == 1
		? NULL : "which does not flatten from axis 1";
}

/* ---- the table ------------------------------------------------------------ */

#define PASS_IF(op, flags, why_not) {op, OPS_PASS, flags, 0, why_not}
#define JOIN(op) {op, OPS_JOIN, 0, 0, all_activations}

/* Sorted by op for bsearch. */
static const struct ops_def table[] = {
	JOIN("Add"),
	PASS_IF("AveragePool", 0, only_first_output),
	PASS_IF("BatchNormalization", OPS_AFFINE, bn_inference),
	{"Cast", OPS_BLOCK, OPS_VALUE, 0, NULL},
	PASS_IF("Clip", OPS_REFERENCE | OPS_BOUND, constant_bounds),
	{"Concat", OPS_CONCAT, 0, 0, concat_on_channels},
	{"Conv", OPS_LAYER, 0, OPS_CONV, NULL},
	{"ConvTranspose", OPS_LAYER, 0, OPS_CONV_TRANSPOSE, NULL},
	PASS_IF("Dropout", OPS_SHIFT, only_first_output),
	{"Flatten", OPS_FLATTEN, 0, 0, flatten_from_channels},
	{"Gemm", OPS_LAYER, 0, OPS_GEMM, NULL},
	PASS_IF("GlobalAveragePool", OPS_SHIFT, NULL),
	PASS_IF("GlobalMaxPool", OPS_SHIFT, NULL),
	PASS_IF("Identity", OPS_SHIFT | OPS_VALUE, NULL),
	PASS_IF("LeakyRelu", 0, NULL),
	{"MatMul", OPS_LAYER, 0, OPS_MATMUL, NULL},
	JOIN("Max"),
	PASS_IF("MaxPool", OPS_SHIFT, only_first_output),
	JOIN("Min"),
	PASS_IF("PRelu", OPS_REFERENCE, NULL),
	PASS_IF("Pad", 0, pad_keeps_channels),
	PASS_IF("Relu", OPS_REFERENCE | OPS_SHIFT, NULL),
	{"Reshape", OPS_FLATTEN, 0, 0, reshape_is_flatten},
	PASS_IF("Resize", 0, resize_keeps_channels),
	{"Shape", OPS_SHAPE, 0, 0, NULL},
	{"Size", OPS_SHAPE, 0, 0, NULL},
	JOIN("Sum"),
	PASS_IF("Upsample", 0, resize_keeps_channels),
};

static int def_cmp(const void *key, const void *row)
{
	return strcmp(key, ((const struct ops_def *)row)->op);
}

const struct ops_def *ops_find(const struct graph_node *nd)
{
	if (nd->domain[0] != '\0')
		return NULL;
	return bsearch(nd->op, table, sizeof table / sizeof table[0], sizeof table[0], def_cmp);
}
