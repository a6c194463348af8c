/* dense.c — Dense: Y = act(X·W + b) with W as (in, units), Keras' layout. Work is split across
 * threads in fixed blocks of columns (of Y and dX) or rows (of dW) that depend on the sizes only,
 * so every result is computed by the same GEMM calls whatever the thread count: bit-identical.
 * Y and dX take the whole batch in one GEMM (the weights, the large operand, packed once per
 * pass); dW and db are summed over the batch's fixed chunks (layer.h), so that a process holding
 * a slice of the batch computes its part of the same sum.
 */
#include "layers/layer.h"

#include "kernels/bf16.h"
#include "kernels/vec.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct dense_cfg {
    int64_t units;
    int activation; /* fv_activation */
    bool use_bias;
    fv_regularizer kernel_regularizer, bias_regularizer;
} dense_cfg;

#define OFF(f) offsetof(dense_cfg, f)
static const fv_arg_spec dense_args[] = {
    {"units", FV_ARG_INT, OFF(units), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {"activation", FV_ARG_CHOICE, OFF(activation), "linear", fv__activation_names, 0, 0},
    {"use_bias", FV_ARG_BOOL, OFF(use_bias), "true", NULL, 0, 0},
    {"kernel_regularizer", FV_ARG_REGULARIZER, OFF(kernel_regularizer), "None", NULL, 0, 0},
    {"bias_regularizer", FV_ARG_REGULARIZER, OFF(bias_regularizer), "None", NULL, 0, 0},
    {0},
};
#undef OFF

/* Columns of Y per block (forward), and input features per block (columns of dX, rows of dW):
 * multiples of every GEMM tile width, small enough to give both cores work on the seed's sizes
 * (128 units: 2 blocks; 9216 inputs: 36). */
enum { UNIT_BLOCK = 64, INPUT_BLOCK = 256 };

static fv_status dense_build(fv_layer *l)
{
    dense_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    if (l->in[0].rank != 1) {
        char in[96];
        fv__shape_format(&l->in[0], in, sizeof in);
        return fv__fail(FV_ERR_SHAPE, "dense: input %s has rank %d; add a flatten layer before it",
                        in, l->in[0].rank);
    }
    const int64_t in = l->in[0].d[0];
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
        b->reg = c->bias_regularizer;
        l->nparams = 2;
    }
    l->params[0].reg = c->kernel_regularizer;
    l->saved_per_sample = 0;
    return FV_OK;
}

static int64_t blocks(int64_t rows, int64_t per)
{
    return (rows + per - 1) / per;
}

/* v rounded up to a multiple of 32 (the bf16 GEMM's panel width and depth). */
static int64_t round32(int64_t v)
{
    return (v + 31) & ~(int64_t)31;
}

/* Levels of the chunk tree a thread keeps partial sums of dW at (log2 FV_GRAD_CHUNKS + 1). */
enum { TREE_LEVELS = 5 };

/* Scratch: per thread, TREE_LEVELS partial sums of one block of dW's rows; at precision=bf16
 * then the forward's packed W [in × units], or the backward's packed Wᵀ and every chunk's dY
 * (each chunk at most n samples, at most FV_GRAD_CHUNKS of them). */
static int64_t stacks_floats(const fv_layer *l, int threads)
{
    const int64_t units = ((const dense_cfg *)l->cfg)->units;
    int64_t per, total;
    if (!fv__mul_i64((int64_t)TREE_LEVELS * INPUT_BLOCK, units, &per) ||
        !fv__mul_i64(per, threads > 0 ? threads : 1, &total) || total > INT64_MAX / 8)
        return -1;
    return round32(total);
}

/* precision=bf16 (kernels/bf16.h): the weights, and for the backward Wᵀ, are packed in bf16
 * into the scratch, then y and dX run as fv_gemm_bf16 (bf16 products, fp32 sums) on the same
 * blocks as fp32; dW runs as fv_dense_dw_bf16 on pair rows of X and dY, every chunk's sum and
 * the chunk tree of a tile in one pass (the same bits as fv_gemm_bf16's dot path per chunk, then
 * the tree); the bias, activation, bias gradient and the chunk tree's additions stay fp32. An
 * element of y = x·W is within fv_bf16_gemm_rtol(in)·Σ_k |x_k·w_kj| of the fp32 product, of a
 * chunk's dW within fv_bf16_gemm_rtol(chunk)·Σ_i |x_ik·dy_ij|, of dX within
 * fv_bf16_gemm_rtol(units)·Σ_j |dy_ij·w_kj| (tests/test_layers.c). Packed operands are whole panels
 * of 32 columns, so the blocks (64 and 256 columns) start at panel boundaries: block j0 of a packed
 * operand of depth K is at j0·round32(K). */
static void dense_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const dense_cfg *c = l->cfg;
    const int64_t n = r->n, in = l->in[0].d[0], units = c->units;
    const float *w = l->fold_w ? l->fold_w : l->params[0].w;
    const float *b = l->fold_b ? l->fold_b : c->use_bias ? l->params[1].w : NULL;
    const fv_activation act = (fv_activation)c->activation;
    const float alpha = fv__act_alpha(act);
    const int64_t nb = blocks(units, UNIT_BLOCK);

    uint16_t *wp =
        l->bf16 ? (uint16_t *)((float *)r->scratch + stacks_floats(l, r->threads)) : NULL;
    const int64_t KP = round32(in);
    /* bf16: x rounded once (every column block reads it), after the packed W. */
    uint16_t *x16 = wp ? wp + round32(fv_gemm_bf16_packed_size(in, units)) : NULL;

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * in * units);
#pragma omp parallel num_threads(threads)
    {
        if (wp) {
#pragma omp for schedule(static)
            for (int64_t blk = 0; blk < nb; blk++) {
                const int64_t j0 = blk * UNIT_BLOCK;
                const int64_t m = units - j0 < UNIT_BLOCK ? units - j0 : UNIT_BLOCK;
                fv_gemm_bf16_pack_b(false, in, m, w + j0, units, wp + j0 * KP);
            }
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n; i++)
                fv_bf16_from_f32_n(x + i * in, x16 + i * in, in);
        }
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nb; blk++) {
            const int64_t j0 = blk * UNIT_BLOCK;
            const int64_t m = units - j0 < UNIT_BLOCK ? units - j0 : UNIT_BLOCK;
            if (wp)
                fv_gemm_bf16_a16(n, m, in, 1.0f, x16, in, wp + j0 * KP, 0.0f, y + j0, units);
            else
                fv_gemm(false, false, n, m, in, 1.0f, x, in, w + j0, units, 0.0f, y + j0, units);
            if (b)
                for (int64_t i = 0; i < n; i++)
                    for (int64_t j = 0; j < m; j++)
                        y[i * units + j0 + j] += b[j0 + j];
        }
        /* Softmax needs whole rows: the activation runs once the blocks are done. */
        if (act != FV_ACT_LINEAR) {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n; i++)
                fv__act_forward_rows(act, alpha, y + i * units, 1, units);
        }
    }
}

/* uint16_t elements of the backward's dY in bf16: its pair rows (fv_dense_bf16_pack_pairs, at most
 * n/2 + FV_GRAD_CHUNKS rows of units pairs), then dY rounded row by row [n × units] for dX's GEMM;
 * -1 on overflow. *rows_size gets the first part's size. */
static int64_t dy_bf16_size(int64_t n, int64_t units, int64_t *rows_size)
{
    int64_t rows, flat;
    if (!fv__mul_i64(n / 2 + FV_GRAD_CHUNKS, 2 * units, &rows) || !fv__mul_i64(n, units, &flat) ||
        rows > INT64_MAX / 4 || flat > INT64_MAX / 4)
        return -1;
    *rows_size = round32(rows);
    return round32(rows) + round32(flat);
}

/* uint16_t elements of the backward's per-thread pair rows of X (fv_dense_bf16_pack_pairs: at
 * most n/2 + FV_GRAD_CHUNKS rows of INPUT_BLOCK pairs); -1 on overflow. */
static int64_t pair_rows_size(int64_t n, int threads)
{
    int64_t per, total;
    if (!fv__mul_i64(n / 2 + FV_GRAD_CHUNKS, 2 * INPUT_BLOCK, &per) ||
        !fv__mul_i64(per, threads > 0 ? threads : 1, &total))
        return -1;
    return total;
}

static size_t dense_scratch_bytes(const fv_layer *l, int64_t n, int threads)
{
    const int64_t stacks = stacks_floats(l, threads);
    if (stacks < 0) return SIZE_MAX;
    int64_t bf = 0;
    if (l->bf16) {
        const int64_t in = l->in[0].d[0], units = ((const dense_cfg *)l->cfg)->units;
        const int64_t w0 = fv_gemm_bf16_packed_size(in, units);
        int64_t xs;
        if (w0 < 0 || !fv__mul_i64(n, in, &xs) || xs > INT64_MAX / 4 - round32(w0)) return SIZE_MAX;
        const int64_t w = round32(w0) + xs; /* the forward's packed W and x in bf16 */
        const int64_t wt = fv_gemm_bf16_packed_size(units, in);
        int64_t rows;
        const int64_t d = dy_bf16_size(n, units, &rows);
        const int64_t xp = pair_rows_size(n, threads);
        if (w < 0 || wt < 0 || d < 0 || xp < 0 || wt > INT64_MAX / 8 - d ||
            xp > INT64_MAX / 8 - round32(wt) - round32(d))
            return SIZE_MAX;
        const int64_t bwd = round32(wt) + round32(d) + xp;
        bf = ((w > bwd ? w : bwd) + 1) / 2; /* uint16_t, in floats */
    }
    if (bf > INT64_MAX / 8 - stacks || stacks + bf > (int64_t)(SIZE_MAX / sizeof(float)))
        return SIZE_MAX;
    return (size_t)(stacks + bf) * sizeof(float);
}

/* dW rows [r0, r0 + m) += Σ over the run's chunks of X_chᵀ·dY_ch, the chunks added as a balanced
 * tree (fv__chunk_tree's), kept as a stack of partial sums: a chunk's product is pushed, and two
 * sums of the same level are added (left + right) into one of the next level. */
static void dense_weight_grad(const fv_run *r, const float *x, const float *dy, int64_t in,
                              int64_t units, int64_t r0, int64_t m, float *stack, float *kg)
{
    const int chunks = fv__run_chunks(r);
    const int64_t size = INPUT_BLOCK * units;
    int level[TREE_LEVELS], depth = 0;
    for (int ch = 0; ch < chunks; ch++) {
        int64_t lo, hi;
        fv__run_chunk(r, ch, &lo, &hi);
        float *leaf = stack + depth * size;
        if (hi > lo)
            fv_gemm(true, false, m, units, hi - lo, 1.0f, x + lo * in + r0, in, dy + lo * units,
                    units, 0.0f, leaf, units);
        else
            memset(leaf, 0, (size_t)(m * units) * sizeof(float));
        level[depth++] = 0;
        while (depth >= 2 && level[depth - 1] == level[depth - 2]) {
            fv__add_run(stack + (depth - 2) * size, stack + (depth - 1) * size, m * units);
            level[depth - 2]++;
            depth--;
        }
    }
    FV_ASSERT(depth == 1);
    fv__add_run(kg + r0 * units, stack, m * units);
}

static void dense_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                           float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    const dense_cfg *c = l->cfg;
    const int64_t n = r->n, in = l->in[0].d[0], units = c->units;
    const fv_activation act = l->fused_act ? FV_ACT_LINEAR : (fv_activation)c->activation;
    const float alpha = fv__act_alpha(act);
    const float *w = l->params[0].w;
    float *kg = l->params[0].g, *bg = c->use_bias ? l->params[1].g : NULL;
    const int64_t ib = blocks(in, INPUT_BLOCK);
    float *stacks = r->scratch;
    /* bf16: Wᵀ [units × in] packed by the blocks of dX's columns, dY's pair rows, then each
     * thread's pair rows of its block of X's columns. */
    uint16_t *wtp = l->bf16 ? (uint16_t *)(stacks + stacks_floats(l, r->threads)) : NULL;
    uint16_t *dyp = wtp ? wtp + round32(fv_gemm_bf16_packed_size(units, in)) : NULL;
    int64_t rows = 0;
    uint16_t *xps = wtp ? dyp + dy_bf16_size(n, units, &rows) : NULL;
    uint16_t *dy16 = wtp ? dyp + rows : NULL;
    const int64_t KPu = round32(units);
    const int nch = fv__run_chunks(r);
    int64_t bounds[FV_GRAD_CHUNKS + 1];
    for (int ch = 0; ch < nch; ch++) {
        int64_t lo, hi;
        fv__run_chunk(r, ch, &lo, &hi);
        FV_ASSERT(ch == 0 || lo == bounds[ch]);
        bounds[ch] = lo, bounds[ch + 1] = hi;
    }

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * in * units);
#pragma omp parallel num_threads(threads)
    {
        if (act != FV_ACT_LINEAR) {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n; i++)
                fv__act_backward_rows(act, alpha, y + i * units, dy + i * units, 1, units);
        }
        if (wtp) {
#pragma omp single nowait
            {
                fv_dense_bf16_pack_pairs(dy, units, units, nch, bounds, dyp, units);
                fv_bf16_from_f32_n(dy, dy16, n * units);
            }
            if (dx) {
#pragma omp for schedule(static) nowait
                for (int64_t blk = 0; blk < ib; blk++) {
                    const int64_t r0 = blk * INPUT_BLOCK;
                    const int64_t m = in - r0 < INPUT_BLOCK ? in - r0 : INPUT_BLOCK;
                    fv_gemm_bf16_pack_b(true, units, m, w + r0 * units, units, wtp + r0 * KPu);
                }
            }
#pragma omp barrier
        }
        /* dW[in × units] += Xᵀ·dY by blocks of dW's rows, chunk by chunk; dX[n × in] = dY·Wᵀ by
         * blocks of its columns. Xᵀ is read from X stored n × in, Wᵀ from W stored in × units. */
        float *stack = stacks + (int64_t)fv__thread_id() * TREE_LEVELS * INPUT_BLOCK * units;
#pragma omp for schedule(static) nowait
        for (int64_t blk = 0; blk < ib; blk++) {
            const int64_t r0 = blk * INPUT_BLOCK;
            const int64_t m = in - r0 < INPUT_BLOCK ? in - r0 : INPUT_BLOCK;
            if (wtp) {
                /* dW's rows [r0, r0 + m): X's columns there as pairs of samples, then the
                 * chunks' vdpbf16ps sums and their tree in one kernel (bf16.h). */
                uint16_t *xp =
                    xps + (int64_t)fv__thread_id() * (n / 2 + FV_GRAD_CHUNKS) * 2 * INPUT_BLOCK;
                fv_dense_bf16_pack_pairs(x + r0, in, m, nch, bounds, xp, INPUT_BLOCK);
                fv_dense_dw_bf16(m, units, nch, bounds, xp, INPUT_BLOCK, dyp, units,
                                 kg + r0 * units, units);
            } else if (!fv_dense_dw_f32(m, units, nch, bounds, x + r0, in, dy, units,
                                        kg + r0 * units, units)) {
                /* Where that kernel does not run: the same sums chunk by chunk (kernels.h). */
                dense_weight_grad(r, x, dy, in, units, r0, m, stack, kg);
            }
            if (dx && n > 0 && wtp)
                fv_gemm_bf16_a16(n, m, units, 1.0f, dy16, units, wtp + r0 * KPu, 0.0f, dx + r0, in);
            else if (dx && n > 0)
                fv_gemm(false, true, n, m, units, 1.0f, dy, units, w + r0 * units, units, 0.0f,
                        dx + r0, in);
        }
        /* db += column sums of dY: each chunk's in sample order, the chunks as a tree. */
        if (bg) {
#pragma omp for schedule(static)
            for (int64_t j = 0; j < units; j++) {
                float leaf[FV_GRAD_CHUNKS];
                const int chunks = fv__run_chunks(r);
                for (int ch = 0; ch < chunks; ch++) {
                    int64_t lo, hi;
                    fv__run_chunk(r, ch, &lo, &hi);
                    float sum = 0.0f;
                    for (int64_t i = lo; i < hi; i++)
                        sum += dy[i * units + j];
                    leaf[ch] = sum;
                }
                bg[j] += fv__chunk_tree(leaf, 1, chunks);
            }
        }
    }
}

/* Multiply-adds ×2: forward in·units; backward the same for the weights, again for the input. */
static double dense_flops(const fv_layer *l, bool backward, bool input_grad)
{
    const double f = 2.0 * (double)l->in[0].d[0] * (double)((const dense_cfg *)l->cfg)->units;
    return backward ? (input_grad ? 2.0 * f : f) : f;
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
    .scratch_bytes = dense_scratch_bytes,
    .forward = dense_forward,
    .backward = dense_backward,
    .activation = dense_activation,
    .flops = dense_flops,
};
