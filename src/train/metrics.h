/* metrics.h — the streaming accumulator behind compile's metrics=...: batches of outputs and
 * targets are added during an epoch, figures are read at its end. The same code as the public
 * fv_metrics_* (fovea.h), so epoch figures equal what fv_metrics_classification reports.
 */
#ifndef FV_METRICS_H
#define FV_METRICS_H

#include "core/core.h"
#include "train/train.h"

/* Names a fit may ask for, as Keras writes them in its history (aliases in brackets):
 *   accuracy (acc), crossentropy, precision, recall, f1 (f1_score), auc (roc_auc),
 *   prc (pr_auc, average_precision), map (mean_average_precision), mse, rmse, mae.
 * precision, recall, f1, auc and prc are the headline values of fovea.h's conventions: class 1
 * of a one-unit binary classifier, else the macro average over classes. A regression model (float
 * targets) takes only mse, rmse and mae.
 *
 * Exact over the whole epoch (not an average of per-batch figures): accuracy, precision, recall
 * and f1 come from a confusion matrix, the errors from running sums, and auc, prc and map from
 * every score of the epoch, kept in a buffer of `capacity` samples allocated once by _new. */
typedef struct fv__metric_acc fv__metric_acc;

/* The most metrics one accumulator holds (every name once). */
#define FV__METRIC_MAX 11

/* The canonical name of a metric name or alias ("acc" -> "accuracy"), NULL if unknown. */
const char *fv__metric_canonical(const char *name);

/* Checks a comma-separated list (unknown names, duplicates, names that do not apply to a
 * regression), with a message listing the valid names. NULL or "" is an empty list. */
fv_status fv__metric_check_names(const char *names, bool regression);

/* An accumulator for the model's k outputs (k == 1: binary classifier or one regression output).
 * capacity: the most samples added between two resets (the larger of the training and
 * validation set sizes); it is only allocated when auc, prc or map is asked for. NULL on failure
 * (a bad name, sizes, memory). */
fv__metric_acc *fv__metric_acc_new(const char *names, int64_t k, bool regression, int64_t capacity);
void fv__metric_acc_free(fv__metric_acc *a);

/* Forgets every sample added (start of an epoch, or before validation). */
void fv__metric_acc_reset(fv__metric_acc *a);

/* Adds a batch: y [n × k] the model outputs (probabilities), t->labels [n] for a classifier or
 * t->values [n × k] for a regression. On failure (a bad label, NaN, more samples than capacity)
 * nothing of the batch is added. Allocates nothing. */
fv_status fv__metric_acc_add(fv__metric_acc *a, const float *y, const fv_targets *t, int64_t n);

/* The metrics in the order given to _new, by canonical name (history column names). */
int fv__metric_acc_count(const fv__metric_acc *a);
const char *fv__metric_acc_name(const fv__metric_acc *a, int i);

/* The figures so far, values[fv__metric_acc_count(a)]; NaN where undefined (no sample yet, an
 * AUC with no positive class, ...). May be called mid-epoch: accuracy, precision, recall, f1 and
 * the errors are O(classes²); auc, prc and map sort the buffer (O(n log n) per class). Allocates
 * nothing. */
void fv__metric_acc_result(fv__metric_acc *a, double *values);

/* Samples added since the last reset. */
int64_t fv__metric_acc_samples(const fv__metric_acc *a);

#endif
