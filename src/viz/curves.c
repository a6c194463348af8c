/* curves.c — the training curves of the seed program ("Model accuracy", "Model loss"): one
 * panel per metric, training and validation lines over the epochs, side by side.
 */
#include "viz/viz.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PANELS 12

/* The history's column for a metric name: itself, or Keras' old 'acc' for 'accuracy'. */
static const double *column(const fv_history *h, const char *name, const char **found)
{
    const double *v = fv_history_get(h, name);
    *found = name;
    if (!v && strcmp(name, "accuracy") == 0 && (v = fv_history_get(h, "acc"))) *found = "acc";
    if (!v && strcmp(name, "val_accuracy") == 0 && (v = fv_history_get(h, "val_acc")))
        *found = "val_acc";
    return v;
}

static void list_columns(const fv_history *h, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int c = 0; c < fv_history_columns(h) && used < n; c++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", c ? ", " : "",
                                 fv_history_column_name(h, c));
    if (!fv_history_columns(h)) snprintf(buf, n, "none");
}

static fv_picture *missing(const fv_history *h, const char *name)
{
    char cols[512];
    list_columns(h, cols, sizeof cols);
    fv__fail(FV_ERR_INVALID, "the history has no column '%s' (its columns: %s)", name, cols);
    return NULL;
}

/* A loss column of the history: "loss" or a name ending in "_loss", not a val_ twin. */
static bool is_loss(const char *name)
{
    const size_t n = strlen(name);
    return strncmp(name, "val_", 4) != 0 &&
           (strcmp(name, "loss") == 0 || (n > 5 && strcmp(name + n - 5, "_loss") == 0));
}

void fv__metric_names(const char *name, char *title, size_t tn, char *ylabel, size_t yn)
{
    /* A GAN's two losses by the networks they train (the PyTorch DCGAN example's "Generator"
     * and "Discriminator" loss), the column names kept as the y labels. */
    if (strcmp(name, "d_loss") == 0 || strcmp(name, "g_loss") == 0) {
        snprintf(title, tn, "%s loss", name[0] == 'd' ? "Discriminator" : "Generator");
        snprintf(ylabel, yn, "%s", name);
        return;
    }
    /* Words from the underscores; "kl" is the KL divergence's initials. */
    char words[96] = "";
    size_t used = 0;
    for (const char *s = name; *s && used + 3 < sizeof words;) {
        const size_t len = strcspn(s, "_");
        if (len == 2 && strncasecmp(s, "kl", 2) == 0)
            used += (size_t)snprintf(words + used, sizeof words - used, "%sKL", used ? " " : "");
        else
            used += (size_t)snprintf(words + used, sizeof words - used, "%s%.*s", used ? " " : "",
                                     (int)len, s);
        s += len;
        while (*s == '_')
            s++;
    }
    if (used >= sizeof words) used = sizeof words - 1;
    snprintf(title, tn, "Model %s", words);
    snprintf(ylabel, yn, "%s", words);
    ylabel[0] = (char)toupper((unsigned char)ylabel[0]);
}

fv_picture *fv_plot_history(const fv_history *h, const char *metrics)
{
    if (!h) {
        fv__fail(FV_ERR_INVALID, "no history to plot");
        return NULL;
    }
    /* The panels' metric names. */
    char names[MAX_PANELS][64];
    int npanels = 0;
    if (metrics && *metrics) {
        const char *s = metrics;
        while (*s) {
            while (*s == ' ' || *s == ',')
                s++;
            size_t len = strcspn(s, ", ");
            if (!len) break;
            if (npanels == MAX_PANELS) {
                fv__fail(FV_ERR_INVALID, "at most %d metrics in one picture", MAX_PANELS);
                return NULL;
            }
            if (len >= sizeof names[0]) {
                fv__fail(FV_ERR_INVALID, "metric name '%.*s...' is too long", 20, s);
                return NULL;
            }
            memcpy(names[npanels], s, len);
            names[npanels][len] = '\0';
            const char *found;
            if (!column(h, names[npanels], &found)) return missing(h, names[npanels]);
            npanels++;
            s += len;
        }
        if (!npanels) {
            fv__fail(FV_ERR_INVALID, "no metric named in '%s'", metrics);
            return NULL;
        }
    } else {
        /* Accuracy and the loss first (the seed program's two plots), then every other
         * column: a VAE's kl_loss and reconstruction_loss, a GAN's d_loss and g_loss. */
        const char *found;
        bool any_loss = false;
        for (int c = 0; c < fv_history_columns(h); c++)
            any_loss = any_loss || is_loss(fv_history_column_name(h, c));
        if (!any_loss) {
            char cols[512];
            list_columns(h, cols, sizeof cols);
            fv__fail(FV_ERR_INVALID,
                     "the history has no loss column ('loss' or a name ending in '_loss'; its "
                     "columns: %s)",
                     cols);
            return NULL;
        }
        if (column(h, "accuracy", &found)) snprintf(names[npanels++], sizeof names[0], "accuracy");
        if (fv_history_get(h, "loss")) snprintf(names[npanels++], sizeof names[0], "loss");
        for (int c = 0; c < fv_history_columns(h) && npanels < MAX_PANELS; c++) {
            const char *n = fv_history_column_name(h, c);
            if (strncmp(n, "val_", 4) == 0 || strcmp(n, "loss") == 0 ||
                strcmp(n, "accuracy") == 0 || strcmp(n, "acc") == 0 || strlen(n) >= 64)
                continue;
            snprintf(names[npanels++], sizeof names[0], "%s", n);
        }
    }
    int64_t epochs = fv_history_epochs(h);
    if (epochs < 1) {
        fv__fail(FV_ERR_INVALID, "the history has no epochs to plot");
        return NULL;
    }

    double *x = malloc((size_t)epochs * sizeof *x);
    if (!x) {
        fv__fail(FV_ERR_NOMEM, "out of memory for %lld epochs", (long long)epochs);
        return NULL;
    }
    for (int64_t i = 0; i < epochs; i++)
        x[i] = (double)(i + 1);

    const int cols = npanels <= 3 ? npanels : npanels == 4 ? 2 : 3;
    const int rows = (npanels + cols - 1) / cols;
    const int pw = 600, ph = 450;
    cairo_t *cr;
    fv_picture *p = fv__picture_new(cols * pw, rows * ph, &cr);
    if (!p) {
        free(x);
        return NULL;
    }
    for (int i = 0; i < npanels; i++) {
        const char *found;
        const double *train = column(h, names[i], &found);
        char val_name[80];
        snprintf(val_name, sizeof val_name, "val_%s", names[i]);
        const double *val = column(h, val_name, &found);
        char title[112], ylabel[104];
        fv__metric_names(names[i], title, sizeof title, ylabel, sizeof ylabel);
        /* Dots on the points while there are few enough to tell apart. */
        bool markers = epochs <= 30;
        fv__series series[2] = {
            {x, train, epochs, "Train", fv__series_colour(0), false, markers},
            {x, val, epochs, "Validation", fv__series_colour(1), false, markers},
        };
        fv__panel panel = {
            .title = title,
            .xlabel = "Epoch",
            .ylabel = ylabel,
            .series = series,
            .nseries = val ? 2 : 1,
            .integer_x = true,
        };
        char region[80];
        snprintf(region, sizeof region, "panel %s", names[i]);
        fv__draw_panel(p, cr, (i % cols) * pw, (i / cols) * ph, pw, ph, &panel, region);
    }
    free(x);
    return fv__picture_end(p, cr, "the training curves");
}
