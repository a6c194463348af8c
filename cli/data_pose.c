/* data_pose.c — `fovea data make pose DIR [options]`: renders a 6D pose dataset in the BOP
 * layout (fv_pose_make_dataset), its backgrounds cluttered with fragments of Fashion-MNIST (or
 * MNIST) pictures, found where `fovea data get` puts them or where Debian's package installs them.
 */
#include "commands.h"
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: fovea data make pose DIR [--object NAME|MODEL.ply] [--train N] [--test N]\n"
    "                                [--size PX] [--seed S] [--backgrounds IDX_DIR|none]\n"
    "\n"
    "Renders a 6D pose dataset into DIR (a new folder; the folders above it are made) in the\n"
    "BOP layout: DIR/models/ (the model as PLY and models_info.json with its diameter and\n"
    "symmetries), DIR/camera.json, DIR/train/SCENE/ and DIR/test/SCENE/ (rgb/, mask/,\n"
    "mask_visib/, scene_gt.json, scene_camera.json, scene_gt_info.json; 1000 images a\n"
    "scene), and DIR/test_targets_bop19.json. One object an image, at rotations uniform over\n"
    "SO(3), its centre in the middle half of the image, lit, over a cluttered background.\n"
    "The defaults (20,000 + 2,000 images of 128 x 128) take about 0.9 GB.\n"
    "\n"
    "options:\n"
    "  --object NAME|M.ply  tripod (obj_id 1, no symmetry; default), box (obj_id 2,\n"
    "                       discrete symmetries), cylinder (obj_id 3, a continuous\n"
    "                       symmetry), or a PLY model in mm (obj_id 1, taken as having no\n"
    "                       symmetry)\n"
    "  --train N            training images (default 20000)\n"
    "  --test N             test images (default 2000)\n"
    "  --size PX            image width and height (default 128)\n"
    "  --seed S             the random seed (default 0): the same seed, the same files\n"
    "  --backgrounds DIR    IDX pictures whose fragments clutter the backgrounds (default:\n"
    "                       data/fashion-mnist, /usr/share/datasets/fashion-mnist or\n"
    "                       data/mnist, the first that holds t10k-images-idx3-ubyte[.gz]);\n"
    "                       'none': noise only\n";

/* The first folder that holds the IDX test pictures, or NULL. */
static const char *find_backgrounds(void)
{
    static const char *const dirs[] = {"data/fashion-mnist", "/usr/share/datasets/fashion-mnist",
                                       "data/mnist"};
    char path[512];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dirs[i]);
        if (cli_exists(path)) return dirs[i];
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dirs[i]);
        if (cli_exists(path)) return dirs[i];
    }
    return NULL;
}

/* The test pictures of an IDX folder as bytes; CLI_OK or CLI_FAIL (reported). */
static int load_backgrounds(const char *cmd, const char *dir, uint8_t **pix, int64_t *n, int64_t *h,
                            int64_t *w)
{
    fv_dataset *test = NULL;
    fv_status s = fv_dataset_load_idx_dir(dir, NULL, &test);
    if (s != FV_OK || !test) {
        if (s == FV_OK) cli_error(cmd, "--backgrounds: '%s' has no t10k-images-idx3-ubyte", dir);
        fv_dataset_free(test);
        return s != FV_OK ? cli_fail_lib(cmd, "--backgrounds", s) : CLI_FAIL;
    }
    int64_t dims[4];
    int rank = fv_dataset_shape(test, dims);
    int64_t count = fv_dataset_count(test);
    if (rank < 2 || (rank == 3 && dims[2] != 1) || rank > 3 || count < 1) {
        cli_error(cmd, "--backgrounds: '%s' does not hold greyscale pictures", dir);
        fv_dataset_free(test);
        return CLI_FAIL;
    }
    const int64_t hw = dims[0] * dims[1];
    *pix = malloc((size_t)(count * hw));
    float *row = malloc((size_t)hw * sizeof *row);
    if (!*pix || !row) {
        free(*pix);
        free(row);
        fv_dataset_free(test);
        cli_error(cmd, "out of memory for %lld background pictures", (long long)count);
        return CLI_FAIL;
    }
    for (int64_t i = 0; i < count && s == FV_OK; i++) {
        s = fv_dataset_get(test, i, row);
        for (int64_t k = 0; k < hw; k++)
            (*pix)[i * hw + k] = (uint8_t)(row[k] * 255.0f + 0.5f);
    }
    free(row);
    fv_dataset_free(test);
    if (s != FV_OK) {
        free(*pix);
        return cli_fail_lib(cmd, "--backgrounds", s);
    }
    *n = count, *h = dims[0], *w = dims[1];
    return CLI_OK;
}

int cmd_data_make_pose(int argc, char **argv)
{
    const char *cmd = "data make pose";
    cli_opt opts[] = {{"object", true, false, NULL}, {"train", true, false, NULL},
                      {"test", true, false, NULL},   {"size", true, false, NULL},
                      {"seed", true, false, NULL},   {"backgrounds", true, false, NULL}};
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[2];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, 2, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (strcmp(pos[0], "pose") != 0)
        return cli_usage_error(cmd, "unknown kind '%s' (expected 'pose')", pos[0]);
    if (npos < 2) return cli_usage_error(cmd, "pose: missing DIR");
    fv_pose_data_opts o = fv_pose_data_defaults();
    if (opts[0].seen) o.object = opts[0].value;
    if ((opts[1].seen && (rc = cli_int(cmd, "--train", opts[1].value, 0, 100000000,
                                       "a whole number 0..10^8", &o.n_train))) ||
        (opts[2].seen && (rc = cli_int(cmd, "--test", opts[2].value, 0, 100000000,
                                       "a whole number 0..10^8", &o.n_test))) ||
        (opts[3].seen &&
         (rc = cli_int(cmd, "--size", opts[3].value, 16, 4096, "a size 16..4096", &o.size))) ||
        (opts[4].seen && (rc = cli_u64(cmd, "--seed", opts[4].value, &o.seed))))
        return rc;
    if (o.n_train + o.n_test < 1) return cli_usage_error(cmd, "--train and --test are both 0");
    if (cli_exists(pos[1]))
        return cli_usage_error(cmd, "'%s' exists already; name a new folder", pos[1]);
    const char *bg = opts[5].seen ? opts[5].value : find_backgrounds();
    uint8_t *pix = NULL;
    if (bg && strcmp(bg, "none") != 0) {
        if ((rc = load_backgrounds(cmd, bg, &pix, &o.n_backgrounds, &o.bg_height, &o.bg_width)))
            return rc;
        o.backgrounds = pix;
        printf("backgrounds: fragments of %lld pictures from %s\n", (long long)o.n_backgrounds, bg);
    } else {
        printf("backgrounds: noise only (%s)\n",
               bg ? "--backgrounds none" : "no Fashion-MNIST or MNIST folder found");
    }
    fflush(stdout);
    fv_status s = fv_pose_make_dataset(pos[1], &o);
    free(pix);
    if (s != FV_OK) return cli_fail_lib(cmd, NULL, s);
    printf("wrote %s: object %s, %lld train and %lld test images of %lld x %lld (seed %llu)\n",
           pos[1], o.object, (long long)o.n_train, (long long)o.n_test, (long long)o.size,
           (long long)o.size, (unsigned long long)o.seed);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}
