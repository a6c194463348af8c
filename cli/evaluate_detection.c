/* evaluate_detection.c — `fovea evaluate --detections det.json --annotations instances.json`:
 * scores any detector's results (COCO's results format) against COCO annotations exactly as
 * pycocotools' COCOeval does, printing summarize()'s twelve lines and each category's AP, or
 * VOC's AP50 with --metric voc; as JSON with --json; precision-recall curves with --plot.
 */
#include "commands.h"
#include "common.h"
#include "viz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: fovea evaluate --detections DET.json --annotations INSTANCES.json|DIR [options]\n"
    "\n"
    "Scores detections (COCO's results format: a list of {\"image_id\", \"category_id\",\n"
    "\"bbox\": [x, y, w, h], \"score\"}) against ground truth exactly as pycocotools' COCOeval\n"
    "(iouType bbox) does: prints summarize()'s twelve lines (AP at IoU .50:.05:.95, AP50, AP75,\n"
    "AP small/medium/large, AR at 1, 10 and 100 detections, AR small/medium/large; -1 where\n"
    "undefined) and each category's AP, AP50 and AP75.\n"
    "\n"
    "options:\n"
    "  --annotations F|DIR  COCO's instances JSON, or a dataset folder (COCO's or YOLO's\n"
    "                       layout) whose test part (or val part) is the ground truth\n"
    "  --split NAME         the part of a dataset folder (default test)\n"
    "  --metric coco|voc    voc: VOC's AP50 per category and its mean instead (all-point\n"
    "                       interpolation); coco (default) adds VOC's AP50 to the table\n"
    "  --json               print the figures as one JSON object instead\n"
    "  --plot FILE.png|.svg draw the precision-recall curves per category at IoU 0.5\n";

static bool has_option(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return false;
        if (strncmp(argv[i], name, n) == 0 && (argv[i][n] == '\0' || argv[i][n] == '='))
            return true;
    }
    return false;
}

bool cli_is_detection_evaluation(int argc, char **argv)
{
    return has_option(argc, argv, "--detections") || has_option(argc, argv, "--annotations");
}

int cmd_evaluate_detections(int argc, char **argv)
{
    const char *cmd = "evaluate";
    cli_opt opts[] = {
        {"detections", true, false, NULL}, {"annotations", true, false, NULL},
        {"split", true, false, NULL},      {"metric", true, false, NULL},
        {"json", false, false, NULL},      {"plot", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 0, 0, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].seen) return cli_usage_error(cmd, "--annotations needs --detections DET.json");
    if (!opts[1].seen)
        return cli_usage_error(cmd, "--detections needs --annotations INSTANCES.json");
    const char *metric = opts[3].seen ? opts[3].value : "coco";
    bool voc = strcmp(metric, "voc") == 0;
    if (!voc && strcmp(metric, "coco") != 0)
        return cli_usage_error(cmd, "--metric: expected coco or voc, got '%s'", metric);
    if (opts[5].seen && (rc = cli_check_picture_path(cmd, "--plot", opts[5].value))) return rc;
    const char *ann = opts[1].value;
    fv_detset *gt = NULL;
    fv_status s = cli_is_dir(ann)
                      ? fv_detset_load(ann, opts[2].seen ? opts[2].value : "test", 0, &gt)
                      : fv_detset_load_coco(ann, NULL, 0, &gt);
    if (s != FV_OK) return cli_fail_lib(cmd, "--annotations", s);
    fv_detection *dets = NULL;
    int64_t n = 0;
    fv_coco_eval *e = NULL;
    rc = CLI_FAIL;
    if ((s = fv_detections_read_json(opts[0].value, &dets, &n)) != FV_OK) {
        cli_fail_lib(cmd, "--detections", s);
        goto done;
    }
    if (!(e = fv_coco_evaluate(gt, dets, n))) {
        cli_fail_lib(cmd, opts[0].value, FV_ERR_INVALID);
        goto done;
    }
    s = opts[4].seen ? fv_coco_eval_write_json(e, stdout)
                     : fv_coco_eval_write_text(e, stdout, !voc, voc);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    if (opts[5].seen && cli_save_picture(cmd, "--plot", fv_plot_pr(e), opts[5].value)) goto done;
    rc = CLI_OK;
done:
    fv_coco_eval_free(e);
    free(dets);
    fv_detset_free(gt);
    return rc;
}
