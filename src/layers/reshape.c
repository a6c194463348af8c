/* reshape.c — Reshape: the same values under another per-sample shape of rank 1 to 3, in the same
 * (NHWC, row-major) memory order, as Keras' Reshape; one dimension may be -1, inferred from the
 * others. Both passes are copies.
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct reshape_cfg {
    fv_ints target_shape;
} reshape_cfg;

static const fv_arg_spec reshape_args[] = {
    {"target_shape", FV_ARG_INTS, offsetof(reshape_cfg, target_shape), NULL, NULL, -1,
     FV_ARG_DIM_MAX},
    {0},
};

static fv_status reshape_build(fv_layer *l)
{
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    const fv_ints *t = &((const reshape_cfg *)l->cfg)->target_shape;
    char in[96], given[96];
    fv__shape_format(&l->in[0], in, sizeof in);
    fv__args_format(reshape_args, l->cfg, 1, given, sizeof given);
    const int64_t size = fv__shape_size(&l->in[0]);
    if (size < 0) return fv__fail(FV_ERR_SHAPE, "reshape: input %s is too large", in);
    if (t->n > 3)
        return fv__fail(FV_ERR_INVALID,
                        "reshape: argument %s has %d dimensions; fovea's shapes have 1 to 3 "
                        "(features, or height,width,channels)",
                        given, t->n);
    int unknown = -1;
    for (int i = 0; i < t->n; i++) {
        if (t->v[i] == 0)
            return fv__fail(FV_ERR_INVALID, "reshape: argument %s: dimension %d is 0", given,
                            i + 1);
        if (t->v[i] == -1 && unknown >= 0)
            return fv__fail(FV_ERR_INVALID, "reshape: argument %s: only one dimension may be -1",
                            given);
        if (t->v[i] == -1) unknown = i;
    }
    /* The product of the given dimensions must divide the input's size (equal it without -1). */
    int64_t known = 1;
    bool fits = true;
    for (int i = 0; i < t->n && fits; i++)
        if (i != unknown) fits = fv__mul_i64(known, t->v[i], &known) && known <= size;
    fits = fits && (unknown >= 0 ? size % known == 0 : known == size);
    if (!fits)
        return fv__fail(FV_ERR_SHAPE,
                        "reshape: input %s has %lld values per sample; %s cannot hold them", in,
                        (long long)size, given);
    l->out = (fv_shape){.rank = t->n};
    memcpy(l->out.d, t->v, (size_t)t->n * sizeof(int64_t));
    if (unknown >= 0) l->out.d[unknown] = size / known;
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = 0;
    return FV_OK;
}

static void reshape_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const int64_t size = fv__shape_size(&l->in[0]);
    if (y != x) memcpy(y, x, (size_t)(r->n * size) * sizeof(float));
}

static void reshape_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                             float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    float *dx = dxs[0];
    const int64_t size = fv__shape_size(&l->in[0]);
    if (dx && dx != dy) memcpy(dx, dy, (size_t)(r->n * size) * sizeof(float));
}

/* Both passes are copies in every run: the model aliases them (fv_layer_kind.identity). */
static bool reshape_identity(const fv_layer *l, bool inference)
{
    (void)l, (void)inference;
    return true;
}

const fv_layer_kind fv__kind_reshape = {
    .name = "reshape",
    .keras_class = "Reshape",
    .keras_name = "reshape",
    .args = reshape_args,
    .cfg_size = sizeof(reshape_cfg),
    .build = reshape_build,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .identity = reshape_identity,
};
