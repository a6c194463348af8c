/* test_dataset.c — fv_dataset: loading IDX (files and MNIST folders, raw and gzipped), CSV and
 * .npy; copies from memory; Keras' validation_split; and the parallel batch gather, checked
 * against one-sample reads. Malformed inputs must name the files and counts involved.
 */
#include "io/dataset.h"
#include "io/io.h"
#include "test.h"

#include <dirent.h>
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

static void write_file(const char *path, const void *buf, size_t len, bool gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (!g) exit(2);
        if (len) gzwrite(g, buf, (unsigned)len);
        gzclose(g);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f) exit(2);
    if (len) fwrite(buf, 1, len, f);
    fclose(f);
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text), false);
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

/* Writes an IDX file of unsigned bytes: rank dims, data[i] = f(i). */
static void write_idx(const char *path, int rank, const uint32_t *dims, uint8_t mul, bool gz)
{
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= dims[i];
    uint8_t *b = malloc(4 + 4 * (size_t)rank + count);
    b[0] = 0, b[1] = 0, b[2] = 8, b[3] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        uint8_t *p = b + 4 + 4 * i;
        p[0] = (uint8_t)(dims[i] >> 24), p[1] = (uint8_t)(dims[i] >> 16);
        p[2] = (uint8_t)(dims[i] >> 8), p[3] = (uint8_t)dims[i];
    }
    for (size_t i = 0; i < count; i++)
        b[4 + 4 * rank + i] = (uint8_t)(i * mul + i / 7);
    write_file(path, b, 4 + 4 * (size_t)rank + count, gz);
    free(b);
}

/* A NULL result whose message names origin and contains what. */
#define CHECK_NULL_FAIL(expr, origin, what)                                                        \
    do {                                                                                           \
        fv__error_clear();                                                                         \
        fv_dataset *d_ = (expr);                                                                   \
        CHECK(d_ == NULL);                                                                         \
        fv_dataset_free(d_);                                                                       \
        CHECK_STR_CONTAINS(fv_last_error(), origin);                                               \
        CHECK_STR_CONTAINS(fv_last_error(), what);                                                 \
    } while (0)

/* ---- IDX ----------------------------------------------------------------------------------- */

TEST(idx_images_and_labels_raw_and_gz)
{
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = tpath(gz ? "im.gz" : "im"), *lp = tpath(gz ? "lb.gz" : "lb");
        write_idx(ip, 3, (uint32_t[]){5, 4, 3}, 37, gz);
        write_idx(lp, 1, (uint32_t[]){5}, 2, gz); /* labels 0, 2, 4, 6, 8 */
        fv_dataset *d = fv_dataset_load_idx(ip, lp);
        CHECK(d != NULL);
        if (!d) {
            fprintf(stderr, "  %s\n", fv_last_error());
            continue;
        }
        int64_t dims[4];
        CHECK(fv_dataset_count(d) == 5);
        CHECK(fv_dataset_shape(d, dims) == 3 && dims[0] == 4 && dims[1] == 3 && dims[2] == 1);
        CHECK(fv_dataset_classes(d) == 9);
        const int32_t *l = fv_dataset_labels(d);
        CHECK(l && l[0] == 0 && l[1] == 2 && l[4] == 8);
        float x[12];
        CHECK_OK(fv_dataset_get(d, 2, x));
        for (int k = 0; k < 12; k++) {
            size_t i = 24 + (size_t)k;
            CHECK(x[k] == (float)(uint8_t)(i * 37 + i / 7) * (1.0f / 255.0f));
        }
        fv_dataset_free(d);
    }
}

TEST(idx_rank4_images_and_no_labels)
{
    const char *ip = tpath("rgb");
    write_idx(ip, 4, (uint32_t[]){2, 3, 3, 3}, 1, false);
    fv_dataset *d = fv_dataset_load_idx(ip, NULL);
    CHECK(d != NULL);
    int64_t dims[4];
    CHECK(fv_dataset_shape(d, dims) == 3 && dims[0] == 3 && dims[1] == 3 && dims[2] == 3);
    CHECK(fv_dataset_labels(d) == NULL && fv_dataset_classes(d) == 0);
    float x[27];
    CHECK_OK(fv_dataset_get(d, 1, x));
    CHECK(x[0] == (float)(uint8_t)(27 + 27 / 7) * (1.0f / 255.0f));
    fv_dataset_free(d);
}

TEST(idx_mismatched_files_name_both)
{
    const char *ip = tpath("imgs"), *lp = tpath("labs"), *l3 = tpath("lab3");
    write_idx(ip, 3, (uint32_t[]){5, 2, 2}, 1, false);
    write_idx(lp, 1, (uint32_t[]){4}, 1, false);
    fv__error_clear();
    CHECK(fv_dataset_load_idx(ip, lp) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "imgs has 5 images but");
    CHECK_STR_CONTAINS(fv_last_error(), "labs has 4 labels");
    write_idx(l3, 3, (uint32_t[]){5, 2, 2}, 1, false);
    CHECK_NULL_FAIL(fv_dataset_load_idx(ip, l3), "lab3", "labels must have rank 1");
    CHECK_NULL_FAIL(fv_dataset_load_idx(lp, NULL), "labs", "images must have rank 3");
    CHECK_NULL_FAIL(fv_dataset_load_idx(tpath("missing"), NULL), "missing", "cannot open");
    write_idx(ip, 3, (uint32_t[]){0, 2, 2}, 1, false);
    CHECK_NULL_FAIL(fv_dataset_load_idx(ip, NULL), "imgs", "no images");
    write_idx(ip, 3, (uint32_t[]){2, 0, 2}, 1, false);
    CHECK_NULL_FAIL(fv_dataset_load_idx(ip, NULL), "imgs", "must be >= 1");
}

TEST(idx_dir_mixed_gz_and_raw)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/mnist", tmpdir);
    mkdir(dir, 0700);
    char p[320];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    write_idx(p, 3, (uint32_t[]){6, 4, 4}, 3, true);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", dir);
    write_idx(p, 1, (uint32_t[]){6}, 1, false);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", dir);
    write_idx(p, 3, (uint32_t[]){2, 4, 4}, 5, false);

    fv_dataset *tr = (fv_dataset *)1, *te = (fv_dataset *)1;
    fv__error_clear();
    CHECK(fv_dataset_load_idx_dir(dir, &tr, &te) == FV_ERR_IO);
    CHECK(tr == NULL && te == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "mnist: no t10k-labels-idx1-ubyte or "
                                        "t10k-labels-idx1-ubyte.gz in this folder");
    /* the training set alone loads without the test files */
    CHECK_OK(fv_dataset_load_idx_dir(dir, &tr, NULL));
    CHECK(tr && fv_dataset_count(tr) == 6 && fv_dataset_classes(tr) == 6);
    fv_dataset_free(tr);

    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", dir);
    write_idx(p, 1, (uint32_t[]){2}, 4, true);
    CHECK_OK(fv_dataset_load_idx_dir(dir, &tr, &te));
    CHECK(tr && te && fv_dataset_count(tr) == 6 && fv_dataset_count(te) == 2);
    CHECK(te && fv_dataset_labels(te)[1] == 4);
    fv_dataset_free(tr);
    fv_dataset_free(te);

    fv__error_clear();
    CHECK(fv_dataset_load_idx_dir(tpath("nothere"), &tr, &te) == FV_ERR_IO);
    CHECK_STR_CONTAINS(fv_last_error(), "nothere: not a folder");
    CHECK(fv_dataset_load_idx_dir(dir, NULL, NULL) == FV_ERR_INVALID);
}

/* The committed test data, written by Python's gzip and struct (tests/data/make_test_data.sh):
 * an independent writer of IDX, .npy and CSV. Found next to this source file. */
static const char *data_path(const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    const char *slash = strrchr(__FILE__, '/');
    int dir = slash ? (int)(slash - __FILE__) : 0;
    snprintf(p, 512, "%.*s%sdata/%s", dir, __FILE__, slash ? "/" : "", name);
    return p;
}

TEST(python_written_data)
{
    /* Committed with the tests (tests/data/make_test_data.sh): missing is a broken checkout. */
    if (access(data_path("quad"), R_OK) != 0) {
        fprintf(stderr, "  %s not found\n", data_path("quad"));
        test_failed_checks++;
        return;
    }
    fv_dataset *tr = NULL, *te = NULL;
    CHECK_OK(fv_dataset_load_idx_dir(data_path("quad"), &tr, &te));
    if (!tr || !te) return;
    int64_t dims[4];
    CHECK(fv_dataset_count(tr) == 240 && fv_dataset_count(te) == 80);
    CHECK(fv_dataset_shape(tr, dims) == 3 && dims[0] == 8 && dims[1] == 8 && dims[2] == 1);
    CHECK(fv_dataset_classes(tr) == 4 && fv_dataset_classes(te) == 4);
    /* quad_x.npy holds the first 10 test images as float32 p / 255 */
    fv_dataset *x = fv_dataset_load_npy(data_path("quad_x.npy"));
    CHECK(x && fv_dataset_count(x) == 10);
    CHECK(x && fv_dataset_shape(x, dims) == 3 && dims[0] == 8 && dims[2] == 1);
    float a[64], b[64];
    for (int i = 0; x && i < 10; i++) {
        CHECK_OK(fv_dataset_get(te, i, a));
        CHECK_OK(fv_dataset_get(x, i, b));
        check_arrays("quad_x", a, b, 64, 0, 1.2e-7);
    }
    fv_dataset_free(x);
    fv_dataset_free(tr);
    fv_dataset_free(te);
    fv_dataset *c = fv_dataset_load_csv(data_path("tiny.csv"), "species");
    CHECK(c && fv_dataset_count(c) == 90 && fv_dataset_classes(c) == 3);
    CHECK(c && fv_dataset_shape(c, dims) == 1 && dims[0] == 4);
    fv_dataset_free(c);
}

/* ---- CSV ----------------------------------------------------------------------------------- */

TEST(csv_integer_labels_become_classes_and_targets)
{
    const char *p = tpath("c.csv");
    write_text(p, "f1,f2,label\n0.5,1,2\n1.5,2,0\n2.5,3,1\n");
    fv_dataset *d = fv_dataset_load_csv(p, NULL);
    CHECK(d != NULL);
    if (!d) return;
    int64_t dims[4];
    CHECK(fv_dataset_count(d) == 3 && fv_dataset_shape(d, dims) == 1 && dims[0] == 2);
    CHECK(fv_dataset_classes(d) == 3);
    const int32_t *l = fv_dataset_labels(d);
    CHECK(l && l[0] == 2 && l[1] == 0 && l[2] == 1);
    CHECK(d->targets && d->tdim == 1 && d->targets[0] == 2.0f && d->targets[2] == 1.0f);
    float x[2];
    CHECK_OK(fv_dataset_get(d, 1, x));
    CHECK(x[0] == 1.5f && x[1] == 2.0f);
    fv_dataset_free(d);

    /* label column named, in the middle */
    d = fv_dataset_load_csv(p, "f2");
    CHECK(d && fv_dataset_classes(d) == 4);
    if (d) {
        CHECK_OK(fv_dataset_get(d, 2, x));
        CHECK(x[0] == 2.5f && x[1] == 1.0f);
    }
    fv_dataset_free(d);
}

TEST(csv_float_labels_are_targets_only)
{
    const char *p = tpath("r.csv");
    write_text(p, "x,y\n1,0.5\n2,1.5\n");
    fv_dataset *d = fv_dataset_load_csv(p, NULL);
    CHECK(d && fv_dataset_labels(d) == NULL && fv_dataset_classes(d) == 0);
    CHECK(d && d->targets && d->targets[1] == 1.5f);
    fv_dataset_free(d);
    write_text(p, "x,y\n1,70000\n2,1\n"); /* too large to be a class id */
    d = fv_dataset_load_csv(p, NULL);
    CHECK(d && fv_dataset_labels(d) == NULL && d->targets[0] == 70000.0f);
    fv_dataset_free(d);
    write_text(p, "x,y\n1,-1\n2,1\n");
    d = fv_dataset_load_csv(p, NULL);
    CHECK(d && fv_dataset_labels(d) == NULL);
    fv_dataset_free(d);
}

TEST(csv_errors_name_file_and_place)
{
    const char *p = tpath("e.csv");
    write_text(p, "a,b\n1,2\n");
    CHECK_NULL_FAIL(fv_dataset_load_csv(p, "zz"), "e.csv",
                    "no column named \"zz\"; the columns are \"a\", \"b\"");
    write_text(p, "a\n1\n");
    CHECK_NULL_FAIL(fv_dataset_load_csv(p, NULL), "e.csv", "at least 2");
    write_text(p, "a,b\n");
    CHECK_NULL_FAIL(fv_dataset_load_csv(p, NULL), "e.csv", "no data rows");
    write_text(p, "a,b\n1,2\n1e300,3\n");
    CHECK_NULL_FAIL(fv_dataset_load_csv(p, NULL), "e.csv",
                    "line 3, column \"a\": 1e+300 does not fit in a float32");
    write_text(p, "a,b\n1,2\n3,x\n");
    CHECK_NULL_FAIL(fv_dataset_load_csv(p, NULL), "e.csv:3: column 'b': 'x' is not a number",
                    "other labels are numbers (line 2: 2)");
    write_text(p, "a,b\nx,2\n");
    CHECK_NULL_FAIL(fv_dataset_load_csv(p, NULL), "e.csv", "line 2, column \"a\"");
    write_text(p, "");
    CHECK_NULL_FAIL(fv_dataset_load_csv(p, NULL), "e.csv", "empty");
}

TEST(csv_sklearn_iris)
{
    const char *p = "/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv";
    if (access(p, R_OK) != 0) {
        SKIP("%s not found", p);
    }
    fv_dataset *d = fv_dataset_load_csv(p, NULL);
    CHECK(d != NULL);
    if (!d) return;
    int64_t dims[4];
    CHECK(fv_dataset_count(d) == 150 && fv_dataset_shape(d, dims) == 1 && dims[0] == 4);
    CHECK(fv_dataset_classes(d) == 3);
    float x[4];
    CHECK_OK(fv_dataset_get(d, 0, x));
    CHECK(x[0] == 5.1f && x[1] == 3.5f && x[2] == 1.4f && x[3] == 0.2f);
    fv_dataset_free(d);
}

/* ---- .npy ---------------------------------------------------------------------------------- */

TEST(npy_features_and_images)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    const char *p = tpath("f.npy");
    CHECK_OK(fv__npy_write_f32(p, 2, (int64_t[]){3, 2}, x));
    fv_dataset *d = fv_dataset_load_npy(p);
    int64_t dims[4];
    CHECK(d && fv_dataset_count(d) == 3 && fv_dataset_shape(d, dims) == 1 && dims[0] == 2);
    CHECK(d && fv_dataset_labels(d) == NULL);
    float o[6];
    if (d) CHECK_OK(fv_dataset_get(d, 2, o));
    CHECK(d && o[0] == 5 && o[1] == 6);
    fv_dataset_free(d);

    CHECK_OK(fv__npy_write_f32(p, 3, (int64_t[]){1, 2, 3}, x));
    d = fv_dataset_load_npy(p);
    CHECK(d && fv_dataset_shape(d, dims) == 3 && dims[0] == 2 && dims[1] == 3 && dims[2] == 1);
    fv_dataset_free(d);

    CHECK_OK(fv__npy_write_f32(p, 4, (int64_t[]){1, 1, 2, 3}, x));
    d = fv_dataset_load_npy(p);
    CHECK(d && fv_dataset_shape(d, dims) == 3 && dims[0] == 1 && dims[1] == 2 && dims[2] == 3);
    fv_dataset_free(d);

    /* uint8 images, scaled by 1/255 */
    const char hdr[] = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }";
    uint8_t b[128 + 8];
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = 118, b[9] = 0;
    memset(b + 10, ' ', 118);
    memcpy(b + 10, hdr, sizeof hdr - 1);
    b[127] = '\n';
    for (int i = 0; i < 8; i++)
        b[128 + i] = (uint8_t)(i * 36);
    const char *q = tpath("u.npy");
    write_file(q, b, sizeof b, false);
    d = fv_dataset_load_npy(q);
    CHECK(d && d->u8 && fv_dataset_shape(d, dims) == 3 && dims[2] == 1);
    if (d) CHECK_OK(fv_dataset_get(d, 1, o));
    CHECK(d && o[3] == 252.0f * (1.0f / 255.0f));
    fv_dataset_free(d);
}

TEST(npy_bad_arrays)
{
    float x[4] = {1, 2, NAN, 4};
    const char *p = tpath("b.npy");
    CHECK_OK(fv__npy_write_f32(p, 1, (int64_t[]){4}, x));
    CHECK_NULL_FAIL(fv_dataset_load_npy(p), "b.npy", "rank 1");
    CHECK_OK(fv__npy_write_f32(p, 2, (int64_t[]){2, 2}, x));
    CHECK_NULL_FAIL(fv_dataset_load_npy(p), "b.npy", "sample 1 holds a NaN");
    CHECK_OK(fv__npy_write_f32(p, 5, (int64_t[]){1, 1, 1, 2, 2}, x));
    CHECK_NULL_FAIL(fv_dataset_load_npy(p), "b.npy", "rank 5");
    CHECK_OK(fv__npy_write_f32(p, 2, (int64_t[]){0, 4}, x));
    CHECK_NULL_FAIL(fv_dataset_load_npy(p), "b.npy", "no samples");
}

/* ---- memory, splits, gather ---------------------------------------------------------------- */

TEST(from_memory_copies)
{
    uint8_t x[12];
    int32_t l[3] = {1, 0, 4};
    for (int i = 0; i < 12; i++)
        x[i] = (uint8_t)(i * 20);
    fv_dataset *d = fv_dataset_from_u8(3, 3, (int64_t[]){2, 2, 1}, x, l);
    CHECK(d && fv_dataset_classes(d) == 5);
    x[4] = 0, l[1] = 3; /* the dataset holds copies */
    float o[4];
    if (d) CHECK_OK(fv_dataset_get(d, 1, o));
    CHECK(d && o[0] == 80.0f * (1.0f / 255.0f) && fv_dataset_labels(d)[1] == 0);
    fv_dataset_free(d);

    float f[6] = {1, 2, 3, 4, 5, 6};
    d = fv_dataset_from_f32(2, 1, (int64_t[]){3}, f, NULL);
    CHECK(d && fv_dataset_labels(d) == NULL);
    if (d) CHECK_OK(fv_dataset_get(d, 1, o));
    CHECK(d && o[0] == 4 && o[2] == 6);
    fv__error_clear();
    CHECK(fv_dataset_get(d, 2, o) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "sample 2 is outside 0..1");
    CHECK(fv_dataset_get(d, -1, o) == FV_ERR_INVALID);
    fv_dataset_free(d);

    CHECK_NULL_FAIL(fv_dataset_from_f32(0, 1, (int64_t[]){3}, f, NULL), "fv_dataset_from_f32",
                    "n >= 1");
    CHECK_NULL_FAIL(fv_dataset_from_f32(2, 1, (int64_t[]){0}, f, NULL), "fv_dataset_from_f32",
                    ">= 1");
    CHECK_NULL_FAIL(fv_dataset_from_f32(2, 5, (int64_t[]){1, 1, 1, 1, 3}, f, NULL),
                    "fv_dataset_from_f32", "rank 1 to 4");
    CHECK_NULL_FAIL(fv_dataset_from_f32(2, 1, (int64_t[]){3}, f, (int32_t[]){0, -2}),
                    "fv_dataset_from_f32", "label -2 of sample 1 is negative");
    CHECK_NULL_FAIL(fv_dataset_from_u8(1, 3, (int64_t[]){INT64_MAX / 2, 4, 1}, x, NULL),
                    "fv_dataset_from_u8", "overflow");
    fv_dataset_free(NULL);
}

TEST(split_tail_follows_keras)
{
    float f[10];
    int32_t l[10];
    for (int i = 0; i < 10; i++)
        f[i] = (float)i, l[i] = i % 3;
    fv_dataset *d = fv_dataset_from_f32(10, 1, (int64_t[]){1}, f, l);
    /* Keras: split_at = floor(10 * (1 - 0.25)) = 7: samples 7, 8, 9 validate */
    fv_dataset *v = fv_dataset_split_tail(d, 0.25);
    CHECK(v && fv_dataset_count(d) == 7 && fv_dataset_count(v) == 3);
    float o;
    if (v) CHECK_OK(fv_dataset_get(v, 0, &o));
    CHECK(v && o == 7.0f && fv_dataset_labels(v)[2] == 0);
    CHECK(v && fv_dataset_classes(v) == 3); /* the problem's class count, kept */
    CHECK(fv_dataset_get(d, 7, &o) == FV_ERR_INVALID);
    fv_dataset_free(v);

    v = fv_dataset_split_tail(d, 0.2); /* floor(7 * 0.8) = 5 */
    CHECK(v && fv_dataset_count(d) == 5 && fv_dataset_count(v) == 2);
    fv_dataset_free(v);

    CHECK_NULL_FAIL(fv_dataset_split_tail(d, 0.0), "validation_split", "between 0 and 1");
    CHECK_NULL_FAIL(fv_dataset_split_tail(d, 1.0), "validation_split", "between 0 and 1");
    CHECK_NULL_FAIL(fv_dataset_split_tail(d, NAN), "validation_split", "between 0 and 1");
    CHECK_NULL_FAIL(fv_dataset_split_tail(d, 1e-20), "5 samples", "too few"); /* 5·(1-1e-20) = 5 */
    fv_dataset_free(d);

    d = fv_dataset_from_f32(1, 1, (int64_t[]){1}, f, NULL);
    CHECK_NULL_FAIL(fv_dataset_split_tail(d, 0.5), "1 samples", "too few");
    fv_dataset_free(d);
}

TEST(head_clamps)
{
    float f[4] = {1, 2, 3, 4};
    fv_dataset *d = fv_dataset_from_f32(4, 1, (int64_t[]){1}, f, (int32_t[]){0, 1, 2, 3});
    fv_dataset *h = fv_dataset_head(d, 2);
    CHECK(h && fv_dataset_count(h) == 2 && fv_dataset_labels(h)[1] == 1);
    fv_dataset_free(h);
    h = fv_dataset_head(d, 100);
    CHECK(h && fv_dataset_count(h) == 4);
    fv_dataset_free(h);
    CHECK_NULL_FAIL(fv_dataset_head(d, 0), "fv_dataset_head", "n >= 1");
    fv_dataset_free(d);
}

/* A large gather (512 × 784 floats: threaded) equals one-sample reads, for u8 and f32 data, labels
 * and targets. */
TEST(gather_parallel_matches_get)
{
    const int64_t n = 300, S = 28 * 28;
    uint8_t *x = malloc((size_t)(n * S));
    int32_t *l = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n * S; i++)
        x[i] = (uint8_t)(i * 2654435761u >> 24);
    for (int64_t i = 0; i < n; i++)
        l[i] = (int32_t)(i % 10);
    fv_dataset *d = fv_dataset_from_u8(n, 3, (int64_t[]){28, 28, 1}, x, l);
    int64_t count = 512, *idx = malloc((size_t)count * sizeof(int64_t));
    for (int64_t j = 0; j < count; j++)
        idx[j] = (j * 97 + 13) % n;
    float *batch = malloc((size_t)(count * S) * sizeof(float)), *one = malloc((size_t)S * 4);
    int32_t *lb = malloc((size_t)count * sizeof(int32_t));
    fv_set_threads(4);
    fv__dataset_gather(d, idx, 0, count, batch, lb, NULL);
    int bad = 0;
    for (int64_t j = 0; j < count; j++) {
        fv_dataset_get(d, idx[j], one);
        if (memcmp(one, batch + j * S, (size_t)S * 4) != 0 || lb[j] != l[idx[j]]) bad++;
    }
    CHECK(bad == 0);
    CHECK(batch[0] == (float)x[idx[0] * S] * (1.0f / 255.0f));
    /* first + 0..count without an index list */
    fv__dataset_gather(d, NULL, 10, 200, batch, lb, NULL);
    CHECK(lb[0] == 0 && lb[5] == 5 && batch[S] == (float)x[11 * S] * (1.0f / 255.0f));
    fv_set_threads(0);
    fv_dataset_free(d);

    /* float targets travel with their samples */
    const char *p = tpath("g.csv");
    write_text(p, "a,t\n1,0.5\n2,1.5\n3,2.5\n");
    d = fv_dataset_load_csv(p, "t");
    float xs[2], ts[2];
    fv__dataset_gather(d, (int64_t[]){2, 0}, 0, 2, xs, NULL, ts);
    CHECK(xs[0] == 3 && xs[1] == 1 && ts[0] == 2.5f && ts[1] == 0.5f);
    fv_dataset_free(d);
    free(x), free(l), free(idx), free(batch), free(one), free(lb);
}

/* The thread count's defaults: FOVEA_THREADS, else OpenMP's OMP_NUM_THREADS (its first level),
 * else every core; an explicit count wins over both. */
TEST(thread_count_from_the_environment)
{
    if (fv_set_threads(7) != 7) return; /* built without OpenMP: always one thread */
    const char *fv = getenv("FOVEA_THREADS"), *omp = getenv("OMP_NUM_THREADS");
    char *fv_saved = fv ? strdup(fv) : NULL, *omp_saved = omp ? strdup(omp) : NULL;
    unsetenv("FOVEA_THREADS");
    setenv("OMP_NUM_THREADS", "3", 1);
    CHECK(fv_set_threads(0) == 3);
    setenv("OMP_NUM_THREADS", "5,2", 1);
    CHECK(fv_set_threads(0) == 5);
    setenv("FOVEA_THREADS", "2", 1);
    CHECK(fv_set_threads(0) == 2);
    CHECK(fv_set_threads(7) == 7);
    if (fv_saved)
        setenv("FOVEA_THREADS", fv_saved, 1);
    else
        unsetenv("FOVEA_THREADS");
    if (omp_saved)
        setenv("OMP_NUM_THREADS", omp_saved, 1);
    else
        unsetenv("OMP_NUM_THREADS");
    free(fv_saved), free(omp_saved);
    fv_set_threads(0);
}

int main(void)
{
    test_tmpdir("dataset", tmpdir, sizeof tmpdir);
    RUN(idx_images_and_labels_raw_and_gz);
    RUN(idx_rank4_images_and_no_labels);
    RUN(idx_mismatched_files_name_both);
    RUN(idx_dir_mixed_gz_and_raw);
    RUN(python_written_data);
    RUN(csv_integer_labels_become_classes_and_targets);
    RUN(csv_float_labels_are_targets_only);
    RUN(csv_errors_name_file_and_place);
    RUN(csv_sklearn_iris);
    RUN(npy_features_and_images);
    RUN(npy_bad_arrays);
    RUN(from_memory_copies);
    RUN(split_tail_follows_keras);
    RUN(head_clamps);
    RUN(gather_parallel_matches_get);
    RUN(thread_count_from_the_environment);
    remove_tree(tmpdir);
    return TEST_SUMMARY();
}
