/* Issue 17 regression, found by the one-minute fuzz of `npm test` in a
 * clean-clone CI rehearsal: a Concat whose first output is also its first
 * input ('au', which a Resize writes too; not valid ONNX, and equalize
 * --allow-invalid goes on).  The statistics' forward pass (cle_stats.c
 * node_mom) gave the Concat's output its new moments, then copied its
 * inputs' into them, the first input being that same output, now as long
 * as all inputs together: ASan use-after-poison past the arena block.  A
 * node that reads what it writes is now left without moments.
 * issue-17-concat-reads-own-output.onnx is the fuzzer's input (2,409
 * bytes).  Runs under ASan+UBSan in scripts/test.sh. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MODEL "tests/regress/issue-17-concat-reads-own-output.onnx"

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
