/* activity_regularization.c — Keras' ActivityRegularization: the identity, which adds
 * (l1·Σ|x| + l2·Σx²) / n to the loss for a batch of n (tf.keras' activity regularizers divide by
 * the batch size to make the strength batch-agnostic). The model's first added loss (add_loss).
 */
#include "layers/layer.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef struct activity_cfg {
    double l1, l2;
} activity_cfg;

static const fv_arg_spec activity_args[] = {
    {"l1", FV_ARG_FLOAT, offsetof(activity_cfg, l1), "0", NULL, 0, 1e6},
    {"l2", FV_ARG_FLOAT, offsetof(activity_cfg, l2), "0", NULL, 0, 1e6},
    {0},
};

static fv_status activity_build(fv_layer *l)
{
    if (fv__shape_size(&l->in[0]) < 0)
        return fv__fail(FV_ERR_SHAPE, "activity_regularization: input is too large");
    l->out = l->in[0];
    l->nparams = 0;
    l->saved_per_sample = 0;
    return FV_OK;
}

/* x, y [n × size]: y = x. */
static void activity_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const int64_t count = r->n * fv__shape_size(&l->in[0]);
    if (y != xs[0]) memcpy(y, xs[0], (size_t)count * sizeof(float));
}

/* The added loss, (l1·Σ|x| + l2·Σx²) / n, summed in double in memory order. */
static double activity_loss(const fv_layer *l, const float *const *xs, const float *y, int64_t n)
{
    (void)y;
    const activity_cfg *c = l->cfg;
    const int64_t count = n * fv__shape_size(&l->in[0]);
    const float *x = xs[0];
    double a = 0, b = 0;
    for (int64_t i = 0; i < count; i++)
        a += fabs((double)x[i]), b += (double)x[i] * x[i];
    return n ? (c->l1 * a + c->l2 * b) / (double)n : 0.0;
}

/* dx = dy + (l1·sign(x) + 2·l2·x) / n. */
static void activity_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                              float *const *dxs, fv_run *r)
{
    (void)y;
    const activity_cfg *c = l->cfg;
    float *dx = dxs[0];
    if (!dx) return;
    const int64_t n = fv__run_batch(r), count = r->n * fv__shape_size(&l->in[0]);
    const float *x = xs[0];
    const float f1 = (float)(c->l1 / (double)n), f2 = (float)(2.0 * c->l2 / (double)n);
    for (int64_t i = 0; i < count; i++)
        dx[i] = dy[i] + f2 * x[i] + (x[i] > 0 ? f1 : x[i] < 0 ? -f1 : 0.0f);
}

const fv_layer_kind fv__kind_activity_regularization = {
    .name = "activity_regularization",
    .keras_class = "ActivityRegularization",
    .keras_name = "activity_regularization",
    .args = activity_args,
    .cfg_size = sizeof(activity_cfg),
    .build = activity_build,
    .forward = activity_forward,
    .backward = activity_backward,
    .loss = activity_loss,
};
