/* optim.c — Keras' Adam and SGD (momentum, Nesterov) as one flat loop over the model's whole
 * parameter block. The per-step constants are computed once in double and rounded to float;
 * the element-wise update runs in float, as Keras' float32 variables do.
 */
#include "train/train.h"

#include <math.h>
#include <string.h>

/* Below this many elements a parallel region costs more than it saves. */
#define PARALLEL_MIN 32768

void fv__optim_defaults(fv_optim *o, fv_optim_kind kind)
{
    /* Keras' defaults (tf.keras.optimizers.Adam / SGD). Both kinds get every field, so that a
     * compile line can switch optimizers without leaving garbage behind. */
    *o = (fv_optim){
        .kind = kind,
        .learning_rate = kind == FV_OPT_SGD ? 0.01 : 0.001,
        .beta_1 = 0.9,
        .beta_2 = 0.999,
        .epsilon = 1e-7,
        .momentum = 0.0,
        .nesterov = false,
        .weight_decay = kind == FV_OPT_ADAMW ? 0.004 : 0.0,
        .schedule = FV_SCHED_NONE,
        .warmup_target = NAN,
        .decay_rate = 0.96,
        .iterations = 0,
    };
}

int fv__optim_slots(const fv_optim *o)
{
    if (o->kind == FV_OPT_ADAM || o->kind == FV_OPT_ADAMW) return 2;
    return o->momentum != 0.0 ? 1 : 0;
}

/* keras.optimizers.schedules.CosineDecay._decay_function: from `from` at step 0 down to
 * alpha·from at decay_steps. */
static double cosine(const fv_optim *o, double step, double from)
{
    const double frac = step / (double)o->decay_steps;
    const double cosine_decayed = 0.5 * (1.0 + cos(M_PI * frac));
    return from * ((1.0 - o->alpha) * cosine_decayed + o->alpha);
}

double fv__optim_lr_at(const fv_optim *o, int64_t step)
{
    const double lr = o->learning_rate, D = (double)o->decay_steps;
    switch (o->schedule) {
    case FV_SCHED_COSINE_DECAY:
        if (isnan(o->warmup_target)) return cosine(o, fmin((double)step, D), lr);
        if (step < o->warmup_steps)
            return lr + (o->warmup_target - lr) * (double)step / (double)o->warmup_steps;
        return cosine(o, fmin((double)(step - o->warmup_steps), D), o->warmup_target);
    case FV_SCHED_EXPONENTIAL_DECAY: {
        double p = (double)step / D;
        if (o->staircase) p = floor(p);
        return lr * pow(o->decay_rate, p);
    }
    case FV_SCHED_NONE:
        break;
    }
    return lr;
}

/* w -= lr·wd·w, Keras 3's decoupled weight decay, before the update. */
static void decay(float *restrict w, float f, int64_t n)
{
#pragma omp parallel for simd schedule(static) num_threads(fv__threads()) if (n >= PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        w[i] -= w[i] * f;
}

/* Adam as TensorFlow's ApplyAdam kernel computes it for Keras (training_ops.cc; Keras 3's
 * Adam.update_step is the same), with t = iterations + 1 and epsilon outside the square root:
 *   lr_t = lr · sqrt(1 - b2^t) / (1 - b1^t)
 *   m += (g - m)(1 - b1);  v += (g² - v)(1 - b2);  w -= lr_t · m / (sqrt(v) + eps)
 * (m += (g - m)(1 - b1) is b1·m + (1 - b1)·g, rounded as Keras rounds it.) */
static inline __attribute__((always_inline)) void adam_loop(float *restrict w, float *restrict g,
                                                            float *restrict m, float *restrict v,
                                                            int64_t n, float lr_t, float a1,
                                                            float a2, float eps, const bool clear)
{
#pragma omp parallel for simd schedule(static) num_threads(fv__threads()) if (n >= PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        m[i] += (gi - m[i]) * a1;
        v[i] += (gi * gi - v[i]) * a2;
        w[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
        if (clear) g[i] = 0.0f;
    }
}

/* With clear, g is left zero (fv__optim_step_clear). */
static void adam(const fv_optim *o, double lr, float *restrict w, float *restrict g,
                 float *restrict m, float *restrict v, int64_t n, bool clear)
{
    const double t = (double)(o->iterations + 1);
    const float lr_t = (float)(lr * sqrt(1.0 - pow(o->beta_2, t)) / (1.0 - pow(o->beta_1, t)));
    const float a1 = (float)(1.0 - o->beta_1), a2 = (float)(1.0 - o->beta_2);
    const float eps = (float)o->epsilon;
    /* Vectorised: CMakeLists.txt builds this file with -fno-math-errno (which changes no result;
     * without it sqrtf's errno keeps gcc and clang from vectorising, and a forced simd makes clang
     * warn). Each operation is correctly rounded in a vector lane as in a scalar. */
    if (clear)
        adam_loop(w, g, m, v, n, lr_t, a1, a2, eps, true);
    else
        adam_loop(w, g, m, v, n, lr_t, a1, a2, eps, false);
}

/* SGD as Keras computes it (Keras 3 SGD.update_step; TF's ApplyKerasMomentum):
 *   momentum 0:  w -= lr·g
 *   else:        v = mom·v - lr·g;  w += v   (Nesterov: w += mom·v - lr·g, with the new v) */
static void sgd(const fv_optim *o, double rate, float *restrict w, const float *restrict g,
                float *restrict vel, int64_t n)
{
    const float lr = (float)rate, mom = (float)o->momentum;
    if (o->momentum == 0.0) {
#pragma omp parallel for simd schedule(static) num_threads(fv__threads()) if (n >= PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++)
            w[i] -= lr * g[i];
        return;
    }
    const bool nesterov = o->nesterov;
#pragma omp parallel for simd schedule(static) num_threads(fv__threads()) if (n >= PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        vel[i] = mom * vel[i] - lr * g[i];
        w[i] += nesterov ? mom * vel[i] - lr * g[i] : vel[i];
    }
}

/* The step, and with clear g zeroed after it (SGD by a pass of its own: its loops are not the
 * seed's cost). */
static void step(fv_optim *o, float *w, float *g, float *state, int64_t n, bool clear)
{
    FV_ASSERT(o && n >= 0 && (n == 0 || (w && g)));
    FV_ASSERT(fv__optim_slots(o) == 0 || n == 0 || state);
    /* Each element's update reads and writes only that element: the split across threads
     * cannot change a single bit of the result. */
    if (n > 0) {
        const double lr = fv__optim_lr_at(o, o->iterations);
        if (o->weight_decay != 0.0) decay(w, (float)(lr * o->weight_decay), n);
        if (o->kind == FV_OPT_SGD) {
            sgd(o, lr, w, g, state, n);
            if (clear) memset(g, 0, (size_t)n * sizeof *g);
        } else {
            adam(o, lr, w, g, state, state + n, n, clear);
        }
    }
    o->iterations++; /* Keras counts a step even when nothing is trainable */
}

void fv__optim_step(fv_optim *o, float *w, const float *g, float *state, int64_t n)
{
    step(o, w, (float *)g, state, n, false); /* g only read */
}

void fv__optim_step_clear(fv_optim *o, float *w, float *g, float *state, int64_t n)
{
    step(o, w, g, state, n, true);
}
