/* conv_variants.c — the convolutions beyond plain conv2d: the output-size arithmetic of the
 * transposed convolution (Keras 3's), and the depthwise convolution of one NHWC image with its
 * backward, as plain loops over output pixels and kernel taps.
 */
#include "kernels/kernels.h"

#include <string.h>

/* Sizes stay below this (2^62) so that the arithmetic below cannot overflow. */
#define SIZE_LIMIT ((int64_t)1 << 62)

int64_t fv_conv_transpose_out_size(int64_t w, int64_t f, int64_t s, int64_t d, bool same,
                                   int64_t op, int64_t *pad_lead)
{
    if (pad_lead) *pad_lead = 0;
    if (w < 1 || f < 1 || s < 1 || d < 1) return -1;
    int64_t span, ws;
    if (__builtin_mul_overflow(d, f - 1, &span) || span >= SIZE_LIMIT ||
        __builtin_mul_overflow(w, s, &ws) || ws >= SIZE_LIMIT || op >= SIZE_LIMIT)
        return -1;
    span += 1;
    int64_t out, lead = 0;
    if (!same) {
        if (op < 0) op = (span > s ? span : s) - span;
        out = ws - s + span + op;
    } else {
        int64_t pad_len;
        if (op < 0) {
            out = ws;
            pad_len = s + span - 2;
        } else {
            out = ws - s + span % 2 + op;
            pad_len = span + span % 2 - 2 + op;
        }
        int64_t left = pad_len / 2 + pad_len % 2;
        if (left > span - 1) left = span - 1;
        lead = span - 1 - left;
    }
    if (out < 1 || out >= SIZE_LIMIT) return -1;
    if (pad_lead) *pad_lead = lead;
    return out;
}

/* An unaligned 4-float vector (GCC/Clang vector extension: SSE on x86-64, NEON on arm64), as in
 * conv.c: -O2's cost model does not vectorize loops that need a scalar tail. Each element gets
 * the same operations in the same order as the scalar loop, so results do not change. */
typedef float v4u __attribute__((vector_size(16), aligned(4), may_alias));

/* d[j] += a[j]·b[j] for j < n. */
static inline void madd_run(float *restrict d, const float *restrict a, const float *restrict b,
                            int64_t n)
{
    int64_t j = 0;
    for (; j + 4 <= n; j += 4)
        *(v4u *)(d + j) += *(const v4u *)(a + j) * *(const v4u *)(b + j);
    for (; j < n; j++)
        d[j] += a[j] * b[j];
}

/* d[j] += s·b[j] for j < n. */
static inline void axpy_run(float *restrict d, float s, const float *restrict b, int64_t n)
{
    int64_t j = 0;
    for (; j + 4 <= n; j += 4)
        *(v4u *)(d + j) += s * *(const v4u *)(b + j);
    for (; j < n; j++)
        d[j] += s * b[j];
}

/* d[j] += a[j] for j < n. */
static inline void add_run(float *restrict d, const float *restrict a, int64_t n)
{
    int64_t j = 0;
    for (; j + 4 <= n; j += 4)
        *(v4u *)(d + j) += *(const v4u *)(a + j);
    for (; j < n; j++)
        d[j] += a[j];
}

/* The kernel rows kh in [*lo, *hi) whose input row oh·stride − pad + kh·dil lies in [0, n). */
static void tap_range(int64_t o, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t n,
                      int64_t *lo, int64_t *hi)
{
    const int64_t i0 = o * stride - pad;
    int64_t a = 0, b = k;
    while (a < k && i0 + a * dil < 0)
        a++;
    while (b > a && i0 + (b - 1) * dil >= n)
        b--;
    *lo = a, *hi = b;
}

void fv_depthwise_forward(const fv_conv_geom *g, const float *x, const float *w, const float *b,
                          float *y)
{
    const int64_t C = g->in_c, M = g->out_c, dm = M / C;
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        int64_t kh0, kh1;
        tap_range(oh, g->stride_h, g->pad_top, g->dil_h, g->k_h, g->in_h, &kh0, &kh1);
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            int64_t kw0, kw1;
            tap_range(ow, g->stride_w, g->pad_left, g->dil_w, g->k_w, g->in_w, &kw0, &kw1);
            float *yp = y + (oh * g->out_w + ow) * M;
            if (b)
                memcpy(yp, b, (size_t)M * sizeof(float));
            else
                memset(yp, 0, (size_t)M * sizeof(float));
            for (int64_t kh = kh0; kh < kh1; kh++) {
                const int64_t ih = oh * g->stride_h - g->pad_top + kh * g->dil_h;
                for (int64_t kw = kw0; kw < kw1; kw++) {
                    const int64_t iw = ow * g->stride_w - g->pad_left + kw * g->dil_w;
                    const float *xp = x + (ih * g->in_w + iw) * C;
                    const float *wp = w + (kh * g->k_w + kw) * M;
                    if (dm == 1) {
                        madd_run(yp, xp, wp, C);
                    } else {
                        for (int64_t c = 0; c < C; c++)
                            axpy_run(yp + c * dm, xp[c], wp + c * dm, dm);
                    }
                }
            }
        }
    }
}

void fv_depthwise_backward(const fv_conv_geom *g, const float *x, const float *w, const float *dy,
                           float *dw, float *db, float *dx)
{
    const int64_t C = g->in_c, M = g->out_c, dm = M / C;
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        int64_t kh0, kh1;
        tap_range(oh, g->stride_h, g->pad_top, g->dil_h, g->k_h, g->in_h, &kh0, &kh1);
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            int64_t kw0, kw1;
            tap_range(ow, g->stride_w, g->pad_left, g->dil_w, g->k_w, g->in_w, &kw0, &kw1);
            const float *dp = dy + (oh * g->out_w + ow) * M;
            if (db) add_run(db, dp, M);
            for (int64_t kh = kh0; kh < kh1; kh++) {
                const int64_t ih = oh * g->stride_h - g->pad_top + kh * g->dil_h;
                for (int64_t kw = kw0; kw < kw1; kw++) {
                    const int64_t iw = ow * g->stride_w - g->pad_left + kw * g->dil_w;
                    const int64_t xo = (ih * g->in_w + iw) * C, wo = (kh * g->k_w + kw) * M;
                    const float *xp = x + xo, *wp = w + wo;
                    float *dwp = dw + wo, *dxp = dx ? dx + xo : NULL;
                    if (dm == 1) {
                        madd_run(dwp, xp, dp, C);
                        if (dxp) madd_run(dxp, wp, dp, C);
                        continue;
                    }
                    for (int64_t c = 0; c < C; c++) {
                        axpy_run(dwp + c * dm, xp[c], dp + c * dm, dm);
                        if (!dxp) continue;
                        float s = 0.0f;
                        for (int64_t m = 0; m < dm; m++)
                            s += wp[c * dm + m] * dp[c * dm + m];
                        dxp[c] += s;
                    }
                }
            }
        }
    }
}
