/* api.c — one function per request: load → index → stage → document. */
#include "api.h"

#include <math.h>
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

enum cle_status cle_option(struct cle_options *o, const char *cmd, int argc, char *const argv[],
			   int *i, struct cle_error *e)
{
	const char *arg = argv[*i], *v;
	bool eq = strcmp(cmd, "equalize") == 0;
	double x;

	if (strcmp(arg, "--json") == 0) {
		o->format = REPORT_JSON;
	} else if (strcmp(arg, "--sarif") == 0 && strcmp(cmd, "check") == 0) {
		o->format = REPORT_SARIF;
	} else if (!eq) {
		return cle_errorf(e, CLE_E_USAGE, "unknown option '%s' for %s", arg, cmd);
	} else if (strcmp(arg, "--no-hbf") == 0 || strcmp(arg, "--hbf") == 0) {
		o->cle.hbf = arg[2] == 'h';
		o->hbf_set = true;
	} else if (strcmp(arg, "--inline-external") == 0) {
		o->inline_external = true;
	} else if ((v = option_value("--external-data-name", argc, argv, i)) != NULL) {
		if (v[0] == '\0' || strchr(v, '/') != NULL || strchr(v, '\\') != NULL ||
		    strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
			return cle_errorf(e, CLE_E_USAGE,
					  "--external-data-name takes a file name, without a folder");
		o->data_name = v;
	} else if (strcmp(arg, "--ranges") == 0) {
		o->cle.ranges = true;
	} else if (strcmp(arg, "--pow2-scales") == 0) {
		o->cle.pow2 = true;
	} else if (strcmp(arg, "--reference") == 0) {
		/* the reference (AIMET): its scope, one pass, ReLU6 as ReLU, no clamp */
		o->cle.reference = true;
		o->cle.objective = CLE_OBJECTIVE_BALANCE;
		if (!o->bn_set) /* the reference folds batch norm */
			o->bn_auto = false, o->cle.bn = CLE_BN_FOLD;
		if (!o->hbf_set) /* and absorbs high biases */
			o->cle.hbf = true;
		o->cle.max_rounds = 1;
		o->cle.max_scale = 0;
		if (!o->relu6_set)
			o->cle.relu6 = CLE_RELU6_RELU;
	} else if ((v = option_value("--objective", argc, argv, i)) != NULL) {
		if (strcmp(v, "noise") == 0)
			o->cle.objective = CLE_OBJECTIVE_NOISE;
		else if (strcmp(v, "balance") == 0)
			o->cle.objective = CLE_OBJECTIVE_BALANCE;
		else
			return cle_errorf(e, CLE_E_USAGE, "--objective takes noise or balance, not '%s'", v);
	} else if ((v = option_value("--batch-norm", argc, argv, i)) != NULL) {
		o->bn_auto = strcmp(v, "auto") == 0;
		if (strcmp(v, "fold") == 0)
			o->cle.bn = CLE_BN_FOLD;
		else if (strcmp(v, "keep") == 0)
			o->cle.bn = CLE_BN_KEEP;
		else if (!o->bn_auto)
			return cle_errorf(e, CLE_E_USAGE, "--batch-norm takes auto, fold or keep, not '%s'", v);
		o->bn_set = true;
	} else if ((v = option_value("--relu6", argc, argv, i)) != NULL) {
		if (strcmp(v, "exact") == 0)
			o->cle.relu6 = CLE_RELU6_EXACT;
		else if (strcmp(v, "relu") == 0)
			o->cle.relu6 = CLE_RELU6_RELU;
		else if (strcmp(v, "skip") == 0)
			o->cle.relu6 = CLE_RELU6_SKIP;
		else
			return cle_errorf(e, CLE_E_USAGE, "--relu6 takes exact, relu or skip, not '%s'", v);
		o->relu6_set = true;
	} else if ((v = option_value("--iterations", argc, argv, i)) != NULL) {
		if (!parse_number(v, 1, 10000, &x) || x != (double)(int)x)
			return cle_errorf(e, CLE_E_USAGE, "--iterations takes a whole number from 1 to 10000");
		o->cle.max_rounds = (int)x;
	} else if ((v = option_value("--tolerance", argc, argv, i)) != NULL) {
		if (!parse_number(v, 0, 10, &x))
			return cle_errorf(e, CLE_E_USAGE, "--tolerance takes a number from 0 to 10");
		o->cle.tolerance = x;
	} else if ((v = option_value("--max-scale", argc, argv, i)) != NULL) {
		if (!parse_number(v, 1, 1e30, &x))
			return cle_errorf(e, CLE_E_USAGE, "--max-scale takes a number of at least 1");
		o->cle.max_scale = x;
	} else {
		return cle_errorf(e, CLE_E_USAGE, "unknown option '%s' for %s", arg, cmd);
	}
	return CLE_OK;
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

/* Plans and solves with BatchNormalization treated as bn. */
static enum cle_status plan_and_solve(struct graph_model *gm, const struct cle_options *o,
				      enum cle_bn bn, const struct cle_alloc *a, struct cle_plan **plan,
				      struct cle_run **run, struct cle_error *e)
{
	struct cle_config cfg = o->cle;
	enum cle_status st;

	cfg.bn = bn;
	*run = NULL;
	if ((st = cle_plan_groups(plan, gm, &cfg, a, e)) != CLE_OK)
		return st;
	return cle_run_solve(run, *plan, o->progress, o->progress_ud, e);
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

enum cle_status cle_equalize_model(const struct cle_input *in, const struct cle_options *o,
				   const struct cle_alloc *a, const struct onnx_sink *sink,
				   const struct onnx_sink *data_sink, struct cle_buf *out,
				   struct cle_error *e)
{
	struct onnx_model *m;
	struct graph_model *gm;
	struct cle_plan *plan = NULL, *plan2 = NULL;
	struct cle_run *run = NULL, *run2 = NULL;
	struct cle_result res;
	struct graph_save gs;
	enum cle_status st;
	bool half;

	gs.mode = o->inline_external || data_sink == NULL ? GRAPH_EXT_INLINE : GRAPH_EXT_FILE;
	gs.data_name = o->data_name ? o->data_name : "model.onnx.data";
	gs.data_sink = data_sink;
	if ((st = open_model(in, a, &m, &gm, e)) != CLE_OK)
		return st;
	st = plan_and_solve(gm, o, o->bn_auto ? CLE_BN_FOLD : o->cle.bn, a, &plan, &run, e);
	/* automatic: batch norm folded or kept, whichever the estimate prefers;
	 * kept in float16 models, where folding would round every weight */
	if (st == CLE_OK && o->bn_auto && folds_bn(plan, &half) &&
	    (st = plan_and_solve(gm, o, CLE_BN_KEEP, a, &plan2, &run2, e)) == CLE_OK) {
		double folded = cle_run_result(run)->est_after, kept = cle_run_result(run2)->est_after;

		if (half)
			folded = -HUGE_VAL;
		if (kept >= folded) {
			struct cle_plan *tp = plan;
			struct cle_run *tr = run;

			plan = plan2, run = run2;
			plan2 = tp, run2 = tr;
		}
		cle_run_free(run2);
		run2 = NULL;
		plan->bn_alternative = kept >= folded ? (half ? 0 : folded) : kept;
	}
	if (st == CLE_OK && (st = cle_run_write(run, sink, &gs, &res, e)) == CLE_OK) {
		report_equalize(out, plan, &res, o->format);
		st = finish(out, e);
	}
	cle_run_free(run);
	cle_run_free(run2);
	cle_plan_free(plan);
	cle_plan_free(plan2);
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

	*errors = 0;
	if ((st = open_model(in, a, &m, &gm, e)) != CLE_OK)
		return st;
	cle_config_init(&cfg); /* the map shows what onnx-cle itself reaches */
	if ((st = rules_run(&rf, gm, a, e)) == CLE_OK) {
		if ((st = cle_plan_groups(&plan, gm, &cfg, a, e)) == CLE_OK) {
			report_check(out, gm, &rf, plan, in->name, in->n, o->format, o->color);
			st = finish(out, e);
			*errors = rf.errors;
		}
		rules_free(&rf);
	}
	cle_plan_free(plan);
	graph_free(gm);
	onnx_free(m);
	return st;
}
