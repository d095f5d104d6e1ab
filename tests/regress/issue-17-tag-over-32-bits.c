/* Issue 17 regression, found by the fuzzer (scripts/fuzz.sh, seconds into
 * a run on small seeds): a field tag whose 5-byte varint holds more than
 * 32 bits (f1 f8 ed fa 62 inside GraphProto) passed the pre-scan, and
 * protobuf-c's parse_tag_and_wiretype shifted the 5th byte left by 25 as
 * an int, undefined behaviour that UBSan stops on
 * (third_party/protobuf-c/protobuf-c.c:2088).  The pre-scan now refuses
 * such a tag before protobuf-c sees it.  The model is
 * issue-17-tag-over-32-bits.onnx (15 bytes; a fuzz seed too).  Runs under
 * ASan+UBSan in scripts/test.sh. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "onnx.pb-c.h"
#include "onnx_io.h"
#include "test.h"

#define MODEL "tests/regress/issue-17-tag-over-32-bits.onnx"

static void test_refused(void)
{
	struct onnx_model *m = NULL;
	struct cle_error e;
	size_t n;
	uint8_t *p = test_read_in(CLE_SOURCE_DIR, MODEL, &n);
	enum cle_status st = onnx_load(&m, p, n, &cle_system_alloc, &e);

	free(p);
	onnx_free(m);
	CHECK_INT(st, CLE_E_NOT_ONNX);
	CHECK_MSG(strstr(e.msg, "not an ONNX model: the field tag at byte 2 is larger than 32 bits") != NULL,
		  "sentence: %s", e.msg);
}

/* the largest tag protobuf allows (field 2^29 - 1) still loads as an unknown field */
static void test_largest_tag_loads(void)
{
	/* ModelProto { graph { <field 536870911, varint 0> name "g" } } */
	static const uint8_t model[] = {
		0x3a, 0x09, 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x12, 0x01, 0x67,
	};
	struct onnx_model *m = NULL;
	struct cle_error e;

	CHECK_OK(onnx_load(&m, model, sizeof model, &cle_system_alloc, &e), e);
	CHECK(strcmp(m->proto->graph->name, "g") == 0);
	onnx_free(m);
}

static const struct test tests[] = {
	{"refused", test_refused},
	{"largest_tag_loads", test_largest_tag_loads},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
