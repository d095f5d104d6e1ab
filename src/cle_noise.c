/* cle_noise.c — the scales chosen for the quantized model's outcome: the
 * estimated noise that per-tensor INT8 weights add at the outputs, made as
 * small as it goes, region by region, starting from the model as it is
 * (so the estimate never rises: do no harm).
 *
 * A layer quantized with step D = absmax / 127 adds noise of variance
 * D^2 / 12 to each weight.  In the model's units, with s_in and s_out the
 * scales of its input and output channels, output o hears
 *     D^2 / 12 * kwin * s_out[o]^2 * sum_c e_in[c] / s_in[c]^2
 * (c over o's group), weighted at the group's end by g_out[o]
 * (cle_stats.c).  D itself is the largest scaled weight, max |w| s_in /
 * s_out.  The sum over layers is convex in the log scales, and for one
 * region with the other regions held, it is
 *     sum_P M_P^2 sum_c a_P[c] s_c^2  +  sum_Q M_Q^2 sum_c b_Q[c] / s_c^2
 * where M_P = max_c R_P[c] / s_c is producer P's largest weight and M_Q =
 * max_c C_Q[c] s_c consumer Q's.  With the M fixed, each s_c has a closed
 * form: (B_c / A_c)^(1/4), kept inside the bounds the M set.  Scaling all
 * s_c together changes nothing, so one number is left: the factor pi on
 * the consumers' M (see step()).  Each step starts from the current M, so
 * the region's estimate never rises. */
#include "cle_internal.h"

#include <math.h>
#include <string.h>

/* (absmax / 127)^2 / 12 per absmax^2: the noise of one rounded weight. */
#define STEP_NOISE (1.0 / (127.0 * 127.0 * 12.0))
#define INNER_STEPS 8
/* The shortest step a region's move tries: 2^-SHORTEST of the way. */
#define SHORTEST 6
/* A consumer's per-channel estimate may rise to this times what it was:
 * per-channel INT8 loses at most about 1.1 dB for the per-tensor gain. */
#define PC_BUDGET 1.3
/* A region is moved only if its estimate falls by more than this part:
 * on trained models a layer's estimate misses its measured noise by
 * several dB either way, so a smaller gain is as likely a loss. */
#define MIN_GAIN 0.05

/* One layer of a region: its channels [off, off + n) there. */
struct member {
	uint32_t li;
	size_t off, n;
	double *x, *w;  /* producers: R and a; consumers: C and b (per channel) */
};

struct problem {
	size_t n_ch;
	uint32_t n_p, n_q;
	struct member *p, *q;
	double *A, *lo, *B, *hi, *s, *t; /* per region channel */
	double *clo, *chi;               /* per region channel: [smin, smax], narrowed for float16 */
	double smin, smax;
	float *keep;                     /* the consumers' output maxima before a trial move */
	size_t keep_per;                 /* room for one consumer's there */
	unsigned *stale;                 /* the members' stale bits before it */
	float *kept;                     /* the same at the last step within budget (longest_step) */
	unsigned *kept_stale;
	double *from;                    /* the consumers' per-channel estimates before it (2 each) */
};

/* Layer li's sum per output channel of e_in / s_in^2 over its group
 * (I, c_out entries), and per input feature of g_out s_out^2 over its
 * group (O, c_in entries), under the current scales. */
static void layer_sums(struct eq *q, uint32_t li, double *I, double *O)
{
	const struct cle_layer *l = &q->p->layers[li];
	const struct lstate *S = &q->ls[li];
	size_t G = l->groups, out_per = l->c_out / G, in_per = l->c_in / G, gi, i;

	for (gi = 0; gi < G; gi++) {
		double si = 0, so = 0;

		for (i = gi * in_per; i < (gi + 1) * in_per; i++) {
			double s = eq_in_scale(q, l, i);

			si += S->e_in[i] / (s * s);
		}
		for (i = gi * out_per; i < (gi + 1) * out_per; i++) {
			double s = eq_out_scale(q, l, i);

			so += S->g_out[i] * s * s;
		}
		for (i = gi * out_per; I != NULL && i < (gi + 1) * out_per; i++)
			I[i] = si;
		for (i = gi * in_per; O != NULL && i < (gi + 1) * in_per; i++)
			O[i] = so;
	}
}

/* Layer li's estimated noise under the current scales: with one step for
 * the tensor (returned) and with one step per output channel (*pc), which
 * depends on the input side alone. */
static double layer_noise(struct eq *q, uint32_t li, double *I, double *pc)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	size_t G = l->groups, out_per = l->c_out / G, in_per = l->c_in / G, o, c;
	double top = 0, sum = 0, per = 0, flat = 0, u = 0;

	balance_layer_ranges(q, li, SIDE_OUT);
	layer_sums(q, li, I, NULL);
	for (o = 0; o < l->c_out; o++) {
		double s = eq_out_scale(q, l, o), w = S->g_out[o] * s * s * I[o], r = (double)S->rout[o] * s;

		top = fmax(top, (double)S->rout[o]);
		sum += w;
		per += (double)S->rout[o] * (double)S->rout[o] * w;
		/* the same with every input and output alike: the weights' part alone
		 * (the inputs' sum is one per group, taken at its first output) */
		if (o % out_per == 0)
			for (u = 0, c = o / out_per * in_per; c < (o / out_per + 1) * in_per; c++) {
				double si = eq_in_scale(q, l, c);

				u += 1 / (si * si);
			}
		flat += r * r * u;
	}
	pc[0] = STEP_NOISE * S->kwin * per;
	pc[1] = flat;
	return STEP_NOISE * S->kwin * top * top * sum;
}

/* Both estimates summed over the layers; with base, each layer's
 * per-channel estimate is kept as its budget's base. */
static double noise_sum(struct eq *q, double *I, double *pc, bool base)
{
	double total = 0, t, c[2];
	uint32_t li;

	*pc = 0;
	for (li = 0; li < q->p->n_layers; li++) {
		struct cle_layer_result *R = &q->res->layers[li];

		if (!q->ls[li].active || q->ls[li].g_out == NULL)
			continue;
		total += t = layer_noise(q, li, I, c);
		*pc += c[0];
		if (base) {
			q->ls[li].pc_base[0] = c[0];
			q->ls[li].pc_base[1] = c[1];
			R->noise_before = t;
			R->noise_pc_before = c[0];
		}
		R->noise_after = t;
		R->noise_pc_after = c[0];
	}
	return total;
}

double noise_total(struct eq *q)
{
	double *I, pc;
	size_t most = 1;
	uint32_t li;

	for (li = 0; li < q->p->n_layers; li++) /* noise_sum reads the active ones */
		if (q->ls[li].active && q->p->layers[li].c_out > most)
			most = q->p->layers[li].c_out;
	if ((I = eq_alloc(q, most, sizeof *I)) == NULL)
		return HUGE_VAL;
	return noise_sum(q, I, &pc, false);
}

/* The scales each channel of region r may take: [smin, smax], narrowed
 * where float16 values would leave their range or lose bits
 * (stats_half_quanta, eq_half_window): the float16 members' largest
 * weights at the region's scale 1 are their x. */
static void half_window(struct eq *q, uint32_t r, struct problem *pb)
{
	uint32_t k;
	size_t c;

	for (c = 0; c < pb->n_ch; c++) {
		pb->clo[c] = pb->smin;
		pb->chi[c] = pb->smax;
		pb->A[c] = pb->B[c] = 0; /* scratch: xp, xq */
	}
	if (q->cap_lo == NULL || q->cap_lo[r] == NULL)
		return;
	stats_half_quanta(q, r, pb->clo, pb->chi);
	for (k = 0; k < pb->n_p; k++)
		for (c = 0; c < pb->p[k].n && q->ls[pb->p[k].li].t.dt == KERNEL_F16; c++)
			pb->A[pb->p[k].off + c] = fmax(pb->A[pb->p[k].off + c], pb->p[k].x[c]);
	for (k = 0; k < pb->n_q; k++)
		for (c = 0; c < pb->q[k].n && q->ls[pb->q[k].li].t.dt == KERNEL_F16; c++)
			pb->B[pb->q[k].off + c] = fmax(pb->B[pb->q[k].off + c], pb->q[k].x[c]);
	for (c = 0; c < pb->n_ch; c++)
		eq_half_window(q, r, c, pb->A[c], pb->B[c], q->s[r][c], &pb->clo[c], &pb->chi[c]);
}

/* Region r's members, with R, a (producers) and C, b (consumers) under the
 * other regions' current scales. */
static void gather(struct eq *q, uint32_t r, struct problem *pb, double *I, double *O)
{
	const struct cle_region *rg = &q->p->regions[r];
	const double *s = q->s[r];
	uint32_t k;
	size_t o, c;

	for (k = 0; k < rg->n_producers; k++) {
		struct member *m = &pb->p[k];
		const struct cle_layer *l = &q->p->layers[rg->producers[k]];
		const struct lstate *S = &q->ls[rg->producers[k]];

		m->li = rg->producers[k];
		m->off = l->out_off;
		m->n = l->c_out;
		balance_layer_ranges(q, m->li, SIDE_OUT);
		layer_sums(q, m->li, I, NULL);
		for (o = 0; o < l->c_out; o++) {
			m->x[o] = (double)S->rout[o] * s[m->off + o];
			m->w[o] = STEP_NOISE * S->kwin * S->g_out[o] * I[o];
		}
	}
	for (k = 0; k < rg->n_consumers; k++) {
		struct member *m = &pb->q[k];
		const struct cle_layer *l = &q->p->layers[rg->consumers[k]];
		const struct lstate *S = &q->ls[rg->consumers[k]];

		m->li = rg->consumers[k];
		m->off = l->in_off;
		m->n = l->c_in / l->in_rep;
		balance_layer_ranges(q, m->li, SIDE_IN);
		layer_sums(q, m->li, NULL, O);
		for (c = 0; c < m->n; c++)
			m->x[c] = m->w[c] = 0;
		for (c = 0; c < l->c_in; c++) {
			size_t ch = c / l->in_rep;

			m->x[ch] = fmax(m->x[ch], (double)S->rin[c] / s[m->off + ch]);
			m->w[ch] += STEP_NOISE * S->kwin * S->e_in[c] * O[c];
		}
	}
	pb->n_p = rg->n_producers;
	pb->n_q = rg->n_consumers;
	pb->n_ch = rg->n_ch;
	half_window(q, r, pb);
}

/* The region's estimate at scales s: each member's largest weight squared
 * times its weighted sum. */
static double region_noise(const struct problem *pb, const double *s)
{
	double total = 0;
	uint32_t k;
	size_t c;

	for (k = 0; k < pb->n_p; k++) {
		const struct member *m = &pb->p[k];
		double top = 0, sum = 0;

		for (c = 0; c < m->n; c++) {
			double x = s[m->off + c];

			top = fmax(top, m->x[c] / x);
			sum += m->w[c] * x * x;
		}
		total += top * top * sum;
	}
	for (k = 0; k < pb->n_q; k++) {
		const struct member *m = &pb->q[k];
		double top = 0, sum = 0;

		for (c = 0; c < m->n; c++) {
			double x = s[m->off + c];

			top = fmax(top, m->x[c] * x);
			sum += m->w[c] / (x * x);
		}
		total += top * top * sum;
	}
	return total;
}

/* Largest weight of member m at scales s (consumer: up, producer: down). */
static double member_top(const struct member *m, const double *s, bool consumer)
{
	double top = 0;
	size_t c;

	for (c = 0; c < m->n; c++)
		top = fmax(top, consumer ? m->x[c] * s[m->off + c] : m->x[c] / s[m->off + c]);
	return top;
}

/* With the producers' M and the consumers' M times pi: the best scales
 * into pb->t, and their bound on the estimate. */
static double solve_at(struct problem *pb, double pi)
{
	double f = 0;
	size_t c;

	for (c = 0; c < pb->n_ch; c++) {
		double A = pb->A[c], B = pb->B[c] * pi * pi, lo = pb->lo[c], hi = pb->hi[c] * pi, x;

		lo = fmax(lo, pb->clo[c]);
		hi = fmin(hi, pb->chi[c]);
		if (A > 0 && B > 0)
			x = sqrt(sqrt(B / A));
		else if (A > 0)
			x = lo;
		else if (B > 0)
			x = hi;
		else
			x = pb->s[c];
		x = fmin(fmax(x, lo), hi);
		pb->t[c] = x;
		f += A * x * x + B / (x * x);
	}
	return f;
}

/* One step from the current scales pb->s: fix the members' M (the
 * producers' as they are, the consumers' times pi), take the best pi; the
 * new scales in pb->t.  Every channel's term of solve_at's bound,
 *     min over lo <= x <= hi pi of  A x^2 + B pi^2 / x^2,
 * is 2 pi sqrt(A B) inside its bounds and A lo^2 + B pi^2 / lo^2 or
 * A hi^2 pi^2 + B / hi^2 at them (clo, chi alike): none falls as pi grows.
 * So the best pi is the least at which every channel's bounds still meet,
 * or the current one when that is no better. */
static void step(struct problem *pb)
{
	double pi_lo = 0, pi;
	uint32_t k;
	size_t c;

	for (c = 0; c < pb->n_ch; c++) {
		pb->A[c] = pb->B[c] = 0;
		pb->lo[c] = 0;
		pb->hi[c] = HUGE_VAL;
	}
	for (k = 0; k < pb->n_p; k++) {
		const struct member *m = &pb->p[k];
		double M = member_top(m, pb->s, false);

		for (c = 0; c < m->n && M > 0; c++) {
			pb->A[m->off + c] += M * M * m->w[c];
			pb->lo[m->off + c] = fmax(pb->lo[m->off + c], m->x[c] / M);
		}
	}
	for (k = 0; k < pb->n_q; k++) {
		const struct member *m = &pb->q[k];
		double M = member_top(m, pb->s, true);

		for (c = 0; c < m->n && M > 0; c++) {
			pb->B[m->off + c] += M * M * m->w[c];
			if (m->x[c] > 0)
				pb->hi[m->off + c] = fmin(pb->hi[m->off + c], M / m->x[c]);
		}
	}
	/* pi may not go below where some channel's bounds cross */
	for (c = 0; c < pb->n_ch; c++)
		if (pb->hi[c] < HUGE_VAL)
			pi_lo = fmax(pi_lo, fmax(pb->lo[c], pb->clo[c]) / fmin(pb->hi[c], pb->chi[c]));
	if (pi_lo == 0)
		pi_lo = pb->smin * pb->smin;
	pi = fmax(pi_lo, 1); /* the current M, unless pi must rise for the bounds to meet */
	if (pi_lo < pi && solve_at(pb, pi_lo) < solve_at(pb, pi))
		pi = pi_lo;
	solve_at(pb, pi);
}

/* Far enough above y that float rounding cannot account for it: the
 * estimates' ranges come from float products, a few float ulps each. */
static bool clearly_above(double x, double y)
{
	return x > y * (1 + 1e-5);
}

/* Do the consumers of region r keep their per-channel estimates within
 * budget at the region's current scales?  With pb->from set (the
 * estimates where the way began), *rising says whether a consumer that
 * broke the budget did so clearly and had clearly risen since: each
 * estimate is log-convex along the way (a maximum, and sums, of products
 * of powers of the scales), so it breaks the budget at every longer step
 * too.  (NULL: not asked.) */
static bool within_budget(struct eq *q, uint32_t r, double *I, const struct problem *pb, bool *rising)
{
	const struct cle_region *rg = &q->p->regions[r];
	double pc[2];
	uint32_t k;
	int j;

	balance_mark_dirty(q, rg);
	for (k = 0; k < rg->n_consumers; k++) {
		const struct lstate *S = &q->ls[rg->consumers[k]];

		layer_noise(q, rg->consumers[k], I, pc);
		if (!(pc[0] > PC_BUDGET * S->pc_base[0] || pc[1] > PC_BUDGET * S->pc_base[1]))
			continue;
		for (j = 0; rising != NULL && j < 2; j++)
			*rising |= clearly_above(pc[j], PC_BUDGET * S->pc_base[j]) &&
				   clearly_above(pc[j], pb->from[2 * k + j]);
		return false;
	}
	return true;
}

/* The per-channel estimates of region r's consumers at its current
 * scales into pb->from, when their output ranges are current (nothing to
 * read); false otherwise. */
static bool budget_from(struct eq *q, uint32_t r, struct problem *pb, double *I)
{
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t k;

	for (k = 0; k < rg->n_consumers; k++)
		if (q->ls[rg->consumers[k]].dirty & SIDE_OUT)
			return false;
	for (k = 0; k < rg->n_consumers; k++)
		layer_noise(q, rg->consumers[k], I, pb->from + 2 * k);
	return true;
}

/* Region r's scales 2^-k of the way from pb->t to pb->s (in log scales). */
static void step_point(struct eq *q, uint32_t r, const struct problem *pb, int k)
{
	double *s = q->s[r];
	size_t c;
	int j;

	for (c = 0; c < pb->n_ch; c++) {
		double x = pb->s[c] / pb->t[c];

		for (j = 0; j < k; j++) /* x^(2^-k): square roots, exact on every target */
			x = sqrt(x);
		s[c] = pb->t[c] * x;
	}
}

/* Region r's scales 2^-k of the way: are its consumers within budget
 * there?  (rising: as within_budget.) */
static bool budget_at(struct eq *q, uint32_t r, const struct problem *pb, double *I, int k, bool *rising)
{
	step_point(q, r, pb, k);
	return within_budget(q, r, I, pb, rising);
}

/* Region r's members' ranges before its trial moves (hold), and back to
 * them when the region is held where it was (!hold): the trials read only
 * its consumers' output ranges; the rest they only marked stale. */
static void trial_state(struct eq *q, uint32_t r, struct problem *pb, bool hold)
{
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t k;

	for (k = 0; k < rg->n_producers + rg->n_consumers; k++) {
		bool prod = k < rg->n_producers;
		uint32_t li = prod ? rg->producers[k] : rg->consumers[k - rg->n_producers];
		float *keep = pb->keep + (prod ? 0 : (k - rg->n_producers) * pb->keep_per);

		if (hold)
			pb->stale[k] = prod ? q->ls[li].dirty : balance_save(q, li, SIDE_OUT, keep);
		else if (prod)
			q->ls[li].dirty = pb->stale[k];
		else
			balance_restore(q, li, SIDE_OUT, keep, pb->stale[k]);
	}
}

/* The consumers' output ranges at the step that last kept the budget
 * (save), and back to them with the scales of that step (!save): the
 * steps tried after it read only those (and marked the producers' stale,
 * as every step does). */
static void kept_state(struct eq *q, uint32_t r, struct problem *pb, bool save, int k)
{
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t i;

	if (!save)
		step_point(q, r, pb, k);
	for (i = 0; i < rg->n_consumers; i++) {
		float *keep = pb->kept + i * pb->keep_per;

		if (save)
			pb->kept_stale[i] = balance_save(q, rg->consumers[i], SIDE_OUT, keep);
		else
			balance_restore(q, rg->consumers[i], SIDE_OUT, keep, pb->kept_stale[i]);
	}
}

/* The longest step 2^-k, k <= SHORTEST, within the consumers' budget, or
 * -1: each consumer's per-channel estimate is convex along the way too,
 * within budget where it starts, so the steps within it are the shorter
 * ones from some k on.  Tried from k0, the step the region's last move
 * took (most often it takes about the same again): longer ones while they
 * keep the budget, else shorter ones; when the full step breaks it, the
 * shortest next (breaking the budget there, the region is held without
 * the steps between).  The region's scales end at the step found, its
 * consumers' ranges read there. */
static int longest_step(struct eq *q, uint32_t r, struct problem *pb, double *I, int k0)
{
	int pass = SHORTEST + 1, fail = -1, k = k0, last = k0; /* within budget from pass on, not up to fail */
	bool gate = false;

	while (fail + 1 < pass) {
		last = k;
		if (budget_at(q, r, pb, I, k, NULL)) {
			pass = k;
			if (fail + 1 < pass)
				kept_state(q, r, pb, true, k);
			k = gate ? fail + 1 : pass - 1;
		} else {
			fail = k;
			gate = k == 0 && pass > SHORTEST;
			k = gate ? SHORTEST : fail + 1;
		}
		gate = gate && k == SHORTEST;
	}
	if (pass > SHORTEST)
		return -1;
	if (last != pass)
		kept_state(q, r, pb, false, pass);
	return pass;
}

/* What a region's visit did with its scales. */
enum visit { VISIT_STILL, VISIT_MOVED, VISIT_HELD };

/* Moves region r's scales to lower its estimate (per tensor), as far
 * towards the best as the consumers' per-channel budget allows: moved,
 * held where they were by the budget, or left (nothing to gain).  A
 * region held at its last visit (was_held) most likely is again: its
 * shortest step is tried first, and when that breaks the budget clearly
 * and more than where it starts, the full step would too, unread.  *last:
 * the step its last move took (2^-*last of the way), where the search
 * for this one starts. */
static enum visit noise_region(struct eq *q, uint32_t r, struct problem *pb, double *I, double *O,
			       uint8_t *scaling, bool was_held, uint8_t *last)
{
	double *s = q->s[r], before, now;
	bool rising = false, held;
	size_t c;
	int i, k;

	gather(q, r, pb, I, O);
	memcpy(pb->s, s, pb->n_ch * sizeof *s);
	before = now = region_noise(pb, pb->s);
	for (i = 0; i < INNER_STEPS; i++) {
		double f;

		step(pb);
		f = region_noise(pb, pb->t);
		if (!(f < now * (1 - 1e-9)))
			break;
		now = f;
		memcpy(pb->s, pb->t, pb->n_ch * sizeof *s);
	}
	if (!(now < before))
		return VISIT_STILL;
	/* the estimate is convex: on the way (in log scales) it falls all along */
	memcpy(pb->t, s, pb->n_ch * sizeof *s);
	trial_state(q, r, pb, true);
	held = was_held && budget_from(q, r, pb, I) && !budget_at(q, r, pb, I, SHORTEST, &rising) && rising;
	if (!held && (k = longest_step(q, r, pb, I, *last)) >= 0) {
		*last = (uint8_t)k;
		*scaling |= k > 0 ? CLE_SCALED_PART : CLE_SCALED_FULL;
		for (c = 0; q->cap_hit != NULL && q->cap_hit[r] != NULL && c < pb->n_ch; c++)
			q->cap_hit[r][c] = (pb->clo[c] > pb->smin && s[c] <= pb->clo[c] * (1 + 1e-9)) ||
				(pb->chi[c] < pb->smax && s[c] >= pb->chi[c] * (1 - 1e-9));
		return VISIT_MOVED;
	}
	*scaling |= CLE_SCALED_HELD;
	memcpy(s, pb->t, pb->n_ch * sizeof *s);
	trial_state(q, r, pb, false);
	return VISIT_HELD;
}

/* Region r's scales rounded to powers of two (exact rescaling), unless
 * that leaves its estimate above the model's own: then it is left alone. */
static void round_region(struct eq *q, uint32_t r, struct problem *pb, double *I, double *O)
{
	double *s = q->s[r];
	size_t c;

	gather(q, r, pb, I, O);
	for (c = 0; c < pb->n_ch; c++) {
		pb->t[c] = 1;
		s[c] = eq_pow2_within(s[c], pb->clo[c], pb->chi[c]);
	}
	if (region_noise(pb, s) > region_noise(pb, pb->t))
		memcpy(s, pb->t, pb->n_ch * sizeof *s);
	balance_mark_dirty(q, &q->p->regions[r]);
}

/* Regions whose estimate fell by no more than MIN_GAIN over leaving them
 * are left alone after all: held. */
static void keep_clear_gains(struct eq *q, struct problem *pb, double *I, double *O)
{
	uint32_t r;
	size_t c;

	for (r = 0; r < q->p->n_regions; r++) {
		double *s = q->s[r];

		if (s == NULL || q->res->scaling[r] == 0 || q->res->scaling[r] == CLE_SCALED_HELD)
			continue;
		gather(q, r, pb, I, O);
		for (c = 0; c < pb->n_ch; c++)
			pb->t[c] = 1;
		if (region_noise(pb, s) < (1 - MIN_GAIN) * region_noise(pb, pb->t))
			continue;
		memcpy(s, pb->t, pb->n_ch * sizeof *s);
		q->res->scaling[r] = CLE_SCALED_HELD;
		balance_mark_dirty(q, &q->p->regions[r]);
	}
}

/* Room for the largest region's problem. */
static enum cle_status problem_alloc(struct eq *q, struct problem *pb, double **I, double **O)
{
	const struct cle_plan *p = q->p;
	size_t most_ch, most_in = 1, most_out = 1, k;
	uint32_t r, mp = 1, mq = 1, i;
	struct member *all;

	/* the regions the search visits and the layers it reads (see
	 * balance_most_channels) */
	most_ch = balance_most_channels(q);
	for (r = 0; r < p->n_regions; r++) {
		const struct cle_region *rg = &p->regions[r];

		if (q->s[r] == NULL)
			continue;
		mp = rg->n_producers > mp ? rg->n_producers : mp;
		mq = rg->n_consumers > mq ? rg->n_consumers : mq;
	}
	memset(pb, 0, sizeof *pb);
	pb->keep_per = 1;
	for (i = 0; i < p->n_layers; i++) {
		if (!q->ls[i].active)
			continue;
		most_in = p->layers[i].c_in > most_in ? p->layers[i].c_in : most_in;
		most_out = p->layers[i].c_out > most_out ? p->layers[i].c_out : most_out;
		k = balance_side_count(q, i, SIDE_OUT);
		pb->keep_per = k > pb->keep_per ? k : pb->keep_per;
	}
	pb->p = eq_alloc(q, mp, sizeof *pb->p);
	pb->q = eq_alloc(q, mq, sizeof *pb->q);
	pb->A = eq_alloc(q, most_ch, sizeof(double));
	pb->lo = eq_alloc(q, most_ch, sizeof(double));
	pb->B = eq_alloc(q, most_ch, sizeof(double));
	pb->hi = eq_alloc(q, most_ch, sizeof(double));
	pb->s = eq_alloc(q, most_ch, sizeof(double));
	pb->t = eq_alloc(q, most_ch, sizeof(double));
	pb->clo = eq_alloc(q, most_ch, sizeof(double));
	pb->chi = eq_alloc(q, most_ch, sizeof(double));
	pb->keep = eq_alloc(q, (size_t)mq * pb->keep_per, sizeof(float));
	pb->stale = eq_alloc(q, (size_t)mp + mq, sizeof(unsigned));
	pb->kept = eq_alloc(q, (size_t)mq * pb->keep_per, sizeof(float));
	pb->kept_stale = eq_alloc(q, mq, sizeof(unsigned));
	pb->from = eq_alloc(q, 2 * (size_t)mq, sizeof(double));
	*I = eq_alloc(q, most_out, sizeof **I);
	*O = eq_alloc(q, most_in, sizeof **O);
	if (!pb->p || !pb->q || !pb->A || !pb->lo || !pb->B || !pb->hi || !pb->s || !pb->t || !pb->clo ||
	    !pb->chi || !pb->keep || !pb->stale || !pb->kept || !pb->kept_stale || !pb->from || !*I || !*O)
		return eq_nomem(q);
	for (k = 0; k < (size_t)mp + mq; k++) {
		all = k < mp ? &pb->p[k] : &pb->q[k - mp];
		all->x = eq_alloc(q, k < mp ? most_out : most_ch, sizeof(double));
		all->w = eq_alloc(q, k < mp ? most_out : most_ch, sizeof(double));
		if (all->x == NULL || all->w == NULL)
			return eq_nomem(q);
	}
	return CLE_OK;
}

/* A region's visit reads its scales and those of the regions next to it
 * (its producers' inputs, its consumers' outputs) and nothing else that
 * moves: a visit that left its scales where they were would do so again
 * until one of those regions moves, so it is not repeated.  The clock
 * counts moves; per region, when it last moved, and when a visit last
 * left it where it was (0: not since it moved).  Beside it, what the
 * visits learnt of the steps the budget allows (longest_step). */
struct calm {
	uint32_t clock, *moved, *still;
	uint8_t *held; /* per region: its last visit held it */
	uint8_t *last; /* per region: the step its last move took (noise_region), NEVER_MOVED */
	uint8_t recent; /* the step the last move of any region took */
};

#define NEVER_MOVED 0xff

static bool calm(const struct eq *q, const struct calm *c, uint32_t r)
{
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t k, n;

	if (c->still[r] == 0)
		return false;
	for (k = 0; k < rg->n_producers + rg->n_consumers; k++) {
		const struct cle_layer *l = &q->p->layers[k < rg->n_producers ? rg->producers[k]
									    : rg->consumers[k - rg->n_producers]];

		n = k < rg->n_producers ? l->in_region : l->out_region;
		if (n != GRAPH_NONE && c->moved[n] > c->still[r])
			return false;
	}
	return true;
}

/* The search's state between its rounds (a trial's rounds go on later:
 * cle_run_resume). */
struct noise {
	struct problem pb;
	struct calm cm;
	double *I, *O, before, now;
	int round;  /* rounds made */
	bool done;  /* the last one lowered the estimate by less than the tolerance */
};

enum cle_status noise_rounds(struct eq *q, int limit)
{
	const struct cle_plan *p = q->p;
	struct noise *ns = q->noise;
	enum cle_status st;
	enum visit v;
	uint32_t r;
	double pc;

	if (ns == NULL) {
		if ((ns = q->noise = eq_alloc(q, 1, sizeof *ns)) == NULL)
			return eq_nomem(q);
		if ((st = problem_alloc(q, &ns->pb, &ns->I, &ns->O)) != CLE_OK)
			return st;
		ns->cm.clock = 1;
		ns->cm.moved = eq_alloc(q, p->n_regions, sizeof *ns->cm.moved);
		ns->cm.still = eq_alloc(q, p->n_regions, sizeof *ns->cm.still);
		ns->cm.held = eq_alloc(q, p->n_regions, sizeof *ns->cm.held);
		ns->cm.last = eq_alloc(q, p->n_regions, sizeof *ns->cm.last);
		if (ns->cm.moved == NULL || ns->cm.still == NULL || ns->cm.held == NULL || ns->cm.last == NULL)
			return eq_nomem(q);
		memset(ns->cm.last, NEVER_MOVED, p->n_regions);
		ns->pb.smax = eq_max_scale(q);
		ns->pb.smin = 1 / ns->pb.smax;
		ns->before = ns->now = noise_sum(q, ns->I, &pc, true);
	}
	for (; !ns->done && ns->round < limit; ns->round++) {
		struct calm *cm = &ns->cm;
		double f;

		for (r = 0; r < p->n_regions; r++) {
			if (q->s[r] == NULL || calm(q, cm, r))
				continue;
			/* a region not moved yet starts from the step the last move took */
			if (cm->last[r] == NEVER_MOVED)
				cm->last[r] = cm->recent;
			v = noise_region(q, r, &ns->pb, ns->I, ns->O, &q->res->scaling[r], cm->held[r],
					 &cm->last[r]);
			cm->held[r] = v == VISIT_HELD;
			if (v == VISIT_MOVED)
				cm->moved[r] = ++cm->clock, cm->still[r] = 0, cm->recent = cm->last[r];
			else
				cm->still[r] = cm->clock;
		}
		f = noise_sum(q, ns->I, &pc, false);
		q->res->rounds = ns->round + 1;
		if (!eq_progress(q, "balance", (double)(ns->round + 1) / cle_round_limit(&p->cfg)))
			return cle_errorf(q->e, CLE_E_CANCELLED, "cancelled");
		ns->done = !(f < ns->now * (1 - p->cfg.tolerance));
		ns->now = ns->done ? fmin(f, ns->now) : f;
	}
	return CLE_OK;
}

void noise_end(struct eq *q)
{
	struct noise *ns = q->noise;
	double now, pc;
	uint32_t r;

	keep_clear_gains(q, &ns->pb, ns->I, ns->O);
	now = noise_sum(q, ns->I, &pc, false);
	if (eq_pow2(q)) {
		for (r = 0; r < q->p->n_regions; r++)
			if (q->s[r] != NULL)
				round_region(q, r, &ns->pb, ns->I, ns->O);
		now = noise_sum(q, ns->I, &pc, false);
	}
	q->res->est_before = ns->before > 0 ? -10 * log10(ns->before) : 0;
	q->res->est_after = now > 0 ? -10 * log10(now) : 0;
}
