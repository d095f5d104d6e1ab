/* report.h — the one JSON writer, and the text renderings of the same
 * documents.  The CLI, the JS API and the page all show what this writes. */
#ifndef CLE_REPORT_H
#define CLE_REPORT_H

#include "base.h"

struct graph_model;

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

#endif
