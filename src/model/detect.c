/* detect.c — detection with a model whose output is a yolo head: the head's grid decoded into
 * boxes (YOLOv5's decoding, score = objectness × class probability), class-wise non-maximum
 * suppression, and the boxes mapped from the model's input back to each original image.
 */
#include "io/dataset.h"
#include "layers/yolo.h"
#include "model/model_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

fv_detect_opts fv_detect_defaults(void)
{
    return (fv_detect_opts){.score_threshold = 0.25,
                            .iou_threshold = 0.45,
                            .max_detections = 100,
                            .multi_label = false};
}

/* The model's yolo head, or NULL with the error set. */
static const fv_layer *yolo_head(const fv_model *m)
{
    const int node = m->nlayers ? fv__model_output_node(m) : -1;
    if (node >= 0 && m->layers[node].kind == &fv__kind_yolo) return &m->layers[node];
    return (void)fv__fail(FV_ERR_INVALID,
                          "the model's output is not a yolo detection head (its last layer is "
                          "%s): detection needs one",
                          node >= 0 ? m->layers[node].kind->name : "its input"),
           NULL;
}

int64_t fv_model_detector_max_boxes(const fv_model *m)
{
    const int node = m && m->nlayers ? fv__model_output_node(m) : -1;
    if (node < 0 || m->layers[node].kind != &fv__kind_yolo) return 0;
    return ((const fv__yolo_cfg *)m->layers[node].cfg)->max_boxes;
}

int64_t fv_model_detector_classes(const fv_model *m)
{
    const int node = m && m->nlayers ? fv__model_output_node(m) : -1;
    if (node < 0 || m->layers[node].kind != &fv__kind_yolo) return 0;
    return ((const fv__yolo_cfg *)m->layers[node].cfg)->classes;
}

static double sigmoid(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* A growing array of candidates for one image. */
typedef struct cands {
    double *box; /* xyxy in input pixels, 4 each */
    double *score;
    int64_t *cls;
    int64_t n, cap;
} cands;

static bool cands_push(cands *c, const double xyxy[4], double score, int64_t cls)
{
    if (c->n == c->cap) {
        const int64_t cap = c->cap ? 2 * c->cap : 256;
        double *b = realloc(c->box, (size_t)cap * 4 * sizeof(double));
        if (b) c->box = b;
        double *s = b ? realloc(c->score, (size_t)cap * sizeof(double)) : NULL;
        if (s) c->score = s;
        int64_t *k = s ? realloc(c->cls, (size_t)cap * sizeof(int64_t)) : NULL;
        if (!k) return false;
        c->cls = k, c->cap = cap;
    }
    memcpy(c->box + 4 * c->n, xyxy, 4 * sizeof(double));
    c->score[c->n] = score, c->cls[c->n++] = cls;
    return true;
}

/* One image's candidates from the head's output y [H × W × A·(5 + C)]. */
static bool decode(const fv_layer *head, const float *y, int64_t in_h, int64_t in_w,
                   const fv_detect_opts *o, cands *c)
{
    const fv__yolo_cfg *cfg = head->cfg;
    const int64_t H = head->out.d[0], W = head->out.d[1], A = fv__yolo_anchors(head);
    const int64_t C = cfg->classes, K = 5 + C;
    const double sx = (double)in_w / (double)W, sy = (double)in_h / (double)H;
    c->n = 0;
    for (int64_t s = 0; s < H * W * A; s++) {
        const float *p = y + s * K;
        const double obj = sigmoid(p[4]);
        if (obj < o->score_threshold) continue; /* score = obj · class ≤ obj */
        const int64_t a = s % A, row = s / A / W, col = s / A % W;
        double b[4];
        fv__yolo_decode_box(p, row, col, cfg->anchors.v[2 * a], cfg->anchors.v[2 * a + 1], b);
        const double xyxy[4] = {(b[0] - b[2] / 2) * sx, (b[1] - b[3] / 2) * sy,
                                (b[0] + b[2] / 2) * sx, (b[1] + b[3] / 2) * sy};
        int64_t best = 0;
        for (int64_t k = 1; k < C; k++)
            if (p[5 + k] > p[5 + best]) best = k;
        for (int64_t k = 0; k < C; k++) {
            if (!o->multi_label && k != best) continue;
            const double score = obj * sigmoid(p[5 + k]);
            if (score < o->score_threshold) continue;
            if (!cands_push(c, xyxy, score, k)) return false;
        }
    }
    return true;
}

fv_status fv_model_detect(fv_model *m, const fv_dataset *images, const fv_letterbox *lb,
                          const fv_detect_opts *opts, fv_detection **dets, int64_t *count)
{
    if (!m || !images || !dets || !count)
        return fv__fail(FV_ERR_INVALID, "fv_model_detect: NULL argument");
    *dets = NULL, *count = 0;
    const fv_layer *head = yolo_head(m);
    if (!head) return FV_ERR_INVALID;
    const fv_detect_opts o = opts ? *opts : fv_detect_defaults();
    if (!(o.score_threshold >= 0 && o.score_threshold <= 1) ||
        !(o.iou_threshold >= 0 && o.iou_threshold <= 1) || o.max_detections < 1)
        return fv__fail(FV_ERR_INVALID,
                        "detect: score and IoU thresholds must be in [0, 1] and max_detections "
                        "at least 1 (got %g, %g, %lld)",
                        o.score_threshold, o.iou_threshold, (long long)o.max_detections);
    const int64_t n = fv_dataset_count(images), size = fv__shape_size(&head->out);
    const int64_t in_h = m->input.d[0], in_w = m->input.d[1];
    const int64_t chunk = 64;
    float *y = malloc((size_t)(chunk * size) * sizeof(float));
    int64_t *keep = malloc((size_t)o.max_detections * sizeof(int64_t));
    fv_detection *out = NULL;
    int64_t nout = 0, cap = 0;
    cands c = {0};
    fv_status s = y && keep ? FV_OK : fv__fail(FV_ERR_NOMEM, "out of memory detecting");
    for (int64_t first = 0; s == FV_OK && first < n; first += chunk) {
        const int64_t nb = n - first < chunk ? n - first : chunk;
        fv_dataset *part = fv__dataset_slice(images, first, nb);
        s = part ? fv_model_predict(m, part, nb, y) : FV_ERR_NOMEM;
        fv_dataset_free(part);
        for (int64_t i = 0; s == FV_OK && i < nb; i++) {
            if (!decode(head, y + i * size, in_h, in_w, &o, &c)) {
                s = fv__fail(FV_ERR_NOMEM, "out of memory decoding detections");
                break;
            }
            int64_t nk = 0;
            s = fv_nms(c.box, c.score, c.cls, c.n, o.iou_threshold, o.max_detections, keep, &nk);
            if (s == FV_OK && nout + nk > cap) {
                const int64_t ncap = (nout + nk) * 2 + 64;
                fv_detection *g = realloc(out, (size_t)ncap * sizeof *g);
                if (!g)
                    s = fv__fail(FV_ERR_NOMEM, "out of memory for detections");
                else
                    out = g, cap = ncap;
            }
            for (int64_t k = 0; s == FV_OK && k < nk; k++) {
                double b[4];
                memcpy(b, c.box + 4 * keep[k], sizeof b);
                if (lb) fv_letterbox_to_image(&lb[first + i], b, 1);
                fv_detection *d = &out[nout++];
                d->image_id = first + i;
                d->category_id = c.cls[keep[k]];
                fv_box_xyxy_to_xywh(b, d->bbox);
                d->score = c.score[keep[k]];
            }
        }
    }
    free(y), free(keep), free(c.box), free(c.score), free(c.cls);
    if (s != FV_OK) {
        free(out);
        return s;
    }
    *dets = out, *count = nout;
    return FV_OK;
}
