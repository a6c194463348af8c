/* test_augment.c — the preprocessing and augmentation layers: the identity at inference, the
 * training transforms on hand-worked small images (flips, one- and two-pixel translations under
 * each fill mode, a zoom of 2), the affine maps they report, their distributions,
 * reproducibility from the seed and independence of the thread count, and their errors.
 */
#include "io/io.h"
#include "layers/augment.h"
#include "test.h"

#include <stdint.h>

/* One layer with its saved state for batches of up to n; built through the argument parser as
 * the model file's lines are. */
typedef struct alayer {
    fv_layer l;
    int64_t n;
} alayer;

static fv_status al_build(alayer *a, const char *kind, const char *args, fv_shape in, int64_t n)
{
    memset(a, 0, sizeof *a);
    a->n = n;
    a->l.kind = fv__layer_kind_find(kind);
    if (!a->l.kind) return fv__fail(FV_ERR_INVALID, "test: no kind %s", kind);
    a->l.cfg = calloc(1, a->l.kind->cfg_size);
    fv_status s = fv__args_defaults(a->l.kind->args, a->l.cfg);
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *tok = strtok_r(buf, " ", &save); tok && !s; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        s = fv__args_set(a->l.kind->args, a->l.cfg, tok, eq + 1, &a->l.given);
    }
    a->l.nin = 1;
    a->l.in[0] = in;
    if (!s) s = a->l.kind->build(&a->l);
    if (!s) a->l.saved = calloc((size_t)n * a->l.saved_per_sample + 1, 1);
    return s;
}

static void al_free(alayer *a)
{
    free(a->l.cfg);
    free(a->l.saved);
    memset(a, 0, sizeof *a);
}

static void al_forward(alayer *a, const float *x, float *y, int64_t n, bool training, uint64_t seed,
                       int threads)
{
    fv_rng rng;
    fv__rng_seed(&rng, seed);
    fv_run r = {.n = n, .training = training, .rng = &rng, .threads = threads};
    const float *xs[1] = {x};
    a->l.kind->forward(&a->l, xs, y, &r);
}

static fv_shape img(int64_t h, int64_t w, int64_t c)
{
    return (fv_shape){.rank = 3, .d = {h, w, c}};
}

/* 1, 2, 3, ... in row-major order. */
static float *ramp(int64_t n)
{
    float *v = calloc((size_t)n + 1, sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(i + 1);
    return v;
}

static bool equal(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* The training output of kind(args) on one image, seed 1. */
static void one(const char *kind, const char *args, fv_shape in, const float *x, float *y)
{
    alayer a;
    CHECK_OK(al_build(&a, kind, args, in, 1));
    if (a.l.kind) al_forward(&a, x, y, 1, true, 1, 1);
    al_free(&a);
}

TEST(test_random_layers_are_the_identity_at_inference)
{
    const struct {
        const char *kind, *args;
    } c[] = {
        {"random_flip", ""},
        {"random_translation", "height_factor=0.5 width_factor=0.5"},
        {"random_rotation", "factor=0.5"},
        {"random_zoom", "height_factor=0.5"},
        {"random_contrast", "factor=0.9"},
        {"random_brightness", "factor=0.9"},
    };
    const int64_t n = 8, size = 5 * 6 * 2;
    float *x = ramp(n * size), *y = calloc((size_t)(n * size), sizeof *y);
    for (int64_t i = 0; i < n * size; i++)
        x[i] /= (float)(n * size); /* in [0, 1]: brightness and contrast clip nothing */
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        alayer a;
        CHECK_OK(al_build(&a, c[k].kind, c[k].args, img(5, 6, 2), n));
        al_forward(&a, x, y, n, false, 7, 2);
        if (!equal(x, y, n * size)) fprintf(stderr, "  %s is not the identity\n", c[k].kind);
        CHECK(equal(x, y, n * size));
        al_forward(&a, x, y, n, true, 7, 2);
        if (equal(x, y, n * size)) fprintf(stderr, "  %s does nothing in training\n", c[k].kind);
        CHECK(!equal(x, y, n * size)); /* and does act in training */
        al_free(&a);
    }
    free(x), free(y);
}

TEST(test_random_crop_at_inference_resizes_the_centre_window)
{
    /* 4×4 → 2×2 at inference: Keras' documented behaviour, the largest centred window of the
     * target's aspect ratio (here the whole image) resized bilinearly with half-pixel centres:
     * each output is the mean of a 2×2 block. */
    float *x = ramp(16), y[4];
    alayer a;
    CHECK_OK(al_build(&a, "random_crop", "height=2 width=2", img(4, 4, 1), 1));
    al_forward(&a, x, y, 1, false, 1, 1);
    const float want[4] = {3.5f, 5.5f, 11.5f, 13.5f};
    CHECK(equal(y, want, 4));
    double m[6];
    CHECK(fv__augment_affine(&a.l, 0, false, m));
    CHECK(m[0] == 0.5 && m[1] == 0 && m[2] == 0 && m[3] == 0 && m[4] == 0.5 && m[5] == 0);
    /* 4×6 → 2×2: the centred 4×4 window (columns 1-4), then the same resize. */
    al_free(&a);
    float *w = ramp(24);
    CHECK_OK(al_build(&a, "random_crop", "height=2 width=2", img(4, 6, 1), 1));
    al_forward(&a, w, y, 1, false, 1, 1);
    const float want2[4] = {5.5f, 7.5f, 17.5f, 19.5f};
    CHECK(equal(y, want2, 4));
    CHECK(fv__augment_affine(&a.l, 0, false, m));
    CHECK(m[0] == 0.5 && m[2] == -0.5 && m[4] == 0.5 && m[5] == 0);
    al_free(&a);
    free(x), free(w);
}

TEST(test_random_crop_in_training_takes_a_window_of_the_image)
{
    enum { N = 64 };
    float *x = ramp(N * 5 * 6), *y = calloc(N * 3 * 4, sizeof(float));
    for (int i = 1; i < N; i++)
        memcpy(x + i * 30, x, 30 * sizeof(float));
    alayer a;
    CHECK_OK(al_build(&a, "random_crop", "height=3 width=4", img(5, 6, 1), N));
    al_forward(&a, x, y, N, true, 3, 2);
    bool seen[3][3] = {{false}};
    for (int i = 0; i < N; i++) {
        double m[6];
        CHECK(fv__augment_affine(&a.l, i, true, m));
        const int ox = (int)-m[2], oy = (int)-m[5];
        CHECK(m[0] == 1 && m[4] == 1 && ox >= 0 && ox <= 2 && oy >= 0 && oy <= 2);
        if (ox < 0 || ox > 2 || oy < 0 || oy > 2) continue;
        seen[oy][ox] = true;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                CHECK(y[i * 12 + r * 4 + c] == x[(oy + r) * 6 + ox + c]);
    }
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            CHECK(seen[r][c]); /* all 9 offsets among 64 draws */
    al_free(&a);
    free(x), free(y);
}

TEST(test_random_flip_of_a_3x3)
{
    /* 1 2 3 / 4 5 6 / 7 8 9 under each mode: every sample is either itself or the flip, the
     * reported map says which, and both occur. */
    enum { N = 32 };
    const struct {
        const char *mode;
        float flipped[9];
        double m[6];
    } c[] = {
        {"mode=horizontal", {3, 2, 1, 6, 5, 4, 9, 8, 7}, {-1, 0, 3, 0, 1, 0}},
        {"mode=vertical", {7, 8, 9, 4, 5, 6, 1, 2, 3}, {1, 0, 0, 0, -1, 3}},
        /* Keras 3 draws once for both axes: a half turn, or nothing. */
        {"", {9, 8, 7, 6, 5, 4, 3, 2, 1}, {-1, 0, 3, 0, -1, 3}},
    };
    float *x = calloc(N * 9, sizeof(float)), *y = calloc(N * 9, sizeof(float));
    for (int i = 0; i < N * 9; i++)
        x[i] = (float)(i % 9 + 1);
    for (int k = 0; k < 3; k++) {
        alayer a;
        CHECK_OK(al_build(&a, "random_flip", c[k].mode, img(3, 3, 1), N));
        al_forward(&a, x, y, N, true, 11, 2);
        int flips = 0;
        for (int i = 0; i < N; i++) {
            double m[6];
            CHECK(fv__augment_affine(&a.l, i, true, m));
            const bool flipped = m[0] != 1 || m[4] != 1;
            flips += flipped;
            CHECK(equal(y + i * 9, flipped ? c[k].flipped : x, 9));
            for (int j = 0; j < 6 && flipped; j++)
                CHECK(m[j] == c[k].m[j]);
        }
        CHECK(flips > 0 && flips < N);
        al_free(&a);
    }
    free(x), free(y);
}

TEST(test_translation_by_one_and_two_pixels_under_each_fill_mode)
{
    /* A row 1 2 3 4 moved right (width_factor × 4 = +1 or +2 pixels) or left. */
    const float x[4] = {1, 2, 3, 4};
    const struct {
        const char *args;
        float want[4];
    } c[] = {
        {"width_factor=0.25,0.25 fill_mode=reflect", {1, 1, 2, 3}},
        {"width_factor=0.25,0.25 fill_mode=wrap", {4, 1, 2, 3}},
        {"width_factor=0.25,0.25 fill_mode=nearest", {1, 1, 2, 3}},
        {"width_factor=0.25,0.25 fill_mode=constant fill_value=9", {9, 1, 2, 3}},
        {"width_factor=0.5,0.5 fill_mode=reflect", {2, 1, 1, 2}},
        {"width_factor=0.5,0.5 fill_mode=wrap", {3, 4, 1, 2}},
        {"width_factor=0.5,0.5 fill_mode=nearest", {1, 1, 1, 2}},
        {"width_factor=0.5,0.5 fill_mode=constant", {0, 0, 1, 2}},
        {"width_factor=-0.25,-0.25 fill_mode=reflect", {2, 3, 4, 4}},
        {"width_factor=-0.25,-0.25 fill_mode=wrap", {2, 3, 4, 1}},
        {"width_factor=-0.5,-0.5 fill_mode=reflect", {3, 4, 4, 3}},
        {"width_factor=-0.25,-0.25 fill_mode=constant fill_value=-1 interpolation=nearest",
         {2, 3, 4, -1}},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        char args[160];
        float y[4];
        snprintf(args, sizeof args, "height_factor=0 %s", c[k].args);
        one("random_translation", args, img(1, 4, 1), x, y);
        if (!equal(y, c[k].want, 4))
            fprintf(stderr, "  %s: %g %g %g %g\n", args, y[0], y[1], y[2], y[3]);
        CHECK(equal(y, c[k].want, 4));
        /* The same along the height of a column 1 2 3 4. */
        snprintf(args, sizeof args, "width_factor=0 height_factor=%s",
                 c[k].args + strlen("width_factor="));
        one("random_translation", args, img(4, 1, 1), x, y);
        CHECK(equal(y, c[k].want, 4));
    }
    float y[4];
    /* A sub-pixel move interpolates: half a pixel right of 1 2 3 4 under nearest fill. */
    one("random_translation", "height_factor=0 width_factor=0.125,0.125 fill_mode=nearest",
        img(1, 4, 1), x, y);
    const float half[4] = {1, 1.5f, 2.5f, 3.5f};
    CHECK(equal(y, half, 4));
}

TEST(test_zoom_of_2_with_nearest)
{
    /* height_factor=1 → zoom 2 (out) about the centre: output (r, c) reads input (2r - 2,
     * 2c - 2) of a 5×5 (Keras' map x_in = 2x + (5 - 1)/2·(1 - 2)), the rest is the fill. */
    float *x = ramp(25), y[25];
    alayer a;
    CHECK_OK(al_build(&a, "random_zoom",
                      "height_factor=1,1 fill_mode=constant fill_value=-1 interpolation=nearest",
                      img(5, 5, 1), 1));
    al_forward(&a, x, y, 1, true, 5, 1);
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 5; c++) {
            const int ir = 2 * r - 2, ic = 2 * c - 2;
            const float want = ir >= 0 && ir < 5 && ic >= 0 && ic < 5 ? x[ir * 5 + ic] : -1.0f;
            CHECK(y[r * 5 + c] == want);
        }
    /* The reported map halves distances from the centre (2.5, 2.5). */
    double m[6];
    CHECK(fv__augment_affine(&a.l, 0, true, m));
    CHECK_CLOSE(m[0], 0.5, 1e-12, 0);
    CHECK_CLOSE(m[2], 1.25, 1e-12, 0);
    CHECK_CLOSE(m[4], 0.5, 1e-12, 0);
    CHECK_CLOSE(m[5], 1.25, 1e-12, 0);
    CHECK(m[1] == 0 && m[3] == 0);
    al_free(&a);
    /* Zoom 1/2 (in: height_factor=-0.5) with reflect on a 3×3: x_in = x/2 + 1/2. */
    float z[9];
    float *x9 = ramp(9);
    one("random_zoom", "height_factor=-0.5,-0.5 interpolation=bilinear", img(3, 3, 1), x9, z);
    const float want9[9] = {3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7};
    CHECK(equal(z, want9, 9));
    free(x), free(x9);
}

TEST(test_rotation_by_a_quarter_turn)
{
    /* factor=0.25,0.25: a quarter turn counter-clockwise (Keras: positive is counter-clockwise)
     * of 1 2 3 / 4 5 6 / 7 8 9 is 3 6 9 / 2 5 8 / 1 4 7. */
    float *x = ramp(9), y[9];
    one("random_rotation", "factor=0.25,0.25 interpolation=nearest", img(3, 3, 1), x, y);
    const float want[9] = {3, 6, 9, 2, 5, 8, 1, 4, 7};
    if (!equal(y, want, 9))
        fprintf(stderr, "  %g %g %g / %g %g %g / %g %g %g\n", y[0], y[1], y[2], y[3], y[4], y[5],
                y[6], y[7], y[8]);
    CHECK(equal(y, want, 9));
    free(x);
}

TEST(test_rotation_angles_and_flips_follow_their_distribution)
{
    enum { N = 2000 };
    float *x = calloc(N * 4, sizeof(float)), *y = calloc(N * 4, sizeof(float));
    alayer a;
    CHECK_OK(al_build(&a, "random_rotation", "factor=0.1", img(2, 2, 1), N));
    al_forward(&a, x, y, N, true, 21, 2);
    double lo = 1, hi = -1, sum = 0;
    for (int i = 0; i < N; i++) {
        double m[6];
        fv__augment_affine(&a.l, i, true, m);
        const double turn = atan2(-m[1], m[0]) / (2 * M_PI);
        lo = fmin(lo, turn), hi = fmax(hi, turn), sum += turn;
    }
    /* Uniform on [-0.1, 0.1]: within it, reaching near both ends, mean near 0 (σ of the mean
     * 0.1/√3/√2000 = 0.0013). */
    CHECK(lo >= -0.1 - 1e-12 && hi <= 0.1 + 1e-12);
    CHECK(lo < -0.099 && hi > 0.099);
    CHECK(fabs(sum / N) < 0.006);
    al_free(&a);
    CHECK_OK(al_build(&a, "random_flip", "mode=horizontal", img(2, 2, 1), N));
    al_forward(&a, x, y, N, true, 22, 2);
    int flips = 0;
    for (int i = 0; i < N; i++) {
        double m[6];
        fv__augment_affine(&a.l, i, true, m);
        flips += m[0] < 0;
    }
    CHECK(abs(flips - N / 2) < 4 * 23); /* σ = √(N/4) ≈ 22.4 */
    al_free(&a);
    free(x), free(y);
}

TEST(test_contrast_and_brightness_by_their_formulas)
{
    enum { N = 50 };
    float *x = calloc(N * 8, sizeof(float)), *y = calloc(N * 8, sizeof(float));
    for (int i = 0; i < N * 8; i++)
        x[i] = (float)((i * 37) % 11) / 10.0f;
    alayer a;
    CHECK_OK(al_build(&a, "random_contrast", "factor=0.5", img(2, 2, 2), N));
    al_forward(&a, x, y, N, true, 4, 2);
    const double *f = a.l.saved;
    for (int i = 0; i < N; i++) {
        CHECK(f[i] >= 0.5 && f[i] <= 1.5);
        for (int ch = 0; ch < 2; ch++) {
            double m = 0;
            for (int p = 0; p < 4; p++)
                m += x[i * 8 + p * 2 + ch] / 4.0;
            for (int p = 0; p < 4; p++) {
                const double v = (x[i * 8 + p * 2 + ch] - m) * f[i] + m;
                CHECK_CLOSE(y[i * 8 + p * 2 + ch], fmin(fmax(v, 0), 1), 1e-6, 0);
            }
        }
    }
    al_free(&a);
    CHECK_OK(al_build(&a, "random_brightness", "factor=0.2 value_range=0,255", img(2, 2, 2), N));
    al_forward(&a, x, y, N, true, 4, 2);
    const double *d = a.l.saved;
    for (int i = 0; i < N; i++) {
        CHECK(d[i] >= -51 && d[i] <= 51); /* 0.2 × (255 - 0) */
        for (int j = 0; j < 8; j++)
            CHECK_CLOSE(y[i * 8 + j], fmin(fmax(x[i * 8 + j] + d[i], 0), 255), 1e-4, 0);
    }
    al_free(&a);
    free(x), free(y);
}

TEST(test_rescaling_normalization_resizing_and_center_crop_by_hand)
{
    const float x[4] = {0, 51, 102, 255};
    float y[16];
    one("rescaling", "scale=0.00392156862745098", img(2, 2, 1), x, y);
    CHECK_CLOSE(y[1], 0.2, 1e-7, 0);
    CHECK_CLOSE(y[3], 1.0, 1e-7, 0);
    one("rescaling", "scale=0.00784313725490196 offset=-1", img(2, 2, 1), x, y);
    CHECK_CLOSE(y[0], -1.0, 1e-7, 0);
    CHECK_CLOSE(y[3], 1.0, 1e-6, 0);
    /* Two channels: (x - mean) / sqrt(variance). */
    one("normalization", "mean=1,100 variance=4,2500", img(1, 2, 2), x, y);
    CHECK_CLOSE(y[0], -0.5, 1e-7, 0);
    CHECK_CLOSE(y[1], -0.98, 1e-6, 0);
    CHECK_CLOSE(y[2], 50.5, 1e-5, 0);
    CHECK_CLOSE(y[3], 3.1, 1e-6, 0);
    one("normalization", "mean=1 variance=4 invert=true", img(2, 2, 1), x, y);
    CHECK_CLOSE(y[1], 103.0, 1e-5, 0);
    /* Resizing 2×2 → 4×4 (bilinear, half-pixel centres, edges clamped): the first row is
     * 0, 12.75, 38.25, 51. */
    one("resizing", "height=4 width=4", img(2, 2, 1), x, y);
    CHECK_CLOSE(y[0], 0, 1e-6, 0);
    CHECK_CLOSE(y[1], 12.75, 1e-5, 0);
    CHECK_CLOSE(y[2], 38.25, 1e-5, 0);
    CHECK_CLOSE(y[3], 51, 1e-5, 0);
    /* Centre crop 2×2 of a 4×4 takes rows and columns 1-2, in training and at inference. */
    float *r16 = ramp(16);
    one("center_crop", "height=2 width=2", img(4, 4, 1), r16, y);
    const float mid[4] = {6, 7, 10, 11};
    CHECK(equal(y, mid, 4));
    free(r16);
}

TEST(test_reported_maps_move_points_with_the_pixels)
{
    /* For every geometric kind, a bright pixel's centre, moved by the reported map, lands on
     * the output pixel where the bright value went (nearest interpolation, constant fill). */
    const struct {
        const char *kind, *args;
        fv_shape out;
    } c[] = {
        {"random_flip", "", img(9, 7, 1)},
        {"random_translation",
         "height_factor=0.3 width_factor=0.3 fill_mode=constant "
         "interpolation=nearest",
         img(9, 7, 1)},
        {"random_zoom", "height_factor=-0.3,-0.3 fill_mode=constant interpolation=nearest",
         img(9, 7, 1)},
        {"random_crop", "height=5 width=4", img(5, 4, 1)},
        {"center_crop", "height=5 width=5", img(5, 5, 1)},
    };
    enum { N = 8 };
    float *x = calloc(N * 63, sizeof(float)), *y = calloc(N * 63, sizeof(float));
    for (int i = 0; i < N; i++)
        x[i * 63 + 4 * 7 + 3] = 1.0f; /* row 4, column 3: centre (3.5, 4.5) */
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        alayer a;
        CHECK_OK(al_build(&a, c[k].kind, c[k].args, img(9, 7, 1), N));
        al_forward(&a, x, y, N, true, 8, 1);
        const int64_t oh = c[k].out.d[0], ow = c[k].out.d[1];
        for (int i = 0; i < N; i++) {
            double m[6];
            CHECK(fv__augment_affine(&a.l, i, true, m));
            const double px = m[0] * 3.5 + m[1] * 4.5 + m[2], py = m[3] * 3.5 + m[4] * 4.5 + m[5];
            const int64_t col = (int64_t)floor(px), row = (int64_t)floor(py);
            if (row < 0 || row >= oh || col < 0 || col >= ow) continue; /* moved out */
            if (!(y[i * oh * ow + row * ow + col] == 1.0f))
                fprintf(stderr, "  %s sample %d: (3.5, 4.5) → (%g, %g), no bright pixel there\n",
                        c[k].kind, i, px, py);
            CHECK(y[i * oh * ow + row * ow + col] == 1.0f);
        }
        al_free(&a);
    }
    alayer a;
    double m[6];
    CHECK_OK(al_build(&a, "random_contrast", "factor=0.5", img(3, 3, 1), 1));
    CHECK(!fv__augment_affine(&a.l, 0, true, m));
    CHECK(m[0] == 1 && m[4] == 1 && m[2] == 0);
    al_free(&a);
    free(x), free(y);
}

/* The training output of kind(args) on a batch, with threads threads. */
static float *batch_output(const char *kind, const char *args, fv_shape in, int64_t n,
                           uint64_t seed, int threads)
{
    alayer a;
    CHECK_OK(al_build(&a, kind, args, in, n));
    const int64_t isz = fv__shape_size(&in), osz = fv__shape_size(&a.l.out);
    float *x = calloc((size_t)(n * isz), sizeof(float));
    float *y = calloc((size_t)(n * osz), sizeof(float));
    for (int64_t i = 0; i < n * isz; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    al_forward(&a, x, y, n, true, seed, threads);
    free(x);
    al_free(&a);
    return y;
}

TEST(test_reproducible_from_the_seed_and_any_thread_count)
{
    const struct {
        const char *kind, *args;
    } c[] = {
        {"random_flip", ""},
        {"random_translation", "height_factor=0.2 width_factor=0.2"},
        {"random_rotation", "factor=0.2"},
        {"random_zoom", "height_factor=0.3 width_factor=0.1"},
        {"random_crop", "height=24 width=20"},
        {"random_contrast", "factor=0.5"},
        {"random_brightness", "factor=0.3"},
    };
    /* 16 images of 32×32×3: above the size where passes run on several threads. */
    const fv_shape in = img(32, 32, 3);
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        alayer a;
        CHECK_OK(al_build(&a, c[k].kind, c[k].args, in, 1));
        const int64_t osz = 16 * fv__shape_size(&a.l.out);
        al_free(&a);
        float *one_thread = batch_output(c[k].kind, c[k].args, in, 16, 5, 1);
        float *four = batch_output(c[k].kind, c[k].args, in, 16, 5, 4);
        float *again = batch_output(c[k].kind, c[k].args, in, 16, 5, 1);
        float *other = batch_output(c[k].kind, c[k].args, in, 16, 6, 1);
        if (!equal(one_thread, four, osz)) fprintf(stderr, "  %s: threads differ\n", c[k].kind);
        CHECK(equal(one_thread, four, osz));
        CHECK(equal(one_thread, again, osz));
        CHECK(!equal(one_thread, other, osz));
        free(one_thread), free(four), free(again), free(other);
    }
}

static const char *build_error(const char *kind, const char *args, fv_shape in)
{
    alayer a;
    fv_status s = al_build(&a, kind, args, in, 1);
    al_free(&a);
    return s ? fv_last_error() : "(built)";
}

TEST(test_errors_name_the_argument)
{
    const fv_shape im = img(8, 8, 3);
    CHECK_STR_CONTAINS(build_error("random_zoom", "height_factor=-1", im),
                       "random_zoom: argument height_factor: the lower bound must be greater "
                       "than -1");
    CHECK_STR_CONTAINS(
        build_error("random_translation", "height_factor=0.1,0.2,0.3 width_factor=0", im),
        "random_translation: argument height_factor: expected a number or two "
        "numbers lower,upper; got 3");
    CHECK_STR_CONTAINS(build_error("random_translation", "height_factor=1.5 width_factor=0", im),
                       "random_translation: argument height_factor=1.5: must be at most 1");
    CHECK_STR_CONTAINS(build_error("random_translation", "height_factor=0.1", im),
                       "random_translation: missing required argument 'width_factor'");
    CHECK_STR_CONTAINS(build_error("random_flip", "mode=horizontl", im),
                       "did you mean 'horizontal'");
    CHECK_STR_CONTAINS(build_error("random_rotation", "factor=0.1 fill_mode=mirror", im),
                       "expected one of reflect, wrap, constant, nearest");
    CHECK_STR_CONTAINS(build_error("random_contrast", "factor=0.2 value_range=1,0", im),
                       "random_contrast: argument value_range: expected two numbers low,high");
    CHECK_STR_CONTAINS(build_error("random_contrast", "factor=1.2", im),
                       "random_contrast: argument factor=1.2: must be at most 1");
    CHECK_STR_CONTAINS(
        build_error("random_rotation", "factor=0.1", (fv_shape){.rank = 1, .d = {8}}),
        "random_rotation: input (None, 8) has rank 1; random_rotation needs images");
    CHECK_STR_CONTAINS(build_error("center_crop", "height=2", im),
                       "center_crop: missing required argument 'width'");
    CHECK_STR_CONTAINS(build_error("normalization", "mean=0.1,0.2 variance=1,1", im),
                       "normalization: mean has 2 values and variance 2; each needs 1 value or one "
                       "per value of the last axis (3)");
    CHECK_STR_CONTAINS(build_error("rescaling", "offset=1", im),
                       "rescaling: missing required argument 'scale'");
    /* The canonical text reads back: factors as given, None for an absent width_factor. */
    alayer a;
    char text[256];
    CHECK_OK(al_build(&a, "random_zoom", "height_factor=-0.2,0.3 width_factor=None", im, 1));
    fv__args_format(a.l.kind->args, a.l.cfg, a.l.given, text, sizeof text);
    CHECK(strcmp(text, "height_factor=-0.2,0.3 width_factor=None") == 0);
    al_free(&a);
}

TEST(test_model_runs_its_preprocessing_chain_and_composes_the_maps)
{
    /* flip, then crop: the composed map of each sample is the crop's offset after the flip. */
    fv_model *m = fv_model_parse_string("input shape=6,6,1\n"
                                        "random_flip mode=horizontal\n"
                                        "random_crop height=4 width=4\n"
                                        "flatten\n"
                                        "dense units=2\n",
                                        "test");
    CHECK(m != NULL);
    if (!m) return;
    CHECK(fv_model_augment_layers(m) == 2);
    int64_t dims[4];
    CHECK(fv_model_augment_shape(m, dims) == 3 && dims[0] == 4 && dims[1] == 4 && dims[2] == 1);
    enum { N = 16 };
    float *x = calloc(N * 36, sizeof(float)), y[N * 16], y2[N * 16];
    double A[N * 6];
    for (int i = 0; i < N * 36; i++)
        x[i] = (float)(i % 36);
    CHECK_OK(fv_model_augment(m, x, N, 3, y, A));
    for (int i = 0; i < N; i++) {
        /* The map takes input pixel centre (c + 0.5, r + 0.5) to the output pixel holding it. */
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 6; c++) {
                const double *a = A + 6 * i;
                const double px = a[0] * (c + 0.5) + a[1] * (r + 0.5) + a[2];
                const double py = a[3] * (c + 0.5) + a[4] * (r + 0.5) + a[5];
                const int oc = (int)floor(px), orow = (int)floor(py);
                if (oc < 0 || oc >= 4 || orow < 0 || orow >= 4) continue;
                CHECK(y[i * 16 + orow * 4 + oc] == (float)(r * 6 + c));
            }
    }
    /* The same step draws the same; another step draws otherwise; the model's own training
     * stream (step 3, layers 0 and 1) is the one used. */
    CHECK_OK(fv_model_augment(m, x, N, 3, y2, NULL));
    CHECK(equal(y, y2, N * 16));
    CHECK_OK(fv_model_augment(m, x, N, 4, y2, NULL));
    CHECK(!equal(y, y2, N * 16));
    CHECK(fv_model_augment(m, x, 0, 0, y2, NULL) == FV_ERR_INVALID);
    free(x);
    fv_model_free(m);
}

TEST(test_rescaling_warning_only_for_1_255_on_unit_data)
{
    const int64_t dims[3] = {2, 2, 1};
    const float unit[8] = {0, 0.5f, 1, 0.25f, 0.1f, 0.2f, 0.3f, 0.4f};
    const float bytes[8] = {0, 128, 255, 64, 1, 2, 3, 4};
    fv_dataset *du = fv_dataset_from_f32(2, 3, dims, unit, NULL);
    fv_dataset *db = fv_dataset_from_f32(2, 3, dims, bytes, NULL);
    fv_model *m = fv_model_parse_string("input shape=2,2,1\nrescaling scale=0.00392156862745098\n"
                                        "flatten\ndense units=1\n",
                                        "m.fv");
    fv_model *m2 = fv_model_parse_string("input shape=2,2,1\nrescaling scale=2 offset=-1\n"
                                         "flatten\ndense units=1\n",
                                         "m2.fv");
    CHECK(du && db && m && m2);
    if (du && db && m && m2) {
        char w[512];
        CHECK_OK(fv_model_check_rescaling(m, du, w, sizeof w));
        CHECK_STR_CONTAINS(w, "layer 'rescaling' (line 2) rescales by 1/255, but the data is "
                              "already in [0, 1]");
        CHECK_STR_CONTAINS(w, "would see values in [0, 0.00392157]");
        CHECK_OK(fv_model_check_rescaling(m, db, w, sizeof w));
        CHECK(w[0] == '\0'); /* 0-255 data: the rescaling is right */
        CHECK_OK(fv_model_check_rescaling(m2, du, w, sizeof w));
        CHECK(w[0] == '\0');
    }
    fv_dataset_free(du), fv_dataset_free(db);
    fv_model_free(m), fv_model_free(m2);
}

TEST(test_normalization_adapts_to_the_training_data)
{
    /* 300 samples of 2×1×2 (more than one batch of the adapt pass): channel 0 holds i/300,
     * channel 1 a fixed pattern; the adapted weights are NumPy's mean and var (population)
     * over all rows, computed here in double. */
    enum { N = 300 };
    const int64_t dims[3] = {2, 1, 2};
    float *x = calloc(N * 4, sizeof(float));
    int32_t labels[N];
    for (int i = 0; i < N; i++) {
        x[i * 4 + 0] = (float)i / N, x[i * 4 + 2] = (float)(N - i) / N;
        x[i * 4 + 1] = (float)(i % 7), x[i * 4 + 3] = 0.5f * (float)(i % 3);
        labels[i] = i % 2;
    }
    double mean[2] = {0, 0}, var[2] = {0, 0};
    for (int c = 0; c < 2; c++) {
        for (int r = 0; r < 2 * N; r++)
            mean[c] += x[r * 2 + c];
        mean[c] /= 2 * N;
        for (int r = 0; r < 2 * N; r++)
            var[c] += (x[r * 2 + c] - mean[c]) * (x[r * 2 + c] - mean[c]);
        var[c] /= 2 * N;
    }
    fv_dataset *d = fv_dataset_from_f32(N, 3, dims, x, labels);
    fv_model *m = fv_model_parse_string(
        "input shape=2,1,2\nnormalization adapt=true\nflatten\ndense units=2 activation=softmax\n"
        "compile loss=sparse_categorical_crossentropy optimizer=sgd\n",
        "adapt.fv");
    CHECK(d && m);
    if (d && m) {
        CHECK(fv_model_param_count(m) == 5 + 4 * 2 + 2);
        CHECK(fv_model_trainable_param_count(m) == 10); /* mean, variance, count: state */
        fv_fit_opts o = fv_fit_defaults();
        o.epochs = 1;
        CHECK_OK(fv_model_fit(m, d, &o, NULL));
        int rank;
        int64_t pd[4];
        const float *pm = fv_model_param(m, "normalization.mean", &rank, pd);
        const float *pv = fv_model_param(m, "normalization.variance", &rank, pd);
        const float *pc = fv_model_param(m, "normalization.count", &rank, pd);
        CHECK(pm && pv && pc);
        if (pm && pv && pc) {
            for (int c = 0; c < 2; c++) {
                CHECK_CLOSE(pm[c], mean[c], 1e-6, 1e-6);
                CHECK_CLOSE(pv[c], var[c], 1e-6, 1e-6);
            }
            CHECK(pc[0] == 2 * N);
        }
    }
    fv_model_free(m);
    fv_dataset_free(d);
    free(x);
    const char *e = build_error("normalization", "adapt=true mean=0.5 variance=1", img(2, 2, 1));
    CHECK_STR_CONTAINS(e, "give either adapt=true or mean= and variance=");
    e = build_error("normalization", "", img(2, 2, 1));
    CHECK_STR_CONTAINS(e, "normalization: give mean= and variance=");
}

TEST(test_boxes_move_with_the_image)
{
    /* A horizontal flip of a 10-wide image: x ↦ 10 - x. */
    const double flip[6] = {-1, 0, 10, 0, 1, 0}, box[4] = {1, 2, 4, 6};
    double out[4];
    CHECK(fv__augment_move_box(flip, box, 10, 8, out) == 1.0);
    CHECK(out[0] == 6 && out[1] == 2 && out[2] == 9 && out[3] == 6);
    /* A quarter turn about the centre (5, 5) of a 10×10 image: (x, y) ↦ (y, 10 - x). */
    const double turn[6] = {0, 1, 0, -1, 0, 10};
    CHECK(fv__augment_move_box(turn, box, 10, 10, out) == 1.0);
    CHECK(out[0] == 2 && out[1] == 6 && out[2] == 6 && out[3] == 9);
    /* A crop at (3, 0): half the box is left, clipped at x = 0; a box moved out is gone. */
    const double crop[6] = {1, 0, -3, 0, 1, 0};
    CHECK(fv__augment_move_box(crop, (const double[4]){1, 2, 5, 6}, 6, 8, out) == 0.5);
    CHECK(out[0] == 0 && out[2] == 2);
    CHECK(fv__augment_move_box(crop, (const double[4]){0, 0, 2, 2}, 6, 8, out) == 0.0);
}

TEST(test_geometric_layers_match_scipy_and_pytorch)
{
    /* tests/fixtures/make_augment_fixtures.py: Keras 3's matrices sampled by scipy's
     * map_coordinates with each fill mode, and resizing by PyTorch's F.interpolate. */
    fv_st_file f;
    if (fv__st_read("fixtures/augment.safetensors", &f) != FV_OK) {
        fprintf(stderr, "  %s\n", fv_last_error());
        CHECK(0);
        return;
    }
    int k = 0;
    double worst = 0;
    for (;; k++) {
        char key[32], name[48], kind[32], args[160];
        snprintf(key, sizeof key, "case.%d", k);
        const char *m = fv__st_meta(&f, key);
        if (!m) break;
        long long h, w, c;
        CHECK(sscanf(m, "%31[^|]|%159[^|]|%lld,%lld,%lld", kind, args, &h, &w, &c) == 5);
        alayer a;
        CHECK_OK(al_build(&a, kind, args, img(h, w, c), 1));
        const int64_t osz = fv__shape_size(&a.l.out);
        float *x = calloc((size_t)(h * w * c), sizeof *x), *want = calloc((size_t)osz, sizeof *x);
        float *got = calloc((size_t)osz, sizeof *x);
        snprintf(name, sizeof name, "%s.in", key);
        fv__st_copy_f32(&f, fv__st_find(&f, name), x);
        snprintf(name, sizeof name, "%s.out", key);
        fv__st_copy_f32(&f, fv__st_find(&f, name), want);
        al_forward(&a, x, got, 1, true, 3, 1);
        double d = 0;
        for (int64_t i = 0; i < osz; i++)
            d = fmax(d, fabs((double)got[i] - (double)want[i]));
        if (!(d <= 1e-5)) fprintf(stderr, "  %s %s: largest difference %g\n", kind, args, d);
        CHECK(d <= 1e-5);
        worst = fmax(worst, d);
        free(x), free(want), free(got);
        al_free(&a);
    }
    CHECK(k >= 14);
    printf("     %d cases, largest difference %.3g\n", k, worst);
    fv__st_free(&f);
}

int main(void)
{
    RUN(test_random_layers_are_the_identity_at_inference);
    RUN(test_random_crop_at_inference_resizes_the_centre_window);
    RUN(test_random_crop_in_training_takes_a_window_of_the_image);
    RUN(test_random_flip_of_a_3x3);
    RUN(test_translation_by_one_and_two_pixels_under_each_fill_mode);
    RUN(test_zoom_of_2_with_nearest);
    RUN(test_rotation_by_a_quarter_turn);
    RUN(test_rotation_angles_and_flips_follow_their_distribution);
    RUN(test_contrast_and_brightness_by_their_formulas);
    RUN(test_rescaling_normalization_resizing_and_center_crop_by_hand);
    RUN(test_reported_maps_move_points_with_the_pixels);
    RUN(test_reproducible_from_the_seed_and_any_thread_count);
    RUN(test_errors_name_the_argument);
    RUN(test_model_runs_its_preprocessing_chain_and_composes_the_maps);
    RUN(test_rescaling_warning_only_for_1_255_on_unit_data);
    RUN(test_normalization_adapts_to_the_training_data);
    RUN(test_boxes_move_with_the_image);
    RUN(test_geometric_layers_match_scipy_and_pytorch);
    return TEST_SUMMARY();
}
