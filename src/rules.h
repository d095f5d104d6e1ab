/* rules.h — the model guidelines as checks over the graph index.  Each rule
 * is one function and one table row (rules.c); rules never change the model.
 * They append findings naming the node, what is wrong, and the guideline's
 * work-around. */
#ifndef CLE_RULES_H
#define CLE_RULES_H

#include "base.h"
#include "graph.h"

struct cle_plan;

/* error: the export is invalid, or equalization cannot run; warning: a
 * hazard (for the reference tool, or for other input sizes) that does not
 * stop onnx-cle; info: something the rules could not check. */
enum rule_severity {
	RULE_ERROR,
	RULE_WARNING,
	RULE_INFO,
};

/* Who wrote the model (its producer_name): the fixes are in its terms. */
enum rule_producer {
	RULE_PYTORCH,
	RULE_TF,     /* tf2onnx, keras2onnx */
	RULE_PADDLE, /* paddle2onnx */
	RULE_OTHER,
};

struct rule_finding {
	const char *rule;             /* stable id, e.g. "reshape-fixed-batch" */
	enum rule_severity severity;
	const struct graph *g;        /* graph of the node */
	uint32_t node;                /* GRAPH_NONE for the model as a whole */
	const char *message;          /* one sentence naming the tensor or attribute */
	const char *fix;              /* the work-around, in the producer's terms */
};

struct rule_findings {
	uint32_t n;
	struct rule_finding *f;
	size_t cap;
	uint32_t errors, warnings, infos;
	struct cle_arena arena;       /* the sentences */
	const struct cle_alloc *a;
	bool failed;                  /* out of memory while recording */
	const struct cle_plan *plan;  /* the CLE map the findings agree with, or NULL */
	enum rule_producer producer;
};

/* A rule's row: id, the guideline it maps, what it checks. */
struct rule_def {
	const char *id;
	const char *guideline;
	const char *summary;
	enum rule_severity severity;  /* the usual severity of its findings */
	void (*fn)(struct rule_findings *out, const struct graph_model *gm);
};

extern const struct rule_def rule_table[];
extern const size_t rule_count;

/* Runs every rule over gm.  plan (which may be NULL) is the CLE map of gm
 * that check shows: findings about equalization say what it says.  Fails
 * only on out-of-memory. */
CLE_NODISCARD enum cle_status rules_run(struct rule_findings *out, const struct graph_model *gm,
					const struct cle_plan *plan, const struct cle_alloc *a,
					struct cle_error *e);
void rules_free(struct rule_findings *r);

const char *rule_severity_name(enum rule_severity s); /* "error", "warning", "info" */

/* Why equalizing gm as plan p has nothing to do, into buf (n bytes): the
 * model is already quantized, it has no layer, or no two layers can be
 * scaled together.  NULL when none of these holds. */
const char *rules_nothing_to_equalize(const struct graph_model *gm, const struct cle_plan *p,
				      char *buf, size_t n);

#endif
