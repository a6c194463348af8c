/* test_train.c — losses (values on hand-worked and Keras-documented cases, gradients against
 * finite differences, fused against the chain rule), optimizer steps against hand-computed
 * values, and the history: append, CSV write and read back, and every reader error.
 */
#include "train/train.h"

#include "test.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_OF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* ---- loss values: hand-worked, and the figures in Keras' own documentation ------------------- */

TEST(loss_names_are_keras_names)
{
    CHECK(fv__loss_from_name("categorical_crossentropy") == FV_LOSS_CATEGORICAL_CE);
    CHECK(fv__loss_from_name("sparse_categorical_crossentropy") == FV_LOSS_SPARSE_CATEGORICAL_CE);
    CHECK(fv__loss_from_name("binary_crossentropy") == FV_LOSS_BINARY_CE);
    CHECK(fv__loss_from_name("mean_squared_error") == FV_LOSS_MSE);
    CHECK(fv__loss_from_name("mse") == FV_LOSS_MSE);
    CHECK(fv__loss_from_name("MSE") == FV_LOSS_MSE);
    CHECK(fv__loss_from_name("mean_absolute_error") == FV_LOSS_MAE);
    CHECK(fv__loss_from_name("mae") == FV_LOSS_MAE);
    CHECK(fv__loss_from_name("crossentropy") == FV_LOSS_NONE);
    CHECK(fv__loss_from_name("") == FV_LOSS_NONE);
    CHECK(fv__loss_from_name(NULL) == FV_LOSS_NONE);
    CHECK(strcmp(fv__loss_name(FV_LOSS_MSE), "mean_squared_error") == 0);
    CHECK(strcmp(fv__loss_name(FV_LOSS_MAE), "mean_absolute_error") == 0);
    CHECK(strcmp(fv__loss_name(FV_LOSS_CATEGORICAL_CE), "categorical_crossentropy") == 0);
    CHECK(strcmp(fv__loss_name(FV_LOSS_SPARSE_CATEGORICAL_CE), "sparse_categorical_crossentropy") ==
          0);
    CHECK(strcmp(fv__loss_name(FV_LOSS_BINARY_CE), "binary_crossentropy") == 0);
    for (int k = FV_LOSS_CATEGORICAL_CE; k <= FV_LOSS_MAE; k++)
        CHECK(fv__loss_from_name(fv__loss_name((fv_loss_kind)k)) == (fv_loss_kind)k);
}

TEST(label_limit_is_two_for_one_unit_regression_and_binary)
{
    CHECK(fv__loss_label_limit(FV_LOSS_BINARY_CE, 1) == 2);
    CHECK(fv__loss_label_limit(FV_LOSS_MSE, 1) == 2);
    CHECK(fv__loss_label_limit(FV_LOSS_MAE, 1) == 2);
    CHECK(fv__loss_label_limit(FV_LOSS_CATEGORICAL_CE, 1) == 1);
    CHECK(fv__loss_label_limit(FV_LOSS_BINARY_CE, 10) == 10);
    CHECK(fv__loss_label_limit(FV_LOSS_SPARSE_CATEGORICAL_CE, 10) == 10);
}

/* keras.metrics.CategoricalCrossentropy docstring: [[0,1,0],[0,0,1]] vs
 * [[0.05,0.95,0],[0.1,0.8,0.1]] -> 1.1769392 = (-log 0.95 - log 0.1) / 2. */
TEST(categorical_ce_matches_keras_docs)
{
    const float y[] = {0.05f, 0.95f, 0.0f, 0.1f, 0.8f, 0.1f};
    const int32_t labels[] = {1, 2};
    const float onehot[] = {0, 1, 0, 0, 0, 1};
    fv_targets tl = {labels, NULL}, tv = {NULL, onehot};
    CHECK_CLOSE(fv__loss(FV_LOSS_CATEGORICAL_CE, y, &tl, 2, 3, false, NULL), 1.1769392, 1e-7, 0);
    CHECK_CLOSE(fv__loss(FV_LOSS_CATEGORICAL_CE, y, &tv, 2, 3, false, NULL), 1.1769392, 1e-7, 0);
    CHECK_CLOSE((-log(0.95) - log(0.1)) / 2, 1.1769392, 1e-7, 0);
}

/* tf.keras.backend.categorical_crossentropy docstring: identity targets against
 * [[.9,.05,.05],[.05,.89,.06],[.05,.01,.94]] -> [0.10536 0.11653 0.06188]. */
TEST(categorical_ce_per_sample_matches_keras_backend_docs)
{
    const float y[] = {.9f, .05f, .05f, .05f, .89f, .06f, .05f, .01f, .94f};
    const int32_t labels[] = {0, 1, 2};
    fv_targets t = {labels, NULL};
    double out[3];
    fv__loss_per_sample(FV_LOSS_CATEGORICAL_CE, y, &t, 3, 3, out);
    CHECK_CLOSE(out[0], 0.10536, 5e-6, 0);
    CHECK_CLOSE(out[1], 0.11653, 5e-6, 0);
    CHECK_CLOSE(out[2], 0.06188, 5e-6, 0);
    CHECK_CLOSE(out[0], -log(0.9), 1e-7, 0);
}

/* p = 1 is clipped to 1 - 1e-7 in float32 = 0.99999988: Keras' docstring gives 1.1920929e-07 for
 * categorical_crossentropy(a, a). p = 0 on the true class is clipped to 1e-7: -log(1e-7f). */
TEST(categorical_ce_clips_p0_and_p1)
{
    const float y1[] = {1, 0, 0}, y0[] = {0, 1, 0};
    const int32_t label[] = {0};
    fv_targets t = {label, NULL};
    float g[3] = {9, 9, 9};
    CHECK_CLOSE(fv__loss(FV_LOSS_CATEGORICAL_CE, y1, &t, 1, 3, false, NULL), 1.1920929e-07, 1e-13,
                0);
    CHECK_CLOSE(fv__loss(FV_LOSS_CATEGORICAL_CE, y0, &t, 1, 3, false, g), 16.118095639272223, 1e-9,
                0);
    /* the clip's gradient is zero outside [eps, 1 - eps]: autodiff of Keras' formula */
    CHECK(g[0] == 0 && g[1] == 0 && g[2] == 0);
    /* normalisation: Keras divides by the sum first, so scaled outputs give the same loss */
    const float y[] = {0.2f, 0.6f, 0.2f}, y2[] = {0.4f, 1.2f, 0.4f};
    const int32_t l1[] = {1};
    fv_targets t1 = {l1, NULL};
    CHECK_CLOSE(fv__loss(FV_LOSS_CATEGORICAL_CE, y2, &t1, 1, 3, false, NULL), -log(0.6), 1e-7, 0);
    CHECK_CLOSE(fv__loss(FV_LOSS_CATEGORICAL_CE, y, &t1, 1, 3, false, NULL), -log(0.6), 1e-7, 0);
}

/* Keras' SparseCategoricalCrossentropy docstring: [1, 2] vs the same outputs -> 1.177. TF clips
 * before renormalising, so the first sample is -log 0.95 + log(1 + 1e-7). */
TEST(sparse_ce_matches_keras_docs_and_tf_formula)
{
    const float y[] = {0.05f, 0.95f, 0.0f, 0.1f, 0.8f, 0.1f};
    const int32_t labels[] = {1, 2};
    fv_targets t = {labels, NULL};
    CHECK_CLOSE(fv__loss(FV_LOSS_SPARSE_CATEGORICAL_CE, y, &t, 2, 3, false, NULL),
                1.1769392443770346, 1e-9, 0);
    double out[2];
    fv__loss_per_sample(FV_LOSS_SPARSE_CATEGORICAL_CE, y, &t, 2, 3, out);
    CHECK_CLOSE(out[0], -log((double)0.95f) + log((double)0.05f + (double)0.95f + 1e-7), 1e-9, 0);
    CHECK_CLOSE(out[1], -log((double)0.1f) + log((double)0.1f + 0.8f + 0.1f), 1e-9, 0);
}

TEST(sparse_ce_clips_p0_and_p1)
{
    const float y0[] = {0, 1, 0}, y1[] = {1, 0, 0};
    const int32_t label[] = {0};
    fv_targets t = {label, NULL};
    float g[3] = {9, 9, 9};
    CHECK_CLOSE(fv__loss(FV_LOSS_SPARSE_CATEGORICAL_CE, y0, &t, 1, 3, false, g), 16.118095720062932,
                1e-9, 0);
    /* y_0 = 0 is clipped (zero gradient); y_1 = 1 too; y_2 = 0 too */
    CHECK(g[0] == 0 && g[1] == 0 && g[2] == 0);
    /* -log(0.99999988) + log(0.99999988 + 2e-7) */
    CHECK_CLOSE(fv__loss(FV_LOSS_SPARSE_CATEGORICAL_CE, y1, &t, 1, 3, false, NULL),
                2.0000000617907792e-07, 1e-13, 0);
}

/* keras.metrics.BinaryCrossentropy docstring: [1,0,1,0] vs [1,1,1,0] -> 3.833: the t = 0, p = 1
 * element costs -log(1 - 0.99999988 + 1e-7) = 15.333 (float32's clip bound), the rest ~0. */
TEST(binary_ce_matches_keras_docs_with_clipping)
{
    const float y[] = {1, 1, 1, 0}, t[] = {1, 0, 1, 0};
    fv_targets tv = {NULL, t};
    CHECK_CLOSE(fv__loss(FV_LOSS_BINARY_CE, y, &tv, 2, 2, false, NULL), 3.8333097341301445, 1e-9,
                0);
    const float p1[] = {1}, p0[] = {0}, zero[] = {0}, one[] = {1};
    fv_targets t0 = {NULL, zero}, t1 = {NULL, one};
    CHECK_CLOSE(fv__loss(FV_LOSS_BINARY_CE, p1, &t0, 1, 1, false, NULL), 15.333238898102001, 1e-9,
                0);
    CHECK_CLOSE(fv__loss(FV_LOSS_BINARY_CE, p0, &t1, 1, 1, false, NULL), 15.424948458712278, 1e-9,
                0);
    float g = 9;
    fv__loss(FV_LOSS_BINARY_CE, p1, &t0, 1, 1, false, &g);
    CHECK(g == 0);
}

/* keras.losses.BinaryCrossentropy docstring: [[0,1],[0,0]] vs [[0.6,0.4],[0.4,0.6]] -> 0.815. */
TEST(binary_ce_matches_keras_loss_docs)
{
    const float y[] = {0.6f, 0.4f, 0.4f, 0.6f}, t[] = {0, 1, 0, 0};
    fv_targets tv = {NULL, t};
    CHECK_CLOSE(fv__loss(FV_LOSS_BINARY_CE, y, &tv, 2, 2, false, NULL), 0.8149242542410245, 1e-9,
                0);
    CHECK_CLOSE(fv__loss(FV_LOSS_BINARY_CE, y, &tv, 2, 2, false, NULL), 0.815, 5e-4, 0);
}

TEST(binary_ce_label_is_the_target_for_one_unit_and_one_hot_for_more)
{
    const float y[] = {0.8f, 0.3f};
    const int32_t labels[] = {1, 0};
    fv_targets t = {labels, NULL};
    /* (-log(0.8 + 1e-7) - log(1 - 0.3 + 1e-7)) / 2 */
    CHECK_CLOSE(fv__loss(FV_LOSS_BINARY_CE, y, &t, 2, 1, false, NULL), 0.28990911476227554, 1e-9,
                0);
    /* k = 2: label 1 means targets (0, 1) */
    const float y2[] = {0.8f, 0.3f};
    const int32_t l2[] = {1};
    const float v2[] = {0, 1};
    fv_targets tl = {l2, NULL}, tv = {NULL, v2};
    CHECK_CLOSE(fv__loss(FV_LOSS_BINARY_CE, y2, &tl, 1, 2, false, NULL),
                fv__loss(FV_LOSS_BINARY_CE, y2, &tv, 1, 2, false, NULL), 0, 0);
}

/* keras.losses.MeanSquaredError / MeanAbsoluteError docstrings: [[0,1],[0,0]] vs [[1,1],[1,0]]
 * -> 0.5 each. */
TEST(mse_and_mae_match_keras_docs)
{
    const float y[] = {1, 1, 1, 0}, t[] = {0, 1, 0, 0};
    fv_targets tv = {NULL, t};
    CHECK_CLOSE(fv__loss(FV_LOSS_MSE, y, &tv, 2, 2, false, NULL), 0.5, 1e-12, 0);
    CHECK_CLOSE(fv__loss(FV_LOSS_MAE, y, &tv, 2, 2, false, NULL), 0.5, 1e-12, 0);
    double out[2];
    fv__loss_per_sample(FV_LOSS_MSE, y, &tv, 2, 2, out);
    CHECK_CLOSE(out[0], 0.5, 1e-12, 0);
    CHECK_CLOSE(out[1], 0.5, 1e-12, 0);
}

/* A classifier trained with MSE: a label stands for its one-hot row; with one unit, for itself.
 * d = [0.2, -0.3], [-0.4, 0.1]: MSE (0.13/2 + 0.17/2)/2 = 0.075, MAE (0.25 + 0.25)/2 = 0.25. */
TEST(mse_and_mae_with_labels_use_one_hot)
{
    const float y[] = {0.2f, 0.7f, 0.6f, 0.1f};
    const int32_t labels[] = {1, 0};
    fv_targets t = {labels, NULL};
    CHECK_CLOSE(fv__loss(FV_LOSS_MSE, y, &t, 2, 2, false, NULL), 0.075, 1e-7, 0);
    CHECK_CLOSE(fv__loss(FV_LOSS_MAE, y, &t, 2, 2, false, NULL), 0.25, 1e-7, 0);
    const float y1[] = {0.8f, 0.3f};
    CHECK_CLOSE(fv__loss(FV_LOSS_MSE, y1, &t, 2, 1, false, NULL), 0.065, 1e-7, 0);
    CHECK_CLOSE(fv__loss(FV_LOSS_MAE, y1, &t, 2, 1, false, NULL), 0.25, 1e-7, 0);
}

TEST(loss_is_mean_of_per_sample_losses)
{
    const float y[] = {0.2f, 0.5f, 0.3f, 0.6f, 0.3f, 0.1f, 0.25f, 0.25f, 0.5f};
    const int32_t labels[] = {2, 0, 1};
    fv_targets t = {labels, NULL};
    for (int kind = FV_LOSS_CATEGORICAL_CE; kind <= FV_LOSS_MAE; kind++) {
        double out[3];
        fv__loss_per_sample((fv_loss_kind)kind, y, &t, 3, 3, out);
        CHECK_CLOSE(fv__loss((fv_loss_kind)kind, y, &t, 3, 3, false, NULL),
                    (out[0] + out[1] + out[2]) / 3, 1e-15, 1e-15);
    }
}

/* ---- gradients against central finite differences ------------------------------------------ */

/* Random floats with few mantissa bits (multiples of 2^-16), so that y ± 2^-12 is exact in float
 * and the difference quotient sees exactly the step it divides by. */
static float rand_in(fv_rng *r, double lo, double hi)
{
    const double x = lo + (hi - lo) * fv__rng_uniform(r);
    return (float)(round(x * 65536.0) / 65536.0);
}

static int check_grad_fd(const char *what, fv_loss_kind kind, float *y, const fv_targets *t,
                         int64_t n, int64_t k)
{
    const double h = 1.0 / 4096;
    float *g = malloc(sizeof(float) * (size_t)(n * k));
    float *fd = malloc(sizeof(float) * (size_t)(n * k));
    fv__loss(kind, y, t, n, k, false, g);
    for (int64_t i = 0; i < n * k; i++) {
        const float keep = y[i];
        y[i] = (float)(keep + h);
        const double lp = fv__loss(kind, y, t, n, k, false, NULL);
        y[i] = (float)(keep - h);
        const double lm = fv__loss(kind, y, t, n, k, false, NULL);
        y[i] = keep;
        fd[i] = (float)((lp - lm) / (2 * h));
    }
    const int ok = check_arrays(what, g, fd, (long)(n * k), 1e-6, 1e-4);
    free(g);
    free(fd);
    return ok;
}

enum { GN = 4, GK = 5 };

TEST(categorical_ce_gradient_matches_finite_differences)
{
    fv_rng r;
    fv__rng_seed(&r, 1);
    float y[GN * GK], soft[GN * GK];
    int32_t labels[GN];
    /* unnormalised outputs: the gradient must carry the normalisation's term */
    for (int i = 0; i < GN * GK; i++)
        y[i] = rand_in(&r, 0.2, 1.0);
    for (int i = 0; i < GN * GK; i++)
        soft[i] = rand_in(&r, 0.0, 1.0);
    for (int i = 0; i < GN; i++)
        labels[i] = (int32_t)fv__rng_below(&r, GK);
    fv_targets tl = {labels, NULL}, tv = {NULL, soft};
    check_grad_fd("categorical labels", FV_LOSS_CATEGORICAL_CE, y, &tl, GN, GK);
    check_grad_fd("categorical values", FV_LOSS_CATEGORICAL_CE, y, &tv, GN, GK);
}

TEST(sparse_ce_gradient_matches_finite_differences)
{
    fv_rng r;
    fv__rng_seed(&r, 2);
    float y[GN * GK];
    int32_t labels[GN];
    for (int i = 0; i < GN * GK; i++)
        y[i] = rand_in(&r, 0.05, 0.9);
    for (int i = 0; i < GN; i++)
        labels[i] = (int32_t)fv__rng_below(&r, GK);
    fv_targets t = {labels, NULL};
    check_grad_fd("sparse", FV_LOSS_SPARSE_CATEGORICAL_CE, y, &t, GN, GK);
}

TEST(binary_ce_gradient_matches_finite_differences)
{
    fv_rng r;
    fv__rng_seed(&r, 3);
    float y[GN * GK], soft[GN * GK];
    int32_t labels[GN], bits[GN];
    for (int i = 0; i < GN * GK; i++)
        y[i] = rand_in(&r, 0.05, 0.95);
    for (int i = 0; i < GN * GK; i++)
        soft[i] = rand_in(&r, 0.0, 1.0);
    for (int i = 0; i < GN; i++)
        labels[i] = (int32_t)fv__rng_below(&r, GK);
    for (int i = 0; i < GN; i++)
        bits[i] = (int32_t)fv__rng_below(&r, 2);
    fv_targets tl = {labels, NULL}, tv = {NULL, soft}, tb = {bits, NULL};
    check_grad_fd("binary one-hot", FV_LOSS_BINARY_CE, y, &tl, GN, GK);
    check_grad_fd("binary values", FV_LOSS_BINARY_CE, y, &tv, GN, GK);
    check_grad_fd("binary one unit", FV_LOSS_BINARY_CE, y, &tb, GN, 1);
}

TEST(mse_and_mae_gradients_match_finite_differences)
{
    fv_rng r;
    fv__rng_seed(&r, 4);
    float y[GN * GK], t[GN * GK];
    int32_t labels[GN];
    for (int i = 0; i < GN * GK; i++) {
        t[i] = rand_in(&r, -2, 2);
        /* keep |y - t| > 0.05, away from MAE's kink */
        const float d = rand_in(&r, 0.05, 1.5);
        y[i] = fv__rng_below(&r, 2) ? t[i] + d : t[i] - d;
    }
    for (int i = 0; i < GN; i++)
        labels[i] = (int32_t)fv__rng_below(&r, GK);
    fv_targets tv = {NULL, t}, tl = {labels, NULL};
    check_grad_fd("mse values", FV_LOSS_MSE, y, &tv, GN, GK);
    check_grad_fd("mae values", FV_LOSS_MAE, y, &tv, GN, GK);
    /* labels: targets 0/1, so keep y away from both */
    for (int i = 0; i < GN * GK; i++)
        y[i] = rand_in(&r, 0.1, 0.9);
    check_grad_fd("mse labels", FV_LOSS_MSE, y, &tl, GN, GK);
    check_grad_fd("mae labels", FV_LOSS_MAE, y, &tl, GN, GK);
}

/* ---- fused gradients equal the unfused chain ------------------------------------------------- */

static void softmax_rows(const double *z, float *p, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < n; i++) {
        double mx = z[i * k], s = 0;
        for (int64_t j = 1; j < k; j++)
            mx = fmax(mx, z[i * k + j]);
        for (int64_t j = 0; j < k; j++)
            s += exp(z[i * k + j] - mx);
        for (int64_t j = 0; j < k; j++)
            p[i * k + j] = (float)(exp(z[i * k + j] - mx) / s);
    }
}

/* dL/dz_c = Σ_j dL/dp_j · p_j (δ_jc - p_c) = p_c (g_c - Σ_j p_j g_j) */
static void softmax_chain(const float *p, const float *g, float *out, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < n; i++) {
        double dot = 0;
        for (int64_t j = 0; j < k; j++)
            dot += (double)p[i * k + j] * g[i * k + j];
        for (int64_t c = 0; c < k; c++)
            out[i * k + c] = (float)(p[i * k + c] * (g[i * k + c] - dot));
    }
}

TEST(fused_softmax_ce_equals_softmax_jacobian_times_unfused_gradient)
{
    fv_rng r;
    fv__rng_seed(&r, 5);
    double z[GN * GK];
    float p[GN * GK], soft[GN * GK], g[GN * GK], chain[GN * GK], fused[GN * GK];
    int32_t labels[GN];
    for (int i = 0; i < GN * GK; i++)
        z[i] = 6 * fv__rng_uniform(&r) - 3;
    for (int i = 0; i < GN * GK; i++)
        soft[i] = fv__rng_uniform(&r); /* rows not summing to 1 */
    for (int i = 0; i < GN; i++)
        labels[i] = (int32_t)fv__rng_below(&r, GK);
    softmax_rows(z, p, GN, GK);
    const fv_loss_kind kinds[] = {FV_LOSS_CATEGORICAL_CE, FV_LOSS_SPARSE_CATEGORICAL_CE};
    fv_targets tl = {labels, NULL}, tv = {NULL, soft};
    for (int c = 0; c < 3; c++) {
        const fv_loss_kind kind = c == 2 ? kinds[0] : kinds[c];
        const fv_targets *t = c == 2 ? &tv : &tl;
        const double l1 = fv__loss(kind, p, t, GN, GK, false, g);
        const double l2 = fv__loss(kind, p, t, GN, GK, true, fused);
        CHECK(l1 == l2); /* the value never depends on fusion */
        softmax_chain(p, g, chain, GN, GK);
        check_arrays(c == 0   ? "categorical"
                     : c == 1 ? "sparse"
                              : "categorical soft",
                     fused, chain, GN * GK, 1e-6, 1e-5);
    }
    /* and the closed form (p - onehot) / n */
    fv__loss(FV_LOSS_SPARSE_CATEGORICAL_CE, p, &tl, GN, GK, true, fused);
    for (int i = 0; i < GN; i++)
        for (int j = 0; j < GK; j++)
            CHECK_CLOSE(fused[i * GK + j], (p[i * GK + j] - (labels[i] == j)) / (double)GN, 1e-7,
                        0);
}

TEST(fused_sigmoid_bce_equals_sigmoid_derivative_times_unfused_gradient)
{
    fv_rng r;
    fv__rng_seed(&r, 6);
    float p[GN * GK], soft[GN * GK], g[GN * GK], fused[GN * GK], chain[GN * GK];
    int32_t labels[GN], bits[GN];
    for (int i = 0; i < GN * GK; i++)
        p[i] = (float)(1 / (1 + exp(-(6 * fv__rng_uniform(&r) - 3))));
    for (int i = 0; i < GN * GK; i++)
        soft[i] = fv__rng_uniform(&r);
    for (int i = 0; i < GN; i++)
        labels[i] = (int32_t)fv__rng_below(&r, GK);
    for (int i = 0; i < GN; i++)
        bits[i] = (int32_t)fv__rng_below(&r, 2);
    fv_targets tl = {labels, NULL}, tv = {NULL, soft}, tb = {bits, NULL};
    const fv_targets *ts[] = {&tl, &tv, &tb};
    const int64_t ks[] = {GK, GK, 1};
    for (int c = 0; c < 3; c++) {
        const int64_t k = ks[c];
        fv__loss(FV_LOSS_BINARY_CE, p, ts[c], GN, k, false, g);
        fv__loss(FV_LOSS_BINARY_CE, p, ts[c], GN, k, true, fused);
        for (int64_t i = 0; i < GN * k; i++)
            chain[i] = (float)(g[i] * (double)p[i] * (1 - p[i]));
        /* equal up to Keras' eps inside the logs: relative error below eps/p ~ 1e-6 */
        check_arrays("binary", fused, chain, (long)(GN * k), 1e-7, 1e-5);
        for (int64_t i = 0; i < GN; i++)
            for (int64_t j = 0; j < k; j++) {
                const double tij = c == 1 ? soft[i * k + j] : c == 2 ? bits[i] : (labels[i] == j);
                CHECK_CLOSE(fused[i * k + j], (p[i * k + j] - tij) / (double)(GN * k), 1e-8, 0);
            }
    }
}

/* ---- optimizers: three steps by hand --------------------------------------------------------- */

TEST(optim_defaults_are_keras_defaults)
{
    fv_optim o;
    fv__optim_defaults(&o, FV_OPT_ADAM);
    CHECK(o.kind == FV_OPT_ADAM && o.learning_rate == 0.001 && o.beta_1 == 0.9 &&
          o.beta_2 == 0.999 && o.epsilon == 1e-7 && o.iterations == 0);
    CHECK(fv__optim_slots(&o) == 2);
    fv__optim_defaults(&o, FV_OPT_SGD);
    CHECK(o.kind == FV_OPT_SGD && o.learning_rate == 0.01 && o.momentum == 0 && !o.nesterov);
    CHECK(fv__optim_slots(&o) == 0);
    o.momentum = 0.9;
    CHECK(fv__optim_slots(&o) == 1);
}

/* Step 1, element 0 (g = 0.5): lr_t = 0.001·sqrt(1 - 0.999)/(1 - 0.9) = 3.16227766e-4,
 * m = 0.05, v = 2.5e-4, w = 1 - lr_t·0.05/(0.0158113883 + 1e-7) = 0.99900000632.
 * Element 2 has g = 0 for two steps (m = v = 0: no move, no 0/0) then g = 0.5. The later values
 * come from the same formulas evaluated in double. */
TEST(adam_three_steps_match_hand_computed_values)
{
    fv_optim o;
    fv__optim_defaults(&o, FV_OPT_ADAM);
    float w[] = {1.0f, -0.5f, 0.25f}, state[6] = {0};
    const float g[3][3] = {{0.5f, -1.0f, 0.0f}, {-0.25f, 2.0f, 0.0f}, {1.0f, 0.1f, 0.5f}};
    const double want[3][3] = {
        {0.9990000063245154, -0.49900000316226767, 0.25},
        {0.9987336707920792, -0.4993661061715039, 0.25},
        {0.9980755610087696, -0.49967737909394455, 0.2493611904407879},
    };
    for (int s = 0; s < 3; s++) {
        fv__optim_step(&o, w, g[s], state, 3);
        CHECK(o.iterations == s + 1);
        for (int i = 0; i < 3; i++)
            CHECK_CLOSE(w[i], want[s][i], 1e-7, 0);
    }
}

/* w0 = 1, g = 0.5, -0.25, 1.0, lr 0.1:
 *   plain:     0.95, 0.975, 0.875
 *   momentum:  v = -0.05, -0.02, -0.118;  w = 0.95, 0.93, 0.812
 *   nesterov:  w += 0.9 v - 0.1 g:        w = 0.905, 0.912, 0.7058 */
TEST(sgd_three_steps_match_hand_computed_values)
{
    const float g[3] = {0.5f, -0.25f, 1.0f};
    const double want[3][3] = {{0.95, 0.975, 0.875}, {0.95, 0.93, 0.812}, {0.905, 0.912, 0.7058}};
    const double vel[3] = {-0.05, -0.02, -0.118};
    for (int c = 0; c < 3; c++) {
        fv_optim o;
        fv__optim_defaults(&o, FV_OPT_SGD);
        o.learning_rate = 0.1;
        o.momentum = c == 0 ? 0.0 : 0.9;
        o.nesterov = c == 2;
        float w = 1.0f, v = 0.0f;
        for (int s = 0; s < 3; s++) {
            fv__optim_step(&o, &w, &g[s], c == 0 ? NULL : &v, 1);
            CHECK_CLOSE(w, want[c][s], 1e-6, 0);
            if (c) CHECK_CLOSE(v, vel[s], 1e-7, 0);
        }
        CHECK(o.iterations == 3);
    }
}

TEST(optim_step_does_not_depend_on_thread_count)
{
    const int64_t n = 200003; /* above the parallel threshold, not a multiple of anything */
    float *w1 = malloc(sizeof(float) * n), *w2 = malloc(sizeof(float) * n);
    float *g = malloc(sizeof(float) * n);
    float *s1 = calloc(2 * n, sizeof(float)), *s2 = calloc(2 * n, sizeof(float));
    fv_rng r;
    fv__rng_seed(&r, 7);
    for (int64_t i = 0; i < n; i++)
        w1[i] = w2[i] = fv__rng_uniform(&r) - 0.5f;
    for (int64_t i = 0; i < n; i++)
        g[i] = fv__rng_uniform(&r) - 0.5f;
    for (int kind = 0; kind < 2; kind++) {
        fv_optim o1, o2;
        fv__optim_defaults(&o1, (fv_optim_kind)kind);
        o1.momentum = kind == FV_OPT_SGD ? 0.9 : 0;
        o1.nesterov = true;
        o2 = o1;
        fv_set_threads(1);
        for (int s = 0; s < 3; s++)
            fv__optim_step(&o1, w1, g, s1, n);
        fv_set_threads(4);
        for (int s = 0; s < 3; s++)
            fv__optim_step(&o2, w2, g, s2, n);
        CHECK(memcmp(w1, w2, sizeof(float) * n) == 0);
        CHECK(memcmp(s1, s2, sizeof(float) * 2 * n) == 0);
    }
    fv_set_threads(0);
    free(w1), free(w2), free(g), free(s1), free(s2);
}

/* ---- history --------------------------------------------------------------------------------- */

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fwrite(text, 1, len, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 65536);
    fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

TEST(history_appends_rows_and_gets_columns_by_name)
{
    const char *names[] = {"loss", "accuracy"};
    fv_history *h = fv__history_new(2, names);
    CHECK(h != NULL);
    CHECK(fv_history_epochs(h) == 0);
    CHECK(fv_history_columns(h) == 2);
    CHECK(strcmp(fv_history_column_name(h, 0), "loss") == 0);
    CHECK(strcmp(fv_history_column_name(h, 1), "accuracy") == 0);
    CHECK(fv_history_column_name(h, 2) == NULL && fv_history_column_name(h, -1) == NULL);
    for (int e = 0; e < 40; e++) { /* past the first growth */
        const double row[2] = {1.0 / (e + 1), e / 40.0};
        CHECK_OK(fv__history_append(h, row));
    }
    CHECK(fv_history_epochs(h) == 40);
    const double *loss = fv_history_get(h, "loss"), *acc = fv_history_get(h, "accuracy");
    CHECK(loss && acc);
    if (loss && acc) {
        CHECK(loss[0] == 1.0 && loss[39] == 1.0 / 40);
        CHECK(acc[0] == 0 && acc[39] == 39 / 40.0);
    }
    CHECK(fv_history_get(h, "val_loss") == NULL);
    CHECK(fv_history_get(h, NULL) == NULL);
    fv_history_free(h);
    CHECK(fv_history_epochs(NULL) == 0 && fv_history_columns(NULL) == 0);
    CHECK(fv_history_get(NULL, "loss") == NULL);
    fv_history_free(NULL);
}

TEST(history_rejects_names_csv_cannot_keep_apart)
{
    const char *dup[] = {"loss", "loss"}, *ep[] = {"loss", "epoch"}, *empty[] = {""};
    CHECK(fv__history_new(2, dup) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "repeated");
    CHECK(fv__history_new(2, ep) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "epoch");
    CHECK(fv__history_new(1, empty) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "empty");
}

/* CSVLogger's layout: epoch from 0, columns sorted by name whatever order they were given in,
 * values as the shortest decimal that reads back (Python's repr). */
TEST(history_csv_is_written_as_keras_csvlogger_writes_it)
{
    const char *names[] = {"val_loss", "loss", "val_accuracy", "accuracy"};
    fv_history *h = fv__history_new(4, names);
    const double r0[] = {0.25, 0.5, 0.9, 0.75}, r1[] = {0.1, 1.0 / 3, 1, 1e-5};
    CHECK_OK(fv__history_append(h, r0));
    CHECK_OK(fv__history_append(h, r1));
    const char *path = tmp_path("h.csv");
    CHECK_OK(fv_history_write_csv(h, path));
    char *text = read_text(path);
    CHECK(text != NULL);
    if (text)
        CHECK(strcmp(text, "epoch,accuracy,loss,val_accuracy,val_loss\n"
                           "0,0.75,0.5,0.9,0.25\n"
                           "1,1e-05,0.3333333333333333,1,0.1\n") == 0);
    free(text);
    /* no temporary file left behind */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    fv_history_free(h);
}

TEST(history_csv_round_trips_exactly)
{
    const char *names[] = {"loss", "accuracy", "val loss, \"odd\""};
    fv_history *h = fv__history_new(3, names);
    fv_rng r;
    fv__rng_seed(&r, 8);
    for (int e = 0; e < 25; e++) {
        const double row[3] = {fv__rng_normal(&r), fv__rng_uniform(&r) / 3.0,
                               e == 3   ? NAN
                               : e == 4 ? INFINITY
                               : e == 5 ? -0.0
                                        : 1e300 * e};
        CHECK_OK(fv__history_append(h, row));
    }
    const char *path = tmp_path("round.csv");
    CHECK_OK(fv_history_write_csv(h, path));
    fv_history *back = fv_history_read_csv(path);
    CHECK(back != NULL);
    if (back) {
        CHECK(fv_history_epochs(back) == 25);
        CHECK(fv_history_columns(back) == 3);
        /* file order is sorted order */
        CHECK(strcmp(fv_history_column_name(back, 0), "accuracy") == 0);
        CHECK(strcmp(fv_history_column_name(back, 1), "loss") == 0);
        CHECK(strcmp(fv_history_column_name(back, 2), "val loss, \"odd\"") == 0);
        for (int c = 0; c < 3; c++) {
            const double *a = fv_history_get(h, names[c]), *b = fv_history_get(back, names[c]);
            CHECK(b != NULL);
            if (!b) continue;
            for (int e = 0; e < 25; e++)
                CHECK((isnan(a[e]) && isnan(b[e])) || memcmp(&a[e], &b[e], sizeof(double)) == 0);
        }
    }
    fv_history_free(back);
    fv_history_free(h);
}

TEST(history_reads_keras_csvlogger_files)
{
    /* Python's csv module ends lines with \r\n; a quoted header cell; blank trailing line */
    const char text[] = "epoch,accuracy,loss,\"val_accuracy\",val_loss\r\n"
                        "0,0.9,0.3,0.95,0.2\r\n"
                        "1,0.95, 0.2 ,0.96,nan\r\n"
                        "\r\n";
    const char *path = tmp_path("keras.csv");
    write_text(path, text, sizeof text - 1);
    fv_history *h = fv_history_read_csv(path);
    CHECK(h != NULL);
    if (h) {
        CHECK(fv_history_epochs(h) == 2 && fv_history_columns(h) == 4);
        const double *va = fv_history_get(h, "val_accuracy"), *vl = fv_history_get(h, "val_loss");
        const double *l = fv_history_get(h, "loss");
        CHECK(va && vl && l);
        if (va && vl && l) CHECK(va[1] == 0.96 && vl[0] == 0.2 && isnan(vl[1]) && l[1] == 0.2);
    }
    fv_history_free(h);
    /* epoch need not be first; a header-only file is an empty history */
    const char text2[] = "loss,epoch\n";
    write_text(path, text2, sizeof text2 - 1);
    h = fv_history_read_csv(path);
    CHECK(h && fv_history_epochs(h) == 0 && fv_history_columns(h) == 1);
    fv_history_free(h);
}

/* Each malformed file is refused with one message naming the file, line and column. */
static void expect_read_error(const char *name, const char *text, size_t len, const char *want1,
                              const char *want2)
{
    const char *path = tmp_path(name);
    write_text(path, text, len);
    fv_history *h = fv_history_read_csv(path);
    CHECK(h == NULL);
    fv_history_free(h);
    CHECK_STR_CONTAINS(fv_last_error(), path);
    CHECK_STR_CONTAINS(fv_last_error(), want1);
    if (want2) CHECK_STR_CONTAINS(fv_last_error(), want2);
}

#define EXPECT_READ_ERROR(name, text, w1, w2) expect_read_error(name, text, sizeof text - 1, w1, w2)

TEST(history_reader_rejects_missing_and_empty_files)
{
    const char *path = tmp_path("absent.csv");
    CHECK(fv_history_read_csv(path) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), path);
    CHECK_STR_CONTAINS(fv_last_error(), "cannot open");
    EXPECT_READ_ERROR("empty.csv", "", "line 1", "empty file");
    EXPECT_READ_ERROR("blank.csv", "\n\n", "line 1", "empty file");
    CHECK(fv_history_read_csv(NULL) == NULL);
}

TEST(history_reader_rejects_header_without_epoch)
{
    EXPECT_READ_ERROR("noepoch.csv", "loss,accuracy\n0.1,0.9\n", "line 1", "no 'epoch' column");
    EXPECT_READ_ERROR("dup.csv", "epoch,loss,loss\n0,1,2\n", "line 1, column 3", "repeated");
    EXPECT_READ_ERROR("emptyname.csv", "epoch,,loss\n0,1,2\n", "line 1, column 2", "empty column");
}

TEST(history_reader_rejects_ragged_rows)
{
    EXPECT_READ_ERROR("short.csv", "epoch,loss,acc\n0,1,2\n1,2\n", "line 3, column 3",
                      "ends after 2 cells");
    EXPECT_READ_ERROR("long.csv", "epoch,loss,acc\r\n0,1,2,3\r\n", "line 2, column 4",
                      "has 4 cells");
}

TEST(history_reader_rejects_non_numeric_cells)
{
    EXPECT_READ_ERROR("text.csv", "epoch,loss,acc\n0,0.5,0.9\n1,abc,0.8\n",
                      "line 3, column 2 (loss)", "\"abc\" is not a number");
    EXPECT_READ_ERROR("trail.csv", "epoch,loss\n0,0.5x\n", "line 2, column 2 (loss)",
                      "not a number");
    EXPECT_READ_ERROR("emptycell.csv", "epoch,loss,acc\n0,,0.9\n", "line 2, column 2 (loss)",
                      "empty cell");
    EXPECT_READ_ERROR("epochcell.csv", "epoch,loss\nfirst,0.5\n", "line 2, column 1 (epoch)",
                      "not a number");
    EXPECT_READ_ERROR("huge.csv", "epoch,loss\n0,1e999\n", "line 2, column 2", "not a number");
    EXPECT_READ_ERROR("quote.csv", "epoch,loss\n0,\"0.5\n", "line 2, column 2",
                      "unterminated quote");
    EXPECT_READ_ERROR("afterquote.csv", "epoch,loss\n0,\"0.5\"x\n", "line 2, column 2",
                      "after a closing quote");
    EXPECT_READ_ERROR("nul.csv", "epoch,loss\n0,0.5\0\n", "nul.csv:2: byte 16", "NUL");
}

TEST(history_write_fails_with_the_path_on_a_bad_directory)
{
    const char *names[] = {"loss"};
    fv_history *h = fv__history_new(1, names);
    const char *path = tmp_path("no/such/dir/h.csv");
    CHECK(fv_history_write_csv(h, path) == FV_ERR_IO);
    CHECK_STR_CONTAINS(fv_last_error(), path);
    CHECK(fv_history_write_csv(NULL, path) == FV_ERR_INVALID);
    CHECK(fv_history_write_csv(h, "") == FV_ERR_INVALID);
    fv_history_free(h);
}

int main(void)
{
    test_tmpdir("train", tmpdir, sizeof tmpdir);
    RUN(loss_names_are_keras_names);
    RUN(label_limit_is_two_for_one_unit_regression_and_binary);
    RUN(categorical_ce_matches_keras_docs);
    RUN(categorical_ce_per_sample_matches_keras_backend_docs);
    RUN(categorical_ce_clips_p0_and_p1);
    RUN(sparse_ce_matches_keras_docs_and_tf_formula);
    RUN(sparse_ce_clips_p0_and_p1);
    RUN(binary_ce_matches_keras_docs_with_clipping);
    RUN(binary_ce_matches_keras_loss_docs);
    RUN(binary_ce_label_is_the_target_for_one_unit_and_one_hot_for_more);
    RUN(mse_and_mae_match_keras_docs);
    RUN(mse_and_mae_with_labels_use_one_hot);
    RUN(loss_is_mean_of_per_sample_losses);
    RUN(categorical_ce_gradient_matches_finite_differences);
    RUN(sparse_ce_gradient_matches_finite_differences);
    RUN(binary_ce_gradient_matches_finite_differences);
    RUN(mse_and_mae_gradients_match_finite_differences);
    RUN(fused_softmax_ce_equals_softmax_jacobian_times_unfused_gradient);
    RUN(fused_sigmoid_bce_equals_sigmoid_derivative_times_unfused_gradient);
    RUN(optim_defaults_are_keras_defaults);
    RUN(adam_three_steps_match_hand_computed_values);
    RUN(sgd_three_steps_match_hand_computed_values);
    RUN(optim_step_does_not_depend_on_thread_count);
    RUN(history_appends_rows_and_gets_columns_by_name);
    RUN(history_rejects_names_csv_cannot_keep_apart);
    RUN(history_csv_is_written_as_keras_csvlogger_writes_it);
    RUN(history_csv_round_trips_exactly);
    RUN(history_reads_keras_csvlogger_files);
    RUN(history_reader_rejects_missing_and_empty_files);
    RUN(history_reader_rejects_header_without_epoch);
    RUN(history_reader_rejects_ragged_rows);
    RUN(history_reader_rejects_non_numeric_cells);
    RUN(history_write_fails_with_the_path_on_a_bad_directory);
    return TEST_SUMMARY();
}
