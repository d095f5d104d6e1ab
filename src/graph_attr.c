/* graph_attr.c — attribute look-ups on indexed nodes, with ONNX's default
 * where the operator defines one (a missing Conv group is 1), so later
 * stages never walk AttributeProtos by hand. */
#include "graph_internal.h"

#include <string.h>

const Onnx__AttributeProto *graph_attr_find(const struct graph_node *n, const char *name)
{
	const Onnx__NodeProto *np = n->proto;
	size_t i;

	for (i = 0; i < np->n_attribute; i++)
		if (np->attribute[i]->name && strcmp(np->attribute[i]->name, name) == 0)
			return np->attribute[i];
	return NULL;
}

enum attr_kind { A_INT, A_FLOAT, A_STRING };

/* ONNX defaults for the attributes later stages read. */
static const struct attr_default {
	const char *op, *name;
	enum attr_kind kind;
	int64_t i;
	float f;
	const char *s;
} attr_defaults[] = {
	{"Conv", "group", A_INT, 1, 0, NULL},
	{"Conv", "auto_pad", A_STRING, 0, 0, "NOTSET"},
	{"ConvTranspose", "group", A_INT, 1, 0, NULL},
	{"ConvTranspose", "auto_pad", A_STRING, 0, 0, "NOTSET"},
	{"Gemm", "transA", A_INT, 0, 0, NULL},
	{"Gemm", "transB", A_INT, 0, 0, NULL},
	{"Gemm", "alpha", A_FLOAT, 0, 1.0f, NULL},
	{"Gemm", "beta", A_FLOAT, 0, 1.0f, NULL},
	{"BatchNormalization", "epsilon", A_FLOAT, 0, 1e-5f, NULL},
	{"BatchNormalization", "momentum", A_FLOAT, 0, 0.9f, NULL},
	{"BatchNormalization", "training_mode", A_INT, 0, 0, NULL},
	{"LeakyRelu", "alpha", A_FLOAT, 0, 0.01f, NULL},
	{"HardSigmoid", "alpha", A_FLOAT, 0, 0.2f, NULL},
	{"HardSigmoid", "beta", A_FLOAT, 0, 0.5f, NULL},
	{"Flatten", "axis", A_INT, 1, 0, NULL},
	{"Resize", "mode", A_STRING, 0, 0, "nearest"},
	{"Resize", "coordinate_transformation_mode", A_STRING, 0, 0, "half_pixel"},
	{"Resize", "nearest_mode", A_STRING, 0, 0, "round_prefer_floor"},
	{"Upsample", "mode", A_STRING, 0, 0, "nearest"},
	{"Pad", "mode", A_STRING, 0, 0, "constant"},
	{"MaxPool", "auto_pad", A_STRING, 0, 0, "NOTSET"},
	{"MaxPool", "ceil_mode", A_INT, 0, 0, NULL},
	{"MaxPool", "storage_order", A_INT, 0, 0, NULL},
	{"AveragePool", "auto_pad", A_STRING, 0, 0, "NOTSET"},
	{"AveragePool", "ceil_mode", A_INT, 0, 0, NULL},
	{"AveragePool", "count_include_pad", A_INT, 0, 0, NULL},
	{"Dropout", "ratio", A_FLOAT, 0, 0.5f, NULL},
	{"Reshape", "allowzero", A_INT, 0, 0, NULL},
	{"Gather", "axis", A_INT, 0, 0, NULL},
	{"Concat", "axis", A_INT, 0, 0, NULL}, /* required by ONNX; 0 only as a safe reading */
};

static const struct attr_default *find_default(const struct graph_node *n, const char *name,
					       enum attr_kind kind)
{
	size_t i;

	if (n->domain[0] != '\0')
		return NULL;
	for (i = 0; i < sizeof attr_defaults / sizeof attr_defaults[0]; i++)
		if (attr_defaults[i].kind == kind && strcmp(attr_defaults[i].op, n->op) == 0 &&
		    strcmp(attr_defaults[i].name, name) == 0)
			return &attr_defaults[i];
	return NULL;
}

bool graph_attr_present(const struct graph_node *n, const char *name)
{
	return graph_attr_find(n, name) != NULL;
}

bool graph_attr_int(const struct graph_node *n, const char *name, int64_t *out)
{
	const Onnx__AttributeProto *a = graph_attr_find(n, name);
	const struct attr_default *def;

	if (a != NULL) {
		if (!a->has_i || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
			return false;
		*out = a->i;
		return true;
	}
	if ((def = find_default(n, name, A_INT)) == NULL)
		return false;
	*out = def->i;
	return true;
}

bool graph_attr_float(const struct graph_node *n, const char *name, float *out)
{
	const Onnx__AttributeProto *a = graph_attr_find(n, name);
	const struct attr_default *def;

	if (a != NULL) {
		if (!a->has_f || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT))
			return false;
		*out = a->f;
		return true;
	}
	if ((def = find_default(n, name, A_FLOAT)) == NULL)
		return false;
	*out = def->f;
	return true;
}

bool graph_attr_string(const struct graph_node *n, const char *name, const char **s, size_t *len)
{
	const Onnx__AttributeProto *a = graph_attr_find(n, name);
	const struct attr_default *def;

	if (a != NULL) {
		if (!a->has_s || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING))
			return false;
		*s = (const char *)a->s.data;
		*len = a->s.len;
		return true;
	}
	if ((def = find_default(n, name, A_STRING)) == NULL)
		return false;
	*s = def->s;
	*len = strlen(def->s);
	return true;
}

bool graph_attr_is(const struct graph_node *n, const char *name, const char *s)
{
	const char *v;
	size_t len;

	return graph_attr_string(n, name, &v, &len) && len == strlen(s) &&
	       (len == 0 || memcmp(v, s, len) == 0);
}

bool graph_attr_ints(const struct graph_node *n, const char *name, const int64_t **v,
		     size_t *count)
{
	const Onnx__AttributeProto *a = graph_attr_find(n, name);

	if (a == NULL || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS))
		return false;
	*v = a->ints;
	*count = a->n_ints;
	return true;
}

bool graph_attr_floats(const struct graph_node *n, const char *name, const float **v,
		       size_t *count)
{
	const Onnx__AttributeProto *a = graph_attr_find(n, name);

	if (a == NULL || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS))
		return false;
	*v = a->floats;
	*count = a->n_floats;
	return true;
}
