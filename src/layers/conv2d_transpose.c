/* conv2d_transpose.c — Conv2DTranspose: the transposed convolution of NHWC images with a
 * (kh, kw, filters, in_channels) kernel (Keras' layout), an optional bias and an output activation.
 * It is the adjoint of a convolution, computed per image as a GEMM and col2im; its backward is
 * im2col and two GEMMs. Images are split across threads; parameter gradients are summed in fixed
 * chunks of samples so that they do not depend on the thread count.
 *
 * Output size and placement are Keras 3's (fv_conv_transpose_out_size): output position o gets
 * input i through tap k where o = i·stride − lead + k·dilation. Where Keras refuses a combination:
 *   - strides > 1 together with dilation_rate > 1: fovea accepts it, as its conv2d does, and
 *     computes the same formula (the adjoint of conv2d with those strides and dilation, which is
 *     PyTorch's conv_transpose2d with that stride and dilation, cropped as Keras places it);
 *   - output_padding >= strides on an axis: refused, as Keras does (the extra rows would receive
 *     nothing but the bias).
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct conv2d_transpose_cfg {
    int64_t filters;
    int64_t kernel_size[2];
    int64_t strides[2];
    int padding;               /* fv_padding */
    int64_t output_padding[2]; /* -1: None */
    int64_t dilation_rate[2];
    int activation; /* fv_activation */
    bool use_bias;
    fv_regularizer kernel_regularizer, bias_regularizer;
    /* Derived by build: the convolution whose adjoint this layer is. Its input is this layer's
     * output (out_h × out_w × filters), its output this layer's input; pad_top and pad_left are
     * the leads. */
    fv_conv_geom g;
} conv2d_transpose_cfg;

#define OFF(f) offsetof(conv2d_transpose_cfg, f)
static const fv_arg_spec conv2d_transpose_args[] = {
    {"filters", FV_ARG_INT, OFF(filters), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"kernel_size", FV_ARG_PAIR, OFF(kernel_size), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"strides", FV_ARG_PAIR, OFF(strides), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"padding", FV_ARG_CHOICE, OFF(padding), "valid", fv__padding_names, 0, 0},
    {"output_padding", FV_ARG_PAIR, OFF(output_padding), "None", NULL, 0, FV_ARG_DIM_MAX},
    {"dilation_rate", FV_ARG_PAIR, OFF(dilation_rate), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"activation", FV_ARG_CHOICE, OFF(activation), "linear", fv__activation_names, 0, 0},
    {"use_bias", FV_ARG_BOOL, OFF(use_bias), "true", NULL, 0, 0},
    {"kernel_regularizer", FV_ARG_REGULARIZER, OFF(kernel_regularizer), "None", NULL, 0, 0},
    {"bias_regularizer", FV_ARG_REGULARIZER, OFF(bias_regularizer), "None", NULL, 0, 0},
    {0},
};
#undef OFF

/* Floats rounded up to whole 64-byte lines, so that per-thread slices stay aligned. */
static int64_t pad16(int64_t v)
{
    return (v + 15) & ~(int64_t)15;
}

/* The FV_ERR_SHAPE error of an empty output along one axis, with Keras' arithmetic. */
static fv_status fail_empty(const conv2d_transpose_cfg *c, int axis, int64_t in)
{
    const int64_t k = c->kernel_size[axis], s = c->strides[axis], d = c->dilation_rate[axis];
    const int64_t op = c->output_padding[axis], span = d * (k - 1) + 1;
    const char *what = axis ? "width" : "height";
    if (c->padding == FV_PAD_SAME && op >= 0)
        return fv__fail(FV_ERR_SHAPE,
                        "conv2d_transpose: the output %s is empty with padding=same and "
                        "output_padding=%lld: (%lld - 1)*%lld + %lld%%2 + %lld = %lld",
                        what, (long long)op, (long long)in, (long long)s, (long long)span,
                        (long long)op, (long long)((in - 1) * s + span % 2 + op));
    return fv__fail(FV_ERR_SHAPE, "conv2d_transpose: the output %s for input %s %lld is too large",
                    what, what, (long long)in);
}

static fv_status conv2d_transpose_build(fv_layer *l)
{
    conv2d_transpose_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    char in[96];
    fv__shape_format(&l->in[0], in, sizeof in);
    if (l->in[0].rank != 3)
        return fv__fail(FV_ERR_SHAPE,
                        "conv2d_transpose: input %s has rank %d; conv2d_transpose needs images "
                        "(None, height, width, channels)",
                        in, l->in[0].rank);
    for (int a = 0; a < 2; a++)
        if (c->output_padding[a] >= c->strides[a])
            return fv__fail(FV_ERR_INVALID,
                            "conv2d_transpose: output_padding=%lld,%lld must be less than "
                            "strides=%lld,%lld on each axis (as Keras requires)",
                            (long long)c->output_padding[0], (long long)c->output_padding[1],
                            (long long)c->strides[0], (long long)c->strides[1]);

    fv_conv_geom *g = &c->g;
    memset(g, 0, sizeof *g);
    const bool same = c->padding == FV_PAD_SAME;
    const int64_t H = l->in[0].d[0], W = l->in[0].d[1], C = l->in[0].d[2], F = c->filters;
    g->out_h = H, g->out_w = W, g->out_c = C, g->in_c = F;
    g->k_h = c->kernel_size[0], g->k_w = c->kernel_size[1];
    g->stride_h = c->strides[0], g->stride_w = c->strides[1];
    g->dil_h = c->dilation_rate[0], g->dil_w = c->dilation_rate[1];
    g->in_h = fv_conv_transpose_out_size(H, g->k_h, g->stride_h, g->dil_h, same,
                                         c->output_padding[0], &g->pad_top);
    if (g->in_h < 1) return fail_empty(c, 0, H);
    g->in_w = fv_conv_transpose_out_size(W, g->k_w, g->stride_w, g->dil_w, same,
                                         c->output_padding[1], &g->pad_left);
    if (g->in_w < 1) return fail_empty(c, 1, W);

    int64_t kk, K, ksize, col, work;
    const int64_t lim = INT64_MAX / 64;
    l->out = (fv_shape){.rank = 3, .d = {g->in_h, g->in_w, F}};
    if (fv__shape_size(&l->out) < 0 || !fv__mul_i64(g->k_h, g->k_w, &kk) ||
        !fv__mul_i64(kk, F, &K) || !fv__mul_i64(K, C, &ksize) || !fv__mul_i64(H * W, K, &col) ||
        !fv__mul_i64(col, C, &work) || ksize > lim || col > lim || work > lim ||
        fv__shape_size(&l->out) > lim)
        return fv__fail(FV_ERR_SHAPE,
                        "conv2d_transpose: %lld filters of %lldx%lld on input %s is too large",
                        (long long)F, (long long)g->k_h, (long long)g->k_w, in);

    memset(l->params, 0, sizeof l->params);
    const int64_t kdims[4] = {g->k_h, g->k_w, F, C};
    fv__param_set(&l->params[0], "kernel", 4, kdims, FV_INIT_GLOROT_UNIFORM, false);
    /* Keras' fans of a (kh, kw, filters, in) kernel: receptive field × its last two axes. */
    l->params[0].fan_in = kk * F;
    l->params[0].fan_out = kk * C;
    l->params[0].reg = c->kernel_regularizer;
    l->nparams = 1;
    if (c->use_bias) {
        const int64_t bdims[1] = {F};
        fv__param_set(&l->params[1], "bias", 1, bdims, FV_INIT_ZEROS, false);
        l->params[1].reg = c->bias_regularizer;
        l->nparams = 2;
    }
    l->saved_per_sample = 0; /* backward reads x and y */
    return FV_OK;
}

/* The col matrix of one image: [in_h·in_w, kh·kw·filters]. */
static int64_t col_stride(const conv2d_transpose_cfg *c)
{
    const fv_conv_geom *g = &c->g;
    return pad16(g->out_h * g->out_w * g->k_h * g->k_w * g->in_c);
}

static int64_t partial_stride(const fv_layer *l)
{
    return pad16(l->params[0].size + (l->nparams > 1 ? l->params[1].size : 0));
}

/* Scratch: a col matrix per thread, then FV_GRAD_CHUNKS partial parameter gradients. */
static size_t conv2d_transpose_scratch_bytes(const fv_layer *l, int64_t n, int threads)
{
    (void)n;
    int64_t t = threads > 0 ? threads : 1, a, b, total;
    if (!fv__mul_i64(t, col_stride(l->cfg), &a) ||
        !fv__mul_i64(FV_GRAD_CHUNKS, partial_stride(l), &b) || !fv__add_i64(a, b, &total) ||
        total > (int64_t)(SIZE_MAX / sizeof(float)))
        return SIZE_MAX;
    return (size_t)total * sizeof(float);
}

/* Multiply-adds of one image's GEMM: in pixels × (kh·kw·filters) × in channels. */
static int64_t image_work(const fv_conv_geom *g)
{
    return g->out_h * g->out_w * g->k_h * g->k_w * g->in_c * g->out_c;
}

static void conv2d_transpose_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const conv2d_transpose_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const int64_t n = r->n, P = g->out_h * g->out_w, C = g->out_c, F = g->in_c;
    const int64_t K = g->k_h * g->k_w * F, rows = g->in_h * g->in_w, out_sz = rows * F;
    const int64_t cs = col_stride(c);
    const float *w = l->params[0].w, *b = c->use_bias ? l->params[1].w : NULL;
    const fv_activation act = (fv_activation)c->activation;
    const float alpha = fv__act_alpha(act);
    float *col0 = r->scratch;

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * image_work(g));
#pragma omp parallel num_threads(threads)
    {
        float *col = col0 + (int64_t)fv__thread_id() * cs;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float *yi = y + i * out_sz;
            /* col = x · Wᵀ with W read as (kh·kw·filters) × in, then scattered into y. */
            fv_gemm(false, true, P, K, C, 1.0f, x + i * P * C, C, w, C, 0.0f, col, K);
            if (b)
                for (int64_t p = 0; p < rows; p++)
                    memcpy(yi + p * F, b, (size_t)F * sizeof(float));
            else
                memset(yi, 0, (size_t)out_sz * sizeof(float));
            fv_col2im(g, col, yi);
            fv__act_forward_rows(act, alpha, yi, rows, F);
        }
    }
}

static void conv2d_transpose_backward(fv_layer *l, const float *const *xs, const float *y,
                                      float *dy, float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    const conv2d_transpose_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const int64_t n = r->n, P = g->out_h * g->out_w, C = g->out_c, F = g->in_c;
    const int64_t K = g->k_h * g->k_w * F, rows = g->in_h * g->in_w, out_sz = rows * F;
    const int64_t cs = col_stride(c), ps = partial_stride(l);
    const fv_activation act = l->fused_act ? FV_ACT_LINEAR : (fv_activation)c->activation;
    const float alpha = fv__act_alpha(act);
    const int threads = fv__work_threads(r, n * image_work(g));
    const int chunks = fv__run_chunks(r);
    const int64_t ksz = l->params[0].size, bsz = c->use_bias ? l->params[1].size : 0;
    const float *w = l->params[0].w;
    float *kg = l->params[0].g, *bg = c->use_bias ? l->params[1].g : NULL;
    float *col0 = r->scratch, *partial = col0 + (int64_t)threads * cs;

#pragma omp parallel num_threads(threads)
    {
        float *col = col0 + (int64_t)fv__thread_id() * cs;
        /* Each chunk of consecutive images sums into its own partial buffers, in image order. */
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < chunks; ch++) {
            float *pk = partial + ch * ps, *pb = bsz ? pk + ksz : NULL;
            memset(pk, 0, (size_t)(ksz + bsz) * sizeof(float));
            int64_t lo, hi;
            fv__run_chunk(r, ch, &lo, &hi);
            for (int64_t i = lo; i < hi; i++) {
                float *dyi = dy + i * out_sz;
                const float *xi = x + i * P * C;
                if (act != FV_ACT_LINEAR)
                    fv__act_backward_rows(act, alpha, y + i * out_sz, dyi, rows, F);
                /* The adjoint's adjoint is the convolution: windows of dz, then two GEMMs. */
                fv_im2col(g, dyi, col);
                if (dx) fv_gemm(false, false, P, C, K, 1.0f, col, K, w, C, 0.0f, dx + i * P * C, C);
                fv_gemm(true, false, K, C, P, 1.0f, col, K, xi, C, 1.0f, pk, C);
                if (pb)
                    for (int64_t p = 0; p < rows; p++)
                        for (int64_t f = 0; f < F; f++)
                            pb[f] += dyi[p * F + f];
            }
        }
        /* Then the partials are added as a balanced tree over the chunks, each element by one
         * thread. */
#pragma omp for schedule(static)
        for (int64_t e = 0; e < ksz + bsz; e++) {
            const float sum = fv__chunk_tree(partial + e, ps, chunks);
            if (e < ksz)
                kg[e] += sum;
            else
                bg[e - ksz] += sum;
        }
    }
}

/* Multiply-adds ×2: forward P·K·C; backward the same for the kernel, again for the input. */
static double conv2d_transpose_flops(const fv_layer *l, bool backward, bool input_grad)
{
    const double f = 2.0 * (double)image_work(&((const conv2d_transpose_cfg *)l->cfg)->g);
    return backward ? (input_grad ? 2.0 * f : f) : f;
}

static fv_activation conv2d_transpose_activation(const fv_layer *l)
{
    return (fv_activation)((const conv2d_transpose_cfg *)l->cfg)->activation;
}

const fv_layer_kind fv__kind_conv2d_transpose = {
    .name = "conv2d_transpose",
    .keras_class = "Conv2DTranspose",
    .keras_name = "conv2d_transpose",
    .args = conv2d_transpose_args,
    .cfg_size = sizeof(conv2d_transpose_cfg),
    .build = conv2d_transpose_build,
    .scratch_bytes = conv2d_transpose_scratch_bytes,
    .forward = conv2d_transpose_forward,
    .backward = conv2d_transpose_backward,
    .activation = conv2d_transpose_activation,
    .flops = conv2d_transpose_flops,
};
