/* augment_value.c — Keras 3's preprocessing layers that change values, not places:
 * random_contrast and random_brightness (random in training, the identity at inference), and
 * rescaling and normalization (always). fovea's pixels arrive in [0, 1], so value_range defaults
 * to 0,1 here where Keras' default is (0, 255).
 */
#include "layers/augment.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct jitter_cfg {
    fv_floats factor, value_range;
} jitter_cfg;

typedef struct rescaling_cfg {
    double scale, offset;
} rescaling_cfg;

typedef struct normalization_cfg {
    fv_floats mean, variance;
    bool invert, adapt;
} normalization_cfg;

#define OFF(f) offsetof(jitter_cfg, f)
static const fv_arg_spec contrast_args[] = {
    {"factor", FV_ARG_FLOATS, OFF(factor), NULL, NULL, 0, 1},
    {"value_range", FV_ARG_FLOATS, OFF(value_range), "0,1", NULL, -1e30, 1e30},
    {0},
};
static const fv_arg_spec brightness_args[] = {
    {"factor", FV_ARG_FLOATS, OFF(factor), NULL, NULL, -1, 1},
    {"value_range", FV_ARG_FLOATS, OFF(value_range), "0,1", NULL, -1e30, 1e30},
    {0},
};
#undef OFF

static const fv_arg_spec rescaling_args[] = {
    {"scale", FV_ARG_FLOAT, offsetof(rescaling_cfg, scale), NULL, NULL, -1e30, 1e30},
    {"offset", FV_ARG_FLOAT, offsetof(rescaling_cfg, offset), "0", NULL, -1e30, 1e30},
    {0},
};

static const fv_arg_spec normalization_args[] = {
    {"mean", FV_ARG_FLOATS, offsetof(normalization_cfg, mean), "None", NULL, -1e30, 1e30},
    {"variance", FV_ARG_FLOATS, offsetof(normalization_cfg, variance), "None", NULL, 0, 1e30},
    {"invert", FV_ARG_BOOL, offsetof(normalization_cfg, invert), "false", NULL, 0, 0},
    {"adapt", FV_ARG_BOOL, offsetof(normalization_cfg, adapt), "false", NULL, 0, 0},
    {0},
};

/* ---- random_contrast and random_brightness ------------------------------------------------ */

/* The range a sample's draw comes from: random_contrast's factor f gives contrast factors in
 * [1 - f, 1 + f] (two numbers a ≤ b: [1 - a, 1 + b]), as keras.layers.RandomContrast documents;
 * random_brightness's gives [-|f|, |f|] or [a, b], times the width of value_range. (Keras 3's code
 * turns a single contrast factor into [1, 1 + f]; fovea follows its documentation.) */
static void jitter_range(const fv_layer *l, double range[2])
{
    const jitter_cfg *c = l->cfg;
    if (l->kind == &fv__kind_random_contrast) {
        /* Two numbers are sorted first, as Keras does. */
        const double a = c->factor.v[0], b = c->factor.n == 2 ? c->factor.v[1] : a;
        range[0] = 1.0 - fmin(a, b), range[1] = 1.0 + fmax(a, b);
        return;
    }
    fv__augment_factor(l, "factor", &c->factor, range); /* checked by build */
    const double width = c->value_range.v[1] - c->value_range.v[0];
    range[0] *= width, range[1] *= width;
}

static fv_status jitter_build(fv_layer *l)
{
    const jitter_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    if (l->in[0].rank != 3) {
        char in[96];
        fv__shape_format(&l->in[0], in, sizeof in);
        return fv__fail(FV_ERR_SHAPE,
                        "%s: input %s has rank %d; %s needs images (None, height, width, channels)",
                        l->kind->name, in, l->in[0].rank, l->kind->name);
    }
    double r[2];
    if ((s = fv__augment_factor(l, "factor", &c->factor, r))) return s;
    if (c->value_range.n != 2 || !(c->value_range.v[0] < c->value_range.v[1]))
        return fv__fail(FV_ERR_INVALID,
                        "%s: argument value_range: expected two numbers low,high with low < high "
                        "(0,1 for fovea's pixels, 0,255 for Keras')",
                        l->kind->name);
    l->out = l->in[0];
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = sizeof(double); /* the sample's contrast factor or brightness delta */
    return FV_OK;
}

/* In training: contrast y = clip((x - m)·f + m) with m the mean of each channel of the image
 * (keras.layers.RandomContrast); brightness y = clip(x + δ) (RandomBrightness); the clip is to
 * value_range. Each sample draws f or δ from its own stream. */
static void jitter_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const jitter_cfg *c = l->cfg;
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]), C = l->in[0].d[2];
    const int64_t hw = size / C;
    if (!r->training) {
        if (y != x) memcpy(y, x, (size_t)(n * size) * sizeof(float));
        return;
    }
    FV_ASSERT(l->saved && r->rng);
    double range[2];
    jitter_range(l, range);
    const float lo = (float)c->value_range.v[0], hi = (float)c->value_range.v[1];
    const bool contrast = l->kind == &fv__kind_random_contrast;
    double *saved = l->saved;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        fv_rng st;
        fv__run_sample(r, i, &st);
        const double v = fv__augment_uniform(&st, range[0], range[1]);
        saved[i] = v;
        const float *xi = x + i * size;
        float *yi = y + i * size;
        for (int64_t ch = 0; ch < C; ch++) {
            float scale = 1.0f, shift = (float)v;
            if (contrast) {
                double sum = 0;
                for (int64_t p = 0; p < hw; p++)
                    sum += xi[p * C + ch];
                const double m = sum / (double)hw;
                scale = (float)v, shift = (float)(m - m * v);
            }
            for (int64_t p = 0; p < hw; p++) {
                const float t = xi[p * C + ch] * scale + shift;
                yi[p * C + ch] = t < lo ? lo : t > hi ? hi : t;
            }
        }
    }
}

/* dx = mask·f·dy + (1 - f)/HW · Σ mask·dy over the channel (contrast), mask·dy (brightness),
 * where mask is 1 where the output lies strictly inside value_range (the clip passes no
 * gradient where it acted). */
static void jitter_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                            float *const *dxs, fv_run *r)
{
    (void)xs;
    float *dx = dxs[0];
    const jitter_cfg *c = l->cfg;
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]), C = l->in[0].d[2];
    const int64_t hw = size / C;
    if (!dx) return;
    if (!r->training) {
        memcpy(dx, dy, (size_t)(n * size) * sizeof(float));
        return;
    }
    FV_ASSERT(l->saved);
    const double *saved = l->saved;
    const float lo = (float)c->value_range.v[0], hi = (float)c->value_range.v[1];
    const bool contrast = l->kind == &fv__kind_random_contrast;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        const float *yi = y + i * size, *gi = dy + i * size;
        float *dxi = dx + i * size;
        const float f = contrast ? (float)saved[i] : 1.0f;
        for (int64_t ch = 0; ch < C; ch++) {
            double sum = 0;
            for (int64_t p = 0; p < hw; p++) {
                const int64_t j = p * C + ch;
                const float g = yi[j] > lo && yi[j] < hi ? gi[j] : 0.0f;
                dxi[j] = f * g;
                sum += g;
            }
            if (!contrast) continue;
            const float add = (float)((1.0 - (double)f) * sum / (double)hw);
            for (int64_t p = 0; p < hw; p++)
                dxi[p * C + ch] += add;
        }
    }
}

/* ---- rescaling and normalization ---------------------------------------------------------- */

static fv_status affine_build(fv_layer *l)
{
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    if (fv__shape_size(&l->in[0]) < 0)
        return fv__fail(FV_ERR_SHAPE, "%s: input is too large", l->kind->name);
    l->out = l->in[0];
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = 0;
    if (l->kind != &fv__kind_normalization) return FV_OK;
    const normalization_cfg *c = l->cfg;
    const int64_t last = l->in[0].d[l->in[0].rank - 1];
    if (c->adapt) {
        if (c->mean.n || c->variance.n)
            return fv__fail(FV_ERR_INVALID,
                            "normalization: adapt=true computes mean and variance from the "
                            "training data; give either adapt=true or mean= and variance=");
        /* Keras' non-trainable weights of an adapted Normalization: set by fit (count > 0). */
        const int64_t dims[1] = {last}, one[1] = {1};
        fv__param_set(&l->params[l->nparams++], "mean", 1, dims, FV_INIT_ZEROS, true);
        fv__param_set(&l->params[l->nparams++], "variance", 1, dims, FV_INIT_ONES, true);
        fv__param_set(&l->params[l->nparams++], "count", 1, one, FV_INIT_ZEROS, true);
        return FV_OK;
    }
    if (!c->mean.n || !c->variance.n)
        return fv__fail(FV_ERR_INVALID,
                        "normalization: give mean= and variance= (one value, or one per value of "
                        "the last axis), or adapt=true to compute them from the training data");
    if (c->mean.n != c->variance.n || (c->mean.n != 1 && c->mean.n != last))
        return fv__fail(FV_ERR_INVALID,
                        "normalization: mean has %d values and variance %d; each needs 1 value "
                        "or one per value of the last axis (%lld)",
                        c->mean.n, c->variance.n, (long long)last);
    return FV_OK;
}

/* The scale and shift of position j of the last axis: rescaling y = x·scale + offset
 * (keras.layers.Rescaling); normalization y = (x - mean) / max(√variance, 1e-7), or with invert
 * y = x·max(√variance, 1e-7) + mean (keras.layers.Normalization; 1e-7 is Keras'
 * backend.epsilon()), with its arguments or, adapted, its weights. */
static void affine_coeff(const fv_layer *l, int64_t j, float *scale, float *shift)
{
    if (l->kind == &fv__kind_rescaling) {
        const rescaling_cfg *c = l->cfg;
        *scale = (float)c->scale, *shift = (float)c->offset;
        return;
    }
    const normalization_cfg *c = l->cfg;
    double mean, var;
    if (c->adapt) {
        mean = l->params[0].w[j], var = l->params[1].w[j];
    } else {
        const int k = c->mean.n == 1 ? 0 : (int)j;
        mean = c->mean.v[k], var = c->variance.v[k];
    }
    const double sd = fmax(sqrt(var), 1e-7);
    if (c->invert)
        *scale = (float)sd, *shift = (float)mean;
    else
        *scale = (float)(1.0 / sd), *shift = (float)(-mean / sd);
}

/* y = x·scale + shift, or (backward, x = dy) dx = dy·scale, with the coefficients of the
 * position on the last axis (worked out once for the first COEFS positions). */
static void affine_apply(const fv_layer *l, const float *x, float *y, fv_run *r, bool backward)
{
    enum { COEFS = 256 };
    const int64_t size = fv__shape_size(&l->in[0]), last = l->in[0].d[l->in[0].rank - 1];
    const int64_t rows = r->n * size / last, k = last < COEFS ? last : COEFS;
    float scale[COEFS], shift[COEFS];
    for (int64_t j = 0; j < k; j++) {
        affine_coeff(l, j, &scale[j], &shift[j]);
        if (backward) shift[j] = 0.0f;
    }
    const int threads FV_OMP_ONLY = fv__work_threads(r, rows * last);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < last; j++) {
            float a, b;
            if (j < k)
                a = scale[j], b = shift[j];
            else
                affine_coeff(l, j, &a, &b);
            y[i * last + j] = x[i * last + j] * a + (backward ? 0.0f : b);
        }
}

static void affine_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    affine_apply(l, xs[0], y, r, false);
}

static void affine_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                            float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    if (dxs[0]) affine_apply(l, dy, dxs[0], r, true);
}

/* ---- the kinds ---------------------------------------------------------------------------- */

const fv_layer_kind fv__kind_random_contrast = {
    .name = "random_contrast",
    .keras_class = "RandomContrast",
    .keras_name = "random_contrast",
    .args = contrast_args,
    .cfg_size = sizeof(jitter_cfg),
    .build = jitter_build,
    .forward = jitter_forward,
    .backward = jitter_backward,
};

const fv_layer_kind fv__kind_random_brightness = {
    .name = "random_brightness",
    .keras_class = "RandomBrightness",
    .keras_name = "random_brightness",
    .args = brightness_args,
    .cfg_size = sizeof(jitter_cfg),
    .build = jitter_build,
    .forward = jitter_forward,
    .backward = jitter_backward,
};

const fv_layer_kind fv__kind_rescaling = {
    .name = "rescaling",
    .keras_class = "Rescaling",
    .keras_name = "rescaling",
    .args = rescaling_args,
    .cfg_size = sizeof(rescaling_cfg),
    .build = affine_build,
    .forward = affine_forward,
    .backward = affine_backward,
};

const fv_layer_kind fv__kind_normalization = {
    .name = "normalization",
    .keras_class = "Normalization",
    .keras_name = "normalization",
    .args = normalization_args,
    .cfg_size = sizeof(normalization_cfg),
    .build = affine_build,
    .forward = affine_forward,
    .backward = affine_backward,
};

bool fv__augment_is_preprocessing(const fv_layer *l)
{
    static const fv_layer_kind *const kinds[] = {
        &fv__kind_random_flip, &fv__kind_random_translation, &fv__kind_random_rotation,
        &fv__kind_random_zoom, &fv__kind_random_crop,        &fv__kind_center_crop,
        &fv__kind_resizing,    &fv__kind_random_contrast,    &fv__kind_random_brightness,
        &fv__kind_rescaling,   &fv__kind_normalization,
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (l->kind == kinds[i]) return true;
    return false;
}

bool fv__augment_rescaling(const fv_layer *l, double *scale, double *offset)
{
    if (l->kind != &fv__kind_rescaling) return false;
    const rescaling_cfg *c = l->cfg;
    *scale = c->scale, *offset = c->offset;
    return true;
}

bool fv__augment_needs_adapt(const fv_layer *l)
{
    if (l->kind != &fv__kind_normalization) return false;
    const normalization_cfg *c = l->cfg;
    return c->adapt && l->params[2].w && l->params[2].w[0] == 0.0f;
}

void fv__augment_adapted(fv_layer *l, const double *mean, const double *variance, double count)
{
    FV_ASSERT(l->kind == &fv__kind_normalization && l->nparams == 3);
    for (int64_t j = 0; j < l->params[0].size; j++)
        l->params[0].w[j] = (float)mean[j], l->params[1].w[j] = (float)variance[j];
    l->params[2].w[0] = (float)count;
}
