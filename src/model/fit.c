/* fit.c — the training loop (Keras' fit: shuffled batches, running averages, validation at the
 * end of each epoch, a history row per epoch), evaluate and predict. Nothing is allocated per
 * batch: the plan sizes every buffer before the first step.
 */
#include "model/model_impl.h"
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
                return fv__fail(FV_ERR_SHAPE, "%s: sample %lld has label %d, but the model's %lld output unit%s can only represent classes 0..%lld",
                                what, (long long)i, d->labels[i], (long long)k, k == 1 ? "" : "s", (long long)limit - 1);
        return FV_OK;
    }
    if (d->tdim != k)
        return fv__fail(FV_ERR_SHAPE, "%s: targets have %lld values per sample but the model outputs %lld", what, (long long)d->tdim, (long long)k);
    return FV_OK;
}

/* Gathers a batch into the model's buffers and returns its targets. */
static fv_targets load_batch(fv_model *m, const fv_dataset *d, const int64_t *idx, int64_t first, int64_t count)
{
    bool regression = (m->loss == FV_LOSS_MSE || m->loss == FV_LOSS_MAE) && d->targets &&
                      d->tdim == fv__model_out_size(m) && !(d->labels && fv__model_out_size(m) > 1);
    fv__dataset_gather(d, idx, first, count, m->xbuf, d->labels ? m->lbuf : NULL, regression ? m->tbuf : NULL);
    fv_targets t = {.labels = regression ? NULL : m->lbuf, .values = regression ? m->tbuf : NULL};
    return t;
}

/* Loss and correct count over samples [first, first + count) of d, inference mode. */
static fv_status evaluate_range(fv_model *m, const fv_dataset *d, int64_t first, int64_t count,
                                int64_t batch, double *loss, double *accuracy)
{
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan(m, batch < count ? batch : count);
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++) m->layers[i].fused_act = false;
    int64_t k = fv__model_out_size(m), correct = 0;
    double sum = 0;
    for (int64_t b = 0; b < count; b += batch) {
        int64_t nb = count - b < batch ? count - b : batch;
        fv_targets t = load_batch(m, d, NULL, first + b, nb);
        fv__model_forward(m, m->xbuf, nb, false);
        const float *y = m->acts[m->nlayers - 1];
        sum += fv__loss(m->loss, y, &t, nb, k, false, NULL) * (double)nb;
        if (t.labels) correct += fv__model_count_correct(m, y, t.labels, nb);
    }
    *loss = count ? sum / (double)count : NAN;
    if (accuracy) *accuracy = (count && d->labels && fv__model_accuracy_defined(m)) ? (double)correct / (double)count : NAN;
    return FV_OK;
}

fv_status fv_model_evaluate(fv_model *m, const fv_dataset *data, int64_t batch_size, double *loss,
                            double *accuracy)
{
    if (!m || !data || !loss) return fv__fail(FV_ERR_INVALID, "fv_model_evaluate: NULL argument");
    if (!m->compiled) return fv__fail(FV_ERR_STATE, "the model is not compiled (no loss to evaluate)");
    if (batch_size <= 0) batch_size = 32;
    fv_status s = fv__model_check_data(m, data, "evaluate");
    if (s == FV_OK) s = check_targets(m, data, "evaluate");
    if (s == FV_OK) s = evaluate_range(m, data, 0, data->n, batch_size, loss, accuracy);
    return s;
}

fv_status fv_model_predict(fv_model *m, const fv_dataset *data, int64_t batch_size, float *out)
{
    if (!m || !data || !out) return fv__fail(FV_ERR_INVALID, "fv_model_predict: NULL argument");
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    if (batch_size <= 0) batch_size = 32;
    fv_status s = fv__model_check_data(m, data, "predict");
    if (s == FV_OK) s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = fv__model_plan(m, batch_size < data->n ? batch_size : data->n);
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++) m->layers[i].fused_act = false;
    int64_t k = fv__model_out_size(m);
    for (int64_t b = 0; b < data->n; b += batch_size) {
        int64_t nb = data->n - b < batch_size ? data->n - b : batch_size;
        fv__dataset_gather(data, NULL, b, nb, m->xbuf, NULL, NULL);
        fv__model_forward(m, m->xbuf, nb, false);
        memcpy(out + b * k, m->acts[m->nlayers - 1], (size_t)(nb * k) * sizeof(float));
    }
    return FV_OK;
}

/* ---- fit ------------------------------------------------------------------------------------ */

enum { COL_ACC, COL_LOSS, COL_VAL_ACC, COL_VAL_LOSS, NCOLS };
static const char *const col_names[NCOLS] = {"accuracy", "loss", "val_accuracy", "val_loss"};

typedef struct fit_state {
    const char *names[NCOLS];
    double values[NCOLS];
    int count;
    int col_of[NCOLS]; /* position in names/values, -1 if not reported */
} fit_state;

static void set_col(fit_state *st, int col, double v)
{
    if (st->col_of[col] >= 0) st->values[st->col_of[col]] = v;
}

fv_status fv_model_fit(fv_model *m, const fv_dataset *train, const fv_fit_opts *opts,
                       fv_history **history)
{
    if (history) *history = NULL;
    if (!m || !train || !opts) return fv__fail(FV_ERR_INVALID, "fv_model_fit: NULL argument");
    if (!m->compiled) return fv__fail(FV_ERR_STATE, "the model is not compiled: add a compile line (e.g. compile loss=categorical_crossentropy optimizer=adam)");
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    if (opts->batch_size < 1) return fv__fail(FV_ERR_INVALID, "batch_size=%lld: must be at least 1", (long long)opts->batch_size);
    if (opts->epochs < 0) return fv__fail(FV_ERR_INVALID, "epochs=%lld: must not be negative", (long long)opts->epochs);
    if (!(opts->validation_split >= 0 && opts->validation_split < 1))
        return fv__fail(FV_ERR_INVALID, "validation_split=%g: must be in [0, 1)", opts->validation_split);

    fv_status s = fv__model_check_data(m, train, "training data");
    if (s == FV_OK) s = check_targets(m, train, "training data");
    if (s != FV_OK) return s;

    /* Keras' validation_split: the last fraction of the samples, taken before shuffling. */
    const fv_dataset *val = NULL;
    int64_t n_train = train->n, val_first = 0, val_count = 0;
    if (opts->validation_split > 0) {
        n_train = (int64_t)((double)train->n * (1.0 - opts->validation_split));
        val = train;
        val_first = n_train;
        val_count = train->n - n_train;
        if (n_train < 1 || val_count < 1)
            return fv__fail(FV_ERR_INVALID, "validation_split=%g leaves %lld training and %lld validation samples out of %lld",
                            opts->validation_split, (long long)n_train, (long long)val_count, (long long)train->n);
    } else if (opts->validation_data) {
        val = opts->validation_data;
        val_count = val->n;
        s = fv__model_check_data(m, val, "validation data");
        if (s == FV_OK) s = check_targets(m, val, "validation data");
        if (s != FV_OK) return s;
    }

    int64_t batch = opts->batch_size < n_train ? opts->batch_size : n_train;
    m->seed = opts->seed;
    s = fv__model_ensure_weights(m, opts->seed);
    if (s == FV_OK) s = fv__model_ensure_opt_state(m);
    if (s == FV_OK) s = fv__model_plan(m, batch);
    if (s != FV_OK) return s;

    bool acc = m->metric_accuracy && fv__model_accuracy_defined(m) && train->labels;
    fit_state st = {.count = 0};
    for (int c = 0; c < NCOLS; c++) {
        bool on = (c == COL_ACC || c == COL_VAL_ACC) ? acc : true;
        if (c >= COL_VAL_ACC && !val) on = false;
        st.col_of[c] = on ? st.count : -1;
        if (on) st.names[st.count++] = col_names[c];
    }
    int ntrain = acc ? 2 : 1; /* the training columns come first: accuracy, loss */
    fv_history *h = fv__history_new(st.count, st.names);
    int64_t *perm = malloc((size_t)(n_train > 0 ? n_train : 1) * sizeof *perm);
    if (!h || !perm) {
        fv_history_free(h);
        free(perm);
        return fv__fail(FV_ERR_NOMEM, "out of memory starting training");
    }
    for (int64_t i = 0; i < n_train; i++) perm[i] = i;
    fv_rng shuffle_rng;
    fv__rng_seed(&shuffle_rng, opts->seed ^ 0x5417f1e5ULL);

    int64_t steps = (n_train + batch - 1) / batch;
    for (int64_t epoch = 0; s == FV_OK && epoch < opts->epochs; epoch++) {
        if (opts->shuffle)
            for (int64_t i = n_train - 1; i > 0; i--) {
                int64_t j = (int64_t)fv__rng_below(&shuffle_rng, (uint64_t)i + 1);
                int64_t t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
        double t0 = now_seconds(), loss_sum = 0;
        int64_t seen = 0, correct = 0;
        for (int64_t step = 0; step < steps; step++) {
            int64_t first = step * batch, nb = n_train - first < batch ? n_train - first : batch;
            fv_targets t = load_batch(m, train, perm + first, 0, nb);
            double L;
            s = fv__model_train_step(m, m->xbuf, &t, nb, &L);
            if (s == FV_ERR_NUMERIC) {
                fv__error_prefix("epoch %lld, step %lld: ", (long long)epoch + 1, (long long)step + 1);
                break;
            }
            if (s != FV_OK) break;
            loss_sum += L * (double)nb;
            seen += nb;
            if (acc) correct += fv__model_count_correct(m, m->acts[m->nlayers - 1], t.labels, nb);
            set_col(&st, COL_LOSS, loss_sum / (double)seen);
            set_col(&st, COL_ACC, (double)correct / (double)seen);
            if (opts->on_batch) {
                fv_logs logs = {.epoch = epoch, .epochs = opts->epochs, .step = step + 1, .steps = steps,
                                .seconds = now_seconds() - t0, .count = ntrain,
                                .names = st.names, .values = st.values};
                if (!opts->on_batch(opts->user, &logs)) {
                    s = fv__fail(FV_ERR_INTERRUPTED, "training stopped by a callback in epoch %lld", (long long)epoch + 1);
                    break;
                }
            }
        }
        if (s != FV_OK) break;
        if (val) {
            double vl, va;
            s = evaluate_range(m, val, val_first, val_count, batch, &vl, &va);
            if (s != FV_OK) break;
            set_col(&st, COL_VAL_LOSS, vl);
            set_col(&st, COL_VAL_ACC, va);
        }
        s = fv__history_append(h, st.values);
        if (s != FV_OK) break;
        if (opts->on_epoch) {
            fv_logs logs = {.epoch = epoch, .epochs = opts->epochs, .step = steps, .steps = steps,
                            .seconds = now_seconds() - t0, .count = st.count, .names = st.names, .values = st.values};
            if (!opts->on_epoch(opts->user, &logs))
                s = fv__fail(FV_ERR_INTERRUPTED, "training stopped by a callback after epoch %lld", (long long)epoch + 1);
        }
    }
    free(perm);
    if (history) *history = h;
    else fv_history_free(h);
    return s;
}
