/* wasm.c — the WebAssembly module's edge: functions JS calls (exports) and
 * the host functions JS supplies (imports, implemented in wasm/core.js).
 * The IMPORT(name) lines below are the one list of imports: CMake makes the
 * linker's list from them (cmake/wasm_imports.cmake), and
 * tests/js/abi.test.mjs holds core.js to the module.  Built only with
 * Emscripten. */
#include <emscripten/heap.h>
#include <stdio.h>
#include <stdlib.h>
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
IMPORT(host_tty) int host_tty(int fd);
IMPORT(host_file_size) double host_file_size(const char *path, const char *within, char *err,
					     size_t cap);
IMPORT(host_file_read) int host_file_read(const char *path, const char *within, uint8_t *dst,
					  size_t n, char *err, size_t cap);
IMPORT(host_dir_size) double host_dir_size(const char *path, char *err, size_t cap);
IMPORT(host_dir_read) int host_dir_read(const char *path, char *dst, size_t n, char *err, size_t cap);
IMPORT(host_out_check) int host_out_check(const char *path, char *err, size_t cap);
IMPORT(host_out_open) int host_out_open(const char *path, char *err, size_t cap);
IMPORT(host_out_write) int host_out_write(int file, const uint8_t *p, size_t n, char *err,
					  size_t cap);
IMPORT(host_out_close) int host_out_close(int file, int commit, char *err, size_t cap);
IMPORT(host_sink_begin) int host_sink_begin(double total);
IMPORT(host_sink_write) int host_sink_write(const uint8_t *p, size_t n);
IMPORT(host_data_begin) int host_data_begin(double total, const char *name);
IMPORT(host_data_write) int host_data_write(const uint8_t *p, size_t n);
IMPORT(host_document) void host_document(const char *p, size_t n);
IMPORT(host_progress) int host_progress(const char *stage, double fraction);
IMPORT(host_ext_size) double host_ext_size(const char *name);
IMPORT(host_ext_read) int host_ext_read(const char *name, uint8_t *dst, size_t n);

/* ---- memory ------------------------------------------------------------ */

/* Small blocks come from the C library's malloc (dlmalloc); blocks of
 * BIG_MIN bytes or more are cut from the top of the break (cle_bigmem in
 * base.h), since dlmalloc gives no block of 2 GiB or more and never gives
 * memory back: a model's bytes, the largest block, can then be nearly all
 * of wasm32's 4 GiB, and go back when freed.  The module instance is the
 * one context, so this state is static. */
#define WASM_LIMIT ((uintptr_t)0xffff0000u) /* 65535 pages: the heap size wraps at 4 GiB */
#define BIG_MIN ((size_t)64 << 20)
/* What malloc keeps free below a model of n bytes for the call's own small
 * blocks (44 MB for 2.4 GB of Convs), so that it need not take memory above
 * the model's block, which then goes back to the break when freed. */
#define WORK_RESERVE(n) (((size_t)32 << 20) + (n) / 32)

static uintptr_t brk_get(void *ud)
{
	(void)ud;
	return *emscripten_get_sbrk_ptr();
}

static bool brk_set(void *ud, uintptr_t top)
{
	(void)ud;
	if (top > WASM_LIMIT || (top > emscripten_get_heap_size() && !emscripten_resize_heap(top)))
		return false;
	*emscripten_get_sbrk_ptr() = top;
	return true;
}

static struct cle_bigmem wasm_big = {{brk_get, brk_set, NULL, WASM_LIMIT}, BIG_MIN, 0, {{0}}};
static bool wasm_refused; /* an allocation failed since the call began */

static void *wasm_alloc_fn(void *ud, void *ptr, size_t old, size_t size)
{
	void *p = cle_bigmem_alloc_fn(ud, ptr, old, size);

	if (p == NULL && size != 0)
		wasm_refused = true;
	return p;
}

static const struct cle_alloc wasm_alloc = {wasm_alloc_fn, &wasm_big};

/* Sizes near the limit, with two decimals so that "left" never reads as
 * much as a size that did not fit. */
static double gb(size_t n)
{
	return (double)n / 1e9;
}

/* Appends to an out-of-memory sentence how that can be with n bytes of
 * model, when wasm memory (not JS's, for the output) was what ran out. */
static void nomem_context(struct cle_error *e, size_t n)
{
	size_t len = strlen(e->msg);

	if (!wasm_refused)
		return;
	snprintf(e->msg + len, sizeof e->msg - len,
		 ": the model takes %.2f GB of the %.2f GB (4 GiB) WebAssembly memory can hold, "
		 "and working on it needs more than the rest", gb(n), gb(WASM_LIMIT));
}

/* The bytes of a model for a library call, which JS copies in: NULL, with a
 * sentence naming the size and what is left, when they do not fit. */
EXPORT(cle_input_alloc) uint8_t *cle_input_alloc(size_t n, struct cle_error *e)
{
	bool fits = n < BIG_MIN || n <= cle_bigmem_room(&wasm_big); /* else refused untouched */
	uint8_t *p = NULL;

	if (fits && n >= BIG_MIN) {
		void *volatile reserve = malloc(WORK_RESERVE(n)); /* volatile: not optimized away */

		free(reserve); /* malloc keeps it, below the model */
	}
	if (fits)
		p = cle_malloc(&wasm_alloc, n ? n : 1);
	if (p == NULL)
		cle_errorf(e, CLE_E_NOMEM,
			   "out of memory: the model (%.2f GB, %zu bytes) does not fit in WebAssembly "
			   "memory, which holds at most 4 GiB and has %.2f GB left",
			   gb(n), n, gb(cle_bigmem_room(&wasm_big)));
	return p;
}

EXPORT(cle_input_free) void cle_input_free(uint8_t *p, size_t n)
{
	cle_free(&wasm_alloc, p, n ? n : 1);
}

/* The host says why in err, and whether the file was refused (outside the
 * folder, or not a regular file: -2) or could not be read (-1). */
static enum cle_status w_read_file(void *ud, const char *path, const char *within,
				   const struct cle_alloc *a, uint8_t **p, size_t *n,
				   struct cle_error *e)
{
	char err[sizeof e->msg] = "";
	double size = host_file_size(path, within, err, sizeof err);
	uint8_t *buf;
	int r;

	(void)ud;
	*p = NULL;
	*n = 0;
	if (size < 0)
		return cle_errorf(e, size < -1.5 ? CLE_E_UNSUPPORTED : CLE_E_IO, "%s", err);
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
	if ((r = host_file_read(path, within, buf, (size_t)size, err, sizeof err)) != 0) {
		cle_free(a, buf, (size_t)size);
		return cle_errorf(e, r < -1 ? CLE_E_UNSUPPORTED : CLE_E_IO, "%s", err);
	}
	*p = buf;
	*n = (size_t)size;
	return CLE_OK;
}

static enum cle_status w_out_check(void *ud, const char *path, struct cle_error *e)
{
	char err[sizeof e->msg] = "";

	(void)ud;
	if (host_out_check(path, err, sizeof err) != 0)
		return cle_errorf(e, CLE_E_IO, "%s", err);
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

/* The host lists the folder in two calls, its size (-2: not a folder),
 * then its bytes; the block gets a final NUL, so an empty folder is one. */
static enum cle_status w_list_dir(void *ud, const char *path, const struct cle_alloc *a,
				  bool *is_dir, char **p, size_t *n, struct cle_error *e)
{
	char err[sizeof e->msg] = "";
	double size = host_dir_size(path, err, sizeof err);
	char *buf;

	(void)ud;
	*is_dir = false;
	*p = NULL;
	*n = 0;
	if (size < -1.5)
		return CLE_OK;
	if (size < 0)
		return cle_errorf(e, CLE_E_IO, "%s", err);
	if (size > (double)(SIZE_MAX - 65536))
		return cle_errorf(e, CLE_E_LIMIT, "the listing of %s is too large", path);
	if ((buf = cle_malloc(a, (size_t)size + 1)) == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory listing %s", path);
	if (host_dir_read(path, buf, (size_t)size, err, sizeof err) != 0) {
		cle_free(a, buf, (size_t)size + 1);
		return cle_errorf(e, CLE_E_IO, "%s", err);
	}
	buf[(size_t)size] = '\0';
	*is_dir = true;
	*p = buf;
	*n = (size_t)size + 1;
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

static bool w_tty(void *ud, int fd)
{
	(void)ud;
	return host_tty(fd) != 0;
}

/* The CLI, with argv placed in wasm memory by bin/onnx-cle.js. */
EXPORT(cle_cli) int cle_cli(int argc, char **argv)
{
	const struct cli_host h = {w_read_file, w_out_check, w_out_open, w_out_write, w_out_close,
				   w_print,     w_color,     w_tty,      w_list_dir,  NULL,
				   &wasm_alloc};

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

/* The external data file an equalize writes, through host_data_*; ud is
 * the file's name, as the model refers to it. */
static enum cle_status data_begin(void *ud, size_t total, struct cle_error *e)
{
	if (host_data_begin((double)total, ud) != 0)
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
	enum cle_status st;

	wasm_refused = false;
	st = cle_copy(&in, &wasm_alloc, &sink, e);

	if (st == CLE_E_NOMEM)
		nomem_context(e, n);
	return (int)st;
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
	size_t len = strlen(location) + 1, size;
	uint8_t *bytes = NULL;
	char *name = NULL;
	double host_size;
	enum cle_status st;
	int i;

	for (i = 0; i < x->n; i++) {
		if (strcmp(x->f[i].name, location) == 0) {
			*p = x->f[i].p;
			*n = x->f[i].n;
			return CLE_OK;
		}
	}
	host_size = host_ext_size(location);
	if (host_size < 0)
		return cle_errorf(e, CLE_E_IO, "external data file '%s' was not given", location);
	if (x->n == (int)(sizeof x->f / sizeof x->f[0]) || host_size > (double)(SIZE_MAX - 65536))
		return cle_errorf(e, CLE_E_LIMIT, "too much external data for WebAssembly memory");
	size = (size_t)host_size;
	bytes = cle_malloc(&wasm_alloc, size > 0 ? size : 1);
	name = cle_malloc(&wasm_alloc, len);
	if (bytes == NULL || name == NULL) {
		st = cle_errorf(e, CLE_E_NOMEM,
				"out of memory for external data '%s' (%.0f bytes; WebAssembly memory is "
				"at most 4 GB)", location, host_size);
		goto fail;
	}
	memcpy(name, location, len);
	if (host_ext_read(location, bytes, size) != 0) {
		st = cle_errorf(e, CLE_E_IO, "external data file '%s' could not be read", location);
		goto fail;
	}
	x->f[x->n].name = name;
	x->f[x->n].p = bytes;
	x->f[x->n].n = size;
	x->n++;
	*p = bytes;
	*n = size;
	return CLE_OK;
fail:
	cle_free(&wasm_alloc, bytes, size > 0 ? size : 1);
	cle_free(&wasm_alloc, name, len);
	return st;
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
	struct ext_files *files = (wasm_refused = false, cle_calloc(&wasm_alloc, 1, sizeof *files));
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
	cle_buf_init(&doc, &wasm_alloc);
	data_sink.ud = (void *)(uintptr_t)cle_data_name(&o);
	if (st == CLE_OK) {
		uint32_t errors;

		if (strcmp(cmd, "info") == 0)
			st = cle_info(&in, &o, &wasm_alloc, &doc, e);
		else if (strcmp(cmd, "check") == 0)
			st = cle_check(&in, &o, &wasm_alloc, &doc, &errors, e);
		else if (strcmp(cmd, "equalize") == 0)
			st = cle_equalize_model(&in, &o, &wasm_alloc, &sink, &data_sink, &doc, e);
		else
			st = cle_errorf(e, CLE_E_USAGE, "unknown request '%s'", cmd);
	}
	if (st == CLE_OK)
		host_document(doc.p ? doc.p : "", doc.n);
	else if (st == CLE_E_NOMEM)
		nomem_context(e, n);
	cle_buf_free(&doc);
	for (i = 0; i < files->n; i++) {
		cle_free(&wasm_alloc, files->f[i].p, files->f[i].n ? files->f[i].n : 1);
		cle_free(&wasm_alloc, files->f[i].name, strlen(files->f[i].name) + 1);
	}
	cle_free(&wasm_alloc, files, sizeof *files);
	return (int)st;
}

/* The options as cle_options_json describes them, to host_document;
 * returns the status. */
EXPORT(cle_options_describe) int cle_options_describe(void)
{
	struct cle_buf doc;
	enum cle_status st;

	cle_buf_init(&doc, &wasm_alloc);
	cle_options_json(&doc);
	st = doc.status;
	if (st == CLE_OK)
		host_document(doc.p, doc.n);
	cle_buf_free(&doc);
	return (int)st;
}

/* ---- for bench/run.mjs -------------------------------------------------- */

/* The floor equalize is measured against: n bytes copied inside this module. */
EXPORT(cle_bench_memcpy) void cle_bench_memcpy(uint8_t *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
}

/* The top of the heap (sbrk(0)), sampled during a call for its high-water mark;
 * also what prepare() (wasm/api.js) counts as the memory the instance holds. */
void *sbrk(intptr_t increment); /* emscripten's libc; <unistd.h> hides it under -std=c11 */
EXPORT(cle_bench_heap_top) size_t cle_bench_heap_top(void)
{
	return (size_t)sbrk(0);
}
