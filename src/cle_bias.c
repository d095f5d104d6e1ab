/* cle_bias.c — the biases a run writes: BatchNormalization folded into
 * the layer before it (k = gamma / sqrt(var + eps), b' = beta + k (b - mu)),
 * the constant Mul/Add nodes after it folded (b'' = a b' + c), output
 * scales applied, and high-bias absorption (c = max(0, beta' -
 * 3|gamma'|) moved from a producer into its consumers' biases).  See
 * cle_internal.h. */
#include "cle_internal.h"

#include <math.h>
#include <string.h>

bool bias_bn_factors(const struct graph *g, uint32_t bn, size_t n, double *k)
{
	const struct graph_const *gamma = eq_const(g, g->node[bn].in[1]);
	const struct graph_const *var = eq_const(g, g->node[bn].in[4]);
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

void bias_affine(const struct cle_layer *l, size_t o, double *k, double *t)
{
	const struct graph *g = l->g;
	uint32_t i;

	*k = 1;
	*t = 0;
	for (i = 0; i < l->n_affine; i++) {
		uint32_t n = l->affine[i], cs = ops_const_slot(g, n);
		const struct graph_const *c = eq_const(g, g->node[n].in[cs]);
		const char *op = g->node[n].op;
		double v = 0;

		graph_const_f64(c, c->count == 1 ? 0 : o, &v);
		if (strcmp(op, "Mul") == 0)
			*k *= v, *t *= v;
		else if (strcmp(op, "Div") == 0)
			*k /= v, *t /= v;
		else if (strcmp(op, "Add") == 0)
			*t += v;
		else if (cs == 1) /* Sub(y, c) */
			*t -= v;
		else /* Sub(c, y) */
			*k = -*k, *t = v - *t;
	}
}

/* Layer li's bias as it will be, before high-bias absorption, into
 * S->bias: BN folded in, output scales applied.  In "effective" units
 * (Gemm: beta * C). */
double bias_of(const struct cle_layer *l, size_t o)
{
	const struct graph_const *bc = l->b_value != GRAPH_NONE ? eq_const(l->g, l->b_value) : NULL;
	float beta = 1.0f;
	double b = 0;

	if (bc == NULL || !graph_const_f64(bc, bc->count == 1 ? 0 : o, &b))
		return 0;
	if (l->kind == OPS_GEMM)
		graph_attr_float(&l->g->node[l->node], "beta", &beta);
	return b * (double)beta;
}

double bias_folded(const struct cle_layer *l, size_t o)
{
	const struct graph *g = l->g;
	double b = bias_of(l, o), bn_b = 0, mu = 0, gamma = 0, var = 0, k, t;
	float eps = 1e-5f;

	if (l->bn != GRAPH_NONE) {
		graph_attr_float(&g->node[l->bn], "epsilon", &eps);
		graph_const_f64(eq_const(g, g->node[l->bn].in[1]), o, &gamma);
		graph_const_f64(eq_const(g, g->node[l->bn].in[2]), o, &bn_b);
		graph_const_f64(eq_const(g, g->node[l->bn].in[3]), o, &mu);
		graph_const_f64(eq_const(g, g->node[l->bn].in[4]), o, &var);
		b = bn_b + gamma / sqrt(var + (double)eps) * (b - mu);
	}
	bias_affine(l, o, &k, &t);
	return k * b + t;
}

static enum cle_status start_bias(struct eq *q, uint32_t li)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	size_t o;

	if ((S->bias = eq_alloc(q, l->c_out, sizeof(double))) == NULL)
		return eq_nomem(q);
	for (o = 0; o < l->c_out; o++)
		S->bias[o] = bias_folded(l, o) / eq_out_scale(q, l, o);
	return CLE_OK;
}

enum cle_status bias_layer(struct eq *q, uint32_t li)
{
	const struct cle_layer *l = &q->p->layers[li];
	bool scaled = false, adds = false;
	uint32_t i;
	size_t o;

	for (o = 0; o < l->c_out; o++)
		scaled |= eq_out_scale(q, l, o) != 1.0;
	for (i = 0; i < l->n_affine; i++)
		adds |= ops_is(&l->g->node[l->affine[i]], "Add") || ops_is(&l->g->node[l->affine[i]], "Sub");
	/* no bias, and nothing that adds one (a MatMul with Mul after it has none to take) */
	if (l->b_value == GRAPH_NONE && l->bn == GRAPH_NONE && !adds)
		return CLE_OK;
	if (l->bn == GRAPH_NONE && l->n_affine == 0 && !scaled)
		return CLE_OK;
	return start_bias(q, li);
}

/* Conv without zero padding: shifting its input by a constant shifts its
 * output by a constant everywhere. */
static bool unpadded(const struct cle_layer *l)
{
	const struct graph_node *n = &l->g->node[l->node];
	const int64_t *pads;
	size_t cnt, i;

	if (l->kind != OPS_CONV)
		return l->kind != OPS_CONV_TRANSPOSE;
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
enum cle_status bias_absorb_high(struct eq *q, uint32_t r)
{
	struct cle_plan *p = q->p;
	const struct cle_region *rg = &p->regions[r];
	const struct cle_layer *P;
	struct lstate *SP;
	enum cle_status st;
	double *c;
	size_t o, i, j, s;
	uint32_t k;
	bool any = false;

	if (!p->cfg.hbf || q->s[r] == NULL || rg->n_producers != 1 || rg->relu == GRAPH_NONE ||
	    !rg->hbf_path || rg->n_rescaled != 0)
		return CLE_OK;
	P = &p->layers[rg->producers[0]];
	SP = &q->ls[rg->producers[0]];
	if (P->bn == GRAPH_NONE || SP->bias == NULL || P->n_affine > 0) /* beta, gamma: before the affine */
		return CLE_OK;
	for (k = 0; k < rg->n_consumers; k++) {
		const struct cle_layer *Q = &p->layers[rg->consumers[k]];

		if ((!unpadded(Q) && !p->cfg.reference) || Q->kind == OPS_CONV_TRANSPOSE ||
		    (Q->kind == OPS_MATMUL && Q->bias_add == GRAPH_NONE))
			return eq_note(q, rg->producers[0], Q->kind == OPS_MATMUL
				       ? "high-bias absorption skipped: a consumer has no bias"
				       : "high-bias absorption skipped: a consumer pads with zeros, where it "
					 "would not be exact");
	}
	c = eq_alloc(q, rg->n_ch, sizeof(double));
	if (c == NULL)
		return eq_nomem(q);
	for (o = 0; o < P->c_out; o++) {
		double beta, gamma, sc = eq_out_scale(q, P, o);

		graph_const_f64(eq_const(P->g, P->g->node[P->bn].in[2]), o, &beta);
		graph_const_f64(eq_const(P->g, P->g->node[P->bn].in[1]), o, &gamma);
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

		if (SQ->bias == NULL && (st = start_bias(q, qi)) != CLE_OK)
			return st;
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

