/* dataset.c — fv_dataset: loading IDX, CSV and .npy files or memory into samples kept as uint8
 * or float32 with class labels and/or float targets; Keras-style splitting; and the gather that
 * turns a list of sample indices into a float batch (in parallel, u8 scaled by 1/255).
 */
#include "io/dataset.h"
#include "io/io.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The largest class id a CSV label may be to count as a class (else it is a float target). */
#define FV_MAX_CSV_CLASS 65535

static void free_names(char **names, int64_t n)
{
    if (!names) return;
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* A copy of names[0..n) (NULL entries refused), or NULL when out of memory. */
static char **copy_names(const char *const *names, int64_t n)
{
    char **c = calloc((size_t)(n > 0 ? n : 1), sizeof *c);
    for (int64_t i = 0; c && i < n; i++)
        if (!(c[i] = fv__strdup(names[i]))) {
            free_names(c, i);
            return NULL;
        }
    return c;
}

/* Records the file and its array shape (samples first) for messages. */
static bool ds_set_origin(fv_dataset *d, const char *path, int rank, const int64_t *dims)
{
    if (!(d->origin = fv__strdup(path))) return false;
    d->frank = rank < 5 ? rank : 5;
    for (int i = 0; i < d->frank; i++)
        d->fdims[i] = dims[i];
    return true;
}

static fv_dataset *ds_new(void)
{
    fv_dataset *d = calloc(1, sizeof *d);
    if (!d) fv__fail(FV_ERR_NOMEM, "out of memory: cannot allocate a dataset");
    return d;
}

fv_dataset *fv__dataset_new(void)
{
    return ds_new();
}

static void free_strings(char **s, int64_t n)
{
    if (!s) return;
    for (int64_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* A copy of s[0..n) (NULL entries stay NULL); NULL if out of memory. */
static char **copy_strings(const char *const *s, int64_t n)
{
    char **c = calloc((size_t)(n > 0 ? n : 1), sizeof *c);
    if (!c) return NULL;
    for (int64_t i = 0; i < n; i++)
        if (s[i] && !(c[i] = strdup(s[i]))) {
            free_strings(c, i);
            return NULL;
        }
    return c;
}

fv_status fv__dataset_set_class_names(fv_dataset *d, int64_t n, const char *const *names)
{
    char **c = n > 0 ? copy_strings(names, n) : NULL;
    if (n > 0 && !c)
        return fv__fail(FV_ERR_NOMEM, "out of memory for %lld class names", (long long)n);
    free_strings(d->class_names, d->nclass_names);
    d->class_names = c;
    d->nclass_names = n > 0 ? n : 0;
    return FV_OK;
}

void fv_dataset_free(fv_dataset *d)
{
    if (!d) return;
    free(d->u8);
    free(d->f32);
    free(d->labels);
    free(d->targets);
    free(d->origin);
    free(d->labels_origin);
    free(d->lines);
    free(d->label_column);
    free_names(d->class_names, d->nclass_names);
    for (int j = 0; j < d->nouts; j++) {
        free(d->out_names[j]);
        fv_dataset_free(d->outs[j]);
    }
    for (int j = 0; j < d->nins; j++) {
        free(d->in_names[j]);
        fv_dataset_free(d->ins[j]);
    }
    free_strings(d->files, d->nfiles);
    free(d);
}

/* Sets the sample shape and size; an error naming origin if a dim is < 1 or the size
 * overflows. */
fv_status fv__dataset_set_shape(fv_dataset *d, int rank, const int64_t *dims, const char *origin)
{
    d->shape.rank = rank;
    for (int i = 0; i < 4; i++)
        d->shape.d[i] = i < rank ? dims[i] : 0;
    for (int i = 0; i < rank; i++)
        if (dims[i] < 1)
            return fv__fail(FV_ERR_SHAPE,
                            "%s: sample dimension %d is %lld; every dimension must be >= 1", origin,
                            i, (long long)dims[i]);
    d->sample = fv__shape_size(&d->shape);
    int64_t total;
    if (d->sample < 0 || !fv__mul_i64(d->n, d->sample, &total) ||
        !fv__mul_i64(total, (int64_t)sizeof(float), &total))
        return fv__fail(FV_ERR_NOMEM, "%s: %lld samples of this shape overflow a 64-bit size",
                        origin, (long long)d->n);
    return FV_OK;
}

/* Class count of labels[0..n): max + 1; -1 (with a message) if a label is negative. */
static int64_t count_classes(const int32_t *labels, int64_t n, const char *origin)
{
    int64_t max = -1;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0) {
            fv__fail(FV_ERR_INVALID, "%s: label %lld of sample %lld is negative", origin,
                     (long long)labels[i], (long long)i);
            return -1;
        }
        if (labels[i] > max) max = labels[i];
    }
    return max + 1;
}

/* ---- IDX ----------------------------------------------------------------------------------- */

static fv_status load_idx(const char *images_path, const char *labels_path, fv_dataset **out)
{
    *out = NULL;
    if (!images_path) return fv__fail(FV_ERR_INVALID, "fv_dataset_load_idx: no images file given");
    fv_idx im = {0}, lb = {0};
    fv_dataset *d = NULL;
    fv_status st;
    if ((st = fv__idx_read(images_path, &im)) != FV_OK) goto fail;
    if (im.rank != 3 && im.rank != 4) {
        st = fv__fail(FV_ERR_SHAPE,
                      "%s: IDX images must have rank 3 (N, H, W) or 4 (N, H, W, C); this file has "
                      "rank %d",
                      images_path, im.rank);
        goto fail;
    }
    if (im.dims[0] < 1) {
        st = fv__fail(FV_ERR_SHAPE, "%s: the file holds no images (N = 0)", images_path);
        goto fail;
    }
    st = FV_ERR_NOMEM;
    if (!(d = ds_new())) goto fail;
    d->n = im.dims[0];
    int64_t dims[3] = {im.dims[1], im.dims[2], im.rank == 4 ? im.dims[3] : 1};
    if ((st = fv__dataset_set_shape(d, 3, dims, images_path)) != FV_OK) goto fail;
    d->u8 = im.data;
    im.data = NULL;
    if (!ds_set_origin(d, images_path, im.rank, im.dims) ||
        (labels_path && !(d->labels_origin = fv__strdup(labels_path)))) {
        st = fv__fail(FV_ERR_NOMEM, "out of memory");
        goto fail;
    }

    if (labels_path) {
        if ((st = fv__idx_read(labels_path, &lb)) != FV_OK) goto fail;
        if (lb.rank != 1) {
            st = fv__fail(
                FV_ERR_SHAPE,
                "%s: IDX labels must have rank 1 (N); this file has rank %d (are the images "
                "and labels files swapped?)",
                labels_path, lb.rank);
            goto fail;
        }
        if (lb.dims[0] != d->n) {
            st = fv__fail(FV_ERR_SHAPE, "%s has %lld images but %s has %lld labels", images_path,
                          (long long)d->n, labels_path, (long long)lb.dims[0]);
            goto fail;
        }
        d->labels = malloc((size_t)d->n * sizeof(int32_t));
        if (!d->labels) {
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld labels", labels_path,
                          (long long)d->n);
            goto fail;
        }
        for (int64_t i = 0; i < d->n; i++)
            d->labels[i] = lb.data[i];
        d->classes = count_classes(d->labels, d->n, labels_path);
    }
    fv__idx_free(&lb);
    *out = d;
    return FV_OK;
fail:
    fv__idx_free(&im);
    fv__idx_free(&lb);
    fv_dataset_free(d);
    return st;
}

fv_dataset *fv_dataset_load_idx(const char *images_path, const char *labels_path)
{
    fv_dataset *d;
    load_idx(images_path, labels_path, &d);
    return d;
}

/* dir/name or dir/name.gz, whichever exists (the plain one first) into *path (caller frees). */
static fv_status find_idx(const char *dir, const char *name, char **path)
{
    size_t n = strlen(dir) + strlen(name) + 8;
    char *p = malloc(n);
    *path = NULL;
    if (!p) return fv__fail(FV_ERR_NOMEM, "out of memory");
    const char *sep = dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/";
    struct stat sb;
    for (int gz = 0; gz < 2; gz++) {
        snprintf(p, n, "%s%s%s%s", dir, sep, name, gz ? ".gz" : "");
        if (stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            *path = p;
            return FV_OK;
        }
    }
    free(p);
    return fv__fail(FV_ERR_IO, "%s: no %s or %s.gz in this folder", dir, name, name);
}

static fv_status load_idx_pair(const char *dir, const char *images, const char *labels,
                               fv_dataset **out)
{
    char *ip = NULL, *lp = NULL;
    fv_status st = find_idx(dir, images, &ip);
    if (st == FV_OK) st = find_idx(dir, labels, &lp);
    if (st == FV_OK) st = load_idx(ip, lp, out);
    free(ip);
    free(lp);
    return st;
}

fv_status fv_dataset_load_idx_dir(const char *dir, fv_dataset **train, fv_dataset **test)
{
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (!dir) return fv__fail(FV_ERR_INVALID, "fv_dataset_load_idx_dir: no folder given");
    if (!train && !test)
        return fv__fail(FV_ERR_INVALID, "%s: neither the training nor the test set was asked for",
                        dir);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fv__fail(FV_ERR_IO, "%s: not a folder (expected one holding the MNIST files)", dir);
    fv_dataset *tr = NULL, *te = NULL;
    fv_status st = FV_OK;
    if (train) st = load_idx_pair(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", &tr);
    if (st == FV_OK && test)
        st = load_idx_pair(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", &te);
    if (st != FV_OK) {
        fv_dataset_free(tr);
        fv_dataset_free(te);
        return st;
    }
    if (train) *train = tr;
    if (test) *test = te;
    return FV_OK;
}

/* ---- CSV ----------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The label column held class names (every cell text): the distinct names in sorted order
 * become the classes, each row's label the index of its name. */
static fv_status csv_class_names(fv_dataset *d, const fv_csv *c, const char *path)
{
    char **sorted = malloc((size_t)c->nrows * sizeof *sorted);
    if (!sorted) return fv__fail(FV_ERR_NOMEM, "%s: out of memory for class names", path);
    memcpy(sorted, c->text, (size_t)c->nrows * sizeof *sorted);
    qsort(sorted, (size_t)c->nrows, sizeof *sorted, cmp_str);
    int64_t k = 0;
    for (int64_t i = 0; i < c->nrows; i++)
        if (k == 0 || strcmp(sorted[k - 1], sorted[i]) != 0) sorted[k++] = sorted[i];
    fv_status st = FV_OK;
    d->class_names = copy_names((const char *const *)sorted, k);
    d->labels = malloc((size_t)d->n * sizeof(int32_t));
    if (!d->class_names || !d->labels) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld labels", path, (long long)d->n);
        goto done;
    }
    d->nclass_names = k;
    if (k > INT32_MAX) {
        st = fv__fail(FV_ERR_INVALID, "%s: column '%s': %lld class names are too many", path,
                      c->names[c->text_col], (long long)k);
        goto done;
    }
    for (int64_t i = 0; i < d->n; i++) {
        char *const *hit = bsearch(&c->text[i], d->class_names, (size_t)k, sizeof(char *), cmp_str);
        FV_ASSERT(hit);
        d->labels[i] = (int32_t)(hit - d->class_names);
    }
    d->classes = k;
done:
    free(sorted);
    return st;
}

fv_dataset *fv_dataset_load_csv(const char *path, const char *label_column)
{
    if (!path) {
        fv__fail(FV_ERR_INVALID, "fv_dataset_load_csv: no file given");
        return NULL;
    }
    fv_csv c = {0};
    fv_dataset *d = NULL;
    if (fv__csv_read_labelled(path, label_column, true, &c) != FV_OK) return NULL;
    if (c.ncols < 2) {
        fv__fail(FV_ERR_FORMAT,
                 "%s: the table has %d column; a dataset needs at least 2 (features and a label)",
                 path, c.ncols);
        goto fail;
    }
    if (c.nrows < 1) {
        fv__fail(FV_ERR_FORMAT, "%s: the table has a header row but no data rows", path);
        goto fail;
    }
    int lc = c.ncols - 1;
    if (label_column) {
        lc = fv__csv_column(&c, label_column);
        if (lc < 0) {
            char list[256];
            size_t o = 0;
            list[0] = '\0';
            for (int i = 0; i < c.ncols && o < sizeof list; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%s\"", i ? ", " : "",
                                      c.names[i]);
            fv__fail(FV_ERR_INVALID, "%s: no column named \"%s\"; the columns are %s", path,
                     label_column, list);
            goto fail;
        }
    }
    /* A label column holds numbers or class names, not both. */
    int64_t text_row = -1, num_row = -1;
    for (int64_t i = 0; i < c.nrows && (text_row < 0 || num_row < 0); i++) {
        if (c.text[i] && text_row < 0) text_row = i;
        if (!c.text[i] && num_row < 0) num_row = i;
    }
    if (text_row >= 0 && num_row >= 0) {
        int64_t bad = text_row > num_row ? text_row : num_row;
        if (c.text[bad])
            fv__fail(FV_ERR_FORMAT,
                     "%s:%lld: column '%s': '%.60s' is not a number, and the column's other "
                     "labels are numbers (line %lld: %g), not class names",
                     path, (long long)c.lines[bad], c.names[lc], c.text[bad],
                     (long long)c.lines[num_row], c.cells[num_row * c.ncols + lc]);
        else
            fv__fail(FV_ERR_FORMAT,
                     "%s:%lld: column '%s': %g is a number, and the column's other labels are "
                     "class names (line %lld: '%.60s')",
                     path, (long long)c.lines[bad], c.names[lc], c.cells[bad * c.ncols + lc],
                     (long long)c.lines[text_row], c.text[text_row]);
        goto fail;
    }
    if (!(d = ds_new())) goto fail;
    d->n = c.nrows;
    int64_t nf = c.ncols - 1;
    if (fv__dataset_set_shape(d, 1, &nf, path) != FV_OK) goto fail;
    d->f32 = malloc((size_t)(d->n * nf) * sizeof(float));
    d->targets = malloc((size_t)d->n * sizeof(float));
    d->lines = malloc((size_t)d->n * sizeof(int64_t));
    if (!d->f32 || !d->targets || !d->lines || !ds_set_origin(d, path, 2, (int64_t[]){d->n, nf}) ||
        !(d->label_column = fv__strdup(c.names[lc]))) {
        fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld rows", path, (long long)d->n);
        goto fail;
    }
    memcpy(d->lines, c.lines, (size_t)d->n * sizeof(int64_t));
    d->tdim = 1;
    bool classes = true;
    for (int64_t i = 0; i < c.nrows; i++) {
        const double *row = c.cells + i * c.ncols;
        float *x = d->f32 + i * nf;
        for (int k = 0; k < c.ncols; k++) {
            if (fabs(row[k]) > FLT_MAX) {
                fv__fail(FV_ERR_FORMAT,
                         "%s: line %lld, column \"%s\": %g does not fit in a float32", path,
                         (long long)c.lines[i], c.names[k], row[k]);
                goto fail;
            }
            if (k == lc)
                d->targets[i] = (float)row[k];
            else
                *x++ = (float)row[k];
        }
        double v = row[lc];
        if (!(v >= 0 && v <= FV_MAX_CSV_CLASS && v == floor(v))) classes = false;
    }
    if (text_row >= 0) {
        /* class names: the labels are their indices; there are no numeric targets */
        free(d->targets);
        d->targets = NULL;
        d->tdim = 0;
        if (csv_class_names(d, &c, path) != FV_OK) goto fail;
    } else if (classes) {
        d->labels = malloc((size_t)d->n * sizeof(int32_t));
        if (!d->labels) {
            fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld labels", path, (long long)d->n);
            goto fail;
        }
        for (int64_t i = 0; i < d->n; i++)
            d->labels[i] = (int32_t)c.cells[i * c.ncols + lc];
        d->classes = count_classes(d->labels, d->n, path);
    }
    /* Otherwise the column holds other numbers: float targets for a regression, and for a
     * classifier the first one that is not a class index is named by fv__dataset_check_labels. */
    fv__csv_free(&c);
    return d;
fail:
    fv__csv_free(&c);
    fv_dataset_free(d);
    return NULL;
}

/* ---- .npy ---------------------------------------------------------------------------------- */

fv_dataset *fv_dataset_load_npy(const char *path)
{
    if (!path) {
        fv__fail(FV_ERR_INVALID, "fv_dataset_load_npy: no file given");
        return NULL;
    }
    fv_npy a = {0};
    fv_dataset *d = NULL;
    if (fv__npy_read(path, &a) != FV_OK) return NULL;
    if (a.rank < 2 || a.rank > 4) {
        fv__fail(FV_ERR_SHAPE,
                 "%s: the array has rank %d; expected 2 (N, features), 3 (N, H, W) or 4 (N, H, "
                 "W, C)",
                 path, a.rank);
        goto fail;
    }
    if (a.dims[0] < 1) {
        fv__fail(FV_ERR_SHAPE, "%s: the array holds no samples (first dimension 0)", path);
        goto fail;
    }
    if (!(d = ds_new())) goto fail;
    d->n = a.dims[0];
    int64_t dims[3] = {a.dims[1], a.rank > 2 ? a.dims[2] : 0, a.rank == 4 ? a.dims[3] : 1};
    if (fv__dataset_set_shape(d, a.rank == 2 ? 1 : 3, dims, path) != FV_OK) goto fail;
    if (!ds_set_origin(d, path, a.rank, a.dims)) {
        fv__fail(FV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (a.is_u8) {
        d->u8 = a.data;
    } else {
        const float *x = a.data;
        for (int64_t i = 0; i < a.count; i++) {
            if (!isfinite(x[i])) {
                fv__fail(FV_ERR_NUMERIC, "%s: sample %lld holds a NaN or infinite value", path,
                         (long long)(i / d->sample));
                goto fail;
            }
        }
        d->f32 = a.data;
    }
    a.data = NULL;
    return d;
fail:
    fv__npy_free(&a);
    fv_dataset_free(d);
    return NULL;
}

/* ---- from memory --------------------------------------------------------------------------- */

static fv_dataset *from_memory(int64_t n, int rank, const int64_t *dims, const void *x, bool is_u8,
                               const int32_t *labels, const char *fn)
{
    if (n < 1 || rank < 1 || rank > 4 || !dims || !x) {
        fv__fail(FV_ERR_INVALID,
                 "%s: need n >= 1 samples, rank 1 to 4, dims and data (got n = %lld, rank %d)", fn,
                 (long long)n, rank);
        return NULL;
    }
    fv_dataset *d = ds_new();
    if (!d) return NULL;
    d->n = n;
    if (fv__dataset_set_shape(d, rank, dims, fn) != FV_OK) goto fail;
    size_t elem = is_u8 ? 1 : sizeof(float);
    size_t bytes = (size_t)(n * d->sample) * elem; /* checked by ds_set_shape */
    void *copy = malloc(bytes);
    if (!copy) {
        fv__fail(FV_ERR_NOMEM, "%s: out of memory: cannot copy %zu bytes", fn, bytes);
        goto fail;
    }
    memcpy(copy, x, bytes);
    if (is_u8)
        d->u8 = copy;
    else
        d->f32 = copy;
    if (labels) {
        if ((d->classes = count_classes(labels, n, fn)) < 0) goto fail;
        d->labels = malloc((size_t)n * sizeof(int32_t));
        if (!d->labels) {
            fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld labels", fn, (long long)n);
            goto fail;
        }
        memcpy(d->labels, labels, (size_t)n * sizeof(int32_t));
    }
    return d;
fail:
    fv_dataset_free(d);
    return NULL;
}

fv_dataset *fv_dataset_from_u8(int64_t n, int rank, const int64_t *dims, const uint8_t *x,
                               const int32_t *labels)
{
    return from_memory(n, rank, dims, x, true, labels, "fv_dataset_from_u8");
}

fv_dataset *fv_dataset_from_f32(int64_t n, int rank, const int64_t *dims, const float *x,
                                const int32_t *labels)
{
    return from_memory(n, rank, dims, x, false, labels, "fv_dataset_from_f32");
}

/* ---- slices -------------------------------------------------------------------------------- */

/* A new dataset holding samples [first, first + count) of d. */
static fv_dataset *ds_slice(const fv_dataset *d, int64_t first, int64_t count)
{
    fv_dataset *s = ds_new();
    if (!s) return NULL;
    s->n = count;
    s->shape = d->shape;
    s->sample = d->sample;
    s->tdim = d->tdim;
    s->classes = d->classes; /* the problem's class count, not this slice's */
    if (d->files) s->nfiles = count;
    size_t elems = (size_t)(count * d->sample), off = (size_t)(first * d->sample);
    if (d->u8 && (s->u8 = malloc(elems ? elems : 1))) memcpy(s->u8, d->u8 + off, elems);
    if (d->f32 && (s->f32 = malloc(elems * sizeof(float) + 1)))
        memcpy(s->f32, d->f32 + off, elems * sizeof(float));
    if (d->labels && (s->labels = malloc((size_t)count * sizeof(int32_t) + 1)))
        memcpy(s->labels, d->labels + first, (size_t)count * sizeof(int32_t));
    size_t tn = (size_t)(count * d->tdim);
    if (d->targets && (s->targets = malloc(tn * sizeof(float) + 1)))
        memcpy(s->targets, d->targets + first * d->tdim, tn * sizeof(float));
    s->frank = d->frank;
    memcpy(s->fdims, d->fdims, sizeof s->fdims);
    s->fdims[0] = count;
    if (d->origin) s->origin = fv__strdup(d->origin);
    if (d->labels_origin) s->labels_origin = fv__strdup(d->labels_origin);
    if (d->label_column) s->label_column = fv__strdup(d->label_column);
    if (d->lines && (s->lines = malloc((size_t)count * sizeof(int64_t) + 1)))
        memcpy(s->lines, d->lines + first, (size_t)count * sizeof(int64_t));
    if (d->class_names &&
        (s->class_names = copy_names((const char *const *)d->class_names, d->nclass_names)))
        s->nclass_names = d->nclass_names;
    bool outs_ok = true;
    for (int j = 0; j < d->nouts && outs_ok; j++) {
        s->out_names[j] = fv__strdup(d->out_names[j]);
        s->outs[j] = ds_slice(d->outs[j], first, count);
        s->nouts = j + 1;
        outs_ok = s->out_names[j] && s->outs[j];
    }
    for (int j = 0; j < d->nins && outs_ok; j++) {
        s->in_names[j] = fv__strdup(d->in_names[j]);
        s->ins[j] = ds_slice(d->ins[j], first, count);
        s->nins = j + 1;
        outs_ok = s->in_names[j] && s->ins[j];
    }
    if (d->files && (s->files = copy_strings((const char *const *)d->files + first, count)))
        s->nfiles = count;
    if (!outs_ok || (d->files && !s->files) || (d->u8 && !s->u8) || (d->f32 && !s->f32) ||
        (d->labels && !s->labels) || (d->targets && !s->targets) || (d->origin && !s->origin) ||
        (d->labels_origin && !s->labels_origin) || (d->label_column && !s->label_column) ||
        (d->lines && !s->lines) || (d->class_names && !s->class_names)) {
        fv__fail(FV_ERR_NOMEM, "out of memory: cannot copy %lld samples", (long long)count);
        fv_dataset_free(s);
        return NULL;
    }
    return s;
}

fv_dataset *fv_dataset_split_tail(fv_dataset *d, double frac)
{
    if (!d) {
        fv__fail(FV_ERR_INVALID, "fv_dataset_split_tail: no dataset");
        return NULL;
    }
    if (!(frac > 0 && frac < 1)) {
        fv__fail(FV_ERR_INVALID, "validation_split must be between 0 and 1 (exclusive), not %g",
                 frac);
        return NULL;
    }
    /* Keras: split_at = floor(n * (1 - validation_split)); the tail is the validation set. */
    int64_t split_at = (int64_t)floor((double)d->n * (1.0 - frac));
    if (split_at <= 0 || split_at >= d->n) {
        fv__fail(FV_ERR_INVALID,
                 "the data holds %lld samples, too few to split with validation_split=%g into a "
                 "training and a validation set",
                 (long long)d->n, frac);
        return NULL;
    }
    fv_dataset *tail = ds_slice(d, split_at, d->n - split_at);
    if (!tail) return NULL;
    d->n = split_at; /* the source keeps its buffers; only the count shrinks */
    for (int j = 0; j < d->nouts; j++)
        d->outs[j]->n = split_at;
    for (int j = 0; j < d->nins; j++)
        d->ins[j]->n = split_at;
    return tail;
}

fv_dataset *fv__dataset_slice(const fv_dataset *d, int64_t first, int64_t count)
{
    FV_ASSERT(d && first >= 0 && count >= 0 && first + count <= d->n);
    fv_dataset *s = ds_slice(d, first, count);
    if (!s) fv__fail(FV_ERR_NOMEM, "out of memory copying %lld samples", (long long)count);
    return s;
}

fv_dataset *fv_dataset_head(const fv_dataset *d, int64_t n)
{
    if (!d || n < 1) {
        fv__fail(FV_ERR_INVALID, "fv_dataset_head: need a dataset and n >= 1 (got %lld)",
                 (long long)n);
        return NULL;
    }
    return ds_slice(d, 0, n < d->n ? n : d->n);
}

/* ---- access -------------------------------------------------------------------------------- */

int64_t fv_dataset_count(const fv_dataset *d)
{
    return d ? d->n : 0;
}

int fv_dataset_shape(const fv_dataset *d, int64_t dims[4])
{
    if (!d) return 0;
    for (int i = 0; i < 4; i++)
        dims[i] = i < d->shape.rank ? d->shape.d[i] : 0;
    return d->shape.rank;
}

int64_t fv_dataset_classes(const fv_dataset *d)
{
    return d && d->labels ? d->classes : 0;
}

const char *fv_dataset_class_name(const fv_dataset *d, int64_t i)
{
    return d && d->class_names && i >= 0 && i < d->nclass_names ? d->class_names[i] : NULL;
}

const char *fv_dataset_file(const fv_dataset *d, int64_t i)
{
    return d && d->files && i >= 0 && i < d->n ? d->files[i] : NULL;
}

const int32_t *fv_dataset_labels(const fv_dataset *d)
{
    return d ? d->labels : NULL;
}

fv_status fv_dataset_get(const fv_dataset *d, int64_t i, float *out)
{
    if (!d || !out) return fv__fail(FV_ERR_INVALID, "fv_dataset_get: no dataset or output");
    if (i < 0 || i >= d->n)
        return fv__fail(FV_ERR_INVALID, "fv_dataset_get: sample %lld is outside 0..%lld",
                        (long long)i, (long long)d->n - 1);
    fv__dataset_gather(d, NULL, i, 1, out, NULL, NULL);
    return FV_OK;
}

void fv__dataset_gather(const fv_dataset *d, const int64_t *idx, int64_t first, int64_t count,
                        float *x, int32_t *labels, float *targets)
{
    const int64_t S = d->sample, T = d->tdim;
    const uint8_t *u8 = d->u8;
    const float *f32 = d->f32;
    const float scale = 1.0f / 255.0f;
    /* The copy is memory-bound: threads pay off only for batches of more than about a megabyte
     * of floats. The order of work does not change any result. */
    int threads = count * S >= (1 << 18) ? fv__threads() : 1;
    (void)threads; /* unused when built without OpenMP */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t j = 0; j < count; j++) {
        int64_t i = idx ? idx[j] : first + j;
        FV_ASSERT(i >= 0 && i < d->n);
        if (x) {
            float *dst = x + j * S;
            if (u8) {
                const uint8_t *src = u8 + i * S;
                for (int64_t k = 0; k < S; k++)
                    dst[k] = (float)src[k] * scale;
            } else {
                memcpy(dst, f32 + i * S, (size_t)S * sizeof(float));
            }
        }
        if (labels && d->labels) labels[j] = d->labels[i];
        if (targets && d->targets)
            memcpy(targets + j * T, d->targets + i * T, (size_t)T * sizeof(float));
    }
}

/* ---- checks against a model ---------------------------------------------------------------- */

/* "(2, 3, 4, 4)": the samples' shape, samples first, as the file holds them (or as given). */
static void format_data_shape(const fv_dataset *d, char *buf, size_t size)
{
    int rank = d->frank ? d->frank : d->shape.rank + 1;
    size_t used = (size_t)snprintf(buf, size, "(%lld", (long long)d->n);
    for (int i = 1; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, ", %lld",
                                 (long long)(d->frank ? d->fdims[i] : d->shape.d[i - 1]));
    if (used < size) snprintf(buf + used, size - used, rank == 1 ? ",)" : ")");
}

fv_status fv__dataset_check_shape(const fv_dataset *d, const fv_shape *want, const char *what)
{
    const fv_shape *s = &d->shape;
    bool same = s->rank == want->rank;
    for (int i = 0; same && i < s->rank; i++)
        same = s->d[i] == want->d[i];
    /* (N, H, W) for a one-channel image input */
    if (!same && want->rank == 3 && want->d[2] == 1 && s->rank == 2)
        same = s->d[0] == want->d[0] && s->d[1] == want->d[1];
    if (same) return FV_OK;

    char have[160], model[96], hint[256] = "";
    format_data_shape(d, have, sizeof have);
    fv__shape_format(want, model, sizeof model);
    int64_t size = fv__shape_size(want);
    if (want->rank == 3) {
        int64_t H = want->d[0], W = want->d[1], C = want->d[2];
        int n = snprintf(hint, sizeof hint, "channels last (N, H, W, C)%s",
                         C == 1 ? ", or (N, H, W) for one channel" : "");
        if (s->rank == 3 && s->d[0] == C && s->d[1] == H && s->d[2] == W)
            snprintf(hint + n, sizeof hint - (size_t)n,
                     "; this array looks channels first (N, C, H, W): "
                     "numpy.transpose(x, (0, 2, 3, 1)) makes it channels last");
        else if (s->rank == 1 && s->d[0] == size)
            snprintf(hint + n, sizeof hint - (size_t)n,
                     "; rows of %lld values are not reshaped into images: reshape the array to "
                     "(N, %lld, %lld, %lld)",
                     (long long)size, (long long)H, (long long)W, (long long)C);
    } else if (want->rank == 1) {
        int n = snprintf(hint, sizeof hint, "one row of %lld features per sample",
                         (long long)want->d[0]);
        if (d->sample == want->d[0])
            snprintf(hint + n, sizeof hint - (size_t)n,
                     "; images are not flattened: reshape the array to (N, %lld), or give the "
                     "model an image input and a flatten layer",
                     (long long)want->d[0]);
    }
    return fv__fail(FV_ERR_SHAPE, "%s has shape %s; the model's input is %s%s%s",
                    d->origin ? d->origin : what, have, model, hint[0] ? ": " : "", hint);
}

/* Names the place of sample i: "data.csv:4: column 'label'", "labels.idx: sample 5". */
static void label_place(const fv_dataset *d, int64_t i, const char *what, char *buf, size_t size)
{
    if (d->lines && d->origin)
        snprintf(buf, size, "%s:%lld: column '%s'", d->origin, (long long)d->lines[i],
                 d->label_column ? d->label_column : "?");
    else
        snprintf(buf, size, "%s: sample %lld (counting from 0)",
                 d->labels_origin ? d->labels_origin
                 : d->origin      ? d->origin
                                  : what,
                 (long long)i);
}

/* The file the labels came from, for messages. */
static const char *labels_file(const fv_dataset *d, const char *what)
{
    return d->labels_origin ? d->labels_origin : d->origin ? d->origin : what;
}

fv_status fv__dataset_check_targets(const fv_dataset *d, int64_t k, const char *what)
{
    if (d->tdim == k) return FV_OK;
    return fv__fail(FV_ERR_SHAPE,
                    "%s has shape (%lld, %lld) of targets; the model's output is (None, %lld)",
                    labels_file(d, what), (long long)d->n, (long long)d->tdim, (long long)k);
}

fv_status fv__dataset_check_labels(const fv_dataset *d, int64_t limit, int64_t k, const char *what)
{
    char place[1200], range[160];
    snprintf(range, sizeof range, "[0, %lld)", (long long)limit);
    if (d->targets && d->tdim > 1) {
        /* rows of a labels array: one-hot rows as wide as the output, which name a class each */
        if (d->tdim != k)
            return fv__fail(FV_ERR_SHAPE,
                            "%s has shape (%lld, %lld); the model's output is (None, %lld): one "
                            "class index per sample, (N,) or (N, 1), or one-hot rows of %lld",
                            labels_file(d, what), (long long)d->n, (long long)d->tdim, (long long)k,
                            (long long)k);
        if (!d->labels) {
            int64_t i = 0;
            for (; i < d->n; i++) {
                const float *row = d->targets + i * d->tdim;
                int64_t ones = 0;
                bool bits = true;
                for (int64_t j = 0; j < d->tdim; j++) {
                    bits = bits && (row[j] == 0 || row[j] == 1);
                    ones += row[j] == 1;
                }
                if (!bits || ones != 1) break;
            }
            return fv__fail(FV_ERR_INVALID,
                            "%s: sample %lld (counting from 0): the row is not one-hot (one 1, "
                            "zeros elsewhere); a classifier's labels are class indices",
                            labels_file(d, what), (long long)(i < d->n ? i : 0));
        }
    }

    if (d->labels) {
        for (int64_t i = 0; i < d->n; i++) {
            int32_t y = d->labels[i];
            if (y >= 0 && y < limit) continue;
            label_place(d, i, what, place, sizeof place);
            if (d->class_names && y >= 0 && y < d->nclass_names)
                return fv__fail(FV_ERR_SHAPE,
                                "%s: '%s' is class %d of %lld, not a class index in %s: the "
                                "model has room for %lld classes",
                                place, d->class_names[y], y, (long long)d->nclass_names, range,
                                (long long)limit);
            /* too large for the model's output units: a mismatch of shapes, as before */
            return fv__fail(y >= limit ? FV_ERR_SHAPE : FV_ERR_INVALID,
                            "%s: %d is not a class index in %s", place, y, range);
        }
        return FV_OK;
    }
    if (d->targets && d->tdim == 1) {
        for (int64_t i = 0; i < d->n; i++) {
            float v = d->targets[i];
            if (v >= 0 && v < (float)limit && v == floorf(v)) continue;
            label_place(d, i, what, place, sizeof place);
            return fv__fail(FV_ERR_INVALID, "%s: %g is not a class index in %s", place, (double)v,
                            range);
        }
    }
    return fv__fail(FV_ERR_INVALID, "%s: the data has no labels", labels_file(d, what));
}

/* Stores n rows of k target values read from `origin` (copied): the float targets, and the
 * labels too when every row is a class index (k == 1, a whole number from 0) or a one-hot row. */
static fv_status set_label_rows(fv_dataset *d, const float *values, int64_t k, const char *origin)
{
    fv_status st = FV_OK;
    float *t = malloc((size_t)(d->n * k) * sizeof *t + 1);
    int32_t *y = malloc((size_t)d->n * sizeof *y + 1);
    char *org = fv__strdup(origin);
    if (!t || !y || !org) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld labels", origin, (long long)d->n);
        goto done;
    }
    for (int64_t i = 0; i < d->n * k; i++) {
        t[i] = values[i];
        if (!isfinite(t[i])) {
            st = fv__fail(FV_ERR_NUMERIC, "%s: sample %lld (counting from 0): %g is not finite",
                          origin, (long long)(i / k), (double)t[i]);
            goto done;
        }
    }
    /* Class ids: whole numbers from 0 in one column, or one-hot rows. */
    bool classes = true;
    for (int64_t i = 0; i < d->n && classes; i++) {
        const float *row = t + i * k;
        if (k == 1) {
            classes = row[0] >= 0 && row[0] <= FV_MAX_CSV_CLASS && row[0] == floorf(row[0]);
            y[i] = classes ? (int32_t)row[0] : 0;
            continue;
        }
        int64_t ones = 0, at = 0;
        for (int64_t j = 0; j < k; j++) {
            classes = classes && (row[j] == 0 || row[j] == 1);
            if (row[j] == 1) ones++, at = j;
        }
        classes = classes && ones == 1;
        y[i] = (int32_t)at;
    }
    d->targets = t;
    d->tdim = k;
    d->labels_origin = org;
    t = NULL;
    org = NULL;
    if (classes) {
        d->labels = y;
        y = NULL;
        d->classes = k > 1 ? k : count_classes(d->labels, d->n, origin);
    }
done:
    free(t);
    free(y);
    free(org);
    return st;
}

fv_status fv_dataset_load_labels_npy(fv_dataset *d, const char *path)
{
    if (!d || !path) return fv__fail(FV_ERR_INVALID, "fv_dataset_load_labels_npy: NULL argument");
    if (d->labels || d->targets)
        return fv__fail(FV_ERR_INVALID, "%s: the data has labels already (from %s)", path,
                        labels_file(d, "its file"));
    fv_npy a = {0};
    fv_status st = fv__npy_read(path, &a);
    if (st != FV_OK) return st;
    char shape[160];
    size_t o = (size_t)snprintf(shape, sizeof shape, "(");
    for (int i = 0; i < a.rank && o < sizeof shape; i++)
        o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%lld", i ? ", " : "",
                              (long long)a.dims[i]);
    if (o < sizeof shape) snprintf(shape + o, sizeof shape - o, a.rank == 1 ? ",)" : ")");
    int64_t k = a.rank == 2 ? a.dims[1] : 1;
    float *t = NULL;
    if (a.rank < 1 || a.rank > 2 || k < 1) {
        st = fv__fail(FV_ERR_SHAPE,
                      "%s has shape %s; labels are (N,) or (N, 1) class indices or targets, or "
                      "(N, K) rows",
                      path, shape);
        goto done;
    }
    if (a.dims[0] != d->n) {
        st = fv__fail(FV_ERR_SHAPE, "%s has shape %s: %lld labels for %lld samples (%s)", path,
                      shape, (long long)a.dims[0], (long long)d->n,
                      d->origin ? d->origin : "the data");
        goto done;
    }
    t = malloc((size_t)a.count * sizeof *t + 1);
    if (!t) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld labels", path, (long long)d->n);
        goto done;
    }
    for (int64_t i = 0; i < a.count; i++)
        t[i] = a.is_u8 ? (float)((const uint8_t *)a.data)[i] : ((const float *)a.data)[i];
    st = set_label_rows(d, t, k, path);
done:
    free(t);
    fv__npy_free(&a);
    return st;
}

const fv_dataset *fv__dataset_output(const fv_dataset *d, const char *name)
{
    for (int j = 0; d && j < d->nouts; j++)
        if (strcmp(d->out_names[j], name) == 0) return d->outs[j];
    return NULL;
}

const fv_dataset *fv__dataset_input(const fv_dataset *d, const char *name)
{
    for (int j = 0; d && j < d->nins; j++)
        if (strcmp(d->in_names[j], name) == 0) return d->ins[j];
    return NULL;
}

/* Attaches x (its samples must number d's) as the array of input `name`; takes x. */
static fv_status attach_input(fv_dataset *d, const char *name, fv_dataset *x)
{
    fv_status s = FV_OK;
    char *copy = NULL;
    if (!name || !name[0])
        s = fv__fail(FV_ERR_INVALID, "fv_dataset_add_input: no input name");
    else if (fv__dataset_input(d, name))
        s = fv__fail(FV_ERR_INVALID, "the data has an array for input '%s' already", name);
    else if (d->nins == FV__DATASET_MAX_OUTPUTS)
        s = fv__fail(FV_ERR_INVALID, "the data has arrays for %d inputs, the most it holds",
                     FV__DATASET_MAX_OUTPUTS);
    else if (x->n != d->n)
        s = fv__fail(FV_ERR_SHAPE, "%s: %lld samples for input '%s', but the data has %lld",
                     x->origin ? x->origin : "the array", (long long)x->n, name, (long long)d->n);
    else if (!(copy = fv__strdup(name)))
        s = fv__fail(FV_ERR_NOMEM, "out of memory adding input '%s'", name);
    if (s != FV_OK) {
        fv_dataset_free(x);
        return s;
    }
    d->in_names[d->nins] = copy;
    d->ins[d->nins++] = x;
    return FV_OK;
}

fv_status fv_dataset_add_input(fv_dataset *d, const char *input, int rank, const int64_t *dims,
                               const float *x)
{
    if (!d || !x) return fv__fail(FV_ERR_INVALID, "fv_dataset_add_input: NULL argument");
    fv_dataset *a = fv_dataset_from_f32(d->n, rank, dims, x, NULL);
    return a ? attach_input(d, input, a) : FV_ERR_NOMEM;
}

fv_status fv_dataset_add_input_npy(fv_dataset *d, const char *input, const char *path)
{
    if (!d || !path) return fv__fail(FV_ERR_INVALID, "fv_dataset_add_input_npy: NULL argument");
    fv_dataset *a = fv_dataset_load_npy(path);
    return a ? attach_input(d, input, a) : FV_ERR_FORMAT;
}

/* A new target-only dataset of d's count, to be filled by the labels loaders. */
static fv_status add_output(fv_dataset *d, const char *output, fv_dataset **o)
{
    if (!d || !output || !output[0])
        return fv__fail(FV_ERR_INVALID, "fv_dataset_add_output: need a dataset and an output name");
    if (fv__dataset_output(d, output))
        return fv__fail(FV_ERR_INVALID, "the data has targets for output '%s' already", output);
    if (d->nouts == FV__DATASET_MAX_OUTPUTS)
        return fv__fail(FV_ERR_INVALID, "the data has targets for %d outputs, the most it holds",
                        FV__DATASET_MAX_OUTPUTS);
    *o = ds_new();
    char *name = fv__strdup(output);
    if (!*o || !name) {
        fv_dataset_free(*o);
        free(name);
        return fv__fail(FV_ERR_NOMEM, "out of memory adding the targets of output '%s'", output);
    }
    (*o)->n = d->n;
    d->out_names[d->nouts] = name;
    d->outs[d->nouts++] = *o;
    return FV_OK;
}

/* Undoes add_output after its loader failed. */
static void drop_output(fv_dataset *d)
{
    d->nouts--;
    free(d->out_names[d->nouts]);
    fv_dataset_free(d->outs[d->nouts]);
}

fv_status fv_dataset_add_output_npy(fv_dataset *d, const char *output, const char *path)
{
    fv_dataset *o;
    fv_status s = add_output(d, output, &o);
    if (s == FV_OK && (s = fv_dataset_load_labels_npy(o, path)) != FV_OK) drop_output(d);
    return s;
}

fv_status fv_dataset_add_output(fv_dataset *d, const char *output, int64_t k, const float *values)
{
    if (!values || k < 1)
        return fv__fail(FV_ERR_INVALID, "fv_dataset_add_output: need values and k >= 1");
    fv_dataset *o;
    fv_status s = add_output(d, output, &o);
    if (s != FV_OK) return s;
    char path[160];
    snprintf(path, sizeof path, "targets of output '%s'", output);
    s = set_label_rows(o, values, k, path);
    if (s != FV_OK) drop_output(d);
    return s;
}

fv_status fv_dataset_check_shape(const fv_dataset *d, int rank, const int64_t *dims)
{
    if (!d || !dims || rank < 1 || rank > 4)
        return fv__fail(FV_ERR_INVALID, "fv_dataset_check_shape: need a dataset and rank 1 to 4");
    fv_shape want = {.rank = rank};
    for (int i = 0; i < rank; i++)
        want.d[i] = dims[i];
    return fv__dataset_check_shape(d, &want, "the data");
}

/* ---- labels: column and class names --------------------------------------------------------- */

const char *fv_dataset_label_column(const fv_dataset *d)
{
    return d ? d->label_column : NULL;
}

const char *const *fv_dataset_class_names(const fv_dataset *d, int64_t *n)
{
    if (n) *n = d && d->class_names ? d->nclass_names : 0;
    return d && d->class_names ? (const char *const *)d->class_names : NULL;
}

fv_status fv_dataset_use_class_names(fv_dataset *d, const char *const *names, int64_t n)
{
    if (!d || (n > 0 && !names) || n < 0 || n > INT32_MAX)
        return fv__fail(FV_ERR_INVALID, "fv_dataset_use_class_names: bad arguments");
    for (int64_t j = 0; j < n; j++)
        if (!names[j]) return fv__fail(FV_ERR_INVALID, "fv_dataset_use_class_names: NULL name");
    if (!d->class_names) return FV_OK; /* numeric labels are class indices already */
    if (n == 0)
        return fv__fail(FV_ERR_INVALID,
                        "%s: column '%s' holds class names (such as '%s'), but the model was "
                        "trained on class indices 0, 1, ...",
                        d->origin ? d->origin : "the data", d->label_column ? d->label_column : "?",
                        d->class_names[0]);
    int32_t *map = malloc((size_t)d->nclass_names * sizeof *map);
    char **copy = copy_names(names, n);
    if (!map || !copy) {
        free(map);
        free_names(copy, n);
        return fv__fail(FV_ERR_NOMEM, "out of memory for class names");
    }
    for (int64_t c = 0; c < d->nclass_names; c++) {
        map[c] = -1;
        for (int64_t j = 0; j < n && map[c] < 0; j++)
            if (strcmp(d->class_names[c], names[j]) == 0) map[c] = (int32_t)j;
    }
    for (int64_t i = 0; i < d->n; i++) {
        if (map[d->labels[i]] >= 0) continue;
        char place[1200], list[256];
        size_t o = 0;
        list[0] = '\0';
        for (int64_t j = 0; j < n && o < sizeof list; j++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", j ? ", " : "", names[j]);
        label_place(d, i, "the data", place, sizeof place);
        fv_status st = fv__fail(FV_ERR_INVALID, "%s: '%s' is not one of the model's classes (%s)",
                                place, d->class_names[d->labels[i]], list);
        free(map);
        free_names(copy, n);
        return st;
    }
    for (int64_t i = 0; i < d->n; i++)
        d->labels[i] = map[d->labels[i]];
    free(map);
    free_names(d->class_names, d->nclass_names);
    d->class_names = copy;
    d->nclass_names = n;
    d->classes = n;
    return FV_OK;
}
