/* base.h — what every stage shares: status codes, the error sentence, the
 * allocator, a growable byte buffer with a sticky error, an arena, and
 * overflow-checked size arithmetic.  No I/O, no global state. */
#ifndef CLE_BASE_H
#define CLE_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define CLE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CLE_NODISCARD __attribute__((warn_unused_result))
#else
#define CLE_PRINTF(f, a)
#define CLE_NODISCARD
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx-cle reads tensor bytes in place: little-endian hosts only (x86, ARM, wasm)"
#endif

/* Deepest protobuf message nesting accepted (counted in messages, as upb does). */
#define CLE_MAX_DEPTH 100
/* Deepest If/Loop/Scan subgraph nesting the graph index descends into. */
#define CLE_MAX_GRAPH_DEPTH 24

/* Failure classes; the names reach JS as err.code.  Order is free: the
 * string tables use designated initializers. */
enum cle_status {
	CLE_OK = 0,
	CLE_E_NOT_ONNX,     /* not a protobuf ModelProto, or not an ONNX model */
	CLE_E_TRUNCATED,    /* a length runs past the end of the input */
	CLE_E_TOO_DEEP,     /* nesting beyond CLE_MAX_DEPTH / CLE_MAX_GRAPH_DEPTH */
	CLE_E_UNSUPPORTED,  /* valid ONNX that onnx-cle does not handle */
	CLE_E_INVALID,      /* loads, but contradicts itself (shapes, types, names) */
	CLE_E_LIMIT,        /* a size does not fit this build (wasm32 size_t) */
	CLE_E_NOMEM,        /* the allocator said no */
	CLE_E_IO,           /* the host could not read or write a file */
	CLE_E_USAGE,        /* bad command line or option */
	CLE_E_CANCELLED,    /* the progress callback asked to stop */
	CLE_E_INTERNAL,     /* a bug in onnx-cle */
	CLE_STATUS_COUNT
};

const char *cle_status_name(enum cle_status s); /* "CLE_E_TRUNCATED" */
const char *cle_status_str(enum cle_status s);  /* "file is truncated" */

/* One failure: its class and one sentence saying what and where.  Fixed
 * size so reporting out-of-memory never allocates. */
struct cle_error {
	enum cle_status code;
	char msg[256];
};

/* Sets e (which may be NULL) and returns code, so a failure is one line. */
enum cle_status cle_errorf(struct cle_error *e, enum cle_status code,
			   const char *fmt, ...) CLE_PRINTF(3, 4);

/* Bad input verdicts go through here; debug builds append [file.c:line]
 * so fuzz triage sees which check fired. */
enum cle_status cle_bad_at(struct cle_error *e, enum cle_status code,
			   const char *file, int line, const char *fmt, ...)
	CLE_PRINTF(5, 6);
#define CLE_BAD(e, code, ...) \
	cle_bad_at((e), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Allocator: one function, Lua-style.  size == 0 frees; old is the size
 * the block was allocated with (0 for a new block). */
typedef void *(*cle_alloc_fn)(void *ud, void *ptr, size_t old, size_t size);
struct cle_alloc {
	cle_alloc_fn fn;
	void *ud;
};

/* The C library's malloc/realloc/free behind the allocator interface. */
extern const struct cle_alloc cle_system_alloc;

CLE_NODISCARD void *cle_malloc(const struct cle_alloc *a, size_t n);
CLE_NODISCARD void *cle_calloc(const struct cle_alloc *a, size_t count, size_t size);
CLE_NODISCARD void *cle_realloc(const struct cle_alloc *a, void *p, size_t old, size_t n);
void cle_free(const struct cle_alloc *a, void *p, size_t n);

/* Room for need elements of elsize bytes in the array *(T **)arrp of *cap
 * elements: grows by doubling (first to min_cap), keeps the contents.  On
 * overflow or out-of-memory the array is left as it was and the status is
 * CLE_E_NOMEM with a sentence.  Use CLE_RESERVE, which passes the sizes. */
CLE_NODISCARD enum cle_status cle_reserve(const struct cle_alloc *a, void *arrp, size_t *cap,
					  size_t need, size_t elsize, size_t min_cap,
					  struct cle_error *e);
#define CLE_RESERVE(a, arr, cap, need, min_cap, e) \
	cle_reserve((a), &(arr), &(cap), (need), sizeof *(arr), (min_cap), (e))

/* Conditions that cannot hold unless onnx-cle has a bug (SQLite's NEVER and
 * ALWAYS): debug builds stop on them, release builds take the safe branch,
 * which reports CLE_E_INTERNAL.  Never used on file contents. */
#ifdef NDEBUG
#define NEVER(x) (x)
#define ALWAYS(x) (x)
#else
#include <assert.h>
#define NEVER(x) ((x) ? (assert(0 && #x), 1) : 0)
#define ALWAYS(x) ((x) ? 1 : (assert(0 && #x), 0))
#endif

/* *out = a * b, false on overflow (every product of file-supplied counts). */
static inline bool cle_mul_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool cle_add_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* Growable byte buffer.  Appends after a failure do nothing; the status is
 * read once at the end (SQLite's sqlite3_str habit). */
struct cle_buf {
	const struct cle_alloc *a;
	char *p;       /* always NUL-terminated when n_alloc > 0 */
	size_t n;      /* bytes used, not counting the NUL */
	size_t n_alloc;
	enum cle_status status; /* first failure, sticky */
};

void cle_buf_init(struct cle_buf *b, const struct cle_alloc *a);
void cle_buf_free(struct cle_buf *b);
void cle_buf_append(struct cle_buf *b, const void *p, size_t n);
void cle_buf_puts(struct cle_buf *b, const char *s);
void cle_buf_printf(struct cle_buf *b, const char *fmt, ...) CLE_PRINTF(2, 3);
/* Hands the buffer's bytes to the caller (free with cle_free(a, p, n + 1)). */
char *cle_buf_take(struct cle_buf *b, size_t *n);

/* Bump arena over the allocator: many small blocks, freed at once.  Used for
 * protobuf-c's unpacked structures and per-run indexes. */
struct cle_arena_block;
struct cle_arena {
	const struct cle_alloc *a;
	struct cle_arena_block *head; /* newest block first */
	size_t used;                  /* bytes handed out, for reports */
	bool failed;                  /* an allocation was refused */
};

void cle_arena_init(struct cle_arena *ar, const struct cle_alloc *a);
CLE_NODISCARD void *cle_arena_alloc(struct cle_arena *ar, size_t n);
/* count zeroed elements of size bytes; NULL on overflow or out-of-memory. */
CLE_NODISCARD void *cle_arena_calloc(struct cle_arena *ar, size_t count, size_t size);
CLE_NODISCARD char *cle_arena_strdup(struct cle_arena *ar, const char *s);
void cle_arena_free(struct cle_arena *ar);

/* Blocks too big for the C library's malloc, cut straight from the top of
 * a linear memory.  Emscripten's dlmalloc gives no block of 2 GiB or more
 * (sbrk takes an intptr_t) and never gives memory back, so the wasm build
 * takes every block of min_size bytes or more here: freed blocks are
 * merged with free neighbours, reused, and handed back to the break when
 * topmost, so that malloc (which shares the break) can use them too.
 * State for one memory and one thread; the wasm module has exactly one. */
struct cle_break {
	uintptr_t (*get)(void *ud);             /* the current break (sbrk(0)) */
	bool (*set)(void *ud, uintptr_t top);   /* moves it, growing memory; false if it cannot */
	void *ud;
	uintptr_t limit;                        /* the break never goes above this */
};

#define CLE_BIG_BLOCKS 64
struct cle_bigmem {
	struct cle_break brk;
	size_t min_size; /* smaller blocks go to the C library's malloc */
	uint32_t n;      /* entries in b */
	struct {
		uintptr_t at; /* 16-byte aligned */
		size_t size;
		bool used;
	} b[CLE_BIG_BLOCKS]; /* by address; free entries are never adjacent */
};

/* An allocator function (ud: the struct cle_bigmem) that takes blocks of
 * min_size bytes or more from the break, the rest from realloc/free. */
void *cle_bigmem_alloc_fn(void *ud, void *ptr, size_t old, size_t size);
/* The largest block a new allocation could still get (free or above the break). */
size_t cle_bigmem_room(const struct cle_bigmem *m);

/* Human size: "4.5 MB", "812 B" (SI units, one decimal). */
void cle_format_bytes(char out[16], uint64_t n);

#endif
