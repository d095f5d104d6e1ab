/* Issue 17 regression, found by the one-minute fuzz of `npm test`
 * (scripts/fuzz.sh --seconds 60 -seed=1): a Resize whose sizes come from
 * Concat(Slice(Shape(x)), hw), the Slice's starts input named "\0\3" (read
 * as a C string: empty, no value).  resize_keeps_channels (src/ops.c) asked
 * ops_trace_const for the constant behind that missing input, which looked
 * up value GRAPH_NONE: ASan SEGV in graph_resolve.  ops_trace_const now
 * answers "no constant" for a missing input, and the Resize blocks with its
 * sentence.  issue-17-slice-unnamed-starts.onnx is the fuzzer's input
 * (1,218 bytes): Conv c1 -> Resize -> Conv c2.  Runs under ASan+UBSan in
 * scripts/test.sh. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "test.h"

#define MODEL "tests/regress/issue-17-slice-unnamed-starts.onnx"

static void test_map(void)
{
	struct cle_options o;
	struct cle_buf b;
	struct cle_error e;
	uint32_t errors = 0;
	size_t n;
	uint8_t *bytes = test_read_in(CLE_SOURCE_DIR, MODEL, &n);
	struct cle_input in = {bytes, n, "slice_unnamed_starts.onnx", {NULL, NULL}};
	enum cle_status st;

	cle_options_init(&o);
	cle_buf_init(&b, &cle_system_alloc);
	st = cle_check(&in, &o, &cle_system_alloc, &b, &errors, &e);
	if (st != CLE_OK)
		test_fail(__FILE__, __LINE__, "%s: %s", cle_status_name(st), e.msg);
	else if (b.p == NULL ||
		 strstr(b.p, "read by Resize node resize, whose sizes are computed at run time") == NULL)
		test_fail(__FILE__, __LINE__, "not the Resize's own sentence:\n%s", b.p ? b.p : "");
	cle_buf_free(&b);
	free(bytes);
}

static const struct test tests[] = {
	{"map", test_map},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
