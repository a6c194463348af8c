/* detect.h — the detector's parts of other subcommands: training data from a detection folder
 * (train.c) and COCO's evaluation of a detector (evaluate.c). detect.c holds them.
 */
#ifndef FOVEA_CLI_DETECT_H
#define FOVEA_CLI_DETECT_H

#include "fovea.h"

#include <stdbool.h>

/* Whether dir looks like a detection dataset: YOLO's labels/ (or SPLIT/labels/) or COCO's
 * annotations/ folder. */
bool cli_is_detection_dir(const char *dir);

/* A detection folder's train part (and test or val part when it has one, else *test stays NULL)
 * letterboxed into a detector's input, with the yolo head's targets; the category names become
 * the model's class names. CLI_OK, or CLI_FAIL after a message. */
int cli_load_detection(const char *cmd, fv_model *m, const char *dir, fv_dataset **train,
                       fv_dataset **test);

/* A detector's COCO evaluation on dir's test (or val) part: the part with pixels (gt), the
 * detections at the validation settings (score 0.001, IoU 0.6, every class; image and category
 * ids gt's) and their fv_coco_evaluate. Shared by `fovea evaluate` and `fovea report`. CLI_OK, or
 * CLI_FAIL after a message with *ev emptied; free with cli_det_eval_free. */
typedef struct cli_det_eval {
    fv_detset *gt;
    fv_detection *dets;
    int64_t n;
    fv_coco_eval *eval;
} cli_det_eval;
int cli_detector_evaluation(const char *cmd, fv_model *m, const char *dir, cli_det_eval *ev);
void cli_det_eval_free(cli_det_eval *ev);

/* `fovea evaluate` of a detector on dir's test (or val) part: detection at the validation
 * settings (score 0.001, IoU 0.6, every class), then pycocotools' twelve figures and each
 * class's AP and VOC's AP50 (voc: VOC's table alone), or JSON; plot: the PR curves at IoU 0.5;
 * output: the detections as COCO's results. */
int cli_evaluate_detector(const char *cmd, fv_model *m, const char *dir, bool json, bool voc,
                          const char *plot, const char *output);

/* fovea viz detections: a detector's boxes drawn over images (viz.c dispatches to it). */
int cmd_viz_detections(int argc, char **argv);

#endif
