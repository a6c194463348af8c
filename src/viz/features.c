/* features.c — the feature maps of one input: the image itself, then the output of every layer
 * whose output is an image stack (conv2d, pooling, activations), one tile per channel, each
 * section titled with the layer's name and shape.
 */
#include "viz/viz.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define WIDTH    1280
#define MARGIN   24
#define MAX_COLS 16

typedef struct section {
    const char *name, *kind; /* name NULL: the input */
    const float *v;          /* h × w × c, channels last */
    int64_t h, w, c;
} section;

/* The pixel scale and columns of a section's tiles. */
static void tiling(const section *s, int *scale, int64_t *cols, int *gap)
{
    int64_t kmax = s->h > s->w ? s->h : s->w;
    if (!s->name && (s->c == 1 || s->c == 3)) {
        /* The input: one picture about 170 pixels tall. */
        *cols = 1;
        *gap = 0;
        *scale = (int)fmax(1, fmin(24, round(170.0 / (double)kmax)));
        return;
    }
    *cols = s->c < MAX_COLS ? s->c : MAX_COLS;
    *gap = 8;
    double cell = floor((double)(WIDTH - 2 * MARGIN + *gap) / (double)*cols) - *gap;
    int most = (int)fmax(1, floor(96.0 / (double)kmax)); /* tiles no larger than ~96 px */
    *scale = (int)fmax(1, fmin(most, floor(cell / (double)kmax)));
}

/* Lays out (cr NULL) or draws the sections from y; returns the y below the last one and the
 * widest row's right edge in *right. */
static int sections(fv_picture *p, cairo_t *cr, int y, const section *secs, int n, fv__cmap map,
                    bool *ok, int *right)
{
    for (int si = 0; si < n; si++) {
        const section *s = &secs[si];
        int scale, gap;
        int64_t cols;
        tiling(s, &scale, &cols, &gap);
        const int tw = (int)(s->w * scale), th = (int)(s->h * scale);
        const bool labels = s->c > 1 && !(!s->name && s->c == 3) && tw >= 18;
        char title[200];
        if (s->name && strcmp(s->name, s->kind) != 0)
            snprintf(title, sizeof title, "%s (%s)   %lld \u00d7 %lld \u00d7 %lld", s->name,
                     s->kind, (long long)s->h, (long long)s->w, (long long)s->c);
        else if (s->name)
            snprintf(title, sizeof title, "%s   %lld \u00d7 %lld \u00d7 %lld", s->name,
                     (long long)s->h, (long long)s->w, (long long)s->c);
        else
            snprintf(title, sizeof title, "input   %lld \u00d7 %lld \u00d7 %lld", (long long)s->h,
                     (long long)s->w, (long long)s->c);
        if (cr) {
            cairo_set_source_rgb(cr, 0, 0, 0);
            fv__text(cr, MARGIN, y, title, 15, true, FV__LEFT, FV__TOP, 0);
        }
        y += 26 + (labels ? 14 : 0);
        int64_t used_cols = s->c < cols ? s->c : cols;
        int row_right = (int)(MARGIN + used_cols * (tw + gap) - gap);
        if (row_right > *right) *right = row_right;
        const bool rgb = !s->name && s->c == 3;
        const int64_t tiles = rgb ? 1 : s->c;
        for (int64_t t = 0; t < tiles; t++) {
            int x = (int)(MARGIN + (t % cols) * (tw + gap));
            int ty = (int)(y + (t / cols) * (th + gap + (labels ? 14 : 0)));
            if (!cr) continue;
            const float *v = s->v + (rgb ? 0 : t);
            double lo, hi;
            if (!s->name) {
                /* Pixels as they are (0..1 after scaling), widened for other data. */
                lo = 0, hi = 1;
                for (int64_t i = 0; i < s->h * s->w * s->c; i++) {
                    if (s->v[i] < lo) lo = s->v[i];
                    if (s->v[i] > hi) hi = s->v[i];
                }
            } else {
                lo = INFINITY, hi = -INFINITY;
                for (int64_t i = 0; i < s->h * s->w; i++) {
                    double e = v[i * s->c];
                    if (e < lo) lo = e;
                    if (e > hi) hi = e;
                }
            }
            fv__cmap m = s->name ? map : fv__cmap_grey;
            if (!fv__draw_tile(cr, x, ty, v, s->h, s->w, s->c, scale, rgb ? NULL : m, lo, hi))
                *ok = false;
            fv__frame(cr, x, ty, tw, th);
            char region[64];
            snprintf(region, sizeof region, "%s %lld", s->name ? s->name : "input", (long long)t);
            fv__picture_region(p, region, x, ty, tw, th, lo, hi, 0, 0);
            if (labels) {
                char buf[32];
                snprintf(buf, sizeof buf, "%lld", (long long)t);
                cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
                fv__text(cr, x + tw / 2.0, ty - 3, buf, 10, false, FV__CENTER, FV__BOTTOM, 0);
            }
        }
        int64_t nrows = (tiles + cols - 1) / cols;
        y += (int)(nrows * (th + gap + (labels ? 14 : 0)) - gap - (labels ? 14 : 0)) + 26;
    }
    return y;
}

fv_picture *fv_plot_features(fv_model *m, const float *x, int rank, const int64_t *dims,
                             const char *caption, const char *cmap)
{
    if (!m || !x || !dims) {
        fv__fail(FV_ERR_INVALID, "fv_plot_features: no model, sample or shape");
        return NULL;
    }
    fv__cmap map = fv__cmap_named(cmap);
    if (!map || map == fv__cmap_diverging || map == fv__cmap_blues) {
        fv__fail(FV_ERR_INVALID, "unknown colour map '%s' (known: viridis, grey)", cmap);
        return NULL;
    }
    if (rank < 2 || rank > 3 || dims[0] < 1 || dims[1] < 1 || (rank == 3 && dims[2] < 1)) {
        fv__fail(FV_ERR_SHAPE, "feature maps need an image input (height, width[, channels])");
        return NULL;
    }
    section secs[64];
    int n = 0;
    secs[n++] = (section){NULL, NULL, x, dims[0], dims[1], rank == 3 ? dims[2] : 1};
    int64_t size = secs[0].h * secs[0].w * secs[0].c;
    if (size != fv_model_input_size(m)) {
        fv__fail(FV_ERR_SHAPE,
                 "the sample is %lldx%lldx%lld (%lld values) but the model's input has %lld values",
                 (long long)secs[0].h, (long long)secs[0].w, (long long)secs[0].c, (long long)size,
                 (long long)fv_model_input_size(m));
        return NULL;
    }
    fv_status s = fv_model_forward(m, x, 1);
    if (s != FV_OK) return NULL;
    for (int i = 0; i < fv_model_layer_count(m) && n < 64; i++) {
        int64_t d[4];
        if (fv_model_layer_shape(m, i, d) != 3) continue;
        if (strcmp(fv_model_layer_kind(m, i), "dropout") == 0) continue;
        secs[n++] = (section){fv_model_layer_name(m, i),
                              fv_model_layer_kind(m, i),
                              fv_model_layer_output(m, i),
                              d[0],
                              d[1],
                              d[2]};
    }

    const int header = fv__heading(NULL, MARGIN, "", caption, "") + 18;
    bool ok = true;
    int right = 0;
    int height = sections(NULL, NULL, header, secs, n, map, &ok, &right) + 4;
    /* As wide as the widest row of tiles or line of text, at most WIDTH. */
    const char *note =
        map == fv__cmap_viridis
            ? "one tile per channel, each scaled to its own min..max (dark purple low, yellow high)"
            : "one tile per channel, each scaled to its own min..max (black low, white high)";
    cairo_t *mc = fv__measure();
    double text_w = fmax(fv__text_width(mc, caption ? caption : "", 15, false),
                         fv__text_width(mc, note, 13, false));
    cairo_destroy(mc);
    int width = right + MARGIN;
    if (width < 560) width = 560;
    if (width < text_w + 2 * MARGIN) width = (int)ceil(text_w + 2 * MARGIN);
    if (width > WIDTH) width = WIDTH;
    cairo_t *cr;
    fv_picture *p = fv__picture_new(width, height, &cr);
    if (!p) return NULL;
    fv__heading(cr, MARGIN, "Feature maps", caption, note);
    sections(p, cr, header, secs, n, map, &ok, &right);
    if (!ok) {
        cairo_destroy(cr);
        fv_picture_free(p);
        fv__fail(FV_ERR_NOMEM, "out of memory for the feature map tiles");
        return NULL;
    }
    return fv__picture_end(p, cr, "the feature maps");
}
