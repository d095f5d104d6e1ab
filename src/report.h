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
};

/* JSON string literal for s (n bytes), quotes included; invalid UTF-8
 * becomes U+FFFD so the output always parses. */
void report_json_strn(struct cle_buf *b, const char *s, size_t n);
void report_json_str(struct cle_buf *b, const char *s);

/* The `info` document: what the model is.  file names the input in text
 * form; n_file is its size in bytes. */
void report_info(struct cle_buf *b, const struct graph_model *gm, const char *file,
		 size_t n_file, enum report_format f);

/* The `check` document: findings grouped by rule, and the CLE map (which
 * layers equalization reaches, with whom, and why not); as JSON also the
 * info document under "model".  file names the model (the SARIF artifact),
 * n_file is its size; color adds ANSI colour to text. */
void report_check(struct cle_buf *b, const struct graph_model *gm, const struct rule_findings *rf,
		  const struct cle_plan *plan, const char *file, size_t n_file, enum report_format f,
		  bool color);

/* The `equalize` report: per layer spread and INT8 SQNR before and after,
 * and totals. */
void report_equalize(struct cle_buf *b, const struct cle_plan *plan, const struct cle_result *res,
		     enum report_format f);

/* s for a terminal: control characters (C0, DEL, C1) written as \xHH (or
 * \u00HH), so a name read from a model cannot drive the terminal; into buf
 * (n bytes, cut to fit).  Returns buf. */
const char *report_safe(const char *s, char *buf, size_t n);

#endif
