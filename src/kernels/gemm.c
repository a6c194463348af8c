/* gemm.c — single-precision GEMM: the reference triple loop (the specification) and the fast
 * entry point used by convolution and dense layers.
 */
#include "kernels/gemm_internal.h"

#include <stddef.h>

/* Element (i, j) of op(X) for a row-major X with leading dimension ld. */
static inline float op_at(const float *X, int64_t ld, bool trans, int64_t i, int64_t j)
{
    return trans ? X[j * ld + i] : X[i * ld + j];
}

/* Scales C[M×N] by beta; beta == 0 writes zeros without reading C (so NaNs do not survive). */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f) {
            for (int64_t j = 0; j < N; j++)
                c[j] = 0.0f;
        } else {
            for (int64_t j = 0; j < N; j++)
                c[j] *= beta;
        }
    }
}

/* A [M×K] (or [K×M] with trans_a), B [K×N] (or [N×K] with trans_b), C [M×N]. Sums in double so
 * that the reference is more accurate than anything it is compared with. */
void fv_gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            if (alpha != 0.0f)
                for (int64_t k = 0; k < K; k++)
                    s += (double)op_at(A, lda, trans_a, i, k) * op_at(B, ldb, trans_b, k, j);
            float *c = &C[i * ldc + j];
            *c = beta == 0.0f ? (float)(alpha * s) : (float)(alpha * s + (double)beta * *c);
        }
    }
}

/* The straightforward path: i-k-j order so that the inner loop runs along rows of B and C.
 * Same shapes as fv_gemm_ref. */
static void gemm_simple(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc)
{
    scale_c(M, N, beta, C, ldc);
    if (alpha == 0.0f) return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t k = 0; k < K; k++) {
            float a = alpha * op_at(A, lda, trans_a, i, k);
            if (trans_b) {
                for (int64_t j = 0; j < N; j++)
                    c[j] += a * B[j * ldb + k];
            } else {
                const float *b = B + k * ldb;
                for (int64_t j = 0; j < N; j++)
                    c[j] += a * b[j];
            }
        }
    }
}

bool fv__gemm_path_supported(fv__gemm_path p)
{
    return p == FV__GEMM_GENERIC;
}

const char *fv__gemm_path_name(fv__gemm_path p)
{
    static const char *const names[FV__GEMM_NPATHS] = {"generic", "avx2", "avx512"};
    return p >= 0 && p < FV__GEMM_NPATHS ? names[p] : "unknown";
}

void fv__gemm_on_path(fv__gemm_path p, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float beta, float *C, int64_t ldc)
{
    (void)p;
    if (M <= 0 || N <= 0) return;
    gemm_simple(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void fv_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    gemm_simple(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *fv_gemm_path(void)
{
    return "generic";
}
