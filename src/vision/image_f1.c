/* image_f1.c — one image's detection F1 at one IoU threshold: how well a detector did on that
 * image, for picking a report's best and worst test images. VOC's matching (detections by
 * decreasing score, each to the free ground truth of its category with the largest IoU) at one
 * score threshold, counted as true and false positives and misses; overlaps as COCO's evaluation
 * measures them (fv__coco_box_iou).
 */
#include "vision/vision.h"

#include <math.h>
#include <stdlib.h>

fv_status fv_detection_image_f1(const fv_detset *gt, int64_t image, const fv_detection *dets,
                                int64_t ndets, double min_score, double iou_threshold,
                                int64_t counts[3], double *f1)
{
    if (!gt || image < 0 || image >= gt->nimages || (ndets > 0 && !dets) || ndets < 0 || !f1 ||
        !(iou_threshold >= 0 && iou_threshold <= 1) || isnan(min_score))
        return fv__fail(FV_ERR_INVALID, "detection F1: an argument is missing or out of range");
    const fv_det_image *im = &gt->images[image];
    int64_t n = 0;
    for (int64_t j = 0; j < ndets; j++)
        n += dets[j].image_id == im->id && dets[j].score >= min_score;
    fv__scored *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    bool *taken = calloc((size_t)(im->count ? im->count : 1), sizeof *taken);
    if (!order || !taken) {
        free(order), free(taken);
        return fv__fail(FV_ERR_NOMEM, "detection F1: out of memory");
    }
    n = 0;
    for (int64_t j = 0; j < ndets; j++)
        if (dets[j].image_id == im->id && dets[j].score >= min_score)
            order[n++] = (fv__scored){dets[j].score, j};
    qsort(order, (size_t)n, sizeof *order, fv__cmp_scored);
    int64_t tp = 0, fp = 0, fn = 0;
    for (int64_t q = 0; q < n; q++) {
        const fv_detection *d = &dets[order[q].index];
        int64_t best = -1;
        double best_iou = -1;
        bool crowd_hit = false;
        for (int64_t g = 0; g < im->count; g++) {
            const fv_det_annotation *a = &gt->annotations[im->first + g];
            if (gt->categories[a->category].id != d->category_id) continue;
            const double iou = fv__coco_box_iou(d->bbox, a->bbox, a->iscrowd);
            if (iou < iou_threshold) continue;
            if (a->iscrowd)
                crowd_hit = true;
            else if (!taken[g] && iou > best_iou)
                best = g, best_iou = iou;
        }
        if (best >= 0)
            taken[best] = true, tp++;
        else if (!crowd_hit)
            fp++;
    }
    for (int64_t g = 0; g < im->count; g++)
        fn += !taken[g] && !gt->annotations[im->first + g].iscrowd;
    free(order), free(taken);
    if (counts) counts[0] = tp, counts[1] = fp, counts[2] = fn;
    *f1 = 2 * tp + fp + fn == 0 ? 1.0 : (double)(2 * tp) / (double)(2 * tp + fp + fn);
    return FV_OK;
}
