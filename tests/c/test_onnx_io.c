/* test_onnx_io.c — load and save: sentences for bad input, no out-of-bounds
 * reads on any truncation or bit flip, depth limits, zero-copy tensors,
 * byte-identical round trips, splice edits, and allocation failures. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "graph.h"
#include "onnx.pb-c.h"
#include "onnx_io.h"
#include "test.h"

static const char *const models[] = {
	"conv_relu.onnx", "typed_fields.onnx", "if_subgraph.onnx", "nested_10.onnx",
	"external.onnx",  "defects.onnx",      "loop_scan.onnx", NULL,
};

struct mem_out {
	uint8_t *p;
	size_t n, cap;
	bool began;
};

static enum cle_status out_begin(void *ud, size_t total, struct cle_error *e)
{
	struct mem_out *o = ud;

	(void)e;
	o->p = malloc(total ? total : 1);
	o->cap = total;
	o->n = 0;
	o->began = true;
	return o->p ? CLE_OK : CLE_E_NOMEM;
}

static enum cle_status out_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	struct mem_out *o = ud;

	if (n > o->cap - o->n)
		return cle_errorf(e, CLE_E_INTERNAL, "wrote past the announced size");
	memcpy(o->p + o->n, p, n);
	o->n += n;
	return CLE_OK;
}

/* Saves m with edits into a fresh block; NULL on failure. */
static uint8_t *save_to_mem(const struct onnx_model *m, struct onnx_edit *ed, size_t n_ed,
			    size_t *n, struct cle_error *e)
{
	struct mem_out o = {NULL, 0, 0, false};
	struct onnx_sink sink = {out_begin, out_write, &o};

	if (onnx_save(m, ed, n_ed, &sink, e) != CLE_OK || o.n != o.cap) {
		free(o.p);
		return NULL;
	}
	*n = o.n;
	return o.p;
}

static enum cle_status load(const uint8_t *p, size_t n, struct onnx_model **m, struct cle_error *e)
{
	return onnx_load(m, p, n, &cle_system_alloc, e);
}

static void t_empty(void)
{
	struct onnx_model *m;
	struct cle_error e;
	uint8_t b = 0;

	CHECK_INT(load(&b, 0, &m, &e), CLE_E_NOT_ONNX);
	CHECK(m == NULL);
	CHECK(strstr(e.msg, "empty") != NULL);
}

static void t_garbage(void)
{
	static const uint8_t zeros[64];
	static const uint8_t png[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13};
	static const char lfs[] = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\n";
	static const uint8_t zip[] = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0};
	/* field 1 (ir_version) as a length-delimited field: some other protobuf */
	static const uint8_t other_pb[] = {0x0a, 0x03, 'a', 'b', 'c'};
	/* a valid ModelProto with ir_version only */
	static const uint8_t no_graph[] = {0x08, 0x07};
	struct onnx_model *m;
	struct cle_error e;

	CHECK_INT(load(zeros, sizeof zeros, &m, &e), CLE_E_NOT_ONNX);
	CHECK_MSG(strstr(e.msg, "byte 0 (0x00) is not a valid protobuf field tag") != NULL, "%s", e.msg);
	CHECK_INT(load(png, sizeof png, &m, &e), CLE_E_NOT_ONNX);
	CHECK_MSG(strstr(e.msg, "PNG image") != NULL, "%s", e.msg);
	CHECK_INT(load((const uint8_t *)lfs, sizeof lfs - 1, &m, &e), CLE_E_NOT_ONNX);
	CHECK_MSG(strstr(e.msg, "Git LFS pointer") != NULL, "%s", e.msg);
	CHECK_INT(load(zip, sizeof zip, &m, &e), CLE_E_NOT_ONNX);
	CHECK_MSG(strstr(e.msg, "torch.onnx.export") != NULL, "%s", e.msg);
	CHECK_INT(load(other_pb, sizeof other_pb, &m, &e), CLE_E_NOT_ONNX);
	CHECK_MSG(strstr(e.msg, "field 1 (ir_version) of ModelProto at byte 0 is length-delimited") != NULL,
		  "%s", e.msg);
	CHECK_INT(load(no_graph, sizeof no_graph, &m, &e), CLE_E_NOT_ONNX);
	CHECK_MSG(strstr(e.msg, "has no graph") != NULL, "%s", e.msg);
}

static void t_round_trip(void)
{
	int i;

	for (i = 0; models[i] != NULL; i++) {
		size_t n, n2;
		uint8_t *p = test_read(models[i], &n), *q;
		struct onnx_model *m;
		struct cle_error e;

		CHECK_OK(load(p, n, &m, &e), e);
		q = save_to_mem(m, NULL, 0, &n2, &e);
		CHECK_MSG(q != NULL, "%s: %s", models[i], e.msg);
		CHECK_MSG(n2 == n && memcmp(p, q, n) == 0, "%s does not round-trip", models[i]);
		free(q);
		onnx_free(m);
		free(p);
	}
}

/* raw_data of 16 bytes or more points into the caller's input. */
static void t_zero_copy(void)
{
	size_t n;
	uint8_t *p = test_read("conv_relu.onnx", &n);
	struct onnx_model *m;
	struct cle_error e;
	const Onnx__GraphProto *g;
	size_t i;

	CHECK_OK(load(p, n, &m, &e), e);
	g = m->proto->graph;
	CHECK_INT(g->n_initializer, 3);
	for (i = 0; i < g->n_initializer; i++) {
		const Onnx__TensorProto *t = g->initializer[i];

		CHECK(t->has_raw_data);
		CHECK_MSG(t->raw_data.data >= p && t->raw_data.data + t->raw_data.len <= p + n,
			  "%s was copied", t->name);
	}
	onnx_free(m);
	free(p);
}

/* Every prefix of a model: a clean verdict, and a prefix that loads is
 * itself a model that round-trips and indexes. */
static void t_truncated_everywhere(void)
{
	int i;

	for (i = 0; models[i] != NULL; i++) {
		size_t n, k;
		uint8_t *p = test_read(models[i], &n);

		for (k = 0; k < n; k++) {
			uint8_t *cut = malloc(k ? k : 1);
			struct onnx_model *m = NULL;
			struct graph_model *gm = NULL;
			struct cle_error e;
			enum cle_status st;

			memcpy(cut, p, k);
			st = load(cut, k, &m, &e);
			CHECK_MSG(st == CLE_OK || st == CLE_E_TRUNCATED || st == CLE_E_NOT_ONNX,
				  "%s cut at %zu: %s", models[i], k, cle_status_name(st));
			if (st == CLE_E_TRUNCATED)
				CHECK_MSG(strstr(e.msg, "truncated") != NULL, "%s", e.msg);
			if (st == CLE_OK) {
				size_t n2;
				uint8_t *q = save_to_mem(m, NULL, 0, &n2, &e);

				CHECK(q != NULL && n2 == k && memcmp(q, cut, k) == 0);
				free(q);
				CHECK_OK(graph_build(&gm, m, NULL, &cle_system_alloc, &e), e);
				graph_free(gm);
				onnx_free(m);
			}
			free(cut);
		}
		free(p);
	}
}

/* Random bit flips and byte smashes never crash; a flipped file that loads
 * still round-trips. */
static void t_bit_flips(void)
{
	uint32_t seed = 12345;
	int i, r;

	for (i = 0; models[i] != NULL; i++) {
		size_t n;
		uint8_t *p = test_read(models[i], &n);

		for (r = 0; r < 3000; r++) {
			uint8_t *q = malloc(n);
			struct onnx_model *m;
			struct graph_model *gm;
			struct cle_error e;
			int flips = 1 + r % 4, f;

			memcpy(q, p, n);
			for (f = 0; f < flips; f++) {
				seed = seed * 1103515245u + 12345u;
				if (r % 2)
					q[(seed >> 8) % n] ^= (uint8_t)(1u << (seed % 8));
				else
					q[(seed >> 8) % n] = (uint8_t)(seed >> 3);
			}
			if (load(q, n, &m, &e) == CLE_OK) {
				size_t n2;
				uint8_t *s = save_to_mem(m, NULL, 0, &n2, &e);

				CHECK(s != NULL && n2 == n && memcmp(s, q, n) == 0);
				free(s);
				if (graph_build(&gm, m, NULL, &cle_system_alloc, &e) == CLE_OK)
					graph_free(gm);
				onnx_free(m);
			}
			free(q);
		}
		free(p);
	}
}

static void t_depth(void)
{
	size_t n;
	uint8_t *p;
	struct onnx_model *m;
	struct graph_model *gm;
	struct cle_error e;

	p = test_read("nested_40.onnx", &n);
	CHECK_INT(load(p, n, &m, &e), CLE_E_TOO_DEEP);
	CHECK_MSG(strstr(e.msg, "nest more than 100 deep") != NULL, "%s", e.msg);
	free(p);

	p = test_read("nested_30.onnx", &n);
	CHECK_OK(load(p, n, &m, &e), e);
	CHECK_INT(graph_build(&gm, m, NULL, &cle_system_alloc, &e), CLE_E_TOO_DEEP);
	CHECK_MSG(strstr(e.msg, "subgraphs nest more than 24 deep") != NULL, "%s", e.msg);
	onnx_free(m);
	free(p);

	p = test_read("nested_10.onnx", &n);
	CHECK_OK(load(p, n, &m, &e), e);
	CHECK_OK(graph_build(&gm, m, NULL, &cle_system_alloc, &e), e);
	CHECK_INT(graph_subgraph_count(gm), atoi(test_expect("nested_10.onnx", "subgraph_count")));
	graph_free(gm);
	onnx_free(m);
	free(p);
}

/* A message nested 200 deep by hand: refused before protobuf-c recurses. */
static void t_depth_synthetic(void)
{
	/* ModelProto.graph(7) → GraphProto.node(1) → NodeProto.attribute(5) →
	 * AttributeProto.g(6) → GraphProto.node(1) → ... built inside out */
	uint8_t *buf = malloc(1 << 16), *tmp = malloc(1 << 16);
	size_t n = 0;
	int level;
	struct onnx_model *m;
	struct cle_error e;
	static const uint32_t fields[3] = {1, 5, 6}; /* from the outside: node, attribute, g */

	for (level = 0; level < 200; level++) {
		uint8_t hdr[16];
		size_t h = onnx_field_header(hdr, level == 199 ? 7 : fields[(198 - level) % 3], n);

		memcpy(tmp, hdr, h);
		memcpy(tmp + h, buf, n);
		n += h;
		memcpy(buf, tmp, n);
	}
	CHECK_INT(load(buf, n, &m, &e), CLE_E_TOO_DEEP);
	free(buf);
	free(tmp);
}

static enum cle_status fill_negated(const struct onnx_edit *ed, size_t off, uint8_t *dst,
				    size_t n, struct cle_error *e)
{
	const uint8_t *src = ed->ud;
	size_t i;

	if (off % 64 != 0)
		return cle_errorf(e, CLE_E_INTERNAL, "fill offset %zu is not 64-byte aligned", off);
	for (i = 0; i < n; i++)
		dst[i] = (uint8_t)(src[off + i] ^ ((off + i) % 4 == 3 ? 0x80 : 0)); /* flip the sign */
	return CLE_OK;
}

/* Splice edits: a tensor rewritten in place by fill, a node deleted, a node
 * inserted; the output parses with plain protobuf-c and has what we wrote. */
static void t_edits(void)
{
	size_t n, n2, tag, body, end;
	uint8_t *p = test_read("conv_relu.onnx", &n), *q;
	struct onnx_model *m, *m2;
	struct cle_error e;
	const Onnx__GraphProto *g;
	const Onnx__TensorProto *w1;
	Onnx__ModelProto *check;
	struct onnx_edit ed[3];
	uint8_t node_bytes[256];
	Onnx__NodeProto nn = ONNX__NODE_PROTO__INIT;
	char *ins[] = {"x"}, *outs[] = {"x_neg"};
	size_t h, k;
	uint32_t graph_span;

	CHECK_OK(load(p, n, &m, &e), e);
	g = m->proto->graph;
	w1 = g->initializer[0];
	CHECK(strcmp(w1->name, "w1") == 0);
	graph_span = onnx_span_of(m, g);
	CHECK(graph_span != UINT32_MAX);
	memset(ed, 0, sizeof ed);
	/* 1: w1's raw_data body, same size, produced by fill */
	ed[0].at = (size_t)(w1->raw_data.data - p);
	ed[0].end = ed[0].at + w1->raw_data.len;
	ed[0].span = onnx_span_of(m, w1);
	ed[0].size = w1->raw_data.len;
	ed[0].fill = fill_negated;
	ed[0].ud = (void *)w1->raw_data.data;
	/* 2: delete relu1 (node 1) entirely */
	onnx_span_range(m, onnx_span_of(m, g->node[1]), &tag, &body, &end);
	ed[1].at = tag;
	ed[1].end = end;
	ed[1].span = graph_span;
	ed[1].size = 0;
	ed[1].bytes = (const uint8_t *)"";
	/* 3: insert a Neg node at the end of the graph body */
	nn.name = "neg";
	nn.op_type = "Neg";
	nn.n_input = 1;
	nn.input = ins;
	nn.n_output = 1;
	nn.output = outs;
	k = onnx__node_proto__get_packed_size(&nn);
	h = onnx_field_header(node_bytes, 1, k);
	onnx__node_proto__pack(&nn, node_bytes + h);
	onnx_span_range(m, graph_span, &tag, &body, &end);
	ed[2].at = ed[2].end = end;
	ed[2].span = graph_span;
	ed[2].size = h + k;
	ed[2].bytes = node_bytes;

	q = save_to_mem(m, ed, 3, &n2, &e);
	CHECK_MSG(q != NULL, "%s", e.msg);
	check = onnx__model_proto__unpack(NULL, n2, q);
	CHECK(check != NULL);
	CHECK_INT(check->graph->n_node, 3);
	CHECK(strcmp(check->graph->node[0]->name, "conv1") == 0);
	CHECK(strcmp(check->graph->node[1]->name, "conv2") == 0);
	CHECK(strcmp(check->graph->node[2]->op_type, "Neg") == 0);
	CHECK_INT(check->graph->initializer[0]->raw_data.len, w1->raw_data.len);
	for (k = 0; k < w1->raw_data.len; k += 4) {
		float a, b;

		memcpy(&a, w1->raw_data.data + k, 4);
		memcpy(&b, check->graph->initializer[0]->raw_data.data + k, 4);
		CHECK(a == -b);
	}
	onnx__model_proto__free_unpacked(check, NULL);
	/* and our own loader reads its own output */
	CHECK_OK(load(q, n2, &m2, &e), e);
	onnx_free(m2);
	free(q);
	onnx_free(m);
	free(p);
}

/* Fail allocation 1, 2, 3, ... of load + index + info until it succeeds:
 * each failure is CLE_E_NOMEM with a sentence and leaves nothing allocated. */
/* The field numbers onnx_io.h names are onnx.proto's. */
static void t_field_numbers(void)
{
	static const struct {
		const ProtobufCMessageDescriptor *msg;
		const char *field;
		unsigned number;
	} fields[] = {
		{&onnx__model_proto__descriptor, "graph", ONNX_MODEL_GRAPH},
		{&onnx__graph_proto__descriptor, "node", ONNX_GRAPH_NODE},
		{&onnx__graph_proto__descriptor, "initializer", ONNX_GRAPH_INITIALIZER},
		{&onnx__tensor_proto__descriptor, "raw_data", ONNX_TENSOR_RAW_DATA},
	};
	size_t i;

	for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const ProtobufCFieldDescriptor *fd =
			protobuf_c_message_descriptor_get_field_by_name(fields[i].msg, fields[i].field);

		CHECK_MSG(fd != NULL, "%s has no field %s", fields[i].msg->name, fields[i].field);
		CHECK_MSG(fd->id == fields[i].number, "%s.%s is field %u, onnx_io.h says %u",
			  fields[i].msg->name, fields[i].field, fd->id, fields[i].number);
	}
}

static void t_alloc_failures(void)
{
	int i;

	for (i = 0; models[i] != NULL; i++) {
		size_t n, fail;
		uint8_t *p = test_read(models[i], &n);

		for (fail = 1;; fail++) {
			struct test_alloc t;
			struct cle_alloc a = test_alloc_init(&t);
			struct cle_input in = {p, n, models[i], {NULL, NULL}};
			struct cle_options o;
			struct cle_buf b;
			struct cle_error e;
			enum cle_status st;

			t.fail_at = fail;
			cle_options_init(&o);
			o.format = REPORT_JSON;
			cle_buf_init(&b, &a);
			st = cle_info(&in, &o, &a, &b, &e);
			cle_buf_free(&b);
			CHECK_MSG(t.blocks == 0 && t.bytes == 0, "%s: %zu blocks leaked after failing allocation %zu",
				  models[i], t.blocks, fail);
			if (!t.failed) {
				CHECK_OK(st, e);
				break;
			}
			CHECK_MSG(st == CLE_E_NOMEM, "%s: failing allocation %zu gave %s: %s", models[i],
				  fail, cle_status_name(st), e.msg);
			CHECK(strstr(e.msg, "out of memory") != NULL);
		}
		free(p);
	}
}

int main(int argc, char **argv)
{
	static const struct test tests[] = {
		{"empty", t_empty},
		{"garbage", t_garbage},
		{"round_trip", t_round_trip},
		{"zero_copy", t_zero_copy},
		{"truncated_everywhere", t_truncated_everywhere},
		{"bit_flips", t_bit_flips},
		{"depth", t_depth},
		{"depth_synthetic", t_depth_synthetic},
		{"edits", t_edits},
		{"field_numbers", t_field_numbers},
		{"alloc_failures", t_alloc_failures},
		{NULL, NULL},
	};

	return test_main(argc, argv, tests);
}
