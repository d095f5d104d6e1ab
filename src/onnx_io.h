/* onnx_io.h — load: bytes → ModelProto; save: ModelProto (+ edits) → bytes.
 *
 * Load checks the whole input with an iterative wire pre-scan (bounds,
 * wire types against the schema, depth) so that protobuf-c, which has no
 * depth limit and no error reasons, only ever sees well-formed input, and
 * every rejection is one sentence naming the field and byte.  TensorProto
 * raw_data is not copied: protobuf-c unpacks a copy of the input in which
 * each raw_data is replaced by a 16-byte placeholder, and the unpacked
 * tensors then point back into the caller's bytes.
 *
 * Save never re-serialises the model: it copies the input, splicing in the
 * edits (replaced, deleted or inserted fields) and rewriting the length
 * prefixes of the messages around them.  No edits gives the input back
 * byte for byte. */
#ifndef CLE_ONNX_IO_H
#define CLE_ONNX_IO_H

#include "base.h"

struct Onnx__ModelProto;
struct onnx_span;

/* The onnx.proto field numbers the code names; tests/c/test_onnx_io.c
 * checks each against protobuf-c's generated descriptors. */
enum onnx_field {
	ONNX_MODEL_GRAPH = 7,       /* ModelProto.graph */
	ONNX_GRAPH_NODE = 1,        /* GraphProto.node */
	ONNX_GRAPH_INITIALIZER = 5, /* GraphProto.initializer */
	ONNX_TENSOR_RAW_DATA = 9,   /* TensorProto.raw_data */
};
struct onnx_span_map;

struct onnx_model {
	const uint8_t *bytes;           /* the caller's input, borrowed: must outlive the model */
	size_t n_bytes;
	struct Onnx__ModelProto *proto; /* arena-owned; raw_data are views into bytes */
	struct onnx_span *spans;        /* every message in the input, in document order */
	uint32_t n_spans;               /* spans[0] is the ModelProto itself */
	size_t cap_spans;               /* allocated */
	struct onnx_span_map *map;      /* unpacked message → span */
	struct cle_arena arena;         /* protobuf-c structures, the map */
	const struct cle_alloc *a;
};

/* Loads n bytes at p.  On success *out owns everything but p.  On failure
 * *out is NULL and e holds the sentence. */
CLE_NODISCARD enum cle_status onnx_load(struct onnx_model **out, const uint8_t *p, size_t n,
					const struct cle_alloc *a, struct cle_error *e);
void onnx_free(struct onnx_model *m);

/* Span index of an unpacked message (any ProtobufCMessage reached from
 * m->proto), or UINT32_MAX if it is not in the input (made later). */
uint32_t onnx_span_of(const struct onnx_model *m, const void *msg);

/* Where a span's field sits in the input: [tag, end) is the whole field,
 * [body, end) the message body. */
void onnx_span_range(const struct onnx_model *m, uint32_t span, size_t *tag, size_t *body,
		     size_t *end);

/* One change to the input: bytes [at, end) are replaced by size new bytes,
 * taken from bytes or produced piecewise by fill.  span is the innermost
 * message that contains [at, end). */
struct onnx_edit;
typedef enum cle_status (*onnx_fill_fn)(const struct onnx_edit *ed, size_t off, uint8_t *dst,
					size_t n, struct cle_error *e);
struct onnx_edit {
	size_t at, end;
	uint32_t span;
	size_t size;
	const uint8_t *bytes; /* NULL: call fill */
	onnx_fill_fn fill;    /* writes new bytes [off, off + n) of this edit into dst */
	void *ud;             /* for fill */
	size_t aux;           /* for fill */
	size_t seq;           /* set by onnx_save: keeps inserts at one position in order */
};

/* Receives the output: begin once with the total size, then write calls
 * in order. */
struct onnx_sink {
	enum cle_status (*begin)(void *ud, size_t total, struct cle_error *e);
	enum cle_status (*write)(void *ud, const uint8_t *p, size_t n, struct cle_error *e);
	void *ud;
};

/* Writes the model with edits applied (in any order; they must not
 * overlap) to sink.  Reorders edits. */
CLE_NODISCARD enum cle_status onnx_save(const struct onnx_model *m, struct onnx_edit *edits,
					size_t n_edits, const struct onnx_sink *sink,
					struct cle_error *e);

/* Writes pieces in order (each an edit's size bytes, from bytes or fill;
 * at/end/span are ignored) to sink: a file that is not protobuf, such as
 * the external data of a model. */
CLE_NODISCARD enum cle_status onnx_write_pieces(const struct onnx_edit *pieces, size_t n,
						const struct cle_alloc *a,
						const struct onnx_sink *sink, struct cle_error *e);

/* Bytes of a protobuf field header (tag + length prefix) for a
 * length-delimited field of the given number and body length. */
size_t onnx_field_header(uint8_t out[16], uint32_t field, size_t len);

#endif
