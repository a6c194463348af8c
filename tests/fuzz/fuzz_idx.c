/* fuzz_idx.c — libFuzzer target for the IDX reader (MNIST's format), plain and gzipped: a gzip
 * stream goes through the file reader (fv__idx_read inflates it), anything else through the
 * in-memory parser; a parsed file is then loaded as a dataset of images, or of labels beside
 * images made to match, as `fovea train --data` does.
 */
#include "fuzz_common.h"
#include "io/io.h"

static const char ORIGIN[] = "fuzz.idx";

/* What a successful parse promises: rank 1..4, dims multiplying to count, every byte readable. */
static void check_idx(const fv_idx *x)
{
    FUZZ_CHECK(x->rank >= 1 && x->rank <= 4);
    int64_t count = 1;
    bool zero = false, overflow = false;
    for (int i = 0; i < 4; i++) {
        FUZZ_CHECK(x->dims[i] >= 0 && x->dims[i] <= UINT32_MAX);
        if (i >= x->rank) FUZZ_CHECK(x->dims[i] == 1);
        zero |= x->dims[i] == 0;
        overflow |= __builtin_mul_overflow(count, x->dims[i], &count);
    }
    FUZZ_CHECK(zero ? x->count == 0 : !overflow && count == x->count);
    FUZZ_CHECK(x->data != NULL);
    fuzz_use(fuzz_touch(x->data, (size_t)x->count));
}

/* Loads the images file at path as a dataset (labels_path may be NULL) and reads a sample. */
static void load_dataset(const char *path, const char *labels_path)
{
    fv_dataset *d = fv_dataset_load_idx(path, labels_path);
    if (!d) return;
    int64_t dims[4];
    int rank = fv_dataset_shape(d, dims);
    FUZZ_CHECK(rank == 3 && fv_dataset_count(d) >= 1);
    int64_t sample = dims[0] * dims[1] * dims[2];
    float *x = malloc((size_t)sample * sizeof *x);
    FUZZ_CHECK(x);
    FUZZ_CHECK(fv_dataset_get(d, fv_dataset_count(d) - 1, x) == FV_OK);
    for (int64_t i = 0; i < sample; i++)
        FUZZ_CHECK(x[i] >= 0.0f && x[i] <= 1.0f);
    free(x);
    if (labels_path) {
        const int32_t *l = fv_dataset_labels(d);
        FUZZ_CHECK(l && fv_dataset_classes(d) >= 1 && fv_dataset_classes(d) <= 256);
    }
    fv_dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fv_idx idx;
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        const char *path = fuzz_file(data, size);
        if (fv__idx_read(path, &idx) != FV_OK) {
            FUZZ_CHECK(idx.data == NULL);
            FUZZ_CHECK_ERROR(path);
            return 0;
        }
        check_idx(&idx);
        if (idx.rank >= 3) load_dataset(path, NULL);
        fv__idx_free(&idx);
        return 0;
    }

    if (fv__idx_parse(data, size, ORIGIN, &idx) != FV_OK) {
        FUZZ_CHECK(idx.data == NULL);
        FUZZ_CHECK_ERROR(ORIGIN);
        return 0;
    }
    check_idx(&idx);
    FUZZ_CHECK((size_t)idx.count == size - 4 - 4 * (size_t)idx.rank);
    FUZZ_CHECK(memcmp(idx.data, data + 4 + 4 * idx.rank, (size_t)idx.count) == 0);
    if (idx.rank >= 3) {
        load_dataset(fuzz_file(data, size), NULL);
    } else if (idx.rank == 1 && idx.count >= 1 && idx.count <= 4096) {
        /* A labels file: pair it with N images of 1×1 pixel. */
        uint8_t im[16 + 4096] = {0, 0, 0x08, 3};
        uint32_t n = (uint32_t)idx.count;
        im[4] = (uint8_t)(n >> 24), im[5] = (uint8_t)(n >> 16), im[6] = (uint8_t)(n >> 8);
        im[7] = (uint8_t)n;
        im[11] = 1, im[15] = 1;
        const char *images = fuzz_file_slot(1, im, 16 + (size_t)n);
        load_dataset(images, fuzz_file(data, size));
    }
    fv__idx_free(&idx);
    return 0;
}
