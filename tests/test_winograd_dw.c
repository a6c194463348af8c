/* test_winograd_dw.c — the Winograd F(2×2, 3×3) weight gradient (winograd_dw.c) against the
 * reference backward's dw and an exact sum in double, on random and odd shapes, on every path the
 * machine has, within the rounding bound stated in kernels.h; and the FMA paths' bits.
 */
#include "core/core.h"
#include "kernels/conv_internal.h"
#include "kernels/gemm_internal.h"
#include "kernels/kernels.h"
#include "test.h"
#include "test_arrays.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float *nan_aligned(int64_t n)
{
    /* 64-byte aligned, as the kernel's scratch must be; NaN-filled, so that a read of anything
     * the kernel did not write first shows in its result */
    const size_t bytes = (size_t)((n > 0 ? n : 1) + 15) / 16 * 16 * sizeof(float);
    float *p = aligned_alloc(64, bytes);
    if (!p) abort();
    for (size_t i = 0; i < bytes / sizeof(float); i++)
        p[i] = NAN;
    return p;
}

static bool make_geom(fv_conv_geom *g, int64_t h, int64_t w, int64_t c, int64_t f, bool same)
{
    memset(g, 0, sizeof *g);
    g->in_h = h, g->in_w = w, g->in_c = c, g->k_h = 3, g->k_w = 3, g->out_c = f;
    g->stride_h = g->stride_w = g->dil_h = g->dil_w = 1;
    g->out_h = fv_conv_out_size(h, 3, 1, 1, same, &g->pad_top);
    g->out_w = fv_conv_out_size(w, 3, 1, 1, same, &g->pad_left);
    return g->out_h > 0 && g->out_w > 0;
}

/* x at (image i, row r, column c) of g's input, 0 outside it. */
static double x_at(const fv_conv_geom *g, const float *x, int64_t i, int64_t r, int64_t c,
                   int64_t ch)
{
    if (r < 0 || r >= g->in_h || c < 0 || c >= g->in_w) return 0;
    return x[((i * g->in_h + r) * g->in_w + c) * g->in_c + ch];
}

static double dz_at(const fv_conv_geom *g, const float *dz, int64_t i, int64_t r, int64_t c,
                    int64_t f)
{
    if (r >= g->out_h || c >= g->out_w) return 0;
    return dz[((i * g->out_h + r) * g->out_w + c) * g->out_c + f];
}

/* o [R × R] ← T w Tᵀ, T [R × k], w [k × k]: a transform with its matrix's absolute values. */
static void sandwich(const double *T, int R, int k, const double *w, double *o)
{
    for (int a = 0; a < R; a++)
        for (int b = 0; b < R; b++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                for (int q = 0; q < k; q++)
                    s += T[a * k + p] * w[p * k + q] * T[b * k + q];
            o[a * R + b] = s;
        }
}

/* exact [9·C·F] ← dw0 + the gradient of n images in double (direct sum), and bound [9·C·F] ←
 * |dw0| + Σ over the tiles of |G|ᵀ (|A| |dY| |A|ᵀ ⊙ |B|ᵀ |d| |B|) |G|: the sum of the magnitudes
 * of every term the Winograd arithmetic adds, which bounds each of its intermediate values. */
static void exact_and_bound(const fv_conv_geom *g, int64_t n, const float *x, const float *dz,
                            const float *dw0, double *exact, double *bound)
{
    const int64_t C = g->in_c, F = g->out_c, K = 9 * C * F;
    static const double aBt[16] = {1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1}; /* |Bᵀ| */
    static const double aA[8] = {1, 0, 1, 1, 1, 1, 0, 1};                           /* |A| */
    static const double aGt[12] = {1, .5, .5, 0, 0, .5, .5, 0, 0, .5, .5, 1};       /* |Gᵀ| */
    double *au = calloc((size_t)(16 * C * F), sizeof(double));
    double *va = malloc((size_t)(16 * C) * sizeof(double));
    double *ma = malloc((size_t)(16 * F) * sizeof(double));
    if (!au || !va || !ma) abort();
    for (int64_t k = 0; k < K; k++)
        exact[k] = dw0[k], bound[k] = fabs(dw0[k]);
    for (int64_t i = 0; i < n; i++)
        for (int64_t oy = 0; oy < g->out_h; oy++)
            for (int64_t ox = 0; ox < g->out_w; ox++)
                for (int64_t kh = 0; kh < 3; kh++)
                    for (int64_t kw = 0; kw < 3; kw++)
                        for (int64_t c = 0; c < C; c++) {
                            const double xv =
                                x_at(g, x, i, oy - g->pad_top + kh, ox - g->pad_left + kw, c);
                            for (int64_t f = 0; f < F; f++)
                                exact[((kh * 3 + kw) * C + c) * F + f] +=
                                    xv * dz_at(g, dz, i, oy, ox, f);
                        }
    double win[16], o[16];
    for (int64_t i = 0; i < n; i++)
        for (int64_t oy = 0; oy < g->out_h; oy += 2)
            for (int64_t ox = 0; ox < g->out_w; ox += 2) {
                const int64_t iy = oy - g->pad_top, ix = ox - g->pad_left;
                for (int64_t c = 0; c < C; c++) {
                    for (int p = 0; p < 16; p++)
                        win[p] = fabs(x_at(g, x, i, iy + p / 4, ix + p % 4, c));
                    sandwich(aBt, 4, 4, win, o);
                    for (int xi = 0; xi < 16; xi++)
                        va[xi * C + c] = o[xi];
                }
                for (int64_t f = 0; f < F; f++) {
                    for (int p = 0; p < 4; p++)
                        win[p] = fabs(dz_at(g, dz, i, oy + p / 2, ox + p % 2, f));
                    sandwich(aA, 4, 2, win, o);
                    for (int xi = 0; xi < 16; xi++)
                        ma[xi * F + f] = o[xi];
                }
                for (int64_t xi = 0; xi < 16; xi++)
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t f = 0; f < F; f++)
                            au[(xi * C + c) * F + f] += va[xi * C + c] * ma[xi * F + f];
            }
    for (int64_t c = 0; c < C; c++)
        for (int64_t f = 0; f < F; f++) {
            for (int xi = 0; xi < 16; xi++)
                win[xi] = au[(xi * C + c) * F + f];
            sandwich(aGt, 3, 4, win, o);
            for (int k = 0; k < 9; k++)
                bound[(k * C + c) * F + f] += o[k];
        }
    free(au), free(va), free(ma);
}

/* One case on path p: dw0 random, dw ← dw0 + the Winograd gradient, checked against the exact
 * gradient within γ_k · bound (k = n·tiles + 12, unit roundoff u = 2⁻²⁴: the FMA chain of n·tiles
 * terms, 2 roundings in each transform of the inputs, 4 in the output transform, 1 in the +=, 1
 * more for the portable path's separate products, and 2 to spare), and against
 * fv_conv2d_backward_ref within that plus the reference's own γ_{n·P+1} (it adds each product to dw
 * in float). Returns dw (to compare paths' bits); out_dw NULL: freed. */
static bool one_case(int p, const fv_conv_geom *g, int64_t n, uint64_t seed, float **out_dw)
{
    fv__conv_force_path(p);
    fv_rng r;
    fv__rng_seed(&r, seed);
    const int64_t C = g->in_c, F = g->out_c, K = 9 * C * F;
    const int64_t in_sz = g->in_h * g->in_w * C, out_sz = g->out_h * g->out_w * F;
    float *x = nan_aligned(n * in_sz), *dz = nan_aligned(n * out_sz), *dw = nan_aligned(K), *dw0 = nan_aligned(K);
    float *ref = nan_aligned(K), *w = nan_aligned(K);
    float *sc = nan_aligned(fv_conv_dw_wino_scratch_floats(g, n));
    double *exact = malloc((size_t)K * sizeof(double)), *bound = malloc((size_t)K * sizeof(double));
    if (!exact || !bound) abort();
    fill_rand(&r, x, n * in_sz), fill_rand(&r, dz, n * out_sz), fill_rand(&r, dw0, K);
    fill_rand(&r, w, K);
    memcpy(dw, dw0, (size_t)K * sizeof(float));
    memcpy(ref, dw0, (size_t)K * sizeof(float));
    fv_conv_dw_wino_images(g, n, x, dz, dw, sc);
    for (int64_t i = 0; i < n; i++)
        fv_conv2d_backward_ref(g, x + i * in_sz, w, dz + i * out_sz, ref, NULL, NULL);
    exact_and_bound(g, n, x, dz, dw0, exact, bound);
    const double u = ldexp(1.0, -24);
    const int64_t tiles = n * ((g->out_h + 1) / 2) * ((g->out_w + 1) / 2);
    const double kw = (double)(tiles + 12), kr = (double)(n * g->out_h * g->out_w + 1);
    const double gw = kw * u / (1 - kw * u), gr = kr * u / (1 - kr * u);
    int64_t bad = 0;
    double worst = 0; /* the largest error as a fraction of its bound */
    for (int64_t k = 0; k < K; k++) {
        const double e = fabs(dw[k] - exact[k]), er = fabs((double)dw[k] - ref[k]);
        const double tol = gw * bound[k], tolr = tol + gr * bound[k];
        if (!(e <= tol) || !(er <= tolr)) {
            if (bad < 3)
                fprintf(stderr, "  dw[%ld] = %.9g, exact %.9g, ref %.9g, bound %.3g\n", (long)k,
                        (double)dw[k], exact[k], (double)ref[k], tol);
            bad++;
        }
        if (tol > 0 && e / tol > worst) worst = e / tol;
    }
    if (bad)
        fprintf(stderr,
                "  path %s: %ld of %ld wrong (worst %.3g of its bound): in %ldx%ldx%ld f %ld pad "
                "%ld,%ld n %ld\n",
                fv__gemm_path_name((fv__gemm_path)p), (long)bad, (long)K, worst, (long)g->in_h,
                (long)g->in_w, (long)C, (long)F, (long)g->pad_top, (long)g->pad_left, (long)n);
    free(x), free(dz), free(dw0), free(ref), free(w), free(sc), free(exact), free(bound);
    if (out_dw)
        *out_dw = dw;
    else
        free(dw);
    fv__conv_force_path(-1);
    return bad == 0;
}

TEST(wino_dw_applies_to_3x3_stride_1_only)
{
    fv_conv_geom g;
    CHECK(make_geom(&g, 7, 7, 4, 4, true) && fv_conv_dw_wino_applies(&g));
    CHECK(make_geom(&g, 7, 7, 4, 4, false) && fv_conv_dw_wino_applies(&g));
    g.stride_h = 2;
    CHECK(!fv_conv_dw_wino_applies(&g));
    CHECK(make_geom(&g, 7, 7, 4, 4, true));
    g.dil_w = 2;
    CHECK(!fv_conv_dw_wino_applies(&g));
    CHECK(make_geom(&g, 7, 7, 4, 4, true));
    g.k_h = 5;
    CHECK(!fv_conv_dw_wino_applies(&g));
}

TEST(wino_dw_matches_ref_on_odd_shapes_every_path)
{
    /* sizes 1 to 9 a side (valid padding needs 3), 1 to 67 channels and filters (partial vectors
     * of 8 and 16, the register tiles' remainder rows), same and valid padding, 1 to 5 images,
     * dw accumulated into random values; on every path this machine has */
    static const int64_t chans[] = {1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 33, 48, 67};
    int cases = 0, idx = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        for (int64_t h = 1; h <= 9; h++)
            for (int64_t w = 1; w <= 9; w += 2 + (h % 2))
                for (int same = 0; same <= 1; same++, idx++) {
                    fv_conv_geom g;
                    const int64_t C = chans[idx % 13], F = chans[(idx * 7 + 3) % 13];
                    if (!make_geom(&g, h, w, C, F, same)) continue;
                    const int64_t n = 1 + idx % 5;
                    CHECK(one_case(p, &g, n, 977 + (uint64_t)idx, NULL));
                    cases++;
                }
    }
    CHECK(cases >= 40);
}

TEST(wino_dw_resnet_shapes_and_fma_paths_bits)
{
    /* The ResNet example's stride-1 layers (16, 32 and 64 channels on 28×28, 14×14 and 7×7, same
     * padding), 8 images as conv2d groups them, and a wide odd case: each within its bound on
     * every path, and the FMA paths (AVX2, AVX-512, and the AVX-512 tiles compiled for AVX2)
     * bit-identical, as kernels.h promises */
    static const int64_t shapes[][5] = {
        {28, 28, 16, 16, 8}, {14, 14, 32, 32, 8}, {7, 7, 64, 64, 8}, {9, 6, 67, 45, 3}};
    int fma_paths = 0;
    for (int s = 0; s < 4; s++) {
        fv_conv_geom g;
        CHECK(make_geom(&g, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], true));
        const int64_t K = 9 * g.in_c * g.out_c;
        float *first = NULL;
        fma_paths = 0;
        for (int p = 0; p < FV__GEMM_NPATHS; p++) {
            if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
            float *dw = NULL;
            CHECK(one_case(p, &g, shapes[s][4], 4242 + (uint64_t)s, &dw));
            if (p != FV__GEMM_GENERIC) {
                if (!first)
                    first = dw, dw = NULL;
                else if (memcmp(first, dw, (size_t)K * sizeof(float)) != 0) {
                    fprintf(stderr, "  shape %d: path %s's bits differ from the other FMA path's\n",
                            s, fv__gemm_path_name((fv__gemm_path)p));
                    test_failed_checks++;
                }
                fma_paths++;
            }
            free(dw);
        }
        free(first);
    }
    if (fma_paths < 2) SKIP("fewer than two FMA paths on this machine: no bits to compare");
}

TEST(wino_dw_16_channel_rows_give_the_blocked_order_bits)
{
    /* 16 channels and 16 filters with at most 16 tiles a row: the rows of tiles one at a time in
     * L1 (rows16), the same chains as the blocks': the same bits on every path; sizes 1 to 32 a
     * side (a row of 1 to 16 tiles, odd edges), same and valid, 1 to 9 images; and against the
     * bound (one_case) on a few. */
    int compared = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv_rng r;
        fv__rng_seed(&r, 1717 + (uint64_t)p);
        for (int k = 0; k < 10; k++) {
            const bool same = k % 2;
            const int64_t h = k == 0 ? 28 : 1 + (int64_t)fv__rng_below(&r, 30);
            const int64_t w = k == 0 ? 28 : k == 1 ? 32 : 1 + (int64_t)fv__rng_below(&r, 30);
            const int64_t n = k == 0 ? 8 : 1 + (int64_t)fv__rng_below(&r, 9);
            fv_conv_geom g;
            CHECK(make_geom(&g, same ? h : h + 2, same ? w : w + 2, 16, 16, same));
            const int64_t K = 9 * 16 * 16, S = fv_conv_dw_wino_scratch_floats(&g, n);
            const int64_t X = n * g.in_h * g.in_w * 16, Y = n * g.out_h * g.out_w * 16;
            float *x = nan_aligned(X), *dz = nan_aligned(Y), *dw0 = nan_aligned(K), *sc = nan_aligned(S), *dw[2];
            fill_rand(&r, x, X), fill_rand(&r, dz, Y), fill_rand(&r, dw0, K);
            fv__conv_force_path(p);
            for (int blocks = 0; blocks < 2; blocks++) {
                fv__conv_dw_wino_force_blocks(blocks);
                dw[blocks] = nan_aligned(K);
                memcpy(dw[blocks], dw0, (size_t)K * sizeof(float));
                fv_conv_dw_wino_images(&g, n, x, dz, dw[blocks], sc);
            }
            fv__conv_dw_wino_force_blocks(false);
            fv__conv_force_path(-1);
            bool finite = true;
            for (int64_t i = 0; i < K; i++)
                finite = finite && isfinite(dw[0][i]);
            CHECK(finite);
            CHECK(memcmp(dw[0], dw[1], (size_t)K * sizeof(float)) == 0);
            if (k < 3) CHECK(one_case(p, &g, n, 1818 + (uint64_t)k, NULL));
            compared++;
            free(x), free(dz), free(dw0), free(sc), free(dw[0]), free(dw[1]);
        }
    }
    CHECK(compared >= 10);
}

int main(void)
{
    RUN(wino_dw_applies_to_3x3_stride_1_only);
    RUN(wino_dw_matches_ref_on_odd_shapes_every_path);
    RUN(wino_dw_resnet_shapes_and_fma_paths_bits);
    RUN(wino_dw_16_channel_rows_give_the_blocked_order_bits);
    return TEST_SUMMARY();
}
