/* cle_plan.c — cle_plan_groups: the layers, the regions between them and
 * the reason for every break (see cle.h).  Each graph (the main graph and
 * every subgraph) is planned in phases over a scratch arena freed at its
 * end: layers, roles, channel counts, joins, producers and consumers,
 * members, settling. */
#include "cle_plan_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static enum cle_status plan_nomem(struct planner *pl)
{
	return cle_errorf(pl->e, CLE_E_NOMEM, "out of memory planning equalization");
}

/* Appends x to a list kept in the plan's arena (regions hold few members). */
static enum cle_status list_add(struct planner *pl, uint32_t **list, uint32_t *n, uint32_t x)
{
	uint32_t *nl;

	if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to the next power of two */
		nl = cle_arena_alloc(&pl->p->arena, (*n ? *n * 2 : 1) * sizeof *nl);
		if (nl == NULL)
			return plan_nomem(pl);
		if (*n)
			memcpy(nl, *list, *n * sizeof *nl);
		*list = nl;
	}
	(*list)[(*n)++] = x;
	return CLE_OK;
}

/* ---- layers ---------------------------------------------------------------- */

static enum cle_status add_layer(struct planner *pl, struct cle_layer **out)
{
	struct cle_plan *p = pl->p;
	struct cle_layer *l;

	if (CLE_RESERVE(pl->a, p->layers, p->cap_layers, p->n_layers + 1, 32, pl->e) != CLE_OK)
		return plan_nomem(pl);
	l = &p->layers[p->n_layers++];
	memset(l, 0, sizeof *l);
	l->w_value = l->b_value = GRAPH_NONE;
	l->bn = l->bias_add = GRAPH_NONE;
	l->in_region = l->out_region = GRAPH_NONE;
	l->group = GRAPH_NONE;
	l->in_rep = 1;
	*out = l;
	return CLE_OK;
}

/* Node n, a layer op, as a layer; the nodes it absorbs are part of it. */
static enum cle_status plan_layer(struct planner *pl, uint32_t n, enum ops_layer kind)
{
	struct cle_layer *l = NULL;
	enum cle_status st;
	uint32_t i;

	if ((st = add_layer(pl, &l)) != CLE_OK ||
	    (st = cle_layer_describe(pl->p, l, pl->g, n, kind, pl->e)) != CLE_OK)
		return st;
	pl->layer_of_node[n] = pl->p->n_layers - 1;
	pl->role[n] = OPS_LAYER;
	if (l->bn != GRAPH_NONE)
		pl->role[l->bn] = OPS_LAYER;
	if (l->bias_add != GRAPH_NONE)
		pl->role[l->bias_add] = OPS_LAYER;
	for (i = 0; i < l->n_affine; i++)
		pl->role[l->affine[i]] = OPS_LAYER;
	return CLE_OK;
}

/* ---- union-find over values, with channel offsets ------------------------- */

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

/* ---- the phases ------------------------------------------------------------ */

/* Scratch arrays for graph g, indexed by value and by node. */
static enum cle_status scratch_init(struct planner *pl, const struct graph *g)
{
	struct cle_arena *s = &pl->scratch;
	size_t nv = (size_t)g->n_value + 1, nn = (size_t)g->n_node + 1;
	uint32_t i;

	pl->g = g;
	pl->first_layer = pl->p->n_layers;
	pl->first_region = pl->p->n_regions;
	pl->parent = cle_arena_calloc(s, nv, sizeof *pl->parent);
	pl->delta = cle_arena_calloc(s, nv, sizeof *pl->delta);
	pl->nch = cle_arena_calloc(s, nv, sizeof *pl->nch);
	pl->flat = cle_arena_calloc(s, nv, sizeof *pl->flat);
	pl->out_layer = cle_arena_calloc(s, nv, sizeof *pl->out_layer);
	pl->region_of_root = cle_arena_calloc(s, nv, sizeof *pl->region_of_root);
	pl->role = cle_arena_calloc(s, nn, sizeof *pl->role);
	pl->why = cle_arena_calloc(s, nn, sizeof *pl->why);
	pl->layer_of_node = cle_arena_calloc(s, nn, sizeof *pl->layer_of_node);
	pl->listed = cle_arena_calloc(s, nn, sizeof *pl->listed);
	pl->dslot = cle_arena_calloc(s, nn, sizeof *pl->dslot);
	pl->rescale = cle_arena_calloc(s, nn, sizeof *pl->rescale);
	pl->hswish = cle_arena_calloc(s, nn, sizeof *pl->hswish);
	if (!pl->parent || !pl->delta || !pl->nch || !pl->flat || !pl->out_layer ||
	    !pl->region_of_root || !pl->role || !pl->why || !pl->layer_of_node || !pl->listed ||
	    !pl->dslot || !pl->rescale || !pl->hswish)
		return plan_nomem(pl);
	for (i = 0; i < g->n_value; i++) {
		pl->parent[i] = i;
		pl->region_of_root[i] = GRAPH_NONE;
		pl->out_layer[i] = GRAPH_NONE;
	}
	for (i = 0; i < g->n_node; i++)
		pl->layer_of_node[i] = GRAPH_NONE;
	return CLE_OK;
}

/* Layers first (they claim their BatchNormalization or bias Add), then
 * what every other node does to channels. */
static enum cle_status find_roles(struct planner *pl)
{
	const struct graph *g = pl->g;
	enum cle_status st;
	uint32_t n, i;

	for (n = 0; n < g->n_node; n++) {
		const struct ops_def *d = ops_find(&g->node[n]);

		if (d != NULL && d->role == OPS_LAYER && (st = plan_layer(pl, n, d->layer)) != CLE_OK)
			return st;
	}
	for (n = 0; n < g->n_node; n++)
		if ((st = plan_set_role(pl, n)) != CLE_OK)
			return st;
	for (i = pl->first_layer; i < pl->p->n_layers; i++)
		if (pl->p->layers[i].why == NULL)
			pl->out_layer[pl->p->layers[i].out_value] = i;
	return CLE_OK;
}

/* The channel count node n's first output gets from its inputs, 0 if
 * unknown: a pass-through's (a Resize by constant sizes: its sizes' C),
 * an elementwise join's, a Concat's sum. */
static int64_t channels_through(struct planner *pl, uint32_t n, enum ops_role role)
{
	const struct graph_node *nd = &pl->g->node[n];
	int64_t c = 0;
	uint32_t i, x;

	if ((role == OPS_PASS || role == OPS_FLATTEN) && nd->n_in > pl->dslot[n] &&
	    (x = nd->in[pl->dslot[n]]) != GRAPH_NONE) {
		if (role == OPS_PASS && ops_resize_sizes(pl->g, n, &c) && c > 0 && c <= INT32_MAX)
			return c;
		return pl->nch[x];
	}
	if (role == OPS_JOIN)
		for (i = 0; i < nd->n_in && c == 0; i++)
			c = pl->nch[nd->in[i]];
	if (role == OPS_CONCAT)
		for (i = 0; i < nd->n_in; i++) {
			if (pl->nch[nd->in[i]] == 0)
				return 0;
			c += pl->nch[nd->in[i]];
			if (c > INT32_MAX)
				return 0; /* the same answer on 32 and 64 bits: unknown */
		}
	return c;
}

/* Carries channel counts through the roles until nothing changes (files
 * need not be sorted); a Flatten's mark too. */
static void carry_channels(struct planner *pl)
{
	const struct graph *g = pl->g;
	uint32_t n, pass;
	bool changed = true;

	for (pass = 0; changed && pass < g->n_node + 1; pass++) {
		changed = false;
		for (n = 0; n < g->n_node; n++) {
			const struct graph_node *nd = &g->node[n];
			uint32_t x = nd->n_in > pl->dslot[n] ? nd->in[pl->dslot[n]] : GRAPH_NONE;
			int64_t c;

			if (nd->n_out < 1 || nd->out[0] == GRAPH_NONE)
				continue;
			if (pl->role[n] == OPS_FLATTEN ||
			    (pl->role[n] == OPS_PASS && x != GRAPH_NONE && pl->flat[x])) {
				changed |= !pl->flat[nd->out[0]];
				pl->flat[nd->out[0]] = 1;
			}
			if (pl->nch[nd->out[0]] != 0 || (c = channels_through(pl, n, pl->role[n])) == 0)
				continue;
			pl->nch[nd->out[0]] = c;
			changed = true;
		}
	}
}

/* Channel counts: layers' outputs, carried through the other roles; then,
 * where a Concat on channels still meets an unknown count, the shape the
 * file records for that tensor (value_info), carried again. */
static void count_channels(struct planner *pl)
{
	const struct graph *g = pl->g;
	uint32_t i, n;
	bool seeded = false;

	for (i = pl->first_layer; i < pl->p->n_layers; i++)
		if (pl->p->layers[i].why == NULL)
			pl->nch[pl->p->layers[i].out_value] = (int64_t)pl->p->layers[i].c_out;
	carry_channels(pl);
	for (n = 0; n < g->n_node; n++) {
		if (pl->role[n] != OPS_CONCAT)
			continue;
		for (i = 0; i < g->node[n].n_in; i++) {
			uint32_t v = g->node[n].in[i];
			int64_t dims[8];
			int32_t rank;

			if (v == GRAPH_NONE || pl->nch[v] != 0 || pl->flat[v] ||
			    !graph_value_shape(&g->value[v], &rank, dims, NULL, 8) || rank < 2 ||
			    dims[1] <= 0 || dims[1] > INT32_MAX)
				continue;
			pl->nch[v] = dims[1];
			seeded = true;
		}
	}
	if (seeded)
		carry_channels(pl);
}

/* Joins the tensors that share channels; a node that cannot join blocks. */
static enum cle_status join_tensors(struct planner *pl)
{
	const struct graph *g = pl->g;
	enum cle_status st;
	char lb[256];
	uint32_t n, i;

	for (n = 0; n < g->n_node; n++) {
		const struct graph_node *nd = &g->node[n];
		int64_t off = 0, sz;
		bool ok = true;

		if (nd->n_out < 1 || nd->out[0] == GRAPH_NONE)
			continue;
		if (pl->role[n] == OPS_JOIN) {
			int64_t c = 0;

			/* a broadcast (one channel against many) does not share channels */
			for (i = 0; i < nd->n_in; i++) {
				int64_t ci = pl->nch[nd->in[i]];

				if (ci != 0 && c != 0 && ci != c)
					break;
				c = ci != 0 ? ci : c;
			}
			if (i < nd->n_in) {
				pl->role[n] = OPS_BLOCK;
				if ((st = reason(pl, &pl->why[n], "%s node %s, which broadcasts tensors of %lld "
						 "and %lld channels against each other", nd->op, label(g, n, lb),
						 (long long)c, (long long)pl->nch[nd->in[i]])) != CLE_OK)
					return st;
				continue;
			}
		}
		if (pl->role[n] == OPS_PASS && ops_resize_sizes(g, n, &sz) && sz > 0 &&
		    pl->nch[nd->in[0]] != sz) {
			pl->role[n] = OPS_BLOCK;
			st = pl->nch[nd->in[0]] == 0
				? reason(pl, &pl->why[n], "Resize node %s, whose constant sizes set %lld "
					 "channels where the channel count before it is not known",
					 label(g, n, lb), (long long)sz)
				: reason(pl, &pl->why[n], "Resize node %s, whose sizes make %lld channels of "
					 "%lld", label(g, n, lb), (long long)sz, (long long)pl->nch[nd->in[0]]);
			if (st != CLE_OK)
				return st;
			continue;
		}
		if (pl->role[n] == OPS_CONCAT) {
			for (i = 0; i < nd->n_in && pl->nch[nd->in[i]] != 0; i++)
				;
			if (i < nd->n_in) {
				pl->role[n] = OPS_BLOCK;
				if ((st = reason(pl, &pl->why[n], "Concat node %s, which joins tensors whose "
						 "channel counts are not known", label(g, n, lb))) != CLE_OK)
					return st;
				continue;
			}
		}
		switch (pl->role[n]) {
		case OPS_PASS:
		case OPS_FLATTEN:
			if (nd->n_in > pl->dslot[n] && nd->in[pl->dslot[n]] != GRAPH_NONE)
				ok = uf_join(pl, nd->in[pl->dslot[n]], nd->out[0], 0);
			break;
		case OPS_JOIN:
		case OPS_CONCAT:
			for (i = 0; i < nd->n_in; i++) {
				ok = uf_join(pl, nd->in[i], nd->out[0], off) && ok;
				if (pl->role[n] == OPS_CONCAT)
					off += pl->nch[nd->in[i]];
			}
			break;
		default:
			break;
		}
		if (!ok) {
			pl->role[n] = OPS_BLOCK;
			if ((st = reason(pl, &pl->why[n], "%s node %s, which would put one tensor's "
					 "channels at two places", nd->op, label(g, n, lb))) != CLE_OK)
				return st;
		}
	}
	return CLE_OK;
}

/* The region of value v's union-find root, made on first use. */
static enum cle_status region_of(struct planner *pl, uint32_t v, uint32_t *out)
{
	struct cle_plan *p = pl->p;
	uint32_t r = uf_find(pl, v);

	if (pl->region_of_root[r] == GRAPH_NONE) {
		struct cle_region *rg;

		if (CLE_RESERVE(pl->a, p->regions, p->cap_regions, p->n_regions + 1, 32, pl->e) != CLE_OK)
			return plan_nomem(pl);
		rg = &p->regions[p->n_regions];
		memset(rg, 0, sizeof *rg);
		rg->g = pl->g;
		rg->relu = GRAPH_NONE;
		pl->region_of_root[r] = p->n_regions++;
	}
	*out = pl->region_of_root[r];
	return CLE_OK;
}

/* Every layer writes its output's region and reads its input's. */
static enum cle_status attach_layers(struct planner *pl)
{
	struct cle_plan *p = pl->p;
	enum cle_status st;
	uint32_t i, r;

	for (i = pl->first_layer; i < p->n_layers; i++) {
		struct cle_layer *l = &p->layers[i];
		uint32_t in = pl->g->node[l->node].in[0];

		if (l->why != NULL)
			continue;
		if ((st = region_of(pl, l->out_value, &l->out_region)) != CLE_OK ||
		    (in != GRAPH_NONE && (st = region_of(pl, in, &l->in_region)) != CLE_OK))
			return st;
	}
	pl->rb = cle_arena_calloc(&pl->scratch, p->n_regions - pl->first_region + 1, sizeof *pl->rb);
	if (pl->rb == NULL)
		return plan_nomem(pl);
	for (r = 0; r < p->n_regions - pl->first_region; r++) {
		pl->rb[r].only_relu = pl->rb[r].hbf_path = true;
		pl->rb[r].lo = INT64_MAX;
		pl->rb[r].hi = INT64_MIN;
	}
	for (i = pl->first_layer; i < p->n_layers; i++) {
		struct cle_layer *l = &p->layers[i];
		struct region_build *b;

		if (l->why != NULL)
			continue;
		b = &pl->rb[l->out_region - pl->first_region];
		if ((st = list_add(pl, &b->producers, &b->n_producers, i)) != CLE_OK)
			return st;
		if (pl->g->node[l->node].in[0] == GRAPH_NONE)
			continue;
		b = &pl->rb[l->in_region - pl->first_region];
		if ((st = list_add(pl, &b->consumers, &b->n_consumers, i)) != CLE_OK)
			return st;
	}
	return CLE_OK;
}

/* Where value v's channels come from, when that closes its region. */
static enum cle_status scan_source(struct planner *pl, struct region_build *b, uint32_t v)
{
	const struct graph *g = pl->g;
	const struct graph_value *val = &g->value[v];
	enum cle_status st;
	char lb[256];

	if ((val->flags & GRAPH_IS_OUTPUT) &&
	    (st = reason(pl, &b->blocked, "tensor '%s' is a graph output, so its values must stay as "
			 "they are", val->name)) != CLE_OK)
		return st;
	if (pl->out_layer[v] != GRAPH_NONE)
		return CLE_OK; /* a producer */
	if (val->producer == GRAPH_NONE)
		return reason(pl, &b->blocked, "tensor '%s' is %s, which cannot be rescaled", val->name,
			      (val->flags & GRAPH_IS_INPUT) ? "a graph input"
			      : (val->flags & GRAPH_IS_OUTER) ? "defined outside this subgraph"
			      : val->konst ? "a constant" : "never produced");
	if (pl->role[val->producer] == OPS_BLOCK && pl->hswish[val->producer])
		return reason(pl, &b->blocked, "the channels of '%s' come from %s", val->name,
			      pl->why[val->producer]);
	if (pl->role[val->producer] == OPS_BLOCK || pl->role[val->producer] == OPS_LAYER)
		return reason(pl, &b->blocked, "the channels of '%s' come from %s node %s, which cannot be "
			      "rescaled", val->name, g->node[val->producer].op, label(g, val->producer, lb));
	return CLE_OK;
}

/* What a read of value v by use u does to its region. */
static enum cle_status scan_use(struct planner *pl, struct region_build *b, uint32_t v,
				const struct graph_use *u)
{
	const struct graph *g = pl->g;
	const struct cle_plan *p = pl->p;
	const char *name = g->value[v].name, *op = g->node[u->node].op;
	const struct ops_def *d = ops_find(&g->node[u->node]);
	enum cle_status st;
	char lb[256];
	uint32_t ln;

	if (u->slot == GRAPH_NONE)
		return reason(pl, &b->blocked, "tensor '%s' is read inside a subgraph of node %s", name,
			      label(g, u->node, lb));
	if (pl->role[u->node] == OPS_SHAPE)
		return CLE_OK; /* the shape stays as it is */
	if (pl->role[u->node] != OPS_BLOCK && pl->role[u->node] != OPS_LAYER && !pl->listed[u->node]) {
		pl->listed[u->node] = 1;
		if ((st = list_add(pl, &b->through, &b->n_through, u->node)) != CLE_OK)
			return st;
	}
	switch (pl->role[u->node]) {
	case OPS_BLOCK:
		return reason(pl, &b->blocked, "tensor '%s' is read by %s", name, pl->why[u->node]);
	case OPS_LAYER:
		ln = pl->layer_of_node[u->node];
		if (ln != GRAPH_NONE && p->layers[ln].why != NULL)
			return reason(pl, &b->blocked, "tensor '%s' is read by %s node %s, which cannot be "
				      "equalized: %s", name, op, label(g, u->node, lb), p->layers[ln].why);
		if (ln == GRAPH_NONE || u->slot != 0)
			return reason(pl, &b->blocked, "tensor '%s' is read by %s node %s as a parameter",
				      name, op, label(g, u->node, lb));
		return CLE_OK;
	case OPS_PASS:
		b->only_relu &= (d->flags & OPS_REFERENCE) != 0;
		b->hbf_path &= (d->flags & OPS_SHIFT) != 0 && !pl->rescale[u->node];
		if (u->slot != pl->dslot[u->node])
			return reason(pl, &b->blocked, "tensor '%s' is a parameter of %s node %s", name, op,
				      label(g, u->node, lb));
		/* a node with no output computes nothing (found by the fuzzer: a Clip,
		 * then an Add, each beside a real one): nothing of it to rewrite */
		if (pl->rescale[u->node] && g->node[u->node].n_out > 0 && g->node[u->node].out[0] != GRAPH_NONE)
			return list_add(pl, &b->rescaled, &b->n_rescaled, u->node);
		return CLE_OK;
	case OPS_FLATTEN:
		b->only_relu = false;
		if (u->slot != 0)
			return reason(pl, &b->blocked, "tensor '%s' gives the shape of %s node %s", name, op,
				      label(g, u->node, lb));
		return CLE_OK;
	default:
		b->only_relu = false;
		b->hbf_path = false;
		return CLE_OK;
	}
}

/* What else touches each region's tensors: sources, readers, extent. */
static enum cle_status scan_members(struct planner *pl)
{
	const struct graph *g = pl->g;
	enum cle_status st;
	uint32_t v, j;

	for (v = 0; v < g->n_value; v++) {
		const struct graph_value *val = &g->value[v];
		uint32_t rid = pl->region_of_root[uf_find(pl, v)];
		struct region_build *b;
		int64_t off;

		if (rid == GRAPH_NONE)
			continue;
		b = &pl->rb[rid - pl->first_region];
		off = uf_offset(pl, v);
		if (pl->nch[v] > 0) {
			b->lo = off < b->lo ? off : b->lo;
			b->hi = off + pl->nch[v] > b->hi ? off + pl->nch[v] : b->hi;
		}
		if (val->n_uses > 1)
			b->only_relu = false;
		if ((st = scan_source(pl, b, v)) != CLE_OK)
			return st;
		for (j = 0; j < val->n_uses; j++)
			if ((st = scan_use(pl, b, v, &val->uses[j])) != CLE_OK)
				return st;
	}
	return CLE_OK;
}

/* The nodes of region r whose constants scale (Clip, BatchNormalization,
 * a constant operand), with their channels in the region's frame; a
 * constant that cannot follow the channels blocks the region. */
static enum cle_status settle_rescaled(struct planner *pl, uint32_t r)
{
	const struct graph *g = pl->g;
	struct cle_plan *p = pl->p;
	struct cle_region *rg = &p->regions[r];
	const struct region_build *b = &pl->rb[r - pl->first_region];
	enum cle_status st;
	char lb[256];
	uint32_t i;

	rg->rescaled = cle_arena_calloc(&p->arena, b->n_rescaled + 1, sizeof *rg->rescaled);
	if (rg->rescaled == NULL)
		return plan_nomem(pl);
	for (i = 0; i < b->n_rescaled; i++) {
		struct cle_rescaled *c = &rg->rescaled[rg->n_rescaled++];
		uint32_t n = b->rescaled[i], x = g->node[n].in[pl->dslot[n]];
		const struct graph_const *mean = ops_input_const(g, n, 3), *k;
		const struct cle_layer *pr;
		enum ops_fit fit;

		c->node = n;
		c->kind = (enum cle_rescale)(pl->rescale[n] - 1);
		c->slot = pl->dslot[n];
		c->off = (size_t)(uf_offset(pl, x) - b->lo);
		c->n_ch = (size_t)pl->nch[x];
		c->rank = 0;
		if (b->n_producers > 0 && !pl->flat[x]) {
			pr = &p->layers[b->producers[0]];
			if (pr->kind == OPS_CONV || pr->kind == OPS_CONV_TRANSPOSE)
				c->rank = graph_resolve(g, pr->w_value, NULL)->konst->n_dims;
		}
		if (c->n_ch == 0 && (st = reason(pl, &rg->blocked, "%s node %s has an unknown channel "
						 "count", g->node[n].op, label(g, n, lb))) != CLE_OK)
			return st;
		if (c->kind == CLE_RESCALE_BN && mean->count != c->n_ch &&
		    (st = reason(pl, &rg->blocked, "BatchNormalization node %s has %zu parameters for %zu "
				 "channels", label(g, n, lb), mean->count, c->n_ch)) != CLE_OK)
			return st;
		if (c->kind < CLE_RESCALE_BOUND || c->n_ch == 0)
			continue;
		k = ops_input_const(g, n, 1 - c->slot);
		fit = pl->flat[x] && k->count != 1 ? OPS_FIT_NONE : ops_channel_fit(k, c->n_ch, c->rank);
		if (fit == OPS_FIT_NONE &&
		    (st = reason(pl, &rg->blocked, "%s node %s broadcasts its constant across the channels "
				 "or adds axes to them", g->node[n].op, label(g, n, lb))) != CLE_OK)
			return st;
		if (fit == OPS_FIT_OTHER && c->kind != CLE_RESCALE_GAIN &&
		    (st = reason(pl, &rg->blocked, "%s node %s has a constant that varies along other axes "
				 "than the channels, which cannot be rewritten channel by channel",
				 g->node[n].op, label(g, n, lb))) != CLE_OK)
			return st;
	}
	return CLE_OK;
}

/* After a Flatten that spreads each channel over several features, a
 * per-channel constant would have to repeat per feature: the region's
 * rewritten nodes there block it (a scalar Mul or Div is fine). */
static enum cle_status settle_flat_rescaled(struct planner *pl, uint32_t r)
{
	const struct graph *g = pl->g;
	struct cle_region *rg = &pl->p->regions[r];
	size_t rep = 1;
	char lb[256];
	uint32_t i;

	for (i = 0; i < rg->n_consumers; i++)
		if (pl->p->layers[rg->consumers[i]].in_rep > rep)
			rep = pl->p->layers[rg->consumers[i]].in_rep;
	for (i = 0; i < rg->n_rescaled && rep > 1; i++) {
		const struct cle_rescaled *c = &rg->rescaled[i];

		if (!pl->flat[g->node[c->node].in[c->slot]] ||
		    (c->kind == CLE_RESCALE_GAIN && ops_input_const(g, c->node, 1 - c->slot)->count == 1))
			continue;
		return reason(pl, &rg->blocked, "%s node %s comes after a Flatten that spreads each channel "
			      "over %zu features, where its constant cannot follow the channels",
			      g->node[c->node].op, label(g, c->node, lb), rep);
	}
	return CLE_OK;
}

/* Does region r hold a float16 tensor: a layer's float16 weights (its
 * input or output is float16), a Cast to float16, a float16 constant? */
static bool region_half(struct planner *pl, const struct cle_region *rg)
{
	const struct graph *g = pl->g;
	uint32_t i;
	int64_t to;

	for (i = 0; i < rg->n_producers + rg->n_consumers; i++) {
		const struct cle_layer *l = &pl->p->layers[i < rg->n_producers ? rg->producers[i]
							   : rg->consumers[i - rg->n_producers]];

		if (graph_resolve(g, l->w_value, NULL)->konst->dtype == GRAPH_FLOAT16)
			return true;
	}
	for (i = 0; i < rg->n_through; i++)
		if (ops_is(&g->node[rg->through[i]], "Cast") &&
		    graph_attr_int(&g->node[rg->through[i]], "to", &to) && to == GRAPH_FLOAT16)
			return true;
	for (i = 0; i < rg->n_rescaled; i++) {
		const struct cle_rescaled *c = &rg->rescaled[i];
		uint32_t slot = c->kind == CLE_RESCALE_CLIP ? 2 : c->kind == CLE_RESCALE_BN ? 3 : 1 - c->slot;
		const struct graph_const *k = ops_input_const(g, c->node, slot);

		if (k == NULL && c->kind == CLE_RESCALE_CLIP)
			k = ops_input_const(g, c->node, 1);
		if (k != NULL && k->dtype == GRAPH_FLOAT16)
			return true;
	}
	return false;
}

/* Where each consumer of region r reads its channels, and how many input
 * features each channel feeds (a Flatten before a Gemm). */
static enum cle_status settle_consumers(struct planner *pl, uint32_t r)
{
	struct cle_plan *p = pl->p;
	struct cle_region *rg = &p->regions[r];
	const struct region_build *b = &pl->rb[r - pl->first_region];
	enum cle_status st;
	char lb[256];
	uint32_t i;

	for (i = 0; i < rg->n_consumers; i++) {
		struct cle_layer *l = &p->layers[rg->consumers[i]];
		uint32_t in = pl->g->node[l->node].in[0];
		int64_t c = pl->nch[in];

		l->in_off = (size_t)(uf_offset(pl, in) - b->lo);
		if (c <= 0 || l->c_in % (size_t)c != 0) {
			if ((st = reason(pl, &rg->blocked, "node %s reads %zu features that cannot be matched "
					 "to the %lld channels before it", label(pl->g, l->node, lb),
					 l->c_in, (long long)c)) != CLE_OK)
				return st;
			continue;
		}
		l->in_rep = l->c_in / (size_t)c;
		if (l->in_rep > 1 && !pl->flat[in] &&
		    (st = reason(pl, &rg->blocked, "node %s reads %zu features from %lld channels without "
				 "a Flatten between", label(pl->g, l->node, lb), l->c_in, (long long)c)) != CLE_OK)
			return st;
	}
	return CLE_OK;
}

/* A MatMul keeps channels on the last axis, a convolution on axis 1: a
 * region may not hand one's to the other, unless a Flatten has made the
 * tensor [N, features], where the two are one (and only when the features
 * it merges are a convolution's, channel by channel). */
static enum cle_status settle_layouts(struct planner *pl, uint32_t r)
{
	const struct cle_plan *p = pl->p;
	struct cle_region *rg = &p->regions[r];
	const struct cle_layer *conv = NULL, *mm = NULL, *l;
	char lb[256], lb2[256];
	uint32_t i;

	for (i = 0; i < rg->n_producers; i++) {
		l = &p->layers[rg->producers[i]];
		if (l->kind == OPS_MATMUL)
			mm = l;
		else if (l->kind == OPS_CONV || l->kind == OPS_CONV_TRANSPOSE)
			conv = l;
	}
	for (i = 0; i < rg->n_consumers; i++) {
		l = &p->layers[rg->consumers[i]];
		if (mm != NULL && (l->in_rep > 1 || l->kind == OPS_CONV || l->kind == OPS_CONV_TRANSPOSE))
			return reason(pl, &rg->blocked, "MatMul node %s writes its channels on the last axis, "
				      "which %s node %s does not read as channels", label(pl->g, mm->node, lb),
				      pl->g->node[l->node].op, label(pl->g, l->node, lb2));
		if (conv != NULL && l->kind == OPS_MATMUL && !pl->flat[pl->g->node[l->node].in[0]])
			return reason(pl, &rg->blocked, "MatMul node %s reads the last axis of what %s node "
				      "%s writes channels first (axis 1) into", label(pl->g, l->node, lb),
				      pl->g->node[conv->node].op, label(pl->g, conv->node, lb2));
	}
	return CLE_OK;
}

/* Region r's lists, frame, consistency and reference scope. */
static enum cle_status settle_region(struct planner *pl, uint32_t r)
{
	struct cle_plan *p = pl->p;
	struct cle_region *rg = &p->regions[r];
	struct region_build *b = &pl->rb[r - pl->first_region];
	enum cle_status st;
	uint32_t i;

	rg->producers = b->producers;
	rg->consumers = b->consumers;
	rg->n_producers = b->n_producers;
	rg->n_consumers = b->n_consumers;
	rg->through = b->through;
	rg->n_through = b->n_through;
	rg->blocked = b->blocked;
	rg->hbf_path = b->hbf_path;
	if ((st = settle_rescaled(pl, r)) != CLE_OK)
		return st;
	rg->joint = b->n_producers > 1 || b->n_consumers > 1;
	if (b->lo == INT64_MAX) /* no tensor with a known channel count */
		b->lo = b->hi = 0;
	rg->n_ch = (size_t)(b->hi - b->lo);
	for (i = 0; i < rg->n_producers; i++) {
		struct cle_layer *l = &p->layers[rg->producers[i]];

		l->out_off = (size_t)(uf_offset(pl, l->out_value) - b->lo);
		/* two layers writing one tensor (a name defined twice) may disagree on its channels */
		if ((int64_t)l->c_out != pl->nch[l->out_value]) {
			char lb[256];

			if ((st = reason(pl, &rg->blocked, "node %s writes %zu channels into tensor '%s', "
					 "which has %lld", label(pl->g, l->node, lb), l->c_out,
					 pl->g->value[l->out_value].name,
					 (long long)pl->nch[l->out_value])) != CLE_OK)
				return st;
		}
	}
	if ((st = settle_consumers(pl, r)) != CLE_OK || (st = settle_layouts(pl, r)) != CLE_OK ||
	    (st = settle_flat_rescaled(pl, r)) != CLE_OK)
		return st;
	rg->half = region_half(pl, rg);
	if (rg->n_producers == 0)
		rg->blocked = rg->blocked ? rg->blocked : "no layer writes these channels";
	if (rg->n_consumers == 0)
		rg->blocked = rg->blocked ? rg->blocked : "no layer reads these channels";
	rg->reference = b->only_relu && rg->n_producers == 1 && rg->n_consumers == 1 &&
			p->layers[rg->producers[0]].reference && p->layers[rg->consumers[0]].reference;
	if (pl->cfg->reference && rg->blocked == NULL && !rg->reference)
		rg->blocked = !b->only_relu || rg->joint
			? "the output goes to several consumers (the reference ends the chain)"
			: "the reference equalizes Conv and ConvTranspose with group 1 or depthwise only";
	/* for high-bias absorption: a Relu straight after a single producer */
	if (rg->n_producers == 1) {
		const struct graph_value *ov = &pl->g->value[p->layers[rg->producers[0]].out_value];

		if (ov->n_uses == 1 && ops_is(&pl->g->node[ov->uses[0].node], "Relu"))
			rg->relu = ov->uses[0].node;
	}
	return CLE_OK;
}

/* A Gemm whose weight rows run over C x (H*W) flattened features is a
 * convolution with an H*W window: viewed as [out][C][H*W], its columns are
 * the C channels.  The products are the same (each channel's factor
 * multiplies its H*W weights alike), but balancing then reads one abs-max
 * per row and channel instead of H*W weights. */
static void view_flattened_gemms(struct planner *pl)
{
	uint32_t i;

	for (i = pl->first_layer; i < pl->p->n_layers; i++) {
		struct cle_layer *l = &pl->p->layers[i];

		if (l->why == NULL && l->in_rep > 1 && l->lead_out && l->k == 1 && l->groups == 1) {
			l->d1 /= l->in_rep;
			l->k = l->in_rep;
			l->c_in /= l->in_rep;
			l->in_rep = 1;
		}
	}
}

static enum cle_status plan_graph(struct planner *pl, const struct graph *g)
{
	enum cle_status st;
	uint32_t r;

	cle_arena_init(&pl->scratch, pl->a);
	if ((st = scratch_init(pl, g)) != CLE_OK || (st = find_roles(pl)) != CLE_OK)
		goto fail;
	count_channels(pl);
	if ((st = join_tensors(pl)) != CLE_OK || (st = attach_layers(pl)) != CLE_OK ||
	    (st = scan_members(pl)) != CLE_OK)
		goto fail;
	for (r = pl->first_region; r < pl->p->n_regions; r++)
		if ((st = settle_region(pl, r)) != CLE_OK)
			goto fail;
	view_flattened_gemms(pl);
fail:
	cle_arena_free(&pl->scratch);
	return st;
}

/* Layers joined through open regions form a group (union-find over layers). */
static enum cle_status number_groups(struct planner *pl)
{
	struct cle_plan *p = pl->p;
	uint32_t *up, *id, *size, i, j, next = 0;
	enum cle_status st = CLE_OK;

	cle_arena_init(&pl->scratch, pl->a);
	up = cle_arena_calloc(&pl->scratch, p->n_layers + 1, sizeof *up);
	id = cle_arena_calloc(&pl->scratch, p->n_layers + 1, sizeof *id);
	size = cle_arena_calloc(&pl->scratch, p->n_layers + 1, sizeof *size);
	if (up == NULL || id == NULL || size == NULL) {
		st = plan_nomem(pl);
		goto fail;
	}
	for (i = 0; i < p->n_layers; i++)
		up[i] = i;
	for (i = 0; i < p->n_regions; i++) {
		const struct cle_region *rg = &p->regions[i];
		uint32_t first;

		if (rg->blocked != NULL || rg->n_producers == 0)
			continue;
		for (first = rg->producers[0]; up[first] != first;)
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
		id[i] = GRAPH_NONE;
	}
	for (i = 0; i < p->n_layers; i++) {
		uint32_t r = up[i];

		if (size[r] < 2)
			continue;
		if (id[r] == GRAPH_NONE)
			id[r] = next++;
		p->layers[i].group = id[r];
	}
fail:
	cle_arena_free(&pl->scratch);
	return st;
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
