/* pool.c — max pooling on one NHWC image, recording which input won each window so that the
 * backward pass is a scatter.
 */
#include "kernels/conv_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#include <immintrin.h>
#define FV_POOL_X86 1
#endif

/* Four channels at a time (GCC vector extensions: SSE2 on any x86-64, NEON on arm64). */
typedef float pv4 __attribute__((vector_size(16)));
typedef int32_t pv4i __attribute__((vector_size(16)));
typedef float pv4u __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t pv4iu __attribute__((vector_size(16), aligned(4), may_alias));

/* The rule both versions follow, tap by tap in row-major window order: v replaces the current
 * maximum when v > max (so ties keep the first) or v is NaN (so NaN propagates, and the argmax
 * is the window's last NaN: PyTorch's CPU rule, `val > maxval || isnan(val)`). */
static inline bool pool_takes(float v, float best)
{
    return v > best || v != v;
}

/* x [in_h, in_w, c], y [out_h, out_w, c], argmax [out_h·out_w·c] flat indices into x (with_am;
 * else not written). Windows are scanned in row-major order with pool_takes' rule. Padded taps
 * are skipped, i.e. they read as -inf and never win. Channels are handled four at a time, each
 * lane exactly as the scalar rule says. Inlined twice, with and without the argmax. */
static inline __attribute__((always_inline)) void
pool_forward(const fv_conv_geom *g, const float *x, float *y, int32_t *argmax, const bool with_am)
{
    const int64_t C = g->in_c, W = g->in_w, H = g->in_h, C4 = C & ~(int64_t)3;
    const pv4i lane = {0, 1, 2, 3};
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            float *yo = y + (oh * g->out_w + ow) * C;
            int32_t *ao = with_am ? argmax + (oh * g->out_w + ow) * C : NULL;
            bool first = true;
            for (int64_t kh = 0; kh < g->k_h; kh++) {
                const int64_t ih = oh * g->stride_h - g->pad_top + kh * g->dil_h;
                if (ih < 0 || ih >= H) continue;
                for (int64_t kw = 0; kw < g->k_w; kw++) {
                    const int64_t iw = ow * g->stride_w - g->pad_left + kw * g->dil_w;
                    if (iw < 0 || iw >= W) continue;
                    const int64_t base = (ih * W + iw) * C;
                    const float *xi = x + base;
                    if (first) {
                        for (int64_t c = 0; c < C; c++) {
                            yo[c] = xi[c];
                            if (with_am) ao[c] = (int32_t)(base + c);
                        }
                        first = false;
                        continue;
                    }
                    for (int64_t c = 0; c < C4; c += 4) {
                        const pv4 v = *(const pv4u *)(xi + c), best = *(const pv4u *)(yo + c);
                        const pv4i gt = (v > best) | (v != v);
                        *(pv4u *)(yo + c) = (pv4)(((pv4i)v & gt) | ((pv4i)best & ~gt));
                        if (with_am) {
                            const pv4i idx = lane + (int32_t)(base + c);
                            *(pv4iu *)(ao + c) = (idx & gt) | (*(const pv4iu *)(ao + c) & ~gt);
                        }
                    }
                    for (int64_t c = C4; c < C; c++) {
                        if (pool_takes(xi[c], yo[c])) {
                            yo[c] = xi[c];
                            if (with_am) ao[c] = (int32_t)(base + c);
                        }
                    }
                }
            }
            if (first) {
                /* A window made only of padding (possible only with unusual geometry): -inf and
                 * no source, which the backward pass skips. */
                for (int64_t c = 0; c < C; c++) {
                    yo[c] = -INFINITY;
                    if (with_am) ao[c] = -1;
                }
            }
        }
    }
}

/* Whether the windows tile the input: strides equal to the pool, no dilation, no padding, every
 * window inside the image (Keras' default MaxPooling2D; a last odd row or column is left out). */
static bool windows_tile(const fv_conv_geom *g)
{
    return g->stride_h == g->k_h && g->stride_w == g->k_w && g->dil_h == 1 && g->dil_w == 1 &&
           g->pad_top == 0 && g->pad_left == 0 && g->out_h * g->k_h <= g->in_h &&
           g->out_w * g->k_w <= g->in_w;
}

/* One tap of window_vec on four channels: v (at flat index idx) replaces the maximum by
 * pool_takes' rule. */
static inline __attribute__((always_inline)) void take4(pv4 v, pv4i idx, pv4 *best, pv4i *at)
{
    const pv4i take = (v > *best) | (v != v);
    *best = (pv4)(((pv4i)v & take) | ((pv4i)*best & ~take));
    *at = (idx & take) | (*at & ~take);
}

/* A tiling window's leading channels (windows_tile): the window whose first tap is x[b0] into
 * yo [C] (and ao [C] when not NULL), a vector of channels at a time with pool_takes' rule in tap
 * order; returns how many channels it did (the rest: tiles_forward's scalar tail). */
typedef int64_t (*window_fn)(const fv_conv_geom *g, const float *x, int64_t b0, float *yo,
                             int32_t *ao);

/* window_fn in portable vectors: eight channels at a time (two SSE vectors on any x86-64). */
static int64_t window_vec(const fv_conv_geom *g, const float *x, int64_t b0, float *yo, int32_t *ao)
{
    const int64_t C = g->in_c, W = g->in_w, C8 = C & ~(int64_t)7;
    const pv4i lane = {0, 1, 2, 3};
    for (int64_t c = 0; c < C8; c += 8) {
        pv4 b_lo = *(const pv4u *)(x + b0 + c), b_hi = *(const pv4u *)(x + b0 + c + 4);
        pv4i a_lo = lane + (int32_t)(b0 + c), a_hi = a_lo + 4;
        for (int64_t kh = 0; kh < g->k_h; kh++)
            for (int64_t kw = kh ? 0 : 1; kw < g->k_w; kw++) {
                const int64_t base = b0 + (kh * W + kw) * C + c;
                const pv4i idx = lane + (int32_t)base;
                take4(*(const pv4u *)(x + base), idx, &b_lo, &a_lo);
                take4(*(const pv4u *)(x + base + 4), idx + 4, &b_hi, &a_hi);
            }
        *(pv4u *)(yo + c) = b_lo;
        *(pv4u *)(yo + c + 4) = b_hi;
        if (ao) {
            *(pv4iu *)(ao + c) = a_lo;
            *(pv4iu *)(ao + c + 4) = a_hi;
        }
    }
    return C8;
}

#if defined(FV_POOL_X86)
/* window_fn on the fast convolution's AVX2 and AVX-512 paths: eight channels to a 256-bit vector,
 * the same rule (take when v > max, ordered, or v is NaN) with blends. */
__attribute__((target("avx2"))) static int64_t window_avx2(const fv_conv_geom *g, const float *x,
                                                           int64_t b0, float *yo, int32_t *ao)
{
    const int64_t C = g->in_c, W = g->in_w, C8 = C & ~(int64_t)7;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t c = 0; c < C8; c += 8) {
        __m256 best = _mm256_loadu_ps(x + b0 + c);
        __m256i at = _mm256_add_epi32(lane, _mm256_set1_epi32((int)(b0 + c)));
        for (int64_t kh = 0; kh < g->k_h; kh++)
            for (int64_t kw = kh ? 0 : 1; kw < g->k_w; kw++) {
                const int64_t base = b0 + (kh * W + kw) * C + c;
                const __m256 v = _mm256_loadu_ps(x + base);
                const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                                                 _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
                best = _mm256_blendv_ps(best, v, take);
                if (ao)
                    at = _mm256_castps_si256(_mm256_blendv_ps(
                        _mm256_castsi256_ps(at),
                        _mm256_castsi256_ps(_mm256_add_epi32(lane, _mm256_set1_epi32((int)base))),
                        take));
            }
        _mm256_storeu_ps(yo + c, best);
        if (ao) _mm256_storeu_si256((__m256i *)(ao + c), at);
    }
    return C8;
}
#endif

/* pool_forward where the windows tile the input (windows_tile): each window's maximum and argmax
 * kept in registers over its taps by f, the channels f leaves one at a time, each written once,
 * where pool_forward reads and writes them back at every tap. The same rule in the same tap
 * order, so the same values and argmax (tests/test_kernels.c against the reference). */
static void tiles_forward(const fv_conv_geom *g, const float *x, float *y, int32_t *argmax,
                          window_fn f)
{
    const int64_t C = g->in_c, W = g->in_w;
    for (int64_t oh = 0; oh < g->out_h; oh++)
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            const int64_t o = (oh * g->out_w + ow) * C, b0 = (oh * g->k_h * W + ow * g->k_w) * C;
            for (int64_t c = f(g, x, b0, y + o, argmax ? argmax + o : NULL); c < C; c++) {
                float best = x[b0 + c];
                int32_t at = (int32_t)(b0 + c);
                for (int64_t kh = 0; kh < g->k_h; kh++)
                    for (int64_t kw = kh ? 0 : 1; kw < g->k_w; kw++) {
                        const int64_t i = b0 + (kh * W + kw) * C + c;
                        if (pool_takes(x[i], best)) best = x[i], at = (int32_t)i;
                    }
                y[o + c] = best;
                if (argmax) argmax[o + c] = at;
            }
        }
}

/* The window kernel of the path the fast convolution runs (fv__conv_path_now): AVX2 on its AVX2
 * and AVX-512 paths, portable vectors otherwise. */
static window_fn best_window(void)
{
#if defined(FV_POOL_X86)
    if (fv__conv_path_now() != FV__GEMM_GENERIC) return window_avx2;
#endif
    return window_vec;
}

void fv_maxpool_forward(const fv_conv_geom *g, const float *x, float *y, int32_t *argmax)
{
    if (windows_tile(g))
        tiles_forward(g, x, y, argmax, best_window());
    else if (argmax)
        pool_forward(g, x, y, argmax, true);
    else
        pool_forward(g, x, y, NULL, false);
}

/* The specification: one output element at a time, one tap at a time. */
void fv_maxpool_forward_ref(const fv_conv_geom *g, const float *x, float *y, int32_t *argmax)
{
    const int64_t C = g->in_c;
    for (int64_t oh = 0; oh < g->out_h; oh++)
        for (int64_t ow = 0; ow < g->out_w; ow++)
            for (int64_t c = 0; c < C; c++) {
                float best = -INFINITY;
                int64_t at = -1;
                for (int64_t kh = 0; kh < g->k_h; kh++)
                    for (int64_t kw = 0; kw < g->k_w; kw++) {
                        const int64_t ih = oh * g->stride_h - g->pad_top + kh * g->dil_h;
                        const int64_t iw = ow * g->stride_w - g->pad_left + kw * g->dil_w;
                        if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) continue;
                        const int64_t i = (ih * g->in_w + iw) * C + c;
                        if (at < 0 || pool_takes(x[i], best)) {
                            best = x[i];
                            at = i;
                        }
                    }
                const int64_t o = (oh * g->out_w + ow) * C + c;
                y[o] = best;
                argmax[o] = (int32_t)at;
            }
}

/* dx[argmax[i]] += dy[i] where argmax[i] >= 0 and, with y (not NULL), y[i] > 0. */
static void scatter(const fv_conv_geom *g, const float *dy, const int32_t *argmax, const float *y,
                    float *dx)
{
    const int64_t n = g->out_h * g->out_w * g->out_c;
    for (int64_t i = 0; i < n; i++)
        if (argmax[i] >= 0 && (!y || y[i] > 0.0f)) dx[argmax[i]] += dy[i];
}

/* dy [out_h·out_w·c], argmax as written by fv_maxpool_forward, dx [in_h, in_w, c]. */
void fv_maxpool_backward(const fv_conv_geom *g, const float *dy, const int32_t *argmax, float *dx)
{
    scatter(g, dy, argmax, NULL, dx);
}

/* A tiling window's input element's leading channels in fv_maxpool_backward_write: t [C] the
 * element's gradient at flat index base, d, yo (NULL: no mask) and a [C] its window's dy, output
 * and argmax; t[c] = 0 + d[c] where a[c] is this element (and yo[c] > 0), else +0, a vector of
 * channels at a time; returns how many channels it did (the rest: the scalar tail). */
typedef int64_t (*element_fn)(const float *d, const float *yo, const int32_t *a, int64_t base,
                              float *t, int64_t C);

/* element_fn in portable vectors: four channels at a time (SSE on any x86-64). */
static int64_t element_vec(const float *d, const float *yo, const int32_t *a, int64_t base,
                           float *t, int64_t C)
{
    const pv4i lane = {0, 1, 2, 3};
    const pv4 zero = {0};
    const int64_t C4 = C & ~(int64_t)3;
    for (int64_t c = 0; c < C4; c += 4) {
        pv4i won = *(const pv4iu *)(a + c) == lane + (int32_t)(base + c);
        if (yo) won &= *(const pv4u *)(yo + c) > zero;
        const pv4 v = zero + *(const pv4u *)(d + c);
        *(pv4u *)(t + c) = (pv4)((pv4i)v & won);
    }
    return C4;
}

#if defined(FV_POOL_X86)
/* element_fn on the AVX2 and AVX-512 paths: eight channels to a vector. */
__attribute__((target("avx2"))) static int64_t
element_avx2(const float *d, const float *yo, const int32_t *a, int64_t base, float *t, int64_t C)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 zero = _mm256_setzero_ps();
    const int64_t C8 = C & ~(int64_t)7;
    for (int64_t c = 0; c < C8; c += 8) {
        __m256 won = _mm256_castsi256_ps(
            _mm256_cmpeq_epi32(_mm256_loadu_si256((const __m256i *)(a + c)),
                               _mm256_add_epi32(lane, _mm256_set1_epi32((int)(base + c)))));
        if (yo) won = _mm256_and_ps(won, _mm256_cmp_ps(_mm256_loadu_ps(yo + c), zero, _CMP_GT_OQ));
        const __m256 v = _mm256_add_ps(zero, _mm256_loadu_ps(d + c));
        _mm256_storeu_ps(t + c, _mm256_and_ps(v, won));
    }
    return C8;
}
#endif

void fv_maxpool_backward_write(const fv_conv_geom *g, const float *dy, const int32_t *argmax,
                               const float *relu_y, float *dx)
{
    const int64_t C = g->in_c, W = g->in_w;
    const int64_t rows = g->out_h * g->k_h, cols = g->out_w * g->k_w;
    if (!windows_tile(g)) {
        /* windows that overlap, leave gaps or reach into padding */
        memset(dx, 0, (size_t)(g->in_h * W * C) * sizeof(float));
        scatter(g, dy, argmax, relu_y, dx);
        return;
    }
    element_fn f = element_vec; /* the path the fast convolution runs, as best_window */
#if defined(FV_POOL_X86)
    if (fv__conv_path_now() != FV__GEMM_GENERIC) f = element_avx2;
#endif
    /* The windows tile the rows and columns they cover (out_h·k_h of them, out_w·k_w): each input
     * element is its window's winner or 0, written once. 0 + dy is the scatter's sum into zeros
     * (-0 gives +0), bit for bit. */
    for (int64_t ih = 0; ih < g->in_h; ih++) {
        float *row = dx + ih * W * C;
        const int64_t done = ih < rows ? cols : 0;
        for (int64_t iw = 0; iw < done; iw++) {
            const int64_t o = ((ih / g->k_h) * g->out_w + iw / g->k_w) * C,
                          base = (ih * W + iw) * C;
            const float *d = dy + o, *yo = relu_y ? relu_y + o : NULL;
            const int32_t *a = argmax + o;
            float *t = row + iw * C;
            for (int64_t c = f(d, yo, a, base, t, C); c < C; c++)
                t[c] = a[c] == (int32_t)(base + c) && (!yo || yo[c] > 0.0f) ? 0.0f + d[c] : 0.0f;
        }
        memset(row + done * C, 0, (size_t)((W - done) * C) * sizeof(float));
    }
}
