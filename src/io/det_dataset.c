/* det_dataset.c — a detection set as a training dataset: each image letterboxed into the model's
 * input (Ultralytics' LetterBox, grey 114 padding), its boxes mapped with it and written as the
 * yolo head's targets (a count, then class, cx, cy, w, h normalised to the input per box).
 */
#include "io/dataset.h"
#include "io/image.h"

#include <stdlib.h>
#include <string.h>

fv_status fv_letterbox_pixels(const uint8_t *src, int64_t channels, const fv_letterbox *lb,
                              uint8_t *dst)
{
    if (!src || !dst || !lb || channels < 1)
        return fv__fail(FV_ERR_INVALID, "fv_letterbox_pixels: NULL argument or no channels");
    memset(dst, 114, (size_t)(lb->dst_h * lb->dst_w * channels));
    uint8_t *scaled = malloc((size_t)(lb->new_h * lb->new_w * channels));
    if (!scaled) return fv__fail(FV_ERR_NOMEM, "out of memory letterboxing an image");
    fv_status s = fv__image_resize_u8(src, lb->src_w, channels, 0, 0, lb->src_h, lb->src_w, scaled,
                                      lb->new_h, lb->new_w, FV_INTERP_BILINEAR);
    for (int64_t r = 0; s == FV_OK && r < lb->new_h; r++) {
        const int64_t y = r + lb->pad_y;
        if (y < 0 || y >= lb->dst_h) continue;
        for (int64_t c = 0; c < lb->new_w; c++) {
            const int64_t x = c + lb->pad_x;
            if (x < 0 || x >= lb->dst_w) continue;
            memcpy(dst + (y * lb->dst_w + x) * channels, scaled + (r * lb->new_w + c) * channels,
                   (size_t)channels);
        }
    }
    free(scaled);
    return s;
}

fv_status fv_detset_to_dataset(const fv_detset *d, int64_t height, int64_t width, int64_t max_boxes,
                               const char *output, fv_dataset **out)
{
    *out = NULL;
    if (!d || !output || height < 1 || width < 1 || max_boxes < 1)
        return fv__fail(FV_ERR_INVALID, "fv_detset_to_dataset: NULL argument or size below 1");
    if (d->channels < 1)
        return fv__fail(FV_ERR_INVALID,
                        "fv_detset_to_dataset: the detection set was read without its pixels");
    if (d->nimages < 1)
        return fv__fail(FV_ERR_INVALID, "%s: the detection set has no images",
                        d->image_dir ? d->image_dir : "fv_detset_to_dataset");
    const int64_t c = d->channels, n = d->nimages, tw = 1 + 5 * max_boxes;
    int64_t px_count, t_count;
    if (!fv__mul_i64(n, height * width * c, &px_count) || !fv__mul_i64(n, tw, &t_count))
        return fv__fail(FV_ERR_NOMEM, "%lld images of %lld x %lld are too many", (long long)n,
                        (long long)height, (long long)width);
    uint8_t *px = fv__alloc((size_t)(px_count ? px_count : 1), "the letterboxed images");
    float *t = calloc((size_t)(t_count ? t_count : 1), sizeof(float));
    fv_status s = px && t ? FV_OK : FV_ERR_NOMEM;
    if (px && !t) fv__fail(FV_ERR_NOMEM, "out of memory for the detection targets");
    for (int64_t i = 0; s == FV_OK && i < n; i++) {
        const fv_det_image *im = &d->images[i];
        fv_letterbox lb;
        s = fv_letterbox_fit(im->height, im->width, height, width, &lb);
        if (s == FV_OK) s = fv_letterbox_pixels(im->pixels, c, &lb, px + i * height * width * c);
        float *ti = t + i * tw;
        int64_t count = 0, usable = 0; /* boxes written; boxes the image has for training */
        for (int64_t a = im->first; s == FV_OK && a < im->first + im->count; a++) {
            const fv_det_annotation *an = &d->annotations[a];
            if (an->iscrowd) continue; /* crowd regions are no training targets (YOLO's) */
            double b[4];
            fv_box_xywh_to_xyxy(an->bbox, b);
            fv_letterbox_to_input(&lb, b, 1);
            b[0] = b[0] < 0 ? 0 : b[0], b[1] = b[1] < 0 ? 0 : b[1];
            b[2] = b[2] > (double)width ? (double)width : b[2];
            b[3] = b[3] > (double)height ? (double)height : b[3];
            if (!(b[2] > b[0] && b[3] > b[1])) continue; /* nothing left of it at this size */
            if (usable++ >= max_boxes) continue;         /* counted for the message below */
            float *r = ti + 1 + 5 * count++;
            r[0] = (float)an->category;
            r[1] = (float)((b[0] + b[2]) / 2 / (double)width);
            r[2] = (float)((b[1] + b[3]) / 2 / (double)height);
            r[3] = (float)((b[2] - b[0]) / (double)width);
            r[4] = (float)((b[3] - b[1]) / (double)height);
        }
        ti[0] = (float)count;
        if (s == FV_OK && usable > max_boxes)
            s = fv__fail(FV_ERR_INVALID,
                         "%s: %lld boxes, more than the head's max_boxes=%lld: raise max_boxes on "
                         "the yolo line",
                         im->file_name, (long long)usable, (long long)max_boxes);
    }
    fv_dataset *ds = NULL;
    if (s == FV_OK) {
        const int64_t dims[3] = {height, width, c};
        ds = fv_dataset_from_u8(n, 3, dims, px, NULL);
        if (!ds) s = FV_ERR_NOMEM;
    }
    if (s == FV_OK) s = fv_dataset_add_output(ds, output, tw, t);
    fv__free(px);
    free(t);
    if (s != FV_OK) {
        fv_dataset_free(ds);
        return s;
    }
    *out = ds;
    return FV_OK;
}
