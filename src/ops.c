/* ops.c — the op table (see ops.h) and the conditions under which an op
 * keeps channels: constant Clip bounds, zero Pad on H and W, Resize
 * scales of 1 on N and C (or sizes that keep C), a Reshape that flattens,
 * unused second outputs, Casts between float types; and the forms
 * exporters write that the planner recognises (a constant operand, a
 * HardSwish written out, sizes computed from an input's own shape). */
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

	for (hops = 0; hops < 16 && v != GRAPH_NONE; hops++) {
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

uint32_t ops_const_slot(const struct graph *g, uint32_t n)
{
	const struct graph_node *nd = &g->node[n];
	bool c0, c1;

	if (nd->n_in != 2 || nd->in[0] == GRAPH_NONE || nd->in[1] == GRAPH_NONE)
		return GRAPH_NONE;
	c0 = ops_input_const(g, n, 0) != NULL;
	c1 = ops_input_const(g, n, 1) != NULL;
	return c0 == c1 ? GRAPH_NONE : c0 ? 0 : 1;
}

uint32_t ops_data_slot(const struct graph *g, uint32_t n)
{
	const struct ops_def *d = ops_find(&g->node[n]);
	uint32_t cs;

	if (d == NULL || !(d->flags & (OPS_CONST | OPS_GAIN)) || (cs = ops_const_slot(g, n)) == GRAPH_NONE)
		return 0;
	return 1 - cs;
}

/* Is the constant operand of node n a single value equal to x (within float16's precision)? */
static bool const_is(const struct graph *g, uint32_t n, double x)
{
	uint32_t cs = ops_const_slot(g, n);
	const struct graph_const *c = cs != GRAPH_NONE ? ops_input_const(g, n, cs) : NULL;
	double v;

	return c != NULL && c->count == 1 && graph_const_f64(c, 0, &v) && fabs(v - x) <= 1e-3 * fabs(x);
}

/* The node producing value v, GRAPH_NONE for none. */
static uint32_t producer_of(const struct graph *g, uint32_t v)
{
	return v == GRAPH_NONE ? GRAPH_NONE : g->value[v].producer;
}

/* Does value u compute HardSwish's gate of v: Clip(v + 3, 0, 6), or
 * HardSigmoid(v), either perhaps divided by 6?  Its nodes go to parts
 * (from the end: the Div first). */
static bool hardswish_gate(const struct graph *g, uint32_t u, uint32_t v, uint32_t parts[4], int *k)
{
	uint32_t p = producer_of(g, u), a;
	double lo, hi;

	if (p != GRAPH_NONE && ((ops_is(&g->node[p], "Div") && ops_const_slot(g, p) == 1 && const_is(g, p, 6)) ||
				(ops_is(&g->node[p], "Mul") && const_is(g, p, 1.0 / 6)))) {
		parts[(*k)++] = p;
		p = producer_of(g, g->node[p].in[ops_data_slot(g, p)]);
	}
	if (p == GRAPH_NONE || g->node[p].n_in < 1)
		return false;
	if (ops_is(&g->node[p], "HardSigmoid")) {
		parts[(*k)++] = p;
		return g->node[p].in[0] == v;
	}
	if (!ops_is(&g->node[p], "Clip") || !ops_clip_bounds(g, p, &lo, &hi) || lo != 0 || hi != 6)
		return false;
	parts[(*k)++] = p;
	a = producer_of(g, g->node[p].in[0]);
	if (a == GRAPH_NONE || !ops_is(&g->node[a], "Add") || !const_is(g, a, 3) ||
	    g->node[a].in[ops_data_slot(g, a)] != v)
		return false;
	parts[(*k)++] = a;
	return true;
}

bool ops_hardswish(const struct graph *g, uint32_t n, uint32_t v, uint32_t parts[4])
{
	const struct graph_value *val;
	uint32_t i, j;

	if (v == GRAPH_NONE)
		return false;
	val = &g->value[v];
	for (i = 0; i < val->n_uses; i++) {
		uint32_t m = val->uses[i].node, s = val->uses[i].slot, found[4], tmp, out;
		int k = 0;
		bool mine = m == n;

		if (!ops_is(&g->node[m], "Mul") || g->node[m].n_in != 2 || s > 1)
			continue;
		if (!hardswish_gate(g, g->node[m].in[1 - s], v, found, &k))
			continue;
		for (j = 0; j < (uint32_t)k; j++)
			mine |= found[j] == n;
		if (!mine)
			continue;
		for (j = 0; j < (uint32_t)k / 2; j++) { /* in the order they run */
			tmp = found[j];
			found[j] = found[k - 1 - (int)j];
			found[k - 1 - (int)j] = tmp;
		}
		found[k++] = m;
		/* a Div by 6 after the product */
		out = g->node[m].n_out ? g->node[m].out[0] : GRAPH_NONE;
		if (k < 4 && out != GRAPH_NONE && g->value[out].n_uses == 1) {
			uint32_t d = g->value[out].uses[0].node;

			if ((ops_is(&g->node[d], "Div") && ops_const_slot(g, d) == 1 && const_is(g, d, 6)) ||
			    (ops_is(&g->node[d], "Mul") && const_is(g, d, 1.0 / 6)))
				found[k++] = d;
		}
		for (j = 0; j < 4; j++)
			parts[j] = j < (uint32_t)k ? found[j] : GRAPH_NONE;
		return true;
	}
	return false;
}

/* The root of value v: the first value behind it not made by an
 * OPS_VALUE node (Identity, Cast). */
static uint32_t value_root(const struct graph *g, uint32_t v)
{
	int hops;

	for (hops = 0; hops < 16 && v != GRAPH_NONE; hops++) {
		uint32_t p = g->value[v].producer;
		const struct ops_def *d;

		if (p == GRAPH_NONE || (d = ops_find(&g->node[p])) == NULL || !(d->flags & OPS_VALUE) ||
		    g->node[p].n_in < 1)
			break;
		v = g->node[p].in[0];
	}
	return v;
}

/* Does value v hold data's own N and C first: Shape(data)[0:k] with k >= 2
 * (a Slice, or Shape's start and end), ahead of other entries in a Concat,
 * as PyTorch exports F.interpolate(x, size=...)? */
static bool sizes_from_shape(const struct graph *g, uint32_t v, uint32_t data)
{
	const struct graph_const *c;
	uint32_t p, from, sh;
	double a, b;
	int64_t x;

	if (v == GRAPH_NONE || (p = producer_of(g, value_root(g, v))) == GRAPH_NONE)
		return false;
	if (ops_is(&g->node[p], "Concat")) {
		if (g->node[p].n_in < 1 || (p = producer_of(g, value_root(g, g->node[p].in[0]))) == GRAPH_NONE)
			return false;
	}
	sh = p;
	if (ops_is(&g->node[p], "Slice")) {
		const int64_t *st, *en;
		size_t ns, ne;

		if (g->node[p].n_in >= 3) { /* opset 10: starts, ends, axes, steps as inputs */
			c = ops_trace_const(g, g->node[p].in[1], &from);
			if (c == NULL || c->count != 1 || !graph_const_f64(c, 0, &a) || a != 0)
				return false;
			c = ops_trace_const(g, g->node[p].in[2], &from);
			if (c == NULL || c->count != 1 || !graph_const_f64(c, 0, &b) || b < 2)
				return false;
			if (g->node[p].n_in >= 5 && g->node[p].in[4] != GRAPH_NONE &&
			    ((c = ops_trace_const(g, g->node[p].in[4], &from)) == NULL || c->count != 1 ||
			     !graph_const_f64(c, 0, &a) || a != 1))
				return false;
		} else if (!graph_attr_ints(&g->node[p], "starts", &st, &ns) ||
			   !graph_attr_ints(&g->node[p], "ends", &en, &ne) || ns != 1 || ne != 1 || st[0] != 0 ||
			   en[0] < 2) {
			return false;
		}
		if ((sh = producer_of(g, g->node[p].in[0])) == GRAPH_NONE)
			return false;
	}
	if (!ops_is(&g->node[sh], "Shape") || g->node[sh].n_in < 1 ||
	    (graph_attr_int(&g->node[sh], "start", &x) && x != 0) ||
	    (sh == p && !(graph_attr_int(&g->node[sh], "end", &x) && x >= 2)))
		return false;
	return value_root(g, g->node[sh].in[0]) == value_root(g, data);
}

/* The index that axis 1 (channels) has in a Resize's scales or sizes: 1,
 * or its place in opset 18's axes; -1 when axes leave it out; -2 when
 * it cannot be told (a negative axis). */
static int resize_channel_entry(const struct graph_node *nd)
{
	const int64_t *ax;
	size_t n, i;
	int at = -1;

	if (!graph_attr_ints(nd, "axes", &ax, &n))
		return 1;
	for (i = 0; i < n; i++) {
		if (ax[i] < 0)
			return -2;
		if (ax[i] == 1)
			at = (int)i;
	}
	return at;
}

bool ops_resize_sizes(const struct graph *g, uint32_t n, int64_t *c)
{
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *k;
	int at;
	double x;

	if (!ops_is(nd, "Resize") || nd->n_in < 4 || nd->in[3] == GRAPH_NONE ||
	    (k = ops_input_const(g, n, 3)) == NULL || (at = resize_channel_entry(nd)) == -2)
		return false;
	if (at == -1) {
		*c = -1;
		return true;
	}
	/* a count, not 2.4e20 (as int64 it would not even convert) */
	if ((size_t)at >= k->count || !graph_const_f64(k, (size_t)at, &x) || !(x >= 0 && x < 0x1p62))
		return false;
	*c = (int64_t)x;
	return true;
}

enum ops_fit ops_channel_fit(const struct graph_const *c, size_t n_ch, uint32_t rank)
{
	int64_t at, i, cdim = 1;
	bool rest_one = true;

	if (c == NULL || (rank > 0 && c->n_dims > rank))
		return OPS_FIT_NONE;
	if (c->count == 1)
		return OPS_FIT_SCALAR;
	at = rank > 0 ? (int64_t)c->n_dims - (int64_t)(rank - 1) : (int64_t)c->n_dims - 1;
	for (i = 0; i < (int64_t)c->n_dims; i++) {
		if (i == at)
			cdim = c->dims[i];
		else
			rest_one &= c->dims[i] == 1;
	}
	if (cdim != 1 && cdim != (int64_t)n_ch)
		return OPS_FIT_NONE;
	return cdim == (int64_t)n_ch && rest_one ? OPS_FIT_CHANNEL : OPS_FIT_OTHER;
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

/* Resize/Upsample leave C alone: scales constant with 1 for the channel
 * axis (and N), or sizes whose channel entry the planner compares with
 * the channel count before it (ops_resize_sizes), or sizes computed from
 * the input's own shape (PyTorch's F.interpolate(x, size=...)).  A crop
 * that fills with a constant does not scale with the channels. */
static const char *resize_keeps_channels(const struct graph *g, uint32_t n)
{
	static const char changes[] =
		"which may change the channel count (its scales are not constant 1 on N and C)";
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *c;
	double a, b;
	float fill = 0;
	uint32_t slot;
	int at;

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
	if ((at = resize_channel_entry(nd)) == -2)
		return "whose axes are given as negative numbers, so which one is the channel axis is not known";
	if (ops_is(nd, "Upsample") || (ops_is(nd, "Resize") && nd->n_in == 2))
		slot = 1; /* Upsample-9, Resize-10: X, scales */
	else
		slot = nd->n_in >= 4 && nd->in[3] != GRAPH_NONE ? 3 : 2; /* sizes, else scales */
	if (slot == 3) {
		if (at >= 0 && graph_attr_present(nd, "keep_aspect_ratio_policy") &&
		    !graph_attr_is(nd, "keep_aspect_ratio_policy", "stretch"))
			return "which keeps an aspect ratio that includes the channel axis";
		if (ops_input_const(g, n, 3) != NULL)
			return NULL; /* the planner compares sizes[C] with the channel count */
		return at == 1 && sizes_from_shape(g, nd->in[3], nd->in[0])
			? NULL
			: "whose sizes are computed at run time, not from its input's own N and C";
	}
	c = ops_input_const(g, n, slot);
	if (at == -1)
		return c != NULL ? NULL : changes;
	if (c == NULL || c->count <= (size_t)at || !graph_const_f64(c, (size_t)at, &b))
		return changes;
	if (at != 1)
		return b == 1.0 ? NULL : changes;
	return graph_const_f64(c, 0, &a) && a == 1.0 && b == 1.0 ? NULL : changes;
}

/* A Cast from one float type to another keeps the values (to the new
 * type's precision); to an integer type it rounds them. */
static const char *float_cast(const struct graph *g, uint32_t n)
{
	int64_t to = 0;

	if (!graph_attr_int(&g->node[n], "to", &to))
		return "which has no target type";
	return to == GRAPH_FLOAT || to == GRAPH_FLOAT16 || to == GRAPH_DOUBLE || to == GRAPH_BFLOAT16
		? NULL : "which casts to a type that is not floating point (it rounds the values)";
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
/* elementwise over activations, or with one constant operand a pass-through (OPS_CONST) */
#define JOIN_C(op) {op, OPS_JOIN, OPS_CONST, 0, all_activations}

/* Sorted by op for bsearch. */
static const struct ops_def table[] = {
	JOIN_C("Add"),
	PASS_IF("AveragePool", 0, only_first_output),
	PASS_IF("BatchNormalization", OPS_AFFINE, bn_inference),
	PASS_IF("Cast", OPS_VALUE, float_cast),
	PASS_IF("Clip", OPS_REFERENCE | OPS_BOUND, constant_bounds),
	{"Concat", OPS_CONCAT, 0, 0, concat_on_channels},
	{"Conv", OPS_LAYER, 0, OPS_CONV, NULL},
	{"ConvTranspose", OPS_LAYER, 0, OPS_CONV_TRANSPOSE, NULL},
	{"Div", OPS_BLOCK, OPS_GAIN, 0, NULL},
	PASS_IF("Dropout", OPS_SHIFT, only_first_output),
	{"Flatten", OPS_FLATTEN, 0, 0, flatten_from_channels},
	{"Gemm", OPS_LAYER, 0, OPS_GEMM, NULL},
	PASS_IF("GlobalAveragePool", OPS_SHIFT, NULL),
	PASS_IF("GlobalMaxPool", OPS_SHIFT, NULL),
	PASS_IF("Identity", OPS_SHIFT | OPS_VALUE, NULL),
	PASS_IF("LeakyRelu", 0, NULL),
	{"MatMul", OPS_LAYER, 0, OPS_MATMUL, NULL},
	JOIN_C("Max"),
	PASS_IF("MaxPool", OPS_SHIFT, only_first_output),
	JOIN_C("Min"),
	{"Mul", OPS_BLOCK, OPS_GAIN, 0, NULL},
	PASS_IF("PRelu", OPS_REFERENCE, NULL),
	PASS_IF("Pad", 0, pad_keeps_channels),
	PASS_IF("Relu", OPS_REFERENCE | OPS_SHIFT, NULL),
	{"Reshape", OPS_FLATTEN, 0, 0, reshape_is_flatten},
	PASS_IF("Resize", 0, resize_keeps_channels),
	{"Shape", OPS_SHAPE, 0, 0, NULL},
	{"Size", OPS_SHAPE, 0, 0, NULL},
	JOIN_C("Sub"),
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
