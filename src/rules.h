/* rules.h — the model guidelines as checks over the graph index.  Each rule
 * is one function and one table row (rules.c); rules never change the model.
 * They append findings naming the node, what is wrong, and the guideline's
 * work-around. */
#ifndef CLE_RULES_H
#define CLE_RULES_H

#include "base.h"
#include "graph.h"

enum rule_severity {
	RULE_ERROR,
	RULE_WARNING,
	RULE_INFO,
};

struct rule_finding {
	const char *rule;             /* stable id, e.g. "reshape-fixed-batch" */
	enum rule_severity severity;
	const struct graph *g;        /* graph of the node */
	uint32_t node;                /* GRAPH_NONE for the model as a whole */
	const char *message;          /* one sentence naming the tensor or attribute */
	const char *fix;              /* the guideline's work-around, in PyTorch terms */
};

struct rule_findings {
	uint32_t n;
	struct rule_finding *f;
	size_t cap;
	uint32_t errors, warnings, infos;
	struct cle_arena arena;       /* the sentences */
	const struct cle_alloc *a;
	bool failed;                  /* out of memory while recording */
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

/* Runs every rule over gm.  Fails only on out-of-memory. */
CLE_NODISCARD enum cle_status rules_run(struct rule_findings *out, const struct graph_model *gm,
					const struct cle_alloc *a, struct cle_error *e);
void rules_free(struct rule_findings *r);

const char *rule_severity_name(enum rule_severity s); /* "error", "warning", "info" */

#endif
