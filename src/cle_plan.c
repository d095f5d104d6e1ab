/* cle_plan.c — cle_plan_groups: the layers, the regions between them and
 * the reason for every break (see cle.h).  Each graph (the main graph and
 * every subgraph) is planned in phases over a scratch arena freed at its
 * end: layers, roles, channel counts, joins, producers and consumers,
 * members, settling. */
#include "cle_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Region lists and facts gathered before a region is settled. */
struct region_build {
	uint32_t *producers, *consumers, *rescaled, *through;
	uint32_t n_producers, n_consumers, n_rescaled, n_through;
	const char *blocked;
	bool only_relu; /* no pass-through besides the reference's (Relu, PRelu, Clip), no fan-out */
	bool hbf_path;  /* every pass-through commutes with subtracting a constant (OPS_SHIFT) */
	int64_t lo, hi; /* channel extent in the root's frame */
};

struct planner {
	struct cle_plan *p;
	const struct cle_config *cfg;
	const struct cle_alloc *a;
	struct cle_error *e;
	/* per graph, in scratch */
	struct cle_arena scratch;
	const struct graph *g;
	uint32_t first_layer, first_region; /* this graph's, in p->layers and p->regions */
	uint32_t *parent;         /* union-find over values */
	int64_t *delta;           /* channel of v = channel of parent + delta (see uf_find) */
	int64_t *nch;             /* channels of a value, 0 if unknown */
	uint8_t *flat;            /* the value went through a Flatten (features, not channels) */
	uint32_t *out_layer;      /* layer whose result the value is, GRAPH_NONE */
	uint32_t *region_of_root; /* region index per union-find root, GRAPH_NONE */
	enum ops_role *role;      /* per node */
	const char **why;         /* per node: why it blocks (OPS_BLOCK), else NULL */
	uint32_t *layer_of_node;  /* layer index per node, GRAPH_NONE */
	uint8_t *listed;          /* per node: already in a region's through list */
	struct region_build *rb;  /* per region of this graph */
};

static enum cle_status plan_nomem(struct planner *pl)
{
	return cle_errorf(pl->e, CLE_E_NOMEM, "out of memory planning equalization");
}

/* A sentence for *out in the plan's arena, unless one is there (see cle_say). */
#define reason(pl, out, ...) cle_say((pl)->p, (pl)->e, (out), __VA_ARGS__)

static const char *label(const struct graph *g, uint32_t n, char buf[256])
{
	return graph_node_label(g, n, buf, 256);
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

	if ((st = add_layer(pl, &l)) != CLE_OK ||
	    (st = cle_layer_describe(pl->p, l, pl->g, n, kind, pl->e)) != CLE_OK)
		return st;
	pl->layer_of_node[n] = pl->p->n_layers - 1;
	pl->role[n] = OPS_LAYER;
	if (l->bn != GRAPH_NONE)
		pl->role[l->bn] = OPS_LAYER;
	if (l->bias_add != GRAPH_NONE)
		pl->role[l->bias_add] = OPS_LAYER;
	return CLE_OK;
}

/* ---- roles of the other nodes --------------------------------------------- */

/* What the configuration makes of a Clip (constant bounds): --relu6=skip
 * leaves it, --relu6=relu replaces a ReLU6 by Relu, and kept exact it gets
 * per-channel bounds, bound / s.  Only an interval (-inf and +inf meaning
 * no bound) scales so, and only from opset 8 do Max and Min broadcast a
 * [C, 1, 1] bound.  Sets the node's reason when it blocks. */
static enum cle_status bound_role(struct planner *pl, uint32_t n)
{
	const struct graph *g = pl->g;
	const char *op = g->node[n].op, **why = &pl->why[n];
	int64_t opset = graph_opset(pl->p->gm, "");
	char lb[256];
	double lo, hi;

	if (!ops_clip_bounds(g, n, &lo, &hi))
		return CLE_OK; /* computed at run time: the table's condition says so */
	if (pl->cfg->relu6 == CLE_RELU6_SKIP)
		return reason(pl, why, "%s node %s, which --relu6=skip leaves as it is", op, label(g, n, lb));
	if (pl->cfg->relu6 == CLE_RELU6_RELU)
		return lo == 0 && hi == 6 ? CLE_OK
		       : reason(pl, why, "%s node %s, which is not a ReLU6 (min %g, max %g); --relu6=relu "
				"only replaces ReLU6", op, label(g, n, lb), lo, hi);
	if (isnan(lo) || isnan(hi) || lo == HUGE_VAL || hi == -HUGE_VAL || lo > hi)
		return reason(pl, why, "%s node %s, whose bounds (min %g, max %g) are not an interval "
			      "that scaling keeps", op, label(g, n, lb), lo, hi);
	if (opset < 8 && (isfinite(hi) || (isfinite(lo) && lo != 0)))
		return reason(pl, why, "%s node %s, whose bounds would become per-channel tensors, which "
			      "Max and Min broadcast only from opset 8 (the model imports opset %lld)", op,
			      label(g, n, lb), (long long)opset);
	return CLE_OK;
}

/* The role of node n from the op table, and the sentence when it blocks. */
static enum cle_status set_role(struct planner *pl, uint32_t n)
{
	const struct graph *g = pl->g;
	const struct graph_node *nd = &g->node[n];
	const struct ops_def *d = ops_find(nd);
	const char **why = &pl->why[n], *tail;
	enum cle_status st;
	char lb[256];

	if (pl->role[n] == OPS_LAYER)
		return CLE_OK;
	pl->role[n] = OPS_BLOCK;
	if (nd->domain[0] != '\0')
		return reason(pl, why, "%s node %s (domain %s), which is not known to commute with "
			      "per-channel scaling", nd->op, label(g, n, lb), nd->domain);
	if (pl->cfg->reference && !(d != NULL && (d->flags & OPS_REFERENCE)))
		return reason(pl, why, "%s node %s, where the reference ends the chain (it passes "
			      "through Relu and PRelu only)", nd->op, label(g, n, lb));
	if (d == NULL || d->role == OPS_BLOCK)
		return reason(pl, why, "%s node %s, which does not commute with per-channel scaling",
			      nd->op, label(g, n, lb));
	if (d->why_not != NULL && (tail = d->why_not(g, n)) != NULL)
		return reason(pl, why, "%s node %s, %s", nd->op, label(g, n, lb), tail);
	if ((d->flags & OPS_BOUND) && ((st = bound_role(pl, n)) != CLE_OK || *why != NULL))
		return st;
	pl->role[n] = d->role;
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
	if (!pl->parent || !pl->delta || !pl->nch || !pl->flat || !pl->out_layer ||
	    !pl->region_of_root || !pl->role || !pl->why || !pl->layer_of_node || !pl->listed)
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
		if ((st = set_role(pl, n)) != CLE_OK)
			return st;
	for (i = pl->first_layer; i < pl->p->n_layers; i++)
		if (pl->p->layers[i].why == NULL)
			pl->out_layer[pl->p->layers[i].out_value] = i;
	return CLE_OK;
}

/* The channel count node n's first output gets from its inputs, 0 if unknown. */
static int64_t channels_through(struct planner *pl, const struct graph_node *nd, enum ops_role role)
{
	int64_t c = 0;
	uint32_t i;

	if ((role == OPS_PASS || role == OPS_FLATTEN) && nd->n_in >= 1 && nd->in[0] != GRAPH_NONE)
		return pl->nch[nd->in[0]];
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

/* Channel counts: layers' outputs, carried through the other roles until
 * nothing changes (files need not be sorted). */
static void count_channels(struct planner *pl)
{
	const struct graph *g = pl->g;
	uint32_t i, n, pass;
	bool changed = true;

	for (i = pl->first_layer; i < pl->p->n_layers; i++)
		if (pl->p->layers[i].why == NULL)
			pl->nch[pl->p->layers[i].out_value] = (int64_t)pl->p->layers[i].c_out;
	for (pass = 0; changed && pass < g->n_node + 1; pass++) {
		changed = false;
		for (n = 0; n < g->n_node; n++) {
			const struct graph_node *nd = &g->node[n];
			int64_t c;

			if (nd->n_out < 1 || nd->out[0] == GRAPH_NONE)
				continue;
			if (pl->role[n] == OPS_FLATTEN ||
			    (pl->role[n] == OPS_PASS && nd->n_in >= 1 && nd->in[0] != GRAPH_NONE &&
			     pl->flat[nd->in[0]])) {
				changed |= !pl->flat[nd->out[0]];
				pl->flat[nd->out[0]] = 1;
			}
			if (pl->nch[nd->out[0]] != 0 || (c = channels_through(pl, nd, pl->role[n])) == 0)
				continue;
			pl->nch[nd->out[0]] = c;
			changed = true;
		}
	}
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
		int64_t off = 0;
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
			if (nd->n_in >= 1 && nd->in[0] != GRAPH_NONE)
				ok = uf_join(pl, nd->in[0], nd->out[0], 0);
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
		b->hbf_path &= (d->flags & OPS_SHIFT) != 0;
		if ((d->flags & (OPS_BOUND | OPS_AFFINE)) && u->slot == 0 &&
		    (st = list_add(pl, &b->rescaled, &b->n_rescaled, u->node)) != CLE_OK)
			return st;
		if (u->slot != 0)
			return reason(pl, &b->blocked, "tensor '%s' is a parameter of %s node %s", name, op,
				      label(g, u->node, lb));
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

/* The Clips and BatchNormalizations of region r, with their channels in
 * the region's frame. */
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
		uint32_t x = g->node[b->rescaled[i]].in[0];
		const struct graph_const *mean = ops_input_const(g, b->rescaled[i], 3);
		const struct cle_layer *pr;

		c->node = b->rescaled[i];
		c->off = (size_t)(uf_offset(pl, x) - b->lo);
		c->n_ch = (size_t)pl->nch[x];
		c->rank = 0;
		if (b->n_producers > 0 && !pl->flat[x]) {
			pr = &p->layers[b->producers[0]];
			if (pr->kind == OPS_CONV || pr->kind == OPS_CONV_TRANSPOSE)
				c->rank = graph_resolve(g, pr->w_value, NULL)->konst->n_dims;
		}
		if (c->n_ch == 0 && (st = reason(pl, &rg->blocked, "%s node %s has an unknown channel "
						 "count", g->node[c->node].op, label(g, c->node, lb))) != CLE_OK)
			return st;
		if (ops_is(&g->node[c->node], "BatchNormalization") && mean->count != c->n_ch &&
		    (st = reason(pl, &rg->blocked, "BatchNormalization node %s has %zu parameters for %zu "
				 "channels", label(g, c->node, lb), mean->count, c->n_ch)) != CLE_OK)
			return st;
	}
	return CLE_OK;
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
	if ((st = settle_consumers(pl, r)) != CLE_OK || (st = settle_layouts(pl, r)) != CLE_OK)
		return st;
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
