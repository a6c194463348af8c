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
    free_strings(d->class_names, d->nclass_names);
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

fv_dataset *fv_dataset_load_csv(const char *path, const char *label_column)
{
    if (!path) {
        fv__fail(FV_ERR_INVALID, "fv_dataset_load_csv: no file given");
        return NULL;
    }
    fv_csv c = {0};
    fv_dataset *d = NULL;
    if (fv__csv_read(path, &c) != FV_OK) return NULL;
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
    if (!(d = ds_new())) goto fail;
    d->n = c.nrows;
    int64_t nf = c.ncols - 1;
    if (fv__dataset_set_shape(d, 1, &nf, path) != FV_OK) goto fail;
    d->f32 = malloc((size_t)(d->n * nf) * sizeof(float));
    d->targets = malloc((size_t)d->n * sizeof(float));
    if (!d->f32 || !d->targets) {
        fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld rows", path, (long long)d->n);
        goto fail;
    }
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
    if (classes) {
        d->labels = malloc((size_t)d->n * sizeof(int32_t));
        if (!d->labels) {
            fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld labels", path, (long long)d->n);
            goto fail;
        }
        for (int64_t i = 0; i < d->n; i++)
            d->labels[i] = (int32_t)c.cells[i * c.ncols + lc];
        d->classes = count_classes(d->labels, d->n, path);
    }
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
    if ((d->u8 && !s->u8) || (d->f32 && !s->f32) || (d->labels && !s->labels) ||
        (d->targets && !s->targets) ||
        (d->class_names && fv__dataset_set_class_names(
                               s, d->nclass_names, (const char *const *)d->class_names) != FV_OK) ||
        (d->files && !(s->files = copy_strings((const char *const *)d->files + first, count)))) {
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
    return tail;
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
