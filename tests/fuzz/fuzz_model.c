/* fuzz_model.c — libFuzzer target: any bytes through load → index → check
 * (rules + CLE plan, as JSON, then SARIF or text) → info → equalize (two
 * sets of options) → save.  Built with clang, -fsanitize=fuzzer,address,undefined
 * (cmake -DCLE_FUZZ=ON); run by `npm run fuzz -- --seconds N`
 * (scripts/fuzz.sh), seeded with the small test models and
 * tests/fuzz/make_seeds.py's, with tests/fuzz/onnx.dict; its mutations are
 * tests/fuzz/protobuf_mutator.c's (length prefixes kept right) and
 * libFuzzer's.  A crash found here becomes a tests/regress/ case.
 *
 * Besides the sanitizers it holds the library to what it promises: a model
 * that checks once checks again, in every format; every output is as long
 * as its sink was told; an equalized model (with its new data file) loads
 * and checks; a model saved with no edits comes out byte for byte.
 *
 * External data resolves through side_lookup: every location is a fixed
 * 64 KiB side file of float32 weights, except "fuzz.onnx" (the input's own
 * bytes, so the fuzzer mutates those weights too) and names starting with
 * "missing" (no such file) or "refused" (a file the host will not read). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "onnx_io.h"

#define SIDE_FLOATS 16384 /* 64 KiB */

/* An invariant broken: says which, and ends the run as a crash would. */
static void fail(const char *why, const struct cle_error *e)
{
	fprintf(stderr, "fuzz_model: %s%s%s\n", why, e ? ": " : "", e ? e->msg : "");
	abort();
}

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

/* An output kept in memory, in a block of the size its begin announced
 * (the wasm host allocates exactly that much, so more is a bug, and so is
 * less once the call succeeded). */
struct out_buf {
	uint8_t *p;
	size_t n, total;
	bool begun;
};

static enum cle_status o_begin(void *ud, size_t total, struct cle_error *e)
{
	struct out_buf *o = ud;

	free(o->p);
	o->p = malloc(total ? total : 1);
	o->n = 0;
	o->total = total;
	o->begun = true;
	if (o->p == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory");
	return CLE_OK;
}

static enum cle_status o_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	struct out_buf *o = ud;

	(void)e;
	if (!o->begun || n > o->total - o->n)
		fail("an output is longer than its begin announced", NULL);
	memcpy(o->p + o->n, p, n);
	o->n += n;
	return CLE_OK;
}

static void out_reset(struct out_buf *o)
{
	free(o->p);
	memset(o, 0, sizeof *o);
}

/* After a call that succeeded: each output begun is complete. */
static void out_complete(const struct out_buf *o)
{
	if (o->begun && o->n != o->total)
		fail("an output is shorter than its begin announced", NULL);
}

/* The equalized model's own data file, under the name the model gives it. */
struct eq_output {
	struct out_buf model, data;
	const char *data_name;
};

static enum cle_status out_lookup(void *ud, const char *location, const uint8_t **p, size_t *n,
				  struct cle_error *e)
{
	const struct eq_output *q = ud;

	if (!q->data.begun || strcmp(location, q->data_name) != 0)
		return cle_errorf(e, CLE_E_IO, "cannot open %s: No such file or directory", location);
	*p = q->data.p;
	*n = q->data.n;
	return CLE_OK;
}

/* Equalizes with o; what it writes must be complete, and load and check. */
static void equalize_and_recheck(const struct cle_input *in, struct cle_options *o)
{
	struct eq_output q;
	struct onnx_sink ms = {o_begin, o_write, &q.model}, ds = {o_begin, o_write, &q.data};
	struct cle_input out = {NULL, 0, "out.onnx", {out_lookup, &q}};
	struct cle_buf b;
	struct cle_error e;
	uint32_t errors;

	memset(&q, 0, sizeof q);
	q.data_name = cle_data_name(o);
	cle_buf_init(&b, &cle_system_alloc);
	if (cle_equalize_model(in, o, &cle_system_alloc, &ms, &ds, &b, &e) == CLE_OK) {
		out_complete(&q.model);
		out_complete(&q.data);
		if (!q.model.begun)
			fail("equalize succeeded and wrote no model", NULL);
		cle_buf_free(&b);
		out.bytes = q.model.p;
		out.n = q.model.n;
		o->format = REPORT_JSON;
		if (cle_check(&out, o, &cle_system_alloc, &b, &errors, &e) != CLE_OK)
			fail("the equalized model does not check", &e);
	}
	cle_buf_free(&b);
	out_reset(&q.model);
	out_reset(&q.data);
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
	struct out_buf copy = {NULL, 0, 0, false};
	struct onnx_sink sink = {o_begin, o_write, &copy};
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
		/* again as SARIF or as coloured text, and info as text or JSON (one bit picks) */
		o.format = size % 2 ? REPORT_SARIF : REPORT_TEXT;
		o.color = true;
		if (cle_check(&in, &o, &cle_system_alloc, &b, &errors, &e) != CLE_OK)
			fail("a model that checks once does not check twice", &e);
		cle_buf_free(&b);
		o.format = size % 2 ? REPORT_TEXT : REPORT_JSON;
		(void)cle_info(&in, &o, &cle_system_alloc, &b, &e);
		options_set(&o, eq_default);
		equalize_and_recheck(&in, &o);
		/* the other modes, or the reference's (one bit of the input picks) */
		options_set(&o, size % 2 ? eq_other : eq_reference);
		equalize_and_recheck(&in, &o);
	}
	cle_buf_free(&b);
	/* loaded and saved with no edits, a model comes out byte for byte */
	if (cle_copy(&in, &cle_system_alloc, &sink, &e) == CLE_OK) {
		out_complete(&copy);
		if (copy.n != size || memcmp(copy.p, data, size) != 0)
			fail("a model loaded and saved unchanged is not the same bytes", NULL);
	}
	out_reset(&copy);
	return 0;
}
