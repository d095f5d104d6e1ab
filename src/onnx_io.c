/* onnx_io.c — load and save ONNX models.  See onnx_io.h for the scheme:
 * pre-scan → stripped copy → protobuf-c unpack → views; save = splice. */
#include "onnx_io.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

/* raw_data of this many bytes or more is replaced, for protobuf-c, by a
 * placeholder of exactly this size holding the body's offset and length
 * (two little-endian u64), so every raw_data of this length after unpack is
 * a placeholder and shorter ones are real. */
#define PLACEHOLDER_LEN 16
/* The wire types protobuf-c has no names for (groups, which ONNX never uses). */
#define WIRE_START_GROUP 3
#define WIRE_END_GROUP 4
#define STAGE_SIZE ((size_t)64 << 10)

struct onnx_span {
	size_t tag;      /* offset of the field's tag (0 for the root) */
	size_t body;     /* offset of the message body */
	size_t len;      /* body length in the input */
	uint32_t parent; /* enclosing span; the root's is 0 */
	uint32_t field;  /* field number within the parent; 0 for the root */
	uint32_t child;  /* first child span, 0 = none */
	uint32_t next;   /* next sibling span, 0 = none */
	uint8_t hdr;     /* bytes of the length prefix, 0 for the root */
};

struct onnx_span_map {
	size_t cap; /* power of two */
	const void **keys;
	uint32_t *vals;
};

/* ---- varints ---------------------------------------------------------- */

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t varint_put(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* Reads a varint of at most max bytes from [p, end).  Returns the bytes
 * used, 0 if it does not end within them.  Bits past 64 are dropped, as
 * protobuf does. */
static size_t varint_get(const uint8_t *p, const uint8_t *end, size_t max, uint64_t *v)
{
	uint64_t r = 0;
	size_t i;

	if (max > (size_t)(end - p))
		max = (size_t)(end - p);
	for (i = 0; i < max; i++) {
		if (i < 10)
			r |= (uint64_t)(p[i] & 0x7f) << (7 * i > 63 ? 63 : 7 * i);
		if ((p[i] & 0x80) == 0) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

size_t onnx_field_header(uint8_t out[16], uint32_t field, size_t len)
{
	size_t n = varint_put(out, (uint64_t)field << 3 | 2);

	return n + varint_put(out + n, len);
}

/* ---- pre-scan --------------------------------------------------------- */

struct frame {
	const ProtobufCMessageDescriptor *desc;
	uint32_t span;
	uint32_t last_child;
	size_t end;    /* offset just past this message's body */
	uint64_t seen; /* singular message fields met, by descriptor index */
};

struct scan {
	const uint8_t *p;
	size_t n;
	const struct cle_alloc *a;
	struct onnx_span *spans;
	uint32_t n_spans;
	size_t cap_spans;
	struct onnx_edit *strips; /* raw_data → placeholder */
	size_t n_strips, cap_strips;
	struct cle_error *e;
};

static const char *const wire_names[8] = {
	"varint", "64-bit", "length-delimited", "group start", "group end", "32-bit",
	"invalid (6)", "invalid (7)",
};

/* "field 7 (graph) of ModelProto", "field 2 (shape) of TypeProto.Tensor" */
static const char *field_desc(char buf[96], const ProtobufCMessageDescriptor *d,
			      const ProtobufCFieldDescriptor *fd, uint32_t field)
{
	const char *msg = strncmp(d->name, "onnx.", 5) == 0 ? d->name + 5 : d->name;

	if (fd != NULL)
		snprintf(buf, 96, "field %u (%s) of %s", (unsigned)field, fd->name, msg);
	else
		snprintf(buf, 96, "field %u of %s", (unsigned)field, msg);
	return buf;
}

/* Wire type protobuf-c accepts for a known field. */
static bool wire_ok(const ProtobufCFieldDescriptor *fd, unsigned wire)
{
	bool packable = true;
	unsigned want;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		want = PROTOBUF_C_WIRE_TYPE_32BIT;
		break;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		want = PROTOBUF_C_WIRE_TYPE_64BIT;
		break;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		want = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
		packable = false;
		break;
	default:
		want = PROTOBUF_C_WIRE_TYPE_VARINT;
		break;
	}
	if (wire == want)
		return true;
	return packable && fd->label == PROTOBUF_C_LABEL_REPEATED &&
	       wire == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
}

/* Checks the body of a packed repeated field as protobuf-c will read it. */
static enum cle_status check_packed(struct scan *s, const ProtobufCMessageDescriptor *d,
				    const ProtobufCFieldDescriptor *fd, size_t body, size_t len)
{
	const uint8_t *q = s->p + body, *end = q + len;
	size_t unit = 0;
	char fb[96];

	switch (fd->type) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		unit = 4;
		break;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		unit = 8;
		break;
	default:
		break;
	}
	if (unit != 0) {
		if (len % unit != 0)
			return CLE_BAD(s->e, CLE_E_NOT_ONNX,
				       "not an ONNX model: packed %s at byte %zu holds %zu bytes, "
				       "not a multiple of %zu",
				       field_desc(fb, d, fd, fd->id), body, len, unit);
		return CLE_OK;
	}
	while (q < end) {
		uint64_t v;
		size_t k = varint_get(q, end, 10, &v);

		if (k == 0)
			return CLE_BAD(s->e, CLE_E_NOT_ONNX,
				       "not an ONNX model: packed %s has a broken varint at byte %zu",
				       field_desc(fb, d, fd, fd->id), (size_t)(q - s->p));
		q += k;
	}
	return CLE_OK;
}

static enum cle_status scan_add_span(struct scan *s, struct frame *f, size_t tag, size_t body,
				     size_t len, uint32_t field, uint8_t hdr)
{
	struct onnx_span *sp;
	enum cle_status st;

	if (s->n_spans == UINT32_MAX)
		return CLE_BAD(s->e, CLE_E_LIMIT, "the model has more than 4 billion messages");
	if ((st = CLE_RESERVE(s->a, s->spans, s->cap_spans, s->n_spans + 1, 256, s->e)) != CLE_OK)
		return st;
	sp = &s->spans[s->n_spans];
	sp->tag = tag;
	sp->body = body;
	sp->len = len;
	sp->parent = f ? f->span : 0;
	sp->field = field;
	sp->child = 0;
	sp->next = 0;
	sp->hdr = hdr;
	if (f != NULL) {
		if (f->last_child)
			s->spans[f->last_child].next = s->n_spans;
		else
			s->spans[f->span].child = s->n_spans;
		f->last_child = s->n_spans;
	}
	s->n_spans++;
	return CLE_OK;
}

static enum cle_status fill_placeholder(const struct onnx_edit *ed, size_t off, uint8_t *dst,
					size_t n, struct cle_error *e)
{
	uint8_t ph[1 + PLACEHOLDER_LEN];
	uint64_t body = ed->aux, len = ed->end - ed->aux;

	(void)e;
	ph[0] = PLACEHOLDER_LEN; /* the new length prefix */
	memcpy(ph + 1, &body, 8);
	memcpy(ph + 9, &len, 8);
	memcpy(dst, ph + off, n);
	return CLE_OK;
}

static enum cle_status scan_add_strip(struct scan *s, uint32_t span, size_t lenpos, size_t body,
				      size_t len)
{
	struct onnx_edit *ed;
	enum cle_status st;

	if ((st = CLE_RESERVE(s->a, s->strips, s->cap_strips, s->n_strips + 1, 64, s->e)) != CLE_OK)
		return st;
	ed = &s->strips[s->n_strips++];
	memset(ed, 0, sizeof *ed);
	ed->at = lenpos;
	ed->end = body + len;
	ed->span = span;
	ed->size = 1 + PLACEHOLDER_LEN;
	ed->fill = fill_placeholder;
	ed->aux = body;
	return CLE_OK;
}

/* Classifies a failure at offset `at` inside a message that ends at `end`. */
static enum cle_status scan_cut(struct scan *s, size_t at, size_t end, const char *what)
{
	if (end == s->n)
		return CLE_BAD(s->e, CLE_E_TRUNCATED,
			       "the file is truncated: it ends at byte %zu inside %s that starts at byte %zu",
			       s->n, what, at);
	return CLE_BAD(s->e, CLE_E_NOT_ONNX,
		       "not an ONNX model: %s at byte %zu runs past the end of its message at byte %zu",
		       what, at, end);
}

/* One field as the pre-scan reads it. */
struct field {
	size_t start;                      /* offset of its tag */
	uint32_t number;
	unsigned wire;
	const ProtobufCFieldDescriptor *fd; /* NULL for a field onnx.proto does not know */
	size_t body, len;                  /* length-delimited: the body */
	uint8_t hdr;                       /* length-delimited: bytes of the length prefix */
};

/* "field 7 (graph) of ModelProto" for fl in f. */
static const char *name_field(char buf[96], const struct frame *f, const struct field *fl)
{
	return field_desc(buf, f->desc, fl->fd, fl->number);
}

/* Reads the tag at *pos of the message in frame f, exactly as protobuf-c's
 * parse_tag_and_wiretype does. */
static enum cle_status scan_tag(struct scan *s, const struct frame *f, size_t *pos,
				struct field *fl)
{
	const uint8_t *p = s->p, *end = s->p + f->end;
	uint64_t v;
	size_t k;

	fl->start = *pos;
	if ((p[*pos] & 0xf8) == 0)
		return CLE_BAD(s->e, CLE_E_NOT_ONNX,
			       "not an ONNX model: byte %zu (0x%02x) is not a valid protobuf "
			       "field tag (field number 0) in %s",
			       *pos, p[*pos], f->desc->name + 5);
	k = varint_get(p + *pos, end, 5, &v);
	if (k == 0) {
		if ((size_t)(end - (p + *pos)) < 5)
			return scan_cut(s, *pos, f->end, "a field tag");
		return CLE_BAD(s->e, CLE_E_NOT_ONNX,
			       "not an ONNX model: the field tag at byte %zu is longer than 5 bytes",
			       *pos);
	}
	/* protobuf-c shifts the 5th byte as an int: above 32 bits that overflows */
	if (v > UINT32_MAX)
		return CLE_BAD(s->e, CLE_E_NOT_ONNX,
			       "not an ONNX model: the field tag at byte %zu is larger than 32 bits",
			       *pos);
	fl->number = (uint32_t)(v >> 3);
	fl->wire = (unsigned)(v & 7);
	fl->fd = protobuf_c_message_descriptor_get_field(f->desc, fl->number);
	*pos += k;
	return CLE_OK;
}

/* Steps *pos over the field's value, which must lie inside its message;
 * a length-delimited value's body is noted in fl. */
static enum cle_status scan_value(struct scan *s, const struct frame *f, size_t *pos,
				  struct field *fl)
{
	const uint8_t *p = s->p, *end = s->p + f->end;
	uint64_t v;
	size_t k;
	char fb[96];

	switch (fl->wire) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		k = varint_get(p + *pos, end, 10, &v);
		if (k == 0) {
			if ((size_t)(end - (p + *pos)) < 10)
				return scan_cut(s, fl->start, f->end, name_field(fb, f, fl));
			return CLE_BAD(s->e, CLE_E_NOT_ONNX,
				       "not an ONNX model: the varint of %s at byte %zu is longer than 10 bytes",
				       name_field(fb, f, fl), fl->start);
		}
		*pos += k;
		return CLE_OK;
	case PROTOBUF_C_WIRE_TYPE_64BIT:
	case PROTOBUF_C_WIRE_TYPE_32BIT:
		k = fl->wire == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
		if (k > (size_t)(end - (p + *pos)))
			return scan_cut(s, fl->start, f->end, name_field(fb, f, fl));
		*pos += k;
		return CLE_OK;
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		/* protobuf-c reads at most 5 length bytes */
		k = varint_get(p + *pos, end, 5, &v);
		if (k == 0) {
			if ((size_t)(end - (p + *pos)) < 5)
				return scan_cut(s, fl->start, f->end, name_field(fb, f, fl));
			return CLE_BAD(s->e, CLE_E_NOT_ONNX,
				       "not an ONNX model: the length of %s at byte %zu is longer than 5 bytes",
				       name_field(fb, f, fl), fl->start);
		}
		fl->body = *pos + k;
		fl->hdr = (uint8_t)k;
		if (v > (uint64_t)(f->end - fl->body))
			return scan_cut(s, fl->start, f->end, name_field(fb, f, fl));
		fl->len = (size_t)v;
		*pos = fl->body + fl->len;
		return CLE_OK;
	case WIRE_START_GROUP:
	case WIRE_END_GROUP:
		return CLE_BAD(s->e, CLE_E_NOT_ONNX,
			       "not an ONNX model: %s at byte %zu uses protobuf groups (wire type %u), "
			       "which ONNX never does",
			       name_field(fb, f, fl), fl->start, fl->wire);
	default:
		return CLE_BAD(s->e, CLE_E_NOT_ONNX,
			       "not an ONNX model: byte %zu starts %s with invalid wire type %u",
			       fl->start, name_field(fb, f, fl), fl->wire);
	}
}

/* A message field: checked for a repeat of a singular field and for depth,
 * recorded as a span, and entered (*d, *pos move into its body). */
static enum cle_status scan_enter(struct scan *s, struct frame *stack, int *d, size_t *pos,
				  const struct field *fl)
{
	struct frame *f = &stack[*d], *c;
	unsigned idx = (unsigned)(fl->fd - f->desc->fields);
	enum cle_status st;
	char fb[96];

	if (fl->fd->label != PROTOBUF_C_LABEL_REPEATED && idx < 64) {
		if (f->seen & ((uint64_t)1 << idx))
			return CLE_BAD(s->e, CLE_E_UNSUPPORTED,
				       "%s appears twice (again at byte %zu); protobuf would "
				       "merge the two, onnx-cle does not",
				       name_field(fb, f, fl), fl->start);
		f->seen |= (uint64_t)1 << idx;
	}
	if (*d + 1 > CLE_MAX_DEPTH)
		return CLE_BAD(s->e, CLE_E_TOO_DEEP, "messages nest more than %d deep at byte %zu (%s)",
			       CLE_MAX_DEPTH, fl->start, name_field(fb, f, fl));
	if ((st = scan_add_span(s, f, fl->start, fl->body, fl->len, fl->number, fl->hdr)) != CLE_OK)
		return st;
	c = &stack[++*d];
	c->desc = fl->fd->descriptor;
	c->span = s->n_spans - 1;
	c->last_child = 0;
	c->end = fl->body + fl->len;
	c->seen = 0;
	*pos = fl->body;
	return CLE_OK;
}

/* A length-delimited field that is not a message: a raw_data to strip, or
 * bytes, a string or a packed array protobuf-c must be able to read. */
static enum cle_status scan_bytes(struct scan *s, const struct frame *f, const struct field *fl)
{
	const ProtobufCFieldDescriptor *fd = fl->fd;
	bool packed = fd != NULL && fd->label == PROTOBUF_C_LABEL_REPEATED &&
		      fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_BYTES;
	char fb[96];

	if (fd != NULL && f->desc == &onnx__tensor_proto__descriptor &&
	    fl->number == ONNX_TENSOR_RAW_DATA && fl->len >= PLACEHOLDER_LEN)
		return scan_add_strip(s, f->span, fl->body - fl->hdr, fl->body, fl->len);
	if (fl->len > INT_MAX)
		return CLE_BAD(s->e, CLE_E_LIMIT,
			       "%s at byte %zu holds %zu bytes, more than protobuf allows in one "
			       "field (2 GiB); store large tensors as raw_data or external data",
			       field_desc(fb, f->desc, fd, fl->number), fl->start, fl->len);
	if (packed && fl->len == 0) {
		/* an empty packed field adds nothing, and protobuf-c would offset
		 * its NULL array by 0 (undefined): left out of protobuf-c's copy */
		enum cle_status st = scan_add_strip(s, f->span, fl->start, fl->body, 0);

		if (st == CLE_OK)
			s->strips[s->n_strips - 1].size = 0;
		return st;
	}
	if (packed)
		return check_packed(s, f->desc, fd, fl->body, fl->len);
	return CLE_OK;
}

/* Walks the whole input once, iteratively, checking every field against
 * the schema the way protobuf-c will read it, recording every message span
 * and every raw_data to strip. */
static enum cle_status prescan(struct scan *s)
{
	struct frame stack[CLE_MAX_DEPTH + 1];
	size_t pos = 0;
	int d = 0;
	enum cle_status st;
	char fb[96];

	stack[0].desc = &onnx__model_proto__descriptor;
	stack[0].span = 0;
	stack[0].last_child = 0;
	stack[0].end = s->n;
	stack[0].seen = 0;
	if ((st = scan_add_span(s, NULL, 0, 0, s->n, 0, 0)) != CLE_OK)
		return st;
	for (;;) {
		struct frame *f = &stack[d];
		struct field fl = {0};

		if (pos == f->end) {
			if (d == 0)
				return CLE_OK;
			d--;
			continue;
		}
		if ((st = scan_tag(s, f, &pos, &fl)) != CLE_OK ||
		    (st = scan_value(s, f, &pos, &fl)) != CLE_OK)
			return st;
		if (fl.fd != NULL && !wire_ok(fl.fd, fl.wire))
			return CLE_BAD(s->e, CLE_E_NOT_ONNX,
				       "not an ONNX model: %s at byte %zu is %s, which does not match "
				       "its type in onnx.proto",
				       field_desc(fb, f->desc, fl.fd, fl.number), fl.start,
				       wire_names[fl.wire]);
		if (fl.wire != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			continue;
		if (fl.fd != NULL && fl.fd->type == PROTOBUF_C_TYPE_MESSAGE)
			st = scan_enter(s, stack, &d, &pos, &fl);
		else
			st = scan_bytes(s, f, &fl);
		if (st != CLE_OK)
			return st;
	}
}

/* Names what the bytes look like when they are not ONNX, or NULL. */
static const char *sniff(const uint8_t *p, size_t n)
{
	static const struct {
		size_t at, n;
		const char *magic;
		const char *what;
	} magics[] = {
		{0, 4, "PK\x03\x04", "a ZIP archive (a PyTorch .pt/.pth checkpoint?): export it with "
				     "torch.onnx.export first"},
		{0, 4, "\x89PNG", "a PNG image"},
		{0, 3, "\xff\xd8\xff", "a JPEG image"},
		{0, 2, "\x1f\x8b", "gzip-compressed: decompress it first"},
		{0, 4, "\x89HDF", "an HDF5 file (a Keras .h5 model?): convert it with tf2onnx first"},
		{4, 4, "TFL3", "a TensorFlow Lite model: convert it with tf2onnx first"},
		{0, 7, "version", "a Git LFS pointer, not the model itself: run git lfs pull"},
		{0, 5, "<!DOC", "an HTML page, not the model: download the raw file"},
		{0, 5, "<html", "an HTML page, not the model: download the raw file"},
		{0, 1, "{", "JSON text"},
		{0, 2, "\x80\x02", "a Python pickle (a PyTorch checkpoint?): export it with torch.onnx.export first"},
		{0, 2, "\x80\x04", "a Python pickle (a PyTorch checkpoint?): export it with torch.onnx.export first"},
		{0, 4, "\x93NUM", "a NumPy array file"},
	};
	size_t i;

	for (i = 0; i < sizeof magics / sizeof magics[0]; i++)
		if (n >= magics[i].at + magics[i].n &&
		    memcmp(p + magics[i].at, magics[i].magic, magics[i].n) == 0)
			return magics[i].what;
	return NULL;
}

/* ---- splice writer ---------------------------------------------------- */

struct writer {
	const struct onnx_sink *sink;
	uint8_t *stage;
	size_t n_stage;
	struct cle_error *e;
};

static enum cle_status w_flush(struct writer *w)
{
	enum cle_status st = CLE_OK;

	if (w->n_stage > 0)
		st = w->sink->write(w->sink->ud, w->stage, w->n_stage, w->e);
	w->n_stage = 0;
	return st;
}

/* Small pieces gather in the stage; large ones go straight through. */
static enum cle_status w_put(struct writer *w, const uint8_t *p, size_t n)
{
	enum cle_status st;

	if (n <= STAGE_SIZE - w->n_stage) {
		memcpy(w->stage + w->n_stage, p, n);
		w->n_stage += n;
		return CLE_OK;
	}
	if ((st = w_flush(w)) != CLE_OK)
		return st;
	if (n < STAGE_SIZE / 2) {
		memcpy(w->stage, p, n);
		w->n_stage = n;
		return CLE_OK;
	}
	return w->sink->write(w->sink->ud, p, n, w->e);
}

/* Fill edits write into the stage in chunks that are multiples of 64 bytes
 * (but the last), so each call's offset is 64-byte aligned. */
static enum cle_status w_fill(struct writer *w, const struct onnx_edit *ed)
{
	size_t off = 0;
	enum cle_status st;

	if (ed->bytes != NULL)
		return w_put(w, ed->bytes, ed->size);
	while (off < ed->size) {
		size_t room = (STAGE_SIZE - w->n_stage) & ~(size_t)63, n;

		if (room == 0 || (room < 4096 && ed->size - off > room)) {
			if ((st = w_flush(w)) != CLE_OK)
				return st;
			continue;
		}
		n = ed->size - off < room ? ed->size - off : room;
		if ((st = ed->fill(ed, off, w->stage + w->n_stage, n, w->e)) != CLE_OK)
			return st;
		w->n_stage += n;
		off += n;
	}
	return CLE_OK;
}

static int edit_cmp(const void *x, const void *y)
{
	const struct onnx_edit *a = x, *b = y;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	/* an insertion where a replaced field starts goes before it */
	if ((a->at == a->end) != (b->at == b->end))
		return a->at == a->end ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Writes in[0, n) with the sorted, non-overlapping edits applied, rewriting
 * the length prefix of every message whose body changed size.  A message
 * whose new body would exceed max_len is refused. */
static enum cle_status wire_rewrite(const uint8_t *in, size_t n, const struct onnx_span *spans,
				    uint32_t n_spans, const struct onnx_edit *edits, size_t n_edits,
				    size_t max_len, const struct cle_alloc *a,
				    const struct onnx_sink *sink, struct cle_error *e)
{
	int64_t *delta = NULL;
	uint8_t *covered = NULL;
	struct writer w = {sink, NULL, 0, e};
	enum cle_status st = CLE_OK;
	size_t j, cur;
	uint32_t k;

	delta = cle_calloc(a, n_spans, sizeof *delta);
	covered = cle_calloc(a, n_spans, 1);
	w.stage = cle_malloc(a, STAGE_SIZE);
	if (delta == NULL || covered == NULL || w.stage == NULL) {
		st = cle_errorf(e, CLE_E_NOMEM, "out of memory writing the model");
		goto fail;
	}
	/* check the edits; mark the spans they swallow whole */
	for (j = 0, k = 1; j < n_edits; j++) {
		const struct onnx_edit *ed = &edits[j];
		const struct onnx_span *sp = &spans[ed->span];
		uint32_t c;

		if (NEVER(ed->at > ed->end || ed->end > n || ed->span >= n_spans ||
			  (j > 0 && edits[j - 1].end > ed->at) || ed->at < sp->body ||
			  ed->end > sp->body + sp->len || (ed->bytes == NULL && ed->fill == NULL))) {
			st = cle_errorf(e, CLE_E_INTERNAL, "bad edit of bytes %zu..%zu", ed->at, ed->end);
			goto fail;
		}
		for (c = sp->child; c != 0; c = spans[c].next) {
			size_t ct = spans[c].tag, ce = spans[c].body + spans[c].len;

			if (ed->end <= ct || ed->at >= ce)
				continue;
			if (NEVER(ed->at > ct || ed->end < ce)) {
				st = cle_errorf(e, CLE_E_INTERNAL,
						"edit of bytes %zu..%zu cuts a message", ed->at, ed->end);
				goto fail;
			}
		}
		delta[ed->span] += (int64_t)ed->size - (int64_t)(ed->end - ed->at);
		while (k < n_spans && spans[k].tag < ed->at)
			k++;
		while (k < n_spans && spans[k].tag < ed->end)
			covered[k++] = 1;
	}
	/* children come after their parents in document order */
	for (k = n_spans; k-- > 1;) {
		int64_t nl;

		if (covered[k])
			continue;
		nl = (int64_t)spans[k].len + delta[k];
		if (nl < 0 || (uint64_t)nl > max_len) {
			st = CLE_BAD(e, nl < 0 ? CLE_E_INTERNAL : CLE_E_LIMIT,
				     "a message at byte %zu would hold %lld bytes, more than protobuf "
				     "allows (2 GiB)",
				     spans[k].tag, (long long)nl);
			goto fail;
		}
		if (delta[k] != 0)
			delta[spans[k].parent] +=
				delta[k] + (int64_t)varint_size((uint64_t)nl) - spans[k].hdr;
	}
	if (NEVER((int64_t)n + delta[0] < 0)) {
		st = cle_errorf(e, CLE_E_INTERNAL, "negative output size");
		goto fail;
	}
	if ((st = sink->begin(sink->ud, (size_t)((int64_t)n + delta[0]), e)) != CLE_OK)
		goto fail;
	cur = 0;
	j = 0;
	k = 1;
	for (;;) {
		size_t lenpos = SIZE_MAX;

		while (k < n_spans && (covered[k] || delta[k] == 0))
			k++;
		if (k < n_spans)
			lenpos = spans[k].body - spans[k].hdr;
		if (j < n_edits && edits[j].at <= lenpos) {
			if ((st = w_put(&w, in + cur, edits[j].at - cur)) != CLE_OK ||
			    (st = w_fill(&w, &edits[j])) != CLE_OK)
				goto fail;
			cur = edits[j++].end;
		} else if (k < n_spans) {
			uint8_t hb[10];
			size_t nl = (size_t)((int64_t)spans[k].len + delta[k]);

			if ((st = w_put(&w, in + cur, lenpos - cur)) != CLE_OK ||
			    (st = w_put(&w, hb, varint_put(hb, nl))) != CLE_OK)
				goto fail;
			cur = spans[k++].body;
		} else {
			break;
		}
	}
	if ((st = w_put(&w, in + cur, n - cur)) != CLE_OK)
		goto fail;
	st = w_flush(&w);
fail:
	cle_free(a, w.stage, STAGE_SIZE);
	cle_free(a, covered, n_spans);
	cle_free(a, delta, (size_t)n_spans * sizeof *delta);
	return st;
}

enum cle_status onnx_save(const struct onnx_model *m, struct onnx_edit *edits, size_t n_edits,
			  const struct onnx_sink *sink, struct cle_error *e)
{
	size_t j;

	for (j = 0; j < n_edits; j++)
		edits[j].seq = j;
	if (n_edits > 1)
		qsort(edits, n_edits, sizeof *edits, edit_cmp);
	return wire_rewrite(m->bytes, m->n_bytes, m->spans, m->n_spans, edits, n_edits, SIZE_MAX,
			    m->a, sink, e);
}

enum cle_status onnx_write_pieces(const struct onnx_edit *pieces, size_t n,
				  const struct cle_alloc *a, const struct onnx_sink *sink,
				  struct cle_error *e)
{
	struct writer w = {sink, NULL, 0, e};
	enum cle_status st;
	size_t i, total = 0;

	for (i = 0; i < n; i++)
		if (!cle_add_size(total, pieces[i].size, &total))
			return cle_errorf(e, CLE_E_LIMIT, "the output is too large for this build");
	w.stage = cle_malloc(a, STAGE_SIZE);
	if (w.stage == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory writing external data");
	st = sink->begin(sink->ud, total, e);
	for (i = 0; i < n && st == CLE_OK; i++)
		st = w_fill(&w, &pieces[i]);
	if (st == CLE_OK)
		st = w_flush(&w);
	cle_free(a, w.stage, STAGE_SIZE);
	return st;
}

/* ---- load ------------------------------------------------------------- */

struct mem_sink {
	const struct cle_alloc *a;
	uint8_t *p;
	size_t n, cap;
};

static enum cle_status mem_begin(void *ud, size_t total, struct cle_error *e)
{
	struct mem_sink *ms = ud;

	ms->p = cle_malloc(ms->a, total ? total : 1);
	if (ms->p == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory reading the model (%zu bytes)", total);
	ms->cap = total ? total : 1;
	return CLE_OK;
}

static enum cle_status mem_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	struct mem_sink *ms = ud;

	if (NEVER(n > ms->cap - ms->n))
		return cle_errorf(e, CLE_E_INTERNAL, "output overran its computed size");
	memcpy(ms->p + ms->n, p, n);
	ms->n += n;
	return CLE_OK;
}

static void *pb_alloc(void *ud, size_t n)
{
	return cle_arena_alloc(ud, n);
}

static void pb_free(void *ud, void *p)
{
	(void)ud;
	(void)p; /* the arena frees everything at once */
}

static uint32_t map_slot(const struct onnx_span_map *mp, const void *key)
{
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;

	return (uint32_t)((h >> 32) & (mp->cap - 1));
}

static void map_put(struct onnx_span_map *mp, const void *key, uint32_t val)
{
	uint32_t i = map_slot(mp, key);

	while (mp->keys[i] != NULL && mp->keys[i] != key)
		i = (i + 1) & (uint32_t)(mp->cap - 1);
	mp->keys[i] = key;
	mp->vals[i] = val;
}

uint32_t onnx_span_of(const struct onnx_model *m, const void *msg)
{
	const struct onnx_span_map *mp = m->map;
	uint32_t i = map_slot(mp, msg);

	while (mp->keys[i] != NULL) {
		if (mp->keys[i] == msg)
			return mp->vals[i];
		i = (i + 1) & (uint32_t)(mp->cap - 1);
	}
	return UINT32_MAX;
}

void onnx_span_range(const struct onnx_model *m, uint32_t span, size_t *tag, size_t *body,
		     size_t *end)
{
	const struct onnx_span *sp = &m->spans[span];

	*tag = sp->tag;
	*body = sp->body;
	*end = sp->body + sp->len;
}

/* Pairs every unpacked message with its span (protobuf-c keeps repeated
 * fields in wire order) and turns raw_data placeholders into views of the
 * input.  Depth is bounded by the pre-scan. */
static enum cle_status attach(struct onnx_model *m, ProtobufCMessage *msg, uint32_t span,
			      struct cle_error *e)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	uint32_t ord[64] = {0};
	uint32_t c;
	enum cle_status st;

	map_put(m->map, msg, span);
	if (desc == &onnx__tensor_proto__descriptor) {
		Onnx__TensorProto *t = (Onnx__TensorProto *)msg;

		if (t->has_raw_data && t->raw_data.len == PLACEHOLDER_LEN) {
			uint64_t off, len;

			memcpy(&off, t->raw_data.data, 8);
			memcpy(&len, t->raw_data.data + 8, 8);
			if (NEVER(off > m->n_bytes || len > m->n_bytes - off))
				return cle_errorf(e, CLE_E_INTERNAL, "bad raw_data placeholder");
			/* a read-only view: nothing writes through raw_data */
			t->raw_data.data = (uint8_t *)(uintptr_t)(m->bytes + off);
			t->raw_data.len = (size_t)len;
		}
	}
	for (c = m->spans[span].child; c != 0; c = m->spans[c].next) {
		const ProtobufCFieldDescriptor *fd =
			protobuf_c_message_descriptor_get_field(desc, m->spans[c].field);
		char *base = (char *)msg;
		ProtobufCMessage *sub = NULL;
		unsigned idx;

		if (NEVER(fd == NULL || fd->type != PROTOBUF_C_TYPE_MESSAGE))
			return cle_errorf(e, CLE_E_INTERNAL, "span without a message field");
		idx = (unsigned)(fd - desc->fields);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)(base + fd->quantifier_offset);
			ProtobufCMessage **arr = *(ProtobufCMessage ***)(base + fd->offset);

			if (idx < 64 && ord[idx] < n)
				sub = arr[ord[idx]++];
		} else if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(uint32_t *)(base + fd->quantifier_offset) == fd->id)
				sub = *(ProtobufCMessage **)(base + fd->offset);
		} else {
			sub = *(ProtobufCMessage **)(base + fd->offset);
		}
		if (sub != NULL && (st = attach(m, sub, c, e)) != CLE_OK)
			return st;
	}
	return CLE_OK;
}

enum cle_status onnx_load(struct onnx_model **out, const uint8_t *p, size_t n,
			  const struct cle_alloc *a, struct cle_error *e)
{
	struct scan s;
	struct mem_sink ms = {a, NULL, 0, 0};
	struct onnx_sink sink = {mem_begin, mem_write, &ms};
	struct onnx_model *m = NULL;
	ProtobufCAllocator pa;
	enum cle_status st;
	const char *what;
	uint32_t c;
	size_t cap;

	*out = NULL;
	memset(&s, 0, sizeof s);
	s.p = p;
	s.n = n;
	s.a = a;
	s.e = e;
	if (n == 0)
		return cle_errorf(e, CLE_E_NOT_ONNX, "not an ONNX model: the file is empty (0 bytes)");
	st = prescan(&s);
	if (st == CLE_OK) {
		for (c = s.spans[0].child; c != 0 && s.spans[c].field != ONNX_MODEL_GRAPH; c = s.spans[c].next)
			;
		if (c == 0)
			st = cle_errorf(e, CLE_E_NOT_ONNX,
					"not an ONNX model: the file parses as protobuf but has no graph "
					"(ModelProto field %d)", ONNX_MODEL_GRAPH);
	}
	if ((st == CLE_E_NOT_ONNX || st == CLE_E_TRUNCATED) && (what = sniff(p, n)) != NULL)
		st = cle_errorf(e, CLE_E_NOT_ONNX, "not an ONNX model: this looks like %s", what);
	if (st != CLE_OK)
		goto fail;

	m = cle_calloc(a, 1, sizeof *m);
	if (m == NULL) {
		st = cle_errorf(e, CLE_E_NOMEM, "out of memory loading the model");
		goto fail;
	}
	m->bytes = p;
	m->n_bytes = n;
	m->a = a;
	cle_arena_init(&m->arena, a);
	m->spans = s.spans;
	m->n_spans = s.n_spans;
	m->cap_spans = s.cap_spans;
	s.spans = NULL;

	/* the copy protobuf-c reads: raw_data swapped for placeholders */
	st = wire_rewrite(p, n, m->spans, m->n_spans, s.strips, s.n_strips, INT_MAX, a, &sink, e);
	if (st != CLE_OK)
		goto fail;
	pa.alloc = pb_alloc;
	pa.free = pb_free;
	pa.allocator_data = &m->arena;
	m->proto = onnx__model_proto__unpack(&pa, ms.n, ms.p);
	cle_free(a, ms.p, ms.cap);
	ms.p = NULL;
	if (m->proto == NULL) {
		st = m->arena.failed
			     ? cle_errorf(e, CLE_E_NOMEM, "out of memory unpacking the model")
			     : cle_errorf(e, CLE_E_INTERNAL,
					  "protobuf-c rejected a model the pre-scan accepted");
		goto fail;
	}

	for (cap = 16; cap < (size_t)m->n_spans * 2; cap *= 2)
		;
	m->map = cle_arena_alloc(&m->arena, sizeof *m->map);
	if (m->map != NULL) {
		m->map->cap = cap;
		m->map->keys = cle_arena_alloc(&m->arena, cap * sizeof *m->map->keys);
		m->map->vals = cle_arena_alloc(&m->arena, cap * sizeof *m->map->vals);
	}
	if (m->map == NULL || m->map->keys == NULL || m->map->vals == NULL) {
		st = cle_errorf(e, CLE_E_NOMEM, "out of memory indexing the model");
		goto fail;
	}
	memset(m->map->keys, 0, cap * sizeof *m->map->keys);
	if ((st = attach(m, &m->proto->base, 0, e)) != CLE_OK)
		goto fail;
	cle_free(a, s.strips, s.cap_strips * sizeof *s.strips);
	*out = m;
	return CLE_OK;
fail:
	cle_free(a, ms.p, ms.cap);
	cle_free(a, s.spans, s.cap_spans * sizeof *s.spans);
	cle_free(a, s.strips, s.cap_strips * sizeof *s.strips);
	onnx_free(m);
	return st;
}

void onnx_free(struct onnx_model *m)
{
	if (m == NULL)
		return;
	cle_arena_free(&m->arena);
	cle_free(m->a, m->spans, m->cap_spans * sizeof *m->spans);
	cle_free(m->a, m, sizeof *m);
}
