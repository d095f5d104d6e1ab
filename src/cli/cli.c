/* cli.c — argument parsing, commands and exit codes of `onnx-cle`. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"

enum { EXIT_OK = 0, EXIT_FINDINGS = 1, EXIT_BAD = 2 };

struct side_file {
	char *location;
	uint8_t *p;
	size_t n;
};

/* One run: the host, the model path, and the side files read for it. */
struct run {
	const struct cli_host *h;
	const char *model_path;
	struct side_file files[64];
	int n_files;
};

static void out(const struct cli_host *h, int fd, const char *s)
{
	h->print(h->ud, fd, s, strlen(s));
}

static void outf(const struct cli_host *h, int fd, const char *fmt, ...) CLE_PRINTF(3, 4);
static void outf(const struct cli_host *h, int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		h->print(h->ud, fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static const char usage_text[] =
	"usage: onnx-cle <command> [options]\n"
	"\n"
	"commands:\n"
	"  info MODEL [--json]     what the model is: opsets, ops, weights, inputs, outputs\n"
	"\n"
	"  --help                  this text\n"
	"  --version               the version\n"
	"\n"
	"exit status: 0 ok, 1 findings, 2 bad input or usage\n";

static int usage_error(const struct cli_host *h, const char *msg)
{
	outf(h, 2, "onnx-cle: %s\n(run onnx-cle --help for usage)\n", msg);
	return EXIT_BAD;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* External data: files named relative to the model's folder, never outside it. */
static enum cle_status side_lookup(void *ud, const char *location, const uint8_t **p, size_t *n,
				   struct cle_error *e)
{
	struct run *r = ud;
	const struct cli_host *h = r->h;
	const char *slash = strrchr(r->model_path, '/');
	size_t dir = slash ? (size_t)(slash - r->model_path) + 1 : 0;
	char path[4096];
	struct side_file *f;
	enum cle_status st;
	int i;

	for (i = 0; i < r->n_files; i++) {
		if (strcmp(r->files[i].location, location) == 0) {
			*p = r->files[i].p;
			*n = r->files[i].n;
			return CLE_OK;
		}
	}
	if (location[0] == '/' || strstr(location, "..") != NULL || strchr(location, '\\') != NULL)
		return cle_errorf(e, CLE_E_UNSUPPORTED,
				  "external data location '%s' points outside the model's folder",
				  location);
	if (r->n_files == (int)(sizeof r->files / sizeof r->files[0]))
		return cle_errorf(e, CLE_E_LIMIT, "the model names more than %d external data files",
				  r->n_files);
	if ((size_t)snprintf(path, sizeof path, "%.*s%s", (int)dir, r->model_path, location) >=
	    sizeof path)
		return cle_errorf(e, CLE_E_LIMIT, "external data path is too long");
	f = &r->files[r->n_files];
	st = h->read_file(h->ud, path, h->a, &f->p, &f->n, e);
	if (st != CLE_OK)
		return st;
	f->location = cle_malloc(h->a, strlen(location) + 1);
	if (f->location == NULL) {
		cle_free(h->a, f->p, f->n);
		return cle_errorf(e, CLE_E_NOMEM, "out of memory reading external data");
	}
	memcpy(f->location, location, strlen(location) + 1);
	r->n_files++;
	*p = f->p;
	*n = f->n;
	return CLE_OK;
}

static void run_free(struct run *r)
{
	int i;

	for (i = 0; i < r->n_files; i++) {
		cle_free(r->h->a, r->files[i].p, r->files[i].n);
		cle_free(r->h->a, r->files[i].location, strlen(r->files[i].location) + 1);
	}
	r->n_files = 0;
}

typedef enum cle_status (*request_fn)(const struct cle_input *in, const struct cle_options *o,
				      const struct cle_alloc *a, struct cle_buf *out,
				      struct cle_error *e);

/* `onnx-cle CMD MODEL [options]` for commands that read one model and
 * print one document. */
static int cmd_document(const struct cli_host *h, const char *cmd, request_fn fn, int argc,
			char *argv[])
{
	struct cle_options o;
	struct cle_error e = {CLE_OK, ""};
	struct run r;
	struct cle_input in;
	struct cle_buf b;
	uint8_t *bytes = NULL;
	size_t n = 0;
	const char *model = NULL;
	enum cle_status st;
	int i;

	cle_options_init(&o);
	for (i = 2; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			if (cle_option(&o, cmd, argc, argv, &i, &e) != CLE_OK)
				return usage_error(h, e.msg);
		} else if (model == NULL) {
			model = argv[i];
		} else {
			return usage_error(h, "give one model file");
		}
	}
	if (model == NULL) {
		outf(h, 2, "onnx-cle: %s needs a model file\n", cmd);
		return EXIT_BAD;
	}
	o.color = o.format == REPORT_TEXT && h->color(h->ud, 1);
	memset(&r, 0, sizeof r);
	r.h = h;
	r.model_path = model;
	if ((st = h->read_file(h->ud, model, h->a, &bytes, &n, &e)) != CLE_OK) {
		outf(h, 2, "onnx-cle: %s\n", e.msg);
		return EXIT_BAD;
	}
	in.bytes = bytes;
	in.n = n;
	in.name = base_name(model);
	in.lookup.fn = side_lookup;
	in.lookup.ud = &r;
	cle_buf_init(&b, h->a);
	st = fn(&in, &o, h->a, &b, &e);
	if (st == CLE_OK)
		h->print(h->ud, 1, b.p ? b.p : "", b.n);
	else
		outf(h, 2, "onnx-cle: %s: %s\n", in.name, e.msg);
	cle_buf_free(&b);
	run_free(&r);
	cle_free(h->a, bytes, n);
	return st == CLE_OK ? EXIT_OK : EXIT_BAD;
}

int cli_main(int argc, char *argv[], const struct cli_host *h)
{
	const char *cmd;

	if (argc < 2)
		return usage_error(h, "no command given");
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		out(h, 1, usage_text);
		return EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		out(h, 1, "onnx-cle " CLE_VERSION "\n");
		return EXIT_OK;
	}
	if (strcmp(cmd, "info") == 0)
		return cmd_document(h, cmd, cle_info, argc, argv);
	outf(h, 2, "onnx-cle: unknown command '%s'\n(run onnx-cle --help for usage)\n", cmd);
	return EXIT_BAD;
}
