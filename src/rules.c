/* rules.c — one function per guideline (see rules.h and the table at the
 * end).  The guidelines are AIMET's model guidelines for CLE, mapped onto
 * ONNX graphs. */
#include "rules.h"

#include "cle.h"
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void add(struct rule_findings *out, const char *rule, enum rule_severity sev,
		const struct graph *g, uint32_t node, const char *fix, const char *fmt, ...)
	CLE_PRINTF(7, 8);

/* Records a finding (message and fix copied); on out-of-memory it is
 * dropped and out->failed set. */
static void add(struct rule_findings *out, const char *rule, enum rule_severity sev,
		const struct graph *g, uint32_t node, const char *fix, const char *fmt, ...)
{
	struct rule_finding *f;
	char msg[768];
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
	f->fix = cle_arena_strdup(&out->arena, fix);
	f->message = cle_arena_strdup(&out->arena, msg);
	if (f->message == NULL || f->fix == NULL) {
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

/* A fix for each producer, in enum rule_producer order. */
struct fix {
	const char *by[RULE_OTHER + 1];
};

static const char *fix_for(const struct rule_findings *out, const struct fix *f)
{
	return f->by[out->producer];
}

static bool has_word(const char *s, const char *word)
{
	size_t n = strlen(word), i;

	for (; *s; s++) {
		for (i = 0; i < n; i++) {
			char c = s[i];

			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (c != word[i])
				break;
		}
		if (i == n)
			return true;
	}
	return false;
}

/* Who wrote gm: its producer_name, else paddle2onnx's "p2o." node names. */
static enum rule_producer producer_of(const struct graph_model *gm)
{
	const char *name = gm->producer_name;
	uint32_t n;

	for (n = 0; name[0] == '\0' && n < gm->main->n_node; n++)
		if (strncmp(gm->main->node[n].name, "p2o.", 4) == 0)
			return RULE_PADDLE;
	if (has_word(name, "torch"))
		return RULE_PYTORCH;
	if (has_word(name, "tf2onnx") || has_word(name, "keras") || has_word(name, "tensorflow"))
		return RULE_TF;
	if (has_word(name, "paddle"))
		return RULE_PADDLE;
	return RULE_OTHER;
}

/* ---- onnx-invalid: the file is not a usable graph ------------------------ */

static const struct fix fix_export = {{
	"fix the exporter's output: run onnx.checker.check_model on it; if torch.onnx.export "
	"fails or writes this, rewrite the offending layer so that export passes",
	"fix the exporter's output: run onnx.checker.check_model on it; if tf2onnx fails or "
	"writes this, rewrite the offending layer (or try another --opset) so that conversion passes",
	"fix the exporter's output: run onnx.checker.check_model on it; if paddle2onnx fails or "
	"writes this, rewrite the offending layer (or try another --opset_version) so that "
	"conversion passes",
	"fix the exporter's output: run onnx.checker.check_model on it, and rewrite what wrote "
	"this so that it passes",
}};

static const struct fix fix_opset = {{
	"export with torch.onnx.export(..., opset_version=13)",
	"convert with python -m tf2onnx.convert ... --opset 13",
	"convert with paddle2onnx ... --opset_version 13",
	"import the default domain (ai.onnx) in opset_import, at the version the model's ops "
	"were written for",
}};

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
		add(out, "onnx-invalid", RULE_ERROR, g, GRAPH_NONE, fix_for(out, &fix_export),
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
				add(out, "onnx-invalid", RULE_ERROR, g, n, fix_for(out, &fix_export),
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
			add(out, "onnx-invalid", RULE_ERROR, g, GRAPH_NONE, fix_for(out, &fix_export),
			    "graph output '%s' is produced by no node%s%s", val->name,
			    g->path[0] ? " in subgraph " : "", g->path);
	}
	if ((n = first_on_cycle(out, g)) != GRAPH_NONE)
		add(out, "onnx-invalid", RULE_ERROR, g, n, fix_for(out, &fix_export),
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
		add(out, "onnx-invalid", RULE_ERROR, gm->main, GRAPH_NONE, fix_for(out, &fix_opset),
		    "the model imports no opset for the default domain (ai.onnx)");
	if (gm->ir_version <= 0)
		add(out, "onnx-invalid", RULE_ERROR, gm->main, GRAPH_NONE, fix_for(out, &fix_export),
		    "the model has no ir_version");
	for (i = 0; i < gm->n_defects; i++) {
		const struct graph_defect *d = &gm->defects[i];

		add(out, "onnx-invalid", RULE_ERROR, d->g, d->node, fix_for(out, &fix_export), "%s", d->msg);
	}
	for (i = 0; i < gm->n_graphs; i++)
		invalid_graph(out, gm->graphs[i]);
}

/* ---- reshape-fixed-batch: x.view(-1, 1024) ------------------------------- */

/* -1 at the batch axis with fixed feature sizes (or a shape not checked) */
static const struct fix fix_view = {{
	"write x.view(x.size(0), -1) or torch.flatten(x, 1) instead of x.view(-1, 1024)",
	"nothing to change where the -1 is the batch (tf2onnx writes Keras' Reshape and Flatten "
	"so); elsewhere reshape with tf.reshape(x, [tf.shape(x)[0], -1])",
	"write paddle.reshape(x, [0, -1]) (0 keeps the batch) or paddle.flatten(x, 1) instead of "
	"paddle.reshape(x, [-1, 1024])",
	"keep the batch in the target shape, 0 (which copies the input's dimension) in place of "
	"-1, or use Flatten(axis=1)",
}};

/* a literal batch size */
static const struct fix fix_literal = {{
	"write x.view(x.size(0), -1) instead of x.view(1, -1), or export without a dynamic batch "
	"axis",
	"reshape with tf.reshape(x, [tf.shape(x)[0], -1]) instead of a literal batch size",
	"write paddle.reshape(x, [0, -1]) (0 keeps the batch) instead of a literal batch size",
	"put 0 (which copies the input's dimension) at the batch axis instead of a literal size",
}};

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

/* Scratch for activation(): a stamp per value, and a stack. */
struct walk {
	uint32_t *mark, *stack;
	uint32_t stamp;
	size_t n;
};

/* Does value v of g carry activations: does it depend on a graph input (or
 * on an enclosing graph's tensor, or a subgraph's result) other than
 * through its shape (Shape, Size)?  A tensor computed from constants alone
 * (pads, a shape) has no batch to fix. */
static bool activation(struct walk *w, const struct graph *g, uint32_t v)
{
	uint32_t top = 0, j;

	if (++w->stamp == 0) { /* wrapped: start the marks over */
		memset(w->mark, 0, w->n * sizeof *w->mark);
		w->stamp = 1;
	}
	w->mark[v] = w->stamp;
	w->stack[top++] = v;
	while (top > 0) {
		uint32_t x = w->stack[--top];
		const struct graph_value *val = &g->value[x];
		const struct graph_node *nd;
		const struct ops_def *def;

		if (graph_resolve(g, x, NULL)->konst != NULL)
			continue;
		if (val->flags & (GRAPH_IS_INPUT | GRAPH_IS_OUTER))
			return true;
		if (val->producer == GRAPH_NONE)
			continue; /* defined nowhere: onnx-invalid says so */
		nd = &g->node[val->producer];
		if (nd->n_sub > 0)
			return true;
		if ((def = ops_find(nd)) != NULL && def->role == OPS_SHAPE)
			continue;
		for (j = 0; j < nd->n_in; j++) {
			uint32_t in = nd->in[j];

			if (in != GRAPH_NONE && w->mark[in] != w->stamp) {
				w->mark[in] = w->stamp;
				w->stack[top++] = in;
			}
		}
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

/* Values per sample of value v (its recorded shape without the first
 * dimension), or 0 when unknown. */
static double per_sample(const struct graph *g, uint32_t v)
{
	int64_t dims[16];
	int32_t rank, i;
	double n = 1;

	if (!graph_value_shape(graph_resolve(g, v, NULL), &rank, dims, NULL, 16) || rank < 1 || rank > 16)
		return 0;
	for (i = 1; i < rank; i++) {
		if (dims[i] <= 0)
			return 0;
		n *= (double)dims[i];
	}
	return n < 9007199254740992.0 ? n : 0;
}

/* The product of shape c's dimensions after the first, 0 if one is not
 * a fixed size. */
static double rest_of(const struct graph_const *c)
{
	double n = 1, v;
	size_t k;

	for (k = 1; k < c->count; k++) {
		if (!graph_const_f64(c, k, &v) || v <= 0)
			return 0;
		n *= v;
	}
	return n < 9007199254740992.0 ? n : 0;
}

/* Reshape n of g to the constant shape c, its first dimension first. */
static void reshape_const(struct rule_findings *out, const struct graph *g, uint32_t n,
			  const struct graph_const *c, double first, bool dyn)
{
	uint32_t data = g->node[n].in[0];
	double each = per_sample(g, data), rest = rest_of(c);
	const char *name = g->value[data].name;
	char lb[256], sh[128], d[32];
	bool fixed_features = false;
	size_t k;
	double v;

	for (k = 1; k < c->count; k++)
		if (graph_const_f64(c, k, &v) && v > 0)
			fixed_features = true;
	shape_text(c, sh, sizeof sh);
	if (first == -1 && fixed_features && each > 0 && each == rest)
		add(out, "reshape-fixed-batch", RULE_WARNING, g, n, fix_for(out, &fix_view),
		    "Reshape %s reshapes '%s' to the constant shape %s: the -1 keeps the batch, as '%s' "
		    "holds %.0f values a sample, but only while that size stays fixed", label(g, n, lb),
		    name, sh, name, each);
	else if (first == -1 && fixed_features && each > 0 && rest > 0)
		add(out, "reshape-fixed-batch", RULE_WARNING, g, n, fix_for(out, &fix_view),
		    "Reshape %s reshapes '%s' to the constant shape %s: the -1 is not the batch, as '%s' "
		    "holds %.0f values a sample and the shape %.0f, so samples are cut or joined along the "
		    "first axis", label(g, n, lb), name, sh, name, each, rest);
	else if (first == -1 && fixed_features)
		add(out, "reshape-fixed-batch", RULE_WARNING, g, n, fix_for(out, &fix_view),
		    "Reshape %s reshapes '%s' to the constant shape %s: the batch size is inferred from "
		    "hard-coded feature sizes, so the graph breaks when the input size changes",
		    label(g, n, lb), name, sh);
	else if (first > 0 && dyn)
		add(out, "reshape-fixed-batch", RULE_WARNING, g, n, fix_for(out, &fix_literal),
		    "Reshape %s reshapes '%s' to the constant shape %s, fixing the batch size at %s "
		    "although the model's input batch is dynamic", label(g, n, lb), name, sh,
		    dim_text(first, d));
}

/* Reshape n of g, whose target shape is computed by node from (or is not
 * a constant at all, from == GRAPH_NONE). */
static void reshape_computed(struct rule_findings *out, const struct graph *g, uint32_t n,
			     uint32_t from)
{
	char lb[256], lb2[256];

	if (from != GRAPH_NONE && batch_from_shape(g, from, g->node[n].in[0]))
		return; /* the x.view(x.size(0), -1) form */
	if (from != GRAPH_NONE)
		add(out, "reshape-fixed-batch", RULE_INFO, g, n, fix_for(out, &fix_view),
		    "the target shape of Reshape %s is computed at run time by %s node %s and could not "
		    "be checked for a hard-coded batch size", label(g, n, lb), g->node[from].op,
		    label(g, from, lb2));
	else
		add(out, "reshape-fixed-batch", RULE_INFO, g, n, fix_for(out, &fix_view),
		    "the target shape of Reshape %s is '%s', which is not a constant, so it could not be "
		    "checked for a hard-coded batch size", label(g, n, lb), g->value[g->node[n].in[1]].name);
}

static void reshapes_of(struct rule_findings *out, const struct graph *g, struct walk *w, bool dyn)
{
	uint32_t n;

	for (n = 0; n < g->n_node; n++) {
		const struct graph_node *nd = &g->node[n];
		const struct graph_const *c;
		uint32_t from;
		double first;

		if (!ops_is(nd, "Reshape") || nd->n_in < 2 || nd->in[1] == GRAPH_NONE ||
		    nd->in[0] == GRAPH_NONE)
			continue;
		if (!activation(w, g, nd->in[0]))
			continue; /* computed from constants or shapes: no batch involved */
		c = ops_trace_const(g, nd->in[1], &from);
		if (c == NULL)
			reshape_computed(out, g, n, from);
		else if (c->count >= 2 && graph_const_f64(c, 0, &first))
			reshape_const(out, g, n, c, first, dyn);
	}
}

static void rule_reshape_fixed_batch(struct rule_findings *out, const struct graph_model *gm)
{
	bool dyn = dynamic_batch(gm);
	struct walk w = {NULL, NULL, 0, 0};
	uint32_t i;

	for (i = 0; i < gm->n_graphs; i++) {
		const struct graph *g = gm->graphs[i];

		cle_free(out->a, w.mark, w.n * sizeof *w.mark);
		cle_free(out->a, w.stack, w.n * sizeof *w.stack);
		w.n = (size_t)g->n_value + 1;
		w.stamp = 0;
		w.mark = cle_calloc(out->a, w.n, sizeof *w.mark);
		w.stack = cle_calloc(out->a, w.n, sizeof *w.stack);
		if (w.mark == NULL || w.stack == NULL) {
			out->failed = true;
			break;
		}
		reshapes_of(out, g, &w, dyn);
	}
	cle_free(out->a, w.mark, w.n * sizeof *w.mark);
	cle_free(out->a, w.stack, w.n * sizeof *w.stack);
}

/* ---- resize-align-corners: bilinear upsample with align_corners=True ---- */

static const struct fix fix_align = {{
	"set align_corners=False in torch.nn.functional.interpolate (or nn.Upsample)",
	"resize with tf.image.resize (half-pixel centers) instead of align_corners=True",
	"set align_corners=False in paddle.nn.functional.interpolate (or nn.Upsample)",
	"resize with coordinate_transformation_mode=half_pixel instead of align_corners",
}};

/* What the CLE map says of the channels through node n of g, as the end
 * of a sentence, into buf; true when layers are equalized across it. */
static bool map_across(const struct cle_plan *p, const struct graph *g, uint32_t n, char *buf,
		       size_t cap)
{
	char lb[256], lb2[256];
	uint32_t r, j;

	for (r = 0; r < p->n_regions; r++) {
		const struct cle_region *rg = &p->regions[r];

		if (rg->g != g)
			continue;
		for (j = 0; j < rg->n_through && rg->through[j] != n; j++)
			;
		if (j == rg->n_through)
			continue;
		if (cle_region_open(p, r) && rg->n_producers > 0 && rg->n_consumers > 0) {
			const struct cle_layer *a = &p->layers[rg->producers[0]];
			const struct cle_layer *b = &p->layers[rg->consumers[0]];

			snprintf(buf, cap, "onnx-cle equalizes across it (%s with %s%s)",
				 label(a->g, a->node, lb), label(b->g, b->node, lb2),
				 rg->n_producers + rg->n_consumers > 2 ? ", and more" : "");
			return true;
		}
		snprintf(buf, cap, "the CLE map does not equalize across it, for another reason: %s",
			 rg->blocked ? rg->blocked : "no layer reads what it writes");
		return false;
	}
	snprintf(buf, cap, "no layer's output reaches it, so it limits no equalization here");
	return false;
}

/* Resize n of g with align_corners: a hazard for the reference tool, which
 * cannot trace it; for onnx-cle a Resize passes channels in any mode. */
static void resize_align(struct rule_findings *out, const struct graph *g, uint32_t n)
{
	char lb[256], map[640], fix[512];
	bool across = out->plan != NULL && map_across(out->plan, g, n, map, sizeof map);

	if (across)
		snprintf(fix, sizeof fix, "nothing to do for onnx-cle; for the reference tool, %s",
			 fix_for(out, &fix_align));
	else
		snprintf(fix, sizeof fix, "%s", fix_for(out, &fix_align));
	add(out, "resize-align-corners", RULE_WARNING, g, n, fix,
	    "Resize %s interpolates with coordinate_transformation_mode=align_corners (bilinear "
	    "upsampling with align_corners=True), which the reference tool (AIMET) cannot trace%s%s",
	    label(g, n, lb), out->plan ? "; " : "", out->plan ? map : "");
}

static void rule_resize_align_corners(struct rule_findings *out, const struct graph_model *gm)
{
	char lb[256], fix[512];
	uint32_t i, n;

	for (i = 0; i < gm->n_graphs; i++) {
		const struct graph *g = gm->graphs[i];

		for (n = 0; n < g->n_node; n++) {
			const struct graph_node *nd = &g->node[n];
			int64_t ac = 0;

			if (ops_is(nd, "Resize")) {
				if (graph_attr_is(nd, "coordinate_transformation_mode", "align_corners") &&
				    (graph_attr_is(nd, "mode", "linear") || graph_attr_is(nd, "mode", "cubic")))
					resize_align(out, g, n);
			} else if (strcmp(nd->op, "upsample_bilinear2d") == 0 ||
				   (strcmp(nd->op, "ATen") == 0 && graph_attr_is(nd, "operator", "upsample_bilinear2d"))) {
				/* opsets 9 and 10 cannot express align_corners=True; torch's
				 * ATen fallback exports the op itself:
				 * upsample_bilinear2d(input, output_size, align_corners, scales) */
				uint32_t from;
				const struct graph_const *c =
					nd->n_in >= 3 && nd->in[2] != GRAPH_NONE ? ops_trace_const(g, nd->in[2], &from) : NULL;
				double v = 0;

				snprintf(fix, sizeof fix, "%s, or export at opset 11 or later, where it is a Resize",
					 fix_align.by[RULE_PYTORCH]); /* only torch writes this op */
				if ((c != NULL && c->count == 1 && graph_const_f64(c, 0, &v) && v != 0) ||
				    (graph_attr_int(nd, "align_corners", &ac) && ac != 0))
					add(out, "resize-align-corners", RULE_ERROR, g, n, fix,
					    "%s %s is PyTorch's upsample_bilinear2d with align_corners=True, exported as "
					    "an ATen op because opsets 9 and 10 cannot express it: ONNX runtimes cannot "
					    "run it, and CLE cannot pass through it", nd->op, label(g, n, lb));
			} else if (ops_is(nd, "Upsample") && graph_attr_int(nd, "align_corners", &ac) && ac != 0) {
				add(out, "resize-align-corners", RULE_ERROR, g, n, fix_for(out, &fix_align),
				    "Upsample %s carries align_corners=1, which ONNX's Upsample does not define: "
				    "onnx.checker and runtimes refuse the model", label(g, n, lb));
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

/* ---- quantized-model: CLE belongs before quantization ------------------- */

/* The ops of quantized models: onnxruntime.quantization's QDQ and
 * QOperator forms (default domain and com.microsoft), and its dynamic
 * and weight-only forms; also every op named QLinear*. */
static const char *const quantized_ops[] = {
	"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger",
	"QGemm", "QAttention", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "DynamicQuantizeLSTM",
	"MatMulNBits", "MatMulBnb4", "GatherBlockQuantized", NULL,
};

static bool quantized_op(const struct graph_node *nd)
{
	size_t i;

	if (nd->domain[0] != '\0' && strcmp(nd->domain, "ai.onnx") != 0 &&
	    strcmp(nd->domain, "com.microsoft") != 0)
		return false;
	if (strncmp(nd->op, "QLinear", 7) == 0)
		return true;
	for (i = 0; quantized_ops[i] != NULL; i++)
		if (strcmp(nd->op, quantized_ops[i]) == 0)
			return true;
	return false;
}

/* The quantized ops of gm, as "12 QLinearConv, 2 QuantizeLinear and 1
 * DequantizeLinear" (the first four kinds, in order of appearance, then
 * "and N more"), into buf; returns how many nodes there are. */
static uint32_t quantized_summary(const struct graph_model *gm, char *buf, size_t cap)
{
	struct {
		const char *op;
		uint32_t n;
	} kinds[4];
	uint32_t n_kinds = 0, total = 0, others = 0, i, n, k;
	size_t at = 0;

	for (i = 0; i < gm->n_graphs; i++) {
		const struct graph *g = gm->graphs[i];

		for (n = 0; n < g->n_node; n++) {
			if (!quantized_op(&g->node[n]))
				continue;
			total++;
			for (k = 0; k < n_kinds && strcmp(kinds[k].op, g->node[n].op) != 0; k++)
				;
			if (k < n_kinds) {
				kinds[k].n++;
			} else if (n_kinds < 4) {
				kinds[n_kinds].op = g->node[n].op;
				kinds[n_kinds++].n = 1;
			} else {
				others++;
			}
		}
	}
	buf[0] = '\0';
	for (k = 0; k < n_kinds && at < cap; k++)
		at += (size_t)snprintf(buf + at, cap - at, "%s%u %s",
				       k == 0 ? "" : k + 1 == n_kinds && others == 0 ? " and " : ", ",
				       (unsigned)kinds[k].n, kinds[k].op);
	if (others > 0 && at < cap)
		snprintf(buf + at, cap - at, " and %u more", (unsigned)others);
	return total;
}

static void rule_quantized_model(struct rule_findings *out, const struct graph_model *gm)
{
	static const char fix[] = "equalize the float model this one was quantized from, then "
				  "quantize the result";
	struct cle_map_totals t;
	char ops[256];

	if (quantized_summary(gm, ops, sizeof ops) == 0)
		return;
	if (out->plan == NULL) {
		add(out, "quantized-model", RULE_WARNING, gm->main, GRAPH_NONE, fix,
		    "the model is already quantized (%s): cross-layer equalization belongs before "
		    "quantization", ops);
		return;
	}
	cle_map_totals(out->plan, &t);
	if (t.paired == 0)
		add(out, "quantized-model", RULE_ERROR, gm->main, GRAPH_NONE, fix,
		    "the model is already quantized (%s): cross-layer equalization rescales float weights "
		    "before quantization, and this model has no two float layers it can scale together",
		    ops);
	else
		add(out, "quantized-model", RULE_WARNING, gm->main, GRAPH_NONE, fix,
		    "the model is partly quantized (%s): cross-layer equalization belongs before "
		    "quantization; here it equalizes only the %u float layers the CLE map pairs", ops,
		    (unsigned)t.paired);
}

const char *rules_nothing_to_equalize(const struct graph_model *gm, const struct cle_plan *p,
				      char *buf, size_t n)
{
	struct cle_map_totals t;
	char ops[256];

	cle_map_totals(p, &t);
	if (t.paired > 0)
		return NULL;
	if (quantized_summary(gm, ops, sizeof ops) > 0)
		snprintf(buf, n, "the model is already quantized (%s), and cross-layer equalization "
			 "belongs before quantization", ops);
	else if (p->n_layers == 0)
		snprintf(buf, n, "the model has no Conv, ConvTranspose, Gemm or MatMul layer");
	else
		snprintf(buf, n, "no two of its %u layers can be scaled together (check's CLE map says "
			 "why for each)", (unsigned)p->n_layers);
	return buf;
}

const struct rule_def rule_table[] = {
	{"onnx-invalid", "ONNX export must pass",
	 "the file loads but is not a usable ONNX graph", RULE_ERROR, rule_onnx_invalid},
	{"quantized-model", "equalize before quantizing",
	 "the model is already quantized", RULE_WARNING, rule_quantized_model},
	{"reshape-fixed-batch", "x.view(-1, 1024)",
	 "a Reshape hard-codes the batch size or infers it from fixed feature sizes", RULE_WARNING,
	 rule_reshape_fixed_batch},
	{"resize-align-corners", "bilinear upsample with align_corners=True",
	 "bilinear upsampling with align_corners=True", RULE_WARNING, rule_resize_align_corners},
	{"conv-transpose", "deconvolution is not supported by the reference tool",
	 "a ConvTranspose (deconvolution)", RULE_WARNING, rule_conv_transpose},
};
const size_t rule_count = sizeof rule_table / sizeof rule_table[0];

enum cle_status rules_run(struct rule_findings *out, const struct graph_model *gm,
			  const struct cle_plan *plan, const struct cle_alloc *a, struct cle_error *e)
{
	size_t i;

	memset(out, 0, sizeof *out);
	out->a = a;
	out->plan = plan;
	out->producer = producer_of(gm);
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
