/* cocoeval.c — COCO's box evaluation as pycocotools' COCOeval runs it (evaluate: per image and
 * category, greedy matching at ten IoU thresholds over three area ranges; accumulate: precision
 * at 101 recall points per category, area and maxDets; summarize: the twelve figures), and VOC's
 * AP50 with all-point interpolation. The algorithm is read from pycocotools' cocoeval.py and
 * maskApi.c (bbIou); the code is fovea's own.
 */
#include "vision/vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double AREA_LO[FV__COCO_A] = {0, 0, 32 * 32, 96 * 96};
static const double AREA_HI[FV__COCO_A] = {1e10, 32 * 32, 96 * 96, 1e10};
static const int MAX_DETS[FV__COCO_M] = {1, 10, 100};
#define EPS 2.220446049250313e-16 /* np.spacing(1) */

/* np.linspace(.5, .95, 10) and np.linspace(0, 1, 101): i·step + start, the last one exact. */
static double iou_thr(int t)
{
    return t == FV__COCO_T - 1 ? 0.95 : (double)t * ((0.95 - 0.5) / 9) + 0.5;
}
static double rec_thr(int r)
{
    return r == FV__COCO_R - 1 ? 1.0 : (double)r * (1.0 / 100);
}

double fv__coco_box_iou(const double d[4], const double g[4], bool crowd)
{
    double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
    if (w <= 0) return 0;
    double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
    if (h <= 0) return 0;
    double i = w * h, da = d[2] * d[3], ga = g[2] * g[3];
    return i / (crowd ? da : da + ga - i);
}

/* One (category, area, image) of evaluate(): the kept detections' scores and, per threshold,
 * whether each is matched (to a ground truth of non-zero id) and whether it is ignored. */
typedef struct eval_img {
    int64_t nd, npig;
    double *score;    /* [nd] */
    uint8_t *matched; /* [T][nd] */
    uint8_t *ignored; /* [T][nd] */
} eval_img;

typedef struct work {
    const fv_detset *gt;
    const fv_detection *dets;
    int64_t I, K;
    fv__id_pos *imgs, *cats;     /* sorted by id: pos = index in gt's arrays */
    int64_t *gt_start, *gt_list; /* CSR over (i, k): annotation indices in file order */
    int64_t *dt_start, *dt_list; /* detection indices in input order */
    eval_img **evals;            /* [K][A][I] */
} work;

static void free_work(work *w)
{
    free(w->imgs);
    free(w->cats);
    free(w->gt_start);
    free(w->gt_list);
    free(w->dt_start);
    free(w->dt_list);
    if (w->evals)
        for (int64_t i = 0; i < w->K * FV__COCO_A * w->I; i++)
            free(w->evals[i]);
    free(w->evals);
}

static void *xcalloc(int64_t n, size_t each, const char *what)
{
    if (n < 0 || (each && (uint64_t)n > SIZE_MAX / each)) {
        fv__fail(FV_ERR_NOMEM, "coco eval: %s: size overflows", what);
        return NULL;
    }
    void *p = calloc(n ? (size_t)n : 1, each);
    if (!p) fv__fail(FV_ERR_NOMEM, "coco eval: out of memory for %s", what);
    return p;
}

/* Sorted id tables of the images and categories; the (image, category) buckets of ground truths
 * and detections. */
static fv_status index_sets(work *w)
{
    const fv_detset *gt = w->gt;
    w->I = gt->nimages, w->K = gt->ncategories;
    int64_t cells;
    if (!fv__mul_i64(w->I, w->K, &cells) || cells > INT64_MAX - 1)
        return fv__fail(FV_ERR_NOMEM, "coco eval: too many images × categories");
    w->imgs = xcalloc(w->I, sizeof *w->imgs, "images");
    w->cats = xcalloc(w->K, sizeof *w->cats, "categories");
    w->gt_start = xcalloc(cells + 1, sizeof(int64_t), "ground truth index");
    w->dt_start = xcalloc(cells + 1, sizeof(int64_t), "detection index");
    w->gt_list = xcalloc(gt->nannotations, sizeof(int64_t), "ground truth index");
    if (!w->imgs || !w->cats || !w->gt_start || !w->dt_start || !w->gt_list) return FV_ERR_NOMEM;
    for (int64_t i = 0; i < w->I; i++)
        w->imgs[i] = (fv__id_pos){gt->images[i].id, i};
    for (int64_t k = 0; k < w->K; k++)
        w->cats[k] = (fv__id_pos){gt->categories[k].id, k};
    qsort(w->imgs, (size_t)w->I, sizeof *w->imgs, fv__cmp_id_pos);
    qsort(w->cats, (size_t)w->K, sizeof *w->cats, fv__cmp_id_pos);
    for (int64_t i = 1; i < w->I; i++)
        if (w->imgs[i].id == w->imgs[i - 1].id)
            return fv__fail(FV_ERR_INVALID, "coco eval: image id %lld appears twice",
                            (long long)w->imgs[i].id);
    for (int64_t k = 1; k < w->K; k++)
        if (w->cats[k].id == w->cats[k - 1].id)
            return fv__fail(FV_ERR_INVALID, "coco eval: category id %lld appears twice",
                            (long long)w->cats[k].id);
    /* sorted position of each image and category index */
    int64_t *img_rank = xcalloc(w->I, sizeof(int64_t), "images");
    int64_t *cat_rank = xcalloc(w->K, sizeof(int64_t), "categories");
    int64_t *cell_of = xcalloc(w->gt->nannotations, sizeof(int64_t), "annotations");
    fv_status st = FV_ERR_NOMEM;
    if (!img_rank || !cat_rank || !cell_of) goto done;
    for (int64_t i = 0; i < w->I; i++)
        img_rank[w->imgs[i].pos] = i;
    for (int64_t k = 0; k < w->K; k++)
        cat_rank[w->cats[k].pos] = k;
    /* Ground truths in annotation order: grouped by image, file order within it. */
    for (int64_t j = 0; j < gt->nannotations; j++) {
        const fv_det_annotation *a = &gt->annotations[j];
        if (a->image < 0 || a->image >= w->I || a->category < 0 || a->category >= w->K) {
            st = fv__fail(FV_ERR_INVALID,
                          "coco eval: annotation id %lld names image or category index out "
                          "of range",
                          (long long)a->id);
            goto done;
        }
        cell_of[j] = img_rank[a->image] * w->K + cat_rank[a->category];
        w->gt_start[cell_of[j] + 1]++;
    }
    for (int64_t c = 0; c < cells; c++)
        w->gt_start[c + 1] += w->gt_start[c];
    {
        int64_t *fill = xcalloc(cells, sizeof(int64_t), "ground truth index");
        if (!fill) goto done;
        for (int64_t j = 0; j < gt->nannotations; j++)
            w->gt_list[w->gt_start[cell_of[j]] + fill[cell_of[j]]++] = j;
        free(fill);
    }
    st = FV_OK;
done:
    free(img_rank);
    free(cat_rank);
    free(cell_of);
    return st;
}

/* Detections into their (image, category) cells; an image the ground truth lacks is an error,
 * a category it lacks is left out (pycocotools loads only the ground truth's categories). */
static fv_status index_dets(work *w, int64_t n)
{
    int64_t cells = w->I * w->K;
    int64_t *cell_of = xcalloc(n, sizeof(int64_t), "detections");
    w->dt_list = xcalloc(n, sizeof(int64_t), "detections");
    if (!cell_of || !w->dt_list) {
        free(cell_of);
        return FV_ERR_NOMEM;
    }
    for (int64_t j = 0; j < n; j++) {
        const fv_detection *d = &w->dets[j];
        if (isnan(d->score) || !isfinite(d->bbox[0]) || !isfinite(d->bbox[1]) ||
            !isfinite(d->bbox[2]) || !isfinite(d->bbox[3])) {
            free(cell_of);
            return fv__fail(FV_ERR_INVALID, "coco eval: detection %lld has a NaN or infinite value",
                            (long long)j);
        }
        int64_t i = fv__find_slot(w->imgs, w->I, d->image_id);
        if (i < 0) {
            free(cell_of);
            return fv__fail(FV_ERR_INVALID,
                            "coco eval: detection %lld is on image id %lld, which the ground "
                            "truth does not have",
                            (long long)j, (long long)d->image_id);
        }
        int64_t k = fv__find_slot(w->cats, w->K, d->category_id);
        cell_of[j] = k < 0 ? -1 : i * w->K + k;
        if (k >= 0) w->dt_start[cell_of[j] + 1]++;
    }
    for (int64_t c = 0; c < cells; c++)
        w->dt_start[c + 1] += w->dt_start[c];
    int64_t *fill = xcalloc(cells, sizeof(int64_t), "detection index");
    if (!fill) {
        free(cell_of);
        return FV_ERR_NOMEM;
    }
    for (int64_t j = 0; j < n; j++)
        if (cell_of[j] >= 0) w->dt_list[w->dt_start[cell_of[j]] + fill[cell_of[j]]++] = j;
    free(fill);
    free(cell_of);
    return FV_OK;
}

/* evaluateImg for every area range of one (image i, category k) cell. */
static fv_status evaluate_cell(work *w, int64_t i, int64_t k)
{
    int64_t cell = i * w->K + k;
    int64_t G = w->gt_start[cell + 1] - w->gt_start[cell];
    int64_t D0 = w->dt_start[cell + 1] - w->dt_start[cell];
    if (G == 0 && D0 == 0) return FV_OK;
    const int64_t *gts = w->gt_list + w->gt_start[cell];
    const int64_t *dts = w->dt_list + w->dt_start[cell];
    const int64_t maxdet = MAX_DETS[FV__COCO_M - 1];
    int64_t D = D0 < maxdet ? D0 : maxdet;
    fv_status st = FV_ERR_NOMEM;
    fv__scored *order = xcalloc(D0, sizeof *order, "detections");
    double *ious = xcalloc(D * G, sizeof(double), "IoUs");
    int64_t *gorder = xcalloc(G, sizeof(int64_t), "ground truths");
    uint8_t *gt_ig = xcalloc(G, 1, "ground truths");
    uint8_t *gtm = xcalloc(G, 1, "ground truths");
    if (!order || !ious || !gorder || !gt_ig || !gtm) goto done;
    for (int64_t d = 0; d < D0; d++)
        order[d] = (fv__scored){w->dets[dts[d]].score, d};
    qsort(order, (size_t)D0, sizeof *order, fv__cmp_scored);
    for (int64_t d = 0; d < D; d++)
        for (int64_t g = 0; g < G; g++) {
            const fv_det_annotation *a = &w->gt->annotations[gts[g]];
            ious[d * G + g] =
                fv__coco_box_iou(w->dets[dts[order[d].index]].bbox, a->bbox, a->iscrowd);
        }
    for (int a = 0; a < FV__COCO_A; a++) {
        /* ground truths, the ignored last (a stable sort) */
        int64_t npig = 0, ng = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int64_t g = 0; g < G; g++) {
                const fv_det_annotation *an = &w->gt->annotations[gts[g]];
                bool ig = an->iscrowd || an->area < AREA_LO[a] || an->area > AREA_HI[a];
                if (ig != (pass == 1)) continue;
                gorder[ng] = g;
                gt_ig[ng++] = ig;
                npig += !ig;
            }
        size_t bytes = sizeof(eval_img) + (size_t)D * sizeof(double) + 2 * (size_t)(FV__COCO_T * D);
        eval_img *e = calloc(1, bytes);
        if (!e) {
            fv__fail(FV_ERR_NOMEM, "coco eval: out of memory");
            goto done;
        }
        e->nd = D, e->npig = npig;
        e->score = (double *)(e + 1);
        e->matched = (uint8_t *)(e->score + D);
        e->ignored = e->matched + FV__COCO_T * D;
        for (int64_t d = 0; d < D; d++)
            e->score[d] = order[d].score;
        for (int t = 0; t < FV__COCO_T; t++) {
            memset(gtm, 0, (size_t)G);
            for (int64_t d = 0; d < D; d++) {
                double best = fmin(iou_thr(t), 1 - 1e-10);
                int64_t m = -1;
                for (int64_t g = 0; g < G; g++) {
                    bool crowd = w->gt->annotations[gts[gorder[g]]].iscrowd;
                    if (gtm[g] && !crowd) continue;
                    if (m > -1 && !gt_ig[m] && gt_ig[g]) break;
                    double v = ious[d * G + gorder[g]];
                    if (v < best) continue;
                    best = v, m = g;
                }
                if (m == -1) continue;
                e->ignored[t * D + d] = gt_ig[m];
                e->matched[t * D + d] = w->gt->annotations[gts[gorder[m]]].id != 0;
                gtm[m] = 1;
            }
        }
        /* unmatched detections outside the area range are ignored */
        for (int64_t d = 0; d < D; d++) {
            const double *bb = w->dets[dts[order[d].index]].bbox;
            double area = bb[2] * bb[3];
            if (area < AREA_LO[a] || area > AREA_HI[a])
                for (int t = 0; t < FV__COCO_T; t++)
                    if (!e->matched[t * D + d]) e->ignored[t * D + d] = 1;
        }
        w->evals[(k * FV__COCO_A + a) * w->I + i] = e;
    }
    st = FV_OK;
done:
    free(order);
    free(ious);
    free(gorder);
    free(gt_ig);
    free(gtm);
    return st;
}

/* accumulate() for one category, area range and maxDets. */
static fv_status accumulate_one(const work *w, fv_coco_eval *ev, int64_t k, int a, int m)
{
    const int64_t maxdet = MAX_DETS[m];
    int64_t nd = 0, npig = 0, nE = 0;
    for (int64_t i = 0; i < w->I; i++) {
        const eval_img *e = w->evals[(k * FV__COCO_A + a) * w->I + i];
        if (!e) continue;
        nE++;
        nd += e->nd < maxdet ? e->nd : maxdet;
        npig += e->npig;
    }
    if (nE == 0 || npig == 0) return FV_OK;
    fv__scored *order = xcalloc(nd, sizeof *order, "detections");
    const eval_img **src = xcalloc(nd, sizeof *src, "detections");
    int64_t *src_d = xcalloc(nd, sizeof(int64_t), "detections");
    double *tp = xcalloc(nd, sizeof(double), "detections");
    double *fp = xcalloc(nd, sizeof(double), "detections");
    double *pr = xcalloc(nd, sizeof(double), "detections");
    fv_status st = FV_ERR_NOMEM;
    if (!order || !src || !src_d || !tp || !fp || !pr) goto done;
    int64_t j = 0;
    for (int64_t i = 0; i < w->I; i++) {
        const eval_img *e = w->evals[(k * FV__COCO_A + a) * w->I + i];
        if (!e) continue;
        for (int64_t d = 0; d < e->nd && d < maxdet; d++, j++) {
            order[j] = (fv__scored){e->score[d], j};
            src[j] = e, src_d[j] = d;
        }
    }
    qsort(order, (size_t)nd, sizeof *order, fv__cmp_scored);
    for (int t = 0; t < FV__COCO_T; t++) {
        double tps = 0, fps = 0;
        for (int64_t q = 0; q < nd; q++) {
            const eval_img *e = src[order[q].index];
            int64_t d = src_d[order[q].index];
            bool mt = e->matched[t * e->nd + d], ig = e->ignored[t * e->nd + d];
            tps += mt && !ig;
            fps += !mt && !ig;
            tp[q] = tps, fp[q] = fps;
        }
        double *rcl = fp; /* reuse: fp[q] is read before rcl[q] is written */
        for (int64_t q = 0; q < nd; q++) {
            pr[q] = tp[q] / (fp[q] + tp[q] + EPS);
            rcl[q] = tp[q] / (double)npig;
        }
        ev->recall[fv__coco_ridx(ev->K, t, k, a, m)] = nd ? rcl[nd - 1] : 0;
        for (int64_t q = nd - 1; q > 0; q--)
            if (pr[q] > pr[q - 1]) pr[q - 1] = pr[q];
        int64_t pi = 0;
        for (int r = 0; r < FV__COCO_R; r++) {
            double thr = rec_thr(r);
            while (pi < nd && rcl[pi] < thr) /* searchsorted(side='left') */
                pi++;
            ev->precision[fv__coco_pidx(ev->K, t, r, k, a, m)] = pi < nd ? pr[pi] : 0;
        }
    }
    st = FV_OK;
done:
    free(order);
    free(src);
    free(src_d);
    free(tp);
    free(fp);
    free(pr);
    return st;
}

/* VOC's AP50 of category k (sorted position) over every detection, at output position kout. */
typedef struct voc_item {
    double score;
    int64_t det, cell;
} voc_item;

static int cmp_voc(const void *pa, const void *pb)
{
    const voc_item *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->det > b->det) - (a->det < b->det);
}

static fv_status voc_one(const work *w, fv_coco_eval *ev, int64_t k, int64_t kout)
{
    int64_t n = 0, npos = 0;
    for (int64_t i = 0; i < w->I; i++) {
        int64_t c = i * w->K + k;
        n += w->dt_start[c + 1] - w->dt_start[c];
        for (int64_t g = w->gt_start[c]; g < w->gt_start[c + 1]; g++)
            npos += !w->gt->annotations[w->gt_list[g]].iscrowd;
    }
    ev->voc_ap[kout] = -1;
    if (npos == 0) return FV_OK;
    voc_item *items = xcalloc(n, sizeof *items, "detections");
    uint8_t *taken = xcalloc(w->gt->nannotations, 1, "ground truths");
    double *mrec = xcalloc(n + 2, sizeof(double), "detections");
    double *mpre = xcalloc(n + 2, sizeof(double), "detections");
    fv_status st = FV_ERR_NOMEM;
    if (!items || !taken || !mrec || !mpre) goto done;
    int64_t j = 0;
    for (int64_t i = 0; i < w->I; i++) {
        int64_t c = i * w->K + k;
        for (int64_t d = w->dt_start[c]; d < w->dt_start[c + 1]; d++)
            items[j++] = (voc_item){w->dets[w->dt_list[d]].score, w->dt_list[d], c};
    }
    qsort(items, (size_t)n, sizeof *items, cmp_voc);
    double tp = 0, fp = 0;
    for (int64_t q = 0; q < n; q++) {
        const fv_detection *d = &w->dets[items[q].det];
        double db[4], best = -INFINITY;
        fv_box_xywh_to_xyxy(d->bbox, db);
        int64_t jmax = -1;
        for (int64_t g = w->gt_start[items[q].cell]; g < w->gt_start[items[q].cell + 1]; g++) {
            double gb[4];
            fv_box_xywh_to_xyxy(w->gt->annotations[w->gt_list[g]].bbox, gb);
            double v = fv_box_iou(db, gb);
            if (v > best) best = v, jmax = w->gt_list[g];
        }
        if (jmax >= 0 && best > 0.5) {
            if (!w->gt->annotations[jmax].iscrowd) {
                if (!taken[jmax])
                    tp++, taken[jmax] = 1;
                else
                    fp++;
            }
        } else {
            fp++;
        }
        mrec[q + 1] = tp / (double)npos;
        mpre[q + 1] = tp / fmax(tp + fp, 2.220446049250313e-16);
    }
    mrec[0] = 0, mpre[0] = 0, mrec[n + 1] = 1, mpre[n + 1] = 0;
    for (int64_t q = n; q >= 0; q--)
        mpre[q] = fmax(mpre[q], mpre[q + 1]);
    double ap = 0;
    for (int64_t q = 0; q <= n; q++)
        if (mrec[q + 1] != mrec[q]) ap += (mrec[q + 1] - mrec[q]) * mpre[q + 1];
    ev->voc_ap[kout] = ap;
    st = FV_OK;
done:
    free(items);
    free(taken);
    free(mrec);
    free(mpre);
    return st;
}

/* summarize()'s mean of the entries that are not -1 over the IoU thresholds t0..t1, all
 * categories, area a and maxDets m. */
static double mean_defined(const fv_coco_eval *e, bool ap, int t0, int t1, int a, int m)
{
    double sum = 0;
    int64_t n = 0;
    for (int t = t0; t <= t1; t++)
        for (int64_t k = 0; k < e->K; k++) {
            if (ap) {
                for (int r = 0; r < FV__COCO_R; r++) {
                    double v = e->precision[fv__coco_pidx(e->K, t, r, k, a, m)];
                    if (v > -1) sum += v, n++;
                }
            } else {
                double v = e->recall[fv__coco_ridx(e->K, t, k, a, m)];
                if (v > -1) sum += v, n++;
            }
        }
    return n ? sum / (double)n : -1;
}

static void summarize(fv_coco_eval *e)
{
    const int T = FV__COCO_T - 1;
    e->stats[0] = mean_defined(e, true, 0, T, 0, 2);
    e->stats[1] = mean_defined(e, true, 0, 0, 0, 2);
    e->stats[2] = mean_defined(e, true, 5, 5, 0, 2);
    e->stats[3] = mean_defined(e, true, 0, T, 1, 2);
    e->stats[4] = mean_defined(e, true, 0, T, 2, 2);
    e->stats[5] = mean_defined(e, true, 0, T, 3, 2);
    e->stats[6] = mean_defined(e, false, 0, T, 0, 0);
    e->stats[7] = mean_defined(e, false, 0, T, 0, 1);
    e->stats[8] = mean_defined(e, false, 0, T, 0, 2);
    e->stats[9] = mean_defined(e, false, 0, T, 1, 2);
    e->stats[10] = mean_defined(e, false, 0, T, 2, 2);
    e->stats[11] = mean_defined(e, false, 0, T, 3, 2);
}

void fv_coco_eval_free(fv_coco_eval *e)
{
    if (!e) return;
    if (e->names)
        for (int64_t k = 0; k < e->K; k++)
            free(e->names[k]);
    free(e->names);
    free(e->ids);
    free(e->precision);
    free(e->recall);
    free(e->voc_ap);
    free(e);
}

fv_coco_eval *fv_coco_evaluate(const fv_detset *gt, const fv_detection *dets, int64_t n)
{
    if (!gt || n < 0 || (n > 0 && !dets)) {
        fv__fail(FV_ERR_INVALID, "coco eval: no ground truth, or a negative detection count");
        return NULL;
    }
    work w = {.gt = gt, .dets = dets};
    fv_coco_eval *ev = calloc(1, sizeof *ev);
    if (!ev) {
        fv__fail(FV_ERR_NOMEM, "coco eval: out of memory");
        return NULL;
    }
    if (index_sets(&w) != FV_OK || index_dets(&w, n) != FV_OK) goto fail;
    const int64_t K = w.K;
    ev->K = K;
    int64_t np = (int64_t)FV__COCO_T * FV__COCO_R * FV__COCO_A * FV__COCO_M;
    if (K > 0 && np > INT64_MAX / K) {
        fv__fail(FV_ERR_NOMEM, "coco eval: too many categories");
        goto fail;
    }
    ev->precision = xcalloc(np * K, sizeof(double), "precision");
    ev->recall =
        xcalloc((int64_t)FV__COCO_T * FV__COCO_A * FV__COCO_M * K, sizeof(double), "recall");
    ev->voc_ap = xcalloc(K, sizeof(double), "VOC AP");
    ev->names = xcalloc(K, sizeof(char *), "names");
    ev->ids = xcalloc(K, sizeof(int64_t), "names");
    w.evals = xcalloc(K * FV__COCO_A * w.I, sizeof(eval_img *), "evaluation");
    if (!ev->precision || !ev->recall || !ev->voc_ap || !ev->names || !ev->ids || !w.evals)
        goto fail;
    for (int64_t q = 0; q < np * K; q++)
        ev->precision[q] = -1;
    for (int64_t q = 0; q < (int64_t)FV__COCO_T * FV__COCO_A * FV__COCO_M * K; q++)
        ev->recall[q] = -1;
    for (int64_t k = 0; k < K; k++) {
        const fv_det_category *c = &gt->categories[w.cats[k].pos];
        ev->ids[k] = c->id;
        ev->names[k] = fv__strdup(c->name ? c->name : "");
        if (!ev->names[k]) goto fail;
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t i = 0; i < w.I; i++)
            if (evaluate_cell(&w, i, k) != FV_OK) goto fail;
    for (int64_t k = 0; k < K; k++) {
        for (int a = 0; a < FV__COCO_A; a++)
            for (int m = 0; m < FV__COCO_M; m++)
                if (accumulate_one(&w, ev, k, a, m) != FV_OK) goto fail;
        if (voc_one(&w, ev, k, k) != FV_OK) goto fail;
    }
    summarize(ev);
    free_work(&w);
    return ev;
fail:
    free_work(&w);
    fv_coco_eval_free(ev);
    return NULL;
}
