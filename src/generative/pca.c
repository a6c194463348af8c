/* pca.c — the first principal components of feature rows (the latent picture of a VAE whose codes
 * have more than two dimensions): the covariance's eigenvectors of the largest eigenvalues, from
 * LAPACK's dsyevd.
 */
#include "generative/generative.h"

#include <math.h>
#include <stdlib.h>

fv_status fv_principal_components(const float *x, int64_t n, int64_t d, int k, float *out,
                                  double *explained)
{
    if (!x || !out) return fv__fail(FV_ERR_INVALID, "fv_principal_components: NULL argument");
    if (n < 2 || d < 1 || d > 16384 || k < 1 || k > d)
        return fv__fail(FV_ERR_INVALID,
                        "fv_principal_components: %lld rows of %lld features, %d components: "
                        "expected at least 2 rows, 1 to 16384 features and 1 to that many "
                        "components",
                        (long long)n, (long long)d, k);
    double *mu = malloc((size_t)d * sizeof *mu), *cov = malloc((size_t)(d * d) * sizeof *cov);
    double *w = malloc((size_t)d * sizeof *w);
    fv_status s = FV_OK;
    if (!mu || !cov || !w) {
        s = fv__fail(FV_ERR_NOMEM, "out of memory (covariance of %lld features)", (long long)d);
        goto done;
    }
    fv__moments(x, n, d, mu, cov, w);
    double total = 0;
    for (int64_t j = 0; j < d; j++)
        total += cov[j * d + j];
    if ((s = fv__eigen_symmetric(cov, (int)d, w)) != FV_OK) goto done;
    /* Component c is eigenvector d − 1 − c (ascending order); its sign is fixed so that its
     * largest coordinate is positive (as scikit-learn's svd_flip fixes it), so that the axes do not
     * flip between runs of LAPACK. */
    for (int c = 0; c < k; c++) {
        double *v = cov + (d - 1 - c) * d;
        int64_t big = 0;
        for (int64_t j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[big])) big = j;
        if (v[big] < 0)
            for (int64_t j = 0; j < d; j++)
                v[j] = -v[j];
        if (explained) explained[c] = total > 0 ? w[d - 1 - c] / total : 0.0;
    }
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++) {
            const double *v = cov + (d - 1 - c) * d;
            double sum = 0;
            for (int64_t j = 0; j < d; j++)
                sum += ((double)x[i * d + j] - mu[j]) * v[j];
            out[i * k + c] = (float)sum;
        }
done:
    free(mu), free(cov), free(w);
    return s;
}
