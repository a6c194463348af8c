/* test_viz.c — the pictures, checked for what can be measured: the encoded PNG decodes (with
 * cairo) at the picture's size, a kernel tile has the colours its weights call for, a curve
 * rises on screen where the history rises, feature map tiles come from the right layers, the
 * confusion matrix cells are coloured by their row fraction; and bad input is refused with a
 * message that names it.
 */
#include "fovea.h"
#include "test.h"
#include "viz/viz.h"

#include <cairo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------ */

typedef struct reader {
    const unsigned char *data;
    size_t len, pos;
} reader;

static cairo_status_t read_mem(void *closure, unsigned char *out, unsigned int n)
{
    reader *r = closure;
    if (r->pos + n > r->len) return CAIRO_STATUS_READ_ERROR;
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
    return CAIRO_STATUS_SUCCESS;
}

/* The picture as PNG, decoded again: an image surface (NULL if it does not decode). */
static cairo_surface_t *png_roundtrip(const fv_picture *p)
{
    unsigned char *data;
    size_t len;
    if (fv_picture_encode(p, "png", &data, &len) != FV_OK) return NULL;
    reader r = {data, len, 0};
    cairo_surface_t *img = cairo_image_surface_create_from_png_stream(read_mem, &r);
    free(data);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return NULL;
    }
    cairo_surface_flush(img);
    return img;
}

typedef struct rgb8 {
    int r, g, b;
} rgb8;

static rgb8 pixel(cairo_surface_t *img, int x, int y)
{
    const unsigned char *d = cairo_image_surface_get_data(img);
    uint32_t v = *(const uint32_t *)(d + (size_t)y * (size_t)cairo_image_surface_get_stride(img) +
                                     (size_t)x * 4);
    return (rgb8){(int)(v >> 16) & 255, (int)(v >> 8) & 255, (int)v & 255};
}

static rgb8 to8(fv__rgb c)
{
    return (rgb8){(int)lround(c.r * 255), (int)lround(c.g * 255), (int)lround(c.b * 255)};
}

static bool near(rgb8 a, rgb8 b, int tol)
{
    return abs(a.r - b.r) <= tol && abs(a.g - b.g) <= tol && abs(a.b - b.b) <= tol;
}

#define CHECK_RGB(got, want, tol)                                                                  \
    do {                                                                                           \
        rgb8 g_ = (got), w_ = (want);                                                              \
        if (!near(g_, w_, tol)) {                                                                  \
            fprintf(stderr, "  %s:%d: %s = (%d, %d, %d), expected (%d, %d, %d)\n", __FILE__,       \
                    __LINE__, #got, g_.r, g_.g, g_.b, w_.r, w_.g, w_.b);                           \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

static fv_model *model_of(const char *text)
{
    fv_model *m = fv_model_parse_string(text, "test");
    if (!m) {
        fprintf(stderr, "  model: %s\n", fv_last_error());
        test_failed_checks++;
    }
    return m;
}

static char tmp_dir[64];

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmp_dir, name);
    return buf;
}

static fv_history *history_of(const char *csv)
{
    FILE *f = fopen(tmp_path("h.csv"), "w");
    if (!f) {
        perror(tmp_path("h.csv"));
        test_failed_checks++;
        return NULL;
    }
    fputs(csv, f);
    fclose(f);
    fv_history *h = fv_history_read_csv(tmp_path("h.csv"));
    if (!h) {
        fprintf(stderr, "  history: %s\n", fv_last_error());
        test_failed_checks++;
    }
    return h;
}

/* ---- encoding ------------------------------------------------------------------------------- */

TEST(png_decodes_at_the_picture_size)
{
    fv_picture *p = fv_plot_activations();
    CHECK(p != NULL);
    if (!p) return;
    CHECK(fv_picture_width(p) > 800 && fv_picture_height(p) > 500);
    cairo_surface_t *img = png_roundtrip(p);
    CHECK(img != NULL);
    if (img) {
        CHECK(cairo_image_surface_get_width(img) == fv_picture_width(p));
        CHECK(cairo_image_surface_get_height(img) == fv_picture_height(p));
        CHECK_RGB(pixel(img, 2, 2), ((rgb8){255, 255, 255}), 0); /* white background */
        cairo_surface_destroy(img);
    }
    fv_picture_free(p);
}

TEST(save_writes_png_and_svg_by_extension)
{
    fv_picture *p = fv_plot_activations();
    CHECK_OK(fv_picture_save(p, tmp_path("a.png")));
    CHECK_OK(fv_picture_save(p, tmp_path("a.SVG")));
    cairo_surface_t *img = cairo_image_surface_create_from_png(tmp_path("a.png"));
    CHECK(cairo_surface_status(img) == CAIRO_STATUS_SUCCESS);
    CHECK(cairo_image_surface_get_width(img) == fv_picture_width(p));
    cairo_surface_destroy(img);
    FILE *f = fopen(tmp_path("a.SVG"), "rb");
    char head[400] = "";
    if (f) {
        size_t n = fread(head, 1, sizeof head - 1, f);
        head[n] = '\0';
        fclose(f);
    }
    CHECK_STR_CONTAINS(head, "<svg");
    char want[64];
    snprintf(want, sizeof want, "width=\"%dpx\"", fv_picture_width(p));
    CHECK_STR_CONTAINS(head, want);
    fv_picture_free(p);
}

TEST(save_refuses_an_unknown_extension_and_writes_nothing)
{
    fv_picture *p = fv_plot_activations();
    CHECK(fv_picture_save(p, tmp_path("a.jpg")) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "a.jpg");
    CHECK(access(tmp_path("a.jpg"), F_OK) != 0);
    unsigned char *data;
    size_t len;
    CHECK(fv_picture_encode(p, "gif", &data, &len) == FV_ERR_INVALID);
    fv_picture_free(p);
}

/* ---- kernels -------------------------------------------------------------------------------- */

/* The colour at the centre of cell (i, j) of a kh × kw kernel tile. */
static rgb8 kernel_cell(cairo_surface_t *img, const fv_picture *p, int f, int c, int i, int j,
                        int kh, int kw)
{
    char name[64];
    snprintf(name, sizeof name, "kernel %d %d", f, c);
    const fv__region *r = fv__picture_find(p, name);
    if (!r) {
        fprintf(stderr, "  no region '%s'\n", name);
        test_failed_checks++;
        return (rgb8){-1, -1, -1};
    }
    double cw = r->w / kw, ch = r->h / kh;
    return pixel(img, (int)(r->x + (j + 0.5) * cw), (int)(r->y + (i + 0.5) * ch));
}

TEST(kernel_tiles_show_sign_on_one_symmetric_scale)
{
    fv_model *m = model_of("input shape=5,5,1\n"
                           "conv2d filters=2 kernel_size=3\n"
                           "flatten\n"
                           "dense units=2 activation=softmax\n");
    if (!m) return;
    int rank;
    int64_t d[4];
    float *w = fv_model_param(m, "conv2d.kernel", &rank, d);
    CHECK(w && rank == 4 && d[0] == 3 && d[1] == 3 && d[2] == 1 && d[3] == 2);
    if (!w) return;
    /* (kh, kw, in, out): element (i, j, 0, f) is w[(i·3 + j)·2 + f]. */
    for (int i = 0; i < 18; i++)
        w[i] = 0;
    w[(0 * 3 + 0) * 2 + 0] = 2.0f;  /* filter 0, top left: the largest: full red */
    w[(2 * 3 + 2) * 2 + 0] = -2.0f; /* filter 0, bottom right: full blue */
    w[(1 * 3 + 1) * 2 + 1] = 1.0f;  /* filter 1, centre: half way to red */
    w[(0 * 3 + 2) * 2 + 1] = -0.5f; /* filter 1, top right: a quarter way to blue */
    fv_picture *p = fv_plot_kernels(m, NULL);
    CHECK(p != NULL);
    cairo_surface_t *img = p ? png_roundtrip(p) : NULL;
    CHECK(img != NULL);
    if (img) {
        CHECK_RGB(kernel_cell(img, p, 0, 0, 0, 0, 3, 3), ((rgb8){0xb2, 0x18, 0x2b}), 0);
        CHECK_RGB(kernel_cell(img, p, 0, 0, 2, 2, 3, 3), ((rgb8){0x21, 0x66, 0xac}), 0);
        CHECK_RGB(kernel_cell(img, p, 0, 0, 1, 1, 3, 3), ((rgb8){255, 255, 255}), 0);
        CHECK_RGB(kernel_cell(img, p, 1, 0, 1, 1, 3, 3), to8(fv__cmap_diverging(0.75)), 1);
        CHECK_RGB(kernel_cell(img, p, 1, 0, 0, 2, 3, 3), to8(fv__cmap_diverging(0.375)), 1);
        CHECK_RGB(kernel_cell(img, p, 1, 0, 2, 0, 3, 3), ((rgb8){255, 255, 255}), 0);
        cairo_surface_destroy(img);
    }
    fv_picture_free(p);
    fv_model_free(m);
}

TEST(kernels_of_a_deeper_layer_have_a_row_per_filter_and_a_tile_per_channel)
{
    fv_model *m = model_of("input shape=7,7,1\n"
                           "conv2d filters=2 kernel_size=3\n"
                           "conv2d filters=3 kernel_size=2\n"
                           "flatten\n"
                           "dense units=2 activation=softmax\n");
    if (!m) return;
    int rank;
    int64_t d[4];
    float *w = fv_model_param(m, "conv2d_1.kernel", &rank, d);
    CHECK(w && d[0] == 2 && d[1] == 2 && d[2] == 2 && d[3] == 3);
    if (!w) return;
    /* Only filter 2, input channel 1, element (0, 1) is set: (i, j, c, f) at ((i·2+j)·2+c)·3+f. */
    for (int i = 0; i < 24; i++)
        w[i] = 0;
    w[((0 * 2 + 1) * 2 + 1) * 3 + 2] = 0.7f;
    fv_picture *p = fv_plot_kernels(m, "conv2d_1");
    CHECK(p != NULL);
    cairo_surface_t *img = p ? png_roundtrip(p) : NULL;
    if (img) {
        const rgb8 white = {255, 255, 255}, red = {0xb2, 0x18, 0x2b};
        CHECK_RGB(kernel_cell(img, p, 2, 1, 0, 1, 2, 2), red, 0);
        CHECK_RGB(kernel_cell(img, p, 2, 1, 0, 0, 2, 2), white, 0);
        CHECK_RGB(kernel_cell(img, p, 2, 0, 0, 1, 2, 2), white, 0);
        CHECK_RGB(kernel_cell(img, p, 1, 1, 0, 1, 2, 2), white, 0);
        /* One row per filter: filter 2's tiles lie below filter 1's, channels side by side. */
        const fv__region *a = fv__picture_find(p, "kernel 1 0"),
                         *b = fv__picture_find(p, "kernel 2 0"),
                         *c = fv__picture_find(p, "kernel 2 1");
        CHECK(a && b && c && b->y > a->y && b->x == a->x && c->y == b->y && c->x > b->x);
        cairo_surface_destroy(img);
    }
    fv_picture_free(p);
    fv_model_free(m);
}

TEST(kernels_of_a_layer_that_is_not_a_convolution_are_refused)
{
    fv_model *m = model_of("input shape=6,6,1\n"
                           "conv2d filters=2 kernel_size=3\n"
                           "conv2d filters=2 kernel_size=3 name=second\n"
                           "flatten\n"
                           "dense units=2 activation=softmax\n");
    if (!m) return;
    CHECK(fv_plot_kernels(m, "dense") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "'dense'");
    CHECK_STR_CONTAINS(fv_last_error(), "not a convolution");
    CHECK_STR_CONTAINS(fv_last_error(), "conv2d, second");
    CHECK(fv_plot_kernels(m, "nosuch") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "'nosuch'");
    fv_picture *p = fv_plot_kernels(m, "second");
    CHECK(p != NULL);
    fv_picture_free(p);
    fv_model_free(m);
    m = model_of("input shape=4\ndense units=2 activation=softmax\n");
    if (!m) return;
    CHECK(fv_plot_kernels(m, NULL) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "no convolution");
    fv_model_free(m);
}

/* ---- curves --------------------------------------------------------------------------------- */

/* The mean y of the pixels of colour c in pixel column x of region r, outside the legend; -1 if
 * none. */
static double line_y(cairo_surface_t *img, const fv__region *r, const fv__region *legend, int x,
                     rgb8 c)
{
    double sum = 0;
    int n = 0;
    for (int y = (int)r->y + 1; y < (int)(r->y + r->h) - 1; y++) {
        if (legend && x >= legend->x && x <= legend->x + legend->w && y >= legend->y &&
            y <= legend->y + legend->h)
            continue;
        if (near(pixel(img, x, y), c, 40)) sum += y, n++;
    }
    return n ? sum / n : -1;
}

TEST(a_curve_rises_where_the_history_rises)
{
    /* accuracy rises every epoch; the loss falls, then rises again after epoch 3 (a V). */
    fv_history *h = history_of("epoch,accuracy,loss,val_accuracy,val_loss\n"
                               "0,0.50,1.0,0.55,1.1\n"
                               "1,0.60,0.6,0.62,0.7\n"
                               "2,0.75,0.3,0.70,0.5\n"
                               "3,0.85,0.5,0.74,0.6\n"
                               "4,0.95,0.9,0.76,0.8\n");
    if (!h) return;
    fv_picture *p = fv_plot_history(h, NULL);
    CHECK(p != NULL);
    cairo_surface_t *img = p ? png_roundtrip(p) : NULL;
    const fv__region *acc = fv__picture_find(p, "panel accuracy");
    const fv__region *loss = fv__picture_find(p, "panel loss");
    CHECK(acc && loss && loss->x > acc->x + acc->w); /* side by side */
    if (!img || !acc || !loss) goto done;
    const fv__region *acc_legend = fv__picture_find(p, "panel accuracy legend");
    const fv__region *loss_legend = fv__picture_find(p, "panel loss legend");
    const rgb8 blue = to8(fv__series_colour(0));
    const double train_acc[] = {0.50, 0.60, 0.75, 0.85, 0.95};
    const double train_loss[] = {1.0, 0.6, 0.3, 0.5, 0.9};
    double prev = 1e9;
    for (int e = 0; e < 5; e++) {
        int x = (int)(acc->x + (e + 1 - acc->x0) / (acc->x1 - acc->x0) * acc->w);
        double y = line_y(img, acc, acc_legend, x, blue);
        double want = acc->y + acc->h - (train_acc[e] - acc->y0) / (acc->y1 - acc->y0) * acc->h;
        CHECK(y > 0);
        CHECK_CLOSE(y, want, 4, 0);
        CHECK(y < prev); /* higher on screen each epoch */
        prev = y;
    }
    double ys[5];
    for (int e = 0; e < 5; e++) {
        int x = (int)(loss->x + (e + 1 - loss->x0) / (loss->x1 - loss->x0) * loss->w);
        ys[e] = line_y(img, loss, loss_legend, x, blue);
        double want =
            loss->y + loss->h - (train_loss[e] - loss->y0) / (loss->y1 - loss->y0) * loss->h;
        CHECK_CLOSE(ys[e], want, 4, 0);
    }
    CHECK(ys[0] < ys[1] && ys[1] < ys[2]); /* falling: lower on screen */
    CHECK(ys[2] > ys[3] && ys[3] > ys[4]); /* rising again */
    /* The validation line is there too, in the second colour. */
    int x = (int)(acc->x + (5 - acc->x0) / (acc->x1 - acc->x0) * acc->w);
    CHECK(line_y(img, acc, acc_legend, x, to8(fv__series_colour(1))) > 0);
done:
    if (img) cairo_surface_destroy(img);
    fv_picture_free(p);
    fv_history_free(h);
}

TEST(a_history_without_a_needed_column_is_refused_naming_it)
{
    fv_history *h = history_of("epoch,accuracy,val_accuracy\n0,0.5,0.4\n1,0.6,0.5\n");
    if (!h) return;
    CHECK(fv_plot_history(h, NULL) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "'loss'");
    CHECK_STR_CONTAINS(fv_last_error(), "accuracy, val_accuracy");
    CHECK(fv_plot_history(h, "accuracy,f1") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "'f1'");
    fv_picture *p = fv_plot_history(h, "accuracy");
    CHECK(p != NULL);
    CHECK(fv__picture_find(p, "panel accuracy") != NULL);
    fv_picture_free(p);
    fv_history_free(h);
}

TEST(one_epoch_and_nan_values_still_draw)
{
    fv_history *h = history_of("epoch,loss,val_loss\n0,0.7,nan\n");
    if (!h) return;
    fv_picture *p = fv_plot_history(h, NULL);
    CHECK(p != NULL);
    CHECK(fv__picture_find(p, "panel loss") != NULL);
    CHECK(fv__picture_find(p, "panel accuracy") == NULL);
    fv_picture_free(p);
    fv_history_free(h);
}

TEST(a_gan_history_draws_its_d_loss_and_g_loss)
{
    fv_history *h = history_of("epoch,d_loss,g_loss\n0,1.2,0.8\n1,1.1,0.9\n");
    if (!h) return;
    fv_picture *p = fv_plot_history(h, NULL);
    CHECK(p != NULL);
    if (p) {
        const fv__region *d = fv__picture_find(p, "panel d_loss"),
                         *g = fv__picture_find(p, "panel g_loss");
        CHECK(d && g && g->x > d->x + d->w);
        CHECK(fv__picture_find(p, "panel loss") == NULL);
        CHECK(p->width == 1200 && p->height == 450);
    }
    fv_picture_free(p);
    fv_history_free(h);
}

TEST(curve_titles_name_the_kl_loss_in_capitals_and_a_gan_s_networks)
{
    char title[112], ylabel[104];
    fv__metric_names("kl_loss", title, sizeof title, ylabel, sizeof ylabel);
    CHECK(strcmp(title, "Model KL loss") == 0 && strcmp(ylabel, "KL loss") == 0);
    fv__metric_names("loss", title, sizeof title, ylabel, sizeof ylabel);
    CHECK(strcmp(title, "Model loss") == 0 && strcmp(ylabel, "Loss") == 0);
    fv__metric_names("reconstruction_loss", title, sizeof title, ylabel, sizeof ylabel);
    CHECK(strcmp(title, "Model reconstruction loss") == 0 &&
          strcmp(ylabel, "Reconstruction loss") == 0);
    fv__metric_names("d_loss", title, sizeof title, ylabel, sizeof ylabel);
    CHECK(strcmp(title, "Discriminator loss") == 0 && strcmp(ylabel, "d_loss") == 0);
    fv__metric_names("g_loss", title, sizeof title, ylabel, sizeof ylabel);
    CHECK(strcmp(title, "Generator loss") == 0 && strcmp(ylabel, "g_loss") == 0);
    fv__metric_names("skill_rate", title, sizeof title, ylabel, sizeof ylabel);
    CHECK(strcmp(title, "Model skill rate") == 0); /* only the word kl, not its letters */
}

/* ---- feature maps --------------------------------------------------------------------------- */

TEST(feature_maps_draw_the_input_and_every_image_layer)
{
    fv_model *m = model_of("input shape=6,6,1\n"
                           "conv2d filters=2 kernel_size=3 activation=relu\n"
                           "maxpool2d pool_size=2\n"
                           "dropout rate=0.5\n"
                           "flatten\n"
                           "dense units=3 activation=softmax\n");
    if (!m) return;
    float x[36];
    for (int i = 0; i < 36; i++)
        x[i] = (float)i / 35;
    const int64_t dims[3] = {6, 6, 1};
    fv_picture *p = fv_plot_features(m, x, 3, dims, "a ramp", NULL);
    CHECK(p != NULL);
    if (!p) goto done;
    CHECK(fv__picture_find(p, "input 0") != NULL);
    CHECK(fv__picture_find(p, "conv2d 0") && fv__picture_find(p, "conv2d 1"));
    CHECK(fv__picture_find(p, "max_pooling2d 1") != NULL);
    CHECK(fv__picture_find(p, "conv2d 2") == NULL);
    CHECK(fv__picture_find(p, "dropout 0") == NULL);
    CHECK(fv__picture_find(p, "dense 0") == NULL);
    /* The input tile shows the ramp in grey: black top left, white bottom right. */
    cairo_surface_t *img = png_roundtrip(p);
    const fv__region *in = fv__picture_find(p, "input 0");
    if (img && in) {
        CHECK_RGB(pixel(img, (int)in->x + 1, (int)in->y + 1), ((rgb8){0, 0, 0}), 0);
        CHECK_RGB(pixel(img, (int)(in->x + in->w) - 2, (int)(in->y + in->h) - 2),
                  ((rgb8){255, 255, 255}), 0);
        /* A conv tile is scaled to its own range: its largest value is viridis' yellow. */
        const fv__region *c0 = fv__picture_find(p, "conv2d 0");
        const float *out = NULL;
        CHECK_OK(fv_model_forward(m, x, 1));
        out = fv_model_layer_output(m, 0);
        int best = 0;
        for (int i = 1; i < 16; i++)
            if (out[i * 2] > out[best * 2]) best = i;
        if (c0 && out[best * 2] > out[0]) {
            double cw = c0->w / 4;
            rgb8 got = pixel(img, (int)(c0->x + (best % 4 + 0.5) * cw),
                             (int)(c0->y + (best / 4 + 0.5) * cw));
            CHECK_RGB(got, ((rgb8){0xfd, 0xe7, 0x25}), 0);
        }
    }
    if (img) cairo_surface_destroy(img);
    /* The sample must fit the model. */
    const int64_t wrong[3] = {5, 5, 1};
    CHECK(fv_plot_features(m, x, 3, wrong, NULL, NULL) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "model's input");
    CHECK(fv_plot_features(m, x, 3, dims, NULL, "jet") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "'jet'");
done:
    fv_picture_free(p);
    fv_model_free(m);
}

/* ---- confusion matrix ----------------------------------------------------------------------- */

TEST(confusion_cells_are_coloured_by_the_fraction_of_their_row)
{
    /* 3 classes; class 0: 3 right, 1 as class 1; class 1: 2 right; class 2: 1 right, 1 as 0. */
    const int32_t labels[] = {0, 0, 0, 0, 1, 1, 2, 2};
    const int pred[] = {0, 0, 0, 1, 1, 1, 2, 0};
    float scores[8 * 3];
    for (int i = 0; i < 8; i++)
        for (int c = 0; c < 3; c++)
            scores[i * 3 + c] = c == pred[i] ? 0.8f : 0.1f;
    fv_metrics *mt = fv_metrics_classification(scores, labels, 8, 3);
    CHECK(mt != NULL);
    if (!mt) return;
    const char *const names[] = {"cat", "dog", "bird"};
    fv_picture *p = fv_plot_confusion(mt, names, NULL);
    CHECK(p != NULL);
    cairo_surface_t *img = p ? png_roundtrip(p) : NULL;
    const fv__region *r = fv__picture_find(p, "matrix");
    CHECK(r != NULL);
    if (img && r) {
        double cell = r->w / 3;
        /* A corner of each cell, clear of the count written in its middle. */
#define CELL(i, j) pixel(img, (int)(r->x + (j)*cell + 4), (int)(r->y + (i)*cell + 4))
        CHECK_RGB(CELL(0, 0), to8(fv__cmap_blues(0.75)), 1);
        CHECK_RGB(CELL(0, 1), to8(fv__cmap_blues(0.25)), 1);
        CHECK_RGB(CELL(1, 1), to8(fv__cmap_blues(1.0)), 1);
        CHECK_RGB(CELL(1, 0), to8(fv__cmap_blues(0.0)), 1);
        CHECK_RGB(CELL(2, 0), to8(fv__cmap_blues(0.5)), 1);
#undef CELL
    }
    if (img) cairo_surface_destroy(img);
    fv_picture_free(p);
    fv_metrics_free(mt);

    const float out[] = {1, 2}, target[] = {1, 3};
    fv_metrics *reg = fv_metrics_regression(out, target, 2, 1);
    CHECK(fv_plot_confusion(reg, NULL, NULL) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "regression");
    fv_metrics_free(reg);
}

/* ---- helpers of the module ------------------------------------------------------------------ */

TEST(ticks_are_nice_numbers_inside_the_range)
{
    double t[16], step;
    int n = fv__nice_ticks(0.03, 0.97, 6, t, 16, &step);
    CHECK_CLOSE(step, 0.2, 1e-12, 0);
    CHECK(n == 4);
    CHECK_CLOSE(t[0], 0.2, 1e-12, 0);
    n = fv__nice_ticks(-4.4, 4.4, 8, t, 16, &step);
    CHECK_CLOSE(step, 1, 1e-12, 0);
    CHECK(n == 9 && t[4] == 0);
    char buf[32];
    fv__tick_label(buf, sizeof buf, 0.25, 0.25);
    CHECK(strcmp(buf, "0.25") == 0);
    fv__tick_label(buf, sizeof buf, -0.0, 0.5);
    CHECK(strcmp(buf, "0.0") == 0);
    fv__tick_label(buf, sizeof buf, 3, 1);
    CHECK(strcmp(buf, "3") == 0);
    /* a step of 2.5 needs one decimal (a trial saw "0, 2, 5, 8, 10" for 0, 2.5, 5, 7.5, 10) */
    n = fv__nice_ticks(0, 17, 6, t, 16, &step);
    CHECK_CLOSE(step, 2.5, 1e-12, 0);
    fv__tick_label(buf, sizeof buf, t[3], step);
    CHECK(strcmp(buf, "7.5") == 0);
    fv__tick_label(buf, sizeof buf, t[4], step);
    CHECK(strcmp(buf, "10.0") == 0);
    fv__tick_label(buf, sizeof buf, 250, 25);
    CHECK(strcmp(buf, "250") == 0);
    fv__tick_label(buf, sizeof buf, 0.075, 0.025);
    CHECK(strcmp(buf, "0.075") == 0);
}

TEST(the_diverging_map_is_white_at_zero_blue_below_red_above)
{
    CHECK_RGB(to8(fv__cmap_diverging(0.5)), ((rgb8){255, 255, 255}), 0);
    rgb8 lo = to8(fv__cmap_diverging(0)), hi = to8(fv__cmap_diverging(1));
    CHECK(lo.b > lo.r && hi.r > hi.b);
}

/* ---- generative models' pictures ----------------------------------------------------------- */

TEST(image_grid_tiles_hold_their_images)
{
    enum { N = 5, H = 4, W = 6 };
    float img[N * H * W];
    for (int i = 0; i < N * H * W; i++)
        img[i] = (float)((i * 7) % 11) / 10.0f;
    const char *rows[] = {"originals", "reconstructions"};
    fv_picture *p = fv_plot_image_grid(img, N, 2, (const int64_t[]){H, W}, 3, 0, 1, "Samples",
                                       "z ~ N(0, I)", rows);
    CHECK(p != NULL);
    if (!p) return;
    cairo_surface_t *img8 = png_roundtrip(p);
    const fv__region *t = fv__picture_find(p, "tile 1 1"); /* image 4 */
    CHECK(img8 && t && !fv__picture_find(p, "tile 1 2"));
    if (img8 && t) {
        const int scale = (int)t->w / W;
        CHECK(scale >= 1 && (int)t->h == H * scale);
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                CHECK_RGB(pixel(img8, (int)t->x + j * scale + scale / 2,
                                (int)t->y + i * scale + scale / 2),
                          to8(fv__cmap_grey(img[4 * H * W + i * W + j])), 1);
    }
    if (img8) cairo_surface_destroy(img8);
    fv_picture_free(p);
    /* tanh images on -1..1 */
    for (int i = 0; i < N * H * W; i++)
        img[i] = 2 * img[i] - 1;
    p = fv_plot_image_grid(img, N, 3, (const int64_t[]){H, W, 1}, 8, -1, 1, NULL, NULL, NULL);
    img8 = p ? png_roundtrip(p) : NULL;
    t = p ? fv__picture_find(p, "tile 0 4") : NULL;
    CHECK(img8 && t);
    if (img8 && t)
        CHECK_RGB(pixel(img8, (int)t->x + 1, (int)t->y + 1),
                  to8(fv__cmap_grey((img[4 * H * W] + 1) / 2)), 1);
    if (img8) cairo_surface_destroy(img8);
    fv_picture_free(p);
    CHECK(fv_plot_image_grid(img, N, 3, (const int64_t[]){H, W, 2}, 8, 0, 1, NULL, NULL, NULL) ==
          NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "images must be (H, W), (H, W, 1) or (H, W, 3)");
}

TEST(latent_points_take_their_class_colour_and_the_manifold_its_images)
{
    /* Class 0 on the left, class 1 alone at the top right; a 3 × 3 manifold of 2 × 2 images,
     * image r·3 + k filled with (r·3 + k)/8. */
    enum { N = 41, G = 3 };
    float pts[N * 2];
    int32_t labels[N];
    for (int i = 0; i < N - 1; i++)
        pts[2 * i] = -2.0f + 0.01f * (float)i, pts[2 * i + 1] = (float)(i % 5) * 0.1f,
                labels[i] = 0;
    pts[2 * (N - 1)] = 2, pts[2 * (N - 1) + 1] = 1, labels[N - 1] = 1;
    float man[G * G * 4];
    for (int i = 0; i < G * G * 4; i++)
        man[i] = (float)(i / 4) / 8.0f;
    const char *names[] = {"T-shirt/top", "Trouser"};
    fv_picture *p = fv_plot_latent(pts, N, labels, names, 2, "z[0]", "z[1]", "VAE", man, G, 3,
                                   (const int64_t[]){2, 2, 1}, -1, 1);
    CHECK(p != NULL);
    if (!p) return;
    cairo_surface_t *img = png_roundtrip(p);
    const fv__region *sc = fv__picture_find(p, "scatter"), *mf = fv__picture_find(p, "manifold");
    CHECK(img && sc && mf && fv__picture_find(p, "scatter legend"));
    if (img && sc && mf) {
        const double X = sc->x + (2 - sc->x0) / (sc->x1 - sc->x0) * sc->w;
        const double Y = sc->y + sc->h - (1 - sc->y0) / (sc->y1 - sc->y0) * sc->h;
        CHECK_RGB(pixel(img, (int)X, (int)Y), to8(fv__hex(0xff7f0e)), 40);
        const int scale = (int)mf->w / (G * 2);
        for (int r = 0; r < G; r++)
            for (int k = 0; k < G; k++)
                CHECK_RGB(pixel(img, (int)mf->x + (k * 2 + 1) * scale - 1,
                                (int)mf->y + (r * 2 + 1) * scale - 1),
                          to8(fv__cmap_grey((r * G + k) / 8.0)), 1);
        CHECK(mf->x0 == -1 && mf->x1 == 1);
    }
    if (sc && mf) {
        /* The scatter's plot area level with the manifold and as tall (no empty band under
         * either); its legend in a column right of the plot area, covering no point. */
        CHECK_CLOSE(sc->y, mf->y, 1, 0);
        CHECK_CLOSE(sc->h, mf->h, 1, 0);
        const fv__region *lg = fv__picture_find(p, "scatter legend");
        CHECK(lg && lg->x >= sc->x + sc->w && lg->x + lg->w <= mf->x && lg->y >= sc->y);
    }
    if (img) cairo_surface_destroy(img);
    fv_picture_free(p);
    /* A principal components' scatter (no manifold) under a long title: the picture is as wide
     * as the title, the legend right of the plot area. */
    const char *long_title = "Latent space of vae16.safetensors: 10000 test images of "
                             "/a/rather/long/path/to/the/data/fashion-mnist";
    p = fv_plot_latent(pts, N, labels, names, 2, "principal component 1", "principal component 2",
                       long_title, NULL, 0, 0, NULL, 0, 0);
    CHECK(p != NULL);
    if (p) {
        cairo_t *mc = fv__measure();
        CHECK(p->width >= fv__text_width(mc, long_title, 18, true) + 2 * 24);
        cairo_destroy(mc);
        sc = fv__picture_find(p, "scatter");
        const fv__region *lg = fv__picture_find(p, "scatter legend");
        CHECK(sc && lg && lg->x >= sc->x + sc->w && lg->x + lg->w <= p->width);
    }
    fv_picture_free(p);
    labels[3] = 2;
    CHECK(fv_plot_latent(pts, N, labels, names, 2, "x", "y", NULL, NULL, 0, 0, NULL, 0, 0) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "point 3 has label 2, not in [0, 2)");
}

int main(void)
{
    test_tmpdir("viz", tmp_dir, sizeof tmp_dir);
    RUN(png_decodes_at_the_picture_size);
    RUN(save_writes_png_and_svg_by_extension);
    RUN(save_refuses_an_unknown_extension_and_writes_nothing);
    RUN(kernel_tiles_show_sign_on_one_symmetric_scale);
    RUN(kernels_of_a_deeper_layer_have_a_row_per_filter_and_a_tile_per_channel);
    RUN(kernels_of_a_layer_that_is_not_a_convolution_are_refused);
    RUN(a_curve_rises_where_the_history_rises);
    RUN(a_history_without_a_needed_column_is_refused_naming_it);
    RUN(one_epoch_and_nan_values_still_draw);
    RUN(a_gan_history_draws_its_d_loss_and_g_loss);
    RUN(curve_titles_name_the_kl_loss_in_capitals_and_a_gan_s_networks);
    RUN(feature_maps_draw_the_input_and_every_image_layer);
    RUN(confusion_cells_are_coloured_by_the_fraction_of_their_row);
    RUN(ticks_are_nice_numbers_inside_the_range);
    RUN(the_diverging_map_is_white_at_zero_blue_below_red_above);
    RUN(image_grid_tiles_hold_their_images);
    RUN(latent_points_take_their_class_colour_and_the_manifold_its_images);
    const char *files[] = {"h.csv", "a.png", "a.SVG"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(tmp_path(files[i]));
    rmdir(tmp_dir);
    return TEST_SUMMARY();
}
