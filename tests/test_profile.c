/* test_profile.c — fv_model_profile's FLOPs after training: the dense-equivalent and the executed
 * counts of each layer against hand-computed values, the convolution behind a max-pool executing
 * fewer than its dense count, and the reset.
 */
#include "fovea.h"
#include "test.h"

#include <stdint.h>

/* n scrambled 6×6×2 images with labels in 0..2. */
static fv_dataset *random_images(int64_t n)
{
    uint8_t *x = calloc((size_t)n * 72, 1);
    int32_t *y = calloc((size_t)n, sizeof *y);
    for (int64_t i = 0; i < n * 72; i++)
        x[i] = (uint8_t)((i * 97 + (i / 5) * 31) % 256); /* a fixed scramble of 0..255 */
    for (int64_t i = 0; i < n; i++)
        y[i] = (int32_t)(i % 3);
    fv_dataset *d = fv_dataset_from_u8(n, 3, (int64_t[]){6, 6, 2}, x, y);
    free(x);
    free(y);
    return d;
}

/* One epoch of model text on n random images in batches of 8, without validation. */
static fv_model *trained(const char *text, int64_t n)
{
    fv_model *m = fv_model_parse_string(text, "test");
    CHECK(m != NULL);
    if (!m) return NULL;
    CHECK_OK(fv_model_compile(m, "loss=sparse_categorical_crossentropy optimizer=sgd"));
    fv_dataset *d = random_images(n);
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 1;
    o.batch_size = 8;
    o.seed = 3;
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    fv_dataset_free(d);
    return m;
}

TEST(test_executed_flops_equal_hand_counts_where_nothing_is_skipped)
{
    /* conv2d 6×6×2 → 4×4×8 (3×3 kernel): forward 2·n·OH·OW·KH·KW·C·F; its backward (a first
     * layer: no input gradient; 2 input channels: no lists, so the dense path) the same.
     * dense 128 → 5 and 5 → 3: forward 2·n·in·out, backward twice that (input gradient too). */
    const int64_t n = 40;
    fv_model *m = trained("input shape=6,6,2\n"
                          "conv2d filters=8 kernel_size=3 activation=relu\n"
                          "flatten\n"
                          "dense units=5 activation=relu\n"
                          "dense units=3 activation=softmax\n",
                          n);
    if (!m) return;
    const double conv = 2.0 * n * 4 * 4 * 3 * 3 * 2 * 8, d1 = 2.0 * n * 128 * 5,
                 d2 = 2.0 * n * 5 * 3;
    const double fwd[4] = {conv, 0, d1, d2}, bwd[4] = {conv, 0, 2 * d1, 2 * d2};
    for (int i = 0; i < 4; i++) {
        fv_layer_profile p;
        CHECK_OK(fv_model_profile(m, i, &p));
        CHECK(p.forward_samples == n && p.backward_samples == n);
        CHECK(p.forward_flop == fwd[i] && p.forward_executed_flop == fwd[i]);
        CHECK(p.backward_flop == bwd[i] && p.backward_executed_flop == bwd[i]);
    }
    fv_model_profile_reset(m);
    fv_layer_profile p;
    CHECK_OK(fv_model_profile(m, 0, &p));
    CHECK(p.forward_executed_flop == 0.0 && p.backward_executed_flop == 0.0);
    CHECK(fv_model_profile(m, 4, &p) == FV_ERR_INVALID);
    fv_model_free(m);
}

TEST(test_a_convolution_behind_max_pooling_executes_less_than_its_dense_count)
{
    /* The second convolution's gradient comes through a 2×2 max-pool: at most a quarter of it is
     * nonzero, so its kernels take the nonzeros alone (8 channels: the lists apply). Its forward
     * is dense; the first convolution (no lists) is dense both ways. */
    const int64_t n = 32;
    fv_model *m = trained("input shape=6,6,2\n"
                          "conv2d filters=8 kernel_size=3 padding=same activation=relu\n"
                          "conv2d filters=8 kernel_size=3 padding=same activation=relu\n"
                          "maxpool2d pool_size=2\n"
                          "flatten\n"
                          "dense units=3 activation=softmax\n",
                          n);
    if (!m) return;
    fv_layer_profile p;
    CHECK_OK(fv_model_profile(m, 1, &p));
    const double dense = 2.0 * n * 6 * 6 * 3 * 3 * 8 * 8; /* forward; backward twice */
    CHECK(p.forward_flop == dense && p.forward_executed_flop == dense);
    CHECK(p.backward_flop == 2 * dense);
    /* weights and input gradient: K = 72 per nonzero, at most 9 of the 36 pixels' 8 values */
    CHECK(p.backward_executed_flop > 0 && p.backward_executed_flop <= 2 * dense / 4);
    CHECK_OK(fv_model_profile(m, 0, &p));
    CHECK(p.backward_executed_flop == p.backward_flop);
    fv_model_free(m);
}

int main(void)
{
    RUN(test_executed_flops_equal_hand_counts_where_nothing_is_skipped);
    RUN(test_a_convolution_behind_max_pooling_executes_less_than_its_dense_count);
    return TEST_SUMMARY();
}
