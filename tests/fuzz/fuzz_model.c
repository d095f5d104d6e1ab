/* fuzz_model.c — libFuzzer target: any bytes through load → index → check
 * (rules + CLE plan) → equalize → save.  Built with clang,
 * -fsanitize=fuzzer,address,undefined (cmake -DCLE_FUZZ=ON); run by
 * `npm run fuzz -- --seconds N` (scripts/fuzz.sh), seeded with the test
 * models.  A crash found here becomes a tests/regress/ case. */
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "onnx_io.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sum = 0;
	struct onnx_sink sink = {s_begin, s_write, &sum};
	struct cle_input in = {data, size, "fuzz.onnx", {NULL, NULL}};
	struct cle_options o;
	struct cle_buf b;
	struct cle_error e;
	uint32_t errors;

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
		(void)cle_info(&in, &o, &cle_system_alloc, &b, &e);
		cle_buf_free(&b);
		(void)cle_equalize_model(&in, &o, &cle_system_alloc, &sink, &sink, &b, &e);
		cle_buf_free(&b);
		o.cle.pow2 = true;
		o.cle.reference = true;
		(void)cle_equalize_model(&in, &o, &cle_system_alloc, &sink, &sink, &b, &e);
	}
	cle_buf_free(&b);
	(void)cle_copy(&in, &cle_system_alloc, &sink, &e);
	return 0;
}
