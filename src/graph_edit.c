/* graph_edit.c — changes to the model as splice edits for onnx_save (the
 * index itself never changes): constants rewritten in place or as raw_data,
 * nodes replaced, inserted or deleted, initializers added or removed; and
 * graph_edits_save, which also moves the tensors kept in external data.
 * New and replaced messages are packed by protobuf-c into the edits' arena. */
#include "graph_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct graph_ext_rewrite {
	const struct graph_const *c;
	graph_fill_fn fill;
	void *ud;
};

/* graph_fill_fn behind onnx_fill_fn: an edit's ud points at one of these. */
struct fill_adapter {
	graph_fill_fn fn;
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

/* Arena memory for the edits, or CLE_E_NOMEM with its sentence. */
static enum cle_status edit_alloc(struct graph_edits *ed, size_t n, void *out, struct cle_error *e)
{
	void *p = cle_arena_alloc(&ed->arena, n);

	memcpy(out, &p, sizeof p); /* *(T **)out, without type punning */
	return p != NULL ? CLE_OK : edit_nomem(e);
}

/* *out = a new zeroed edit of [at, end) inside span. */
static enum cle_status edit_add(struct graph_edits *ed, size_t at, size_t end, uint32_t span,
				struct onnx_edit **out, struct cle_error *e)
{
	struct onnx_edit *x;
	enum cle_status st;

	if ((st = CLE_RESERVE(ed->gm->a, ed->ed, ed->cap, ed->n + 1, 32, e)) != CLE_OK)
		return st;
	x = &ed->ed[ed->n++];
	memset(x, 0, sizeof *x);
	x->at = at;
	x->end = end;
	x->span = span;
	*out = x;
	return CLE_OK;
}

/* An edit replacing [at, end) inside span by size bytes at bytes. */
static enum cle_status edit_bytes(struct graph_edits *ed, size_t at, size_t end, uint32_t span,
				  const uint8_t *bytes, size_t size, struct cle_error *e)
{
	struct onnx_edit *x;
	enum cle_status st;

	if ((st = edit_add(ed, at, end, span, &x, e)) != CLE_OK)
		return st;
	x->bytes = bytes;
	x->size = size;
	return CLE_OK;
}

static enum cle_status fill_adapt(const struct onnx_edit *x, size_t off, uint8_t *dst, size_t n,
				  struct cle_error *e)
{
	const struct fill_adapter *fa = x->ud;

	return fa->fn(fa->ud, off, dst, n, e);
}

/* Edit x becomes size bytes that fill/ud write when the model is saved. */
static enum cle_status edit_fill(struct graph_edits *ed, struct onnx_edit *x, size_t size,
				 graph_fill_fn fill, void *ud, struct cle_error *e)
{
	struct fill_adapter *fa;
	enum cle_status st;

	if ((st = edit_alloc(ed, sizeof *fa, &fa, e)) != CLE_OK)
		return st;
	fa->fn = fill;
	fa->ud = ud;
	x->size = size;
	x->fill = fill_adapt;
	x->ud = fa;
	return CLE_OK;
}

/* Packs msg into the arena: as field number `field` (tag, length, body)
 * or, with field 0, its body alone; then tail[0, n_tail). */
static enum cle_status pack(struct graph_edits *ed, const ProtobufCMessage *msg, uint32_t field,
			    const uint8_t *tail, size_t n_tail, const uint8_t **bytes, size_t *n,
			    struct cle_error *e)
{
	size_t body = protobuf_c_message_get_packed_size(msg);
	uint8_t hdr[16], *p;
	size_t h = field ? onnx_field_header(hdr, field, body) : 0;
	enum cle_status st;

	if ((st = edit_alloc(ed, h + body + n_tail, &p, e)) != CLE_OK)
		return st;
	memcpy(p, hdr, h);
	protobuf_c_message_pack(msg, p + h);
	if (n_tail)
		memcpy(p + h + body, tail, n_tail);
	*bytes = p;
	*n = h + body + n_tail;
	return CLE_OK;
}

/* ---- constants --------------------------------------------------------- */

/* A tensor kept in typed fields (or in a raw_data too short to be a view:
 * protobuf-c copied it) becomes its header fields and a raw_data field of
 * want bytes; *x receives the edit that will write those bytes. */
static enum cle_status edit_as_raw(struct graph_edits *ed, const struct graph_const *c, size_t want,
				   struct onnx_edit **x, struct cle_error *e)
{
	Onnx__TensorProto t = *(const Onnx__TensorProto *)c->proto;
	uint8_t hdr[16];
	size_t hn = onnx_field_header(hdr, ONNX_TENSOR_RAW_DATA, want), n, tag, body, end;
	const uint8_t *p;
	enum cle_status st;

	t.n_float_data = t.n_int32_data = t.n_int64_data = 0;
	t.n_double_data = t.n_uint64_data = 0;
	t.float_data = NULL;
	t.int32_data = NULL;
	t.int64_data = NULL;
	t.double_data = NULL;
	t.uint64_data = NULL;
	t.has_raw_data = 0;
	if ((st = pack(ed, &t.base, 0, hdr, hn, &p, &n, e)) != CLE_OK)
		return st;
	onnx_span_range(ed->gm->onnx, c->span, &tag, &body, &end);
	if ((st = edit_bytes(ed, body, end, c->span, p, n, e)) != CLE_OK)
		return st;
	return edit_add(ed, end, end, c->span, x, e);
}

enum cle_status graph_edit_const(struct graph_edits *ed, const struct graph_const *c,
				 graph_fill_fn fill, void *ud, struct cle_error *e)
{
	const struct onnx_model *m = ed->gm->onnx;
	struct onnx_edit *x;
	size_t want;
	enum cle_status st;

	if (c->proto == NULL || c->span == GRAPH_NONE)
		return cle_errorf(e, CLE_E_UNSUPPORTED,
				  "a Constant given as value_float(s)/value_int(s) cannot be rewritten");
	if (NEVER(!c->ok || !graph_raw_bytes(c->dtype, c->count, &want)))
		return cle_errorf(e, CLE_E_INTERNAL, "rewriting a tensor that does not read back");
	if (c->external) {
		/* graph_edits_save decides where its bytes go */
		if ((st = CLE_RESERVE(ed->gm->a, ed->ext, ed->cap_ext, ed->n_ext + 1, 16, e)) != CLE_OK)
			return st;
		ed->ext[ed->n_ext].c = c;
		ed->ext[ed->n_ext].fill = fill;
		ed->ext[ed->n_ext++].ud = ud;
		return CLE_OK;
	}
	if (c->storage == GRAPH_RAW && (const uint8_t *)c->data >= m->bytes &&
	    (const uint8_t *)c->data + c->n_data <= m->bytes + m->n_bytes) {
		/* raw_data is a view into the input: replace its bytes in place */
		size_t at = (size_t)((const uint8_t *)c->data - m->bytes);

		st = edit_add(ed, at, at + c->n_data, c->span, &x, e);
	} else {
		st = edit_as_raw(ed, c, want, &x, e);
	}
	if (st != CLE_OK)
		return st;
	return edit_fill(ed, x, want, fill, ud, e);
}

/* ---- nodes and initializers ------------------------------------------- */

/* Fills np's name, op, inputs and outputs from spec (strings are borrowed). */
static enum cle_status node_from_spec(struct graph_edits *ed, Onnx__NodeProto *np,
				      const struct graph_node_spec *spec, struct cle_error *e)
{
	char **in, **out;
	uint32_t i;
	enum cle_status st;

	if ((st = edit_alloc(ed, (spec->n_in + 1) * sizeof *in, &in, e)) != CLE_OK ||
	    (st = edit_alloc(ed, (spec->n_out + 1) * sizeof *out, &out, e)) != CLE_OK)
		return st;
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
	return CLE_OK;
}

enum cle_status graph_edit_replace_node(struct graph_edits *ed, const struct graph *g, uint32_t n,
					const struct graph_node_spec *spec, struct cle_error *e)
{
	Onnx__NodeProto np = *(const Onnx__NodeProto *)g->node[n].proto;
	const uint8_t *bytes;
	size_t tag, body, end, size;
	enum cle_status st;

	if (spec->attrs_from == NULL && spec->op != NULL &&
	    strcmp(spec->op, g->node[n].op) != 0) {
		np.n_attribute = 0; /* a different op does not take the old attributes */
		np.attribute = NULL;
	}
	if ((st = node_from_spec(ed, &np, spec, e)) != CLE_OK ||
	    (st = pack(ed, &np.base, ONNX_GRAPH_NODE, NULL, 0, &bytes, &size, e)) != CLE_OK)
		return st;
	onnx_span_range(ed->gm->onnx, g->node[n].span, &tag, &body, &end);
	return edit_bytes(ed, tag, end, g->span, bytes, size, e);
}

enum cle_status graph_edit_insert_node(struct graph_edits *ed, const struct graph *g, uint32_t n,
				       const struct graph_node_spec *spec, struct cle_error *e)
{
	Onnx__NodeProto np = ONNX__NODE_PROTO__INIT;
	const uint8_t *bytes;
	size_t tag, body, end, size;
	enum cle_status st;

	if ((st = node_from_spec(ed, &np, spec, e)) != CLE_OK ||
	    (st = pack(ed, &np.base, ONNX_GRAPH_NODE, NULL, 0, &bytes, &size, e)) != CLE_OK)
		return st;
	onnx_span_range(ed->gm->onnx, g->node[n].span, &tag, &body, &end);
	return edit_bytes(ed, end, end, g->span, bytes, size, e);
}

/* Removes the whole field holding span from its parent. */
static enum cle_status delete_span(struct graph_edits *ed, uint32_t span, uint32_t parent,
				   struct cle_error *e)
{
	size_t tag, body, end;

	onnx_span_range(ed->gm->onnx, span, &tag, &body, &end);
	return edit_bytes(ed, tag, end, parent, (const uint8_t *)"", 0, e);
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
	int64_t *d;
	uint8_t *copy;
	const uint8_t *bytes;
	size_t tag, body, end, size;
	enum cle_status st;

	if ((st = edit_alloc(ed, (n_dims + 1) * sizeof *d, &d, e)) != CLE_OK ||
	    (st = edit_alloc(ed, n_data + 1, &copy, e)) != CLE_OK)
		return st;
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
	if ((st = pack(ed, &t.base, ONNX_GRAPH_INITIALIZER, NULL, 0, &bytes, &size, e)) != CLE_OK)
		return st;
	onnx_span_range(ed->gm->onnx, g->span, &tag, &body, &end);
	return edit_bytes(ed, end, end, g->span, bytes, size, e);
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
		if (graph_table_find(gm->graphs[i], name) != GRAPH_NONE)
			return true;
	return false;
}

enum cle_status graph_edit_name(struct graph_edits *ed, const struct graph *g, const char *base,
				const char **out, struct cle_error *e)
{
	char buf[512];

	(void)g; /* names are kept unique across all scopes */
	for (;;) {
		snprintf(buf, sizeof buf, "%s_cle%u", base, (unsigned)++ed->n_names);
		if (!name_taken(ed->gm, buf))
			break;
	}
	*out = cle_arena_strdup(&ed->arena, buf);
	return *out != NULL ? CLE_OK : edit_nomem(e);
}

const char *graph_edit_unique_name(struct graph_edits *ed, const struct graph *g, const char *base)
{
	const char *name;

	return graph_edit_name(ed, g, base, &name, NULL) == CLE_OK ? name : NULL;
}

/* ---- writing ----------------------------------------------------------- */

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

/* Whether an edit already replaces every byte of span: a tensor deleted
 * (a folded BatchNormalization's parameter), which is written nowhere. */
static bool span_deleted(const struct graph_edits *ed, uint32_t span)
{
	size_t tag, body, end, i;

	onnx_span_range(ed->gm->onnx, span, &tag, &body, &end);
	for (i = 0; i < ed->n; i++)
		if (ed->ed[i].at <= tag && ed->ed[i].end >= end)
			return true;
	return false;
}

/* A piece of output: the rewritten bytes of c, or its original bytes. */
static enum cle_status ext_piece(struct graph_edits *ed, const struct graph_const *c,
				 struct onnx_edit *x, struct cle_error *e)
{
	size_t i;

	for (i = 0; i < ed->n_ext; i++)
		if (ed->ext[i].c == c)
			return edit_fill(ed, x, c->n_data, ed->ext[i].fill, ed->ext[i].ud, e);
	x->size = c->n_data;
	x->bytes = c->data;
	return CLE_OK;
}

/* Points t at a new data file: location, offset and length entries. */
static enum cle_status ext_entries(struct graph_edits *ed, Onnx__TensorProto *t,
				   const char *data_name, size_t offset, size_t length,
				   struct cle_error *e)
{
	Onnx__StringStringEntryProto *kv, **kvp;
	char *num;
	enum cle_status st;
	int i;

	if ((st = edit_alloc(ed, 3 * sizeof *kv, &kv, e)) != CLE_OK ||
	    (st = edit_alloc(ed, 3 * sizeof *kvp, &kvp, e)) != CLE_OK ||
	    (st = edit_alloc(ed, 48, &num, e)) != CLE_OK)
		return st;
	snprintf(num, 24, "%zu", offset);
	snprintf(num + 24, 24, "%zu", length);
	for (i = 0; i < 3; i++) {
		Onnx__StringStringEntryProto init = ONNX__STRING_STRING_ENTRY_PROTO__INIT;

		kv[i] = init;
		kvp[i] = &kv[i];
	}
	kv[0].key = "location";
	kv[0].value = (char *)(uintptr_t)data_name;
	kv[1].key = "offset";
	kv[1].value = num;
	kv[2].key = "length";
	kv[2].value = num + 24;
	t->n_external_data = 3;
	t->external_data = kvp;
	t->has_data_location = 1;
	t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	return CLE_OK;
}

/* The tensor's body again, with what replaces its external_data: nothing
 * (inline: a raw_data field follows, holding the tensor's bytes) or three
 * new entries naming its place in the new data file. */
static enum cle_status ext_header(struct graph_edits *ed, const struct graph_const *c,
				  const struct graph_save *gs, size_t offset, struct cle_error *e)
{
	Onnx__TensorProto t = *(const Onnx__TensorProto *)c->proto;
	const uint8_t *p;
	struct onnx_edit *x;
	size_t n, hn = 0, tag, body, end;
	uint8_t hdr[16];
	enum cle_status st;

	t.has_raw_data = 0;
	if (gs->mode == GRAPH_EXT_INLINE) {
		t.n_external_data = 0;
		t.external_data = NULL;
		t.has_data_location = 0;
		hn = onnx_field_header(hdr, ONNX_TENSOR_RAW_DATA, c->n_data);
	} else if ((st = ext_entries(ed, &t, gs->data_name, offset, c->n_data, e)) != CLE_OK) {
		return st;
	}
	if ((st = pack(ed, &t.base, 0, hdr, hn, &p, &n, e)) != CLE_OK)
		return st;
	onnx_span_range(ed->gm->onnx, c->span, &tag, &body, &end);
	if ((st = edit_bytes(ed, body, end, c->span, p, n, e)) != CLE_OK)
		return st;
	if (gs->mode != GRAPH_EXT_INLINE)
		return CLE_OK;
	if ((st = edit_add(ed, end, end, c->span, &x, e)) != CLE_OK)
		return st;
	return ext_piece(ed, c, x, e);
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
		goto fail;
	}
	external_consts(gm, ext);
	qsort(ext, n, sizeof *ext, const_span_cmp);
	for (i = 0; i < n; i++) {
		const struct graph_const *c = ext[i];

		if (span_deleted(ed, c->span))
			continue;
		if (!c->ok) {
			st = cle_errorf(e, CLE_E_IO,
					"tensor '%s' is stored in external data '%s', which is needed to write "
					"the model but was %s", ((const Onnx__TensorProto *)c->proto)->name,
					c->location ? c->location : "?",
					c->supplied ? "too short" : "not supplied");
			goto fail;
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
				goto fail;
		}
		if ((st = ext_header(ed, c, gs, off, e)) != CLE_OK)
			goto fail;
		off += c->n_data;
		total += c->n_data;
	}
	if (gs->mode == GRAPH_EXT_INLINE && total > (size_t)INT32_MAX) {
		st = cle_errorf(e, CLE_E_LIMIT,
				"with its external data inlined the model would hold %zu bytes, more than "
				"protobuf's 2 GiB; keep the data in a separate file", total);
		goto fail;
	}
	if ((st = onnx_save(gm->onnx, ed->ed, ed->n, sink, e)) != CLE_OK)
		goto fail;
	if (gs->mode == GRAPH_EXT_FILE)
		st = onnx_write_pieces(pieces, np, gm->a, gs->data_sink, e);
fail:
	cle_free(gm->a, pieces, 2 * n * sizeof *pieces);
	cle_free(gm->a, ext, n * sizeof *ext);
	return st;
}
