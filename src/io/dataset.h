/* dataset.h — the dataset object behind fv_dataset: samples kept as uint8 (images) or float32
 * (features), labels as int32 class ids, or float targets; batches are gathered and converted
 * to float on demand so that memory never grows beyond the stored data.
 */
#ifndef FV_DATASET_H
#define FV_DATASET_H

#include "core/core.h"

/* Target arrays a dataset can carry for a model with several outputs. */
enum { FV__DATASET_MAX_OUTPUTS = 16 };

struct fv_dataset {
    int64_t n;       /* samples */
    fv_shape shape;  /* per sample */
    int64_t sample;  /* floats per sample */
    uint8_t *u8;     /* n × sample, or NULL */
    float *f32;      /* n × sample, or NULL */
    int32_t *labels; /* n, or NULL */
    float *targets;  /* n × tdim float targets (regression), or NULL */
    int64_t tdim;
    int64_t classes; /* max label + 1, or 0 */

    /* Where the samples came from, for messages that name the file and the place. */
    char *origin;        /* the samples' file, or NULL (from memory) */
    char *labels_origin; /* the labels' file when it is another (IDX), or NULL */
    int frank;           /* the array's rank in the file, samples first (0: from memory) */
    int64_t fdims[5];    /* the array's shape in the file, fdims[0] the file's sample count */
    int64_t *lines;      /* CSV: the 1-based file line of each sample (header counted), or NULL */
    char *label_column;  /* CSV: the name of the label column, or NULL */
    char **class_names;  /* CSV labels given as names: the names in sorted order, label i being
                          * class_names[i]; or names given by fv_dataset_use_class_names */
    int64_t nclass_names;
    char **files;   /* nfiles paths, sample i's in files[i] (image datasets), or NULL */
    int64_t nfiles; /* >= n: a split shrinks n but frees all */

    /* A model with several outputs: one target-only dataset per output name (n rows; labels
     * and/or targets, as fv_dataset_load_labels_npy gives them), Keras' `y` as a dict. */
    int nouts;
    char *out_names[FV__DATASET_MAX_OUTPUTS];
    fv_dataset *outs[FV__DATASET_MAX_OUTPUTS];
    /* A model with several inputs: the samples above feed its first input; the others' arrays
     * are datasets of their own (n samples, no labels) by input name, Keras' `x` as a dict. */
    int nins;
    char *in_names[FV__DATASET_MAX_OUTPUTS];
    fv_dataset *ins[FV__DATASET_MAX_OUTPUTS];
};

/* The samples for input `name` (another than the first), or NULL. */
const fv_dataset *fv__dataset_input(const fv_dataset *d, const char *name);

/* The target array of output `name`, or NULL. */
const fv_dataset *fv__dataset_output(const fv_dataset *d, const char *name);

/* An empty dataset (NULL with a message if out of memory). */
fv_dataset *fv__dataset_new(void);
/* A copy of samples [first, first + count) of d with their labels, targets and named arrays
 * (NULL when out of memory, error set). */
fv_dataset *fv__dataset_slice(const fv_dataset *d, int64_t first, int64_t count);
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

/* Checks that the samples have the shape want (a model's input, per sample): exactly that shape,
 * or (H, W) when want is (H, W, 1). Anything else is FV_ERR_SHAPE with one message naming the
 * file (or what, for data from memory) and both shapes, samples first: "x.npy has shape
 * (2, 3, 4, 4); the model's input is (None, 4, 4, 3): channels last (N, H, W, C) ...". A flat
 * (N, H·W·C) array is not reshaped into images: only a rank-1 input (features) takes rows. */
fv_status fv__dataset_check_shape(const fv_dataset *d, const fv_shape *want, const char *what);

/* Checks that every label is a class index in [0, limit): the integer labels, or, where the
 * label column held other numbers (a negative or fractional value, one too large to be a class),
 * those. The first one that is not is an error (FV_ERR_SHAPE for a whole number too large for
 * the model's outputs, FV_ERR_INVALID for the rest) naming the file, line and column (CSV:
 * "data.csv:4: column 'label': -1 is not a class index in [0, 3)"), or the labels file and
 * sample index (IDX, from 0), or what and the sample index (memory). No labels at all is
 * FV_ERR_INVALID "WHAT: the data has no labels". */
fv_status fv__dataset_check_labels(const fv_dataset *d, int64_t limit, int64_t k, const char *what);
/* Labels given as an array of rows (fv_dataset_load_labels_npy, (N, K) with K > 1) are checked
 * first against the model's k outputs: one-hot rows of k, else FV_ERR_SHAPE naming the file and
 * both shapes. */

/* Float targets of a regression: tdim must be the model's k outputs, else FV_ERR_SHAPE naming the
 * file and both shapes. */
fv_status fv__dataset_check_targets(const fv_dataset *d, int64_t k, const char *what);

#endif
