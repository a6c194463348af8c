/* pose_eval.c — scores pose estimates against a BOP dataset's ground truth: ADD(-S) at 10 % of the
 * diameter, BOP's MSSD and MSPD recalls, rotation and translation errors, 5°/5 cm and 2-D
 * projection accuracy (fovea evaluate --poses).
 */
#include "io/io.h"
#include "vision/pose_internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SYM_DISC_STEP 0.01 /* BOP's eval_bop19_pose.py */

/* One object's model and what scoring it needs. */
typedef struct object {
    const fv_pose_model_info *info;
    fv_mesh *mesh;
    fv_pose_symmetry *syms;
    int64_t nsyms;
} object;

typedef struct target {
    int64_t scene_id, im_id, obj_id;
    fv_pose gt;
    double K[9];
    const fv_bop_result *est; /* the best-scored estimate, or NULL */
} target;

static int cmp_target(const void *a, const void *b)
{
    const target *x = a, *y = b;
    if (x->scene_id != y->scene_id) return x->scene_id < y->scene_id ? -1 : 1;
    if (x->im_id != y->im_id) return x->im_id < y->im_id ? -1 : 1;
    return (x->obj_id > y->obj_id) - (x->obj_id < y->obj_id);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The image width from dir/camera.json ("width", a whole number > 0). */
static fv_status read_width(const char *dir, int64_t *width)
{
    char path[4096];
    fv_status st = fv__path(path, "%s/camera.json", dir);
    if (st != FV_OK) return st;
    uint8_t *buf = NULL;
    size_t len = 0;
    if ((st = fv__read_file(path, 1 << 20, false, &buf, &len)) != FV_OK) return st;
    char *z = realloc(buf, len + 1);
    if (!z) {
        free(buf);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    }
    z[len] = '\0';
    cJSON *root = memchr(z, '\0', len) ? NULL : fv__json_parse(z);
    free(z);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "width");
    double v = cJSON_IsNumber(w) ? w->valuedouble : -1;
    cJSON_Delete(root);
    if (!(v >= 1 && v <= 1e6) || v != floor(v))
        return fv__fail(FV_ERR_FORMAT, "%s: \"width\": expected the image width in pixels", path);
    *width = (int64_t)v;
    return FV_OK;
}

/* The scene folders of dir/split (names of digits), sorted; *names malloc'd. */
static fv_status list_scenes(const char *root, char ***names, int64_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(root);
    if (!d) return fv__fail(FV_ERR_IO, "%s: cannot open the folder: %s", root, strerror(errno));
    char **out = NULL;
    int64_t count = 0, cap = 0;
    fv_status st = FV_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l == 0 || l > 12 || strspn(e->d_name, "0123456789") != l) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(out, (size_t)cap * sizeof *p);
            if (!p) {
                st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", root);
                break;
            }
            out = p;
        }
        if (!(out[count] = fv__strdup(e->d_name))) {
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", root);
            break;
        }
        count++;
    }
    closedir(d);
    if (st == FV_OK && count == 0)
        st = fv__fail(FV_ERR_FORMAT, "%s: no scene folders (000000, 000001, ...)", root);
    if (st != FV_OK) {
        for (int64_t i = 0; i < count; i++)
            free(out[i]);
        free(out);
        return st;
    }
    qsort(out, (size_t)count, sizeof *out, cmp_name);
    *names = out;
    *n = count;
    return FV_OK;
}

/* Appends one scene's targets (the most visible instance of each object in each image). */
static fv_status scene_targets(const char *scene_dir, int64_t scene_id, target **t, int64_t *nt,
                               int64_t *cap)
{
    char path[4096];
    fv_bop_gt *gt = NULL;
    fv_bop_camera *cams = NULL;
    int64_t ng = 0, nc = 0;
    fv_status st;
    if ((st = fv__path(path, "%s/scene_gt.json", scene_dir)) != FV_OK ||
        (st = fv_bop_read_scene_gt(path, &gt, &ng)) != FV_OK ||
        (st = fv__path(path, "%s/scene_gt_info.json", scene_dir)) != FV_OK ||
        (st = fv_bop_read_scene_gt_info(path, gt, ng)) != FV_OK ||
        (st = fv__path(path, "%s/scene_camera.json", scene_dir)) != FV_OK ||
        (st = fv_bop_read_scene_camera(path, &cams, &nc)) != FV_OK)
        goto done;
    for (int64_t i = 0; i < ng; i++) {
        /* the first instance of this object in this image, or the more visible */
        bool best = true;
        for (int64_t j = 0; j < ng && best; j++)
            if (j != i && gt[j].im_id == gt[i].im_id && gt[j].obj_id == gt[i].obj_id &&
                (gt[j].visib_fract > gt[i].visib_fract ||
                 (gt[j].visib_fract == gt[i].visib_fract && j < i)))
                best = false;
        if (!best) continue;
        fv_bop_camera key = {.im_id = gt[i].im_id};
        const fv_bop_camera *c = NULL;
        for (int64_t k = 0; k < nc && !c; k++)
            if (cams[k].im_id == key.im_id) c = &cams[k];
        if (!c) {
            st = fv__fail(FV_ERR_FORMAT, "%s: \"%lld\": missing; scene_gt.json has this image",
                          path, (long long)gt[i].im_id);
            goto done;
        }
        if (*nt == *cap) {
            int64_t want = *cap ? *cap * 2 : 1024;
            target *p = realloc(*t, (size_t)want * sizeof *p);
            if (!p) {
                st = fv__fail(FV_ERR_NOMEM, "out of memory for %lld targets", (long long)want);
                goto done;
            }
            *t = p;
            *cap = want;
        }
        target *x = &(*t)[(*nt)++];
        x->scene_id = scene_id;
        x->im_id = gt[i].im_id;
        x->obj_id = gt[i].obj_id;
        x->gt = gt[i].pose;
        memcpy(x->K, c->K, sizeof x->K);
        x->est = NULL;
    }
done:
    free(gt);
    free(cams);
    return st;
}

/* min over syms of the mean projected distance (proj with P_gt·S). */
static double proj_sym(const object *o, const double *K, const fv_pose *est, const fv_pose *gt)
{
    double best = INFINITY;
    for (int64_t s = 0; s < o->nsyms; s++) {
        fv_pose g;
        const fv_pose_symmetry *S = &o->syms[s];
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++)
                g.R[i * 3 + j] = gt->R[i * 3] * S->R[j] + gt->R[i * 3 + 1] * S->R[3 + j] +
                                 gt->R[i * 3 + 2] * S->R[6 + j];
            g.t[i] = gt->R[i * 3] * S->t[0] + gt->R[i * 3 + 1] * S->t[1] +
                     gt->R[i * 3 + 2] * S->t[2] + gt->t[i];
        }
        double e = fv_pose_proj(o->mesh->vertices, o->mesh->n_vertices, K, est, &g);
        if (e < best) best = e;
    }
    return best;
}

static fv_status load_object(const char *dir, const fv_pose_model_info *infos, int64_t ninfo,
                             int64_t obj_id, object *o)
{
    char path[4096];
    memset(o, 0, sizeof *o);
    for (int64_t i = 0; i < ninfo; i++)
        if (infos[i].obj_id == obj_id) o->info = &infos[i];
    if (!o->info)
        return fv__fail(FV_ERR_FORMAT, "%s/models/models_info.json: no entry for obj_id %lld", dir,
                        (long long)obj_id);
    fv_status st = fv__path(path, "%s/models/obj_%06lld.ply", dir, (long long)obj_id);
    if (st == FV_OK) st = fv_mesh_read_ply(path, &o->mesh);
    if (st != FV_OK) return st;
    return fv_pose_symmetries(o->info, MAX_SYM_DISC_STEP, &o->syms, &o->nsyms);
}

fv_status fv_pose_evaluate(const char *dir, const char *split, const fv_bop_result *r, int64_t n,
                           fv_pose_scores *out)
{
    memset(out, 0, sizeof *out);
    if (!split) split = "test";
    char path[4096], root[4096];
    fv_pose_model_info *infos = NULL;
    int64_t ninfo = 0, nscenes = 0, nt = 0, cap = 0, nobj = 0;
    char **scenes = NULL;
    target *t = NULL;
    object *objs = NULL;
    fv_status st;
    if ((st = read_width(dir, &out->image_width)) != FV_OK) goto done;
    if ((st = fv__path(path, "%s/models/models_info.json", dir)) != FV_OK ||
        (st = fv_bop_read_models_info(path, &infos, &ninfo)) != FV_OK ||
        (st = fv__path(root, "%s/%s", dir, split)) != FV_OK ||
        (st = list_scenes(root, &scenes, &nscenes)) != FV_OK)
        goto done;
    for (int64_t s = 0; s < nscenes; s++) {
        if ((st = fv__path(path, "%s/%s", root, scenes[s])) != FV_OK ||
            (st = scene_targets(path, strtoll(scenes[s], NULL, 10), &t, &nt, &cap)) != FV_OK)
            goto done;
    }
    qsort(t, (size_t)nt, sizeof *t, cmp_target);
    /* each estimate to its target; the highest score wins */
    for (int64_t i = 0; i < n; i++) {
        target key = {.scene_id = r[i].scene_id, .im_id = r[i].im_id, .obj_id = r[i].obj_id};
        target *x = nt ? bsearch(&key, t, (size_t)nt, sizeof *t, cmp_target) : NULL;
        if (!x) {
            out->unmatched++;
            continue;
        }
        if (!x->est || r[i].score > x->est->score) x->est = &r[i];
    }
    /* the objects scored, each loaded once */
    objs = calloc((size_t)(ninfo > 0 ? ninfo : 1), sizeof *objs);
    if (!objs) {
        st = fv__fail(FV_ERR_NOMEM, "out of memory");
        goto done;
    }
    double sum_add = 0, sum_re = 0, sum_te = 0;
    int64_t add_ok = 0, rt_ok = 0, proj_ok = 0, mssd_ok[10] = {0}, mspd_ok[10] = {0};
    const double px_scale = 640.0 / (double)out->image_width;
    for (int64_t i = 0; i < nt; i++) {
        object *o = NULL;
        for (int64_t k = 0; k < nobj && !o; k++)
            if (objs[k].info->obj_id == t[i].obj_id) o = &objs[k];
        if (!o) {
            if (nobj >= ninfo) {
                st = fv__fail(FV_ERR_FORMAT, "%s/models/models_info.json: no entry for obj_id %lld",
                              dir, (long long)t[i].obj_id);
                goto done;
            }
            o = &objs[nobj++];
            if ((st = load_object(dir, infos, ninfo, t[i].obj_id, o)) != FV_OK) goto done;
        }
        out->targets++;
        const bool sym = fv_pose_model_symmetric(o->info);
        out->symmetric += sym;
        if (!t[i].est) continue;
        out->estimated++;
        const fv_pose *est = &t[i].est->pose, *gt = &t[i].gt;
        const float *pts = o->mesh->vertices;
        const int64_t np = o->mesh->n_vertices;
        const double d = o->info->diameter;
        double add = sym ? fv_pose_adds(pts, np, est, gt) : fv_pose_add(pts, np, est, gt);
        double re = fv_rotation_error_sym(est->R, gt->R, o->info);
        double te = fv_translation_error(est->t, gt->t);
        double mssd = fv_pose_mssd(pts, np, est, gt, o->syms, o->nsyms) / d;
        double mspd = fv_pose_mspd(pts, np, t[i].K, est, gt, o->syms, o->nsyms) * px_scale;
        double proj = sym ? proj_sym(o, t[i].K, est, gt) : fv_pose_proj(pts, np, t[i].K, est, gt);
        sum_add += add, sum_re += re, sum_te += te;
        add_ok += add < 0.1 * d;
        rt_ok += re < 5.0 && te < 50.0;
        proj_ok += proj < 5.0;
        for (int k = 0; k < 10; k++) {
            mssd_ok[k] += mssd < 0.05 * (k + 1);
            mspd_ok[k] += mspd < 5.0 * (k + 1);
        }
    }
    if (out->targets == 0) {
        st = fv__fail(FV_ERR_FORMAT, "%s: no object instances in any scene_gt.json", root);
        goto done;
    }
    const double T = (double)out->targets, E = (double)out->estimated;
    out->add_accuracy = (double)add_ok / T;
    out->acc_5deg_5cm = (double)rt_ok / T;
    out->proj_accuracy_5px = (double)proj_ok / T;
    out->add_mean = E > 0 ? sum_add / E : NAN;
    out->rotation_error_mean = E > 0 ? sum_re / E : NAN;
    out->translation_error_mean = E > 0 ? sum_te / E : NAN;
    for (int k = 0; k < 10; k++) {
        out->mssd_recalls[k] = (double)mssd_ok[k] / T;
        out->mspd_recalls[k] = (double)mspd_ok[k] / T;
        out->mssd_recall += out->mssd_recalls[k] / 10;
        out->mspd_recall += out->mspd_recalls[k] / 10;
    }
done:
    for (int64_t k = 0; k < nobj; k++) {
        fv_mesh_free(objs[k].mesh);
        free(objs[k].syms);
    }
    free(objs);
    free(t);
    for (int64_t s = 0; s < nscenes; s++)
        free(scenes[s]);
    free(scenes);
    fv_bop_free_models_info(infos, ninfo);
    if (st != FV_OK) {
        int64_t w = out->image_width;
        memset(out, 0, sizeof *out);
        out->image_width = w;
    }
    return st;
}
