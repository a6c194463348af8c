/* fuzz_image.c — libFuzzer target for fovea's side of image loading: fv__image_decode (the libpng,
 * libjpeg-turbo and stb_image wrappers, the header size checks), the channel conversions, the crop
 * box and the resize, and the whole pipeline through a file (fv_image_read). The input's last
 * byte chooses the target size, channels and interpolation; the rest is the file.
 */
#include "fuzz_common.h"
#include "io/image.h"

/* Small enough that a run's largest image stays far below libFuzzer's memory limit. */
#define FUZZ_MAX_PIXELS (1 << 22)

static const char ORIGIN[] = "fuzz.img";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t knob = data[size - 1];
    size--;
    const int channels = (knob & 3) == 0 ? 1 : (knob & 3) == 1 ? 3 : 4;
    const int64_t oh = 1 + (knob >> 2 & 7) * 5, ow = 1 + (knob >> 5) * 7;
    const fv_interpolation interp = (knob & 4) ? FV_INTERP_NEAREST : FV_INTERP_BILINEAR;

    fv_image raw;
    fv_status st = fv__image_decode(data, size, ORIGIN, FUZZ_MAX_PIXELS, &raw);
    if (st != FV_OK) {
        FUZZ_CHECK(raw.px == NULL);
        FUZZ_CHECK_ERROR(ORIGIN);
        return 0;
    }
    FUZZ_CHECK(raw.px && raw.h >= 1 && raw.w >= 1 && raw.c >= 1 && raw.c <= 4);
    FUZZ_CHECK(raw.h * raw.w <= FUZZ_MAX_PIXELS);
    /* Every byte of the decoded image is readable (ASan) and the same after conversion where the
     * conversion keeps it. */
    const int64_t n = raw.h * raw.w;
    uint64_t sum = 0;
    for (int64_t i = 0; i < n * raw.c; i++)
        sum += raw.px[i];
    (void)sum;
    const int rc = raw.c;
    uint8_t first[4];
    memcpy(first, raw.px, (size_t)rc);
    fv_image conv;
    FUZZ_CHECK(fv__image_convert(&raw, channels, ORIGIN, &conv) == FV_OK);
    FUZZ_CHECK(conv.h * conv.w == n && conv.c == channels && raw.px == NULL);
    if (channels >= 3 && rc >= 3) FUZZ_CHECK(memcmp(conv.px, first, 3) == 0);
    if (channels == 1 && rc <= 2) FUZZ_CHECK(conv.px[0] == first[0]);
    if (channels == 4 && (rc == 1 || rc == 3)) FUZZ_CHECK(conv.px[3] == 255);

    /* The crop box lies inside the image; the resize reads only inside it (ASan). */
    int64_t y0, x0, ch, cw;
    fv__image_crop_box(conv.h, conv.w, oh, ow, &y0, &x0, &ch, &cw);
    FUZZ_CHECK(y0 >= 0 && x0 >= 0 && ch >= 1 && cw >= 1 && y0 + ch <= conv.h &&
               x0 + cw <= conv.w);
    uint8_t *out = malloc((size_t)(oh * ow * channels));
    FUZZ_CHECK(out);
    FUZZ_CHECK(fv__image_resize_u8(conv.px, conv.w, channels, y0, x0, ch, cw, out, oh, ow,
                                   interp) == FV_OK);
    /* A flat image stays flat under both interpolations (a bilinear weight sum of 1). */
    bool flat = true;
    for (int64_t i = channels; i < n * channels && flat; i++)
        flat = conv.px[i] == conv.px[i % channels];
    if (flat)
        for (int64_t i = 0; i < oh * ow * channels; i++)
            FUZZ_CHECK(out[i] == conv.px[i % channels]);
    free(out);
    fv__image_free(&conv);

    /* The same file through the path reader and the whole pipeline. */
    const char *path = fuzz_file(data, size);
    fv_image_opts o = fv_image_defaults();
    o.height = oh, o.width = ow, o.channels = channels, o.interpolation = interp;
    o.crop_to_aspect_ratio = knob & 1;
    o.max_pixels = FUZZ_MAX_PIXELS;
    uint8_t *px = NULL;
    int64_t h = 0, w = 0;
    FUZZ_CHECK(fv_image_read(path, &o, &px, &h, &w) == FV_OK);
    FUZZ_CHECK(px && h == oh && w == ow);
    free(px);
    return 0;
}
