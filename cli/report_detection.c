/* report_detection.c — `fovea report`'s sections for a detector (a model whose output is a yolo
 * head): COCO's twelve figures and each class's AP as `fovea evaluate` computes them, the
 * precision-recall curves at IoU 0.5 (`evaluate --plot`), and the best and worst test images by
 * their detection F1, drawn with the true and detected boxes (`viz detections`).
 */
#include "commands.h"
#include "common.h"
#include "detect.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What decides an image's F1 (the boxes drawn are the same ones): the display score of
 * `fovea detect` and `viz detections`, and VOC's IoU. */
#define SHOW_SCORE 0.25
#define MATCH_IOU  0.5

typedef struct detection {
    cli_det_eval ev;
    double *f1;      /* [images] each test image's F1 */
    int64_t *tpfpfn; /* [images × 3] */
    int64_t *order;  /* [images] image indices by decreasing F1, ties by index */
    int64_t boxes;   /* ground-truth boxes that are not crowd regions */
} detection;

static const detection *sorting; /* qsort's key; the report runs in one thread */

/* Decreasing F1; on a tie, decreasing TP − FP − missed (among perfect images the one with the
 * most objects first, among failed ones the one with the most errors last); then the set's order.
 */
static int by_f1(const void *a, const void *b)
{
    const int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    const double *f1 = sorting->f1;
    if (f1[i] != f1[j]) return f1[i] > f1[j] ? -1 : 1;
    const int64_t *c = sorting->tpfpfn;
    const int64_t si = c[3 * i] - c[3 * i + 1] - c[3 * i + 2],
                  sj = c[3 * j] - c[3 * j + 1] - c[3 * j + 2];
    if (si != sj) return si > sj ? -1 : 1;
    return (i > j) - (i < j);
}

static int prepare(report *r)
{
    detection *d = report_task_new(r, sizeof *d);
    if (!d) return CLI_FAIL;
    if (!cli_is_detection_dir(r->data_path)) {
        cli_error(r->cmd,
                  "--data: '%s' is not a detection dataset (no labels/ or annotations/ folder in "
                  "YOLO's or COCO's layout), but %s is a detector (its output is a yolo head)",
                  r->data_path, r->model_path);
        return CLI_FAIL;
    }
    if (cli_detector_evaluation(r->cmd, r->m, r->data_path, &d->ev)) return CLI_FAIL;
    const fv_detset *gt = d->ev.gt;
    const int64_t n = gt->nimages;
    d->f1 = malloc((size_t)n * sizeof *d->f1);
    d->tpfpfn = malloc((size_t)n * 3 * sizeof *d->tpfpfn);
    d->order = malloc((size_t)n * sizeof *d->order);
    if (!d->f1 || !d->tpfpfn || !d->order) {
        cli_error(r->cmd, "out of memory");
        return CLI_FAIL;
    }
    for (int64_t i = 0; i < n; i++) {
        fv_status s = fv_detection_image_f1(gt, i, d->ev.dets, d->ev.n, SHOW_SCORE, MATCH_IOU,
                                            d->tpfpfn + 3 * i, &d->f1[i]);
        if (s != FV_OK) return cli_fail_lib(r->cmd, NULL, s);
        d->order[i] = i;
    }
    sorting = d;
    qsort(d->order, (size_t)n, sizeof *d->order, by_f1);
    for (int64_t a = 0; a < gt->nannotations; a++)
        d->boxes += !gt->annotations[a].iscrowd;
    snprintf(r->meta, sizeof r->meta, "%lld test images, %lld boxes, %lld categories", (long long)n,
             (long long)d->boxes, (long long)gt->ncategories);
    return 0;
}

static void nav(const report *r, FILE *f)
{
    (void)r;
    fputs("<a href=\"#coco\">COCO evaluation</a><a href=\"#pr\">Precision-recall</a>"
          "<a href=\"#images\">Best and worst images</a><a href=\"#kernels\">Kernels</a>",
          f);
}

static void cards(const report *r, FILE *f)
{
    const detection *d = r->task;
    double s[12];
    fv_coco_eval_stats(d->ev.eval, s);
    report_card(f, s[0], 4, "AP @[.50:.95]");
    report_card(f, s[1], 4, "AP50");
    report_card(f, s[2], 4, "AP75");
    report_card(f, s[8], 4, "AR @100 detections");
}

/* The twelve figures of COCOeval.summarize(), one row each, named as pycocotools prints them. */
static void coco_table(FILE *f, const fv_coco_eval *e)
{
    static const char *const rows[12][2] = {
        {"AP", "Average Precision (AP) @[ IoU=0.50:0.95 | area=all | maxDets=100 ]"},
        {"AP50", "Average Precision (AP) @[ IoU=0.50 | area=all | maxDets=100 ]"},
        {"AP75", "Average Precision (AP) @[ IoU=0.75 | area=all | maxDets=100 ]"},
        {"APs", "Average Precision (AP) @[ IoU=0.50:0.95 | area=small | maxDets=100 ]"},
        {"APm", "Average Precision (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]"},
        {"APl", "Average Precision (AP) @[ IoU=0.50:0.95 | area=large | maxDets=100 ]"},
        {"AR1", "Average Recall (AR) @[ IoU=0.50:0.95 | area=all | maxDets=1 ]"},
        {"AR10", "Average Recall (AR) @[ IoU=0.50:0.95 | area=all | maxDets=10 ]"},
        {"AR100", "Average Recall (AR) @[ IoU=0.50:0.95 | area=all | maxDets=100 ]"},
        {"ARs", "Average Recall (AR) @[ IoU=0.50:0.95 | area=small | maxDets=100 ]"},
        {"ARm", "Average Recall (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]"},
        {"ARl", "Average Recall (AR) @[ IoU=0.50:0.95 | area=large | maxDets=100 ]"},
    };
    double s[12];
    fv_coco_eval_stats(e, s);
    fputs("<table class=\"kv\" id=\"coco-stats\">\n", f);
    for (int i = 0; i < 12; i++) {
        fprintf(f, "<tr data-key=\"%s\"><th>%s</th>", rows[i][0], rows[i][1]);
        report_cell(f, s[i]);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    fputs("<table class=\"grid\" id=\"coco-classes\">\n<tr><th>class</th><th>id</th><th>AP</th>"
          "<th>AP50</th><th>AP75</th><th>VOC AP50</th></tr>\n",
          f);
    for (int64_t k = 0; k < fv_coco_eval_categories(e); k++) {
        int64_t id = 0;
        const char *name = fv_coco_eval_category(e, k, &id);
        fputs("<tr><th>", f);
        report_esc(f, name ? name : "?");
        fprintf(f, "</th><td>%lld</td>", (long long)id);
        report_cell(f, fv_coco_eval_class_ap(e, k, -1));
        report_cell(f, fv_coco_eval_class_ap(e, k, 0.5));
        report_cell(f, fv_coco_eval_class_ap(e, k, 0.75));
        report_cell(f, fv_coco_eval_voc_ap(e, k));
        fputs("</tr>\n", f);
    }
    fputs("<tr class=\"avg\"><th>mean</th><td></td>", f);
    report_cell(f, s[0]);
    report_cell(f, s[1]);
    report_cell(f, s[2]);
    report_cell(f, fv_coco_eval_voc_ap(e, -1));
    fputs("</tr>\n</table>\n", f);
}

/* One picture of images idx[0..n) with their true and detected boxes, and a table of their F1. */
static int images(const report *r, FILE *f, const int64_t *idx, int64_t n, const char *title)
{
    const detection *d = r->task;
    const fv_detset *gt = d->ev.gt;
    fprintf(f, "<h3>%s</h3>\n", title);
    fputs("<table class=\"grid\">\n<tr><th>image</th><th>F1</th><th>true positives</th>"
          "<th>false positives</th><th>missed</th></tr>\n",
          f);
    for (int64_t q = 0; q < n; q++) {
        const int64_t i = idx[q];
        fputs("<tr><th>", f);
        report_esc(f, gt->images[i].file_name);
        fputs("</th>", f);
        report_cell(f, d->f1[i]);
        fprintf(f, "<td>%lld</td><td>%lld</td><td>%lld</td></tr>\n", (long long)d->tpfpfn[3 * i],
                (long long)d->tpfpfn[3 * i + 1], (long long)d->tpfpfn[3 * i + 2]);
    }
    fputs("</table>\n", f);
    char alt[128];
    snprintf(alt, sizeof alt, "%s: true and detected boxes", title);
    return report_img(r->cmd, f, fv_plot_detections(gt, idx, n, d->ev.dets, d->ev.n, SHOW_SCORE),
                      alt);
}

static fv_status coco_text(FILE *out, const void *e)
{
    return fv_coco_eval_write_text(e, out, true, false);
}

static int body(report *r, FILE *f)
{
    detection *d = r->task;
    const fv_coco_eval *e = d->ev.eval;
    fputs("<h2 id=\"coco\">COCO evaluation on the test set</h2>\n", f);
    fputs("<p class=\"meta\">As <code>fovea evaluate MODEL --data DIR</code> computes them: "
          "detection at the validation settings (every box scoring at least 0.001, every class "
          "above it, non-maximum suppression at IoU 0.6), scored as pycocotools' COCOeval "
          "(iouType bbox) does; -1 where a figure is undefined (no ground truth in that area "
          "range), as pycocotools prints it. VOC's AP50 with all-point interpolation.</p>\n",
          f);
    coco_table(f, e);
    if (report_printed(r, f, coco_text, e)) return CLI_FAIL;

    fputs("<h2 id=\"pr\">Precision-recall curves</h2>\n<p class=\"meta\">Per class at IoU 0.5 "
          "(area all, 100 detections an image), from COCOeval's 101 recall points.</p>\n",
          f);
    if (report_img(r->cmd, f, fv_plot_pr(e), "precision-recall curves")) return CLI_FAIL;

    fputs("<h2 id=\"images\">Best and worst test images</h2>\n", f);
    fprintf(f,
            "<p class=\"meta\">Ranked by each image's F1 score: its detections scoring at "
            "least %.2f (those drawn, dashed), by decreasing score, each matched to the "
            "unmatched true box (solid) of its class with the largest IoU of at least %.1f; "
            "F1 = 2 TP / (2 TP + FP + missed), 1 for an image with neither boxes nor "
            "detections; on a tie, the image with more true positives and fewer errors (TP - "
            "FP - missed) first.</p>\n",
            SHOW_SCORE, MATCH_IOU);
    if (report_best_worst(r, f, d->order, d->ev.gt->nimages, images)) return CLI_FAIL;
    return report_kernels(r, f);
}

static void release(report *r)
{
    detection *d = r->task;
    if (!d) return;
    cli_det_eval_free(&d->ev);
    free(d->f1), free(d->tpfpfn), free(d->order);
    free(d);
    r->task = NULL;
}

const report_kind report_detection = {prepare, nav, cards, body, release};
