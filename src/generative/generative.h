/* generative.h — what the files of src/generative/ share: means and covariances of feature rows,
 * and LAPACK's symmetric eigen-decomposition.
 */
#ifndef FV_GENERATIVE_H
#define FV_GENERATIVE_H

#include "core/core.h"
#include "fovea.h"

/* Means mu [d] and covariances cov [d × d] (divided by n − 1, as numpy.cov; n >= 2) of the rows
 * x [n × d], summed in double in row order; row [d] is scratch. */
void fv__moments(const float *x, int64_t n, int64_t d, double *mu, double *cov, double *row);

/* Eigen-decomposition of a symmetric a [d × d] in place (LAPACK's dsyevd): a becomes the
 * eigenvectors, vector i in a[i·d .. i·d + d) (LAPACK's column-major columns), w [d] the
 * eigenvalues in ascending order. FV_ERR_NOMEM, or FV_ERR_NUMERIC if LAPACK fails. */
fv_status fv__eigen_symmetric(double *a, int d, double *w);

#endif
