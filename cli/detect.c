/* detect.c — detectors on the command line: `fovea detect` (boxes in photos, COCO's results
 * file), the detection data of `fovea train` (a YOLO or COCO folder letterboxed into the model's
 * input) and `fovea evaluate` of a detector (COCO's twelve figures, as pycocotools prints them).
 */
#include "commands.h"
#include "common.h"
#include "detect.h"
#include "viz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool cli_is_detection_dir(const char *dir)
{
    const char *marks[] = {"annotations", "labels", "train/labels", "val/labels"};
    char path[4096];
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, marks[i]);
        if (cli_is_dir(path)) return true;
    }
    return false;
}

/* The model's input (height, width, channels) for images; 0 when it is not an image input. */
static int input_hwc(const char *cmd, const fv_model *m, int64_t hwc[3])
{
    int64_t dims[4];
    if (fv_model_input_shape(m, 0, dims) != 3 || (dims[2] != 1 && dims[2] != 3)) {
        cli_error(cmd, "a detector needs an image input (height, width, 1 or 3 channels)");
        return CLI_FAIL;
    }
    memcpy(hwc, dims, 3 * sizeof(int64_t));
    return CLI_OK;
}

/* One split of a detection folder with pixels at the model's channels, or NULL (reported). */
static fv_detset *load_split(const char *cmd, const char *dir, const char *split, int channels)
{
    fv_detset *d = NULL;
    fv_status s = fv_detset_load(dir, split, channels, &d);
    if (s != FV_OK) {
        cli_fail_lib(cmd, "--data", s);
        return NULL;
    }
    return d;
}

/* The detection set's category names as the model's class names. */
static int remember_categories(const char *cmd, fv_model *m, const fv_detset *d)
{
    const char **names = malloc((size_t)(d->ncategories ? d->ncategories : 1) * sizeof *names);
    if (!names) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    for (int64_t k = 0; k < d->ncategories; k++)
        names[k] = d->categories[k].name;
    fv_status s = fv_model_set_class_names(m, d->ncategories, names);
    free(names);
    return s == FV_OK ? CLI_OK : cli_fail_lib(cmd, "--data", s);
}

/* Whether dir holds a part `split` (or, for test, a val part) in either layout, as
 * fv_detset_load looks for one: COCO's annotations/instances_SPLIT.json, YOLO's images/SPLIT or
 * SPLIT/images. */
static bool has_part(const char *dir, const char *split)
{
    const char *try[2] = {split, strcmp(split, "test") == 0 ? "val" : NULL};
    char path[4096];
    for (int i = 0; i < 2 && try[i]; i++) {
        snprintf(path, sizeof path, "%s/annotations/instances_%s.json", dir, try[i]);
        if (cli_exists(path)) return true;
        snprintf(path, sizeof path, "%s/images/%s", dir, try[i]);
        if (cli_is_dir(path)) return true;
        snprintf(path, sizeof path, "%s/%s/images", dir, try[i]);
        if (cli_is_dir(path)) return true;
    }
    return false;
}

/* Every box of d is of one of the head's classes, or an error naming the image and the box's
 * category (the targets' own check can name only the sample's index). */
static int check_classes(const char *cmd, const char *dir, const char *split, const fv_detset *d,
                         int64_t classes)
{
    for (int64_t a = 0; a < d->nannotations; a++) {
        const fv_det_annotation *an = &d->annotations[a];
        if (an->iscrowd || an->category < classes) continue;
        cli_error(cmd,
                  "--data: '%s', %s part, %s: a box of category '%s' (class %lld), but the "
                  "model's yolo head has classes=%lld (the folder has %lld categories)",
                  dir, split, d->images[an->image].file_name, d->categories[an->category].name,
                  (long long)an->category, (long long)classes, (long long)d->ncategories);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* The set's categories name the model's classes in the same order (class k is category k): a
 * test part or a model trained on another folder whose categories are ordered otherwise would
 * be scored against the wrong classes. A model without saved class names is not checked. */
static int check_names(const char *cmd, const char *dir, const char *split, const fv_detset *d,
                       const fv_model *m)
{
    for (int64_t k = 0; k < d->ncategories; k++) {
        const char *want = fv_model_class_name(m, k);
        if (!want || strcmp(want, d->categories[k].name) == 0) continue;
        cli_error(cmd,
                  "--data: '%s', %s part: category %lld is '%s', but the model's class %lld is "
                  "'%s' (trained on categories in another order?)",
                  dir, split, (long long)k, d->categories[k].name, (long long)k, want);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_load_detection(const char *cmd, fv_model *m, const char *dir, fv_dataset **train,
                       fv_dataset **test)
{
    int64_t hwc[3];
    const int64_t max_boxes = fv_model_detector_max_boxes(m);
    if (max_boxes < 1) {
        cli_error(cmd,
                  "--data: '%s' is a detection dataset, but the model's output is not a yolo "
                  "detection head",
                  dir);
        return CLI_FAIL;
    }
    if (input_hwc(cmd, m, hwc)) return CLI_FAIL;
    const char *head = fv_model_output_name(m, 0);
    fv_detset *tr = load_split(cmd, dir, "train", (int)hwc[2]);
    if (!tr) return CLI_FAIL;
    int rc = check_classes(cmd, dir, "train", tr, fv_model_detector_classes(m));
    if (!rc) rc = remember_categories(cmd, m, tr);
    fv_status s = rc ? FV_OK : fv_detset_to_dataset(tr, hwc[0], hwc[1], max_boxes, head, train);
    fv_detset_free(tr);
    if (rc || s != FV_OK) return rc ? rc : cli_fail_lib(cmd, "--data", s);
    if (!has_part(dir, "test")) return CLI_OK; /* no test part: training without one */
    fv_detset *te = load_split(cmd, dir, "test", (int)hwc[2]);
    if (!te) return CLI_FAIL; /* a test part that cannot be read is an error, not an absence */
    if (check_classes(cmd, dir, "test", te, fv_model_detector_classes(m)) ||
        check_names(cmd, dir, "test", te, m)) {
        fv_detset_free(te);
        return CLI_FAIL;
    }
    s = fv_detset_to_dataset(te, hwc[0], hwc[1], max_boxes, head, test);
    fv_detset_free(te);
    return s == FV_OK ? CLI_OK : cli_fail_lib(cmd, "--data (test part)", s);
}

static int detect_in_set(const char *cmd, fv_model *m, const fv_detset *d, const char *where,
                         const int64_t *idx, int64_t n, const int64_t hwc[3],
                         const fv_detect_opts *o, fv_detection **dets, int64_t *ndets);

int cli_detector_evaluation(const char *cmd, fv_model *m, const char *dir, cli_det_eval *ev)
{
    int64_t hwc[3];
    *ev = (cli_det_eval){0};
    if (input_hwc(cmd, m, hwc)) return CLI_FAIL;
    fv_detset *gt = load_split(cmd, dir, "test", (int)hwc[2]);
    if (!gt) return CLI_FAIL;
    ev->gt = gt;
    if (gt->nimages < 1) {
        cli_error(cmd, "--data: the test part of '%s' has no images", dir);
        goto fail;
    }
    if (check_names(cmd, dir, "test", gt, m)) goto fail;
    /* every image of the part, whatever its box count: detection needs no targets, so the
     * head's max_boxes does not limit what is evaluated */
    int64_t *idx = malloc((size_t)gt->nimages * sizeof *idx);
    if (!idx) {
        cli_error(cmd, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < gt->nimages; i++)
        idx[i] = i;
    /* the validation settings of detectors: every box above 0.001, every class above it */
    fv_detect_opts o = fv_detect_defaults();
    o.score_threshold = 0.001, o.iou_threshold = 0.6, o.multi_label = true;
    int rc = detect_in_set(cmd, m, gt, dir, idx, gt->nimages, hwc, &o, &ev->dets, &ev->n);
    free(idx);
    if (rc) goto fail;
    if (!(ev->eval = fv_coco_evaluate(gt, ev->dets, ev->n))) {
        cli_fail_lib(cmd, NULL, FV_ERR_INVALID);
        goto fail;
    }
    return CLI_OK;
fail:
    cli_det_eval_free(ev);
    return CLI_FAIL;
}

void cli_det_eval_free(cli_det_eval *ev)
{
    fv_coco_eval_free(ev->eval);
    free(ev->dets);
    fv_detset_free(ev->gt);
    *ev = (cli_det_eval){0};
}

int cli_evaluate_detector(const char *cmd, fv_model *m, const char *dir, bool json, bool voc,
                          const char *plot, const char *output)
{
    cli_det_eval ev;
    if (cli_detector_evaluation(cmd, m, dir, &ev)) return CLI_FAIL;
    int rc = CLI_FAIL;
    fv_status s;
    if (output && (s = fv_detections_write_json(output, ev.dets, ev.n, ev.gt)) != FV_OK) {
        cli_fail_lib(cmd, "--output", s);
        goto done;
    }
    s = json ? fv_coco_eval_write_json(ev.eval, stdout)
             : fv_coco_eval_write_text(ev.eval, stdout, true, voc);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    if (plot && cli_save_picture(cmd, "--plot", fv_plot_pr(ev.eval), plot)) goto done;
    rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
done:
    cli_det_eval_free(&ev);
    return rc;
}

/* ---- fovea detect ---------------------------------------------------------------------------- */

static const char usage[] =
    "usage: fovea detect MODEL.safetensors --input IMG [IMG ...] | DIR [options]\n"
    "\n"
    "Finds objects in images with a detector (a model whose output is a yolo head): each image\n"
    "is letterboxed into the model's input (scaled to fit, padded with grey), the head's boxes\n"
    "decoded, scored (objectness x class probability), thresholded and suppressed class by\n"
    "class (non-maximum suppression), and mapped back to the image's own pixels. Prints, per\n"
    "image, one line per box: class name, score, x, y, width, height (pixels, top-left corner).\n"
    "\n"
    "options:\n"
    "  --input IMG|DIR ...    image files (PNG, JPEG, BMP, GIF), or folders of them (sorted)\n"
    "  --score S              keep boxes scoring at least S (default 0.25)\n"
    "  --iou T                drop a box overlapping a kept box of its class by more than T\n"
    "                         (default 0.45)\n"
    "  --max-detections N     at most N boxes per image, the best (default 100)\n"
    "  --output FILE.json     also write COCO's results format: [{image_id, category_id, bbox,\n"
    "                         score, file_name}], image ids 1, 2, ... in input order\n"
    "  --threads N            threads to use (default: FOVEA_THREADS, else\n"
    "                         OMP_NUM_THREADS, else all cores)\n";

static bool image_name(const char *name)
{
    const char *ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif"};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot, ext[i]) == 0) return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The image files of the arguments (folders expanded, sorted), into *paths (malloc'd). */
static int list_inputs(const char *cmd, const char *const *args, int nargs, char ***paths,
                       int64_t *n)
{
    int64_t cap = 16, count = 0;
    char **p = malloc((size_t)cap * sizeof *p);
    if (!p) return cli_error(cmd, "out of memory"), CLI_FAIL;
    for (int a = 0; a < nargs; a++) {
        if (!cli_is_dir(args[a])) {
            if (!cli_exists(args[a])) {
                cli_error(cmd, "--input: '%s' does not exist", args[a]);
                goto fail;
            }
            if (count == cap && !(p = realloc(p, (size_t)(cap *= 2) * sizeof *p))) goto oom;
            if (!(p[count++] = strdup(args[a]))) goto oom;
            continue;
        }
        DIR *dir = opendir(args[a]);
        if (!dir) {
            cli_error(cmd, "--input: cannot read the folder '%s'", args[a]);
            goto fail;
        }
        const int64_t first = count;
        for (struct dirent *e; (e = readdir(dir));) {
            if (e->d_name[0] == '.' || !image_name(e->d_name)) continue;
            if (count == cap) {
                char **q = realloc(p, (size_t)(cap *= 2) * sizeof *p);
                if (!q) {
                    closedir(dir);
                    goto oom;
                }
                p = q;
            }
            const size_t len = strlen(args[a]) + strlen(e->d_name) + 2;
            if (!(p[count] = malloc(len))) {
                closedir(dir);
                goto oom;
            }
            snprintf(p[count++], len, "%s/%s", args[a], e->d_name);
        }
        closedir(dir);
        qsort(p + first, (size_t)(count - first), sizeof *p, cmp_str);
        if (count == first) {
            cli_error(cmd, "--input: the folder '%s' holds no image files", args[a]);
            goto fail;
        }
    }
    *paths = p, *n = count;
    return CLI_OK;
oom:
    cli_error(cmd, "out of memory");
fail:
    for (int64_t i = 0; i < count; i++)
        free(p[i]);
    free(p);
    return CLI_FAIL;
}

/* The images read and letterboxed into the model's input: a dataset, each letterbox, and a
 * detection set naming the files (for COCO's results file). */
static int read_images(const char *cmd, char **paths, int64_t n, const int64_t hwc[3],
                       fv_dataset **images, fv_letterbox *lb, fv_detset *names)
{
    const size_t one = (size_t)(hwc[0] * hwc[1] * hwc[2]);
    uint8_t *all = malloc(one * (size_t)n);
    if (!all) return cli_error(cmd, "out of memory for %lld images", (long long)n), CLI_FAIL;
    fv_image_opts o = fv_image_defaults();
    o.channels = (int)hwc[2];
    o.height = o.width = 0;
    for (int64_t i = 0; i < n; i++) {
        uint8_t *px = NULL;
        int64_t h, w;
        fv_status s = fv_image_read(paths[i], &o, &px, &h, &w);
        if (s == FV_OK) s = fv_letterbox_fit(h, w, hwc[0], hwc[1], &lb[i]);
        if (s == FV_OK) s = fv_letterbox_pixels(px, hwc[2], &lb[i], all + one * (size_t)i);
        free(px);
        if (s != FV_OK) {
            free(all);
            return cli_fail_lib(cmd, "--input", s);
        }
        names->images[i] =
            (fv_det_image){.id = i + 1, .file_name = paths[i], .width = w, .height = h};
    }
    *images = fv_dataset_from_u8(n, 3, hwc, all, NULL);
    free(all);
    return *images ? CLI_OK : cli_fail_lib(cmd, NULL, FV_ERR_NOMEM);
}

static int detect_command(const char *cmd, cli_opt *opts, int nopts, const char **pos, int npos);

int cmd_detect(int argc, char **argv)
{
    const char *cmd = "detect";
    cli_opt opts[] = {
        {"input", true, false, NULL},  {"score", true, false, NULL},
        {"iou", true, false, NULL},    {"max-detections", true, false, NULL},
        {"output", true, false, NULL}, {"threads", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    /* MODEL, then more image files after --input's */
    enum { MAX_INPUTS = 65536 };
    const char **pos = malloc(MAX_INPUTS * sizeof *pos);
    if (!pos) return cli_error(cmd, "out of memory"), CLI_FAIL;
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, MAX_INPUTS - 1, &npos);
    if (rc == CLI_CONTINUE) rc = detect_command(cmd, opts, nopts, pos, npos);
    free(pos);
    return rc;
}

static int detect_command(const char *cmd, cli_opt *opts, int nopts, const char **pos, int npos)
{
    int rc;
    cli_opt *input = cli_find(opts, nopts, "input"), *output = cli_find(opts, nopts, "output");
    cli_opt *threads = cli_find(opts, nopts, "threads");
    if (!input->seen) return cli_usage_error(cmd, "--input is required");
    fv_detect_opts o = fv_detect_defaults();
    cli_opt *score = cli_find(opts, nopts, "score"), *iou = cli_find(opts, nopts, "iou"),
            *maxd = cli_find(opts, nopts, "max-detections");
    if ((score->seen && (rc = cli_double(cmd, "--score", score->value, 0, false, 1, false,
                                         "a number in [0, 1]", &o.score_threshold))) ||
        (iou->seen && (rc = cli_double(cmd, "--iou", iou->value, 0, false, 1, false,
                                       "a number in [0, 1]", &o.iou_threshold))) ||
        (maxd->seen && (rc = cli_int(cmd, "--max-detections", maxd->value, 1, 100000,
                                     "a positive integer", &o.max_detections))) ||
        (rc = cli_apply_threads(cmd, threads)) ||
        (output->seen && (rc = cli_check_writable(cmd, "--output", output->value))))
        return rc;

    char **paths = NULL, **names = NULL;
    int64_t n = 0, nnames = 0, ndets = 0;
    fv_dataset *images = NULL;
    fv_letterbox *lb = NULL;
    fv_detection *dets = NULL;
    fv_detset files = {0};
    int64_t hwc[3];
    rc = CLI_FAIL;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    const char *model_path = pos[0];
    if (!m || input_hwc(cmd, m, hwc)) goto done;
    if (fv_model_detector_max_boxes(m) < 1) {
        cli_error(cmd, "'%s' is not a detector: its output is not a yolo head", model_path);
        goto done;
    }
    if (cli_model_class_names(cmd, m, &names, &nnames)) goto done;
    pos[0] = input->value; /* --input's file, then the ones after MODEL */
    if (list_inputs(cmd, pos, npos, &paths, &n)) goto done;
    lb = malloc((size_t)n * sizeof *lb);
    files.images = calloc((size_t)n, sizeof *files.images);
    files.nimages = n;
    if (!lb || !files.images) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (read_images(cmd, paths, n, hwc, &images, lb, &files)) goto done;
    fv_status s = fv_model_detect(m, images, lb, &o, &dets, &ndets);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    for (int64_t i = 0, k = 0; i < n; i++) {
        int64_t count = 0;
        while (k + count < ndets && dets[k + count].image_id == i)
            count++;
        printf("%s: %lld object%s\n", paths[i], (long long)count, count == 1 ? "" : "s");
        for (int64_t j = k; j < k + count; j++) {
            const fv_detection *d = &dets[j];
            const char *cls = d->category_id < nnames ? names[d->category_id] : NULL;
            if (cls)
                printf("  %-16s %.3f  %7.1f %7.1f %7.1f %7.1f\n", cls, d->score, d->bbox[0],
                       d->bbox[1], d->bbox[2], d->bbox[3]);
            else
                printf("  %-16lld %.3f  %7.1f %7.1f %7.1f %7.1f\n", (long long)d->category_id,
                       d->score, d->bbox[0], d->bbox[1], d->bbox[2], d->bbox[3]);
        }
        k += count;
    }
    for (int64_t j = 0; j < ndets; j++)
        dets[j].image_id += 1;
    if (output->seen &&
        (s = fv_detections_write_json(output->value, dets, ndets, &files)) != FV_OK) {
        cli_fail_lib(cmd, "--output", s);
        goto done;
    }
    rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
done:
    free(files.images); /* the file names are the paths, freed below */
    for (int64_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    for (int64_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    free(dets);
    free(lb);
    fv_dataset_free(images);
    fv_model_free(m);
    return rc;
}

/* ---- fovea viz detections -------------------------------------------------------------------- */

static const char viz_usage[] =
    "usage: fovea viz detections MODEL.safetensors --input IMG [IMG ...] | DIR -o OUT.png|.svg\n"
    "       fovea viz detections MODEL.safetensors --data DIR [--split test] [--first N]\n"
    "                            [--count K] -o OUT.png|.svg\n"
    "\n"
    "Draws a detector's boxes over images in a grid (up to 4 columns): each box in its class's\n"
    "colour, dashed, with the class name and score. With --data, K images (default 8) of a\n"
    "detection dataset's part (default test) from the N-th, with their ground-truth boxes solid\n"
    "beside the detector's.\n"
    "\n"
    "options:\n"
    "  --score S              draw boxes scoring at least S (default 0.25)\n"
    "  --iou T                non-maximum suppression's IoU (default 0.45)\n"
    "  --threads N            threads to use\n";

/* A detection set of the given image files with their own pixels, and the model's class names
 * as categories (ids 0, 1, ...). NULL after a message. */
static fv_detset *files_set(const char *cmd, char **paths, int64_t n, int channels, char **names,
                            int64_t nnames, int64_t classes)
{
    fv_detset *d = calloc(1, sizeof *d);
    if (d) {
        d->images = calloc((size_t)n, sizeof *d->images);
        d->categories = calloc((size_t)classes, sizeof *d->categories);
    }
    if (!d || !d->images || !d->categories) {
        fv_detset_free(d);
        cli_error(cmd, "out of memory");
        return NULL;
    }
    d->nimages = n, d->ncategories = classes, d->channels = channels;
    for (int64_t k = 0; k < classes; k++) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)k);
        d->categories[k].id = k;
        d->categories[k].name = strdup(k < nnames ? names[k] : num);
    }
    fv_image_opts o = fv_image_defaults();
    o.channels = channels;
    o.height = o.width = 0;
    for (int64_t i = 0; i < n; i++) {
        fv_det_image *im = &d->images[i];
        im->id = i;
        im->file_name = strdup(paths[i]);
        fv_status s = fv_image_read(paths[i], &o, &im->pixels, &im->height, &im->width);
        if (s != FV_OK) {
            cli_fail_lib(cmd, "--input", s);
            fv_detset_free(d);
            return NULL;
        }
    }
    return d;
}

/* The images idx[0..n) of d (read from `where`) letterboxed into the model's input, detected;
 * ids set to d's. */
static int detect_in_set(const char *cmd, fv_model *m, const fv_detset *d, const char *where,
                         const int64_t *idx, int64_t n, const int64_t hwc[3],
                         const fv_detect_opts *o, fv_detection **dets, int64_t *ndets)
{
    /* a class of the model's without a category of the set would index past d's categories */
    const int64_t classes = fv_model_detector_classes(m);
    if (classes > d->ncategories) {
        cli_error(cmd,
                  "--data: '%s' has %lld categories, but the model detects %lld classes: its "
                  "class indices have no category there",
                  where, (long long)d->ncategories, (long long)classes);
        return CLI_FAIL;
    }
    const size_t one = (size_t)(hwc[0] * hwc[1] * hwc[2]);
    uint8_t *px = malloc(one * (size_t)(n ? n : 1));
    fv_letterbox *lb = malloc((size_t)(n ? n : 1) * sizeof *lb);
    fv_dataset *images = NULL;
    if (!px || !lb) {
        free(px), free(lb);
        cli_error(cmd, "out of memory for %lld images", (long long)n);
        return CLI_FAIL;
    }
    fv_status s = FV_OK;
    for (int64_t i = 0; s == FV_OK && i < n; i++) {
        const fv_det_image *im = &d->images[idx[i]];
        s = fv_letterbox_fit(im->height, im->width, hwc[0], hwc[1], &lb[i]);
        if (s == FV_OK) s = fv_letterbox_pixels(im->pixels, hwc[2], &lb[i], px + one * (size_t)i);
    }
    if (s == FV_OK && !(images = fv_dataset_from_u8(n, 3, hwc, px, NULL))) s = FV_ERR_NOMEM;
    if (s == FV_OK) s = fv_model_detect(m, images, lb, o, dets, ndets);
    for (int64_t j = 0; s == FV_OK && j < *ndets; j++) {
        (*dets)[j].image_id = d->images[idx[(*dets)[j].image_id]].id;
        (*dets)[j].category_id = d->categories[(*dets)[j].category_id].id;
    }
    free(px), free(lb);
    fv_dataset_free(images);
    return s == FV_OK ? CLI_OK : cli_fail_lib(cmd, NULL, s);
}

/* A picture holds 64 images: MODEL and up to 64 files. */
enum { VIZ_MAX_INPUTS = 65 };

static int viz_detections_command(const char *cmd, cli_opt *opts, int nopts, const char **pos,
                                  int npos);

int cmd_viz_detections(int argc, char **argv)
{
    const char *cmd = "viz detections";
    cli_opt opts[] = {
        {"output", true, false, NULL}, {"input", true, false, NULL}, {"data", true, false, NULL},
        {"split", true, false, NULL},  {"first", true, false, NULL}, {"count", true, false, NULL},
        {"score", true, false, NULL},  {"iou", true, false, NULL},   {"threads", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[VIZ_MAX_INPUTS + 1];
    int npos;
    int rc = cli_parse(cmd, viz_usage, argc, argv, opts, nopts, pos, 1, VIZ_MAX_INPUTS, &npos);
    return rc == CLI_CONTINUE ? viz_detections_command(cmd, opts, nopts, pos, npos) : rc;
}

static int viz_detections_command(const char *cmd, cli_opt *opts, int nopts, const char **pos,
                                  int npos)
{
    cli_opt *out = cli_find(opts, nopts, "output"), *input = cli_find(opts, nopts, "input"),
            *data = cli_find(opts, nopts, "data"), *split = cli_find(opts, nopts, "split"),
            *first_o = cli_find(opts, nopts, "first"), *count_o = cli_find(opts, nopts, "count"),
            *score = cli_find(opts, nopts, "score"), *iou = cli_find(opts, nopts, "iou"),
            *threads = cli_find(opts, nopts, "threads");
    int rc;
    if (!out->seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if (input->seen == data->seen) return cli_usage_error(cmd, "give --input or --data (one)");
    if (npos > 1 && !input->seen) return cli_usage_error(cmd, "unexpected argument '%s'", pos[1]);
    fv_detect_opts o = fv_detect_defaults();
    int64_t first = 0, count = 8;
    if ((score->seen && (rc = cli_double(cmd, "--score", score->value, 0, false, 1, false,
                                         "a number in [0, 1]", &o.score_threshold))) ||
        (iou->seen && (rc = cli_double(cmd, "--iou", iou->value, 0, false, 1, false,
                                       "a number in [0, 1]", &o.iou_threshold))) ||
        (first_o->seen &&
         (rc = cli_int(cmd, "--first", first_o->value, 0, INT64_MAX, "an image index", &first))) ||
        (count_o->seen &&
         (rc = cli_int(cmd, "--count", count_o->value, 1, 64, "a count 1..64", &count))) ||
        (rc = cli_apply_threads(cmd, threads)) ||
        (rc = cli_check_picture_path(cmd, "--output", out->value)))
        return rc;
    char **paths = NULL, **names = NULL;
    int64_t n = 0, nnames = 0, ndets = 0, hwc[3];
    int64_t *idx = NULL;
    fv_detset *d = NULL;
    fv_detection *dets = NULL;
    rc = CLI_FAIL;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    if (!m || input_hwc(cmd, m, hwc)) goto done;
    if (fv_model_detector_max_boxes(m) < 1) {
        cli_error(cmd, "'%s' is not a detector: its output is not a yolo head", pos[0]);
        goto done;
    }
    if (cli_model_class_names(cmd, m, &names, &nnames)) goto done;
    if (input->seen) {
        const char *args[VIZ_MAX_INPUTS];
        int nargs = 0;
        args[nargs++] = input->value;
        for (int i = 1; i < npos; i++)
            args[nargs++] = pos[i];
        if (list_inputs(cmd, args, nargs, &paths, &n)) goto done;
        if (n > 64) {
            cli_error(cmd,
                      "--input: %lld images; a picture holds 64 at most (name up to 64 files, "
                      "or use --data DIR --first N --count K: --count applies to --data only)",
                      (long long)n);
            goto done;
        }
        if (!(d = files_set(cmd, paths, n, (int)hwc[2], names, nnames,
                            fv_model_detector_classes(m))))
            goto done;
    } else {
        if (!(d = load_split(cmd, data->value, split->seen ? split->value : "test", (int)hwc[2])) ||
            check_names(cmd, data->value, split->seen ? split->value : "test", d, m))
            goto done;
        if (first >= d->nimages) {
            cli_error(cmd, "--first %lld: the set has %lld images", (long long)first,
                      (long long)d->nimages);
            goto done;
        }
        n = d->nimages - first < count ? d->nimages - first : count;
    }
    idx = malloc((size_t)n * sizeof *idx);
    if (!idx) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = (input->seen ? 0 : first) + i;
    if (detect_in_set(cmd, m, d, input->seen ? input->value : data->value, idx, n, hwc, &o, &dets,
                      &ndets))
        goto done;
    rc = cli_save_picture(
        cmd, "--output", fv_plot_detections(d, idx, n, dets, ndets, o.score_threshold), out->value);
done:
    for (int64_t i = 0; i < n && paths; i++)
        free(paths[i]);
    free(paths);
    for (int64_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    free(idx);
    free(dets);
    fv_detset_free(d);
    fv_model_free(m);
    return rc;
}
