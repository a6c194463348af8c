/* vision.h — the detection module's own parts shared between its files: the accumulated COCO
 * evaluation (read by the PR-curve picture in src/viz) and the detection set's building helpers
 * (used by the readers and the scene generator). Nothing here is public.
 */
#ifndef FV_VISION_H
#define FV_VISION_H

#include "core/core.h"

#define FV__COCO_T 10  /* IoU thresholds .50:.05:.95 */
#define FV__COCO_R 101 /* recall points 0:.01:1 */
#define FV__COCO_A 4   /* area ranges all, small, medium, large */
#define FV__COCO_M 3   /* maxDets 1, 10, 100 */

struct fv_coco_eval {
    int64_t K;         /* categories with their names, in gt order */
    char **names;      /* [K] */
    int64_t *ids;      /* [K] */
    double *precision; /* [T][R][K][A][M], −1 undefined */
    double *recall;    /* [T][K][A][M] */
    double *voc_ap;    /* [K] */
    double stats[12];
};

/* precision[t][r][k][a][m] and recall[t][k][a][m] offsets */
static inline int64_t fv__coco_pidx(int64_t K, int t, int r, int64_t k, int a, int m)
{
    return ((((int64_t)t * FV__COCO_R + r) * K + k) * FV__COCO_A + a) * FV__COCO_M + m;
}
static inline int64_t fv__coco_ridx(int64_t K, int t, int64_t k, int a, int m)
{
    return (((int64_t)t * K + k) * FV__COCO_A + a) * FV__COCO_M + m;
}

/* An empty set with room for nimages images, nann annotations and ncat categories (each array
 * calloc'd; counts set). NULL on failure (message set). */
fv_detset *fv__detset_new(int64_t nimages, int64_t nann, int64_t ncat);

#endif
