/* wasm.c — the WebAssembly module's edge: functions JS calls (exports) and
 * the host functions JS supplies (imports, listed in src/wasm_imports.js and
 * implemented in wasm/core.js).  Built only with Emscripten. */
#include <string.h>

#include "api.h"
#include "cli/cli.h"
#include "onnx_io.h"

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

/* Host functions.  Sizes travel as doubles (exact to 2^53) so JS needs no
 * BigInt; a negative result means failure, with a sentence in err. */
IMPORT(host_print) void host_print(int fd, const char *s, size_t n);
IMPORT(host_color) int host_color(int fd);
IMPORT(host_file_size) double host_file_size(const char *path, char *err, size_t cap);
IMPORT(host_file_read) int host_file_read(const char *path, uint8_t *dst, size_t n, char *err,
					  size_t cap);
IMPORT(host_out_open) int host_out_open(const char *path, char *err, size_t cap);
IMPORT(host_out_write) int host_out_write(int file, const uint8_t *p, size_t n, char *err,
					  size_t cap);
IMPORT(host_out_close) int host_out_close(int file, int commit, char *err, size_t cap);
IMPORT(host_sink_begin) int host_sink_begin(double total);
IMPORT(host_sink_write) int host_sink_write(const uint8_t *p, size_t n);
IMPORT(host_data_begin) int host_data_begin(double total);
IMPORT(host_data_write) int host_data_write(const uint8_t *p, size_t n);
IMPORT(host_document) void host_document(const char *p, size_t n);
IMPORT(host_progress) int host_progress(const char *stage, double fraction);
IMPORT(host_ext_size) double host_ext_size(const char *name);
IMPORT(host_ext_read) int host_ext_read(const char *name, uint8_t *dst, size_t n);

static enum cle_status w_read_file(void *ud, const char *path, const struct cle_alloc *a,
				   uint8_t **p, size_t *n, struct cle_error *e)
{
	char err[sizeof e->msg] = "";
	double size = host_file_size(path, err, sizeof err);
	uint8_t *buf;

	(void)ud;
	*p = NULL;
	*n = 0;
	if (size < 0)
		return cle_errorf(e, CLE_E_IO, "%s", err);
	if (size > (double)(SIZE_MAX - 65536))
		return cle_errorf(e, CLE_E_LIMIT,
				  "%s holds %.0f bytes, more than WebAssembly's 4 GB memory can hold",
				  path, size);
	if (size == 0)
		return CLE_OK;
	buf = cle_malloc(a, (size_t)size);
	if (buf == NULL)
		return cle_errorf(e, CLE_E_NOMEM,
				  "out of memory reading %s (%.0f bytes; WebAssembly memory is at most 4 GB)",
				  path, size);
	if (host_file_read(path, buf, (size_t)size, err, sizeof err) != 0) {
		cle_free(a, buf, (size_t)size);
		return cle_errorf(e, CLE_E_IO, "%s", err);
	}
	*p = buf;
	*n = (size_t)size;
	return CLE_OK;
}

static enum cle_status w_out_open(void *ud, const char *path, void **file, struct cle_error *e)
{
	char err[sizeof e->msg] = "";
	int h = host_out_open(path, err, sizeof err);

	(void)ud;
	if (h < 0)
		return cle_errorf(e, CLE_E_IO, "%s", err);
	*file = (void *)(uintptr_t)(h + 1);
	return CLE_OK;
}

static enum cle_status w_out_write(void *ud, void *file, const uint8_t *p, size_t n,
				   struct cle_error *e)
{
	char err[sizeof e->msg] = "";

	(void)ud;
	if (host_out_write((int)(uintptr_t)file - 1, p, n, err, sizeof err) != 0)
		return cle_errorf(e, CLE_E_IO, "%s", err);
	return CLE_OK;
}

static enum cle_status w_out_close(void *ud, void *file, bool commit, struct cle_error *e)
{
	char err[sizeof e->msg] = "";

	(void)ud;
	if (host_out_close((int)(uintptr_t)file - 1, commit, err, sizeof err) != 0)
		return cle_errorf(e, CLE_E_IO, "%s", err);
	return CLE_OK;
}

static void w_print(void *ud, int fd, const char *s, size_t n)
{
	(void)ud;
	host_print(fd, s, n);
}

static bool w_color(void *ud, int fd)
{
	(void)ud;
	return host_color(fd) != 0;
}

/* The CLI, with argv placed in wasm memory by bin/onnx-cle.js. */
EXPORT(cle_cli) int cle_cli(int argc, char **argv)
{
	const struct cli_host h = {w_read_file, w_out_open, w_out_write, w_out_close,
				   w_print,     w_color,    NULL,        &cle_system_alloc};

	return cli_main(argc, argv, &h);
}

/* ---- library calls: bytes in, documents and bytes out ------------------ */

/* Each library call takes a struct cle_error that JS allocated (its size
 * from cle_error_size) and reads back through these two. */
EXPORT(cle_error_size) size_t cle_error_size(void)
{
	return sizeof(struct cle_error);
}

EXPORT(cle_error_code) const char *cle_error_code(const struct cle_error *e)
{
	return cle_status_name(e->code);
}

EXPORT(cle_error_message) const char *cle_error_message(const struct cle_error *e)
{
	return e->msg;
}

static enum cle_status sink_begin(void *ud, size_t total, struct cle_error *e)
{
	(void)ud;
	if (host_sink_begin((double)total) != 0)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory for the %zu-byte output", total);
	return CLE_OK;
}

static enum cle_status sink_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	(void)ud;
	if (host_sink_write(p, n) != 0)
		return cle_errorf(e, CLE_E_IO, "the output could not be received");
	return CLE_OK;
}

/* The external data file an equalize writes, through host_data_*. */
static enum cle_status data_begin(void *ud, size_t total, struct cle_error *e)
{
	(void)ud;
	if (host_data_begin((double)total) != 0)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory for the %zu-byte external data", total);
	return CLE_OK;
}

static enum cle_status data_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	(void)ud;
	if (host_data_write(p, n) != 0)
		return cle_errorf(e, CLE_E_IO, "the external data could not be received");
	return CLE_OK;
}

/* Writes the model at p back out through host_sink_*; returns the status. */
EXPORT(cle_copy_model) int cle_copy_model(const uint8_t *p, size_t n, struct cle_error *e)
{
	struct cle_input in = {p, n, "model.onnx", {NULL, NULL}};
	struct onnx_sink sink = {sink_begin, sink_write, NULL};

	return (int)cle_copy(&in, &cle_system_alloc, &sink, e);
}

/* External data files for one request, read from JS as C asks for them. */
struct ext_files {
	struct {
		char *name;
		uint8_t *p;
		size_t n;
	} f[256];
	int n;
};

static enum cle_status ext_lookup(void *ud, const char *location, const uint8_t **p, size_t *n,
				  struct cle_error *e)
{
	struct ext_files *x = ud;
	double size;
	int i;

	for (i = 0; i < x->n; i++) {
		if (strcmp(x->f[i].name, location) == 0) {
			*p = x->f[i].p;
			*n = x->f[i].n;
			return CLE_OK;
		}
	}
	size = host_ext_size(location);
	if (size < 0)
		return cle_errorf(e, CLE_E_IO, "external data file '%s' was not given", location);
	if (x->n == (int)(sizeof x->f / sizeof x->f[0]) || size > (double)(SIZE_MAX - 65536))
		return cle_errorf(e, CLE_E_LIMIT, "too much external data for WebAssembly memory");
	x->f[x->n].n = (size_t)size;
	x->f[x->n].p = cle_malloc(&cle_system_alloc, size > 0 ? (size_t)size : 1);
	x->f[x->n].name = cle_malloc(&cle_system_alloc, strlen(location) + 1);
	if (x->f[x->n].p == NULL || x->f[x->n].name == NULL) {
		cle_free(&cle_system_alloc, x->f[x->n].p, size > 0 ? (size_t)size : 1);
		cle_free(&cle_system_alloc, x->f[x->n].name, strlen(location) + 1);
		return cle_errorf(e, CLE_E_NOMEM,
				  "out of memory for external data '%s' (%.0f bytes; WebAssembly memory is "
				  "at most 4 GB)", location, size);
	}
	memcpy(x->f[x->n].name, location, strlen(location) + 1);
	if (host_ext_read(location, x->f[x->n].p, x->f[x->n].n) != 0) {
		cle_free(&cle_system_alloc, x->f[x->n].p, size > 0 ? (size_t)size : 1);
		cle_free(&cle_system_alloc, x->f[x->n].name, strlen(location) + 1);
		return cle_errorf(e, CLE_E_IO, "external data file '%s' could not be read", location);
	}
	*p = x->f[x->n].p;
	*n = x->f[x->n].n;
	x->n++;
	return CLE_OK;
}

static bool on_progress(void *ud, const char *stage, double fraction)
{
	(void)ud;
	return host_progress(stage, fraction) == 0;
}

/* One library call for the JS API: cmd is "info", "check" or "equalize"; argv holds
 * the options exactly as the CLI takes them (the one option parser).  The
 * document goes to host_document, an output model to host_sink_*. */
EXPORT(cle_request) int cle_request(const char *cmd, int argc, char **argv, const uint8_t *p,
				    size_t n, const char *name, struct cle_error *e)
{
	struct ext_files *files = cle_calloc(&cle_system_alloc, 1, sizeof *files);
	struct cle_input in = {p, n, name, {ext_lookup, files}};
	struct onnx_sink sink = {sink_begin, sink_write, NULL};
	struct onnx_sink data_sink = {data_begin, data_write, NULL};
	struct cle_options o;
	struct cle_buf doc;
	enum cle_status st = CLE_OK;
	int i;

	if (files == NULL)
		return (int)cle_errorf(e, CLE_E_NOMEM, "out of memory");
	cle_options_init(&o);
	o.format = REPORT_JSON;
	o.progress = on_progress;
	for (i = 0; i < argc && st == CLE_OK; i++)
		st = cle_option(&o, cmd, argc, argv, &i, e);
	cle_buf_init(&doc, &cle_system_alloc);
	if (st == CLE_OK) {
		uint32_t errors;

		if (strcmp(cmd, "info") == 0)
			st = cle_info(&in, &o, &cle_system_alloc, &doc, e);
		else if (strcmp(cmd, "check") == 0)
			st = cle_check(&in, &o, &cle_system_alloc, &doc, &errors, e);
		else if (strcmp(cmd, "equalize") == 0)
			st = cle_equalize_model(&in, &o, &cle_system_alloc, &sink, &data_sink, &doc, e);
		else
			st = cle_errorf(e, CLE_E_USAGE, "unknown request '%s'", cmd);
	}
	if (st == CLE_OK)
		host_document(doc.p ? doc.p : "", doc.n);
	cle_buf_free(&doc);
	for (i = 0; i < files->n; i++) {
		cle_free(&cle_system_alloc, files->f[i].p, files->f[i].n ? files->f[i].n : 1);
		cle_free(&cle_system_alloc, files->f[i].name, strlen(files->f[i].name) + 1);
	}
	cle_free(&cle_system_alloc, files, sizeof *files);
	return (int)st;
}
