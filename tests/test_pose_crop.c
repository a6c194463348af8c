/* test_pose_crop.c — the crop around the object (a pose network's "zoom-in" input): the virtual
 * camera hand-worked, a bright spot landing where the crop's camera puts it, a crop of a render
 * against a render through the crop's camera, and a rendered split as cropped training data: the
 * true pose's loss zero through its targets and the estimate turned back into the image's camera,
 * the same for any thread count.
 * Against SciPy (fixtures/pose/crop.json, made by fixtures/make_pose_crop_fixture.py): the
 * virtual camera and the crop's pixels. The renders are skipped (77) when OSMesa cannot create a
 * context.
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

TEST(crop_camera_hand_worked)
{
    const double K[9] = {100, 0, 50, 0, 100, 40, 0, 0, 1}, I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    double Rv[9], Kv[9];
    /* on the optical axis: no turn; the crop's focal length is f · out / side, its principal
     * point its centre */
    const double c0[2] = {50, 40};
    fv_pose_crop_camera(K, c0, 50, 32, 64, Rv, Kv);
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(Rv[k], I[k], 1e-15, 0);
    const double kv[9] = {128, 0, 31.5, 0, 64, 15.5, 0, 0, 1};
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(Kv[k], kv[k], 1e-12, 0);
    /* the centre one focal length to the right: the ray (1, 0, 1)/√2, turned by 45° about y onto
     * the axis, Rv = [c 0 −s; 0 1 0; s 0 c] with c = s = 1/√2 */
    const double c1[2] = {150, 40}, h = sqrt(0.5);
    fv_pose_crop_camera(K, c1, 50, 32, 64, Rv, Kv);
    const double R1[9] = {h, 0, -h, 0, 1, 0, h, 0, h};
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(Rv[k], R1[k], 1e-12, 0);
    /* any point on that ray projects to the crop's centre */
    const double X[3] = {300, 0, 300};
    double Y[3];
    for (int i = 0; i < 3; i++)
        Y[i] = Rv[i * 3] * X[0] + Rv[i * 3 + 1] * X[1] + Rv[i * 3 + 2] * X[2];
    CHECK_CLOSE(Kv[0] * Y[0] / Y[2] + Kv[2], 31.5, 1e-9, 0);
    CHECK_CLOSE(Kv[4] * Y[1] / Y[2] + Kv[5], 15.5, 1e-9, 0);
    /* diagonal: Rv takes the ray to the axis and is a rotation */
    const double c2[2] = {80, -20};
    fv_pose_crop_camera(K, c2, 30, 64, 64, Rv, Kv);
    double a[3] = {0.3, -0.6, 1}, n = sqrt(0.09 + 0.36 + 1);
    for (int i = 0; i < 3; i++)
        a[i] /= n;
    for (int i = 0; i < 3; i++)
        CHECK_CLOSE(Rv[i * 3] * a[0] + Rv[i * 3 + 1] * a[1] + Rv[i * 3 + 2] * a[2], i == 2, 1e-12,
                    0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double d = 0;
            for (int k = 0; k < 3; k++)
                d += Rv[i * 3 + k] * Rv[j * 3 + k];
            CHECK_CLOSE(d, i == j, 1e-12, 0);
        }
    const double det = Rv[0] * (Rv[4] * Rv[8] - Rv[5] * Rv[7]) -
                       Rv[1] * (Rv[3] * Rv[8] - Rv[5] * Rv[6]) +
                       Rv[2] * (Rv[3] * Rv[7] - Rv[4] * Rv[6]);
    CHECK_CLOSE(det, 1, 1e-12, 0);
}

TEST(crop_image_moves_a_spot_where_the_camera_says)
{
    /* a 3 × 3 white spot centred at pixel (70, 30) of a black 100 × 80 image, cropped around
     * (60, 35) with side 20 into 64 × 64 (3.2× larger): the crop's brightness centroid lies where
     * Kv·Rv·K⁻¹ puts (70, 30), to a tenth of a pixel */
    enum { IW = 100, IH = 80, O = 64 };
    static uint8_t src[IH * IW * 3], out[O * O * 3];
    for (int y = 29; y <= 31; y++)
        for (int x = 69; x <= 71; x++)
            for (int c = 0; c < 3; c++)
                src[(y * IW + x) * 3 + c] = 255;
    const double K[9] = {90, 0, 20, 0, 110, 60, 0, 0, 1}, centre[2] = {60, 35};
    double Rv[9], Kv[9];
    fv_pose_crop_camera(K, centre, 20, O, O, Rv, Kv);
    fv_pose_crop_image(src, IH, IW, 3, K, Rv, Kv, out, O, O);
    double m = 0, mx = 0, my = 0;
    for (int y = 0; y < O; y++)
        for (int x = 0; x < O; x++) {
            m += out[(y * O + x) * 3 + 1];
            mx += x * (double)out[(y * O + x) * 3 + 1];
            my += y * (double)out[(y * O + x) * 3 + 1];
        }
    CHECK(m > 0);
    if (!(m > 0)) return;
    const double d[3] = {(70 - K[2]) / K[0], (30 - K[5]) / K[4], 1};
    double e[3];
    for (int i = 0; i < 3; i++)
        e[i] = Rv[i * 3] * d[0] + Rv[i * 3 + 1] * d[1] + Rv[i * 3 + 2] * d[2];
    const double u = Kv[0] * e[0] / e[2] + Kv[2], v = Kv[4] * e[1] / e[2] + Kv[5];
    CHECK(u > 40 && u < 64 && v > 0 && v < 30); /* right of and above the crop's centre */
    CHECK_CLOSE(mx / m, u, 0.1, 0);
    CHECK_CLOSE(my / m, v, 0.1, 0);
    /* a crop reaching out of the image is black there */
    const double far[2] = {-30, 35};
    fv_pose_crop_camera(K, far, 20, O, O, Rv, Kv);
    fv_pose_crop_image(src, IH, IW, 3, K, Rv, Kv, out, O, O);
    bool black = true;
    for (int i = 0; i < O * O * 3; i++)
        black &= out[i] == 0;
    CHECK(black);
}

TEST(crop_against_scipy)
{
    cJSON *root = pose_fixture("crop.json");
    if (!root) SKIP("fixtures/pose/crop.json not found (run from tests/)");
    const int64_t h = cJSON_GetObjectItemCaseSensitive(root, "height")->valueint;
    const int64_t w = cJSON_GetObjectItemCaseSensitive(root, "width")->valueint;
    double *img = malloc((size_t)(h * w * 3) * sizeof *img);
    uint8_t *src = malloc((size_t)(h * w * 3));
    CHECK(pose_fixture_doubles(root, "image", img, h * w * 3));
    for (int64_t i = 0; i < h * w * 3; i++)
        src[i] = (uint8_t)img[i];
    int cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases"))
    {
        double K[9], centre[2], want_R[9], want_K[9], Rv[9], Kv[9];
        CHECK(pose_fixture_doubles(c, "K", K, 9));
        CHECK(pose_fixture_doubles(c, "centre", centre, 2));
        CHECK(pose_fixture_doubles(c, "Rv", want_R, 9));
        CHECK(pose_fixture_doubles(c, "Kv", want_K, 9));
        const double side = cJSON_GetObjectItemCaseSensitive(c, "side")->valuedouble;
        const int64_t oh = cJSON_GetObjectItemCaseSensitive(c, "out_h")->valueint;
        const int64_t ow = cJSON_GetObjectItemCaseSensitive(c, "out_w")->valueint;
        fv_pose_crop_camera(K, centre, side, oh, ow, Rv, Kv);
        for (int k = 0; k < 9; k++) {
            CHECK_CLOSE(Rv[k], want_R[k], 1e-12, 0);
            CHECK_CLOSE(Kv[k], want_K[k], 1e-12, 0);
        }
        double *want = malloc((size_t)(oh * ow * 3) * sizeof *want);
        uint8_t *out = malloc((size_t)(oh * ow * 3));
        CHECK(pose_fixture_doubles(c, "crop", want, oh * ow * 3));
        fv_pose_crop_image(src, h, w, 3, K, Rv, Kv, out, oh, ow);
        double worst = 0;
        for (int64_t i = 0; i < oh * ow * 3; i++)
            worst = fmax(worst, fabs(out[i] - want[i]));
        CHECK(worst <= 0.5 + 1e-4); /* SciPy's value, rounded to the nearest byte */
        free(want);
        free(out);
        cases++;
    }
    CHECK(cases == 4);
    free(img);
    free(src);
    cJSON_Delete(root);
}

TEST(crop_of_a_render_is_a_render_through_the_crops_camera)
{
    /* The tripod off the optical axis (23° right, 13° up) rendered at 128 × 128, its silhouette
     * cropped around its box, against the tripod rendered directly at 64 × 64 through the crop's
     * camera at the pose (Rv R, Rv t): the silhouettes agree (IoU > 0.88 — the arms are a few
     * pixels thick, so resampling's border pixels weigh — and centroids within 0.3 px); the same
     * crop read as a plain shifted and scaled image (K shifted and scaled, the pose not turned)
     * agrees much less (IoU 0.51 against 0.91 when written) */
    enum { S = 128, O = 64 };
    fv_renderer *big = fv_renderer_new(S, S), *small = fv_renderer_new(O, O);
    if (!big || !small) {
        fv_renderer_free(big);
        fv_renderer_free(small);
        SKIP("OSMesa cannot create a context: %s", fv_last_error());
    }
    fv_mesh *mesh = NULL;
    fv_pose_model_info info;
    CHECK_OK(fv_mesh_make("tripod", &mesh, &info));
    const double K[9] = {100, 0, 63.5, 0, 100, 63.5, 0, 0, 1};
    const double a = 0.5, b = 0.7; /* about x, then y */
    fv_pose p = {.R = {cos(b), sin(a) * sin(b), cos(a) * sin(b), 0, cos(a), -sin(a), -sin(b),
                       sin(a) * cos(b), cos(a) * cos(b)},
                 .t = {110, -60, 260}};
    static uint8_t mask[S * S], crop[O * O], direct[O * O], plain[O * O];
    CHECK_OK(fv_render(big, mesh, &p, K, NULL, mask, NULL));
    int64_t x0 = S, y0 = S, x1 = -1, y1 = -1;
    for (int64_t y = 0; y < S; y++)
        for (int64_t x = 0; x < S; x++)
            if (mask[y * S + x]) {
                x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            }
    CHECK(x1 >= 0 && x0 > 0 && x1 < S - 1 && y0 > 0 && y1 < S - 1); /* whole in the image */
    const double w = (double)(x1 - x0 + 1), h = (double)(y1 - y0 + 1);
    const double centre[2] = {x0 + w / 2 - 0.5, y0 + h / 2 - 0.5};
    double Rv[9], Kv[9];
    fv_pose_crop_camera(K, centre, 1.5 * (w > h ? w : h), O, O, Rv, Kv);
    fv_pose_crop_image(mask, S, S, 1, K, Rv, Kv, crop, O, O);
    fv_pose q;
    for (int i = 0; i < 3; i++) {
        q.t[i] = 0;
        for (int k = 0; k < 3; k++)
            q.t[i] += Rv[i * 3 + k] * p.t[k];
        for (int j = 0; j < 3; j++) {
            q.R[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                q.R[i * 3 + j] += Rv[i * 3 + k] * p.R[k * 3 + j];
        }
    }
    CHECK_OK(fv_render(small, mesh, &q, Kv, NULL, direct, NULL));
    /* the plain reading: K shifted and scaled with the crop, the pose as it was */
    const double sc = Kv[0] / K[0];
    const double Kp[9] = {K[0] * sc, 0,         (K[2] - centre[0]) * sc + Kv[2],
                          0,         K[4] * sc, (K[5] - centre[1]) * sc + Kv[5],
                          0,         0,         1};
    CHECK_OK(fv_render(small, mesh, &p, Kp, NULL, plain, NULL));
    int64_t inter = 0, uni = 0, inter_p = 0, uni_p = 0;
    double mc = 0, md = 0, cc[2] = {0, 0}, cd[2] = {0, 0};
    for (int i = 0; i < O * O; i++) {
        const bool c = crop[i] > 127, d = direct[i] > 0, e = plain[i] > 0;
        inter += c && d, uni += c || d;
        inter_p += c && e, uni_p += c || e;
        mc += crop[i], md += direct[i];
        cc[0] += crop[i] * (double)(i % O), cc[1] += crop[i] * (double)(i / O);
        cd[0] += direct[i] * (double)(i % O), cd[1] += direct[i] * (double)(i / O);
    }
    const double iou = (double)inter / (double)uni, iou_p = (double)inter_p / (double)uni_p;
    CHECK(uni > 250);
    CHECK(iou > 0.88);
    CHECK(iou_p < iou - 0.2);
    for (int k = 0; k < 2; k++) /* the silhouettes' centroids */
        CHECK_CLOSE(cc[k] / mc, cd[k] / md, 0.3, 0);
    fv_mesh_free(mesh);
    fv_pose_model_info_clear(&info);
    fv_renderer_free(big);
    fv_renderer_free(small);
}

TEST(rendered_split_as_cropped_dataset)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/ds", tmpdir);
    fv_pose_sample *s = NULL;
    fv_bop_gt *gt = NULL;
    int64_t n = 0, ng = 0;
    const char *what = "";
    const int rendered = pose_render_split(dir, 4, 48, 5, &s, &n, &gt, &ng, &what);
    if (rendered > 0) SKIP("OSMesa cannot render: %s", fv_last_error());
    if (rendered < 0) fprintf(stderr, "  %s failed: %s\n", what, fv_last_error());
    CHECK(rendered == 0 && n == 4);
    if (rendered != 0 || n != 4) {
        free(s), free(gt);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            CHECK(s[i].box[k] == (double)gt[i].bbox_visib[k]);
    fv_pose_crop c = {.enabled = true, .pad = 1.5, .jitter_scale = 0.25, .jitter_shift = 0.25};
    fv_model *m = fv_model_parse_string("input shape=9\npose extent=85,61,41 crop=box\n"
                                        "compile loss=pose optimizer=sgd\n",
                                        "pose.fv");
    CHECK(m != NULL);
    fv_pose_crop mc;
    CHECK(m && fv_model_pose_crop(m, &mc) && mc.pad == 1.5 && mc.jitter_scale == 0.25 &&
          mc.jitter_shift == 0.25 && !mc.jitter);
    for (int jitter = 0; jitter < 2; jitter++) {
        c.jitter = jitter, c.seed = 9;
        fv_dataset *d = NULL;
        CHECK_OK(fv_bop_to_dataset_crop(s, n, 24, 24, 3, "pose", &c, &d));
        const fv_dataset *t = d ? fv__dataset_output(d, "pose") : NULL;
        CHECK(t && t->tdim == 16);
        for (int64_t i = 0; m && t && i < n; i++) {
            const float *ti = t->targets + i * 16;
            const double *R = gt[i].pose.R, *tr = gt[i].pose.t, *b = s[i].box;
            /* the crop's camera: principal point at the centre; without jitter the box's centre
             * on its axis and its longer side 1.5 · 24 / 24 pixels of the crop per pixel */
            CHECK(ti[14] == 11.5f && ti[15] == 11.5f);
            CHECK_CLOSE(s[i].Kin[0], ti[12], 1e-4, 1e-6);
            if (!jitter) CHECK_CLOSE(ti[12], s[i].K[0] * 24 / (1.5 * fmax(b[2], b[3])), 1e-4, 1e-6);
            /* the targets are (Rv R, Rv t): their z is the distance along the crop's axis */
            double rt[3] = {ti[9], ti[10], ti[11]}, nt = 0, nr = 0;
            for (int k = 0; k < 3; k++)
                nt += tr[k] * tr[k], nr += rt[k] * rt[k];
            CHECK_CLOSE(sqrt(nr), sqrt(nt), 1e-3, 1e-6);
            if (!jitter) /* the box's centre is near the object's origin's image */
                CHECK(fabs(rt[0] / rt[2]) < 0.2 && fabs(rt[1] / rt[2]) < 0.2);
            /* the true head input gives zero loss, and the estimate back in the image's camera
             * is the true pose */
            const double f = 0.5 * ((double)ti[12] + ti[13]);
            const float x[9] = {ti[0],
                                ti[3],
                                ti[6],
                                ti[1],
                                ti[4],
                                ti[7],
                                (float)(rt[0] / rt[2]),
                                (float)(rt[1] / rt[2]),
                                (float)(rt[2] / f)};
            float y[12];
            fv_layer *head = &m->layers[0];
            fv_run run = {.n = 1};
            const float *xs[1] = {x};
            head->kind->forward(head, xs, y, &run);
            double parts[2];
            const double L = head->kind->task_loss->compute(head, y, ti, 1, NULL, parts, NULL);
            CHECK(L < 1e-10);
            fv_pose back;
            fv_pose_sample_estimate(&s[i], y, &back);
            for (int k = 0; k < 9; k++)
                CHECK_CLOSE(back.R[k], R[k], 1e-5, 0);
            for (int k = 0; k < 3; k++)
                CHECK_CLOSE(back.t[k], tr[k], 1e-3, 1e-5);
        }
        fv_dataset_free(d);
    }
    fv_model_free(m);
    /* without a box: refused, naming the image */
    s[2].box[2] = -1;
    fv_dataset *d = NULL;
    CHECK(fv_bop_to_dataset_crop(s, n, 24, 24, 3, "pose", &c, &d) == FV_ERR_FORMAT && !d);
    CHECK_STR_CONTAINS(fv_last_error(), "000002.png");
    CHECK_STR_CONTAINS(fv_last_error(), "2-D box");
    /* crop settings out of range */
    c.pad = 0;
    CHECK(fv_bop_to_dataset_crop(s, n, 24, 24, 3, "pose", &c, &d) == FV_ERR_INVALID);
    free(s);
    free(gt);
}

/* The split is decoded and cropped in parallel: the dataset (pixels, targets, each sample's
 * crop camera) is the same byte for byte at 1 and 3 threads, and of two samples that cannot be
 * cropped, the first by index is the one named, whatever the threads' order. */
TEST(cropped_dataset_same_for_any_thread_count)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/threads", tmpdir);
    fv_pose_sample *s = NULL;
    fv_bop_gt *gt = NULL;
    int64_t n = 0, ng = 0;
    const char *what = "";
    const int rendered = pose_render_split(dir, 10, 32, 7, &s, &n, &gt, &ng, &what);
    if (rendered > 0) SKIP("OSMesa cannot render: %s", fv_last_error());
    if (rendered < 0) fprintf(stderr, "  %s failed: %s\n", what, fv_last_error());
    CHECK(rendered == 0 && n == 10);
    if (rendered != 0 || n != 10) {
        free(s), free(gt);
        return;
    }
    fv_pose_crop c = {.enabled = true,
                      .pad = 1.5,
                      .jitter_scale = 0.25,
                      .jitter_shift = 0.25,
                      .jitter = true,
                      .seed = 4};
    fv_dataset *d[2] = {NULL, NULL};
    double cams[2][10][18];
    const int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        fv_set_threads(threads[k]);
        CHECK_OK(fv_bop_to_dataset_crop(s, n, 20, 20, 3, "pose", &c, &d[k]));
        for (int64_t i = 0; i < n; i++) {
            memcpy(cams[k][i], s[i].Kin, 9 * sizeof(double));
            memcpy(cams[k][i] + 9, s[i].Rv, 9 * sizeof(double));
        }
    }
    const fv_dataset *t0 = d[0] ? fv__dataset_output(d[0], "pose") : NULL,
                     *t1 = d[1] ? fv__dataset_output(d[1], "pose") : NULL;
    CHECK(d[0] && d[1] && d[0]->u8 && d[1]->u8 && t0 && t1);
    if (d[0] && d[1] && d[0]->u8 && d[1]->u8 && t0 && t1) {
        CHECK(memcmp(d[0]->u8, d[1]->u8, (size_t)(n * 20 * 20 * 3)) == 0);
        CHECK(memcmp(t0->targets, t1->targets, (size_t)(n * 16) * sizeof(float)) == 0);
    }
    CHECK(memcmp(cams[0], cams[1], sizeof cams[0]) == 0);
    /* the jitter moved the crops: not all the samples' crop cameras are alike */
    CHECK(cams[0][0][0] != cams[0][1][0] || cams[0][0][0] != cams[0][2][0]);
    fv_dataset_free(d[0]);
    fv_dataset_free(d[1]);
    s[7].box[2] = -1;
    s[3].box[3] = -1;
    fv_dataset *bad = NULL;
    CHECK(fv_bop_to_dataset_crop(s, n, 20, 20, 3, "pose", &c, &bad) == FV_ERR_FORMAT && !bad);
    CHECK_STR_CONTAINS(fv_last_error(), "000003.png");
    fv_set_threads(0);
    free(s);
    free(gt);
}

int main(void)
{
    test_tmpdir("pose-crop", tmpdir, sizeof tmpdir);
    RUN(crop_camera_hand_worked);
    RUN(crop_image_moves_a_spot_where_the_camera_says);
    RUN(crop_against_scipy);
    RUN(crop_of_a_render_is_a_render_through_the_crops_camera);
    RUN(rendered_split_as_cropped_dataset);
    RUN(cropped_dataset_same_for_any_thread_count);
    return TEST_SUMMARY();
}
