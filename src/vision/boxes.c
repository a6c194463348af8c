/* boxes.c — box geometry of object detection: IoU, GIoU and CIoU, the box layouts (xyxy, xywh,
 * cxcywh), letterboxing (Ultralytics' LetterBox and scale_boxes) and class-wise non-maximum
 * suppression (torchvision's batched_nms). Pure functions on float64 arrays.
 */
#include "vision/vision.h"

#include <math.h>
#include <stdlib.h>

static double area_xyxy(const double *b)
{
    double w = b[2] - b[0], h = b[3] - b[1];
    return w > 0 && h > 0 ? w * h : 0;
}

static double intersection(const double *a, const double *b)
{
    double w = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    double h = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    return w > 0 && h > 0 ? w * h : 0;
}

double fv_box_iou(const double a[4], const double b[4])
{
    double i = intersection(a, b);
    double u = area_xyxy(a) + area_xyxy(b) - i;
    return u > 0 ? i / u : 0;
}

/* The smallest box enclosing a and b. */
static void enclosing(const double *a, const double *b, double *c)
{
    c[0] = fmin(a[0], b[0]);
    c[1] = fmin(a[1], b[1]);
    c[2] = fmax(a[2], b[2]);
    c[3] = fmax(a[3], b[3]);
}

double fv_box_giou(const double a[4], const double b[4])
{
    double i = intersection(a, b);
    double u = area_xyxy(a) + area_xyxy(b) - i;
    double iou = u > 0 ? i / u : 0;
    double c[4];
    enclosing(a, b, c);
    double ca = area_xyxy(c);
    return ca > 0 ? iou - (ca - u) / ca : iou;
}

double fv_box_ciou(const double p[4], const double t[4])
{
    double iou = fv_box_iou(p, t);
    double c[4];
    enclosing(p, t, c);
    double cw = c[2] - c[0], ch = c[3] - c[1];
    double c2 = cw * cw + ch * ch;
    double dx = (p[0] + p[2]) / 2 - (t[0] + t[2]) / 2, dy = (p[1] + p[3]) / 2 - (t[1] + t[3]) / 2;
    double rho2 = dx * dx + dy * dy;
    double wp = fmax(p[2] - p[0], 0), hp = fmax(p[3] - p[1], 0);
    double wt = fmax(t[2] - t[0], 0), ht = fmax(t[3] - t[1], 0);
    double d = atan2(wt, ht) - atan2(wp, hp);
    double v = 4 / (M_PI * M_PI) * d * d;
    double alpha = v > 0 ? v / ((1 - iou) + v) : 0;
    return iou - (c2 > 0 ? rho2 / c2 : 0) - alpha * v;
}

void fv_box_xywh_to_xyxy(const double in[4], double out[4])
{
    double x = in[0], y = in[1], w = in[2], h = in[3];
    out[0] = x, out[1] = y, out[2] = x + w, out[3] = y + h;
}

void fv_box_xyxy_to_xywh(const double in[4], double out[4])
{
    double x1 = in[0], y1 = in[1], x2 = in[2], y2 = in[3];
    out[0] = x1, out[1] = y1, out[2] = x2 - x1, out[3] = y2 - y1;
}

void fv_box_cxcywh_to_xyxy(const double in[4], double out[4])
{
    double cx = in[0], cy = in[1], w = in[2], h = in[3];
    out[0] = cx - w / 2, out[1] = cy - h / 2, out[2] = cx + w / 2, out[3] = cy + h / 2;
}

void fv_box_xyxy_to_cxcywh(const double in[4], double out[4])
{
    double x1 = in[0], y1 = in[1], x2 = in[2], y2 = in[3];
    out[0] = (x1 + x2) / 2, out[1] = (y1 + y2) / 2, out[2] = x2 - x1, out[3] = y2 - y1;
}

/* ---- letterbox ------------------------------------------------------------------------------ */

fv_status fv_letterbox_fit(int64_t src_h, int64_t src_w, int64_t dst_h, int64_t dst_w,
                           fv_letterbox *lb)
{
    if (src_h < 1 || src_w < 1 || dst_h < 1 || dst_w < 1)
        return fv__fail(FV_ERR_INVALID,
                        "letterbox: sizes must be at least 1 (image %lld x %lld, input %lld x "
                        "%lld)",
                        (long long)src_h, (long long)src_w, (long long)dst_h, (long long)dst_w);
    double r = fmin((double)dst_h / (double)src_h, (double)dst_w / (double)src_w);
    lb->src_h = src_h, lb->src_w = src_w, lb->dst_h = dst_h, lb->dst_w = dst_w;
    lb->scale = r;
    /* nearbyint in the default rounding mode rounds half to even, as Python's round. */
    lb->new_w = (int64_t)nearbyint((double)src_w * r);
    lb->new_h = (int64_t)nearbyint((double)src_h * r);
    if (lb->new_w < 1) lb->new_w = 1;
    if (lb->new_h < 1) lb->new_h = 1;
    double dw = (double)(dst_w - lb->new_w) / 2, dh = (double)(dst_h - lb->new_h) / 2;
    lb->pad_x = (int64_t)nearbyint(dw - 0.1);
    lb->pad_y = (int64_t)nearbyint(dh - 0.1);
    return FV_OK;
}

void fv_letterbox_to_input(const fv_letterbox *lb, double *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double *q = b + 4 * i;
        q[0] = q[0] * lb->scale + (double)lb->pad_x;
        q[2] = q[2] * lb->scale + (double)lb->pad_x;
        q[1] = q[1] * lb->scale + (double)lb->pad_y;
        q[3] = q[3] * lb->scale + (double)lb->pad_y;
    }
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void fv_letterbox_to_image(const fv_letterbox *lb, double *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double *q = b + 4 * i;
        for (int k = 0; k < 4; k += 2) {
            q[k] = clamp((q[k] - (double)lb->pad_x) / lb->scale, 0, (double)lb->src_w);
            q[k + 1] = clamp((q[k + 1] - (double)lb->pad_y) / lb->scale, 0, (double)lb->src_h);
        }
    }
}

/* ---- non-maximum suppression ------------------------------------------------------------------
 */

fv_status fv_nms(const double *boxes, const double *scores, const int64_t *classes, int64_t n,
                 double iou_threshold, int64_t max_keep, int64_t *keep, int64_t *nkeep)
{
    *nkeep = 0;
    if (n < 0) return fv__fail(FV_ERR_INVALID, "nms: a negative box count (%lld)", (long long)n);
    if (isnan(iou_threshold)) return fv__fail(FV_ERR_INVALID, "nms: the IoU threshold is NaN");
    for (int64_t i = 0; i < n; i++) {
        if (isnan(scores[i]))
            return fv__fail(FV_ERR_INVALID, "nms: box %lld's score is NaN", (long long)i);
        for (int k = 0; k < 4; k++)
            if (isnan(boxes[4 * i + k]))
                return fv__fail(FV_ERR_INVALID, "nms: box %lld has a NaN coordinate", (long long)i);
    }
    if (n == 0) return FV_OK;
    size_t bytes;
    if (!fv__mul_size((size_t)n, sizeof(fv__scored), &bytes))
        return fv__fail(FV_ERR_NOMEM, "nms: %lld boxes overflow", (long long)n);
    fv__scored *order = fv__alloc(bytes, "nms order");
    if (!order) return FV_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        order[i] = (fv__scored){scores[i], i};
    qsort(order, (size_t)n, sizeof *order, fv__cmp_scored);
    int64_t kept = 0;
    for (int64_t i = 0; i < n && (max_keep <= 0 || kept < max_keep); i++) {
        int64_t c = order[i].index;
        bool drop = false;
        for (int64_t j = 0; j < kept && !drop; j++) {
            int64_t k = keep[j];
            if (classes && classes[k] != classes[c]) continue;
            drop = fv_box_iou(boxes + 4 * k, boxes + 4 * c) > iou_threshold;
        }
        if (!drop) keep[kept++] = c;
    }
    fv__free(order);
    *nkeep = kept;
    return FV_OK;
}
