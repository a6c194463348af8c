/* pose.c — a pose network from the command line: a BOP folder as its training and evaluation data,
 * `fovea pose MODEL --input IMG|DIR` (rotation, translation, Euler angles, BOP's result CSV), and
 * `fovea evaluate MODEL --data BOPDIR` with the figures of `evaluate --poses`.
 */
#include "pose.h"
#include "commands.h"
#include "common.h"
#include "images.h"
#include "viz.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool cli_is_pose_dir(const char *dir)
{
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/models/models_info.json", dir);
    return k > 0 && k < (int)sizeof path && cli_exists(path);
}

/* A note on stderr (not an error: the head's extent only places the loss's points) when m's pose
 * head does not match the object's models_info.json entry: its extent= against size_x, size_y,
 * size_z (more than 1 mm or 2 % apart), or symmetry=none for a symmetric object and the
 * reverse. */
static void note_head_mismatch(const char *cmd, const fv_model *m, const char *path,
                               const fv_pose_model_info *info)
{
    double ext[3];
    if (!fv_model_is_pose(m, ext)) return;
    const double *z = info->size;
    bool off = false;
    for (int k = 0; k < 3; k++)
        off |= fabs(ext[k] - z[k]) > 1 && fabs(ext[k] - z[k]) > 0.02 * z[k];
    if (off)
        fprintf(stderr,
                "fovea %s: note: the pose head's extent=%g,%g,%g is not obj_id %lld's size "
                "%g x %g x %g mm in %s\n",
                cmd, ext[0], ext[1], ext[2], (long long)info->obj_id, z[0], z[1], z[2], path);
    const bool sym = fv_pose_model_symmetric(info), head = fv_model_pose_symmetric(m);
    if (sym != head)
        fprintf(stderr,
                "fovea %s: note: obj_id %lld is %ssymmetric in %s, but the pose head has %s\n", cmd,
                (long long)info->obj_id, sym ? "" : "not ", path,
                head ? "a symmetry= (SLoss)" : "no symmetry= (PLoss, not SLoss)");
}

/* cli_pose_object's work, its failures named after `flag` (the option that gave dir), and with m
 * (NULL: none) the note of note_head_mismatch. */
static int pose_object(const char *cmd, const char *flag, const char *dir, const char *given,
                       const fv_model *m, int64_t *obj_id)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/models_info.json", dir);
    fv_pose_model_info *infos = NULL;
    int64_t n = 0;
    fv_status s = fv_bop_read_models_info(path, &infos, &n);
    if (s != FV_OK) return cli_fail_lib(cmd, flag, s);
    int rc = CLI_OK;
    const fv_pose_model_info *info = NULL;
    if (given) {
        rc = cli_int(cmd, "--object", given, 1, INT64_MAX, "an obj_id of models_info.json", obj_id);
        for (int64_t i = 0; !rc && i < n; i++)
            if (infos[i].obj_id == *obj_id) info = &infos[i];
        if (!rc && !info) {
            cli_error(cmd, "--object: %s has no obj_id %lld", path, (long long)*obj_id);
            rc = CLI_FAIL;
        }
    } else if (n != 1) {
        cli_error(cmd, "%s: %s lists %lld objects: choose one with --object OBJ_ID", flag, path,
                  (long long)n);
        rc = CLI_FAIL;
    } else {
        info = &infos[0];
        *obj_id = info->obj_id;
    }
    if (!rc && m) note_head_mismatch(cmd, m, path, info);
    fv_bop_free_models_info(infos, n);
    return rc;
}

int cli_pose_object(const char *cmd, const char *dir, const char *given, int64_t *obj_id)
{
    return pose_object(cmd, "--data", dir, given, NULL, obj_id);
}

/* The model's image input (height, width, 1 or 3 channels) and its output's name. */
static int pose_input(const char *cmd, const fv_model *m, int64_t hwc[3])
{
    int64_t dims[4];
    if (!fv_model_is_pose(m, NULL)) {
        cli_error(cmd, "the model's output is not a pose head ('pose extent=...' after a dense "
                       "layer of 9 units)");
        return CLI_FAIL;
    }
    if (fv_model_input_shape(m, 0, dims) != 3 || (dims[2] != 1 && dims[2] != 3)) {
        cli_error(cmd, "a pose network needs an image input (height, width, 1 or 3 channels)");
        return CLI_FAIL;
    }
    memcpy(hwc, dims, 3 * sizeof(int64_t));
    return CLI_OK;
}

/* One split's samples as a dataset (*out), or (missing_ok) CLI_OK with *out NULL when the split
 * has no folder. */
static int load_split(const char *cmd, const fv_model *m, const char *dir, const char *split,
                      int64_t obj_id, bool missing_ok, const uint64_t *jitter_seed,
                      fv_pose_sample **smp, int64_t *n, fv_dataset **out)
{
    int64_t hwc[3];
    fv_pose_crop crop;
    fv_model_pose_crop(m, &crop);
    crop.jitter = jitter_seed != NULL;
    crop.seed = jitter_seed ? *jitter_seed : 0;
    *out = NULL;
    *smp = NULL;
    if (pose_input(cmd, m, hwc)) return CLI_FAIL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, split);
    if (missing_ok && !cli_is_dir(path)) return CLI_OK;
    fv_status s = fv_bop_samples(dir, split, obj_id, smp, n);
    if (s == FV_OK)
        s = fv_bop_to_dataset_crop(*smp, *n, hwc[0], hwc[1], (int)hwc[2],
                                   fv_model_output_name(m, 0), &crop, out);
    if (s != FV_OK) {
        free(*smp);
        *smp = NULL;
        return cli_fail_lib(cmd, "--data", s);
    }
    return CLI_OK;
}

int cli_load_pose(const char *cmd, fv_model *m, const char *dir, const char *object, uint64_t seed,
                  fv_dataset **train, fv_dataset **test)
{
    int64_t obj_id = 0, ntr = 0, nte = 0;
    fv_pose_sample *smp = NULL;
    /* the pose loss is the only one whose targets a BOP folder gives (R, t, fx, fy, cx, cy) */
    const char *loss = fv_model_output_loss(m, 0);
    const bool pose_loss = loss && strcmp(loss, "pose") == 0;
    if (fv_model_is_pose(m, NULL) && !pose_loss) {
        cli_error(cmd, "the pose head's output needs compile loss=pose (PoseCNN's point-matching "
                       "loss and the translation term): a BOP folder's targets are 16 floats a "
                       "sample (R, t, fx, fy, cx, cy), not a copy of the output's 12");
        return CLI_USAGE;
    }
    int rc = pose_object(cmd, "--data", dir, object, m, &obj_id);
    if (!rc) rc = load_split(cmd, m, dir, "train", obj_id, false, &seed, &smp, &ntr, train);
    free(smp);
    if (!rc) rc = load_split(cmd, m, dir, "test", obj_id, true, NULL, &smp, &nte, test);
    free(smp);
    fv_pose_crop crop;
    if (!rc)
        fprintf(stderr,
                "fovea %s: obj_id %lld, its most visible instance in each image: %lld training "
                "images, %lld test images\n",
                cmd, (long long)obj_id, (long long)ntr, (long long)nte);
    if (!rc && fv_model_pose_crop(m, &crop))
        fprintf(stderr,
                "fovea %s: the inputs are crops of %.2f times each object's 2-D box "
                "(scene_gt_info.json's bbox_visib), training crops moved by up to %.2f of the box "
                "and scaled by 1 +- %.2f\n",
                cmd, crop.pad, crop.jitter_shift, crop.jitter_scale);
    return rc;
}

/* m's estimates for the images of d, samples s[0..n) (their sizes filled). */
static int estimate(const char *cmd, fv_model *m, const fv_dataset *d, const fv_pose_sample *s,
                    int64_t n, fv_bop_result **r)
{
    int64_t hwc[3];
    *r = NULL;
    if (pose_input(cmd, m, hwc)) return CLI_FAIL;
    float *y = malloc((size_t)n * 12 * sizeof *y);
    fv_bop_result *out = calloc((size_t)n, sizeof *out);
    if (!y || !out) {
        free(y);
        free(out);
        cli_error(cmd, "out of memory for %lld estimates", (long long)n);
        return CLI_FAIL;
    }
    const double t0 = cli_now();
    fv_status st = fv_model_predict(m, d, 32, y);
    const double per_image = (cli_now() - t0) / (double)n;
    for (int64_t i = 0; st == FV_OK && i < n; i++) {
        out[i].scene_id = s[i].scene_id;
        out[i].im_id = s[i].im_id;
        out[i].obj_id = s[i].obj_id;
        out[i].score = 1;
        out[i].time = per_image;
        fv_pose_sample_estimate(&s[i], y + i * 12, &out[i].pose);
    }
    free(y);
    if (st != FV_OK) {
        free(out);
        return cli_fail_lib(cmd, NULL, st);
    }
    *r = out;
    return CLI_OK;
}

/* m's estimates for s[0..n) with test-time augmentation: *r from the dataset d of the model's own
 * crops (estimate()), then, for tta > 1, the samples cropped again tta − 1 times with the
 * training's jitter (seeds 1 .. tta − 1) and each sample's tta estimates combined: fv_pose_mean
 * (chordal L2 mean of R, mean t), or for a head trained on a symmetric object fv_pose_medoid over
 * its box's corners. time: the sum over the crops. s is left as it is (the jittered crops'
 * cameras go to a copy). */
static int estimate_tta(const char *cmd, fv_model *m, const fv_dataset *d, const fv_pose_sample *s,
                        int64_t n, int64_t tta, fv_bop_result **r)
{
    fv_pose_crop crop;
    *r = NULL;
    if (tta > 1 && !fv_model_pose_crop(m, &crop))
        return cli_usage_error(cmd, "--tta needs a network on crops (pose head crop=box): it "
                                    "combines the estimates of jittered crops");
    int rc = estimate(cmd, m, d, s, n, r);
    if (rc || tta <= 1) return rc;
    int64_t hwc[3];
    double ext[3];
    fv_model_is_pose(m, ext);
    const bool symmetric = fv_model_pose_symmetric(m);
    float corners[8 * 3];
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < 3; j++)
            corners[k * 3 + j] = (float)(((k >> j) & 1 ? 0.5 : -0.5) * ext[j]);
    fv_pose *all = malloc((size_t)n * (size_t)tta * sizeof *all);
    fv_pose_sample *sk = malloc((size_t)n * sizeof *sk); /* the jittered crops' Kin and Rv */
    if (!all || !sk) {
        free(all);
        free(sk);
        free(*r);
        *r = NULL;
        cli_error(cmd, "out of memory for %lld x %lld estimates", (long long)n, (long long)tta);
        return CLI_FAIL;
    }
    memcpy(sk, s, (size_t)n * sizeof *sk);
    for (int64_t i = 0; i < n; i++)
        all[i * tta] = (*r)[i].pose;
    pose_input(cmd, m, hwc);
    for (int64_t k = 1; !rc && k < tta; k++) {
        crop.jitter = true;
        crop.seed = (uint64_t)k;
        fv_dataset *dk = NULL;
        fv_bop_result *rk = NULL;
        fv_status st = fv_bop_to_dataset_crop(sk, n, hwc[0], hwc[1], (int)hwc[2],
                                              fv_model_output_name(m, 0), &crop, &dk);
        if (st != FV_OK) {
            rc = cli_fail_lib(cmd, "--input", st);
            break;
        }
        rc = estimate(cmd, m, dk, sk, n, &rk);
        fv_dataset_free(dk);
        for (int64_t i = 0; !rc && i < n; i++) {
            all[i * tta + k] = rk[i].pose;
            (*r)[i].time += rk[i].time;
        }
        free(rk);
    }
    for (int64_t i = 0; !rc && i < n; i++) {
        fv_status st = symmetric ? fv_pose_medoid(all + i * tta, tta, corners, 8, &(*r)[i].pose)
                                 : fv_pose_mean(all + i * tta, tta, &(*r)[i].pose);
        if (st != FV_OK) rc = cli_fail_lib(cmd, NULL, st);
    }
    free(all);
    free(sk);
    if (rc) {
        free(*r);
        *r = NULL;
    }
    return rc;
}

int cli_pose_estimate(const char *cmd, fv_model *m, fv_pose_sample *s, int64_t n, int64_t tta,
                      fv_bop_result **r)
{
    int64_t hwc[3];
    *r = NULL;
    if (pose_input(cmd, m, hwc)) return CLI_FAIL;
    fv_dataset *d = NULL;
    fv_pose_crop crop;
    fv_model_pose_crop(m, &crop);
    fv_status st = fv_bop_to_dataset_crop(s, n, hwc[0], hwc[1], (int)hwc[2],
                                          fv_model_output_name(m, 0), &crop, &d);
    if (st != FV_OK) return cli_fail_lib(cmd, "--input", st);
    int rc = estimate_tta(cmd, m, d, s, n, tta, r);
    fv_dataset_free(d);
    return rc;
}

/* Each sample's ADD (ADD-S for a symmetric object) over the object's diameter, for the plot. */
static int add_errors(const char *cmd, const char *dir, const fv_pose_sample *s,
                      const fv_bop_result *r, int64_t n, double *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/models_info.json", dir);
    fv_pose_model_info *infos = NULL;
    int64_t ni = 0;
    fv_mesh *mesh = NULL;
    fv_status st = fv_bop_read_models_info(path, &infos, &ni);
    const fv_pose_model_info *info = NULL;
    for (int64_t i = 0; st == FV_OK && i < ni; i++)
        if (infos[i].obj_id == s[0].obj_id) info = &infos[i];
    snprintf(path, sizeof path, "%s/models/obj_%06lld.ply", dir, (long long)s[0].obj_id);
    if (st == FV_OK && info) st = fv_mesh_read_ply(path, &mesh);
    if (st == FV_OK && info) {
        const bool sym = fv_pose_model_symmetric(info);
        for (int64_t i = 0; i < n; i++) {
            const float *p = mesh->vertices;
            const int64_t np = mesh->n_vertices;
            err[i] = (sym ? fv_pose_adds(p, np, &r[i].pose, &s[i].gt)
                          : fv_pose_add(p, np, &r[i].pose, &s[i].gt)) /
                     info->diameter;
        }
    }
    fv_mesh_free(mesh);
    fv_bop_free_models_info(infos, ni);
    if (st != FV_OK) return cli_fail_lib(cmd, "--data", st);
    return CLI_OK; /* no info: fv_pose_evaluate has reported it already */
}

int cli_pose_evaluation(const char *cmd, fv_model *m, const char *dir, const char *object,
                        bool errors, int64_t tta, cli_pose_eval *ev)
{
    fv_dataset *d = NULL;
    *ev = (cli_pose_eval){0};
    int rc = pose_object(cmd, "--data", dir, object, m, &ev->obj_id);
    if (!rc) rc = load_split(cmd, m, dir, "test", ev->obj_id, false, NULL, &ev->smp, &ev->n, &d);
    if (!rc) rc = estimate_tta(cmd, m, d, ev->smp, ev->n, tta, &ev->r);
    fv_dataset_free(d);
    if (rc) goto fail;
    fv_status st = fv_pose_evaluate(dir, "test", ev->r, ev->n, &ev->sc);
    if (st != FV_OK) {
        rc = cli_fail_lib(cmd, "--data", st);
        goto fail;
    }
    if (errors) {
        if (!(ev->err = malloc((size_t)ev->n * sizeof *ev->err))) {
            cli_error(cmd, "out of memory");
            rc = CLI_FAIL;
            goto fail;
        }
        if ((rc = add_errors(cmd, dir, ev->smp, ev->r, ev->n, ev->err))) goto fail;
    }
    return CLI_OK;
fail:
    cli_pose_eval_free(ev);
    return rc;
}

void cli_pose_eval_free(cli_pose_eval *ev)
{
    free(ev->err);
    free(ev->r);
    free(ev->smp);
    *ev = (cli_pose_eval){0};
}

int cli_evaluate_pose_model(const char *cmd, fv_model *m, const char *dir, const char *object,
                            int64_t tta, bool json, const char *plot)
{
    cli_pose_eval ev;
    int rc = cli_pose_evaluation(cmd, m, dir, object, plot != NULL, tta, &ev);
    if (rc) return rc;
    if (!json)
        printf("obj_id %lld, %lld test images (its most visible instance in each)\n",
               (long long)ev.obj_id, (long long)ev.n);
    cli_print_pose_scores(&ev.sc, json);
    if (plot) rc = cli_save_picture(cmd, "--plot", fv_plot_pose_accuracy(ev.err, ev.n), plot);
    cli_pose_eval_free(&ev);
    return rc;
}

/* ---- fovea pose -------------------------------------------------------------------------- */

static const char usage[] =
    "usage: fovea pose MODEL --input IMG|DIR [--K fx,fy,cx,cy] [--box x,y,w,h]\n"
    "                  [--object OBJ_ID] [--tta N]\n"
    "                  [--output poses.csv]\n"
    "\n"
    "Estimates an object's 6D pose in each image with a trained pose network (a model ending\n"
    "in the pose head, trained by 'fovea train MODEL --data BOPDIR'). Each image is resized\n"
    "to the model's input, or for a network on crops (crop=box) cropped around the object's\n"
    "2-D box, its camera matrix with it. Prints per image the rotation matrix R\n"
    "(model to camera, row-major), the translation t in mm (OpenCV's camera: x right, y down,\n"
    "z forward) and, for convenience, Euler angles: extrinsic x-y-z in degrees (R = Rz(c)\n"
    "Ry(b) Rx(a); SciPy's as_euler(\"xyz\")).\n"
    "\n"
    "options:\n"
    "  --input IMG|DIR      an image (PNG, JPEG, ...) or a folder of them (sorted by name)\n"
    "  --K fx,fy,cx,cy      the camera of the images at their own size, in pixels; without\n"
    "                       it, an image in a BOP scene (SCENE/rgb/IIIIII.png) takes its\n"
    "                       cam_K from SCENE/scene_camera.json\n"
    "  --box x,y,w,h        the object's 2-D box in each image (px), for a network on crops\n"
    "                       around the object (pose head crop=box); without it, an image in\n"
    "                       a BOP scene takes its object's box from scene_gt_info.json (the\n"
    "                       true box: BOP's 6D localisation task, detections given)\n"
    "  --object OBJ_ID      the obj_id written to the CSV and whose box is used (default:\n"
    "                       for an image in a BOP scene, the dataset's only object in\n"
    "                       models/models_info.json; else 1)\n"
    "  --output FILE.csv    BOP's result format: scene_id,im_id,obj_id,score,R,t,time (R's\n"
    "                       nine values and t's three separated by spaces; time in seconds\n"
    "                       per image); scene_id and im_id from a BOP path, else 0 and the\n"
    "                       image's index\n"
    "  --tta N              test-time augmentation (N from 1 to 1024; default 1: none), for\n"
    "                       a network on crops: each estimate the combination of N crops,\n"
    "                       the model's own and N - 1 moved and scaled as at training (seeds\n"
    "                       1 .. N-1): R the chordal L2 mean of the N rotations (Hartley et\n"
    "                       al. 2013), t their mean; for a head trained on a symmetric\n"
    "                       object, R the medoid's. N times the inference time\n"
    "  --threads N          threads to use (default: FOVEA_THREADS, else OMP_NUM_THREADS,\n"
    "                       else all cores)\n";

/* Whether s is all digits (1 to 12 of them). */
static bool digits(const char *s, size_t len)
{
    if (len == 0 || len > 12) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* One scene's files, read once for all its images (a folder of 1,000 images re-read them per
 * image: 8 s of JSON parsing). */
typedef struct scene_cache {
    char gt_dir[4096], cam_dir[4096]; /* the scene whose gt / cameras are held ("" none) */
    char root[4096];                  /* the dataset whose only object is obj_id ("" none) */
    int64_t obj_id;
    fv_bop_gt *gt;
    int64_t ng;
    fv_bop_camera *cams;
    int64_t nc;
} scene_cache;

static void scene_cache_free(scene_cache *c)
{
    free(c->gt);
    free(c->cams);
}

/* The 2-D box of x's object (x->obj_id's most visible instance in image x->im_id) from the scene
 * folder dir's scene_gt.json and scene_gt_info.json: bbox_visib, else bbox_obj. */
static int bop_box(const char *cmd, const char *dir, fv_pose_sample *x, scene_cache *c)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/scene_gt_info.json", dir);
    if (strcmp(c->gt_dir, dir) != 0) {
        free(c->gt);
        c->gt = NULL, c->ng = 0, c->gt_dir[0] = '\0';
        char gpath[4200];
        snprintf(gpath, sizeof gpath, "%s/scene_gt.json", dir);
        fv_status s = fv_bop_read_scene_gt(gpath, &c->gt, &c->ng);
        if (s == FV_OK) s = fv_bop_read_scene_gt_info(path, c->gt, c->ng);
        if (s != FV_OK) {
            free(c->gt);
            c->gt = NULL, c->ng = 0;
            return cli_fail_lib(cmd, "--input", s);
        }
        snprintf(c->gt_dir, sizeof c->gt_dir, "%s", dir);
    }
    const fv_bop_gt *gt = c->gt;
    const int64_t ng = c->ng;
    const fv_bop_gt *best = NULL;
    for (int64_t k = 0; k < ng; k++)
        if (gt[k].im_id == x->im_id && gt[k].obj_id == x->obj_id &&
            (!best || gt[k].visib_fract > best->visib_fract))
            best = &gt[k];
    const int64_t *b = !best ? NULL : best->bbox_visib[2] > 0 ? best->bbox_visib : best->bbox_obj;
    const bool ok = b && b[2] > 0 && b[3] > 0;
    for (int k = 0; ok && k < 4; k++)
        x->box[k] = (double)b[k];
    if (!ok) {
        cli_error(cmd,
                  "--input: %s: %s names no 2-D box of obj_id %lld in image %lld (bbox_visib or "
                  "bbox_obj), which the model's crop needs: give one with --box x,y,w,h",
                  x->path, path, (long long)x->obj_id, (long long)x->im_id);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* x->obj_id when not given (0) for an image of the BOP scene folder `scene`: the only object of
 * the dataset's models/models_info.json (SCENE/../../), or 1 when there is no such file. */
static int scene_object(const char *cmd, const char *scene, fv_pose_sample *x, scene_cache *c)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/../..", scene);
    if (strcmp(c->root, root) != 0) {
        int64_t id = 1;
        if (cli_is_pose_dir(root) && pose_object(cmd, "--input", root, NULL, NULL, &id))
            return CLI_FAIL;
        snprintf(c->root, sizeof c->root, "%s", root);
        c->obj_id = id;
    }
    x->obj_id = c->obj_id;
    return CLI_OK;
}

/* Fills scene_id, im_id and (when have_K is false) K of an image at path from its BOP scene:
 * SCENE/rgb/IIIIII.png (or gray/) beside SCENE/scene_camera.json; with want_box, its object's
 * 2-D box from SCENE/scene_gt_info.json (the oracle box of BOP's 6D localisation task). */
static int bop_image(const char *cmd, fv_pose_sample *x, bool have_K, bool want_box,
                     scene_cache *cache)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", x->path);
    char *slash = strrchr(dir, '/');
    const char *base = strrchr(x->path, '/');
    base = base ? base + 1 : x->path;
    const char *dot = strrchr(base, '.');
    const size_t blen = dot ? (size_t)(dot - base) : strlen(base);
    bool bop = false;
    if (slash && digits(base, blen)) {
        *slash = '\0'; /* dir: SCENE/rgb */
        char *s2 = strrchr(dir, '/');
        const char *leaf = s2 ? s2 + 1 : dir;
        if (strcmp(leaf, "rgb") == 0 || strcmp(leaf, "gray") == 0) {
            if (s2)
                *s2 = '\0';
            else
                strcpy(dir, ".");
            bop = true;
        }
    }
    if (!bop) {
        if (have_K && !want_box) return CLI_OK;
        cli_error(cmd,
                  "--input: %s: no %s given and the image is not in a BOP scene "
                  "(SCENE/rgb/IIIIII.png beside SCENE/%s)",
                  x->path, have_K ? "--box" : "--K",
                  have_K ? "scene_gt.json and scene_gt_info.json" : "scene_camera.json");
        return CLI_FAIL;
    }
    if (x->obj_id == 0 && scene_object(cmd, dir, x, cache)) return CLI_FAIL;
    x->im_id = strtoll(base, NULL, 10);
    const char *scene = strrchr(dir, '/');
    scene = scene ? scene + 1 : dir;
    if (digits(scene, strlen(scene))) x->scene_id = strtoll(scene, NULL, 10);
    if (want_box && bop_box(cmd, dir, x, cache)) return CLI_FAIL;
    if (have_K) return CLI_OK;
    char path[4200];
    snprintf(path, sizeof path, "%s/scene_camera.json", dir);
    if (strcmp(cache->cam_dir, dir) != 0) {
        free(cache->cams);
        cache->cams = NULL, cache->nc = 0, cache->cam_dir[0] = '\0';
        fv_status s = fv_bop_read_scene_camera(path, &cache->cams, &cache->nc);
        if (s != FV_OK) return cli_fail_lib(cmd, "--input", s);
        snprintf(cache->cam_dir, sizeof cache->cam_dir, "%s", dir);
    }
    const fv_bop_camera *c = NULL;
    for (int64_t k = 0; k < cache->nc && !c; k++)
        if (cache->cams[k].im_id == x->im_id) c = &cache->cams[k];
    if (c) memcpy(x->K, c->K, sizeof x->K);
    if (!c) {
        cli_error(cmd, "--input: %s: no entry \"%lld\" for %s", path, (long long)x->im_id, x->path);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The image files named by --input: the file, or the folder's image files sorted by name. */
static int input_files(const char *cmd, const char *input, char ***files, int64_t *n)
{
    *files = NULL;
    *n = 0;
    if (!cli_is_dir(input)) {
        if (!cli_exists(input)) {
            cli_error(cmd, "--input: '%s' does not exist", input);
            return CLI_FAIL;
        }
        if (!(*files = malloc(sizeof **files)) || !((*files)[0] = strdup(input))) {
            free(*files);
            *files = NULL;
            cli_error(cmd, "out of memory");
            return CLI_FAIL;
        }
        *n = 1;
        return CLI_OK;
    }
    DIR *d = opendir(input);
    if (!d) {
        cli_error(cmd, "--input: cannot open the folder '%s': %s", input, strerror(errno));
        return CLI_FAIL;
    }
    char **out = NULL;
    int64_t count = 0;
    struct dirent *e;
    int rc = CLI_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !cli_is_image_file(e->d_name)) continue;
        char **p = realloc(out, (size_t)(count + 1) * sizeof *p);
        size_t len = strlen(input) + strlen(e->d_name) + 2;
        char *f = p ? malloc(len) : NULL;
        if (p) out = p;
        if (!f) {
            cli_error(cmd, "out of memory");
            rc = CLI_FAIL;
            break;
        }
        snprintf(f, len, "%s/%s", input, e->d_name);
        out[count++] = f;
    }
    closedir(d);
    if (!rc && count == 0) {
        cli_error(cmd, "--input: '%s' holds no image files (.png, .jpg, .jpeg, .bmp, .gif)", input);
        rc = CLI_FAIL;
    }
    if (rc) {
        for (int64_t i = 0; i < count; i++)
            free(out[i]);
        free(out);
        return rc;
    }
    qsort(out, (size_t)count, sizeof *out, cmp_str);
    *files = out;
    *n = count;
    return CLI_OK;
}

/* --K fx,fy,cx,cy into a 3x3 K. */
static int parse_K(const char *cmd, const char *text, double K[9])
{
    double v[4];
    char extra;
    if (sscanf(text, "%lf,%lf,%lf,%lf%c", &v[0], &v[1], &v[2], &v[3], &extra) != 4 || !(v[0] > 0) ||
        !(v[1] > 0) || !isfinite(v[0] + v[1] + v[2] + v[3]))
        return cli_usage_error(cmd, "--K: expected fx,fy,cx,cy in pixels (fx, fy > 0), got '%s'",
                               text);
    const double k[9] = {v[0], 0, v[2], 0, v[1], v[3], 0, 0, 1};
    memcpy(K, k, sizeof k);
    return CLI_OK;
}

/* --box x,y,w,h (w, h > 0). */
static int parse_box(const char *cmd, const char *text, double box[4])
{
    char extra;
    if (sscanf(text, "%lf,%lf,%lf,%lf%c", &box[0], &box[1], &box[2], &box[3], &extra) != 4 ||
        !(box[2] > 0) || !(box[3] > 0) || !isfinite(box[0] + box[1] + box[2] + box[3]))
        return cli_usage_error(cmd,
                               "--box: expected x,y,width,height in pixels of the image (width, "
                               "height > 0), got '%s'",
                               text);
    return CLI_OK;
}

int cli_pose_inputs(const char *cmd, const char *input, const char *K_text, const char *box_text,
                    bool need_box, int64_t obj_id, fv_pose_sample **out, int64_t *count)
{
    char **files = NULL;
    int64_t n = 0;
    double K[9], box[4] = {-1, -1, -1, -1};
    *out = NULL;
    *count = 0;
    if (box_text && !need_box) {
        cli_error(cmd, "--box: the model does not crop around the object (its pose head has no "
                       "crop=box): it reads the whole image");
        return CLI_USAGE;
    }
    int rc = K_text ? parse_K(cmd, K_text, K) : CLI_OK;
    if (!rc && box_text) rc = parse_box(cmd, box_text, box);
    if (!rc) rc = input_files(cmd, input, &files, &n);
    fv_pose_sample *s = rc ? NULL : calloc((size_t)n, sizeof *s);
    if (!rc && !s) {
        cli_error(cmd, "out of memory");
        rc = CLI_FAIL;
    }
    scene_cache cache = {0};
    for (int64_t i = 0; !rc && i < n; i++) {
        if (strlen(files[i]) >= sizeof s[i].path) {
            cli_error(cmd, "--input: a path of more than 4095 bytes: %.200s...", files[i]);
            rc = CLI_FAIL;
            break;
        }
        strcpy(s[i].path, files[i]);
        s[i].im_id = i;
        s[i].obj_id = obj_id;
        if (K_text) memcpy(s[i].K, K, sizeof K);
        memcpy(s[i].box, box, sizeof box);
        rc = bop_image(cmd, &s[i], K_text != NULL, need_box && !box_text, &cache);
        if (s[i].obj_id == 0) s[i].obj_id = 1; /* not in a BOP scene, no --object */
        /* the dataset's targets need a pose; the estimate does not use it */
        s[i].gt.R[0] = s[i].gt.R[4] = s[i].gt.R[8] = 1;
        s[i].gt.t[2] = 1000;
    }
    scene_cache_free(&cache);
    for (int64_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    *count = n;
    return CLI_OK;
}

static void print_pose(const fv_pose_sample *s, const fv_bop_result *r)
{
    double e[3];
    fv_rotation_to_euler(r->pose.R, e);
    printf("%s (scene %lld, image %lld, obj_id %lld):\n", s->path, (long long)r->scene_id,
           (long long)r->im_id, (long long)r->obj_id);
    for (int i = 0; i < 3; i++)
        printf("  %s [%9.6f %9.6f %9.6f]\n", i ? "   " : "R =", r->pose.R[i * 3],
               r->pose.R[i * 3 + 1], r->pose.R[i * 3 + 2]);
    printf("  t = [%.2f %.2f %.2f] mm\n", r->pose.t[0], r->pose.t[1], r->pose.t[2]);
    printf("  Euler x-y-z (extrinsic, degrees) = [%.2f %.2f %.2f]\n", e[0], e[1], e[2]);
}

int cmd_pose(int argc, char **argv)
{
    const char *cmd = "pose";
    cli_opt opts[] = {{"input", true, false, NULL},  {"K", true, false, NULL},
                      {"object", true, false, NULL}, {"output", true, false, NULL},
                      {"box", true, false, NULL},    {"threads", true, false, NULL},
                      {"tta", true, false, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, 7, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].seen) return cli_usage_error(cmd, "--input is required");
    if ((rc = cli_apply_threads(cmd, &opts[5]))) return rc;
    int64_t obj_id = 0; /* cli_pose_inputs: the dataset's only object, else 1 */
    if (opts[2].seen &&
        (rc = cli_int(cmd, "--object", opts[2].value, 1, INT64_MAX, "an obj_id", &obj_id)))
        return rc;
    int64_t tta = 1;
    if (opts[6].seen && (rc = cli_int(cmd, "--tta", opts[6].value, 1, 1024, "1 to 1024", &tta)))
        return rc;
    if (opts[3].seen && (rc = cli_check_writable(cmd, "--output", opts[3].value))) return rc;
    fv_pose_sample *s = NULL;
    fv_bop_result *r = NULL;
    int64_t n = 0;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    if (!m) return CLI_FAIL;
    fv_pose_crop crop;
    rc = cli_pose_inputs(cmd, opts[0].value, opts[1].seen ? opts[1].value : NULL,
                         opts[4].seen ? opts[4].value : NULL, fv_model_pose_crop(m, &crop), obj_id,
                         &s, &n);
    if (!rc) rc = cli_pose_estimate(cmd, m, s, n, tta, &r);
    for (int64_t i = 0; !rc && i < n; i++)
        print_pose(&s[i], &r[i]);
    if (!rc && opts[3].seen) {
        fv_status st = fv_bop_write_results(opts[3].value, r, n);
        if (st != FV_OK)
            rc = cli_fail_lib(cmd, "--output", st);
        else
            printf("Wrote %lld estimates to %s\n", (long long)n, opts[3].value);
    }
    if (!rc && (fflush(stdout) != 0 || ferror(stdout))) {
        cli_error(cmd, "cannot write to standard output");
        rc = CLI_FAIL;
    }
    free(s);
    free(r);
    fv_model_free(m);
    return rc;
}
