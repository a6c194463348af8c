/* bench_winograd_dw.c — the ResNet example's stride-1 3×3 weight gradients (stem, s1, s2, s3),
 * fv_conv_dw_images (implicit GEMM) against fv_conv_dw_wino_images (Winograd F(2×2, 3×3)), 8 images
 * a call as conv2d.c groups them, hot (the same group repeated, its data in L1/L2), on each FMA
 * path this machine has. Thread CPU time, best of 9 (or argv[1]) runs of 16 calls, the two kernels'
 * runs alternated; one thread; argv[2]: only the layers whose name starts with it, argv[3]: only
 * "igemm" or "wino". Prints ms per call, dense-equivalent GFLOP/s (2·9·in_c·out_c·out_h·out_w per
 * image) and the ratio. BLOCKS=1: Winograd's 16-channel layers in its blocked order
 * (fv__conv_dw_wino_force_blocks) instead of its rows in L1; COLD=1: each call on the next of 16
 * groups of 8 images (a batch of 128: out of L2, as in a training step) instead of the same group.
 *   cc -O2 -std=gnu11 -fopenmp -Iinclude -Isrc bench/bench_winograd_dw.c build/libfovea.a -lm \
 *      -ldl -o bench_winograd_dw && taskset -c 1 ./bench_winograd_dw [repetitions]
 */
#include "kernels/conv_internal.h"
#include "kernels/kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_clock.h"

static float *alloc(int64_t n)
{
    float *p = aligned_alloc(64, (size_t)((n + 15) / 16 * 16) * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_winograd_dw: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    return p;
}

enum { CALLS = 16 };

/* Whether each call takes the next group of images (COLD=1), and their sizes in floats. */
static bool cold;
static int64_t in_sz, out_sz;

/* One run of CALLS calls: seconds per call. */
static double run_once(bool wino, const fv_conv_geom *g, int64_t n, const float *x, const float *dz,
                       float *dw, float *sc)
{
    const double t0 = bench_cpu_seconds();
    for (int c = 0; c < CALLS; c++) {
        const int64_t i = cold ? c * n : 0;
        if (wino)
            fv_conv_dw_wino_images(g, n, x + i * in_sz, dz + i * out_sz, dw, sc);
        else
            fv_conv_dw_images(g, n, x + i * in_sz, dz + i * out_sz, dw, sc);
    }
    return (bench_cpu_seconds() - t0) / CALLS;
}

/* The best seconds per call over reps runs of each (which: 1 implicit GEMM, 2 Winograd, 3 both),
 * the two kernels' runs alternated so that both see the same load. */
static void best_of(int reps, int which, const fv_conv_geom *g, int64_t n, const float *x,
                    const float *dz, float *dw, float *sc, double *ti, double *tw)
{
    *ti = *tw = 1e30;
    for (int r = 0; r < reps; r++) {
        if (which & 1) {
            const double t = run_once(false, g, n, x, dz, dw, sc);
            if (t < *ti) *ti = t;
        }
        if (which & 2) {
            const double t = run_once(true, g, n, x, dz, dw, sc);
            if (t < *tw) *tw = t;
        }
    }
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 9;
    if (reps < 1) {
        fprintf(stderr, "bench_winograd_dw: repetitions must be a positive number\n");
        return 2;
    }
    static const int64_t shapes[][3] = {{28, 1, 16}, {28, 16, 16}, {14, 32, 32}, {7, 64, 64}};
    static const fv__gemm_path paths[] = {FV__GEMM_AVX512, FV__GEMM_AVX2};
    const int64_t n = 8;
    cold = getenv("COLD") && strcmp(getenv("COLD"), "1") == 0;
    if (getenv("BLOCKS") && strcmp(getenv("BLOCKS"), "1") == 0) fv__conv_dw_wino_force_blocks(true);
    printf("%-8s %-16s %10s %10s %9s %9s %6s\n", "path", "layer", "igemm ms", "wino ms", "igemm GF",
           "wino GF", "ratio");
    for (int pi = 0; pi < 2; pi++) {
        if (!fv__conv_path_supported(paths[pi])) continue;
        fv__conv_force_path(paths[pi]);
        for (int s = 0; s < 4; s++) {
            fv_conv_geom g = {0};
            const int64_t hw = shapes[s][0];
            g.in_h = g.in_w = g.out_h = g.out_w = hw;
            g.in_c = shapes[s][1], g.out_c = shapes[s][2];
            g.k_h = g.k_w = 3, g.stride_h = g.stride_w = g.dil_h = g.dil_w = 1;
            g.pad_top = g.pad_left = 1;
            char name[32];
            snprintf(name, sizeof name, "%ldx%ldx%ld->%ld", (long)hw, (long)hw, (long)g.in_c,
                     (long)g.out_c);
            if (argc > 2 && strncmp(name, argv[2], strlen(argv[2])) != 0) continue;
            const bool only_w = argc > 3 && !strcmp(argv[3], "wino");
            const bool only_i = argc > 3 && !strcmp(argv[3], "igemm");
            in_sz = hw * hw * g.in_c, out_sz = hw * hw * g.out_c;
            const int64_t groups = cold ? CALLS : 1;
            const int64_t K = 9 * g.in_c * g.out_c;
            int64_t scf = fv_conv_dw_images_scratch_floats(&g, n);
            if (fv_conv_dw_wino_scratch_floats(&g, n) > scf)
                scf = fv_conv_dw_wino_scratch_floats(&g, n);
            float *x = alloc(groups * n * in_sz), *dz = alloc(groups * n * out_sz), *dw = alloc(K);
            float *sc = alloc(scf);
            double ti, tw;
            best_of(reps, only_w ? 2 : only_i ? 1 : 3, &g, n, x, dz, dw, sc, &ti, &tw);
            const double flop = 2.0 * (double)K * (double)(hw * hw) * (double)n;
            printf("%-8s %-16s %10.4f %10.4f %9.1f %9.1f %6.2f\n", fv__gemm_path_name(paths[pi]),
                   name, 1e3 * ti, 1e3 * tw, flop / ti * 1e-9, flop / tw * 1e-9, ti / tw);
            free(x), free(dz), free(dw), free(sc);
        }
    }
    fv__conv_force_path(-1);
    return 0;
}
