/* pose.c — the head of a 6D pose network (issue 13). Its input is 9 numbers per sample: the
 * continuous 6-D rotation representation (Zhou et al., CVPR 2019), turned into a rotation matrix by
 * Gram–Schmidt, and three translation parameters passed through: the object centre's image offset
 * from the principal point in focal lengths, x/z = (u − cx)/fx and y/z = (v − cy)/fy (PoseCNN's
 * centre, camera-independent), and its depth over the focal length, z/f (mm per pixel: an image
 * resized with its K keeps it). Output: R (9, row-major) and those three. It provides the task loss
 * `pose`: PoseCNN's PLoss (Xiang et al., RSS 2018, eq. 4), or its SLoss for a symmetric object,
 * on the rotation, plus half the squared error of the translation parameters with the offsets'
 * weighted by the target's (z/f)² — to first order ½|t̃ − t|²/f², every axis in mm alike.
 */
#include "layers/layer.h"
#include "model/model_impl.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef struct pose_cfg {
    fv_floats extent;          /* the object's bounding box, mm: size_x, size_y, size_z */
    int symmetry;              /* none: PLoss; discrete, continuous: SLoss */
    double translation_weight; /* the translation term's weight */
    int crop;                  /* the input: the whole image (none) or a crop around the box */
    double crop_pad, crop_jitter_scale, crop_jitter_shift; /* fv_pose_crop's */
} pose_cfg;

enum { SYM_NONE, SYM_DISCRETE, SYM_CONTINUOUS };
enum { POSE_IN = 9, POSE_OUT = 12, POSE_TARGET = 16, RING = 16, MAX_POINTS = 2 * RING };

#define OFF(f) offsetof(pose_cfg, f)

static const char *const symmetry_names[] = {"none", "discrete", "continuous", NULL};
static const char *const crop_names[] = {"none", "box", NULL};

static const fv_arg_spec pose_args[] = {
    {"extent", FV_ARG_FLOATS, OFF(extent), NULL, NULL, 1e-3, 1e6},
    {"symmetry", FV_ARG_CHOICE, OFF(symmetry), "none", symmetry_names, 0, 0},
    {"translation_weight", FV_ARG_FLOAT, OFF(translation_weight), "1.0", NULL, 0, 1e6},
    {"crop", FV_ARG_CHOICE, OFF(crop), "none", crop_names, 0, 0},
    {"crop_pad", FV_ARG_FLOAT, OFF(crop_pad), "1.5", NULL, 0.1, 100},
    {"crop_jitter_scale", FV_ARG_FLOAT, OFF(crop_jitter_scale), "0.25", NULL, 0, 0.9},
    {"crop_jitter_shift", FV_ARG_FLOAT, OFF(crop_jitter_shift), "0.25", NULL, 0, 10},
    {0},
};

static fv_status pose_build(fv_layer *l)
{
    const pose_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    if (c->extent.n != 3)
        return fv__fail(FV_ERR_INVALID,
                        "pose: extent= takes the object's three sizes in mm (models_info's "
                        "size_x,size_y,size_z); got %d numbers",
                        c->extent.n);
    char shape[96];
    fv__shape_format(&l->in[0], shape, sizeof shape);
    if (l->in[0].rank != 1 || l->in[0].d[0] != POSE_IN)
        return fv__fail(FV_ERR_SHAPE,
                        "pose: the input must be 9 numbers (6 of the rotation, 3 of the "
                        "translation), got %s",
                        shape);
    l->out.rank = 1;
    l->out.d[0] = POSE_OUT;
    l->nparams = 0;
    l->saved_per_sample = 0;
    return FV_OK;
}

static void pose_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    (void)l;
    for (int64_t i = 0; i < r->n; i++) {
        const float *x = xs[0] + i * POSE_IN;
        double r6[6], R[9];
        for (int k = 0; k < 6; k++)
            r6[k] = x[k];
        fv_rot6d_to_matrix(r6, R);
        for (int k = 0; k < 9; k++)
            y[i * POSE_OUT + k] = (float)R[k];
        for (int k = 0; k < 3; k++)
            y[i * POSE_OUT + 9 + k] = x[6 + k];
    }
}

static void pose_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                          float *const *dxs, fv_run *r)
{
    (void)l, (void)y;
    if (!dxs[0]) return;
    for (int64_t i = 0; i < r->n; i++) {
        const float *x = xs[0] + i * POSE_IN;
        double r6[6], dR[9], dr6[6];
        for (int k = 0; k < 6; k++)
            r6[k] = x[k];
        for (int k = 0; k < 9; k++)
            dR[k] = dy[i * POSE_OUT + k];
        fv_rot6d_backward(r6, dR, dr6);
        float *dx = dxs[0] + i * POSE_IN;
        for (int k = 0; k < 6; k++)
            dx[k] = (float)dr6[k];
        for (int k = 0; k < 3; k++)
            dx[6 + k] = dy[i * POSE_OUT + 9 + k];
    }
}

/* ---- the task loss ------------------------------------------------------------------------ */

/* The loss's points, in units of the bounding box's diagonal D (so that the rotation term does
 * not depend on the object's size): the box's 8 corners, or for a continuous symmetry (about z, as
 * BOP's cylinders) two rings of RING points on the box's top and bottom, radius min(x, y)/2. */
static int loss_points(const pose_cfg *c, double (*p)[3])
{
    const double *e = c->extent.v;
    const double D = sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]);
    if (c->symmetry == SYM_CONTINUOUS) {
        const double rad = 0.5 * fmin(e[0], e[1]) / D;
        for (int k = 0; k < 2 * RING; k++) {
            double a = 2 * M_PI * (k % RING) / RING;
            p[k][0] = rad * cos(a), p[k][1] = rad * sin(a);
            p[k][2] = (k < RING ? -0.5 : 0.5) * e[2] / D;
        }
        return 2 * RING;
    }
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < 3; j++)
            p[k][j] = ((k >> j) & 1 ? 0.5 : -0.5) * e[j] / D;
    return 8;
}

static int64_t pose_target_width(const fv_layer *head)
{
    (void)head;
    return POSE_TARGET;
}

/* The target's translation parameters: (x/z, y/z, z/f) with f = (fx + fy)/2. */
static void target_params(const float *t, double *p)
{
    const double z = t[11], f = 0.5 * ((double)t[12] + t[13]);
    p[0] = t[9] / z;
    p[1] = t[10] / z;
    p[2] = z / f;
}

static fv_status pose_check_targets(const fv_layer *head, const float *t, int64_t n)
{
    (void)head;
    for (int64_t i = 0; i < n; i++) {
        const float *s = t + i * POSE_TARGET;
        for (int k = 0; k < POSE_TARGET; k++)
            if (!isfinite(s[k]))
                return fv__fail(FV_ERR_INVALID, "pose: sample %lld: target value %d is not finite",
                                (long long)i, k);
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) {
                double d = 0;
                for (int k = 0; k < 3; k++)
                    d += (double)s[a * 3 + k] * s[b * 3 + k];
                if (fabs(d - (a == b)) > 1e-3)
                    return fv__fail(FV_ERR_INVALID,
                                    "pose: sample %lld: the target's R (values 0-8, row-major) is "
                                    "not a rotation",
                                    (long long)i);
            }
        if (!(s[11] > 0) || !(s[12] > 0) || !(s[13] > 0))
            return fv__fail(FV_ERR_INVALID,
                            "pose: sample %lld: expected t_z > 0 mm (value 11) and fx, fy > 0 "
                            "(values 12, 13); the target is R (9), t (3, mm), fx, fy, cx, cy",
                            (long long)i);
    }
    return FV_OK;
}

/* PLoss: 1/(2m) Σ_j |R̃x_j − Rx_j|²; SLoss: 1/(2m) Σ_j min_k |R̃x_j − Rx_k|². Adds its
 * gradient with respect to R̃ times scale into dR (when not NULL). */
static double rotation_loss(const pose_cfg *c, const double (*p)[3], int m, const float *Re,
                            const float *Rg, double *dR, double scale)
{
    double ep[MAX_POINTS][3], gp[MAX_POINTS][3];
    for (int j = 0; j < m; j++)
        for (int a = 0; a < 3; a++) {
            ep[j][a] = (double)Re[a * 3] * p[j][0] + (double)Re[a * 3 + 1] * p[j][1] +
                       (double)Re[a * 3 + 2] * p[j][2];
            gp[j][a] = (double)Rg[a * 3] * p[j][0] + (double)Rg[a * 3 + 1] * p[j][1] +
                       (double)Rg[a * 3 + 2] * p[j][2];
        }
    double L = 0;
    for (int j = 0; j < m; j++) {
        int best = j;
        if (c->symmetry != SYM_NONE) {
            double bd = INFINITY;
            for (int k = 0; k < m; k++) {
                double d = 0;
                for (int a = 0; a < 3; a++)
                    d += (ep[j][a] - gp[k][a]) * (ep[j][a] - gp[k][a]);
                if (d < bd) bd = d, best = k;
            }
        }
        for (int a = 0; a < 3; a++) {
            const double diff = ep[j][a] - gp[best][a];
            L += diff * diff;
            if (dR)
                for (int b = 0; b < 3; b++)
                    dR[a * 3 + b] += scale * diff * p[j][b] / m;
        }
    }
    return L / (2.0 * m);
}

static double pose_compute(const fv_layer *head, const float *y, const float *t, int64_t n,
                           float *dy, double *parts, void *scratch)
{
    (void)scratch;
    const pose_cfg *c = head->cfg;
    double p[MAX_POINTS][3];
    const int m = loss_points(c, p);
    double rot = 0, trans = 0;
    const double w = c->translation_weight;
    for (int64_t i = 0; i < n; i++) {
        const float *yi = y + i * POSE_OUT, *ti = t + i * POSE_TARGET;
        double dR[9] = {0}, tp[3];
        rot += rotation_loss(c, (const double(*)[3])p, m, yi, ti, dy ? dR : NULL, 1.0 / n);
        target_params(ti, tp);
        /* An offset's error δ(x/z) moves the centre z·δ mm sideways, a depth error δ(z/f) moves
         * it f·δ mm along the axis: so ½[(z/f)²(δ₀² + δ₁²) + δ₂²] ≈ ½|t̃ − t|²/f², every axis's
         * mm weighted alike. Unweighted, a mm sideways counted (f/z)² as much as one in depth
         * (1/14 on the rendered sets; docs/design.md has the measurement). */
        const double lateral = tp[2] * tp[2];
        for (int k = 0; k < 3; k++) {
            const double d = yi[9 + k] - tp[k], a = k < 2 ? lateral : 1.0;
            trans += 0.5 * a * d * d;
            if (dy) dy[i * POSE_OUT + 9 + k] = (float)(w * a * d / n);
        }
        if (dy)
            for (int k = 0; k < 9; k++)
                dy[i * POSE_OUT + k] = (float)dR[k];
    }
    parts[0] = rot / n;
    parts[1] = w * trans / n;
    return parts[0] + parts[1];
}

static const fv_task_loss pose_loss = {
    .name = "pose",
    .parts = {"rotation_loss", "translation_loss", NULL},
    .target_width = pose_target_width,
    .check_targets = pose_check_targets,
    .compute = pose_compute,
};

const fv_layer_kind fv__kind_pose = {
    .name = "pose",
    .keras_class = "Pose",
    .keras_name = "pose",
    .args = pose_args,
    .cfg_size = sizeof(pose_cfg),
    .build = pose_build,
    .forward = pose_forward,
    .backward = pose_backward,
    .task_loss = &pose_loss,
};

bool fv_model_is_pose(const fv_model *m, double extent[3])
{
    const int node = m && m->nlayers ? fv__model_output_node(m) : -1;
    if (node < 0 || m->layers[node].kind != &fv__kind_pose) return false;
    const pose_cfg *c = m->layers[node].cfg;
    if (extent)
        for (int k = 0; k < 3; k++)
            extent[k] = c->extent.n == 3 ? c->extent.v[k] : 0;
    return true;
}

bool fv_model_pose_symmetric(const fv_model *m)
{
    const int node = m && m->nlayers ? fv__model_output_node(m) : -1;
    if (node < 0 || m->layers[node].kind != &fv__kind_pose) return false;
    return ((const pose_cfg *)m->layers[node].cfg)->symmetry != SYM_NONE;
}

bool fv_model_pose_crop(const fv_model *m, fv_pose_crop *out)
{
    *out = (fv_pose_crop){0};
    const int node = m && m->nlayers ? fv__model_output_node(m) : -1;
    if (node < 0 || m->layers[node].kind != &fv__kind_pose) return false;
    const pose_cfg *c = m->layers[node].cfg;
    out->enabled = c->crop == 1;
    out->pad = c->crop_pad;
    out->jitter_scale = c->crop_jitter_scale;
    out->jitter_shift = c->crop_jitter_shift;
    return out->enabled;
}
