/* pose.c — pictures of 6D pose: the ADD(-S) accuracy–threshold curve (fovea evaluate --plot) and
 * estimated and true poses drawn over their images as projected 3-D boxes and axes (fovea viz
 * pose).
 */
#include "viz/viz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { CURVE_POINTS = 101 };

fv_picture *fv_plot_pose_accuracy(const double *err, int64_t n)
{
    if (!err || n < 1) {
        fv__fail(FV_ERR_INVALID, "fv_plot_pose_accuracy: no errors to plot");
        return NULL;
    }
    double x[CURVE_POINTS], y[CURVE_POINTS];
    for (int k = 0; k < CURVE_POINTS; k++) {
        x[k] = 0.5 * k / (CURVE_POINTS - 1);
        int64_t ok = 0;
        for (int64_t i = 0; i < n; i++)
            ok += err[i] < x[k]; /* NaN (no estimate) never passes */
        y[k] = (double)ok / (double)n;
    }
    int64_t at10 = 0;
    for (int64_t i = 0; i < n; i++)
        at10 += err[i] < 0.1;
    char label[96];
    snprintf(label, sizeof label, "ADD(-S), %lld targets (accuracy at 0.1 d: %.3f)", (long long)n,
             (double)at10 / (double)n);
    const double mx[2] = {0.1, 0.1}, my[2] = {0, 1};
    const fv__series s[2] = {
        {x, y, CURVE_POINTS, label, fv__series_colour(0), false, false},
        {mx, my, 2, "10 % of the diameter", fv__series_colour(1), true, false},
    };
    cairo_t *cr;
    fv_picture *p = fv__picture_new(900, 640, &cr);
    if (!p) return NULL;
    fv__panel panel = {.title = "ADD(-S) accuracy against the threshold",
                       .xlabel = "Threshold (fraction of the object's diameter)",
                       .ylabel = "Accuracy (ADD(-S) below the threshold)",
                       .series = s,
                       .nseries = 2,
                       .fixed_y = true,
                       .ylo = 0,
                       .yhi = 1.02};
    fv__draw_panel(p, cr, 0, 0, 900, 640, &panel, "add");
    return fv__picture_end(p, cr, "the ADD(-S) accuracy curve");
}

#define TILE    256 /* the target side of each image in pixels */
#define GAP     12
#define CAPTION 22

/* A model point x through pose p and K to tile coordinates; false when it is not in front. */
static bool project(const fv_pose *p, const double K[9], const double x[3], double ox, double oy,
                    double s, double *u, double *v)
{
    double c[3];
    for (int i = 0; i < 3; i++)
        c[i] = p->R[i * 3] * x[0] + p->R[i * 3 + 1] * x[1] + p->R[i * 3 + 2] * x[2] + p->t[i];
    if (!(c[2] > 1e-6)) return false;
    /* pixel (0, 0)'s centre is at (0.5, 0.5)·s from the tile's corner */
    *u = ox + (K[0] * c[0] / c[2] + K[1] * c[1] / c[2] + K[2] + 0.5) * s;
    *v = oy + (K[4] * c[1] / c[2] + K[5] + 0.5) * s;
    return isfinite(*u) && isfinite(*v);
}

static void line3(cairo_t *cr, const fv_pose *p, const double K[9], const double a[3],
                  const double b[3], double ox, double oy, double s)
{
    double ua, va, ub, vb;
    if (!project(p, K, a, ox, oy, s, &ua, &va) || !project(p, K, b, ox, oy, s, &ub, &vb)) return;
    cairo_move_to(cr, ua, va);
    cairo_line_to(cr, ub, vb);
    cairo_stroke(cr);
}

/* The box (min, size) as 12 edges in colour c, then the axes from the origin: x red, y green, z
 * blue, each half the box's largest side long. */
static void draw_pose(cairo_t *cr, const fv_pose *p, const double K[9], const double min[3],
                      const double size[3], fv__rgb c, double ox, double oy, double s)
{
    double corner[8][3];
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < 3; j++)
            corner[k][j] = min[j] + ((k >> j) & 1 ? size[j] : 0);
    cairo_save(cr);
    cairo_set_line_width(cr, 2);
    fv__set_rgb(cr, c);
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < 3; j++)
            if (!((k >> j) & 1)) line3(cr, p, K, corner[k], corner[k | (1 << j)], ox, oy, s);
    double len = fmax(size[0], fmax(size[1], size[2])) / 2;
    static const double colours[3][3] = {{0.9, 0.1, 0.1}, {0.1, 0.75, 0.1}, {0.15, 0.3, 1}};
    const double o[3] = {0, 0, 0};
    cairo_set_line_width(cr, 3);
    for (int j = 0; j < 3; j++) {
        double e[3] = {0, 0, 0};
        e[j] = len;
        cairo_set_source_rgb(cr, colours[j][0], colours[j][1], colours[j][2]);
        line3(cr, p, K, o, e, ox, oy, s);
    }
    cairo_restore(cr);
}

fv_picture *fv_plot_poses(const fv_pose_view *v, int64_t n, const double min[3],
                          const double size[3])
{
    if (!v || n < 1 || n > 64 || !min || !size) {
        fv__fail(FV_ERR_INVALID, "pose picture: 1 to 64 images can be drawn, %lld asked for",
                 (long long)n);
        return NULL;
    }
    bool any_gt = false;
    int cell = TILE;
    for (int64_t q = 0; q < n; q++) {
        if (!v[q].pixels || v[q].height < 1 || v[q].width < 1 ||
            (v[q].channels != 1 && v[q].channels != 3)) {
            fv__fail(FV_ERR_INVALID,
                     "pose picture: image %lld has no pixels, or not 1 or 3 "
                     "channels",
                     (long long)q);
            return NULL;
        }
        any_gt |= v[q].gt != NULL;
        const int64_t side = v[q].width > v[q].height ? v[q].width : v[q].height;
        const int s = side >= TILE ? 1 : (int)(TILE / side);
        if (side * s > cell) cell = (int)(side * s);
    }
    if (cell > 2048) {
        fv__fail(FV_ERR_INVALID, "pose picture: images larger than 2048 pixels");
        return NULL;
    }
    /* with a true pose: the estimate and the truth side by side, two images a row */
    const int per = any_gt ? 2 : 1;
    const int64_t views_per_row = any_gt ? (n < 2 ? n : 2) : (n < 4 ? n : 4);
    const int64_t rows = (n + views_per_row - 1) / views_per_row;
    const int W = (int)(views_per_row * per * (cell + GAP) + GAP),
              H = (int)(rows * (cell + GAP + CAPTION) + GAP);
    cairo_t *cr;
    fv_picture *p = fv__picture_new(W, H, &cr);
    if (!p) return NULL;
    for (int64_t q = 0; q < n; q++) {
        const fv_pose_view *x = &v[q];
        const int64_t side = x->width > x->height ? x->width : x->height;
        const int s = side >= TILE ? 1 : (int)(TILE / side);
        for (int k = 0; k < per; k++) {
            const fv_pose *pose = k == 0 ? x->est : x->gt;
            const int ox = (int)(GAP + ((q % views_per_row) * per + k) * (cell + GAP)),
                      oy = (int)(GAP + (q / views_per_row) * (cell + GAP + CAPTION));
            if (!fv__draw_tile_u8(cr, ox, oy, x->pixels, x->height, x->width, x->channels, s)) {
                fv__fail(FV_ERR_NOMEM, "pose picture: out of memory");
                cairo_destroy(cr);
                fv_picture_free(p);
                return NULL;
            }
            char name[32];
            snprintf(name, sizeof name, "%s%lld", k ? "true" : "estimate", (long long)q);
            fv__picture_region(p, name, ox, oy, (double)(x->width * s), (double)(x->height * s), 0,
                               0, 0, 0);
            cairo_save(cr);
            cairo_rectangle(cr, ox, oy, (double)(x->width * s), (double)(x->height * s));
            cairo_clip(cr);
            if (pose)
                draw_pose(cr, pose, x->K, min, size, k ? fv__hex(0x2ca02c) : fv__hex(0xff7f0e), ox,
                          oy, s);
            cairo_restore(cr);
            char text[160];
            snprintf(text, sizeof text, "%s: %.100s",
                     k      ? "true"
                     : pose ? "estimate"
                            : "no estimate",
                     x->caption ? x->caption : "");
            if (k && !pose) snprintf(text, sizeof text, "true pose unknown");
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            fv__text(cr, ox, oy + cell + 4, text, 12, false, FV__LEFT, FV__TOP, 0);
        }
    }
    return fv__picture_end(p, cr, "the pose picture");
}
