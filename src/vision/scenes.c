/* scenes.c — generated detection scenes: objects cut from a labelled grey image dataset
 * (Fashion-MNIST, MNIST), each scaled, placed at random with overlaps on a cluttered background
 * (noise and faint fragments of other images), with the tight box of each object's pixels.
 */
#include "io/dataset.h"
#include "io/image.h"
#include "vision/vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An object pixel counts (is drawn, and lies in its box) when its value is above this; alpha
 * rises from 0 there to 1 at OPAQUE above it, so faint edges blend into the background. */
#define INK       8
#define OPAQUE    40
#define MAX_TRIES 20 /* placements tried per object before it is left out */

fv_scene_opts fv_scene_defaults(void)
{
    fv_scene_opts o = {
        .size = 128, .max_objects = 6, .min_object = 16, .max_object = 64, .seed = 1};
    return o;
}

static fv_status check(const fv_dataset *src, int64_t count, const fv_scene_opts *o, int64_t *sh,
                       int64_t *sw)
{
    if (!src || !src->u8 || !src->labels || src->n < 1)
        return fv__fail(FV_ERR_INVALID, "scenes: the source must be labelled uint8 images");
    const fv_shape *s = &src->shape;
    if (!(s->rank == 2 || (s->rank == 3 && s->d[2] == 1)))
        return fv__fail(FV_ERR_INVALID, "scenes: the source images must be grey (H, W) or "
                                        "(H, W, 1)");
    *sh = s->d[0], *sw = s->d[1];
    if (*sh < 8 || *sw < 8 || o->size < *sh || o->size < *sw)
        return fv__fail(FV_ERR_INVALID,
                        "scenes: the source images (%lld x %lld) must be at least 8 x 8 and fit "
                        "in the scene (size %lld)",
                        (long long)*sh, (long long)*sw, (long long)o->size);
    if (count < 0) return fv__fail(FV_ERR_INVALID, "scenes: a negative count");
    if (o->size < 8 || o->size > 4096)
        return fv__fail(FV_ERR_INVALID, "scenes: size %lld is not within 8..4096",
                        (long long)o->size);
    if (o->max_objects < 1 || o->max_objects > 100)
        return fv__fail(FV_ERR_INVALID, "scenes: max objects %d is not within 1..100",
                        o->max_objects);
    if (o->min_object < 2 || o->max_object < o->min_object || o->max_object > o->size)
        return fv__fail(FV_ERR_INVALID,
                        "scenes: object sizes %lld..%lld must lie within 2..%lld (the scene)",
                        (long long)o->min_object, (long long)o->max_object, (long long)o->size);
    return FV_OK;
}

/* Noise, then a few faint fragments (crops of random source images) as clutter. */
static void background(uint8_t *px, int64_t S, const fv_dataset *src, int64_t sh, int64_t sw,
                       fv_rng *r)
{
    double level = 10 + 30 * fv__rng_uniform(r);
    for (int64_t i = 0; i < S * S; i++)
        px[i] = (uint8_t)(level * fv__rng_uniform(r));
    int64_t nfrag = 2 + (int64_t)fv__rng_below(r, 6);
    for (int64_t f = 0; f < nfrag; f++) {
        const uint8_t *im = src->u8 + (int64_t)fv__rng_below(r, (uint64_t)src->n) * sh * sw;
        int64_t fh = 4 + (int64_t)fv__rng_below(r, (uint64_t)(sh / 2)),
                fw = 4 + (int64_t)fv__rng_below(r, (uint64_t)(sw / 2));
        int64_t y0 = (int64_t)fv__rng_below(r, (uint64_t)(sh - fh + 1)),
                x0 = (int64_t)fv__rng_below(r, (uint64_t)(sw - fw + 1));
        int64_t ty = (int64_t)fv__rng_below(r, (uint64_t)(S - fh + 1)),
                tx = (int64_t)fv__rng_below(r, (uint64_t)(S - fw + 1));
        double dim = 0.25 + 0.3 * fv__rng_uniform(r);
        for (int64_t y = 0; y < fh; y++)
            for (int64_t x = 0; x < fw; x++) {
                double v = dim * im[(y0 + y) * sw + x0 + x];
                uint8_t *p = &px[(ty + y) * S + tx + x];
                if (v > *p) *p = (uint8_t)v;
            }
    }
}

/* The tight box (rows and columns holding ink) of an s × s object; false if it has none. */
static bool ink_box(const uint8_t *obj, int64_t s, int64_t b[4])
{
    int64_t x1 = s, y1 = s, x2 = -1, y2 = -1;
    for (int64_t y = 0; y < s; y++)
        for (int64_t x = 0; x < s; x++)
            if (obj[y * s + x] > INK) {
                if (x < x1) x1 = x;
                if (x > x2) x2 = x;
                if (y < y1) y1 = y;
                if (y > y2) y2 = y;
            }
    b[0] = x1, b[1] = y1, b[2] = x2 + 1, b[3] = y2 + 1;
    return x2 >= 0;
}

static void draw(uint8_t *px, int64_t S, const uint8_t *obj, int64_t s, int64_t ox, int64_t oy)
{
    for (int64_t y = 0; y < s; y++)
        for (int64_t x = 0; x < s; x++) {
            double v = obj[y * s + x];
            if (v <= INK) continue;
            double a = fmin((v - INK) / (OPAQUE - INK), 1);
            uint8_t *p = &px[(oy + y) * S + ox + x];
            *p = (uint8_t)lround(a * v + (1 - a) * *p);
        }
}

/* One scene into image i of d; its annotations appended at *at. */
static fv_status scene(fv_detset *d, int64_t i, const fv_dataset *src, int64_t sh, int64_t sw,
                       const fv_scene_opts *o, fv_rng *r, uint8_t *obj, int64_t *at)
{
    const int64_t S = o->size;
    fv_det_image *im = &d->images[i];
    char name[32];
    snprintf(name, sizeof name, "%06lld.png", (long long)i + 1);
    im->id = i + 1, im->width = im->height = S, im->first = *at;
    if (!(im->file_name = fv__strdup(name)) || !(im->pixels = malloc((size_t)(S * S))))
        return fv__fail(FV_ERR_NOMEM, "scenes: out of memory");
    background(im->pixels, S, src, sh, sw, r);
    int64_t n = 1 + (int64_t)fv__rng_below(r, (uint64_t)o->max_objects);
    for (int64_t q = 0; q < n; q++) {
        for (int tries = 0; tries < MAX_TRIES; tries++) {
            int64_t k = (int64_t)fv__rng_below(r, (uint64_t)src->n);
            int64_t s = o->min_object +
                        (int64_t)fv__rng_below(r, (uint64_t)(o->max_object - o->min_object + 1));
            fv_status st = fv__image_resize_u8(src->u8 + k * sh * sw, sw, 1, 0, 0, sh, sw, obj, s,
                                               s, FV_INTERP_BILINEAR);
            if (st != FV_OK) return st;
            int64_t b[4];
            if (!ink_box(obj, s, b)) continue;
            int64_t ox = (int64_t)fv__rng_below(r, (uint64_t)(S - s + 1));
            int64_t oy = (int64_t)fv__rng_below(r, (uint64_t)(S - s + 1));
            double box[4] = {(double)(ox + b[0]), (double)(oy + b[1]), (double)(ox + b[2]),
                             (double)(oy + b[3])};
            /* overlaps, but none hiding another: IoU with each earlier box at most 0.5 */
            bool crowded = false;
            for (int64_t j = im->first; j < *at && !crowded; j++) {
                double e[4];
                fv_box_xywh_to_xyxy(d->annotations[j].bbox, e);
                crowded = fv_box_iou(e, box) > 0.5;
            }
            if (crowded) continue;
            draw(im->pixels, S, obj, s, ox, oy);
            fv_det_annotation *a = &d->annotations[(*at)++];
            a->id = *at, a->image = i, a->category = src->labels[k], a->iscrowd = false;
            fv_box_xyxy_to_xywh(box, a->bbox);
            a->area = a->bbox[2] * a->bbox[3];
            break;
        }
    }
    im->count = *at - im->first;
    return FV_OK;
}

fv_status fv_detset_make_scenes(const fv_dataset *src, const char *const *class_names,
                                int64_t nclasses, int64_t count, const fv_scene_opts *o,
                                fv_detset **out)
{
    *out = NULL;
    int64_t sh = 0, sw = 0;
    fv_status st = check(src, count, o, &sh, &sw);
    if (st != FV_OK) return st;
    for (int64_t i = 0; i < src->n; i++)
        if (src->labels[i] < 0 || src->labels[i] >= nclasses)
            return fv__fail(FV_ERR_INVALID, "scenes: sample %lld's label %d has no class name",
                            (long long)i, (int)src->labels[i]);
    int64_t most;
    if (!fv__mul_i64(count, o->max_objects, &most))
        return fv__fail(FV_ERR_NOMEM, "scenes: too many objects");
    fv_detset *d = fv__detset_new(count, most, nclasses);
    uint8_t *obj = malloc((size_t)(o->max_object * o->max_object));
    if (!d || !obj) {
        fv_detset_free(d);
        free(obj);
        return d ? fv__fail(FV_ERR_NOMEM, "scenes: out of memory") : FV_ERR_NOMEM;
    }
    for (int64_t k = 0; k < nclasses && st == FV_OK; k++) {
        d->categories[k].id = k;
        if (!(d->categories[k].name = fv__strdup(class_names[k])))
            st = fv__fail(FV_ERR_NOMEM, "scenes: out of memory");
    }
    fv_rng r;
    fv__rng_seed(&r, o->seed);
    int64_t at = 0;
    for (int64_t i = 0; i < count && st == FV_OK; i++)
        st = scene(d, i, src, sh, sw, o, &r, obj, &at);
    free(obj);
    if (st != FV_OK) {
        fv_detset_free(d);
        return st;
    }
    d->nannotations = at;
    d->channels = 1;
    *out = d;
    return FV_OK;
}
