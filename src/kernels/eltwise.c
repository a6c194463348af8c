/* eltwise.c — ReLU and BatchNormalization's passes over a batch (eltwise.h): the scalar reference,
 * which is the specification, and the same loops in 4-float vectors (any target), AVX2 and AVX-512.
 * Built with -ffp-contract=off (CMakeLists.txt): no path may fuse a multiply and an add.
 */
#include "kernels/eltwise.h"

#include "kernels/gemm_internal.h"

#include <stddef.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EW_X86 1
#include <immintrin.h>
#endif

/* ---- the reference, one element at a time -------------------------------------------------- */

static inline float relu1(float x)
{
    return x > 0.0f ? x : 0.0f;
}

static inline float relu_grad1(float y, float dy)
{
    return y > 0.0f ? dy : 0.0f;
}

/* bn_norm's value before the Add and ReLU: (x − mean)·inv·γ + β, each operation rounded to float.
 */
static inline float bnv1(float x, float mean, float inv, float g, float b)
{
    return (x - mean) * inv * g + b;
}

static inline float norm1(float x, float mean, float inv, float g, float b, const float *add,
                          int64_t c, bool relu)
{
    float v = bnv1(x, mean, inv, g, b);
    if (add) v = v + add[c];
    return relu ? relu1(v) : v;
}

/* The gradient g through the ReLU: read from its output y (relu_y not NULL), recomputed from x (rx
 * not NULL: fv__bn_relu), or dy as it is. */
static inline float relu_g1(const float *relu_y, const fv__bn_relu *rx, int64_t e, int64_t c,
                            const float *x, const float *dy, float mean)
{
    if (relu_y) return relu_grad1(relu_y[e], dy[e]);
    if (rx)
        return bnv1(x[e], mean, rx->inv[c], rx->gamma ? rx->gamma[c] : 1.0f,
                    rx->beta ? rx->beta[c] : 0.0f) > 0.0f
                   ? dy[e]
                   : 0.0f;
    return dy[e];
}

/* bn_dx's element: (a·g + b·(x − mean)) + d, each operation rounded to float. */
static inline float dx1(float x, float g, float mean, float a, float b, float d)
{
    const float t = x - mean;
    return (a * g + b * t) + d;
}

static void ref_relu_forward(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = relu1(x[i]);
}

static void ref_relu_backward(const float *y, const float *dy, float *dx, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = relu_grad1(y[i], dy[i]);
}

static void ref_sum_sq(const float *x, int64_t rows, int64_t C, const double *k, double *s1,
                       double *s2)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++) {
            const double d = (double)x[r * C + c] - k[c];
            s1[c] += d;
            s2[c] += d * d;
        }
}

static void ref_sum_sqdev(const float *x, int64_t rows, int64_t C, const double *mean, double *s)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++) {
            const double d = (double)x[r * C + c] - mean[c];
            s[c] += d * d;
        }
}

/* sum_dy over rows [0, rows) and channels [c0, C) in blocks of FV_ELT_SUM_BLOCK rows: each
 * block's sums in float, added to s1, s2 in double (also the vector paths' last channels). */
static void sum_dy_cols(const float *x, const float *dy, const float *relu_y, const fv__bn_relu *rx,
                        float *gout, int64_t rows, int64_t C, int64_t c0, const float *mean,
                        const float *inv, double *s1, double *s2)
{
    for (int64_t r0 = 0; r0 < rows; r0 += FV_ELT_SUM_BLOCK) {
        const int64_t r1 = rows - r0 < FV_ELT_SUM_BLOCK ? rows : r0 + FV_ELT_SUM_BLOCK;
        for (int64_t c = c0; c < C; c++) {
            float b1 = 0, b2 = 0;
            for (int64_t r = r0; r < r1; r++) {
                const int64_t e = r * C + c;
                const float g = relu_g1(relu_y, rx, e, c, x, dy, mean[c]);
                const float xh = (x[e] - mean[c]) * inv[c];
                if (gout) gout[e] = g;
                b1 += g;
                b2 += g * xh;
            }
            s1[c] += b1;
            s2[c] += b2;
        }
    }
}

static void ref_sum_dy(const float *x, const float *dy, const float *relu_y, const fv__bn_relu *rx,
                       float *gout, int64_t rows, int64_t C, const float *mean, const float *inv,
                       double *s1, double *s2)
{
    sum_dy_cols(x, dy, relu_y, rx, gout, rows, C, 0, mean, inv, s1, s2);
}

static void ref_bn_norm(const float *x, float *y, int64_t rows, int64_t C, const float *mean,
                        const float *inv, const float *gamma, const float *beta, const float *add,
                        bool relu)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++)
            y[r * C + c] = norm1(x[r * C + c], mean[c], inv[c], gamma ? gamma[c] : 1.0f,
                                 beta ? beta[c] : 0.0f, add ? add + r * C : NULL, c, relu);
}

static void ref_bn_dx(const float *x, const float *dy, const float *relu_y, const fv__bn_relu *rx,
                      float *dx, int64_t rows, int64_t C, const float *mean, const float *k)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++) {
            const int64_t e = r * C + c;
            const float g = relu_g1(relu_y, rx, e, c, x, dy, mean[c]);
            dx[e] = dx1(x[e], g, mean[c], k[c], k[C + c], k[2 * C + c]);
        }
}

void fv__bn_dx_coef(int64_t C, const float *gamma, const float *inv, double M, const double *sdy,
                    const double *sdyx, float *k)
{
    for (int64_t c = 0; c < C; c++) {
        const double a = (gamma ? (double)gamma[c] : 1.0) * inv[c], coef = a / M;
        k[c] = (float)a;
        k[C + c] = (float)(-coef * inv[c] * sdyx[c]);
        k[2 * C + c] = (float)(-coef * sdy[c]);
    }
}

static const fv__elt_ops ref_ops = {
    .name = "reference",
    .relu_forward = ref_relu_forward,
    .relu_backward = ref_relu_backward,
    .sum_sq = ref_sum_sq,
    .sum_sqdev = ref_sum_sqdev,
    .sum_dy = ref_sum_dy,
    .bn_norm = ref_bn_norm,
    .bn_dx = ref_bn_dx,
};

/* ---- the vector paths ---------------------------------------------------------------------- */

#define EW_W         4
#define EW_REGS      16
#define EW_NAME(s)   v4_##s
#define EW_ATTR      /* the target's own vectors */
#define EW_PATH_NAME "vector4"
#include "kernels/eltwise_body.h"

#if defined(EW_X86)
#define EW_W           8
#define EW_REGS        16
#define EW_NAME(s)     avx2_##s
#define EW_ATTR        __attribute__((target("avx2")))
#define EW_PATH_NAME   "avx2"
#define EW_CVT_WIDE(v) _mm256_cvtps_pd((__m128)(v))
#include "kernels/eltwise_body.h"

#define EW_W           16
#define EW_REGS        32
#define EW_NAME(s)     avx512_##s
#define EW_ATTR        __attribute__((target("avx512f")))
#define EW_PATH_NAME   "avx512"
#define EW_CVT_WIDE(v) _mm512_cvtps_pd((__m256)(v))
#include "kernels/eltwise_body.h"
#endif

/* ---- dispatch ------------------------------------------------------------------------------ */

const fv__elt_ops *fv__elt_path(int i)
{
    switch (i) {
    case 0:
        return &ref_ops;
    case 1:
        return &v4_ops;
#if defined(EW_X86)
    case 2:
        return fv__gemm_path_supported(FV__GEMM_AVX2) ? &avx2_ops : NULL;
    case 3:
        return fv__gemm_path_supported(FV__GEMM_AVX512) ? &avx512_ops : NULL;
#endif
    default:
        return NULL;
    }
}

const fv__elt_ops *fv__elt(void)
{
#if defined(EW_X86)
    if (fv__kernel_path_best() == FV__GEMM_AVX512) return &avx512_ops;
    if (fv__kernel_path_best() == FV__GEMM_AVX2) return &avx2_ops;
#endif
    return &v4_ops;
}
