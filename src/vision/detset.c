/* detset.c — the detection set's memory (making an empty one of given counts, freeing it) and the
 * small sorting helpers its readers and the evaluation share: score order and id tables.
 */
#include "vision/vision.h"

#include <stdlib.h>

fv_detset *fv__detset_new(int64_t nimages, int64_t nann, int64_t ncat)
{
    if (nimages < 0 || nann < 0 || ncat < 0 ||
        (uint64_t)nimages > SIZE_MAX / sizeof(fv_det_image) ||
        (uint64_t)nann > SIZE_MAX / sizeof(fv_det_annotation) ||
        (uint64_t)ncat > SIZE_MAX / sizeof(fv_det_category)) {
        fv__fail(FV_ERR_NOMEM, "detection set: counts overflow");
        return NULL;
    }
    fv_detset *d = calloc(1, sizeof *d);
    if (d) {
        d->images = calloc(nimages ? (size_t)nimages : 1, sizeof *d->images);
        d->annotations = calloc(nann ? (size_t)nann : 1, sizeof *d->annotations);
        d->categories = calloc(ncat ? (size_t)ncat : 1, sizeof *d->categories);
    }
    if (!d || !d->images || !d->annotations || !d->categories) {
        fv_detset_free(d);
        fv__fail(FV_ERR_NOMEM, "detection set: out of memory for %lld images and %lld boxes",
                 (long long)nimages, (long long)nann);
        return NULL;
    }
    d->nimages = nimages, d->nannotations = nann, d->ncategories = ncat;
    return d;
}

int fv__cmp_scored(const void *pa, const void *pb)
{
    const fv__scored *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

int fv__cmp_id_pos(const void *pa, const void *pb)
{
    const fv__id_pos *a = pa, *b = pb;
    if (a->id != b->id) return (a->id > b->id) - (a->id < b->id);
    return (a->pos > b->pos) - (a->pos < b->pos);
}

int64_t fv__find_slot(const fv__id_pos *t, int64_t n, int64_t id)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (t[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && t[lo].id == id ? lo : -1;
}

int64_t fv__find_id(const fv__id_pos *t, int64_t n, int64_t id)
{
    int64_t slot = fv__find_slot(t, n, id);
    return slot < 0 ? -1 : t[slot].pos;
}

void fv_detset_free(fv_detset *d)
{
    if (!d) return;
    if (d->images)
        for (int64_t i = 0; i < d->nimages; i++) {
            free(d->images[i].file_name);
            free(d->images[i].pixels);
        }
    if (d->categories)
        for (int64_t k = 0; k < d->ncategories; k++)
            free(d->categories[k].name);
    free(d->images);
    free(d->annotations);
    free(d->categories);
    free(d->image_dir);
    free(d);
}
