/* test_pose_io.c — the BOP format: scene_gt, scene_gt_info, scene_camera and models_info written
 * and read back, bad fields refused with the file and field named; the result CSV; PLY models
 * written by fovea and read back through assimp; the procedural objects' models_info.
 */
#include "fovea.h"
#include "test.h"
#include "vision/pose_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static const char *tmp(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static fv_bop_gt make_gt(int64_t im, int64_t g, int64_t obj, double angle)
{
    fv_bop_gt x = {.im_id = im, .gt_id = g, .obj_id = obj, .visib_fract = 0.25 * (double)g};
    double e[3] = {angle, -angle / 2, 10};
    fv_rotation_from_euler(e, x.pose.R);
    x.pose.t[0] = 1.5 * (double)im, x.pose.t[1] = -2, x.pose.t[2] = 600 + (double)g;
    for (int i = 0; i < 4; i++)
        x.bbox_obj[i] = 10 + i, x.bbox_visib[i] = 12 + i;
    x.px_count_all = 400, x.px_count_visib = 100 * g;
    return x;
}

TEST(scene_gt_round_trip)
{
    fv_bop_gt gt[3] = {make_gt(7, 0, 1, 30), make_gt(2, 0, 3, 100), make_gt(7, 1, 2, -45)};
    CHECK_OK(fv_bop_write_scene_gt(tmp("scene_gt.json"), gt, 3));
    CHECK_OK(fv_bop_write_scene_gt_info(tmp("scene_gt_info.json"), gt, 3));
    fv_bop_gt *back = NULL;
    int64_t n = 0;
    CHECK_OK(fv_bop_read_scene_gt(tmp("scene_gt.json"), &back, &n));
    CHECK(n == 3);
    if (n != 3) return;
    /* sorted by image, then instance */
    const fv_bop_gt *want[3] = {&gt[1], &gt[0], &gt[2]};
    for (int i = 0; i < 3; i++) {
        CHECK(back[i].im_id == want[i]->im_id && back[i].gt_id == want[i]->gt_id);
        CHECK(back[i].obj_id == want[i]->obj_id);
        CHECK(isnan(back[i].visib_fract));
        /* cJSON writes 15 significant digits when they read back within its epsilon */
        for (int k = 0; k < 9; k++)
            CHECK_CLOSE(back[i].pose.R[k], want[i]->pose.R[k], 1e-14, 0);
        for (int k = 0; k < 3; k++)
            CHECK(back[i].pose.t[k] == want[i]->pose.t[k]);
    }
    CHECK_OK(fv_bop_read_scene_gt_info(tmp("scene_gt_info.json"), back, n));
    for (int i = 0; i < 3; i++) {
        CHECK(back[i].visib_fract == want[i]->visib_fract);
        CHECK(back[i].bbox_visib[3] == 15 && back[i].px_count_all == 400);
        CHECK(back[i].px_count_visib == want[i]->px_count_visib);
    }
    /* An info file for other images is refused, naming the entry. */
    fv_bop_gt other[1] = {make_gt(9, 0, 1, 0)};
    CHECK_OK(fv_bop_write_scene_gt_info(tmp("other_info.json"), other, 1));
    CHECK(fv_bop_read_scene_gt_info(tmp("other_info.json"), back, n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "\"9\"[0]");
    free(back);
}

/* The parse of text must fail with FV_ERR_FORMAT and a message holding `want`. */
static void refuse_gt(const char *text, const char *want)
{
    fv_bop_gt *gt = NULL;
    int64_t n = 5;
    fv_status st = fv__bop_parse_scene_gt(text, strlen(text), "scene_gt.json", &gt, &n);
    CHECK(st == FV_ERR_FORMAT && gt == NULL && n == 0);
    CHECK_STR_CONTAINS(fv_last_error(), "scene_gt.json");
    CHECK_STR_CONTAINS(fv_last_error(), want);
}

TEST(scene_gt_bad_fields_named)
{
    refuse_gt("[1, 2]", "top level");
    refuse_gt("{\"0\": [{\"obj_id\": 1}", "not valid JSON");
    refuse_gt("{\"x\": []}", "key \"x\" is not an im_id");
    refuse_gt("{\"0\": {}}", "\"0\": expected a list");
    refuse_gt("{\"0\": [{\"cam_R_m2c\": [1,0,0,0,1,0,0,0,1], \"cam_t_m2c\": [0,0,1]}]}",
              "\"0\"[0]: missing \"obj_id\"");
    refuse_gt(
        "{\"3\": [{\"obj_id\": 1, \"cam_R_m2c\": [1,0,0,0,1,0,0,0], \"cam_t_m2c\": [0,0,1]}]}",
        "\"3\"[0].cam_R_m2c: expected 9 numbers");
    refuse_gt("{\"3\": [{\"obj_id\": 1, \"cam_R_m2c\": [1,0,0,0,1,0,0,0,1], \"cam_t_m2c\": "
              "[0,\"a\",1]}]}",
              "\"3\"[0].cam_t_m2c[1]: expected a finite number");
    refuse_gt("{\"3\": [{\"obj_id\": 1, \"cam_R_m2c\": [1,0,0,0,1,0,0,0,-1], \"cam_t_m2c\": "
              "[0,0,1]}]}",
              "\"3\"[0].cam_R_m2c: not a rotation");
    refuse_gt("{\"3\": [{\"obj_id\": 1.5, \"cam_R_m2c\": [1,0,0,0,1,0,0,0,1], \"cam_t_m2c\": "
              "[0,0,1]}]}",
              "obj_id: expected a whole number");
    refuse_gt("{\"3\": [], \"03\": [{\"obj_id\": 1, \"cam_R_m2c\": [1,0,0,0,1,0,0,0,1], "
              "\"cam_t_m2c\": [0,0,1]}], \"3\": [{\"obj_id\": 1, \"cam_R_m2c\": "
              "[1,0,0,0,1,0,0,0,1], \"cam_t_m2c\": [0,0,1]}]}",
              "im_id 3 appears twice");
    const char nul[] = "{\"0\": []}\0 trailing";
    fv_bop_gt *gt = NULL;
    int64_t n = 0;
    CHECK(fv__bop_parse_scene_gt(nul, sizeof nul - 1, "scene_gt.json", &gt, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "NUL byte");
    CHECK(fv_bop_read_scene_gt(tmp("missing.json"), &gt, &n) == FV_ERR_IO);
    CHECK_STR_CONTAINS(fv_last_error(), "missing.json");
}

TEST(scene_camera_round_trip_and_errors)
{
    fv_bop_camera cams[2] = {{5, {572.4, 0, 325.3, 0, 573.6, 242, 0, 0, 1}, 1.0},
                             {1, {100, 0, 64, 0, 100, 64, 0, 0, 1}, NAN}};
    CHECK_OK(fv_bop_write_scene_camera(tmp("scene_camera.json"), cams, 2));
    fv_bop_camera *back = NULL;
    int64_t n = 0;
    CHECK_OK(fv_bop_read_scene_camera(tmp("scene_camera.json"), &back, &n));
    CHECK(n == 2);
    if (n == 2) {
        CHECK(back[0].im_id == 1 && back[1].im_id == 5);
        CHECK(back[1].K[2] == 325.3 && back[1].depth_scale == 1.0 && isnan(back[0].depth_scale));
    }
    free(back);
    const char *bad = "{\"4\": {\"cam_K\": [0, 0, 1, 0, 1, 1, 0, 0, 1]}}";
    CHECK(fv__bop_parse_scene_camera(bad, strlen(bad), "scene_camera.json", &back, &n) ==
          FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "scene_camera.json: \"4\".cam_K: expected");
    const char *missing = "{\"4\": {\"depth_scale\": 1}}";
    CHECK(fv__bop_parse_scene_camera(missing, strlen(missing), "scene_camera.json", &back, &n) ==
          FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "\"4\": missing \"cam_K\"");
}

TEST(models_info_round_trip_and_errors)
{
    double flip[16] = {1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1};
    fv_pose_continuous_symmetry cz = {{0, 0, 1}, {0, 0, 2.5}};
    fv_pose_model_info infos[2] = {{.obj_id = 3,
                                    .diameter = 86.02,
                                    .min = {-25, -25, -35},
                                    .size = {50, 50, 70},
                                    .n_discrete = 1,
                                    .discrete = &flip,
                                    .n_continuous = 1,
                                    .continuous = &cz},
                                   {.obj_id = 1, .diameter = 102.5}};
    CHECK_OK(fv_bop_write_models_info(tmp("models_info.json"), infos, 2));
    fv_pose_model_info *back = NULL;
    int64_t n = 0;
    CHECK_OK(fv_bop_read_models_info(tmp("models_info.json"), &back, &n));
    CHECK(n == 2);
    if (n == 2) {
        CHECK(back[0].obj_id == 1 && back[0].diameter == 102.5 && !fv_pose_model_symmetric(back));
        CHECK(back[1].obj_id == 3 && back[1].n_discrete == 1 && back[1].n_continuous == 1);
        CHECK(back[1].discrete[0][5] == -1 && back[1].continuous[0].offset[2] == 2.5);
        CHECK(back[1].size[2] == 70 && back[1].min[0] == -25);
    }
    fv_bop_free_models_info(back, n);
    const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"1\": {}}", "\"1\": missing \"diameter\""},
        {"{\"1\": {\"diameter\": -3}}", "\"1\".diameter: expected a number"},
        {"{\"1\": {\"diameter\": 3, \"symmetries_discrete\": [[1,0,0,0, 0,1,0,0, 0,0,1,0]]}}",
         "\"1\".symmetries_discrete[0]: expected 16 numbers"},
        {"{\"1\": {\"diameter\": 3, \"symmetries_discrete\": [[2,0,0,0, 0,1,0,0, 0,0,1,0, "
         "0,0,0,1]]}}",
         "not a rigid transformation"},
        {"{\"1\": {\"diameter\": 3, \"symmetries_continuous\": [{\"axis\": [0,0,0], \"offset\": "
         "[0,0,0]}]}}",
         "\"1\".symmetries_continuous[0].axis: a zero"},
        {"{\"1\": {\"diameter\": 3, \"symmetries_continuous\": [{\"axis\": [0,0,1]}]}}",
         "\"1\".symmetries_continuous[0]: missing \"offset\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(fv__bop_parse_models_info(bad[i].text, strlen(bad[i].text), "models_info.json", &back,
                                        &n) == FV_ERR_FORMAT);
        CHECK(back == NULL && n == 0);
        CHECK_STR_CONTAINS(fv_last_error(), "models_info.json");
        CHECK_STR_CONTAINS(fv_last_error(), bad[i].want);
    }
}

TEST(results_csv_round_trip_and_errors)
{
    fv_bop_result r[2] = {{.scene_id = 0, .im_id = 4, .obj_id = 1, .score = 0.75, .time = 0.012},
                          {.scene_id = 2, .im_id = 0, .obj_id = 3, .score = 1, .time = -1}};
    const double e0[3] = {12.5, -80, 170}, e1[3] = {-80, 170, 33};
    fv_rotation_from_euler(e0, r[0].pose.R);
    fv_rotation_from_euler(e1, r[1].pose.R);
    r[0].pose.t[2] = 512.25, r[1].pose.t[0] = -3;
    CHECK_OK(fv_bop_write_results(tmp("poses.csv"), r, 2));
    fv_bop_result *back = NULL;
    int64_t n = 0;
    CHECK_OK(fv_bop_read_results(tmp("poses.csv"), &back, &n));
    CHECK(n == 2);
    if (n == 2)
        for (int i = 0; i < 2; i++) {
            CHECK(back[i].scene_id == r[i].scene_id && back[i].im_id == r[i].im_id);
            CHECK(back[i].obj_id == r[i].obj_id && back[i].score == r[i].score);
            CHECK(back[i].time == r[i].time);
            for (int k = 0; k < 9; k++)
                CHECK(back[i].pose.R[k] == r[i].pose.R[k]);
            for (int k = 0; k < 3; k++)
                CHECK(back[i].pose.t[k] == r[i].pose.t[k]);
        }
    free(back);
    const char *hdr = "scene_id,im_id,obj_id,score,R,t,time\n";
    const struct {
        const char *body, *want;
    } bad[] = {
        {"1,2,3\n", "line 2: expected 7 columns"},
        {"1,2,3,0.5,1 0 0 0 1 0 0 0,0 0 1,0.1\n", "line 2, column R: expected 9"},
        {"1,2,3,0.5,1 0 0 0 1 0 0 0 1,0 0 1 4,0.1\n", "line 2, column t: more than 3"},
        {"\n1,-2,3,0.5,1 0 0 0 1 0 0 0 1,0 0 1,0.1\n", "line 3, column im_id"},
        {"1,2,3,x,1 0 0 0 1 0 0 0 1,0 0 1,0.1\n", "line 2, column score"},
        {"1,2,3,1,1 0 0 0 1 0 0 0 2,0 0 1,0.1\n", "line 2, column R: not a rotation"},
    };
    char text[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s%s", hdr, bad[i].body);
        CHECK(fv__bop_parse_results(text, strlen(text), "poses.csv", &back, &n) == FV_ERR_FORMAT);
        CHECK(back == NULL && n == 0);
        CHECK_STR_CONTAINS(fv_last_error(), "poses.csv");
        CHECK_STR_CONTAINS(fv_last_error(), bad[i].want);
    }
    const char *nohdr = "scene_id,im_id,obj_id,score,R,t\n";
    CHECK(fv__bop_parse_results(nohdr, strlen(nohdr), "poses.csv", &back, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "line 1: expected the header");
    /* a header alone: no estimates */
    CHECK_OK(fv__bop_parse_results(hdr, strlen(hdr), "poses.csv", &back, &n));
    CHECK(n == 0);
    free(back);
}

TEST(procedural_models_and_ply_through_assimp)
{
    const char *names[3] = {"tripod", "box", "cylinder"};
    for (int k = 0; k < 3; k++) {
        fv_mesh *m = NULL, *back = NULL;
        fv_pose_model_info info;
        CHECK_OK(fv_mesh_make(names[k], &m, &info));
        if (!m) continue;
        CHECK(info.obj_id == k + 1);
        CHECK(fv_pose_model_symmetric(&info) == (k > 0));
        CHECK_OK(fv_mesh_write_ply(m, tmp("model.ply")));
        CHECK_OK(fv_mesh_read_ply(tmp("model.ply"), &back));
        if (back) {
            CHECK(back->n_faces == m->n_faces);
            CHECK(back->normals && back->colors);
            CHECK_CLOSE(fv_mesh_diameter(back), info.diameter, 1e-4, 0);
            /* the same bounding box */
            for (int j = 0; j < 3; j++) {
                double lo = INFINITY, hi = -INFINITY;
                for (int64_t i = 0; i < back->n_vertices; i++) {
                    double x = back->vertices[i * 3 + j];
                    lo = fmin(lo, x), hi = fmax(hi, x);
                }
                CHECK_CLOSE(lo, info.min[j], 1e-4, 0);
                CHECK_CLOSE(hi - lo, info.size[j], 1e-4, 0);
            }
            if (k == 0) CHECK(back->colors[0] == 220 && back->colors[1] == 40);
        }
        fv_mesh_free(back);
        fv_mesh_free(m);
        fv_pose_model_info_clear(&info);
    }
    /* Hand-worked diameters: the box's space diagonal, the cylinder's √(50² + 70²). */
    fv_mesh *m = NULL;
    fv_pose_model_info info;
    CHECK_OK(fv_mesh_make("box", &m, &info));
    CHECK_CLOSE(info.diameter, sqrt(70.0 * 70 + 50 * 50 + 30 * 30), 1e-9, 0);
    CHECK(info.n_discrete == 3);
    fv_mesh_free(m);
    fv_pose_model_info_clear(&info);
    CHECK_OK(fv_mesh_make("cylinder", &m, &info));
    CHECK_CLOSE(info.diameter, sqrt(50.0 * 50 + 70 * 70), 1e-5, 0);
    CHECK(info.n_continuous == 1 && info.continuous[0].axis[2] == 1 && info.n_discrete == 1);
    fv_mesh_free(m);
    fv_pose_model_info_clear(&info);
    CHECK(fv_mesh_make("teapot", &m, &info) == FV_ERR_INVALID && !m);
    CHECK_STR_CONTAINS(fv_last_error(), "teapot");
    /* Not a model: refused naming the file. */
    write_file(tmp("bad.ply"), "ply\nformat ascii 1.0\nelement vertex 2\nend_header\n1 2\n");
    CHECK(fv_mesh_read_ply(tmp("bad.ply"), &m) == FV_ERR_FORMAT && !m);
    CHECK_STR_CONTAINS(fv_last_error(), "bad.ply");
    CHECK(fv_mesh_read_ply(tmp("absent.ply"), &m) == FV_ERR_IO);
}

int main(void)
{
    test_tmpdir("pose-io", tmpdir, sizeof tmpdir);
    RUN(scene_gt_round_trip);
    RUN(scene_gt_bad_fields_named);
    RUN(scene_camera_round_trip_and_errors);
    RUN(models_info_round_trip_and_errors);
    RUN(results_csv_round_trip_and_errors);
    RUN(procedural_models_and_ply_through_assimp);
    return TEST_SUMMARY();
}
