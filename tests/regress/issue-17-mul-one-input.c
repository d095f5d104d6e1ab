/* Issue 17 regression, found by the CI's one-minute fuzz (scripts/fuzz.sh
 * --seconds 60 -seed=1, after issue 15's HardSwish roles): a Div whose input
 * comes from a Mul with one input (not valid ONNX, but a file can hold it)
 * made hardswish_role (src/cle_roles.c) read the Mul's second input past
 * the end of its list, and ops_hardswish then read the uses of whatever
 * value that garbage index named: ASan heap-use-after-free in ops.c.  The
 * Mul's inputs are now read only as far as it has them.
 * issue-17-mul-one-input.onnx (213 bytes; a fuzz seed too): Conv conv ->
 * Mul m1 (one input) -> Div d by 6.  Runs under ASan+UBSan in
 * scripts/test.sh. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MODEL "tests/regress/issue-17-mul-one-input.onnx"

static void test_map(void)
{
	char *r = test_check_report(CLE_SOURCE_DIR, MODEL);

	if (r != NULL && (strstr(r, "tensor 'c' is read by Mul node m1") == NULL || strstr(r, "HardSwish") != NULL))
		test_fail(__FILE__, __LINE__, "not the Mul's own sentence:\n%s", r);
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
