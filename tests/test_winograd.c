/* test_winograd.c — the Winograd F(2×2, 3×3) convolution (kernels/winograd.c) against
 * fv_conv2d_forward_ref within its stated rounding bound on every path this machine has, and the
 * conv_algorithm=winograd option of a model: thread-count bit-identity, finite differences, the
 * model file and checkpoints, bad values.
 */
#include "core/core.h"
#include "fovea.h"
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

static void fill_nan(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = NAN;
}

/* A 3×3 stride-1 geometry: same (pad 1) or valid. */
static bool geom3(fv_conv_geom *g, int64_t h, int64_t w, int64_t c, int64_t f, bool same)
{
    memset(g, 0, sizeof *g);
    g->in_h = h, g->in_w = w, g->in_c = c, g->out_c = f;
    g->k_h = g->k_w = 3, g->stride_h = g->stride_w = 1, g->dil_h = g->dil_w = 1;
    g->out_h = fv_conv_out_size(h, 3, 1, 1, same, &g->pad_top);
    g->out_w = fv_conv_out_size(w, 3, 1, 1, same, &g->pad_left);
    return g->out_h > 0 && g->out_w > 0;
}

/* S[oh, ow, f]: the Winograd algorithm in double on |x| and |w| with |A^T|, |G|, |B^T| (every
 * term of the expanded formula with its coefficient's magnitude), the sum that the rounding
 * bound scales (kernels.h, fv_conv_winograd_applies's comment). */
static void abs_winograd(const fv_conv_geom *g, const float *x, const float *w, double *S)
{
    static const double BT[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
    static const double G[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, .5, .5}, {0, 0, 1}};
    static const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};
    const int64_t C = g->in_c, F = g->out_c;
    for (int64_t oh0 = 0; oh0 < g->out_h; oh0 += 2)
        for (int64_t ow0 = 0; ow0 < g->out_w; ow0 += 2)
            for (int64_t f = 0; f < F; f++) {
                double m[4][4] = {{0}};
                for (int64_t c = 0; c < C; c++) {
                    double d[4][4], u[4][4], v[4][4], t[4][4];
                    for (int r = 0; r < 4; r++)
                        for (int s = 0; s < 4; s++) {
                            const int64_t ih = oh0 - g->pad_top + r, iw = ow0 - g->pad_left + s;
                            d[r][s] = ih >= 0 && ih < g->in_h && iw >= 0 && iw < g->in_w
                                          ? fabs(x[(ih * g->in_w + iw) * C + c])
                                          : 0.0;
                        }
                    for (int i = 0; i < 4; i++) /* BT d, then (BT d) B */
                        for (int s = 0; s < 4; s++) {
                            t[i][s] = 0;
                            for (int r = 0; r < 4; r++)
                                t[i][s] += BT[i][r] * d[r][s];
                        }
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            v[i][j] = 0;
                            for (int s = 0; s < 4; s++)
                                v[i][j] += t[i][s] * BT[j][s];
                        }
                    for (int i = 0; i < 4; i++) /* G k G^T */
                        for (int j = 0; j < 4; j++) {
                            u[i][j] = 0;
                            for (int a = 0; a < 3; a++)
                                for (int b = 0; b < 3; b++)
                                    u[i][j] +=
                                        G[i][a] * fabs(w[((a * 3 + b) * C + c) * F + f]) * G[j][b];
                        }
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++)
                            m[i][j] += u[i][j] * v[i][j];
                }
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        if (oh0 + a >= g->out_h || ow0 + b >= g->out_w) continue;
                        double s = 0;
                        for (int i = 0; i < 4; i++)
                            for (int j = 0; j < 4; j++)
                                s += AT[a][i] * m[i][j] * AT[b][j];
                        S[((oh0 + a) * g->out_w + ow0 + b) * F + f] = s;
                    }
            }
}

/* Σ|x·w| over each output's taps (the reference's own rounding bound scales it). */
static void abs_direct(const fv_conv_geom *g, const float *x, const float *w, double *D)
{
    const int64_t C = g->in_c, F = g->out_c;
    for (int64_t oh = 0; oh < g->out_h; oh++)
        for (int64_t ow = 0; ow < g->out_w; ow++)
            for (int64_t f = 0; f < F; f++) {
                double s = 0;
                for (int64_t kh = 0; kh < 3; kh++)
                    for (int64_t kw = 0; kw < 3; kw++) {
                        const int64_t ih = oh - g->pad_top + kh, iw = ow - g->pad_left + kw;
                        if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) continue;
                        for (int64_t c = 0; c < C; c++)
                            s += fabs((double)x[(ih * g->in_w + iw) * C + c] *
                                      (double)w[((kh * 3 + kw) * C + c) * F + f]);
                    }
                D[(oh * g->out_w + ow) * F + f] = s;
            }
}

/* The stated bound: with u = 2^-24, an F(2×2, 3×3) output differs from the exact convolution by
 * at most γ(in_c + 13)·(S + |b| + |y0|) (γ(n) = n·u / (1 − n·u); in_c + 13 roundings on the
 * longest chain: 4 in G g G^T, 2 in B^T d B, the product, in_c in the GEMM's chain, 4 in A^T M A,
 * the bias or the add, and one to spare), and fv_conv2d_forward_ref (float sums of 9·in_c + 1
 * terms in order) by γ(9·in_c + 1)·(Σ|x·w| + |b|). Their sum bounds |winograd − ref|. */
static double bound(int64_t C, double S, double D, double b, double y0)
{
    const double u = ldexp(1.0, -24), n1 = (double)C + 13, n2 = 9.0 * (double)C + 1;
    return n1 * u / (1 - n1 * u) * (S + fabs(b) + fabs(y0)) + n2 * u / (1 - n2 * u) * (D + fabs(b));
}

/* One geometry on path p: forward (bias, relu as given) and add, against the reference within
 * the bound. Returns the largest |error| / bound seen (< 1 passes). */
static double compare(fv_rng *r, const fv_conv_geom *g, int p, bool bias, bool relu)
{
    const int64_t C = g->in_c, F = g->out_c, X = g->in_h * g->in_w * C;
    const int64_t Y = g->out_h * g->out_w * F, Wn = 9 * C * F;
    float *x = falloc(X), *w = falloc(Wn), *b = falloc(F), *yr = falloc(Y), *y = falloc(Y);
    float *y0 = falloc(Y), *u = falloc(fv_conv_winograd_pack_floats(g));
    float *s = falloc(fv_conv_winograd_scratch_floats(g));
    double *S = malloc((size_t)Y * sizeof(double)), *D = malloc((size_t)Y * sizeof(double));
    if (!S || !D) abort();
    fill_rand(r, x, X), fill_rand(r, w, Wn), fill_rand(r, b, F), fill_rand(r, y0, Y);
    fv_conv2d_forward_ref(g, x, w, bias ? b : NULL, yr);
    abs_winograd(g, x, w, S);
    abs_direct(g, x, w, D);
    fill_nan(u, fv_conv_winograd_pack_floats(g));
    fv_conv_winograd_pack(g, w, u);
    fv__conv_force_path(p);
    double worst = 0;
    /* forward: every output written (y starts NaN), scratch read only where written */
    fill_nan(y, Y), fill_nan(s, fv_conv_winograd_scratch_floats(g));
    fv_conv2d_forward_winograd(g, x, u, bias ? b : NULL, relu, y, s, x, X);
    for (int64_t i = 0; i < Y; i++) {
        const double want = relu ? (yr[i] > 0 ? yr[i] : 0) : yr[i];
        const double tol = bound(C, S[i], D[i], bias ? b[i % F] : 0, 0);
        const double e = fabs((double)y[i] - want) / tol;
        if (!(e <= worst)) worst = e; /* NaN makes worst NaN: fails */
    }
    /* add: y0 + the convolution (no bias, no activation) */
    fv_conv2d_forward_ref(g, x, w, NULL, yr);
    memcpy(y, y0, (size_t)Y * sizeof(float));
    fv_conv2d_forward_winograd_add(g, x, u, y, s, NULL, 0);
    for (int64_t i = 0; i < Y; i++) {
        const double want = (double)y0[i] + (double)yr[i];
        const double e = fabs((double)y[i] - want) / bound(C, S[i], D[i], 0, y0[i]);
        if (!(e <= worst)) worst = e;
    }
    fv__conv_force_path(-1);
    free(x), free(w), free(b), free(yr), free(y), free(y0), free(u), free(s), free(S), free(D);
    return worst;
}

TEST(winograd_hand_worked)
{
    /* 4×4 input x[h][w] = h·4 + w + 1, one channel, one filter, kernel of ones except a −1 at the
     * centre, valid: each output its window's sum minus twice its centre, y[0][0] = 54 − 12 = 42,
     * y[0][1] = 63 − 14 = 49, y[1][0] = 90 − 20 = 70, y[1][1] = 99 − 22 = 77; the transforms'
     * halvings and sums of these small integers are exact. */
    fv_conv_geom g;
    CHECK(geom3(&g, 4, 4, 1, 1, false));
    CHECK(fv__conv_winograd_computes(&g) && !fv_conv_winograd_applies(&g)); /* 1 channel */
    float x[16], w[9], u[16 * 16], y[4], s[4096];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    for (int i = 0; i < 9; i++)
        w[i] = i == 4 ? -1.0f : 1.0f;
    CHECK(fv_conv_winograd_pack_floats(&g) == 16 * 16);
    CHECK(fv_conv_winograd_scratch_floats(&g) <= 4096);
    fv_conv_winograd_pack(&g, w, u);
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv__conv_force_path(p);
        fv_conv2d_forward_winograd(&g, x, u, NULL, false, y, s, NULL, 0);
        CHECK(y[0] == 42.0f && y[1] == 49.0f && y[2] == 70.0f && y[3] == 77.0f);
    }
    fv__conv_force_path(-1);
}

TEST(winograd_applies_to_3x3_stride_1_from_16_channels)
{
    fv_conv_geom g;
    CHECK(geom3(&g, 7, 7, 16, 16, true) && fv_conv_winograd_applies(&g));
    CHECK(geom3(&g, 7, 7, 64, 32, false) && fv_conv_winograd_applies(&g));
    CHECK(geom3(&g, 7, 7, 15, 16, true) && !fv_conv_winograd_applies(&g));
    CHECK(fv__conv_winograd_computes(&g));
    CHECK(geom3(&g, 7, 7, 16, 8, true) && !fv_conv_winograd_applies(&g));
    CHECK(geom3(&g, 7, 7, 16, 16, true));
    g.stride_w = 2;
    CHECK(!fv_conv_winograd_applies(&g) && !fv__conv_winograd_computes(&g));
    CHECK(geom3(&g, 7, 7, 16, 16, true));
    g.dil_h = 2;
    CHECK(!fv_conv_winograd_applies(&g) && !fv__conv_winograd_computes(&g));
    CHECK(geom3(&g, 7, 7, 16, 16, true));
    g.k_w = 5;
    CHECK(!fv_conv_winograd_applies(&g) && !fv__conv_winograd_computes(&g));
}

TEST(winograd_matches_ref_within_bound_on_every_path)
{
    /* Random and odd shapes: outputs 1..9 on each axis, same and valid padding, channels and
     * filters 1..67 (vector tails and every panel width), with and without bias and ReLU, and
     * the add; then the ResNet example's layer shapes (16/32/64 channels) at their sizes. */
    int cases = 0;
    double worst = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv_rng r;
        fv__rng_seed(&r, 1515 + (uint64_t)p);
        for (int k = 0; k < 40; k++) {
            const bool same = k % 2;
            const int64_t oh = 1 + (int64_t)fv__rng_below(&r, 9);
            const int64_t ow = 1 + (int64_t)fv__rng_below(&r, 9);
            const int64_t c = 1 + (int64_t)fv__rng_below(&r, k < 8 ? 67 : 20);
            const int64_t f = 1 + (int64_t)fv__rng_below(&r, k < 8 ? 67 : 40);
            fv_conv_geom g;
            CHECK(geom3(&g, same ? oh : oh + 2, same ? ow : ow + 2, c, f, same));
            const double e = compare(&r, &g, p, k % 3 != 0, k % 4 == 1);
            if (!(e <= worst)) worst = e;
            cases++;
        }
        static const int64_t layers[][3] = {{28, 16, 16}, {14, 32, 32}, {7, 64, 64}};
        for (int i = 0; i < 3; i++) {
            fv_conv_geom g;
            CHECK(geom3(&g, layers[i][0], layers[i][0], layers[i][1], layers[i][2], true));
            const double e = compare(&r, &g, p, true, true);
            if (!(e <= worst)) worst = e;
            cases++;
        }
    }
    printf("     %d cases, largest |error| / bound %.3g\n", cases, worst);
    CHECK(cases >= 43);
    CHECK(worst < 1.0);
}

TEST(winograd_avx2_and_avx512_give_the_same_bits)
{
    /* The same chains in the same order whatever the vector width: the AVX-512 instance, its
     * AVX2-compiled twin and the AVX2 one agree to the bit (the portable path has no FMA). */
    if (!fv__conv_path_supported(FV__GEMM_AVX2)) SKIP("no AVX2 + FMA on this CPU");
    fv_rng r;
    fv__rng_seed(&r, 4242);
    int compared = 0;
    for (int k = 0; k < 12; k++) {
        fv_conv_geom g;
        const int64_t c = 1 + (int64_t)fv__rng_below(&r, 67),
                      f = 1 + (int64_t)fv__rng_below(&r, 67);
        CHECK(geom3(&g, 3 + k % 8, 3 + k % 7, c, f, k % 2));
        const int64_t X = g.in_h * g.in_w * c, Y = g.out_h * g.out_w * f;
        float *x = falloc(X), *w = falloc(9 * c * f), *b = falloc(f), *y[3];
        float *u = falloc(fv_conv_winograd_pack_floats(&g));
        float *s = falloc(fv_conv_winograd_scratch_floats(&g));
        fill_rand(&r, x, X), fill_rand(&r, w, 9 * c * f), fill_rand(&r, b, f);
        fv_conv_winograd_pack(&g, w, u);
        static const int paths[3] = {FV__GEMM_AVX2, FV__GEMM_WIDE_ON_AVX2, FV__GEMM_AVX512};
        int n = 0;
        for (int i = 0; i < 3; i++) {
            if (!fv__conv_path_supported((fv__gemm_path)paths[i])) continue;
            fv__conv_force_path(paths[i]);
            y[n] = falloc(Y);
            fv_conv2d_forward_winograd(&g, x, u, b, k % 3 == 0, y[n], s, NULL, 0);
            n++;
        }
        fv__conv_force_path(-1);
        for (int i = 1; i < n; i++, compared++)
            CHECK(memcmp(y[0], y[i], (size_t)Y * sizeof(float)) == 0);
        for (int i = 0; i < n; i++)
            free(y[i]);
        free(x), free(w), free(b), free(u), free(s);
    }
    CHECK(compared >= 12);
}

TEST(winograd_16_channel_runs_give_the_blocked_order_bits)
{
    /* Where in_c and out_c round up to 16, the forward runs its tiles in runs of 24 inside L1
     * (runs16); the same operations on the same values as the blocked order, so the same bits,
     * forward with and without bias and ReLU and the add: the ResNet example's 28×28 layer, odd
     * sizes (runs that end mid-row, a last run of a few tiles), channels and filters 1-16. */
    int compared = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv_rng r;
        fv__rng_seed(&r, 1616 + (uint64_t)p);
        for (int k = 0; k < 14; k++) {
            const int64_t h = k == 0 ? 28 : 1 + (int64_t)fv__rng_below(&r, 31);
            const int64_t w = k == 0 ? 28 : 1 + (int64_t)fv__rng_below(&r, 31);
            const int64_t c = k < 6 ? 16 : 1 + (int64_t)fv__rng_below(&r, 16);
            const int64_t f = k < 4 ? 16 : 1 + (int64_t)fv__rng_below(&r, 16);
            fv_conv_geom g;
            if (!geom3(&g, h + 2 * (k % 2 == 0), w + 2 * (k % 2 == 0), c, f, k % 2)) continue;
            const int64_t X = g.in_h * g.in_w * c, Y = g.out_h * g.out_w * f;
            const int64_t S = fv_conv_winograd_scratch_floats(&g);
            float *x = falloc(X), *wt = falloc(9 * c * f), *b = falloc(f), *y0 = falloc(Y);
            float *u = falloc(fv_conv_winograd_pack_floats(&g)), *s = falloc(S), *y[2];
            fill_rand(&r, x, X), fill_rand(&r, wt, 9 * c * f), fill_rand(&r, b, f);
            fill_rand(&r, y0, Y);
            fv_conv_winograd_pack(&g, wt, u);
            fv__conv_force_path(p);
            for (int form = 0; form < 3; form++) {
                for (int blocks = 0; blocks < 2; blocks++) {
                    fv__conv_winograd_force_blocks(blocks);
                    y[blocks] = falloc(Y);
                    fill_nan(s, S);
                    if (form == 2) {
                        memcpy(y[blocks], y0, (size_t)Y * sizeof(float));
                        fv_conv2d_forward_winograd_add(&g, x, u, y[blocks], s, x, X);
                    } else {
                        fill_nan(y[blocks], Y);
                        fv_conv2d_forward_winograd(&g, x, u, form ? b : NULL, form == 1, y[blocks],
                                                   s, x, X);
                    }
                }
                fv__conv_winograd_force_blocks(false);
                bool finite = true;
                for (int64_t i = 0; i < Y; i++)
                    finite = finite && isfinite(y[0][i]);
                CHECK(finite);
                CHECK(memcmp(y[0], y[1], (size_t)Y * sizeof(float)) == 0);
                compared++;
                free(y[0]), free(y[1]);
            }
            fv__conv_force_path(-1);
            free(x), free(wt), free(b), free(y0), free(u), free(s);
        }
    }
    CHECK(compared >= 3 * 14);
}

/* ---- the option in a model ------------------------------------------------------------------ */

/* A residual block at 16 channels (Winograd forward and input gradient, BatchNormalization's
 * fused passes, the identity shortcut's in-place input gradient), a valid convolution with fused
 * ReLU and bias from 16 to 20 channels, a strided one and a 3-channel stem (direct). */
static const char *block = "input shape=9,7,3\n"
                           "conv2d name=stem filters=16 kernel_size=3 padding=same use_bias=false\n"
                           "batch_normalization name=stem_bn\n"
                           "relu name=r0\n"
                           "conv2d name=c1 filters=16 kernel_size=3 padding=same use_bias=false\n"
                           "batch_normalization name=bn1\n"
                           "relu name=r1\n"
                           "conv2d name=c2 filters=16 kernel_size=3 padding=same\n"
                           "batch_normalization name=bn2\n"
                           "add name=add1 inputs=bn2,r0\n"
                           "relu name=r2\n"
                           "conv2d name=c3 filters=20 kernel_size=3 activation=relu\n"
                           "conv2d name=c4 filters=17 kernel_size=3 strides=2 padding=same\n"
                           "global_average_pooling2d\n"
                           "dense units=4 activation=softmax\n";

static fv_model *block_model(const char *algorithm)
{
    char text[2048];
    snprintf(text, sizeof text,
             "%scompile loss=sparse_categorical_crossentropy optimizer=adam conv_algorithm=%s\n",
             block, algorithm);
    fv_model *m = fv_model_parse_string(text, "block.fv");
    if (m && fv__model_ensure_weights(m, 7) != FV_OK) fv_model_free(m), m = NULL;
    return m;
}

static float *random_floats(int64_t n, uint64_t seed)
{
    fv_rng r;
    fv__rng_seed(&r, seed);
    float *x = falloc(n);
    fill_rand(&r, x, n);
    return x;
}

/* Three training steps of N samples on `threads` threads (fusion on or off): the loss of the
 * last, and the model (weights in m->weights). */
static double three_steps(fv_model *m, int threads, int64_t N)
{
    const int64_t in = fv_model_input_size(m);
    float *x = random_floats(N * in, 11);
    int32_t *labels = malloc((size_t)N * sizeof(int32_t));
    if (!labels) abort();
    for (int64_t i = 0; i < N; i++)
        labels[i] = (int32_t)(i % 4);
    fv_targets t[1] = {{.labels = labels}};
    const float *xs[1] = {x};
    double loss = NAN;
    fv_set_threads(threads);
    for (int s = 0; s < 3; s++)
        CHECK_OK(fv__model_train_step_heads(m, xs, t, N, &loss, NULL));
    fv_set_threads(0);
    free(x), free(labels);
    return loss;
}

TEST(winograd_model_steps_are_the_same_bits_on_1_2_3_threads_fused_or_not)
{
    enum { N = 11 };
    fv_model *m[4] = {block_model("winograd"), block_model("winograd"), block_model("winograd"),
                      block_model("winograd")};
    CHECK(m[0] && m[1] && m[2] && m[3]);
    if (!m[0] || !m[1] || !m[2] || !m[3]) goto done;
    fv__model_set_fusion(m[3], false); /* BatchNormalization's passes apart */
    double loss[4];
    for (int i = 0; i < 4; i++)
        loss[i] = three_steps(m[i], i < 3 ? i + 1 : 1, N);
    CHECK(isfinite(loss[0]));
    for (int i = 1; i < 4; i++) {
        CHECK(memcmp(&loss[0], &loss[i], sizeof(double)) == 0);
        CHECK(m[i]->nweights == m[0]->nweights &&
              memcmp(m[0]->weights, m[i]->weights, (size_t)m[0]->nweights * sizeof(float)) == 0);
    }
done:
    for (int i = 0; i < 4; i++)
        fv_model_free(m[i]);
}

TEST(winograd_model_differs_from_direct_by_rounding_only)
{
    /* The option takes effect (other bits: other sums) and changes nothing else (the same weights
     * after three steps to within 1e-4 of their scale; a wrong transform of a gradient or a
     * forward would move them by the learning rate, 1e-3). */
    enum { N = 11 };
    fv_model *w = block_model("winograd"), *d = block_model("direct");
    CHECK(w && d);
    if (!w || !d) goto done;
    CHECK(strcmp(fv_model_conv_algorithm(w), "winograd") == 0);
    CHECK(strcmp(fv_model_conv_algorithm(d), "direct") == 0);
    const double lw = three_steps(w, 2, N), ld = three_steps(d, 2, N);
    CHECK(memcmp(&lw, &ld, sizeof lw) != 0);
    CHECK_CLOSE(lw, ld, 1e-5, 1e-5);
    double worst = 0;
    for (int64_t i = 0; i < w->nweights; i++) {
        const double e = fabs((double)w->weights[i] - (double)d->weights[i]);
        worst = e > worst ? e : worst;
    }
    printf("     largest weight difference after three steps: %.3g\n", worst);
    CHECK(worst > 0 && worst < 1e-4);
done:
    fv_model_free(w);
    fv_model_free(d);
}

TEST(winograd_model_gradient_matches_finite_differences)
{
    /* Directional finite differences of the loss along a random direction of each kernel, on a
     * smooth model (tanh: no ReLU kinks, no batch statistics) whose c1 and c2 take the Winograd
     * forward and input gradient (c1's added in place beside the Add's), against the gradient
     * backward computed; the stem's gradient passes through both input gradients. */
    char text[1024];
    snprintf(text, sizeof text,
             "input shape=6,5,3\n"
             "conv2d name=stem filters=16 kernel_size=3 padding=same activation=tanh\n"
             "conv2d name=c1 filters=16 kernel_size=3 padding=same activation=tanh\n"
             "add name=a inputs=c1,stem\n"
             "conv2d name=c2 filters=18 kernel_size=3 activation=tanh\n"
             "flatten\n"
             "dense name=out units=4 activation=softmax\n"
             "compile loss=sparse_categorical_crossentropy conv_algorithm=%s\n",
             "winograd");
    fv_model *m = fv_model_parse_string(text, "smooth.fv");
    CHECK(m != NULL);
    if (!m) return;
    CHECK_OK(fv__model_ensure_weights(m, 5));
    enum { N = 5 };
    float *x = random_floats(N * fv_model_input_size(m), 23);
    int32_t labels[N] = {2, 0, 1, 3, 0};
    fv_targets t = {.labels = labels};
    static const char *const tensors[] = {"stem.kernel", "stem.bias", "c1.kernel",
                                          "c1.bias",     "c2.kernel", "c2.bias"};
    fv_rng r;
    fv__rng_seed(&r, 99);
    const double eps = 1e-3;
    for (size_t ti = 0; ti < sizeof tensors / sizeof tensors[0]; ti++) {
        int rank;
        int64_t dims[4], n = 1;
        double L0, Lp, Lm, analytic = 0;
        float *w = fv_model_param(m, tensors[ti], &rank, dims);
        float *g = fv__model_grad(m, tensors[ti]);
        CHECK(w && g);
        if (!w || !g) continue;
        for (int k = 0; k < rank; k++)
            n *= dims[k];
        CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, true, &L0));
        double *v = malloc((size_t)n * sizeof(double));
        float *w0 = falloc(n);
        if (!v) abort();
        memcpy(w0, w, (size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++)
            v[j] = fv__rng_normal(&r), analytic += v[j] * g[j];
        for (int64_t j = 0; j < n; j++)
            w[j] = (float)(w0[j] + eps * v[j]);
        CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, true, &Lp));
        for (int64_t j = 0; j < n; j++)
            w[j] = (float)(w0[j] - eps * v[j]);
        CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, true, &Lm));
        memcpy(w, w0, (size_t)n * sizeof(float));
        const double numeric = (Lp - Lm) / (2 * eps);
        if (!(fabs(numeric - analytic) <= 2e-3 + 2e-2 * fabs(analytic))) {
            fprintf(stderr, "  %s: analytic %.6g, numeric %.6g\n", tensors[ti], analytic, numeric);
            test_failed_checks++;
        }
        free(v), free(w0);
    }
    free(x);
    fv_model_free(m);
}

TEST(conv_algorithm_round_trips_through_the_model_file_and_a_checkpoint)
{
    char dir[128], path[256], ck[256];
    test_tmpdir("winograd", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    fv_model *m = block_model("winograd");
    CHECK(m != NULL);
    if (!m) return;
    char *text = fv_model_to_text(m);
    CHECK_STR_CONTAINS(text, " conv_algorithm=winograd");
    fv_model *back = fv_model_parse_string(text, "back.fv");
    CHECK(back && strcmp(fv_model_conv_algorithm(back), "winograd") == 0);
    fv_model_free(back);
    free(text);
    CHECK_OK(fv_model_save(m, path));
    fv_model *loaded = fv_model_load(path);
    CHECK(loaded && strcmp(fv_model_conv_algorithm(loaded), "winograd") == 0);
    fv_model_free(loaded);
    /* A checkpoint keeps it: its model is the one saved, and resuming it with the direct
     * algorithm is another run (other bits), refused naming the difference. */
    enum { N = 24 };
    float *x = random_floats(N * fv_model_input_size(m), 5);
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = i % 4;
    const int64_t dims[3] = {9, 7, 3};
    fv_dataset *d = fv_dataset_from_f32(N, 3, dims, x, labels);
    CHECK(d != NULL);
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 1, o.batch_size = 8, o.seed = 3, o.checkpoint_dir = dir;
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    fv_model *c = fv_model_load(ck);
    CHECK(c && strcmp(fv_model_conv_algorithm(c), "winograd") == 0);
    fv_model_free(c);
    fv_model *direct = block_model("direct");
    o.epochs = 2, o.resume = true;
    CHECK(direct && fv_model_fit(direct, d, &o, NULL) == FV_ERR_STATE);
    CHECK_STR_CONTAINS(fv_last_error(), "conv_algorithm");
    fv_model *same = block_model("winograd");
    CHECK(same);
    CHECK_OK(fv_model_fit(same, d, &o, NULL));
    CHECK(fv_model_last_fit(same).initial_epoch == 1);
    fv_model_free(same);
    fv_model_free(direct);
    fv_dataset_free(d);
    free(x);
    fv_model_free(m);
}

TEST(bad_conv_algorithm_values_are_refused_naming_the_field)
{
    fv_model *m = block_model("direct");
    CHECK(m != NULL);
    if (!m) return;
    CHECK(fv_model_set_conv_algorithm(m, "fast") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "conv_algorithm=fast");
    CHECK(fv_model_set_conv_algorithm(m, NULL) == FV_ERR_INVALID);
    CHECK(strcmp(fv_model_conv_algorithm(m), "direct") == 0); /* unchanged */
    CHECK(fv_model_compile(m, "loss=sparse_categorical_crossentropy conv_algorithm=fast") ==
          FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "conv_algorithm=fast: expected direct or winograd");
    CHECK(strcmp(fv_model_conv_algorithm(m), "direct") == 0); /* compile is all or nothing */
    CHECK_OK(fv_model_set_conv_algorithm(m, "winograd"));
    CHECK(strcmp(fv_model_conv_algorithm(m), "winograd") == 0);
    fv_model_free(m);
    char text[2048];
    snprintf(text, sizeof text,
             "%scompile loss=sparse_categorical_crossentropy "
             "conv_algorithm=Winograd\n",
             block);
    CHECK(fv_model_parse_string(text, "bad.fv") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "bad.fv");
    CHECK_STR_CONTAINS(fv_last_error(), "conv_algorithm=Winograd");
}

int main(void)
{
    RUN(winograd_hand_worked);
    RUN(winograd_applies_to_3x3_stride_1_from_16_channels);
    RUN(winograd_matches_ref_within_bound_on_every_path);
    RUN(winograd_avx2_and_avx512_give_the_same_bits);
    RUN(winograd_16_channel_runs_give_the_blocked_order_bits);
    RUN(winograd_model_steps_are_the_same_bits_on_1_2_3_threads_fused_or_not);
    RUN(winograd_model_differs_from_direct_by_rounding_only);
    RUN(winograd_model_gradient_matches_finite_differences);
    RUN(conv_algorithm_round_trips_through_the_model_file_and_a_checkpoint);
    RUN(bad_conv_algorithm_values_are_refused_naming_the_field);
    return TEST_SUMMARY();
}
