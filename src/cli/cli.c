/* cli.c — argument parsing, commands and exit codes of `onnx-cle`. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "onnx_io.h"

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

/* The commands, as the usage text lists them; their options come from
 * cle_option_defs. */
static const struct {
	const char *name, *args;
	enum cle_command cmd;
	bool lists_options; /* "[options]" and a list below it, else the options inline */
	const char *help;   /* "\n" starts a continuation line */
} commands[] = {
	{"info", "MODEL", CLE_CMD_INFO, false,
	 "what the model is: opsets, ops, weights, inputs, outputs"},
	{"check", "MODEL", CLE_CMD_CHECK, false,
	 "what stops cross-layer equalization, and how to fix it\n"
	 "(the model guidelines), and the CLE map: which layers\n"
	 "are equalized together, and why the others are not"},
	{"equalize", "IN -o OUT", CLE_CMD_EQUALIZE, true,
	 "scale channels across layers so that INT8 weights add the\n"
	 "least noise at the outputs; the function is kept"},
};

#define HELP_COLUMN 26 /* where descriptions start */

/* Writes help's lines: the first in HELP_COLUMN of b's line, which holds
 * col characters (or two spaces after them if they reach that far), the
 * others indented to HELP_COLUMN; tail follows the last line. */
static void usage_help(struct cle_buf *b, size_t col, const char *help, const char *tail)
{
	const char *nl;

	if (col + 2 > HELP_COLUMN)
		cle_buf_puts(b, "  ");
	else
		cle_buf_printf(b, "%*s", (int)(HELP_COLUMN - col), "");
	while ((nl = strchr(help, '\n')) != NULL) {
		cle_buf_append(b, help, (size_t)(nl - help));
		cle_buf_printf(b, "\n%*s", HELP_COLUMN, "");
		help = nl + 1;
	}
	cle_buf_printf(b, "%s%s\n", help, tail);
}

/* "--relu6=MODE" */
static void usage_flag(struct cle_buf *b, const struct cle_option_def *d)
{
	cle_buf_printf(b, "%s%s%s", d->flag, d->arg ? "=" : "", d->arg ? d->arg : "");
}

/* "  equalize IN -o OUT [options]" and its description, and its options. */
static void usage_command(struct cle_buf *b, size_t k)
{
	const struct cle_option_def *d;
	size_t start = b->n, col;
	const char *sep = " [";

	cle_buf_printf(b, "  %s %s", commands[k].name, commands[k].args);
	if (commands[k].lists_options) {
		cle_buf_puts(b, " [options]");
	} else {
		for (d = cle_option_defs; d->flag != NULL; d++) {
			if (!(d->commands & commands[k].cmd))
				continue;
			cle_buf_puts(b, sep);
			usage_flag(b, d);
			sep = " | ";
		}
		cle_buf_puts(b, "]");
	}
	col = b->n - start;
	if (col + 2 > HELP_COLUMN) { /* too long for its column: the description goes below */
		cle_buf_puts(b, "\n");
		col = 0;
	}
	usage_help(b, col, commands[k].help, "");
	if (!commands[k].lists_options)
		return;
	for (d = cle_option_defs; d->flag != NULL; d++) {
		char tail[64] = "";

		if (!(d->commands & commands[k].cmd))
			continue;
		start = b->n;
		cle_buf_puts(b, "      ");
		usage_flag(b, d);
		if (d->def != NULL && (d->kind == CLE_OPT_INT || d->kind == CLE_OPT_NUMBER))
			snprintf(tail, sizeof tail, " (default %s)", d->def);
		usage_help(b, b->n - start, d->help, tail);
	}
}

/* The --help text, from the commands above and cle_option_defs. */
static void usage_text(struct cle_buf *b)
{
	size_t k;

	cle_buf_puts(b, "usage: onnx-cle <command> [options]\n\ncommands:\n");
	for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
		usage_command(b, k);
	cle_buf_puts(b, "\n"
			"  --help                  this text\n"
			"  --version               the version\n"
			"\n"
			"exit status: 0 ok, 1 findings, 2 bad input or usage\n");
}

static int usage_error(const struct cli_host *h, const char *msg)
{
	char sb[1024];

	outf(h, 2, "onnx-cle: %s\n(run onnx-cle --help for usage)\n", report_safe(msg, sb, sizeof sb));
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
	char path[4096], folder[4096];
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
	/* the folder as given ("/" for a model at the root, "." for one without a folder) */
	snprintf(folder, sizeof folder, "%.*s", dir > 1 ? (int)dir - 1 : 1, dir ? r->model_path : ".");
	f = &r->files[r->n_files];
	st = h->read_file(h->ud, path, folder, h->a, &f->p, &f->n, e);
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

/* A parsed command line: the model, the output (equalize) and options. */
struct args {
	struct cle_options o;
	const char *model, *output;
};

static int parse_args(const struct cli_host *h, const char *cmd, bool wants_output, int argc,
		      char *argv[], struct args *a)
{
	struct cle_error e = {CLE_OK, ""};
	int i;

	memset(a, 0, sizeof *a);
	cle_options_init(&a->o);
	for (i = 2; i < argc; i++) {
		if (wants_output && (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0)) {
			if (i + 1 >= argc)
				return usage_error(h, "-o needs a file name");
			a->output = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			if (cle_option(&a->o, cmd, argc, argv, &i, &e) != CLE_OK)
				return usage_error(h, e.msg);
		} else if (a->model == NULL) {
			a->model = argv[i];
		} else {
			return usage_error(h, "give one model file");
		}
	}
	if (a->model == NULL) {
		outf(h, 2, "onnx-cle: %s needs a model file\n(run onnx-cle --help for usage)\n", cmd);
		return EXIT_BAD;
	}
	if (wants_output && a->output == NULL)
		return usage_error(h, "equalize needs an output file: -o OUT.onnx");
	a->o.color = a->o.format == REPORT_TEXT && h->color(h->ud, 1);
	return EXIT_OK;
}

/* An output file, as a sink: opened when the first byte comes (so a run
 * that fails early leaves nothing), written to a temporary name, renamed
 * into place by out_finish only when every output is complete. */
struct out_sink {
	const struct cli_host *h;
	const char *path;
	void *file;
};

static enum cle_status out_begin(void *ud, size_t total, struct cle_error *e)
{
	struct out_sink *o = ud;

	(void)total;
	return o->h->out_open(o->h->ud, o->path, &o->file, e);
}

/* Commits or removes an output; the first failure wins in *st and *e. */
static void out_finish(struct out_sink *o, enum cle_status *st, struct cle_error *e)
{
	struct cle_error ce;

	if (o->file == NULL)
		return;
	if (o->h->out_close(o->h->ud, o->file, *st == CLE_OK, &ce) != CLE_OK && *st == CLE_OK) {
		*st = ce.code;
		*e = ce;
	}
	o->file = NULL;
}

static enum cle_status out_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	struct out_sink *o = ud;

	return o->h->out_write(o->h->ud, o->file, p, n, e);
}

/* equalize's progress on a terminal's stderr: one line, rewritten in
 * place when its text changes, cleared when the run ends. */
struct progress_line {
	const struct cli_host *h;
	int max_rounds;
	char shown[64];
};

static bool progress_show(void *ud, const char *stage, double f)
{
	struct progress_line *pl = ud;
	char line[64];

	if (strcmp(stage, "balance") == 0)
		snprintf(line, sizeof line, "balancing, round %d", (int)(f * pl->max_rounds + 0.5));
	else if (strcmp(stage, "done") == 0)
		line[0] = '\0';
	else
		snprintf(line, sizeof line, "%s %3d%%", strcmp(stage, "read") == 0 ? "reading weights" : "writing",
			 (int)(f * 100));
	if (strcmp(line, pl->shown) != 0) {
		outf(pl->h, 2, "\r\033[K%s%s", line[0] ? "onnx-cle: " : "", line);
		memcpy(pl->shown, line, sizeof line);
	}
	return true;
}

/* Runs a command on the model named in args: reads it, runs the request
 * (equalize writes args->output), prints the document. */
static int run(const struct cli_host *h, const struct args *args, enum cle_command cmd)
{
	uint32_t errors = 0;
	struct cle_error e = {CLE_OK, ""};
	struct run r;
	struct cle_input in;
	struct cle_buf b;
	uint8_t *bytes = NULL;
	size_t n = 0;
	enum cle_status st;
	char sb[1024], nb[512];

	memset(&r, 0, sizeof r);
	r.h = h;
	r.model_path = args->model;
	/* an output that cannot be replaced is said before any work */
	if ((cmd == CLE_CMD_EQUALIZE && h->out_check(h->ud, args->output, &e) != CLE_OK) ||
	    h->read_file(h->ud, args->model, NULL, h->a, &bytes, &n, &e) != CLE_OK) {
		outf(h, 2, "onnx-cle: %s\n", report_safe(e.msg, sb, sizeof sb));
		return EXIT_BAD;
	}
	in.bytes = bytes;
	in.n = n;
	in.name = base_name(args->model);
	in.lookup.fn = side_lookup;
	in.lookup.ud = &r;
	cle_buf_init(&b, h->a);
	if (cmd == CLE_CMD_INFO) {
		st = cle_info(&in, &args->o, h->a, &b, &e);
	} else if (cmd == CLE_CMD_CHECK) {
		st = cle_check(&in, &args->o, h->a, &b, &errors, &e);
	} else {
		/* external data goes beside the output: OUT.data unless named */
		struct cle_options o = args->o;
		const char *slash = strrchr(args->output, '/');
		size_t dir = slash ? (size_t)(slash - args->output) + 1 : 0;
		char name[1024], path[4096];
		struct out_sink os = {h, args->output, NULL}, ds = {h, path, NULL};
		struct onnx_sink sink = {out_begin, out_write, &os}, dsink = {out_begin, out_write, &ds};
		struct progress_line pl = {h, args->o.cle.max_rounds, ""};

		if (o.data_name == NULL) {
			snprintf(name, sizeof name, "%s.data", base_name(args->output));
			o.data_name = name;
		}
		snprintf(path, sizeof path, "%.*s%s", (int)dir, args->output, o.data_name);
		if (h->tty(h->ud, 2)) {
			o.progress = progress_show;
			o.progress_ud = &pl;
		}
		st = cle_equalize_model(&in, &o, h->a, &sink, &dsink, &b, &e);
		progress_show(&pl, "done", 1); /* also when it failed part way */
		/* the data file first: a model is never in place without its data */
		out_finish(&ds, &st, &e);
		out_finish(&os, &st, &e);
	}
	if (st == CLE_OK)
		h->print(h->ud, 1, b.p ? b.p : "", b.n);
	else
		outf(h, 2, "onnx-cle: %s: %s\n", report_safe(in.name, nb, sizeof nb),
		     report_safe(e.msg, sb, sizeof sb));
	cle_buf_free(&b);
	run_free(&r);
	cle_free(h->a, bytes, n);
	return st != CLE_OK ? EXIT_BAD : errors ? EXIT_FINDINGS : EXIT_OK;
}

int cli_main(int argc, char *argv[], const struct cli_host *h)
{
	const char *cmd;

	if (argc < 2)
		return usage_error(h, "no command given");
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		struct cle_buf b;
		int rc = EXIT_OK;

		cle_buf_init(&b, h->a);
		usage_text(&b);
		if (b.status == CLE_OK)
			h->print(h->ud, 1, b.p, b.n);
		else
			rc = usage_error(h, "out of memory");
		cle_buf_free(&b);
		return rc;
	}
	if (strcmp(cmd, "--version") == 0) {
		out(h, 1, "onnx-cle " CLE_VERSION "\n");
		return EXIT_OK;
	}
	if (cle_command_of(cmd) != CLE_CMD_OTHER) {
		enum cle_command c = cle_command_of(cmd);
		struct args args;
		int rc = parse_args(h, cmd, c == CLE_CMD_EQUALIZE, argc, argv, &args);

		return rc != EXIT_OK ? rc : run(h, &args, c);
	}
	outf(h, 2, "onnx-cle: unknown command '%s'\n(run onnx-cle --help for usage)\n", cmd);
	return EXIT_BAD;
}
