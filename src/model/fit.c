/* fit.c — the training loop (Keras' fit: shuffled batches, running figures, validation at the
 * end of each epoch, a history row per epoch), its callbacks (early stopping, reducing the
 * learning rate on a plateau, saving the best model, checkpoints), evaluate and predict.
 * Nothing is allocated per batch: the plan and the metric accumulators are sized before the
 * first step.
 */
#include "model/fit.h"
#include "io/dataset.h"
#include "model/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Head j's targets in d: the array given for the output's name (fv_dataset_add_output), else,
 * for a model with one output, d's own labels or targets (NULL if none). */
static const fv_dataset *head_data(const fv_model *m, const fv_dataset *d, int j)
{
    const fv_dataset *o = fv__dataset_output(d, fv__model_node_name(m, fv__model_head_node(m, j)));
    return o || fv__model_heads(m) > 1 ? o : d;
}

static int64_t head_size(const fv_model *m, int j)
{
    return fv__shape_size(fv__model_node_shape(m, fv__model_head_node(m, j)));
}

/* Whether head j takes a task loss (float targets of the loss's own width). */
static bool task_head(const fv_model *m, int j)
{
    return fv__model_head_loss(m, j) == FV_LOSS_TASK;
}

/* Whether head j takes binary cross-entropy on float targets (probabilities, pixels, several
 * labels per sample) rather than on 0/1 class labels: rows as wide as the output that are not
 * all single class indices. */
static bool soft_binary(const fv_model *m, const fv_dataset *d, int j)
{
    const fv_dataset *t = head_data(m, d, j);
    const int64_t k = head_size(m, j);
    return t && fv__model_head_loss(m, j) == FV_LOSS_BINARY_CE && t->targets && t->tdim == k &&
           (k > 1 || !t->labels);
}

/* Whether head j's output is image-shaped: rank 2 or more with more than one position (a
 * classifier's (1, 1, classes) is not). */
static bool image_output(const fv_model *m, int j)
{
    const fv_shape *s = fv__model_node_shape(m, fv__model_head_node(m, j));
    return s->rank >= 2 && head_size(m, j) / s->d[s->rank - 1] > 1;
}

/* Checks labels or targets against each output and its loss before any work is done. */
static fv_status check_targets(const fv_model *m, const fv_dataset *d, const char *what)
{
    const int heads = fv__model_heads(m);
    fv_status ts = fv__model_targets_check(m, d, what);
    if (ts != FV_OK) return ts;
    for (int j = 0; j < heads; j++) {
        if (fv__model_target_input(m, j) >= 0) continue; /* the input itself (targets.c) */
        const char *name = fv__model_node_name(m, fv__model_head_node(m, j));
        const fv_dataset *t = head_data(m, d, j);
        char w[160];
        snprintf(w, sizeof w, heads > 1 ? "%s, output '%s'" : "%s", what, name);
        if (!t)
            return fv__fail(FV_ERR_INVALID,
                            "%s: no targets for output '%s' (%s.npy beside x.npy in a data folder, "
                            "or fv_dataset_add_output)",
                            what, name, name);
        const fv_loss_kind loss = fv__model_head_loss(m, j);
        const int64_t k = head_size(m, j);
        fv_status s;
        if (task_head(m, j)) {
            const int64_t tw = fv__model_head_target_width(m, j);
            s = t->tdim == tw ? FV_OK
                              : fv__fail(FV_ERR_SHAPE,
                                         "%s: the targets have %lld values per sample, but loss "
                                         "%s of output '%s' takes %lld",
                                         w, (long long)t->tdim, fv__model_head_loss_name(m, j),
                                         name, (long long)tw);
            const fv_task_loss *task = fv__model_head_task(m, j);
            if (s == FV_OK && task->check_targets) {
                s = task->check_targets(&m->layers[fv__model_head_node(m, j)], t->targets, t->n);
                if (s != FV_OK)
                    fv__error_prefix("%s, %s: ", w,
                                     t->labels_origin ? t->labels_origin : "the targets");
            }
        } else if (soft_binary(m, d, j)) {
            /* binary cross-entropy on probabilities (or pixels): numbers in [0, 1] */
            s = fv__dataset_check_targets(t, k, w);
            for (int64_t i = 0; s == FV_OK && i < t->n * k; i++)
                if (!(t->targets[i] >= 0 && t->targets[i] <= 1))
                    s = fv__fail(FV_ERR_INVALID,
                                 "%s: %s, sample %lld (counting from 0): %g is not a probability "
                                 "in [0, 1], which binary_crossentropy needs",
                                 w, t->labels_origin ? t->labels_origin : "the targets",
                                 (long long)(i / k), (double)t->targets[i]);
        } else if (!t->targets && image_output(m, j)) {
            /* one class label per sample against an image-shaped output: almost surely an
             * autoencoder whose fit line forgot its target (a trial trained a VAE as a
             * 784-class classifier this way) */
            char a[96];
            fv__shape_format(fv__model_node_shape(m, fv__model_head_node(m, j)), a, sizeof a);
            s = fv__fail(FV_ERR_SHAPE,
                         "%s: output '%s' has shape %s, an image, but the data's targets are class "
                         "labels, one per sample; an autoencoder's target is its input: add "
                         "`fit target=input` to the model file (Keras' fit(x, x)), or give targets "
                         "of that shape",
                         w, name, a);
        } else {
            const bool classes = loss == FV_LOSS_CATEGORICAL_CE ||
                                 loss == FV_LOSS_SPARSE_CATEGORICAL_CE || loss == FV_LOSS_BINARY_CE;
            s = classes || !t->targets
                    ? fv__dataset_check_labels(t, fv__loss_label_limit(loss, k), k, w)
                    : fv__dataset_check_targets(t, k, w);
        }
        if (s != FV_OK) return s;
    }
    return FV_OK;
}

/* Whether head j's targets in d are float targets (a regression, or binary cross-entropy on
 * probabilities) rather than class labels. */
static bool regression_head(const fv_model *m, const fv_dataset *d, int j)
{
    const fv_dataset *t = head_data(m, d, j);
    const fv_loss_kind loss = fv__model_head_loss(m, j);
    const int64_t k = head_size(m, j);
    if (task_head(m, j)) return true;
    if (fv__model_target_input(m, j) >= 0 || soft_binary(m, d, j)) return true;
    return t && (loss == FV_LOSS_MSE || loss == FV_LOSS_MAE) && t->targets && t->tdim == k &&
           !(t->labels && k > 1);
}

/* Gathers a batch into the model's buffers and each head's targets into t[]: in data-parallel
 * training the inputs of this process's slice only, the targets of the whole batch (parallel.c).
 * Returns the samples whose inputs were gathered. */
static int64_t load_batch(fv_model *m, const fv_dataset *d, const int64_t *idx, int64_t first,
                          int64_t count, fv_targets *t)
{
    int64_t lo, n;
    fv__dp_slice(m, count, &lo, &n);
    fv__model_gather_inputs(m, d, idx ? idx + lo : NULL, idx ? first : first + lo, n);
    for (int j = 0; j < fv__model_heads(m); j++) {
        if (fv__model_target_input(m, j) >= 0) continue; /* the input itself: below */
        const fv_dataset *o = head_data(m, d, j);
        const bool regression = regression_head(m, d, j);
        int32_t *labels;
        float *values;
        fv__dp_target_bufs(m, j, &labels, &values);
        fv__dataset_gather(o, idx, first, count, NULL, o->labels ? labels : NULL,
                           regression ? values : NULL);
        t[j] = (fv_targets){.labels = regression ? NULL : labels,
                            .values = regression ? values : NULL};
    }
    fv__model_targets_fill(m, d, idx, first, count, t);
    return n;
}

/* Loss and correct count over samples [first, first + count) of d, inference mode; each head's
 * outputs are also added to its accumulators when heads is given, and its weighted loss summed
 * into heads[j].loss_sum. accuracy: the single output's (NaN with several). */
static fv_status evaluate_range(fv_model *m, const fv_dataset *d, int64_t first, int64_t count,
                                int64_t batch, double *loss, double *accuracy, fv__head *heads,
                                double *term_sum)
{
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK)
        s = fv__model_plan_inference(m, fv__dp_plan_n(m->coll, batch < count ? batch : count));
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = false;
    const int nh = fv__model_heads(m);
    int64_t correct = 0;
    double sum = 0;
    for (int j = 0; heads && j < nh; j++)
        heads[j].loss_sum = 0;
    for (int k = 0; term_sum && k < m->nterms; k++)
        term_sum[k] = 0;
    for (int64_t b = 0; b < count; b += batch) {
        int64_t nb = count - b < batch ? count - b : batch;
        fv_targets t[FV_MAX_OUTPUTS];
        const int64_t own = load_batch(m, d, NULL, first + b, nb, t);
        m->infer_first = b;
        /* On a training plan (fit's validation), the fused groups run in inference mode (the same
         * bits as the layers one by one); a lean plan has none. */
        m->fusing = true;
        fv__model_forward_inputs(m, (const float *const *)m->xbufs, own, false);
        m->fusing = false;
        const float *ys[FV_MAX_OUTPUTS];
        double Lh[FV_MAX_OUTPUTS], terms[FV_MAX_TERMS];
        for (int j = 0; j < nh; j++) {
            const int node = fv__model_head_node(m, j);
            ys[j] = node >= 0 ? m->acts[node] : m->xbuf;
        }
        /* own samples of nb in data-parallel training: the loss is the whole batch's (parallel.c)
         */
        sum += fv__model_heads_loss(m, ys, t, own, NULL, NULL, Lh, terms) * (double)nb;
        if (m->dp_status != FV_OK) return m->dp_status;
        for (int k = 0; term_sum && k < m->nterms; k++)
            term_sum[k] += terms[k] * (double)nb;
        for (int j = 0; j < nh; j++) {
            const float *y = fv__dp_head_output(m, j, ys[j]); /* the whole batch's */
            if (nh == 1 && t[j].labels) correct += fv__model_count_correct(m, y, t[j].labels, nb);
            if (!heads) continue;
            heads[j].loss_sum += Lh[j] * (double)nb;
            if (heads[j].acc && (s = fv__metric_acc_add(heads[j].acc, y, &t[j], nb)) != FV_OK)
                return s;
            if (heads[j].rank && (s = fv__metric_acc_add(heads[j].rank, y, &t[j], nb)) != FV_OK)
                return s;
        }
    }
    /* As Keras' evaluate: the regularization losses are part of the loss. */
    *loss = count ? sum / (double)count + fv__model_penalty(m, false) : NAN;
    if (accuracy)
        *accuracy = (nh == 1 && count && d->labels && fv__model_accuracy_defined(m))
                        ? (double)correct / (double)count
                        : NAN;
    return FV_OK;
}

fv_status fv_model_evaluate(fv_model *m, const fv_dataset *data, int64_t batch_size, double *loss,
                            double *accuracy)
{
    if (!m || !data || !loss) return fv__fail(FV_ERR_INVALID, "fv_model_evaluate: NULL argument");
    if (!m->compiled)
        return fv__fail(FV_ERR_STATE, "the model is not compiled (no loss to evaluate)");
    if (batch_size <= 0) batch_size = 32;
    fv_status s = fv__model_check_data(m, data, "evaluate");
    if (s == FV_OK) s = check_targets(m, data, "evaluate");
    if (s == FV_OK) s = evaluate_range(m, data, 0, data->n, batch_size, loss, accuracy, NULL, NULL);
    return s;
}

fv_status fv_model_evaluate_outputs(fv_model *m, const fv_dataset *data, int64_t batch_size,
                                    double *loss, double *output_losses)
{
    if (!m || !data || !loss || !output_losses)
        return fv__fail(FV_ERR_INVALID, "fv_model_evaluate_outputs: NULL argument");
    if (!m->compiled)
        return fv__fail(FV_ERR_STATE, "the model is not compiled (no loss to evaluate)");
    if (batch_size <= 0) batch_size = 32;
    fv__head heads[FV_MAX_OUTPUTS];
    memset(heads, 0, sizeof heads);
    fv_status s = fv__model_check_data(m, data, "evaluate");
    if (s == FV_OK) s = check_targets(m, data, "evaluate");
    if (s == FV_OK) s = evaluate_range(m, data, 0, data->n, batch_size, loss, NULL, heads, NULL);
    for (int j = 0; s == FV_OK && j < fv__model_heads(m); j++)
        output_losses[j] = data->n ? heads[j].loss_sum / (double)data->n : NAN;
    return s;
}

int fv_model_loss_terms(const fv_model *m)
{
    return m && m->compiled ? m->nterms : 0;
}

const char *fv_model_loss_term(const fv_model *m, int k)
{
    return m && m->compiled && k >= 0 && k < m->nterms ? m->term_names[k] : NULL;
}

fv_status fv_model_evaluate_terms(fv_model *m, const fv_dataset *data, int64_t batch_size,
                                  double *loss, double *terms)
{
    if (!m || !data || !loss || (!terms && fv_model_loss_terms(m) > 0))
        return fv__fail(FV_ERR_INVALID, "fv_model_evaluate_terms: NULL argument");
    if (!m->compiled)
        return fv__fail(FV_ERR_STATE, "the model is not compiled (no loss to evaluate)");
    if (batch_size <= 0) batch_size = 32;
    double sums[FV_MAX_TERMS];
    fv_status s = fv__model_check_data(m, data, "evaluate");
    if (s == FV_OK) s = check_targets(m, data, "evaluate");
    if (s == FV_OK) s = evaluate_range(m, data, 0, data->n, batch_size, loss, NULL, NULL, sums);
    for (int k = 0; s == FV_OK && k < m->nterms; k++)
        terms[k] = data->n ? sums[k] / (double)data->n : NAN;
    return s;
}

fv_status fv_model_predict(fv_model *m, const fv_dataset *data, int64_t batch_size, float *out)
{
    if (!m || !data || !out) return fv__fail(FV_ERR_INVALID, "fv_model_predict: NULL argument");
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    if (batch_size <= 0) batch_size = 32;
    fv_status s = fv__model_check_data(m, data, "predict");
    if (s == FV_OK) s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan_inference(m, batch_size < data->n ? batch_size : data->n);
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = false;
    int64_t k = fv__model_out_size(m);
    for (int64_t b = 0; b < data->n; b += batch_size) {
        int64_t nb = data->n - b < batch_size ? data->n - b : batch_size;
        fv__model_gather_inputs(m, data, NULL, b, nb);
        m->infer_first = b;
        fv__model_forward_inputs(m, (const float *const *)m->xbufs, nb, false);
        memcpy(out + b * k, fv__model_out(m), (size_t)(nb * k) * sizeof(float));
    }
    return FV_OK;
}

/* ---- fit: columns and metrics ------------------------------------------------------------- */

static bool ranked_metric(const char *canonical)
{
    return strcmp(canonical, "auc") == 0 || strcmp(canonical, "prc") == 0 ||
           strcmp(canonical, "map") == 0;
}

static bool regression_metric(const char *canonical)
{
    return strcmp(canonical, "mse") == 0 || strcmp(canonical, "rmse") == 0 ||
           strcmp(canonical, "mae") == 0;
}

static int find_col(const fv__fit *f, const char *name)
{
    for (int c = 0; c < f->ncols; c++)
        if (strcmp(f->names[c], name) == 0) return c;
    return -1;
}

static int add_col(fv__fit *f, const char *prefix, const char *name)
{
    int c = f->ncols++;
    FV_ASSERT(c < FV__FIT_MAX_COLS);
    snprintf(f->names_buf[c], sizeof f->names_buf[c], "%s%s", prefix, name);
    f->names[c] = f->names_buf[c];
    return c;
}

/* Maps each metric of an accumulator to its training and validation columns (prefix: the
 * output's, "OUT_", with several outputs). */
static void map_cols(fv__fit *f, const fv__metric_acc *a, const char *prefix, int *col, int *vcol)
{
    for (int i = 0; a && i < fv__metric_acc_count(a); i++) {
        char t[2 * FV_MONITOR_MAX], v[2 * FV_MONITOR_MAX + 4];
        snprintf(t, sizeof t, "%s%s", prefix, fv__metric_acc_name(a, i));
        snprintf(v, sizeof v, "val_%s", t);
        col[i] = find_col(f, t);
        vcol[i] = find_col(f, v);
        FV_ASSERT(col[i] >= 0);
    }
}

/* Whether accuracy means something for head j (a classification loss, or mse/mae with more than
 * one output unit). */
static bool head_accuracy_defined(const fv_model *m, int j)
{
    const fv_loss_kind loss = fv__model_head_loss(m, j);
    if (loss == FV_LOSS_TASK) return false;
    return (loss != FV_LOSS_MSE && loss != FV_LOSS_MAE) || head_size(m, j) > 1;
}

/* The metrics of compile's metrics= for head j (named `out`): "metric" applies to every output,
 * "OUT:metric" to output OUT only. Appends the canonical names to names[*n] (prefixed) and to
 * the counted / ranked lists. */
static fv_status head_metrics(fv__fit *f, int j, const char *out, const char *prefix,
                              char names[][FV_MONITOR_MAX], int *n, char *counted, char *ranked,
                              size_t size)
{
    fv_model *m = f->m;
    fv__head *h = &f->heads[j];
    char list[sizeof m->metrics_text];
    snprintf(list, sizeof list, "%s", m->metrics_text);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        char *colon = strchr(tok, ':');
        if (colon) {
            *colon = '\0';
            if (strcmp(tok, out) != 0) continue; /* another output's */
            tok = colon + 1;
            len = strlen(tok);
        }
        if (!len) continue;
        const char *c = fv__metric_canonical(tok);
        if (!c) return fv__fail(FV_ERR_INVALID, "compile: unknown metric '%s'", tok);
        bool accuracy = strcmp(c, "accuracy") == 0;
        /* accuracy where it means nothing is left out, as before metrics= knew other names */
        if (accuracy && (h->regression || !head_accuracy_defined(m, j))) continue;
        if (h->regression && !regression_metric(c))
            return fv__fail(FV_ERR_INVALID,
                            "metric '%s' needs class labels, but the training data has float "
                            "targets%s%s (a regression): use mse, rmse or mae",
                            tok, prefix[0] ? " for output " : "", prefix[0] ? out : "");
        char *dst = ranked_metric(c) ? ranked : counted;
        size_t used = strlen(dst);
        snprintf(dst + used, size - used, "%s%s", used ? "," : "", c);
        snprintf(names[(*n)++], FV_MONITOR_MAX, "%.31s%.16s", prefix, c);
    }
    return FV_OK;
}

/* Whether head j has a column of its own (OUT_loss): with several outputs, as Keras 3; and with
 * one output beside added losses (a VAE's reconstruction_loss beside kl_loss), unless the head's
 * task loss names its parts already. */
static bool head_column(const fv_model *m, int j)
{
    if (fv__model_heads(m) > 1) return true;
    if (task_head(m, j)) return false;
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].kind->loss && m->layers[i].kind->added_loss) return true;
    return false;
}

static int cmp_colnames(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The history's columns and the metric accumulators, from compile's metrics= and the data:
 * loss, then (several outputs) each OUT_loss, each output's metrics, sorted by name as Keras 3
 * sorts its logs; then the same with val_; then the rate. */
static fv_status fit_columns(fv__fit *f)
{
    fv_model *m = f->m;
    const int nh = f->nheads;
    char(*names)[FV_MONITOR_MAX] =
        calloc((size_t)(1 + nh * (1 + FV__METRIC_MAX) + FV_MAX_TERMS), sizeof *names);
    if (!names) return fv__fail(FV_ERR_NOMEM, "out of memory making the history's columns");
    int ntrain = 0;
    snprintf(names[ntrain++], FV_MONITOR_MAX, "loss");
    int64_t capacity = f->n_train > f->val_count ? f->n_train : f->val_count;
    fv_status s = FV_OK;
    char prefixes[FV_MAX_OUTPUTS][FV_MONITOR_MAX];
    for (int j = 0; j < nh && s == FV_OK; j++) {
        const char *out = fv__model_node_name(m, fv__model_head_node(m, j));
        /* OUT_ + a metric, with val_, must fit a column name (FV_MONITOR_MAX). */
        if (nh > 1 && strlen(out) > 30) {
            s = fv__fail(FV_ERR_INVALID,
                         "output '%s': a name of more than 30 characters makes history columns "
                         "(%s_loss, val_%s_accuracy, ...) too long: rename the layer",
                         out, out, out);
            break;
        }
        snprintf(prefixes[j], sizeof prefixes[j], nh > 1 ? "%.30s_" : "", out);
        if (head_column(m, j)) snprintf(names[ntrain++], FV_MONITOR_MAX, "%.30s_loss", out);
        char counted[sizeof m->metrics_text] = "", ranked[sizeof m->metrics_text] = "";
        s = head_metrics(f, j, out, prefixes[j], names, &ntrain, counted, ranked, sizeof counted);
        fv__head *h = &f->heads[j];
        const int64_t k = head_size(m, j);
        if (s == FV_OK && counted[0] &&
            !(h->acc = fv__metric_acc_new(counted, k, h->regression, 0)))
            s = FV_ERR_NOMEM;
        if (s == FV_OK && ranked[0] &&
            !(h->rank = fv__metric_acc_new(ranked, k, false, capacity))) {
            fv__error_prefix("metrics for %lld samples an epoch: ", (long long)capacity);
            s = FV_ERR_NOMEM;
        }
    }
    for (int k = 0; k < m->nterms; k++)
        snprintf(names[ntrain++], FV_MONITOR_MAX, "%s", m->term_names[k]);
    if (s == FV_OK) {
        qsort(names, (size_t)ntrain, sizeof *names, cmp_colnames);
        for (int i = 0; i < ntrain; i++)
            add_col(f, "", names[i]);
        f->ntrain = f->ncols;
        if (f->val)
            for (int i = 0; i < ntrain; i++)
                add_col(f, "val_", names[i]);
    }
    free(names);
    if (s != FV_OK) return s;
    /* Keras 3's name; present when the rate can change during a run. */
    f->col_lr = f->o->reduce_lr_on_plateau || m->optim.schedule != FV_SCHED_NONE
                    ? add_col(f, "", "learning_rate")
                    : -1;
    f->col_loss = find_col(f, "loss");
    f->col_val_loss = find_col(f, "val_loss");
    for (int j = 0; j < nh; j++) {
        fv__head *h = &f->heads[j];
        char t[2 * FV_MONITOR_MAX], v[2 * FV_MONITOR_MAX + 4];
        snprintf(t, sizeof t, "%.30s_loss", fv__model_node_name(m, fv__model_head_node(m, j)));
        snprintf(v, sizeof v, "val_%.40s", t);
        h->col_loss = head_column(m, j) ? find_col(f, t) : -1;
        h->col_val_loss = head_column(m, j) ? find_col(f, v) : -1;
        map_cols(f, h->acc, prefixes[j], h->acc_col, h->acc_vcol);
        map_cols(f, h->rank, prefixes[j], h->rank_col, h->rank_vcol);
    }
    for (int k = 0; k < m->nterms; k++) {
        char v[2 * FV_MONITOR_MAX];
        snprintf(v, sizeof v, "val_%s", m->term_names[k]);
        f->term_col[k] = find_col(f, m->term_names[k]);
        f->term_vcol[k] = find_col(f, v);
        FV_ASSERT(f->term_col[k] >= 0);
    }
    return FV_OK;
}

/* Copies an accumulator's figures into the columns (training or validation). */
static void put_metrics(fv__fit *f, fv__metric_acc *a, const int *cols)
{
    double v[FV__METRIC_MAX];
    if (!a) return;
    fv__metric_acc_result(a, v);
    for (int i = 0; i < fv__metric_acc_count(a); i++)
        if (cols[i] >= 0) f->values[cols[i]] = v[i];
}

/* ---- fit: callbacks -------------------------------------------------------------------------- */

/* Finds a callback's monitored column; off when name is NULL. */
static fv_status setup_monitor(fv__fit *f, fv__monitor *mon, const char *name, const char *what)
{
    mon->col = -1;
    if (!name) return FV_OK;
    char canon[FV_MONITOR_MAX];
    fv_status s = fv__monitor_canonical(name, canon, sizeof canon);
    if (s != FV_OK) {
        fv__error_prefix("%s: ", what);
        return s;
    }
    mon->col = find_col(f, canon);
    if (mon->col < 0 || mon->col == f->col_lr) {
        char have[FV__FIT_MAX_COLS * FV_MONITOR_MAX];
        size_t used = 0;
        have[0] = '\0';
        for (int c = 0; c < f->ncols; c++)
            if (c != f->col_lr)
                used += (size_t)snprintf(have + used, sizeof have - used, "%s%s", used ? ", " : "",
                                         f->names[c]);
        bool val = strncmp(canon, "val_", 4) == 0;
        return fv__fail(FV_ERR_INVALID,
                        "%s monitors '%s', which this fit does not compute%s (it has: %s)", what,
                        canon, val && !f->val ? ": there is no validation data" : "", have);
    }
    mon->higher = fv__monitor_higher_is_better(canon);
    mon->best = mon->higher ? -INFINITY : INFINITY;
    return FV_OK;
}

static fv_status setup_callbacks(fv__fit *f)
{
    const fv_fit_opts *o = f->o;
    fv_status s = setup_monitor(f, &f->es, o->early_stopping, "early_stopping");
    if (s == FV_OK) s = setup_monitor(f, &f->rlr, o->reduce_lr_on_plateau, "reduce_lr_on_plateau");
    if (s == FV_OK && o->save_best)
        s = setup_monitor(f, &f->sb, o->save_best_monitor ? o->save_best_monitor : "val_loss",
                          "save_best");
    else if (s == FV_OK)
        f->sb.col = -1;
    if (s != FV_OK) return s;
    if (f->es.col >= 0) {
        if (o->patience < 0)
            return fv__fail(FV_ERR_INVALID, "early_stopping: patience=%lld must not be negative",
                            (long long)o->patience);
        if (!(o->min_delta >= 0))
            return fv__fail(FV_ERR_INVALID, "early_stopping: min_delta=%g must be a number >= 0",
                            o->min_delta);
    }
    if (f->rlr.col >= 0 && f->m->optim.schedule != FV_SCHED_NONE)
        return fv__fail(FV_ERR_INVALID,
                        "reduce_lr_on_plateau cannot change the rate of a learning-rate schedule "
                        "(compile's schedule=): use one or the other, as Keras requires");
    if (f->rlr.col >= 0) {
        if (!(o->lr_factor > 0 && o->lr_factor < 1))
            return fv__fail(FV_ERR_INVALID,
                            "reduce_lr_on_plateau: lr_factor=%g must be above 0 and below 1",
                            o->lr_factor);
        if (o->lr_patience < 0 || o->lr_cooldown < 0)
            return fv__fail(
                FV_ERR_INVALID,
                "reduce_lr_on_plateau: lr_patience and lr_cooldown must not be negative");
        if (!(o->lr_min_delta >= 0) || !(o->min_lr >= 0))
            return fv__fail(FV_ERR_INVALID,
                            "reduce_lr_on_plateau: lr_min_delta and min_lr must be numbers >= 0");
    }
    f->es_best_epoch = -1;
    f->es_stopped_epoch = -1;
    if (f->es.col >= 0 && o->restore_best_weights) {
        size_t bytes = (size_t)f->m->nweights * sizeof(float);
        f->es_best_weights = fv__alloc(bytes ? bytes : 1, "early stopping's best weights");
        if (!f->es_best_weights) return FV_ERR_NOMEM;
    }
    return FV_OK;
}

/* ModelCheckpoint(save_best_only=True): saves when the value is strictly better (np.less or
 * np.greater against the best so far; NaN never is). */
static fv_status save_best_epoch_end(fv__fit *f, int64_t epoch)
{
    if (f->sb.col < 0) return FV_OK;
    double cur = f->values[f->sb.col];
    if (!(f->sb.higher ? cur > f->sb.best : cur < f->sb.best)) return FV_OK;
    f->sb.best = cur;
    fv_status s = fv_model_save(f->m, f->o->save_best);
    if (s != FV_OK) {
        fv__error_prefix("save_best after epoch %lld: ", (long long)epoch + 1);
        return s;
    }
    f->m->last_fit.save_best_epoch = epoch;
    return FV_OK;
}

/* ReduceLROnPlateau.on_epoch_end, as Keras 3 writes it. */
static void reduce_lr_epoch_end(fv__fit *f, int64_t epoch)
{
    if (f->rlr.col < 0) return;
    const fv_fit_opts *o = f->o;
    double cur = f->values[f->rlr.col];
    if (f->rlr_cooldown > 0) {
        f->rlr_cooldown--;
        f->rlr_wait = 0;
    }
    bool better =
        f->rlr.higher ? cur > f->rlr.best + o->lr_min_delta : cur < f->rlr.best - o->lr_min_delta;
    if (better) {
        f->rlr.best = cur;
        f->rlr_wait = 0;
    } else if (f->rlr_cooldown <= 0) {
        f->rlr_wait++;
        if (f->rlr_wait >= o->lr_patience) {
            double old = f->m->optim.learning_rate;
            if (old > o->min_lr) {
                double lr = old * o->lr_factor;
                f->m->optim.learning_rate = lr > o->min_lr ? lr : o->min_lr;
                f->m->last_fit.lr_reduced_epoch = epoch;
                f->rlr_cooldown = o->lr_cooldown;
                f->rlr_wait = 0;
            }
        }
    }
}

/* EarlyStopping.on_epoch_end, as Keras 3 writes it. Returns true to stop. */
static bool early_stopping_epoch_end(fv__fit *f, int64_t epoch)
{
    if (f->es.col < 0) return false;
    fv_model *m = f->m;
    const fv_fit_opts *o = f->o;
    size_t bytes = (size_t)m->nweights * sizeof(float);
    double cur = f->values[f->es.col];
    if (f->es_best_weights && !f->es_have_best) {
        /* if no epoch improves, the first one counts as the best */
        memcpy(f->es_best_weights, m->weights, bytes);
        f->es_have_best = true;
        f->es_best_epoch = epoch;
    }
    f->es_wait++;
    bool better = f->es.higher ? cur - o->min_delta > f->es.best : cur + o->min_delta < f->es.best;
    if (better) {
        f->es.best = cur;
        f->es_best_epoch = epoch;
        if (f->es_best_weights) memcpy(f->es_best_weights, m->weights, bytes);
        f->es_wait = 0;
        return false;
    }
    if (f->es_wait >= o->patience && epoch > 0) {
        f->es_stopped_epoch = epoch;
        if (f->es_best_weights && f->es_have_best) {
            memcpy(m->weights, f->es_best_weights, bytes);
            f->es_restored = true;
        }
        return true;
    }
    return false;
}

/* ---- fit: the loop --------------------------------------------------------------------------- */

/* The order of the training samples in an epoch: a function of (seed, epoch) alone, so that a
 * resumed run sees the same batches as one that never stopped. */
void fv__epoch_order(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch, bool shuffle)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    if (!shuffle) return;
    fv_rng base, r;
    fv__rng_seed(&base, seed ^ 0x5417f1e5ULL);
    fv__rng_split(&base, (uint64_t)epoch, &r);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)fv__rng_below(&r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static bool all_finite(const float *w, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(w[i])) return false;
    return true;
}

static void update_info(fv__fit *f)
{
    fv_fit_info *i = &f->m->last_fit;
    i->epochs_done = f->epochs_done;
    i->stopped_epoch = f->es_stopped_epoch;
    i->best_epoch = f->es_best_epoch;
    i->restored_best_weights = f->es_restored;
    i->learning_rate = fv__optim_lr_at(&f->m->optim, f->m->optim.iterations);
}

/* Resets every head's accumulators. */
static void reset_heads(fv__fit *f)
{
    for (int j = 0; j < f->nheads; j++) {
        if (f->heads[j].acc) fv__metric_acc_reset(f->heads[j].acc);
        if (f->heads[j].rank) fv__metric_acc_reset(f->heads[j].rank);
    }
}

/* One epoch: steps over the shuffled training samples, then the epoch-end figures. */
static fv_status train_epoch(fv__fit *f, int64_t epoch, int64_t *perm, double *t0)
{
    fv_model *m = f->m;
    const fv_fit_opts *o = f->o;
    const int nh = f->nheads;
    int64_t steps = (f->n_train + f->batch - 1) / f->batch, seen = 0, rank_due = 1;
    double loss_sum = 0;
    fv_status s = FV_OK;
    fv__epoch_order(perm, f->n_train, o->seed, epoch, o->shuffle);
    reset_heads(f);
    for (int j = 0; j < nh; j++)
        f->heads[j].loss_sum = 0;
    for (int k = 0; k < m->nterms; k++)
        f->term_sum[k] = 0;
    *t0 = now_seconds();
    for (int64_t step = 0; step < steps; step++) {
        int64_t first = step * f->batch,
                nb = f->n_train - first < f->batch ? f->n_train - first : f->batch;
        fv_targets t[FV_MAX_OUTPUTS];
        double L, Lh[FV_MAX_OUTPUTS];
        const int64_t own = load_batch(m, f->train, perm + first, 0, nb, t);
        s = fv__model_train_step_heads(m, (const float *const *)m->xbufs, t, own, &L, Lh);
        for (int j = 0; s == FV_OK && j < nh; j++) {
            fv__head *h = &f->heads[j];
            const float *y = fv__dp_head_output(m, j, m->acts[fv__model_head_node(m, j)]);
            if (h->acc) s = fv__metric_acc_add(h->acc, y, &t[j], nb);
            if (s == FV_OK && h->rank) s = fv__metric_acc_add(h->rank, y, &t[j], nb);
            h->loss_sum += Lh[j] * (double)nb;
        }
        for (int k = 0; s == FV_OK && k < m->nterms; k++)
            f->term_sum[k] += m->term_value[k] * (double)nb;
        if (s != FV_OK) {
            fv__error_prefix("epoch %lld, step %lld: ", (long long)epoch + 1, (long long)step + 1);
            return s;
        }
        loss_sum += L * (double)nb;
        seen += nb;
        if (!o->on_batch) continue;
        f->values[f->col_loss] = loss_sum / (double)seen;
        for (int j = 0; j < nh; j++) {
            fv__head *h = &f->heads[j];
            if (h->col_loss >= 0) f->values[h->col_loss] = h->loss_sum / (double)seen;
            put_metrics(f, h->acc, h->acc_col);
            /* sorting every score each step would cost O(n log n) a step: refresh when doubled */
            if (h->rank && (seen >= rank_due || step == steps - 1))
                put_metrics(f, h->rank, h->rank_col);
        }
        for (int k = 0; k < m->nterms; k++)
            f->values[f->term_col[k]] = f->term_sum[k] / (double)seen;
        if (seen >= rank_due) rank_due = 2 * seen;
        fv_logs logs = {.epoch = epoch,
                        .epochs = o->epochs,
                        .step = step + 1,
                        .steps = steps,
                        .seconds = now_seconds() - *t0,
                        .count = f->ntrain,
                        .names = f->names,
                        .values = f->values};
        if (!o->on_batch(o->user, &logs))
            return fv__fail(FV_ERR_INTERRUPTED, "training stopped by a callback in epoch %lld",
                            (long long)epoch + 1);
    }
    f->values[f->col_loss] = loss_sum / (double)seen;
    for (int j = 0; j < nh; j++) {
        fv__head *h = &f->heads[j];
        if (h->col_loss >= 0) f->values[h->col_loss] = h->loss_sum / (double)seen;
        put_metrics(f, h->acc, h->acc_col);
        put_metrics(f, h->rank, h->rank_col);
    }
    for (int k = 0; k < m->nterms; k++)
        f->values[f->term_col[k]] = f->term_sum[k] / (double)seen;
    if (!all_finite(m->weights, m->nweights))
        return fv__fail(FV_ERR_NUMERIC,
                        "epoch %lld, step %lld: the weights are no longer finite after the update",
                        (long long)epoch + 1, (long long)steps);
    if (f->val) {
        double vl;
        reset_heads(f);
        double vterm[FV_MAX_TERMS];
        s = evaluate_range(m, f->val, f->val_first, f->val_count, f->batch, &vl, NULL, f->heads,
                           vterm);
        if (s == FV_OK && !isfinite(vl))
            s = fv__fail(FV_ERR_NUMERIC, "the validation loss is %s",
                         isnan(vl) ? "NaN" : "infinite");
        if (s != FV_OK) {
            fv__error_prefix("epoch %lld, validation: ", (long long)epoch + 1);
            return s;
        }
        f->values[f->col_val_loss] = vl;
        for (int j = 0; j < nh; j++) {
            fv__head *h = &f->heads[j];
            if (h->col_val_loss >= 0)
                f->values[h->col_val_loss] = h->loss_sum / (double)f->val_count;
            put_metrics(f, h->acc, h->acc_vcol);
            put_metrics(f, h->rank, h->rank_vcol);
        }
        for (int k = 0; k < m->nterms; k++)
            if (f->term_vcol[k] >= 0) f->values[f->term_vcol[k]] = vterm[k] / (double)f->val_count;
    }
    /* The rate of the epoch's last step. */
    if (f->col_lr >= 0)
        f->values[f->col_lr] =
            fv__optim_lr_at(&m->optim, m->optim.iterations > 0 ? m->optim.iterations - 1 : 0);
    return FV_OK;
}

static fv_status fit_loop(fv__fit *f, int64_t *perm)
{
    fv_model *m = f->m;
    const fv_fit_opts *o = f->o;
    int64_t steps = (f->n_train + f->batch - 1) / f->batch;
    fv_status s = FV_OK;
    for (int64_t epoch = f->epochs_done; epoch < o->epochs && f->es_stopped_epoch < 0; epoch++) {
        double t0;
        if ((s = train_epoch(f, epoch, perm, &t0)) != FV_OK) return s;
        if ((s = fv__history_append(f->h, f->values)) != FV_OK) return s;
        /* Keras calls the callbacks in the order given; here: save the best model (the epoch's
         * own weights), then the learning rate, then early stopping (which may restore). */
        if ((s = save_best_epoch_end(f, epoch)) != FV_OK) return s;
        reduce_lr_epoch_end(f, epoch);
        early_stopping_epoch_end(f, epoch);
        f->epochs_done = epoch + 1;
        update_info(f);
        if (o->checkpoint_dir) {
            if ((s = fv__checkpoint_write(f, o->checkpoint_dir)) != FV_OK) {
                fv__error_prefix("checkpoint after epoch %lld: ", (long long)epoch + 1);
                return s;
            }
            m->last_fit.checkpoint_epochs = f->epochs_done;
        }
        if (o->on_epoch) {
            fv_logs logs = {.epoch = epoch,
                            .epochs = o->epochs,
                            .step = steps,
                            .steps = steps,
                            .seconds = now_seconds() - t0,
                            .count = f->ncols,
                            .names = f->names,
                            .values = f->values};
            if (!o->on_epoch(o->user, &logs))
                return fv__fail(FV_ERR_INTERRUPTED,
                                "training stopped by a callback after epoch %lld",
                                (long long)epoch + 1);
        }
    }
    return FV_OK;
}

/* Checks the options and the data, and finds the training and validation ranges. */
static fv_status fit_setup(fv__fit *f, const fv_dataset *train)
{
    fv_model *m = f->m;
    const fv_fit_opts *opts = f->o;
    if (!m->compiled)
        return fv__fail(FV_ERR_STATE, "the model is not compiled: add a compile line (e.g. compile "
                                      "loss=categorical_crossentropy optimizer=adam)");
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    if (opts->batch_size < 1)
        return fv__fail(FV_ERR_INVALID, "batch_size=%lld: must be at least 1",
                        (long long)opts->batch_size);
    if (opts->epochs < 0)
        return fv__fail(FV_ERR_INVALID, "epochs=%lld: must not be negative",
                        (long long)opts->epochs);
    if (!(opts->validation_split >= 0 && opts->validation_split < 1))
        return fv__fail(FV_ERR_INVALID, "validation_split=%g: must be in [0, 1)",
                        opts->validation_split);
    if (opts->resume && !opts->checkpoint_dir)
        return fv__fail(FV_ERR_INVALID, "resume needs a checkpoint folder (checkpoint_dir)");
    if (opts->save_best && !opts->save_best[0])
        return fv__fail(FV_ERR_INVALID, "save_best: empty path");

    fv_status s = fv__model_check_data(m, train, "training data");
    if (s == FV_OK) s = check_targets(m, train, "training data");
    if (s != FV_OK) return s;
    f->train = train;
    f->n_train = train->n;
    f->nheads = fv__model_heads(m);
    for (int j = 0; j < f->nheads; j++)
        f->heads[j].regression = regression_head(m, train, j);
    /* Keras' validation_split: the last fraction of the samples, taken before shuffling. */
    if (opts->validation_split > 0) {
        f->n_train = (int64_t)((double)train->n * (1.0 - opts->validation_split));
        f->val = train;
        f->val_first = f->n_train;
        f->val_count = train->n - f->n_train;
        if (f->n_train < 1 || f->val_count < 1)
            return fv__fail(
                FV_ERR_INVALID,
                "validation_split=%g leaves %lld training and %lld validation samples out of %lld",
                opts->validation_split, (long long)f->n_train, (long long)f->val_count,
                (long long)train->n);
    } else if (opts->validation_data) {
        f->val = opts->validation_data;
        f->val_count = f->val->n;
        s = fv__model_check_data(m, f->val, "validation data");
        if (s == FV_OK) s = check_targets(m, f->val, "validation data");
        if (s != FV_OK) return s;
        if (f->val_count < 1) return fv__fail(FV_ERR_INVALID, "validation data: no samples");
        for (int j = 0; j < f->nheads; j++)
            if (regression_head(m, f->val, j) != f->heads[j].regression)
                return fv__fail(
                    FV_ERR_INVALID, "validation data has %s but the training data has %s%s%s",
                    f->heads[j].regression ? "class labels" : "float targets",
                    f->heads[j].regression ? "float targets" : "class labels",
                    f->nheads > 1 ? " for output " : "",
                    f->nheads > 1 ? fv__model_node_name(m, fv__model_head_node(m, j)) : "");
    }
    if (f->n_train < 1) return fv__fail(FV_ERR_INVALID, "training data: no samples");
    f->batch = opts->batch_size < f->n_train ? opts->batch_size : f->n_train;
    return FV_OK;
}

fv_status fv_model_fit(fv_model *m, const fv_dataset *train, const fv_fit_opts *opts,
                       fv_history **history)
{
    if (history) *history = NULL;
    if (!m || !train || !opts) return fv__fail(FV_ERR_INVALID, "fv_model_fit: NULL argument");
    m->last_fit = (fv_fit_info){.stopped_epoch = -1,
                                .best_epoch = -1,
                                .lr_reduced_epoch = -1,
                                .save_best_epoch = -1,
                                .learning_rate = fv__optim_lr_at(&m->optim, m->optim.iterations)};
    if (m->fit_gan[0]) return fv__gan_fit(m, train, opts, history); /* gan.c */
    fv__fit f = {.m = m, .o = opts, .col_loss = -1, .col_val_loss = -1, .col_lr = -1};
    f.es.col = f.rlr.col = f.sb.col = -1;
    int64_t *perm = NULL;
    int lock = -1;
    fv_status s = fit_setup(&f, train);
    if (s != FV_OK) return s;

    m->seed = opts->seed;
    s = fv__model_ensure_weights(m, opts->seed);
    if (s == FV_OK) s = fv__model_augment_check(m);
    if (s == FV_OK) s = fv__model_adapt(m, train);
    if (s == FV_OK) s = fv__model_ensure_opt_state(m);
    if (s == FV_OK) s = fv__model_plan(m, fv__dp_plan_n(opts->collective, f.batch));
    if (s == FV_OK) s = fit_columns(&f);
    if (s == FV_OK) s = setup_callbacks(&f);
    if (s != FV_OK) goto done;
    f.h = fv__history_new(f.ncols, f.names);
    perm = malloc((size_t)f.n_train * sizeof *perm);
    if (!f.h || !perm) {
        s = fv__fail(FV_ERR_NOMEM, "out of memory starting training");
        goto done;
    }
    if (opts->checkpoint_dir) {
        s = fv__checkpoint_lock(opts->checkpoint_dir, &lock);
        if (s == FV_OK) s = fv__checkpoint_describe_run(&f);
        if (s == FV_OK && opts->resume) {
            bool found;
            s = fv__checkpoint_restore(&f, opts->checkpoint_dir, &found);
            if (s == FV_OK && found) {
                m->last_fit.initial_epoch = f.epochs_done;
                m->last_fit.checkpoint_epochs = f.epochs_done;
                update_info(&f);
            }
        }
        if (s != FV_OK) goto done;
    }
    if (opts->collective) {
        if (!f.run) s = fv__checkpoint_describe_run(&f);
        if (s == FV_OK) s = fv__dp_begin(&f);
        if (s != FV_OK) goto done;
    }
    s = fit_loop(&f, perm);
done:
    fv__dp_end(m, s == FV_OK ? f.batch : 0);
    if (lock >= 0) fv__checkpoint_unlock(lock);
    free(perm);
    free(f.run);
    fv__free(f.es_best_weights);
    for (int j = 0; j < f.nheads; j++) {
        fv__metric_acc_free(f.heads[j].acc);
        fv__metric_acc_free(f.heads[j].rank);
    }
    if (history)
        *history = f.h;
    else
        fv_history_free(f.h);
    return s;
}

fv_fit_info fv_model_last_fit(const fv_model *m)
{
    return m->last_fit;
}
