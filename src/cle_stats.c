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

/* e^x: x = k ln2 + r, |r| <= ln2 / 2, e^r by its Taylor series to r^13
 * (within 2.3e-16 relative of glibc's), times 2^k; 0 below the normal range. */
double stats_exp(double x)
{
	static const double ln2_hi = 0x1.62e42feep-1, ln2_lo = 0x1.a39ef35793c76p-33;
	static const double inv[14] = {0,	   1.0 / 1,  1.0 / 2,  1.0 / 3,  1.0 / 4,
				       1.0 / 5,  1.0 / 6,  1.0 / 7,  1.0 / 8,  1.0 / 9,
				       1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13};
	double k, r, p = 1;
	int i;

	if (!(x < 709.0))
		return x != x ? x : HUGE_VAL;
	if (x < -708.0)
		return 0;
	k = floor(x * 0x1.71547652b82fep0 + 0.5);
	r = (x - k * ln2_hi) - k * ln2_lo;
	for (i = 13; i > 0; i--)
		p = 1 + p * (r * inv[i]);
	return ldexp(p, (int)k);
}

/* erfc(z) for z >= 0: 1 - erf(z) by erf's series of positive terms below 2,
 * the continued fraction above, as deep as z needs (within 2e-13 relative
 * of glibc's; at most 48 terms). */
double stats_erfc(double z)
{
	double t = z, s = z, f = z;
	int n;

	if (z != z)
		return z;
	if (z < 2.0) {
		for (n = 1; n < 500; n++) {
			t *= 2 * z * z / (2 * n + 1);
			s += t;
			if (t <= s * 1e-17)
				break;
		}
		return 1 - 1.1283791670955126 * stats_exp(-z * z) * s;
	}
	for (n = z < 100 ? (int)(160 / (z * z)) + 8 : 8; n > 0; n--)
		f = z + n * 0.5 / f;
	return stats_exp(-z * z) / (1.7724538509055159 * f);
}

/* The cube root (the triplet rule's), by Newton's steps from a linear
 * guess on x's mantissa scaled to [0.5, 4): y -= (y - m / y^2) / 3, six of
 * them (the guess is within 9 %: 8e-3, 6e-5, 4e-9, then the last bits),
 * times 2^(e/3); 0, Inf and NaN as they are.  Within 6e-16 relative of
 * glibc's, which is itself that far off at worst; bench/ref_cle.py takes
 * the same steps in numpy. */
double stats_cbrt(double x)
{
	double m, y;
	int e, k, i;

	if (!(x > 0) || x == HUGE_VAL)
		return x;
	m = frexp(x, &e);
	k = ((e % 3) + 3) % 3;
	m = ldexp(m, k);
	e -= k;
	y = 0.7 + 0.23 * m;
	for (i = 0; i < 6; i++)
		y -= (y - m / (y * y)) / 3.0;
	return ldexp(y, e / 3);
}

static double phi(double x)
{
	return stats_exp(-0.5 * x * x) * 0.3989422804014327;
}

/* P(Z <= x), Z standard normal. */
static double cdf(double x)
{
	double q = stats_erfc(fabs(x) * 0.7071067811865476);

	return x < 0 ? 0.5 * q : 1 - 0.5 * q;
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
	st = l->lead_out ? stats_sums(q, li, 0, mu_in, var_in, out->mu, out->var, NULL, NULL, NULL, NULL)
			 : stats_sums(q, li, 0, NULL, NULL, NULL, NULL, mu_in, var_in, out->mu, out->var);
	if (st != CLE_OK)
		return st;
	for (i = 0; i < l->c_out; i++) {
		double gamma = 0, beta = 0, ka = 1, ta;

		if (S->kg != NULL) /* the folded Mul nodes' gain (cle_bias.c), met by the forward pass later */
			bias_affine(l, i, &ka, &ta);
		if (l->bn != GRAPH_NONE) { /* the BN's statistics describe its output */
			graph_const_f64(eq_const(l->g, l->g->node[l->bn].in[1]), i, &gamma);
			graph_const_f64(eq_const(l->g, l->g->node[l->bn].in[2]), i, &beta);
			/* noise passes with the gain these moments imply, gamma^2 over
			 * the variance estimated before the BN, not with the running
			 * variance's, which the estimate does not know */
			S->kg[i] = out->var[i] > 0 ? gamma * gamma / out->var[i] * ka * ka : S->kf[i] * S->kf[i];
			out->mu[i] = beta;
			out->var[i] = gamma * gamma;
		} else {
			if (S->kg != NULL)
				S->kg[i] = ka * ka;
			out->mu[i] = in->known ? out->mu[i] + bias_of(l, i) : 0;
			out->var[i] /= div;
		}
	}
	return CLE_OK;
}

/* Node n, an elementwise op with constant c (Add, Sub, Mul, Div, Max,
 * Min), on x: shifted, scaled or clamped moments, channel by channel
 * where c has one value per channel of x, else with c's mean. */
static enum cle_status const_op_mom(struct fwd *f, uint32_t n, const struct mom *x,
				    const struct graph_const *c, struct mom *out)
{
	const struct graph_node *nd = &f->g->node[n];
	bool first = ops_const_slot(f->g, n) == 0;
	enum cle_status st;
	struct mom cm;
	uint32_t i;

	if (!c->ok)
		return CLE_OK;
	if ((st = const_mom(f->q, c, &cm)) != CLE_OK || (st = mom_alloc(f->q, out, x->n, x->known)) != CLE_OK)
		return st;
	for (i = 0; i < x->n; i++) {
		double v = cm.mu[0], mu = x->mu[i], var = x->var[i];

		if (x->n > 1 && c->count == x->n)
			graph_const_f64(c, i, &v);
		if (ops_is(nd, "Mul") || ops_is(nd, "Div")) {
			double a = ops_is(nd, "Mul") ? v : v != 0 ? 1 / v : 0;

			out->mu[i] = a * mu, out->var[i] = a * a * var;
		} else if (ops_is(nd, "Add") || ops_is(nd, "Sub")) {
			out->mu[i] = ops_is(nd, "Add") ? mu + v : first ? v - mu : mu - v;
			out->var[i] = var;
		} else if (!x->known) { /* a clamp of a level not known: halve as a rectifier does */
			out->mu[i] = 0, out->var[i] = 0.5 * var;
		} else if (ops_is(nd, "Max")) {
			clamp_moments(mu, var, v, HUGE_VAL, 0, &out->mu[i], &out->var[i]);
		} else {
			clamp_moments(mu, var, -HUGE_VAL, v, 0, &out->mu[i], &out->var[i]);
		}
		if (!x->known)
			out->mu[i] = 0;
	}
	return CLE_OK;
}

/* Node n's first output from its inputs' moments. */
static enum cle_status node_mom(struct fwd *f, uint32_t n)
{
	const struct graph *g = f->g;
	const struct graph_node *nd = &g->node[n];
	const struct ops_def *d = ops_find(nd);
	struct mom *out;
	uint32_t ds = ops_data_slot(g, n), cs;
	const struct mom *x = mom_of(f, nd->n_in > ds ? nd->in[ds] : GRAPH_NONE);
	enum cle_status st;
	double lo = 0, hi = HUGE_VAL, leak = 0;
	float fl;
	uint32_t i, j, total;

	if (nd->n_out == 0 || nd->out[0] == GRAPH_NONE)
		return CLE_OK;
	/* a node that reads what it writes (not valid ONNX; --allow-invalid lets
	 * it through) would read its inputs' moments after replacing them */
	for (j = 0; j < nd->n_in; j++)
		if (nd->in[j] == nd->out[0])
			return CLE_OK;
	out = &f->vm[nd->out[0]];
	if (f->layer_of[n] != GRAPH_NONE)
		return layer_mom(f, f->layer_of[n], x, out);
	if (d != NULL && (d->flags & (OPS_CONST | OPS_GAIN)) && (cs = ops_const_slot(g, n)) != GRAPH_NONE)
		return const_op_mom(f, n, x, ops_input_const(g, n, cs), out);
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

/* A copy of the n doubles at x in the run's arena (NULL stays NULL); *ok
 * turns false when out of memory. */
static double *memo_copy(struct eq *q, const double *x, size_t n, bool *ok)
{
	double *c;

	if (x == NULL)
		return NULL;
	if ((c = eq_alloc(q, n, sizeof *c)) == NULL) {
		*ok = false;
		return NULL;
	}
	memcpy(c, x, n * sizeof *c);
	return c;
}

/* Does the memo hold a call with these inputs (the same values, the same
 * ones given) and these outputs asked for? */
static bool memo_same(const struct sums_memo *m, const double *const in[4], double *const out[4],
		      const size_t n[4])
{
	int i;

	for (i = 0; i < 4; i++) {
		if ((m->in[i] == NULL) != (in[i] == NULL) || (m->out[i] == NULL) != (out[i] == NULL))
			return false;
		if (in[i] != NULL && memcmp(m->in[i], in[i], n[i] * sizeof *in[i]) != 0)
			return false;
	}
	return true;
}

enum cle_status stats_sums(struct eq *q, uint32_t li, int which, const double *b1,
			   const double *b2, double *r1, double *r2, const double *a1,
			   const double *a2, double *c1, double *c2)
{
	struct lstate *S = &q->ls[li];
	const double *const in[4] = {b1, b2, a1, a2};
	double *const out[4] = {r1, r2, c1, c2};
	const size_t n[4] = {S->n_col, S->n_col, S->t.d0, S->t.d0};
	const size_t n_out[4] = {S->t.d0, S->t.d0, S->n_col, S->n_col};
	struct sums_memo *m = &S->memo[which];
	bool ok = true;
	int i;

	if (S->prior != NULL && S->prior->memo[which].set && memo_same(&S->prior->memo[which], in, out, n)) {
		for (i = 0; i < 4; i++)
			if (out[i] != NULL)
				memcpy(out[i], S->prior->memo[which].out[i], n_out[i] * sizeof *out[i]);
	} else {
		kernel_sums(&S->t, b1, b2, r1, r2, a1, a2, c1, c2);
	}
	for (i = 0; i < 4; i++) { /* per channel: small beside the weights */
		m->in[i] = memo_copy(q, in[i], n[i], &ok);
		m->out[i] = memo_copy(q, out[i], n_out[i], &ok);
	}
	m->set = ok;
	return ok ? CLE_OK : eq_nomem(q);
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
		return stats_sums(q, li, 1, NULL, NULL, NULL, NULL, NULL, w, NULL, t);
	return stats_sums(q, li, 1, NULL, w, NULL, t, NULL, NULL, NULL, NULL);
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
		if (S->kf != NULL && (S->kg = eq_alloc(q, p->layers[li].c_out, sizeof *S->kg)) == NULL)
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

/* ---- float16 limits ------------------------------------------------------------ */

/* log2 of the value of float16 h's lowest set bit; QE_ZERO for zero (and
 * Inf, NaN).  h / 2^k is exact while that bit stays at or above 2^-24, the
 * smallest subnormal. */
static int f16_quantum(uint16_t h)
{
	unsigned e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
	int z = 0;

	if (e == 31 || (e == 0 && m == 0))
		return QE_ZERO;
	if (e != 0)
		m |= 0x400u;
	while (!(m & 1u))
		m >>= 1, z++;
	return z + (e == 0 ? -24 : (int)e - 25);
}

/* Channel c of a half region scales float16 value v to v / s: keep it
 * finite and every bit of it (above 2^-24: it may not lose bits in the
 * subnormals). */
static void cap_value(struct eq *q, uint32_t r, size_t c, double v)
{
	int qe;

	if (!(fabs(v) > 0) || !isfinite(v))
		return;
	q->cap_lo[r][c] = fmax(q->cap_lo[r][c], fabs(v) / F16_MAX);
	if ((qe = f16_quantum(kernel_f64_to_f16(v))) != QE_ZERO)
		q->cap_hi[r][c] = fmin(q->cap_hi[r][c], ldexp(1.0, qe + 24));
}

/* Layer li's float16 weights: the least lowest-set-bit exponent over each
 * [d0][d1] window into S->qe. */
static enum cle_status weight_quanta(struct eq *q, uint32_t li)
{
	struct lstate *S = &q->ls[li];
	const struct kernel_tensor *t = &S->t;
	size_t n = t->d0 * t->d1, i, kk;

	if ((S->qe = eq_alloc(q, n ? n : 1, 1)) == NULL)
		return eq_nomem(q);
	for (i = 0; i < n; i++) {
		int least = QE_ZERO;

		for (kk = 0; kk < t->k; kk++) {
			uint16_t h;
			int e;

			memcpy(&h, t->p + 2 * (i * t->k + kk), 2);
			if ((e = f16_quantum(h)) != QE_ZERO && (least == QE_ZERO || e < least))
				least = e;
		}
		S->qe[i] = (int8_t)least;
	}
	return CLE_OK;
}

void stats_half_quanta(struct eq *q, uint32_t r, double *lo, double *hi)
{
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t k;

	if (q->cap_lo == NULL || q->cap_lo[r] == NULL)
		return;
	for (k = 0; k < rg->n_producers + rg->n_consumers; k++) {
		bool prod = k < rg->n_producers;
		uint32_t li = prod ? rg->producers[k] : rg->consumers[k - rg->n_producers];
		const struct cle_layer *l = &q->p->layers[li];
		const struct lstate *S = &q->ls[li];
		size_t per = l->d0 / l->groups, i, j;

		if (S->qe == NULL)
			continue;
		for (i = 0; i < l->d0; i++)
			for (j = 0; j < l->d1; j++) {
				int e = S->qe[i * l->d1 + j];
				size_t col = (i / per) * l->d1 + j;
				size_t o = l->lead_out ? i : col, c = l->lead_out ? col : i;
				double kf = S->kf ? fabs(S->kf[o]) : 1.0, x;

				if (e == QE_ZERO || !(kf > 0))
					continue;
				if (prod) { /* w kf s_in / s: s <= 2^24 2^e kf s_in */
					x = ldexp(kf * eq_in_scale(q, l, c), e + 24);
					hi[l->out_off + o] = fmin(hi[l->out_off + o], x);
				} else { /* w kf s / s_out: s >= 2^-24 2^-e s_out / kf */
					x = ldexp(eq_out_scale(q, l, o) / kf, -24 - e);
					lo[l->in_off + c / l->in_rep] = fmax(lo[l->in_off + c / l->in_rep], x);
				}
			}
	}
}

/* The float16 constants of rescaled node k of region r (Clip bounds, a
 * kept BatchNormalization's mean and bias, a Max/Min/Add/Sub constant),
 * each divided by its channel's scale when the region is scaled. */
static void cap_rescaled(struct eq *q, uint32_t r, const struct cle_rescaled *k, int32_t wtype)
{
	const struct cle_region *rg = &q->p->regions[r];
	const struct graph *g = rg->g;
	const struct graph_const *c[2] = {NULL, NULL};
	double lo, hi, x;
	size_t ch;
	int i;

	switch (k->kind) {
	case CLE_RESCALE_CLIP:
		if (!ops_clip_bounds(g, k->node, &lo, &hi))
			return;
		c[0] = ops_input_const(g, k->node, 1);
		c[1] = ops_input_const(g, k->node, 2);
		/* opset 6's attribute bounds take the tensor's type, as the producer's weights have it */
		if ((c[0] ? c[0]->dtype : c[1] ? c[1]->dtype : wtype) != GRAPH_FLOAT16)
			return;
		for (ch = 0; ch < k->n_ch; ch++) {
			if (isfinite(lo) && lo != 0)
				cap_value(q, r, k->off + ch, lo);
			if (isfinite(hi))
				cap_value(q, r, k->off + ch, hi);
		}
		return;
	case CLE_RESCALE_BN:
		c[0] = ops_input_const(g, k->node, 2);
		c[1] = ops_input_const(g, k->node, 3);
		break;
	case CLE_RESCALE_BOUND:
	case CLE_RESCALE_SHIFT:
		c[0] = ops_input_const(g, k->node, 1 - k->slot);
		break;
	default:
		return;
	}
	for (i = 0; i < 2; i++)
		for (ch = 0; c[i] != NULL && c[i]->dtype == GRAPH_FLOAT16 && ch < k->n_ch; ch++)
			if (graph_const_f64(c[i], c[i]->count == 1 ? 0 : ch, &x))
				cap_value(q, r, k->off + ch, x);
}

/* Peak over rms of an activation, for the largest value a channel's
 * estimate allows (the estimate knows energies, not maxima). */
#define ACT_PEAK 16.0

enum cle_status stats_half_caps(struct eq *q)
{
	const struct cle_plan *p = q->p;
	enum cle_status st;
	uint32_t r, k;
	size_t c;

	if (p->cfg.reference) /* the reference clamps nothing, as AIMET does not */
		return CLE_OK;
	q->cap_lo = eq_alloc(q, p->n_regions + 1, sizeof *q->cap_lo);
	q->cap_hi = eq_alloc(q, p->n_regions + 1, sizeof *q->cap_hi);
	q->cap_hit = eq_alloc(q, p->n_regions + 1, sizeof *q->cap_hit);
	if (q->cap_lo == NULL || q->cap_hi == NULL || q->cap_hit == NULL)
		return eq_nomem(q);
	for (r = 0; r < p->n_regions; r++) {
		const struct cle_region *rg = &p->regions[r];
		int32_t wtype = GRAPH_FLOAT;

		if (q->s[r] == NULL || !rg->half)
			continue;
		q->cap_lo[r] = eq_alloc(q, rg->n_ch, sizeof(double));
		q->cap_hi[r] = eq_alloc(q, rg->n_ch, sizeof(double));
		q->cap_hit[r] = eq_alloc(q, rg->n_ch, 1);
		if (q->cap_lo[r] == NULL || q->cap_hi[r] == NULL || q->cap_hit[r] == NULL)
			return eq_nomem(q);
		for (c = 0; c < rg->n_ch; c++)
			q->cap_hi[r][c] = HUGE_VAL;
		for (k = 0; k < rg->n_producers; k++) {
			const struct cle_layer *l = &p->layers[rg->producers[k]];
			const struct lstate *S = &q->ls[rg->producers[k]];
			const struct graph_const *bc = l->b_value != GRAPH_NONE ? eq_const(l->g, l->b_value) : NULL;
			/* a new bias takes the weights' type */
			bool half_bias = (bc ? bc->dtype : eq_const(l->g, l->w_value)->dtype) == GRAPH_FLOAT16;
			size_t o;

			if (S->t.dt == KERNEL_F16)
				wtype = GRAPH_FLOAT16;
			if (S->t.dt == KERNEL_F16 && S->qe == NULL && (st = weight_quanta(q, rg->producers[k])) != CLE_OK)
				return st;
			for (o = 0; o < l->c_out; o++) {
				if (half_bias)
					cap_value(q, r, l->out_off + o, bias_folded(l, o));
				/* the activation: its estimated peak stays finite, its rms normal */
				if (S->e_out != NULL && S->e_out[o] > 0) {
					double rms = sqrt(S->e_out[o]);

					q->cap_lo[r][l->out_off + o] = fmax(q->cap_lo[r][l->out_off + o],
									    ACT_PEAK * rms / F16_MAX);
					q->cap_hi[r][l->out_off + o] = fmin(q->cap_hi[r][l->out_off + o],
									    rms / F16_MIN_NORMAL);
				}
			}
		}
		for (k = 0; k < rg->n_consumers; k++)
			if (q->ls[rg->consumers[k]].t.dt == KERNEL_F16 && q->ls[rg->consumers[k]].qe == NULL &&
			    (st = weight_quanta(q, rg->consumers[k])) != CLE_OK)
				return st;
		for (k = 0; k < rg->n_rescaled; k++)
			cap_rescaled(q, r, &rg->rescaled[k], wtype);
		for (c = 0; c < rg->n_ch; c++) { /* the model as it is stays allowed */
			q->cap_lo[r][c] = fmin(q->cap_lo[r][c], 1.0);
			q->cap_hi[r][c] = fmax(q->cap_hi[r][c], 1.0);
		}
	}
	return CLE_OK;
}
