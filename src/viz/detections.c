/* detections.c — images of a detection set in a grid with their boxes: the ground truth (solid,
 * coloured by class, the class name on a tab above the box) and, when given, detections
 * (dashed, with name and score), each image scaled by a whole factor to about 256 pixels.
 */
#include "viz/viz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define TILE    256 /* the target side of each image in pixels */
#define GAP     12
#define CAPTION 22

fv__rgb fv__tab10(int64_t k)
{
    static const unsigned tab10[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                     0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
    return fv__hex(tab10[k % 10]);
}

/* A box (xywh in image pixels) at scale s from (ox, oy) with a tab holding text. */
static void draw_box(cairo_t *cr, double ox, double oy, double s, const double *b, fv__rgb c,
                     bool dashed, const char *text)
{
    double x = ox + b[0] * s, y = oy + b[1] * s, w = b[2] * s, h = b[3] * s;
    cairo_save(cr);
    fv__set_rgb(cr, c);
    cairo_set_line_width(cr, 2);
    if (dashed) {
        const double dash[] = {5, 3};
        cairo_set_dash(cr, dash, 2, 0);
    }
    cairo_rectangle(cr, x, y, w, h);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    const double size = 11;
    double tw = fv__text_width(cr, text, size, false) + 6;
    double ty = dashed ? y + h : y - 15; /* detections' tabs under the box */
    if (ty < oy) ty = y;
    cairo_rectangle(cr, x - 1, ty, tw, 15);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    fv__text(cr, x + 2, ty + 7.5, text, size, false, FV__LEFT, FV__MIDDLE, 0);
    cairo_restore(cr);
}

static const char *category_name(const fv_detset *d, int64_t id, int64_t *k)
{
    for (int64_t q = 0; q < d->ncategories; q++)
        if (d->categories[q].id == id) {
            *k = q;
            return d->categories[q].name;
        }
    *k = id < 0 ? 0 : id;
    return "?";
}

fv_picture *fv_plot_detections(const fv_detset *d, const int64_t *images, int64_t n,
                               const fv_detection *dets, int64_t ndets, double min_score)
{
    if (!d || d->channels < 1) {
        fv__fail(FV_ERR_INVALID, "detection picture: the set holds no pixels");
        return NULL;
    }
    if (n < 1 || n > 64 || n > d->nimages) {
        fv__fail(FV_ERR_INVALID, "detection picture: %lld images asked for; 1 to %lld can be drawn",
                 (long long)n, (long long)(d->nimages < 64 ? d->nimages : 64));
        return NULL;
    }
    int64_t cols = n < 4 ? n : 4, rows = (n + cols - 1) / cols;
    int cell = TILE;
    for (int64_t q = 0; q < n; q++) {
        int64_t i = images ? images[q] : q;
        if (i < 0 || i >= d->nimages) {
            fv__fail(FV_ERR_INVALID, "detection picture: image %lld is not in the set (0..%lld)",
                     (long long)i, (long long)d->nimages - 1);
            return NULL;
        }
        int64_t side =
            d->images[i].width > d->images[i].height ? d->images[i].width : d->images[i].height;
        int s = side >= TILE ? 1 : (int)(TILE / side);
        if (side * s > cell) cell = (int)(side * s);
    }
    if (cell > 2048) {
        fv__fail(FV_ERR_INVALID, "detection picture: images larger than 2048 pixels");
        return NULL;
    }
    cairo_t *cr;
    int W = (int)(cols * (cell + GAP) + GAP), H = (int)(rows * (cell + GAP + CAPTION) + GAP);
    fv_picture *p = fv__picture_new(W, H, &cr);
    if (!p) return NULL;
    float *buf = NULL;
    for (int64_t q = 0; q < n; q++) {
        const fv_det_image *im = &d->images[images ? images[q] : q];
        int64_t side = im->width > im->height ? im->width : im->height;
        int s = side >= TILE ? 1 : (int)(TILE / side);
        int ox = (int)(GAP + (q % cols) * (cell + GAP)),
            oy = (int)(GAP + (q / cols) * (cell + GAP + CAPTION));
        size_t count = (size_t)(im->width * im->height * d->channels);
        float *nb = realloc(buf, count * sizeof *buf);
        if (!nb) {
            fv__fail(FV_ERR_NOMEM, "detection picture: out of memory");
            cairo_destroy(cr);
            fv_picture_free(p);
            free(buf);
            return NULL;
        }
        buf = nb;
        for (size_t e = 0; e < count; e++)
            buf[e] = im->pixels[e];
        fv__draw_tile(cr, ox, oy, buf, im->height, im->width, d->channels, s,
                      d->channels == 1 ? fv__cmap_grey : NULL, 0, 255);
        for (int64_t j = im->first; j < im->first + im->count; j++) {
            const fv_det_annotation *a = &d->annotations[j];
            draw_box(cr, ox, oy, s, a->bbox, fv__tab10(a->category), false,
                     d->categories[a->category].name);
        }
        for (int64_t j = 0; j < ndets; j++) {
            if (dets[j].image_id != im->id || !(dets[j].score >= min_score)) continue;
            int64_t k;
            const char *name = category_name(d, dets[j].category_id, &k);
            char text[96];
            snprintf(text, sizeof text, "%.60s %.2f", name, dets[j].score);
            draw_box(cr, ox, oy, s, dets[j].bbox, fv__tab10(k), true, text);
        }
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        fv__text(cr, ox, oy + cell + 4, im->file_name, 12, false, FV__LEFT, FV__TOP, 0);
    }
    free(buf);
    return fv__picture_end(p, cr, "the detection picture");
}
