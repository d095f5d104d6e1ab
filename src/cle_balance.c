/* cle_balance.c — per-channel ranges of every layer under the current
 * scales, and the balancing rounds that move each region's scales until
 * producer and consumer ranges meet (s_c = sqrt(producer range / consumer
 * range); a depthwise layer between two regions takes the triplet rule).
 * See cle_internal.h. */
#include "cle_internal.h"

#include <math.h>
#include <string.h>

/* The candidate lists (struct cand).
 * After a full pass with weights w0 (b0 for the rows' maxima, a0 for the
 * columns'), an entry whose product is below its row's (column's) maximum
 * / spread cannot overtake that maximum while the weights move by less
 * than the spread overall (max ratio over min ratio), so later rounds take
 * the maxima over these entries alone: the same products, the same result,
 * a fraction of the reads (balancing re-reads every layer twice a round,
 * up to 1000 rounds).  A list is made in the same scan that takes the
 * maxima, from a bound on them (cand_fresh); when that does not fit, the
 * scan reads the rest of the layer in full for the maxima, and a second
 * scan makes the list from them. */

/* How far the weights may move before a full pass, and how many narrower
 * spreads a layer whose entries are too even for a list tries. */
#define CAND_SPREAD 2.0
#define CAND_TRIES 4
/* The hot list's spread: the later rounds move the weights by less than a
 * percent, and few entries lie this near their maximum. */
#define CAND_HOT 1.05

/* One side's maxima, and room for its candidate list: a 16th of the
 * layer's [d0][d1] entries.  With the hot list that is 28 bytes per room's
 * entry for both sides, at most 44 % of the size of k == 1 float32 weights
 * (what the lists filled on resnet-100m and fcn-resnet50: 10 % of the model
 * more than with room for a 32nd).  A small layer's rows and columns are
 * short, a larger share of their entries lies near their maxima, and a
 * list that does not fit costs a scan in vain: up to 3072 entries more,
 * room for a quarter of a layer of up to 16384 (Silero legacy: 14.7 ->
 * 11.0 passes; at most 86 KB more a layer). */
static enum cle_status cand_alloc(struct eq *q, struct lstate *S, struct cand *cd, bool rows)
{
	size_t n = S->t.d0 * S->t.d1, n_mx = rows ? S->t.d0 : S->n_col;

	if ((cd->mx = eq_alloc(q, n_mx, sizeof(float))) == NULL)
		return eq_nomem(q);
	/* small layers: a full pass costs next to nothing; one round: lists pay
	 * off over rounds, and --batch-norm=auto's trials keep theirs; the noise
	 * objective: its steps move scales too far for a list to serve (on
	 * resnet-100m its builds scanned 74 M entries to spare 52 M of full
	 * passes, and a build costs about two full passes per entry in wasm) */
	if (n > UINT32_MAX || n < 64 || cle_round_limit(&q->p->cfg) == 1 || q->p->cfg.objective == CLE_OBJECTIVE_NOISE)
		return CLE_OK;
	cd->cap = n / 16 + 64 + (3 * (n / 16) < 3072 ? 3 * (n / 16) : 3072);
	cd->spread = CAND_SPREAD;
	cd->w0 = eq_alloc(q, rows ? S->n_col : S->t.d0, sizeof(float));
	cd->w1 = eq_alloc(q, rows ? S->n_col : S->t.d0, sizeof(float));
	cd->hw0 = eq_alloc(q, rows ? S->n_col : S->t.d0, sizeof(float));
	cd->ix = eq_alloc(q, cd->cap, sizeof(uint32_t));
	cd->hp = eq_alloc(q, cd->cap, sizeof(uint32_t));
	cd->v = eq_alloc(q, cd->cap, sizeof(float));
	if (rows)
		cd->at = eq_alloc(q, S->t.d0 + 1, sizeof(uint32_t)), cd->hat = eq_alloc(q, S->t.d0 + 1, sizeof(uint32_t));
	else
		cd->t = eq_alloc(q, S->n_col, sizeof(float)), cd->iy = eq_alloc(q, cd->cap, sizeof(uint32_t));
	if (!cd->w0 || !cd->w1 || !cd->hw0 || !cd->ix || !cd->hp || !cd->v ||
	    (rows ? !cd->at || !cd->hat : (!cd->t || !cd->iy)))
		return eq_nomem(q);
	return CLE_OK;
}

enum cle_status balance_prepare(struct eq *q, uint32_t li)
{
	struct lstate *S = &q->ls[li];
	enum cle_status st;

	if ((st = cand_alloc(q, S, &S->rows, true)) != CLE_OK)
		return st;
	return cand_alloc(q, S, &S->cols, false);
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

/* A lower bound of every maximum now, from the maxima taken under w1:
 * each is at least its old value times the smallest ratio w / w1 (the old
 * argmax entry moved by that much at least); 0 when nothing is known. */
static double cand_floor(const float *w, const float *w1, size_t n)
{
	double lo = HUGE_VAL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (w1[i] == 0.0f)
			continue; /* its products were 0: no maximum came from them */
		if (!(w[i] > 0.0f) || !isfinite(w[i]) || !isfinite(w1[i]))
			return 0;
		lo = fmin(lo, (double)w[i] / (double)w1[i]);
	}
	return lo == HUGE_VAL ? 0 : lo;
}

/* Rows [i0, d0) read in full: their maxima into r0 (at i0 on), and the
 * maxima over them alone of the columns they reach into r1 (from the
 * column of i0's group on; either may be NULL: that side is not taken),
 * by kernel_weighted_max over the tensor cut at i0 and at the end of i0's
 * group (each piece whole groups).  From row 0: a full pass. */
static void rows_read(struct lstate *S, size_t i0, float *r0, float *r1)
{
	const struct kernel_tensor *t = &S->t;
	size_t per = t->d0 / t->groups, d1 = t->d1, g = i0 / per, i1;

	S->q->reads += (double)(t->d0 - i0) * (double)d1;
	for (; i0 < t->d0; i0 = i1, g++) {
		struct kernel_tensor v = *t;

		i1 = i0 % per != 0 ? (g + 1) * per : t->d0;
		v.p = t->p + i0 * d1 * t->k * S->esize;
		v.d0 = i1 - i0;
		v.groups = i0 % per != 0 ? 1 : t->groups - g;
		kernel_weighted_max(&v, S->m != NULL ? S->m + i0 * d1 : NULL, S->a + i0, S->b + g * d1,
				    r0 != NULL ? r0 + i0 : NULL, r1 != NULL ? r1 + g * d1 : NULL);
	}
}

/* The columns' maxima over the first n entries collected (as
 * kernel_weighted_max's r1, from them alone). */
static void cols_over(struct cand *cd, size_t n_col, size_t n, const float *a)
{
	size_t x;

	for (x = 0; x < n_col; x++)
		cd->mx[x] = 0.0f;
	for (x = 0; x < n; x++)
		cd->mx[cd->iy[x]] = fmaxf(cd->mx[cd->iy[x]], cd->v[x] * a[cd->ix[x]]);
}

/* What cand_fresh made: the maxima and a list, the maxima alone, nothing. */
enum fresh { FRESH_LISTED, FRESH_MAXIMA, FRESH_NONE };

/* The maxima and a new list in one scan: every entry above the bound's
 * share of the spread is collected (a superset: each maximum is at least
 * its bound, so its entry and every one within the spread of it are in),
 * the maxima taken over those, and the list cut to the spread of them.
 * After a full pass (w1 == the weights now) the bound is the maxima
 * themselves.  When the superset does not fit: with complete, the rows
 * not yet scanned are read in full and the maxima taken over them and
 * the entries collected (the same maxima: one read of every entry in
 * all); else nothing more (the scan so far counted as read). */
static enum fresh cand_fresh(struct lstate *S, struct cand *cd, bool rows, const float *a, const float *b,
			     bool complete)
{
	const struct kernel_tensor *t = &S->t;
	const float *w = rows ? b : a;
	size_t d1 = t->d1, per = t->d0 / t->groups, n_w = rows ? S->n_col : t->d0, i, j, x, k, n = 0;
	double f = cand_floor(w, cd->w1, n_w) / cd->spread * (1.0 - 1e-6);
	float sp = (float)cd->spread;

	cd->ok = cd->hok = false;
	if (!(f > 0))
		return FRESH_NONE;
	for (j = 0; !rows && j < S->n_col; j++)
		cd->t[j] = (float)((double)cd->mx[j] * f);
	for (i = 0; i < t->d0; i++) {
		const float *bg = b + i / per * d1;
		size_t c0 = i / per * d1, room = cd->cap - n, keep;
		uint32_t *js = rows ? cd->ix + n : cd->iy + n;
		float best = 0.0f;

		k = rows ? kernel_hits(t, S->m, i * d1, bg, (float)((double)cd->mx[i] * f), 0.0f, bg, d1, js, room)
			 : kernel_hits(t, S->m, i * d1, bg, HUGE_VALF, a[i], cd->t + c0, d1, js, room);
		if (k > room && complete) {
			S->q->reads += (double)i * (double)d1;
			if (!rows)
				cols_over(cd, S->n_col, n, a);
			rows_read(S, i, rows ? cd->mx : NULL, rows ? NULL : cd->t);
			for (j = i / per * d1; !rows && j < S->n_col; j++)
				cd->mx[j] = fmaxf(cd->mx[j], cd->t[j]);
			return FRESH_MAXIMA;
		}
		if (k > room) {
			S->q->reads += (double)(i + 1) * (double)d1; /* what it scanned in vain */
			return FRESH_NONE;
		}
		for (x = n; x < n + k; x++) {
			j = js[x - n];
			cd->v[x] = S->m != NULL ? S->m[i * d1 + j] : abs_at(t, i * d1 + j);
			if (!rows) {
				cd->ix[x] = (uint32_t)i;
				cd->iy[x] = (uint32_t)(c0 + j);
			}
		}
		if (!rows) {
			n += k;
			continue;
		}
		/* a row's maximum is known at its end: cut it there */
		for (x = n; x < n + k; x++)
			best = fmaxf(best, cd->v[x] * bg[cd->ix[x]]);
		for (x = n, keep = n; x < n + k; x++) {
			float v = cd->v[x] * bg[cd->ix[x]];

			if (v > 0.0f && v >= best / sp)
				cd->ix[keep] = cd->ix[x], cd->v[keep++] = cd->v[x];
		}
		cd->at[i] = (uint32_t)n;
		cd->mx[i] = best;
		n = keep;
	}
	S->q->reads += (double)t->d0 * (double)t->d1; /* one scan of every entry */
	if (rows) {
		cd->at[t->d0] = (uint32_t)n;
	} else {
		/* the columns' maxima over the superset, then the cut, in order */
		cols_over(cd, S->n_col, n, a);
		for (x = 0, k = 0; x < n; x++) {
			float v = cd->v[x] * a[cd->ix[x]];

			if (v > 0.0f && v >= cd->mx[cd->iy[x]] / sp)
				cd->ix[k] = cd->ix[x], cd->iy[k] = cd->iy[x], cd->v[k++] = cd->v[x];
		}
		n = k;
	}
	cd->n = n;
	memcpy(cd->w0, w, n_w * sizeof *w);
	cd->ok = true;
	cd->uses = 0;
	return FRESH_LISTED;
}

/* One side's maxima (as kernel_weighted_max's r0 or r1) over the list
 * alone, or over its hot entries (hot); from the whole list, the hot ones
 * are cut again (those within CAND_HOT of the maxima now). */
static void cand_max(struct lstate *S, struct cand *cd, bool rows, bool hot, const float *a, const float *b)
{
	const struct kernel_tensor *t = &S->t;
	const float sp = (float)CAND_HOT;
	size_t d1 = t->d1, per = t->d0 / t->groups, i, x, y, n = 0;

	S->q->reads += (double)(hot ? cd->hn : cd->n);
	if (rows) {
		for (i = 0; i < t->d0; i++) {
			const float *bg = b + i / per * d1;
			size_t x0 = hot ? cd->hat[i] : cd->at[i], x1 = hot ? cd->hat[i + 1] : cd->at[i + 1];
			float best = 0.0f;

			for (x = x0; x < x1; x++) {
				y = hot ? cd->hp[x] : x;
				best = fmaxf(best, cd->v[y] * bg[cd->ix[y]]);
			}
			cd->mx[i] = best;
			if (hot)
				continue;
			cd->hat[i] = (uint32_t)n;
			for (x = x0; x < x1; x++) {
				float v = cd->v[x] * bg[cd->ix[x]];

				if (v > 0.0f && v >= best / sp)
					cd->hp[n++] = (uint32_t)x;
			}
		}
		if (!hot)
			cd->hat[t->d0] = (uint32_t)n;
	} else {
		size_t m = hot ? cd->hn : cd->n;

		for (x = 0; x < S->n_col; x++)
			cd->mx[x] = 0.0f;
		for (x = 0; x < m; x++) {
			y = hot ? cd->hp[x] : x;
			cd->mx[cd->iy[y]] = fmaxf(cd->mx[cd->iy[y]], cd->v[y] * a[cd->ix[y]]);
		}
		for (x = 0; !hot && x < m; x++) {
			float v = cd->v[x] * a[cd->ix[x]];

			if (v > 0.0f && v >= cd->mx[cd->iy[x]] / sp)
				cd->hp[n++] = (uint32_t)x;
		}
	}
	if (!hot) {
		cd->hn = n;
		memcpy(cd->hw0, rows ? b : a, (rows ? S->n_col : t->d0) * sizeof(float));
		cd->hok = true;
	}
}

/* After a full pass that made no list: its weights w are the base the next
 * call measures its moves from. */
static void cand_unlisted(struct cand *cd, const float *w, size_t n_w)
{
	if (cd->cap != 0) {
		cd->ok = cd->hok = false;
		memcpy(cd->w0, w, n_w * sizeof *w);
		memcpy(cd->w1, w, n_w * sizeof *w);
	}
	cd->based = true;
}

/* Row maxima (rows) or column maxima of the layer's weights under a, b,
 * through the candidate list when the weights moved little since it was
 * made; returns where they are. */
static const float *side_max(struct lstate *S, bool rows)
{
	struct cand *cd = rows ? &S->rows : &S->cols;
	const float *w = rows ? S->b : S->a;
	size_t n_w = rows ? S->n_col : S->t.d0;
	float *r0 = rows ? cd->mx : NULL, *r1 = rows ? NULL : cd->mx; /* a full pass's outputs */
	enum fresh got = FRESH_NONE;
	bool near, build;

	if (cd->cap == 0) {
		rows_read(S, 0, r0, r1);
		return cd->mx;
	}
	near = cd->based && cand_near(w, cd->w0, n_w, cd->spread);
	/* a list pays off once the weights move little between passes */
	build = near || (cd->ok && cd->uses > 0);
	if (cd->ok && near) {
		cand_max(S, cd, rows, cd->hok && cand_near(w, cd->hw0, n_w, CAND_HOT), S->a, S->b);
		cd->uses++;
	} else if (!build || (got = cand_fresh(S, cd, rows, S->a, S->b, true)) != FRESH_LISTED) {
		/* the maxima from a full pass (or the scan that did not fit), and a
		 * list made from them in a second scan; one that does not fit tries
		 * narrower spreads (each the square root of the last) a few times,
		 * then the layer goes without */
		if (got == FRESH_NONE)
			rows_read(S, 0, r0, r1);
		if (!build) {
			cand_unlisted(cd, w, n_w);
			return cd->mx;
		}
		memcpy(cd->w1, w, n_w * sizeof *w); /* the bound: the maxima just taken */
		if (cand_fresh(S, cd, rows, S->a, S->b, false) != FRESH_LISTED) {
			cd->spread = sqrt(cd->spread);
			if (cd->spread < pow(CAND_SPREAD, 1.0 / (1 << CAND_TRIES)))
				cd->cap = 0; /* even entries: full passes from now on */
		}
	}
	memcpy(cd->w1, w, n_w * sizeof *w);
	cd->based = true;
	return cd->mx;
}

/* Both sides' maxima in one full pass (kernel_weighted_max takes the rows'
 * and the columns' together): a layer's first ranges, which ask for both
 * before any scale has moved. */
static void both_max(struct lstate *S)
{
	rows_read(S, 0, S->rows.mx, S->cols.mx);
	cand_unlisted(&S->rows, S->b, S->n_col);
	cand_unlisted(&S->cols, S->a, S->t.d0);
}

/* A layer's output (SIDE_OUT) or input ranges (SIDE_IN), or both, under
 * the current scales.  The output ranges' maxima run over the input side
 * (weights b for a Conv's rows) and are then multiplied by the output
 * side's factors, the input ranges' the other way round; S->dirty says
 * which side's maxima are stale (their own side's factors are applied at
 * every call). */
void balance_layer_ranges(struct eq *q, uint32_t li, unsigned sides)
{
	const struct cle_layer *l = &q->p->layers[li];
	struct lstate *S = &q->ls[li];
	float *fo = l->lead_out ? S->a : S->b, *fi = l->lead_out ? S->b : S->a;
	/* rows: r0 = max_j m b, times a: the output side's when the layer leads with its outputs */
	unsigned rows_side = l->lead_out ? SIDE_OUT : SIDE_IN, stale = S->dirty & sides;
	const double *so, *si;
	size_t i, c, r;

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
	if (stale == (SIDE_OUT | SIDE_IN) && !S->rows.based && !S->cols.based) {
		both_max(S);
	} else {
		if (stale & rows_side)
			side_max(S, true);
		if (stale & ~rows_side)
			side_max(S, false);
	}
	if (sides & rows_side)
		for (i = 0; i < l->d0; i++)
			S->r0[i] = S->rows.mx[i] * S->a[i];
	if (sides & ~rows_side)
		for (i = 0; i < S->n_col; i++)
			S->r1[i] = S->cols.mx[i] * S->b[i];
	S->dirty &= ~sides;
}

/* Region rg's scales moved: its producers' input-side maxima (over their
 * outputs, which rg scales) and its consumers' output-side maxima (over
 * their inputs) are stale. */
void balance_mark_dirty(struct eq *q, const struct cle_region *rg)
{
	uint32_t i;

	for (i = 0; i < rg->n_producers; i++)
		q->ls[rg->producers[i]].dirty |= SIDE_IN;
	for (i = 0; i < rg->n_consumers; i++)
		q->ls[rg->consumers[i]].dirty |= SIDE_OUT;
}

/* The maxima behind layer li's ranges on one side (SIDE_OUT or SIDE_IN),
 * and their count. */
static float *side_maxima(struct eq *q, uint32_t li, unsigned side, size_t *n)
{
	struct lstate *S = &q->ls[li];
	bool rows = (side == SIDE_OUT) == q->p->layers[li].lead_out;

	*n = rows ? S->t.d0 : S->n_col;
	return rows ? S->rows.mx : S->cols.mx;
}

size_t balance_side_count(struct eq *q, uint32_t li, unsigned side)
{
	size_t n;

	side_maxima(q, li, side, &n);
	return n;
}

unsigned balance_save(struct eq *q, uint32_t li, unsigned side, float *keep)
{
	size_t n;
	const float *mx = side_maxima(q, li, side, &n);

	if (!(q->ls[li].dirty & side))
		memcpy(keep, mx, n * sizeof *keep);
	return q->ls[li].dirty;
}

void balance_restore(struct eq *q, uint32_t li, unsigned side, const float *keep, unsigned dirty)
{
	size_t n;
	float *mx = side_maxima(q, li, side, &n);

	if (!(dirty & side))
		memcpy(mx, keep, n * sizeof *mx);
	q->ls[li].dirty = dirty;
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

		balance_layer_ranges(q, rg->producers[i], SIDE_OUT);
		for (c = 0; c < l->c_out; c++)
			if ((double)S->rout[c] > rp[l->out_off + c])
				rp[l->out_off + c] = (double)S->rout[c];
	}
	for (i = 0; i < rg->n_consumers; i++) {
		const struct cle_layer *l = &q->p->layers[rg->consumers[i]];
		const struct lstate *S = &q->ls[rg->consumers[i]];

		balance_layer_ranges(q, rg->consumers[i], SIDE_IN);
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

/* Is scale s held at the clamp (max or its inverse; 0: none)? */
static bool at_clamp(double max, double s)
{
	return max > 0 && (s >= max || s <= 1.0 / max);
}

static double clamp_scale(double max, double s)
{
	if (max > 0 && s > max)
		return max;
	if (max > 0 && s < 1.0 / max)
		return 1.0 / max;
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

/* Sets *s to x, clamped; returns how far it moved, |log(new / old)|.  A
 * channel held at the clamp moves no more, whatever imbalance it keeps. */
static double move_scale(double max, double *s, double x)
{
	double old = *s;

	*s = clamp_scale(max, x);
	return fabs(log(*s / old));
}

/* Does region r have a layer with float16 weights? */
static bool half_weights(const struct eq *q, uint32_t r)
{
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t i;

	for (i = 0; i < rg->n_producers + rg->n_consumers; i++) {
		uint32_t li = i < rg->n_producers ? rg->producers[i] : rg->consumers[i - rg->n_producers];

		if (q->ls[li].t.dt == KERNEL_F16)
			return true;
	}
	return false;
}

/* Scratch for one balancing step, per region channel. */
struct bscratch {
	double *rp, *rq, *rp2, *rq2; /* ranges of the region and of the one after a triplet's middle */
	double *lo, *hi, *lo2, *hi2; /* their float16 bit-keeping limits (stats_half_quanta) */
	uint8_t *done;               /* per region: balanced this round */
	bool over;                   /* this round over-relaxes (see OVER_FROM) */
};

/* Over-relaxation: regions in a chain pass a change on like diffusion,
 * which plain rounds take O(chain length^2) to spread (resnet-100m 96
 * rounds, vgg-1g 313, Silero legacy 130).  So from round OVER_FROM on (the
 * first rounds move scales far and settle which entries hold the maxima;
 * most models are balanced by then), once a round's largest move is at
 * least OVER_SLOW of the one before, each scale moves 1.5 times as far in
 * log scale as the rule asks, s t^1.5 for its step t (60, 129, 61 rounds;
 * models that converge fast are left as they were).  t sqrt(t), not pow:
 * the same bits in bench/ref_cle.py.  Not in regions with float16 limits,
 * whose windows move with the scales (it kept u2netp_f16 going to round
 * OVER_UNTIL); from OVER_UNTIL on, plain rounds again whatever
 * over-relaxing did. */
#define OVER_FROM 20
#define OVER_SLOW 0.8
#define OVER_UNTIL 200

static bool has_half_limits(const struct eq *q, uint32_t r)
{
	return q->cap_lo != NULL && q->cap_lo[r] != NULL;
}

static double over(double t)
{
	return t * sqrt(t);
}

/* The float16 limits of region r under the current scales into lo, hi. */
static void half_limits(struct eq *q, uint32_t r, double *lo, double *hi)
{
	size_t c;

	for (c = 0; c < q->p->regions[r].n_ch; c++)
		lo[c] = 0, hi[c] = HUGE_VAL;
	stats_half_quanta(q, r, lo, hi);
}

/* x for channel c of region r, kept inside the float16 window
 * (eq_half_window) given its ranges rp, rq and bit-keeping limits lo, hi
 * under the current scale s; the window's hold is noted in cap_hit. */
static double half_clamp(struct eq *q, uint32_t r, size_t c, double rp, double rq, double lo,
			 double hi, double s, double x)
{
	double y;
	bool w;

	if (!has_half_limits(q, r))
		return x;
	w = half_weights(q, r);
	eq_half_window(q, r, c, w ? rp * s : 0, w ? rq / s : 0, s, &lo, &hi);
	y = fmin(fmax(x, lo), hi);
	q->cap_hit[r][c] = y != x;
	return y;
}

/* One balancing step of region r (and, for a triplet, of the region after
 * its depthwise layer); returns the largest move of a scale, the measure
 * of convergence. */
static double balance(struct eq *q, uint32_t r, struct bscratch *b)
{
	const double max = eq_max_scale(q);
	const struct cle_region *rg = &q->p->regions[r];
	uint32_t mid = triplet_middle(q, r), r2;
	double worst = 0, *s = q->s[r], *s2, *rp = b->rp, *rq = b->rq, *rp2 = b->rp2, *rq2 = b->rq2;
	/* over-relaxed: this round, and no float16 limits here or after the triplet's middle */
	bool ov = b->over && !has_half_limits(q, r) &&
		  (mid == GRAPH_NONE || !has_half_limits(q, q->p->layers[mid].out_region));
	size_t c;

	region_ranges(q, r, rp, rq);
	half_limits(q, r, b->lo, b->hi);
	if (mid == GRAPH_NONE) {
		for (c = 0; c < rg->n_ch; c++) {
			double t = sqrt(rp[c] / rq[c]), x;

			if (!usable(rp[c]) || !usable(rq[c]))
				continue;
			x = half_clamp(q, r, c, rp[c], rq[c], b->lo[c], b->hi[c], s[c], s[c] * (ov ? over(t) : t));

			worst = fmax(worst, move_scale(max, &s[c], x));
		}
		balance_mark_dirty(q, rg);
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
		half_limits(q, r2, b->lo2, b->hi2);
		for (c = 0; c < d->c_in; c++) {
			size_t a = d->in_off + c, bb = d->out_off + c;
			double x1 = rp[a] * s[a], x2 = (double)D->rout[c] * s2[bb] / s[a];
			double x3 = rq2[bb] / s2[bb], gm;

			if (!usable(x1) || !usable(x2) || !usable(x3) || !usable(rq[a]) || !usable(rq2[bb]))
				continue;
			gm = stats_cbrt(x1 * x2 * x3);
			/* the float16 window of the outer layers (the depthwise one's
			 * moves with both scales: the writer's overflow check guards it) */
			x1 = ov ? s[a] * over(x1 / gm / s[a]) : x1 / gm;
			x3 = ov ? s2[bb] * over(gm / x3 / s2[bb]) : gm / x3;
			x1 = half_clamp(q, r, a, rp[a], 0, b->lo[a], b->hi[a], s[a], x1);
			x3 = half_clamp(q, r2, bb, 0, rq2[bb], b->lo2[bb], b->hi2[bb], s2[bb], x3);
			worst = fmax(worst, move_scale(max, &s[a], x1));
			worst = fmax(worst, move_scale(max, &s2[bb], x3));
		}
		b->done[r2] = 1;
		balance_mark_dirty(q, rg);
		balance_mark_dirty(q, &q->p->regions[r2]);
	}
	return worst;
}


size_t balance_most_channels(const struct eq *q)
{
	size_t most = 1;
	uint32_t r;

	for (r = 0; r < q->p->n_regions; r++)
		if (q->s[r] != NULL && q->p->regions[r].n_ch > most)
			most = q->p->regions[r].n_ch;
	return most;
}

enum cle_status balance_run(struct eq *q)
{
	struct cle_plan *p = q->p;
	struct bscratch b;
	size_t most = balance_most_channels(q);
	uint32_t r;
	int round, limit = cle_round_limit(&p->cfg);
	double last = 0, before = 0; /* the largest moves of the last two rounds */

	b.rp = eq_alloc(q, most, sizeof(double));
	b.rq = eq_alloc(q, most, sizeof(double));
	b.rp2 = eq_alloc(q, most, sizeof(double));
	b.rq2 = eq_alloc(q, most, sizeof(double));
	b.lo = eq_alloc(q, most, sizeof(double));
	b.hi = eq_alloc(q, most, sizeof(double));
	b.lo2 = eq_alloc(q, most, sizeof(double));
	b.hi2 = eq_alloc(q, most, sizeof(double));
	b.done = eq_alloc(q, p->n_regions, 1);
	if (!b.rp || !b.rq || !b.rp2 || !b.rq2 || !b.lo || !b.hi || !b.lo2 || !b.hi2 || !b.done)
		return eq_nomem(q);
	b.over = false;
	for (round = 0; round < limit; round++) {
		double worst = 0;

		memset(b.done, 0, p->n_regions);
		/* on once the rounds converge slowly, off at OVER_UNTIL */
		b.over = round < OVER_UNTIL && (b.over || (round >= OVER_FROM && last > OVER_SLOW * before));
		for (r = 0; r < p->n_regions; r++) {
			double w;

			if (q->s[r] == NULL || b.done[r])
				continue;
			w = balance(q, r, &b);
			if (w > worst)
				worst = w;
		}
		q->res->rounds = round + 1;
		if (!eq_progress(q, "balance", (double)(round + 1) / limit))
			return cle_errorf(q->e, CLE_E_CANCELLED, "cancelled");
		if (worst <= p->cfg.tolerance)
			break;
		before = last;
		last = worst;
	}
	for (r = 0; r < p->n_regions; r++)
		q->res->scaling[r] = q->s[r] != NULL ? CLE_SCALED_FULL : 0;
	return CLE_OK;
}

/* The scales channel c of region r may take, given the other regions'
 * scales as they are: within --max-scale, its static float16 limits, no
 * float16 weight losing bits or overflowing (no allowance for the scale it
 * has now, unlike eq_half_window). */
static void exact_window(struct eq *q, uint32_t r, double *rp, double *rq, double *lo, double *hi)
{
	const double mx = eq_max_scale(q);
	const struct cle_region *rg = &q->p->regions[r];
	bool w = half_weights(q, r);
	size_t c;

	for (c = 0; c < rg->n_ch; c++) {
		lo[c] = fmax(mx > 0 ? 1 / mx : 0, q->cap_lo[r][c]);
		hi[c] = fmin(mx > 0 ? mx : HUGE_VAL, q->cap_hi[r][c]);
	}
	stats_half_quanta(q, r, lo, hi);
	region_ranges(q, r, rp, rq);
	for (c = 0; c < rg->n_ch && w; c++) {
		double s = q->s[r][c];

		if (rp[c] > 0)
			lo[c] = fmax(lo[c], rp[c] * s / F16_MAX);
		if (rq[c] > 0)
			hi[c] = fmin(hi[c], F16_MAX * s / rq[c]);
	}
}

/* After rounding, every float16 region's scales inside their exact
 * windows given the others' final ones: a channel outside moves to the
 * nearest allowed (power of two) scale, or back to 1; passes repeat while
 * anything moves.  When that does not settle, the float16 regions are left
 * as the model has them (scale 1 everywhere is exact).  True if anything
 * moved. */
static bool half_repair(struct eq *q, double *rp, double *rq, double *lo, double *hi)
{
	const struct cle_plan *p = q->p;
	bool changed = true, any = false;
	uint32_t r;
	int pass;
	size_t c;

	if (q->cap_lo == NULL)
		return false;
	for (pass = 0; changed && pass < 16; pass++) {
		changed = false;
		for (r = 0; r < p->n_regions; r++) {
			if (q->s[r] == NULL || q->cap_lo[r] == NULL)
				continue;
			exact_window(q, r, rp, rq, lo, hi);
			for (c = 0; c < p->regions[r].n_ch; c++) {
				double s = q->s[r][c], ns;

				if (s >= lo[c] * (1 - 1e-12) && s <= hi[c] * (1 + 1e-12))
					continue;
				ns = !(lo[c] <= hi[c]) ? 1.0 : eq_pow2(q) ? eq_pow2_within(s, lo[c], hi[c])
									     : fmin(fmax(s, lo[c]), hi[c]);
				if (ns == s)
					ns = 1.0;
				if (ns == s)
					continue;
				q->s[r][c] = ns;
				q->cap_hit[r][c] = 1;
				changed = any = true;
			}
			balance_mark_dirty(q, &p->regions[r]);
		}
	}
	if (!changed)
		return any;
	for (r = 0; r < p->n_regions; r++) {
		if (q->s[r] == NULL || q->cap_lo[r] == NULL)
			continue;
		for (c = 0; c < p->regions[r].n_ch; c++)
			q->s[r][c] = 1.0;
		balance_mark_dirty(q, &p->regions[r]);
	}
	return true;
}

enum cle_status balance_finish(struct eq *q)
{
	struct cle_plan *p = q->p;
	size_t most = balance_most_channels(q);
	double *rp, *rq, *lo, *hi;
	uint32_t r;

	rp = eq_alloc(q, most, sizeof(double));
	rq = eq_alloc(q, most, sizeof(double));
	lo = eq_alloc(q, most, sizeof(double));
	hi = eq_alloc(q, most, sizeof(double));
	if (!rp || !rq || !lo || !hi)
		return eq_nomem(q);
	for (r = 0; r < p->n_regions; r++) {
		size_t c;

		if (q->s[r] == NULL || !eq_pow2(q))
			continue;
		for (c = 0; c < p->regions[r].n_ch; c++)
			q->s[r][c] = eq_pow2_round(q->s[r][c]);
		balance_mark_dirty(q, &p->regions[r]);
	}
	/* float16 values in range and exact under the final scales; the
	 * estimate may not end above the model's own for it */
	if (half_repair(q, rp, rq, lo, hi) && p->cfg.objective == CLE_OBJECTIVE_NOISE) {
		double n = noise_total(q);

		q->res->est_after = n > 0 ? -10 * log10(n) : 0;
		if (q->res->est_after < q->res->est_before) {
			for (r = 0; r < p->n_regions; r++) {
				size_t c;

				if (q->s[r] == NULL || q->cap_lo[r] == NULL)
					continue;
				for (c = 0; c < p->regions[r].n_ch; c++)
					q->s[r][c] = 1.0;
				balance_mark_dirty(q, &p->regions[r]);
			}
			n = noise_total(q);
			q->res->est_after = n > 0 ? -10 * log10(n) : 0;
		}
	}
	/* what is left, per region, under the final (rounded, clamped) scales */
	for (r = 0; r < p->n_regions; r++) {
		size_t c;

		if (q->s[r] == NULL)
			continue;
		for (c = 0; c < p->regions[r].n_ch; c++) {
			q->res->clamped += at_clamp(eq_max_scale(q), q->s[r][c]);
			if (q->cap_hit != NULL && q->cap_hit[r] != NULL)
				q->res->half_limited += q->cap_hit[r][c];
		}
	}
	/* per layer: its output channels held at the limit */
	for (r = 0; r < p->n_layers; r++) {
		const struct cle_layer *l = &p->layers[r];
		size_t c;

		if (l->out_region != GRAPH_NONE && q->s[l->out_region] != NULL)
			for (c = 0; c < l->c_out; c++)
				q->res->layers[r].clamped +=
					at_clamp(eq_max_scale(q), q->s[l->out_region][l->out_off + c]);
	}
	/* the largest imbalance left where a scale could still move: a channel
	 * held at the clamp (a near-dead one) is counted in clamped instead */
	for (r = 0; r < p->n_regions; r++) {
		size_t c;

		if (q->s[r] == NULL)
			continue;
		region_ranges(q, r, rp, rq);
		for (c = 0; c < p->regions[r].n_ch; c++)
			if (usable(rp[c]) && usable(rq[c]) && !at_clamp(eq_max_scale(q), q->s[r][c]) &&
			    fabs(log2(rp[c] / rq[c])) > q->res->max_imbalance)
				q->res->max_imbalance = fabs(log2(rp[c] / rq[c]));
	}
	return CLE_OK;
}
