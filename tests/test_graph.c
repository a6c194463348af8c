/* test_graph.c — models that are graphs (Keras' Functional API): parsing inputs=, several inputs
 * and `model outputs=`, the errors that name lines, layers and shapes, the functional summary,
 * the canonical text, whole-graph gradients where a tensor feeds several layers (and one layer
 * twice), frozen layers, BatchNormalization's moving statistics, save and load, threads.
 */
#include "fovea.h"
#include "io/io.h"
#include "layers/layer.h"
#include "model/model_impl.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

static const char *residual =
    "input shape=8,8,1\n"
    "conv2d name=stem filters=4 kernel_size=3 padding=same use_bias=false\n"
    "batch_normalization\n"
    "relu name=r0\n"
    "conv2d filters=4 kernel_size=3 padding=same use_bias=false\n"
    "batch_normalization\n"
    "relu\n"
    "conv2d filters=4 kernel_size=3 padding=same use_bias=false\n"
    "batch_normalization name=bn_b\n"
    "add name=res inputs=r0,bn_b\n"
    "relu\n"
    "global_average_pooling2d\n"
    "dense units=3 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam metrics=accuracy\n";

/* A tensor read by four layers (`a`), a layer reading one tensor twice (`f`), a product, a
 * concatenation, and BatchNormalization in training mode. */
static const char *fanout =
    "input shape=4,4,2\n"
    "conv2d name=a filters=3 kernel_size=1 activation=tanh\n"
    "conv2d name=b filters=3 kernel_size=1 inputs=a\n"
    "conv2d name=c filters=3 kernel_size=3 padding=same inputs=a activation=sigmoid\n"
    "multiply name=d inputs=a,b\n"
    "add name=e inputs=a,c,d\n"
    "add name=f inputs=e,e\n"
    "batch_normalization name=bn\n"
    "concatenate name=g inputs=bn,a\n"
    "flatten\n"
    "dense units=3 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy\n";

static char *summary_text(const fv_model *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_OK(fv_model_summary(m, f));
    fclose(f);
    return buf;
}

static const char *parse_error(const char *text)
{
    fv_model *m = fv_model_parse_string(text, "g.fv");
    CHECK(m == NULL);
    fv_model_free(m);
    return fv_last_error();
}

TEST(residual_model_summary_is_keras_functional)
{
    fv_model *m = fv_model_parse_string(residual, "res.fv");
    CHECK(m != NULL);
    if (!m) return;
    char *s = summary_text(m);
    CHECK_STR_CONTAINS(s, "Model: \"functional\"");
    CHECK_STR_CONTAINS(s, "Connected to");
    CHECK_STR_CONTAINS(s, "input_layer (InputLayer)");
    CHECK_STR_CONTAINS(s, "['input_layer[0][0]']");
    CHECK_STR_CONTAINS(s, "res (Add)");
    CHECK_STR_CONTAINS(s, "['r0[0][0]',");
    CHECK_STR_CONTAINS(s, "'bn_b[0][0]']");
    /* 3 convs of 3·3·(1|4)·4, 3 BN of 4·4 (half moving statistics), dense 4·3+3. */
    const int64_t total = 36 + 144 + 144 + 3 * 16 + 15, non_trainable = 3 * 8;
    CHECK(fv_model_param_count(m) == total);
    CHECK(fv_model_trainable_param_count(m) == total - non_trainable);
    CHECK_STR_CONTAINS(s, "Non-trainable params: 24 (96.00 B)");
    CHECK_STR_CONTAINS(s, "Total params: 387 ");
    free(s);
    CHECK(fv_model_input_count(m) == 1 && fv_model_output_count(m) == 1);
    CHECK(strcmp(fv_model_output_name(m, 0), "dense") == 0);
    fv_model_free(m);

    /* A Sequential file keeps Keras' Sequential summary. */
    m = fv_model_parse_string("input shape=4\ndense units=2\n", "seq.fv");
    s = summary_text(m);
    CHECK_STR_CONTAINS(s, "Model: \"sequential\"");
    CHECK(!strstr(s, "Connected to") && !strstr(s, "InputLayer"));
    free(s);
    fv_model_free(m);
}

TEST(graph_errors_name_the_line_layers_and_shapes)
{
    const char *e;
    e = parse_error("input shape=8,8,1\nconv2d filters=2 kernel_size=1\nadd inputs=conv2d,later\n");
    CHECK_STR_CONTAINS(e, "g.fv:3:");
    CHECK_STR_CONTAINS(e, "no input or layer named 'later' is defined before this line");
    e = parse_error("input shape=8,8,1\nconv2d name=x filters=2 kernel_size=1 inputs=x\n");
    CHECK_STR_CONTAINS(e, "g.fv:2:");
    CHECK_STR_CONTAINS(e, "'x'");
    e = parse_error("input shape=8,8,1\nconv2d name=p filters=16 kernel_size=1\n"
                    "conv2d name=q filters=32 kernel_size=1 inputs=input_layer\nadd inputs=p,q\n");
    CHECK_STR_CONTAINS(e, "g.fv:4:");
    CHECK_STR_CONTAINS(e, "(None, 8, 8, 16)");
    CHECK_STR_CONTAINS(e, "(None, 8, 8, 32)");
    e = parse_error("input shape=4\ndense name=p units=2\ndense units=3 inputs=input_layer\n");
    CHECK_STR_CONTAINS(e, "g.fv:2:");
    CHECK_STR_CONTAINS(e, "'p'");
    CHECK_STR_CONTAINS(e, "read by no layer");
    e = parse_error("input shape=4\ninput shape=3 name=aux\ndense units=2 inputs=input_layer\n");
    CHECK_STR_CONTAINS(e, "g.fv:2:");
    CHECK_STR_CONTAINS(e, "input 'aux' is read by no layer");
    e = parse_error("input shape=4\ndense units=2\nadd\n");
    CHECK_STR_CONTAINS(e, "g.fv:3: add: takes 2 or more inputs");
    e = parse_error("input shape=4\ndense name=a units=2\ndense name=b units=2 inputs=input_layer\n"
                    "dense name=c units=2 inputs=input_layer\nsubtract inputs=a,b,c\n");
    CHECK_STR_CONTAINS(e, "g.fv:5: subtract: takes 2 inputs, got 3");
    e = parse_error("input shape=4\ndense units=2\nmodel outputs=nothing\n");
    CHECK_STR_CONTAINS(e, "g.fv:3: model: outputs=nothing");
    e = parse_error("input shape=4\ndense name=dense_x units=2\ndense name=dense_x units=2\n");
    CHECK_STR_CONTAINS(e, "another layer has this name");
    e = parse_error("input shape=4\ndense units=2 inputs=dense,\n");
    CHECK_STR_CONTAINS(e, "g.fv:2:");
    e = parse_error("input shape=2,2,3\ninput shape=2,2,4 name=b\n"
                    "concatenate inputs=input_layer,b axis=2\n");
    CHECK_STR_CONTAINS(e, "must match except along axis 2");
    e = parse_error("input shape=4\ndense units=2 trainable=maybe\n");
    CHECK_STR_CONTAINS(e, "trainable=maybe: expected true or false");
}

TEST(canonical_text_of_a_graph_reads_back_the_same)
{
    const char *texts[] = {residual, fanout,
                           "input shape=3 name=a\ninput shape=2 name=b\n"
                           "dense name=da units=2 inputs=a\nconcatenate inputs=da,b\n"
                           "dense name=out1 units=1\ndense name=out2 units=2 inputs=da\n"
                           "model outputs=out1,out2\n"};
    for (int i = 0; i < 3; i++) {
        fv_model *m = fv_model_parse_string(texts[i], "t.fv");
        CHECK(m != NULL);
        if (!m) continue;
        char *t1 = fv_model_to_text(m);
        fv_model *m2 = fv_model_parse_string(t1, "t1.fv");
        CHECK(m2 != NULL);
        char *t2 = m2 ? fv_model_to_text(m2) : NULL;
        CHECK(t2 && strcmp(t1, t2) == 0);
        char *s1 = summary_text(m), *s2 = m2 ? summary_text(m2) : NULL;
        CHECK(s2 && strcmp(s1, s2) == 0);
        free(t1), free(t2), free(s1), free(s2);
        fv_model_free(m), fv_model_free(m2);
    }
}

/* x [n × size] uniform in [-1, 1]. */
static float *random_inputs(int64_t count, uint64_t seed)
{
    fv_rng r;
    fv__rng_seed(&r, seed);
    float *x = malloc((size_t)count * sizeof(float));
    for (int64_t i = 0; i < count; i++)
        x[i] = 2 * fv__rng_uniform(&r) - 1;
    return x;
}

/* Directional finite differences of a model's training loss (x: N samples, targets t) along a
 * random direction of each named tensor, against the gradient backward computed. */
static void check_directions_eps(fv_model *m, const float *x, const fv_targets *t, int64_t N,
                                 const char *const *tensors, size_t count, double eps)
{
    fv_rng r;
    fv__rng_seed(&r, 99);
    double L0;
    CHECK_OK(fv__model_loss_and_grad(m, x, t, N, true, &L0));
    CHECK(isfinite(L0));
    for (size_t ti = 0; ti < count; ti++) {
        int rank;
        int64_t d[4];
        float *w = fv_model_param(m, tensors[ti], &rank, d);
        float *g = fv__model_grad(m, tensors[ti]);
        CHECK(w && g);
        if (!w || !g) continue;
        int64_t n = 1;
        for (int k = 0; k < rank; k++)
            n *= d[k];
        CHECK_OK(fv__model_loss_and_grad(m, x, t, N, true, &L0));
        double *v = malloc((size_t)n * sizeof(double)), analytic = 0;
        float *w0 = malloc((size_t)n * sizeof(float));
        memcpy(w0, w, (size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++)
            v[j] = fv__rng_normal(&r), analytic += v[j] * g[j];
        double Lp, Lm;
        for (int64_t j = 0; j < n; j++)
            w[j] = (float)(w0[j] + eps * v[j]);
        CHECK_OK(fv__model_loss_and_grad(m, x, t, N, true, &Lp));
        for (int64_t j = 0; j < n; j++)
            w[j] = (float)(w0[j] - eps * v[j]);
        CHECK_OK(fv__model_loss_and_grad(m, x, t, N, true, &Lm));
        memcpy(w, w0, (size_t)n * sizeof(float));
        const double numeric = (Lp - Lm) / (2 * eps);
        if (!(fabs(numeric - analytic) <= 2e-3 + 2e-2 * fabs(analytic))) {
            fprintf(stderr, "  %s: analytic %.6g, numeric %.6g\n", tensors[ti], analytic, numeric);
            test_failed_checks++;
        }
        free(v), free(w0);
    }
}

static void check_directions(fv_model *m, const float *x, const fv_targets *t, int64_t N,
                             const char *const *tensors, size_t count)
{
    check_directions_eps(m, x, t, N, tensors, count, 1e-3);
}

/* Directional finite differences of the whole graph's loss along random directions, for every
 * trainable tensor: a tensor feeding several layers gets the sum of their gradients. */
TEST(fanout_graph_gradient_matches_finite_differences)
{
    fv_model *m = fv_model_parse_string(fanout, "fanout.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 3 };
    float *x = random_inputs(N * 32, 5);
    int32_t labels[N] = {2, 0, 1};
    fv_targets t = {.labels = labels};
    const char *tensors[] = {"a.kernel", "a.bias",   "b.kernel", "b.bias",       "c.kernel",
                             "c.bias",   "bn.gamma", "bn.beta",  "dense.kernel", "dense.bias"};
    check_directions(m, x, &t, N, tensors, sizeof tensors / sizeof tensors[0]);
    /* The moving statistics get no gradient. */
    CHECK(fv__model_grad(m, "bn.moving_mean") == NULL);
    free(x);
    fv_model_free(m);
}

/* The same through conv2d's passes of its BatchNormalization (model/fuse.c fv_bn_pair: the sums,
 * the input gradient, the output written by the next convolution), on a graph where the pair's
 * gradients are the backward's temporaries (s and u read again after the group, as in
 * tests/test_fuse.c): every kernel's and BatchNormalization's gradient by finite differences. */
TEST(paired_convolutions_gradient_matches_finite_differences)
{
    fv_model *m = fv_model_parse_string("input shape=5,4,2\n"
                                        "conv2d name=s filters=3 kernel_size=3 padding=same\n"
                                        "batch_normalization name=bs\n"
                                        "relu name=rs\n"
                                        "conv2d name=u filters=5 kernel_size=1\n"
                                        "conv2d name=c filters=3 kernel_size=3 padding=same\n"
                                        "batch_normalization name=bn\n"
                                        "add name=a inputs=bn,rs\n"
                                        "relu name=r\n"
                                        "conv2d name=q filters=3 kernel_size=3 strides=2\n"
                                        "flatten name=fq\n"
                                        "concatenate name=cat inputs=r,rs,u\n"
                                        "flatten name=fc\n"
                                        "concatenate name=all inputs=fq,fc\n"
                                        "dense name=out units=3 activation=softmax\n"
                                        "compile loss=sparse_categorical_crossentropy\n",
                                        "pairs.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 5 };
    float *x = random_inputs(N * 40, 23);
    int32_t labels[N] = {2, 0, 1, 1, 0};
    fv_targets t = {.labels = labels};
    const char *tensors[] = {"s.kernel", "bs.gamma", "u.kernel", "c.kernel",
                             "bn.gamma", "bn.beta",  "q.kernel"};
    /* a step of 1e-4: BatchNormalization over 5 images and two ReLUs bend the loss enough that
     * 1e-3 is off by up to 10% (the fused and unfused models alike), 1e-4 within 1% */
    check_directions_eps(m, x, &t, N, tensors, sizeof tensors / sizeof tensors[0], 1e-4);
    CHECK(m->fuse_sums[0] == 1 && m->fuse_sums[4] == 5); /* the pairs formed */
    free(x);
    fv_model_free(m);
}

/* An added loss (Keras' add_loss, here ActivityRegularization's) is part of the loss that fit,
 * evaluate and the gradient see: (l1·Σ|h| + l2·Σh²)/n on top of the cross-entropy. */
TEST(an_added_loss_is_in_the_loss_and_its_gradient)
{
    fv_model *m = fv_model_parse_string("input shape=6\n"
                                        "dense name=h units=5 activation=tanh\n"
                                        "activity_regularization l1=0.01 l2=0.3\n"
                                        "dense name=out units=3 activation=softmax\n"
                                        "compile loss=sparse_categorical_crossentropy\n",
                                        "added.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 4 };
    float *x = random_inputs(N * 6, 17);
    int32_t labels[N] = {2, 0, 1, 1};
    fv_targets t = {.labels = labels};
    /* no column of its own: Keras shows an activity regularizer inside `loss` only */
    CHECK(fv_model_loss_terms(m) == 0);
    const int64_t dims[1] = {6};
    fv_dataset *d = fv_dataset_from_f32(N, 1, dims, x, labels);
    double loss = NAN;
    CHECK_OK(fv_model_evaluate(m, d, 2, &loss, NULL));
    CHECK_OK(fv_model_forward(m, x, N));
    const float *h = fv_model_layer_output(m, 0), *p = fv_model_layer_output(m, 2);
    double want = 0;
    for (int i = 0; i < N; i++) {
        want -= log(p[i * 3 + labels[i]]) / N;
        for (int j = 0; j < 5; j++)
            want += (0.01 * fabs(h[i * 5 + j]) + 0.3 * h[i * 5 + j] * h[i * 5 + j]) / N;
    }
    CHECK_CLOSE(loss, want, 1e-6, 0);
    double train_loss;
    CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, true, &train_loss));
    CHECK_CLOSE(train_loss, want, 1e-6, 0);
    const char *tensors[] = {"h.kernel", "h.bias", "out.kernel"};
    check_directions(m, x, &t, N, tensors, 3);
    fv_dataset_free(d);
    free(x);
    fv_model_free(m);
}

/* ---- task losses and added-loss columns, through kinds made for the test ----------------- */

/* A task loss on a head of k units with targets (t, w) of 2k values per sample: sq_loss =
 * Σ w·(y − t)² / n and quart_loss = 0.1·Σ (y − t)⁴ / n. */
static int64_t wsq_width(const fv_layer *head)
{
    return 2 * fv__shape_size(&head->out);
}

static double wsq_compute(const fv_layer *head, const float *y, const float *t, int64_t n,
                          float *dy, double *parts, void *scratch)
{
    (void)scratch;
    const int64_t k = fv__shape_size(&head->out);
    double sq = 0, q = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            const double e = (double)y[i * k + j] - t[i * 2 * k + j], w = t[i * 2 * k + k + j];
            sq += w * e * e / (double)n, q += 0.1 * e * e * e * e / (double)n;
            if (dy) dy[i * k + j] = (float)((2 * w * e + 0.4 * e * e * e) / (double)n);
        }
    parts[0] = sq, parts[1] = q;
    return sq + q;
}

static const fv_task_loss wsq_loss = {.name = "weighted_sq",
                                      .parts = {"sq_loss", "quart_loss", NULL},
                                      .target_width = wsq_width,
                                      .compute = wsq_compute};

TEST(task_losses_and_added_loss_columns_reach_fit_and_evaluate)
{
    /* a dense head that provides the task loss, an activity regularizer with a column */
    static fv_layer_kind head_kind, act_kind;
    head_kind = fv__kind_dense, head_kind.task_loss = &wsq_loss;
    act_kind = fv__kind_activity_regularization, act_kind.added_loss = "act_loss";
    fv_model *m = fv_model_parse_string("input shape=3\n"
                                        "dense name=h units=4 activation=tanh\n"
                                        "activity_regularization name=ar l2=0.05\n"
                                        "dense name=head units=2\n",
                                        "task.fv");
    CHECK(m != NULL);
    if (!m) return;
    m->layers[1].kind = &act_kind, m->layers[2].kind = &head_kind;
    CHECK(fv_model_compile(m, "loss=mse_typo optimizer=sgd") == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "weighted_sq (output layer");
    CHECK_OK(fv_model_compile(m, "loss=weighted_sq optimizer=sgd learning_rate=0.05"));
    CHECK(fv_model_loss_terms(m) == 3);
    CHECK(strcmp(fv_model_loss_term(m, 0), "sq_loss") == 0);
    CHECK(strcmp(fv_model_loss_term(m, 1), "quart_loss") == 0);
    CHECK(strcmp(fv_model_loss_term(m, 2), "act_loss") == 0);
    CHECK(fv_model_loss_term(m, 3) == NULL);
    enum { N = 40 };
    float *x = random_inputs(N * 3, 23), *tv = random_inputs(N * 4, 29);
    for (int i = 0; i < N; i++)
        tv[i * 4 + 2] = fabsf(tv[i * 4 + 2]), tv[i * 4 + 3] = fabsf(tv[i * 4 + 3]);
    /* the gradient of the task loss and the added loss, by finite differences */
    fv_targets t = {.values = tv};
    const char *tensors[] = {"h.kernel", "h.bias", "head.kernel", "head.bias"};
    check_directions(m, x, &t, 5, tensors, 4);
    /* targets of the wrong width are refused with both widths */
    const int64_t dims[1] = {3};
    fv_dataset *d = fv_dataset_from_f32(N, 1, dims, x, NULL);
    CHECK_OK(fv_dataset_add_output(d, "head", 3, tv));
    double loss, terms[3];
    CHECK(fv_model_evaluate_terms(m, d, 8, &loss, terms) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "takes 4");
    fv_dataset_free(d);
    d = fv_dataset_from_f32(N, 1, dims, x, NULL);
    CHECK_OK(fv_dataset_add_output(d, "head", 4, tv));
    CHECK_OK(fv_model_evaluate_terms(m, d, 8, &loss, terms));
    CHECK_CLOSE(loss, terms[0] + terms[1] + terms[2], 1e-9, 1e-9);
    CHECK(terms[0] > 0 && terms[1] > 0 && terms[2] > 0);
    /* fit: the terms are columns, with val_ twins, and sum to the loss */
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 2, o.batch_size = 8, o.validation_split = 0.25, o.seed = 3;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    const char *cols[] = {"loss",     "sq_loss",     "quart_loss",     "act_loss",
                          "val_loss", "val_sq_loss", "val_quart_loss", "val_act_loss"};
    for (int c = 0; c < 8; c++)
        CHECK(h && fv_history_get(h, cols[c]) != NULL);
    CHECK(h && fv_history_get(h, "head_loss") == NULL);
    if (h && fv_history_get(h, "val_act_loss")) {
        for (int e = 0; e < 2; e++) {
            CHECK_CLOSE(fv_history_get(h, "loss")[e],
                        fv_history_get(h, "sq_loss")[e] + fv_history_get(h, "quart_loss")[e] +
                            fv_history_get(h, "act_loss")[e],
                        1e-9, 1e-9);
            CHECK_CLOSE(fv_history_get(h, "val_loss")[e],
                        fv_history_get(h, "val_sq_loss")[e] +
                            fv_history_get(h, "val_quart_loss")[e] +
                            fv_history_get(h, "val_act_loss")[e],
                        1e-9, 1e-9);
        }
        CHECK(fv_history_get(h, "loss")[1] < fv_history_get(h, "loss")[0]);
    }
    fv_history_free(h);
    fv_dataset_free(d);
    free(x), free(tv);
    fv_model_free(m);
}

/* The same chain written as a graph trains to the same bits as the Sequential file. */
TEST(a_chain_written_with_inputs_is_the_sequential_model)
{
    const char *seq = "input shape=6,6,1\nconv2d filters=3 kernel_size=3 activation=relu\n"
                      "maxpool2d\nflatten\ndense units=4 activation=softmax\n"
                      "compile loss=sparse_categorical_crossentropy\n";
    const char *graph = "input shape=6,6,1 name=img\n"
                        "conv2d filters=3 kernel_size=3 activation=relu inputs=img\n"
                        "max_pooling2d inputs=conv2d\nflatten inputs=max_pooling2d\n"
                        "dense units=4 activation=softmax inputs=flatten\nmodel outputs=dense\n"
                        "compile loss=sparse_categorical_crossentropy\n";
    fv_model *a = fv_model_parse_string(seq, "seq"), *b = fv_model_parse_string(graph, "graph");
    CHECK(a && b);
    if (!a || !b) return;
    enum { N = 5 };
    float *x = random_inputs(N * 36, 3);
    int32_t labels[N] = {0, 1, 2, 3, 1};
    fv_targets t = {.labels = labels};
    for (int step = 0; step < 3; step++) {
        double la, lb;
        CHECK_OK(fv__model_train_step(a, x, &t, N, &la));
        CHECK_OK(fv__model_train_step(b, x, &t, N, &lb));
        CHECK(la == lb);
    }
    const char *names[] = {"conv2d.kernel", "conv2d.bias", "dense.kernel", "dense.bias"};
    for (int i = 0; i < 4; i++) {
        int rank;
        int64_t d[4];
        float *wa = fv_model_param(a, names[i], &rank, d),
              *wb = fv_model_param(b, names[i], NULL, NULL);
        int64_t n = 1;
        for (int k = 0; k < rank; k++)
            n *= d[k];
        CHECK(wa && wb && memcmp(wa, wb, (size_t)n * sizeof(float)) == 0);
    }
    free(x);
    fv_model_free(a), fv_model_free(b);
}

TEST(several_inputs_and_outputs_run_forward)
{
    const char *text = "input shape=3 name=a\ninput shape=2 name=b\n"
                       "dense name=da units=2 inputs=a\nconcatenate name=cat inputs=da,b\n"
                       "dense name=out1 units=1 use_bias=false\n"
                       "dense name=out2 units=2 inputs=da\nmodel outputs=out1,out2\n";
    fv_model *m = fv_model_parse_string(text, "two.fv");
    CHECK(m != NULL);
    if (!m) return;
    CHECK(fv_model_input_count(m) == 2 && fv_model_output_count(m) == 2);
    CHECK(strcmp(fv_model_input_name(m, 1), "b") == 0);
    CHECK(strcmp(fv_model_output_name(m, 1), "out2") == 0);
    int64_t d[4];
    CHECK(fv_model_input_shape(m, 0, d) == 1 && d[0] == 3);
    CHECK(fv_model_output_shape(m, 1, d) == 1 && d[0] == 2);
    const float a[2 * 3] = {1, 2, 3, -1, 0, 1}, b[2 * 2] = {0.5f, -0.5f, 2, 1};
    CHECK(fv_model_forward(m, a, 2) == FV_ERR_INVALID); /* two inputs: refused */
    const float *x[2] = {a, b};
    CHECK_OK(fv_model_forward_inputs(m, x, 2));
    /* out1 = [da(a), b] · K by hand. */
    float *wa = fv_model_param(m, "da.kernel", NULL, NULL),
          *ba = fv_model_param(m, "da.bias", NULL, NULL);
    float *k1 = fv_model_param(m, "out1.kernel", NULL, NULL);
    const float *o1 = fv_model_output(m, 0);
    CHECK(o1 != NULL);
    for (int i = 0; o1 && i < 2; i++) {
        float cat[4];
        for (int j = 0; j < 2; j++) {
            cat[j] = ba[j];
            for (int q = 0; q < 3; q++)
                cat[j] += a[i * 3 + q] * wa[q * 2 + j];
        }
        cat[2] = b[i * 2], cat[3] = b[i * 2 + 1];
        float want = 0;
        for (int j = 0; j < 4; j++)
            want += cat[j] * k1[j];
        CHECK_CLOSE(o1[i], want, 1e-6, 1e-5);
    }
    /* Prediction with an array per input and per output gives the same values. */
    float p1[2], p2[4], o1_copy[2], o2_copy[4];
    memcpy(o1_copy, o1, sizeof o1_copy);
    memcpy(o2_copy, fv_model_output(m, 1), sizeof o2_copy);
    float *outs[2] = {p1, p2};
    CHECK_OK(fv_model_predict_arrays(m, x, 2, 1, outs));
    CHECK(memcmp(p1, o1_copy, sizeof p1) == 0 && memcmp(p2, o2_copy, sizeof p2) == 0);
    fv_model_free(m);
}

/* Keras 3: moving = moving·momentum + batch·(1 − momentum), with the biased batch variance;
 * inference normalises with the moving statistics. */
TEST(batch_normalization_moving_statistics_follow_keras)
{
    fv_model *m = fv_model_parse_string(
        "input shape=2,2,2\nbatch_normalization name=bn momentum=0.9 epsilon=0.01\nflatten\n"
        "dense units=2 activation=softmax\ncompile loss=sparse_categorical_crossentropy "
        "optimizer=sgd learning_rate=0\n",
        "bn.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 3 };
    float *x = random_inputs(N * 8, 8);
    for (int i = 0; i < N * 8; i++)
        x[i] = 3 * x[i] + (i % 2 ? 5.0f : -1.0f); /* channel 1 far from zero */
    int32_t labels[N] = {0, 1, 1};
    fv_targets t = {.labels = labels};
    double L;
    CHECK_OK(fv__model_train_step(m, x, &t, N, &L));
    float *mm = fv_model_param(m, "bn.moving_mean", NULL, NULL);
    float *mv = fv_model_param(m, "bn.moving_variance", NULL, NULL);
    for (int c = 0; c < 2; c++) {
        double mean = 0, var = 0;
        for (int i = 0; i < N * 4; i++)
            mean += x[i * 2 + c];
        mean /= N * 4;
        for (int i = 0; i < N * 4; i++)
            var += (x[i * 2 + c] - mean) * (x[i * 2 + c] - mean);
        var /= N * 4; /* biased */
        CHECK_CLOSE(mm[c], 0.1 * mean, 1e-6, 1e-5);
        CHECK_CLOSE(mv[c], 0.9 + 0.1 * var, 1e-6, 1e-5);
    }
    /* Inference: (x − moving_mean)/sqrt(moving_variance + eps)·gamma + beta. */
    CHECK_OK(fv_model_forward(m, x, N));
    const float *y = fv_model_layer_output(m, 0);
    for (int i = 0; i < N * 8; i++) {
        const int c = i % 2;
        CHECK_CLOSE(y[i], (x[i] - mm[c]) / sqrt(mv[c] + 0.01), 1e-5, 1e-5);
    }
    free(x);
    fv_model_free(m);
}

/* trainable=false: no update, counted as non-trainable; a frozen BatchNormalization normalises
 * with its moving statistics in training too and does not update them. */
TEST(frozen_layers_are_not_updated)
{
    fv_model *m = fv_model_parse_string(
        "input shape=3,3,2\nconv2d name=c filters=2 kernel_size=1 trainable=false\n"
        "batch_normalization name=bn trainable=false\nflatten\ndense name=d units=2 "
        "activation=softmax\ncompile loss=sparse_categorical_crossentropy optimizer=adam\n",
        "frozen.fv");
    CHECK(m != NULL);
    if (!m) return;
    CHECK(fv_model_trainable_param_count(m) == 18 * 2 + 2); /* the dense layer only */
    char *s = summary_text(m);
    CHECK_STR_CONTAINS(s, "Non-trainable params: 14 "); /* conv 4 + 2, BN 2 · 4 */
    free(s);
    enum { N = 4 };
    float *x = random_inputs(N * 18, 4);
    int32_t labels[N] = {0, 1, 1, 0};
    fv_targets t = {.labels = labels};
    float *ck = fv_model_param(m, "c.kernel", NULL, NULL),
          *dk = fv_model_param(m, "d.kernel", NULL, NULL);
    float *mm = fv_model_param(m, "bn.moving_mean", NULL, NULL);
    float ck0[4], dk0[36], mm0[2];
    memcpy(ck0, ck, sizeof ck0), memcpy(dk0, dk, sizeof dk0), memcpy(mm0, mm, sizeof mm0);
    double L;
    CHECK_OK(fv__model_train_step(m, x, &t, N, &L));
    CHECK(memcmp(ck, ck0, sizeof ck0) == 0);
    CHECK(memcmp(mm, mm0, sizeof mm0) == 0);
    CHECK(memcmp(dk, dk0, sizeof dk0) != 0);
    /* In training mode the frozen layers give the inference outputs. */
    CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, true, &L));
    float bn_train[N * 18];
    memcpy(bn_train, fv_model_layer_output(m, 1), sizeof bn_train);
    CHECK_OK(fv_model_forward(m, x, N));
    CHECK(memcmp(bn_train, fv_model_layer_output(m, 1), sizeof bn_train) == 0);
    /* The canonical text keeps the flags. */
    char *text = fv_model_to_text(m);
    CHECK_STR_CONTAINS(text, "conv2d filters=2 kernel_size=1 name=c trainable=false");
    free(text);
    free(x);
    fv_model_free(m);
}

TEST(save_and_load_keep_moving_statistics_and_refuse_missing_tensors)
{
    char dir[] = "/tmp/fovea-graph-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], path2[256];
    snprintf(path, sizeof path, "%s/res.safetensors", dir);
    snprintf(path2, sizeof path2, "%s/other.safetensors", dir);
    fv_model *m = fv_model_parse_string(residual, "res.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 4 };
    float *x = random_inputs(N * 64, 2);
    int32_t labels[N] = {0, 1, 2, 0};
    fv_targets t = {.labels = labels};
    double L;
    CHECK_OK(fv__model_train_step(m, x, &t, N, &L));
    CHECK_OK(fv_model_forward(m, x, N));
    float want[N * 3];
    memcpy(want, fv_model_output(m, 0), sizeof want);
    CHECK_OK(fv_model_save(m, path));
    fv_model *l = fv_model_load(path);
    CHECK(l != NULL);
    if (l) {
        CHECK_OK(fv_model_forward(l, x, N));
        CHECK(memcmp(want, fv_model_output(l, 0), sizeof want) == 0);
        float *a = fv_model_param(m, "bn_b.moving_variance", NULL, NULL);
        float *b = fv_model_param(l, "bn_b.moving_variance", NULL, NULL);
        CHECK(a && b && memcmp(a, b, 4 * sizeof(float)) == 0);
        CHECK(a && a[0] != 1.0f); /* it moved */
    }
    /* Weights of a model without the last BatchNormalization's statistics are refused. */
    fv_model *o = fv_model_parse_string(
        "input shape=8,8,1\nconv2d name=stem filters=4 kernel_size=3 padding=same use_bias=false\n"
        "flatten\ndense units=3 activation=softmax\n",
        "other.fv");
    CHECK_OK(fv_model_save(o, path2));
    CHECK(fv_model_load_weights(m, path2) != FV_OK);
    CHECK_STR_CONTAINS(fv_last_error(), "batch_normalization.gamma");
    fv_model_free(o), fv_model_free(l), fv_model_free(m);
    free(x);
    unlink(path), unlink(path2), rmdir(dir);
}

TEST(graph_training_is_the_same_for_any_thread_count)
{
    float *w[2] = {NULL, NULL};
    int64_t n = 0;
    for (int threads = 1; threads <= 2; threads++) {
        fv_set_threads(threads);
        fv_model *m = fv_model_parse_string(fanout, "fanout.fv");
        enum { N = 40 };
        float *x = random_inputs(N * 32, 21);
        int32_t labels[N];
        for (int i = 0; i < N; i++)
            labels[i] = i % 3;
        fv_targets t = {.labels = labels};
        double L;
        for (int s = 0; s < 3; s++)
            CHECK_OK(fv__model_train_step(m, x, &t, N, &L));
        int rank;
        int64_t d[4];
        float *k = fv_model_param(m, "c.kernel", &rank, d);
        n = d[0] * d[1] * d[2] * d[3];
        w[threads - 1] = malloc((size_t)n * sizeof(float));
        memcpy(w[threads - 1], k, (size_t)n * sizeof(float));
        free(x);
        fv_model_free(m);
    }
    fv_set_threads(0);
    CHECK(memcmp(w[0], w[1], (size_t)n * sizeof(float)) == 0);
    free(w[0]), free(w[1]);
}

/* A graph with BatchNormalization and dropout: 2 epochs, stop, 2 more from the checkpoint give
 * the weights (moving statistics included) and history of 4 uninterrupted epochs. */
TEST(checkpoint_resume_of_a_graph_is_bit_identical)
{
    const char *text = "input shape=6,6,1\nconv2d name=c1 filters=3 kernel_size=3 padding=same\n"
                       "batch_normalization name=bn\nrelu name=r\n"
                       "conv2d name=c2 filters=3 kernel_size=3 padding=same\n"
                       "add inputs=r,c2\ndropout rate=0.3\nglobal_average_pooling2d\n"
                       "dense units=2 activation=softmax\n"
                       "compile loss=sparse_categorical_crossentropy optimizer=adam\n";
    enum { N = 48 };
    float *x = random_inputs(N * 36, 17);
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = x[i * 36 + 14] > 0;
    const int64_t dims[3] = {6, 6, 1};
    fv_dataset *d = fv_dataset_from_f32(N, 3, dims, x, labels);
    CHECK(d != NULL);
    char dir[] = "/tmp/fovea-graph-ckpt-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    fv_fit_opts o = fv_fit_defaults();
    o.batch_size = 8;
    o.validation_data = d;
    fv_model *straight = fv_model_parse_string(text, "g"),
             *first = fv_model_parse_string(text, "g"), *resumed = fv_model_parse_string(text, "g");
    fv_history *h1 = NULL, *h2 = NULL, *h0 = NULL;
    o.epochs = 4;
    CHECK_OK(fv_model_fit(straight, d, &o, &h1));
    o.epochs = 2;
    o.checkpoint_dir = dir;
    CHECK_OK(fv_model_fit(first, d, &o, &h0));
    o.epochs = 4;
    o.resume = true;
    CHECK_OK(fv_model_fit(resumed, d, &o, &h2));
    CHECK(fv_model_last_fit(resumed).initial_epoch == 2);
    const char *names[] = {"c1.kernel",          "bn.gamma",  "bn.moving_mean",
                           "bn.moving_variance", "c2.kernel", "dense.kernel"};
    for (int i = 0; i < 6; i++) {
        int rank;
        int64_t dd[4];
        float *a = fv_model_param(straight, names[i], &rank, dd);
        float *b = fv_model_param(resumed, names[i], NULL, NULL);
        int64_t n = 1;
        for (int k = 0; k < rank; k++)
            n *= dd[k];
        CHECK(a && b && memcmp(a, b, (size_t)n * sizeof(float)) == 0);
    }
    const double *l1 = fv_history_get(h1, "val_loss"), *l2 = fv_history_get(h2, "val_loss");
    CHECK(l1 && l2 && fv_history_epochs(h2) == 4 && memcmp(l1, l2, 4 * sizeof(double)) == 0);
    fv_history_free(h0), fv_history_free(h1), fv_history_free(h2);
    fv_model_free(straight), fv_model_free(first), fv_model_free(resumed);
    fv_dataset_free(d);
    free(x);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* Prediction folds each BatchNormalization into the convolution or dense layer before it and
 * reuses activation buffers: the outputs equal the unfolded forward pass within 1e-5 relative,
 * the saved weights do not change, and the activations of a deep chain take a few buffers. */
TEST(prediction_folds_batch_normalization_and_reuses_buffers)
{
    char text[4096] = "input shape=8,8,2\n";
    for (int i = 0; i < 8; i++)
        strcat(text, "conv2d filters=4 kernel_size=3 padding=same\nbatch_normalization\nrelu\n");
    strcat(text, "flatten\ndense units=5\nbatch_normalization name=bn_last\nsoftmax\n"
                 "compile loss=sparse_categorical_crossentropy optimizer=sgd learning_rate=0.1\n");
    fv_model *m = fv_model_parse_string(text, "deep.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 6 };
    float *x = random_inputs(N * 128, 12);
    int32_t labels[N] = {0, 1, 2, 3, 4, 0};
    fv_targets t = {.labels = labels};
    double L;
    for (int s = 0; s < 3; s++) /* moving statistics away from 0 and 1, gammas away from 1 */
        CHECK_OK(fv__model_train_step(m, x, &t, N, &L));
    CHECK_OK(fv_model_forward(m, x, N));
    float want[N * 5];
    memcpy(want, fv_model_output(m, 0), sizeof want);
    const size_t full_bytes = m->block_bytes;
    int rank;
    int64_t d[4];
    float *k0 = fv_model_param(m, "conv2d.kernel", &rank, d), k0_copy[72];
    memcpy(k0_copy, k0, sizeof k0_copy);

    const int64_t dims[3] = {8, 8, 2};
    fv_dataset *data = fv_dataset_from_f32(N, 3, dims, x, NULL);
    float got[N * 5];
    fv_model_free(m); /* a fresh model: predict makes a lean plan, not the training one */
    m = fv_model_parse_string(text, "deep.fv");
    for (int s = 0; s < 3; s++)
        CHECK_OK(fv__model_train_step(m, x, &t, N, &L));
    fv__free(m->block), m->block = NULL, m->plan_n = 0;
    CHECK_OK(fv_model_predict(m, data, N, got));
    CHECK(m->plan_lean);
    /* the nine BatchNormalizations folded, and the eight ReLUs after them in their convolutions'
     * epilogues (the last BatchNormalization's reader is a softmax) */
    int folded = 0, relus = 0, in_conv = 0;
    for (int i = 0; i < m->nlayers; i++) {
        folded += m->skip[i] && m->layers[i].kind->inference_affine;
        relus += m->skip[i] && m->layers[i].kind == &fv__kind_relu;
        in_conv += m->layers[i].lean_relu;
    }
    CHECK(folded == 9 && relus == 8 && in_conv == 8);
    /* A chain's widest cut is two tensors (a layer's input and output): two buffers serve all
     * 29 layers, the output's included, where training keeps 29. */
    int distinct = 0;
    for (int i = 0; i < m->nlayers; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen = seen || m->acts[j] == m->acts[i];
        distinct += !seen;
    }
    CHECK(distinct == 2);
    CHECK(m->block_bytes < full_bytes);
    double worst = 0;
    for (int i = 0; i < N * 5; i++) {
        const double rel = fabs((double)got[i] - want[i]) / (fabs((double)want[i]) + 1e-6);
        if (rel > worst) worst = rel;
    }
    if (!(worst <= 1e-5)) fprintf(stderr, "  largest relative difference %.3g\n", worst);
    CHECK(worst <= 1e-5);
    CHECK(memcmp(fv_model_param(m, "conv2d.kernel", NULL, NULL), k0_copy, sizeof k0_copy) == 0);
    CHECK(fv_model_layer_output(m, 0) == NULL); /* a lean plan keeps no layer outputs */
    /* the ReLUs in the epilogues give the bits of the ReLU layers' own passes */
    float apart[N * 5];
    fv__model_set_lean_relu(m, false);
    CHECK_OK(fv_model_predict(m, data, N, apart));
    int relus_apart = 0;
    for (int i = 0; i < m->nlayers; i++)
        relus_apart += m->skip[i] && m->layers[i].kind == &fv__kind_relu;
    CHECK(relus_apart == 0 && memcmp(apart, got, sizeof got) == 0);
    fv__model_set_lean_relu(m, true);
    /* Training after prediction goes back to the full plan and the unfolded weights. */
    CHECK_OK(fv__model_train_step(m, x, &t, N, &L));
    CHECK(!m->plan_lean && m->layers[0].fold_w == NULL);
    fv_dataset_free(data);
    free(x);
    fv_model_free(m);
}

/* A ReLU that is the model's output, after a folded BatchNormalization: run in the convolution's
 * epilogue (on every kernel path this CPU has, and by Winograd), its outputs are those of the ReLU
 * layer's own pass bit for bit, zeros (the negative half) included; a BatchNormalization read by a
 * second layer keeps its ReLU apart. */
TEST(prediction_runs_the_relu_after_a_folded_batch_normalization_in_the_convolution)
{
    const char *models[] = {
        "input shape=7,5,16\nconv2d filters=16 kernel_size=3 padding=same\nbatch_normalization\n"
        "relu\ncompile loss=mse optimizer=sgd learning_rate=0.1\n",
        "input shape=7,5,16\nconv2d filters=16 kernel_size=3 padding=same\nbatch_normalization\n"
        "relu\ncompile loss=mse optimizer=sgd learning_rate=0.1 conv_algorithm=winograd\n",
        "input shape=7,5,3\nconv2d filters=4 kernel_size=3\nbatch_normalization name=b\nrelu name=r\n"
        "add name=a inputs=r,b\ncompile loss=mse optimizer=sgd learning_rate=0.1\n"};
    const char *kernel_paths[] = {"generic", "avx2", "avx512"};
    enum { N = 5 };
    for (size_t k = 0; k < sizeof models / sizeof *models; k++)
        for (size_t p = 0; p < sizeof kernel_paths / sizeof *kernel_paths; p++) {
            if (fv_set_kernel_path(kernel_paths[p]) != FV_OK) continue; /* not on this CPU */
            fv_model *m = fv_model_parse_string(models[k], "relu.fv");
            CHECK(m != NULL);
            if (!m) continue;
            const int64_t in = fv_model_input_size(m), out = fv_model_output_size(m);
            float *x = random_inputs(N * in, 40 + k), *t = random_inputs(N * out, 50 + k);
            float *on = malloc((size_t)(N * out) * sizeof(float));
            float *off = malloc((size_t)(N * out) * sizeof(float));
            fv_targets tg = {.values = t};
            double L;
            for (int s = 0; s < 2; s++) /* moving statistics and beta away from 0 */
                CHECK_OK(fv__model_train_step(m, x, &tg, N, &L));
            const int64_t dims[3] = {7, 5, k < 2 ? 16 : 3};
            fv_dataset *data = fv_dataset_from_f32(N, 3, dims, x, NULL);
            fv__model_plan_reset(m); /* a fresh plan: predict's lean one */
            CHECK_OK(fv_model_predict(m, data, N, on));
            CHECK(m->plan_lean && m->layers[0].lean_relu == (k < 2));
            fv__model_set_lean_relu(m, false);
            CHECK_OK(fv_model_predict(m, data, N, off));
            CHECK(!m->layers[0].lean_relu);
            CHECK(memcmp(on, off, (size_t)(N * out) * sizeof(float)) == 0);
            int zeros = 0;
            for (int64_t i = 0; i < N * out; i++)
                zeros += on[i] == 0.0f;
            CHECK(k == 2 || (zeros > 0 && zeros < N * out)); /* both sides of the ReLU */
            fv_dataset_free(data);
            free(x), free(t), free(on), free(off);
            fv_model_free(m);
        }
    CHECK_OK(fv_set_kernel_path("auto"));
}

/* ---- several outputs, a loss each ------------------------------------------------------------ */

static const char *two_heads =
    "input shape=6\n"
    "dense name=h units=8 activation=tanh\n"
    "dense name=cls units=3 activation=softmax\n"
    "dense name=reg units=2 inputs=h\n"
    "model outputs=cls,reg\n"
    "compile loss=cls:sparse_categorical_crossentropy,reg:mse loss_weights=cls:1,reg:0.5 "
    "optimizer=adam learning_rate=0.01 metrics=cls:accuracy,reg:mae\n";

/* The total loss is Σ weight·loss over the outputs, each output's reported after its weight (as
 * Keras 3), and the gradient is the total's (directional finite differences). */
TEST(several_outputs_sum_their_weighted_losses_and_gradients)
{
    fv_model *m = fv_model_parse_string(two_heads, "two.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 5 };
    float *x = random_inputs(N * 6, 31), *r = random_inputs(N * 2, 32);
    int32_t labels[N] = {0, 2, 1, 1, 0};
    fv_targets t[2] = {{.labels = labels}, {.values = r}};
    const float *xs[1] = {x};
    double L, head[2];
    CHECK_OK(fv__model_loss_and_grad_heads(m, xs, t, N, true, &L, head));
    /* Independent: each output's loss from its values. */
    CHECK_OK(fv_model_forward(m, x, N));
    const float *p = fv_model_output(m, 0), *q = fv_model_output(m, 1);
    double ce = 0, mse = 0;
    for (int i = 0; i < N; i++) {
        ce -= log(p[i * 3 + labels[i]]) / N;
        for (int j = 0; j < 2; j++)
            mse += (q[i * 2 + j] - r[i * 2 + j]) * (q[i * 2 + j] - r[i * 2 + j]) / (2.0 * N);
    }
    CHECK_CLOSE(head[0], ce, 1e-6, 1e-5);
    CHECK_CLOSE(head[1], 0.5 * mse, 1e-6, 1e-5);
    CHECK_CLOSE(L, ce + 0.5 * mse, 1e-6, 1e-5);
    const char *tensors[] = {"h.kernel", "h.bias", "cls.kernel", "reg.kernel", "reg.bias"};
    fv_rng rng;
    fv__rng_seed(&rng, 5);
    for (int ti = 0; ti < 5; ti++) {
        int rank;
        int64_t d[4];
        float *w = fv_model_param(m, tensors[ti], &rank, d), *g = fv__model_grad(m, tensors[ti]);
        int64_t n = 1;
        for (int k = 0; k < rank; k++)
            n *= d[k];
        CHECK_OK(fv__model_loss_and_grad_heads(m, xs, t, N, true, &L, NULL));
        double *v = malloc((size_t)n * sizeof(double)), analytic = 0, lp, lm;
        float *w0 = malloc((size_t)n * sizeof(float));
        memcpy(w0, w, (size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++)
            v[j] = fv__rng_normal(&rng), analytic += v[j] * g[j];
        for (int64_t j = 0; j < n; j++)
            w[j] = (float)(w0[j] + 1e-3 * v[j]);
        CHECK_OK(fv__model_loss_and_grad_heads(m, xs, t, N, true, &lp, NULL));
        for (int64_t j = 0; j < n; j++)
            w[j] = (float)(w0[j] - 1e-3 * v[j]);
        CHECK_OK(fv__model_loss_and_grad_heads(m, xs, t, N, true, &lm, NULL));
        memcpy(w, w0, (size_t)n * sizeof(float));
        const double numeric = (lp - lm) / 2e-3;
        if (!(fabs(numeric - analytic) <= 2e-3 + 2e-2 * fabs(analytic))) {
            fprintf(stderr, "  %s: analytic %.6g, numeric %.6g\n", tensors[ti], analytic, numeric);
            test_failed_checks++;
        }
        free(v), free(w0);
    }
    /* The single-output calls refuse a model with two. */
    CHECK(fv__model_loss_and_grad(m, x, t, N, true, &L) == FV_ERR_STATE);
    char *text = fv_model_to_text(m);
    CHECK_STR_CONTAINS(text,
                       "compile loss=cls:sparse_categorical_crossentropy,reg:mean_squared_error "
                       "loss_weights=cls:1,reg:0.5 optimizer=adam");
    free(text);
    free(x), free(r);
    fv_model_free(m);
}

/* fit with a target array per output: Keras 3's history columns, OUT_loss summing to the loss,
 * learning, validation, and a missing array named. */
TEST(fit_trains_several_outputs_with_keras_columns)
{
    enum { N = 120 };
    float *x = random_inputs(N * 6, 41), cls[N], reg[N * 2];
    for (int i = 0; i < N; i++) {
        const float *xi = x + i * 6;
        cls[i] = (float)(xi[0] + xi[1] > 0.5f ? 2 : xi[0] + xi[1] > -0.5f ? 1 : 0);
        reg[i * 2] = xi[2] - xi[3];
        reg[i * 2 + 1] = 0.5f * xi[4];
    }
    const int64_t dims[1] = {6};
    fv_dataset *d = fv_dataset_from_f32(N, 1, dims, x, NULL);
    fv_model *m = fv_model_parse_string(two_heads, "two.fv");
    CHECK(d && m);
    if (!d || !m) return;
    fv_fit_opts o = fv_fit_defaults();
    o.batch_size = 16;
    o.epochs = 12;
    o.validation_split = 0.25;
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_INVALID); /* no targets yet */
    CHECK_STR_CONTAINS(fv_last_error(), "no targets for output 'cls'");
    CHECK_OK(fv_dataset_add_output(d, "cls", 1, cls));
    CHECK_OK(fv_dataset_add_output(d, "reg", 2, reg));
    CHECK(fv_dataset_add_output(d, "reg", 2, reg) == FV_ERR_INVALID);
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    const char *want[] = {"cls_accuracy", "cls_loss",         "loss",         "reg_loss",
                          "reg_mae",      "val_cls_accuracy", "val_cls_loss", "val_loss",
                          "val_reg_loss", "val_reg_mae"};
    CHECK(fv_history_columns(h) == 10);
    for (int c = 0; c < 10 && c < fv_history_columns(h); c++)
        CHECK(strcmp(fv_history_column_name(h, c), want[c]) == 0);
    const double *loss = fv_history_get(h, "loss"), *l1 = fv_history_get(h, "cls_loss"),
                 *l2 = fv_history_get(h, "reg_loss"), *vl = fv_history_get(h, "val_loss"),
                 *v1 = fv_history_get(h, "val_cls_loss"), *v2 = fv_history_get(h, "val_reg_loss"),
                 *acc = fv_history_get(h, "val_cls_accuracy");
    const int64_t E = fv_history_epochs(h);
    CHECK(E == 12);
    for (int64_t e = 0; e < E; e++) {
        CHECK_CLOSE(loss[e], l1[e] + l2[e], 1e-9, 1e-9);
        CHECK_CLOSE(vl[e], v1[e] + v2[e], 1e-9, 1e-9);
    }
    CHECK(loss[E - 1] < 0.6 * loss[0]);
    CHECK(acc[E - 1] > 0.6);
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(d);
    free(x);
}

/* Two inputs: the dataset's samples feed the first, an array by name the second (Keras' x as a
 * dict); training learns a label that needs both, and prediction takes the same dataset. */
TEST(fit_trains_several_inputs)
{
    const char *text = "input shape=4 name=a\ninput shape=3 name=b\n"
                       "dense name=da units=6 activation=tanh inputs=a\n"
                       "concatenate inputs=da,b\ndense units=2 activation=softmax\n"
                       "compile loss=sparse_categorical_crossentropy optimizer=adam "
                       "learning_rate=0.02 metrics=accuracy\n";
    enum { N = 160 };
    float *a = random_inputs(N * 4, 51), *b = random_inputs(N * 3, 52);
    int32_t y[N];
    for (int i = 0; i < N; i++)
        y[i] = a[i * 4] + b[i * 3 + 1] > 0;
    const int64_t da[1] = {4}, db[1] = {3}, dbad[1] = {2};
    fv_dataset *d = fv_dataset_from_f32(N, 1, da, a, y);
    fv_model *m = fv_model_parse_string(text, "two_inputs.fv");
    CHECK(d && m);
    if (!d || !m) return;
    fv_fit_opts o = fv_fit_defaults();
    o.batch_size = 16;
    o.epochs = 25;
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "no array for input 'b'");
    CHECK(fv_dataset_add_input(d, "b", 1, dbad, b) == FV_OK); /* the wrong shape: refused at fit */
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "input 'b'");
    fv_dataset_free(d);
    d = fv_dataset_from_f32(N, 1, da, a, y);
    CHECK_OK(fv_dataset_add_input(d, "b", 1, db, b));
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    const double *acc = fv_history_get(h, "accuracy");
    CHECK(acc && acc[fv_history_epochs(h) - 1] > 0.85);
    float *p = malloc(N * 2 * sizeof(float));
    CHECK_OK(fv_model_predict(m, d, 32, p));
    int correct = 0;
    for (int i = 0; i < N; i++)
        correct += (p[i * 2 + 1] > p[i * 2]) == y[i];
    CHECK(correct > 0.85 * N);
    free(p), free(a), free(b);
    fv_history_free(h);
    fv_model_free(m);
    fv_dataset_free(d);
}

/* A plan that could not be made leaves none behind: a prediction too large to plan, then training
 * and prediction at ordinary sizes give the results they would have given (a half-changed plan
 * once read past its gradient buffers, or applied a folded BatchNormalization twice). */
TEST(a_failed_plan_leaves_no_half_plan)
{
    const char *text = "input shape=6\ndense name=d units=8\nbatch_normalization name=bn\n"
                       "relu\ndense units=3 activation=softmax\n"
                       "compile loss=sparse_categorical_crossentropy optimizer=adam\n";
    enum { N = 32 };
    float *x = random_inputs(N * 6, 61);
    int32_t y[N];
    for (int i = 0; i < N; i++)
        y[i] = i % 3;
    const int64_t dims[1] = {6};
    fv_dataset *d = fv_dataset_from_f32(N, 1, dims, x, y);
    fv_model *a = fv_model_parse_string(text, "a"), *b = fv_model_parse_string(text, "b");
    fv_fit_opts o = fv_fit_defaults();
    o.batch_size = 16;
    CHECK_OK(fv_model_fit(a, d, &o, NULL));
    CHECK_OK(fv_model_fit(b, d, &o, NULL));
    /* a: a lean plan, then a full plan that cannot be made; b: neither */
    float pa[N * 3], pb[N * 3];
    CHECK_OK(fv_model_predict(a, d, N, pa)); /* larger than fit's plan: a lean plan */
    CHECK(a->plan_lean);
    CHECK(fv_model_forward(a, x, (int64_t)1 << 40) != FV_OK);
    CHECK_OK(fv_model_predict(a, d, 8, pa));
    CHECK_OK(fv_model_predict(b, d, 8, pb));
    /* a now predicts through a lean plan (BatchNormalization folded), b through fit's plan */
    CHECK(check_arrays("predictions", pa, pb, N * 3, 1e-6, 1e-5));
    /* a full plan in place, then a lean plan that cannot be made, then training */
    const float *xs[1] = {x};
    float *big[1] = {pa};
    CHECK(fv_model_predict_arrays(a, xs, (int64_t)1 << 40, (int64_t)1 << 40, big) != FV_OK);
    CHECK_OK(fv_model_fit(a, d, &o, NULL));
    CHECK_OK(fv_model_fit(b, d, &o, NULL));
    CHECK(memcmp(fv_model_param(a, "d.kernel", NULL, NULL),
                 fv_model_param(b, "d.kernel", NULL, NULL), 48 * sizeof(float)) == 0);
    /* training after a large prediction plans for training's batch, not the prediction's */
    float *pbig = malloc(N * 3 * sizeof(float));
    CHECK_OK(fv_model_predict(a, d, N, pbig));
    CHECK_OK(fv_model_fit(a, d, &o, NULL));
    CHECK(a->plan_n == 16);
    free(pbig), free(x);
    fv_model_free(a), fv_model_free(b);
    fv_dataset_free(d);
}

/* The same metric on two outputs is fine; twice on one is not; outputs that compile named cannot
 * be reordered under it; an input's name is taken before a layer's default. */
TEST(names_of_outputs_metrics_and_inputs_stay_consistent)
{
    const char *base = "input shape=6\ndense name=h units=4\n"
                       "dense name=a units=2 activation=softmax\n"
                       "dense name=b units=2 inputs=h activation=softmax\nmodel outputs=a,b\n";
    char text[512];
    snprintf(text, sizeof text,
             "%scompile loss=categorical_crossentropy metrics=a:accuracy,b:accuracy\n", base);
    fv_model *m = fv_model_parse_string(text, "m");
    CHECK(m != NULL);
    fv_model_free(m);
    snprintf(text, sizeof text,
             "%scompile loss=categorical_crossentropy metrics=a:accuracy,a:acc\n", base);
    CHECK_STR_CONTAINS(parse_error(text), "given twice");
    snprintf(text, sizeof text,
             "%scompile loss=a:categorical_crossentropy,b:mse\nmodel outputs=b,a\n", base);
    CHECK_STR_CONTAINS(parse_error(text),
                       "outputs must be named before a compile line that names them");
    m = fv_model_parse_string("input shape=4 name=dense\ndense units=5\n", "n");
    CHECK(m && strcmp(fv_model_layer_name(m, 0), "dense_1") == 0);
    fv_model_free(m);
}

/* ---- PyTorch fixtures (tests/fixtures/make_graph_fixtures.py) ------------------------------ */

static int64_t st_count(const fv_st_tensor *t)
{
    int64_t c = 1;
    for (int i = 0; i < t->rank; i++)
        c *= t->dims[i];
    return c;
}

/* Compares model tensor `name` (or its gradient) with fixture tensor `key`:
 * |a − b| <= atol·max(max|b|, 0.01) + rtol·|b|. The floor serves a gradient that is zero in
 * exact arithmetic (a bias before BatchNormalization), where float32 leaves about 1e-9. */
static void compare(const fv_st_file *f, const char *key, const float *got, double atol,
                    double rtol)
{
    const fv_st_tensor *t = fv__st_find(f, key);
    CHECK(t != NULL && got != NULL);
    if (!t || !got) {
        fprintf(stderr, "  missing %s\n", key);
        return;
    }
    const int64_t n = st_count(t);
    float *want = malloc((size_t)n * sizeof(float));
    fv__st_copy_f32(f, t, want);
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    if (!check_arrays(key, got, want, (long)n, atol * fmax(scale, 0.01), rtol))
        test_failed_checks++;
    free(want);
}

/* A gradient against the fixture's. A bias whose gradient is zero by the algebra (a convolution's
 * before a BatchNormalization in training mode: Σ dx = 0) is compared at its layer's kernel
 * gradient's scale: its computed value is the sum of the roundings of BatchNormalization's float
 * input gradient (2.8e-8 from PyTorch's autograd in float32 on graph_resblock, against a kernel
 * gradient of 4.8e-3), below the 1e-8 that a scale of 0 gives. */
static double largest_magnitude(const fv_st_file *f, const fv_st_tensor *t)
{
    float *v = malloc((size_t)st_count(t) * sizeof(float));
    fv__st_copy_f32(f, t, v);
    double m = 0;
    for (int64_t i = 0; i < st_count(t); i++)
        m = fmax(m, fabs(v[i]));
    free(v);
    return m;
}

static void compare_grad(const fv_st_file *f, const char *key, const float *got)
{
    const fv_st_tensor *t = fv__st_find(f, key);
    const size_t len = strlen(key);
    if (t && got && len > 5 && !strcmp(key + len - 5, ".bias")) {
        char kernel[128];
        snprintf(kernel, sizeof kernel, "%.*skernel", (int)(len - 4), key);
        const fv_st_tensor *tk = fv__st_find(f, kernel);
        if (tk && largest_magnitude(f, t) < 1e-12) {
            const double ks = largest_magnitude(f, tk);
            for (int64_t i = 0; i < st_count(t); i++)
                CHECK(fabs(got[i]) <= 1e-5 * ks);
            return;
        }
    }
    compare(f, key, got, 1e-6, 5e-5);
}

/* Loads every weight tensor of the fixture (names with a '.' and no prefix) into the model. */
static void load_weights(fv_model *m, const fv_st_file *f)
{
    for (int i = 0; i < f->ntensors; i++) {
        const char *name = f->tensors[i].name;
        if (!strchr(name, '.') || !strncmp(name, "grad.", 5) || !strncmp(name, "moved.", 6) ||
            !strncmp(name, "sgd", 3))
            continue;
        float *w = fv_model_param(m, name, NULL, NULL);
        CHECK(w != NULL);
        if (w) fv__st_copy_f32(f, &f->tensors[i], w);
    }
}

static void graph_fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "fixtures/%s.safetensors", name);
    fv_st_file f;
    CHECK_OK(fv__st_read(path, &f));
    const char *text = NULL;
    for (int i = 0; i < f.nmeta; i++)
        if (!strcmp(f.meta_keys[i], "fovea.model")) text = f.meta_values[i];
    fv_model *m = text ? fv_model_parse_string(text, path) : NULL;
    CHECK(m != NULL);
    if (!m) {
        fv__st_free(&f);
        return;
    }
    const fv_st_tensor *tx = fv__st_find(&f, "x"), *tl = fv__st_find(&f, "labels");
    const int64_t n = tx->dims[0];
    float *x = malloc((size_t)st_count(tx) * sizeof(float)),
          *lf = malloc((size_t)n * sizeof(float));
    fv__st_copy_f32(&f, tx, x);
    fv__st_copy_f32(&f, tl, lf);
    int32_t *labels = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++)
        labels[i] = (int32_t)lf[i];
    fv_targets t = {.labels = labels};

    /* Inference mode: the moving statistics. */
    load_weights(m, &f);
    CHECK_OK(fv_model_forward(m, x, n));
    compare(&f, "y_infer", fv_model_output(m, 0), 2e-6, 2e-5);
    /* Training mode: loss, every gradient, the moving statistics after the pass. */
    double loss;
    CHECK_OK(fv__model_loss_and_grad(m, x, &t, n, true, &loss));
    const fv_st_tensor *tloss = fv__st_find(&f, "loss");
    float want_loss;
    fv__st_copy_f32(&f, tloss, &want_loss);
    CHECK_CLOSE(loss, want_loss, 1e-6, 1e-5);
    for (int i = 0; i < f.ntensors; i++) {
        const char *key = f.tensors[i].name;
        if (!strncmp(key, "grad.", 5)) compare_grad(&f, key, fv__model_grad(m, key + 5));
        if (!strncmp(key, "moved.", 6))
            compare(&f, key, fv_model_param(m, key + 6, NULL, NULL), 1e-6, 1e-5);
    }
    /* Two SGD steps with momentum from the initial weights. */
    fv_model_free(m);
    m = fv_model_parse_string(text, path);
    load_weights(m, &f);
    for (int step = 1; step <= 2; step++) {
        CHECK_OK(fv__model_train_step(m, x, &t, n, &loss));
        char prefix[8];
        snprintf(prefix, sizeof prefix, "sgd%d.", step);
        for (int i = 0; i < f.ntensors; i++) {
            const char *key = f.tensors[i].name;
            if (!strncmp(key, prefix, strlen(prefix)))
                compare(&f, key, fv_model_param(m, key + strlen(prefix), NULL, NULL), 1e-6, 2e-5);
        }
    }
    free(x), free(lf), free(labels);
    fv_model_free(m);
    fv__st_free(&f);
}

TEST(graph_fixtures_match_pytorch)
{
    graph_fixture("graph_resblock");
    graph_fixture("graph_merges");
}

int main(void)
{
    RUN(residual_model_summary_is_keras_functional);
    RUN(graph_errors_name_the_line_layers_and_shapes);
    RUN(canonical_text_of_a_graph_reads_back_the_same);
    RUN(fanout_graph_gradient_matches_finite_differences);
    RUN(paired_convolutions_gradient_matches_finite_differences);
    RUN(an_added_loss_is_in_the_loss_and_its_gradient);
    RUN(task_losses_and_added_loss_columns_reach_fit_and_evaluate);
    RUN(a_chain_written_with_inputs_is_the_sequential_model);
    RUN(several_inputs_and_outputs_run_forward);
    RUN(batch_normalization_moving_statistics_follow_keras);
    RUN(frozen_layers_are_not_updated);
    RUN(save_and_load_keep_moving_statistics_and_refuse_missing_tensors);
    RUN(graph_training_is_the_same_for_any_thread_count);
    RUN(checkpoint_resume_of_a_graph_is_bit_identical);
    RUN(prediction_folds_batch_normalization_and_reuses_buffers);
    RUN(prediction_runs_the_relu_after_a_folded_batch_normalization_in_the_convolution);
    RUN(graph_fixtures_match_pytorch);
    RUN(several_outputs_sum_their_weighted_losses_and_gradients);
    RUN(fit_trains_several_outputs_with_keras_columns);
    RUN(fit_trains_several_inputs);
    RUN(a_failed_plan_leaves_no_half_plan);
    RUN(names_of_outputs_metrics_and_inputs_stay_consistent);
    return TEST_SUMMARY();
}
