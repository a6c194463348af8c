/* test_pose.c — 6D pose geometry: the 6-D rotation representation and its backward, rotation
 * errors with symmetries, Euler angles, the symmetry set and ADD, ADD-S, MSSD, MSPD, proj;
 * hand-worked values, finite differences, and NumPy/SciPy/PyTorch values
 * (fixtures/pose/cases.json, made by fixtures/make_pose_fixtures.py).
 */
#include "fovea.h"
#include "pose_fixture.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double I3[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};

static void rot_z(double deg, double *R)
{
    double e[3] = {0, 0, deg};
    fv_rotation_from_euler(e, R);
}

static void matmul(const double *A, const double *B, double *C)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            C[i * 3 + j] = A[i * 3] * B[j] + A[i * 3 + 1] * B[3 + j] + A[i * 3 + 2] * B[6 + j];
}

TEST(rot6d_hand_worked)
{
    /* a1 = 2x, a2 = x + 3y: b1 = x, u = 3y, b2 = y, b3 = z. */
    const double r6[6] = {2, 0, 0, 1, 3, 0};
    double R[9], back[6];
    fv_rot6d_to_matrix(r6, R);
    for (int i = 0; i < 9; i++)
        CHECK_CLOSE(R[i], I3[i], 1e-15, 0);
    /* a1 = (0, 0, 5) ⇒ b1 = z; a2 = (1, 0, 1) ⇒ u = x, b2 = x; b3 = z × x = y. R's columns. */
    const double r6b[6] = {0, 0, 5, 1, 0, 1};
    const double want[9] = {0, 1, 0, 0, 0, 1, 1, 0, 0};
    fv_rot6d_to_matrix(r6b, R);
    for (int i = 0; i < 9; i++)
        CHECK_CLOSE(R[i], want[i], 1e-15, 0);
    fv_rot6d_from_matrix(R, back);
    const double cols[6] = {0, 0, 1, 1, 0, 0};
    for (int i = 0; i < 6; i++)
        CHECK_CLOSE(back[i], cols[i], 0, 0);
}

TEST(rot6d_degenerate_inputs_stay_finite)
{
    const double zero[6] = {0, 0, 0, 0, 0, 0}, parallel[6] = {1, 2, 3, 2, 4, 6};
    double R[9], g[6];
    const double dR[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    fv_rot6d_to_matrix(zero, R);
    for (int i = 0; i < 9; i++)
        CHECK(isfinite(R[i]));
    fv_rot6d_to_matrix(parallel, R);
    fv_rot6d_backward(parallel, dR, g);
    for (int i = 0; i < 6; i++)
        CHECK(isfinite(g[i]));
}

TEST(rot6d_backward_finite_differences)
{
    const double r6[6] = {0.3, -1.2, 0.5, 0.9, 0.4, -0.7};
    const double dR[9] = {0.5, -1, 2, 0.25, 1.5, -0.75, 1, 0.1, -2};
    double g[6];
    fv_rot6d_backward(r6, dR, g);
    for (int k = 0; k < 6; k++) {
        double p[6], m[6], Rp[9], Rm[9], h = 1e-6, lp = 0, lm = 0;
        memcpy(p, r6, sizeof p);
        memcpy(m, r6, sizeof m);
        p[k] += h;
        m[k] -= h;
        fv_rot6d_to_matrix(p, Rp);
        fv_rot6d_to_matrix(m, Rm);
        for (int i = 0; i < 9; i++)
            lp += dR[i] * Rp[i], lm += dR[i] * Rm[i];
        CHECK_CLOSE(g[k], (lp - lm) / (2 * h), 1e-8, 1e-6);
    }
}

TEST(rotation_error_hand_worked)
{
    double R[9];
    rot_z(90, R);
    CHECK_CLOSE(fv_rotation_error(I3, R), 90.0, 1e-12, 0);
    rot_z(180, R);
    CHECK_CLOSE(fv_rotation_error(I3, R), 180.0, 1e-6, 0);
    CHECK_CLOSE(fv_rotation_error(R, R), 0.0, 1e-6, 0);
    const double t0[3] = {0, 0, 0}, t1[3] = {30, 40, 0};
    CHECK_CLOSE(fv_translation_error(t0, t1), 50.0, 1e-12, 0);
}

TEST(rotation_error_symmetric_hand_worked)
{
    /* A cylinder about model z: R_est = R_gt·Rz(37°) is the same pose. */
    fv_pose_continuous_symmetry cz = {{0, 0, 2}, {0, 0, 0}};
    fv_pose_model_info info = {.obj_id = 1, .diameter = 100, .n_continuous = 1, .continuous = &cz};
    double e[3] = {20, -35, 110}, Rg[9], Rz[9], Re[9];
    fv_rotation_from_euler(e, Rg);
    rot_z(37, Rz);
    matmul(Rg, Rz, Re);
    CHECK_CLOSE(fv_rotation_error(Re, Rg), 37.0, 1e-9, 0);
    CHECK_CLOSE(fv_rotation_error_sym(Re, Rg, &info), 0.0, 1e-5, 0);
    /* Plus a tilt of 10° about model x: what is left is 10°. */
    double ex[3] = {10, 0, 0}, Rx[9], Rzx[9];
    fv_rotation_from_euler(ex, Rx);
    matmul(Rz, Rx, Rzx);
    matmul(Rg, Rzx, Re);
    CHECK_CLOSE(fv_rotation_error_sym(Re, Rg, &info), 10.0, 1e-9, 0);
    CHECK(fv_pose_model_symmetric(&info));
    fv_pose_model_info plain = {.obj_id = 2, .diameter = 100};
    CHECK(!fv_pose_model_symmetric(&plain));
    CHECK_CLOSE(fv_rotation_error_sym(Re, Rg, &plain), fv_rotation_error(Re, Rg), 1e-12, 0);
}

TEST(euler_hand_worked)
{
    double R[9], e[3];
    const double e_in[3] = {30, 0, 0};
    fv_rotation_from_euler(e_in, R); /* Rx(30°) */
    CHECK_CLOSE(R[4], cos(M_PI / 6), 1e-15, 0);
    CHECK_CLOSE(R[5], -0.5, 1e-15, 0);
    CHECK_CLOSE(R[7], 0.5, 1e-15, 0);
    fv_rotation_to_euler(R, e);
    CHECK_CLOSE(e[0], 30, 1e-12, 0);
    CHECK_CLOSE(e[1], 0, 1e-12, 0);
    CHECK_CLOSE(e[2], 0, 1e-12, 0);
    /* Gimbal lock: z's angle folds into x's (SciPy gives (-30, 90, 0) and (70, -90, 0)). */
    const double lock[3] = {20, 90, 50};
    fv_rotation_from_euler(lock, R);
    fv_rotation_to_euler(R, e);
    CHECK_CLOSE(e[1], 90, 1e-6, 0);
    CHECK_CLOSE(e[0], -30, 1e-9, 0);
    CHECK_CLOSE(e[2], 0, 0, 0);
    const double lock2[3] = {20, -90, 50};
    fv_rotation_from_euler(lock2, R);
    fv_rotation_to_euler(R, e);
    CHECK_CLOSE(e[1], -90, 1e-6, 0);
    CHECK_CLOSE(e[0], 70, 1e-9, 0);
    double R2[9];
    fv_rotation_from_euler(e, R2);
    CHECK_CLOSE(fv_rotation_error(R, R2), 0, 1e-5, 0);
}

TEST(symmetry_set_sizes)
{
    fv_pose_symmetry *s = NULL;
    int64_t n = 0;
    CHECK_OK(fv_pose_symmetries(NULL, 0.01, &s, &n));
    CHECK(n == 1 && s && s[0].R[0] == 1 && s[0].R[4] == 1 && s[0].t[0] == 0);
    free(s);
    double flip[16] = {1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1};
    fv_pose_continuous_symmetry cz = {{0, 0, 1}, {0, 0, 0}};
    fv_pose_model_info info = {.obj_id = 3,
                               .diameter = 50,
                               .n_discrete = 1,
                               .discrete = &flip,
                               .n_continuous = 1,
                               .continuous = &cz};
    CHECK_OK(fv_pose_symmetries(&info, 0.01, &s, &n));
    CHECK(n == 2 * 315); /* ceil(π / 0.01) steps, times the identity and the flip */
    free(s);
    CHECK(fv_pose_symmetries(&info, 0, &s, &n) == FV_ERR_INVALID && !s && n == 0);
    fv_pose_continuous_symmetry bad = {{0, 0, 0}, {0, 0, 0}};
    info.continuous = &bad;
    CHECK(fv_pose_symmetries(&info, 0.01, &s, &n) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "zero length");
}

TEST(pose_errors_hand_worked)
{
    /* Two points on the x axis; est = gt shifted by 10 mm along x. */
    const float pts[6] = {-20, 0, 0, 20, 0, 0};
    fv_pose gt = {{1, 0, 0, 0, 1, 0, 0, 0, 1}, {0, 0, 500}};
    fv_pose est = gt;
    est.t[0] = 10;
    const double K[9] = {500, 0, 64, 0, 500, 64, 0, 0, 1};
    fv_pose_symmetry id = {{1, 0, 0, 0, 1, 0, 0, 0, 1}, {0, 0, 0}};
    CHECK_CLOSE(fv_pose_add(pts, 2, &est, &gt), 10, 1e-12, 0);
    CHECK_CLOSE(fv_pose_adds(pts, 2, &est, &gt), 10, 1e-12, 0);
    CHECK_CLOSE(fv_pose_mssd(pts, 2, &est, &gt, &id, 1), 10, 1e-12, 0);
    CHECK_CLOSE(fv_pose_mspd(pts, 2, K, &est, &gt, &id, 1), 500.0 * 10 / 500, 1e-12, 0);
    CHECK_CLOSE(fv_pose_proj(pts, 2, K, &est, &gt), 10, 1e-12, 0);
    /* Turned by 180° about z: the two points swap; ADD 40, ADD-S 0, MSSD with the flip 0. */
    fv_pose turned = gt;
    rot_z(180, turned.R);
    CHECK_CLOSE(fv_pose_add(pts, 2, &turned, &gt), 40, 1e-9, 0);
    CHECK_CLOSE(fv_pose_adds(pts, 2, &turned, &gt), 0, 1e-9, 0);
    fv_pose_symmetry syms[2] = {id, {{-1, 0, 0, 0, -1, 0, 0, 0, 1}, {0, 0, 0}}};
    CHECK_CLOSE(fv_pose_mssd(pts, 2, &turned, &gt, syms, 1), 40, 1e-9, 0);
    CHECK_CLOSE(fv_pose_mssd(pts, 2, &turned, &gt, syms, 2), 0, 1e-9, 0);
    /* A point behind the camera has no projection. */
    fv_pose behind = gt;
    behind.t[2] = -500;
    CHECK(isinf(fv_pose_proj(pts, 2, K, &behind, &gt)));
}

/* ---- against the NumPy fixture --------------------------------------------------------- */

static double get_num(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key)->valuedouble;
}

static void get_pose(const cJSON *o, fv_pose *p)
{
    CHECK(pose_fixture_doubles(o, "R", p->R, 9));
    CHECK(pose_fixture_doubles(o, "t", p->t, 3));
}

/* The fixture's models_info entry as fv_pose_model_info (arrays malloc'd). */
static void get_info(const cJSON *j, fv_pose_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->diameter = get_num(j, "diameter");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "symmetries_discrete");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "symmetries_continuous");
    info->n_discrete = cJSON_GetArraySize(d);
    info->n_continuous = cJSON_GetArraySize(c);
    info->discrete = calloc((size_t)info->n_discrete + 1, sizeof *info->discrete);
    info->continuous = calloc((size_t)info->n_continuous + 1, sizeof *info->continuous);
    for (int k = 0; k < info->n_discrete; k++) {
        const cJSON *m = cJSON_GetArrayItem(d, k);
        for (int i = 0; i < 16; i++)
            info->discrete[k][i] = cJSON_GetArrayItem(m, i)->valuedouble;
    }
    for (int k = 0; k < info->n_continuous; k++) {
        const cJSON *s = cJSON_GetArrayItem(c, k);
        CHECK(pose_fixture_doubles(s, "axis", info->continuous[k].axis, 3));
        CHECK(pose_fixture_doubles(s, "offset", info->continuous[k].offset, 3));
    }
}

TEST(geometry_matches_numpy)
{
    cJSON *root = pose_fixture("cases.json");
    if (!root) SKIP("fixtures/pose/cases.json not found (run from tests/)");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "rot6d"))
    {
        double r6[6], R[9], want[9], dR[9], g[6], want_g[6];
        CHECK(pose_fixture_doubles(c, "r6", r6, 6));
        CHECK(pose_fixture_doubles(c, "R", want, 9));
        CHECK(pose_fixture_doubles(c, "dR", dR, 9));
        CHECK(pose_fixture_doubles(c, "dr6", want_g, 6));
        fv_rot6d_to_matrix(r6, R);
        for (int i = 0; i < 9; i++)
            CHECK_CLOSE(R[i], want[i], 1e-12, 0);
        fv_rot6d_backward(r6, dR, g);
        for (int i = 0; i < 6; i++)
            CHECK_CLOSE(g[i], want_g[i], 1e-10, 1e-10);
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "euler"))
    {
        double R[9], want[3], e[3], R2[9];
        CHECK(pose_fixture_doubles(c, "R", R, 9));
        CHECK(pose_fixture_doubles(c, "xyz", want, 3));
        fv_rotation_to_euler(R, e);
        for (int i = 0; i < 3; i++)
            CHECK_CLOSE(e[i], want[i], 1e-9, 0);
        fv_rotation_from_euler(want, R2);
        for (int i = 0; i < 9; i++)
            CHECK_CLOSE(R2[i], R[i], 1e-12, 0);
    }
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "poses"))
    {
        const cJSON *jp = cJSON_GetObjectItemCaseSensitive(c, "points");
        int n = cJSON_GetArraySize(jp) / 3;
        float *pts = malloc((size_t)n * 3 * sizeof *pts);
        for (int i = 0; i < n * 3; i++)
            pts[i] = (float)cJSON_GetArrayItem(jp, i)->valuedouble;
        fv_pose est, gt;
        get_pose(cJSON_GetObjectItemCaseSensitive(c, "est"), &est);
        get_pose(cJSON_GetObjectItemCaseSensitive(c, "gt"), &gt);
        double K[9];
        CHECK(pose_fixture_doubles(c, "K", K, 9));
        fv_pose_model_info info;
        get_info(cJSON_GetObjectItemCaseSensitive(c, "info"), &info);
        fv_pose_symmetry *syms = NULL;
        int64_t ns = 0;
        CHECK_OK(fv_pose_symmetries(&info, get_num(c, "max_sym_disc_step"), &syms, &ns));
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(c, "symmetries");
        CHECK(ns == cJSON_GetArraySize(js));
        for (int64_t k = 0; k < ns && k < cJSON_GetArraySize(js); k++) {
            fv_pose_symmetry want;
            CHECK(pose_fixture_doubles(cJSON_GetArrayItem(js, (int)k), "R", want.R, 9));
            CHECK(pose_fixture_doubles(cJSON_GetArrayItem(js, (int)k), "t", want.t, 3));
            for (int i = 0; i < 9; i++)
                CHECK_CLOSE(syms[k].R[i], want.R[i], 1e-12, 0);
            for (int i = 0; i < 3; i++)
                CHECK_CLOSE(syms[k].t[i], want.t[i], 1e-12, 0);
        }
        CHECK_CLOSE(fv_pose_add(pts, n, &est, &gt), get_num(c, "add"), 1e-9, 1e-12);
        CHECK_CLOSE(fv_pose_adds(pts, n, &est, &gt), get_num(c, "adds"), 1e-9, 1e-12);
        CHECK_CLOSE(fv_pose_mssd(pts, n, &est, &gt, syms, ns), get_num(c, "mssd"), 1e-9, 1e-12);
        CHECK_CLOSE(fv_pose_mspd(pts, n, K, &est, &gt, syms, ns), get_num(c, "mspd"), 1e-9, 1e-12);
        CHECK_CLOSE(fv_pose_proj(pts, n, K, &est, &gt), get_num(c, "proj"), 1e-9, 1e-12);
        CHECK_CLOSE(fv_rotation_error(est.R, gt.R), get_num(c, "re"), 1e-9, 0);
        CHECK_CLOSE(fv_translation_error(est.t, gt.t), get_num(c, "te"), 1e-9, 0);
        double dense = get_num(c, "re_sym_dense"),
               exact = fv_rotation_error_sym(est.R, gt.R, &info);
        CHECK(exact <= dense + 1e-9);
        CHECK_CLOSE(exact, dense, 2e-3, 0);
        free(syms);
        free(info.discrete);
        free(info.continuous);
        free(pts);
        cases++;
    }
    CHECK(cases == 8);
    cJSON_Delete(root);
}

/* The chordal L2 mean of two rotations about one axis is the rotation by the mid-angle (the mean
 * matrix is cos(half the difference) times it in that plane); t the mean; left-equivariant. */
TEST(pose_mean_hand_worked)
{
    fv_pose p[3], out;
    rot_z(10, p[0].R);
    rot_z(50, p[1].R);
    const double t0[3] = {1, 2, 300}, t1[3] = {3, -2, 310};
    memcpy(p[0].t, t0, sizeof t0);
    memcpy(p[1].t, t1, sizeof t1);
    CHECK(fv_pose_mean(p, 2, &out) == FV_OK);
    double want[9];
    rot_z(30, want);
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(out.R[k], want[k], 1e-12, 0);
    CHECK_CLOSE(out.t[0], 2, 1e-12, 0);
    CHECK_CLOSE(out.t[1], 0, 1e-12, 0);
    CHECK_CLOSE(out.t[2], 305, 1e-12, 0);
    /* one pose: itself */
    CHECK(fv_pose_mean(p, 1, &out) == FV_OK);
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(out.R[k], p[0].R[k], 1e-12, 0);
    /* three rotations about different axes: the mean is a rotation, and turning every input by
     * Q turns the mean by Q (mean(Q·R_i) = Q·mean(R_i)) */
    const double e[3][3] = {{10, -20, 35}, {15, -10, 40}, {5, -25, 30}}, eq[3] = {70, 20, -110};
    double Q[9];
    fv_rotation_from_euler(eq, Q);
    fv_pose q[3], a, b;
    for (int i = 0; i < 3; i++) {
        fv_rotation_from_euler(e[i], p[i].R);
        matmul(Q, p[i].R, q[i].R);
        memset(p[i].t, 0, sizeof p[i].t);
        memset(q[i].t, 0, sizeof q[i].t);
    }
    CHECK(fv_pose_mean(p, 3, &a) == FV_OK && fv_pose_mean(q, 3, &b) == FV_OK);
    double Qa[9], RRt[9], Rt[9];
    matmul(Q, a.R, Qa);
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(b.R[k], Qa[k], 1e-12, 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            Rt[i * 3 + j] = a.R[j * 3 + i];
    matmul(a.R, Rt, RRt);
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(RRt[k], I3[k], 1e-12, 0);
    /* it lies between them: within the largest angle to any of the inputs */
    for (int i = 0; i < 3; i++)
        CHECK(fv_rotation_error(a.R, p[i].R) < 12);
}

/* The nearest rotation: a rotation is its own; diag(2, 1, −0.5) (a reflection's sign) goes to the
 * identity, the sign taken from the smallest singular value (Umeyama's correction). */
TEST(rotation_nearest_hand_worked)
{
    double R[9], out[9];
    rot_z(33, R);
    CHECK(fv_rotation_nearest(R, out) == FV_OK);
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(out[k], R[k], 1e-12, 0);
    const double M[9] = {2, 0, 0, 0, 1, 0, 0, 0, -0.5};
    CHECK(fv_rotation_nearest(M, out) == FV_OK);
    for (int k = 0; k < 9; k++)
        CHECK_CLOSE(out[k], I3[k], 1e-12, 0);
    double bad[9] = {1, 0, 0, 0, 1, 0, 0, 0, NAN};
    CHECK(fv_rotation_nearest(bad, out) == FV_ERR_INVALID);
    fv_pose p[2] = {{{1, 0, 0, 0, 1, 0, 0, 0, 1}, {0, 0, 1}},
                    {{1, 0, 0, 0, 1, 0, 0, 0, 1}, {0, 0, 1}}};
    fv_pose o = {{0}, {0}};
    CHECK(fv_pose_mean(p, 0, &o) == FV_ERR_INVALID);
    p[1].t[2] = INFINITY;
    CHECK(fv_pose_mean(p, 2, &o) == FV_ERR_INVALID);
    CHECK(strstr(fv_last_error(), "pose 1") != NULL);
    CHECK(o.R[0] == 0); /* untouched */
}

/* The medoid: of Rz(0°), Rz(5°), Rz(20°) the middle one (its summed ADD-S to the others the
 * smallest); with a box's 180° turn about z, Rz(182°) is the same as Rz(2°) (ADD-S 0; the mean
 * of the two matrices has a zero x-y block, and no rotation is nearest). */
TEST(pose_medoid_hand_worked)
{
    const float box[8 * 3] = {-40, -15, -10, 40, -15, -10, -40, 15, -10, 40, 15, -10,
                              -40, -15, 10,  40, -15, 10,  -40, 15, 10,  40, 15, 10};
    fv_pose p[3], out;
    const double deg[3] = {0, 5, 20};
    for (int i = 0; i < 3; i++) {
        rot_z(deg[i], p[i].R);
        p[i].t[0] = i, p[i].t[1] = 0, p[i].t[2] = 200 + 3 * i;
    }
    CHECK(fv_pose_medoid(p, 3, box, 8, &out) == FV_OK);
    for (int k = 0; k < 9; k++)
        CHECK(out.R[k] == p[1].R[k]);
    CHECK_CLOSE(out.t[0], 1, 1e-12, 0);
    CHECK_CLOSE(out.t[2], 203, 1e-12, 0);
    const double sym[3] = {2, 182, 20};
    for (int i = 0; i < 3; i++)
        rot_z(sym[i], p[i].R);
    CHECK(fv_pose_medoid(p, 3, box, 8, &out) == FV_OK);
    for (int k = 0; k < 9; k++) /* a tie between the two equivalent ones: the first */
        CHECK(out.R[k] == p[0].R[k]);
    CHECK(fv_pose_medoid(p, 3, box, 0, &out) == FV_ERR_INVALID);
}

int main(void)
{
    RUN(rot6d_hand_worked);
    RUN(rot6d_degenerate_inputs_stay_finite);
    RUN(rot6d_backward_finite_differences);
    RUN(rotation_error_hand_worked);
    RUN(rotation_error_symmetric_hand_worked);
    RUN(euler_hand_worked);
    RUN(symmetry_set_sizes);
    RUN(pose_errors_hand_worked);
    RUN(geometry_matches_numpy);
    RUN(pose_mean_hand_worked);
    RUN(rotation_nearest_hand_worked);
    RUN(pose_medoid_hand_worked);
    return TEST_SUMMARY();
}
