/* viz.h — the pictures module's own parts: the picture object (a cairo recording, replayed into
 * PNG or SVG), text, colour maps, nice axis ticks, line-chart panels and image tiles. Every
 * drawing file of src/viz builds on these; nothing here is public.
 */
#ifndef FV_VIZ_H
#define FV_VIZ_H

#include "core/core.h"

#include <cairo.h>
#include <stdbool.h>
#include <stdint.h>

/* A named rectangle of a picture, kept so that tests can find a tile or a plot area without
 * re-deriving the layout: (x, y, w, h) in pixels; for a plot area, the data range it shows
 * (x0..x1 left to right, y0..y1 bottom to top). */
typedef struct fv__region {
    char name[64];
    double x, y, w, h;
    double x0, x1, y0, y1;
} fv__region;

struct fv_picture {
    cairo_surface_t *rec; /* recording surface bounded to width × height */
    int width, height;
    fv__region *regions;
    int nregions, cap;
};

/* A new picture of w × h pixels, white, and a context to draw on it (*cr). NULL on failure. */
fv_picture *fv__picture_new(int w, int h, cairo_t **cr);
/* Ends drawing: destroys cr, checks cairo's status. On failure frees p and returns NULL with a
 * message naming what was drawn. */
fv_picture *fv__picture_end(fv_picture *p, cairo_t *cr, const char *what);
/* Remembers a region (see above); a failed allocation only loses the region. */
void fv__picture_region(fv_picture *p, const char *name, double x, double y, double w, double h,
                        double x0, double x1, double y0, double y1);
/* The region named name, or NULL. */
const fv__region *fv__picture_find(const fv_picture *p, const char *name);

/* ---- text ---------------------------------------------------------------------------------- */

enum { FV__LEFT = 0, FV__CENTER = 1, FV__RIGHT = 2 };
enum { FV__TOP = 0, FV__MIDDLE = 1, FV__BASELINE = 2, FV__BOTTOM = 3 };

/* Draws s (UTF-8) in DejaVu Sans at size px, anchored at (x, y) by halign/valign, in the
 * current source colour. angle: 0 or -90 (reading upwards). Returns the text width. */
double fv__text(cairo_t *cr, double x, double y, const char *s, double size, bool bold, int halign,
                int valign, double angle);
double fv__text_width(cairo_t *cr, const char *s, double size, bool bold);
/* A context on a 1 × 1 surface, for measuring text before a picture's size is known. Destroy it
 * with cairo_destroy. */
cairo_t *fv__measure(void);

/* A picture's heading from (x, 16) down: its title (20 px, bold, black), the caption (15 px; none
 * when NULL or "") and a note (13 px, grey; none when NULL). Returns the y below the last line
 * drawn (a note's line included). With cr NULL it only measures. */
int fv__heading(cairo_t *cr, int x, const char *title, const char *caption, const char *note);

/* ---- colours ------------------------------------------------------------------------------- */

typedef struct fv__rgb {
    double r, g, b;
} fv__rgb;

/* A colour map: t in [0, 1] (clamped) to a colour. */
typedef fv__rgb (*fv__cmap)(double t);
/* Blue (t = 0) through white (t = 0.5 exactly) to red (t = 1): values of either sign. */
fv__rgb fv__cmap_diverging(double t);
/* matplotlib's viridis: dark purple to yellow. */
fv__rgb fv__cmap_viridis(double t);
fv__rgb fv__cmap_grey(double t);
/* White to dark blue (matplotlib's Blues). */
fv__rgb fv__cmap_blues(double t);
/* The map of a name ("viridis", "grey"/"gray", "diverging", "blues"), NULL if unknown. */
fv__cmap fv__cmap_named(const char *name);

void fv__set_rgb(cairo_t *cr, fv__rgb c);
fv__rgb fv__hex(unsigned v);
/* The two line colours of matplotlib's default cycle (tab:blue, tab:orange) and the rest. */
fv__rgb fv__series_colour(int i);
/* matplotlib's tab10 cycle (ten colours), for one colour per class: src/viz/detections.c. */
fv__rgb fv__tab10(int64_t i);

/* ---- axes ---------------------------------------------------------------------------------- */

/* Up to max "nice" tick values (1, 2, 2.5, 5 × 10^k steps) covering [lo, hi], about target of
 * them. Returns the count; *step receives the step. */
int fv__nice_ticks(double lo, double hi, int target, double *ticks, int max, double *step);
/* A tick label with just enough decimals for step. */
void fv__tick_label(char *buf, size_t n, double v, double step);

typedef struct fv__series {
    const double *x, *y; /* n points; NaN y breaks the line */
    int64_t n;
    const char *label; /* legend text, NULL for none */
    fv__rgb colour;
    bool dashed;
    bool markers; /* a dot on every point */
} fv__series;

typedef struct fv__panel {
    const char *title, *xlabel, *ylabel;
    const fv__series *series;
    int nseries;
    bool integer_x; /* x ticks at whole numbers only (epochs) */
    bool zero_axes; /* darker lines at x = 0 and y = 0 */
    bool fixed_y;   /* use ylo..yhi instead of the data's range */
    double ylo, yhi;
    bool scatter; /* every series as small dots, no lines: a scatter plot */
    /* Widen the data's range on both axes to hold [inc_lo, inc_hi] (a marked region, such as
     * the VAE's manifold square, drawn over the plot afterwards). */
    bool include;
    double inc_lo, inc_hi;
    /* The legend in a column right of the plot area, its top at the area's top (matplotlib's
     * legend(bbox_to_anchor=(1.02, 1), loc='upper left')), covering no point: the plot area is
     * fv__legend_width narrower than without. */
    bool legend_right;
} fv__panel;

/* The width a legend right of the plot area takes (its box and the gap before it), 0 when no
 * series has a label; *height (when not NULL) receives the box's height. */
double fv__legend_width(cairo_t *cr, const fv__panel *panel, double *height);

/* Draws a line chart into the box (x, y, w, h): title, axes, ticks, grid, lines, legend (in
 * the corner where it covers the fewest points). The plot area is recorded in p's regions
 * under region_name (if not NULL). */
void fv__draw_panel(fv_picture *p, cairo_t *cr, double x, double y, double w, double h,
                    const fv__panel *panel, const char *region_name);

/* The training curves' panel title and y label of a history column: "loss" gives "Model loss"
 * and "Loss", "kl_loss" "Model KL loss" and "KL loss", a GAN's "d_loss" "Discriminator loss" and
 * "d_loss". Truncated to tn and yn bytes. */
void fv__metric_names(const char *name, char *title, size_t tn, char *ylabel, size_t yn);

/* A horizontal or vertical colour bar for values lo..hi with ticks, in the box (x, y, w, h). */
void fv__draw_colourbar(cairo_t *cr, double x, double y, double w, double h, fv__cmap map,
                        double lo, double hi, const char *label);

/* ---- tiles --------------------------------------------------------------------------------- */

/* An h × w image whose pixel (i, j) is v[(i·w + j)·stride], drawn through map with lo..hi
 * mapped to 0..1, each value a scale × scale block, at integer (x, y): pixel-exact in PNG.
 * lo == hi draws the map's 0. With rgb (stride ≥ 3 apart from channels), pass map NULL and
 * the three channels at v[..], v[..+1], v[..+2] scaled by lo..hi. Returns false when cairo could
 * not allocate the tile. */
bool fv__draw_tile(cairo_t *cr, int x, int y, const float *v, int64_t h, int64_t w, int64_t stride,
                   int scale, fv__cmap map, double lo, double hi);
/* An image of uint8 pixels (h × w × channels, 1: grey, 3: RGB; 0..255) as fv__draw_tile draws
 * it. Returns false when out of memory or too large. */
bool fv__draw_tile_u8(cairo_t *cr, int x, int y, const uint8_t *px, int64_t h, int64_t w,
                      int channels, int scale);

/* A thin grey frame just outside an integer rectangle. */
void fv__frame(cairo_t *cr, int x, int y, int w, int h);

#endif
