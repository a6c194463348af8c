/* dataset.h — the dataset object behind fv_dataset: samples kept as uint8 (images) or float32
 * (features), labels as int32 class ids, or float targets; batches are gathered and converted
 * to float on demand so that memory never grows beyond the stored data.
 */
#ifndef FV_DATASET_H
#define FV_DATASET_H

#include "core/core.h"

struct fv_dataset {
    int64_t n;         /* samples */
    fv_shape shape;    /* per sample */
    int64_t sample;    /* floats per sample */
    uint8_t *u8;       /* n × sample, or NULL */
    float *f32;        /* n × sample, or NULL */
    int32_t *labels;   /* n, or NULL */
    float *targets;    /* n × tdim float targets (regression), or NULL */
    int64_t tdim;
    int64_t classes;   /* max label + 1, or 0 */
};

/* Gathers samples idx[0..count) into x [count × sample] as float (u8 scaled by 1/255), their
 * labels into labels[count] (if both exist) and targets into targets[count × tdim] (if both
 * exist). idx NULL means first + 0..count). Parallel over samples. */
void fv__dataset_gather(const fv_dataset *d, const int64_t *idx, int64_t first, int64_t count,
                        float *x, int32_t *labels, float *targets);

#endif
