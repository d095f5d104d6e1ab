/* report.c — JSON and text documents from the graph index.  Writers append
 * to a cle_buf and never check for errors themselves: the buffer's status
 * is sticky and read once by the caller. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "graph.h"

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

	return bits < 8 ? (c->count + 1) / 2 : (uint64_t)c->count * (bits / 8);
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
	int32_t rank, i;

	cle_buf_printf(b, "%s: %s", v->name, tn ? tn : "?");
	if (!graph_value_shape(v, &rank, dims, params, MAX_DIMS) || rank > MAX_DIMS)
		return;
	cle_buf_puts(b, " [");
	for (i = 0; i < rank; i++) {
		if (i > 0)
			cle_buf_puts(b, ", ");
		if (dims[i] >= 0)
			cle_buf_printf(b, "%lld", (long long)dims[i]);
		else
			cle_buf_puts(b, params[i] ? params[i] : "?");
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
	cle_buf_printf(b, "],\"subgraph_count\":%u}\n", (unsigned)graph_subgraph_count(gm));
}

static void info_text(struct cle_buf *b, const struct graph_model *gm, const char *file,
		      size_t n_file, const struct op_count *ops, size_t n_ops,
		      const struct weights *w)
{
	const struct graph *g = gm->main;
	char sz[16], sz2[16];
	uint32_t i;

	cle_format_bytes(sz, n_file);
	cle_buf_printf(b, "model         %s (%s)\n", file, sz);
	cle_buf_printf(b, "ir_version    %lld\n", (long long)gm->ir_version);
	if (gm->producer_name[0] || gm->producer_version[0])
		cle_buf_printf(b, "producer      %s %s\n", gm->producer_name, gm->producer_version);
	cle_buf_puts(b, "opset        ");
	for (i = 0; i < gm->n_opset; i++)
		cle_buf_printf(b, "%s %s %lld", i ? "," : "",
			       gm->opset[i].domain[0] ? gm->opset[i].domain : "ai.onnx",
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
		cle_buf_printf(b, "%s %s %u", i ? "," : "", ops[i].op, (unsigned)ops[i].n);
	cle_buf_puts(b, "\n");
}

void report_info(struct cle_buf *b, const struct graph_model *gm, const char *file,
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
