/* data_detection.c — `fovea data make detection DIR`: generated detection scenes (objects cut
 * from Fashion-MNIST or MNIST, scaled, overlapping, on clutter), train scenes from the training
 * images and test scenes from the test images, written in YOLO's and COCO's layouts at once.
 * The folder is built beside DIR and renamed into place when complete.
 */
#define _GNU_SOURCE /* nftw */
#include "commands.h"
#include "common.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: fovea data make detection DIR [--source fashion-mnist|mnist] [--from SRC]\n"
    "                                 [--train N] [--test N] [--size 128] [--max-objects 6]\n"
    "                                 [--min-object 16] [--max-object 64] [--seed S]\n"
    "\n"
    "Composes detection scenes: 1 to --max-objects objects per scene, each a source image\n"
    "scaled to --min-object..--max-object pixels, placed at random (overlapping, but no box\n"
    "over another with IoU > 0.5) on a cluttered background (noise and faint fragments of other\n"
    "images). Train scenes take their objects from the source's training images only, test\n"
    "scenes from its test images only. A box is tight around all of its object's pixels (also\n"
    "where a later object covers some); COCO's area is the box's width x height.\n"
    "\n"
    "DIR receives both layouts, sharing the images:\n"
    "  images/train/000001.png ...  images/test/...        8-bit grey PNG, SIZE x SIZE\n"
    "  labels/train/000001.txt ...  labels/test/...        YOLO: class cx cy w h (0..1)\n"
    "  data.yaml, classes.txt                              the class names\n"
    "  annotations/instances_train.json, instances_test.json   COCO's instances\n"
    "DIR must not exist yet; it is built beside it and renamed into place when complete.\n"
    "\n"
    "options:\n"
    "  --source NAME     fashion-mnist (default) or mnist\n"
    "  --from SRC        the source's IDX folder (default data/NAME, as 'fovea data get NAME'\n"
    "                    writes it)\n"
    "  --train N         training scenes (default 10000)\n"
    "  --test N          test scenes (default 2000)\n"
    "  --size S          scene side in pixels (default 128)\n"
    "  --max-objects K   objects per scene at most (default 6)\n"
    "  --min-object A    smallest object side (default 16)\n"
    "  --max-object B    largest object side (default 64)\n"
    "  --seed S          the random seed (default 1); test scenes use another stream\n"
    "\n"
    "fovea data make pose DIR renders a 6D pose dataset in the BOP layout instead ('fovea data\n"
    "make pose --help').\n";

static const char *const fashion_names[] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                            "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                            "Bag",         "Ankle boot"};
static const char *const digit_names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    (void)remove(path); /* go on: remove what can be removed */
    return 0;
}

/* Makes and writes one part; reports failures. */
static int make_part(const char *cmd, const fv_dataset *src, const char *const *names,
                     int64_t count, const fv_scene_opts *o, const char *dir, const char *split)
{
    fv_detset *d = NULL;
    fv_status s = fv_detset_make_scenes(src, names, 10, count, o, &d);
    if (s == FV_OK) s = fv_detset_save(d, dir, split);
    if (s != FV_OK) {
        fv_detset_free(d);
        return cli_fail_lib(cmd, split, s);
    }
    printf("%s: %lld scenes, %lld objects\n", split, (long long)d->nimages,
           (long long)d->nannotations);
    fv_detset_free(d);
    return CLI_OK;
}

int cmd_data_make(int argc, char **argv)
{
    const char *cmd = "data make";
    cli_opt opts[] = {
        {"source", true, false, NULL},     {"from", true, false, NULL},
        {"train", true, false, NULL},      {"test", true, false, NULL},
        {"size", true, false, NULL},       {"max-objects", true, false, NULL},
        {"min-object", true, false, NULL}, {"max-object", true, false, NULL},
        {"seed", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[2];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, 2, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (strcmp(pos[0], "detection") != 0)
        return cli_usage_error(cmd, "unknown kind '%s' (expected 'detection')", pos[0]);
    if (npos < 2) return cli_usage_error(cmd, "detection: missing DIR");
    const char *dir = pos[1];
    const char *source = opts[0].seen ? opts[0].value : "fashion-mnist";
    bool fashion = strcmp(source, "fashion-mnist") == 0;
    if (!fashion && strcmp(source, "mnist") != 0)
        return cli_usage_error(cmd, "--source: expected fashion-mnist or mnist, got '%s'", source);
    fv_scene_opts o = fv_scene_defaults();
    int64_t ntrain = 10000, ntest = 2000, v;
    if ((opts[2].seen &&
         (rc = cli_int(cmd, "train", opts[2].value, 0, 10000000, "a count", &ntrain))) ||
        (opts[3].seen &&
         (rc = cli_int(cmd, "test", opts[3].value, 0, 10000000, "a count", &ntest))) ||
        (opts[4].seen &&
         (rc = cli_int(cmd, "size", opts[4].value, 28, 4096, "a size 28..4096", &o.size))) ||
        (opts[6].seen &&
         (rc = cli_int(cmd, "min-object", opts[6].value, 2, 4096, "a side", &o.min_object))) ||
        (opts[7].seen &&
         (rc = cli_int(cmd, "max-object", opts[7].value, 2, 4096, "a side", &o.max_object))) ||
        (opts[8].seen && (rc = cli_u64(cmd, "seed", opts[8].value, &o.seed))))
        return rc;
    if (opts[5].seen) {
        if ((rc = cli_int(cmd, "max-objects", opts[5].value, 1, 100, "a count 1..100", &v)))
            return rc;
        o.max_objects = (int)v;
    }
    if (o.max_object > o.size || o.min_object > o.max_object)
        return cli_usage_error(cmd,
                               "object sides %lld..%lld must be in order and fit the scene "
                               "(--size %lld)",
                               (long long)o.min_object, (long long)o.max_object, (long long)o.size);
    if (cli_exists(dir)) {
        cli_error(cmd, "%s already exists; remove it or name another folder", dir);
        return CLI_FAIL;
    }
    char from_default[64];
    snprintf(from_default, sizeof from_default, "data/%s", source);
    const char *from = opts[1].seen ? opts[1].value : from_default;
    if (!cli_is_dir(from)) {
        cli_error(cmd, "no %s images in %s: run 'fovea data get %s' first, or give --from DIR",
                  source, from, source);
        return CLI_FAIL;
    }
    fv_dataset *train = NULL, *test = NULL;
    fv_status s = fv_dataset_load_idx_dir(from, &train, &test);
    if (s != FV_OK) return cli_fail_lib(cmd, from, s);
    if (!train || !test) {
        fv_dataset_free(train);
        fv_dataset_free(test);
        cli_error(cmd, "%s: both the training and the test IDX files are needed", from);
        return CLI_FAIL;
    }
    size_t n = strlen(dir) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        fv_dataset_free(train);
        fv_dataset_free(test);
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    snprintf(tmp, n, "%s.tmp.%ld", dir, (long)getpid());
    const char *const *names = fashion ? fashion_names : digit_names;
    rc = make_part(cmd, train, names, ntrain, &o, tmp, "train");
    fv_scene_opts ot = o;
    ot.seed = o.seed ^ 0x9e3779b97f4a7c15ull; /* the test scenes' own stream */
    if (rc == CLI_OK) rc = make_part(cmd, test, names, ntest, &ot, tmp, "test");
    if (rc == CLI_OK && rename(tmp, dir) != 0) {
        cli_error(cmd, "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
        rc = CLI_FAIL;
    }
    if (rc != CLI_OK) {
        /* nothing half-written stays: the temporary folder goes */
        if (cli_exists(tmp)) nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        printf("wrote %s (YOLO: images/, labels/, data.yaml; COCO: annotations/)\n", dir);
    }
    free(tmp);
    fv_dataset_free(train);
    fv_dataset_free(test);
    return rc;
}
