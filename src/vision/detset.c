/* detset.c — the detection set's memory: making an empty one of given counts, and freeing it.
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
