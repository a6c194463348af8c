/* augment_geometric.c — Keras 3's preprocessing layers that move pixels: random_flip,
 * random_translation, random_rotation, random_zoom and random_crop (random in training), and
 * center_crop and resizing (always). Each is a map from output to input pixel indices sampled
 * with Keras' fill modes and interpolation (keras.ops.image.affine_transform, as its NumPy, JAX
 * and PyTorch backends compute it); backward is the adjoint of that sampling.
 */
#include "layers/augment.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { FILL_REFLECT, FILL_WRAP, FILL_CONSTANT, FILL_NEAREST };
static const char *const fill_names[] = {"reflect", "wrap", "constant", "nearest", NULL};
enum { INTERP_NEAREST, INTERP_BILINEAR };
static const char *const interp_names[] = {"nearest", "bilinear", NULL};
enum { FLIP_HORIZONTAL, FLIP_VERTICAL, FLIP_BOTH };
static const char *const flip_names[] = {"horizontal", "vertical", "horizontal_and_vertical", NULL};

/* How the samples of a layer are read: the source window (h × w × c at row y0, column x0 of the
 * W-wide input image), the output size, and Keras' fill mode and interpolation. */
typedef struct sampler {
    int64_t h, w, c, W, y0, x0;
    int64_t oh, ow;
    int interp, fill;
    float fill_value;
} sampler;

/* The map of one sample: output index (xo, yo) reads input index (relative to the window)
 *     xi = a[0]·xo + a[1]·yo + a[2],   yi = a[3]·xo + a[4]·yo + a[5]
 * (the first six numbers of Keras' transform; an index is a pixel centre). */
typedef struct amap {
    double a[6];
} amap;

static const amap identity_map = {{1, 0, 0, 0, 1, 0}};

/* ---- configurations and arguments -------------------------------------------------------- */

typedef struct flip_cfg {
    int mode;
} flip_cfg;

/* random_translation, random_rotation and random_zoom: factors, fill and interpolation. */
typedef struct warp_cfg {
    fv_floats height_factor, width_factor; /* rotation: factor in height_factor */
    int fill_mode, interpolation;
    double fill_value;
} warp_cfg;

/* random_crop, center_crop and resizing: the output size. */
typedef struct size_cfg {
    int64_t height, width;
    int interpolation;
    bool crop_to_aspect_ratio;
} size_cfg;

static const fv_arg_spec flip_args[] = {
    {"mode", FV_ARG_CHOICE, offsetof(flip_cfg, mode), "horizontal_and_vertical", flip_names, 0, 0},
    {0},
};

#define OFF(f) offsetof(warp_cfg, f)
/* Keras' fill_mode, interpolation and fill_value, the same on the three warping kinds. */
#define WARP_ARGS                                                                                  \
    {"fill_mode", FV_ARG_CHOICE, OFF(fill_mode), "reflect", fill_names, 0, 0},                     \
        {"interpolation", FV_ARG_CHOICE, OFF(interpolation), "bilinear", interp_names, 0, 0},      \
    {                                                                                              \
        "fill_value", FV_ARG_FLOAT, OFF(fill_value), "0", NULL, -1e30, 1e30                        \
    }
static const fv_arg_spec translation_args[] = {
    {"height_factor", FV_ARG_FLOATS, OFF(height_factor), NULL, NULL, -1, 1},
    {"width_factor", FV_ARG_FLOATS, OFF(width_factor), NULL, NULL, -1, 1},
    WARP_ARGS,
    {0},
};
static const fv_arg_spec rotation_args[] = {
    {"factor", FV_ARG_FLOATS, OFF(height_factor), NULL, NULL, -1, 1},
    WARP_ARGS,
    {0},
};
static const fv_arg_spec zoom_args[] = {
    {"height_factor", FV_ARG_FLOATS, OFF(height_factor), NULL, NULL, -1, 1},
    {"width_factor", FV_ARG_FLOATS, OFF(width_factor), "None", NULL, -1, 1},
    WARP_ARGS,
    {0},
};
#undef WARP_ARGS
#undef OFF

#define OFF(f) offsetof(size_cfg, f)
/* Two tables of the same keys: errors name the kind that owns the table. */
#define SIZE_ARGS                                                                                  \
    {"height", FV_ARG_INT, OFF(height), NULL, NULL, 1, FV_ARG_DIM_MAX},                            \
    {                                                                                              \
        "width", FV_ARG_INT, OFF(width), NULL, NULL, 1, FV_ARG_DIM_MAX                             \
    }
static const fv_arg_spec crop_args[] = {SIZE_ARGS, {0}};
static const fv_arg_spec center_crop_args[] = {SIZE_ARGS, {0}};
static const fv_arg_spec resizing_args[] = {
    SIZE_ARGS,
    {"interpolation", FV_ARG_CHOICE, OFF(interpolation), "bilinear", interp_names, 0, 0},
    {"crop_to_aspect_ratio", FV_ARG_BOOL, OFF(crop_to_aspect_ratio), "false", NULL, 0, 0},
    {0},
};
#undef SIZE_ARGS
#undef OFF

/* ---- shared helpers ----------------------------------------------------------------------- */

fv_status fv__augment_factor(const fv_layer *l, const char *key, const fv_floats *f,
                             double range[2])
{
    if (f->n == 1) {
        range[0] = -fabs(f->v[0]), range[1] = fabs(f->v[0]);
        return FV_OK;
    }
    if (f->n == 2) {
        range[0] = fmin(f->v[0], f->v[1]), range[1] = fmax(f->v[0], f->v[1]);
        return FV_OK;
    }
    return fv__fail(FV_ERR_INVALID,
                    "%s: argument %s: expected a number or two numbers lower,upper; got %d",
                    l->kind->name, key, f->n);
}

double fv__augment_uniform(fv_rng *r, double lo, double hi)
{
    const double u = (double)(fv__rng_next(r) >> 11) * 0x1p-53;
    return lo + (hi - lo) * u;
}

/* The input must be an image (rank 3); FV_ERR_SHAPE naming the kind otherwise. */
static fv_status need_image(const fv_layer *l)
{
    if (l->in[0].rank == 3) return FV_OK;
    char in[96];
    fv__shape_format(&l->in[0], in, sizeof in);
    return fv__fail(FV_ERR_SHAPE,
                    "%s: input %s has rank %d; %s needs images (None, height, width, channels)",
                    l->kind->name, in, l->in[0].rank, l->kind->name);
}

/* Keras' smart_resize window: the largest centred h0 × w0 window of an H × W image with the
 * aspect ratio of oh × ow (keras.preprocessing.image.smart_resize, in its integer arithmetic). */
static void aspect_window(int64_t H, int64_t W, int64_t oh, int64_t ow, sampler *s)
{
    int64_t ch = (int64_t)((double)(W * oh) / (double)ow);
    ch = ch < H ? ch : H;
    ch = ch > 1 ? ch : 1;
    int64_t cw = (int64_t)((double)(H * ow) / (double)oh);
    cw = cw < W ? cw : W;
    cw = cw > 1 ? cw : 1;
    s->h = ch, s->w = cw;
    s->y0 = (H - ch) / 2, s->x0 = (W - cw) / 2;
}

/* The map of a resize of the window to oh × ow: half-pixel centres, as tf.image.resize and
 * keras.ops.image.resize (antialias=False), with the neighbours clamped to the window. */
static amap resize_map(const sampler *s)
{
    const double sx = (double)s->w / (double)s->ow, sy = (double)s->h / (double)s->oh;
    return (amap){{sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5}};
}

/* ---- sampling and its adjoint ------------------------------------------------------------ */

/* The index i of an axis of n pixels under the fill mode: Keras' "reflect" (d c b a | a b c d |
 * d c b a), "wrap" (a b c d | a b c d), "nearest" (a a a a | a b c d | d d d d); -1 for a
 * "constant" read outside. */
static int64_t fix_index(int64_t i, int64_t n, int fill)
{
    if (i >= 0 && i < n) return i;
    switch (fill) {
    case FILL_REFLECT: {
        const int64_t p = 2 * n;
        int64_t m = i % p;
        if (m < 0) m += p;
        return m < n ? m : p - 1 - m;
    }
    case FILL_WRAP: {
        int64_t m = i % n;
        return m < 0 ? m + n : m;
    }
    case FILL_NEAREST:
        return i < 0 ? 0 : n - 1;
    default:
        return -1;
    }
}

/* floor(v), v kept far from int64_t's limits first (an index that far out reads the fill whatever
 * its exact value); by conversion, which is exact there, rather than a call into libm. */
static inline double floor_clamped(double v)
{
    if (v < -1e15) v = -1e15;
    if (v > 1e15) v = 1e15;
    const double t = (double)(int64_t)v;
    return t > v ? t - 1.0 : t;
}

static inline int64_t floor_index(double v)
{
    return (int64_t)floor_clamped(v);
}

/* Up to four taps of one output pixel: offsets (floats from the window's corner, -1: the fill
 * value) and weights. Returns how many. */
static int taps(const sampler *s, const amap *m, int64_t xo, int64_t yo, int64_t off[4],
                float wt[4])
{
    const double *a = m->a;
    const double xi = a[0] * (double)xo + a[1] * (double)yo + a[2];
    const double yi = a[3] * (double)xo + a[4] * (double)yo + a[5];
    const int64_t rs = s->W * s->c;
    if (s->interp == INTERP_NEAREST) {
        /* Round half up, floor(v + 0.5), as scipy's map_coordinates (Keras' NumPy backend);
         * its TensorFlow and PyTorch backends round half to even: only exact halves differ. */
        const int64_t ix = fix_index(floor_index(xi + 0.5), s->w, s->fill);
        const int64_t iy = fix_index(floor_index(yi + 0.5), s->h, s->fill);
        off[0] = ix < 0 || iy < 0 ? -1 : iy * rs + ix * s->c;
        wt[0] = 1.0f;
        return 1;
    }
    const int64_t x0 = floor_index(xi), y0 = floor_index(yi);
    const float fx = (float)(xi - (double)x0), fy = (float)(yi - (double)y0);
    const int64_t cx[2] = {fix_index(x0, s->w, s->fill), fix_index(x0 + 1, s->w, s->fill)};
    const int64_t cy[2] = {fix_index(y0, s->h, s->fill), fix_index(y0 + 1, s->h, s->fill)};
    const float wx[2] = {1.0f - fx, fx}, wy[2] = {1.0f - fy, fy};
    for (int k = 0; k < 4; k++) {
        const int64_t ix = cx[k & 1], iy = cy[k >> 1];
        off[k] = ix < 0 || iy < 0 ? -1 : iy * rs + ix * s->c;
        wt[k] = wy[k >> 1] * wx[k & 1];
    }
    return 4;
}

/* Forward (adjoint false): dst [oh × ow × c] sampled from the image src [H × W × c]. Adjoint:
 * the image's gradient dst [H × W × c] (image_size values) is zeroed, then receives the output's
 * gradient src [oh × ow × c] through the weights of each output's taps (fill values take none).
 * Taps inside the window take a direct path; it computes what taps() gives, in the same order. */
static void sample_image(const sampler *s, const amap *m, const float *src, float *dst,
                         bool adjoint, int64_t image_size)
{
    const int64_t C = s->c, rs = s->W * C, corner = (s->y0 * s->W + s->x0) * C;
    const int64_t oh = s->oh, ow = s->ow;
    const double a0 = m->a[0], a1 = m->a[1], a2 = m->a[2], a3 = m->a[3], a4 = m->a[4], a5 = m->a[5];
    const double wd = (double)s->w, hd = (double)s->h;
    const bool bilinear = s->interp == INTERP_BILINEAR;
    if (adjoint) memset(dst, 0, (size_t)image_size * sizeof(float));
    for (int64_t yo = 0; yo < oh; yo++)
        for (int64_t xo = 0; xo < ow; xo++) {
            const int64_t o = (yo * ow + xo) * C;
            const double xi = a0 * (double)xo + a1 * (double)yo + a2;
            const double yi = a3 * (double)xo + a4 * (double)yo + a5;
            const double fx0 = floor_clamped(bilinear ? xi : xi + 0.5);
            const double fy0 = floor_clamped(bilinear ? yi : yi + 0.5);
            const int reach = bilinear; /* the second tap of each axis */
            if (fx0 >= 0 && fx0 + reach < wd && fy0 >= 0 && fy0 + reach < hd) {
                const int64_t p = corner + (int64_t)fy0 * rs + (int64_t)fx0 * C;
                if (!bilinear && adjoint) {
                    for (int64_t c = 0; c < C; c++)
                        dst[p + c] += src[o + c];
                    continue;
                }
                if (!bilinear) {
                    for (int64_t c = 0; c < C; c++)
                        dst[o + c] = src[p + c];
                    continue;
                }
                const float fx = (float)(xi - fx0), fy = (float)(yi - fy0);
                const float w00 = (1.0f - fy) * (1.0f - fx), w01 = (1.0f - fy) * fx;
                const float w10 = fy * (1.0f - fx), w11 = fy * fx;
                if (adjoint) {
                    for (int64_t c = 0; c < C; c++) {
                        const float g = src[o + c];
                        dst[p + c] += w00 * g, dst[p + C + c] += w01 * g;
                        dst[p + rs + c] += w10 * g, dst[p + rs + C + c] += w11 * g;
                    }
                    continue;
                }
                const float *q = src + p;
                for (int64_t c = 0; c < C; c++)
                    dst[o + c] =
                        w00 * q[c] + w01 * q[C + c] + w10 * q[rs + c] + w11 * q[rs + C + c];
                continue;
            }
            int64_t off[4];
            float wt[4];
            const int nt = taps(s, m, xo, yo, off, wt);
            if (adjoint) {
                for (int k = 0; k < nt; k++)
                    if (off[k] >= 0)
                        for (int64_t c = 0; c < C; c++)
                            dst[corner + off[k] + c] += wt[k] * src[o + c];
                continue;
            }
            for (int64_t c = 0; c < C; c++) {
                float acc = 0.0f;
                for (int k = 0; k < nt; k++)
                    acc += wt[k] * (off[k] < 0 ? s->fill_value : src[corner + off[k] + c]);
                dst[o + c] = acc;
            }
        }
}

/* ---- the kinds' maps ---------------------------------------------------------------------- */

static bool is_random(const fv_layer *l)
{
    return l->kind == &fv__kind_random_flip || l->kind == &fv__kind_random_translation ||
           l->kind == &fv__kind_random_rotation || l->kind == &fv__kind_random_zoom ||
           l->kind == &fv__kind_random_crop;
}

static bool is_geometric(const fv_layer *l)
{
    return is_random(l) || l->kind == &fv__kind_center_crop || l->kind == &fv__kind_resizing;
}

/* random_crop in training takes a random window, drawn per sample (Keras: one per batch), when
 * the image is at least its size in both axes (Keras 3's code: strictly larger); otherwise, and at
 * inference, it resizes the centred window of its aspect ratio, as Keras documents (Keras 3's code
 * returns the image uncropped at inference), and as center_crop does for a smaller image. */
static bool crop_is_random(const fv_layer *l, bool training)
{
    const size_cfg *c = l->cfg;
    return training && l->in[0].d[0] >= c->height && l->in[0].d[1] >= c->width;
}

/* The sampler of l in training or inference mode: the whole image, or a fixed window. */
static sampler layer_sampler(const fv_layer *l, bool training)
{
    const int64_t H = l->in[0].d[0], W = l->in[0].d[1], C = l->in[0].d[2];
    sampler s = {.h = H, .w = W, .c = C, .W = W, .oh = l->out.d[0], .ow = l->out.d[1]};
    s.interp = INTERP_NEAREST, s.fill = FILL_NEAREST;
    if (l->kind == &fv__kind_random_translation || l->kind == &fv__kind_random_rotation ||
        l->kind == &fv__kind_random_zoom) {
        const warp_cfg *c = l->cfg;
        s.interp = c->interpolation, s.fill = c->fill_mode, s.fill_value = (float)c->fill_value;
    } else if (l->kind == &fv__kind_random_crop || l->kind == &fv__kind_center_crop) {
        const size_cfg *c = l->cfg;
        const bool fits = H >= c->height && W >= c->width;
        if (l->kind == &fv__kind_random_crop ? !crop_is_random(l, training) : !fits) {
            aspect_window(H, W, c->height, c->width, &s);
            s.interp = INTERP_BILINEAR;
        } else if (l->kind == &fv__kind_center_crop) {
            s.h = c->height, s.w = c->width;
            s.y0 = (H - c->height) / 2, s.x0 = (W - c->width) / 2;
        }
    } else if (l->kind == &fv__kind_resizing) {
        const size_cfg *c = l->cfg;
        if (c->crop_to_aspect_ratio) aspect_window(H, W, c->height, c->width, &s);
        s.interp = c->interpolation;
    }
    return s;
}

/* Sample i's map, drawn from its stream st in training (random kinds), fixed otherwise. */
static amap layer_map(const fv_layer *l, const sampler *s, bool training, fv_rng *st)
{
    const double H = (double)l->in[0].d[0], W = (double)l->in[0].d[1];
    if (l->kind == &fv__kind_resizing || l->kind == &fv__kind_center_crop ||
        (l->kind == &fv__kind_random_crop && !crop_is_random(l, training)))
        return s->oh == s->h && s->ow == s->w ? identity_map : resize_map(s);
    if (!training) return identity_map;
    if (l->kind == &fv__kind_random_flip) {
        const flip_cfg *c = l->cfg;
        /* One draw for both axes, as Keras 3 (flips = uniform <= 0.5). */
        if (!(fv__augment_uniform(st, 0, 1) <= 0.5)) return identity_map;
        const bool h = c->mode != FLIP_VERTICAL, v = c->mode != FLIP_HORIZONTAL;
        return (amap){{h ? -1 : 1, 0, h ? W - 1 : 0, 0, v ? -1 : 1, v ? H - 1 : 0}};
    }
    if (l->kind == &fv__kind_random_crop) {
        const size_cfg *c = l->cfg;
        const double oy = (double)fv__rng_below(st, (uint64_t)(l->in[0].d[0] - c->height + 1));
        const double ox = (double)fv__rng_below(st, (uint64_t)(l->in[0].d[1] - c->width + 1));
        return (amap){{1, 0, ox, 0, 1, oy}};
    }
    const warp_cfg *c = l->cfg;
    double hr[2], wr[2];
    fv__augment_factor(l, "height_factor", &c->height_factor, hr); /* checked by build */
    if (l->kind == &fv__kind_random_translation) {
        fv__augment_factor(l, "width_factor", &c->width_factor, wr);
        const double dy = fv__augment_uniform(st, hr[0], hr[1]) * H;
        const double dx = fv__augment_uniform(st, wr[0], wr[1]) * W;
        return (amap){{1, 0, -dx, 0, 1, -dy}};
    }
    if (l->kind == &fv__kind_random_rotation) {
        /* keras.layers.RandomRotation: a turn of factor·2π about the image centre, positive
         * counter-clockwise. */
        const double t = fv__augment_uniform(st, hr[0], hr[1]) * 2.0 * M_PI;
        const double co = cos(t), si = sin(t);
        const double xo = ((W - 1) - (co * (W - 1) - si * (H - 1))) / 2.0;
        const double yo = ((H - 1) - (si * (W - 1) + co * (H - 1))) / 2.0;
        return (amap){{co, -si, xo, si, co, yo}};
    }
    /* random_zoom: zoom = 1 + factor per axis (positive: out), the same for both when
     * width_factor is None; about the image centre. */
    const double zh = 1.0 + fv__augment_uniform(st, hr[0], hr[1]);
    double zw = zh;
    if (c->width_factor.n) {
        fv__augment_factor(l, "width_factor", &c->width_factor, wr);
        zw = 1.0 + fv__augment_uniform(st, wr[0], wr[1]);
    }
    return (amap){{zw, 0, (W - 1) / 2.0 * (1.0 - zw), 0, zh, (H - 1) / 2.0 * (1.0 - zh)}};
}

/* ---- build, forward, backward -------------------------------------------------------------- */

static fv_status geo_build(fv_layer *l)
{
    fv_status s = fv__args_check_required(l);
    if (!s) s = need_image(l);
    if (s) return s;
    l->out = l->in[0];
    if (l->kind == &fv__kind_random_crop || l->kind == &fv__kind_center_crop ||
        l->kind == &fv__kind_resizing) {
        const size_cfg *c = l->cfg;
        l->out.d[0] = c->height, l->out.d[1] = c->width;
        if (fv__shape_size(&l->out) < 0)
            return fv__fail(FV_ERR_SHAPE, "%s: output %lldx%lldx%lld is too large", l->kind->name,
                            (long long)c->height, (long long)c->width, (long long)l->in[0].d[2]);
    } else if (l->kind != &fv__kind_random_flip) {
        const warp_cfg *c = l->cfg;
        const bool rot = l->kind == &fv__kind_random_rotation;
        double r[2];
        s = fv__augment_factor(l, rot ? "factor" : "height_factor", &c->height_factor, r);
        if (!s && c->width_factor.n) s = fv__augment_factor(l, "width_factor", &c->width_factor, r);
        if (s) return s;
        if (l->kind == &fv__kind_random_zoom) {
            double h[2], w[2] = {0, 0};
            fv__augment_factor(l, "height_factor", &c->height_factor, h);
            if (c->width_factor.n) fv__augment_factor(l, "width_factor", &c->width_factor, w);
            /* A zoom of 1 + factor must stay positive for the map to be invertible. */
            if (!(h[0] > -1.0) || !(w[0] > -1.0))
                return fv__fail(FV_ERR_INVALID,
                                "random_zoom: argument %s: the lower bound must be greater than -1 "
                                "(a zoom of 1 + factor; -1 would shrink the image to a point)",
                                h[0] > -1.0 ? "width_factor" : "height_factor");
        }
    }
    l->nparams = 0;
    memset(l->params, 0, sizeof l->params);
    l->saved_per_sample = is_random(l) ? sizeof(amap) : 0;
    return FV_OK;
}

static void geo_forward(fv_layer *l, const float *const *xs, float *y, fv_run *r)
{
    const float *x = xs[0];
    const int64_t n = r->n, isz = fv__shape_size(&l->in[0]), osz = fv__shape_size(&l->out);
    const bool random = is_random(l);
    if (random && !r->training && l->kind != &fv__kind_random_crop) {
        if (y != x) memcpy(y, x, (size_t)(n * isz) * sizeof(float));
        return;
    }
    const sampler s = layer_sampler(l, r->training);
    amap *saved = random && r->training ? l->saved : NULL;
    FV_ASSERT(!random || !r->training || (saved && r->rng));
    const fv_rng *rng = r->rng;
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * osz * 4);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        /* Sample i draws from its own stream split off the run's: the same maps whatever the
         * thread count. */
        fv_rng st;
        if (rng) fv__run_sample(r, i, &st);
        const amap m = layer_map(l, &s, r->training, &st);
        if (saved) saved[i] = m;
        sample_image(&s, &m, x + i * isz, y + i * osz, false, isz);
    }
}

static void geo_backward(fv_layer *l, const float *const *xs, const float *y, float *dy,
                         float *const *dxs, fv_run *r)
{
    (void)xs, (void)y;
    float *dx = dxs[0];
    if (!dx) return;
    const int64_t n = r->n, isz = fv__shape_size(&l->in[0]), osz = fv__shape_size(&l->out);
    const bool random = is_random(l);
    if (random && !r->training && l->kind != &fv__kind_random_crop) {
        memcpy(dx, dy, (size_t)(n * isz) * sizeof(float));
        return;
    }
    const sampler s = layer_sampler(l, r->training);
    const amap *saved = random && r->training ? l->saved : NULL;
    FV_ASSERT(!random || !r->training || saved);
    const int threads FV_OMP_ONLY = fv__work_threads(r, n * osz * 4);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        const amap m = saved ? saved[i] : layer_map(l, &s, r->training, NULL);
        sample_image(&s, &m, dy + i * osz, dx + i * isz, true, isz);
    }
}

/* ---- what the rest of fovea asks ---------------------------------------------------------- */

bool fv__augment_moves_pixels(const fv_layer *l)
{
    return is_geometric(l);
}

bool fv__augment_affine(const fv_layer *l, int64_t i, bool training, double m[6])
{
    static const double id[6] = {1, 0, 0, 0, 1, 0};
    memcpy(m, id, sizeof id);
    if (!is_geometric(l)) return false;
    const sampler s = layer_sampler(l, training);
    amap a;
    if (is_random(l) && training) {
        FV_ASSERT(l->saved);
        a = ((const amap *)l->saved)[i];
    } else {
        a = layer_map(l, &s, training, NULL);
    }
    /* Index coordinates are continuous ones less half a pixel, and relative to the window:
     * p_in = L·p_out + t with t = a's translation + window corner + ½ - L·(½, ½). */
    const double *L = a.a;
    const double tx = L[2] + (double)s.x0 + 0.5 - 0.5 * (L[0] + L[1]);
    const double ty = L[5] + (double)s.y0 + 0.5 - 0.5 * (L[3] + L[4]);
    const double det = L[0] * L[4] - L[1] * L[3];
    FV_ASSERT(det != 0.0); /* zoom factors stay above -1 (build) */
    const double i0 = L[4] / det, i1 = -L[1] / det, i3 = -L[3] / det, i4 = L[0] / det;
    const double out[6] = {i0, i1, -(i0 * tx + i1 * ty), i3, i4, -(i3 * tx + i4 * ty)};
    memcpy(m, out, sizeof out);
    return true;
}

double fv__augment_move_box(const double m[6], const double in[4], double w, double h,
                            double out[4])
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int k = 0; k < 4; k++) {
        const double x = in[k & 1 ? 2 : 0], y = in[k & 2 ? 3 : 1];
        const double p[2] = {m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]};
        for (int a = 0; a < 2; a++)
            lo[a] = fmin(lo[a], p[a]), hi[a] = fmax(hi[a], p[a]);
    }
    const double area = (hi[0] - lo[0]) * (hi[1] - lo[1]);
    out[0] = fmin(fmax(lo[0], 0), w), out[1] = fmin(fmax(lo[1], 0), h);
    out[2] = fmin(fmax(hi[0], 0), w), out[3] = fmin(fmax(hi[1], 0), h);
    const double kept = (out[2] - out[0]) * (out[3] - out[1]);
    return area > 0 ? kept / area : 0.0;
}

/* ---- the kinds ---------------------------------------------------------------------------- */

#define GEO_KIND(NAME, CLASS, ARGS, CFG)                                                           \
    {                                                                                              \
        .name = NAME, .keras_class = CLASS, .keras_name = NAME, .args = ARGS,                      \
        .cfg_size = sizeof(CFG), .build = geo_build, .forward = geo_forward,                       \
        .backward = geo_backward,                                                                  \
    }

const fv_layer_kind fv__kind_random_flip =
    GEO_KIND("random_flip", "RandomFlip", flip_args, flip_cfg);
const fv_layer_kind fv__kind_random_translation =
    GEO_KIND("random_translation", "RandomTranslation", translation_args, warp_cfg);
const fv_layer_kind fv__kind_random_rotation =
    GEO_KIND("random_rotation", "RandomRotation", rotation_args, warp_cfg);
const fv_layer_kind fv__kind_random_zoom =
    GEO_KIND("random_zoom", "RandomZoom", zoom_args, warp_cfg);
const fv_layer_kind fv__kind_random_crop =
    GEO_KIND("random_crop", "RandomCrop", crop_args, size_cfg);
const fv_layer_kind fv__kind_center_crop =
    GEO_KIND("center_crop", "CenterCrop", center_crop_args, size_cfg);
const fv_layer_kind fv__kind_resizing = GEO_KIND("resizing", "Resizing", resizing_args, size_cfg);
