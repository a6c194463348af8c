/* detection.h — the detection readers' parse-from-memory entry points (for tests and fuzzing):
 * COCO's instances JSON, COCO's results JSON, a YOLO label file and a data.yaml.
 */
#ifndef FV_IO_DETECTION_H
#define FV_IO_DETECTION_H

#include "core/core.h"

/* COCO's instances JSON in text[0..len) (origin names it in messages); no pixels are read. */
fv_status fv__coco_parse(const char *text, size_t len, const char *origin, fv_detset **out);

/* COCO's results JSON. *dets malloc'd. */
fv_status fv__detections_parse(const char *text, size_t len, const char *origin,
                               fv_detection **dets, int64_t *n);

/* One YOLO label file for an image of width × height pixels and nclasses classes: boxes into
 * *boxes (malloc'd, [n] of xywh pixels, class in *classes (malloc'd)). */
fv_status fv__yolo_parse_labels(const char *text, size_t len, const char *origin, int64_t width,
                                int64_t height, int64_t nclasses, double **boxes, int64_t **classes,
                                int64_t *n);

/* The class names of a data.yaml (`names:` a list, or a mapping of numbers 0..n-1 to names):
 * *names malloc'd (each malloc'd). */
fv_status fv__yolo_parse_yaml(const char *text, size_t len, const char *origin, char ***names,
                              int64_t *n);

/* An 8-bit PNG of h × w × c pixels (c 1: grey, 3: RGB), written atomically with libpng. */
fv_status fv__png_write(const char *path, const uint8_t *px, int64_t h, int64_t w, int c);

#endif
