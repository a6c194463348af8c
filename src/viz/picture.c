/* picture.c — the picture object: drawing goes into a cairo recording surface once, and is
 * replayed into a PNG (image surface) or an SVG (SVG surface) when written, so every picture
 * comes in both formats from one piece of drawing code. Also text, colour maps and tiles.
 */
#include "viz/viz.h"

#include "io/io.h"

#include <cairo-svg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the picture ----------------------------------------------------------------------------- */

/* Pictures larger than this are refused rather than allocated (a 64-megapixel PNG is already
 * far past anything a screen shows). */
#define FV__MAX_SIDE   16384
#define FV__MAX_PIXELS ((int64_t)64 << 20)

fv_picture *fv__picture_new(int w, int h, cairo_t **cr)
{
    *cr = NULL;
    if (w < 1 || h < 1 || w > FV__MAX_SIDE || h > FV__MAX_SIDE || (int64_t)w * h > FV__MAX_PIXELS) {
        fv__fail(FV_ERR_INVALID,
                 "a picture of %d x %d pixels is too large (at most %d per side, "
                 "%lld pixels)",
                 w, h, FV__MAX_SIDE, (long long)FV__MAX_PIXELS);
        return NULL;
    }
    fv_picture *p = calloc(1, sizeof *p);
    if (!p) {
        fv__fail(FV_ERR_NOMEM, "out of memory for a picture");
        return NULL;
    }
    cairo_rectangle_t extents = {0, 0, w, h};
    p->rec = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extents);
    p->width = w;
    p->height = h;
    cairo_t *c = cairo_create(p->rec);
    if (cairo_status(c) != CAIRO_STATUS_SUCCESS) {
        fv__fail(FV_ERR_NOMEM, "cannot start a picture: %s",
                 cairo_status_to_string(cairo_status(c)));
        cairo_destroy(c);
        fv_picture_free(p);
        return NULL;
    }
    cairo_set_source_rgb(c, 1, 1, 1);
    cairo_paint(c);
    cairo_set_line_join(c, CAIRO_LINE_JOIN_ROUND);
    *cr = c;
    return p;
}

fv_picture *fv__picture_end(fv_picture *p, cairo_t *cr, const char *what)
{
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(p->rec);
    if (st != CAIRO_STATUS_SUCCESS) {
        fv__fail(st == CAIRO_STATUS_NO_MEMORY ? FV_ERR_NOMEM : FV_ERR_INVALID,
                 "drawing %s failed: %s", what, cairo_status_to_string(st));
        fv_picture_free(p);
        return NULL;
    }
    return p;
}

void fv__picture_region(fv_picture *p, const char *name, double x, double y, double w, double h,
                        double x0, double x1, double y0, double y1)
{
    if (p->nregions == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        fv__region *r = realloc(p->regions, (size_t)cap * sizeof *r);
        if (!r) return;
        p->regions = r;
        p->cap = cap;
    }
    fv__region *r = &p->regions[p->nregions++];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->x = x, r->y = y, r->w = w, r->h = h;
    r->x0 = x0, r->x1 = x1, r->y0 = y0, r->y1 = y1;
}

const fv__region *fv__picture_find(const fv_picture *p, const char *name)
{
    for (int i = 0; p && i < p->nregions; i++)
        if (strcmp(p->regions[i].name, name) == 0) return &p->regions[i];
    return NULL;
}

void fv_picture_free(fv_picture *p)
{
    if (!p) return;
    if (p->rec) cairo_surface_destroy(p->rec);
    free(p->regions);
    free(p);
}

int fv_picture_width(const fv_picture *p)
{
    return p ? p->width : 0;
}

int fv_picture_height(const fv_picture *p)
{
    return p ? p->height : 0;
}

/* ---- encoding -------------------------------------------------------------------------------- */

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    bool failed;
} membuf;

static cairo_status_t membuf_write(void *closure, const unsigned char *data, unsigned int length)
{
    membuf *b = closure;
    if (b->failed) return CAIRO_STATUS_WRITE_ERROR;
    if (b->len + length + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + length + 1) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return CAIRO_STATUS_NO_MEMORY;
            }
            cap *= 2;
        }
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return CAIRO_STATUS_NO_MEMORY;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, length);
    b->len += length;
    b->data[b->len] = '\0';
    return CAIRO_STATUS_SUCCESS;
}

/* Replays the recording onto target at the origin. */
static cairo_status_t replay(const fv_picture *p, cairo_surface_t *target)
{
    cairo_t *cr = cairo_create(target);
    cairo_set_source_surface(cr, p->rec, 0, 0);
    cairo_paint(cr);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    return st;
}

static bool is_format(const char *format, const char *name)
{
    return format && strcasecmp(format, name) == 0;
}

fv_status fv_picture_encode(const fv_picture *p, const char *format, unsigned char **data,
                            size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!p) return fv__fail(FV_ERR_INVALID, "no picture to encode");
    membuf b = {0};
    cairo_status_t st;
    if (is_format(format, "png")) {
        /* Opaque: RGB24 gives a smaller file than ARGB32 and the same pixels. */
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, p->width, p->height);
        st = cairo_surface_status(img);
        if (st == CAIRO_STATUS_SUCCESS) st = replay(p, img);
        if (st == CAIRO_STATUS_SUCCESS)
            st = cairo_surface_write_to_png_stream(img, membuf_write, &b);
        cairo_surface_destroy(img);
    } else if (is_format(format, "svg")) {
        cairo_surface_t *svg =
            cairo_svg_surface_create_for_stream(membuf_write, &b, p->width, p->height);
        cairo_svg_surface_set_document_unit(svg, CAIRO_SVG_UNIT_PX);
        st = cairo_surface_status(svg);
        if (st == CAIRO_STATUS_SUCCESS) st = replay(p, svg);
        cairo_surface_finish(svg);
        if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(svg);
        cairo_surface_destroy(svg);
    } else {
        return fv__fail(FV_ERR_INVALID, "unknown picture format '%s' (known: png, svg)",
                        format ? format : "");
    }
    if (st != CAIRO_STATUS_SUCCESS || b.failed) {
        free(b.data);
        return fv__fail(st == CAIRO_STATUS_NO_MEMORY || b.failed ? FV_ERR_NOMEM : FV_ERR_IO,
                        "cannot encode the picture as %s: %s", format, cairo_status_to_string(st));
    }
    *data = b.data;
    *len = b.len;
    return FV_OK;
}

/* "png" or "svg" from a file name's extension, NULL if neither. */
static const char *format_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return NULL;
    if (strcasecmp(dot, ".png") == 0) return "png";
    if (strcasecmp(dot, ".svg") == 0) return "svg";
    return NULL;
}

fv_status fv_picture_save(const fv_picture *p, const char *path)
{
    if (!path || !*path) return fv__fail(FV_ERR_INVALID, "no file name for the picture");
    const char *format = format_of(path);
    if (!format)
        return fv__fail(FV_ERR_INVALID, "%s: unknown picture format; name a .png or .svg file",
                        path);
    unsigned char *data;
    size_t len;
    fv_status s = fv_picture_encode(p, format, &data, &len);
    if (s != FV_OK) {
        fv__error_prefix("%s: ", path);
        return s;
    }
    fv_afile a;
    s = fv__afile_open(&a, path);
    if (s == FV_OK) {
        if (fwrite(data, 1, len, a.f) != len) {
            fv__afile_abort(&a);
            s = fv__fail(FV_ERR_IO, "%s: cannot write the picture", path);
        } else {
            s = fv__afile_commit(&a);
        }
    }
    free(data);
    return s;
}

/* ---- text ------------------------------------------------------------------------------------ */

static void set_font(cairo_t *cr, double size, bool bold)
{
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double fv__text_width(cairo_t *cr, const char *s, double size, bool bold)
{
    cairo_save(cr);
    set_font(cr, size, bold);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    cairo_restore(cr);
    return te.x_advance;
}

cairo_t *fv__measure(void)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(s);
    cairo_surface_destroy(s); /* the context keeps its own reference */
    return cr;
}

int fv__heading(cairo_t *cr, int x, const char *title, const char *caption, const char *note)
{
    int y = 16;
    if (cr) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        fv__text(cr, x, y, title, 20, true, FV__LEFT, FV__TOP, 0);
    }
    y += 28;
    if (caption && *caption) {
        if (cr) fv__text(cr, x, y, caption, 15, false, FV__LEFT, FV__TOP, 0);
        y += 22;
    }
    if (note) {
        if (cr) {
            cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
            fv__text(cr, x, y, note, 13, false, FV__LEFT, FV__TOP, 0);
        }
        y += 20;
    }
    return y;
}

double fv__text(cairo_t *cr, double x, double y, const char *s, double size, bool bold, int halign,
                int valign, double angle)
{
    cairo_save(cr);
    set_font(cr, size, bold);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double dx = halign == FV__CENTER ? -te.x_advance / 2 : halign == FV__RIGHT ? -te.x_advance : 0;
    /* Vertical anchors from the font's metrics, not the string's, so that labels of one row
     * share a baseline; the cap height of DejaVu Sans is about 0.73 em. */
    double dy = valign == FV__TOP      ? 0.76 * size
                : valign == FV__MIDDLE ? 0.365 * size
                : valign == FV__BOTTOM ? -fe.descent
                                       : 0;
    cairo_translate(cr, x, y);
    if (angle != 0) cairo_rotate(cr, angle * M_PI / 180);
    cairo_move_to(cr, dx, dy);
    cairo_show_text(cr, s);
    cairo_restore(cr);
    return te.x_advance;
}

/* ---- colours --------------------------------------------------------------------------------- */

fv__rgb fv__hex(unsigned v)
{
    return (fv__rgb){((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0};
}

void fv__set_rgb(cairo_t *cr, fv__rgb c)
{
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

fv__rgb fv__series_colour(int i)
{
    static const unsigned cycle[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b};
    return fv__hex(cycle[(unsigned)i % (sizeof cycle / sizeof cycle[0])]);
}

/* Piecewise-linear interpolation between stops at t_i with colours c_i (n stops, t ascending,
 * first 0, last 1). Exactly c_i at t_i. */
static fv__rgb interp(double t, const double *ts, const unsigned *cs, int n)
{
    if (!(t > 0)) return fv__hex(cs[0]); /* also NaN */
    if (t >= 1) return fv__hex(cs[n - 1]);
    int i = 0;
    while (i + 2 < n && t >= ts[i + 1])
        i++;
    double u = (t - ts[i]) / (ts[i + 1] - ts[i]);
    fv__rgb a = fv__hex(cs[i]), b = fv__hex(cs[i + 1]);
    return (fv__rgb){a.r + u * (b.r - a.r), a.g + u * (b.g - a.g), a.b + u * (b.b - a.b)};
}

fv__rgb fv__cmap_diverging(double t)
{
    /* ColorBrewer's RdBu, reversed, with a pure white centre. */
    static const double ts[] = {0, 0.2, 0.38, 0.5, 0.62, 0.8, 1};
    static const unsigned cs[] = {0x2166ac, 0x67a9cf, 0xd1e5f0, 0xffffff,
                                  0xfddbc7, 0xef8a62, 0xb2182b};
    return interp(t, ts, cs, 7);
}

fv__rgb fv__cmap_viridis(double t)
{
    static const double ts[] = {0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1};
    static const unsigned cs[] = {0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c,
                                  0x28ae80, 0x5ec962, 0xaddc30, 0xfde725};
    return interp(t, ts, cs, 9);
}

fv__rgb fv__cmap_grey(double t)
{
    double v = t > 0 ? (t < 1 ? t : 1) : 0;
    return (fv__rgb){v, v, v};
}

fv__rgb fv__cmap_blues(double t)
{
    static const double ts[] = {0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1};
    static const unsigned cs[] = {0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6,
                                  0x4292c6, 0x2171b5, 0x08519c, 0x08306b};
    return interp(t, ts, cs, 9);
}

fv__cmap fv__cmap_named(const char *name)
{
    if (!name || strcmp(name, "viridis") == 0) return fv__cmap_viridis;
    if (strcmp(name, "grey") == 0 || strcmp(name, "gray") == 0) return fv__cmap_grey;
    if (strcmp(name, "diverging") == 0) return fv__cmap_diverging;
    if (strcmp(name, "blues") == 0) return fv__cmap_blues;
    return NULL;
}

/* ---- tiles ----------------------------------------------------------------------------------- */

static uint32_t pack(fv__rgb c)
{
    uint32_t r = (uint32_t)lround(c.r * 255), g = (uint32_t)lround(c.g * 255),
             b = (uint32_t)lround(c.b * 255);
    return 0xff000000u | r << 16 | g << 8 | b;
}

bool fv__draw_tile(cairo_t *cr, int x, int y, const float *v, int64_t h, int64_t w, int64_t stride,
                   int scale, fv__cmap map, double lo, double hi)
{
    if (h < 1 || w < 1 || scale < 1 || h * scale > FV__MAX_SIDE || w * scale > FV__MAX_SIDE)
        return false;
    cairo_surface_t *img =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)(w * scale), (int)(h * scale));
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return false;
    }
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    int row_bytes = cairo_image_surface_get_stride(img);
    double range = hi - lo;
    for (int64_t i = 0; i < h; i++) {
        for (int64_t j = 0; j < w; j++) {
            const float *e = v + (i * w + j) * stride;
            uint32_t px;
            if (map) {
                double t = range > 0 ? ((double)e[0] - lo) / range : 0;
                px = isnan(e[0]) ? 0xff808080u : pack(map(t));
            } else {
                fv__rgb c;
                double *ch[3] = {&c.r, &c.g, &c.b};
                for (int k = 0; k < 3; k++) {
                    double t = range > 0 ? ((double)e[k] - lo) / range : 0;
                    *ch[k] = t > 0 ? (t < 1 ? t : 1) : 0;
                }
                px = pack(c);
            }
            for (int a = 0; a < scale; a++) {
                uint32_t *row = (uint32_t *)(data + (size_t)(i * scale + a) * (size_t)row_bytes);
                for (int b = 0; b < scale; b++)
                    row[j * scale + b] = px;
            }
        }
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_set_source_surface(cr, img, x, y);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, x, y, (double)(w * scale), (double)(h * scale));
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    return true;
}

void fv__frame(cairo_t *cr, int x, int y, int w, int h)
{
    cairo_save(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x - 0.5, y - 0.5, w + 1, h + 1);
    cairo_stroke(cr);
    cairo_restore(cr);
}
