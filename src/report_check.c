/* report_check.c — the `check` documents: JSON (findings, the CLE map, the
 * model), SARIF (one run over one or several models) and text (findings by
 * rule and by fix, the map, in columns). */
#include "report.h"

#include <stdio.h>
#include <string.h>

#include "cle_version.h"
#include "cle.h"
#include "graph.h"
#include "report_internal.h"
#include "rules.h"

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
		report_json_str(b, report_layer_op(l));
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
	report_info_json(b, gm, n_file);
	cle_buf_puts(b, "}\n");
}

static const char *const sarif_level[] = {"error", "warning", "note"};

/* A SARIF artifact URI for path: relative paths as given (percent-encoded,
 * "./" dropped), absolute ones as file:// URIs. */
void report_sarif_uri(struct cle_buf *b, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)path;

	while (p[0] == '.' && p[1] == '/')
		for (p += 2; *p == '/'; p++)
			;
	cle_buf_puts(b, *p == '/' ? "\"file://" : "\"");
	for (; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p) != NULL) {
			cle_buf_append(b, p, 1);
		} else {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			cle_buf_append(b, esc, 3);
		}
	}
	cle_buf_puts(b, "\"");
}

void report_sarif_open(struct cle_buf *b)
{
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
	cle_buf_puts(b, "]}},\"results\":[");
}

/* The results of one model, artifact number `artifact`, comma-separated
 * (nothing when there are none). */
static void sarif_results(struct cle_buf *b, const struct rule_findings *rf, const char *file,
			  uint32_t artifact)
{
	char lb[256];
	size_t i;

	for (i = 0; i < rf->n; i++) {
		const struct rule_finding *f = &rf->f[i];
		size_t ri;

		for (ri = 0; ri < rule_count && strcmp(rule_table[ri].id, f->rule) != 0; ri++)
			;
		cle_buf_printf(b, "%s{\"ruleId\":\"%s\",\"ruleIndex\":%zu,\"level\":\"%s\",\"message\":{\"text\":",
			       i ? "," : "", f->rule, ri, sarif_level[f->severity]);
		report_json_str(b, f->message);
		cle_buf_puts(b, "},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":");
		report_sarif_uri(b, file);
		cle_buf_printf(b, ",\"index\":%u}}", (unsigned)artifact);
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
}

void report_sarif_notification(struct cle_buf *b, const char *path, const char *message)
{
	cle_buf_puts(b, "{\"level\":\"error\",\"message\":{\"text\":");
	report_json_str(b, message);
	cle_buf_puts(b, "},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":");
	report_sarif_uri(b, path);
	cle_buf_puts(b, "}}}]}");
}

void report_sarif_close(struct cle_buf *b, const char *const *paths, uint32_t n,
			const char *notifications)
{
	uint32_t i;

	cle_buf_puts(b, "],\"artifacts\":[");
	for (i = 0; i < n; i++) {
		cle_buf_puts(b, i ? ",{\"location\":{\"uri\":" : "{\"location\":{\"uri\":");
		report_sarif_uri(b, paths[i]);
		cle_buf_puts(b, "}}");
	}
	cle_buf_printf(b, "],\"invocations\":[{\"executionSuccessful\":%s",
		       notifications && notifications[0] ? "false" : "true");
	if (notifications && notifications[0])
		cle_buf_printf(b, ",\"toolExecutionNotifications\":[%s]", notifications);
	cle_buf_puts(b, "}]}]}\n");
}

/* The rows of rule r's findings that give fix `fix`, then the fix once. */
static void text_fix_group(struct cle_buf *b, const struct rule_findings *rf, const char *rule,
			   const char *fix, size_t width, bool color)
{
	static const char *const sev_color[] = {"\033[31m", "\033[33m", "\033[36m"};
	const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
	char lb[256], s1[512], s2[1400];
	uint32_t i, n = 0;

	for (i = 0; i < rf->n; i++) {
		const struct rule_finding *f = &rf->f[i];

		if (strcmp(f->rule, rule) != 0 || strcmp(f->fix, fix) != 0)
			continue;
		report_name_cell(b, "  ", f->node != GRAPH_NONE
			  ? report_safe(graph_node_label(f->g, f->node, lb, sizeof lb), s1, sizeof s1)
			  : "(model)", width, bold, off);
		cle_buf_printf(b, "  %s%-7s%s  %s\n", color ? sev_color[f->severity] : "",
			       rule_severity_name(f->severity), off, report_safe(f->message, s2, sizeof s2));
		n++;
	}
	if (n == 1)
		cle_buf_printf(b, "    fix: %s\n", fix);
	else
		cle_buf_printf(b, "    fix (the %u above): %s\n", (unsigned)n, fix);
}

/* The findings, grouped by rule (in table order), and within a rule by
 * fix: findings that share a fix are listed together, the fix once. */
static void text_findings(struct cle_buf *b, const struct rule_findings *rf, bool color)
{
	const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
	char lb[256], s1[512];
	size_t r, longest = 7, width;
	uint32_t i, j;

	for (i = 0; i < rf->n; i++) {
		const struct rule_finding *f = &rf->f[i];
		size_t w = f->node != GRAPH_NONE
			   ? report_text_width(report_safe(graph_node_label(f->g, f->node, lb, sizeof lb), s1, sizeof s1))
			   : 7;

		longest = w > longest ? w : longest;
	}
	width = report_column_width(longest);
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
			/* a fix's group is written where its first finding comes */
			for (j = 0; j < i; j++)
				if (strcmp(rf->f[j].rule, f->rule) == 0 && strcmp(rf->f[j].fix, f->fix) == 0)
					break;
			if (j == i)
				text_fix_group(b, rf, f->rule, f->fix, width, color);
		}
	}
}

/* The CLE map: a line of totals, then each layer with its group or why it has none. */
static void text_map(struct cle_buf *b, const struct cle_plan *p, bool color)
{
	const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
	struct cle_map_totals t;
	char lb[256], why[1200], s1[512], s2[1400];
	size_t longest = 0, op_width = 0, width;
	uint32_t i;

	cle_map_totals(p, &t);
	cle_buf_printf(b, "\n%sCLE map%s: ", bold, off);
	if (p->n_layers == 0) {
		cle_buf_puts(b, "no Conv, ConvTranspose, Gemm or MatMul layers\n");
		return;
	}
	report_count(b, p->n_layers, "layer", "layers");
	cle_buf_printf(b, ", %u paired in ", (unsigned)t.paired);
	report_count(b, t.groups, "group", "groups");
	cle_buf_printf(b, " (%u beyond the reference), %u not paired\n", (unsigned)t.beyond,
		       (unsigned)(p->n_layers - t.paired));
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];
		size_t w = report_text_width(report_safe(graph_node_label(l->g, l->node, lb, sizeof lb), s1, sizeof s1));
		size_t ow = report_text_width(report_safe(report_layer_op(l), s2, sizeof s2));

		longest = w > longest ? w : longest;
		op_width = ow > op_width ? ow : op_width;
	}
	width = report_column_width(longest);
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];

		cle_layer_reason(p, i, why, sizeof why);
		report_name_cell(b, "  ", report_safe(graph_node_label(l->g, l->node, lb, sizeof lb), s1, sizeof s1),
			  width, bold, off);
		cle_buf_printf(b, "  %-*s  ", (int)op_width, report_safe(report_layer_op(l), s2, sizeof s2));
		if (why[0])
			cle_buf_printf(b, "not paired: %s\n", report_safe(why, s2, sizeof s2));
		else
			cle_buf_printf(b, "group %u%s\n", (unsigned)l->group,
				       cle_layer_beyond_reference(p, i) ? "  (beyond the reference)" : "");
	}
}

static void check_text(struct cle_buf *b, const struct rule_findings *rf, const struct cle_plan *p,
		       const char *file, bool color)
{
	const char *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";
	char s1[512];
	const char *sep = "";

	cle_buf_printf(b, "%s%s%s: ", bold, report_safe(file, s1, sizeof s1), off);
	if (rf->n == 0)
		cle_buf_puts(b, "no findings");
	if (rf->errors) {
		report_count(b, rf->errors, "error", "errors");
		sep = ", ";
	}
	if (rf->warnings) {
		cle_buf_puts(b, sep);
		report_count(b, rf->warnings, "warning", "warnings");
		sep = ", ";
	}
	if (rf->infos) {
		cle_buf_puts(b, sep);
		report_count(b, rf->infos, "info", "info");
	}
	cle_buf_puts(b, "\n");
	text_findings(b, rf, color);
	text_map(b, p, color);
}

void report_check(struct cle_buf *b, const struct graph_model *gm, const struct rule_findings *rf,
		  const struct cle_plan *plan, const char *file, size_t n_file, enum report_format f,
		  bool color, uint32_t artifact)
{
	if (f == REPORT_JSON) {
		check_json(b, gm, rf, plan, n_file);
	} else if (f == REPORT_SARIF) {
		report_sarif_open(b);
		sarif_results(b, rf, file, 0);
		report_sarif_close(b, &file, 1, NULL);
	} else if (f == REPORT_SARIF_RESULTS) {
		sarif_results(b, rf, file, artifact);
	} else {
		check_text(b, rf, plan, file, color);
	}
}
