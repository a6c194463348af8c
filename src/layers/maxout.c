/* maxout.c — Maxout: the last axis (c channels) is cut into `units` groups of c/units
 * consecutive channels and each group gives its maximum; rank 1 or 3 inputs. Forward keeps the
 * winning channel of every output (int32) for the backward scatter.
 */
#include "layers/layer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct maxout_cfg {
    int64_t units;
} maxout_cfg;

static const fv_arg_spec maxout_args[] = {
    {"units", FV_ARG_INT, offsetof(maxout_cfg, units), NULL, NULL, 1, FV_ARG_DIM_MAX},
    {0},
};

static int64_t pad16(int64_t v)
{
    return (v + 15) & ~(int64_t)15;
}

static fv_status maxout_build(fv_layer *l)
{
    const maxout_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    char in[96];
    fv__shape_format(&l->in[0], in, sizeof in);
    if (l->in[0].rank != 1 && l->in[0].rank != 3)
        return fv__fail(FV_ERR_SHAPE, "maxout: input %s has rank %d; maxout needs rank 1 or 3", in,
                        l->in[0].rank);
    const int64_t ch = l->in[0].d[l->in[0].rank - 1];
    if (ch % c->units != 0)
        return fv__fail(FV_ERR_SHAPE,
                        "maxout: input %s has %lld channels on its last axis, which do not "
                        "divide into units=%lld groups",
                        in, (long long)ch, (long long)c->units);
    if (fv__shape_size(&l->in[0]) < 0) return fv__fail(FV_ERR_SHAPE, "maxout: input is too large");
    l->out = l->in[0];
    l->out.d[l->out.rank - 1] = c->units;
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = (size_t)fv__shape_size(&l->out) * sizeof(int32_t);
    return FV_OK;
}

/* Scratch: one sample's argmax per thread, used when there is no l->saved (inference). */
static size_t maxout_scratch_bytes(const fv_layer *l, int64_t n, int threads)
{
    (void)n;
    return (size_t)(threads > 0 ? threads : 1) * (size_t)pad16(fv__shape_size(&l->out)) *
           sizeof(int32_t);
}

static void maxout_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const maxout_cfg *c = l->cfg;
    const int64_t n = r->n, in_sz = fv__shape_size(&l->in[0]), out_sz = fv__shape_size(&l->out);
    const int64_t ch = l->in[0].d[l->in[0].rank - 1], rows = in_sz / ch;
    int32_t *saved = l->saved, *scratch = r->scratch;

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * in_sz);
#pragma omp parallel num_threads(threads)
    {
        int32_t *own = scratch ? scratch + (int64_t)fv__thread_id() * pad16(out_sz) : NULL;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            int32_t *am = saved ? saved + i * out_sz : own;
            FV_ASSERT(am);
            fv_maxout_forward(x + i * in_sz, y + i * out_sz, am, rows, ch, c->units);
        }
    }
}

static void maxout_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                            float *const *dxs, fv_run *r)
{
    const float *x = xs[0];
    float *dx = dxs[0];
    (void)x, (void)y;
    const maxout_cfg *c = l->cfg;
    const int64_t n = r->n, in_sz = fv__shape_size(&l->in[0]), out_sz = fv__shape_size(&l->out);
    const int64_t ch = l->in[0].d[l->in[0].rank - 1], rows = in_sz / ch;
    const int32_t *saved = l->saved;
    if (!dx) return;
    FV_ASSERT(saved);

    const int threads FV_OMP_ONLY = fv__work_threads(r, n * in_sz);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        float *dxi = dx + i * in_sz;
        memset(dxi, 0, (size_t)in_sz * sizeof(float));
        fv_maxout_backward(dy + i * out_sz, saved + i * out_sz, dxi, rows, ch, c->units);
    }
}

const fv_layer_kind fv__kind_maxout = {
    .name = "maxout",
    .keras_class = "Maxout",
    .keras_name = "maxout",
    .args = maxout_args,
    .cfg_size = sizeof(maxout_cfg),
    .build = maxout_build,
    .scratch_bytes = maxout_scratch_bytes,
    .forward = maxout_forward,
    .backward = maxout_backward,
    .activation = NULL,
};
