/* cle_stats.c — data-free statistics for the noise estimate (cle_noise.c):
 * per-channel means and variances carried forward through each graph from
 * unit inputs (BatchNormalization's statistics where the model has them,
 * Gaussian formulas through Relu, Clip, LeakyRelu and PRelu, sums through
 * the layers' weights), then, backwards over the layers, the gain with
 * which noise in each output channel reaches the end of its group: through
 * the consumers' weights (sum of squares) and the activations' gating, and
 * at the end divided by the signal energy there, so that every layer's
 * noise is counted relative to the signal it is heard against.  All in
 * the model's original units: none of it depends on the scales. */
#include "cle_internal.h"

#include <math.h>
#include <string.h>

/* Per-channel moments of one tensor; n == 1 broadcasts (channels unknown).
 * Known moments come from the graph's inputs (taken as unit normal) or a
 * BatchNormalization through ops modelled here; past any other op (Sqrt,
 * Mul, an LSTM, ...) the level and the means are guesses, so from there on
 * only the weights' shape is carried: zero means, variances through the
 * sums of squares, a rectifier halving them. */
struct mom {
	uint32_t n;
	bool known;
	double *mu, *var;
};

/* The forward pass over one graph. */
struct fwd {
	struct eq *q;
	const struct graph *g;
	struct mom *vm;        /* per value */
	uint32_t *layer_of;    /* per node: its layer, GRAPH_NONE */
};

static const struct mom unit_mom = {1, false, (double[]){0.0}, (double[]){1.0}};
static const struct mom input_mom = {1, true, (double[]){0.0}, (double[]){1.0}};

static double phi(double x)
{
	return exp(-0.5 * x * x) * 0.3989422804014327;
}

static double cdf(double x)
{
	return 0.5 * erfc(-x * 0.7071067811865476);
}

/* Partial moments of z ~ N(mu, var) above a: P(z > a), E[z; z > a], E[z^2; z > a]. */
static void above(double mu, double var, double a, double *p, double *m1, double *m2)
{
	double sd = sqrt(var > 0 ? var : 0), t;

	if (a == -HUGE_VAL) {
		*p = 1, *m1 = mu, *m2 = mu * mu + var;
		return;
	}
	if (a == HUGE_VAL) {
		*p = *m1 = *m2 = 0;
		return;
	}
	if (!(sd > 0)) {
		*p = mu > a;
		*m1 = *p * mu;
		*m2 = *p * mu * mu;
		return;
	}
	t = (mu - a) / sd;
	*p = cdf(t);
	*m1 = mu * *p + sd * phi(t);
	*m2 = (mu * mu + var) * *p + sd * (mu + a) * phi(t);
}

/* Moments of clamp(z, lo, hi) for z ~ N(mu, var); slope `leak` below lo
 * when lo == 0 and hi == +inf (LeakyRelu, PRelu). */
static void clamp_moments(double mu, double var, double lo, double hi, double leak,
			  double *m_out, double *v_out)
{
	double plo, m1lo, m2lo, phi_, m1hi, m2hi, e1, e2;

	above(mu, var, lo, &plo, &m1lo, &m2lo);
	above(mu, var, hi, &phi_, &m1hi, &m2hi);
	if (leak != 0) { /* y = z above 0, leak * z below */
		e1 = m1lo + leak * (mu - m1lo);
		e2 = m2lo + leak * leak * (mu * mu + var - m2lo);
	} else {
		e1 = (lo != -HUGE_VAL ? lo * (1 - plo) : 0) + (m1lo - m1hi) + (hi != HUGE_VAL ? hi * phi_ : 0);
		e2 = (lo != -HUGE_VAL ? lo * lo * (1 - plo) : 0) + (m2lo - m2hi) +
		     (hi != HUGE_VAL ? hi * hi * phi_ : 0);
	}
	*m_out = e1;
	*v_out = fmax(e2 - e1 * e1, 0);
}

static enum cle_status mom_alloc(struct eq *q, struct mom *m, uint32_t n, bool known)
{
	m->n = n;
	m->known = known;
	m->mu = eq_alloc(q, n, sizeof *m->mu);
	m->var = eq_alloc(q, n, sizeof *m->var);
	return m->mu != NULL && m->var != NULL ? CLE_OK : eq_nomem(q);
}

/* The moments of value v: unit ones for a graph input, unknown unit ones
 * where nothing is known. */
static const struct mom *mom_of(const struct fwd *f, uint32_t v)
{
	if (v == GRAPH_NONE)
		return &unit_mom;
	if (f->vm[v].n > 0)
		return &f->vm[v];
	return (f->g->value[v].flags & GRAPH_IS_INPUT) ? &input_mom : &unit_mom;
}

/* A constant's moments: per channel when it has one value per channel of
 * n (count n, or n·1·1), else its elements' mean and variance. */
static enum cle_status const_mom(struct eq *q, const struct graph_const *c, struct mom *m)
{
	double sum = 0, sq = 0, x;
	size_t i;
	enum cle_status st;

	if ((st = mom_alloc(q, m, 1, true)) != CLE_OK)
		return st;
	for (i = 0; i < c->count && graph_const_f64(c, i, &x); i++)
		sum += x, sq += x * x;
	if (c->count > 0) {
		m->mu[0] = sum / (double)c->count;
		m->var[0] = fmax(sq / (double)c->count - m->mu[0] * m->mu[0], 0);
	}
	return CLE_OK;
}

/* A layer's output moments: from its weights and the input's, or from the
 * BatchNormalization folded into it. */
static enum cle_status layer_mom(struct fwd *f, uint32_t li, const struct mom *in, struct mom *out)
{
	struct eq *q = f->q;
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	size_t n_in = l->lead_out ? S->n_col : l->d0, i, rep;
	double *mu_in, *var_in, div = 1;
	const int64_t *strides;
	enum cle_status st;
	size_t cnt;

	if ((st = mom_alloc(q, out, (uint32_t)l->c_out, in->known || l->bn != GRAPH_NONE)) != CLE_OK)
		return st;
	mu_in = eq_alloc(q, n_in, sizeof *mu_in);
	var_in = eq_alloc(q, n_in, sizeof *var_in);
	if (mu_in == NULL || var_in == NULL)
		return eq_nomem(q);
	rep = in->n > 1 && n_in % in->n == 0 ? n_in / in->n : 0;
	for (i = 0; i < n_in; i++) {
		size_t c = rep ? i / rep : 0;

		mu_in[i] = in->known ? in->mu[in->n > 1 && rep ? c : 0] : 0;
		var_in[i] = in->var[in->n > 1 && rep ? c : 0];
		S->e_in[i] = mu_in[i] * mu_in[i] + var_in[i];
	}
	if (l->kind == OPS_CONV_TRANSPOSE && graph_attr_ints(&l->g->node[l->node], "strides", &strides, &cnt))
		for (i = 0; i < cnt; i++)
			div *= strides[i] > 0 ? (double)strides[i] : 1.0;
	S->kwin = (double)l->k / div;
	if (l->lead_out)
		kernel_sums(&S->t, mu_in, var_in, out->mu, out->var, NULL, NULL, NULL, NULL);
	else
		kernel_sums(&S->t, NULL, NULL, NULL, NULL, mu_in, var_in, out->mu, out->var);
	for (i = 0; i < l->c_out; i++) {
		double gamma = 0, beta = 0;

		if (l->bn != GRAPH_NONE) { /* the BN's statistics describe its output */
			graph_const_f64(eq_const(l->g, l->g->node[l->bn].in[1]), i, &gamma);
			graph_const_f64(eq_const(l->g, l->g->node[l->bn].in[2]), i, &beta);
			/* noise passes with the gain these moments imply, gamma^2 over
			 * the variance estimated before the BN, not with the running
			 * variance's, which the estimate does not know */
			S->kg[i] = out->var[i] > 0 ? gamma * gamma / out->var[i] : S->kf[i] * S->kf[i];
			out->mu[i] = beta;
			out->var[i] = gamma * gamma;
		} else {
			out->mu[i] = in->known ? out->mu[i] + bias_of(l, i) : 0;
			out->var[i] /= div;
		}
	}
	return CLE_OK;
}

/* Node n's first output from its inputs' moments. */
static enum cle_status node_mom(struct fwd *f, uint32_t n)
{
	const struct graph *g = f->g;
	const struct graph_node *nd = &g->node[n];
	const struct ops_def *d = ops_find(nd);
	struct mom *out = nd->n_out ? &f->vm[nd->out[0]] : NULL;
	const struct mom *x = mom_of(f, nd->n_in ? nd->in[0] : GRAPH_NONE);
	enum cle_status st;
	double lo = 0, hi = HUGE_VAL, leak = 0;
	float fl;
	uint32_t i, j, total;

	if (out == NULL || nd->out[0] == GRAPH_NONE)
		return CLE_OK;
	if (f->layer_of[n] != GRAPH_NONE)
		return layer_mom(f, f->layer_of[n], x, out);
	if (ops_is(nd, "BatchNormalization") && nd->n_in >= 5) {
		const struct graph_const *gam = ops_input_const(g, n, 1), *bet = ops_input_const(g, n, 2);

		/* storage that disagrees with its dims (a model equalized with --allow-invalid)
		 * says nothing, and its dims may claim millions of values: unit moments */
		if (gam == NULL || bet == NULL || !gam->ok || !bet->ok || gam->count != bet->count ||
		    gam->count > UINT32_MAX)
			return CLE_OK;
		if ((st = mom_alloc(f->q, out, (uint32_t)gam->count, true)) != CLE_OK)
			return st;
		for (i = 0; i < gam->count; i++) {
			double a = 0, b = 0;

			graph_const_f64(gam, i, &a);
			graph_const_f64(bet, i, &b);
			out->mu[i] = b;
			out->var[i] = a * a;
		}
		return CLE_OK;
	}
	if (d == NULL)
		return CLE_OK; /* unknown: unit moments */
	if (d->role == OPS_PASS || d->role == OPS_FLATTEN) {
		bool clamp = ops_is(nd, "Relu") || (ops_is(nd, "Clip") && ops_clip_bounds(g, n, &lo, &hi));

		if (ops_is(nd, "LeakyRelu")) {
			fl = 0.01f;
			graph_attr_float(nd, "alpha", &fl);
			leak = (double)fl, clamp = true;
		} else if (ops_is(nd, "PRelu")) { /* the slope's mean */
			const struct graph_const *sl = ops_input_const(g, n, 1);
			struct mom m;

			if (sl != NULL && sl->ok) {
				if ((st = const_mom(f->q, sl, &m)) != CLE_OK)
					return st;
				leak = m.mu[0], clamp = true;
			}
		}
		if ((st = mom_alloc(f->q, out, x->n, x->known)) != CLE_OK)
			return st;
		for (i = 0; i < x->n; i++) {
			if (clamp && !x->known)
				out->mu[i] = 0, out->var[i] = x->var[i] * (0.5 + 0.5 * leak * leak);
			else if (clamp)
				clamp_moments(x->mu[i], x->var[i], leak != 0 ? 0 : lo, hi, leak, &out->mu[i],
					      &out->var[i]);
			else
				out->mu[i] = x->mu[i], out->var[i] = x->var[i];
		}
		return CLE_OK;
	}
	if (d->role == OPS_JOIN && ops_is(nd, "Add")) {
		uint32_t nn = 1;
		bool known = true;

		for (j = 0; j < nd->n_in; j++) {
			nn = mom_of(f, nd->in[j])->n > nn ? mom_of(f, nd->in[j])->n : nn;
			known &= mom_of(f, nd->in[j])->known;
		}
		if ((st = mom_alloc(f->q, out, nn, known)) != CLE_OK)
			return st;
		for (j = 0; j < nd->n_in; j++) {
			const struct mom *y = mom_of(f, nd->in[j]);

			for (i = 0; i < nn && known; i++)
				out->mu[i] += y->mu[y->n > 1 ? (i < y->n ? i : 0) : 0];
			for (i = 0; i < nn; i++)
				out->var[i] += y->var[y->n > 1 ? (i < y->n ? i : 0) : 0];
		}
		return CLE_OK;
	}
	if (d->role == OPS_CONCAT) {
		bool known = true;

		for (j = 0, total = 0; j < nd->n_in; j++) {
			if (mom_of(f, nd->in[j])->n < 2)
				return CLE_OK; /* a part whose channels are unknown */
			total += mom_of(f, nd->in[j])->n;
			known &= mom_of(f, nd->in[j])->known;
		}
		if ((st = mom_alloc(f->q, out, total, known)) != CLE_OK)
			return st;
		for (j = 0, total = 0; j < nd->n_in; j++) {
			const struct mom *y = mom_of(f, nd->in[j]);

			memcpy(out->mu + total, y->mu, y->n * sizeof *y->mu);
			memcpy(out->var + total, y->var, y->n * sizeof *y->var);
			total += y->n;
		}
	}
	return CLE_OK;
}

/* Moments forward through graph g, in topological order; the layers are
 * appended to order[*n_order] as they are met. */
static enum cle_status forward(struct eq *q, const struct graph *g, uint32_t *order_out,
			       uint32_t *n_order)
{
	struct fwd f;
	uint32_t *order, *wait, n, k, i;
	uint8_t *weight;
	enum cle_status st;

	f.q = q;
	f.g = g;
	f.vm = eq_alloc(q, g->n_value, sizeof *f.vm);
	f.layer_of = eq_alloc(q, g->n_node, sizeof *f.layer_of);
	order = eq_alloc(q, g->n_node, sizeof *order);
	wait = eq_alloc(q, g->n_node, sizeof *wait);
	weight = eq_alloc(q, g->n_value, 1);
	if (f.vm == NULL || f.layer_of == NULL || order == NULL || wait == NULL || weight == NULL)
		return eq_nomem(q);
	for (n = 0; n < g->n_node; n++)
		f.layer_of[n] = GRAPH_NONE;
	for (i = 0; i < q->p->n_layers; i++) {
		if (q->p->layers[i].g == g && q->ls[i].active) {
			f.layer_of[q->p->layers[i].node] = i;
			weight[q->p->layers[i].w_value] = 1;
		}
	}
	for (i = 0; i < g->n_value; i++) {
		const struct graph_const *c = graph_resolve(g, i, NULL)->konst;

		/* a layer's weight is read through its layer, never as a tensor's
		 * moments: skipped, they would be one more slow read of every weight */
		if (c != NULL && c->ok && !weight[i] && (st = const_mom(q, c, &f.vm[i])) != CLE_OK)
			return st;
	}
	k = graph_topo_order(g, order, wait);
	for (i = 0; i < k; i++) {
		if ((st = node_mom(&f, order[i])) != CLE_OK)
			return st;
		if (f.layer_of[order[i]] != GRAPH_NONE)
			order_out[(*n_order)++] = f.layer_of[order[i]];
	}
	/* each layer's result (after its folded BN or bias Add, met later) */
	for (n = 0; n < g->n_node; n++) {
		const struct cle_layer *l;
		const struct mom *y;
		struct lstate *S;

		if ((i = f.layer_of[n]) == GRAPH_NONE)
			continue;
		l = &q->p->layers[i];
		S = &q->ls[i];
		y = mom_of(&f, l->out_value);
		for (k = 0; k < l->c_out; k++)
			S->e_out[k] = y->n == l->c_out ? y->mu[k] * y->mu[k] + y->var[k]
						       : y->mu[0] * y->mu[0] + y->var[0];
	}
	return CLE_OK;
}

/* T[c] = sum over outputs o of S2[o][c] kf_o^2 g_o: what noise at input
 * feature c of layer li weighs at the end of its group. */
static enum cle_status back_weights(struct eq *q, uint32_t li, double *t)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	double *w = eq_alloc(q, l->c_out, sizeof *w);
	size_t o;

	if (w == NULL)
		return eq_nomem(q);
	for (o = 0; o < l->c_out; o++)
		w[o] = (S->kg ? S->kg[o] : 1.0) * S->g_out[o];
	if (l->lead_out)
		kernel_sums(&S->t, NULL, NULL, NULL, NULL, NULL, w, NULL, t);
	else
		kernel_sums(&S->t, NULL, w, NULL, t, NULL, NULL, NULL, NULL);
	return CLE_OK;
}

/* Layer li's gains: through the consumers of its output region when that
 * region is balanced, else 1 / the signal energy of its output. */
static enum cle_status gains(struct eq *q, uint32_t li, double *src)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	const struct cle_region *rg;
	double total = 0;
	size_t o, c;
	uint32_t k;

	for (o = 0; o < l->c_out; o++)
		total += S->e_out[o];
	if (l->out_region == GRAPH_NONE || q->s[l->out_region] == NULL) {
		for (o = 0; o < l->c_out; o++)
			S->g_out[o] = total > 0 ? 1.0 / total : 0.0;
		return CLE_OK;
	}
	rg = &q->p->regions[l->out_region];
	for (o = 0; o < l->c_out; o++) {
		S->g_out[o] = 0;
		src[o] = 0;
	}
	/* the energy all producers put into each of l's channels */
	for (k = 0; k < rg->n_producers; k++) {
		const struct cle_layer *P = &q->p->layers[rg->producers[k]];
		const struct lstate *SP = &q->ls[rg->producers[k]];

		for (c = 0; c < P->c_out; c++) {
			size_t ch = P->out_off + c;

			if (ch >= l->out_off && ch < l->out_off + l->c_out)
				src[ch - l->out_off] += SP->e_out[c];
		}
	}
	for (k = 0; k < rg->n_consumers; k++) {
		const struct cle_layer *Q = &q->p->layers[rg->consumers[k]];
		const struct lstate *SQ = &q->ls[rg->consumers[k]];

		if (SQ->t_in == NULL)
			continue; /* not reached (a cycle): its noise stays uncounted here */
		for (c = 0; c < Q->c_in; c++) {
			size_t ch = Q->in_off + c / Q->in_rep;
			double gate;

			if (ch < l->out_off || ch >= l->out_off + l->c_out)
				continue;
			o = ch - l->out_off;
			/* what the path does to energy: a Relu's gating, a BN's gain */
			gate = src[o] > 0 ? SQ->e_in[c] / src[o] : 1.0;
			S->g_out[o] += gate * SQ->t_in[c];
		}
	}
	return CLE_OK;
}

enum cle_status stats_run(struct eq *q)
{
	const struct cle_plan *p = q->p;
	const struct graph_model *gm = p->gm;
	uint32_t *order = eq_alloc(q, p->n_layers, sizeof *order), n_order = 0, i, li;
	size_t most = 1;
	enum cle_status st;
	double *src;

	for (li = 0; li < p->n_layers; li++)
		most = p->layers[li].c_out > most ? p->layers[li].c_out : most;
	if (order == NULL || (src = eq_alloc(q, most, sizeof *src)) == NULL)
		return eq_nomem(q);
	for (li = 0; li < p->n_layers; li++) {
		struct lstate *S = &q->ls[li];

		if (!S->active)
			continue;
		if (p->layers[li].bn != GRAPH_NONE &&
		    (S->kg = eq_alloc(q, p->layers[li].c_out, sizeof *S->kg)) == NULL)
			return eq_nomem(q);
		S->e_in = eq_alloc(q, p->layers[li].c_in, sizeof *S->e_in);
		S->e_out = eq_alloc(q, p->layers[li].c_out, sizeof *S->e_out);
		S->g_out = eq_alloc(q, p->layers[li].c_out, sizeof *S->g_out);
		if (S->e_in == NULL || S->e_out == NULL || S->g_out == NULL)
			return eq_nomem(q);
	}
	for (i = 0; i < gm->n_graphs; i++)
		if ((st = forward(q, gm->graphs[i], order, &n_order)) != CLE_OK)
			return st;
	/* consumers come after their producers in order: gains run backwards */
	for (i = n_order; i-- > 0;) {
		struct lstate *S = &q->ls[order[i]];

		if ((st = gains(q, order[i], src)) != CLE_OK)
			return st;
		if ((S->t_in = eq_alloc(q, p->layers[order[i]].c_in, sizeof *S->t_in)) == NULL)
			return eq_nomem(q);
		if ((st = back_weights(q, order[i], S->t_in)) != CLE_OK)
			return st;
	}
	return CLE_OK;
}
