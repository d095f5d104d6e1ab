/* report.c — JSON and text documents from the graph index.  Writers append
 * to a cle_buf and never check for errors themselves: the buffer's status
 * is sticky and read once by the caller. */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cle_version.h"
#include "cle.h"
#include "graph.h"
#include "rules.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t need, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (need > n)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

void report_json_strn(struct cle_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	cle_buf_append(b, "\"", 1);
	while (p < end) {
		const unsigned char *run = p;
		size_t k;

		/* copy plain runs in one go */
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		cle_buf_append(b, run, (size_t)(p - run));
		if (p == end)
			break;
		switch (*p) {
		case '"':
			cle_buf_puts(b, "\\\"");
			p++;
			continue;
		case '\\':
			cle_buf_puts(b, "\\\\");
			p++;
			continue;
		case '\n':
			cle_buf_puts(b, "\\n");
			p++;
			continue;
		case '\t':
			cle_buf_puts(b, "\\t");
			p++;
			continue;
		case '\r':
			cle_buf_puts(b, "\\r");
			p++;
			continue;
		default:
			break;
		}
		if (*p < 0x20) {
			cle_buf_printf(b, "\\u%04x", *p);
			p++;
			continue;
		}
		k = utf8_len(p, (size_t)(end - p));
		if (k == 0) {
			cle_buf_puts(b, "\\ufffd");
			p++;
			continue;
		}
		cle_buf_append(b, p, k);
		p += k;
	}
	cle_buf_append(b, "\"", 1);
}

void report_json_str(struct cle_buf *b, const char *s)
{
	report_json_strn(b, s, strlen(s));
}

/* ---- info -------------------------------------------------------------- */

struct op_count {
	const char *op;
	uint32_t n;
};

/* s for a terminal: control characters (C0, DEL, and C1 as UTF-8 writes
 * them) as \xHH, so that a name read from a model can neither move the
 * cursor nor retitle the window.  Into buf (n bytes, cut to fit). */
const char *report_safe(const char *s, char *buf, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t at = 0;

	for (; *p && at + 5 < n; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			at += (size_t)snprintf(buf + at, n - at, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			at += (size_t)snprintf(buf + at, n - at, "\\u%04x", p[1]);
			p++;
		} else {
			buf[at++] = (char)*p;
		}
	}
	buf[at] = '\0';
	return buf;
}

static int op_cmp(const void *x, const void *y)
{
	return strcmp(((const struct op_count *)x)->op, ((const struct op_count *)y)->op);
}

/* Main-graph op counts, sorted by op name; NULL (and the buffer failed) on OOM. */
static struct op_count *count_ops(struct cle_buf *b, const struct graph *g, size_t *n_out)
{
	struct op_count *ops;
	size_t n = 0, i, j;

	*n_out = 0;
	ops = cle_calloc(b->a, g->n_node + 1, sizeof *ops);
	if (ops == NULL) {
		b->status = CLE_E_NOMEM;
		return NULL;
	}
	for (i = 0; i < g->n_node; i++) {
		ops[i].op = g->node[i].op;
		ops[i].n = 1;
	}
	qsort(ops, g->n_node, sizeof *ops, op_cmp);
	for (i = 0; i < g->n_node; i = j) {
		for (j = i + 1; j < g->n_node && strcmp(ops[j].op, ops[i].op) == 0; j++)
			;
		ops[n].op = ops[i].op;
		ops[n].n = (uint32_t)(j - i);
		n++;
	}
	*n_out = n;
	return ops;
}

struct weights {
	uint32_t n_init, n_const, n_external;
	uint64_t init_bytes, const_bytes;
};

static uint64_t const_bytes(const struct graph_const *c)
{
	unsigned bits = graph_dtype_bits(c->dtype);

	return bits < 8 ? (c->elements + 1) / 2 : c->elements * (bits / 8);
}

static void count_weights(const struct graph *g, struct weights *w)
{
	uint32_t i;

	memset(w, 0, sizeof *w);
	for (i = 0; i < g->n_init; i++) {
		const struct graph_const *c = g->value[g->init[i]].konst;

		w->n_init++;
		w->init_bytes += const_bytes(c);
		w->n_external += c->external;
	}
	for (i = 0; i < g->n_value; i++) {
		const struct graph_value *v = &g->value[i];

		if (v->flags & GRAPH_IS_CONSTANT) {
			w->n_const++;
			w->const_bytes += const_bytes(v->konst);
			w->n_external += v->konst->external;
		}
	}
}

#define MAX_DIMS 64

static void json_value_info(struct cle_buf *b, const struct graph_value *v)
{
	int64_t dims[MAX_DIMS];
	const char *params[MAX_DIMS];
	const char *tn = graph_dtype_name(v->elem_type);
	int32_t rank, i;

	cle_buf_puts(b, "{\"name\":");
	report_json_str(b, v->name);
	cle_buf_puts(b, ",\"elem_type\":");
	if (tn != NULL)
		report_json_str(b, tn);
	else
		cle_buf_puts(b, "null");
	cle_buf_puts(b, ",\"shape\":");
	if (!graph_value_shape(v, &rank, dims, params, MAX_DIMS) || rank > MAX_DIMS) {
		cle_buf_puts(b, "null}");
		return;
	}
	cle_buf_puts(b, "[");
	for (i = 0; i < rank; i++) {
		if (i > 0)
			cle_buf_puts(b, ",");
		if (dims[i] >= 0)
			cle_buf_printf(b, "%lld", (long long)dims[i]);
		else if (params[i] != NULL)
			report_json_str(b, params[i]);
		else
			cle_buf_puts(b, "null");
	}
	cle_buf_puts(b, "]}");
}

static void text_value_info(struct cle_buf *b, const struct graph_value *v)
{
	int64_t dims[MAX_DIMS];
	const char *params[MAX_DIMS];
	const char *tn = graph_dtype_name(v->elem_type);
	char sb[512];
	int32_t rank, i;

	cle_buf_printf(b, "%s: %s", report_safe(v->name, sb, sizeof sb), tn ? tn : "?");
	if (!graph_value_shape(v, &rank, dims, params, MAX_DIMS) || rank > MAX_DIMS)
		return;
	cle_buf_puts(b, " [");
	for (i = 0; i < rank; i++) {
		if (i > 0)
			cle_buf_puts(b, ", ");
		if (dims[i] >= 0)
			cle_buf_printf(b, "%lld", (long long)dims[i]);
		else
			cle_buf_puts(b, params[i] ? report_safe(params[i], sb, sizeof sb) : "?");
	}
	cle_buf_puts(b, "]");
}

static void info_json(struct cle_buf *b, const struct graph_model *gm, size_t n_file,
		      const struct op_count *ops, size_t n_ops, const struct weights *w)
{
	const struct graph *g = gm->main;
	uint32_t i;

	cle_buf_printf(b, "{\"ir_version\":%lld,\"producer\":{\"name\":", (long long)gm->ir_version);
	report_json_str(b, gm->producer_name);
	cle_buf_puts(b, ",\"version\":");
	report_json_str(b, gm->producer_version);
	cle_buf_puts(b, "},\"opset\":{");
	for (i = 0; i < gm->n_opset; i++) {
		if (i > 0)
			cle_buf_puts(b, ",");
		report_json_str(b, gm->opset[i].domain);
		cle_buf_printf(b, ":%lld", (long long)gm->opset[i].version);
	}
	cle_buf_printf(b, "},\"file_bytes\":%zu,\"node_count\":%u,\"op_counts\":{", n_file,
		       (unsigned)g->n_node);
	for (i = 0; i < n_ops; i++) {
		if (i > 0)
			cle_buf_puts(b, ",");
		report_json_str(b, ops[i].op);
		cle_buf_printf(b, ":%u", (unsigned)ops[i].n);
	}
	cle_buf_printf(b,
		       "},\"initializer_count\":%u,\"initializer_bytes\":%llu,"
		       "\"constant_count\":%u,\"constant_bytes\":%llu,\"external_tensor_count\":%u,"
		       "\"inputs\":[",
		       (unsigned)w->n_init, (unsigned long long)w->init_bytes, (unsigned)w->n_const,
		       (unsigned long long)w->const_bytes, (unsigned)w->n_external);
	for (i = 0; i < g->n_input; i++) {
		if (i > 0)
			cle_buf_puts(b, ",");
		json_value_info(b, &g->value[g->input[i]]);
	}
	cle_buf_puts(b, "],\"outputs\":[");
	for (i = 0; i < g->n_output; i++) {
		if (i > 0)
			cle_buf_puts(b, ",");
		json_value_info(b, &g->value[g->output[i]]);
	}
	cle_buf_printf(b, "],\"subgraph_count\":%u}", (unsigned)graph_subgraph_count(gm));
}

static void info_text(struct cle_buf *b, const struct graph_model *gm, const char *file,
		      size_t n_file, const struct op_count *ops, size_t n_ops,
		      const struct weights *w)
{
	const struct graph *g = gm->main;
	char sz[16], sz2[16], s1[512], s2[512];
	uint32_t i;

	cle_format_bytes(sz, n_file);
	cle_buf_printf(b, "model         %s (%s)\n", report_safe(file, s1, sizeof s1), sz);
	cle_buf_printf(b, "ir_version    %lld\n", (long long)gm->ir_version);
	if (gm->producer_name[0] || gm->producer_version[0])
		cle_buf_printf(b, "producer      %s %s\n", report_safe(gm->producer_name, s1, sizeof s1),
			       report_safe(gm->producer_version, s2, sizeof s2));
	cle_buf_puts(b, "opset        ");
	for (i = 0; i < gm->n_opset; i++)
		cle_buf_printf(b, "%s %s %lld", i ? "," : "",
			       gm->opset[i].domain[0] ? report_safe(gm->opset[i].domain, s1, sizeof s1) : "ai.onnx",
			       (long long)gm->opset[i].version);
	cle_buf_printf(b, "\ngraph         %u nodes, %u subgraphs\n", (unsigned)g->n_node,
		       (unsigned)graph_subgraph_count(gm));
	cle_format_bytes(sz, w->init_bytes);
	cle_format_bytes(sz2, w->const_bytes);
	cle_buf_printf(b, "weights       %u initializers (%s), %u Constant nodes (%s)", w->n_init, sz,
		       w->n_const, sz2);
	if (w->n_external)
		cle_buf_printf(b, ", %u stored externally", w->n_external);
	cle_buf_puts(b, "\n");
	for (i = 0; i < g->n_input; i++) {
		cle_buf_puts(b, i == 0 ? "inputs        " : "              ");
		text_value_info(b, &g->value[g->input[i]]);
		cle_buf_puts(b, "\n");
	}
	for (i = 0; i < g->n_output; i++) {
		cle_buf_puts(b, i == 0 ? "outputs       " : "              ");
		text_value_info(b, &g->value[g->output[i]]);
		cle_buf_puts(b, "\n");
	}
	cle_buf_puts(b, "ops          ");
	for (i = 0; i < n_ops; i++)
		cle_buf_printf(b, "%s %s %u", i ? "," : "", report_safe(ops[i].op, s1, sizeof s1), (unsigned)ops[i].n);
	cle_buf_puts(b, "\n");
}

/* info as text or as one JSON object (no newline after it). */
static void info_doc(struct cle_buf *b, const struct graph_model *gm, const char *file,
		     size_t n_file, enum report_format f)
{
	struct weights w;
	struct op_count *ops;
	size_t n_ops;

	ops = count_ops(b, gm->main, &n_ops);
	if (ops == NULL)
		return;
	count_weights(gm->main, &w);
	if (f == REPORT_TEXT)
		info_text(b, gm, file, n_file, ops, n_ops, &w);
	else
		info_json(b, gm, n_file, ops, n_ops, &w);
	cle_free(b->a, ops, (gm->main->n_node + 1) * sizeof *ops);
}

void report_info(struct cle_buf *b, const struct graph_model *gm, const char *file,
		 size_t n_file, enum report_format f)
{
	info_doc(b, gm, file, n_file, f);
	if (f != REPORT_TEXT)
		cle_buf_puts(b, "\n");
}

/* ---- equalize ------------------------------------------------------------ */

/* How far region r's scales moved, as a word; NULL when it has none. */
static const char *scaling_word(const struct cle_result *r, uint32_t region)
{
	uint8_t s = region != GRAPH_NONE ? r->scaling[region] : 0;

	if (s == 0)
		return NULL;
	if (s & CLE_SCALED_PART)
		return "partial";
	if (s & CLE_SCALED_FULL)
		return "full";
	return "held";
}

static void json_word(struct cle_buf *b, const char *w)
{
	if (w != NULL)
		cle_buf_printf(b, "\"%s\"", w);
	else
		cle_buf_puts(b, "null");
}

/* A layer's op as the file names it: Conv, ConvTranspose, Gemm, MatMul. */
static const char *layer_op(const struct cle_layer *l)
{
	return l->g->node[l->node].op;
}

static void json_num(struct cle_buf *b, double x)
{
	if (isfinite(x))
		cle_buf_printf(b, "%.6g", x);
	else
		cle_buf_puts(b, "null");
}

void report_equalize(struct cle_buf *b, const struct cle_plan *p, const struct cle_result *r,
		     enum report_format f)
{
	char lb[256], s1[512], s2[1400];
	uint32_t i;

	if (f != REPORT_TEXT) {
		cle_buf_puts(b, "{\"layers\":[");
		for (i = 0; i < p->n_layers; i++) {
			const struct cle_layer *l = &p->layers[i];
			const struct cle_layer_result *lr = &r->layers[i];
			const char *why = l->why ? l->why : lr->note;

			cle_buf_puts(b, i ? ",{\"node\":" : "{\"node\":");
			report_json_str(b, graph_node_label(l->g, l->node, lb, sizeof lb));
			cle_buf_puts(b, ",\"op\":");
			report_json_str(b, layer_op(l));
			cle_buf_puts(b, ",\"group\":");
			if (l->group != GRAPH_NONE)
				cle_buf_printf(b, "%u", (unsigned)l->group);
			else
				cle_buf_puts(b, "null");
			cle_buf_printf(b, ",\"changed\":%s", lr->changed ? "true" : "false");
			if (lr->measured) {
				cle_buf_puts(b, ",\"range_spread_before\":");
				json_num(b, lr->spread_before);
				cle_buf_puts(b, ",\"range_spread_after\":");
				json_num(b, lr->spread_after);
				cle_buf_puts(b, ",\"sqnr_before_db\":");
				json_num(b, lr->sqnr_before);
				cle_buf_puts(b, ",\"sqnr_after_db\":");
				json_num(b, lr->sqnr_after);
			} else {
				cle_buf_puts(b, ",\"range_spread_before\":null,\"range_spread_after\":null,"
					     "\"sqnr_before_db\":null,\"sqnr_after_db\":null");
			}
			if (lr->ranges_before != NULL) {
				size_t c;

				cle_buf_puts(b, ",\"ranges_before\":[");
				for (c = 0; c < l->c_out; c++) {
					cle_buf_puts(b, c ? "," : "");
					json_num(b, (double)lr->ranges_before[c]);
				}
				cle_buf_puts(b, "],\"ranges_after\":[");
				for (c = 0; c < l->c_out; c++) {
					cle_buf_puts(b, c ? "," : "");
					json_num(b, (double)lr->ranges_after[c]);
				}
				cle_buf_puts(b, "]");
			}
			if (lr->noise_before > 0) {
				cle_buf_puts(b, ",\"noise_db_before\":");
				json_num(b, -10 * log10(lr->noise_before));
				cle_buf_puts(b, ",\"noise_db_after\":");
				json_num(b, -10 * log10(lr->noise_after));
				cle_buf_puts(b, ",\"noise_pc_db_before\":");
				json_num(b, -10 * log10(lr->noise_pc_before));
				cle_buf_puts(b, ",\"noise_pc_db_after\":");
				json_num(b, -10 * log10(lr->noise_pc_after));
			}
			cle_buf_puts(b, ",\"output_scaling\":");
			json_word(b, scaling_word(r, l->out_region));
			cle_buf_puts(b, ",\"input_scaling\":");
			json_word(b, scaling_word(r, l->in_region));
			cle_buf_printf(b, ",\"hbf\":%s,\"note\":", lr->hbf ? "true" : "false");
			if (why)
				report_json_str(b, why);
			else
				cle_buf_puts(b, "null");
			cle_buf_puts(b, "}");
		}
		cle_buf_puts(b, "],\"totals\":{");
		if (r->est_before != 0) {
			cle_buf_puts(b, "\"estimated_sqnr_db_before\":");
			json_num(b, r->est_before);
			cle_buf_puts(b, ",\"estimated_sqnr_db_after\":");
			json_num(b, r->est_after);
			if (p->bn_alternative != 0) {
				cle_buf_puts(b, ",\"estimated_sqnr_db_other_batch_norm\":");
				json_num(b, p->bn_alternative);
			}
			cle_buf_puts(b, ",");
		}
		cle_buf_printf(b, "\"layers\":%u,\"equalized\":%u,\"bn_folded\":%u,\"bn_rescaled\":%u,"
			       "\"clips_rewritten\":%u,\"clips_replaced\":%u,\"hbf_layers\":%u,"
			       "\"rounds\":%d,\"clamped_channels\":%u,\"max_imbalance_log2\":",
			       (unsigned)p->n_layers, (unsigned)r->equalized, (unsigned)r->bn_folded,
			       (unsigned)r->bn_rescaled, (unsigned)r->clips_rewritten,
			       (unsigned)r->clips_replaced, (unsigned)r->hbf_layers, r->rounds,
			       (unsigned)r->clamped);
		json_num(b, r->max_imbalance);
		cle_buf_puts(b, ",\"median_spread_before\":");
		json_num(b, r->median_spread_before);
		cle_buf_puts(b, ",\"median_spread_after\":");
		json_num(b, r->median_spread_after);
		cle_buf_puts(b, ",\"mean_sqnr_before_db\":");
		json_num(b, r->mean_sqnr_before);
		cle_buf_puts(b, ",\"mean_sqnr_after_db\":");
		json_num(b, r->mean_sqnr_after);
		cle_buf_puts(b, "}}\n");
		return;
	}
	if (r->est_before != 0) {
		cle_buf_printf(b, "estimated INT8 output SQNR (weights per tensor) %.1f -> %.1f dB",
			       r->est_before, r->est_after);
		if (p->bn_alternative != 0)
			cle_buf_printf(b, " (%.1f dB with batch norm %s)", p->bn_alternative,
				       r->bn_rescaled ? "folded" : "kept");
		cle_buf_puts(b, "\n");
	}
	cle_buf_printf(b, "equalized %u of %u layers; %u BatchNormalization folded, %u rescaled, "
		       "%u Clip rewritten, %u replaced by Relu, %u high biases absorbed; %d rounds\n",
		       (unsigned)r->equalized, (unsigned)p->n_layers, (unsigned)r->bn_folded,
		       (unsigned)r->bn_rescaled, (unsigned)r->clips_rewritten,
		       (unsigned)r->clips_replaced, (unsigned)r->hbf_layers, r->rounds);
	cle_buf_printf(b, "median range spread %.4g -> %.4g, mean INT8 weight SQNR %.1f -> %.1f dB\n\n",
		       r->median_spread_before, r->median_spread_after, r->mean_sqnr_before,
		       r->mean_sqnr_after);
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];
		const struct cle_layer_result *lr = &r->layers[i];
		const char *why = l->why ? l->why : lr->note;

		cle_buf_printf(b, "%-32s %-13s ", report_safe(graph_node_label(l->g, l->node, lb, sizeof lb), s1, sizeof s1),
			       report_safe(layer_op(l), s2, sizeof s2));
		if (lr->measured)
			cle_buf_printf(b, "spread %9.4g -> %-9.4g SQNR %5.1f -> %5.1f dB%s", lr->spread_before,
				       lr->spread_after, lr->sqnr_before, lr->sqnr_after,
				       lr->changed ? "" : "  (unchanged)");
		if (why)
			cle_buf_printf(b, "%s%s", lr->measured ? "  " : "", report_safe(why, s2, sizeof s2));
		cle_buf_puts(b, "\n");
	}
}

/* ---- check ---------------------------------------------------------------- */

/* Partners of layer li through region r, as JSON strings after *first. */
static void partners_json(struct cle_buf *b, const struct cle_plan *p, uint32_t li, uint32_t r,
			  bool *first)
{
	uint32_t cursor = 0, x;
	char lb[256];

	while ((x = cle_next_partner(p, li, r, &cursor)) != GRAPH_NONE) {
		cle_buf_puts(b, *first ? "" : ",");
		*first = false;
		report_json_str(b, graph_node_label(p->layers[x].g, p->layers[x].node, lb, sizeof lb));
	}
}

static void side_json(struct cle_buf *b, const struct cle_plan *p, uint32_t li, uint32_t r,
		      const char *none)
{
	bool first = true;
	const char *why = cle_region_open(p, r) ? NULL : cle_side_reason(p, r, none);

	cle_buf_puts(b, "{\"region\":");
	if (r != GRAPH_NONE)
		cle_buf_printf(b, "%u", (unsigned)r);
	else
		cle_buf_puts(b, "null");
	cle_buf_puts(b, ",\"partners\":[");
	partners_json(b, p, li, r, &first);
	cle_buf_puts(b, "],\"blocked\":");
	if (why)
		report_json_str(b, why);
	else
		cle_buf_puts(b, "null");
	cle_buf_puts(b, "}");
}

static void check_json(struct cle_buf *b, const struct graph_model *gm,
		       const struct rule_findings *rf, const struct cle_plan *p, size_t n_file)
{
	struct cle_map_totals t;
	char lb[256], why[1200];
	uint32_t i;

	cle_buf_puts(b, "{\"findings\":[");
	for (i = 0; i < rf->n; i++) {
		const struct rule_finding *f = &rf->f[i];

		cle_buf_printf(b, "%s{\"rule\":\"%s\",\"severity\":\"%s\",\"node\":", i ? "," : "", f->rule,
			       rule_severity_name(f->severity));
		if (f->node != GRAPH_NONE)
			report_json_str(b, graph_node_label(f->g, f->node, lb, sizeof lb));
		else
			cle_buf_puts(b, "null");
		cle_buf_puts(b, ",\"op\":");
		if (f->node != GRAPH_NONE)
			report_json_str(b, f->g->node[f->node].op);
		else
			cle_buf_puts(b, "null");
		cle_buf_puts(b, ",\"message\":");
		report_json_str(b, f->message);
		cle_buf_puts(b, ",\"fix\":");
		report_json_str(b, f->fix);
		cle_buf_puts(b, "}");
	}
	cle_buf_puts(b, "],\"cle\":{\"layers\":[");
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];
		bool first = true;

		cle_buf_puts(b, i ? ",{\"node\":" : "{\"node\":");
		report_json_str(b, graph_node_label(l->g, l->node, lb, sizeof lb));
		cle_buf_puts(b, ",\"op\":");
		report_json_str(b, layer_op(l));
		cle_buf_puts(b, ",\"group\":");
		if (l->group != GRAPH_NONE)
			cle_buf_printf(b, "%u", (unsigned)l->group);
		else
			cle_buf_puts(b, "null");
		cle_buf_puts(b, ",\"partners\":[");
		if (l->why == NULL) {
			partners_json(b, p, i, l->in_region, &first);
			partners_json(b, p, i, l->out_region, &first);
		}
		cle_buf_puts(b, "],\"reason\":");
		cle_layer_reason(p, i, why, sizeof why);
		if (why[0])
			report_json_str(b, why);
		else
			cle_buf_puts(b, "null");
		cle_buf_printf(b, ",\"beyond_reference\":%s", cle_layer_beyond_reference(p, i) ? "true" : "false");
		if (l->why == NULL) {
			cle_buf_puts(b, ",\"input\":");
			side_json(b, p, i, l->in_region, "it has no input tensor");
			cle_buf_puts(b, ",\"output\":");
			side_json(b, p, i, l->out_region, "it has no output tensor");
		}
		cle_buf_puts(b, "}");
	}
	cle_buf_puts(b, "],\"regions\":[");
	for (i = 0; i < p->n_regions; i++) {
		const struct cle_region *rg = &p->regions[i];
		uint32_t j;

		cle_buf_printf(b, "%s{\"id\":%u,\"channels\":%zu,\"producers\":[", i ? "," : "", (unsigned)i,
			       rg->n_ch);
		for (j = 0; j < rg->n_producers; j++) {
			const struct cle_layer *l = &p->layers[rg->producers[j]];

			cle_buf_puts(b, j ? "," : "");
			report_json_str(b, graph_node_label(l->g, l->node, lb, sizeof lb));
		}
		cle_buf_puts(b, "],\"consumers\":[");
		for (j = 0; j < rg->n_consumers; j++) {
			const struct cle_layer *l = &p->layers[rg->consumers[j]];

			cle_buf_puts(b, j ? "," : "");
			report_json_str(b, graph_node_label(l->g, l->node, lb, sizeof lb));
		}
		cle_buf_puts(b, "],\"through\":[");
		for (j = 0; j < rg->n_through; j++) {
			cle_buf_puts(b, j ? ",{\"node\":" : "{\"node\":");
			report_json_str(b, graph_node_label(rg->g, rg->through[j], lb, sizeof lb));
			cle_buf_puts(b, ",\"op\":");
			report_json_str(b, rg->g->node[rg->through[j]].op);
			cle_buf_puts(b, "}");
		}
		cle_buf_printf(b, "],\"joint\":%s,\"reference\":%s,\"blocked\":", rg->joint ? "true" : "false",
			       rg->reference ? "true" : "false");
		if (rg->blocked)
			report_json_str(b, rg->blocked);
		else
			cle_buf_puts(b, "null");
		cle_buf_puts(b, "}");
	}
	cle_map_totals(p, &t);
	cle_buf_printf(b, "]},\"summary\":{\"errors\":%u,\"warnings\":%u,\"infos\":%u,\"layers\":%u,"
		       "\"paired\":%u,\"groups\":%u,\"beyond_reference\":%u,\"opset\":%lld},\"model\":",
		       (unsigned)rf->errors, (unsigned)rf->warnings, (unsigned)rf->infos,
		       (unsigned)p->n_layers, (unsigned)t.paired, (unsigned)t.groups, (unsigned)t.beyond,
		       (long long)graph_opset(gm, ""));
	info_doc(b, gm, NULL, n_file, REPORT_JSON);
	cle_buf_puts(b, "}\n");
}

static const char *const sarif_level[] = {"error", "warning", "note"};

static void check_sarif(struct cle_buf *b, const struct rule_findings *rf, const char *file)
{
	char lb[256];
	size_t i;

	cle_buf_puts(b, "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\","
		     "\"runs\":[{\"tool\":{\"driver\":{\"name\":\"onnx-cle\",\"version\":\"" CLE_VERSION "\","
		     "\"rules\":[");
	for (i = 0; i < rule_count; i++) {
		const struct rule_def *r = &rule_table[i];

		const char *c;
		bool up = true;

		/* name: the id in PascalCase, as SARIF viewers expect */
		cle_buf_printf(b, "%s{\"id\":\"%s\",\"name\":\"", i ? "," : "", r->id);
		for (c = r->id; *c; c++) {
			if (*c == '-') {
				up = true;
				continue;
			}
			cle_buf_printf(b, "%c", up && *c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
			up = false;
		}
		cle_buf_puts(b, "\",\"shortDescription\":{\"text\":");
		report_json_str(b, r->summary);
		cle_buf_puts(b, "},\"fullDescription\":{\"text\":");
		report_json_str(b, r->guideline);
		cle_buf_printf(b, "},\"defaultConfiguration\":{\"level\":\"%s\"}}", sarif_level[r->severity]);
	}
	cle_buf_puts(b, "]}},\"artifacts\":[{\"location\":{\"uri\":");
	report_json_str(b, file);
	cle_buf_puts(b, "}}],\"results\":[");
	for (i = 0; i < rf->n; i++) {
		const struct rule_finding *f = &rf->f[i];
		size_t ri;

		for (ri = 0; ri < rule_count && strcmp(rule_table[ri].id, f->rule) != 0; ri++)
			;
		cle_buf_printf(b, "%s{\"ruleId\":\"%s\",\"ruleIndex\":%zu,\"level\":\"%s\",\"message\":{\"text\":",
			       i ? "," : "", f->rule, ri, sarif_level[f->severity]);
		report_json_str(b, f->message);
		cle_buf_puts(b, "},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":");
		report_json_str(b, file);
		cle_buf_puts(b, ",\"index\":0}}");
		if (f->node != GRAPH_NONE) {
			cle_buf_puts(b, ",\"logicalLocations\":[{\"name\":");
			report_json_str(b, graph_node_label(f->g, f->node, lb, sizeof lb));
			cle_buf_puts(b, ",\"kind\":\"member\"}]");
		}
		cle_buf_puts(b, "}],\"properties\":{\"op\":");
		if (f->node != GRAPH_NONE)
			report_json_str(b, f->g->node[f->node].op);
		else
			cle_buf_puts(b, "null");
		cle_buf_puts(b, ",\"fix\":");
		report_json_str(b, f->fix);
		cle_buf_puts(b, "}}");
	}
	cle_buf_puts(b, "]}]}\n");
}

static void check_text(struct cle_buf *b, const struct rule_findings *rf, const struct cle_plan *p,
		       const char *file, bool color)
{
	static const char *const sev_color[] = {"\033[31m", "\033[33m", "\033[36m"};
	const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
	struct cle_map_totals t;
	char lb[256], why[1200], s1[512], s2[1400];
	size_t r;
	uint32_t i;

	cle_buf_printf(b, "%s%s%s: %u error%s, %u warning%s, %u info\n", bold, report_safe(file, s1, sizeof s1), off,
		       (unsigned)rf->errors, rf->errors == 1 ? "" : "s", (unsigned)rf->warnings,
		       rf->warnings == 1 ? "" : "s", (unsigned)rf->infos);
	for (r = 0; r < rule_count; r++) {
		bool header = false;

		for (i = 0; i < rf->n; i++) {
			const struct rule_finding *f = &rf->f[i];

			if (strcmp(f->rule, rule_table[r].id) != 0)
				continue;
			if (!header) {
				cle_buf_printf(b, "\n%s%s%s  (guideline: %s)\n", bold, rule_table[r].id, off,
					       rule_table[r].guideline);
				header = true;
			}
			cle_buf_printf(b, "  %s%s%s  %s%s%s  %s\n      fix: %s\n", bold,
				       f->node != GRAPH_NONE
				       ? report_safe(graph_node_label(f->g, f->node, lb, sizeof lb), s1, sizeof s1)
				       : "(model)",
				       off, color ? sev_color[f->severity] : "",
				       rule_severity_name(f->severity), off, report_safe(f->message, s2, sizeof s2), f->fix);
		}
	}
	cle_map_totals(p, &t);
	cle_buf_printf(b, "\n%sCLE map%s: %u layers, %u paired in %u groups (%u beyond the reference), "
		       "%u not paired\n", bold, off, (unsigned)p->n_layers, (unsigned)t.paired,
		       (unsigned)t.groups, (unsigned)t.beyond, (unsigned)(p->n_layers - t.paired));
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];

		cle_layer_reason(p, i, why, sizeof why);
		cle_buf_printf(b, "  %s%-28s%s %-13s ", bold,
			       report_safe(graph_node_label(l->g, l->node, lb, sizeof lb), s1, sizeof s1), off,
			       report_safe(layer_op(l), s2, sizeof s2));
		if (why[0]) {
			cle_buf_printf(b, "not paired: %s\n", report_safe(why, s2, sizeof s2));
		} else {
			cle_buf_printf(b, "group %u%s\n", (unsigned)l->group,
				       cle_layer_beyond_reference(p, i) ? "  (beyond the reference)" : "");
		}
	}
}

void report_check(struct cle_buf *b, const struct graph_model *gm, const struct rule_findings *rf,
		  const struct cle_plan *plan, const char *file, size_t n_file, enum report_format f,
		  bool color)
{
	if (f == REPORT_JSON)
		check_json(b, gm, rf, plan, n_file);
	else if (f == REPORT_SARIF)
		check_sarif(b, rf, file);
	else
		check_text(b, rf, plan, file, color);
}
