/* cli.c — argument parsing, commands and exit codes of `onnx-cle`. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
	{"check", "MODEL|FOLDER...", CLE_CMD_CHECK, true,
	 "what stops cross-layer equalization, and how to fix it\n"
	 "(the model guidelines), and the CLE map: which layers\n"
	 "are equalized together, and why the others are not;\n"
	 "folders are searched for .onnx files (not hidden ones,\n"
	 "nor node_modules); --json prints one line per model"},
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
			"exit status: 0 ok; 1 findings: check found errors (or what --fail-on\n"
			"             names); 2 bad input or usage\n");
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

/* A parsed command line: the models (check takes several, the others
 * one), the output (equalize) and options. */
struct args {
	struct cle_options o;
	const char *model, *output;
	const char **models; /* argc entries from the host's allocator (args_free) */
	int n_models, cap_models;
};

static void args_free(const struct cli_host *h, struct args *a)
{
	cle_free(h->a, a->models, (size_t)a->cap_models * sizeof *a->models);
	a->models = NULL;
}

static int parse_args(const struct cli_host *h, const char *cmd, bool wants_output, int argc,
		      char *argv[], struct args *a)
{
	struct cle_error e = {CLE_OK, ""};
	bool several = cle_command_of(cmd) == CLE_CMD_CHECK;
	int i;

	memset(a, 0, sizeof *a);
	cle_options_init(&a->o);
	if ((a->models = cle_calloc(h->a, (size_t)argc, sizeof *a->models)) == NULL)
		return usage_error(h, "out of memory");
	a->cap_models = argc;
	for (i = 2; i < argc; i++) {
		if (wants_output && (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0)) {
			if (i + 1 >= argc)
				return usage_error(h, "-o needs a file name");
			a->output = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			if (cle_option(&a->o, cmd, argc, argv, &i, &e) != CLE_OK)
				return usage_error(h, e.msg);
		} else if (a->model == NULL || several) {
			a->model = a->model ? a->model : argv[i];
			a->models[a->n_models++] = argv[i];
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

/* Is this the start of a text file: no NUL or other control bytes but
 * tab, CR and LF, in its first 512 bytes? */
static bool text_file(const uint8_t *p, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n && i < 512; i++)
		if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f)
			return false;
	return true;
}

/* The sentence for a model at path that did not load (status st, the
 * library's msg; p, n: the file), into buf: a file that is not an ONNX
 * model is said so first, plainly, and the loader's details (protobuf
 * fields and wire types) only after that. */
static void failure_text(char *buf, size_t cap, const char *path, enum cle_status st,
			 const char *msg, const uint8_t *p, size_t n)
{
	static const char not_onnx[] = "not an ONNX model: ";
	static const char lfs[] = "version https://git-lfs.github.com/spec/";
	const char *detail = msg + sizeof not_onnx - 1;

	if (st != CLE_E_NOT_ONNX || strncmp(msg, not_onnx, sizeof not_onnx - 1) != 0)
		snprintf(buf, cap, "%s: %s", path, msg);
	else if (n >= sizeof lfs - 1 && memcmp(p, lfs, sizeof lfs - 1) == 0)
		snprintf(buf, cap, "%s is not an ONNX model: it is a Git LFS pointer to one "
			 "(git lfs pull fetches the model)", path);
	else if (strstr(detail, "field ") == NULL && strstr(detail, "wire type") == NULL)
		snprintf(buf, cap, "%s is not an ONNX model: %s", path, detail);
	else if (text_file(p, n))
		snprintf(buf, cap, "%s is not an ONNX model: it is a text file, and ONNX models are "
			 "binary", path);
	else
		snprintf(buf, cap, "%s is not an ONNX model. Details: %s", path, detail);
}

/* Reads the model at path for a request: *in names it as given and finds
 * external data beside it through r. */
static enum cle_status open_input(const struct cli_host *h, const char *path, struct run *r,
				  struct cle_input *in, uint8_t **bytes, size_t *n,
				  struct cle_error *e)
{
	enum cle_status st;

	memset(r, 0, sizeof *r);
	r->h = h;
	r->model_path = path;
	*bytes = NULL;
	*n = 0;
	if ((st = h->read_file(h->ud, path, NULL, h->a, bytes, n, e)) != CLE_OK)
		return st;
	in->bytes = *bytes;
	in->n = *n;
	in->name = path;
	in->lookup.fn = side_lookup;
	in->lookup.ud = r;
	return CLE_OK;
}

/* Runs info or equalize on the model named in args: reads it, runs the
 * request (equalize writes args->output), prints the document. */
static int run(const struct cli_host *h, const struct args *args, enum cle_command cmd)
{
	struct cle_error e = {CLE_OK, ""};
	struct run r;
	struct cle_input in;
	struct cle_buf b;
	uint8_t *bytes = NULL;
	size_t n = 0;
	enum cle_status st;
	char sb[1024], fail[1024];

	/* an output that cannot be replaced is said before any work */
	if ((cmd == CLE_CMD_EQUALIZE && h->out_check(h->ud, args->output, &e) != CLE_OK) ||
	    open_input(h, args->model, &r, &in, &bytes, &n, &e) != CLE_OK) {
		outf(h, 2, "onnx-cle: %s\n", report_safe(e.msg, sb, sizeof sb));
		return EXIT_BAD;
	}
	cle_buf_init(&b, h->a);
	if (cmd == CLE_CMD_INFO) {
		st = cle_info(&in, &args->o, h->a, &b, &e);
	} else {
		/* external data goes beside the output: OUT.data unless named */
		struct cle_options o = args->o;
		const char *slash = strrchr(args->output, '/');
		size_t dir = slash ? (size_t)(slash - args->output) + 1 : 0;
		char name[1024], path[4096];
		struct out_sink os = {h, args->output, NULL}, ds = {h, path, NULL};
		struct onnx_sink sink = {out_begin, out_write, &os}, dsink = {out_begin, out_write, &ds};
		struct progress_line pl = {h, cle_round_limit(&args->o.cle), ""};

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
	if (st == CLE_OK) {
		h->print(h->ud, 1, b.p ? b.p : "", b.n);
	} else {
		failure_text(fail, sizeof fail, args->model, st, e.msg, bytes, n);
		outf(h, 2, "onnx-cle: %s\n", report_safe(fail, sb, sizeof sb));
	}
	cle_buf_free(&b);
	run_free(&r);
	cle_free(h->a, bytes, n);
	return st != CLE_OK ? EXIT_BAD : EXIT_OK;
}

/* ---- check: several models and folders ------------------------------------ */

#define MAX_FOLDER_DEPTH 32

/* One check over the paths given: the models found, and what is printed
 * after them (SARIF is one log, written at the end). */
struct check_run {
	const struct cli_host *h;
	struct cle_options o;
	struct cle_buf results;       /* SARIF: the results so far, comma-separated */
	struct cle_buf notes;         /* SARIF: why files could not be checked */
	char **paths;                 /* the models checked, as found (SARIF's artifacts) */
	uint32_t n_paths;
	size_t cap_paths;
	uint32_t failing;             /* models with findings at --fail-on or worse */
	uint32_t bad;                 /* paths that could not be checked */
	bool failed;                  /* out of memory keeping the list */
};

/* Says why path could not be checked: on stderr, and in SARIF's notes. */
static void check_failed(struct check_run *cr, const char *path, const char *sentence)
{
	char sb[1024];

	outf(cr->h, 2, "onnx-cle: %s\n", report_safe(sentence, sb, sizeof sb));
	if (cr->o.format == REPORT_SARIF) {
		if (cr->notes.n > 0)
			cle_buf_puts(&cr->notes, ",");
		report_sarif_notification(&cr->notes, path, sentence);
	}
	cr->bad++;
}

/* Keeps a copy of path among the models checked; false if it is there
 * already (the same path given twice is checked once). */
static bool check_keep(struct check_run *cr, const char *path)
{
	uint32_t i;
	char *copy;

	for (i = 0; i < cr->n_paths; i++)
		if (strcmp(cr->paths[i], path) == 0)
			return false;
	if (CLE_RESERVE(cr->h->a, cr->paths, cr->cap_paths, (size_t)cr->n_paths + 1, 16, NULL) != CLE_OK ||
	    (copy = cle_malloc(cr->h->a, strlen(path) + 1)) == NULL) {
		cr->failed = true;
		return false;
	}
	memcpy(copy, path, strlen(path) + 1);
	cr->paths[cr->n_paths++] = copy;
	return true;
}

/* Checks the model at path and prints (or, for SARIF, keeps) its document. */
static void check_file(struct check_run *cr, const char *path)
{
	const struct cli_host *h = cr->h;
	struct cle_error e = {CLE_OK, ""};
	struct cle_options o = cr->o;
	struct cle_input in;
	struct cle_buf b;
	struct run r;
	uint8_t *bytes;
	size_t n;
	uint32_t failing = 0;
	enum cle_status st;
	char fail[1024];

	if (!check_keep(cr, path))
		return;
	if (open_input(h, path, &r, &in, &bytes, &n, &e) != CLE_OK) {
		cr->n_paths--; /* not an artifact */
		cle_free(h->a, cr->paths[cr->n_paths], strlen(cr->paths[cr->n_paths]) + 1);
		check_failed(cr, path, e.msg);
		return;
	}
	cle_buf_init(&b, h->a);
	o.artifact = cr->n_paths - 1;
	if (o.format == REPORT_SARIF)
		o.format = REPORT_SARIF_RESULTS;
	if ((st = cle_check(&in, &o, h->a, &b, &failing, &e)) != CLE_OK) {
		cr->n_paths--;
		cle_free(h->a, cr->paths[cr->n_paths], strlen(cr->paths[cr->n_paths]) + 1);
		failure_text(fail, sizeof fail, path, st, e.msg, bytes, n);
		check_failed(cr, path, fail);
	} else if (o.format == REPORT_SARIF_RESULTS) {
		if (cr->results.n > 0 && b.n > 0)
			cle_buf_puts(&cr->results, ",");
		cle_buf_append(&cr->results, b.p ? b.p : "", b.n);
	} else if (o.format == REPORT_JSON && b.n > 1) {
		/* one line per model, which names it first */
		struct cle_buf line;

		cle_buf_init(&line, h->a);
		cle_buf_puts(&line, "{\"file\":");
		report_json_str(&line, path);
		cle_buf_puts(&line, ",");
		cle_buf_append(&line, b.p + 1, b.n - 1);
		if (line.status == CLE_OK)
			h->print(h->ud, 1, line.p, line.n);
		else
			check_failed(cr, path, "out of memory writing the report");
		cle_buf_free(&line);
	} else {
		if (cr->n_paths > 1)
			h->print(h->ud, 1, "\n", 1);
		h->print(h->ud, 1, b.p ? b.p : "", b.n);
	}
	if (st == CLE_OK && failing > 0)
		cr->failing++;
	cle_buf_free(&b);
	run_free(&r);
	cle_free(h->a, bytes, n);
}

static bool onnx_name(const char *name)
{
	size_t n = strlen(name);
	const char *x = name + n - 5;
	int i;

	if (n <= 5)
		return false;
	for (i = 0; i < 5; i++)
		if ((x[i] >= 'A' && x[i] <= 'Z' ? x[i] - 'A' + 'a' : x[i]) != ".onnx"[i])
			return false;
	return true;
}

static int entry_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x + 1, *(const char *const *)y + 1);
}

static void check_path(struct check_run *cr, const char *path, bool given, int depth);

/* Checks the .onnx files in folder path (a listing from list_dir: n bytes
 * at list), and its folders, by name; hidden entries and node_modules are
 * left out. */
static void check_folder(struct check_run *cr, const char *path, char *list, size_t n, int depth)
{
	const struct cli_host *h = cr->h;
	size_t count = 0, i, at, len = strlen(path);
	char **entries;
	char child[4096];
	bool here = strcmp(path, ".") == 0 || strcmp(path, "./") == 0;

	/* entries end at n or at an empty one (a kind is never NUL) */
	for (at = 0; at < n && list[at] != '\0'; at += strlen(list + at) + 1)
		count++;
	if ((entries = cle_calloc(h->a, count + 1, sizeof *entries)) == NULL) {
		cr->failed = true;
		return;
	}
	for (at = 0, i = 0; i < count; at += strlen(list + at) + 1)
		entries[i++] = list + at;
	qsort(entries, count, sizeof *entries, entry_cmp);
	for (i = 0; i < count; i++) {
		const char *name = entries[i] + 1;
		char kind = entries[i][0];

		if (name[0] == '.' || name[0] == '\0' || (kind == 'd' && strcmp(name, "node_modules") == 0) ||
		    (kind == 'f' && !onnx_name(name)) || (kind != 'd' && kind != 'f'))
			continue;
		if ((size_t)snprintf(child, sizeof child, "%s%s%s", here ? "" : path,
				     here || (len > 0 && path[len - 1] == '/') ? "" : "/", name) >= sizeof child) {
			snprintf(child, sizeof child, "%s: the path of %s in it is too long", path, name);
			check_failed(cr, path, child);
			continue;
		}
		if (kind == 'd')
			check_path(cr, child, false, depth + 1);
		else
			check_file(cr, child);
	}
	cle_free(h->a, entries, (count + 1) * sizeof *entries);
}

/* Checks path: a model, or a folder of them (searched to MAX_FOLDER_DEPTH);
 * given: named on the command line, where a file is a model whatever its
 * name, and a folder without one is said so. */
static void check_path(struct check_run *cr, const char *path, bool given, int depth)
{
	const struct cli_host *h = cr->h;
	struct cle_error e = {CLE_OK, ""};
	uint32_t before = cr->n_paths + cr->bad;
	bool is_dir = false;
	char *list = NULL;
	size_t n = 0;
	char msg[1024];

	if (h->list_dir(h->ud, path, h->a, &is_dir, &list, &n, &e) != CLE_OK) {
		check_failed(cr, path, e.msg);
		return;
	}
	if (!is_dir) {
		check_file(cr, path);
		return;
	}
	if (n == 0 || list[n - 1] != '\0') { /* NEVER: the hosts end every entry */
		snprintf(msg, sizeof msg, "%s: the folder's listing is not readable", path);
		check_failed(cr, path, msg);
	} else if (depth >= MAX_FOLDER_DEPTH) {
		snprintf(msg, sizeof msg, "%s: folders nested more than %d deep are not searched", path,
			 MAX_FOLDER_DEPTH);
		check_failed(cr, path, msg);
	} else {
		check_folder(cr, path, list, n, depth);
	}
	cle_free(h->a, list, n);
	if (given && cr->n_paths + cr->bad == before) {
		snprintf(msg, sizeof msg, "%s: no .onnx files in this folder", path);
		check_failed(cr, path, msg);
	}
}

/* The last line of a text check over several models. */
static void check_summary(struct check_run *cr)
{
	static const char *const with[] = {"with errors", "with warnings or errors", "with findings"};

	outf(cr->h, 1, "\n%u model%s checked, %u %s", (unsigned)cr->n_paths, cr->n_paths == 1 ? "" : "s",
	     (unsigned)cr->failing, with[cr->o.fail_on]);
	if (cr->bad > 0)
		outf(cr->h, 1, "; %u path%s could not be checked", (unsigned)cr->bad, cr->bad == 1 ? "" : "s");
	outf(cr->h, 1, "\n");
}

/* check: every path given, in order; one SARIF log for all of them. */
static int run_check(const struct cli_host *h, const struct args *args)
{
	struct check_run cr;
	struct cle_buf b;
	int i, rc;
	uint32_t k;

	memset(&cr, 0, sizeof cr);
	cr.h = h;
	cr.o = args->o;
	cle_buf_init(&cr.results, h->a);
	cle_buf_init(&cr.notes, h->a);
	for (i = 0; i < args->n_models && !cr.failed; i++)
		check_path(&cr, args->models[i], true, 0);
	if (cr.o.format == REPORT_SARIF) {
		cle_buf_init(&b, h->a);
		report_sarif_open(&b);
		cle_buf_append(&b, cr.results.p ? cr.results.p : "", cr.results.n);
		report_sarif_close(&b, (const char *const *)cr.paths, cr.n_paths, cr.notes.p);
		cr.failed |= b.status != CLE_OK || cr.results.status != CLE_OK || cr.notes.status != CLE_OK;
		if (!cr.failed)
			h->print(h->ud, 1, b.p, b.n);
		cle_buf_free(&b);
	} else if (cr.o.format == REPORT_TEXT && cr.n_paths + cr.bad > 1) {
		check_summary(&cr);
	}
	if (cr.failed)
		outf(h, 2, "onnx-cle: out of memory\n");
	rc = cr.failed || cr.bad ? EXIT_BAD : cr.failing ? EXIT_FINDINGS : EXIT_OK;
	for (k = 0; k < cr.n_paths; k++)
		cle_free(h->a, cr.paths[k], strlen(cr.paths[k]) + 1);
	cle_free(h->a, cr.paths, cr.cap_paths * sizeof *cr.paths);
	cle_buf_free(&cr.results);
	cle_buf_free(&cr.notes);
	return rc;
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

		if (rc == EXIT_OK)
			rc = c == CLE_CMD_CHECK ? run_check(h, &args) : run(h, &args, c);
		args_free(h, &args);
		return rc;
	}
	outf(h, 2, "onnx-cle: unknown command '%s'\n(run onnx-cle --help for usage)\n", cmd);
	return EXIT_BAD;
}
