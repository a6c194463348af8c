/* test_vision_boxes.c — box geometry against values worked by hand: IoU, GIoU, CIoU, the layout
 * conversions, letterboxing there and back, and class-wise NMS (score ties, identical boxes,
 * zero-area boxes, everything suppressed, the IoU threshold being strict).
 */
#include "fovea.h"
#include "test.h"

#include <math.h>

TEST(iou_of_overlapping_disjoint_identical_and_empty_boxes)
{
    const double a[4] = {0, 0, 2, 2}, b[4] = {1, 1, 3, 3}, far[4] = {2, 0, 3, 1};
    const double unit[4] = {0, 0, 1, 1}, point[4] = {5, 5, 5, 5};
    CHECK_CLOSE(fv_box_iou(a, b), 1.0 / 7, 0, 1e-15); /* 1 / (4 + 4 - 1) */
    CHECK_CLOSE(fv_box_iou(b, a), 1.0 / 7, 0, 1e-15);
    CHECK(fv_box_iou(unit, far) == 0);
    CHECK(fv_box_iou(a, a) == 1);
    CHECK(fv_box_iou(point, point) == 0); /* no union: 0, not NaN */
    CHECK(fv_box_iou(point, a) == 0);
    const double touching[4] = {2, 0, 4, 2}; /* shares an edge with a: no area in common */
    CHECK(fv_box_iou(a, touching) == 0);
}

TEST(giou_subtracts_the_empty_part_of_the_enclosing_box)
{
    const double a[4] = {0, 0, 2, 2}, b[4] = {1, 1, 3, 3};
    /* C = [0,0,3,3], |C| = 9, union 7: 1/7 - 2/9 = -5/63 */
    CHECK_CLOSE(fv_box_giou(a, b), -5.0 / 63, 0, 1e-14);
    const double unit[4] = {0, 0, 1, 1}, far[4] = {2, 0, 3, 1};
    /* C = [0,0,3,1], |C| = 3, union 2: 0 - 1/3 */
    CHECK_CLOSE(fv_box_giou(unit, far), -1.0 / 3, 0, 1e-15);
    CHECK(fv_box_giou(a, a) == 1);
    const double point[4] = {5, 5, 5, 5};
    CHECK(fv_box_giou(point, point) == 0);
}

TEST(ciou_adds_centre_distance_and_aspect_terms)
{
    const double a[4] = {0, 0, 2, 2}, b[4] = {1, 1, 3, 3};
    /* same aspect (v = 0); centres (1,1) and (2,2): rho^2 = 2; c^2 = 3^2 + 3^2 = 18:
     * 1/7 - 2/18 = 2/63 */
    CHECK_CLOSE(fv_box_ciou(a, b), 2.0 / 63, 0, 1e-14);
    CHECK(fv_box_ciou(a, a) == 1);
    /* p 2 x 1 at the origin, t 1 x 2 at the origin: IoU 1/3; centres (1, .5), (.5, 1):
     * rho^2 = .5, C = [0,0,2,2], c^2 = 8: 1/16; v = 4/pi^2 (atan(1/2) - atan(2))^2
     * = 0.16782584597716224, alpha = v / (2/3 + v) = 0.20111126634972248;
     * 1/3 - 1/16 - alpha v = 0.23708166492265273 */
    const double p[4] = {0, 0, 2, 1}, t[4] = {0, 0, 1, 2};
    CHECK_CLOSE(fv_box_ciou(p, t), 0.23708166492265273, 0, 1e-14);
}

TEST(layouts_convert_both_ways)
{
    const double xywh[4] = {3, 4, 5, 6};
    double xyxy[4], back[4], c[4];
    fv_box_xywh_to_xyxy(xywh, xyxy);
    CHECK(xyxy[0] == 3 && xyxy[1] == 4 && xyxy[2] == 8 && xyxy[3] == 10);
    fv_box_xyxy_to_xywh(xyxy, back);
    CHECK(back[0] == 3 && back[1] == 4 && back[2] == 5 && back[3] == 6);
    fv_box_xyxy_to_cxcywh(xyxy, c);
    CHECK(c[0] == 5.5 && c[1] == 7 && c[2] == 5 && c[3] == 6);
    fv_box_cxcywh_to_xyxy(c, c); /* in place */
    CHECK(c[0] == 3 && c[1] == 4 && c[2] == 8 && c[3] == 10);
}

TEST(letterbox_scales_pads_and_maps_boxes_back)
{
    fv_letterbox lb;
    /* 100 x 200 into 128 x 128: r = 0.64, 64 x 128, dh = 32: pad_y = round(31.9) = 32 */
    CHECK_OK(fv_letterbox_fit(100, 200, 128, 128, &lb));
    CHECK_CLOSE(lb.scale, 0.64, 0, 1e-15);
    CHECK(lb.new_h == 64 && lb.new_w == 128 && lb.pad_x == 0 && lb.pad_y == 32);
    double b[8] = {10, 20, 110, 70, 0, 0, 200, 100};
    fv_letterbox_to_input(&lb, b, 2);
    CHECK_CLOSE(b[0], 6.4, 1e-12, 0);
    CHECK_CLOSE(b[1], 44.8, 1e-12, 0);
    CHECK_CLOSE(b[2], 70.4, 1e-12, 0);
    CHECK_CLOSE(b[3], 76.8, 1e-12, 0);
    CHECK(b[4] == 0 && b[5] == 32 && b[6] == 128 && b[7] == 96);
    fv_letterbox_to_image(&lb, b, 2);
    CHECK_CLOSE(b[0], 10, 1e-12, 0);
    CHECK_CLOSE(b[3], 70, 1e-12, 0);
    CHECK(b[6] == 200 && b[7] == 100);
    /* 4 x 5 into 2 x 10: r = 0.5, width round(2.5) = 2 (half to even), dw = 4: pad_x = 4 */
    CHECK_OK(fv_letterbox_fit(4, 5, 2, 10, &lb));
    CHECK(lb.new_w == 2 && lb.new_h == 2 && lb.pad_x == 4 && lb.pad_y == 0);
    /* A box reaching into the padding comes back clipped to the image. */
    double c[4] = {0, 0, 10, 2};
    fv_letterbox_to_image(&lb, c, 1);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] == 5 && c[3] == 4);
    /* 10 x 10 into 5 x 8: r = 0.5, dw = 1.5: pad_x = round(1.4) = 1 */
    CHECK_OK(fv_letterbox_fit(10, 10, 5, 8, &lb));
    CHECK(lb.pad_x == 1 && lb.pad_y == 0);
    CHECK(fv_letterbox_fit(0, 10, 5, 8, &lb) == FV_ERR_INVALID);
}

TEST(nms_is_per_class_and_in_score_order)
{
    /* B overlaps A with IoU 81/119 = 0.68; D is A's box in another class. */
    const double boxes[16] = {0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 0, 0, 10, 10};
    const double scores[4] = {0.9, 0.8, 0.7, 0.85};
    const int64_t classes[4] = {0, 0, 0, 1};
    int64_t keep[4], n;
    CHECK_OK(fv_nms(boxes, scores, classes, 4, 0.5, 0, keep, &n));
    CHECK(n == 3 && keep[0] == 0 && keep[1] == 3 && keep[2] == 2);
    /* one class: D is suppressed by A as well */
    CHECK_OK(fv_nms(boxes, scores, NULL, 4, 0.5, 0, keep, &n));
    CHECK(n == 2 && keep[0] == 0 && keep[1] == 2);
    /* at a threshold above 0.68 B survives */
    CHECK_OK(fv_nms(boxes, scores, classes, 4, 0.7, 0, keep, &n));
    CHECK(n == 4 && keep[0] == 0 && keep[1] == 3 && keep[2] == 1 && keep[3] == 2);
    CHECK_OK(fv_nms(boxes, scores, classes, 4, 0.5, 2, keep, &n));
    CHECK(n == 2 && keep[0] == 0 && keep[1] == 3);
}

TEST(nms_breaks_score_ties_by_input_order)
{
    const double boxes[12] = {0, 0, 4, 4, 0, 0, 4, 4, 0, 0, 4, 4};
    const double scores[3] = {0.5, 0.7, 0.7};
    int64_t keep[3], n;
    CHECK_OK(fv_nms(boxes, scores, NULL, 3, 0.5, 0, keep, &n));
    CHECK(n == 1 && keep[0] == 1);
    /* no suppression: ties keep their input order */
    CHECK_OK(fv_nms(boxes, scores, NULL, 3, 1.0, 0, keep, &n));
    CHECK(n == 3 && keep[0] == 1 && keep[1] == 2 && keep[2] == 0);
}

TEST(nms_threshold_is_strict_for_identical_boxes)
{
    /* identical boxes: IoU exactly 1, not above a threshold of 1 */
    const double boxes[8] = {2, 2, 6, 6, 2, 2, 6, 6};
    const double scores[2] = {0.3, 0.6};
    int64_t keep[2], n;
    CHECK_OK(fv_nms(boxes, scores, NULL, 2, 1.0, 0, keep, &n));
    CHECK(n == 2 && keep[0] == 1 && keep[1] == 0);
    CHECK_OK(fv_nms(boxes, scores, NULL, 2, 0.999, 0, keep, &n));
    CHECK(n == 1 && keep[0] == 1);
}

TEST(nms_keeps_zero_area_boxes)
{
    const double boxes[12] = {5, 5, 5, 5, 5, 5, 5, 5, 0, 0, 10, 10};
    const double scores[3] = {0.9, 0.8, 0.7};
    int64_t keep[3], n;
    CHECK_OK(fv_nms(boxes, scores, NULL, 3, 0.0, 0, keep, &n));
    CHECK(n == 3 && keep[0] == 0 && keep[1] == 1 && keep[2] == 2);
}

TEST(nms_suppresses_all_but_the_best)
{
    const double boxes[16] = {1, 1, 9, 9, 1, 1, 9, 9, 1, 1, 9, 9, 1, 1, 9, 9};
    const double scores[4] = {0.1, 0.4, 0.3, 0.2};
    int64_t keep[4], n;
    CHECK_OK(fv_nms(boxes, scores, NULL, 4, 0.45, 0, keep, &n));
    CHECK(n == 1 && keep[0] == 1);
    CHECK_OK(fv_nms(boxes, scores, NULL, 0, 0.45, 0, keep, &n));
    CHECK(n == 0);
}

TEST(nms_refuses_nan)
{
    const double boxes[4] = {0, 0, 1, 1};
    const double nan_score[1] = {NAN};
    int64_t keep[1], n;
    CHECK(fv_nms(boxes, nan_score, NULL, 1, 0.5, 0, keep, &n) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "box 0's score is NaN");
    const double nan_box[4] = {0, NAN, 1, 1}, score[1] = {1};
    CHECK(fv_nms(nan_box, score, NULL, 1, 0.5, 0, keep, &n) == FV_ERR_INVALID);
}

int main(void)
{
    RUN(iou_of_overlapping_disjoint_identical_and_empty_boxes);
    RUN(giou_subtracts_the_empty_part_of_the_enclosing_box);
    RUN(ciou_adds_centre_distance_and_aspect_terms);
    RUN(layouts_convert_both_ways);
    RUN(letterbox_scales_pads_and_maps_boxes_back);
    RUN(nms_is_per_class_and_in_score_order);
    RUN(nms_breaks_score_ties_by_input_order);
    RUN(nms_threshold_is_strict_for_identical_boxes);
    RUN(nms_keeps_zero_area_boxes);
    RUN(nms_suppresses_all_but_the_best);
    RUN(nms_refuses_nan);
    return TEST_SUMMARY();
}
