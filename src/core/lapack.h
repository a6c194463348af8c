/* lapack.h — the two LAPACK routines fovea uses (Debian's liblapack3), opened when first called
 * (core/dynlib.h): linking liblapack brought it, libblas, libgfortran and libquadmath into every
 * fovea process, about 1.1 ms of each start (a one-image `fovea predict` took 11 ms in all).
 */
#ifndef FV_LAPACK_H
#define FV_LAPACK_H

#include "core/core.h"

/* LAPACK's dsyevd (eigenvalues and eigenvectors of a symmetric matrix, divide and conquer) and
 * dgesvd (the singular value decomposition A = U·diag(s)·Vᵀ), with LAPACK's Fortran arguments
 * (column-major matrices, every scalar by address, *info as LAPACK sets it). Each returns FV_OK
 * once LAPACK ran (the caller reads *info), or FV_ERR_STATE, with a message naming Debian's
 * package, where liblapack cannot be opened. */
fv_status fv__dsyevd(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                     double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                     int *info);
fv_status fv__dgesvd(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
                     const int *lda, double *s, double *u, const int *ldu, double *vt,
                     const int *ldvt, double *work, const int *lwork, int *info);

#endif
