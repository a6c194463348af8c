/* image.h — decoding image files (PNG with libpng, JPEG with libjpeg-turbo, BMP and GIF with
 * stb_image from Debian's libstb) into 8-bit pixels, the stated channel conversions, and the
 * TensorFlow/Keras resize (bilinear with half-pixel centres, no antialiasing; or nearest).
 */
#ifndef FV_IMAGE_H
#define FV_IMAGE_H

#include "core/core.h"

#include <stdint.h>

/* An 8-bit image, interleaved rows: h × w × c bytes. c is 1 (grey), 2 (grey, alpha), 3 (RGB) or
 * 4 (RGBA) as decoded; 1, 3 or 4 after fv__image_convert. */
typedef struct fv_image {
    int64_t h, w;
    int c;
    uint8_t *px; /* malloc'd */
} fv_image;

void fv__image_free(fv_image *im);

/* The format by magic bytes: "PNG", "JPEG", "BMP", "GIF", or NULL. */
const char *fv__image_format(const uint8_t *buf, size_t len);

/* Decodes a whole file held in buf[len]. Refuses, from the header and before allocating the
 * pixels, an image of more than max_pixels (h × w; <= 0: FV_IMAGE_MAX_PIXELS). Conversions made
 * here: 16-bit samples keep their high byte (libpng's png_set_strip_16, as TensorFlow's and
 * Pillow's 8-bit decoders), 1/2/4-bit grey is scaled to 0..255, a palette is expanded to RGB
 * (RGBA when it has tRNS transparency), CMYK and YCCK JPEGs become RGB with TensorFlow's formula
 * (R = C·K/255 when the file has Adobe's inverted marker, else (255-C)(255-K)/255, truncated).
 * JPEG is decoded with JDCT_ISLOW (libjpeg's accurate integer DCT) and fancy upsampling. Errors
 * name origin and the reason (FV_ERR_FORMAT, FV_ERR_NOMEM). */
fv_status fv__image_decode(const uint8_t *buf, size_t len, const char *origin, int64_t max_pixels,
                           fv_image *out);

/* Converts to channels 1 (grey), 3 (RGB) or 4 (RGBA): alpha is dropped (never composited),
 * grey is replicated, an image without alpha gets 255, RGB becomes grey with the ITU-R 601
 * weights of tf.image.rgb_to_grayscale: round(0.2989 R + 0.5870 G + 0.1140 B), in float32. In
 * place when in->c == channels (then out = *in, ownership moves). */
fv_status fv__image_convert(fv_image *in, int channels, const char *origin, fv_image *out);

/* The crop window Keras' smart_resize (crop_to_aspect_ratio=True) takes of an h × w image for an
 * oh × ow target: the largest centred window of the target's aspect ratio. */
void fv__image_crop_box(int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t *y0, int64_t *x0,
                        int64_t *ch, int64_t *cw);

/* Resizes the window (y0, x0, ch, cw) of an h × w × c image (row stride w × c) to oh × ow × c,
 * as tf.image.resize (antialias=False): bilinear, source coordinate (i + 0.5)·(in/out) - 0.5
 * with the neighbours clamped to the window (PyTorch's F.interpolate(mode='bilinear',
 * align_corners=False) computes the same); nearest: floor((i + 0.5)·(in/out)), clamped (PyTorch's
 * 'nearest-exact'). Arithmetic in float32. The u8 version rounds to nearest (half up). */
fv_status fv__image_resize_f32(const float *in, int64_t w, int64_t c, int64_t y0, int64_t x0,
                               int64_t ch, int64_t cw, float *out, int64_t oh, int64_t ow,
                               fv_interpolation interp);
fv_status fv__image_resize_u8(const uint8_t *in, int64_t w, int64_t c, int64_t y0, int64_t x0,
                              int64_t ch, int64_t cw, uint8_t *out, int64_t oh, int64_t ow,
                              fv_interpolation interp);

/* The whole pipeline for one file in memory: decode (with o->max_pixels), convert to
 * o->channels, crop (if o->crop_to_aspect_ratio) and resize to o->height × o->width into dst
 * (height × width × channels bytes); out then gives the size, with px NULL. When o->height or
 * o->width is 0 the image keeps its size and out->px holds it (malloc'd); dst is unused. */
fv_status fv__image_load_mem(const uint8_t *buf, size_t len, const char *origin,
                             const fv_image_opts *o, uint8_t *dst, fv_image *out);

/* Permutes perm[0..n) exactly as np.random.RandomState(seed).shuffle permutes a list of n items
 * (MT19937 seeded with init_genrand(seed mod 2^32); Fisher-Yates from the end, each index drawn by
 * masked rejection: NumPy's legacy random_interval). */
void fv__numpy_shuffle(int64_t *perm, int64_t n, uint64_t seed);

#endif
