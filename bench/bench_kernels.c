/* bench_kernels.c — GFLOP/s of fv_gemm on the seed CNN's shapes for every GEMM path this CPU
 * supports, the convolution's per-image kernels on the seed CNN's and the ResNet example's shapes,
 * and the time of im2col/col2im, so that the figures in the docs can be reproduced.
 * Build from the repository root: cc -O2 -std=gnu11 -Iinclude -Isrc src/core/core.c
 * src/kernels/*.c bench/bench_kernels.c -lm -o bench_kernels
 * Add -DFV_BENCH_OPENBLAS -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas to time
 * OpenBLAS's cblas_sgemm (one thread) on the same shapes beside fovea's GEMM.
 */
#include "bench_clock.h"
#include "core/core.h"
#include "kernels/conv_internal.h"
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
#if defined(FV_BENCH_OPENBLAS)
#include <cblas.h>
#endif

typedef struct shape {
    const char *what;
    bool ta, tb;
    int64_t M, N, K;
} shape;

static const shape shapes[] = {
    {"conv2 forward   col·W", false, false, 576, 64, 288},
    {"conv2 dW        colᵀ·dY", true, false, 288, 64, 576},
    {"conv2 dcol      dY·Wᵀ", false, true, 576, 288, 64},
    {"dense forward   X·W", false, false, 128, 128, 9216},
    {"dense dW        Xᵀ·dY", true, false, 9216, 128, 128},
    {"dense dX        dY·Wᵀ", false, true, 128, 9216, 128},
};

/* The FMA peak of one core: independent FMA chains, enough of them to cover the latency.
 * Returns GFLOP/s; run beside the GEMMs so that both see the same machine load. */
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static double peak_avx2(void)
{
    __m256 acc[12], m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm256_set1_ps((float)i);
    const long n = 2000000;
    double t = bench_cpu_seconds();
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    }
    t = bench_cpu_seconds() - t;
    float out[8];
    __m256 s = acc[0];
    for (int i = 1; i < 12; i++)
        s = _mm256_add_ps(s, acc[i]);
    _mm256_storeu_ps(out, s);
    return out[0] == 12345.0f ? 0 : (double)n * 12 * 16 / t * 1e-9;
}

__attribute__((target("avx512f"))) static double peak_avx512(void)
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
#endif

/* Best of many runs. */
static double peak(fv__gemm_path p)
{
    double best = 0;
    for (int i = 0; i < 30; i++) {
        double g = 0;
#if defined(__x86_64__)
        if (p == FV__GEMM_AVX512)
            g = peak_avx512();
        else if (p != FV__GEMM_GENERIC)
            g = peak_avx2();
#endif
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

/* Best of many short runs (about 1 ms each): the machine is shared and noisy, and the fastest
 * run is the one least disturbed. */
static double gflops(fv__gemm_path p, const shape *s, const float *A, const float *B, float *C)
{
    const int64_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    const double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    double best = 1e30;
    int reps = (int)(1e8 / flop) + 1;
    for (int trial = 0; trial < 100; trial++) {
        double t = bench_cpu_seconds();
        for (int r = 0; r < reps; r++)
            fv__gemm_on_path(p, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb,
                             r ? 1.0f : 0.0f, C, s->N);
        t = (bench_cpu_seconds() - t) / reps;
        if (t < best) best = t;
    }
    return flop / best * 1e-9;
}

/* "bench_kernels resnet" times the ResNet example's kernels only. */
int main(int argc, char **argv)
{
    fv_rng r;
    fv__rng_seed(&r, 1);
    if (argc > 1 && strcmp(argv[1], "resnet") == 0) goto resnet;
    printf("fv_gemm path: %s\n", fv_gemm_path());
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        /* The AVX-512 tile compiled for AVX2 exists for tests; its speed means nothing. */
        if (!fv__gemm_path_supported((fv__gemm_path)p) || p == FV__GEMM_WIDE_ON_AVX2) continue;
        const double pk = peak((fv__gemm_path)p);
        printf("path %s", fv__gemm_path_name((fv__gemm_path)p));
        if (pk > 0) printf(" (FMA peak of one core with its vectors: %.1f GFLOP/s)", pk);
        printf("\n");
        for (int i = 0; i < nshapes; i++) {
            const shape *s = &shapes[i];
            float *A = rand_buf(&r, s->M * s->K), *B = rand_buf(&r, s->K * s->N);
            float *C = rand_buf(&r, s->M * s->N);
            const double g = gflops((fv__gemm_path)p, s, A, B, C);
            printf("  %-26s M=%5ld N=%5ld K=%5ld%s%s  %6.1f GFLOP/s", s->what, (long)s->M,
                   (long)s->N, (long)s->K, s->ta ? " ta" : "   ", s->tb ? " tb" : "   ", g);
            if (pk > 0) printf("  %3.0f%% of peak", 100 * g / pk);
            printf("\n");
            fv__free(A), fv__free(B), fv__free(C);
        }
    }

#if defined(FV_BENCH_OPENBLAS)
    /* OpenBLAS on one thread, the same shapes, the same best-of-many timing. */
    openblas_set_num_threads(1);
    printf("OpenBLAS cblas_sgemm, 1 thread (%s)\n", openblas_get_config());
    for (int i = 0; i < nshapes; i++) {
        const shape *s = &shapes[i];
        float *A = rand_buf(&r, s->M * s->K), *B = rand_buf(&r, s->K * s->N);
        float *C = rand_buf(&r, s->M * s->N);
        const int64_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
        const double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K;
        double best = 1e30;
        int reps = (int)(1e8 / flop) + 1;
        for (int trial = 0; trial < 100; trial++) {
            double t = bench_cpu_seconds();
            for (int rep = 0; rep < reps; rep++)
                cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                            s->tb ? CblasTrans : CblasNoTrans, (int)s->M, (int)s->N, (int)s->K,
                            1.0f, A, (int)lda, B, (int)ldb, rep ? 1.0f : 0.0f, C, (int)s->N);
            t = (bench_cpu_seconds() - t) / reps;
            if (t < best) best = t;
        }
        printf("  %-26s M=%5ld N=%5ld K=%5ld%s%s  %6.1f GFLOP/s\n", s->what, (long)s->M, (long)s->N,
               (long)s->K, s->ta ? " ta" : "   ", s->tb ? " tb" : "   ", flop / best * 1e-9);
        fv__free(A), fv__free(B), fv__free(C);
    }
#endif

    /* The convolution the layers run (fv_conv2d_*_fast) on the seed's second convolution:
     * forward, and backward with a gradient shaped as behind ReLU + 2×2 max-pool + dropout 0.25
     * (one position per window and channel, 3/4 of those kept: about 19% nonzero) and dense. */
    {
        fv_conv_geom cg = {26, 26, 32, 3, 3, 24, 24, 64, 1, 1, 1, 1, 0, 0};
        const int64_t nx = 26 * 26 * 32, nw = 3 * 3 * 32 * 64, ny = 24 * 24 * 64;
        float *x = rand_buf(&r, nx), *w = rand_buf(&r, nw), *b = rand_buf(&r, 64);
        float *y = rand_buf(&r, ny), *dy = rand_buf(&r, ny), *dys = rand_buf(&r, ny);
        float *dw = rand_buf(&r, nw), *dws = rand_buf(&r, nw), *db = rand_buf(&r, 64);
        float *dx = rand_buf(&r, nx), *wp = rand_buf(&r, fv_conv_fwd_pack_floats(&cg));
        float *wt = rand_buf(&r, fv_conv_bwd_pack_floats(&cg));
        float *fs = rand_buf(&r, fv_conv_fwd_scratch_floats(&cg) + 16);
        float *bs = rand_buf(&r, fv_conv_bwd_scratch_floats(&cg));
        memset(dys, 0, (size_t)ny * sizeof(float));
        for (int64_t oh = 0; oh < 24; oh += 2)
            for (int64_t ow = 0; ow < 24; ow += 2)
                for (int64_t f = 0; f < 64; f++) {
                    if (fv__rng_uniform(&r) < 0.25f) continue;
                    const int64_t q = (int64_t)fv__rng_below(&r, 4);
                    dys[((oh + q / 2) * 24 + ow + q % 2) * 64 + f] = fv__rng_uniform(&r) - 0.5f;
                }
        const double flop = 2.0 * 576 * 288 * 64;
        for (int cp = FV__GEMM_AVX2; cp <= FV__GEMM_AVX512; cp++) {
            if (!fv__conv_path_supported((fv__gemm_path)cp)) continue;
            fv__conv_force_path(cp);
            fv_conv_fwd_pack(&cg, w, wp);
            fv_conv_bwd_pack(&cg, w, wt);
            double bf = 1e30, bd = 1e30, bsp = 1e30;
            for (int trial = 0; trial < 200; trial++) {
                double t = bench_cpu_seconds();
                fv_conv2d_forward_fast(&cg, x, wp, b, true, y, fs);
                bf = fmin(bf, bench_cpu_seconds() - t);
                t = bench_cpu_seconds();
                fv_conv2d_backward_fast(&cg, x, NULL, dy, w, wt, dw, dws, db, dx, bs);
                bd = fmin(bd, bench_cpu_seconds() - t);
                t = bench_cpu_seconds();
                fv_conv2d_backward_fast(&cg, x, NULL, dys, w, wt, dw, dws, db, dx, bs);
                bsp = fmin(bsp, bench_cpu_seconds() - t);
            }
            printf("conv2 fast (%s): forward %.1f us = %.1f GFLOP/s; backward dense dy %.1f us = "
                   "%.1f GFLOP/s; backward pooled dy %.1f us = %.1f dense-equivalent GFLOP/s\n",
                   fv_conv_path(), bf * 1e6, flop / bf * 1e-9, bd * 1e6, 2 * flop / bd * 1e-9,
                   bsp * 1e6, 2 * flop / bsp * 1e-9);
        }
        fv__conv_force_path(-1);
        fv__free(x), fv__free(w), fv__free(b), fv__free(y), fv__free(dy), fv__free(dys);
        fv__free(dw), fv__free(dws), fv__free(db), fv__free(dx), fv__free(wp), fv__free(wt);
        fv__free(fs), fv__free(bs);
    }

resnet:
    /* The ResNet example's (examples/resnet_fashion.fv) per-image kernels on this CPU's best
     * path: stage 1's dense weight gradient (28×28×16 -> 16, the 24-tap tiles), and the strided
     * layers' input gradient by the backward's gathers and by phases (fv_conv_dx_phases). */
    {
        static const int64_t rs[][5] = {/* in, C, F, k, stride */ {28, 16, 16, 3, 1},
                                        {28, 16, 32, 3, 2},
                                        {14, 32, 64, 3, 2},
                                        {28, 16, 32, 1, 2},
                                        {14, 32, 64, 1, 2}};
        for (int i = 0; i < 5; i++) {
            const int64_t H = rs[i][0], C = rs[i][1], F = rs[i][2], k = rs[i][3], s = rs[i][4];
            const int64_t O = s == 1 ? H : H / 2, pad = s == 1 ? k / 2 : 0;
            fv_conv_geom cg = {H, H, C, k, k, O, O, F, s, s, 1, 1, pad, pad};
            const int64_t nx = H * H * C, nw = k * k * C * F, ny = O * O * F;
            float *x = rand_buf(&r, nx), *w = rand_buf(&r, nw), *dy = rand_buf(&r, ny);
            float *dw = rand_buf(&r, nw), *dws = rand_buf(&r, nw), *dx = rand_buf(&r, nx);
            float *wt = rand_buf(&r, fv_conv_bwd_pack_floats(&cg));
            float *bs = rand_buf(&r, fv_conv_bwd_scratch_floats(&cg));
            const bool ph = fv_conv_dx_phases_apply(&cg);
            float *wp = ph ? rand_buf(&r, fv_conv_dx_phases_pack_floats(&cg)) : NULL;
            float *ps = ph ? rand_buf(&r, fv_conv_dx_phases_scratch_floats(&cg)) : NULL;
            fv_conv_bwd_pack(&cg, w, wt);
            if (ph) fv_conv_dx_phases_pack(&cg, w, wp);
            /* stride 1: the forward too (stage 1's, and the same kernel on ∂L/∂y for its input
             * gradient: 16 channels each way), x in dx's buffer as the output's */
            float *fp = ph ? NULL : rand_buf(&r, fv_conv_fwd_pack_floats(&cg));
            float *fs = ph ? NULL : rand_buf(&r, fv_conv_fwd_scratch_floats(&cg));
            if (!ph) fv_conv_fwd_pack(&cg, w, fp);
            double bw = 1e30, bg = 1e30, bp = 1e30, bf = 1e30;
            for (int trial = 0; trial < 200; trial++) {
                double t = bench_cpu_seconds();
                if (!ph) {
                    fv_conv2d_backward_fast(&cg, x, NULL, dy, w, wt, dw, dws, NULL, NULL, bs);
                    bw = fmin(bw, bench_cpu_seconds() - t);
                    t = bench_cpu_seconds();
                    fv_conv2d_forward_fast(&cg, x, fp, NULL, false, dx, fs);
                    bf = fmin(bf, bench_cpu_seconds() - t);
                    continue;
                }
                memset(dx, 0, (size_t)nx * sizeof(float));
                fv_conv2d_backward_fast(&cg, x, NULL, dy, w, wt, NULL, NULL, NULL, dx, bs);
                bg = fmin(bg, bench_cpu_seconds() - t);
                t = bench_cpu_seconds();
                fv_conv_dx_phases(&cg, dy, wp, dx, ps, false);
                bp = fmin(bp, bench_cpu_seconds() - t);
            }
            const double flop = 2.0 * (double)(O * O * k * k * C * F);
            if (ph)
                printf(
                    "resnet %ldx%ldx%ld k%ld s%ld -> %ld dx (%s): gathers %.1f us = %.1f GFLOP/s, "
                    "%s %.1f us = %.1f GFLOP/s\n",
                    (long)H, (long)H, (long)C, (long)k, (long)s, (long)F, fv_conv_path(), bg * 1e6,
                    flop / bg * 1e-9,
                    fv_conv_dx_phases_adds_in_place(&cg) ? "phases by blocks" : "phases", bp * 1e6,
                    flop / bp * 1e-9);
            else
                printf("resnet %ldx%ldx%ld k%ld s%ld -> %ld dw (%s): %.1f us = %.1f GFLOP/s; "
                       "forward %.1f us = %.1f GFLOP/s\n",
                       (long)H, (long)H, (long)C, (long)k, (long)s, (long)F, fv_conv_path(),
                       bw * 1e6, flop / bw * 1e-9, bf * 1e6, flop / bf * 1e-9);
            fv__free(x), fv__free(w), fv__free(dy), fv__free(dw), fv__free(dws), fv__free(dx);
            fv__free(wt), fv__free(bs), fv__free(wp), fv__free(ps), fv__free(fp), fv__free(fs);
        }
    }

    /* The weight gradient of every convolution of the ResNet example for 8 images (a batch
     * chunk), three ways: per image (fv_conv2d_backward_fast, weight gradient only), im2col rows
     * of the 8 images and one GEMM (the layer's path for small images before the third round),
     * and fv_conv_dw_images (the 8 images in one pass of the dense tiles). */
    {
        static const int64_t rs[][5] = {/* in, C, F, k, stride */ {28, 1, 16, 3, 1},
                                        {28, 16, 16, 3, 1},
                                        {28, 16, 32, 3, 2},
                                        {28, 16, 32, 1, 2},
                                        {14, 32, 32, 3, 1},
                                        {14, 32, 64, 3, 2},
                                        {14, 32, 64, 1, 2},
                                        {7, 64, 64, 3, 1}};
        const int64_t n = 8;
        for (int i = 0; i < 8; i++) {
            const int64_t H = rs[i][0], C = rs[i][1], F = rs[i][2], k = rs[i][3], s = rs[i][4];
            const int64_t O = s == 1 ? H : H / 2, pad = s == 1 ? k / 2 : 0;
            fv_conv_geom cg = {H, H, C, k, k, O, O, F, s, s, 1, 1, pad, pad};
            const int64_t nx = H * H * C, nw = k * k * C * F, ny = O * O * F, K = k * k * C;
            float *x = rand_buf(&r, n * nx), *dy = rand_buf(&r, n * ny);
            float *dw = rand_buf(&r, nw), *dws = rand_buf(&r, nw);
            float *bs = rand_buf(&r, fv_conv_bwd_scratch_floats(&cg));
            float *col = rand_buf(&r, n * O * O * K);
            float *ds = rand_buf(&r, fv_conv_dw_images_scratch_floats(&cg, n));
            double bi = 1e30, bg = 1e30, bn = 1e30;
            for (int trial = 0; trial < 100; trial++) {
                double t = bench_cpu_seconds();
                for (int64_t j = 0; j < n; j++)
                    fv_conv2d_backward_fast(&cg, x + j * nx, NULL, dy + j * ny, NULL, NULL, dw, dws,
                                            NULL, NULL, bs);
                bi = fmin(bi, bench_cpu_seconds() - t);
                t = bench_cpu_seconds();
                for (int64_t j = 0; j < n; j++)
                    fv_im2col(&cg, x + j * nx, col + j * O * O * K);
                fv_gemm(true, false, K, F, n * O * O, 1.0f, col, K, dy, F, 1.0f, dw, F);
                bg = fmin(bg, bench_cpu_seconds() - t);
                t = bench_cpu_seconds();
                fv_conv_dw_images(&cg, n, x, dy, dw, ds);
                bn = fmin(bn, bench_cpu_seconds() - t);
            }
            const double flop = 2.0 * (double)(n * O * O * K * F);
            printf("resnet %ldx%ldx%ld k%ld s%ld -> %ld dw of 8 images (%s): per image %.1f us = "
                   "%.1f GFLOP/s, im2col+GEMM %.1f us = %.1f, dw_images %.1f us = %.1f\n",
                   (long)H, (long)H, (long)C, (long)k, (long)s, (long)F, fv_conv_path(), bi * 1e6,
                   flop / bi * 1e-9, bg * 1e6, flop / bg * 1e-9, bn * 1e6, flop / bn * 1e-9);
            fv__free(x), fv__free(dy), fv__free(dw), fv__free(dws), fv__free(bs), fv__free(col);
            fv__free(ds);
        }
    }

    /* im2col and col2im of the seed's second convolution (26×26×32 -> 576 × 288). */
    fv_conv_geom g = {26, 26, 32, 3, 3, 24, 24, 64, 1, 1, 1, 1, 0, 0};
    const int64_t nc = fv_conv_col_floats(&g);
    float *x = rand_buf(&r, 26 * 26 * 32), *col = rand_buf(&r, nc);
    double best_i = 1e30, best_c = 1e30;
    for (int trial = 0; trial < 200; trial++) {
        double t = bench_cpu_seconds();
        fv_im2col(&g, x, col);
        t = bench_cpu_seconds() - t;
        best_i = t < best_i ? t : best_i;
        t = bench_cpu_seconds();
        fv_col2im(&g, col, x);
        t = bench_cpu_seconds() - t;
        best_c = t < best_c ? t : best_c;
    }
    printf("im2col 26x26x32 k3: %.1f us (%.1f GB/s written); col2im %.1f us\n", best_i * 1e6,
           (double)nc * 4 / best_i * 1e-9, best_c * 1e6);
    fv__free(x), fv__free(col);
    return 0;
}
