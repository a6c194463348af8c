/* loss.c — Keras' losses (categorical / sparse categorical / binary cross-entropy, MSE, MAE):
 * the mean over a batch, per-sample values, and the gradient of the mean, unfused (autodiff of
 * Keras' formula, clip included) or fused with the softmax / sigmoid before it.
 */
#include "train/train.h"

#include <math.h>
#include <string.h>

/* Keras' backend.epsilon() is 1e-7, but Keras computes in float32: the clip bounds it uses are
 * the float32 values 1e-7f and 1 - 1e-7f = 0.99999988. The upper bound matters: with p = 1,
 * t = 0 binary CE is -log(1 - 0.99999988 + 1e-7) = 15.333 (the figure in Keras' docs), not
 * -log(2e-7) = 15.425. So the constants are float32's, the arithmetic double. */
#define EPS_F 1e-7f
static const double EPS = (double)EPS_F;
static const double CLIP_HI = (double)(1.0f - EPS_F);

static const struct {
    const char *name;
    fv_loss_kind kind;
} loss_names[] = {
    /* canonical names first: fv__loss_name returns the first match of a kind */
    {"categorical_crossentropy", FV_LOSS_CATEGORICAL_CE},
    {"sparse_categorical_crossentropy", FV_LOSS_SPARSE_CATEGORICAL_CE},
    {"binary_crossentropy", FV_LOSS_BINARY_CE},
    {"mean_squared_error", FV_LOSS_MSE},
    {"mean_absolute_error", FV_LOSS_MAE},
    /* Keras' aliases (keras.losses: mse = MSE = mean_squared_error, mae = MAE = ...) */
    {"mse", FV_LOSS_MSE},
    {"MSE", FV_LOSS_MSE},
    {"mae", FV_LOSS_MAE},
    {"MAE", FV_LOSS_MAE},
};

fv_loss_kind fv__loss_from_name(const char *name)
{
    if (!name) return FV_LOSS_NONE;
    for (size_t i = 0; i < sizeof loss_names / sizeof loss_names[0]; i++)
        if (strcmp(name, loss_names[i].name) == 0) return loss_names[i].kind;
    return FV_LOSS_NONE;
}

const char *fv__loss_name(fv_loss_kind k)
{
    for (size_t i = 0; i < sizeof loss_names / sizeof loss_names[0]; i++)
        if (loss_names[i].kind == k) return loss_names[i].name;
    return "none";
}

int64_t fv__loss_label_limit(fv_loss_kind kind, int64_t k)
{
    if (k == 1 && (kind == FV_LOSS_BINARY_CE || kind == FV_LOSS_MSE || kind == FV_LOSS_MAE))
        return 2;
    return k;
}

/* ---- targets --------------------------------------------------------------------------------- */

/* Target j of sample i: the float value, or from a label the one-hot entry (never materialised),
 * or — with one output unit and a label — the label itself. */
static double target(const fv_targets *t, int64_t i, int64_t j, int64_t k)
{
    if (t->values) return (double)t->values[i * k + j];
    if (k == 1) return (double)t->labels[i];
    return t->labels[i] == j ? 1.0 : 0.0;
}

static void check_labels(fv_loss_kind kind, const fv_targets *t, int64_t n, int64_t k)
{
    FV_ASSERT(t && (t->labels || t->values));
    if (t->values) return;
    const int64_t limit = fv__loss_label_limit(kind, k);
    for (int64_t i = 0; i < n; i++)
        FV_ASSERT(t->labels[i] >= 0 && t->labels[i] < limit);
}

static double clip(double p)
{
    return p < EPS ? EPS : p > CLIP_HI ? CLIP_HI : p;
}

/* tf.clip_by_value's gradient passes where lo <= p <= hi and is zero outside. */
static bool inside(double p)
{
    return p >= EPS && p <= CLIP_HI;
}

/* ---- one sample: its loss, and (when g is not NULL) scale · ∂loss_i/∂y_i into g [k] -------------
 */

/* Keras (tf.keras backend.categorical_crossentropy, from_logits=False):
 *   q = y / Σy;  c = clip(q, eps, 1-eps);  L = -Σ t log c.
 * Autodiff, with g_m = -t_m/c_m where q_m is inside the clip (else 0):
 *   ∂L/∂y_j = Σ_m g_m ∂q_m/∂y_j = (g_j - Σ_m g_m q_m) / Σy.
 * The normalisation adds a constant to every component (1 for a one-hot t and Σy = 1); the
 * softmax Jacobian maps it to zero, so the chain equals the fused (p - t)/n. */
static double categorical(const float *y, const fv_targets *t, int64_t i, int64_t k, double scale,
                          float *g)
{
    double s = 0, loss = 0, dot = 0;
    for (int64_t j = 0; j < k; j++)
        s += y[j];
    for (int64_t j = 0; j < k; j++) {
        const double tj = target(t, i, j, k), q = y[j] / s;
        if (tj != 0) loss -= tj * log(clip(q));
        if (inside(q)) dot -= tj; /* g_j q_j = -t_j */
    }
    if (g)
        for (int64_t j = 0; j < k; j++) {
            const double q = y[j] / s, gj = inside(q) ? -target(t, i, j, k) / q : 0;
            g[j] = (float)(scale * (gj - dot) / s);
        }
    return loss;
}

/* Keras (tf.keras backend.sparse_categorical_crossentropy, from_logits=False) clips first and
 * hands log(c) to sparse_softmax_cross_entropy_with_logits, which renormalises:
 *   c = clip(y, eps, 1-eps);  L = -log(c_l / Σc) = -log c_l + log Σc.
 * (Categorical normalises before the clip, sparse after: the two differ in the last digits.)
 *   ∂L/∂y_j = [y_j inside the clip] · (1/Σc - [j = l]/c_l). */
static double sparse(const float *y, int32_t label, int64_t k, double scale, float *g)
{
    double csum = 0;
    for (int64_t j = 0; j < k; j++)
        csum += clip(y[j]);
    const double cl = clip(y[label]);
    if (g)
        for (int64_t j = 0; j < k; j++) {
            const double d = 1.0 / csum - (j == label ? 1.0 / cl : 0.0);
            g[j] = inside(y[j]) ? (float)(scale * d) : 0.0f;
        }
    return -log(cl) + log(csum);
}

/* Keras (tf.keras backend.binary_crossentropy, from_logits=False), element-wise, then
 * losses.binary_crossentropy takes the mean over the last axis:
 *   c = clip(y, eps, 1-eps);  e = -(t log(c + eps) + (1-t) log(1 - c + eps));  L = mean_j e.
 *   ∂L/∂y_j = [y_j inside the clip] · (-t/(c + eps) + (1-t)/(1 - c + eps)) / k. */
static double binary(const float *y, const fv_targets *t, int64_t i, int64_t k, double scale,
                     float *g)
{
    double loss = 0;
    for (int64_t j = 0; j < k; j++) {
        const double tj = target(t, i, j, k), c = clip(y[j]), a = c + EPS, b = 1.0 - c + EPS;
        loss -= tj * log(a) + (1.0 - tj) * log(b);
        if (g) g[j] = inside(y[j]) ? (float)(scale * (-tj / a + (1.0 - tj) / b) / (double)k) : 0;
    }
    return loss / (double)k;
}

/* Keras' losses.mean_squared_error / mean_absolute_error: mean over the last axis of (y-t)² or
 * |y-t|. Gradients 2(y-t)/k and sign(y-t)/k, with sign(0) = 0 as tf.abs's gradient has it. */
static double squared(const float *y, const fv_targets *t, int64_t i, int64_t k, double scale,
                      float *g)
{
    double loss = 0;
    for (int64_t j = 0; j < k; j++) {
        const double d = (double)y[j] - target(t, i, j, k);
        loss += d * d;
        if (g) g[j] = (float)(scale * 2.0 * d / (double)k);
    }
    return loss / (double)k;
}

static double absolute(const float *y, const fv_targets *t, int64_t i, int64_t k, double scale,
                       float *g)
{
    double loss = 0;
    for (int64_t j = 0; j < k; j++) {
        const double d = (double)y[j] - target(t, i, j, k);
        loss += fabs(d);
        if (g) g[j] = (float)(scale * (double)((d > 0) - (d < 0)) / (double)k);
    }
    return loss / (double)k;
}

/* Fused gradients with respect to the pre-activation z (y = softmax(z) or sigmoid(z)), what
 * Keras differentiates when it finds the cached logits (tf.nn.*_cross_entropy_with_logits):
 *   softmax + CE:   ∂L/∂z_j = y_j Σt - t_j   (y - onehot for a label)
 *   sigmoid + BCE:  ∂L/∂z_j = (y_j - t_j) / k
 * No clip: this gradient never vanishes on a confidently wrong sample. */
static void fused_grad(fv_loss_kind kind, const float *y, const fv_targets *t, int64_t i, int64_t k,
                       double scale, float *g)
{
    if (kind == FV_LOSS_BINARY_CE) {
        for (int64_t j = 0; j < k; j++)
            g[j] = (float)(scale * ((double)y[j] - target(t, i, j, k)) / (double)k);
        return;
    }
    double tsum = 1.0;
    if (t->values) {
        tsum = 0;
        for (int64_t j = 0; j < k; j++)
            tsum += t->values[i * k + j];
    }
    for (int64_t j = 0; j < k; j++) {
        const double tj = t->values ? (double)t->values[i * k + j] : (t->labels[i] == j);
        g[j] = (float)(scale * ((double)y[j] * tsum - tj));
    }
}

static double sample(fv_loss_kind kind, const float *y, const fv_targets *t, int64_t i, int64_t k,
                     double scale, float *g)
{
    switch (kind) {
    case FV_LOSS_CATEGORICAL_CE:
        return categorical(y, t, i, k, scale, g);
    case FV_LOSS_SPARSE_CATEGORICAL_CE:
        return sparse(y, t->labels[i], k, scale, g);
    case FV_LOSS_BINARY_CE:
        return binary(y, t, i, k, scale, g);
    case FV_LOSS_MSE:
        return squared(y, t, i, k, scale, g);
    case FV_LOSS_MAE:
        return absolute(y, t, i, k, scale, g);
    case FV_LOSS_NONE:
    case FV_LOSS_TASK: /* computed by the head's kind, never here */
        break;
    }
    FV_ASSERT(!"a loss kind");
    return 0;
}

static void check_args(fv_loss_kind kind, const float *y, const fv_targets *t, int64_t n, int64_t k)
{
    FV_ASSERT(y && n > 0 && k > 0);
    FV_ASSERT(kind != FV_LOSS_NONE);
    /* sparse CE takes integer labels only (Keras: y_true holds class ids) */
    FV_ASSERT(kind != FV_LOSS_SPARSE_CATEGORICAL_CE || (t && t->labels));
    check_labels(kind, t, n, k);
}

/* The batch loop is serial: n × k is small next to the layers, and a fixed summation order keeps
 * the loss independent of the thread count. The value is always Keras' formula on the
 * probabilities y (clipped), fused or not: with softmax outputs it equals Keras' logits-path
 * value except below p = 1e-7 (a sample loss above 16.1), where it is capped. */
double fv__loss(fv_loss_kind kind, const float *y, const fv_targets *t, int64_t n, int64_t k,
                bool fused, float *grad)
{
    check_args(kind, y, t, n, k);
    FV_ASSERT(!fused || kind == FV_LOSS_CATEGORICAL_CE || kind == FV_LOSS_SPARSE_CATEGORICAL_CE ||
              kind == FV_LOSS_BINARY_CE);
    /* Keras' SUM_OVER_BATCH_SIZE reduction: the sum of sample losses divided by n */
    const double scale = 1.0 / (double)n;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *yi = y + i * k;
        float *gi = grad ? grad + i * k : NULL;
        sum += sample(kind, yi, t, i, k, scale, fused ? NULL : gi);
        if (fused && gi) fused_grad(kind, yi, t, i, k, scale, gi);
    }
    return sum * scale;
}

void fv__loss_per_sample(fv_loss_kind kind, const float *y, const fv_targets *t, int64_t n,
                         int64_t k, double *out)
{
    check_args(kind, y, t, n, k);
    FV_ASSERT(out);
    for (int64_t i = 0; i < n; i++)
        out[i] = sample(kind, y + i * k, t, i, k, 1.0, NULL);
}
