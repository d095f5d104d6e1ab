/* api.c — one function per request: load → index → stage → document. */
#include "api.h"

#include <string.h>

#include "onnx_io.h"

void cle_options_init(struct cle_options *o)
{
	memset(o, 0, sizeof *o);
	o->format = REPORT_TEXT;
}

enum cle_status cle_option(struct cle_options *o, const char *cmd, int argc, char *const argv[],
			   int *i, struct cle_error *e)
{
	const char *arg = argv[*i];

	(void)argc;
	if (strcmp(arg, "--json") == 0) {
		o->format = REPORT_JSON;
		return CLE_OK;
	}
	return cle_errorf(e, CLE_E_USAGE, "unknown option '%s' for %s", arg, cmd);
}

/* Loads and indexes the input; on success the caller frees both. */
static enum cle_status open_model(const struct cle_input *in, const struct cle_alloc *a,
				  struct onnx_model **m, struct graph_model **gm,
				  struct cle_error *e)
{
	enum cle_status st;

	*gm = NULL;
	if ((st = onnx_load(m, in->bytes, in->n, a, e)) != CLE_OK)
		return st;
	if ((st = graph_build(gm, *m, in->lookup.fn ? &in->lookup : NULL, a, e)) != CLE_OK) {
		onnx_free(*m);
		*m = NULL;
	}
	return st;
}

/* A document that ran out of memory part way is an error, not a result. */
static enum cle_status finish(struct cle_buf *out, struct cle_error *e)
{
	if (out->status == CLE_E_NOMEM)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory writing the report");
	if (out->status != CLE_OK)
		return cle_errorf(e, out->status, "the report is too large");
	return CLE_OK;
}

enum cle_status cle_copy(const struct cle_input *in, const struct cle_alloc *a,
			 const struct onnx_sink *sink, struct cle_error *e)
{
	struct onnx_model *m;
	enum cle_status st;

	if ((st = onnx_load(&m, in->bytes, in->n, a, e)) != CLE_OK)
		return st;
	st = onnx_save(m, NULL, 0, sink, e);
	onnx_free(m);
	return st;
}

enum cle_status cle_info(const struct cle_input *in, const struct cle_options *o,
			 const struct cle_alloc *a, struct cle_buf *out, struct cle_error *e)
{
	struct onnx_model *m;
	struct graph_model *gm;
	enum cle_status st;

	if ((st = open_model(in, a, &m, &gm, e)) != CLE_OK)
		return st;
	report_info(out, gm, in->name, in->n, o->format);
	st = finish(out, e);
	graph_free(gm);
	onnx_free(m);
	return st;
}
