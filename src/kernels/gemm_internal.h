/* gemm_internal.h — private to the kernels and their tests: the GEMM code paths by name, so that
 * every path this CPU supports can be tested and timed, not only the one fv_gemm picks.
 */
#ifndef FV_GEMM_INTERNAL_H
#define FV_GEMM_INTERNAL_H

#include "kernels/kernels.h"

typedef enum fv__gemm_path {
    FV__GEMM_GENERIC = 0,  /* portable C, any architecture */
    FV__GEMM_AVX2,         /* x86-64 AVX2 + FMA */
    FV__GEMM_AVX512,       /* x86-64 AVX-512 F + VL */
    FV__GEMM_WIDE_ON_AVX2, /* the AVX-512 tile compiled for AVX2: tests and benchmarks only */
    FV__GEMM_NPATHS
} fv__gemm_path;

/* Whether this build and this CPU can run path p. */
bool fv__gemm_path_supported(fv__gemm_path p);
/* "generic", "avx2", "avx512", "avx512-tile-on-avx2". */
const char *fv__gemm_path_name(fv__gemm_path p);
/* fv_gemm forced onto path p (the generic path if p is not supported). Arguments as fv_gemm. */
void fv__gemm_on_path(fv__gemm_path p, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float beta, float *C, int64_t ldc);
/* The path the kernels run when no test forces one: fv_set_kernel_path's, else the best this
 * CPU has (AVX-512, AVX2 + FMA, generic). The convolution uses it too. */
int fv__kernel_path_best(void);
/* Forces fv_gemm, and so every layer that calls it, onto path p (-1: back to the best for this
 * CPU; an unsupported path runs the generic one). For tests only, before any threads run: it is
 * process-wide. */
void fv__gemm_force_path(int p);

#endif
