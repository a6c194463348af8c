/* pose_dataset.c — a BOP dataset's split as a training dataset for a pose network: each image
 * resized to the model's input with its camera matrix scaled alike, and the pose head's targets
 * (R, t, the scaled fx, fy, cx, cy) of the chosen object's most visible instance.
 */
#include "io/dataset.h"
#include "io/image.h"
#include "vision/pose_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TARGET = 16 };

void fv_pose_scale_K(const double K[9], int64_t src_h, int64_t src_w, int64_t dst_h, int64_t dst_w,
                     double out[9])
{
    const double sx = (double)dst_w / (double)src_w, sy = (double)dst_h / (double)src_h;
    memcpy(out, K, 9 * sizeof(double));
    out[0] = K[0] * sx, out[1] = K[1] * sx, out[2] = (K[2] + 0.5) * sx - 0.5;
    out[4] = K[4] * sy, out[5] = (K[5] + 0.5) * sy - 0.5;
}

void fv_pose_from_head(const float y[12], const double K[9], fv_pose *out)
{
    for (int k = 0; k < 9; k++)
        out->R[k] = y[k];
    const double z = (double)y[11] * 0.5 * (K[0] + K[4]);
    out->t[0] = (double)y[9] * z;
    out->t[1] = (double)y[10] * z;
    out->t[2] = z;
}

/* Appends one scene's samples: per image, obj_id's most visible instance. */
static fv_status scene_samples(const char *scene_dir, int64_t scene_id, int64_t obj_id,
                               fv_pose_sample **smp, int64_t *ns, int64_t *cap)
{
    fv_bop_gt *gt = NULL;
    fv_bop_camera *cams = NULL;
    int64_t ng = 0, nc = 0;
    fv_status st = fv__bop_read_scene(scene_dir, &gt, &ng, &cams, &nc);
    for (int64_t i = 0; st == FV_OK && i < ng; i++) {
        if (gt[i].obj_id != obj_id || !fv__bop_most_visible(gt, ng, i)) continue;
        if (*ns == *cap) {
            const int64_t want = *cap ? *cap * 2 : 1024;
            fv_pose_sample *p = realloc(*smp, (size_t)want * sizeof *p);
            if (!p) {
                st = fv__fail(FV_ERR_NOMEM, "out of memory for %lld samples", (long long)want);
                break;
            }
            *smp = p;
            *cap = want;
        }
        fv_pose_sample *x = &(*smp)[(*ns)++];
        memset(x, 0, sizeof *x);
        x->scene_id = scene_id;
        x->im_id = gt[i].im_id;
        x->obj_id = obj_id;
        x->gt = gt[i].pose;
        x->visib_fract = gt[i].visib_fract;
        const int64_t *b = gt[i].bbox_visib[2] > 0 ? gt[i].bbox_visib : gt[i].bbox_obj;
        for (int k = 0; k < 4; k++)
            x->box[k] = b[2] > 0 && b[3] > 0 ? (double)b[k] : -1;
        memcpy(x->K, fv__bop_camera(cams, nc, gt[i].im_id)->K, sizeof x->K);
        st = fv__path(x->path, "%s/rgb/%06lld.png", scene_dir, (long long)x->im_id);
    }
    free(gt);
    free(cams);
    return st;
}

fv_status fv_bop_samples(const char *dir, const char *split, int64_t obj_id,
                         fv_pose_sample **samples, int64_t *n)
{
    *samples = NULL;
    *n = 0;
    if (!dir || !split || obj_id < 1)
        return fv__fail(FV_ERR_INVALID, "fv_bop_samples: NULL argument or obj_id below 1");
    char root[FV__PATH_MAX], path[FV__PATH_MAX];
    char **scenes = NULL;
    int64_t nscenes = 0, ns = 0, cap = 0;
    fv_pose_sample *smp = NULL;
    fv_status st = fv__path(root, "%s/%s", dir, split);
    if (st == FV_OK) st = fv__pose_list_scenes(root, &scenes, &nscenes);
    for (int64_t s = 0; st == FV_OK && s < nscenes; s++) {
        const int64_t scene_id = strtoll(scenes[s], NULL, 10);
        if ((st = fv__path(path, "%s/%s", root, scenes[s])) != FV_OK ||
            (st = scene_samples(path, scene_id, obj_id, &smp, &ns, &cap)) != FV_OK)
            break;
    }
    fv__pose_free_names(scenes, nscenes);
    if (st == FV_OK && ns == 0)
        st = fv__fail(FV_ERR_FORMAT, "%s: no instance of obj_id %lld in any scene_gt.json", root,
                      (long long)obj_id);
    if (st != FV_OK) {
        free(smp);
        return st;
    }
    *samples = smp;
    *n = ns;
    return FV_OK;
}

/* The crop of sample i: its centre and side in the image, jittered (GDR-Net's uniform DZI) when
 * c->jitter, from the sample's own stream of c->seed. */
static void crop_square(const fv_pose_crop *c, const fv_pose_sample *x, int64_t i, double centre[2],
                        double *side)
{
    const double *b = x->box;
    centre[0] = b[0] + 0.5 * b[2] - 0.5;
    centre[1] = b[1] + 0.5 * b[3] - 0.5;
    double scale = 1;
    if (c->jitter) {
        fv_rng base, g;
        fv__rng_seed(&base, c->seed);
        fv__rng_split(&base, (uint64_t)i, &g);
        centre[0] += b[2] * c->jitter_shift * (2 * (double)fv__rng_uniform(&g) - 1);
        centre[1] += b[3] * c->jitter_shift * (2 * (double)fv__rng_uniform(&g) - 1);
        scale += c->jitter_scale * (2 * (double)fv__rng_uniform(&g) - 1);
    }
    *side = c->pad * (b[2] > b[3] ? b[2] : b[3]) * scale;
}

/* One sample's input image into dst and its targets into ti; fills x's Kin and Rv. */
static fv_status sample_input(fv_pose_sample *x, int64_t i, const fv_pose_crop *crop,
                              const fv_image_opts *o, int64_t height, int64_t width, uint8_t *dst,
                              float *ti)
{
    const int channels = o->channels;
    if (crop && !(x->box[2] > 0 && x->box[3] > 0))
        return fv__fail(FV_ERR_FORMAT,
                        "%s: the object (obj_id %lld) has no 2-D box (scene_gt_info.json's "
                        "bbox_visib or bbox_obj), which a network on crops around it needs",
                        x->path, (long long)x->obj_id);
    uint8_t *src = NULL;
    fv_status s = fv_image_read(x->path, o, &src, &x->height, &x->width);
    if (s != FV_OK) return s;
    const double *b = x->box;
    if (crop && (b[0] + b[2] <= 0 || b[1] + b[3] <= 0 || b[0] >= (double)x->width ||
                 b[1] >= (double)x->height)) {
        free(src);
        return fv__fail(FV_ERR_FORMAT,
                        "%s: the object's 2-D box %g,%g,%g,%g (x, y, width, height) lies wholly "
                        "outside the %lld x %lld image",
                        x->path, b[0], b[1], b[2], b[3], (long long)x->width, (long long)x->height);
    }
    static const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    if (crop) {
        double centre[2], side;
        crop_square(crop, x, i, centre, &side);
        fv_pose_crop_camera(x->K, centre, side, height, width, x->Rv, x->Kin);
        fv_pose_crop_image(src, x->height, x->width, channels, x->K, x->Rv, x->Kin, dst, height,
                           width);
    } else {
        memcpy(x->Rv, I, sizeof I);
        fv_pose_scale_K(x->K, x->height, x->width, height, width, x->Kin);
        s = fv__image_resize_u8(src, x->width, channels, 0, 0, x->height, x->width, dst, height,
                                width, FV_INTERP_BILINEAR);
    }
    free(src);
    /* the pose in the input's camera: (Rv R, Rv t) */
    for (int a = 0; a < 3; a++) {
        double ta = 0;
        for (int k = 0; k < 3; k++)
            ta += x->Rv[a * 3 + k] * x->gt.t[k];
        ti[9 + a] = (float)ta;
        for (int b = 0; b < 3; b++) {
            double r = 0;
            for (int k = 0; k < 3; k++)
                r += x->Rv[a * 3 + k] * x->gt.R[k * 3 + b];
            ti[a * 3 + b] = (float)r;
        }
    }
    const double *Kin = x->Kin;
    ti[12] = (float)Kin[0], ti[13] = (float)Kin[4], ti[14] = (float)Kin[2], ti[15] = (float)Kin[5];
    return s;
}

/* Every sample's input and targets, decoded and cropped in parallel: each sample has its own
 * file, crop and jitter stream (crop_square), so the result is the same for any thread count. On
 * failure, the message of the failing sample with the lowest index (fv_last_error is per thread,
 * so it is copied out of the worker); the samples after it are skipped. */
static fv_status all_inputs(fv_pose_sample *samples, int64_t n, const fv_pose_crop *crop,
                            const fv_image_opts *o, int64_t height, int64_t width, uint8_t *px,
                            float *t)
{
    const int64_t sample = height * width * o->channels;
    int64_t bad = n;
    fv_status bad_status = FV_OK;
    char msg[1024] = "";
    const int threads = fv__threads();
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t i = 0; i < n; i++) {
        int64_t first_bad;
#pragma omp atomic read
        first_bad = bad;
        if (i > first_bad) continue;
        const fv_status st =
            sample_input(&samples[i], i, crop, o, height, width, px + i * sample, t + i * TARGET);
        if (st == FV_OK) continue;
#pragma omp critical(fv_pose_inputs)
        if (i < bad) {
            bad = i;
            bad_status = st;
            snprintf(msg, sizeof msg, "%s", fv_last_error());
        }
    }
    return bad < n ? fv__fail(bad_status, "%s", msg) : FV_OK;
}

fv_status fv_bop_to_dataset_crop(fv_pose_sample *samples, int64_t n, int64_t height, int64_t width,
                                 int channels, const char *output, const fv_pose_crop *crop,
                                 fv_dataset **out)
{
    *out = NULL;
    if (!samples || n < 1 || !output || height < 1 || width < 1 || (channels != 1 && channels != 3))
        return fv__fail(FV_ERR_INVALID,
                        "fv_bop_to_dataset: NULL argument, no samples, a size below 1 or "
                        "channels not 1 or 3");
    if (crop && crop->enabled &&
        !(crop->pad > 0 && crop->jitter_scale >= 0 && crop->jitter_scale < 1 &&
          crop->jitter_shift >= 0))
        return fv__fail(FV_ERR_INVALID,
                        "fv_bop_to_dataset_crop: expected pad > 0, 0 <= jitter_scale < 1 and "
                        "jitter_shift >= 0");
    if (crop && !crop->enabled) crop = NULL;
    int64_t px_count, t_count;
    if (!fv__mul_i64(n, height * width * channels, &px_count) || !fv__mul_i64(n, TARGET, &t_count))
        return fv__fail(FV_ERR_NOMEM, "%lld images of %lld x %lld are too many", (long long)n,
                        (long long)height, (long long)width);
    uint8_t *px = fv__alloc((size_t)px_count, "the resized images");
    float *t = malloc((size_t)t_count * sizeof(float));
    fv_status s = px && t ? FV_OK : FV_ERR_NOMEM;
    if (px && !t) fv__fail(FV_ERR_NOMEM, "out of memory for the pose targets");
    fv_image_opts o = fv_image_defaults();
    o.channels = channels;
    o.strict = true;
    if (s == FV_OK) s = all_inputs(samples, n, crop, &o, height, width, px, t);
    const int64_t dims[3] = {height, width, channels};
    return fv__dataset_images_targets(s, n, dims, px, output, TARGET, t, out);
}

fv_status fv_bop_to_dataset(fv_pose_sample *samples, int64_t n, int64_t height, int64_t width,
                            int channels, const char *output, fv_dataset **out)
{
    return fv_bop_to_dataset_crop(samples, n, height, width, channels, output, NULL, out);
}
