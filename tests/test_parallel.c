/* test_parallel.c — data-parallel training through fv_fit_opts.collective, without MPI: P threads
 * each train their own copy of a model on their slice of every batch, joined by an in-process
 * collective (a barrier and shared pointers) that keeps fv_collective's contract; the weights and
 * history are those of one model trained alone, bit for bit, BatchNormalization, dropout, a
 * validation split, auc and the last smaller batch included. tests/cli_mpi.sh does the same over
 * MPI with the fovea command.
 */
#include "fovea.h"
#include "model/model_impl.h"
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char model_text[] = "input shape=6,6,1\n"
                                 "conv2d filters=4 kernel_size=3\n"
                                 "batch_normalization\n"
                                 "activation activation=relu\n"
                                 "flatten\n"
                                 "dropout rate=0.25\n"
                                 "dense units=6 activation=relu\n"
                                 "dense units=4 activation=softmax\n"
                                 "compile loss=sparse_categorical_crossentropy optimizer=adam "
                                 "learning_rate=0.01 metrics=accuracy,auc\n";

/* Class = which quadrant of an S x S image is bright (as test_fit.c's, whose S is 6). */
static fv_dataset *quadrants(int64_t n, uint64_t seed, int S)
{
    uint8_t *x = calloc((size_t)(n * S * S), 1);
    int32_t *y = calloc((size_t)n, sizeof *y);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        const int c = (int)((s >> 33) % 4);
        uint8_t *xi = x + i * S * S;
        for (int p = 0; p < S * S; p++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            xi[p] = (uint8_t)((s >> 40) % 120);
        }
        for (int r = 0; r < S / 2; r++)
            for (int q = 0; q < S / 2; q++)
                xi[((c / 2) * (S / 2) + r) * S + (c % 2) * (S / 2) + q] = 200;
        y[i] = c;
    }
    fv_dataset *d = fv_dataset_from_u8(n, 3, (int64_t[]){S, S, 1}, x, y);
    free(x);
    free(y);
    return d;
}

/* ---- an in-process collective: P threads, one barrier, each thread's buffer published ----------
 */

typedef struct group {
    int size;
    pthread_barrier_t bar;
    void *bufs[FV_BATCH_CHUNKS];
} group;

typedef struct member {
    group *g;
    int rank;
} member;

static fv_status gather(void *ctx, void *buf, const size_t *off)
{
    member *me = ctx;
    group *g = me->g;
    g->bufs[me->rank] = buf;
    pthread_barrier_wait(&g->bar);
    for (int q = 0; q < g->size; q++)
        if (q != me->rank)
            memcpy((char *)buf + off[q], (const char *)g->bufs[q] + off[q], off[q + 1] - off[q]);
    pthread_barrier_wait(&g->bar); /* nobody changes a buffer before all have read it */
    return FV_OK;
}

static fv_status sum(void *ctx, float *a, int64_t n)
{
    member *me = ctx;
    group *g = me->g;
    float *t = malloc((size_t)(n ? n : 1) * sizeof *t);
    if (!t) return FV_ERR_NOMEM;
    g->bufs[me->rank] = a;
    pthread_barrier_wait(&g->bar);
    for (int64_t e = 0; e < n; e++) {
        float v[FV_BATCH_CHUNKS] = {0};
        for (int q = 0; q < g->size; q++)
            v[q] = ((const float *)g->bufs[q])[e];
        for (int w = 1; w < g->size; w *= 2) /* ((a0 + a1) + (a2 + a3)) + ... */
            for (int q = 0; q + w < g->size; q += 2 * w)
                v[q] = v[q] + v[q + w];
        t[e] = v[0];
    }
    pthread_barrier_wait(&g->bar);
    memcpy(a, t, (size_t)n * sizeof *t);
    free(t);
    return FV_OK;
}

static fv_dataset *quadrant_data(void)
{
    return quadrants(90, 7, 6);
}

/* A detector's data: 24 scenes of 32 x 32 with up to 3 quadrant images of 8 to 16 pixels, as
 * targets of the yolo head named `detections` (up to 4 boxes). */
static fv_dataset *scene_data(void)
{
    fv_dataset *src = quadrants(40, 3, 8), *out = NULL;
    const char *const names[] = {"a", "b", "c", "d"};
    fv_scene_opts o = fv_scene_defaults();
    o.size = 32, o.max_objects = 3, o.min_object = 8, o.max_object = 16;
    fv_detset *d = NULL;
    if (src && fv_detset_make_scenes(src, names, 4, 24, &o, &d) == FV_OK)
        fv_detset_to_dataset(d, 32, 32, 4, "detections", &out);
    fv_detset_free(d);
    fv_dataset_free(src);
    return out;
}

static const char detector_text[] =
    "input shape=32,32,1\n"
    "conv2d filters=8 kernel_size=3 strides=2 padding=same use_bias=false\n"
    "batch_normalization\n"
    "relu\n"
    "conv2d filters=8 kernel_size=3 strides=2 padding=same\n"
    "conv2d name=pred filters=27 kernel_size=1\n"
    "yolo name=detections classes=4 anchors=1,1,2,2,3,3 max_boxes=4\n"
    "compile loss=yolo optimizer=adam learning_rate=0.01\n";

/* One process's run: its own model and data, its collective (NULL: alone). */
typedef struct run {
    const char *text;
    fv_dataset *(*data)(void);
    fv_collective coll;
    member me;
    bool parallel;
    int64_t batch;
    fv_status status;
    float *weights;
    int64_t nweights;
    fv_history *h;
} run;

static void *train(void *arg)
{
    run *r = arg;
    fv_model *m = fv_model_parse_string(r->text, "parallel");
    fv_dataset *d = r->data();
    fv_fit_opts o = fv_fit_defaults();
    o.batch_size = r->batch;
    o.epochs = 3;
    o.seed = 11;
    o.validation_split = 0.2;
    o.collective = r->parallel ? &r->coll : NULL;
    r->status = m && d ? fv_model_fit(m, d, &o, &r->h) : FV_ERR_NOMEM;
    if (r->status == FV_OK) {
        r->nweights = m->nweights;
        r->weights = malloc((size_t)m->nweights * sizeof(float));
        memcpy(r->weights, m->weights, (size_t)m->nweights * sizeof(float));
    }
    fv_model_free(m);
    fv_dataset_free(d);
    return NULL;
}

/* Whether P threads' runs all equal the single run, weights and every history value. */
static void check_same_as_alone(const char *text, fv_dataset *(*data)(void), int P, int64_t batch)
{
    run alone = {.text = text, .data = data, .batch = batch};
    train(&alone);
    CHECK_OK(alone.status);
    group g = {.size = P};
    pthread_barrier_init(&g.bar, NULL, (unsigned)P);
    run rs[FV_BATCH_CHUNKS];
    pthread_t t[FV_BATCH_CHUNKS];
    for (int q = 0; q < P; q++) {
        rs[q] = (run){.text = text, .data = data, .batch = batch, .parallel = true, .me = {&g, q}};
        rs[q].coll =
            (fv_collective){.size = P, .rank = q, .ctx = &rs[q].me, .gather = gather, .sum = sum};
    }
    for (int q = 0; q < P; q++)
        pthread_create(&t[q], NULL, train, &rs[q]);
    for (int q = 0; q < P; q++)
        pthread_join(t[q], NULL);
    pthread_barrier_destroy(&g.bar);
    for (int q = 0; q < P; q++) {
        CHECK_OK(rs[q].status);
        if (rs[q].status != FV_OK || alone.status != FV_OK) continue;
        CHECK(rs[q].nweights == alone.nweights);
        CHECK(memcmp(rs[q].weights, alone.weights, (size_t)alone.nweights * sizeof(float)) == 0);
        CHECK(fv_history_columns(rs[q].h) == fv_history_columns(alone.h));
        CHECK(fv_history_epochs(rs[q].h) == 3);
        for (int c = 0; c < fv_history_columns(alone.h); c++) {
            const char *name = fv_history_column_name(alone.h, c);
            const double *a = fv_history_get(alone.h, name), *b = fv_history_get(rs[q].h, name);
            CHECK(b != NULL);
            for (int e = 0; b && e < 3; e++)
                if (memcmp(&a[e], &b[e], sizeof a[e]) != 0) {
                    fprintf(stderr, "  P=%d process %d, %s, epoch %d: %.17g vs %.17g alone\n", P, q,
                            name, e, b[e], a[e]);
                    CHECK(0);
                }
        }
        free(rs[q].weights);
        fv_history_free(rs[q].h);
    }
    free(alone.weights);
    fv_history_free(alone.h);
}

TEST(two_processes_train_as_one)
{
    check_same_as_alone(model_text, quadrant_data, 2, 16); /* 72 samples: a last batch of 8 */
}

TEST(four_processes_train_as_one_with_empty_slices)
{
    /* chunks of 0 or 1 sample; a last batch of 2 leaves slices empty */
    check_same_as_alone(model_text, quadrant_data, 4, 5);
}

/* The seed's shape: the second convolution runs max-pooling and dropout image by image (a chain,
 * each sample's dropout stream by its index in the whole batch) and flatten takes dropout's buffer;
 * each process runs the chain on its slice. */
static const char chain_text[] = "input shape=6,6,1\n"
                                 "conv2d filters=3 kernel_size=3 activation=relu\n"
                                 "conv2d filters=4 kernel_size=2 padding=same activation=relu\n"
                                 "maxpool2d pool_size=2\n"
                                 "dropout rate=0.25\n"
                                 "flatten\n"
                                 "dense units=4 activation=softmax\n"
                                 "compile loss=sparse_categorical_crossentropy optimizer=adam "
                                 "learning_rate=0.01 metrics=accuracy\n";

TEST(a_chain_and_an_alias_train_as_one)
{
    check_same_as_alone(chain_text, quadrant_data, 2, 16);
    check_same_as_alone(chain_text, quadrant_data, 4, 5);
}

TEST(a_detector_with_its_task_loss_trains_as_one)
{
    check_same_as_alone(detector_text, scene_data, 2, 6); /* 18 scenes: batches of 6 */
}

TEST(a_process_count_that_does_not_divide_16_is_refused)
{
    run r = {.text = model_text, .data = quadrant_data, .batch = 8, .parallel = true};
    r.coll = (fv_collective){.size = 3, .rank = 0, .gather = gather, .sum = sum};
    train(&r);
    CHECK(r.status == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "3 processes");
    CHECK_STR_CONTAINS(fv_last_error(), "must divide 16");
    fv_history_free(r.h);
}

static const char added_loss_text[] =
    "input shape=6,6,1\n"
    "flatten\n"
    "activity_regularization l2=0.01\n"
    "dense units=4 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

TEST(a_layer_that_adds_a_loss_trains_as_one)
{
    check_same_as_alone(added_loss_text, quadrant_data, 4, 10);
}

/* A VAE trained on its input: gaussian_noise and sampling draw by the batch's sample index, the
 * target is the whole batch's input, and the KL term's gradient is a mean over the whole batch. */
static const char vae_text[] = "input shape=6,6,1\n"
                               "gaussian_noise stddev=0.1\n"
                               "flatten\n"
                               "dense units=8 activation=tanh name=h\n"
                               "dense units=2 name=z_mean inputs=h\n"
                               "dense units=2 name=z_log_var inputs=h\n"
                               "sampling name=z inputs=z_mean,z_log_var\n"
                               "dense units=36 activation=sigmoid\n"
                               "reshape target_shape=6,6,1 name=reconstruction\n"
                               "model outputs=reconstruction\n"
                               "compile loss=binary_crossentropy "
                               "loss_weights=reconstruction:36 optimizer=adam\n"
                               "fit target=input\n";

TEST(a_vae_trains_as_one)
{
    check_same_as_alone(vae_text, quadrant_data, 2, 10);
}

/* A residual block with a strided 3×3 convolution and a 1×1 projection reading one tensor (the
 * 3×3's input gradient added in place into the projection's where the kernels do it,
 * fv_run.dx_add), fused BatchNormalization → Add → ReLU groups (the Add's other input's gradient
 * written by the sums' pass, each process its own slice) and the one-pass batch statistics about
 * the moving mean. */
static const char residual_text[] =
    "input shape=6,6,1\n"
    "conv2d name=stem filters=8 kernel_size=3 padding=same use_bias=false\n"
    "batch_normalization name=bn0\n"
    "relu name=r0\n"
    "conv2d name=c1 filters=8 kernel_size=3 strides=2 padding=same use_bias=false\n"
    "batch_normalization name=bn1\n"
    "relu name=r1\n"
    "conv2d name=c2 filters=8 kernel_size=3 padding=same use_bias=false\n"
    "batch_normalization name=bn2\n"
    "conv2d name=proj filters=8 kernel_size=1 strides=2 use_bias=false inputs=r0\n"
    "batch_normalization name=pbn\n"
    "add name=join inputs=pbn,bn2\n"
    "relu name=r2\n"
    "global_average_pooling2d\n"
    "dense units=4 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n";

TEST(a_residual_block_trains_as_one)
{
    check_same_as_alone(residual_text, quadrant_data, 2, 16);
    check_same_as_alone(residual_text, quadrant_data, 4, 5); /* empty slices */
}

/* conv2d doing its BatchNormalization's passes (fv_bn_pair): c's pair in a group whose skip (s)
 * and c's input (u) are read again after it (the input gradient then left with the
 * BatchNormalization), q writing r and bq's statistics from q's sums; each process its own slice,
 * fit's validation on the training plan. */
static const char pairs_text[] =
    "input shape=6,6,1\n"
    "conv2d name=s filters=4 kernel_size=3 padding=same\n"
    "conv2d name=u filters=6 kernel_size=1\n"
    "conv2d name=c filters=4 kernel_size=3 padding=same\n"
    "batch_normalization name=bn\n"
    "add name=a inputs=bn,s\n"
    "relu name=r\n"
    "conv2d name=q filters=4 kernel_size=3 strides=2 padding=same\n"
    "batch_normalization name=bq\n"
    "relu name=rq\n"
    "global_average_pooling2d name=g1\n"
    "concatenate name=cat inputs=r,s,u\n"
    "global_average_pooling2d name=g2\n"
    "concatenate name=all inputs=g1,g2\n"
    "dense units=4 activation=softmax\n"
    "compile loss=sparse_categorical_crossentropy optimizer=adam learning_rate=0.01\n";

TEST(convolutions_with_their_batch_normalization_passes_train_as_one)
{
    check_same_as_alone(pairs_text, quadrant_data, 2, 16);
}

int main(void)
{
    fv_set_threads(1);
    RUN(two_processes_train_as_one);
    RUN(four_processes_train_as_one_with_empty_slices);
    RUN(a_chain_and_an_alias_train_as_one);
    RUN(a_detector_with_its_task_loss_trains_as_one);
    RUN(a_process_count_that_does_not_divide_16_is_refused);
    RUN(a_layer_that_adds_a_loss_trains_as_one);
    RUN(a_vae_trains_as_one);
    RUN(a_residual_block_trains_as_one);
    RUN(convolutions_with_their_batch_normalization_passes_train_as_one);
    return TEST_SUMMARY();
}
