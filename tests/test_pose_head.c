/* test_pose_head.c — the 6D pose head and its task loss `pose` (PLoss, SLoss, translation):
 * against PyTorch (fixtures/pose/loss.json, made by fixtures/make_pose_loss_fixture.py), by
 * directional finite differences, hand-worked values, the targets' checks, and a pose network
 * that learns.
 */
#include "fovea.h"
#include "model/model.h"
#include "model/model_impl.h"
#include "pose_fixture.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A model of one pose head over 9 inputs, compiled with the pose loss. */
/* A rotation from Euler angles drawn uniformly (x-y-z, degrees: ±180, ±90, ±180), in R. */
static void random_rotation(fv_rng *r, double R[9])
{
    const double e[3] = {fv__rng_uniform(r) * 360 - 180, fv__rng_uniform(r) * 180 - 90,
                         fv__rng_uniform(r) * 360 - 180};
    fv_rotation_from_euler(e, R);
}

/* random_rotation's R as a pose target's first nine floats. */
static void random_rotation_target(fv_rng *r, float *t)
{
    double R[9];
    random_rotation(r, R);
    for (int j = 0; j < 9; j++)
        t[j] = (float)R[j];
}

static fv_model *head_model(const char *args)
{
    char text[512];
    snprintf(text, sizeof text, "input shape=9\npose %s\ncompile loss=pose optimizer=sgd\n", args);
    return fv_model_parse_string(text, "pose.fv");
}

/* The head's forward, the loss (with dy) and the head's backward (dx, when not NULL). */
static double head_loss(fv_model *m, const float *x, const float *t, int64_t n, float *y, float *dx,
                        double parts[2])
{
    fv_layer *head = &m->layers[0];
    fv_run r = {.n = n};
    const float *xs[1] = {x};
    head->kind->forward(head, xs, y, &r);
    float *dy = dx ? malloc((size_t)n * 12 * sizeof *dy) : NULL;
    double L = head->kind->task_loss->compute(head, y, t, n, dy, parts, NULL);
    if (dx) {
        float *dxs[1] = {dx};
        head->kind->backward(head, xs, y, dy, dxs, &r);
    }
    free(dy);
    return L;
}

static float *floats(const cJSON *o, const char *key, int *count)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    int n = cJSON_GetArraySize(a);
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int i = 0; i < n; i++)
        v[i] = (float)cJSON_GetArrayItem(a, i)->valuedouble;
    *count = n;
    return v;
}

TEST(head_and_loss_match_pytorch)
{
    cJSON *root = pose_fixture("loss.json");
    if (!root) SKIP("fixtures/pose/loss.json not found (run from tests/)");
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases"))
    {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(c, "extent");
        char args[256];
        snprintf(args, sizeof args, "extent=%g,%g,%g symmetry=%s translation_weight=%g",
                 cJSON_GetArrayItem(e, 0)->valuedouble, cJSON_GetArrayItem(e, 1)->valuedouble,
                 cJSON_GetArrayItem(e, 2)->valuedouble,
                 cJSON_GetObjectItemCaseSensitive(c, "symmetry")->valuestring,
                 cJSON_GetObjectItemCaseSensitive(c, "translation_weight")->valuedouble);
        fv_model *m = head_model(args);
        CHECK(m != NULL);
        if (!m) continue;
        int nx, nt, ny, ndx;
        float *x = floats(c, "x", &nx), *t = floats(c, "targets", &nt);
        float *want_y = floats(c, "y", &ny), *want_dx = floats(c, "dx", &ndx);
        const int64_t n = nx / 9;
        CHECK(nt == n * 16 && ny == n * 12 && ndx == nx);
        float *y = malloc((size_t)ny * sizeof *y), *dx = malloc((size_t)nx * sizeof *dx);
        double parts[2];
        double L = head_loss(m, x, t, n, y, dx, parts);
        check_arrays("y", y, want_y, ny, 1e-6, 1e-5);
        CHECK_CLOSE(L, cJSON_GetObjectItemCaseSensitive(c, "loss")->valuedouble, 1e-6, 1e-5);
        CHECK_CLOSE(parts[0], cJSON_GetObjectItemCaseSensitive(c, "rotation_loss")->valuedouble,
                    1e-6, 1e-5);
        CHECK_CLOSE(parts[1], cJSON_GetObjectItemCaseSensitive(c, "translation_loss")->valuedouble,
                    1e-6, 1e-5);
        check_arrays("dx", dx, want_dx, nx, 1e-6, 1e-4);
        free(x), free(t), free(want_y), free(want_dx), free(y), free(dx);
        fv_model_free(m);
        cases++;
    }
    CHECK(cases == 4);
    cJSON_Delete(root);
}

/* d/dε L(x + ε v) by central differences in double against the analytic dx·v. */
TEST(loss_gradient_by_directional_differences)
{
    const char *configs[3] = {"extent=80,56,36", "extent=70,50,30 symmetry=discrete",
                              "extent=50,50,70 symmetry=continuous translation_weight=3"};
    fv_rng r;
    fv__rng_seed(&r, 7);
    for (int k = 0; k < 3; k++) {
        fv_model *m = head_model(configs[k]);
        CHECK(m != NULL);
        if (!m) continue;
        enum { N = 4 };
        float x[N * 9], t[N * 16], y[N * 12], dx[N * 9], v[N * 9];
        for (int i = 0; i < N; i++) {
            random_rotation_target(&r, t + i * 16);
            const float rest[7] = {10, -20, 500, 150, 160, 63.5f, 63.5f};
            memcpy(t + i * 16 + 9, rest, sizeof rest);
        }
        for (int i = 0; i < N * 9; i++) {
            x[i] = (float)fv__rng_normal(&r);
            v[i] = (float)fv__rng_normal(&r);
        }
        double parts[2];
        head_loss(m, x, t, N, y, dx, parts);
        double analytic = 0;
        for (int i = 0; i < N * 9; i++)
            analytic += (double)dx[i] * v[i];
        /* small enough that SLoss's nearest points stay the same along the step (at 1e-3 one
         * changed), large enough over the float outputs' rounding (about 1e-3 relative here) */
        const double h = 1e-4;
        float xp[N * 9], xm[N * 9];
        for (int i = 0; i < N * 9; i++)
            xp[i] = x[i] + (float)h * v[i], xm[i] = x[i] - (float)h * v[i];
        double Lp = head_loss(m, xp, t, N, y, NULL, parts);
        double Lm = head_loss(m, xm, t, N, y, NULL, parts);
        CHECK_CLOSE(analytic, (Lp - Lm) / (2 * h), 2e-3, 2e-2);
        fv_model_free(m);
    }
}

TEST(hand_worked_values)
{
    fv_model *m = head_model("extent=30,40,0.001");
    CHECK(m != NULL);
    if (!m) return;
    /* x = R's first two columns for R = I and p = the target's: loss 0. Then R̃ = Rz(180°):
     * each corner x ↦ −x in the xy-plane, |R̃x − x|² = 4(x² + y²) = 4 (D/2)²/D² = 1 for every
     * corner (z ≈ 0), so PLoss = 1/(2·8)·8·1 = 0.5. */
    float x[9] = {1, 0, 0, 0, 1, 0, 0.02f, -0.04f, 500.0f / 150};
    float t[16] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 10, -20, 500, 140, 160, 63.5f, 63.5f};
    float y[12];
    double parts[2];
    CHECK_CLOSE(head_loss(m, x, t, 1, y, NULL, parts), 0, 1e-6, 0);
    x[0] = -1, x[4] = -1;
    CHECK_CLOSE(head_loss(m, x, t, 1, y, NULL, parts), 0.5, 1e-4, 0);
    CHECK_CLOSE(parts[0], 0.5, 1e-4, 0);
    /* Translation, with R right again: t = (10, −20, 500) mm, f = (140 + 160)/2 = 150, so
     * p = (0.02, −0.04, 10/3). An offset 0.01 off is 500·0.01 = 5 mm sideways: ½(z/f)²·0.01² =
     * ½·(100/9)·1e-4 = 5/9·1e-3 (= ½·5²/150²); a depth 0.1 off is 150·0.1 = 15 mm: ½·0.1² =
     * 5e-3 (= ½·15²/150²). */
    x[0] = 1, x[4] = 1, x[6] = 0.03f;
    CHECK_CLOSE(head_loss(m, x, t, 1, y, NULL, parts), 5.0 / 9 * 1e-3, 1e-7, 0);
    CHECK_CLOSE(parts[1], 5.0 / 9 * 1e-3, 1e-7, 0);
    x[6] = 0.02f, x[8] = 500.0f / 150 + 0.1f;
    CHECK_CLOSE(head_loss(m, x, t, 1, y, NULL, parts), 5e-3, 1e-7, 0);
    x[8] = 500.0f / 150, x[0] = -1, x[4] = -1;
    fv_model_free(m);
    /* The same turn for a box with the half-turn symmetry: SLoss 0. */
    m = head_model("extent=30,40,0.001 symmetry=discrete");
    CHECK_CLOSE(head_loss(m, x, t, 1, y, NULL, parts), 0, 1e-6, 0);
    fv_model_free(m);
}

TEST(bad_heads_and_targets_refused)
{
    fv_model *m = head_model("extent=1,2");
    CHECK(m == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "extent= takes the object's three sizes");
    m = fv_model_parse_string("input shape=8\npose extent=1,2,3\n", "p.fv");
    CHECK(m == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "pose: the input must be 9 numbers");
    m = head_model("extent=1,2,3");
    if (!m) return;
    const fv_task_loss *tl = m->layers[0].kind->task_loss;
    float t[32] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 500, 100, 100, 0, 0,
                   1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 500, 100, 100, 0, 0};
    CHECK_OK(tl->check_targets(&m->layers[0], t, 1));
    CHECK(tl->check_targets(&m->layers[0], t, 2) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "sample 1: the target's R");
    t[24] = 1, t[27] = -5;
    CHECK(tl->check_targets(&m->layers[0], t, 2) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "sample 1: expected t_z > 0");
    CHECK(tl->target_width(&m->layers[0]) == 16);
    fv_model_free(m);
}

/* A pose network that learns: from a rotation's nine entries and the translation's parameters
 * (noisy), two dense layers and the head; 40 epochs lower both terms by 5× or more. */
TEST(a_small_pose_network_learns)
{
    const char *text = "input shape=12\n"
                       "dense units=64 activation=relu\n"
                       "dense units=9\n"
                       "pose name=pose extent=80,56,36\n"
                       "compile loss=pose optimizer=adam learning_rate=0.003\n";
    fv_model *m = fv_model_parse_string(text, "pose.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 256 };
    float *x = malloc(N * 12 * sizeof *x), *t = malloc(N * 16 * sizeof *t);
    fv_rng r;
    fv__rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        double R[9];
        random_rotation(&r, R);
        const double tz = 400 + 400 * fv__rng_uniform(&r), tx = 100 * fv__rng_uniform(&r) - 50,
                     ty = 100 * fv__rng_uniform(&r) - 50, f = 160;
        for (int j = 0; j < 9; j++) {
            t[i * 16 + j] = (float)R[j];
            x[i * 12 + j] = (float)(R[j] + 0.02 * fv__rng_normal(&r));
        }
        const float rest[7] = {(float)tx, (float)ty, (float)tz, (float)f, (float)f, 63.5f, 63.5f};
        memcpy(t + i * 16 + 9, rest, sizeof rest);
        x[i * 12 + 9] = (float)(tx / tz), x[i * 12 + 10] = (float)(ty / tz);
        x[i * 12 + 11] = (float)(tz / f);
    }
    const int64_t dims[1] = {12};
    fv_dataset *d = fv_dataset_from_f32(N, 1, dims, x, NULL);
    CHECK_OK(fv_dataset_add_output(d, "pose", 16, t));
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 40, o.batch_size = 32, o.seed = 1;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    const char *cols[] = {"loss", "rotation_loss", "translation_loss"};
    for (int c = 0; c < 3 && h; c++) {
        const double *v = fv_history_get(h, cols[c]);
        CHECK(v != NULL);
        if (v && !(v[39] < 0.2 * v[0])) {
            fprintf(stderr, "  %s: %.4f -> %.4f\n", cols[c], v[0], v[39]);
            test_failed_checks++;
        }
    }
    fv_history_free(h);
    fv_dataset_free(d);
    free(x), free(t);
    fv_model_free(m);
}

/* The whole network's gradient, end to end (convolution, batch normalization in training mode,
 * dense, the head's Gram–Schmidt and the loss): directional central differences of the training
 * loss along a random direction of every trainable tensor, for PLoss and for SLoss. tanh rather
 * than relu: a kink inside the step would make the difference, not the gradient, wrong. */
TEST(a_pose_network_gradient_matches_finite_differences_end_to_end)
{
    const char *heads[] = {"extent=85,61,41", "extent=70,50,50 symmetry=discrete",
                           "extent=40,40,60 symmetry=continuous translation_weight=0.3"};
    for (int hi = 0; hi < 3; hi++) {
        char text[512];
        snprintf(text, sizeof text,
                 "input shape=8,8,3\n"
                 "conv2d name=c filters=4 kernel_size=3 strides=2 padding=same use_bias=false\n"
                 "batch_normalization name=bn\n"
                 "activation activation=tanh\n"
                 "flatten\n"
                 "dense name=d units=9\n"
                 "pose name=pose %s\n"
                 "compile loss=pose optimizer=adam\n",
                 heads[hi]);
        fv_model *m = fv_model_parse_string(text, "pose.fv");
        CHECK(m != NULL);
        if (!m) continue;
        enum { N = 3 };
        fv_rng r;
        fv__rng_seed(&r, 11 + (uint64_t)hi);
        float x[N * 8 * 8 * 3], t[N * 16];
        for (int i = 0; i < N * 8 * 8 * 3; i++)
            x[i] = (float)fv__rng_uniform(&r);
        for (int i = 0; i < N; i++) {
            random_rotation_target(&r, t + i * 16);
            const float rest[7] = {
                20.0f * (float)i - 20, 10, 300.0f + 40.0f * (float)i, 80, 80, 31.5f, 31.5f};
            memcpy(t + i * 16 + 9, rest, sizeof rest);
        }
        fv_targets tg = {.values = t};
        const char *tensors[] = {"c.kernel", "bn.gamma", "bn.beta", "d.kernel", "d.bias"};
        double L0, Lp, Lm;
        CHECK_OK(fv__model_loss_and_grad(m, x, &tg, N, true, &L0));
        CHECK(isfinite(L0) && L0 > 0);
        for (size_t ti = 0; ti < sizeof tensors / sizeof tensors[0]; ti++) {
            int rank;
            int64_t d[4];
            float *w = fv_model_param(m, tensors[ti], &rank, d);
            CHECK_OK(fv__model_loss_and_grad(m, x, &tg, N, true, &L0));
            const float *g = fv__model_grad(m, tensors[ti]);
            CHECK(w && g);
            if (!w || !g) continue;
            int64_t n = 1;
            for (int k = 0; k < rank; k++)
                n *= d[k];
            double *v = malloc((size_t)n * sizeof *v), analytic = 0;
            float *w0 = malloc((size_t)n * sizeof *w0);
            memcpy(w0, w, (size_t)n * sizeof *w0);
            for (int64_t j = 0; j < n; j++)
                v[j] = fv__rng_normal(&r), analytic += v[j] * g[j];
            const double eps = 1e-3;
            for (int64_t j = 0; j < n; j++)
                w[j] = (float)(w0[j] + eps * v[j]);
            CHECK_OK(fv__model_loss_and_grad(m, x, &tg, N, true, &Lp));
            for (int64_t j = 0; j < n; j++)
                w[j] = (float)(w0[j] - eps * v[j]);
            CHECK_OK(fv__model_loss_and_grad(m, x, &tg, N, true, &Lm));
            memcpy(w, w0, (size_t)n * sizeof *w0);
            const double numeric = (Lp - Lm) / (2 * eps);
            if (!(fabs(numeric - analytic) <= 1e-3 + 1e-2 * fabs(analytic))) {
                fprintf(stderr, "  %s, %s: analytic %.6g, numeric %.6g\n", heads[hi], tensors[ti],
                        analytic, numeric);
                test_failed_checks++;
            }
            free(v), free(w0);
        }
        fv_model_free(m);
    }
}

int main(void)
{
    RUN(head_and_loss_match_pytorch);
    RUN(loss_gradient_by_directional_differences);
    RUN(hand_worked_values);
    RUN(bad_heads_and_targets_refused);
    RUN(a_small_pose_network_learns);
    RUN(a_pose_network_gradient_matches_finite_differences_end_to_end);
    return TEST_SUMMARY();
}
