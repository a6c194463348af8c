/* bench_bf16.c — GFLOP/s of the bf16 GEMM (fv_gemm_bf16, every path this CPU runs at speed)
 * against the fp32 GEMM (fv_gemm on its AVX-512 / AVX2 path) on the seed CNN's shapes, conv2's
 * forward and backward and the dense layer's weight gradient per step, with each
 * instruction's peak on one core measured in the same run, so that the ratios hold on a shared
 * machine. One thread; each figure is the best of many short runs of this thread's CPU time.
 * Build from the repository root:
 *   cc -O2 -std=gnu11 -Iinclude -Isrc src/core/core.c src/kernels/[a-z]*.c bench/bench_bf16.c -lm \
 *      -o bench_bf16
 * usage: bench_bf16 [--quick]      (--quick: fewer trials, for a smoke test)
 */
#include "bench_clock.h"
#include "core/core.h"
#include "kernels/bf16.h"
#include "kernels/gemm_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct shape {
    const char *what;
    bool ta, tb;
    int64_t M, N, K;
} shape;

/* The seed CNN at batch 16 (conv2 as a GEMM over the batch's 24·24 positions) and batch 128
 * (the dense layer), forward and the weight-gradient product (Aᵀ as the transposed operand). */
static const shape shapes[] = {
    {"conv2 forward  col·W  ", false, false, 16 * 576, 64, 288},
    {"dense forward  X·W    ", false, false, 128, 128, 9216},
    {"dense dW       Xᵀ·dY  ", true, false, 9216, 128, 128},
    {"dense dX       dY·Wᵀ  ", false, true, 128, 9216, 128},
    {"conv2 dW       colᵀ·dY", true, false, 288, 64, 16 * 576},
};

static int trials = 40;

#if defined(__x86_64__)
/* One core's peak of each instruction: 12 independent accumulator chains. */
__attribute__((target("avx512f"))) static double peak_fma512(void)
{
    __m512 acc[12], m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm512_set1_ps((float)i);
    const long n = 1000000;
    double t = bench_cpu_seconds();
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    }
    t = bench_cpu_seconds() - t;
    __m512 s = acc[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s) == 12345.0f ? 0 : (double)n * 12 * 32 / t * 1e-9;
}

__attribute__((target("avx512f,avx512bf16"))) static double peak_dpbf16(void)
{
    __m512 acc[12];
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3F803F80), b = a;
    for (int i = 0; i < 12; i++)
        acc[i] = _mm512_set1_ps((float)i);
    const long n = 1000000;
    double t = bench_cpu_seconds();
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    t = bench_cpu_seconds() - t;
    __m512 s = acc[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, acc[i]);
    /* 16 lanes × 2 products × 2 FLOPs each */
    return _mm512_reduce_add_ps(s) == 12345.0f ? 0 : (double)n * 12 * 64 / t * 1e-9;
}
#endif

static double best_of(double (*f)(void))
{
    double best = 0;
    for (int i = 0; i < 20; i++) {
        const double g = f();
        best = g > best ? g : best;
    }
    return best;
}

static float *rand_buf(fv_rng *r, int64_t n)
{
    float *p = fv__alloc((size_t)n * sizeof(float), "bench buffer");
    if (!p) exit(1);
    for (int64_t i = 0; i < n; i++)
        p[i] = fv__rng_uniform(r) - 0.5f;
    return p;
}

/* conv2's backward per image (fv_conv2d_backward_fast against fv_conv2d_backward_bf16), the
 * output gradient shaped as behind ReLU + 2×2 max-pool + dropout 0.25 (one position per window
 * and channel, 3/4 of those kept: about 19% nonzero; the sparse weight gradient and the input
 * gradient's gathers, what the seed CNN runs) and dense (the dense weight-gradient tiles and the
 * input gradient's gathers). The weight packing (once per batch) is left out. */
static void bench_conv2_backward(fv_rng *r)
{
    const fv_conv_geom cg = {26, 26, 32, 3, 3, 24, 24, 64, 1, 1, 1, 1, 0, 0};
    const int64_t nx = 26 * 26 * 32, nw = 3 * 3 * 32 * 64, ny = 24 * 24 * 64;
    float *x = rand_buf(r, nx), *w = rand_buf(r, nw), *dy = rand_buf(r, ny);
    float *dys = rand_buf(r, ny), *dw = rand_buf(r, nw), *dws = rand_buf(r, nw);
    float *db = rand_buf(r, 64), *dx = rand_buf(r, nx), *wt = rand_buf(r, nw);
    float *bs = rand_buf(r, fv_conv_bwd_scratch_floats(&cg));
    float *bs16 = rand_buf(r, fv_conv_bwd_bf16_scratch_floats(&cg));
    uint16_t *wt16 = fv__alloc((size_t)fv_conv_bwd_pack_bf16_size(&cg) * 2, "bench");
    if (!wt16) exit(1);
    memset(dys, 0, (size_t)ny * sizeof(float));
    for (int64_t oh = 0; oh < 24; oh += 2)
        for (int64_t ow = 0; ow < 24; ow += 2)
            for (int64_t f = 0; f < 64; f++) {
                if (fv__rng_uniform(r) < 0.25f) continue;
                const int64_t q = (int64_t)fv__rng_below(r, 4);
                dys[((oh + q / 2) * 24 + ow + q % 2) * 64 + f] = fv__rng_uniform(r) - 0.5f;
            }
    fv_conv_bwd_pack(&cg, w, wt);
    fv_conv_bwd_pack_bf16(&cg, w, wt16);
    const double flop = 2.0 * 2.0 * 576 * 288 * 64;
    double t32s = 1e30, t16s = 1e30, t32d = 1e30, t16d = 1e30;
    for (int trial = 0; trial < 5 * trials; trial++) {
        double t = bench_cpu_seconds();
        fv_conv2d_backward_fast(&cg, x, NULL, dys, w, wt, dw, dws, db, dx, bs);
        t32s = fmin(t32s, bench_cpu_seconds() - t);
        t = bench_cpu_seconds();
        fv_conv2d_backward_bf16(&cg, x, NULL, dys, w, wt16, dw, dws, db, dx, bs16);
        t16s = fmin(t16s, bench_cpu_seconds() - t);
        t = bench_cpu_seconds();
        fv_conv2d_backward_fast(&cg, x, NULL, dy, w, wt, dw, dws, db, dx, bs);
        t32d = fmin(t32d, bench_cpu_seconds() - t);
        t = bench_cpu_seconds();
        fv_conv2d_backward_bf16(&cg, x, NULL, dy, w, wt16, dw, dws, db, dx, bs16);
        t16d = fmin(t16d, bench_cpu_seconds() - t);
    }
    /* Each gradient alone: [sparse dW, sparse dx, dense dW, dense dx]. */
    double p32[4] = {1e30, 1e30, 1e30, 1e30}, p16[4] = {1e30, 1e30, 1e30, 1e30};
    for (int trial = 0; trial < 5 * trials; trial++)
        for (int part = 0; part < 4; part++) {
            const float *d = part < 2 ? dys : dy;
            const bool wx = part % 2;
            double t = bench_cpu_seconds();
            fv_conv2d_backward_fast(&cg, x, NULL, d, w, wt, wx ? NULL : dw, dws, db, wx ? dx : NULL,
                                    bs);
            p32[part] = fmin(p32[part], bench_cpu_seconds() - t);
            t = bench_cpu_seconds();
            fv_conv2d_backward_bf16(&cg, x, NULL, d, w, wt16, wx ? NULL : dw, dws, db,
                                    wx ? dx : NULL, bs16);
            p16[part] = fmin(p16[part], bench_cpu_seconds() - t);
        }
    for (int part = 0; part < 4; part++)
        printf("  %s dy, the %s gradient alone: fp32 %.1f us, bf16 %.1f us (%.2fx)\n",
               part < 2 ? "sparse" : "dense", part % 2 ? "input" : "weight", p32[part] * 1e6,
               p16[part] * 1e6, p32[part] / p16[part]);
    printf("conv2 backward, one image, dy as behind max-pool (sparse): fp32 (%s) %.1f us = %.1f "
           "dense-equivalent GFLOP/s, bf16 %.1f us = %.1f (%.2fx fp32)\n",
           fv_conv_path(), t32s * 1e6, flop / t32s * 1e-9, t16s * 1e6, flop / t16s * 1e-9,
           t32s / t16s);
    printf("conv2 backward, one image, dense dy (the dense weight-gradient tiles): fp32 %.1f us = "
           "%.1f "
           "GFLOP/s, bf16 %.1f us = %.1f (%.2fx fp32)\n",
           t32d * 1e6, flop / t32d * 1e-9, t16d * 1e6, flop / t16d * 1e-9, t32d / t16d);
    fv__free(x), fv__free(w), fv__free(dy), fv__free(dys), fv__free(dw), fv__free(dws);
    fv__free(db), fv__free(dx), fv__free(wt), fv__free(bs), fv__free(bs16), fv__free(wt16);
}

/* The seed's dense weight gradient for one step (dW [9216 × 128] += Xᵀ·dY summed over the 16
 * chunks of a batch of 128, as the layer runs it, by blocks of 256 rows), four ways, interleaved:
 * fp32 and bf16 as the chunked GEMMs (one GEMM of depth 8 per chunk, a 256 × 128 leaf each, the
 * leaves added as the chunk tree: what the layer ran before the one-pass kernels) and the
 * one-pass kernels (fv_dense_dw_f32, and fv_dense_dw_bf16 with its pair rows of X made per block
 * and of dY once). */
static void bench_dense_dw(fv_rng *r)
{
    enum { N = 128, IN = 9216, UNITS = 128, IB = 256, CH = 16 };
    float *x = rand_buf(r, (int64_t)N * IN), *dy = rand_buf(r, (int64_t)N * UNITS);
    float *kg = rand_buf(r, (int64_t)IN * UNITS), *leaf = rand_buf(r, (int64_t)CH * IB * UNITS);
    uint16_t *dyp = fv__alloc((size_t)(N + 32) * UNITS * 2, "dyp");
    uint16_t *xp = fv__alloc((size_t)(N / 2 + CH) * IB * 4, "xp");
    uint16_t *dyc = fv__alloc((size_t)CH * fv_gemm_bf16_packed_size(N / CH, UNITS) * 2, "dyc");
    if (!dyp || !xp || !dyc) exit(1);
    int64_t bd[CH + 1];
    for (int c = 0; c <= CH; c++)
        bd[c] = (int64_t)c * N / CH;
    const int64_t csz = fv_gemm_bf16_packed_size(N / CH, UNITS);
    double t[4] = {1e30, 1e30, 1e30, 1e30};
    for (int trial = 0; trial < trials; trial++) {
        for (int v = 0; v < 4; v++) {
            const bool bf16 = v >= 2, chunked = v % 2 == 0;
            if (bf16 && !fv__cpu_has_avx512_bf16()) continue;
            const double t0 = bench_cpu_seconds();
            if (bf16 && chunked)
                for (int c = 0; c < CH; c++)
                    fv_gemm_bf16_pack_b(false, N / CH, UNITS, dy + bd[c] * UNITS, UNITS,
                                        dyc + c * csz);
            if (bf16 && !chunked) fv_dense_bf16_pack_pairs(dy, UNITS, UNITS, CH, bd, dyp, UNITS);
            for (int64_t r0 = 0; r0 < IN; r0 += IB) {
                if (!chunked && !bf16) {
                    if (!fv_dense_dw_f32(IB, UNITS, CH, bd, x + r0, IN, dy, UNITS, kg + r0 * UNITS,
                                         UNITS))
                        t[v] = -1;
                    continue;
                }
                if (!chunked) {
                    fv_dense_bf16_pack_pairs(x + r0, IN, IB, CH, bd, xp, IB);
                    fv_dense_dw_bf16(IB, UNITS, CH, bd, xp, IB, dyp, UNITS, kg + r0 * UNITS, UNITS);
                    continue;
                }
                /* The layer's stack of partial sums (dense.c's dense_weight_grad; its additions
                 * in 4-float vectors, here as the compiler vectorises them). */
                int level[8], depth = 0;
                for (int c = 0; c < CH; c++) {
                    float *l = leaf + (int64_t)depth * IB * UNITS;
                    if (bf16)
                        fv_gemm_bf16(true, IB, UNITS, N / CH, 1.0f, x + bd[c] * IN + r0, IN,
                                     dyc + c * csz, 0.0f, l, UNITS);
                    else
                        fv_gemm(true, false, IB, UNITS, N / CH, 1.0f, x + bd[c] * IN + r0, IN,
                                dy + bd[c] * UNITS, UNITS, 0.0f, l, UNITS);
                    level[depth++] = 0;
                    while (depth >= 2 && level[depth - 1] == level[depth - 2]) {
                        float *left = leaf + (int64_t)(depth - 2) * IB * UNITS;
                        for (int64_t e = 0; e < IB * UNITS; e++)
                            left[e] += left[IB * UNITS + e];
                        level[depth - 2]++;
                        depth--;
                    }
                }
                for (int64_t e = 0; e < IB * UNITS; e++)
                    kg[r0 * UNITS + e] += leaf[e];
            }
            if (t[v] >= 0) t[v] = fmin(t[v], bench_cpu_seconds() - t0);
        }
    }
    const double flop = 2.0 * N * IN * UNITS;
    printf("dense dW, one step (9216x128, batch 128 in 16 chunks): fp32 chunked GEMMs %.2f ms, ",
           t[0] * 1e3);
    if (t[1] > 0)
        printf("one-pass %.2f ms = %.1f GFLOP/s (%.2fx)", t[1] * 1e3, flop / t[1] * 1e-9,
               t[0] / t[1]);
    else
        printf("one-pass kernel not on this CPU");
    if (t[2] < 1e30)
        printf("; bf16 chunked GEMMs %.2f ms, one-pass %.2f ms = %.1f GFLOP/s (%.2fx; %.2fx "
               "the fp32 chunked GEMMs)",
               t[2] * 1e3, t[3] * 1e3, flop / t[3] * 1e-9, t[2] / t[3], t[0] / t[3]);
    printf("\n");
    fv__free(x), fv__free(dy), fv__free(kg), fv__free(leaf), fv__free(dyp), fv__free(xp);
    fv__free(dyc);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) trials = 3;
    fv_rng r;
    fv__rng_seed(&r, 1);
    const fv__gemm_path fp = fv__gemm_path_supported(FV__GEMM_AVX512) ? FV__GEMM_AVX512
                             : fv__gemm_path_supported(FV__GEMM_AVX2) ? FV__GEMM_AVX2
                                                                      : FV__GEMM_GENERIC;
    double pk32 = 0, pk16 = 0;
#if defined(__x86_64__)
    if (fp == FV__GEMM_AVX512) pk32 = best_of(peak_fma512);
    if (fv__cpu_has_avx512_bf16()) pk16 = best_of(peak_dpbf16);
#endif
    printf("fp32 GEMM path %s; bf16 GEMM path %s\n", fv__gemm_path_name(fp), fv_gemm_bf16_path());
    if (pk32 > 0) printf("one-core peak: vfmadd231ps zmm %.1f GFLOP/s", pk32);
    if (pk16 > 0) printf(", vdpbf16ps zmm %.1f GFLOP/s (%.2fx)", pk16, pk16 / pk32);
    printf("\n");

    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        const int64_t lda = sh->ta ? sh->M : sh->K, ldb = sh->tb ? sh->K : sh->N;
        float *A = rand_buf(&r, sh->M * sh->K), *B = rand_buf(&r, sh->K * sh->N);
        float *C = rand_buf(&r, sh->M * sh->N);
        uint16_t *bp = fv__alloc((size_t)fv_gemm_bf16_packed_size(sh->K, sh->N) * 2, "bp");
        if (!bp) return 1;
        const double flop = 2.0 * (double)sh->M * (double)sh->N * (double)sh->K;
        const int reps = (int)(2e8 / flop) + 1;
        uint16_t *A16 = fv__alloc((size_t)(sh->M * sh->K) * 2, "A16");
        if (!A16) return 1;
        fv_bf16_from_f32_n(A, A16, sh->M * sh->K);
        double t32 = 1e30, tpack = 1e30, ta16 = 1e30, t16[FV__BF16_NPATHS];
        for (int p = 0; p < FV__BF16_NPATHS; p++)
            t16[p] = 1e30;
        /* Interleaved, so that every variant sees the same machine. */
        for (int trial = 0; trial < trials; trial++) {
            double t = bench_cpu_seconds();
            for (int k = 0; k < reps; k++)
                fv__gemm_on_path(fp, sh->ta, sh->tb, sh->M, sh->N, sh->K, 1.0f, A, lda, B, ldb,
                                 0.0f, C, sh->N);
            t32 = fmin(t32, (bench_cpu_seconds() - t) / reps);
            t = bench_cpu_seconds();
            fv_gemm_bf16_pack_b(sh->tb, sh->K, sh->N, B, ldb, bp);
            tpack = fmin(tpack, bench_cpu_seconds() - t);
            for (int p = 0; p < FV__BF16_NPATHS; p++) {
                /* The emulations are for correctness, not speed. */
                if (p == FV__BF16_EMUL_DOT || p == FV__BF16_EMUL_AMX) continue;
                if (!fv__gemm_bf16_path_supported((fv__gemm_bf16_path)p)) continue;
                t = bench_cpu_seconds();
                for (int k = 0; k < reps; k++)
                    fv__gemm_bf16_on_path((fv__gemm_bf16_path)p, sh->ta, sh->M, sh->N, sh->K, 1.0f,
                                          A, lda, bp, 0.0f, C, sh->N);
                t16[p] = fmin(t16[p], (bench_cpu_seconds() - t) / reps);
            }
            /* A already in bf16 (activations stored as bf16), on the best path. */
            if (!sh->ta) {
                t = bench_cpu_seconds();
                for (int k = 0; k < reps; k++)
                    fv_gemm_bf16_a16(sh->M, sh->N, sh->K, 1.0f, A16, sh->K, bp, 0.0f, C, sh->N);
                ta16 = fmin(ta16, (bench_cpu_seconds() - t) / reps);
            }
        }
        printf("%s M=%5ld N=%4ld K=%5ld%s  fp32 %6.1f GFLOP/s", sh->what, (long)sh->M, (long)sh->N,
               (long)sh->K,
               sh->ta   ? " ta"
               : sh->tb ? " tb"
                        : "   ",
               flop / t32 * 1e-9);
        if (pk32 > 0) printf(" (%2.0f%% of peak)", 100 * flop / t32 * 1e-9 / pk32);
        for (int p = 0; p < FV__BF16_NPATHS; p++) {
            if (t16[p] >= 1e30) continue;
            const double g = flop / t16[p] * 1e-9;
            printf("  %s %6.1f GFLOP/s = %.2fx fp32",
                   fv__gemm_bf16_path_name((fv__gemm_bf16_path)p), g, t32 / t16[p]);
            if (p == FV__BF16_AVX512 && pk16 > 0) printf(" (%2.0f%% of peak)", 100 * g / pk16);
        }
        if (ta16 < 1e30)
            printf("  A in bf16: %6.1f GFLOP/s = %.2fx fp32", flop / ta16 * 1e-9, t32 / ta16);
        printf("  [pack B once: %.0f us]\n", tpack * 1e6);
        fv__free(A), fv__free(B), fv__free(C), fv__free(bp), fv__free(A16);
    }

    /* The convolution forward per image: fp32, the implicit-GEMM tiles of this CPU's path (what
     * conv2d runs); two ways to run it on the bf16 GEMM: im2col then one GEMM, or each kernel row
     * as a GEMM reading the bf16 image in place (rows of A overlapping, lda = C; garbage columns
     * past out_w dropped); bias + ReLU in all three. The seed's conv1 (K = 9) and conv2
     * (K = 288). */
    static const fv_conv_geom convs[] = {{28, 28, 1, 3, 3, 26, 26, 32, 1, 1, 1, 1, 0, 0},
                                         {26, 26, 32, 3, 3, 24, 24, 64, 1, 1, 1, 1, 0, 0}};
    for (int c = 0; c < 2; c++) {
        const fv_conv_geom *g = &convs[c];
        const int64_t K = g->k_h * g->k_w * g->in_c, F = g->out_c, P = g->out_h * g->out_w;
        float *x = rand_buf(&r, g->in_h * g->in_w * g->in_c), *w = rand_buf(&r, K * F);
        float *b = rand_buf(&r, F), *y = rand_buf(&r, P * F);
        float *wp = rand_buf(&r, fv_conv_fwd_pack_floats(g)), *col = rand_buf(&r, P * K);
        float *fs = rand_buf(&r, fv_conv_fwd_scratch_floats(g) + 16);
        uint16_t *bp = fv__alloc((size_t)fv_gemm_bf16_packed_size(K, F) * 2, "bench");
        fv_conv_fwd_pack(g, w, wp);
        fv_gemm_bf16_pack_b(false, K, F, w, F, bp);
        double t32 = 1e30, t16 = 1e30;
        for (int trial = 0; trial < 5 * trials; trial++) {
            double t = bench_cpu_seconds();
            fv_conv2d_forward_fast(g, x, wp, b, true, y, fs);
            t32 = fmin(t32, bench_cpu_seconds() - t);
            t = bench_cpu_seconds();
            fv_im2col(g, x, col);
            fv_gemm_bf16(false, P, F, K, 1.0f, col, K, bp, 0.0f, y, F);
            for (int64_t p = 0; p < P; p++)
                for (int64_t j = 0; j < F; j++)
                    y[p * F + j] = fmaxf(y[p * F + j] + b[j], 0.0f);
            t16 = fmin(t16, bench_cpu_seconds() - t);
        }
        /* Kernel rows as GEMMs on the bf16 image read in place (rows of A overlap: lda = C). */
        double tr = 1e30;
        const int64_t W = g->in_w, C = g->in_c, M = (g->out_h - 1) * W + g->out_w;
        const int64_t Kr = g->k_w * C;
        uint16_t *x16 = fv__alloc((size_t)(g->in_h * W * C + 64) * 2, "bench");
        float *yw = rand_buf(&r, g->out_h * W * F);
        uint16_t *bpr[3];
        for (int kh = 0; kh < 3; kh++) {
            bpr[kh] = fv__alloc((size_t)fv_gemm_bf16_packed_size(Kr, F) * 2, "bench");
            fv_gemm_bf16_pack_b(false, Kr, F, w + kh * Kr * F, F, bpr[kh]);
        }
        for (int trial = 0; trial < 5 * trials; trial++) {
            double t = bench_cpu_seconds();
            fv_bf16_from_f32_n(x, x16, g->in_h * W * C);
            for (int kh = 0; kh < 3; kh++)
                fv_gemm_bf16_a16(M, F, Kr, 1.0f, x16 + kh * W * C, C, bpr[kh], kh ? 1.0f : 0.0f, yw,
                                 F);
            for (int64_t oh = 0; oh < g->out_h; oh++)
                for (int64_t ow = 0; ow < g->out_w; ow++)
                    for (int64_t j = 0; j < F; j++)
                        y[(oh * g->out_w + ow) * F + j] =
                            fmaxf(yw[(oh * W + ow) * F + j] + b[j], 0.0f);
            tr = fmin(tr, bench_cpu_seconds() - t);
        }
        /* The bf16 tiles (fv_conv2d_forward_bf16: vdpbf16ps, what conv2d runs at bf16). */
        double tt = 1e30;
        if (fv_conv_bf16_applies(g)) {
            uint16_t *wq = fv__alloc((size_t)fv_conv_fwd_pack_bf16_size(g) * 2, "bench");
            float *sq = rand_buf(&r, fv_conv_fwd_bf16_scratch_floats(g));
            fv_conv_fwd_pack_bf16(g, w, wq);
            for (int trial = 0; trial < 5 * trials; trial++) {
                double t = bench_cpu_seconds();
                fv_conv2d_forward_bf16(g, x, wq, b, true, y, sq);
                tt = fmin(tt, bench_cpu_seconds() - t);
            }
            fv__free(wq), fv__free(sq);
        }
        const double flop = 2.0 * (double)(P * K * F);
        if (tt < 1e30)
            printf("conv%d forward, one image: bf16 tiles (vdpbf16ps) %.1f us = %.1f GFLOP/s = "
                   "%.2fx the fp32 tiles\n",
                   c + 1, tt * 1e6, flop / tt * 1e-9, t32 / tt);
        printf("conv%d forward, one image (K=%ld): fp32 %s tiles %.1f us = %.1f GFLOP/s; bf16 "
               "(%s) im2col + GEMM %.1f us = %.1f GFLOP/s (%.2fx fp32), kernel rows as GEMMs on "
               "the bf16 image %.1f us = %.1f GFLOP/s (%.2fx)\n",
               c + 1, (long)K, fv_conv_path(), t32 * 1e6, flop / t32 * 1e-9, fv_gemm_bf16_path(),
               t16 * 1e6, flop / t16 * 1e-9, t32 / t16, tr * 1e6, flop / tr * 1e-9, t32 / tr);
        fv__free(x), fv__free(w), fv__free(b), fv__free(y), fv__free(wp), fv__free(col);
        fv__free(fs), fv__free(bp), fv__free(x16), fv__free(yw);
        for (int kh = 0; kh < 3; kh++)
            fv__free(bpr[kh]);
    }
    bench_conv2_backward(&r);
    bench_dense_dw(&r);
    return 0;
}
