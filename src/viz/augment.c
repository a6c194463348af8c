/* augment.c — what the model sees in training: one image, then copies of it through the model's
 * leading preprocessing layers (random_flip, random_rotation, ...) as a training batch draws
 * them, in a titled grid.
 */
#include "viz/viz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARGIN   24
#define MAX_COLS 6
#define CELL     128 /* about this many pixels per tile */
#define GAP      14

/* Draws one h × w × c image at (x, y), greys for 1-2 channels (the first), colour for 3-4. */
static bool draw_image(cairo_t *cr, int x, int y, const float *v, int64_t h, int64_t w, int64_t c,
                       int scale, double lo, double hi)
{
    const bool rgb = c >= 3;
    const bool ok = fv__draw_tile(cr, x, y, v, h, w, c, scale, rgb ? NULL : fv__cmap_grey, lo, hi);
    fv__frame(cr, x, y, (int)(w * scale), (int)(h * scale));
    return ok;
}

/* The range of v [n], widened to contain [0, 1] (pixels as fovea reads them). */
static void value_range(const float *v, int64_t n, double *lo, double *hi)
{
    *lo = 0, *hi = 1;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
}

fv_picture *fv_plot_augment(fv_model *m, const float *x, int64_t copies, int64_t step,
                            const char *caption)
{
    if (!m || !x || copies < 1 || copies > 64 || step < 0) {
        fv__fail(FV_ERR_INVALID,
                 "fv_plot_augment: no model or image, or copies outside 1..64, or step < 0");
        return NULL;
    }
    int64_t in[4], out[4];
    const int rin = fv_model_input_shape(m, 0, in), rout = fv_model_augment_shape(m, out);
    if (rin != 3 || rout != 3) {
        fv__fail(FV_ERR_SHAPE, "augmentation pictures need an image input (height, width, "
                               "channels) and image-shaped preprocessing output");
        return NULL;
    }
    const int64_t isz = in[0] * in[1] * in[2], osz = out[0] * out[1] * out[2];
    float *xs = malloc((size_t)(copies * isz) * sizeof *xs);
    float *ys = malloc((size_t)(copies * osz) * sizeof *ys);
    fv_picture *p = NULL;
    if (!xs || !ys) {
        fv__fail(FV_ERR_NOMEM, "out of memory for %lld augmented copies", (long long)copies);
        goto done;
    }
    for (int64_t i = 0; i < copies; i++)
        memcpy(xs + i * isz, x, (size_t)isz * sizeof *xs);
    if (fv_model_augment(m, xs, copies, step, ys, NULL) != FV_OK) goto done;

    /* The chain, as the title's second line: "rescaling → random_flip → random_rotation". */
    char chain[512] = "";
    size_t used = 0;
    const int nchain = fv_model_augment_layers(m);
    for (int i = 0; i < nchain && used < sizeof chain; i++)
        used += (size_t)snprintf(chain + used, sizeof chain - used, "%s%s", i ? " \u2192 " : "",
                                 fv_model_layer_name(m, i));
    char note[700];
    snprintf(note, sizeof note, "%s, in training mode, as step %lld draws them",
             nchain ? chain : "no preprocessing layers", (long long)step);

    const int64_t tiles = copies + 1, cols = tiles < MAX_COLS ? tiles : MAX_COLS;
    const int64_t rows = (tiles + cols - 1) / cols;
    const int64_t hmax = in[0] > out[0] ? in[0] : out[0], wmax = in[1] > out[1] ? in[1] : out[1];
    const int64_t side = hmax > wmax ? hmax : wmax;
    const int scale = (int)fmax(1, round((double)CELL / (double)side));
    const int cw = (int)(wmax * scale), ch = (int)(hmax * scale);
    const int header = fv__heading(NULL, MARGIN, "", caption, note) + 2;
    const int label = 18;
    cairo_t *mc = fv__measure();
    const double text_w = fmax(fv__text_width(mc, caption ? caption : "", 15, false),
                               fv__text_width(mc, note, 13, false));
    cairo_destroy(mc);
    int width = (int)(2 * MARGIN + cols * (cw + GAP) - GAP);
    if (width < text_w + 2 * MARGIN) width = (int)ceil(text_w + 2 * MARGIN);
    const int height = (int)(header + rows * (label + ch + GAP) - GAP + MARGIN);
    cairo_t *cr;
    if (!(p = fv__picture_new(width, height, &cr))) goto done;
    fv__heading(cr, MARGIN, "What the model sees in training", caption, note);

    double olo, ohi, alo, ahi;
    value_range(x, isz, &olo, &ohi);
    value_range(ys, copies * osz, &alo, &ahi); /* one scale for every copy */
    bool ok = true;
    for (int64_t t = 0; t < tiles; t++) {
        const int tx = (int)(MARGIN + (t % cols) * (cw + GAP));
        const int ty = (int)(header + (t / cols) * (label + ch + GAP));
        char title[64], region[32];
        if (t == 0)
            snprintf(title, sizeof title, "original %lld\u00d7%lld", (long long)in[0],
                     (long long)in[1]);
        else
            snprintf(title, sizeof title, "sample %lld", (long long)(t - 1));
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        fv__text(cr, tx, ty, title, 12, t == 0, FV__LEFT, FV__TOP, 0);
        const int64_t h = t ? out[0] : in[0], w = t ? out[1] : in[1], c = t ? out[2] : in[2];
        const float *v = t ? ys + (t - 1) * osz : x;
        ok = draw_image(cr, tx, ty + label, v, h, w, c, scale, t ? alo : olo, t ? ahi : ohi) && ok;
        snprintf(region, sizeof region, t ? "sample %lld" : "original", (long long)(t - 1));
        fv__picture_region(p, region, tx, ty + label, (double)(w * scale), (double)(h * scale),
                           t ? alo : olo, t ? ahi : ohi, 0, 0);
    }
    if (!ok) {
        cairo_destroy(cr);
        fv_picture_free(p);
        p = NULL;
        fv__fail(FV_ERR_NOMEM, "out of memory for the augmentation tiles");
        goto done;
    }
    p = fv__picture_end(p, cr, "the augmentation grid");
done:
    free(xs), free(ys);
    return p;
}
