/* report.c — JSON and text documents from the graph index (check's are in
 * report_check.c).  Writers append
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
#include "report_internal.h"
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

void report_info_json(struct cle_buf *b, const struct graph_model *gm, size_t n_file)
{
	info_doc(b, gm, NULL, n_file, REPORT_JSON);
}

void report_info(struct cle_buf *b, const struct graph_model *gm, const char *file,
		 size_t n_file, enum report_format f)
{
	info_doc(b, gm, file, n_file, f);
	if (f != REPORT_TEXT)
		cle_buf_puts(b, "\n");
}

/* ---- text layout ---------------------------------------------------------- */

#define NAME_COLUMN_MAX 80 /* longer names take a line of their own */

/* Characters (UTF-8 code points) of s, as a terminal advances. */
size_t report_text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* The width of a column holding names of up to `longest` characters. */
size_t report_column_width(size_t longest)
{
	return longest < NAME_COLUMN_MAX ? longest : NAME_COLUMN_MAX;
}

void report_layer_head_json(struct cle_buf *b, const struct cle_layer *l, bool first)
{
	char lb[256];

	cle_buf_puts(b, first ? "{\"node\":" : ",{\"node\":");
	report_json_str(b, graph_node_label(l->g, l->node, lb, sizeof lb));
	cle_buf_puts(b, ",\"op\":");
	report_json_str(b, report_layer_op(l));
	cle_buf_puts(b, ",\"group\":");
	if (l->group != GRAPH_NONE)
		cle_buf_printf(b, "%u", (unsigned)l->group);
	else
		cle_buf_puts(b, "null");
}

void report_layer_widths(const struct cle_plan *p, size_t *name_width, size_t *op_width)
{
	char lb[256], s1[512];
	size_t longest = 0;
	uint32_t i;

	*op_width = 0;
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];
		size_t w = report_text_width(report_safe(graph_node_label(l->g, l->node, lb, sizeof lb), s1, sizeof s1));
		size_t ow = report_text_width(report_safe(report_layer_op(l), s1, sizeof s1));

		longest = w > longest ? w : longest;
		*op_width = ow > *op_width ? ow : *op_width;
	}
	*name_width = report_column_width(longest);
}

/* indent, then name in bold, padded to width; a longer name ends its line
 * and the row goes on below it, at the column's end. */
void report_name_cell(struct cle_buf *b, const char *indent, const char *name, size_t width,
		      const char *bold, const char *off)
{
	size_t w = report_text_width(name);

	if (w > width)
		cle_buf_printf(b, "%s%s%s%s\n%s%*s", indent, bold, name, off, indent, (int)width, "");
	else
		cle_buf_printf(b, "%s%s%s%s%*s", indent, bold, name, off, (int)(width - w), "");
}

/* A number as the text reports write it: three significant digits, plain
 * from 0.001 to 9999, else as 2.13e6. */
static const char *text_num(double x, char buf[24])
{
	double ax = fabs(x);
	char *e;

	if (!isfinite(x))
		return strcpy(buf, "-");
	if (ax == 0)
		return strcpy(buf, "0");
	if (ax >= 0.001 && ax < 9999.5) {
		snprintf(buf, 24, "%.*f", ax >= 99.95 ? 0 : ax >= 9.995 ? 1 : ax >= 0.9995 ? 2 : 3, x);
		return buf;
	}
	snprintf(buf, 24, "%.2e", x);
	if ((e = strchr(buf, 'e')) != NULL) { /* "2.13e+06" -> "2.13e6" */
		char *d = e + 1, *s = e + 1;

		if (*s == '+')
			s++;
		else if (*s == '-')
			*d++ = *s++;
		while (*s == '0' && s[1] != '\0')
			s++;
		memmove(d, s, strlen(s) + 1);
	}
	return buf;
}

/* "1 error", "2 errors" */
void report_count(struct cle_buf *b, uint32_t n, const char *one, const char *many)
{
	cle_buf_printf(b, "%u %s", (unsigned)n, n == 1 ? one : many);
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

/* A region's number, as --strength takes it; null for none or one that
 * cannot be scaled. */
static void json_region(struct cle_buf *b, const struct cle_plan *p, uint32_t r)
{
	if (r != GRAPH_NONE && cle_region_open(p, r))
		cle_buf_printf(b, "%u", (unsigned)r);
	else
		cle_buf_puts(b, "null");
}

/* A layer's op as the file names it: Conv, ConvTranspose, Gemm, MatMul. */
const char *report_layer_op(const struct cle_layer *l)
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

static void equalize_json(struct cle_buf *b, const struct cle_plan *p, const struct cle_result *r,
			  const char *nothing)
{
	uint32_t i;

	cle_buf_puts(b, "{\"layers\":[");
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];
		const struct cle_layer_result *lr = &r->layers[i];
		const char *why = l->why ? l->why : lr->note;

		report_layer_head_json(b, l, i == 0);
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
		cle_buf_puts(b, ",\"output_region\":");
		json_region(b, p, l->out_region);
		cle_buf_puts(b, ",\"input_region\":");
		json_region(b, p, l->in_region);
		cle_buf_printf(b, ",\"clamped_channels\":%u,\"hbf\":%s,\"note\":", (unsigned)lr->clamped,
			       lr->hbf ? "true" : "false");
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
	cle_buf_printf(b, ",\"max_rounds\":%d,\"passes\":", cle_round_limit(&p->cfg));
	json_num(b, r->passes);
	cle_buf_puts(b, ",\"median_spread_before\":");
	json_num(b, r->median_spread_before);
	cle_buf_puts(b, ",\"median_spread_after\":");
	json_num(b, r->median_spread_after);
	cle_buf_puts(b, ",\"mean_sqnr_before_db\":");
	json_num(b, r->mean_sqnr_before);
	cle_buf_puts(b, ",\"mean_sqnr_after_db\":");
	json_num(b, r->mean_sqnr_after);
	cle_buf_puts(b, "},\"nothing_to_equalize\":");
	if (nothing != NULL)
		report_json_str(b, nothing);
	else
		cle_buf_puts(b, "null");
	cle_buf_puts(b, "}\n");
}

/* One row per layer: name, op, spread and SQNR before and after, and why
 * it was left alone; the columns fit the longest name (up to a limit). */
static void equalize_rows(struct cle_buf *b, const struct cle_plan *p, const struct cle_result *r)
{
	char lb[256], s1[512], s2[1400], n1[24], n2[24];
	size_t op_width, width;
	uint32_t i;

	report_layer_widths(p, &width, &op_width);
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];
		const struct cle_layer_result *lr = &r->layers[i];
		const char *why = l->why ? l->why : lr->note;

		report_name_cell(b, "", report_safe(graph_node_label(l->g, l->node, lb, sizeof lb), s1, sizeof s1),
			  width, "", "");
		cle_buf_printf(b, "  %-*s", (int)op_width, report_safe(report_layer_op(l), s2, sizeof s2));
		if (lr->measured)
			cle_buf_printf(b, "  spread %7s -> %-7s  SQNR %5.1f -> %5.1f dB%s",
				       text_num(lr->spread_before, n1), text_num(lr->spread_after, n2),
				       lr->sqnr_before, lr->sqnr_after, lr->changed ? "" : "  (unchanged)");
		if (lr->clamped > 0)
			cle_buf_printf(b, "  %u output channel%s at the scale limit", (unsigned)lr->clamped,
				       lr->clamped == 1 ? "" : "s");
		if (why)
			cle_buf_printf(b, "  %s", report_safe(why, s2, sizeof s2));
		cle_buf_puts(b, "\n");
	}
}

static void equalize_text(struct cle_buf *b, const struct cle_plan *p, const struct cle_result *r,
			  const char *nothing)
{
	char n1[24], n2[24];

	if (nothing != NULL) {
		cle_buf_printf(b, "nothing to equalize: %s\nthe output is the model as it came\n", nothing);
		if (r->est_before != 0)
			cle_buf_printf(b, "estimated INT8 output SQNR (weights per tensor) %.1f dB\n",
				       r->est_before);
	} else {
		if (r->est_before != 0) {
			cle_buf_printf(b, "estimated INT8 output SQNR (weights per tensor) %.1f -> %.1f dB",
				       r->est_before, r->est_after);
			if (p->bn_alternative != 0)
				cle_buf_printf(b, " (batch norm %s: %.1f dB after the first round, where the "
					       "choice is made)", r->bn_rescaled ? "folded" : "kept", p->bn_alternative);
			cle_buf_puts(b, "\n");
		}
		cle_buf_printf(b, "equalized %u of ", (unsigned)r->equalized);
		report_count(b, p->n_layers, "layer", "layers");
		cle_buf_printf(b, "; %u BatchNormalization folded, %u rescaled, %u Clip rewritten, "
			       "%u replaced by Relu, %u high biases absorbed; ", (unsigned)r->bn_folded,
			       (unsigned)r->bn_rescaled, (unsigned)r->clips_rewritten,
			       (unsigned)r->clips_replaced, (unsigned)r->hbf_layers);
		report_count(b, (uint32_t)r->rounds, "round", "rounds");
		cle_buf_printf(b, " (%.1f passes over the weights)", r->passes);
		if (p->cfg.objective == CLE_OBJECTIVE_BALANCE)
			cle_buf_printf(b, ", largest imbalance left %s log2", text_num(r->max_imbalance, n1));
		cle_buf_printf(b, "\nmedian range spread %s -> %s, mean INT8 weight SQNR %.1f -> %.1f dB\n",
			       text_num(r->median_spread_before, n1), text_num(r->median_spread_after, n2),
			       r->mean_sqnr_before, r->mean_sqnr_after);
	}
	if (p->n_layers > 0) {
		cle_buf_puts(b, "\n");
		equalize_rows(b, p, r);
	}
}

void report_equalize(struct cle_buf *b, const struct cle_plan *p, const struct cle_result *r,
		     const char *nothing, enum report_format f)
{
	if (f == REPORT_TEXT)
		equalize_text(b, p, r, nothing);
	else
		equalize_json(b, p, r, nothing);
}
