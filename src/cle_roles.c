/* cle_roles.c — the planner's roles for the nodes that are not layers
 * (pass-through, join, Concat, Flatten, block; see ops.h) and the sentence
 * for each one that blocks: Clip bounds under --relu6, HardSwish written
 * out, constant operands that follow the scales. */
#include "cle_plan_internal.h"

#include <math.h>
#include <stdio.h>

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

/* Node n when it is part of a HardSwish written out (ops_hardswish): it
 * blocks, and its sentence says what it is part of.  *is tells. */
static enum cle_status hardswish_role(struct planner *pl, uint32_t n, bool *is)
{
	const struct graph *g = pl->g;
	const struct graph_node *nd = &g->node[n];
	char lb[256], list[1024];
	uint32_t parts[4], i, k;
	size_t at = 0;

	*is = false;
	for (i = 0; i < nd->n_in && !*is; i++)
		*is = nd->in[i] != GRAPH_NONE && ops_hardswish(g, n, nd->in[i], parts);
	/* the Div by 6 at its end reads the product, not x */
	k = !*is && nd->n_in == 2 && nd->in[0] != GRAPH_NONE ? g->value[nd->in[0]].producer : GRAPH_NONE;
	for (i = 0; k != GRAPH_NONE && ops_is(&g->node[k], "Mul") && i < 2 && i < g->node[k].n_in && !*is; i++)
		*is = g->node[k].in[i] != GRAPH_NONE && ops_hardswish(g, k, g->node[k].in[i], parts) &&
		      (parts[2] == n || parts[3] == n);
	if (!*is)
		return CLE_OK;
	pl->hswish[n] = 1;
	list[0] = '\0';
	for (k = 0; k < 4 && parts[k] != GRAPH_NONE; k++)
		at += (size_t)snprintf(list + at, sizeof list - at, "%s%s %s", k == 0 ? "" :
				       k + 1 < 4 && parts[k + 1] != GRAPH_NONE ? ", " : " and ",
				       g->node[parts[k]].op, label(g, parts[k], lb));
	return reason(pl, &pl->why[n], "%s node %s, part of a HardSwish, x * clip(x + 3, 0, 6) / 6 "
		      "(written as %s), which does not commute with per-channel scaling: "
		      "hardswish(x / s) is not hardswish(x) / s", nd->op, label(g, n, lb), list);
}

/* Node n (Add, Sub, Max, Min, Mul, Div; OPS_CONST or OPS_GAIN) with its
 * constant operand in slot cs: a pass-through whose constant follows the
 * scales (c / s per channel; Mul and Div as they are), or the sentence
 * why not. */
static enum cle_status const_role(struct planner *pl, uint32_t n, const struct ops_def *d, uint32_t cs)
{
	const struct graph *g = pl->g;
	const struct graph_node *nd = &g->node[n];
	const struct graph_const *c = ops_input_const(g, n, cs);
	int64_t opset = graph_opset(pl->p->gm, ""), need;
	const char **why = &pl->why[n];
	bool bound = ops_is(nd, "Max") || ops_is(nd, "Min");
	char lb[256];
	size_t i;
	double x;

	need = bound ? 8 : 7;
	if (opset < need && !(d->flags & OPS_GAIN))
		return reason(pl, why, "%s node %s, whose constant would become a per-channel tensor, "
			      "which %s broadcasts only from opset %lld (the model imports opset %lld)",
			      nd->op, label(g, n, lb), nd->op, (long long)need, (long long)opset);
	if (opset < need)
		return reason(pl, why, "%s node %s, which broadcasts its constant as numpy does only "
			      "from opset 7 (the model imports opset %lld)", nd->op, label(g, n, lb),
			      (long long)opset);
	if (ops_is(nd, "Div") && cs == 0)
		return reason(pl, why, "Div node %s, which divides a constant by the channels (c / x "
			      "does not scale with x)", label(g, n, lb));
	if (!c->ok || (c->dtype != GRAPH_FLOAT && c->dtype != GRAPH_FLOAT16 && c->dtype != GRAPH_DOUBLE))
		return reason(pl, why, "%s node %s, whose constant is not a float32, float16 or double "
			      "tensor", nd->op, label(g, n, lb));
	for (i = 0; i < c->count; i++)
		if (!graph_const_f64(c, i, &x) || !isfinite(x))
			return reason(pl, why, "%s node %s, whose constant is not finite", nd->op,
				      label(g, n, lb));
	pl->role[n] = OPS_PASS;
	pl->dslot[n] = (uint8_t)(1 - cs);
	pl->rescale[n] = (uint8_t)(1 + ((d->flags & OPS_GAIN) ? CLE_RESCALE_GAIN
					: bound ? CLE_RESCALE_BOUND : CLE_RESCALE_SHIFT));
	return CLE_OK;
}

/* The role of node n from the op table, and the sentence when it blocks. */
/* Are the inputs a node of this role carries channels from all there (not
 * missing, as an empty name or too short a list makes them)? */
static bool data_present(const struct graph_node *nd, enum ops_role role, uint32_t dslot)
{
	uint32_t i;

	if (role == OPS_JOIN || role == OPS_CONCAT) {
		for (i = 0; i < nd->n_in; i++)
			if (nd->in[i] == GRAPH_NONE)
				return false;
		return nd->n_in > 0;
	}
	if (role == OPS_PASS || role == OPS_FLATTEN)
		return nd->n_in > dslot && nd->in[dslot] != GRAPH_NONE;
	return true;
}

enum cle_status plan_set_role(struct planner *pl, uint32_t n)
{
	const struct graph *g = pl->g;
	const struct graph_node *nd = &g->node[n];
	const struct ops_def *d = ops_find(nd);
	const char **why = &pl->why[n], *tail;
	enum cle_status st;
	char lb[256];
	uint32_t cs;
	bool hs;

	if (pl->role[n] == OPS_LAYER)
		return CLE_OK;
	pl->role[n] = OPS_BLOCK;
	if (nd->domain[0] != '\0')
		return reason(pl, why, "%s node %s (domain %s), which is not known to commute with "
			      "per-channel scaling", nd->op, label(g, n, lb), nd->domain);
	if (pl->cfg->reference && !(d != NULL && (d->flags & OPS_REFERENCE)))
		return reason(pl, why, "%s node %s, where the reference ends the chain (it passes "
			      "through Relu and PRelu only)", nd->op, label(g, n, lb));
	if ((st = hardswish_role(pl, n, &hs)) != CLE_OK || hs)
		return st;
	if (d != NULL && (d->flags & (OPS_CONST | OPS_GAIN)) && (cs = ops_const_slot(g, n)) != GRAPH_NONE)
		return const_role(pl, n, d, cs);
	if (d != NULL && (d->flags & OPS_GAIN))
		return reason(pl, why, "%s node %s, which %s two computed tensors (the result scales with "
			      "both)", nd->op, label(g, n, lb), ops_is(nd, "Mul") ? "multiplies" : "divides");
	if (d == NULL || d->role == OPS_BLOCK)
		return reason(pl, why, "%s node %s, which does not commute with per-channel scaling",
			      nd->op, label(g, n, lb));
	if (d->why_not != NULL && (tail = d->why_not(g, n)) != NULL)
		return reason(pl, why, "%s node %s, %s", nd->op, label(g, n, lb), tail);
	if ((d->flags & OPS_BOUND) && ((st = bound_role(pl, n)) != CLE_OK || *why != NULL))
		return st;
	if (!data_present(nd, d->role, pl->dslot[n]))
		return reason(pl, why, "%s node %s, which lacks the input it would pass channels from",
			      nd->op, label(g, n, lb));
	pl->role[n] = d->role;
	if (d->flags & (OPS_BOUND | OPS_AFFINE))
		pl->rescale[n] = (uint8_t)(1 + ((d->flags & OPS_BOUND) ? CLE_RESCALE_CLIP : CLE_RESCALE_BN));
	return CLE_OK;
}
