/* test_optim.c — what a ResNet user expects of the optimizer: AdamW and decoupled weight decay
 * (Keras 3), the cosine and exponential learning-rate schedules against values worked from
 * Keras' formulas, the learning_rate history column, L1/L2 weight regularizers in the loss and its
 * gradient, and the compile line's checks and canonical text.
 */
#include "fovea.h"
#include "model/model_impl.h"
#include "test.h"

#include <math.h>

TEST(cosine_decay_follows_keras_with_and_without_warmup)
{
    fv_optim o;
    fv__optim_defaults(&o, FV_OPT_SGD);
    o.learning_rate = 0.1;
    o.schedule = FV_SCHED_COSINE_DECAY;
    o.decay_steps = 10;
    o.alpha = 0.1;
    /* step 5: half way, ½(1 + cos(π/2)) = 0.5, (1 − 0.1)·0.5 + 0.1 = 0.55 */
    CHECK_CLOSE(fv__optim_lr_at(&o, 0), 0.1, 1e-15, 1e-12);
    CHECK_CLOSE(fv__optim_lr_at(&o, 5), 0.055, 1e-15, 1e-12);
    CHECK_CLOSE(fv__optim_lr_at(&o, 10), 0.01, 1e-15, 1e-12);
    CHECK_CLOSE(fv__optim_lr_at(&o, 1000), 0.01, 1e-15, 1e-12); /* held at the floor */
    /* Warmup: from 0 to 0.1 over 4 steps, then the decay from 0.1 over 10. */
    o.learning_rate = 0.0;
    o.alpha = 0.0;
    o.warmup_target = 0.1;
    o.warmup_steps = 4;
    CHECK_CLOSE(fv__optim_lr_at(&o, 2), 0.05, 1e-15, 1e-12);
    CHECK_CLOSE(fv__optim_lr_at(&o, 4), 0.1, 1e-15, 1e-12);
    CHECK_CLOSE(fv__optim_lr_at(&o, 9), 0.05, 1e-15, 1e-12);
    CHECK_CLOSE(fv__optim_lr_at(&o, 14), 0.0, 1e-15, 1e-12);
}

TEST(exponential_decay_follows_keras)
{
    fv_optim o;
    fv__optim_defaults(&o, FV_OPT_ADAM);
    o.learning_rate = 0.1;
    o.schedule = FV_SCHED_EXPONENTIAL_DECAY;
    o.decay_steps = 10;
    o.decay_rate = 0.5;
    CHECK_CLOSE(fv__optim_lr_at(&o, 5), 0.1 * sqrt(0.5), 1e-15, 1e-12);
    CHECK_CLOSE(fv__optim_lr_at(&o, 20), 0.025, 1e-15, 1e-12);
    o.staircase = true;
    CHECK_CLOSE(fv__optim_lr_at(&o, 5), 0.1, 1e-15, 1e-12);
    CHECK_CLOSE(fv__optim_lr_at(&o, 19), 0.05, 1e-15, 1e-12);
}

/* AdamW (Keras 3): w ← w − lr·wd·w, then Adam's step from the gradient at the old w. Worked by
 * hand: w = 1, g = 0.5, lr = 0.01, wd = 0.004; after the decay 0.99996; m = 0.05, v = 0.00025,
 * lr_t = 0.01·sqrt(0.001)/0.1; w = 0.99996 − lr_t·0.05/(sqrt(0.00025) + 1e-7). */
TEST(adamw_decays_then_steps)
{
    fv_optim o;
    fv__optim_defaults(&o, FV_OPT_ADAMW);
    CHECK(o.weight_decay == 0.004 && o.learning_rate == 0.001);
    o.learning_rate = 0.01;
    float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.0f}, state[4] = {0, 0, 0, 0};
    fv__optim_step(&o, w, g, state, 2);
    const double lr_t = 0.01 * sqrt(1 - 0.999) / (1 - 0.9);
    const double want = 0.99996 - lr_t * 0.05 / (sqrt(0.00025) + 1e-7);
    CHECK_CLOSE(w[0], want, 1e-7, 1e-6);
    CHECK_CLOSE(w[1], -2.0 * (1 - 0.01 * 0.004), 1e-7, 1e-6); /* no gradient: decay only */
    /* SGD with weight_decay, no momentum: w ← w(1 − lr·wd) − lr·g. */
    fv__optim_defaults(&o, FV_OPT_SGD);
    o.learning_rate = 0.1;
    o.weight_decay = 0.5;
    float v[1] = {2.0f}, gv[1] = {1.0f};
    fv__optim_step(&o, v, gv, NULL, 1);
    CHECK_CLOSE(v[0], 2.0 * (1 - 0.05) - 0.1, 1e-7, 1e-6);
    /* The schedule sets the step's rate: step 0 of exponential decay is the initial rate, step 10
     * half of it. */
    fv__optim_defaults(&o, FV_OPT_SGD);
    o.learning_rate = 1.0;
    o.schedule = FV_SCHED_EXPONENTIAL_DECAY;
    o.decay_steps = 10;
    o.decay_rate = 0.5;
    o.staircase = true;
    o.iterations = 10;
    float u[1] = {0.0f}, gu[1] = {1.0f};
    fv__optim_step(&o, u, gu, NULL, 1);
    CHECK_CLOSE(u[0], -0.5, 1e-7, 1e-6);
}

static fv_dataset *tiny_data(void)
{
    enum { N = 20 };
    static float x[N * 4];
    static int32_t y[N];
    fv_rng r;
    fv__rng_seed(&r, 3);
    for (int i = 0; i < N * 4; i++)
        x[i] = 2 * fv__rng_uniform(&r) - 1;
    for (int i = 0; i < N; i++)
        y[i] = x[i * 4] + x[i * 4 + 1] > 0;
    const int64_t dims[1] = {4};
    return fv_dataset_from_f32(N, 1, dims, x, y);
}

TEST(history_records_the_learning_rate_of_each_epochs_last_step)
{
    fv_model *m = fv_model_parse_string(
        "input shape=4\ndense units=2 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1 "
        "schedule=exponential_decay decay_steps=2 decay_rate=0.5\n",
        "sched.fv");
    CHECK(m != NULL);
    fv_dataset *d = tiny_data();
    fv_fit_opts o = fv_fit_defaults();
    o.batch_size = 10; /* 2 steps an epoch */
    o.epochs = 3;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    const double *lr = fv_history_get(h, "learning_rate");
    CHECK(lr != NULL);
    /* The last steps are steps 1, 3, 5: 0.1·0.5^(step/2). */
    for (int e = 0; lr && e < 3; e++)
        CHECK_CLOSE(lr[e], 0.1 * pow(0.5, (2.0 * e + 1) / 2), 1e-12, 1e-9);
    CHECK_CLOSE(fv_model_last_fit(m).learning_rate, 0.1 * pow(0.5, 3.0), 1e-12, 1e-9);
    fv_history_free(h);
    /* reduce_lr_on_plateau cannot drive a schedule. */
    o.reduce_lr_on_plateau = "loss";
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "schedule");
    fv_model_free(m);
    fv_dataset_free(d);
}

/* Keras' L2 regularizer adds l2·Σw² to the loss (training and evaluation) and 2·l2·w to the
 * gradient. */
TEST(l2_regularizer_adds_its_penalty_and_gradient)
{
    const char *base = "input shape=4\ndense name=d units=2 activation=softmax%s\n"
                       "compile loss=sparse_categorical_crossentropy optimizer=sgd\n";
    char a[256], b[256];
    snprintf(a, sizeof a, base, "");
    snprintf(b, sizeof b, base, " kernel_regularizer=l2:0.01 bias_regularizer=l1:0.5");
    fv_model *plain = fv_model_parse_string(a, "a"), *reg = fv_model_parse_string(b, "b");
    CHECK(plain && reg);
    if (!plain || !reg) return;
    float x[8] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f};
    int32_t y[2] = {0, 1};
    fv_targets t = {.labels = y};
    double l0, l1;
    CHECK_OK(fv__model_loss_and_grad(plain, x, &t, 2, true, &l0));
    float *bias = fv_model_param(reg, "d.bias", NULL, NULL);
    bias[0] = 0.25f, bias[1] = -0.125f;
    memcpy(fv_model_param(plain, "d.bias", NULL, NULL), bias, 2 * sizeof(float));
    CHECK_OK(fv__model_loss_and_grad(plain, x, &t, 2, true, &l0));
    CHECK_OK(fv__model_loss_and_grad(reg, x, &t, 2, true, &l1));
    const float *w = fv_model_param(reg, "d.kernel", NULL, NULL);
    double sq = 0;
    for (int i = 0; i < 8; i++)
        sq += (double)w[i] * w[i];
    CHECK_CLOSE(l1 - l0, 0.01 * sq + 0.5 * (0.25 + 0.125), 1e-7, 1e-6);
    const float *g0 = fv__model_grad(plain, "d.kernel"), *g1 = fv__model_grad(reg, "d.kernel");
    for (int i = 0; i < 8; i++)
        CHECK_CLOSE(g1[i] - g0[i], 0.02 * w[i], 1e-7, 1e-5);
    const float *b0 = fv__model_grad(plain, "d.bias"), *b1 = fv__model_grad(reg, "d.bias");
    CHECK_CLOSE(b1[0] - b0[0], 0.5, 1e-7, 1e-6);
    CHECK_CLOSE(b1[1] - b0[1], -0.5, 1e-7, 1e-6);
    /* Evaluation reports the same penalty in its loss. */
    const int64_t dims[1] = {4};
    fv_dataset *d = fv_dataset_from_f32(2, 1, dims, x, y);
    double e0, e1;
    CHECK_OK(fv_model_evaluate(plain, d, 2, &e0, NULL));
    CHECK_OK(fv_model_evaluate(reg, d, 2, &e1, NULL));
    CHECK_CLOSE(e1 - e0, 0.01 * sq + 0.5 * (0.25 + 0.125), 1e-7, 1e-6);
    fv_dataset_free(d);
    fv_model_free(plain), fv_model_free(reg);
}

TEST(compile_checks_optimizer_and_schedule_keys_and_reads_back)
{
    fv_model *m = fv_model_parse_string("input shape=4\ndense units=2\n", "m");
    CHECK(fv_model_compile(m, "loss=mse optimizer=sgd beta_1=0.8") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "beta_1 applies to adam or adamw, not sgd");
    CHECK(fv_model_compile(m, "loss=mse schedule=cosine_decay") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "needs decay_steps");
    CHECK(fv_model_compile(m, "loss=mse decay_steps=3") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "decay_steps applies to a schedule");
    CHECK(fv_model_compile(m, "loss=mse schedule=exponential_decay decay_steps=3 alpha=0.1") ==
          FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "alpha applies to schedule=cosine_decay");
    CHECK(fv_model_compile(m, "loss=mse schedule=cosine_decay decay_steps=3 warmup_steps=2") ==
          FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "warmup_steps needs warmup_target");
    CHECK(fv_model_compile(m, "loss=mse optimizer=rmsprop") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "expected adam, adamw or sgd");
    CHECK(fv_model_add(m, "dense units=2 kernel_regularizer=l3:0.1") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "expected l2:FACTOR");
    CHECK_OK(fv_model_compile(m, "loss=mse optimizer=adamw learning_rate=0.01 weight_decay=0.05 "
                                 "schedule=cosine_decay decay_steps=100 alpha=0.1 "
                                 "warmup_target=0.1 warmup_steps=10"));
    char *t1 = fv_model_to_text(m);
    CHECK_STR_CONTAINS(t1, "optimizer=adamw learning_rate=0.01 weight_decay=0.05 "
                           "schedule=cosine_decay decay_steps=100 alpha=0.1 warmup_target=0.1 "
                           "warmup_steps=10");
    fv_model *m2 = fv_model_parse_string(t1, "t1");
    char *t2 = m2 ? fv_model_to_text(m2) : NULL;
    CHECK(t2 && strcmp(t1, t2) == 0);
    free(t1), free(t2);
    fv_model_free(m), fv_model_free(m2);
    m = fv_model_parse_string("input shape=4\ndense units=2 kernel_regularizer=l1_l2:0.01,0.02\n",
                              "r");
    t1 = fv_model_to_text(m);
    CHECK_STR_CONTAINS(t1, "kernel_regularizer=l1_l2:0.01,0.02");
    free(t1);
    fv_model_free(m);
}

/* A training step leaves the gradients zero when it covers them all (fv__optim_step_clear, Adam and
 * SGD), and the next pass then skips zeroing them: its gradients are those of a pass that zeroes
 * them (grads_clear forced off), bit for bit; with a frozen layer (gradients past ntrain) the step
 * leaves them and the next pass zeroes them. */
TEST(a_step_leaves_the_gradients_zero_for_the_next_pass)
{
    static const char *const texts[] = {
        "input shape=5\ndense units=7 activation=relu\ndense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
        "input shape=5\ndense units=7 activation=relu\ndense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=sgd momentum=0.9\n",
        "input shape=5\ndense units=7 activation=relu trainable=false\n"
        "dense units=3 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n",
    };
    float x[4 * 5];
    for (int i = 0; i < 4 * 5; i++)
        x[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    int32_t y[4] = {0, 1, 2, 1};
    fv_targets t = {.labels = y};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        fv_model *a = fv_model_parse_string(texts[k], "a.fv");
        fv_model *b = fv_model_parse_string(texts[k], "b.fv");
        CHECK(a && b);
        if (!a || !b) continue;
        CHECK_OK(fv__model_ensure_weights(a, 5));
        CHECK_OK(fv__model_ensure_weights(b, 5));
        double la, lb;
        for (int step = 0; step < 2; step++) {
            CHECK_OK(fv__model_train_step(a, x, &t, 4, &la));
            CHECK_OK(fv__model_train_step(b, x, &t, 4, &lb));
        }
        const bool all = a->ntrain == a->ngrads;
        CHECK(all == (k < 2) && a->grads_clear == all);
        bool zero = true;
        for (int64_t i = 0; i < a->ngrads; i++)
            zero = zero && a->grads[i] == 0.0f && !signbit(a->grads[i]);
        CHECK(zero == all);
        b->grads_clear = false; /* b's next pass zeroes them itself */
        CHECK_OK(fv__model_loss_and_grad(a, x, &t, 4, true, &la));
        CHECK_OK(fv__model_loss_and_grad(b, x, &t, 4, true, &lb));
        CHECK(!a->grads_clear && memcmp(&la, &lb, sizeof la) == 0);
        CHECK(memcmp(a->grads, b->grads, (size_t)a->ngrads * sizeof(float)) == 0);
        fv_model_free(a), fv_model_free(b);
    }
}

int main(void)
{
    RUN(cosine_decay_follows_keras_with_and_without_warmup);
    RUN(exponential_decay_follows_keras);
    RUN(adamw_decays_then_steps);
    RUN(history_records_the_learning_rate_of_each_epochs_last_step);
    RUN(l2_regularizer_adds_its_penalty_and_gradient);
    RUN(compile_checks_optimizer_and_schedule_keys_and_reads_back);
    RUN(a_step_leaves_the_gradients_zero_for_the_next_pass);
    return TEST_SUMMARY();
}
