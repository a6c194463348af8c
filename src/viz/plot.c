/* plot.c — line charts as matplotlib draws them by default: a framed plot area with nice ticks,
 * a light grid, a bold title, axis labels, lines in the default colour cycle and a legend in the
 * corner that hides the fewest points (matplotlib's loc='best'); and colour bars.
 */
#include "viz/viz.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int fv__nice_ticks(double lo, double hi, int target, double *ticks, int max, double *step)
{
    if (!(hi > lo)) hi = lo + 1;
    double rough = (hi - lo) / (target > 1 ? target : 1);
    double mag = pow(10, floor(log10(rough)));
    double f = rough / mag;
    double nice = f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10;
    double s = nice * mag;
    *step = s;
    int n = 0;
    for (double k = ceil(lo / s - 1e-9); n < max; k++) {
        double v = k * s;
        if (v > hi + 1e-9 * s) break;
        ticks[n++] = fabs(v) < 1e-12 * s ? 0 : v;
    }
    return n;
}

void fv__tick_label(char *buf, size_t n, double v, double step)
{
    /* The fewest decimals that write every multiple of the step exactly: 0 for 5 or 20, 1 for 2.5
     * (not "2, 5, 8"), 2 for 0.25, 3 for 0.025. */
    int decimals = 0;
    while (decimals < 8) {
        double scaled = step * pow(10, decimals);
        if (fabs(scaled - round(scaled)) <= 1e-6 * (scaled > 1 ? scaled : 1)) break;
        decimals++;
    }
    snprintf(buf, n, "%.*f", decimals, v);
    if (strspn(buf, "-0.") == strlen(buf) && buf[0] == '-') memmove(buf, buf + 1, strlen(buf));
}

/* ---- panels ---------------------------------------------------------------------------------- */

typedef struct frame {
    double px, py, pw, ph; /* plot area in pixels */
    double x0, x1, y0, y1; /* data range */
} frame;

static double to_px(const frame *f, double x)
{
    return f->px + (x - f->x0) / (f->x1 - f->x0) * f->pw;
}

static double to_py(const frame *f, double y)
{
    return f->py + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph;
}

/* Points of the series (and a few along each segment) inside the rectangle: how much of the
 * data a legend there would hide. */
static int covered(const frame *f, const fv__panel *panel, double rx, double ry, double rw,
                   double rh)
{
    int count = 0;
    for (int s = 0; s < panel->nseries; s++) {
        const fv__series *se = &panel->series[s];
        for (int64_t i = 0; i < se->n; i++) {
            int sub = i + 1 < se->n && !panel->scatter ? 8 : 1;
            for (int k = 0; k < sub; k++) {
                double u = (double)k / sub;
                double x = se->x[i], y = se->y[i];
                if (k) {
                    if (isnan(se->y[i + 1]) || isnan(y)) break;
                    x += u * (se->x[i + 1] - x);
                    y += u * (se->y[i + 1] - y);
                }
                if (isnan(y)) continue;
                double X = to_px(f, x), Y = to_py(f, y);
                if (X >= rx - 4 && X <= rx + rw + 4 && Y >= ry - 4 && Y <= ry + rh + 4) count++;
            }
        }
    }
    return count;
}

enum { LEGEND_GAP = 12 }; /* between the plot area and a legend right of it */
static const double legend_size = 13, legend_row = 20, legend_sample = 26, legend_pad = 8;

/* The legend box's size (0 × 0 when no series has a label). */
static void legend_box(cairo_t *cr, const fv__panel *panel, double *lw, double *lh)
{
    int entries = 0;
    double textw = 0;
    for (int s = 0; s < panel->nseries; s++) {
        if (!panel->series[s].label) continue;
        entries++;
        double w = fv__text_width(cr, panel->series[s].label, legend_size, false);
        if (w > textw) textw = w;
    }
    *lw = entries ? legend_pad + legend_sample + 8 + textw + legend_pad : 0;
    *lh = entries ? legend_pad + entries * legend_row - 4 + legend_pad : 0;
}

double fv__legend_width(cairo_t *cr, const fv__panel *panel, double *height)
{
    double lw, lh;
    legend_box(cr, panel, &lw, &lh);
    if (height) *height = lh > 0 ? lh + 1 : 0;
    return lw > 0 ? lw + 1 + LEGEND_GAP : 0;
}

static void draw_legend(fv_picture *p, cairo_t *cr, const frame *f, const fv__panel *panel,
                        const char *region_name)
{
    const double size = legend_size, row = legend_row, sample = legend_sample, pad = legend_pad;
    double lw, lh;
    legend_box(cr, panel, &lw, &lh);
    if (!(lw > 0)) return;
    /* Upper left first, as the seed's plots ask; then the other corners. */
    const double m = 8;
    double cx[4] = {f->px + m, f->px + f->pw - m - lw, f->px + m, f->px + f->pw - m - lw};
    double cy[4] = {f->py + m, f->py + m, f->py + f->ph - m - lh, f->py + f->ph - m - lh};
    int best = 0, best_count = -1;
    for (int c = 0; c < 4 && !panel->legend_right; c++) {
        int n = covered(f, panel, cx[c], cy[c], lw, lh);
        if (best_count < 0 || n < best_count) best = c, best_count = n;
    }
    double x = cx[best], y = cy[best];
    if (panel->legend_right) x = f->px + f->pw + LEGEND_GAP, y = f->py;
    if (region_name) {
        char name[96];
        snprintf(name, sizeof name, "%s legend", region_name);
        fv__picture_region(p, name, x, y, lw + 1, lh + 1, 0, 0, 0, 0);
    }
    cairo_save(cr);
    cairo_rectangle(cr, x + 0.5, y + 0.5, lw, lh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    double yy = y + pad + row / 2 - 2;
    for (int s = 0; s < panel->nseries; s++) {
        const fv__series *se = &panel->series[s];
        if (!se->label) continue;
        fv__set_rgb(cr, se->colour);
        cairo_set_line_width(cr, 2);
        if (se->dashed) {
            const double dash[] = {6, 4};
            cairo_set_dash(cr, dash, 2, 0);
        }
        if (!panel->scatter) {
            cairo_move_to(cr, x + pad, yy);
            cairo_line_to(cr, x + pad + sample, yy);
            cairo_stroke(cr);
        }
        cairo_set_dash(cr, NULL, 0, 0);
        if (se->markers || panel->scatter) {
            cairo_arc(cr, x + pad + sample / 2, yy, 3.5, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        fv__text(cr, x + pad + sample + 8, yy, se->label, size, false, FV__LEFT, FV__MIDDLE, 0);
        yy += row;
    }
    cairo_restore(cr);
}

/* The data range of the panel's series: x over every point, y over the finite values. */
static void data_range(const fv__panel *panel, double *xlo, double *xhi, double *ylo, double *yhi)
{
    *xlo = INFINITY, *xhi = -INFINITY, *ylo = INFINITY, *yhi = -INFINITY;
    for (int s = 0; s < panel->nseries; s++) {
        const fv__series *se = &panel->series[s];
        for (int64_t i = 0; i < se->n; i++) {
            if (se->x[i] < *xlo) *xlo = se->x[i];
            if (se->x[i] > *xhi) *xhi = se->x[i];
            if (!isfinite(se->y[i])) continue;
            if (se->y[i] < *ylo) *ylo = se->y[i];
            if (se->y[i] > *yhi) *yhi = se->y[i];
        }
    }
    if (!(*xlo <= *xhi)) *xlo = 0, *xhi = 1;
    if (!(*ylo <= *yhi)) *ylo = 0, *yhi = 1;
}

void fv__draw_panel(fv_picture *p, cairo_t *cr, double x, double y, double w, double h,
                    const fv__panel *panel, const char *region_name)
{
    const double title_size = 17, label_size = 14, tick_size = 12;
    double xlo, xhi, ylo, yhi;
    data_range(panel, &xlo, &xhi, &ylo, &yhi);
    if (panel->include) {
        xlo = fmin(xlo, panel->inc_lo), xhi = fmax(xhi, panel->inc_hi);
        ylo = fmin(ylo, panel->inc_lo), yhi = fmax(yhi, panel->inc_hi);
    }
    /* matplotlib's margins: 5% of the range on each side; a flat line gets a unit-sized band. */
    if (xhi - xlo <= 0) xlo -= 0.5, xhi += 0.5;
    double xpad = 0.05 * (xhi - xlo);
    xlo -= xpad, xhi += xpad;
    if (panel->fixed_y) {
        ylo = panel->ylo, yhi = panel->yhi;
    } else {
        if (yhi - ylo <= 0) {
            double d = fabs(ylo) > 0 ? 0.05 * fabs(ylo) : 0.5;
            ylo -= d, yhi += d;
        }
        double ypad = 0.05 * (yhi - ylo);
        ylo -= ypad, yhi += ypad;
    }

    double yt[16], xt[32], ystep, xstep;
    int nyt = fv__nice_ticks(ylo, yhi, 6, yt, 16, &ystep);
    int nxt = fv__nice_ticks(xlo, xhi, 8, xt, 32, &xstep);
    if (panel->integer_x && xstep < 1) {
        /* Epochs are whole: no tick at 1.5. */
        nxt = 0;
        for (double v = ceil(xlo); v <= xhi && nxt < 32; v++)
            xt[nxt++] = v;
        xstep = 1;
    }
    double ywidth = 0;
    char buf[64];
    for (int i = 0; i < nyt; i++) {
        fv__tick_label(buf, sizeof buf, yt[i], ystep);
        double tw = fv__text_width(cr, buf, tick_size, false);
        if (tw > ywidth) ywidth = tw;
    }

    frame f;
    f.px = round(x + 10 + label_size + 8 + ywidth + 8);
    f.py = round(y + 12 + title_size + 14);
    f.pw = round(x + w - 14 - (panel->legend_right ? fv__legend_width(cr, panel, NULL) : 0) - f.px);
    f.ph = round(y + h - (tick_size + 8 + label_size + 14) - f.py);
    f.x0 = xlo, f.x1 = xhi, f.y0 = ylo, f.y1 = yhi;
    if (region_name)
        fv__picture_region(p, region_name, f.px, f.py, f.pw, f.ph, f.x0, f.x1, f.y0, f.y1);

    cairo_save(cr);
    /* Title and axis labels. */
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (panel->title)
        fv__text(cr, f.px + f.pw / 2, y + 12, panel->title, title_size, true, FV__CENTER, FV__TOP,
                 0);
    if (panel->xlabel)
        fv__text(cr, f.px + f.pw / 2, y + h - 10, panel->xlabel, label_size, false, FV__CENTER,
                 FV__BOTTOM, 0);
    if (panel->ylabel)
        fv__text(cr, x + 10, f.py + f.ph / 2, panel->ylabel, label_size, false, FV__CENTER, FV__TOP,
                 -90);

    /* Grid and ticks. */
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < nyt; i++) {
        double Y = round(to_py(&f, yt[i])) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, f.px, Y);
        cairo_line_to(cr, f.px + f.pw, Y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, f.px - 5, Y);
        cairo_line_to(cr, f.px, Y);
        cairo_stroke(cr);
        fv__tick_label(buf, sizeof buf, yt[i], ystep);
        fv__text(cr, f.px - 8, Y, buf, tick_size, false, FV__RIGHT, FV__MIDDLE, 0);
    }
    for (int i = 0; i < nxt; i++) {
        double X = round(to_px(&f, xt[i])) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, X, f.py);
        cairo_line_to(cr, X, f.py + f.ph);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, X, f.py + f.ph);
        cairo_line_to(cr, X, f.py + f.ph + 5);
        cairo_stroke(cr);
        fv__tick_label(buf, sizeof buf, xt[i], xstep);
        fv__text(cr, X, f.py + f.ph + 8, buf, tick_size, false, FV__CENTER, FV__TOP, 0);
    }
    if (panel->zero_axes) {
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        if (ylo < 0 && yhi > 0) {
            double Y = round(to_py(&f, 0)) + 0.5;
            cairo_move_to(cr, f.px, Y);
            cairo_line_to(cr, f.px + f.pw, Y);
            cairo_stroke(cr);
        }
        if (xlo < 0 && xhi > 0) {
            double X = round(to_px(&f, 0)) + 0.5;
            cairo_move_to(cr, X, f.py);
            cairo_line_to(cr, X, f.py + f.ph);
            cairo_stroke(cr);
        }
    }

    /* Lines, clipped to the plot area. */
    cairo_save(cr);
    cairo_rectangle(cr, f.px, f.py, f.pw, f.ph);
    cairo_clip(cr);
    for (int s = 0; s < panel->nseries; s++) {
        const fv__series *se = &panel->series[s];
        fv__set_rgb(cr, se->colour);
        cairo_set_line_width(cr, 2.2);
        if (se->dashed) {
            const double dash[] = {7, 4};
            cairo_set_dash(cr, dash, 2, 0);
        }
        bool pen = false;
        for (int64_t i = 0; i < se->n && !panel->scatter; i++) {
            if (!isfinite(se->y[i])) {
                pen = false;
                continue;
            }
            double X = to_px(&f, se->x[i]), Y = to_py(&f, se->y[i]);
            if (pen)
                cairo_line_to(cr, X, Y);
            else
                cairo_move_to(cr, X, Y);
            pen = true;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (se->markers || panel->scatter)
            for (int64_t i = 0; i < se->n; i++) {
                if (!isfinite(se->y[i])) continue;
                cairo_arc(cr, to_px(&f, se->x[i]), to_py(&f, se->y[i]), panel->scatter ? 1.6 : 3.5,
                          0, 2 * M_PI);
                cairo_fill(cr);
            }
    }
    cairo_restore(cr);

    /* The frame last, over the ends of the lines. */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, f.px + 0.5, f.py + 0.5, f.pw - 1, f.ph - 1);
    cairo_stroke(cr);
    draw_legend(p, cr, &f, panel, region_name);
    cairo_restore(cr);
}

/* ---- colour bars ----------------------------------------------------------------------------- */

void fv__draw_colourbar(cairo_t *cr, double x, double y, double w, double h, fv__cmap map,
                        double lo, double hi, const char *label)
{
    const double tick_size = 12;
    bool vertical = h >= w;
    cairo_save(cr);
    cairo_pattern_t *g = vertical ? cairo_pattern_create_linear(0, y + h, 0, y)
                                  : cairo_pattern_create_linear(x, 0, x + w, 0);
    for (int i = 0; i <= 64; i++) {
        fv__rgb c = map(i / 64.0);
        cairo_pattern_add_color_stop_rgb(g, i / 64.0, c.r, c.g, c.b);
    }
    cairo_rectangle(cr, x, y, w, h);
    cairo_set_source(cr, g);
    cairo_fill(cr);
    cairo_pattern_destroy(g);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, round(x) + 0.5, round(y) + 0.5, round(w) - 1, round(h) - 1);
    cairo_stroke(cr);

    double ticks[16], step;
    int n = fv__nice_ticks(lo, hi, vertical ? 6 : 5, ticks, 16, &step);
    char buf[64];
    for (int i = 0; i < n; i++) {
        double u = hi > lo ? (ticks[i] - lo) / (hi - lo) : 0.5;
        fv__tick_label(buf, sizeof buf, ticks[i], step);
        if (vertical) {
            double Y = round(y + h - u * h) + 0.5;
            cairo_move_to(cr, x + w, Y);
            cairo_line_to(cr, x + w + 5, Y);
            cairo_stroke(cr);
            fv__text(cr, x + w + 8, Y, buf, tick_size, false, FV__LEFT, FV__MIDDLE, 0);
        } else {
            double X = round(x + u * w) + 0.5;
            cairo_move_to(cr, X, y + h);
            cairo_line_to(cr, X, y + h + 5);
            cairo_stroke(cr);
            fv__text(cr, X, y + h + 8, buf, tick_size, false, FV__CENTER, FV__TOP, 0);
        }
    }
    if (label) {
        if (vertical)
            fv__text(cr, x + w / 2, y - 8, label, 13, false, FV__CENTER, FV__BOTTOM, 0);
        else
            fv__text(cr, x + w / 2, y - 6, label, 13, false, FV__CENTER, FV__BOTTOM, 0);
    }
    cairo_restore(cr);
}
