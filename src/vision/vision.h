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

/* A score and the position it came from. Sorted with fv__cmp_scored: decreasing score, then
 * increasing position, the order a stable sort by score gives (pycocotools' mergesort). */
typedef struct fv__scored {
    double score;
    int64_t index;
} fv__scored;
int fv__cmp_scored(const void *a, const void *b);

/* maskApi.c's bbIou for boxes (x, y, w, h): the IoU of a detection d and a ground truth g, or for
 * a crowd region g the intersection over d's area (COCO's). 0 when they do not overlap. */
double fv__coco_box_iou(const double d[4], const double g[4], bool crowd);

/* An id and where it is. A table sorted with fv__cmp_id_pos (id, then position) finds an id by
 * binary search: fv__find_slot gives its entry's place in the table, fv__find_id its position
 * (the entry's pos); -1 when absent. */
typedef struct fv__id_pos {
    int64_t id, pos;
} fv__id_pos;
int fv__cmp_id_pos(const void *a, const void *b);
int64_t fv__find_slot(const fv__id_pos *t, int64_t n, int64_t id);
int64_t fv__find_id(const fv__id_pos *t, int64_t n, int64_t id);

/* An empty set with room for nimages images, nann annotations and ncat categories (each array
 * calloc'd; counts set). NULL on failure (message set). */
fv_detset *fv__detset_new(int64_t nimages, int64_t nann, int64_t ncat);

#endif
