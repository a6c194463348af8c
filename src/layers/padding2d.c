/* padding2d.c — ZeroPadding2D and Cropping2D: rows and columns of zeros added around each image,
 * or removed from its borders. One is the other's adjoint, so the two share their helpers.
 * Model-file form of padding= and cropping= (Keras' three forms): N (every side), H,W (rows:
 * top and bottom; columns: left and right) or TOP,BOTTOM,LEFT,RIGHT (Keras'
 * ((top, bottom), (left, right)) flattened in that order).
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct pad2d_cfg {
    fv_ints amount;   /* as given: 1, 2 or 4 values */
    int64_t edges[4]; /* derived by build: top, bottom, left, right */
} pad2d_cfg;

/* Each kind has its own table: argument errors are named after the table's kind. */
static const fv_arg_spec zero_padding2d_args[] = {
    {"padding", FV_ARG_INTS, offsetof(pad2d_cfg, amount), "1", NULL, 0, FV_ARG_DIM_MAX},
    {0},
};
static const fv_arg_spec cropping2d_args[] = {
    {"cropping", FV_ARG_INTS, offsetof(pad2d_cfg, amount), "0", NULL, 0, FV_ARG_DIM_MAX},
    {0},
};

static bool is_crop(const fv_layer *l)
{
    return l->kind == &fv__kind_cropping2d;
}

static fv_status pad2d_build(fv_layer *l)
{
    pad2d_cfg *c = l->cfg;
    const char *kind = l->kind->name;
    const fv_ints *a = &c->amount;
    char in[96], given[96] = "";
    fv__args_format(l->kind->args, l->cfg, 1, given, sizeof given);
    fv__shape_format(&l->in[0], in, sizeof in);
    if (l->in[0].rank != 3)
        return fv__fail(FV_ERR_SHAPE,
                        "%s: input %s has rank %d; %s needs images (None, height, width, channels)",
                        kind, in, l->in[0].rank, kind);
    if (a->n == 1)
        for (int i = 0; i < 4; i++)
            c->edges[i] = a->v[0];
    else if (a->n == 2)
        c->edges[0] = c->edges[1] = a->v[0], c->edges[2] = c->edges[3] = a->v[1];
    else if (a->n == 4)
        memcpy(c->edges, a->v, sizeof c->edges);
    else
        return fv__fail(FV_ERR_INVALID,
                        "%s: argument %s has %d values; expected 1 (every side), 2 (rows,cols) or "
                        "4 (top,bottom,left,right)",
                        kind, given, a->n);

    const int64_t *e = c->edges, H = l->in[0].d[0], W = l->in[0].d[1];
    int64_t oh, ow;
    if (is_crop(l)) {
        /* Keras refuses a cropping that leaves nothing. Each term is below 2^31. */
        oh = H - e[0] - e[1], ow = W - e[2] - e[3];
        if (oh < 1 || ow < 1)
            return fv__fail(FV_ERR_SHAPE,
                            "%s: %s removes %lld+%lld rows and %lld+%lld columns of input %s, "
                            "leaving %lldx%lld",
                            kind, given, (long long)e[0], (long long)e[1], (long long)e[2],
                            (long long)e[3], in, (long long)oh, (long long)ow);
    } else {
        oh = H + e[0] + e[1], ow = W + e[2] + e[3];
    }
    l->out = (fv_shape){.rank = 3, .d = {oh, ow, l->in[0].d[2]}};
    if (fv__shape_size(&l->in[0]) < 0 || fv__shape_size(&l->out) < 0)
        return fv__fail(FV_ERR_SHAPE, "%s: %s on input %s is too large", kind, given, in);
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = 0;
    return FV_OK;
}

/* big [BH, BW, C] ← zeros with small [SH, SW, C] placed at row top, column left. */
static void embed(const float *small, int64_t SH, int64_t SW, float *big, int64_t BH, int64_t BW,
                  int64_t C, int64_t top, int64_t left)
{
    memset(big, 0, (size_t)(BH * BW * C) * sizeof(float));
    for (int64_t h = 0; h < SH; h++)
        memcpy(big + ((h + top) * BW + left) * C, small + h * SW * C,
               (size_t)(SW * C) * sizeof(float));
}

/* small [SH, SW, C] ← the window of big [BH, BW, C] at row top, column left. */
static void extract(const float *big, int64_t BW, float *small, int64_t SH, int64_t SW, int64_t C,
                    int64_t top, int64_t left)
{
    for (int64_t h = 0; h < SH; h++)
        memcpy(small + h * SW * C, big + ((h + top) * BW + left) * C,
               (size_t)(SW * C) * sizeof(float));
}

/* One image in either direction: to_big embeds the smaller of in/out into the larger, else
 * extracts it. */
static void pad2d_run(const fv_layer *l, const float *src, float *dst, int64_t n, bool to_big,
                      const fv_run *r)
{
    const pad2d_cfg *c = l->cfg;
    const bool crop = is_crop(l);
    const fv_shape *big = crop ? &l->in[0] : &l->out, *small = crop ? &l->out : &l->in[0];
    const int64_t C = big->d[2], big_sz = fv__shape_size(big), small_sz = fv__shape_size(small);
    const int64_t src_sz = to_big ? small_sz : big_sz, dst_sz = to_big ? big_sz : small_sz;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * big_sz);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        if (to_big)
            embed(src + i * src_sz, small->d[0], small->d[1], dst + i * dst_sz, big->d[0],
                  big->d[1], C, c->edges[0], c->edges[2]);
        else
            extract(src + i * src_sz, big->d[1], dst + i * dst_sz, small->d[0], small->d[1], C,
                    c->edges[0], c->edges[2]);
    }
}

static void pad2d_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    pad2d_run(l, xs[0], y, r->n, !is_crop(l), r);
}

static void pad2d_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                           float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    if (dxs[0]) pad2d_run(l, dy, dxs[0], r->n, is_crop(l), r);
}

const fv_layer_kind fv__kind_zero_padding2d = {
    .name = "zero_padding2d",
    .keras_class = "ZeroPadding2D",
    .keras_name = "zero_padding2d",
    .args = zero_padding2d_args,
    .cfg_size = sizeof(pad2d_cfg),
    .build = pad2d_build,
    .forward = pad2d_forward,
    .backward = pad2d_backward,
};

const fv_layer_kind fv__kind_cropping2d = {
    .name = "cropping2d",
    .keras_class = "Cropping2D",
    .keras_name = "cropping2d",
    .args = cropping2d_args,
    .cfg_size = sizeof(pad2d_cfg),
    .build = pad2d_build,
    .forward = pad2d_forward,
    .backward = pad2d_backward,
};
