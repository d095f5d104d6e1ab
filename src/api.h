/* api.h — onnx-cle's entry points: one call per request (load, index, run
 * a stage, write its document), shared by the native CLI and the wasm
 * exports.  Options have one parser, used by both. */
#ifndef CLE_API_H
#define CLE_API_H

#include "base.h"
#include "cle.h"
#include "cle_version.h" /* CLE_VERSION, from package.json (made by CMake in build/.../gen) */
#include "graph.h"
#include "report.h"

struct cle_options {
	enum report_format format; /* --json, --sarif; text by default */
	bool color;                /* ANSI colour in text output */
	struct cle_config cle;     /* equalize: --no-hbf, --pow2-scales, --reference, ... */
	bool relu6_set;            /* --relu6 given (else --reference implies relu) */
	bool inline_external;      /* --inline-external: external data into the model */
	const char *data_name;     /* --external-data-name: the new data file's name */
	cle_progress_fn progress;  /* long work reports here; may be NULL */
	void *progress_ud;
};

/* The model to work on. */
struct cle_input {
	const uint8_t *bytes; /* borrowed for the call */
	size_t n;
	const char *name;            /* shown in reports, e.g. "model.onnx" */
	struct graph_lookup lookup;  /* external data; fn NULL when there is none */
};

void cle_options_init(struct cle_options *o);

/* Parses the option at argv[*i] (and its argument, advancing *i);
 * CLE_E_USAGE with a sentence if it is not an option of cmd. */
CLE_NODISCARD enum cle_status cle_option(struct cle_options *o, const char *cmd, int argc,
					 char *const argv[], int *i, struct cle_error *e);

struct onnx_sink;

/* Loads the model and writes it back unchanged (the output path every
 * rewrite takes, with no edits): the bytes come out identical. */
CLE_NODISCARD enum cle_status cle_copy(const struct cle_input *in, const struct cle_alloc *a,
				       const struct onnx_sink *sink, struct cle_error *e);

/* `check`: the guideline findings and the CLE map, appended to out;
 * *errors receives the number of error findings (the CLI exits 1 on any). */
CLE_NODISCARD enum cle_status cle_check(const struct cle_input *in, const struct cle_options *o,
					const struct cle_alloc *a, struct cle_buf *out,
					uint32_t *errors, struct cle_error *e);

/* `equalize`: writes the equalized model to sink and its report to out.
 * If the model keeps tensors in external data, they go to data_sink as one
 * file named o->data_name, or into the model with o->inline_external. */
CLE_NODISCARD enum cle_status cle_equalize_model(const struct cle_input *in,
						 const struct cle_options *o,
						 const struct cle_alloc *a,
						 const struct onnx_sink *sink,
						 const struct onnx_sink *data_sink, struct cle_buf *out,
						 struct cle_error *e);

/* `info`: the model summary document, appended to out. */
CLE_NODISCARD enum cle_status cle_info(const struct cle_input *in, const struct cle_options *o,
				       const struct cle_alloc *a, struct cle_buf *out,
				       struct cle_error *e);

#endif
