/* image.c — one image file in memory to 8-bit pixels at the model's size: libpng for PNG,
 * libjpeg-turbo for JPEG, stb_image (Debian's libstb, linked) for BMP and GIF; then the stated
 * channel conversions and TensorFlow's resize. Every file is hostile: sizes come from the header
 * and are checked against a pixel limit before any pixel memory is allocated.
 */
#include "io/image.h"

#include <jpeglib.h>
#include <jerror.h> /* after jpeglib.h: the enum of message codes (JWRN_JPEG_EOF) */
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A progressive JPEG may hold any number of scans, each a pass over the whole image: a small
 * hostile file can make the decoder work for minutes. libjpeg-turbo's advice (djpeg -maxscans)
 * is a limit in a progress monitor; real encoders write about ten. */
#define FV_JPEG_MAX_SCANS 1000
/* Memory libjpeg may use for its own buffers (the progressive coefficient arrays are the large
 * ones: about 2 bytes per pixel and component). */
#define FV_JPEG_MAX_MEMORY ((long)2 << 30)

void fv__image_free(fv_image *im)
{
    if (!im) return;
    free(im->px);
    im->px = NULL;
    im->h = im->w = 0;
    im->c = 0;
}

const char *fv__image_format(const uint8_t *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return "JPEG";
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) return "GIF";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    return NULL;
}

/* h × w × c bytes for a header's size, or an error: a dimension < 1, more than max_pixels, or
 * more than fits in memory sizes. */
static fv_status check_size(int64_t h, int64_t w, int c, int64_t max_pixels, const char *origin,
                            const char *fmt, size_t *bytes)
{
    if (max_pixels <= 0) max_pixels = FV_IMAGE_MAX_PIXELS;
    if (h < 1 || w < 1)
        return fv__fail(FV_ERR_FORMAT, "%s: the %s header gives a size of %lld x %lld pixels",
                        origin, fmt, (long long)w, (long long)h);
    int64_t pixels;
    if (!fv__mul_i64(h, w, &pixels) || pixels > max_pixels)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: the %s header claims %lld x %lld pixels, more than the limit of "
                        "%lld pixels (a decompression bomb?); nothing was decoded",
                        origin, fmt, (long long)w, (long long)h, (long long)max_pixels);
    int64_t total;
    if (!fv__mul_i64(pixels, c, &total) || (uint64_t)total > SIZE_MAX)
        return fv__fail(FV_ERR_NOMEM, "%s: %lld x %lld pixels do not fit in memory", origin,
                        (long long)w, (long long)h);
    *bytes = (size_t)total;
    return FV_OK;
}

/* ---- PNG ------------------------------------------------------------------------------------ */

typedef struct png_src {
    const uint8_t *buf;
    size_t len, off;
    char msg[200];
    const char *origin;
} png_src;

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->off) png_error(png, "the file ends early (truncated)");
    memcpy(out, s->buf + s->off, n);
    s->off += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* ancillary-chunk problems: the pixels are still right */
}

static fv_status decode_png(const uint8_t *buf, size_t len, const char *origin, int64_t max_pixels,
                            fv_image *out)
{
    /* The size from IHDR (signature, length, "IHDR", width, height: big-endian), checked before
     * libpng reads on: a bomb is refused even when nothing follows its header. */
    if (len >= 24 && memcmp(buf + 12, "IHDR", 4) == 0) {
        int64_t w = (int64_t)buf[16] << 24 | buf[17] << 16 | buf[18] << 8 | buf[19];
        int64_t h = (int64_t)buf[20] << 24 | buf[21] << 16 | buf[22] << 8 | buf[23];
        size_t bytes;
        fv_status st = check_size(h, w, 4, max_pixels, origin, "PNG", &bytes);
        if (st != FV_OK) return st;
    }
    png_src src = {.buf = buf, .len = len, .origin = origin};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return fv__fail(FV_ERR_NOMEM, "%s: out of memory starting libpng", origin);
    png_infop info = png_create_info_struct(png);
    /* volatile: changed between setjmp and a longjmp back to it */
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    volatile fv_status st = FV_ERR_FORMAT;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory starting libpng", origin);
    }
    if (setjmp(png_jmpbuf(png))) {
        if (st == FV_ERR_FORMAT) fv__fail(FV_ERR_FORMAT, "%s: bad PNG file: %s", origin, src.msg);
        goto fail;
    }
    png_set_read_fn(png, &src, png_read_mem);
    /* libpng's own limits on top of ours: the header's width and height, and one chunk's memory
     * (a huge iCCP or zTXt chunk). */
    png_set_user_limits(png, 1u << 24, 1u << 24);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)64 << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    size_t bytes;
    /* 4 channels: the most the transformations below can give. */
    fv_status sz = check_size(h, w, 4, max_pixels, origin, "PNG", &bytes);
    if (sz != FV_OK) {
        st = sz;
        goto fail;
    }
    png_set_expand(png);   /* palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha */
    png_set_strip_16(png); /* 16 -> 8 bits: the high byte */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (c < 1 || c > 4 || rowbytes != (size_t)w * (size_t)c) {
        st = fv__fail(FV_ERR_FORMAT, "%s: PNG with an unexpected layout (%d channels)", origin, c);
        goto fail;
    }
    bytes = (size_t)h * rowbytes;
    px = malloc(bytes ? bytes : 1);
    rows = malloc((size_t)h * sizeof *rows);
    if (!px || !rows) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory for %u x %u pixels", origin, w, h);
        goto fail;
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = px + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* checks the image data's end and the CRCs that follow */
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->h = h, out->w = w, out->c = c, out->px = px;
    return FV_OK;
fail:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(px);
    return st;
}

/* ---- JPEG ----------------------------------------------------------------------------------- */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    bool truncated;
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jmp, 1);
}

/* Warnings: a file that ends early is an error (libjpeg would fill the rest with grey, as
 * TensorFlow refuses and Pillow calls "truncated"); other corrupt-data warnings are kept quiet. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        e->truncated = true;
        (*cinfo->err->format_message)(cinfo, e->msg);
    }
}

static void jpeg_progress(j_common_ptr cinfo)
{
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > FV_JPEG_MAX_SCANS) {
            jpeg_err *e = (jpeg_err *)cinfo->err;
            snprintf(e->msg, sizeof e->msg, "more than %d scans", FV_JPEG_MAX_SCANS);
            longjmp(e->jmp, 1);
        }
    }
}

static fv_status decode_jpeg(const uint8_t *buf, size_t len, const char *origin, int64_t max_pixels,
                             fv_image *out)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    struct jpeg_progress_mgr progress = {.progress_monitor = jpeg_progress};
    uint8_t *volatile px = NULL;
    uint8_t *volatile row = NULL;
    volatile fv_status st = FV_ERR_FORMAT;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_on_error;
    err.pub.emit_message = jpeg_on_message;
    if (setjmp(err.jmp)) {
        if (st == FV_ERR_FORMAT) fv__fail(FV_ERR_FORMAT, "%s: bad JPEG file: %s", origin, err.msg);
        goto fail;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    cinfo.mem->max_memory_to_use = FV_JPEG_MAX_MEMORY;
    if (len > (unsigned long)-1) len = (unsigned long)-1;
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    size_t bytes;
    fv_status sz =
        check_size(cinfo.image_height, cinfo.image_width, 4, max_pixels, origin, "JPEG", &bytes);
    if (sz != FV_OK) {
        st = sz;
        goto fail;
    }
    bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (cmyk)
        cinfo.out_color_space = JCS_CMYK; /* libjpeg turns YCCK into CMYK */
    else if (cinfo.num_components == 1)
        cinfo.out_color_space = JCS_GRAYSCALE;
    else
        cinfo.out_color_space = JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    int c = cmyk ? 3 : cinfo.output_components;
    int inc = cinfo.output_components;
    size_t w = cinfo.output_width, h = cinfo.output_height;
    if ((c != 1 && c != 3) || (cmyk && inc != 4) || w != cinfo.image_width ||
        h != cinfo.image_height) {
        st = fv__fail(FV_ERR_FORMAT, "%s: JPEG with an unexpected layout (%d components)", origin,
                      inc);
        goto fail;
    }
    px = malloc(h * w * (size_t)c);
    row = malloc(w * (size_t)inc);
    if (!px || !row) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory for %zu x %zu pixels", origin, w, h);
        goto fail;
    }
    bool adobe = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < h) {
        size_t y = cinfo.output_scanline;
        JSAMPROW r = cmyk ? row : px + y * w * (size_t)c;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) {
            snprintf(err.msg, sizeof err.msg, "no data for row %zu", y);
            err.truncated = true;
            break;
        }
        if (err.truncated) break;
        if (!cmyk) continue;
        uint8_t *dst = px + y * w * 3;
        /* TensorFlow's CMYK conversion (jpeg_mem.cc): Adobe's files store the inks inverted. */
        for (size_t x = 0; x < w; x++) {
            int C = row[4 * x], M = row[4 * x + 1], Y = row[4 * x + 2], K = row[4 * x + 3];
            if (adobe) {
                dst[3 * x] = (uint8_t)(C * K / 255);
                dst[3 * x + 1] = (uint8_t)(M * K / 255);
                dst[3 * x + 2] = (uint8_t)(Y * K / 255);
            } else {
                dst[3 * x] = (uint8_t)((255 - C) * (255 - K) / 255);
                dst[3 * x + 1] = (uint8_t)((255 - M) * (255 - K) / 255);
                dst[3 * x + 2] = (uint8_t)((255 - Y) * (255 - K) / 255);
            }
        }
    }
    if (err.truncated) {
        st = fv__fail(FV_ERR_FORMAT, "%s: bad JPEG file: %s (truncated)", origin, err.msg);
        goto fail;
    }
    jpeg_finish_decompress(&cinfo);
    if (err.truncated) {
        st = fv__fail(FV_ERR_FORMAT, "%s: bad JPEG file: %s (truncated)", origin, err.msg);
        goto fail;
    }
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->h = (int64_t)h, out->w = (int64_t)w, out->c = c, out->px = px;
    return FV_OK;
fail:
    jpeg_destroy_decompress(&cinfo);
    free(row);
    free(px);
    return st;
}

/* ---- BMP and GIF (stb_image) ------------------------------------------------------------------
 */

static fv_status decode_stb(const uint8_t *buf, size_t len, const char *origin, const char *fmt,
                            int64_t max_pixels, fv_image *out)
{
    if (len > INT32_MAX)
        return fv__fail(FV_ERR_FORMAT, "%s: a %s file over 2 GB is not supported", origin, fmt);
    int w = 0, h = 0, c = 0;
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &c))
        return fv__fail(FV_ERR_FORMAT, "%s: bad %s file: %s", origin, fmt, stbi_failure_reason());
    size_t bytes;
    fv_status st = check_size(h, w, 4, max_pixels, origin, fmt, &bytes);
    if (st != FV_OK) return st;
    uint8_t *px = stbi_load_from_memory(buf, (int)len, &w, &h, &c, 0);
    if (!px)
        return fv__fail(FV_ERR_FORMAT, "%s: bad %s file: %s", origin, fmt, stbi_failure_reason());
    if (c < 1 || c > 4 || check_size(h, w, c, max_pixels, origin, fmt, &bytes) != FV_OK) {
        stbi_image_free(px);
        return fv__fail(FV_ERR_FORMAT, "%s: bad %s file: unexpected layout", origin, fmt);
    }
    /* stb's memory goes back through stbi_image_free: copy into our own (one small copy). */
    out->px = malloc(bytes);
    if (!out->px) {
        stbi_image_free(px);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory for %d x %d pixels", origin, w, h);
    }
    memcpy(out->px, px, bytes);
    stbi_image_free(px);
    out->h = h, out->w = w, out->c = c;
    return FV_OK;
}

fv_status fv__image_decode(const uint8_t *buf, size_t len, const char *origin, int64_t max_pixels,
                           fv_image *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0) return fv__fail(FV_ERR_FORMAT, "%s: empty file (0 bytes)", origin);
    const char *fmt = fv__image_format(buf, len);
    if (!fmt) {
        char hex[40] = "";
        size_t n = len < 8 ? len : 8, o = 0;
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(hex + o, sizeof hex - o, "%s%02x", i ? " " : "", buf[i]);
        return fv__fail(FV_ERR_FORMAT,
                        "%s: not a PNG, JPEG, BMP or GIF file (it begins with the bytes %s)",
                        origin, hex);
    }
    if (fmt[0] == 'P') return decode_png(buf, len, origin, max_pixels, out);
    if (fmt[0] == 'J') return decode_jpeg(buf, len, origin, max_pixels, out);
    return decode_stb(buf, len, origin, fmt, max_pixels, out);
}

/* ---- channels ---------------------------------------------------------------------------------
 */

static inline uint8_t grey601(int r, int g, int b)
{
    float v = 0.2989f * (float)r + 0.5870f * (float)g + 0.1140f * (float)b;
    return (uint8_t)(v + 0.5f); /* v <= 254.97: no overflow */
}

fv_status fv__image_convert(fv_image *in, int channels, const char *origin, fv_image *out)
{
    if (channels != 1 && channels != 3 && channels != 4)
        return fv__fail(FV_ERR_INVALID, "%s: %d channels asked for; expected 1, 3 or 4", origin,
                        channels);
    if (in->c == channels) {
        *out = *in;
        memset(in, 0, sizeof *in);
        return FV_OK;
    }
    size_t n = (size_t)in->h * (size_t)in->w; /* checked when decoded */
    uint8_t *px = malloc(n * (size_t)channels);
    if (!px) return fv__fail(FV_ERR_NOMEM, "%s: out of memory converting the pixels", origin);
    const uint8_t *s = in->px;
    const int c = in->c;
    const bool colour = c >= 3, alpha = c == 2 || c == 4;
    for (size_t i = 0; i < n; i++, s += c) {
        uint8_t *d = px + i * (size_t)channels;
        if (channels == 1) {
            d[0] = colour ? grey601(s[0], s[1], s[2]) : s[0];
        } else {
            d[0] = s[0];
            d[1] = colour ? s[1] : s[0];
            d[2] = colour ? s[2] : s[0];
            if (channels == 4) d[3] = alpha ? s[c - 1] : 255;
        }
    }
    out->h = in->h, out->w = in->w, out->c = channels, out->px = px;
    fv__image_free(in);
    return FV_OK;
}

/* ---- resize -----------------------------------------------------------------------------------
 */

void fv__image_crop_box(int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t *y0, int64_t *x0,
                        int64_t *ch, int64_t *cw)
{
    /* keras.preprocessing.image.smart_resize, in its float arithmetic */
    int64_t crop_h = (int64_t)((double)(w * oh) / (double)ow);
    int64_t crop_w = (int64_t)((double)(h * ow) / (double)oh);
    if (crop_h > h) crop_h = h;
    if (crop_w > w) crop_w = w;
    if (crop_h < 1) crop_h = 1;
    if (crop_w < 1) crop_w = 1;
    *y0 = (int64_t)((double)(h - crop_h) / 2);
    *x0 = (int64_t)((double)(w - crop_w) / 2);
    *ch = crop_h, *cw = crop_w;
}

/* Per output index along one axis: the two source indices (within 0..in-1) and the weight of
 * the second, TensorFlow's compute_interpolation_weights with the half-pixel scaler. */
typedef struct axis_w {
    int64_t lo, hi;
    float t;
} axis_w;

static void axis_weights(int64_t in, int64_t out, fv_interpolation interp, axis_w *a)
{
    const float scale = (float)in / (float)out;
    for (int64_t i = 0; i < out; i++) {
        if (interp == FV_INTERP_NEAREST) {
            int64_t k = (int64_t)floorf(((float)i + 0.5f) * scale);
            if (k > in - 1) k = in - 1;
            if (k < 0) k = 0;
            a[i].lo = a[i].hi = k;
            a[i].t = 0;
            continue;
        }
        float src = ((float)i + 0.5f) * scale - 0.5f;
        float f = floorf(src);
        int64_t lo = (int64_t)f, hi = (int64_t)ceilf(src);
        a[i].lo = lo < 0 ? 0 : lo;
        a[i].hi = hi > in - 1 ? in - 1 : hi;
        a[i].t = src - f;
        if (src < 0) a[i].hi = a[i].lo = 0; /* both clamp to the edge */
    }
}

/* The axis weights of a resize: oh entries for the rows, then ow for the columns; malloc'd. */
static axis_w *resize_weights(int64_t ch, int64_t cw, int64_t oh, int64_t ow,
                              fv_interpolation interp)
{
    size_t n;
    if (!fv__mul_size((size_t)(oh + ow), sizeof(axis_w), &n)) return NULL;
    axis_w *a = malloc(n);
    if (!a) return NULL;
    axis_weights(ch, oh, interp, a);
    axis_weights(cw, ow, interp, a + oh);
    return a;
}

/* tf.image.resize's bilinear step (resize_bilinear_op.cc): top, bottom, then between them. */
#define RESIZE_LOOP(T, STORE)                                                                      \
    const axis_w *ay = a, *ax = a + oh;                                                            \
    const int64_t stride = w * c;                                                                  \
    for (int64_t y = 0; y < oh; y++) {                                                             \
        const T *r0 = in + (y0 + ay[y].lo) * stride + x0 * c;                                      \
        const T *r1 = in + (y0 + ay[y].hi) * stride + x0 * c;                                      \
        const float ty = ay[y].t;                                                                  \
        for (int64_t x = 0; x < ow; x++) {                                                         \
            const int64_t l = ax[x].lo * c, r = ax[x].hi * c;                                      \
            const float tx = ax[x].t;                                                              \
            for (int64_t k = 0; k < c; k++) {                                                      \
                float tl = (float)r0[l + k], tr = (float)r0[r + k];                                \
                float bl = (float)r1[l + k], br = (float)r1[r + k];                                \
                float top = tl + (tr - tl) * tx;                                                   \
                float bottom = bl + (br - bl) * tx;                                                \
                float v = top + (bottom - top) * ty;                                               \
                out[(y * ow + x) * c + k] = STORE(v);                                              \
            }                                                                                      \
        }                                                                                          \
    }

#define STORE_F32(v) (v)
#define STORE_U8(v)  ((uint8_t)((v) <= 0 ? 0 : (v) >= 255 ? 255 : (int)((v) + 0.5f)))

fv_status fv__image_resize_f32(const float *in, int64_t w, int64_t c, int64_t y0, int64_t x0,
                               int64_t ch, int64_t cw, float *out, int64_t oh, int64_t ow,
                               fv_interpolation interp)
{
    axis_w *a = resize_weights(ch, cw, oh, ow, interp);
    if (!a) return fv__fail(FV_ERR_NOMEM, "out of memory resizing an image");
    RESIZE_LOOP(float, STORE_F32)
    free(a);
    return FV_OK;
}

fv_status fv__image_resize_u8(const uint8_t *in, int64_t w, int64_t c, int64_t y0, int64_t x0,
                              int64_t ch, int64_t cw, uint8_t *out, int64_t oh, int64_t ow,
                              fv_interpolation interp)
{
    axis_w *a = resize_weights(ch, cw, oh, ow, interp);
    if (!a) return fv__fail(FV_ERR_NOMEM, "out of memory resizing an image");
    RESIZE_LOOP(uint8_t, STORE_U8)
    free(a);
    return FV_OK;
}

/* ---- the pipeline -----------------------------------------------------------------------------
 */

fv_status fv__image_load_mem(const uint8_t *buf, size_t len, const char *origin,
                             const fv_image_opts *o, uint8_t *dst, fv_image *out)
{
    fv_image raw, conv = {0};
    fv_status st = fv__image_decode(buf, len, origin, o->max_pixels, &raw);
    if (st != FV_OK) return st;
    if ((st = fv__image_convert(&raw, o->channels, origin, &conv)) != FV_OK) {
        fv__image_free(&raw);
        return st;
    }
    if (o->height <= 0 || o->width <= 0) {
        *out = conv;
        return FV_OK;
    }
    int64_t y0 = 0, x0 = 0, ch = conv.h, cw = conv.w;
    if (o->crop_to_aspect_ratio)
        fv__image_crop_box(conv.h, conv.w, o->height, o->width, &y0, &x0, &ch, &cw);
    if (ch == o->height && cw == o->width && y0 == 0 && x0 == 0 && cw == conv.w)
        memcpy(dst, conv.px, (size_t)(ch * cw * conv.c)); /* the resize would be the identity */
    else
        st = fv__image_resize_u8(conv.px, conv.w, conv.c, y0, x0, ch, cw, dst, o->height, o->width,
                                 o->interpolation);
    if (st != FV_OK) {
        fv__image_free(&conv);
        return st;
    }
    out->h = o->height, out->w = o->width, out->c = conv.c, out->px = NULL;
    fv__image_free(&conv);
    return FV_OK;
}
