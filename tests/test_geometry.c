/* test_geometry.c — conv2d and max-pooling with every argument non-square (kernel, strides,
 * dilation, pool, an odd padding total on one axis), through the public API: the output shapes
 * and the forward values against a direct computation written here from Keras' definitions,
 * independent of fovea's geometry code (fv_conv_out_size) and of its kernels.
 */
#include "fovea.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

/* One axis, from Keras' definitions (TensorFlow's conv_output_length and padding): valid:
 * out = floor((in - span) / stride) + 1 with span = dilation·(k - 1) + 1, no padding; same:
 * out = ceil(in / stride), the total padding max((out - 1)·stride + span - in, 0) split with the
 * odd one at the end (bottom or right). */
typedef struct axis {
    int64_t in, k, stride, dil, out, lead;
} axis;

static axis make_axis(int64_t in, int64_t k, int64_t stride, int64_t dil, bool same)
{
    axis a = {in, k, stride, dil, 0, 0};
    const int64_t span = dil * (k - 1) + 1;
    if (same) {
        a.out = (in + stride - 1) / stride;
        int64_t total = (a.out - 1) * stride + span - in;
        a.lead = total > 0 ? total / 2 : 0;
    } else {
        a.out = in >= span ? (in - span) / stride + 1 : 0;
    }
    return a;
}

/* Uniform in [-1, 1), from a fixed sequence (xorshift). */
static float next_value(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static fv_model *model_of(const char *text)
{
    fv_model *m = fv_model_parse_string(text, "geometry test");
    if (!m) {
        fprintf(stderr, "  %s\n  %s", fv_last_error(), text);
        test_failed_checks++;
    }
    return m;
}

/* Layer 0's output shape is (h, w, c). */
static bool has_shape(fv_model *m, int64_t h, int64_t w, int64_t c, const char *text)
{
    int64_t d[4] = {0};
    int rank = fv_model_layer_shape(m, 0, d);
    if (rank == 3 && d[0] == h && d[1] == w && d[2] == c) return true;
    fprintf(stderr, "  %s  shape (%lld, %lld, %lld), expected (%lld, %lld, %lld)\n", text,
            (long long)d[0], (long long)d[1], (long long)d[2], (long long)h, (long long)w,
            (long long)c);
    test_failed_checks++;
    return false;
}

typedef struct conv_case {
    int64_t h, w, c, filters, kh, kw, sh, sw, dh, dw;
    bool same;
} conv_case;

static void check_conv(const conv_case *q)
{
    char text[512];
    snprintf(text, sizeof text,
             "input shape=%lld,%lld,%lld\n"
             "conv2d filters=%lld kernel_size=%lld,%lld strides=%lld,%lld dilation_rate=%lld,%lld "
             "padding=%s\n",
             (long long)q->h, (long long)q->w, (long long)q->c, (long long)q->filters,
             (long long)q->kh, (long long)q->kw, (long long)q->sh, (long long)q->sw,
             (long long)q->dh, (long long)q->dw, q->same ? "same" : "valid");
    const axis ah = make_axis(q->h, q->kh, q->sh, q->dh, q->same);
    const axis aw = make_axis(q->w, q->kw, q->sw, q->dw, q->same);
    fv_model *m = model_of(text);
    if (!m) return;
    if (!has_shape(m, ah.out, aw.out, q->filters, text)) {
        fv_model_free(m);
        return;
    }
    int rank;
    int64_t d[4];
    float *kernel = fv_model_param(m, "conv2d.kernel", &rank, d);
    float *bias = fv_model_param(m, "conv2d.bias", &rank, d);
    CHECK(kernel && bias);
    if (!kernel || !bias) {
        fv_model_free(m);
        return;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull ^ (uint64_t)(q->h * 131 + q->w * 17 + q->kh * 5 + q->kw);
    const int64_t nk = q->kh * q->kw * q->c * q->filters, n = 2, nin = q->h * q->w * q->c;
    for (int64_t i = 0; i < nk; i++)
        kernel[i] = next_value(&s);
    for (int64_t f = 0; f < q->filters; f++)
        bias[f] = next_value(&s);
    float *x = malloc((size_t)(n * nin) * sizeof *x);
    for (int64_t i = 0; i < n * nin; i++)
        x[i] = next_value(&s);
    CHECK_OK(fv_model_forward(m, x, n));
    const float *y = fv_model_layer_output(m, 0);
    CHECK(y != NULL);
    const int64_t nout = ah.out * aw.out * q->filters;
    float *want = malloc((size_t)(n * nout) * sizeof *want);
    /* y[i, oh, ow, f] = b[f] + Σ x[i, oh·sh - top + kh·dh, ow·sw - left + kw·dw, c] ·
     * kernel[kh, kw, c, f], taps outside the image reading zero. */
    for (int64_t i = 0; i < n; i++)
        for (int64_t oh = 0; oh < ah.out; oh++)
            for (int64_t ow = 0; ow < aw.out; ow++)
                for (int64_t f = 0; f < q->filters; f++) {
                    double sum = bias[f];
                    for (int64_t kh = 0; kh < q->kh; kh++)
                        for (int64_t kw = 0; kw < q->kw; kw++) {
                            const int64_t ih = oh * q->sh - ah.lead + kh * q->dh;
                            const int64_t iw = ow * q->sw - aw.lead + kw * q->dw;
                            if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w) continue;
                            for (int64_t c = 0; c < q->c; c++)
                                sum += (double)x[i * nin + (ih * q->w + iw) * q->c + c] *
                                       kernel[((kh * q->kw + kw) * q->c + c) * q->filters + f];
                        }
                    want[((i * ah.out + oh) * aw.out + ow) * q->filters + f] = (float)sum;
                }
    if (y && !check_arrays("conv2d output", y, want, (long)(n * nout), 1e-5, 1e-5))
        fprintf(stderr, "  %s", text);
    free(x);
    free(want);
    fv_model_free(m);
}

TEST(conv2d_non_square_shapes_and_values_match_a_direct_computation)
{
    static const conv_case cases[] = {
        /* h, w, c, filters, kh, kw, sh, sw, dh, dw, same */
        {9, 8, 2, 3, 3, 2, 2, 1, 1, 1, false}, /* kernel 3x2, strides (2, 1) */
        {9, 8, 2, 3, 3, 2, 1, 1, 1, 2, false}, /* dilation (1, 2) */
        {8, 9, 2, 3, 2, 3, 1, 1, 2, 1, false}, /* dilation (2, 1) */
        {9, 8, 2, 3, 2, 3, 2, 1, 1, 1, true},  /* same: total 1 on the height, 2 on the width */
        {7, 10, 3, 2, 3, 3, 1, 2, 2, 1, true}, /* same: total 4 on the height, 1 on the width */
        {8, 9, 1, 4, 1, 3, 3, 2, 1, 2, true},  /* 1x3, strides (3, 2), dilation (1, 2) */
        {10, 7, 2, 2, 3, 2, 2, 3, 2, 1, false}, {6, 11, 5, 3, 2, 4, 1, 3, 1, 2, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_conv(&cases[i]);
}

typedef struct pool_case {
    int64_t h, w, c, ph, pw, sh, sw; /* sh = sw = 0: strides not given (Keras: pool_size) */
    bool same;
} pool_case;

static void check_pool(const pool_case *q)
{
    char text[512], strides[64] = "";
    if (q->sh)
        snprintf(strides, sizeof strides, " strides=%lld,%lld", (long long)q->sh, (long long)q->sw);
    snprintf(text, sizeof text,
             "input shape=%lld,%lld,%lld\nmaxpool2d pool_size=%lld,%lld%s padding=%s\n",
             (long long)q->h, (long long)q->w, (long long)q->c, (long long)q->ph, (long long)q->pw,
             strides, q->same ? "same" : "valid");
    const int64_t sh = q->sh ? q->sh : q->ph, sw = q->sw ? q->sw : q->pw;
    const axis ah = make_axis(q->h, q->ph, sh, 1, q->same);
    const axis aw = make_axis(q->w, q->pw, sw, 1, q->same);
    fv_model *m = model_of(text);
    if (!m) return;
    if (!has_shape(m, ah.out, aw.out, q->c, text)) {
        fv_model_free(m);
        return;
    }
    uint64_t s = 0x2545F4914F6CDD1Dull ^ (uint64_t)(q->h * 31 + q->w * 7 + q->ph);
    const int64_t n = 2, nin = q->h * q->w * q->c, nout = ah.out * aw.out * q->c;
    float *x = malloc((size_t)(n * nin) * sizeof *x),
          *want = malloc((size_t)(n * nout) * sizeof *want);
    for (int64_t i = 0; i < n * nin; i++)
        x[i] = next_value(&s);
    CHECK_OK(fv_model_forward(m, x, n));
    const float *y = fv_model_layer_output(m, 0);
    CHECK(y != NULL);
    /* The largest value of each window, padding taps ignored. */
    for (int64_t i = 0; i < n; i++)
        for (int64_t oh = 0; oh < ah.out; oh++)
            for (int64_t ow = 0; ow < aw.out; ow++)
                for (int64_t c = 0; c < q->c; c++) {
                    float best = -INFINITY;
                    for (int64_t kh = 0; kh < q->ph; kh++)
                        for (int64_t kw = 0; kw < q->pw; kw++) {
                            const int64_t ih = oh * sh - ah.lead + kh, iw = ow * sw - aw.lead + kw;
                            if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w) continue;
                            const float v = x[i * nin + (ih * q->w + iw) * q->c + c];
                            if (v > best) best = v;
                        }
                    want[((i * ah.out + oh) * aw.out + ow) * q->c + c] = best;
                }
    if (y && !check_arrays("maxpool2d output", y, want, (long)(n * nout), 0, 0))
        fprintf(stderr, "  %s", text);
    free(x);
    free(want);
    fv_model_free(m);
}

TEST(maxpool_non_square_shapes_and_values_match_a_direct_computation)
{
    static const pool_case cases[] = {
        /* h, w, c, pool_h, pool_w, strides (0: default), same */
        {9, 8, 3, 3, 2, 0, 0, false}, /* default strides (3, 2) */
        {8, 9, 3, 2, 3, 0, 0, false}, /* default strides (2, 3) */
        {9, 8, 3, 3, 2, 1, 2, false}, /* strides (1, 2) */
        {7, 9, 5, 2, 3, 0, 0, true},  /* same, default strides: total 1 on the height, 0 width */
        {8, 7, 6, 3, 2, 2, 1, true},  /* same: total 1 on the height, 1 on the width */
        {10, 7, 9, 4, 1, 2, 3, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_pool(&cases[i]);
}

int main(void)
{
    fv_set_threads(2);
    RUN(conv2d_non_square_shapes_and_values_match_a_direct_computation);
    RUN(maxpool_non_square_shapes_and_values_match_a_direct_computation);
    return TEST_SUMMARY();
}
