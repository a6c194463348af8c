/* bench_winograd.c — the ResNet example's stride-1 3×3 convolutions (and their input gradients'
 * shapes, the same ones) by the direct kernels (fv_conv2d_forward_next, fv_conv2d_forward_add) and
 * by Winograd F(2×2, 3×3) (fv_conv2d_forward_winograd, _add), one image repeated ("hot": its data
 * in L1/L2), the two alternated, thread CPU time per image, best of 15 rounds (or argv[1]); one
 * thread; FOVEA_KERNELS=avx2|generic as for the CLI; argv[2]: only the layers whose name starts
 * with it. COLD=1: 128 images' inputs and outputs in turn instead of one (out of L2, as in a
 * training step); BLOCKS=1: Winograd's 16-channel layers in its blocked order
 * (fv__conv_winograd_force_blocks) instead of its runs in L1. Prints the dense-equivalent GFLOP/s
 * of each and the ratio.
 *   cc -O2 -std=gnu11 -fopenmp -Iinclude -Isrc bench/bench_winograd.c build/libfovea.a -lm -ldl \
 *      -o bench_winograd && taskset -c 1 ./bench_winograd [rounds] [layer]
 */
#include "fovea.h"
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
    if (!p) abort();
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
    return p;
}

/* Images per round in the cold mode (COLD=1): a batch's inputs and outputs, out of cache as in
 * a training step, each image's call prefetching the next one's input. */
enum { COLD = 128 };

/* Seconds per image of the direct (wino false) or Winograd forward (add: the added form); with
 * cold, each rep runs the COLD images of x and y (X and Y floats apart) in order. */
static double run(const fv_conv_geom *g, bool wino, bool add, int reps, const float *x,
                  const float *wp, const float *u, const float *b, float *y, float *s, bool cold,
                  int64_t X, int64_t Y)
{
    const int n = cold ? COLD : 1;
    reps = cold ? (reps + COLD - 1) / COLD : reps;
    const double t0 = bench_cpu_seconds();
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++) {
            const float *xi = x + i * X, *nx = cold && i + 1 < n ? xi + X : NULL;
            float *yi = y + i * Y;
            if (wino && add)
                fv_conv2d_forward_winograd_add(g, xi, u, yi, s, nx, X);
            else if (wino)
                fv_conv2d_forward_winograd(g, xi, u, b, true, yi, s, nx, X);
            else if (add)
                fv_conv2d_forward_add(g, xi, wp, yi, s, nx, X);
            else
                fv_conv2d_forward_next(g, xi, wp, b, true, yi, s, nx, X);
        }
    return (bench_cpu_seconds() - t0) / (reps * n);
}

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? atoi(argv[1]) : 15;
    /* BLOCKS=1: the 16-channel layers in the blocked order (fv__conv_winograd_force_blocks) */
    if (getenv("BLOCKS") && strcmp(getenv("BLOCKS"), "1") == 0)
        fv__conv_winograd_force_blocks(true);
    const char *kp = getenv("FOVEA_KERNELS"); /* as the CLI: avx2, generic */
    if (kp && fv_set_kernel_path(kp) != FV_OK) {
        fprintf(stderr, "FOVEA_KERNELS=%s: %s\n", kp, fv_last_error());
        return 2;
    }
    /* name, size, in_c, out_c: the stride-1 layers (the input gradient of each is the same
     * shape with the channels swapped, equal here) */
    static const struct {
        const char *name;
        int64_t hw, c, f;
    } L[] = {{"stem (28x28, 1->16)", 28, 1, 16},
             {"s1_conv (28x28, 16->16)", 28, 16, 16},
             {"s2_conv2 (14x14, 32->32)", 14, 32, 32},
             {"s3_conv2 (7x7, 64->64)", 7, 64, 64}};
    const bool cold = getenv("COLD") && strcmp(getenv("COLD"), "1") == 0;
    printf("path %s, one thread, %s, best of %d rounds (thread CPU time)\n", fv_conv_path(),
           cold ? "cold (128 images in turn)" : "hot", rounds);
    printf("%-26s %-4s %10s %10s %9s %9s %7s\n", "layer", "op", "direct us", "wino us", "direct",
           "wino", "ratio");
    for (int l = 0; l < 4; l++) {
        if (argc > 2 && strncmp(L[l].name, argv[2], strlen(argv[2])) != 0) continue;
        fv_conv_geom g = {.in_h = L[l].hw,
                          .in_w = L[l].hw,
                          .in_c = L[l].c,
                          .k_h = 3,
                          .k_w = 3,
                          .out_c = L[l].f,
                          .stride_h = 1,
                          .stride_w = 1,
                          .dil_h = 1,
                          .dil_w = 1};
        g.out_h = fv_conv_out_size(g.in_h, 3, 1, 1, true, &g.pad_top);
        g.out_w = fv_conv_out_size(g.in_w, 3, 1, 1, true, &g.pad_left);
        const int64_t X = g.in_h * g.in_w * g.in_c, Y = g.out_h * g.out_w * g.out_c;
        int64_t sf = fv_conv_fwd_scratch_floats(&g);
        if (sf < fv_conv_winograd_scratch_floats(&g)) sf = fv_conv_winograd_scratch_floats(&g);
        const int64_t nimg = cold ? COLD : 1;
        float *x = alloc(nimg * X), *w = alloc(9 * g.in_c * g.out_c), *b = alloc(g.out_c);
        float *y = alloc(nimg * Y);
        float *wp = alloc(fv_conv_fwd_pack_floats(&g)),
              *u = alloc(fv_conv_winograd_pack_floats(&g));
        float *s = alloc(sf);
        fv_conv_fwd_pack(&g, w, wp);
        fv_conv_winograd_pack(&g, w, u);
        const double flop = 2.0 * (double)(g.out_h * g.out_w) * 9.0 * (double)(g.in_c * g.out_c);
        const int reps = (int)(2e8 / flop) + 1; /* about 0.1 s a round at 2 GFLOP/s */
        for (int add = 0; add <= 1; add++) {
            double bd = 1e30, bw = 1e30;
            for (int r = 0; r < rounds; r++) {
                const double d = run(&g, false, add, reps, x, wp, u, b, y, s, cold, X, Y);
                const double v = run(&g, true, add, reps, x, wp, u, b, y, s, cold, X, Y);
                bd = d < bd ? d : bd, bw = v < bw ? v : bw;
            }
            printf("%-26s %-4s %10.2f %10.2f %9.1f %9.1f %7.2f\n", L[l].name, add ? "add" : "fwd",
                   1e6 * bd, 1e6 * bw, flop / bd * 1e-9, flop / bw * 1e-9, bd / bw);
        }
        free(x), free(w), free(b), free(y), free(wp), free(u), free(s);
    }
    printf("(GFLOP/s dense-equivalent: 2·P·9·C·F per image; ratio: direct time / winograd time)\n");
    return 0;
}
