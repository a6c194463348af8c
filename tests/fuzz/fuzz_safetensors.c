/* fuzz_safetensors.c — libFuzzer target for the safetensors reader (fv__st_parse): any bytes are
 * either refused with a message naming the file, or give tensors whose offsets tile the data
 * section exactly, with unique names, known dtypes and sizes that match their shapes. Files of
 * F32 tensors are then written back by fovea's writer and must read back the same.
 */
#include "fuzz_common.h"
#include "io/io.h"

static const char ORIGIN[] = "fuzz.safetensors";

__extension__ typedef unsigned __int128 u128;

static int dtype_bits(const char *d)
{
    static const struct {
        const char *name;
        int bits;
    } known[] = {{"BOOL", 8},    {"U8", 8},   {"I8", 8},      {"F8_E5M2", 8}, {"F8_E4M3", 8},
                 {"F8_E8M0", 8}, {"F4", 4},   {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"I16", 16},
                 {"U16", 16},    {"F16", 16}, {"BF16", 16},   {"I32", 32},    {"U32", 32},
                 {"F32", 32},    {"F64", 64}, {"I64", 64},    {"U64", 64},    {"C64", 64}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, d) == 0) return known[i].bits;
    return -1;
}

static void check_tensor(const fv_st_file *f, const fv_st_tensor *t, size_t data_len)
{
    FUZZ_CHECK(t->name && strcmp(t->name, "__metadata__") != 0);
    FUZZ_CHECK(fv__st_find(f, t->name) == t); /* names are unique */
    FUZZ_CHECK(t->begin <= t->end && t->end <= data_len);
    FUZZ_CHECK(t->rank >= 0 && t->rank <= 8);
    int bits = dtype_bits(t->dtype);
    FUZZ_CHECK(bits > 0);
    /* Dimensions are at most 2^53 (exact in JSON's doubles): saturating at 2^70 cannot wrap. */
    u128 count = 1;
    for (int i = 0; i < t->rank; i++) {
        FUZZ_CHECK(t->dims[i] >= 0 && t->dims[i] <= ((int64_t)1 << 53));
        count *= (u128)t->dims[i];
        if (count > ((u128)1 << 70)) count = (u128)1 << 70;
    }
    FUZZ_CHECK(count * (unsigned)bits == (u128)(t->end - t->begin) * 8);
    fuzz_use(fuzz_touch(f->buf + f->data_off + t->begin, t->end - t->begin));
    if (strcmp(t->dtype, "F32") == 0) {
        size_t n = (t->end - t->begin) / 4;
        float *x = malloc(n ? n * sizeof *x : 1);
        FUZZ_CHECK(x);
        fv__st_copy_f32(f, t, x);
        FUZZ_CHECK(memcmp(x, f->buf + f->data_off + t->begin, n * 4) == 0);
        free(x);
    }
}

/* Writes the F32 tensors of rank <= 4 and the metadata with fovea's writer; reads them back. */
static void round_trip(const fv_st_file *f)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/dev/shm/fovea-fuzz-%ld.safetensors", (long)getpid());
    int n = 0;
    fv_st_out *out = calloc((size_t)f->ntensors + 1, sizeof *out);
    float **bufs = calloc((size_t)f->ntensors + 1, sizeof *bufs);
    FUZZ_CHECK(out && bufs);
    for (int i = 0; i < f->ntensors; i++) {
        const fv_st_tensor *t = &f->tensors[i];
        if (strcmp(t->dtype, "F32") != 0 || t->rank > 4) continue;
        size_t bytes = t->end - t->begin;
        bufs[n] = malloc(bytes ? bytes : 1);
        FUZZ_CHECK(bufs[n]);
        fv__st_copy_f32(f, t, bufs[n]);
        out[n].name = t->name;
        out[n].rank = t->rank;
        memcpy(out[n].dims, t->dims, sizeof out[n].dims);
        out[n].data = bufs[n];
        n++;
    }
    if (fv__st_write(path, out, n, (const char *const *)f->meta_keys,
                     (const char *const *)f->meta_values, f->nmeta) == FV_OK) {
        fv_st_file g;
        FUZZ_CHECK(fv__st_read(path, &g) == FV_OK);
        FUZZ_CHECK(g.ntensors == n && g.nmeta == f->nmeta);
        for (int i = 0; i < n; i++) {
            const fv_st_tensor *t = fv__st_find(&g, out[i].name);
            FUZZ_CHECK(t && strcmp(t->dtype, "F32") == 0 && t->rank == out[i].rank);
            FUZZ_CHECK(memcmp(t->dims, out[i].dims, sizeof t->dims[0] * (size_t)t->rank) == 0);
            FUZZ_CHECK(memcmp(g.buf + g.data_off + t->begin, out[i].data, t->end - t->begin) == 0);
        }
        for (int i = 0; i < f->nmeta; i++) {
            const char *v = fv__st_meta(&g, f->meta_keys[i]);
            FUZZ_CHECK(v && strcmp(v, f->meta_values[i]) == 0);
        }
        fv__st_free(&g);
        unlink(path);
    }
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf);
    memcpy(buf, data, size);
    fv_st_file f;
    if (fv__st_parse(buf, size, ORIGIN, &f) != FV_OK) { /* buf is freed */
        FUZZ_CHECK(f.buf == NULL && f.tensors == NULL && f.ntensors == 0);
        FUZZ_CHECK_ERROR(ORIGIN);
        return 0;
    }
    FUZZ_CHECK(f.buf == buf && f.len == size);
    FUZZ_CHECK(f.data_off >= 8 && f.data_off <= size);
    size_t data_len = size - f.data_off, pos = 0;
    for (int i = 0; i < f.ntensors; i++) { /* in data order: they tile the data section */
        const fv_st_tensor *t = &f.tensors[i];
        check_tensor(&f, t, data_len);
        FUZZ_CHECK(t->begin == pos);
        pos = t->end;
    }
    FUZZ_CHECK(pos == data_len);
    for (int i = 0; i < f.nmeta; i++) {
        FUZZ_CHECK(f.meta_keys[i] && f.meta_values[i]);
        FUZZ_CHECK(fv__st_meta(&f, f.meta_keys[i]) == f.meta_values[i]); /* keys are unique */
    }
    round_trip(&f);
    fv__st_free(&f);
    return 0;
}
