/* api.c — one function per request: load → index → stage → document. */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_io.h"
#include "rules.h"

void cle_options_init(struct cle_options *o)
{
	memset(o, 0, sizeof *o);
	o->format = REPORT_TEXT;
	o->bn_auto = true;
	cle_config_init(&o->cle);
}

/* ---- the options ------------------------------------------------------- */

static void set_json(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->format = REPORT_JSON;
}

static void set_sarif(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->format = REPORT_SARIF;
}

static void set_ranges(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->cle.ranges = true;
}

static void set_hbf(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->cle.hbf = true;
}

static void set_no_hbf(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->cle.hbf = false;
}

static void set_pow2(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->cle.pow2 = true;
}

/* the reference (AIMET): its scope, balanced ranges in one pass, batch norm
 * folded, ReLU6 as ReLU, no clamp (its high-bias absorption: --hbf) */
static void set_reference(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->cle.reference = true;
	o->cle.objective = CLE_OBJECTIVE_BALANCE;
	if (!o->bn_set)
		o->bn_auto = false, o->cle.bn = CLE_BN_FOLD;
	o->cle.max_rounds = 1;
	o->cle.max_scale = 0;
	if (!o->relu6_set)
		o->cle.relu6 = CLE_RELU6_RELU;
}

static const char *const relu6_words[] = {"exact", "relu", "skip", NULL};
static const enum cle_relu6 relu6_modes[] = {CLE_RELU6_EXACT, CLE_RELU6_RELU, CLE_RELU6_SKIP};
_Static_assert(sizeof relu6_modes / sizeof relu6_modes[0] + 1 ==
		       sizeof relu6_words / sizeof relu6_words[0], "a mode for each --relu6 word");

static void set_relu6(struct cle_options *o, const char *v, double x)
{
	(void)v;
	o->cle.relu6 = relu6_modes[(int)x];
	o->relu6_set = true;
}

static const char *const objective_words[] = {"noise", "balance", NULL};
static const enum cle_objective objective_modes[] = {CLE_OBJECTIVE_NOISE, CLE_OBJECTIVE_BALANCE};
_Static_assert(sizeof objective_modes / sizeof objective_modes[0] + 1 ==
		       sizeof objective_words / sizeof objective_words[0], "a mode for each --objective word");

static void set_objective(struct cle_options *o, const char *v, double x)
{
	(void)v;
	o->cle.objective = objective_modes[(int)x];
}

static const char *const bn_words[] = {"auto", "fold", "keep", NULL};

static void set_bn(struct cle_options *o, const char *v, double x)
{
	(void)v;
	o->bn_auto = x == 0;
	o->cle.bn = x == 2 ? CLE_BN_KEEP : CLE_BN_FOLD;
	o->bn_set = true;
}

static void set_iterations(struct cle_options *o, const char *v, double x)
{
	(void)v;
	o->cle.max_rounds = (int)x;
}

static void set_tolerance(struct cle_options *o, const char *v, double x)
{
	(void)v;
	o->cle.tolerance = x;
}

static void set_max_scale(struct cle_options *o, const char *v, double x)
{
	(void)v;
	o->cle.max_scale = x;
}

static void set_strength(struct cle_options *o, const char *v, double x)
{
	(void)x;
	o->cle.strength = v;
}

static void set_inline_external(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->inline_external = true;
}

static void set_data_name(struct cle_options *o, const char *v, double x)
{
	(void)x;
	o->data_name = v;
}

static void set_allow_invalid(struct cle_options *o, const char *v, double x)
{
	(void)v, (void)x;
	o->allow_invalid = true;
}

static const char *const fail_on_words[] = {"error", "warning", "info", NULL};
_Static_assert(RULE_ERROR == 0 && RULE_WARNING == 1 && RULE_INFO == 2,
	       "--fail-on's words in enum rule_severity order");

static void set_fail_on(struct cle_options *o, const char *v, double x)
{
	(void)v;
	o->fail_on = (int)x;
}

#define EQ CLE_CMD_EQUALIZE

const struct cle_option_def cle_option_defs[] = {
	{"--json", NULL, CLE_CMD_ALL, CLE_OPT_FLAG, 0, 0, NULL, NULL, NULL, false,
	 "the report as JSON", set_json},
	{"--sarif", NULL, CLE_CMD_CHECK, CLE_OPT_FLAG, 0, 0, NULL, NULL, "sarif", true,
	 "the findings as SARIF 2.1.0", set_sarif},
	{"--fail-on", "LEVEL", CLE_CMD_CHECK, CLE_OPT_CHOICE, 0, 0, fail_on_words, "error", NULL, false,
	 "exit 1 on findings of this severity or worse: error\n"
	 "(default), warning or info", set_fail_on},
	{"--ranges", NULL, EQ, CLE_OPT_FLAG, 0, 0, NULL, NULL, "ranges", true,
	 "with --json: every layer's per-channel ranges, before and after", set_ranges},
	{"--objective", "AIM", EQ, CLE_OPT_CHOICE, 0, 0, objective_words, "noise", "objective", false,
	 "noise (default: the least estimated INT8 noise at the\n"
	 "outputs, never more than the model has now), balance\n"
	 "(equal ranges on both sides of every channel)", set_objective},
	{"--batch-norm", "MODE", EQ, CLE_OPT_CHOICE, 0, 0, bn_words, "auto", "batchNorm", false,
	 "auto (default: fold or keep, as the estimate prefers),\n"
	 "fold (into the layer before it), keep (rescale it)", set_bn},
	{"--hbf", NULL, EQ, CLE_OPT_FLAG, 0, 0, NULL, NULL, "hbf", true,
	 "high-bias absorption, as the reference does it: an\n"
	 "approximation that holds only on some inputs", set_hbf},
	{"--no-hbf", NULL, EQ, CLE_OPT_FLAG, 0, 0, NULL, NULL, NULL, false,
	 "no high-bias absorption (the default)", set_no_hbf},
	{"--pow2-scales", NULL, EQ, CLE_OPT_FLAG, 0, 0, NULL, NULL, "pow2Scales", true,
	 "powers-of-two scales: rescaling is exact (bit-identical outputs)", set_pow2},
	{"--reference", NULL, EQ, CLE_OPT_FLAG, 0, 0, NULL, NULL, "reference", true,
	 "do what the reference (AIMET) does: its scope, balanced\n"
	 "ranges in one pass, batch norm folded, ReLU6 replaced by\n"
	 "ReLU (and its high-bias absorption with --hbf)", set_reference},
	{"--relu6", "MODE", EQ, CLE_OPT_CHOICE, 0, 0, relu6_words, "exact", "relu6", false,
	 "exact (default: Clip kept exact with per-channel bounds),\n"
	 "relu (replace by Relu, changes the function), skip", set_relu6},
	{"--iterations", "N", EQ, CLE_OPT_INT, 1, 10000, NULL, NULL, "iterations", false,
	 "rounds at most (default 50; balancing: 1000, as its\n"
	 "later rounds read only the weights that can hold a maximum)", set_iterations},
	{"--tolerance", "X", EQ, CLE_OPT_NUMBER, 0, 10, NULL, "1e-4", "tolerance", false,
	 "stop when a round moves the estimate (balancing: a\n"
	 "scale) by less than this", set_tolerance},
	{"--max-scale", "X", EQ, CLE_OPT_NUMBER, 1, CLE_OPT_UNBOUNDED, NULL, NULL, "maxScale", false,
	 "clamp scales to [1/X, X] (default: 1e4 when balancing, else\n"
	 "what the weights' float type allows)", set_max_scale},
	{"--strength", "LIST", EQ, CLE_OPT_STRENGTH, 0, CLE_STRENGTH_MAX, NULL, "1", "strength", false,
	 "how far each region's scales go: 0 leaves them, 1 (default)\n"
	 "goes all the way the objective chose, 0.5 half of it (in\n"
	 "log scale), up to 2; \"0.5\" for every region, \"0.5,3:1\"\n"
	 "region 3 (as the JSON report numbers them) all the way", set_strength},
	{"--inline-external", NULL, EQ, CLE_OPT_FLAG, 0, 0, NULL, NULL, "inlineExternal", true,
	 "put weights kept in external data into the model itself\n"
	 "(else they go to one new file beside it, OUT.data)", set_inline_external},
	{"--external-data-name", "NAME", EQ, CLE_OPT_NAME, 0, 0, NULL, "model.onnx.data",
	 "externalDataName", false, "that file's name", set_data_name},
	{"--allow-invalid", NULL, EQ, CLE_OPT_FLAG, 0, 0, NULL, NULL, "allowInvalid", true,
	 "equalize a model that check finds invalid (onnx-invalid\n"
	 "errors); runtimes may read such a model otherwise", set_allow_invalid},
	{NULL, NULL, 0, CLE_OPT_FLAG, 0, 0, NULL, NULL, NULL, false, NULL, NULL},
};

#undef EQ

enum cle_command cle_command_of(const char *cmd)
{
	if (strcmp(cmd, "info") == 0)
		return CLE_CMD_INFO;
	if (strcmp(cmd, "check") == 0)
		return CLE_CMD_CHECK;
	if (strcmp(cmd, "equalize") == 0)
		return CLE_CMD_EQUALIZE;
	return CLE_CMD_OTHER;
}

const char *cle_data_name(const struct cle_options *o)
{
	const struct cle_option_def *d;

	if (o->data_name != NULL)
		return o->data_name;
	for (d = cle_option_defs; d->flag != NULL && d->set != set_data_name; d++)
		;
	return d->def;
}

/* The value of "--name=value" or of "--name value" (advancing *i). */
static const char *option_value(const char *name, int argc, char *const argv[], int *i)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static bool parse_number(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (s == NULL || s[0] == '\0')
		return false;
	v = strtod(s, &end);
	if (*end != '\0' || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/* "takes exact, relu or skip" */
static void choices_text(char *buf, size_t cap, const char *const *choices)
{
	size_t n = 0, i, len = 0;

	while (choices[n] != NULL)
		n++;
	buf[0] = '\0';
	for (i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s",
					i == 0 ? "" : i + 1 == n ? " or " : ", ", choices[i]);
}

/* Checks v as option d's argument: *x its value (a number, or a choice's
 * index); CLE_E_USAGE with the sentence that says what d takes. */
static enum cle_status option_arg(const struct cle_option_def *d, const char *v, double *x,
				  struct cle_error *e)
{
	char words[128];
	int k;

	if (NEVER(d->kind == CLE_OPT_FLAG)) /* cle_option never asks a flag for its argument */
		return cle_errorf(e, CLE_E_INTERNAL, "option %s takes no argument", d->flag);
	switch (d->kind) {
	case CLE_OPT_CHOICE:
		for (k = 0; d->choices[k] != NULL; k++) {
			if (strcmp(v, d->choices[k]) == 0) {
				*x = k;
				return CLE_OK;
			}
		}
		choices_text(words, sizeof words, d->choices);
		return cle_errorf(e, CLE_E_USAGE, "%s takes %s, not '%s'", d->flag, words, v);
	case CLE_OPT_INT:
		if (!parse_number(v, d->lo, d->hi, x) || *x != (double)(int)*x)
			return cle_errorf(e, CLE_E_USAGE, "%s takes a whole number from %g to %g", d->flag,
					  d->lo, d->hi);
		return CLE_OK;
	case CLE_OPT_NUMBER:
		if (parse_number(v, d->lo, d->hi, x))
			return CLE_OK;
		if (d->hi >= CLE_OPT_UNBOUNDED)
			return cle_errorf(e, CLE_E_USAGE, "%s takes a number of at least %g", d->flag,
					  d->lo);
		return cle_errorf(e, CLE_E_USAGE, "%s takes a number from %g to %g", d->flag, d->lo,
				  d->hi);
	case CLE_OPT_NAME:
		if (v[0] == '\0' || strchr(v, '/') != NULL || strchr(v, '\\') != NULL ||
		    strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
			return cle_errorf(e, CLE_E_USAGE, "%s takes a file name, without a folder",
					  d->flag);
		*x = 0;
		return CLE_OK;
	case CLE_OPT_STRENGTH:
		if (!cle_strength_valid(v))
			return cle_errorf(e, CLE_E_USAGE,
					  "%s takes numbers from %g to %g, each alone or after a region "
					  "and ':' (\"0.5\", \"1,3:0.5\"), not '%s'",
					  d->flag, d->lo, d->hi, v);
		*x = 0;
		return CLE_OK;
	case CLE_OPT_FLAG: /* refused above */
		break;
	}
	return CLE_OK;
}

enum cle_status cle_option(struct cle_options *o, const char *cmd, int argc, char *const argv[],
			   int *i, struct cle_error *e)
{
	const char *arg = argv[*i], *v;
	enum cle_command c = cle_command_of(cmd);
	const struct cle_option_def *d;
	double x = 0;
	enum cle_status st;

	for (d = cle_option_defs; d->flag != NULL; d++) {
		if (!(d->commands & c))
			continue;
		if (d->kind == CLE_OPT_FLAG) {
			if (strcmp(arg, d->flag) != 0)
				continue;
			d->set(o, NULL, 0);
			return CLE_OK;
		}
		if ((v = option_value(d->flag, argc, argv, i)) == NULL)
			continue;
		if ((st = option_arg(d, v, &x, e)) != CLE_OK)
			return st;
		d->set(o, v, x);
		return CLE_OK;
	}
	return cle_errorf(e, CLE_E_USAGE, "unknown option '%s' for %s", arg, cmd);
}

/* ---- the options as JSON ------------------------------------------------ */

static void json_string(struct cle_buf *b, const char *s)
{
	cle_buf_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			cle_buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			cle_buf_puts(b, "\\n");
		else if ((unsigned char)*s < 0x20)
			cle_buf_printf(b, "\\u%04x", (unsigned)*s);
		else
			cle_buf_append(b, s, 1);
	}
	cle_buf_puts(b, "\"");
}

/* The shortest of %.15g and %.17g that reads back as x. */
static void json_number(struct cle_buf *b, double x)
{
	char s[32];

	snprintf(s, sizeof s, "%.15g", x);
	if (strtod(s, NULL) != x)
		snprintf(s, sizeof s, "%.17g", x);
	cle_buf_puts(b, s);
}

static const char *const kind_names[] = {
	[CLE_OPT_FLAG] = "flag",       [CLE_OPT_CHOICE] = "choice", [CLE_OPT_INT] = "integer",
	[CLE_OPT_NUMBER] = "number", [CLE_OPT_NAME] = "name", [CLE_OPT_STRENGTH] = "strength",
};

static void option_json(struct cle_buf *b, const struct cle_option_def *d)
{
	static const char *const commands[] = {"info", "check", "equalize"};
	const char *sep = "";
	int k;

	cle_buf_puts(b, "{\"flag\":");
	json_string(b, d->flag);
	if (d->arg != NULL) {
		cle_buf_puts(b, ",\"arg\":");
		json_string(b, d->arg);
	}
	cle_buf_puts(b, ",\"commands\":[");
	for (k = 0; k < 3; k++) {
		if (d->commands & (1u << k)) {
			cle_buf_printf(b, "%s\"%s\"", sep, commands[k]);
			sep = ",";
		}
	}
	cle_buf_printf(b, "],\"kind\":\"%s\"", kind_names[d->kind]);
	if (d->kind == CLE_OPT_INT || d->kind == CLE_OPT_NUMBER) {
		cle_buf_puts(b, ",\"min\":");
		json_number(b, d->lo);
		cle_buf_puts(b, ",\"max\":");
		json_number(b, d->hi);
	}
	if (d->kind == CLE_OPT_CHOICE) {
		cle_buf_puts(b, ",\"choices\":[");
		for (k = 0; d->choices[k] != NULL; k++) {
			cle_buf_puts(b, k ? "," : "");
			json_string(b, d->choices[k]);
		}
		cle_buf_puts(b, "]");
	}
	if (d->def != NULL) {
		cle_buf_puts(b, ",\"default\":");
		if (d->kind == CLE_OPT_INT || d->kind == CLE_OPT_NUMBER)
			json_number(b, strtod(d->def, NULL));
		else
			json_string(b, d->def);
	}
	if (d->js != NULL) {
		cle_buf_puts(b, ",\"js\":");
		json_string(b, d->js);
		if (d->kind == CLE_OPT_FLAG)
			cle_buf_printf(b, ",\"when\":%s", d->js_when ? "true" : "false");
	}
	cle_buf_puts(b, ",\"help\":");
	json_string(b, d->help);
	cle_buf_puts(b, "}");
}

void cle_options_json(struct cle_buf *out)
{
	const struct cle_option_def *d;

	cle_buf_puts(out, "{\"version\":\"" CLE_VERSION "\",\"options\":[");
	for (d = cle_option_defs; d->flag != NULL; d++) {
		if (d != cle_option_defs)
			cle_buf_puts(out, ",");
		option_json(out, d);
	}
	cle_buf_puts(out, "]}\n");
}

/* Loads and indexes the input; on success the caller frees both. */
static enum cle_status open_model(const struct cle_input *in, const struct cle_alloc *a,
				  struct onnx_model **m, struct graph_model **gm,
				  struct cle_error *e)
{
	enum cle_status st;

	*gm = NULL;
	if ((st = onnx_load(m, in->bytes, in->n, a, e)) != CLE_OK)
		return st;
	if ((st = graph_build(gm, *m, in->lookup.fn ? &in->lookup : NULL, a, e)) != CLE_OK) {
		onnx_free(*m);
		*m = NULL;
	}
	return st;
}

/* A document that ran out of memory part way is an error, not a result. */
static enum cle_status finish(struct cle_buf *out, struct cle_error *e)
{
	if (out->status == CLE_E_NOMEM)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory writing the report");
	if (out->status != CLE_OK)
		return cle_errorf(e, out->status, "the report is too large");
	return CLE_OK;
}

enum cle_status cle_copy(const struct cle_input *in, const struct cle_alloc *a,
			 const struct onnx_sink *sink, struct cle_error *e)
{
	struct onnx_model *m;
	enum cle_status st;

	if ((st = onnx_load(&m, in->bytes, in->n, a, e)) != CLE_OK)
		return st;
	st = onnx_save(m, NULL, 0, sink, e);
	onnx_free(m);
	return st;
}

enum cle_status cle_info(const struct cle_input *in, const struct cle_options *o,
			 const struct cle_alloc *a, struct cle_buf *out, struct cle_error *e)
{
	struct onnx_model *m;
	struct graph_model *gm;
	enum cle_status st;

	if ((st = open_model(in, a, &m, &gm, e)) != CLE_OK)
		return st;
	report_info(out, gm, in->name, in->n, o->format);
	st = finish(out, e);
	graph_free(gm);
	onnx_free(m);
	return st;
}

/* A model check finds invalid (an onnx-invalid error: a name defined
 * twice, an input nothing defines, a cycle, ...) is not equalized: a
 * runtime may read it otherwise than onnx-cle does (a duplicate weight:
 * onnxruntime takes the first copy), and the result would be a guess. */
static enum cle_status refuse_invalid(const struct graph_model *gm, const struct cle_alloc *a,
				      struct cle_error *e)
{
	struct rule_findings rf;
	enum cle_status st;
	uint32_t i;

	if ((st = rules_run(&rf, gm, NULL, a, e)) != CLE_OK)
		return st;
	for (i = 0; i < rf.n && st == CLE_OK; i++)
		if (rf.f[i].severity == RULE_ERROR && strcmp(rf.f[i].rule, "onnx-invalid") == 0)
			st = cle_errorf(e, CLE_E_INVALID, "the model is not valid ONNX: %s (check says so; "
					"--allow-invalid equalizes it anyway)", rf.f[i].message);
	rules_free(&rf);
	return st;
}

/* Plans with BatchNormalization treated as bn. */
static enum cle_status plan_bn(struct graph_model *gm, const struct cle_options *o, enum cle_bn bn,
			       const struct cle_alloc *a, struct cle_plan **plan, struct cle_error *e)
{
	struct cle_config cfg = o->cle;

	cfg.bn = bn;
	return cle_plan_groups(plan, gm, &cfg, a, e);
}

/* Does the plan fold a BatchNormalization into a layer; *half: into a
 * float16 weight (which the folded factors would round)? */
static bool folds_bn(const struct cle_plan *p, bool *half)
{
	bool any = false;
	uint32_t i;

	*half = false;
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];

		if (l->bn == GRAPH_NONE)
			continue;
		any = true;
		*half |= graph_resolve(l->g, l->w_value, NULL)->konst->dtype == GRAPH_FLOAT16;
	}
	return any;
}

/* Why the run changed nothing (res: its result), into buf; NULL when it
 * changed something.  The model is then written back as it came. */
static const char *nothing_to_equalize(const struct graph_model *gm, const struct cle_plan *p,
				       const struct cle_result *res, char *buf, size_t n)
{
	if (res->equalized || res->bn_folded || res->bn_rescaled || res->clips_rewritten ||
	    res->clips_replaced || res->hbf_layers)
		return NULL;
	if (rules_nothing_to_equalize(gm, p, buf, n) == NULL)
		snprintf(buf, n, p->cfg.objective == CLE_OBJECTIVE_NOISE
			 ? "no scaling of its layers lowers the estimated INT8 noise"
			 : "its layers' ranges are already balanced");
	return buf;
}

enum cle_status cle_equalize_model(const struct cle_input *in, const struct cle_options *o,
				   const struct cle_alloc *a, const struct onnx_sink *sink,
				   const struct onnx_sink *data_sink, struct cle_buf *out,
				   struct cle_error *e)
{
	struct onnx_model *m;
	struct graph_model *gm;
	struct cle_plan *plan = NULL, *trial[2] = {NULL, NULL}; /* batch norm folded, kept */
	struct cle_run *run = NULL, *first[2] = {NULL, NULL};
	struct cle_result res;
	struct graph_save gs;
	enum cle_status st;
	enum cle_bn bn = o->bn_auto ? CLE_BN_FOLD : o->cle.bn;
	double other = 0;
	bool half = false;
	char why[512];

	gs.mode = o->inline_external || data_sink == NULL ? GRAPH_EXT_INLINE : GRAPH_EXT_FILE;
	gs.data_name = cle_data_name(o);
	gs.data_sink = data_sink;
	if ((st = open_model(in, a, &m, &gm, e)) != CLE_OK)
		return st;
	if (!o->allow_invalid && (st = refuse_invalid(gm, a, e)) != CLE_OK)
		goto fail;
	/* automatic: batch norm folded or kept, whichever the estimate prefers
	 * after one round of each (the rounds after it move the estimate far
	 * less than the choice does: the same choice as after all of them on
	 * every model measured), the chosen trial then solved in full; kept in
	 * float16 models, where folding would round every weight; balancing,
	 * which has no estimate, folds (as the reference does) */
	if (o->bn_auto && o->cle.objective == CLE_OBJECTIVE_NOISE &&
	    (st = plan_bn(gm, o, CLE_BN_FOLD, a, &trial[0], e)) == CLE_OK && !folds_bn(trial[0], &half)) {
		plan = trial[0]; /* nothing to choose */
		trial[0] = NULL;
	} else if (st == CLE_OK && trial[0] != NULL) {
		int k;

		if ((st = cle_run_solve(&first[0], trial[0], NULL, 1, o->progress, o->progress_ud, e)) != CLE_OK ||
		    (st = plan_bn(gm, o, CLE_BN_KEEP, a, &trial[1], e)) != CLE_OK ||
		    (st = cle_run_solve(&first[1], trial[1], first[0], 1, o->progress, o->progress_ud, e)) != CLE_OK)
			goto fail;
		k = half || cle_run_result(first[1])->est_after >= cle_run_result(first[0])->est_after;
		other = half ? 0 : cle_run_result(first[!k])->est_after;
		plan = trial[k]; /* goes on from its trial (cle_run_write) */
		run = first[k];
		trial[k] = NULL;
		first[k] = NULL;
		cle_run_free(first[1]); /* the kept trial's reads borrow from the folded one's */
		first[1] = NULL;
	}
	if (st == CLE_OK && run == NULL && (plan != NULL || (st = plan_bn(gm, o, bn, a, &plan, e)) == CLE_OK))
		st = cle_run_solve(&run, plan, NULL, 0, o->progress, o->progress_ud, e);
	/* the regions named are the written plan's (a trial's plan may number others) */
	if (st == CLE_OK)
		st = cle_strength_check(plan, e);
	if (st == CLE_OK)
		plan->bn_alternative = other;
	if (st == CLE_OK && (st = cle_run_write(run, sink, &gs, &res, e)) == CLE_OK) {
		report_equalize(out, plan, &res, nothing_to_equalize(gm, plan, &res, why, sizeof why),
				o->format);
		st = finish(out, e);
	}
fail:
	cle_run_free(run);
	cle_run_free(first[1]);
	cle_run_free(first[0]);
	cle_plan_free(plan);
	cle_plan_free(trial[1]);
	cle_plan_free(trial[0]);
	graph_free(gm);
	onnx_free(m);
	return st;
}

enum cle_status cle_check(const struct cle_input *in, const struct cle_options *o,
			  const struct cle_alloc *a, struct cle_buf *out, uint32_t *errors,
			  struct cle_error *e)
{
	struct onnx_model *m;
	struct graph_model *gm;
	struct cle_plan *plan = NULL;
	struct rule_findings rf;
	struct cle_config cfg;
	enum cle_status st;
	uint32_t i;

	*errors = 0;
	if ((st = open_model(in, a, &m, &gm, e)) != CLE_OK)
		return st;
	cle_config_init(&cfg); /* the map shows what onnx-cle itself reaches */
	if ((st = cle_plan_groups(&plan, gm, &cfg, a, e)) == CLE_OK &&
	    (st = rules_run(&rf, gm, plan, a, e)) == CLE_OK) {
		report_check(out, gm, &rf, plan, in->name, in->n, o->format, o->color, o->artifact);
		st = finish(out, e);
		for (i = 0; i < rf.n; i++)
			if ((int)rf.f[i].severity <= o->fail_on)
				(*errors)++;
		rules_free(&rf);
	}
	cle_plan_free(plan);
	graph_free(gm);
	onnx_free(m);
	return st;
}
