/* kernels.c — the filters of a conv2d layer as a grid of small images: one row per filter and one
 * tile per input channel (or, for one input channel, the filters side by side), every tile on
 * one symmetric scale so that colours compare across the layer, with a colour bar.
 */
#include "viz/viz.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* "conv2d, conv2d_1" into buf; false if the model has none. */
static bool conv_layers(const fv_model *m, char *buf, size_t n)
{
    size_t used = 0;
    int count = 0;
    buf[0] = '\0';
    for (int i = 0; i < fv_model_layer_count(m); i++) {
        if (strcmp(fv_model_layer_kind(m, i), "conv2d") != 0) continue;
        if (used < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", count ? ", " : "",
                                     fv_model_layer_name(m, i));
        count++;
    }
    return count > 0;
}

/* The index of the layer to draw, or -1 with a message. */
static int find_conv(const fv_model *m, const char *layer)
{
    char convs[512];
    bool any = conv_layers(m, convs, sizeof convs);
    if (!layer) {
        for (int i = 0; i < fv_model_layer_count(m); i++)
            if (strcmp(fv_model_layer_kind(m, i), "conv2d") == 0) return i;
        fv__fail(FV_ERR_INVALID, "the model has no convolution (conv2d) layer");
        return -1;
    }
    for (int i = 0; i < fv_model_layer_count(m); i++) {
        if (strcmp(fv_model_layer_name(m, i), layer) != 0) continue;
        if (strcmp(fv_model_layer_kind(m, i), "conv2d") == 0) return i;
        if (any)
            fv__fail(FV_ERR_INVALID,
                     "layer '%s' is a %s layer, not a convolution; the convolution layers are: %s",
                     layer, fv_model_layer_kind(m, i), convs);
        else
            fv__fail(FV_ERR_INVALID,
                     "layer '%s' is a %s layer, not a convolution, and the model has no "
                     "convolution (conv2d) layer",
                     layer, fv_model_layer_kind(m, i));
        return -1;
    }
    if (any)
        fv__fail(FV_ERR_INVALID, "the model has no layer '%s'; the convolution layers are: %s",
                 layer, convs);
    else
        fv__fail(FV_ERR_INVALID,
                 "the model has no layer '%s', and no convolution (conv2d) layer at all", layer);
    return -1;
}

fv_picture *fv_plot_kernels(fv_model *m, const char *layer)
{
    if (!m) {
        fv__fail(FV_ERR_INVALID, "no model");
        return NULL;
    }
    int li = find_conv(m, layer);
    if (li < 0) return NULL;
    const char *name = fv_model_layer_name(m, li);
    char tensor[160];
    snprintf(tensor, sizeof tensor, "%s.kernel", name);
    int rank = 0;
    int64_t d[4];
    const float *w = fv_model_param(m, tensor, &rank, d);
    if (!w) return NULL;
    FV_ASSERT(rank == 4);
    const int64_t kh = d[0], kw = d[1], cin = d[2], cout = d[3];
    int64_t count = kh * kw * cin * cout;
    double vmax = 0;
    for (int64_t i = 0; i < count; i++)
        if (fabs(w[i]) > vmax) vmax = fabs(w[i]);
    if (!(vmax > 0) || !isfinite(vmax)) vmax = 1;

    const bool side_by_side = cin == 1;
    const int64_t kmax = kh > kw ? kh : kw;
    /* Grid: rows × cols tiles of tw × th pixels with gaps; labels above (side by side) or
     * row/column numbers in the margins (one row per filter). */
    int64_t cols, rows;
    int scale, gapx, gapy;
    if (side_by_side) {
        cols = cout <= 8 ? cout : cout <= 32 ? 8 : 16;
        rows = (cout + cols - 1) / cols;
        scale = (int)fmax(2, round(60.0 / (double)kmax));
        gapx = 14;
        gapy = 22;
    } else {
        cols = cin;
        rows = cout;
        double target = cin <= 8 ? 44 : cin <= 16 ? 32 : 22;
        scale = (int)fmax(1, round(target / (double)kmax));
        gapx = gapy = kmax * scale >= 30 ? 4 : 2;
    }
    const int tw = (int)(kw * scale), th = (int)(kh * scale);
    if (cols * (tw + gapx) > 12000 || rows * (th + gapy) > 15000) {
        fv__fail(FV_ERR_INVALID,
                 "layer '%s' has too many filters (%lld x %lld tiles) for one picture", name,
                 (long long)rows, (long long)cols);
        return NULL;
    }

    char title[200], subtitle[200], buf[64];
    snprintf(title, sizeof title, "Kernels of %s: %lld filters of %lld \u00d7 %lld \u00d7 %lld",
             name, (long long)cout, (long long)kh, (long long)kw, (long long)cin);
    snprintf(subtitle, sizeof subtitle,
             "blue negative, white zero, red positive; one scale for the layer, |w| \u2264 %.4g%s",
             vmax, side_by_side ? "" : "; a row per filter, a column per input channel");

    cairo_t *mc = fv__measure();
    double title_w = fv__text_width(mc, title, 18, true);
    double sub_w = fv__text_width(mc, subtitle, 13, false);
    snprintf(buf, sizeof buf, "%lld", (long long)(rows > cols ? rows : cols));
    double num_w = fv__text_width(mc, buf, 11, false);
    cairo_destroy(mc);

    const int margin = 24;
    int left = margin, top = 78;
    if (!side_by_side) {
        left = (int)(margin + 18 + num_w + 8); /* "filter" rotated, then the row numbers */
        top += 34;                             /* "input channel", then the column numbers */
    } else {
        top += 18; /* each tile's label above it */
    }
    const int grid_w = (int)(cols * (tw + gapx) - gapx);
    const int grid_h = (int)(rows * (th + gapy) - gapy);
    const int bar_h = grid_h < 150 ? 150 : grid_h > 360 ? 360 : grid_h;
    const int bar_x = left + grid_w + 32;
    int width = bar_x + 18 + 70;
    if (width < (int)(title_w + 2 * margin)) width = (int)(title_w + 2 * margin);
    if (width < (int)(sub_w + 2 * margin)) width = (int)(sub_w + 2 * margin);
    int height = top + (grid_h > bar_h ? grid_h : bar_h) + margin + 10;

    cairo_t *cr;
    fv_picture *p = fv__picture_new(width, height, &cr);
    if (!p) return NULL;
    cairo_set_source_rgb(cr, 0, 0, 0);
    fv__text(cr, margin, 16, title, 18, true, FV__LEFT, FV__TOP, 0);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    fv__text(cr, margin, 46, subtitle, 13, false, FV__LEFT, FV__TOP, 0);

    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    if (!side_by_side) {
        fv__text(cr, left + grid_w / 2.0, top - 34, "input channel", 13, false, FV__CENTER, FV__TOP,
                 0);
        fv__text(cr, margin, top + grid_h / 2.0, "filter", 13, false, FV__CENTER, FV__TOP, -90);
        /* Column numbers: every one that fits. */
        int every = (int)ceil((num_w + 6) / (tw + gapx));
        for (int64_t c = 0; c < cols; c += every) {
            snprintf(buf, sizeof buf, "%lld", (long long)c);
            fv__text(cr, left + c * (tw + gapx) + tw / 2.0, top - 6, buf, 11, false, FV__CENTER,
                     FV__BOTTOM, 0);
        }
        int every_row = th + gapy >= 13 ? 1 : (int)ceil(13.0 / (th + gapy));
        for (int64_t r = 0; r < rows; r += every_row) {
            snprintf(buf, sizeof buf, "%lld", (long long)r);
            fv__text(cr, left - 6, top + r * (th + gapy) + th / 2.0, buf, 11, false, FV__RIGHT,
                     FV__MIDDLE, 0);
        }
    }

    bool ok = true;
    for (int64_t f = 0; f < cout && ok; f++) {
        for (int64_t c = 0; c < cin && ok; c++) {
            int64_t r = side_by_side ? f / cols : f;
            int64_t k = side_by_side ? f % cols : c;
            int x = (int)(left + k * (tw + gapx)), y = (int)(top + r * (th + gapy));
            ok = fv__draw_tile(cr, x, y, w + c * cout + f, kh, kw, cin * cout, scale,
                               fv__cmap_diverging, -vmax, vmax);
            fv__frame(cr, x, y, tw, th);
            char region[64];
            snprintf(region, sizeof region, "kernel %lld %lld", (long long)f, (long long)c);
            fv__picture_region(p, region, x, y, tw, th, -vmax, vmax, 0, 0);
            if (side_by_side) {
                snprintf(buf, sizeof buf, "%lld", (long long)f);
                cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
                fv__text(cr, x + tw / 2.0, y - 5, buf, 12, false, FV__CENTER, FV__BOTTOM, 0);
            }
        }
    }
    if (!ok) {
        cairo_destroy(cr);
        fv_picture_free(p);
        fv__fail(FV_ERR_NOMEM, "out of memory for the tiles of '%s'", name);
        return NULL;
    }
    fv__draw_colourbar(cr, bar_x, top, 18, bar_h, fv__cmap_diverging, -vmax, vmax, "weight");
    return fv__picture_end(p, cr, "the kernels");
}
