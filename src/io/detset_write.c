/* detset_write.c — writes a detection set with its pixels in both layouts at once: the images as
 * 8-bit PNG (libpng) in DIR/images/SPLIT, YOLO's label files in DIR/labels/SPLIT with data.yaml
 * and classes.txt, and COCO's DIR/annotations/instances_SPLIT.json. Every file is written
 * atomically (a temporary file, then rename).
 */
#include "io/detection.h"
#include "io/io.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libpng reports errors through longjmp; the message is kept for fv__fail. */
static void png_error_fn(png_structp png, png_const_charp msg)
{
    char *buf = png_get_error_ptr(png);
    snprintf(buf, 256, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

fv_status fv__png_write(const char *path, const uint8_t *px, int64_t h, int64_t w, int c)
{
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > 0x7fffffff || w > 0x7fffffff)
        return fv__fail(FV_ERR_INVALID, "%s: cannot write a %lld x %lld x %d PNG", path,
                        (long long)w, (long long)h, c);
    fv_afile a;
    fv_status st = fv__afile_open(&a, path);
    if (st != FV_OK) return st;
    char msg[256] = "";
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        fv__afile_abort(&a);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory for libpng", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fv__afile_abort(&a);
        return fv__fail(FV_ERR_IO, "%s: libpng: %s", path, msg);
    }
    png_init_io(png, a.f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int64_t y = 0; y < h; y++)
        png_write_row(png, px + (size_t)y * (size_t)w * (size_t)c);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fv__afile_commit(&a);
}

/* A path into buf[4096]; false (with a message) when it does not fit. */
static bool path_of(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool path_of(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, 4096, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= 4096) {
        fv__fail(FV_ERR_INVALID, "a path of more than 4095 bytes (%.60s...)", buf);
        return false;
    }
    return true;
}

/* A YAML double-quoted scalar. */
static void yaml_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\x%02x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static fv_status write_names(const fv_detset *d, const char *dir)
{
    char path[4096];
    fv_afile a;
    if (!path_of(path, "%s/data.yaml", dir)) return FV_ERR_INVALID;
    fv_status st = fv__afile_open(&a, path);
    if (st != FV_OK) return st;
    fprintf(a.f,
            "# written by fovea: YOLO's layout (Ultralytics); COCO's in annotations/\n"
            "path: .\ntrain: images/train\nval: images/test\ntest: images/test\n"
            "nc: %lld\nnames:\n",
            (long long)d->ncategories);
    for (int64_t k = 0; k < d->ncategories; k++) {
        fprintf(a.f, "  %lld: ", (long long)k);
        yaml_quoted(a.f, d->categories[k].name);
        fputc('\n', a.f);
    }
    if ((st = fv__afile_commit(&a)) != FV_OK) return st;
    if (!path_of(path, "%s/classes.txt", dir)) return FV_ERR_INVALID;
    if ((st = fv__afile_open(&a, path)) != FV_OK) return st;
    for (int64_t k = 0; k < d->ncategories; k++)
        fprintf(a.f, "%s\n", d->categories[k].name);
    return fv__afile_commit(&a);
}

static fv_status write_labels(const fv_detset *d, const fv_det_image *im, const char *path)
{
    fv_afile a;
    fv_status st = fv__afile_open(&a, path);
    if (st != FV_OK) return st;
    for (int64_t j = im->first; j < im->first + im->count; j++) {
        const fv_det_annotation *an = &d->annotations[j];
        const double *b = an->bbox;
        double W = (double)im->width, H = (double)im->height;
        fprintf(a.f, "%lld %.8g %.8g %.8g %.8g\n", (long long)an->category, (b[0] + b[2] / 2) / W,
                (b[1] + b[3] / 2) / H, b[2] / W, b[3] / H);
    }
    return fv__afile_commit(&a);
}

fv_status fv_detset_save(const fv_detset *d, const char *dir, const char *split)
{
    if (d->channels != 1 && d->channels != 3)
        return fv__fail(FV_ERR_INVALID, "%s: the detection set has no pixels to write", dir);
    for (int64_t k = 0; k < d->ncategories; k++)
        if (d->categories[k].id != k || strchr(d->categories[k].name, '\n'))
            return fv__fail(FV_ERR_INVALID,
                            "%s: YOLO's layout needs categories numbered 0, 1, ... with names "
                            "of one line",
                            dir);
    char images[4096], labels[4096], ann[4096], path[4096];
    if (!path_of(images, "%s/images/%s", dir, split) ||
        !path_of(labels, "%s/labels/%s", dir, split) || !path_of(ann, "%s/annotations", dir))
        return FV_ERR_INVALID;
    fv_status st;
    if ((st = fv__make_dirs(images)) != FV_OK || (st = fv__make_dirs(labels)) != FV_OK ||
        (st = fv__make_dirs(ann)) != FV_OK)
        return st;
    for (int64_t i = 0; i < d->nimages; i++) {
        const fv_det_image *im = &d->images[i];
        const char *name = im->file_name;
        const char *dot = strrchr(name, '.');
        if (strchr(name, '/') || !dot || strcmp(dot, ".png") != 0)
            return fv__fail(FV_ERR_INVALID, "%s: image file names must be NAME.png, not '%s'", dir,
                            name);
        if (!path_of(path, "%s/%s", images, name)) return FV_ERR_INVALID;
        if ((st = fv__png_write(path, im->pixels, im->height, im->width, d->channels)) != FV_OK)
            return st;
        if (!path_of(path, "%s/%.*s.txt", labels, (int)(dot - name), name)) return FV_ERR_INVALID;
        if ((st = write_labels(d, im, path)) != FV_OK) return st;
    }
    if (!path_of(path, "%s/instances_%s.json", ann, split)) return FV_ERR_INVALID;
    if ((st = fv_detset_write_coco(d, path)) != FV_OK) return st;
    return write_names(d, dir);
}
