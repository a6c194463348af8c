/* test_dx_add.c — backward's in-place sums (run.c, fv_run.dx_add): a strided conv2d that reads a
 * tensor whose gradient a later reader already wrote adds its input gradient into it, instead of
 * writing it apart for the model to add; the losses, gradients and weights must be those of the
 * sums made apart, bit for bit, on every kernel path and any thread count.
 */
#include "fovea.h"
#include "layers/layer.h"
#include "model/model.h"
#include "model/model_impl.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Odd sizes. `stem` is read by a (3×3, stride 2: adds, its images dense) and p (1×1, stride 2:
 * written first, in the reverse order); j by q (1×1, stride 2: adds, three phases without taps),
 * g (3×3, stride 2, behind a 2×2 max-pool that leaves its last row and column out: adds, its
 * images' gradient mostly zero, so the backward's gathers) and h (3×3, stride 2: written first). */
static const char *graph = "input shape=20,18,8\n"
                           "conv2d name=stem filters=8 kernel_size=3 padding=same activation=relu\n"
                           "conv2d name=a filters=8 kernel_size=3 strides=2 padding=same\n"
                           "conv2d name=p filters=8 kernel_size=1 strides=2 inputs=stem\n"
                           "add name=j inputs=a,p\n"
                           "conv2d name=q filters=8 kernel_size=1 strides=2 inputs=j\n"
                           "conv2d name=g filters=8 kernel_size=3 strides=2 padding=same inputs=j\n"
                           "max_pooling2d name=mp pool_size=2\n"
                           "global_average_pooling2d name=gp\n"
                           "conv2d name=h filters=8 kernel_size=3 strides=2 padding=same inputs=j\n"
                           "add name=k inputs=q,h\n"
                           "global_average_pooling2d name=gk\n"
                           "add name=out inputs=gp,gk\n"
                           "dense units=4 activation=softmax\n"
                           "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

static int layer_index(const fv_model *m, const char *name)
{
    for (int i = 0; i < fv_model_layer_count(m); i++)
        if (strcmp(fv_model_layer_name(m, i), name) == 0) return i;
    return -1;
}

static float *random_floats(int64_t n, uint64_t seed)
{
    fv_rng r;
    fv__rng_seed(&r, seed);
    float *x = malloc((size_t)n * sizeof(float));
    if (!x) abort();
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.0f * fv__rng_uniform(&r) - 1.0f;
    return x;
}

static void same_floats(const char *what, const float *a, const float *b, int64_t n)
{
    if (memcmp(a, b, (size_t)n * sizeof(float)) == 0) return;
    int64_t i = 0;
    while (memcmp(a + i, b + i, sizeof(float)) == 0)
        i++;
    fprintf(stderr, "  %s[%lld]: in place %.9g, apart %.9g\n", what, (long long)i, (double)a[i],
            (double)b[i]);
    test_failed_checks++;
}

/* Two copies of the graph from one seed, the second summing apart; N samples, the first copy on
 * `threads` threads and the second on one: the loss and every gradient of a training step, then
 * the weights after three steps. Checks that the in-place copy wrote no temporary gradient (the
 * sums took the new path) and that g's images took the gathers (fewer multiply-adds than dense). */
static void compare(int64_t N, int threads)
{
    fv_model *a = fv_model_parse_string(graph, "a.fv"), *b = fv_model_parse_string(graph, "b.fv");
    float *x = NULL;
    int32_t *labels = NULL;
    CHECK(a && b);
    if (!a || !b) goto done;
    fv__model_set_dx_add(b, false);
    CHECK_OK(fv__model_ensure_weights(a, 5));
    CHECK_OK(fv__model_ensure_weights(b, 5));
    x = random_floats(N * fv_model_input_size(a), 17);
    labels = malloc((size_t)N * sizeof(int32_t));
    for (int64_t i = 0; i < N; i++)
        labels[i] = (int32_t)(i % 4);
    const fv_targets t[1] = {{.labels = labels}};
    const float *xs[1] = {x};
    double la = 0, lb = 0;
    /* plan both for their thread counts, then poison the temporaries: the in-place copy must
     * leave its own alone */
    fv_set_threads(threads);
    CHECK_OK(fv__model_loss_and_grad_heads(a, xs, t, N, true, &la, NULL));
    fv_set_threads(1);
    CHECK_OK(fv__model_loss_and_grad_heads(b, xs, t, N, true, &lb, NULL));
    const int gi = layer_index(a, "g");
    CHECK(gi >= 0 && a->ngbuf > a->gtemp[gi]);
    if (gi < 0 || a->ngbuf <= a->gtemp[gi]) goto done;
    a->gbuf[a->gtemp[gi]][0] = NAN, b->gbuf[b->gtemp[gi]][0] = NAN;
    for (int mode = 0; mode < 2; mode++) { /* a training step's gradients, then three steps */
        fv_set_threads(threads);
        if (mode == 0)
            CHECK_OK(fv__model_loss_and_grad_heads(a, xs, t, N, true, &la, NULL));
        else
            for (int s = 0; s < 3; s++)
                CHECK_OK(fv__model_train_step_heads(a, xs, t, N, &la, NULL));
        fv_set_threads(1);
        if (mode == 0)
            CHECK_OK(fv__model_loss_and_grad_heads(b, xs, t, N, true, &lb, NULL));
        else
            for (int s = 0; s < 3; s++)
                CHECK_OK(fv__model_train_step_heads(b, xs, t, N, &lb, NULL));
        CHECK(memcmp(&la, &lb, sizeof la) == 0);
        if (mode == 0) {
            CHECK(isnan(a->gbuf[a->gtemp[gi]][0]));  /* no sum made apart */
            CHECK(!isnan(b->gbuf[b->gtemp[gi]][0])); /* the reference made them */
            const fv_layer *g = &a->layers[gi];
            CHECK(g->exec_bwd_flop < (double)N * fv__layer_flops(g, true, true));
        }
        same_floats(mode ? "weights" : "gradients", mode ? a->weights : a->grads,
                    mode ? b->weights : b->grads, mode ? a->nweights : a->ngrads);
    }
done:
    fv_set_threads(0);
    free(x), free(labels);
    fv_model_free(a);
    fv_model_free(b);
}

TEST(in_place_sums_equal_sums_made_apart)
{
    compare(1, 1);
    compare(13, 1);
}

TEST(in_place_sums_on_two_threads_equal_sums_apart_on_one)
{
    compare(40, 2);
}

TEST(in_place_sums_on_every_kernel_path)
{
    const char *paths[] = {"generic", "avx2", "avx512"};
    int ran = 0;
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        if (fv_set_kernel_path(paths[p]) != FV_OK) continue; /* not on this CPU */
        compare(21, 2);
        ran++;
    }
    CHECK_OK(fv_set_kernel_path("auto"));
    CHECK(ran >= 1);
}

int main(void)
{
    RUN(in_place_sums_equal_sums_made_apart);
    RUN(in_place_sums_on_two_threads_equal_sums_apart_on_one);
    RUN(in_place_sums_on_every_kernel_path);
    return TEST_SUMMARY();
}
