/* test_kernels.c — the kernels against their specifications: hand-worked small cases, every fast
 * path against its _ref on random data and odd shapes, and finite differences of the references.
 */
#include "core/core.h"
#include "kernels/bf16.h"
#include "kernels/conv_internal.h"
#include "kernels/gemm_internal.h"
#include "kernels/kernels.h"
#include "kernels/vec.h"
#include "test.h"
#include "test_arrays.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------- */

/* A geometry for one axis pair, filling out sizes and leading pads; false if the output would be
 * empty. */
static bool make_geom(fv_conv_geom *g, int64_t in_h, int64_t in_w, int64_t in_c, int64_t k_h,
                      int64_t k_w, int64_t out_c, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                      bool same)
{
    memset(g, 0, sizeof *g);
    g->in_h = in_h, g->in_w = in_w, g->in_c = in_c;
    g->k_h = k_h, g->k_w = k_w, g->out_c = out_c;
    g->stride_h = sh, g->stride_w = sw, g->dil_h = dh, g->dil_w = dw;
    g->out_h = fv_conv_out_size(in_h, k_h, sh, dh, same, &g->pad_top);
    g->out_w = fv_conv_out_size(in_w, k_w, sw, dw, same, &g->pad_left);
    return g->out_h > 0 && g->out_w > 0;
}

/* ---- output size ----------------------------------------------------------------------------- */

TEST(out_size_valid_is_floor_of_span)
{
    int64_t pad = 99;
    CHECK(fv_conv_out_size(28, 3, 1, 1, false, &pad) == 26 && pad == 0);
    CHECK(fv_conv_out_size(26, 3, 1, 1, false, &pad) == 24);
    CHECK(fv_conv_out_size(24, 2, 2, 1, false, &pad) == 12); /* the seed: 28 -> 26 -> 24 -> 12 */
    CHECK(fv_conv_out_size(7, 3, 2, 1, false, &pad) == 3);
    CHECK(fv_conv_out_size(8, 3, 2, 1, false, &pad) == 3); /* floor(5/2) + 1 */
    CHECK(fv_conv_out_size(7, 3, 1, 2, false, &pad) == 3); /* dilated span 5 */
    CHECK(fv_conv_out_size(5, 5, 3, 1, false, &pad) == 1);
    CHECK(fv_conv_out_size(25, 2, 2, 1, false, &pad) == 12); /* odd size pools down */
}

TEST(out_size_valid_too_small_is_minus_one)
{
    int64_t pad;
    CHECK(fv_conv_out_size(2, 3, 1, 1, false, &pad) == -1);
    CHECK(fv_conv_out_size(1, 3, 2, 1, false, &pad) == -1);
    CHECK(fv_conv_out_size(2, 5, 2, 1, false, &pad) == -1); /* (2-5)/2 truncates to -1 + 1 = 0 */
    CHECK(fv_conv_out_size(4, 3, 1, 2, false, &pad) == -1);
    CHECK(fv_conv_out_size(0, 1, 1, 1, false, &pad) == -1);
}

TEST(out_size_same_matches_tensorflow)
{
    int64_t pad = -1;
    CHECK(fv_conv_out_size(28, 3, 1, 1, true, &pad) == 28 && pad == 1);
    CHECK(fv_conv_out_size(28, 2, 2, 1, true, &pad) == 14 && pad == 0);
    CHECK(fv_conv_out_size(5, 3, 2, 1, true, &pad) == 3 && pad == 1);  /* total 2 */
    CHECK(fv_conv_out_size(6, 3, 2, 1, true, &pad) == 3 && pad == 0);  /* total 1, at the end */
    CHECK(fv_conv_out_size(7, 4, 1, 1, true, &pad) == 7 && pad == 1);  /* total 3: 1 + 2 */
    CHECK(fv_conv_out_size(7, 3, 1, 2, true, &pad) == 7 && pad == 2);  /* span 5, total 4 */
    CHECK(fv_conv_out_size(10, 1, 3, 1, true, &pad) == 4 && pad == 0); /* total 0 (negative) */
    CHECK(fv_conv_out_size(1, 5, 1, 1, true, &pad) == 1 && pad == 2);
    CHECK(fv_conv_out_size(7, 2, 3, 1, true, NULL) == 3); /* pad_lead may be NULL */
}

/* ---- GEMM --------------------------------------------------------------------------------------
 */

TEST(gemm_ref_small_by_hand)
{
    /* A = [1 2 3; 4 5 6], B = [1 0; 0 1; 1 1] -> A·B = [4 5; 10 11]. */
    const float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1};
    const float At[6] = {1, 4, 2, 5, 3, 6}, Bt[6] = {1, 0, 1, 0, 1, 1};
    float C[4] = {1, 1, 1, 1};
    fv_gemm_ref(false, false, 2, 2, 3, 2.0f, A, 3, B, 2, 0.5f, C, 2);
    CHECK(C[0] == 8.5f && C[1] == 10.5f && C[2] == 20.5f && C[3] == 22.5f);
    float D[4];
    fv_gemm_ref(true, true, 2, 2, 3, 1.0f, At, 2, Bt, 3, 0.0f, D, 2);
    CHECK(D[0] == 4 && D[1] == 5 && D[2] == 10 && D[3] == 11);
}

/* One random GEMM on path p against the reference. Leading dimensions exceed the minimum by a
 * few, and the padding between rows holds sentinels that must survive. */
static void gemm_case(fv_rng *r, fv__gemm_path p, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                      float alpha, float beta)
{
    const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    const int64_t lda = ac + (int64_t)fv__rng_below(r, 4), ldb = bc + (int64_t)fv__rng_below(r, 4);
    const int64_t ldc = N + (int64_t)fv__rng_below(r, 4);
    float *A = falloc(ar * lda), *B = falloc(br * ldb), *C = falloc(M * ldc), *R = falloc(M * ldc);
    fill_rand(r, A, ar * lda);
    fill_rand(r, B, br * ldb);
    fill_rand(r, C, M * ldc);
    if (beta == 0.0f)
        for (int64_t i = 0; i < M * ldc; i++)
            C[i] = NAN; /* must not propagate */
    memcpy(R, C, (size_t)(M * ldc) * sizeof(float));
    fv__gemm_on_path(p, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    fv_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    /* The reference sums in double; float sums of K terms of size <= 1 stray by ~K·2^-24. */
    const double atol = 1e-6 * (double)(K + 1) * (fabs(alpha) + 1.0);
    int ok = 1;
    for (int64_t i = 0; i < M && ok; i++) {
        ok = check_arrays(fv__gemm_path_name(p), C + i * ldc, R + i * ldc, (long)N, atol, 1e-5);
        for (int64_t j = N; j < ldc && ok; j++) {
            /* Padding past N is never written: NaN sentinels stay NaN, values stay equal. */
            float c = C[i * ldc + j], rr = R[i * ldc + j];
            ok = (c != c && rr != rr) || c == rr;
            if (!ok) test_failed_checks++;
        }
    }
    if (!ok)
        fprintf(stderr, "  path %s ta=%d tb=%d M=%ld N=%ld K=%ld alpha=%g beta=%g\n",
                fv__gemm_path_name(p), ta, tb, (long)M, (long)N, (long)K, alpha, beta);
    free(A), free(B), free(C), free(R);
}

static int64_t rand_dim(fv_rng *r)
{
    /* Mostly small and odd sizes, sometimes up to ~300 to cross every blocking boundary. */
    switch (fv__rng_below(r, 4)) {
    case 0:
        return 1 + (int64_t)fv__rng_below(r, 8);
    case 1:
        return 1 + (int64_t)fv__rng_below(r, 40);
    case 2:
        return 1 + (int64_t)fv__rng_below(r, 130);
    default:
        return 1 + (int64_t)fv__rng_below(r, 300);
    }
}

TEST(gemm_every_path_matches_ref_on_random_shapes)
{
    static const float alphas[] = {1.0f, -0.5f, 2.0f}, betas[] = {0.0f, 1.0f, 0.75f};
    int paths = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__gemm_path_supported((fv__gemm_path)p)) continue;
        paths++;
        fv_rng r;
        fv__rng_seed(&r, 1234 + (uint64_t)p);
        for (int t = 0; t < 160; t++) {
            bool ta = t & 1, tb = (t >> 1) & 1;
            gemm_case(&r, (fv__gemm_path)p, ta, tb, rand_dim(&r), rand_dim(&r), rand_dim(&r),
                      alphas[t % 3], betas[(t / 4) % 3]);
        }
    }
    CHECK(paths >= 1);
}

TEST(gemm_fma_paths_give_the_same_bits)
{
    /* Each element of C is one FMA chain over k in the same blocks on both FMA paths, so the
     * AVX-512 tile gives the AVX2 tile's bits: a model trained on one gives the same numbers on
     * the other. (The AVX-512 tile compiled for AVX2, a test of its logic, does not: its
     * portable splat and a·b + c are not contracted alike.) Random shapes, every transposition,
     * alpha and beta. */
    if (!fv__gemm_path_supported(FV__GEMM_AVX2)) {
        printf("    (skipped: no AVX2 + FMA here)\n");
        return;
    }
    fv_rng r;
    fv__rng_seed(&r, 4242);
    int compared = 0;
    for (int t = 0; t < 60; t++) {
        const bool ta = t & 1, tb = (t >> 1) & 1;
        const int64_t M = rand_dim(&r), N = rand_dim(&r), K = t % 10 == 0 ? 1100 : rand_dim(&r);
        const float alpha = t % 3 ? 1.0f : -0.5f, beta = t % 4 == 0 ? 0.75f : 0.0f;
        float *A = falloc(M * K), *B = falloc(K * N), *C0 = falloc(M * N), *C1 = falloc(M * N);
        fill_rand(&r, A, M * K), fill_rand(&r, B, K * N), fill_rand(&r, C0, M * N);
        memcpy(C1, C0, (size_t)(M * N) * sizeof(float));
        float *ref = falloc(M * N);
        memcpy(ref, C0, (size_t)(M * N) * sizeof(float));
        fv__gemm_on_path(FV__GEMM_AVX2, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta,
                         ref, N);
        for (int p = FV__GEMM_AVX512; p <= FV__GEMM_AVX512; p++) {
            if (!fv__gemm_path_supported((fv__gemm_path)p)) continue;
            memcpy(C1, C0, (size_t)(M * N) * sizeof(float));
            fv__gemm_on_path((fv__gemm_path)p, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N,
                             beta, C1, N);
            const bool same = memcmp(ref, C1, (size_t)(M * N) * sizeof(float)) == 0;
            CHECK(same);
            if (!same)
                fprintf(stderr, "  path %s ta=%d tb=%d M=%ld N=%ld K=%ld\n", fv__gemm_path_name(p),
                        ta, tb, (long)M, (long)N, (long)K);
            compared++;
        }
        free(A), free(B), free(C0), free(C1), free(ref);
    }
    CHECK(compared >= 60 || !fv__gemm_path_supported(FV__GEMM_AVX512));
}

TEST(gemm_every_path_matches_ref_on_edge_shapes)
{
    /* Sizes around register-tile and block edges, in every transposition. */
    static const int64_t dims[] = {1,  2,  7,  8,  9,  13, 14, 15, 16,  17,  31, 32,
                                   33, 47, 48, 49, 63, 64, 65, 97, 129, 255, 257};
    const int nd = (int)(sizeof dims / sizeof dims[0]);
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__gemm_path_supported((fv__gemm_path)p)) continue;
        fv_rng r;
        fv__rng_seed(&r, 99 + (uint64_t)p);
        for (int i = 0; i < nd; i++)
            for (int t = 0; t < 4; t++) {
                int64_t M = dims[i], N = dims[(i * 7 + t * 3) % nd], K = dims[(i * 5 + t) % nd];
                gemm_case(&r, (fv__gemm_path)p, t & 1, t >> 1, M, N, K, 1.0f, t == 2 ? 1.0f : 0.0f);
                gemm_case(&r, (fv__gemm_path)p, t & 1, t >> 1, N, K, M, 0.5f, -1.0f);
            }
    }
}

TEST(gemm_k_zero_or_alpha_zero_only_scales_c)
{
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__gemm_path_supported((fv__gemm_path)p)) continue;
        float C[6] = {1, 2, 3, 4, 5, 6}, D[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
        const float A[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
        fv__gemm_on_path((fv__gemm_path)p, false, false, 2, 3, 0, 1.0f, A, 1, A, 3, 2.0f, C, 3);
        CHECK(C[0] == 2 && C[5] == 12);
        fv__gemm_on_path((fv__gemm_path)p, false, false, 2, 3, 2, 1.0f, C, 3, C, 3, 0.0f, D, 3);
        CHECK(D[0] == D[0] && D[5] == D[5]);
    }
}

TEST(gemm_from_many_threads_matches_one_thread)
{
    /* Callers run fv_gemm from OpenMP threads: no shared scratch, so concurrent calls give the
     * bit-identical result of a serial call (the first calls also race on the path choice). */
    enum { T = 8, M = 97, N = 70, K = 300 };
    fv_rng r;
    fv__rng_seed(&r, 77);
    float *A = falloc(M * K), *B = falloc(K * N), *C0 = falloc(M * N), *C = falloc(T * M * N);
    fill_rand(&r, A, M * K);
    fill_rand(&r, B, K * N);
    fv_gemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, C0, N);
#ifdef _OPENMP
#pragma omp parallel for num_threads(4)
#endif
    for (int t = 0; t < T; t++)
        fv_gemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, C + (int64_t)t * M * N, N);
    for (int t = 0; t < T; t++)
        CHECK(memcmp(C0, C + (int64_t)t * M * N, sizeof(float) * M * N) == 0);
    free(A), free(B), free(C0), free(C);
}

TEST(gemm_path_name_is_known)
{
    const char *p = fv_gemm_path();
    CHECK(p && (!strcmp(p, "avx512") || !strcmp(p, "avx2") || !strcmp(p, "generic")));
}

/* ---- im2col / col2im ---------------------------------------------------------------------------
 */

TEST(im2col_small_by_hand)
{
    /* 3×3 image, 1 channel, 2×2 kernel, same padding (pad total 1, all at the bottom/right). */
    fv_conv_geom g;
    CHECK(make_geom(&g, 3, 3, 1, 2, 2, 1, 1, 1, 1, 1, true));
    CHECK(g.out_h == 3 && g.pad_top == 0);
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float col[36];
    fv_im2col(&g, x, col);
    const float want[36] = {1, 2, 4, 5, 2, 3, 5, 6, 3, 0, 6, 0, 4, 5, 7, 8, 5, 6,
                            8, 9, 6, 0, 9, 0, 7, 8, 0, 0, 8, 9, 0, 0, 9, 0, 0, 0};
    check_arrays("col", col, want, 36, 0, 0);
}

TEST(col2im_is_the_adjoint_of_im2col)
{
    /* <im2col(x), d> == <x, col2im(d)> for every geometry of a small sweep. */
    fv_rng r;
    fv__rng_seed(&r, 7);
    for (int64_t s = 1; s <= 3; s++)
        for (int64_t d = 1; d <= 2; d++)
            for (int same = 0; same <= 1; same++) {
                fv_conv_geom g;
                if (!make_geom(&g, 7, 8, 3, 3, 2, 1, s, s, d, 3 - d, same)) continue;
                const int64_t nc = fv_conv_col_floats(&g), nx = 7 * 8 * 3;
                float *x = falloc(nx), *dc = falloc(nc), *col = falloc(nc), *dx = falloc(nx);
                fill_rand(&r, x, nx);
                fill_rand(&r, dc, nc);
                memset(dx, 0, (size_t)nx * sizeof(float));
                fv_im2col(&g, x, col);
                fv_col2im(&g, dc, dx);
                double a = 0, b = 0;
                for (int64_t i = 0; i < nc; i++)
                    a += (double)col[i] * dc[i];
                for (int64_t i = 0; i < nx; i++)
                    b += (double)x[i] * dx[i];
                CHECK_CLOSE(a, b, 1e-5, 1e-5);
                free(x), free(dc), free(col), free(dx);
            }
}

/* ---- convolution ---------------------------------------------------------------------------- */

TEST(conv_forward_ref_small_by_hand)
{
    /* 3×3×1 input, 2×2 kernel, 2 filters, valid, bias. Filter 0 sums the window; filter 1 is
     * top-left minus bottom-right. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 3, 3, 1, 2, 2, 2, 1, 1, 1, 1, false));
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float w[8] = {1, 1, 1, 0, 1, 0, 1, -1}; /* (kh, kw, c, f) */
    const float b[2] = {0.5f, -1};
    float y[8], y2[8], col[16];
    fv_conv2d_forward_ref(&g, x, w, b, y);
    const float want[8] = {12.5f, -5, 16.5f, -5, 24.5f, -5, 28.5f, -5};
    check_arrays("y_ref", y, want, 8, 0, 0);
    fv_conv2d_forward(&g, x, w, b, y2, col);
    check_arrays("y", y2, want, 8, 0, 0);
}

TEST(conv_forward_ref_stride_dilation_padding_by_hand)
{
    /* 5×5×1 input x = 0..24, 2×2 kernel of ones, stride 2, dilation 2, same padding:
     * out = 3, span 3, pad total 2 -> pad_top 1. Output (i,j) sums x at rows 2i-1, 2i+1 and
     * columns 2j-1, 2j+1 that fall inside. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 5, 5, 1, 2, 2, 1, 2, 2, 2, 2, true));
    CHECK(g.out_h == 3 && g.pad_top == 1 && g.pad_left == 1);
    float x[25], y[9];
    for (int i = 0; i < 25; i++)
        x[i] = (float)i;
    const float w[4] = {1, 1, 1, 1};
    fv_conv2d_forward_ref(&g, x, w, NULL, y);
    /* (0,0): x[1,1] = 6. (0,1): x[1,1] + x[1,3] = 6 + 8. (1,1): rows 1,3 cols 1,3 = 6+8+16+18. */
    const float want[9] = {6, 14, 8, 22, 48, 26, 16, 34, 18};
    check_arrays("y", y, want, 9, 0, 0);
}

TEST(conv_backward_ref_small_by_hand)
{
    /* 2×2×1 input, 2×2 kernel, 1 filter, valid: y = Σ x·w (one output). dw = x·dy, dx = w·dy. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 2, 2, 1, 2, 2, 1, 1, 1, 1, 1, false));
    const float x[4] = {1, 2, 3, 4}, w[4] = {-1, 0.5f, 2, 3}, dy[1] = {2};
    float dw[4] = {1, 1, 1, 1}, db[1] = {1}, dx[4] = {0, 0, 0, 1};
    fv_conv2d_backward_ref(&g, x, w, dy, dw, db, dx);
    const float want_dw[4] = {3, 5, 7, 9}, want_dx[4] = {-2, 1, 4, 7};
    check_arrays("dw", dw, want_dw, 4, 0, 0);
    check_arrays("dx", dx, want_dx, 4, 0, 0);
    CHECK(db[0] == 3);
}

/* The fast forward and backward against the references on one geometry. */
static void conv_compare(fv_rng *r, const fv_conv_geom *g)
{
    const int64_t nx = g->in_h * g->in_w * g->in_c, nw = g->k_h * g->k_w * g->in_c * g->out_c;
    const int64_t ny = g->out_h * g->out_w * g->out_c, nc = fv_conv_col_floats(g);
    float *x = falloc(nx), *w = falloc(nw), *b = falloc(g->out_c), *y = falloc(ny);
    float *yr = falloc(ny), *col = falloc(nc), *dcol = falloc(nc), *dy = falloc(ny);
    float *dw = falloc(nw), *dwr = falloc(nw), *db = falloc(g->out_c), *dbr = falloc(g->out_c);
    float *dx = falloc(nx), *dxr = falloc(nx);
    fill_rand(r, x, nx);
    fill_rand(r, w, nw);
    fill_rand(r, b, g->out_c);
    fill_rand(r, dy, ny);
    /* Gradients accumulate: start both from the same nonzero values. */
    fill_rand(r, dw, nw);
    fill_rand(r, db, g->out_c);
    fill_rand(r, dx, nx);
    memcpy(dwr, dw, (size_t)nw * sizeof(float));
    memcpy(dbr, db, (size_t)g->out_c * sizeof(float));
    memcpy(dxr, dx, (size_t)nx * sizeof(float));

    fv_conv2d_forward(g, x, w, b, y, col);
    fv_conv2d_forward_ref(g, x, w, b, yr);
    int ok = check_arrays("y", y, yr, (long)ny, 1e-5, 1e-4);
    fv_conv2d_forward(g, x, w, NULL, y, col);
    fv_conv2d_forward_ref(g, x, w, NULL, yr);
    ok &= check_arrays("y (no bias)", y, yr, (long)ny, 1e-5, 1e-4);

    fv_conv2d_backward(g, x, w, dy, dw, db, dx, col, dcol);
    fv_conv2d_backward_ref(g, x, w, dy, dwr, dbr, dxr);
    ok &= check_arrays("dw", dw, dwr, (long)nw, 1e-5, 1e-4);
    ok &= check_arrays("db", db, dbr, (long)g->out_c, 1e-5, 1e-4);
    ok &= check_arrays("dx", dx, dxr, (long)nx, 1e-5, 1e-4);
    /* dx and db NULL: the weight gradient alone. */
    fv_conv2d_backward(g, x, w, dy, dw, NULL, NULL, col, NULL);
    fv_conv2d_backward_ref(g, x, w, dy, dwr, NULL, NULL);
    ok &= check_arrays("dw (no dx)", dw, dwr, (long)nw, 1e-5, 1e-4);
    if (!ok)
        fprintf(stderr,
                "  geometry in %ldx%ldx%ld k %ldx%ld out %ldx%ldx%ld s %ld,%ld d %ld,%ld pad "
                "%ld,%ld\n",
                (long)g->in_h, (long)g->in_w, (long)g->in_c, (long)g->k_h, (long)g->k_w,
                (long)g->out_h, (long)g->out_w, (long)g->out_c, (long)g->stride_h,
                (long)g->stride_w, (long)g->dil_h, (long)g->dil_w, (long)g->pad_top,
                (long)g->pad_left);
    free(x), free(w), free(b), free(y), free(yr), free(col), free(dcol), free(dy);
    free(dw), free(dwr), free(db), free(dbr), free(dx), free(dxr);
}

/* Whether fv_conv2d_forward_add adds to z the bits that fv_conv2d_forward_next (no bias, no ReLU)
 * writes in a buffer t and fv__add_run(z, t) adds after (issue 15's sixth round: the stride-1 input
 * gradient added in place), with or without a next image to prefetch; z holds values, −0s (which
 * the sum turns into +0 where t is +0) and exact negatives of t (sums to ±0). */
static int forward_add_same_bits(const fv_conv_geom *g, const float *x, const float *wp, float *fs,
                                 const float *next)
{
    const int64_t nx = g->in_h * g->in_w * g->in_c, ny = g->out_h * g->out_w * g->out_c;
    float *t = falloc(ny), *z = falloc(ny), *zr = falloc(ny);
    fv_conv2d_forward_next(g, x, wp, NULL, false, t, fs, NULL, 0);
    for (int64_t i = 0; i < ny; i++)
        zr[i] = i % 3 == 0 ? -0.0f : i % 3 == 1 ? -t[i] : (float)(i % 7) - 3.5f;
    memcpy(z, zr, (size_t)ny * sizeof(float));
    fv__add_run(zr, t, ny);
    fv_conv2d_forward_add(g, x, wp, z, fs, next, next ? nx : 0);
    const int same = memcmp(z, zr, (size_t)ny * sizeof(float)) == 0;
    CHECK(same);
    free(t), free(z), free(zr);
    return same;
}

/* Whether fv_conv2d_forward_next gives y (fv_conv2d_forward_fast's output for x) bit for bit,
 * prefetching a next image of x's size, of one float, or none (it only adds prefetches between
 * the tiles), and leaves the prefetched image as it was; and fv_conv2d_forward_add its sum's bits
 * (forward_add_same_bits). */
static int forward_next_same_bits(const fv_conv_geom *g, const float *x, const float *wp,
                                  const float *b, bool relu, const float *y, float *fs)
{
    const int64_t nx = g->in_h * g->in_w * g->in_c, ny = g->out_h * g->out_w * g->out_c;
    float *next = falloc(nx), *yn = falloc(ny);
    int same = 1;
    for (int64_t i = 0; i < nx; i++)
        next[i] = (float)i;
    for (int v = 0; v < 3; v++) {
        memset(yn, 0xff, (size_t)ny * sizeof(float)); /* NaNs: every element must be written */
        fv_conv2d_forward_next(g, x, wp, b, relu, yn, fs, v < 2 ? next : NULL, v == 1 ? 1 : nx);
        same &= memcmp(y, yn, (size_t)ny * sizeof(float)) == 0;
    }
    same &= forward_add_same_bits(g, x, wp, fs, next);
    same &= forward_add_same_bits(g, x, wp, fs, NULL);
    for (int64_t i = 0; i < nx; i++)
        same &= next[i] == (float)i;
    CHECK(same);
    free(next), free(yn);
    return same;
}

/* The implicit-GEMM forward and the list/tile backward (fv_conv2d_*_fast) on path p against
 * the references. keep: fraction of dy left nonzero (below one half the weight gradient takes
 * the sparse path when the lists apply); relu: through the fused ReLU forward and mask. Returns
 * the weight-gradient path taken for the first image. */
static fv_conv_bwd_path conv_fast_compare(fv_rng *r, const fv_conv_geom *g, fv__gemm_path p,
                                          double keep, bool relu)
{
    fv__conv_force_path(p);
    const int64_t nx = g->in_h * g->in_w * g->in_c, nw = g->k_h * g->k_w * g->in_c * g->out_c;
    const int64_t ny = g->out_h * g->out_w * g->out_c, F = g->out_c;
    float *x = falloc(nx), *w = falloc(nw), *b = falloc(F), *y = falloc(ny), *yr = falloc(ny);
    float *dy = falloc(ny), *dz = falloc(ny), *dw = falloc(nw), *dws = falloc(nw);
    float *dwr = falloc(nw), *db = falloc(F), *dbr = falloc(F), *dx = falloc(nx);
    float *dxr = falloc(nx), *wp = falloc(fv_conv_fwd_pack_floats(g));
    float *wt = falloc(fv_conv_bwd_pack_floats(g));
    float *fs = fv__alloc((size_t)(fv_conv_fwd_scratch_floats(g) + 1) * sizeof(float), "t");
    float *bs = fv__alloc((size_t)(fv_conv_bwd_scratch_floats(g) + 1) * sizeof(float), "t");
    fill_rand(r, x, nx), fill_rand(r, w, nw), fill_rand(r, b, F), fill_rand(r, dy, ny);
    for (int64_t i = 0; i < ny; i++)
        if (fv__rng_uniform(r) >= keep) dy[i] = 0.0f;
    fill_rand(r, dw, nw), fill_rand(r, db, F), fill_rand(r, dx, nx);
    memcpy(dwr, dw, (size_t)nw * sizeof(float));
    memcpy(dbr, db, (size_t)F * sizeof(float));
    memcpy(dxr, dx, (size_t)nx * sizeof(float));
    memset(dws, 0, (size_t)nw * sizeof(float));

    fv_conv_fwd_pack(g, w, wp);
    fv_conv2d_forward_fast(g, x, wp, b, relu, y, fs);
    fv_conv2d_forward_ref(g, x, w, b, yr);
    if (relu) fv_act_forward(FV_K_RELU, 0.0f, yr, ny);
    int ok = check_arrays("y", y, yr, (long)ny, 1e-5, 1e-4);
    ok &= forward_next_same_bits(g, x, wp, b, relu, y, fs);

    /* The reference backward gets dz = dy masked by the ReLU. */
    memcpy(dz, dy, (size_t)ny * sizeof(float));
    if (relu) fv_act_backward(FV_K_RELU, 0.0f, yr, dz, ny);
    fv_conv_bwd_pack(g, w, wt);
    fv_conv_bwd_path path =
        fv_conv2d_backward_fast(g, x, relu ? y : NULL, dy, w, wt, dw, dws, db, dx, bs);
    fv_conv2d_backward_ref(g, x, w, dz, dwr, dbr, dxr);
    for (int64_t k = 0; k < nw / F; k++)
        for (int64_t f = 0; f < F; f++)
            dw[k * F + f] += dws[fv_conv_sparse_dw_index(g, k, f)];
    ok &= check_arrays("dw", dw, dwr, (long)nw, 1e-5, 1e-4);
    ok &= check_arrays("db", db, dbr, (long)F, 1e-5, 1e-4);
    ok &= check_arrays("dx", dx, dxr, (long)nx, 1e-5, 1e-4);
    if (!ok)
        fprintf(stderr,
                "  fast path %s keep %.2f relu %d: in %ldx%ldx%ld k %ldx%ld out %ldx%ldx%ld s "
                "%ld,%ld d %ld,%ld pad %ld,%ld\n",
                fv__gemm_path_name(p), keep, relu, (long)g->in_h, (long)g->in_w, (long)g->in_c,
                (long)g->k_h, (long)g->k_w, (long)g->out_h, (long)g->out_w, (long)g->out_c,
                (long)g->stride_h, (long)g->stride_w, (long)g->dil_h, (long)g->dil_w,
                (long)g->pad_top, (long)g->pad_left);
    free(x), free(w), free(b), free(y), free(yr), free(dy), free(dz), free(dw), free(dws);
    free(dwr), free(db), free(dbr), free(dx), free(dxr), free(wp), free(wt);
    fv__free(fs), fv__free(bs);
    fv__conv_force_path(-1);
    return path;
}

TEST(conv_implicit_gemm_matches_ref_over_all_geometries)
{
    /* As conv_fast_matches_ref_over_all_geometries, with channel counts that make the kernel
     * segments whole vectors (8, 16: the list kernels) or not, dense and mostly-zero output
     * gradients, with and without the fused ReLU, on every path this machine has. */
    int cases = 0, sparse = 0, idx = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv_rng r;
        fv__rng_seed(&r, 77 + (uint64_t)p);
        for (int64_t sh = 1; sh <= 3; sh++)
            for (int64_t sw = 1; sw <= 2; sw++)
                for (int64_t dh = 1; dh <= 2; dh++)
                    for (int64_t dw = 1; dw <= 2; dw++)
                        for (int same = 0; same <= 1; same++)
                            for (int64_t kh = 1; kh <= 3; kh++)
                                for (int64_t kw = 1; kw <= 3; kw++, idx++) {
                                    static const int64_t chans[] = {1, 3, 8, 16};
                                    const int64_t in_c = chans[idx % 4];
                                    const int64_t out_c = 1 + idx % 5 * 7;
                                    const int64_t h = 5 + idx % 7, w = 6 + idx % 5;
                                    fv_conv_geom g;
                                    if (!make_geom(&g, h, w, in_c, kh, kw, out_c, sh, sw, dh, dw,
                                                   same))
                                        continue;
                                    const double keep = idx % 3 == 0 ? 1.0 : 0.2;
                                    sparse += conv_fast_compare(&r, &g, (fv__gemm_path)p, keep,
                                                                idx % 2) == FV_CONV_BWD_SPARSE;
                                    cases++;
                                }
    }
    CHECK(cases > 400);
    CHECK(sparse > 50);
}

TEST(conv_list_backward_carries_a_nan_gradient_on_every_path)
{
    /* A NaN in a mostly-zero ∂L/∂y (16 filters: the AVX-512 scan's width; k_w·in_c a multiple of
     * 8: the list kernels) is a nonzero like any other, as in the reference (NaN · x = NaN): its
     * filter's weight gradient is NaN at every tap, its bias gradient NaN, and the input gradient
     * NaN under its window; the other filters' stay finite. On every path, with and without the
     * ReLU's mask (its output positive there). */
    fv_conv_geom g;
    CHECK(make_geom(&g, 6, 6, 16, 3, 3, 16, 1, 1, 1, 1, false));
    const int64_t nx = 6 * 6 * 16, nw = 3 * 3 * 16 * 16, ny = 4 * 4 * 16, F = 16, p0 = 5, f0 = 3;
    float *x = falloc(nx), *w = falloc(nw), *dy = falloc(ny), *y = falloc(ny), *wt = falloc(nw);
    float *dw = falloc(nw), *dws = falloc(nw), *db = falloc(F), *dx = falloc(nx);
    float *bs = fv__alloc((size_t)(fv_conv_bwd_scratch_floats(&g) + 1) * sizeof(float), "t");
    fv_rng r;
    fv__rng_seed(&r, 5);
    fill_rand(&r, x, nx), fill_rand(&r, w, nw);
    for (int64_t i = 0; i < ny; i++)
        dy[i] = i % 37 == 0 ? 0.5f : 0.0f, y[i] = 1.0f;
    dy[p0 * F + f0] = NAN;
    fv_conv_bwd_pack(&g, w, wt);
    for (int p = 0; p < FV__GEMM_NPATHS; p++)
        for (int relu = 0; relu <= 1; relu++) {
            if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
            fv__conv_force_path(p);
            memset(dw, 0, (size_t)nw * sizeof(float)), memset(dws, 0, (size_t)nw * sizeof(float));
            memset(db, 0, (size_t)F * sizeof(float)), memset(dx, 0, (size_t)nx * sizeof(float));
            CHECK(fv_conv2d_backward_fast(&g, x, relu ? y : NULL, dy, w, wt, dw, dws, db, dx, bs) ==
                  FV_CONV_BWD_SPARSE);
            bool nan_col = true, finite_rest = true, nan_dx = true;
            for (int64_t k = 0; k < nw / F; k++)
                for (int64_t f = 0; f < F; f++) {
                    const float v = dw[k * F + f] + dws[fv_conv_sparse_dw_index(&g, k, f)];
                    if (f == f0)
                        nan_col = nan_col && isnan(v);
                    else
                        finite_rest = finite_rest && isfinite(v);
                }
            const int64_t oh = p0 / 4, ow = p0 % 4;
            for (int64_t kh = 0; kh < 3; kh++)
                for (int64_t kw = 0; kw < 3; kw++)
                    nan_dx = nan_dx && isnan(dx[((oh + kh) * 6 + ow + kw) * 16]);
            CHECK(nan_col && finite_rest && isnan(db[f0]) && isfinite(db[f0 + 1]) && nan_dx);
            if (!(nan_col && finite_rest && nan_dx))
                fprintf(stderr, "  path %s relu %d\n", fv__gemm_path_name((fv__gemm_path)p), relu);
        }
    fv__conv_force_path(-1);
    free(x), free(w), free(dy), free(y), free(wt), free(dw), free(dws), free(db), free(dx);
    fv__free(bs);
}

TEST(conv_implicit_gemm_seed_shapes_match_ref)
{
    /* The seed CNN's convolutions with ReLU; the second with a gradient that is nonzero at one
     * position of each 2x2 window (as behind max-pooling), and dense. */
    fv_conv_geom g;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv_rng r;
        fv__rng_seed(&r, 9);
        CHECK(make_geom(&g, 28, 28, 1, 3, 3, 32, 1, 1, 1, 1, false));
        conv_fast_compare(&r, &g, (fv__gemm_path)p, 1.0, true);
        CHECK(make_geom(&g, 26, 26, 32, 3, 3, 64, 1, 1, 1, 1, false));
        CHECK(conv_fast_compare(&r, &g, (fv__gemm_path)p, 0.25, true) == FV_CONV_BWD_SPARSE);
        CHECK(conv_fast_compare(&r, &g, (fv__gemm_path)p, 1.0, false) == FV_CONV_BWD_DENSE);
    }
}

TEST(conv_dense_dw_24_tap_tiles_match_ref)
{
    /* The weight gradient's 24-tap tiles of one vector of filters (AVX-512 and its AVX2-compiled
     * twin): the ResNet example's stage-1 convolution (segments of 48 taps), segments of 24, of
     * 60 (24-tap tiles, then 12-tap tiles across the segment boundary) and of 120, and filter
     * counts below 16; dense gradients (the ReLU mask would make them sparse), on every path this
     * machine has. */
    static const int64_t shapes[][4] = {/* h, c, f, k */ {28, 16, 16, 3},
                                        {9, 8, 16, 3},
                                        {10, 20, 13, 3},
                                        {8, 40, 5, 3},
                                        {7, 24, 9, 5}};
    int cases = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv_rng r;
        fv__rng_seed(&r, 2424 + (uint64_t)p);
        for (int i = 0; i < 5; i++) {
            fv_conv_geom g;
            CHECK(make_geom(&g, shapes[i][0], shapes[i][0] + 1, shapes[i][1], shapes[i][3],
                            shapes[i][3], shapes[i][2], 1, 1, 1, 1, true));
            CHECK(conv_fast_compare(&r, &g, (fv__gemm_path)p, 1.0, false) == FV_CONV_BWD_DENSE);
            cases++;
        }
    }
    CHECK(cases >= 5);
}

TEST(conv_dx_by_phases_matches_ref)
{
    /* A strided convolution's input gradient as one stride-1 forward convolution per phase,
     * against the reference backward's dx: strides 2 and 3 (and 2 × 1), kernels 1 to 4 a side
     * (some phases without taps: zeros; some whose first outputs fall before the image), same and
     * valid padding, odd sizes and channel counts
     * (1 to 33 filters), on every path this machine has; every position written (dx starts as
     * NaN); and with add (fv_run.dx_add), dx + the gradient bit for bit, −0 included. The ResNet
     * example's strided layers apply. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 28, 28, 16, 3, 3, 32, 2, 2, 1, 1, true) && fv_conv_dx_phases_apply(&g));
    CHECK(make_geom(&g, 14, 14, 32, 1, 1, 64, 2, 2, 1, 1, false) && fv_conv_dx_phases_apply(&g));
    CHECK(make_geom(&g, 9, 9, 4, 3, 3, 4, 1, 1, 1, 1, true) && !fv_conv_dx_phases_apply(&g));
    CHECK(make_geom(&g, 9, 9, 4, 3, 3, 4, 2, 2, 2, 2, true) && !fv_conv_dx_phases_apply(&g));
    int cases = 0, idx = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv__conv_force_path(p);
        fv_rng r;
        fv__rng_seed(&r, 3131 + (uint64_t)p);
        for (int64_t s = 2; s <= 3; s++)
            for (int64_t kh = 1; kh <= 4; kh++)
                for (int64_t kw = 1; kw <= 4; kw++)
                    for (int same = 0; same <= 1; same++, idx++) {
                        static const int64_t chans[] = {1, 3, 16, 17}, filt[] = {1, 7, 16, 33};
                        const int64_t C = chans[idx % 4], F = filt[idx / 4 % 4];
                        if (!make_geom(&g, 5 + idx % 9, 6 + idx % 7, C, kh, kw, F, s,
                                       idx % 5 == 0 ? 1 : s, 1, 1, same))
                            continue;
                        CHECK(fv_conv_dx_phases_apply(&g));
                        const int64_t nx = g.in_h * g.in_w * C, nw = kh * kw * C * F;
                        const int64_t ny = g.out_h * g.out_w * F;
                        float *x = falloc(nx), *w = falloc(nw), *dy = falloc(ny);
                        float *dw = falloc(nw), *db = falloc(F), *dx = falloc(nx);
                        float *dxr = falloc(nx);
                        float *wp = falloc(fv_conv_dx_phases_pack_floats(&g));
                        float *sc = falloc(fv_conv_dx_phases_scratch_floats(&g));
                        fill_rand(&r, x, nx), fill_rand(&r, w, nw), fill_rand(&r, dy, ny);
                        memset(dxr, 0, (size_t)nx * sizeof(float));
                        for (int64_t i = 0; i < nx; i++)
                            dx[i] = NAN;
                        fv_conv2d_backward_ref(&g, x, w, dy, dw, db, dxr);
                        fv_conv_dx_phases_pack(&g, w, wp);
                        fv_conv_dx_phases(&g, dy, wp, dx, sc, false);
                        bool ok = check_arrays("dx", dx, dxr, (long)nx, 1e-5, 1e-4);
                        /* with add, into other readers' gradient (some −0): base + dx, each
                         * element's float sum, the bits of adding the written gradient after */
                        float *base = falloc(nx), *sum = falloc(nx);
                        fill_rand(&r, base, nx);
                        for (int64_t i = 0; i < nx; i += 5)
                            base[i] = -0.0f;
                        memcpy(sum, base, (size_t)nx * sizeof(float));
                        fv_conv_dx_phases(&g, dy, wp, sum, sc, true);
                        for (int64_t i = 0; i < nx; i++)
                            base[i] = base[i] + dx[i];
                        if (memcmp(sum, base, (size_t)nx * sizeof(float)) != 0) {
                            fprintf(stderr, "  dx added in place differs from dx + the sum\n");
                            test_failed_checks++, ok = false;
                        }
                        /* with a next image to prefetch (x; one float of it): the same bits,
                         * written and added, and x as it was */
                        float *xc = falloc(nx), *dn = falloc(nx);
                        memcpy(xc, x, (size_t)nx * sizeof(float));
                        for (int v = 0; v < 2; v++) {
                            for (int64_t i = 0; i < nx; i++)
                                dn[i] = NAN;
                            fv_conv_dx_phases_next(&g, dy, wp, dn, sc, false, x, v ? 1 : nx);
                            ok &= memcmp(dn, dx, (size_t)nx * sizeof(float)) == 0;
                            memcpy(dn, sum, (size_t)nx * sizeof(float));
                            for (int64_t i = 0; i < nx; i++)
                                sum[i] = sum[i] + dx[i];
                            fv_conv_dx_phases_next(&g, dy, wp, dn, sc, true, x, v ? 1 : nx);
                            ok &= memcmp(dn, sum, (size_t)nx * sizeof(float)) == 0;
                        }
                        ok &= memcmp(xc, x, (size_t)nx * sizeof(float)) == 0;
                        CHECK(ok);
                        free(xc), free(dn);
                        if (!ok)
                            fprintf(stderr,
                                    "  path %s: in %ldx%ldx%ld k %ldx%ld s %ld,%ld f %ld same %d\n",
                                    fv__gemm_path_name((fv__gemm_path)p), (long)g.in_h,
                                    (long)g.in_w, (long)C, (long)kh, (long)kw, (long)g.stride_h,
                                    (long)g.stride_w, (long)F, same);
                        free(x), free(w), free(dy), free(dw), free(db), free(dx), free(dxr);
                        free(wp), free(sc), free(base), free(sum);
                        cases++;
                    }
    }
    fv__conv_force_path(-1);
    CHECK(cases >= 60);
}

/* One image's dx by fv_conv_dx_phases on path p (packed for it), into dx (written, or with add,
 * added into it). */
static void dx_on_path(int p, const fv_conv_geom *g, const float *w, const float *dy, float *dx,
                       bool add)
{
    fv__conv_force_path(p);
    float *wp = falloc(fv_conv_dx_phases_pack_floats(g));
    float *sc = falloc(fv_conv_dx_phases_scratch_floats(g));
    fv_conv_dx_phases_pack(g, w, wp);
    fv_conv_dx_phases(g, dy, wp, dx, sc, add);
    free(wp), free(sc);
    fv__conv_force_path(-1);
}

TEST(conv_dx_blocks_give_the_phases_bits)
{
    /* A 3×3, stride-2 convolution's input gradient by blocks (all four phases in one tile: the
     * AVX-512 path, and its tiles compiled for AVX2) against the phases' own convolutions (the
     * AVX2 path), bit for bit, written and added (into values with some −0): odd sizes, same and
     * valid padding and leading pads of 0 to 3 (blocks partly outside the image, dy's border),
     * 1 to 33 channels (a partial last vector) and 1 to 64 filters. */
    fv_conv_geom g0;
    CHECK(make_geom(&g0, 28, 28, 16, 3, 3, 32, 2, 2, 1, 1, true));
    fv__conv_force_path(FV__GEMM_GENERIC); /* no block tile there: the phases, summed apart */
    CHECK(!fv_conv_dx_phases_adds_in_place(&g0));
    fv__conv_force_path(-1);
    if (!fv__conv_path_supported(FV__GEMM_AVX2)) return; /* no block tile on this CPU */
    const int paths[] = {FV__GEMM_AVX512, FV__GEMM_WIDE_ON_AVX2};
    fv_rng r;
    fv__rng_seed(&r, 5151);
    int cases = 0;
    for (int idx = 0; idx < 48; idx++) {
        static const int64_t chans[] = {1, 3, 16, 17, 32, 33}, filt[] = {1, 7, 16, 33, 64};
        const int64_t C = chans[idx % 6], F = filt[idx % 5], H = 3 + idx % 11, W = 4 + idx % 8;
        fv_conv_geom g;
        if (!make_geom(&g, H, W, C, 3, 3, F, 2, 2, 1, 1, idx % 3 != 0)) continue;
        if (idx % 4 == 3) { /* leading pads the layers never make: 2-3 rows, 1-2 columns */
            g.pad_top = 2 + idx % 2, g.pad_left = 1 + idx % 3 % 2;
            g.out_h = (H + g.pad_top - 3) / 2 + 1, g.out_w = (W + g.pad_left - 3) / 2 + 1;
        }
        const int64_t nx = H * W * C, ny = g.out_h * g.out_w * F, nw = 9 * C * F;
        float *w = falloc(nw), *dy = falloc(ny), *base = falloc(nx);
        float *want = falloc(nx), *got = falloc(nx);
        fill_rand(&r, w, nw), fill_rand(&r, dy, ny), fill_rand(&r, base, nx);
        for (int64_t i = 0; i < nx; i += 7)
            base[i] = -0.0f;
        for (int add = 0; add <= 1; add++) {
            memcpy(want, base, (size_t)nx * sizeof(float));
            dx_on_path(FV__GEMM_AVX2, &g, w, dy, want, add);
            for (size_t q = 0; q < sizeof paths / sizeof *paths; q++) {
                if (!fv__conv_path_supported((fv__gemm_path)paths[q])) continue;
                memcpy(got, base, (size_t)nx * sizeof(float));
                dx_on_path(paths[q], &g, w, dy, got, add);
                if (memcmp(got, want, (size_t)nx * sizeof(float)) != 0) {
                    fprintf(stderr,
                            "  %s: in %ldx%ldx%ld pad %ld,%ld f %ld add %d: not the phases' bits\n",
                            fv__gemm_path_name((fv__gemm_path)paths[q]), (long)H, (long)W, (long)C,
                            (long)g.pad_top, (long)g.pad_left, (long)F, add);
                    test_failed_checks++;
                }
                cases++;
            }
        }
        free(w), free(dy), free(base), free(want), free(got);
    }
    CHECK(cases >= 80);
}

TEST(conv_dw_images_matches_ref)
{
    /* The weight gradient of n images in one pass of the dense tiles, against the reference
     * backward summed over the images: strides 1 to 3, dilation 2, kernels 1 to 4 a side, same
     * and valid padding, 1 to 33 channels and 1 to 64 filters (the gradient's rows copied where
     * the filters are no multiple of 16), 1, 3 and 8 images, on every path this machine has; dw
     * starts from nonzero values (the call adds). With one image, the bits of
     * fv_conv2d_backward_fast's dense weight gradient (the same tiles, the same order). */
    int cases = 0, idx = 0;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
        fv__conv_force_path(p);
        fv_rng r;
        fv__rng_seed(&r, 4242 + (uint64_t)p);
        for (int64_t s = 1; s <= 3; s++)
            for (int64_t kh = 1; kh <= 4; kh++)
                for (int64_t kw = 1; kw <= 4; kw += 2)
                    for (int same = 0; same <= 1; same++, idx++) {
                        static const int64_t chans[] = {1, 3, 16, 17, 32},
                                             filt[] = {1, 7, 16, 33, 64};
                        static const int64_t imgs[] = {1, 3, 8};
                        const int64_t C = chans[idx % 5], F = filt[idx / 5 % 5], n = imgs[idx % 3];
                        const int64_t dil = idx % 7 == 0 ? 2 : 1;
                        fv_conv_geom g;
                        if (!make_geom(&g, 5 + idx % 9, 6 + idx % 7, C, kh, kw, F, s,
                                       idx % 4 == 0 ? 1 : s, dil, 1, same))
                            continue;
                        CHECK(fv_conv_dw_images_max(&g) >= n);
                        const int64_t nx = g.in_h * g.in_w * C, nw = kh * kw * C * F;
                        const int64_t ny = g.out_h * g.out_w * F;
                        float *x = falloc(n * nx), *dz = falloc(n * ny), *w = falloc(nw);
                        float *dw = falloc(nw), *dwr = falloc(nw), *db = falloc(F);
                        float *dx = falloc(nx);
                        float *sc = falloc(fv_conv_dw_images_scratch_floats(&g, n));
                        fill_rand(&r, x, n * nx), fill_rand(&r, dz, n * ny), fill_rand(&r, w, nw);
                        fill_rand(&r, dw, nw);
                        memcpy(dwr, dw, (size_t)nw * sizeof(float));
                        for (int64_t i = 0; i < n; i++)
                            fv_conv2d_backward_ref(&g, x + i * nx, w, dz + i * ny, dwr, db, dx);
                        fv_conv_dw_images(&g, n, x, dz, dw, sc);
                        if (!check_arrays("dw", dw, dwr, (long)nw, 1e-5, 1e-4))
                            fprintf(stderr,
                                    "  path %s: %ld images %ldx%ldx%ld k %ldx%ld s %ld,%ld d %ld "
                                    "f %ld same %d\n",
                                    fv__gemm_path_name((fv__gemm_path)p), (long)n, (long)g.in_h,
                                    (long)g.in_w, (long)C, (long)kh, (long)kw, (long)g.stride_h,
                                    (long)g.stride_w, (long)dil, (long)F, same);
                        if (n == 1) { /* the per-image kernel's dense tiles: the same bits */
                            float *dwk = falloc(nw), *dws = falloc(nw);
                            float *bs = falloc(fv_conv_bwd_scratch_floats(&g));
                            memset(dwk, 0, (size_t)nw * sizeof(float));
                            memset(dw, 0, (size_t)nw * sizeof(float));
                            CHECK(fv_conv2d_backward_fast(&g, x, NULL, dz, w, NULL, dwk, dws, NULL,
                                                          NULL, bs) == FV_CONV_BWD_DENSE);
                            fv_conv_dw_images(&g, 1, x, dz, dw, sc);
                            CHECK(memcmp(dw, dwk, (size_t)nw * sizeof(float)) == 0);
                            free(dwk), free(dws), free(bs);
                        }
                        free(x), free(dz), free(w), free(dw), free(dwr), free(db), free(dx);
                        free(sc);
                        cases++;
                    }
    }
    fv__conv_force_path(-1);
    CHECK(cases >= 60);
}

/* The fast convolution's forward and backward outputs of one image on path p, from the same
 * inputs each time (seeded by seed): out holds y, then dw + dws summed, db, dx. */
static void conv_fast_outputs(const fv_conv_geom *g, fv__gemm_path p, uint64_t seed, double keep,
                              bool relu, float *out)
{
    fv__conv_force_path(p);
    fv_rng r;
    fv__rng_seed(&r, seed);
    const int64_t nx = g->in_h * g->in_w * g->in_c, nw = g->k_h * g->k_w * g->in_c * g->out_c;
    const int64_t ny = g->out_h * g->out_w * g->out_c, F = g->out_c;
    float *x = falloc(nx), *w = falloc(nw), *b = falloc(F), *dy = falloc(ny);
    float *dws = falloc(nw), *wp = falloc(fv_conv_fwd_pack_floats(g));
    float *wt = falloc(fv_conv_bwd_pack_floats(g));
    float *fs = fv__alloc((size_t)(fv_conv_fwd_scratch_floats(g) + 1) * sizeof(float), "t");
    float *bs = fv__alloc((size_t)(fv_conv_bwd_scratch_floats(g) + 1) * sizeof(float), "t");
    float *y = out, *dw = y + ny, *db = dw + nw, *dx = db + F;
    fill_rand(&r, x, nx), fill_rand(&r, w, nw), fill_rand(&r, b, F), fill_rand(&r, dy, ny);
    for (int64_t i = 0; i < ny; i++)
        if (fv__rng_uniform(&r) >= keep) dy[i] = 0.0f;
    memset(dw, 0, (size_t)(nw + F + nx) * sizeof(float));
    memset(dws, 0, (size_t)nw * sizeof(float));
    fv_conv_fwd_pack(g, w, wp);
    fv_conv2d_forward_fast(g, x, wp, b, relu, y, fs);
    fv_conv_bwd_pack(g, w, wt);
    fv_conv2d_backward_fast(g, x, relu ? y : NULL, dy, w, wt, dw, dws, db, dx, bs);
    for (int64_t k = 0; k < nw / F; k++)
        for (int64_t f = 0; f < F; f++)
            dw[k * F + f] += dws[fv_conv_sparse_dw_index(g, k, f)];
    free(x), free(w), free(b), free(dy), free(dws), free(wp), free(wt);
    fv__free(fs), fv__free(bs);
    fv__conv_force_path(-1);
}

TEST(conv_fast_fma_paths_give_the_same_bits)
{
    /* Every output element is one FMA chain in the same order whatever the vector width and
     * tile shape: the AVX-512 tiles (and the same code compiled for AVX2) give the AVX2 tiles'
     * bits, forward and backward, dense and sparse, on odd shapes and filter counts that leave
     * every tile shape a remainder (1..70 filters). */
    if (!fv__conv_path_supported(FV__GEMM_AVX2)) {
        printf("    (skipped: no AVX2 + FMA here)\n");
        return;
    }
    int compared = 0;
    for (int idx = 0; idx < 60; idx++) {
        static const int64_t chans[] = {1, 3, 8, 16, 24, 32};
        static const int64_t filters[] = {1, 7, 16, 17, 31, 33, 48, 49, 64, 70};
        fv_conv_geom g;
        const int64_t k = 1 + idx % 3, s = 1 + idx / 3 % 2, d = 1 + idx / 7 % 2;
        if (!make_geom(&g, 7 + idx % 9, 6 + idx % 11, chans[idx % 6], k, 4 - k, filters[idx % 10],
                       s, 1, d, 1 + idx / 5 % 2, idx % 4 == 1))
            continue;
        const int64_t n = g.out_h * g.out_w * g.out_c + g.k_h * g.k_w * g.in_c * g.out_c + g.out_c +
                          g.in_h * g.in_w * g.in_c;
        float *ref = falloc(n), *got = falloc(n);
        const double keep = idx % 2 ? 0.2 : 1.0;
        conv_fast_outputs(&g, FV__GEMM_AVX2, 500 + (uint64_t)idx, keep, idx % 3 != 0, ref);
        for (int p = 0; p < FV__GEMM_NPATHS; p++) {
            if (p == FV__GEMM_GENERIC || p == FV__GEMM_AVX2 ||
                !fv__conv_path_supported((fv__gemm_path)p))
                continue;
            conv_fast_outputs(&g, (fv__gemm_path)p, 500 + (uint64_t)idx, keep, idx % 3 != 0, got);
            const bool same = memcmp(ref, got, (size_t)n * sizeof(float)) == 0;
            CHECK(same);
            if (!same)
                fprintf(stderr, "  path %s: in %ldx%ldx%ld k %ldx%ld filters %ld\n",
                        fv__gemm_path_name(p), (long)g.in_h, (long)g.in_w, (long)g.in_c,
                        (long)g.k_h, (long)g.k_w, (long)g.out_c);
            compared++;
        }
        free(ref), free(got);
    }
    CHECK(compared >= 50);
}

/* y ← fv_conv2d_forward_fast of g on path p (the input, weights and bias from seed), ReLU or not;
 * or, where phases is set, dx ← fv_conv_dx_phases (the gradient and weights from seed). */
static void conv_fast_one(const fv_conv_geom *g, fv__gemm_path p, uint64_t seed, bool relu,
                          bool phases, float *out)
{
    fv__conv_force_path(p);
    fv_rng r;
    fv__rng_seed(&r, seed);
    const int64_t nx = g->in_h * g->in_w * g->in_c, nw = g->k_h * g->k_w * g->in_c * g->out_c;
    const int64_t ny = g->out_h * g->out_w * g->out_c;
    float *x = falloc(nx), *w = falloc(nw), *b = falloc(g->out_c), *dy = falloc(ny);
    fill_rand(&r, x, nx), fill_rand(&r, w, nw), fill_rand(&r, b, g->out_c), fill_rand(&r, dy, ny);
    if (phases) {
        dx_on_path(p, g, w, dy, out, false);
    } else {
        float *wp = falloc(fv_conv_fwd_pack_floats(g)), *sc = falloc(fv_conv_fwd_scratch_floats(g));
        fv_conv_fwd_pack(g, w, wp);
        fv_conv2d_forward_fast(g, x, wp, b, relu, out, sc);
        forward_next_same_bits(g, x, wp, b, relu, out, sc);
        free(wp), free(sc);
    }
    free(x), free(w), free(b), free(dy);
    fv__conv_force_path(-1);
}

TEST(conv_row_tiles_match_ref_and_the_avx2_bits)
{
    /* The AVX-512 row tiles (conv_tile.h row_run: 14 pixels × 16 or 32 filters, 7 × 32 or 64,
     * windows 1, 16, 32 or 64 floats apart: every stage of the ResNet example and its strided
     * layers' phases) against the reference and, bit for bit, against the AVX2 tiles, which have
     * none: output rows of 7, 14 and 28 pixels, 1- and 16-channel inputs at stride 1, 8- and
     * 16-channel ones at stride 2, 32 and 64 channels, same and valid padding, 1 to 80 filters
     * (partial vectors; 33, 40, 48, 80: a row tile, then the rest by row tiles or fwd_run's), ReLU
     * or not; and the strided input gradient by phases at the example's s2_conv1, s2_proj and
     * s3_conv1. */
    if (!fv__conv_path_supported(FV__GEMM_AVX2)) {
        printf("    (skipped: no AVX2 + FMA here)\n");
        return;
    }
    static const struct {
        int64_t h, w, c, k, f, s;
        bool same, phases;
    } cases[] = {
        {28, 28, 16, 3, 16, 1, true, false},  {28, 28, 16, 3, 5, 1, true, false},
        {28, 28, 16, 3, 33, 1, true, false},  {16, 30, 16, 3, 9, 1, false, false},
        {28, 28, 8, 3, 16, 2, true, false},   {14, 14, 32, 3, 16, 1, true, false},
        {15, 28, 32, 2, 1, 1, true, false},   {14, 14, 32, 3, 32, 1, true, false},
        {14, 14, 32, 3, 48, 1, true, false},  {16, 16, 64, 3, 24, 1, false, false},
        {28, 28, 16, 1, 32, 2, false, false}, {7, 7, 64, 3, 64, 1, true, false},
        {7, 7, 64, 3, 40, 1, true, false},    {9, 9, 64, 3, 80, 1, false, false},
        {14, 14, 32, 3, 64, 2, true, false},  {14, 14, 16, 3, 64, 1, true, false},
        {28, 28, 16, 3, 32, 2, true, true},   {28, 28, 16, 1, 32, 2, false, true},
        {14, 14, 32, 3, 64, 2, true, true},   {28, 28, 1, 3, 16, 1, true, false},
        {16, 30, 1, 3, 5, 1, false, false},
    };
    int compared = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fv_conv_geom g;
        CHECK(make_geom(&g, cases[i].h, cases[i].w, cases[i].c, cases[i].k, cases[i].k, cases[i].f,
                        cases[i].s, cases[i].s, 1, 1, cases[i].same));
        const bool ph = cases[i].phases, relu = i % 2;
        const int64_t n = ph ? g.in_h * g.in_w * g.in_c : g.out_h * g.out_w * g.out_c;
        float *ref = falloc(n), *got = falloc(n), *exact = falloc(n);
        conv_fast_one(&g, FV__GEMM_AVX2, 90 + i, relu, ph, ref);
        { /* the reference, from the same inputs */
            fv_rng r;
            fv__rng_seed(&r, 90 + i);
            const int64_t nx = g.in_h * g.in_w * g.in_c, nw = g.k_h * g.k_w * g.in_c * g.out_c;
            const int64_t ny = g.out_h * g.out_w * g.out_c;
            float *x = falloc(nx), *w = falloc(nw), *b = falloc(g.out_c), *dy = falloc(ny);
            float *dw = falloc(nw), *db = falloc(g.out_c);
            fill_rand(&r, x, nx), fill_rand(&r, w, nw), fill_rand(&r, b, g.out_c);
            fill_rand(&r, dy, ny);
            if (ph) {
                memset(exact, 0, (size_t)n * sizeof(float));
                fv_conv2d_backward_ref(&g, x, w, dy, dw, db, exact);
            } else {
                fv_conv2d_forward_ref(&g, x, w, b, exact);
                if (relu) fv_act_forward(FV_K_RELU, 0.0f, exact, n);
            }
            free(x), free(w), free(b), free(dy), free(dw), free(db);
        }
        for (int p = 0; p < FV__GEMM_NPATHS; p++) {
            if (p == FV__GEMM_GENERIC || !fv__conv_path_supported((fv__gemm_path)p)) continue;
            conv_fast_one(&g, (fv__gemm_path)p, 90 + i, relu, ph, got);
            const bool same = memcmp(ref, got, (size_t)n * sizeof(float)) == 0;
            CHECK(same);
            CHECK(check_arrays(ph ? "dx" : "y", got, exact, (long)n, 1e-5, 1e-4));
            if (!same) fprintf(stderr, "  path %s: case %zu\n", fv__gemm_path_name(p), i);
            compared++;
        }
        free(ref), free(got), free(exact);
    }
    CHECK(compared >= 20);
}

TEST(conv_bf16_forward_matches_its_emulation_and_bound)
{
    /* fv_conv2d_forward_bf16 on this CPU's path against its emulation, bit for bit, and against
     * the fp32 reference within (fv_bf16_gemm_rtol(K) + (K+1)·2^-24)·Σ|x·w| + 2^-22·|y|; odd
     * sizes, padding, strides, dilations and 1..70 filters (every tile shape's remainder). */
    fv_rng r;
    fv__rng_seed(&r, 616);
    int cases = 0, exact = 0;
    for (int idx = 0; idx < 48; idx++) {
        static const int64_t chans[] = {2, 4, 8, 16, 32, 6};
        static const int64_t filters[] = {1, 7, 16, 17, 33, 48, 49, 64, 70};
        fv_conv_geom g;
        const int64_t k = 1 + idx % 3;
        if (!make_geom(&g, 6 + idx % 7, 5 + idx % 8, chans[idx % 6], k, 4 - k, filters[idx % 9],
                       1 + idx / 6 % 2, 1 + idx / 12 % 2, 1 + idx / 4 % 2, 1 + idx / 24 % 2,
                       idx % 5 == 1))
            continue;
        if (!fv_conv_bf16_applies(&g)) continue;
        const int64_t nx = g.in_h * g.in_w * g.in_c, nw = g.k_h * g.k_w * g.in_c * g.out_c;
        const int64_t ny = g.out_h * g.out_w * g.out_c, K = g.k_h * g.k_w * g.in_c;
        float *x = falloc(nx), *w = falloc(nw), *b = falloc(g.out_c), *y = falloc(ny);
        float *ye = falloc(ny), *yr = falloc(ny), *ax = falloc(nx), *aw = falloc(nw);
        float *s = falloc(ny);
        uint16_t *wp = malloc((size_t)fv_conv_fwd_pack_bf16_size(&g) * sizeof(uint16_t));
        float *sc = fv__alloc((size_t)fv_conv_fwd_bf16_scratch_floats(&g) * sizeof(float), "t");
        fill_rand(&r, x, nx), fill_rand(&r, w, nw), fill_rand(&r, b, g.out_c);
        const bool relu = idx % 2;
        fv_conv_fwd_pack_bf16(&g, w, wp);
        fv_conv2d_forward_bf16(&g, x, wp, b, relu, y, sc);
        fv__conv_bf16_force_emulation(true);
        fv_conv2d_forward_bf16(&g, x, wp, b, relu, ye, sc);
        fv__conv_bf16_force_emulation(false);
        const bool same = memcmp(y, ye, (size_t)ny * sizeof(float)) == 0;
        CHECK(same);
        exact += same;
        fv_conv2d_forward_ref(&g, x, w, b, yr);
        if (relu) fv_act_forward(FV_K_RELU, 0.0f, yr, ny);
        for (int64_t i = 0; i < nx; i++)
            ax[i] = fabsf(x[i]);
        for (int64_t i = 0; i < nw; i++)
            aw[i] = fabsf(w[i]);
        fv_conv2d_forward_ref(&g, ax, aw, NULL, s);
        int bad = 0;
        for (int64_t i = 0; i < ny; i++) {
            const double bound = (fv_bf16_gemm_rtol(K) + (double)(K + 1) * 0x1p-24) * s[i] +
                                 0x1p-22 * fabs(yr[i]) + 1e-30;
            if (!(fabs((double)y[i] - yr[i]) <= bound) && bad++ < 2)
                fprintf(stderr, "  y[%ld] %.9g vs %.9g, bound %.3g (filters %ld)\n", (long)i, y[i],
                        yr[i], bound, (long)g.out_c);
        }
        CHECK(bad == 0);
        cases++;
        free(x), free(w), free(b), free(y), free(ye), free(yr), free(ax), free(aw), free(s);
        free(wp), fv__free(sc);
    }
    CHECK(cases >= 30 && exact == cases);
}

TEST(conv_bf16_backward_matches_its_emulation_and_bound)
{
    /* fv_conv2d_backward_bf16 on this CPU's bf16 path against its emulation, bit for bit (dW in
     * both layouts, db, dx), under each fp32 convolution path this CPU has (dx stays fp32 where
     * the lists do not apply); and against the fp32 reference: each element of dW within
     * (fv_bf16_gemm_rtol(n) + (n+1)·2^-24)·Σ|x·dz| + 2^-22·|dW| for its n = out_h·out_w terms,
     * each element of dx likewise with Σ|dz·w| and n = k_h·k_w·filters (the bf16 bound of
     * kernels/bf16.h: 8 significant bits, u = 2^-8, per rounded operand; the fp32 sums' own
     * error; the fp32 additions into dW and dx). Sparse (behind max-pool: 20% kept) and dense dy,
     * with and without the ReLU mask, padding, strides, dilations, 1..70 filters, segments of 8
     * to 192 values (runs of 32 and their remainders). */
    fv_rng r;
    fv__rng_seed(&r, 717);
    int cases = 0, exact = 0, listed = 0;
    for (int idx = 0; idx < 36; idx++) {
        static const int64_t chans[] = {8, 16, 4, 32, 24, 6};
        static const int64_t filters[] = {1, 7, 16, 17, 33, 48, 49, 64, 70};
        fv_conv_geom g;
        const int64_t k = 1 + idx % 3;
        if (!make_geom(&g, 6 + idx % 7, 5 + idx % 8, chans[idx % 6], k, 4 - k, filters[idx % 9],
                       1 + idx / 6 % 2, 1 + idx / 12 % 2, 1 + idx / 4 % 2, 1 + idx / 24 % 2,
                       idx % 5 == 1))
            continue;
        fv__gemm_path path = (fv__gemm_path)(idx % 3 == 0   ? FV__GEMM_GENERIC
                                             : idx % 3 == 1 ? FV__GEMM_AVX2
                                                            : FV__GEMM_AVX512);
        if (!fv__conv_path_supported(path)) path = FV__GEMM_GENERIC;
        fv__conv_force_path(path);
        const int64_t nx = g.in_h * g.in_w * g.in_c, nw = g.k_h * g.k_w * g.in_c * g.out_c;
        const int64_t ny = g.out_h * g.out_w * g.out_c, F = g.out_c, P = g.out_h * g.out_w;
        const bool relu = idx % 2, sparse = idx % 4 < 2;
        float *x = falloc(nx), *w = falloc(nw), *dy = falloc(ny), *y = falloc(ny);
        float *dz = falloc(ny), *out[2], *ref = falloc(2 * nw + F + nx), *sum = falloc(nw + nx);
        float *ax = falloc(nx), *aw = falloc(nw), *adz = falloc(ny);
        uint16_t *wt16 = malloc((size_t)fv_conv_bwd_pack_bf16_size(&g) * sizeof(uint16_t));
        float *sc = fv__alloc((size_t)fv_conv_bwd_bf16_scratch_floats(&g) * sizeof(float), "t");
        fill_rand(&r, x, nx), fill_rand(&r, w, nw), fill_rand(&r, dy, ny), fill_rand(&r, y, ny);
        for (int64_t i = 0; i < ny; i++)
            if (sparse && fv__rng_uniform(&r) >= 0.2f) dy[i] = 0.0f;
        fv_conv_bwd_pack_bf16(&g, w, wt16);
        for (int e = 0; e < 2; e++) {
            /* [dW | dW sparse layout | db | dx], from zero */
            out[e] = falloc(2 * nw + F + nx);
            memset(out[e], 0, (size_t)(2 * nw + F + nx) * sizeof(float));
            fv__conv_bf16_force_emulation(e == 1);
            const fv_conv_bwd_path bp =
                fv_conv2d_backward_bf16(&g, x, relu ? y : NULL, dy, w, wt16, out[e], out[e] + nw,
                                        out[e] + 2 * nw, out[e] + 2 * nw + F, sc);
            if (e == 0) listed += fv_conv_bwd_uses_lists(&g) && bp == FV_CONV_BWD_SPARSE;
        }
        fv__conv_bf16_force_emulation(false);
        const bool same = memcmp(out[0], out[1], (size_t)(2 * nw + F + nx) * sizeof(float)) == 0;
        CHECK(same);
        exact += same;

        /* The fp32 reference on dz (dy with the ReLU mask of y), and on the absolute values. */
        memcpy(dz, dy, (size_t)ny * sizeof(float));
        if (relu) fv_act_backward(FV_K_RELU, 0.0f, y, dz, ny);
        memset(ref, 0, (size_t)(2 * nw + F + nx) * sizeof(float));
        memset(sum, 0, (size_t)(nw + nx) * sizeof(float));
        fv_conv2d_backward_ref(&g, x, w, dz, ref, ref + 2 * nw, ref + 2 * nw + F);
        for (int64_t i = 0; i < nx; i++)
            ax[i] = fabsf(x[i]);
        for (int64_t i = 0; i < nw; i++)
            aw[i] = fabsf(w[i]);
        for (int64_t i = 0; i < ny; i++)
            adz[i] = fabsf(dz[i]);
        fv_conv2d_backward_ref(&g, ax, aw, adz, sum, NULL, sum + nw);
        int bad = 0;
        const int64_t Kx = g.k_h * g.k_w * F;
        for (int64_t i = 0; i < nw + nx; i++) {
            const bool isw = i < nw;
            const int64_t kk = i / F, ff = i % F;
            const double got =
                isw ? (double)out[0][i] + out[0][nw + fv_conv_sparse_dw_index(&g, kk, ff)]
                    : out[0][2 * nw + F + i - nw];
            const double want = isw ? ref[i] : ref[2 * nw + F + i - nw];
            const int64_t n = isw ? P : Kx;
            const double bound = (fv_bf16_gemm_rtol(n) + (double)(n + 1) * 0x1p-24) * sum[i] +
                                 0x1p-22 * fabs(want) + 1e-30;
            if (!(fabs(got - want) <= bound) && bad++ < 2)
                fprintf(stderr, "  %s[%ld] %.9g vs %.9g, bound %.3g (filters %ld, in_c %ld)\n",
                        isw ? "dW" : "dx", (long)(isw ? i : i - nw), got, want, bound, (long)F,
                        (long)g.in_c);
        }
        CHECK(bad == 0);
        cases++;
        free(x), free(w), free(dy), free(y), free(dz), free(out[0]), free(out[1]), free(ref);
        free(sum), free(ax), free(aw), free(adz), free(wt16), fv__free(sc);
    }
    fv__conv_force_path(-1);
    CHECK(cases >= 30 && exact == cases && listed >= 8);
}

TEST(conv_fast_matches_ref_over_all_geometries)
{
    /* Every stride 1..3 and dilation 1..2 per axis, both paddings, kernels 1..5 × 1..5 and
     * 1..5 input channels, on odd image sizes that vary from case to case. */
    fv_rng r;
    fv__rng_seed(&r, 2024);
    int cases = 0, idx = 0;
    for (int64_t sh = 1; sh <= 3; sh++)
        for (int64_t sw = 1; sw <= 3; sw++)
            for (int64_t dh = 1; dh <= 2; dh++)
                for (int64_t dw = 1; dw <= 2; dw++)
                    for (int same = 0; same <= 1; same++)
                        for (int64_t kh = 1; kh <= 5; kh++)
                            for (int64_t kw = 1; kw <= 5; kw++)
                                for (int64_t in_c = 1; in_c <= 5; in_c++, idx++) {
                                    fv_conv_geom g;
                                    int64_t out_c = 1 + idx % 3 * 3;
                                    int64_t h = 5 + idx % 7, w = 6 + idx % 5;
                                    if (!make_geom(&g, h, w, in_c, kh, kw, out_c, sh, sw, dh, dw,
                                                   same))
                                        continue;
                                    conv_compare(&r, &g);
                                    cases++;
                                }
    CHECK(cases > 8000); /* the few geometries whose kernel outgrows the image are skipped */
}

TEST(conv_pointwise_skips_im2col)
{
    /* 1×1, stride 1, no padding: the col scratch is not touched (NULL is allowed). */
    fv_rng r;
    fv__rng_seed(&r, 11);
    fv_conv_geom g;
    CHECK(make_geom(&g, 6, 5, 7, 1, 1, 4, 1, 1, 1, 1, false));
    float x[210], w[28], b[4], y[120], yr[120], dy[120], dw[28] = {0}, dwr[28] = {0};
    float dx[210] = {0}, dxr[210] = {0};
    fill_rand(&r, x, 210), fill_rand(&r, w, 28), fill_rand(&r, b, 4), fill_rand(&r, dy, 120);
    fv_conv2d_forward(&g, x, w, b, y, NULL);
    fv_conv2d_forward_ref(&g, x, w, b, yr);
    check_arrays("y", y, yr, 120, 1e-5, 1e-4);
    fv_conv2d_backward(&g, x, w, dy, dw, NULL, dx, NULL, NULL);
    fv_conv2d_backward_ref(&g, x, w, dy, dwr, NULL, dxr);
    check_arrays("dw", dw, dwr, 28, 1e-5, 1e-4);
    check_arrays("dx", dx, dxr, 210, 1e-5, 1e-4);
}

TEST(conv_seed_shapes_match_ref)
{
    /* The seed CNN's two convolutions: 28x28x1 -> 26x26x32 -> 24x24x64. */
    fv_rng r;
    fv__rng_seed(&r, 5);
    fv_conv_geom g;
    CHECK(make_geom(&g, 28, 28, 1, 3, 3, 32, 1, 1, 1, 1, false));
    conv_compare(&r, &g);
    CHECK(make_geom(&g, 26, 26, 32, 3, 3, 64, 1, 1, 1, 1, false));
    conv_compare(&r, &g);
}

/* L = Σ_i r_i · y_i in double, from the float forward reference. */
static double conv_loss(const fv_conv_geom *g, const float *x, const float *w, const float *b,
                        const float *rw, float *y)
{
    fv_conv2d_forward_ref(g, x, w, b, y);
    double L = 0;
    for (int64_t i = 0; i < g->out_h * g->out_w * g->out_c; i++)
        L += (double)rw[i] * y[i];
    return L;
}

/* Central difference of L with respect to v[i]. L is linear in each variable, so the only error
 * is rounding; dividing by the step actually taken (after float rounding) keeps it small. */
static double fd(const fv_conv_geom *g, float *x, float *w, float *b, const float *rw, float *y,
                 float *v, int64_t i)
{
    const float v0 = v[i];
    v[i] = v0 + 0.125f;
    const float hi = v[i];
    double Lp = conv_loss(g, x, w, b, rw, y);
    v[i] = v0 - 0.125f;
    const float lo = v[i];
    double Lm = conv_loss(g, x, w, b, rw, y);
    v[i] = v0;
    return (Lp - Lm) / ((double)hi - (double)lo);
}

TEST(conv_backward_ref_matches_finite_differences)
{
    fv_rng r;
    fv__rng_seed(&r, 31);
    /* in_h, in_w, in_c, k_h, k_w, out_c, sh, sw, dh, dw, same */
    static const int64_t geoms[][11] = {
        {5, 6, 2, 3, 3, 3, 1, 1, 1, 1, 0}, {7, 6, 3, 3, 2, 2, 2, 1, 1, 2, 1},
        {8, 7, 1, 2, 3, 4, 3, 2, 2, 1, 1}, {6, 6, 2, 1, 1, 2, 2, 2, 1, 1, 0},
        {9, 5, 2, 4, 3, 2, 1, 3, 2, 1, 1},
    };
    for (size_t t = 0; t < sizeof geoms / sizeof geoms[0]; t++) {
        const int64_t *q = geoms[t];
        fv_conv_geom g;
        CHECK(make_geom(&g, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10]));
        const int64_t nx = g.in_h * g.in_w * g.in_c, nw = g.k_h * g.k_w * g.in_c * g.out_c;
        const int64_t ny = g.out_h * g.out_w * g.out_c;
        float *x = falloc(nx), *w = falloc(nw), *b = falloc(g.out_c), *rw = falloc(ny);
        float *y = falloc(ny), *dx = calloc((size_t)nx, sizeof(float));
        float *dw = calloc((size_t)nw, sizeof(float)), *db = calloc((size_t)g.out_c, sizeof(float));
        fill_rand(&r, x, nx), fill_rand(&r, w, nw), fill_rand(&r, b, g.out_c);
        fill_rand(&r, rw, ny);
        fv_conv2d_backward_ref(&g, x, w, rw, dw, db, dx); /* dL/dy = rw */
        for (int64_t i = 0; i < nx; i++)
            CHECK_CLOSE(dx[i], fd(&g, x, w, b, rw, y, x, i), 2e-5, 1e-4);
        for (int64_t i = 0; i < nw; i++)
            CHECK_CLOSE(dw[i], fd(&g, x, w, b, rw, y, w, i), 2e-5, 1e-4);
        for (int64_t i = 0; i < g.out_c; i++)
            CHECK_CLOSE(db[i], fd(&g, x, w, b, rw, y, b, i), 2e-5, 1e-4);
        free(x), free(w), free(b), free(rw), free(y), free(dx), free(dw), free(db);
    }
}

/* ---- max pooling ------------------------------------------------------------------------------
 */

TEST(maxpool_small_by_hand)
{
    /* 4×4×1, pool 2 stride 2. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 4, 4, 1, 2, 2, 1, 2, 2, 1, 1, false));
    const float x[16] = {1, 3, 2, 0, 4, 2, 1, 5, 0, 0, 9, 9, -1, -2, 9, 8};
    float y[4];
    int32_t am[4];
    fv_maxpool_forward(&g, x, y, am);
    const float want[4] = {4, 5, 0, 9};
    check_arrays("y", y, want, 4, 0, 0);
    /* Ties go to the first in row-major window order: x[8] (not x[9]), x[10] (not 11 or 14). */
    CHECK(am[0] == 4 && am[1] == 7 && am[2] == 8 && am[3] == 10);
    float dx[16] = {0};
    const float dy[4] = {1, 2, 3, 4};
    fv_maxpool_backward(&g, dy, am, dx);
    CHECK(dx[4] == 1 && dx[7] == 2 && dx[8] == 3 && dx[10] == 4 && dx[0] == 0 && dx[11] == 0);
}

TEST(maxpool_argmax_is_flat_hwc_index)
{
    /* 3×3×2 with pool 2 stride 1: channel 1 is the negative of channel 0. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, false));
    float x[18];
    for (int i = 0; i < 9; i++)
        x[2 * i] = (float)i, x[2 * i + 1] = -(float)i;
    float y[8];
    int32_t am[8];
    fv_maxpool_forward(&g, x, y, am);
    /* Window (0,0) covers pixels 0,1,3,4: max of channel 0 is pixel 4, index 4·2+0; of
     * channel 1 pixel 0, index 1. Window (1,1): pixels 4,5,7,8 -> 8·2 = 16 and 4·2+1 = 9. */
    CHECK(am[0] == 8 && am[1] == 1 && am[6] == 16 && am[7] == 9);
    CHECK(y[0] == 4 && y[1] == 0 && y[6] == 8 && y[7] == -4);
}

TEST(maxpool_padding_never_wins)
{
    /* All-negative input with same padding: zeros from padding must not appear. 3×3, pool 2,
     * stride 2, same -> out 2, pad total 1 at the bottom/right. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 3, 3, 1, 2, 2, 1, 2, 2, 1, 1, true));
    CHECK(g.out_h == 2 && g.pad_top == 0);
    const float x[9] = {-5, -4, -3, -6, -7, -8, -9, -1, -2};
    float y[4];
    int32_t am[4];
    fv_maxpool_forward(&g, x, y, am);
    const float want[4] = {-4, -3, -1, -2};
    check_arrays("y", y, want, 4, 0, 0);
    CHECK(am[0] == 1 && am[1] == 2 && am[2] == 7 && am[3] == 8);
    /* Leading padding too: pool 3 stride 1 same on 3×3 -> pad 1 on each side. */
    CHECK(make_geom(&g, 3, 3, 1, 3, 3, 1, 1, 1, 1, 1, true));
    CHECK(g.pad_top == 1 && g.out_h == 3);
    float y9[9];
    int32_t am9[9];
    fv_maxpool_forward(&g, x, y9, am9);
    CHECK(y9[0] == -4 && am9[0] == 1); /* window rows 0..1, cols 0..1 */
    CHECK(y9[8] == -1 && am9[8] == 7); /* rows 1..2, cols 1..2 */
}

TEST(maxpool_backward_accumulates_overlapping_windows)
{
    /* 1×3 row, pool 1×2 stride 1: the middle element wins both windows. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 1, 3, 1, 1, 2, 1, 1, 1, 1, 1, false));
    const float x[3] = {0, 5, 1};
    float y[2], dx[3] = {0, 0, 0};
    int32_t am[2];
    fv_maxpool_forward(&g, x, y, am);
    const float dy[2] = {1, 2};
    fv_maxpool_backward(&g, dy, am, dx);
    CHECK(dx[0] == 0 && dx[1] == 3 && dx[2] == 0);
}

/* Same float, NaN equal to NaN. */
static bool same_float(float a, float b)
{
    return a == b || (a != a && b != b);
}

/* The fast max-pool against fv_maxpool_forward_ref on x: values (NaN equal to NaN) and argmax
 * exactly; and without the argmax, the same values bit for bit; and the backward that writes dx
 * whole against the scatter. Returns false (and prints the first differences) when the forward's
 * differ. */
static bool pool_compare(const fv_conv_geom *g, const float *x, const char *what)
{
    const int64_t n = g->out_h * g->out_w * g->in_c;
    float *y = falloc(n), *yr = falloc(n);
    int32_t *am = malloc((size_t)n * sizeof *am), *amr = malloc((size_t)n * sizeof *amr);
    if (!am || !amr) abort();
    fv_maxpool_forward(g, x, y, am);
    fv_maxpool_forward_ref(g, x, yr, amr);
    /* Without the argmax (inference), the same y, bit for bit. */
    float *y2 = falloc(n);
    fv_maxpool_forward(g, x, y2, NULL);
    CHECK(memcmp(y, y2, (size_t)n * sizeof(float)) == 0);
    free(y2);
    /* The backward that writes dx whole against zeroing and scattering, bit for bit, on a dy
     * with -0 and NaN in it, over a dx full of garbage. */
    const int64_t in_n = g->in_h * g->in_w * g->in_c;
    float *dy = falloc(n), *dx = falloc(in_n), *dxr = falloc(in_n);
    for (int64_t i = 0; i < n; i++)
        dy[i] = i % 7 == 3 ? -0.0f : i % 11 == 5 ? NAN : (float)(i % 13) - 6.5f;
    for (int64_t i = 0; i < in_n; i++)
        dx[i] = 7.0f, dxr[i] = 0.0f;
    fv_maxpool_backward(g, dy, am, dxr);
    fv_maxpool_backward_write(g, dy, am, NULL, dx);
    CHECK(memcmp(dx, dxr, (size_t)in_n * sizeof(float)) == 0);
    /* With the ReLU's mask from the pooled output: the mask of x applied afterwards, bit for bit
     * (a backward chain's max-pooling applies its producer's mask so). */
    for (int64_t i = 0; i < in_n; i++)
        dxr[i] = x[i] > 0.0f ? dx[i] : 0.0f, dx[i] = 7.0f;
    fv_maxpool_backward_write(g, dy, am, y, dx);
    CHECK(memcmp(dx, dxr, (size_t)in_n * sizeof(float)) == 0);
    free(dy), free(dx), free(dxr);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!same_float(y[i], yr[i]) || am[i] != amr[i]) {
            if (bad++ < 5)
                fprintf(stderr, "  %s: element %ld (channel %ld): %g at %d, reference %g at %d\n",
                        what, (long)i, (long)(i % g->in_c), (double)y[i], am[i], (double)yr[i],
                        amr[i]);
        }
    if (bad) {
        fprintf(
            stderr,
            "  %s: %ld of %ld differ; in %ldx%ldx%ld pool %ldx%ld strides %ldx%ld pad %ld,%ld\n",
            what, (long)bad, (long)n, (long)g->in_h, (long)g->in_w, (long)g->in_c, (long)g->k_h,
            (long)g->k_w, (long)g->stride_h, (long)g->stride_w, (long)g->pad_top,
            (long)g->pad_left);
        test_failed_checks++;
    }
    free(y), free(yr), free(am), free(amr);
    return bad == 0;
}

TEST(maxpool_fast_matches_ref_at_every_channel_count)
{
    /* Four channels at a time, then a scalar tail: every count from 1 to 9, the seed CNN's 32 and
     * 64, and 65. Values from {-2, ..., 2} so that most windows hold ties; then the same with
     * about one value in 8 a NaN, and with infinities. Square and non-square pools and strides,
     * valid and same padding, and the seed's own 24x24x64 -> 12x12x64. */
    static const int64_t chans[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 32, 64, 65};
    static const int64_t geoms[][7] = {
        /* in_h, in_w, pool_h, pool_w, stride_h, stride_w, same */
        {6, 7, 2, 2, 2, 2, 0}, {7, 6, 3, 2, 1, 2, 0}, {7, 6, 2, 3, 2, 1, 1},
        {5, 8, 3, 3, 3, 3, 1}, {8, 5, 3, 2, 3, 2, 1}, {24, 24, 2, 2, 2, 2, 0},
        {7, 9, 3, 2, 3, 2, 0}, /* windows that tile all but the last row and column */
    };
    fv_rng r;
    fv__rng_seed(&r, 31);
    int cases = 0;
    for (size_t gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++)
        for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci++) {
            const int64_t *q = geoms[gi], C = chans[ci];
            if (q[0] == 24 && C < 32) continue;
            fv_conv_geom g;
            CHECK(make_geom(&g, q[0], q[1], C, q[2], q[3], C, q[4], q[5], 1, 1, q[6] != 0));
            const int64_t n = q[0] * q[1] * C;
            float *x = falloc(n);
            for (int variant = 0; variant < 3; variant++) {
                for (int64_t i = 0; i < n; i++) {
                    x[i] = (float)(int)(fv__rng_uniform(&r) * 5) - 2.0f;
                    double u = fv__rng_uniform(&r);
                    if (variant == 1 && u < 0.125) x[i] = NAN;
                    if (variant == 2 && u < 0.0625) x[i] = u < 0.03125 ? INFINITY : -INFINITY;
                }
                static const char *const names[] = {"ties", "NaN", "infinities"};
                /* on every path the machine has (the tiling windows' AVX2 kernel, else C) */
                for (int p = 0; p < FV__GEMM_NPATHS; p++) {
                    if (!fv__conv_path_supported((fv__gemm_path)p)) continue;
                    fv__conv_force_path(p);
                    pool_compare(&g, x, names[variant]);
                }
                fv__conv_force_path(-1);
                cases++;
            }
            free(x);
        }
    CHECK(cases == 3 * (6 * 12 + 3));
}

TEST(maxpool_ties_go_to_the_first_on_every_lane)
{
    /* All equal values, 7 channels (a vector of four, then a tail of three), pool 2x3 stride
     * (1, 2): each window's first tap wins on every channel, in both versions. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 3, 5, 7, 2, 3, 7, 1, 2, 1, 1, false));
    CHECK(g.out_h == 2 && g.out_w == 2);
    float x[3 * 5 * 7], y[2 * 2 * 7];
    int32_t am[2 * 2 * 7];
    for (int i = 0; i < 3 * 5 * 7; i++)
        x[i] = 1.5f;
    for (int ref = 0; ref <= 1; ref++) {
        (ref ? fv_maxpool_forward_ref : fv_maxpool_forward)(&g, x, y, am);
        for (int oh = 0; oh < 2; oh++)
            for (int ow = 0; ow < 2; ow++)
                for (int c = 0; c < 7; c++) {
                    const int o = (oh * 2 + ow) * 7 + c;
                    CHECK(y[o] == 1.5f);
                    CHECK(am[o] == (oh * 5 + ow * 2) * 7 + c); /* the window's top-left pixel */
                }
    }
}

TEST(maxpool_nan_propagates_to_the_output_and_the_gradient)
{
    /* 2x2 pool over a 2x2 image, 6 channels (a vector of four, then a scalar tail of two):
     * channel 0 has a NaN at tap 1 before a larger 9; channel 1 NaNs at taps 2 and 3 (the last
     * one is the argmax); channel 4 (in the tail) a NaN at tap 0; channel 5 none. */
    fv_conv_geom g;
    CHECK(make_geom(&g, 2, 2, 6, 2, 2, 6, 2, 2, 1, 1, false));
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)(i % 5);
    x[1 * 6 + 0] = NAN, x[3 * 6 + 0] = 9;
    x[2 * 6 + 1] = NAN, x[3 * 6 + 1] = NAN;
    x[0 * 6 + 4] = NAN;
    for (int ref = 0; ref <= FV__GEMM_NPATHS; ref++) { /* the reference, then every path */
        if (ref > 0 && !fv__conv_path_supported((fv__gemm_path)(ref - 1))) continue;
        fv__conv_force_path(ref - 1);
        float y[6], dx[24] = {0};
        int32_t am[6];
        (ref == 0 ? fv_maxpool_forward_ref : fv_maxpool_forward)(&g, x, y, am);
        CHECK(isnan(y[0]) && am[0] == 1 * 6 + 0);
        CHECK(isnan(y[1]) && am[1] == 3 * 6 + 1);
        CHECK(isnan(y[4]) && am[4] == 0 * 6 + 4);
        CHECK(y[5] == 3 && am[5] == 3 * 6 + 5); /* x[5, 11, 17, 23] = 0, 1, 2, 3 */
        const float dy[6] = {1, 1, 1, 1, 1, 1};
        fv_maxpool_backward(&g, dy, am, dx);
        CHECK(dx[1 * 6 + 0] == 1 && dx[3 * 6 + 0] == 0); /* the NaN gets the gradient, not the 9 */
    }
    fv__conv_force_path(-1);
}

/* ---- activations, softmax, maxout -------------------------------------------------------------
 */

TEST(activations_forward_values)
{
    const float z[5] = {-2, -0.5f, 0, 0.5f, 3};
    float y[5];
    memcpy(y, z, sizeof y), fv_act_forward(FV_K_RELU, 0, y, 5);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 0.5f && y[4] == 3);
    memcpy(y, z, sizeof y), fv_act_forward(FV_K_LEAKY_RELU, 0.3f, y, 5);
    CHECK_CLOSE(y[0], -0.6, 1e-7, 0);
    CHECK(y[4] == 3);
    memcpy(y, z, sizeof y), fv_act_forward(FV_K_ELU, 1.0f, y, 5);
    CHECK_CLOSE(y[0], expm1(-2.0), 1e-7, 1e-6);
    CHECK(y[3] == 0.5f);
    memcpy(y, z, sizeof y), fv_act_forward(FV_K_SIGMOID, 0, y, 5);
    CHECK_CLOSE(y[1], 1 / (1 + exp(0.5)), 1e-7, 1e-6);
    CHECK(y[2] == 0.5f);
    memcpy(y, z, sizeof y), fv_act_forward(FV_K_TANH, 0, y, 5);
    CHECK_CLOSE(y[4], tanh(3.0), 1e-7, 1e-6);
    memcpy(y, z, sizeof y), fv_act_forward(FV_K_LINEAR, 0, y, 5);
    check_arrays("linear", y, z, 5, 0, 0);
    /* Sigmoid does not overflow for large |z|. */
    float big[2] = {-100, 100};
    fv_act_forward(FV_K_SIGMOID, 0, big, 2);
    CHECK(big[0] >= 0 && big[0] < 1e-30f && big[1] == 1.0f);
}

TEST(activations_backward_match_finite_differences)
{
    /* Kept away from the kink at 0. */
    const float z[6] = {-2.1f, -0.7f, -0.2f, 0.3f, 0.9f, 2.4f};
    static const fv_act_kind kinds[] = {FV_K_LINEAR, FV_K_RELU,       FV_K_SIGMOID,
                                        FV_K_TANH,   FV_K_LEAKY_RELU, FV_K_ELU};
    static const float alphas[] = {0, 0, 0, 0, 0.3f, 1.3f};
    for (int k = 0; k < 6; k++) {
        float y[6], g[6];
        memcpy(y, z, sizeof y);
        fv_act_forward(kinds[k], alphas[k], y, 6);
        for (int i = 0; i < 6; i++)
            g[i] = 1.0f + 0.5f * (float)i;
        fv_act_backward(kinds[k], alphas[k], y, g, 6);
        for (int i = 0; i < 6; i++) {
            const double h = 1e-3;
            float p = (float)(z[i] + h), m = (float)(z[i] - h);
            fv_act_forward(kinds[k], alphas[k], &p, 1);
            fv_act_forward(kinds[k], alphas[k], &m, 1);
            double d = (p - m) / (2 * h) * (1.0 + 0.5 * i);
            CHECK_CLOSE(g[i], d, 2e-3, 2e-3);
        }
    }
}

TEST(softmax_forward_is_stable_and_sums_to_one)
{
    float y[6] = {1000, 1001, 1002, -1, 0, 1};
    fv_softmax_forward(y, 2, 3);
    const double e0 = exp(-2.0), e1 = exp(-1.0), s = e0 + e1 + 1;
    CHECK_CLOSE(y[0], e0 / s, 1e-7, 1e-6);
    CHECK_CLOSE(y[2], 1 / s, 1e-7, 1e-6);
    CHECK_CLOSE(y[3], y[0], 1e-7, 1e-6);
    CHECK_CLOSE(y[5], y[2], 1e-7, 1e-6);
    CHECK_CLOSE(y[0] + y[1] + y[2], 1.0, 1e-6, 0);
}

TEST(softmax_backward_matches_jacobian)
{
    fv_rng r;
    fv__rng_seed(&r, 3);
    float z[5], y[5], g[5];
    fill_rand(&r, z, 5), fill_rand(&r, g, 5);
    memcpy(y, z, sizeof y);
    fv_softmax_forward(y, 1, 5);
    double want[5];
    for (int i = 0; i < 5; i++) {
        /* (J^T g)_i = Σ_j g_j ∂y_j/∂z_i = Σ_j g_j y_j (δ_ij − y_i). */
        want[i] = 0;
        for (int j = 0; j < 5; j++)
            want[i] += g[j] * y[j] * ((i == j) - y[i]);
    }
    fv_softmax_backward(y, g, 1, 5);
    for (int i = 0; i < 5; i++)
        CHECK_CLOSE(g[i], want[i], 1e-6, 1e-5);
}

TEST(maxout_picks_group_maximum_first_on_ties)
{
    /* n = 2, c = 6, units = 2 (k = 3). */
    const float x[12] = {1, 3, 2, 5, 5, 4, -1, -3, -1, 0, 7, 7};
    float y[4];
    int32_t am[4];
    fv_maxout_forward(x, y, am, 2, 6, 2);
    CHECK(y[0] == 3 && y[1] == 5 && y[2] == -1 && y[3] == 7);
    CHECK(am[0] == 1 && am[1] == 3 && am[2] == 0 && am[3] == 4);
    float dx[12] = {0};
    const float dy[4] = {1, 2, 3, 4};
    fv_maxout_backward(dy, am, dx, 2, 6, 2);
    CHECK(dx[1] == 1 && dx[3] == 2 && dx[6] == 3 && dx[10] == 4 && dx[0] == 0 && dx[11] == 0);
}

/* The sparse backward's int32 lists serve only geometries whose offsets fit them: a layer with
 * 2^27 filters of 3x3 over 8 channels (3·2^27·24 kernel taps) takes the dense path. */
TEST(conv_lists_apply_only_where_offsets_fit_int32)
{
    fv_conv_geom g = {.in_h = 8,
                      .in_w = 8,
                      .in_c = 8,
                      .k_h = 3,
                      .k_w = 3,
                      .out_h = 6,
                      .out_w = 6,
                      .out_c = 16,
                      .stride_h = 1,
                      .stride_w = 1,
                      .dil_h = 1,
                      .dil_w = 1};
    CHECK(fv_conv_bwd_uses_lists(&g));
    g.out_c = (int64_t)1 << 27;
    CHECK(!fv_conv_bwd_uses_lists(&g));
    g.out_c = 16;
    g.in_h = g.in_w = 1 << 15; /* 2^30 · 8 input offsets */
    g.out_h = g.out_w = (1 << 15) - 2;
    CHECK(!fv_conv_bwd_uses_lists(&g));
}

int main(void)
{
    printf("gemm path: %s; tested paths:", fv_gemm_path());
    for (int p = 0; p < FV__GEMM_NPATHS; p++)
        if (fv__gemm_path_supported((fv__gemm_path)p)) printf(" %s", fv__gemm_path_name(p));
    printf("\n");
    RUN(out_size_valid_is_floor_of_span);
    RUN(out_size_valid_too_small_is_minus_one);
    RUN(out_size_same_matches_tensorflow);
    RUN(gemm_ref_small_by_hand);
    RUN(gemm_every_path_matches_ref_on_random_shapes);
    RUN(gemm_every_path_matches_ref_on_edge_shapes);
    RUN(gemm_fma_paths_give_the_same_bits);
    RUN(gemm_k_zero_or_alpha_zero_only_scales_c);
    RUN(gemm_from_many_threads_matches_one_thread);
    RUN(gemm_path_name_is_known);
    RUN(im2col_small_by_hand);
    RUN(col2im_is_the_adjoint_of_im2col);
    RUN(conv_forward_ref_small_by_hand);
    RUN(conv_forward_ref_stride_dilation_padding_by_hand);
    RUN(conv_backward_ref_small_by_hand);
    RUN(conv_fast_matches_ref_over_all_geometries);
    RUN(conv_implicit_gemm_matches_ref_over_all_geometries);
    RUN(conv_implicit_gemm_seed_shapes_match_ref);
    RUN(conv_list_backward_carries_a_nan_gradient_on_every_path);
    RUN(conv_dense_dw_24_tap_tiles_match_ref);
    RUN(conv_dx_by_phases_matches_ref);
    RUN(conv_dx_blocks_give_the_phases_bits);
    RUN(conv_dw_images_matches_ref);
    RUN(conv_fast_fma_paths_give_the_same_bits);
    RUN(conv_row_tiles_match_ref_and_the_avx2_bits);
    RUN(conv_bf16_forward_matches_its_emulation_and_bound);
    RUN(conv_bf16_backward_matches_its_emulation_and_bound);
    RUN(conv_pointwise_skips_im2col);
    RUN(conv_seed_shapes_match_ref);
    RUN(conv_backward_ref_matches_finite_differences);
    RUN(maxpool_small_by_hand);
    RUN(maxpool_argmax_is_flat_hwc_index);
    RUN(maxpool_padding_never_wins);
    RUN(maxpool_backward_accumulates_overlapping_windows);
    RUN(maxpool_fast_matches_ref_at_every_channel_count);
    RUN(maxpool_ties_go_to_the_first_on_every_lane);
    RUN(maxpool_nan_propagates_to_the_output_and_the_gradient);
    RUN(activations_forward_values);
    RUN(activations_backward_match_finite_differences);
    RUN(softmax_forward_is_stable_and_sums_to_one);
    RUN(softmax_backward_matches_jacobian);
    RUN(maxout_picks_group_maximum_first_on_ties);
    RUN(conv_lists_apply_only_where_offsets_fit_int32);
    return TEST_SUMMARY();
}
