/* cle_layer.c — what a Conv, ConvTranspose, Gemm or MatMul node is as a
 * layer: its weight viewed as [d0][d1][k] with groups, its bias, the
 * BatchNormalization or bias Add it absorbs, the constant Mul and Add
 * after them it folds, or the reason it cannot be equalized at all. */
#include "cle_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum cle_status cle_say(struct cle_plan *p, struct cle_error *e, const char **out, const char *fmt,
			...)
{
	char buf[512];
	va_list ap;

	if (*out != NULL)
		return CLE_OK;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if ((*out = cle_arena_strdup(&p->arena, buf)) == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory planning equalization");
	return CLE_OK;
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

/* Is the weight value used by anything but this layer (weight sharing)? */
static bool weight_shared(const struct graph_model *gm, const struct graph *g, uint32_t v,
			  uint32_t node)
{
	const struct graph *owner, *o2;
	const struct graph_value *val = graph_resolve(g, v, &owner), *v2;
	uint32_t i, k, reads = 0;

	if (used_elsewhere(g, v, node))
		return true;
	if (owner == g)
		return false;
	/* an outer weight: read only by subgraphs (implicit uses), and there by
	 * this node alone, whichever branch or body it is in */
	for (i = 0; i < val->n_uses; i++)
		if (val->uses[i].slot != GRAPH_NONE)
			return true;
	for (k = 0; k < gm->n_graphs; k++) {
		const struct graph *gk = gm->graphs[k];
		uint32_t j;

		for (i = 0; i < gk->n_value; i++) {
			if (!(gk->value[i].flags & GRAPH_IS_OUTER) || (v2 = graph_resolve(gk, i, &o2)) != val)
				continue;
			reads += (gk->value[i].flags & GRAPH_IS_OUTPUT) != 0;
			for (j = 0; j < gk->value[i].n_uses; j++)
				reads += gk->value[i].uses[j].slot != GRAPH_NONE; /* deeper reads: their own entry */
		}
	}
	return reads > 1 || (val->flags & GRAPH_IS_OUTPUT) != 0;
}

/* Folds a following BatchNormalization into layer l if it can. */
static void find_bn(struct cle_layer *l)
{
	const struct graph *g = l->g;
	const struct graph_value *out = &g->value[l->out_value];
	uint32_t bn, i;
	int64_t train = 0;

	if (out->n_uses != 1 || (out->flags & GRAPH_IS_OUTPUT) || out->uses[0].slot != 0)
		return;
	bn = out->uses[0].node;
	if (!ops_is(&g->node[bn], "BatchNormalization") || g->node[bn].n_out < 1 ||
	    g->node[bn].out[0] == GRAPH_NONE || g->node[bn].n_in < 5)
		return;
	if (graph_attr_int(&g->node[bn], "training_mode", &train) && train != 0)
		return;
	for (i = 1; i < g->node[bn].n_out; i++) {
		uint32_t v = g->node[bn].out[i];

		if (v != GRAPH_NONE)
			return; /* running statistics written: training mode (before opset 14, by the spec) */
	}
	for (i = 1; i < 5; i++) {
		const struct graph_const *c = ops_input_const(g, bn, i);

		if (c == NULL || !c->ok || c->count != l->c_out ||
		    (c->dtype != GRAPH_FLOAT && c->dtype != GRAPH_FLOAT16 && c->dtype != GRAPH_DOUBLE))
			return;
	}
	l->bn = bn;
	l->out_value = g->node[bn].out[0];
}

/* A MatMul's bias: the single Add after it with a constant [N] operand. */
static void find_bias_add(const struct graph_model *gm, struct cle_layer *l)
{
	const struct graph *g = l->g;
	const struct graph_value *out = &g->value[l->out_value];
	const struct graph_const *c;
	uint32_t add, other, i;

	if (out->n_uses != 1 || (out->flags & GRAPH_IS_OUTPUT))
		return;
	add = out->uses[0].node;
	if (!ops_is(&g->node[add], "Add") || g->node[add].n_in != 2 || g->node[add].n_out != 1 ||
	    g->node[add].out[0] == GRAPH_NONE)
		return;
	other = 1 - out->uses[0].slot;
	c = ops_input_const(g, add, other);
	if (!float_const(c) || c->count != l->c_out || c->n_dims == 0 ||
	    c->dims[c->n_dims - 1] != (int64_t)l->c_out)
		return;
	for (i = 0; i + 1 < c->n_dims; i++)
		if (c->dims[i] != 1)
			return;
	if (weight_shared(gm, g, g->node[add].in[other], add))
		return;
	l->bias_add = add;
	l->b_value = g->node[add].in[other];
	l->out_value = g->node[add].out[0];
}

/* All of constant c's values finite, and none zero when nonzero is set. */
static bool finite_const(const struct graph_const *c, bool nonzero)
{
	size_t i;
	double x;

	for (i = 0; i < c->count; i++)
		if (!graph_const_f64(c, i, &x) || !isfinite(x) || (nonzero && x == 0))
			return false;
	return true;
}

/* Folds the Mul, Add, Sub and Div nodes by constants right after layer l
 * (after its BatchNormalization or bias Add): the learnable affine
 * PaddlePaddle writes after its convolutions, a batch norm an exporter
 * left as Mul and Add.  Scalars, or one value per output channel; a
 * per-channel Mul only when batch norm is folded (it moves the weights'
 * ranges as a batch norm does); an Add only where the bias can take it. */
static void find_affine(struct cle_plan *p, struct cle_layer *l, const struct graph_const *w)
{
	const struct graph *g = l->g;
	uint32_t rank = l->kind == OPS_CONV || l->kind == OPS_CONV_TRANSPOSE ? w->n_dims
			: l->kind == OPS_GEMM ? 2 : 0;
	float beta = 1.0f;

	if (l->kind == OPS_GEMM)
		graph_attr_float(&g->node[l->node], "beta", &beta);
	if (graph_opset(p->gm, "") < 7) /* broadcasting as numpy does */
		return;
	while (l->n_affine < CLE_MAX_AFFINE) {
		const struct graph_value *out = &g->value[l->out_value];
		const struct graph_node *nd;
		const struct graph_const *c;
		enum ops_fit fit;
		uint32_t n, cs;
		bool add;

		if (out->n_uses != 1 || (out->flags & GRAPH_IS_OUTPUT))
			return;
		n = out->uses[0].node;
		nd = &g->node[n];
		add = ops_is(nd, "Add") || ops_is(nd, "Sub");
		/* its output must be its own (not a tensor it reads, or one another node writes) */
		if ((!add && !ops_is(nd, "Mul") && !ops_is(nd, "Div")) || nd->n_out != 1 ||
		    nd->out[0] == GRAPH_NONE || g->value[nd->out[0]].producer != n ||
		    nd->out[0] == l->out_value || (cs = ops_const_slot(g, n)) == GRAPH_NONE ||
		    cs == out->uses[0].slot || (ops_is(nd, "Div") && cs != 1))
			return;
		c = ops_input_const(g, n, cs);
		if (!float_const(c) || !finite_const(c, ops_is(nd, "Div")))
			return;
		fit = ops_channel_fit(c, l->c_out, rank);
		if ((fit != OPS_FIT_SCALAR && fit != OPS_FIT_CHANNEL) ||
		    (!add && fit == OPS_FIT_CHANNEL && p->cfg.bn != CLE_BN_FOLD) ||
		    (add && ((l->kind == OPS_MATMUL && l->bias_add == GRAPH_NONE) || beta == 0.0f)))
			return;
		l->affine[l->n_affine++] = n;
		l->out_value = nd->out[0];
	}
}

/* Sets l->why when the weight w of layer l cannot be equalized. */
static enum cle_status check_weight(struct cle_plan *p, struct cle_layer *l, struct cle_error *e,
				    const struct graph_const *w)
{
	const struct graph_node *nd = &l->g->node[l->node];

	if (nd->n_in < 2 || nd->in[1] == GRAPH_NONE || w == NULL) {
		l->why = l->kind == OPS_MATMUL ? "its second operand is computed at run time, not a constant weight"
					       : "its weight is computed at run time, not a constant";
	} else if (w->external && w->storage == GRAPH_MISSING) {
		return w->supplied
			? cle_say(p, e, &l->why, "its weight's external data does not fit in '%s' (see the "
				 "onnx-invalid findings)", w->location ? w->location : "?")
			: cle_say(p, e, &l->why, "its weight is stored in external data '%s', which was not "
				 "supplied", w->location ? w->location : "?");
	} else if (!w->ok) {
		l->why = "its weight tensor does not read back (see the onnx-invalid findings)";
	} else if (w->count == 0) {
		l->why = "its weight is empty";
	} else if (w->dtype != GRAPH_FLOAT && w->dtype != GRAPH_FLOAT16) {
		return cle_say(p, e, &l->why, "its weight is %s; only float32 and float16 weights are equalized",
			      graph_dtype_name(w->dtype) ? graph_dtype_name(w->dtype) : "of an unknown type");
	} else if (weight_shared(p->gm, l->g, nd->in[1], l->node)) {
		l->why = "its weight is also read by other nodes (shared weights)";
	}
	return CLE_OK;
}

/* A Conv or ConvTranspose weight [d0][d1][k...] with its group attribute. */
static enum cle_status conv_shape(struct cle_plan *p, struct cle_layer *l, struct cle_error *e,
				  const struct graph_const *w)
{
	const struct graph_node *nd = &l->g->node[l->node];
	const struct graph_const *b;
	int64_t group = 1;
	size_t k = 1, i;

	if (w->n_dims < 3)
		return cle_say(p, e, &l->why, "its weight has %u dimensions, a convolution needs at least 3",
			      (unsigned)w->n_dims);
	for (i = 2; i < w->n_dims; i++)
		k *= (size_t)w->dims[i];
	/* in int64, as the file has it: size_t is 32 bits in wasm */
	if (!graph_attr_int(nd, "group", &group) || group < 1 || group > w->dims[0] ||
	    w->dims[0] % group != 0) {
		l->why = "its group attribute does not divide the weight's channels";
		return CLE_OK;
	}
	l->d0 = (size_t)w->dims[0];
	l->d1 = (size_t)w->dims[1];
	l->k = k;
	l->groups = (size_t)group;
	l->lead_out = l->kind == OPS_CONV;
	l->c_out = l->lead_out ? l->d0 : l->d1 * l->groups;
	l->c_in = l->lead_out ? l->d1 * l->groups : l->d0;
	if (group != 1 && !(l->d1 == 1 && l->c_out == l->c_in))
		l->reference = false; /* the reference handles group 1 and depthwise only */
	if (nd->n_in >= 3 && nd->in[2] != GRAPH_NONE) {
		b = ops_input_const(l->g, l->node, 2);
		if (!float_const(b) || b->count != l->c_out) {
			l->why = "its bias is not a constant with one value per output channel";
			return CLE_OK;
		}
		l->b_value = nd->in[2];
	}
	return CLE_OK;
}

/* A Gemm's B as [d0][d1] (transB says which is the output), and its C. */
static void gemm_shape(struct cle_layer *l, const struct graph_const *w)
{
	const struct graph_node *nd = &l->g->node[l->node];
	const struct graph_const *b;
	int64_t ta = 0, tb = 0;

	graph_attr_int(nd, "transA", &ta);
	graph_attr_int(nd, "transB", &tb);
	if (ta != 0 || w->n_dims != 2) {
		l->why = ta != 0 ? "it has transA=1 (the activation is transposed)" : "its weight is not a matrix";
		return;
	}
	l->d0 = (size_t)w->dims[0];
	l->d1 = (size_t)w->dims[1];
	l->k = l->groups = 1;
	l->lead_out = tb != 0;
	l->c_out = l->lead_out ? l->d0 : l->d1;
	l->c_in = l->lead_out ? l->d1 : l->d0;
	if (nd->n_in >= 3 && nd->in[2] != GRAPH_NONE) {
		b = ops_input_const(l->g, l->node, 2);
		if (!float_const(b) || (b->count != l->c_out && b->count != 1) ||
		    (b->n_dims > 0 && b->dims[b->n_dims - 1] != (int64_t)l->c_out &&
		     b->dims[b->n_dims - 1] != 1) ||
		    (b->count == l->c_out && b->n_dims == 2 && b->dims[0] != 1)) {
			l->why = "its bias C is not a constant broadcast along the output features";
			return;
		}
		l->b_value = nd->in[2];
	}
}

enum cle_status cle_layer_describe(struct cle_plan *p, struct cle_layer *l, const struct graph *g,
				   uint32_t n, enum ops_layer kind, struct cle_error *e)
{
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *w = ops_input_const(g, n, 1);
	enum cle_status st;

	l->g = g;
	l->node = n;
	l->kind = kind;
	l->reference = kind == OPS_CONV || kind == OPS_CONV_TRANSPOSE;
	if (nd->n_out < 1 || nd->out[0] == GRAPH_NONE) {
		l->why = "it has no output";
		return CLE_OK;
	}
	l->out_value = nd->out[0];
	if ((st = check_weight(p, l, e, w)) != CLE_OK || l->why != NULL)
		return st;
	l->w_value = nd->in[1];
	if (kind == OPS_CONV || kind == OPS_CONV_TRANSPOSE) {
		if ((st = conv_shape(p, l, e, w)) != CLE_OK)
			return st;
	} else if (kind == OPS_GEMM) {
		gemm_shape(l, w);
	} else if (w->n_dims != 2) {
		l->why = "its constant operand is not a matrix";
	} else {
		l->d0 = l->c_in = (size_t)w->dims[0];
		l->d1 = l->c_out = (size_t)w->dims[1];
		l->k = l->groups = 1;
		l->lead_out = false;
	}
	if (l->why != NULL)
		return CLE_OK;
	if (l->b_value != GRAPH_NONE && weight_shared(p->gm, g, l->b_value, n)) {
		l->why = "its bias is also read by other nodes (shared)";
		return CLE_OK;
	}
	if (l->b_value != GRAPH_NONE && l->b_value == l->w_value) {
		l->why = "its weight is also its bias (one tensor, rescaled two ways)";
		return CLE_OK;
	}
	if (g->value[l->out_value].flags & GRAPH_IS_OUTPUT)
		return CLE_OK; /* nothing to fold into it */
	/* an output another node writes too (invalid: a name defined twice)
	 * would have the nodes after it folded into both layers */
	if (g->value[l->out_value].producer != n)
		return CLE_OK;
	if (kind == OPS_MATMUL)
		find_bias_add(p->gm, l);
	else if (p->cfg.bn == CLE_BN_FOLD)
		find_bn(l);
	if (!p->cfg.reference) /* the reference folds batch norm alone */
		find_affine(p, l, w);
	return CLE_OK;
}
