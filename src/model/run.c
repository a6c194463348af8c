/* run.c — the model at run time: one block each for weights, gradients and optimizer state; a
 * plan that sizes every activation, gradient and scratch buffer once for a batch size; the
 * forward and backward passes over the layer list; the accessors and the summary table.
 */
#include "model/model_impl.h"
#include "io/dataset.h"

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

fv_status fv__model_ensure_weights(fv_model *m, uint64_t seed)
{
    if (m->weights) return FV_OK;
    if (!m->has_input) return fv__fail(FV_ERR_STATE, "the model has no input layer");
    int64_t total = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int p = 0; p < m->layers[i].nparams; p++)
            if (!fv__add_i64(total, m->layers[i].params[p].size, &total))
                return fv__fail(FV_ERR_NOMEM, "the model's parameter count overflows");
    size_t bytes;
    if (!fv__mul_size((size_t)total, sizeof(float), &bytes))
        return fv__fail(FV_ERR_NOMEM, "the model's parameter count overflows");
    fv_status s = check_physical_memory(bytes > SIZE_MAX / 2 ? SIZE_MAX : 2 * bytes,
                                        "the model's weights and gradients");
    if (s != FV_OK) return s;
    float *w = fv__alloc(bytes, "the model's weights");
    float *g = w ? fv__calloc(bytes, "the model's gradients") : NULL;
    if (!g) {
        fv__free(w);
        return FV_ERR_NOMEM;
    }
    fv_rng r;
    fv__rng_seed(&r, seed);
    int64_t off = 0;
    for (int i = 0; i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparams; p++) {
            fv_param *pr = &l->params[p];
            pr->w = w + off;
            pr->g = g + off;
            if (pr->init == FV_INIT_GLOROT_UNIFORM)
                glorot_uniform(&r, pr->w, pr->size, pr->fan_in, pr->fan_out);
            else
                memset(pr->w, 0, (size_t)pr->size * sizeof(float));
            off += pr->size;
        }
    }
    m->weights = w;
    m->grads = g;
    m->nweights = total;
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
    if (!fv__mul_size((size_t)m->nweights, (size_t)slots * sizeof(float), &bytes))
        return fv__fail(FV_ERR_NOMEM, "optimizer state size overflows");
    m->opt_state = fv__calloc(bytes, "the optimizer's state");
    return m->opt_state ? FV_OK : FV_ERR_NOMEM;
}

/* ---- the plan ------------------------------------------------------------------------------- */

int64_t fv__model_out_size(const fv_model *m)
{
    return fv__shape_size(m->nlayers ? &m->layers[m->nlayers - 1].out : &m->input);
}

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

fv_status fv__model_plan(fv_model *m, int64_t n)
{
    int threads = fv__threads();
    if (m->block && n <= m->plan_n && threads == m->plan_threads) return FV_OK;
    if (n < m->plan_n) n = m->plan_n;
    if (n < 1) n = 1;

    float **acts = realloc(m->acts, (size_t)(m->nlayers ? m->nlayers : 1) * sizeof *acts);
    if (!acts) return fv__fail(FV_ERR_NOMEM, "out of memory planning the model");
    m->acts = acts;

    size_t total = 0, off_x, off_l, off_t, off_d0, off_d1, off_scratch;
    size_t *off_act = calloc((size_t)m->nlayers + 1, sizeof *off_act);
    size_t *off_saved = calloc((size_t)m->nlayers + 1, sizeof *off_saved);
    bool ok = off_act && off_saved;
    int64_t in_size = fv__shape_size(&m->input), out_size = fv__model_out_size(m);
    int64_t largest = in_size;
    size_t scratch = 0;
    int64_t x_count, t_count;
    ok = ok && fv__mul_i64(n, in_size, &x_count) && fv__mul_i64(n, out_size, &t_count);
    ok = ok && reserve(&total, x_count, sizeof(float), &off_x);
    ok = ok && reserve(&total, n, sizeof(int32_t), &off_l);
    ok = ok && reserve(&total, t_count, sizeof(float), &off_t);
    for (int i = 0; ok && i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        int64_t sz = fv__shape_size(&l->out);
        if (sz > largest) largest = sz;
        int64_t cnt;
        ok = fv__mul_i64(n, sz, &cnt) && reserve(&total, cnt, sizeof(float), &off_act[i]);
        ok = ok && reserve(&total, n, l->saved_per_sample, &off_saved[i]);
        if (ok && l->kind->scratch_bytes) {
            size_t s = l->kind->scratch_bytes(l, n, threads);
            if (s > scratch) scratch = s;
        }
    }
    int64_t dsize;
    ok = ok && fv__mul_i64(n, largest, &dsize);
    ok = ok && reserve(&total, dsize, sizeof(float), &off_d0);
    ok = ok && reserve(&total, dsize, sizeof(float), &off_d1);
    ok = ok && reserve(&total, (int64_t)scratch, 1, &off_scratch);
    if (!ok) {
        free(off_act);
        free(off_saved);
        return fv__fail(FV_ERR_NOMEM,
                        "batch size %lld is too large for this model: the buffers' size overflows",
                        (long long)n);
    }
    fv_status ms = check_physical_memory(total, "the activations and gradients of a batch");
    uint8_t *block = ms == FV_OK ? fv__alloc(total, "the model's activations") : NULL;
    if (!block) {
        free(off_act);
        free(off_saved);
        fv__error_prefix("batch size %lld: ", (long long)n);
        return FV_ERR_NOMEM;
    }
    fv__free(m->block);
    m->block = block;
    m->block_bytes = total;
    m->xbuf = (float *)(block + off_x);
    m->lbuf = (int32_t *)(block + off_l);
    m->tbuf = (float *)(block + off_t);
    for (int i = 0; i < m->nlayers; i++) {
        m->acts[i] = (float *)(block + off_act[i]);
        m->layers[i].saved = block + off_saved[i];
    }
    m->dbuf[0] = (float *)(block + off_d0);
    m->dbuf[1] = (float *)(block + off_d1);
    m->scratch = block + off_scratch;
    m->scratch_bytes = scratch;
    m->plan_n = n;
    m->plan_threads = threads;
    m->out_of_last = 0;
    free(off_act);
    free(off_saved);
    return FV_OK;
}

/* ---- forward and backward -------------------------------------------------------------------- */

/* Each training step gets its own dropout stream per layer, named by (seed, step, layer), so a
 * resumed run draws the same masks as one that never stopped. */
static void step_rng(const fv_model *m, int layer, fv_rng *out)
{
    fv_rng base;
    fv__rng_seed(&base, m->seed ^ 0x5eed5eed5eedULL);
    fv__rng_split(&base, (uint64_t)m->dropout_step * 1024u + (uint64_t)layer, out);
}

/* Monotonic wall seconds, for the per-layer profile (about 20 ns a call: always on). */
static double prof_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void fv__model_forward(fv_model *m, const float *x, int64_t n, bool training)
{
    FV_ASSERT(n <= m->plan_n);
    for (int i = 0; i < m->nlayers; i++) {
        const double t0 = training ? prof_now() : 0.0;
        fv_layer *l = &m->layers[i];
        fv_rng r;
        step_rng(m, i, &r);
        fv_run run = {.n = n,
                      .training = training,
                      .rng = &r,
                      .scratch = m->scratch,
                      .threads = m->plan_threads};
        l->kind->forward(l, i ? m->acts[i - 1] : x, m->acts[i], &run);
        if (training) l->prof_fwd_s += prof_now() - t0, l->prof_fwd_n += n;
    }
    m->out_of_last = n;
}

/* Whether the loss hands back ∂L/∂z of the last layer's activation (softmax + categorical
 * cross-entropy, sigmoid + binary cross-entropy): the stable fused form. */
static bool loss_fuses(const fv_model *m)
{
    if (!m->nlayers) return false;
    fv_activation a = fv__layer_activation(&m->layers[m->nlayers - 1]);
    if (a == FV_ACT_SOFTMAX)
        return m->loss == FV_LOSS_CATEGORICAL_CE || m->loss == FV_LOSS_SPARSE_CATEGORICAL_CE;
    if (a == FV_ACT_SIGMOID) return m->loss == FV_LOSS_BINARY_CE;
    return false;
}

fv_status fv__model_loss_and_grad(fv_model *m, const float *x, const fv_targets *t, int64_t n,
                                  bool training, double *loss)
{
    if (!m->compiled)
        return fv__fail(FV_ERR_STATE,
                        "the model is not compiled (no compile line or fv_model_compile call)");
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan(m, n);
    if (s != FV_OK) return s;
    bool fused = loss_fuses(m);
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = fused && i == m->nlayers - 1;
    fv__model_forward(m, x, n, training);
    int64_t k = fv__model_out_size(m);
    float *dy = m->dbuf[0], *dx = m->dbuf[1];
    double L = fv__loss(m->loss, m->acts[m->nlayers - 1], t, n, k, fused, dy);
    memset(m->grads, 0, (size_t)m->nweights * sizeof(float));
    for (int i = m->nlayers - 1; i >= 0; i--) {
        fv_layer *l = &m->layers[i];
        const double t0 = prof_now();
        fv_rng r;
        step_rng(m, i, &r);
        fv_run run = {.n = n,
                      .training = training,
                      .rng = &r,
                      .scratch = m->scratch,
                      .threads = m->plan_threads};
        l->kind->backward(l, i ? m->acts[i - 1] : x, m->acts[i], dy, i ? dx : NULL, &run);
        l->prof_bwd_s += prof_now() - t0, l->prof_bwd_n += n;
        float *tmp = dy;
        dy = dx;
        dx = tmp;
    }
    if (loss) *loss = L;
    return FV_OK;
}

fv_status fv__model_train_step(fv_model *m, const float *x, const fv_targets *t, int64_t n,
                               double *loss)
{
    double L;
    fv_status s = fv__model_loss_and_grad(m, x, t, n, true, &L);
    if (s == FV_OK) s = fv__model_ensure_opt_state(m);
    if (s != FV_OK) return s;
    m->dropout_step++;
    if (!isfinite(L)) {
        if (loss) *loss = L;
        return fv__fail(FV_ERR_NUMERIC, "the loss is %s", isnan(L) ? "NaN" : "infinite");
    }
    fv__optim_step(&m->optim, m->weights, m->grads, m->opt_state, m->nweights);
    if (loss) *loss = L;
    return FV_OK;
}

/* ---- checks shared by fit, evaluate and predict ---------------------------------------------- */

fv_status fv__model_check_data(const fv_model *m, const fv_dataset *d, const char *what)
{
    return fv__dataset_check_shape(d, &m->input, what);
}

bool fv__model_accuracy_defined(const fv_model *m)
{
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

int fv_model_layer_shape(const fv_model *m, int i, int64_t dims[4])
{
    if (i < 0 || i >= m->nlayers) return 0;
    const fv_shape *s = &m->layers[i].out;
    for (int j = 0; j < s->rank; j++)
        dims[j] = s->d[j];
    return s->rank;
}

int64_t fv_model_input_size(const fv_model *m)
{
    return m->has_input ? fv__shape_size(&m->input) : 0;
}

int fv_model_input_shape(const fv_model *m, int64_t dims[4])
{
    if (!m || !m->has_input) return 0;
    for (int j = 0; j < m->input.rank; j++)
        dims[j] = m->input.d[j];
    return m->input.rank;
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

fv_status fv_model_forward(fv_model *m, const float *x, int64_t n)
{
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    if (n < 1) return fv__fail(FV_ERR_INVALID, "fv_model_forward: n = %lld", (long long)n);
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan(m, n);
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = false;
    fv__model_forward(m, x, n, false);
    return FV_OK;
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
    out->backward_flop = fv__layer_flops(l, true, i > 0) * (double)l->prof_bwd_n;
    return FV_OK;
}

void fv_model_profile_reset(fv_model *m)
{
    for (int i = 0; m && i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        l->prof_fwd_s = l->prof_bwd_s = 0.0;
        l->prof_fwd_n = l->prof_bwd_n = 0;
    }
}

const float *fv_model_layer_output(const fv_model *m, int i)
{
    if (i < 0 || i >= m->nlayers || !m->out_of_last) return NULL;
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
    for (int i = 0; i < width; i++) fputc(ch, out);
    fputc('\n', out);
}

fv_status fv_model_summary(const fv_model *m, FILE *out)
{
    /* Keras' columns (28, 26, 10 wide), widened when a "name (Class)" does not fit, so that no
     * row is ever misaligned. */
    int name_w = 28;
    for (int i = 0; i < m->nlayers; i++) {
        int w = (int)(strlen(m->layers[i].name) + strlen(m->layers[i].kind->keras_class)) + 5;
        if (w > name_w) name_w = w;
    }
    int width = name_w + 26 + 11;
    fprintf(out, "Model: \"sequential\"\n");
    summary_rule(out, '_', width);
    fprintf(out, " %-*s %-25s %-10s\n", name_w - 1, "Layer (type)", "Output Shape", "Param #");
    summary_rule(out, '=', width);
    for (int i = 0; i < m->nlayers; i++) {
        const fv_layer *l = &m->layers[i];
        char name[128], shape[64], count[32];
        snprintf(name, sizeof name, "%s (%s)", l->name, l->kind->keras_class);
        fv__shape_format(&l->out, shape, sizeof shape);
        int64_t params = 0;
        for (int p = 0; p < l->nparams; p++)
            params += l->params[p].size;
        thousands(count, sizeof count, params);
        fprintf(out, " %-*s %-25s %-10s\n", name_w - 1, name, shape, count);
        if (i + 1 < m->nlayers) fputc('\n', out);
        else summary_rule(out, '=', width);
    }
    if (!m->nlayers) summary_rule(out, '=', width);
    char total[32], size[32];
    int64_t n = fv_model_param_count(m);
    thousands(total, sizeof total, n);
    human_bytes(size, sizeof size, (double)n * 4);
    fprintf(
        out,
        "Total params: %s (%s)\nTrainable params: %s (%s)\nNon-trainable params: 0 (0.00 B)\n",
        total, size, total, size);
    summary_rule(out, '_', width);
    return ferror(out) ? fv__fail(FV_ERR_IO, "cannot write the summary") : FV_OK;
}
