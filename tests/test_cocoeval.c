/* test_cocoeval.c — COCO's evaluation (pycocotools' COCOeval) and VOC's AP50 against values
 * worked by hand from the published algorithm: perfect detections, all wrong, duplicates, a
 * missed small object, a crowd region, an image without annotations, a category without
 * annotations, more than 100 detections of one category on one image, score ties; and the
 * summary lines as pycocotools prints them.
 */
#include "fovea.h"
#include "test.h"
#include "vision/vision.h"

#include <stdlib.h>
#include <string.h>

typedef struct gtspec {
    int64_t image_id, cat_id;
    double x, y, w, h;
    int crowd;
} gtspec;

/* A ground truth set: images (ids given, 1000 x 1000), categories (ids given, named c<id>) and
 * boxes (area w x h), grouped by image in the order given. */
static fv_detset *make_gt(int nimg, const int64_t *img_ids, int ncat, const int64_t *cat_ids,
                          const gtspec *g, int ng)
{
    fv_detset *d = fv__detset_new(nimg, ng, ncat);
    if (!d) return NULL;
    for (int k = 0; k < ncat; k++) {
        char name[32];
        snprintf(name, sizeof name, "c%lld", (long long)cat_ids[k]);
        d->categories[k].id = cat_ids[k];
        d->categories[k].name = strdup(name);
    }
    int64_t j = 0;
    for (int i = 0; i < nimg; i++) {
        fv_det_image *im = &d->images[i];
        im->id = img_ids[i], im->width = im->height = 1000, im->first = j;
        for (int q = 0; q < ng; q++) {
            if (g[q].image_id != img_ids[i]) continue;
            fv_det_annotation *a = &d->annotations[j++];
            a->id = q + 1, a->image = i, a->iscrowd = g[q].crowd;
            for (int k = 0; k < ncat; k++)
                if (cat_ids[k] == g[q].cat_id) a->category = k;
            a->bbox[0] = g[q].x, a->bbox[1] = g[q].y, a->bbox[2] = g[q].w, a->bbox[3] = g[q].h;
            a->area = g[q].w * g[q].h;
        }
        im->count = j - im->first;
    }
    return d;
}

static fv_detection det(int64_t img, int64_t cat, double x, double y, double w, double h, double s)
{
    return (fv_detection){img, cat, {x, y, w, h}, s};
}

/* Evaluates and compares the twelve figures (1e-12). */
static fv_coco_eval *check_stats(const fv_detset *gt, const fv_detection *d, int64_t n,
                                 const double want[12])
{
    fv_coco_eval *e = fv_coco_evaluate(gt, d, n);
    CHECK(e != NULL);
    if (!e) {
        fprintf(stderr, "  %s\n", fv_last_error());
        return NULL;
    }
    double s[12];
    fv_coco_eval_stats(e, s);
    for (int i = 0; i < 12; i++)
        CHECK_CLOSE(s[i], want[i], 1e-12, 0);
    return e;
}

static const int64_t IMG1[1] = {1}, IMG12[2] = {1, 2}, CAT1[1] = {1}, CAT12[2] = {1, 2};

TEST(perfect_detections_score_one)
{
    /* cat 1: a small box on image 1; cat 2: a medium box on image 2; no large boxes (-1) */
    const gtspec g[2] = {{1, 1, 10, 10, 20, 20, 0}, {2, 2, 0, 0, 50, 50, 0}};
    fv_detset *gt = make_gt(2, IMG12, 2, CAT12, g, 2);
    const fv_detection d[2] = {det(1, 1, 10, 10, 20, 20, 0.9), det(2, 2, 0, 0, 50, 50, 0.9)};
    const double want[12] = {1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 1, -1};
    fv_coco_eval *e = check_stats(gt, d, 2, want);
    if (e) {
        CHECK_CLOSE(fv_coco_eval_class_ap(e, 0, -1), 1, 1e-12, 0);
        CHECK_CLOSE(fv_coco_eval_voc_ap(e, -1), 1, 1e-12, 0);
    }
    fv_coco_eval_free(e);
    fv_detset_free(gt);
}

TEST(all_wrong_scores_zero_and_a_category_without_annotations_is_undefined)
{
    /* cat 1: one small box, one detection elsewhere (IoU 0); cat 2 has no ground truth at all
     * but a detection: it is -1 and left out of the means */
    const gtspec g[1] = {{1, 1, 0, 0, 10, 10, 0}};
    fv_detset *gt = make_gt(1, IMG1, 2, CAT12, g, 1);
    const fv_detection d[2] = {det(1, 1, 50, 50, 10, 10, 0.9), det(1, 2, 0, 0, 10, 10, 0.8)};
    const double want[12] = {0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1};
    fv_coco_eval *e = check_stats(gt, d, 2, want);
    if (e) {
        CHECK(fv_coco_eval_class_ap(e, 0, -1) == 0);
        CHECK(fv_coco_eval_class_ap(e, 1, -1) == -1);
        CHECK(fv_coco_eval_voc_ap(e, 0) == 0);
        CHECK(fv_coco_eval_voc_ap(e, 1) == -1);
        CHECK(fv_coco_eval_precision(e, 0, 0, 1, 0, 2) == -1);
        CHECK(fv_coco_eval_recall(e, 0, 0, 0, 2) == 0);
    }
    fv_coco_eval_free(e);
    fv_detset_free(gt);
}

TEST(a_duplicate_counts_as_a_false_positive)
{
    /* gt A = [0,0,40,40] (area 1600, medium). d2 [0,0,40,35] (IoU 0.875) at 0.95, d1 = A at
     * 0.9. Thresholds .50-.85: d2 takes A, d1 is a duplicate (FP after the TP): precision 1
     * everywhere, AP 1. Thresholds .90, .95: d2 misses (FP first), d1 takes A: precision
     * envelope 0.5, AP 0.5. AP = (8 + 2 x 0.5) / 10 = 0.9; AR1 (d2 alone) = 8/10. */
    const gtspec g[1] = {{1, 1, 0, 0, 40, 40, 0}};
    fv_detset *gt = make_gt(1, IMG1, 1, CAT1, g, 1);
    const fv_detection d[2] = {det(1, 1, 0, 0, 40, 40, 0.9), det(1, 1, 0, 0, 40, 35, 0.95)};
    const double want[12] = {0.9, 1, 1, -1, 0.9, -1, 0.8, 1, 1, -1, 1, -1};
    fv_coco_eval *e = check_stats(gt, d, 2, want);
    /* VOC: d2 TP (0.875 > 0.5), d1 FP (A taken): AP 1 */
    if (e) CHECK_CLOSE(fv_coco_eval_voc_ap(e, 0), 1, 1e-12, 0);
    fv_coco_eval_free(e);
    fv_detset_free(gt);
}

TEST(a_missed_small_object_halves_recall)
{
    /* A [0,0,50,50] medium, B [60,60,10,10] small; one detection on A. All areas: recall 0.5,
     * precision 1 at recall points 0, .01, ..., .50 (51 of 101): AP = 51/101. Small: A is
     * ignored, the detection matches it and is ignored with it: recall 0, AP 0. Medium: B is
     * ignored: AP 1, AR 1. */
    const gtspec g[2] = {{1, 1, 0, 0, 50, 50, 0}, {1, 1, 60, 60, 10, 10, 0}};
    fv_detset *gt = make_gt(1, IMG1, 1, CAT1, g, 2);
    const fv_detection d[1] = {det(1, 1, 0, 0, 50, 50, 0.9)};
    const double h = 51.0 / 101;
    const double want[12] = {h, h, h, 0, 1, -1, 0.5, 0.5, 0.5, 0, 1, -1};
    fv_coco_eval *e = check_stats(gt, d, 1, want);
    /* VOC: recall 0.5 at precision 1: AP 0.5 */
    if (e) CHECK_CLOSE(fv_coco_eval_voc_ap(e, 0), 0.5, 1e-12, 0);
    fv_coco_eval_free(e);
    fv_detset_free(gt);
}

TEST(a_crowd_region_absorbs_any_number_of_detections)
{
    /* A [0,0,20,20] (area 400); crowd C [50,0,50,50]. d2 (0.99) and d3 (0.98) lie inside C
     * (IoU as intersection over the detection's area: 1): both match C and are ignored; d4
     * (0.95) is a false positive; d1 (0.9) = A. tp = 0,0,0,1; fp = 0,0,1,1: precision envelope
     * 0.5 at every recall point: AP 0.5 (with d2, d3 counted as false positives it would be
     * 0.25; with C matched once, 1/3). AR1: d2 alone, ignored: 0. Medium and large: nothing
     * that is not ignored: -1. */
    const gtspec g[2] = {{1, 1, 0, 0, 20, 20, 0}, {1, 1, 50, 0, 50, 50, 1}};
    fv_detset *gt = make_gt(1, IMG1, 1, CAT1, g, 2);
    const fv_detection d[4] = {det(1, 1, 60, 10, 10, 10, 0.99), det(1, 1, 55, 5, 10, 10, 0.98),
                               det(1, 1, 200, 200, 10, 10, 0.95), det(1, 1, 0, 0, 20, 20, 0.9)};
    const double want[12] = {0.5, 0.5, 0.5, 0.5, -1, -1, 0, 1, 1, 1, -1, -1};
    fv_coco_eval *e = check_stats(gt, d, 4, want);
    /* VOC (plain IoU, crowd as "difficult"): d2, d3 overlap C by 100/2500 only: false
     * positives, as d4; d1 true: precision 1/4 at recall 1: AP 0.25 */
    if (e) CHECK_CLOSE(fv_coco_eval_voc_ap(e, 0), 0.25, 1e-12, 0);
    fv_coco_eval_free(e);
    fv_detset_free(gt);
}

TEST(detections_on_an_image_without_annotations_are_false_positives)
{
    /* image 2 has no annotations; its detection (0.95) comes before the true one (0.9):
     * precision envelope 0.5: AP 0.5, recall 1 */
    const gtspec g[1] = {{1, 1, 0, 0, 10, 10, 0}};
    fv_detset *gt = make_gt(2, IMG12, 1, CAT1, g, 1);
    const fv_detection d[2] = {det(1, 1, 0, 0, 10, 10, 0.9), det(2, 1, 0, 0, 10, 10, 0.95)};
    const double want[12] = {0.5, 0.5, 0.5, 0.5, -1, -1, 1, 1, 1, 1, -1, -1};
    fv_coco_eval *e = check_stats(gt, d, 2, want);
    fv_coco_eval_free(e);
    fv_detset_free(gt);
}

/* n false positives (score 0.9, ties) then the true detection (0.5), all on one image */
static fv_detection *many(int n)
{
    fv_detection *d = calloc((size_t)n + 1, sizeof *d);
    for (int i = 0; i < n; i++)
        d[i] = det(1, 1, 500, 500, 10, 10, 0.9);
    d[n] = det(1, 1, 0, 0, 10, 10, 0.5);
    return d;
}

TEST(only_the_best_100_detections_per_image_and_category_count)
{
    const gtspec g[1] = {{1, 1, 0, 0, 10, 10, 0}};
    fv_detset *gt = make_gt(1, IMG1, 1, CAT1, g, 1);
    /* 100 false positives first: the true one is the 101st and is cut: all 0 */
    fv_detection *d = many(100);
    const double zero[12] = {0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1};
    fv_coco_eval *e = check_stats(gt, d, 101, zero);
    /* VOC has no cut: precision 1/101 at recall 1 */
    if (e) CHECK_CLOSE(fv_coco_eval_voc_ap(e, 0), 1.0 / 101, 1e-12, 0);
    fv_coco_eval_free(e);
    free(d);
    /* 99: the true one is the 100th: precision 1/100 at every recall point; AR100 1, AR10 and
     * AR1 0 */
    d = many(99);
    const double want[12] = {0.01, 0.01, 0.01, 0.01, -1, -1, 0, 0, 1, 1, -1, -1};
    e = check_stats(gt, d, 100, want);
    fv_coco_eval_free(e);
    free(d);
    fv_detset_free(gt);
}

TEST(score_ties_keep_input_order)
{
    /* equal scores: the false positive given first stays first: AP 0.5; given second: AP 1 */
    const gtspec g[1] = {{1, 1, 0, 0, 10, 10, 0}};
    fv_detset *gt = make_gt(1, IMG1, 1, CAT1, g, 1);
    const fv_detection fp_first[2] = {det(1, 1, 500, 500, 10, 10, 0.5),
                                      det(1, 1, 0, 0, 10, 10, 0.5)};
    const double half[12] = {0.5, 0.5, 0.5, 0.5, -1, -1, 0, 1, 1, 1, -1, -1};
    fv_coco_eval_free(check_stats(gt, fp_first, 2, half));
    const fv_detection tp_first[2] = {det(1, 1, 0, 0, 10, 10, 0.5),
                                      det(1, 1, 500, 500, 10, 10, 0.5)};
    const double one[12] = {1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1};
    fv_coco_eval_free(check_stats(gt, tp_first, 2, one));
    fv_detset_free(gt);
}

TEST(summary_lines_are_pycocotools_lines)
{
    const gtspec g[1] = {{1, 1, 0, 0, 40, 40, 0}};
    fv_detset *gt = make_gt(1, IMG1, 1, CAT1, g, 1);
    const fv_detection d[2] = {det(1, 1, 0, 0, 40, 40, 0.9), det(1, 1, 0, 0, 40, 35, 0.95)};
    fv_coco_eval *e = fv_coco_evaluate(gt, d, 2);
    CHECK(e != NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (e && f) CHECK_OK(fv_coco_eval_write_text(e, f, true, false));
    if (f) fclose(f);
    CHECK_STR_CONTAINS(buf, " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | "
                            "maxDets=100 ] = 0.900\n");
    CHECK_STR_CONTAINS(buf, " Average Precision  (AP) @[ IoU=0.50      | area=   all | "
                            "maxDets=100 ] = 1.000\n");
    CHECK_STR_CONTAINS(buf, " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | "
                            "maxDets=100 ] = -1.000\n");
    CHECK_STR_CONTAINS(buf, " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | "
                            "maxDets=  1 ] = 0.800\n");
    CHECK_STR_CONTAINS(buf, " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | "
                            "maxDets=100 ] = 1.000\n");
    free(buf);
    fv_coco_eval_free(e);
    fv_detset_free(gt);
}

TEST(a_detection_on_an_unknown_image_is_refused)
{
    const gtspec g[1] = {{1, 1, 0, 0, 10, 10, 0}};
    fv_detset *gt = make_gt(1, IMG1, 1, CAT1, g, 1);
    const fv_detection d[2] = {det(1, 1, 0, 0, 10, 10, 0.9), det(7, 1, 0, 0, 10, 10, 0.9)};
    CHECK(fv_coco_evaluate(gt, d, 2) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "detection 1 is on image id 7");
    /* a category the ground truth lacks is left out, as pycocotools does */
    const fv_detection other[2] = {det(1, 1, 0, 0, 10, 10, 0.5), det(1, 9, 0, 0, 10, 10, 0.9)};
    const double one[12] = {1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1};
    fv_coco_eval_free(check_stats(gt, other, 2, one));
    fv_detset_free(gt);
}

TEST(image_f1_counts_matches_duplicates_misses_and_crowds)
{
    /* Image 1: cat 1 boxes A [0,0,40,40] and B [100,100,20,20], a crowd region C [200,200,50,50];
     * cat 2 box D [300,300,30,30]. Image 2: nothing. Detections on image 1 (score >= 0.3):
     * A exact (0.9, TP), A shifted [0,0,40,35] (0.95, IoU 0.875: TP first, so the exact one is the
     * duplicate, FP), C inside (0.8, a crowd hit: neither), D's box as cat 1 (0.7, wrong class:
     * FP), B below the score threshold (0.2, left out). TP 1, FP 2, FN 2 (B, D):
     * F1 = 2 / (2 + 2 + 2) = 1/3. Image 2: none of either, F1 1. */
    const gtspec g[4] = {{1, 1, 0, 0, 40, 40, 0},
                         {1, 1, 100, 100, 20, 20, 0},
                         {1, 1, 200, 200, 50, 50, 1},
                         {1, 2, 300, 300, 30, 30, 0}};
    fv_detset *gt = make_gt(2, IMG12, 2, CAT12, g, 4);
    const fv_detection d[5] = {det(1, 1, 0, 0, 40, 40, 0.9), det(1, 1, 0, 0, 40, 35, 0.95),
                               det(1, 1, 210, 210, 10, 10, 0.8), det(1, 1, 300, 300, 30, 30, 0.7),
                               det(1, 1, 100, 100, 20, 20, 0.2)};
    int64_t c[3];
    double f1 = -1;
    CHECK_OK(fv_detection_image_f1(gt, 0, d, 5, 0.3, 0.5, c, &f1));
    CHECK(c[0] == 1 && c[1] == 2 && c[2] == 2);
    CHECK_CLOSE(f1, 1.0 / 3, 1e-15, 0);
    /* at score 0.1, B's detection counts too: TP 2, FP 2, FN 1: 4 / 7 */
    CHECK_OK(fv_detection_image_f1(gt, 0, d, 5, 0.1, 0.5, c, &f1));
    CHECK(c[0] == 2 && c[1] == 2 && c[2] == 1);
    CHECK_CLOSE(f1, 4.0 / 7, 1e-15, 0);
    /* at IoU 0.9 the shifted box misses A and the exact one takes it: the counts stay */
    CHECK_OK(fv_detection_image_f1(gt, 0, d, 5, 0.3, 0.9, c, &f1));
    CHECK(c[0] == 1 && c[1] == 2 && c[2] == 2);
    CHECK_OK(fv_detection_image_f1(gt, 1, d, 5, 0.3, 0.5, c, &f1));
    CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0 && f1 == 1);
    CHECK(fv_detection_image_f1(gt, 2, d, 5, 0.3, 0.5, c, &f1) == FV_ERR_INVALID);
    CHECK(fv_detection_image_f1(gt, 0, d, 5, 0.3, 1.5, c, &f1) == FV_ERR_INVALID);
    fv_detset_free(gt);
}

int main(void)
{
    RUN(perfect_detections_score_one);
    RUN(all_wrong_scores_zero_and_a_category_without_annotations_is_undefined);
    RUN(a_duplicate_counts_as_a_false_positive);
    RUN(a_missed_small_object_halves_recall);
    RUN(a_crowd_region_absorbs_any_number_of_detections);
    RUN(detections_on_an_image_without_annotations_are_false_positives);
    RUN(only_the_best_100_detections_per_image_and_category_count);
    RUN(score_ties_keep_input_order);
    RUN(summary_lines_are_pycocotools_lines);
    RUN(a_detection_on_an_unknown_image_is_refused);
    RUN(image_f1_counts_matches_duplicates_misses_and_crowds);
    return TEST_SUMMARY();
}
