/* test_seed_fixture.c — the seed CNN at its own sizes against PyTorch: outputs, loss and every
 * gradient (the large kernels' sums and a fixed sample of their elements) from
 * tests/fixtures/seed_cnn_grads.safetensors (make_seed_fixture.py). The weights are not in the
 * file: both sides compute them from the same integer hash, so the fixture stays small while the
 * dense layer and the convolutions run every block and tile of their fast paths.
 */
#include "fovea.h"
#include "io/io.h"
#include "model/model.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

static uint32_t hash32(uint32_t t, uint32_t i)
{
    uint32_t h = (i + 1u) * 2654435761u ^ (uint32_t)(t * 40503u);
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    h *= 3266489917u;
    h ^= h >> 16;
    return h;
}

/* make_seed_fixture.py's unit(): (hash >> 8) / 2^24. */
static float unit(uint32_t t, uint32_t i)
{
    return (float)(hash32(t, i) >> 8) * (1.0f / 16777216.0f);
}

static const struct {
    const char *name;
    int64_t size, fan_in, fan_out;
    bool large;
} tensors[] = {
    {"conv2d.kernel", 288, 9, 288, false},      {"conv2d.bias", 32, 0, 0, false},
    {"conv2d_1.kernel", 18432, 288, 576, true}, {"conv2d_1.bias", 64, 0, 0, false},
    {"dense.kernel", 1179648, 9216, 128, true}, {"dense.bias", 128, 0, 0, false},
    {"dense_1.kernel", 1280, 128, 10, false},   {"dense_1.bias", 10, 0, 0, false},
};

static const char *seed_cnn = "input shape=28,28,1\n"
                              "conv2d filters=32 kernel_size=3 activation=relu\n"
                              "conv2d filters=64 kernel_size=3 activation=relu\n"
                              "maxpool2d pool_size=2\n"
                              "dropout rate=0.25\n"
                              "flatten\n"
                              "dense units=128 activation=relu\n"
                              "dropout rate=0.5\n"
                              "dense units=10 activation=softmax\n"
                              "compile loss=categorical_crossentropy optimizer=adam\n";

static float *load(const fv_st_file *f, const char *name, int64_t *count)
{
    const fv_st_tensor *t = fv__st_find(f, name);
    CHECK(t != NULL);
    if (!t) return NULL;
    int64_t c = 1;
    for (int i = 0; i < t->rank; i++)
        c *= t->dims[i];
    float *v = malloc((size_t)c * sizeof *v);
    fv__st_copy_f32(f, t, v);
    if (count) *count = c;
    return v;
}

/* PyTorch summed in float64, fovea in float32 with its own orders: the sums over 9,216 inputs and
 * 1,152 products differ in the last bits; 2e-4 of the tensor's largest value bounds them. */
static void compare(const char *what, const float *got, const float *want, int64_t n)
{
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    if (!check_arrays(what, got, want, (long)n, 2e-4 * scale + 1e-9, 1e-3)) test_failed_checks++;
}

TEST(seed_cnn_matches_pytorch_at_its_own_sizes)
{
    CHECK(hash32(2, 7) == 3903513354u); /* make_seed_fixture.py's HASH_2_7 */
    fv_st_file f;
    CHECK_OK(fv__st_read("fixtures/seed_cnn_grads.safetensors", &f));
    fv_model *m = fv_model_parse_string(seed_cnn, "seed");
    CHECK(m != NULL);
    if (!m) return;
    for (int t = 0; t < 8; t++) {
        float *w = fv_model_param(m, tensors[t].name, NULL, NULL);
        const float limit =
            tensors[t].fan_in ? (float)sqrt(6.0 / (double)(tensors[t].fan_in + tensors[t].fan_out))
                              : 0.1f;
        for (int64_t i = 0; i < tensors[t].size; i++)
            w[i] = (unit((uint32_t)t, (uint32_t)i) * 2 - 1) * limit;
    }
    float x[2 * 784];
    for (int i = 0; i < 2 * 784; i++)
        x[i] = unit(100, (uint32_t)i);
    int64_t nx;
    float *fx = load(&f, "x", &nx), *lab = load(&f, "labels", NULL);
    CHECK(fx && nx == 2 * 784 && memcmp(fx, x, sizeof x) == 0); /* the hash agrees */
    int32_t labels[2] = {(int32_t)lab[0], (int32_t)lab[1]};
    fv_targets tg = {.labels = labels};
    double loss;
    CHECK_OK(fv__model_loss_and_grad(m, x, &tg, 2, false, &loss));
    float *want_loss = load(&f, "loss", NULL);
    CHECK_CLOSE(loss, want_loss[0], 1e-6, 1e-5);
    for (int t = 0; t < 8; t++) {
        const float *g = fv__model_grad(m, tensors[t].name);
        char key[64];
        if (!tensors[t].large) {
            snprintf(key, sizeof key, "grad.%s", tensors[t].name);
            float *want = load(&f, key, NULL);
            compare(key, g, want, tensors[t].size);
            free(want);
            continue;
        }
        snprintf(key, sizeof key, "grad_sum.%s", tensors[t].name);
        float *sum = load(&f, key, NULL);
        double s = 0, abs = 0;
        for (int64_t i = 0; i < tensors[t].size; i++)
            s += g[i], abs += fabs(g[i]);
        CHECK_CLOSE(s, sum[0], 1e-6 * abs, 1e-4);
        free(sum);
        snprintf(key, sizeof key, "grad_sample.%s", tensors[t].name);
        int64_t ns;
        float *sample = load(&f, key, &ns), *got = malloc((size_t)ns * sizeof(float));
        const int64_t step = tensors[t].size / 1024;
        for (int64_t i = 0; i < ns; i++)
            got[i] = g[i * step];
        compare(key, got, sample, ns);
        free(sample), free(got);
    }
    CHECK_OK(fv_model_forward(m, x, 2));
    float *y = load(&f, "y", NULL);
    compare("y", fv_model_output(m, 0), y, 20);
    free(y), free(fx), free(lab), free(want_loss);
    fv_model_free(m);
    fv__st_free(&f);
}

int main(void)
{
    RUN(seed_cnn_matches_pytorch_at_its_own_sizes);
    return TEST_SUMMARY();
}
