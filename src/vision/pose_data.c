/* pose_data.c — a rendered 6D pose dataset in the BOP layout (`fovea data make pose`): an object
 * at uniform rotations and in-view translations over cluttered backgrounds, with its model,
 * models_info.json, the per-scene JSON files, masks and BOP's test targets.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include "io/io.h"
#include "vision/pose_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCENE_SIZE 1000 /* images per scene folder, as BOP's */

fv_pose_data_opts fv_pose_data_defaults(void)
{
    fv_pose_data_opts o = {.object = "tripod", .n_train = 20000, .n_test = 2000, .size = 128};
    return o;
}

/* An 8-bit PNG (channels 1 or 3) with libpng's simplified API, written in place: the dataset's
 * folder is renamed into place only when complete and synced once (syncfs), so a per-file
 * temporary and fsync (fv__png_write) would only cost time — 3.4× the whole run, measured on
 * 1,200 images. */
static fv_status png_write(const char *path, const uint8_t *pixels, int64_t h, int64_t w,
                           int channels)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    if (!png_image_write_to_file(&im, path, 0, pixels, (png_int_32)(w * channels), NULL)) {
        fv_status st = fv__fail(FV_ERR_IO, "%s: cannot write the PNG: %s", path, im.message);
        png_image_free(&im);
        return st;
    }
    return FV_OK;
}

/* A uniform random rotation: Shoemake's unit quaternion from three uniforms (Graphics Gems III,
 * "Uniform random rotations"), as a row-major matrix. */
static void random_rotation(fv_rng *g, double *R)
{
    double u1 = fv__rng_uniform(g), u2 = fv__rng_uniform(g), u3 = fv__rng_uniform(g);
    double a = sqrt(1 - u1), b = sqrt(u1);
    double x = a * sin(2 * M_PI * u2), y = a * cos(2 * M_PI * u2);
    double z = b * sin(2 * M_PI * u3), w = b * cos(2 * M_PI * u3);
    R[0] = 1 - 2 * (y * y + z * z), R[1] = 2 * (x * y - z * w), R[2] = 2 * (x * z + y * w);
    R[3] = 2 * (x * y + z * w), R[4] = 1 - 2 * (x * x + z * z), R[5] = 2 * (y * z - x * w);
    R[6] = 2 * (x * z - y * w), R[7] = 2 * (y * z + x * w), R[8] = 1 - 2 * (x * x + y * y);
}

static double uniform(fv_rng *g, double lo, double hi)
{
    return lo + (hi - lo) * fv__rng_uniform(g);
}

static uint8_t clamp_u8(double v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

/* The clutter: a tinted grey level with noise, then fragments of the pictures, each a random
 * crop scaled (nearest) to a random size, painted in a random colour with its brightness as
 * opacity. rgb [s × s × 3]. */
static void background(fv_rng *g, const fv_pose_data_opts *o, uint8_t *rgb)
{
    const int64_t s = o->size;
    double base = uniform(g, 40, 200), sigma = uniform(g, 3, 15), tint[3];
    for (int c = 0; c < 3; c++)
        tint[c] = uniform(g, 0.8, 1.2);
    for (int64_t i = 0; i < s * s; i++)
        for (int c = 0; c < 3; c++)
            rgb[i * 3 + c] = clamp_u8(base * tint[c] + sigma * fv__rng_normal(g));
    if (!o->backgrounds || o->n_backgrounds < 1) return;
    const int64_t bh = o->bg_height, bw = o->bg_width;
    int nfrag = 3 + (int)fv__rng_below(g, 4);
    for (int f = 0; f < nfrag; f++) {
        const uint8_t *pic =
            o->backgrounds + (int64_t)fv__rng_below(g, (uint64_t)o->n_backgrounds) * bh * bw;
        int64_t ch = bh / 3 + (int64_t)fv__rng_below(g, (uint64_t)(bh - bh / 3 + 1));
        int64_t cw = bw / 3 + (int64_t)fv__rng_below(g, (uint64_t)(bw - bw / 3 + 1));
        int64_t cy = (int64_t)fv__rng_below(g, (uint64_t)(bh - ch + 1));
        int64_t cx = (int64_t)fv__rng_below(g, (uint64_t)(bw - cw + 1));
        int64_t th = s / 6 + (int64_t)fv__rng_below(g, (uint64_t)(s / 2 - s / 6 + 1));
        int64_t tw = s / 6 + (int64_t)fv__rng_below(g, (uint64_t)(s / 2 - s / 6 + 1));
        int64_t py = (int64_t)fv__rng_below(g, (uint64_t)(s + th)) - th / 2;
        int64_t px = (int64_t)fv__rng_below(g, (uint64_t)(s + tw)) - tw / 2;
        double col[3];
        for (int c = 0; c < 3; c++)
            col[c] = uniform(g, 30, 255);
        for (int64_t y = 0; y < th; y++) {
            int64_t oy = py + y;
            if (oy < 0 || oy >= s) continue;
            const uint8_t *row = pic + (cy + y * ch / th) * bw + cx;
            for (int64_t x = 0; x < tw; x++) {
                int64_t ox = px + x;
                if (ox < 0 || ox >= s) continue;
                double a = row[x * cw / tw] / 255.0;
                uint8_t *p = rgb + (oy * s + ox) * 3;
                for (int c = 0; c < 3; c++)
                    p[c] = clamp_u8((1 - a) * p[c] + a * col[c]);
            }
        }
    }
}

static fv_status make_dir(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return fv__fail(FV_ERR_IO, "%s: cannot create the folder: %s", path, strerror(errno));
    return FV_OK;
}

/* path = a/b; it fits: fv_pose_make_dataset takes folder names of up to 3000 bytes, and b is
 * short. */
static const char *join(char *buf, const char *a, const char *b)
{
    FV_ASSERT(fv__path(buf, "%s/%s", a, b) == FV_OK);
    return buf;
}

typedef struct gen {
    const fv_pose_data_opts *o;
    const fv_mesh *mesh;
    const fv_pose_model_info *info;
    fv_renderer *r;
    double K[9], Kpad[9];
    uint8_t *pad_rgb, *pad_mask, *rgb, *mask;
    cJSON *targets;
} gen;

/* One image: its pose, background and render; writes the PNGs and fills *gt. */
static fv_status render_one(gen *G, fv_rng *g, const char *scene, int64_t im_id, fv_bop_gt *gt)
{
    const int64_t s = G->o->size, ps = 3 * s;
    const double d = G->info->diameter, f = G->K[0];
    fv_pose p;
    random_rotation(g, p.R);
    double z = uniform(g, f * d / (0.60 * (double)s), f * d / (0.35 * (double)s));
    double u = uniform(g, 0.25 * (double)s, 0.75 * (double)s);
    double v = uniform(g, 0.25 * (double)s, 0.75 * (double)s);
    p.t[0] = (u - G->K[2]) * z / f;
    p.t[1] = (v - G->K[5]) * z / G->K[4];
    p.t[2] = z;
    background(g, G->o, G->rgb);
    memset(G->pad_rgb, 0, (size_t)(ps * ps * 3));
    for (int64_t y = 0; y < s; y++)
        memcpy(G->pad_rgb + ((y + s) * ps + s) * 3, G->rgb + y * s * 3, (size_t)(s * 3));
    fv_status st = fv_render(G->r, G->mesh, &p, G->Kpad, G->pad_rgb, G->pad_mask, NULL);
    if (st != FV_OK) return st;
    int64_t all = 0, vis = 0,
            b[2][4] = {{INT64_MAX, INT64_MAX, -1, -1}, {INT64_MAX, INT64_MAX, -1, -1}};
    for (int64_t y = 0; y < ps; y++)
        for (int64_t x = 0; x < ps; x++) {
            if (!G->pad_mask[y * ps + x]) continue;
            bool in = y >= s && y < 2 * s && x >= s && x < 2 * s;
            all++;
            vis += in;
            for (int k = 0; k < (in ? 2 : 1); k++) {
                int64_t *bb = b[k];
                bb[0] = x < bb[0] ? x : bb[0], bb[1] = y < bb[1] ? y : bb[1];
                bb[2] = x > bb[2] ? x : bb[2], bb[3] = y > bb[3] ? y : bb[3];
            }
        }
    for (int64_t y = 0; y < s; y++) {
        memcpy(G->rgb + y * s * 3, G->pad_rgb + ((y + s) * ps + s) * 3, (size_t)(s * 3));
        memcpy(G->mask + y * s, G->pad_mask + (y + s) * ps + s, (size_t)s);
    }
    memset(gt, 0, sizeof *gt);
    gt->im_id = im_id;
    gt->obj_id = G->info->obj_id;
    gt->pose = p;
    gt->px_count_all = all;
    gt->px_count_visib = vis;
    gt->visib_fract = all > 0 ? (double)vis / (double)all : 0.0;
    for (int k = 0; k < 2; k++) {
        int64_t *box = k ? gt->bbox_visib : gt->bbox_obj;
        if (b[k][2] < 0) {
            box[0] = box[1] = box[2] = box[3] = -1;
            continue;
        }
        box[0] = b[k][0] - s, box[1] = b[k][1] - s;
        box[2] = b[k][2] - b[k][0] + 1, box[3] = b[k][3] - b[k][1] + 1;
    }
    char path[4096], name[64];
    snprintf(name, sizeof name, "rgb/%06lld.png", (long long)im_id);
    if ((st = png_write(join(path, scene, name), G->rgb, s, s, 3)) != FV_OK) return st;
    snprintf(name, sizeof name, "mask/%06lld_000000.png", (long long)im_id);
    if ((st = png_write(join(path, scene, name), G->mask, s, s, 1)) != FV_OK) return st;
    snprintf(name, sizeof name, "mask_visib/%06lld_000000.png", (long long)im_id);
    return png_write(join(path, scene, name), G->mask, s, s, 1);
}

/* One split (train or test): count images in scenes of SCENE_SIZE. */
static fv_status make_split(gen *G, const char *root, const char *split, int64_t count,
                            uint64_t label)
{
    if (count == 0) return FV_OK;
    char dir[4096], scene[4096], path[4096];
    fv_status st = make_dir(join(dir, root, split));
    if (st != FV_OK) return st;
    fv_rng base;
    fv__rng_seed(&base, G->o->seed);
    fv_bop_gt *gts = malloc(SCENE_SIZE * sizeof *gts);
    fv_bop_camera *cams = malloc(SCENE_SIZE * sizeof *cams);
    if (!gts || !cams) {
        st = fv__fail(FV_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t first = 0; first < count; first += SCENE_SIZE) {
        const int64_t scene_id = first / SCENE_SIZE;
        const int64_t n = count - first < SCENE_SIZE ? count - first : SCENE_SIZE;
        char name[32];
        snprintf(name, sizeof name, "%06lld", (long long)scene_id);
        join(scene, dir, name);
        static const char *const sub[3] = {"rgb", "mask", "mask_visib"};
        if ((st = make_dir(scene)) != FV_OK) goto done;
        for (int k = 0; k < 3; k++)
            if ((st = make_dir(join(path, scene, sub[k]))) != FV_OK) goto done;
        for (int64_t i = 0; i < n; i++) {
            fv_rng g; /* each image its own stream: the same seed, the same image */
            fv__rng_split(&base, (label << 40) | (uint64_t)(first + i), &g);
            if ((st = render_one(G, &g, scene, i, &gts[i])) != FV_OK) goto done;
            cams[i].im_id = i;
            memcpy(cams[i].K, G->K, sizeof G->K);
            cams[i].depth_scale = 1.0;
            if (G->targets && label == 2) {
                cJSON *t = cJSON_CreateObject();
                if (!t || !cJSON_AddItemToArray(G->targets, t) ||
                    !cJSON_AddNumberToObject(t, "im_id", (double)i) ||
                    !cJSON_AddNumberToObject(t, "inst_count", 1) ||
                    !cJSON_AddNumberToObject(t, "obj_id", (double)G->info->obj_id) ||
                    !cJSON_AddNumberToObject(t, "scene_id", (double)scene_id)) {
                    st = fv__fail(FV_ERR_NOMEM, "out of memory");
                    goto done;
                }
            }
        }
        if ((st = fv_bop_write_scene_gt(join(path, scene, "scene_gt.json"), gts, n)) != FV_OK ||
            (st = fv_bop_write_scene_gt_info(join(path, scene, "scene_gt_info.json"), gts, n)) !=
                FV_OK ||
            (st = fv_bop_write_scene_camera(join(path, scene, "scene_camera.json"), cams, n)) !=
                FV_OK)
            goto done;
    }
done:
    free(gts);
    free(cams);
    return st;
}

static fv_status write_camera_json(const char *path, const double *K, int64_t s)
{
    cJSON *c = cJSON_CreateObject();
    if (!c || !cJSON_AddNumberToObject(c, "cx", K[2]) || !cJSON_AddNumberToObject(c, "cy", K[5]) ||
        !cJSON_AddNumberToObject(c, "depth_scale", 1.0) ||
        !cJSON_AddNumberToObject(c, "fx", K[0]) || !cJSON_AddNumberToObject(c, "fy", K[4]) ||
        !cJSON_AddNumberToObject(c, "height", (double)s) ||
        !cJSON_AddNumberToObject(c, "width", (double)s)) {
        cJSON_Delete(c);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    }
    return fv__write_json(path, c, true);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 ? 0 : 0; /* best effort: go on with the rest */
}

/* Removes a folder tree that this call created (best effort; links are not followed). */
static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

fv_status fv_pose_make_dataset(const char *dir, const fv_pose_data_opts *o)
{
    if (!dir || !*dir) return fv__fail(FV_ERR_INVALID, "make pose: no folder given");
    if (o->size < 16 || o->size > 4096)
        return fv__fail(FV_ERR_INVALID, "make pose: size %lld outside 16..4096",
                        (long long)o->size);
    if (o->n_train < 0 || o->n_test < 0 || o->n_train > 100000000 || o->n_test > 100000000 ||
        o->n_train + o->n_test < 1)
        return fv__fail(FV_ERR_INVALID,
                        "make pose: image counts %lld (train) and %lld (test): expected 0..10^8 "
                        "each, at least one image",
                        (long long)o->n_train, (long long)o->n_test);
    if (o->backgrounds && (o->n_backgrounds < 1 || o->bg_height < 3 || o->bg_width < 3))
        return fv__fail(FV_ERR_INVALID, "make pose: background pictures of %lld × %lld",
                        (long long)o->bg_height, (long long)o->bg_width);
    struct stat sb;
    if (stat(dir, &sb) == 0)
        return fv__fail(FV_ERR_INVALID, "make pose: '%s' exists already; name a new folder", dir);
    if (strlen(dir) > 3000) return fv__fail(FV_ERR_INVALID, "make pose: folder name too long");

    fv_mesh *mesh = NULL;
    fv_pose_model_info info = {0};
    fv_status st;
    const char *object = o->object ? o->object : "tripod";
    size_t ol = strlen(object);
    bool ply = ol > 4 && strcmp(object + ol - 4, ".ply") == 0;
    if (ply) {
        if ((st = fv_mesh_read_ply(object, &mesh)) != FV_OK) return st;
        info.obj_id = 1;
        info.diameter = fv_mesh_diameter(mesh);
        for (int j = 0; j < 3; j++) {
            double lo = INFINITY, hi = -INFINITY;
            for (int64_t i = 0; i < mesh->n_vertices; i++) {
                lo = fmin(lo, mesh->vertices[i * 3 + j]);
                hi = fmax(hi, mesh->vertices[i * 3 + j]);
            }
            info.min[j] = lo, info.size[j] = hi - lo;
        }
        if (!(info.diameter > 0)) {
            fv_mesh_free(mesh);
            return fv__fail(FV_ERR_FORMAT, "%s: the model has no extent (diameter 0)", object);
        }
    } else if ((st = fv_mesh_make(object, &mesh, &info)) != FV_OK) {
        return st;
    }
    const int64_t s = o->size;
    gen G = {.o = o, .mesh = mesh, .info = &info};
    const double f = 1.25 * (double)s, c = ((double)s - 1) / 2;
    const double K[9] = {f, 0, c, 0, f, c, 0, 0, 1};
    memcpy(G.K, K, sizeof K);
    memcpy(G.Kpad, K, sizeof K);
    G.Kpad[2] += (double)s, G.Kpad[5] += (double)s;
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
    bool made = false;
    G.r = fv_renderer_new(3 * s, 3 * s);
    G.pad_rgb = malloc((size_t)(9 * s * s * 3));
    G.pad_mask = malloc((size_t)(9 * s * s));
    G.rgb = malloc((size_t)(s * s * 3));
    G.mask = malloc((size_t)(s * s));
    G.targets = cJSON_CreateArray();
    if (!G.r) {
        char why[512];
        snprintf(why, sizeof why, "%s", fv_last_error());
        st = fv__fail(FV_ERR_STATE, "make pose: %s", why);
        goto done;
    }
    if (!G.pad_rgb || !G.pad_mask || !G.rgb || !G.mask || !G.targets) {
        st = fv__fail(FV_ERR_NOMEM, "make pose: out of memory");
        goto done;
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) { /* the folders above dir, as mkdir -p */
        *slash = '\0';
        if ((st = fv__make_dirs(parent)) != FV_OK) goto done;
    }
    if (mkdir(tmp, 0777) != 0) {
        st = fv__fail(FV_ERR_IO, "%s: cannot create it (%s): %s", dir, tmp, strerror(errno));
        goto done;
    }
    made = true;
    char model[64];
    snprintf(model, sizeof model, "models/obj_%06lld.ply", (long long)info.obj_id);
    if ((st = make_dir(join(path, tmp, "models"))) != FV_OK ||
        (st = fv_mesh_write_ply(mesh, join(path, tmp, model))) != FV_OK ||
        (st = fv_bop_write_models_info(join(path, tmp, "models/models_info.json"), &info, 1)) !=
            FV_OK ||
        (st = write_camera_json(join(path, tmp, "camera.json"), K, s)) != FV_OK ||
        (st = make_split(&G, tmp, "train", o->n_train, 1)) != FV_OK ||
        (st = make_split(&G, tmp, "test", o->n_test, 2)) != FV_OK)
        goto done;
    if (o->n_test > 0) {
        cJSON *targets = G.targets;
        G.targets = NULL; /* consumed */
        if ((st = fv__write_json(join(path, tmp, "test_targets_bop19.json"), targets, true)) !=
            FV_OK)
            goto done;
    }
    int dfd = open(tmp, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || syncfs(dfd) != 0) {
        st = fv__fail(FV_ERR_IO, "make pose: cannot sync %s: %s", tmp, strerror(errno));
        if (dfd >= 0) close(dfd);
        goto done;
    }
    close(dfd);
    if (rename(tmp, dir) != 0) {
        st =
            fv__fail(FV_ERR_IO, "make pose: cannot rename %s to %s: %s", tmp, dir, strerror(errno));
        goto done;
    }
    made = false;
done:
    if (made) remove_tree(tmp);
    cJSON_Delete(G.targets);
    free(G.pad_rgb);
    free(G.pad_mask);
    free(G.rgb);
    free(G.mask);
    fv_renderer_free(G.r);
    fv_mesh_free(mesh);
    fv_pose_model_info_clear(&info);
    return st;
}
