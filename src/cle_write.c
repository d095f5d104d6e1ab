/* cle_write.c — a run's result as edits of the model: weights rescaled
 * from the original bytes (one pass, factors in double), new biases, BN
 * and constant Mul/Add nodes folded away, Clips given per-channel bounds,
 * constant operands (Max, Min, Add, Sub) rewritten per channel; then one
 * pass writing the model.  See cle_internal.h. */
#include "cle_internal.h"

#include <math.h>
#include <string.h>

#include "onnx_io.h"

static enum cle_status fill_weights(void *ud, size_t off, uint8_t *dst, size_t n, struct cle_error *e)
{
	struct lstate *S = ud;
	const struct cle_layer *l = &S->q->p->layers[S - S->q->ls];
	size_t e0 = off / S->esize, e1 = (off + n) / S->esize;

	/* the statistics before from the same piece, while it is in cache */
	kernel_scale(&S->t, l->lead_out ? S->kf : NULL, l->lead_out ? NULL : S->kf, e0, e1, NULL, &S->sq0);
	if (kernel_scale(&S->t, S->fa, S->fb, e0, e1, dst, &S->sq) != 0)
		return cle_errorf(e, CLE_E_LIMIT,
				  "rescaled weights overflow %s; lower --max-scale",
				  S->t.dt == KERNEL_F16 ? "float16" : "float32");
	S->q->bytes_done += n;
	if (!eq_progress(S->q, "write", S->q->bytes_total ? (double)S->q->bytes_done / (double)S->q->bytes_total : 1))
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

static size_t dtype_size(int32_t dtype)
{
	return dtype == GRAPH_FLOAT16 ? 2 : dtype == GRAPH_DOUBLE ? 8 : 4;
}

/* n doubles / div as little-endian elements of dtype (float32, float16 or double). */
static uint8_t *encode(struct eq *q, const double *v, size_t n, int32_t dtype, double div)
{
	size_t es = dtype_size(dtype), i;
	uint8_t *p = eq_alloc(q, n, es);

	if (p == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (dtype == GRAPH_FLOAT16) {
			uint16_t h = kernel_f64_to_f16(v[i] / div);

			memcpy(p + 2 * i, &h, 2);
		} else if (dtype == GRAPH_DOUBLE) {
			double d = v[i] / div;

			memcpy(p + 8 * i, &d, 8);
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
	const struct graph_const *w = eq_const(g, l->w_value), *bc;
	const char *bias_name = NULL, *in[8], *out[8];
	struct graph_node_spec spec;
	struct cle_error *e = q->e;
	enum cle_status st;
	float beta = 1.0f;
	uint32_t i, n_in, tail;

	if (S->changed && (st = graph_edit_const(ed, w, fill_weights, S, e)) != CLE_OK)
		return st;
	if (S->bias != NULL) {
		if (l->kind == OPS_GEMM)
			graph_attr_float(nd, "beta", &beta);
		if (beta == 0.0f)
			return cle_errorf(e, CLE_E_UNSUPPORTED,
					  "Gemm node %s has beta=0, so its bias cannot change", nd->name);
		bc = l->b_value != GRAPH_NONE ? eq_const(g, l->b_value) : NULL;
		if (bc != NULL && bc->count == l->c_out && bc->proto != NULL && !bc->external) {
			struct bytes_fill *bf = eq_alloc(q, 1, sizeof *bf);

			if (bf == NULL || (bf->p = encode(q, S->bias, l->c_out, bc->dtype, (double)beta)) == NULL)
				return eq_nomem(q);
			if ((st = graph_edit_const(ed, bc, fill_bytes, bf, e)) != CLE_OK)
				return st;
		} else {
			int64_t dim = (int64_t)l->c_out;
			const uint8_t *data = encode(q, S->bias, l->c_out, w->dtype, (double)beta);

			if (data == NULL)
				return eq_nomem(q);
			if ((st = graph_edit_name(ed, g, nd->name[0] ? nd->name : vname(g, l->w_value),
						  &bias_name, e)) != CLE_OK ||
			    (st = graph_edit_add_initializer(ed, g, bias_name, w->dtype, &dim, 1, data,
							     l->c_out * dtype_size(w->dtype),
							     e)) != CLE_OK)
				return st;
		}
	}
	if (l->bn == GRAPH_NONE && l->n_affine == 0 && bias_name == NULL)
		return CLE_OK;
	/* the node that ends the layer (a MatMul's bias Add, else the layer
	 * itself): the folded nodes' output name, and the new bias input */
	if (l->bias_add != GRAPH_NONE && l->n_affine > 0)
		nd = &g->node[tail = l->bias_add];
	else
		tail = l->node;
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
	if (l->bn != GRAPH_NONE || l->n_affine > 0)
		out[0] = vname(g, l->out_value);
	memset(&spec, 0, sizeof spec);
	spec.n_in = n_in;
	spec.n_out = nd->n_out;
	spec.in = in;
	spec.out = out;
	if ((st = graph_edit_replace_node(ed, g, tail, &spec, e)) != CLE_OK)
		return st;
	if (l->bn == GRAPH_NONE && l->n_affine == 0)
		return CLE_OK;
	/* the folded nodes go, with the values between them */
	if ((st = graph_edit_delete_value(ed, g, nd->out[0], e)) != CLE_OK)
		return st;
	if (l->bn != GRAPH_NONE) {
		if ((st = graph_edit_delete_node(ed, g, l->bn, e)) != CLE_OK)
			return st;
		for (i = 1; i < 5; i++)
			if ((st = drop_param(ed, g, g->node[l->bn].in[i], e)) != CLE_OK)
				return st;
		if (l->n_affine > 0 &&
		    (st = graph_edit_delete_value(ed, g, g->node[l->bn].out[0], e)) != CLE_OK)
			return st;
		q->res->bn_folded++;
	}
	for (i = 0; i < l->n_affine; i++) {
		const struct graph_node *a = &g->node[l->affine[i]];

		if ((st = graph_edit_delete_node(ed, g, l->affine[i], e)) != CLE_OK ||
		    (st = drop_param(ed, g, a->in[ops_const_slot(g, l->affine[i])], e)) != CLE_OK ||
		    (i + 1 < l->n_affine && (st = graph_edit_delete_value(ed, g, a->out[0], e)) != CLE_OK))
			return st;
	}
	q->res->affine_folded += l->n_affine > 0;
	return CLE_OK;
}

/* A new per-channel constant for rescaled node c of region r, named
 * *name: from[ch] / s (or bound / s when from is NULL, or holds one
 * value), with n_dims axes: shape's, else [C], or [C, 1, 1] to broadcast
 * over an NCHW tensor. */
static enum cle_status channel_tensor(struct eq *q, struct graph_edits *ed, uint32_t r,
				      const struct cle_rescaled *c, const struct graph_const *from,
				      double bound, uint32_t n_dims, const int64_t *shape, int32_t dtype,
				      const char *base, const char **name)
{
	const struct graph *g = q->p->regions[r].g;
	int64_t dims[8];
	double *v = eq_alloc(q, c->n_ch, sizeof(double));
	const uint8_t *data;
	enum cle_status st;
	uint32_t i;
	size_t ch;

	if (NEVER(n_dims > 8))
		return cle_errorf(q->e, CLE_E_INTERNAL, "a per-channel constant of rank %u", (unsigned)n_dims);
	if (v == NULL)
		return eq_nomem(q);
	for (ch = 0; ch < c->n_ch; ch++) {
		if (from != NULL && !graph_const_f64(from, from->count == 1 ? 0 : ch, &bound))
			bound = 0;
		v[ch] = bound / q->s[r][c->off + ch];
	}
	for (i = 0; i < n_dims; i++)
		dims[i] = shape != NULL ? shape[i] : i == 0 ? (int64_t)c->n_ch : 1;
	data = encode(q, v, c->n_ch, dtype, 1.0);
	if (data == NULL)
		return eq_nomem(q);
	if ((st = graph_edit_name(ed, g, base, name, q->e)) != CLE_OK)
		return st;
	return graph_edit_add_initializer(ed, g, *name, dtype, dims, n_dims, data,
					  c->n_ch * dtype_size(dtype), q->e);
}

/* Notes a node rewritten or replaced: the constants in the slots of mask
 * may go when nothing else reads them. */
static void node_done(struct eq *q, const struct graph *g, uint32_t node, unsigned mask)
{
	q->done[q->n_done].g = g;
	q->done[q->n_done].node = node;
	q->done[q->n_done++].slots = mask;
}

/* BatchNormalization in a scaled region: its input and output scale alike,
 * so its mean and bias become mean / s and bias / s; scale and variance
 * stay. */
static enum cle_status write_bn(struct eq *q, struct graph_edits *ed, uint32_t r,
				const struct cle_rescaled *c)
{
	const struct graph *g = q->p->regions[r].g;
	const struct graph_node *nd = &g->node[c->node];
	const struct graph_const *bias = eq_const(g, nd->in[2]), *mean = eq_const(g, nd->in[3]);
	const char *in[5], *out[8], *name;
	struct graph_node_spec spec;
	enum cle_status st;
	uint32_t i;

	if (nd->n_out > 8)
		return cle_errorf(q->e, CLE_E_INTERNAL, "BatchNormalization with %u outputs", (unsigned)nd->n_out);
	for (i = 0; i < 5; i++)
		in[i] = vname(g, nd->in[i]);
	for (i = 0; i < nd->n_out; i++)
		out[i] = vname(g, nd->out[i]);
	name = nd->name[0] ? nd->name : "bn";
	if ((st = channel_tensor(q, ed, r, c, bias, 0, 1, NULL, bias->dtype, name, &in[2])) != CLE_OK ||
	    (st = channel_tensor(q, ed, r, c, mean, 0, 1, NULL, mean->dtype, name, &in[3])) != CLE_OK)
		return st;
	memset(&spec, 0, sizeof spec);
	spec.n_in = 5;
	spec.in = in;
	spec.n_out = nd->n_out;
	spec.out = out;
	if ((st = graph_edit_replace_node(ed, g, c->node, &spec, q->e)) != CLE_OK)
		return st;
	q->res->bn_rescaled++;
	node_done(q, g, c->node, 1u << 2 | 1u << 3);
	return CLE_OK;
}

/* Clip(x, lo, hi) in a scaled region: Max(x, lo/s) (Relu when lo = 0) then
 * Min(., hi/s), per channel, so the function is kept.  --relu6=relu makes
 * it a Relu, as the reference does. */
static enum cle_status write_clip(struct eq *q, struct graph_edits *ed, uint32_t r,
				  const struct cle_rescaled *c)
{
	const struct cle_region *rg = &q->p->regions[r];
	const struct graph *g = rg->g;
	const struct cle_layer *P = rg->n_producers ? &q->p->layers[rg->producers[0]] : NULL;
	const struct graph_const *b1 = ops_input_const(g, c->node, 1), *b2 = ops_input_const(g, c->node, 2);
	/* the bounds' own type (the tensor's: a Cast may stand between), else the weights' */
	int32_t dtype = b1 ? b1->dtype : b2 ? b2->dtype : P ? eq_const(g, P->w_value)->dtype : GRAPH_FLOAT;
	const struct graph_node *nd = &g->node[c->node];
	const char *x = vname(g, nd->in[0]), *y = vname(g, nd->out[0]); /* the planner lists no other */
	const char *lo_t = NULL, *hi_t = NULL, *mid, *in[2], *out[1];
	uint32_t n_dims = c->rank > 1 ? c->rank - 1 : 1;
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
		node_done(q, g, c->node, 1u << 1 | 1u << 2);
		return CLE_OK;
	}
	if (!scaled || !ops_clip_bounds(g, c->node, &lo, &hi))
		return CLE_OK;
	if (!isfinite(lo) && !isfinite(hi))
		return CLE_OK; /* no bound: the identity, which any scale passes as it is */
	if (isfinite(hi) &&
	    (st = channel_tensor(q, ed, r, c, NULL, hi, n_dims, NULL, dtype, "clip_max", &hi_t)) != CLE_OK)
		return st;
	if (isfinite(lo) && lo != 0 &&
	    (st = channel_tensor(q, ed, r, c, NULL, lo, n_dims, NULL, dtype, "clip_min", &lo_t)) != CLE_OK)
		return st;
	mid = y;
	if (hi_t != NULL && isfinite(lo) && (st = graph_edit_name(ed, g, y, &mid, q->e)) != CLE_OK)
		return st;
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
		if ((st = graph_edit_name(ed, g, nd->name[0] ? nd->name : "clip", &spec.name, q->e)) != CLE_OK ||
		    (st = graph_edit_insert_node(ed, g, c->node, &spec, q->e)) != CLE_OK)
			return st;
	}
	q->res->clips_rewritten++;
	node_done(q, g, c->node, 1u << 1 | 1u << 2);
	return CLE_OK;
}

/* Max, Min, Add or Sub with a constant in a scaled region: the constant
 * becomes c / s per channel (a scalar grows to [C, 1, ...]); the node
 * keeps its op, its other input and its output. */
static enum cle_status write_operand(struct eq *q, struct graph_edits *ed, uint32_t r,
				     const struct cle_rescaled *c)
{
	const struct graph *g = q->p->regions[r].g;
	const struct graph_node *nd = &g->node[c->node];
	uint32_t ks = 1 - c->slot;
	const struct graph_const *k = eq_const(g, nd->in[ks]);
	const char *in[2], *out[1];
	struct graph_node_spec spec;
	enum cle_status st;
	bool scaled = false;
	size_t ch;

	for (ch = 0; ch < c->n_ch; ch++)
		scaled |= q->s[r][c->off + ch] != 1.0;
	if (!scaled)
		return CLE_OK;
	in[c->slot] = vname(g, nd->in[c->slot]);
	out[0] = vname(g, nd->out[0]);
	if (k->count == 1)
		st = channel_tensor(q, ed, r, c, k, 0, c->rank > 1 ? c->rank - 1 : 1, NULL, k->dtype,
				    nd->name[0] ? nd->name : nd->op, &in[ks]);
	else
		st = channel_tensor(q, ed, r, c, k, 0, k->n_dims, k->dims, k->dtype,
				    nd->name[0] ? nd->name : nd->op, &in[ks]);
	if (st != CLE_OK)
		return st;
	memset(&spec, 0, sizeof spec);
	spec.n_in = 2;
	spec.in = in;
	spec.n_out = 1;
	spec.out = out;
	if ((st = graph_edit_replace_node(ed, g, c->node, &spec, q->e)) != CLE_OK)
		return st;
	q->res->consts_rewritten++;
	node_done(q, g, c->node, 1u << ks);
	return CLE_OK;
}

/* Is slot of node in g one whose constant a rewrite replaced? */
static bool replaced(const struct eq *q, const struct graph *g, uint32_t node, uint32_t slot)
{
	uint32_t i;

	for (i = 0; i < q->n_done; i++)
		if (q->done[i].g == g && q->done[i].node == node && slot < 32 &&
		    (q->done[i].slots & (1u << slot)))
			return true;
	return false;
}

/* The constants that rewritten nodes no longer read (Clip bounds, BN mean
 * and bias) leave the file once nothing else reads them: runtimes warn
 * about unused initializers. */
static enum cle_status drop_replaced(struct eq *q, struct graph_edits *ed)
{
	uint32_t i, j, k, slot;
	enum cle_status st;

	for (i = 0; i < q->n_done; i++) {
		const struct graph *g = q->done[i].g;
		const struct graph_node *nd = &g->node[q->done[i].node];

		for (slot = 0; slot < nd->n_in && slot < 32; slot++) {
			uint32_t v = nd->in[slot];
			const struct graph_value *val;
			bool only_replaced = true, seen = false;

			if (v == GRAPH_NONE || !(q->done[i].slots & (1u << slot)))
				continue;
			val = &g->value[v];
			if (val->flags & (GRAPH_IS_OUTER | GRAPH_IS_INPUT | GRAPH_IS_OUTPUT))
				continue;
			for (j = 0; j < val->n_uses && only_replaced; j++)
				only_replaced = val->uses[j].slot != GRAPH_NONE &&
						replaced(q, g, val->uses[j].node, val->uses[j].slot);
			/* dropped already through an earlier node or slot */
			for (j = 0; j <= i && !seen; j++) {
				const struct graph_node *o = &q->done[j].g->node[q->done[j].node];

				for (k = 0; k < o->n_in && k < 32 && !seen; k++)
					seen = q->done[j].g == g && o->in[k] == v && (q->done[j].slots & (1u << k)) &&
					       (j < i || k < slot);
			}
			if (!only_replaced || seen)
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

enum cle_status write_model(struct eq *q, const struct onnx_sink *sink, const struct graph_save *gs)
{
	const struct cle_plan *p = q->p;
	struct graph_edits ed;
	enum cle_status st = CLE_OK;
	uint32_t li, r, n = 0;

	graph_edits_init(&ed, p->gm);
	for (li = 0; li < p->n_layers; li++)
		if (q->ls[li].active && (st = write_layer(q, &ed, li)) != CLE_OK)
			goto fail;
	for (r = 0; r < p->n_regions; r++)
		n += p->regions[r].n_rescaled;
	if ((q->done = eq_alloc(q, n, sizeof *q->done)) == NULL) {
		st = eq_nomem(q);
		goto fail;
	}
	for (r = 0; r < p->n_regions; r++) {
		const struct cle_region *rg = &p->regions[r];
		uint32_t k;

		for (k = 0; q->s[r] != NULL && k < rg->n_rescaled; k++) {
			const struct cle_rescaled *c = &rg->rescaled[k];

			switch (c->kind) {
			case CLE_RESCALE_CLIP:
				st = write_clip(q, &ed, r, c);
				break;
			case CLE_RESCALE_BN:
				st = write_bn(q, &ed, r, c);
				break;
			case CLE_RESCALE_BOUND:
			case CLE_RESCALE_SHIFT:
				st = write_operand(q, &ed, r, c);
				break;
			default: /* Mul, Div: commute as they are */
				break;
			}
			if (st != CLE_OK)
				goto fail;
		}
	}
	if ((st = drop_replaced(q, &ed)) == CLE_OK)
		st = graph_edits_save(&ed, sink, gs, q->e);
fail:
	graph_edits_free(&ed);
	return st;
}
