/* Issue 17 regression, found by the one-minute fuzz of `npm test` in a
 * clean-clone CI rehearsal: a Resize whose sizes ask for 2.4e20 channels.
 * ops_resize_sizes converted that double to int64 (undefined behaviour:
 * UBSan "outside the range of representable values" in the planner's
 * channel counting); sizes that are not a count are now not taken as one.
 * issue-17-resize-sizes-overflow.onnx is the fuzzer's input.  Runs under
 * ASan+UBSan in scripts/test.sh, where the conversion fails the test. */
#include "test.h"

#define MODEL "tests/regress/issue-17-resize-sizes-overflow.onnx"

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
