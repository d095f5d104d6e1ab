/* graph_order.c — the nodes of one graph in an order where every node
 * comes after the nodes whose outputs it reads (Kahn's algorithm). */
#include "graph.h"

uint32_t graph_topo_order(const struct graph *g, uint32_t *order, uint32_t *wait)
{
	uint32_t n, j, k, head = 0, tail = 0;

	for (n = 0; n < g->n_node; n++) {
		wait[n] = 0;
		for (j = 0; j < g->node[n].n_in; j++)
			wait[n] += g->node[n].in[j] != GRAPH_NONE &&
				   g->value[g->node[n].in[j]].producer != GRAPH_NONE;
		if (wait[n] == 0)
			order[tail++] = n;
	}
	while (head < tail) {
		const struct graph_node *nd = &g->node[order[head++]];

		for (j = 0; j < nd->n_out; j++) {
			const struct graph_value *v;

			if (nd->out[j] == GRAPH_NONE)
				continue;
			v = &g->value[nd->out[j]];
			for (k = 0; k < v->n_uses; k++)
				if (v->uses[k].slot != GRAPH_NONE && --wait[v->uses[k].node] == 0)
					order[tail++] = v->uses[k].node;
		}
	}
	return tail;
}
