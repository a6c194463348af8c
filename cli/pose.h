/* pose.h — a pose network (a model ending in the `pose` head) from the command line: BOP folders
 * as its training and evaluation data (cli/pose.c), `fovea pose`, and `fovea viz pose`.
 */
#ifndef FOVEA_CLI_POSE_H
#define FOVEA_CLI_POSE_H

#include <fovea.h>
#include <stdbool.h>

/* Whether dir looks like a BOP dataset: dir/models/models_info.json exists. */
bool cli_is_pose_dir(const char *dir);

/* The obj_id to use in the BOP dataset dir: `given` (a whole number, which models_info.json must
 * list) or, when NULL, the only object of models_info.json. Reports failures; 0 or CLI_FAIL /
 * CLI_USAGE. */
int cli_pose_object(const char *cmd, const char *dir, const char *given, int64_t *obj_id);

/* The train split (and the test split, NULL when it has none) of a BOP folder for m's pose head:
 * each image holding the object, resized to the model's input or, for a head with crop=box, a
 * crop around the object's box (fv_bop_to_dataset_crop; the training crops jittered from seed).
 * Reports what it uses on stderr. 0 or CLI_FAIL / CLI_USAGE. */
int cli_load_pose(const char *cmd, fv_model *m, const char *dir, const char *object, uint64_t seed,
                  fv_dataset **train, fv_dataset **test);

/* Runs m on the samples (fv_bop_to_dataset fills their sizes) and gives each one's estimate in
 * the original camera (*r malloc'd, n entries, time: seconds per image), with tta > 1 each the
 * combination of tta crops (`fovea pose --tta`'s help says how). 0 or CLI_FAIL / CLI_USAGE. */
int cli_pose_estimate(const char *cmd, fv_model *m, fv_pose_sample *s, int64_t n, int64_t tta,
                      fv_bop_result **r);

/* m's estimates on the test split of the BOP folder dir and their figures, shared by `fovea
 * evaluate` and `fovea report`: the object (obj_id; `object` or the only one), its n test
 * samples (smp, with their true poses), the estimates (r[i] for smp[i]), fv_pose_evaluate's
 * scores and, with errors, each sample's ADD (ADD-S for a symmetric object) over the object's
 * diameter (err [n]; else NULL); tta as cli_pose_estimate's. 0, or a CLI status after a message
 * with *ev emptied; free with cli_pose_eval_free. */
typedef struct cli_pose_eval {
    int64_t obj_id, n;
    fv_pose_sample *smp;
    fv_bop_result *r;
    fv_pose_scores sc;
    double *err;
} cli_pose_eval;
int cli_pose_evaluation(const char *cmd, fv_model *m, const char *dir, const char *object,
                        bool errors, int64_t tta, cli_pose_eval *ev);
void cli_pose_eval_free(cli_pose_eval *ev);

/* `fovea evaluate MODEL --data BOPDIR` for a pose model: the figures of `evaluate --poses` from
 * m's estimates on the test split; plot (NULL: none) receives the ADD(-S) accuracy-threshold
 * curve; tta as cli_pose_estimate's. */
int cli_evaluate_pose_model(const char *cmd, fv_model *m, const char *dir, const char *object,
                            int64_t tta, bool json, const char *plot);

/* The images of --input (a file or a folder's image files, sorted) as samples without a known
 * pose: K from K_text ("fx,fy,cx,cy"; NULL: each image's BOP scene_camera.json), scene_id and
 * im_id from a BOP path (else 0 and the index); the object's 2-D box from box_text ("x,y,w,h")
 * or, when need_box and box_text is NULL, from the BOP scene's scene_gt_info.json (obj_id's most
 * visible instance; obj_id 0: for an image in a BOP scene the dataset's only object, else 1).
 * *out malloc'd. 0, CLI_FAIL or CLI_USAGE. */
int cli_pose_inputs(const char *cmd, const char *input, const char *K_text, const char *box_text,
                    bool need_box, int64_t obj_id, fv_pose_sample **out, int64_t *count);

/* Prints fv_pose_evaluate's figures as text or one JSON object (cli/evaluate_pose.c). */
void cli_print_pose_scores(const fv_pose_scores *s, bool json);

int cmd_pose(int argc, char **argv);
int cmd_viz_pose(int argc, char **argv); /* viz pose: cli/viz_pose.c */

#endif
