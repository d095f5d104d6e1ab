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

#include "api.h"
#include "onnx_io.h"
#include "test.h"

#define MODEL "tests/regress/issue-17-clip-no-output.onnx"

static enum cle_status s_begin(void *ud, size_t total, struct cle_error *e)
{
	(void)e;
	*(size_t *)ud = total;
	return CLE_OK;
}

static enum cle_status s_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	(void)ud, (void)p, (void)n, (void)e;
	return CLE_OK;
}

static void test_equalize(void)
{
	struct cle_options o;
	struct cle_buf b;
	struct cle_error e;
	size_t n, total = 0, data = 0;
	uint8_t *bytes = test_read_in(CLE_SOURCE_DIR, MODEL, &n);
	struct cle_input in = {bytes, n, "clip.onnx", {NULL, NULL}};
	struct onnx_sink ms = {s_begin, s_write, &total}, ds = {s_begin, s_write, &data};
	enum cle_status st;

	cle_options_init(&o);
	o.allow_invalid = true;
	cle_buf_init(&b, &cle_system_alloc);
	st = cle_equalize_model(&in, &o, &cle_system_alloc, &ms, &ds, &b, &e);
	if (st != CLE_OK)
		test_fail(__FILE__, __LINE__, "%s: %s", cle_status_name(st), e.msg);
	else if (total == 0)
		test_fail(__FILE__, __LINE__, "equalize wrote no model");
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
