/* generative.c — the pictures of generative models: grids of images (samples, reconstructions
 * under their originals, interpolations), and the latent space as a scatter plot coloured by class
 * beside the decoded manifold (Keras' VAE example's two figures).
 */
#include "viz/viz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARGIN 24

/* matplotlib's tab10, the colours of Keras' example's scatter (c=labels). */
static fv__rgb class_colour(int64_t k)
{
    static const unsigned tab10[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                     0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
    return fv__hex(tab10[(uint64_t)k % 10]);
}

static bool check_images(int rank, const int64_t *dims, int64_t *h, int64_t *w, int64_t *c)
{
    if (rank < 2 || rank > 3 || dims[0] < 1 || dims[1] < 1 || dims[0] > 4096 || dims[1] > 4096 ||
        (rank == 3 && dims[2] != 1 && dims[2] != 3)) {
        fv__fail(FV_ERR_SHAPE,
                 "images must be (H, W), (H, W, 1) or (H, W, 3) of at most 4096 per side");
        return false;
    }
    *h = dims[0], *w = dims[1], *c = rank == 3 ? dims[2] : 1;
    return true;
}

/* Draws image v (h × w × c) as a tile of scale at (x, y), values lo..hi to black..white. */
static bool tile(cairo_t *cr, int x, int y, const float *v, int64_t h, int64_t w, int64_t c,
                 int scale, double lo, double hi)
{
    bool ok = c == 3 ? fv__draw_tile(cr, x, y, v, h, w, 3, scale, NULL, lo, hi)
                     : fv__draw_tile(cr, x, y, v, h, w, 1, scale, fv__cmap_grey, lo, hi);
    fv__frame(cr, x, y, (int)(w * scale), (int)(h * scale));
    return ok;
}

fv_picture *fv_plot_image_grid(const float *images, int64_t n, int rank, const int64_t *dims,
                               int64_t cols, double lo, double hi, const char *title,
                               const char *subtitle, const char *const *row_labels)
{
    int64_t h, w, c;
    if (!images || n < 1 || cols < 1) {
        fv__fail(FV_ERR_INVALID, "fv_plot_image_grid: no images");
        return NULL;
    }
    if (!check_images(rank, dims, &h, &w, &c)) return NULL;
    if (!(hi > lo)) {
        fv__fail(FV_ERR_INVALID, "fv_plot_image_grid: value range %g..%g is empty", lo, hi);
        return NULL;
    }
    if (cols > n) cols = n;
    const int64_t rows = (n + cols - 1) / cols;
    const int64_t kmax = h > w ? h : w;
    const int scale = (int)fmax(1, fmin(8, floor(72.0 / (double)kmax)));
    const int tw = (int)(w * scale), th = (int)(h * scale), gap = 4;
    if (cols * (tw + gap) > 12000 || rows * (th + gap) > 15000) {
        fv__fail(FV_ERR_INVALID, "%lld images of %lld × %lld are too many for one picture",
                 (long long)n, (long long)h, (long long)w);
        return NULL;
    }
    cairo_t *mc = fv__measure();
    double label_w = 0, title_w = title ? fv__text_width(mc, title, 18, true) : 0;
    double sub_w = subtitle ? fv__text_width(mc, subtitle, 13, false) : 0;
    for (int64_t r = 0; row_labels && r < rows; r++)
        if (row_labels[r]) label_w = fmax(label_w, fv__text_width(mc, row_labels[r], 13, false));
    cairo_destroy(mc);
    const int left = (int)(MARGIN + (label_w > 0 ? label_w + 12 : 0));
    const int top = MARGIN + (title ? 30 : 0) + (subtitle ? 22 : 0);
    int width = (int)(left + cols * (tw + gap) - gap + MARGIN);
    width = (int)fmax(width, fmax(title_w, sub_w) + 2 * MARGIN);
    const int height = (int)(top + rows * (th + gap) - gap + MARGIN);
    cairo_t *cr;
    fv_picture *p = fv__picture_new(width, height, &cr);
    if (!p) return NULL;
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (title) fv__text(cr, MARGIN, 16, title, 18, true, FV__LEFT, FV__TOP, 0);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    if (subtitle) fv__text(cr, MARGIN, title ? 44 : 16, subtitle, 13, false, FV__LEFT, FV__TOP, 0);
    bool ok = true;
    const int64_t size = h * w * c;
    for (int64_t i = 0; i < n && ok; i++) {
        const int64_t r = i / cols, k = i % cols;
        const int x = (int)(left + k * (tw + gap)), y = (int)(top + r * (th + gap));
        ok = tile(cr, x, y, images + i * size, h, w, c, scale, lo, hi);
        char region[64];
        snprintf(region, sizeof region, "tile %lld %lld", (long long)r, (long long)k);
        fv__picture_region(p, region, x, y, tw, th, lo, hi, 0, 0);
    }
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    for (int64_t r = 0; row_labels && r < rows; r++)
        if (row_labels[r])
            fv__text(cr, left - 12, top + r * (th + gap) + th / 2.0, row_labels[r], 13, false,
                     FV__RIGHT, FV__MIDDLE, 0);
    if (!ok) {
        cairo_destroy(cr);
        fv_picture_free(p);
        fv__fail(FV_ERR_NOMEM, "out of memory for the image tiles");
        return NULL;
    }
    return fv__picture_end(p, cr, "the image grid");
}

/* The manifold panel: grid × grid images in the box at (x, y), with the latent values of its
 * first and last columns and rows as ticks. */
static bool draw_manifold(fv_picture *p, cairo_t *cr, int x, int y, const float *images,
                          int64_t grid, int64_t h, int64_t w, int64_t c, double zlo, double zhi,
                          int scale, const char *xlabel, const char *ylabel)
{
    const int tw = (int)(w * scale), th = (int)(h * scale);
    const int64_t size = h * w * c;
    bool ok = true;
    for (int64_t r = 0; r < grid && ok; r++)
        for (int64_t k = 0; k < grid && ok; k++) {
            const int tx = (int)(x + k * tw), ty = (int)(y + r * th);
            ok = c == 3 ? fv__draw_tile(cr, tx, ty, images + (r * grid + k) * size, h, w, 3, scale,
                                        NULL, 0, 1)
                        : fv__draw_tile(cr, tx, ty, images + (r * grid + k) * size, h, w, 1, scale,
                                        fv__cmap_grey, 0, 1);
        }
    fv__frame(cr, x, y, (int)(grid * tw), (int)(grid * th));
    fv__picture_region(p, "manifold", x, y, grid * tw, grid * th, zlo, zhi, zlo, zhi);
    /* Nice ticks placed where their values fall between the first and last tiles' centres
     * (codes zlo..zhi left to right, zhi..zlo top to bottom). */
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    double ticks[16], step;
    const int nt = fv__nice_ticks(zlo, zhi, 5, ticks, 16, &step);
    const double span = grid > 1 ? (double)(grid - 1) : 1;
    for (int t = 0; t < nt; t++) {
        const double u = (ticks[t] - zlo) / (zhi - zlo) * span; /* in tiles from the first */
        char buf[32];
        fv__tick_label(buf, sizeof buf, ticks[t], step);
        const double X = x + (u + 0.5) * tw, Y = y + (span - u + 0.5) * th;
        cairo_move_to(cr, round(X) + 0.5, y + grid * th);
        cairo_line_to(cr, round(X) + 0.5, y + grid * th + 5);
        cairo_move_to(cr, x - 5, round(Y) + 0.5);
        cairo_line_to(cr, x, round(Y) + 0.5);
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
        fv__text(cr, X, y + grid * th + 8, buf, 12, false, FV__CENTER, FV__TOP, 0);
        fv__text(cr, x - 8, Y, buf, 12, false, FV__RIGHT, FV__MIDDLE, 0);
    }
    fv__text(cr, x + grid * tw / 2.0, y + grid * th + 28, xlabel, 14, false, FV__CENTER, FV__TOP,
             0);
    fv__text(cr, x - 58, y + grid * th / 2.0, ylabel, 14, false, FV__CENTER, FV__TOP, -90);
    return ok;
}

fv_picture *fv_plot_latent(const float *points, int64_t n, const int32_t *labels,
                           const char *const *class_names, int64_t nclasses, const char *xlabel,
                           const char *ylabel, const char *title, const float *manifold,
                           int64_t grid, int rank, const int64_t *dims, double zlo, double zhi)
{
    if (!points || n < 1 || !xlabel || !ylabel) {
        fv__fail(FV_ERR_INVALID, "fv_plot_latent: no points");
        return NULL;
    }
    if (nclasses < 0 || nclasses > 100 || (labels && nclasses < 1)) {
        fv__fail(FV_ERR_INVALID, "fv_plot_latent: %lld classes: expected 1 to 100",
                 (long long)nclasses);
        return NULL;
    }
    int64_t h = 0, w = 0, c = 0;
    if (manifold && (grid < 1 || grid > 64 || !(zhi > zlo))) {
        fv__fail(FV_ERR_INVALID, "fv_plot_latent: a manifold of %lld × %lld over %g..%g",
                 (long long)grid, (long long)grid, zlo, zhi);
        return NULL;
    }
    if (manifold && !check_images(rank, dims, &h, &w, &c)) return NULL;
    /* One series per class (its points in data order), or one for unlabelled points. */
    const int64_t nseries = labels ? nclasses : 1;
    fv__series *series = calloc((size_t)nseries, sizeof *series);
    double *xs = malloc((size_t)n * sizeof *xs), *ys = malloc((size_t)n * sizeof *ys);
    int64_t *start = calloc((size_t)nseries + 1, sizeof *start);
    char(*names)[48] = calloc((size_t)nseries, sizeof *names);
    fv_picture *p = NULL;
    if (!series || !xs || !ys || !start || !names) {
        fv__fail(FV_ERR_NOMEM, "out of memory for %lld points", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = labels ? labels[i] : 0;
        if (k < 0 || k >= nseries) {
            fv__fail(FV_ERR_INVALID, "fv_plot_latent: point %lld has label %lld, not in [0, %lld)",
                     (long long)i, (long long)k, (long long)nseries);
            goto done;
        }
        start[k + 1]++;
    }
    for (int64_t k = 0; k < nseries; k++)
        start[k + 1] += start[k];
    {
        int64_t *fill = calloc((size_t)nseries, sizeof *fill);
        if (!fill) {
            fv__fail(FV_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < n; i++) {
            const int64_t k = labels ? labels[i] : 0, at = start[k] + fill[k]++;
            xs[at] = points[2 * i], ys[at] = points[2 * i + 1];
        }
        free(fill);
    }
    for (int64_t k = 0; k < nseries; k++) {
        if (labels) {
            if (class_names && class_names[k])
                snprintf(names[k], sizeof names[k], "%.46s", class_names[k]);
            else
                snprintf(names[k], sizeof names[k], "%lld", (long long)k);
        }
        series[k] = (fv__series){.x = xs + start[k],
                                 .y = ys + start[k],
                                 .n = start[k + 1] - start[k],
                                 .label = labels ? names[k] : NULL,
                                 .colour = labels ? class_colour(k) : fv__series_colour(0)};
    }
    fv__panel panel = {.title = labels ? "the test images' codes, by class" : "the codes",
                       .xlabel = xlabel,
                       .ylabel = ylabel,
                       .series = series,
                       .nseries = (int)nseries,
                       .scatter = true,
                       .legend_right = true,
                       /* the manifold's square in view: the dashed square is all drawn */
                       .include = manifold != NULL,
                       .inc_lo = zlo,
                       .inc_hi = zhi};
    /* The manifold's tiles (M pixels a side at the scale that fits Keras' 30 × 28 in about 560
     * pixels, or larger) and beside it the scatter plot, its plot area as tall as the manifold
     * and level with it, so that neither has an empty band under it; the legend in a column
     * right of the scatter's plot area, the titles' widths inside the picture. */
    int scale = 1, mw = 0, M = 0;
    if (manifold) {
        const int64_t kmax = h > w ? h : w;
        scale = (int)fmax(1, floor(560.0 / (double)(grid * kmax)));
        mw = (int)(grid * w * scale), M = (int)(grid * h * scale);
    }
    enum { AREA_TOP = 43, AREA_BOTTOM = 48, MANIFOLD_LEFT = 84 }; /* fv__draw_panel's margins */
    static const char manifold_title[] = "decoded from a grid of codes (the dashed square)";
    cairo_t *mc = fv__measure();
    double legend_h;
    const double legend_w = fv__legend_width(mc, &panel, &legend_h);
    const double title_w = title ? fv__text_width(mc, title, 18, true) : 0;
    const double mtitle_w = manifold ? fv__text_width(mc, manifold_title, 17, true) : 0;
    cairo_destroy(mc);
    const int area = manifold ? (M > 480 ? M : 480) : 0;
    const int scatter_w = (int)ceil((area + 90 > 640 ? area + 90 : 640) + legend_w);
    const int scatter_h = manifold ? AREA_TOP + area + AREA_BOTTOM : 600;
    const int top = MARGIN + 30;
    int width = MARGIN + scatter_w + (manifold ? MANIFOLD_LEFT + mw + MARGIN : MARGIN);
    if (manifold)
        width = (int)fmax(
            width, ceil(MARGIN + scatter_w + MANIFOLD_LEFT + mw / 2.0 + mtitle_w / 2 + MARGIN));
    width = (int)fmax(width, ceil(title_w + 2 * MARGIN));
    const int height =
        (int)fmax(top + scatter_h + MARGIN, ceil(top + AREA_TOP + legend_h + MARGIN));
    cairo_t *cr;
    p = fv__picture_new(width, height, &cr);
    if (!p) goto done;
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (title) fv__text(cr, MARGIN, 16, title, 18, true, FV__LEFT, FV__TOP, 0);
    fv__draw_panel(p, cr, MARGIN, top, scatter_w, scatter_h, &panel, "scatter");
    const fv__region *sc = fv__picture_find(p, "scatter");
    if (manifold && sc) {
        /* The manifold's square of codes, dashed, on the scatter plot (clipped to it). */
        const double x0 = sc->x + (zlo - sc->x0) / (sc->x1 - sc->x0) * sc->w,
                     x1 = sc->x + (zhi - sc->x0) / (sc->x1 - sc->x0) * sc->w,
                     y0 = sc->y + sc->h - (zhi - sc->y0) / (sc->y1 - sc->y0) * sc->h,
                     y1 = sc->y + sc->h - (zlo - sc->y0) / (sc->y1 - sc->y0) * sc->h;
        const double dash[] = {6, 4};
        cairo_save(cr);
        cairo_rectangle(cr, sc->x, sc->y, sc->w, sc->h);
        cairo_clip(cr);
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_line_width(cr, 1.5);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
        cairo_stroke(cr);
        cairo_restore(cr);
    }
    bool ok = true;
    if (manifold) {
        const int mx = MARGIN + scatter_w + MANIFOLD_LEFT, my = top + AREA_TOP;
        cairo_set_source_rgb(cr, 0, 0, 0);
        fv__text(cr, mx + mw / 2.0, top + 12, manifold_title, 17, true, FV__CENTER, FV__TOP, 0);
        ok = draw_manifold(p, cr, mx, my, manifold, grid, h, w, c, zlo, zhi, scale, xlabel, ylabel);
    }
    if (!ok) {
        cairo_destroy(cr);
        fv_picture_free(p);
        p = NULL;
        fv__fail(FV_ERR_NOMEM, "out of memory for the manifold's tiles");
        goto done;
    }
    p = fv__picture_end(p, cr, "the latent space");
done:
    free(series), free(xs), free(ys), free(start), free(names);
    return p;
}
