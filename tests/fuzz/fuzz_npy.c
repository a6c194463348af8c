/* fuzz_npy.c — libFuzzer target for the .npy reader (versions 1.0, 2.0 and 3.0; '<f4' and '|u1'):
 * a gzip stream goes through the file reader (fv__npy_read inflates it), anything else through
 * the in-memory parser; a parsed array is then loaded as a dataset, as `fovea predict --input`
 * does, and a float32 one written back and read again.
 */
#include "fuzz_common.h"
#include "io/io.h"

#include <math.h>

static const char ORIGIN[] = "fuzz.npy";

/* What a successful parse promises: rank 0..8, dims multiplying to count, every byte readable. */
static void check_npy(const fv_npy *a)
{
    FUZZ_CHECK(a->rank >= 0 && a->rank <= 8);
    int64_t count = 1;
    bool zero = false, overflow = false;
    for (int i = 0; i < a->rank; i++) {
        FUZZ_CHECK(a->dims[i] >= 0);
        zero |= a->dims[i] == 0;
        overflow |= __builtin_mul_overflow(count, a->dims[i], &count);
    }
    FUZZ_CHECK(zero ? a->count == 0 : !overflow && count == a->count);
    FUZZ_CHECK(a->data != NULL);
    fuzz_use(fuzz_touch(a->data, (size_t)a->count * (a->is_u8 ? 1 : 4)));
}

static void load_dataset(const char *path)
{
    fv_dataset *d = fv_dataset_load_npy(path);
    if (!d) return;
    int64_t dims[4];
    int rank = fv_dataset_shape(d, dims);
    FUZZ_CHECK((rank == 1 || rank == 3) && fv_dataset_count(d) >= 1);
    int64_t sample = 1;
    for (int i = 0; i < rank; i++)
        sample *= dims[i];
    float *x = malloc((size_t)sample * sizeof *x);
    FUZZ_CHECK(x);
    FUZZ_CHECK(fv_dataset_get(d, fv_dataset_count(d) - 1, x) == FV_OK);
    for (int64_t i = 0; i < sample; i++)
        FUZZ_CHECK(isfinite(x[i]));
    free(x);
    fv_dataset_free(d);
}

/* A float32 array written by fovea reads back with the same shape and bits. */
static void round_trip(const fv_npy *a)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/dev/shm/fovea-fuzz-%ld.npy", (long)getpid());
    if (a->is_u8) return;
    if (fv__npy_write_f32(path, a->rank, a->dims, a->data) != FV_OK) return; /* no /dev/shm */
    fv_npy b;
    FUZZ_CHECK(fv__npy_read(path, &b) == FV_OK);
    FUZZ_CHECK(!b.is_u8 && b.rank == a->rank && b.count == a->count);
    FUZZ_CHECK(memcmp(a->dims, b.dims, sizeof a->dims[0] * (size_t)a->rank) == 0);
    FUZZ_CHECK(memcmp(a->data, b.data, (size_t)a->count * 4) == 0);
    fv__npy_free(&b);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fv_npy a;
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        const char *path = fuzz_file(data, size);
        if (fv__npy_read(path, &a) != FV_OK) {
            FUZZ_CHECK(a.data == NULL);
            FUZZ_CHECK_ERROR(path);
            return 0;
        }
        check_npy(&a);
        load_dataset(path);
        fv__npy_free(&a);
        return 0;
    }

    if (fv__npy_parse(data, size, ORIGIN, &a) != FV_OK) {
        FUZZ_CHECK(a.data == NULL);
        FUZZ_CHECK_ERROR(ORIGIN);
        return 0;
    }
    check_npy(&a);
    size_t bytes = (size_t)a.count * (a.is_u8 ? 1 : 4);
    FUZZ_CHECK(bytes <= size && memcmp(a.data, data + size - bytes, bytes) == 0);
    load_dataset(fuzz_file(data, size));
    round_trip(&a);
    fv__npy_free(&a);
    return 0;
}
