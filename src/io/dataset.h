/* dataset.h — the dataset object behind fv_dataset: samples kept as uint8 (images) or float32
 * (features), labels as int32 class ids, or float targets; batches are gathered and converted
 * to float on demand so that memory never grows beyond the stored data.
 */
#ifndef FV_DATASET_H
#define FV_DATASET_H

#include "core/core.h"

struct fv_dataset {
    int64_t n;       /* samples */
    fv_shape shape;  /* per sample */
    int64_t sample;  /* floats per sample */
    uint8_t *u8;     /* n × sample, or NULL */
    float *f32;      /* n × sample, or NULL */
    int32_t *labels; /* n, or NULL */
    float *targets;  /* n × tdim float targets (regression), or NULL */
    int64_t tdim;
    int64_t classes;    /* max label + 1, or 0 */
    char **class_names; /* nclass_names names (image folders, CIFAR), or NULL */
    int64_t nclass_names;
    char **files;   /* nfiles paths, sample i's in files[i] (image datasets), or NULL */
    int64_t nfiles; /* >= n: a split shrinks n but frees all */
};

/* An empty dataset (NULL with a message if out of memory). */
fv_dataset *fv__dataset_new(void);
/* Sets d->shape and d->sample for d->n samples; an error naming origin if a dimension is < 1 or
 * the size overflows. */
fv_status fv__dataset_set_shape(fv_dataset *d, int rank, const int64_t *dims, const char *origin);
/* Copies names[0..n) into d->class_names. */
fv_status fv__dataset_set_class_names(fv_dataset *d, int64_t n, const char *const *names);

/* Gathers samples idx[0..count) into x [count × sample] as float (u8 scaled by 1/255), their
 * labels into labels[count] (if both exist) and targets into targets[count × tdim] (if both
 * exist). idx NULL means first + 0..count). Parallel over samples. */
void fv__dataset_gather(const fv_dataset *d, const int64_t *idx, int64_t first, int64_t count,
                        float *x, int32_t *labels, float *targets);

#endif
