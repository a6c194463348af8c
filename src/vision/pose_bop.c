/* pose_bop.c — the BOP dataset format: scene_gt.json, scene_gt_info.json, scene_camera.json and
 * models_info.json with cJSON, and the result CSV (scene_id,im_id,obj_id,score,R,t,time). Every
 * reader treats its input as hostile and names the file and field of the first problem.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l */
#endif
#include "io/io.h"
#include "vision/pose_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID  1000000000000LL /* ids above this are refused (and cannot overflow) */
#define ROT_TOL 1e-3

fv_status fv__path(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, FV__PATH_MAX, fmt, ap);
    va_end(ap);
    if (k < 0 || k >= FV__PATH_MAX)
        return fv__fail(FV_ERR_INVALID, "a path of more than %d bytes: %.200s...", FV__PATH_MAX,
                        buf);
    return FV_OK;
}

/* ---- reading JSON -------------------------------------------------------------------------- */

/* Parses text[0..len) as one JSON value; FV_ERR_FORMAT naming origin if it is not. */
static fv_status parse_json(const char *text, size_t len, const char *origin, cJSON **root)
{
    *root = NULL;
    if (memchr(text, '\0', len))
        return fv__fail(FV_ERR_FORMAT, "%s: a NUL byte at offset %zu; not a JSON text", origin,
                        (size_t)((const char *)memchr(text, '\0', len) - text));
    char *z = malloc(len + 1);
    if (!z) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
    memcpy(z, text, len);
    z[len] = '\0';
    *root = fv__json_parse(z);
    free(z);
    if (!*root) return fv__fail(FV_ERR_FORMAT, "%s: not valid JSON", origin);
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return fv__fail(FV_ERR_FORMAT, "%s: expected a JSON object at the top level", origin);
    }
    return FV_OK;
}

static fv_status read_text(const char *path, char **text, size_t *len)
{
    uint8_t *buf = NULL;
    fv_status st = fv__read_file(path, FV__MAX_INPUT_BYTES, false, &buf, len);
    *text = (char *)buf;
    return st;
}

/* A key that is an id: decimal digits only, at most MAX_ID. */
static fv_status parse_id(const char *key, const char *origin, const char *what, int64_t *id)
{
    int64_t v = 0;
    if (!key || !*key) return fv__fail(FV_ERR_FORMAT, "%s: an empty %s key", origin, what);
    for (const char *p = key; *p; p++) {
        if (*p < '0' || *p > '9' || v > MAX_ID)
            return fv__fail(FV_ERR_FORMAT, "%s: key \"%.40s\" is not an %s (a whole number from 0)",
                            origin, key, what);
        v = v * 10 + (*p - '0');
    }
    if (v > MAX_ID)
        return fv__fail(FV_ERR_FORMAT, "%s: key \"%.40s\": %s too large", origin, key, what);
    *id = v;
    return FV_OK;
}

/* item must be an array of exactly n finite numbers. */
static fv_status get_numbers(const cJSON *item, int n, double *out, const char *origin,
                             const char *where, const char *field)
{
    if (!item) return fv__fail(FV_ERR_FORMAT, "%s: %s: missing \"%s\"", origin, where, field);
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != n)
        return fv__fail(FV_ERR_FORMAT, "%s: %s.%s: expected %d numbers", origin, where, field, n);
    int i = 0;
    for (const cJSON *e = item->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return fv__fail(FV_ERR_FORMAT, "%s: %s.%s[%d]: expected a finite number", origin, where,
                            field, i);
        out[i] = e->valuedouble;
    }
    return FV_OK;
}

/* A whole number within [lo, hi]. */
static fv_status get_int(const cJSON *item, int64_t lo, int64_t hi, int64_t *out,
                         const char *origin, const char *where, const char *field)
{
    if (!item) return fv__fail(FV_ERR_FORMAT, "%s: %s: missing \"%s\"", origin, where, field);
    double v = item->valuedouble;
    if (!cJSON_IsNumber(item) || !(v >= (double)lo && v <= (double)hi) || v != floor(v))
        return fv__fail(FV_ERR_FORMAT, "%s: %s.%s: expected a whole number in %lld..%lld", origin,
                        where, field, (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return FV_OK;
}

static fv_status get_double(const cJSON *item, double lo, double hi, double *out,
                            const char *origin, const char *where, const char *field)
{
    if (!item) return fv__fail(FV_ERR_FORMAT, "%s: %s: missing \"%s\"", origin, where, field);
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= lo && item->valuedouble <= hi))
        return fv__fail(FV_ERR_FORMAT, "%s: %s.%s: expected a number in [%g, %g]", origin, where,
                        field, lo, hi);
    *out = item->valuedouble;
    return FV_OK;
}

/* True when R (row-major 3×3, or rows of stride `stride`) is a rotation to ROT_TOL. */
static bool is_rotation(const double *R, int stride)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double d = 0;
            for (int k = 0; k < 3; k++)
                d += R[i * stride + k] * R[j * stride + k];
            if (fabs(d - (i == j)) > ROT_TOL) return false;
        }
    double det = R[0] * (R[stride + 1] * R[2 * stride + 2] - R[stride + 2] * R[2 * stride + 1]) -
                 R[1] * (R[stride] * R[2 * stride + 2] - R[stride + 2] * R[2 * stride]) +
                 R[2] * (R[stride] * R[2 * stride + 1] - R[stride + 1] * R[2 * stride]);
    return det > 0;
}

/* The id keys of the top-level object, each checked; *count of them. */
static fv_status check_keys(const cJSON *root, const char *origin, const char *what, int64_t *count)
{
    int64_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        int64_t id;
        fv_status st = parse_id(e->string, origin, what, &id);
        if (st != FV_OK) return st;
        n++;
    }
    *count = n;
    return FV_OK;
}

/* After sorting: an id given twice ("7" and "007", or a key repeated) is an error. */
static fv_status check_twice(const int64_t *ids, size_t stride, int64_t n, const char *origin,
                             const char *what)
{
    for (int64_t i = 1; i < n; i++) {
        int64_t a = *(const int64_t *)((const char *)ids + (size_t)(i - 1) * stride);
        int64_t b = *(const int64_t *)((const char *)ids + (size_t)i * stride);
        if (a == b)
            return fv__fail(FV_ERR_FORMAT, "%s: %s %lld appears twice", origin, what, (long long)a);
    }
    return FV_OK;
}

static int cmp_gt(const void *a, const void *b)
{
    const fv_bop_gt *x = a, *y = b;
    if (x->im_id != y->im_id) return x->im_id < y->im_id ? -1 : 1;
    return (x->gt_id > y->gt_id) - (x->gt_id < y->gt_id);
}

static int cmp_cam(const void *a, const void *b)
{
    const fv_bop_camera *x = a, *y = b;
    return (x->im_id > y->im_id) - (x->im_id < y->im_id);
}

static int cmp_info(const void *a, const void *b)
{
    const fv_pose_model_info *x = a, *y = b;
    return (x->obj_id > y->obj_id) - (x->obj_id < y->obj_id);
}

/* ---- scene_gt.json ------------------------------------------------------------------------ */

fv_status fv__bop_parse_scene_gt(const char *text, size_t len, const char *origin, fv_bop_gt **gt,
                                 int64_t *n)
{
    *gt = NULL;
    *n = 0;
    cJSON *root;
    fv_status st = parse_json(text, len, origin, &root);
    if (st != FV_OK) return st;
    int64_t nimg, total = 0;
    fv_bop_gt *out = NULL;
    if ((st = check_keys(root, origin, "im_id", &nimg)) != FV_OK) goto fail;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!cJSON_IsArray(e)) {
            st = fv__fail(FV_ERR_FORMAT, "%s: \"%.40s\": expected a list of object instances",
                          origin, e->string);
            goto fail;
        }
        total += cJSON_GetArraySize(e);
    }
    out = calloc(total > 0 ? (size_t)total : 1, sizeof *out);
    if (!out) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld instances", origin,
                      (long long)total);
        goto fail;
    }
    int64_t k = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        int64_t im_id;
        parse_id(e->string, origin, "im_id", &im_id);
        int64_t g = 0;
        for (const cJSON *o = e->child; o; o = o->next, g++, k++) {
            char where[96];
            snprintf(where, sizeof where, "\"%.40s\"[%lld]", e->string, (long long)g);
            fv_bop_gt *x = &out[k];
            x->im_id = im_id;
            x->gt_id = g;
            x->visib_fract = NAN;
            for (int i = 0; i < 4; i++)
                x->bbox_obj[i] = x->bbox_visib[i] = -1;
            x->px_count_all = x->px_count_visib = -1;
            if (!cJSON_IsObject(o)) {
                st = fv__fail(FV_ERR_FORMAT, "%s: %s: expected an object", origin, where);
                goto fail;
            }
            if ((st = get_int(cJSON_GetObjectItemCaseSensitive(o, "obj_id"), 0, MAX_ID, &x->obj_id,
                              origin, where, "obj_id")) != FV_OK ||
                (st = get_numbers(cJSON_GetObjectItemCaseSensitive(o, "cam_R_m2c"), 9, x->pose.R,
                                  origin, where, "cam_R_m2c")) != FV_OK ||
                (st = get_numbers(cJSON_GetObjectItemCaseSensitive(o, "cam_t_m2c"), 3, x->pose.t,
                                  origin, where, "cam_t_m2c")) != FV_OK)
                goto fail;
            if (!is_rotation(x->pose.R, 3)) {
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: %s.cam_R_m2c: not a rotation matrix (rows orthonormal to "
                              "%g, determinant +1)",
                              origin, where, ROT_TOL);
                goto fail;
            }
        }
    }
    qsort(out, (size_t)total, sizeof *out, cmp_gt);
    for (int64_t i = 1; i < total; i++)
        if (out[i].im_id == out[i - 1].im_id && out[i].gt_id == out[i - 1].gt_id) {
            st = fv__fail(FV_ERR_FORMAT, "%s: im_id %lld appears twice", origin,
                          (long long)out[i].im_id);
            goto fail;
        }
    cJSON_Delete(root);
    *gt = out;
    *n = total;
    return FV_OK;
fail:
    free(out);
    cJSON_Delete(root);
    return st;
}

/* Finds the entry (im_id, gt_id) in gt [n] (sorted), or NULL. */
static fv_bop_gt *find_gt(fv_bop_gt *gt, int64_t n, int64_t im_id, int64_t gt_id)
{
    fv_bop_gt key = {.im_id = im_id, .gt_id = gt_id};
    return bsearch(&key, gt, (size_t)n, sizeof *gt, cmp_gt);
}

static fv_status get_box(const cJSON *o, const char *field, int64_t *box, const char *origin,
                         const char *where)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!b) return FV_OK;
    double v[4];
    fv_status st = get_numbers(b, 4, v, origin, where, field);
    if (st != FV_OK) return st;
    for (int i = 0; i < 4; i++) {
        if (v[i] != floor(v[i]) || fabs(v[i]) > 1e9)
            return fv__fail(FV_ERR_FORMAT, "%s: %s.%s[%d]: expected a whole number of pixels",
                            origin, where, field, i);
        box[i] = (int64_t)v[i];
    }
    return FV_OK;
}

fv_status fv__bop_parse_scene_gt_info(const char *text, size_t len, const char *origin,
                                      fv_bop_gt *gt, int64_t n)
{
    cJSON *root;
    fv_status st = parse_json(text, len, origin, &root);
    if (st != FV_OK) return st;
    int64_t nimg, seen = 0;
    if ((st = check_keys(root, origin, "im_id", &nimg)) != FV_OK) goto done;
    for (const cJSON *e = root->child; e; e = e->next) {
        int64_t im_id;
        parse_id(e->string, origin, "im_id", &im_id);
        if (!cJSON_IsArray(e)) {
            st = fv__fail(FV_ERR_FORMAT, "%s: \"%.40s\": expected a list of instance entries",
                          origin, e->string);
            goto done;
        }
        int64_t g = 0;
        for (const cJSON *o = e->child; o; o = o->next, g++) {
            char where[96];
            snprintf(where, sizeof where, "\"%.40s\"[%lld]", e->string, (long long)g);
            fv_bop_gt *x = find_gt(gt, n, im_id, g);
            if (!x) {
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: %s: scene_gt.json has no instance %lld of image %lld", origin,
                              where, (long long)g, (long long)im_id);
                goto done;
            }
            if (!cJSON_IsObject(o)) {
                st = fv__fail(FV_ERR_FORMAT, "%s: %s: expected an object", origin, where);
                goto done;
            }
            const cJSON *pa = cJSON_GetObjectItemCaseSensitive(o, "px_count_all");
            const cJSON *pv = cJSON_GetObjectItemCaseSensitive(o, "px_count_visib");
            if ((st = get_double(cJSON_GetObjectItemCaseSensitive(o, "visib_fract"), 0.0, 1.0,
                                 &x->visib_fract, origin, where, "visib_fract")) != FV_OK ||
                (st = get_box(o, "bbox_obj", x->bbox_obj, origin, where)) != FV_OK ||
                (st = get_box(o, "bbox_visib", x->bbox_visib, origin, where)) != FV_OK ||
                (pa && (st = get_int(pa, 0, MAX_ID, &x->px_count_all, origin, where,
                                     "px_count_all")) != FV_OK) ||
                (pv && (st = get_int(pv, 0, MAX_ID, &x->px_count_visib, origin, where,
                                     "px_count_visib")) != FV_OK))
                goto done;
            seen++;
        }
    }
    if (seen != n) {
        for (int64_t i = 0; i < n; i++)
            if (isnan(gt[i].visib_fract)) {
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: \"%lld\"[%lld]: missing; scene_gt.json has this instance",
                              origin, (long long)gt[i].im_id, (long long)gt[i].gt_id);
                goto done;
            }
        st = fv__fail(FV_ERR_FORMAT, "%s: an instance appears twice", origin);
    }
done:
    cJSON_Delete(root);
    return st;
}

/* ---- scene_camera.json -------------------------------------------------------------------- */

fv_status fv__bop_parse_scene_camera(const char *text, size_t len, const char *origin,
                                     fv_bop_camera **cams, int64_t *n)
{
    *cams = NULL;
    *n = 0;
    cJSON *root;
    fv_status st = parse_json(text, len, origin, &root);
    if (st != FV_OK) return st;
    int64_t count;
    fv_bop_camera *out = NULL;
    if ((st = check_keys(root, origin, "im_id", &count)) != FV_OK) goto fail;
    out = calloc(count > 0 ? (size_t)count : 1, sizeof *out);
    if (!out) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        goto fail;
    }
    int64_t k = 0;
    for (const cJSON *e = root->child; e; e = e->next, k++) {
        char where[64];
        snprintf(where, sizeof where, "\"%.40s\"", e->string);
        fv_bop_camera *c = &out[k];
        parse_id(e->string, origin, "im_id", &c->im_id);
        if (!cJSON_IsObject(e)) {
            st = fv__fail(FV_ERR_FORMAT, "%s: %s: expected an object", origin, where);
            goto fail;
        }
        if ((st = get_numbers(cJSON_GetObjectItemCaseSensitive(e, "cam_K"), 9, c->K, origin, where,
                              "cam_K")) != FV_OK)
            goto fail;
        if (!(c->K[0] > 0 && c->K[4] > 0) || c->K[3] != 0 || c->K[6] != 0 || c->K[7] != 0 ||
            c->K[8] != 1) {
            st = fv__fail(FV_ERR_FORMAT,
                          "%s: %s.cam_K: expected [fx, s, cx, 0, fy, cy, 0, 0, 1] with fx, fy > 0",
                          origin, where);
            goto fail;
        }
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(e, "depth_scale");
        c->depth_scale = NAN;
        if (ds &&
            (st = get_double(ds, 0.0, 1e9, &c->depth_scale, origin, where, "depth_scale")) != FV_OK)
            goto fail;
    }
    qsort(out, (size_t)count, sizeof *out, cmp_cam);
    if ((st = check_twice(&out[0].im_id, sizeof *out, count, origin, "im_id")) != FV_OK) goto fail;
    cJSON_Delete(root);
    *cams = out;
    *n = count;
    return FV_OK;
fail:
    free(out);
    cJSON_Delete(root);
    return st;
}

/* ---- models_info.json --------------------------------------------------------------------- */

void fv_pose_model_info_clear(fv_pose_model_info *info)
{
    if (!info) return;
    free(info->discrete);
    free(info->continuous);
    info->discrete = NULL;
    info->continuous = NULL;
    info->n_discrete = info->n_continuous = 0;
}

void fv_bop_free_models_info(fv_pose_model_info *infos, int64_t n)
{
    if (!infos) return;
    for (int64_t i = 0; i < n; i++)
        fv_pose_model_info_clear(&infos[i]);
    free(infos);
}

static fv_status parse_symmetries(const cJSON *o, fv_pose_model_info *m, const char *origin,
                                  const char *where)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "symmetries_discrete");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "symmetries_continuous");
    char at[128];
    fv_status st;
    if (d) {
        if (!cJSON_IsArray(d))
            return fv__fail(FV_ERR_FORMAT, "%s: %s.symmetries_discrete: expected a list", origin,
                            where);
        int nd = cJSON_GetArraySize(d);
        m->discrete = calloc((size_t)nd + 1, sizeof *m->discrete);
        if (!m->discrete) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        int k = 0;
        for (const cJSON *e = d->child; e; e = e->next, k++) {
            snprintf(at, sizeof at, "%s.symmetries_discrete", where);
            char field[16];
            snprintf(field, sizeof field, "[%d]", k);
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 16)
                return fv__fail(FV_ERR_FORMAT, "%s: %s[%d]: expected 16 numbers (a 4×4 matrix)",
                                origin, at, k);
            if ((st = get_numbers(e, 16, m->discrete[k], origin, at, field)) != FV_OK) return st;
            const double *v = m->discrete[k];
            if (!is_rotation(v, 4) || v[12] != 0 || v[13] != 0 || v[14] != 0 || v[15] != 1)
                return fv__fail(FV_ERR_FORMAT,
                                "%s: %s[%d]: not a rigid transformation [R t; 0 0 0 1] (R a "
                                "rotation to %g)",
                                origin, at, k, ROT_TOL);
            m->n_discrete++;
        }
    }
    if (c) {
        if (!cJSON_IsArray(c))
            return fv__fail(FV_ERR_FORMAT, "%s: %s.symmetries_continuous: expected a list", origin,
                            where);
        int nc = cJSON_GetArraySize(c);
        m->continuous = calloc((size_t)nc + 1, sizeof *m->continuous);
        if (!m->continuous) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        int k = 0;
        for (const cJSON *e = c->child; e; e = e->next, k++) {
            snprintf(at, sizeof at, "%s.symmetries_continuous[%d]", where, k);
            fv_pose_continuous_symmetry *s = &m->continuous[k];
            if (!cJSON_IsObject(e))
                return fv__fail(FV_ERR_FORMAT, "%s: %s: expected an object", origin, at);
            if ((st = get_numbers(cJSON_GetObjectItemCaseSensitive(e, "axis"), 3, s->axis, origin,
                                  at, "axis")) != FV_OK ||
                (st = get_numbers(cJSON_GetObjectItemCaseSensitive(e, "offset"), 3, s->offset,
                                  origin, at, "offset")) != FV_OK)
                return st;
            double n2 = s->axis[0] * s->axis[0] + s->axis[1] * s->axis[1] + s->axis[2] * s->axis[2];
            if (!(n2 > 1e-12) || !isfinite(n2))
                return fv__fail(FV_ERR_FORMAT, "%s: %s.axis: a zero or unbounded vector", origin,
                                at);
            m->n_continuous++;
        }
    }
    return FV_OK;
}

fv_status fv__bop_parse_models_info(const char *text, size_t len, const char *origin,
                                    fv_pose_model_info **infos, int64_t *n)
{
    *infos = NULL;
    *n = 0;
    cJSON *root;
    fv_status st = parse_json(text, len, origin, &root);
    if (st != FV_OK) return st;
    int64_t count;
    fv_pose_model_info *out = NULL;
    if ((st = check_keys(root, origin, "obj_id", &count)) != FV_OK) goto fail;
    out = calloc(count > 0 ? (size_t)count : 1, sizeof *out);
    if (!out) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        goto fail;
    }
    int64_t k = 0;
    for (const cJSON *e = root->child; e; e = e->next, k++) {
        char where[64];
        snprintf(where, sizeof where, "\"%.40s\"", e->string);
        fv_pose_model_info *m = &out[k];
        parse_id(e->string, origin, "obj_id", &m->obj_id);
        if (!cJSON_IsObject(e)) {
            st = fv__fail(FV_ERR_FORMAT, "%s: %s: expected an object", origin, where);
            goto fail;
        }
        if ((st = get_double(cJSON_GetObjectItemCaseSensitive(e, "diameter"), 1e-9, 1e12,
                             &m->diameter, origin, where, "diameter")) != FV_OK)
            goto fail;
        static const char *const box[6] = {"min_x", "min_y", "min_z", "size_x", "size_y", "size_z"};
        for (int i = 0; i < 6; i++) {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, box[i]);
            double *dst = i < 3 ? &m->min[i] : &m->size[i - 3];
            if (b && (st = get_double(b, i < 3 ? -1e12 : 0.0, 1e12, dst, origin, where, box[i])) !=
                         FV_OK)
                goto fail;
        }
        if ((st = parse_symmetries(e, m, origin, where)) != FV_OK) goto fail;
    }
    qsort(out, (size_t)count, sizeof *out, cmp_info);
    if ((st = check_twice(&out[0].obj_id, sizeof *out, count, origin, "obj_id")) != FV_OK)
        goto fail;
    cJSON_Delete(root);
    *infos = out;
    *n = count;
    return FV_OK;
fail:
    fv_bop_free_models_info(out, count);
    cJSON_Delete(root);
    return st;
}

/* ---- the file forms ------------------------------------------------------------------------ */

#define FILE_READER(name, parse, ...)                                                              \
    {                                                                                              \
        char *text;                                                                                \
        size_t len;                                                                                \
        fv_status st = read_text(path, &text, &len);                                               \
        if (st != FV_OK) return st;                                                                \
        st = parse(text, len, path, __VA_ARGS__);                                                  \
        free(text);                                                                                \
        return st;                                                                                 \
    }

fv_status fv_bop_read_scene_gt(const char *path, fv_bop_gt **gt, int64_t *n)
{
    *gt = NULL;
    *n = 0;
    FILE_READER(scene_gt, fv__bop_parse_scene_gt, gt, n)
}

fv_status fv_bop_read_scene_gt_info(const char *path, fv_bop_gt *gt, int64_t n){
    FILE_READER(scene_gt_info, fv__bop_parse_scene_gt_info, gt, n)}

fv_status fv_bop_read_scene_camera(const char *path, fv_bop_camera **cams, int64_t *n)
{
    *cams = NULL;
    *n = 0;
    FILE_READER(scene_camera, fv__bop_parse_scene_camera, cams, n)
}

fv_status fv_bop_read_models_info(const char *path, fv_pose_model_info **infos, int64_t *n)
{
    *infos = NULL;
    *n = 0;
    FILE_READER(models_info, fv__bop_parse_models_info, infos, n)
}

fv_status fv_bop_read_results(const char *path, fv_bop_result **r, int64_t *n)
{
    *r = NULL;
    *n = 0;
    FILE_READER(results, fv__bop_parse_results, r, n)
}

/* ---- writing JSON -------------------------------------------------------------------------- */

static cJSON *number_array(const double *v, int n)
{
    return cJSON_CreateDoubleArray(v, n);
}

/* The per-image list of gt's entries for im_id, created on first use. */
static cJSON *image_list(cJSON *root, int64_t im_id)
{
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)im_id);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!list) {
        list = cJSON_CreateArray();
        if (list && !cJSON_AddItemToObject(root, key, list)) {
            cJSON_Delete(list);
            list = NULL;
        }
    }
    return list;
}

/* Entries in order of (im_id, gt_id); gt may be in any order. */
static fv_status write_gt(const char *path, const fv_bop_gt *gt, int64_t n, bool info)
{
    fv_bop_gt *sorted = malloc((n > 0 ? (size_t)n : 1) * sizeof *sorted);
    if (!sorted) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    if (n > 0) memcpy(sorted, gt, (size_t)n * sizeof *gt);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_gt);
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    for (int64_t i = 0; ok && i < n; i++) {
        const fv_bop_gt *x = &sorted[i];
        cJSON *list = image_list(root, x->im_id), *o = cJSON_CreateObject();
        ok = list && o && cJSON_AddItemToArray(list, o);
        if (!ok) {
            if (!list) cJSON_Delete(o);
            break;
        }
        if (info) {
            double bo[4], bv[4];
            for (int k = 0; k < 4; k++)
                bo[k] = (double)x->bbox_obj[k], bv[k] = (double)x->bbox_visib[k];
            ok = cJSON_AddItemToObject(o, "bbox_obj", number_array(bo, 4)) &&
                 cJSON_AddItemToObject(o, "bbox_visib", number_array(bv, 4)) &&
                 cJSON_AddNumberToObject(o, "px_count_all", (double)x->px_count_all) &&
                 cJSON_AddNumberToObject(o, "px_count_valid", (double)x->px_count_all) &&
                 cJSON_AddNumberToObject(o, "px_count_visib", (double)x->px_count_visib) &&
                 cJSON_AddNumberToObject(o, "visib_fract", x->visib_fract);
        } else {
            ok = cJSON_AddItemToObject(o, "cam_R_m2c", number_array(x->pose.R, 9)) &&
                 cJSON_AddItemToObject(o, "cam_t_m2c", number_array(x->pose.t, 3)) &&
                 cJSON_AddNumberToObject(o, "obj_id", (double)x->obj_id);
        }
    }
    free(sorted);
    if (!ok) {
        cJSON_Delete(root);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    }
    return fv__write_json(path, root, true);
}

fv_status fv_bop_write_scene_gt(const char *path, const fv_bop_gt *gt, int64_t n)
{
    return write_gt(path, gt, n, false);
}

fv_status fv_bop_write_scene_gt_info(const char *path, const fv_bop_gt *gt, int64_t n)
{
    return write_gt(path, gt, n, true);
}

fv_status fv_bop_write_scene_camera(const char *path, const fv_bop_camera *cams, int64_t n)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    for (int64_t i = 0; ok && i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)cams[i].im_id);
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToObject(root, key, o) &&
             cJSON_AddItemToObject(o, "cam_K", number_array(cams[i].K, 9)) &&
             (isnan(cams[i].depth_scale) ||
              cJSON_AddNumberToObject(o, "depth_scale", cams[i].depth_scale));
    }
    if (!ok) {
        cJSON_Delete(root);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    }
    return fv__write_json(path, root, true);
}

fv_status fv_bop_write_models_info(const char *path, const fv_pose_model_info *infos, int64_t n)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    static const char *const box[6] = {"min_x", "min_y", "min_z", "size_x", "size_y", "size_z"};
    for (int64_t i = 0; ok && i < n; i++) {
        const fv_pose_model_info *m = &infos[i];
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)m->obj_id);
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToObject(root, key, o) &&
             cJSON_AddNumberToObject(o, "diameter", m->diameter);
        for (int k = 0; ok && k < 6; k++)
            ok = cJSON_AddNumberToObject(o, box[k], k < 3 ? m->min[k] : m->size[k - 3]) != NULL;
        if (ok && m->n_discrete > 0) {
            cJSON *d = cJSON_AddArrayToObject(o, "symmetries_discrete");
            ok = d != NULL;
            for (int64_t k = 0; ok && k < m->n_discrete; k++)
                ok = cJSON_AddItemToArray(d, number_array(m->discrete[k], 16));
        }
        if (ok && m->n_continuous > 0) {
            cJSON *c = cJSON_AddArrayToObject(o, "symmetries_continuous");
            ok = c != NULL;
            for (int64_t k = 0; ok && k < m->n_continuous; k++) {
                cJSON *s = cJSON_CreateObject();
                ok = s && cJSON_AddItemToArray(c, s) &&
                     cJSON_AddItemToObject(s, "axis", number_array(m->continuous[k].axis, 3)) &&
                     cJSON_AddItemToObject(s, "offset", number_array(m->continuous[k].offset, 3));
            }
        }
    }
    if (!ok) {
        cJSON_Delete(root);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    }
    return fv__write_json(path, root, true);
}

/* ---- the result CSV ------------------------------------------------------------------------ */

static const char RESULT_HEADER[] = "scene_id,im_id,obj_id,score,R,t,time";

/* Reads count numbers separated by spaces from s (NUL-terminated field). */
static fv_status field_numbers(const char *s, int count, double *out, locale_t cloc,
                               const char *origin, int64_t line, const char *column)
{
    const char *p = s;
    for (int i = 0; i < count; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *end;
        errno = 0;
        double v = strtod_l(p, &end, cloc);
        if (end == p || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
            return fv__fail(FV_ERR_FORMAT,
                            "%s: line %lld, column %s: expected %d finite number%s separated by "
                            "spaces",
                            origin, (long long)line, column, count, count > 1 ? "s" : "");
        out[i] = v;
        p = end;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return fv__fail(FV_ERR_FORMAT, "%s: line %lld, column %s: more than %d number%s", origin,
                        (long long)line, column, count, count > 1 ? "s" : "");
    return FV_OK;
}

fv_status fv__bop_parse_results(const char *text, size_t len, const char *origin, fv_bop_result **r,
                                int64_t *n)
{
    *r = NULL;
    *n = 0;
    fv_text t;
    fv_status st = fv__text_init(&t, text, len, origin);
    fv_bop_result *out = NULL;
    int64_t count = 0, cap = 0;
    char *buf = NULL;
    locale_t cloc = (locale_t)0;
    if (st != FV_OK) goto fail;
    cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (cloc == (locale_t)0) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        goto fail;
    }
    bool header = false;
    const char *line;
    size_t ll;
    while (fv__text_line(&t, &line, &ll)) {
        while (ll > 0 && (line[ll - 1] == ' ' || line[ll - 1] == '\t'))
            ll--;
        if (ll == 0) continue;
        free(buf);
        buf = malloc(ll + 1);
        if (!buf) {
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
            goto fail;
        }
        memcpy(buf, line, ll);
        buf[ll] = '\0';
        if (!header) {
            if (strcmp(buf, RESULT_HEADER) != 0) {
                st = fv__fail(FV_ERR_FORMAT, "%s: line %lld: expected the header \"%s\"", origin,
                              (long long)t.line, RESULT_HEADER);
                goto fail;
            }
            header = true;
            continue;
        }
        char *cols[7];
        int nc = 0;
        for (char *p = buf, *c = buf;; p++)
            if (*p == ',' || *p == '\0') {
                bool last = *p == '\0';
                *p = '\0';
                if (nc < 7) cols[nc] = c;
                nc++;
                c = p + 1;
                if (last) break;
            }
        if (nc != 7) {
            st = fv__fail(FV_ERR_FORMAT, "%s: line %lld: expected 7 columns (%s), got %d", origin,
                          (long long)t.line, RESULT_HEADER, nc);
            goto fail;
        }
        if (count == cap) {
            int64_t want = cap ? cap * 2 : 64;
            fv_bop_result *p = want < INT64_MAX / (int64_t)sizeof *out
                                   ? realloc(out, (size_t)want * sizeof *out)
                                   : NULL;
            if (!p) {
                st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
                goto fail;
            }
            out = p;
            cap = want;
        }
        fv_bop_result *x = &out[count];
        static const char *const names[3] = {"scene_id", "im_id", "obj_id"};
        int64_t *ids[3] = {&x->scene_id, &x->im_id, &x->obj_id};
        for (int k = 0; k < 3; k++) {
            double v;
            if ((st = field_numbers(cols[k], 1, &v, cloc, origin, t.line, names[k])) != FV_OK)
                goto fail;
            if (!(v >= 0 && v <= (double)MAX_ID) || v != floor(v)) {
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: line %lld, column %s: expected a whole number "
                              "from 0",
                              origin, (long long)t.line, names[k]);
                goto fail;
            }
            *ids[k] = (int64_t)v;
        }
        if ((st = field_numbers(cols[3], 1, &x->score, cloc, origin, t.line, "score")) != FV_OK ||
            (st = field_numbers(cols[4], 9, x->pose.R, cloc, origin, t.line, "R")) != FV_OK ||
            (st = field_numbers(cols[5], 3, x->pose.t, cloc, origin, t.line, "t")) != FV_OK ||
            (st = field_numbers(cols[6], 1, &x->time, cloc, origin, t.line, "time")) != FV_OK)
            goto fail;
        if (!is_rotation(x->pose.R, 3)) {
            st = fv__fail(FV_ERR_FORMAT,
                          "%s: line %lld, column R: not a rotation matrix (rows orthonormal to "
                          "%g, determinant +1)",
                          origin, (long long)t.line, ROT_TOL);
            goto fail;
        }
        count++;
    }
    if (!header) {
        st = fv__fail(FV_ERR_FORMAT, "%s: the file is empty; expected the header \"%s\"", origin,
                      RESULT_HEADER);
        goto fail;
    }
    free(buf);
    freelocale(cloc);
    fv__text_free(&t);
    *r = out ? out : calloc(1, sizeof *out);
    if (!*r) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
    *n = count;
    return FV_OK;
fail:
    free(buf);
    free(out);
    if (cloc != (locale_t)0) freelocale(cloc);
    fv__text_free(&t);
    return st;
}

fv_status fv_bop_write_results(const char *path, const fv_bop_result *r, int64_t n)
{
    fv_afile a;
    fv_status st = fv__afile_open(&a, path);
    if (st != FV_OK) return st;
    locale_t cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    locale_t old = cloc != (locale_t)0 ? uselocale(cloc) : (locale_t)0;
    fprintf(a.f, "%s\n", RESULT_HEADER);
    for (int64_t i = 0; i < n; i++) {
        const fv_bop_result *x = &r[i];
        fprintf(a.f, "%lld,%lld,%lld,%.9g,", (long long)x->scene_id, (long long)x->im_id,
                (long long)x->obj_id, x->score);
        for (int k = 0; k < 9; k++)
            fprintf(a.f, "%s%.17g", k ? " " : "", x->pose.R[k]);
        fputc(',', a.f);
        for (int k = 0; k < 3; k++)
            fprintf(a.f, "%s%.17g", k ? " " : "", x->pose.t[k]);
        fprintf(a.f, ",%.9g\n", x->time);
    }
    if (old != (locale_t)0) uselocale(old);
    if (cloc != (locale_t)0) freelocale(cloc);
    return fv__afile_commit(&a);
}
