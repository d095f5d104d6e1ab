/* graph.c — graph_build: one pass over a loaded model makes the index in
 * graph.h.  Everything lives in the index's arena; the model's strings and
 * tensor bytes are referenced, not copied. */
#include "graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "onnx_io.h"

struct graph_hash {
	uint32_t cap; /* power of two */
	uint32_t *slot; /* value index + 1; 0 = empty */
};

/* Per-graph state while it is being built; ancestors' states stay on the
 * builder's stack so subgraphs can record implicit uses in them. */
struct use_rec {
	uint32_t value, node, slot;
};
struct level {
	struct graph *g;
	struct use_rec *uses;
	size_t n_uses, cap_uses;
	uint32_t current_node; /* node whose subgraphs are being built */
	uint32_t cap_value;
};

struct builder {
	struct graph_model *gm;
	const struct onnx_model *m;
	const struct graph_lookup *lookup;
	struct cle_error *e;
	struct level stack[CLE_MAX_GRAPH_DEPTH + 1];
	uint32_t cap_graphs;
};

/* ---- dtypes ------------------------------------------------------------ */

static const struct {
	const char *name;
	unsigned bits;
} dtypes[GRAPH_DTYPE_COUNT] = {
	[GRAPH_FLOAT] = {"float32", 32},     [GRAPH_UINT8] = {"uint8", 8},
	[GRAPH_INT8] = {"int8", 8},          [GRAPH_UINT16] = {"uint16", 16},
	[GRAPH_INT16] = {"int16", 16},       [GRAPH_INT32] = {"int32", 32},
	[GRAPH_INT64] = {"int64", 64},       [GRAPH_STRING] = {"string", 0},
	[GRAPH_BOOL] = {"bool", 8},          [GRAPH_FLOAT16] = {"float16", 16},
	[GRAPH_DOUBLE] = {"float64", 64},    [GRAPH_UINT32] = {"uint32", 32},
	[GRAPH_UINT64] = {"uint64", 64},     [GRAPH_COMPLEX64] = {"complex64", 64},
	[GRAPH_COMPLEX128] = {"complex128", 128}, [GRAPH_BFLOAT16] = {"bfloat16", 16},
	[17] = {"float8e4m3fn", 8},          [18] = {"float8e4m3fnuz", 8},
	[19] = {"float8e5m2", 8},            [20] = {"float8e5m2fnuz", 8},
	[21] = {"uint4", 4},                 [22] = {"int4", 4},
	[23] = {"float4e2m1", 4},
};

const char *graph_dtype_name(int32_t dtype)
{
	return dtype > 0 && dtype < GRAPH_DTYPE_COUNT ? dtypes[dtype].name : NULL;
}

unsigned graph_dtype_bits(int32_t dtype)
{
	return dtype > 0 && dtype < GRAPH_DTYPE_COUNT ? dtypes[dtype].bits : 0;
}

/* ---- small helpers ----------------------------------------------------- */

static const char *str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static enum cle_status nomem(struct builder *b)
{
	return cle_errorf(b->e, CLE_E_NOMEM, "out of memory indexing the model");
}

static void defect(struct builder *b, const struct graph *g, uint32_t node, const char *tensor,
		   const char *fmt, ...) CLE_PRINTF(5, 6);

/* Records a defect; if memory runs out the defect is dropped and the arena
 * remembers the failure, which graph_build reports. */
static void defect(struct builder *b, const struct graph *g, uint32_t node, const char *tensor,
		   const char *fmt, ...)
{
	struct graph_model *gm = b->gm;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (gm->n_defects == gm->cap_defects) {
		size_t cap = gm->cap_defects ? gm->cap_defects * 2 : 16;
		struct graph_defect *p = cle_realloc(gm->a, gm->defects,
						     gm->cap_defects * sizeof *p, cap * sizeof *p);

		if (p == NULL) {
			gm->arena.failed = true;
			return;
		}
		gm->defects = p;
		gm->cap_defects = cap;
	}
	gm->defects[gm->n_defects].g = g;
	gm->defects[gm->n_defects].node = node;
	gm->defects[gm->n_defects].tensor = tensor;
	gm->defects[gm->n_defects].msg = cle_arena_strdup(&gm->arena, msg);
	if (gm->defects[gm->n_defects].msg != NULL)
		gm->n_defects++;
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

/* ---- name table -------------------------------------------------------- */

static uint32_t table_find(const struct graph *g, const char *name)
{
	uint32_t i = hash_str(name) & (g->hash->cap - 1);

	for (;;) {
		uint32_t s = g->hash->slot[i];

		if (s == 0)
			return GRAPH_NONE;
		if (strcmp(g->value[s - 1].name, name) == 0)
			return s - 1;
		i = (i + 1) & (g->hash->cap - 1);
	}
}

/* Finds or adds name in g's own scope. */
static uint32_t table_add(struct builder *b, struct level *lv, const char *name)
{
	struct graph *g = lv->g;
	uint32_t i = hash_str(name) & (g->hash->cap - 1);
	struct graph_value *v;

	for (;;) {
		uint32_t s = g->hash->slot[i];

		if (s == 0)
			break;
		if (strcmp(g->value[s - 1].name, name) == 0)
			return s - 1;
		i = (i + 1) & (g->hash->cap - 1);
	}
	if (g->n_value == lv->cap_value) {
		(void)b;
		return GRAPH_NONE; /* cannot happen: cap_value bounds every name */
	}
	v = &g->value[g->n_value];
	memset(v, 0, sizeof *v);
	v->name = name;
	v->producer = GRAPH_NONE;
	v->producer_slot = GRAPH_NONE;
	v->outer_value = GRAPH_NONE;
	v->rank = -1;
	g->hash->slot[i] = ++g->n_value;
	return g->n_value - 1;
}

uint32_t graph_find(const struct graph *g, const char *name)
{
	return table_find(g, name);
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

/* ---- constants --------------------------------------------------------- */

static uint16_t load_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

/* IEEE half → float, exactly. */
static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	float f;

	if (exp == 0x1f) {
		bits = sign | 0x7f800000u | (man << 13);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else {
		/* subnormal half: value = man * 2^-24, exact in float */
		f = (float)man * 0x1p-24f;
		return sign ? -f : f;
	}
	memcpy(&f, &bits, 4);
	return f;
}

static float bf16_to_float(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

bool graph_const_f64(const struct graph_const *c, size_t i, double *out)
{
	const uint8_t *r = c->data;

	if (!c->ok || i >= c->count || c->storage == GRAPH_STRINGS || c->storage == GRAPH_MISSING)
		return false;
	switch (c->storage) {
	case GRAPH_FLOATS:
		*out = (double)((const float *)c->data)[i];
		return c->dtype == GRAPH_FLOAT;
	case GRAPH_INT64S:
		*out = (double)((const int64_t *)c->data)[i];
		return true;
	case GRAPH_DOUBLES:
		*out = ((const double *)c->data)[i];
		return true;
	case GRAPH_UINT64S:
		*out = (double)((const uint64_t *)c->data)[i];
		return true;
	case GRAPH_INT32S: {
		int32_t v = ((const int32_t *)c->data)[i];

		if (c->dtype == GRAPH_FLOAT16)
			*out = (double)half_to_float((uint16_t)v);
		else if (c->dtype == GRAPH_BFLOAT16)
			*out = (double)bf16_to_float((uint16_t)v);
		else if (graph_dtype_bits(c->dtype) < 8)
			return false;
		else
			*out = v;
		return true;
	}
	default:
		break;
	}
	switch (c->dtype) {
	case GRAPH_FLOAT: {
		float f;

		memcpy(&f, r + 4 * i, 4);
		*out = (double)f;
		return true;
	}
	case GRAPH_DOUBLE:
		memcpy(out, r + 8 * i, 8);
		return true;
	case GRAPH_FLOAT16:
		*out = (double)half_to_float(load_u16(r + 2 * i));
		return true;
	case GRAPH_BFLOAT16:
		*out = (double)bf16_to_float(load_u16(r + 2 * i));
		return true;
	case GRAPH_INT8:
		*out = (int8_t)r[i];
		return true;
	case GRAPH_UINT8:
	case GRAPH_BOOL:
		*out = r[i];
		return true;
	case GRAPH_INT16:
		*out = (int16_t)load_u16(r + 2 * i);
		return true;
	case GRAPH_UINT16:
		*out = load_u16(r + 2 * i);
		return true;
	case GRAPH_INT32: {
		int32_t v;

		memcpy(&v, r + 4 * i, 4);
		*out = v;
		return true;
	}
	case GRAPH_UINT32: {
		uint32_t v;

		memcpy(&v, r + 4 * i, 4);
		*out = v;
		return true;
	}
	case GRAPH_INT64: {
		int64_t v;

		memcpy(&v, r + 8 * i, 8);
		*out = (double)v;
		return true;
	}
	case GRAPH_UINT64: {
		uint64_t v;

		memcpy(&v, r + 8 * i, 8);
		*out = (double)v;
		return true;
	}
	default:
		return false;
	}
}

/* Bytes count elements of dtype take in raw form; false if unknown. */
static bool raw_bytes(int32_t dtype, size_t count, size_t *out)
{
	unsigned bits = graph_dtype_bits(dtype);
	size_t b;

	if (bits == 0)
		return false;
	if (bits < 8) {
		*out = count / 2 + count % 2;
		return true;
	}
	return cle_mul_size(count, bits / 8, &b) && (*out = b, true);
}

static const char *tensor_label(const Onnx__TensorProto *t)
{
	return t->name && t->name[0] ? t->name : "(unnamed)";
}

/* Finds the external file and checks the tensor's slice of it. */
static enum cle_status resolve_external(struct builder *b, const struct graph *g, uint32_t node,
					const Onnx__TensorProto *t, struct graph_const *c,
					size_t want)
{
	const char *loc = NULL;
	uint64_t off = 0, len = want;
	bool has_len = false;
	const uint8_t *p;
	size_t n, i;
	struct cle_error le;
	enum cle_status st;

	c->external = true;
	c->storage = GRAPH_MISSING;
	for (i = 0; i < t->n_external_data; i++) {
		const Onnx__StringStringEntryProto *kv = t->external_data[i];
		const char *key = str_or_empty(kv->key), *val = str_or_empty(kv->value);
		char *end;

		if (strcmp(key, "location") == 0) {
			loc = val;
		} else if (strcmp(key, "offset") == 0 || strcmp(key, "length") == 0) {
			unsigned long long x = strtoull(val, &end, 10);

			if (end == val || *end != '\0' || val[0] == '-') {
				defect(b, g, node, t->name,
				       "tensor '%s' has external_data %s \"%s\", which is not a byte count",
				       tensor_label(t), key, val);
				return CLE_OK;
			}
			if (key[0] == 'o') {
				off = x;
			} else {
				len = x;
				has_len = true;
			}
		}
	}
	c->location = loc;
	if (loc == NULL || loc[0] == '\0') {
		defect(b, g, node, t->name, "tensor '%s' is stored externally but names no location",
		       tensor_label(t));
		return CLE_OK;
	}
	if (has_len && len != want) {
		defect(b, g, node, t->name,
		       "tensor '%s' has external length %llu bytes; its dims and type need %zu",
		       tensor_label(t), (unsigned long long)len, want);
		return CLE_OK;
	}
	if (b->lookup == NULL || b->lookup->fn == NULL)
		return CLE_OK;
	st = b->lookup->fn(b->lookup->ud, loc, &p, &n, &le);
	if (st == CLE_E_IO)
		return CLE_OK; /* not supplied: the tensor stays GRAPH_MISSING */
	if (st != CLE_OK) {
		if (b->e != NULL)
			*b->e = le;
		return st;
	}
	c->supplied = true;
	if (off > n || want > n - off) {
		defect(b, g, node, t->name,
		       "tensor '%s' reads bytes %llu..%llu of '%s', which holds only %zu bytes",
		       tensor_label(t), (unsigned long long)off, (unsigned long long)(off + want),
		       loc, n);
		return CLE_OK;
	}
	c->storage = GRAPH_RAW;
	c->data = p + off;
	c->n_data = want;
	c->ok = true;
	return CLE_OK;
}

/* Makes the index entry for a TensorProto (an initializer or Constant value). */
static enum cle_status make_const(struct builder *b, const struct graph *g, uint32_t node,
				  const Onnx__TensorProto *t, struct graph_const **out)
{
	struct graph_const *c = cle_arena_alloc(&b->gm->arena, sizeof *c);
	size_t count = 1, want, have = 0, i;
	const char *name = tensor_label(t);

	*out = c;
	if (c == NULL)
		return nomem(b);
	memset(c, 0, sizeof *c);
	c->dtype = t->has_data_type ? t->data_type : 0;
	c->n_dims = (uint32_t)t->n_dims;
	c->dims = t->dims;
	c->span = onnx_span_of(b->m, t);
	c->proto = t;
	c->storage = GRAPH_RAW;
	for (i = 0; i < t->n_dims; i++) {
		if (t->dims[i] < 0 || !cle_mul_size(count, (size_t)t->dims[i], &count)) {
			defect(b, g, node, t->name,
			       "tensor '%s' has dimension %zu of %lld, which is not a valid size",
			       name, i, (long long)t->dims[i]);
			return CLE_OK;
		}
	}
	c->count = count;
	if (c->dtype == GRAPH_STRING) {
		c->storage = GRAPH_STRINGS;
		c->data = t->string_data;
		c->ok = t->n_string_data == count;
		if (!c->ok)
			defect(b, g, node, t->name, "tensor '%s' has %zu strings; its dims need %zu", name,
			       t->n_string_data, count);
		return CLE_OK;
	}
	if (!raw_bytes(c->dtype, count, &want)) {
		defect(b, g, node, t->name, "tensor '%s' has unknown data type %d", name, (int)c->dtype);
		return CLE_OK;
	}
	if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		return resolve_external(b, g, node, t, c, want);
	if (t->has_raw_data) {
		c->data = t->raw_data.data;
		c->n_data = t->raw_data.len;
		c->ok = t->raw_data.len == want;
		if (!c->ok)
			defect(b, g, node, t->name,
			       "tensor '%s' has %zu bytes of raw_data; dims and type %s need %zu", name,
			       t->raw_data.len, graph_dtype_name(c->dtype), want);
		return CLE_OK;
	}
	switch (c->dtype) {
	case GRAPH_FLOAT:
	case GRAPH_COMPLEX64:
		c->storage = GRAPH_FLOATS;
		c->data = t->float_data;
		have = t->n_float_data;
		break;
	case GRAPH_INT64:
		c->storage = GRAPH_INT64S;
		c->data = t->int64_data;
		have = t->n_int64_data;
		break;
	case GRAPH_DOUBLE:
	case GRAPH_COMPLEX128:
		c->storage = GRAPH_DOUBLES;
		c->data = t->double_data;
		have = t->n_double_data;
		break;
	case GRAPH_UINT32:
	case GRAPH_UINT64:
		c->storage = GRAPH_UINT64S;
		c->data = t->uint64_data;
		have = t->n_uint64_data;
		break;
	default: /* everything else narrower than 32 bits is carried in int32_data */
		c->storage = GRAPH_INT32S;
		c->data = t->int32_data;
		have = t->n_int32_data;
		if (graph_dtype_bits(c->dtype) < 8) /* int4 pairs packed in each int32 */
			count = count / 2 + count % 2;
		break;
	}
	if (c->dtype == GRAPH_COMPLEX64 || c->dtype == GRAPH_COMPLEX128)
		count *= 2;
	c->ok = have == count;
	if (!c->ok)
		defect(b, g, node, t->name, "tensor '%s' has %zu stored elements; dims and type %s need %zu",
		       name, have, graph_dtype_name(c->dtype), count);
	return CLE_OK;
}

static const Onnx__AttributeProto *find_attr(const struct graph_node *n, const char *name)
{
	const Onnx__NodeProto *np = n->proto;
	size_t i;

	for (i = 0; i < np->n_attribute; i++)
		if (np->attribute[i]->name && strcmp(np->attribute[i]->name, name) == 0)
			return np->attribute[i];
	return NULL;
}

/* A Constant node's value, from whichever value_* attribute it carries. */
static enum cle_status constant_value(struct builder *b, const struct graph *g, uint32_t k,
				      struct graph_const **out)
{
	const struct graph_node *n = &g->node[k];
	const Onnx__NodeProto *np = n->proto;
	struct graph_const *c;
	size_t i;

	*out = NULL;
	for (i = 0; i < np->n_attribute; i++) {
		const Onnx__AttributeProto *at = np->attribute[i];
		const char *an = str_or_empty(at->name);
		int64_t *dim;

		if (strcmp(an, "value") == 0 && at->t != NULL)
			return make_const(b, g, k, at->t, out);
		if (strncmp(an, "value_", 6) != 0 || strcmp(an, "value_string") == 0 ||
		    strcmp(an, "value_strings") == 0)
			continue;
		c = cle_arena_alloc(&b->gm->arena, sizeof *c);
		dim = cle_arena_alloc(&b->gm->arena, sizeof *dim);
		if (c == NULL || dim == NULL)
			return nomem(b);
		memset(c, 0, sizeof *c);
		c->span = GRAPH_NONE;
		c->ok = true;
		c->dims = dim;
		if (strcmp(an, "value_float") == 0) {
			c->dtype = GRAPH_FLOAT, c->storage = GRAPH_FLOATS, c->data = &at->f, c->count = 1;
		} else if (strcmp(an, "value_int") == 0) {
			c->dtype = GRAPH_INT64, c->storage = GRAPH_INT64S, c->data = &at->i, c->count = 1;
		} else if (strcmp(an, "value_floats") == 0) {
			c->dtype = GRAPH_FLOAT, c->storage = GRAPH_FLOATS, c->data = at->floats;
			c->count = at->n_floats, c->n_dims = 1, *dim = (int64_t)at->n_floats;
		} else if (strcmp(an, "value_ints") == 0) {
			c->dtype = GRAPH_INT64, c->storage = GRAPH_INT64S, c->data = at->ints;
			c->count = at->n_ints, c->n_dims = 1, *dim = (int64_t)at->n_ints;
		} else {
			continue; /* sparse_value: not indexed as a constant */
		}
		*out = c;
		return CLE_OK;
	}
	return CLE_OK;
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

/* ---- building ---------------------------------------------------------- */

static enum cle_status add_use(struct level *lv, const struct cle_alloc *a, uint32_t value,
			       uint32_t node, uint32_t slot)
{
	if (lv->n_uses == lv->cap_uses) {
		size_t cap = lv->cap_uses ? lv->cap_uses * 2 : 64;
		struct use_rec *p = cle_realloc(a, lv->uses, lv->cap_uses * sizeof *p, cap * sizeof *p);

		if (p == NULL)
			return CLE_E_NOMEM;
		lv->uses = p;
		lv->cap_uses = cap;
	}
	lv->uses[lv->n_uses].value = value;
	lv->uses[lv->n_uses].node = node;
	lv->uses[lv->n_uses].slot = slot;
	lv->n_uses++;
	return CLE_OK;
}

/* Index of name seen from level d: own scope, else an IS_OUTER entry for an
 * enclosing scope's value (recording the enclosing node's implicit use),
 * else a new undefined value. */
static enum cle_status lookup_use(struct builder *b, int d, const char *name, uint32_t *out)
{
	struct level *lv = &b->stack[d];
	uint32_t v = table_find(lv->g, name);
	int up;

	if (v != GRAPH_NONE) {
		*out = v;
		return CLE_OK;
	}
	v = table_add(b, lv, name);
	if (v == GRAPH_NONE)
		return cle_errorf(b->e, CLE_E_INTERNAL, "value table overflow");
	*out = v;
	for (up = d - 1; up >= 0; up--) {
		const struct graph *og = b->stack[up].g;
		uint32_t ov = table_find(og, name);
		const struct graph_value *target;
		const struct graph *owner;
		int od;

		if (ov == GRAPH_NONE)
			continue;
		target = graph_resolve(og, ov, &owner);
		lv->g->value[v].flags |= GRAPH_IS_OUTER;
		lv->g->value[v].outer_graph = owner;
		lv->g->value[v].outer_value = (uint32_t)(target - owner->value);
		lv->g->value[v].konst = target->konst;
		lv->g->value[v].elem_type = target->elem_type;
		lv->g->value[v].rank = target->rank;
		lv->g->value[v].type = target->type;
		for (od = up; od >= 0 && b->stack[od].g != owner; od--)
			;
		if (od >= 0 && add_use(&b->stack[od], b->gm->a, lv->g->value[v].outer_value,
				       b->stack[od].current_node, GRAPH_NONE) != CLE_OK)
			return nomem(b);
		return CLE_OK;
	}
	return CLE_OK;
}

static int use_cmp(const void *x, const void *y)
{
	const struct use_rec *a = x, *b = y;

	if (a->value != b->value)
		return a->value < b->value ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return a->slot < b->slot ? -1 : a->slot > b->slot;
}

/* Turns the level's use records into per-value arrays (sorted, implicit
 * duplicates from several subgraphs of one node merged). */
static enum cle_status finish_uses(struct builder *b, struct level *lv)
{
	struct graph *g = lv->g;
	struct graph_use *all;
	size_t i, n = 0;

	if (lv->n_uses > 1)
		qsort(lv->uses, lv->n_uses, sizeof *lv->uses, use_cmp);
	all = cle_arena_alloc(&b->gm->arena, (lv->n_uses ? lv->n_uses : 1) * sizeof *all);
	if (all == NULL)
		return nomem(b);
	for (i = 0; i < lv->n_uses; i++) {
		const struct use_rec *u = &lv->uses[i];
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

static enum cle_status add_graph(struct builder *b, struct graph *g)
{
	struct graph_model *gm = b->gm;

	if (gm->n_graphs == b->cap_graphs) {
		uint32_t cap = b->cap_graphs ? b->cap_graphs * 2 : 8;
		struct graph **p = cle_arena_alloc(&gm->arena, cap * sizeof *p);

		if (p == NULL)
			return nomem(b);
		if (gm->n_graphs)
			memcpy(p, gm->graphs, gm->n_graphs * sizeof *p);
		gm->graphs = p;
		b->cap_graphs = cap;
	}
	gm->graphs[gm->n_graphs++] = g;
	return CLE_OK;
}

static enum cle_status build_graph(struct builder *b, const Onnx__GraphProto *gp,
				   struct graph *parent, uint32_t parent_node, const char *path,
				   int d, struct graph **out);

/* Builds the subgraphs in node k's attributes. */
static enum cle_status build_subgraphs(struct builder *b, int d, uint32_t k)
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
		return nomem(b);
	b->stack[d].current_node = k;
	graph_node_label(g, k, label, sizeof label);
	for (i = 0, at = 0; i < np->n_attribute; i++) {
		const Onnx__AttributeProto *a = np->attribute[i];
		const char *an = str_or_empty(a->name);
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

static enum cle_status build_graph(struct builder *b, const Onnx__GraphProto *gp,
				   struct graph *parent, uint32_t parent_node, const char *path,
				   int d, struct graph **out)
{
	struct cle_arena *ar = &b->gm->arena;
	struct level *lv = &b->stack[d];
	struct graph *g;
	size_t bound, i, j;
	uint32_t cap, k, v;
	enum cle_status st = CLE_OK;
	char label[256];

	/* siblings at one depth share the level; its use buffer is reused */
	lv->g = NULL;
	lv->n_uses = 0;
	lv->current_node = GRAPH_NONE;
	lv->cap_value = 0;
	g = cle_arena_alloc(ar, sizeof *g);
	if (g == NULL)
		return nomem(b);
	memset(g, 0, sizeof *g);
	*out = g;
	lv->g = g;
	g->parent = parent;
	g->parent_node = parent_node;
	g->depth = d;
	g->path = cle_arena_strdup(ar, path);
	g->name = str_or_empty(gp->name);
	g->proto = gp;
	g->span = onnx_span_of(b->m, gp);
	if (g->path == NULL || (st = add_graph(b, g)) != CLE_OK)
		return st != CLE_OK ? st : nomem(b);

	/* every name a graph can hold comes from one of these lists */
	bound = gp->n_input + gp->n_initializer + gp->n_output + 1;
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
		return nomem(b);
	g->hash->cap = cap;
	g->hash->slot = cle_arena_alloc(ar, cap * sizeof *g->hash->slot);
	if (g->hash->slot == NULL)
		return nomem(b);
	memset(g->hash->slot, 0, cap * sizeof *g->hash->slot);

	/* producers: graph inputs, initializers, node outputs */
	for (i = 0; i < gp->n_input; i++) {
		v = table_add(b, lv, str_or_empty(gp->input[i]->name));
		g->value[v].flags |= GRAPH_IS_INPUT;
		set_type(&g->value[v], gp->input[i]);
		g->input[g->n_input++] = v;
	}
	for (i = 0; i < gp->n_initializer; i++) {
		const Onnx__TensorProto *t = gp->initializer[i];

		v = table_add(b, lv, str_or_empty(t->name));
		if (g->value[v].flags & GRAPH_IS_INITIALIZER)
			defect(b, g, GRAPH_NONE, g->value[v].name,
			       "initializer '%s' is defined twice", tensor_label(t));
		g->value[v].flags |= GRAPH_IS_INITIALIZER;
		if ((st = make_const(b, g, GRAPH_NONE, t, &g->value[v].konst)) != CLE_OK)
			return st;
		if (g->value[v].elem_type == 0)
			g->value[v].elem_type = g->value[v].konst->dtype;
		if (g->value[v].rank < 0)
			g->value[v].rank = (int32_t)t->n_dims;
		g->init[g->n_init++] = v;
	}
	for (k = 0; k < gp->n_node; k++) {
		const Onnx__NodeProto *np = gp->node[k];
		struct graph_node *n = &g->node[k];

		n->name = str_or_empty(np->name);
		n->op = str_or_empty(np->op_type);
		n->domain = str_or_empty(np->domain);
		if (strcmp(n->domain, "ai.onnx") == 0)
			n->domain = "";
		n->proto = np;
		n->span = onnx_span_of(b->m, np);
		n->n_in = (uint32_t)np->n_input;
		n->n_out = (uint32_t)np->n_output;
		n->in = cle_arena_alloc(ar, (np->n_input + 1) * sizeof *n->in);
		n->out = cle_arena_alloc(ar, (np->n_output + 1) * sizeof *n->out);
		if (n->in == NULL || n->out == NULL)
			return nomem(b);
		g->n_node = k + 1;
		if (n->op[0] == '\0')
			defect(b, g, k, NULL, "node %s has no op_type",
			       graph_node_label(g, k, label, sizeof label));
		for (j = 0; j < np->n_output; j++) {
			const char *name = np->output[j];

			if (name[0] == '\0') {
				n->out[j] = GRAPH_NONE;
				continue;
			}
			v = table_add(b, lv, name);
			n->out[j] = v;
			if (g->value[v].producer != GRAPH_NONE ||
			    (g->value[v].flags & (GRAPH_IS_INITIALIZER | GRAPH_IS_INPUT))) {
				defect(b, g, k, g->value[v].name,
				       "tensor '%s' is produced by node %s but was already defined%s",
				       name, graph_node_label(g, k, label, sizeof label),
				       g->value[v].producer != GRAPH_NONE ? " by another node"
				       : (g->value[v].flags & GRAPH_IS_INITIALIZER) ? " as an initializer"
										 : " as a graph input");
				continue;
			}
			g->value[v].producer = k;
			g->value[v].producer_slot = (uint32_t)j;
		}
		if (strcmp(n->op, "Constant") == 0 && n->domain[0] == '\0' && n->n_out == 1 &&
		    n->out[0] != GRAPH_NONE && g->value[n->out[0]].producer == k) {
			struct graph_value *cv = &g->value[n->out[0]];

			if ((st = constant_value(b, g, k, &cv->konst)) != CLE_OK)
				return st;
			if (cv->konst != NULL) {
				cv->flags |= GRAPH_IS_CONSTANT;
				cv->elem_type = cv->konst->dtype;
				cv->rank = (int32_t)cv->konst->n_dims;
			}
		}
	}
	for (i = 0; i < gp->n_value_info; i++) {
		v = table_find(g, str_or_empty(gp->value_info[i]->name));
		if (v != GRAPH_NONE && g->value[v].type == NULL)
			set_type(&g->value[v], gp->value_info[i]);
	}
	/* consumers, then outputs (both may reach into enclosing scopes) */
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
			if (add_use(lv, b->gm->a, v, k, (uint32_t)j) != CLE_OK)
				return nomem(b);
		}
	}
	for (i = 0; i < gp->n_output; i++) {
		if ((st = lookup_use(b, d, str_or_empty(gp->output[i]->name), &v)) != CLE_OK)
			return st;
		g->value[v].flags |= GRAPH_IS_OUTPUT;
		if (g->value[v].type == NULL || g->value[v].elem_type == 0)
			set_type(&g->value[v], gp->output[i]);
		g->output[g->n_output++] = v;
	}
	for (k = 0; k < g->n_node; k++)
		if ((st = build_subgraphs(b, d, k)) != CLE_OK)
			return st;
	return finish_uses(b, lv);
}

enum cle_status graph_build(struct graph_model **out, const struct onnx_model *m,
			    const struct graph_lookup *lookup, const struct cle_alloc *a,
			    struct cle_error *e)
{
	const Onnx__ModelProto *mp = m->proto;
	struct builder *b = NULL;
	struct graph_model *gm = NULL;
	enum cle_status st;
	int d;
	size_t i;

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
	gm->ir_version = mp->has_ir_version ? mp->ir_version : 0;
	gm->producer_name = str_or_empty(mp->producer_name);
	gm->producer_version = str_or_empty(mp->producer_version);
	gm->opset = cle_arena_alloc(&gm->arena, (mp->n_opset_import + 1) * sizeof *gm->opset);
	if (gm->opset == NULL) {
		st = nomem(b);
		goto fail;
	}
	for (i = 0; i < mp->n_opset_import; i++) {
		const char *dom = str_or_empty(mp->opset_import[i]->domain);

		gm->opset[gm->n_opset].domain = strcmp(dom, "ai.onnx") == 0 ? "" : dom;
		gm->opset[gm->n_opset].version =
			mp->opset_import[i]->has_version ? mp->opset_import[i]->version : 0;
		gm->n_opset++;
	}
	st = build_graph(b, mp->graph, NULL, GRAPH_NONE, "", 0, &gm->main);
	if (st == CLE_OK && gm->arena.failed)
		st = nomem(b);
	if (st != CLE_OK)
		goto fail;
	for (d = 0; d <= CLE_MAX_GRAPH_DEPTH; d++)
		cle_free(a, b->stack[d].uses, b->stack[d].cap_uses * sizeof *b->stack[d].uses);
	cle_free(a, b, sizeof *b);
	*out = gm;
	return CLE_OK;
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
	cle_arena_free(&gm->arena);
	cle_free(gm->a, gm, sizeof *gm);
}

uint32_t graph_subgraph_count(const struct graph_model *gm)
{
	return gm->n_graphs - 1;
}

/* ---- attributes -------------------------------------------------------- */

enum attr_kind { A_INT, A_FLOAT, A_STRING };

/* ONNX defaults for the attributes later stages read. */
static const struct attr_default {
	const char *op, *name;
	enum attr_kind kind;
	int64_t i;
	float f;
	const char *s;
} attr_defaults[] = {
	{"Conv", "group", A_INT, 1, 0, NULL},
	{"Conv", "auto_pad", A_STRING, 0, 0, "NOTSET"},
	{"ConvTranspose", "group", A_INT, 1, 0, NULL},
	{"ConvTranspose", "auto_pad", A_STRING, 0, 0, "NOTSET"},
	{"Gemm", "transA", A_INT, 0, 0, NULL},
	{"Gemm", "transB", A_INT, 0, 0, NULL},
	{"Gemm", "alpha", A_FLOAT, 0, 1.0f, NULL},
	{"Gemm", "beta", A_FLOAT, 0, 1.0f, NULL},
	{"BatchNormalization", "epsilon", A_FLOAT, 0, 1e-5f, NULL},
	{"BatchNormalization", "momentum", A_FLOAT, 0, 0.9f, NULL},
	{"BatchNormalization", "training_mode", A_INT, 0, 0, NULL},
	{"LeakyRelu", "alpha", A_FLOAT, 0, 0.01f, NULL},
	{"HardSigmoid", "alpha", A_FLOAT, 0, 0.2f, NULL},
	{"HardSigmoid", "beta", A_FLOAT, 0, 0.5f, NULL},
	{"Flatten", "axis", A_INT, 1, 0, NULL},
	{"Resize", "mode", A_STRING, 0, 0, "nearest"},
	{"Resize", "coordinate_transformation_mode", A_STRING, 0, 0, "half_pixel"},
	{"Resize", "nearest_mode", A_STRING, 0, 0, "round_prefer_floor"},
	{"Upsample", "mode", A_STRING, 0, 0, "nearest"},
	{"Pad", "mode", A_STRING, 0, 0, "constant"},
	{"MaxPool", "auto_pad", A_STRING, 0, 0, "NOTSET"},
	{"MaxPool", "ceil_mode", A_INT, 0, 0, NULL},
	{"MaxPool", "storage_order", A_INT, 0, 0, NULL},
	{"AveragePool", "auto_pad", A_STRING, 0, 0, "NOTSET"},
	{"AveragePool", "ceil_mode", A_INT, 0, 0, NULL},
	{"AveragePool", "count_include_pad", A_INT, 0, 0, NULL},
	{"Dropout", "ratio", A_FLOAT, 0, 0.5f, NULL},
	{"Reshape", "allowzero", A_INT, 0, 0, NULL},
	{"Gather", "axis", A_INT, 0, 0, NULL},
	{"Concat", "axis", A_INT, 0, 0, NULL}, /* required by ONNX; 0 only as a safe reading */
};

static const struct attr_default *find_default(const struct graph_node *n, const char *name,
					       enum attr_kind kind)
{
	size_t i;

	if (n->domain[0] != '\0')
		return NULL;
	for (i = 0; i < sizeof attr_defaults / sizeof attr_defaults[0]; i++)
		if (attr_defaults[i].kind == kind && strcmp(attr_defaults[i].op, n->op) == 0 &&
		    strcmp(attr_defaults[i].name, name) == 0)
			return &attr_defaults[i];
	return NULL;
}

bool graph_attr_present(const struct graph_node *n, const char *name)
{
	return find_attr(n, name) != NULL;
}

bool graph_attr_int(const struct graph_node *n, const char *name, int64_t *out)
{
	const Onnx__AttributeProto *a = find_attr(n, name);
	const struct attr_default *def;

	if (a != NULL) {
		if (!a->has_i || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
			return false;
		*out = a->i;
		return true;
	}
	if ((def = find_default(n, name, A_INT)) == NULL)
		return false;
	*out = def->i;
	return true;
}

bool graph_attr_float(const struct graph_node *n, const char *name, float *out)
{
	const Onnx__AttributeProto *a = find_attr(n, name);
	const struct attr_default *def;

	if (a != NULL) {
		if (!a->has_f || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT))
			return false;
		*out = a->f;
		return true;
	}
	if ((def = find_default(n, name, A_FLOAT)) == NULL)
		return false;
	*out = def->f;
	return true;
}

bool graph_attr_string(const struct graph_node *n, const char *name, const char **s, size_t *len)
{
	const Onnx__AttributeProto *a = find_attr(n, name);
	const struct attr_default *def;

	if (a != NULL) {
		if (!a->has_s || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING))
			return false;
		*s = (const char *)a->s.data;
		*len = a->s.len;
		return true;
	}
	if ((def = find_default(n, name, A_STRING)) == NULL)
		return false;
	*s = def->s;
	*len = strlen(def->s);
	return true;
}

bool graph_attr_is(const struct graph_node *n, const char *name, const char *s)
{
	const char *v;
	size_t len;

	return graph_attr_string(n, name, &v, &len) && len == strlen(s) &&
	       (len == 0 || memcmp(v, s, len) == 0);
}

bool graph_attr_ints(const struct graph_node *n, const char *name, const int64_t **v,
		     size_t *count)
{
	const Onnx__AttributeProto *a = find_attr(n, name);

	if (a == NULL || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS))
		return false;
	*v = a->ints;
	*count = a->n_ints;
	return true;
}

bool graph_attr_floats(const struct graph_node *n, const char *name, const float **v,
		       size_t *count)
{
	const Onnx__AttributeProto *a = find_attr(n, name);

	if (a == NULL || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS))
		return false;
	*v = a->floats;
	*count = a->n_floats;
	return true;
}

/* ---- editing ------------------------------------------------------------ */

struct graph_ext_rewrite {
	const struct graph_const *c;
	graph_fill_fn fill;
	void *ud;
};

void graph_edits_init(struct graph_edits *ed, const struct graph_model *gm)
{
	memset(ed, 0, sizeof *ed);
	ed->gm = gm;
	cle_arena_init(&ed->arena, gm->a);
}

void graph_edits_free(struct graph_edits *ed)
{
	cle_free(ed->gm->a, ed->ed, ed->cap * sizeof *ed->ed);
	cle_free(ed->gm->a, ed->ext, ed->cap_ext * sizeof *ed->ext);
	ed->ext = NULL;
	ed->n_ext = ed->cap_ext = 0;
	cle_arena_free(&ed->arena);
	ed->ed = NULL;
	ed->n = ed->cap = 0;
}

static enum cle_status edit_nomem(struct cle_error *e)
{
	return cle_errorf(e, CLE_E_NOMEM, "out of memory preparing the edited model");
}

/* A new zeroed edit of [at, end) inside span, or NULL when out of memory. */
static struct onnx_edit *edit_add(struct graph_edits *ed, size_t at, size_t end, uint32_t span)
{
	struct onnx_edit *x;

	if (ed->n == ed->cap) {
		size_t cap = ed->cap ? ed->cap * 2 : 32;
		struct onnx_edit *p = cle_realloc(ed->gm->a, ed->ed, ed->cap * sizeof *p, cap * sizeof *p);

		if (p == NULL)
			return NULL;
		ed->ed = p;
		ed->cap = cap;
	}
	x = &ed->ed[ed->n++];
	memset(x, 0, sizeof *x);
	x->at = at;
	x->end = end;
	x->span = span;
	return x;
}

/* Packs msg as field number `field` (tag, length, body) into the arena. */
static const uint8_t *pack_field(struct graph_edits *ed, const ProtobufCMessage *msg,
				 uint32_t field, size_t *n)
{
	size_t body = protobuf_c_message_get_packed_size(msg);
	uint8_t hdr[16], *p;
	size_t h = field ? onnx_field_header(hdr, field, body) : 0;

	p = cle_arena_alloc(&ed->arena, h + body);
	if (p == NULL)
		return NULL;
	memcpy(p, hdr, h);
	protobuf_c_message_pack(msg, p + h);
	*n = h + body;
	return p;
}

struct fill_adapter {
	graph_fill_fn fn;
	void *ud;
};


static enum cle_status fill_adapt(const struct onnx_edit *x, size_t off, uint8_t *dst, size_t n,
				  struct cle_error *e)
{
	const struct fill_adapter *fa = x->ud;

	return fa->fn(fa->ud, off, dst, n, e);
}

enum cle_status graph_edit_const(struct graph_edits *ed, const struct graph_const *c,
				 graph_fill_fn fill, void *ud, struct cle_error *e)
{
	const struct onnx_model *m = ed->gm->onnx;
	struct fill_adapter *fa;
	struct onnx_edit *x;
	size_t want, tag, body, end;

	if (c->proto == NULL || c->span == GRAPH_NONE)
		return cle_errorf(e, CLE_E_UNSUPPORTED,
				  "a Constant given as value_float(s)/value_int(s) cannot be rewritten");
	if (!c->ok || !raw_bytes(c->dtype, c->count, &want))
		return cle_errorf(e, CLE_E_INTERNAL, "rewriting a tensor that does not read back");
	if (c->external) {
		/* graph_edits_save decides where its bytes go */
		if (ed->n_ext == ed->cap_ext) {
			size_t cap = ed->cap_ext ? ed->cap_ext * 2 : 16;
			struct graph_ext_rewrite *p = cle_realloc(ed->gm->a, ed->ext,
								  ed->cap_ext * sizeof *p, cap * sizeof *p);

			if (p == NULL)
				return edit_nomem(e);
			ed->ext = p;
			ed->cap_ext = cap;
		}
		ed->ext[ed->n_ext].c = c;
		ed->ext[ed->n_ext].fill = fill;
		ed->ext[ed->n_ext++].ud = ud;
		return CLE_OK;
	}
	fa = cle_arena_alloc(&ed->arena, sizeof *fa);
	if (fa == NULL)
		return edit_nomem(e);
	fa->fn = fill;
	fa->ud = ud;
	if (c->storage == GRAPH_RAW && (const uint8_t *)c->data >= m->bytes &&
	    (const uint8_t *)c->data + c->n_data <= m->bytes + m->n_bytes) {
		/* raw_data is a view into the input: replace its bytes in place */
		size_t at = (size_t)((const uint8_t *)c->data - m->bytes);

		x = edit_add(ed, at, at + c->n_data, c->span);
	} else {
		/* typed fields, or a raw_data too short to be a view (protobuf-c
		 * copied it): the tensor's body becomes its header fields and a
		 * raw_data field, whose bytes are filled in after it */
		Onnx__TensorProto t = *(const Onnx__TensorProto *)c->proto;
		uint8_t hdr[16];
		size_t hn = onnx_field_header(hdr, 9, want), n;
		const uint8_t *packed;
		uint8_t *p;

		t.n_float_data = t.n_int32_data = t.n_int64_data = 0;
		t.n_double_data = t.n_uint64_data = 0;
		t.float_data = NULL;
		t.int32_data = NULL;
		t.int64_data = NULL;
		t.double_data = NULL;
		t.uint64_data = NULL;
		t.has_raw_data = 0;
		packed = pack_field(ed, &t.base, 0, &n);
		p = packed ? cle_arena_alloc(&ed->arena, n + hn) : NULL;
		if (p == NULL)
			return edit_nomem(e);
		memcpy(p, packed, n);
		memcpy(p + n, hdr, hn);
		onnx_span_range(m, c->span, &tag, &body, &end);
		x = edit_add(ed, body, end, c->span);
		if (x == NULL)
			return edit_nomem(e);
		x->bytes = p;
		x->size = n + hn;
		x = edit_add(ed, end, end, c->span);
	}
	if (x == NULL)
		return edit_nomem(e);
	x->size = want;
	x->fill = fill_adapt;
	x->ud = fa;
	return CLE_OK;
}

/* Fills np's name, op, inputs and outputs from spec (strings are borrowed). */
static bool node_from_spec(struct graph_edits *ed, Onnx__NodeProto *np,
			   const struct graph_node_spec *spec)
{
	char **in = cle_arena_alloc(&ed->arena, (spec->n_in + 1) * sizeof *in);
	char **out = cle_arena_alloc(&ed->arena, (spec->n_out + 1) * sizeof *out);
	uint32_t i;

	if (in == NULL || out == NULL)
		return false;
	for (i = 0; i < spec->n_in; i++)
		in[i] = (char *)(uintptr_t)spec->in[i];
	for (i = 0; i < spec->n_out; i++)
		out[i] = (char *)(uintptr_t)spec->out[i];
	np->n_input = spec->n_in;
	np->input = in;
	np->n_output = spec->n_out;
	np->output = out;
	if (spec->name != NULL)
		np->name = (char *)(uintptr_t)spec->name;
	if (spec->op != NULL)
		np->op_type = (char *)(uintptr_t)spec->op;
	if (spec->attrs_from != NULL) {
		const Onnx__NodeProto *from = spec->attrs_from;

		np->n_attribute = from->n_attribute;
		np->attribute = from->attribute;
		np->domain = from->domain;
	}
	return true;
}

enum cle_status graph_edit_replace_node(struct graph_edits *ed, const struct graph *g, uint32_t n,
					const struct graph_node_spec *spec, struct cle_error *e)
{
	Onnx__NodeProto np = *(const Onnx__NodeProto *)g->node[n].proto;
	const uint8_t *bytes;
	struct onnx_edit *x;
	size_t tag, body, end, size;

	if (spec->attrs_from == NULL && spec->op != NULL &&
	    strcmp(spec->op, g->node[n].op) != 0) {
		np.n_attribute = 0; /* a different op does not take the old attributes */
		np.attribute = NULL;
	}
	if (!node_from_spec(ed, &np, spec) || (bytes = pack_field(ed, &np.base, 1, &size)) == NULL)
		return edit_nomem(e);
	onnx_span_range(ed->gm->onnx, g->node[n].span, &tag, &body, &end);
	if ((x = edit_add(ed, tag, end, g->span)) == NULL)
		return edit_nomem(e);
	x->bytes = bytes;
	x->size = size;
	return CLE_OK;
}

enum cle_status graph_edit_insert_node(struct graph_edits *ed, const struct graph *g, uint32_t n,
				       const struct graph_node_spec *spec, struct cle_error *e)
{
	Onnx__NodeProto np = ONNX__NODE_PROTO__INIT;
	const uint8_t *bytes;
	struct onnx_edit *x;
	size_t tag, body, end, size;

	if (!node_from_spec(ed, &np, spec) || (bytes = pack_field(ed, &np.base, 1, &size)) == NULL)
		return edit_nomem(e);
	onnx_span_range(ed->gm->onnx, g->node[n].span, &tag, &body, &end);
	if ((x = edit_add(ed, end, end, g->span)) == NULL)
		return edit_nomem(e);
	x->bytes = bytes;
	x->size = size;
	return CLE_OK;
}

/* Removes the whole field holding span from its parent. */
static enum cle_status delete_span(struct graph_edits *ed, uint32_t span, uint32_t parent,
				   struct cle_error *e)
{
	struct onnx_edit *x;
	size_t tag, body, end;

	onnx_span_range(ed->gm->onnx, span, &tag, &body, &end);
	if ((x = edit_add(ed, tag, end, parent)) == NULL)
		return edit_nomem(e);
	x->bytes = (const uint8_t *)"";
	return CLE_OK;
}

enum cle_status graph_edit_delete_node(struct graph_edits *ed, const struct graph *g, uint32_t n,
				       struct cle_error *e)
{
	return delete_span(ed, g->node[n].span, g->span, e);
}

enum cle_status graph_edit_add_initializer(struct graph_edits *ed, const struct graph *g,
					   const char *name, int32_t dtype, const int64_t *dims,
					   uint32_t n_dims, const void *data, size_t n_data,
					   struct cle_error *e)
{
	Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
	int64_t *d = cle_arena_alloc(&ed->arena, (n_dims + 1) * sizeof *d);
	uint8_t *copy = cle_arena_alloc(&ed->arena, n_data + 1);
	const uint8_t *bytes;
	struct onnx_edit *x;
	size_t tag, body, end, size;

	if (d == NULL || copy == NULL)
		return edit_nomem(e);
	if (n_dims)
		memcpy(d, dims, n_dims * sizeof *d);
	if (n_data)
		memcpy(copy, data, n_data);
	t.name = (char *)(uintptr_t)name;
	t.has_data_type = 1;
	t.data_type = dtype;
	t.n_dims = n_dims;
	t.dims = d;
	t.has_raw_data = 1;
	t.raw_data.data = copy;
	t.raw_data.len = n_data;
	if ((bytes = pack_field(ed, &t.base, 5, &size)) == NULL)
		return edit_nomem(e);
	onnx_span_range(ed->gm->onnx, g->span, &tag, &body, &end);
	if ((x = edit_add(ed, end, end, g->span)) == NULL)
		return edit_nomem(e);
	x->bytes = bytes;
	x->size = size;
	return CLE_OK;
}

enum cle_status graph_edit_delete_value(struct graph_edits *ed, const struct graph *g, uint32_t v,
					struct cle_error *e)
{
	const Onnx__GraphProto *gp = g->proto;
	const char *name = g->value[v].name;
	enum cle_status st;
	size_t i;

	for (i = 0; i < gp->n_initializer; i++)
		if (gp->initializer[i]->name && strcmp(gp->initializer[i]->name, name) == 0 &&
		    (st = delete_span(ed, onnx_span_of(ed->gm->onnx, gp->initializer[i]), g->span, e)) != CLE_OK)
			return st;
	for (i = 0; i < gp->n_input; i++)
		if (gp->input[i]->name && strcmp(gp->input[i]->name, name) == 0 &&
		    (st = delete_span(ed, onnx_span_of(ed->gm->onnx, gp->input[i]), g->span, e)) != CLE_OK)
			return st;
	for (i = 0; i < gp->n_value_info; i++)
		if (gp->value_info[i]->name && strcmp(gp->value_info[i]->name, name) == 0 &&
		    (st = delete_span(ed, onnx_span_of(ed->gm->onnx, gp->value_info[i]), g->span, e)) != CLE_OK)
			return st;
	return CLE_OK;
}

static bool name_taken(const struct graph_model *gm, const char *name)
{
	uint32_t i;

	for (i = 0; i < gm->n_graphs; i++)
		if (table_find(gm->graphs[i], name) != GRAPH_NONE)
			return true;
	return false;
}

const char *graph_edit_unique_name(struct graph_edits *ed, const struct graph *g, const char *base)
{
	char buf[512];

	(void)g; /* names are kept unique across all scopes */
	for (;;) {
		snprintf(buf, sizeof buf, "%s_cle%u", base, (unsigned)++ed->n_names);
		if (!name_taken(ed->gm, buf))
			return cle_arena_strdup(&ed->arena, buf);
	}
}

/* Every constant the index holds in external data, in file order. */
static size_t external_consts(const struct graph_model *gm, const struct graph_const **out)
{
	size_t n = 0;
	uint32_t i, v;

	for (i = 0; i < gm->n_graphs; i++) {
		const struct graph *g = gm->graphs[i];

		for (v = 0; v < g->n_value; v++) {
			const struct graph_const *c = g->value[v].konst;

			if (c == NULL || !c->external || (g->value[v].flags & GRAPH_IS_OUTER) ||
			    c->span == GRAPH_NONE)
				continue;
			if (out != NULL)
				out[n] = c;
			n++;
		}
	}
	return n;
}

static int const_span_cmp(const void *x, const void *y)
{
	uint32_t a = (*(const struct graph_const *const *)x)->span;
	uint32_t b = (*(const struct graph_const *const *)y)->span;

	return a < b ? -1 : a > b;
}

/* A piece of output: the rewritten bytes of c, or its original bytes. */
static enum cle_status ext_piece(struct graph_edits *ed, const struct graph_const *c,
				 struct onnx_edit *x, struct cle_error *e)
{
	size_t i;

	x->size = c->n_data;
	for (i = 0; i < ed->n_ext; i++) {
		if (ed->ext[i].c == c) {
			struct fill_adapter *fa = cle_arena_alloc(&ed->arena, sizeof *fa);

			if (fa == NULL)
				return edit_nomem(e);
			fa->fn = ed->ext[i].fill;
			fa->ud = ed->ext[i].ud;
			x->fill = fill_adapt;
			x->ud = fa;
			return CLE_OK;
		}
	}
	x->bytes = c->data;
	return CLE_OK;
}

/* The tensor's body again, with what replaces its external_data: nothing
 * (inline: a raw_data header follows) or three new entries. */
static enum cle_status ext_header(struct graph_edits *ed, const struct graph_const *c,
				  const struct graph_save *gs, size_t offset, struct cle_error *e)
{
	Onnx__TensorProto t = *(const Onnx__TensorProto *)c->proto;
	Onnx__StringStringEntryProto *kv = NULL, **kvp = NULL;
	const uint8_t *packed;
	uint8_t *p;
	struct onnx_edit *x;
	size_t n, hn = 0, tag, body, end;
	uint8_t hdr[16];
	char *num;
	int i;

	t.has_raw_data = 0;
	if (gs->mode == GRAPH_EXT_INLINE) {
		t.n_external_data = 0;
		t.external_data = NULL;
		t.has_data_location = 0;
		hn = onnx_field_header(hdr, 9, c->n_data);
	} else {
		kv = cle_arena_alloc(&ed->arena, 3 * sizeof *kv);
		kvp = cle_arena_alloc(&ed->arena, 3 * sizeof *kvp);
		num = cle_arena_alloc(&ed->arena, 48);
		if (kv == NULL || kvp == NULL || num == NULL)
			return edit_nomem(e);
		snprintf(num, 24, "%zu", offset);
		snprintf(num + 24, 24, "%zu", c->n_data);
		for (i = 0; i < 3; i++) {
			Onnx__StringStringEntryProto init = ONNX__STRING_STRING_ENTRY_PROTO__INIT;

			kv[i] = init;
			kvp[i] = &kv[i];
		}
		kv[0].key = "location";
		kv[0].value = (char *)(uintptr_t)gs->data_name;
		kv[1].key = "offset";
		kv[1].value = num;
		kv[2].key = "length";
		kv[2].value = num + 24;
		t.n_external_data = 3;
		t.external_data = kvp;
		t.has_data_location = 1;
		t.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	}
	packed = pack_field(ed, &t.base, 0, &n);
	p = packed ? cle_arena_alloc(&ed->arena, n + hn + 1) : NULL;
	if (p == NULL)
		return edit_nomem(e);
	memcpy(p, packed, n);
	memcpy(p + n, hdr, hn);
	onnx_span_range(ed->gm->onnx, c->span, &tag, &body, &end);
	if ((x = edit_add(ed, body, end, c->span)) == NULL)
		return edit_nomem(e);
	x->bytes = p;
	x->size = n + hn;
	if (gs->mode == GRAPH_EXT_INLINE) {
		if ((x = edit_add(ed, end, end, c->span)) == NULL)
			return edit_nomem(e);
		return ext_piece(ed, c, x, e);
	}
	return CLE_OK;
}

enum cle_status graph_edits_save(struct graph_edits *ed, const struct onnx_sink *sink,
				 const struct graph_save *gs, struct cle_error *e)
{
	const struct graph_model *gm = ed->gm;
	const struct graph_const **ext = NULL;
	struct onnx_edit *pieces = NULL;
	size_t n = external_consts(gm, NULL), i, np = 0, off = 0, total = gm->onnx->n_bytes;
	static const uint8_t zeros[64];
	enum cle_status st = CLE_OK;

	if (n == 0)
		return onnx_save(gm->onnx, ed->ed, ed->n, sink, e);
	if (gs == NULL)
		return cle_errorf(e, CLE_E_UNSUPPORTED,
				  "the model keeps tensors in external data, and no place was given for them");
	ext = cle_calloc(gm->a, n, sizeof *ext);
	pieces = cle_calloc(gm->a, 2 * n, sizeof *pieces);
	if (ext == NULL || pieces == NULL) {
		st = edit_nomem(e);
		goto done;
	}
	external_consts(gm, ext);
	qsort(ext, n, sizeof *ext, const_span_cmp);
	for (i = 0; i < n; i++) {
		const struct graph_const *c = ext[i];

		if (!c->ok) {
			st = cle_errorf(e, CLE_E_IO,
					"tensor '%s' is stored in external data '%s', which is needed to write "
					"the model but was %s", ((const Onnx__TensorProto *)c->proto)->name,
					c->location ? c->location : "?",
					c->supplied ? "too short" : "not supplied");
			goto done;
		}
		if (gs->mode == GRAPH_EXT_FILE) {
			/* 64-byte aligned, so readers can map tensors in place */
			size_t pad = (64 - off % 64) % 64;

			if (pad) {
				pieces[np].bytes = zeros;
				pieces[np++].size = pad;
				off += pad;
			}
			if ((st = ext_piece(ed, c, &pieces[np++], e)) != CLE_OK)
				goto done;
		}
		if ((st = ext_header(ed, c, gs, off, e)) != CLE_OK)
			goto done;
		off += c->n_data;
		total += c->n_data;
	}
	if (gs->mode == GRAPH_EXT_INLINE && total > (size_t)INT32_MAX)
		st = cle_errorf(e, CLE_E_LIMIT,
				"with its external data inlined the model would hold %zu bytes, more than "
				"protobuf's 2 GiB; keep the data in a separate file", total);
	if (st == CLE_OK)
		st = onnx_save(gm->onnx, ed->ed, ed->n, sink, e);
	if (st == CLE_OK && gs->mode == GRAPH_EXT_FILE)
		st = onnx_write_pieces(pieces, np, gm->a, gs->data_sink, e);
done:
	cle_free(gm->a, pieces, 2 * n * sizeof *pieces);
	cle_free(gm->a, ext, n * sizeof *ext);
	return st;
}
