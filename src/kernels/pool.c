/* pool.c — max pooling on one NHWC image, recording which input won each window so that the
 * backward pass is a scatter.
 */
#include "kernels/kernels.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

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

void fv_maxpool_forward(const fv_conv_geom *g, const float *x, float *y, int32_t *argmax)
{
    if (argmax)
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

/* dy [out_h·out_w·c], argmax as written by fv_maxpool_forward, dx [in_h, in_w, c]. */
void fv_maxpool_backward(const fv_conv_geom *g, const float *dy, const int32_t *argmax, float *dx)
{
    const int64_t n = g->out_h * g->out_w * g->out_c;
    for (int64_t i = 0; i < n; i++)
        if (argmax[i] >= 0) dx[argmax[i]] += dy[i];
}

void fv_maxpool_backward_write(const fv_conv_geom *g, const float *dy, const int32_t *argmax,
                               float *dx)
{
    const int64_t C = g->in_c, W = g->in_w, C4 = C & ~(int64_t)3;
    const int64_t rows = g->out_h * g->k_h, cols = g->out_w * g->k_w;
    if (g->stride_h != g->k_h || g->stride_w != g->k_w || g->dil_h != 1 || g->dil_w != 1 ||
        g->pad_top != 0 || g->pad_left != 0 || rows > g->in_h || cols > W) {
        /* windows that overlap, leave gaps or reach into padding */
        memset(dx, 0, (size_t)(g->in_h * W * C) * sizeof(float));
        fv_maxpool_backward(g, dy, argmax, dx);
        return;
    }
    /* The windows tile the rows and columns they cover (out_h·k_h of them, out_w·k_w): each input
     * element is its window's winner or 0, written once. 0 + dy is the scatter's sum into zeros
     * (-0 gives +0), bit for bit. */
    const pv4i lane = {0, 1, 2, 3};
    const pv4 zero = {0};
    for (int64_t ih = 0; ih < g->in_h; ih++) {
        float *row = dx + ih * W * C;
        const int64_t done = ih < rows ? cols : 0;
        for (int64_t iw = 0; iw < done; iw++) {
            const int64_t o = ((ih / g->k_h) * g->out_w + iw / g->k_w) * C,
                          base = (ih * W + iw) * C;
            const float *d = dy + o;
            const int32_t *a = argmax + o;
            float *t = row + iw * C;
            for (int64_t c = 0; c < C4; c += 4) {
                const pv4i won = *(const pv4iu *)(a + c) == lane + (int32_t)(base + c);
                const pv4 v = zero + *(const pv4u *)(d + c);
                *(pv4u *)(t + c) = (pv4)((pv4i)v & won);
            }
            for (int64_t c = C4; c < C; c++)
                t[c] = a[c] == (int32_t)(base + c) ? 0.0f + d[c] : 0.0f;
        }
        memset(row + done * C, 0, (size_t)((W - done) * C) * sizeof(float));
    }
}
