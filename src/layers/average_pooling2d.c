/* average_pooling2d.c — AveragePooling2D: the mean of each pool window, per channel. With
 * padding=same the padded positions are left out of the count (Keras and TensorFlow's avg_pool;
 * PyTorch's count_include_pad=False), so a border window averages only the pixels it covers.
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct avgpool_cfg {
    int64_t pool_size[2];
    int64_t strides[2]; /* 0,0: None, i.e. pool_size (Keras' default) */
    int padding;        /* fv_padding */
    fv_conv_geom g;     /* derived by build */
} avgpool_cfg;

#define OFF(f) offsetof(avgpool_cfg, f)
static const fv_arg_spec avgpool_args[] = {
    {"pool_size", FV_ARG_PAIR, OFF(pool_size), "2", NULL, 1, FV_ARG_DIM_MAX},
    {"strides", FV_ARG_PAIR, OFF(strides), "None", NULL, 1, FV_ARG_DIM_MAX},
    {"padding", FV_ARG_CHOICE, OFF(padding), "valid", fv__padding_names, 0, 0},
    {0},
};
#undef OFF

static fv_status avgpool_build(fv_layer *l)
{
    avgpool_cfg *c = l->cfg;
    fv_conv_geom *g = &c->g;
    const int64_t strides[2] = {c->strides[0] ? c->strides[0] : c->pool_size[0],
                                c->strides[1] ? c->strides[1] : c->pool_size[1]},
                  one[2] = {1, 1};
    fv_status s = fv__window_geom(l, "pool", c->pool_size, strides, one, c->padding == FV_PAD_SAME,
                                  l->in[0].d[2], g);
    if (s) return s;
    if (fv__shape_size(&l->in[0]) < 0)
        return fv__fail(FV_ERR_SHAPE, "average_pooling2d: input is too large");

    l->out = (fv_shape){.rank = 3, .d = {g->out_h, g->out_w, g->out_c}};
    if (fv__shape_size(&l->out) < 0)
        return fv__fail(FV_ERR_SHAPE, "average_pooling2d: output is too large");
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = 0;
    return FV_OK;
}

/* Threads for a pass over n images: the values it touches (a window never covers more than the
 * image), counted in double so that huge windows cannot overflow. */
static int avgpool_threads(const fv_run *r, const fv_conv_geom *g)
{
    const int64_t kh = g->k_h < g->in_h ? g->k_h : g->in_h,
                  kw = g->k_w < g->in_w ? g->k_w : g->in_w;
    const double work = (double)r->n * (double)(g->out_h * g->out_w * g->out_c) * (double)(kh * kw);
    return fv__work_threads(r, work >= FV_PARALLEL_MIN ? FV_PARALLEL_MIN : (int64_t)work);
}

/* The rows [*lo, *hi) of the input that output row o's window covers (padding left out). */
static void window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t size, int64_t *lo,
                   int64_t *hi)
{
    const int64_t start = o * stride - pad;
    *lo = start < 0 ? 0 : start;
    *hi = start + k > size ? size : start + k;
}

/* One image: x [in_h, in_w, C] → y [out_h, out_w, C]; each window summed in row-major order,
 * then divided by the number of input pixels it covers. */
static void avgpool_image(const fv_conv_geom *g, const float *x, float *y)
{
    const int64_t C = g->in_c;
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        int64_t h0, h1;
        window(oh, g->stride_h, g->pad_top, g->k_h, g->in_h, &h0, &h1);
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            int64_t w0, w1;
            window(ow, g->stride_w, g->pad_left, g->k_w, g->in_w, &w0, &w1);
            float *yo = y + (oh * g->out_w + ow) * C;
            for (int64_t c = 0; c < C; c++)
                yo[c] = 0.0f;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) {
                    const float *xi = x + (h * g->in_w + w) * C;
                    for (int64_t c = 0; c < C; c++)
                        yo[c] += xi[c];
                }
            const float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
            for (int64_t c = 0; c < C; c++)
                yo[c] *= inv;
        }
    }
}

/* The adjoint for one image: dx [in_h, in_w, C] (zeroed here) ← dy [out_h, out_w, C], each
 * output's gradient shared equally among the input pixels its window covers. */
static void avgpool_image_backward(const fv_conv_geom *g, const float *dy, float *dx)
{
    const int64_t C = g->in_c;
    memset(dx, 0, (size_t)(g->in_h * g->in_w * C) * sizeof(float));
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        int64_t h0, h1;
        window(oh, g->stride_h, g->pad_top, g->k_h, g->in_h, &h0, &h1);
        for (int64_t ow = 0; ow < g->out_w; ow++) {
            int64_t w0, w1;
            window(ow, g->stride_w, g->pad_left, g->k_w, g->in_w, &w0, &w1);
            const float *dyo = dy + (oh * g->out_w + ow) * C;
            const float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) {
                    float *dxi = dx + (h * g->in_w + w) * C;
                    for (int64_t c = 0; c < C; c++)
                        dxi[c] += dyo[c] * inv;
                }
        }
    }
}

static void avgpool_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const fv_conv_geom *g = &((const avgpool_cfg *)l->cfg)->g;
    const int64_t n = r->n, in_sz = g->in_h * g->in_w * g->in_c;
    const int64_t out_sz = g->out_h * g->out_w * g->out_c;
    const int threads FV_OMP_ONLY = avgpool_threads(r, g);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++)
        avgpool_image(g, x + i * in_sz, y + i * out_sz);
}

static void avgpool_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                             float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    float *dx = dxs[0];
    if (!dx) return;
    const fv_conv_geom *g = &((const avgpool_cfg *)l->cfg)->g;
    const int64_t n = r->n, in_sz = g->in_h * g->in_w * g->in_c;
    const int64_t out_sz = g->out_h * g->out_w * g->out_c;
    const int threads FV_OMP_ONLY = avgpool_threads(r, g);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++)
        avgpool_image_backward(g, dy + i * out_sz, dx + i * in_sz);
}

const fv_layer_kind fv__kind_average_pooling2d = {
    .name = "average_pooling2d",
    .keras_class = "AveragePooling2D",
    .keras_name = "average_pooling2d",
    .args = avgpool_args,
    .cfg_size = sizeof(avgpool_cfg),
    .build = avgpool_build,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};
