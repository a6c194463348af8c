/* viz_boxes.c — `fovea viz boxes DIR -o OUT.png`: images of a detection dataset (YOLO's or
 * COCO's layout) in a grid with their ground-truth boxes and class names, and optionally the
 * detections of a COCO results file over them.
 */
#include "commands.h"
#include "common.h"
#include "viz.h"

#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
    "usage: fovea viz boxes DIR [--split train|test|val] [--first N] [--count K]\n"
    "                       [--detections DET.json] [--score S] -o OUT.png|OUT.svg\n"
    "\n"
    "Draws K images (default 8) of a detection dataset, from the N-th (default 0) in the\n"
    "dataset's order, with their ground-truth boxes (solid, coloured by class, the class name\n"
    "above) and, with --detections, a COCO results file's boxes on the same images (dashed, name\n"
    "and score below; those scoring under S, default 0.25, left out). DIR is a folder in COCO's\n"
    "or YOLO's layout (as 'fovea data make detection' writes); --split picks the part (default\n"
    "train).\n";

int cmd_viz_boxes(int argc, char **argv)
{
    const char *cmd = "viz boxes";
    cli_opt opts[] = {
        {"output", true, false, NULL},     {"split", true, false, NULL},
        {"first", true, false, NULL},      {"count", true, false, NULL},
        {"detections", true, false, NULL}, {"score", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    int64_t first = 0, count = 8;
    double score = 0.25;
    if ((opts[2].seen &&
         (rc = cli_int(cmd, "--first", opts[2].value, 0, INT64_MAX, "an image index", &first))) ||
        (opts[3].seen &&
         (rc = cli_int(cmd, "--count", opts[3].value, 1, 64, "a count 1..64", &count))) ||
        (opts[5].seen && (rc = cli_double(cmd, "--score", opts[5].value, 0, false, 1, false,
                                          "a score 0..1", &score))))
        return rc;
    if ((rc = cli_check_picture_path(cmd, "--output", opts[0].value))) return rc;
    fv_detset *d = NULL;
    fv_status s = fv_detset_load(pos[0], opts[1].seen ? opts[1].value : "train", 3, &d);
    if (s != FV_OK) return cli_fail_lib(cmd, NULL, s);
    fv_detection *dets = NULL;
    int64_t ndets = 0;
    rc = CLI_FAIL;
    if (opts[4].seen && (s = fv_detections_read_json(opts[4].value, &dets, &ndets)) != FV_OK) {
        cli_fail_lib(cmd, "--detections", s);
        goto done;
    }
    if (first >= d->nimages) {
        cli_error(cmd, "--first %lld: the set has %lld images", (long long)first,
                  (long long)d->nimages);
        goto done;
    }
    if (count > d->nimages - first) count = d->nimages - first;
    int64_t idx[64];
    for (int64_t q = 0; q < count; q++)
        idx[q] = first + q;
    fv_picture *p = fv_plot_detections(d, idx, count, dets, ndets, score);
    rc = cli_save_picture(cmd, "--output", p, opts[0].value) ? CLI_FAIL : CLI_OK;
done:
    free(dets);
    fv_detset_free(d);
    return rc;
}
