/* sampling.c — the VAE's reparameterisation (Keras' VAE example's Sampling layer): from inputs
 * z_mean and z_log_var, z = z_mean + exp(½·z_log_var)·ε with ε ~ N(0, I), in training and (by
 * default, as the example's layer) at inference; and the KL divergence of N(z_mean, exp(z_log_var))
 * from N(0, I) as an added loss, the example's kl_loss:
 *   KL = mean over the batch of Σⱼ −½(1 + z_log_var − z_mean² − exp(z_log_var)).
 */
#include "layers/layer.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sampling_cfg {
    int inference; /* 0: sample (Keras' example), 1: z = z_mean */
} sampling_cfg;

static const char *const inference_names[] = {"sample", "mean", NULL};

static const fv_arg_spec sampling_args[] = {
    {"inference", FV_ARG_CHOICE, offsetof(sampling_cfg, inference), "sample", inference_names, 0,
     0},
    {0},
};

static fv_status sampling_build(fv_layer *l)
{
    if (l->nin != 2)
        return fv__fail(FV_ERR_INVALID,
                        "sampling: takes two inputs, z_mean and z_log_var (inputs=MEAN,LOG_VAR); "
                        "got %d",
                        l->nin);
    bool same = l->in[0].rank == l->in[1].rank;
    for (int i = 0; same && i < l->in[0].rank; i++)
        same = l->in[0].d[i] == l->in[1].d[i];
    if (!same) {
        char a[96], b[96];
        fv__shape_format(&l->in[0], a, sizeof a);
        fv__shape_format(&l->in[1], b, sizeof b);
        return fv__fail(FV_ERR_SHAPE,
                        "sampling: z_mean has shape %s but z_log_var has shape %s: they must match",
                        a, b);
    }
    const int64_t size = fv__shape_size(&l->in[0]);
    if (size < 0 || size > (int64_t)(SIZE_MAX / 8))
        return fv__fail(FV_ERR_SHAPE, "sampling: input is too large");
    l->out = l->in[0];
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = (size_t)size * sizeof(float); /* ε, for backward */
    return FV_OK;
}

/* A 64-bit hash of a sample's inputs (FNV-1a over their bits): names its ε stream at inference. */
static uint64_t sample_hash(const float *mu, const float *lv, int64_t size)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int64_t j = 0; j < size; j++) {
        uint32_t a, b;
        memcpy(&a, mu + j, 4);
        memcpy(&b, lv + j, 4);
        h = (h ^ a) * 0x100000001b3ULL;
        h = (h ^ b) * 0x100000001b3ULL;
    }
    return h;
}

static void sampling_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const sampling_cfg *c = l->cfg;
    const float *mu = xs[0], *lv = xs[1];
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]);
    if (!r->training && c->inference == 1) {
        if (y != mu) memcpy(y, mu, (size_t)(n * size) * sizeof(float));
        return;
    }
    FV_ASSERT(r->rng);
    float *eps = l->saved; /* NULL in a lean (inference) plan */
    const fv_rng *rng = r->rng;
    const bool training = r->training;
    /* Sample i's ε comes from its own stream split off the layer's stream for this step: by its
     * index in the batch in training (fv__run_sample: each step has its own stream, and a process
     * of data-parallel training draws what one process would); at inference, where every batch
     * gets the same stream, by its index in the evaluated data (r->index0 + i) and its inputs'
     * bits: so that evaluation gives each image its own ε whatever the batch size, and two
     * images with bit-identical codes (a dead encoder layer gives many) still draw apart. Thread
     * count changes nothing. */
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        const float *m = mu + i * size, *v = lv + i * size;
        fv_rng s;
        if (training)
            fv__run_sample(r, i, &s);
        else {
            fv_rng by_bits;
            fv__rng_split(rng, sample_hash(m, v, size), &by_bits);
            fv__rng_split(&by_bits, (uint64_t)(r->index0 + i), &s);
        }
        float *yi = y + i * size;
        for (int64_t j = 0; j < size; j++) {
            const float e = (float)fv__rng_normal(&s);
            if (eps) eps[i * size + j] = e;
            yi[j] = m[j] + expf(0.5f * v[j]) * e;
        }
    }
}

/* KL = (1/n) Σᵢⱼ −½(1 + lv − μ² − e^lv), summed in double in memory order. */
static double sampling_loss(const fv_layer *l, const float *const *xs, const float *y, int64_t n)
{
    (void)y;
    const float *mu = xs[0], *lv = xs[1];
    const int64_t count = n * fv__shape_size(&l->in[0]);
    double sum = 0;
    for (int64_t i = 0; i < count; i++) {
        const double m = mu[i], v = lv[i];
        sum += -0.5 * (1.0 + v - m * m - exp(v));
    }
    return n ? sum / (double)n : 0.0;
}

/* dμ = dz + μ/n; dlv = dz·½·e^(lv/2)·ε + ½(e^lv − 1)/n (the second terms from KL). */
static void sampling_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                              float *const *dxs, fv_run *r)
{
    (void)y;
    const sampling_cfg *c = l->cfg;
    const float *mu = xs[0], *lv = xs[1];
    float *dmu = dxs[0], *dlv = dxs[1];
    /* KL is a mean over the whole batch, also when this run holds a slice of it. */
    const int64_t count = r->n * fv__shape_size(&l->in[0]);
    const bool mean = !r->training && c->inference == 1;
    const float *eps = l->saved;
    FV_ASSERT(mean || eps);
    const float inv = 1.0f / (float)fv__run_batch(r);
    if (dmu)
        for (int64_t i = 0; i < count; i++)
            dmu[i] = dy[i] + mu[i] * inv;
    if (dlv)
        for (int64_t i = 0; i < count; i++) {
            const float e = expf(0.5f * lv[i]);
            dlv[i] = (mean ? 0.0f : dy[i] * 0.5f * e * eps[i]) + 0.5f * (e * e - 1.0f) * inv;
        }
}

const fv_layer_kind fv__kind_sampling = {
    .name = "sampling",
    .keras_class = "Sampling",
    .keras_name = "sampling",
    .args = sampling_args,
    .cfg_size = sizeof(sampling_cfg),
    .min_inputs = 2,
    .max_inputs = 2,
    .build = sampling_build,
    .forward = sampling_forward,
    .backward = sampling_backward,
    .loss = sampling_loss,
    .added_loss = "kl_loss",
};
