/* Issue 9 regression, found by the fuzzer (scripts/fuzz.sh): a repeated
 * scalar field written packed with no bytes (here TensorProto.dims) made
 * protobuf-c compute NULL + 0 for its empty array, undefined behaviour that
 * UBSan stops on (third_party/protobuf-c/protobuf-c.c:2751).  The empty
 * field is now left out of the copy protobuf-c reads; it adds no elements,
 * and the saved model keeps it, byte for byte.  Runs under ASan+UBSan in
 * scripts/test.sh. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "onnx.pb-c.h"
#include "onnx_io.h"
#include "test.h"

/* ModelProto { ir_version 7, graph { initializer { dims: packed, 0 bytes;
 * data_type FLOAT; name "w" } name "g" } opset_import { version 13 } } */
static const uint8_t model[] = {
	0x08, 0x07, 0x3a, 0x0c, 0x2a, 0x07, 0x0a, 0x00, 0x10, 0x01, 0x42,
	0x01, 0x77, 0x12, 0x01, 0x67, 0x42, 0x02, 0x10, 0x0d,
};

struct copy_sink {
	uint8_t buf[64];
	size_t n;
};

static enum cle_status c_begin(void *ud, size_t total, struct cle_error *e)
{
	(void)ud;
	if (total > sizeof ((struct copy_sink *)0)->buf)
		return cle_errorf(e, CLE_E_INTERNAL, "a %zu-byte copy of a 20-byte model", total);
	return CLE_OK;
}

static enum cle_status c_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	struct copy_sink *c = ud;

	if (n > sizeof c->buf - c->n)
		return cle_errorf(e, CLE_E_INTERNAL, "too many bytes");
	memcpy(c->buf + c->n, p, n);
	c->n += n;
	return CLE_OK;
}

static void test_loads(void)
{
	struct onnx_model *m = NULL;
	struct cle_error e;

	CHECK_OK(onnx_load(&m, model, sizeof model, &cle_system_alloc, &e), e);
	CHECK(m->proto->graph != NULL && m->proto->graph->n_initializer == 1);
	CHECK_INT(m->proto->graph->initializer[0]->n_dims, 0);
	CHECK(strcmp(m->proto->graph->initializer[0]->name, "w") == 0);
	CHECK(strcmp(m->proto->graph->name, "g") == 0);
	onnx_free(m);
}

static void test_checks_and_copies(void)
{
	struct cle_input in = {model, sizeof model, "empty_packed.onnx", {NULL, NULL}};
	struct copy_sink c = {{0}, 0};
	struct onnx_sink sink = {c_begin, c_write, &c};
	struct cle_options o;
	struct cle_buf doc;
	struct cle_error e;
	uint32_t errors;

	cle_options_init(&o);
	o.format = REPORT_JSON;
	cle_buf_init(&doc, &cle_system_alloc);
	CHECK_OK(cle_check(&in, &o, &cle_system_alloc, &doc, &errors, &e), e);
	cle_buf_free(&doc);
	CHECK_OK(cle_copy(&in, &cle_system_alloc, &sink, &e), e);
	CHECK_INT(c.n, sizeof model);
	CHECK(memcmp(c.buf, model, sizeof model) == 0);
}

static const struct test tests[] = {
	{"loads", test_loads},
	{"checks_and_copies", test_checks_and_copies},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
