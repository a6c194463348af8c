/* test_fuse.c — the training plan's fused BatchNormalization → [Add →] ReLU groups (model/fuse.c):
 * which groups the planner forms and which it declines, and that a fused model's losses, outputs,
 * gradients and weights after training steps equal the unfused model's bit for bit, on odd shapes,
 * in training and inference mode, with any thread count and on every kernel path; that the
 * batch statistics stay exact far from zero; and that backward's in-place sums (run.c,
 * fv_run.dx_add: a strided conv2d adding its input gradient into a tensor's gradient that a later
 * reader wrote) give the sums made apart bit for bit; and that identity layers aliased to their
 * input (fv_layer_kind.identity) give the bits of their own copies.
 */
#include "fovea.h"
#include "kernels/bf16.h"
#include "kernels/conv_internal.h"
#include "model/fit.h"
#include "model/model.h"
#include "model/model_impl.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Odd sizes; a residual block with an identity shortcut, a block with a strided projection
 * (an Add of two BatchNormalizations), an Activation('relu') layer and BatchNormalizations without
 * scale or center. */
static const char *resnet =
    "input shape=9,7,3\n"
    "conv2d name=stem filters=17 kernel_size=3 padding=same use_bias=false\n"
    "batch_normalization name=stem_bn\n"
    "relu name=r0\n"
    "conv2d name=c1 filters=17 kernel_size=3 padding=same use_bias=false\n"
    "batch_normalization name=bn1 center=false\n"
    "activation name=a1 activation=relu\n"
    "conv2d name=c2 filters=17 kernel_size=3 padding=same\n"
    "batch_normalization name=bn2 scale=false\n"
    "add name=add1 inputs=bn2,r0\n"
    "relu name=r1\n"
    "conv2d name=c3 filters=6 kernel_size=3 strides=2 padding=same use_bias=false inputs=r1\n"
    "batch_normalization name=bn3\n"
    "relu name=r2\n"
    "conv2d name=c4 filters=6 kernel_size=3 padding=same use_bias=false\n"
    "batch_normalization name=bn4\n"
    "conv2d name=proj filters=6 kernel_size=1 strides=2 use_bias=false inputs=r1\n"
    "batch_normalization name=proj_bn momentum=0.9\n"
    "add name=add2 inputs=proj_bn,bn4\n"
    "relu name=r3\n"
    "global_average_pooling2d\n"
    "dense units=4 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

/* Groups the planner must decline: r0 read between bn and its Add (the order of r0's gradient
 * sum would change), a BatchNormalization read twice, one that is a model output, a ReLU with
 * max_value, and a frozen BatchNormalization (which fuses: its moving statistics apply). */
static const char *declined =
    "input shape=6,5,2\n"
    "conv2d name=stem filters=5 kernel_size=3 padding=same\n"
    "batch_normalization name=bn0 trainable=false\n"
    "relu name=r0\n"
    "conv2d name=c1 filters=5 kernel_size=3 padding=same\n"
    "batch_normalization name=bn1\n"
    "conv2d name=between filters=5 kernel_size=1 inputs=r0\n"
    "add name=add1 inputs=r0,bn1\n"
    "relu name=r1\n"
    "batch_normalization name=bn2\n"
    "add name=twice inputs=bn2,bn2\n"
    "relu name=r2\n"
    "add name=join inputs=r2,between\n"
    "batch_normalization name=bn3\n"
    "relu name=r3 max_value=6\n"
    "batch_normalization name=bn_out\n"
    "relu name=r4\n"
    "global_average_pooling2d inputs=r4\n"
    "dense name=head units=3 activation=softmax\n"
    "model outputs=head,bn_out\n"
    "compile loss=head:sparse_categorical_crossentropy,bn_out:mean_squared_error "
    "optimizer=adam\n";

static int layer_index(const fv_model *m, const char *name)
{
    for (int i = 0; i < fv_model_layer_count(m); i++)
        if (strcmp(fv_model_layer_name(m, i), name) == 0) return i;
    return -1;
}

/* Whether the plan fused the group whose ReLU is `relu` with BatchNormalization `bn` and Add `add`
 * (NULL: none). */
static bool grouped(const fv_model *m, const char *relu, const char *bn, const char *add)
{
    const int t = layer_index(m, relu);
    return t >= 0 && m->fuse_bn[t] == layer_index(m, bn) &&
           m->fuse_add[t] == (add ? layer_index(m, add) : -1);
}

static float *random_floats(int64_t n, uint64_t seed, float lo, float hi)
{
    fv_rng r;
    fv__rng_seed(&r, seed);
    float *x = malloc((size_t)n * sizeof(float));
    if (!x) abort();
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * fv__rng_uniform(&r);
    return x;
}

static void same_floats(const char *what, const float *a, const float *b, int64_t n)
{
    if (memcmp(a, b, (size_t)n * sizeof(float)) == 0) return;
    int64_t i = 0;
    while (memcmp(a + i, b + i, sizeof(float)) == 0)
        i++;
    fprintf(stderr, "  %s[%lld]: %.9g against %.9g\n", what, (long long)i, (double)a[i],
            (double)b[i]);
    test_failed_checks++;
}

static void unfuse(fv_model *m)
{
    fv__model_set_fusion(m, false);
}

/* Two copies of a model from the same seed, the second with `off` applied (unfused, for
 * compare()); N samples; with the first copy on `threads` threads and the second on one: the loss,
 * the outputs and every gradient in training and inference mode, then the weights (moving
 * statistics included) after three training steps. */
static void compare_off(const char *text, int64_t N, int threads, void (*off)(fv_model *),
                        fv_model **fused_out)
{
    fv_model *a = fv_model_parse_string(text, "fuse.fv"), *b = fv_model_parse_string(text, "u.fv");
    CHECK(a && b);
    if (!a || !b) goto done;
    off(b);
    CHECK_OK(fv__model_ensure_weights(a, 7));
    CHECK_OK(fv__model_ensure_weights(b, 7));
    const int64_t in = fv_model_input_size(a);
    float *x = random_floats(N * in, 11, -1.0f, 1.0f);
    int32_t *labels = malloc((size_t)N * sizeof(int32_t));
    const int heads = fv__model_heads(a);
    fv_targets t[2] = {{0}};
    float *values = NULL;
    for (int64_t i = 0; i < N; i++)
        labels[i] = (int32_t)(i % 3);
    t[0].labels = labels;
    if (heads > 1) {
        const int64_t w = fv__model_head_target_width(a, 1);
        values = random_floats(N * w, 12, -1.0f, 1.0f);
        t[1].values = values;
    }
    const float *xs[1] = {x};
    for (int mode = 0; mode < 3; mode++) { /* training, inference, then three training steps */
        double la = 0, lb = 0;
        fv_set_threads(threads);
        if (mode < 2)
            CHECK_OK(fv__model_loss_and_grad_heads(a, xs, t, N, mode == 0, &la, NULL));
        else
            for (int s = 0; s < 3; s++)
                CHECK_OK(fv__model_train_step_heads(a, xs, t, N, &la, NULL));
        fv_set_threads(1);
        if (mode < 2)
            CHECK_OK(fv__model_loss_and_grad_heads(b, xs, t, N, mode == 0, &lb, NULL));
        else
            for (int s = 0; s < 3; s++)
                CHECK_OK(fv__model_train_step_heads(b, xs, t, N, &lb, NULL));
        CHECK(memcmp(&la, &lb, sizeof la) == 0);
        for (int j = 0; j < heads; j++) {
            const int node = fv__model_head_node(a, j);
            same_floats("output", a->acts[node], b->acts[node],
                        N * fv__shape_size(fv__model_node_shape(a, node)));
        }
        same_floats(mode == 2 ? "weights" : "gradients", mode == 2 ? a->weights : a->grads,
                    mode == 2 ? b->weights : b->grads, mode == 2 ? a->nweights : a->ngrads);
    }
    free(x), free(labels), free(values);
done:
    fv_set_threads(0);
    if (fused_out)
        *fused_out = a;
    else
        fv_model_free(a);
    fv_model_free(b);
}

/* compare_off() against the unfused model. */
static void compare(const char *text, int64_t N, int threads, fv_model **fused_out)
{
    compare_off(text, N, threads, unfuse, fused_out);
}

TEST(planner_forms_the_resnet_groups)
{
    fv_model *m = NULL;
    compare(resnet, 5, 1, &m);
    if (!m) return;
    CHECK(grouped(m, "r0", "stem_bn", NULL));
    CHECK(grouped(m, "a1", "bn1", NULL));
    CHECK(grouped(m, "r1", "bn2", "add1"));
    CHECK(grouped(m, "r2", "bn3", NULL));
    CHECK(grouped(m, "r3", "proj_bn", "add2")); /* the Add's first BatchNormalization */
    CHECK(m->fuse_tail[layer_index(m, "bn4")] == -1);
    /* after a training step, the outputs inside the groups are not kept; the groups' are */
    CHECK(fv_model_layer_output(m, layer_index(m, "bn2")) == NULL);
    CHECK(fv_model_layer_output(m, layer_index(m, "add1")) == NULL);
    CHECK(fv_model_layer_output(m, layer_index(m, "r1")) != NULL);
    fv_model_free(m);
}

TEST(planner_declines_what_would_change_a_result)
{
    fv_model *m = NULL;
    compare(declined, 6, 1, &m);
    if (!m) return;
    CHECK(grouped(m, "r0", "bn0", NULL)); /* frozen: fused, with the moving statistics */
    CHECK(grouped(m, "r1", "", NULL));    /* `between` reads r0 between bn1 and add1 */
    CHECK(grouped(m, "r2", "", NULL));    /* bn2 read twice by one Add */
    CHECK(grouped(m, "r3", "", NULL));    /* ReLU with max_value */
    CHECK(grouped(m, "r4", "", NULL));    /* bn_out is a model output */
    fv_model_free(m);
}

TEST(fused_equals_unfused_on_odd_shapes)
{
    compare(resnet, 1, 1, NULL);
    compare(resnet, 19, 1, NULL);
    compare(declined, 3, 1, NULL);
}

TEST(fused_on_two_threads_equals_unfused_on_one)
{
    compare(resnet, 64, 2, NULL); /* 64·63·17 values: a stage large enough to split */
    compare(declined, 33, 2, NULL);
}

/* A frozen BatchNormalization (inference mode in training: the moving statistics) in a group with
 * an Add: its backward reads the gradient through the ReLU where the sums' pass wrote it (the Add's
 * other input's gradient), as the trainable one's does. */
static const char *frozen_add = "input shape=7,5,3\n"
                                "conv2d name=stem filters=9 kernel_size=3 padding=same\n"
                                "batch_normalization name=bn0\n"
                                "relu name=r0\n"
                                "conv2d name=c1 filters=9 kernel_size=3 padding=same\n"
                                "batch_normalization name=bn1 trainable=false\n"
                                "add name=add1 inputs=bn1,r0\n"
                                "relu name=r1\n"
                                "global_average_pooling2d\n"
                                "dense units=3 activation=softmax\n"
                                "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

/* compare(), then that the plan fused each group {ReLU, BatchNormalization, Add} of groups. */
static void compare_fused(const char *text, int64_t N, int threads, const char *const (*groups)[3],
                          int ngroups)
{
    fv_model *m = NULL;
    compare(text, N, threads, &m);
    if (!m) return;
    for (int k = 0; k < ngroups; k++)
        CHECK(grouped(m, groups[k][0], groups[k][1], groups[k][2]));
    fv_model_free(m);
}

TEST(a_frozen_batch_normalization_with_an_add_fuses_and_equals_unfused)
{
    const char *const groups[][3] = {{"r1", "bn1", "add1"}};
    compare_fused(frozen_add, 11, 2, groups, 1);
}

/* Groups with an Add whose other input needs no gradient (the model's input; a frozen layer's
 * output with nothing trainable before it): the backward has no dskip to write, and the ReLU's
 * mask must still be that of the Add's sum, not of the BatchNormalization's value alone. */
static const char *add_without_skip_grad =
    "input shape=6,5,4\n"
    "conv2d name=c0 filters=4 kernel_size=3 padding=same\n"
    "batch_normalization name=bn0\n"
    "add name=add0 inputs=bn0,input_layer\n"
    "relu name=r0\n"
    "conv2d name=frozen filters=4 kernel_size=1 trainable=false inputs=input_layer\n"
    "conv2d name=c1 filters=4 kernel_size=3 padding=same inputs=r0\n"
    "batch_normalization name=bn1 center=false\n"
    "add name=add1 inputs=frozen,bn1\n"
    "relu name=r1\n"
    "global_average_pooling2d\n"
    "dense units=3 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

TEST(an_add_whose_other_input_needs_no_gradient_fuses_and_equals_unfused)
{
    const char *const groups[][3] = {{"r0", "bn0", "add0"}, {"r1", "bn1", "add1"}};
    compare_fused(add_without_skip_grad, 9, 1, groups, 2);
}

TEST(forward_outside_training_writes_every_layer)
{
    fv_model *m = fv_model_parse_string(resnet, "f.fv");
    CHECK(m != NULL);
    if (!m) return;
    CHECK_OK(fv__model_ensure_weights(m, 3));
    float *x = random_floats(2 * fv_model_input_size(m), 5, -1.0f, 1.0f);
    CHECK_OK(fv_model_forward(m, x, 2));
    CHECK(fv_model_layer_output(m, layer_index(m, "bn2")) != NULL);
    CHECK(fv_model_layer_output(m, layer_index(m, "add1")) != NULL);
    free(x);
    fv_model_free(m);
}

TEST(fused_equals_unfused_on_every_kernel_path)
{
    const char *paths[] = {"generic", "avx2", "avx512"};
    int ran = 0;
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        if (fv_set_kernel_path(paths[p]) != FV_OK) continue; /* not on this CPU */
        compare(resnet, 19, 2, NULL);
        ran++;
    }
    CHECK_OK(fv_set_kernel_path("auto"));
    CHECK(ran >= 1);
}

/* A 1×1 convolution (the identity, bias `bias` + channel) on 5×3×4 inputs, then a
 * BatchNormalization named bn with momentum=0, whose moving statistics after a training step are
 * the batch's. */
static fv_model *bn_after_identity(float bias)
{
    static const char *text = "input shape=5,3,4\n"
                              "conv2d name=c filters=4 kernel_size=1\n"
                              "batch_normalization name=bn momentum=0\n"
                              "global_average_pooling2d\n"
                              "dense units=3 activation=softmax\n"
                              "compile loss=sparse_categorical_crossentropy optimizer=sgd\n";
    fv_model *m = fv_model_parse_string(text, "bn.fv");
    CHECK(m != NULL);
    if (!m) return NULL;
    CHECK_OK(fv__model_ensure_weights(m, 3));
    fv_layer *c = &m->layers[layer_index(m, "c")];
    for (int64_t k = 0; k < 16; k++)
        c->params[0].w[k] = k / 4 == k % 4 ? 1.0f : 0.0f;
    for (int64_t k = 0; k < 4; k++)
        c->params[1].w[k] = bias + (float)k;
    return m;
}

/* Channel k's mean and (biased) variance over the M rows of y [M × C], two passes in long double.
 */
static void two_pass(const float *y, int64_t M, int64_t C, int64_t k, long double *mean,
                     double *var)
{
    long double s = 0, q = 0;
    for (int64_t i = 0; i < M; i++)
        s += y[i * C + k];
    *mean = s / M;
    for (int64_t i = 0; i < M; i++)
        q += (y[i * C + k] - *mean) * (y[i * C + k] - *mean);
    *var = (double)(q / M);
}

/* A convolution whose outputs are about 10⁶ with a spread of about 0.3 (its bias), then a
 * BatchNormalization with momentum=0, whose moving statistics after one training step are the
 * batch's: they must match a long-double two-pass over the convolution's outputs to float
 * precision, where the one-pass Σy² − (Σy)²/M in double is off by far more. */
TEST(batch_statistics_stay_exact_far_from_zero)
{
    const int64_t N = 64, P = 15, C = 4, M = N * P;
    {
        fv_model *m = bn_after_identity(1e6f);
        if (!m) return;
        fv_layer *bn = &m->layers[layer_index(m, "bn")];
        float *x = random_floats(N * P * C, 21, -1.0f, 1.0f);
        int32_t *labels = calloc((size_t)N, sizeof(int32_t));
        fv_targets t[1] = {{.labels = labels}};
        const float *xs[1] = {x};
        double loss = 0;
        /* The first pass shifts by the moving mean 0, 10⁶ from the data: the one-pass sums' bound
         * fails and the deviations are summed again from the mean; with momentum 0 the second
         * pass shifts by the first's float mean, within 0.03 of the batch's: one pass. */
        for (int pass = 0; pass < 2; pass++) {
            CHECK_OK(fv__model_loss_and_grad_heads(m, xs, t, N, true, &loss, NULL));
            const float *y = fv_model_layer_output(m, layer_index(m, "c"));
            CHECK(y != NULL);
            for (int64_t k = 0; y && k < C; k++) {
                long double mean;
                double var, s1 = 0, s2 = 0;
                two_pass(y, M, C, k, &mean, &var);
                for (int64_t i = 0; i < M; i++)
                    s1 += y[i * C + k], s2 += (double)y[i * C + k] * y[i * C + k];
                const double naive = (s2 - s1 * s1 / (double)M) / (double)M;
                CHECK_CLOSE(bn->params[2].w[k], (double)mean, 0, 1e-7);
                CHECK_CLOSE(bn->params[3].w[k], var, 0, 2e-7);
                CHECK(fabs(naive - var) > 1e-5 * var); /* this case tells the formulas apart */
            }
        }
        free(x), free(labels);
        fv_model_free(m);
    }
}

/* Training mode normalises with the batch's statistics alone (Keras, Ioffe & Szegedy): whatever
 * the moving mean holds before the step (the one-pass sums' shift) — NaN, ±∞, or a finite value
 * so far from the data that x − K in double drops the data's bits — the batch's mean and variance
 * (the layer's saved statistics, and with a finite shift the moving ones after a step with
 * momentum=0) are the long-double two-pass ones over the convolution's outputs, a constant
 * channel's variance 0 (to 10⁻¹²), and the outputs and the loss are finite. */
TEST(batch_statistics_ignore_the_moving_mean)
{
    const int64_t N = 16, P = 15, C = 4, M = N * P;
    /* and near or at channel 3's constant 3.25 (a variance of 0), or 0 (the first step's) */
    const float shifts[] = {NAN, INFINITY, -INFINITY, 1e30f, -3e38f, 1e12f, 3.25f, 3.2500002f, 0};
    for (size_t v = 0; v < sizeof shifts / sizeof *shifts; v++) {
        fv_model *m = bn_after_identity(0.25f);
        if (!m) return;
        fv_layer *bn = &m->layers[layer_index(m, "bn")];
        for (int64_t k = 3; k < C * C; k += C) /* channel 3: its bias alone */
            m->layers[layer_index(m, "c")].params[0].w[k] = 0.0f;
        float *x = random_floats(N * P * C, 23, -1.0f, 1.0f);
        int32_t *labels = calloc((size_t)N, sizeof(int32_t));
        fv_targets t[1] = {{.labels = labels}};
        const float *xs[1] = {x};
        double loss = 0;
        for (int64_t k = 0; k < C; k++)
            bn->params[2].w[k] = shifts[v];
        CHECK_OK(fv__model_loss_and_grad_heads(m, xs, t, N, true, &loss, NULL));
        CHECK(isfinite(loss));
        const float *y = fv_model_layer_output(m, layer_index(m, "c"));
        const float *z = fv_model_layer_output(m, layer_index(m, "bn"));
        CHECK(y != NULL && z != NULL);
        for (int64_t e = 0; z && e < M * C; e++)
            if (!isfinite(z[e])) {
                fprintf(stderr, "  moving mean %g: output %lld is %g\n", (double)shifts[v],
                        (long long)e, (double)z[e]);
                test_failed_checks++;
                break;
            }
        for (int64_t k = 0; y && k < C; k++) {
            long double mean;
            double var;
            two_pass(y, M, C, k, &mean, &var);
            /* the statistics the step normalised with (the layer's saved mean and 1/σ), and
             * with a finite shift the moving ones (NaN·0 stays NaN, as in Keras) */
            const float *st = bn->saved;
            CHECK_CLOSE(st[k], (double)mean, 0, 1e-7);
            CHECK_CLOSE(st[C + k], 1.0 / sqrt(var + 1e-3), 0, 2e-7);
            if (!isfinite(shifts[v])) continue;
            CHECK_CLOSE(bn->params[2].w[k], (double)mean, 0, 1e-7);
            CHECK_CLOSE(bn->params[3].w[k], var, 1e-12, 2e-7);
        }
        free(x), free(labels);
        fv_model_free(m);
    }
}

/* Evaluation on a training plan in place (fit's validation, evaluate after training) runs the
 * groups in inference mode: the loss is the unfused model's bit for bit, and the pass ran fused. */
TEST(evaluation_on_a_training_plan_runs_the_groups)
{
    const int64_t N = 19;
    fv_model *a = fv_model_parse_string(resnet, "e.fv"), *b = fv_model_parse_string(resnet, "u.fv");
    float *x = random_floats(N * 9 * 7 * 3, 31, -1.0f, 1.0f);
    int32_t labels[19];
    for (int64_t i = 0; i < N; i++)
        labels[i] = (int32_t)(i % 3);
    fv_dataset *d = fv_dataset_from_f32(N, 3, (int64_t[]){9, 7, 3}, x, labels);
    CHECK(a && b && d);
    if (!a || !b || !d) goto done;
    fv__model_set_fusion(b, false);
    fv_targets t[1] = {{.labels = labels}};
    const float *xs[1] = {x};
    double la = 0, lb = 0, step = 0;
    CHECK_OK(fv__model_ensure_weights(a, 7));
    CHECK_OK(fv__model_ensure_weights(b, 7));
    CHECK_OK(fv__model_train_step_heads(a, xs, t, N, &step, NULL)); /* a training plan for N */
    CHECK_OK(fv__model_train_step_heads(b, xs, t, N, &step, NULL));
    CHECK_OK(fv_model_evaluate(a, d, N, &la, NULL));
    CHECK_OK(fv_model_evaluate(b, d, N, &lb, NULL));
    CHECK(memcmp(&la, &lb, sizeof la) == 0);
    CHECK(!a->plan_lean && a->fused_last); /* the groups ran: their inner outputs are not kept */
    CHECK(fv_model_layer_output(a, layer_index(a, "bn2")) == NULL);
    CHECK(fv_model_layer_output(b, layer_index(b, "bn2")) != NULL);
done:
    fv_dataset_free(d);
    free(x);
    fv_model_free(a);
    fv_model_free(b);
}

/* Odd sizes. `stem` is read by a (3×3, stride 2: adds, its images dense) and p (1×1, stride 2:
 * written first, in the reverse order); j by g (3×3, stride 2, behind a 2×2 max-pool that leaves
 * its last row and column out: adds, its images' gradient mostly zero, so the backward's gathers)
 * and h (3×3, stride 2: written first). */
static const char *in_place =
    "input shape=20,18,8\n"
    "conv2d name=stem filters=8 kernel_size=3 padding=same activation=relu\n"
    "conv2d name=a filters=8 kernel_size=3 strides=2 padding=same\n"
    "conv2d name=p filters=8 kernel_size=1 strides=2 inputs=stem\n"
    "add name=j inputs=a,p\n"
    "conv2d name=g filters=8 kernel_size=3 strides=2 padding=same inputs=j\n"
    "max_pooling2d name=mp pool_size=2\n"
    "global_average_pooling2d name=gp\n"
    "conv2d name=h filters=8 kernel_size=3 strides=2 padding=same inputs=j\n"
    "global_average_pooling2d name=gk\n"
    "add name=out inputs=gp,gk\n"
    "dense units=4 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

/* More readers and geometries (review): `stem` (21×19: odd, so 'same' pads a row and a column
 * before) is read by a (3×3, stride 2, same), v (3×3, stride 2, valid), d (dilated: no phases,
 * summed apart) and mp (a max-pool: written first, in the reverse order), so two in-place sums
 * follow each other into one tensor; a (11×10) by e (3×3, stride 2, valid: its last column takes
 * no tap) and f (1×1, stride 2: written first); a BatchNormalization → ReLU group between. */
static const char *in_place_wide =
    "input shape=21,19,8\n"
    "conv2d name=stem filters=8 kernel_size=3 padding=same activation=relu\n"
    "conv2d name=a filters=16 kernel_size=3 strides=2 padding=same inputs=stem\n"
    "batch_normalization name=bn inputs=a\n"
    "relu name=ra\n"
    "conv2d name=v filters=8 kernel_size=3 strides=2 padding=valid inputs=stem\n"
    "conv2d name=d filters=8 kernel_size=3 dilation_rate=2 padding=same inputs=stem\n"
    "max_pooling2d name=mp pool_size=2 inputs=stem\n"
    "conv2d name=e filters=8 kernel_size=3 strides=2 padding=valid inputs=ra\n"
    "conv2d name=f filters=8 kernel_size=1 strides=2 inputs=ra\n"
    "global_average_pooling2d name=g1 inputs=v\n"
    "global_average_pooling2d name=g2 inputs=d\n"
    "global_average_pooling2d name=g3 inputs=mp\n"
    "global_average_pooling2d name=g4 inputs=e\n"
    "global_average_pooling2d name=g5 inputs=f\n"
    "add name=out inputs=g1,g2,g3,g4,g5\n"
    "dense units=4 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

/* Two copies of `text` from one seed, the second summing apart; N samples, the first copy on
 * `threads` threads and the second on one: the loss and every gradient of a training step, then
 * the weights after three steps. Checks that conv2d `adder` adds in place where want_in_place
 * (its adds_dx: on the paths where the kernel adds as fast as it writes). With `alone` (no other
 * layer sums apart: the in_place graph), also that the first copy wrote no temporary gradient
 * where it added in place, and one where not, and that g's images took the gathers (fewer
 * multiply-adds than dense). Returns whether the sums were made in place. */
static bool compare_graph_in_place(const char *text, const char *adder, bool alone, int64_t N,
                                   int threads, bool want_in_place)
{
    fv_model *a = fv_model_parse_string(text, "a.fv"), *b = fv_model_parse_string(text, "b.fv");
    float *x = NULL;
    int32_t *labels = NULL;
    bool added = false;
    CHECK(a && b);
    if (!a || !b) goto done;
    fv__model_set_dx_add(b, false);
    CHECK_OK(fv__model_ensure_weights(a, 5));
    CHECK_OK(fv__model_ensure_weights(b, 5));
    x = random_floats(N * fv_model_input_size(a), 17, -1.0f, 1.0f);
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
    const int gi = layer_index(a, adder);
    CHECK(gi >= 0 && a->ngbuf > a->gtemp[gi]);
    if (gi < 0 || a->ngbuf <= a->gtemp[gi]) goto done;
    const fv_layer *g = &a->layers[gi];
    added = g->kind->adds_dx(g, 0);
    CHECK(added || !want_in_place);
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
        if (mode == 0 && alone) {
            CHECK(isnan(a->gbuf[a->gtemp[gi]][0]) == added); /* no sum made apart */
            CHECK(!isnan(b->gbuf[b->gtemp[gi]][0]));         /* the reference made them */
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
    return added;
}

static bool compare_in_place(int64_t N, int threads, bool want_in_place)
{
    return compare_graph_in_place(in_place, "g", true, N, threads, want_in_place);
}

TEST(in_place_sums_equal_sums_made_apart)
{
    compare_in_place(1, 1, false);
    compare_in_place(13, 1, false);
}

TEST(in_place_sums_on_two_threads_equal_sums_apart_on_one)
{
    compare_in_place(40, 2, false);
}

TEST(in_place_sums_on_every_kernel_path)
{
    /* every path this CPU has, and the AVX-512 convolution tiles compiled for AVX2 (where the
     * sums are made in place on AVX2 machines too) */
    const char *paths[] = {"generic", "avx2", "avx512"};
    int ran = 0, added = 0;
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        if (fv_set_kernel_path(paths[p]) != FV_OK) continue; /* not on this CPU */
        added += compare_in_place(21, 2, strcmp(paths[p], "avx512") == 0);
        ran++;
    }
    CHECK_OK(fv_set_kernel_path("auto"));
    if (fv__conv_path_supported(FV__GEMM_WIDE_ON_AVX2)) {
        fv__conv_force_path(FV__GEMM_WIDE_ON_AVX2);
        added += compare_in_place(21, 2, true);
        fv__conv_force_path(-1);
    }
    CHECK(ran >= 1);
    /* with AVX2, some path added in place (without, every sum was made apart, checked above) */
    CHECK(added > 0 || !fv__conv_path_supported(FV__GEMM_WIDE_ON_AVX2));
}

TEST(in_place_sums_with_three_readers_and_valid_padding)
{
    /* the wide graph on the path this CPU runs and, where the CPU has AVX2, with the AVX-512 tiles
     * compiled for AVX2 (the sums in place), on one and two threads; v and e add in place there */
    compare_graph_in_place(in_place_wide, "v", false, 9, 1, false);
    compare_graph_in_place(in_place_wide, "e", false, 10, 2, false);
    if (fv__conv_path_supported(FV__GEMM_WIDE_ON_AVX2)) {
        fv__conv_force_path(FV__GEMM_WIDE_ON_AVX2);
        compare_graph_in_place(in_place_wide, "v", false, 9, 2, true);
        compare_graph_in_place(in_place_wide, "a", false, 6, 1, true);
        compare_graph_in_place(in_place_wide, "e", false, 10, 2, true);
        fv__conv_force_path(-1);
    }
}

/* Which convolutions pair with the BatchNormalization that alone reads their output
 * (fv_bn_pair): c0 (a bias) and c1 (a ReLU of its own: the sums are of its output) with the layer
 * after them; c1's reader is frozen (its moving statistics apply: nothing taken or left); c2's
 * output is read twice, bn3 reads an Add and bn4 a dense layer: no pair. c3 and c5 take their
 * BatchNormalization's sums, but keep its input gradient apart: c4 runs between c3 and bn5, and
 * c5 reads its group's skip (a5), whose gradient holds what bn6's input gradient reads. Every
 * result is the unfused model's bit for bit (compare), on one and two threads. */
static const char *sums_cases = "input shape=8,6,3\n"
                                "conv2d name=c0 filters=5 kernel_size=3 padding=same\n"
                                "batch_normalization name=bn0\n"
                                "relu name=r0\n"
                                "conv2d name=c1 filters=5 kernel_size=3 activation=relu\n"
                                "batch_normalization name=bn1 trainable=false\n"
                                "conv2d name=c2 filters=5 kernel_size=1\n"
                                "batch_normalization name=bn2\n"
                                "add name=a2 inputs=bn2,c2\n"
                                "batch_normalization name=bn3\n"
                                "conv2d name=c3 filters=4 kernel_size=3 padding=same\n"
                                "conv2d name=c4 filters=4 kernel_size=1 inputs=bn3\n"
                                "batch_normalization name=bn5 inputs=c3\n"
                                "add name=a5 inputs=bn5,c4\n"
                                "conv2d name=c5 filters=4 kernel_size=3 padding=same\n"
                                "batch_normalization name=bn6\n"
                                "add name=a6 inputs=bn6,a5\n"
                                "relu name=r6\n"
                                "flatten\n"
                                "dense name=d units=6\n"
                                "batch_normalization name=bn4\n"
                                "dense units=3 activation=softmax\n"
                                "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

static int64_t sums_taken(const fv_model *m, const char *producer)
{
    return m->sums[layer_index(m, producer)].taken;
}

static int64_t dx_left(const fv_model *m, const char *producer)
{
    return m->sums[layer_index(m, producer)].left;
}

/* Forward passes whose BatchNormalization (paired with `producer`) left its output to `reader`. */
static int64_t y_left(const fv_model *m, const char *producer, const char *reader)
{
    const int p = layer_index(m, producer), q = layer_index(m, reader);
    return p >= 0 && q >= 0 && m->fuse_y[q] == p ? m->sums[p].normed : -1;
}

TEST(convolutions_do_the_passes_of_their_batch_normalization)
{
    for (int threads = 1; threads <= 2; threads++) {
        fv_model *m = NULL;
        compare(sums_cases, 21, threads, &m); /* a loss and gradient, inference, three steps */
        if (!m) return;
        CHECK(m->fuse_sums[layer_index(m, "c0")] == layer_index(m, "bn0"));
        CHECK(m->fuse_sums[layer_index(m, "c1")] == layer_index(m, "bn1"));
        CHECK(m->fuse_sums[layer_index(m, "c2")] == -1);
        CHECK(m->fuse_sums[layer_index(m, "c3")] == layer_index(m, "bn5"));
        CHECK(m->fuse_sums[layer_index(m, "c4")] == -1);
        CHECK(m->fuse_sums[layer_index(m, "c5")] == layer_index(m, "bn6"));
        CHECK(m->fuse_sums[layer_index(m, "d")] == -1);
        CHECK(m->fuse_dx[layer_index(m, "c0")] == layer_index(m, "r0"));
        CHECK(m->fuse_dx[layer_index(m, "c1")] == layer_index(m, "bn1"));
        CHECK(m->fuse_dx[layer_index(m, "c3")] == -1);
        CHECK(m->fuse_dx[layer_index(m, "c5")] == -1);
        /* the training passes' (the gradient in inference mode computes its own) */
        CHECK(sums_taken(m, "c0") == 4 && dx_left(m, "c0") == 4);
        CHECK(sums_taken(m, "c1") == 0 && dx_left(m, "c1") == 0);
        CHECK(sums_taken(m, "c3") == 4 && dx_left(m, "c3") == 0);
        CHECK(sums_taken(m, "c5") == 4 && dx_left(m, "c5") == 0);
        /* every forward pass of compare's (the inference one too, and frozen bn1's) leaves the
         * BatchNormalization's output to the convolution reading it first; none where that is an
         * Add (a5) or a flatten */
        CHECK(y_left(m, "c0", "c1") == 5 && y_left(m, "c1", "c2") == 5);
        CHECK(m->sums[layer_index(m, "c3")].normed == 0 &&
              m->sums[layer_index(m, "c5")].normed == 0);
        fv_model_free(m);
    }
    fv_model *m = NULL;
    compare(resnet, 19, 2, &m);
    if (!m) return;
    const char *convs[] = {"stem", "c1", "c2", "c3", "c4", "proj"};
    for (size_t k = 0; k < sizeof convs / sizeof *convs; k++)
        CHECK(sums_taken(m, convs[k]) == 4 && dx_left(m, convs[k]) == 4);
    /* r1 is read by c3 first, then by proj (which finds it written); bn4's first reader is an Add,
     * proj_bn's group's a pooling */
    CHECK(y_left(m, "stem", "c1") == 5 && y_left(m, "c1", "c2") == 5 &&
          y_left(m, "c2", "c3") == 5 && y_left(m, "c3", "c4") == 5);
    CHECK(m->fuse_y[layer_index(m, "proj")] == -1);
    CHECK(m->sums[layer_index(m, "c4")].normed == 0 && m->sums[layer_index(m, "proj")].normed == 0);
    /* precision=bf16: the convolutions' bf16 forward and backward gathers with the pairs (a CPU
     * without bf16 multiplies refuses the precision: nothing to compare there) */
    const size_t len = strlen(resnet);
    char *bf16 = strcmp(fv_gemm_bf16_path(), "emulated") != 0 ? malloc(len + 32) : NULL;
    if (bf16) {
        memcpy(bf16, resnet, len - 1); /* the compile line without its newline */
        strcpy(bf16 + len - 1, " precision=bf16\n");
        compare(bf16, 19, 2, NULL);
        free(bf16);
    }
    fv__model_set_fusion(m, false); /* the unfused plan pairs nothing */
    float *x = random_floats(3 * fv_model_input_size(m), 9, -1.0f, 1.0f);
    int32_t labels[3] = {0, 1, 2};
    fv_targets t[1] = {{.labels = labels}};
    const float *xs[1] = {x};
    double loss = 0;
    CHECK_OK(fv__model_train_step_heads(m, xs, t, 3, &loss, NULL));
    for (int i = 0; i < fv_model_layer_count(m); i++)
        CHECK(m->fuse_sums[i] == -1 && m->fuse_dx[i] == -1 && m->fuse_y[i] == -1 &&
              m->sums[i].taken == 0 && m->sums[i].left == 0 && m->sums[i].normed == 0);
    free(x);
    fv_model_free(m);
}

/* A pair (c, bn) whose BatchNormalization's group has an Add (skip s) and whose convolution reads
 * u, where s and u are both read again after the group (cat): in the backward, the group's
 * gradient through the ReLU (read by bn's input gradient) and c's input gradient are both
 * temporaries, summed into s's and u's afterwards. c has more input than output channels, so its
 * input gradient of the first images covers the gradient of later ones. */
static const char *pair_temps = "input shape=6,5,3\n"
                                "conv2d name=s filters=4 kernel_size=3 padding=same\n"
                                "conv2d name=u filters=9 kernel_size=1\n"
                                "conv2d name=c filters=4 kernel_size=3 padding=same\n"
                                "batch_normalization name=bn\n"
                                "add name=a inputs=bn,s\n"
                                "relu name=r\n"
                                "concatenate name=cat inputs=r,s,u\n"
                                "global_average_pooling2d\n"
                                "dense units=3 activation=softmax\n"
                                "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

TEST(a_pair_whose_gradients_are_temporaries_equals_unfused)
{
    for (int threads = 1; threads <= 3; threads++) {
        fv_model *m = NULL;
        compare(pair_temps, 23, threads, &m);
        if (!m) return;
        CHECK(grouped(m, "r", "bn", "a"));
        CHECK(m->fuse_sums[layer_index(m, "c")] == layer_index(m, "bn"));
        fv_model_free(m);
    }
}

/* BatchNormalizations next to convolutions of other geometries and settings: r0 (a group's ReLU)
 * read first by q1 (3×3, stride 2, valid) and later by a max-pool; bn1 (momentum 0.5) is a model
 * output read by q2 (dilated): its output is not left to q2; bn2 frozen, without scale or center,
 * read by q3 (1×1); c4 frozen, with a ReLU of its own, before bn4; q5 reads bn4 and is read by bn5
 * (both sides of pairs at once); r5 read by a depthwise convolution and bn6 by a transposed one,
 * each read by a BatchNormalization: no pairs. */
static const char *pair_geometries =
    "input shape=11,9,3\n"
    "conv2d name=c0 filters=6 kernel_size=3 padding=same\n"
    "batch_normalization name=bn0\n"
    "relu name=r0\n"
    "conv2d name=q1 filters=6 kernel_size=3 strides=2 padding=valid\n"
    "batch_normalization name=bn1 momentum=0.5\n"
    "conv2d name=q2 filters=5 kernel_size=3 dilation_rate=2 padding=same\n"
    "batch_normalization name=bn2 trainable=false scale=false center=false\n"
    "conv2d name=q3 filters=5 kernel_size=1\n"
    "conv2d name=c4 filters=4 kernel_size=3 padding=same activation=relu trainable=false\n"
    "batch_normalization name=bn4\n"
    "conv2d name=q5 filters=4 kernel_size=3 strides=2 padding=same\n"
    "batch_normalization name=bn5\n"
    "relu name=r5\n"
    "depthwise_conv2d name=dw kernel_size=3 padding=same\n"
    "batch_normalization name=bn6\n"
    "conv2d_transpose name=tr filters=3 kernel_size=2 strides=2\n"
    "batch_normalization name=bn7\n"
    "max_pooling2d name=mp pool_size=2 inputs=r0\n"
    "global_average_pooling2d name=g1 inputs=mp\n"
    "global_average_pooling2d name=g2 inputs=r5\n"
    "global_average_pooling2d name=g3 inputs=bn7\n"
    "concatenate name=cat inputs=g1,g2,g3\n"
    "dense name=head units=3 activation=softmax\n"
    "model outputs=head,bn1\n"
    "compile loss=head:sparse_categorical_crossentropy,bn1:mean_squared_error optimizer=adam\n";

TEST(pairs_with_other_geometries_and_outputs_equal_unfused)
{
    for (int threads = 1; threads <= 3; threads++) {
        fv_model *m = NULL;
        compare(pair_geometries, threads == 3 ? 1 : 17, threads, &m);
        if (!m) return;
        CHECK(m->fuse_sums[layer_index(m, "c0")] == layer_index(m, "bn0"));
        CHECK(m->fuse_sums[layer_index(m, "q1")] == layer_index(m, "bn1"));
        CHECK(m->fuse_sums[layer_index(m, "q5")] == layer_index(m, "bn5"));
        CHECK(m->fuse_y[layer_index(m, "q1")] == layer_index(m, "c0"));
        CHECK(m->fuse_y[layer_index(m, "q2")] == -1); /* bn1 is a model output */
        CHECK(m->fuse_y[layer_index(m, "q3")] == layer_index(m, "q2"));
        CHECK(m->fuse_y[layer_index(m, "q5")] == layer_index(m, "c4"));
        CHECK(m->fuse_sums[layer_index(m, "dw")] == -1 && m->fuse_sums[layer_index(m, "tr")] == -1);
        CHECK(m->sums[layer_index(m, "c4")].left > 0); /* frozen: its input gradient still */
        fv_model_free(m);
    }
    compare(resnet, 23, 3, NULL);
    compare(sums_cases, 5, 3, NULL);
}

/* A training plan for N in place, then shorter batches on it: a training step's loss and gradients
 * on n < N samples, fv_model_evaluate (fit's validation: the pass runs the plan's pairs in
 * inference mode) and fv_model_predict with a batch size that leaves a short last batch, and a
 * batch of 1: the unfused model's bits. */
static void compare_short(const char *text, int64_t N, int64_t n, int64_t batch)
{
    fv_model *a = fv_model_parse_string(text, "a.fv"), *b = fv_model_parse_string(text, "b.fv");
    const int64_t in = a ? fv_model_input_size(a) : 0;
    float *x = random_floats(N * in, 41, -1.0f, 1.0f);
    int32_t *labels = malloc((size_t)N * sizeof(int32_t));
    fv_dataset *d = NULL;
    float *pa = NULL, *pb = NULL;
    CHECK(a && b && labels);
    if (!a || !b || !labels) goto done;
    for (int64_t i = 0; i < N; i++)
        labels[i] = (int32_t)(i % 3);
    int64_t dims[4];
    const int rank = fv_model_input_shape(a, 0, dims);
    d = fv_dataset_from_f32(N, rank, dims, x, labels);
    CHECK(d != NULL);
    if (!d) goto done;
    fv__model_set_fusion(b, false);
    CHECK_OK(fv__model_ensure_weights(a, 7));
    CHECK_OK(fv__model_ensure_weights(b, 7));
    fv_targets t[1] = {{.labels = labels}};
    const float *xs[1] = {x};
    fv_model *ms[2] = {a, b};
    double loss[2][4] = {{0}};
    const int64_t out = fv_model_output_size(a);
    pa = malloc((size_t)(N * out) * sizeof(float)), pb = malloc((size_t)(N * out) * sizeof(float));
    CHECK(pa && pb);
    if (!pa || !pb) goto done;
    for (int k = 0; k < 2; k++) {
        fv_model *m = ms[k];
        CHECK_OK(fv__model_train_step_heads(m, xs, t, N, &loss[k][0], NULL)); /* plans for N */
        CHECK_OK(fv__model_loss_and_grad_heads(m, xs, t, n, true, &loss[k][1], NULL));
        CHECK_OK(fv__model_loss_and_grad_heads(m, xs, t, 1, true, &loss[k][2], NULL));
        CHECK_OK(fv_model_evaluate(m, d, batch, &loss[k][3], NULL));
        CHECK(!m->plan_lean);
        CHECK_OK(fv_model_predict(m, d, batch, k ? pb : pa));
    }
    CHECK(memcmp(loss[0], loss[1], sizeof loss[0]) == 0);
    same_floats("predictions", pa, pb, N * out);
    CHECK_OK(fv__model_train_step_heads(a, xs, t, n, &loss[0][0], NULL));
    CHECK_OK(fv__model_train_step_heads(b, xs, t, n, &loss[1][0], NULL));
    CHECK(memcmp(&loss[0][0], &loss[1][0], sizeof loss[0][0]) == 0);
    same_floats("weights", a->weights, b->weights, a->nweights);
done:
    free(pa), free(pb);
    fv_dataset_free(d);
    free(x), free(labels);
    fv_model_free(a);
    fv_model_free(b);
}

TEST(short_batches_on_a_training_plan_equal_unfused)
{
    compare_short(resnet, 13, 6, 5);
    compare_short(sums_cases, 11, 4, 3);
}

/* A GAN whose discriminator has convolutions paired with BatchNormalizations (d1 → bn1, whose
 * output d2 reads first; d2 → bn2): two alternating steps (fv__gan_step: the pass on real images
 * runs the discriminator's layers one by one, outside the plan's pairs) give the unfused model's
 * losses and weights bit for bit. */
TEST(a_gan_with_paired_discriminator_layers_equals_unfused)
{
    static const char *text =
        "input shape=3\n"
        "dense units=32 use_bias=false\n"
        "batch_normalization\n"
        "relu\n"
        "reshape target_shape=4,4,2\n"
        "conv2d_transpose filters=1 kernel_size=2 strides=2 padding=same activation=tanh "
        "name=generated\n"
        "conv2d name=d1 filters=4 kernel_size=3 padding=same\n"
        "batch_normalization name=bn1\n"
        "conv2d name=d2 filters=4 kernel_size=3 strides=2 padding=same\n"
        "batch_normalization name=bn2\n"
        "leaky_relu\n"
        "flatten\n"
        "dense units=1 activation=sigmoid name=realness\n"
        "compile loss=binary_crossentropy optimizer=adam learning_rate=0.01 beta_1=0.5\n"
        "fit gan=generated batch_size=6\n";
    fv_model *m[2] = {fv_model_parse_string(text, "a.fv"), fv_model_parse_string(text, "b.fv")};
    fv__gan_state st[2];
    memset(st, 0, sizeof st);
    float *z = random_floats(6 * 3, 51, -1.0f, 1.0f), *real = random_floats(6 * 64, 52, -1, 1);
    double dl[2] = {0}, gl[2] = {0};
    CHECK(m[0] && m[1]);
    if (!m[0] || !m[1]) goto done;
    fv__model_set_fusion(m[1], false);
    for (int k = 0; k < 2; k++) {
        CHECK_OK(fv__model_ensure_weights(m[k], 5));
        CHECK_OK(fv__gan_init(m[k], 6, &st[k]));
    }
    for (int step = 0; step < 2; step++)
        for (int k = 0; k < 2; k++)
            CHECK_OK(fv__gan_step(m[k], &st[k], z, real, 6, &dl[k], &gl[k]));
    CHECK(memcmp(dl, dl + 1, sizeof *dl) == 0 && memcmp(gl, gl + 1, sizeof *gl) == 0);
    same_floats("weights", m[0]->weights, m[1]->weights, m[0]->nweights);
    CHECK(m[0]->fuse_sums[layer_index(m[0], "d1")] == layer_index(m[0], "bn1"));
    CHECK(m[0]->fuse_y[layer_index(m[0], "d2")] == layer_index(m[0], "d1"));
    CHECK(m[0]->sums[layer_index(m[0], "d1")].taken > 0);
done:
    for (int k = 0; k < 2; k++) {
        fv__gan_free(&st[k]);
        fv_model_free(m[k]);
    }
    free(z), free(real);
}

/* Stride-1 readers (issue 15's sixth round): `stem` (13×11, 5 channels into 8 filters; 8, so that
 * g's backward can take the gathers)
 * is read by c1 (3×3, same) and the Add s, as the ResNet example's stem_relu by s1_conv1 and
 * s1_add: s writes stem's gradient first, c1 adds its own. s is read by g (3×3, same, behind a 2×2
 * max-pool: its images' gradient mostly zero, so the gathers), v (2×2, valid) and gs (written
 * first, in the reverse order): v then g add in place. */
static const char *in_place_s1 =
    "input shape=13,11,5\n"
    "conv2d name=stem filters=8 kernel_size=3 padding=same activation=relu\n"
    "conv2d name=c1 filters=8 kernel_size=3 padding=same activation=relu inputs=stem\n"
    "conv2d name=c2 filters=8 kernel_size=3 padding=same\n"
    "add name=s inputs=stem,c2\n"
    "conv2d name=g filters=8 kernel_size=3 padding=same inputs=s\n"
    "max_pooling2d name=mp pool_size=2\n"
    "global_average_pooling2d name=gp\n"
    "conv2d name=v filters=8 kernel_size=2 padding=valid inputs=s\n"
    "global_average_pooling2d name=gv\n"
    "global_average_pooling2d name=gs inputs=s\n"
    "add name=out inputs=gp,gv,gs\n"
    "dense units=4 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

TEST(in_place_sums_at_stride_1_on_every_kernel_path)
{
    /* the forward kernels write each image's gradient in a thread's buffer and add it, on every
     * path: the same bits as the sum made apart, 1 and 2 threads, odd and even batches */
    const char *paths[] = {"generic", "avx2", "avx512"};
    int ran = 0;
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        if (fv_set_kernel_path(paths[p]) != FV_OK) continue; /* not on this CPU */
        CHECK(compare_graph_in_place(in_place_s1, "g", true, 11, 2, true));
        CHECK(compare_graph_in_place(in_place_s1, "v", false, 8, 1, true));
        CHECK(compare_graph_in_place(in_place_s1, "c1", false, 17, 2, true));
        ran++;
    }
    CHECK_OK(fv_set_kernel_path("auto"));
    CHECK(ran >= 1);
}

/* ---- identity layers aliased to their input (run.c, fv_layer_kind.identity) ------------------ */

static void unalias(fv_model *m)
{
    fv__model_set_alias(m, false);
}

static int skipped(const fv_model *m)
{
    int k = 0;
    for (int i = 0; i < m->nlayers; i++)
        k += m->skip[i];
    return k;
}

/* A model, and the layers its training and inference plans treat (aliased, chained). */
typedef struct plan_case {
    const char *text;
    int train, infer;
} plan_case;

/* compare_off() of a model's copy with `off` applied, on one and two threads; then that count()
 * gives c->train for the first copy's training plan and c->infer for its inference plan, 0 for the
 * second's, that the first's training plan is smaller when `smaller`, and that both predict the
 * same bits. */
static void off_equal(const plan_case *c, void (*off)(fv_model *), int (*count)(const fv_model *),
                      bool smaller)
{
    enum { N = 7 };
    const char *text = c->text;
    const int train = c->train, infer = c->infer;
    for (int threads = 1; threads <= 2; threads++) {
        fv_model *a = NULL;
        compare_off(text, N, threads, off, &a);
        if (!a) continue;
        fv_model *b = fv_model_parse_string(text, "u.fv");
        CHECK(b != NULL);
        if (!b) {
            fv_model_free(a);
            continue;
        }
        off(b);
        CHECK_OK(fv__model_ensure_weights(b, 7));
        const int64_t in = fv_model_input_size(a), out = fv_model_output_size(a);
        float *x = random_floats(N * in, 31, -1.0f, 1.0f);
        int32_t *labels = calloc(N, sizeof *labels);
        fv_targets t = {.labels = labels};
        double L;
        CHECK_OK(fv__model_train_step(b, x, &t, N, &L)); /* b's full plan, for its size */
        CHECK(count(a) == train && count(b) == 0);
        CHECK(!smaller || a->block_bytes < b->block_bytes);
        memcpy(b->weights, a->weights, (size_t)a->nweights * sizeof(float));
        int64_t dims[4];
        const int rank = fv_model_input_shape(a, 0, dims);
        fv_dataset *data = fv_dataset_from_f32(N, rank, dims, x, NULL);
        float *pa = malloc((size_t)(N * out) * sizeof(float));
        float *pb = malloc((size_t)(N * out) * sizeof(float));
        fv__model_plan_reset(a); /* fresh plans: predict's lean ones */
        fv__model_plan_reset(b);
        CHECK_OK(fv_model_predict(a, data, N, pa));
        CHECK_OK(fv_model_predict(b, data, N, pb));
        CHECK(a->plan_lean && count(a) == infer && count(b) == 0);
        same_floats("prediction", pa, pb, N * out);
        fv_dataset_free(data);
        free(x), free(labels), free(pa), free(pb);
        fv_model_free(a);
        fv_model_free(b);
    }
}

/* Flatten and reshape, and dropout and GaussianNoise at inference or at 0, take their input's
 * buffer (and in training its gradient's) where they are its only reader: the loss, outputs,
 * gradients, weights after three steps (dropout drawing in training) and predictions are those of
 * the layers' own copies bit for bit, on one and two threads, with smaller plans. Not aliased: a
 * flatten of a tensor that two layers read, and one of the model's input; aliased: a model output,
 * and chains of them. */
TEST(identity_layers_alias_their_input_with_the_same_bits)
{
    static const plan_case cases[] = {
        /* train, infer: the aliased layers */
        {"input shape=6,6,2\nconv2d filters=4 kernel_size=3 activation=relu\n"
         "maxpool2d pool_size=2\ndropout rate=0.25\nflatten\ndense units=5 "
         "activation=relu\ndropout rate=0.5\n"
         "dense units=3 activation=softmax\n"
         "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
         1, 3},
        {"input shape=4,4,2\nconv2d name=c filters=3 kernel_size=3 padding=same\nflatten name=f1\n"
         "flatten name=f2 inputs=c\nadd name=a inputs=f1,f2\ndense name=d units=6\n"
         "reshape name=r target_shape=2,3\ndropout name=z rate=0\n"
         "gaussian_noise name=g stddev=0\nflatten name=o\ndense units=3 activation=softmax\n"
         "compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1\n",
         4, 4},
        {"input shape=1,2,3\nreshape target_shape=6\ndense units=4\n"
         "reshape name=out target_shape=1,2,2\n"
         "compile loss=mse optimizer=sgd learning_rate=0.1\n",
         1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        off_equal(&cases[k], unalias, skipped, true);
}

/* ---- chains: a convolution runs the layers after it sample by sample (run.c, fv_chain) --------
 */

static void unchain(fv_model *m)
{
    fv__model_set_chains(m, false);
}

static int chained(const fv_model *m)
{
    int k = 0;
    for (int i = 0; i < m->nlayers; i++)
        k += m->chain_of[i] >= 0;
    return k;
}

/* A conv2d runs max-pooling and dropout after it on each image as it writes it: the loss,
 * outputs, gradients, weights after three steps (dropout drawing in training) and predictions are
 * those of the layers' own passes bit for bit, on one and two threads. The seed's shape (the
 * second convolution's chain writes while the first one's output is still read: an inference plan
 * must not give the chain's outputs that buffer; here each image's pooled output is larger than
 * its input, so even one thread would overwrite images not yet read), a chain of three, a chain
 * cut where a tensor has two readers, and a max-pooling that is the model's output. */
TEST(chains_run_sample_by_sample_with_the_same_bits)
{
    static const plan_case cases[] = {
        /* train, infer: the chained layers */
        {"input shape=8,8,1\nconv2d filters=1 kernel_size=3 activation=relu\n"
         "conv2d filters=16 kernel_size=3 activation=relu\nmaxpool2d pool_size=2\n"
         "dropout rate=0.25\nflatten\ndense units=5 activation=relu\ndropout rate=0.5\n"
         "dense units=3 activation=softmax\n"
         "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
         2, 1},
        {"input shape=9,7,3\nconv2d filters=5 kernel_size=3 padding=same\n"
         "maxpool2d pool_size=2 strides=1\ndropout rate=0.3\nmaxpool2d pool_size=2\n"
         "conv2d name=c filters=4 kernel_size=2 activation=relu\nmaxpool2d name=p pool_size=2\n"
         "dropout name=z rate=0.5 inputs=c\nflatten name=f1 inputs=p\nflatten name=f2 inputs=z\n"
         "concatenate inputs=f1,f2\ndense units=3 activation=softmax\n"
         "compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1\n",
         3, 1},
        {"input shape=6,5,2\nconv2d filters=3 kernel_size=2 activation=relu\n"
         "maxpool2d pool_size=2\n"
         "compile loss=mse optimizer=sgd learning_rate=0.1\n",
         1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        off_equal(&cases[k], unchain, chained, false);
}

/* ---- backward chains: the convolution runs its chain's backward sample by sample (fv_bchain) ----
 */

static void unchain_backward(fv_model *m)
{
    fv__model_set_backward_chains(m, false);
}

static int bchained(const fv_model *m)
{
    int k = 0;
    for (int i = 0; m->bchain_of && i < m->nlayers; i++)
        k += m->bchain_of[i] >= 0;
    return k;
}

/* A conv2d runs the backward of its chain (max-pooling, dropout) on each image just before it
 * reads that image's gradient, a max-pooling right after it applying its ReLU's mask: the loss,
 * outputs, gradients, weights after three steps (dropout drawing) and predictions are those of the
 * layers' own passes bit for bit, on one and two threads, at fp32 and (where the CPU multiplies
 * bf16) at bf16. The seed's shape; a convolution whose input gradient per image is larger than
 * the chain's gradients per image (a plan that gave it a chain member's buffer would overwrite
 * images not yet read); a max-pooling whose windows overlap (the scatter, masked) after a
 * convolution without a ReLU (tanh: no mask to apply) and one after a linear convolution, a
 * pooling with padding; dropout alone after a ReLU (its mask left to the convolution); a chain
 * whose producer needs no input gradient; a pooling that is the model's output. */
TEST(backward_chains_run_sample_by_sample_with_the_same_bits)
{
    static const plan_case cases[] = {
        /* train: the layers whose backward the convolution runs; infer: none */
        {"input shape=8,8,1\nconv2d filters=1 kernel_size=3 activation=relu\n"
         "conv2d filters=16 kernel_size=3 activation=relu\nmaxpool2d pool_size=2\n"
         "dropout rate=0.25\nflatten\ndense units=5 activation=relu\ndropout rate=0.5\n"
         "dense units=3 activation=softmax\n"
         "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
         2, 0},
        {"input shape=9,8,2\nconv2d filters=12 kernel_size=3 activation=relu\n"
         "conv2d filters=3 kernel_size=3 activation=relu\nmaxpool2d pool_size=2\n"
         "dropout rate=0.3\nflatten\ndense units=3 activation=softmax\n"
         "compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1\n",
         2, 0},
        {"input shape=9,7,3\nconv2d filters=5 kernel_size=3 padding=same activation=tanh\n"
         "maxpool2d pool_size=3 strides=2\nconv2d filters=4 kernel_size=2\n"
         "maxpool2d pool_size=2 padding=same\ndropout rate=0.5\n"
         "conv2d filters=6 kernel_size=1 activation=relu\ndropout rate=0.2\n"
         "flatten\ndense units=3 activation=softmax\n"
         "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
         4, 0},
        {"input shape=6,5,2\nconv2d filters=3 kernel_size=2 activation=relu\n"
         "maxpool2d pool_size=2 strides=1\n"
         "compile loss=mse optimizer=sgd learning_rate=0.1\n",
         1, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        off_equal(&cases[k], unchain_backward, bchained, false);
        /* bf16 (a CPU without bf16 multiplies refuses the precision: nothing to compare) */
        if (strcmp(fv_gemm_bf16_path(), "emulated") == 0) continue;
        const char *text = cases[k].text;
        const size_t len = strlen(text);
        char *bf16 = malloc(len + 32);
        if (!bf16) abort();
        memcpy(bf16, text, len - 1); /* the compile line without its newline */
        strcpy(bf16 + len - 1, " precision=bf16\n");
        const plan_case c = {bf16, cases[k].train, cases[k].infer};
        off_equal(&c, unchain_backward, bchained, false);
        free(bf16);
    }
}

/* compare_off() of `text` with backward chains on and off, at fp32 and (where the CPU multiplies
 * bf16) bf16, on every convolution path, at 7 samples and at 40 (16 chunks: several images a
 * chunk, so dense images wait in a group while a chained one is sparse), on 1 to 3 threads; the
 * plan chains at least expect_min layers. */
static void bchain_case(const char *text, int expect_min)
{
    const int64_t Ns[] = {7, 40};
    for (int bf = 0; bf < 2; bf++) {
        char *t = malloc(strlen(text) + 32);
        if (!t) abort();
        strcpy(t, text);
        if (bf) {
            if (strcmp(fv_gemm_bf16_path(), "emulated") == 0) {
                free(t);
                continue;
            }
            t[strlen(t) - 1] = 0;
            strcat(t, " precision=bf16\n");
        }
        for (int path = 0; path < FV__GEMM_NPATHS; path++)
            for (size_t k = 0; k < 2; k++)
                for (int threads = 1; threads <= 3; threads++) {
                    if (!fv__conv_path_supported((fv__gemm_path)path)) continue;
                    fv__conv_force_path(path);
                    fv_model *a = NULL;
                    compare_off(t, Ns[k], threads, unchain_backward, &a);
                    if (a) {
                        if (bchained(a) < expect_min) {
                            fprintf(stderr, "no chain (%d) in:\n%s\n", bchained(a), t);
                            CHECK(false);
                        }
                        fv_model_free(a);
                    }
                }
        fv__conv_force_path(-1);
        free(t);
    }
}

/* Backward chains on more shapes (a fresh reviewer's cases): a dense chain (fp32's group path and
 * its copy to the batch's buffer), a pooling after dropout (no mask to apply), other activations,
 * strided and dilated producers, a residual, a frozen producer with two heads, BatchNormalization
 * around chains, Winograd, 16-multiple filters (the AVX-512 scan). */
TEST(backward_chains_on_more_shapes_paths_and_batches)
{
    /* dense gradients: tanh conv, dropout only (fp32 dense path, group of images) */
    bchain_case("input shape=8,8,3\nconv2d filters=16 kernel_size=3 activation=tanh\n"
                "dropout rate=0.1\nflatten\ndense units=3 activation=softmax\n"
                "compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1\n",
                1);
    /* relu conv, pool 1 (every element a winner: dense), then dropout */
    bchain_case(
        "input shape=8,8,3\nconv2d filters=16 kernel_size=3 activation=relu\n"
        "maxpool2d pool_size=1\ndropout rate=0.1\nflatten\ndense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1\n",
        2);
    /* relu conv, dropout then overlapping pool */
    bchain_case("input shape=9,9,2\nconv2d filters=8 kernel_size=3 activation=relu\n"
                "dropout rate=0.3\nmaxpool2d pool_size=2 strides=1\nflatten\ndense units=3 "
                "activation=softmax\n"
                "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
                2);
    /* other activations */
    bchain_case("input shape=12,12,3\nconv2d filters=8 kernel_size=3 activation=elu\n"
                "maxpool2d pool_size=2\nconv2d filters=8 kernel_size=3 activation=sigmoid\n"
                "maxpool2d pool_size=2 strides=1\nflatten\ndense units=3 activation=softmax\n"
                "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
                2);
    /* strided and dilated producers */
    bchain_case(
        "input shape=24,24,3\nconv2d filters=8 kernel_size=3 strides=2 padding=same "
        "activation=relu\n"
        "maxpool2d pool_size=2\nconv2d filters=8 kernel_size=2 dilation_rate=2 activation=relu\n"
        "maxpool2d pool_size=2\nflatten\ndense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
        2);
    /* a residual: the producer's input read twice (dx_add / temporaries) */
    bchain_case(
        "input shape=8,8,3\nconv2d name=c1 filters=8 kernel_size=3 padding=same activation=relu\n"
        "conv2d name=c2 filters=8 kernel_size=3 padding=same activation=relu\n"
        "dropout name=d rate=0.2\nadd name=a inputs=c1,d\nmaxpool2d pool_size=2\n"
        "flatten\ndense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
        1);
    /* frozen producer, a chain member read by two layers and two heads */
    bchain_case(
        "input shape=8,8,3\nconv2d name=c1 filters=8 kernel_size=3 activation=relu "
        "trainable=false\n"
        "maxpool2d name=p pool_size=2\nflatten name=f\ndense name=head units=3 activation=softmax\n"
        "conv2d name=c2 filters=2 kernel_size=1 inputs=p\n"
        "model outputs=head,c2\n"
        "compile loss=head:sparse_categorical_crossentropy,c2:mean_squared_error optimizer=adam\n",
        1);
    /* batch normalization around chains */
    bchain_case(
        "input shape=10,10,3\nconv2d name=c0 filters=8 kernel_size=3 padding=same use_bias=false\n"
        "batch_normalization\nrelu\nconv2d filters=8 kernel_size=3 activation=relu\n"
        "maxpool2d pool_size=2\nbatch_normalization\nrelu\nconv2d filters=8 kernel_size=3 "
        "padding=same\n"
        "dropout rate=0.2\nglobal_average_pooling2d\ndense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=adam\n",
        2);
    /* winograd, no bias, stride-1 same producer */
    bchain_case(
        "input shape=10,10,3\nconv2d filters=16 kernel_size=3 padding=same use_bias=false "
        "activation=relu\n"
        "conv2d filters=16 kernel_size=3 padding=same activation=relu\nmaxpool2d pool_size=2\n"
        "dropout rate=0.4\nconv2d filters=16 kernel_size=3 padding=same activation=linear\n"
        "maxpool2d pool_size=2\nflatten\ndense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=adam conv_algorithm=winograd\n",
        3);
    /* 16-multiple filters (the AVX-512 scan), odd image sizes */
    bchain_case(
        "input shape=11,13,3\nconv2d filters=32 kernel_size=3 activation=relu\n"
        "maxpool2d pool_size=2\ndropout rate=0.25\nconv2d filters=48 kernel_size=2 "
        "activation=relu\n"
        "maxpool2d pool_size=3 strides=2 padding=same\nflatten\ndense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
        3);
}

static void gan_bchain_case(const char *text, int64_t zdim, int64_t img)
{
    fv_model *m[2] = {fv_model_parse_string(text, "a.fv"), fv_model_parse_string(text, "b.fv")};
    fv__gan_state st[2];
    memset(st, 0, sizeof st);
    float *z = random_floats(6 * zdim, 51, -1.0f, 1.0f), *real = random_floats(6 * img, 52, -1, 1);
    double dl[2] = {0}, gl[2] = {0};
    CHECK(m[0] && m[1]);
    if (!m[0] || !m[1]) {
        fprintf(stderr, "%s\n", fv_last_error());
        goto done;
    }
    fv__model_set_backward_chains(m[1], false);
    for (int k = 0; k < 2; k++) {
        CHECK_OK(fv__model_ensure_weights(m[k], 5));
        CHECK_OK(fv__gan_init(m[k], 6, &st[k]));
    }
    for (int step = 0; step < 3; step++)
        for (int k = 0; k < 2; k++)
            CHECK_OK(fv__gan_step(m[k], &st[k], z, real, 6, &dl[k], &gl[k]));
    CHECK(memcmp(dl, dl + 1, sizeof *dl) == 0 && memcmp(gl, gl + 1, sizeof *gl) == 0);
    same_floats("weights", m[0]->weights, m[1]->weights, m[0]->nweights);
    CHECK(bchained(m[0]) > 0 && bchained(m[1]) == 0);
done:
    for (int k = 0; k < 2; k++) {
        fv__gan_free(&st[k]);
        fv_model_free(m[k]);
    }
    free(z), free(real);
}

/* A GAN's steps (gan.c runs its own passes) with backward chains on and off: a discriminator with
 * a conv2d, max-pooling, dropout chain, and a generator whose last conv2d's chain runs into the
 * discriminator. */
TEST(gan_backward_chains_equal_unchained)
{
    gan_bchain_case(
        "input shape=3\ndense units=32\nrelu\nreshape target_shape=4,4,2\n"
        "conv2d_transpose filters=1 kernel_size=2 strides=2 padding=same activation=tanh "
        "name=generated\n"
        "conv2d name=d1 filters=8 kernel_size=3 padding=same activation=relu\n"
        "maxpool2d pool_size=2\ndropout rate=0.3\nflatten\n"
        "dense units=1 activation=sigmoid name=realness\n"
        "compile loss=binary_crossentropy optimizer=adam learning_rate=0.01 beta_1=0.5\n"
        "fit gan=generated batch_size=6\n",
        3, 64);
    /* the generator's last conv2d with its chain crossing into the discriminator */
    gan_bchain_case(
        "input shape=3\ndense units=32\nrelu\nreshape target_shape=4,4,2\n"
        "conv2d name=generated filters=2 kernel_size=1 activation=relu\n"
        "maxpool2d pool_size=2\ndropout rate=0.3\nflatten\n"
        "dense units=1 activation=sigmoid name=realness\n"
        "compile loss=binary_crossentropy optimizer=adam learning_rate=0.01 beta_1=0.5\n"
        "fit gan=generated batch_size=6\n",
        3, 32);
}

int main(void)
{
    RUN(planner_forms_the_resnet_groups);
    RUN(planner_declines_what_would_change_a_result);
    RUN(fused_equals_unfused_on_odd_shapes);
    RUN(fused_on_two_threads_equals_unfused_on_one);
    RUN(a_frozen_batch_normalization_with_an_add_fuses_and_equals_unfused);
    RUN(an_add_whose_other_input_needs_no_gradient_fuses_and_equals_unfused);
    RUN(forward_outside_training_writes_every_layer);
    RUN(fused_equals_unfused_on_every_kernel_path);
    RUN(batch_statistics_stay_exact_far_from_zero);
    RUN(batch_statistics_ignore_the_moving_mean);
    RUN(evaluation_on_a_training_plan_runs_the_groups);
    RUN(in_place_sums_equal_sums_made_apart);
    RUN(in_place_sums_on_two_threads_equal_sums_apart_on_one);
    RUN(in_place_sums_on_every_kernel_path);
    RUN(in_place_sums_with_three_readers_and_valid_padding);
    RUN(convolutions_do_the_passes_of_their_batch_normalization);
    RUN(pairs_with_other_geometries_and_outputs_equal_unfused);
    RUN(short_batches_on_a_training_plan_equal_unfused);
    RUN(a_gan_with_paired_discriminator_layers_equals_unfused);
    RUN(a_pair_whose_gradients_are_temporaries_equals_unfused);
    RUN(in_place_sums_at_stride_1_on_every_kernel_path);
    RUN(identity_layers_alias_their_input_with_the_same_bits);
    RUN(chains_run_sample_by_sample_with_the_same_bits);
    RUN(backward_chains_run_sample_by_sample_with_the_same_bits);
    RUN(backward_chains_on_more_shapes_paths_and_batches);
    RUN(gan_backward_chains_equal_unchained);
    return TEST_SUMMARY();
}
