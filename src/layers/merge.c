/* merge.c — Keras' merge layers, which take several tensors: Add, Subtract, Multiply, Average,
 * Maximum (element-wise over inputs of one shape) and Concatenate (along one axis). The family
 * shares one file, as the activation layers do; each kind is a registry line.
 */
#include "layers/layer.h"

#include "kernels/vec.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct merge_cfg {
    int64_t axis;  /* concatenate: Keras' axis, counting the batch axis as 0 (-1: the last) */
    int64_t caxis; /* derived by build: the axis within a sample's shape (0-based) */
} merge_cfg;

static const fv_arg_spec add_args[] = {{0}};
static const fv_arg_spec subtract_args[] = {{0}};
static const fv_arg_spec multiply_args[] = {{0}};
static const fv_arg_spec average_args[] = {{0}};
static const fv_arg_spec maximum_args[] = {{0}};
static const fv_arg_spec concatenate_args[] = {
    {"axis", FV_ARG_INT, offsetof(merge_cfg, axis), "-1", NULL, -4, 4},
    {0},
};

/* ---- element-wise: every input has the output's shape ------------------------------------- */

enum { OP_ADD, OP_SUBTRACT, OP_MULTIPLY, OP_AVERAGE, OP_MAXIMUM };

static int op_of(const fv_layer *l)
{
    const fv_layer_kind *k = l->kind;
    return k == &fv__kind_add        ? OP_ADD
           : k == &fv__kind_subtract ? OP_SUBTRACT
           : k == &fv__kind_multiply ? OP_MULTIPLY
           : k == &fv__kind_average  ? OP_AVERAGE
                                     : OP_MAXIMUM;
}

static fv_status elementwise_build(fv_layer *l)
{
    for (int j = 1; j < l->nin; j++)
        if (!fv__shape_equal(&l->in[j], &l->in[0])) {
            char a[96], b[96];
            fv__shape_format(&l->in[0], a, sizeof a);
            fv__shape_format(&l->in[j], b, sizeof b);
            return fv__fail(FV_ERR_SHAPE,
                            "%s: input 1 has shape %s but input %d has shape %s; the inputs of %s "
                            "must have one shape",
                            l->kind->name, a, j + 1, b, l->kind->name);
        }
    if (fv__shape_size(&l->in[0]) < 0)
        return fv__fail(FV_ERR_SHAPE, "%s: input is too large", l->kind->name);
    l->out = l->in[0];
    l->nparams = 0;
    l->saved_per_sample = 0; /* backward reads the inputs */
    return FV_OK;
}

/* Add's passes in blocks of this many values, in 4-float vectors (the general loop below runs a
 * switch per value). */
enum { ADD_BLOCK = 4096 };

/* y = x[0] + x[1] + ... + x[k-1], added in input order as the general loop does. */
static void add_forward(const float *const *x, int k, float *y, int64_t total, int threads)
{
    (void)threads;
    const int64_t blocks = (total + ADD_BLOCK - 1) / ADD_BLOCK;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t lo = b * ADD_BLOCK, len = total - lo < ADD_BLOCK ? total - lo : ADD_BLOCK;
        float *yb = y + lo;
        const float *p = x[0] + lo, *q = x[1] + lo;
        int64_t e = 0;
        for (; e + 4 <= len; e += 4)
            *(fv__v4u *)(yb + e) = *(const fv__v4u *)(p + e) + *(const fv__v4u *)(q + e);
        for (; e < len; e++)
            yb[e] = p[e] + q[e];
        for (int j = 2; j < k; j++)
            fv__add_run(yb, x[j] + lo, len);
    }
}

static void elementwise_forward(fv_layer *l, const float *const *x, float *y, fv_run *r)
{
    const int op = op_of(l), k = l->nin;
    const int64_t total = r->n * fv__shape_size(&l->out);
    const float inv = 1.0f / (float)k;
    const int threads FV_OMP_ONLY = fv__work_threads(r, total * k);
    if (op == OP_ADD) {
        add_forward(x, k, y, total, threads);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t e = 0; e < total; e++) {
        float v = x[0][e];
        for (int j = 1; j < k; j++) {
            const float u = x[j][e];
            switch (op) {
            case OP_ADD:
            case OP_AVERAGE:
                v += u;
                break;
            case OP_SUBTRACT:
                v -= u;
                break;
            case OP_MULTIPLY:
                v *= u;
                break;
            default:
                v = u > v ? u : v;
                break; /* ties keep the earlier input */
            }
        }
        y[e] = op == OP_AVERAGE ? v * inv : v;
    }
}

/* Add: dx_j = dy. Subtract (two inputs): dx_0 = dy, dx_1 = -dy. Average: dy / k. Multiply:
 * dy times the product of the other inputs. Maximum: dy to the first input holding the maximum
 * (TensorFlow's gradient of maximum(a, b) goes to a where a >= b), 0 to the others. */
static void elementwise_backward(fv_layer *l, const float *const *x, const float *y, float *dy,
                                 float *const *dx, fv_run *r)
{
    (void)y;
    const int op = op_of(l), k = l->nin;
    const int64_t total = r->n * fv__shape_size(&l->out);
    const float inv = 1.0f / (float)k;
    const int threads FV_OMP_ONLY = fv__work_threads(r, total * k);
    if (op == OP_ADD) { /* each input's gradient is dy */
        for (int j = 0; j < k; j++)
            if (dx[j]) memcpy(dx[j], dy, (size_t)total * sizeof(float));
        return;
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t e = 0; e < total; e++) {
        const float g = dy[e];
        int win = 0;
        if (op == OP_MAXIMUM)
            for (int j = 1; j < k; j++)
                if (x[j][e] > x[win][e]) win = j;
        for (int j = 0; j < k; j++) {
            if (!dx[j]) continue;
            float d;
            switch (op) {
            case OP_ADD:
                d = g;
                break;
            case OP_SUBTRACT:
                d = j == 0 ? g : -g;
                break;
            case OP_AVERAGE:
                d = g * inv;
                break;
            case OP_MULTIPLY:
                d = g;
                for (int i = 0; i < k; i++)
                    if (i != j) d *= x[i][e];
                break;
            default:
                d = j == win ? g : 0.0f;
                break;
            }
            dx[j][e] = d;
        }
    }
}

/* ---- concatenate --------------------------------------------------------------------------- */

static fv_status concatenate_build(fv_layer *l)
{
    merge_cfg *c = l->cfg;
    const int rank = l->in[0].rank;
    /* Keras counts the batch axis: axis 1..rank are a sample's axes, -1 the last. */
    int64_t a = c->axis < 0 ? c->axis + rank + 1 : c->axis;
    if (a < 1 || a > rank)
        return fv__fail(
            FV_ERR_INVALID,
            "concatenate: axis=%lld is not an axis of inputs of rank %d (with the batch "
            "axis: 1 to %d, or -1 to -%d; the batch axis 0 cannot be joined)",
            (long long)c->axis, rank + 1, rank, rank);
    c->caxis = a - 1;
    fv_shape out = l->in[0];
    for (int j = 1; j < l->nin; j++) {
        bool fits = l->in[j].rank == rank;
        for (int d = 0; fits && d < rank; d++)
            fits = d == c->caxis || l->in[j].d[d] == l->in[0].d[d];
        if (!fits) {
            char s0[96], sj[96];
            fv__shape_format(&l->in[0], s0, sizeof s0);
            fv__shape_format(&l->in[j], sj, sizeof sj);
            return fv__fail(
                FV_ERR_SHAPE,
                "concatenate: input 1 has shape %s and input %d has shape %s; they must "
                "match except along axis %lld",
                s0, j + 1, sj, (long long)c->axis);
        }
        if (!fv__add_i64(out.d[c->caxis], l->in[j].d[c->caxis], &out.d[c->caxis]))
            return fv__fail(FV_ERR_SHAPE, "concatenate: the output is too large");
    }
    if (fv__shape_size(&out) < 0) return fv__fail(FV_ERR_SHAPE, "concatenate: output too large");
    l->out = out;
    l->nparams = 0;
    l->saved_per_sample = 0;
    return FV_OK;
}

/* A sample is outer × (axis length × inner) for each input: the blocks of the inputs alternate
 * in the output, outer times. */
static void concat_geometry(const fv_layer *l, int64_t *outer, int64_t *inner)
{
    const merge_cfg *c = l->cfg;
    *outer = 1, *inner = 1;
    for (int d = 0; d < l->out.rank; d++) {
        if (d < c->caxis) *outer *= l->out.d[d];
        if (d > c->caxis) *inner *= l->out.d[d];
    }
}

static void concatenate_forward(fv_layer *l, const float *const *x, float *y, fv_run *r)
{
    const merge_cfg *c = l->cfg;
    int64_t outer, inner;
    concat_geometry(l, &outer, &inner);
    const int64_t rows = r->n * outer, out_row = l->out.d[c->caxis] * inner;
    const int threads FV_OMP_ONLY = fv__work_threads(r, rows * out_row);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < rows; i++) {
        float *dst = y + i * out_row;
        for (int j = 0; j < l->nin; j++) {
            const int64_t len = l->in[j].d[c->caxis] * inner;
            memcpy(dst, x[j] + i * len, (size_t)len * sizeof(float));
            dst += len;
        }
    }
}

static void concatenate_backward(fv_layer *l, const float *const *x, const float *y, float *dy,
                                 float *const *dx, fv_run *r)
{
    (void)x, (void)y;
    const merge_cfg *c = l->cfg;
    int64_t outer, inner;
    concat_geometry(l, &outer, &inner);
    const int64_t rows = r->n * outer, out_row = l->out.d[c->caxis] * inner;
    const int threads FV_OMP_ONLY = fv__work_threads(r, rows * out_row);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < rows; i++) {
        const float *src = dy + i * out_row;
        for (int j = 0; j < l->nin; j++) {
            const int64_t len = l->in[j].d[c->caxis] * inner;
            if (dx[j]) memcpy(dx[j] + i * len, src, (size_t)len * sizeof(float));
            src += len;
        }
    }
}

#define MERGE_KIND(id, class, min, max, kindname)                                                  \
    const fv_layer_kind fv__kind_##id = {                                                          \
        .name = #id,                                                                               \
        .keras_class = class,                                                                      \
        .keras_name = #id,                                                                         \
        .args = id##_args,                                                                         \
        .cfg_size = sizeof(merge_cfg),                                                             \
        .min_inputs = min,                                                                         \
        .max_inputs = max,                                                                         \
        .build = kindname##_build,                                                                 \
        .forward = kindname##_forward,                                                             \
        .backward = kindname##_backward,                                                           \
    }

MERGE_KIND(add, "Add", 2, FV_MAX_INPUTS, elementwise);
MERGE_KIND(subtract, "Subtract", 2, 2, elementwise);
MERGE_KIND(multiply, "Multiply", 2, FV_MAX_INPUTS, elementwise);
MERGE_KIND(average, "Average", 2, FV_MAX_INPUTS, elementwise);
MERGE_KIND(maximum, "Maximum", 2, FV_MAX_INPUTS, elementwise);
MERGE_KIND(concatenate, "Concatenate", 2, FV_MAX_INPUTS, concatenate);
