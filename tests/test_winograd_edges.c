/* test_winograd_edges.c — conv_algorithm=winograd at the edges of its geometry (issue 15's review):
 * the kernel on the input gradient's full-padding geometry in exact-size buffers, and whole models
 * with 1×1, 2×2 and odd images, valid padding down to one output, channel counts off the vector
 * widths, the in-place input gradient, frozen layers and precision=bf16, each against the direct
 * algorithm on the same weights.
 */
#include "core/core.h"
#include "fovea.h"
#include "kernels/bf16.h"
#include "kernels/conv_internal.h"
#include "kernels/gemm_internal.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "model/model_impl.h"
#include "test.h"
#include "test_arrays.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* n floats of their own allocation (so that AddressSanitizer sees a read past them), each NaN
 * unless filled: a value read before it is written shows in the result. */
static float *nan_floats(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) abort();
    for (int64_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

/* A 3×3 stride-1 geometry of in_c c, filters f, leading padding pt, pl and the trailing the same
 * (out = in + 2·pad − 2). */
static fv_conv_geom geom3(int64_t h, int64_t w, int64_t c, int64_t f, int64_t pt, int64_t pl)
{
    return (fv_conv_geom){.in_h = h,
                          .in_w = w,
                          .in_c = c,
                          .k_h = 3,
                          .k_w = 3,
                          .out_h = h + 2 * pt - 2,
                          .out_w = w + 2 * pl - 2,
                          .out_c = f,
                          .stride_h = 1,
                          .stride_w = 1,
                          .dil_h = 1,
                          .dil_w = 1,
                          .pad_top = pt,
                          .pad_left = pl};
}

TEST(winograd_kernel_on_the_input_gradients_full_padding)
{
    /* At stride 1 conv2d's input gradient is the forward of ∂L/∂y with leading padding 2 − pad:
     * 2 for a valid layer, whose ∂L/∂y may be a single pixel (a 3×3 input). Inputs of 1 to 4
     * pixels a side with padding 2, 1 or one of each (outputs in + 2·pad − 2), forward and add,
     * against fv_conv2d_forward_ref within 1.6e-4 of the sum of the magnitudes of each output's
     * terms: far above the rounding (test_winograd.c checks its bound), far below the error of a
     * wrong index or an unread pixel, which is of the output's own size; on every path. */
    static const int64_t chans[][2] = {{16, 16}, {17, 33}, {1, 16}, {32, 9}};
    int cases = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv_rng r;
        fv__rng_seed(&r, 77 + (uint64_t)p);
        for (int64_t h = 1; h <= 4; h++)
            for (int64_t w = 1; w <= 4; w += 1 + (h % 2))
                for (int pads = 0; pads < 3; pads++) {
                    const int64_t *cf = chans[(h + w + pads) % 4];
                    const fv_conv_geom g =
                        geom3(h, w, cf[0], cf[1], pads == 1 ? 1 : 2, pads == 0 ? 2 : 1);
                    if (g.out_h < 1 || g.out_w < 1) continue;
                    CHECK(fv__conv_winograd_computes(&g));
                    const int64_t C = g.in_c, F = g.out_c, X = h * w * C;
                    const int64_t Y = g.out_h * g.out_w * F, Wn = 9 * C * F;
                    float *x = nan_floats(X), *wt = nan_floats(Wn), *b = nan_floats(F);
                    float *yr = nan_floats(Y), *y = nan_floats(Y), *y0 = nan_floats(Y);
                    float *u = nan_floats(fv_conv_winograd_pack_floats(&g));
                    float *s = nan_floats(fv_conv_winograd_scratch_floats(&g));
                    fill_rand(&r, x, X), fill_rand(&r, wt, Wn), fill_rand(&r, b, F);
                    fill_rand(&r, y0, Y);
                    fv_conv_winograd_pack(&g, wt, u);
                    fv__conv_force_path(p);
                    fv_conv2d_forward_winograd(&g, x, u, b, false, y, s, x, X);
                    memcpy(y0, y, (size_t)Y * sizeof(float));
                    fv_conv2d_forward_winograd_add(&g, x, u, y0, s, NULL, 0);
                    fv__conv_force_path(-1);
                    fv_conv2d_forward_ref(&g, x, wt, b, yr);
                    int64_t bad = 0;
                    for (int64_t oh = 0; oh < g.out_h; oh++)
                        for (int64_t ow = 0; ow < g.out_w; ow++)
                            for (int64_t f = 0; f < F; f++) {
                                double mag = fabs(b[f]);
                                for (int64_t kh = 0; kh < 3; kh++)
                                    for (int64_t kw = 0; kw < 3; kw++) {
                                        const int64_t ih = oh - g.pad_top + kh,
                                                      iw = ow - g.pad_left + kw;
                                        if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                        for (int64_t c = 0; c < C; c++)
                                            mag += fabs(x[(ih * w + iw) * C + c] *
                                                        wt[((kh * 3 + kw) * C + c) * F + f]);
                                    }
                                const int64_t i = (oh * g.out_w + ow) * F + f;
                                const double tol = 1e-5 * 16 * mag + 1e-30;
                                /* the add: y + (y − b), the convolution without its bias */
                                const double add = 2.0 * (double)yr[i] - (double)b[f];
                                if (!(fabs((double)y[i] - yr[i]) <= tol) ||
                                    !(fabs((double)y0[i] - add) <= 3 * tol + 2e-7 * fabs(add)))
                                    bad++;
                            }
                    if (bad)
                        fprintf(stderr,
                                "  path %d: in %lldx%lldx%lld pad %lld,%lld -> %lldx%lldx%lld: "
                                "%lld wrong\n",
                                p, (long long)h, (long long)w, (long long)C, (long long)g.pad_top,
                                (long long)g.pad_left, (long long)g.out_h, (long long)g.out_w,
                                (long long)F, (long long)bad);
                    CHECK(bad == 0);
                    cases++;
                    free(x), free(wt), free(b), free(yr), free(y), free(y0), free(u), free(s);
                }
    }
    CHECK(cases >= 20);
}

/* ---- whole models, Winograd against direct on the same weights ------------------------------ */

/* The model text of one case: a 1×1 convolution first (so that the 3×3 layer's input gradient is
 * computed), the 3×3 layer c, and with `residual` an Add of c and its input (c's input gradient
 * then added in place beside the Add's); `extra` goes on c's line. */
static fv_model *edge_model(int64_t h, int64_t w, int64_t C, int64_t F, bool same, bool residual,
                            const char *extra, const char *algorithm)
{
    char text[1024];
    snprintf(text, sizeof text,
             "input shape=%lld,%lld,3\n"
             "conv2d name=pre filters=%lld kernel_size=1 activation=tanh\n"
             "conv2d name=c filters=%lld kernel_size=3 padding=%s activation=tanh %s\n"
             "%s"
             "flatten\n"
             "dense name=out units=3 activation=softmax\n"
             "compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1 "
             "conv_algorithm=%s\n",
             (long long)h, (long long)w, (long long)C, (long long)F, same ? "same" : "valid", extra,
             residual ? "add name=a inputs=c,pre\n" : "", algorithm);
    fv_model *m = fv_model_parse_string(text, "edge.fv");
    if (m && fv__model_ensure_weights(m, 31) != FV_OK) fv_model_free(m), m = NULL;
    return m;
}

static const char *const tensors[] = {"pre.kernel", "pre.bias", "c.kernel", "c.bias", "out.kernel"};
enum { NT = sizeof tensors / sizeof tensors[0], NB = 5 };

/* The loss and gradients of both models on the same batch; returns whether any bit differs. A
 * gradient element is wrong beyond 1e-4 of its tensor's largest (direct) magnitude: the
 * algorithms' rounding differs in the sixth digit, a wrong pixel or filter in the first. */
static bool compare_models(fv_model *mw, fv_model *md, const char *what)
{
    float *x = nan_floats(NB * fv_model_input_size(md));
    fv_rng r;
    fv__rng_seed(&r, 5);
    fill_rand(&r, x, NB * fv_model_input_size(md));
    int32_t labels[NB] = {0, 2, 1, 1, 0};
    fv_targets t = {.labels = labels};
    double lw = NAN, ld = NAN;
    CHECK_OK(fv__model_loss_and_grad(mw, x, &t, NB, true, &lw));
    CHECK_OK(fv__model_loss_and_grad(md, x, &t, NB, true, &ld));
    bool differ = memcmp(&lw, &ld, sizeof lw) != 0;
    if (!(fabs(lw - ld) <= 1e-6 + 1e-5 * fabs(ld))) {
        fprintf(stderr, "  %s: loss %.9g (winograd) against %.9g (direct)\n", what, lw, ld);
        test_failed_checks++;
    }
    for (int k = 0; k < NT; k++) {
        int rank;
        int64_t dims[4], n = 1;
        CHECK(fv_model_param(md, tensors[k], &rank, dims) != NULL);
        for (int j = 0; j < rank; j++)
            n *= dims[j];
        const float *gw = fv__model_grad(mw, tensors[k]), *gd = fv__model_grad(md, tensors[k]);
        CHECK(!gw == !gd); /* a frozen tensor has none in either */
        if (!gw || !gd) continue;
        double scale = 0, worst = 0;
        for (int64_t i = 0; i < n; i++)
            scale = fabs(gd[i]) > scale ? fabs(gd[i]) : scale;
        for (int64_t i = 0; i < n; i++) {
            const double e = fabs((double)gw[i] - (double)gd[i]);
            worst = e > worst || isnan(e) ? e : worst;
        }
        differ = differ || memcmp(gw, gd, (size_t)n * sizeof(float)) != 0;
        if (!(worst <= 1e-4 * scale + 1e-9)) {
            fprintf(stderr, "  %s: %s differs by %.3g (largest magnitude %.3g)\n", what, tensors[k],
                    worst, scale);
            test_failed_checks++;
        }
    }
    free(x);
    return differ;
}

TEST(winograd_models_at_the_edges_match_direct)
{
    static const struct {
        int64_t h, w, C, F;
        bool same, residual;
    } cases[] = {
        {1, 1, 16, 16, true, true},   /* one pixel: every tile overhangs, in and out */
        {2, 2, 16, 16, true, true},   /* one tile */
        {1, 5, 16, 16, true, false},  /* one row */
        {3, 3, 16, 16, false, false}, /* valid, one output: ∂L/∂y a single pixel */
        {4, 3, 17, 33, false, false}, /* valid, 2×1 outputs; channels past the vectors */
        {3, 5, 16, 20, false, false}, /* valid, one row of three */
        {5, 4, 20, 20, true, true},   /* odd and even sides, the add of 20 channels */
        {7, 9, 33, 48, true, false},  /* a weight gradient by Winograd beside it (F in 16s) */
        {6, 6, 8, 16, true, false},   /* the weight gradient alone (in_c of 8: no forward) */
        {5, 5, 1, 16, true, false},   /* a single channel: direct everywhere */
    };
    int differed = 0, applied = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char what[96];
        snprintf(what, sizeof what, "%lldx%lldx%lld -> %lld %s%s", (long long)cases[k].h,
                 (long long)cases[k].w, (long long)cases[k].C, (long long)cases[k].F,
                 cases[k].same ? "same" : "valid", cases[k].residual ? " + add" : "");
        fv_model *mw = edge_model(cases[k].h, cases[k].w, cases[k].C, cases[k].F, cases[k].same,
                                  cases[k].residual, "", "winograd");
        fv_model *md = edge_model(cases[k].h, cases[k].w, cases[k].C, cases[k].F, cases[k].same,
                                  cases[k].residual, "", "direct");
        CHECK(mw && md);
        if (mw && md) {
            const bool d = compare_models(mw, md, what);
            if (cases[k].C >= 8 && cases[k].F >= 16) applied++, differed += d;
            if (cases[k].C == 1) CHECK(!d); /* the option changes no bit where it does not apply */
        }
        fv_model_free(mw);
        fv_model_free(md);
    }
    /* the option took effect: other sums, other bits (most cases) */
    printf("     %d of %d cases where it applies differ in some bit\n", differed, applied);
    CHECK(differed >= applied / 2);
}

/* steps training steps of m on a batch of NB random samples (seed). */
static void train_steps(fv_model *m, int steps, uint64_t seed)
{
    float *x = nan_floats(NB * fv_model_input_size(m));
    fv_rng r;
    fv__rng_seed(&r, seed);
    fill_rand(&r, x, NB * fv_model_input_size(m));
    int32_t labels[NB] = {1, 2, 0, 1, 0};
    fv_targets t = {.labels = labels};
    const float *xs[1] = {x};
    double loss;
    for (int s = 0; s < steps; s++)
        CHECK_OK(fv__model_train_step_heads(m, xs, &t, NB, &loss, NULL));
    free(x);
}

TEST(winograd_frozen_layer_keeps_its_weights_and_passes_the_gradient)
{
    /* trainable=false on the Winograd layer: a training step leaves its kernel as it was, and the
     * layer before it learns as with the direct algorithm. */
    fv_model *mw = edge_model(6, 5, 16, 16, true, true, "trainable=false", "winograd");
    fv_model *md = edge_model(6, 5, 16, 16, true, true, "trainable=false", "direct");
    CHECK(mw && md);
    if (!mw || !md) goto done;
    compare_models(mw, md, "frozen");
    int rank;
    int64_t dims[4];
    float *k = fv_model_param(mw, "c.kernel", &rank, dims);
    const int64_t n = dims[0] * dims[1] * dims[2] * dims[3];
    float *k0 = nan_floats(n);
    memcpy(k0, k, (size_t)n * sizeof(float));
    train_steps(mw, 1, 6);
    CHECK(memcmp(k, k0, (size_t)n * sizeof(float)) == 0);
    free(k0);
done:
    fv_model_free(mw);
    fv_model_free(md);
}

TEST(winograd_changes_no_bit_at_precision_bf16)
{
    /* Winograd is fp32 only: with precision=bf16 the bf16 kernels stay, so the option changes
     * nothing (the scratch sized for the same kernels as run). */
    if (strcmp(fv_gemm_bf16_path(), "emulated") == 0)
        SKIP("precision=bf16 is refused on this CPU (no AVX512_BF16 nor AMX-BF16)");
    fv_model *mw = edge_model(6, 5, 16, 16, true, true, "", "winograd");
    fv_model *md = edge_model(6, 5, 16, 16, true, true, "", "direct");
    CHECK(mw && md);
    if (mw && md) {
        CHECK_OK(fv_model_set_precision(mw, "bf16"));
        CHECK_OK(fv_model_set_precision(md, "bf16"));
        CHECK(!compare_models(mw, md, "bf16"));
    }
    fv_model_free(mw);
    fv_model_free(md);
}

/* The index of the layer named name, −1 if none. */
static int layer_named(const fv_model *m, const char *name)
{
    for (int i = 0; i < fv_model_layer_count(m); i++)
        if (strcmp(fv_model_layer_name(m, i), name) == 0) return i;
    return -1;
}

TEST(winograd_profile_counts_the_forward_it_executed)
{
    /* The profile's executed FLOPs are what the kernels performed (fovea.h, fv_layer_profile):
     * Winograd's forward performs fv_conv_winograd_flop per image, fewer than the dense count,
     * where the direct forward performs the dense count. */
    enum { STEPS = 2 };
    const char *alg[2] = {"winograd", "direct"};
    const fv_conv_geom g = geom3(6, 5, 16, 16, 1, 1);
    for (int a = 0; a < 2; a++) {
        fv_model *m = edge_model(6, 5, 16, 16, true, true, "", alg[a]);
        CHECK(m != NULL);
        if (!m) continue;
        fv_model_profile_reset(m);
        train_steps(m, STEPS, 8);
        fv_layer_profile p;
        const int c = layer_named(m, "c");
        CHECK(c >= 0);
        CHECK_OK(fv_model_profile(m, c, &p));
        CHECK(p.forward_samples == STEPS * NB);
        const double dense = 2.0 * 30 * 9 * 16 * 16 * STEPS * NB;
        CHECK_CLOSE(p.forward_flop, dense, 0, 1e-12);
        const double want = a == 0 ? fv_conv_winograd_flop(&g) * STEPS * NB : dense;
        printf("     %s: forward executed %.6g MFLOP of %.6g dense\n", alg[a],
               1e-6 * p.forward_executed_flop, 1e-6 * p.forward_flop);
        CHECK_CLOSE(p.forward_executed_flop, want, 0, 1e-12);
        fv_model_free(m);
    }
}

/* Fits a 16-channel model compiled with `compile` (then `first` appended) for one epoch into a
 * checkpoint in a fresh folder, then resumes it for a second with `second` appended instead;
 * returns the resume's status (its message in fv_last_error). */
static fv_status fit_then_resume(const char *compile, const char *first, const char *second)
{
    static char dir[128];
    static int made;
    if (!made) test_tmpdir("wino-edges", dir, sizeof dir), made = 1;
    char ck[256];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    remove(ck);
    fv_model *m[2] = {NULL, NULL};
    for (int a = 0; a < 2; a++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "input shape=5,4,16\n"
                 "conv2d name=c filters=16 kernel_size=3 padding=same activation=relu\n"
                 "global_average_pooling2d\n"
                 "dense units=3 activation=softmax\n"
                 "%s%s\n",
                 compile, a ? second : first);
        m[a] = fv_model_parse_string(text, "resume.fv");
        CHECK(m[a] != NULL);
    }
    enum { N = 12 };
    float *x = nan_floats(N * 5 * 4 * 16);
    fv_rng r;
    fv__rng_seed(&r, 9);
    fill_rand(&r, x, N * 5 * 4 * 16);
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = i % 3;
    const int64_t dims[3] = {5, 4, 16};
    fv_dataset *d = fv_dataset_from_f32(N, 3, dims, x, labels);
    CHECK(d != NULL);
    fv_status s = FV_ERR_INVALID;
    if (m[0] && m[1] && d) {
        fv_fit_opts o = fv_fit_defaults();
        o.epochs = 1, o.batch_size = 4, o.seed = 3, o.checkpoint_dir = dir;
        CHECK_OK(fv_model_fit(m[0], d, &o, NULL));
        o.epochs = 2, o.resume = true;
        s = fv_model_fit(m[1], d, &o, NULL);
        if (s == FV_OK) CHECK(fv_model_last_fit(m[1]).initial_epoch == 1);
    }
    fv_dataset_free(d);
    free(x);
    fv_model_free(m[0]);
    fv_model_free(m[1]);
    return s;
}

TEST(resuming_with_the_other_algorithm_names_it_on_a_long_compile_line)
{
    /* A checkpoint resumed with the other algorithm is another run (other bits), refused naming
     * the difference, also where the compile line is longer than the message's excerpt. */
    static const char *const compile =
        "compile loss=sparse_categorical_crossentropy optimizer=adamw learning_rate=0.001 "
        "weight_decay=0.004 schedule=cosine_decay decay_steps=100 alpha=0 warmup_target=0.01 "
        "warmup_steps=10 metrics=accuracy";
    CHECK(fit_then_resume(compile, " conv_algorithm=winograd", " conv_algorithm=direct") ==
          FV_ERR_STATE);
    CHECK_STR_CONTAINS(fv_last_error(), "conv_algorithm=winograd");
    CHECK_STR_CONTAINS(fv_last_error(), "this one has '...metrics=accuracy'");
    printf("     %s\n", fv_last_error());
}

TEST(resuming_with_the_default_algorithm_named_is_the_same_run)
{
    /* conv_algorithm=direct given (the compile line, --conv-algorithm direct) computes what
     * leaving it out does: a checkpoint of the one resumes with the other. */
    static const char *const compile = "compile loss=sparse_categorical_crossentropy";
    CHECK_OK(fit_then_resume(compile, "", " conv_algorithm=direct"));
    CHECK_OK(fit_then_resume(compile, " conv_algorithm=direct", ""));
    CHECK_OK(fit_then_resume(compile, " conv_algorithm=winograd", " conv_algorithm=winograd"));
    CHECK(fit_then_resume(compile, "", " conv_algorithm=winograd") == FV_ERR_STATE);
}

TEST(resuming_with_precision_fp32_named_is_the_same_run)
{
    /* likewise precision=fp32, the default (docs/design.md, the Winograd review's note) */
    static const char *const compile = "compile loss=sparse_categorical_crossentropy";
    CHECK_OK(fit_then_resume(compile, "", " precision=fp32"));
    CHECK_OK(fit_then_resume(compile, " precision=fp32", ""));
}

int main(void)
{
    RUN(winograd_kernel_on_the_input_gradients_full_padding);
    RUN(winograd_models_at_the_edges_match_direct);
    RUN(winograd_frozen_layer_keeps_its_weights_and_passes_the_gradient);
    RUN(winograd_changes_no_bit_at_precision_bf16);
    RUN(winograd_profile_counts_the_forward_it_executed);
    RUN(resuming_with_the_other_algorithm_names_it_on_a_long_compile_line);
    RUN(resuming_with_the_default_algorithm_named_is_the_same_run);
    RUN(resuming_with_precision_fp32_named_is_the_same_run);
    return TEST_SUMMARY();
}
