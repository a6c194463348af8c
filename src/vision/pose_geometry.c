/* pose_geometry.c — rotation and pose geometry for 6D pose: the continuous 6-D rotation
 * representation with its backward, geodesic rotation error (with symmetries), Euler angles, the
 * symmetry set of a BOP model, and the pose errors ADD, ADD-S, MSSD, MSPD and proj.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RAD2DEG  (180.0 / M_PI)
#define DEG2RAD  (M_PI / 180.0)
#define NORM_EPS 1e-12 /* PyTorch's F.normalize */

static double dot3(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static void cross3(const double *a, const double *b, double *c)
{
    c[0] = a[1] * b[2] - a[2] * b[1];
    c[1] = a[2] * b[0] - a[0] * b[2];
    c[2] = a[0] * b[1] - a[1] * b[0];
}

static double norm_clamped(const double *a)
{
    double n = sqrt(dot3(a, a));
    return n > NORM_EPS ? n : NORM_EPS;
}

/* C = A·B, 3×3 row-major. */
static void matmul3(const double *A, const double *B, double *C)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            C[i * 3 + j] = A[i * 3] * B[j] + A[i * 3 + 1] * B[3 + j] + A[i * 3 + 2] * B[6 + j];
}

/* y = R·x + t (t may be NULL). */
static void transform(const double *R, const double *t, const double *x, double *y)
{
    for (int i = 0; i < 3; i++)
        y[i] = R[i * 3] * x[0] + R[i * 3 + 1] * x[1] + R[i * 3 + 2] * x[2] + (t ? t[i] : 0.0);
}

/* The Gram–Schmidt intermediates shared by the forward and the backward. */
typedef struct gs {
    double a1[3], a2[3], n1, b1[3], d, u[3], n2, b2[3], b3[3];
} gs;

static void gram_schmidt(const double r6[6], gs *g)
{
    memcpy(g->a1, r6, sizeof g->a1);
    memcpy(g->a2, r6 + 3, sizeof g->a2);
    g->n1 = norm_clamped(g->a1);
    for (int i = 0; i < 3; i++)
        g->b1[i] = g->a1[i] / g->n1;
    g->d = dot3(g->b1, g->a2);
    for (int i = 0; i < 3; i++)
        g->u[i] = g->a2[i] - g->d * g->b1[i];
    g->n2 = norm_clamped(g->u);
    for (int i = 0; i < 3; i++)
        g->b2[i] = g->u[i] / g->n2;
    cross3(g->b1, g->b2, g->b3);
}

void fv_rot6d_to_matrix(const double r6[6], double R[9])
{
    gs g;
    gram_schmidt(r6, &g);
    for (int i = 0; i < 3; i++) {
        R[i * 3 + 0] = g.b1[i];
        R[i * 3 + 1] = g.b2[i];
        R[i * 3 + 2] = g.b3[i];
    }
}

void fv_rot6d_from_matrix(const double R[9], double r6[6])
{
    for (int i = 0; i < 3; i++) {
        r6[i] = R[i * 3 + 0];
        r6[3 + i] = R[i * 3 + 1];
    }
}

/* Backward of x ↦ x / n with n = max(|x|, eps): g_x = (g_y − y (y·g_y)) / n when |x| > eps,
 * else g_y / eps (the clamp makes n constant there). */
static void normalize_backward(const double *y, double n, bool clamped, const double *gy,
                               double *gx)
{
    double p = clamped ? 0.0 : dot3(y, gy);
    for (int i = 0; i < 3; i++)
        gx[i] = (gy[i] - y[i] * p) / n;
}

void fv_rot6d_backward(const double r6[6], const double dR[9], double dr6[6])
{
    gs g;
    gram_schmidt(r6, &g);
    double gb1[3], gb2[3], gb3[3], t[3];
    for (int i = 0; i < 3; i++) {
        gb1[i] = dR[i * 3 + 0];
        gb2[i] = dR[i * 3 + 1];
        gb3[i] = dR[i * 3 + 2];
    }
    /* b3 = b1 × b2: d(b1×b2)·g = db1·(b2×g) + db2·(g×b1). */
    cross3(g.b2, gb3, t);
    for (int i = 0; i < 3; i++)
        gb1[i] += t[i];
    cross3(gb3, g.b1, t);
    for (int i = 0; i < 3; i++)
        gb2[i] += t[i];
    /* b2 = u / n2 */
    double gu[3];
    normalize_backward(g.b2, g.n2, sqrt(dot3(g.u, g.u)) <= NORM_EPS, gb2, gu);
    /* u = a2 − (b1·a2) b1 */
    double bgu = dot3(g.b1, gu);
    double ga2[3];
    for (int i = 0; i < 3; i++) {
        ga2[i] = gu[i] - g.b1[i] * bgu;
        gb1[i] -= g.d * gu[i] + g.a2[i] * bgu;
    }
    /* b1 = a1 / n1 */
    double ga1[3];
    normalize_backward(g.b1, g.n1, sqrt(dot3(g.a1, g.a1)) <= NORM_EPS, gb1, ga1);
    memcpy(dr6, ga1, sizeof ga1);
    memcpy(dr6 + 3, ga2, sizeof ga2);
}

/* The angle in degrees whose cosine is (trace − 1)/2, clamped. */
static double angle_from_trace(double trace)
{
    double c = 0.5 * (trace - 1.0);
    if (c > 1.0) c = 1.0;
    if (c < -1.0) c = -1.0;
    return acos(c) * RAD2DEG;
}

double fv_rotation_error(const double Ra[9], const double Rb[9])
{
    double tr = 0;
    for (int i = 0; i < 9; i++)
        tr += Ra[i] * Rb[i]; /* tr(Ra·Rbᵀ) */
    return angle_from_trace(tr);
}

/* R = Rz(e2)·Ry(e1)·Rx(e0), angles in degrees. */
void fv_rotation_from_euler(const double e[3], double R[9])
{
    double ca = cos(e[0] * DEG2RAD), sa = sin(e[0] * DEG2RAD);
    double cb = cos(e[1] * DEG2RAD), sb = sin(e[1] * DEG2RAD);
    double cc = cos(e[2] * DEG2RAD), sc = sin(e[2] * DEG2RAD);
    R[0] = cc * cb;
    R[1] = cc * sb * sa - sc * ca;
    R[2] = cc * sb * ca + sc * sa;
    R[3] = sc * cb;
    R[4] = sc * sb * sa + cc * ca;
    R[5] = sc * sb * ca - cc * sa;
    R[6] = -sb;
    R[7] = cb * sa;
    R[8] = cb * ca;
}

void fv_rotation_to_euler(const double R[9], double e[3])
{
    double s = -R[6];
    if (s > 1.0) s = 1.0;
    if (s < -1.0) s = -1.0;
    e[1] = asin(s) * RAD2DEG;
    if (fabs(R[6]) >= 1.0 - 1e-12) {
        /* Gimbal lock, R = Rz(c)·Ry(±90°)·Rx(a): only a ∓ c is defined; as SciPy, z's angle is
         * 0 and x's takes the whole turn (R01 = ±sin(a ∓ c), R11 = cos(a ∓ c)). */
        e[2] = 0.0;
        e[0] = atan2(R[6] < 0 ? R[1] : -R[1], R[4]) * RAD2DEG;
    } else {
        e[0] = atan2(R[7], R[8]) * RAD2DEG;
        e[2] = atan2(R[3], R[0]) * RAD2DEG;
    }
    for (int i = 0; i < 3; i += 2)
        if (e[i] <= -180.0) e[i] += 360.0;
}

/* Rotation by angle (radians) about a unit axis (Rodrigues' formula). */
static void axis_angle(const double *a, double angle, double *R)
{
    double c = cos(angle), s = sin(angle), v = 1.0 - c;
    R[0] = c + a[0] * a[0] * v;
    R[1] = a[0] * a[1] * v - a[2] * s;
    R[2] = a[0] * a[2] * v + a[1] * s;
    R[3] = a[1] * a[0] * v + a[2] * s;
    R[4] = c + a[1] * a[1] * v;
    R[5] = a[1] * a[2] * v - a[0] * s;
    R[6] = a[2] * a[0] * v - a[1] * s;
    R[7] = a[2] * a[1] * v + a[0] * s;
    R[8] = c + a[2] * a[2] * v;
}

static bool unit_axis(const double *axis, double *a)
{
    double n = sqrt(dot3(axis, axis));
    if (!(n > 1e-12) || !isfinite(n)) return false;
    for (int i = 0; i < 3; i++)
        a[i] = axis[i] / n;
    return true;
}

bool fv_pose_model_symmetric(const fv_pose_model_info *info)
{
    return info && (info->n_discrete > 0 || info->n_continuous > 0);
}

fv_status fv_pose_symmetries(const fv_pose_model_info *info, double max_sym_disc_step,
                             fv_pose_symmetry **syms, int64_t *n)
{
    *syms = NULL;
    *n = 0;
    if (!(max_sym_disc_step > 0.0 && max_sym_disc_step <= 1.0))
        return fv__fail(FV_ERR_INVALID, "symmetries: max_sym_disc_step %g is outside (0, 1]",
                        max_sym_disc_step);
    const int64_t nd = 1 + (info ? info->n_discrete : 0);
    const int64_t nc_sym = info ? info->n_continuous : 0;
    const int64_t steps = (int64_t)ceil(M_PI / max_sym_disc_step);
    int64_t nc = 0, total;
    if (!fv__mul_i64(nc_sym, steps, &nc) || !fv__mul_i64(nd, nc > 0 ? nc : 1, &total) ||
        total > 10000000)
        return fv__fail(FV_ERR_INVALID,
                        "symmetries: object %lld has too many symmetry transformations",
                        info ? (long long)info->obj_id : 0LL);
    fv_pose_symmetry *disc = fv__alloc((size_t)nd * sizeof *disc, "symmetries");
    fv_pose_symmetry *cont = nc ? fv__alloc((size_t)nc * sizeof *cont, "symmetries") : NULL;
    fv_pose_symmetry *out = fv__alloc((size_t)total * sizeof *out, "symmetries");
    fv_status st = FV_OK;
    if (!disc || (nc && !cont) || !out) {
        st = FV_ERR_NOMEM;
        goto fail;
    }
    static const double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(disc[0].R, eye, sizeof eye);
    memset(disc[0].t, 0, sizeof disc[0].t);
    for (int64_t k = 1; k < nd; k++) {
        const double *m = info->discrete[k - 1];
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++)
                disc[k].R[i * 3 + j] = m[i * 4 + j];
            disc[k].t[i] = m[i * 4 + 3];
        }
    }
    const double step = 2.0 * M_PI / (double)steps;
    for (int64_t s = 0; s < nc_sym; s++) {
        double a[3];
        if (!unit_axis(info->continuous[s].axis, a)) {
            st = fv__fail(FV_ERR_INVALID,
                          "symmetries: object %lld: continuous symmetry %lld has an axis of "
                          "zero length",
                          (long long)info->obj_id, (long long)s);
            goto fail;
        }
        const double *off = info->continuous[s].offset;
        for (int64_t k = 0; k < steps; k++) {
            fv_pose_symmetry *c = &cont[s * steps + k];
            axis_angle(a, (double)k * step, c->R);
            double ro[3];
            transform(c->R, NULL, off, ro);
            for (int i = 0; i < 3; i++)
                c->t[i] = off[i] - ro[i];
        }
    }
    if (nc == 0) {
        memcpy(out, disc, (size_t)nd * sizeof *out);
    } else {
        for (int64_t d = 0; d < nd; d++)
            for (int64_t c = 0; c < nc; c++) {
                fv_pose_symmetry *o = &out[d * nc + c];
                matmul3(cont[c].R, disc[d].R, o->R);
                transform(cont[c].R, cont[c].t, disc[d].t, o->t);
            }
    }
    fv__free(disc);
    fv__free(cont);
    *syms = out;
    *n = total;
    return FV_OK;
fail:
    fv__free(disc);
    fv__free(cont);
    fv__free(out);
    return st;
}

/* The largest tr(C(θ)ᵀ·M) over the rotations C(θ) about the unit axis a, in closed form:
 * C(θ) = cos θ I + (1 − cos θ) a aᵀ + sin θ [a]×, so tr(Cᵀ M) = aᵀMa + A cos θ + B sin θ with
 * A = tr M − aᵀMa and B = Σ [a]×_ij M_ij; its maximum is aᵀMa + √(A² + B²). */
static double max_trace_about_axis(const double *a, const double *M)
{
    double Ma[3];
    transform(M, NULL, a, Ma);
    double aMa = dot3(a, Ma);
    double A = M[0] + M[4] + M[8] - aMa;
    double B = -a[2] * M[1] + a[1] * M[2] + a[2] * M[3] - a[0] * M[5] - a[1] * M[6] + a[0] * M[7];
    return aMa + sqrt(A * A + B * B);
}

double fv_rotation_error_sym(const double R_est[9], const double R_gt[9],
                             const fv_pose_model_info *info)
{
    /* N = R_gtᵀ·R_est; the error under R_gt·C·D has trace tr(Cᵀ·N·Dᵀ). */
    double N[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            N[i * 3 + j] =
                R_gt[i] * R_est[j] + R_gt[3 + i] * R_est[3 + j] + R_gt[6 + i] * R_est[6 + j];
    const int64_t nd = 1 + (info ? info->n_discrete : 0);
    double best = -INFINITY;
    for (int64_t d = 0; d < nd; d++) {
        double M[9];
        if (d == 0) {
            memcpy(M, N, sizeof M);
        } else {
            const double *m = info->discrete[d - 1];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) /* (N·Dᵀ)_ij = Σ_k N_ik D_jk */
                    M[i * 3 + j] = N[i * 3] * m[j * 4] + N[i * 3 + 1] * m[j * 4 + 1] +
                                   N[i * 3 + 2] * m[j * 4 + 2];
        }
        double tr = M[0] + M[4] + M[8];
        if (tr > best) best = tr;
        for (int64_t c = 0; info && c < info->n_continuous; c++) {
            double a[3];
            if (!unit_axis(info->continuous[c].axis, a)) continue;
            double t = max_trace_about_axis(a, M);
            if (t > best) best = t;
        }
    }
    return angle_from_trace(best);
}

double fv_translation_error(const double t_est[3], const double t_gt[3])
{
    double d[3] = {t_est[0] - t_gt[0], t_est[1] - t_gt[1], t_est[2] - t_gt[2]};
    return sqrt(dot3(d, d));
}

static void point(const float *pts, int64_t i, double *x)
{
    x[0] = pts[i * 3];
    x[1] = pts[i * 3 + 1];
    x[2] = pts[i * 3 + 2];
}

/* π(y) = (fx·y0/y2 + cx, fy·y1/y2 + cy) with the full K (skew included); false behind the camera.
 */
static bool project(const double *K, const double *y, double *uv)
{
    double w = K[6] * y[0] + K[7] * y[1] + K[8] * y[2];
    if (!(y[2] > 0.0) || !(w != 0.0)) return false;
    uv[0] = (K[0] * y[0] + K[1] * y[1] + K[2] * y[2]) / w;
    uv[1] = (K[3] * y[0] + K[4] * y[1] + K[5] * y[2]) / w;
    return true;
}

double fv_pose_add(const float *pts, int64_t n, const fv_pose *est, const fv_pose *gt)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double x[3], a[3], b[3];
        point(pts, i, x);
        transform(est->R, est->t, x, a);
        transform(gt->R, gt->t, x, b);
        sum += fv_translation_error(a, b);
    }
    return n > 0 ? sum / (double)n : NAN;
}

double fv_pose_adds(const float *pts, int64_t n, const fv_pose *est, const fv_pose *gt)
{
    if (n < 1) return NAN;
    double *e = malloc((size_t)n * 3 * sizeof *e);
    if (!e) return NAN;
    for (int64_t i = 0; i < n; i++) {
        double x[3];
        point(pts, i, x);
        transform(est->R, est->t, x, e + i * 3);
    }
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static) if (n > 2000)
    for (int64_t i = 0; i < n; i++) {
        double x[3], g[3];
        point(pts, i, x);
        transform(gt->R, gt->t, x, g);
        double best = INFINITY;
        for (int64_t j = 0; j < n; j++) {
            double dx = g[0] - e[j * 3], dy = g[1] - e[j * 3 + 1], dz = g[2] - e[j * 3 + 2];
            double d2 = dx * dx + dy * dy + dz * dz;
            if (d2 < best) best = d2;
        }
        sum += sqrt(best);
    }
    free(e);
    return sum / (double)n;
}

/* P_gt·S: R = R_gt·S.R, t = R_gt·S.t + t_gt. */
static void compose_sym(const fv_pose *gt, const fv_pose_symmetry *s, fv_pose *out)
{
    matmul3(gt->R, s->R, out->R);
    transform(gt->R, gt->t, s->t, out->t);
}

/* The largest per-point distance between est and g: 3-D (K NULL) or projected. */
static double max_distance(const float *pts, int64_t n, const double *K, const fv_pose *est,
                           const fv_pose *g)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double x[3], a[3], b[3], d;
        point(pts, i, x);
        transform(est->R, est->t, x, a);
        transform(g->R, g->t, x, b);
        if (K) {
            double pa[2], pb[2];
            if (!project(K, a, pa) || !project(K, b, pb)) return INFINITY;
            d = hypot(pa[0] - pb[0], pa[1] - pb[1]);
        } else {
            d = fv_translation_error(a, b);
        }
        if (d > worst) worst = d;
    }
    return worst;
}

static double min_over_syms(const float *pts, int64_t n, const double *K, const fv_pose *est,
                            const fv_pose *gt, const fv_pose_symmetry *syms, int64_t nsyms)
{
    double best = INFINITY;
    for (int64_t s = 0; s < nsyms; s++) {
        fv_pose g;
        compose_sym(gt, &syms[s], &g);
        double e = max_distance(pts, n, K, est, &g);
        if (e < best) best = e;
    }
    return n > 0 && nsyms > 0 ? best : NAN;
}

double fv_pose_mssd(const float *pts, int64_t n, const fv_pose *est, const fv_pose *gt,
                    const fv_pose_symmetry *syms, int64_t nsyms)
{
    return min_over_syms(pts, n, NULL, est, gt, syms, nsyms);
}

double fv_pose_mspd(const float *pts, int64_t n, const double K[9], const fv_pose *est,
                    const fv_pose *gt, const fv_pose_symmetry *syms, int64_t nsyms)
{
    return min_over_syms(pts, n, K, est, gt, syms, nsyms);
}

double fv_pose_proj(const float *pts, int64_t n, const double K[9], const fv_pose *est,
                    const fv_pose *gt)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double x[3], a[3], b[3], pa[2], pb[2];
        point(pts, i, x);
        transform(est->R, est->t, x, a);
        transform(gt->R, gt->t, x, b);
        if (!project(K, a, pa) || !project(K, b, pb)) return INFINITY;
        sum += hypot(pa[0] - pb[0], pa[1] - pb[1]);
    }
    return n > 0 ? sum / (double)n : NAN;
}
