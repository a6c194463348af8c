/* test_model.c — the Sequential model through the public API: the model-file parser (good and
 * bad lines), Keras' summary, the canonical text, save/load round trips, a whole-model gradient
 * check, training that learns, and runs that repeat bit for bit (threads included).
 */
#include "fovea.h"
#include "model/model.h"
#include "kernels/bf16.h"
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

static const char *seed_model =
    "# the seed's Keras CNN\n"
    "input shape=28,28,1\n"
    "conv2d filters=32 kernel_size=3 activation=relu\n"
    "conv2d filters=64 kernel_size=3 activation=relu\n"
    "maxpool2d pool_size=2\n"
    "dropout rate=0.25\n"
    "flatten\n"
    "dense units=128 activation=relu\n"
    "dropout rate=0.5\n"
    "dense units=10 activation=softmax\n"
    "compile loss=categorical_crossentropy optimizer=adam learning_rate=0.001 metrics=accuracy\n"
    "fit batch_size=128 epochs=5\n";

/* Parses text that must fail; returns the error message. */
static const char *parse_error(const char *text)
{
    fv_model *m = fv_model_parse_string(text, "bad.fv");
    CHECK(m == NULL);
    fv_model_free(m);
    return fv_last_error();
}

TEST(seed_model_summary_matches_keras)
{
    fv_model *m = fv_model_parse_string(seed_model, "seed.fv");
    CHECK(m != NULL);
    if (!m) return;
    CHECK(fv_model_param_count(m) == 1199882);
    const char *names[] = {"conv2d",  "conv2d_1", "max_pooling2d", "dropout",
                           "flatten", "dense",    "dropout_1",     "dense_1"};
    CHECK(fv_model_layer_count(m) == 8);
    for (int i = 0; i < 8; i++)
        CHECK(strcmp(fv_model_layer_name(m, i), names[i]) == 0);
    int64_t d[4];
    CHECK(fv_model_layer_shape(m, 2, d) == 3 && d[0] == 12 && d[1] == 12 && d[2] == 64);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_OK(fv_model_summary(m, f));
    fclose(f);
    CHECK_STR_CONTAINS(buf, "Total params: 1,199,882");
    CHECK_STR_CONTAINS(buf, "conv2d_1 (Conv2D)");
    CHECK_STR_CONTAINS(buf, "(None, 24, 24, 64)");
    CHECK_STR_CONTAINS(buf, "max_pooling2d (MaxPooling2D)");
    CHECK_STR_CONTAINS(buf, "1,179,776");
    free(buf);
    fv_fit_opts fit = fv_model_fit_opts(m);
    CHECK(fit.batch_size == 128 && fit.epochs == 5 && fit.shuffle);
    fv_model_free(m);
}

TEST(layer_arg_gives_given_and_default_values_as_model_text)
{
    fv_model *m = fv_model_parse_string(seed_model, "seed.fv");
    CHECK(m != NULL);
    if (!m) return;
    char v[32];
    CHECK_OK(fv_model_layer_arg(m, 0, "kernel_size", v, sizeof v)); /* given: kernel_size=3 */
    CHECK(strcmp(v, "3") == 0);
    CHECK_OK(fv_model_layer_arg(m, 0, "activation", v, sizeof v));
    CHECK(strcmp(v, "relu") == 0);
    CHECK_OK(fv_model_layer_arg(m, 0, "padding", v, sizeof v)); /* not given: Keras' default */
    CHECK(strcmp(v, "valid") == 0);
    CHECK_OK(fv_model_layer_arg(m, 3, "rate", v, sizeof v)); /* dropout rate=0.25 */
    CHECK(strcmp(v, "0.25") == 0);
    CHECK(fv_model_layer_arg(m, 0, "units", v, sizeof v) == FV_ERR_INVALID && v[0] == '\0');
    CHECK(fv_model_layer_arg(m, 8, "units", v, sizeof v) == FV_ERR_INVALID);
    CHECK(fv_model_layer_arg(m, 0, "activation", v, 3) == FV_ERR_NOMEM && strcmp(v, "re") == 0);
    fv_model_free(m);

    m = fv_model_parse_string("input shape=4\ndense units=4 name=m\ndense units=4 name=v inputs=m\n"
                              "sampling inputs=m,v inference=mean\n",
                              "vae.fv");
    CHECK(m != NULL);
    if (!m) return;
    CHECK_OK(fv_model_layer_arg(m, 2, "inference", v, sizeof v));
    CHECK(strcmp(v, "mean") == 0);
    fv_model_free(m);
}

TEST(typed_constructors_build_the_same_model_as_the_file)
{
    fv_model *a = fv_model_parse_string(seed_model, "seed.fv");
    fv_model *b = fv_model_new();
    CHECK_OK(fv_model_add_input(b, 3, (int64_t[]){28, 28, 1}));
    CHECK_OK(fv_model_add_conv2d(b, 32, 3, 1, FV_PAD_VALID, FV_ACT_RELU));
    CHECK_OK(fv_model_add_conv2d(b, 64, 3, 1, FV_PAD_VALID, FV_ACT_RELU));
    CHECK_OK(fv_model_add_maxpool2d(b, 2));
    CHECK_OK(fv_model_add_dropout(b, 0.25));
    CHECK_OK(fv_model_add_flatten(b));
    CHECK_OK(fv_model_add_dense(b, 128, FV_ACT_RELU));
    CHECK_OK(fv_model_add_dropout(b, 0.5));
    CHECK_OK(fv_model_add_dense(b, 10, FV_ACT_SOFTMAX));
    CHECK(fv_model_param_count(a) == fv_model_param_count(b));
    for (int i = 0; i < fv_model_layer_count(a); i++)
        CHECK(strcmp(fv_model_layer_name(a, i), fv_model_layer_name(b, i)) == 0);
    fv_model_free(a);
    fv_model_free(b);
}

TEST(canonical_text_reads_back_the_same)
{
    fv_model *m = fv_model_parse_string(seed_model, "seed.fv");
    char *t1 = m ? fv_model_to_text(m) : NULL;
    fv_model *m2 = t1 ? fv_model_parse_string(t1, "canonical") : NULL;
    char *t2 = m2 ? fv_model_to_text(m2) : NULL;
    CHECK(t1 && t2 && strcmp(t1, t2) == 0);
    CHECK_STR_CONTAINS(t1, "conv2d filters=32 kernel_size=3 activation=relu");
    CHECK_STR_CONTAINS(t1, "compile loss=categorical_crossentropy optimizer=adam "
                           "learning_rate=0.001 metrics=accuracy");
    CHECK_STR_CONTAINS(t1, "fit batch_size=128 epochs=5");
    free(t1);
    free(t2);
    fv_model_free(m);
    fv_model_free(m2);
}

TEST(bad_lines_name_the_file_line_and_problem)
{
    const char *e;
    e = parse_error("input shape=28,28,1\nconv2 filters=3 kernel_size=3\n");
    CHECK_STR_CONTAINS(e, "bad.fv:2");
    CHECK_STR_CONTAINS(e, "unknown layer or directive 'conv2'");
    /* the known kinds are listed whole, up to the last registered one */
    {
        int last = 0;
        while (fv__layer_kinds[last + 1])
            last++;
        char tail[128];
        snprintf(tail, sizeof tail, ", %s, model, compile, fit)", fv__layer_kinds[last]->name);
        CHECK_STR_CONTAINS(e, tail);
    }
    e = parse_error("input shape=28,28,1\n\nconv2d filter=3 kernel_size=3\n");
    CHECK_STR_CONTAINS(e, "bad.fv:3");
    CHECK_STR_CONTAINS(e, "filter");
    e = parse_error("input shape=8,8,1\nconv2d filters=3 kernel_size=3 activation=rellu\n");
    CHECK_STR_CONTAINS(e, "bad.fv:2");
    CHECK_STR_CONTAINS(e, "rellu");
    e = parse_error("input shape=4,4,1\nconv2d filters=3 kernel_size=5\n");
    CHECK_STR_CONTAINS(e, "bad.fv:2");
    CHECK_STR_CONTAINS(e, "4");
    e = parse_error("input shape=8,8,1\nconv2d filters=2 kernel_size=3\ndense units=3\n");
    CHECK_STR_CONTAINS(e, "bad.fv:3");
    CHECK_STR_CONTAINS(e, "flatten");
    e = parse_error(
        "input shape=4\ndense units=3\ncompile loss=categorical_crossentropy optimizer=rmsprop\n");
    CHECK_STR_CONTAINS(e, "rmsprop");
    e = parse_error("input shape=4\ndense units=3\ncompile loss=crossentropy\n");
    CHECK_STR_CONTAINS(e, "crossentropy");
    e = parse_error("input shape=4\ndense units=3\nfit batch_size=0\n");
    CHECK_STR_CONTAINS(e, "batch_size");
    e = parse_error("input shape=4\ndense units=3\nfit epochs=5 epochz=3\n");
    CHECK_STR_CONTAINS(e, "epochz");
    e = parse_error("dense units=3\n");
    CHECK_STR_CONTAINS(e, "input");
    e = parse_error("input shape=4\ndense units=3 units=4\n");
    CHECK_STR_CONTAINS(e, "twice");
    e = parse_error("input shape=4\ndense units\n");
    CHECK_STR_CONTAINS(e, "key=value");
    e = parse_error("input shape=4\ndense units=3 name=a\ndense units=3 name=a\n");
    CHECK_STR_CONTAINS(e, "another layer");
}

TEST(compile_errors_leave_the_model_unchanged)
{
    fv_model *m = fv_model_parse_string("input shape=4\ndense units=3 activation=softmax\n", "m");
    CHECK_OK(fv_model_compile(
        m, "loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1"));
    CHECK(fv_model_compile(m, "loss=mse momentum=x") != FV_OK);
    char *t = fv_model_to_text(m);
    CHECK_STR_CONTAINS(t, "loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1");
    free(t);
    fv_model_free(m);
}

/* A small classification problem: class = which quadrant of a 6x6 image holds a bright blob. */
static fv_dataset *quadrants(int64_t n, uint64_t seed)
{
    uint8_t *x = calloc((size_t)n * 36, 1);
    int32_t *y = calloc((size_t)n, sizeof *y);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int c = (int)((s >> 33) % 4);
        y[i] = c;
        for (int p = 0; p < 36; p++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i * 36 + p] = (uint8_t)((s >> 40) % 60);
        }
        int r0 = (c / 2) * 3, c0 = (c % 2) * 3;
        for (int r = 0; r < 3; r++)
            for (int q = 0; q < 3; q++)
                x[i * 36 + (r0 + r) * 6 + c0 + q] = 200;
    }
    fv_dataset *d = fv_dataset_from_u8(n, 3, (int64_t[]){6, 6, 1}, x, y);
    free(x);
    free(y);
    return d;
}

static const char *small_cnn =
    "input shape=6,6,1\n"
    "conv2d filters=4 kernel_size=3 padding=same activation=relu\n"
    "maxpool2d pool_size=2\n"
    "dropout rate=0.1\n"
    "flatten\n"
    "dense units=4 activation=softmax\n"
    "compile loss=categorical_crossentropy optimizer=adam learning_rate=0.01 metrics=accuracy\n";

/* Fits m 8 epochs (batch 16) on 400 quadrant images, validating on test; the history. */
static fv_history *fit_quadrants(fv_model *m, const fv_dataset *test)
{
    fv_dataset *train = quadrants(400, 1);
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 8;
    o.batch_size = 16;
    o.validation_data = test;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    fv_dataset_free(train);
    return h;
}

TEST(training_learns_and_history_records_it)
{
    fv_dataset *test = quadrants(100, 2);
    fv_model *m = fv_model_parse_string(small_cnn, "small");
    fv_history *h = fit_quadrants(m, test);
    CHECK(h && fv_history_epochs(h) == 8);
    const double *loss = h ? fv_history_get(h, "loss") : NULL;
    const double *vacc = h ? fv_history_get(h, "val_accuracy") : NULL;
    CHECK(loss && vacc);
    if (loss && vacc) {
        CHECK(loss[7] < loss[0]);
        CHECK(vacc[7] > 0.9);
    }
    double l, a;
    CHECK_OK(fv_model_evaluate(m, test, 32, &l, &a));
    if (vacc) CHECK_CLOSE(a, vacc[7], 1e-12, 0);
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(test);
}

TEST(validation_split_takes_the_tail)
{
    fv_dataset *train = quadrants(100, 3);
    fv_model *m = fv_model_parse_string(small_cnn, "small");
    fv_fit_opts o = fv_fit_defaults();
    o.validation_split = 0.2;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, train, &o, &h));
    /* val_loss after the epoch equals evaluating the last 20 samples. */
    fv_dataset *tail = fv_dataset_split_tail(train, 0.2);
    double l;
    CHECK(tail && fv_dataset_count(tail) == 20);
    CHECK_OK(fv_model_evaluate(m, tail, 32, &l, NULL));
    CHECK(h && fv_history_get(h, "val_loss"));
    if (h && fv_history_get(h, "val_loss"))
        CHECK_CLOSE(fv_history_get(h, "val_loss")[0], l, 1e-9, 1e-6);
    fv_history_free(h);
    fv_dataset_free(tail);
    fv_model_free(m);
    fv_dataset_free(train);
}

/* Trains a fresh small model and returns a checksum of all weights (bit pattern); precision
 * NULL: the default. */
static uint64_t train_checksum_prec(int threads, const char *precision)
{
    if (threads) fv_set_threads(threads);
    fv_dataset *train = quadrants(96, 5);
    fv_model *m = fv_model_parse_string(small_cnn, "small");
    if (m && precision && fv_model_set_precision(m, precision) != FV_OK) {
        fv_model_free(m);
        m = NULL;
    }
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 2;
    o.batch_size = 24;
    o.seed = 7;
    uint64_t sum = 0;
    if (m && fv_model_fit(m, train, &o, NULL) == FV_OK) {
        for (int i = 0; i < fv_model_layer_count(m); i++) {
            const char *suffix[] = {"kernel", "bias"};
            for (int p = 0; p < 2; p++) {
                char name[128];
                snprintf(name, sizeof name, "%s.%s", fv_model_layer_name(m, i), suffix[p]);
                int rank;
                int64_t d[4];
                float *w = fv_model_param(m, name, &rank, d);
                if (!w) continue;
                int64_t n = 1;
                for (int r = 0; r < rank; r++)
                    n *= d[r];
                for (int64_t j = 0; j < n; j++) {
                    uint32_t bits;
                    memcpy(&bits, &w[j], 4);
                    sum = sum * 1099511628211ULL + bits;
                }
            }
        }
    }
    fv_model_free(m);
    fv_dataset_free(train);
    return sum;
}

static uint64_t train_checksum(int threads)
{
    return train_checksum_prec(threads, NULL);
}

TEST(precision_bf16_learns_is_recorded_and_thread_independent)
{
    fv_model *m = fv_model_parse_string(small_cnn, "small");
    CHECK(m && strcmp(fv_model_precision(m), "fp32") == 0);
    CHECK(fv_model_set_precision(m, "fp16") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "precision=fp16: expected fp32 or bf16");
    CHECK(fv_model_compile(m, "loss=categorical_crossentropy precision=half") == FV_ERR_INVALID);
    if (strcmp(fv_gemm_bf16_path(), "emulated") == 0) {
        /* No bf16 instructions here: refused, plainly, and the model stays fp32. */
        CHECK(fv_model_set_precision(m, "bf16") == FV_ERR_INVALID);
        CHECK_STR_CONTAINS(fv_last_error(), "neither AVX512_BF16 nor AMX-BF16");
        CHECK(strcmp(fv_model_precision(m), "fp32") == 0);
        fv_model_free(m);
        printf("    (bf16 training not run: this CPU has no bf16 instructions)\n");
        return;
    }
    /* It learns as fp32 does, and the model text records it. */
    CHECK_OK(fv_model_set_precision(m, "bf16"));
    fv_dataset *test = quadrants(100, 2);
    fv_history *h = fit_quadrants(m, test);
    const double *vacc = h ? fv_history_get(h, "val_accuracy") : NULL;
    CHECK(vacc && vacc[7] > 0.9);
    char *text = fv_model_to_text(m);
    CHECK(text && strstr(text, " precision=bf16"));
    fv_model *back = text ? fv_model_parse_string(text, "back") : NULL;
    CHECK(back && strcmp(fv_model_precision(back), "bf16") == 0);
    fv_model_free(back), free(text), fv_history_free(h), fv_model_free(m);
    fv_dataset_free(test);
    /* Bit-identical for any thread count, and not the fp32 result. */
    const uint64_t a = train_checksum_prec(1, "bf16"), b = train_checksum_prec(2, "bf16");
    const uint64_t f = train_checksum_prec(2, "fp32");
    fv_set_threads(0);
    CHECK(a != 0 && a == b);
    CHECK(f != 0 && f != a);
}

TEST(same_seed_same_weights_whatever_the_thread_count)
{
    uint64_t a = train_checksum(1), b = train_checksum(1), c = train_checksum(2);
    fv_set_threads(0);
    CHECK(a != 0);
    CHECK(a == b);
    CHECK(a == c);
}

static void *train_in_thread(void *out)
{
    *(uint64_t *)out = train_checksum(0);
    return NULL;
}

TEST(two_models_in_two_threads_match_each_trained_alone)
{
    uint64_t alone = train_checksum(0), r1 = 0, r2 = 0;
    pthread_t t1, t2;
    pthread_create(&t1, NULL, train_in_thread, &r1);
    pthread_create(&t2, NULL, train_in_thread, &r2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(r1 == alone);
    CHECK(r2 == alone);
}

TEST(save_and_load_round_trip)
{
    char dir[] = "/tmp/fovea-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    fv_dataset *d = quadrants(32, 9);
    fv_model *m = fv_model_parse_string(small_cnn, "small");
    fv_fit_opts o = fv_fit_defaults();
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    CHECK_OK(fv_model_save(m, path));
    fv_model *m2 = fv_model_load(path);
    CHECK(m2 != NULL);
    if (m2) {
        float *p1 = calloc(32 * 4, sizeof(float)), *p2 = calloc(32 * 4, sizeof(float));
        CHECK_OK(fv_model_predict(m, d, 32, p1));
        CHECK_OK(fv_model_predict(m2, d, 7, p2));
        check_arrays("predictions", p2, p1, 32 * 4, 0, 0);
        free(p1);
        free(p2);
        /* Weights of another model are refused by tensor name. */
        fv_model *other =
            fv_model_parse_string("input shape=6,6,1\nflatten\ndense units=4\n", "other");
        CHECK(fv_model_load_weights(other, path) != FV_OK);
        CHECK_STR_CONTAINS(fv_last_error(), "m.safetensors");
        CHECK_STR_CONTAINS(fv_last_error(), "conv2d.kernel");
        fv_model_free(other);
    }
    fv_model_free(m);
    fv_model_free(m2);
    fv_dataset_free(d);
    unlink(path);
    rmdir(dir);
}

/* Whole-model gradient check along a random direction (as kann's kad_check_grad): the analytic
 * directional derivative g·v against (L(w + εv) − L(w − εv)) / 2ε, in every parameter tensor. */
TEST(whole_model_gradient_matches_finite_differences)
{
    const char *text =
        "input shape=7,6,2\n"
        "conv2d filters=3 kernel_size=3,2 strides=2 padding=same activation=tanh\n"
        "conv2d filters=4 kernel_size=2 dilation_rate=2 padding=same activation=elu\n"
        "maxpool2d pool_size=2 padding=same\n"
        "flatten\n"
        "dense units=5 activation=sigmoid\n"
        "dense units=3 activation=softmax\n"
        "compile loss=categorical_crossentropy optimizer=adam\n";
    fv_model *m = fv_model_parse_string(text, "grad");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 3 };
    int64_t in = fv_model_input_size(m);
    float *x = malloc((size_t)(N * in) * sizeof(float));
    fv_rng r;
    fv__rng_seed(&r, 11);
    for (int64_t i = 0; i < N * in; i++)
        x[i] = 2 * fv__rng_uniform(&r) - 1;
    int32_t labels[N] = {0, 2, 1};
    fv_targets t = {.labels = labels};
    double L0;
    CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, false, &L0));
    const char *tensors[] = {"conv2d.kernel", "conv2d.bias", "conv2d_1.kernel", "conv2d_1.bias",
                             "dense.kernel",  "dense.bias",  "dense_1.kernel",  "dense_1.bias"};
    for (int ti = 0; ti < 8; ti++) {
        int rank;
        int64_t d[4];
        float *w = fv_model_param(m, tensors[ti], &rank, d);
        float *g = fv__model_grad(m, tensors[ti]);
        CHECK(w && g);
        if (!w || !g) continue;
        int64_t n = 1;
        for (int k = 0; k < rank; k++)
            n *= d[k];
        /* Recompute the analytic gradient (the loops below change it). */
        CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, false, &L0));
        double *v = malloc((size_t)n * sizeof(double)), analytic = 0;
        float *w0 = malloc((size_t)n * sizeof(float));
        memcpy(w0, w, (size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++)
            v[j] = fv__rng_normal(&r), analytic += v[j] * g[j];
        const double eps = 1e-3;
        double Lp, Lm;
        for (int64_t j = 0; j < n; j++)
            w[j] = (float)(w0[j] + eps * v[j]);
        CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, false, &Lp));
        for (int64_t j = 0; j < n; j++)
            w[j] = (float)(w0[j] - eps * v[j]);
        CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, false, &Lm));
        memcpy(w, w0, (size_t)n * sizeof(float));
        double numeric = (Lp - Lm) / (2 * eps);
        if (!(fabs(numeric - analytic) <= 2e-3 + 2e-2 * fabs(analytic))) {
            fprintf(stderr, "  %s: analytic %.6g, numeric %.6g\n", tensors[ti], analytic, numeric);
            test_failed_checks++;
        }
        free(v);
        free(w0);
    }
    free(x);
    fv_model_free(m);
}

TEST(fit_refuses_labels_beyond_the_output_units)
{
    fv_dataset *d = quadrants(20, 4);
    fv_model *m =
        fv_model_parse_string("input shape=6,6,1\nflatten\ndense units=3 "
                              "activation=softmax\ncompile loss=sparse_categorical_crossentropy\n",
                              "m");
    fv_fit_opts o = fv_fit_defaults();
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "3 is not a class index in [0, 3)");
    fv_model *m2 =
        fv_model_parse_string("input shape=5,5,1\nflatten\ndense units=4 "
                              "activation=softmax\ncompile loss=sparse_categorical_crossentropy\n",
                              "m2");
    CHECK(fv_model_fit(m2, d, &o, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(),
                       "has shape (20, 6, 6, 1); the model's input is (None, 5, 5, 1)");
    fv_model_free(m);
    fv_model_free(m2);
    fv_dataset_free(d);
}

int main(void)
{
    RUN(seed_model_summary_matches_keras);
    RUN(layer_arg_gives_given_and_default_values_as_model_text);
    RUN(typed_constructors_build_the_same_model_as_the_file);
    RUN(canonical_text_reads_back_the_same);
    RUN(bad_lines_name_the_file_line_and_problem);
    RUN(compile_errors_leave_the_model_unchanged);
    RUN(training_learns_and_history_records_it);
    RUN(validation_split_takes_the_tail);
    RUN(same_seed_same_weights_whatever_the_thread_count);
    RUN(precision_bf16_learns_is_recorded_and_thread_independent);
    RUN(two_models_in_two_threads_match_each_trained_alone);
    RUN(save_and_load_round_trip);
    RUN(whole_model_gradient_matches_finite_differences);
    RUN(fit_refuses_labels_beyond_the_output_units);
    return TEST_SUMMARY();
}
