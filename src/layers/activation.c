/* activation.c — the activation layers: Activation(name), ReLU (with Keras' max_value,
 * negative_slope and threshold), LeakyReLU, ELU, Softmax (over the last axis), and sigmoid and tanh
 * (Keras has no class for these two; they are Activation('sigmoid') and Activation('tanh')).
 * Element-wise, any input rank.
 */
#include "layers/layer.h"

#include "kernels/eltwise.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct act_cfg {
    int activation;        /* fv_activation: an argument of `activation`, fixed for the others */
    double negative_slope; /* leaky_relu, relu */
    double alpha;          /* elu */
    double max_value;      /* relu: NAN is None (no upper limit) */
    double threshold;      /* relu */
    float a;               /* derived by build: the slope or alpha in effect */
    bool general;          /* derived by relu_build: max_value, negative_slope or threshold set */
} act_cfg;

/* Each kind has its own table (even when empty): errors are named after the table's kind. */
#define OFF(f) offsetof(act_cfg, f)
static const fv_arg_spec activation_args[] = {
    {"activation", FV_ARG_CHOICE, OFF(activation), NULL, fv__activation_names, 0, 0},
    {0},
};
static const fv_arg_spec leaky_relu_args[] = {
    {"negative_slope", FV_ARG_FLOAT, OFF(negative_slope), "0.3", NULL, 0, DBL_MAX},
    {0},
};
static const fv_arg_spec elu_args[] = {
    {"alpha", FV_ARG_FLOAT, OFF(alpha), "1.0", NULL, 0, DBL_MAX},
    {0},
};
/* keras.layers.ReLU(max_value=None, negative_slope=0.0, threshold=0.0); Keras refuses negative
 * values of each. */
static const fv_arg_spec relu_args[] = {
    {"max_value", FV_ARG_FLOAT, OFF(max_value), "None", NULL, 0, DBL_MAX},
    {"negative_slope", FV_ARG_FLOAT, OFF(negative_slope), "0", NULL, 0, DBL_MAX},
    {"threshold", FV_ARG_FLOAT, OFF(threshold), "0", NULL, 0, DBL_MAX},
    {0},
};
static const fv_arg_spec sigmoid_args[] = {{0}};
static const fv_arg_spec tanh_args[] = {{0}};
static const fv_arg_spec softmax_args[] = {{0}};
#undef OFF

/* Shared by every kind here once the activation is known. */
static fv_status act_finish(fv_layer *l, fv_activation a, float alpha)
{
    act_cfg *c = l->cfg;
    c->activation = (int)a;
    c->a = alpha;
    if (fv__shape_size(&l->in[0]) < 0)
        return fv__fail(FV_ERR_SHAPE, "%s: input is too large", l->kind->name);
    l->out = l->in[0];
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = 0; /* backward reads y */
    return FV_OK;
}

static fv_status activation_build(fv_layer *l)
{
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    const fv_activation a = (fv_activation)((act_cfg *)l->cfg)->activation;
    return act_finish(l, a, fv__act_alpha(a));
}

/* With the default arguments, the plain ReLU max(x, 0): FV_ACT_RELU, the fast element-wise kernel,
 * and the activation the model may fuse. With any of them set, Keras' general form (relu_general
 * below), which fv__layer_activation reports as FV_ACT_LINEAR: no fv_activation names it, so
 * nothing may be fused into it or assumed of it as if it were max(x, 0). */
static fv_status relu_build(fv_layer *l)
{
    act_cfg *c = l->cfg;
    c->general = !isnan(c->max_value) || c->negative_slope != 0.0 || c->threshold != 0.0;
    return act_finish(l, c->general ? FV_ACT_LINEAR : FV_ACT_RELU, 0.0f);
}

static fv_status sigmoid_build(fv_layer *l)
{
    return act_finish(l, FV_ACT_SIGMOID, 0.0f);
}

static fv_status tanh_build(fv_layer *l)
{
    return act_finish(l, FV_ACT_TANH, 0.0f);
}

static fv_status leaky_relu_build(fv_layer *l)
{
    return act_finish(l, FV_ACT_LEAKY_RELU, (float)((act_cfg *)l->cfg)->negative_slope);
}

static fv_status elu_build(fv_layer *l)
{
    return act_finish(l, FV_ACT_ELU, (float)((act_cfg *)l->cfg)->alpha);
}

static fv_status softmax_build(fv_layer *l)
{
    return act_finish(l, FV_ACT_SOFTMAX, 0.0f);
}

/* The last axis: softmax normalises over it. */
static int64_t last_axis(const fv_layer *l)
{
    return l->in[0].d[l->in[0].rank - 1];
}

static void act_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const act_cfg *c = l->cfg;
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]), cols = last_axis(l);
    const fv_activation a = (fv_activation)c->activation;

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
    const fv__elt_ops *ops = fv__elt();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        float *yi = y + i * size;
        if (a == FV_ACT_RELU) { /* one pass, not a copy and a pass */
            ops->relu_forward(x + i * size, yi, size);
            continue;
        }
        if (y != x) memcpy(yi, x + i * size, (size_t)size * sizeof(float));
        fv__act_forward_rows(a, c->a, yi, size / cols, cols);
    }
}

static void act_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                         float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    (void)x;
    const act_cfg *c = l->cfg;
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]), cols = last_axis(l);
    const fv_activation a = l->fused_act ? FV_ACT_LINEAR : (fv_activation)c->activation;
    if (!dx) return;

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
    const fv__elt_ops *ops = fv__elt();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        float *dxi = dx + i * size;
        if (a == FV_ACT_RELU) {
            ops->relu_backward(y + i * size, dy + i * size, dxi, size);
            continue;
        }
        if (dx != dy) memcpy(dxi, dy + i * size, (size_t)size * sizeof(float));
        fv__act_backward_rows(a, c->a, y + i * size, dxi, size / cols, cols);
    }
}

static fv_activation act_activation(const fv_layer *l)
{
    return (fv_activation)((const act_cfg *)l->cfg)->activation;
}

/* ---- ReLU with max_value, negative_slope or threshold ---------------------------------------
 * keras.activations.relu (Keras 3, ReLU.static_call): x·[x > threshold], clipped to
 * [0, max_value], minus negative_slope·relu(threshold − x). That is
 *   f(x) = min(x, max_value)                 for x > threshold
 *   f(x) = negative_slope·(x − threshold)    otherwise (so f(threshold) = 0, as Keras: the
 *                                            documented "x for threshold <= x" holds only for 0)
 * and NaN stays NaN. The derivative, from the input x (y cannot tell the pieces apart when
 * max_value < threshold or negative_slope > 0): 1 for threshold < x < max_value, 0 for
 * x >= max_value (PyTorch's hardtanh and TensorFlow's relu6 also pass nothing at the limit),
 * negative_slope for x <= threshold. */

typedef struct relu_params {
    float max_value, negative_slope, threshold;
} relu_params;

static relu_params relu_params_of(const act_cfg *c)
{
    return (relu_params){.max_value = isnan(c->max_value) ? INFINITY : (float)c->max_value,
                         .negative_slope = (float)c->negative_slope,
                         .threshold = (float)c->threshold};
}

static void relu_general_forward(const relu_params *p, const float *x, float *y, int64_t size)
{
    for (int64_t k = 0; k < size; k++) {
        const float v = x[k];
        y[k] = v > p->threshold ? (v < p->max_value ? v : p->max_value)
                                : p->negative_slope * (v - p->threshold);
    }
}

/* g [size] in place: ∂L/∂y → ∂L/∂x. */
static void relu_general_backward(const relu_params *p, const float *x, float *g, int64_t size)
{
    for (int64_t k = 0; k < size; k++) {
        const float v = x[k];
        g[k] *= v > p->threshold ? (v < p->max_value ? 1.0f : 0.0f) : p->negative_slope;
    }
}

static void relu_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const act_cfg *c = l->cfg;
    if (!c->general) {
        act_forward(l, xs, y, r);
        return;
    }
    const float *x = xs[0];
    const relu_params p = relu_params_of(c);
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]);
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++)
        relu_general_forward(&p, x + i * size, y + i * size, size);
}

static void relu_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                          float *const *dxs, fv_run *r)
{
    const act_cfg *c = l->cfg;
    if (!c->general || l->fused_act) {
        act_backward(l, xs, y, dy, dxs, r);
        return;
    }
    const float *x = xs[0];
    float *dx = dxs[0];
    if (!dx) return;
    const relu_params p = relu_params_of(c);
    const int64_t n = r->n, size = fv__shape_size(&l->in[0]);
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * size);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        float *dxi = dx + i * size;
        if (dx != dy) memcpy(dxi, dy + i * size, (size_t)size * sizeof(float));
        relu_general_backward(&p, x + i * size, dxi, size);
    }
}

#define ACT_KIND_WITH(id, class, prefix, fwd, bwd)                                                 \
    const fv_layer_kind fv__kind_##id = {                                                          \
        .name = #id,                                                                               \
        .keras_class = class,                                                                      \
        .keras_name = prefix,                                                                      \
        .args = id##_args,                                                                         \
        .cfg_size = sizeof(act_cfg),                                                               \
        .build = id##_build,                                                                       \
        .scratch_bytes = NULL,                                                                     \
        .forward = fwd,                                                                            \
        .backward = bwd,                                                                           \
        .activation = act_activation,                                                              \
    }
#define ACT_KIND(id, class, prefix) ACT_KIND_WITH(id, class, prefix, act_forward, act_backward)

ACT_KIND(activation, "Activation", "activation");
ACT_KIND_WITH(relu, "ReLU", "re_lu", relu_forward, relu_backward);
ACT_KIND(sigmoid, "Activation", "activation");
ACT_KIND(tanh, "Activation", "activation");
ACT_KIND(leaky_relu, "LeakyReLU", "leaky_re_lu");
ACT_KIND(elu, "ELU", "elu");
ACT_KIND(softmax, "Softmax", "softmax");
