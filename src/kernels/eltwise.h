/* eltwise.h — the memory-bound element-wise passes of a training step (ReLU, BatchNormalization's
 * statistics, normalisation and gradient, with an optional residual add and ReLU fused in), in
 * one scalar reference and vector versions that give the same bits (private to fovea).
 */
#ifndef FV_ELTWISE_H
#define FV_ELTWISE_H

#include <stdbool.h>
#include <stdint.h>

/* The element-wise kernels of one code path. Arrays are channels-last: x [rows × C] holds row r's
 * channel c at x[r·C + c]; per-channel arrays have C floats. Every sum runs over the rows in
 * order, per channel, in double, as the reference writes it; the vector paths keep that order and
 * the reference's operations (no fused multiply-add), so all paths give identical bits. */
typedef struct fv__elt_ops {
    const char *name; /* "reference", "vector4", "avx2", "avx512" */
    /* y[i] = x[i] > 0 ? x[i] : 0 for i < n (y may be x). */
    void (*relu_forward)(const float *x, float *y, int64_t n);
    /* dx[i] = y[i] > 0 ? dy[i] : 0 for i < n (dx may be dy): ReLU's gradient from its output. */
    void (*relu_backward)(const float *y, const float *dy, float *dx, int64_t n);
    /* s[c] += Σ_r x[r, c]. */
    void (*sum)(const float *x, int64_t rows, int64_t C, double *s);
    /* s[c] += Σ_r (x[r, c] − mean[c])², in double from the mean in double (BatchNormalization's
     * Σx/M unrounded: the float mean's rounding would add (mean − float mean)² to the variance,
     * 0.2% of it at 10⁶ ± 1). */
    void (*sum_sqdev)(const float *x, int64_t rows, int64_t C, const double *mean, double *s);
    /* With g = dy[r, c], or, when relu_y is not NULL, g = relu_y[r, c] > 0 ? dy[r, c] : 0 (the
     * gradient through a ReLU whose output is relu_y) and x̂ = (x[r, c] − mean[c])·inv[c] in double:
     * s1[c] += Σ_r g, s2[c] += Σ_r g·x̂ (BatchNormalization's dβ and dγ; Ioffe & Szegedy 2015). */
    void (*sum_dy)(const float *x, const float *dy, const float *relu_y, int64_t rows, int64_t C,
                   const float *mean, const float *inv, double *s1, double *s2);
    /* BatchNormalization's output y = (x − mean)·inv·γ + β in float (γ = 1 when gamma is NULL, β
     * = 0 when beta is NULL), then, when add is not NULL, y + add[r, c] (a residual Add), then,
     * with relu, max(y, 0) as relu_forward. y may be x. */
    void (*bn_norm)(const float *x, float *y, int64_t rows, int64_t C, const float *mean,
                    const float *inv, const float *gamma, const float *beta, const float *add,
                    bool relu);
    /* BatchNormalization's input gradient in training mode, in double (Ioffe & Szegedy 2015): with
     * g and x̂ as sum_dy's, dx = (float)(coef[c] · (M·g − sdy[c] − x̂·sdyx[c])), where the caller
     * gives coef[c] = γ[c]·inv[c]/M (one division per channel, not per value), M the values per
     * channel over the whole batch, sdy and sdyx the sums of sum_dy. dx NULL: not written.
     * dskip, when not NULL, receives g as float (the gradient of a residual Add's other input).
     * dx and dskip may be dy (each element is read before it is written). */
    void (*bn_dx)(const float *x, const float *dy, const float *relu_y, float *dx, float *dskip,
                  int64_t rows, int64_t C, const float *mean, const float *inv, const double *coef,
                  double M, const double *sdy, const double *sdyx);
} fv__elt_ops;

/* The paths this build and CPU can run, by index 0.. (0 is the reference); NULL past the last. */
const fv__elt_ops *fv__elt_path(int i);
/* The fastest path for this CPU: AVX-512 where the kernels run AVX-512 (fv__kernel_path_best),
 * AVX2 where they run AVX2, else the portable 4-float vectors. */
const fv__elt_ops *fv__elt(void);

#endif
