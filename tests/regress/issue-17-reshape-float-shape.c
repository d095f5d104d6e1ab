/* Issue 17 regression, found by the fuzzer (scripts/fuzz.sh, 170,000
 * executions into a run): the reshape-fixed-batch rule printed each entry
 * of a Reshape's constant shape as (long long)v, and a float shape (which
 * Reshape does not take, but a file can hold) with 1e30 or NaN made that
 * cast undefined behaviour, which UBSan stops on (src/rules.c), and the
 * sentence said "fixing the batch size at -9223372036854775808".  Entries
 * that are not integers in range are now printed as the numbers they are.
 * issue-17-reshape-float-shape.onnx (144 bytes; a fuzz seed too): x[N, 8];
 * Reshape r to the float32 shape [1e30, 4], Reshape q to [-1, NaN].  Runs
 * under ASan+UBSan in scripts/test.sh. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MODEL "tests/regress/issue-17-reshape-float-shape.onnx"

static void test_sentence(void)
{
	char *r = test_check_report(CLE_SOURCE_DIR, MODEL);

	if (r != NULL && strstr(r, "Reshape r reshapes 'x' to the constant shape [1e+30, 4], "
				   "fixing the batch size at 1e+30 although") == NULL)
		test_fail(__FILE__, __LINE__, "no such sentence in:\n%s", r);
	free(r);
}

static const struct test tests[] = {
	{"sentence", test_sentence},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
