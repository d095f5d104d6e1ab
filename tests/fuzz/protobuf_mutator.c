/* protobuf_mutator.c — a structure-aware mutator for fuzz_model.c: a byte
 * inserted into or erased from a protobuf message breaks the length prefix
 * of every message around it, so about half of libFuzzer's own mutations
 * make files the pre-scan refuses at once ("truncated").  This one reads
 * the input as protobuf wire format, without a schema (a length-delimited
 * field whose body reads as a message is a message), and most of the time
 * changes one field and rewrites the lengths around it:
 *   - mutate a length-delimited field's body with libFuzzer's own mutators
 *     (and its dictionary),
 *   - delete a field, or repeat one (a node, an initializer, a dim, ...),
 *   - copy a field from elsewhere in the file into another message.
 * The rest of the time, and whenever the input is not protobuf, it leaves
 * the work to libFuzzer's mutators, so the parser's refusals stay covered. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

#define MAX_FIELDS 4096 /* fields read at most; the rest of a file is not chosen */
#define MAX_DEPTH 24
#define SCRATCH (1u << 17) /* the largest body mutated (the inputs are 64 KiB at most) */

struct field {
	size_t tag;      /* offset of the tag */
	size_t lenpos;   /* offset of the length varint (length-delimited), else the value */
	size_t body;     /* offset of the body (length-delimited), else of the value */
	size_t end;      /* offset just past the field */
	int parent;      /* enclosing length-delimited field, -1 at the top */
	int message;     /* its body read as a message */
};

struct tree {
	struct field f[MAX_FIELDS];
	int n;
};

static uint8_t scratch[SCRATCH];
static uint8_t out[SCRATCH + 64];

static uint64_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005u + 1442695040888963407u;
	return *s >> 33;
}

static size_t varint_read(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t r = 0;
	size_t i;

	for (i = 0; i < n && i < 10; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

static size_t varint_write(uint8_t *o, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		o[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	o[n++] = (uint8_t)v;
	return n;
}

/* Whether [at, end) reads as a sequence of well-formed fields. */
static int is_message(const uint8_t *p, size_t at, size_t end)
{
	uint64_t v;
	size_t k;

	if (at == end)
		return 0; /* an empty body is as likely a string */
	while (at < end) {
		if ((k = varint_read(p + at, end - at, &v)) == 0 || (v >> 3) == 0 || (v >> 3) > 536870911u)
			return 0;
		at += k;
		switch (v & 7) {
		case 0:
			if ((k = varint_read(p + at, end - at, &v)) == 0)
				return 0;
			at += k;
			break;
		case 1:
		case 5:
			if (((v & 7) == 1 ? 8u : 4u) > end - at)
				return 0;
			at += (v & 7) == 1 ? 8 : 4;
			break;
		case 2:
			if ((k = varint_read(p + at, end - at, &v)) == 0 || v > end - at - k)
				return 0;
			at += k + (size_t)v;
			break;
		default:
			return 0;
		}
	}
	return 1;
}

/* Reads the fields of the message [at, end) under parent, depth first. */
static void read_fields(struct tree *t, const uint8_t *p, size_t at, size_t end, int parent, int depth)
{
	uint64_t v, len;
	size_t k;

	while (at < end && t->n < MAX_FIELDS) {
		struct field *f = &t->f[t->n];
		int self = t->n;

		f->tag = at;
		f->parent = parent;
		f->message = 0;
		k = varint_read(p + at, end - at, &v);
		at += k;
		switch (v & 7) {
		case 0:
			f->lenpos = f->body = at;
			at += varint_read(p + at, end - at, &len);
			break;
		case 1:
		case 5:
			f->lenpos = f->body = at;
			at += (v & 7) == 1 ? 8 : 4;
			break;
		default: /* 2: is_message() checked the rest */
			f->lenpos = at;
			k = varint_read(p + at, end - at, &len);
			f->body = at + k;
			at = f->body + (size_t)len;
			break;
		}
		f->end = at;
		t->n++;
		if ((v & 7) == 2 && depth < MAX_DEPTH && is_message(p, f->body, f->end)) {
			f->message = 1;
			read_fields(t, p, f->body, f->end, self, depth + 1);
		}
	}
}

/* Writes p with [from, to) replaced by rep[0, n), every length prefix around
 * it rewritten; returns the new size, 0 if it would exceed cap. */
static size_t splice(const struct tree *t, const uint8_t *p, size_t size, int around, size_t from,
		     size_t to, const uint8_t *rep, size_t n, uint8_t *o, size_t cap)
{
	int chain[MAX_DEPTH + 2], depth = 0, i;
	size_t at = 0, w = 0, grow[MAX_DEPTH + 2];
	long long delta = (long long)n - (long long)(to - from);

	for (i = around; i >= 0 && depth < MAX_DEPTH + 2; i = t->f[i].parent)
		chain[depth++] = i;
	/* innermost first: each length grows by the change and by its children's prefixes */
	for (i = 0; i < depth; i++) {
		const struct field *f = &t->f[chain[i]];
		uint8_t tmp[10];
		unsigned long long len = (unsigned long long)((long long)(f->end - f->body) + delta);

		grow[i] = varint_write(tmp, len);
		delta += (long long)grow[i] - (long long)(f->body - f->lenpos);
	}
	if ((long long)size + delta > (long long)cap || (long long)size + delta <= 0)
		return 0;
	/* outermost first: copy up to its length, write the new one, go in */
	for (i = depth - 1; i >= 0; i--) {
		const struct field *f = &t->f[chain[i]];
		long long len = (long long)(f->end - f->body);
		int j;

		memcpy(o + w, p + at, f->lenpos - at);
		w += f->lenpos - at;
		/* the new body length: the old one, the change, the inner prefixes' growth */
		len += (long long)n - (long long)(to - from);
		for (j = i - 1; j >= 0; j--)
			len += (long long)grow[j] - (long long)(t->f[chain[j]].body - t->f[chain[j]].lenpos);
		w += varint_write(o + w, (uint64_t)len);
		at = f->body;
	}
	memcpy(o + w, p + at, from - at);
	w += from - at;
	if (n > 0)
		memcpy(o + w, rep, n);
	w += n;
	memcpy(o + w, p + to, size - to);
	return w + size - to;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static struct tree t;
	uint64_t s = seed;
	size_t n = 0, cap = max_size < SCRATCH ? max_size : SCRATCH;
	int i, j, tries;

	rng_next(&s);
	if (size == 0 || size > SCRATCH || rng_next(&s) % 5 == 0 || !is_message(data, 0, size))
		return LLVMFuzzerMutate(data, size, max_size);
	t.n = 0;
	read_fields(&t, data, 0, size, -1, 0);
	for (tries = 0; tries < 4 && n == 0; tries++) {
		const struct field *f;

		i = (int)(rng_next(&s) % (uint64_t)t.n);
		f = &t.f[i];
		switch (rng_next(&s) % 8) {
		case 0: /* delete the field */
			n = splice(&t, data, size, f->parent, f->tag, f->end, NULL, 0, out, cap);
			break;
		case 1: /* repeat it */
			n = splice(&t, data, size, f->parent, f->end, f->end, data + f->tag, f->end - f->tag,
				   out, cap);
			break;
		case 2: /* copy another field (from anywhere) in after it */
			j = (int)(rng_next(&s) % (uint64_t)t.n);
			n = splice(&t, data, size, f->parent, f->end, f->end, data + t.f[j].tag,
				   t.f[j].end - t.f[j].tag, out, cap);
			break;
		default: { /* mutate a body (a scalar's value as bytes, or a string's, or a message's) */
			size_t len = f->end - f->body, room = cap > size ? cap - size : 0, m;

			if (f->body == f->lenpos) /* varint, 32- or 64-bit: same size, in place */
				break;
			if (len + room > SCRATCH)
				room = SCRATCH - len;
			memcpy(scratch, data + f->body, len);
			if (len == 0 && room == 0)
				break;
			if (len == 0) { /* libFuzzer's mutators want a byte to start from */
				scratch[0] = (uint8_t)rng_next(&s);
				m = 1;
			} else {
				m = LLVMFuzzerMutate(scratch, len, len + room);
			}
			n = splice(&t, data, size, i, f->body, f->end, scratch, m, out, cap);
			break;
		}
		}
	}
	if (n == 0)
		return LLVMFuzzerMutate(data, size, max_size);
	memcpy(data, out, n);
	return n;
}
