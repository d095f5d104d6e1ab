/* base.c — status strings, error sentences, allocator helpers, byte
 * buffer and arena.  See base.h. */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define CLE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLE_ASAN 1
#endif
#endif
#ifdef CLE_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static const char *const status_names[CLE_STATUS_COUNT] = {
	[CLE_OK] = "CLE_OK",
	[CLE_E_NOT_ONNX] = "CLE_E_NOT_ONNX",
	[CLE_E_TRUNCATED] = "CLE_E_TRUNCATED",
	[CLE_E_TOO_DEEP] = "CLE_E_TOO_DEEP",
	[CLE_E_UNSUPPORTED] = "CLE_E_UNSUPPORTED",
	[CLE_E_INVALID] = "CLE_E_INVALID",
	[CLE_E_LIMIT] = "CLE_E_LIMIT",
	[CLE_E_NOMEM] = "CLE_E_NOMEM",
	[CLE_E_IO] = "CLE_E_IO",
	[CLE_E_USAGE] = "CLE_E_USAGE",
	[CLE_E_CANCELLED] = "CLE_E_CANCELLED",
	[CLE_E_INTERNAL] = "CLE_E_INTERNAL",
};

static const char *const status_strs[CLE_STATUS_COUNT] = {
	[CLE_OK] = "not an error",
	[CLE_E_NOT_ONNX] = "not an ONNX model",
	[CLE_E_TRUNCATED] = "file is truncated",
	[CLE_E_TOO_DEEP] = "nesting is too deep",
	[CLE_E_UNSUPPORTED] = "not supported",
	[CLE_E_INVALID] = "model contradicts itself",
	[CLE_E_LIMIT] = "too large for this build",
	[CLE_E_NOMEM] = "out of memory",
	[CLE_E_IO] = "input/output error",
	[CLE_E_USAGE] = "bad usage",
	[CLE_E_CANCELLED] = "cancelled",
	[CLE_E_INTERNAL] = "internal error",
};

const char *cle_status_name(enum cle_status s)
{
	return (unsigned)s < CLE_STATUS_COUNT ? status_names[s] : "CLE_E_INTERNAL";
}

const char *cle_status_str(enum cle_status s)
{
	return (unsigned)s < CLE_STATUS_COUNT ? status_strs[s] : "internal error";
}

static void set_error(struct cle_error *e, enum cle_status code, const char *fmt,
		      va_list ap) CLE_PRINTF(3, 0);
static void set_error(struct cle_error *e, enum cle_status code, const char *fmt,
		      va_list ap)
{
	int n;

	if (e == NULL)
		return;
	e->code = code;
	n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	if (n < 0)
		snprintf(e->msg, sizeof e->msg, "%s", cle_status_str(code));
}

enum cle_status cle_errorf(struct cle_error *e, enum cle_status code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(e, code, fmt, ap);
	va_end(ap);
	return code;
}

enum cle_status cle_bad_at(struct cle_error *e, enum cle_status code, const char *file,
			   int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(e, code, fmt, ap);
	va_end(ap);
#ifndef NDEBUG
	if (e != NULL) {
		const char *base = strrchr(file, '/');
		size_t len = strlen(e->msg);

		snprintf(e->msg + len, sizeof e->msg - len, " [%s:%d]", base ? base + 1 : file, line);
	}
#else
	(void)file;
	(void)line;
#endif
	return code;
}

static void *system_alloc_fn(void *ud, void *ptr, size_t old, size_t size)
{
	(void)ud;
	(void)old;
	if (size == 0) {
		free(ptr);
		return NULL;
	}
	return realloc(ptr, size);
}

const struct cle_alloc cle_system_alloc = {system_alloc_fn, NULL};

void *cle_malloc(const struct cle_alloc *a, size_t n)
{
	return n == 0 ? NULL : a->fn(a->ud, NULL, 0, n);
}

void *cle_calloc(const struct cle_alloc *a, size_t count, size_t size)
{
	size_t n;
	void *p;

	if (!cle_mul_size(count, size, &n) || n == 0)
		return NULL;
	p = a->fn(a->ud, NULL, 0, n);
	if (p != NULL)
		memset(p, 0, n);
	return p;
}

void *cle_realloc(const struct cle_alloc *a, void *p, size_t old, size_t n)
{
	if (n == 0) {
		cle_free(a, p, old);
		return NULL;
	}
	return a->fn(a->ud, p, p ? old : 0, n);
}

void cle_free(const struct cle_alloc *a, void *p, size_t n)
{
	if (p != NULL)
		a->fn(a->ud, p, n, 0);
}

enum cle_status cle_reserve(const struct cle_alloc *a, void *arrp, size_t *cap, size_t need,
			    size_t elsize, size_t min_cap, struct cle_error *e)
{
	size_t n = *cap ? *cap : min_cap, old_bytes, new_bytes;
	void *p, *q;

	if (need <= *cap)
		return CLE_OK;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	if (!cle_mul_size(n, elsize, &new_bytes))
		return cle_errorf(e, CLE_E_NOMEM, "out of memory: %zu elements of %zu bytes", n, elsize);
	old_bytes = *cap * elsize;
	memcpy(&p, arrp, sizeof p); /* *(T **)arrp, without type punning */
	q = cle_realloc(a, p, old_bytes, new_bytes);
	if (q == NULL)
		return cle_errorf(e, CLE_E_NOMEM, "out of memory growing a list to %zu bytes", new_bytes);
	memcpy(arrp, &q, sizeof q);
	*cap = n;
	return CLE_OK;
}

void cle_buf_init(struct cle_buf *b, const struct cle_alloc *a)
{
	memset(b, 0, sizeof *b);
	b->a = a;
}

void cle_buf_free(struct cle_buf *b)
{
	cle_free(b->a, b->p, b->n_alloc);
	b->p = NULL;
	b->n = b->n_alloc = 0;
}

/* Makes room for n more bytes plus the NUL; false (and sticky status) if not. */
static bool buf_reserve(struct cle_buf *b, size_t n)
{
	size_t need;

	if (b->status != CLE_OK)
		return false;
	if (!cle_add_size(b->n, n, &need) || !cle_add_size(need, 1, &need)) {
		b->status = CLE_E_LIMIT;
		return false;
	}
	if (cle_reserve(b->a, &b->p, &b->n_alloc, need, 1, 256, NULL) != CLE_OK) {
		b->status = CLE_E_NOMEM;
		return false;
	}
	return true;
}

void cle_buf_append(struct cle_buf *b, const void *p, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	if (n > 0)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void cle_buf_puts(struct cle_buf *b, const char *s)
{
	cle_buf_append(b, s, strlen(s));
}

void cle_buf_printf(struct cle_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	if (b->status != CLE_OK)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->status = CLE_E_INTERNAL;
		return;
	}
	if ((size_t)n < sizeof small) {
		cle_buf_append(b, small, (size_t)n);
		return;
	}
	if (!buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)n;
}

char *cle_buf_take(struct cle_buf *b, size_t *n)
{
	char *p;

	if (b->status != CLE_OK || !buf_reserve(b, 0))
		return NULL;
	/* shrink to fit so the caller frees with the size it knows */
	p = cle_realloc(b->a, b->p, b->n_alloc, b->n + 1);
	if (p == NULL) {
		b->status = CLE_E_NOMEM;
		return NULL;
	}
	*n = b->n;
	b->p = NULL;
	b->n = b->n_alloc = 0;
	return p;
}

/* Arena blocks: header, then payload.  Payload slack stays poisoned under
 * ASan so an overflow from one arena object into the next is caught. */
struct cle_arena_block {
	struct cle_arena_block *next;
	size_t size; /* payload bytes */
	size_t used;
	max_align_t payload[];
};

#define ARENA_ALIGN (sizeof(max_align_t))
#define ARENA_FIRST ((size_t)16 << 10)
#define ARENA_MAX_BLOCK ((size_t)1 << 20)
#ifdef CLE_ASAN
#define ARENA_GUARD ARENA_ALIGN
#else
#define ARENA_GUARD 0
#endif

void cle_arena_init(struct cle_arena *ar, const struct cle_alloc *a)
{
	memset(ar, 0, sizeof *ar);
	ar->a = a;
}

static struct cle_arena_block *arena_new_block(struct cle_arena *ar, size_t min)
{
	size_t size = ar->head ? ar->head->size * 2 : ARENA_FIRST;
	size_t total;
	struct cle_arena_block *b;

	if (size > ARENA_MAX_BLOCK)
		size = ARENA_MAX_BLOCK;
	if (size < min)
		size = min;
	if (!cle_add_size(size, sizeof *b, &total))
		return NULL;
	b = cle_malloc(ar->a, total);
	if (b == NULL)
		return NULL;
	b->size = size;
	b->used = 0;
	POISON(b->payload, size);
	/* a block made for one large object goes behind the current one so the
	 * current block's free space stays in use */
	if (ar->head != NULL && min > ar->head->size - ar->head->used && size == min) {
		b->next = ar->head->next;
		ar->head->next = b;
	} else {
		b->next = ar->head;
		ar->head = b;
	}
	return b;
}

void *cle_arena_alloc(struct cle_arena *ar, size_t n)
{
	struct cle_arena_block *b = ar->head;
	size_t need, rounded;
	void *p;

	if (n == 0)
		n = 1;
	if (!cle_add_size(n, ARENA_GUARD + ARENA_ALIGN - 1, &rounded)) {
		ar->failed = true;
		return NULL;
	}
	need = rounded & ~(ARENA_ALIGN - 1);
	if (b == NULL || need > b->size - b->used) {
		b = arena_new_block(ar, need);
		if (b == NULL) {
			ar->failed = true;
			return NULL;
		}
	}
	p = (char *)b->payload + b->used;
	b->used += need;
	ar->used += need;
	UNPOISON(p, n);
	return p;
}

void *cle_arena_calloc(struct cle_arena *ar, size_t count, size_t size)
{
	size_t n;
	void *p;

	if (!cle_mul_size(count ? count : 1, size, &n)) {
		ar->failed = true;
		return NULL;
	}
	p = cle_arena_alloc(ar, n);
	if (p != NULL)
		memset(p, 0, n);
	return p;
}

char *cle_arena_strdup(struct cle_arena *ar, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = cle_arena_alloc(ar, n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

void cle_arena_free(struct cle_arena *ar)
{
	struct cle_arena_block *b = ar->head;

	while (b != NULL) {
		struct cle_arena_block *next = b->next;

		UNPOISON(b->payload, b->size);
		cle_free(ar->a, b, sizeof *b + b->size);
		b = next;
	}
	ar->head = NULL;
	ar->used = 0;
}

/* ---- blocks from the break (see base.h) ---- */

#define BIG_ALIGN ((uintptr_t)16)

static uint32_t big_find(const struct cle_bigmem *m, const void *p)
{
	uint32_t i;

	for (i = 0; i < m->n; i++)
		if (m->b[i].at == (uintptr_t)p)
			return i;
	return m->n;
}

static void big_insert(struct cle_bigmem *m, uint32_t i, uintptr_t at, size_t size, bool used)
{
	memmove(&m->b[i + 1], &m->b[i], (m->n - i) * sizeof m->b[0]);
	m->b[i].at = at;
	m->b[i].size = size;
	m->b[i].used = used;
	m->n++;
}

static void big_remove(struct cle_bigmem *m, uint32_t i)
{
	memmove(&m->b[i], &m->b[i + 1], (m->n - i - 1) * sizeof m->b[0]);
	m->n--;
}

/* True when block i ends at the break (nothing above it, malloc's or ours). */
static bool big_topmost(const struct cle_bigmem *m, uint32_t i)
{
	return i + 1 == m->n && m->b[i].at + m->b[i].size == m->brk.get(m->brk.ud);
}

/* n rounded up to BIG_ALIGN, false on overflow. */
static bool big_round(size_t *n)
{
	if (!cle_add_size(*n, BIG_ALIGN - 1, n))
		return false;
	*n &= ~(size_t)(BIG_ALIGN - 1);
	return true;
}

static void *big_alloc(struct cle_bigmem *m, size_t n)
{
	uint32_t i, best = m->n;
	uintptr_t top, at;

	if (!big_round(&n))
		return NULL;
	/* the smallest free block that fits keeps larger holes whole */
	for (i = 0; i < m->n; i++)
		if (!m->b[i].used && m->b[i].size >= n &&
		    (best == m->n || m->b[i].size < m->b[best].size))
			best = i;
	if (best < m->n) {
		if (m->b[best].size - n >= m->min_size && m->n < CLE_BIG_BLOCKS) {
			big_insert(m, best + 1, m->b[best].at + n, m->b[best].size - n, false);
			m->b[best].size = n;
		}
		m->b[best].used = true;
		return (void *)m->b[best].at;
	}
	if (m->n == CLE_BIG_BLOCKS)
		return NULL;
	top = m->brk.get(m->brk.ud);
	at = (top + BIG_ALIGN - 1) & ~(BIG_ALIGN - 1);
	if (at < top || at > m->brk.limit || n > m->brk.limit - at)
		return NULL;
	/* the break only moves up past our blocks, so a new one is the highest */
	if (m->n > 0 && at < m->b[m->n - 1].at + m->b[m->n - 1].size)
		return NULL;
	if (!m->brk.set(m->brk.ud, at + n))
		return NULL;
	big_insert(m, m->n, at, n, true);
	return (void *)at;
}

static void big_free(struct cle_bigmem *m, uint32_t i)
{
	m->b[i].used = false;
	if (i + 1 < m->n && !m->b[i + 1].used && m->b[i].at + m->b[i].size == m->b[i + 1].at) {
		m->b[i].size += m->b[i + 1].size;
		big_remove(m, i + 1);
	}
	if (i > 0 && !m->b[i - 1].used && m->b[i - 1].at + m->b[i - 1].size == m->b[i].at) {
		m->b[i - 1].size += m->b[i].size;
		big_remove(m, i);
		i--;
	}
	/* the topmost block goes back to the break, for malloc as well as for us */
	if (big_topmost(m, i) && m->brk.set(m->brk.ud, m->b[i].at))
		big_remove(m, i);
}

/* Resizes block i in place: shrinking always works (the topmost block gives
 * the rest back), growing only the topmost block. */
static bool big_resize(struct cle_bigmem *m, uint32_t i, size_t n)
{
	uintptr_t at = m->b[i].at;

	if (!big_round(&n))
		return false;
	if (n <= m->b[i].size) {
		if (big_topmost(m, i) && m->brk.set(m->brk.ud, at + n))
			m->b[i].size = n;
		return true;
	}
	if (!big_topmost(m, i) || at > m->brk.limit || n > m->brk.limit - at ||
	    !m->brk.set(m->brk.ud, at + n))
		return false;
	m->b[i].size = n;
	return true;
}

void *cle_bigmem_alloc_fn(void *ud, void *ptr, size_t old, size_t size)
{
	struct cle_bigmem *m = ud;
	uint32_t i = ptr != NULL ? big_find(m, ptr) : m->n;
	void *q;

	if (i == m->n) { /* malloc's block, or a new one */
		if (size == 0) {
			free(ptr);
			return NULL;
		}
		if (size < m->min_size)
			return realloc(ptr, size);
		q = big_alloc(m, size);
		if (q != NULL && ptr != NULL) {
			memcpy(q, ptr, old < size ? old : size);
			free(ptr);
		}
		return q;
	}
	if (size == 0) {
		big_free(m, i);
		return NULL;
	}
	if (size >= m->min_size && big_resize(m, i, size))
		return ptr;
	q = size < m->min_size ? malloc(size) : big_alloc(m, size);
	if (q == NULL)
		return NULL; /* the old block stays, as realloc leaves it */
	if (old > size)
		old = size;
	memcpy(q, ptr, old);
	big_free(m, big_find(m, ptr)); /* big_alloc may have moved its entry */
	return q;
}

size_t cle_bigmem_room(const struct cle_bigmem *m)
{
	uintptr_t top = m->brk.get(m->brk.ud);
	uintptr_t at = (top + BIG_ALIGN - 1) & ~(BIG_ALIGN - 1);
	size_t room = at >= top && at <= m->brk.limit ? (size_t)(m->brk.limit - at) : 0;
	uint32_t i;

	if (m->n == CLE_BIG_BLOCKS)
		room = 0;
	for (i = 0; i < m->n; i++)
		if (!m->b[i].used && m->b[i].size > room)
			room = m->b[i].size;
	return room;
}

void cle_format_bytes(char out[16], uint64_t n)
{
	static const char *const units[] = {"kB", "MB", "GB", "TB"};
	double v = (double)n;
	int u = -1;

	if (n < 1000) {
		snprintf(out, 16, "%u B", (unsigned)n);
		return;
	}
	while (v >= 999.95 && u < 3) {
		v /= 1000.0;
		u++;
	}
	snprintf(out, 16, "%.1f %s", v, units[u]);
}
