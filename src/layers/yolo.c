/* yolo.c — the head of a single-stage, anchor-based detector: Darknet's [yolo] layer with
 * YOLOv5's box decoding and loss (Jocher et al., ultralytics/yolov5 utils/loss.py, 2020). The layer
 * is the identity on a grid of raw predictions; it holds the head's configuration (classes,
 * anchors, loss gains) and provides the task loss `yolo` and the decoding of boxes.
 */
#include "layers/yolo.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define OFF(f) offsetof(fv__yolo_cfg, f)

static const char *const iou_loss_names[] = {"ciou", "giou", NULL};

static const fv_arg_spec yolo_args[] = {
    {"classes", FV_ARG_INT, OFF(classes), NULL, NULL, 1, 65536},
    {"anchors", FV_ARG_FLOATS, OFF(anchors), NULL, NULL, 1e-3, 1e4},
    {"max_boxes", FV_ARG_INT, OFF(max_boxes), "16", NULL, 1, 4096},
    {"box", FV_ARG_FLOAT, OFF(box), "0.05", NULL, 0, 1e6},
    {"obj", FV_ARG_FLOAT, OFF(obj), "1.0", NULL, 0, 1e6},
    {"cls", FV_ARG_FLOAT, OFF(cls), "0.5", NULL, 0, 1e6},
    {"anchor_t", FV_ARG_FLOAT, OFF(anchor_t), "4.0", NULL, 1, 1e6},
    {"iou_loss", FV_ARG_CHOICE, OFF(iou_loss), "ciou", iou_loss_names, 0, 0},
    {"neighbor_cells", FV_ARG_INT, OFF(neighbor_cells), "0", NULL, 0, 2},
    {0},
};

int64_t fv__yolo_anchors(const fv_layer *l)
{
    return ((const fv__yolo_cfg *)l->cfg)->anchors.n / 2;
}

static fv_status yolo_build(fv_layer *l)
{
    const fv__yolo_cfg *c = l->cfg;
    fv_status s = fv__args_check_required(l);
    if (s) return s;
    if (c->anchors.n % 2)
        return fv__fail(FV_ERR_INVALID,
                        "yolo: anchors= takes width,height pairs (in grid cells); %d numbers is "
                        "not a whole number of pairs",
                        c->anchors.n);
    if (c->neighbor_cells == 1)
        return fv__fail(FV_ERR_INVALID,
                        "yolo: neighbor_cells=1: expected 0 (the centre cell only, Darknet's "
                        "assignment) or 2 (and the two nearest neighbours, YOLOv5's)");
    const fv_shape *in = &l->in[0];
    const int64_t A = c->anchors.n / 2, K = 5 + c->classes;
    char shape[96];
    fv__shape_format(in, shape, sizeof shape);
    if (in->rank != 3 || in->d[2] != A * K)
        return fv__fail(FV_ERR_SHAPE,
                        "yolo: the input must be a grid (rows, cols, anchors × (5 + classes)) = "
                        "(rows, cols, %lld × %lld = %lld), got %s",
                        (long long)A, (long long)K, (long long)(A * K), shape);
    l->out = *in;
    l->nparams = 0;
    l->saved_per_sample = 0;
    return FV_OK;
}

static void yolo_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const int64_t count = r->n * fv__shape_size(&l->in[0]);
    if (y != xs[0]) memcpy(y, xs[0], (size_t)count * sizeof(float));
}

static void yolo_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                          float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    const int64_t count = r->n * fv__shape_size(&l->in[0]);
    if (dxs[0] && dxs[0] != dy) memcpy(dxs[0], dy, (size_t)count * sizeof(float));
}

/* ---- geometry ---------------------------------------------------------------------------------
 */

static double sigmoid(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* Binary cross-entropy of the logit z against target t: softplus(z) − t·z, stable. */
static double bce_logit(double z, double t)
{
    return (z > 0 ? z : 0) + log1p(exp(-fabs(z))) - t * z;
}

void fv__yolo_decode_box(const float *p, int64_t row, int64_t col, double aw, double ah,
                         double box[4])
{
    const double sx = sigmoid(p[0]), sy = sigmoid(p[1]), sw = sigmoid(p[2]), sh = sigmoid(p[3]);
    box[0] = 2 * sx - 0.5 + (double)col;
    box[1] = 2 * sy - 0.5 + (double)row;
    box[2] = 4 * sw * sw * aw;
    box[3] = 4 * sh * sh * ah;
}

double fv__box_ciou(const double p[4], const double g[4], bool giou, double d[4])
{
    const double eps = 1e-7;
    const double px1 = p[0] - p[2] / 2, px2 = p[0] + p[2] / 2, py1 = p[1] - p[3] / 2,
                 py2 = p[1] + p[3] / 2;
    const double gx1 = g[0] - g[2] / 2, gx2 = g[0] + g[2] / 2, gy1 = g[1] - g[3] / 2,
                 gy2 = g[1] + g[3] / 2;
    /* ∂/∂ of the corners px1, px2, py1, py2 and of the size terms (area, aspect) directly */
    double dc[4] = {0, 0, 0, 0}, dw = 0, dh = 0, dcx = 0, dcy = 0;
    /* intersection */
    const double iw = fmin(px2, gx2) - fmax(px1, gx1), ih = fmin(py2, gy2) - fmax(py1, gy1);
    const bool overlap = iw > 0 && ih > 0;
    const double I = overlap ? iw * ih : 0;
    const double Ap = p[2] * p[3], Ag = g[2] * g[3], U = Ap + Ag - I + eps, iou = I / U;
    const double dI = (U + I) / (U * U), dAp = -I / (U * U); /* ∂iou/∂I, ∂iou/∂Ap */
    if (overlap) {
        dc[0] += dI * ih * (px1 > gx1 ? -1 : 0);
        dc[1] += dI * ih * (px2 < gx2 ? 1 : 0);
        dc[2] += dI * iw * (py1 > gy1 ? -1 : 0);
        dc[3] += dI * iw * (py2 < gy2 ? 1 : 0);
    }
    dw += dAp * p[3], dh += dAp * p[2];
    /* the enclosing box */
    const double cw = fmax(px2, gx2) - fmin(px1, gx1), ch = fmax(py2, gy2) - fmin(py1, gy1);
    const double dcw[2] = {px1 <= gx1 ? -1 : 0, px2 >= gx2 ? 1 : 0}; /* ∂cw/∂px1, ∂cw/∂px2 */
    const double dch[2] = {py1 <= gy1 ? -1 : 0, py2 >= gy2 ? 1 : 0};
    double value;
    if (giou) {
        /* GIoU = iou − (C − U)/C (Rezatofighi et al., CVPR 2019) */
        const double C = cw * ch + eps;
        value = iou - (C - U) / C;
        /* ∂(−(C − U)/C) = ∂U/C − U·∂C/C²; ∂U = ∂Ap − ∂I */
        const double kU = 1 / C, kC = -U / (C * C);
        if (overlap) {
            dc[0] -= kU * ih * (px1 > gx1 ? -1 : 0);
            dc[1] -= kU * ih * (px2 < gx2 ? 1 : 0);
            dc[2] -= kU * iw * (py1 > gy1 ? -1 : 0);
            dc[3] -= kU * iw * (py2 < gy2 ? 1 : 0);
        }
        dw += kU * p[3], dh += kU * p[2];
        dc[0] += kC * ch * dcw[0], dc[1] += kC * ch * dcw[1];
        dc[2] += kC * cw * dch[0], dc[3] += kC * cw * dch[1];
    } else {
        /* CIoU = iou − ρ²/c² − α·v, α = v / (v − iou + 1) held constant (Zheng et al., AAAI
         * 2020, as YOLOv5 computes it) */
        const double c2 = cw * cw + ch * ch + eps;
        const double ex = p[0] - g[0], ey = p[1] - g[1], rho2 = ex * ex + ey * ey;
        const double k = 4 / (M_PI * M_PI);
        /* atan2(w, h) is atan(w/h) for h > 0, and stays finite for a predicted box of zero
         * size (both size logits far below zero), where w/h would be 0/0 */
        const double delta = atan2(g[2], g[3]) - atan2(p[2], p[3]), v = k * delta * delta;
        const double alpha = v / (v - iou + (1 + eps));
        value = iou - (rho2 / c2 + alpha * v);
        dcx -= 2 * ex / c2, dcy -= 2 * ey / c2;
        const double kc = rho2 / (c2 * c2); /* ∂(−ρ²/c²)/∂c² */
        dc[0] += kc * 2 * cw * dcw[0], dc[1] += kc * 2 * cw * dcw[1];
        dc[2] += kc * 2 * ch * dch[0], dc[3] += kc * 2 * ch * dch[1];
        const double r2 = p[2] * p[2] + p[3] * p[3];
        if (r2 > 0) {
            dw -= alpha * (-2 * k * delta * p[3] / r2);
            dh -= alpha * (2 * k * delta * p[2] / r2);
        }
    }
    if (d) {
        /* corners → centre and size: x1 = cx − w/2, x2 = cx + w/2 */
        d[0] = dc[0] + dc[1] + dcx;
        d[1] = dc[2] + dc[3] + dcy;
        d[2] = (dc[1] - dc[0]) / 2 + dw;
        d[3] = (dc[3] - dc[2]) / 2 + dh;
    }
    return value;
}

/* ---- targets and assignment ------------------------------------------------------------------ */

static int64_t yolo_target_width(const fv_layer *head)
{
    return 1 + 5 * ((const fv__yolo_cfg *)head->cfg)->max_boxes;
}

/* Every image's slot owners, assigned once per batch. */
static size_t yolo_scratch(const fv_layer *head, int64_t n)
{
    const fv_shape *o = &head->out;
    return (size_t)(n * o->d[0] * o->d[1] * fv__yolo_anchors(head)) * sizeof(int32_t);
}

static fv_status yolo_check_targets(const fv_layer *head, const float *t, int64_t n)
{
    const fv__yolo_cfg *c = head->cfg;
    const int64_t tw = yolo_target_width(head);
    for (int64_t i = 0; i < n; i++) {
        const float *ti = t + i * tw;
        const float count = ti[0];
        if (!(count >= 0 && count <= (float)c->max_boxes && count == floorf(count)))
            return fv__fail(FV_ERR_INVALID,
                            "sample %lld (counting from 0): the box count %g is not a whole "
                            "number in [0, max_boxes=%lld]",
                            (long long)i, (double)count, (long long)c->max_boxes);
        for (int64_t b = 0; b < (int64_t)count; b++) {
            const float *r = ti + 1 + 5 * b;
            const bool cls_ok = r[0] >= 0 && r[0] < (float)c->classes && r[0] == floorf(r[0]);
            const bool box_ok = r[1] >= 0 && r[1] <= 1 && r[2] >= 0 && r[2] <= 1 && r[3] > 0 &&
                                r[3] <= 1 && r[4] > 0 && r[4] <= 1;
            if (!cls_ok || !box_ok)
                return fv__fail(FV_ERR_INVALID,
                                "sample %lld, box %lld (counting from 0): (class %g, cx %g, cy %g, "
                                "w %g, h %g) must be a class in [0, %lld) and a box normalised "
                                "to the image (centre in [0, 1], size in (0, 1])",
                                (long long)i, (long long)b, (double)r[0], (double)r[1],
                                (double)r[2], (double)r[3], (double)r[4], (long long)c->classes);
        }
    }
    return FV_OK;
}

/* The largest ratio between a box's and an anchor's sides (YOLOv5's anchor match). */
static double anchor_ratio(double w, double h, double aw, double ah)
{
    return fmax(fmax(w / aw, aw / w), fmax(h / ah, ah / h));
}

/* The neighbour cell YOLOv5's build_targets adds for a centre at g (in cells, on an axis of n
 * cells): the cell of g − 0.5 when g lies in the left half of its cell and g > 1, the cell of
 * g + 0.5 when in the right half and g < n − 1, clamped into [0, n); −1 for none. */
static int64_t neighbor(double g, int64_t n)
{
    const double f = g - floor(g);
    double at;
    if (f < 0.5 && g > 1)
        at = g - 0.5;
    else if (f > 0.5 && g < (double)n - 1)
        at = g + 0.5;
    else
        return -1;
    const int64_t i = (int64_t)at;
    return i < n ? i : n - 1;
}

/* Gives the slots of one cell to box b at the anchors it matches. */
static void claim(const fv__yolo_cfg *c, const float *ti, int64_t b, int64_t cell, int64_t A,
                  int64_t best, double gw, double gh, int32_t *owner)
{
    const float *r = ti + 1 + 5 * b;
    for (int64_t a = 0; a < A; a++) {
        const double ratio = anchor_ratio(gw, gh, c->anchors.v[2 * a], c->anchors.v[2 * a + 1]);
        if (a != best && !(ratio < c->anchor_t)) continue;
        int32_t *o = &owner[cell * A + a];
        /* a slot two boxes want goes to the smaller one (the harder to find), ties to the first */
        if (*o >= 0) {
            const float *q = ti + 1 + 5 * *o;
            if (!((double)r[3] * r[4] < (double)q[3] * q[4])) continue;
        }
        *o = (int32_t)b;
    }
}

int64_t fv__yolo_assign(const fv_layer *head, const float *ti, int32_t *owner)
{
    const fv__yolo_cfg *c = head->cfg;
    const int64_t H = head->out.d[0], W = head->out.d[1], A = fv__yolo_anchors(head);
    for (int64_t s = 0; s < H * W * A; s++)
        owner[s] = -1;
    const int64_t count = (int64_t)ti[0];
    for (int64_t b = 0; b < count; b++) {
        const float *r = ti + 1 + 5 * b;
        const double gx = r[1] * (double)W, gy = r[2] * (double)H, gw = r[3] * (double)W,
                     gh = r[4] * (double)H;
        int64_t col = (int64_t)gx, row = (int64_t)gy;
        col = col < W ? col : W - 1, row = row < H ? row : H - 1;
        int64_t best = 0;
        for (int64_t a = 1; a < A; a++)
            if (anchor_ratio(gw, gh, c->anchors.v[2 * a], c->anchors.v[2 * a + 1]) <
                anchor_ratio(gw, gh, c->anchors.v[2 * best], c->anchors.v[2 * best + 1]))
                best = a;
        claim(c, ti, b, row * W + col, A, best, gw, gh, owner);
        if (c->neighbor_cells) {
            /* a neighbour that falls on the centre cell (a centre on the image's far edge,
             * clamped into the last cell) adds nothing */
            const int64_t nc = neighbor(gx, W), nr = neighbor(gy, H);
            if (nc >= 0 && nc != col) claim(c, ti, b, row * W + nc, A, best, gw, gh, owner);
            if (nr >= 0 && nr != row) claim(c, ti, b, nr * W + col, A, best, gw, gh, owner);
        }
    }
    int64_t pos = 0;
    for (int64_t s = 0; s < H * W * A; s++)
        pos += owner[s] >= 0;
    return pos;
}

/* ---- the loss -------------------------------------------------------------------------------- */

static double yolo_compute(const fv_layer *head, const float *y, const float *t, int64_t n,
                           float *dy, double *parts, void *scratch)
{
    const fv__yolo_cfg *c = head->cfg;
    const int64_t H = head->out.d[0], W = head->out.d[1], A = fv__yolo_anchors(head);
    const int64_t C = c->classes, K = 5 + C, slots = H * W * A, tw = yolo_target_width(head);
    int32_t *owners = scratch; /* n × slots */
    if (dy) memset(dy, 0, (size_t)(n * slots * K) * sizeof(float));
    /* YOLOv5's means: box and class terms over the batch's positive slots, objectness over
     * every slot of the batch */
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++)
        npos += fv__yolo_assign(head, t + i * tw, owners + i * slots);
    const double kbox = npos ? c->box / (double)npos : 0,
                 kcls = npos ? c->cls / (double)(npos * C) : 0, kobj = c->obj / (double)(n * slots);
    double lbox = 0, lobj = 0, lcls = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *ti = t + i * tw;
        const int32_t *owner = owners + i * slots;
        for (int64_t s = 0; s < slots; s++) {
            const float *p = y + (i * slots + s) * K;
            float *g = dy ? dy + (i * slots + s) * K : NULL;
            double tobj = 0;
            if (owner[s] >= 0) {
                const float *r = ti + 1 + 5 * owner[s];
                const int64_t a = s % A, cell = s / A, row = cell / W, col = cell % W;
                const double aw = c->anchors.v[2 * a], ah = c->anchors.v[2 * a + 1];
                double pb[4], d[4];
                fv__yolo_decode_box(p, row, col, aw, ah, pb);
                const double gb[4] = {r[1] * (double)W, r[2] * (double)H, r[3] * (double)W,
                                      r[4] * (double)H};
                const double iou = fv__box_ciou(pb, gb, c->iou_loss == 1, d);
                lbox += 1 - iou;
                tobj = iou > 0 ? iou : 0; /* YOLOv5's objectness target, held constant */
                if (g) {
                    const double sx = sigmoid(p[0]), sy = sigmoid(p[1]), sw = sigmoid(p[2]),
                                 sh = sigmoid(p[3]);
                    g[0] = (float)(-kbox * d[0] * 2 * sx * (1 - sx));
                    g[1] = (float)(-kbox * d[1] * 2 * sy * (1 - sy));
                    g[2] = (float)(-kbox * d[2] * 8 * sw * sw * (1 - sw) * aw);
                    g[3] = (float)(-kbox * d[3] * 8 * sh * sh * (1 - sh) * ah);
                }
                for (int64_t k = 0; k < C; k++) {
                    const double target = k == (int64_t)r[0] ? 1.0 : 0.0;
                    lcls += bce_logit(p[5 + k], target);
                    if (g) g[5 + k] = (float)(kcls * (sigmoid(p[5 + k]) - target));
                }
            }
            lobj += bce_logit(p[4], tobj);
            if (g) g[4] = (float)(kobj * (sigmoid(p[4]) - tobj));
        }
    }
    parts[0] = kbox * lbox;
    parts[1] = kobj * lobj;
    parts[2] = kcls * lcls;
    return parts[0] + parts[1] + parts[2];
}

static const fv_task_loss yolo_loss = {
    .name = "yolo",
    .parts = {"box_loss", "obj_loss", "cls_loss", NULL},
    .target_width = yolo_target_width,
    .scratch_bytes = yolo_scratch,
    .check_targets = yolo_check_targets,
    .compute = yolo_compute,
};

const fv_layer_kind fv__kind_yolo = {
    .name = "yolo",
    .keras_class = "YOLO",
    .keras_name = "yolo",
    .args = yolo_args,
    .cfg_size = sizeof(fv__yolo_cfg),
    .build = yolo_build,
    .forward = yolo_forward,
    .backward = yolo_backward,
    .task_loss = &yolo_loss,
};
