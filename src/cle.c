/* cle.c — cle_equalize: one run over a plan.  Read every weight once,
 * balance, fold and absorb biases, measure, write (see cle_internal.h for
 * the files each step lives in). */
#include "cle_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_io.h"

void cle_config_init(struct cle_config *c)
{
	memset(c, 0, sizeof *c);
	c->hbf = false; /* an approximation that depends on the inputs: asked for with --hbf */
	c->relu6 = CLE_RELU6_EXACT;
	c->max_rounds = 0; /* the objective's own: cle_round_limit */
	c->tolerance = 1e-4;
}

int cle_round_limit(const struct cle_config *c)
{
	if (c->max_rounds > 0)
		return c->max_rounds;
	return c->objective == CLE_OBJECTIVE_BALANCE ? 1000 : 50;
}

/* Reads spec (cle_strength_of's form); *named: region r's own entry, else
 * the entry for every region, else 1.  False when spec does not read so,
 * or (p not NULL) names a region p cannot scale: *stray, else UINT32_MAX. */
static bool strength_scan(const char *spec, uint32_t r, double *named, const struct cle_plan *p,
			  unsigned long *stray)
{
	double all = 1, own = -1;

	while (*spec != '\0') {
		const char *colon = strchr(spec, ':'), *comma = strchr(spec, ',');
		char *end;
		unsigned long region = 0;
		double a;
		bool keyed = colon != NULL && (comma == NULL || colon < comma);

		if (keyed) {
			if (*spec < '0' || *spec > '9')
				return false;
			region = strtoul(spec, &end, 10);
			if (end != colon || region >= UINT32_MAX)
				return false;
			if (p != NULL && (region >= p->n_regions || !cle_region_open(p, (uint32_t)region))) {
				*stray = region;
				return false;
			}
			spec = colon + 1;
		}
		if (*spec == '\0' || *spec == ',' || *spec == ' ')
			return false;
		a = strtod(spec, &end);
		if (!(a >= 0 && a <= CLE_STRENGTH_MAX) || (*end != ',' && *end != '\0'))
			return false;
		if (!keyed)
			all = a;
		else if (region == r)
			own = a;
		spec = *end == ',' ? end + 1 : end;
		if (*end == ',' && *spec == '\0')
			return false;
	}
	*named = own >= 0 ? own : all;
	return true;
}

bool cle_strength_valid(const char *spec)
{
	double a;

	return spec[0] != '\0' && strength_scan(spec, 0, &a, NULL, NULL);
}

double cle_strength_of(const char *spec, uint32_t r)
{
	double a = 1;

	if (spec != NULL && !strength_scan(spec, r, &a, NULL, NULL))
		a = 1;
	return a;
}

enum cle_status cle_strength_check(const struct cle_plan *p, struct cle_error *e)
{
	unsigned long stray = UINT32_MAX;
	double a;

	if (p->cfg.strength == NULL || strength_scan(p->cfg.strength, 0, &a, p, &stray))
		return CLE_OK;
	return cle_errorf(e, CLE_E_USAGE,
			  "--strength names region %lu, which this model has not among the regions it can "
			  "scale (the JSON report's output_region and input_region number them)",
			  stray);
}

enum cle_status eq_nomem(struct eq *q)
{
	return cle_errorf(q->e, CLE_E_NOMEM, "out of memory equalizing the model");
}

void *eq_alloc(struct eq *q, size_t count, size_t size)
{
	return cle_arena_calloc(&q->run, count, size);
}

bool eq_progress(struct eq *q, const char *stage, double fraction)
{
	return q->progress == NULL || q->progress(q->progress_ud, stage, fraction);
}

const struct graph_const *eq_const(const struct graph *g, uint32_t v)
{
	return graph_resolve(g, v, NULL)->konst;
}

double eq_region_scale(const struct eq *q, uint32_t r, size_t ch)
{
	return r != GRAPH_NONE && q->s[r] != NULL ? q->s[r][ch] : 1.0;
}

double eq_out_scale(const struct eq *q, const struct cle_layer *l, size_t o)
{
	return eq_region_scale(q, l->out_region, l->out_off + o);
}

double eq_in_scale(const struct eq *q, const struct cle_layer *l, size_t c)
{
	return eq_region_scale(q, l->in_region, l->in_off + c / l->in_rep);
}

bool eq_half(const struct eq *q)
{
	uint32_t i;

	for (i = 0; i < q->p->n_layers; i++)
		if (q->ls[i].active && q->ls[i].t.dt == KERNEL_F16)
			return true;
	return false;
}

bool eq_pow2(const struct eq *q)
{
	/* float16 weights: powers of two rescale them exactly */
	return q->p->cfg.pow2 || (!q->p->cfg.reference && eq_half(q));
}

double eq_pow2_round(double s)
{
	return ldexp(1.0, (int)lround(log2(s)));
}

double eq_max_scale(const struct eq *q)
{
	const struct cle_config *cfg = &q->p->cfg;

	if (cfg->max_scale > 0)
		return cfg->max_scale;
	if (cfg->objective == CLE_OBJECTIVE_BALANCE)
		return cfg->reference ? 0 : 1e4; /* the reference has no clamp */
	/* float16: a scale may not push values out of its range; float32: far
	 * inside its range, clear of its subnormals */
	return eq_half(q) ? 256 : 1e12;
}

void eq_half_window(const struct eq *q, uint32_t r, size_t c, double xp, double xq, double s_now,
		    double *lo, double *hi)
{
	double a, b;

	if (q->cap_lo == NULL || q->cap_lo[r] == NULL)
		return;
	a = fmax(*lo, q->cap_lo[r][c]);
	b = fmin(*hi, q->cap_hi[r][c]);
	if (xp > 0) /* a producer's row divides by s */
		a = fmax(a, xp / F16_MAX);
	if (xq > 0) /* a consumer's column multiplies by s */
		b = fmin(b, F16_MAX / xq);
	*lo = fmin(a, s_now);
	*hi = fmax(b, s_now);
}

double eq_pow2_within(double s, double lo, double hi)
{
	double c[3];
	int i;

	c[0] = eq_pow2_round(s);
	c[1] = ldexp(1.0, (int)floor(log2(hi)));
	c[2] = ldexp(1.0, (int)ceil(log2(lo)));
	for (i = 0; i < 3; i++)
		if (c[i] >= lo && c[i] <= hi)
			return c[i];
	return s;
}

enum cle_status eq_note(struct eq *q, uint32_t li, const char *why)
{
	if ((q->res->layers[li].note = cle_arena_strdup(&q->p->arena, why)) == NULL)
		return eq_nomem(q);
	return CLE_OK;
}

/* ---- the steps -------------------------------------------------------------- */

/* Layer li's weights in the prior run, read as this run reads them (the
 * same tensor, shape and grouping): its state there, or NULL. */
static const struct lstate *prior_layer(const struct eq *q, uint32_t li)
{
	const struct cle_layer *l = &q->p->layers[li];
	const struct cle_plan *pp;
	uint32_t n, i, k;

	if (q->prior == NULL)
		return NULL;
	pp = q->prior->p;
	n = pp->n_layers;
	for (k = 0; k < n; k++) {
		const struct cle_layer *x;

		i = (li + k) % n; /* the plans list the layers alike: li first */
		x = &pp->layers[i];
		if (x->g == l->g && x->w_value == l->w_value && x->d0 == l->d0 && x->d1 == l->d1 &&
		    x->k == l->k && x->groups == l->groups && q->prior->ls[i].active)
			return &q->prior->ls[i];
	}
	return NULL;
}

/* Reads a layer's weights once: abs-max over k, BN factors, first ranges. */
static enum cle_status read_layer(struct eq *q, uint32_t li)
{
	struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	const struct graph_const *w;
	enum cle_status st;
	size_t bad;

	if (l->why != NULL)
		return CLE_OK;
	w = eq_const(l->g, l->w_value);
	S->q = q;
	S->t.p = w->data;
	S->t.dt = w->dtype == GRAPH_FLOAT16 ? KERNEL_F16 : KERNEL_F32;
	S->esize = w->dtype == GRAPH_FLOAT16 ? 2 : 4;
	S->t.d0 = l->d0;
	S->t.d1 = l->d1;
	S->t.k = l->k;
	S->t.groups = l->groups;
	S->n_col = l->groups * l->d1;
	S->a = eq_alloc(q, l->d0, sizeof(float));
	S->r0 = eq_alloc(q, l->d0, sizeof(float));
	S->b = eq_alloc(q, S->n_col, sizeof(float));
	S->r1 = eq_alloc(q, S->n_col, sizeof(float));
	S->fa = eq_alloc(q, l->d0, sizeof(double));
	S->fb = eq_alloc(q, S->n_col, sizeof(double));
	S->rout0 = eq_alloc(q, l->c_out, sizeof(float));
	if (!S->a || !S->r0 || !S->b || !S->r1 || !S->fa || !S->fb || !S->rout0)
		return eq_nomem(q);
	S->rout = l->lead_out ? S->r0 : S->r1;
	S->rin = l->lead_out ? S->r1 : S->r0;
	S->prior = prior_layer(q, li);
	if (l->k > 1 && S->prior != NULL && S->prior->m != NULL) {
		S->m = S->prior->m; /* read only from here on; finite, or the prior run had no layer */
		bad = 0;
	} else if (l->k > 1) {
		S->m = eq_alloc(q, l->d0 * l->d1, sizeof(float));
		if (S->m == NULL)
			return eq_nomem(q);
		bad = kernel_absmax_reduce(&S->t, S->m);
	} else if (S->prior != NULL) {
		bad = 0; /* counted there */
	} else {
		/* |w| is read in place each time; count non-finite values once */
		bad = kernel_scale(&S->t, NULL, NULL, 0, l->d0 * l->d1, NULL, NULL);
	}
	if (bad != 0)
		return eq_note(q, li, "its weights contain NaN or Inf values; left as is");
	if (l->bn != GRAPH_NONE || l->n_affine > 0) {
		size_t o;

		S->kf = eq_alloc(q, l->c_out, sizeof(double));
		if (S->kf == NULL)
			return eq_nomem(q);
		for (o = 0; o < l->c_out; o++)
			S->kf[o] = 1.0;
		if (l->bn != GRAPH_NONE && !bias_bn_factors(l->g, l->bn, l->c_out, S->kf)) {
			S->kf = NULL;
			return eq_note(q, li, "its BatchNormalization has a variance at or below "
					   "-epsilon; left as is");
		}
		for (o = 0; o < l->c_out; o++) { /* the Mul and Div nodes folded after it */
			double k, t;

			bias_affine(l, o, &k, &t);
			S->kf[o] *= k;
		}
	}
	if ((st = balance_prepare(q, li)) != CLE_OK)
		return st;
	S->active = true;
	S->dirty = SIDE_OUT | SIDE_IN;
	return CLE_OK;
}


/* A region is balanced when it is open and all its layers read back:
 * its scales start at 1. */
static enum cle_status open_regions(struct eq *q)
{
	const struct cle_plan *p = q->p;
	uint32_t r, i;

	for (r = 0; r < p->n_regions; r++) {
		const struct cle_region *rg = &p->regions[r];
		bool ok = rg->blocked == NULL;

		for (i = 0; ok && i < rg->n_producers; i++)
			ok = q->ls[rg->producers[i]].active;
		for (i = 0; ok && i < rg->n_consumers; i++)
			ok = q->ls[rg->consumers[i]].active;
		if (!ok)
			continue;
		if ((q->s[r] = eq_alloc(q, rg->n_ch, sizeof(double))) == NULL)
			return eq_nomem(q);
		for (i = 0; i < rg->n_ch; i++)
			q->s[r][i] = 1.0;
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
		fo[i] = (S->kf ? S->kf[i] : 1.0) / eq_out_scale(q, l, i);
		S->changed |= fo[i] != 1.0;
	}
	for (i = 0; i < l->c_in; i++) {
		fi[i] = eq_in_scale(q, l, i);
		S->changed |= fi[i] != 1.0;
	}
}

/* ---- measuring ---------------------------------------------------------------- */

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
static enum cle_status sqnr_init(struct eq *q, const struct cle_layer *l, double step,
				 struct kernel_sqnr *s)
{
	memset(s, 0, sizeof *s);
	s->step = step > 0 ? step : 1.0;
	s->by_col = !l->lead_out;
	s->ch_signal = eq_alloc(q, 4 * l->c_out, sizeof(double)); /* 4 lanes a channel */
	s->ch_noise = eq_alloc(q, 4 * l->c_out, sizeof(double));
	return s->ch_signal != NULL && s->ch_noise != NULL ? CLE_OK : eq_nomem(q);
}

/* Layer li's spreads, its ranges for the report, and its INT8 SQNR: the
 * statistics before (the BN-folded weights) and after are summed while a
 * changed layer's weights are written; an unchanged one's are read here. */
static enum cle_status measure_layer(struct eq *q, uint32_t li)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	struct cle_layer_result *R = &q->res->layers[li];
	enum cle_status st;

	balance_layer_ranges(q, li, SIDE_OUT);
	R->spread_before = spread(S->rout0, l->c_out);
	R->spread_after = spread(S->rout, l->c_out);
	if (q->p->cfg.ranges) {
		float *rb = cle_arena_alloc(&q->p->arena, l->c_out * sizeof *rb);
		float *ra = cle_arena_alloc(&q->p->arena, l->c_out * sizeof *ra);

		if (rb == NULL || ra == NULL)
			return eq_nomem(q);
		memcpy(rb, S->rout0, l->c_out * sizeof *rb);
		memcpy(ra, S->rout, l->c_out * sizeof *ra);
		R->ranges_before = rb;
		R->ranges_after = ra;
	}
	if ((st = sqnr_init(q, l, max_of(S->rout0, l->c_out) / 127.0, &S->sq0)) != CLE_OK ||
	    (st = sqnr_init(q, l, max_of(S->rout, l->c_out) / 127.0, &S->sq)) != CLE_OK)
		return st;
	if (!S->changed)
		kernel_scale(&S->t, l->lead_out ? S->kf : NULL, l->lead_out ? NULL : S->kf, 0,
			     l->d0 * l->d1 * l->k, NULL, &S->sq0);
	R->changed = S->changed;
	if (S->changed)
		q->bytes_total += l->d0 * l->d1 * l->k * S->esize;
	return CLE_OK;
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/* Median of the n values at v (sorted in place); 0 when n == 0. */
static double median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The result's totals over its layers: equalized, medians and means. */
static enum cle_status totals(struct eq *q)
{
	const struct cle_plan *p = q->p;
	struct cle_result *res = q->res;
	double *before = eq_alloc(q, p->n_layers, sizeof *before);
	double *after = eq_alloc(q, p->n_layers, sizeof *after);
	uint32_t i;

	if (before == NULL || after == NULL)
		return eq_nomem(q);
	for (i = 0; i < p->n_layers; i++) {
		struct cle_layer_result *R = &res->layers[i];

		if (q->ls[i].active) /* measured (measure_layer) */
			R->sqnr_before = R->sqnr_after = sqnr_db(&q->ls[i].sq0, p->layers[i].c_out);
		if (q->ls[i].changed)
			R->sqnr_after = sqnr_db(&q->ls[i].sq, p->layers[i].c_out);
		res->equalized += R->changed;
		R->measured = p->layers[i].why == NULL && R->spread_before > 0;
		if (!R->measured)
			continue;
		before[res->measured] = R->spread_before;
		after[res->measured] = R->spread_after;
		res->mean_sqnr_before += R->sqnr_before;
		res->mean_sqnr_after += R->sqnr_after;
		res->measured++;
	}
	res->median_spread_before = median(before, res->measured);
	res->median_spread_after = median(after, res->measured);
	if (res->measured) {
		res->mean_sqnr_before /= res->measured;
		res->mean_sqnr_after /= res->measured;
	}
	return CLE_OK;
}

/* ---- the run ------------------------------------------------------------------- */

/* Reads every weight once; the ranges before are the BN-folded ones. */
static enum cle_status read_weights(struct eq *q)
{
	const struct cle_plan *p = q->p;
	enum cle_status st;
	uint32_t li;

	for (li = 0; li < p->n_layers; li++) {
		if ((st = read_layer(q, li)) != CLE_OK)
			return st;
		if (!eq_progress(q, "read", (double)(li + 1) / p->n_layers))
			return cle_errorf(q->e, CLE_E_CANCELLED, "cancelled");
	}
	if ((st = open_regions(q)) != CLE_OK)
		return st;
	for (li = 0; li < p->n_layers; li++) {
		struct lstate *S = &q->ls[li];

		if (!S->active)
			continue;
		/* the input ranges too: the same pass gives them, and the solve's
		 * first steps read them before any scale has moved */
		balance_layer_ranges(q, li, SIDE_OUT | SIDE_IN);
		memcpy(S->rout0, S->rout, p->layers[li].c_out * sizeof *S->rout0);
	}
	return CLE_OK;
}

/* Factors and biases of every layer, then high-bias absorption. */
static enum cle_status settle_layers(struct eq *q)
{
	const struct cle_plan *p = q->p;
	enum cle_status st;
	uint32_t li, r;

	for (li = 0; li < p->n_layers; li++) {
		if (!q->ls[li].active)
			continue;
		final_factors(q, li);
		if ((st = bias_layer(q, li)) != CLE_OK)
			return st;
	}
	for (r = 0; r < p->n_regions; r++)
		if ((st = bias_absorb_high(q, r)) != CLE_OK)
			return st;
	return CLE_OK;
}

/* Every layer's measures (one more read of its weights): only for the run
 * that is written, not for a plan compared and dropped (--batch-norm=auto). */
static enum cle_status measure_layers(struct eq *q)
{
	enum cle_status st;
	uint32_t li;

	for (li = 0; li < q->p->n_layers; li++)
		if (q->ls[li].active && (st = measure_layer(q, li)) != CLE_OK)
			return st;
	return CLE_OK;
}

/* A run between its two halves: solved, not yet written. */
struct cle_run {
	struct eq q;
	struct cle_result res;
	const struct cle_alloc *a;
	double reads0, pass; /* entries read before the solve; entries in one read of every weight */
	bool open;           /* a trial: its rounds go on in cle_run_resume */
};

/* The scales: balanced ranges, or the least estimated noise (its first
 * `rounds` rounds), within float16's range where a region holds float16
 * tensors. */
static enum cle_status solve(struct cle_run *run, int rounds)
{
	struct eq *q = &run->q;
	enum cle_status st;
	uint32_t li;

	run->reads0 = q->reads;
	for (li = 0; li < q->p->n_layers; li++)
		if (q->ls[li].active)
			run->pass += (double)q->ls[li].t.d0 * (double)q->ls[li].t.d1;
	if (q->p->cfg.objective == CLE_OBJECTIVE_BALANCE)
		return (st = stats_half_caps(q)) != CLE_OK ? st : balance_run(q);
	if ((st = stats_run(q)) != CLE_OK || (st = stats_half_caps(q)) != CLE_OK)
		return st;
	return noise_rounds(q, rounds);
}

/* --strength: each region's scales raised to its strength (part of the way
 * from 1 in log scale, or past them), within the clamp and float16's static
 * limits; balance_finish then rounds and repairs them as any scales. */
static void strengthen(struct eq *q)
{
	const struct cle_plan *p = q->p;
	double smax = eq_max_scale(q);
	uint32_t r;
	size_t c;

	if (p->cfg.strength == NULL)
		return;
	for (r = 0; r < p->n_regions; r++) {
		double a = cle_strength_of(p->cfg.strength, r);

		if (q->s[r] == NULL || a == 1)
			continue;
		for (c = 0; c < p->regions[r].n_ch; c++) {
			double s = pow(q->s[r][c], a);

			if (smax > 0)
				s = fmin(fmax(s, 1 / smax), smax);
			if (q->cap_lo != NULL && q->cap_lo[r] != NULL)
				s = fmin(fmax(s, q->cap_lo[r][c]), q->cap_hi[r][c]);
			q->s[r][c] = s;
		}
		balance_mark_dirty(q, &p->regions[r]);
	}
}

/* After the rounds: the final scales and what they leave. */
static enum cle_status solve_end(struct cle_run *run)
{
	struct eq *q = &run->q;

	strengthen(q);
	if (q->p->cfg.objective == CLE_OBJECTIVE_NOISE)
		noise_end(q);
	run->res.passes = run->pass > 0 ? (q->reads - run->reads0) / run->pass : 0;
	return balance_finish(q);
}

/* A trial's estimate as if its rounds were all it had (solve_end's),
 * then all solve_end changed put back, so that cle_run_resume goes on as
 * one run would have: the scales (the ranges they made stale marked so),
 * each region's verdict, the float16 limits hit, the result. */
static enum cle_status trial_estimate(struct cle_run *run)
{
	struct eq *q = &run->q;
	const struct cle_plan *p = q->p;
	struct cle_result keep = run->res;
	struct cle_layer_result *layers = eq_alloc(q, p->n_layers + 1, sizeof *layers);
	uint8_t *scaling = eq_alloc(q, p->n_regions + 1, 1), **hit = eq_alloc(q, p->n_regions + 1, sizeof *hit);
	double **s = eq_alloc(q, p->n_regions + 1, sizeof *s);
	enum cle_status st;
	uint32_t r;
	size_t n;

	if (layers == NULL || scaling == NULL || hit == NULL || s == NULL)
		return eq_nomem(q);
	memcpy(layers, run->res.layers, p->n_layers * sizeof *layers);
	memcpy(scaling, run->res.scaling, p->n_regions);
	for (r = 0; r < p->n_regions; r++) {
		n = p->regions[r].n_ch;
		if (q->s[r] != NULL && (s[r] = eq_alloc(q, n, sizeof **s)) == NULL)
			return eq_nomem(q);
		if (q->s[r] != NULL)
			memcpy(s[r], q->s[r], n * sizeof **s);
		if (q->cap_hit != NULL && q->cap_hit[r] != NULL && (hit[r] = eq_alloc(q, n, 1)) == NULL)
			return eq_nomem(q);
		if (hit[r] != NULL)
			memcpy(hit[r], q->cap_hit[r], n);
	}
	if ((st = solve_end(run)) != CLE_OK)
		return st;
	keep.est_before = run->res.est_before;
	keep.est_after = run->res.est_after;
	for (r = 0; r < p->n_regions; r++) {
		n = p->regions[r].n_ch;
		if (s[r] != NULL && memcmp(s[r], q->s[r], n * sizeof **s) != 0) {
			memcpy(q->s[r], s[r], n * sizeof **s);
			balance_mark_dirty(q, &p->regions[r]);
		}
		if (hit[r] != NULL)
			memcpy(q->cap_hit[r], hit[r], n);
	}
	memcpy(run->res.layers, layers, p->n_layers * sizeof *layers);
	memcpy(run->res.scaling, scaling, p->n_regions);
	run->res = keep;
	return CLE_OK;
}

enum cle_status cle_run_solve(struct cle_run **out, struct cle_plan *p, const struct cle_run *prior,
			      int rounds, cle_progress_fn progress_fn, void *progress_ud, struct cle_error *e)
{
	const struct cle_alloc *a = p->arena.a;
	struct cle_run *run = cle_calloc(a, 1, sizeof *run);
	struct eq *q;
	enum cle_status st;

	*out = NULL;
	if (run == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory equalizing the model");
	run->a = a;
	run->open = rounds > 0 && p->cfg.objective == CLE_OBJECTIVE_NOISE;
	q = &run->q;
	q->p = p;
	q->prior = prior != NULL ? &prior->q : NULL;
	q->res = &run->res;
	q->e = e;
	q->progress = progress_fn;
	q->progress_ud = progress_ud;
	cle_arena_init(&q->run, a);
	run->res.n_layers = p->n_layers;
	run->res.layers = cle_arena_calloc(&p->arena, p->n_layers + 1, sizeof *run->res.layers);
	run->res.scaling = cle_arena_calloc(&p->arena, p->n_regions + 1, sizeof *run->res.scaling);
	q->ls = eq_alloc(q, p->n_layers, sizeof *q->ls);
	q->s = eq_alloc(q, p->n_regions, sizeof *q->s);
	if (run->res.layers == NULL || run->res.scaling == NULL || q->ls == NULL || q->s == NULL)
		st = eq_nomem(q);
	else if ((st = read_weights(q)) == CLE_OK &&
		 (st = solve(run, run->open ? rounds : cle_round_limit(&p->cfg))) == CLE_OK)
		st = run->open ? trial_estimate(run) : solve_end(run);
	if (st == CLE_OK && !run->open)
		st = settle_layers(q);
	if (st != CLE_OK) {
		cle_run_free(run);
		return st;
	}
	*out = run;
	return CLE_OK;
}

enum cle_status cle_run_resume(struct cle_run *run, struct cle_error *e)
{
	struct eq *q = &run->q;
	enum cle_status st;

	q->e = e;
	if (!run->open)
		return CLE_OK;
	run->open = false;
	if ((st = noise_rounds(q, cle_round_limit(&q->p->cfg))) != CLE_OK || (st = solve_end(run)) != CLE_OK)
		return st;
	return settle_layers(q);
}

const struct cle_result *cle_run_result(const struct cle_run *run)
{
	return &run->res;
}

enum cle_status cle_run_write(struct cle_run *run, const struct onnx_sink *sink,
			      const struct graph_save *gs, struct cle_result *res, struct cle_error *e)
{
	struct eq *q = &run->q;
	enum cle_status st;

	if ((st = cle_run_resume(run, e)) != CLE_OK || (st = measure_layers(q)) != CLE_OK || (st = write_model(q, sink, gs)) != CLE_OK ||
	    (st = totals(q)) != CLE_OK)
		return st;
	eq_progress(q, "done", 1);
	*res = run->res;
	return CLE_OK;
}

void cle_run_free(struct cle_run *run)
{
	if (run == NULL)
		return;
	cle_arena_free(&run->q.run);
	cle_free(run->a, run, sizeof *run);
}

enum cle_status cle_equalize(struct cle_plan *p, const struct onnx_sink *sink,
			     const struct graph_save *gs, struct cle_result *res,
			     cle_progress_fn progress_fn, void *progress_ud, struct cle_error *e)
{
	struct cle_run *run;
	enum cle_status st;

	memset(res, 0, sizeof *res);
	if ((st = cle_run_solve(&run, p, NULL, 0, progress_fn, progress_ud, e)) != CLE_OK)
		return st;
	st = cle_run_write(run, sink, gs, res, e);
	cle_run_free(run);
	return st;
}
