/* batch_normalization.c — BatchNormalization over the last axis (channels), as Keras 3 defines
 * it: in training mode y = gamma·(x − mean)/sqrt(var + epsilon) + beta with the batch's mean and
 * biased variance, and the moving statistics updated as moving·momentum + batch·(1 − momentum);
 * in inference mode (and when the layer is frozen) the moving statistics take their place.
 * Sums over the batch run in fixed chunks of samples, in double, added in chunk order: the
 * result does not depend on the thread count.
 */
#include "layers/layer.h"

#include "kernels/eltwise.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct bn_cfg {
    int64_t axis;
    double momentum, epsilon;
    bool center, scale;
} bn_cfg;

#define OFF(f) offsetof(bn_cfg, f)
static const fv_arg_spec bn_args[] = {
    {"axis", FV_ARG_INT, OFF(axis), "-1", NULL, -4, 4},
    {"momentum", FV_ARG_FLOAT, OFF(momentum), "0.99", NULL, 0, 1},
    {"epsilon", FV_ARG_FLOAT, OFF(epsilon), "0.001", NULL, 0, DBL_MAX},
    {"center", FV_ARG_BOOL, OFF(center), "true", NULL, 0, 0},
    {"scale", FV_ARG_BOOL, OFF(scale), "true", NULL, 0, 0},
    {0},
};
#undef OFF

/* The tensors, in Keras' order: gamma (scale), beta (center), moving_mean, moving_variance. */
typedef struct bn_tensors {
    const float *gamma, *beta; /* NULL when scale / center is off (1 and 0) */
    float *dgamma, *dbeta;
    float *mean, *var; /* the moving statistics */
} bn_tensors;

static bn_tensors tensors(fv_layer *l)
{
    const bn_cfg *c = l->cfg;
    bn_tensors t = {0};
    int p = 0;
    if (c->scale) t.gamma = l->params[p].w, t.dgamma = l->params[p].g, p++;
    if (c->center) t.beta = l->params[p].w, t.dbeta = l->params[p].g, p++;
    t.mean = l->params[p].w;
    t.var = l->params[p + 1].w;
    return t;
}

static int64_t channels(const fv_layer *l)
{
    return l->in[0].d[l->in[0].rank - 1];
}

static fv_status bn_build(fv_layer *l)
{
    bn_cfg *c = l->cfg;
    const int rank = l->in[0].rank;
    if (c->axis != -1 && c->axis != rank)
        return fv__fail(FV_ERR_INVALID,
                        "batch_normalization: axis=%lld: only the last axis (-1, or %d with the "
                        "batch axis) is supported: fovea's tensors are channels-last",
                        (long long)c->axis, rank);
    if (fv__shape_size(&l->in[0]) < 0)
        return fv__fail(FV_ERR_SHAPE, "batch_normalization: input is too large");
    const int64_t C = channels(l);
    l->out = l->in[0];
    l->nparams = 0;
    const int64_t dims[1] = {C};
    if (c->scale) fv__param_set(&l->params[l->nparams++], "gamma", 1, dims, FV_INIT_ONES, false);
    if (c->center) fv__param_set(&l->params[l->nparams++], "beta", 1, dims, FV_INIT_ZEROS, false);
    fv__param_set(&l->params[l->nparams++], "moving_mean", 1, dims, FV_INIT_ZEROS, true);
    fv__param_set(&l->params[l->nparams++], "moving_variance", 1, dims, FV_INIT_ONES, true);
    /* The batch's mean and 1/sqrt(var + eps) per channel, kept for backward in the first
     * sample's slot. */
    l->saved_per_sample = (size_t)(2 * C) * sizeof(float);
    return FV_OK;
}

/* Scratch: two doubles per channel per chunk of the whole batch, then the two sums per
 * channel, then room for two doubles per channel (backward's three float coefficients of bn_dx). */
static size_t bn_scratch_bytes(const fv_layer *l, int64_t n, int threads)
{
    (void)n, (void)threads;
    return (size_t)(FV_GRAD_CHUNKS + 2) * (size_t)(2 * channels(l)) * sizeof(double);
}

/* Whether the layer normalises with the batch's statistics. */
static bool batch_mode(const fv_layer *l, const fv_run *r)
{
    return r->training && l->trainable;
}

/* out1[c], out2[c]: the sums of the rows of part [FV_GRAD_CHUNKS × 2C] (this run's filled, the
 * other processes' gathered) in chunk order. */
static void combine_sums(double *part, int64_t C, double *out1, double *out2, const fv_run *r)
{
    fv__run_gather_chunks(r, part, 2 * C);
    for (int64_t c = 0; c < C; c++) {
        double a = 0, b = 0;
        for (int ch = 0; ch < FV_GRAD_CHUNKS; ch++)
            a += part[ch * 2 * C + c], b += part[ch * 2 * C + C + c];
        out1[c] = a;
        if (out2) out2[c] = b;
    }
}

/* For each channel c: out1[c] = Σ a, out2[c] = Σ b over the whole batch, where per element
 * (a, b) = f(x, dy) — the sums run per chunk of samples (this run's chunks; the other processes'
 * are gathered), then over all the batch's chunks in chunk order. SUM_SQ: x − dmean and its square
 * (dmean a shift); SUM_SQDEV: (x − dmean)²; SUM_DY with relu_y: the gradient through the ReLU fused
 * after the layer (eltwise.h's sum_dy), written to gout when not NULL. */
typedef enum { SUM_SQ, SUM_SQDEV, SUM_DY } sum_kind;

static void channel_sums(sum_kind kind, const float *x, const float *dy, const float *relu_y,
                         const fv__bn_relu *rx, float *gout, const float *mean, const double *dmean,
                         const float *inv, int64_t n, int64_t rows, int64_t C, double *part,
                         double *out1, double *out2, const fv_run *r)
{
    const fv__elt_ops *ops = fv__elt();
    const int chunks = fv__run_chunks(r);
    /* This run's chunks are rows [first, first + chunks) of part. */
    const int first = fv__run_first_chunk(r);
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * rows * C);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int ch = 0; ch < chunks; ch++) {
        double *s1 = part + (first + ch) * 2 * C, *s2 = s1 + C;
        memset(s1, 0, (size_t)(2 * C) * sizeof(double));
        int64_t lo, hi;
        fv__run_chunk(r, ch, &lo, &hi);
        const int64_t o = lo * rows * C, cnt = (hi - lo) * rows;
        if (kind == SUM_SQ)
            ops->sum_sq(x + o, cnt, C, dmean, s1, s2);
        else if (kind == SUM_SQDEV)
            ops->sum_sqdev(x + o, cnt, C, dmean, s1);
        else
            ops->sum_dy(x + o, dy + o, relu_y ? relu_y + o : NULL, rx, gout ? gout + o : NULL, cnt,
                        C, mean, inv, s1, s2);
    }
    combine_sums(part, C, out1, out2, r);
}

/* Inference as an affine map: scale = gamma/sqrt(moving_variance + eps),
 * shift = beta − moving_mean·scale. */
static void bn_affine(const fv_layer *l, float *scale, float *shift)
{
    const bn_cfg *c = l->cfg;
    const bn_tensors t = tensors((fv_layer *)l);
    for (int64_t k = 0; k < channels(l); k++) {
        const double s = (t.gamma ? t.gamma[k] : 1.0) / sqrt((double)t.var[k] + c->epsilon);
        scale[k] = (float)s;
        shift[k] = (float)((t.beta ? t.beta[k] : 0.0) - (double)t.mean[k] * s);
    }
}

/* The forward pass, then, when add is not NULL, y + add (a residual Add), then, with relu, ReLU:
 * the epilogue a graph plan may fuse in (fv_layer_kind.forward_fused). */
static void forward_into(fv_layer *l, const float *x, float *y, fv_run *r, const float *add,
                         bool relu)
{
    const bn_cfg *c = l->cfg;
    const int64_t n = r->n, C = channels(l), rows = fv__shape_size(&l->in[0]) / C;
    bn_tensors t = tensors(l);
    float *mean = l->saved, *inv = mean ? mean + C : NULL;
    if (!mean) { /* inference with no saved state (the model's lean plan) */
        FV_ASSERT(!batch_mode(l, r) && !add && !relu);
        float *sc = r->scratch, *sh = sc + C;
        bn_affine(l, sc, sh);
        const int threads FV_OMP_ONLY = fv__work_threads(r, n * rows * C);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t q = 0; q < n * rows; q++)
            for (int64_t k = 0; k < C; k++)
                y[q * C + k] = x[q * C + k] * sc[k] + sh[k];
        return;
    }
    if (batch_mode(l, r)) {
        double *part = r->scratch, *s1 = part + FV_GRAD_CHUNKS * 2 * C, *s2 = s1 + C;
        double *shift = s2 + C, *dmean = shift + C;
        const double M = (double)(fv__run_batch(r) * rows);
        /* One pass: S1 = Σ(x − K), S2 = Σ(x − K)² about the moving mean K (the same in every
         * process and thread), then the mean K + S1/M and Q = Σ(x − mean)² = S2 − S1²/M. In exact
         * arithmetic this is the two-pass result; in double, S2's recursive sum is within
         * (M + 2)·2⁻⁵³·S2 and S1's error moves S1²/M by at most 2(M + 1)·2⁻⁵³·S2 (Cauchy–Schwarz:
         * Σ|x − K| ≤ √(M·S2)), so with S1²/M's own roundings Q is within 3(M + 2)·2⁻⁵³·S2 to
         * first order (Higham 2002, §4.2: recursive summation). Where that is more than 2⁻³⁰·Q
         * (K far from the batch's mean, as at the first step when the data sit far from zero, or
         * not finite), the two-pass formula: the mean from Σx (S1 again, about 0, unless K was
         * 0 already: K + S1/M's own error grows with |K − mean|, and a NaN or infinite K would
         * make it NaN, where training mode must not depend on the moving statistics), then the
         * deviations from it summed in double: the textbook one-pass formula about 0 loses the
         * variance when the mean is large against the spread, and deviations from the
         * float-rounded mean would add the rounding's square to it. */
        for (int64_t k = 0; k < C; k++)
            shift[k] = t.mean[k];
        if (r->sums && r->sums->done) { /* taken by the layer before, about the same shift */
            combine_sums(r->sums->part, C, s1, s2, r);
            r->sums->taken++;
        } else {
            channel_sums(SUM_SQ, x, NULL, NULL, NULL, NULL, NULL, shift, NULL, n, rows, C, part, s1,
                         s2, r);
        }
        bool again = false;
        for (int64_t k = 0; k < C; k++) {
            dmean[k] = shift[k] + s1[k] / M, mean[k] = (float)dmean[k];
            const double q = s2[k] - s1[k] * (s1[k] / M);
            again = again || !(q > 0 && 3.0 * (M + 2.0) * s2[k] <= 0x1p23 * q);
            s2[k] = q;
        }
        if (again) {
            bool shifted = false;
            for (int64_t k = 0; k < C; k++)
                shifted = shifted || shift[k] != 0.0, shift[k] = 0.0;
            if (shifted) /* S2 about 0 is not used */
                channel_sums(SUM_SQ, x, NULL, NULL, NULL, NULL, NULL, shift, NULL, n, rows, C, part,
                             s1, s2, r);
            for (int64_t k = 0; k < C; k++)
                dmean[k] = s1[k] / M, mean[k] = (float)dmean[k];
            channel_sums(SUM_SQDEV, x, NULL, NULL, NULL, NULL, NULL, dmean, NULL, n, rows, C, part,
                         s2, NULL, r);
        }
        for (int64_t k = 0; k < C; k++) {
            const double var = s2[k] / M; /* biased, as Keras 3 normalises and updates */
            inv[k] = (float)(1.0 / sqrt(var + c->epsilon));
            t.mean[k] =
                (float)((double)t.mean[k] * c->momentum + (double)mean[k] * (1.0 - c->momentum));
            t.var[k] = (float)((double)t.var[k] * c->momentum + var * (1.0 - c->momentum));
        }
    } else {
        for (int64_t k = 0; k < C; k++) {
            mean[k] = t.mean[k];
            inv[k] = (float)(1.0 / sqrt((double)t.var[k] + c->epsilon));
        }
    }
    if (r->sums && r->sums->defer_y) { /* left to the layer reading y first (fv_bn_pair) */
        fv_bn_pair *p = r->sums;
        p->x = x, p->y = y, p->rows = rows, p->mean = mean, p->gamma = t.gamma, p->beta = t.beta;
        p->add = add, p->relu = relu, p->y_left = true, p->normed++;
        return;
    }
    const fv__elt_ops *ops = fv__elt();
    const int64_t per = rows * C;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * per);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++)
        ops->bn_norm(x + i * per, y + i * per, rows, C, mean, inv, t.gamma, t.beta,
                     add ? add + i * per : NULL, relu);
}

/* fv_layer_kind.input_sums: in batch mode, about the moving mean (forward_into's shift). */
static bool bn_input_sums(const fv_layer *l, bool training, double *shift)
{
    if (!training || !l->trainable) return false;
    const bn_tensors t = tensors((fv_layer *)l);
    for (int64_t k = 0; k < channels(l); k++)
        shift[k] = t.mean[k];
    return true;
}

static void bn_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    forward_into(l, xs[0], y, r, NULL, false);
}

static void bn_forward_fused(fv_layer *l, const float *const *xs, float *y, fv_run *r,
                             const fv_epilogue *e)
{
    forward_into(l, xs[0], y, r, e->add, e->relu);
}

/* Training mode (Ioffe & Szegedy 2015, eq. after Alg. 1), with x̂ = (x − μ)·inv and M values per
 * channel: dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·inv/M · (M·dy − Σ dy − x̂·Σ dy·x̂), in float as
 * a·dy + b·(x − μ) + d with the coefficients per channel in double (eltwise.h's bn_dx and
 * fv__bn_dx_coef, which state the error bound). Inference mode (moving statistics are constants):
 * dx = γ·inv·dy. */
/* dy is the gradient of the layer's output or, with relu_y (the output of the ReLU fused after it),
 * of that ReLU's output; add: a residual Add is fused between them (the ReLU's input is then not
 * the layer's output); dskip (NULL: not needed, even with an Add) receives the gradient of that
 * Add's other input. */
static void backward_from(fv_layer *l, const float *x, const float *relu_y, bool add, float *dy,
                          float *dx, float *dskip, fv_run *r)
{
    const int64_t n = r->n, C = channels(l), rows = fv__shape_size(&l->in[0]) / C;
    bn_tensors t = tensors(l);
    const float *mean = l->saved, *inv = mean + C;
    double *part = r->scratch, *sdy = part + FV_GRAD_CHUNKS * 2 * C, *sdyx = sdy + C;
    /* The gradient through the ReLU goes to dskip in this pass (the Add's other input's), and
     * bn_dx reads it there instead of dy and the ReLU's output: one tensor fewer to read. With no
     * Add, in batch mode, the ReLU's mask is taken from x instead of its output (fv__bn_relu: the
     * forward's bn_norm ran on these mean, inv, gamma and beta), also one tensor fewer to read.
     * With an Add whose other input needs no gradient (dskip NULL), the ReLU's input was the sum:
     * its output gives the mask. */
    const fv__bn_relu rxv = {inv, t.gamma, t.beta};
    const fv__bn_relu *rx = relu_y && !add && batch_mode(l, r) ? &rxv : NULL;
    if (rx) relu_y = NULL;
    channel_sums(SUM_DY, x, dy, relu_y, rx, dskip, mean, NULL, inv, n, rows, C, part, sdy, sdyx, r);
    /* The sums are the whole batch's already: the process holding its first chunk adds them (the
     * others add nothing, and the processes' gradients are summed). */
    for (int64_t k = 0; k < C && fv__run_leader(r); k++) {
        if (t.dgamma) t.dgamma[k] += (float)sdyx[k];
        if (t.dbeta) t.dbeta[k] += (float)sdy[k];
    }
    if (!dx) return;
    const double M = (double)(fv__run_batch(r) * rows);
    const int64_t per = rows * C;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * per);
    /* the gradient and the ReLU output to mask it with: dskip holds the gradient through the ReLU
     * already (written by the sums' pass) */
    const float *gy = dskip ? dskip : dy, *ry = dskip ? NULL : relu_y;
    if (batch_mode(l, r)) {
        const fv__elt_ops *ops = fv__elt();
        float *k = (float *)(sdyx + C); /* 3·C floats in the 2·C doubles after the sums */
        fv__bn_dx_coef(C, t.gamma, inv, M, sdy, sdyx, k);
        if (r->sums) { /* left to the layer that produced x, chunk by chunk (fv_bn_pair) */
            fv_bn_pair *p = r->sums;
            float *pk = (float *)p->part; /* the forward's rows are spent */
            memcpy(pk, k, (size_t)(3 * C) * sizeof(float));
            p->x = x, p->g = gy, p->relu_y = ry, p->mean = mean, p->k = pk, p->dx = dx;
            p->rx = rx ? *rx : (fv__bn_relu){0};
            p->rows = rows, p->dx_left = true, p->left++;
            return;
        }
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t i = 0; i < n; i++)
            ops->bn_dx(x + i * per, gy + i * per, ry ? ry + i * per : NULL, rx, dx + i * per, rows,
                       C, mean, k);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t q = 0; q < n * rows; q++)
        for (int64_t k = 0; k < C; k++) {
            const double g = t.gamma ? t.gamma[k] : 1.0;
            const int64_t e = q * C + k;
            const float d = ry && !(ry[e] > 0.0f) ? 0.0f : gy[e];
            dx[e] = (float)(g * inv[k] * (double)d);
        }
}

static void bn_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                        float *const *dxs, fv_run *r)
{
    (void)y;
    backward_from(l, xs[0], NULL, false, dy, dxs[0], NULL, r);
}

static void bn_backward_fused(fv_layer *l, const float *const *xs, const float *y, float *dy,
                              float *const *dxs, fv_run *r, const fv_epilogue *e)
{
    backward_from(l, xs[0], e->relu ? y : NULL, e->add != NULL, dy, dxs[0], e->dadd, r);
}

const fv_layer_kind fv__kind_batch_normalization = {
    .name = "batch_normalization",
    .keras_class = "BatchNormalization",
    .keras_name = "batch_normalization",
    .args = bn_args,
    .cfg_size = sizeof(bn_cfg),
    .build = bn_build,
    .scratch_bytes = bn_scratch_bytes,
    .forward = bn_forward,
    .backward = bn_backward,
    .forward_fused = bn_forward_fused,
    .backward_fused = bn_backward_fused,
    .inference_affine = bn_affine,
    .input_sums = bn_input_sums,
};
