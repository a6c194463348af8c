/* pose_internal.h — the 6D pose module's private entry points: the BOP readers' parse-from-memory
 * forms (for tests and fuzzing) and helpers shared by the renderer, the generator and the
 * evaluation.
 */
#ifndef FV_POSE_INTERNAL_H
#define FV_POSE_INTERNAL_H

#include "core/core.h"

/* text[0..len) (any bytes; a NUL inside is refused); origin names it in messages. Same results
 * and errors as the file readers in fovea.h. */
fv_status fv__bop_parse_scene_gt(const char *text, size_t len, const char *origin, fv_bop_gt **gt,
                                 int64_t *n);
fv_status fv__bop_parse_scene_gt_info(const char *text, size_t len, const char *origin,
                                      fv_bop_gt *gt, int64_t n);
fv_status fv__bop_parse_scene_camera(const char *text, size_t len, const char *origin,
                                     fv_bop_camera **cams, int64_t *n);
fv_status fv__bop_parse_models_info(const char *text, size_t len, const char *origin,
                                    fv_pose_model_info **infos, int64_t *n);
fv_status fv__bop_parse_results(const char *text, size_t len, const char *origin, fv_bop_result **r,
                                int64_t *n);

/* Formats a file path into buf [FV__PATH_MAX]; FV_ERR_INVALID when it does not fit. */
#define FV__PATH_MAX 4096
fv_status fv__path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The scene folders of root (names of 1 to 12 digits), sorted; *names malloc'd (free with
 * fv__pose_free_names). FV_ERR_IO naming root if it cannot be opened, FV_ERR_FORMAT if it holds
 * none. */
fv_status fv__pose_list_scenes(const char *root, char ***names, int64_t *n);
void fv__pose_free_names(char **names, int64_t n);

/* A scene folder's scene_gt.json with scene_gt_info.json's figures, and its scene_camera.json
 * (every image of scene_gt.json must have a camera: FV_ERR_FORMAT naming the file otherwise).
 * The readers' errors; on failure *gt and *cams NULL. */
fv_status fv__bop_read_scene(const char *scene_dir, fv_bop_gt **gt, int64_t *ng,
                             fv_bop_camera **cams, int64_t *nc);
/* Whether gt[i] is its object's most visible instance in its image (the first on a tie). */
bool fv__bop_most_visible(const fv_bop_gt *gt, int64_t n, int64_t i);
/* The camera of im_id in cams [n], or NULL. */
const fv_bop_camera *fv__bop_camera(const fv_bop_camera *cams, int64_t n, int64_t im_id);

#endif
