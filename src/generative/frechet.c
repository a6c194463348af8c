/* frechet.c — the Fréchet distance between two sets of feature vectors, each taken as a Gaussian
 * (Heusel et al. 2017, the FID's formula; here in whatever features the caller computed):
 *   d² = |μ₁ − μ₂|² + Tr Σ₁ + Tr Σ₂ − 2 Tr((Σ₁^½ Σ₂ Σ₁^½)^½),
 * with the trace term in its symmetric form, from two symmetric eigen-decompositions (LAPACK's
 * dsyevd) with negative eigenvalues (rounding) clamped to zero.
 */
#include "generative/generative.h"

#include "core/lapack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fv__moments(const float *x, int64_t n, int64_t d, double *mu, double *cov, double *row)
{
    memset(mu, 0, (size_t)d * sizeof *mu);
    memset(cov, 0, (size_t)(d * d) * sizeof *cov);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            mu[j] += x[i * d + j];
    for (int64_t j = 0; j < d; j++)
        mu[j] /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++)
            row[j] = x[i * d + j] - mu[j];
        for (int64_t j = 0; j < d; j++) {
            const double rj = row[j];
            double *c = cov + j * d;
            for (int64_t k = j; k < d; k++)
                c[k] += rj * row[k];
        }
    }
    for (int64_t j = 0; j < d; j++)
        for (int64_t k = j; k < d; k++) {
            const double v = cov[j * d + k] / (double)(n - 1);
            cov[j * d + k] = cov[k * d + j] = v;
        }
}

fv_status fv__eigen_symmetric(double *a, int d, double *w)
{
    int info = 0, lwork = -1, liwork = -1, iw;
    double wq;
    /* LAPACK's dsyevd (core/lapack.h): column-major; a symmetric matrix reads the same either way
     */
    fv_status s = fv__dsyevd("V", "U", &d, a, &d, w, &wq, &lwork, &iw, &liwork, &info);
    if (s != FV_OK) return s;
    if (info != 0) return fv__fail(FV_ERR_NUMERIC, "dsyevd: workspace query failed (%d)", info);
    lwork = (int)wq;
    liwork = iw;
    double *work = malloc((size_t)lwork * sizeof *work);
    int *iwork = malloc((size_t)liwork * sizeof *iwork);
    if (!work || !iwork) {
        s = fv__fail(FV_ERR_NOMEM, "out of memory (eigen-decomposition of %d × %d)", d, d);
    } else {
        s = fv__dsyevd("V", "U", &d, a, &d, w, work, &lwork, iwork, &liwork, &info);
        if (s == FV_OK && info != 0)
            s = fv__fail(FV_ERR_NUMERIC, "dsyevd did not converge (info %d) on a %d × %d matrix",
                         info, d, d);
    }
    free(work);
    free(iwork);
    return s;
}

fv_status fv_frechet_distance(const float *a, int64_t na, const float *b, int64_t nb, int64_t d,
                              double *out)
{
    if (!a || !b || !out) return fv__fail(FV_ERR_INVALID, "fv_frechet_distance: NULL argument");
    if (na < 2 || nb < 2)
        return fv__fail(FV_ERR_INVALID,
                        "fv_frechet_distance: %lld and %lld feature rows: each set needs at least "
                        "2 for a covariance",
                        (long long)na, (long long)nb);
    if (d < 1 || d > 16384)
        return fv__fail(FV_ERR_INVALID,
                        "fv_frechet_distance: %lld features: expected 1 to 16384 (a d × d "
                        "eigen-decomposition)",
                        (long long)d);
    const size_t dd = (size_t)(d * d);
    double *mu1 = malloc((size_t)d * sizeof(double)), *mu2 = malloc((size_t)d * sizeof(double));
    double *c1 = malloc(dd * sizeof(double)), *c2 = malloc(dd * sizeof(double));
    double *t = malloc(dd * sizeof(double)), *w = malloc((size_t)d * sizeof(double));
    fv_status s = FV_OK;
    if (!mu1 || !mu2 || !c1 || !c2 || !t || !w) {
        s = fv__fail(FV_ERR_NOMEM, "out of memory (covariances of %lld features)", (long long)d);
        goto done;
    }
    fv__moments(a, na, d, mu1, c1, w);
    fv__moments(b, nb, d, mu2, c2, w);
    double dist = 0, tr = 0;
    for (int64_t j = 0; j < d; j++) {
        dist += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]);
        tr += c1[j * d + j] + c2[j * d + j];
    }
    /* Σ₁ = V diag(λ) Vᵀ, Σ₁^½ = V diag(√λ⁺) Vᵀ, kept in c1. */
    if ((s = fv__eigen_symmetric(c1, (int)d, w)) != FV_OK) goto done;
    for (int64_t i = 0; i < d; i++) /* t = V diag(λ^¼): then Σ₁^½ = t tᵀ */
        for (int64_t j = 0; j < d; j++)
            t[i * d + j] = c1[i * d + j] * sqrt(sqrt(w[i] > 0 ? w[i] : 0.0));
    for (int64_t j = 0; j < d; j++)
        for (int64_t k = 0; k < d; k++) {
            double sum = 0;
            for (int64_t i = 0; i < d; i++)
                sum += t[i * d + j] * t[i * d + k];
            c1[j * d + k] = sum;
        }
    /* M = Σ₁^½ Σ₂ Σ₁^½ (symmetric by construction; symmetrised against rounding). */
    for (int64_t j = 0; j < d; j++) /* t = Σ₂ Σ₁^½ */
        for (int64_t k = 0; k < d; k++) {
            double sum = 0;
            for (int64_t i = 0; i < d; i++)
                sum += c2[j * d + i] * c1[i * d + k];
            t[j * d + k] = sum;
        }
    for (int64_t j = 0; j < d; j++) /* c2 = Σ₁^½ t */
        for (int64_t k = 0; k < d; k++) {
            double sum = 0;
            for (int64_t i = 0; i < d; i++)
                sum += c1[j * d + i] * t[i * d + k];
            c2[j * d + k] = sum;
        }
    for (int64_t j = 0; j < d; j++)
        for (int64_t k = j + 1; k < d; k++)
            c2[j * d + k] = c2[k * d + j] = 0.5 * (c2[j * d + k] + c2[k * d + j]);
    if ((s = fv__eigen_symmetric(c2, (int)d, w)) != FV_OK) goto done;
    double trsqrt = 0;
    for (int64_t i = 0; i < d; i++)
        trsqrt += sqrt(w[i] > 0 ? w[i] : 0.0);
    dist += tr - 2.0 * trsqrt;
    *out = dist > 0 ? dist : 0.0;
done:
    free(mu1), free(mu2), free(c1), free(c2), free(t), free(w);
    return s;
}
