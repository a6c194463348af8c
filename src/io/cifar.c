/* cifar.c — CIFAR-10 and CIFAR-100 in their binary format (the "binary version" of
 * https://www.cs.toronto.edu/~kriz/cifar.html): fixed-size records of label byte(s) then 3,072
 * pixel bytes, 1,024 per channel (R, G, B), each a 32 × 32 image row by row; class names from
 * the text files beside them. Records become 32 × 32 × 3 (HWC) uint8 samples.
 */
#include "io/dataset.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { CIFAR_SIDE = 32, CIFAR_PIXELS = 32 * 32 * 3, CIFAR10_BATCHES = 5 };

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return p;
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Appends the records of one file to d (label byte `which` of `nlabels` before the pixels). */
static fv_status read_records(fv_dataset *d, const char *path, int nlabels, int which,
                              int64_t classes)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    fv_status st = fv__read_file(path, FV__MAX_INPUT_BYTES, false, &buf, &len);
    if (st != FV_OK) return st;
    const size_t rec = (size_t)nlabels + CIFAR_PIXELS;
    if (len == 0 || len % rec != 0) {
        free(buf);
        return fv__fail(FV_ERR_FORMAT,
                        "%s: %zu bytes is not a whole number of %zu-byte CIFAR-%s records "
                        "(%d label byte%s + 3072 pixel bytes)",
                        path, len, rec, nlabels == 1 ? "10" : "100", nlabels,
                        nlabels == 1 ? "" : "s");
    }
    int64_t n = (int64_t)(len / rec), total = d->n + n;
    uint8_t *u8 = realloc(d->u8, (size_t)total * CIFAR_PIXELS);
    int32_t *labels = u8 ? realloc(d->labels, (size_t)total * sizeof *labels) : NULL;
    if (u8) d->u8 = u8;
    if (labels) d->labels = labels;
    if (!u8 || !labels) {
        free(buf);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld images", path, (long long)total);
    }
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *r = buf + (size_t)i * rec;
        if (r[which] >= classes) {
            st = fv__fail(FV_ERR_FORMAT,
                          "%s: record %lld (byte offset %zu) has label %d; CIFAR-%s %s labels are "
                          "0..%lld",
                          path, (long long)i, (size_t)i * rec + (size_t)which, r[which],
                          nlabels == 1 ? "10" : "100",
                          nlabels == 1 ? "its" : (which == 0 ? "coarse" : "fine"),
                          (long long)classes - 1);
            break;
        }
        d->labels[d->n + i] = r[which];
        const uint8_t *px = r + nlabels;
        uint8_t *dst = d->u8 + (size_t)(d->n + i) * CIFAR_PIXELS;
        for (int p = 0; p < CIFAR_SIDE * CIFAR_SIDE; p++)
            for (int c = 0; c < 3; c++)
                dst[p * 3 + c] = px[c * CIFAR_SIDE * CIFAR_SIDE + p];
    }
    free(buf);
    if (st == FV_OK) d->n = total;
    return st;
}

/* Class names, one per line (trailing spaces and blank lines at the end ignored); there must be
 * exactly `classes` of them. */
static fv_status read_names(fv_dataset *d, const char *path, int64_t classes)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    fv_status st = fv__read_file(path, (size_t)1 << 20, false, &buf, &len);
    if (st != FV_OK) return st;
    char **names = calloc((size_t)classes, sizeof *names);
    int64_t n = 0;
    if (!names) {
        free(buf);
        return fv__fail(FV_ERR_NOMEM, "out of memory");
    }
    size_t i = 0;
    int64_t line = 0;
    while (i < len && st == FV_OK) {
        size_t e = i;
        while (e < len && buf[e] != '\n')
            e++;
        line++;
        size_t k = e;
        while (k > i && (buf[k - 1] == ' ' || buf[k - 1] == '\r' || buf[k - 1] == '\t'))
            k--;
        if (k > i) {
            if (n >= classes)
                st = fv__fail(FV_ERR_FORMAT, "%s: line %lld: more than %lld class names", path,
                              (long long)line, (long long)classes);
            else if (memchr(buf + i, 0, k - i))
                st = fv__fail(FV_ERR_FORMAT, "%s: line %lld: a zero byte in a class name", path,
                              (long long)line);
            else if (!(names[n] = strndup((const char *)buf + i, k - i)))
                st = fv__fail(FV_ERR_NOMEM, "out of memory");
            else
                n++;
        } else if (n < classes) {
            bool rest_blank = true;
            for (size_t j = e; j < len; j++)
                rest_blank = rest_blank && (buf[j] == '\n' || buf[j] == '\r' || buf[j] == ' ');
            if (!rest_blank)
                st = fv__fail(FV_ERR_FORMAT, "%s: line %lld: an empty class name", path,
                              (long long)line);
        }
        i = e + 1;
    }
    if (st == FV_OK && n != classes)
        st = fv__fail(FV_ERR_FORMAT, "%s: %lld class names; the data has %lld classes", path,
                      (long long)n, (long long)classes);
    if (st == FV_OK) st = fv__dataset_set_class_names(d, n, (const char *const *)names);
    for (int64_t k = 0; k < n; k++)
        free(names[k]);
    free(names);
    free(buf);
    return st;
}

/* One dataset from the listed files (those absent skipped when optional). */
static fv_status load_set(const char *dir, const char *const *files, int nfiles, int nlabels,
                          int which, int64_t classes, const char *names_file, fv_dataset **out)
{
    *out = NULL;
    fv_dataset *d = fv__dataset_new();
    if (!d) return FV_ERR_NOMEM;
    fv_status st = FV_OK;
    for (int i = 0; i < nfiles && st == FV_OK; i++) {
        char *p = path_in(dir, files[i]);
        if (!p)
            st = fv__fail(FV_ERR_NOMEM, "out of memory");
        else if (is_file(p))
            st = read_records(d, p, nlabels, which, classes);
        free(p);
    }
    if (st == FV_OK && d->n == 0) st = fv__fail(FV_ERR_IO, "%s: no %s", dir, files[0]);
    int64_t dims[3] = {CIFAR_SIDE, CIFAR_SIDE, 3};
    if (st == FV_OK) st = fv__dataset_set_shape(d, 3, dims, dir);
    if (st == FV_OK) d->classes = classes;
    char *np = st == FV_OK ? path_in(dir, names_file) : NULL;
    if (np && is_file(np)) st = read_names(d, np, classes);
    free(np);
    if (st != FV_OK) {
        fv_dataset_free(d);
        return st;
    }
    *out = d;
    return FV_OK;
}

fv_status fv_dataset_load_cifar(const char *dir, const char *label_mode, fv_dataset **train,
                                fv_dataset **test)
{
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (!dir || (!train && !test))
        return fv__fail(FV_ERR_INVALID, "fv_dataset_load_cifar: no folder or nothing asked for");
    bool coarse = false;
    if (label_mode && strcmp(label_mode, "coarse") == 0)
        coarse = true;
    else if (label_mode && strcmp(label_mode, "fine") != 0)
        return fv__fail(FV_ERR_INVALID, "label_mode must be fine or coarse, not '%s'", label_mode);
    char *p10 = path_in(dir, "test_batch.bin"), *p10b = path_in(dir, "data_batch_1.bin");
    char *p100 = path_in(dir, "train.bin"), *p100t = path_in(dir, "test.bin");
    if (!p10 || !p10b || !p100 || !p100t) {
        free(p10), free(p10b), free(p100), free(p100t);
        return fv__fail(FV_ERR_NOMEM, "out of memory");
    }
    bool c10 = is_file(p10) || is_file(p10b), c100 = is_file(p100) || is_file(p100t);
    bool has_test = is_file(c10 ? p10 : p100t);
    free(p10), free(p10b), free(p100), free(p100t);
    if (!c10 && !c100)
        return fv__fail(FV_ERR_IO,
                        "%s: neither CIFAR-10 (data_batch_1.bin ... test_batch.bin) nor CIFAR-100 "
                        "(train.bin, test.bin) binary files",
                        dir);
    if (c10 && label_mode)
        return fv__fail(FV_ERR_INVALID, "%s: label_mode applies to CIFAR-100; this is CIFAR-10",
                        dir);
    static const char *const batches[CIFAR10_BATCHES] = {"data_batch_1.bin", "data_batch_2.bin",
                                                         "data_batch_3.bin", "data_batch_4.bin",
                                                         "data_batch_5.bin"};
    static const char *const test10[] = {"test_batch.bin"}, *const train100[] = {"train.bin"},
                             *const test100[] = {"test.bin"};
    int nlabels = c10 ? 1 : 2, which = c10 ? 0 : (coarse ? 0 : 1);
    int64_t classes = c10 ? 10 : (coarse ? 20 : 100);
    const char *names =
        c10 ? "batches.meta.txt" : (coarse ? "coarse_label_names.txt" : "fine_label_names.txt");
    fv_dataset *tr = NULL, *te = NULL;
    fv_status st = FV_OK;
    if (train)
        st = load_set(dir, c10 ? batches : train100, c10 ? CIFAR10_BATCHES : 1, nlabels, which,
                      classes, names, &tr);
    if (st == FV_OK && test && has_test)
        st = load_set(dir, c10 ? test10 : test100, 1, nlabels, which, classes, names, &te);
    if (st != FV_OK) {
        fv_dataset_free(tr);
        return st;
    }
    if (train) *train = tr;
    if (test) *test = te;
    return FV_OK;
}
