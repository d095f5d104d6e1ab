/* test_alloc.c — the runner and the checking allocator declared in test.h. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "test.h"

const char *test_models = ".";
int test_failures;
static const char *current;

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s (%s:%d): ", current, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	test_failures++;
}

int test_main(int argc, char **argv, const struct test *tests)
{
	const char *only = argc > 2 ? argv[2] : NULL;
	int run = 0;

	if (argc > 1)
		test_models = argv[1];
	for (; tests->name != NULL; tests++) {
		int before = test_failures;

		if (only != NULL && strcmp(only, tests->name) != 0)
			continue;
		current = tests->name;
		tests->fn();
		run++;
		printf("%s %s\n", test_failures == before ? "ok  " : "FAIL", tests->name);
	}
	printf("%d tests, %d failures\n", run, test_failures);
	return test_failures != 0 || run == 0;
}

static enum cle_status sink_begin(void *ud, size_t total, struct cle_error *e)
{
	(void)ud;
	(void)total;
	(void)e;
	return CLE_OK;
}

static enum cle_status sink_write(void *ud, const uint8_t *p, size_t n, struct cle_error *e)
{
	struct test_sink *s = ud;
	size_t i;

	if (s->fail_after && s->n + n > s->fail_after)
		return cle_errorf(e, CLE_E_IO, "the disk is full");
	for (i = 0; i < n; i++)
		s->sum = s->sum * 31 + p[i];
	s->n += n;
	return CLE_OK;
}

struct onnx_sink test_sink_of(struct test_sink *s)
{
	struct onnx_sink sink = {sink_begin, sink_write, s};

	return sink;
}

uint8_t *test_read_in(const char *dir, const char *name, size_t *n)
{
	char path[4096];
	FILE *f;
	long size;
	uint8_t *p;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	p = malloc((size_t)size ? (size_t)size : 1);
	if (p == NULL || fread(p, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	*n = (size_t)size;
	return p;
}

char *test_check_report(const char *dir, const char *name)
{
	struct cle_options o;
	struct cle_buf b;
	struct cle_error e;
	uint32_t errors = 0;
	size_t n;
	uint8_t *bytes = test_read_in(dir, name, &n);
	struct cle_input in = {bytes, n, name, {NULL, NULL}};
	enum cle_status st;
	char *text;

	cle_options_init(&o);
	cle_buf_init(&b, &cle_system_alloc);
	st = cle_check(&in, &o, &cle_system_alloc, &b, &errors, &e);
	free(bytes);
	if (st != CLE_OK) {
		test_fail(__FILE__, __LINE__, "check %s: %s: %s", name, cle_status_name(st), e.msg);
		cle_buf_free(&b);
		return NULL;
	}
	text = malloc(b.n + 1);
	if (text == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	memcpy(text, b.p != NULL ? b.p : "", b.n);
	text[b.n] = '\0';
	cle_buf_free(&b);
	return text;
}

size_t test_equalize_invalid(const char *dir, const char *name)
{
	struct cle_options o;
	struct test_sink ms = {0, 0, 0}, ds = {0, 0, 0};
	struct onnx_sink model = test_sink_of(&ms), data = test_sink_of(&ds);
	struct cle_buf b;
	struct cle_error e;
	size_t n;
	uint8_t *bytes = test_read_in(dir, name, &n);
	struct cle_input in = {bytes, n, name, {NULL, NULL}};
	struct test_alloc ta;
	struct cle_alloc a = test_alloc_init(&ta);
	enum cle_status st;

	ta.limit = TEST_INVALID_LIMIT; /* after init, which zeroes it */
	cle_options_init(&o);
	o.allow_invalid = true;
	cle_buf_init(&b, &a);
	st = cle_equalize_model(&in, &o, &a, &model, &data, &b, &e);
	if (st != CLE_OK)
		test_fail(__FILE__, __LINE__, "equalize %s: %s: %s", name, cle_status_name(st), e.msg);
	cle_buf_free(&b);
	if (ta.blocks != 0)
		test_fail(__FILE__, __LINE__, "equalize %s: %zu blocks not freed", name, ta.blocks);
	free(bytes);
	return st == CLE_OK ? ms.n : 0;
}

uint8_t *test_read(const char *name, size_t *n)
{
	return test_read_in(test_models, name, n);
}

const char *test_expect(const char *model, const char *key)
{
	static char line[4096];
	char path[4096];
	size_t ml = strlen(model), kl = strlen(key);
	FILE *f;

	snprintf(path, sizeof path, "%s/expect.txt", test_models);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, model, ml) == 0 && line[ml] == ' ' &&
		    strncmp(line + ml + 1, key, kl) == 0 && line[ml + 1 + kl] == ' ') {
			fclose(f);
			return line + ml + kl + 2;
		}
	}
	fclose(f);
	return NULL;
}

/* Block layout: [size_t size, pad to 16][guard 16][payload][guard 16];
 * the payload keeps malloc's 16-byte alignment. */
#define GUARD 16
#define HEAD (16 + GUARD)
#define MARK 0xa5
#define FRESH 0xcd

static void check_block(unsigned char *base, size_t size)
{
	size_t i, stored;

	memcpy(&stored, base, sizeof stored);
	if (stored != size) {
		fprintf(stderr, "allocator: block freed with size %zu, allocated with %zu\n", size, stored);
		abort();
	}
	for (i = 0; i < GUARD; i++) {
		if (base[16 + i] != MARK || base[HEAD + size + i] != MARK) {
			fprintf(stderr, "allocator: guard bytes of a %zu-byte block overwritten\n", size);
			abort();
		}
	}
}

static void *test_alloc_fn(void *ud, void *ptr, size_t old, size_t size)
{
	struct test_alloc *t = ud;
	unsigned char *base = ptr ? (unsigned char *)ptr - HEAD : NULL, *nb;

	if (base != NULL)
		check_block(base, old);
	if (size == 0) {
		if (base != NULL) {
			memset(base, 0xdd, HEAD + old + GUARD);
			free(base);
			t->blocks--;
			t->bytes -= old;
		}
		return NULL;
	}
	t->count++;
	if ((t->fail_at != 0 && t->count == t->fail_at) ||
	    (t->limit != 0 && t->bytes - old + size > t->limit) || size > SIZE_MAX / 2) {
		t->failed = true;
		return NULL;
	}
	nb = malloc(HEAD + size + GUARD);
	if (nb == NULL)
		return NULL;
	memcpy(nb, &size, sizeof size);
	memset(nb + 16, MARK, GUARD);
	memset(nb + HEAD, FRESH, size);
	memset(nb + HEAD + size, MARK, GUARD);
	if (base != NULL) {
		memcpy(nb + HEAD, base + HEAD, old < size ? old : size);
		memset(base, 0xdd, HEAD + old + GUARD);
		free(base);
		t->blocks--;
		t->bytes -= old;
	}
	t->blocks++;
	t->bytes += size;
	if (t->bytes > t->peak)
		t->peak = t->bytes;
	return nb + HEAD;
}

struct cle_alloc test_alloc_init(struct test_alloc *t)
{
	struct cle_alloc a = {test_alloc_fn, t};

	memset(t, 0, sizeof *t);
	return a;
}
