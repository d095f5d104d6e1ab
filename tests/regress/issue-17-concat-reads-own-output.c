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

#include "api.h"
#include "test.h"

#define MODEL "tests/regress/issue-17-concat-reads-own-output.onnx"

static void test_equalize(void)
{
	struct cle_options o;
	struct test_sink ms = {0, 0, 0}, ds = {0, 0, 0};
	struct onnx_sink model = test_sink_of(&ms), data = test_sink_of(&ds);
	struct cle_buf b;
	struct cle_error e;
	size_t n;
	uint8_t *bytes = test_read_in(CLE_SOURCE_DIR, MODEL, &n);
	struct cle_input in = {bytes, n, "concat_reads_own_output.onnx", {NULL, NULL}};
	enum cle_status st;

	cle_options_init(&o);
	o.allow_invalid = true;
	cle_buf_init(&b, &cle_system_alloc);
	st = cle_equalize_model(&in, &o, &cle_system_alloc, &model, &data, &b, &e);
	CHECK_MSG(st == CLE_OK && ms.n > 0, "%s: %s", cle_status_name(st), st == CLE_OK ? "no model" : e.msg);
	cle_buf_free(&b);
	free(bytes);
}

static const struct test tests[] = {
	{"equalize", test_equalize},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
