/* Issue 17 regression, found by the one-minute fuzz of `npm test` (a
 * helper's run): a Resize whose sizes make 2,020,503,151 channels of 4, in
 * a model that is not valid ONNX (a Concat writes the Resize's output
 * again; equalize --allow-invalid goes on).  That region is blocked, but
 * the solve sized its per-channel scratch by every region's extent, the
 * blocked one's too: 16 GB for a 2,409-byte model (an out-of-memory in the
 * fuzzer).  The scratch is now sized by the regions being solved
 * (balance_most_channels) and the noise search's by the layers it reads.
 * issue-17-resize-huge-sizes.onnx is the fuzzer's input; test_equalize_invalid
 * allows 64 MB. */
#include "test.h"

#define MODEL "tests/regress/issue-17-resize-huge-sizes.onnx"

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
