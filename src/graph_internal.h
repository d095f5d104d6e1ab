/* graph_internal.h — what the pieces of the graph index share, private to
 * graph_*.c: the name table, the builder's state, and the steps one file
 * makes for another.  graph.h is the public face.
 *
 *   graph_index.c  graph_build: names, producers and consumers, subgraph scopes
 *   graph_const.c  constants: raw and typed fields, float16/bfloat16/double,
 *                  external data, Constant nodes; dtypes
 *   graph_attr.c   attribute look-ups with ONNX defaults
 *   graph_edit.c   edits to the model, and writing it (graph_edit_*, graph_edits_save) */
#ifndef CLE_GRAPH_INTERNAL_H
#define CLE_GRAPH_INTERNAL_H

#include "graph.h"
#include "onnx.pb-c.h"
#include "onnx_io.h"

/* Name → value index for one graph scope: open addressing, linear probing. */
struct graph_hash {
	uint32_t cap;   /* power of two */
	uint32_t *slot; /* value index + 1; 0 = empty */
};

/* One use of a value, recorded while its graph is built and turned into
 * the per-value graph_use arrays at the end. */
struct graph_use_rec {
	uint32_t value, node, slot;
};

/* Per-graph state while it is being built; ancestors' states stay on the
 * builder's stack so subgraphs can record implicit uses in them. */
struct graph_level {
	struct graph *g;
	struct graph_use_rec *uses;
	size_t n_uses, cap_uses;
	uint32_t current_node; /* node whose subgraphs are being built */
	uint32_t cap_value;    /* names the graph can hold (values are never reallocated) */
};

struct graph_builder {
	struct graph_model *gm;
	const struct onnx_model *m;
	const struct graph_lookup *lookup; /* NULL: external tensors stay GRAPH_MISSING */
	struct cle_error *e;
	struct graph_level stack[CLE_MAX_GRAPH_DEPTH + 1];
	size_t cap_graphs;
};

static inline const char *graph_str(const char *s)
{
	return s != NULL ? s : "";
}

/* A tensor's name for messages. */
static inline const char *graph_tensor_label(const Onnx__TensorProto *t)
{
	return t->name && t->name[0] ? t->name : "(unnamed)";
}

/* ---- graph_index.c ---- */

/* CLE_E_NOMEM with the index's sentence. */
CLE_NODISCARD enum cle_status graph_nomem(struct graph_builder *b);

/* Records something wrong with the model that the index can still
 * represent; CLE_E_NOMEM (with its sentence) if there is no room for it. */
CLE_NODISCARD enum cle_status graph_defect(struct graph_builder *b, const struct graph *g,
					   uint32_t node, const char *tensor, const char *fmt, ...)
	CLE_PRINTF(5, 6);

/* The value index of name in g's own scope, or GRAPH_NONE. */
uint32_t graph_table_find(const struct graph *g, const char *name);

/* ---- graph_const.c ---- */

/* Bytes count elements of dtype take in raw form; false if unknown or too many. */
bool graph_raw_bytes(int32_t dtype, size_t count, size_t *out);

/* Makes the index entry *out for a TensorProto (an initializer, or the
 * value of a Constant node k of g; GRAPH_NONE for an initializer).  What
 * does not agree with its dims and type becomes a defect, not a failure. */
CLE_NODISCARD enum cle_status graph_const_make(struct graph_builder *b, const struct graph *g,
					       uint32_t node, const Onnx__TensorProto *t,
					       struct graph_const **out);

/* The value of Constant node k of g, from whichever value_* attribute it
 * carries; *out NULL when it has none that is a number tensor. */
CLE_NODISCARD enum cle_status graph_const_of_node(struct graph_builder *b, const struct graph *g,
						  uint32_t k, struct graph_const **out);

/* ---- graph_attr.c ---- */

/* Node n's attribute of that name, or NULL. */
const Onnx__AttributeProto *graph_attr_find(const struct graph_node *n, const char *name);

#endif
