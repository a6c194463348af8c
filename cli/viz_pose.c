/* viz_pose.c — `fovea viz pose MODEL --input IMG|DIR -o pose.png`: a pose network's estimates drawn
 * over the images as the object's projected 3-D box and axes, beside the true pose when the image
 * is in a BOP scene (SCENE/rgb/IIIIII.png with SCENE/scene_gt.json).
 */
#include "commands.h"
#include "common.h"
#include "pose.h"
#include "viz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: fovea viz pose MODEL --input IMG|DIR [--K fx,fy,cx,cy] [--box x,y,w,h]\n"
    "                 [--object OBJ_ID] [--max N] [--tta N] -o OUT.png|OUT.svg\n"
    "\n"
    "Draws a pose network's estimate over each image: the object's 3-D bounding box projected\n"
    "(orange) and its axes (x red, y green, z blue). An image in a BOP scene\n"
    "(DIR/SPLIT/SCENE/rgb/IIIIII.png) is drawn a second time beside it with the true pose (green\n"
    "box; the object's most visible instance from scene_gt.json and scene_gt_info.json), and\n"
    "the box is models_info.json's; otherwise the box is the pose head's extent, centred.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   the picture, .png or .svg (required)\n"
    "  --input IMG|DIR     an image or a folder of images (sorted by name; required)\n"
    "  --K fx,fy,cx,cy     the camera (default: each BOP scene's scene_camera.json)\n"
    "  --box x,y,w,h       the object's 2-D box (px) for a network on crops (crop=box);\n"
    "                      default: each BOP scene's scene_gt_info.json\n"
    "  --object OBJ_ID     the object (default: the BOP dataset's only one, else 1)\n"
    "  --max N             at most N images, the first by name (default 16, at most 64)\n"
    "  --tta N             each estimate the combination of N crops (as 'fovea pose --tta';\n"
    "                      default 1)\n";

/* path's folder with `up` trailing components removed into out, or false. */
static bool parent(const char *path, int up, char *out, size_t size)
{
    if (snprintf(out, size, "%s", path) >= (int)size) return false;
    for (int k = 0; k < up; k++) {
        char *slash = strrchr(out, '/');
        if (!slash) return false;
        *slash = '\0';
    }
    return true;
}

/* The true pose of s's object in its BOP scene (its most visible instance), if there is one. */
static int true_pose(const char *cmd, const fv_pose_sample *s, fv_pose *gt, bool *known)
{
    char scene[4096], path[4200];
    *known = false;
    if (!parent(s->path, 2, scene, sizeof scene)) return CLI_OK;
    snprintf(path, sizeof path, "%s/scene_gt.json", scene);
    if (!cli_exists(path)) return CLI_OK;
    fv_bop_gt *g = NULL;
    int64_t n = 0;
    fv_status st = fv_bop_read_scene_gt(path, &g, &n);
    snprintf(path, sizeof path, "%s/scene_gt_info.json", scene);
    if (st == FV_OK && cli_exists(path)) st = fv_bop_read_scene_gt_info(path, g, n);
    if (st != FV_OK) return cli_fail_lib(cmd, "--input", st);
    const fv_bop_gt *best = NULL;
    for (int64_t i = 0; i < n; i++)
        if (g[i].im_id == s->im_id && g[i].obj_id == s->obj_id &&
            (!best || g[i].visib_fract > best->visib_fract))
            best = &g[i];
    if (best) {
        *gt = best->pose;
        *known = true;
    }
    free(g);
    return CLI_OK;
}

/* The box: models_info.json's of the BOP dataset holding path, else the head's extent. */
static void object_box(const fv_model *m, const fv_pose_sample *s, double min[3], double size[3])
{
    fv_model_is_pose(m, size);
    for (int j = 0; j < 3; j++)
        min[j] = -size[j] / 2;
    char root[4096], path[4200];
    if (!parent(s->path, 4, root, sizeof root)) return;
    snprintf(path, sizeof path, "%s/models/models_info.json", root);
    fv_pose_model_info *infos = NULL;
    int64_t n = 0;
    if (!cli_exists(path) || fv_bop_read_models_info(path, &infos, &n) != FV_OK) return;
    for (int64_t i = 0; i < n; i++)
        if (infos[i].obj_id == s->obj_id) {
            memcpy(min, infos[i].min, 3 * sizeof(double));
            memcpy(size, infos[i].size, 3 * sizeof(double));
        }
    fv_bop_free_models_info(infos, n);
}

int cmd_viz_pose(int argc, char **argv)
{
    const char *cmd = "viz pose";
    cli_opt opts[] = {{"input", true, false, NULL},  {"K", true, false, NULL},
                      {"object", true, false, NULL}, {"max", true, false, NULL},
                      {"output", true, false, NULL}, {"o", true, false, NULL},
                      {"box", true, false, NULL},    {"tta", true, false, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, 8, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    const char *out = opts[4].seen ? opts[4].value : opts[5].seen ? opts[5].value : NULL;
    if (!out) return cli_usage_error(cmd, "-o OUT.png|OUT.svg is required");
    if (!opts[0].seen) return cli_usage_error(cmd, "--input is required");
    int64_t obj_id = 0, max = 16, tta = 1; /* obj_id 0: the dataset's only object, else 1 */
    if (opts[2].seen &&
        (rc = cli_int(cmd, "--object", opts[2].value, 1, INT64_MAX, "an obj_id", &obj_id)))
        return rc;
    if (opts[3].seen && (rc = cli_int(cmd, "--max", opts[3].value, 1, 64, "1 to 64", &max)))
        return rc;
    if (opts[7].seen && (rc = cli_int(cmd, "--tta", opts[7].value, 1, 1024, "1 to 1024", &tta)))
        return rc;
    if ((rc = cli_check_picture_path(cmd, "-o", out))) return rc;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    if (!m) return CLI_FAIL;
    fv_pose_sample *s = NULL;
    fv_bop_result *r = NULL;
    fv_pose_view *v = NULL;
    fv_pose *gts = NULL;
    uint8_t **px = NULL;
    int64_t n = 0;
    fv_pose_crop crop;
    rc = cli_pose_inputs(cmd, opts[0].value, opts[1].seen ? opts[1].value : NULL,
                         opts[6].seen ? opts[6].value : NULL, fv_model_pose_crop(m, &crop), obj_id,
                         &s, &n);
    if (rc) goto done;
    if (n > max) n = max;
    if ((rc = cli_pose_estimate(cmd, m, s, n, tta, &r))) goto done;
    v = calloc((size_t)n, sizeof *v);
    gts = calloc((size_t)n, sizeof *gts);
    px = calloc((size_t)n, sizeof *px);
    if (!v || !gts || !px) {
        cli_error(cmd, "out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    int64_t dims[4];
    fv_model_input_shape(m, 0, dims);
    fv_image_opts io = fv_image_defaults();
    io.channels = (int)dims[2];
    io.strict = true;
    for (int64_t i = 0; i < n; i++) {
        fv_status st = fv_image_read(s[i].path, &io, &px[i], &v[i].height, &v[i].width);
        if (st != FV_OK) {
            rc = cli_fail_lib(cmd, "--input", st);
            goto done;
        }
        bool known = false;
        if ((rc = true_pose(cmd, &s[i], &gts[i], &known))) goto done;
        v[i].pixels = px[i];
        v[i].channels = io.channels;
        memcpy(v[i].K, s[i].K, sizeof v[i].K);
        v[i].est = &r[i].pose;
        v[i].gt = known ? &gts[i] : NULL;
        const char *base = strrchr(s[i].path, '/');
        v[i].caption = base ? base + 1 : s[i].path;
    }
    double min[3], size[3];
    object_box(m, &s[0], min, size);
    rc = cli_save_picture(cmd, "-o", fv_plot_poses(v, n, min, size), out);
    if (!rc) printf("Wrote %s (%lld image%s)\n", out, (long long)n, n == 1 ? "" : "s");
done:
    for (int64_t i = 0; px && i < n; i++)
        free(px[i]);
    free(px);
    free(v);
    free(gts);
    free(r);
    free(s);
    fv_model_free(m);
    return rc;
}
