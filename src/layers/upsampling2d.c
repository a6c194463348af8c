/* upsampling2d.c — UpSampling2D: images made size[0] times taller and size[1] times wider, as
 * Keras 3 does it: interpolation=nearest repeats each row and column (ops.repeat);
 * interpolation=bilinear is ops.image.resize's bilinear with half-pixel centres, no antialiasing.
 */
#include "layers/layer.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { UP_NEAREST, UP_BILINEAR };
static const char *const interpolation_names[] = {"nearest", "bilinear", NULL};

typedef struct up_cfg {
    int64_t size[2]; /* rows, cols factors */
    int interpolation;
} up_cfg;

#define OFF(f) offsetof(up_cfg, f)
static const fv_arg_spec up_args[] = {
    {"size", FV_ARG_PAIR, OFF(size), "2", NULL, 1, FV_ARG_DIM_MAX},
    {"interpolation", FV_ARG_CHOICE, OFF(interpolation), "nearest", interpolation_names, 0, 0},
    {0},
};
#undef OFF

static fv_status up_build(fv_layer *l)
{
    const up_cfg *c = l->cfg;
    char in[96];
    fv__shape_format(&l->in[0], in, sizeof in);
    if (l->in[0].rank != 3)
        return fv__fail(FV_ERR_SHAPE,
                        "upsampling2d: input %s has rank %d; upsampling2d needs images (None, "
                        "height, width, channels)",
                        in, l->in[0].rank);
    int64_t h = 0, w = 0;
    const bool fits =
        fv__mul_i64(l->in[0].d[0], c->size[0], &h) && fv__mul_i64(l->in[0].d[1], c->size[1], &w);
    l->out = (fv_shape){.rank = 3, .d = {h, w, l->in[0].d[2]}};
    if (!fits || fv__shape_size(&l->out) < 0)
        return fv__fail(FV_ERR_SHAPE, "upsampling2d: input %s times size %lldx%lld is too large",
                        in, (long long)c->size[0], (long long)c->size[1]);
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = 0;
    return FV_OK;
}

/* ---- nearest --------------------------------------------------------------------------------- */

/* y[oh, ow, :] = x[oh / sh, ow / sw, :]. */
static void nearest_image(const fv_shape *in, const int64_t *size, const float *x, float *y)
{
    const int64_t H = in->d[0], W = in->d[1], C = in->d[2], sh = size[0], sw = size[1];
    for (int64_t oh = 0; oh < H * sh; oh++) {
        const float *xr = x + (oh / sh) * W * C;
        float *yr = y + oh * W * sw * C;
        for (int64_t iw = 0; iw < W; iw++)
            for (int64_t b = 0; b < sw; b++)
                memcpy(yr + (iw * sw + b) * C, xr + iw * C, (size_t)C * sizeof(float));
    }
}

/* The adjoint: dx[ih, iw, :] = Σ of dy over its sh × sw block, rows then columns. */
static void nearest_image_backward(const fv_shape *in, const int64_t *size, const float *dy,
                                   float *dx)
{
    const int64_t H = in->d[0], W = in->d[1], C = in->d[2], sh = size[0], sw = size[1];
    const int64_t OW = W * sw;
    memset(dx, 0, (size_t)(H * W * C) * sizeof(float));
    for (int64_t ih = 0; ih < H; ih++)
        for (int64_t a = 0; a < sh; a++) {
            const float *dyr = dy + (ih * sh + a) * OW * C;
            float *dxr = dx + ih * W * C;
            for (int64_t iw = 0; iw < W; iw++)
                for (int64_t b = 0; b < sw; b++) {
                    const float *d = dyr + (iw * sw + b) * C;
                    for (int64_t c = 0; c < C; c++)
                        dxr[iw * C + c] += d[c];
                }
        }
}

/* ---- bilinear -------------------------------------------------------------------------------- */

/* Output index o of an axis upsampled s times from n: the two input indices it reads and the
 * weight of the second. TensorFlow's resize_bilinear with half_pixel_centers (what Keras 3's
 * ops.image.resize runs): source position (o + 1/2)/s − 1/2, lo = max(floor, 0),
 * hi = min(ceil, n − 1), weight = position − floor; so the border rows repeat the edge
 * (PyTorch's interpolate(mode='bilinear', align_corners=False) gives the same values). */
static void bilinear_tap(int64_t o, int64_t s, int64_t n, int64_t *lo, int64_t *hi, float *wt)
{
    const double src = ((double)o + 0.5) / (double)s - 0.5, f = floor(src);
    *lo = f < 0 ? 0 : (int64_t)f;
    const int64_t up = (int64_t)ceil(src);
    *hi = up > n - 1 ? n - 1 : up;
    *wt = (float)(src - f);
}

/* TensorFlow's order: top = tl + (tr − tl)·wx, bottom = bl + (br − bl)·wx,
 * y = top + (bottom − top)·wy. */
static void bilinear_image(const fv_shape *in, const int64_t *size, const float *x, float *y)
{
    const int64_t H = in->d[0], W = in->d[1], C = in->d[2], OH = H * size[0], OW = W * size[1];
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        float wy;
        bilinear_tap(oh, size[0], H, &h0, &h1, &wy);
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t w0, w1;
            float wx;
            bilinear_tap(ow, size[1], W, &w0, &w1, &wx);
            const float *tl = x + (h0 * W + w0) * C, *tr = x + (h0 * W + w1) * C;
            const float *bl = x + (h1 * W + w0) * C, *br = x + (h1 * W + w1) * C;
            float *yo = y + (oh * OW + ow) * C;
            for (int64_t c = 0; c < C; c++) {
                const float top = tl[c] + (tr[c] - tl[c]) * wx;
                const float bottom = bl[c] + (br[c] - bl[c]) * wx;
                yo[c] = top + (bottom - top) * wy;
            }
        }
    }
}

/* The adjoint: each output's gradient goes to its four taps with weights (1−wy)(1−wx),
 * (1−wy)wx, wy(1−wx) and wy·wx, outputs in row-major order. */
static void bilinear_image_backward(const fv_shape *in, const int64_t *size, const float *dy,
                                    float *dx)
{
    const int64_t H = in->d[0], W = in->d[1], C = in->d[2], OH = H * size[0], OW = W * size[1];
    memset(dx, 0, (size_t)(H * W * C) * sizeof(float));
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0, h1;
        float wy;
        bilinear_tap(oh, size[0], H, &h0, &h1, &wy);
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t w0, w1;
            float wx;
            bilinear_tap(ow, size[1], W, &w0, &w1, &wx);
            const float *g = dy + (oh * OW + ow) * C;
            float *tl = dx + (h0 * W + w0) * C, *tr = dx + (h0 * W + w1) * C;
            float *bl = dx + (h1 * W + w0) * C, *br = dx + (h1 * W + w1) * C;
            const float a = (1.0f - wy) * (1.0f - wx), b = (1.0f - wy) * wx;
            const float d = wy * (1.0f - wx), e = wy * wx;
            for (int64_t c = 0; c < C; c++) {
                tl[c] += g[c] * a;
                tr[c] += g[c] * b;
                bl[c] += g[c] * d;
                br[c] += g[c] * e;
            }
        }
    }
}

/* ---- the layer ------------------------------------------------------------------------------- */

static void up_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const up_cfg *c = l->cfg;
    const int64_t n = r->n, in_sz = fv__shape_size(&l->in[0]), out_sz = fv__shape_size(&l->out);
    const bool bilinear = c->interpolation == UP_BILINEAR;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * out_sz);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        if (bilinear)
            bilinear_image(&l->in[0], c->size, x + i * in_sz, y + i * out_sz);
        else
            nearest_image(&l->in[0], c->size, x + i * in_sz, y + i * out_sz);
    }
}

static void up_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                        float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    float *dx = dxs[0];
    if (!dx) return;
    const up_cfg *c = l->cfg;
    const int64_t n = r->n, in_sz = fv__shape_size(&l->in[0]), out_sz = fv__shape_size(&l->out);
    const bool bilinear = c->interpolation == UP_BILINEAR;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * out_sz);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        if (bilinear)
            bilinear_image_backward(&l->in[0], c->size, dy + i * out_sz, dx + i * in_sz);
        else
            nearest_image_backward(&l->in[0], c->size, dy + i * out_sz, dx + i * in_sz);
    }
}

const fv_layer_kind fv__kind_upsampling2d = {
    .name = "upsampling2d",
    .keras_class = "UpSampling2D",
    .keras_name = "up_sampling2d",
    .alias = "up_sampling2d", /* the snake case of Keras' class; the canonical text writes
                                 upsampling2d */
    .args = up_args,
    .cfg_size = sizeof(up_cfg),
    .build = up_build,
    .forward = up_forward,
    .backward = up_backward,
};
