/* conv.c — 2-D convolution on one NHWC image: output-size arithmetic, im2col and its adjoint
 * col2im, the im2col + GEMM forward and backward used by the layers, and the direct nested-loop
 * reference versions that specify them.
 */
#include "kernels/kernels.h"
#include "kernels/vec.h"

#include <string.h>

int64_t fv_conv_out_size(int64_t w, int64_t f, int64_t s, int64_t d, bool same, int64_t *pad_lead)
{
    if (pad_lead) *pad_lead = 0;
    if (w < 1 || f < 1 || s < 1 || d < 1) return -1;
    int64_t span = d * (f - 1) + 1; /* the dilated kernel's extent */
    if (!same) {
        /* Checked before dividing: C division truncates toward zero, not down. */
        if (w < span) return -1;
        return (w - span) / s + 1;
    }
    int64_t out = (w + s - 1) / s;
    int64_t pad_total = (out - 1) * s + span - w;
    if (pad_total < 0) pad_total = 0;
    if (pad_lead) *pad_lead = pad_total / 2;
    return out;
}

int64_t fv_conv_col_floats(const fv_conv_geom *g)
{
    return g->out_h * g->out_w * g->k_h * g->k_w * g->in_c;
}

/* A 1×1 convolution with unit stride and no padding reads x directly as the col matrix. */
static bool is_pointwise(const fv_conv_geom *g)
{
    return g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 &&
           g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
}

static inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* x [in_h, in_w, in_c] -> col [out_h·out_w, k_h·k_w·in_c]. With unit dilation the k_w taps of a
 * kernel row are one contiguous run of x, copied with a single memcpy between the zero pads. */
void fv_im2col(const fv_conv_geom *g, const float *x, float *col)
{
    const int64_t C = g->in_c, W = g->in_w, H = g->in_h;
    const int64_t row = g->k_w * C; /* floats of one kernel row in col */
    float *dst = col;
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            const int64_t iw0 = ow * g->stride_w - g->pad_left;
            for (int64_t kh = 0; kh < g->k_h; kh++, dst += row) {
                const int64_t ih = oh * g->stride_h - g->pad_top + kh * g->dil_h;
                if (ih < 0 || ih >= H) {
                    memset(dst, 0, (size_t)row * sizeof(float));
                    continue;
                }
                const float *src = x + ih * W * C;
                if (g->dil_w == 1) {
                    /* Taps kw in [lo, hi) fall inside the image. */
                    const int64_t lo = clamp64(-iw0, 0, g->k_w);
                    const int64_t hi = clamp64(W - iw0, lo, g->k_w);
                    memset(dst, 0, (size_t)(lo * C) * sizeof(float));
                    if (hi > lo)
                        memcpy(dst + lo * C, src + (iw0 + lo) * C,
                               (size_t)((hi - lo) * C) * sizeof(float));
                    memset(dst + hi * C, 0, (size_t)((g->k_w - hi) * C) * sizeof(float));
                } else {
                    for (int64_t kw = 0; kw < g->k_w; kw++) {
                        const int64_t iw = iw0 + kw * g->dil_w;
                        if (iw < 0 || iw >= W)
                            memset(dst + kw * C, 0, (size_t)C * sizeof(float));
                        else
                            memcpy(dst + kw * C, src + iw * C, (size_t)C * sizeof(float));
                    }
                }
            }
        }
    }
}

/* dcol [out_h·out_w, k_h·k_w·in_c] scattered and added into dx [in_h, in_w, in_c]. */
void fv_col2im(const fv_conv_geom *g, const float *dcol, float *dx)
{
    const int64_t C = g->in_c, W = g->in_w, H = g->in_h;
    const int64_t row = g->k_w * C;
    const float *src = dcol;
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            const int64_t iw0 = ow * g->stride_w - g->pad_left;
            for (int64_t kh = 0; kh < g->k_h; kh++, src += row) {
                const int64_t ih = oh * g->stride_h - g->pad_top + kh * g->dil_h;
                if (ih < 0 || ih >= H) continue;
                float *drow = dx + ih * W * C;
                if (g->dil_w == 1) {
                    /* As in im2col: the in-image taps of a kernel row are one contiguous run. */
                    const int64_t lo = clamp64(-iw0, 0, g->k_w);
                    const int64_t hi = clamp64(W - iw0, lo, g->k_w);
                    if (hi > lo) fv__add_run(drow + (iw0 + lo) * C, src + lo * C, (hi - lo) * C);
                    continue;
                }
                for (int64_t kw = 0; kw < g->k_w; kw++) {
                    const int64_t iw = iw0 + kw * g->dil_w;
                    if (iw < 0 || iw >= W) continue;
                    fv__add_run(drow + iw * C, src + kw * C, C);
                }
            }
        }
    }
}

/* x [in_h, in_w, in_c], w [k_h, k_w, in_c, out_c], b [out_c] or NULL, y [out_h, out_w, out_c],
 * col [out_h·out_w, k_h·k_w·in_c] scratch. y = col · w + b, with w read as a (K × out_c)
 * matrix. The bias is written first so that the GEMM accumulates onto it (beta = 1). */
void fv_conv2d_forward(const fv_conv_geom *g, const float *x, const float *w, const float *b,
                       float *y, float *col)
{
    const int64_t P = g->out_h * g->out_w, K = g->k_h * g->k_w * g->in_c, F = g->out_c;
    const float *a = x;
    if (!is_pointwise(g)) {
        fv_im2col(g, x, col);
        a = col;
    }
    if (b) {
        for (int64_t p = 0; p < P; p++)
            memcpy(y + p * F, b, (size_t)F * sizeof(float));
    }
    fv_gemm(false, false, P, F, K, 1.0f, a, K, w, F, b ? 1.0f : 0.0f, y, F);
}

/* Direct definition: y[oh,ow,f] = b[f] + Σ_{kh,kw,c} x[ih,iw,c] · w[kh,kw,c,f] with
 * ih = oh·stride_h − pad_top + kh·dil_h (likewise for iw); taps outside the image read zero.
 * Shapes as fv_conv2d_forward. */
void fv_conv2d_forward_ref(const fv_conv_geom *g, const float *x, const float *w, const float *b,
                           float *y)
{
    const int64_t C = g->in_c, F = g->out_c;
    for (int64_t oh = 0; oh < g->out_h; oh++)
        for (int64_t ow = 0; ow < g->out_w; ow++)
            for (int64_t f = 0; f < F; f++) {
                float s = b ? b[f] : 0.0f;
                for (int64_t kh = 0; kh < g->k_h; kh++) {
                    int64_t ih = oh * g->stride_h - g->pad_top + kh * g->dil_h;
                    if (ih < 0 || ih >= g->in_h) continue;
                    for (int64_t kw = 0; kw < g->k_w; kw++) {
                        int64_t iw = ow * g->stride_w - g->pad_left + kw * g->dil_w;
                        if (iw < 0 || iw >= g->in_w) continue;
                        for (int64_t c = 0; c < C; c++)
                            s += x[(ih * g->in_w + iw) * C + c] *
                                 w[((kh * g->k_w + kw) * C + c) * F + f];
                    }
                }
                y[(oh * g->out_w + ow) * F + f] = s;
            }
}

/* x, w, dy, dw, db, dx as in kernels.h; col and dcol [out_h·out_w, k_h·k_w·in_c] scratch.
 * dw += colᵀ · dy, db += column sums of dy, dx += col2im(dy · wᵀ). */
void fv_conv2d_backward(const fv_conv_geom *g, const float *x, const float *w, const float *dy,
                        float *dw, float *db, float *dx, float *col, float *dcol)
{
    const int64_t P = g->out_h * g->out_w, K = g->k_h * g->k_w * g->in_c, F = g->out_c;
    const bool pw = is_pointwise(g);
    const float *a = x;
    if (!pw) {
        fv_im2col(g, x, col);
        a = col;
    }
    fv_gemm(true, false, K, F, P, 1.0f, a, K, dy, F, 1.0f, dw, F);
    if (db) {
        for (int64_t p = 0; p < P; p++)
            for (int64_t f = 0; f < F; f++)
                db[f] += dy[p * F + f];
    }
    if (!dx) return;
    if (pw) {
        fv_gemm(false, true, P, K, F, 1.0f, dy, F, w, F, 1.0f, dx, K);
    } else {
        fv_gemm(false, true, P, K, F, 1.0f, dy, F, w, F, 0.0f, dcol, K);
        fv_col2im(g, dcol, dx);
    }
}

/* Direct definition of the gradients of fv_conv2d_forward_ref, added into dw, db, dx. */
void fv_conv2d_backward_ref(const fv_conv_geom *g, const float *x, const float *w, const float *dy,
                            float *dw, float *db, float *dx)
{
    const int64_t C = g->in_c, F = g->out_c;
    for (int64_t oh = 0; oh < g->out_h; oh++)
        for (int64_t ow = 0; ow < g->out_w; ow++)
            for (int64_t f = 0; f < F; f++) {
                const float d = dy[(oh * g->out_w + ow) * F + f];
                if (db) db[f] += d;
                for (int64_t kh = 0; kh < g->k_h; kh++) {
                    int64_t ih = oh * g->stride_h - g->pad_top + kh * g->dil_h;
                    if (ih < 0 || ih >= g->in_h) continue;
                    for (int64_t kw = 0; kw < g->k_w; kw++) {
                        int64_t iw = ow * g->stride_w - g->pad_left + kw * g->dil_w;
                        if (iw < 0 || iw >= g->in_w) continue;
                        for (int64_t c = 0; c < C; c++) {
                            int64_t xi = (ih * g->in_w + iw) * C + c;
                            int64_t wi = ((kh * g->k_w + kw) * C + c) * F + f;
                            dw[wi] += x[xi] * d;
                            if (dx) dx[xi] += w[wi] * d;
                        }
                    }
                }
            }
}
