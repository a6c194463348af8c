/* targets.c — a detection set as a detector's training data: every image letterboxed to the
 * model's input (Ultralytics' LetterBox, grey 114 padding) and its boxes as the head's padded
 * targets (a count, then class, cx, cy, w, h per box, fractions of the input).
 */
#include "io/image.h"
#include "vision/vision.h"

#include <stdlib.h>
#include <string.h>

#define PAD_VALUE 114 /* Ultralytics' letterbox colour */

/* One image letterboxed into dst (h × w × c), its targets into t[1 + 5·max_boxes]. */
static fv_status one(const fv_detset *d, int64_t i, int64_t h, int64_t w, int64_t max_boxes,
                     uint8_t *dst, float *t)
{
    const fv_det_image *im = &d->images[i];
    const int c = d->channels;
    fv_letterbox lb;
    fv_status st = fv_letterbox_fit(im->height, im->width, h, w, &lb);
    if (st != FV_OK) return st;
    uint8_t *scaled = malloc((size_t)(lb.new_h * lb.new_w * c));
    if (!scaled) return fv__fail(FV_ERR_NOMEM, "letterbox: out of memory");
    st = fv__image_resize_u8(im->pixels, im->width, c, 0, 0, im->height, im->width, scaled,
                             lb.new_h, lb.new_w, FV_INTERP_BILINEAR);
    if (st != FV_OK) {
        free(scaled);
        return st;
    }
    memset(dst, PAD_VALUE, (size_t)(h * w * c));
    for (int64_t y = 0; y < lb.new_h; y++)
        memcpy(dst + ((y + lb.pad_y) * w + lb.pad_x) * c, scaled + y * lb.new_w * c,
               (size_t)(lb.new_w * c));
    free(scaled);
    int64_t n = 0;
    for (int64_t j = im->first; j < im->first + im->count; j++) {
        const fv_det_annotation *a = &d->annotations[j];
        if (a->iscrowd || a->bbox[2] <= 0 || a->bbox[3] <= 0) continue;
        if (n == max_boxes)
            return fv__fail(FV_ERR_INVALID,
                            "image id %lld (%s) has more than max_boxes=%lld boxes; raise "
                            "max_boxes",
                            (long long)im->id, im->file_name, (long long)max_boxes);
        double b[4];
        fv_box_xywh_to_xyxy(a->bbox, b);
        fv_letterbox_to_input(&lb, b, 1);
        float *r = t + 1 + 5 * n++;
        r[0] = (float)a->category;
        r[1] = (float)((b[0] + b[2]) / 2 / (double)w);
        r[2] = (float)((b[1] + b[3]) / 2 / (double)h);
        r[3] = (float)((b[2] - b[0]) / (double)w);
        r[4] = (float)((b[3] - b[1]) / (double)h);
    }
    t[0] = (float)n;
    return FV_OK;
}

fv_status fv_detset_letterbox(const fv_detset *d, int64_t height, int64_t width, int64_t max_boxes,
                              uint8_t **pixels, float **targets)
{
    *pixels = NULL, *targets = NULL;
    if (!d || d->channels < 1)
        return fv__fail(FV_ERR_INVALID, "letterbox: the detection set holds no pixels");
    if (height < 1 || width < 1 || height > 65535 || width > 65535 || max_boxes < 1 ||
        max_boxes > 1 << 20)
        return fv__fail(FV_ERR_INVALID,
                        "letterbox: input %lld x %lld and max_boxes %lld must be positive",
                        (long long)width, (long long)height, (long long)max_boxes);
    int64_t per, all, tw = 1 + 5 * max_boxes, tall;
    if (!fv__mul_i64(height * width, d->channels, &per) || !fv__mul_i64(per, d->nimages, &all) ||
        !fv__mul_i64(tw, d->nimages, &tall))
        return fv__fail(FV_ERR_NOMEM, "letterbox: %lld images overflow", (long long)d->nimages);
    uint8_t *px = malloc(all ? (size_t)all : 1);
    float *t = calloc(tall ? (size_t)tall : 1, sizeof *t);
    if (!px || !t) {
        free(px), free(t);
        return fv__fail(FV_ERR_NOMEM, "letterbox: out of memory for %lld images",
                        (long long)d->nimages);
    }
    for (int64_t i = 0; i < d->nimages; i++) {
        fv_status st = one(d, i, height, width, max_boxes, px + i * per, t + i * tw);
        if (st != FV_OK) {
            free(px), free(t);
            return st;
        }
    }
    *pixels = px, *targets = t;
    return FV_OK;
}
