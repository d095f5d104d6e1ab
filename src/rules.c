/* rules.c — one function per guideline (see rules.h and the table at the
 * end).  The guidelines are AIMET's model guidelines for CLE, mapped onto
 * ONNX graphs. */
#include "rules.h"

#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void add(struct rule_findings *out, const char *rule, enum rule_severity sev,
		const struct graph *g, uint32_t node, const char *fix, const char *fmt, ...)
	CLE_PRINTF(7, 8);

/* Records a finding; on out-of-memory it is dropped and out->failed set. */
static void add(struct rule_findings *out, const char *rule, enum rule_severity sev,
		const struct graph *g, uint32_t node, const char *fix, const char *fmt, ...)
{
	struct rule_finding *f;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (CLE_RESERVE(out->a, out->f, out->cap, (size_t)out->n + 1, 16, NULL) != CLE_OK) {
		out->failed = true;
		return;
	}
	f = &out->f[out->n];
	f->rule = rule;
	f->severity = sev;
	f->g = g;
	f->node = node;
	f->fix = fix;
	f->message = cle_arena_strdup(&out->arena, msg);
	if (f->message == NULL) {
		out->failed = true;
		return;
	}
	out->n++;
	if (sev == RULE_ERROR)
		out->errors++;
	else if (sev == RULE_WARNING)
		out->warnings++;
	else
		out->infos++;
}

static const char *label(const struct graph *g, uint32_t n, char buf[256])
{
	return graph_node_label(g, n, buf, 256);
}

/* ---- onnx-invalid: the file is not a usable graph ------------------------ */

static const char fix_export[] =
	"fix the exporter's output: run onnx.checker.check_model on it; if torch.onnx.export "
	"fails or writes this, rewrite the offending layer so that export passes";

/* A node on a cycle of g (a node that reads, through other nodes or
 * directly, its own output), or GRAPH_NONE.  Kahn's order: what never
 * becomes ready is on a cycle or downstream of one. */
static uint32_t first_on_cycle(struct rule_findings *out, const struct graph *g)
{
	size_t n_node = (size_t)g->n_node + 1;
	uint32_t *wait = cle_calloc(out->a, n_node, sizeof *wait);
	uint32_t *order = cle_calloc(out->a, n_node, sizeof *order);
	uint32_t n, j, k, found = GRAPH_NONE;

	if (wait == NULL || order == NULL) {
		out->failed = true;
		goto fail;
	}
	if (graph_topo_order(g, order, wait) == g->n_node)
		goto fail;
	/* every node left reads from another node left: stepping back n_node
	 * times from one of them ends on a cycle */
	for (n = 0; n < g->n_node && found == GRAPH_NONE; n++)
		if (wait[n] > 0)
			found = n;
	for (k = 0; found != GRAPH_NONE && k < g->n_node; k++)
		for (j = 0; j < g->node[found].n_in; j++) {
			uint32_t v = g->node[found].in[j], p;

			if (v != GRAPH_NONE && (p = g->value[v].producer) != GRAPH_NONE && wait[p] > 0) {
				found = p;
				break;
			}
		}
fail:
	cle_free(out->a, wait, n_node * sizeof *wait);
	cle_free(out->a, order, n_node * sizeof *order);
	return found;
}

static void invalid_graph(struct rule_findings *out, const struct graph *g)
{
	char lb[256], lb2[256];
	uint32_t n, j, v, late = 0, first_late = GRAPH_NONE, first_reader = GRAPH_NONE;

	if (g->n_node == 0 && g->depth == 0)
		add(out, "onnx-invalid", RULE_ERROR, g, GRAPH_NONE, fix_export,
		    "the main graph has no nodes");
	for (n = 0; n < g->n_node; n++) {
		const struct graph_node *nd = &g->node[n];

		for (j = 0; j < nd->n_in; j++) {
			const struct graph_value *val;

			if ((v = nd->in[j]) == GRAPH_NONE)
				continue;
			val = &g->value[v];
			if (val->producer == GRAPH_NONE &&
			    !(val->flags & (GRAPH_IS_INPUT | GRAPH_IS_INITIALIZER | GRAPH_IS_OUTER)))
				add(out, "onnx-invalid", RULE_ERROR, g, n, fix_export,
				    "node %s reads tensor '%s', which no node, graph input or initializer "
				    "defines", label(g, n, lb), val->name);
			else if (val->producer != GRAPH_NONE && val->producer > n) {
				if (late++ == 0) {
					first_late = val->producer;
					first_reader = n;
				}
			}
		}
	}
	for (j = 0; j < g->n_output; j++) {
		const struct graph_value *val = &g->value[g->output[j]];

		if (val->producer == GRAPH_NONE &&
		    !(val->flags & (GRAPH_IS_INPUT | GRAPH_IS_INITIALIZER | GRAPH_IS_OUTER)))
			add(out, "onnx-invalid", RULE_ERROR, g, GRAPH_NONE, fix_export,
			    "graph output '%s' is produced by no node%s%s", val->name,
			    g->path[0] ? " in subgraph " : "", g->path);
	}
	if ((n = first_on_cycle(out, g)) != GRAPH_NONE)
		add(out, "onnx-invalid", RULE_ERROR, g, n, fix_export,
		    "node %s is on a cycle: what it reads depends on its own output, which no runtime "
		    "can compute", label(g, n, lb));
	else if (late > 0)
		add(out, "onnx-invalid", RULE_WARNING, g, first_reader,
		    "sort the nodes topologically (onnx-cle and runtimes accept this order, some tools do not)",
		    "nodes are not in topological order: node %s reads a tensor that node %s, later in the "
		    "file, produces (%u such reads)", label(g, first_reader, lb),
		    label(g, first_late, lb2), (unsigned)late);
}

static void rule_onnx_invalid(struct rule_findings *out, const struct graph_model *gm)
{
	uint32_t i;

	if (graph_opset(gm, "") == 0)
		add(out, "onnx-invalid", RULE_ERROR, gm->main, GRAPH_NONE,
		    "export with torch.onnx.export(..., opset_version=13)",
		    "the model imports no opset for the default domain (ai.onnx)");
	if (gm->ir_version <= 0)
		add(out, "onnx-invalid", RULE_ERROR, gm->main, GRAPH_NONE, fix_export,
		    "the model has no ir_version");
	for (i = 0; i < gm->n_defects; i++) {
		const struct graph_defect *d = &gm->defects[i];

		add(out, "onnx-invalid", RULE_ERROR, d->g, d->node, fix_export, "%s", d->msg);
	}
	for (i = 0; i < gm->n_graphs; i++)
		invalid_graph(out, gm->graphs[i]);
}

/* ---- reshape-fixed-batch: x.view(-1, 1024) ------------------------------- */

static const char fix_view[] =
	"write x.view(x.size(0), -1) or torch.flatten(x, 1) instead of x.view(-1, 1024)";

/* x.view(x.size(0), -1): Concat(Unsqueeze(Gather(Shape(x), 0)), constants). */
static bool batch_from_shape(const struct graph *g, uint32_t concat, uint32_t data)
{
	const struct graph_node *c = &g->node[concat];
	uint32_t j, from;

	for (j = 1; j < c->n_in; j++)
		if (c->in[j] == GRAPH_NONE || ops_trace_const(g, c->in[j], &from) == NULL)
			return false;
	return ops_batch_from_shape(g, concat, data);
}

/* Does any main-graph input have a batch dimension that is not fixed? */
static bool dynamic_batch(const struct graph_model *gm)
{
	uint32_t i;

	for (i = 0; i < gm->main->n_input; i++) {
		const struct graph_value *v = &gm->main->value[gm->main->input[i]];
		int64_t dims[1];
		int32_t rank;

		if (v->flags & GRAPH_IS_INITIALIZER)
			continue;
		if (graph_value_shape(v, &rank, dims, NULL, 1) && rank >= 1 && dims[0] < 0)
			return true;
	}
	return false;
}

/* A shape entry as the model gives it: an integer, else (a float shape,
 * which Reshape does not take) the number; never a cast out of range. */
static const char *dim_text(double v, char buf[32])
{
	if (v >= -0x1p63 && v < 0x1p63 && v == (double)(long long)v)
		snprintf(buf, 32, "%lld", (long long)v);
	else
		snprintf(buf, 32, "%g", v);
	return buf;
}

static void shape_text(const struct graph_const *c, char *buf, size_t n)
{
	size_t i, at = 0;
	double v;
	char d[32];

	at += (size_t)snprintf(buf, n, "[");
	for (i = 0; i < c->count && i < 8 && at < n; i++) {
		graph_const_f64(c, i, &v);
		at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? ", " : "", dim_text(v, d));
	}
	if (at < n)
		snprintf(buf + at, n - at, "%s]", c->count > 8 ? ", ..." : "");
}

static void rule_reshape_fixed_batch(struct rule_findings *out, const struct graph_model *gm)
{
	bool dyn = dynamic_batch(gm);
	char lb[256], lb2[256], sh[128], d[32];
	uint32_t i, n;

	for (i = 0; i < gm->n_graphs; i++) {
		const struct graph *g = gm->graphs[i];

		for (n = 0; n < g->n_node; n++) {
			const struct graph_node *nd = &g->node[n];
			const struct graph_const *c;
			uint32_t from, data;
			double first, v;
			size_t k;
			bool fixed_features = false;

			if (!ops_is(nd, "Reshape") || nd->n_in < 2 || nd->in[1] == GRAPH_NONE ||
			    (data = nd->in[0]) == GRAPH_NONE)
				continue;
			if (graph_resolve(g, data, NULL)->konst != NULL)
				continue; /* reshaping a constant: no batch involved */
			c = ops_trace_const(g, nd->in[1], &from);
			if (c == NULL) {
				if (from != GRAPH_NONE && batch_from_shape(g, from, data))
					continue; /* the x.view(x.size(0), -1) form */
				if (from != GRAPH_NONE)
					add(out, "reshape-fixed-batch", RULE_INFO, g, n, fix_view,
					    "the target shape of Reshape %s is computed at run time by %s node %s and "
					    "could not be checked for a hard-coded batch size", label(g, n, lb),
					    g->node[from].op, label(g, from, lb2));
				else
					add(out, "reshape-fixed-batch", RULE_INFO, g, n, fix_view,
					    "the target shape of Reshape %s is '%s', which is not a constant, so it "
					    "could not be checked for a hard-coded batch size", label(g, n, lb),
					    g->value[nd->in[1]].name);
				continue;
			}
			if (c->count < 2 || !graph_const_f64(c, 0, &first))
				continue;
			for (k = 1; k < c->count; k++)
				if (graph_const_f64(c, k, &v) && v > 0)
					fixed_features = true;
			shape_text(c, sh, sizeof sh);
			if (first == -1 && fixed_features)
				add(out, "reshape-fixed-batch", RULE_ERROR, g, n, fix_view,
				    "Reshape %s reshapes '%s' to the constant shape %s: the batch size is inferred "
				    "from hard-coded feature sizes, so the graph breaks when the input size changes",
				    label(g, n, lb), g->value[data].name, sh);
			else if (first > 0 && dyn)
				add(out, "reshape-fixed-batch", RULE_ERROR, g, n, fix_view,
				    "Reshape %s reshapes '%s' to the constant shape %s, fixing the batch size at %s "
				    "although the model's input batch is dynamic",
				    label(g, n, lb), g->value[data].name, sh, dim_text(first, d));
		}
	}
}

/* ---- resize-align-corners: bilinear upsample with align_corners=True ---- */

static const char fix_align[] =
	"set align_corners=False in torch.nn.functional.interpolate (or nn.Upsample)";

static void rule_resize_align_corners(struct rule_findings *out, const struct graph_model *gm)
{
	char lb[256];
	uint32_t i, n;

	for (i = 0; i < gm->n_graphs; i++) {
		const struct graph *g = gm->graphs[i];

		for (n = 0; n < g->n_node; n++) {
			const struct graph_node *nd = &g->node[n];
			int64_t ac = 0;

			if (ops_is(nd, "Resize")) {
				if (graph_attr_is(nd, "coordinate_transformation_mode", "align_corners") &&
				    (graph_attr_is(nd, "mode", "linear") || graph_attr_is(nd, "mode", "cubic")))
					add(out, "resize-align-corners", RULE_ERROR, g, n, fix_align,
					    "Resize %s interpolates with coordinate_transformation_mode=align_corners "
					    "(bilinear upsampling with align_corners=True)", label(g, n, lb));
			} else if (strcmp(nd->op, "upsample_bilinear2d") == 0 ||
				   (strcmp(nd->op, "ATen") == 0 && graph_attr_is(nd, "operator", "upsample_bilinear2d"))) {
				/* opsets 9 and 10 cannot express align_corners=True; torch's
				 * ATen fallback exports the op itself:
				 * upsample_bilinear2d(input, output_size, align_corners, scales) */
				uint32_t from;
				const struct graph_const *c =
					nd->n_in >= 3 && nd->in[2] != GRAPH_NONE ? ops_trace_const(g, nd->in[2], &from) : NULL;
				double v = 0;

				if ((c != NULL && c->count == 1 && graph_const_f64(c, 0, &v) && v != 0) ||
				    (graph_attr_int(nd, "align_corners", &ac) && ac != 0))
					add(out, "resize-align-corners", RULE_ERROR, g, n, fix_align,
					    "%s %s is PyTorch's upsample_bilinear2d with align_corners=True, exported as "
					    "an ATen op because opsets 9 and 10 cannot express it", nd->op,
					    label(g, n, lb));
			} else if (ops_is(nd, "Upsample") && graph_attr_int(nd, "align_corners", &ac) && ac != 0) {
				add(out, "resize-align-corners", RULE_ERROR, g, n, fix_align,
				    "Upsample %s carries align_corners=1, which ONNX's Upsample does not define",
				    label(g, n, lb));
			}
		}
	}
}

/* ---- conv-transpose: deconvolution -------------------------------------- */

static void rule_conv_transpose(struct rule_findings *out, const struct graph_model *gm)
{
	char lb[256];
	uint32_t i, n;

	for (i = 0; i < gm->n_graphs; i++) {
		const struct graph *g = gm->graphs[i];

		for (n = 0; n < g->n_node; n++)
			if (ops_is(&g->node[n], "ConvTranspose"))
				add(out, "conv-transpose", RULE_WARNING, g, n,
				    "nothing to do for onnx-cle; for the reference tool there is no work-around "
				    "(replace the deconvolution with Upsample + Conv)",
				    "ConvTranspose %s is a deconvolution, which the reference tool (AIMET) does not "
				    "support; onnx-cle equalizes it", label(g, n, lb));
	}
}

const struct rule_def rule_table[] = {
	{"onnx-invalid", "ONNX export must pass",
	 "the file loads but is not a usable ONNX graph", RULE_ERROR, rule_onnx_invalid},
	{"reshape-fixed-batch", "x.view(-1, 1024)",
	 "a Reshape hard-codes the batch size or infers it from fixed feature sizes", RULE_ERROR,
	 rule_reshape_fixed_batch},
	{"resize-align-corners", "bilinear upsample with align_corners=True",
	 "bilinear upsampling with align_corners=True", RULE_ERROR, rule_resize_align_corners},
	{"conv-transpose", "deconvolution is not supported by the reference tool",
	 "a ConvTranspose (deconvolution)", RULE_WARNING, rule_conv_transpose},
};
const size_t rule_count = sizeof rule_table / sizeof rule_table[0];

enum cle_status rules_run(struct rule_findings *out, const struct graph_model *gm,
			  const struct cle_alloc *a, struct cle_error *e)
{
	size_t i;

	memset(out, 0, sizeof *out);
	out->a = a;
	cle_arena_init(&out->arena, a);
	for (i = 0; i < rule_count; i++)
		rule_table[i].fn(out, gm);
	if (out->failed) {
		rules_free(out);
		return cle_errorf(e, CLE_E_NOMEM, "out of memory checking the model");
	}
	return CLE_OK;
}

void rules_free(struct rule_findings *r)
{
	cle_free(r->a, r->f, r->cap * sizeof *r->f);
	cle_arena_free(&r->arena);
	r->f = NULL;
	r->n = 0;
	r->cap = 0;
}

const char *rule_severity_name(enum rule_severity s)
{
	return s == RULE_ERROR ? "error" : s == RULE_WARNING ? "warning" : "info";
}
