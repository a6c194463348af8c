/* fuzz_csv.c — libFuzzer target for the dataset CSV reader: fv__csv_parse on the bytes (or, for
 * a gzip stream, fv__csv_read on them as a file), then the table loaded as a dataset with the
 * last column and with the first column as labels, as `fovea train --data t.csv
 * [--label-column NAME]` does.
 */
#include "fuzz_common.h"
#include "io/io.h"

#include <math.h>

static const char ORIGIN[] = "fuzz.csv";

static void check_table(const fv_csv *c)
{
    FUZZ_CHECK(c->ncols >= 1 && c->names && c->nrows >= 0);
    for (int k = 0; k < c->ncols; k++) {
        FUZZ_CHECK(c->names[k]);
        if (k >= 64) continue; /* fv__csv_column is linear in the columns */
        int found = fv__csv_column(c, c->names[k]);
        FUZZ_CHECK(found >= 0 && found <= k);
    }
    for (int64_t i = 0; i < c->nrows; i++) {
        FUZZ_CHECK(c->lines[i] >= 2 && (i == 0 || c->lines[i] > c->lines[i - 1]));
        for (int k = 0; k < c->ncols; k++)
            FUZZ_CHECK(isfinite(c->cells[i * c->ncols + k]));
    }
}

static void load_dataset(const char *path, const char *label_column)
{
    fv_dataset *d = fv_dataset_load_csv(path, label_column);
    if (!d) {
        FUZZ_CHECK_ERROR(path);
        return;
    }
    int64_t dims[4];
    FUZZ_CHECK(fv_dataset_shape(d, dims) == 1 && dims[0] >= 1 && fv_dataset_count(d) >= 1);
    float *x = malloc((size_t)dims[0] * sizeof *x);
    FUZZ_CHECK(x);
    FUZZ_CHECK(fv_dataset_get(d, fv_dataset_count(d) - 1, x) == FV_OK);
    for (int64_t i = 0; i < dims[0]; i++)
        FUZZ_CHECK(isfinite(x[i]));
    free(x);
    const int32_t *labels = fv_dataset_labels(d);
    if (labels)
        for (int64_t i = 0; i < fv_dataset_count(d); i++)
            FUZZ_CHECK(labels[i] >= 0 && labels[i] < fv_dataset_classes(d));
    fv_dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fv_csv c;
    const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    const char *path = gz ? fuzz_file(data, size) : NULL;
    fv_status st =
        gz ? fv__csv_read(path, &c) : fv__csv_parse((const char *)data, size, ORIGIN, &c);
    if (st != FV_OK) {
        FUZZ_CHECK(c.names == NULL && c.cells == NULL && c.lines == NULL);
        FUZZ_CHECK_ERROR(gz ? path : ORIGIN);
        return 0;
    }
    check_table(&c);
    if (!path) path = fuzz_file(data, size);
    load_dataset(path, NULL);
    if (c.ncols >= 2) load_dataset(path, c.names[0]);
    fv__csv_free(&c);
    return 0;
}
