/* Issue 17 regression, found by the fuzzer (scripts/fuzz.sh, 197,115
 * executions into a run resumed after the bn-huge-dims fix): a Clip that
 * reads a scaled tensor but has no output (a second node 'clip_none' with
 * no outputs beside the real one) was rewritten per channel, and
 * write_clip read its output name from an empty list: ASan SEGV in vname
 * (src/cle_write.c).  A Clip with no output computes nothing and is left
 * as it is.  issue-17-clip-no-output.onnx (1.2 KB, the fuzzer's input as
 * found; check calls it invalid, so --allow-invalid).  Runs under
 * ASan+UBSan in scripts/test.sh. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MODEL "tests/regress/issue-17-clip-no-output.onnx"

static void test_equalize(void)
{
	CHECK_MSG(test_equalize_invalid(CLE_SOURCE_DIR, MODEL) > 0, "equalize wrote no model");
}

static const struct test tests[] = {
	{"equalize", test_equalize},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
