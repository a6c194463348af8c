/* parallel.c — data-parallel training inside fv_model_fit: each process holds an aligned run of
 * the FV_BATCH_CHUNKS chunks of every batch, runs the layers on it (they sum their parameter
 * gradients as the same chunk tree, and BatchNormalization gathers its per-chunk sums), gathers
 * the heads' outputs so that the loss and the metrics are those of the whole batch, and sums the
 * gradients over the processes by the top of the tree: the result is one process's, bit for bit.
 */
#include "model/parallel.h"
#include "io/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The chunks process q of P holds. */
static void chunk_range(const fv_collective *c, int q, int *c0, int *c1)
{
    *c0 = q * FV_BATCH_CHUNKS / c->size;
    *c1 = (q + 1) * FV_BATCH_CHUNKS / c->size;
}

/* Process q's samples [*lo, *hi) of a batch of count. */
static void sample_range(const fv_collective *c, int q, int64_t count, int64_t *lo, int64_t *hi)
{
    int c0, c1;
    chunk_range(c, q, &c0, &c1);
    *lo = c0 * count / FV_BATCH_CHUNKS;
    *hi = c1 * count / FV_BATCH_CHUNKS;
}

int64_t fv__dp_plan_n(const fv_collective *c, int64_t batch)
{
    if (!c || c->size <= 1) return batch;
    /* The slice of a smaller (last) batch can be larger than the full batch's by rounding. */
    int64_t most = 1;
    for (int64_t b = 1; b <= batch; b++)
        for (int q = 0; q < c->size; q++) {
            int64_t lo, hi;
            sample_range(c, q, b, &lo, &hi);
            if (hi - lo > most) most = hi - lo;
        }
    return most;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* What every process must agree on, in the order it is reported. */
enum { AGREE_VERSION, AGREE_MODEL, AGREE_SETTINGS, AGREE_DATA, AGREE_WEIGHTS, AGREE_N };
static const char *const agree_what[AGREE_N] = {
    "fovea version", "model (layers and compile)",
    "training settings (seed, batch size, shuffling, callbacks)", "data",
    "starting weights and optimizer state"};

/* Hashes of the parts of f->run (fv__checkpoint_describe_run: the model's lines, then
 * "seed=...", "training samples=...", "validation ...", "columns ...", callbacks) and of the
 * weights and optimizer state. */
static void agreement(const fv__fit *f, uint64_t *h)
{
    for (int i = 0; i < AGREE_N; i++)
        h[i] = 0xcbf29ce484222325ULL;
    h[AGREE_VERSION] = hash_bytes(h[AGREE_VERSION], FV_VERSION, strlen(FV_VERSION));
    int part = AGREE_MODEL;
    for (const char *line = f->run; *line;) {
        const char *nl = strchr(line, '\n');
        const size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (strncmp(line, "seed=", 5) == 0) part = AGREE_SETTINGS;
        const bool data =
            strncmp(line, "training samples=", 17) == 0 || strncmp(line, "validation ", 11) == 0;
        h[data ? AGREE_DATA : part] = hash_bytes(h[data ? AGREE_DATA : part], line, n);
        line += n;
    }
    const fv_model *m = f->m;
    h[AGREE_WEIGHTS] =
        hash_bytes(h[AGREE_WEIGHTS], m->weights, (size_t)m->nweights * sizeof(float));
    h[AGREE_WEIGHTS] = hash_bytes(h[AGREE_WEIGHTS], m->opt_state,
                                  (size_t)m->ntrain * (size_t)m->opt_slots * sizeof(float));
    h[AGREE_WEIGHTS] =
        hash_bytes(h[AGREE_WEIGHTS], &m->optim.iterations, sizeof m->optim.iterations);
}

static fv_status check_agreement(const fv__fit *f)
{
    const fv_collective *c = f->o->collective;
    uint64_t *all = calloc((size_t)c->size * AGREE_N, sizeof *all);
    size_t off[FV_BATCH_CHUNKS + 1];
    if (!all) return fv__fail(FV_ERR_NOMEM, "out of memory starting data-parallel training");
    for (int q = 0; q <= c->size; q++)
        off[q] = (size_t)q * AGREE_N * sizeof *all;
    agreement(f, all + (size_t)c->rank * AGREE_N);
    fv_status s = c->gather(c->ctx, all, off);
    if (s != FV_OK) {
        free(all);
        return s;
    }
    for (int q = 1; q < c->size; q++)
        for (int i = 0; i < AGREE_N; i++)
            if (all[(size_t)q * AGREE_N + i] != all[i]) {
                s = fv__fail(FV_ERR_INVALID,
                             "data-parallel training: process %d of %d does not hold the same %s "
                             "as process 0: every process must train the same model on the same "
                             "data with the same fovea",
                             q, c->size, agree_what[i]);
                free(all);
                return s;
            }
    free(all);
    return FV_OK;
}

fv_status fv__dp_begin(fv__fit *f)
{
    const fv_collective *c = f->o->collective;
    fv_model *m = f->m;
    if (!c) return FV_OK;
    if (c->size < 1 || FV_BATCH_CHUNKS % c->size != 0 || c->rank < 0 || c->rank >= c->size)
        return fv__fail(FV_ERR_INVALID,
                        "data-parallel training: %d processes (this one %d): the count must divide "
                        "%d, the fixed chunks of a batch (1, 2, 4, 8 or 16 processes)",
                        c->size, c->rank, FV_BATCH_CHUNKS);
    if (!c->gather || !c->sum)
        return fv__fail(FV_ERR_INVALID, "data-parallel training: a collective hook is NULL");
    /* Per head: labels, targets (the task loss's width), outputs and their gradients for the
     * whole batch; then the task losses' scratch for the whole batch. */
    const int heads = fv__model_heads(m);
    size_t total = 0, off[FV_MAX_OUTPUTS][4], scratch = 0;
    for (int j = 0; j < heads; j++) {
        const int64_t k = fv__shape_size(fv__model_node_shape(m, fv__model_head_node(m, j)));
        const int64_t tw = fv__model_head_target_width(m, j);
        const fv_task_loss *task = fv__model_head_task(m, j);
        size_t rows, trows;
        if (!fv__mul_size((size_t)f->batch, (size_t)k * sizeof(float), &rows) ||
            !fv__mul_size((size_t)f->batch, (size_t)tw * sizeof(float), &trows) ||
            rows > SIZE_MAX / 8 || trows > SIZE_MAX / 8)
            return fv__fail(FV_ERR_NOMEM, "data-parallel training: the outputs' size overflows");
        const size_t sizes[4] = {(size_t)f->batch * sizeof(int32_t), trows, rows, rows};
        for (int b = 0; b < 4; b++)
            off[j][b] = total, total += (sizes[b] + 63) & ~(size_t)63;
        if (task && task->scratch_bytes) {
            const size_t sb = task->scratch_bytes(&m->layers[fv__model_head_node(m, j)], f->batch);
            if (sb > scratch) scratch = sb;
        }
    }
    const size_t off_scratch = total;
    total += (scratch + 63) & ~(size_t)63;
    /* A layer that adds a loss: its inputs and output for the whole batch (one layer at a time). */
    int64_t added = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const fv_layer *l = &m->layers[i];
        int64_t per = fv__shape_size(&l->out);
        for (int j = 0; l->kind->loss && j < l->nin; j++)
            per += fv__shape_size(&l->in[j]);
        if (l->kind->loss && per > added) added = per;
    }
    size_t added_bytes;
    if (!fv__mul_size((size_t)added * sizeof(float), (size_t)f->batch, &added_bytes) ||
        added_bytes > SIZE_MAX / 4)
        return fv__fail(FV_ERR_NOMEM, "data-parallel training: the added losses' size overflows");
    const size_t off_added = total;
    total += (added_bytes + 63) & ~(size_t)63;
    uint8_t *block = fv__alloc(total ? total : 64, "the whole batch's outputs");
    if (!block) return FV_ERR_NOMEM;
    m->dp_block = block;
    m->dp_scratch = block + off_scratch;
    m->dp_added = (float *)(block + off_added);
    for (int j = 0; j < heads; j++) {
        m->dp_labels[j] = (int32_t *)(block + off[j][0]);
        m->dp_targets[j] = (float *)(block + off[j][1]);
        m->dp_y[j] = (float *)(block + off[j][2]);
        m->dp_dy[j] = (float *)(block + off[j][3]);
    }
    m->coll = c;
    m->dp_status = FV_OK;
    fv_status s = check_agreement(f);
    if (s != FV_OK) fv__dp_end(m, 0);
    return s;
}

void fv__dp_end(fv_model *m, int64_t batch)
{
    /* A plan for the whole batch, as one process's fit leaves: evaluating after the fit then runs
     * on the same plan (a plan too small for a batch is replaced by a lean one, whose folded
     * BatchNormalization differs in the last bits). Only a cache: a failure leaves no plan, and
     * the next evaluation makes its own. */
    if (m->coll && m->plan_n < batch) fv__model_plan(m, batch);
    fv__free(m->dp_block);
    m->dp_block = NULL;
    m->coll = NULL;
    m->dp_c0 = m->dp_c1 = 0;
    m->dp_batch = m->dp_first = 0;
}

void fv__dp_slice(fv_model *m, int64_t count, int64_t *lo, int64_t *n)
{
    if (!m->coll) {
        *lo = 0, *n = count;
        return;
    }
    int64_t hi;
    sample_range(m->coll, m->coll->rank, count, lo, &hi);
    *n = hi - *lo;
    chunk_range(m->coll, m->coll->rank, &m->dp_c0, &m->dp_c1);
    m->dp_batch = count;
    m->dp_first = *lo;
}

void fv__dp_target_bufs(fv_model *m, int j, int32_t **labels, float **values)
{
    *labels = m->coll ? m->dp_labels[j] : m->lbufs[j];
    *values = m->coll ? m->dp_targets[j] : m->tbufs[j];
}

/* Gathers n rows of k floats of this process's slice y into Y, the whole batch's rows. */
static fv_status gather_rows(fv_model *m, const float *y, int64_t n, int64_t k, float *Y)
{
    const fv_collective *c = m->coll;
    size_t off[FV_BATCH_CHUNKS + 1];
    for (int q = 0; q <= c->size; q++) {
        int64_t lo, hi;
        sample_range(c, q < c->size ? q : q - 1, m->dp_batch, &lo, &hi);
        off[q] = (size_t)((q < c->size ? lo : hi) * k) * sizeof(float);
    }
    memcpy(Y + m->dp_first * k, y, (size_t)(n * k) * sizeof(float));
    return c->gather(c->ctx, Y, off);
}

double fv__dp_heads_loss(fv_model *m, const float *const *y, const fv_targets *t, int64_t n,
                         const bool *fused, float *const *dy, double *head_loss, double *terms)
{
    const fv_collective *c = m->coll;
    const int heads = fv__model_heads(m);
    const float *Y[FV_MAX_OUTPUTS];
    float *DY[FV_MAX_OUTPUTS];
    for (int j = 0; j < heads; j++) {
        const int64_t k = fv__shape_size(fv__model_node_shape(m, fv__model_head_node(m, j)));
        const fv_status s = gather_rows(m, y[j], n, k, m->dp_y[j]);
        if (s != FV_OK) {
            if (m->dp_status == FV_OK) m->dp_status = s;
            return NAN;
        }
        Y[j] = m->dp_y[j];
        DY[j] = dy && dy[j] ? m->dp_dy[j] : NULL;
    }
    /* The whole batch's loss, by the code one process runs (a task loss on the scratch sized for
     * the whole batch). */
    void *scratch = m->scratch;
    m->coll = NULL;
    m->scratch = m->dp_scratch;
    const double L =
        fv__model_heads_loss(m, Y, t, m->dp_batch, fused, dy ? DY : NULL, head_loss, terms);
    m->coll = c;
    m->scratch = scratch;
    for (int j = 0; dy && j < heads; j++) {
        const int64_t k = fv__shape_size(fv__model_node_shape(m, fv__model_head_node(m, j)));
        if (dy[j]) memcpy(dy[j], m->dp_dy[j] + m->dp_first * k, (size_t)(n * k) * sizeof(float));
    }
    return L;
}

double fv__dp_added_loss(fv_model *m, int i, const float *const *x, int64_t n)
{
    const fv_layer *l = &m->layers[i];
    const float *X[FV_MAX_INPUTS];
    float *at = m->dp_added;
    fv_status s = FV_OK;
    for (int j = 0; s == FV_OK && j < l->nin; j++) {
        const int64_t k = fv__shape_size(&l->in[j]);
        s = gather_rows(m, x[j], n, k, at);
        X[j] = at;
        at += m->dp_batch * k;
    }
    if (s == FV_OK) s = gather_rows(m, m->acts[i], n, fv__shape_size(&l->out), at);
    if (s != FV_OK) {
        if (m->dp_status == FV_OK) m->dp_status = s;
        return NAN;
    }
    return l->kind->loss(l, X, at, m->dp_batch);
}

const float *fv__dp_head_output(const fv_model *m, int j, const float *y)
{
    return m->coll ? m->dp_y[j] : y;
}

fv_status fv__dp_sum_grads(fv_model *m)
{
    if (!m->coll || m->ngrads == 0) return FV_OK;
    return m->coll->sum(m->coll->ctx, m->grads, m->ngrads);
}
