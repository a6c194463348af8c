/* maxpool2d.c — MaxPooling2D: the maximum of each pool window, per channel. Forward keeps the
 * input index of every maximum (int32 per output element) so that backward is a scatter.
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct maxpool2d_cfg {
    int64_t pool_size[2];
    int64_t strides[2]; /* 0,0: None, i.e. pool_size (Keras' default) */
    int padding;        /* fv_padding */
    fv_conv_geom g;     /* derived by build */
} maxpool2d_cfg;

#define OFF(f) offsetof(maxpool2d_cfg, f)
static const fv_arg_spec maxpool2d_args[] = {
    {"pool_size", FV_ARG_PAIR, OFF(pool_size), "2", NULL, 1, FV_ARG_DIM_MAX},
    {"strides", FV_ARG_PAIR, OFF(strides), "None", NULL, 1, FV_ARG_DIM_MAX},
    {"padding", FV_ARG_CHOICE, OFF(padding), "valid", fv__padding_names, 0, 0},
    {0},
};
#undef OFF

static fv_status maxpool2d_build(fv_layer *l)
{
    maxpool2d_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    fv_conv_geom *g = &c->g;
    const int64_t strides[2] = {c->strides[0] ? c->strides[0] : c->pool_size[0],
                                c->strides[1] ? c->strides[1] : c->pool_size[1]},
                  one[2] = {1, 1};
    s = fv__window_geom(l, "pool", c->pool_size, strides, one, c->padding == FV_PAD_SAME,
                        l->in[0].d[2], g);
    if (s) return s;
    /* argmax holds flat indices into one image as int32. */
    const int64_t in_sz = fv__shape_size(&l->in[0]);
    if (in_sz < 0 || in_sz > INT32_MAX) {
        char in[96];
        fv__shape_format(&l->in[0], in, sizeof in);
        return fv__fail(FV_ERR_SHAPE, "maxpool2d: input %s has more than 2^31 values per image",
                        in);
    }

    l->out = (fv_shape){.rank = 3, .d = {g->out_h, g->out_w, g->out_c}};
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = (size_t)fv__shape_size(&l->out) * sizeof(int32_t);
    return FV_OK;
}

/* Without l->saved (inference: no backward pass can follow, it needs the argmax) only y is
 * computed. */
static void maxpool2d_forward_sample(fv_layer *l, const float *x, float *y, int64_t i,
                                     const fv_run *r)
{
    (void)r;
    const fv_conv_geom *g = &((const maxpool2d_cfg *)l->cfg)->g;
    int32_t *saved = l->saved;
    const int64_t out_sz = g->out_h * g->out_w * g->out_c;
    fv_maxpool_forward(g, x, y, saved ? saved + i * out_sz : NULL);
}

static void maxpool2d_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const maxpool2d_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const int64_t n = r->n, in_sz = g->in_h * g->in_w * g->in_c;
    const int64_t out_sz = g->out_h * g->out_w * g->out_c;

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * out_sz * g->k_h * g->k_w);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++)
        maxpool2d_forward_sample(l, x + i * in_sz, y + i * out_sz, i, r);
}

static void maxpool2d_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                               float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    (void)x, (void)y;
    const maxpool2d_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const int64_t n = r->n, in_sz = g->in_h * g->in_w * g->in_c;
    const int64_t out_sz = g->out_h * g->out_w * g->out_c;
    const int32_t *saved = l->saved;
    if (!dx) return;
    FV_ASSERT(saved);

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * in_sz);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        fv_maxpool_backward_write(g, dy + i * out_sz, saved + i * out_sz, NULL, dx + i * in_sz);
    }
}

/* maxpool2d_backward's sample i; with relu also the mask of a ReLU before it (its winners' values
 * are its outputs y: fv_maxpool_backward_write's relu_y). */
static bool maxpool2d_backward_sample(fv_layer *l, const float *y, const float *dy, float *dx,
                                      int64_t i, const fv_run *r, bool relu)
{
    (void)r;
    const fv_conv_geom *g = &((const maxpool2d_cfg *)l->cfg)->g;
    const int64_t out_sz = g->out_h * g->out_w * g->out_c;
    FV_ASSERT(l->saved);
    fv_maxpool_backward_write(g, dy, (const int32_t *)l->saved + i * out_sz, relu ? y : NULL, dx);
    return relu;
}

const fv_layer_kind fv__kind_maxpool2d = {
    .name = "maxpool2d",
    .keras_class = "MaxPooling2D",
    .keras_name = "max_pooling2d",
    .alias = "max_pooling2d", /* Keras' spelling; the canonical text writes maxpool2d */
    .args = maxpool2d_args,
    .cfg_size = sizeof(maxpool2d_cfg),
    .build = maxpool2d_build,
    .forward = maxpool2d_forward,
    .backward = maxpool2d_backward,
    .forward_sample = maxpool2d_forward_sample,
    .backward_sample = maxpool2d_backward_sample,
    .activation = NULL,
};
