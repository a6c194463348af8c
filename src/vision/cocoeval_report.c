/* cocoeval_report.c — the figures of a COCO evaluation: accessors, summarize()'s twelve lines as
 * pycocotools prints them, the per-category table, and the same as JSON (cJSON).
 */
#include "vision/vision.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void fv_coco_eval_stats(const fv_coco_eval *e, double stats[12])
{
    memcpy(stats, e->stats, sizeof e->stats);
}

int64_t fv_coco_eval_categories(const fv_coco_eval *e)
{
    return e ? e->K : 0;
}

const char *fv_coco_eval_category(const fv_coco_eval *e, int64_t k, int64_t *id)
{
    if (!e || k < 0 || k >= e->K) return NULL;
    if (id) *id = e->ids[k];
    return e->names[k];
}

double fv_coco_eval_precision(const fv_coco_eval *e, int t, int r, int64_t k, int a, int m)
{
    if (t < 0 || t >= FV__COCO_T || r < 0 || r >= FV__COCO_R || k < 0 || k >= e->K || a < 0 ||
        a >= FV__COCO_A || m < 0 || m >= FV__COCO_M)
        return NAN;
    return e->precision[fv__coco_pidx(e->K, t, r, k, a, m)];
}

double fv_coco_eval_recall(const fv_coco_eval *e, int t, int64_t k, int a, int m)
{
    if (t < 0 || t >= FV__COCO_T || k < 0 || k >= e->K || a < 0 || a >= FV__COCO_A || m < 0 ||
        m >= FV__COCO_M)
        return NAN;
    return e->recall[fv__coco_ridx(e->K, t, k, a, m)];
}

double fv_coco_eval_class_ap(const fv_coco_eval *e, int64_t k, double iou)
{
    if (k < 0 || k >= e->K) return NAN;
    int t0 = 0, t1 = FV__COCO_T - 1;
    if (iou >= 0) {
        /* .50, .55, ... .95: the threshold index, when iou is one of them */
        double f = (iou - 0.5) / 0.05;
        int t = (int)lround(f);
        if (!(fabs(f - t) < 1e-6) || t < 0 || t >= FV__COCO_T) return NAN;
        t0 = t1 = t;
    }
    double sum = 0;
    int64_t n = 0;
    for (int t = t0; t <= t1; t++)
        for (int r = 0; r < FV__COCO_R; r++) {
            double v = e->precision[fv__coco_pidx(e->K, t, r, k, 0, FV__COCO_M - 1)];
            if (v > -1) sum += v, n++;
        }
    return n ? sum / (double)n : -1;
}

double fv_coco_eval_voc_ap(const fv_coco_eval *e, int64_t k)
{
    if (k >= e->K) return NAN;
    if (k >= 0) return e->voc_ap[k];
    double sum = 0;
    int64_t n = 0;
    for (int64_t q = 0; q < e->K; q++)
        if (e->voc_ap[q] > -1) sum += e->voc_ap[q], n++;
    return n ? sum / (double)n : -1;
}

/* summarize()'s line: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}' */
static int line(FILE *out, bool ap, const char *iou, const char *area, int maxdets, double v)
{
    return fprintf(out, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                   ap ? "Average Precision" : "Average Recall", ap ? "(AP)" : "(AR)", iou, area,
                   maxdets, v);
}

static int name_width(const fv_coco_eval *e)
{
    int w = 8; /* "category" */
    for (int64_t k = 0; k < e->K; k++) {
        int n = (int)strlen(e->names[k]);
        if (n > w) w = n < 40 ? n : 40;
    }
    return w;
}

fv_status fv_coco_eval_write_text(const fv_coco_eval *e, FILE *out, bool voc, bool only_voc)
{
    const double *s = e->stats;
    bool ok = true;
    int nw = name_width(e);
    if (!only_voc) {
        const char *all = "0.50:0.95";
        ok = ok && line(out, true, all, "all", 100, s[0]) > 0;
        ok = ok && line(out, true, "0.50", "all", 100, s[1]) > 0;
        ok = ok && line(out, true, "0.75", "all", 100, s[2]) > 0;
        ok = ok && line(out, true, all, "small", 100, s[3]) > 0;
        ok = ok && line(out, true, all, "medium", 100, s[4]) > 0;
        ok = ok && line(out, true, all, "large", 100, s[5]) > 0;
        ok = ok && line(out, false, all, "all", 1, s[6]) > 0;
        ok = ok && line(out, false, all, "all", 10, s[7]) > 0;
        ok = ok && line(out, false, all, "all", 100, s[8]) > 0;
        ok = ok && line(out, false, all, "small", 100, s[9]) > 0;
        ok = ok && line(out, false, all, "medium", 100, s[10]) > 0;
        ok = ok && line(out, false, all, "large", 100, s[11]) > 0;
        ok = ok && fprintf(out, "\n%-*s  %8s  %8s  %8s%s\n", nw, "category", "AP", "AP50", "AP75",
                           voc ? "  VOC AP50" : "") > 0;
        for (int64_t k = 0; k < e->K && ok; k++) {
            ok = fprintf(out, "%-*.*s  %8.3f  %8.3f  %8.3f", nw, nw, e->names[k],
                         fv_coco_eval_class_ap(e, k, -1), fv_coco_eval_class_ap(e, k, 0.5),
                         fv_coco_eval_class_ap(e, k, 0.75)) > 0;
            if (ok && voc) ok = fprintf(out, "  %8.3f", e->voc_ap[k]) > 0;
            ok = ok && fputc('\n', out) != EOF;
        }
    } else {
        ok = fprintf(out, "%-*s  %8s\n", nw, "category", "VOC AP50") > 0;
        for (int64_t k = 0; k < e->K && ok; k++)
            ok = fprintf(out, "%-*.*s  %8.3f\n", nw, nw, e->names[k], e->voc_ap[k]) > 0;
    }
    if (ok && (voc || only_voc))
        ok = fprintf(out, "%smAP50 (VOC, all-point interpolation) = %0.3f\n", only_voc ? "" : "\n",
                     fv_coco_eval_voc_ap(e, -1)) > 0;
    if (!ok || ferror(out)) return fv__fail(FV_ERR_IO, "coco eval: writing the figures failed");
    return FV_OK;
}

static const char *const STAT_NAMES[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                           "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

fv_status fv_coco_eval_write_json(const fv_coco_eval *e, FILE *out)
{
    cJSON *root = cJSON_CreateObject(), *stats = cJSON_CreateObject(), *per = cJSON_CreateArray();
    bool ok = root && stats && per;
    if (ok) {
        cJSON_AddItemToObject(root, "stats", stats);
        cJSON_AddItemToObject(root, "per_class", per);
        stats = per = NULL;
    }
    for (int i = 0; ok && i < 12; i++)
        ok = cJSON_AddNumberToObject(cJSON_GetObjectItem(root, "stats"), STAT_NAMES[i],
                                     e->stats[i]) != NULL;
    for (int64_t k = 0; ok && k < e->K; k++) {
        cJSON *c = cJSON_CreateObject();
        ok = c && cJSON_AddItemToArray(cJSON_GetObjectItem(root, "per_class"), c);
        ok = ok && cJSON_AddNumberToObject(c, "id", (double)e->ids[k]);
        ok = ok && cJSON_AddStringToObject(c, "name", e->names[k]);
        ok = ok && cJSON_AddNumberToObject(c, "AP", fv_coco_eval_class_ap(e, k, -1));
        ok = ok && cJSON_AddNumberToObject(c, "AP50", fv_coco_eval_class_ap(e, k, 0.5));
        ok = ok && cJSON_AddNumberToObject(c, "AP75", fv_coco_eval_class_ap(e, k, 0.75));
        ok = ok && cJSON_AddNumberToObject(c, "voc_AP50", e->voc_ap[k]);
    }
    ok = ok && cJSON_AddNumberToObject(root, "voc_mAP50", fv_coco_eval_voc_ap(e, -1));
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    cJSON_Delete(stats);
    cJSON_Delete(per);
    if (!text) return fv__fail(FV_ERR_NOMEM, "coco eval: out of memory for the JSON");
    ok = fputs(text, out) != EOF && fputc('\n', out) != EOF && !ferror(out);
    free(text);
    return ok ? FV_OK : fv__fail(FV_ERR_IO, "coco eval: writing the JSON failed");
}
