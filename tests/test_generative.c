/* test_generative.c — the parts of generative models below the pictures: targets that are the
 * model's input (fit target=input, clean of the model's noise), the decoder run from an
 * intermediate node, and the Fréchet distance against NumPy/SciPy fixtures.
 */
#include "fovea.h"
#include "model/model_impl.h"
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

int main(void)
{
    RUN(test_target_input_is_the_scaled_input);
    RUN(test_target_input_is_clean_of_the_models_noise);
    RUN(test_target_errors_name_the_item);
    return TEST_SUMMARY();
}
