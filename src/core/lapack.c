/* lapack.c — LAPACK's dsyevd and dgesvd from liblapack, opened on first use (lapack.h). */
#include "core/lapack.h"

#include "core/dynlib.h"

/* LAPACK's Fortran entry points (reference LAPACK's and OpenBLAS' liblapack.so.3 alike). */
typedef void dsyevd_fn(const char *, const char *, const int *, double *, const int *, double *,
                       double *, const int *, int *, const int *, int *);
typedef void dgesvd_fn(const char *, const char *, const int *, const int *, double *, const int *,
                       double *, double *, const int *, double *, const int *, double *,
                       const int *, int *);

enum { LA_DSYEVD, LA_DGESVD, LA_COUNT };
static const char *const la_names[] = {"dsyevd_", "dgesvd_", NULL};
static fv__fnptr la_slots[LA_COUNT];
static fv__dynlib lapack = {.sonames =
                                (const char *const[]){"liblapack.so.3", "liblapack.so", NULL},
                            .what = "LAPACK (Debian's liblapack3)",
                            .symbols = la_names,
                            .slots = la_slots};

fv_status fv__dsyevd(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                     double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                     int *info)
{
    const fv_status s = fv__dynlib_load(&lapack);
    if (s != FV_OK) return s;
    ((dsyevd_fn *)la_slots[LA_DSYEVD])(jobz, uplo, n, a, lda, w, work, lwork, iwork, liwork, info);
    return FV_OK;
}

fv_status fv__dgesvd(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
                     const int *lda, double *s, double *u, const int *ldu, double *vt,
                     const int *ldvt, double *work, const int *lwork, int *info)
{
    const fv_status st = fv__dynlib_load(&lapack);
    if (st != FV_OK) return st;
    ((dgesvd_fn *)la_slots[LA_DGESVD])(jobu, jobvt, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork,
                                       info);
    return FV_OK;
}
