/* train.h — losses, optimizers and the history of a fit. Pure functions on flat arrays: the
 * model owns the memory and calls these once per batch (losses) or per step (optimizers).
 */
#ifndef FV_TRAIN_H
#define FV_TRAIN_H

#include "core/core.h"

/* ---- losses -------------------------------------------------------------------------------- */

typedef enum fv_loss_kind {
    FV_LOSS_NONE = 0,
    FV_LOSS_CATEGORICAL_CE,        /* one-hot targets (built from integer labels) */
    FV_LOSS_SPARSE_CATEGORICAL_CE, /* integer labels */
    FV_LOSS_BINARY_CE,             /* 1 unit: label 0/1; k units: one-hot targets */
    FV_LOSS_MSE,
    FV_LOSS_MAE,
    FV_LOSS_TASK /* the output layer's task loss (fv_task_loss, src/layers/layer.h) */
} fv_loss_kind;

/* Keras' names ("categorical_crossentropy", ...), FV_LOSS_NONE if unknown. */
fv_loss_kind fv__loss_from_name(const char *name);
const char *fv__loss_name(fv_loss_kind k);

/* The targets of a batch: integer class labels, or float targets [n × k] (regression).
 * A label stands for its one-hot row (never materialised) — except with one output unit under
 * binary CE, MSE or MAE, where the label (0 or 1) is itself the target. Sparse CE takes labels
 * only. A label outside [0, fv__loss_label_limit) is the caller's bug (asserted). */
typedef struct fv_targets {
    const int32_t *labels; /* n, or NULL */
    const float *values;   /* n × k, or NULL */
} fv_targets;

/* Labels a loss accepts with k output units are [0, limit): 2 for one unit under binary CE,
 * MSE or MAE, else k. For the model's up-front check of a dataset's labels. */
int64_t fv__loss_label_limit(fv_loss_kind kind, int64_t k);

/* Mean loss over the batch of the model outputs y [n × k] (after the final activation), as Keras
 * computes it (probabilities clipped to [1e-7, 1 - 1e-7] for cross-entropies; mean over the last
 * axis, then over the batch). If grad is not NULL, writes ∂(mean loss)/∂y into grad [n × k] — or,
 * when `fused` is set (softmax + categorical CE, sigmoid + binary CE), ∂(mean loss)/∂z with
 * respect to the pre-activation z, which is the stable (p − t)/n form. The unfused gradient is
 * the exact derivative of Keras' formula, clip included: zero where a probability is clipped. */
double fv__loss(fv_loss_kind kind, const float *y, const fv_targets *t, int64_t n, int64_t k,
                bool fused, float *grad);

/* Per-sample losses (n values) — for evaluate and for metrics. */
void fv__loss_per_sample(fv_loss_kind kind, const float *y, const fv_targets *t, int64_t n,
                         int64_t k, double *out);

/* ---- optimizers: one flat loop over the whole parameter block ------------------------------- */

typedef enum fv_optim_kind { FV_OPT_ADAM = 0, FV_OPT_SGD, FV_OPT_ADAMW } fv_optim_kind;

/* Keras 3's learning-rate schedules, evaluated at the optimizer's step (from 0). */
typedef enum fv_schedule_kind {
    FV_SCHED_NONE = 0,
    FV_SCHED_COSINE_DECAY,     /* keras.optimizers.schedules.CosineDecay */
    FV_SCHED_EXPONENTIAL_DECAY /* keras.optimizers.schedules.ExponentialDecay */
} fv_schedule_kind;

typedef struct fv_optim {
    fv_optim_kind kind;
    double learning_rate; /* Adam 0.001, SGD 0.01 (Keras); a schedule's initial_learning_rate */
    double beta_1, beta_2, epsilon; /* Adam, AdamW: 0.9, 0.999, 1e-7 */
    double momentum;                /* SGD: 0 */
    bool nesterov;                  /* SGD: false */
    double weight_decay;            /* decoupled, as Keras 3 applies it: 0; AdamW 0.004 */
    fv_schedule_kind schedule;
    int64_t decay_steps;  /* both schedules */
    double alpha;         /* cosine: the floor as a fraction of the rate (0) */
    double warmup_target; /* cosine: NAN for no warmup */
    int64_t warmup_steps; /* cosine: 0 */
    double decay_rate;    /* exponential */
    bool staircase;       /* exponential: step / decay_steps rounded down */
    int64_t iterations;   /* steps taken so far */
} fv_optim;

void fv__optim_defaults(fv_optim *o, fv_optim_kind kind);
/* The learning rate of step `step` (0-based): learning_rate, or the schedule's value there.
 *   CosineDecay (Keras 3): without warmup, lr·((1 − alpha)·½(1 + cos(π·min(step, D)/D)) + alpha)
 *   with D = decay_steps; with warmup, for step < W = warmup_steps the line from lr to
 *   warmup_target, lr + (target − lr)·step/W, then the decay above from target at step − W.
 *   ExponentialDecay: lr·decay_rate^(step/decay_steps), the exponent floored when staircase. */
double fv__optim_lr_at(const fv_optim *o, int64_t step);
/* State floats needed per parameter: Adam and AdamW 2 (m, v), SGD 1 with momentum, else 0. */
int fv__optim_slots(const fv_optim *o);
/* One step: w [n] updated from g [n]; state holds slots × n floats (zero at start). The rate
 * is fv__optim_lr_at(o, iterations). With weight_decay, first w -= lr·weight_decay·w on every
 * element (Keras 3's BaseOptimizer._apply_weight_decay: decoupled, on every trainable tensor —
 * kernels, biases and BatchNormalization's gamma and beta alike, as Keras excludes none by
 * default), then the update. Keras' update rules:
 *   Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
 *         w -= lr·sqrt(1-b2^t)/(1-b1^t) · m / (sqrt(v) + eps)
 *   SGD:  v = mom·v - lr·g; w += v  (nesterov: w += mom·v - lr·g); mom = 0: w -= lr·g.
 * Parallel over elements (each element's update is independent: thread count does not change
 * the result). Increments o->iterations. */
void fv__optim_step(fv_optim *o, float *w, const float *g, float *state, int64_t n);
/* fv__optim_step, then g [n] zero (Adam in its own loop, where it has just read g: the next step's
 * gradients start from zero without a pass over memory of their own). */
void fv__optim_step_clear(fv_optim *o, float *w, float *g, float *state, int64_t n);

/* ---- history ------------------------------------------------------------------------------- */

/* (struct fv_history is public as an opaque type in fovea.h.) */
fv_history *fv__history_new(int ncols, const char *const *names);
/* Appends one epoch's row (ncols values in the order of names). */
fv_status fv__history_append(fv_history *h, const double *row);
/* fv_history_read_csv on text[0..len) in memory (for tests and fuzzing); origin names it in
 * messages. The text is copied: it need not be NUL-terminated. */
fv_history *fv__history_parse_csv(const char *text, size_t len, const char *origin);

#endif
