/* test_pose_dataset.c — a BOP split as a pose network's dataset: K scaled with the resize
 * (hand-worked), the head's output turned back into a pose (the inverse of the loss's translation
 * parameters), and a rendered dataset's images and targets against its scene_gt.json and
 * scene_camera.json, with the loss of the true pose zero through them. Skipped (77) when OSMesa
 * cannot render.
 */
#include "fovea.h"
#include "io/dataset.h"
#include "model/model_impl.h"
#include "pose_fixture.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

TEST(scale_K_hand_worked)
{
    /* 64 x 64 with fx = fy = 80, cx = cy = 31.5 (the image's centre) to 32 x 16 (w x h) */
    const double K[9] = {80, 0, 31.5, 0, 80, 31.5, 0, 0, 1};
    double S[9];
    fv_pose_scale_K(K, 64, 64, 16, 32, S);
    CHECK_CLOSE(S[0], 40, 1e-12, 0);
    CHECK_CLOSE(S[4], 20, 1e-12, 0);
    CHECK_CLOSE(S[2], 15.5, 1e-12, 0); /* still the centre: (31.5 + 0.5)/2 − 0.5 */
    CHECK_CLOSE(S[5], 7.5, 1e-12, 0);
    CHECK(S[8] == 1 && S[1] == 0 && S[3] == 0 && S[6] == 0 && S[7] == 0);
    /* a point seen at pixel u in the original is at (u + 0.5)/2 − 0.5 in the half-size image */
    const double X[3] = {13, -7, 400};
    const double u = K[0] * X[0] / X[2] + K[2], u2 = S[0] * X[0] / X[2] + S[2];
    CHECK_CLOSE(u2, (u + 0.5) * 0.5 - 0.5, 1e-12, 0);
}

TEST(head_output_to_pose)
{
    /* the loss's targets: (x/z, y/z, z/f) with f = (fx + fy)/2 */
    const double K[9] = {100, 0, 10, 0, 60, 12, 0, 0, 1}, t[3] = {30, -12, 480};
    float y[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    y[9] = (float)(t[0] / t[2]), y[10] = (float)(t[1] / t[2]), y[11] = (float)(t[2] / 80.0);
    fv_pose p;
    fv_pose_from_head(y, K, &p);
    for (int k = 0; k < 3; k++)
        CHECK_CLOSE(p.t[k], t[k], 1e-3, 0);
    CHECK(p.R[0] == 1 && p.R[4] == 1 && p.R[8] == 1 && p.R[1] == 0);
}

TEST(rendered_split_as_dataset)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/ds", tmpdir);
    fv_pose_sample *s = NULL;
    fv_bop_gt *gt = NULL;
    int64_t n = 0, ng = 0;
    const char *what = "";
    const int rendered = pose_render_split(dir, 3, 32, 3, &s, &n, &gt, &ng, &what);
    if (rendered > 0) SKIP("OSMesa cannot render: %s", fv_last_error());
    if (rendered < 0) fprintf(stderr, "  %s failed: %s\n", what, fv_last_error());
    CHECK(rendered == 0 && n == 3);
    if (rendered != 0 || n != 3) {
        free(s), free(gt);
        return;
    }
    CHECK(ng == 3);
    for (int64_t i = 0; i < n && i < ng; i++) {
        CHECK(s[i].scene_id == 0 && s[i].im_id == i && s[i].obj_id == 1);
        CHECK(memcmp(&s[i].gt, &gt[i].pose, sizeof(fv_pose)) == 0);
        CHECK_CLOSE(s[i].K[0], 1.25 * 32, 1e-9, 0);
        CHECK(strstr(s[i].path, "/test/000000/rgb/00000") != NULL);
    }
    fv_dataset *d = NULL;
    CHECK_OK(fv_bop_to_dataset(s, n, 16, 16, 3, "pose", &d));
    if (d) {
        CHECK(fv_dataset_count(d) == 3);
        int64_t dims[4];
        CHECK(fv_dataset_shape(d, dims) == 3 && dims[0] == 16 && dims[1] == 16 && dims[2] == 3);
        const fv_dataset *t = fv__dataset_output(d, "pose");
        CHECK(t && t->tdim == 16);
        for (int64_t i = 0; t && i < n; i++) {
            const float *ti = t->targets + i * 16;
            CHECK(s[i].height == 32 && s[i].width == 32);
            for (int k = 0; k < 9; k++)
                CHECK_CLOSE(ti[k], gt[i].pose.R[k], 1e-6, 0);
            for (int k = 0; k < 3; k++)
                CHECK_CLOSE(ti[9 + k], gt[i].pose.t[k], 1e-3, 1e-6);
            CHECK_CLOSE(ti[12], 20, 1e-5, 0); /* 40 px at 32 → 20 at 16 */
            CHECK_CLOSE(ti[13], 20, 1e-5, 0);
            CHECK_CLOSE(ti[14], 7.5, 1e-5, 0); /* (15.5 + 0.5)/2 − 0.5 */
            CHECK_CLOSE(ti[15], 7.5, 1e-5, 0);
        }
        /* The loss of the true pose, through the dataset's targets, is zero: the head's input
         * written from scene_gt.json (R's first two columns; x/z, y/z and z/f with the resized
         * image's f) gives back R and t, and the pose loss compares them with the targets. */
        fv_model *m = fv_model_parse_string("input shape=9\npose extent=85,61,41\n"
                                            "compile loss=pose optimizer=sgd\n",
                                            "pose.fv");
        CHECK(m != NULL);
        for (int64_t i = 0; m && t && i < n; i++) {
            const double *R = gt[i].pose.R, *tr = gt[i].pose.t;
            const float *ti = t->targets + i * 16;
            const double f = 0.5 * ((double)ti[12] + ti[13]);
            const float x[9] = {(float)R[0],
                                (float)R[3],
                                (float)R[6],
                                (float)R[1],
                                (float)R[4],
                                (float)R[7],
                                (float)(tr[0] / tr[2]),
                                (float)(tr[1] / tr[2]),
                                (float)(tr[2] / f)};
            float y[12];
            fv_layer *head = &m->layers[0];
            fv_run run = {.n = 1};
            const float *xs[1] = {x};
            head->kind->forward(head, xs, y, &run);
            double parts[2];
            const double L = head->kind->task_loss->compute(head, y, ti, 1, NULL, parts, NULL);
            CHECK(L < 1e-12 && parts[0] < 1e-12 && parts[1] < 1e-12);
            double K[9] = {ti[12], 0, ti[14], 0, ti[13], ti[15], 0, 0, 1};
            fv_pose back;
            fv_pose_from_head(y, K, &back);
            for (int k = 0; k < 9; k++)
                CHECK_CLOSE(back.R[k], R[k], 1e-6, 0);
            for (int k = 0; k < 3; k++)
                CHECK_CLOSE(back.t[k], tr[k], 1e-3, 1e-6);
        }
        fv_model_free(m);
    }
    fv_dataset_free(d);
    /* an object the split does not hold, a split that is not there */
    free(s);
    s = NULL;
    CHECK(fv_bop_samples(dir, "test", 2, &s, &n) == FV_ERR_FORMAT && !s && n == 0);
    CHECK_STR_CONTAINS(fv_last_error(), "no instance of obj_id 2");
    CHECK(fv_bop_samples(dir, "train", 1, &s, &n) == FV_ERR_IO);
    CHECK_STR_CONTAINS(fv_last_error(), "/train");
    free(gt);
}

int main(void)
{
    test_tmpdir("pose-dataset", tmpdir, sizeof tmpdir);
    RUN(scale_K_hand_worked);
    RUN(head_output_to_pose);
    RUN(rendered_split_as_dataset);
    return TEST_SUMMARY();
}
