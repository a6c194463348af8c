/* test_fixtures.c — fovea against an independent implementation: forward outputs, the loss, every
 * gradient and the weights after one and three Keras optimizer steps of small models, compared
 * element by element with the values PyTorch computed (tests/fixtures/make_fixtures.py wrote them
 * into tests/fixtures/NAME.safetensors, with the model text in the metadata).
 * Usage: test_fixtures [FIXTURE_DIR]   (default "fixtures": ctest runs it in tests/)
 */
#include "fovea.h"
#include "io/io.h"
#include "model/model.h"
#include "test.h"

#include <stdint.h>

static const char *fixture_dir = "fixtures";

/* Tolerances. The reference is float64 rounded to float32, so these bound fovea's own float32
 * error: a few ulps per layer, well below anything a wrong formula or layout would give. */
#define Y_ATOL          2e-6
#define Y_RTOL          2e-5
#define LOSS_RTOL       1e-5
#define GRAD_ATOL_SCALE 1e-6 /* × the tensor's largest |gradient| */
#define GRAD_RTOL       5e-5
#define STEP_ATOL       1e-5 /* make_fixtures.py keeps Adam away from its eps-sensitive region */
#define STEP_RTOL       1e-5
#define STEP3_ATOL      3e-5
#define STEP3_RTOL      3e-5

static int64_t tensor_count(const fv_st_tensor *t)
{
    int64_t c = 1;
    for (int i = 0; i < t->rank; i++)
        c *= t->dims[i];
    return c;
}

/* The F32 tensor `name` as a malloc'd array (count in *count), or NULL with a failed check. */
static float *load(const fv_st_file *f, const char *name, int64_t *count)
{
    const fv_st_tensor *t = fv__st_find(f, name);
    if (!t || strcmp(t->dtype, "F32") != 0) {
        fprintf(stderr, "  fixture has no F32 tensor \"%s\"\n", name);
        test_failed_checks++;
        return NULL;
    }
    int64_t c = tensor_count(t);
    float *out = malloc((size_t)(c > 0 ? c : 1) * sizeof *out);
    if (!out) {
        test_failed_checks++;
        return NULL;
    }
    fv__st_copy_f32(f, t, out);
    if (count) *count = c;
    return out;
}

static bool is_param_name(const char *name)
{
    return strchr(name, '.') && strncmp(name, "grad.", 5) != 0 && strncmp(name, "step.", 5) != 0 &&
           strncmp(name, "step3.", 6) != 0;
}

static double max_abs(const float *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* Compares every parameter tensor of the model (live weights, or gradients when grads is set)
 * with the fixture's tensors named PREFIX + parameter name. */
static void compare_params(fv_model *m, const fv_st_file *f, const char *prefix, bool grads,
                           double atol, double rtol)
{
    for (int i = 0; i < f->ntensors; i++) {
        const char *pname = f->tensors[i].name;
        if (!is_param_name(pname)) continue;
        char ref_name[160], what[200];
        snprintf(ref_name, sizeof ref_name, "%s%s", prefix, pname);
        snprintf(what, sizeof what, "%s%s", grads ? "" : "weights ", ref_name);
        int64_t n = 0;
        float *ref = load(f, ref_name, &n);
        if (!ref) continue;
        int rank;
        int64_t dims[4];
        const float *got = grads ? fv__model_grad(m, pname) : fv_model_param(m, pname, &rank, dims);
        if (!got) {
            fprintf(stderr, "  %s: the model has no tensor \"%s\"\n", what, pname);
            test_failed_checks++;
        } else {
            double a = grads ? atol * max_abs(ref, n) : atol;
            check_arrays(what, got, ref, (long)n, a, rtol);
        }
        free(ref);
    }
}

static void run_fixture(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.safetensors", fixture_dir, name);
    fv_st_file f;
    memset(&f, 0, sizeof f);
    fv_model *m = NULL;
    float *x = NULL, *y = NULL, *labf = NULL, *targets = NULL, *loss_ref = NULL,
          *step_losses = NULL;
    int32_t *labels = NULL;

    if (fv__st_read(path, &f) != FV_OK) {
        fprintf(stderr, "  %s: %s\n", path, fv_last_error());
        test_failed_checks++;
        return;
    }
    const char *text = fv__st_meta(&f, "fovea.model");
    if (!text) {
        fprintf(stderr, "  %s: no fovea.model metadata\n", path);
        test_failed_checks++;
        goto done;
    }
    m = fv_model_parse_string(text, path);
    if (!m) {
        fprintf(stderr, "  %s: the model text does not parse: %s\n%s", path, fv_last_error(), text);
        test_failed_checks++;
        goto done;
    }

    /* The batch: inputs and targets (class ids or float targets). */
    int64_t nx = 0, ny = 0, nl = 0, nloss = 0;
    const fv_st_tensor *tx = fv__st_find(&f, "x");
    if (!tx || !(x = load(&f, "x", &nx)) || !(y = load(&f, "y", &ny)) ||
        !(loss_ref = load(&f, "loss", &nloss)) || !(step_losses = load(&f, "step_losses", &nl)))
        goto done;
    const int64_t n = tx->dims[0];
    CHECK(nx == n * fv_model_input_size(m));
    CHECK(ny == n * fv_model_output_size(m));
    CHECK(nl == 3 && nloss == 1);
    if (test_failed_checks) goto done;
    fv_targets t = {NULL, NULL};
    if (fv__st_find(&f, "labels")) {
        int64_t c = 0;
        if (!(labf = load(&f, "labels", &c))) goto done;
        CHECK(c == n);
        labels = malloc((size_t)n * sizeof *labels);
        if (!labels) goto done;
        for (int64_t i = 0; i < n; i++)
            labels[i] = (int32_t)lrintf(labf[i]);
        t.labels = labels;
    } else {
        int64_t c = 0;
        if (!(targets = load(&f, "targets", &c))) goto done;
        CHECK(c == ny);
        t.values = targets;
    }

    /* The initial weights. A model may build its parameter memory lazily: if the first tensor is
     * not there yet, one forward pass builds it; the copied weights then replace whatever it
     * initialised. */
    int64_t copied = 0;
    bool built = false;
    for (int i = 0; i < f.ntensors; i++) {
        const fv_st_tensor *st = &f.tensors[i];
        if (!is_param_name(st->name)) continue;
        int rank = 0;
        int64_t dims[4] = {0};
        float *w = fv_model_param(m, st->name, &rank, dims);
        if (!w && !built) {
            CHECK_OK(fv_model_forward(m, x, n));
            built = true;
            w = fv_model_param(m, st->name, &rank, dims);
        }
        if (!w) {
            fprintf(stderr, "  the model has no tensor \"%s\"\n", st->name);
            test_failed_checks++;
            continue;
        }
        bool same = rank == st->rank;
        for (int d = 0; same && d < rank; d++)
            same = dims[d] == st->dims[d];
        if (!same) {
            fprintf(stderr, "  \"%s\": model shape (rank %d) differs from the fixture's\n",
                    st->name, rank);
            test_failed_checks++;
            continue;
        }
        fv__st_copy_f32(&f, st, w);
        copied += tensor_count(st);
    }
    CHECK(copied == fv_model_param_count(m));
    if (test_failed_checks) goto done;

    /* Forward (inference): the last layer's outputs. */
    CHECK_OK(fv_model_forward(m, x, n));
    const float *out = fv_model_layer_output(m, fv_model_layer_count(m) - 1);
    CHECK(out != NULL);
    if (out) check_arrays("y", out, y, (long)ny, Y_ATOL, Y_RTOL);

    /* Loss and gradients at the initial weights. */
    double loss = NAN;
    CHECK_OK(fv__model_loss_and_grad(m, x, &t, n, false, &loss));
    CHECK_CLOSE(loss, loss_ref[0], 0, LOSS_RTOL);
    compare_params(m, &f, "grad.", true, GRAD_ATOL_SCALE, GRAD_RTOL);

    /* One optimizer step, then two more. */
    CHECK_OK(fv__model_train_step(m, x, &t, n, &loss));
    CHECK_CLOSE(loss, step_losses[0], 0, LOSS_RTOL);
    compare_params(m, &f, "step.", false, STEP_ATOL, STEP_RTOL);
    for (int s = 1; s < 3; s++) {
        CHECK_OK(fv__model_train_step(m, x, &t, n, &loss));
        CHECK_CLOSE(loss, step_losses[s], 0, 2 * LOSS_RTOL);
    }
    compare_params(m, &f, "step3.", false, STEP3_ATOL, STEP3_RTOL);

done:
    free(x);
    free(y);
    free(labf);
    free(labels);
    free(targets);
    free(loss_ref);
    free(step_losses);
    fv_model_free(m);
    fv__st_free(&f);
}

/* (a) The seed CNN scaled down: conv-conv-maxpool-flatten-dense-dense, categorical CE, Adam. */
TEST(seed_cnn_matches_pytorch)
{
    run_fixture("seed_small");
}

/* (b) strides=2 and dilation with padding=same, a non-square kernel, tanh/elu/leaky_relu/sigmoid,
 * maxpool same; sparse categorical CE, SGD with Nesterov momentum. */
TEST(same_padding_strides_dilation_match_pytorch)
{
    run_fixture("conv_same_sgd");
}

/* (c) A dense-only MLP, use_bias=false, an elu layer with alpha; mse, SGD momentum. */
TEST(mlp_with_mse_matches_pytorch)
{
    run_fixture("mlp_mse");
}

/* (d) One sigmoid unit; binary CE, Adam with non-default beta_1, beta_2, epsilon. */
TEST(binary_crossentropy_matches_pytorch)
{
    run_fixture("binary_sigmoid");
}

/* (e) Maxout on conv channels and on dense units, leaky_relu and softmax layers. */
TEST(maxout_matches_pytorch)
{
    run_fixture("maxout");
}

/* (f) padding=valid with dilation and strides on odd sizes, pooling strides 1; mae, plain SGD. */
TEST(valid_padding_and_mae_match_pytorch)
{
    run_fixture("conv_valid_mae");
}

/* (g) zero_padding2d and cropping2d with 4 values, average pooling with asymmetric same padding,
 * nearest upsampling, relu with max_value, negative_slope and threshold, reshape; Adam. */
TEST(padding_pooling_upsampling_reshape_match_pytorch)
{
    run_fixture("shape_avgpool");
}

/* (h) Bilinear upsampling by 2 and by 3x1, average pooling valid and same, relu max_value; mse,
 * SGD momentum. */
TEST(bilinear_upsampling_and_clipped_relu_match_pytorch)
{
    run_fixture("shape_bilinear");
}

/* (i) conv2d_transpose, padding=valid: strides 2 and 3 (> kernel: Keras' default
 * output_padding), an explicit output_padding, strides with dilation; mse, SGD momentum. */
TEST(conv2d_transpose_valid_matches_pytorch)
{
    run_fixture("conv_transpose_valid");
}

/* (j) conv2d_transpose, padding=same: odd and even kernels with strides 2, output_padding 0 and
 * 2,1, dilation; mse, Adam. */
TEST(conv2d_transpose_same_matches_pytorch)
{
    run_fixture("conv_transpose_same");
}

/* (k) depthwise_conv2d with depth_multiplier 2, separable_conv2d, strides with dilation;
 * categorical CE, Adam. */
TEST(depthwise_and_separable_match_pytorch)
{
    run_fixture("depthwise_separable");
}

int main(int argc, char **argv)
{
    if (argc > 1) fixture_dir = argv[1];
    fv_set_threads(2);
    RUN(seed_cnn_matches_pytorch);
    RUN(same_padding_strides_dilation_match_pytorch);
    RUN(mlp_with_mse_matches_pytorch);
    RUN(binary_crossentropy_matches_pytorch);
    RUN(maxout_matches_pytorch);
    RUN(valid_padding_and_mae_match_pytorch);
    RUN(padding_pooling_upsampling_reshape_match_pytorch);
    RUN(bilinear_upsampling_and_clipped_relu_match_pytorch);
    RUN(conv2d_transpose_valid_matches_pytorch);
    RUN(conv2d_transpose_same_matches_pytorch);
    RUN(depthwise_and_separable_match_pytorch);
    return TEST_SUMMARY();
}
