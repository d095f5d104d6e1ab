/* test_graph.c — the index against python3-onnx's reading of the same
 * files (expect.txt): counts, op counts, opsets, every constant's values in
 * every storage, producers, consumers across subgraph scopes, attribute
 * defaults, external data, and defects. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "onnx_io.h"
#include "test.h"

struct opened {
	uint8_t *bytes;
	struct onnx_model *m;
	struct graph_model *gm;
};

static bool open_model(const char *name, const struct graph_lookup *lk, struct opened *o)
{
	size_t n;
	struct cle_error e;

	o->bytes = test_read(name, &n);
	if (onnx_load(&o->m, o->bytes, n, &cle_system_alloc, &e) != CLE_OK) {
		test_fail(__FILE__, __LINE__, "%s: %s", name, e.msg);
		return false;
	}
	if (graph_build(&o->gm, o->m, lk, &cle_system_alloc, &e) != CLE_OK) {
		test_fail(__FILE__, __LINE__, "%s: %s", name, e.msg);
		onnx_free(o->m);
		return false;
	}
	return true;
}

static void close_model(struct opened *o)
{
	graph_free(o->gm);
	onnx_free(o->m);
	free(o->bytes);
}

static long long expect_int(const char *model, const char *key)
{
	const char *v = test_expect(model, key);

	if (v == NULL) {
		fprintf(stderr, "expect.txt has no %s %s\n", model, key);
		exit(2);
	}
	return atoll(v);
}

/* Sum of a constant's elements in order, as the fixture script adds them. */
static bool const_sum(const struct graph_const *c, double *sum)
{
	size_t i;
	double v;

	*sum = 0;
	for (i = 0; i < c->count; i++) {
		if (!graph_const_f64(c, i, &v))
			return false;
		*sum += v;
	}
	return true;
}

/* Every fact python3-onnx wrote for a model holds in the index. */
static void check_facts(const char *model, const struct graph_lookup *lk)
{
	struct opened o;
	const struct graph *g;
	char path[4096], line[4096];
	FILE *f;
	uint32_t i;

	if (!open_model(model, lk, &o))
		return;
	g = o.gm->main;
	CHECK_INT(g->n_node, expect_int(model, "node_count"));
	CHECK_INT(g->n_init, expect_int(model, "initializer_count"));
	CHECK_INT(g->n_input, expect_int(model, "input_count"));
	CHECK_INT(g->n_output, expect_int(model, "output_count"));
	CHECK_INT(graph_subgraph_count(o.gm), expect_int(model, "subgraph_count"));
	snprintf(path, sizeof path, "%s/expect.txt", test_models);
	f = fopen(path, "r");
	CHECK(f != NULL);
	while (fgets(line, sizeof line, f)) {
		size_t ml = strlen(model);
		char *key, *val;

		if (strncmp(line, model, ml) != 0 || line[ml] != ' ')
			continue;
		line[strcspn(line, "\n")] = '\0';
		key = line + ml + 1;
		val = strchr(key, ' ');
		*val++ = '\0';
		if (strncmp(key, "op:", 3) == 0) {
			uint32_t count = 0;

			for (i = 0; i < g->n_node; i++)
				count += strcmp(g->node[i].op, key + 3) == 0;
			CHECK_MSG(count == (uint32_t)atoi(val), "%s %s: %u, python says %s", model, key,
				  count, val);
		} else if (strncmp(key, "opset:", 6) == 0) {
			CHECK_INT(graph_opset(o.gm, key + 6), atoll(val));
		} else if (strncmp(key, "const:", 6) == 0) {
			uint32_t v = graph_find(g, key + 6);
			double sum;
			char *sp;
			size_t count = strtoull(val, &sp, 10);
			double want = strtod(sp, NULL);

			CHECK_MSG(v != GRAPH_NONE && g->value[v].konst != NULL, "%s: %s is not a constant",
				  model, key + 6);
			CHECK_INT(g->value[v].konst->count, count);
			CHECK_MSG(const_sum(g->value[v].konst, &sum) && sum == want,
				  "%s: %s sums to %.17g, python says %.17g", model, key + 6, sum, want);
		} else if (strncmp(key, "uses:", 5) == 0) {
			uint32_t v = graph_find(g, key + 5);

			CHECK(v != GRAPH_NONE);
			CHECK_MSG(g->value[v].n_uses == (uint32_t)atoi(val), "%s: %s has %u uses, expected %s",
				  model, key + 5, g->value[v].n_uses, val);
		} else if (strncmp(key, "producer:", 9) == 0) {
			uint32_t v = graph_find(g, key + 9);

			CHECK(v != GRAPH_NONE && g->value[v].producer != GRAPH_NONE);
			CHECK(strcmp(g->node[g->value[v].producer].name, val) == 0);
		}
	}
	fclose(f);
	close_model(&o);
}

static enum cle_status lookup_models(void *ud, const char *location, const uint8_t **p, size_t *n,
				     struct cle_error *e)
{
	static uint8_t *loaded;
	static size_t n_loaded;

	(void)ud;
	if (strcmp(location, "external.onnx.data") != 0)
		return cle_errorf(e, CLE_E_IO, "no file %s", location);
	if (loaded == NULL)
		loaded = test_read(location, &n_loaded);
	*p = loaded;
	*n = n_loaded;
	return CLE_OK;
}

static void t_facts(void)
{
	static const char *const all[] = {"conv_relu.onnx", "typed_fields.onnx", "if_subgraph.onnx",
					  "loop_scan.onnx", "nested_10.onnx", NULL};
	struct graph_lookup lk = {lookup_models, NULL};
	int i;

	for (i = 0; all[i] != NULL; i++)
		check_facts(all[i], NULL);
	check_facts("external.onnx", &lk);
}

static void t_external_missing(void)
{
	struct opened o;
	uint32_t v;

	if (!open_model("external.onnx", NULL, &o))
		return;
	v = graph_find(o.gm->main, "w");
	CHECK(v != GRAPH_NONE);
	CHECK(o.gm->main->value[v].konst->external);
	CHECK_INT(o.gm->main->value[v].konst->storage, GRAPH_MISSING);
	CHECK(!o.gm->main->value[v].konst->ok);
	CHECK(strcmp(o.gm->main->value[v].konst->location, "external.onnx.data") == 0);
	close_model(&o);
}

static void t_producers_consumers(void)
{
	struct opened o;
	const struct graph *g;
	uint32_t c1, r1;

	if (!open_model("conv_relu.onnx", NULL, &o))
		return;
	g = o.gm->main;
	c1 = graph_find(g, "c1");
	r1 = graph_find(g, "r1");
	CHECK(c1 != GRAPH_NONE && r1 != GRAPH_NONE);
	CHECK_INT(g->value[c1].producer, 0);
	CHECK_INT(g->value[c1].n_uses, 1);
	CHECK_INT(g->value[c1].uses[0].node, 1);
	CHECK_INT(g->value[c1].uses[0].slot, 0);
	CHECK_INT(g->value[r1].uses[0].node, 2);
	CHECK(g->value[graph_find(g, "w1")].flags & GRAPH_IS_INITIALIZER);
	CHECK(g->value[graph_find(g, "x")].flags & GRAPH_IS_INPUT);
	CHECK(g->value[graph_find(g, "y")].flags & GRAPH_IS_OUTPUT);
	CHECK_INT(g->node[0].in[2], graph_find(g, "b1"));
	close_model(&o);
}

static void t_subgraph_scopes(void)
{
	struct opened o;
	const struct graph *g, *then_g, *else_g, *owner;
	const struct graph_value *outer;
	uint32_t x, v;

	if (!open_model("if_subgraph.onnx", NULL, &o))
		return;
	g = o.gm->main;
	CHECK_INT(g->node[2].n_sub, 2);
	/* subgraphs come in attribute order: make_node wrote else_branch first */
	else_g = g->node[2].sub[0];
	then_g = g->node[2].sub[1];
	CHECK(strcmp(then_g->path, "if0.then_branch") == 0);
	CHECK(strcmp(else_g->path, "if0.else_branch") == 0);
	CHECK(then_g->parent == g && then_g->parent_node == 2);
	/* the branch's outer_w is the main graph's initializer */
	v = graph_find(then_g, "outer_w");
	CHECK(v != GRAPH_NONE && (then_g->value[v].flags & GRAPH_IS_OUTER));
	outer = graph_resolve(then_g, v, &owner);
	CHECK(owner == g && outer == &g->value[graph_find(g, "outer_w")]);
	CHECK(then_g->value[v].konst != NULL);
	/* the else branch's own initializer stays local */
	v = graph_find(else_g, "inner_w");
	CHECK(v != GRAPH_NONE && (else_g->value[v].flags & GRAPH_IS_INITIALIZER));
	CHECK(graph_find(g, "inner_w") == GRAPH_NONE);
	/* x: read by ReduceSum, and by If through both branches (one implicit use) */
	x = graph_find(g, "x");
	CHECK_INT(g->value[x].n_uses, 2);
	CHECK_INT(g->value[x].uses[1].node, 2);
	CHECK_INT(g->value[x].uses[1].slot, GRAPH_NONE);
	close_model(&o);
}

static void t_attr_defaults(void)
{
	struct opened o;
	const struct graph *g;
	int64_t group = 0;
	const int64_t *pads;
	size_t n;
	float f;
	const char *s;

	if (!open_model("conv_relu.onnx", NULL, &o))
		return;
	g = o.gm->main;
	CHECK(!graph_attr_present(&g->node[2], "group"));
	CHECK(graph_attr_int(&g->node[2], "group", &group));
	CHECK_INT(group, expect_int("conv_relu.onnx", "attr:conv2:group"));
	CHECK(graph_attr_is(&g->node[2], "auto_pad", "NOTSET"));
	CHECK(graph_attr_ints(&g->node[0], "pads", &pads, &n) && n == 4 && pads[0] == 1);
	CHECK(!graph_attr_ints(&g->node[2], "pads", &pads, &n));
	CHECK(!graph_attr_float(&g->node[1], "alpha", &f)); /* Relu has no alpha */
	CHECK(!graph_attr_string(&g->node[0], "no_such", &s, &n));
	close_model(&o);
}

static void t_defects(void)
{
	struct opened o;
	const struct graph *g;
	uint32_t i;
	bool dup = false, raw = false;

	if (!open_model("defects.onnx", NULL, &o))
		return;
	g = o.gm->main;
	CHECK_INT(g->n_node, expect_int("defects.onnx", "node_count"));
	CHECK_INT(o.gm->n_defects, expect_int("defects.onnx", "defect_count"));
	for (i = 0; i < o.gm->n_defects; i++) {
		dup |= strstr(o.gm->defects[i].msg, "tensor 'b' is produced by node dup_b but was already "
						     "defined by another node") != NULL;
		raw |= strstr(o.gm->defects[i].msg, "tensor 'bad' has 12 bytes of raw_data; dims and type "
						     "float32 need 16") != NULL;
	}
	CHECK(dup && raw);
	/* nodes out of order still index: 'a' is produced by node 1, read by node 0 */
	CHECK_INT(g->value[graph_find(g, "a")].producer, 1);
	CHECK_INT(g->value[graph_find(g, "a")].uses[0].node, 0);
	/* a name nothing defines is a value without producer or flags */
	CHECK_INT(g->value[graph_find(g, "undefined_t")].producer, GRAPH_NONE);
	CHECK_INT(g->value[graph_find(g, "undefined_t")].flags, 0);
	close_model(&o);
}

int main(int argc, char **argv)
{
	static const struct test tests[] = {
		{"facts", t_facts},
		{"external_missing", t_external_missing},
		{"producers_consumers", t_producers_consumers},
		{"subgraph_scopes", t_subgraph_scopes},
		{"attr_defaults", t_attr_defaults},
		{"defects", t_defects},
		{NULL, NULL},
	};

	return test_main(argc, argv, tests);
}
