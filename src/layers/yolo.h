/* yolo.h — the detection head's configuration and geometry, shared by the yolo layer kind
 * (yolo.c), the model's detection decoding and the tests.
 */
#ifndef FV_YOLO_H
#define FV_YOLO_H

#include "layers/layer.h"

/* The yolo layer's arguments. Anchors are (width, height) pairs in grid cells of the head's own
 * grid (Darknet's [region] convention), so the head needs no image size. */
typedef struct fv__yolo_cfg {
    int64_t classes;
    fv_floats anchors;
    int64_t max_boxes;      /* targets per image: 1 + 5·max_boxes floats */
    double box, obj, cls;   /* the loss's gains (YOLOv5's hyp.scratch: 0.05, 1.0, 0.5) */
    double anchor_t;        /* a box matches an anchor when no side ratio reaches this (4.0) */
    int iou_loss;           /* 0: CIoU, 1: GIoU */
    int64_t neighbor_cells; /* 0: the centre cell only (Darknet); 2: and two neighbours (YOLOv5) */
} fv__yolo_cfg;

/* Anchors of a yolo layer. */
int64_t fv__yolo_anchors(const fv_layer *l);

/* The box of one prediction p[0..4) (raw tx, ty, tw, th) in the cell (row, col) with anchor
 * (aw, ah), in grid cells: centre (2σ(tx) − 0.5 + col, 2σ(ty) − 0.5 + row), size
 * ((2σ(tw))²·aw, (2σ(th))²·ah) — YOLOv5's decoding, bounded to 4× the anchor. box = cx, cy, w, h.
 */
void fv__yolo_decode_box(const float *p, int64_t row, int64_t col, double aw, double ah,
                         double box[4]);

/* CIoU (Zheng et al., AAAI 2020: IoU − ρ²/c² − α·v, α held constant as YOLOv5 computes it) or,
 * with giou, GIoU (Rezatofighi et al., CVPR 2019: IoU − (C − U)/C) of boxes p and g given as
 * (cx, cy, w, h) with w, h > 0; d (may be NULL) receives its gradient with respect to p. */
double fv__box_ciou(const double p[4], const double g[4], bool giou, double d[4]);

/* Assigns one image's boxes (ti: count, then rows of class, cx, cy, w, h normalised to the image)
 * to the head's slots ((row·cols + col)·anchors + anchor): a box goes to the cell holding its
 * centre, at every anchor whose side ratios stay below anchor_t and at least at the best one;
 * with neighbor_cells=2 also to the same anchors of the horizontal and the vertical neighbour
 * nearest its centre (YOLOv5's build_targets, offset 0.5: the left cell when the centre lies in
 * the left half of its cell and more than one cell from the image's left edge, the right cell
 * when in the right half and more than one cell from the right edge; alike for rows); a slot two
 * boxes want goes to the smaller box. owner[slot] receives the box index or −1. Returns the
 * slots assigned. */
int64_t fv__yolo_assign(const fv_layer *head, const float *ti, int32_t *owner);

#endif
