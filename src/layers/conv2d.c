/* conv2d.c — Conv2D: 2-D convolution of NHWC images with a (kh, kw, in, filters) kernel, an
 * optional bias and a fused output activation. The fast kernels per image (implicit GEMM, ReLU in
 * the epilogue, zero gradients skipped; at precision=bf16 vdpbf16ps forward and gathers); images
 * are split across threads, and parameter gradients are summed in fixed chunks so they do not
 * depend on them.
 */
#include "kernels/vec.h"
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct conv2d_cfg {
    int64_t filters;
    int64_t kernel_size[2];
    int64_t strides[2];
    int padding; /* fv_padding */
    int64_t dilation_rate[2];
    int activation; /* fv_activation */
    bool use_bias;
    fv_regularizer kernel_regularizer, bias_regularizer;
    fv_conv_geom g; /* derived by build */
    /* Derived by build for stride 1 (dx_by_forward): the input gradient as a forward convolution
     * of ∂L/∂y with the kernel turned 180° and its channel axes swapped. */
    fv_conv_geom gt;
    bool dx_by_forward;
    bool dx_phases; /* strided: the input gradient by phases (fv_conv_dx_phases) */
} conv2d_cfg;

#define OFF(f) offsetof(conv2d_cfg, f)
static const fv_arg_spec conv2d_args[] = {
    {"filters", FV_ARG_INT, OFF(filters), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"kernel_size", FV_ARG_PAIR, OFF(kernel_size), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"strides", FV_ARG_PAIR, OFF(strides), "1", NULL, 1, FV_ARG_DIM_MAX},
    {"padding", FV_ARG_CHOICE, OFF(padding), "valid", fv__padding_names, 0, 0},
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

static fv_status conv2d_build(fv_layer *l)
{
    conv2d_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    fv_conv_geom *g = &c->g;
    s = fv__window_geom(l, "kernel", c->kernel_size, c->strides, c->dilation_rate,
                        c->padding == FV_PAD_SAME, c->filters, g);
    if (s) return s;
    char in[96];
    fv__shape_format(&l->in[0], in, sizeof in);

    int64_t kk, kin, ksize, col;
    l->out = (fv_shape){.rank = 3, .d = {g->out_h, g->out_w, g->out_c}};
    if (fv__shape_size(&l->out) < 0 || !fv__mul_i64(g->k_h, g->k_w, &kk) ||
        !fv__mul_i64(kk, g->in_c, &kin) || !fv__mul_i64(kin, g->out_c, &ksize) ||
        !fv__mul_i64(g->out_h * g->out_w, kin, &col) || ksize > INT64_MAX / 64 ||
        col > INT64_MAX / 64)
        return fv__fail(FV_ERR_SHAPE, "conv2d: %lld filters of %lldx%lld on input %s is too large",
                        (long long)g->out_c, (long long)g->k_h, (long long)g->k_w, in);

    fv_param *k = &l->params[0];
    memset(l->params, 0, sizeof l->params);
    strcpy(k->suffix, "kernel");
    k->rank = 4;
    k->dims[0] = g->k_h, k->dims[1] = g->k_w, k->dims[2] = g->in_c, k->dims[3] = g->out_c;
    k->size = ksize;
    k->init = FV_INIT_GLOROT_UNIFORM;
    k->fan_in = kk * g->in_c;   /* receptive field × input channels */
    k->fan_out = kk * g->out_c; /* receptive field × filters */
    l->nparams = 1;
    if (c->use_bias) {
        fv_param *b = &l->params[1];
        strcpy(b->suffix, "bias");
        b->rank = 1;
        b->dims[0] = g->out_c;
        b->size = g->out_c;
        b->init = FV_INIT_ZEROS;
        b->reg = c->bias_regularizer;
        l->nparams = 2;
    }
    l->params[0].reg = c->kernel_regularizer;
    l->saved_per_sample = 0; /* backward reads x and y */
    /* With stride 1, dx[h, w, c] = Σ_{kh, kw, f} dy[h + pad_top − d·kh, w + pad_left − d·kw, f] ·
     * k[kh, kw, c, f]: a stride-1 convolution of dy (zero outside it) with the kernel flipped,
     * leading padding d·(k − 1) − pad, whose output is the input's size. The forward kernels run
     * it faster than the backward's gathers, one weight row per pixel. */
    c->dx_by_forward = g->stride_h == 1 && g->stride_w == 1;
    /* Strided (without dilation): the input gradient as one such stride-1 convolution per phase
     * of the input (positions with given remainders modulo the strides), fv_conv_dx_phases. */
    c->dx_phases = fv_conv_dx_phases_apply(g);
    c->gt = (fv_conv_geom){.in_h = g->out_h,
                           .in_w = g->out_w,
                           .in_c = g->out_c,
                           .k_h = g->k_h,
                           .k_w = g->k_w,
                           .out_h = g->in_h,
                           .out_w = g->in_w,
                           .out_c = g->in_c,
                           .stride_h = 1,
                           .stride_w = 1,
                           .dil_h = g->dil_h,
                           .dil_w = g->dil_w,
                           .pad_top = g->dil_h * (g->k_h - 1) - g->pad_top,
                           .pad_left = g->dil_w * (g->k_w - 1) - g->pad_left};
    return FV_OK;
}

/* Whether backward computes the input gradient with the forward kernels (fp32 only: the bf16
 * gathers keep their own path). */
static bool dx_by_forward(const fv_layer *l)
{
    return ((const conv2d_cfg *)l->cfg)->dx_by_forward && !l->bf16;
}

/* conv_algorithm=winograd (fp32): the forward by Winograd F(2×2, 3×3) where it applies (3×3,
 * strides 1, dilation 1), and likewise the stride-1 input gradient (the forward of ∂L/∂y with the
 * flipped kernel, geometry gt). */
static bool wino_fwd(const fv_layer *l)
{
    return l->winograd && !l->bf16 && fv_conv_winograd_applies(&((const conv2d_cfg *)l->cfg)->g);
}

static bool wino_dx(const fv_layer *l)
{
    return l->winograd && dx_by_forward(l) &&
           fv_conv_winograd_applies(&((const conv2d_cfg *)l->cfg)->gt);
}

/* Scratch: the packed weights (shared: the forward panels or Winograd's transformed kernel, or
 * the backward's transposed copy; with dx_by_forward, then the flipped kernel's panels (or its
 * Winograd transform) and the flipped kernel), then per thread the fast kernels' scratch, then
 * FV_GRAD_CHUNKS partial parameter gradients: kernel in the dense layout, kernel in the sparse
 * path's layout, bias. */
static int64_t pack_first(const fv_layer *l)
{
    const conv2d_cfg *c = l->cfg;
    int64_t f = fv_conv_fwd_pack_floats(&c->g), b = fv_conv_bwd_pack_floats(&c->g);
    if (wino_fwd(l) && f < fv_conv_winograd_pack_floats(&c->g))
        f = fv_conv_winograd_pack_floats(&c->g);
    return pad16(f > b ? f : b);
}

/* The flipped kernel's packed form (dx_by_forward). */
static int64_t flip_pack(const fv_layer *l)
{
    const conv2d_cfg *c = l->cfg;
    const int64_t f = fv_conv_fwd_pack_floats(&c->gt);
    const int64_t w = wino_dx(l) ? fv_conv_winograd_pack_floats(&c->gt) : 0;
    return pad16(f > w ? f : w);
}

static int64_t pack_stride(const fv_layer *l)
{
    const conv2d_cfg *c = l->cfg;
    if (c->dx_phases) return pack_first(l) + pad16(fv_conv_dx_phases_pack_floats(&c->g));
    if (!c->dx_by_forward) return pack_first(l);
    return pack_first(l) + flip_pack(l) + pad16(c->g.k_h * c->g.k_w * c->g.in_c * c->g.out_c);
}

/* Whether dy [P × F] (times the ReLU's mask where y_relu is not NULL) looks mostly zero, as behind
 * a max-pool: the backward's gathers then skip the zeros, faster than a dense convolution. Judged
 * on every 8th pixel (the choice changes only the order of dx's sums, never which values). */
static bool mostly_zero(const float *dy, const float *y_relu, int64_t P, int64_t F)
{
    /* 4 floats: the target's own vectors (SSE on any x86-64), which GCC lowers to vector compares
     */
    const fv__v4u zero = {0};
    int64_t nz = 0, seen = 0;
    for (int64_t p = 0; p < P; p += 8, seen += F) {
        const float *g = dy + p * F, *yr = y_relu ? y_relu + p * F : NULL;
        int64_t j = 0;
        fv__v4i acc = {0};
        for (; j + 4 <= F; j += 4) {
            fv__v4i on = (*(const fv__v4u *)(g + j) != zero);
            if (yr) on &= (*(const fv__v4u *)(yr + j) > zero);
            acc -= on;
        }
        nz += acc[0] + acc[1] + acc[2] + acc[3];
        for (; j < F; j++)
            nz += g[j] != 0.0f && (!yr || yr[j] > 0.0f);
    }
    return nz * 2 <= seen;
}

/* The weight gradient of the images with a dense gradient (fp32): up to DW_IMAGES consecutive
 * images of a chunk in one pass of the dense tiles (fv_conv_dw_images), whose reduction then runs
 * over all their pixels (8 × 49 on the ResNet example's last stage, where one image's tiles reduce
 * over 49 only), reading the windows in place instead of im2col rows. The images' padded copies
 * take at most DW_FLOATS per thread (fewer images where they would not fit, at least one). Every
 * layer of the ResNet example measured faster this way than by its image-by-image tiles or by
 * im2col and one GEMM (docs/design.md, the third round). 0 for precision=bf16 (its own tiles). */
enum { DW_IMAGES = 8, DW_FLOATS = 1 << 20 };

/* Set by fv__conv2d_force_wino_dw (tests), before a model is planned. */
static bool wino_dw_forced;

void fv__conv2d_force_wino_dw(bool on)
{
    __atomic_store_n(&wino_dw_forced, on, __ATOMIC_RELAXED);
}

/* Whether the dense images' weight gradient takes Winograd F(2×2, 3×3) (fv_conv_dw_wino_images)
 * instead of fv_conv_dw_images: with conv_algorithm=winograd (or where a test forces it), 3×3
 * kernels at stride 1 without dilation, fp32 (dw_images), its scratch within DW_FLOATS, and at
 * least 8 channels and filters in whole 16s, where it measured faster on the AVX-512 and AVX2 paths
 * (bench/bench_winograd_dw.c, docs/design.md: 1.3-2.0× on the ResNet example's 16- to 64-channel
 * layers; 0.2× on its stem's single channel, 0.4-0.9× with 8 filters on AVX-512, whose tiles then
 * run half empty). */
static bool use_wino_dw(const fv_layer *l)
{
    const fv_conv_geom *g = &((const conv2d_cfg *)l->cfg)->g;
    return (l->winograd || __atomic_load_n(&wino_dw_forced, __ATOMIC_RELAXED)) && !l->bf16 &&
           fv_conv_dw_wino_applies(g) && g->in_c >= 8 && g->out_c % 16 == 0 &&
           fv_conv_dw_wino_scratch_floats(g, DW_IMAGES) <= DW_FLOATS;
}

static int64_t dw_images(const fv_layer *l)
{
    const fv_conv_geom *g = &((const conv2d_cfg *)l->cfg)->g;
    if (l->bf16) return 0;
    int64_t m = DW_IMAGES, max = fv_conv_dw_images_max(g);
    while (m > 1 && (m > max || fv_conv_dw_images_scratch_floats(g, m) > DW_FLOATS))
        m /= 2;
    return m;
}

/* The scratch of fv_conv_dw_images, in each thread's after the kernels'. */
static int64_t dw_floats(const fv_layer *l)
{
    const conv2d_cfg *c = l->cfg;
    const int64_t m = dw_images(l);
    if (m && use_wino_dw(l)) return pad16(fv_conv_dw_wino_scratch_floats(&c->g, m));
    return m ? pad16(fv_conv_dw_images_scratch_floats(&c->g, m)) : 0;
}

static int64_t kernel_stride(const fv_layer *l)
{
    const conv2d_cfg *c = l->cfg;
    int64_t f = fv_conv_fwd_scratch_floats(&c->g), b = fv_conv_bwd_scratch_floats(&c->g);
    if (l->bf16 && f < fv_conv_fwd_bf16_scratch_floats(&c->g))
        f = fv_conv_fwd_bf16_scratch_floats(&c->g);          /* the input's bf16 copy */
    if (l->bf16) b = fv_conv_bwd_bf16_scratch_floats(&c->g); /* and the lists' */
    if (c->dx_by_forward && b < fv_conv_fwd_scratch_floats(&c->gt))
        b = fv_conv_fwd_scratch_floats(&c->gt);
    if (wino_fwd(l) && f < fv_conv_winograd_scratch_floats(&c->g))
        f = fv_conv_winograd_scratch_floats(&c->g);
    if (wino_dx(l) && b < fv_conv_winograd_scratch_floats(&c->gt))
        b = fv_conv_winograd_scratch_floats(&c->gt);
    if (c->dx_phases && b < fv_conv_dx_phases_scratch_floats(&c->g))
        b = fv_conv_dx_phases_scratch_floats(&c->g);
    return pad16(f > b ? f : b);
}

/* A layer that adds its input gradient in place (fv_run.dx_add): an image whose gradient takes
 * the gathers (mostly zero) gets its input gradient in a thread's buffer of in_h·in_w·in_c floats
 * first, then added (the phases and, at stride 1, the forward kernels add theirs as they write
 * it). */
static int64_t add_floats(const fv_layer *l)
{
    const conv2d_cfg *c = l->cfg;
    return c->dx_phases || dx_by_forward(l) ? pad16(c->g.in_h * c->g.in_w * c->g.in_c) : 0;
}

/* With a backward chain (fv_layer.bchain): a thread's buffer for an image's ∂L/∂y, which the chain
 * writes and the kernels then read while it is in cache (in the batch's buffer it would go out to
 * memory and back). */
static int64_t chain_floats(const fv_layer *l)
{
    const fv_conv_geom *g = &((const conv2d_cfg *)l->cfg)->g;
    return l->bchain ? pad16(g->out_h * g->out_w * g->out_c) : 0;
}

static int64_t thread_stride(const fv_layer *l)
{
    return kernel_stride(l) + dw_floats(l) + add_floats(l) + chain_floats(l);
}

static int64_t partial_stride(const fv_layer *l)
{
    return pad16(2 * l->params[0].size + (l->nparams > 1 ? l->params[1].size : 0));
}

static size_t conv2d_scratch_bytes(const fv_layer *l, int64_t n, int threads)
{
    (void)n;
    int64_t t = threads > 0 ? threads : 1, a, b, total;
    if (!fv__mul_i64(t, thread_stride(l), &a) ||
        !fv__mul_i64(FV_GRAD_CHUNKS, partial_stride(l), &b) || !fv__add_i64(a, b, &total) ||
        !fv__add_i64(total, pack_stride(l), &total) || total > (int64_t)(SIZE_MAX / sizeof(float)))
        return SIZE_MAX;
    return (size_t)total * sizeof(float);
}

static void conv2d_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const conv2d_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const int64_t n = r->n, in_sz = g->in_h * g->in_w * g->in_c;
    const int64_t rows = g->out_h * g->out_w, out_sz = rows * g->out_c, ts = thread_stride(l);
    const float *b = l->fold_b ? l->fold_b : c->use_bias ? l->params[1].w : NULL;
    const fv_activation act = (fv_activation)c->activation;
    /* fused into the kernel's epilogue; in an inference plan also the ReLU layer after a folded
     * BatchNormalization (fv_layer.lean_relu) */
    const bool relu = act == FV_ACT_RELU || l->lean_relu;
    const float alpha = fv__act_alpha(act);
    float *wp = r->scratch, *own0 = wp + pack_stride(l);
    /* precision=bf16: the vdpbf16ps tiles where tap pairs fit the kernel segments (the same
     * windows; the packed pairs take no more room than the fp32 panels). */
    const bool bf16 = l->bf16 && fv_conv_bf16_applies(g), wino = wino_fwd(l);
    if (bf16)
        fv_conv_fwd_pack_bf16(g, l->fold_w ? l->fold_w : l->params[0].w, (uint16_t *)wp);
    else if (wino) /* conv_algorithm=winograd: U = G g Gᵀ */
        fv_conv_winograd_pack(g, l->fold_w ? l->fold_w : l->params[0].w, wp);
    else
        fv_conv_fwd_pack(g, l->fold_w ? l->fold_w : l->params[0].w, wp);

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * out_sz * g->k_h * g->k_w * g->in_c);
    /* Units of work: the images, or with r->sums the chunks, their images in order, each image's
     * channel sums taken after it (fv_bn_pair: the BatchNormalization reading y then skips its
     * pass over y). */
    const int64_t units = r->sums ? fv__run_chunks(r) : n;
    /* the next image's input to prefetch: the BatchNormalization's input when its output is
     * written here (r->fill) */
    const float *xn = r->fill && r->fill->y_left ? r->fill->x : x;
#pragma omp parallel num_threads(threads)
    {
        float *own = own0 + (int64_t)fv__thread_id() * ts;
#pragma omp for schedule(static)
        for (int64_t ch = 0; ch < units; ch++) {
            int64_t lo = ch, hi = ch + 1;
            if (r->sums) fv__run_chunk(r, (int)ch, &lo, &hi);
            double *row = r->sums ? fv__bn_pair_row(r, (int)ch) : NULL;
            for (int64_t i = lo; i < hi; i++) {
                float *yi = y + i * out_sz;
                fv__bn_pair_y(r, i, i + 1); /* x left to this layer by its BatchNormalization */
                if (bf16)
                    fv_conv2d_forward_bf16(g, x + i * in_sz, (const uint16_t *)wp, b, relu, yi,
                                           own);
                else if (wino)
                    fv_conv2d_forward_winograd(g, x + i * in_sz, wp, b, relu, yi, own,
                                               i + 1 < n ? xn + (i + 1) * in_sz : NULL, in_sz);
                else
                    fv_conv2d_forward_next(g, x + i * in_sz, wp, b, relu, yi, own,
                                           i + 1 < n ? xn + (i + 1) * in_sz : NULL, in_sz);
                if (!relu) fv__act_forward_rows(act, alpha, yi, rows, g->out_c);
                if (row) fv__bn_pair_add(r, row, yi, rows);
                fv__run_chain(r, i, yi); /* the plan's chain: max-pooling, dropout, ... */
            }
        }
    }
    if (r->sums) r->sums->done = true;
    /* the profile's executed FLOPs: Winograd's count where it ran, else the dense one */
    l->exec_fwd_flop =
        (double)n *
        (wino ? fv_conv_winograd_flop(g)
              : 2.0 * (double)rows * (double)(g->k_h * g->k_w * g->in_c) * (double)g->out_c);
}

/* The partial gradients of the chunks are summed TREE_BLOCK elements at a time. */
enum { TREE_BLOCK = 64 };

/* dst[0 .. len) += the balanced tree over the chunks of src[ch·ps + e] (len ≤ TREE_BLOCK): each
 * element in fv__chunk_tree's order, so the same bits, eight elements to a vector. */
static void chunk_tree_add(float *dst, const float *src, int64_t ps, int chunks, int64_t len)
{
    FV_ASSERT(chunks > 0 && chunks <= FV_GRAD_CHUNKS && (chunks & (chunks - 1)) == 0);
    const int64_t nv = len / 8;
    for (int64_t v = 0; v < nv; v++) {
        fv__v8u t[FV_GRAD_CHUNKS];
        for (int j = 0; j < chunks; j++)
            t[j] = *(const fv__v8u *)(src + j * ps + 8 * v);
        for (int w = 1; w < chunks; w *= 2)
            for (int j = 0; j + w < chunks; j += 2 * w)
                t[j] = t[j] + t[j + w];
        *(fv__v8u *)(dst + 8 * v) = *(const fv__v8u *)(dst + 8 * v) + t[0];
    }
    for (int64_t e = 8 * nv; e < len; e++)
        dst[e] += fv__chunk_tree(src + e, ps, chunks);
}

/* FLOPs (2 per multiply-add) of one fv_conv2d_backward_* call that took path, with the scratch own
 * it used, computing the weight gradient (dw) and/or the input gradient (dx): each over the
 * listed nonzeros of ∂L/∂z (K each) where the kernel took them, else P·K·F. */
static double kernel_work(const fv_conv_geom *g, fv_conv_bwd_path path, const float *own, bool dw,
                          bool dx)
{
    const double K = (double)(g->k_h * g->k_w * g->in_c);
    const double dense = (double)(g->out_h * g->out_w) * K * (double)g->out_c;
    const int64_t nnz = fv_conv_bwd_nonzeros(g, own); /* -1: no lists, the dense paths ran */
    double macs = 0.0;
    if (dw) macs += path == FV_CONV_BWD_SPARSE ? (double)nnz * K : dense;
    if (dx) macs += nnz >= 0 ? (double)nnz * K : dense;
    return 2.0 * macs;
}

/* One pass over an image's gradient dz [rows × F], in place: ReLU's mask where y_relu (the forward
 * output) is not NULL (dz ← y > 0 ? dz : 0, as fv_act_backward), and db[f] += Σ_p dz[p·F + f] in
 * pixel order where db is not NULL, as the kernels' scan adds it (the same bits), four filters to
 * a vector (SSE's width: wider vectors' compares are split element by element on plain x86-64). */
static void mask_bias_rows(const float *restrict y_relu, float *restrict dz, float *restrict db,
                           int64_t rows, int64_t F)
{
    const fv__v4u zero = {0};
    if (!y_relu && !db) return;
    for (int64_t p = 0; p < rows; p++) {
        float *d = dz + p * F;
        const float *y = y_relu ? y_relu + p * F : NULL;
        int64_t f = 0;
        for (; f + 4 <= F; f += 4) {
            fv__v4u v = *(const fv__v4u *)(d + f);
            if (y) {
                v = (fv__v4u)((fv__v4i)v & (*(const fv__v4u *)(y + f) > zero));
                *(fv__v4u *)(d + f) = v;
            }
            if (db) *(fv__v4u *)(db + f) = *(const fv__v4u *)(db + f) + v;
        }
        for (; f < F; f++) {
            if (y && !(y[f] > 0.0f)) d[f] = 0.0f;
            if (db) db[f] += d[f];
        }
    }
}

/* What backward's images with a dense gradient share. */
typedef struct dense_ctx {
    const conv2d_cfg *c;
    const float *x, *w, *wt, *wtf; /* the input, the kernel, its packed forms */
    const float *dy;               /* ∂L/∂z of the batch (the activation's gradient applied) */
    float *dx;                     /* NULL: no input gradient */
    int64_t n;                     /* images in the batch */
    bool fwd_dx, ph_dx;            /* the input gradient by the forward kernels, by phases */
    bool wino;                     /* fwd_dx by Winograd (conv_algorithm=winograd) */
    bool add;                      /* dx is added into (fv_run.dx_add) */
    bool wino_dw;                  /* the weight gradient by Winograd (use_wino_dw) */
    double gt_flop, ph_flop, dw_flop; /* FLOPs per image performed: dx, dx, dW */
} dense_ctx;

/* The images first .. first+m−1 of a chunk, whose ∂L/∂z is dense: their weight gradient in one
 * pass into pk (fv_conv_dw_images, scratch dws), then each image's input gradient (own: the
 * kernels' scratch) and bias gradient into pb (NULL: none), in image order, while their ∂L/∂z is
 * still in cache from that pass; nxt: the first image of the group this thread takes next (−1:
 * none), whose inputs the input gradients prefetch. Returns the FLOPs performed. */
static double dense_images(const dense_ctx *d, int64_t first, int64_t m, int64_t nxt, float *pk,
                           float *pb, float *own, float *dws)
{
    const conv2d_cfg *c = d->c;
    const fv_conv_geom *g = &c->g;
    const int64_t in_sz = g->in_h * g->in_w * g->in_c, rows = g->out_h * g->out_w;
    const int64_t F = g->out_c, out_sz = rows * F;
    double work = (double)m * d->dw_flop;
    if (d->wino_dw)
        fv_conv_dw_wino_images(g, m, d->x + first * in_sz, d->dy + first * out_sz, pk, dws);
    else
        fv_conv_dw_images(g, m, d->x + first * in_sz, d->dy + first * out_sz, pk, dws);
    for (int64_t i = first; i < first + m; i++) {
        const float *dyi = d->dy + i * out_sz;
        float *dxi = d->dx ? d->dx + i * in_sz : NULL;
        /* with a prefetch of the input of the next group's image i − first, which its padded
         * copies (fv_conv_dw_images) read first since the forward */
        const int64_t j = nxt + (i - first);
        const float *next = nxt >= 0 && j < d->n ? d->x + j * in_sz : NULL;
        if (d->fwd_dx && d->wino) { /* likewise, added in the output transform's epilogue */
            if (d->add)
                fv_conv2d_forward_winograd_add(&c->gt, dyi, d->wtf, dxi, own, next, in_sz);
            else
                fv_conv2d_forward_winograd(&c->gt, dyi, d->wtf, NULL, false, dxi, own, next, in_sz);
            work += d->gt_flop;
        } else if (d->fwd_dx) {
            if (d->add) /* added in the tiles' epilogue, the executor's sum's bits */
                fv_conv2d_forward_add(&c->gt, dyi, d->wtf, dxi, own, next, in_sz);
            else
                fv_conv2d_forward_next(&c->gt, dyi, d->wtf, NULL, false, dxi, own, next, in_sz);
            work += d->gt_flop;
        } else if (d->ph_dx) {
            fv_conv_dx_phases_next(g, dyi, d->wtf, dxi, own, d->add, next, in_sz);
            work += d->ph_flop;
        }
        /* the input gradient (strided and dilated: no phases) and the bias by the kernel (else
         * the bias was summed with the mask, mask_bias_rows) */
        if (dxi && !d->fwd_dx && !d->ph_dx) {
            memset(dxi, 0, (size_t)in_sz * sizeof(float));
            fv_conv2d_backward_fast(g, d->x + i * in_sz, NULL, dyi, d->w, d->wt, NULL, NULL, pb,
                                    dxi, own);
            work += kernel_work(g, FV_CONV_BWD_DENSE, own, false, true);
        }
    }
    return work;
}

/* The first image of the group that a thread takes after the one ending at image end of its chunk
 * (images up to hi): the rest of the chunk, else the first image of nch, the chunk it has claimed
 * next (−1: none, nch ≥ chunks). */
static int64_t next_group(const fv_run *r, int64_t end, int64_t hi, int nch, int chunks)
{
    int64_t lo2, hi2;
    if (end < hi) return end;
    if (nch >= chunks) return -1;
    fv__run_chunk(r, nch, &lo2, &hi2);
    return lo2;
}

/* The next chunk index from the shared counter (each index once, in the order claimed). */
static int claim_chunk(int *counter)
{
    int c;
#pragma omp atomic capture
    c = (*counter)++;
    return c;
}

static void conv2d_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                            float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    const conv2d_cfg *c = l->cfg;
    const fv_conv_geom *g = &c->g;
    const int64_t n = r->n, in_sz = g->in_h * g->in_w * g->in_c;
    const int64_t rows = g->out_h * g->out_w, out_sz = rows * g->out_c, ts = thread_stride(l);
    const fv_activation act = l->fused_act ? FV_ACT_LINEAR : (fv_activation)c->activation;
    /* ReLU's mask is applied by the kernel, the other activations here. */
    const bool relu = act == FV_ACT_RELU;
    const float alpha = fv__act_alpha(act);
    const int threads = fv__work_threads(r, n * out_sz * g->k_h * g->k_w * g->in_c);
    const int chunks = fv__run_chunks(r);
    const int64_t ksz = l->params[0].size, bsz = c->use_bias ? l->params[1].size : 0;
    const int64_t ps = partial_stride(l), F = g->out_c;
    float *wt = r->scratch, *own0 = wt + pack_stride(l);
    float *partial = own0 + (int64_t)threads * ts;
    const float *w = l->params[0].w;
    float *kg = l->params[0].g, *bg = c->use_bias ? l->params[1].g : NULL;
    /* precision=bf16: the gathers of the backward in bf16 (the packed weights in bf16 take half
     * the room of the fp32 ones). */
    uint16_t *wt16 = l->bf16 ? (uint16_t *)wt : NULL;
    const bool fwd_dx = dx && dx_by_forward(l), lists = fv_conv_bwd_uses_lists(g);
    const bool ph_dx = dx && c->dx_phases && !l->bf16; /* strided: dx by phases */
    const int64_t group = dw_images(l); /* fp32: dense images' weight gradients together */
    const bool dx_by_kernel = dx && !fwd_dx && !ph_dx; /* strided and dilated */
    const bool add = dx && (r->dx_add & 1u); /* dx holds other readers' gradient: add to it */
    FV_ASSERT(!add || ph_dx || fwd_dx);
    const int64_t kstride = kernel_stride(l), K = g->k_h * g->k_w * g->in_c;
    float *wtf = wt + pack_first(l);        /* the flipped kernel's panels */
    const bool wino = fwd_dx && wino_dx(l); /* or its Winograd transform */
    /* The FLOPs performed (the profile's executed figure), per chunk, added in chunk order. */
    double work[FV_GRAD_CHUNKS] = {0};
    /* The chunks whose sparse partial was zeroed (some image took the per-image kernels). */
    bool sparse[FV_GRAD_CHUNKS] = {0};
    const double gt_flop = wino ? fv_conv_winograd_flop(&c->gt)
                                : 2.0 * (double)(c->gt.out_h * c->gt.out_w) *
                                      (double)(c->gt.k_h * c->gt.k_w * c->gt.in_c) *
                                      (double)c->gt.out_c;
    const double dense_flop = 2.0 * (double)rows * (double)K * (double)F;
    const bool wino_dw = use_wino_dw(l);
    const double ph_flop = ph_dx ? fv_conv_dx_phases_flop(g) : 0;
    if (fwd_dx) { /* kt[kh', kw', f, c] = k[k_h−1−kh', k_w−1−kw', c, f], packed for the forward */
        const fv_conv_geom *gt = &c->gt;
        float *kt = wtf + flip_pack(l);
        const int64_t C = g->in_c, KH = g->k_h, KW = g->k_w;
        for (int64_t a = 0; a < KH; a++)
            for (int64_t b = 0; b < KW; b++)
                for (int64_t ci = 0; ci < C; ci++)
                    for (int64_t f = 0; f < F; f++)
                        kt[((a * KW + b) * F + f) * C + ci] =
                            w[(((KH - 1 - a) * KW + (KW - 1 - b)) * C + ci) * F + f];
        if (wino)
            fv_conv_winograd_pack(gt, kt, wtf);
        else
            fv_conv_fwd_pack(gt, kt, wtf);
    }
    if (ph_dx) fv_conv_dx_phases_pack(g, w, wtf);
    if (dx && lists) { /* fwd_dx: for the images whose gradient is mostly zero */
        if (wt16)
            fv_conv_bwd_pack_bf16(g, w, wt16);
        else
            fv_conv_bwd_pack(g, w, wt);
    }

    const dense_ctx d = {.c = c,
                         .x = x,
                         .w = w,
                         .wt = wt,
                         .wtf = wtf,
                         .dy = dy,
                         .dx = dx,
                         .n = n,
                         .fwd_dx = fwd_dx,
                         .ph_dx = ph_dx,
                         .wino = wino,
                         .add = add,
                         .gt_flop = gt_flop,
                         .ph_flop = ph_flop,
                         .wino_dw = wino_dw,
                         /* Winograd's: its GEMMs' 16 products a tile and the transforms, counted
                          * as the forward's of this geometry (the same tiles and channels) */
                         .dw_flop = wino_dw ? fv_conv_winograd_flop(g) : dense_flop};

    int counter = 0; /* the chunks claimed so far */
#pragma omp parallel num_threads(threads)
    {
        float *own = own0 + (int64_t)fv__thread_id() * ts;
        /* Each chunk of consecutive images sums into its own partial buffers, in image order. The
         * chunks go to the threads as a dynamic schedule gives them, but each thread claims its
         * next chunk (nch) one ahead, so that the prefetch of the next group's inputs (while the
         * input gradients run, dense_images) fetches this thread's next images into its own L2,
         * where schedule(dynamic) left the next images to whichever thread came first (at two
         * threads, mostly the other one). Which thread sums a chunk never changes a result. */
        int ch = claim_chunk(&counter), nch = claim_chunk(&counter);
        for (; ch < chunks; ch = nch, nch = ch < chunks ? claim_chunk(&counter) : chunks) {
            float *pk = partial + ch * ps, *pks = pk + ksz, *pb = bsz ? pks + ksz : NULL;
            memset(pk, 0, (size_t)ksz * sizeof(float)); /* the sparse part when first used */
            if (bsz) memset(pb, 0, (size_t)bsz * sizeof(float));
            sparse[ch] = false;
            int64_t lo, hi;
            fv__run_chunk(r, ch, &lo, &hi);
            fv__bn_pair_dx(r, lo, hi);  /* ∂L/∂y left to this layer by its BatchNormalization */
            float *dws = own + kstride; /* fv_conv_dw_images' scratch */
            float *dxa = dws + dw_floats(l); /* with add: a gathered image's input gradient */
            float *dyc = l->bchain ? dxa + add_floats(l) : NULL; /* chain_floats */
            int64_t m = 0, first = lo; /* dense images waiting: m from `first` on */
            for (int64_t i = lo; i < hi; i++) {
                float *dxi = dx ? dx + i * in_sz : NULL, *dyi = dy + i * out_sz;
                /* the backward chain writes this image's ∂L/∂y now, in the thread's buffer, and a
                 * max-pooling there may apply the ReLU's mask (fv_bchain) */
                const bool masked = fv__run_bchain(r, i, relu, dyc);
                if (r->bchain && dyc) dyi = dyc;
                if (act != FV_ACT_LINEAR && !relu)
                    fv__act_backward_rows(act, alpha, y + i * out_sz, dyi, rows, F);
                /* the kernels apply the mask */
                const float *yr = relu && !masked ? y + i * out_sz : NULL;
                if (group && !(lists && mostly_zero(dyi, yr, rows, F))) {
                    if (dyi != dy + i * out_sz) { /* dense_images reads the batch's */
                        memcpy(dy + i * out_sz, dyi, (size_t)out_sz * sizeof(float));
                        dyi = dy + i * out_sz;
                    }
                    /* ReLU's mask in place, and the bias in the same pass unless the kernel
                     * computes it with the input gradient (dense_images) */
                    mask_bias_rows(yr, dyi, dx_by_kernel ? NULL : pb, rows, F);
                    if (!m) first = i;
                    if (++m == group) {
                        const int64_t nxt = next_group(r, i + 1, hi, nch, chunks);
                        work[ch] += dense_images(&d, first, m, nxt, pk, pb, own, dws);
                        m = 0;
                    }
                    continue;
                }
                /* the dense images before this one */
                if (m) work[ch] += dense_images(&d, first, m, i + 1, pk, pb, own, dws);
                m = 0;
                float *dxg = add ? dxa : dxi; /* with add: the gradient first, then added */
                if (dxg) memset(dxg, 0, (size_t)in_sz * sizeof(float));
                if (!sparse[ch]) memset(pks, 0, (size_t)ksz * sizeof(float));
                sparse[ch] = true;
                const fv_conv_bwd_path path =
                    wt16 ? fv_conv2d_backward_bf16(g, x + i * in_sz, yr, dyi, w, wt16, pk, pks, pb,
                                                   dxg, own)
                         : fv_conv2d_backward_fast(g, x + i * in_sz, yr, dyi, w, wt, pk, pks, pb,
                                                   dxg, own);
                if (add) fv__add_run(dxi, dxa, in_sz);
                work[ch] += kernel_work(g, path, own, true, dxg != NULL);
            }
            if (m)
                work[ch] += dense_images(&d, first, m, next_group(r, hi, hi, nch, chunks), pk, pb,
                                         own, dws);
        }
#pragma omp barrier
        /* Then the sparse partials of the chunks that have one are added to their dense ones
         * (a chunk without: its sparse partial would add +0.0, which changes no dense sum: an FMA
         * chain from +0.0 never gives −0.0), and the chunks added as a balanced tree, each
         * element by one thread. */
        bool any_sparse = false;
        for (int ch = 0; ch < chunks; ch++)
            any_sparse |= sparse[ch];
        if (any_sparse) {
#pragma omp for schedule(static)
            for (int64_t e = 0; e < ksz; e++) {
                const int64_t es = ksz + fv_conv_sparse_dw_index(g, e / F, e % F);
                for (int ch = 0; ch < chunks; ch++)
                    if (sparse[ch]) partial[ch * ps + e] += partial[ch * ps + es];
            }
        }
#pragma omp for schedule(static)
        for (int64_t e0 = 0; e0 < ksz + bsz; e0 += TREE_BLOCK) {
            const int64_t e1 = e0 + TREE_BLOCK < ksz ? e0 + TREE_BLOCK : ksz;
            if (e0 < ksz) chunk_tree_add(kg + e0, partial + e0, ps, chunks, e1 - e0);
            for (int64_t e = e0 > ksz ? e0 : ksz; e < e0 + TREE_BLOCK && e < ksz + bsz; e++)
                bg[e - ksz] += fv__chunk_tree(partial + ksz + e, ps, chunks);
        }
    }
    l->exec_bwd_flop = 0.0;
    for (int ch = 0; ch < chunks; ch++)
        l->exec_bwd_flop += work[ch];
}

/* Dense multiply-adds ×2: forward P·K·F; backward the same for the weights, again for the input
 * (the sparse path does fewer: backward reports what it performed, kernel_work). */
static double conv2d_flops(const fv_layer *l, bool backward, bool input_grad)
{
    const fv_conv_geom *g = &((const conv2d_cfg *)l->cfg)->g;
    const double f = 2.0 * (double)(g->out_h * g->out_w) * (double)(g->k_h * g->k_w * g->in_c) *
                     (double)g->out_c;
    return backward ? (input_grad ? 2.0 * f : f) : f;
}

/* The fp32 layers' input gradient adds in place (fv_run.dx_add): the strided ones where the phases'
 * kernel does it as fast as it writes (fv_conv_dx_phases_adds_in_place); at stride 1 the forward
 * kernels' epilogue adds (fv_conv2d_forward_add), in the layer's threads, where the executor's sum
 * after a temporary of the batch ran on one thread over data out of cache (the ResNet example's
 * s1_conv1, whose input also feeds the residual Add). */
static bool conv2d_adds_dx(const fv_layer *l, int input)
{
    const conv2d_cfg *c = l->cfg;
    if (input != 0 || l->bf16) return false;
    return dx_by_forward(l) || (c->dx_phases && fv_conv_dx_phases_adds_in_place(&c->g));
}

static fv_activation conv2d_activation(const fv_layer *l)
{
    return (fv_activation)((const conv2d_cfg *)l->cfg)->activation;
}

const fv_layer_kind fv__kind_conv2d = {
    .name = "conv2d",
    .keras_class = "Conv2D",
    .keras_name = "conv2d",
    .args = conv2d_args,
    .cfg_size = sizeof(conv2d_cfg),
    .build = conv2d_build,
    .scratch_bytes = conv2d_scratch_bytes,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .activation = conv2d_activation,
    .flops = conv2d_flops,
    .reports_work = true,
    .adds_dx = conv2d_adds_dx,
    .gives_sums = true,
    .runs_chain = true,
    .runs_bchain = true,
};
