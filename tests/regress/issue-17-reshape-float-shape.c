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

#include "api.h"
#include "test.h"

#define MODEL "tests/regress/issue-17-reshape-float-shape.onnx"

static void test_sentence(void)
{
	struct cle_options o;
	struct cle_buf b;
	struct cle_error e;
	uint32_t errors = 0;
	size_t n;
	uint8_t *bytes = test_read_in(CLE_SOURCE_DIR, MODEL, &n);
	struct cle_input in = {bytes, n, "float_shape.onnx", {NULL, NULL}};
	enum cle_status st;

	cle_options_init(&o);
	cle_buf_init(&b, &cle_system_alloc);
	st = cle_check(&in, &o, &cle_system_alloc, &b, &errors, &e);
	if (st != CLE_OK)
		test_fail(__FILE__, __LINE__, "%s: %s", cle_status_name(st), e.msg);
	else if (b.p == NULL || strstr(b.p, "Reshape r reshapes 'x' to the constant shape [1e+30, 4], "
				       "fixing the batch size at 1e+30 although") == NULL)
		test_fail(__FILE__, __LINE__, "no such sentence in:\n%s", b.p ? b.p : "");
	cle_buf_free(&b);
	free(bytes);
}

static const struct test tests[] = {
	{"sentence", test_sentence},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
