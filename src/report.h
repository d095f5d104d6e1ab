/* report.h — the one JSON writer, and the text renderings of the same
 * documents.  The CLI, the JS API and the page all show what this writes. */
#ifndef CLE_REPORT_H
#define CLE_REPORT_H

#include "base.h"

struct graph_model;
struct cle_plan;
struct cle_result;
struct rule_findings;

enum report_format {
	REPORT_TEXT,
	REPORT_JSON,
	REPORT_SARIF,
	REPORT_SARIF_RESULTS, /* check: only the results, for one SARIF run over several models */
};

/* JSON string literal for s (n bytes), quotes included; invalid UTF-8
 * becomes U+FFFD so the output always parses. */
void report_json_strn(struct cle_buf *b, const char *s, size_t n);
void report_json_str(struct cle_buf *b, const char *s);

/* The `info` document: what the model is.  file names the input in text
 * form; n_file is its size in bytes. */
void report_info(struct cle_buf *b, const struct graph_model *gm, const char *file,
		 size_t n_file, enum report_format f);

/* The `check` document: findings grouped by rule (and, in text, by fix),
 * and the CLE map (which layers equalization reaches, with whom, and why
 * not); as JSON also the info document under "model".  file names the
 * model (the SARIF artifact), n_file is its size; color adds ANSI colour
 * to text.  REPORT_SARIF_RESULTS writes only the SARIF results, their
 * artifact numbered `artifact`, comma-separated, for report_sarif_open
 * and report_sarif_close to enclose. */
void report_check(struct cle_buf *b, const struct graph_model *gm, const struct rule_findings *rf,
		  const struct cle_plan *plan, const char *file, size_t n_file, enum report_format f,
		  bool color, uint32_t artifact);

/* One SARIF 2.1.0 log with one run over several models: open, the results
 * of each (report_check with REPORT_SARIF_RESULTS, joined by commas), then
 * close with the models' paths (artifact i is paths[i]) and the
 * notifications about files that could not be checked (joined by commas,
 * each from report_sarif_notification; NULL or "" when there are none). */
void report_sarif_open(struct cle_buf *b);
void report_sarif_close(struct cle_buf *b, const char *const *paths, uint32_t n,
			const char *notifications);
void report_sarif_notification(struct cle_buf *b, const char *path, const char *message);
/* path as a SARIF artifact URI (a JSON string): relative paths as given,
 * "./" dropped, percent-encoded; absolute ones as file:// URIs. */
void report_sarif_uri(struct cle_buf *b, const char *path);

/* The `equalize` report: per layer spread and INT8 SQNR before and after,
 * and totals; nothing, when not NULL, says why the run changed nothing
 * (JSON: "nothing_to_equalize", a sentence or null). */
void report_equalize(struct cle_buf *b, const struct cle_plan *plan, const struct cle_result *res,
		     const char *nothing, enum report_format f);

/* s for a terminal: control characters (C0, DEL, C1) written as \xHH (or
 * \u00HH), so a name read from a model cannot drive the terminal; into buf
 * (n bytes, cut to fit).  Returns buf. */
const char *report_safe(const char *s, char *buf, size_t n);

#endif
