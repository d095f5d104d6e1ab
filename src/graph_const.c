/* graph_const.c — constant values, wherever the file keeps them: raw_data
 * (a view into the input), the typed fields, external data found through
 * the caller's lookup, and the value_* attributes of Constant nodes; and
 * reading their elements as numbers (float16, bfloat16 and double
 * included).  Nothing is copied: entries point into the model. */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

#include "kernels.h"

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

/* The same in 64 bits, for counts read from a file (false: unknown type or overflow). */
static bool graph_raw_bytes64(int32_t dtype, uint64_t count, uint64_t *out)
{
	unsigned bits = graph_dtype_bits(dtype);

	if (bits == 0)
		return false;
	if (bits < 8) {
		*out = count / 2 + count % 2;
		return true;
	}
	return !__builtin_mul_overflow(count, (uint64_t)(bits / 8), out);
}

bool graph_raw_bytes(int32_t dtype, size_t count, size_t *out)
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

/* ---- reading elements -------------------------------------------------- */

static uint16_t load_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static float bf16_to_float(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

/* Element i of a constant kept in a typed array; false if not a number. */
static bool typed_f64(const struct graph_const *c, size_t i, double *out)
{
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
			*out = (double)kernel_f16_to_f32((uint16_t)v);
		else if (c->dtype == GRAPH_BFLOAT16)
			*out = (double)bf16_to_float((uint16_t)v);
		else if (graph_dtype_bits(c->dtype) < 8)
			return false;
		else
			*out = v;
		return true;
	}
	default:
		return false;
	}
}

/* Element i of a constant kept as little-endian bytes; false if not a number. */
static bool raw_f64(const struct graph_const *c, size_t i, double *out)
{
	const uint8_t *r = c->data;

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
		*out = (double)kernel_f16_to_f32(load_u16(r + 2 * i));
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

bool graph_const_f64(const struct graph_const *c, size_t i, double *out)
{
	if (!c->ok || i >= c->count || c->storage == GRAPH_STRINGS || c->storage == GRAPH_MISSING)
		return false;
	return c->storage == GRAPH_RAW ? raw_f64(c, i, out) : typed_f64(c, i, out);
}

/* ---- making entries ---------------------------------------------------- */

/* Reads external_data's location, offset and length (offset 0 and length
 * want when absent).  False, with a defect recorded in *st, when one is
 * not a byte count. */
static bool external_keys(struct graph_builder *b, const struct graph *g, uint32_t node,
			  const Onnx__TensorProto *t, const char **loc, uint64_t *off,
			  uint64_t *len, bool *has_len, enum cle_status *st)
{
	size_t i;

	for (i = 0; i < t->n_external_data; i++) {
		const Onnx__StringStringEntryProto *kv = t->external_data[i];
		const char *key = graph_str(kv->key), *val = graph_str(kv->value);
		char *end;

		if (strcmp(key, "location") == 0) {
			*loc = val;
		} else if (strcmp(key, "offset") == 0 || strcmp(key, "length") == 0) {
			unsigned long long x = strtoull(val, &end, 10);

			if (end == val || *end != '\0' || val[0] == '-') {
				*st = graph_defect(b, g, node, t->name,
						   "tensor '%s' has external_data %s \"%s\", which is not a byte count",
						   graph_tensor_label(t), key, val);
				return false;
			}
			if (key[0] == 'o') {
				*off = x;
			} else {
				*len = x;
				*has_len = true;
			}
		}
	}
	return true;
}

/* Finds the external file and checks the tensor's slice of it. */
static enum cle_status resolve_external(struct graph_builder *b, const struct graph *g,
					uint32_t node, const Onnx__TensorProto *t,
					struct graph_const *c, uint64_t want)
{
	const char *loc = NULL;
	uint64_t off = 0, len = want;
	bool has_len = false;
	const uint8_t *p;
	size_t n;
	struct cle_error le;
	enum cle_status st = CLE_OK;

	c->external = true;
	c->storage = GRAPH_MISSING;
	if (!external_keys(b, g, node, t, &loc, &off, &len, &has_len, &st))
		return st;
	c->location = loc;
	if (loc == NULL || loc[0] == '\0')
		return graph_defect(b, g, node, t->name,
				    "tensor '%s' is stored externally but names no location",
				    graph_tensor_label(t));
	if (has_len && len != want)
		return graph_defect(b, g, node, t->name,
				    "tensor '%s' has external length %llu bytes; its dims and type need %llu",
				    graph_tensor_label(t), (unsigned long long)len, (unsigned long long)want);
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
	if (off > n || want > n - off)
		return graph_defect(b, g, node, t->name,
				    "tensor '%s' reads bytes %llu..%llu of '%s', which holds only %zu bytes",
				    graph_tensor_label(t), (unsigned long long)off,
				    (unsigned long long)(off + want), loc, n);
	c->storage = GRAPH_RAW;
	c->data = p + off;
	c->n_data = (size_t)want; /* at most n, so it fits */
	c->ok = true;
	return CLE_OK;
}

/* A tensor in its typed fields (float_data, int32_data, ...): which one
 * its dtype uses, and whether it holds as many elements as count needs. */
static enum cle_status typed_fields(struct graph_builder *b, const struct graph *g, uint32_t node,
				    const Onnx__TensorProto *t, struct graph_const *c, uint64_t count)
{
	size_t have;

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
		return graph_defect(b, g, node, t->name,
				    "tensor '%s' has %zu stored elements; dims and type %s need %llu",
				    graph_tensor_label(t), have, graph_dtype_name(c->dtype),
				    (unsigned long long)count);
	return CLE_OK;
}

enum cle_status graph_const_make(struct graph_builder *b, const struct graph *g, uint32_t node,
				 const Onnx__TensorProto *t, struct graph_const **out)
{
	struct graph_const *c = cle_arena_alloc(&b->gm->arena, sizeof *c);
	uint64_t count = 1, want;
	size_t i;
	const char *name = graph_tensor_label(t);

	*out = c;
	if (c == NULL)
		return graph_nomem(b);
	memset(c, 0, sizeof *c);
	c->dtype = t->has_data_type ? t->data_type : 0;
	c->n_dims = (uint32_t)t->n_dims;
	c->dims = t->dims;
	c->span = onnx_span_of(b->m, t);
	c->proto = t;
	c->storage = GRAPH_RAW;
	/* in 64 bits on every build, so that wasm32 (32-bit size_t) and native
	 * answer alike: a count that does not fit size_t cannot match the data
	 * the input holds, and is refused by that comparison */
	for (i = 0; i < t->n_dims; i++) {
		if (t->dims[i] < 0 || __builtin_mul_overflow(count, (uint64_t)t->dims[i], &count))
			return graph_defect(b, g, node, t->name,
					    "tensor '%s' has dimension %zu of %lld, which is not a valid size",
					    name, i, (long long)t->dims[i]);
	}
	c->elements = count;
	c->count = count > SIZE_MAX ? SIZE_MAX : (size_t)count;
	if (c->dtype == GRAPH_STRING) {
		c->storage = GRAPH_STRINGS;
		c->data = t->string_data;
		c->ok = t->n_string_data == count;
		if (!c->ok)
			return graph_defect(b, g, node, t->name,
					    "tensor '%s' has %zu strings; its dims need %llu", name,
					    t->n_string_data, (unsigned long long)count);
		return CLE_OK;
	}
	if (graph_dtype_bits(c->dtype) == 0)
		return graph_defect(b, g, node, t->name, "tensor '%s' has unknown data type %d", name,
				    (int)c->dtype);
	if (!graph_raw_bytes64(c->dtype, count, &want))
		return graph_defect(b, g, node, t->name, "tensor '%s' has %llu elements, more bytes than "
				    "any file holds", name, (unsigned long long)count);
	if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		return resolve_external(b, g, node, t, c, want);
	if (t->has_raw_data) {
		c->data = t->raw_data.data;
		c->n_data = t->raw_data.len;
		c->ok = t->raw_data.len == want;
		if (!c->ok)
			return graph_defect(b, g, node, t->name,
					    "tensor '%s' has %zu bytes of raw_data; dims and type %s need %llu",
					    name, t->raw_data.len, graph_dtype_name(c->dtype),
					    (unsigned long long)want);
		return CLE_OK;
	}
	return typed_fields(b, g, node, t, c, count);
}

enum cle_status graph_const_of_node(struct graph_builder *b, const struct graph *g, uint32_t k,
				    struct graph_const **out)
{
	const struct graph_node *n = &g->node[k];
	const Onnx__NodeProto *np = n->proto;
	struct graph_const *c;
	size_t i;

	*out = NULL;
	for (i = 0; i < np->n_attribute; i++) {
		const Onnx__AttributeProto *at = np->attribute[i];
		const char *an = graph_str(at->name);
		int64_t *dim;

		if (strcmp(an, "value") == 0 && at->t != NULL)
			return graph_const_make(b, g, k, at->t, out);
		if (strncmp(an, "value_", 6) != 0 || strcmp(an, "value_string") == 0 ||
		    strcmp(an, "value_strings") == 0)
			continue;
		c = cle_arena_alloc(&b->gm->arena, sizeof *c);
		dim = cle_arena_alloc(&b->gm->arena, sizeof *dim);
		if (c == NULL || dim == NULL)
			return graph_nomem(b);
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
		c->elements = c->count;
		*out = c;
		return CLE_OK;
	}
	return CLE_OK;
}
