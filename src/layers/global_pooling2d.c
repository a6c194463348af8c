/* global_pooling2d.c — GlobalAveragePooling2D and GlobalMaxPooling2D: the mean or the maximum of
 * each channel over the whole image, (H, W, C) to (C), or (1, 1, C) with keepdims=true, as Keras.
 * The maximum's position is kept for backward (the first one on ties, as max-pooling; a NaN
 * in the window is the maximum, so NaN propagates as in PyTorch).
 */
#include "layers/layer.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct gpool_cfg {
    bool keepdims;
} gpool_cfg;

/* Each kind has its own table: argument errors are named after the table's kind. */
static const fv_arg_spec gap_args[] = {
    {"keepdims", FV_ARG_BOOL, offsetof(gpool_cfg, keepdims), "false", NULL, 0, 0},
    {0},
};
static const fv_arg_spec gmp_args[] = {
    {"keepdims", FV_ARG_BOOL, offsetof(gpool_cfg, keepdims), "false", NULL, 0, 0},
    {0},
};

static bool is_max(const fv_layer *l)
{
    return l->kind == &fv__kind_global_max_pooling2d;
}

static fv_status gpool_build(fv_layer *l)
{
    const gpool_cfg *c = l->cfg;
    if (l->in[0].rank != 3) {
        char in[96];
        fv__shape_format(&l->in[0], in, sizeof in);
        return fv__fail(FV_ERR_SHAPE,
                        "%s: input %s has rank %d; it needs images (None, height, width, channels)",
                        l->kind->name, in, l->in[0].rank);
    }
    const int64_t C = l->in[0].d[2];
    if (fv__shape_size(&l->in[0]) < 0 || fv__shape_size(&l->in[0]) > INT32_MAX)
        return fv__fail(FV_ERR_SHAPE, "%s: input is too large", l->kind->name);
    l->out = c->keepdims ? (fv_shape){.rank = 3, .d = {1, 1, C}} : (fv_shape){.rank = 1, .d = {C}};
    l->nparams = 0;
    l->saved_per_sample = is_max(l) ? (size_t)C * sizeof(int32_t) : 0;
    return FV_OK;
}

static void gpool_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const int64_t n = r->n, C = l->in[0].d[2], P = l->in[0].d[0] * l->in[0].d[1];
    const bool max = is_max(l);
    int32_t *arg = l->saved; /* NULL at inference in the lean plan: positions not kept */
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * P * C);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * P * C;
        float *yi = y + i * C;
        if (max) {
            int32_t *ai = arg ? arg + i * C : NULL;
            for (int64_t c = 0; c < C; c++) {
                yi[c] = xi[c];
                if (ai) ai[c] = 0;
            }
            for (int64_t p = 1; p < P; p++)
                for (int64_t c = 0; c < C; c++) {
                    const float v = xi[p * C + c];
                    if (v > yi[c] || (isnan(v) && !isnan(yi[c]))) {
                        yi[c] = v;
                        if (ai) ai[c] = (int32_t)p;
                    }
                }
        } else {
            /* Summed in double in pixel order, then divided: Keras' reduce_mean. */
            for (int64_t c = 0; c < C; c++) {
                double s = 0;
                for (int64_t p = 0; p < P; p++)
                    s += xi[p * C + c];
                yi[c] = (float)(s / (double)P);
            }
        }
    }
}

static void gpool_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                           float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    float *dx = dxs[0];
    if (!dx) return;
    const int64_t n = r->n, C = l->in[0].d[2], P = l->in[0].d[0] * l->in[0].d[1];
    const bool max = is_max(l);
    const int32_t *arg = l->saved;
    const float inv = 1.0f / (float)P;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * P * C);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        float *dxi = dx + i * P * C;
        const float *dyi = dy + i * C;
        if (max) {
            memset(dxi, 0, (size_t)(P * C) * sizeof(float));
            for (int64_t c = 0; c < C; c++)
                dxi[(int64_t)arg[i * C + c] * C + c] = dyi[c];
        } else {
            for (int64_t p = 0; p < P; p++)
                for (int64_t c = 0; c < C; c++)
                    dxi[p * C + c] = dyi[c] * inv;
        }
    }
}

const fv_layer_kind fv__kind_global_average_pooling2d = {
    .name = "global_average_pooling2d",
    .keras_class = "GlobalAveragePooling2D",
    .keras_name = "global_average_pooling2d",
    .args = gap_args,
    .cfg_size = sizeof(gpool_cfg),
    .build = gpool_build,
    .forward = gpool_forward,
    .backward = gpool_backward,
};

const fv_layer_kind fv__kind_global_max_pooling2d = {
    .name = "global_max_pooling2d",
    .keras_class = "GlobalMaxPooling2D",
    .keras_name = "global_max_pooling2d",
    .args = gmp_args,
    .cfg_size = sizeof(gpool_cfg),
    .build = gpool_build,
    .forward = gpool_forward,
    .backward = gpool_backward,
};
