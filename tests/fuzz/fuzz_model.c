/* fuzz_model.c — libFuzzer target: any bytes through load → index → check
 * (rules + CLE plan, as JSON, SARIF and text) → info → equalize (two sets
 * of options) → save.  Built with clang, -fsanitize=fuzzer,address,undefined
 * (cmake -DCLE_FUZZ=ON); run by `npm run fuzz -- --seconds N`
 * (scripts/fuzz.sh), seeded with the small test models and
 * tests/fuzz/make_seeds.py's, with tests/fuzz/onnx.dict.  A crash found
 * here becomes a tests/regress/ case.
 *
 * External data resolves through side_lookup: every location is a fixed
 * 64 KiB side file of float32 weights, except "fuzz.onnx" (the input's own
 * bytes, so the fuzzer mutates those weights too) and names starting with
 * "missing" (no such file) or "refused" (a file the host will not read). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api.h"
#include "onnx_io.h"

#define SIDE_FLOATS 16384 /* 64 KiB */

/* The fake side file: mixed magnitudes (2^-8 .. 2^7), both signs, every
 * 61st value zero; channels of any size see uneven ranges. */
static float side[SIDE_FLOATS];
static int side_filled;

static void side_fill(void)
{
	uint32_t x = 0x9e3779b9u;
	size_t i;

	if (side_filled)
		return;
	side_filled = 1;
	for (i = 0; i < SIDE_FLOATS; i++) {
		float m = (float)(1u << ((i / 7) % 16)) / 256.0f;

		x = x * 1664525u + 1013904223u;
		side[i] = i % 61 == 0 ? 0.0f : m * ((float)(x >> 8) / 8388608.0f - 1.0f);
	}
}

static enum cle_status side_lookup(void *ud, const char *location, const uint8_t **p, size_t *n,
				   struct cle_error *e)
{
	const struct cle_input *in = ud;

	if (strncmp(location, "missing", 7) == 0)
		return cle_errorf(e, CLE_E_IO, "cannot open %s: No such file or directory", location);
	if (strncmp(location, "refused", 7) == 0)
		return cle_errorf(e, CLE_E_UNSUPPORTED, "external data file %s leads outside the model's "
				  "folder through a symbolic link", location);
	if (strcmp(location, in->name) == 0) {
		*p = in->bytes;
		*n = in->n;
	} else {
		*p = (const uint8_t *)side;
		*n = sizeof side;
	}
	return CLE_OK;
}

static enum cle_status s_begin(void *ud, size_t total, struct cle_error *e)
{
	(void)ud;
	(void)total;
	(void)e;
	return CLE_OK;
}

static enum cle_status s_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	volatile uint8_t *sum = ud;
	size_t i;

	(void)e;
	for (i = 0; i < n; i++) /* touch every byte written */
		*sum ^= p[i];
	return CLE_OK;
}

/* Options as the CLI takes them, through the one parser; a flag this build
 * does not know (--allow-invalid before it exists) is skipped. */
static void options_set(struct cle_options *o, const char *const *flags)
{
	struct cle_error e;
	int argc, i;

	cle_options_init(o);
	for (argc = 0; flags[argc] != NULL; argc++)
		;
	for (i = 0; i < argc; i++)
		if (cle_option(o, "equalize", argc, (char *const *)flags, &i, &e) != CLE_OK)
			continue;
}

/* equalize's option sets: the defaults, then every other mode at once */
static const char *const eq_default[] = {"--allow-invalid", NULL};
static const char *const eq_other[] = {
	"--json", "--ranges", "--objective=balance", "--batch-norm=keep", "--hbf", "--pow2-scales",
	"--relu6=relu", "--iterations=3", "--max-scale=100", "--inline-external", "--allow-invalid",
	NULL,
};
static const char *const eq_reference[] = {"--reference", "--hbf", "--relu6=skip", "--allow-invalid",
					   NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sum = 0;
	struct onnx_sink sink = {s_begin, s_write, &sum};
	struct cle_input in = {data, size, "fuzz.onnx", {side_lookup, NULL}};
	struct cle_options o;
	struct cle_buf b;
	struct cle_error e;
	uint32_t errors;

	side_fill();
	in.lookup.ud = &in;
	cle_options_init(&o);
	o.format = REPORT_JSON;
	cle_buf_init(&b, &cle_system_alloc);
	if (cle_check(&in, &o, &cle_system_alloc, &b, &errors, &e) == CLE_OK) {
		cle_buf_free(&b);
		o.format = REPORT_SARIF;
		if (cle_check(&in, &o, &cle_system_alloc, &b, &errors, &e) != CLE_OK)
			__builtin_trap(); /* a model that checks once checks twice */
		cle_buf_free(&b);
		o.format = REPORT_TEXT;
		o.color = true;
		if (cle_check(&in, &o, &cle_system_alloc, &b, &errors, &e) != CLE_OK)
			__builtin_trap();
		cle_buf_free(&b);
		(void)cle_info(&in, &o, &cle_system_alloc, &b, &e);
		cle_buf_free(&b);
		options_set(&o, eq_default);
		(void)cle_equalize_model(&in, &o, &cle_system_alloc, &sink, &sink, &b, &e);
		cle_buf_free(&b);
		/* the other modes, or the reference's (one bit of the input picks) */
		options_set(&o, size % 2 ? eq_other : eq_reference);
		(void)cle_equalize_model(&in, &o, &cle_system_alloc, &sink, &sink, &b, &e);
	}
	cle_buf_free(&b);
	(void)cle_copy(&in, &cle_system_alloc, &sink, &e);
	return 0;
}
