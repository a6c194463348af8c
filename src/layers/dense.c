/* dense.c — Dense: Y = act(X·W + b) with W as (in, units), Keras' layout. Work is split across
 * threads in fixed blocks of rows (of Y, dX or dW) that depend on the sizes only, so every result
 * is computed by the same GEMM calls whatever the thread count: bit-identical.
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct dense_cfg {
    int64_t units;
    int activation; /* fv_activation */
    bool use_bias;
} dense_cfg;

#define OFF(f) offsetof(dense_cfg, f)
static const fv_arg_spec dense_args[] = {
    {"units", FV_ARG_INT, OFF(units), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"activation", FV_ARG_CHOICE, OFF(activation), "linear", fv__activation_names, 0, 0},
    {"use_bias", FV_ARG_BOOL, OFF(use_bias), "true", NULL, 0, 0},
    {0},
};
#undef OFF

/* Rows of X (forward, dX) per block, and rows of dW (input features) per block. */
enum { BATCH_BLOCK = 32, WEIGHT_BLOCK = 64 };

static fv_status dense_build(fv_layer *l)
{
    dense_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    if (l->in.rank != 1) {
        char in[96];
        fv__shape_format(&l->in, in, sizeof in);
        return fv__fail(FV_ERR_SHAPE, "dense: input %s has rank %d; add a flatten layer before it",
                        in, l->in.rank);
    }
    const int64_t in = l->in.d[0];
    int64_t ksize;
    if (!fv__mul_i64(in, c->units, &ksize) || ksize > INT64_MAX / 64)
        return fv__fail(FV_ERR_SHAPE, "dense: a kernel of %lld x %lld is too large", (long long)in,
                        (long long)c->units);
    l->out = (fv_shape){.rank = 1, .d = {c->units}};

    memset(l->params, 0, sizeof l->params);
    fv_param *k = &l->params[0];
    strcpy(k->suffix, "kernel");
    k->rank = 2;
    k->dims[0] = in, k->dims[1] = c->units;
    k->size = ksize;
    k->init = FV_INIT_GLOROT_UNIFORM;
    k->fan_in = in;
    k->fan_out = c->units;
    l->nparams = 1;
    if (c->use_bias) {
        fv_param *b = &l->params[1];
        strcpy(b->suffix, "bias");
        b->rank = 1;
        b->dims[0] = c->units;
        b->size = c->units;
        b->init = FV_INIT_ZEROS;
        l->nparams = 2;
    }
    l->saved_per_sample = 0;
    return FV_OK;
}

static int64_t blocks(int64_t rows, int64_t per)
{
    return (rows + per - 1) / per;
}

static void dense_forward(fv_layer *l, const float *x, float *y, fv_run *r)
{
    const dense_cfg *c = l->cfg;
    const int64_t n = r->n, in = l->in.d[0], units = c->units;
    const float *w = l->params[0].w, *b = c->use_bias ? l->params[1].w : NULL;
    const fv_activation act = (fv_activation)c->activation;
    const float alpha = fv__act_alpha(act);
    const int64_t nb = blocks(n, BATCH_BLOCK);

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * in * units);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t blk = 0; blk < nb; blk++) {
        const int64_t r0 = blk * BATCH_BLOCK, m = n - r0 < BATCH_BLOCK ? n - r0 : BATCH_BLOCK;
        float *yb = y + r0 * units;
        fv_gemm(false, false, m, units, in, 1.0f, x + r0 * in, in, w, units, 0.0f, yb, units);
        if (b)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < units; j++)
                    yb[i * units + j] += b[j];
        fv__act_forward_rows(act, alpha, yb, m, units);
    }
}

static void dense_backward(fv_layer *l, const float *x, const float *y, float *dy, float *dx,
                           fv_run *r)
{
    const dense_cfg *c = l->cfg;
    const int64_t n = r->n, in = l->in.d[0], units = c->units;
    const fv_activation act = l->fused_act ? FV_ACT_LINEAR : (fv_activation)c->activation;
    const float alpha = fv__act_alpha(act);
    const float *w = l->params[0].w;
    float *kg = l->params[0].g, *bg = c->use_bias ? l->params[1].g : NULL;
    const int64_t nb = blocks(n, BATCH_BLOCK), wb = blocks(in, WEIGHT_BLOCK);

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * in * units);
#pragma omp parallel num_threads(threads)
    {
        if (act != FV_ACT_LINEAR) {
#pragma omp for schedule(static)
            for (int64_t blk = 0; blk < nb; blk++) {
                const int64_t r0 = blk * BATCH_BLOCK;
                const int64_t m = n - r0 < BATCH_BLOCK ? n - r0 : BATCH_BLOCK;
                fv__act_backward_rows(act, alpha, y + r0 * units, dy + r0 * units, m, units);
            }
        }
        /* dW[in × units] += Xᵀ·dY, by blocks of dW's rows; Xᵀ is read from X stored n × in. */
#pragma omp for schedule(static) nowait
        for (int64_t blk = 0; blk < wb; blk++) {
            const int64_t r0 = blk * WEIGHT_BLOCK;
            const int64_t m = in - r0 < WEIGHT_BLOCK ? in - r0 : WEIGHT_BLOCK;
            fv_gemm(true, false, m, units, n, 1.0f, x + r0, in, dy, units, 1.0f, kg + r0 * units,
                    units);
        }
        /* db += column sums of dY, each column summed in sample order. */
        if (bg) {
#pragma omp for schedule(static) nowait
            for (int64_t j = 0; j < units; j++) {
                float sum = 0.0f;
                for (int64_t i = 0; i < n; i++)
                    sum += dy[i * units + j];
                bg[j] += sum;
            }
        }
        /* dX[n × in] = dY·Wᵀ; Wᵀ is read from W stored in × units. */
        if (dx) {
#pragma omp for schedule(static)
            for (int64_t blk = 0; blk < nb; blk++) {
                const int64_t r0 = blk * BATCH_BLOCK;
                const int64_t m = n - r0 < BATCH_BLOCK ? n - r0 : BATCH_BLOCK;
                fv_gemm(false, true, m, in, units, 1.0f, dy + r0 * units, units, w, units, 0.0f,
                        dx + r0 * in, in);
            }
        }
    }
}

static fv_activation dense_activation(const fv_layer *l)
{
    return (fv_activation)((const dense_cfg *)l->cfg)->activation;
}

const fv_layer_kind fv__kind_dense = {
    .name = "dense",
    .keras_class = "Dense",
    .keras_name = "dense",
    .args = dense_args,
    .cfg_size = sizeof(dense_cfg),
    .build = dense_build,
    .scratch_bytes = NULL,
    .forward = dense_forward,
    .backward = dense_backward,
    .activation = dense_activation,
};
