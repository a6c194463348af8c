/* test_winograd.c — the Winograd F(2×2, 3×3) convolution (kernels/winograd.c) against
 * fv_conv2d_forward_ref within its stated rounding bound on every path this machine has, and the
 * conv_algorithm=winograd option of a model: thread-count bit-identity, finite differences, the
 * model file and checkpoints, bad values.
 */
#include "core/core.h"
#include "kernels/conv_internal.h"
#include "kernels/gemm_internal.h"
#include "kernels/kernels.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float *falloc(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) abort();
    return p;
}

static void fill_rand(fv_rng *r, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.0f * fv__rng_uniform(r) - 1.0f;
}

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
    CHECK(fv_conv_winograd_applies(&g));
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

TEST(winograd_applies_to_3x3_stride_1_only)
{
    fv_conv_geom g;
    CHECK(geom3(&g, 7, 7, 4, 4, true) && fv_conv_winograd_applies(&g));
    CHECK(geom3(&g, 7, 7, 4, 4, false) && fv_conv_winograd_applies(&g));
    g.stride_w = 2;
    CHECK(!fv_conv_winograd_applies(&g));
    CHECK(geom3(&g, 7, 7, 4, 4, true));
    g.dil_h = 2;
    CHECK(!fv_conv_winograd_applies(&g));
    CHECK(geom3(&g, 7, 7, 4, 4, true));
    g.k_w = 5;
    CHECK(!fv_conv_winograd_applies(&g));
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

int main(void)
{
    RUN(winograd_hand_worked);
    RUN(winograd_applies_to_3x3_stride_1_only);
    RUN(winograd_matches_ref_within_bound_on_every_path);
    RUN(winograd_avx2_and_avx512_give_the_same_bits);
    return TEST_SUMMARY();
}
