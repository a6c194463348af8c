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

#endif
