/* pr.c — precision-recall curves of a COCO evaluation: one line per category at IoU 0.5 (area
 * all, 100 detections), from the 101 recall points of accumulate(), each labelled with its AP50.
 */
#include "viz/viz.h"
#include "vision/vision.h"

#include <stdio.h>
#include <stdlib.h>

fv_picture *fv_plot_pr(const fv_coco_eval *e)
{
    if (!e) {
        fv__fail(FV_ERR_INVALID, "no evaluation to plot");
        return NULL;
    }
    const int64_t K = e->K;
    double *x = malloc(FV__COCO_R * sizeof *x);
    double *y = malloc((size_t)(K ? K : 1) * FV__COCO_R * sizeof *y);
    fv__series *s = calloc((size_t)(K ? K : 1), sizeof *s);
    char(*labels)[96] = calloc((size_t)(K ? K : 1), sizeof *labels);
    fv_picture *p = NULL;
    if (!x || !y || !s || !labels) {
        fv__fail(FV_ERR_NOMEM, "out of memory for the precision-recall curves");
        goto done;
    }
    for (int r = 0; r < FV__COCO_R; r++)
        x[r] = r == FV__COCO_R - 1 ? 1.0 : r * 0.01;
    int ns = 0;
    for (int64_t k = 0; k < K; k++) {
        if (e->precision[fv__coco_pidx(K, 0, 0, k, 0, FV__COCO_M - 1)] <= -1) continue;
        double *yk = y + ns * FV__COCO_R;
        for (int r = 0; r < FV__COCO_R; r++)
            yk[r] = e->precision[fv__coco_pidx(K, 0, r, k, 0, FV__COCO_M - 1)];
        snprintf(labels[ns], sizeof labels[ns], "%.60s (AP50 %.3f)", e->names[k],
                 fv_coco_eval_class_ap(e, k, 0.5));
        s[ns] = (fv__series){x, yk, FV__COCO_R, labels[ns], fv__tab10(k), false, false};
        ns++;
    }
    if (ns == 0) {
        fv__fail(FV_ERR_INVALID, "no category has ground truth: no precision-recall curve");
        goto done;
    }
    cairo_t *cr;
    p = fv__picture_new(900, 640, &cr);
    if (!p) goto done;
    fv__panel panel = {.title = "Precision-recall at IoU 0.5",
                       .xlabel = "Recall",
                       .ylabel = "Precision",
                       .series = s,
                       .nseries = ns,
                       .fixed_y = true,
                       .ylo = 0,
                       .yhi = 1.02};
    fv__draw_panel(p, cr, 0, 0, 900, 640, &panel, "pr");
    p = fv__picture_end(p, cr, "the precision-recall curves");
done:
    free(x);
    free(y);
    free(s);
    free(labels);
    return p;
}
