/* bench_prefetch.c — the ResNet example's conv2d forward over a batch of 128 images, with and
 * without the prefetch of the next image's input (fv_conv2d_forward_next against
 * fv_conv2d_forward_fast), alternated in one process: thread CPU time, best of 20 batches each.
 * Before each batch the input is rewritten (as by the layer before it) and, with "cold", 64 MiB
 * are written after it, so that it is read back from memory as the backward reads x.
 *   cc -O2 -std=gnu11 -fopenmp -Iinclude -Isrc bench/bench_prefetch.c build/libfovea.a -lm -ldl \
 *      -o bench_prefetch && taskset -c 1 ./bench_prefetch [cold]
 */
#include "kernels/kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_clock.h"

int main(int argc, char **argv)
{
    const int cold = argc > 1 && strcmp(argv[1], "cold") == 0;
    /* in (square), channels, filters, kernel, stride: s1_conv1, s2_conv1, s2_conv2, s3_conv1,
     * s3_conv2 ('same' padding) */
    static const int64_t L[][5] = {{28, 16, 16, 3, 1},
                                   {28, 16, 32, 3, 2},
                                   {14, 32, 32, 3, 1},
                                   {14, 32, 64, 3, 2},
                                   {7, 64, 64, 3, 1}};
    const int64_t n = 128, flush = (int64_t)64 << 20;
    char *fl = cold ? malloc((size_t)flush) : NULL;
    printf("conv2d forward, batch of %ld, input %s: ms per batch (best of 20)\n", (long)n,
           cold ? "read back from memory" : "just written");
    for (int l = 0; l < 5; l++) {
        const int64_t H = L[l][0], C = L[l][1], F = L[l][2], k = L[l][3], s = L[l][4];
        int64_t pad = 0; /* 'same': the same padding on both axes (square images) */
        const int64_t O = fv_conv_out_size(H, k, s, 1, true, &pad);
        fv_conv_geom g = {H, H, C, k, k, O, O, F, s, s, 1, 1, pad, pad};
        const int64_t in = H * H * C, out = O * O * F, nw = k * k * C * F;
        float *x = malloc((size_t)(n * in) * sizeof(float)),
              *y = malloc((size_t)(n * out) * sizeof(float));
        float *w = malloc((size_t)nw * sizeof(float));
        float *wp = malloc((size_t)fv_conv_fwd_pack_floats(&g) * sizeof(float));
        float *sc = malloc((size_t)(fv_conv_fwd_scratch_floats(&g) + 16) * sizeof(float));
        if (!x || !y || !w || !wp || !sc || (cold && !fl)) return 1;
        for (int64_t i = 0; i < nw; i++)
            w[i] = (float)(i * 7919 % 101 - 50) / 500.0f;
        fv_conv_fwd_pack(&g, w, wp);
        double best[2] = {1e30, 1e30};
        for (int r = 0; r < 40; r++) {
            const int next = r % 2;
            for (int64_t i = 0; i < n * in; i++)
                x[i] = (float)((i + r) % 13) * 0.1f;
            if (cold) memset(fl, r, (size_t)flush);
            const double t = bench_cpu_seconds();
            for (int64_t i = 0; i < n; i++)
                if (next)
                    fv_conv2d_forward_next(&g, x + i * in, wp, NULL, false, y + i * out, sc,
                                           i + 1 < n ? x + (i + 1) * in : NULL, in);
                else
                    fv_conv2d_forward_fast(&g, x + i * in, wp, NULL, false, y + i * out, sc);
            const double dt = bench_cpu_seconds() - t;
            if (dt < best[next]) best[next] = dt;
        }
        printf(
            "  %2ldx%2ldx%2ld k%ld s%ld -> %2ld: without %.3f, with the prefetch %.3f (%.1f%%)\n",
            (long)H, (long)H, (long)C, (long)k, (long)s, (long)F, best[0] * 1e3, best[1] * 1e3,
            100.0 * (best[1] / best[0] - 1.0));
        free(x), free(y), free(w), free(wp), free(sc);
    }
    free(fl);
    return 0;
}
