/* cle_plan_internal.h — what the planner's files share (cle_plan.c: the
 * phases; cle_roles.c: what each node that is not a layer does to channels). */
#ifndef CLE_PLAN_INTERNAL_H
#define CLE_PLAN_INTERNAL_H

#include "cle_internal.h"

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
	uint8_t *dslot;           /* per node: the input carrying the activation (ops_data_slot) */
	uint8_t *rescale;         /* per node: 1 + enum cle_rescale when its constants scale, else 0 */
	uint8_t *hswish;          /* per node: part of a HardSwish written out (its sentence says so) */
	struct region_build *rb;  /* per region of this graph */
};

/* A sentence for *out in the plan's arena, unless one is there (see cle_say). */
#define reason(pl, out, ...) cle_say((pl)->p, (pl)->e, (out), __VA_ARGS__)

static inline const char *label(const struct graph *g, uint32_t n, char buf[256])
{
	return graph_node_label(g, n, buf, 256);
}

/* The role of node n from the op table (layers keep theirs), and the
 * sentence in pl->why[n] when it blocks. */
CLE_NODISCARD enum cle_status plan_set_role(struct planner *pl, uint32_t n);

#endif
