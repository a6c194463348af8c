/* bench_pairs.c — the training step of a model with and without its convolutions doing their
 * BatchNormalizations' passes (fv_bn_pair: the forward's batch sums and the backward's input
 * gradient of the BatchNormalization after a convolution, the output of the one before it), four
 * copies of the model in one process, timed in turns on the same batches.
 * Build from the repository root after the library (build/libfovea.a):
 *   cc -O2 -std=gnu11 -fopenmp -Iinclude -Isrc bench/bench_pairs.c build/libfovea.a \
 *      $(pkg-config --libs zlib libcjson yaml-0.1 cairo libpng libjpeg stb lapack libprotobuf-c \
 *      assimp osmesa) -lm -o bench_pairs
 *   ./bench_pairs [MODEL [DATA_DIR [ROUNDS [STEPS]]]]
 * (examples/resnet_fashion.fv, /work/data-f10k, 7, 6 by default: MNIST-format files.)
 * One thread; each figure is this thread's CPU time per step (time descheduled on a shared
 * machine is not counted), the median and the best of the rounds; the copies' losses after all
 * steps must be equal bit for bit (the pairs change no result).
 */
#include "fovea.h"
#include "model/model.h"
#include "model/model_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_clock.h"

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { CONFIGS = 4, BATCH = 128, BATCHES = 8, MAX_ROUNDS = 64 };

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "examples/resnet_fashion.fv";
    const char *dir = argc > 2 ? argv[2] : "/work/data-f10k";
    const int rounds = argc > 3 ? atoi(argv[3]) : 7, steps = argc > 4 ? atoi(argv[4]) : 6;
    if (rounds < 1 || rounds > MAX_ROUNDS || steps < 1) {
        fprintf(stderr, "bench_pairs: ROUNDS 1..%d, STEPS at least 1\n", MAX_ROUNDS);
        return 2;
    }
    fv_set_threads(1);
    fv_dataset *train = NULL;
    if (fv_dataset_load_idx_dir(dir, &train, NULL) != FV_OK) {
        fprintf(stderr, "bench_pairs: %s\n", fv_last_error());
        return 1;
    }
    /* which passes the convolutions do: the sums, the input gradient, the output (y) */
    const char *names[CONFIGS] = {"none", "sums+dx", "y", "all"};
    const bool on[CONFIGS][3] = {{0, 0, 0}, {1, 1, 0}, {0, 0, 1}, {1, 1, 1}};
    fv_model *m[CONFIGS];
    for (int c = 0; c < CONFIGS; c++) {
        m[c] = fv_model_parse_file(path);
        if (!m[c] || fv__model_ensure_weights(m[c], 1) != FV_OK) {
            fprintf(stderr, "bench_pairs: %s\n", fv_last_error());
            return 1;
        }
        fv__model_set_bn_pairs(m[c], on[c][0], on[c][1], on[c][2]);
    }
    const int64_t in = fv_model_input_size(m[0]);
    float *x = malloc((size_t)(BATCHES * BATCH * in) * sizeof(float));
    int32_t *labels = malloc((size_t)(BATCHES * BATCH) * sizeof(int32_t));
    if (!x || !labels) return 1;
    const int32_t *all = fv_dataset_labels(train);
    for (int64_t i = 0; i < BATCHES * BATCH; i++) {
        if (fv_dataset_get(train, i, x + i * in) != FV_OK) {
            fprintf(stderr, "bench_pairs: %s\n", fv_last_error());
            return 1;
        }
        labels[i] = all[i];
    }
    double ms[CONFIGS][MAX_ROUNDS], loss[CONFIGS] = {0};
    int64_t step[CONFIGS] = {0};
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < CONFIGS; c++) {
            const double t0 = bench_cpu_seconds();
            for (int s = 0; s < steps; s++, step[c]++) {
                const int64_t b = step[c] % BATCHES;
                const fv_targets t = {.labels = labels + b * BATCH};
                if (fv__model_train_step(m[c], x + b * BATCH * in, &t, BATCH, &loss[c]) != FV_OK)
                    return 1;
            }
            ms[c][r] = 1e3 * (bench_cpu_seconds() - t0) / steps;
        }
    printf("%s, %d rounds of %d steps of %d images, one thread, CPU ms per step\n", path, rounds,
           steps, BATCH);
    double med0 = 0;
    for (int c = 0; c < CONFIGS; c++) {
        qsort(ms[c], (size_t)rounds, sizeof(double), cmp);
        const double med = ms[c][rounds / 2];
        if (c == 0) med0 = med;
        printf("  %-8s median %7.2f  best %7.2f  worst %7.2f  median/none %.3f\n", names[c], med,
               ms[c][0], ms[c][rounds - 1], med / med0);
    }
    bool same = true;
    for (int c = 1; c < CONFIGS; c++)
        same = same && memcmp(&loss[c], &loss[0], sizeof loss[0]) == 0;
    printf("  the last losses bit for bit equal: %s (%.17g)\n", same ? "yes" : "NO", loss[0]);
    for (int c = 0; c < CONFIGS; c++)
        fv_model_free(m[c]);
    fv_dataset_free(train);
    free(x), free(labels);
    return same ? 0 : 1;
}
