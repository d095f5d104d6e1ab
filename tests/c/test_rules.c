/* test_rules.c — the rules, row by row: for a model (the guideline models
 * torch exports, guidelines/; small hand-made ones, rules/ and plan/), a
 * finding of a rule on a node with a severity, a message and a fix, or the
 * absence of one.  What the rows read of the findings goes through
 * finding_matches() alone.
 *
 * known_bugs[] holds rows written to the behaviour believed correct that
 * the rules do not show yet: they run, and a failure is printed, not
 * counted.  When one starts passing, move it to rows[]. */
#include <stdlib.h>
#include <string.h>

#include "cle.h"
#include "graph.h"
#include "onnx_io.h"
#include "rules.h"
#include "test.h"

#define NONE (-1) /* severity of a row saying there is no such finding */

struct row {
	const char *model;   /* path under the models folder */
	const char *rule;    /* rule id; NULL: the model has no findings at all */
	const char *node;    /* node name, "op:Type" for exporter-named nodes, NULL:
				the model as a whole (or, with NONE, any node) */
	int severity;        /* RULE_ERROR, RULE_WARNING, RULE_INFO, or NONE */
	const char *message; /* a substring of the message */
	const char *fix;     /* a substring of the fix */
};

/* ---- the one place that reads the findings ---------------------------------- */

/* Does finding i of r match rule, node and (unless NONE) severity, message and fix? */
static bool finding_matches(const struct rule_findings *r, uint32_t i, const struct row *w)
{
	const struct rule_finding *f = &r->f[i];

	if (strcmp(f->rule, w->rule) != 0)
		return false;
	if (w->node == NULL) {
		if (w->severity != NONE && f->node != GRAPH_NONE)
			return false;
	} else if (f->node == GRAPH_NONE) {
		return false;
	} else if (strncmp(w->node, "op:", 3) == 0 ? strcmp(f->g->node[f->node].op, w->node + 3) != 0
						   : strcmp(f->g->node[f->node].name, w->node) != 0) {
		return false;
	}
	if (w->severity == NONE)
		return true;
	return (int)f->severity == w->severity && strstr(f->message, w->message) != NULL &&
	       strstr(f->fix, w->fix) != NULL;
}

/* All findings as lines, for a failure's message. */
static void list_findings(const struct rule_findings *r, char *buf, size_t n)
{
	size_t at = 0;
	uint32_t i;

	buf[0] = '\0';
	for (i = 0; i < r->n && at < n; i++)
		at += (size_t)snprintf(buf + at, n - at, "\n    %s %s [%s] %s | fix: %s", r->f[i].rule,
				       rule_severity_name(r->f[i].severity),
				       r->f[i].node == GRAPH_NONE ? "(model)" : r->f[i].g->node[r->f[i].node].name,
				       r->f[i].message, r->f[i].fix);
	if (r->n == 0)
		snprintf(buf, n, " none");
}

/* ---- models ------------------------------------------------------------------ */

struct opened {
	uint8_t *bytes;
	struct onnx_model *m;
	struct graph_model *gm;
	struct cle_plan *plan; /* the CLE map check shows, which the findings agree with */
	struct rule_findings r;
	struct test_alloc ta;
	struct cle_alloc a;
	char dir[512];    /* the model's folder, where external data is looked up */
	uint8_t *side[4]; /* external data files read for the lookup */
	int n_side;
};

static enum cle_status lookup(void *ud, const char *location, const uint8_t **p, size_t *n,
			      struct cle_error *e)
{
	struct opened *o = ud;
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s/%s", test_models, o->dir, location);
	if (strchr(location, '/') != NULL || (f = fopen(path, "rb")) == NULL || o->n_side == 4)
		return cle_errorf(e, CLE_E_IO, "no file %s", location);
	fclose(f);
	snprintf(path, sizeof path, "%s/%s", o->dir, location);
	o->side[o->n_side] = test_read(path, n);
	*p = o->side[o->n_side++];
	return CLE_OK;
}

static void close_model(struct opened *o)
{
	int i;

	rules_free(&o->r);
	cle_plan_free(o->plan);
	graph_free(o->gm);
	onnx_free(o->m);
	free(o->bytes);
	for (i = 0; i < o->n_side; i++)
		free(o->side[i]);
}

static bool open_model(const char *model, struct opened *o, char *msg, size_t n)
{
	struct graph_lookup lk = {lookup, o};
	struct cle_config cfg;
	struct cle_error e;
	const char *slash = strrchr(model, '/');
	size_t len;

	memset(o, 0, sizeof *o);
	o->a = test_alloc_init(&o->ta);
	snprintf(o->dir, sizeof o->dir, "%.*s", slash ? (int)(slash - model) : 1, slash ? model : ".");
	o->bytes = test_read(model, &len);
	cle_config_init(&cfg);
	if (onnx_load(&o->m, o->bytes, len, &o->a, &e) != CLE_OK ||
	    graph_build(&o->gm, o->m, &lk, &o->a, &e) != CLE_OK ||
	    cle_plan_groups(&o->plan, o->gm, &cfg, &o->a, &e) != CLE_OK ||
	    rules_run(&o->r, o->gm, o->plan, &o->a, &e) != CLE_OK) {
		snprintf(msg, n, "%s: %s", model, e.msg);
		close_model(o);
		return false;
	}
	return true;
}

static bool check_row(const struct row *w, char *msg, size_t n)
{
	struct opened o;
	char all[4096];
	uint32_t i, hits = 0;
	bool ok;

	if (!open_model(w->model, &o, msg, n))
		return false;
	if (w->rule == NULL) {
		ok = o.r.n == 0;
	} else {
		for (i = 0; i < o.r.n; i++)
			hits += finding_matches(&o.r, i, w);
		ok = w->severity == NONE ? hits == 0 : hits > 0;
	}
	if (!ok) {
		list_findings(&o.r, all, sizeof all);
		snprintf(msg, n, "%s: %s %s on %s%s%s%s, findings:%s", w->model,
			 w->severity == NONE ? "no" : "a", w->rule ? w->rule : "finding at all",
			 w->node ? w->node : "the model",
			 w->severity == NONE ? "" : " (", w->severity == NONE ? "" : rule_severity_name(w->severity),
			 w->severity == NONE ? "" : ")", all);
	}
	close_model(&o);
	if (ok && (o.ta.blocks != 0 || o.ta.bytes != 0)) {
		snprintf(msg, n, "%s: %zu blocks (%zu bytes) not freed", w->model, o.ta.blocks, o.ta.bytes);
		ok = false;
	}
	return ok;
}

/* ---- the rows ------------------------------------------------------------------ */

#define E RULE_ERROR
#define W RULE_WARNING
#define I RULE_INFO
#define FIX_EXPORT "fix the exporter's output: run onnx.checker.check_model on it"
#define FIX_VIEW "write x.view(x.size(0), -1) or torch.flatten(x, 1) instead of x.view(-1, 1024)"
#define FIX_VIEW_OTHER "keep the batch in the target shape, 0 (which copies the input's dimension) in place of -1"
#define FIX_LITERAL "write x.view(x.size(0), -1) instead of x.view(1, -1)"
#define FIX_LITERAL_OTHER "put 0 (which copies the input's dimension) at the batch axis instead of a literal size"
#define FIX_ALIGN "set align_corners=False in torch.nn.functional.interpolate (or nn.Upsample)"
#define FIX_ALIGN_OTHER "resize with coordinate_transformation_mode=half_pixel instead of align_corners"
#define QUANTIZED "equalize the float model this one was quantized from, then quantize the result"
#define FIX_DECONV "replace the deconvolution with Upsample + Conv"

static const struct row rows[] = {
	/* nothing to report */
	{"rules/clean.onnx", NULL, NULL, NONE, NULL, NULL},
	{"plan/conv_chain.onnx", NULL, NULL, NONE, NULL, NULL},
	{"guidelines/flatten_op11.onnx", NULL, NULL, NONE, NULL, NULL},
	{"guidelines/flatten_op13.onnx", NULL, NULL, NONE, NULL, NULL},
	{"guidelines/nearest_op13.onnx", NULL, NULL, NONE, NULL, NULL},

	/* onnx-invalid: the model as a whole */
	{"guidelines/no_default_opset.onnx", "onnx-invalid", NULL, E,
	 "the model imports no opset for the default domain (ai.onnx)",
	 "import the default domain (ai.onnx) in opset_import"},
	{"rules/no_ir_version.onnx", "onnx-invalid", NULL, E, "the model has no ir_version", FIX_EXPORT},
	{"guidelines/empty_graph.onnx", "onnx-invalid", NULL, E, "the main graph has no nodes", FIX_EXPORT},
	{"guidelines/output_not_produced.onnx", "onnx-invalid", NULL, E,
	 "graph output 'y' is produced by no node", FIX_EXPORT},
	{"rules/subgraph_output_not_produced.onnx", "onnx-invalid", NULL, E,
	 "graph output 't' is produced by no node in subgraph if.then_branch", FIX_EXPORT},
	/* ... nodes */
	{"guidelines/undefined_input.onnx", "onnx-invalid", "add", E,
	 "node add reads tensor 'nowhere', which no node, graph input or initializer defines", FIX_EXPORT},
	{"guidelines/unsorted.onnx", "onnx-invalid", "second", W,
	 "nodes are not in topological order: node second reads a tensor that node first, later in the "
	 "file, produces (1 such reads)", "sort the nodes topologically"},
	{"guidelines/duplicate_names.onnx", "onnx-invalid", "neg", E,
	 "tensor 'y' is produced by node neg but was already defined by another node", FIX_EXPORT},
	{"rules/output_is_initializer.onnx", "onnx-invalid", "relu", E,
	 "tensor 'w' is produced by node relu but was already defined as an initializer", FIX_EXPORT},
	{"rules/output_is_input.onnx", "onnx-invalid", "relu", E,
	 "tensor 'x' is produced by node relu but was already defined as a graph input", FIX_EXPORT},
	{"rules/no_op_type.onnx", "onnx-invalid", "noop", E, "node noop has no op_type", FIX_EXPORT},
	/* a node reading its own output: a cycle no order can fix */
	{"rules/self_loop.onnx", "onnx-invalid", "loop", E, "node loop is on a cycle", FIX_EXPORT},
	/* ... tensors (initializers belong to the model, a Constant's tensor to its node) */
	{"rules/initializer_twice.onnx", "onnx-invalid", NULL, E, "initializer 'w' is defined twice", FIX_EXPORT},
	{"rules/raw_short.onnx", "onnx-invalid", NULL, E,
	 "tensor 'w' has 12 bytes of raw_data; dims and type float32 need 16", FIX_EXPORT},
	{"rules/typed_short.onnx", "onnx-invalid", NULL, E,
	 "tensor 'w' has 3 stored elements; dims and type float32 need 4", FIX_EXPORT},
	{"rules/negative_dim.onnx", "onnx-invalid", NULL, E,
	 "tensor 'w' has dimension 0 of -4, which is not a valid size", FIX_EXPORT},
	{"rules/unknown_dtype.onnx", "onnx-invalid", NULL, E, "tensor 'w' has unknown data type 99", FIX_EXPORT},
	{"rules/strings_short.onnx", "onnx-invalid", NULL, E, "tensor 's' has 2 strings; its dims need 3", FIX_EXPORT},
	{"rules/constant_short.onnx", "onnx-invalid", "k_const", E,
	 "tensor 'kt' has 12 bytes of raw_data; dims and type float32 need 16", FIX_EXPORT},
	{"rules/external_offset_text.onnx", "onnx-invalid", NULL, E,
	 "tensor 'w' has external_data offset \"abc\", which is not a byte count", FIX_EXPORT},
	{"rules/external_no_location.onnx", "onnx-invalid", NULL, E,
	 "tensor 'w' is stored externally but names no location", FIX_EXPORT},
	{"rules/external_length.onnx", "onnx-invalid", NULL, E,
	 "tensor 'w' has external length 8 bytes; its dims and type need 16", FIX_EXPORT},
	{"plan/external_short.onnx", "onnx-invalid", NULL, E,
	 "tensor 'c1_w' reads bytes 0..64 of 'external_short.data', which holds only 40 bytes", FIX_EXPORT},
	/* external data supplied and whole, or not supplied at all: not a defect */
	{"plan/external_ok.onnx", NULL, NULL, NONE, NULL, NULL},
	{"plan/external_missing.onnx", "onnx-invalid", NULL, NONE, NULL, NULL},

	/* reshape-fixed-batch: the batch inferred from fixed features, or a literal one: a hazard
	 * (the model runs, and CLE with it), so warnings */
	{"guidelines/view_fixed_batch_op11.onnx", "reshape-fixed-batch", "op:Reshape", W,
	 "the batch size is inferred from hard-coded feature sizes, so the graph breaks when the input size changes",
	 FIX_VIEW},
	{"guidelines/view_fixed_batch_op13.onnx", "reshape-fixed-batch", "op:Reshape", W,
	 "to the constant shape [-1, 128]: the batch size is inferred", FIX_VIEW},
	/* ... where the data's shape is recorded: whether the -1 is the batch */
	{"rules/reshape_infer_batch.onnx", "reshape-fixed-batch", "reshape", W,
	 "Reshape reshape reshapes 'x' to the constant shape [-1, 16]: the -1 keeps the batch, as 'x' holds 16 "
	 "values a sample, but only while that size stays fixed", FIX_VIEW_OTHER},
	{"rules/reshape_long_shape.onnx", "reshape-fixed-batch", "reshape", W,
	 "to the constant shape [-1, 1, 1, 1, 1, 1, 1, 1, ...]: the -1 keeps the batch", FIX_VIEW_OTHER},
	{"rules/long_names.onnx", "reshape-fixed-batch", "short/Reshape", W,
	 "to the constant shape [-1, 8]: the -1 is not the batch, as 'x' holds 16 values a sample and the shape 8, "
	 "so samples are cut or joined along the first axis", FIX_VIEW},
	{"guidelines/reshape_through_cast.onnx", "reshape-fixed-batch", "reshape", W,
	 "to the constant shape [-1, 4]: the -1 keeps the batch", FIX_VIEW_OTHER},
	{"guidelines/view_literal_batch_op11.onnx", "reshape-fixed-batch", "op:Reshape", W,
	 "fixing the batch size at 1 although the model's input batch is dynamic", FIX_LITERAL},
	{"rules/reshape_literal_batch.onnx", "reshape-fixed-batch", "reshape", W,
	 "Reshape reshape reshapes 'x' to the constant shape [1, 16], fixing the batch size at 1 although the "
	 "model's input batch is dynamic", FIX_LITERAL_OTHER},
	/* ... the fix is in the exporter's terms (producer_name, or paddle2onnx's node names) */
	{"rules/tf2onnx_reshape.onnx", "reshape-fixed-batch", "reshape/Reshape", W,
	 "Reshape reshape/Reshape reshapes 'd' to the constant shape [-1, 1, 76, 32]: the -1 keeps the batch, "
	 "as 'd' holds 2432 values a sample", "nothing to change where the -1 is the batch (tf2onnx writes Keras'"},
	{"rules/tf2onnx_reshape_noinfo.onnx", "reshape-fixed-batch", "reshape/Reshape", W,
	 "the batch size is inferred from hard-coded feature sizes", "tf.reshape(x, [tf.shape(x)[0], -1])"},
	{"rules/pytorch_reshape_mixes.onnx", "reshape-fixed-batch", "reshape/Reshape", W,
	 "the -1 is not the batch, as 'd' holds 2432 values a sample and the shape 1216", FIX_VIEW},
	{"rules/paddle_reshape.onnx", "reshape-fixed-batch", "reshape/Reshape", W,
	 "the batch size is inferred from hard-coded feature sizes",
	 "write paddle.reshape(x, [0, -1]) (0 keeps the batch) or paddle.flatten(x, 1)"},
	/* ... a shape it cannot read */
	{"guidelines/reshape_runtime_shape.onnx", "reshape-fixed-batch", "reshape", I,
	 "the target shape of Reshape reshape is 'shape', which is not a constant, so it could not be checked "
	 "for a hard-coded batch size", FIX_VIEW_OTHER},
	{"rules/reshape_computed.onnx", "reshape-fixed-batch", "reshape", I,
	 "the target shape of Reshape reshape is computed at run time by Shape node shape_of_z and could not be "
	 "checked for a hard-coded batch size", FIX_VIEW_OTHER},
	/* ... and the forms that keep the batch: not flagged */
	{"guidelines/view_size0_op11.onnx", "reshape-fixed-batch", NULL, NONE, NULL, NULL},
	{"guidelines/view_size0_op13.onnx", NULL, NULL, NONE, NULL, NULL},
	{"guidelines/view_size0_static_op11.onnx", "reshape-fixed-batch", NULL, NONE, NULL, NULL},
	{"guidelines/view_size0_static_op13.onnx", NULL, NULL, NONE, NULL, NULL},
	{"plan/reshape_shape_form.onnx", "reshape-fixed-batch", NULL, NONE, NULL, NULL},
	{"rules/reshape_literal_static.onnx", "reshape-fixed-batch", NULL, NONE, NULL, NULL},
	{"rules/reshape_keep_batch.onnx", "reshape-fixed-batch", NULL, NONE, NULL, NULL},
	{"rules/reshape_constant.onnx", "reshape-fixed-batch", NULL, NONE, NULL, NULL},
	/* ... pads computed from constants and reshaped to [-1, 2] (Silero VAD): no batch at all */
	{"rules/reshape_constant_pads.onnx", NULL, NULL, NONE, NULL, NULL},
	{"plan/reshape_flatten.onnx", NULL, NULL, NONE, NULL, NULL},

	/* resize-align-corners: Resize at opsets 11 and 13 (linear, cubic): a hazard for the reference
	 * tool, which the CLE map (which passes any Resize) says the truth about */
	{"guidelines/bilinear_align_corners_op11.onnx", "resize-align-corners", "op:Resize", W,
	 "interpolates with coordinate_transformation_mode=align_corners (bilinear upsampling with "
	 "align_corners=True), which the reference tool (AIMET) cannot trace; the CLE map does not equalize "
	 "across it, for another reason: tensor 'y' is a graph output", FIX_ALIGN},
	{"guidelines/bilinear_align_corners_op13.onnx", "resize-align-corners", "op:Resize", W,
	 "coordinate_transformation_mode=align_corners", FIX_ALIGN},
	{"guidelines/bicubic_align_corners_op11.onnx", "resize-align-corners", "op:Resize", W,
	 "coordinate_transformation_mode=align_corners", FIX_ALIGN},
	{"guidelines/bicubic_align_corners_op13.onnx", "resize-align-corners", "op:Resize", W,
	 "coordinate_transformation_mode=align_corners", FIX_ALIGN},
	{"rules/resize_align_between_convs.onnx", "resize-align-corners", "up", W,
	 "which the reference tool (AIMET) cannot trace; onnx-cle equalizes across it (c1 with c2)",
	 "nothing to do for onnx-cle; for the reference tool, " FIX_ALIGN},
	/* ... the ATen fallback at opsets 9 and 10, by torch and by hand: no runtime runs it */
	{"guidelines/bilinear_align_corners_aten_op9.onnx", "resize-align-corners", "op:upsample_bilinear2d", E,
	 "is PyTorch's upsample_bilinear2d with align_corners=True, exported as an ATen op because opsets 9 "
	 "and 10 cannot express it: ONNX runtimes cannot run it", FIX_ALIGN ", or export at opset 11"},
	{"guidelines/bilinear_align_corners_aten_op10.onnx", "resize-align-corners", "op:upsample_bilinear2d", E,
	 "upsample_bilinear2d with align_corners=True", FIX_ALIGN},
	{"rules/aten_forms.onnx", "resize-align-corners", "aten_align", E,
	 "ATen aten_align is PyTorch's upsample_bilinear2d with align_corners=True", FIX_ALIGN},
	{"rules/aten_forms.onnx", "resize-align-corners", "up_attr", E,
	 "upsample_bilinear2d up_attr is PyTorch's upsample_bilinear2d with align_corners=True", FIX_ALIGN},
	{"rules/aten_forms.onnx", "resize-align-corners", "aten_plain", NONE, NULL, NULL},
	/* ... Upsample with an align_corners attribute: invalid */
	{"rules/upsample_align_corners.onnx", "resize-align-corners", "up", E,
	 "Upsample up carries align_corners=1, which ONNX's Upsample does not define: onnx.checker and "
	 "runtimes refuse the model", FIX_ALIGN_OTHER},
	/* ... and what is fine: align_corners=False at opsets 9 to 13, nearest */
	{"guidelines/bilinear_op9.onnx", NULL, NULL, NONE, NULL, NULL},
	{"guidelines/bilinear_op10.onnx", NULL, NULL, NONE, NULL, NULL},
	{"guidelines/bilinear_op11.onnx", NULL, NULL, NONE, NULL, NULL},
	{"guidelines/bilinear_op13.onnx", NULL, NULL, NONE, NULL, NULL},
	{"guidelines/nearest_op11.onnx", "resize-align-corners", NULL, NONE, NULL, NULL},
	{"rules/resize_nearest_align_corners.onnx", "resize-align-corners", NULL, NONE, NULL, NULL},
	{"plan/resize_scales.onnx", NULL, NULL, NONE, NULL, NULL},
	{"plan/upsample_opset9.onnx", NULL, NULL, NONE, NULL, NULL},

	/* conv-transpose */
	{"guidelines/deconv_op11.onnx", "conv-transpose", "op:ConvTranspose", W,
	 "is a deconvolution, which the reference tool (AIMET) does not support; onnx-cle equalizes it",
	 FIX_DECONV},
	{"guidelines/deconv_op13.onnx", "conv-transpose", "op:ConvTranspose", W, "is a deconvolution", FIX_DECONV},
	{"plan/conv_transpose.onnx", "conv-transpose", "ct", W,
	 "ConvTranspose ct is a deconvolution, which the reference tool (AIMET) does not support",
	 "nothing to do for onnx-cle"},
	{"plan/conv_transpose.onnx", "conv-transpose", "ctg", W, "ConvTranspose ctg is a deconvolution", FIX_DECONV},
	{"plan/conv_transpose.onnx", "conv-transpose", "c1", NONE, NULL, NULL},

	/* quantized-model: said once, for the model; an error when no two float layers are left to
	 * equalize, a warning when some are */
	{"rules/quantized_qdq.onnx", "quantized-model", NULL, E,
	 "the model is already quantized (2 QuantizeLinear and 4 DequantizeLinear): cross-layer equalization "
	 "rescales float weights before quantization, and this model has no two float layers it can scale "
	 "together", QUANTIZED},
	{"rules/quantized_qlinear.onnx", "quantized-model", NULL, E,
	 "(1 QuantizeLinear, 2 QLinearConv and 1 DequantizeLinear)", QUANTIZED},
	{"rules/quantized_dynamic.onnx", "quantized-model", NULL, E,
	 "(1 DynamicQuantizeLinear and 1 ConvInteger)", QUANTIZED},
	{"rules/quantized_partly.onnx", "quantized-model", NULL, W,
	 "the model is partly quantized (1 DynamicQuantizeLinear and 1 MatMulInteger): cross-layer equalization "
	 "belongs before quantization; here it equalizes only the 2 float layers the CLE map pairs", QUANTIZED},
	{"rules/clean.onnx", "quantized-model", NULL, NONE, NULL, NULL},
};

/* BUG rows: what the rules should say; failures are printed, not counted. */
static const struct row known_bugs[] = {
	{NULL, NULL, NULL, NONE, NULL, NULL}, /* none known */
};

static void t_rows(void)
{
	char msg[8192];
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (!check_row(&rows[i], msg, sizeof msg))
			test_fail(__FILE__, __LINE__, "row %zu: %s", i, msg);
}

/* Every rule in the table has a row where it fires. */
static void t_every_rule_has_a_row(void)
{
	size_t i, j;

	for (i = 0; i < rule_count; i++) {
		for (j = 0; j < sizeof rows / sizeof rows[0]; j++)
			if (rows[j].rule && rows[j].severity != NONE && strcmp(rows[j].rule, rule_table[i].id) == 0)
				break;
		CHECK_MSG(j < sizeof rows / sizeof rows[0], "rule %s has no row where it fires", rule_table[i].id);
	}
}

/* A model the loader refuses never reaches the rules: no graph at all. */
static void t_missing_graph(void)
{
	static const uint8_t no_graph[] = {0x08, 0x08}; /* ModelProto { ir_version: 8 } */
	struct onnx_model *m = NULL;
	struct cle_error e;

	CHECK_INT(onnx_load(&m, no_graph, sizeof no_graph, &cle_system_alloc, &e), CLE_E_NOT_ONNX);
	CHECK_MSG(strstr(e.msg, "has no graph") != NULL, "%s", e.msg);
	CHECK(m == NULL);
}

static void t_known_bugs(void)
{
	char msg[8192];
	size_t i;

	for (i = 0; i < sizeof known_bugs / sizeof known_bugs[0] && known_bugs[i].model != NULL; i++) {
		if (!check_row(&known_bugs[i], msg, sizeof msg))
			printf("known bug (not counted): %s\n", msg);
		else
			printf("known bug row %zu (%s) passes now: move it to rows[]\n", i, known_bugs[i].model);
	}
}

int main(int argc, char **argv)
{
	static const struct test tests[] = {
		{"rows", t_rows},
		{"every_rule_has_a_row", t_every_rule_has_a_row},
		{"missing_graph", t_missing_graph},
		{"known_bugs", t_known_bugs},
		{NULL, NULL},
	};

	return test_main(argc, argv, tests);
}
