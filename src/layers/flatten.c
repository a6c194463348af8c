/* flatten.c — Flatten: (H, W, C) to H·W·C features in that order, which is already the NHWC
 * memory order, so both passes are copies (nothing at all when the model aliases them, which
 * its plans do where the flatten is its input's only reader: fv_layer_kind.identity).
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct flatten_cfg {
    int unused; /* Flatten takes no arguments (C forbids an empty struct) */
} flatten_cfg;

static const fv_arg_spec flatten_args[] = {{0}};

static fv_status flatten_build(fv_layer *l)
{
    const int64_t size = fv__shape_size(&l->in[0]);
    if (size < 0) return fv__fail(FV_ERR_SHAPE, "flatten: input is too large");
    l->out = (fv_shape){.rank = 1, .d = {size}};
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = 0;
    return FV_OK;
}

static void flatten_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const int64_t size = fv__shape_size(&l->in[0]);
    if (y != x) memcpy(y, x, (size_t)(r->n * size) * sizeof(float));
}

static void flatten_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                             float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    (void)x, (void)y;
    const int64_t size = fv__shape_size(&l->in[0]);
    if (dx && dx != dy) memcpy(dx, dy, (size_t)(r->n * size) * sizeof(float));
}

/* Both passes are copies in every run: the model aliases them (fv_layer_kind.identity). */
static bool flatten_identity(const fv_layer *l, bool inference)
{
    (void)l, (void)inference;
    return true;
}

const fv_layer_kind fv__kind_flatten = {
    .name = "flatten",
    .keras_class = "Flatten",
    .keras_name = "flatten",
    .args = flatten_args,
    .cfg_size = sizeof(flatten_cfg),
    .build = flatten_build,
    .scratch_bytes = NULL,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .activation = NULL,
    .identity = flatten_identity,
};
