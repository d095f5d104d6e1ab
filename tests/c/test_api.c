/* test_api.c — every public entry point under failure: the Nth allocation
 * refused for every N (and a byte limit swept up), a sink that breaks, a
 * progress callback that cancels, an external-data lookup that fails.  Each
 * must answer with its status and one sentence and leave nothing allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "onnx_io.h"
#include "test.h"

static const char *const models[] = {
	"conv_relu.onnx",  "typed_fields.onnx",   "if_conv.onnx",       "short_raw_bias.onnx",
	"mlp_bn.onnx",     "mobilenetv2_like_bn.onnx", "resnet_like_bn.onnx",
	"vgg_like_external.onnx", "guidelines/view_fixed_batch_op13.onnx", NULL,
};

/* External data from the models folder; fails with `fail` when set. */
struct lookup_state {
	uint8_t *p;
	size_t n;
	enum cle_status fail;
};

static enum cle_status lookup(void *ud, const char *location, const uint8_t **p, size_t *n,
			      struct cle_error *e)
{
	struct lookup_state *l = ud;

	if (l->fail != CLE_OK)
		return cle_errorf(e, l->fail, "the lookup of %s failed", location);
	if (l->p == NULL)
		l->p = test_read(location, &l->n);
	*p = l->p;
	*n = l->n;
	return CLE_OK;
}

enum call { CALL_INFO, CALL_CHECK, CALL_EQUALIZE, CALL_COPY };

/* One call of an entry point on bytes p with allocator a. */
static enum cle_status call(enum call c, const uint8_t *p, size_t n, const char *name,
			    const struct cle_alloc *a, struct lookup_state *ls,
			    struct test_sink *out, struct cle_options *o, struct cle_error *e)
{
	struct cle_input in = {p, n, name, {lookup, ls}};
	struct onnx_sink sink = test_sink_of(out), data = test_sink_of(out);
	struct cle_buf b;
	uint32_t errors;
	enum cle_status st;

	cle_buf_init(&b, a);
	switch (c) {
	case CALL_INFO:
		st = cle_info(&in, o, a, &b, e);
		break;
	case CALL_CHECK:
		st = cle_check(&in, o, a, &b, &errors, e);
		break;
	case CALL_EQUALIZE:
		st = cle_equalize_model(&in, o, a, &sink, &data, &b, e);
		break;
	default:
		st = cle_copy(&in, a, &sink, e);
		break;
	}
	cle_buf_free(&b);
	return st;
}

/* One call with the allocator refusing allocation fail_at (0: none) or
 * anything past limit live bytes (0: none); checks nothing leaked.
 * Returns whether an allocation was refused; the call's status, error
 * and output checksum in *st, *e, *sum. */
static bool refused(enum call c, const uint8_t *p, size_t n, const char *model, struct lookup_state *ls,
		    size_t fail_at, size_t limit, enum cle_status *st, struct cle_error *e, uint64_t *sum)
{
	struct test_alloc t;
	struct cle_alloc a = test_alloc_init(&t);
	struct test_sink out = {0, 0, 0};
	struct cle_options o;

	cle_options_init(&o);
	o.format = REPORT_JSON;
	t.fail_at = fail_at;
	t.limit = limit;
	*st = call(c, p, n, model, &a, ls, &out, &o, e);
	if (t.blocks != 0)
		test_fail(__FILE__, __LINE__, "%s call %d: %zu blocks leaked (refusing allocation %zu, limit %zu bytes)",
			  model, (int)c, t.blocks, fail_at, limit);
	*sum = out.sum;
	return t.failed;
}

/* Fails allocation 1, 2, 3, ... of each call until it succeeds; then
 * limits live bytes, doubling the limit until it succeeds. */
static void t_alloc_sweep(void)
{
	static const enum call calls[] = {CALL_INFO, CALL_CHECK, CALL_EQUALIZE, CALL_COPY};
	size_t i, c, runs = 0;

	for (i = 0; models[i] != NULL; i++) {
		size_t n;
		uint8_t *p = test_read(models[i], &n);
		struct lookup_state ls = {NULL, 0, CLE_OK};

		for (c = 0; c < sizeof calls / sizeof calls[0]; c++) {
			size_t fail, limit;
			uint64_t want = 0, sum;
			struct cle_error e;
			enum cle_status st;

			for (fail = 1;; fail++) {
				if (!refused(calls[c], p, n, models[i], &ls, fail, 0, &st, &e, &want)) {
					CHECK_OK(st, e);
					runs += fail;
					break;
				}
				CHECK_MSG(st == CLE_E_NOMEM && strstr(e.msg, "out of memory") != NULL,
					  "%s call %zu, failing allocation %zu: %s: %s", models[i], c, fail,
					  cle_status_name(st), e.msg);
			}
			for (limit = 1024;; limit *= 2) {
				if (!refused(calls[c], p, n, models[i], &ls, 0, limit, &st, &e, &sum)) {
					CHECK_OK(st, e);
					/* the same output whatever failed before */
					CHECK_MSG(sum == want, "%s call %zu: output differs", models[i], c);
					break;
				}
				CHECK_MSG(st == CLE_E_NOMEM, "%s call %zu, %zu-byte limit: %s: %s", models[i],
					  c, limit, cle_status_name(st), e.msg);
			}
		}
		free(ls.p);
		free(p);
	}
	printf("     %zu runs with one allocation refused\n", runs);
}

/* A sink failing at every point of the output: its status comes back. */
static void t_sink_fails(void)
{
	size_t n, total, at;
	uint8_t *p = test_read("mobilenetv2_like_bn.onnx", &n);
	struct test_sink whole = {0, 0, 0};
	struct cle_options o;
	struct cle_error e;

	cle_options_init(&o);
	CHECK_OK(call(CALL_EQUALIZE, p, n, "m", &cle_system_alloc, NULL, &whole, &o, &e), e);
	total = whole.n;
	for (at = 1; at < total; at += total / 97 + 1) {
		struct test_alloc t;
		struct cle_alloc a = test_alloc_init(&t);
		struct test_sink out = {0, at, 0};
		enum cle_status st = call(CALL_EQUALIZE, p, n, "m", &a, NULL, &out, &o, &e);

		CHECK_MSG(st == CLE_E_IO && strcmp(e.msg, "the disk is full") == 0, "failing at %zu: %s",
			  at, e.msg);
		CHECK_INT(t.blocks, 0);
	}
	free(p);
}

static bool cancel_at(void *ud, const char *stage, double fraction)
{
	int *left = ud;

	(void)stage;
	(void)fraction;
	return --*left > 0;
}

/* The progress callback can stop the work at each of its calls. */
static void t_cancel(void)
{
	size_t n;
	uint8_t *p = test_read("resnet_like_bn.onnx", &n);
	int calls = 0, k;

	for (k = 1;; k++) {
		struct test_alloc t;
		struct cle_alloc a = test_alloc_init(&t);
		struct test_sink out = {0, 0, 0};
		struct cle_options o;
		struct cle_error e;
		int left = k;
		enum cle_status st;

		cle_options_init(&o);
		o.progress = cancel_at;
		o.progress_ud = &left;
		st = call(CALL_EQUALIZE, p, n, "m", &a, NULL, &out, &o, &e);
		CHECK_INT(t.blocks, 0);
		if (st == CLE_OK) /* past the last call that can stop it */
			break;
		CHECK_MSG(st == CLE_E_CANCELLED && strcmp(e.msg, "cancelled") == 0, "cancel at call %d: %s", k,
			  e.msg);
		calls++;
	}
	CHECK_MSG(calls >= 4, "only %d progress calls", calls);
	free(p);
}

/* A lookup error other than "no such file" stops the run with its sentence. */
static void t_lookup_fails(void)
{
	size_t n;
	uint8_t *p = test_read("vgg_like_external.onnx", &n);
	struct lookup_state ls = {NULL, 0, CLE_E_NOMEM};
	struct test_sink out = {0, 0, 0};
	struct cle_options o;
	struct cle_error e;
	struct test_alloc t;
	struct cle_alloc a = test_alloc_init(&t);

	cle_options_init(&o);
	CHECK_INT(call(CALL_CHECK, p, n, "m", &a, &ls, &out, &o, &e), CLE_E_NOMEM);
	CHECK(strcmp(e.msg, "the lookup of vgg_like_external.weights failed") == 0);
	CHECK_INT(t.blocks, 0);
	/* "no such file" is not an error for reading: the weights are just missing */
	ls.fail = CLE_E_IO;
	CHECK_OK(call(CALL_CHECK, p, n, "m", &a, &ls, &out, &o, &e), e);
	CHECK_INT(call(CALL_EQUALIZE, p, n, "m", &a, &ls, &out, &o, &e), CLE_E_IO);
	CHECK(strstr(e.msg, "needed to write the model but was not supplied") != NULL);
	CHECK_INT(t.blocks, 0);
	free(p);
}

/* Each option's default, as the table (and so the usage text) states it,
 * is what cle_options_init gives. */
static void t_option_defaults(void)
{
	const struct cle_option_def *d;

	for (d = cle_option_defs; d->flag != NULL; d++) {
		struct cle_options want, got;
		struct cle_error e;
		char arg[128];
		char *argv[] = {arg};
		int i = 0;

		/* a name and a strength list are kept as the text given (t_strength) */
		if (d->def == NULL || d->kind == CLE_OPT_NAME || d->kind == CLE_OPT_STRENGTH)
			continue;
		snprintf(arg, sizeof arg, "%s=%s", d->flag, d->def);
		cle_options_init(&want);
		cle_options_init(&got);
		CHECK_OK(cle_option(&got, d->commands & CLE_CMD_EQUALIZE ? "equalize" : "check", 1, argv, &i, &e), e);
		CHECK_MSG(memcmp(&want.cle, &got.cle, sizeof want.cle) == 0 && want.fail_on == got.fail_on,
			  "%s is not the default cle_options_init gives", arg);
	}
	CHECK(strcmp(cle_data_name(&(struct cle_options){0}), "model.onnx.data") == 0);
}

/* Every option is taken by its commands, in both spellings when it has an
 * argument, and refused by the others with the same sentence. */
static void t_option_commands(void)
{
	static const char *const names[] = {"info", "check", "equalize"};
	const struct cle_option_def *d;
	int k;

	for (d = cle_option_defs; d->flag != NULL; d++) {
		char lo[32], joined[128], unknown[160];
		const char *v = d->kind == CLE_OPT_CHOICE ? d->choices[0] : d->def ? d->def
				: d->kind == CLE_OPT_NAME ? "x.bin" : lo;

		snprintf(lo, sizeof lo, "%g", d->lo); /* a number with no default: its least value */
		snprintf(joined, sizeof joined, "%s=%s", d->flag, v);
		for (k = 0; k < 3; k++) {
			char *one[] = {joined}, *two[] = {(char *)(uintptr_t)d->flag, (char *)(uintptr_t)v};
			struct cle_options o;
			struct cle_error e;
			int i = 0;

			cle_options_init(&o);
			if (d->kind == CLE_OPT_FLAG)
				one[0] = (char *)(uintptr_t)d->flag;
			if (!(d->commands & (1u << k))) {
				snprintf(unknown, sizeof unknown, "unknown option '%s' for %s", one[0],
					 names[k]);
				CHECK_INT(cle_option(&o, names[k], 1, one, &i, &e), CLE_E_USAGE);
				CHECK_MSG(strcmp(e.msg, unknown) == 0, "%s", e.msg);
				continue;
			}
			CHECK_OK(cle_option(&o, names[k], 1, one, &i, &e), e);
			CHECK_INT(i, 0);
			if (d->kind == CLE_OPT_FLAG)
				continue;
			CHECK_OK(cle_option(&o, names[k], 2, two, &i, &e), e);
			CHECK_INT(i, 1);
		}
	}
}

/* What the options refuse, and the sentence. */
static void t_option_values(void)
{
	static const struct {
		const char *arg, *msg;
	} bad[] = {
		{"--relu6=maybe", "--relu6 takes exact, relu or skip, not 'maybe'"},
		{"--iterations=0", "--iterations takes a whole number from 1 to 10000"},
		{"--iterations=2.5", "--iterations takes a whole number from 1 to 10000"},
		{"--tolerance=-1", "--tolerance takes a number from 0 to 10"},
		{"--max-scale=0.5", "--max-scale takes a number of at least 1"},
		{"--max-scale=inf", "--max-scale takes a number of at least 1"},
		{"--external-data-name=a/b", "--external-data-name takes a file name, without a folder"},
		{"--external-data-name=..", "--external-data-name takes a file name, without a folder"},
		{"--strength=0.5,", "--strength takes numbers from 0 to 2, each alone or after a region and ':' "
				    "(\"0.5\", \"1,3:0.5\"), not '0.5,'"},
		{"--relu6", "unknown option '--relu6' for equalize"},
		{"--no-hbf=1", "unknown option '--no-hbf=1' for equalize"},
	};
	size_t k;

	for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		char *argv[] = {(char *)(uintptr_t)bad[k].arg};
		struct cle_options o;
		struct cle_error e;
		int i = 0;

		cle_options_init(&o);
		CHECK_INT(cle_option(&o, "equalize", 1, argv, &i, &e), CLE_E_USAGE);
		CHECK_MSG(strcmp(e.msg, bad[k].msg) == 0, "%s: %s", bad[k].arg, e.msg);
	}
}

/* --strength's lists: what each region gets, and what is refused. */
static void t_strength(void)
{
	static const char *const bad[] = {"", "x", "1,", ",1", "3:", ":1", "2.5", "-1", "1,,2", "a:1", "1:2:3",
					  "3:1 ", " 1", "nan", "1e999", "0x1p1,", "-0:1"};
	size_t k;

	CHECK(cle_strength_of(NULL, 7) == 1);
	CHECK(cle_strength_valid("1") && cle_strength_of("1", 0) == 1);
	CHECK(cle_strength_valid("0.5") && cle_strength_of("0.5", 9) == 0.5);
	/* a region's own entry, wherever it stands; the rest take the common one (1 when none) */
	CHECK(cle_strength_valid("3:0,0.25,12:2"));
	CHECK(cle_strength_of("3:0,0.25,12:2", 3) == 0);
	CHECK(cle_strength_of("3:0,0.25,12:2", 12) == 2);
	CHECK(cle_strength_of("3:0,0.25,12:2", 4) == 0.25);
	CHECK(cle_strength_of("3:0.5", 4) == 1);
	CHECK(cle_strength_of("3:0.5,3:0.75", 3) == 0.75); /* the last word holds */
	for (k = 0; k < sizeof bad / sizeof bad[0]; k++)
		CHECK_MSG(!cle_strength_valid(bad[k]), "'%s' taken", bad[k]);
}

/* The description JS reads names every option once. */
static void t_options_json(void)
{
	static const char head[] = "{\"version\":\"" CLE_VERSION "\",\"options\":[";
	const struct cle_option_def *d;
	struct cle_buf b;

	cle_buf_init(&b, &cle_system_alloc);
	cle_options_json(&b);
	CHECK_INT(b.status, CLE_OK);
	CHECK(strncmp(b.p, head, strlen(head)) == 0);
	for (d = cle_option_defs; d->flag != NULL; d++) {
		char key[64];

		snprintf(key, sizeof key, "{\"flag\":\"%s\"", d->flag);
		CHECK_MSG(strstr(b.p, key) != NULL, "no %s in %s", key, b.p);
	}
	cle_buf_free(&b);
}

int main(int argc, char **argv)
{
	static const struct test tests[] = {
		{"alloc_sweep", t_alloc_sweep},
		{"sink_fails", t_sink_fails},
		{"cancel", t_cancel},
		{"lookup_fails", t_lookup_fails},
		{"option_defaults", t_option_defaults},
		{"option_commands", t_option_commands},
		{"option_values", t_option_values},
		{"strength", t_strength},
		{"options_json", t_options_json},
		{NULL, NULL},
	};

	return test_main(argc, argv, tests);
}
