/* depthwise_conv2d.c — DepthwiseConv2D (each input channel convolved with its own
 * depth_multiplier filters, output channel c·depth_multiplier + m as Keras orders them) and
 * SeparableConv2D (that depthwise convolution without bias, then a 1×1 convolution with
 * `filters` outputs, a bias and an activation: MobileNet's building block). Images are split across
 * threads; parameter gradients are summed in fixed chunks of samples so that they do not depend on
 * the thread count.
 *
 * Keras refuses strides > 1 together with dilation_rate > 1 for both layers; fovea accepts it, as
 * its conv2d does, and computes the same formula (window start oh·stride − pad_top, taps
 * kh·dilation apart; PyTorch's conv2d with groups = in_channels computes the same).
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct dwconv_cfg {
    int64_t filters; /* separable_conv2d only */
    int64_t kernel_size[2];
    int64_t strides[2];
    int padding; /* fv_padding */
    int64_t depth_multiplier;
    int64_t dilation_rate[2];
    int activation; /* fv_activation */
    bool use_bias;
    /* Keras' depthwise_regularizer, pointwise_regularizer (separable_conv2d), bias_regularizer */
    fv_regularizer depthwise_regularizer, pointwise_regularizer, bias_regularizer;
    fv_conv_geom g; /* derived by build: the depthwise step, out_c = in·depth_multiplier */
} dwconv_cfg;

#define OFF(f) offsetof(dwconv_cfg, f)
static const fv_arg_spec depthwise_args[] = {
    {"kernel_size", FV_ARG_PAIR, OFF(kernel_size), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"strides", FV_ARG_PAIR, OFF(strides), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"padding", FV_ARG_CHOICE, OFF(padding), "valid", fv__padding_names, 0, 0},
    {"depth_multiplier", FV_ARG_INT, OFF(depth_multiplier), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"dilation_rate", FV_ARG_PAIR, OFF(dilation_rate), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"activation", FV_ARG_CHOICE, OFF(activation), "linear", fv__activation_names, 0, 0},
    {"use_bias", FV_ARG_BOOL, OFF(use_bias), "true", NULL, 0, 0},
    {"depthwise_regularizer", FV_ARG_REGULARIZER, OFF(depthwise_regularizer), "None", NULL, 0, 0},
    {"bias_regularizer", FV_ARG_REGULARIZER, OFF(bias_regularizer), "None", NULL, 0, 0},
    {0},
};
static const fv_arg_spec separable_args[] = {
    {"filters", FV_ARG_INT, OFF(filters), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"kernel_size", FV_ARG_PAIR, OFF(kernel_size), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"strides", FV_ARG_PAIR, OFF(strides), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"padding", FV_ARG_CHOICE, OFF(padding), "valid", fv__padding_names, 0, 0},
    {"depth_multiplier", FV_ARG_INT, OFF(depth_multiplier), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"dilation_rate", FV_ARG_PAIR, OFF(dilation_rate), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"activation", FV_ARG_CHOICE, OFF(activation), "linear", fv__activation_names, 0, 0},
    {"use_bias", FV_ARG_BOOL, OFF(use_bias), "true", NULL, 0, 0},
    {"depthwise_regularizer", FV_ARG_REGULARIZER, OFF(depthwise_regularizer), "None", NULL, 0, 0},
    {"pointwise_regularizer", FV_ARG_REGULARIZER, OFF(pointwise_regularizer), "None", NULL, 0, 0},
    {"bias_regularizer", FV_ARG_REGULARIZER, OFF(bias_regularizer), "None", NULL, 0, 0},
    {0},
};
#undef OFF

static bool is_separable(const fv_layer *l)
{
    return l->kind == &fv__kind_separable_conv2d;
}

/* Floats rounded up to whole 64-byte lines, so that per-thread slices stay aligned. */
static int64_t pad16(int64_t v)
{
    return (v + 15) & ~(int64_t)15;
}

static fv_status dwconv_build(fv_layer *l)
{
    dwconv_cfg *c = l->cfg;
    const char *kind = l->kind->name;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    char in[96];
    fv__shape_format(&l->in[0], in, sizeof in);
    if (l->in[0].rank != 3)
        return fv__fail(FV_ERR_SHAPE,
                        "%s: input %s has rank %d; %s needs images (None, height, width, channels)",
                        kind, in, l->in[0].rank, kind);

    fv_conv_geom *g = &c->g;
    memset(g, 0, sizeof *g);
    g->in_h = l->in[0].d[0], g->in_w = l->in[0].d[1], g->in_c = l->in[0].d[2];
    g->k_h = c->kernel_size[0], g->k_w = c->kernel_size[1];
    g->stride_h = c->strides[0], g->stride_w = c->strides[1];
    g->dil_h = c->dilation_rate[0], g->dil_w = c->dilation_rate[1];
    const bool same = c->padding == FV_PAD_SAME;
    int64_t span_h, span_w;
    if (!fv__mul_i64(g->dil_h, g->k_h, &span_h) || !fv__mul_i64(g->dil_w, g->k_w, &span_w))
        return fv__fail(FV_ERR_SHAPE, "%s: kernel_size times dilation_rate is too large", kind);
    g->out_h = fv_conv_out_size(g->in_h, g->k_h, g->stride_h, g->dil_h, same, &g->pad_top);
    g->out_w = fv_conv_out_size(g->in_w, g->k_w, g->stride_w, g->dil_w, same, &g->pad_left);
    if (g->out_h < 1 || g->out_w < 1) return fv__fail_window(kind, "kernel", g);

    const int64_t F = is_separable(l) ? c->filters : 0;
    const int64_t P = g->out_h * g->out_w, lim = INT64_MAX / 64;
    int64_t M, kk, dsize, mid, work, psize = 0, osize = 0;
    if (!fv__mul_i64(g->in_c, c->depth_multiplier, &M) || !fv__mul_i64(g->k_h, g->k_w, &kk) ||
        !fv__mul_i64(kk, M, &dsize) || !fv__mul_i64(P, M, &mid) || !fv__mul_i64(mid, kk, &work) ||
        (F && (!fv__mul_i64(M, F, &psize) || !fv__mul_i64(P, F, &osize) ||
               !fv__mul_i64(mid, F, &work))) ||
        dsize > lim || mid > lim || work > lim || psize > lim || osize > lim)
        return fv__fail(FV_ERR_SHAPE, "%s: depth_multiplier=%lld on input %s is too large", kind,
                        (long long)c->depth_multiplier, in);
    g->out_c = M;
    l->out = (fv_shape){.rank = 3, .d = {g->out_h, g->out_w, F ? F : M}};

    memset(l->params, 0, sizeof l->params);
    const int64_t ddims[4] = {g->k_h, g->k_w, g->in_c, c->depth_multiplier};
    fv__param_set(&l->params[0], "depthwise_kernel", 4, ddims, FV_INIT_GLOROT_UNIFORM, false);
    /* Keras' fans of a (kh, kw, in, depth_multiplier) kernel: receptive field × its last two
     * axes. */
    l->params[0].fan_in = kk * g->in_c;
    l->params[0].fan_out = kk * c->depth_multiplier;
    l->params[0].reg = c->depthwise_regularizer;
    l->nparams = 1;
    if (F) {
        const int64_t pdims[4] = {1, 1, M, F};
        fv__param_set(&l->params[l->nparams], "pointwise_kernel", 4, pdims, FV_INIT_GLOROT_UNIFORM,
                      false);
        l->params[l->nparams].fan_in = M;
        l->params[l->nparams].fan_out = F;
        l->params[l->nparams].reg = c->pointwise_regularizer;
        l->nparams++;
    }
    if (c->use_bias) {
        const int64_t bdims[1] = {F ? F : M};
        fv__param_set(&l->params[l->nparams], "bias", 1, bdims, FV_INIT_ZEROS, false);
        l->params[l->nparams++].reg = c->bias_regularizer;
    }
    l->saved_per_sample = 0; /* backward reads x and y, and recomputes the depthwise step */
    return FV_OK;
}

/* The tensors, in Keras' order. */
typedef struct dw_tensors {
    const float *dk, *pk, *b; /* pk: NULL for depthwise_conv2d; b: NULL without bias */
    float *gdk, *gpk, *gb;
} dw_tensors;

static dw_tensors tensors(fv_layer *l)
{
    const dwconv_cfg *c = l->cfg;
    dw_tensors t = {0};
    int p = 0;
    t.dk = l->params[p].w, t.gdk = l->params[p].g, p++;
    if (is_separable(l)) t.pk = l->params[p].w, t.gpk = l->params[p].g, p++;
    if (c->use_bias) t.b = l->params[p].w, t.gb = l->params[p].g;
    return t;
}

/* Per thread, the separable layer keeps one image's depthwise output (and reuses it for its
 * gradient); the depthwise layer needs none. */
static int64_t thread_stride(const fv_layer *l)
{
    const fv_conv_geom *g = &((const dwconv_cfg *)l->cfg)->g;
    return is_separable(l) ? pad16(g->out_h * g->out_w * g->out_c) : 0;
}

/* All trainable tensors are contiguous in the partial buffers, in parameter order. */
static int64_t partial_stride(const fv_layer *l)
{
    int64_t s = 0;
    for (int i = 0; i < l->nparams; i++)
        s += l->params[i].size;
    return pad16(s);
}

/* Scratch: per thread the depthwise output (separable), then FV_GRAD_CHUNKS partial parameter
 * gradients. */
static size_t dwconv_scratch_bytes(const fv_layer *l, int64_t n, int threads)
{
    (void)n;
    int64_t t = threads > 0 ? threads : 1, a, b, total;
    if (!fv__mul_i64(t, thread_stride(l), &a) ||
        !fv__mul_i64(FV_GRAD_CHUNKS, partial_stride(l), &b) || !fv__add_i64(a, b, &total) ||
        total > (int64_t)(SIZE_MAX / sizeof(float)))
        return SIZE_MAX;
    return (size_t)total * sizeof(float);
}

/* Multiply-adds of one image: the depthwise taps, plus the pointwise GEMM. */
static int64_t image_work(const fv_layer *l)
{
    const dwconv_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const int64_t P = g->out_h * g->out_w, dw = P * g->k_h * g->k_w * g->out_c;
    return is_separable(l) ? dw + P * g->out_c * c->filters : dw;
}

static void dwconv_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const dwconv_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const dw_tensors t = tensors(l);
    const int64_t n = r->n, in_sz = g->in_h * g->in_w * g->in_c, P = g->out_h * g->out_w;
    const int64_t M = g->out_c, F = l->out.d[2], out_sz = P * F, ts = thread_stride(l);
    const fv_activation act = (fv_activation)c->activation;
    const float alpha = fv__act_alpha(act);
    float *own0 = r->scratch;

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * image_work(l));
#pragma omp parallel num_threads(threads)
    {
        float *mid = own0 + (int64_t)fv__thread_id() * ts;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float *yi = y + i * out_sz;
            if (t.pk) {
                fv_depthwise_forward(g, x + i * in_sz, t.dk, NULL, mid);
                if (t.b)
                    for (int64_t p = 0; p < P; p++)
                        memcpy(yi + p * F, t.b, (size_t)F * sizeof(float));
                fv_gemm(false, false, P, F, M, 1.0f, mid, M, t.pk, F, t.b ? 1.0f : 0.0f, yi, F);
            } else {
                fv_depthwise_forward(g, x + i * in_sz, t.dk, t.b, yi);
            }
            fv__act_forward_rows(act, alpha, yi, P, F);
        }
    }
}

static void dwconv_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                            float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    const dwconv_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const dw_tensors t = tensors(l);
    const int64_t n = r->n, in_sz = g->in_h * g->in_w * g->in_c, P = g->out_h * g->out_w;
    const int64_t M = g->out_c, F = l->out.d[2], out_sz = P * F, ts = thread_stride(l);
    const fv_activation act = l->fused_act ? FV_ACT_LINEAR : (fv_activation)c->activation;
    const float alpha = fv__act_alpha(act);
    const int threads = fv__work_threads(r, n * image_work(l));
    const int chunks = fv__run_chunks(r);
    const int64_t ps = partial_stride(l);
    const int64_t dsz = l->params[0].size, psz = t.pk ? l->params[1].size : 0;
    const int64_t bsz = t.b ? F : 0, total = dsz + psz + bsz;
    float *own0 = r->scratch, *partial = own0 + (int64_t)threads * ts;

#pragma omp parallel num_threads(threads)
    {
        float *mid = own0 + (int64_t)fv__thread_id() * ts;
        /* Each chunk of consecutive images sums into its own partial buffers, in image order. */
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < chunks; ch++) {
            float *pd = partial + ch * ps, *pp = pd + dsz, *pb = bsz ? pp + psz : NULL;
            memset(pd, 0, (size_t)total * sizeof(float));
            int64_t lo, hi;
            fv__run_chunk(r, ch, &lo, &hi);
            for (int64_t i = lo; i < hi; i++) {
                float *dyi = dy + i * out_sz, *dxi = dx ? dx + i * in_sz : NULL;
                const float *xi = x + i * in_sz;
                if (act != FV_ACT_LINEAR)
                    fv__act_backward_rows(act, alpha, y + i * out_sz, dyi, P, F);
                if (pb)
                    for (int64_t p = 0; p < P; p++)
                        for (int64_t f = 0; f < F; f++)
                            pb[f] += dyi[p * F + f];
                if (dxi) memset(dxi, 0, (size_t)in_sz * sizeof(float));
                if (!t.pk) {
                    fv_depthwise_backward(g, xi, t.dk, dyi, pd, NULL, dxi);
                    continue;
                }
                /* Separable: the depthwise output again, the pointwise kernel's gradient from
                 * it, then the depthwise output's gradient in its place. */
                fv_depthwise_forward(g, xi, t.dk, NULL, mid);
                fv_gemm(true, false, M, F, P, 1.0f, mid, M, dyi, F, 1.0f, pp, F);
                fv_gemm(false, true, P, M, F, 1.0f, dyi, F, t.pk, F, 0.0f, mid, M);
                fv_depthwise_backward(g, xi, t.dk, mid, pd, NULL, dxi);
            }
        }
        /* Then the partials are added as a balanced tree over the chunks, each element by one
         * thread. */
#pragma omp for schedule(static)
        for (int64_t e = 0; e < total; e++) {
            const float sum = fv__chunk_tree(partial + e, ps, chunks);
            if (e < dsz)
                t.gdk[e] += sum;
            else if (e < dsz + psz)
                t.gpk[e - dsz] += sum;
            else
                t.gb[e - dsz - psz] += sum;
        }
    }
}

/* Multiply-adds ×2: forward the taps (and the pointwise GEMM); backward the same for the
 * weights, again for the input. */
static double dwconv_flops(const fv_layer *l, bool backward, bool input_grad)
{
    const double f = 2.0 * (double)image_work(l);
    return backward ? (input_grad ? 2.0 * f : f) : f;
}

static fv_activation dwconv_activation(const fv_layer *l)
{
    return (fv_activation)((const dwconv_cfg *)l->cfg)->activation;
}

const fv_layer_kind fv__kind_depthwise_conv2d = {
    .name = "depthwise_conv2d",
    .keras_class = "DepthwiseConv2D",
    .keras_name = "depthwise_conv2d",
    .args = depthwise_args,
    .cfg_size = sizeof(dwconv_cfg),
    .build = dwconv_build,
    .scratch_bytes = dwconv_scratch_bytes,
    .forward = dwconv_forward,
    .backward = dwconv_backward,
    .activation = dwconv_activation,
    .flops = dwconv_flops,
};

const fv_layer_kind fv__kind_separable_conv2d = {
    .name = "separable_conv2d",
    .keras_class = "SeparableConv2D",
    .keras_name = "separable_conv2d",
    .args = separable_args,
    .cfg_size = sizeof(dwconv_cfg),
    .build = dwconv_build,
    .scratch_bytes = dwconv_scratch_bytes,
    .forward = dwconv_forward,
    .backward = dwconv_backward,
    .activation = dwconv_activation,
    .flops = dwconv_flops,
};
