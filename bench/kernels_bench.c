/* kernels_bench.c — throughput of the math kernels (src/kernels.c) in GB/s
 * of input bytes, scalar and (in a SIMD wasm build) SIMD, with the ratio.
 * A benchmark, not a test: it prints numbers and never fails on time.
 *
 *   native:            gcc -std=c11 -O3 -Isrc bench/kernels_bench.c src/kernels.c src/kernels_simd.c -o /tmp/kernels_bench
 *                      /tmp/kernels_bench [sums]     (only the kernels whose names start so)
 *   wasm, SIMD:        export NODE_PATH=/usr/share/nodejs
 *                      emcc -std=c11 -O3 -msimd128 -mbulk-memory -Isrc bench/kernels_bench.c \
 *                        src/kernels.c src/kernels_simd.c -sENVIRONMENT=node -sWASM_ASYNC_COMPILATION=0 \
 *                        -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB -o /tmp/kernels_bench.cjs
 *                      node /tmp/kernels_bench.cjs
 *   wasm, no SIMD at all (the scalar code without -msimd128, so nothing is
 *   auto-vectorized either): the same emcc line without -msimd128.
 *
 * (-sWASM_ASYNC_COMPILATION=0: emcc 3.1.6's glue fetch()es the .wasm, which
 * Node 18+ refuses for a file path; .cjs: the glue is CommonJS, and inside
 * this repository package.json says "type": "module".  See CMakeLists.txt.) */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"


/* Everything one tensor's runs need, allocated once. */
struct setup {
	struct kernel_tensor t;
	size_t n, bytes;
	float *m, *a, *b, *r0, *r1;
	double *fa, *fb;
	double *ch_signal, *ch_noise; /* per-row statistics */
	double *sr, *sc;              /* kernel_sums' outputs: 2 * d0, 2 * n_col */
	uint8_t *dst;
};

enum op {
	OP_ABSMAX, OP_WMAX, OP_WMAX_DIRECT, OP_SCALE, OP_SCALE_Q, OP_SCALE_NODST,
	OP_SUMS_ROWS, OP_SUMS_COLS, OP_SUMS_BACK, OP_COUNT
};
static const char *const op_name[OP_COUNT] = {
	[OP_ABSMAX] = "absmax_reduce",
	[OP_WMAX] = "weighted_max (m)",
	[OP_WMAX_DIRECT] = "weighted_max (m=NULL)",
	[OP_SCALE] = "scale (fa,fb)",
	[OP_SCALE_Q] = "scale (fa,fb,q)",
	[OP_SCALE_NODST] = "scale (q only)",
	[OP_SUMS_ROWS] = "sums (rows: r1, r2)",
	[OP_SUMS_COLS] = "sums (cols: c1, c2)",
	[OP_SUMS_BACK] = "sums (rows: r2 only)",
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile double sink;

/* One call; returns the input bytes it read. */
static size_t run(const struct kernel_impl *im, struct setup *s, enum op op)
{
	struct kernel_sqnr q = {0};

	q.step = 0.01;
	q.ch_signal = s->ch_signal;
	q.ch_noise = s->ch_noise;

	switch (op) {
	case OP_ABSMAX:
		sink += (double)im->absmax(&s->t, s->m);
		return s->bytes;
	case OP_WMAX:
		im->wmax(&s->t, s->m, s->a, s->b, s->r0, s->r1);
		sink += (double)s->r0[0];
		return s->t.d0 * s->t.d1 * sizeof(float);
	case OP_WMAX_DIRECT:
		im->wmax(&s->t, NULL, s->a, s->b, s->r0, s->r1);
		sink += (double)s->r0[0];
		return s->bytes;
	case OP_SCALE:
		sink += (double)im->scale(&s->t, s->fa, s->fb, 0, s->n, s->dst, NULL);
		return s->bytes;
	case OP_SCALE_Q:
		sink += (double)im->scale(&s->t, s->fa, s->fb, 0, s->n, s->dst, &q);
		sink += q.ch_noise[0];
		return s->bytes;
	case OP_SCALE_NODST:
		sink += (double)im->scale(&s->t, s->fa, s->fb, 0, s->n, NULL, &q);
		sink += q.ch_noise[0];
		return s->bytes;
	case OP_SUMS_ROWS:
		im->sums(&s->t, s->fb, s->fb, s->sr, s->sr + s->t.d0, NULL, NULL, NULL, NULL);
		sink += s->sr[0];
		return s->bytes;
	case OP_SUMS_COLS:
		im->sums(&s->t, NULL, NULL, NULL, NULL, s->fa, s->fa, s->sc, s->sc + s->t.groups * s->t.d1);
		sink += s->sc[0];
		return s->bytes;
	case OP_SUMS_BACK:
		im->sums(&s->t, NULL, s->fb, NULL, s->sr, NULL, NULL, NULL, NULL);
		sink += s->sr[0];
		return s->bytes;
	default:
		return 0;
	}
}

/* Best of 5 rounds of at least 0.2 s each, in GB/s. */
static double measure(const struct kernel_impl *im, struct setup *s, enum op op)
{
	double best = 0;
	int round;

	run(im, s, op); /* warm: pages touched, caches filled */
	for (round = 0; round < 5; round++) {
		double t0 = now(), t;
		size_t bytes = 0;
		int calls = 0;

		do {
			bytes += run(im, s, op);
			calls++;
			t = now() - t0;
		} while (t < 0.2 || calls < 2);
		if ((double)bytes / t / 1e9 > best)
			best = (double)bytes / t / 1e9;
	}
	return best;
}

static void *xalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

static void bench(size_t d0, size_t d1, size_t k, size_t groups, enum kernel_dtype dt, const char *only)
{
	struct setup s;
	size_t es = dt == KERNEL_F16 ? 2 : 4, i, n_col = groups * d1;
	uint8_t *w;
	uint32_t x = 12345;
	int op;

	s.n = d0 * d1 * k;
	s.bytes = s.n * es;
	w = xalloc(s.bytes + 1);
	for (i = 0; i < s.n; i++) {
		x = x * 1664525u + 1013904223u;
		if (dt == KERNEL_F16) {
			uint16_t h = kernel_f64_to_f16(((double)(x >> 8) / 16777216.0 - 0.5) * 4.0);

			memcpy(w + 1 + 2 * i, &h, 2);
		} else {
			float f = (float)(((double)(x >> 8) / 16777216.0 - 0.5) * 4.0);

			memcpy(w + 1 + 4 * i, &f, 4);
		}
	}
	/* p is odd on purpose: weights inside a protobuf are not aligned */
	s.t = (struct kernel_tensor){w + 1, dt, d0, d1, k, groups};
	s.m = xalloc(d0 * d1 * sizeof(float));
	s.a = xalloc(d0 * sizeof(float));
	s.b = xalloc(n_col * sizeof(float));
	s.r0 = xalloc(d0 * sizeof(float));
	s.r1 = xalloc(n_col * sizeof(float));
	s.fa = xalloc(d0 * sizeof(double));
	s.fb = xalloc(n_col * sizeof(double));
	s.sr = xalloc(2 * d0 * sizeof(double));
	s.sc = xalloc(2 * n_col * sizeof(double));
	s.dst = xalloc(s.bytes);
	s.ch_signal = calloc(4 * d0, sizeof(double));
	s.ch_noise = calloc(4 * d0, sizeof(double));
	for (i = 0; i < d0; i++) {
		s.a[i] = 0.5f + (float)(i % 7) * 0.25f;
		s.fa[i] = 0.75 + (double)(i % 5) * 0.125;
	}
	for (i = 0; i < n_col; i++) {
		s.b[i] = 0.5f + (float)(i % 3) * 0.25f;
		s.fb[i] = 0.875 + (double)(i % 11) * 0.0625;
	}
	kernel_absmax_reduce_scalar(&s.t, s.m);

	printf("\n[%zu][%zu][%zu] groups %zu, %s, %.1f MB\n", d0, d1, k, groups,
	       dt == KERNEL_F16 ? "float16" : "float32", (double)s.bytes / 1e6);
	printf("  %-24s", "GB/s of input bytes");
	for (i = 0; i < KERNEL_N_IMPLS; i++)
		printf(" %9s", kernel_impls[i].name);
	if (KERNEL_N_IMPLS > 1)
		printf("  simd/scalar");
	printf("\n");
	for (op = 0; op < OP_COUNT; op++) {
		double gbs[2] = {0, 0};

		if ((op == OP_WMAX_DIRECT && k != 1) || strncmp(op_name[op], only, strlen(only)) != 0)
			continue;
		printf("  %-24s", op_name[op]);
		for (i = 0; i < KERNEL_N_IMPLS; i++) {
			gbs[i] = measure(&kernel_impls[i], &s, (enum op)op);
			printf(" %9.2f", gbs[i]);
		}
		if (KERNEL_N_IMPLS > 1)
			printf("  %8.2fx", gbs[1] / gbs[0]);
		printf("\n");
		fflush(stdout);
	}
	free(w);
	free(s.m);
	free(s.a);
	free(s.b);
	free(s.r0);
	free(s.r1);
	free(s.fa);
	free(s.fb);
	free(s.dst);
	free(s.sr);
	free(s.sc);
}

/* argv[1], if given: only the kernels whose names start with it ("sums"). */
int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";

#ifdef __wasm__
#ifdef __wasm_simd128__
	printf("onnx-cle kernels, WebAssembly with SIMD128\n");
#else
	printf("onnx-cle kernels, WebAssembly without SIMD\n");
#endif
#else
	printf("onnx-cle kernels, native\n");
#endif
	bench(4096, 4096, 1, 1, KERNEL_F32, only);
	bench(512, 512, 9, 1, KERNEL_F32, only);
	bench(4096, 4096, 1, 1, KERNEL_F16, only);
	bench(512, 512, 9, 1, KERNEL_F16, only);
	bench(65536, 1, 9, 65536, KERNEL_F32, only); /* depthwise */
	return 0;
}
