/* fuzz_coco.c — libFuzzer target for COCO's JSON readers: the bytes parsed as an instances file
 * (fv__coco_parse) and as a results file (fv__detections_parse); a set that parses is checked
 * (indices, grouping, boxes inside their images) and evaluated (fv_coco_evaluate) against its
 * own boxes as detections, as `fovea evaluate --detections --annotations` does.
 */
#include "fuzz_common.h"
#include "io/detection.h"

#include <math.h>

static const char ORIGIN[] = "fuzz.json";

static void check_set(const fv_detset *d)
{
    int64_t total = 0;
    for (int64_t i = 0; i < d->nimages; i++) {
        const fv_det_image *im = &d->images[i];
        FUZZ_CHECK(im->file_name && im->width >= 1 && im->height >= 1);
        FUZZ_CHECK(im->first == total && im->count >= 0);
        total += im->count;
        for (int64_t j = im->first; j < im->first + im->count; j++) {
            const fv_det_annotation *a = &d->annotations[j];
            FUZZ_CHECK(a->image == i && a->category >= 0 && a->category < d->ncategories);
            FUZZ_CHECK(a->bbox[2] >= 0 && a->bbox[3] >= 0 && a->area >= 0);
            FUZZ_CHECK(a->bbox[0] + a->bbox[2] <= (double)im->width + 0.011);
        }
    }
    FUZZ_CHECK(total == d->nannotations);
    if (d->nannotations > 2000) return; /* keep each run fast */
    fv_detection *dets = calloc((size_t)d->nannotations + 1, sizeof *dets);
    FUZZ_CHECK(dets);
    for (int64_t j = 0; j < d->nannotations; j++) {
        const fv_det_annotation *a = &d->annotations[j];
        dets[j] = (fv_detection){d->images[a->image].id,
                                 d->categories[a->category].id,
                                 {a->bbox[0], a->bbox[1], a->bbox[2], a->bbox[3]},
                                 (double)(j % 7) / 7};
    }
    fv_coco_eval *e = fv_coco_evaluate(d, dets, d->nannotations);
    if (e) {
        double s[12];
        fv_coco_eval_stats(e, s);
        for (int i = 0; i < 12; i++)
            FUZZ_CHECK(s[i] == -1 || (s[i] >= 0 && s[i] <= 1));
        fv_coco_eval_free(e);
    }
    free(dets);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fv_detset *d = NULL;
    if (fv__coco_parse((const char *)data, size, ORIGIN, &d) == FV_OK) {
        check_set(d);
        fv_detset_free(d);
    } else {
        FUZZ_CHECK(d == NULL);
        FUZZ_CHECK_ERROR(ORIGIN);
    }
    fv_detection *dets = NULL;
    int64_t n = 0;
    if (fv__detections_parse((const char *)data, size, ORIGIN, &dets, &n) == FV_OK) {
        for (int64_t i = 0; i < n; i++)
            FUZZ_CHECK(isfinite(dets[i].score) && dets[i].bbox[2] >= 0 && dets[i].bbox[3] >= 0);
        free(dets);
    } else {
        FUZZ_CHECK(dets == NULL);
        FUZZ_CHECK_ERROR(ORIGIN);
    }
    return 0;
}
