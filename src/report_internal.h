/* report_internal.h — what report.c and report_check.c share: the info
 * document as JSON, a layer's op, and the text layout (columns that fit
 * the longest name up to a limit, counts with their plurals). */
#ifndef CLE_REPORT_INTERNAL_H
#define CLE_REPORT_INTERNAL_H

#include "base.h"

struct cle_layer;
struct graph_model;

/* The info document as one JSON object, no newline after it. */
void report_info_json(struct cle_buf *b, const struct graph_model *gm, size_t n_file);

/* A layer's op as the file names it: Conv, ConvTranspose, Gemm, MatMul. */
const char *report_layer_op(const struct cle_layer *l);

/* Characters (UTF-8 code points) of s, as a terminal advances. */
size_t report_text_width(const char *s);

/* The width of a column holding names of up to `longest` characters. */
size_t report_column_width(size_t longest);

/* indent, then name in bold (bold/off: the terminal's codes, or ""),
 * padded to width; a longer name ends its line and the row goes on below
 * it, at the column's end. */
void report_name_cell(struct cle_buf *b, const char *indent, const char *name, size_t width,
		      const char *bold, const char *off);

/* "1 error", "2 errors" */
void report_count(struct cle_buf *b, uint32_t n, const char *one, const char *many);

#endif
