/* activations.c — the seed's list of activation functions (sigmoid, tanh, ReLU, leaky ReLU,
 * maxout, ELU), each with its derivative, computed by fovea's own kernels (the derivative is the
 * kernel's backward pass with an incoming gradient of 1), so the picture shows what training
 * uses.
 */
#include "viz/viz.h"

#include "kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define POINTS 801
#define XMAX   4.0

/* Maxout over k = 3 affine pieces of one input: max(-0.5x - 1, 0.25x, 1.5x - 1.5), a convex
 * piecewise-linear function, as a maxout unit with learnt pieces computes. */
static void maxout_example(const double *x, double *y, double *dy, int n)
{
    static const double a[3] = {-0.5, 0.25, 1.5}, b[3] = {-1, 0, -1.5};
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int j = 1; j < 3; j++)
            if (a[j] * x[i] + b[j] > a[best] * x[i] + b[best]) best = j;
        y[i] = a[best] * x[i] + b[best];
        dy[i] = a[best];
    }
}

fv_picture *fv_plot_activations(void)
{
    static const struct {
        const char *title;
        fv_act_kind kind;
        float alpha;
    } acts[6] = {
        {"Sigmoid: 1 / (1 + e\u207b\u02e3)", FV_K_SIGMOID, 0},
        {"tanh: (e\u02e3 \u2212 e\u207b\u02e3) / (e\u02e3 + e\u207b\u02e3)", FV_K_TANH, 0},
        {"ReLU: max(0, x)", FV_K_RELU, 0},
        {"Leaky ReLU: max(0.3x, x)", FV_K_LEAKY_RELU, 0.3f},
        {"Maxout: the largest of k lines (k = 3)", FV_K_LINEAR, 0},
        {"ELU: x, or e\u02e3 \u2212 1 below 0", FV_K_ELU, 1.0f},
    };
    double *buf = malloc(3 * POINTS * sizeof *buf);
    float *fy = malloc(2 * POINTS * sizeof *fy);
    if (!buf || !fy) {
        free(buf);
        free(fy);
        fv__fail(FV_ERR_NOMEM, "out of memory for the activation plots");
        return NULL;
    }
    double *x = buf, *y = buf + POINTS, *dy = buf + 2 * POINTS;
    float *g = fy + POINTS;
    for (int i = 0; i < POINTS; i++)
        x[i] = -XMAX + 2 * XMAX * i / (POINTS - 1);

    const int pw = 460, ph = 380, cols = 3;
    cairo_t *cr;
    fv_picture *p = fv__picture_new(cols * pw, 2 * ph, &cr);
    if (!p) {
        free(buf);
        free(fy);
        return NULL;
    }
    for (int a = 0; a < 6; a++) {
        if (a == 4) {
            maxout_example(x, y, dy, POINTS);
        } else {
            for (int i = 0; i < POINTS; i++) {
                fy[i] = (float)x[i];
                g[i] = 1;
            }
            fv_act_forward(acts[a].kind, acts[a].alpha, fy, POINTS);
            fv_act_backward(acts[a].kind, acts[a].alpha, fy, g, POINTS);
            for (int i = 0; i < POINTS; i++) {
                y[i] = fy[i];
                dy[i] = g[i];
            }
        }
        fv__series series[2] = {
            {x, y, POINTS, "f(x)", fv__series_colour(0), false, false},
            {x, dy, POINTS, "f\u2032(x)", fv__series_colour(1), true, false},
        };
        fv__panel panel = {
            .title = acts[a].title,
            .xlabel = "x",
            .series = series,
            .nseries = 2,
            .zero_axes = true,
        };
        char region[32];
        snprintf(region, sizeof region, "panel %d", a);
        fv__draw_panel(p, cr, (a % cols) * pw, (a / cols) * ph, pw, ph, &panel, region);
    }
    free(buf);
    free(fy);
    return fv__picture_end(p, cr, "the activation functions");
}
