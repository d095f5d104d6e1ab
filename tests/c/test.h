/* test.h — a table-driven test runner with no dependency (protobuf-c's
 * test-generated-code2 habit): each file lists {"name", fn} and calls
 * test_main.  argv[1] is the folder of generated test models. */
#ifndef CLE_TEST_H
#define CLE_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base.h"
#include "onnx_io.h"

struct test {
	const char *name;
	void (*fn)(void);
};

extern const char *test_models; /* folder of generated models */
extern int test_failures;

void test_fail(const char *file, int line, const char *fmt, ...) CLE_PRINTF(3, 4);
int test_main(int argc, char **argv, const struct test *tests);

/* Reads a file from the models folder into an exact-size malloc block (so
 * ASan sees any read past its end).  Aborts the test run if missing. */
uint8_t *test_read(const char *name, size_t *n);
/* The same for a file name relative to another folder. */
uint8_t *test_read_in(const char *dir, const char *name, size_t *n);
/* check's report (default options) on the file dir/name, malloc'd; NULL
 * after a test failure when check fails. */
char *test_check_report(const char *dir, const char *name);
/* equalize --allow-invalid on the file dir/name, the output discarded,
 * through the checking allocator with a limit of TEST_INVALID_LIMIT bytes
 * (these are small models: more means a size taken from a claim): the
 * model's size in bytes (0 when it wrote none), or 0 after a test failure
 * when equalize fails or leaks. */
#define TEST_INVALID_LIMIT ((size_t)64 << 20)
size_t test_equalize_invalid(const char *dir, const char *name);
/* An output sink that keeps a checksum of what it is given (n bytes,
 * sum = sum * 31 + byte, to compare runs) and fails like a full disk past
 * fail_after bytes (0: never).  test_sink_of gives the onnx_sink over it. */
struct test_sink {
	size_t n, fail_after;
	uint64_t sum;
};
struct onnx_sink test_sink_of(struct test_sink *s);
/* Looks up "<model> <key>" in the models folder's expect.txt; NULL if absent. */
const char *test_expect(const char *model, const char *key);

#define CHECK(c)                                                   \
	do {                                                       \
		if (!(c)) {                                        \
			test_fail(__FILE__, __LINE__, "%s", #c);   \
			return;                                    \
		}                                                  \
	} while (0)
#define CHECK_MSG(c, ...)                                          \
	do {                                                       \
		if (!(c)) {                                        \
			test_fail(__FILE__, __LINE__, __VA_ARGS__); \
			return;                                    \
		}                                                  \
	} while (0)
#define CHECK_INT(a, b)                                                             \
	do {                                                                        \
		long long a_ = (long long)(a), b_ = (long long)(b);                 \
		if (a_ != b_) {                                                     \
			test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
				  #a, a_, #b, b_);                                  \
			return;                                                     \
		}                                                                   \
	} while (0)
#define CHECK_OK(st, e)                                                              \
	do {                                                                         \
		enum cle_status st_ = (st);                                          \
		if (st_ != CLE_OK) {                                                 \
			test_fail(__FILE__, __LINE__, "%s failed: %s: %s", #st,      \
				  cle_status_name(st_), (e).msg);                     \
			return;                                                      \
		}                                                                    \
	} while (0)

/* Checking allocator (Lua's ltests.c debug_realloc): verifies the sizes
 * callers pass on free/realloc, guards both ends of every block, fills new
 * memory with a pattern, counts blocks and bytes, and can fail the Nth
 * allocation or any allocation past a byte limit. */
struct test_alloc {
	size_t blocks;    /* live blocks */
	size_t bytes;     /* live bytes */
	size_t peak;      /* most live bytes seen */
	size_t count;     /* allocations so far */
	size_t fail_at;   /* fail the allocation with this count (1-based); 0 = never */
	size_t limit;     /* fail when live bytes would exceed this; 0 = none */
	bool failed;      /* an allocation was refused */
};
struct cle_alloc test_alloc_init(struct test_alloc *t);

#endif
