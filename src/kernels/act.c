/* act.c — element-wise activations and their derivatives (written in terms of the forward
 * output), row-wise softmax, and maxout over channel groups.
 */
#include "kernels/kernels.h"

#include "kernels/eltwise.h"

#include <math.h>

/* y [n], in place: y ← act(y). */
void fv_act_forward(fv_act_kind k, float alpha, float *y, int64_t n)
{
    switch (k) {
    case FV_K_LINEAR:
        break;
    case FV_K_RELU: /* y > 0 ? y : 0, in vectors (a branch per value mispredicts half the time) */
        fv__elt()->relu_forward(y, y, n);
        break;
    case FV_K_SIGMOID:
        /* Two forms so that exp never overflows: e^z/(1+e^z) for negative z. */
        for (int64_t i = 0; i < n; i++) {
            float z = y[i];
            if (z >= 0.0f) {
                y[i] = 1.0f / (1.0f + expf(-z));
            } else {
                float e = expf(z);
                y[i] = e / (1.0f + e);
            }
        }
        break;
    case FV_K_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(y[i]);
        break;
    case FV_K_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : alpha * y[i];
        break;
    case FV_K_ELU:
        /* expm1 keeps precision for small negative z. */
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : alpha * expm1f(y[i]);
        break;
    }
}

/* y [n] forward outputs, g [n] in place: g ← g · act'(z), with act' written through y. For
 * leaky ReLU and ELU this assumes alpha > 0, so that y > 0 exactly when z > 0. */
void fv_act_backward(fv_act_kind k, float alpha, const float *y, float *g, int64_t n)
{
    switch (k) {
    case FV_K_LINEAR:
        break;
    case FV_K_RELU: /* y > 0 ? g : 0 */
        fv__elt()->relu_backward(y, g, g, n);
        break;
    case FV_K_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            g[i] *= y[i] * (1.0f - y[i]);
        break;
    case FV_K_TANH:
        for (int64_t i = 0; i < n; i++)
            g[i] *= 1.0f - y[i] * y[i];
        break;
    case FV_K_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            g[i] = y[i] > 0.0f ? g[i] : alpha * g[i];
        break;
    case FV_K_ELU:
        /* For z <= 0, y = alpha(e^z − 1) so dy/dz = alpha·e^z = y + alpha. */
        for (int64_t i = 0; i < n; i++)
            g[i] = y[i] > 0.0f ? g[i] : g[i] * (y[i] + alpha);
        break;
    }
}

/* y [rows × cols], in place. Subtracting the row maximum keeps exp from overflowing. */
void fv_softmax_forward(float *y, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        float *v = y + r * cols;
        float m = -INFINITY;
        for (int64_t j = 0; j < cols; j++)
            m = v[j] > m ? v[j] : m;
        double s = 0.0;
        for (int64_t j = 0; j < cols; j++) {
            v[j] = expf(v[j] - m);
            s += v[j];
        }
        const float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < cols; j++)
            v[j] *= inv;
    }
}

/* y [rows × cols] softmax outputs, g [rows × cols] in place: g_i ← y_i (g_i − Σ_j y_j g_j). */
void fv_softmax_backward(const float *y, float *g, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols;
        float *gr = g + r * cols;
        double dot = 0.0;
        for (int64_t j = 0; j < cols; j++)
            dot += (double)yr[j] * gr[j];
        for (int64_t j = 0; j < cols; j++)
            gr[j] = yr[j] * (gr[j] - (float)dot);
    }
}

/* x [n, c], y [n, units], argmax [n, units] (channel index within the row, 0..c-1). */
void fv_maxout_forward(const float *x, float *y, int32_t *argmax, int64_t n, int64_t c,
                       int64_t units)
{
    const int64_t k = c / units;
    for (int64_t i = 0; i < n; i++) {
        const float *xr = x + i * c;
        for (int64_t u = 0; u < units; u++) {
            int64_t best = u * k;
            for (int64_t j = u * k + 1; j < u * k + k; j++)
                if (xr[j] > xr[best]) best = j;
            y[i * units + u] = xr[best];
            argmax[i * units + u] = (int32_t)best;
        }
    }
}

/* dy [n, units], argmax [n, units], dx [n, c]: dx[i, argmax] += dy[i, u]. Like the other
 * kernels it adds, so the caller zeroes dx first; the losing channels get no gradient. */
void fv_maxout_backward(const float *dy, const int32_t *argmax, float *dx, int64_t n, int64_t c,
                        int64_t units)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t u = 0; u < units; u++)
            dx[i * c + argmax[i * units + u]] += dy[i * units + u];
}
