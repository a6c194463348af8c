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
