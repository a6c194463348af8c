/* test_fit.c — fit beyond the loop itself: training-time metrics (equal to fv_metrics on the same
 * predictions), Keras' callbacks (early stopping with restored weights, reducing the learning
 * rate on a plateau, saving the best model), checkpoints that resume bit for bit, a loss that
 * becomes NaN, and allocations that cannot succeed.
 */
#include "fovea.h"
#include "io/io.h"
#include "model/fit.h"
#include "test.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------------------- */

/* Class = which quadrant of a 6x6 image holds a bright blob; `noise` of the labels are wrong. */
static fv_dataset *quadrants(int64_t n, uint64_t seed, int noise_percent)
{
    uint8_t *x = calloc((size_t)n * 36, 1);
    int32_t *y = calloc((size_t)n, sizeof *y);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int c = (int)((s >> 33) % 4);
        for (int p = 0; p < 36; p++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i * 36 + p] = (uint8_t)((s >> 40) % 120);
        }
        int r0 = (c / 2) * 3, c0 = (c % 2) * 3;
        for (int r = 0; r < 3; r++)
            for (int q = 0; q < 3; q++)
                x[i * 36 + (r0 + r) * 6 + c0 + q] = 160;
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((int)((s >> 33) % 100) < noise_percent) c = (c + 1 + (int)((s >> 20) % 3)) % 4;
        y[i] = c;
    }
    fv_dataset *d = fv_dataset_from_u8(n, 3, (int64_t[]){6, 6, 1}, x, y);
    free(x);
    free(y);
    return d;
}

static const char *cnn = "input shape=6,6,1\n"
                         "conv2d filters=4 kernel_size=3 padding=same activation=relu\n"
                         "maxpool2d pool_size=2\n"
                         "dropout rate=0.2\n"
                         "flatten\n"
                         "dense units=4 activation=softmax\n";

/* The model text with a compile line. */
static fv_model *model_with(const char *body, const char *compile)
{
    char text[2048];
    snprintf(text, sizeof text, "%scompile %s\n", body, compile);
    fv_model *m = fv_model_parse_string(text, "test");
    CHECK(m != NULL);
    if (!m) fprintf(stderr, "  %s\n", fv_last_error());
    return m;
}

/* Every weight of a model, in layer order, as one array (caller frees); *n receives the count. */
static float *all_weights(fv_model *m, int64_t *n)
{
    float *out = NULL;
    *n = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t at = 0;
        for (int i = 0; i < fv_model_layer_count(m); i++) {
            const char *suffix[] = {"kernel", "bias"};
            for (int p = 0; p < 2; p++) {
                char name[128];
                snprintf(name, sizeof name, "%s.%s", fv_model_layer_name(m, i), suffix[p]);
                int rank;
                int64_t d[4];
                fv_last_error();
                float *w = fv_model_param(m, name, &rank, d);
                if (!w) continue;
                int64_t size = 1;
                for (int r = 0; r < rank; r++)
                    size *= d[r];
                if (pass) memcpy(out + at, w, (size_t)size * sizeof(float));
                at += size;
            }
        }
        if (!pass) {
            *n = at;
            out = malloc((size_t)(at ? at : 1) * sizeof(float));
        }
    }
    return out;
}

/* Bit-for-bit equal weights. */
static bool same_weights(fv_model *a, fv_model *b)
{
    int64_t na, nb;
    float *wa = all_weights(a, &na), *wb = all_weights(b, &nb);
    bool same = na == nb && na > 0 && memcmp(wa, wb, (size_t)na * sizeof(float)) == 0;
    free(wa);
    free(wb);
    return same;
}

/* Bit-for-bit equal histories (columns, order, values). */
static bool same_history(const fv_history *a, const fv_history *b)
{
    if (!a || !b || fv_history_columns(a) != fv_history_columns(b) ||
        fv_history_epochs(a) != fv_history_epochs(b))
        return false;
    for (int c = 0; c < fv_history_columns(a); c++) {
        const char *name = fv_history_column_name(a, c);
        if (strcmp(name, fv_history_column_name(b, c)) != 0) return false;
        if (memcmp(fv_history_get(a, name), fv_history_get(b, name),
                   (size_t)fv_history_epochs(a) * sizeof(double)) != 0)
            return false;
    }
    return true;
}

static const double *col(const fv_history *h, const char *name)
{
    const double *v = h ? fv_history_get(h, name) : NULL;
    if (!v) {
        fprintf(stderr, "  the history has no column '%s'\n", name);
        test_failed_checks++;
    }
    return v;
}

/* A fresh folder under /tmp (caller removes it with remove_dir). */
static void make_dir(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/fovea-fit-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static void remove_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ---- metrics --------------------------------------------------------------------------------- */

static const char *all_metrics =
    "accuracy,precision,recall,f1,auc,prc,map,crossentropy,mse,rmse,mae";
static const char *metric_names[] = {"accuracy", "precision",    "recall", "f1",   "auc", "prc",
                                     "map",      "crossentropy", "mse",    "rmse", "mae"};
static const char *metric_get[] = {"accuracy",
                                   "precision",
                                   "recall",
                                   "f1",
                                   "roc_auc",
                                   "average_precision",
                                   "mean_average_precision",
                                   "crossentropy",
                                   "mse",
                                   "rmse",
                                   "mae"};

/* Compares the epoch's figures (prefix "" or "val_") with fv_metrics on predictions of d. */
static void check_metrics_against_predictions(fv_model *m, const fv_history *h, int64_t epoch,
                                              const char *prefix, const fv_dataset *d,
                                              int64_t batch, double rtol)
{
    int64_t n = fv_dataset_count(d), k = fv_model_output_size(m);
    float *p = malloc((size_t)(n * k) * sizeof(float));
    CHECK_OK(fv_model_predict(m, d, batch, p));
    fv_metrics *ref = fv_metrics_classification(p, fv_dataset_labels(d), n, k);
    CHECK(ref != NULL);
    for (int i = 0; ref && i < 11; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", prefix, metric_names[i]);
        const double *v = col(h, name);
        if (v) CHECK_CLOSE(v[epoch], fv_metrics_get(ref, metric_get[i]), rtol, rtol);
    }
    fv_metrics_free(ref);
    free(p);
}

TEST(metrics_in_the_history_equal_fv_metrics_on_the_same_predictions)
{
    fv_dataset *train = quadrants(150, 1, 20), *val = quadrants(70, 2, 20);
    /* learning_rate=0 and no dropout: the weights never move, so the training figures of every
     * epoch are those of the fixed model on the training set (in any order). */
    const char *frozen = "input shape=6,6,1\nflatten\ndense units=4 activation=softmax\n";
    char compile[512];
    snprintf(compile, sizeof compile, "loss=categorical_crossentropy learning_rate=0 metrics=%s",
             all_metrics);
    fv_model *m = model_with(frozen, compile);
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 2;
    o.batch_size = 16;
    o.validation_data = val;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    CHECK(h && fv_history_columns(h) == 24);
    /* training batches come in another order: outputs may differ in the last bit */
    check_metrics_against_predictions(m, h, 1, "", train, 16, 1e-6);
    check_metrics_against_predictions(m, h, 1, "val_", val, 16, 1e-12);
    double loss;
    CHECK_OK(fv_model_evaluate(m, train, 16, &loss, NULL));
    CHECK_CLOSE(col(h, "loss")[1], loss, 1e-12, 1e-9);
    fv_history_free(h);
    fv_model_free(m);

    /* Trained: the last epoch's validation figures are the final model's on the validation set. */
    m = model_with(cnn,
                   "loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01 "
                   "metrics=accuracy,precision,recall,f1,auc,prc,map,crossentropy,mse,rmse,mae");
    o.epochs = 3;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    check_metrics_against_predictions(m, h, 2, "val_", val, 16, 1e-12);
    const double *acc = col(h, "accuracy");
    if (acc) CHECK(acc[2] > acc[0]);
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(train);
    fv_dataset_free(val);
}

/* Running figures reported to on_batch: the last step's equal the epoch's row. */
typedef struct batch_log {
    int64_t calls;
    int count;
    char names[8][32];
    double last[8];
} batch_log;

static bool log_batch(void *user, const fv_logs *logs)
{
    batch_log *b = user;
    b->calls++;
    b->count = logs->count;
    for (int i = 0; i < logs->count && i < 8; i++) {
        snprintf(b->names[i], sizeof b->names[i], "%s", logs->names[i]);
        b->last[i] = logs->values[i];
    }
    return true;
}

TEST(running_figures_end_at_the_epoch_figures_and_columns_are_sorted)
{
    fv_dataset *train = quadrants(100, 3, 10), *val = quadrants(40, 4, 10);
    fv_model *m = model_with(cnn, "loss=categorical_crossentropy metrics=recall,auc,acc");
    fv_fit_opts o = fv_fit_defaults();
    o.batch_size = 16;
    o.validation_data = val;
    batch_log b = {0};
    o.on_batch = log_batch;
    o.user = &b;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    const char *expect[] = {"accuracy",     "auc",     "loss",     "recall",
                            "val_accuracy", "val_auc", "val_loss", "val_recall"};
    CHECK(h && fv_history_columns(h) == 8);
    for (int c = 0; h && c < 8; c++)
        CHECK(strcmp(fv_history_column_name(h, c), expect[c]) == 0);
    CHECK(b.calls == 7 && b.count == 4);
    for (int i = 0; h && i < 4; i++) {
        CHECK(strcmp(b.names[i], expect[i]) == 0);
        CHECK(b.last[i] == fv_history_get(h, expect[i])[0]);
    }
    fv_history_free(h);
    fv_model_free(m);

    /* metrics=accuracy keeps the columns it always had */
    m = model_with(cnn, "loss=categorical_crossentropy metrics=accuracy");
    o.on_batch = NULL;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    const char *keras[] = {"accuracy", "loss", "val_accuracy", "val_loss"};
    CHECK(h && fv_history_columns(h) == 4);
    for (int c = 0; h && c < 4; c++)
        CHECK(strcmp(fv_history_column_name(h, c), keras[c]) == 0);
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(train);
    fv_dataset_free(val);
}

TEST(a_binary_classifier_reports_class_one)
{
    fv_dataset *train = quadrants(120, 5, 10), *val = quadrants(60, 6, 10);
    /* labels 0..3 do not fit one unit: build a binary task from the quadrant's row */
    int64_t n = fv_dataset_count(val), dims[4];
    int rank = fv_dataset_shape(val, dims);
    float *x = malloc((size_t)(n * 36) * sizeof(float));
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        fv_dataset_get(val, i, x + i * 36);
        y[i] = fv_dataset_labels(val)[i] >= 2;
    }
    fv_dataset *bval = fv_dataset_from_f32(n, rank, dims, x, y);
    int64_t nt = fv_dataset_count(train);
    float *xt = malloc((size_t)(nt * 36) * sizeof(float));
    int32_t *yt = malloc((size_t)nt * sizeof *yt);
    for (int64_t i = 0; i < nt; i++) {
        fv_dataset_get(train, i, xt + i * 36);
        yt[i] = fv_dataset_labels(train)[i] >= 2;
    }
    fv_dataset *btrain = fv_dataset_from_f32(nt, rank, dims, xt, yt);
    fv_model *m = model_with(
        "input shape=6,6,1\nflatten\ndense units=1 activation=sigmoid\n",
        "loss=binary_crossentropy learning_rate=0.01 metrics=precision,recall,auc,accuracy");
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 2;
    o.validation_data = bval;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, btrain, &o, &h));
    float *p = malloc((size_t)n * sizeof(float));
    CHECK_OK(fv_model_predict(m, bval, 32, p));
    fv_metrics *ref = fv_metrics_classification(p, y, n, 1);
    CHECK(ref && h);
    if (ref && h) {
        CHECK_CLOSE(col(h, "val_precision")[1], fv_metrics_get(ref, "precision_class_1"), 1e-12, 0);
        CHECK_CLOSE(col(h, "val_recall")[1], fv_metrics_get(ref, "recall_class_1"), 1e-12, 0);
        CHECK_CLOSE(col(h, "val_auc")[1], fv_metrics_get(ref, "roc_auc"), 1e-12, 0);
        CHECK_CLOSE(col(h, "val_accuracy")[1], fv_metrics_get(ref, "accuracy"), 1e-12, 0);
    }
    fv_metrics_free(ref);
    fv_history_free(h);
    fv_model_free(m);
    free(p);
    free(x);
    free(y);
    free(xt);
    free(yt);
    fv_dataset_free(bval);
    fv_dataset_free(btrain);
    fv_dataset_free(train);
    fv_dataset_free(val);
}

TEST(a_regression_takes_error_metrics_and_refuses_class_metrics)
{
    char dir[64], path[128];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "a,b,y\n");
    for (int i = 0; i < 60; i++)
        fprintf(f, "%g,%g,%g\n", i * 0.1, (i % 7) * 0.3,
                0.5 * i * 0.1 - 0.2 * (i % 7) * 0.3 + 0.25);
    fclose(f);
    fv_dataset *d = fv_dataset_load_csv(path, NULL);
    CHECK(d != NULL);
    fv_model *m =
        model_with("input shape=2\ndense units=1\n",
                   "loss=mse optimizer=adam learning_rate=0.01 metrics=mse,mae,rmse,accuracy");
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 2;
    o.validation_split = 0.25;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    /* accuracy means nothing for a regression: left out, as it always was */
    CHECK(h && fv_history_columns(h) == 8 && !fv_history_get(h, "accuracy"));
    if (h && col(h, "mse") && col(h, "rmse")) {
        CHECK_CLOSE(col(h, "mse")[1], col(h, "loss")[1], 1e-9, 1e-6);
        CHECK_CLOSE(col(h, "rmse")[1], sqrt(col(h, "mse")[1]), 1e-12, 1e-12);
        CHECK_CLOSE(col(h, "val_mse")[1], col(h, "val_loss")[1], 1e-9, 1e-6);
    }
    fv_history_free(h);
    CHECK_OK(fv_model_compile(m, "loss=mse metrics=auc"));
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "float targets");
    fv_model_free(m);
    fv_dataset_free(d);
    remove_dir(dir);
}

TEST(compile_and_fit_lines_check_their_keys_and_read_back)
{
    fv_model *m = fv_model_parse_string("input shape=4\ndense units=3 activation=softmax\n", "m");
    CHECK_OK(fv_model_compile(
        m, "loss=sparse_categorical_crossentropy metrics=accuracy,precision,recall,auc"));
    CHECK(fv_model_compile(m, "loss=sparse_categorical_crossentropy metrics=acuracy") ==
          FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "acuracy");
    CHECK_STR_CONTAINS(fv_last_error(), "precision");
    CHECK(fv_model_compile(m, "loss=sparse_categorical_crossentropy metrics=acc,accuracy") ==
          FV_ERR_INVALID);
    CHECK(fv_model_add(m, "fit patience=3") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "early_stopping");
    CHECK(fv_model_add(m, "fit lr_patience=3") == FV_ERR_INVALID);
    CHECK(fv_model_add(m, "fit reduce_lr_on_plateau=val_loss lr_factor=1") == FV_ERR_INVALID);
    CHECK(fv_model_add(m, "fit early_stopping=val_los") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "val_los");
    CHECK_OK(fv_model_add(
        m,
        "fit epochs=9 early_stopping=val_acc patience=3 min_delta=0.001 restore_best_weights=true "
        "reduce_lr_on_plateau=loss lr_factor=0.5 lr_patience=2 lr_min_delta=0 lr_cooldown=1 "
        "min_lr=1e-5"));
    fv_fit_opts o = fv_model_fit_opts(m);
    CHECK(o.early_stopping && strcmp(o.early_stopping, "val_accuracy") == 0);
    CHECK(o.patience == 3 && o.min_delta == 0.001 && o.restore_best_weights);
    CHECK(o.reduce_lr_on_plateau && strcmp(o.reduce_lr_on_plateau, "loss") == 0);
    CHECK(o.lr_factor == 0.5 && o.lr_patience == 2 && o.lr_min_delta == 0 && o.lr_cooldown == 1 &&
          o.min_lr == 1e-5);
    char *t1 = fv_model_to_text(m);
    CHECK_STR_CONTAINS(t1, "metrics=accuracy,precision,recall,auc");
    CHECK_STR_CONTAINS(t1, "fit epochs=9 early_stopping=val_accuracy patience=3 min_delta=0.001 "
                           "restore_best_weights=true "
                           "reduce_lr_on_plateau=loss lr_factor=0.5 lr_patience=2 lr_min_delta=0 "
                           "lr_cooldown=1 min_lr=1e-05");
    fv_model *m2 = fv_model_parse_string(t1, "canonical");
    char *t2 = m2 ? fv_model_to_text(m2) : NULL;
    CHECK(t2 && strcmp(t1, t2) == 0);
    free(t1);
    free(t2);
    fv_model_free(m2);
    fv_model_free(m);
}

/* ---- callbacks ------------------------------------------------------------------------------- */

/* Keras 3's EarlyStopping on a recorded column: the epoch it stops after (-1: never) and the
 * best epoch. */
static int64_t keras_early_stop(const double *v, int64_t n, bool higher, double min_delta,
                                int64_t patience, int64_t *best_epoch)
{
    double best = higher ? -INFINITY : INFINITY;
    int64_t wait = 0;
    *best_epoch = -1;
    for (int64_t e = 0; e < n; e++) {
        if (*best_epoch < 0) *best_epoch = e;
        wait++;
        if (higher ? v[e] - min_delta > best : v[e] + min_delta < best) {
            best = v[e];
            *best_epoch = e;
            wait = 0;
            continue;
        }
        if (wait >= patience && e > 0) return e;
    }
    return -1;
}

TEST(early_stopping_stops_at_the_right_epoch_and_restores_the_best_weights)
{
    /* noisy labels and a large step: the validation loss soon stops improving by min_delta */
    fv_dataset *train = quadrants(120, 7, 35), *val = quadrants(60, 8, 35);
    for (int restore = 0; restore < 2; restore++) {
        fv_model *m = model_with(
            cnn,
            "loss=categorical_crossentropy optimizer=adam learning_rate=0.05 metrics=accuracy");
        fv_fit_opts o = fv_fit_defaults();
        o.epochs = 40;
        o.batch_size = 16;
        o.validation_data = val;
        o.early_stopping = "val_loss";
        o.patience = 2;
        o.min_delta = 0.01;
        o.restore_best_weights = restore;
        fv_history *h = NULL;
        CHECK_OK(fv_model_fit(m, train, &o, &h));
        const double *vl = col(h, "val_loss");
        int64_t epochs = h ? fv_history_epochs(h) : 0, best;
        CHECK(epochs < 40);
        if (!vl) continue;
        int64_t stop = keras_early_stop(vl, epochs, false, 0.01, 2, &best);
        CHECK(stop == epochs - 1);
        fv_fit_info info = fv_model_last_fit(m);
        CHECK(info.stopped_epoch == stop && info.best_epoch == best && info.epochs_done == epochs);
        CHECK(info.restored_best_weights == (bool)restore);
        /* evaluate gives the best epoch's val_loss with restore_best_weights, else the last's */
        double loss;
        CHECK_OK(fv_model_evaluate(m, val, 16, &loss, NULL));
        CHECK_CLOSE(loss, vl[restore ? best : epochs - 1], 1e-12, 1e-12);
        if (restore) CHECK(best < epochs - 1 && vl[best] != vl[epochs - 1]);
        fv_history_free(h);
        fv_model_free(m);
    }
    /* monitoring a column larger-is-better: val_accuracy stops when it no longer rises */
    fv_model *m = model_with(
        cnn, "loss=categorical_crossentropy optimizer=adam learning_rate=0.05 metrics=accuracy");
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 40;
    o.batch_size = 16;
    o.validation_data = val;
    o.early_stopping = "val_acc";
    o.patience = 3;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    const double *va = col(h, "val_accuracy");
    int64_t best;
    if (va)
        CHECK(keras_early_stop(va, fv_history_epochs(h), true, 0, 3, &best) ==
              fv_history_epochs(h) - 1);
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(train);
    fv_dataset_free(val);
}

TEST(reduce_lr_on_plateau_changes_the_rate_as_keras_does)
{
    fv_dataset *train = quadrants(120, 9, 35), *val = quadrants(60, 10, 35);
    fv_model *m = model_with(
        cnn, "loss=categorical_crossentropy optimizer=sgd learning_rate=0.2 momentum=0.9");
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 14;
    o.batch_size = 16;
    o.validation_data = val;
    o.reduce_lr_on_plateau = "val_loss";
    o.lr_factor = 0.5;
    o.lr_patience = 1;
    o.lr_min_delta = 0.01;
    o.lr_cooldown = 1;
    o.min_lr = 0.07;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    const double *vl = col(h, "val_loss"), *lr = col(h, "learning_rate");
    CHECK(h && fv_history_epochs(h) == 14);
    if (vl && lr) {
        /* Keras 3's ReduceLROnPlateau.on_epoch_end, step by step */
        double rate = 0.2, best = INFINITY;
        int64_t wait = 0, cooldown = 0, reductions = 0;
        for (int e = 0; e < 14; e++) {
            CHECK(lr[e] == rate);
            if (cooldown > 0) cooldown--, wait = 0;
            if (vl[e] < best - 0.01) {
                best = vl[e];
                wait = 0;
            } else if (cooldown <= 0 && ++wait >= 1 && rate > 0.07) {
                rate = fmax(rate * 0.5, 0.07);
                cooldown = 1;
                wait = 0;
                reductions++;
            }
        }
        CHECK(reductions >= 2);
        CHECK(fv_model_last_fit(m).learning_rate == rate);
    }
    /* a monitored column that this fit lacks is refused before training */
    fv_fit_opts bad = o;
    bad.validation_data = NULL;
    CHECK(fv_model_fit(m, train, &bad, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "no validation data");
    bad = o;
    bad.reduce_lr_on_plateau = NULL;
    bad.early_stopping = "val_auc";
    CHECK(fv_model_fit(m, train, &bad, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "val_auc");
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(train);
    fv_dataset_free(val);
}

TEST(save_best_keeps_the_best_epochs_model)
{
    char dir[64], path[128];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    fv_dataset *train = quadrants(120, 11, 35), *val = quadrants(60, 12, 35);
    fv_model *m = model_with(
        cnn, "loss=categorical_crossentropy optimizer=adam learning_rate=0.05 metrics=accuracy");
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 8;
    o.batch_size = 16;
    o.validation_data = val;
    o.save_best = path;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    const double *vl = col(h, "val_loss");
    int64_t best = 0;
    for (int64_t e = 1; vl && e < 8; e++)
        if (vl[e] < vl[best]) best = e;
    CHECK(fv_model_last_fit(m).save_best_epoch == best);
    fv_model *b = fv_model_load(path);
    CHECK(b != NULL);
    double loss;
    if (b && vl) {
        CHECK_OK(fv_model_evaluate(b, val, 16, &loss, NULL));
        CHECK_CLOSE(loss, vl[best], 1e-12, 1e-12);
    }
    fv_model_free(b);
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(train);
    fv_dataset_free(val);
    remove_dir(dir);
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

static const char *resume_compiles[] = {
    "loss=categorical_crossentropy optimizer=adam learning_rate=0.02 metrics=accuracy,auc",
    "loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1 momentum=0.9 "
    "nesterov=true metrics=accuracy",
};

/* A fit with every piece of state a checkpoint must carry: shuffling, dropout, Adam or SGD
 * slots, all three callbacks, validation. */
static fv_fit_opts resume_opts(const fv_dataset *val, int64_t epochs, const char *dir,
                               const char *best)
{
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = epochs;
    o.batch_size = 16;
    o.seed = 5;
    o.validation_data = val;
    o.early_stopping = "val_loss";
    o.patience = 50;
    o.restore_best_weights = true;
    o.reduce_lr_on_plateau = "val_loss";
    o.lr_patience = 1;
    o.lr_min_delta = 0.05;
    o.save_best = best;
    o.checkpoint_dir = dir;
    o.resume = dir != NULL;
    return o;
}

TEST(checkpoint_and_resume_give_the_weights_and_history_of_an_uninterrupted_run)
{
    fv_dataset *train = quadrants(100, 13, 20), *val = quadrants(40, 14, 20);
    for (int c = 0; c < 2; c++) {
        char dir[64], best_a[128], best_b[128];
        make_dir(dir, sizeof dir);
        snprintf(best_a, sizeof best_a, "%s/best_a.safetensors", dir);
        snprintf(best_b, sizeof best_b, "%s/best_b.safetensors", dir);
        fv_model *straight = model_with(cnn, resume_compiles[c]);
        fv_fit_opts o = resume_opts(val, 4, NULL, best_a);
        fv_history *h1 = NULL, *h2 = NULL;
        CHECK_OK(fv_model_fit(straight, train, &o, &h1));

        fv_model *first = model_with(cnn, resume_compiles[c]);
        o = resume_opts(val, 2, dir, best_b);
        CHECK_OK(fv_model_fit(first, train, &o, NULL));
        CHECK(fv_model_last_fit(first).checkpoint_epochs == 2);
        fv_model_free(first);

        fv_model *resumed = model_with(cnn, resume_compiles[c]);
        o = resume_opts(val, 4, dir, best_b);
        CHECK_OK(fv_model_fit(resumed, train, &o, &h2));
        CHECK(fv_model_last_fit(resumed).initial_epoch == 2);
        CHECK(same_weights(straight, resumed));
        CHECK(same_history(h1, h2));
        CHECK(fv_model_last_fit(straight).learning_rate ==
              fv_model_last_fit(resumed).learning_rate);
        fv_model *ba = fv_model_load(best_a), *bb = fv_model_load(best_b);
        CHECK(ba && bb && same_weights(ba, bb));
        fv_model_free(ba);
        fv_model_free(bb);
        fv_history_free(h1);
        fv_history_free(h2);
        fv_model_free(straight);
        fv_model_free(resumed);
        remove_dir(dir);
    }
    fv_dataset_free(train);
    fv_dataset_free(val);
}

/* save_best's state is in the checkpoint whatever its column, the first one (accuracy) too. */
TEST(a_checkpoint_keeps_save_best_on_the_first_column)
{
    fv_dataset *train = quadrants(60, 21, 20), *val = quadrants(20, 22, 20);
    char dir[64], best[128], ck[160];
    make_dir(dir, sizeof dir);
    snprintf(best, sizeof best, "%s/best.safetensors", dir);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    fv_model *m = model_with(cnn, resume_compiles[1]);
    fv_fit_opts o = resume_opts(val, 1, dir, best);
    o.resume = false;
    o.save_best_monitor = "accuracy";
    CHECK_OK(fv_model_fit(m, train, &o, NULL));
    fv_st_file f;
    CHECK_OK(fv__st_read(ck, &f));
    const char *state = fv__st_meta(&f, "fovea.checkpoint");
    CHECK(state && strstr(state, "\"save_best\":{\"monitor\":\"accuracy\""));
    fv__st_free(&f);
    fv_model_free(m);
    remove_dir(dir);
    fv_dataset_free(train);
    fv_dataset_free(val);
}

/* Asks fit to stop at a given step of a given epoch, as Ctrl-C does through the CLI. */
typedef struct stopper {
    int64_t epoch, step;
} stopper;

static bool stop_at(void *user, const fv_logs *logs)
{
    const stopper *s = user;
    return !(logs->epoch == s->epoch && logs->step == s->step);
}

TEST(a_run_stopped_mid_epoch_resumes_from_the_last_epochs_checkpoint)
{
    fv_dataset *train = quadrants(100, 15, 20), *val = quadrants(40, 16, 20);
    char dir[64];
    make_dir(dir, sizeof dir);
    fv_model *straight = model_with(cnn, resume_compiles[0]);
    fv_fit_opts o = resume_opts(val, 5, NULL, NULL);
    fv_history *h1 = NULL, *h2 = NULL;
    CHECK_OK(fv_model_fit(straight, train, &o, &h1));

    fv_model *a = model_with(cnn, resume_compiles[0]);
    o = resume_opts(val, 5, dir, NULL);
    o.resume = true; /* nothing to resume yet: a fresh start */
    stopper st = {.epoch = 2, .step = 3};
    o.on_batch = stop_at;
    o.user = &st;
    CHECK(fv_model_fit(a, train, &o, NULL) == FV_ERR_INTERRUPTED);
    CHECK(fv_model_last_fit(a).checkpoint_epochs == 2);
    bool found = false;
    int64_t done = -1, epochs = -1;
    CHECK_OK(fv_checkpoint_info(dir, &found, &done, &epochs));
    CHECK(found && done == 2 && epochs == 5);
    fv_model_free(a);

    /* the checkpoint is also a model file: its weights are epoch 2's */
    char path[128];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    fv_model *loaded = fv_model_load(path);
    CHECK(loaded != NULL);
    fv_model_free(loaded);

    fv_model *b = model_with(cnn, resume_compiles[0]);
    o = resume_opts(val, 5, dir, NULL);
    CHECK_OK(fv_model_fit(b, train, &o, &h2));
    CHECK(same_weights(straight, b));
    CHECK(same_history(h1, h2));
    /* resuming a finished run trains nothing and changes nothing */
    fv_history *h3 = NULL;
    CHECK_OK(fv_model_fit(b, train, &o, &h3));
    CHECK(same_weights(straight, b) && same_history(h1, h3));
    fv_history_free(h1);
    fv_history_free(h2);
    fv_history_free(h3);
    fv_model_free(straight);
    fv_model_free(b);
    fv_dataset_free(train);
    fv_dataset_free(val);
    remove_dir(dir);
}

TEST(resume_refuses_another_runs_or_a_damaged_checkpoint)
{
    fv_dataset *train = quadrants(64, 17, 10), *val = quadrants(32, 18, 10);
    char dir[64], path[128];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    fv_model *m = model_with(cnn, resume_compiles[0]);
    fv_fit_opts o = resume_opts(val, 1, dir, NULL);
    CHECK_OK(fv_model_fit(m, train, &o, NULL));
    fv_model_free(m);

    m = model_with(cnn, resume_compiles[0]);
    o = resume_opts(val, 2, dir, NULL);
    o.batch_size = 8;
    CHECK(fv_model_fit(m, train, &o, NULL) == FV_ERR_STATE);
    CHECK_STR_CONTAINS(fv_last_error(), "batch_size=16");
    CHECK_STR_CONTAINS(fv_last_error(), "batch_size=8");
    o = resume_opts(train, 2, dir, NULL); /* other validation data */
    CHECK(fv_model_fit(m, train, &o, NULL) == FV_ERR_STATE);
    CHECK_STR_CONTAINS(fv_last_error(), "validation samples=");
    fv_model_free(m);
    m = model_with(
        cnn,
        "loss=categorical_crossentropy optimizer=adam learning_rate=0.03 metrics=accuracy,auc");
    o = resume_opts(val, 2, dir, NULL);
    CHECK(fv_model_fit(m, train, &o, NULL) == FV_ERR_STATE);
    CHECK_STR_CONTAINS(fv_last_error(), "learning_rate=0.03");
    fv_model_free(m);

    /* one fit at a time in a folder */
    int fd;
    CHECK_OK(fv__checkpoint_lock(dir, &fd));
    m = model_with(cnn, resume_compiles[0]);
    CHECK(fv_model_fit(m, train, &o, NULL) == FV_ERR_STATE);
    CHECK_STR_CONTAINS(fv_last_error(), "another training run");
    fv__checkpoint_unlock(fd);

    /* a truncated file is an error, never a silent fresh start */
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK(truncate(path, st.st_size / 2) == 0);
    CHECK(fv_model_fit(m, train, &o, NULL) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "checkpoint.safetensors");
    bool found;
    CHECK(fv_checkpoint_info(dir, &found, NULL, NULL) == FV_ERR_FORMAT);
    /* a model file is not a checkpoint */
    CHECK_OK(fv_model_save(m, path));
    CHECK(fv_model_fit(m, train, &o, NULL) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "not a checkpoint");
    fv_model_free(m);
    fv_dataset_free(train);
    fv_dataset_free(val);
    remove_dir(dir);
}

/* ---- failures -------------------------------------------------------------------------------- */

TEST(huge_values_make_a_nan_loss_that_names_the_epoch_and_step)
{
    char dir[64], path[128];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/huge.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "a,b,c,d,label\n");
    for (int i = 0; i < 40; i++) {
        double v = i == 21 ? 3e38 : (i % 5) * 0.1;
        fprintf(f, "%g,%g,%g,%g,%d\n", v, v, v, v, i % 3);
    }
    fclose(f);
    fv_dataset *d = fv_dataset_load_csv(path, NULL);
    fv_model *m = model_with("input shape=4\ndense units=3 activation=softmax\n",
                             "loss=sparse_categorical_crossentropy");
    /* weights of 1: a row of 3e38 makes logits of +inf, and softmax(inf, inf, inf) is NaN */
    int rank;
    int64_t dims[4];
    float *w = fv_model_param(m, "dense.kernel", &rank, dims);
    for (int i = 0; w && i < 12; i++)
        w[i] = 1;
    fv_fit_opts o = fv_fit_defaults();
    o.shuffle = false;
    o.batch_size = 8;
    fv_history *h = NULL;
    CHECK(fv_model_fit(m, d, &o, &h) == FV_ERR_NUMERIC);
    CHECK_STR_CONTAINS(fv_last_error(), "epoch 1, step 3");
    CHECK_STR_CONTAINS(fv_last_error(), "NaN");
    CHECK(h && fv_history_epochs(h) == 0);
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(d);
    remove_dir(dir);
}

/* Makes the weights blow up after a given epoch, as a diverging run would. */
static bool poison_after(void *user, const fv_logs *logs)
{
    fv_model *m = user;
    if (logs->epoch == 1) {
        float *w = fv_model_param(m, "dense.kernel", NULL, NULL);
        if (w) w[0] = INFINITY;
    }
    return true;
}

TEST(a_loss_that_becomes_nan_later_keeps_the_last_good_checkpoint)
{
    fv_dataset *train = quadrants(64, 19, 10), *val = quadrants(32, 20, 10);
    char dir[64];
    make_dir(dir, sizeof dir);
    fv_model *m = model_with(cnn, resume_compiles[0]);
    fv_fit_opts o = resume_opts(val, 5, dir, NULL);
    o.on_epoch = poison_after;
    o.user = m;
    fv_history *h = NULL;
    CHECK(fv_model_fit(m, train, &o, &h) == FV_ERR_NUMERIC);
    CHECK_STR_CONTAINS(fv_last_error(), "epoch 3, step 1");
    CHECK(fv_model_last_fit(m).checkpoint_epochs == 2);
    CHECK(h && fv_history_epochs(h) == 2);
    bool found;
    int64_t done = 0;
    CHECK_OK(fv_checkpoint_info(dir, &found, &done, NULL));
    CHECK(found && done == 2);
    /* the checkpoint holds finite weights that resume */
    fv_model *again = model_with(cnn, resume_compiles[0]);
    o = resume_opts(val, 3, dir, NULL);
    CHECK_OK(fv_model_fit(again, train, &o, NULL));
    fv_history_free(h);
    fv_model_free(m);
    fv_model_free(again);
    fv_dataset_free(train);
    fv_dataset_free(val);
    remove_dir(dir);
}

TEST(impossible_allocations_fail_cleanly_with_nomem)
{
    /* a batch of 2^40 samples */
    fv_model *m = model_with(cnn, "loss=categorical_crossentropy");
    float x[36] = {0};
    CHECK(fv_model_forward(m, x, (int64_t)1 << 40) == FV_ERR_NOMEM);
    CHECK_STR_CONTAINS(fv_last_error(), "batch size 1099511627776");
    /* the model still works afterwards */
    CHECK_OK(fv_model_forward(m, x, 1));
    fv_model_free(m);

    /* one 4096x4096 image whose first layer has 8192 channels: 512 GiB of activations (then
     * back to one channel: an autoencoder's output, its target the input) */
    m = model_with("input shape=4096,4096,1\nconv2d filters=8192 kernel_size=1\n"
                   "conv2d filters=1 kernel_size=1\nfit target=input\n",
                   "loss=mse");
    if (m) {
        uint8_t *img = calloc(4096 * 4096, 1);
        int32_t label = 0;
        fv_dataset *d = fv_dataset_from_u8(1, 3, (int64_t[]){4096, 4096, 1}, img, &label);
        free(img);
        fv_fit_opts o = fv_fit_defaults();
        CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_NOMEM);
        CHECK_STR_CONTAINS(fv_last_error(), "memory");
        fv_dataset_free(d);
    }
    fv_model_free(m);
}

int main(void)
{
    fv_set_threads(2);
    RUN(metrics_in_the_history_equal_fv_metrics_on_the_same_predictions);
    RUN(running_figures_end_at_the_epoch_figures_and_columns_are_sorted);
    RUN(a_binary_classifier_reports_class_one);
    RUN(a_regression_takes_error_metrics_and_refuses_class_metrics);
    RUN(compile_and_fit_lines_check_their_keys_and_read_back);
    RUN(early_stopping_stops_at_the_right_epoch_and_restores_the_best_weights);
    RUN(reduce_lr_on_plateau_changes_the_rate_as_keras_does);
    RUN(save_best_keeps_the_best_epochs_model);
    RUN(checkpoint_and_resume_give_the_weights_and_history_of_an_uninterrupted_run);
    RUN(a_checkpoint_keeps_save_best_on_the_first_column);
    RUN(a_run_stopped_mid_epoch_resumes_from_the_last_epochs_checkpoint);
    RUN(resume_refuses_another_runs_or_a_damaged_checkpoint);
    RUN(huge_values_make_a_nan_loss_that_names_the_epoch_and_step);
    RUN(a_loss_that_becomes_nan_later_keeps_the_last_good_checkpoint);
    RUN(impossible_allocations_fail_cleanly_with_nomem);
    return TEST_SUMMARY();
}
