/* gaussian_noise.c — GaussianNoise (Keras): in training, y = x + stddev·ε with ε ~ N(0, 1) drawn
 * from the run's stream (one derived stream per sample); at inference the identity. The noise is
 * additive, so backward is the identity in both modes and nothing is kept for it.
 */
#include "layers/layer.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct gaussian_noise_cfg {
    double stddev;
} gaussian_noise_cfg;

static const fv_arg_spec gaussian_noise_args[] = {
    {"stddev", FV_ARG_FLOAT, offsetof(gaussian_noise_cfg, stddev), NULL, NULL, 0, 1e6},
    {0},
};

static fv_status gaussian_noise_build(fv_layer *l)
{
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    if (fv__shape_size(&l->in[0]) < 0)
        return fv__fail(FV_ERR_SHAPE, "gaussian_noise: input is too large");
    l->out = l->in[0];
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = 0;
    return FV_OK;
}

static void gaussian_noise_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const gaussian_noise_cfg *c = l->cfg;
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]);
    if (!r->training || c->stddev == 0.0) {
        if (y != x) memcpy(y, x, (size_t)(n * size) * sizeof(float));
        return;
    }
    FV_ASSERT(r->rng);
    const double sd = c->stddev;
    /* Sample i draws from its own stream split off the run's by its index in the batch: the same
     * noise whatever the thread count or the process holding it (and x may alias y: each value is
     * read once, before it is written). */
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        fv_rng s;
        fv__run_sample(r, i, &s);
        for (int64_t j = i * size; j < (i + 1) * size; j++)
            y[j] = (float)((double)x[j] + sd * fv__rng_normal(&s));
    }
}

static void gaussian_noise_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                                    float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    float *dx = dxs[0];
    if (dx && dx != dy) memcpy(dx, dy, (size_t)(r->n * fv__shape_size(&l->in[0])) * sizeof(float));
}

/* The identity at inference, and in every run at stddev 0 (fv_layer_kind.identity). */
static bool gaussian_noise_identity(const fv_layer *l, bool inference)
{
    return inference || ((const gaussian_noise_cfg *)l->cfg)->stddev == 0.0;
}

const fv_layer_kind fv__kind_gaussian_noise = {
    .name = "gaussian_noise",
    .keras_class = "GaussianNoise",
    .keras_name = "gaussian_noise",
    .args = gaussian_noise_args,
    .cfg_size = sizeof(gaussian_noise_cfg),
    .build = gaussian_noise_build,
    .forward = gaussian_noise_forward,
    .backward = gaussian_noise_backward,
    .identity = gaussian_noise_identity,
};
