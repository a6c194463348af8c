/* coco.c — COCO's JSON files for detection (cJSON): the instances file (images, annotations with
 * boxes in pixels, categories) read into a detection set and written from one, and the results
 * file (a list of detections) read and written. Hostile input: every field's presence, type and
 * range is checked, and each failure names the file and the annotation, image or element.
 */
#include "io/detection.h"
#include "io/io.h"
#include "vision/vision.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JSON_BYTES ((size_t)2 << 30)
#define EXACT_INT      9007199254740992.0 /* 2^53: larger integers are not exact in a double */
#define BOX_SLACK      0.01               /* pixels a box may reach outside its image (rounding) */

/* A NUL-terminated copy parsed with cJSON; NULL with a message naming origin. */
static cJSON *parse_json(const char *text, size_t len, const char *origin)
{
    if (memchr(text, '\0', len)) {
        fv__fail(FV_ERR_FORMAT, "%s: a NUL byte at byte %zu; not a JSON file", origin,
                 (size_t)((const char *)memchr(text, '\0', len) - text));
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    cJSON *root = fv__json_parse(copy);
    free(copy);
    if (!root) fv__fail(FV_ERR_FORMAT, "%s: not valid JSON", origin);
    return root;
}

/* An integer field: true and *v when present, a number, whole and exact. */
static bool get_int(const cJSON *o, const char *key, int64_t *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it)) return false;
    double d = it->valuedouble;
    if (!(fabs(d) <= EXACT_INT) || d != floor(d)) return false;
    *v = (int64_t)d;
    return true;
}

static bool get_num(const cJSON *o, const char *key, double *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) return false;
    *v = it->valuedouble;
    return true;
}

/* bbox: four finite numbers */
static bool get_box(const cJSON *o, double b[4])
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "bbox");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 4) return false;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) return false;
        b[i++] = it->valuedouble;
    }
    return true;
}

/* A sorted id table of n entries, or NULL; a duplicate id is an error naming what. */
static fv__id_pos *id_table(const int64_t *ids, int64_t n, const char *origin, const char *what)
{
    fv__id_pos *t = calloc(n ? (size_t)n : 1, sizeof *t);
    if (!t) {
        fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        t[i] = (fv__id_pos){ids[i], i};
    qsort(t, (size_t)n, sizeof *t, fv__cmp_id_pos);
    for (int64_t i = 1; i < n; i++)
        if (t[i].id == t[i - 1].id) {
            fv__fail(FV_ERR_FORMAT, "%s: %s id %lld appears twice", origin, what,
                     (long long)t[i].id);
            free(t);
            return NULL;
        }
    return t;
}

static const cJSON *get_array(const cJSON *root, const char *key, const char *origin)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsArray(a)) fv__fail(FV_ERR_FORMAT, "%s: no \"%s\" list", origin, key);
    return cJSON_IsArray(a) ? a : NULL;
}

static fv_status read_images(const cJSON *arr, const char *origin, fv_detset *d)
{
    int64_t i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        fv_det_image *im = &d->images[i];
        if (!cJSON_IsObject(o) || !get_int(o, "id", &im->id))
            return fv__fail(FV_ERR_FORMAT, "%s: images[%lld]: no whole-number \"id\"", origin,
                            (long long)i);
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(o, "file_name");
        if (!cJSON_IsString(fn) || !fn->valuestring[0])
            return fv__fail(FV_ERR_FORMAT, "%s: image id %lld: no \"file_name\" string", origin,
                            (long long)im->id);
        if (!get_int(o, "width", &im->width) || !get_int(o, "height", &im->height) ||
            im->width < 1 || im->height < 1)
            return fv__fail(FV_ERR_FORMAT,
                            "%s: image id %lld: \"width\" and \"height\" must be whole numbers "
                            "of at least 1",
                            origin, (long long)im->id);
        if (!(im->file_name = fv__strdup(fn->valuestring)))
            return fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        i++;
    }
    return FV_OK;
}

static fv_status read_categories(const cJSON *arr, const char *origin, fv_detset *d)
{
    int64_t k = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        fv_det_category *c = &d->categories[k];
        if (!cJSON_IsObject(o) || !get_int(o, "id", &c->id))
            return fv__fail(FV_ERR_FORMAT, "%s: categories[%lld]: no whole-number \"id\"", origin,
                            (long long)k);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        if (!cJSON_IsString(name))
            return fv__fail(FV_ERR_FORMAT, "%s: category id %lld: no \"name\" string", origin,
                            (long long)c->id);
        if (!(c->name = fv__strdup(name->valuestring)))
            return fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        k++;
    }
    return FV_OK;
}

/* One annotation into *a (image and category as positions); checked against its image. */
static fv_status read_annotation(const cJSON *o, int64_t index, const char *origin,
                                 const fv_detset *d, const fv__id_pos *imgs, const fv__id_pos *cats,
                                 fv_det_annotation *a)
{
    if (!cJSON_IsObject(o) || !get_int(o, "id", &a->id))
        return fv__fail(FV_ERR_FORMAT, "%s: annotations[%lld]: no whole-number \"id\"", origin,
                        (long long)index);
    long long id = (long long)a->id;
    int64_t image_id, cat_id;
    if (!get_int(o, "image_id", &image_id))
        return fv__fail(FV_ERR_FORMAT, "%s: annotation id %lld: no whole-number \"image_id\"",
                        origin, id);
    if ((a->image = fv__find_id(imgs, d->nimages, image_id)) < 0)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: annotation id %lld: image_id %lld is not among the "
                        "images",
                        origin, id, (long long)image_id);
    if (!get_int(o, "category_id", &cat_id))
        return fv__fail(FV_ERR_FORMAT, "%s: annotation id %lld: no whole-number \"category_id\"",
                        origin, id);
    if ((a->category = fv__find_id(cats, d->ncategories, cat_id)) < 0)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: annotation id %lld: category_id %lld is not among the categories",
                        origin, id, (long long)cat_id);
    if (!get_box(o, a->bbox))
        return fv__fail(FV_ERR_FORMAT,
                        "%s: annotation id %lld: \"bbox\" must be [x, y, width, height] (four "
                        "finite numbers)",
                        origin, id);
    const double *b = a->bbox;
    if (b[2] < 0 || b[3] < 0)
        return fv__fail(FV_ERR_FORMAT, "%s: annotation id %lld: a negative size (%g x %g)", origin,
                        id, b[2], b[3]);
    const fv_det_image *im = &d->images[a->image];
    if (b[0] < -BOX_SLACK || b[1] < -BOX_SLACK || b[0] + b[2] > (double)im->width + BOX_SLACK ||
        b[1] + b[3] > (double)im->height + BOX_SLACK)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: annotation id %lld: the box [%g, %g, %g, %g] reaches outside image "
                        "id %lld (%lld x %lld)",
                        origin, id, b[0], b[1], b[2], b[3], (long long)im->id, (long long)im->width,
                        (long long)im->height);
    const cJSON *area = cJSON_GetObjectItemCaseSensitive(o, "area");
    if (!area)
        a->area = b[2] * b[3];
    else if (!get_num(o, "area", &a->area) || a->area < 0)
        return fv__fail(FV_ERR_FORMAT, "%s: annotation id %lld: \"area\" must be a number >= 0",
                        origin, id);
    const cJSON *crowd = cJSON_GetObjectItemCaseSensitive(o, "iscrowd");
    int64_t c = 0;
    if (cJSON_IsBool(crowd))
        c = cJSON_IsTrue(crowd);
    else if (crowd && (!get_int(o, "iscrowd", &c) || (c != 0 && c != 1)))
        return fv__fail(FV_ERR_FORMAT, "%s: annotation id %lld: \"iscrowd\" must be 0 or 1", origin,
                        id);
    a->iscrowd = c != 0;
    return FV_OK;
}

/* Groups annotations by image (stably: file order within an image) and sets first/count. */
static fv_status group_by_image(fv_detset *d, const char *origin)
{
    fv_det_annotation *sorted =
        calloc(d->nannotations ? (size_t)d->nannotations : 1, sizeof *sorted);
    if (!sorted) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
    for (int64_t j = 0; j < d->nannotations; j++)
        d->images[d->annotations[j].image].count++;
    int64_t at = 0;
    for (int64_t i = 0; i < d->nimages; i++) {
        d->images[i].first = at;
        at += d->images[i].count;
        d->images[i].count = 0;
    }
    for (int64_t j = 0; j < d->nannotations; j++) {
        fv_det_image *im = &d->images[d->annotations[j].image];
        sorted[im->first + im->count++] = d->annotations[j];
    }
    free(d->annotations);
    d->annotations = sorted;
    return FV_OK;
}

fv_status fv__coco_parse(const char *text, size_t len, const char *origin, fv_detset **out)
{
    *out = NULL;
    cJSON *root = parse_json(text, len, origin);
    if (!root) return FV_ERR_FORMAT;
    fv_status st = FV_ERR_FORMAT;
    fv_detset *d = NULL;
    fv__id_pos *imgs = NULL, *cats = NULL;
    int64_t *ids = NULL;
    const cJSON *ai, *aa, *ac;
    if (!cJSON_IsObject(root)) {
        fv__fail(FV_ERR_FORMAT, "%s: not a JSON object with images, annotations and categories",
                 origin);
        goto done;
    }
    if (!(ai = get_array(root, "images", origin)) ||
        !(aa = get_array(root, "annotations", origin)) ||
        !(ac = get_array(root, "categories", origin)))
        goto done;
    d = fv__detset_new(cJSON_GetArraySize(ai), cJSON_GetArraySize(aa), cJSON_GetArraySize(ac));
    if (!d) {
        st = FV_ERR_NOMEM;
        goto done;
    }
    if ((st = read_images(ai, origin, d)) != FV_OK) goto done;
    if ((st = read_categories(ac, origin, d)) != FV_OK) goto done;
    int64_t most = d->nimages > d->ncategories ? d->nimages : d->ncategories;
    if (!(ids = calloc(most ? (size_t)most : 1, sizeof *ids))) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        goto done;
    }
    for (int64_t i = 0; i < d->nimages; i++)
        ids[i] = d->images[i].id;
    st = FV_ERR_FORMAT;
    if (!(imgs = id_table(ids, d->nimages, origin, "image"))) goto done;
    for (int64_t k = 0; k < d->ncategories; k++)
        ids[k] = d->categories[k].id;
    if (!(cats = id_table(ids, d->ncategories, origin, "category"))) goto done;
    int64_t j = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, aa)
    {
        if ((st = read_annotation(o, j, origin, d, imgs, cats, &d->annotations[j])) != FV_OK)
            goto done;
        j++;
    }
    free(ids);
    if (!(ids = calloc(d->nannotations ? (size_t)d->nannotations : 1, sizeof *ids))) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        goto done;
    }
    for (j = 0; j < d->nannotations; j++)
        ids[j] = d->annotations[j].id;
    free(imgs);
    if (!(imgs = id_table(ids, d->nannotations, origin, "annotation"))) {
        st = FV_ERR_FORMAT;
        goto done;
    }
    st = group_by_image(d, origin);
done:
    cJSON_Delete(root);
    free(imgs);
    free(cats);
    free(ids);
    if (st != FV_OK) {
        fv_detset_free(d);
        return st;
    }
    *out = d;
    return FV_OK;
}

/* The folder part of path ("." when none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return fv__strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) memcpy(d, path, n), d[n] = '\0';
    return d;
}

fv_status fv_detset_load_coco(const char *json_path, const char *image_dir, int channels,
                              fv_detset **out)
{
    *out = NULL;
    if (channels != 0 && channels != 1 && channels != 3)
        return fv__fail(FV_ERR_INVALID, "%s: channels must be 0, 1 or 3, not %d", json_path,
                        channels);
    uint8_t *buf = NULL;
    size_t len = 0;
    fv_status st = fv__read_file(json_path, MAX_JSON_BYTES, false, &buf, &len);
    if (st != FV_OK) return st;
    fv_detset *d = NULL;
    st = fv__coco_parse((const char *)buf, len, json_path, &d);
    free(buf);
    if (st != FV_OK) return st;
    d->image_dir = image_dir ? fv__strdup(image_dir) : dir_of(json_path);
    if (!d->image_dir) {
        fv_detset_free(d);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", json_path);
    }
    if (channels) {
        fv_image_opts o = fv_image_defaults();
        o.channels = channels;
        for (int64_t i = 0; i < d->nimages && st == FV_OK; i++) {
            fv_det_image *im = &d->images[i];
            size_t n = strlen(d->image_dir) + strlen(im->file_name) + 2;
            char *path = malloc(n);
            if (!path) {
                st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", json_path);
                break;
            }
            snprintf(path, n, "%s/%s", d->image_dir, im->file_name);
            int64_t h, w;
            st = fv_image_read(path, &o, &im->pixels, &h, &w);
            if (st == FV_OK && (h != im->height || w != im->width))
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: image id %lld: %s is %lld x %lld pixels; the file says %lld x "
                              "%lld",
                              json_path, (long long)im->id, path, (long long)w, (long long)h,
                              (long long)im->width, (long long)im->height);
            free(path);
        }
        d->channels = channels;
    }
    if (st != FV_OK) {
        fv_detset_free(d);
        return st;
    }
    *out = d;
    return FV_OK;
}

/* ---- results -----------------------------------------------------------------------------------
 */

fv_status fv__detections_parse(const char *text, size_t len, const char *origin,
                               fv_detection **dets, int64_t *n)
{
    *dets = NULL, *n = 0;
    cJSON *root = parse_json(text, len, origin);
    if (!root) return FV_ERR_FORMAT;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return fv__fail(FV_ERR_FORMAT, "%s: not a JSON list of detections", origin);
    }
    int64_t count = cJSON_GetArraySize(root);
    fv_detection *d = calloc(count ? (size_t)count : 1, sizeof *d);
    if (!d) {
        cJSON_Delete(root);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld detections", origin,
                        (long long)count);
    }
    int64_t i = 0;
    const cJSON *o;
    fv_status st = FV_OK;
    cJSON_ArrayForEach(o, root)
    {
        fv_detection *q = &d[i];
        const char *bad = NULL;
        if (!cJSON_IsObject(o))
            bad = "not an object";
        else if (!get_int(o, "image_id", &q->image_id))
            bad = "no whole-number \"image_id\"";
        else if (!get_int(o, "category_id", &q->category_id))
            bad = "no whole-number \"category_id\"";
        else if (!get_box(o, q->bbox))
            bad = "\"bbox\" must be [x, y, width, height] (four finite numbers)";
        else if (q->bbox[2] < 0 || q->bbox[3] < 0)
            bad = "a negative width or height";
        else if (!get_num(o, "score", &q->score))
            bad = "no finite \"score\"";
        if (bad) {
            st = fv__fail(FV_ERR_FORMAT, "%s: element %lld: %s", origin, (long long)i, bad);
            break;
        }
        i++;
    }
    cJSON_Delete(root);
    if (st != FV_OK) {
        free(d);
        return st;
    }
    *dets = d, *n = count;
    return FV_OK;
}

fv_status fv_detections_read_json(const char *path, fv_detection **dets, int64_t *n)
{
    *dets = NULL, *n = 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    fv_status st = fv__read_file(path, MAX_JSON_BYTES, false, &buf, &len);
    if (st != FV_OK) return st;
    st = fv__detections_parse((const char *)buf, len, path, dets, n);
    free(buf);
    return st;
}

static cJSON *box_json(const double *b)
{
    return cJSON_CreateDoubleArray(b, 4);
}

fv_status fv_detections_write_json(const char *path, const fv_detection *dets, int64_t n,
                                   const fv_detset *gt)
{
    fv__id_pos *imgs = NULL;
    if (gt) {
        imgs = calloc(gt->nimages ? (size_t)gt->nimages : 1, sizeof *imgs);
        if (!imgs) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
        for (int64_t i = 0; i < gt->nimages; i++)
            imgs[i] = (fv__id_pos){gt->images[i].id, i};
        qsort(imgs, (size_t)gt->nimages, sizeof *imgs, fv__cmp_id_pos);
    }
    cJSON *root = cJSON_CreateArray();
    bool ok = root != NULL;
    for (int64_t i = 0; ok && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(root, o);
        ok = ok && cJSON_AddNumberToObject(o, "image_id", (double)dets[i].image_id);
        ok = ok && cJSON_AddNumberToObject(o, "category_id", (double)dets[i].category_id);
        cJSON *b = ok ? box_json(dets[i].bbox) : NULL;
        ok = ok && b && cJSON_AddItemToObject(o, "bbox", b);
        ok = ok && cJSON_AddNumberToObject(o, "score", dets[i].score);
        int64_t at = gt ? fv__find_id(imgs, gt->nimages, dets[i].image_id) : -1;
        if (ok && at >= 0)
            ok = cJSON_AddStringToObject(o, "file_name", gt->images[at].file_name) != NULL;
    }
    free(imgs);
    if (!ok) {
        cJSON_Delete(root);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory for the JSON", path);
    }
    return fv__write_json(path, root, false);
}

fv_status fv_detset_write_coco(const fv_detset *d, const char *path)
{
    cJSON *root = cJSON_CreateObject(), *images = cJSON_CreateArray(), *anns = cJSON_CreateArray(),
          *cats = cJSON_CreateArray();
    bool ok = root && images && anns && cats;
    if (ok) {
        cJSON_AddItemToObject(root, "images", images);
        cJSON_AddItemToObject(root, "annotations", anns);
        cJSON_AddItemToObject(root, "categories", cats);
    } else {
        cJSON_Delete(images);
        cJSON_Delete(anns);
        cJSON_Delete(cats);
    }
    for (int64_t i = 0; ok && i < d->nimages; i++) {
        const fv_det_image *im = &d->images[i];
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(images, o);
        ok = ok && cJSON_AddNumberToObject(o, "id", (double)im->id);
        ok = ok && cJSON_AddStringToObject(o, "file_name", im->file_name);
        ok = ok && cJSON_AddNumberToObject(o, "width", (double)im->width);
        ok = ok && cJSON_AddNumberToObject(o, "height", (double)im->height);
    }
    for (int64_t j = 0; ok && j < d->nannotations; j++) {
        const fv_det_annotation *a = &d->annotations[j];
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(anns, o);
        ok = ok && cJSON_AddNumberToObject(o, "id", (double)a->id);
        ok = ok && cJSON_AddNumberToObject(o, "image_id", (double)d->images[a->image].id);
        ok = ok && cJSON_AddNumberToObject(o, "category_id", (double)d->categories[a->category].id);
        cJSON *b = ok ? box_json(a->bbox) : NULL;
        ok = ok && b && cJSON_AddItemToObject(o, "bbox", b);
        ok = ok && cJSON_AddNumberToObject(o, "area", a->area);
        ok = ok && cJSON_AddNumberToObject(o, "iscrowd", a->iscrowd ? 1 : 0);
    }
    for (int64_t k = 0; ok && k < d->ncategories; k++) {
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(cats, o);
        ok = ok && cJSON_AddNumberToObject(o, "id", (double)d->categories[k].id);
        ok = ok && cJSON_AddStringToObject(o, "name", d->categories[k].name);
    }
    if (!ok) {
        cJSON_Delete(root);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory for the JSON", path);
    }
    return fv__write_json(path, root, false);
}
