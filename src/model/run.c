/* run.c — the model at run time: one block each for weights, gradients and optimizer state; a
 * plan that sizes every activation, gradient and scratch buffer once for a batch size; the
 * forward and backward passes over the layer list; the accessors and the summary table.
 */
#include "model/model_impl.h"
#include "io/dataset.h"
#include "model/parallel.h"
#include "kernels/vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- memory -------------------------------------------------------------------------------- */

static void human_bytes(char *buf, size_t n, double bytes);

/* Refuses a block larger than the machine's physical memory: Linux would grant it (memory is
 * overcommitted) and then kill the process when the pages are touched, mid-training. */
static fv_status check_physical_memory(size_t bytes, const char *what)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return FV_OK;
    double phys = (double)pages * (double)page;
    if ((double)bytes <= phys) return FV_OK;
    char need[32], have[32];
    human_bytes(need, sizeof need, (double)bytes);
    human_bytes(have, sizeof have, phys);
    return fv__fail(FV_ERR_NOMEM,
                    "out of memory: %s need %s, more than this machine's %s of memory", what, need,
                    have);
}

/* ---- weights ------------------------------------------------------------------------------- */

static void glorot_uniform(fv_rng *r, float *w, int64_t n, int64_t fan_in, int64_t fan_out)
{
    /* Keras' GlorotUniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)). */
    double limit = sqrt(6.0 / (double)(fan_in + fan_out));
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * (double)fv__rng_uniform(r) - 1.0) * limit);
}

/* Which region of the weight block a tensor belongs to (see model_impl.h). */
enum { REGION_TRAIN, REGION_FROZEN, REGION_STATE };

static int param_region(const fv_layer *l, const fv_param *p)
{
    return p->state ? REGION_STATE : l->trainable ? REGION_TRAIN : REGION_FROZEN;
}

static fv_status make_weights(fv_model *m, uint64_t seed, bool init);

fv_status fv__model_ensure_weights(fv_model *m, uint64_t seed)
{
    return make_weights(m, seed, true);
}

fv_status fv__model_alloc_weights(fv_model *m)
{
    return make_weights(m, 0, false);
}

static fv_status make_weights(fv_model *m, uint64_t seed, bool init)
{
    if (m->weights) return FV_OK;
    if (!m->has_input) return fv__fail(FV_ERR_STATE, "the model has no input layer");
    fv_status s = fv__model_graph_check(m, NULL);
    if (s != FV_OK) return s;
    int64_t count[3] = {0, 0, 0}, total = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int p = 0; p < m->layers[i].nparams; p++) {
            const fv_param *pr = &m->layers[i].params[p];
            int r = param_region(&m->layers[i], pr);
            if (!fv__add_i64(count[r], pr->size, &count[r]) ||
                !fv__add_i64(total, pr->size, &total))
                return fv__fail(FV_ERR_NOMEM, "the model's parameter count overflows");
        }
    size_t bytes;
    if (!fv__mul_size((size_t)total, sizeof(float), &bytes))
        return fv__fail(FV_ERR_NOMEM, "the model's parameter count overflows");
    s = check_physical_memory(bytes > SIZE_MAX / 2 ? SIZE_MAX : 2 * bytes,
                              "the model's weights and gradients");
    if (s != FV_OK) return s;
    const int64_t ngrads = count[REGION_TRAIN] + count[REGION_FROZEN];
    float *w = fv__alloc(bytes ? bytes : sizeof(float), "the model's weights");
    /* The gradients are not zeroed here: every pass that computes them zeroes them first (or
     * finds them cleared by the optimizer, grads_clear), and nothing reads them before; so an
     * inference-only process (one image's `fovea predict`) never touches their pages. */
    float *g = w ? fv__alloc((size_t)(ngrads ? ngrads : 1) * sizeof(float), "the model's gradients")
                 : NULL;
    if (!g) {
        fv__free(w);
        return FV_ERR_NOMEM;
    }
    /* Initialised in layer and tensor order from one stream, whatever the regions: a model's
     * initial weights do not depend on which layers are frozen. */
    fv_rng r;
    fv__rng_seed(&r, seed);
    int64_t off[3] = {0, count[REGION_TRAIN], ngrads};
    for (int i = 0; i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparams; p++) {
            fv_param *pr = &l->params[p];
            const int region = param_region(l, pr);
            pr->w = w + off[region];
            pr->g = region == REGION_STATE ? NULL : g + off[region];
            off[region] += pr->size;
            if (!init) continue;
            if (pr->init == FV_INIT_GLOROT_UNIFORM)
                glorot_uniform(&r, pr->w, pr->size, pr->fan_in, pr->fan_out);
            else
                for (int64_t j = 0; j < pr->size; j++)
                    pr->w[j] = pr->init == FV_INIT_ONES ? 1.0f : 0.0f;
        }
    }
    m->weights = w;
    m->grads = g;
    m->grads_clear = false;
    m->nweights = total;
    m->ntrain = count[REGION_TRAIN];
    m->ngrads = ngrads;
    return FV_OK;
}

fv_status fv__model_ensure_opt_state(fv_model *m)
{
    int slots = fv__optim_slots(&m->optim);
    if (m->opt_state && m->opt_slots == slots) return FV_OK;
    fv__free(m->opt_state);
    m->opt_state = NULL;
    m->opt_slots = slots;
    size_t bytes;
    if (!fv__mul_size((size_t)(m->ntrain ? m->ntrain : 1), (size_t)slots * sizeof(float), &bytes))
        return fv__fail(FV_ERR_NOMEM, "optimizer state size overflows");
    m->opt_state = fv__calloc(bytes ? bytes : sizeof(float), "the optimizer's state");
    return m->opt_state ? FV_OK : FV_ERR_NOMEM;
}

/* ---- the graph ------------------------------------------------------------------------------ */

int fv__model_output_node(const fv_model *m)
{
    if (m->noutputs) return m->outputs[0];
    return m->nlayers ? m->nlayers - 1 : fv__input_node(0);
}

int fv__model_heads(const fv_model *m)
{
    return m->noutputs ? m->noutputs : 1;
}

int fv__model_head_node(const fv_model *m, int j)
{
    return m->noutputs ? m->outputs[j] : fv__model_output_node(m);
}

fv_loss_kind fv__model_head_loss(const fv_model *m, int j)
{
    return m->out_named ? m->out_loss[j] : m->loss;
}

const fv_task_loss *fv__model_head_task(const fv_model *m, int j)
{
    const int node = fv__model_head_node(m, j);
    if (fv__model_head_loss(m, j) != FV_LOSS_TASK || node < 0) return NULL;
    return m->layers[node].kind->task_loss;
}

const char *fv__model_head_loss_name(const fv_model *m, int j)
{
    const fv_task_loss *t = fv__model_head_task(m, j);
    return t ? t->name : fv__loss_name(fv__model_head_loss(m, j));
}

int64_t fv__model_head_target_width(const fv_model *m, int j)
{
    const fv_task_loss *t = fv__model_head_task(m, j);
    const int node = fv__model_head_node(m, j);
    return t ? t->target_width(&m->layers[node]) : fv__shape_size(fv__model_node_shape(m, node));
}

/* Appends a term's name, or fails when there are more than FV_MAX_TERMS. */
static fv_status add_term(fv_model *m, const char *prefix, const char *name)
{
    if (m->nterms == FV_MAX_TERMS)
        return fv__fail(FV_ERR_INVALID,
                        "the loss has more than %d named terms (task-loss parts and added losses)",
                        FV_MAX_TERMS);
    if (strlen(prefix) + strlen(name) + 4 >= FV_MONITOR_MAX)
        return fv__fail(FV_ERR_INVALID,
                        "loss term '%s%s': the name is too long for a history column (val_ "
                        "included, at most %d characters): rename the layer",
                        prefix, name, FV_MONITOR_MAX - 5);
    snprintf(m->term_names[m->nterms++], FV_MONITOR_MAX, "%s%s", prefix, name);
    return FV_OK;
}

fv_status fv__model_terms_refresh(fv_model *m)
{
    m->nterms = 0;
    const int heads = m->compiled || m->loss != FV_LOSS_NONE ? fv__model_heads(m) : 0;
    fv_status s = FV_OK;
    for (int j = 0; s == FV_OK && j < heads; j++) {
        const fv_task_loss *t = fv__model_head_task(m, j);
        char prefix[FV_MONITOR_MAX] = "";
        if (heads > 1)
            snprintf(prefix, sizeof prefix, "%.30s_",
                     fv__model_node_name(m, fv__model_head_node(m, j)));
        for (int p = 0; s == FV_OK && t && t->parts[p]; p++)
            s = add_term(m, prefix, t->parts[p]);
    }
    for (int i = 0; s == FV_OK && i < m->nlayers; i++) {
        const char *name = m->layers[i].kind->added_loss;
        if (!m->layers[i].kind->loss || !name) continue;
        /* two layers adding the same term are told apart by their names */
        int same = 0;
        for (int k = 0; k < m->nlayers; k++)
            same += m->layers[k].kind->loss && m->layers[k].kind->added_loss &&
                    strcmp(m->layers[k].kind->added_loss, name) == 0;
        char prefix[FV_MONITOR_MAX] = "";
        if (same > 1) snprintf(prefix, sizeof prefix, "%.30s_", m->layers[i].name);
        s = add_term(m, prefix, name);
    }
    if (s != FV_OK) m->nterms = 0;
    return s;
}

/* The loss of head j on a batch: Keras' loss or the head's task loss (parts[] receives its
 * terms, weighted as the head); dy as fv__loss. Returns the weighted value. */
static double head_loss_value(fv_model *m, int j, const float *y, const fv_targets *t, int64_t n,
                              bool fused, float *dy, double *parts)
{
    const int node = fv__model_head_node(m, j);
    const double w = m->out_weight[j];
    const fv_task_loss *task = fv__model_head_task(m, j);
    double L;
    int np = 0;
    if (task) {
        L = task->compute(&m->layers[node], y, t->values, n, dy, parts, m->scratch);
        while (task->parts[np])
            np++;
    } else {
        L = fv__loss(fv__model_head_loss(m, j), y, t, n,
                     fv__shape_size(fv__model_node_shape(m, node)), fused, dy);
    }
    if (w != 1.0) {
        for (int p = 0; p < np; p++)
            parts[p] *= w;
        const int64_t k = fv__shape_size(fv__model_node_shape(m, node));
        for (int64_t e = 0; dy && e < n * k; e++)
            dy[e] *= (float)w;
    }
    return L * w;
}

double fv__model_heads_loss(fv_model *m, const float *const *y, const fv_targets *t, int64_t n,
                            const bool *fused, float *const *dy, double *head_loss, double *terms)
{
    if (m->coll) return fv__dp_heads_loss(m, y, t, n, fused, dy, head_loss, terms);
    const int heads = fv__model_heads(m);
    double L = 0;
    int nt = 0;
    for (int j = 0; j < heads; j++) {
        double parts[8] = {0};
        const double Lj = head_loss_value(m, j, y[j], &t[j], n, fused ? fused[j] : false,
                                          dy ? dy[j] : NULL, parts);
        const fv_task_loss *task = fv__model_head_task(m, j);
        for (int p = 0; task && task->parts[p]; p++)
            if (nt < m->nterms) terms[nt++] = parts[p];
        if (head_loss) head_loss[j] = Lj;
        L += Lj;
    }
    for (int i = 0; i < m->nlayers; i++) {
        const fv_layer *l = &m->layers[i];
        if (!l->kind->loss) continue;
        L += l->added_value;
        if (l->kind->added_loss && nt < m->nterms) terms[nt++] = l->added_value;
    }
    return L;
}

const fv_shape *fv__model_node_shape(const fv_model *m, int node)
{
    return node >= 0 ? &m->layers[node].out : &m->inputs[-1 - node].shape;
}

const char *fv__model_node_name(const fv_model *m, int node)
{
    return node >= 0 ? m->layers[node].name : m->inputs[-1 - node].name;
}

int64_t fv__model_out_size(const fv_model *m)
{
    return m->has_input ? fv__shape_size(fv__model_node_shape(m, fv__model_output_node(m))) : 0;
}

bool fv__model_is_output(const fv_model *m, int node)
{
    if (!m->noutputs) return node == fv__model_output_node(m);
    for (int k = 0; k < m->noutputs; k++)
        if (m->outputs[k] == node) return true;
    return false;
}

fv_status fv__model_graph_check(const fv_model *m, int *line)
{
    if (line) *line = 0;
    if (!m->has_input) return fv__fail(FV_ERR_STATE, "the model has no input layer");
    if (!m->nlayers) return FV_OK;
    bool *used = calloc((size_t)m->nlayers + FV_MAX_MODEL_INPUTS, 1);
    if (!used) return fv__fail(FV_ERR_NOMEM, "out of memory checking the model");
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i].nin; j++) {
            int src = m->layers[i].src[j];
            used[src >= 0 ? src : m->nlayers + (-1 - src)] = true;
        }
    fv_status s = FV_OK;
    for (int k = 0; k < m->ninputs && s == FV_OK; k++)
        if (!used[m->nlayers + k] && !fv__model_is_output(m, fv__input_node(k))) {
            s = fv__fail(FV_ERR_INVALID,
                         "input '%s' is read by no layer (name it in a layer's inputs=)",
                         m->inputs[k].name);
            if (line) *line = m->inputs[k].line;
        }
    for (int i = 0; i < m->nlayers && s == FV_OK; i++)
        if (!used[i] && !fv__model_is_output(m, i)) {
            s = fv__fail(FV_ERR_INVALID,
                         "the output of layer '%s' is read by no layer and is not a model output "
                         "(name it in `model outputs=` or in a later layer's inputs=)",
                         m->layers[i].name);
            if (line) *line = m->layers[i].line;
        }
    free(used);
    return s;
}

/* ---- the plan ------------------------------------------------------------------------------- */

static size_t align64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

/* Adds `count` elements of `size` bytes to a running layout; false on overflow. */
static bool reserve(size_t *total, int64_t count, size_t size, size_t *offset)
{
    size_t bytes;
    if (count < 0 || !fv__mul_size((size_t)count, size, &bytes)) return false;
    *offset = *total;
    size_t t = *total + align64(bytes);
    if (t < *total) return false;
    *total = t;
    return true;
}

/* Whether layer i's output is its input's buffer in this plan (fv_layer_kind.identity): the
 * identity in every run of the plan and the only reader of a layer's output (no model output,
 * not the caller's input). Its passes are skipped; in a full plan its input's gradient is its
 * output's gradient too. */
static bool aliased(const fv_model *m, int i, bool lean)
{
    const fv_layer *l = &m->layers[i];
    return !m->alias_off && l->kind->identity && l->nin == 1 && l->src[0] >= 0 &&
           l->kind->identity(l, lean) && fv__model_only_reader(m, l->src[0], i);
}

/* The chain of layer p (fv_chain): the layers right after p in order, while each can run sample
 * by sample (forward_sample), has no pass skipped or fused, and alone reads the one before it;
 * their m->chain_of is p. Nothing when p's kind runs no chains. The members follow p with nothing
 * between them, so that an inference plan's buffers (lean_slots) see the chain as one step. */
static void plan_chain(fv_model *m, int p)
{
    const fv_layer *pl = &m->layers[p];
    if (m->chain_off || !pl->kind->runs_chain || m->skip[p] || m->chain_of[p] >= 0) return;
    for (int j = p + 1; j < m->nlayers && j - p <= FV_MAX_CHAIN; j++) {
        const fv_layer *l = &m->layers[j];
        if (l->nin != 1 || l->src[0] != j - 1 || !l->kind->forward_sample || l->kind->loss ||
            m->skip[j] || m->fuse_tail[j] >= 0 || m->fuse_bn[j] >= 0 ||
            !fv__model_only_reader(m, j - 1, j))
            break;
        m->chain_of[j] = p;
    }
}

/* The last layer of the chain that layer i runs in or runs (i itself outside any chain). */
static int chain_end(const fv_model *m, int i)
{
    const int p = m->chain_of[i] >= 0 ? m->chain_of[i] : i;
    int end = i;
    for (int j = p + 1; j < m->nlayers && m->chain_of[j] == p; j++)
        end = j;
    return end;
}

/* The backward chain of layer p (fv_bchain), in a training plan: the members of p's chain from
 * the first on while each has backward_sample, when p's kind runs backward chains and p needs a
 * gradient (then so do they: they have no parameters); their m->bchain_of is p. */
static void plan_bchain(fv_model *m, int p)
{
    const fv_layer *pl = &m->layers[p];
    if (m->bchain_off || !pl->kind->runs_bchain || !m->needs_grad[p]) return;
    for (int j = p + 1; j < m->nlayers && m->chain_of[j] == p; j++) {
        if (!m->layers[j].kind->backward_sample || !m->needs_grad[j]) break;
        m->bchain_of[j] = p;
        m->layers[p].bchain = true;
    }
}

/* The backward schedule, fixed by the graph alone: which layers need a gradient, which buffer
 * holds each layer's output gradient (buffers reused once a gradient has been consumed), and how
 * many temporary buffers a layer needs for inputs whose gradient is already being summed (a
 * tensor read by several layers, or twice by one). Returns the number of buffers, temporaries
 * included, or -1 when out of memory. In a full plan an aliased layer (lean false, m->skip)
 * hands its output gradient's buffer on to its input. */
static int plan_backward(fv_model *m, bool lean)
{
    const int L = m->nlayers;
    bool *busy = calloc((size_t)2 * L + 2, sizeof *busy);
    bool *claimed = calloc((size_t)L + 1, sizeof *claimed);
    if (!busy || !claimed) {
        free(busy);
        free(claimed);
        return -1;
    }
    for (int i = 0; i < L; i++) {
        const fv_layer *l = &m->layers[i];
        bool need = false;
        for (int p = 0; p < l->nparams; p++)
            need = need || !l->params[p].state;
        for (int j = 0; j < l->nin; j++)
            need = need || (l->src[j] >= 0 && m->needs_grad[l->src[j]]);
        m->needs_grad[i] = need;
        m->gslot[i] = -1;
    }
    for (int i = 0; i < L; i++)
        m->bchain_of[i] = -1, m->layers[i].bchain = false;
    for (int i = 0; !lean && i < L; i++)
        plan_bchain(m, i);
    int nbuf = 0, ntemp = 0;
    /* The outputs' gradients come from the losses; they are "claimed" (written) first. */
    for (int j = 0; j < fv__model_heads(m); j++) {
        const int out = fv__model_head_node(m, j);
        if (out < 0 || !m->needs_grad[out]) continue;
        m->gslot[out] = nbuf, busy[nbuf] = true, nbuf++;
        claimed[out] = true;
    }
    for (int t = L - 1; t >= 0; t--) {
        if (!lean && m->skip[t]) { /* aliased: its input's gradient is its output's buffer */
            const int s = m->layers[t].src[0];
            if (m->gslot[t] >= 0 && m->needs_grad[s]) {
                m->gslot[s] = m->gslot[t];
                claimed[s] = true;
            } else if (m->gslot[t] >= 0) {
                busy[m->gslot[t]] = false;
            }
            continue;
        }
        int temps = 0, srcs[FV_MAX_INPUTS];
        const int nsrc = fv__fuse_grad_inputs(m, t, srcs); /* a fused group's, at its ReLU */
        if (m->needs_grad[t] && m->gslot[t] >= 0 && m->fuse_tail[t] < 0)
            for (int j = 0; j < nsrc; j++) {
                const int s = srcs[j];
                if (s < 0 || !m->needs_grad[s]) continue;
                if (claimed[s]) {
                    temps++;
                    continue;
                }
                int b = 0;
                while (busy[b])
                    b++;
                busy[b] = true;
                if (b + 1 > nbuf) nbuf = b + 1;
                m->gslot[s] = b;
                claimed[s] = true;
            }
        if (temps > ntemp) ntemp = temps;
        /* a BatchNormalization's output gradient that a layer before reads for it (fuse_dx) is
         * kept until that layer; so are a backward chain's gradients, which its producer's
         * backward reads and writes sample by sample while it writes its own input gradient */
        bool held = m->bchain_of[t] >= 0;
        for (int p = 0; p < t; p++)
            held = held || m->fuse_dx[p] == t;
        if (m->gslot[t] >= 0 && !held) busy[m->gslot[t]] = false;
        if (m->fuse_dx[t] >= 0 && m->gslot[m->fuse_dx[t]] >= 0)
            busy[m->gslot[m->fuse_dx[t]]] = false;
        for (int j = t + 1; j < L && m->bchain_of[j] == t; j++)
            if (m->gslot[j] >= 0) busy[m->gslot[j]] = false;
    }
    free(busy);
    free(claimed);
    for (int i = 0; i < L; i++)
        m->gtemp[i] = nbuf; /* temporaries follow the slots */
    return nbuf + ntemp;
}

/* Whether layer b (BatchNormalization at inference) can be folded into the layer it reads: a
 * conv2d or dense with a linear activation whose output nothing else reads and that is no model
 * output. */
static bool foldable(const fv_model *m, int b)
{
    const fv_layer *l = &m->layers[b];
    if (!l->kind->inference_affine || l->nin != 1 || l->src[0] < 0) return false;
    const int p = l->src[0];
    const fv_layer *pl = &m->layers[p];
    return (pl->kind == &fv__kind_conv2d || pl->kind == &fv__kind_dense) &&
           fv__layer_activation(pl) == FV_ACT_LINEAR && fv__model_only_reader(m, p, b);
}

/* An inference plan's folded layer (a BatchNormalization whose affine map is in the kernel and
 * bias of the layer before it); skip also marks the ReLUs run in a convolution's epilogue. */
static bool folded(const fv_model *m, int i)
{
    return m->skip[i] && m->layers[i].kind->inference_affine;
}

/* Whether layer r of an inference plan, a plain ReLU, runs in the epilogue of the conv2d whose
 * folded BatchNormalization (no model output) it alone reads: relu(conv + folded bias), the
 * kernels' ReLU, the bits of the ReLU layer's pass. */
static bool relu_fuses(const fv_model *m, int r)
{
    const fv_layer *l = &m->layers[r];
    if (!fv__fuse_plain_relu(l) || l->src[0] < 0 || !folded(m, l->src[0])) return false;
    const int b = l->src[0];
    return m->layers[m->layers[b].src[0]].kind == &fv__kind_conv2d &&
           fv__model_only_reader(m, b, r);
}

/* Lean activation buffers: slot[i] for each layer, reused once the last reader of every tensor
 * in it has run (outputs are kept to the end); a skipped layer (folded, aliased) shares the slot
 * of the layer it reads. A chain's layers run interleaved, sample by sample: what any of them
 * reads lives to the chain's end. cap[s] receives each slot's size in floats per sample; the
 * caller gives room for 3L + 3 values in cap (the slots' flags and release steps follow the
 * sizes). Returns the slot count. */
static int lean_slots(const fv_model *m, int *slot, int64_t *cap, int *last)
{
    const int L = m->nlayers;
    for (int i = 0; i < L; i++)
        last[i] = fv__model_is_output(m, i) ? L : -1;
    for (int i = 0; i < L; i++) {
        const int at = chain_end(m, i);
        for (int j = 0; j < m->layers[i].nin; j++)
            if (m->layers[i].src[j] >= 0 && last[m->layers[i].src[j]] < at)
                last[m->layers[i].src[j]] = at;
    }
    int nslots = 0;
    bool *busy = (bool *)(cap + L);
    int64_t *release = cap + 2 * L + 2; /* per slot: the step after which it is free */
    for (int i = 0; i < L; i++) {
        const fv_layer *l = &m->layers[i];
        int s = 0;
        if (m->skip[i]) {
            s = slot[l->src[0]];
        } else {
            while (s < nslots && busy[s])
                s++;
            if (s == nslots) cap[nslots++] = 0;
            const int64_t size = fv__shape_size(&l->out);
            if (size > cap[s]) cap[s] = size;
            busy[s] = true;
            release[s] = -1;
        }
        slot[i] = s;
        if (last[i] > release[s]) release[s] = last[i];
        for (int k = 0; k < nslots; k++)
            if (busy[k] && release[k] == i) busy[k] = false;
    }
    return nslots;
}

/* Drops the plan in place, so that the next run makes a new one: a plan_build that failed half
 * way has already changed the gradient buffers' list and the folding flags of the old one. */
void fv__model_plan_reset(fv_model *m)
{
    fv__free(m->block);
    m->block = NULL;
    m->block_bytes = 0;
    m->plan_n = 0;
    m->plan_lean = false;
    m->out_of_last = 0;
    for (int i = 0; i < m->nlayers; i++) {
        m->layers[i].saved = NULL;
        m->layers[i].fold_w = m->layers[i].fold_b = NULL;
    }
}

static fv_status plan_build(fv_model *m, int64_t n, bool lean)
{
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].bf16 = m->bf16;
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].winograd = m->winograd;
    const int threads = fv__threads();
    const size_t L = (size_t)(m->nlayers ? m->nlayers : 1);
    float **acts = realloc(m->acts, L * sizeof *acts);
    if (acts) m->acts = acts;
    int *gslot = acts ? realloc(m->gslot, L * sizeof *gslot) : NULL;
    if (gslot) m->gslot = gslot;
    int *gtemp = gslot ? realloc(m->gtemp, L * sizeof *gtemp) : NULL;
    if (gtemp) m->gtemp = gtemp;
    bool *needs = gtemp ? realloc(m->needs_grad, L * sizeof *needs) : NULL;
    if (needs) m->needs_grad = needs;
    bool *written = needs ? realloc(m->gwritten, L * sizeof *written) : NULL;
    if (written) m->gwritten = written;
    bool *skip = written ? realloc(m->skip, L * sizeof *skip) : NULL;
    if (skip) m->skip = skip;
    int *fuse = skip ? realloc(m->fuse_tail, 8 * L * sizeof *fuse) : NULL;
    if (fuse) {
        m->fuse_tail = fuse, m->fuse_bn = fuse + L, m->fuse_add = fuse + 2 * L;
        m->fuse_sums = fuse + 3 * L, m->fuse_dx = fuse + 4 * L, m->fuse_y = fuse + 5 * L;
        m->chain_of = fuse + 6 * L, m->bchain_of = fuse + 7 * L;
        fv__fuse_plan(m, !lean && !m->fuse_off);
        fv__fuse_plan_sums(m, !lean && !m->fuse_off);
    }
    fv_bn_pair *sums = fuse ? realloc(m->sums, L * sizeof *sums) : NULL;
    if (sums)
        m->sums = sums;
    else
        fuse = NULL;
    /* The skipped layers: the folded BatchNormalizations and the ReLUs in a convolution's
     * epilogue (inference), and the aliased layers (both plans). */
    for (int i = 0; fuse && i < m->nlayers; i++)
        m->skip[i] = lean && foldable(m, i);
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].lean_relu = false;
    for (int i = 0; fuse && lean && !m->lean_relu_off && i < m->nlayers; i++)
        if (relu_fuses(m, i)) { /* skipped too, in the convolution's epilogue */
            m->skip[i] = true;
            m->layers[m->layers[m->layers[i].src[0]].src[0]].lean_relu = true;
        }
    for (int i = 0; fuse && i < m->nlayers; i++)
        if (!m->skip[i] && aliased(m, i, lean)) m->skip[i] = true;
    for (int i = 0; fuse && i < m->nlayers; i++)
        m->chain_of[i] = -1;
    for (int i = 0; fuse && i < m->nlayers; i++)
        plan_chain(m, i);
    int nbuf = fuse ? plan_backward(m, lean) : -1;
    if (lean) nbuf = 0;
    float **gbuf = nbuf >= 0 ? realloc(m->gbuf, (size_t)(nbuf + 1) * sizeof *gbuf) : NULL;
    if (!gbuf) {
        fv__model_plan_reset(m);
        return fv__fail(FV_ERR_NOMEM, "out of memory planning the model");
    }
    m->gbuf = gbuf;
    m->ngbuf = nbuf;

    /* Per layer: its activation's offset (full) or its slot (lean); the lean slots' sizes. */
    size_t total = 0, off_l = 0, off_t = 0, off_scratch = 0, off_x[FV_MAX_MODEL_INPUTS] = {0};
    size_t *off_act = calloc(L + 1, sizeof *off_act);
    size_t *off_saved = calloc(L + 1, sizeof *off_saved);
    size_t *off_fold = calloc(L + 1, sizeof *off_fold);
    size_t *off_g = calloc((size_t)nbuf + 1, sizeof *off_g);
    size_t *off_sums = calloc(L + 1, sizeof *off_sums);
    int *slot = calloc(L + 1, sizeof *slot), *last = calloc(L + 1, sizeof *last);
    int64_t *cap = calloc(3 * L + 3, sizeof *cap); /* sizes, flags, release steps (lean_slots) */
    bool ok = off_act && off_saved && off_fold && off_g && off_sums && slot && last && cap;
    const int nslots = ok && lean ? lean_slots(m, slot, cap, last) : 0;
    size_t *off_slot = ok ? calloc((size_t)nslots + 1, sizeof *off_slot) : NULL;
    ok = ok && off_slot;
    int64_t largest = 1, t_count;
    size_t scratch = 0;
    for (int k = 0; ok && k < m->ninputs; k++) {
        int64_t in_size = fv__shape_size(&m->inputs[k].shape), x_count;
        if (in_size > largest) largest = in_size;
        ok =
            fv__mul_i64(n, in_size, &x_count) && reserve(&total, x_count, sizeof(float), &off_x[k]);
    }
    size_t off_hl[FV_MAX_OUTPUTS] = {0}, off_ht[FV_MAX_OUTPUTS] = {0};
    for (int j = 0; ok && j < fv__model_heads(m); j++) {
        const int64_t k = fv__model_head_target_width(m, j);
        ok = fv__mul_i64(n, k, &t_count) && reserve(&total, n, sizeof(int32_t), &off_hl[j]) &&
             reserve(&total, t_count, sizeof(float), &off_ht[j]);
    }
    off_l = off_hl[0], off_t = off_ht[0];
    for (int s = 0; ok && s < nslots; s++) {
        int64_t cnt;
        ok = fv__mul_i64(n, cap[s], &cnt) && reserve(&total, cnt, sizeof(float), &off_slot[s]);
    }
    for (int i = 0; ok && i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        int64_t sz = fv__shape_size(&l->out);
        if (sz > largest) largest = sz;
        int64_t cnt;
        if (!lean && !m->skip[i]) {
            ok = fv__mul_i64(n, sz, &cnt) && reserve(&total, cnt, sizeof(float), &off_act[i]);
            ok = ok && reserve(&total, n, l->saved_per_sample, &off_saved[i]);
        } else if (!lean) { /* aliased: its input's buffer */
            ok = ok && reserve(&total, n, l->saved_per_sample, &off_saved[i]);
        } else if (folded(m, i)) {
            const fv_param *k = &m->layers[l->src[0]].params[0];
            const int64_t ch = k->dims[k->rank - 1];
            ok = reserve(&total, k->size + 2 * ch, sizeof(float), &off_fold[l->src[0]]);
        }
        if (ok && !lean && m->fuse_sums[i] >= 0) /* the shift, then the chunks' rows */
            ok = reserve(&total, (2 * FV_GRAD_CHUNKS + 1) * l->out.d[l->out.rank - 1],
                         sizeof(double), &off_sums[i]);
        if (ok && l->kind->scratch_bytes) {
            size_t s = l->kind->scratch_bytes(l, n, threads);
            if (s > scratch) scratch = s;
        }
    }
    for (int j = 0; ok && j < fv__model_heads(m); j++) {
        const fv_task_loss *t = fv__model_head_task(m, j);
        if (t && t->scratch_bytes) {
            size_t s = t->scratch_bytes(&m->layers[fv__model_head_node(m, j)], n);
            if (s > scratch) scratch = s;
        }
    }
    int64_t dsize;
    ok = ok && fv__mul_i64(n, largest, &dsize);
    for (int b = 0; ok && b < nbuf; b++)
        ok = reserve(&total, dsize, sizeof(float), &off_g[b]);
    ok = ok && reserve(&total, (int64_t)scratch, 1, &off_scratch);
    fv_status st = FV_OK;
    uint8_t *block = NULL;
    if (!ok) {
        st = fv__fail(FV_ERR_NOMEM,
                      "batch size %lld is too large for this model: the buffers' size overflows",
                      (long long)n);
    } else {
        st = check_physical_memory(total, "the activations and gradients of a batch");
        block = st == FV_OK ? fv__alloc(total, "the model's activations") : NULL;
        if (!block) {
            fv__error_prefix("batch size %lld: ", (long long)n);
            st = FV_ERR_NOMEM;
        }
    }
    if (st == FV_OK) {
        fv__free(m->block);
        m->block = block;
        m->block_bytes = total;
        for (int k = 0; k < m->ninputs; k++)
            m->xbufs[k] = (float *)(block + off_x[k]);
        m->xbuf = m->xbufs[0];
        m->lbuf = (int32_t *)(block + off_l);
        m->tbuf = (float *)(block + off_t);
        for (int j = 0; j < fv__model_heads(m); j++) {
            m->lbufs[j] = (int32_t *)(block + off_hl[j]);
            m->tbufs[j] = (float *)(block + off_ht[j]);
        }
        for (int i = 0; i < m->nlayers; i++) {
            fv_layer *l = &m->layers[i];
            m->acts[i] = lean         ? (float *)(block + off_slot[slot[i]])
                         : m->skip[i] ? m->acts[l->src[0]] /* aliased */
                                      : (float *)(block + off_act[i]);
            l->saved = lean ? NULL : block + off_saved[i];
            l->fold_w = l->fold_b = NULL;
            fv_bn_pair *s = &m->sums[i];
            *s = (fv_bn_pair){0};
            if (lean || m->fuse_sums[i] < 0) continue;
            s->C = l->out.d[l->out.rank - 1];
            s->shift = (double *)(block + off_sums[i]);
            s->part = s->shift + s->C;
        }
        for (int i = 0; !lean && i < m->nlayers; i++)
            if (m->fuse_y[i] >= 0) m->sums[m->fuse_y[i]].defer_y = true;
        for (int i = 0; lean && i < m->nlayers; i++)
            if (folded(m, i)) {
                fv_layer *p = &m->layers[m->layers[i].src[0]];
                float *w = (float *)(block + off_fold[m->layers[i].src[0]]);
                p->fold_w = w;
                p->fold_b = w + p->params[0].size;
            }
        for (int b = 0; b < nbuf; b++)
            m->gbuf[b] = (float *)(block + off_g[b]);
        m->scratch = block + off_scratch;
        m->scratch_bytes = scratch;
        m->plan_n = n;
        m->plan_threads = threads;
        m->plan_lean = lean;
        m->out_of_last = 0;
    } else {
        fv__model_plan_reset(m);
    }
    free(off_act), free(off_saved), free(off_fold), free(off_g), free(off_slot), free(off_sums);
    free(slot), free(last), free(cap);
    return st;
}

fv_status fv__model_plan(fv_model *m, int64_t n)
{
    if (m->block && !m->plan_lean && n <= m->plan_n && fv__threads() == m->plan_threads)
        return FV_OK;
    /* A lean plan's size is a prediction's batch: a training plan is sized for training's. */
    int64_t want = m->plan_lean || n > m->plan_n ? n : m->plan_n;
    return plan_build(m, want < 1 ? 1 : want, false);
}

/* The folded copies: kernel·scale over the output channels (the last axis in Keras' layouts of
 * both conv2d and dense kernels), bias·scale + shift. The fold area of a layer holds the kernel,
 * the bias and the shift. */
static void refold(fv_model *m)
{
    for (int i = 0; i < m->nlayers; i++) {
        if (!folded(m, i)) continue;
        const fv_layer *bn = &m->layers[i];
        fv_layer *p = &m->layers[bn->src[0]];
        const fv_param *k = &p->params[0];
        const int64_t ch = k->dims[k->rank - 1];
        float *w = (float *)p->fold_w, *b = (float *)p->fold_b, *shift = b + ch;
        bn->kind->inference_affine(bn, b, shift); /* b holds the scale until the last loop */
        const bool has_bias = p->nparams > 1 && strcmp(p->params[1].suffix, "bias") == 0;
        for (int64_t e = 0; e < k->size; e++)
            w[e] = k->w[e] * b[e % ch];
        for (int64_t c = 0; c < ch; c++)
            b[c] = (has_bias ? p->params[1].w[c] : 0.0f) * b[c] + shift[c];
    }
}

fv_status fv__model_plan_inference(fv_model *m, int64_t n)
{
    if (n < 1) n = 1;
    /* A training plan in place serves (fit's validation): no new allocation mid-fit. */
    const bool fits = m->block && n <= m->plan_n && fv__threads() == m->plan_threads;
    if (!fits) {
        fv_status s = plan_build(m, n, true);
        if (s != FV_OK) return s;
    }
    if (m->plan_lean) refold(m);
    return FV_OK;
}

/* ---- forward and backward -------------------------------------------------------------------- */

/* Each training step gets its own dropout stream per layer, named by (seed, step, layer), so a
 * resumed run draws the same masks as one that never stopped. */
void fv__model_step_rng(const fv_model *m, int64_t step, int layer, fv_rng *out)
{
    fv_rng base;
    fv__rng_seed(&base, m->seed ^ 0x5eed5eed5eedULL);
    fv__rng_split(&base, (uint64_t)step * 1024u + (uint64_t)layer, out);
}

static void step_rng(const fv_model *m, int layer, fv_rng *out)
{
    fv__model_step_rng(m, m->dropout_step, layer, out);
}

/* Layer i's run context for a batch of n: its dropout stream for this step in *r. */
static fv_run layer_run(fv_model *m, int i, int64_t n, bool training, fv_rng *r)
{
    /* Inference draws (a VAE's sampling layer) come from one stream whatever step training
     * reached and whatever --seed it ran with, so that the test loss after training equals a
     * later `evaluate`'s of the saved model. */
    if (training) {
        step_rng(m, i, r);
    } else {
        /* keyed on the model file's fit-line seed, which a saved and reloaded model keeps (the
         * --seed of one training run is not saved) */
        fv_rng base; /* step 0's stream of fv__model_step_rng, from the fit line's seed */
        fv__rng_seed(&base, m->fit.seed ^ 0x5eed5eed5eedULL);
        fv__rng_split(&base, (uint64_t)i, r);
    }
    fv_run run = {.n = n,
                  .training = training,
                  .rng = r,
                  .scratch = m->scratch,
                  .threads = m->plan_threads,
                  .index0 = m->infer_first};
    if (m->coll) /* this process's slice of the batch (parallel.c) */
        run.batch = m->dp_batch, run.first = m->dp_first, run.c0 = m->dp_c0, run.c1 = m->dp_c1,
        run.coll = m->coll, run.status = &m->dp_status, run.index0 += m->dp_first;
    return run;
}

/* The layers right after p whose `of` (m->chain_of or m->bchain_of) is p, in c: each layer, its
 * output and its run in this pass. */
static void chain_members(fv_model *m, const int *of, int p, int64_t n, bool training, fv_chain *c)
{
    c->len = 0;
    for (int j = p + 1; j < m->nlayers && of[j] == p; j++) {
        const int k = c->len++;
        c->layer[k] = &m->layers[j];
        c->y[k] = m->acts[j];
        c->run[k] = layer_run(m, j, n, training, &c->rng[k]);
    }
}

/* The chain that layer p runs in this pass (m->chain_of), in c, or NULL for none. */
static const fv_chain *run_chain(fv_model *m, int p, int64_t n, bool training, fv_chain *c)
{
    chain_members(m, m->chain_of, p, n, training, c);
    return c->len ? c : NULL;
}

/* The backward chain of layer p in this pass (m->bchain_of), in c, or NULL for none: member k's
 * input gradient is member k - 1's output gradient (the producer's for k = 0). */
static const fv_bchain *run_bchain(fv_model *m, int p, int64_t n, bool training, fv_bchain *c)
{
    chain_members(m, m->bchain_of, p, n, training, &c->m);
    for (int k = 0; k < c->m.len; k++) {
        const int j = p + 1 + k;
        c->dy[k] = m->gbuf[m->gslot[j]];
        c->dx[k] = m->gbuf[m->gslot[j - 1]];
    }
    return c->m.len ? c : NULL;
}

/* Monotonic wall seconds, for the per-layer profile (about 20 ns a call: always on). */
static double prof_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The activations of a node: a layer's planned buffer, or the caller's input. */
static const float *node_data(const fv_model *m, int node, const float *const *x)
{
    return node >= 0 ? m->acts[node] : x[-1 - node];
}

/* The channel sums (fv_bn_pair) for layer i's forward run in this pass, or NULL: as their
 * producer, reset and armed when its reader takes them in this mode; as their reader, the
 * producer's (used when done). */
static fv_bn_pair *run_sums(fv_model *m, int i, bool training, bool fuse)
{
    if (!fuse) return NULL;
    if (m->fuse_sums[i] >= 0) {
        const fv_layer *b = &m->layers[m->fuse_sums[i]];
        fv_bn_pair *s = &m->sums[i];
        s->done = false;
        return !m->pair_sums_off && b->kind->input_sums(b, training, s->shift) ? s : NULL;
    }
    const fv_layer *l = &m->layers[i];
    return l->nin == 1 && l->src[0] >= 0 && m->fuse_sums[l->src[0]] == i ? &m->sums[l->src[0]]
                                                                         : NULL;
}

/* Backward: the pair (fv_bn_pair) of layer i's run, or NULL: for a BatchNormalization that leaves
 * its input gradient to its producer, reset; for that producer, the gradient to write. */
static fv_bn_pair *backward_pair(fv_model *m, int i)
{
    if (m->fuse_dx[i] >= 0) return &m->sums[i];
    const fv_layer *l = &m->layers[i];
    const int p = l->nin == 1 ? l->src[0] : -1;
    if (p < 0 || m->fuse_dx[p] < 0 || m->fuse_sums[p] != i) return NULL;
    m->sums[p].dx_left = false;
    return &m->sums[p];
}

/* A fused group's forward pass, at its ReLU t: the BatchNormalization's, with the Add and the ReLU
 * as its epilogue, into the ReLU's output. */
static void fused_forward(fv_model *m, int t, const float *const *x, int64_t n, bool training)
{
    const double t0 = training ? prof_now() : 0.0;
    fv_layer *b = &m->layers[m->fuse_bn[t]];
    const float *xs[1] = {node_data(m, b->src[0], x)};
    const fv_epilogue e = {.add = m->fuse_add[t] >= 0 ? node_data(m, fv__fuse_skip_input(m, t), x)
                                                      : NULL,
                           .relu = true};
    fv_rng r;
    fv_run run = layer_run(m, m->fuse_bn[t], n, training, &r);
    run.sums = run_sums(m, m->fuse_bn[t], training, true);
    b->kind->forward_fused(b, xs, m->acts[t], &run, &e);
    if (run.sums) run.sums->done = false;
    /* the group's time is its BatchNormalization's in the profile */
    if (training) b->prof_fwd_s += prof_now() - t0, b->prof_fwd_n += n;
}

void fv__model_forward_inputs(fv_model *m, const float *const *x, int64_t n, bool training)
{
    FV_ASSERT(n <= m->plan_n);
    const bool fuse = m->fusing && !m->plan_lean;
    for (int i = 0; i < m->nlayers; i++) {
        /* folded into the layer before it, aliased (no pass at all) or run in a chain (its time
         * is its producer's) */
        if (m->skip[i] || m->chain_of[i] >= 0) {
            if (training) m->layers[i].prof_fwd_n += n;
            continue;
        }
        if (fuse && m->fuse_tail[i] >= 0) continue; /* runs inside its group, at the ReLU */
        if (fuse && m->fuse_bn[i] >= 0) {
            fused_forward(m, i, x, n, training);
            continue;
        }
        const double t0 = training ? prof_now() : 0.0;
        fv_layer *l = &m->layers[i];
        const float *xs[FV_MAX_INPUTS];
        for (int j = 0; j < l->nin; j++)
            xs[j] = node_data(m, l->src[j], x);
        fv_rng r;
        fv_run run = layer_run(m, i, n, training, &r);
        run.sums = run_sums(m, i, training, fuse);
        run.fill = fuse && m->fuse_y[i] >= 0 ? &m->sums[m->fuse_y[i]] : NULL;
        fv_chain chain;
        run.chain = run_chain(m, i, n, training, &chain);
        l->kind->forward(l, xs, m->acts[i], &run);
        if (run.fill) run.fill->y_left = false;                      /* written */
        if (run.sums && m->fuse_sums[i] < 0) run.sums->done = false; /* taken, or not needed */
        if (l->kind->loss)
            l->added_value =
                m->coll ? fv__dp_added_loss(m, i, xs, n) : l->kind->loss(l, xs, m->acts[i], n);
        if (training) l->prof_fwd_s += prof_now() - t0, l->prof_fwd_n += n;
        if (training && l->kind->reports_work) l->prof_exec_fwd += l->exec_fwd_flop;
    }
    m->out_of_last = n;
    m->fused_last = fuse;
}

void fv__model_forward(fv_model *m, const float *x, int64_t n, bool training)
{
    FV_ASSERT(m->ninputs == 1);
    const float *xs[1] = {x};
    fv__model_forward_inputs(m, xs, n, training);
}

const float *fv__model_out(const fv_model *m)
{
    const int node = fv__model_output_node(m);
    return node >= 0 ? m->acts[node] : m->xbuf;
}

/* Whether the loss hands back ∂L/∂z of the output layer's activation (softmax + categorical
 * cross-entropy, sigmoid + binary cross-entropy): the stable fused form. Only when the output
 * feeds no other layer (their gradient would be ∂L/∂y, not ∂L/∂z). */
static bool loss_fuses(const fv_model *m, int j)
{
    const int out = fv__model_head_node(m, j);
    const fv_loss_kind loss = fv__model_head_loss(m, j);
    if (out < 0) return false;
    for (int i = out + 1; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i].nin; j++)
            if (m->layers[i].src[j] == out) return false;
    fv_activation a = fv__layer_activation(&m->layers[out]);
    if (a == FV_ACT_SOFTMAX)
        return loss == FV_LOSS_CATEGORICAL_CE || loss == FV_LOSS_SPARSE_CATEGORICAL_CE;
    if (a == FV_ACT_SIGMOID) return loss == FV_LOSS_BINARY_CE;
    return false;
}

/* Backward over the layers in reverse order from the output gradient in its buffer; a tensor read
 * by several layers (or twice by one) receives the sum of what they send back, added in the
 * fixed reverse order of the readers. */
static void backward_pass(fv_model *m, const float *const *x, int64_t n, bool training)
{
    const int L = m->nlayers;
    bool *written = m->gwritten;
    memset(written, 0, (size_t)L * sizeof *written);
    for (int j = 0; j < fv__model_heads(m); j++)
        if (fv__model_head_node(m, j) >= 0) written[fv__model_head_node(m, j)] = true;
    for (int i = L - 1; i >= 0; i--) {
        fv_layer *l = &m->layers[i];
        /* a fused group's BatchNormalization and Add have no slot: the group runs at its ReLU */
        if (!m->needs_grad[i] || m->gslot[i] < 0) continue;
        /* aliased: its input's gradient is already in its buffer; in a backward chain: its
         * producer writes its input's gradient (its time is the producer's) */
        if (m->skip[i] || m->bchain_of[i] >= 0) {
            written[l->src[0]] = true;
            l->prof_bwd_n += n;
            continue;
        }
        const double t0 = prof_now();
        const float *xs[FV_MAX_INPUTS];
        float *dxs[FV_MAX_INPUTS];
        int sum_into[FV_MAX_INPUTS], ntemp = 0, srcs[FV_MAX_INPUTS];
        unsigned dx_add = 0; /* the inputs whose gradient the layer adds in place (fv_run) */
        const int nsrc = fv__fuse_grad_inputs(m, i, srcs);
        for (int j = 0; j < nsrc; j++) {
            const int s = srcs[j];
            xs[j] = node_data(m, s, x);
            dxs[j] = NULL;
            sum_into[j] = -1;
            if (s < 0 || !m->needs_grad[s]) continue;
            bool again = false; /* this layer's earlier input reads the same tensor */
            for (int k = 0; k < j; k++)
                again |= srcs[k] == s;
            if (!written[s]) {
                dxs[j] = m->gbuf[m->gslot[s]];
                written[s] = true;
            } else if (!m->dx_add_off && m->fuse_bn[i] < 0 && !again && l->kind->adds_dx &&
                       l->kind->adds_dx(l, j)) {
                dxs[j] = m->gbuf[m->gslot[s]]; /* added into in place, in this reader's turn */
                dx_add |= 1u << j;
            } else {
                dxs[j] = m->gbuf[m->gtemp[i] + ntemp++];
                sum_into[j] = s;
            }
        }
        fv_rng r;
        if (m->fuse_bn[i] >= 0) { /* dxs: the Add's other input's (when there is an Add), then
                                     the BatchNormalization's input's */
            fv_layer *b = &m->layers[m->fuse_bn[i]];
            const bool add = m->fuse_add[i] >= 0;
            const fv_epilogue e = {
                .add = add ? xs[0] : NULL, .relu = true, .dadd = add ? dxs[0] : NULL};
            const float *bx[1] = {xs[add ? 1 : 0]};
            float *bdx[1] = {dxs[add ? 1 : 0]};
            fv_run run = layer_run(m, m->fuse_bn[i], n, training, &r);
            run.sums = backward_pair(m, m->fuse_bn[i]);
            /* the gradient through the ReLU that bn_dx reads is the skip's temporary when the skip
             * has a gradient already: its producer's backward may reuse that buffer for its own
             * input gradient, so the BatchNormalization writes its input gradient now */
            if (add && sum_into[0] >= 0) run.sums = NULL;
            b->kind->backward_fused(b, bx, m->acts[i], m->gbuf[m->gslot[i]], bdx, &run, &e);
            l = b; /* the profile's row */
        } else {
            fv_run run = layer_run(m, i, n, training, &r);
            run.dx_add = dx_add;
            run.sums = backward_pair(m, i);
            fv_bchain bchain;
            run.bchain = run_bchain(m, i, n, training, &bchain);
            l->kind->backward(l, xs, m->acts[i], m->gbuf[m->gslot[i]], dxs, &run);
            if (m->fuse_dx[i] >= 0) m->sums[i].dx_left = false; /* written */
            if (l->kind->reports_work) l->prof_exec_bwd += l->exec_bwd_flop;
        }
        for (int j = 0; j < nsrc; j++) {
            if (sum_into[j] < 0) continue;
            float *dst = m->gbuf[m->gslot[sum_into[j]]];
            const float *src = dxs[j];
            fv__add_run(dst, src, n * fv__shape_size(&m->layers[sum_into[j]].out));
        }
        l->prof_bwd_s += prof_now() - t0, l->prof_bwd_n += n;
    }
}

void fv__model_set_dx_add(fv_model *m, bool on)
{
    m->dx_add_off = !on;
}

void fv__model_plan_switch(fv_model *m, bool *off, bool on)
{
    if (*off == !on) return;
    *off = !on;
    fv__model_plan_reset(m); /* the next pass plans with it or without */
}

void fv__model_set_chains(fv_model *m, bool on)
{
    fv__model_plan_switch(m, &m->chain_off, on);
}

void fv__model_set_backward_chains(fv_model *m, bool on)
{
    fv__model_plan_switch(m, &m->bchain_off, on);
}

void fv__model_set_alias(fv_model *m, bool on)
{
    fv__model_plan_switch(m, &m->alias_off, on);
}

double fv__model_penalty(fv_model *m, bool grad)
{
    /* Keras 3 collects the regularizers of trainable weights only (Layer.losses). */
    double total = 0;
    for (int i = 0; i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        if (!l->trainable) continue;
        for (int p = 0; p < l->nparams; p++) {
            fv_param *pr = &l->params[p];
            const double l1 = pr->reg.l1, l2 = pr->reg.l2;
            if (pr->state || (l1 == 0 && l2 == 0)) continue;
            double a = 0, b = 0;
            for (int64_t j = 0; j < pr->size; j++)
                a += fabs((double)pr->w[j]), b += (double)pr->w[j] * pr->w[j];
            total += l1 * a + l2 * b;
            if (!grad) continue;
            const float f1 = (float)l1, f2 = (float)(2.0 * l2);
            for (int64_t j = 0; j < pr->size; j++) {
                const float w = pr->w[j];
                pr->g[j] += f2 * w + (w > 0 ? f1 : w < 0 ? -f1 : 0.0f);
            }
        }
    }
    return total;
}

fv_status fv__model_loss_and_grad_heads(fv_model *m, const float *const *x, const fv_targets *t,
                                        int64_t n, bool training, double *loss, double *head_loss)
{
    if (!m->compiled)
        return fv__fail(FV_ERR_STATE,
                        "the model is not compiled (no compile line or fv_model_compile call)");
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan(m, n);
    if (s != FV_OK) return s;
    const int heads = fv__model_heads(m);
    bool fused[FV_MAX_OUTPUTS] = {false};
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = false;
    for (int j = 0; j < heads; j++) {
        fused[j] = loss_fuses(m, j);
        if (fv__model_head_node(m, j) >= 0)
            m->layers[fv__model_head_node(m, j)].fused_act = fused[j];
    }
    m->fusing = true; /* this pass and its backward run the plan's fused groups */
    fv__model_forward_inputs(m, x, n, training);
    m->fusing = false;
    const float *y[FV_MAX_OUTPUTS] = {NULL};
    float *dy[FV_MAX_OUTPUTS] = {NULL};
    bool any_grad = false;
    for (int j = 0; j < heads; j++) {
        const int out = fv__model_head_node(m, j);
        y[j] = node_data(m, out, x);
        dy[j] = out >= 0 && m->gslot[out] >= 0 ? m->gbuf[m->gslot[out]] : NULL;
        any_grad = any_grad || dy[j];
    }
    double L = fv__model_heads_loss(m, y, t, n, fused, dy, head_loss, m->term_value);
    if (!m->grads_clear) memset(m->grads, 0, (size_t)(m->ngrads ? m->ngrads : 1) * sizeof(float));
    m->grads_clear = false;
    if (any_grad) backward_pass(m, x, n, training);
    /* Data-parallel: the processes' gradients summed before the penalty's (the same on each). */
    if (m->coll && (s = m->dp_status) == FV_OK) s = fv__dp_sum_grads(m);
    if (s != FV_OK) return s;
    L += fv__model_penalty(m, true);
    if (loss) *loss = L;
    return FV_OK;
}

/* The single-input, single-output calls of tests and fixtures. */
static fv_status single(const fv_model *m)
{
    if (fv__model_heads(m) > 1)
        return fv__fail(FV_ERR_STATE, "the model has %d outputs: each needs its targets",
                        fv__model_heads(m));
    if (m->ninputs > 1)
        return fv__fail(FV_ERR_STATE, "the model has %d inputs: each needs its array", m->ninputs);
    return FV_OK;
}

fv_status fv__model_loss_and_grad(fv_model *m, const float *x, const fv_targets *t, int64_t n,
                                  bool training, double *loss)
{
    const float *xs[1] = {x};
    fv_status s = single(m);
    return s != FV_OK ? s : fv__model_loss_and_grad_heads(m, xs, t, n, training, loss, NULL);
}

fv_status fv__model_train_step_heads(fv_model *m, const float *const *x, const fv_targets *t,
                                     int64_t n, double *loss, double *head_loss)
{
    double L;
    fv_status s = fv__model_loss_and_grad_heads(m, x, t, n, true, &L, head_loss);
    if (s == FV_OK) s = fv__model_ensure_opt_state(m);
    if (s != FV_OK) return s;
    m->dropout_step++;
    if (!isfinite(L)) {
        if (loss) *loss = L;
        return fv__fail(FV_ERR_NUMERIC, "the loss is %s", isnan(L) ? "NaN" : "infinite");
    }
    /* the gradients left zero for the next pass where the step covers them all (frozen layers'
     * lie past ntrain) */
    if (m->ntrain == m->ngrads && m->ngrads > 0) {
        fv__optim_step_clear(&m->optim, m->weights, m->grads, m->opt_state, m->ntrain);
        m->grads_clear = true;
    } else {
        fv__optim_step(&m->optim, m->weights, m->grads, m->opt_state, m->ntrain);
    }
    if (loss) *loss = L;
    return FV_OK;
}

fv_status fv__model_train_step(fv_model *m, const float *x, const fv_targets *t, int64_t n,
                               double *loss)
{
    const float *xs[1] = {x};
    fv_status s = single(m);
    return s != FV_OK ? s : fv__model_train_step_heads(m, xs, t, n, loss, NULL);
}

/* ---- checks shared by fit, evaluate and predict ---------------------------------------------- */

fv_status fv__model_check_data(const fv_model *m, const fv_dataset *d, const char *what)
{
    fv_status s = fv__dataset_check_shape(d, &m->input, what);
    for (int k = 1; s == FV_OK && k < m->ninputs; k++) {
        const char *name = m->inputs[k].name;
        const fv_dataset *a = fv__dataset_input(d, name);
        char w[160];
        snprintf(w, sizeof w, "%s, input '%s'", what, name);
        s = a ? fv__dataset_check_shape(a, &m->inputs[k].shape, w)
              : fv__fail(FV_ERR_INVALID,
                         "%s: no array for input '%s' (the model's first input takes the data's "
                         "samples; give a folder holding x.npy and %s.npy, or from C "
                         "fv_dataset_add_input)",
                         what, name, name);
    }
    return s;
}

void fv__model_gather_inputs(fv_model *m, const fv_dataset *d, const int64_t *idx, int64_t first,
                             int64_t count)
{
    fv__dataset_gather(d, idx, first, count, m->xbufs[0], NULL, NULL);
    for (int k = 1; k < m->ninputs; k++)
        fv__dataset_gather(fv__dataset_input(d, m->inputs[k].name), idx, first, count, m->xbufs[k],
                           NULL, NULL);
}

bool fv__model_accuracy_defined(const fv_model *m)
{
    if (m->loss == FV_LOSS_TASK) return false;
    if (fv__model_target_input(m, 0) >= 0) return false; /* a reconstruction: no classes */
    return m->loss != FV_LOSS_MSE && m->loss != FV_LOSS_MAE ? true : fv__model_out_size(m) > 1;
}

int64_t fv__model_count_correct(const fv_model *m, const float *y, const int32_t *labels, int64_t n)
{
    int64_t k = fv__model_out_size(m), correct = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = y + i * k;
        int64_t pred;
        if (k == 1) {
            pred = row[0] > 0.5f;
        } else {
            pred = 0;
            for (int64_t j = 1; j < k; j++)
                if (row[j] > row[pred]) pred = j;
        }
        correct += pred == labels[i];
    }
    return correct;
}

/* ---- accessors ------------------------------------------------------------------------------- */

int64_t fv_model_param_count(const fv_model *m)
{
    int64_t total = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int p = 0; p < m->layers[i].nparams; p++)
            total += m->layers[i].params[p].size;
    return total;
}

int fv_model_layer_count(const fv_model *m)
{
    return m->nlayers;
}

const char *fv_model_layer_name(const fv_model *m, int i)
{
    return i >= 0 && i < m->nlayers ? m->layers[i].name : NULL;
}

const char *fv_model_layer_kind(const fv_model *m, int i)
{
    return i >= 0 && i < m->nlayers ? m->layers[i].kind->name : NULL;
}

fv_status fv_model_layer_arg(const fv_model *m, int i, const char *key, char *buf, size_t n)
{
    if (n) buf[0] = '\0';
    if (i < 0 || i >= m->nlayers || !key) return FV_ERR_INVALID;
    const fv_layer *l = &m->layers[i];
    const fv_arg_spec *spec = l->kind->args;
    for (int j = 0; spec && spec[j].key; j++)
        if (strcmp(spec[j].key, key) == 0) {
            /* the canonical "key=value" of this one argument, given or default */
            char text[600];
            size_t len = fv__args_format(spec, l->cfg, (uint64_t)1 << j, text, sizeof text);
            size_t skip = strlen(key) + 1;
            if (len >= sizeof text || len < skip) return FV_ERR_NOMEM;
            if (len - skip >= n) {
                if (n) snprintf(buf, n, "%s", text + skip);
                return FV_ERR_NOMEM;
            }
            memcpy(buf, text + skip, len - skip + 1);
            return FV_OK;
        }
    return FV_ERR_INVALID;
}

int fv_model_layer_shape(const fv_model *m, int i, int64_t dims[4])
{
    if (i < 0 || i >= m->nlayers) return 0;
    const fv_shape *s = &m->layers[i].out;
    for (int j = 0; j < s->rank; j++)
        dims[j] = s->d[j];
    return s->rank;
}

int64_t fv_model_trainable_param_count(const fv_model *m)
{
    int64_t total = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int p = 0; p < m->layers[i].nparams; p++)
            if (m->layers[i].trainable && !m->layers[i].params[p].state)
                total += m->layers[i].params[p].size;
    return total;
}

int64_t fv_model_input_size(const fv_model *m)
{
    return m->has_input ? fv__shape_size(&m->input) : 0;
}

int64_t fv_model_output_size(const fv_model *m)
{
    return m->has_input ? fv__model_out_size(m) : 0;
}

static fv_param *find_param(fv_model *m, const char *tensor)
{
    for (int i = 0; i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        size_t len = strlen(l->name);
        if (strncmp(tensor, l->name, len) != 0 || tensor[len] != '.') continue;
        for (int p = 0; p < l->nparams; p++)
            if (strcmp(tensor + len + 1, l->params[p].suffix) == 0) return &l->params[p];
    }
    return NULL;
}

float *fv_model_param(fv_model *m, const char *tensor, int *rank, int64_t dims[4])
{
    fv_param *p = find_param(m, tensor);
    if (!p) {
        fv__fail(FV_ERR_INVALID, "the model has no tensor '%s'", tensor);
        return NULL;
    }
    if (fv__model_ensure_weights(m, m->seed) != FV_OK) return NULL;
    if (rank) *rank = p->rank;
    if (dims)
        for (int j = 0; j < p->rank; j++)
            dims[j] = p->dims[j];
    return p->w;
}

float *fv__model_grad(fv_model *m, const char *tensor)
{
    fv_param *p = find_param(m, tensor);
    if (!p || fv__model_ensure_weights(m, m->seed) != FV_OK) return NULL;
    return p->g;
}

fv_status fv_model_forward_inputs(fv_model *m, const float *const *x, int64_t n)
{
    if (!m || !x) return fv__fail(FV_ERR_INVALID, "fv_model_forward: NULL argument");
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    if (n < 1) return fv__fail(FV_ERR_INVALID, "fv_model_forward: n = %lld", (long long)n);
    for (int k = 0; k < m->ninputs; k++)
        if (!x[k]) return fv__fail(FV_ERR_INVALID, "fv_model_forward: input %d is NULL", k);
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan(m, n);
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = false;
    m->infer_first = 0;
    fv__model_forward_inputs(m, x, n, false);
    return FV_OK;
}

fv_status fv_model_forward(fv_model *m, const float *x, int64_t n)
{
    if (m && m->ninputs > 1)
        return fv__fail(FV_ERR_INVALID,
                        "fv_model_forward: the model has %d inputs; use fv_model_forward_inputs",
                        m->ninputs);
    const float *xs[1] = {x};
    return fv_model_forward_inputs(m, xs, n);
}

static int output_node(const fv_model *m, int k)
{
    return m->noutputs ? m->outputs[k] : fv__model_output_node(m);
}

fv_status fv_model_predict_arrays(fv_model *m, const float *const *x, int64_t n, int64_t batch_size,
                                  float *const *out)
{
    if (!m || !x || !out) return fv__fail(FV_ERR_INVALID, "fv_model_predict_arrays: NULL argument");
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    if (n < 1) return fv__fail(FV_ERR_INVALID, "fv_model_predict_arrays: n = %lld", (long long)n);
    const int nout = fv_model_output_count(m);
    for (int k = 0; k < m->ninputs; k++)
        if (!x[k]) return fv__fail(FV_ERR_INVALID, "fv_model_predict_arrays: input %d is NULL", k);
    for (int j = 0; j < nout; j++)
        if (!out[j])
            return fv__fail(FV_ERR_INVALID, "fv_model_predict_arrays: output %d is NULL", j);
    if (batch_size <= 0) batch_size = 32;
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan_inference(m, batch_size < n ? batch_size : n);
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = false;
    for (int64_t b = 0; b < n; b += batch_size) {
        const int64_t nb = n - b < batch_size ? n - b : batch_size;
        const float *xs[FV_MAX_MODEL_INPUTS];
        for (int k = 0; k < m->ninputs; k++)
            xs[k] = x[k] + b * fv__shape_size(&m->inputs[k].shape);
        m->infer_first = b;
        fv__model_forward_inputs(m, xs, nb, false);
        for (int j = 0; j < nout; j++) {
            const int node = output_node(m, j);
            const int64_t k = fv__shape_size(fv__model_node_shape(m, node));
            memcpy(out[j] + b * k, m->acts[node], (size_t)(nb * k) * sizeof(float));
        }
    }
    return FV_OK;
}

int fv_model_input_count(const fv_model *m)
{
    return m->ninputs;
}

const char *fv_model_input_name(const fv_model *m, int k)
{
    return k >= 0 && k < m->ninputs ? m->inputs[k].name : NULL;
}

static int shape_dims(const fv_shape *s, int64_t dims[4])
{
    for (int j = 0; j < s->rank; j++)
        dims[j] = s->d[j];
    return s->rank;
}

int fv_model_input_shape(const fv_model *m, int k, int64_t dims[4])
{
    return m && k >= 0 && k < m->ninputs ? shape_dims(&m->inputs[k].shape, dims) : 0;
}

int fv_model_output_count(const fv_model *m)
{
    return m->has_input ? (m->noutputs ? m->noutputs : 1) : 0;
}

const char *fv_model_output_name(const fv_model *m, int k)
{
    if (k < 0 || k >= fv_model_output_count(m)) return NULL;
    return fv__model_node_name(m, output_node(m, k));
}

const char *fv_model_output_loss(const fv_model *m, int k)
{
    if (!m || !m->compiled || k < 0 || k >= fv_model_output_count(m)) return NULL;
    return fv__model_head_loss_name(m, k);
}

int fv_model_output_shape(const fv_model *m, int k, int64_t dims[4])
{
    if (k < 0 || k >= fv_model_output_count(m)) return 0;
    return shape_dims(fv__model_node_shape(m, output_node(m, k)), dims);
}

const float *fv_model_output(const fv_model *m, int k)
{
    if (k < 0 || k >= fv_model_output_count(m) || !m->out_of_last) return NULL;
    const int node = output_node(m, k);
    return node >= 0 ? m->acts[node] : NULL;
}

fv_status fv_model_profile(const fv_model *m, int i, fv_layer_profile *out)
{
    if (!m || !out || i < 0 || i >= m->nlayers)
        return fv__fail(FV_ERR_INVALID, "fv_model_profile: no layer %d", i);
    const fv_layer *l = &m->layers[i];
    out->forward_s = l->prof_fwd_s;
    out->backward_s = l->prof_bwd_s;
    out->forward_samples = l->prof_fwd_n;
    out->backward_samples = l->prof_bwd_n;
    out->forward_flop = fv__layer_flops(l, false, false) * (double)l->prof_fwd_n;
    bool input_grad = false;
    for (int j = 0; j < l->nin; j++)
        input_grad = input_grad || (l->src[j] >= 0 && m->needs_grad && m->needs_grad[l->src[j]]);
    out->backward_flop = fv__layer_flops(l, true, input_grad) * (double)l->prof_bwd_n;
    out->forward_executed_flop = l->kind->reports_work ? l->prof_exec_fwd : out->forward_flop;
    out->backward_executed_flop = l->kind->reports_work ? l->prof_exec_bwd : out->backward_flop;
    return FV_OK;
}

void fv_model_profile_reset(fv_model *m)
{
    for (int i = 0; m && i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        l->prof_fwd_s = l->prof_bwd_s = 0.0;
        l->prof_fwd_n = l->prof_bwd_n = 0;
        l->prof_exec_bwd = l->prof_exec_fwd = 0.0;
    }
}

const float *fv_model_layer_output(const fv_model *m, int i)
{
    /* A lean plan (after predict or evaluate) keeps no layer outputs but the model's; a training
     * step's pass does not write the outputs inside its fused groups. */
    if (i < 0 || i >= m->nlayers || !m->out_of_last || m->plan_lean) return NULL;
    if (m->fused_last && m->fuse_tail[i] >= 0) return NULL;
    return m->acts[i];
}

/* ---- summary --------------------------------------------------------------------------------- */

static void thousands(char *buf, size_t n, int64_t v)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)v);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < n; i++) {
        if (i && (len - i) % 3 == 0 && o + 2 < n) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

static void human_bytes(char *buf, size_t n, double bytes)
{
    const char *unit[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1024 && u < 4)
        bytes /= 1024, u++;
    snprintf(buf, n, "%.2f %s", bytes, unit[u]);
}

/* Writes c `ch` characters and a newline. */
static void summary_rule(FILE *out, char ch, int width)
{
    for (int i = 0; i < width; i++)
        fputc(ch, out);
    fputc('\n', out);
}

/* The parameters of one layer. */
static int64_t layer_params(const fv_layer *l)
{
    int64_t n = 0;
    for (int p = 0; p < l->nparams; p++)
        n += l->params[p].size;
    return n;
}

/* One row of the functional summary: "name (Class)", shape, params, then the connections one
 * per line as Keras 2 writes them ('conv2d[0][0]'). */
static void summary_row(FILE *out, int name_w, const char *name, const char *shape,
                        const char *count, const char *const *conn, int nconn)
{
    fprintf(out, " %-*s %-28s %-9s ", name_w - 1, name, shape, count);
    if (!nconn) fprintf(out, "[]");
    for (int j = 0; j < nconn; j++) {
        if (j) fprintf(out, "\n %-*s %-28s %-9s ", name_w - 1, "", "", "");
        fprintf(out, "%s'%s[0][0]'%s", j ? " " : "[", conn[j], j + 1 < nconn ? "," : "]");
    }
    fputc('\n', out);
}

fv_status fv_model_summary(const fv_model *m, FILE *out)
{
    /* Keras' columns (28, 26, 10 wide; functional: 28, 29, 10, then Connected to), widened
     * when a "name (Class)" does not fit, so that no row is ever misaligned. */
    int name_w = 28;
    for (int i = 0; i < m->nlayers; i++) {
        int w = (int)(strlen(m->layers[i].name) + strlen(m->layers[i].kind->keras_class)) + 5;
        if (w > name_w) name_w = w;
    }
    for (int k = 0; m->functional && k < m->ninputs; k++) {
        int w = (int)strlen(m->inputs[k].name) + (int)strlen("InputLayer") + 5;
        if (w > name_w) name_w = w;
    }
    const int width = m->functional ? name_w + 29 + 10 + 31 : name_w + 26 + 11;
    fprintf(out, "Model: \"%s\"\n", m->functional ? "functional" : "sequential");
    summary_rule(out, '_', width);
    if (m->functional)
        fprintf(out, " %-*s %-28s %-9s %s\n", name_w - 1, "Layer (type)", "Output Shape", "Param #",
                "Connected to");
    else
        fprintf(out, " %-*s %-25s %-10s\n", name_w - 1, "Layer (type)", "Output Shape", "Param #");
    summary_rule(out, '=', width);
    const int rows = m->nlayers + (m->functional ? m->ninputs : 0);
    int row = 0, next_input = 0;
    for (int i = 0; i <= m->nlayers; i++) {
        /* Input rows where their lines stood. */
        while (m->functional && next_input < m->ninputs && m->inputs[next_input].before == i) {
            const fv_model_input *in = &m->inputs[next_input++];
            char name[128], shape[64];
            snprintf(name, sizeof name, "%s (InputLayer)", in->name);
            fv__shape_format(&in->shape, shape, sizeof shape);
            summary_row(out, name_w, name, shape, "0", NULL, 0);
            if (++row < rows) fputc('\n', out);
        }
        if (i == m->nlayers) break;
        const fv_layer *l = &m->layers[i];
        char name[128], shape[64], count[32];
        snprintf(name, sizeof name, "%s (%s)", l->name, l->kind->keras_class);
        fv__shape_format(&l->out, shape, sizeof shape);
        thousands(count, sizeof count, layer_params(l));
        if (m->functional) {
            const char *conn[FV_MAX_INPUTS];
            for (int j = 0; j < l->nin; j++)
                conn[j] = fv__model_node_name(m, l->src[j]);
            summary_row(out, name_w, name, shape, count, conn, l->nin);
        } else {
            fprintf(out, " %-*s %-25s %-10s\n", name_w - 1, name, shape, count);
        }
        if (++row < rows) fputc('\n', out);
    }
    summary_rule(out, '=', width);
    char total[32], size[32], tr[32], trs[32], nt[32], nts[32];
    const int64_t n = fv_model_param_count(m), t = fv_model_trainable_param_count(m);
    thousands(total, sizeof total, n);
    human_bytes(size, sizeof size, (double)n * 4);
    thousands(tr, sizeof tr, t);
    human_bytes(trs, sizeof trs, (double)t * 4);
    thousands(nt, sizeof nt, n - t);
    human_bytes(nts, sizeof nts, (double)(n - t) * 4);
    fprintf(out,
            "Total params: %s (%s)\nTrainable params: %s (%s)\nNon-trainable params: %s (%s)\n",
            total, size, tr, trs, nt, nts);
    summary_rule(out, '_', width);
    fv__model_summary_preprocessing(m, out);
    return ferror(out) ? fv__fail(FV_ERR_IO, "cannot write the summary") : FV_OK;
}
