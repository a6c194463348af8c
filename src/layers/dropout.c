/* dropout.c — Dropout: in training, each value is zeroed with probability `rate` and the kept
 * ones are scaled by 1/(1 - rate) (inverted dropout, so inference is the identity). The mask is
 * drawn from the run's stream, one derived stream per sample, and kept for backward.
 */
#include "layers/layer.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct dropout_cfg {
    double rate;
} dropout_cfg;

static const fv_arg_spec dropout_args[] = {
    {"rate", FV_ARG_FLOAT, offsetof(dropout_cfg, rate), NULL, NULL, 0, 1},
    {0},
};

static fv_status dropout_build(fv_layer *l)
{
    const dropout_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    if (!(c->rate < 1.0))
        return fv__fail(FV_ERR_INVALID,
                        "dropout: argument rate=%g: must be less than 1 (1 would drop every value)",
                        c->rate);
    const int64_t size = fv__shape_size(&l->in[0]);
    if (size < 0) return fv__fail(FV_ERR_SHAPE, "dropout: input is too large");
    l->out = l->in[0];
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    /* One byte per value: 1 kept, 0 dropped. */
    l->saved_per_sample = c->rate > 0.0 ? (size_t)size : 0;
    return FV_OK;
}

/* Sample i: xi [size] to yi [size]. Sample i draws from its own stream split off the run's by its
 * index in the whole batch: the same mask whatever the thread count, the process that holds the
 * sample or the layer that runs it (a chain). The draws are taken 64 values at a time into a small
 * buffer (low half of each 64-bit draw first), so that the loop that applies them is vectorised. */
static void dropout_forward_sample(fv_layer *l, const float *xi, float *yi, int64_t i,
                                   const fv_run *r)
{
    const dropout_cfg *c = l->cfg;
    const int64_t size = fv__shape_size(&l->in[0]);
    if (!r->training || c->rate == 0.0) {
        if (yi != xi) memcpy(yi, xi, (size_t)size * sizeof(float));
        return;
    }
    FV_ASSERT(l->saved && r->rng);
    uint8_t *mi = (uint8_t *)l->saved + i * size;
    const float scale = (float)(1.0 / (1.0 - c->rate));
    /* A value is kept when a uniform 32-bit draw u has u >= rate·2^32, so P(keep) = 1 - rate
     * to within 2^-32; each 64-bit draw gives two. */
    const uint64_t threshold = (uint64_t)ceil(c->rate * 4294967296.0);
    fv_rng s;
    fv__run_sample(r, i, &s);
    for (int64_t j0 = 0; j0 < size; j0 += 64) {
        const int64_t len = size - j0 < 64 ? size - j0 : 64;
        uint32_t u[64];
        for (int64_t k = 0; k < len; k += 2) {
            const uint64_t bits = fv__rng_next(&s);
            u[k] = (uint32_t)bits;
            u[k + 1] = (uint32_t)(bits >> 32);
        }
        /* Branch-free (a kept value is a coin flip the predictor cannot learn). */
        for (int64_t k = 0; k < len; k++) {
            const uint32_t keep = (uint64_t)u[k] >= threshold;
            mi[j0 + k] = (uint8_t)keep;
            yi[j0 + k] = xi[j0 + k] * ((float)keep * scale);
        }
    }
}

static void dropout_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const dropout_cfg *c = l->cfg;
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]);
    if (!r->training || c->rate == 0.0) {
        if (y != x) memcpy(y, x, (size_t)(n * size) * sizeof(float));
        return;
    }
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++)
        dropout_forward_sample(l, x + i * size, y + i * size, i, r);
}

/* dropout_backward's sample i (a ReLU's mask it leaves to the producer: a dropped value's
 * gradient dy·0 may be -0 or NaN, which the producer's mask keeps where its own output is > 0). */
static bool dropout_backward_sample(fv_layer *l, const float *y, const float *dy, float *dx,
                                    int64_t i, const fv_run *r, bool relu)
{
    (void)y, (void)relu;
    const dropout_cfg *c = l->cfg;
    const int64_t size = fv__shape_size(&l->in[0]);
    if (!r->training || c->rate == 0.0) {
        if (dx != dy) memcpy(dx, dy, (size_t)size * sizeof(float));
        return false;
    }
    FV_ASSERT(l->saved);
    const uint8_t *mask = (const uint8_t *)l->saved + i * size;
    const float scale = (float)(1.0 / (1.0 - c->rate));
    for (int64_t j = 0; j < size; j++)
        dx[j] = dy[j] * ((float)mask[j] * scale);
    return false;
}

static void dropout_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                             float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    (void)x, (void)y;
    const dropout_cfg *c = l->cfg;
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]);
    if (!dx) return;
    if (!r->training || c->rate == 0.0) {
        if (dx != dy) memcpy(dx, dy, (size_t)(n * size) * sizeof(float));
        return;
    }
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++)
        dropout_backward_sample(l, NULL, dy + i * size, dx + i * size, i, r, false);
}

/* The identity at inference, and in every run at rate 0 (fv_layer_kind.identity). */
static bool dropout_identity(const fv_layer *l, bool inference)
{
    return inference || ((const dropout_cfg *)l->cfg)->rate == 0.0;
}

const fv_layer_kind fv__kind_dropout = {
    .name = "dropout",
    .keras_class = "Dropout",
    .keras_name = "dropout",
    .args = dropout_args,
    .cfg_size = sizeof(dropout_cfg),
    .build = dropout_build,
    .scratch_bytes = NULL,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .activation = NULL,
    .identity = dropout_identity,
    .forward_sample = dropout_forward_sample,
    .backward_sample = dropout_backward_sample,
};
