/* fuse.c — the training plan's graph optimisation: a BatchNormalization whose output only a ReLU
 * reads, directly or through a residual Add, runs with that Add and ReLU as one pass (the layer
 * kind's forward_fused and backward_fused), and a convolution does passes of the
 * BatchNormalization that alone reads its output (the batch sums, the input gradient) or whose
 * output it reads first (the output) while it has the data in cache (fv_bn_pair), so the steps
 * read and write each tensor fewer times. The model file and the layers do not see it; every
 * result is bit for bit the unfused one.
 */
#include "model/model_impl.h"
#include "model/model.h"

static bool reads(const fv_layer *l, int node)
{
    for (int j = 0; j < l->nin; j++)
        if (l->src[j] == node) return true;
    return false;
}

bool fv__model_only_reader(const fv_model *m, int node, int reader)
{
    if (fv__model_is_output(m, node)) return false;
    int reads = 0;
    for (int i = node + 1; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i].nin; j++)
            if (m->layers[i].src[j] == node) {
                if (i != reader) return false;
                reads++;
            }
    return reads == 1;
}

/* Whether a layer strictly between lo and hi, other than `member` (the group's Add), reads node:
 * fusing would then move the group's contribution to that node's gradient past the reader's,
 * changing the order of the sum. */
static bool read_between(const fv_model *m, int node, int lo, int hi, int member)
{
    for (int i = lo + 1; i < hi; i++)
        if (i != member && reads(&m->layers[i], node)) return true;
    return false;
}

bool fv__fuse_plain_relu(const fv_layer *l)
{
    return (l->kind == &fv__kind_relu || l->kind == &fv__kind_activation) && l->nin == 1 &&
           fv__layer_activation(l) == FV_ACT_RELU;
}

void fv__fuse_plan(fv_model *m, bool on)
{
    for (int i = 0; i < m->nlayers; i++)
        m->fuse_tail[i] = m->fuse_bn[i] = m->fuse_add[i] = -1;
    for (int t = 0; on && t < m->nlayers; t++) {
        const fv_layer *relu = &m->layers[t];
        if (!fv__fuse_plain_relu(relu) || relu->src[0] < 0) continue;
        int add = -1, bn = relu->src[0];
        if (m->layers[bn].kind == &fv__kind_add) { /* BatchNormalization → Add → ReLU */
            add = bn, bn = -1;
            const fv_layer *a = &m->layers[add];
            if (a->nin != 2 || !fv__model_only_reader(m, add, t)) continue;
            for (int j = 0; j < 2 && bn < 0; j++) {
                const int s = a->src[j], other = a->src[1 - j];
                if (s >= 0 && s != other && m->layers[s].kind->forward_fused &&
                    m->fuse_tail[s] < 0 && fv__model_only_reader(m, s, add))
                    bn = s;
            }
            if (bn < 0) continue;
        } else if (!m->layers[bn].kind->forward_fused || !fv__model_only_reader(m, bn, t)) {
            continue;
        }
        const fv_layer *b = &m->layers[bn];
        if (b->nin != 1 || read_between(m, b->src[0], bn, t, add)) continue;
        if (add >= 0) {
            const fv_layer *a = &m->layers[add];
            const int skip = a->src[a->src[0] == bn ? 1 : 0];
            if (read_between(m, skip, bn, t, add) || skip == b->src[0]) continue;
        }
        m->fuse_bn[t] = bn, m->fuse_add[t] = add;
        m->fuse_tail[bn] = t;
        if (add >= 0) m->fuse_tail[add] = t;
    }
}

/* Where layer b runs in the backward (and its output is written in the forward): its group's
 * ReLU, or b itself. */
static int group_pos(const fv_model *m, int b)
{
    return m->fuse_tail[b] >= 0 ? m->fuse_tail[b] : b;
}

void fv__fuse_plan_sums(fv_model *m, bool on)
{
    for (int p = 0; p < m->nlayers; p++) {
        m->fuse_sums[p] = -1;
        const fv_layer *l = &m->layers[p];
        if (!on || !l->kind->gives_sums) continue;
        for (int b = p + 1; b < m->nlayers; b++) {
            const fv_layer *r = &m->layers[b];
            if (r->nin == 1 && r->src[0] == p && r->kind->input_sums &&
                fv__model_only_reader(m, p, b))
                m->fuse_sums[p] = b;
        }
    }
    /* Backward: the BatchNormalization's input gradient left to p where nothing but the
     * BatchNormalization's group runs between them (the tensors it reads stay as they are; the
     * backward plan keeps its gradient's buffer until p), and p does not read the group's skip
     * (whose gradient holds what it reads). */
    for (int p = 0; p < m->nlayers; p++) {
        m->fuse_dx[p] = -1;
        const int b = m->fuse_sums[p];
        if (b < 0 || m->pair_dx_off) continue;
        const int pos = group_pos(m, b);
        bool alone = true;
        for (int i = p + 1; i < pos; i++)
            alone = alone && m->fuse_tail[i] == pos;
        const int skip = m->fuse_add[pos] >= 0 ? fv__fuse_skip_input(m, pos) : -1;
        if (alone && !(skip >= 0 && reads(&m->layers[p], skip))) m->fuse_dx[p] = pos;
    }
    /* Forward: the BatchNormalization's (group's) output left to the conv2d that reads it first
     * (its only input), unless it is a model output: every later reader finds it written. */
    for (int q = 0; q < m->nlayers; q++)
        m->fuse_y[q] = -1;
    for (int p = 0; p < m->nlayers && !m->pair_y_off; p++) {
        const int b = m->fuse_sums[p];
        if (b < 0) continue;
        const int pos = group_pos(m, b);
        if (fv__model_is_output(m, pos)) continue;
        int q = pos + 1;
        while (q < m->nlayers && !reads(&m->layers[q], pos))
            q++;
        if (q < m->nlayers && m->layers[q].nin == 1 && m->layers[q].kind->gives_sums &&
            m->fuse_tail[q] < 0 && m->fuse_bn[q] < 0)
            m->fuse_y[q] = p;
    }
}

void fv__model_set_bn_pairs(fv_model *m, bool sums, bool dx, bool y)
{
    m->pair_sums_off = !sums;
    if (m->pair_dx_off == !dx && m->pair_y_off == !y) return;
    m->pair_dx_off = !dx, m->pair_y_off = !y;
    fv__model_plan_reset(m); /* the plans change */
}

void fv__model_set_lean_relu(fv_model *m, bool on)
{
    fv__model_plan_switch(m, &m->lean_relu_off, on);
}

int fv__fuse_skip_input(const fv_model *m, int t)
{
    const int add = m->fuse_add[t];
    if (add < 0) return 0;
    const fv_layer *a = &m->layers[add];
    return a->src[a->src[0] == m->fuse_bn[t] ? 1 : 0];
}

int fv__fuse_grad_inputs(const fv_model *m, int t, int *src)
{
    const fv_layer *l = &m->layers[t];
    if (m->fuse_bn[t] < 0) {
        for (int j = 0; j < l->nin; j++)
            src[j] = l->src[j];
        return l->nin;
    }
    /* In the unfused backward order: the Add's other input, then the BatchNormalization's. */
    int k = 0;
    if (m->fuse_add[t] >= 0) src[k++] = fv__fuse_skip_input(m, t);
    src[k++] = m->layers[m->fuse_bn[t]].src[0];
    return k;
}

void fv__model_set_fusion(fv_model *m, bool on)
{
    fv__model_plan_switch(m, &m->fuse_off, on);
}
