/* test_inputs.c — inputs are checked by meaning, not by count: arrays by their shape against the
 * model's input, labels as class indices with the file and line of a bad one, class names kept
 * and saved with the model, and every text file read the same way (byte-order mark, LF, CRLF
 * and CR line ends; NUL bytes and invalid UTF-8 refused with line and byte).
 */
#include "fovea.h"
#include "io/dataset.h"
#include "io/io.h"
#include "test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

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
    if (!f) exit(2);
    if (len) fwrite(buf, 1, len, f);
    fclose(f);
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

/* The text with every "\n" replaced by eol, and bom in front. malloc'd. */
static char *with_eol(const char *text, const char *eol, bool bom)
{
    size_t n = strlen(text), e = strlen(eol);
    char *out = malloc(3 + n * e + 1), *o = out;
    if (bom) memcpy(o, "\xEF\xBB\xBF", 3), o += 3;
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            memcpy(o, eol, e), o += e;
        else
            *o++ = *p;
    }
    *o = '\0';
    return out;
}

/* A float32 .npy file of shape dims[0..rank) holding (i * 0.37) mod 1. */
static void write_npy(const char *path, int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((double)i * 0.37 - (double)(int64_t)((double)i * 0.37));
    if (fv__npy_write_f32(path, rank, dims, x) != FV_OK) exit(2);
    free(x);
}

/* An IDX file of unsigned bytes of shape dims[0..rank), data[i] = i * mul (mod 256). */
static void write_idx(const char *path, int rank, const int64_t *dims, unsigned mul)
{
    fv_idx idx = {.rank = rank, .count = 1};
    for (int i = 0; i < rank; i++) {
        idx.dims[i] = dims[i];
        idx.count *= dims[i];
    }
    idx.data = malloc((size_t)idx.count);
    for (int64_t i = 0; i < idx.count; i++)
        idx.data[i] = (uint8_t)((uint64_t)i * mul);
    if (fv__idx_write(path, &idx) != FV_OK) exit(2);
    free(idx.data);
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
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static fv_model *model_of(const char *text)
{
    fv_model *m = fv_model_parse_string(text, "m.fv");
    if (!m) {
        fprintf(stderr, "model: %s\n", fv_last_error());
        exit(2);
    }
    return m;
}

/* ---- text ---------------------------------------------------------------------------------- */

TEST(text_reader_takes_bom_and_every_line_end)
{
    const char data[] = "\xEF\xBB\xBF"
                        "a\r\nb\rc\nd\xC3\xA9";
    fv_text t;
    CHECK_OK(fv__text_init(&t, data, sizeof data - 1, "t"));
    const char *want[] = {"a", "b", "c", "d\xC3\xA9"};
    const char *line;
    size_t len;
    int n = 0;
    while (fv__text_line(&t, &line, &len)) {
        CHECK(n < 4 && len == strlen(want[n]) && memcmp(line, want[n], len) == 0);
        CHECK(t.line == n + 1);
        n++;
    }
    CHECK(n == 4);
    fv__text_free(&t);
    /* CR CR is two line ends (an empty line between), CR LF one */
    CHECK_OK(fv__text_init(&t, "x\r\ry\r\n", 6, "t"));
    CHECK(strcmp(t.buf, "x\n\ny\n") == 0);
    fv__text_free(&t);
}

TEST(text_reader_refuses_nul_and_invalid_utf8_with_line_and_byte)
{
    static const struct {
        const char *data;
        size_t len;
        const char *want;
    } bad[] = {
        {"ab\ncd\0e", 8, "t:2: byte 5 of the file: a NUL byte"},
        {"ab\r\nc\xFF", 6, "t:2: byte 5 of the file: 0xff is not valid UTF-8"},
        {"\xC0\x80", 2, "t:1: byte 0 of the file: 0xc0"},             /* overlong NUL */
        {"x\xE0\x80\x80", 4, "t:1: byte 1 of the file: 0xe0"},        /* overlong */
        {"\n\n\xED\xA0\x80", 5, "t:3: byte 2 of the file: 0xed"},     /* a surrogate */
        {"\xF4\x90\x80\x80", 4, "t:1: byte 0 of the file: 0xf4"},     /* above U+10FFFF */
        {"\xE2\x82", 2, "t:1: byte 0 of the file: 0xe2"},             /* cut short */
        {"\xEF\xBB\xBF\xEF\xBB", 5, "t:1: byte 3 of the file: 0xef"}, /* a BOM, then half of one */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fv_text t;
        CHECK(fv__text_init(&t, bad[i].data, bad[i].len, "t") == FV_ERR_FORMAT);
        CHECK_STR_CONTAINS(fv_last_error(), bad[i].want);
        fv__text_free(&t);
    }
}

TEST(model_files_with_bom_crlf_and_cr_parse_alike)
{
    const char *text = "# a comment\ninput shape=4\ndense units=3 activation=softmax\n"
                       "compile loss=sparse_categorical_crossentropy optimizer=adam\n";
    fv_model *plain = model_of(text);
    char *want = fv_model_to_text(plain);
    static const struct {
        const char *eol;
        bool bom;
    } forms[] = {{"\n", true}, {"\r\n", false}, {"\r\n", true}, {"\r", false}, {"\r", true}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char *t = with_eol(text, forms[i].eol, forms[i].bom);
        const char *p = tpath("m.fv");
        write_text(p, t);
        fv_model *m = fv_model_parse_file(p);
        CHECK(m != NULL);
        if (!m) fprintf(stderr, "  form %zu: %s\n", i, fv_last_error());
        char *got = m ? fv_model_to_text(m) : NULL;
        CHECK(got && strcmp(got, want) == 0);
        free(got);
        fv_model_free(m);
        /* the same through fv_model_parse_string */
        m = fv_model_parse_string(t, "s.fv");
        CHECK(m != NULL);
        fv_model_free(m);
        free(t);
    }
    /* errors keep the line a user counts, whatever the line ends */
    char *t = with_eol("input shape=4\n\ndense units=3 activation=bogus\n", "\r", true);
    write_text(tpath("bad.fv"), t);
    CHECK(fv_model_parse_file(tpath("bad.fv")) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "bad.fv:3: ");
    CHECK_STR_CONTAINS(fv_last_error(), "bogus");
    free(t);
    /* not text */
    write_bytes(tpath("nul.fv"), "input shape=4\n\0", 15);
    CHECK(fv_model_parse_file(tpath("nul.fv")) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "nul.fv:2: byte 14 of the file: a NUL byte");
    write_text(tpath("latin1.fv"), "input shape=4\ndense units=3 name=caf\xE9\n");
    CHECK(fv_model_parse_file(tpath("latin1.fv")) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(),
                       "latin1.fv:2: byte 36 of the file: 0xe9 is not valid UTF-8");
    free(want);
    fv_model_free(plain);
}

TEST(csv_files_with_bom_crlf_and_cr_load_alike)
{
    const char *text = "a,b,label\n1,2,0\n\n3,4,1\n5,6,2\n";
    static const struct {
        const char *eol;
        bool bom;
    } forms[] = {{"\n", false}, {"\n", true}, {"\r\n", true}, {"\r", false}, {"\r", true}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char *t = with_eol(text, forms[i].eol, forms[i].bom);
        write_text(tpath("d.csv"), t);
        fv_dataset *d = fv_dataset_load_csv(tpath("d.csv"), NULL);
        CHECK(d != NULL);
        if (d) {
            CHECK(fv_dataset_count(d) == 3 && fv_dataset_classes(d) == 3);
            CHECK(strcmp(fv_dataset_label_column(d), "label") == 0);
            CHECK(d->lines[0] == 2 && d->lines[1] == 4 && d->lines[2] == 5);
            float x[2];
            CHECK_OK(fv_dataset_get(d, 2, x));
            CHECK(x[0] == 5 && x[1] == 6);
        }
        fv_dataset_free(d);
        free(t);
    }
    char *t = with_eol("a,label\n1,0\n2,x y\n", "\r", true);
    write_text(tpath("e.csv"), t);
    CHECK(fv_dataset_load_csv(tpath("e.csv"), NULL) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "e.csv:3: column 'label': 'x y' is not a number");
    free(t);
    write_bytes(tpath("z.csv"), "a,label\n1,0\n\0", 13);
    CHECK(fv_dataset_load_csv(tpath("z.csv"), NULL) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "z.csv:3: byte 12 of the file: a NUL byte");
}

TEST(history_files_with_bom_crlf_and_cr_read_alike)
{
    const char *text = "epoch,accuracy,loss\n0,0.5,1.25\n1,0.75,0.5\n";
    static const char *const eols[] = {"\n", "\r\n", "\r"};
    for (int i = 0; i < 3; i++) {
        char *t = with_eol(text, eols[i], i != 1);
        write_text(tpath("h.csv"), t);
        fv_history *h = fv_history_read_csv(tpath("h.csv"));
        CHECK(h != NULL);
        if (h) {
            CHECK(fv_history_epochs(h) == 2 && fv_history_columns(h) == 2);
            CHECK(strcmp(fv_history_column_name(h, 0), "accuracy") == 0);
            CHECK(fv_history_get(h, "loss")[1] == 0.5);
        }
        fv_history_free(h);
        free(t);
    }
}

/* ---- shapes -------------------------------------------------------------------------------- */

static const char *const cnn_443 = "input shape=4,4,3\nflatten\ndense units=2 activation=softmax\n"
                                   "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

TEST(an_array_must_have_the_models_input_shape)
{
    fv_model *m = model_of(cnn_443);
    const char *p = tpath("x.npy");
    write_npy(p, 4, (int64_t[]){2, 3, 4, 4}); /* NCHW: the same count, another shape */
    fv_dataset *d = fv_dataset_load_npy(p);
    float out[4];
    CHECK(fv_model_predict(m, d, 2, out) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(),
                       "x.npy has shape (2, 3, 4, 4); the model's input is (None, 4, 4, 3): "
                       "channels last");
    CHECK_STR_CONTAINS(fv_last_error(), "looks channels first");
    double loss;
    CHECK(fv_model_evaluate(m, d, 2, &loss, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "x.npy has shape (2, 3, 4, 4)");
    int64_t dims[4];
    int rank = fv_model_input_shape(m, 0, dims);
    CHECK(rank == 3 && dims[0] == 4 && dims[1] == 4 && dims[2] == 3);
    CHECK(fv_dataset_check_shape(d, rank, dims) == FV_ERR_SHAPE);
    fv_dataset_free(d);

    write_npy(p, 4, (int64_t[]){2, 4, 4, 3});
    d = fv_dataset_load_npy(p);
    CHECK_OK(fv_dataset_check_shape(d, rank, dims));
    CHECK_OK(fv_model_predict(m, d, 2, out));
    fv_dataset_free(d);

    /* a flat row of 48 values is not an image */
    write_npy(p, 2, (int64_t[]){2, 48});
    d = fv_dataset_load_npy(p);
    CHECK(fv_model_predict(m, d, 2, out) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "x.npy has shape (2, 48); the model's input is "
                                        "(None, 4, 4, 3)");
    CHECK_STR_CONTAINS(fv_last_error(), "reshape the array to (N, 4, 4, 3)");
    fv_dataset_free(d);
    fv_model_free(m);
}

TEST(one_channel_images_come_with_or_without_the_channel_axis)
{
    fv_model *m = model_of("input shape=3,3,1\nflatten\ndense units=2 activation=softmax\n"
                           "compile loss=sparse_categorical_crossentropy optimizer=adam\n");
    float out[4];
    const char *p = tpath("g.npy");
    write_npy(p, 3, (int64_t[]){2, 3, 3});
    fv_dataset *d = fv_dataset_load_npy(p);
    CHECK_OK(fv_model_predict(m, d, 2, out));
    fv_dataset_free(d);
    write_npy(p, 4, (int64_t[]){2, 3, 3, 1});
    d = fv_dataset_load_npy(p);
    CHECK_OK(fv_model_predict(m, d, 2, out));
    fv_dataset_free(d);
    write_npy(p, 4, (int64_t[]){2, 1, 3, 3});
    d = fv_dataset_load_npy(p);
    CHECK(fv_model_predict(m, d, 2, out) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "g.npy has shape (2, 1, 3, 3); the model's input is "
                                        "(None, 3, 3, 1): channels last (N, H, W, C), or "
                                        "(N, H, W) for one channel");
    fv_dataset_free(d);
    /* IDX: (N, H, W) of another size; (N, H, W, C) with C = 1 */
    const char *ip = tpath("im.idx");
    write_idx(ip, 3, (int64_t[]){2, 9, 1}, 3);
    d = fv_dataset_load_idx(ip, NULL);
    CHECK(fv_model_predict(m, d, 2, out) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "im.idx has shape (2, 9, 1); the model's input is "
                                        "(None, 3, 3, 1)");
    fv_dataset_free(d);
    write_idx(ip, 4, (int64_t[]){2, 3, 3, 1}, 3);
    d = fv_dataset_load_idx(ip, NULL);
    CHECK_OK(fv_model_predict(m, d, 2, out));
    fv_dataset_free(d);
    /* from memory: (H, W) and (H, W, 1) alike, not (H·W) */
    float x[18] = {0};
    d = fv_dataset_from_f32(2, 2, (int64_t[]){3, 3}, x, NULL);
    CHECK_OK(fv_model_predict(m, d, 2, out));
    fv_dataset_free(d);
    d = fv_dataset_from_f32(2, 1, (int64_t[]){9}, x, NULL);
    CHECK(fv_model_predict(m, d, 2, out) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "predict has shape (2, 9); the model's input is");
    fv_dataset_free(d);
    fv_model_free(m);
}

TEST(a_features_input_takes_rows_only)
{
    fv_model *m = model_of("input shape=4\ndense units=3 activation=softmax\n"
                           "compile loss=sparse_categorical_crossentropy optimizer=adam\n");
    float out[6];
    const char *p = tpath("f.npy");
    write_npy(p, 2, (int64_t[]){2, 4});
    fv_dataset *d = fv_dataset_load_npy(p);
    CHECK_OK(fv_model_predict(m, d, 2, out));
    fv_dataset_free(d);
    /* images of four pixels are not flattened into rows */
    write_npy(p, 3, (int64_t[]){2, 2, 2});
    d = fv_dataset_load_npy(p);
    CHECK(fv_model_predict(m, d, 2, out) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "f.npy has shape (2, 2, 2); the model's input is "
                                        "(None, 4): one row of 4 features per sample");
    CHECK_STR_CONTAINS(fv_last_error(), "images are not flattened");
    fv_dataset_free(d);
    write_idx(tpath("i.idx"), 3, (int64_t[]){2, 2, 2}, 1);
    write_idx(tpath("l.idx"), 1, (int64_t[]){2}, 1);
    d = fv_dataset_load_idx(tpath("i.idx"), tpath("l.idx"));
    fv_fit_opts o = fv_fit_defaults();
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(),
                       "i.idx has shape (2, 2, 2); the model's input is (None, 4)");
    fv_dataset_free(d);
    fv_model_free(m);
}

/* ---- labels -------------------------------------------------------------------------------- */

static const char *const mlp3 = "input shape=2\ndense units=3 activation=softmax\n"
                                "compile loss=sparse_categorical_crossentropy optimizer=adam\n";

/* Fit and evaluate on a CSV whose label column holds `third` on the third data row (line 4). */
static void check_bad_label(const char *third, const char *want)
{
    char text[256];
    snprintf(text, sizeof text, "x,y,label\n0,1,0\n1,0,1\n1,1,%s\n0,0,2\n", third);
    const char *p = tpath("data.csv");
    write_text(p, text);
    fv_model *m = model_of(mlp3);
    fv_dataset *d = fv_dataset_load_csv(p, NULL);
    CHECK(d != NULL);
    fv_fit_opts o = fv_fit_defaults();
    double loss;
    CHECK(fv_model_fit(m, d, &o, NULL) != FV_OK);
    CHECK_STR_CONTAINS(fv_last_error(), want);
    CHECK(fv_model_evaluate(m, d, 4, &loss, NULL) != FV_OK);
    CHECK_STR_CONTAINS(fv_last_error(), want);
    fv_dataset_free(d);
    fv_model_free(m);
}

TEST(every_label_is_a_class_index_named_by_file_line_and_column)
{
    check_bad_label("-1", "data.csv:4: column 'label': -1 is not a class index in [0, 3)");
    check_bad_label("1.5", "data.csv:4: column 'label': 1.5 is not a class index in [0, 3)");
    check_bad_label("3", "data.csv:4: column 'label': 3 is not a class index in [0, 3)");
    check_bad_label("70000", "data.csv:4: column 'label': 70000 is not a class index in [0, 3)");
    /* a word among numbers is refused as the table is read */
    write_text(tpath("data.csv"), "x,y,label\n0,1,0\n1,0,1\n1,1,two\n0,0,2\n");
    CHECK(fv_dataset_load_csv(tpath("data.csv"), NULL) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "data.csv:4: column 'label': 'two' is not a number");
    /* another label column, named */
    write_text(tpath("data.csv"), "k,x,y\n0,0,1\n-2,1,0\n");
    fv_dataset *d = fv_dataset_load_csv(tpath("data.csv"), "k");
    fv_model *m = model_of(mlp3);
    double loss;
    CHECK(fv_model_evaluate(m, d, 4, &loss, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(),
                       "data.csv:3: column 'k': -2 is not a class index in [0, 3)");
    fv_dataset_free(d);
    /* valid labels, and float targets for a regression, still load and fit */
    write_text(tpath("data.csv"), "x,y,label\n0,1,0\n1,0,1\n1,1,2\n");
    d = fv_dataset_load_csv(tpath("data.csv"), NULL);
    fv_fit_opts o = fv_fit_defaults();
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    fv_dataset_free(d);
    fv_model_free(m);
    m = model_of("input shape=2\ndense units=1\ncompile loss=mse optimizer=adam\n");
    write_text(tpath("r.csv"), "x,y,t\n0,1,-1.5\n1,0,0.25\n");
    d = fv_dataset_load_csv(tpath("r.csv"), NULL);
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    fv_dataset_free(d);
    fv_model_free(m);
}

TEST(idx_labels_beyond_the_classes_name_the_sample)
{
    write_idx(tpath("im"), 3, (int64_t[]){4, 2, 1}, 1);
    write_idx(tpath("lb"), 1, (int64_t[]){4}, 3); /* 0, 3, 6, 9 */
    fv_dataset *d = fv_dataset_load_idx(tpath("im"), tpath("lb"));
    fv_model *m = model_of("input shape=2,1,1\nflatten\ndense units=4 activation=softmax\n"
                           "compile loss=sparse_categorical_crossentropy optimizer=adam\n");
    fv_fit_opts o = fv_fit_defaults();
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "lb: sample 2 (counting from 0): 6 is not a class index in "
                                        "[0, 4)");
    fv_model_free(m);
    /* a single sigmoid unit: two classes */
    m = model_of("input shape=2,1,1\nflatten\ndense units=1 activation=sigmoid\n"
                 "compile loss=binary_crossentropy optimizer=adam\n");
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "lb: sample 1 (counting from 0): 3 is not a class index in "
                                        "[0, 2)");
    fv_model_free(m);
    fv_dataset_free(d);
}

TEST(class_names_become_sorted_indices_and_travel_with_the_model)
{
    const char *p = tpath("iris.csv");
    write_text(p, "a,b,species\n1,2,virginica\n3,4,setosa\n5,6,versicolor\n7,8,setosa\n");
    fv_dataset *d = fv_dataset_load_csv(p, NULL);
    CHECK(d != NULL);
    int64_t n = 0;
    const char *const *names = fv_dataset_class_names(d, &n);
    CHECK(n == 3 && strcmp(names[0], "setosa") == 0 && strcmp(names[1], "versicolor") == 0 &&
          strcmp(names[2], "virginica") == 0);
    const int32_t *y = fv_dataset_labels(d);
    CHECK(y[0] == 2 && y[1] == 0 && y[2] == 1 && y[3] == 0);
    CHECK(fv_dataset_classes(d) == 3);

    fv_model *m = model_of(mlp3);
    fv_fit_opts o = fv_fit_defaults();
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    CHECK_OK(fv_model_set_labels(m, fv_dataset_label_column(d), names, n));
    const char *saved = tpath("iris.safetensors");
    CHECK_OK(fv_model_save(m, saved));
    fv_model *back = fv_model_load(saved);
    CHECK(back != NULL);
    int64_t nb = 0;
    const char *const *bn = fv_model_class_names(back, &nb);
    CHECK(nb == 3 && strcmp(bn[2], "virginica") == 0);
    CHECK(strcmp(fv_model_label_column(back), "species") == 0);

    /* a test table with a subset of the names, in another order, gets the model's indices */
    write_text(tpath("test.csv"), "a,b,species\n1,2,virginica\n3,4,virginica\n5,6,setosa\n");
    fv_dataset *t = fv_dataset_load_csv(tpath("test.csv"), NULL);
    CHECK(fv_dataset_labels(t)[0] == 1); /* "virginica" is 1 of its own two names */
    CHECK_OK(fv_dataset_use_class_names(t, bn, nb));
    CHECK(fv_dataset_labels(t)[0] == 2 && fv_dataset_labels(t)[2] == 0);
    double loss;
    CHECK_OK(fv_model_evaluate(back, t, 4, &loss, NULL));
    fv_dataset_free(t);
    /* a name the model does not know */
    write_text(tpath("test.csv"), "a,b,species\n1,2,setosa\n3,4,virginia\n");
    t = fv_dataset_load_csv(tpath("test.csv"), NULL);
    CHECK(fv_dataset_use_class_names(t, bn, nb) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "test.csv:3: column 'species': 'virginia' is not one of "
                                        "the model's classes (setosa, versicolor, virginica)");
    /* names for a model trained on numbers */
    CHECK(fv_dataset_use_class_names(t, NULL, 0) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "trained on class indices");
    fv_dataset_free(t);
    /* more names than the model has classes */
    write_text(tpath("four.csv"), "a,b,c\n1,2,w\n1,2,x\n1,2,y\n1,2,z\n");
    t = fv_dataset_load_csv(tpath("four.csv"), NULL);
    CHECK(fv_model_evaluate(m, t, 4, &loss, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "four.csv:5: column 'c': 'z' is class 3 of 4");
    fv_dataset_free(t);
    /* a model without labels saves none */
    CHECK_OK(fv_model_set_labels(m, NULL, NULL, 0));
    CHECK_OK(fv_model_save(m, saved));
    fv_model_free(back);
    back = fv_model_load(saved);
    CHECK(back && !fv_model_label_column(back) && !fv_model_class_names(back, &nb) && nb == 0);
    fv_model_free(back);
    fv_model_free(m);
    fv_dataset_free(d);
}

TEST(split_and_head_keep_the_places)
{
    write_text(tpath("s.csv"), "x,y,label\n0,0,0\n0,1,1\n1,0,1\n1,1,9\n");
    fv_dataset *d = fv_dataset_load_csv(tpath("s.csv"), NULL);
    fv_dataset *tail = fv_dataset_split_tail(d, 0.5);
    fv_model *m = model_of(mlp3);
    double loss;
    CHECK(fv_model_evaluate(m, tail, 4, &loss, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "s.csv:5: column 'label': 9 is not a class index");
    CHECK_OK(fv_model_evaluate(m, d, 4, &loss, NULL));
    fv_dataset_free(tail);
    fv_dataset_free(d);
    fv_model_free(m);
}

/* Writes a float32 .npy of shape dims[0..rank) holding v[]. */
static void write_npy_values(const char *path, int rank, const int64_t *dims, const float *v)
{
    if (fv__npy_write_f32(path, rank, dims, v) != FV_OK) exit(2);
}

/* x.npy (n, 2) features with y.npy labels of the given shape and values, as one dataset. */
static fv_dataset *features_with_labels(int64_t n, int rank, const int64_t *ydims, const float *y)
{
    write_npy(tpath("x.npy"), 2, (int64_t[]){n, 2});
    write_npy_values(tpath("y.npy"), rank, ydims, y);
    fv_dataset *d = fv_dataset_load_npy(tpath("x.npy"));
    if (!d || fv_dataset_load_labels_npy(d, tpath("y.npy")) != FV_OK) {
        fprintf(stderr, "  labels: %s\n", fv_last_error());
        fv_dataset_free(d);
        return NULL;
    }
    return d;
}

TEST(label_arrays_n_and_n1_are_class_indices_and_rows_must_fit_the_output)
{
    fv_model *m = model_of(mlp3);
    fv_fit_opts o = fv_fit_defaults();
    const float y4[4] = {0, 2, 1, 2};
    /* (N,) and (N, 1), as Keras' sparse_categorical_crossentropy takes them */
    fv_dataset *d = features_with_labels(4, 1, (int64_t[]){4}, y4);
    CHECK(d && fv_dataset_classes(d) == 3);
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    fv_dataset_free(d);
    d = features_with_labels(4, 2, (int64_t[]){4, 1}, y4);
    CHECK(d && fv_dataset_labels(d)[1] == 2);
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    fv_dataset_free(d);
    /* a value that is not a class index: the file and the sample */
    d = features_with_labels(4, 1, (int64_t[]){4}, (const float[]){0, 1, 1.5f, 2});
    double loss;
    CHECK(fv_model_evaluate(m, d, 4, &loss, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "y.npy: sample 2 (counting from 0): 1.5 is not a class "
                                        "index in [0, 3)");
    fv_dataset_free(d);
    /* one-hot rows as wide as the output are classes; rows of another width are refused */
    const float onehot[12] = {1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1};
    d = features_with_labels(4, 2, (int64_t[]){4, 3}, onehot);
    CHECK(d && fv_dataset_labels(d)[1] == 2 && fv_dataset_labels(d)[2] == 1);
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    fv_dataset_free(d);
    fv_model *m10 = model_of("input shape=2\ndense units=10 activation=softmax\n"
                             "compile loss=categorical_crossentropy optimizer=adam\n");
    d = features_with_labels(4, 2, (int64_t[]){4, 3}, onehot);
    CHECK(fv_model_fit(m10, d, &o, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "y.npy has shape (4, 3); the model's output is (None, 10): "
                                        "one class index per sample, (N,) or (N, 1)");
    fv_dataset_free(d);
    fv_model_free(m10);
    /* soft rows are not class labels */
    const float soft[6] = {0.5f, 0.5f, 0, 0, 0, 1};
    d = features_with_labels(2, 2, (int64_t[]){2, 3}, soft);
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(),
                       "y.npy: sample 0 (counting from 0): the row is not one-hot");
    fv_dataset_free(d);
    fv_model_free(m);
    /* a regression takes rows as wide as its output */
    m = model_of("input shape=2\ndense units=2\ncompile loss=mse optimizer=adam\n");
    d = features_with_labels(2, 2, (int64_t[]){2, 2}, (const float[]){0.5f, -1, 2, 0.25f});
    CHECK_OK(fv_model_fit(m, d, &o, NULL));
    fv_dataset_free(d);
    d = features_with_labels(2, 2, (int64_t[]){2, 3}, soft);
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "y.npy has shape (2, 3) of targets; the model's output is "
                                        "(None, 2)");
    fv_dataset_free(d);
    fv_model_free(m);
    /* counts and ranks */
    write_npy(tpath("x.npy"), 2, (int64_t[]){4, 2});
    write_npy_values(tpath("y.npy"), 1, (int64_t[]){3}, y4);
    d = fv_dataset_load_npy(tpath("x.npy"));
    CHECK(fv_dataset_load_labels_npy(d, tpath("y.npy")) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "y.npy has shape (3,): 3 labels for 4 samples");
    write_npy_values(tpath("y.npy"), 3, (int64_t[]){4, 1, 1}, y4);
    CHECK(fv_dataset_load_labels_npy(d, tpath("y.npy")) == FV_ERR_SHAPE);
    CHECK_STR_CONTAINS(fv_last_error(), "y.npy has shape (4, 1, 1); labels are (N,) or (N, 1)");
    fv_dataset_free(d);
}

/* binary_crossentropy takes probabilities as targets (pixels of an autoencoder, several labels per
 * sample): numbers in [0, 1], refused outside with the file and sample. */
TEST(binary_crossentropy_takes_probabilities_in_0_1)
{
    fv_model *m = model_of("input shape=2\ndense units=3 activation=sigmoid\n"
                           "compile loss=binary_crossentropy optimizer=adam learning_rate=0.05\n");
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 30;
    o.batch_size = 4;
    const float p[12] = {0.1f, 0.9f, 0.5f, 0.2f, 0.8f, 0.5f, 0.3f, 0.7f, 0.5f, 0.4f, 0.6f, 0.5f};
    fv_dataset *d = features_with_labels(4, 2, (int64_t[]){4, 3}, p);
    CHECK(d != NULL);
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    const double *loss = fv_history_get(h, "loss");
    CHECK(loss && loss[29] < loss[0]);
    fv_history_free(h);
    fv_dataset_free(d);
    const float bad[12] = {0.1f, 0.9f, 0.5f, 0.2f, 1.5f, 0.5f, 0.3f, 0.7f, 0.5f, 0.4f, 0.6f, 0.5f};
    d = features_with_labels(4, 2, (int64_t[]){4, 3}, bad);
    CHECK(fv_model_fit(m, d, &o, NULL) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "y.npy, sample 1 (counting from 0): 1.5 is not a "
                                        "probability in [0, 1]");
    fv_dataset_free(d);
    fv_model_free(m);
}

int main(void)
{
    test_tmpdir("inputs", tmpdir, sizeof tmpdir);
    RUN(text_reader_takes_bom_and_every_line_end);
    RUN(text_reader_refuses_nul_and_invalid_utf8_with_line_and_byte);
    RUN(model_files_with_bom_crlf_and_cr_parse_alike);
    RUN(csv_files_with_bom_crlf_and_cr_load_alike);
    RUN(history_files_with_bom_crlf_and_cr_read_alike);
    RUN(an_array_must_have_the_models_input_shape);
    RUN(one_channel_images_come_with_or_without_the_channel_axis);
    RUN(a_features_input_takes_rows_only);
    RUN(every_label_is_a_class_index_named_by_file_line_and_column);
    RUN(idx_labels_beyond_the_classes_name_the_sample);
    RUN(class_names_become_sorted_indices_and_travel_with_the_model);
    RUN(split_and_head_keep_the_places);
    RUN(label_arrays_n_and_n1_are_class_indices_and_rows_must_fit_the_output);
    RUN(binary_crossentropy_takes_probabilities_in_0_1);
    remove_tree(tmpdir);
    return TEST_SUMMARY();
}
