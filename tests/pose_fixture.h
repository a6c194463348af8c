/* pose_fixture.h — reads a JSON fixture of the 6D pose tests (tests/fixtures/pose/NAME), from
 * tests/ (as CTest runs them) or from the repository's root. NULL when not found or not JSON.
 */
#ifndef FV_POSE_FIXTURE_H
#define FV_POSE_FIXTURE_H

#include "fovea.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline cJSON *pose_fixture(const char *name)
{
    const char *dirs[] = {"fixtures/pose", "tests/fixtures/pose"};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
        fclose(f);
        if (!buf) return NULL;
        buf[got] = '\0';
        cJSON *j = cJSON_Parse(buf);
        free(buf);
        return j;
    }
    return NULL;
}

/* Reads o's array `key` into out[0..n): false when it is not an array of n values. */
static inline bool pose_fixture_doubles(const cJSON *o, const char *key, double *out, int64_t n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return false;
    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) out[i++] = e->valuedouble;
    return true;
}

/* Renders a test split of n images of size × size pixels (seed) into dir with
 * fv_pose_make_dataset and reads it back: its samples (fv_bop_samples, object 1) and scene 0's
 * ground truth with its boxes (scene_gt.json, scene_gt_info.json). Returns 0; 1 when OSMesa
 * cannot render (the caller skips, fv_last_error says why); -1 on another failure, *what naming
 * the step. */
static inline int pose_render_split(const char *dir, int64_t n, int64_t size, uint64_t seed,
                                    fv_pose_sample **s, int64_t *ns, fv_bop_gt **gt, int64_t *ng,
                                    const char **what)
{
    fv_pose_data_opts o = fv_pose_data_defaults();
    o.n_train = 0, o.n_test = n, o.size = size, o.seed = seed;
    *s = NULL, *gt = NULL, *ns = *ng = 0;
    if (fv_pose_make_dataset(dir, &o) != FV_OK) {
        *what = "fv_pose_make_dataset";
        return strstr(fv_last_error(), "OSMesa") ? 1 : -1;
    }
    char path[512];
    *what = "fv_bop_samples";
    if (fv_bop_samples(dir, "test", 1, s, ns) != FV_OK) return -1;
    snprintf(path, sizeof path, "%s/test/000000/scene_gt.json", dir);
    *what = "fv_bop_read_scene_gt";
    if (fv_bop_read_scene_gt(path, gt, ng) != FV_OK) return -1;
    snprintf(path, sizeof path, "%s/test/000000/scene_gt_info.json", dir);
    *what = "fv_bop_read_scene_gt_info";
    return fv_bop_read_scene_gt_info(path, *gt, *ng) == FV_OK ? 0 : -1;
}

#endif
