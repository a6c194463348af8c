/* bench_convbwd.c — the ResNet example's conv2d backward split into its kernels, over a batch of
 * 128 images: the weight gradient (fv_conv_dw_images, 8 images a call, as conv2d.c groups them)
 * and the input gradient (stride 1: the forward kernels on the flipped kernel; strided: by phases),
 * written or added into a gradient that holds another reader's (fv_run.dx_add). Each piece three
 * ways: "hot", one image (or group) repeated, its data in L1/L2, times 128 (the kernel's own rate);
 * "warm", the batch just written (in L3 as far as it fits); "cold", 64 MiB written after it, so
 * that it is read back from memory as in a training step. Thread CPU time, best of 9 (or argv[1]);
 * one thread; argv[2]: only the layers whose name starts with it.
 *   cc -O2 -std=gnu11 -fopenmp -Iinclude -Isrc bench/bench_convbwd.c build/libfovea.a -lm -ldl \
 *      -o bench_convbwd && taskset -c 1 ./bench_convbwd [repetitions] [layer]
 */
#include "kernels/kernels.h"
#include "kernels/vec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_clock.h"

static float *alloc(int64_t n)
{
    float *p = aligned_alloc(64, (size_t)((n + 15) / 16 * 16) * sizeof(float));
    if (!p) exit(1);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(i * 7919 % 101 - 50) / 500.0f;
    return p;
}

enum { N = 128, GROUP = 8 };

typedef struct layer {
    const char *name;
    int64_t H, C, F, k, s;
} layer;

typedef struct bufs {
    fv_conv_geom g, gt;
    float *x, *dy, *dx, *dw, *wp, *sc, *dws;
    int64_t in, out;
    bool ph;
} bufs;

/* The piece `what` (0 dw, 1 dx written, 2 dx added, 3 stride 1: dx written in a buffer and added
 * after) for images [0, n) (hot: image 0 n times). */
static void run(const bufs *b, int what, int64_t n, bool hot)
{
    if (what == 0) {
        for (int64_t i = 0; i < n; i += GROUP) {
            const int64_t j = hot ? 0 : i;
            fv_conv_dw_images(&b->g, GROUP, b->x + j * b->in, b->dy + j * b->out, b->dw, b->dws);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t j = hot ? 0 : i;
        float *dxi = b->dx + j * b->in;
        if (b->ph)
            fv_conv_dx_phases(&b->g, b->dy + j * b->out, b->wp, dxi, b->sc, what == 2);
        else if (what == 1)
            fv_conv2d_forward_fast(&b->gt, b->dy + j * b->out, b->wp, NULL, false, dxi, b->sc);
        else if (what == 2) /* added in the tiles' epilogue */
            fv_conv2d_forward_add(&b->gt, b->dy + j * b->out, b->wp, dxi, b->sc, NULL, 0);
        else { /* the image's gradient in a buffer, then added (the executor's sum, per image) */
            float *t = b->sc + fv_conv_fwd_scratch_floats(&b->gt);
            fv_conv2d_forward_fast(&b->gt, b->dy + j * b->out, b->wp, NULL, false, t, b->sc);
            fv__add_run(dxi, t, b->in);
        }
    }
}

int main(int argc, char **argv)
{
    /* [repetitions (9)] [the layers whose name starts with this] */
    const int REPS = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 9;
    const char *only = argc > 2 ? argv[2] : "";
    static const layer L[] = {{"stem", 28, 1, 16, 3, 1},      {"s1_conv1/2", 28, 16, 16, 3, 1},
                              {"s2_conv1", 28, 16, 32, 3, 2}, {"s2_conv2", 14, 32, 32, 3, 1},
                              {"s2_proj", 28, 16, 32, 1, 2},  {"s3_conv1", 14, 32, 64, 3, 2},
                              {"s3_conv2", 7, 64, 64, 3, 1},  {"s3_proj", 14, 32, 64, 1, 2}};
    const int64_t flush = (int64_t)64 << 20;
    char *fl = malloc((size_t)flush);
    if (!fl) return 1;
    printf("conv2d backward pieces, ms per batch of %d (GFLOP/s), thread CPU time, best of %d\n", N,
           REPS);
    printf("%-11s %-9s %18s %18s %18s\n", "layer", "piece", "hot", "warm", "cold");
    for (size_t l = 0; l < sizeof L / sizeof *L; l++) {
        if (strncmp(L[l].name, only, strlen(only)) != 0) continue;
        const int64_t H = L[l].H, C = L[l].C, F = L[l].F, k = L[l].k, s = L[l].s;
        int64_t pad = 0;
        const int64_t O = fv_conv_out_size(H, k, s, 1, true, &pad);
        bufs b = {.g = {H, H, C, k, k, O, O, F, s, s, 1, 1, pad, pad}};
        b.gt = (fv_conv_geom){O, O, F, k, k, H, H, C, 1, 1, 1, 1, k - 1 - pad, k - 1 - pad};
        b.in = H * H * C, b.out = O * O * F, b.ph = s > 1;
        b.x = alloc(N * b.in), b.dy = alloc(N * b.out), b.dx = alloc(N * b.in);
        b.dw = alloc(k * k * C * F), b.dws = alloc(fv_conv_dw_images_scratch_floats(&b.g, GROUP));
        const float *w = alloc(k * k * C * F);
        if (b.ph) {
            b.wp = alloc(fv_conv_dx_phases_pack_floats(&b.g));
            b.sc = alloc(fv_conv_dx_phases_scratch_floats(&b.g));
            fv_conv_dx_phases_pack(&b.g, w, b.wp);
        } else { /* the packed weights' values do not change the time */
            b.wp = alloc(fv_conv_fwd_pack_floats(&b.gt));
            b.sc = alloc(fv_conv_fwd_scratch_floats(&b.gt) + b.in);
            fv_conv_fwd_pack(&b.gt, w, b.wp);
        }
        const double flop = 2.0 * (double)(N * O * O * k * k * C * F);
        static const char *piece[] = {"dW", "dx", "dx added", "dx + sum"};
        for (int what = 0; what < 4; what++) {
            if (what == 3 && b.ph) continue;
            if (L[l].k == 3 && L[l].C == 1 && what > 0) continue; /* the stem: no dx */
            double best[3] = {1e30, 1e30, 1e30};
            for (int r = 0; r < REPS; r++)
                for (int mode = 0; mode < 3; mode++) {
                    if (mode > 0) { /* the batch written, as by the layers before */
                        memset(b.dx, 0, (size_t)(N * b.in) * sizeof(float));
                        for (int64_t i = 0; i < N * b.out; i += 16)
                            b.dy[i] += 0.0f;
                        for (int64_t i = 0; i < N * b.in; i += 16)
                            b.x[i] += 0.0f;
                    }
                    if (mode == 2) memset(fl, r, (size_t)flush);
                    const double t = bench_cpu_seconds();
                    run(&b, what, N, mode == 0);
                    const double d = bench_cpu_seconds() - t;
                    if (d < best[mode]) best[mode] = d;
                }
            printf("%-11s %-9s", L[l].name, piece[what]);
            for (int mode = 0; mode < 3; mode++)
                printf(" %8.3f (%5.1f)  ", best[mode] * 1e3, flop / best[mode] * 1e-9);
            printf("\n");
        }
        free(b.x), free(b.dy), free(b.dx), free(b.dw), free(b.dws), free((void *)w);
        free(b.wp), free(b.sc);
    }
    free(fl);
    return 0;
}
