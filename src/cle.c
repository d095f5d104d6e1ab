/* cle.c — cle_plan_groups: layers and regions on the graph index, with the
 * reason for every break; cle_equalize: BN folding, balancing, high-bias
 * absorption, and the edits that write the result.  See cle.h. */
#include "cle.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "onnx_io.h"

void cle_config_init(struct cle_config *c)
{
	memset(c, 0, sizeof *c);
	c->hbf = true;
	c->relu6 = CLE_RELU6_EXACT;
	c->max_rounds = 50;
	c->tolerance = 1e-4;
	c->max_scale = 1e4;
}

/* ---- planning ----------------------------------------------------------- */

/* How a node relates to the regions around it. */
enum role {
	ROLE_BLOCK, /* reads a region tensor in a way that does not commute with scaling */
	ROLE_PASS,  /* output 0 = f(input 0) channel by channel, f(s·x) = s·f(x) for s > 0 */
	ROLE_JOIN,  /* all inputs and the output share channels (Add of two activations) */
	ROLE_CONCAT, /* channels of the inputs laid end to end */
	ROLE_FLATTEN, /* [N, C, ...] → [N, C·r]: channel c becomes features c·r .. c·r+r-1 */
	ROLE_LAYER, /* a layer's own node, or a node folded into one (BN, bias Add) */
};

struct planner {
	struct cle_plan *p;
	const struct cle_config *cfg;
	const struct cle_alloc *a;
	struct cle_error *e;
	size_t cap_layers, cap_regions;
	/* per graph being planned */
	const struct graph *g;
	uint32_t *parent;   /* union-find over values */
	int64_t *delta;     /* channel of v = channel of parent + ... (see find) */
	int64_t *nch;       /* channels of a value, 0 if unknown */
	uint8_t *flat;      /* the value went through a Flatten (features, not channels) */
	uint32_t *out_layer; /* layer whose result the value is, GRAPH_NONE */
	uint32_t *role;     /* enum role per node */
	const char **why;   /* per node: why it blocks (ROLE_BLOCK), else NULL */
	uint32_t *layer_of_node; /* layer index per node, GRAPH_NONE */
	uint8_t *listed;    /* per node: already in its region's through list */
	uint32_t *region_of_root; /* region index per union-find root, GRAPH_NONE */
};

static enum cle_status plan_nomem(struct planner *pl)
{
	return cle_errorf(pl->e, CLE_E_NOMEM, "out of memory planning equalization");
}

/* Sentence in the plan's arena; NULL (with the arena marked failed) on OOM. */
static const char *say(struct planner *pl, const char *fmt, ...) CLE_PRINTF(2, 3);
static const char *say(struct planner *pl, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return cle_arena_strdup(&pl->p->arena, buf);
}

static const char *label(const struct graph *g, uint32_t n, char buf[256])
{
	return graph_node_label(g, n, buf, 256);
}

static bool is_op(const struct graph_node *n, const char *op)
{
	return n->domain[0] == '\0' && strcmp(n->op, op) == 0;
}

/* The constant behind input slot of node n, or NULL. */
static const struct graph_const *input_const(const struct graph *g, uint32_t n, uint32_t slot)
{
	uint32_t v;

	if (slot >= g->node[n].n_in || (v = g->node[n].in[slot]) == GRAPH_NONE)
		return NULL;
	return graph_resolve(g, v, NULL)->konst;
}

static bool float_const(const struct graph_const *c)
{
	return c != NULL && c->ok && (c->dtype == GRAPH_FLOAT || c->dtype == GRAPH_FLOAT16);
}

/* Uses of value v of g other than by node `except`, counting graph outputs. */
static bool used_elsewhere(const struct graph *g, uint32_t v, uint32_t except)
{
	const struct graph_value *val = &g->value[v];
	uint32_t i;

	if (val->flags & GRAPH_IS_OUTPUT)
		return true;
	for (i = 0; i < val->n_uses; i++)
		if (val->uses[i].node != except)
			return true;
	return false;
}

static enum cle_status add_layer(struct planner *pl, struct cle_layer **out)
{
	struct cle_plan *p = pl->p;

	if (p->n_layers == pl->cap_layers) {
		size_t cap = pl->cap_layers ? pl->cap_layers * 2 : 32;
		struct cle_layer *l = cle_realloc(pl->a, p->layers, pl->cap_layers * sizeof *l,
						  cap * sizeof *l);

		if (l == NULL)
			return plan_nomem(pl);
		p->layers = l;
		pl->cap_layers = cap;
	}
	*out = &p->layers[p->n_layers++];
	memset(*out, 0, sizeof **out);
	(*out)->w_value = (*out)->b_value = GRAPH_NONE;
	(*out)->bn = (*out)->bias_add = GRAPH_NONE;
	(*out)->in_region = (*out)->out_region = GRAPH_NONE;
	(*out)->group = GRAPH_NONE;
	(*out)->in_rep = 1;
	return CLE_OK;
}

/* Is the weight value used by anything but this layer (weight sharing)? */
static bool weight_shared(const struct graph *g, uint32_t v, uint32_t node)
{
	const struct graph *owner;
	const struct graph_value *val = graph_resolve(g, v, &owner);
	uint32_t i;

	if (used_elsewhere(g, v, node))
		return true;
	if (owner == g)
		return false;
	/* an outer weight: only reads by subgraphs (implicit uses) are allowed */
	for (i = 0; i < val->n_uses; i++)
		if (val->uses[i].slot != GRAPH_NONE)
			return true;
	return (val->flags & GRAPH_IS_OUTPUT) != 0;
}

/* Folds a following BatchNormalization into layer l if it can. */
static void find_bn(struct planner *pl, struct cle_layer *l)
{
	const struct graph *g = pl->g;
	const struct graph_value *out = &g->value[l->out_value];
	uint32_t bn, i;
	int64_t train = 0;

	if (out->n_uses != 1 || (out->flags & GRAPH_IS_OUTPUT) || out->uses[0].slot != 0)
		return;
	bn = out->uses[0].node;
	if (!is_op(&g->node[bn], "BatchNormalization") || g->node[bn].n_out < 1 ||
	    g->node[bn].out[0] == GRAPH_NONE || g->node[bn].n_in < 5)
		return;
	if (graph_attr_int(&g->node[bn], "training_mode", &train) && train != 0)
		return;
	for (i = 1; i < g->node[bn].n_out; i++) {
		uint32_t v = g->node[bn].out[i];

		if (v != GRAPH_NONE && (g->value[v].n_uses || (g->value[v].flags & GRAPH_IS_OUTPUT)))
			return; /* running statistics are read: a training graph */
	}
	for (i = 1; i < 5; i++) {
		const struct graph_const *c = input_const(g, bn, i);

		if (c == NULL || !c->ok || c->count != l->c_out ||
		    (c->dtype != GRAPH_FLOAT && c->dtype != GRAPH_FLOAT16 && c->dtype != GRAPH_DOUBLE))
			return;
	}
	l->bn = bn;
	l->out_value = g->node[bn].out[0];
	pl->role[bn] = ROLE_LAYER;
}

/* A MatMul's bias: the single Add after it with a constant [N] operand. */
static void find_bias_add(struct planner *pl, struct cle_layer *l)
{
	const struct graph *g = pl->g;
	const struct graph_value *out = &g->value[l->out_value];
	const struct graph_const *c;
	uint32_t add, other, i;

	if (out->n_uses != 1 || (out->flags & GRAPH_IS_OUTPUT))
		return;
	add = out->uses[0].node;
	if (!is_op(&g->node[add], "Add") || g->node[add].n_in != 2 || g->node[add].n_out != 1 ||
	    g->node[add].out[0] == GRAPH_NONE)
		return;
	other = 1 - out->uses[0].slot;
	c = input_const(g, add, other);
	if (!float_const(c) || c->count != l->c_out || c->n_dims == 0 ||
	    c->dims[c->n_dims - 1] != (int64_t)l->c_out)
		return;
	for (i = 0; i + 1 < c->n_dims; i++)
		if (c->dims[i] != 1)
			return;
	if (weight_shared(g, g->node[add].in[other], add))
		return;
	l->bias_add = add;
	l->b_value = g->node[add].in[other];
	l->out_value = g->node[add].out[0];
	pl->role[add] = ROLE_LAYER;
}

/* Describes node n as a layer (or says why it is not one). */
static enum cle_status plan_layer(struct planner *pl, uint32_t n)
{
	const struct graph *g = pl->g;
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *w, *b = NULL;
	struct cle_layer *l = NULL;
	enum cle_status st;
	int64_t group = 1, ta = 0, tb = 0;
	size_t k = 1, i;

	if ((st = add_layer(pl, &l)) != CLE_OK)
		return st;
	l->g = g;
	l->node = n;
	l->kind = is_op(nd, "Conv") ? CLE_CONV : is_op(nd, "ConvTranspose") ? CLE_CONV_TRANSPOSE
		  : is_op(nd, "Gemm") ? CLE_GEMM : CLE_MATMUL;
	pl->layer_of_node[n] = pl->p->n_layers - 1;
	pl->role[n] = ROLE_LAYER;
	l->reference = l->kind == CLE_CONV || l->kind == CLE_CONV_TRANSPOSE;
	w = input_const(g, n, 1);
	if (nd->n_out < 1 || nd->out[0] == GRAPH_NONE) {
		l->why = "it has no output";
		return CLE_OK;
	}
	l->out_value = nd->out[0];
	if (nd->n_in < 2 || nd->in[1] == GRAPH_NONE || w == NULL) {
		l->why = l->kind == CLE_MATMUL ? "its second operand is computed at run time, not a constant weight"
						: "its weight is computed at run time, not a constant";
		return CLE_OK;
	}
	if (w->external && w->storage == GRAPH_MISSING) {
		l->why = w->supplied
			? say(pl, "its weight's external data does not fit in '%s' (see the onnx-invalid "
			      "findings)", w->location ? w->location : "?")
			: say(pl, "its weight is stored in external data '%s', which was not supplied",
			      w->location ? w->location : "?");
		return CLE_OK;
	}
	if (!w->ok) {
		l->why = "its weight tensor does not read back (see the onnx-invalid findings)";
		return CLE_OK;
	}
	if (w->dtype != GRAPH_FLOAT && w->dtype != GRAPH_FLOAT16) {
		l->why = say(pl, "its weight is %s; only float32 and float16 weights are equalized",
			     graph_dtype_name(w->dtype) ? graph_dtype_name(w->dtype) : "of an unknown type");
		return CLE_OK;
	}
	if (weight_shared(g, nd->in[1], n)) {
		l->why = "its weight is also read by other nodes (shared weights)";
		return CLE_OK;
	}
	l->w_value = nd->in[1];
	switch (l->kind) {
	case CLE_CONV:
	case CLE_CONV_TRANSPOSE:
		if (w->n_dims < 3) {
			l->why = say(pl, "its weight has %u dimensions, a convolution needs at least 3",
				     (unsigned)w->n_dims);
			return CLE_OK;
		}
		for (i = 2; i < w->n_dims; i++)
			k *= (size_t)w->dims[i];
		if (!graph_attr_int(nd, "group", &group) || group < 1 ||
		    (size_t)w->dims[0] % (size_t)group != 0) {
			l->why = "its group attribute does not divide the weight's channels";
			return CLE_OK;
		}
		l->d0 = (size_t)w->dims[0];
		l->d1 = (size_t)w->dims[1];
		l->k = k;
		l->groups = (size_t)group;
		l->lead_out = l->kind == CLE_CONV;
		if (l->lead_out) {
			l->c_out = l->d0;
			l->c_in = l->d1 * l->groups;
		} else {
			l->c_in = l->d0;
			l->c_out = l->d1 * l->groups;
		}
		if (group != 1 && !(l->d1 == 1 && l->c_out == l->c_in))
			l->reference = false; /* the reference handles group 1 and depthwise only */
		if (nd->n_in >= 3 && nd->in[2] != GRAPH_NONE) {
			b = input_const(g, n, 2);
			if (!float_const(b) || b->count != l->c_out) {
				l->why = "its bias is not a constant with one value per output channel";
				return CLE_OK;
			}
			l->b_value = nd->in[2];
		}
		break;
	case CLE_GEMM:
		graph_attr_int(nd, "transA", &ta);
		graph_attr_int(nd, "transB", &tb);
		if (ta != 0 || w->n_dims != 2) {
			l->why = ta != 0 ? "it has transA=1 (the activation is transposed)"
					 : "its weight is not a matrix";
			return CLE_OK;
		}
		l->d0 = (size_t)w->dims[0];
		l->d1 = (size_t)w->dims[1];
		l->k = l->groups = 1;
		l->lead_out = tb != 0;
		l->c_out = l->lead_out ? l->d0 : l->d1;
		l->c_in = l->lead_out ? l->d1 : l->d0;
		if (nd->n_in >= 3 && nd->in[2] != GRAPH_NONE) {
			b = input_const(g, n, 2);
			if (!float_const(b) || (b->count != l->c_out && b->count != 1) ||
			    (b->n_dims > 0 && b->dims[b->n_dims - 1] != (int64_t)l->c_out &&
			     b->dims[b->n_dims - 1] != 1) ||
			    (b->count == l->c_out && b->n_dims == 2 && b->dims[0] != 1)) {
				l->why = "its bias C is not a constant broadcast along the output features";
				return CLE_OK;
			}
			l->b_value = nd->in[2];
		}
		break;
	case CLE_MATMUL:
		if (w->n_dims != 2) {
			l->why = "its constant operand is not a matrix";
			return CLE_OK;
		}
		l->d0 = l->c_in = (size_t)w->dims[0];
		l->d1 = l->c_out = (size_t)w->dims[1];
		l->k = l->groups = 1;
		l->lead_out = false;
		break;
	}
	if (l->b_value != GRAPH_NONE && weight_shared(g, l->b_value, n)) {
		l->why = "its bias is also read by other nodes (shared)";
		return CLE_OK;
	}
	if (g->value[l->out_value].flags & GRAPH_IS_OUTPUT)
		return CLE_OK; /* nothing to fold into it */
	if (l->kind == CLE_MATMUL)
		find_bias_add(pl, l);
	else
		find_bn(pl, l);
	return CLE_OK;
}

/* ---- roles of the other nodes ------------------------------------------- */

/* A Clip's bounds, from constant inputs (opset >= 11) or attributes. */
static bool clip_bounds(const struct graph *g, uint32_t n, double *lo, double *hi)
{
	const struct graph_node *nd = &g->node[n];
	float f;

	*lo = -HUGE_VAL;
	*hi = HUGE_VAL;
	if (nd->n_in >= 2 && nd->in[1] != GRAPH_NONE) {
		const struct graph_const *c = input_const(g, n, 1);

		if (c == NULL || c->count != 1 || !graph_const_f64(c, 0, lo))
			return false;
	} else if (graph_attr_float(nd, "min", &f)) {
		*lo = (double)f;
	}
	if (nd->n_in >= 3 && nd->in[2] != GRAPH_NONE) {
		const struct graph_const *c = input_const(g, n, 2);

		if (c == NULL || c->count != 1 || !graph_const_f64(c, 0, hi))
			return false;
	} else if (graph_attr_float(nd, "max", &f)) {
		*hi = (double)f;
	}
	return true;
}

/* Outputs other than the first are unused (MaxPool indices, Dropout mask). */
static bool only_first_output(const struct graph *g, uint32_t n)
{
	uint32_t i;

	for (i = 1; i < g->node[n].n_out; i++) {
		uint32_t v = g->node[n].out[i];

		if (v != GRAPH_NONE && (g->value[v].n_uses || (g->value[v].flags & GRAPH_IS_OUTPUT)))
			return false;
	}
	return g->node[n].n_out >= 1 && g->node[n].out[0] != GRAPH_NONE;
}

/* Resize/Upsample leave N and C alone: scales (or sizes) constant with 1 on
 * the first two axes. */
static bool resize_keeps_channels(const struct graph *g, uint32_t n)
{
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *c;
	double a, b;
	uint32_t slot;

	if (is_op(nd, "Upsample"))
		slot = 1; /* opset 9: scales input; opset 7: attribute */
	else
		slot = nd->n_in >= 4 && nd->in[3] != GRAPH_NONE ? 3 : 2; /* sizes, else scales */
	if (is_op(nd, "Upsample") && nd->n_in < 2) {
		const float *sc;
		size_t cnt;

		return graph_attr_floats(nd, "scales", &sc, &cnt) && cnt >= 2 && sc[0] == 1.0f &&
		       sc[1] == 1.0f;
	}
	if (is_op(nd, "Resize") && nd->n_in == 2)
		slot = 1; /* opset 10: X, scales */
	c = input_const(g, n, slot);
	if (c == NULL || c->count < 2 || !graph_const_f64(c, 0, &a) || !graph_const_f64(c, 1, &b))
		return false;
	if (slot == 3)
		return false; /* sizes: the channel count would have to be known; be safe */
	return a == 1.0 && b == 1.0;
}

/* Pad that leaves channels alone and pads with zeros (or copies edges). */
static bool pad_keeps_channels(const struct graph *g, uint32_t n)
{
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *pads, *val;
	const int64_t *pa;
	size_t cnt, rank, i;
	double v;

	if (!graph_attr_is(nd, "mode", "constant") && !graph_attr_is(nd, "mode", "reflect") &&
	    !graph_attr_is(nd, "mode", "edge"))
		return false;
	if (nd->n_in >= 2 && nd->in[1] != GRAPH_NONE) {
		pads = input_const(g, n, 1);
		if (pads == NULL || pads->count % 2 != 0 || pads->count < 4)
			return false;
		rank = pads->count / 2;
		for (i = 0; i < 2; i++) {
			double b, e2;

			if (!graph_const_f64(pads, i, &b) || !graph_const_f64(pads, i + rank, &e2) ||
			    b != 0 || e2 != 0)
				return false;
		}
		if (nd->n_in >= 4 && nd->in[3] != GRAPH_NONE)
			return false; /* axes given: be safe */
		if (nd->n_in >= 3 && nd->in[2] != GRAPH_NONE) {
			val = input_const(g, n, 2);
			if (val == NULL || val->count != 1 || !graph_const_f64(val, 0, &v) || v != 0)
				return false;
		}
		return true;
	}
	if (!graph_attr_ints(nd, "pads", &pa, &cnt) || cnt % 2 != 0 || cnt < 4)
		return false;
	rank = cnt / 2;
	if (pa[0] || pa[1] || pa[rank] || pa[rank + 1])
		return false;
	{
		float f;

		return !graph_attr_float(nd, "value", &f) || f == 0.0f;
	}
}

/* Reshape(x, [b, -1]) or the x.view(x.size(0), -1) pattern: a flatten. */
static bool reshape_is_flatten(const struct graph *g, uint32_t n)
{
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *c = input_const(g, n, 1);
	double a, b;
	uint32_t v, p;

	if (nd->n_in < 2 || nd->in[1] == GRAPH_NONE)
		return false;
	if (c != NULL)
		return c->count == 2 && graph_const_f64(c, 0, &a) && graph_const_f64(c, 1, &b) &&
		       (a == 0 || a == 1) && b == -1;
	/* Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]) */
	v = nd->in[1];
	p = g->value[v].producer;
	if (p == GRAPH_NONE || !is_op(&g->node[p], "Concat") || g->node[p].n_in != 2)
		return false;
	c = input_const(g, p, 1);
	if (c == NULL || c->count != 1 || !graph_const_f64(c, 0, &b) || b != -1)
		return false;
	v = g->node[p].in[0];
	p = v == GRAPH_NONE ? GRAPH_NONE : g->value[v].producer;
	if (p == GRAPH_NONE || !is_op(&g->node[p], "Unsqueeze"))
		return false;
	v = g->node[p].in[0];
	p = v == GRAPH_NONE ? GRAPH_NONE : g->value[v].producer;
	if (p == GRAPH_NONE || !is_op(&g->node[p], "Gather"))
		return false;
	c = input_const(g, p, 1);
	if (c == NULL || c->count != 1 || !graph_const_f64(c, 0, &a) || a != 0)
		return false;
	v = g->node[p].in[0];
	p = v == GRAPH_NONE ? GRAPH_NONE : g->value[v].producer;
	return p != GRAPH_NONE && is_op(&g->node[p], "Shape") && g->node[p].in[0] == nd->in[0];
}

/* All data inputs of a join are activations (no constant operand). */
static bool all_activations(const struct graph *g, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < g->node[n].n_in; i++)
		if (g->node[n].in[i] == GRAPH_NONE || input_const(g, n, i) != NULL)
			return false;
	return g->node[n].n_in >= 2;
}

static void set_role(struct planner *pl, uint32_t n)
{
	const struct graph *g = pl->g;
	const struct graph_node *nd = &g->node[n];
	const bool ref = pl->cfg->reference;
	char lb[256];
	double lo, hi;
	int64_t axis = 1;

	if (pl->role[n] == ROLE_LAYER)
		return;
	pl->role[n] = ROLE_BLOCK;
	if (nd->domain[0] != '\0') {
		pl->why[n] = say(pl, "%s node %s (domain %s), which is not known to commute with per-channel scaling",
				 nd->op, label(g, n, lb), nd->domain);
		return;
	}
	if (is_op(nd, "Relu") || is_op(nd, "PRelu")) {
		pl->role[n] = ROLE_PASS;
	} else if (is_op(nd, "Clip")) {
		if (!clip_bounds(g, n, &lo, &hi))
			pl->why[n] = say(pl, "Clip node %s, whose bounds are computed at run time", label(g, n, lb));
		else if (pl->cfg->relu6 == CLE_RELU6_SKIP)
			pl->why[n] = say(pl, "Clip node %s, which --relu6=skip leaves as it is",
					 label(g, n, lb));
		else if (pl->cfg->relu6 == CLE_RELU6_RELU && !(lo == 0 && hi == 6))
			pl->why[n] = say(pl, "Clip node %s, which is not a ReLU6 (min %g, max %g); --relu6=relu "
					 "only replaces ReLU6", label(g, n, lb), lo, hi);
		else
			pl->role[n] = ROLE_PASS;
	} else if (ref) {
		/* the reference passes through Relu and PRelu only */
		pl->why[n] = say(pl, "%s node %s, where the reference ends the chain (it passes through "
				 "Relu and PRelu only)", nd->op, label(g, n, lb));
	} else if (is_op(nd, "LeakyRelu") || is_op(nd, "Identity") || is_op(nd, "GlobalAveragePool") ||
		   is_op(nd, "GlobalMaxPool")) {
		pl->role[n] = ROLE_PASS;
	} else if (is_op(nd, "MaxPool") || is_op(nd, "AveragePool") || is_op(nd, "Dropout")) {
		if (only_first_output(g, n))
			pl->role[n] = ROLE_PASS;
		else
			pl->why[n] = say(pl, "%s node %s, whose second output is in use", nd->op, label(g, n, lb));
	} else if (is_op(nd, "Pad")) {
		if (pad_keeps_channels(g, n))
			pl->role[n] = ROLE_PASS;
		else
			pl->why[n] = say(pl, "Pad node %s, which pads channels or pads with a non-zero value", label(g, n, lb));
	} else if (is_op(nd, "Resize") || is_op(nd, "Upsample")) {
		if (resize_keeps_channels(g, n))
			pl->role[n] = ROLE_PASS;
		else
			pl->why[n] = say(pl, "%s node %s, which may change the channel count (its scales are "
					 "not constant 1 on N and C)", nd->op, label(g, n, lb));
	} else if (is_op(nd, "Add") || is_op(nd, "Sum") || is_op(nd, "Max") || is_op(nd, "Min")) {
		if (all_activations(g, n))
			pl->role[n] = ROLE_JOIN;
		else
			pl->why[n] = say(pl, "%s node %s, which combines it with a constant that does not "
					 "scale with it", nd->op, label(g, n, lb));
	} else if (is_op(nd, "Concat")) {
		if (graph_attr_int(nd, "axis", &axis) && axis == 1 && all_activations(g, n))
			pl->role[n] = ROLE_CONCAT;
		else
			pl->why[n] = say(pl, "Concat node %s, which joins along an axis other than channels (1)",
					 label(g, n, lb));
	} else if (is_op(nd, "Flatten")) {
		if (graph_attr_int(nd, "axis", &axis) && axis == 1)
			pl->role[n] = ROLE_FLATTEN;
		else
			pl->why[n] = say(pl, "Flatten node %s, which does not flatten from axis 1", label(g, n, lb));
	} else if (is_op(nd, "Reshape")) {
		if (reshape_is_flatten(g, n))
			pl->role[n] = ROLE_FLATTEN;
		else
			pl->why[n] = say(pl, "Reshape node %s, which rearranges channels", label(g, n, lb));
	} else {
		pl->why[n] = say(pl, "%s node %s, which does not commute with per-channel scaling", nd->op,
				 label(g, n, lb));
	}
}

/* ---- union-find over values, with channel offsets ----------------------- */

/* Root of v; afterwards delta[v] (v not a root) is v's channel offset in
 * the root's frame: channel c of v is channel c + delta[v] of the region. */
static uint32_t uf_find(struct planner *pl, uint32_t v)
{
	int64_t d = 0;
	uint32_t r = v, next;

	while (pl->parent[r] != r) {
		d += pl->delta[r];
		r = pl->parent[r];
	}
	while (pl->parent[v] != v) { /* path compression */
		int64_t dv = pl->delta[v];

		next = pl->parent[v];
		pl->parent[v] = r;
		pl->delta[v] = d;
		d -= dv;
		v = next;
	}
	return r;
}

static int64_t uf_offset(struct planner *pl, uint32_t v)
{
	return uf_find(pl, v) == v ? 0 : pl->delta[v];
}

/* Channel c of a is channel c + shift of b.  False on a conflict. */
static bool uf_join(struct planner *pl, uint32_t a, uint32_t b, int64_t shift)
{
	uint32_t ra = uf_find(pl, a), rb = uf_find(pl, b);
	int64_t da = uf_offset(pl, a), db = uf_offset(pl, b);

	if (ra == rb)
		return da == db + shift;
	pl->parent[ra] = rb;
	pl->delta[ra] = db + shift - da;
	return true;
}

/* ---- regions ------------------------------------------------------------- */

struct region_build {
	uint32_t *producers, *consumers, *clips, *through;
	uint32_t n_producers, n_consumers, n_clips, n_through;
	const char *blocked;
	bool only_relu;   /* no pass-through besides Relu/PRelu/Clip, no fan-out */
	bool hbf_path;    /* every pass-through commutes with subtracting a constant */
	int64_t lo, hi;   /* channel extent in the root's frame */
};

static enum cle_status region_of(struct planner *pl, uint32_t v, uint32_t *out)
{
	struct cle_plan *p = pl->p;
	uint32_t r = uf_find(pl, v);

	if (pl->region_of_root[r] == GRAPH_NONE) {
		struct cle_region *rg;

		if (p->n_regions == pl->cap_regions) {
			size_t cap = pl->cap_regions ? pl->cap_regions * 2 : 32;
			struct cle_region *x = cle_realloc(pl->a, p->regions,
							   pl->cap_regions * sizeof *x, cap * sizeof *x);

			if (x == NULL)
				return plan_nomem(pl);
			p->regions = x;
			pl->cap_regions = cap;
		}
		rg = &p->regions[p->n_regions];
		memset(rg, 0, sizeof *rg);
		rg->g = pl->g;
		rg->relu = GRAPH_NONE;
		pl->region_of_root[r] = p->n_regions++;
	}
	*out = pl->region_of_root[r];
	return CLE_OK;
}

/* Appends x to a list kept in the plan's arena (regions hold few members). */
static bool list_add(struct planner *pl, uint32_t **list, uint32_t *n, uint32_t x)
{
	uint32_t *nl;

	if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to the next power of two */
		nl = cle_arena_alloc(&pl->p->arena, (*n ? *n * 2 : 1) * sizeof *nl);
		if (nl == NULL)
			return false;
		if (*n)
			memcpy(nl, *list, *n * sizeof *nl);
		*list = nl;
	}
	(*list)[(*n)++] = x;
	return true;
}

/* Channel counts: layers' outputs, carried through the other roles until
 * nothing changes (files need not be sorted). */
static void count_channels(struct planner *pl, uint32_t first_layer)
{
	const struct graph *g = pl->g;
	uint32_t i, n, pass;
	bool changed = true;

	for (i = first_layer; i < pl->p->n_layers; i++)
		if (pl->p->layers[i].why == NULL)
			pl->nch[pl->p->layers[i].out_value] = (int64_t)pl->p->layers[i].c_out;
	for (pass = 0; changed && pass < g->n_node + 1; pass++) {
		changed = false;
		for (n = 0; n < g->n_node; n++) {
			const struct graph_node *nd = &g->node[n];
			int64_t c = 0;

			if (nd->n_out < 1 || nd->out[0] == GRAPH_NONE)
				continue;
			if (pl->role[n] == ROLE_FLATTEN ||
			    (pl->role[n] == ROLE_PASS && nd->n_in >= 1 && nd->in[0] != GRAPH_NONE &&
			     pl->flat[nd->in[0]])) {
				changed |= !pl->flat[nd->out[0]];
				pl->flat[nd->out[0]] = 1;
			}
			if (pl->nch[nd->out[0]] != 0)
				continue;
			if ((pl->role[n] == ROLE_PASS || pl->role[n] == ROLE_FLATTEN) && nd->n_in >= 1 &&
			    nd->in[0] != GRAPH_NONE) {
				c = pl->nch[nd->in[0]];
			} else if (pl->role[n] == ROLE_JOIN) {
				for (i = 0; i < nd->n_in && c == 0; i++)
					c = pl->nch[nd->in[i]];
			} else if (pl->role[n] == ROLE_CONCAT) {
				for (i = 0; i < nd->n_in; i++) {
					if (pl->nch[nd->in[i]] == 0) {
						c = 0;
						break;
					}
					c += pl->nch[nd->in[i]];
				}
			}
			if (c != 0) {
				pl->nch[nd->out[0]] = c;
				changed = true;
			}
		}
	}
}

static enum cle_status plan_graph(struct planner *pl, const struct graph *g)
{
	struct cle_plan *p = pl->p;
	const struct cle_alloc *a = pl->a;
	uint32_t first_layer = p->n_layers, first_region = p->n_regions;
	struct region_build *rb = NULL;
	enum cle_status st = CLE_OK;
	uint32_t n, v, i, j, r;
	char lb[256];

	pl->g = g;
	pl->parent = cle_calloc(a, g->n_value + 1, sizeof *pl->parent);
	pl->delta = cle_calloc(a, g->n_value + 1, sizeof *pl->delta);
	pl->nch = cle_calloc(a, g->n_value + 1, sizeof *pl->nch);
	pl->flat = cle_calloc(a, g->n_value + 1, sizeof *pl->flat);
	pl->out_layer = cle_calloc(a, g->n_value + 1, sizeof *pl->out_layer);
	pl->region_of_root = cle_calloc(a, g->n_value + 1, sizeof *pl->region_of_root);
	pl->role = cle_calloc(a, g->n_node + 1, sizeof *pl->role);
	pl->why = cle_calloc(a, g->n_node + 1, sizeof *pl->why);
	pl->layer_of_node = cle_calloc(a, g->n_node + 1, sizeof *pl->layer_of_node);
	pl->listed = cle_calloc(a, g->n_node + 1, sizeof *pl->listed);
	if (!pl->parent || !pl->delta || !pl->nch || !pl->flat || !pl->out_layer ||
	    !pl->region_of_root || !pl->role ||
	    !pl->why || !pl->layer_of_node || !pl->listed) {
		st = plan_nomem(pl);
		goto done;
	}
	for (v = 0; v < g->n_value; v++) {
		pl->parent[v] = v;
		pl->region_of_root[v] = GRAPH_NONE;
		pl->out_layer[v] = GRAPH_NONE;
	}
	for (n = 0; n < g->n_node; n++)
		pl->layer_of_node[n] = GRAPH_NONE;

	/* layers, then what every other node does to channels */
	for (n = 0; n < g->n_node; n++) {
		const struct graph_node *nd = &g->node[n];

		if ((is_op(nd, "Conv") || is_op(nd, "ConvTranspose") || is_op(nd, "Gemm") ||
		     is_op(nd, "MatMul")) && (st = plan_layer(pl, n)) != CLE_OK)
			goto done;
	}
	for (n = 0; n < g->n_node; n++)
		set_role(pl, n);
	for (i = first_layer; i < p->n_layers; i++)
		if (p->layers[i].why == NULL)
			pl->out_layer[p->layers[i].out_value] = i;
	if (p->arena.failed) {
		st = plan_nomem(pl);
		goto done;
	}
	count_channels(pl, first_layer);

	/* join the tensors that share channels */
	for (n = 0; n < g->n_node; n++) {
		const struct graph_node *nd = &g->node[n];
		int64_t off = 0;
		bool ok = true;

		if (nd->n_out < 1 || nd->out[0] == GRAPH_NONE)
			continue;
		switch (pl->role[n]) {
		case ROLE_PASS:
		case ROLE_FLATTEN:
			if (nd->n_in >= 1 && nd->in[0] != GRAPH_NONE)
				ok = uf_join(pl, nd->in[0], nd->out[0], 0);
			break;
		case ROLE_JOIN:
			for (i = 0; i < nd->n_in; i++)
				ok = uf_join(pl, nd->in[i], nd->out[0], 0) && ok;
			break;
		case ROLE_CONCAT:
			for (i = 0; i < nd->n_in; i++) {
				if (pl->nch[nd->in[i]] == 0) {
					pl->role[n] = ROLE_BLOCK;
					pl->why[n] = say(pl, "Concat node %s, which joins tensors whose channel "
							 "counts are not known", label(g, n, lb));
					break;
				}
				ok = uf_join(pl, nd->in[i], nd->out[0], off) && ok;
				off += pl->nch[nd->in[i]];
			}
			break;
		default:
			break;
		}
		if (!ok) {
			pl->role[n] = ROLE_BLOCK;
			pl->why[n] = say(pl, "%s node %s, which would put one tensor's channels at two places",
					 nd->op, label(g, n, lb));
		}
	}

	/* producers and consumers */
	for (i = first_layer; i < p->n_layers; i++) {
		struct cle_layer *l = &p->layers[i];
		uint32_t in;

		if (l->why != NULL)
			continue;
		if ((st = region_of(pl, l->out_value, &l->out_region)) != CLE_OK)
			goto done;
		in = g->node[l->node].in[0];
		if (in != GRAPH_NONE && (st = region_of(pl, in, &l->in_region)) != CLE_OK)
			goto done;
	}
	rb = cle_calloc(a, p->n_regions - first_region + 1, sizeof *rb);
	if (rb == NULL) {
		st = plan_nomem(pl);
		goto done;
	}
	for (r = first_region; r < p->n_regions; r++) {
		rb[r - first_region].only_relu = true;
		rb[r - first_region].hbf_path = true;
		rb[r - first_region].lo = INT64_MAX;
		rb[r - first_region].hi = INT64_MIN;
	}
	for (i = first_layer; i < p->n_layers; i++) {
		struct cle_layer *l = &p->layers[i];
		struct region_build *b;
		uint32_t in;

		if (l->why != NULL)
			continue;
		b = &rb[l->out_region - first_region];
		if (!list_add(pl, &b->producers, &b->n_producers, i)) {
			st = plan_nomem(pl);
			goto done;
		}
		in = g->node[l->node].in[0];
		if (in == GRAPH_NONE)
			continue;
		b = &rb[l->in_region - first_region];
		if (!list_add(pl, &b->consumers, &b->n_consumers, i)) {
			st = plan_nomem(pl);
			goto done;
		}
	}

	/* what else touches each region's tensors */
	for (v = 0; v < g->n_value; v++) {
		const struct graph_value *val = &g->value[v];
		uint32_t root = uf_find(pl, v), rid = pl->region_of_root[root];
		struct region_build *b;
		int64_t off;

		if (rid == GRAPH_NONE)
			continue;
		b = &rb[rid - first_region];
		off = uf_offset(pl, v);
		if (pl->nch[v] > 0) {
			b->lo = off < b->lo ? off : b->lo;
			b->hi = off + pl->nch[v] > b->hi ? off + pl->nch[v] : b->hi;
		}
		if ((val->flags & GRAPH_IS_OUTPUT) && b->blocked == NULL)
			b->blocked = say(pl, "tensor '%s' is a graph output, so its values must stay as they are",
					 val->name);
		if (val->n_uses > 1)
			b->only_relu = false;
		/* where its channels come from: a layer, or a node that passes them on */
		if (pl->out_layer[v] != GRAPH_NONE) {
			/* a producer */
		} else if (val->producer == GRAPH_NONE) {
			if (b->blocked == NULL)
				b->blocked = say(pl, "tensor '%s' is %s, which cannot be rescaled", val->name,
						 (val->flags & GRAPH_IS_INPUT) ? "a graph input"
						 : (val->flags & GRAPH_IS_OUTER) ? "defined outside this subgraph"
						 : val->konst ? "a constant" : "never produced");
		} else if (pl->role[val->producer] == ROLE_BLOCK || pl->role[val->producer] == ROLE_LAYER) {
			if (b->blocked == NULL)
				b->blocked = say(pl, "the channels of '%s' come from %s node %s, which cannot be "
						 "rescaled", val->name, g->node[val->producer].op,
						 label(g, val->producer, lb));
		}
		/* who reads it */
		for (j = 0; j < val->n_uses; j++) {
			const struct graph_use *u = &val->uses[j];
			uint32_t ln;

			if (u->slot == GRAPH_NONE) {
				if (b->blocked == NULL)
					b->blocked = say(pl, "tensor '%s' is read inside a subgraph of node %s",
							 val->name, label(g, u->node, lb));
				continue;
			}
			if (pl->role[u->node] != ROLE_BLOCK && pl->role[u->node] != ROLE_LAYER &&
			    !pl->listed[u->node]) {
				pl->listed[u->node] = 1;
				if (!list_add(pl, &b->through, &b->n_through, u->node)) {
					st = plan_nomem(pl);
					goto done;
				}
			}
			switch (pl->role[u->node]) {
			case ROLE_BLOCK:
				if (b->blocked == NULL)
					b->blocked = say(pl, "tensor '%s' is read by %s", val->name,
							 pl->why[u->node]);
				break;
			case ROLE_LAYER:
				ln = pl->layer_of_node[u->node];
				if (ln == GRAPH_NONE || u->slot != 0 || p->layers[ln].why != NULL) {
					if (b->blocked == NULL)
						b->blocked = ln != GRAPH_NONE && p->layers[ln].why != NULL
							? say(pl, "tensor '%s' is read by %s node %s, which cannot be "
							      "equalized: %s", val->name, g->node[u->node].op,
							      label(g, u->node, lb), p->layers[ln].why)
							: say(pl, "tensor '%s' is read by %s node %s as a parameter",
							      val->name, g->node[u->node].op, label(g, u->node, lb));
				}
				break;
			case ROLE_PASS:
				if (!is_op(&g->node[u->node], "Relu") && !is_op(&g->node[u->node], "PRelu") &&
				    !is_op(&g->node[u->node], "Clip"))
					b->only_relu = false;
				if (!is_op(&g->node[u->node], "Relu") && !is_op(&g->node[u->node], "MaxPool") &&
				    !is_op(&g->node[u->node], "GlobalAveragePool") &&
				    !is_op(&g->node[u->node], "GlobalMaxPool") &&
				    !is_op(&g->node[u->node], "Identity") && !is_op(&g->node[u->node], "Dropout"))
					b->hbf_path = false;
				if (is_op(&g->node[u->node], "Clip") && u->slot == 0 &&
				    !list_add(pl, &b->clips, &b->n_clips, u->node)) {
					st = plan_nomem(pl);
					goto done;
				}
				if (u->slot != 0 && b->blocked == NULL)
					b->blocked = say(pl, "tensor '%s' is a parameter of %s node %s", val->name,
							 g->node[u->node].op, label(g, u->node, lb));
				break;
			case ROLE_FLATTEN:
				b->only_relu = false;
				if (u->slot != 0 && b->blocked == NULL)
					b->blocked = say(pl, "tensor '%s' gives the shape of %s node %s", val->name,
							 g->node[u->node].op, label(g, u->node, lb));
				break;
			default:
				b->only_relu = false;
				b->hbf_path = false;
				break;
			}
		}
	}
	if (p->arena.failed) {
		st = plan_nomem(pl);
		goto done;
	}

	/* settle each region: frame, consistency, reference scope */
	for (r = first_region; r < p->n_regions; r++) {
		struct cle_region *rg = &p->regions[r];
		struct region_build *b = &rb[r - first_region];

		rg->producers = b->producers;
		rg->consumers = b->consumers;
		rg->n_producers = b->n_producers;
		rg->n_consumers = b->n_consumers;
		rg->through = b->through;
		rg->n_through = b->n_through;
		rg->blocked = b->blocked;
		rg->hbf_path = b->hbf_path;
		rg->clips = cle_arena_alloc(&p->arena, (b->n_clips + 1) * sizeof *rg->clips);
		if (rg->clips == NULL) {
			st = plan_nomem(pl);
			goto done;
		}
		for (i = 0; i < b->n_clips; i++) {
			struct cle_clip *c = &rg->clips[rg->n_clips];
			uint32_t x = g->node[b->clips[i]].in[0];
			const struct cle_layer *pr;

			c->node = b->clips[i];
			c->off = (size_t)(uf_offset(pl, x) - b->lo);
			c->n_ch = (size_t)pl->nch[x];
			c->rank = 0;
			if (b->n_producers > 0 && !pl->flat[x]) {
				pr = &p->layers[b->producers[0]];
				if (pr->kind == CLE_CONV || pr->kind == CLE_CONV_TRANSPOSE)
					c->rank = graph_resolve(g, pr->w_value, NULL)->konst->n_dims;
			}
			if (c->n_ch == 0 && rg->blocked == NULL)
				rg->blocked = say(pl, "Clip node %s has an unknown channel count",
						  label(g, c->node, lb));
			rg->n_clips++;
		}
		rg->joint = b->n_producers > 1 || b->n_consumers > 1;
		if (b->lo == INT64_MAX) /* no tensor with a known channel count */
			b->lo = b->hi = 0;
		rg->n_ch = (size_t)(b->hi - b->lo);
		for (i = 0; i < rg->n_producers; i++) {
			struct cle_layer *l = &p->layers[rg->producers[i]];

			l->out_off = (size_t)(uf_offset(pl, l->out_value) - b->lo);
		}
		for (i = 0; i < rg->n_consumers; i++) {
			struct cle_layer *l = &p->layers[rg->consumers[i]];
			uint32_t in = g->node[l->node].in[0];
			int64_t c = pl->nch[in];

			l->in_off = (size_t)(uf_offset(pl, in) - b->lo);
			if (c <= 0 || l->c_in % (size_t)c != 0) {
				if (rg->blocked == NULL)
					rg->blocked = say(pl, "node %s reads %zu features that cannot be matched "
							  "to the %lld channels before it",
							  label(g, l->node, lb), l->c_in, (long long)c);
				continue;
			}
			l->in_rep = l->c_in / (size_t)c;
			if (l->in_rep > 1 && !pl->flat[in])
				rg->blocked = rg->blocked ? rg->blocked
					: say(pl, "node %s reads %zu features from %lld channels without a "
					      "Flatten between", label(g, l->node, lb), l->c_in, (long long)c);
			/* A Gemm whose weight rows run over C x (H*W) flattened features
			 * is a convolution with an H*W window: viewed as [out][C][H*W],
			 * its columns are the C channels.  The products are the same
			 * (each channel's factor multiplies its H*W weights alike), but
			 * balancing then reads one abs-max per row and channel instead
			 * of H*W weights. */
			if (l->in_rep > 1 && l->lead_out && l->k == 1 && l->groups == 1) {
				l->d1 /= l->in_rep;
				l->k = l->in_rep;
				l->c_in /= l->in_rep;
				l->in_rep = 1;
			}
		}
		if (rg->blocked == NULL && rg->n_producers == 0)
			rg->blocked = "no layer writes these channels";
		if (rg->blocked == NULL && rg->n_consumers == 0)
			rg->blocked = "no layer reads these channels";
		rg->reference = b->only_relu && rg->n_producers == 1 && rg->n_consumers == 1 &&
				p->layers[rg->producers[0]].reference &&
				p->layers[rg->consumers[0]].reference;
		if (pl->cfg->reference && rg->blocked == NULL && !rg->reference) {
			if (!b->only_relu || rg->joint)
				rg->blocked = "the output goes to several consumers (the reference ends the chain)";
			else
				rg->blocked = "the reference equalizes Conv and ConvTranspose with group 1 or "
					      "depthwise only";
		}
		/* for high-bias absorption: a Relu straight after a single producer */
		if (rg->n_producers == 1) {
			const struct graph_value *ov = &g->value[p->layers[rg->producers[0]].out_value];

			if (ov->n_uses == 1 && is_op(&g->node[ov->uses[0].node], "Relu"))
				rg->relu = ov->uses[0].node;
		}
	}
	if (p->arena.failed)
		st = plan_nomem(pl);
done:
	cle_free(a, rb, (p->n_regions - first_region + 1) * sizeof *rb);
	cle_free(a, pl->parent, (g->n_value + 1) * sizeof *pl->parent);
	cle_free(a, pl->delta, (g->n_value + 1) * sizeof *pl->delta);
	cle_free(a, pl->nch, (g->n_value + 1) * sizeof *pl->nch);
	cle_free(a, pl->flat, (g->n_value + 1) * sizeof *pl->flat);
	cle_free(a, pl->out_layer, (g->n_value + 1) * sizeof *pl->out_layer);
	cle_free(a, pl->region_of_root, (g->n_value + 1) * sizeof *pl->region_of_root);
	cle_free(a, pl->role, (g->n_node + 1) * sizeof *pl->role);
	cle_free(a, pl->why, (g->n_node + 1) * sizeof *pl->why);
	cle_free(a, pl->layer_of_node, (g->n_node + 1) * sizeof *pl->layer_of_node);
	cle_free(a, pl->listed, (g->n_node + 1) * sizeof *pl->listed);
	return st;
}

/* Layers joined through scalable regions form a group (union-find). */
static enum cle_status number_groups(struct planner *pl)
{
	struct cle_plan *p = pl->p;
	uint32_t *up = cle_calloc(pl->a, p->n_layers + 1, sizeof *up);
	uint32_t *id = cle_calloc(pl->a, p->n_layers + 1, sizeof *id);
	uint32_t *size = cle_calloc(pl->a, p->n_layers + 1, sizeof *size);
	uint32_t i, j, next = 0;

	if (up == NULL || id == NULL || size == NULL) {
		cle_free(pl->a, up, (p->n_layers + 1) * sizeof *up);
		cle_free(pl->a, id, (p->n_layers + 1) * sizeof *id);
		cle_free(pl->a, size, (p->n_layers + 1) * sizeof *size);
		return plan_nomem(pl);
	}
	for (i = 0; i < p->n_layers; i++)
		up[i] = i;
	for (i = 0; i < p->n_regions; i++) {
		const struct cle_region *rg = &p->regions[i];
		uint32_t first;

		if (rg->blocked != NULL || rg->n_producers == 0)
			continue;
		first = rg->producers[0];
		while (up[first] != first)
			first = up[first];
		for (j = 0; j < rg->n_producers + rg->n_consumers; j++) {
			uint32_t x = j < rg->n_producers ? rg->producers[j] : rg->consumers[j - rg->n_producers];

			while (up[x] != x)
				x = up[x];
			if (x != first)
				up[x] = first;
		}
	}
	for (i = 0; i < p->n_layers; i++) {
		uint32_t r = i;

		while (up[r] != r)
			r = up[r];
		up[i] = r;
		size[r]++;
	}
	for (i = 0; i < p->n_layers; i++)
		id[i] = GRAPH_NONE;
	for (i = 0; i < p->n_layers; i++) {
		uint32_t r = up[i];

		if (size[r] < 2)
			continue;
		if (id[r] == GRAPH_NONE)
			id[r] = next++;
		p->layers[i].group = id[r];
	}
	cle_free(pl->a, up, (p->n_layers + 1) * sizeof *up);
	cle_free(pl->a, id, (p->n_layers + 1) * sizeof *id);
	cle_free(pl->a, size, (p->n_layers + 1) * sizeof *size);
	return CLE_OK;
}

enum cle_status cle_plan_groups(struct cle_plan **out, const struct graph_model *gm,
				const struct cle_config *cfg, const struct cle_alloc *a,
				struct cle_error *e)
{
	struct planner pl;
	struct cle_plan *p;
	enum cle_status st = CLE_OK;
	uint32_t i;

	*out = NULL;
	p = cle_calloc(a, 1, sizeof *p);
	if (p == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory planning equalization");
	p->gm = gm;
	p->cfg = *cfg;
	cle_arena_init(&p->arena, a);
	memset(&pl, 0, sizeof pl);
	pl.p = p;
	pl.cfg = &p->cfg;
	pl.a = a;
	pl.e = e;
	for (i = 0; i < gm->n_graphs && st == CLE_OK; i++)
		st = plan_graph(&pl, gm->graphs[i]);
	if (st == CLE_OK)
		st = number_groups(&pl);
	/* the arrays grew with the allocator; keep their exact capacity for free */
	p->cap_layers = pl.cap_layers;
	p->cap_regions = pl.cap_regions;
	if (st != CLE_OK) {
		cle_plan_free(p);
		return st;
	}
	*out = p;
	return CLE_OK;
}

void cle_plan_free(struct cle_plan *p)
{
	const struct cle_alloc *a;

	if (p == NULL)
		return;
	a = p->arena.a;
	cle_free(a, p->layers, p->cap_layers * sizeof *p->layers);
	cle_free(a, p->regions, p->cap_regions * sizeof *p->regions);
	cle_arena_free(&p->arena);
	cle_free(a, p, sizeof *p);
}

/* ---- equalizing ---------------------------------------------------------- */

/* The entries that can still hold a row's or a column's weighted maximum.
 * After a full pass with weights w0 (b0 for the rows' maxima, a0 for the
 * columns'), an entry whose product is below its row's (column's) maximum
 * / spread cannot overtake that maximum while the weights move by less
 * than the spread overall (max ratio over min ratio), so later rounds take
 * the maxima over these entries alone: the same products, the same result,
 * a fraction of the reads (balancing re-reads every layer twice a round,
 * up to 50 rounds).  One side (rows or columns) of a layer. */
struct cand {
	bool based;             /* w0 holds the weights of the last full pass */
	bool ok;                /* the list belongs to w0 */
	uint32_t uses;          /* calls served since it was built */
	double spread;          /* CAND_SPREAD, narrowed while the list does not fit */
	size_t cap, n;          /* room in ix, iy, v; entries; cap 0: no shortcut */
	float *w0;              /* b (rows) or a (columns) at the last full pass */
	float *mx;              /* the maxima before the other factor (kernel_weighted_max) */
	float *t;               /* per-column thresholds while building (columns) */
	uint32_t *at;           /* rows: row i's entries are [at[i], at[i+1]) */
	uint32_t *ix, *iy;      /* rows: j, -; columns: row i and global column */
	float *v;               /* the entries' values (k == 1 weights would be gathered) */
};

/* How far the weights may move before a full pass; a layer whose entries
 * are too even to fit the list tries narrower spreads (each the square
 * root of the last) a few times, then goes without. */
#define CAND_SPREAD 1.5
#define CAND_TRIES 4

enum side { SIDE_OUT = 1, SIDE_IN = 2 }; /* a layer's output or input ranges */

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
	struct cand rows, cols; /* shortcuts for later rounds (layer_ranges) */
	unsigned dirty;         /* enum side bits: ranges to recompute */
	double absmax_after;
	struct kernel_sqnr sq;
	struct eq *q;
};

struct clip_ref {
	const struct graph *g;
	uint32_t node;
};

struct eq {
	struct cle_plan *p;
	struct clip_ref *clips; /* Clips rewritten or replaced, to drop their bounds */
	uint32_t n_clips;
	struct cle_result *res;
	struct lstate *ls;
	double **s;             /* per region: scale per channel, NULL when not balanced */
	struct cle_arena run;   /* scratch for this call */
	struct cle_error *e;
	cle_progress_fn progress;
	void *progress_ud;
	uint64_t bytes_total, bytes_done;
};

static enum cle_status eq_nomem(struct eq *q)
{
	return cle_errorf(q->e, CLE_E_NOMEM, "out of memory equalizing the model");
}

static void *run_alloc(struct eq *q, size_t count, size_t size)
{
	size_t n;
	void *p;

	if (!cle_mul_size(count ? count : 1, size, &n))
		return NULL;
	p = cle_arena_alloc(&q->run, n);
	if (p != NULL)
		memset(p, 0, n);
	return p;
}

static bool progress(struct eq *q, const char *stage, double f)
{
	return q->progress == NULL || q->progress(q->progress_ud, stage, f);
}

static const struct graph_const *konst(const struct graph *g, uint32_t v)
{
	return graph_resolve(g, v, NULL)->konst;
}

static double region_scale(struct eq *q, uint32_t r, size_t ch)
{
	return r != GRAPH_NONE && q->s[r] != NULL ? q->s[r][ch] : 1.0;
}

static double out_scale(struct eq *q, const struct cle_layer *l, size_t o)
{
	return region_scale(q, l->out_region, l->out_off + o);
}

static double in_scale(struct eq *q, const struct cle_layer *l, size_t c)
{
	return region_scale(q, l->in_region, l->in_off + c / l->in_rep);
}

/* BN fold factors k = gamma / sqrt(var + eps); false if a variance is unusable. */
static bool bn_factors(const struct graph *g, uint32_t bn, size_t n, double *k)
{
	const struct graph_const *gamma = konst(g, g->node[bn].in[1]);
	const struct graph_const *var = konst(g, g->node[bn].in[4]);
	float eps = 1e-5f;
	size_t i;

	graph_attr_float(&g->node[bn], "epsilon", &eps);
	for (i = 0; i < n; i++) {
		double gm, vr;

		if (!graph_const_f64(gamma, i, &gm) || !graph_const_f64(var, i, &vr) ||
		    !(vr + (double)eps > 0) || !isfinite(gm))
			return false;
		k[i] = gm / sqrt(vr + (double)eps);
	}
	return true;
}

/* Room for one side's candidate list: a 32nd of the layer's [d0][d1] entries. */
static enum cle_status cand_alloc(struct eq *q, struct lstate *S, struct cand *cd, bool rows)
{
	size_t n = S->t.d0 * S->t.d1, n_mx = rows ? S->t.d0 : S->n_col;

	if (n > UINT32_MAX || n < 64)
		return CLE_OK; /* small layers: a full pass costs next to nothing */
	cd->cap = n / 32 + 64;
	cd->spread = CAND_SPREAD;
	cd->w0 = run_alloc(q, rows ? S->n_col : S->t.d0, sizeof(float));
	cd->mx = run_alloc(q, n_mx, sizeof(float));
	cd->ix = run_alloc(q, cd->cap, sizeof(uint32_t));
	cd->v = run_alloc(q, cd->cap, sizeof(float));
	if (rows)
		cd->at = run_alloc(q, S->t.d0 + 1, sizeof(uint32_t));
	else
		cd->t = run_alloc(q, S->n_col, sizeof(float)), cd->iy = run_alloc(q, cd->cap, sizeof(uint32_t));
	if (!cd->w0 || !cd->mx || !cd->ix || !cd->v || (rows ? !cd->at : (!cd->t || !cd->iy)))
		return eq_nomem(q);
	return CLE_OK;
}

/* Reads a layer's weights once: abs-max over k, BN factors, first ranges. */
static enum cle_status prepare_layer(struct eq *q, uint32_t li)
{
	struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	struct cle_layer_result *R = &q->res->layers[li];
	const struct graph_const *w;
	enum cle_status st;
	size_t bad;

	if (l->why != NULL)
		return CLE_OK;
	w = konst(l->g, l->w_value);
	S->q = q;
	S->t.p = w->data;
	S->t.dt = w->dtype == GRAPH_FLOAT16 ? KERNEL_F16 : KERNEL_F32;
	S->esize = w->dtype == GRAPH_FLOAT16 ? 2 : 4;
	S->t.d0 = l->d0;
	S->t.d1 = l->d1;
	S->t.k = l->k;
	S->t.groups = l->groups;
	S->n_col = l->groups * l->d1;
	S->a = run_alloc(q, l->d0, sizeof(float));
	S->r0 = run_alloc(q, l->d0, sizeof(float));
	S->b = run_alloc(q, S->n_col, sizeof(float));
	S->r1 = run_alloc(q, S->n_col, sizeof(float));
	S->fa = run_alloc(q, l->d0, sizeof(double));
	S->fb = run_alloc(q, S->n_col, sizeof(double));
	S->rout0 = run_alloc(q, l->c_out, sizeof(float));
	if (!S->a || !S->r0 || !S->b || !S->r1 || !S->fa || !S->fb || !S->rout0)
		return eq_nomem(q);
	S->rout = l->lead_out ? S->r0 : S->r1;
	S->rin = l->lead_out ? S->r1 : S->r0;
	if (l->k > 1) {
		S->m = run_alloc(q, l->d0 * l->d1, sizeof(float));
		if (S->m == NULL)
			return eq_nomem(q);
		bad = kernel_absmax_reduce(&S->t, S->m);
	} else {
		/* |w| is read in place each time; count non-finite values once */
		bad = kernel_scale(&S->t, NULL, NULL, 0, l->d0 * l->d1, NULL, NULL);
	}
	if (bad != 0) {
		R->note = cle_arena_strdup(&q->p->arena, "its weights contain NaN or Inf values; left as is");
		return CLE_OK;
	}
	if (l->bn != GRAPH_NONE) {
		S->kf = run_alloc(q, l->c_out, sizeof(double));
		if (S->kf == NULL)
			return eq_nomem(q);
		if (!bn_factors(l->g, l->bn, l->c_out, S->kf)) {
			R->note = cle_arena_strdup(&q->p->arena,
						   "its BatchNormalization has a variance at or below -epsilon; left as is");
			S->kf = NULL;
			return CLE_OK;
		}
	}
	if ((st = cand_alloc(q, S, &S->rows, true)) != CLE_OK ||
	    (st = cand_alloc(q, S, &S->cols, false)) != CLE_OK)
		return st;
	S->active = true;
	S->dirty = SIDE_OUT | SIDE_IN;
	return CLE_OK;
}

/* |w| at flat [d0][d1] index r of a k == 1 tensor, as kernel_weighted_max reads it. */
static float abs_at(const struct kernel_tensor *t, size_t r)
{
	if (t->dt == KERNEL_F16) {
		uint16_t h;

		memcpy(&h, t->p + 2 * r, 2);
		h &= 0x7fffu;
		return h >= 0x7c00u ? 0.0f : kernel_f16_to_f32(h);
	} else {
		uint32_t u;
		float f;

		memcpy(&u, t->p + 4 * r, 4);
		u &= 0x7fffffffu;
		if (u >= 0x7f800000u)
			return 0.0f;
		memcpy(&f, &u, 4);
		return f;
	}
}

/* Does x stay within spread of x0 overall (max ratio / min ratio)? */
static bool cand_near(const float *x, const float *x0, size_t n, double spread)
{
	double lo = HUGE_VAL, hi = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		double r;

		if (x0[i] == 0.0f && x[i] == 0.0f)
			continue; /* its products are 0 either way */
		if (!(x0[i] > 0.0f) || !(x[i] > 0.0f) || !isfinite(x[i]) || !isfinite(x0[i]))
			return false;
		r = (double)x[i] / (double)x0[i];
		lo = r < lo ? r : lo;
		hi = r > hi ? r : hi;
	}
	/* the margin covers the float rounding of the products */
	return hi <= lo * (spread * (1.0 - 1e-6)) || hi == 0;
}

/* After a full pass (cd->mx under a, b): the entries within the spread of
 * their row's (rows) or column's maximum.  No list when it would not fit. */
static void cand_build(struct lstate *S, struct cand *cd, bool rows, const float *a, const float *b)
{
	const struct kernel_tensor *t = &S->t;
	size_t d1 = t->d1, per = t->d0 / t->groups, i, j;
	float sp = (float)cd->spread;

	cd->ok = false;
	cd->n = 0;
	for (j = 0; !rows && j < S->n_col; j++)
		cd->t[j] = cd->mx[j] / sp;
	for (i = 0; i < t->d0; i++) {
		const float *bg = b + i / per * d1;
		size_t c0 = i / per * d1;

		if (rows)
			cd->at[i] = (uint32_t)cd->n;
		/* the other side's condition is off: a product with 0 never hits, nor one over Inf */
		for (j = 0; (j = rows ? kernel_next_hit(t, S->m, i * d1, bg, cd->mx[i] / sp, 0.0f, bg, j, d1)
				      : kernel_next_hit(t, S->m, i * d1, bg, HUGE_VALF, a[i], cd->t + c0, j, d1)) < d1;
		     j++) {
			if (cd->n == cd->cap)
				goto narrow;
			cd->v[cd->n] = S->m != NULL ? S->m[i * d1 + j] : abs_at(t, i * d1 + j);
			if (rows) {
				cd->ix[cd->n++] = (uint32_t)j;
			} else {
				cd->ix[cd->n] = (uint32_t)i;
				cd->iy[cd->n++] = (uint32_t)(c0 + j);
			}
		}
	}
	if (rows)
		cd->at[t->d0] = (uint32_t)cd->n;
	memcpy(cd->w0, rows ? b : a, (rows ? S->n_col : t->d0) * sizeof *a);
	cd->ok = true;
	cd->uses = 0;
	return;
narrow:
	cd->spread = sqrt(cd->spread);
	if (cd->spread < pow(CAND_SPREAD, 1.0 / (1 << CAND_TRIES)))
		cd->cap = 0; /* even entries: full passes from now on */
}

/* One side's maxima (as kernel_weighted_max's r0 or r1) over the list alone. */
static void cand_max(struct lstate *S, struct cand *cd, bool rows, const float *a, const float *b)
{
	const struct kernel_tensor *t = &S->t;
	size_t d1 = t->d1, per = t->d0 / t->groups, i, x;

	if (rows) {
		for (i = 0; i < t->d0; i++) {
			const float *bg = b + i / per * d1;
			float best = 0.0f;

			for (x = cd->at[i]; x < cd->at[i + 1]; x++) {
				float v = cd->v[x] * bg[cd->ix[x]];

				best = best < v ? v : best;
			}
			cd->mx[i] = best;
		}
		return;
	}
	for (x = 0; x < S->n_col; x++)
		cd->mx[x] = 0.0f;
	for (x = 0; x < cd->n; x++) {
		size_t c = cd->iy[x];
		float v = cd->v[x] * a[cd->ix[x]];

		cd->mx[c] = cd->mx[c] < v ? v : cd->mx[c];
	}
}

/* Row maxima (rows) or column maxima of the layer's weights under a, b,
 * through the candidate list when the weights moved little since it was
 * made; returns where they are. */
static const float *side_max(struct lstate *S, bool rows)
{
	struct cand *cd = rows ? &S->rows : &S->cols;
	const float *w = rows ? S->b : S->a;
	size_t n_w = rows ? S->n_col : S->t.d0;
	bool near;

	if (cd->cap == 0) {
		kernel_weighted_max(&S->t, S->m, S->a, S->b, rows ? S->r0 : NULL, rows ? NULL : S->r1);
		return rows ? S->r0 : S->r1;
	}
	near = cd->based && cand_near(w, cd->w0, n_w, cd->spread);
	if (cd->ok && near) {
		cand_max(S, cd, rows, S->a, S->b);
		cd->uses++;
		return cd->mx;
	}
	kernel_weighted_max(&S->t, S->m, S->a, S->b, rows ? cd->mx : NULL, rows ? NULL : cd->mx);
	/* a list pays off once the weights move little between passes */
	if (near || (cd->ok && cd->uses > 0)) {
		cand_build(S, cd, rows, S->a, S->b);
	} else {
		cd->ok = false;
		memcpy(cd->w0, w, n_w * sizeof *w);
	}
	cd->based = true;
	return cd->mx;
}

/* A layer's output (SIDE_OUT) or input ranges under the current scales.
 * The output ranges' maxima run over the input side (weights b for a
 * Conv's rows), the input ranges' over the output side, so each side is
 * recomputed only when asked for. */
static void layer_ranges(struct eq *q, uint32_t li, enum side sd)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	float *fo = l->lead_out ? S->a : S->b, *fi = l->lead_out ? S->b : S->a;
	bool rows = (sd == SIDE_OUT) == l->lead_out; /* rows: r0 = max_j m b, times a */
	const double *so, *si;
	const float *mx;
	size_t i, c, r;

	if (!(S->dirty & sd))
		return;
	/* as out_scale and in_scale, with the region's scales looked up once */
	so = l->out_region != GRAPH_NONE && q->s[l->out_region] != NULL ? q->s[l->out_region] + l->out_off : NULL;
	si = l->in_region != GRAPH_NONE && q->s[l->in_region] != NULL ? q->s[l->in_region] + l->in_off : NULL;
	for (i = 0; i < l->c_out; i++)
		fo[i] = (float)(fabs(S->kf ? S->kf[i] : 1.0) / (so != NULL ? so[i] : 1.0));
	for (i = 0, c = 0, r = 0; i < l->c_in; i++) {
		fi[i] = (float)(si != NULL ? si[c] : 1.0);
		if (++r == l->in_rep)
			r = 0, c++;
	}
	mx = side_max(S, rows);
	if (rows)
		for (i = 0; i < l->d0; i++)
			S->r0[i] = mx[i] * S->a[i];
	else
		for (i = 0; i < S->n_col; i++)
			S->r1[i] = mx[i] * S->b[i];
	S->dirty &= ~(unsigned)sd;
}

static void mark_dirty(struct eq *q, const struct cle_region *rg)
{
	uint32_t i;

	for (i = 0; i < rg->n_producers; i++)
		q->ls[rg->producers[i]].dirty = SIDE_OUT | SIDE_IN;
	for (i = 0; i < rg->n_consumers; i++)
		q->ls[rg->consumers[i]].dirty = SIDE_OUT | SIDE_IN;
}

/* Producer and consumer ranges per channel of region r (under current scales). */
static void region_ranges(struct eq *q, uint32_t r, double *rp, double *rq)
{
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t i;
	size_t c;

	for (c = 0; c < rg->n_ch; c++)
		rp[c] = rq[c] = 0;
	for (i = 0; i < rg->n_producers; i++) {
		const struct cle_layer *l = &q->p->layers[rg->producers[i]];
		const struct lstate *S = &q->ls[rg->producers[i]];

		layer_ranges(q, rg->producers[i], SIDE_OUT);
		for (c = 0; c < l->c_out; c++)
			if ((double)S->rout[c] > rp[l->out_off + c])
				rp[l->out_off + c] = (double)S->rout[c];
	}
	for (i = 0; i < rg->n_consumers; i++) {
		const struct cle_layer *l = &q->p->layers[rg->consumers[i]];
		const struct lstate *S = &q->ls[rg->consumers[i]];

		layer_ranges(q, rg->consumers[i], SIDE_IN);
		for (c = 0; c < l->c_in; c++) {
			size_t ch = l->in_off + c / l->in_rep;

			if ((double)S->rin[c] > rq[ch])
				rq[ch] = (double)S->rin[c];
		}
	}
}

static bool usable(double x)
{
	return isfinite(x) && x > 0;
}

/* Is scale s held at the clamp (max_scale or its inverse)? */
static bool at_clamp(const struct cle_config *cfg, double s)
{
	return cfg->max_scale > 0 && (s >= cfg->max_scale || s <= 1.0 / cfg->max_scale);
}

static double clamp_scale(const struct cle_config *cfg, double s)
{
	if (cfg->max_scale > 0 && s > cfg->max_scale)
		return cfg->max_scale;
	if (cfg->max_scale > 0 && s < 1.0 / cfg->max_scale)
		return 1.0 / cfg->max_scale;
	return s;
}

/* The depthwise layer right after region r, when it is r's only consumer
 * and the only producer of the region after it: the two are balanced
 * together (the triplet rule).  GRAPH_NONE otherwise. */
static uint32_t triplet_middle(struct eq *q, uint32_t r)
{
	const struct cle_region *rg = &q->p->regions[r];
	const struct cle_layer *d;
	uint32_t li;

	if (rg->n_consumers != 1)
		return GRAPH_NONE;
	li = rg->consumers[0];
	d = &q->p->layers[li];
	if (d->groups != d->c_in || d->c_in != d->c_out || d->d1 != 1 || d->in_rep != 1 ||
	    d->out_region == GRAPH_NONE || q->s[d->out_region] == NULL ||
	    q->p->regions[d->out_region].n_producers != 1)
		return GRAPH_NONE;
	return li;
}

/* One balancing step on region r (and the region after a depthwise middle
 * layer); returns the largest |log(range ratio)| it found before moving. */
/* Sets *s to x, clamped; returns how far it moved, |log(new / old)|.  A
 * channel held at the clamp moves no more, whatever imbalance it keeps. */
static double move_scale(const struct cle_config *cfg, double *s, double x)
{
	double old = *s;

	*s = clamp_scale(cfg, x);
	return fabs(log(*s / old));
}

/* One balancing step of region r (and, for a triplet, of the region after
 * its depthwise layer); returns the largest move of a scale, the measure
 * of convergence. */
static double balance(struct eq *q, uint32_t r, double *rp, double *rq, double *rp2, double *rq2,
		      uint8_t *done)
{
	const struct cle_config *cfg = &q->p->cfg;
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t mid = triplet_middle(q, r), r2;
	double worst = 0, *s = q->s[r], *s2;
	size_t c;

	region_ranges(q, r, rp, rq);
	if (mid == GRAPH_NONE) {
		for (c = 0; c < rg->n_ch; c++) {
			double ratio = rp[c] / rq[c];

			if (!usable(rp[c]) || !usable(rq[c]))
				continue;
			worst = fmax(worst, move_scale(cfg, &s[c], s[c] * sqrt(ratio)));
		}
		mark_dirty(q, rg);
		return worst;
	}
	/* r1: producers of r, r2: the depthwise weights, r3: consumers after it,
	 * each without the two scales being solved: g = cbrt(r1 r2 r3) */
	{
		const struct cle_layer *d = &q->p->layers[mid];
		const struct lstate *D = &q->ls[mid];

		r2 = d->out_region;
		s2 = q->s[r2];
		region_ranges(q, r2, rp2, rq2);
		for (c = 0; c < d->c_in; c++) {
			size_t a = d->in_off + c, b = d->out_off + c;
			double x1 = rp[a] * s[a], x2 = (double)D->rout[c] * s2[b] / s[a];
			double x3 = rq2[b] / s2[b], gm;

			if (!usable(x1) || !usable(x2) || !usable(x3) || !usable(rq[a]) || !usable(rq2[b]))
				continue;
			gm = cbrt(x1 * x2 * x3);
			worst = fmax(worst, move_scale(cfg, &s[a], x1 / gm));
			worst = fmax(worst, move_scale(cfg, &s2[b], gm / x3));
		}
		done[r2] = 1;
		mark_dirty(q, rg);
		mark_dirty(q, &q->p->regions[r2]);
	}
	return worst;
}

static double pow2_round(double s)
{
	return ldexp(1.0, (int)lround(log2(s)));
}

/* Spread of per-channel ranges: max over min, skipping dead (zero) channels. */
static double spread(const float *r, size_t n)
{
	float lo = INFINITY, hi = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (r[i] > 0 && r[i] < lo)
			lo = r[i];
		if (r[i] > hi)
			hi = r[i];
	}
	return hi > 0 ? (double)hi / (double)lo : 1.0;
}

static double max_of(const float *r, size_t n)
{
	float hi = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i] > hi)
			hi = r[i];
	return (double)hi;
}

/* INT8 weight SQNR of a layer: the quantizer is per tensor (one step,
 * absmax / 127), the signal-to-noise is measured per output channel and
 * averaged in dB over the channels that carry signal, so a channel that
 * quantizes to nothing counts as much as the largest one.  An exactly
 * representable channel counts as 200 dB rather than infinity. */
static double sqnr_db(const struct kernel_sqnr *s, size_t n)
{
	double sum = 0;
	size_t used = 0, c;

	for (c = 0; c < n; c++) {
		double sg, ns;

		kernel_sqnr_channel(s, c, &sg, &ns);
		if (!(sg > 0))
			continue;
		sum += ns > 0 ? fmin(10.0 * log10(sg / ns), 200.0) : 200.0;
		used++;
	}
	return used ? sum / (double)used : 0.0;
}

/* Statistics with per-output-channel sums for layer l, in the run's arena. */
static bool sqnr_init(struct eq *q, const struct cle_layer *l, double step, struct kernel_sqnr *s)
{
	memset(s, 0, sizeof *s);
	s->step = step > 0 ? step : 1.0;
	s->by_col = !l->lead_out;
	s->ch_signal = run_alloc(q, 4 * l->c_out, sizeof(double)); /* 4 lanes a channel */
	s->ch_noise = run_alloc(q, 4 * l->c_out, sizeof(double));
	return s->ch_signal != NULL && s->ch_noise != NULL;
}

/* The bias a layer ends with, before high-bias absorption: BN folded in,
 * output scales applied.  In "effective" units (Gemm: beta * C). */
static enum cle_status layer_bias(struct eq *q, uint32_t li)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	const struct graph *g = l->g;
	const struct graph_const *bc = l->b_value != GRAPH_NONE ? konst(g, l->b_value) : NULL;
	float beta = 1.0f;
	bool scaled = false;
	size_t o;

	for (o = 0; o < l->c_out; o++)
		scaled |= out_scale(q, l, o) != 1.0;
	if (l->bn == GRAPH_NONE && !(bc != NULL && scaled))
		return CLE_OK;
	if (l->kind == CLE_GEMM)
		graph_attr_float(&g->node[l->node], "beta", &beta);
	S->bias = run_alloc(q, l->c_out, sizeof(double));
	if (S->bias == NULL)
		return eq_nomem(q);
	for (o = 0; o < l->c_out; o++) {
		double b = 0, bn_b, mu;

		if (bc != NULL && !graph_const_f64(bc, bc->count == 1 ? 0 : o, &b))
			b = 0;
		b *= (double)beta;
		if (l->bn != GRAPH_NONE) {
			graph_const_f64(konst(g, g->node[l->bn].in[2]), o, &bn_b);
			graph_const_f64(konst(g, g->node[l->bn].in[3]), o, &mu);
			b = bn_b + S->kf[o] * (b - mu);
		}
		S->bias[o] = b / out_scale(q, l, o);
	}
	return CLE_OK;
}

/* Conv without zero padding: shifting its input by a constant shifts its
 * output by a constant everywhere. */
static bool unpadded(const struct cle_layer *l)
{
	const struct graph_node *n = &l->g->node[l->node];
	const int64_t *pads;
	size_t cnt, i;

	if (l->kind != CLE_CONV)
		return l->kind != CLE_CONV_TRANSPOSE;
	if (!graph_attr_is(n, "auto_pad", "NOTSET") && !graph_attr_is(n, "auto_pad", "VALID"))
		return false;
	if (graph_attr_ints(n, "pads", &pads, &cnt))
		for (i = 0; i < cnt; i++)
			if (pads[i] != 0)
				return false;
	return true;
}

/* Reads element e of a weight tensor as double. */
static double weight_at(const struct kernel_tensor *t, size_t e)
{
	if (t->dt == KERNEL_F16) {
		uint16_t h;

		memcpy(&h, t->p + 2 * e, 2);
		return (double)kernel_f16_to_f32(h);
	} else {
		float f;

		memcpy(&f, t->p + 4 * e, 4);
		return (double)f;
	}
}

/* High-bias absorption for region r: the producer's bias drops by
 * c = max(0, beta' - 3|gamma'|) per channel, the consumers' biases take
 * W' · c.  Exact while the producer's output stays above c. */
static enum cle_status absorb_high_bias(struct eq *q, uint32_t r)
{
	struct cle_plan *p = q->p;
	const struct cle_region *rg = &p->regions[r];
	const struct cle_layer *P;
	struct lstate *SP;
	double *c;
	size_t o, i, j, s;
	uint32_t k;
	bool any = false;

	if (!p->cfg.hbf || q->s[r] == NULL || rg->n_producers != 1 || rg->relu == GRAPH_NONE ||
	    !rg->hbf_path || rg->n_clips != 0)
		return CLE_OK;
	P = &p->layers[rg->producers[0]];
	SP = &q->ls[rg->producers[0]];
	if (P->bn == GRAPH_NONE || SP->bias == NULL)
		return CLE_OK;
	for (k = 0; k < rg->n_consumers; k++) {
		const struct cle_layer *Q = &p->layers[rg->consumers[k]];

		if ((!unpadded(Q) && !p->cfg.reference) || Q->kind == CLE_CONV_TRANSPOSE ||
		    (Q->kind == CLE_MATMUL && Q->bias_add == GRAPH_NONE)) {
			q->res->layers[rg->producers[0]].note = cle_arena_strdup(&p->arena,
				Q->kind == CLE_MATMUL ? "high-bias absorption skipped: a consumer has no bias"
				: "high-bias absorption skipped: a consumer pads with zeros, where it would not be exact");
			return CLE_OK;
		}
	}
	c = run_alloc(q, rg->n_ch, sizeof(double));
	if (c == NULL)
		return eq_nomem(q);
	for (o = 0; o < P->c_out; o++) {
		double beta, gamma, sc = out_scale(q, P, o);

		graph_const_f64(konst(P->g, P->g->node[P->bn].in[2]), o, &beta);
		graph_const_f64(konst(P->g, P->g->node[P->bn].in[1]), o, &gamma);
		c[P->out_off + o] = fmax(0.0, (beta - 3.0 * fabs(gamma)) / sc);
		SP->bias[o] -= c[P->out_off + o];
		any |= c[P->out_off + o] > 0;
	}
	if (!any)
		return CLE_OK;
	for (k = 0; k < rg->n_consumers; k++) {
		uint32_t qi = rg->consumers[k];
		const struct cle_layer *Q = &p->layers[qi];
		struct lstate *SQ = &q->ls[qi];
		const struct kernel_tensor *t = &SQ->t;
		size_t e = 0;

		if (SQ->bias == NULL) {
			/* the consumer's bias, scaled, before taking W' c */
			const struct graph_const *bc = Q->b_value != GRAPH_NONE ? konst(Q->g, Q->b_value) : NULL;
			float beta = 1.0f;

			SQ->bias = run_alloc(q, Q->c_out, sizeof(double));
			if (SQ->bias == NULL)
				return eq_nomem(q);
			if (Q->kind == CLE_GEMM)
				graph_attr_float(&Q->g->node[Q->node], "beta", &beta);
			for (o = 0; o < Q->c_out; o++) {
				double b = 0;

				if (bc != NULL && !graph_const_f64(bc, bc->count == 1 ? 0 : o, &b))
					b = 0;
				SQ->bias[o] = b * (double)beta / out_scale(q, Q, o);
			}
		}
		for (i = 0; i < t->d0; i++)
			for (j = 0; j < t->d1; j++) {
				size_t col = (i / (t->d0 / t->groups)) * t->d1 + j;
				double f = SQ->fa[i] * SQ->fb[col], acc = 0;

				for (s = 0; s < t->k; s++)
					acc += weight_at(t, e++);
				if (Q->lead_out)
					SQ->bias[i] += acc * f * c[Q->in_off + col / Q->in_rep];
				else
					SQ->bias[col] += acc * f * c[Q->in_off + i / Q->in_rep];
			}
	}
	q->res->layers[rg->producers[0]].hbf = true;
	q->res->hbf_layers++;
	return CLE_OK;
}

/* ---- writing ------------------------------------------------------------- */

static enum cle_status fill_weights(void *ud, size_t off, uint8_t *dst, size_t n, struct cle_error *e)
{
	struct lstate *S = ud;
	size_t e0 = off / S->esize, e1 = (off + n) / S->esize;

	if (kernel_scale(&S->t, S->fa, S->fb, e0, e1, dst, &S->sq) != 0)
		return cle_errorf(e, CLE_E_LIMIT,
				  "rescaled weights overflow %s; lower --max-scale",
				  S->t.dt == KERNEL_F16 ? "float16" : "float32");
	S->q->bytes_done += n;
	if (!progress(S->q, "write", S->q->bytes_total ? (double)S->q->bytes_done / (double)S->q->bytes_total : 1))
		return cle_errorf(e, CLE_E_CANCELLED, "cancelled");
	return CLE_OK;
}

struct bytes_fill {
	const uint8_t *p;
};

static enum cle_status fill_bytes(void *ud, size_t off, uint8_t *dst, size_t n, struct cle_error *e)
{
	(void)e;
	memcpy(dst, ((const struct bytes_fill *)ud)->p + off, n);
	return CLE_OK;
}

/* n doubles as little-endian elements of dtype (float32 or float16). */
static uint8_t *encode(struct eq *q, const double *v, size_t n, int32_t dtype, double div)
{
	size_t es = dtype == GRAPH_FLOAT16 ? 2 : 4, i;
	uint8_t *p = run_alloc(q, n, es);

	if (p == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (dtype == GRAPH_FLOAT16) {
			uint16_t h = kernel_f64_to_f16(v[i] / div);

			memcpy(p + 2 * i, &h, 2);
		} else {
			float f = (float)(v[i] / div);

			memcpy(p + 4 * i, &f, 4);
		}
	}
	return p;
}

static const char *vname(const struct graph *g, uint32_t v)
{
	return v == GRAPH_NONE ? "" : g->value[v].name;
}

/* Deletes a BatchNormalization parameter if nothing else reads it. */
static enum cle_status drop_param(struct graph_edits *ed, const struct graph *g, uint32_t v,
				  struct cle_error *e)
{
	const struct graph_value *val = &g->value[v];
	enum cle_status st;

	if (val->n_uses != 1 || (val->flags & (GRAPH_IS_OUTPUT | GRAPH_IS_OUTER | GRAPH_IS_INPUT)))
		return CLE_OK;
	if ((val->flags & GRAPH_IS_CONSTANT) && val->producer != GRAPH_NONE &&
	    (st = graph_edit_delete_node(ed, g, val->producer, e)) != CLE_OK)
		return st;
	return graph_edit_delete_value(ed, g, v, e);
}

static enum cle_status write_layer(struct eq *q, struct graph_edits *ed, uint32_t li)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	const struct graph *g = l->g;
	const struct graph_node *nd = &g->node[l->node];
	const struct graph_const *w = konst(g, l->w_value), *bc;
	const char *bias_name = NULL, *in[8], *out[8];
	struct graph_node_spec spec;
	struct cle_error *e = q->e;
	enum cle_status st;
	float beta = 1.0f;
	uint32_t i, n_in;

	if (S->changed && (st = graph_edit_const(ed, w, fill_weights, S, e)) != CLE_OK)
		return st;
	if (S->bias != NULL) {
		if (l->kind == CLE_GEMM)
			graph_attr_float(nd, "beta", &beta);
		if (beta == 0.0f)
			return cle_errorf(e, CLE_E_UNSUPPORTED,
					  "Gemm node %s has beta=0, so its bias cannot change", nd->name);
		bc = l->b_value != GRAPH_NONE ? konst(g, l->b_value) : NULL;
		if (bc != NULL && bc->count == l->c_out && bc->proto != NULL && !bc->external) {
			struct bytes_fill *bf = run_alloc(q, 1, sizeof *bf);

			if (bf == NULL || (bf->p = encode(q, S->bias, l->c_out, bc->dtype, (double)beta)) == NULL)
				return eq_nomem(q);
			if ((st = graph_edit_const(ed, bc, fill_bytes, bf, e)) != CLE_OK)
				return st;
		} else {
			int64_t dim = (int64_t)l->c_out;
			const uint8_t *data = encode(q, S->bias, l->c_out, w->dtype, (double)beta);

			bias_name = graph_edit_unique_name(ed, g, nd->name[0] ? nd->name : vname(g, l->w_value));
			if (data == NULL || bias_name == NULL)
				return eq_nomem(q);
			if ((st = graph_edit_add_initializer(ed, g, bias_name, w->dtype, &dim, 1, data,
							     l->c_out * (w->dtype == GRAPH_FLOAT16 ? 2u : 4u),
							     e)) != CLE_OK)
				return st;
		}
	}
	if (l->bn == GRAPH_NONE && bias_name == NULL)
		return CLE_OK;
	/* the node itself: BN's output name, and the new bias input */
	if (nd->n_in > 7 || nd->n_out > 7)
		return cle_errorf(e, CLE_E_INTERNAL, "too many inputs to rewrite");
	n_in = nd->n_in;
	for (i = 0; i < nd->n_in; i++)
		in[i] = vname(g, nd->in[i]);
	for (i = 0; i < nd->n_out; i++)
		out[i] = vname(g, nd->out[i]);
	if (bias_name != NULL) {
		if (n_in < 3)
			n_in = 3;
		in[2] = bias_name;
	}
	if (l->bn != GRAPH_NONE)
		out[0] = vname(g, g->node[l->bn].out[0]);
	memset(&spec, 0, sizeof spec);
	spec.n_in = n_in;
	spec.n_out = nd->n_out;
	spec.in = in;
	spec.out = out;
	if ((st = graph_edit_replace_node(ed, g, l->node, &spec, e)) != CLE_OK)
		return st;
	if (l->bn == GRAPH_NONE)
		return CLE_OK;
	if ((st = graph_edit_delete_node(ed, g, l->bn, e)) != CLE_OK ||
	    (st = graph_edit_delete_value(ed, g, nd->out[0], e)) != CLE_OK)
		return st;
	for (i = 1; i < 5; i++)
		if ((st = drop_param(ed, g, g->node[l->bn].in[i], e)) != CLE_OK)
			return st;
	q->res->bn_folded++;
	return CLE_OK;
}

/* A per-channel bound tensor for a rewritten Clip: bound / s. */
static const char *bound_tensor(struct eq *q, struct graph_edits *ed, uint32_t r,
				const struct cle_clip *c, double bound, int32_t dtype,
				const char *base)
{
	const struct graph *g = q->p->regions[r].g;
	int64_t dims[8];
	double *v = run_alloc(q, c->n_ch, sizeof(double));
	const uint8_t *data;
	const char *name;
	uint32_t i, n_dims = c->rank > 1 ? c->rank - 1 : 1;
	size_t ch;

	if (v == NULL || n_dims > 8)
		return NULL;
	for (ch = 0; ch < c->n_ch; ch++)
		v[ch] = bound / q->s[r][c->off + ch];
	dims[0] = (int64_t)c->n_ch;
	for (i = 1; i < n_dims; i++)
		dims[i] = 1;
	data = encode(q, v, c->n_ch, dtype, 1.0);
	name = graph_edit_unique_name(ed, g, base);
	if (data == NULL || name == NULL ||
	    graph_edit_add_initializer(ed, g, name, dtype, dims, n_dims, data,
				       c->n_ch * (dtype == GRAPH_FLOAT16 ? 2u : 4u), q->e) != CLE_OK)
		return NULL;
	return name;
}

/* Clip(x, lo, hi) in a scaled region: Max(x, lo/s) (Relu when lo = 0) then
 * Min(., hi/s), per channel, so the function is kept.  --relu6=relu makes
 * it a Relu, as the reference does. */
static enum cle_status write_clips(struct eq *q, struct graph_edits *ed, uint32_t r)
{
	const struct cle_region *rg = &q->p->regions[r];
	const struct graph *g = rg->g;
	const struct cle_layer *P = rg->n_producers ? &q->p->layers[rg->producers[0]] : NULL;
	int32_t dtype = P ? konst(g, P->w_value)->dtype : GRAPH_FLOAT;
	uint32_t k;

	for (k = 0; k < rg->n_clips; k++) {
		const struct cle_clip *c = &rg->clips[k];
		const struct graph_node *nd = &g->node[c->node];
		const char *x = vname(g, nd->in[0]), *y = vname(g, nd->out[0]);
		const char *lo_t = NULL, *hi_t = NULL, *mid, *in[2], *out[1];
		struct graph_node_spec spec;
		enum cle_status st;
		double lo, hi;
		bool scaled = false;
		size_t ch;

		for (ch = 0; ch < c->n_ch; ch++)
			scaled |= q->s[r][c->off + ch] != 1.0;
		memset(&spec, 0, sizeof spec);
		spec.in = in;
		spec.out = out;
		spec.n_out = 1;
		if (q->p->cfg.relu6 == CLE_RELU6_RELU) {
			spec.op = "Relu";
			spec.n_in = 1;
			in[0] = x;
			out[0] = y;
			if ((st = graph_edit_replace_node(ed, g, c->node, &spec, q->e)) != CLE_OK)
				return st;
			q->res->clips_replaced++;
			q->clips[q->n_clips].g = g;
			q->clips[q->n_clips++].node = c->node;
			continue;
		}
		if (!scaled || !clip_bounds(g, c->node, &lo, &hi))
			continue;
		if (!isfinite(lo) && !isfinite(hi))
			continue; /* no bound: the identity, which any scale passes as it is */
		if (isfinite(hi) && (hi_t = bound_tensor(q, ed, r, c, hi, dtype, "clip_max")) == NULL)
			return eq_nomem(q);
		if (isfinite(lo) && lo != 0 && (lo_t = bound_tensor(q, ed, r, c, lo, dtype, "clip_min")) == NULL)
			return eq_nomem(q);
		mid = hi_t != NULL && isfinite(lo) ? graph_edit_unique_name(ed, g, y) : y;
		if (mid == NULL)
			return eq_nomem(q);
		/* first node, in the Clip's place */
		if (isfinite(lo)) {
			spec.op = lo == 0 ? "Relu" : "Max";
			spec.n_in = lo == 0 ? 1 : 2;
			in[0] = x;
			in[1] = lo_t;
			out[0] = mid;
		} else {
			spec.op = "Min";
			spec.n_in = 2;
			in[0] = x;
			in[1] = hi_t;
			out[0] = y;
		}
		if ((st = graph_edit_replace_node(ed, g, c->node, &spec, q->e)) != CLE_OK)
			return st;
		if (isfinite(lo) && hi_t != NULL) {
			spec.op = "Min";
			spec.n_in = 2;
			in[0] = mid;
			in[1] = hi_t;
			out[0] = y;
			spec.name = graph_edit_unique_name(ed, g, nd->name[0] ? nd->name : "clip");
			if (spec.name == NULL)
				return eq_nomem(q);
			if ((st = graph_edit_insert_node(ed, g, c->node, &spec, q->e)) != CLE_OK)
				return st;
		}
		q->res->clips_rewritten++;
		q->clips[q->n_clips].g = g;
		q->clips[q->n_clips++].node = c->node;
	}
	return CLE_OK;
}

static bool clip_rewritten(const struct eq *q, const struct graph *g, uint32_t node)
{
	uint32_t i;

	for (i = 0; i < q->n_clips; i++)
		if (q->clips[i].g == g && q->clips[i].node == node)
			return true;
	return false;
}

/* The min/max constants of rewritten Clips, once nothing else reads them,
 * leave the file with them (runtimes warn about unused initializers). */
static enum cle_status drop_clip_bounds(struct eq *q, struct graph_edits *ed)
{
	uint32_t i, j, k, slot;
	enum cle_status st;

	for (i = 0; i < q->n_clips; i++) {
		const struct graph *g = q->clips[i].g;
		const struct graph_node *nd = &g->node[q->clips[i].node];

		for (slot = 1; slot < 3 && slot < nd->n_in; slot++) {
			uint32_t v = nd->in[slot];
			const struct graph_value *val;
			bool only_clips = true, seen = false;

			if (v == GRAPH_NONE)
				continue;
			val = &g->value[v];
			if (val->flags & (GRAPH_IS_OUTER | GRAPH_IS_INPUT | GRAPH_IS_OUTPUT))
				continue;
			for (j = 0; j < val->n_uses && only_clips; j++)
				only_clips = val->uses[j].slot != GRAPH_NONE &&
					     clip_rewritten(q, g, val->uses[j].node);
			/* dropped already through an earlier Clip or slot */
			for (j = 0; j <= i && !seen; j++) {
				const struct graph_node *o = &q->clips[j].g->node[q->clips[j].node];

				for (k = 1; k < 3 && k < o->n_in && !seen; k++)
					seen = q->clips[j].g == g && o->in[k] == v && (j < i || k < slot);
			}
			if (!only_clips || seen)
				continue;
			if ((val->flags & GRAPH_IS_CONSTANT) && val->producer != GRAPH_NONE &&
			    (st = graph_edit_delete_node(ed, g, val->producer, q->e)) != CLE_OK)
				return st;
			if ((st = graph_edit_delete_value(ed, g, v, q->e)) != CLE_OK)
				return st;
		}
	}
	return CLE_OK;
}

/* ---- the whole run -------------------------------------------------------- */

static enum cle_status run_balance(struct eq *q)
{
	struct cle_plan *p = q->p;
	size_t most = 1;
	double *rp, *rq, *rp2, *rq2;
	uint8_t *done;
	uint32_t r;
	int round;

	for (r = 0; r < p->n_regions; r++)
		if (p->regions[r].n_ch > most)
			most = p->regions[r].n_ch;
	rp = run_alloc(q, most, sizeof(double));
	rq = run_alloc(q, most, sizeof(double));
	rp2 = run_alloc(q, most, sizeof(double));
	rq2 = run_alloc(q, most, sizeof(double));
	done = run_alloc(q, p->n_regions, 1);
	if (!rp || !rq || !rp2 || !rq2 || !done)
		return eq_nomem(q);
	for (round = 0; round < p->cfg.max_rounds; round++) {
		double worst = 0;

		memset(done, 0, p->n_regions);
		for (r = 0; r < p->n_regions; r++) {
			double w;

			if (q->s[r] == NULL || done[r])
				continue;
			w = balance(q, r, rp, rq, rp2, rq2, done);
			if (w > worst)
				worst = w;
		}
		q->res->rounds = round + 1;
		if (!progress(q, "balance", (double)(round + 1) / p->cfg.max_rounds))
			return cle_errorf(q->e, CLE_E_CANCELLED, "cancelled");
		if (worst <= p->cfg.tolerance)
			break;
	}
	/* what is left, per region, under the final (rounded, clamped) scales */
	for (r = 0; r < p->n_regions; r++) {
		size_t c;

		if (q->s[r] == NULL)
			continue;
		for (c = 0; c < p->regions[r].n_ch; c++) {
			if (p->cfg.pow2)
				q->s[r][c] = pow2_round(q->s[r][c]);
			q->res->clamped += at_clamp(&p->cfg, q->s[r][c]);
		}
		mark_dirty(q, &p->regions[r]);
	}
	/* the largest imbalance left where a scale could still move: a channel
	 * held at the clamp (a near-dead one) is counted in clamped instead */
	for (r = 0; r < p->n_regions; r++) {
		size_t c;

		if (q->s[r] == NULL)
			continue;
		region_ranges(q, r, rp, rq);
		for (c = 0; c < p->regions[r].n_ch; c++)
			if (usable(rp[c]) && usable(rq[c]) && !at_clamp(&p->cfg, q->s[r][c]) &&
			    fabs(log2(rp[c] / rq[c])) > q->res->max_imbalance)
				q->res->max_imbalance = fabs(log2(rp[c] / rq[c]));
	}
	return CLE_OK;
}

/* Final per-element factors of each layer, and whether any differs from 1. */
static void final_factors(struct eq *q, uint32_t li)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	double *fo = l->lead_out ? S->fa : S->fb, *fi = l->lead_out ? S->fb : S->fa;
	size_t i;

	for (i = 0; i < l->c_out; i++) {
		fo[i] = (S->kf ? S->kf[i] : 1.0) / out_scale(q, l, i);
		S->changed |= fo[i] != 1.0;
	}
	for (i = 0; i < l->c_in; i++) {
		fi[i] = in_scale(q, l, i);
		S->changed |= fi[i] != 1.0;
	}
}

enum cle_status cle_equalize(struct cle_plan *p, const struct onnx_sink *sink,
			     const struct graph_save *gs, struct cle_result *res,
			     cle_progress_fn progress_fn, void *progress_ud, struct cle_error *e)
{
	const struct cle_alloc *a = p->arena.a;
	struct graph_edits ed;
	struct eq q;
	enum cle_status st = CLE_OK;
	uint32_t li, r, i;

	memset(&q, 0, sizeof q);
	memset(res, 0, sizeof *res);
	q.p = p;
	q.res = res;
	q.e = e;
	q.progress = progress_fn;
	q.progress_ud = progress_ud;
	cle_arena_init(&q.run, a);
	graph_edits_init(&ed, p->gm);
	res->n_layers = p->n_layers;
	res->layers = cle_arena_alloc(&p->arena, (p->n_layers + 1) * sizeof *res->layers);
	q.ls = run_alloc(&q, p->n_layers, sizeof *q.ls);
	q.s = run_alloc(&q, p->n_regions, sizeof *q.s);
	if (res->layers == NULL || q.ls == NULL || q.s == NULL) {
		st = eq_nomem(&q);
		goto done;
	}
	memset(res->layers, 0, (p->n_layers + 1) * sizeof *res->layers);

	/* read every weight once */
	for (li = 0; li < p->n_layers; li++) {
		if ((st = prepare_layer(&q, li)) != CLE_OK)
			goto done;
		if (!progress(&q, "read", (double)(li + 1) / p->n_layers)) {
			st = cle_errorf(e, CLE_E_CANCELLED, "cancelled");
			goto done;
		}
	}
	/* a region is balanced when it is open and all its layers read back */
	for (r = 0; r < p->n_regions; r++) {
		const struct cle_region *rg = &p->regions[r];
		bool ok = rg->blocked == NULL;

		for (i = 0; ok && i < rg->n_producers; i++)
			ok = q.ls[rg->producers[i]].active;
		for (i = 0; ok && i < rg->n_consumers; i++)
			ok = q.ls[rg->consumers[i]].active;
		if (!ok)
			continue;
		q.s[r] = run_alloc(&q, rg->n_ch, sizeof(double));
		if (q.s[r] == NULL) {
			st = eq_nomem(&q);
			goto done;
		}
		for (i = 0; i < rg->n_ch; i++)
			q.s[r][i] = 1.0;
	}
	/* ranges before: BN folded, nothing scaled */
	for (li = 0; li < p->n_layers; li++) {
		struct lstate *S = &q.ls[li];

		if (!S->active)
			continue;
		layer_ranges(&q, li, SIDE_OUT);
		memcpy(S->rout0, S->rout, p->layers[li].c_out * sizeof *S->rout0);
	}
	if ((st = run_balance(&q)) != CLE_OK)
		goto done;

	for (li = 0; li < p->n_layers; li++) {
		struct lstate *S = &q.ls[li];
		struct cle_layer_result *R = &res->layers[li];
		const struct cle_layer *l = &p->layers[li];
		struct kernel_sqnr before;

		if (!S->active)
			continue;
		final_factors(&q, li);
		if ((st = layer_bias(&q, li)) != CLE_OK)
			goto done;
		layer_ranges(&q, li, SIDE_OUT);
		R->spread_before = spread(S->rout0, l->c_out);
		R->spread_after = spread(S->rout, l->c_out);
		if (p->cfg.ranges) {
			float *rb = cle_arena_alloc(&p->arena, l->c_out * sizeof *rb);
			float *ra = cle_arena_alloc(&p->arena, l->c_out * sizeof *ra);

			if (rb == NULL || ra == NULL) {
				st = eq_nomem(&q);
				goto done;
			}
			memcpy(rb, S->rout0, l->c_out * sizeof *rb);
			memcpy(ra, S->rout, l->c_out * sizeof *ra);
			R->ranges_before = rb;
			R->ranges_after = ra;
		}
		/* INT8 SQNR before: the BN-folded weights, one read */
		if (!sqnr_init(&q, l, max_of(S->rout0, l->c_out) / 127.0, &before) ||
		    !sqnr_init(&q, l, max_of(S->rout, l->c_out) / 127.0, &S->sq)) {
			st = eq_nomem(&q);
			goto done;
		}
		kernel_scale(&S->t, l->lead_out ? S->kf : NULL, l->lead_out ? NULL : S->kf, 0,
			     l->d0 * l->d1 * l->k, NULL, &before);
		R->sqnr_before = R->sqnr_after = sqnr_db(&before, l->c_out);
		R->changed = S->changed;
		if (S->changed)
			q.bytes_total += l->d0 * l->d1 * l->k * S->esize;
	}
	for (r = 0; r < p->n_regions; r++)
		if ((st = absorb_high_bias(&q, r)) != CLE_OK)
			goto done;

	/* the edits, then one pass writing the model */
	for (li = 0; li < p->n_layers; li++)
		if (q.ls[li].active && (st = write_layer(&q, &ed, li)) != CLE_OK)
			goto done;
	for (r = 0, i = 0; r < p->n_regions; r++)
		i += p->regions[r].n_clips;
	q.clips = run_alloc(&q, i, sizeof *q.clips);
	if (q.clips == NULL) {
		st = eq_nomem(&q);
		goto done;
	}
	for (r = 0; r < p->n_regions; r++)
		if (q.s[r] != NULL && p->regions[r].n_clips &&
		    (st = write_clips(&q, &ed, r)) != CLE_OK)
			goto done;
	if ((st = drop_clip_bounds(&q, &ed)) != CLE_OK)
		goto done;
	if ((st = graph_edits_save(&ed, sink, gs, e)) != CLE_OK)
		goto done;
	for (li = 0; li < p->n_layers; li++)
		if (q.ls[li].changed)
			res->layers[li].sqnr_after = sqnr_db(&q.ls[li].sq, p->layers[li].c_out);
	progress(&q, "done", 1);
done:
	graph_edits_free(&ed);
	cle_arena_free(&q.run);
	return st;
}
