/* graph_index.c — graph_build: one pass over a loaded model makes the index
 * in graph.h: every tensor name of every graph scope with its producer and
 * consumers, the If/Loop/Scan subgraphs (depth-limited) with the names they
 * take from enclosing scopes, types and shapes, opsets, and the defects
 * found on the way.  Everything lives in the index's arena; the model's
 * strings and tensor bytes are referenced, not copied. */
#include "graph_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum cle_status graph_nomem(struct graph_builder *b)
{
	return cle_errorf(b->e, CLE_E_NOMEM, "out of memory indexing the model");
}

enum cle_status graph_defect(struct graph_builder *b, const struct graph *g, uint32_t node,
			     const char *tensor, const char *fmt, ...)
{
	struct graph_model *gm = b->gm;
	struct graph_defect *d;
	char msg[512];
	va_list ap;
	enum cle_status st;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if ((st = CLE_RESERVE(gm->a, gm->defects, gm->cap_defects, gm->n_defects + 1, 16, b->e)) !=
	    CLE_OK)
		return st;
	d = &gm->defects[gm->n_defects];
	d->g = g;
	d->node = node;
	d->tensor = tensor;
	d->msg = cle_arena_strdup(&gm->arena, msg);
	if (d->msg == NULL)
		return graph_nomem(b);
	gm->n_defects++;
	return CLE_OK;
}

const char *graph_node_label(const struct graph *g, uint32_t node, char *buf, size_t n)
{
	const char *name = node < g->n_node ? g->node[node].name : "";
	const char *sep = g->path[0] ? "/" : "";

	if (name[0])
		snprintf(buf, n, "%s%s%s", g->path, sep, name);
	else
		snprintf(buf, n, "%s%s#%u", g->path, sep, (unsigned)node);
	return buf;
}

/* ---- names ------------------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The slot of name in g's table: where it is, or the empty slot where it goes. */
static uint32_t table_slot(const struct graph *g, const char *name)
{
	uint32_t i = hash_str(name) & (g->hash->cap - 1);

	for (;;) {
		uint32_t s = g->hash->slot[i];

		if (s == 0 || strcmp(g->value[s - 1].name, name) == 0)
			return i;
		i = (i + 1) & (g->hash->cap - 1);
	}
}

uint32_t graph_table_find(const struct graph *g, const char *name)
{
	uint32_t s = g->hash->slot[table_slot(g, name)];

	return s != 0 ? s - 1 : GRAPH_NONE;
}

/* *v = name's value in the level's own scope, added if new. */
static enum cle_status table_add(struct graph_builder *b, struct graph_level *lv,
				 const char *name, uint32_t *v)
{
	struct graph *g = lv->g;
	uint32_t i = table_slot(g, name);
	struct graph_value *val;

	if (g->hash->slot[i] != 0) {
		*v = g->hash->slot[i] - 1;
		return CLE_OK;
	}
	if (NEVER(g->n_value == lv->cap_value)) /* cap_value counts every name the graph has */
		return cle_errorf(b->e, CLE_E_INTERNAL, "value table overflow at tensor '%s'", name);
	val = &g->value[g->n_value];
	memset(val, 0, sizeof *val);
	val->name = name;
	val->producer = GRAPH_NONE;
	val->producer_slot = GRAPH_NONE;
	val->outer_value = GRAPH_NONE;
	val->rank = -1;
	g->hash->slot[i] = ++g->n_value;
	*v = g->n_value - 1;
	return CLE_OK;
}

uint32_t graph_find(const struct graph *g, const char *name)
{
	return graph_table_find(g, name);
}

const struct graph_value *graph_resolve(const struct graph *g, uint32_t v,
					const struct graph **owner)
{
	const struct graph_value *val = &g->value[v];

	if (val->flags & GRAPH_IS_OUTER) {
		g = val->outer_graph;
		val = &g->value[val->outer_value];
	}
	if (owner != NULL)
		*owner = g;
	return val;
}

int64_t graph_opset(const struct graph_model *gm, const char *domain)
{
	uint32_t i;

	if (strcmp(domain, "ai.onnx") == 0)
		domain = "";
	for (i = 0; i < gm->n_opset; i++)
		if (strcmp(gm->opset[i].domain, domain) == 0)
			return gm->opset[i].version;
	return 0;
}

uint32_t graph_subgraph_count(const struct graph_model *gm)
{
	return gm->n_graphs - 1;
}

/* ---- types ------------------------------------------------------------- */

static void set_type(struct graph_value *v, const Onnx__ValueInfoProto *vi)
{
	const Onnx__TypeProto *tp = vi->type;

	if (tp == NULL)
		return;
	v->type = tp;
	if (tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type != NULL) {
		const Onnx__TypeProto__Tensor *tt = tp->tensor_type;

		v->elem_type = tt->has_elem_type ? tt->elem_type : 0;
		v->rank = tt->shape != NULL ? (int32_t)tt->shape->n_dim : -1;
	}
}

bool graph_value_shape(const struct graph_value *v, int32_t *rank, int64_t *dims,
		       const char **params, size_t max)
{
	const Onnx__TypeProto *tp = v->type;
	const Onnx__TensorShapeProto *sh;
	size_t i;

	*rank = -1;
	if (tp == NULL || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
	    tp->tensor_type == NULL || tp->tensor_type->shape == NULL)
		return false;
	sh = tp->tensor_type->shape;
	*rank = (int32_t)sh->n_dim;
	for (i = 0; i < sh->n_dim && i < max; i++) {
		const Onnx__TensorShapeProto__Dimension *d = sh->dim[i];
		bool is_val = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		bool is_par = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;

		dims[i] = is_val ? d->dim_value : -1;
		if (params != NULL)
			params[i] = is_par ? d->dim_param : NULL;
	}
	return true;
}

/* ---- uses and scopes --------------------------------------------------- */

static enum cle_status add_use(struct graph_builder *b, struct graph_level *lv, uint32_t value,
			       uint32_t node, uint32_t slot)
{
	enum cle_status st;

	if ((st = CLE_RESERVE(b->gm->a, lv->uses, lv->cap_uses, lv->n_uses + 1, 64, b->e)) != CLE_OK)
		return st;
	lv->uses[lv->n_uses].value = value;
	lv->uses[lv->n_uses].node = node;
	lv->uses[lv->n_uses].slot = slot;
	lv->n_uses++;
	return CLE_OK;
}

/* Value v of level d, named in an enclosing scope (level up or above),
 * becomes an IS_OUTER entry for it, and the enclosing node that holds the
 * subgraph gets an implicit use of it.  Nothing happens if no enclosing
 * scope has the name (v stays undefined). */
static enum cle_status link_outer(struct graph_builder *b, int d, uint32_t v, const char *name)
{
	struct graph_value *val = &b->stack[d].g->value[v];
	int up, od;

	for (up = d - 1; up >= 0; up--) {
		const struct graph *og = b->stack[up].g;
		uint32_t ov = graph_table_find(og, name);
		const struct graph_value *target;
		const struct graph *owner;

		if (ov == GRAPH_NONE)
			continue;
		target = graph_resolve(og, ov, &owner);
		val->flags |= GRAPH_IS_OUTER;
		val->outer_graph = owner;
		val->outer_value = (uint32_t)(target - owner->value);
		val->konst = target->konst;
		val->elem_type = target->elem_type;
		val->rank = target->rank;
		val->type = target->type;
		for (od = up; od >= 0 && b->stack[od].g != owner; od--)
			;
		if (od < 0)
			return CLE_OK;
		return add_use(b, &b->stack[od], val->outer_value, b->stack[od].current_node,
			       GRAPH_NONE);
	}
	return CLE_OK;
}

/* Index of name seen from level d: own scope, else an IS_OUTER entry for an
 * enclosing scope's value (recording the enclosing node's implicit use),
 * else a new undefined value. */
static enum cle_status lookup_use(struct graph_builder *b, int d, const char *name, uint32_t *out)
{
	struct graph_level *lv = &b->stack[d];
	uint32_t v = graph_table_find(lv->g, name);
	enum cle_status st;

	if (v != GRAPH_NONE) {
		*out = v;
		return CLE_OK;
	}
	if ((st = table_add(b, lv, name, &v)) != CLE_OK)
		return st;
	*out = v;
	return link_outer(b, d, v, name);
}

static int use_cmp(const void *x, const void *y)
{
	const struct graph_use_rec *a = x, *b = y;

	if (a->value != b->value)
		return a->value < b->value ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return a->slot < b->slot ? -1 : a->slot > b->slot;
}

/* Turns the level's use records into per-value arrays (sorted, implicit
 * duplicates from several subgraphs of one node merged). */
static enum cle_status finish_uses(struct graph_builder *b, struct graph_level *lv)
{
	struct graph *g = lv->g;
	struct graph_use *all;
	size_t i, n = 0;

	if (lv->n_uses > 1)
		qsort(lv->uses, lv->n_uses, sizeof *lv->uses, use_cmp);
	all = cle_arena_alloc(&b->gm->arena, (lv->n_uses ? lv->n_uses : 1) * sizeof *all);
	if (all == NULL)
		return graph_nomem(b);
	for (i = 0; i < lv->n_uses; i++) {
		const struct graph_use_rec *u = &lv->uses[i];
		struct graph_value *v = &g->value[u->value];

		if (n > 0 && i > 0 && u->value == lv->uses[i - 1].value &&
		    u->node == lv->uses[i - 1].node && u->slot == GRAPH_NONE &&
		    lv->uses[i - 1].slot == GRAPH_NONE)
			continue;
		if (v->n_uses == 0)
			v->uses = &all[n];
		all[n].node = u->node;
		all[n].slot = u->slot;
		v->n_uses++;
		n++;
	}
	return CLE_OK;
}

/* ---- building one graph ------------------------------------------------ */

/* A new graph for gp at level d, listed in the model, with room for every
 * name it can hold (all come from its inputs, initializers, outputs and
 * node inputs and outputs). */
static enum cle_status new_graph(struct graph_builder *b, const Onnx__GraphProto *gp,
				 struct graph *parent, uint32_t parent_node, const char *path, int d,
				 struct graph **out)
{
	struct graph_model *gm = b->gm;
	struct cle_arena *ar = &gm->arena;
	struct graph_level *lv = &b->stack[d];
	struct graph *g;
	size_t bound = gp->n_input + gp->n_initializer + gp->n_output + 1, i;
	uint32_t cap;
	enum cle_status st;

	/* siblings at one depth share the level; its use buffer is reused */
	lv->g = NULL;
	lv->n_uses = 0;
	lv->current_node = GRAPH_NONE;
	lv->cap_value = 0;
	if ((g = cle_arena_alloc(ar, sizeof *g)) == NULL)
		return graph_nomem(b);
	memset(g, 0, sizeof *g);
	*out = g;
	lv->g = g;
	g->parent = parent;
	g->parent_node = parent_node;
	g->depth = d;
	g->name = graph_str(gp->name);
	g->proto = gp;
	g->span = onnx_span_of(b->m, gp);
	if ((g->path = cle_arena_strdup(ar, path)) == NULL)
		return graph_nomem(b);
	if ((st = CLE_RESERVE(gm->a, gm->graphs, gm->cap_graphs, gm->n_graphs + 1, 8, b->e)) != CLE_OK)
		return st;
	gm->graphs[gm->n_graphs++] = g;

	for (i = 0; i < gp->n_node; i++)
		bound += gp->node[i]->n_input + gp->node[i]->n_output;
	if (bound > UINT32_MAX / 4)
		return CLE_BAD(b->e, CLE_E_LIMIT, "graph %s names more than a billion tensors",
			       path[0] ? path : "main");
	lv->cap_value = (uint32_t)bound;
	for (cap = 16; cap < 2 * bound; cap *= 2)
		;
	g->hash = cle_arena_alloc(ar, sizeof *g->hash);
	g->value = cle_arena_alloc(ar, bound * sizeof *g->value);
	g->node = cle_arena_alloc(ar, (gp->n_node ? gp->n_node : 1) * sizeof *g->node);
	g->input = cle_arena_alloc(ar, (gp->n_input + 1) * sizeof *g->input);
	g->output = cle_arena_alloc(ar, (gp->n_output + 1) * sizeof *g->output);
	g->init = cle_arena_alloc(ar, (gp->n_initializer + 1) * sizeof *g->init);
	if (g->hash == NULL || g->value == NULL || g->node == NULL || g->input == NULL ||
	    g->output == NULL || g->init == NULL)
		return graph_nomem(b);
	g->hash->cap = cap;
	if ((g->hash->slot = cle_arena_alloc(ar, cap * sizeof *g->hash->slot)) == NULL)
		return graph_nomem(b);
	memset(g->hash->slot, 0, cap * sizeof *g->hash->slot);
	return CLE_OK;
}

/* Graph inputs and initializers: the values no node produces. */
static enum cle_status add_inputs(struct graph_builder *b, struct graph_level *lv,
				  const Onnx__GraphProto *gp)
{
	struct graph *g = lv->g;
	enum cle_status st;
	uint32_t v;
	size_t i;

	for (i = 0; i < gp->n_input; i++) {
		if ((st = table_add(b, lv, graph_str(gp->input[i]->name), &v)) != CLE_OK)
			return st;
		g->value[v].flags |= GRAPH_IS_INPUT;
		set_type(&g->value[v], gp->input[i]);
		g->input[g->n_input++] = v;
	}
	for (i = 0; i < gp->n_initializer; i++) {
		const Onnx__TensorProto *t = gp->initializer[i];
		struct graph_value *val;

		if ((st = table_add(b, lv, graph_str(t->name), &v)) != CLE_OK)
			return st;
		val = &g->value[v];
		if ((val->flags & GRAPH_IS_INITIALIZER) &&
		    (st = graph_defect(b, g, GRAPH_NONE, val->name, "initializer '%s' is defined twice",
				       graph_tensor_label(t))) != CLE_OK)
			return st;
		val->flags |= GRAPH_IS_INITIALIZER;
		if ((st = graph_const_make(b, g, GRAPH_NONE, t, &val->konst)) != CLE_OK)
			return st;
		if (val->elem_type == 0)
			val->elem_type = val->konst->dtype;
		if (val->rank < 0)
			val->rank = (int32_t)t->n_dims;
		g->init[g->n_init++] = v;
	}
	return CLE_OK;
}

/* Node k's outputs: it becomes their producer, unless something else
 * already defined them (a defect). */
static enum cle_status add_node_outputs(struct graph_builder *b, struct graph_level *lv,
					uint32_t k)
{
	struct graph *g = lv->g;
	const Onnx__NodeProto *np = g->node[k].proto;
	char label[256];
	enum cle_status st;
	uint32_t v;
	size_t j;

	for (j = 0; j < np->n_output; j++) {
		const char *name = np->output[j];
		struct graph_value *val;

		if (name[0] == '\0') {
			g->node[k].out[j] = GRAPH_NONE;
			continue;
		}
		if ((st = table_add(b, lv, name, &v)) != CLE_OK)
			return st;
		g->node[k].out[j] = v;
		val = &g->value[v];
		if (val->producer != GRAPH_NONE ||
		    (val->flags & (GRAPH_IS_INITIALIZER | GRAPH_IS_INPUT))) {
			st = graph_defect(b, g, k, val->name,
					  "tensor '%s' is produced by node %s but was already defined%s",
					  name, graph_node_label(g, k, label, sizeof label),
					  val->producer != GRAPH_NONE ? " by another node"
					  : (val->flags & GRAPH_IS_INITIALIZER) ? " as an initializer"
										: " as a graph input");
			if (st != CLE_OK)
				return st;
			continue;
		}
		val->producer = k;
		val->producer_slot = (uint32_t)j;
	}
	return CLE_OK;
}

/* A Constant node's output holds its value. */
static enum cle_status add_constant(struct graph_builder *b, struct graph *g, uint32_t k)
{
	const struct graph_node *n = &g->node[k];
	struct graph_value *cv;
	enum cle_status st;

	if (strcmp(n->op, "Constant") != 0 || n->domain[0] != '\0' || n->n_out != 1 ||
	    n->out[0] == GRAPH_NONE || g->value[n->out[0]].producer != k)
		return CLE_OK;
	cv = &g->value[n->out[0]];
	if ((st = graph_const_of_node(b, g, k, &cv->konst)) != CLE_OK)
		return st;
	if (cv->konst != NULL) {
		cv->flags |= GRAPH_IS_CONSTANT;
		cv->elem_type = cv->konst->dtype;
		cv->rank = (int32_t)cv->konst->n_dims;
	}
	return CLE_OK;
}

/* The nodes, in file order, with the values they produce. */
static enum cle_status add_nodes(struct graph_builder *b, struct graph_level *lv,
				 const Onnx__GraphProto *gp)
{
	struct graph *g = lv->g;
	struct cle_arena *ar = &b->gm->arena;
	char label[256];
	enum cle_status st;
	uint32_t k;

	for (k = 0; k < gp->n_node; k++) {
		const Onnx__NodeProto *np = gp->node[k];
		struct graph_node *n = &g->node[k];

		n->name = graph_str(np->name);
		n->op = graph_str(np->op_type);
		n->domain = graph_str(np->domain);
		if (strcmp(n->domain, "ai.onnx") == 0)
			n->domain = "";
		n->proto = np;
		n->span = onnx_span_of(b->m, np);
		n->n_in = (uint32_t)np->n_input;
		n->n_out = (uint32_t)np->n_output;
		n->n_sub = 0; /* build_subgraphs sets them for a node that has some */
		n->sub = NULL;
		n->in = cle_arena_alloc(ar, (np->n_input + 1) * sizeof *n->in);
		n->out = cle_arena_alloc(ar, (np->n_output + 1) * sizeof *n->out);
		if (n->in == NULL || n->out == NULL)
			return graph_nomem(b);
		g->n_node = k + 1;
		if (n->op[0] == '\0' &&
		    (st = graph_defect(b, g, k, NULL, "node %s has no op_type",
				       graph_node_label(g, k, label, sizeof label))) != CLE_OK)
			return st;
		if ((st = add_node_outputs(b, lv, k)) != CLE_OK || (st = add_constant(b, g, k)) != CLE_OK)
			return st;
	}
	return CLE_OK;
}

/* Consumers, then graph outputs: both may name values of enclosing scopes. */
static enum cle_status add_uses(struct graph_builder *b, int d, const Onnx__GraphProto *gp)
{
	struct graph_level *lv = &b->stack[d];
	struct graph *g = lv->g;
	enum cle_status st;
	uint32_t k, v;
	size_t i, j;

	for (k = 0; k < g->n_node; k++) {
		const Onnx__NodeProto *np = gp->node[k];

		for (j = 0; j < np->n_input; j++) {
			if (np->input[j][0] == '\0') {
				g->node[k].in[j] = GRAPH_NONE;
				continue;
			}
			if ((st = lookup_use(b, d, np->input[j], &v)) != CLE_OK)
				return st;
			g->node[k].in[j] = v;
			if ((st = add_use(b, lv, v, k, (uint32_t)j)) != CLE_OK)
				return st;
		}
	}
	for (i = 0; i < gp->n_output; i++) {
		if ((st = lookup_use(b, d, graph_str(gp->output[i]->name), &v)) != CLE_OK)
			return st;
		g->value[v].flags |= GRAPH_IS_OUTPUT;
		if (g->value[v].type == NULL || g->value[v].elem_type == 0)
			set_type(&g->value[v], gp->output[i]);
		g->output[g->n_output++] = v;
	}
	return CLE_OK;
}

static enum cle_status build_graph(struct graph_builder *b, const Onnx__GraphProto *gp,
				   struct graph *parent, uint32_t parent_node, const char *path,
				   int d, struct graph **out);

/* Builds the subgraphs in node k's attributes, one level down. */
static enum cle_status build_subgraphs(struct graph_builder *b, int d, uint32_t k)
{
	struct graph *g = b->stack[d].g;
	struct graph_node *n = &g->node[k];
	const Onnx__NodeProto *np = n->proto;
	uint32_t count = 0, at;
	size_t i;
	char label[256], path[512];
	enum cle_status st;

	for (i = 0; i < np->n_attribute; i++)
		count += (np->attribute[i]->g != NULL) + (uint32_t)np->attribute[i]->n_graphs;
	if (count == 0)
		return CLE_OK;
	if (d + 1 > CLE_MAX_GRAPH_DEPTH)
		return CLE_BAD(b->e, CLE_E_TOO_DEEP, "subgraphs nest more than %d deep at node %s",
			       CLE_MAX_GRAPH_DEPTH, graph_node_label(g, k, label, sizeof label));
	n->sub = cle_arena_alloc(&b->gm->arena, count * sizeof *n->sub);
	if (n->sub == NULL)
		return graph_nomem(b);
	b->stack[d].current_node = k;
	graph_node_label(g, k, label, sizeof label);
	for (i = 0, at = 0; i < np->n_attribute; i++) {
		const Onnx__AttributeProto *a = np->attribute[i];
		const char *an = graph_str(a->name);
		size_t j;

		if (a->g != NULL) {
			snprintf(path, sizeof path, "%s.%s", label, an);
			if ((st = build_graph(b, a->g, g, k, path, d + 1, &n->sub[at++])) != CLE_OK)
				return st;
		}
		for (j = 0; j < a->n_graphs; j++) {
			snprintf(path, sizeof path, "%s.%s[%zu]", label, an, j);
			if ((st = build_graph(b, a->graphs[j], g, k, path, d + 1, &n->sub[at++])) != CLE_OK)
				return st;
		}
	}
	n->n_sub = at;
	return CLE_OK;
}

/* Indexes graph gp at level d (and, depth first, its subgraphs). */
static enum cle_status build_graph(struct graph_builder *b, const Onnx__GraphProto *gp,
				   struct graph *parent, uint32_t parent_node, const char *path,
				   int d, struct graph **out)
{
	struct graph_level *lv = &b->stack[d];
	struct graph *g;
	enum cle_status st;
	uint32_t k, v;
	size_t i;

	if ((st = new_graph(b, gp, parent, parent_node, path, d, out)) != CLE_OK)
		return st;
	g = *out;
	if ((st = add_inputs(b, lv, gp)) != CLE_OK || (st = add_nodes(b, lv, gp)) != CLE_OK)
		return st;
	for (i = 0; i < gp->n_value_info; i++) {
		v = graph_table_find(g, graph_str(gp->value_info[i]->name));
		if (v != GRAPH_NONE && g->value[v].type == NULL)
			set_type(&g->value[v], gp->value_info[i]);
	}
	if ((st = add_uses(b, d, gp)) != CLE_OK)
		return st;
	for (k = 0; k < g->n_node; k++)
		if ((st = build_subgraphs(b, d, k)) != CLE_OK)
			return st;
	return finish_uses(b, lv);
}

/* ---- the model --------------------------------------------------------- */

/* The model's own facts: IR version, producer, opsets. */
static enum cle_status model_facts(struct graph_builder *b, const Onnx__ModelProto *mp)
{
	struct graph_model *gm = b->gm;
	size_t i;

	gm->ir_version = mp->has_ir_version ? mp->ir_version : 0;
	gm->producer_name = graph_str(mp->producer_name);
	gm->producer_version = graph_str(mp->producer_version);
	gm->opset = cle_arena_alloc(&gm->arena, (mp->n_opset_import + 1) * sizeof *gm->opset);
	if (gm->opset == NULL)
		return graph_nomem(b);
	for (i = 0; i < mp->n_opset_import; i++) {
		const char *dom = graph_str(mp->opset_import[i]->domain);

		gm->opset[gm->n_opset].domain = strcmp(dom, "ai.onnx") == 0 ? "" : dom;
		gm->opset[gm->n_opset].version =
			mp->opset_import[i]->has_version ? mp->opset_import[i]->version : 0;
		gm->n_opset++;
	}
	return CLE_OK;
}

enum cle_status graph_build(struct graph_model **out, const struct onnx_model *m,
			    const struct graph_lookup *lookup, const struct cle_alloc *a,
			    struct cle_error *e)
{
	const Onnx__ModelProto *mp = m->proto;
	struct graph_builder *b = NULL;
	struct graph_model *gm = NULL;
	enum cle_status st;
	int d;

	*out = NULL;
	gm = cle_calloc(a, 1, sizeof *gm);
	if (gm != NULL) {
		gm->a = a;
		cle_arena_init(&gm->arena, a);
	}
	b = cle_calloc(a, 1, sizeof *b);
	if (gm == NULL || b == NULL) {
		st = cle_errorf(e, CLE_E_NOMEM, "out of memory indexing the model");
		goto fail;
	}
	gm->onnx = m;
	b->gm = gm;
	b->m = m;
	b->lookup = lookup;
	b->e = e;
	if ((st = model_facts(b, mp)) != CLE_OK ||
	    (st = build_graph(b, mp->graph, NULL, GRAPH_NONE, "", 0, &gm->main)) != CLE_OK)
		goto fail;
	if (NEVER(gm->arena.failed)) { /* every refusal above was returned */
		st = graph_nomem(b);
		goto fail;
	}
	*out = gm;
	gm = NULL;
fail:
	if (b != NULL)
		for (d = 0; d <= CLE_MAX_GRAPH_DEPTH; d++)
			cle_free(a, b->stack[d].uses, b->stack[d].cap_uses * sizeof *b->stack[d].uses);
	cle_free(a, b, sizeof *b);
	graph_free(gm);
	return st;
}

void graph_free(struct graph_model *gm)
{
	if (gm == NULL)
		return;
	cle_free(gm->a, gm->defects, gm->cap_defects * sizeof *gm->defects);
	cle_free(gm->a, gm->graphs, gm->cap_graphs * sizeof *gm->graphs);
	cle_arena_free(&gm->arena);
	cle_free(gm->a, gm, sizeof *gm);
}
