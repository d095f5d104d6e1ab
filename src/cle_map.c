/* cle_map.c — the CLE map: what `check` shows of a plan (which layers are
 * paired, with whom, why the others are not, what goes beyond the
 * reference).  Questions over a finished plan; nothing here changes it. */
#include "cle.h"

#include <stdio.h>
#include <string.h>

bool cle_region_open(const struct cle_plan *p, uint32_t r)
{
	return r != GRAPH_NONE && p->regions[r].blocked == NULL;
}

bool cle_layer_paired(const struct cle_plan *p, uint32_t li)
{
	const struct cle_layer *l = &p->layers[li];

	return l->why == NULL && (cle_region_open(p, l->in_region) || cle_region_open(p, l->out_region));
}

const char *cle_side_reason(const struct cle_plan *p, uint32_t r, const char *none)
{
	return r == GRAPH_NONE ? none : p->regions[r].blocked;
}

void cle_layer_reason(const struct cle_plan *p, uint32_t li, char *buf, size_t n)
{
	const struct cle_layer *l = &p->layers[li];

	if (l->why != NULL)
		snprintf(buf, n, "%s", l->why);
	else if (cle_layer_paired(p, li))
		buf[0] = '\0';
	else
		snprintf(buf, n, "output: %s; input: %s",
			 cle_side_reason(p, l->out_region, "it has no output tensor"),
			 cle_side_reason(p, l->in_region, "it has no input tensor"));
}

bool cle_layer_beyond_reference(const struct cle_plan *p, uint32_t li)
{
	const struct cle_layer *l = &p->layers[li];
	bool in = cle_region_open(p, l->in_region), out = cle_region_open(p, l->out_region);

	if (!in && !out)
		return false;
	return !l->reference || !((in && p->regions[l->in_region].reference) ||
				  (out && p->regions[l->out_region].reference));
}

/* Member j of region rg: its producers, then its consumers. */
static uint32_t member(const struct cle_region *rg, uint32_t j)
{
	return j < rg->n_producers ? rg->producers[j] : rg->consumers[j - rg->n_producers];
}

uint32_t cle_next_partner(const struct cle_plan *p, uint32_t li, uint32_t r, uint32_t *cursor)
{
	const struct cle_region *rg;
	uint32_t j, k;

	if (!cle_region_open(p, r))
		return GRAPH_NONE;
	rg = &p->regions[r];
	for (j = *cursor; j < rg->n_producers + rg->n_consumers; j++) {
		uint32_t x = member(rg, j);
		bool seen = x == li;

		/* a layer can sit on both sides (producer and consumer): list it once */
		for (k = 0; k < j && !seen; k++)
			seen = member(rg, k) == x;
		if (!seen) {
			*cursor = j + 1;
			return x;
		}
	}
	*cursor = j;
	return GRAPH_NONE;
}

void cle_map_totals(const struct cle_plan *p, struct cle_map_totals *t)
{
	uint32_t i;

	memset(t, 0, sizeof *t);
	for (i = 0; i < p->n_layers; i++) {
		const struct cle_layer *l = &p->layers[i];

		if (cle_layer_paired(p, i)) {
			t->paired++;
			t->beyond += cle_layer_beyond_reference(p, i);
		}
		if (l->group != GRAPH_NONE && l->group + 1 > t->groups)
			t->groups = l->group + 1;
	}
}
