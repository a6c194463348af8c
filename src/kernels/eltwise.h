/* eltwise.h — the memory-bound element-wise passes of a training step (ReLU, BatchNormalization's
 * statistics, normalisation and gradient, with an optional residual add and ReLU fused in), in
 * one scalar reference and vector versions that give the same bits (private to fovea).
 */
#ifndef FV_ELTWISE_H
#define FV_ELTWISE_H

#include <stdbool.h>
#include <stdint.h>

/* A ReLU right after a BatchNormalization (with no residual Add between them), for the gradient
 * through it without reading its output: the ReLU's input was bn_norm's value v = (x − mean)·inv·γ
 * + β (γ = 1 where gamma is NULL, β = 0 where beta is NULL), recomputed from x with bn_norm's
 * operations in its order, so that g = v > 0 ? dy : 0 is, bit for bit, what reading the ReLU's
 * output (v where v > 0, else +0) gives: one tensor fewer to read. */
typedef struct fv__bn_relu {
    const float *inv, *gamma, *beta;
} fv__bn_relu;

/* The element-wise kernels of one code path. Arrays are channels-last: x [rows × C] holds row r's
 * channel c at x[r·C + c]; per-channel arrays have C floats. Every sum runs over the rows in
 * order, per channel, in double (sum_dy: in float over blocks of rows, each block added in
 * double), as the reference writes it; the vector paths keep that order and the reference's
 * operations (no fused multiply-add), so all paths give identical bits. */
typedef struct fv__elt_ops {
    const char *name; /* "reference", "vector4", "avx2", "avx512" */
    /* y[i] = x[i] > 0 ? x[i] : 0 for i < n (y may be x). */
    void (*relu_forward)(const float *x, float *y, int64_t n);
    /* dx[i] = y[i] > 0 ? dy[i] : 0 for i < n (dx may be dy): ReLU's gradient from its output. */
    void (*relu_backward)(const float *y, const float *dy, float *dx, int64_t n);
    /* s1[c] += Σ_r (x[r, c] − k[c]) and s2[c] += Σ_r (x[r, c] − k[c])², in double: the batch's
     * first two moments about a shift k (BatchNormalization's moving mean) in one pass over x. */
    void (*sum_sq)(const float *x, int64_t rows, int64_t C, const double *k, double *s1,
                   double *s2);
    /* s[c] += Σ_r (x[r, c] − mean[c])², in double from the mean in double (BatchNormalization's
     * Σx/M unrounded: the float mean's rounding would add (mean − float mean)² to the variance,
     * 0.2% of it at 10⁶ ± 1). */
    void (*sum_sqdev)(const float *x, int64_t rows, int64_t C, const double *mean, double *s);
    /* With g = dy[r, c], or, when relu_y is not NULL, g = relu_y[r, c] > 0 ? dy[r, c] : 0 (the
     * gradient through a ReLU whose output is relu_y), or, when rx is not NULL (relu_y NULL),
     * the same from x (fv__bn_relu), and x̂ = (x[r, c] − mean[c])·inv[c]:
     * s1[c] += Σ_r g, s2[c] += Σ_r g·x̂ (BatchNormalization's dβ and dγ; Ioffe & Szegedy 2015).
     * In float over blocks of FV_ELT_SUM_BLOCK rows from the first (x̂ and g·x̂ rounded to float,
     * each block summed over its rows in order), each block's sums added to s1, s2 in double: the
     * error is at most (FV_ELT_SUM_BLOCK + 2)·2⁻²⁴·Σ|g·x̂| (s2) and (FV_ELT_SUM_BLOCK − 1)·2⁻²⁴·Σ|g|
     * (s1), to first order (Higham 2002, §4.2: recursive summation's bound per block). gout, when
     * not NULL, receives g (it may be dy: each element is read before it is written). */
    void (*sum_dy)(const float *x, const float *dy, const float *relu_y, const fv__bn_relu *rx,
                   float *gout, int64_t rows, int64_t C, const float *mean, const float *inv,
                   double *s1, double *s2);
    /* BatchNormalization's output y = (x − mean)·inv·γ + β in float (γ = 1 when gamma is NULL, β
     * = 0 when beta is NULL), then, when add is not NULL, y + add[r, c] (a residual Add), then,
     * with relu, max(y, 0) as relu_forward. y may be x. */
    void (*bn_norm)(const float *x, float *y, int64_t rows, int64_t C, const float *mean,
                    const float *inv, const float *gamma, const float *beta, const float *add,
                    bool relu);
    /* BatchNormalization's input gradient in training mode (Ioffe & Szegedy 2015), in float with
     * three coefficients per channel (fv__bn_dx_coef): with g as sum_dy's,
     * dx = (a[c]·g + b[c]·(x − mean[c])) + d[c], a = k[c], b = k[C + c], d = k[2C + c], each
     * operation rounded to float. dx may be dy (each element is read before it is written). */
    void (*bn_dx)(const float *x, const float *dy, const float *relu_y, const fv__bn_relu *rx,
                  float *dx, int64_t rows, int64_t C, const float *mean, const float *k);
} fv__elt_ops;

/* The rows of one float block of sum_dy (every path's). */
#define FV_ELT_SUM_BLOCK 16

/* bn_dx's coefficients k [3 × C] for channel c, in double, rounded to float: with M the values per
 * channel over the whole batch, sdy and sdyx the sums of sum_dy, γ = gamma[c] (1 when gamma is
 * NULL) and coef = γ·inv[c]/M, a = γ·inv[c], b = −coef·inv[c]·sdyx[c], d = −coef·sdy[c], so that
 * a·g + b·(x − mean) + d = coef·(M·g − sdy − x̂·sdyx), Ioffe & Szegedy's dx. The error of bn_dx
 * against that formula in exact arithmetic is at most 5·2⁻²⁴·(|a·g| + |b·(x − mean)| + |d|) to
 * first order (the roundings of the coefficients to float, of x − mean, of the two products and
 * of the two additions), which is relative to the terms, not to dx: where they cancel (dy nearly
 * affine in x̂, whose component the gradient removes) dx is small and its relative error large, as
 * PyTorch's float kernel's. The mean is subtracted from x in float, exactly for x within a factor 2
 * of it (Sterbenz), so a channel far from zero (10⁶ ± 1) loses nothing to it. */
void fv__bn_dx_coef(int64_t C, const float *gamma, const float *inv, double M, const double *sdy,
                    const double *sdyx, float *k);

/* The paths this build and CPU can run, by index 0.. (0 is the reference); NULL past the last. */
const fv__elt_ops *fv__elt_path(int i);
/* The fastest path for this CPU: AVX-512 where the kernels run AVX-512 (fv__kernel_path_best),
 * AVX2 where they run AVX2, else the portable 4-float vectors. */
const fv__elt_ops *fv__elt(void);

#endif
