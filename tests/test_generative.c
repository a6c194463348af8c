/* test_generative.c — the parts of generative models below the pictures: targets that are the
 * model's input (fit target=input, clean of the model's noise), the decoder run from an
 * intermediate node, and the Fréchet distance against NumPy/SciPy fixtures.
 */
#include "fovea.h"
#include "model/fit.h"
#include "model/model.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

/* n images of 2x3x1 pixels from a fixed recurrence, with labels 0/1. */
static fv_dataset *tiny_images(int64_t n, uint8_t **pixels)
{
    uint8_t *x = malloc((size_t)n * 6);
    int32_t *y = malloc((size_t)n * sizeof *y);
    uint64_t s = 7;
    for (int64_t i = 0; i < n * 6; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (uint8_t)(s >> 56);
    }
    for (int64_t i = 0; i < n; i++)
        y[i] = (int32_t)(i % 2);
    fv_dataset *d = fv_dataset_from_u8(n, 3, (const int64_t[]){2, 3, 1}, x, y);
    free(y);
    *pixels = x;
    return d;
}

/* Keras' binary cross-entropy of y against t, mean over all values (probabilities clipped). */
static double bce_mean(const float *y, const float *t, int64_t count)
{
    double sum = 0;
    for (int64_t i = 0; i < count; i++) {
        double p = y[i] < 1e-7f ? 1e-7 : y[i] > 1 - 1e-7f ? 1 - 1e-7 : (double)y[i];
        sum += -(t[i] * log(p) + (1 - t[i]) * log(1 - p));
    }
    return sum / (double)count;
}

TEST(test_target_input_is_the_scaled_input)
{
    uint8_t *px;
    fv_dataset *d = tiny_images(10, &px);
    fv_model *m = fv_model_parse_string("input shape=2,3,1\n"
                                        "flatten\n"
                                        "dense units=6 activation=sigmoid\n"
                                        "reshape target_shape=2,3,1\n"
                                        "compile loss=binary_crossentropy optimizer=adam\n"
                                        "fit target=input seed=3\n",
                                        "ae.fv");
    CHECK(m != NULL);
    if (!m || !d) goto done;
    double loss = NAN, acc = 0;
    CHECK_OK(fv_model_evaluate(m, d, 4, &loss, &acc));
    /* No classes in a reconstruction: accuracy is not a number, not 0. */
    CHECK(isnan(acc));
    float y[60], t[60];
    CHECK_OK(fv_model_predict(m, d, 4, y));
    for (int i = 0; i < 60; i++)
        t[i] = (float)px[i] * (1.0f / 255.0f);
    CHECK_CLOSE(loss, bce_mean(y, t, 60), 1e-6, 1e-6);
    /* mse, too */
    CHECK_OK(fv_model_compile(m, "loss=mse optimizer=adam"));
    CHECK_OK(fv_model_evaluate(m, d, 3, &loss, NULL));
    double se = 0;
    for (int i = 0; i < 60; i++)
        se += ((double)y[i] - t[i]) * ((double)y[i] - t[i]);
    CHECK_CLOSE(loss, se / 60, 1e-7, 1e-6);
    /* The canonical text keeps the fit line's target. */
    char *text = fv_model_to_text(m);
    CHECK_STR_CONTAINS(text, "target=input");
    free(text);
done:
    fv_model_free(m);
    fv_dataset_free(d);
    free(px);
}

/* gaussian_noise noises what the layers see, never the target: with a zero kernel and a learning
 * rate of 0 the output is 0, and the training loss is exactly the mean of the clean target's
 * squares (a noised target would add stddev² = 1 on average). */
TEST(test_target_input_is_clean_of_the_models_noise)
{
    uint8_t *px;
    fv_dataset *d = tiny_images(8, &px);
    fv_model *m = fv_model_parse_string("input shape=2,3,1\n"
                                        "gaussian_noise stddev=1\n"
                                        "flatten\n"
                                        "dense units=6\n"
                                        "reshape target_shape=2,3,1\n"
                                        "compile loss=mse optimizer=sgd learning_rate=0\n"
                                        "fit target=input batch_size=8 epochs=1 shuffle=false\n",
                                        "dae.fv");
    CHECK(m != NULL);
    if (!m || !d) goto done;
    fv_history *h = NULL;
    fv_fit_opts o = fv_model_fit_opts(m);
    CHECK_OK(fv__model_ensure_weights(m, o.seed));
    int rank;
    int64_t dims[4];
    float *k = fv_model_param(m, "dense.kernel", &rank, dims);
    CHECK(k != NULL);
    if (!k) goto done;
    memset(k, 0, sizeof(float) * 36);
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    const double *loss = h ? fv_history_get(h, "loss") : NULL;
    CHECK(loss != NULL);
    double sq = 0;
    for (int i = 0; i < 48; i++)
        sq += (px[i] / 255.0) * (px[i] / 255.0);
    if (loss) CHECK_CLOSE(loss[0], sq / 48, 1e-7, 1e-6);
    fv_history_free(h);
done:
    fv_model_free(m);
    fv_dataset_free(d);
    free(px);
}

TEST(test_target_errors_name_the_item)
{
    fv_model *m = fv_model_parse_string("input shape=2,3,1\nflatten\ndense units=6\n"
                                        "fit target=input:\n",
                                        "bad.fv");
    CHECK(m == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "bad.fv:4: fit: target=input:: expected 'input'");
    uint8_t *px;
    fv_dataset *d = tiny_images(4, &px);
    /* Output shape (6) against the input's (2, 3, 1). */
    m = fv_model_parse_string("input shape=2,3,1\nflatten\ndense units=6\n"
                              "compile loss=mse\nfit target=input\n",
                              "shape.fv");
    double loss;
    CHECK(m && fv_model_evaluate(m, d, 4, &loss, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "output 'dense' has shape (None, 6) but its target, "
                                        "input 'input_layer', has shape (None, 2, 3, 1)");
    fv_model_free(m);
    m = fv_model_parse_string("input shape=2,3,1\nflatten\ndense units=6\nreshape "
                              "target_shape=2,3,1\ncompile loss=mse\nfit target=pixels\n",
                              "name.fv");
    CHECK(m && fv_model_evaluate(m, d, 4, &loss, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "fit: target=pixels: 'pixels' is not 'input'");
    fv_model_free(m);
    /* binary cross-entropy takes float inputs only in [0, 1] */
    float xf[12] = {0.5f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 1.5f, 0, 0, 0};
    fv_dataset *f = fv_dataset_from_f32(2, 3, (const int64_t[]){2, 3, 1}, xf, NULL);
    m = fv_model_parse_string("input shape=2,3,1\nflatten\ndense units=6 activation=sigmoid\n"
                              "reshape target_shape=2,3,1\ncompile "
                              "loss=binary_crossentropy\nfit target=input\n",
                              "f.fv");
    CHECK(m && f && fv_model_evaluate(m, f, 4, &loss, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(),
                       "sample 1 (counting from 0) of input 'input_layer' holds 1.5");
    fv_model_free(m);
    fv_dataset_free(f);
    fv_dataset_free(d);
    free(px);
}

static int layer_index(const fv_model *m, const char *name)
{
    for (int i = 0; i < fv_model_layer_count(m); i++)
        if (strcmp(fv_model_layer_name(m, i), name) == 0) return i;
    return -1;
}

/* The decoder run from z alone gives what the whole model gives from the image behind that z. */
TEST(test_run_from_the_latent_equals_the_whole_model)
{
    fv_model *m = fv_model_parse_string("input shape=4,4,1\n"
                                        "flatten\n"
                                        "dense units=5 activation=tanh\n"
                                        "dense units=3 name=z\n"
                                        "dense units=8 activation=relu\n"
                                        "dense units=16 activation=sigmoid\n"
                                        "reshape target_shape=4,4,1 name=out\n",
                                        "ae.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 7 };
    float x[N * 16], z[N * 3], y[N * 16], y2[N * 16];
    for (int i = 0; i < N * 16; i++)
        x[i] = (float)((i * 37) % 101) / 100.0f;
    CHECK_OK(fv_model_forward(m, x, N));
    const int iz = layer_index(m, "z"), io = layer_index(m, "out");
    memcpy(z, fv_model_layer_output(m, iz), sizeof z);
    memcpy(y, fv_model_layer_output(m, io), sizeof y);
    int rank;
    int64_t dims[4];
    CHECK_OK(fv_model_node_shape(m, "z", &rank, dims));
    CHECK(rank == 1 && dims[0] == 3);
    /* batches of 3 (the last one short) */
    CHECK_OK(fv_model_run_from(m, "z", NULL, z, N, 3, 1, y2));
    check_arrays("decoded", y2, y, N * 16, 0, 0);
    /* to an intermediate layer, and from the input (the whole model) */
    float h[N * 8];
    CHECK_OK(fv_model_run_from(m, "z", "dense_1", z, N, 0, 1, h));
    CHECK(h[0] >= 0 && fv_model_layer_output(m, 0) == NULL);
    CHECK_OK(fv_model_run_from(m, "input_layer", "out", x, N, 0, 1, y2));
    check_arrays("whole", y2, y, N * 16, 0, 0);
    /* errors name the nodes */
    CHECK(fv_model_run_from(m, "zz", NULL, z, N, 0, 1, y2) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "no layer or input named 'zz'");
    CHECK(fv_model_run_from(m, "z", "dense", z, N, 0, 1, y2) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "the output 'dense' comes before 'z'");
    fv_model_free(m);

    /* A skip connection around z: the decoder needs the input too. */
    m = fv_model_parse_string("input shape=4\n"
                              "dense units=2 name=z\n"
                              "dense units=4 name=up\n"
                              "add inputs=up,input_layer\n",
                              "skip.fv");
    CHECK(m != NULL);
    if (!m) return;
    CHECK(fv_model_run_from(m, "z", NULL, z, 1, 0, 1, y2) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "layer 'add' (on the way to 'add') reads 'input_layer', "
                                        "which is not computed from 'z' alone");
    fv_model_free(m);
}

/* Rows of a fixture's .npy features into a new array; *n and *d receive its shape. */
static float *load_features(const char *path, int64_t *n, int64_t *d)
{
    fv_dataset *ds = fv_dataset_load_npy(path);
    if (!ds) {
        fprintf(stderr, "  %s: %s\n", path, fv_last_error());
        return NULL;
    }
    int64_t dims[4];
    CHECK(fv_dataset_shape(ds, dims) == 1);
    *n = fv_dataset_count(ds), *d = dims[0];
    float *x = malloc((size_t)(*n * *d) * sizeof *x);
    for (int64_t i = 0; x && i < *n; i++)
        CHECK_OK(fv_dataset_get(ds, i, x + i * *d));
    fv_dataset_free(ds);
    return x;
}

/* Against SciPy (tests/fixtures/make_frechet_fixtures.py): well-conditioned, identical sets,
 * ReLU features with dead units, and fewer rows than features. */
TEST(test_frechet_distance_matches_scipy)
{
    FILE *f = fopen("fixtures/frechet/expected.txt", "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[256], name[64];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        double want, tol;
        if (line[0] == '#' || sscanf(line, "%63s %lf %lf", name, &want, &tol) != 3) continue;
        char pa[128], pb[128];
        snprintf(pa, sizeof pa, "fixtures/frechet/%s_a.npy", name);
        snprintf(pb, sizeof pb, "fixtures/frechet/%s_b.npy", name);
        int64_t na, nb, da, db;
        float *a = load_features(pa, &na, &da), *b = load_features(pb, &nb, &db);
        double got = NAN;
        CHECK(a && b && da == db);
        if (a && b && da == db) CHECK_OK(fv_frechet_distance(a, na, b, nb, da, &got));
        if (!(fabs(got - want) <= tol * (want > 1 ? want : 1))) {
            fprintf(stderr, "  %s: fovea %.12g, SciPy %.12g (tolerance %g)\n", name, got, want,
                    tol);
            CHECK(0);
        }
        printf("     %s: fovea %.12g, SciPy %.12g\n", name, got, want);
        free(a), free(b);
        cases++;
    }
    fclose(f);
    CHECK(cases == 4);
}

TEST(test_frechet_distance_hand_worked_and_errors)
{
    /* One feature: d² = (μ₁ − μ₂)² + (σ₁ − σ₂)². a = {0, 2}: μ 1, σ² 2; b = {3, 11}: μ 7, σ² 32:
     * 36 + 2 + 32 − 2·√64 = 54. */
    const float a[] = {0, 2}, b[] = {3, 11};
    double d = NAN;
    CHECK_OK(fv_frechet_distance(a, 2, b, 2, 1, &d));
    CHECK_CLOSE(d, 54.0, 1e-12, 1e-12);
    /* Two independent features shift the means only: |(1, 1)|² = 2. */
    const float c[] = {0, 0, 2, 2}, e[] = {1, 1, 3, 3};
    CHECK_OK(fv_frechet_distance(c, 2, e, 2, 2, &d));
    CHECK_CLOSE(d, 2.0, 1e-12, 1e-12);
    CHECK(fv_frechet_distance(a, 1, b, 2, 1, &d) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "each set needs at least 2");
    CHECK(fv_frechet_distance(a, 2, b, 2, 0, &d) == FV_ERR_INVALID);
}

/* The sampling layer, built by hand as the model would (two rank-1 inputs of `latent`). */
typedef struct sampler {
    fv_layer l;
    float *saved;
} sampler;

static fv_status sampler_make(sampler *s, const char *args, int64_t latent, int64_t n)
{
    memset(s, 0, sizeof *s);
    s->l.kind = fv__layer_kind_find("sampling");
    if (!s->l.kind) return fv__fail(FV_ERR_INVALID, "no sampling kind");
    s->l.cfg = calloc(1, s->l.kind->cfg_size);
    fv_status st = fv__args_defaults(s->l.kind->args, s->l.cfg);
    if (st == FV_OK && args) {
        const char *eq = strchr(args, '=');
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)(eq - args), args);
        st = fv__args_set(s->l.kind->args, s->l.cfg, key, eq + 1, &s->l.given);
    }
    s->l.nin = 2;
    s->l.in[0] = s->l.in[1] = (fv_shape){.rank = 1, .d = {latent}};
    if (st == FV_OK) st = s->l.kind->build(&s->l);
    if (st == FV_OK) s->l.saved = s->saved = calloc((size_t)n, s->l.saved_per_sample);
    return st;
}

/* index0: at inference, the evaluated data's index of sample 0. */
static void sampler_forward_at(sampler *s, const float *mu, const float *lv, float *z, int64_t n,
                               bool training, uint64_t seed, int64_t index0)
{
    fv_rng rng;
    fv__rng_seed(&rng, seed);
    fv_run r = {.n = n, .training = training, .rng = &rng, .threads = 2, .index0 = index0};
    const float *xs[2] = {mu, lv};
    s->l.kind->forward(&s->l, xs, z, &r);
}

static void sampler_forward(sampler *s, const float *mu, const float *lv, float *z, int64_t n,
                            bool training, uint64_t seed)
{
    sampler_forward_at(s, mu, lv, z, n, training, seed, 0);
}

static float *fixture(const char *name, int64_t want)
{
    char path[128];
    snprintf(path, sizeof path, "fixtures/sampling/%s.npy", name);
    int64_t n, d;
    float *x = load_features(path, &n, &d);
    CHECK(x && n * d == want);
    return x;
}

/* z = μ + exp(½ lv)·ε, the KL term and both gradients against PyTorch's autograd with ε fixed
 * (tests/fixtures/make_sampling_fixture.py). */
TEST(test_sampling_matches_pytorch)
{
    enum { N = 5, L = 3 };
    float *mu = fixture("mu", N * L), *lv = fixture("log_var", N * L), *eps = fixture("eps", N * L),
          *dz = fixture("dz", N * L), *z = fixture("z", N * L), *dmu = fixture("dmu", N * L),
          *dlv = fixture("dlv", N * L), *kl = fixture("kl", 1);
    sampler s;
    CHECK_OK(sampler_make(&s, NULL, L, N));
    if (!(mu && lv && eps && dz && z && dmu && dlv && kl && s.saved)) goto done;
    float y[N * L], g0[N * L], g1[N * L], dy[N * L];
    /* The layer's own ε: the output is the formula on what it saved, and ε looks normal. */
    sampler_forward(&s, mu, lv, y, N, true, 9);
    for (int i = 0; i < N * L; i++)
        CHECK_CLOSE(y[i], mu[i] + expf(0.5f * lv[i]) * s.saved[i], 1e-6, 1e-6);
    /* PyTorch's ε in its place: backward and the KL term. */
    memcpy(s.saved, eps, sizeof y);
    memcpy(dy, dz, sizeof dy);
    const float *xs[2] = {mu, lv};
    float *dxs[2] = {g0, g1};
    fv_run r = {.n = N, .training = true, .threads = 1};
    s.l.kind->backward(&s.l, xs, y, dy, dxs, &r);
    check_arrays("dz_mean", g0, dmu, N * L, 1e-6, 1e-5);
    check_arrays("dz_log_var", g1, dlv, N * L, 1e-6, 1e-5);
    CHECK_CLOSE(s.l.kind->loss(&s.l, xs, y, N), kl[0], 1e-7, 1e-6);
    for (int i = 0; i < N * L; i++)
        y[i] = mu[i] + expf(0.5f * lv[i]) * eps[i];
    check_arrays("z", y, z, N * L, 1e-6, 1e-6);
done:
    free(s.l.cfg), free(s.saved);
    free(mu), free(lv), free(eps), free(dz), free(z), free(dmu), free(dlv), free(kl);
}

/* At inference the layer samples (Keras' example), each image its own ε by its index in the
 * evaluated data, whatever the batch it is in, also when two images' codes are bit-identical;
 * inference=mean gives z = z_mean. */
TEST(test_sampling_at_inference)
{
    enum { N = 4, L = 2 };
    const float mu[N * L] = {0.1f, -0.2f, 0.3f, 0.4f, 0.1f, -0.2f, -1, 2};
    const float lv[N * L] = {0, -1, 0.5f, 0.2f, 0, -1, 0.1f, 0.3f};
    float y[N * L], y1[L];
    sampler s;
    CHECK_OK(sampler_make(&s, NULL, L, N));
    sampler_forward(&s, mu, lv, y, N, false, 3);
    /* samples 0 and 2 have the same inputs but are two images: two draws; sample 1 differs
     * from its mean */
    CHECK(y[0] != y[4] && y[1] != y[5]);
    CHECK(y[2] != mu[2] && y[3] != mu[3]);
    /* image 1 alone in a batch starting at index 1 gets the same z; at another index, another */
    sampler_forward_at(&s, mu + 2, lv + 2, y1, 1, false, 3, 1);
    CHECK(y1[0] == y[2] && y1[1] == y[3]);
    sampler_forward_at(&s, mu + 2, lv + 2, y1, 1, false, 3, 0);
    CHECK(y1[0] != y[2]);
    /* the second half of the batch evaluated on its own (index 2 on): the same draws */
    float y2[2 * L];
    sampler_forward_at(&s, mu + 2 * L, lv + 2 * L, y2, 2, false, 3, 2);
    CHECK(memcmp(y2, y + 2 * L, sizeof y2) == 0);
    /* another seed, another z */
    sampler_forward_at(&s, mu + 2, lv + 2, y1, 1, false, 4, 1);
    CHECK(y1[0] != y[2]);
    free(s.l.cfg), free(s.saved);
    CHECK_OK(sampler_make(&s, "inference=mean", L, N));
    sampler_forward(&s, mu, lv, y, N, false, 3);
    CHECK(memcmp(y, mu, sizeof y) == 0);
    /* in training it samples all the same */
    sampler_forward(&s, mu, lv, y, N, true, 3);
    CHECK(y[0] != mu[0]);
    free(s.l.cfg), free(s.saved);
}

/* Points on the line through (1, 2): the first component is that direction (its sign so that the
 * larger coordinate is positive) and explains all of the variance. */
TEST(test_principal_components_of_a_line)
{
    const float x[] = {1, 2, 2, 4, 3, 6, -1, -2};
    float out[4 * 2];
    double ex[2];
    CHECK_OK(fv_principal_components(x, 4, 2, 2, out, ex));
    const double r5 = sqrt(5.0);
    const double want[4] = {-0.25 * 5 / r5, 0.75 * 5 / r5, 1.75 * 5 / r5, -2.25 * 5 / r5};
    for (int i = 0; i < 4; i++) {
        CHECK_CLOSE(out[2 * i], want[i], 1e-6, 1e-6);
        CHECK_CLOSE(out[2 * i + 1], 0, 1e-6, 0);
    }
    CHECK_CLOSE(ex[0], 1, 1e-12, 0);
    CHECK_CLOSE(ex[1], 0, 1e-12, 0);
    CHECK(fv_principal_components(x, 4, 2, 3, out, ex) == FV_ERR_INVALID);
}

/* A whole VAE (encoder, sampling, decoder; the reconstruction weighted to a sum over pixels plus
 * the KL term) by central differences: the step's streams are fixed until a step is taken, so ε is
 * the same at every probe. Along a random direction of all weights and per weight for a few. */
TEST(test_whole_vae_gradient_by_finite_differences)
{
    fv_model *m = fv_model_parse_string("input shape=2,3,1\n"
                                        "flatten\n"
                                        "dense units=5 activation=tanh name=h\n"
                                        "dense units=2 name=z_mean inputs=h\n"
                                        "dense units=2 name=z_log_var inputs=h\n"
                                        "sampling name=z inputs=z_mean,z_log_var\n"
                                        "dense units=6 activation=sigmoid\n"
                                        "reshape target_shape=2,3,1 name=reconstruction\n"
                                        "model outputs=reconstruction\n"
                                        "compile loss=binary_crossentropy "
                                        "loss_weights=reconstruction:6\n"
                                        "fit target=input seed=5\n",
                                        "vae.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 4 };
    float x[N * 6];
    for (int i = 0; i < N * 6; i++)
        x[i] = (float)((i * 5) % 7) / 6.0f;
    const fv_targets t = {.labels = NULL, .values = x};
    double L0;
    CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, true, &L0));
    CHECK(m->layers[4].kind->added_loss && strcmp(m->layers[4].kind->added_loss, "kl_loss") == 0);
    const int64_t nw = m->ntrain;
    float *g = malloc((size_t)nw * sizeof *g), *dir = malloc((size_t)nw * sizeof *dir);
    memcpy(g, m->grads, (size_t)nw * sizeof *g);
    fv_rng rng;
    fv__rng_seed(&rng, 3);
    double gd = 0;
    for (int64_t i = 0; i < nw; i++) {
        dir[i] = 2 * fv__rng_uniform(&rng) - 1;
        gd += (double)g[i] * dir[i];
    }
    const float h = 1e-3f;
    double Lp, Lm;
    for (int64_t i = 0; i < nw; i++)
        m->weights[i] += h * dir[i];
    CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, true, &Lp));
    for (int64_t i = 0; i < nw; i++)
        m->weights[i] -= 2 * h * dir[i];
    CHECK_OK(fv__model_loss_and_grad(m, x, &t, N, true, &Lm));
    for (int64_t i = 0; i < nw; i++)
        m->weights[i] += h * dir[i];
    CHECK_CLOSE((Lp - Lm) / (2 * h), gd, 1e-3, 2e-3);
    /* Per weight: every fourth one. */
    int bad = 0;
    for (int64_t i = 0; i < nw; i += 4) {
        const float w0 = m->weights[i];
        m->weights[i] = w0 + h;
        fv__model_loss_and_grad(m, x, &t, N, true, &Lp);
        m->weights[i] = w0 - h;
        fv__model_loss_and_grad(m, x, &t, N, true, &Lm);
        m->weights[i] = w0;
        const double num = (Lp - Lm) / (2 * h);
        if (!(fabs(num - g[i]) <= 2e-3 + 5e-3 * fabs(num))) {
            if (bad++ < 3)
                fprintf(stderr, "  weight %lld: analytic %.6g, numeric %.6g\n", (long long)i,
                        (double)g[i], num);
        }
    }
    CHECK(bad == 0);
    free(g), free(dir);
    fv_model_free(m);
}

/* Two alternating steps of a tiny GAN (generator with BatchNormalization, a discriminator of a
 * strided convolution with leaky ReLU) against PyTorch (tests/fixtures/make_gan_fixture.py): the
 * losses, every weight and the moving statistics after two steps. */
TEST(test_gan_steps_match_pytorch)
{
    static const char *const names[] = {"dense.kernel",
                                        "batch_normalization.gamma",
                                        "batch_normalization.beta",
                                        "generated.kernel",
                                        "generated.bias",
                                        "conv2d.kernel",
                                        "conv2d.bias",
                                        "realness.kernel",
                                        "realness.bias"};
    fv_model *m = fv_model_parse_string(
        "input shape=3\n"
        "dense units=8 use_bias=false\n"
        "batch_normalization\n"
        "relu\n"
        "reshape target_shape=2,2,2\n"
        "conv2d_transpose filters=1 kernel_size=2 strides=2 padding=same activation=tanh "
        "name=generated\n"
        "conv2d filters=2 kernel_size=2 strides=2 activation=leaky_relu\n"
        "flatten\n"
        "dense units=1 activation=sigmoid name=realness\n"
        "compile loss=binary_crossentropy optimizer=adam learning_rate=0.01 beta_1=0.5\n"
        "fit gan=generated batch_size=4\n",
        "gan.fv");
    CHECK(m != NULL);
    if (!m) return;
    CHECK(fv_model_gan(m) && strcmp(fv_model_gan(m), "generated") == 0);
    fv__gan_state st;
    CHECK_OK(fv__gan_init(m, 4, &st));
    char path[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int rank;
        int64_t dims[4], n, d;
        float *w = fv_model_param(m, names[i], &rank, dims);
        snprintf(path, sizeof path, "fixtures/gan/w0_%s.npy", names[i]);
        float *v = load_features(path, &n, &d);
        CHECK(w && v);
        if (w && v) memcpy(w, v, (size_t)(n * d) * sizeof(float));
        free(v);
    }
    int64_t n, d;
    float *z[2] = {load_features("fixtures/gan/z1.npy", &n, &d),
                   load_features("fixtures/gan/z2.npy", &n, &d)};
    float *real[2] = {load_features("fixtures/gan/real1.npy", &n, &d),
                      load_features("fixtures/gan/real2.npy", &n, &d)};
    float *losses = load_features("fixtures/gan/losses.npy", &n, &d);
    for (int step = 0; step < 2 && z[step] && real[step] && losses; step++) {
        double dl = NAN, gl = NAN;
        CHECK_OK(fv__gan_step(m, &st, z[step], real[step], 4, &dl, &gl));
        CHECK_CLOSE(dl, losses[2 * step], 1e-6, 1e-5);
        CHECK_CLOSE(gl, losses[2 * step + 1], 1e-6, 1e-5);
    }
    static const char *const after[] = {"batch_normalization.moving_mean",
                                        "batch_normalization.moving_variance"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] + 2; i++) {
        const char *name = i < sizeof names / sizeof names[0] ? names[i] : after[i - 9];
        int rank;
        int64_t dims[4];
        float *w = fv_model_param(m, name, &rank, dims);
        snprintf(path, sizeof path, "fixtures/gan/w2_%s.npy", name);
        float *v = load_features(path, &n, &d);
        CHECK(w && v);
        if (w && v) check_arrays(name, w, v, (long)(n * d), 1e-6, 1e-4);
        free(v);
    }
    free(z[0]), free(z[1]), free(real[0]), free(real[1]), free(losses);
    fv__gan_free(&st);
    fv_model_free(m);
}

int main(void)
{
    RUN(test_target_input_is_the_scaled_input);
    RUN(test_target_input_is_clean_of_the_models_noise);
    RUN(test_target_errors_name_the_item);
    RUN(test_run_from_the_latent_equals_the_whole_model);
    RUN(test_frechet_distance_matches_scipy);
    RUN(test_frechet_distance_hand_worked_and_errors);
    RUN(test_sampling_matches_pytorch);
    RUN(test_sampling_at_inference);
    RUN(test_principal_components_of_a_line);
    RUN(test_whole_vae_gradient_by_finite_differences);
    RUN(test_gan_steps_match_pytorch);
    return TEST_SUMMARY();
}
