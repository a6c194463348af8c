/* chunks.c — the fixed chunks of a batch that parameter gradients and batch statistics are
 * summed over, as a run of a layer sees them (the whole batch, or one process's slice of it in
 * data-parallel training), and the balanced tree that adds the chunks' partial sums; and the
 * chains that a producer runs on each sample it writes (fv_chain).
 */
#include "layers/layer.h"

int fv__run_chunks(const fv_run *r)
{
    return r->c1 > r->c0 ? r->c1 - r->c0 : FV_GRAD_CHUNKS;
}

int fv__run_first_chunk(const fv_run *r)
{
    return r->c1 > r->c0 ? r->c0 : 0;
}

void fv__run_chunk(const fv_run *r, int j, int64_t *lo, int64_t *hi)
{
    const bool whole = r->c1 <= r->c0;
    const int64_t N = whole ? r->n : r->batch, first = whole ? 0 : r->first;
    const int64_t c = (whole ? 0 : r->c0) + j;
    *lo = c * N / FV_GRAD_CHUNKS - first;
    *hi = (c + 1) * N / FV_GRAD_CHUNKS - first;
    FV_ASSERT(*lo >= 0 && *hi <= r->n && *lo <= *hi);
}

int64_t fv__run_batch(const fv_run *r)
{
    return r->c1 > r->c0 ? r->batch : r->n;
}

bool fv__run_leader(const fv_run *r)
{
    return r->c1 <= r->c0 || r->c0 == 0;
}

void fv__run_sample(const fv_run *r, int64_t i, fv_rng *out)
{
    fv__rng_split(r->rng, (uint64_t)((r->c1 > r->c0 ? r->first : 0) + i), out);
}

void fv__run_chain(const fv_run *r, int64_t i, const float *y)
{
    const fv_chain *c = r->chain;
    for (int k = 0; c && k < c->len; k++) {
        fv_layer *l = c->layer[k];
        float *yk = c->y[k] + i * fv__shape_size(&l->out);
        l->kind->forward_sample(l, y, yk, i, &c->run[k]);
        y = yk;
    }
}

bool fv__run_bchain(const fv_run *r, int64_t i, bool relu, float *dst)
{
    const fv_bchain *c = r->bchain;
    bool masked = false;
    for (int k = c ? c->m.len - 1 : -1; k >= 0; k--) {
        fv_layer *l = c->m.layer[k];
        const int64_t out = fv__shape_size(&l->out), in = fv__shape_size(&l->in[0]);
        float *dx = k == 0 && dst ? dst : c->dx[k] + i * in;
        masked = l->kind->backward_sample(l, c->m.y[k] + i * out, c->dy[k] + i * out, dx, i,
                                          &c->m.run[k], relu && k == 0);
    }
    return masked;
}

float fv__chunk_tree(const float *v, int64_t stride, int count)
{
    FV_ASSERT(count > 0 && count <= FV_GRAD_CHUNKS && (count & (count - 1)) == 0);
    float t[FV_GRAD_CHUNKS];
    for (int j = 0; j < count; j++)
        t[j] = v[j * stride];
    for (int w = 1; w < count; w *= 2)
        for (int j = 0; j + w < count; j += 2 * w)
            t[j] = t[j] + t[j + w];
    return t[0];
}

void fv__run_gather_chunks(const fv_run *r, double *part, int64_t len)
{
    if (!r->coll || r->c1 <= r->c0) return;
    const fv_collective *c = r->coll;
    size_t off[FV_GRAD_CHUNKS + 1];
    for (int q = 0; q <= c->size; q++)
        off[q] = (size_t)(q * FV_GRAD_CHUNKS / c->size) * (size_t)len * sizeof(double);
    const fv_status s = c->gather(c->ctx, part, off);
    if (s != FV_OK && r->status && *r->status == FV_OK) *r->status = s;
}
