/* fuzz_yolo.c — libFuzzer target for YOLO's text readers: the bytes parsed as a label file for a
 * 64 × 48 image of 5 classes (fv__yolo_parse_labels: every box must land inside the image) and
 * as a data.yaml (fv__yolo_parse_yaml: every class named, once).
 */
#include "fuzz_common.h"
#include "io/detection.h"

static const char ORIGIN[] = "fuzz.txt";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    double *boxes = NULL;
    int64_t *classes = NULL, n = 0;
    if (fv__yolo_parse_labels((const char *)data, size, ORIGIN, 64, 48, 5, &boxes, &classes, &n) ==
        FV_OK) {
        for (int64_t i = 0; i < n; i++) {
            const double *b = boxes + 4 * i;
            FUZZ_CHECK(classes[i] >= 0 && classes[i] < 5);
            FUZZ_CHECK(b[0] >= 0 && b[1] >= 0 && b[2] >= 0 && b[3] >= 0);
            FUZZ_CHECK(b[0] + b[2] <= 64 + 1e-9 && b[1] + b[3] <= 48 + 1e-9);
        }
    } else {
        FUZZ_CHECK(boxes == NULL && classes == NULL);
        FUZZ_CHECK_ERROR(ORIGIN);
    }
    free(boxes);
    free(classes);
    char **names = NULL;
    if (fv__yolo_parse_yaml((const char *)data, size, ORIGIN, &names, &n) == FV_OK) {
        FUZZ_CHECK(n >= 1);
        for (int64_t i = 0; i < n; i++) {
            FUZZ_CHECK(names[i] && names[i][0]);
            free(names[i]);
        }
        free(names);
    } else {
        FUZZ_CHECK(names == NULL);
        FUZZ_CHECK_ERROR(ORIGIN);
    }
    return 0;
}
