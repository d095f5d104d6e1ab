/* Issue 17 regressions: models the fuzzer found (scripts/fuzz.sh, and the
 * one-minute fuzz of `npm test`), each equalized with --allow-invalid (check
 * calls them invalid) through test_equalize_invalid: the checking allocator
 * with a 64 MB limit, no leak, a model written.  Runs under ASan+UBSan in
 * scripts/test.sh, where each failed on the code before its fix.  The
 * inputs are the fuzzer's, as found, beside this file. */
#include "test.h"

static const struct {
	const char *model, *found;
} cases[] = {
	/* 197,115 executions into a run resumed after the bn-huge-dims fix */
	{"issue-17-clip-no-output.onnx",
	 "a Clip that reads a scaled tensor but has no output (a second node beside the real one) was "
	 "rewritten per channel, and write_clip read its output name from an empty list (ASan SEGV in "
	 "vname); a node with no outputs is not among a region's nodes to rewrite"},
	/* npm test's fuzz minute in a clean-clone CI rehearsal */
	{"issue-17-concat-reads-own-output.onnx",
	 "a Concat whose first output is also its first input ('au', which a Resize writes too): the "
	 "statistics' forward pass gave the output its new moments, then copied its inputs' into them, "
	 "that same value among them (ASan use-after-poison); a node that reads what it writes is left "
	 "without moments"},
	/* a helper's npm test */
	{"issue-17-resize-huge-sizes.onnx",
	 "a Resize whose sizes make 2,020,503,151 channels: that region is blocked, but the solve sized "
	 "its per-channel scratch by every region's extent, 16 GB for 2,409 bytes; it is sized by the "
	 "regions being solved (balance_most_channels)"},
	/* npm test's fuzz minute in a clean-clone CI rehearsal */
	{"issue-17-resize-sizes-overflow.onnx",
	 "a Resize whose sizes ask for 2.4e20 channels: ops_resize_sizes converted that double to "
	 "int64 (UBSan); sizes that are not a count are not taken as one"},
	/* npm test's fuzz minute in a clean-clone CI rehearsal */
	{"issue-17-affine-after-shared-output.onnx",
	 "two Convs writing one tensor ('a'), a constant Mul reading it: the Mul was folded into both "
	 "layers, so the writer edited its bytes twice (an assertion in wire_rewrite; 'bad edit of "
	 "bytes 78..102' in a release build); a layer whose output another node writes too folds "
	 "nothing after it"},
};

static void test_invalid_models(void)
{
	char path[256];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(path, sizeof path, "tests/regress/%s", cases[i].model);
		CHECK_MSG(test_equalize_invalid(CLE_SOURCE_DIR, path) > 0, "%s: equalize wrote no model (%s)",
			  cases[i].model, cases[i].found);
	}
}

static const struct test tests[] = {
	{"invalid_models", test_invalid_models},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
