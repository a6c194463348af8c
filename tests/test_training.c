/* test_training.c — what fit promises, asserted as properties against independent statements
 * of them, through the public API: each epoch visits the training samples in an order that is
 * a permutation, changes from epoch to epoch and follows the seed; validation_split holds out
 * the tail; a step's gradient is the mean over its batch, the last partial batch included, and
 * the epoch's loss weights each batch by its size; initial weights follow Keras' Glorot-uniform.
 *
 * The order is observed from outside: sample i is the one-hot vector e_i, so that with SGD only
 * row i of a dense kernel moves when sample i is in the batch; on_batch compares the kernel
 * with its copy from the step before.
 */
#include "fovea.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

enum { N = 24, CLASSES = 2 };

/* N one-hot samples of N features, labels alternating 0, 1. */
static fv_dataset *one_hot(int64_t n)
{
    float *x = calloc((size_t)(n * N), sizeof *x);
    int32_t y[N];
    for (int64_t i = 0; i < n; i++) {
        x[i * N + i] = 1.0f;
        y[i] = (int32_t)(i % 2);
    }
    fv_dataset *d = fv_dataset_from_f32(n, 1, (int64_t[]){N}, x, y);
    free(x);
    CHECK(d != NULL);
    return d;
}

/* A dense softmax layer without bias, SGD without momentum. */
static fv_model *probe_model(double lr)
{
    char text[256];
    snprintf(text, sizeof text,
             "input shape=%d\ndense units=%d activation=softmax use_bias=false\n"
             "compile loss=categorical_crossentropy optimizer=sgd learning_rate=%g\n",
             N, CLASSES, lr);
    fv_model *m = fv_model_parse_string(text, "probe");
    if (!m) {
        fprintf(stderr, "  %s\n", fv_last_error());
        test_failed_checks++;
    }
    return m;
}

/* What on_batch records: for each step, the samples whose kernel row moved, and the moves. */
typedef struct probe {
    fv_model *m;
    float before[N * CLASSES]; /* the kernel before the step */
    int64_t order[8][N];       /* per epoch, the samples in the order they were trained */
    int64_t seen[8];
    int64_t step_size[64];    /* samples in each step of the first epoch */
    float delta[N * CLASSES]; /* each row's move in its step (the first epoch) */
    float row_before[N * CLASSES];
    int bad;
} probe;

static float *kernel_of(fv_model *m)
{
    int rank;
    int64_t d[4];
    return fv_model_param(m, "dense.kernel", &rank, d);
}

static bool on_batch(void *user, const fv_logs *logs)
{
    probe *p = user;
    const float *w = kernel_of(p->m);
    int64_t moved = 0;
    for (int64_t i = 0; i < N; i++) {
        bool row_moved = false;
        for (int c = 0; c < CLASSES; c++)
            row_moved |= w[i * CLASSES + c] != p->before[i * CLASSES + c];
        if (!row_moved) continue;
        moved++;
        if (logs->epoch < 8 && p->seen[logs->epoch] < N)
            p->order[logs->epoch][p->seen[logs->epoch]++] = i;
        if (logs->epoch == 0)
            for (int c = 0; c < CLASSES; c++) {
                p->delta[i * CLASSES + c] = w[i * CLASSES + c] - p->before[i * CLASSES + c];
                p->row_before[i * CLASSES + c] = p->before[i * CLASSES + c];
            }
    }
    if (logs->epoch == 0 && logs->step - 1 < 64) p->step_size[logs->step - 1] = moved;
    memcpy(p->before, w, sizeof p->before);
    return true;
}

/* Trains `epochs` epochs of the one-hot data and records the order of every epoch. */
static void record_orders(probe *p, uint64_t seed, bool shuffle, int64_t epochs, int64_t batch,
                          double validation_split)
{
    memset(p, 0, sizeof *p);
    p->m = probe_model(0.5);
    fv_dataset *d = one_hot(N);
    if (!p->m || !d) {
        fv_model_free(p->m);
        fv_dataset_free(d);
        p->m = NULL;
        return;
    }
    fv_fit_opts o = fv_fit_defaults();
    o.seed = seed;
    o.shuffle = shuffle;
    o.epochs = epochs;
    o.batch_size = batch;
    o.validation_split = validation_split;
    o.on_batch = on_batch;
    o.user = p;
    const float *w = kernel_of(p->m); /* the weights, initialised from the model's seed */
    CHECK(w != NULL);
    if (w) memcpy(p->before, w, sizeof p->before);
    CHECK_OK(fv_model_fit(p->m, d, &o, NULL));
    fv_dataset_free(d);
}

static bool is_permutation(const int64_t *order, int64_t n)
{
    int hits[N] = {0};
    for (int64_t i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n || hits[order[i]]++) return false;
    }
    return true;
}

static bool same_order(const int64_t *a, const int64_t *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

static bool is_identity(const int64_t *order, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (order[i] != i) return false;
    return true;
}

TEST(each_epoch_is_a_new_permutation_that_follows_the_seed)
{
    probe a, b, c;
    record_orders(&a, 7, true, 4, 1, 0);
    record_orders(&b, 7, true, 4, 1, 0);
    record_orders(&c, 8, true, 4, 1, 0);
    if (!a.m || !b.m || !c.m) goto done;
    for (int e = 0; e < 4; e++) {
        CHECK(a.seen[e] == N && is_permutation(a.order[e], N));
        CHECK(!is_identity(a.order[e], N));            /* 1 in 24! by chance */
        CHECK(same_order(a.order[e], b.order[e], N));  /* the same seed: the same orders */
        CHECK(!same_order(a.order[e], c.order[e], N)); /* another seed: others */
        for (int f = 0; f < e; f++)
            CHECK(!same_order(a.order[e], a.order[f], N)); /* a new order every epoch */
    }
done:
    fv_model_free(a.m), fv_model_free(b.m), fv_model_free(c.m);
    /* shuffle=false: the stored order, every epoch. */
    record_orders(&a, 7, false, 2, 1, 0);
    if (!a.m) return;
    CHECK(a.seen[0] == N && is_identity(a.order[0], N) && is_identity(a.order[1], N));
    fv_model_free(a.m);
}

TEST(validation_split_holds_out_the_tail)
{
    /* validation_split 0.25 of 24: samples 0..17 are trained, in shuffled order, and 18..23
     * never are; the validation loss is the loss of 18..23. */
    probe p;
    record_orders(&p, 3, true, 2, 1, 0.25);
    if (!p.m) return;
    CHECK(p.seen[0] == 18 && p.seen[1] == 18);
    CHECK(is_permutation(p.order[0], 18) && is_permutation(p.order[1], 18));
    CHECK(!is_identity(p.order[0], 18));
    fv_model_free(p.m);

    fv_model *m = probe_model(0.5);
    fv_dataset *d = one_hot(N), *all = one_hot(N);
    if (!m || !d || !all) goto done;
    fv_dataset *tail = fv_dataset_split_tail(all, 0.25);
    CHECK(tail && fv_dataset_count(tail) == 6 && fv_dataset_count(all) == 18);
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 2;
    o.validation_split = 0.25;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    /* The tail's kernel rows never moved, so its loss now is the loss of every epoch. */
    double tail_loss = NAN, head_loss = NAN;
    CHECK_OK(fv_model_evaluate(m, tail, 6, &tail_loss, NULL));
    CHECK_OK(fv_model_evaluate(m, all, 18, &head_loss, NULL));
    const double *val = h ? fv_history_get(h, "val_loss") : NULL;
    CHECK(val != NULL);
    if (val) {
        CHECK_CLOSE(val[0], tail_loss, 1e-6, 1e-6);
        CHECK_CLOSE(val[1], tail_loss, 1e-6, 1e-6);
        CHECK(fabs(val[1] - head_loss) > 1e-3); /* the test can tell the parts apart */
    }
    fv_history_free(h);
    fv_dataset_free(tail);
done:
    fv_model_free(m);
    fv_dataset_free(d);
    fv_dataset_free(all);
}

/* Softmax of a row of CLASSES logits, in double. */
static void softmax2(const float *z, double *p)
{
    double mx = z[0] > z[1] ? z[0] : z[1], e0 = exp(z[0] - mx), e1 = exp(z[1] - mx);
    p[0] = e0 / (e0 + e1), p[1] = e1 / (e0 + e1);
}

TEST(a_step_is_the_mean_over_its_batch_and_the_epoch_loss_weights_batches_by_size)
{
    /* 10 samples in batches of 4, 4 and 2, in order. Sample i's logits are its kernel row, so a
     * step moves row i by -lr · (softmax(row) - onehot(label)) / (samples in the step); and as
     * each row moves only in its own step, the epoch's loss is the mean of the 10 samples' loss
     * at the initial weights, whatever the batches. */
    const int64_t n = 10, batch = 4;
    const double lr = 0.5;
    probe p;
    memset(&p, 0, sizeof p);
    p.m = probe_model(lr);
    fv_dataset *d = one_hot(n);
    if (!p.m || !d) goto done;
    const float *w = kernel_of(p.m);
    CHECK(w != NULL);
    if (!w) goto done;
    memcpy(p.before, w, sizeof p.before);
    double want_loss = 0, per_batch_mean = 0, batch_sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double q[2];
        softmax2(w + i * CLASSES, q);
        const double li = -log(q[i % 2]);
        want_loss += li / (double)n;
        batch_sum += li;
        if (i % batch == batch - 1 || i == n - 1) {
            const int64_t size = i % batch + 1;
            per_batch_mean += batch_sum / (double)size / 3.0; /* 3 batches, each counted once */
            batch_sum = 0;
        }
    }
    fv_fit_opts o = fv_fit_defaults();
    o.batch_size = batch;
    o.shuffle = false;
    o.on_batch = on_batch;
    o.user = &p;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(p.m, d, &o, &h));
    CHECK(p.step_size[0] == 4 && p.step_size[1] == 4 && p.step_size[2] == 2);
    for (int64_t i = 0; i < n; i++) {
        const double size = i < 8 ? 4 : 2;
        double q[2];
        softmax2(p.row_before + i * CLASSES, q);
        for (int c = 0; c < CLASSES; c++) {
            const double g = (q[c] - (c == i % 2 ? 1.0 : 0.0)) / size;
            CHECK_CLOSE(p.delta[i * CLASSES + c], -lr * g, 1e-6, 1e-4);
        }
    }
    const double *loss = h ? fv_history_get(h, "loss") : NULL;
    CHECK(loss != NULL);
    if (loss) {
        CHECK_CLOSE(loss[0], want_loss, 1e-6, 1e-5);
        CHECK(fabs(want_loss - per_batch_mean) > 1e-3); /* the test can tell the two apart */
    }
    fv_history_free(h);
done:
    fv_model_free(p.m);
    fv_dataset_free(d);
}

/* The initial weights of `tensor` lie within ±limit, reach close to it, and have mean 0 and
 * variance limit²/3 within `tol` (relative), limit = sqrt(6 / (fan_in + fan_out)). */
static void check_glorot(const char *text, const char *tensor, double fan_in, double fan_out,
                         double tol)
{
    fv_model *m = fv_model_parse_string(text, "glorot");
    CHECK(m != NULL);
    if (!m) return;
    int rank;
    int64_t d[4];
    const float *w = fv_model_param(m, tensor, &rank, d);
    CHECK(w != NULL);
    if (!w) {
        fv_model_free(m);
        return;
    }
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= d[i];
    const double limit = sqrt(6.0 / (fan_in + fan_out));
    double sum = 0, sq = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += w[i], sq += (double)w[i] * w[i];
        if (fabs(w[i]) > mx) mx = fabs(w[i]);
    }
    const double mean = sum / (double)n, var = sq / (double)n - mean * mean;
    if (!(mx <= limit && mx > 0.99 * limit && fabs(mean) < tol * limit &&
          fabs(var / (limit * limit / 3) - 1) < tol)) {
        fprintf(stderr,
                "  %s: %lld weights, largest |w| %.6g, mean %.3g, variance %.6g; Glorot limit "
                "%.6g, variance %.6g\n",
                tensor, (long long)n, mx, mean, var, limit, limit * limit / 3);
        test_failed_checks++;
    }
    fv_model_free(m);
}

TEST(initial_weights_are_glorot_uniform_with_keras_fans)
{
    /* Dense: fan_in = inputs, fan_out = units. 600,000 weights: the variance's relative
     * standard error is 0.89/sqrt(n) = 0.0012, the tolerance 1%. */
    check_glorot("input shape=1200\ndense units=500\n", "dense.kernel", 1200, 500, 0.01);
    /* Conv2D: fan_in = kh·kw·in, fan_out = kh·kw·filters (Keras' _compute_fans). 5x3 kernel,
     * 48 in, 80 filters: 57,600 weights, standard error 0.0037, tolerance 2%. */
    check_glorot("input shape=12,12,48\nconv2d filters=80 kernel_size=5,3\n", "conv2d.kernel",
                 5 * 3 * 48, 5 * 3 * 80, 0.02);
}

TEST(biases_start_at_zero)
{
    fv_model *m = fv_model_parse_string("input shape=6,6,2\nconv2d filters=5 kernel_size=3\n"
                                        "flatten\ndense units=7\n",
                                        "zeros");
    CHECK(m != NULL);
    if (!m) return;
    int rank;
    int64_t d[4];
    const float *cb = fv_model_param(m, "conv2d.bias", &rank, d);
    const float *db = fv_model_param(m, "dense.bias", &rank, d);
    CHECK(cb && db);
    for (int i = 0; cb && i < 5; i++)
        CHECK(cb[i] == 0);
    for (int i = 0; db && i < 7; i++)
        CHECK(db[i] == 0);
    fv_model_free(m);
}

int main(void)
{
    fv_set_threads(2);
    RUN(each_epoch_is_a_new_permutation_that_follows_the_seed);
    RUN(validation_split_holds_out_the_tail);
    RUN(a_step_is_the_mean_over_its_batch_and_the_epoch_loss_weights_batches_by_size);
    RUN(initial_weights_are_glorot_uniform_with_keras_fans);
    RUN(biases_start_at_zero);
    return TEST_SUMMARY();
}
