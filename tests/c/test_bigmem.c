/* test_bigmem.c — the break allocator the wasm build uses for blocks malloc
 * cannot give (src/base.c, cle_bigmem_*), over a fake break: on a real
 * buffer where bytes are copied, and on bare addresses laid out like wasm32
 * memory (a 4 GiB - 64 KiB limit, blocks above 2 GiB) where nothing is
 * touched.  Then a whole equalize through it, and out of memory. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "onnx_io.h"
#include "test.h"

/* The break: addresses from `base`; `top` is where it stands. */
struct fake_break {
	uintptr_t base, top;
	size_t moves; /* successful set() calls */
};

static uintptr_t fb_get(void *ud)
{
	return ((struct fake_break *)ud)->top;
}

static bool fb_set(void *ud, uintptr_t top)
{
	struct fake_break *f = ud;

	if (top < f->base)
		return false;
	f->top = top;
	f->moves++;
	return true;
}

#define MIB ((size_t)1 << 20)

static struct cle_bigmem bigmem_over(struct fake_break *f, uintptr_t base, uintptr_t limit,
				     size_t min_size)
{
	struct cle_bigmem m;

	memset(&m, 0, sizeof m);
	f->base = f->top = base;
	f->moves = 0;
	m.brk.get = fb_get;
	m.brk.set = fb_set;
	m.brk.ud = f;
	m.brk.limit = limit;
	m.min_size = min_size;
	return m;
}

/* wasm32's shape: malloc's heap up to 16 MiB, the break may reach 4 GiB - 64 KiB. */
#define WASM_HEAP ((uintptr_t)16 << 20)
#define WASM_LIMIT ((uintptr_t)0xffff0000u)

static void test_above_2gib(void)
{
	struct fake_break f;
	struct cle_bigmem m = bigmem_over(&f, WASM_HEAP, WASM_LIMIT, 64 * MIB);
	size_t gb25 = (size_t)2500 * 1000 * 1000;
	void *model, *out;

	if (sizeof(uintptr_t) < 8)
		return; /* bare addresses up to 4 GiB need a 64-bit host */
	model = cle_bigmem_alloc_fn(&m, NULL, 0, gb25);
	CHECK(model == (void *)WASM_HEAP);
	CHECK_INT(f.top, WASM_HEAP + gb25);
	/* what is left: 4 GiB - 64 KiB - 16 MiB - 2.5 GB */
	CHECK_INT(cle_bigmem_room(&m), WASM_LIMIT - WASM_HEAP - gb25);
	/* a second 2.5 GB block does not fit: refused, nothing moved */
	out = cle_bigmem_alloc_fn(&m, NULL, 0, gb25);
	CHECK(out == NULL);
	CHECK_INT(f.top, WASM_HEAP + gb25);
	CHECK_INT(m.n, 1);
	/* nor does a size that wraps when rounded, nor one past the limit */
	CHECK(cle_bigmem_alloc_fn(&m, NULL, 0, SIZE_MAX) == NULL);
	CHECK(cle_bigmem_alloc_fn(&m, NULL, 0, (size_t)WASM_LIMIT) == NULL);
	/* freed, the break comes back down, and the whole room is there again */
	CHECK(cle_bigmem_alloc_fn(&m, model, gb25, 0) == NULL);
	CHECK_INT(f.top, WASM_HEAP);
	CHECK_INT(m.n, 0);
	CHECK_INT(cle_bigmem_room(&m), WASM_LIMIT - WASM_HEAP);
	/* 4 GiB - 64 KiB - 16 MiB fits exactly; one page more does not */
	CHECK(cle_bigmem_alloc_fn(&m, NULL, 0, WASM_LIMIT - WASM_HEAP + 65536) == NULL);
	model = cle_bigmem_alloc_fn(&m, NULL, 0, WASM_LIMIT - WASM_HEAP);
	CHECK(model != NULL);
	CHECK_INT(f.top, WASM_LIMIT);
	CHECK(cle_bigmem_alloc_fn(&m, model, WASM_LIMIT - WASM_HEAP, 0) == NULL);
	CHECK_INT(f.top, WASM_HEAP);
}

/* malloc shares the break: what it takes above a block pins the block's
 * space, which stays a hole for later blocks and is split and merged. */
static void test_holes(void)
{
	struct fake_break f;
	struct cle_bigmem m = bigmem_over(&f, WASM_HEAP, WASM_LIMIT, 64 * MIB);
	uintptr_t a, b, c, d;

	a = (uintptr_t)cle_bigmem_alloc_fn(&m, NULL, 0, 1000 * MIB);
	CHECK(a == WASM_HEAP);
	f.top += 3 * MIB + 5; /* malloc grows its heap above the block (sbrk keeps 4-byte steps) */
	b = (uintptr_t)cle_bigmem_alloc_fn(&m, NULL, 0, 200 * MIB - 3);
	CHECK(b % 16 == 0 && b >= a + 1000 * MIB + 3 * MIB + 5);
	CHECK_INT(f.top, b + 200 * MIB);
	/* a is not topmost: freeing it leaves a hole the break cannot take back */
	(void)cle_bigmem_alloc_fn(&m, (void *)a, 1000 * MIB, 0);
	CHECK_INT(m.n, 2);
	CHECK(!m.b[0].used && m.b[0].size == 1000 * MIB);
	/* the hole is the largest room when the break is near the limit */
	f.top = WASM_LIMIT - 100 * MIB;
	CHECK_INT(cle_bigmem_room(&m), 1000 * MIB);
	f.top = b + 200 * MIB;
	/* a smaller block takes the hole's start; the rest stays free */
	c = (uintptr_t)cle_bigmem_alloc_fn(&m, NULL, 0, 300 * MIB);
	CHECK(c == a);
	CHECK_INT(m.n, 3);
	CHECK(!m.b[1].used && m.b[1].at == a + 300 * MIB && m.b[1].size == 700 * MIB);
	/* a remainder under min_size is not split off */
	d = (uintptr_t)cle_bigmem_alloc_fn(&m, NULL, 0, 650 * MIB);
	CHECK(d == a + 300 * MIB);
	CHECK(m.b[1].used && m.b[1].size == 700 * MIB);
	/* freed in any order, neighbours merge back into one hole */
	(void)cle_bigmem_alloc_fn(&m, (void *)c, 300 * MIB, 0);
	(void)cle_bigmem_alloc_fn(&m, (void *)d, 650 * MIB, 0);
	CHECK_INT(m.n, 2);
	CHECK(!m.b[0].used && m.b[0].at == a && m.b[0].size == 1000 * MIB);
	/* the topmost block goes back to the break; the hole below stays */
	(void)cle_bigmem_alloc_fn(&m, (void *)b, 200 * MIB, 0);
	CHECK_INT(f.top, b);
	CHECK_INT(m.n, 1);
	/* the table has a fixed size: when full, a new block is refused */
	m = bigmem_over(&f, WASM_HEAP, WASM_LIMIT, MIB);
	{
		void *p[CLE_BIG_BLOCKS + 1];
		int i, got = 0;

		for (i = 0; i <= CLE_BIG_BLOCKS; i++)
			if ((p[i] = cle_bigmem_alloc_fn(&m, NULL, 0, MIB)) != NULL)
				got++;
		CHECK_INT(got, CLE_BIG_BLOCKS);
		CHECK(p[CLE_BIG_BLOCKS] == NULL);
		CHECK_INT(cle_bigmem_room(&m), 0);
		/* freed from the bottom up: one growing hole, then all back to the break */
		for (i = 0; i < CLE_BIG_BLOCKS; i++)
			(void)cle_bigmem_alloc_fn(&m, p[i], MIB, 0);
		CHECK_INT(m.n, 0);
		CHECK_INT(f.top, WASM_HEAP);
	}
}

/* On real memory: small blocks are malloc's, realloc keeps the bytes
 * across the threshold both ways and grows the topmost block in place. */
static void test_realloc(void)
{
	const size_t span = 4 * MIB, min = 64 << 10;
	uint8_t *mem = aligned_alloc(16, span);
	struct fake_break f;
	struct cle_bigmem m;
	uint8_t *p, *q, *r;
	size_t i;

	CHECK(mem != NULL);
	m = bigmem_over(&f, (uintptr_t)mem, (uintptr_t)mem + span, min);
	p = cle_bigmem_alloc_fn(&m, NULL, 0, 1000);
	CHECK(p != NULL && m.n == 0 && f.top == (uintptr_t)mem); /* malloc's */
	for (i = 0; i < 1000; i++)
		p[i] = (uint8_t)(i * 7);
	q = cle_bigmem_alloc_fn(&m, p, 1000, min); /* crosses into the break */
	CHECK(q == mem && m.n == 1);
	for (i = 0; i < 1000; i++)
		CHECK_INT(q[i], (uint8_t)(i * 7));
	memset(q + 1000, 0x5a, min - 1000);
	r = cle_bigmem_alloc_fn(&m, q, min, 3 * min); /* topmost: grows in place */
	CHECK(r == q && f.top == (uintptr_t)mem + 3 * min);
	CHECK_INT(r[min - 1], 0x5a);
	r = cle_bigmem_alloc_fn(&m, q, 3 * min, 2 * min); /* and shrinks in place */
	CHECK(r == q && f.top == (uintptr_t)mem + 2 * min);
	/* past the limit: refused, and the old block is still whole */
	CHECK(cle_bigmem_alloc_fn(&m, q, 2 * min, span + 1) == NULL);
	CHECK(m.n == 1 && m.b[0].used && f.top == (uintptr_t)mem + 2 * min);
	CHECK_INT(q[999], (uint8_t)(999 * 7));
	/* pinned by another block above, it moves to a new place to grow */
	p = cle_bigmem_alloc_fn(&m, NULL, 0, min);
	CHECK(p == mem + 2 * min);
	r = cle_bigmem_alloc_fn(&m, q, 2 * min, 2 * min + 1);
	CHECK(r == mem + 3 * min);
	CHECK_INT(r[999], (uint8_t)(999 * 7));
	CHECK(!m.b[0].used && m.b[0].at == (uintptr_t)mem); /* its old place is a hole */
	/* back under the threshold: into malloc, bytes kept */
	q = cle_bigmem_alloc_fn(&m, r, 2 * min + 1, 100);
	CHECK(q != NULL && (q < mem || q >= mem + span));
	CHECK_INT(q[99], (uint8_t)(99 * 7));
	cle_bigmem_alloc_fn(&m, q, 100, 0);
	cle_bigmem_alloc_fn(&m, p, min, 0);
	CHECK(m.n == 0 && f.top == (uintptr_t)mem);
	free(mem);
}

/* The library through it: every block of 4 KiB or more from the break
 * (arena blocks, indexes, the protobuf-c copy); the output is the same as
 * with malloc alone, everything goes back, and a break too low for the
 * model's working memory is an out-of-memory sentence, never a crash. */
static void test_equalize_through_it(void)
{
	const size_t span = 64 * MIB;
	uint8_t *mem = aligned_alloc(16, span);
	struct cle_options o;
	struct cle_input in = {NULL, 0, "mobilenetv2_like_bn.onnx", {NULL, NULL}};
	struct test_sink want = {0, 0, 0};
	struct onnx_sink sink;
	struct cle_error e;
	struct cle_buf doc;
	uintptr_t limit;
	bool failed = false, passed = false;

	CHECK(mem != NULL);
	in.bytes = test_read(in.name, &in.n);
	cle_options_init(&o);
	o.format = REPORT_JSON;
	sink = test_sink_of(&want);
	cle_buf_init(&doc, &cle_system_alloc);
	CHECK_OK(cle_equalize_model(&in, &o, &cle_system_alloc, &sink, &sink, &doc, &e), e);
	cle_buf_free(&doc);
	/* the working memory, swept from too little to enough */
	for (limit = 16 << 10; limit <= span && !passed; limit *= 2) {
		struct fake_break f;
		struct cle_bigmem m = bigmem_over(&f, (uintptr_t)mem, (uintptr_t)mem + limit, 4096);
		struct cle_alloc a = {cle_bigmem_alloc_fn, &m};
		struct test_sink got = {0, 0, 0};
		enum cle_status st;

		sink.ud = &got;
		cle_buf_init(&doc, &a);
		memset(&e, 0, sizeof e);
		st = cle_equalize_model(&in, &o, &a, &sink, &sink, &doc, &e);
		cle_buf_free(&doc);
		CHECK_MSG(m.n == 0 && f.top == (uintptr_t)mem,
			  "limit %zu: %u blocks left, break %zu bytes up", (size_t)limit, m.n,
			  (size_t)(f.top - (uintptr_t)mem));
		if (st == CLE_OK) {
			CHECK(f.moves > 0); /* the break was used */
			CHECK(got.n == want.n && got.sum == want.sum);
			passed = true;
		} else {
			CHECK_MSG(st == CLE_E_NOMEM, "limit %zu: %s: %s", (size_t)limit,
				  cle_status_name(st), e.msg);
			CHECK_MSG(strstr(e.msg, "out of memory") != NULL, "limit %zu: '%s'",
				  (size_t)limit, e.msg);
			failed = true;
		}
	}
	CHECK(failed && passed);
	free((void *)in.bytes);
	free(mem);
}

static const struct test tests[] = {
	{"above_2gib", test_above_2gib},
	{"holes", test_holes},
	{"realloc", test_realloc},
	{"equalize_through_it", test_equalize_through_it},
	{NULL, NULL},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests);
}
