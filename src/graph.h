/* graph.h — the index every later stage reads, made in one pass over a
 * loaded model: tensor name → producer and consumers, constant values
 * (initializers and Constant nodes, in place), opsets, attribute look-up
 * with ONNX defaults, and the If/Loop/Scan subgraphs, depth-limited.
 * Nothing downstream walks protobuf structures by hand.
 *
 * Made by graph_index.c (the index), graph_const.c (constants),
 * graph_attr.c (attributes) and graph_edit.c (editing and writing); what
 * they share is in graph_internal.h. */
#ifndef CLE_GRAPH_H
#define CLE_GRAPH_H

#include "base.h"

struct onnx_model;
struct onnx_sink;
struct graph;

#define GRAPH_NONE UINT32_MAX /* no value / no node */

/* ONNX TensorProto.DataType numbers. */
enum graph_dtype {
	GRAPH_UNDEFINED = 0, GRAPH_FLOAT = 1, GRAPH_UINT8 = 2, GRAPH_INT8 = 3, GRAPH_UINT16 = 4,
	GRAPH_INT16 = 5, GRAPH_INT32 = 6, GRAPH_INT64 = 7, GRAPH_STRING = 8, GRAPH_BOOL = 9,
	GRAPH_FLOAT16 = 10, GRAPH_DOUBLE = 11, GRAPH_UINT32 = 12, GRAPH_UINT64 = 13,
	GRAPH_COMPLEX64 = 14, GRAPH_COMPLEX128 = 15, GRAPH_BFLOAT16 = 16,
	GRAPH_DTYPE_COUNT = 24 /* 17..23: float8, int4 and float4 variants */
};
/* "float32", "int64", ... or NULL for an unknown number. */
const char *graph_dtype_name(int32_t dtype);
/* Bits per element; 0 for strings and unknown types. */
unsigned graph_dtype_bits(int32_t dtype);

/* Where a constant's elements are. */
enum graph_storage {
	GRAPH_RAW,      /* little-endian bytes in place: raw_data or external data */
	GRAPH_FLOATS,   /* float array (float_data, Constant value_float(s)) */
	GRAPH_INT32S,   /* int32 array (int32_data: also int8/16, uint8/16, bool, float16 bits) */
	GRAPH_INT64S,   /* int64 array (int64_data, Constant value_int(s)) */
	GRAPH_DOUBLES,  /* double array (double_data) */
	GRAPH_UINT64S,  /* uint64 array (uint64_data: also uint32) */
	GRAPH_STRINGS,  /* string_data; elements are not numbers */
	GRAPH_MISSING,  /* external data the caller did not supply */
};

/* A constant tensor's value, wherever the file keeps it. */
struct graph_const {
	int32_t dtype;
	uint32_t n_dims;
	const int64_t *dims;
	size_t count;               /* elements (product of dims; SIZE_MAX if that does not fit) */
	uint64_t elements;          /* the product of dims as the file has it, on every build */
	enum graph_storage storage;
	const void *data;           /* bytes or typed array; views into the model */
	size_t n_data;              /* bytes at data for GRAPH_RAW */
	bool ok;                    /* storage agrees with dims and dtype (else a defect says why) */
	bool external;              /* the elements live in a side file */
	bool supplied;              /* ... which the lookup found (it may still be too short) */
	const char *location;       /* that file, as the model names it */
	uint32_t span;              /* the TensorProto's span in the input, or GRAPH_NONE */
	const void *proto;          /* the TensorProto, or NULL for Constant value_float(s)/int(s) */
};

/* Reads element i as a double (float16/bfloat16 converted, integers as is).
 * False if the constant is not numeric, not ok, or i is out of range. */
bool graph_const_f64(const struct graph_const *c, size_t i, double *out);

enum graph_value_flags {
	GRAPH_IS_INPUT = 1,        /* a graph input */
	GRAPH_IS_OUTPUT = 2,       /* a graph output */
	GRAPH_IS_INITIALIZER = 4,
	GRAPH_IS_CONSTANT = 8,     /* produced by a Constant node */
	GRAPH_IS_OUTER = 16,       /* defined in an enclosing graph (see outer) */
};

struct graph_use {
	uint32_t node; /* consuming node in the value's own graph */
	uint32_t slot; /* input index, or GRAPH_NONE when a subgraph of that node reads it */
};

/* One tensor name in one graph scope. */
struct graph_value {
	const char *name;
	uint32_t producer;             /* node index, GRAPH_NONE for inputs/initializers/undefined */
	uint32_t producer_slot;        /* output index at the producer */
	uint32_t n_uses;
	struct graph_use *uses;        /* in node order */
	unsigned flags;                /* enum graph_value_flags */
	struct graph_const *konst;     /* value if constant (initializer or Constant), else NULL */
	const struct graph *outer_graph; /* for GRAPH_IS_OUTER: where it is defined */
	uint32_t outer_value;
	int32_t elem_type;             /* from inputs/outputs/value_info, 0 if unknown */
	int32_t rank;                  /* -1 if unknown */
	const void *type;              /* the TypeProto, or NULL */
};

struct graph_node {
	const char *name;      /* "" when unnamed */
	const char *op;        /* op_type */
	const char *domain;    /* "" for the default domain */
	uint32_t n_in, n_out;
	uint32_t *in, *out;    /* value indices; GRAPH_NONE for an empty (omitted) name */
	uint32_t n_sub;
	struct graph **sub;    /* subgraphs held in attributes, in attribute order */
	uint32_t span;         /* the NodeProto's span */
	const void *proto;     /* the NodeProto */
};

struct graph {
	const struct graph *parent; /* NULL for the main graph */
	uint32_t parent_node;       /* node of parent holding this graph */
	const char *path;           /* "" for main, else "If_0.then_branch" etc. */
	int depth;                  /* 0 for main */
	const char *name;
	uint32_t n_node;
	struct graph_node *node;
	uint32_t n_value;
	struct graph_value *value;
	uint32_t n_input, n_output, n_init;
	uint32_t *input, *output, *init; /* value indices, in file order */
	uint32_t span;              /* the GraphProto's span */
	const void *proto;          /* the GraphProto */
	struct graph_hash *hash;    /* name → value */
};

/* Something the index found wrong with the model but could represent. */
struct graph_defect {
	const struct graph *g;
	uint32_t node;      /* GRAPH_NONE if about a tensor only */
	const char *tensor; /* or NULL */
	const char *msg;    /* one sentence */
};

struct graph_opset {
	const char *domain; /* "" for ai.onnx */
	int64_t version;
};

/* Finds external data: location is the file name the model gives;
 * *p, *n receive the whole file (borrowed, must outlive the index).
 * CLE_E_IO if there is no such file. */
struct graph_lookup {
	enum cle_status (*fn)(void *ud, const char *location, const uint8_t **p, size_t *n,
			      struct cle_error *e);
	void *ud;
};

struct graph_model {
	const struct onnx_model *onnx;
	int64_t ir_version;            /* 0 if absent */
	const char *producer_name;     /* "" if absent */
	const char *producer_version;
	uint32_t n_opset;
	struct graph_opset *opset;
	struct graph *main;
	uint32_t n_graphs;
	struct graph **graphs;         /* all graphs, main first, then depth-first */
	size_t cap_graphs;
	uint32_t n_defects;
	struct graph_defect *defects;
	size_t cap_defects;
	struct cle_arena arena;
	const struct cle_alloc *a;
};

/* Indexes m (which must outlive the index).  lookup may be NULL: external
 * tensors are then GRAPH_MISSING.  Fails only on out-of-memory, too-deep
 * nesting, or a lookup error other than "no such file". */
CLE_NODISCARD enum cle_status graph_build(struct graph_model **out, const struct onnx_model *m,
					  const struct graph_lookup *lookup,
					  const struct cle_alloc *a, struct cle_error *e);
void graph_free(struct graph_model *gm);

/* Opset version imported for a domain ("" and "ai.onnx" are the same), 0 if none. */
int64_t graph_opset(const struct graph_model *gm, const char *domain);

/* Writes g's nodes to order (n_node entries) so that each comes after the
 * producers of what it reads; wait is scratch (n_node entries).  Returns
 * how many were ordered: fewer than n_node when nodes lie on a cycle (those
 * and what they feed are left out; wait[n] > 0 for them). */
uint32_t graph_topo_order(const struct graph *g, uint32_t *order, uint32_t *wait);

/* Value index of a name as seen from g (own scope, then enclosing ones
 * through an IS_OUTER entry), or GRAPH_NONE. */
uint32_t graph_find(const struct graph *g, const char *name);

/* The value behind an IS_OUTER entry (or v itself), and its graph. */
const struct graph_value *graph_resolve(const struct graph *g, uint32_t v,
					const struct graph **owner);

/* Node label for messages: its name, or "#index"; subgraph nodes are
 * prefixed with the graph's path ("If_0.then_branch/Conv_3"). */
const char *graph_node_label(const struct graph *g, uint32_t node, char *buf, size_t n);

/* Attribute look-up.  Missing attributes take ONNX's default where the
 * operator defines one.  False when absent with no default, or of another
 * type. */
bool graph_attr_int(const struct graph_node *n, const char *name, int64_t *out);
bool graph_attr_float(const struct graph_node *n, const char *name, float *out);
/* Strings come back with their length (attribute strings are bytes). */
bool graph_attr_string(const struct graph_node *n, const char *name, const char **s,
		       size_t *len);
bool graph_attr_ints(const struct graph_node *n, const char *name, const int64_t **v,
		     size_t *count);
bool graph_attr_floats(const struct graph_node *n, const char *name, const float **v,
		       size_t *count);
/* True if the node has an attribute of that name at all. */
bool graph_attr_present(const struct graph_node *n, const char *name);
/* Compares a string attribute (or its default) with s. */
bool graph_attr_is(const struct graph_node *n, const char *name, const char *s);

/* Shape recorded for a value (graph input/output or value_info): sets
 * *rank and fills up to max dims (dim_value, or -1 when symbolic/unknown);
 * names of symbolic dims go to params when non-NULL.  False if unknown. */
bool graph_value_shape(const struct graph_value *v, int32_t *rank, int64_t *dims,
		       const char **params, size_t max);

/* Counts graph→nodes and graph→subgraphs recursively. */
uint32_t graph_subgraph_count(const struct graph_model *gm);

/* ---- editing ------------------------------------------------------------
 * Changes to the model are collected as splice edits (onnx_io.h) and
 * written by onnx_save; the index itself never changes.  New and replaced
 * messages are packed by protobuf-c into the edit list's arena. */

struct onnx_edit;
typedef enum cle_status (*graph_fill_fn)(void *ud, size_t off, uint8_t *dst, size_t n,
					 struct cle_error *e);

struct graph_ext_rewrite;

struct graph_edits {
	const struct graph_model *gm;
	struct onnx_edit *ed;
	size_t n, cap;
	struct graph_ext_rewrite *ext; /* new bytes for tensors kept in external data */
	size_t n_ext, cap_ext;
	struct cle_arena arena;  /* packed bytes, fill adapters, names */
	uint32_t n_names;        /* counter for unique names */
};

/* Where tensors stored as external data go when the model is written. */
enum graph_ext_mode {
	GRAPH_EXT_FILE,   /* one new data file, written to data_sink, named data_name */
	GRAPH_EXT_INLINE, /* into the model as raw_data (the model must stay under 2 GiB) */
};
struct graph_save {
	enum graph_ext_mode mode;
	const char *data_name;              /* the data file's name, as the model will give it */
	const struct onnx_sink *data_sink;  /* receives the data file (GRAPH_EXT_FILE) */
};

/* A node to write, new or in place of an existing one. */
struct graph_node_spec {
	const char *name, *op;
	uint32_t n_in, n_out;
	const char *const *in, *const *out;
	const void *attrs_from;  /* copy the attributes (and domain) of this NodeProto, or NULL */
};

void graph_edits_init(struct graph_edits *ed, const struct graph_model *gm);
void graph_edits_free(struct graph_edits *ed);

/* Replaces constant c's elements by as many bytes produced by fill (called
 * with 64-byte aligned offsets into the element data, little-endian).  A
 * tensor kept in typed fields is rewritten with raw_data; one kept in
 * external data gets its new bytes where graph_edits_save puts it. */
CLE_NODISCARD enum cle_status graph_edit_const(struct graph_edits *ed,
					       const struct graph_const *c, graph_fill_fn fill,
					       void *ud, struct cle_error *e);
/* Node n of g becomes spec. */
CLE_NODISCARD enum cle_status graph_edit_replace_node(struct graph_edits *ed, const struct graph *g,
						      uint32_t n, const struct graph_node_spec *spec,
						      struct cle_error *e);
/* spec is inserted right after node n of g. */
CLE_NODISCARD enum cle_status graph_edit_insert_node(struct graph_edits *ed, const struct graph *g,
						     uint32_t n, const struct graph_node_spec *spec,
						     struct cle_error *e);
CLE_NODISCARD enum cle_status graph_edit_delete_node(struct graph_edits *ed, const struct graph *g,
						     uint32_t n, struct cle_error *e);
/* Adds an initializer to g holding a copy of n_data bytes of raw elements. */
CLE_NODISCARD enum cle_status graph_edit_add_initializer(struct graph_edits *ed,
							 const struct graph *g, const char *name,
							 int32_t dtype, const int64_t *dims,
							 uint32_t n_dims, const void *data,
							 size_t n_data, struct cle_error *e);
/* Deletes value v of g from the file: its initializer, its graph-input
 * entry and its value_info entries (a Constant producer is deleted with
 * graph_edit_delete_node). */
CLE_NODISCARD enum cle_status graph_edit_delete_value(struct graph_edits *ed, const struct graph *g,
						      uint32_t v, struct cle_error *e);
/* *out = a tensor name not used in g or any enclosing graph, made from base
 * (owned by the edits' arena). */
CLE_NODISCARD enum cle_status graph_edit_name(struct graph_edits *ed, const struct graph *g,
					      const char *base, const char **out,
					      struct cle_error *e);
/* The same, NULL when out of memory (the older form; prefer graph_edit_name). */
const char *graph_edit_unique_name(struct graph_edits *ed, const struct graph *g,
				   const char *base);
/* Writes the model with the collected edits.  If the model keeps tensors
 * in external data, all of them move as gs says (gs NULL: refused); their
 * data must have been supplied to graph_build. */
CLE_NODISCARD enum cle_status graph_edits_save(struct graph_edits *ed, const struct onnx_sink *sink,
					       const struct graph_save *gs, struct cle_error *e);

#endif
