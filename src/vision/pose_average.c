/* pose_average.c — one pose from several estimates of it (test-time augmentation over crops): the
 * chordal L2 mean of the rotations with the mean translation, or, for a symmetric object, the
 * medoid's rotation.
 */
#include "core/core.h"
#include "core/lapack.h"

#include <math.h>
#include <string.h>

static fv_status check_poses(const char *fn, const fv_pose *poses, int64_t n)
{
    if (n < 1) return fv__fail(FV_ERR_INVALID, "%s: no poses (n = %lld)", fn, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        bool finite = true;
        for (int k = 0; k < 9; k++)
            finite = finite && isfinite(poses[i].R[k]);
        for (int k = 0; k < 3; k++)
            finite = finite && isfinite(poses[i].t[k]);
        if (!finite)
            return fv__fail(FV_ERR_INVALID, "%s: pose %lld is not finite", fn, (long long)i);
    }
    return FV_OK;
}

static void mean_translation(const fv_pose *poses, int64_t n, double t[3])
{
    for (int k = 0; k < 3; k++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            s += poses[i].t[k];
        t[k] = s / (double)n;
    }
}

fv_status fv_rotation_nearest(const double M[9], double R[9])
{
    for (int k = 0; k < 9; k++)
        if (!isfinite(M[k]))
            return fv__fail(FV_ERR_INVALID, "fv_rotation_nearest: M is not finite");
    /* The row-major M read as column-major is Mᵀ = U'·S·V'ᵀ (LAPACK's factors, column-major in
     * u and vt), so M = V'·S·U'ᵀ: M's U is V' (U[i][j] = vt[i*3 + j]) and its V is U'
     * (V[i][j] = u[j*3 + i]). R = U·diag(1, 1, det(U·Vᵀ))·Vᵀ. */
    double a[9], s[3], u[9], vt[9], work[64];
    memcpy(a, M, sizeof a);
    const int three = 3, lwork = 64;
    int info = 0;
    /* LAPACK's dgesvd (core/lapack.h): the SVD A = U·diag(s)·Vᵀ, column-major */
    const fv_status st = fv__dgesvd("A", "A", &three, &three, a, &three, s, u, &three, vt, &three,
                                    work, &lwork, &info);
    if (st != FV_OK) return st;
    if (info != 0)
        return fv__fail(FV_ERR_NUMERIC, "fv_rotation_nearest: dgesvd did not converge (info %d)",
                        info);
    double U[9], V[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            V[i * 3 + j] = u[j * 3 + i];
            U[i * 3 + j] = vt[i * 3 + j];
        }
    double UVt[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            UVt[i * 3 + j] =
                U[i * 3] * V[j * 3] + U[i * 3 + 1] * V[j * 3 + 1] + U[i * 3 + 2] * V[j * 3 + 2];
    const double det = UVt[0] * (UVt[4] * UVt[8] - UVt[5] * UVt[7]) -
                       UVt[1] * (UVt[3] * UVt[8] - UVt[5] * UVt[6]) +
                       UVt[2] * (UVt[3] * UVt[7] - UVt[4] * UVt[6]);
    const double d[3] = {1, 1, det < 0 ? -1 : 1};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double r = 0;
            for (int k = 0; k < 3; k++)
                r += U[i * 3 + k] * d[k] * V[j * 3 + k];
            R[i * 3 + j] = r;
        }
    return FV_OK;
}

fv_status fv_pose_mean(const fv_pose *poses, int64_t n, fv_pose *out)
{
    fv_status st = check_poses("fv_pose_mean", poses, n);
    if (st != FV_OK) return st;
    double M[9] = {0};
    for (int k = 0; k < 9; k++) {
        for (int64_t i = 0; i < n; i++)
            M[k] += poses[i].R[k];
        M[k] /= (double)n;
    }
    fv_pose p;
    if ((st = fv_rotation_nearest(M, p.R)) != FV_OK) return st;
    mean_translation(poses, n, p.t);
    *out = p;
    return FV_OK;
}

fv_status fv_pose_medoid(const fv_pose *poses, int64_t n, const float *pts, int64_t npts,
                         fv_pose *out)
{
    fv_status st = check_poses("fv_pose_medoid", poses, n);
    if (st != FV_OK) return st;
    if (npts < 1 || !pts)
        return fv__fail(FV_ERR_INVALID, "fv_pose_medoid: no model points (n = %lld)",
                        (long long)npts);
    int64_t best = 0;
    double best_sum = INFINITY;
    for (int64_t i = 0; i < n; i++) {
        fv_pose a = poses[i];
        memset(a.t, 0, sizeof a.t);
        double sum = 0;
        for (int64_t j = 0; j < n; j++) {
            if (j == i) continue;
            fv_pose b = poses[j];
            memset(b.t, 0, sizeof b.t);
            const double e = fv_pose_adds(pts, npts, &a, &b) + fv_pose_adds(pts, npts, &b, &a);
            if (isnan(e)) return fv__fail(FV_ERR_NOMEM, "fv_pose_medoid: out of memory");
            sum += e;
        }
        if (sum < best_sum) best_sum = sum, best = i;
    }
    fv_pose p;
    memcpy(p.R, poses[best].R, sizeof p.R);
    mean_translation(poses, n, p.t);
    *out = p;
    return FV_OK;
}
