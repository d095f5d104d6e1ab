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

#include "test.h"

#define MODEL "tests/regress/issue-17-slice-unnamed-starts.onnx"

static void test_map(void)
{
	char *r = test_check_report(CLE_SOURCE_DIR, MODEL);

	if (r != NULL && strstr(r, "read by Resize node resize, whose sizes are computed at run time") == NULL)
		test_fail(__FILE__, __LINE__, "not the Resize's own sentence:\n%s", r);
	free(r);
}

static const struct test tests[] = {
	{"map", test_map},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
