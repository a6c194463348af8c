/* confusion.c — a classifier's confusion matrix as scikit-learn's ConfusionMatrixDisplay draws it
 * (true label down, predicted label across, counts in the cells), coloured by the fraction of
 * each true class so that classes of different sizes compare, beside the per-class table of
 * classification_report (precision, recall, F1, support, and the averages).
 */
#include "viz/viz.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MARGIN 24

static void class_label(char *buf, size_t n, const char *const *names, int64_t c)
{
    if (names && names[c])
        snprintf(buf, n, "%s", names[c]);
    else
        snprintf(buf, n, "%lld", (long long)c);
}

static double metric(const fv_metrics *m, const char *fmt, int64_t c)
{
    char name[64];
    snprintf(name, sizeof name, fmt, (long long)c);
    return fv_metrics_get(m, name);
}

static void format_value(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.3f", v);
}

/* Black or white text, whichever reads on the background. */
static void text_colour_on(cairo_t *cr, fv__rgb bg)
{
    double lum = 0.2126 * bg.r + 0.7152 * bg.g + 0.0722 * bg.b;
    if (lum < 0.5)
        cairo_set_source_rgb(cr, 1, 1, 1);
    else
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
}

fv_picture *fv_plot_confusion(const fv_metrics *m, const char *const *class_names,
                              const char *title)
{
    if (!m) {
        fv__fail(FV_ERR_INVALID, "no metrics to draw");
        return NULL;
    }
    int64_t k = 0;
    const int64_t *cm = fv_metrics_confusion(m, &k);
    if (!cm || fv_metrics_is_regression(m)) {
        fv__fail(FV_ERR_INVALID, "a regression model has no confusion matrix");
        return NULL;
    }
    if (k > 200) {
        fv__fail(FV_ERR_INVALID, "%lld classes are too many for one confusion matrix picture",
                 (long long)k);
        return NULL;
    }
    const int cell = k <= 6 ? 64 : k <= 12 ? 52 : k <= 24 ? 34 : (int)fmax(8, 720 / (double)k);
    const double count_size = fmin(15, fmax(8, cell * 0.27));

    /* Widest count and class label, for the margins. */
    cairo_t *mc = fv__measure();
    double label_w = 0, count_w = 0;
    char buf[128];
    for (int64_t c = 0; c < k; c++) {
        class_label(buf, sizeof buf, class_names, c);
        double w = fv__text_width(mc, buf, 12, false);
        if (w > label_w) label_w = w;
    }
    for (int64_t i = 0; i < k * k; i++) {
        snprintf(buf, sizeof buf, "%lld", (long long)cm[i]);
        double w = fv__text_width(mc, buf, count_size, false);
        if (w > count_w) count_w = w;
    }
    const bool counts = count_w + 4 <= cell && cell >= 18;
    /* Column labels upright when they fit in a cell, else rotated 45 degrees. */
    const bool rotate = label_w + 4 > cell;
    const double col_label_h = rotate ? label_w * 0.72 + 12 : 20;
    char default_title[160];
    if (!title) {
        snprintf(default_title, sizeof default_title,
                 "Confusion matrix: %lld samples, accuracy %.4f", (long long)fv_metrics_samples(m),
                 fv_metrics_get(m, "accuracy"));
        title = default_title;
    }
    double title_w = fv__text_width(mc, title, 18, true);

    /* The table: class, precision, recall, f1-score, support. */
    static const char *const heads[] = {"precision", "recall", "f1-score", "support"};
    double name_col = fv__text_width(mc, "weighted avg", 13, false);
    for (int64_t c = 0; c < k; c++) {
        class_label(buf, sizeof buf, class_names, c);
        double w = fv__text_width(mc, buf, 13, false);
        if (w > name_col) name_col = w;
    }
    name_col += 16;
    const double val_col = 80, row_h = k <= 30 ? 22 : 16;
    cairo_destroy(mc);

    const double top = 16 + 30 + 22;
    const double mx = MARGIN + 22 + label_w + 10; /* "True label", class names, the matrix */
    const double my = top;
    const double mw = (double)k * cell, mh = (double)k * cell;
    const double bar_x = mx + mw + 18;
    const double table_x = bar_x + 16 + 56 + 40;
    const double table_w = name_col + 4 * val_col;
    const double table_h = (double)(k + 5) * row_h;
    int width = (int)ceil(table_x + table_w + MARGIN);
    if (width < title_w + 2 * MARGIN) width = (int)ceil(title_w + 2 * MARGIN);
    double bottom = my + mh + 8 + col_label_h + 26;
    if (my + table_h + 10 > bottom) bottom = my + table_h + 10;
    int height = (int)ceil(bottom + MARGIN / 2.0);

    cairo_t *cr;
    fv_picture *p = fv__picture_new(width, height, &cr);
    if (!p) return NULL;
    cairo_set_source_rgb(cr, 0, 0, 0);
    fv__text(cr, MARGIN, 16, title, 18, true, FV__LEFT, FV__TOP, 0);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    fv__text(cr, MARGIN, 44,
             "rows: true class, columns: predicted class; colour: the fraction of the row", 13,
             false, FV__LEFT, FV__TOP, 0);
    fv__picture_region(p, "matrix", mx, my, mw, mh, 0, (double)k, 0, (double)k);

    for (int64_t r = 0; r < k; r++) {
        int64_t total = 0;
        for (int64_t c = 0; c < k; c++)
            total += cm[r * k + c];
        for (int64_t c = 0; c < k; c++) {
            double frac = total ? (double)cm[r * k + c] / (double)total : 0;
            fv__rgb bg = fv__cmap_blues(frac);
            double x = mx + (double)c * cell, y = my + (double)r * cell;
            fv__set_rgb(cr, bg);
            cairo_rectangle(cr, x, y, cell, cell);
            cairo_fill(cr);
            if (counts) {
                snprintf(buf, sizeof buf, "%lld", (long long)cm[r * k + c]);
                text_colour_on(cr, bg);
                fv__text(cr, x + cell / 2.0, y + cell / 2.0, buf, count_size, r == c, FV__CENTER,
                         FV__MIDDLE, 0);
            }
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, mx + 0.5, my + 0.5, mw - 1, mh - 1);
    cairo_stroke(cr);

    /* Class labels on both axes, and the axis titles. */
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    for (int64_t c = 0; c < k; c++) {
        class_label(buf, sizeof buf, class_names, c);
        double centre = (double)c * cell + cell / 2.0;
        fv__text(cr, mx - 8, my + centre, buf, 12, false, FV__RIGHT, FV__MIDDLE, 0);
        if (rotate) {
            cairo_save(cr);
            cairo_translate(cr, mx + centre + 4, my + mh + 8);
            cairo_rotate(cr, 45 * M_PI / 180);
            fv__text(cr, 0, 0, buf, 12, false, FV__LEFT, FV__MIDDLE, 0);
            cairo_restore(cr);
        } else {
            fv__text(cr, mx + centre, my + mh + 8, buf, 12, false, FV__CENTER, FV__TOP, 0);
        }
    }
    fv__text(cr, mx + mw / 2, my + mh + 8 + col_label_h + 4, "Predicted label", 14, false,
             FV__CENTER, FV__TOP, 0);
    fv__text(cr, MARGIN, my + mh / 2, "True label", 14, false, FV__CENTER, FV__TOP, -90);
    fv__draw_colourbar(cr, bar_x, my, 16, mh < 150 ? 150 : mh, fv__cmap_blues, 0, 1, NULL);

    /* The per-class table. */
    double ty = my;
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int j = 0; j < 4; j++)
        fv__text(cr, table_x + name_col + (j + 1) * val_col - 6, ty + row_h / 2, heads[j], 13, true,
                 FV__RIGHT, FV__MIDDLE, 0);
    ty += row_h;
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_move_to(cr, table_x, round(ty) + 0.5);
    cairo_line_to(cr, table_x + table_w, round(ty) + 0.5);
    cairo_stroke(cr);
    const double tsize = row_h >= 20 ? 13 : 11;
    for (int64_t r = 0; r < k + 3; r++) {
        /* Classes, then accuracy, macro avg, weighted avg (a blank row before them). */
        double vals[4];
        bool show[4] = {true, true, true, true};
        const char *name = buf;
        if (r < k) {
            class_label(buf, sizeof buf, class_names, r);
            vals[0] = metric(m, "precision_class_%lld", r);
            vals[1] = metric(m, "recall_class_%lld", r);
            vals[2] = metric(m, "f1_class_%lld", r);
            vals[3] = metric(m, "support_class_%lld", r);
        } else {
            if (r == k) ty += row_h / 2;
            static const char *const names[] = {"accuracy", "macro avg", "weighted avg"};
            static const char *const suffix[] = {"", "_macro", "_weighted"};
            name = names[r - k];
            if (r == k) {
                show[0] = show[1] = false;
                vals[2] = fv_metrics_get(m, "accuracy");
            } else {
                char key[32];
                snprintf(key, sizeof key, "precision%s", suffix[r - k]);
                vals[0] = fv_metrics_get(m, key);
                snprintf(key, sizeof key, "recall%s", suffix[r - k]);
                vals[1] = fv_metrics_get(m, key);
                snprintf(key, sizeof key, "f1%s", suffix[r - k]);
                vals[2] = fv_metrics_get(m, key);
            }
            vals[3] = (double)fv_metrics_samples(m);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        fv__text(cr, table_x + 4, ty + row_h / 2, name, tsize, r >= k, FV__LEFT, FV__MIDDLE, 0);
        for (int j = 0; j < 4; j++) {
            if (!show[j]) continue;
            double x = table_x + name_col + j * val_col;
            char v[32];
            if (j == 3) {
                snprintf(v, sizeof v, "%.0f", vals[3]);
                cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            } else {
                /* A light shade of the value, as a heat map of the report. */
                format_value(v, sizeof v, vals[j]);
                fv__rgb bg = fv__cmap_blues(isnan(vals[j]) ? 0 : 0.55 * vals[j]);
                fv__set_rgb(cr, bg);
                cairo_rectangle(cr, x + 4, ty + 1, val_col - 4, row_h - 2);
                cairo_fill(cr);
                text_colour_on(cr, bg);
            }
            fv__text(cr, x + val_col - 6, ty + row_h / 2, v, tsize, false, FV__RIGHT, FV__MIDDLE,
                     0);
        }
        ty += row_h;
    }
    return fv__picture_end(p, cr, "the confusion matrix");
}
