/* test_image.c — image files: pixel-exact PNG decoding of every variant (written here with libpng
 * from known pixels), JPEG within a stated tolerance (written with libjpeg), the conversions, the
 * resize against PyTorch (fixture), Keras' split shuffle against NumPy (fixture), folders of
 * images as datasets, CIFAR's binary format (files written here from the format's description),
 * class names in saved models, and hostile files, each refused with one message naming it.
 */
#include "io/dataset.h"
#include "io/image.h"
#include "io/io.h"
#include "test.h"

#include <jpeglib.h>
#include <png.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
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

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = NULL;
    if (fv__read_file(path, (size_t)1 << 30, false, &b, len) != FV_OK) return NULL;
    return b;
}

/* ---- writing PNG with libpng ---------------------------------------------------------------- */

typedef struct png_spec {
    int color_type, bit_depth, interlace;
    int w, h;
    const uint16_t *samples; /* h × w × channels samples at bit_depth (palette: indices) */
    const png_color *palette;
    int npalette;
    const png_byte *trans; /* palette alpha, or NULL */
    int ntrans;
    const png_color_16 *trans_color; /* grey/RGB tRNS, or NULL */
} png_spec;

static int png_channels(int ct)
{
    return ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_PALETTE ? 1
           : ct == PNG_COLOR_TYPE_GRAY_ALPHA                         ? 2
           : ct == PNG_COLOR_TYPE_RGB                                ? 3
                                                                     : 4;
}

static void write_png(const char *path, const png_spec *s)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!f || !png || !info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->bit_depth, s->color_type,
                 s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trans || s->trans_color)
        png_set_tRNS(png, info, s->trans, s->ntrans, (png_color_16p)s->trans_color);
    png_write_info(png, info);
    int c = png_channels(s->color_type);
    size_t rowbytes = png_get_rowbytes(png, info);
    png_bytep *rows = calloc((size_t)s->h, sizeof *rows);
    for (int y = 0; y < s->h; y++) {
        rows[y] = calloc(rowbytes, 1);
        for (int x = 0; x < s->w * c; x++) {
            uint16_t v = s->samples[(size_t)y * s->w * c + x];
            if (s->bit_depth == 16) {
                rows[y][2 * x] = (png_byte)(v >> 8);
                rows[y][2 * x + 1] = (png_byte)v;
            } else if (s->bit_depth == 8) {
                rows[y][x] = (png_byte)v;
            } else { /* packed, most significant bits first */
                int per = 8 / s->bit_depth, shift = 8 - s->bit_depth * (x % per + 1);
                rows[y][x / per] |= (png_byte)(v << shift);
            }
        }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    for (int y = 0; y < s->h; y++)
        free(rows[y]);
    free(rows);
}

/* Decodes path and converts to `channels`, or fails the test. */
static bool load_as(const char *path, int channels, fv_image *out)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    fv_image raw;
    bool ok = buf && fv__image_decode(buf, len, path, 0, &raw) == FV_OK &&
              fv__image_convert(&raw, channels, path, out) == FV_OK;
    if (!ok) fprintf(stderr, "  %s: %s\n", path, fv_last_error());
    free(buf);
    return ok;
}

/* Expected 8-bit (r, g, b, a) of pixel i of a spec (alpha 255 where the file has none). */
static void expected_rgba(const png_spec *s, int i, int rgba[4])
{
    int c = png_channels(s->color_type);
    const uint16_t *p = s->samples + (size_t)i * c;
    int maxv = (1 << s->bit_depth) - 1;
    int v[4];
    for (int k = 0; k < c; k++)
        v[k] = s->bit_depth == 16 ? p[k] >> 8 : p[k] * 255 / maxv; /* high byte; k-bit scaled */
    switch (s->color_type) {
    case PNG_COLOR_TYPE_PALETTE:
        rgba[0] = s->palette[p[0]].red, rgba[1] = s->palette[p[0]].green;
        rgba[2] = s->palette[p[0]].blue;
        rgba[3] = s->trans && p[0] < s->ntrans ? s->trans[p[0]] : 255;
        return;
    case PNG_COLOR_TYPE_GRAY:
        rgba[0] = rgba[1] = rgba[2] = v[0];
        rgba[3] = s->trans_color && p[0] == s->trans_color->gray ? 0 : 255;
        return;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        rgba[0] = rgba[1] = rgba[2] = v[0], rgba[3] = v[1];
        return;
    case PNG_COLOR_TYPE_RGB:
        rgba[0] = v[0], rgba[1] = v[1], rgba[2] = v[2], rgba[3] = 255;
        return;
    default:
        rgba[0] = v[0], rgba[1] = v[1], rgba[2] = v[2], rgba[3] = v[3];
    }
}

static int grey601(int r, int g, int b)
{
    return (int)(0.2989f * (float)r + 0.5870f * (float)g + 0.1140f * (float)b + 0.5f);
}

/* Writes the spec, decodes it as grey, RGB and RGBA, and compares every pixel exactly. */
static int check_png_variant(const char *name, const png_spec *s)
{
    const char *path = tpath(name);
    write_png(path, s);
    int bad = 0;
    for (int ci = 0; ci < 3; ci++) {
        int channels = ci == 0 ? 1 : ci == 1 ? 3 : 4;
        fv_image im;
        if (!load_as(path, channels, &im)) return 1;
        if (im.h != s->h || im.w != s->w || im.c != channels) bad++;
        bool is_grey =
            s->color_type == PNG_COLOR_TYPE_GRAY || s->color_type == PNG_COLOR_TYPE_GRAY_ALPHA;
        for (int i = 0; i < s->w * s->h && !bad; i++) {
            int e[4];
            expected_rgba(s, i, e);
            const uint8_t *g = im.px + (size_t)i * channels;
            if (channels == 1) {
                int want = is_grey ? e[0] : grey601(e[0], e[1], e[2]);
                if (g[0] != want) {
                    fprintf(stderr, "  %s as grey: pixel %d is %d, expected %d\n", name, i, g[0],
                            want);
                    bad++;
                }
            } else {
                for (int k = 0; k < channels; k++)
                    if (g[k] != e[k]) {
                        fprintf(stderr,
                                "  %s as %d channels: pixel %d channel %d is %d, "
                                "expected %d\n",
                                name, channels, i, k, g[k], e[k]);
                        bad++;
                        break;
                    }
            }
        }
        fv__image_free(&im);
    }
    return bad;
}

enum { PW = 13, PH = 7 }; /* odd sizes: packed rows end mid-byte */

TEST(png_every_variant_pixel_exact)
{
    static uint16_t s[PW * PH * 4];
    uint32_t r = 12345;
    static const int depths_grey[] = {1, 2, 4, 8, 16};
    for (size_t d = 0; d < sizeof depths_grey / sizeof depths_grey[0]; d++) {
        int bd = depths_grey[d];
        for (int i = 0; i < PW * PH; i++) {
            r = r * 1103515245u + 12345u;
            s[i] = (uint16_t)((r >> 8) % (1u << bd));
        }
        char name[64];
        for (int il = 0; il < 2; il++) {
            png_spec sp = {.color_type = PNG_COLOR_TYPE_GRAY,
                           .bit_depth = bd,
                           .interlace = il ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                           .w = PW,
                           .h = PH,
                           .samples = s};
            snprintf(name, sizeof name, "grey%d%s.png", bd, il ? "i" : "");
            CHECK(check_png_variant(name, &sp) == 0);
        }
    }
    static const int ct[] = {PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                             PNG_COLOR_TYPE_RGB_ALPHA};
    for (int bd = 8; bd <= 16; bd += 8)
        for (int k = 0; k < 3; k++) {
            int c = png_channels(ct[k]);
            for (int i = 0; i < PW * PH * c; i++) {
                r = r * 1103515245u + 12345u;
                s[i] = (uint16_t)((r >> 8) % (1u << bd));
            }
            png_spec sp = {.color_type = ct[k],
                           .bit_depth = bd,
                           .interlace = k == 1 ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                           .w = PW,
                           .h = PH,
                           .samples = s};
            char name[64];
            snprintf(name, sizeof name, "ct%d_%d.png", ct[k], bd);
            CHECK(check_png_variant(name, &sp) == 0);
        }
    /* palettes: 8-bit and 4-bit indices, with and without tRNS */
    png_color pal[16];
    png_byte trans[5] = {0, 64, 128, 200, 255};
    for (int i = 0; i < 16; i++)
        pal[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i * 9), (png_byte)(i * i)};
    for (int bd = 4; bd <= 8; bd += 4)
        for (int t = 0; t < 2; t++) {
            for (int i = 0; i < PW * PH; i++) {
                r = r * 1103515245u + 12345u;
                s[i] = (uint16_t)((r >> 8) % 16);
            }
            png_spec sp = {.color_type = PNG_COLOR_TYPE_PALETTE,
                           .bit_depth = bd,
                           .w = PW,
                           .h = PH,
                           .samples = s,
                           .palette = pal,
                           .npalette = 16,
                           .trans = t ? trans : NULL,
                           .ntrans = t ? 5 : 0};
            char name[64];
            snprintf(name, sizeof name, "palette%d%s.png", bd, t ? "_trns" : "");
            CHECK(check_png_variant(name, &sp) == 0);
        }
    /* grey with a tRNS colour: that grey value becomes transparent (alpha 0) */
    for (int i = 0; i < PW * PH; i++)
        s[i] = (uint16_t)(i % 7 * 40);
    png_color_16 tc = {.gray = 80};
    png_spec sp = {.color_type = PNG_COLOR_TYPE_GRAY,
                   .bit_depth = 8,
                   .w = PW,
                   .h = PH,
                   .samples = s,
                   .trans_color = &tc};
    CHECK(check_png_variant("grey_trns.png", &sp) == 0);
}

/* ---- JPEG ----------------------------------------------------------------------------------- */

/* Writes w × h pixels of `comps` components in colour space `in` (stored as `as`), quality 100,
 * no chroma subsampling; progressive if asked; Adobe marker for CMYK/YCCK (libjpeg's default). */
static void write_jpeg(const char *path, const uint8_t *px, int w, int h, int comps,
                       J_COLOR_SPACE in, J_COLOR_SPACE as, bool progressive)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = in;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, as);
    for (int i = 0; i < c.num_components; i++)
        c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_set_quality(&c, 100, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)px + (size_t)c.next_scanline * w * comps;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

/* The largest |decoded - expected| over all samples. */
static int max_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

/* Tolerance against the pixels encoded: JPEG is lossy even at quality 100 without chroma
 * subsampling; the round trip through libjpeg-turbo (JDCT_ISLOW both ways) stays within 3 levels
 * on this smooth content. (test_image_pillow.c compares with Pillow's decode: identical.) */
enum { JPEG_TOL = 3 };

TEST(jpeg_grey_rgb_progressive_within_tolerance)
{
    enum { W = 24, H = 16 };
    uint8_t rgb[W * H * 3], grey[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + (y * W + x) * 3;
            p[0] = (uint8_t)(x * 10), p[1] = (uint8_t)(y * 15), p[2] = (uint8_t)(100 + x + y);
            grey[y * W + x] = (uint8_t)(x * 5 + y * 3);
        }
    for (int prog = 0; prog < 2; prog++) {
        const char *pg = tpath(prog ? "grey_p.jpg" : "grey.jpg");
        const char *pc = tpath(prog ? "rgb_p.jpg" : "rgb.jpg");
        write_jpeg(pg, grey, W, H, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, prog);
        write_jpeg(pc, rgb, W, H, 3, JCS_RGB, JCS_YCbCr, prog);
        fv_image a, b;
        if (load_as(pg, 1, &a)) {
            CHECK(a.w == W && a.h == H && a.c == 1);
            int d = max_diff(a.px, grey, W * H);
            if (d > JPEG_TOL) fprintf(stderr, "  grey jpeg: max diff %d\n", d);
            CHECK(d <= JPEG_TOL);
            fv__image_free(&a);
        }
        if (load_as(pc, 3, &b)) {
            CHECK(b.w == W && b.h == H && b.c == 3);
            int d = max_diff(b.px, rgb, W * H * 3);
            if (d > JPEG_TOL) fprintf(stderr, "  rgb jpeg: max diff %d\n", d);
            CHECK(d <= JPEG_TOL);
            fv__image_free(&b);
        }
    }
}

TEST(jpeg_cmyk_and_ycck_with_adobe_inversion)
{
    enum { W = 16, H = 16 };
    uint8_t cmyk[W * H * 4], want[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        /* flat blocks of 8 × 8: exact after the DCT round trip up to rounding */
        int blk = (i % W) / 8 + 2 * ((i / W) / 8);
        uint8_t v[4] = {(uint8_t)(40 + 50 * blk), (uint8_t)(200 - 30 * blk), (uint8_t)(90 + blk),
                        (uint8_t)(255 - 20 * blk)};
        memcpy(cmyk + 4 * i, v, 4);
        /* Adobe files hold inverted inks: TensorFlow's R = C·K/255 */
        for (int k = 0; k < 3; k++)
            want[3 * i + k] = (uint8_t)(v[k] * v[3] / 255);
    }
    const char *p1 = tpath("cmyk.jpg"), *p2 = tpath("ycck.jpg");
    write_jpeg(p1, cmyk, W, H, 4, JCS_CMYK, JCS_CMYK, false);
    write_jpeg(p2, cmyk, W, H, 4, JCS_CMYK, JCS_YCCK, false);
    for (int k = 0; k < 2; k++) {
        fv_image im;
        if (!load_as(k ? p2 : p1, 3, &im)) {
            CHECK(0);
            continue;
        }
        CHECK(im.c == 3 && im.w == W && im.h == H);
        int d = max_diff(im.px, want, W * H * 3);
        if (d > JPEG_TOL) fprintf(stderr, "  %s: max diff %d\n", k ? "ycck" : "cmyk", d);
        CHECK(d <= JPEG_TOL);
        fv__image_free(&im);
    }
}

/* ---- BMP and GIF (written by Pillow through tests/image_formats.py) ----------------------------
 */

TEST(bmp_written_by_hand_pixel_exact)
{
    /* A BMP written from the format's description: BITMAPINFOHEADER, 24-bit, bottom-up rows
     * padded to 4 bytes. */
    enum { W = 3, H = 2 };
    uint8_t f[54 + 2 * 12] = {'B', 'M'};
    uint32_t size = sizeof f;
    memcpy(f + 2, &size, 4);
    f[10] = 54;
    f[14] = 40;
    f[18] = W, f[22] = H;
    f[26] = 1, f[28] = 24;
    const uint8_t px[H][W][3] = {{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}},
                                 {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}}}; /* RGB, top row 0 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++) /* BGR, bottom row first */
                f[54 + (H - 1 - y) * 12 + x * 3 + k] = px[y][x][2 - k];
    const char *p = tpath("hand.bmp");
    write_bytes(p, f, sizeof f);
    fv_image im;
    if (load_as(p, 3, &im)) {
        CHECK(im.w == W && im.h == H);
        CHECK(memcmp(im.px, px, sizeof px) == 0);
        fv__image_free(&im);
    } else {
        CHECK(0);
    }
}

/* The BMP and GIF seeds of the fuzz corpus, written by Pillow (tests/fuzz/make_image_corpus.sh)
 * from a formula: v = (37x + 11y) mod 256; RGB images hold (v, 255 - v, 9x mod 256); palette
 * images index v mod 16 into the palette i -> (16i, 255 - 16i, 7i). A trailing knob byte
 * follows each file (the decoders stop at the format's end). */
TEST(bmp_and_gif_from_pillow_pixel_exact)
{
    static const struct {
        const char *file;
        int w, h;
        bool palette;
    } f[] = {{"fuzz/corpus/image/rgb24.bmp", 7, 3, false},
             {"fuzz/corpus/image/palette8.bmp", 6, 5, true},
             {"fuzz/corpus/image/first-frame.gif", 9, 7, true}};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        fv_image im;
        if (!load_as(f[k].file, 3, &im)) {
            CHECK(0);
            continue;
        }
        CHECK(im.w == f[k].w && im.h == f[k].h);
        int bad = 0;
        for (int y = 0; y < im.h && y < f[k].h; y++)
            for (int x = 0; x < im.w && x < f[k].w; x++) {
                int v = (x * 37 + y * 11) % 256, i = v % 16;
                int want[3] = {v, 255 - v, x * 9 % 256};
                if (f[k].palette) want[0] = 16 * i, want[1] = 255 - 16 * i, want[2] = 7 * i;
                const uint8_t *p = im.px + (y * im.w + x) * 3;
                bad += p[0] != want[0] || p[1] != want[1] || p[2] != want[2];
            }
        if (bad) fprintf(stderr, "  %s: %d pixels differ\n", f[k].file, bad);
        CHECK(bad == 0);
        fv__image_free(&im);
    }
}

/* ---- hostile files --------------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* decode must fail with a message that names the origin and contains `why`. */
static void expect_refused(const uint8_t *buf, size_t len, const char *origin, const char *why)
{
    fv_image im;
    fv_status s = fv__image_decode(buf, len, origin, 0, &im);
    if (s == FV_OK) fprintf(stderr, "  %s: decoded, but should have been refused\n", origin);
    CHECK(s != FV_OK);
    CHECK(im.px == NULL);
    const char *msg = fv_last_error();
    CHECK(strstr(msg, origin) != NULL);
    if (!strstr(msg, why)) fprintf(stderr, "  %s: message '%s' lacks '%s'\n", origin, msg, why);
    CHECK(strstr(msg, why) != NULL);
}

TEST(hostile_files_refused_with_reason)
{
    expect_refused((const uint8_t *)"", 0, "zero.png", "empty file");
    expect_refused((const uint8_t *)"hello world", 11, "text.jpg", "not a PNG, JPEG, BMP or GIF");
    /* a PNG header claiming 100000 x 100000 pixels (valid CRC): refused from the header */
    uint8_t bomb[8 + 25] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put_be32(bomb + 8, 13);
    memcpy(bomb + 12, "IHDR", 4);
    put_be32(bomb + 16, 100000);
    put_be32(bomb + 20, 100000);
    bomb[24] = 8, bomb[25] = 2; /* 8-bit RGB */
    put_be32(bomb + 29, (uint32_t)crc32(0, bomb + 12, 17));
    expect_refused(bomb, sizeof bomb, "bomb.png", "more than the limit of 178956970 pixels");
    /* a JPEG whose frame header claims 65500 x 65500 */
    enum { W = 8, H = 8 };
    uint8_t px[W * H];
    memset(px, 128, sizeof px);
    const char *pj = tpath("small.jpg");
    write_jpeg(pj, px, W, H, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, false);
    size_t len;
    uint8_t *j = slurp(pj, &len);
    CHECK(j != NULL);
    for (size_t i = 0; j && i + 9 < len; i++)
        if (j[i] == 0xff && j[i + 1] == 0xc0) { /* SOF0: length, precision, height, width */
            j[i + 5] = 0xff, j[i + 6] = 0xdc, j[i + 7] = 0xff, j[i + 8] = 0xdc;
            break;
        }
    if (j) expect_refused(j, len, "bomb.jpg", "more than the limit");
    /* truncated JPEG and PNG */
    free(j);
    uint8_t big[64 * 64];
    for (int i = 0; i < 64 * 64; i++)
        big[i] = (uint8_t)(i * 7 + i / 64);
    write_jpeg(pj, big, 64, 64, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, false);
    j = slurp(pj, &len);
    if (j) expect_refused(j, len / 2, "cut.jpg", "truncated");
    free(j);
    uint16_t s[64 * 64];
    for (int i = 0; i < 64 * 64; i++)
        s[i] = big[i];
    png_spec sp = {
        .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8, .w = 64, .h = 64, .samples = s};
    const char *pp = tpath("cut.png");
    write_png(pp, &sp);
    uint8_t *p = slurp(pp, &len);
    if (p) expect_refused(p, len / 2, "cut.png", "truncated");
    /* a corrupt PNG: a byte of the image data changed (the chunk's CRC no longer matches) */
    if (p) {
        p[len / 2] ^= 0x55;
        expect_refused(p, len, "crc.png", "bad PNG file");
    }
    free(p);
    /* a BMP and a GIF claiming too many pixels */
    uint8_t bmp[54] = {'B', 'M'};
    bmp[10] = 54, bmp[14] = 40;
    put_be32(bmp + 18, 0), bmp[18] = 0xa0, bmp[19] = 0x86, bmp[20] = 0x01; /* 100000, LE */
    bmp[22] = 0xa0, bmp[23] = 0x86, bmp[24] = 0x01;
    bmp[26] = 1, bmp[28] = 24;
    expect_refused(bmp, sizeof bmp, "bomb.bmp", "BMP");
    uint8_t gif[13 + 10] = {'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0};
    expect_refused(gif, sizeof gif, "bomb.gif", "GIF");
}

/* ---- resize against PyTorch, the split shuffle against NumPy (fixture) -------------------------
 */

TEST(resize_matches_pytorch_within_1e5)
{
    fv_st_file f;
    if (fv__st_read("fixtures/image_resize.safetensors", &f) != FV_OK) {
        fprintf(stderr, "  %s\n", fv_last_error());
        CHECK(0);
        return;
    }
    for (int k = 0;; k++) {
        char key[32], name[48];
        snprintf(key, sizeof key, "resize.%d", k);
        const char *m = fv__st_meta(&f, key);
        if (!m) {
            CHECK(k >= 6);
            break;
        }
        long long h, w, c, oh, ow;
        CHECK(sscanf(m, "%lld,%lld,%lld,%lld,%lld", &h, &w, &c, &oh, &ow) == 5);
        float *in = malloc((size_t)(h * w * c) * sizeof *in);
        float *want = malloc((size_t)(oh * ow * c) * sizeof *in);
        float *got = malloc((size_t)(oh * ow * c) * sizeof *in);
        uint8_t *in8 = malloc((size_t)(h * w * c)), *got8 = malloc((size_t)(oh * ow * c));
        snprintf(name, sizeof name, "%s.in", key);
        fv__st_copy_f32(&f, fv__st_find(&f, name), in);
        for (int mode = 0; mode < 2; mode++) {
            snprintf(name, sizeof name, "%s.%s", key, mode ? "nearest" : "out");
            fv__st_copy_f32(&f, fv__st_find(&f, name), want);
            fv_interpolation ip = mode ? FV_INTERP_NEAREST : FV_INTERP_BILINEAR;
            CHECK_OK(fv__image_resize_f32(in, w, c, 0, 0, h, w, got, oh, ow, ip));
            double worst = 0;
            for (long long i = 0; i < oh * ow * c; i++) {
                double d = fabs((double)got[i] - (double)want[i]);
                if (d > worst) worst = d;
            }
            /* values are 0..255: 1e-5 relative to the range */
            if (worst > 255e-5)
                fprintf(stderr, "  %s %s: max difference %g\n", key, mode ? "nearest" : "bilinear",
                        worst);
            CHECK(worst <= 255e-5);
            /* the uint8 path is the float path rounded */
            for (long long i = 0; i < h * w * c; i++)
                in8[i] = (uint8_t)in[i];
            float *ref = malloc((size_t)(h * w * c) * sizeof *ref);
            for (long long i = 0; i < h * w * c; i++)
                ref[i] = in8[i];
            CHECK_OK(fv__image_resize_f32(ref, w, c, 0, 0, h, w, got, oh, ow, ip));
            CHECK_OK(fv__image_resize_u8(in8, w, c, 0, 0, h, w, got8, oh, ow, ip));
            int bad = 0;
            for (long long i = 0; i < oh * ow * c; i++)
                bad += got8[i] != (uint8_t)floorf(got[i] + 0.5f);
            CHECK(bad == 0);
            free(ref);
        }
        free(in), free(want), free(got), free(in8), free(got8);
    }
    for (int k = 0;; k++) {
        char key[32];
        snprintf(key, sizeof key, "shuffle.%d", k);
        const char *m = fv__st_meta(&f, key);
        if (!m) {
            CHECK(k >= 5);
            break;
        }
        long long n;
        unsigned long long seed;
        CHECK(sscanf(m, "%lld,%llu", &n, &seed) == 2);
        float *want = malloc((size_t)n * sizeof *want);
        int64_t *perm = malloc((size_t)n * sizeof *perm);
        fv__st_copy_f32(&f, fv__st_find(&f, key), want);
        for (long long i = 0; i < n; i++)
            perm[i] = i;
        fv__numpy_shuffle(perm, n, seed);
        int bad = 0;
        for (long long i = 0; i < n; i++)
            bad += perm[i] != (int64_t)want[i];
        if (bad) fprintf(stderr, "  %s: %d positions differ from NumPy's\n", key, bad);
        CHECK(bad == 0);
        free(want), free(perm);
    }
    fv__st_free(&f);
}

TEST(crop_box_is_keras_smart_resize)
{
    int64_t y0, x0, ch, cw;
    /* 100 × 50 to 32 × 32: the centred 50 × 50 */
    fv__image_crop_box(100, 50, 32, 32, &y0, &x0, &ch, &cw);
    CHECK(y0 == 25 && x0 == 0 && ch == 50 && cw == 50);
    /* 30 × 80 to 10 × 20: crop_w = int(30·20/10) = 60, x0 = int(20/2) = 10 */
    fv__image_crop_box(30, 80, 10, 20, &y0, &x0, &ch, &cw);
    CHECK(y0 == 0 && x0 == 10 && ch == 30 && cw == 60);
}

/* ---- folders --------------------------------------------------------------------------------- */

static void grey_png(const char *path, int value)
{
    uint16_t s[4 * 4];
    for (int i = 0; i < 16; i++)
        s[i] = (uint16_t)value;
    png_spec sp = {.color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8, .w = 4, .h = 4, .samples = s};
    write_png(path, &sp);
}

typedef struct skips {
    int n;
    char text[16][600];
} skips;

static void on_skip(void *user, const char *path, const char *reason)
{
    skips *s = user;
    if (s->n < 16) snprintf(s->text[s->n], sizeof s->text[0], "%s | %s", path, reason);
    s->n++;
}

static bool skipped(const skips *s, const char *path_part, const char *why)
{
    for (int i = 0; i < s->n && i < 16; i++)
        if (strstr(s->text[i], path_part) && strstr(s->text[i], why)) return true;
    return false;
}

TEST(folder_as_keras_image_dataset)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/tree/b/sub %s/tree/a %s/tree/c %s/elsewhere", tmpdir,
             tmpdir, tmpdir, tmpdir);
    CHECK(system(cmd) == 0);
    /* a: 3 images (one upper-case extension); b: 2 + 1 in a subfolder; c: empty */
    grey_png(tpath("tree/a/x1.png"), 10);
    grey_png(tpath("tree/a/x0.PNG"), 11);
    grey_png(tpath("tree/a/x2.png"), 12);
    grey_png(tpath("tree/b/y0.png"), 20);
    grey_png(tpath("tree/b/y1.png"), 21);
    grey_png(tpath("tree/b/sub/z.png"), 22);
    grey_png(tpath("elsewhere/w.png"), 30);
    write_bytes(tpath("tree/a/._x1.png"), "mac", 3);  /* AppleDouble: ignored */
    write_bytes(tpath("tree/a/notes.txt"), "txt", 3); /* not an image: ignored */
    write_bytes(tpath("tree/b/broken.png"), "\x89PNG\r\n\x1a\nxx", 10);
    CHECK(symlink("..", tpath("tree/b/sub/loop")) == 0);             /* a loop */
    CHECK(symlink(tpath("elsewhere"), tpath("tree/a/linked")) == 0); /* a linked folder */
    fv_image_opts o = fv_image_defaults();
    o.height = 2, o.width = 2, o.channels = 1;
    skips sk = {0};
    o.on_skip = on_skip, o.user = &sk;
    fv_dataset *d = NULL, *v = NULL;
    fv_image_info info;
    CHECK_OK(fv_dataset_load_image_dir(tpath("tree"), &o, &d, &v, &info));
    CHECK(v == NULL);
    CHECK(info.files == 7 && info.loaded == 6 && info.skipped == 1 && info.classes == 3);
    CHECK(skipped(&sk, "broken.png", "bad PNG file"));
    CHECK(skipped(&sk, "tree/c", "empty class folder"));
    CHECK(skipped(&sk, "tree/a/linked", "not followed"));
    if (d) {
        CHECK(fv_dataset_count(d) == 6 && fv_dataset_classes(d) == 3);
        CHECK(strcmp(fv_dataset_class_name(d, 0), "a") == 0);
        CHECK(strcmp(fv_dataset_class_name(d, 2), "c") == 0);
        /* Keras' order: class a's files by name (x0.PNG < x1 < x2), then b's, then b/sub's */
        static const char *const order[] = {"a/x0.PNG", "a/x1.png", "a/x2.png",
                                            "b/y0.png", "b/y1.png", "b/sub/z.png"};
        static const int value[] = {11, 10, 12, 20, 21, 22}, label[] = {0, 0, 0, 1, 1, 1};
        for (int i = 0; i < 6; i++) {
            CHECK(strstr(fv_dataset_file(d, i), order[i]) != NULL);
            CHECK(d->u8[i * 4] == value[i] && d->labels[i] == label[i]);
        }
    }
    fv_dataset_free(d);
    /* with follow_links: the linked folder's image joins class a; the loop is reported */
    o.follow_links = true;
    sk.n = 0;
    CHECK_OK(fv_dataset_load_image_dir(tpath("tree"), &o, &d, NULL, &info));
    CHECK(info.loaded == 7);
    CHECK(skipped(&sk, "sub/loop", "symbolic link loop"));
    fv_dataset_free(d);
    /* strict: the broken file is an error naming it */
    o.strict = true;
    CHECK(fv_dataset_load_image_dir(tpath("tree"), &o, &d, NULL, &info) == FV_ERR_FORMAT);
    CHECK(d == NULL && strstr(fv_last_error(), "broken.png"));
    o.strict = false;
    /* the split: Keras' int(0.5 · 7) = 3 last files of the shuffled list */
    o.validation_split = 0.5, o.seed = 42, o.follow_links = false;
    CHECK_OK(fv_dataset_load_image_dir(tpath("tree"), &o, &d, &v, &info));
    if (d && v) {
        /* the listing in order, then NumPy's permutation (checked above against NumPy) */
        static const char *const all[] = {"a/x0.PNG", "a/x1.png", "a/x2.png",   "b/broken.png",
                                          "b/y0.png", "b/y1.png", "b/sub/z.png"};
        int64_t perm[7] = {0, 1, 2, 3, 4, 5, 6};
        fv__numpy_shuffle(perm, 7, 42);
        int64_t t = 0, k = 0;
        for (int i = 0; i < 7; i++) {
            if (perm[i] == 3) continue; /* the broken file: skipped on whichever side */
            const fv_dataset *side = i < 4 ? d : v;
            int64_t j = i < 4 ? t++ : k++;
            CHECK(strstr(fv_dataset_file(side, j), all[perm[i]]) != NULL);
        }
        CHECK(fv_dataset_count(d) + fv_dataset_count(v) == 6);
        CHECK(fv_dataset_count(v) == 3 - (perm[4] == 3 || perm[5] == 3 || perm[6] == 3));
        CHECK(fv_dataset_class_name(v, 1) && strcmp(fv_dataset_class_name(v, 1), "b") == 0);
    }
    fv_dataset_free(d);
    fv_dataset_free(v);
    /* class names given (a test folder): an unknown folder is an error naming it */
    const char *names[] = {"a", "c"};
    o.validation_split = 0, o.class_names = names, o.nclass_names = 2;
    CHECK(fv_dataset_load_image_dir(tpath("tree"), &o, &d, NULL, &info) == FV_ERR_FORMAT);
    CHECK(strstr(fv_last_error(), "'b'") != NULL);
    /* no class folders at all; not a folder */
    o.class_names = NULL, o.nclass_names = 0;
    CHECK(fv_dataset_load_image_dir(tpath("tree/c"), &o, &d, NULL, &info) == FV_ERR_FORMAT);
    CHECK(strstr(fv_last_error(), "no class subfolders") != NULL);
    CHECK(fv_dataset_load_image_dir(tpath("tree/a/x1.png"), &o, &d, NULL, &info) != FV_OK);
    CHECK(strstr(fv_last_error(), "x1.png") != NULL);
}

TEST(class_files_in_keras_path_order)
{
    /* Keras sorts a class's folders by their whole path: "s" < "s-x" < "s/deep", since '-' sorts
     * before '/'; a depth-first walk would put s/deep before s-x. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/kord/c/s/deep %s/kord/c/s-x", tmpdir, tmpdir);
    CHECK(system(cmd) == 0);
    grey_png(tpath("kord/c/s/deep/a.png"), 3);
    grey_png(tpath("kord/c/s-x/a.png"), 2);
    grey_png(tpath("kord/c/s/b.png"), 1);
    grey_png(tpath("kord/c/z.png"), 0);
    fv_image_opts o = fv_image_defaults();
    o.height = 4, o.width = 4, o.channels = 1;
    fv_dataset *d = NULL;
    CHECK_OK(fv_dataset_load_image_dir(tpath("kord"), &o, &d, NULL, NULL));
    if (d && fv_dataset_count(d) == 4)
        for (int i = 0; i < 4; i++)
            CHECK(d->u8[i * 16] == i);
    fv_dataset_free(d);
}

TEST(file_order_name_sorts_across_classes)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/ord/p %s/ord/q", tmpdir, tmpdir);
    CHECK(system(cmd) == 0);
    grey_png(tpath("ord/q/00000.png"), 1);
    grey_png(tpath("ord/p/00001.png"), 2);
    grey_png(tpath("ord/q/00002.png"), 3);
    fv_image_opts o = fv_image_defaults();
    o.height = 4, o.width = 4, o.channels = 1, o.order = FV_ORDER_NAME;
    fv_dataset *d = NULL;
    CHECK_OK(fv_dataset_load_image_dir(tpath("ord"), &o, &d, NULL, NULL));
    if (d) {
        CHECK(d->u8[0] == 1 && d->u8[16] == 2 && d->u8[32] == 3);
        CHECK(d->labels[0] == 1 && d->labels[1] == 0 && d->labels[2] == 1);
    }
    fv_dataset_free(d);
}

/* ---- CIFAR ----------------------------------------------------------------------------------- */

/* A record as the format's page describes it: label byte(s), then 1,024 red, 1,024 green and
 * 1,024 blue values, each channel's rows top to bottom. Pixel (y, x, c) gets (y·7 + x·3 + c·50 +
 * seed) mod 256. */
static void cifar_record(uint8_t *r, const uint8_t *labels, int nlabels, int seed)
{
    memcpy(r, labels, (size_t)nlabels);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                r[nlabels + c * 1024 + y * 32 + x] =
                    (uint8_t)((y * 7 + x * 3 + c * 50 + seed) & 255);
}

TEST(cifar10_and_cifar100_binary)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/c10 %s/c100", tmpdir, tmpdir);
    CHECK(system(cmd) == 0);
    uint8_t recs[3 * 3074];
    for (int i = 0; i < 3; i++) {
        uint8_t l = (uint8_t)(i * 4); /* 0, 4, 8 */
        cifar_record(recs + i * 3073, &l, 1, i);
    }
    write_bytes(tpath("c10/data_batch_1.bin"), recs, 2 * 3073);
    write_bytes(tpath("c10/data_batch_2.bin"), recs + 2 * 3073, 3073);
    write_bytes(tpath("c10/test_batch.bin"), recs, 3073);
    const char *names10 =
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    write_bytes(tpath("c10/batches.meta.txt"), names10, strlen(names10));
    fv_dataset *tr = NULL, *te = NULL;
    CHECK_OK(fv_dataset_load_cifar(tpath("c10"), NULL, &tr, &te));
    if (tr && te) {
        CHECK(fv_dataset_count(tr) == 3 && fv_dataset_count(te) == 1);
        CHECK(fv_dataset_classes(tr) == 10);
        CHECK(tr->labels[0] == 0 && tr->labels[1] == 4 && tr->labels[2] == 8);
        CHECK(strcmp(fv_dataset_class_name(tr, 8), "ship") == 0);
        int64_t dims[4];
        CHECK(fv_dataset_shape(tr, dims) == 3 && dims[0] == 32 && dims[1] == 32 && dims[2] == 3);
        /* HWC: sample 2, pixel (y 5, x 9), blue */
        CHECK(tr->u8[2 * 3072 + (5 * 32 + 9) * 3 + 2] == (uint8_t)(5 * 7 + 9 * 3 + 100 + 2));
    }
    fv_dataset_free(tr);
    fv_dataset_free(te);
    /* CIFAR-100: coarse then fine */
    uint8_t l2[2] = {19, 99};
    cifar_record(recs, l2, 2, 5);
    write_bytes(tpath("c100/train.bin"), recs, 3074);
    write_bytes(tpath("c100/test.bin"), recs, 3074);
    CHECK_OK(fv_dataset_load_cifar(tpath("c100"), "coarse", &tr, NULL));
    CHECK(tr && tr->labels[0] == 19 && fv_dataset_classes(tr) == 20);
    fv_dataset_free(tr);
    CHECK_OK(fv_dataset_load_cifar(tpath("c100"), "fine", &tr, NULL));
    CHECK(tr && tr->labels[0] == 99 && fv_dataset_classes(tr) == 100);
    CHECK(tr && tr->u8[0] == 5 && tr->u8[1] == 55 && tr->u8[2] == 105);
    fv_dataset_free(tr);
    /* a names file with the wrong count, a cut record, a label out of range */
    write_bytes(tpath("c100/coarse_label_names.txt"), "a\nb\n", 4);
    CHECK(fv_dataset_load_cifar(tpath("c100"), "coarse", &tr, NULL) == FV_ERR_FORMAT);
    CHECK(strstr(fv_last_error(), "coarse_label_names.txt") != NULL);
    write_bytes(tpath("c100/train.bin"), recs, 3000);
    CHECK(fv_dataset_load_cifar(tpath("c100"), "fine", &tr, NULL) == FV_ERR_FORMAT);
    CHECK(strstr(fv_last_error(), "train.bin") && strstr(fv_last_error(), "3074-byte"));
    recs[1] = 100;
    write_bytes(tpath("c100/train.bin"), recs, 3074);
    CHECK(fv_dataset_load_cifar(tpath("c100"), "fine", &tr, NULL) == FV_ERR_FORMAT);
    CHECK(strstr(fv_last_error(), "label 100") != NULL);
    CHECK(fv_dataset_load_cifar(tpath("c100"), "medium", &tr, NULL) == FV_ERR_INVALID);
}

/* ---- class names in a saved model ------------------------------------------------------------ */

TEST(class_names_saved_with_the_model)
{
    fv_model *m = fv_model_parse_string("input shape=4\ndense units=3 activation=softmax\n"
                                        "compile loss=sparse_categorical_crossentropy\n",
                                        "names.fv");
    CHECK(m != NULL);
    if (!m) return;
    const char *names[] = {"T-shirt_top", "Trouser", "café \"quoted\""};
    CHECK_OK(fv_model_set_class_names(m, 3, names));
    CHECK_OK(fv_model_save(m, tpath("names.safetensors")));
    fv_model_free(m);
    m = fv_model_load(tpath("names.safetensors"));
    CHECK(m && fv_model_class_count(m) == 3);
    CHECK(m && strcmp(fv_model_class_name(m, 2), names[2]) == 0);
    CHECK(m && fv_model_class_name(m, 3) == NULL);
    fv_model_free(m);
}

int main(void)
{
    test_tmpdir("image", tmpdir, sizeof tmpdir);
    RUN(png_every_variant_pixel_exact);
    RUN(jpeg_grey_rgb_progressive_within_tolerance);
    RUN(jpeg_cmyk_and_ycck_with_adobe_inversion);
    RUN(bmp_written_by_hand_pixel_exact);
    RUN(bmp_and_gif_from_pillow_pixel_exact);
    RUN(hostile_files_refused_with_reason);
    RUN(resize_matches_pytorch_within_1e5);
    RUN(crop_box_is_keras_smart_resize);
    RUN(folder_as_keras_image_dataset);
    RUN(class_files_in_keras_path_order);
    RUN(file_order_name_sorts_across_classes);
    RUN(cifar10_and_cifar100_binary);
    RUN(class_names_saved_with_the_model);
    return TEST_SUMMARY();
}
