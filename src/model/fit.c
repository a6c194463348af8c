/* fit.c — the training loop (Keras' fit: shuffled batches, running figures, validation at the
 * end of each epoch, a history row per epoch), its callbacks (early stopping, reducing the
 * learning rate on a plateau, saving the best model, checkpoints), evaluate and predict.
 * Nothing is allocated per batch: the plan and the metric accumulators are sized before the
 * first step.
 */
#include "model/fit.h"
#include "io/dataset.h"

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

/* Checks labels or targets against the model's output and loss before any work is done. */
static fv_status check_targets(const fv_model *m, const fv_dataset *d, const char *what)
{
    int64_t k = fv__model_out_size(m);
    bool classes = m->loss == FV_LOSS_CATEGORICAL_CE || m->loss == FV_LOSS_SPARSE_CATEGORICAL_CE ||
                   m->loss == FV_LOSS_BINARY_CE;
    if (classes || !d->targets) {
        if (!d->labels) return fv__fail(FV_ERR_INVALID, "%s: the data has no labels", what);
        int64_t limit = fv__loss_label_limit(m->loss, k);
        for (int64_t i = 0; i < d->n; i++)
            if (d->labels[i] < 0 || d->labels[i] >= limit)
                return fv__fail(FV_ERR_SHAPE,
                                "%s: sample %lld has label %d, but the model's %lld output unit%s "
                                "can only represent classes 0..%lld",
                                what, (long long)i, d->labels[i], (long long)k, k == 1 ? "" : "s",
                                (long long)limit - 1);
        return FV_OK;
    }
    if (d->tdim != k)
        return fv__fail(FV_ERR_SHAPE,
                        "%s: targets have %lld values per sample but the model outputs %lld", what,
                        (long long)d->tdim, (long long)k);
    return FV_OK;
}

/* Whether a batch of d gives float targets (a regression) rather than class labels. */
static bool regression_data(const fv_model *m, const fv_dataset *d)
{
    return (m->loss == FV_LOSS_MSE || m->loss == FV_LOSS_MAE) && d->targets &&
           d->tdim == fv__model_out_size(m) && !(d->labels && fv__model_out_size(m) > 1);
}

/* Gathers a batch into the model's buffers and returns its targets. */
static fv_targets load_batch(fv_model *m, const fv_dataset *d, const int64_t *idx, int64_t first,
                             int64_t count)
{
    bool regression = regression_data(m, d);
    fv__dataset_gather(d, idx, first, count, m->xbuf, d->labels ? m->lbuf : NULL,
                       regression ? m->tbuf : NULL);
    fv_targets t = {.labels = regression ? NULL : m->lbuf, .values = regression ? m->tbuf : NULL};
    return t;
}

/* Loss and correct count over samples [first, first + count) of d, inference mode; the outputs
 * are also added to the accumulators a and r when given. */
static fv_status evaluate_range(fv_model *m, const fv_dataset *d, int64_t first, int64_t count,
                                int64_t batch, double *loss, double *accuracy, fv__metric_acc *a,
                                fv__metric_acc *r)
{
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan_inference(m, batch < count ? batch : count);
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = false;
    int64_t k = fv__model_out_size(m), correct = 0;
    double sum = 0;
    for (int64_t b = 0; b < count; b += batch) {
        int64_t nb = count - b < batch ? count - b : batch;
        fv_targets t = load_batch(m, d, NULL, first + b, nb);
        fv__model_forward(m, m->xbuf, nb, false);
        const float *y = fv__model_out(m);
        sum += fv__loss(m->loss, y, &t, nb, k, false, NULL) * (double)nb;
        if (t.labels) correct += fv__model_count_correct(m, y, t.labels, nb);
        if (a && (s = fv__metric_acc_add(a, y, &t, nb)) != FV_OK) return s;
        if (r && (s = fv__metric_acc_add(r, y, &t, nb)) != FV_OK) return s;
    }
    /* As Keras' evaluate: the regularization losses are part of the loss. */
    *loss = count ? sum / (double)count + fv__model_penalty(m, false) : NAN;
    if (accuracy)
        *accuracy = (count && d->labels && fv__model_accuracy_defined(m))
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
        fv__dataset_gather(data, NULL, b, nb, m->xbuf, NULL, NULL);
        fv__model_forward(m, m->xbuf, nb, false);
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

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
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

/* Maps each metric of an accumulator to its training and validation columns. */
static void map_cols(fv__fit *f, const fv__metric_acc *a, int *col, int *vcol)
{
    for (int i = 0; a && i < fv__metric_acc_count(a); i++) {
        char v[FV_MONITOR_MAX];
        col[i] = find_col(f, fv__metric_acc_name(a, i));
        snprintf(v, sizeof v, "val_%s", fv__metric_acc_name(a, i));
        vcol[i] = find_col(f, v);
        FV_ASSERT(col[i] >= 0);
    }
}

/* The history's columns and the metric accumulators, from compile's metrics= and the data. */
static fv_status fit_columns(fv__fit *f)
{
    fv_model *m = f->m;
    char list[sizeof m->metrics_text], counted[sizeof m->metrics_text] = "",
                                                      ranked[sizeof m->metrics_text] = "";
    const char *train_names[1 + FV__METRIC_MAX];
    int ntrain = 0;
    train_names[ntrain++] = "loss";
    snprintf(list, sizeof list, "%s", m->metrics_text);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (!len) continue;
        const char *c = fv__metric_canonical(tok);
        if (!c) return fv__fail(FV_ERR_INVALID, "compile: unknown metric '%s'", tok);
        bool accuracy = strcmp(c, "accuracy") == 0;
        /* accuracy where it means nothing is left out, as before metrics= knew other names */
        if (accuracy && (f->regression || !fv__model_accuracy_defined(m))) continue;
        if (f->regression && !regression_metric(c))
            return fv__fail(FV_ERR_INVALID,
                            "metric '%s' needs class labels, but the training data has float "
                            "targets (a regression): use mse, rmse or mae",
                            tok);
        char *dst = ranked_metric(c) ? ranked : counted;
        size_t used = strlen(dst);
        snprintf(dst + used, sizeof list - used, "%s%s", used ? "," : "", c);
        train_names[ntrain++] = c;
    }
    int64_t k = fv__model_out_size(m);
    int64_t capacity = f->n_train > f->val_count ? f->n_train : f->val_count;
    if (counted[0] && !(f->acc = fv__metric_acc_new(counted, k, f->regression, 0)))
        return FV_ERR_NOMEM;
    if (ranked[0] && !(f->rank = fv__metric_acc_new(ranked, k, false, capacity))) {
        fv__error_prefix("metrics for %lld samples an epoch: ", (long long)capacity);
        return FV_ERR_NOMEM;
    }
    qsort(train_names, (size_t)ntrain, sizeof *train_names, cmp_names);
    for (int i = 0; i < ntrain; i++)
        add_col(f, "", train_names[i]);
    f->ntrain = f->ncols;
    if (f->val)
        for (int i = 0; i < ntrain; i++)
            add_col(f, "val_", train_names[i]);
    /* Keras 3's name; present when the rate can change during a run. */
    f->col_lr = f->o->reduce_lr_on_plateau || m->optim.schedule != FV_SCHED_NONE
                    ? add_col(f, "", "learning_rate")
                    : -1;
    f->col_loss = find_col(f, "loss");
    f->col_val_loss = find_col(f, "val_loss");
    map_cols(f, f->acc, f->acc_col, f->acc_vcol);
    map_cols(f, f->rank, f->rank_col, f->rank_vcol);
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
static void epoch_order(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch, bool shuffle)
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

/* One epoch: steps over the shuffled training samples, then the epoch-end figures. */
static fv_status train_epoch(fv__fit *f, int64_t epoch, int64_t *perm, double *t0)
{
    fv_model *m = f->m;
    const fv_fit_opts *o = f->o;
    int64_t steps = (f->n_train + f->batch - 1) / f->batch, seen = 0, rank_due = 1;
    double loss_sum = 0;
    fv_status s = FV_OK;
    epoch_order(perm, f->n_train, o->seed, epoch, o->shuffle);
    if (f->acc) fv__metric_acc_reset(f->acc);
    if (f->rank) fv__metric_acc_reset(f->rank);
    *t0 = now_seconds();
    for (int64_t step = 0; step < steps; step++) {
        int64_t first = step * f->batch,
                nb = f->n_train - first < f->batch ? f->n_train - first : f->batch;
        fv_targets t = load_batch(m, f->train, perm + first, 0, nb);
        double L;
        s = fv__model_train_step(m, m->xbuf, &t, nb, &L);
        const float *y = fv__model_out(m);
        if (s == FV_OK && f->acc) s = fv__metric_acc_add(f->acc, y, &t, nb);
        if (s == FV_OK && f->rank) s = fv__metric_acc_add(f->rank, y, &t, nb);
        if (s != FV_OK) {
            fv__error_prefix("epoch %lld, step %lld: ", (long long)epoch + 1, (long long)step + 1);
            return s;
        }
        loss_sum += L * (double)nb;
        seen += nb;
        if (!o->on_batch) continue;
        f->values[f->col_loss] = loss_sum / (double)seen;
        put_metrics(f, f->acc, f->acc_col);
        /* sorting every score each step would cost O(n log n) a step: refresh when doubled */
        if (f->rank && (seen >= rank_due || step == steps - 1)) {
            put_metrics(f, f->rank, f->rank_col);
            rank_due = 2 * seen;
        }
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
    put_metrics(f, f->acc, f->acc_col);
    put_metrics(f, f->rank, f->rank_col);
    if (!all_finite(m->weights, m->nweights))
        return fv__fail(FV_ERR_NUMERIC,
                        "epoch %lld, step %lld: the weights are no longer finite after the update",
                        (long long)epoch + 1, (long long)steps);
    if (f->val) {
        double vl;
        if (f->acc) fv__metric_acc_reset(f->acc);
        if (f->rank) fv__metric_acc_reset(f->rank);
        s = evaluate_range(m, f->val, f->val_first, f->val_count, f->batch, &vl, NULL, f->acc,
                           f->rank);
        if (s == FV_OK && !isfinite(vl))
            s = fv__fail(FV_ERR_NUMERIC, "the validation loss is %s",
                         isnan(vl) ? "NaN" : "infinite");
        if (s != FV_OK) {
            fv__error_prefix("epoch %lld, validation: ", (long long)epoch + 1);
            return s;
        }
        f->values[f->col_val_loss] = vl;
        put_metrics(f, f->acc, f->acc_vcol);
        put_metrics(f, f->rank, f->rank_vcol);
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
    f->regression = regression_data(m, train);
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
        if (regression_data(m, f->val) != f->regression)
            return fv__fail(FV_ERR_INVALID, "validation data has %s but the training data has %s",
                            f->regression ? "class labels" : "float targets",
                            f->regression ? "float targets" : "class labels");
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
    fv__fit f = {.m = m, .o = opts, .col_loss = -1, .col_val_loss = -1, .col_lr = -1};
    f.es.col = f.rlr.col = f.sb.col = -1;
    int64_t *perm = NULL;
    int lock = -1;
    fv_status s = fit_setup(&f, train);
    if (s != FV_OK) return s;

    m->seed = opts->seed;
    s = fv__model_ensure_weights(m, opts->seed);
    if (s == FV_OK) s = fv__model_ensure_opt_state(m);
    if (s == FV_OK) s = fv__model_plan(m, f.batch);
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
    s = fit_loop(&f, perm);
done:
    if (lock >= 0) fv__checkpoint_unlock(lock);
    free(perm);
    free(f.run);
    fv__free(f.es_best_weights);
    fv__metric_acc_free(f.acc);
    fv__metric_acc_free(f.rank);
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
