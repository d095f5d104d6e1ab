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
	bool bn_auto;              /* --batch-norm=auto: fold or keep, as the estimate prefers */
	bool bn_set;               /* --batch-norm given (else --reference implies fold) */
	bool inline_external;      /* --inline-external: external data into the model */
	bool allow_invalid;        /* --allow-invalid: equalize what check finds invalid */
	int fail_on;               /* --fail-on: check fails on findings of this enum
				    * rule_severity or worse (RULE_ERROR by default) */
	uint32_t artifact;         /* REPORT_SARIF_RESULTS: the model's index among the artifacts */
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

/* ---- options --------------------------------------------------------------
 * Every option is one row of cle_option_defs (api.c).  The parser
 * (cle_option), the usage text (cli.c) and the description JS reads
 * (cle_options_json, through the wasm module) all come from that table. */

/* The commands an option belongs to (bits). */
enum cle_command {
	CLE_CMD_INFO = 1,
	CLE_CMD_CHECK = 2,
	CLE_CMD_EQUALIZE = 4,
	CLE_CMD_OTHER = 8, /* a command name cle_option does not know */
	CLE_CMD_ALL = CLE_CMD_INFO | CLE_CMD_CHECK | CLE_CMD_EQUALIZE | CLE_CMD_OTHER,
};

/* What an option's argument is. */
enum cle_option_kind {
	CLE_OPT_FLAG,   /* none: "--no-hbf" */
	CLE_OPT_CHOICE, /* one of choices: "--relu6=skip" */
	CLE_OPT_INT,    /* a whole number in [lo, hi]: "--iterations=3" */
	CLE_OPT_NUMBER, /* a number in [lo, hi] (hi >= CLE_OPT_UNBOUNDED: no upper bound) */
	CLE_OPT_NAME,   /* a file name, without a folder */
	CLE_OPT_STRENGTH, /* how far each region moves: "0.5" or "0.5,3:1,7:0" (cle_strength_of) */
};
#define CLE_OPT_UNBOUNDED 1e30

struct cle_option_def {
	const char *flag;           /* "--iterations"; NULL ends the table */
	const char *arg;            /* its argument in the usage text ("N"); NULL for a flag */
	unsigned commands;          /* enum cle_command bits */
	enum cle_option_kind kind;
	double lo, hi;              /* CLE_OPT_INT, CLE_OPT_NUMBER: the values taken */
	const char *const *choices; /* CLE_OPT_CHOICE: the words taken, NULL-terminated */
	const char *def;            /* the default as the usage text writes it, or NULL */
	const char *js;             /* the JS API's field ("iterations"), NULL if it has none */
	bool js_when;               /* CLE_OPT_FLAG: the field's value that gives the flag */
	const char *help;           /* usage text: "\n" starts a continuation line */
	/* Applies the option to o: v is its argument (NULL for a flag), x that
	 * argument as a number (CLE_OPT_INT, CLE_OPT_NUMBER) or as the index
	 * of the choice (CLE_OPT_CHOICE), both already checked. */
	void (*set)(struct cle_options *o, const char *v, double x);
};

/* The options, in the order the usage text lists them; ends with a NULL flag. */
extern const struct cle_option_def cle_option_defs[];

/* The command bit of a command name (CLE_CMD_OTHER if none). */
enum cle_command cle_command_of(const char *cmd);

/* Parses the option at argv[*i] (and its argument, advancing *i);
 * CLE_E_USAGE with a sentence if it is not an option of cmd. */
CLE_NODISCARD enum cle_status cle_option(struct cle_options *o, const char *cmd, int argc,
					 char *const argv[], int *i, struct cle_error *e);

/* The options as a JSON document, appended to out (its status says whether
 * it all fit): {"version", "options": [{flag, arg, commands, kind, min,
 * max, choices, default, js, when, help}, ...]}. */
void cle_options_json(struct cle_buf *out);

/* The name the external data file written by an equalize gets: o->data_name,
 * else the default of --external-data-name ("model.onnx.data"). */
const char *cle_data_name(const struct cle_options *o);

struct onnx_sink;

/* Loads the model and writes it back unchanged (the output path every
 * rewrite takes, with no edits): the bytes come out identical. */
CLE_NODISCARD enum cle_status cle_copy(const struct cle_input *in, const struct cle_alloc *a,
				       const struct onnx_sink *sink, struct cle_error *e);

/* `check`: the guideline findings and the CLE map, appended to out;
 * *errors receives the number of findings at o->fail_on or worse (errors
 * by default; the CLI exits 1 on any). */
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
