/* pose_dataset.c — a BOP dataset's split as a training dataset for a pose network: each image
 * resized to the model's input with its camera matrix scaled alike, and the pose head's targets
 * (R, t, the scaled fx, fy, cx, cy) of the chosen object's most visible instance.
 */
#include "io/dataset.h"
#include "io/image.h"
#include "vision/pose_internal.h"

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

fv_status fv_bop_to_dataset(fv_pose_sample *samples, int64_t n, int64_t height, int64_t width,
                            int channels, const char *output, fv_dataset **out)
{
    *out = NULL;
    if (!samples || n < 1 || !output || height < 1 || width < 1 || (channels != 1 && channels != 3))
        return fv__fail(FV_ERR_INVALID,
                        "fv_bop_to_dataset: NULL argument, no samples, a size below 1 or "
                        "channels not 1 or 3");
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
    for (int64_t i = 0; s == FV_OK && i < n; i++) {
        fv_pose_sample *x = &samples[i];
        uint8_t *src = NULL;
        s = fv_image_read(x->path, &o, &src, &x->height, &x->width);
        if (s == FV_OK)
            s = fv__image_resize_u8(src, x->width, channels, 0, 0, x->height, x->width,
                                    px + i * height * width * channels, height, width,
                                    FV_INTERP_BILINEAR);
        free(src);
        double Ks[9];
        fv_pose_scale_K(x->K, x->height, x->width, height, width, Ks);
        float *ti = t + i * TARGET;
        for (int k = 0; k < 9; k++)
            ti[k] = (float)x->gt.R[k];
        for (int k = 0; k < 3; k++)
            ti[9 + k] = (float)x->gt.t[k];
        ti[12] = (float)Ks[0], ti[13] = (float)Ks[4], ti[14] = (float)Ks[2], ti[15] = (float)Ks[5];
    }
    const int64_t dims[3] = {height, width, channels};
    return fv__dataset_images_targets(s, n, dims, px, output, TARGET, t, out);
}
