/* fuzz_bop.c — libFuzzer target for the BOP readers of 6D pose: the bytes parsed as
 * scene_gt.json (then as its scene_gt_info.json against the instances read), scene_camera.json,
 * models_info.json (with its symmetry set and a symmetric rotation error) and the result CSV.
 */
#include "fuzz_common.h"
#include "vision/pose_internal.h"

#include <math.h>

static const char ORIGIN[] = "fuzz.json";

static void check_gt(const fv_bop_gt *gt, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        FUZZ_CHECK(gt[i].im_id >= 0 && gt[i].gt_id >= 0 && gt[i].obj_id >= 0);
        FUZZ_CHECK(i == 0 || gt[i - 1].im_id < gt[i].im_id ||
                   (gt[i - 1].im_id == gt[i].im_id && gt[i - 1].gt_id < gt[i].gt_id));
        for (int k = 0; k < 9; k++)
            FUZZ_CHECK(isfinite(gt[i].pose.R[k]));
        FUZZ_CHECK(fv_rotation_error(gt[i].pose.R, gt[i].pose.R) < 1.0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    fv_bop_gt *gt = NULL;
    int64_t n = 0;
    if (fv__bop_parse_scene_gt(text, size, ORIGIN, &gt, &n) == FV_OK) {
        check_gt(gt, n);
        /* the same text as its own scene_gt_info.json: visib_fract is required there */
        if (fv__bop_parse_scene_gt_info(text, size, ORIGIN, gt, n) == FV_OK)
            for (int64_t i = 0; i < n; i++)
                FUZZ_CHECK(gt[i].visib_fract >= 0 && gt[i].visib_fract <= 1);
        else
            FUZZ_CHECK_ERROR(ORIGIN);
        free(gt);
    } else {
        FUZZ_CHECK(gt == NULL && n == 0);
        FUZZ_CHECK_ERROR(ORIGIN);
    }
    fv_bop_camera *cams = NULL;
    if (fv__bop_parse_scene_camera(text, size, ORIGIN, &cams, &n) == FV_OK) {
        for (int64_t i = 0; i < n; i++)
            FUZZ_CHECK(cams[i].K[0] > 0 && cams[i].K[4] > 0 && cams[i].K[8] == 1);
        free(cams);
    } else {
        FUZZ_CHECK(cams == NULL && n == 0);
        FUZZ_CHECK_ERROR(ORIGIN);
    }
    fv_pose_model_info *infos = NULL;
    if (fv__bop_parse_models_info(text, size, ORIGIN, &infos, &n) == FV_OK) {
        for (int64_t i = 0; i < n; i++) {
            FUZZ_CHECK(infos[i].diameter > 0);
            fv_pose_symmetry *syms = NULL;
            int64_t ns = 0;
            /* a coarse step keeps the set small */
            if (fv_pose_symmetries(&infos[i], 0.5, &syms, &ns) == FV_OK) {
                FUZZ_CHECK(ns >= 1);
                free(syms);
            }
            const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
            double e = fv_rotation_error_sym(I, I, &infos[i]);
            FUZZ_CHECK(e >= 0 && e < 1.0);
        }
        fv_bop_free_models_info(infos, n);
    } else {
        FUZZ_CHECK(infos == NULL && n == 0);
        FUZZ_CHECK_ERROR(ORIGIN);
    }
    fv_bop_result *r = NULL;
    if (fv__bop_parse_results(text, size, ORIGIN, &r, &n) == FV_OK) {
        for (int64_t i = 0; i < n; i++)
            FUZZ_CHECK(isfinite(r[i].score) && isfinite(r[i].pose.t[2]));
        free(r);
    } else {
        FUZZ_CHECK(r == NULL && n == 0);
        FUZZ_CHECK_ERROR(ORIGIN);
    }
    return 0;
}
