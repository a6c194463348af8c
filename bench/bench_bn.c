/* bench_bn.c — BatchNormalization's element-wise kernels (src/kernels/eltwise.h) alone on the
 * ResNet example's shapes, a batch of 128 images, beside a memcpy of the same bytes: is each at the
 * memory's rate? Build from the repository root (eltwise.c as the library builds it, without
 * contraction):
 *   cc -O2 -std=gnu11 -ffp-contract=off -Iinclude -Isrc src/core/core.c src/kernels/*.c \
 *      bench/bench_bn.c -lm -o bench_bn && ./bench_bn [PATH [cold]]
 * PATH: the index of fv__elt_path (0 the reference), or - for the path fovea chooses.
 */
#include "core/core.h"
#include "kernels/eltwise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_clock.h"

static float *falloc(int64_t n, float lo, float hi, unsigned seed)
{
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    if (!p) abort();
    srand(seed);
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * (float)rand() / (float)RAND_MAX;
    return p;
}

#define REPS 15
/* "cold": each run starts after a store to each line of 64 MB elsewhere (the tensors come from
 * memory, not from L3); otherwise the runs follow each other (the tensors warm in L3). */
static char *evict;
#define EVICT_BYTES ((size_t)64 << 20)
/* Best of REPS of expr, in ms. */
#define BEST(var, expr)                                                                            \
    do {                                                                                           \
        var = 1e30;                                                                                \
        for (int rep_ = 0; rep_ < REPS; rep_++) {                                                  \
            for (size_t e_ = 0; evict && e_ < EVICT_BYTES; e_ += 64)                               \
                evict[e_] = (char)rep_; /* plain stores (memset's bypass the caches) */            \
            const double t0_ = bench_cpu_seconds();                                                \
            expr;                                                                                  \
            const double t_ = (bench_cpu_seconds() - t0_) * 1e3;                                   \
            if (t_ < var) var = t_;                                                                \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    const fv__elt_ops *ops =
        argc > 1 && strcmp(argv[1], "-") != 0 ? fv__elt_path(atoi(argv[1])) : fv__elt();
    if (argc > 2 && strcmp(argv[2], "cold") == 0 && !(evict = malloc(EVICT_BYTES))) abort();
    if (!ops) {
        fprintf(stderr, "bench_bn: no path %s on this CPU\n", argv[1]);
        return 1;
    }
    printf("element-wise path %s; batch of 128, chunks of 8 images for the sums; best of %d, "
           "thread CPU time; GB/s count the bytes read and written; %s\n",
           ops->name, REPS, evict ? "cold (64 MB written before each run)" : "warm");
    const int64_t shapes[3][2] = {{28 * 28, 16}, {14 * 14, 32}, {7 * 7, 64}};
    const int64_t N = 128, chunk = 8;
    for (int s = 0; s < 3; s++) {
        const int64_t rows = shapes[s][0], C = shapes[s][1], per = rows * C, n = N * per;
        float *x = falloc(n, -1, 3, 1), *dy = falloc(n, -1, 1, 2), *ry = falloc(n, -1, 1, 3);
        float *add = falloc(n, -1, 1, 4), *y = falloc(n, 0, 0, 5), *dx = falloc(n, 0, 0, 6);
        float *dsk = falloc(n, 0, 0, 7), *mean = falloc(C, 0.5f, 1.5f, 8);
        float *inv = falloc(C, 0.5f, 2, 9), *gamma = falloc(C, 0.5f, 1.5f, 10);
        float *beta = falloc(C, -0.5f, 0.5f, 11);
        double *s1 = calloc((size_t)C, 8), *s2 = calloc((size_t)C, 8), *dm = calloc((size_t)C, 8);
        float *k = falloc(3 * C, 0, 0, 12);
        if (!s1 || !s2 || !dm) abort();
        for (int64_t c = 0; c < C; c++)
            dm[c] = mean[c], s1[c] = 0.1 * (double)c, s2[c] = 0.2 * (double)c;
        fv__bn_dx_coef(C, gamma, inv, (double)(N * rows), s1, s2, k);
        const double mb = (double)n * 4 / 1e6; /* one tensor, MB */
        double t;
        BEST(t, memcpy(y, x, (size_t)n * 4));
        printf("%4ldx%-3ld (%.1f MB a tensor): memcpy %.3f ms = %.0f GB/s\n", (long)rows, (long)C,
               mb, t, 2 * mb / t);
        BEST(t, for (int64_t i = 0; i < N; i += chunk)
                    ops->sum_sq(x + i * per, chunk * rows, C, dm, s1, s2));
        printf("  sum_sq     %.3f ms = %3.0f GB/s (reads 1)\n", t, mb / t);
        BEST(t, for (int64_t i = 0; i < N; i += chunk)
                    ops->sum_sqdev(x + i * per, chunk * rows, C, dm, s1));
        printf("  sum_sqdev  %.3f ms = %3.0f GB/s (reads 1)\n", t, mb / t);
        BEST(t, for (int64_t i = 0; i < N; i += chunk)
                    ops->sum_dy(x + i * per, dy + i * per, ry + i * per, NULL, NULL, chunk * rows,
                                C, mean, inv, s1, s2));
        printf("  sum_dy     %.3f ms = %3.0f GB/s (reads 3: x, dy, the ReLU's output)\n", t,
               3 * mb / t);
        BEST(t, for (int64_t i = 0; i < N; i += chunk)
                    ops->sum_dy(x + i * per, dy + i * per, ry + i * per, NULL, dsk + i * per,
                                chunk * rows, C, mean, inv, s1, s2));
        printf("  sum_dy     %.3f ms = %3.0f GB/s (reads 3, writes g)\n", t, 4 * mb / t);
        const fv__bn_relu rx = {inv, gamma, beta};
        BEST(t, for (int64_t i = 0; i < N; i += chunk)
                    ops->sum_dy(x + i * per, dy + i * per, NULL, &rx, NULL, chunk * rows, C, mean,
                                inv, s1, s2));
        printf("  sum_dy     %.3f ms = %3.0f GB/s (reads 2: x, dy; the ReLU's mask from x)\n", t,
               2 * mb / t);
        BEST(t, for (int64_t i = 0; i < N; i++) ops->bn_norm(x + i * per, y + i * per, rows, C,
                                                             mean, inv, gamma, beta, NULL, true));
        printf("  bn_norm    %.3f ms = %3.0f GB/s (reads 1, writes 1; ReLU)\n", t, 2 * mb / t);
        BEST(t,
             for (int64_t i = 0; i < N; i++) ops->bn_norm(x + i * per, y + i * per, rows, C, mean,
                                                          inv, gamma, beta, add + i * per, true));
        printf("  bn_norm    %.3f ms = %3.0f GB/s (reads 2, writes 1; Add, ReLU)\n", t, 3 * mb / t);
        BEST(t, for (int64_t i = 0; i < N; i++) ops->bn_dx(x + i * per, dy + i * per, ry + i * per,
                                                           NULL, dx + i * per, rows, C, mean, k));
        printf("  bn_dx      %.3f ms = %3.0f GB/s (reads 3, writes 1; ReLU)\n", t, 4 * mb / t);
        BEST(t, for (int64_t i = 0; i < N; i++) ops->bn_dx(x + i * per, dy + i * per, NULL, &rx,
                                                           dx + i * per, rows, C, mean, k));
        printf("  bn_dx      %.3f ms = %3.0f GB/s (reads 2, writes 1; the ReLU's mask from x)\n", t,
               3 * mb / t);
        BEST(t, for (int64_t i = 0; i < N; i++) ops->bn_dx(x + i * per, dsk + i * per, NULL, NULL,
                                                           dx + i * per, rows, C, mean, k));
        printf("  bn_dx      %.3f ms = %3.0f GB/s (reads 2, writes 1; g written by sum_dy)\n", t,
               3 * mb / t);
        free(x), free(dy), free(ry), free(add), free(y), free(dx), free(dsk), free(mean);
        free(inv), free(gamma), free(beta), free(s1), free(s2), free(dm), free(k);
    }
    return 0;
}
