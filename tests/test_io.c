/* test_io.c — the readers and writers of src/io: round trips (IDX raw and gzipped, safetensors,
 * .npy, CSV), byte-exact agreement with the safetensors reference writer, and hostile inputs:
 * each malformed file must fail with one message naming the file and the problem.
 */
#define _GNU_SOURCE /* memmem */
#include "io/io.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- helpers ------------------------------------------------------------------------------- */

static char tmpdir[64];

static const char *tpath(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(2);
    }
    if (len) fwrite(buf, 1, len, f);
    fclose(f);
}

static void write_gz(const char *path, const void *buf, size_t len)
{
    gzFile g = gzopen(path, "wb");
    if (!g) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(2);
    }
    if (len) gzwrite(g, buf, (unsigned)len);
    gzclose(g);
}

/* The whole content of a file (caller frees); NULL if it cannot be read. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* A failure with status s whose message names origin and contains what. */
#define CHECK_FAILS(expr, s, origin, what)                                                         \
    do {                                                                                           \
        fv__error_clear();                                                                         \
        int st_ = (int)(expr);                                                                     \
        if (st_ != (int)(s)) {                                                                     \
            fprintf(stderr, "  %s:%d: %s returned %d, expected %d (%s)\n", __FILE__, __LINE__,     \
                    #expr, st_, (int)(s), fv_last_error());                                        \
            test_failed_checks++;                                                                  \
        }                                                                                          \
        CHECK_STR_CONTAINS(fv_last_error(), origin);                                               \
        CHECK_STR_CONTAINS(fv_last_error(), what);                                                 \
    } while (0)

/* An IDX file in memory: header for rank dims, then the given data bytes. */
static size_t make_idx(uint8_t *out, uint8_t type, int rank, const uint32_t *dims,
                       const uint8_t *data, size_t n)
{
    out[0] = 0, out[1] = 0, out[2] = type, out[3] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        uint8_t *p = out + 4 + 4 * i;
        p[0] = (uint8_t)(dims[i] >> 24), p[1] = (uint8_t)(dims[i] >> 16);
        p[2] = (uint8_t)(dims[i] >> 8), p[3] = (uint8_t)dims[i];
    }
    if (n) memcpy(out + 4 + 4 * rank, data, n);
    return 4 + 4 * (size_t)rank + n;
}

/* ---- whole files and atomic writes ---------------------------------------------------------- */

TEST(read_file_missing_names_path)
{
    uint8_t *b;
    size_t n;
    CHECK_FAILS(fv__read_file(tpath("nope.bin"), 100, true, &b, &n), FV_ERR_IO, "nope.bin",
                "cannot open");
    CHECK(b == NULL && n == 0);
}

TEST(read_file_directory_is_error)
{
    uint8_t *b;
    size_t n;
    CHECK_FAILS(fv__read_file(tmpdir, 100, true, &b, &n), FV_ERR_IO, tmpdir, "directory");
}

TEST(read_file_raw_and_empty)
{
    const char *p = tpath("raw.bin");
    write_bytes(p, "hello", 5);
    uint8_t *b;
    size_t n;
    CHECK_OK(fv__read_file(p, 100, true, &b, &n));
    CHECK(n == 5 && memcmp(b, "hello", 5) == 0);
    free(b);
    write_bytes(p, "", 0);
    CHECK_OK(fv__read_file(p, 100, true, &b, &n));
    CHECK(n == 0 && b != NULL);
    free(b);
}

TEST(read_file_raw_over_limit)
{
    const char *p = tpath("big.bin");
    char buf[200] = {0};
    write_bytes(p, buf, sizeof buf);
    uint8_t *b;
    size_t n;
    CHECK_FAILS(fv__read_file(p, 100, false, &b, &n), FV_ERR_IO, "big.bin", "limit");
    CHECK(b == NULL);
}

TEST(read_file_gzip_inflates_and_bounds_output)
{
    size_t big = 1 << 20;
    uint8_t *zeros = calloc(big, 1);
    const char *p = tpath("zeros.gz");
    write_gz(p, zeros, big);
    uint8_t *b;
    size_t n;
    CHECK_OK(fv__read_file(p, big, true, &b, &n));
    CHECK(n == big && memcmp(b, zeros, big) == 0);
    free(b);
    /* A "gzip bomb": the output limit stops it long before memory runs out. */
    CHECK_FAILS(fv__read_file(p, 1000, true, &b, &n), FV_ERR_IO, "zeros.gz", "limit of 1000");
    CHECK(b == NULL);
    /* gunzip=false returns the compressed bytes untouched. */
    CHECK_OK(fv__read_file(p, big, false, &b, &n));
    CHECK(n > 2 && b[0] == 0x1f && b[1] == 0x8b);
    free(b);
    free(zeros);
}

TEST(read_file_gzip_truncated_at_every_length)
{
    uint8_t data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + i / 13);
    const char *p = tpath("t.gz");
    write_gz(p, data, sizeof data);
    size_t zlen;
    uint8_t *z = slurp(p, &zlen);
    const char *q = tpath("cut.gz");
    int bad = 0;
    for (size_t cut = 2; cut < zlen; cut++) {
        write_bytes(q, z, cut);
        uint8_t *b = NULL;
        size_t n;
        fv__error_clear();
        fv_status st = fv__read_file(q, 1 << 20, true, &b, &n);
        if (st != FV_ERR_FORMAT || !strstr(fv_last_error(), "unexpected end of compressed data") ||
            !strstr(fv_last_error(), "cut.gz")) {
            if (bad++ < 3)
                fprintf(stderr, "  cut at %zu: status %d: %s\n", cut, st, fv_last_error());
        }
        CHECK(b == NULL);
        free(b);
    }
    CHECK(bad == 0);
    free(z);
}

TEST(read_file_gzip_corrupt_and_trailing_garbage)
{
    uint8_t data[4000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i % 251);
    const char *p = tpath("c.gz");
    write_gz(p, data, sizeof data);
    size_t zlen;
    uint8_t *z = slurp(p, &zlen);
    uint8_t *b;
    size_t n;

    uint8_t *bad = malloc(zlen + 8);
    memcpy(bad, z, zlen);
    bad[zlen - 6] ^= 0xff; /* the CRC-32 in the trailer */
    write_bytes(p, bad, zlen);
    CHECK_FAILS(fv__read_file(p, 1 << 20, true, &b, &n), FV_ERR_FORMAT, "c.gz", "corrupt");

    memcpy(bad, z, zlen);
    memcpy(bad + zlen, "junkjunk", 8);
    write_bytes(p, bad, zlen + 8);
    CHECK_FAILS(fv__read_file(p, 1 << 20, true, &b, &n), FV_ERR_FORMAT, "c.gz",
                "not another gzip member");

    /* Two members one after the other (cat a.gz b.gz) are one stream. */
    memcpy(bad, z, zlen);
    uint8_t *two = malloc(2 * zlen);
    memcpy(two, z, zlen);
    memcpy(two + zlen, z, zlen);
    write_bytes(p, two, 2 * zlen);
    CHECK_OK(fv__read_file(p, 1 << 20, true, &b, &n));
    CHECK(n == 2 * sizeof data && memcmp(b, data, sizeof data) == 0 &&
          memcmp(b + sizeof data, data, sizeof data) == 0);
    free(b);
    free(two);
    free(bad);
    free(z);
}

TEST(afile_commit_replaces_atomically)
{
    const char *p = tpath("af.txt");
    write_bytes(p, "old", 3);
    fv_afile a;
    CHECK_OK(fv__afile_open(&a, p));
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", a.tmp_path);
    CHECK(strstr(tmp, ".tmp.") != NULL && exists(tmp));
    fputs("new content", a.f);
    /* Until commit, the original is untouched. */
    size_t n;
    uint8_t *b = slurp(p, &n);
    CHECK(n == 3 && memcmp(b, "old", 3) == 0);
    free(b);
    CHECK_OK(fv__afile_commit(&a));
    b = slurp(p, &n);
    CHECK(n == 11 && memcmp(b, "new content", 11) == 0);
    free(b);
    CHECK(!exists(tmp));
    CHECK(a.f == NULL && a.tmp_path == NULL && a.path == NULL);
}

TEST(afile_abort_leaves_original_untouched)
{
    const char *p = tpath("keep.txt");
    write_bytes(p, "original", 8);
    fv_afile a;
    CHECK_OK(fv__afile_open(&a, p));
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", a.tmp_path);
    fputs("half-writ", a.f);
    fv__afile_abort(&a);
    size_t n;
    uint8_t *b = slurp(p, &n);
    CHECK(b && n == 8 && memcmp(b, "original", 8) == 0);
    free(b);
    CHECK(!exists(tmp));
    fv__afile_abort(&a); /* twice is harmless */
}

TEST(afile_open_in_missing_folder_fails)
{
    fv_afile a;
    CHECK_FAILS(fv__afile_open(&a, tpath("no/such/dir/x.bin")), FV_ERR_IO, "x.bin",
                "cannot create");
    CHECK(a.f == NULL && a.tmp_path == NULL);
}

TEST(afile_commit_reports_rename_failure)
{
    char sub[256];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    mkdir(sub, 0700);
    char p[300];
    snprintf(p, sizeof p, "%s/x.bin", sub);
    fv_afile a;
    CHECK_OK(fv__afile_open(&a, p));
    fputs("data", a.f);
    unlink(a.tmp_path); /* the temporary file vanishes before the rename */
    rmdir(sub);
    CHECK_FAILS(fv__afile_commit(&a), FV_ERR_IO, "x.bin", "rename");
    CHECK(!exists(p));
}

/* ---- IDX ----------------------------------------------------------------------------------- */

static void fill_idx(fv_idx *x, int rank, const int64_t *dims, uint8_t *data)
{
    x->rank = rank;
    x->count = 1;
    for (int i = 0; i < rank; i++)
        x->dims[i] = dims[i], x->count *= dims[i];
    for (int64_t i = 0; i < x->count; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    x->data = data;
}

TEST(idx_roundtrip_raw)
{
    uint8_t data[24];
    fv_idx w = {0}, r;
    fill_idx(&w, 3, (int64_t[]){2, 3, 4}, data);
    const char *p = tpath("r.idx");
    CHECK_OK(fv__idx_write(p, &w));
    CHECK_OK(fv__idx_read(p, &r));
    CHECK(r.rank == 3 && r.dims[0] == 2 && r.dims[1] == 3 && r.dims[2] == 4 && r.count == 24);
    CHECK(r.data && memcmp(r.data, data, 24) == 0);
    fv__idx_free(&r);
    size_t n;
    uint8_t *b = slurp(p, &n);
    CHECK(n == 16 + 24 && b[2] == 0x08 && b[3] == 3 && b[7] == 2 && b[11] == 3 && b[15] == 4);
    free(b);
}

TEST(idx_roundtrip_gz)
{
    uint8_t data[60], file[100];
    for (int i = 0; i < 60; i++)
        data[i] = (uint8_t)(255 - i);
    size_t n = make_idx(file, 0x08, 1, (uint32_t[]){60}, data, 60);
    const char *p = tpath("labels-idx1-ubyte.gz");
    write_gz(p, file, n);
    fv_idx r;
    CHECK_OK(fv__idx_read(p, &r));
    CHECK(r.rank == 1 && r.dims[0] == 60 && r.count == 60 && memcmp(r.data, data, 60) == 0);
    fv__idx_free(&r);
}

TEST(idx_truncated_header_at_every_length)
{
    uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8}, file[64];
    size_t n = make_idx(file, 0x08, 3, (uint32_t[]){2, 2, 2}, data, 8);
    for (size_t len = 0; len < n; len++) {
        fv_idx r;
        const char *what = len < 4    ? "needs at least 4"
                           : len < 16 ? "inside the IDX header"
                                      : "but only";
        CHECK_FAILS(fv__idx_parse(file, len, "cut.idx", &r), FV_ERR_FORMAT, "cut.idx", what);
        CHECK(r.data == NULL);
    }
}

TEST(idx_wrong_magic)
{
    uint8_t file[16] = {0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 1, 9};
    fv_idx r;
    CHECK_FAILS(fv__idx_parse(file, 9, "zip.idx", &r), FV_ERR_FORMAT, "zip.idx",
                "byte 0: not an IDX file: magic bytes are 50 4b 03 04");
    uint8_t gz[8] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0};
    CHECK_FAILS(fv__idx_parse(gz, 8, "g", &r), FV_ERR_FORMAT, "g", "gzip");
}

TEST(idx_other_types_named)
{
    uint8_t file[64];
    size_t n = make_idx(file, 0x0D, 1, (uint32_t[]){2}, (uint8_t[8]){0}, 8);
    fv_idx r;
    CHECK_FAILS(fv__idx_parse(file, n, "f.idx", &r), FV_ERR_FORMAT, "f.idx",
                "IDX type 0x0D (float32) is not supported; expected 0x08 (unsigned byte)");
    n = make_idx(file, 0x09, 1, (uint32_t[]){2}, (uint8_t[2]){0}, 2);
    CHECK_FAILS(fv__idx_parse(file, n, "s.idx", &r), FV_ERR_FORMAT, "s.idx", "0x09 (signed byte)");
    n = make_idx(file, 0x42, 1, (uint32_t[]){2}, (uint8_t[2]){0}, 2);
    CHECK_FAILS(fv__idx_parse(file, n, "u.idx", &r), FV_ERR_FORMAT, "u.idx",
                "unknown IDX type 0x42");
}

TEST(idx_bad_rank)
{
    uint8_t file[64] = {0, 0, 8, 0};
    fv_idx r;
    CHECK_FAILS(fv__idx_parse(file, 4, "r0", &r), FV_ERR_FORMAT, "r0", "byte 3: IDX rank 0");
    file[3] = 5;
    CHECK_FAILS(fv__idx_parse(file, 40, "r5", &r), FV_ERR_FORMAT, "r5", "rank 5 is not supported");
}

TEST(idx_huge_dims_refused_before_allocation)
{
    uint8_t file[64];
    size_t n = make_idx(file, 0x08, 3, (uint32_t[]){10000, 10000, 10000}, (uint8_t[8]){0}, 8);
    fv_idx r;
    CHECK_FAILS(fv__idx_parse(file, n, "huge.idx", &r), FV_ERR_FORMAT, "huge.idx",
                "byte 4: IDX header claims 10000x10000x10000 = 1000000000000 bytes but only 8 "
                "follow");
    CHECK(r.data == NULL);
    /* The same through a file, gzipped: read, then refused, never allocated at 10^12. */
    const char *p = tpath("huge-idx3-ubyte.gz");
    write_gz(p, file, n);
    CHECK_FAILS(fv__idx_read(p, &r), FV_ERR_FORMAT, "huge-idx3-ubyte.gz", "but only 8 follow");
}

TEST(idx_dims_product_overflow)
{
    uint8_t file[64];
    uint32_t m = 0xFFFFFFFFu;
    size_t n = make_idx(file, 0x08, 4, (uint32_t[]){m, m, m, m}, NULL, 0);
    fv_idx r;
    CHECK_FAILS(fv__idx_parse(file, n, "o.idx", &r), FV_ERR_FORMAT, "o.idx", "overflow");
}

TEST(idx_trailing_and_short_data)
{
    uint8_t file[64], data[10] = {0};
    size_t n = make_idx(file, 0x08, 2, (uint32_t[]){2, 3}, data, 9);
    fv_idx r;
    CHECK_FAILS(fv__idx_parse(file, n, "t.idx", &r), FV_ERR_FORMAT, "t.idx",
                "claims 2x3 = 6 bytes but 9 follow (3 trailing bytes)");
    CHECK_FAILS(fv__idx_parse(file, n - 5, "s.idx", &r), FV_ERR_FORMAT, "s.idx",
                "claims 2x3 = 6 bytes but only 4 follow");
    CHECK_OK(fv__idx_parse(file, n - 3, "ok.idx", &r));
    fv__idx_free(&r);
}

TEST(idx_empty_file)
{
    const char *p = tpath("empty.idx");
    write_bytes(p, "", 0);
    fv_idx r;
    CHECK_FAILS(fv__idx_read(p, &r), FV_ERR_FORMAT, "empty.idx", "ends after 0 bytes");
}

TEST(idx_write_rejects_bad_input)
{
    uint8_t data[4] = {0};
    fv_idx w = {.rank = 1, .dims = {5}, .count = 4, .data = data};
    CHECK_FAILS(fv__idx_write(tpath("bad.idx"), &w), FV_ERR_INVALID, "bad.idx", "does not match");
    CHECK(!exists(tpath("bad.idx")));
}

/* ---- safetensors --------------------------------------------------------------------------- */

/* A safetensors file in memory: u64 length, header, data_len zero bytes. */
static uint8_t *st_make(const char *header, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = calloc(*len, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

/* Parses the file made of header and data_len bytes; expects failure naming what. */
static void st_expect_fail(const char *header, size_t data_len, const char *what, int line)
{
    size_t len;
    uint8_t *b = st_make(header, data_len, &len);
    fv_st_file f;
    fv__error_clear();
    fv_status st = fv__st_parse(b, len, "bad.safetensors", &f);
    if (st != FV_ERR_FORMAT || !strstr(fv_last_error(), "bad.safetensors") ||
        !strstr(fv_last_error(), what)) {
        fprintf(stderr, "  line %d: status %d, message \"%s\", expected \"%s\"\n", line, st,
                fv_last_error(), what);
        test_failed_checks++;
    }
    CHECK(f.buf == NULL && f.tensors == NULL);
}
#define ST_FAIL(h, n, what) st_expect_fail(h, n, what, __LINE__)

TEST(st_roundtrip_with_hostile_metadata)
{
    float a[6] = {0, 1.5f, -2, 3.25f, 1e-30f, -1e30f}, b[3] = {7, 8, 9}, c[1] = {42};
    fv_st_out t[3] = {{"conv2d.kernel", 4, {1, 1, 2, 3}, a},
                      {"dense.bias", 1, {3}, b},
                      {"scalar \"quoted\"\n", 0, {0}, c}};
    const char *text = "input shape=28,28,1\nconv2d filters=32 \"q\" back\\slash\ttab\r\x01\x1f"
                       " é ✓ 😀\n";
    const char *keys[2] = {"fovea.model", "format"};
    const char *vals[2] = {text, ""};
    const char *p = tpath("m.safetensors");
    CHECK_OK(fv__st_write(p, t, 3, keys, vals, 2));
    fv_st_file f;
    CHECK_OK(fv__st_read(p, &f));
    CHECK(f.mapped); /* a regular file is mapped, not copied */
    CHECK(f.ntensors == 3 && f.nmeta == 2);
    CHECK(fv__st_meta(&f, "fovea.model") && strcmp(fv__st_meta(&f, "fovea.model"), text) == 0);
    CHECK(fv__st_meta(&f, "format") && strcmp(fv__st_meta(&f, "format"), "") == 0);
    CHECK(fv__st_meta(&f, "absent") == NULL);
    CHECK((f.data_off - 8) % 8 == 0); /* header padded to a multiple of 8 */
    const fv_st_tensor *k = fv__st_find(&f, "conv2d.kernel");
    CHECK(k && strcmp(k->dtype, "F32") == 0 && k->rank == 4 && k->dims[3] == 3 && k->begin == 0 &&
          k->end == 24);
    float out[6];
    if (k) fv__st_copy_f32(&f, k, out), check_arrays("kernel", out, a, 6, 0, 0);
    const fv_st_tensor *bb = fv__st_find(&f, "dense.bias");
    CHECK(bb && bb->begin == 24 && bb->end == 36);
    if (bb) fv__st_copy_f32(&f, bb, out), check_arrays("bias", out, b, 3, 0, 0);
    const fv_st_tensor *s = fv__st_find(&f, "scalar \"quoted\"\n");
    CHECK(s && s->rank == 0 && s->end - s->begin == 4);
    CHECK(fv__st_find(&f, "missing") == NULL);
    fv__st_free(&f);
    fv__st_free(&f); /* safe twice */
}

/* The byte sequences the reference implementation's own tests expect from its serializer. */
TEST(st_writer_matches_reference_bytes)
{
    const uint8_t want[] = {72,  0,   0,   0,   0,   0,   0,   0,   123, 34, 97, 116, 116, 110, 48,
                            34,  58,  123, 34,  100, 116, 121, 112, 101, 34, 58, 34,  70,  51,  50,
                            34,  44,  34,  115, 104, 97,  112, 101, 34,  58, 91, 49,  44,  49,  44,
                            50,  44,  51,  93,  44,  34,  100, 97,  116, 97, 95, 111, 102, 102, 115,
                            101, 116, 115, 34,  58,  91,  48,  44,  50,  52, 93, 125, 125, 32,  32,
                            32,  32,  32,  32,  32,  0,   0,   0,   0,   0,  0,  128, 63,  0,   0,
                            0,   64,  0,   0,   64,  64,  0,   0,   128, 64, 0,  0,   160, 64};
    float x[6] = {0, 1, 2, 3, 4, 5};
    fv_st_out t = {"attn0", 4, {1, 1, 2, 3}, x};
    const char *p = tpath("ref.safetensors");
    CHECK_OK(fv__st_write(p, &t, 1, NULL, NULL, 0));
    size_t n;
    uint8_t *b = slurp(p, &n);
    CHECK(n == sizeof want && memcmp(b, want, n) == 0);
    free(b);

    const uint8_t empty[] = {8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32};
    CHECK_OK(fv__st_write(p, NULL, 0, NULL, NULL, 0));
    b = slurp(p, &n);
    CHECK(n == sizeof empty && memcmp(b, empty, n) == 0);
    free(b);

    const char *mk = "framework", *mv = "pt";
    const char meta[] = "{\"__metadata__\":{\"framework\":\"pt\"}}     ";
    CHECK_OK(fv__st_write(p, NULL, 0, &mk, &mv, 1));
    b = slurp(p, &n);
    CHECK(n == 48 && b[0] == 40 && memcmp(b + 8, meta, 40) == 0);
    free(b);
}

TEST(st_reads_reference_example)
{
    size_t len;
    uint8_t *b =
        st_make("{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, &len);
    fv_st_file f;
    CHECK_OK(fv__st_parse(b, len, "example", &f));
    const fv_st_tensor *t = fv__st_find(&f, "test");
    CHECK(t && strcmp(t->dtype, "I32") == 0 && t->rank == 2 && t->dims[0] == 2 && t->end == 16);
    fv__st_free(&f);
    /* Tensors listed out of data order, zero-size tensors, unknown fields, null metadata and
     * every dtype size are fine. */
    b = st_make("{\"__metadata__\":null,\"b\":{\"dtype\":\"BF16\",\"shape\":[3],"
                "\"data_offsets\":[8,14],\"x\":1},\"a\":{\"dtype\":\"F64\",\"shape\":[1],"
                "\"data_offsets\":[0,8]},\"z\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":"
                "[14,14]},\"f4\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[14,16]}}",
                16, &len);
    CHECK_OK(fv__st_parse(b, len, "mixed", &f));
    CHECK(f.ntensors == 4 && f.nmeta == 0);
    CHECK(f.ntensors == 4 && strcmp(f.tensors[0].name, "a") == 0 &&
          strcmp(f.tensors[1].name, "b") == 0);
    fv__st_free(&f);
}

TEST(st_truncated_at_every_length)
{
    float x[4] = {1, 2, 3, 4};
    fv_st_out t = {"w", 2, {2, 2}, x};
    const char *k = "k", *v = "line\nline";
    const char *p = tpath("cut.safetensors");
    CHECK_OK(fv__st_write(p, &t, 1, &k, &v, 1));
    size_t n;
    uint8_t *full = slurp(p, &n);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *b = malloc(len + 1);
        memcpy(b, full, len);
        fv_st_file f;
        fv__error_clear();
        fv_status st = fv__st_parse(b, len, "cut.safetensors", &f);
        if (st != FV_ERR_FORMAT || !strstr(fv_last_error(), "cut.safetensors")) bad++;
    }
    CHECK(bad == 0);
    /* The same cut files read from disk: mapped from 8 bytes on, read below; the error names the
     * file, and a failed read leaves nothing mapped or allocated (ASan, valgrind). */
    const char *q = tpath("cut2.safetensors");
    for (size_t len = 0; len < n; len += len < 16 ? 1 : 7) {
        FILE *w = fopen(q, "wb");
        CHECK(w && fwrite(full, 1, len, w) == len);
        if (w) fclose(w);
        fv_st_file f;
        fv__error_clear();
        const fv_status st = fv__st_read(q, &f);
        if (st != FV_ERR_FORMAT || !strstr(fv_last_error(), "cut2.safetensors") || f.buf) bad++;
    }
    CHECK(bad == 0);
    free(full);
}

/* Flipping every byte of a valid file to a few values never crashes or leaks (ASan). */
TEST(st_mutations_never_crash)
{
    float x[3] = {1, 2, 3};
    fv_st_out t[2] = {{"a", 1, {3}, x}, {"b", 2, {1, 2}, x}};
    const char *k = "m", *v = "v";
    const char *p = tpath("mut.safetensors");
    CHECK_OK(fv__st_write(p, t, 2, &k, &v, 1));
    size_t n;
    uint8_t *full = slurp(p, &n);
    const uint8_t vals[] = {0, '"', '{', '}', '[', ']', ',', ':', '9', '-', 0x80, 0xff, ' '};
    int accepted = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < sizeof vals; j++) {
            uint8_t *b = malloc(n);
            memcpy(b, full, n);
            b[i] = vals[j];
            fv_st_file f;
            fv_status st = fv__st_parse(b, n, "mut", &f);
            CHECK(st == FV_OK || st == FV_ERR_FORMAT);
            if (st == FV_OK) {
                accepted++;
                for (int q = 0; q < f.ntensors; q++)
                    CHECK(f.tensors[q].end <= n - f.data_off);
                fv__st_free(&f);
            }
        }
    }
    CHECK(accepted > 0); /* changing data bytes keeps the file valid */
    free(full);
}

TEST(st_header_length_checks)
{
    for (size_t len = 0; len < 8; len++) {
        uint8_t *b = calloc(8, 1);
        fv_st_file f;
        CHECK_FAILS(fv__st_parse(b, len, "short.st", &f), FV_ERR_FORMAT, "short.st",
                    "8-byte header length");
    }
    uint8_t *b = calloc(16, 1);
    b[0] = 0x01, b[1] = 0xE1, b[2] = 0xF5, b[3] = 0x05; /* 100000001 */
    fv_st_file f;
    CHECK_FAILS(fv__st_parse(b, 16, "big.st", &f), FV_ERR_FORMAT, "big.st",
                "header length 100000001 exceeds the limit of 100000000");
    b = calloc(16, 1);
    memset(b, 0xff, 8);
    CHECK_FAILS(fv__st_parse(b, 16, "max.st", &f), FV_ERR_FORMAT, "max.st", "exceeds the limit");
    b = calloc(16, 1);
    b[0] = 9;
    CHECK_FAILS(fv__st_parse(b, 16, "beyond.st", &f), FV_ERR_FORMAT, "beyond.st",
                "header length 9 but only 8 bytes follow");
}

TEST(st_malformed_headers)
{
    ST_FAIL("[1,2]", 0, "the header is an array; expected a JSON object");
    ST_FAIL("\"x\"", 0, "expected a JSON object");
    ST_FAIL("{\"a\":", 0, "not valid JSON");
    ST_FAIL("{} x", 0, "not valid JSON");
    ST_FAIL("{\"a\xff\":1}", 0, "byte 11: the header is not valid UTF-8");
    ST_FAIL("{\"\xc0\xaf\":1}", 0, "not valid UTF-8"); /* overlong '/' */
    ST_FAIL("{\"a\\u0000b\":{}}", 0, "byte 11: the header holds \\u0000 inside a string");
    ST_FAIL("{\"a\nb\":{}}", 0, "byte 11: the header holds a raw control character");
    ST_FAIL("{\"a\\\\\":{}}", 0, "tensor \"a\\x5c\": missing field dtype"); /* "a\\" */
    ST_FAIL("{\"a\":[]}", 0, "header entry \"a\" is an array; expected an object");
    ST_FAIL("{\"a\":{\"shape\":[],\"data_offsets\":[0,0]}}", 0,
            "tensor \"a\": missing field dtype");
    ST_FAIL("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            "tensor \"a\": unknown dtype \"F33\"");
    ST_FAIL("{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            "field dtype is a number; expected a string");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            "field dtype appears twice");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
            "shape entry 0 is not a non-negative integer");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
            "shape entry 0");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
            "shape has 9 dimensions");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
            "\"data_offsets\":[0,4]}}",
            4, "overflows");
    ST_FAIL("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
            "do not fill whole bytes");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
            "data_offsets must be [begin, end]");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
            "end before they begin");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
            "data_offsets [0, 16] lie past the end of the data section (8 bytes)");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
            "shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8");
    ST_FAIL("{\"__metadata__\":[],\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            4, "__metadata__ is an array");
    ST_FAIL("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ entry \"k\" is a number");
    ST_FAIL("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "entry \"k\" appears twice");
}

TEST(st_offsets_overlap_gap_coverage)
{
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            12, "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\", which ends at 8");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
            12, "tensor \"b\": data_offsets [8, 12] leave a gap: bytes 4 to 8");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
            "leave a gap: bytes 0 to 4");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
            "the tensors cover 4 bytes of the 8-byte data section");
    ST_FAIL("{}", 3, "cover 0 bytes of the 3-byte data section");
    ST_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            8, "tensor \"a\" appears twice");
}

TEST(st_writer_rejects_bad_arguments)
{
    float x[2] = {1, 2};
    const char *p = tpath("w.safetensors");
    fv_st_out t[2] = {{"a", 1, {2}, x}, {"a", 1, {2}, x}};
    CHECK_FAILS(fv__st_write(p, t, 2, NULL, NULL, 0), FV_ERR_INVALID, "w.safetensors",
                "given twice");
    fv_st_out m = {"__metadata__", 1, {2}, x};
    CHECK_FAILS(fv__st_write(p, &m, 1, NULL, NULL, 0), FV_ERR_INVALID, "w.safetensors",
                "__metadata__");
    const char *k = "k", *v = "bad \xff utf8";
    CHECK_FAILS(fv__st_write(p, t, 1, &k, &v, 1), FV_ERR_INVALID, "w.safetensors", "UTF-8");
    fv_st_out neg = {"n", 1, {-2}, x};
    CHECK_FAILS(fv__st_write(p, &neg, 1, NULL, NULL, 0), FV_ERR_INVALID, "w.safetensors",
                "negative");
    CHECK(!exists(p));
}

/* ---- .npy ---------------------------------------------------------------------------------- */

/* A .npy file in memory: version major.0 with the given header text (padded to 64 as numpy
 * does when pad is true) and data. */
static uint8_t *npy_make(int major, const char *dict, bool pad, const void *data, size_t n,
                         size_t *len)
{
    size_t pre = major == 1 ? 10 : 12, h = strlen(dict);
    size_t hl = pad ? ((pre + h + 1 + 63) / 64 * 64 - pre) : h;
    *len = pre + hl + n;
    uint8_t *b = malloc(*len);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major, b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        b[8 + i] = (uint8_t)(hl >> (8 * i));
    memcpy(b + pre, dict, h);
    if (pad) {
        memset(b + pre + h, ' ', hl - h);
        b[pre + hl - 1] = '\n';
    }
    if (n) memcpy(b + pre + hl, data, n);
    return b;
}

static void npy_expect_fail(const char *dict, size_t n, const char *what, int line)
{
    uint8_t data[64] = {0};
    size_t len;
    uint8_t *b = npy_make(1, dict, true, data, n, &len);
    fv_npy a;
    fv__error_clear();
    fv_status st = fv__npy_parse(b, len, "bad.npy", &a);
    if (st != FV_ERR_FORMAT || !strstr(fv_last_error(), "bad.npy") ||
        !strstr(fv_last_error(), what)) {
        fprintf(stderr, "  line %d: status %d, message \"%s\", expected \"%s\"\n", line, st,
                fv_last_error(), what);
        test_failed_checks++;
    }
    CHECK(a.data == NULL);
    free(b);
}
#define NPY_FAIL(d, n, what) npy_expect_fail(d, n, what, __LINE__)

TEST(npy_roundtrip_f32)
{
    float x[6] = {1, -2, 3.5f, 0, 1e-7f, 65504};
    const char *p = tpath("x.npy");
    CHECK_OK(fv__npy_write_f32(p, 2, (int64_t[]){2, 3}, x));
    size_t n;
    uint8_t *b = slurp(p, &n);
    const char head[] = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (2, 3), }";
    CHECK(n == 128 + 24 && memcmp(b, head, sizeof head - 1) == 0 && b[127] == '\n' &&
          b[126] == ' ');
    free(b);
    fv_npy a;
    CHECK_OK(fv__npy_read(p, &a));
    CHECK(a.rank == 2 && a.dims[0] == 2 && a.dims[1] == 3 && a.count == 6 && !a.is_u8);
    check_arrays("npy", a.data, x, 6, 0, 0);
    fv__npy_free(&a);
    /* rank 1 writes "(4,)", rank 0 "()" */
    CHECK_OK(fv__npy_write_f32(p, 1, (int64_t[]){4}, x));
    b = slurp(p, &n);
    CHECK(n == 128 + 16 && memmem(b, 128, "'shape': (4,), }", 16) != NULL);
    free(b);
    CHECK_OK(fv__npy_read(p, &a));
    CHECK(a.rank == 1 && a.dims[0] == 4 && a.count == 4);
    fv__npy_free(&a);
    CHECK_OK(fv__npy_write_f32(p, 0, NULL, x));
    CHECK_OK(fv__npy_read(p, &a));
    CHECK(a.rank == 0 && a.count == 1 && ((float *)a.data)[0] == 1);
    fv__npy_free(&a);
}

TEST(npy_header_variants)
{
    uint8_t u[6] = {0, 1, 2, 253, 254, 255};
    size_t len;
    fv_npy a;
    const char *dicts[] = {
        "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<u1\"}",
        "{ 'descr' : '|u1' ,\n 'fortran_order' : False , 'shape' : ( 2L , 3L ) }",
    };
    for (int major = 1; major <= 3; major++) {
        for (size_t i = 0; i < sizeof dicts / sizeof *dicts; i++) {
            uint8_t *b = npy_make(major, dicts[i], i != 1, u, 6, &len);
            fv__error_clear();
            CHECK_OK(fv__npy_parse(b, len, "v.npy", &a));
            CHECK(a.is_u8 && a.rank == 2 && a.dims[0] == 2 && a.dims[1] == 3 && a.data &&
                  memcmp(a.data, u, 6) == 0);
            fv__npy_free(&a);
            free(b);
        }
    }
    /* gzipped .npy files are read too */
    uint8_t *b = npy_make(1, dicts[0], true, u, 6, &len);
    const char *p = tpath("u.npy.gz");
    write_gz(p, b, len);
    free(b);
    CHECK_OK(fv__npy_read(p, &a));
    CHECK(a.is_u8 && a.count == 6);
    fv__npy_free(&a);
}

/* numpy's default dtypes (int64 labels, float64 arrays) and the other integer widths read as
 * float32; uint8 stays bytes. */
TEST(npy_numeric_types_read_as_float32)
{
    const struct {
        const char *descr;
        uint8_t data[16];
        int size;
        float want[2];
    } cases[] = {
        {"<f8", {0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0xc0}, 16, {1.5f, -2.5f}},
        {"<i8",
         {3, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
         16,
         {3, -1}},
        {"<i4", {7, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff}, 8, {7, -2}},
        {"<i2", {0x00, 0x01, 0xff, 0xff}, 4, {256, -1}},
        {"|i1", {5, 0xfb}, 2, {5, -5}},
        {"<u2", {0xff, 0xff, 2, 0}, 4, {65535, 2}},
        {"<u4", {1, 0, 0, 0, 0, 0, 1, 0}, 8, {1, 65536}},
        {"<u8", {9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 16, {9, 0}},
        {"|b1", {1, 0}, 2, {1, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dict[96];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }",
                 cases[i].descr);
        size_t len;
        uint8_t *b = npy_make(1, dict, true, cases[i].data, (size_t)cases[i].size, &len);
        fv_npy a;
        CHECK_OK(fv__npy_parse(b, len, "t.npy", &a));
        CHECK(!a.is_u8 && a.count == 2 && a.elem == 4);
        if (a.data && !(((float *)a.data)[0] == cases[i].want[0] &&
                        ((float *)a.data)[1] == cases[i].want[1])) {
            fprintf(stderr, "  %s: %g %g\n", cases[i].descr, ((float *)a.data)[0],
                    ((float *)a.data)[1]);
            test_failed_checks++;
        }
        fv__npy_free(&a);
        free(b);
    }
}

TEST(npy_malformed)
{
    NPY_FAIL("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8,
             "'fortran_order': True is not supported");
    NPY_FAIL("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16,
             "the array's type '<c8' is not supported: fovea reads little-endian numbers");
    NPY_FAIL("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "'>f4'");
    NPY_FAIL("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8,
             "structured dtypes");
    NPY_FAIL("{'descr': '<f4', 'shape': (2,), }", 8, "no 'fortran_order' key");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8,
             "unknown key 'x'");
    NPY_FAIL("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8,
             "key 'descr' appears twice");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", 8, "a tuple");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8,
             "non-negative integer");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8, "True or False");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", 8,
             "the end of the .npy header");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 8,
             "claims shape (2, 3) of <f4 = 24 bytes but only 8 follow");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8,
             "= 4 bytes but 8 follow (4 trailing bytes)");
    NPY_FAIL("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000, 1000000), }", 8,
             "1000000000000 bytes but only 8 follow");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, "
             "1099511627776), }",
             8, "overflows 64 bits");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8,
             "overflows 64 bits");
    NPY_FAIL("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
             "more than 8 dimensions");
    NPY_FAIL("{'descr: '<f4', 'fortran_order': False, 'shape': (2,), }", 8, "expected ':'");
}

TEST(npy_preamble_errors)
{
    fv_npy a;
    CHECK_FAILS(fv__npy_parse((const uint8_t *)"PK\x03\x04xxxxxxxx", 12, "z.npy", &a),
                FV_ERR_FORMAT, "z.npy", "byte 0: not a .npy file");
    uint8_t b[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 4, 0, 0, 0};
    CHECK_FAILS(fv__npy_parse(b, 16, "v4.npy", &a), FV_ERR_FORMAT, "v4.npy",
                "version 4.0 is not supported");
    b[6] = 1, b[8] = 200;
    CHECK_FAILS(fv__npy_parse(b, 16, "h.npy", &a), FV_ERR_FORMAT, "h.npy",
                "header length 200 but only 6 bytes follow");
    b[6] = 2;
    CHECK_FAILS(fv__npy_parse(b, 11, "v2.npy", &a), FV_ERR_FORMAT, "v2.npy", "12 bytes needed");
}

TEST(npy_truncated_at_every_length)
{
    float x[3] = {1, 2, 3};
    const char *p = tpath("t.npy");
    CHECK_OK(fv__npy_write_f32(p, 1, (int64_t[]){3}, x));
    size_t n;
    uint8_t *full = slurp(p, &n);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        fv_npy a;
        fv__error_clear();
        if (fv__npy_parse(full, len, "t.npy", &a) != FV_ERR_FORMAT ||
            !strstr(fv_last_error(), "t.npy"))
            bad++;
    }
    CHECK(bad == 0);
    free(full);
}

/* Every byte of a valid IDX, .npy and CSV file set to a few values: the readers accept or refuse,
 * never crash, read out of bounds or leak (ASan checks the last three). */
TEST(mutations_never_crash)
{
    const uint8_t vals[] = {0, 1, 0x7f, 0x80, 0xff, '(', ')', ',', '\'', '"', '\n', '9', ' '};
    uint8_t idx[32];
    size_t nidx = make_idx(idx, 0x08, 2, (uint32_t[]){2, 3}, (const uint8_t *)"abcdef", 6);
    float x[3] = {1, 2, 3};
    const char *p = tpath("m.npy");
    CHECK_OK(fv__npy_write_f32(p, 2, (int64_t[]){1, 3}, x));
    size_t nnpy;
    uint8_t *npy = slurp(p, &nnpy);
    const char *csv = "a,\"b\"\r\n1,2\n\"3\",4.5e1\n";
    size_t ncsv = strlen(csv);
    int bad = 0;
    for (size_t j = 0; j < sizeof vals; j++) {
        for (size_t i = 0; i < nidx; i++) {
            uint8_t b[32];
            memcpy(b, idx, nidx);
            b[i] = vals[j];
            fv_idx r;
            fv_status st = fv__idx_parse(b, nidx, "m.idx", &r);
            if (st == FV_OK)
                fv__idx_free(&r);
            else if (st != FV_ERR_FORMAT)
                bad++;
        }
        for (size_t i = 0; i < nnpy; i++) {
            uint8_t *b = malloc(nnpy);
            memcpy(b, npy, nnpy);
            b[i] = vals[j];
            fv_npy a;
            fv_status st = fv__npy_parse(b, nnpy, "m.npy", &a);
            if (st == FV_OK)
                fv__npy_free(&a);
            else if (st != FV_ERR_FORMAT)
                bad++;
            free(b);
        }
        for (size_t i = 0; i < ncsv; i++) {
            char *b = malloc(ncsv);
            memcpy(b, csv, ncsv);
            b[i] = (char)vals[j];
            fv_csv c;
            fv_status st = fv__csv_parse(b, ncsv, "m.csv", &c);
            if (st == FV_OK)
                fv__csv_free(&c);
            else if (st != FV_ERR_FORMAT)
                bad++;
            free(b);
        }
    }
    CHECK(bad == 0);
    free(npy);
}

/* ---- CSV ----------------------------------------------------------------------------------- */

static fv_status csv_str(const char *text, fv_csv *c)
{
    return fv__csv_parse(text, strlen(text), "t.csv", c);
}

TEST(csv_basic_quoting_and_line_ends)
{
    const char *text = "\xEF\xBB\xBF"
                       "\r\n  \n\"a, b\",\"say \"\"hi\"\"\", c \r\n"
                       "1, 2.5 ,-3e2\r\n"
                       "\n"
                       "\"4\",5,6\n"
                       "0x10,1e-400,.5"; /* no final line break */
    fv_csv c;
    CHECK_OK(csv_str(text, &c));
    CHECK(c.ncols == 3 && c.nrows == 3);
    if (c.ncols == 3) {
        CHECK(strcmp(c.names[0], "a, b") == 0);
        CHECK(strcmp(c.names[1], "say \"hi\"") == 0);
        CHECK(strcmp(c.names[2], "c") == 0);
        CHECK(fv__csv_column(&c, "c") == 2 && fv__csv_column(&c, "zz") == -1);
    }
    if (c.nrows == 3) {
        double want[9] = {1, 2.5, -300, 4, 5, 6, 16, 0, 0.5};
        for (int i = 0; i < 9; i++)
            CHECK(c.cells[i] == want[i]);
        CHECK(c.lines[0] == 4 && c.lines[1] == 6 && c.lines[2] == 7);
    }
    fv__csv_free(&c);
}

TEST(csv_reads_sklearn_iris)
{
    const char *p = "/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv";
    if (!exists(p)) {
        SKIP("%s not found", p);
    }
    fv_csv c;
    CHECK_OK(fv__csv_read(p, &c));
    CHECK(c.ncols == 5 && c.nrows == 150);
    if (c.nrows == 150) {
        CHECK(strcmp(c.names[0], "150") == 0 && strcmp(c.names[4], "virginica") == 0);
        CHECK(c.cells[0] == 5.1 && c.cells[4] == 0 && c.cells[149 * 5 + 4] == 2);
    }
    fv__csv_free(&c);
}

TEST(csv_malformed)
{
    fv_csv c;
    CHECK_FAILS(csv_str("a,b,c\n1,2,3\n\n4,5\n", &c), FV_ERR_FORMAT, "t.csv",
                "line 4: 2 fields, but the header (line 1) has 3 columns");
    CHECK_FAILS(csv_str("a,b\n1,2,\n", &c), FV_ERR_FORMAT, "t.csv", "line 2: 3 fields");
    CHECK_FAILS(csv_str("x,y\n1,2\n3,abc\n", &c), FV_ERR_FORMAT, "t.csv",
                "line 3, column \"y\": \"abc\" is not a number");
    CHECK_FAILS(csv_str("x,y\n1,2x\n", &c), FV_ERR_FORMAT, "t.csv", "\"2x\" is not a number");
    CHECK_FAILS(csv_str("x,y\n1,nan\n", &c), FV_ERR_FORMAT, "t.csv",
                "column \"y\": \"nan\" is not a finite number");
    CHECK_FAILS(csv_str("x,y\n-inf,1\n", &c), FV_ERR_FORMAT, "t.csv", "not a finite number");
    CHECK_FAILS(csv_str("x,y\n1e999,1\n", &c), FV_ERR_FORMAT, "t.csv", "not a finite number");
    CHECK_FAILS(csv_str("x,y\n1, \n", &c), FV_ERR_FORMAT, "t.csv",
                "line 2, column \"y\": empty cell");
    CHECK_FAILS(csv_str("", &c), FV_ERR_FORMAT, "t.csv", "the file is empty");
    CHECK_FAILS(csv_str(" \r\n\n\t\n", &c), FV_ERR_FORMAT, "t.csv", "line 4: the file is empty");
    CHECK_FAILS(csv_str("a,b\n1,\"2\n", &c), FV_ERR_FORMAT, "t.csv",
                "quoted field opened on line 2 is never closed");
    CHECK_FAILS(csv_str("a,b\n1,\"2\"x\n", &c), FV_ERR_FORMAT, "t.csv",
                "found \"x\" after a closing quote");
    CHECK_FAILS(fv__csv_parse("a,b\n1,\0\n", 8, "t.csv", &c), FV_ERR_FORMAT, "t.csv",
                "byte 6 of the file: a NUL byte");
    /* a quoted name spanning lines moves the line count on */
    CHECK_FAILS(csv_str("\"a\n\nz\",b\n1,2\n3,q\n", &c), FV_ERR_FORMAT, "t.csv",
                "line 5, column \"b\"");
    CHECK(c.cells == NULL && c.names == NULL);
}

TEST(csv_header_only_and_file)
{
    fv_csv c;
    CHECK_OK(csv_str("a,b\n", &c));
    CHECK(c.ncols == 2 && c.nrows == 0);
    fv__csv_free(&c);
    const char *p = tpath("t.csv.gz");
    const char *text = "u,v\n1,2\n3,4\n";
    write_gz(p, text, strlen(text));
    CHECK_OK(fv__csv_read(p, &c));
    CHECK(c.nrows == 2 && c.cells[3] == 4);
    fv__csv_free(&c);
    CHECK_FAILS(fv__csv_read(tpath("none.csv"), &c), FV_ERR_IO, "none.csv", "cannot open");
}

int main(void)
{
    test_tmpdir("io", tmpdir, sizeof tmpdir);
    RUN(read_file_missing_names_path);
    RUN(read_file_directory_is_error);
    RUN(read_file_raw_and_empty);
    RUN(read_file_raw_over_limit);
    RUN(read_file_gzip_inflates_and_bounds_output);
    RUN(read_file_gzip_truncated_at_every_length);
    RUN(read_file_gzip_corrupt_and_trailing_garbage);
    RUN(afile_commit_replaces_atomically);
    RUN(afile_abort_leaves_original_untouched);
    RUN(afile_open_in_missing_folder_fails);
    RUN(afile_commit_reports_rename_failure);
    RUN(idx_roundtrip_raw);
    RUN(idx_roundtrip_gz);
    RUN(idx_truncated_header_at_every_length);
    RUN(idx_wrong_magic);
    RUN(idx_other_types_named);
    RUN(idx_bad_rank);
    RUN(idx_huge_dims_refused_before_allocation);
    RUN(idx_dims_product_overflow);
    RUN(idx_trailing_and_short_data);
    RUN(idx_empty_file);
    RUN(idx_write_rejects_bad_input);
    RUN(st_roundtrip_with_hostile_metadata);
    RUN(st_writer_matches_reference_bytes);
    RUN(st_reads_reference_example);
    RUN(st_truncated_at_every_length);
    RUN(st_mutations_never_crash);
    RUN(st_header_length_checks);
    RUN(st_malformed_headers);
    RUN(st_offsets_overlap_gap_coverage);
    RUN(st_writer_rejects_bad_arguments);
    RUN(npy_roundtrip_f32);
    RUN(npy_header_variants);
    RUN(npy_numeric_types_read_as_float32);
    RUN(npy_malformed);
    RUN(npy_preamble_errors);
    RUN(npy_truncated_at_every_length);
    RUN(mutations_never_crash);
    RUN(csv_basic_quoting_and_line_ends);
    RUN(csv_reads_sklearn_iris);
    RUN(csv_malformed);
    RUN(csv_header_only_and_file);
    remove_tree(tmpdir);
    return TEST_SUMMARY();
}
