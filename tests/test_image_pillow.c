/* test_image_pillow.c — fovea's JPEG decoding against Pillow's (Debian's python3-pil, which also
 * decodes with libjpeg-turbo's accurate integer DCT and fancy upsampling): baseline, progressive,
 * 4:2:0 and 4:4:4 chroma, grey, at several qualities, must give identical pixels; CMYK files
 * (Pillow writes Adobe's inverted inks) must give TensorFlow's R = C·K/255 of Pillow's CMYK values
 * exactly. Exits 77 (skipped) when /usr/bin/python3 has no Pillow.
 */
#include "io/image.h"
#include "io/io.h"
#include "test.h"

#include <stdint.h>
#include <unistd.h>

static char tmpdir[64];

/* Pillow writes tmpdir/NAME.jpg and its own decode NAME.rgb (RGB, or CMYK for cmyk*). */
static const char script[] =
    "import sys\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "W, H = 45, 31\n"
    "im = Image.new('RGB', (W, H))\n"
    "px = im.load()\n"
    "for y in range(H):\n"
    "    for x in range(W):\n"
    "        px[x, y] = ((x * 5 + y * 3) % 256, (y * 8) % 256, ((x * y) * 7 + 40) % 256)\n"
    "cases = {'q95_444': dict(quality=95, subsampling=0), 'q75_420': dict(quality=75, "
    "subsampling=2),\n"
    "         'q50_422': dict(quality=50, subsampling=1),\n"
    "         'progressive': dict(quality=80, progressive=True),\n"
    "         'optimized': dict(quality=90, optimize=True)}\n"
    "for name, kw in cases.items():\n"
    "    im.save(f'{d}/{name}.jpg', 'JPEG', **kw)\n"
    "im.convert('L').save(f'{d}/grey.jpg', 'JPEG', quality=85)\n"
    "im.convert('CMYK').save(f'{d}/cmyk.jpg', 'JPEG', quality=95)\n"
    "for name in list(cases) + ['grey', 'cmyk']:\n"
    "    back = Image.open(f'{d}/{name}.jpg')\n"
    "    if name == 'grey': back = back.convert('RGB')\n"
    "    open(f'{d}/{name}.rgb', 'wb').write(back.tobytes())\n";

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = NULL;
    return fv__read_file(path, (size_t)1 << 26, false, &b, len) == FV_OK ? b : NULL;
}

static void compare(const char *name)
{
    char jpg[128], rgb[128];
    snprintf(jpg, sizeof jpg, "%s/%s.jpg", tmpdir, name);
    snprintf(rgb, sizeof rgb, "%s/%s.rgb", tmpdir, name);
    size_t n, m;
    uint8_t *file = slurp(jpg, &n), *pil = slurp(rgb, &m);
    fv_image raw, im;
    CHECK(file && pil);
    if (!file || !pil) goto done;
    CHECK_OK(fv__image_decode(file, n, jpg, 0, &raw));
    CHECK_OK(fv__image_convert(&raw, 3, jpg, &im));
    bool cmyk = strcmp(name, "cmyk") == 0;
    CHECK(im.w == 45 && im.h == 31 && m == (size_t)(45 * 31 * (cmyk ? 4 : 3)));
    if (im.w != 45 || im.h != 31 || m != (size_t)(45 * 31 * (cmyk ? 4 : 3))) goto done;
    int worst = 0;
    for (int i = 0; i < 45 * 31; i++)
        for (int k = 0; k < 3; k++) {
            int want;
            if (cmyk) /* Pillow un-inverts Adobe's inks on load: TensorFlow's non-Adobe form */
                want = (255 - pil[4 * i + k]) * (255 - pil[4 * i + 3]) / 255;
            else
                want = pil[3 * i + k];
            int d = abs((int)im.px[3 * i + k] - want);
            if (d > worst) worst = d;
        }
    if (worst) fprintf(stderr, "  %s: fovea and Pillow differ by up to %d\n", name, worst);
    CHECK(worst == 0);
    fv__image_free(&im);
done:
    free(file);
    free(pil);
}

int main(void)
{
    if (system("/usr/bin/python3 -c 'import PIL' 2>/dev/null") != 0) {
        printf("skipped: /usr/bin/python3 has no Pillow (Debian: python3-pil)\n");
        return 77;
    }
    test_tmpdir("pillow", tmpdir, sizeof tmpdir);
    char path[128], cmd[256];
    snprintf(path, sizeof path, "%s/make.py", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f) return 2;
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", path, tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "the Pillow script failed\n");
        return 1;
    }
    static const char *const names[] = {"q95_444",   "q75_420", "q50_422", "progressive",
                                        "optimized", "grey",    "cmyk"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int before = test_failed_checks;
        compare(names[i]);
        printf("%s %s\n", test_failed_checks == before ? "ok  " : "FAIL", names[i]);
        if (test_failed_checks == before)
            tests_passed++;
        else
            tests_failed++;
    }
    return TEST_SUMMARY();
}
