/* test_detection_io.c — the detection readers and writers: COCO's instances and results JSON,
 * YOLO's label files and data.yaml / classes.txt (both of Ultralytics' arrangements), each bad
 * input's message (file and line, or annotation id), generated scenes written in both layouts
 * and read back the same from each.
 */
#include "fovea.h"
#include "io/detection.h"
#include "io/io.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static fv_status coco(const char *text, fv_detset **d)
{
    return fv__coco_parse(text, strlen(text), "i.json", d);
}

static const char VALID[] =
    "{\"images\": [{\"id\": 7, \"file_name\": \"a.png\", \"width\": 100, \"height\": 50},"
    "              {\"id\": 3, \"file_name\": \"b.png\", \"width\": 20, \"height\": 20}],"
    " \"annotations\": ["
    "  {\"id\": 1, \"image_id\": 3, \"category_id\": 5, \"bbox\": [0, 0, 20, 20], \"area\": 300,"
    "   \"iscrowd\": 1},"
    "  {\"id\": 2, \"image_id\": 7, \"category_id\": 2, \"bbox\": [10, 5, 30, 20]},"
    "  {\"id\": 4, \"image_id\": 3, \"category_id\": 2, \"bbox\": [1.5, 2, 3, 4], \"iscrowd\": "
    "false}],"
    " \"categories\": [{\"id\": 5, \"name\": \"cat\"}, {\"id\": 2, \"name\": \"dog\"}]}";

TEST(coco_instances_are_read_grouped_by_image)
{
    fv_detset *d = NULL;
    CHECK_OK(coco(VALID, &d));
    if (!d) return;
    CHECK(d->nimages == 2 && d->nannotations == 3 && d->ncategories == 2);
    CHECK(d->images[0].id == 7 && strcmp(d->images[0].file_name, "a.png") == 0);
    CHECK(d->images[0].first == 0 && d->images[0].count == 1);
    CHECK(d->images[1].first == 1 && d->images[1].count == 2);
    const fv_det_annotation *a = d->annotations;
    CHECK(a[0].id == 2 && a[0].image == 0 && a[0].category == 1 && a[0].area == 600);
    CHECK(!a[0].iscrowd && a[0].bbox[0] == 10 && a[0].bbox[3] == 20);
    CHECK(a[1].id == 1 && a[1].iscrowd && a[1].area == 300 && a[1].category == 0);
    CHECK(a[2].id == 4 && !a[2].iscrowd && a[2].area == 12 && a[2].bbox[0] == 1.5);
    CHECK(strcmp(d->categories[1].name, "dog") == 0 && d->categories[1].id == 2);
    fv_detset_free(d);
}

/* The text with `from` replaced by `to`, parsed: the error must contain want. */
static void check_bad(const char *from, const char *to, const char *want)
{
    const char *at = strstr(VALID, from);
    CHECK(at != NULL);
    if (!at) return;
    char buf[2048];
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - VALID), VALID, to, at + strlen(from));
    fv_detset *d = NULL;
    CHECK(coco(buf, &d) == FV_ERR_FORMAT);
    CHECK(d == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), want);
}

TEST(coco_bad_annotations_are_named_by_id)
{
    check_bad("\"category_id\": 2, \"bbox\": [10", "\"category_id\": 9, \"bbox\": [10",
              "i.json: annotation id 2: category_id 9 is not among the categories");
    check_bad("[10, 5, 30, 20]", "[80, 5, 30, 20]",
              "i.json: annotation id 2: the box [80, 5, 30, 20] reaches outside image id 7 "
              "(100 x 50)");
    check_bad("[10, 5, 30, 20]", "[10, 5, -3, 20]", "i.json: annotation id 2: a negative size");
    check_bad("\"image_id\": 7", "\"image_id\": 8",
              "annotation id 2: image_id 8 is not among the images");
    check_bad("{\"id\": 4,", "{\"id\": 2,", "i.json: annotation id 2 appears twice");
    check_bad("{\"id\": 3, \"file_name\"", "{\"id\": 7, \"file_name\"", "image id 7 appears twice");
    check_bad("[10, 5, 30, 20]", "[10, 5, 30]", "annotation id 2: \"bbox\" must be");
    check_bad("\"iscrowd\": 1", "\"iscrowd\": 2", "annotation id 1: \"iscrowd\" must be 0 or 1");
    check_bad("\"area\": 300", "\"area\": \"x\"", "annotation id 1: \"area\" must be");
    check_bad("\"categories\"", "\"kategories\"", "i.json: no \"categories\" list");
    check_bad("\"width\": 100", "\"width\": 0", "image id 7: \"width\" and \"height\"");
    check_bad("{\"id\": 1, \"image_id\"", "{\"image_id\"", "annotations[0]: no whole-number");
    check_bad("]}", "]", "i.json: not valid JSON");
}

TEST(coco_results_are_read_and_bad_elements_named)
{
    const char ok[] = "[{\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 3, 4], \"score\": "
                      "0.5, \"file_name\": \"x\"}, {\"image_id\": 1, \"category_id\": 3, \"bbox\": "
                      "[0, 0, 0, 0], \"score\": 1}]";
    fv_detection *d = NULL;
    int64_t n = 0;
    CHECK_OK(fv__detections_parse(ok, strlen(ok), "det.json", &d, &n));
    CHECK(n == 2 && d && d[0].category_id == 2 && d[0].bbox[3] == 4 && d[0].score == 0.5);
    free(d);
    const char bad[] = "[{\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 3, 4], \"score\": "
                       "0.5}, {\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 3, 4]}]";
    CHECK(fv__detections_parse(bad, strlen(bad), "det.json", &d, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "det.json: element 1: no finite \"score\"");
    CHECK(fv__detections_parse("{}", 2, "det.json", &d, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "det.json: not a JSON list of detections");
}

static fv_status labels(const char *text, double **b, int64_t **c, int64_t *n)
{
    return fv__yolo_parse_labels(text, strlen(text), "a.txt", 100, 50, 3, b, c, n);
}

TEST(yolo_labels_become_pixel_boxes)
{
    double *b = NULL;
    int64_t *c = NULL, n = 0;
    /* 100 x 50: cx .5 cy .5 w .2 h .4 -> x = 40, y = 15, 20 x 20 */
    CHECK_OK(labels("1 0.5 0.5 0.2 0.4\n\n2 0.05 0.9 0.1 0.2\r\n", &b, &c, &n));
    CHECK(n == 2);
    if (n == 2) {
        CHECK_CLOSE(b[0], 40, 1e-12, 0);
        CHECK_CLOSE(b[1], 15, 1e-12, 0);
        CHECK_CLOSE(b[2], 20, 1e-12, 0);
        CHECK_CLOSE(b[3], 20, 1e-12, 0);
        CHECK(c[0] == 1 && c[1] == 2);
        CHECK_CLOSE(b[4], 0, 1e-12, 0);
        CHECK_CLOSE(b[5], 40, 1e-12, 0);
    }
    free(b), free(c);
    CHECK_OK(labels("", &b, &c, &n));
    CHECK(n == 0);
    free(b), free(c);
}

TEST(yolo_bad_label_lines_are_named)
{
    double *b = NULL;
    int64_t *c = NULL, n = 0;
    CHECK(labels("0 0.5 0.5 0.2 0.4\n1 0.5 0.5 0.2\n", &b, &c, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "a.txt:2: expected 5 fields 'class cx cy w h', found 4");
    CHECK(labels("3 0.5 0.5 0.2 0.4\n", &b, &c, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "a.txt:1: class '3' is not a class number 0..2");
    CHECK(labels("0 0.95 0.5 0.2 0.4\n", &b, &c, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "a.txt:1: the box (cx 0.95, cy 0.5, w 0.2, h 0.4) "
                                        "reaches outside the image");
    CHECK(labels("0 0.5 0.5 -0.2 0.4\n", &b, &c, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "a.txt:1: a negative size");
    CHECK(labels("0 0.5 x 0.2 0.4\n", &b, &c, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "a.txt:1: 'x' is not a number");
    CHECK(labels("0 0.5 0.5 0.2 0.4 0.1 0.1\n", &b, &c, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "found more than 5");
}

static fv_status yaml(const char *text, char ***names, int64_t *n)
{
    return fv__yolo_parse_yaml(text, strlen(text), "data.yaml", names, n);
}

static void free_names(char **names, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

TEST(data_yaml_names_as_a_list_or_a_mapping)
{
    char **names = NULL;
    int64_t n = 0;
    CHECK_OK(yaml("path: .\ntrain: images/train\nnames: [cat, 'dog house', bird]\n", &names, &n));
    CHECK(n == 3 && strcmp(names[1], "dog house") == 0);
    free_names(names, n);
    CHECK_OK(yaml("nc: 2\nnames:\n  1: dog\n  0: cat\n", &names, &n));
    CHECK(n == 2 && strcmp(names[0], "cat") == 0 && strcmp(names[1], "dog") == 0);
    free_names(names, n);
    CHECK(yaml("names:\n  0: cat\n  2: dog\n", &names, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "data.yaml:3: a 'names:' key must be a class number 0..1");
    CHECK(yaml("names:\n  0: cat\n  0: dog\n", &names, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "data.yaml:3: class 0 is named twice");
    CHECK(yaml("train: x\n", &names, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "data.yaml: no 'names:'");
    CHECK(yaml("names: [a, b\n", &names, &n) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "data.yaml:");
}

/* ---- folders ------------------------------------------------------------------------------- */

static char tmp_root[256];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void run(const char *cmd)
{
    CHECK(system(cmd) == 0);
}

/* 8 labelled 28 x 28 sources: a bright rectangle of each class's size on black. */
static fv_dataset *sources(void)
{
    static uint8_t px[8 * 28 * 28];
    int32_t lab[8];
    memset(px, 0, sizeof px);
    for (int i = 0; i < 8; i++) {
        lab[i] = i % 2;
        for (int y = 4; y < 24; y++)
            for (int x = 6 + i; x < 20; x++)
                px[i * 784 + y * 28 + x] = (uint8_t)(150 + 10 * i);
    }
    const int64_t dims[2] = {28, 28};
    return fv_dataset_from_u8(8, 2, dims, px, lab);
}

TEST(scenes_written_in_both_layouts_read_back_the_same)
{
    fv_dataset *src = sources();
    const char *names[2] = {"box", "bar"};
    fv_scene_opts o = fv_scene_defaults();
    o.size = 64, o.max_objects = 4, o.min_object = 16, o.max_object = 40, o.seed = 5;
    fv_detset *made = NULL, *again = NULL, *yolo = NULL, *coco_set = NULL;
    CHECK_OK(fv_detset_make_scenes(src, names, 2, 6, &o, &made));
    CHECK_OK(fv_detset_make_scenes(src, names, 2, 6, &o, &again));
    if (!made || !again) goto done;
    CHECK(made->nannotations >= 6 && made->nannotations == again->nannotations);
    for (int64_t i = 0; i < made->nimages; i++)
        CHECK(memcmp(made->images[i].pixels, again->images[i].pixels, 64 * 64) == 0);
    for (int64_t j = 0; j < made->nannotations; j++) {
        const double *b = made->annotations[j].bbox;
        CHECK(b[0] >= 0 && b[1] >= 0 && b[0] + b[2] <= 64 && b[1] + b[3] <= 64);
        CHECK(b[2] >= 1 && b[3] >= 1 && b[2] <= 40 && b[3] <= 40);
        CHECK(made->annotations[j].area == b[2] * b[3]);
        CHECK(b[0] == floor(b[0]) && b[2] == floor(b[2])); /* whole pixels */
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/scenes", tmp_root);
    CHECK_OK(fv_detset_save(made, dir, "train"));
    CHECK_OK(fv_detset_load_yolo(dir, "train", 1, &yolo));
    char json[600];
    snprintf(json, sizeof json, "%s/annotations/instances_train.json", dir);
    char images[600];
    snprintf(images, sizeof images, "%s/images/train", dir);
    CHECK_OK(fv_detset_load_coco(json, images, 1, &coco_set));
    if (!yolo || !coco_set) goto done;
    CHECK(yolo->nimages == 6 && coco_set->nimages == 6);
    CHECK(yolo->nannotations == made->nannotations);
    CHECK(coco_set->nannotations == made->nannotations);
    CHECK(strcmp(yolo->categories[1].name, "bar") == 0);
    for (int64_t j = 0; j < made->nannotations && j < yolo->nannotations; j++)
        for (int k = 0; k < 4; k++) {
            CHECK(coco_set->annotations[j].bbox[k] == made->annotations[j].bbox[k]);
            CHECK_CLOSE(yolo->annotations[j].bbox[k], made->annotations[j].bbox[k], 1e-4, 0);
        }
    for (int64_t i = 0; i < 6; i++) {
        CHECK(memcmp(yolo->images[i].pixels, made->images[i].pixels, 64 * 64) == 0);
        CHECK(memcmp(coco_set->images[i].pixels, made->images[i].pixels, 64 * 64) == 0);
    }
    /* fv_detset_load takes COCO's layout when there is one, and test falls back to val */
    fv_detset_free(yolo);
    yolo = NULL;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && mv images/train images/val && mv labels/train labels/val && mv "
             "annotations/instances_train.json annotations/instances_val.json",
             dir);
    run(cmd);
    CHECK_OK(fv_detset_load(dir, "test", 0, &yolo));
    CHECK(yolo && yolo->nannotations == made->nannotations && yolo->images[0].pixels == NULL);
done:
    fv_detset_free(made);
    fv_detset_free(again);
    fv_detset_free(yolo);
    fv_detset_free(coco_set);
    fv_dataset_free(src);
}

TEST(yolo_folders_in_either_arrangement_and_their_errors)
{
    char dir[512], cmd[2048], path[700];
    snprintf(dir, sizeof dir, "%s/yolo", tmp_root);
    /* the second arrangement: SPLIT/images + SPLIT/labels, classes.txt */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/train/images %s/train/labels", dir, dir);
    run(cmd);
    uint8_t px[20 * 10 * 3];
    memset(px, 90, sizeof px);
    snprintf(path, sizeof path, "%s/train/images/a.png", dir);
    CHECK_OK(fv__png_write(path, px, 10, 20, 3));
    snprintf(path, sizeof path, "%s/train/images/b.png", dir);
    CHECK_OK(fv__png_write(path, px, 10, 20, 3));
    snprintf(path, sizeof path, "%s/train/labels/a.txt", dir);
    write_text(path, "1 0.5 0.5 0.5 1\n0 0.25 0.25 0.1 0.1\n");
    snprintf(path, sizeof path, "%s/classes.txt", dir);
    write_text(path, "person\ncar\n");
    fv_detset *d = NULL;
    CHECK_OK(fv_detset_load_yolo(dir, "train", 3, &d));
    if (d) {
        CHECK(d->nimages == 2 && d->nannotations == 2 && d->images[1].count == 0);
        CHECK(d->images[0].width == 20 && d->images[0].height == 10 && d->channels == 3);
        CHECK(d->annotations[0].bbox[0] == 5 && d->annotations[0].bbox[2] == 10);
        CHECK(d->annotations[0].bbox[3] == 10 && d->annotations[0].category == 1);
        CHECK(strcmp(d->categories[0].name, "person") == 0 && d->images[1].id == 2);
    }
    fv_detset_free(d);
    d = NULL;
    /* a label file without an image */
    snprintf(path, sizeof path, "%s/train/labels/c.txt", dir);
    write_text(path, "0 0.5 0.5 0.1 0.1\n");
    CHECK(fv_detset_load_yolo(dir, "train", 0, &d) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "train/labels/c.txt: a label file without an image");
    unlink(path);
    /* a bad line names the file and line */
    snprintf(path, sizeof path, "%s/train/labels/b.txt", dir);
    write_text(path, "0 0.5 0.5 0.1 0.1\n5 0.5 0.5 0.1 0.1\n");
    CHECK(fv_detset_load_yolo(dir, "train", 0, &d) == FV_ERR_FORMAT);
    CHECK_STR_CONTAINS(fv_last_error(), "train/labels/b.txt:2: class '5' is not a class number");
    unlink(path);
    /* no names */
    snprintf(path, sizeof path, "%s/classes.txt", dir);
    unlink(path);
    CHECK(fv_detset_load_yolo(dir, "train", 0, &d) == FV_ERR_IO);
    CHECK_STR_CONTAINS(fv_last_error(), "no data.yaml or classes.txt");
    CHECK(fv_detset_load(dir, "test", 0, &d) == FV_ERR_IO);
    CHECK_STR_CONTAINS(fv_last_error(), "no test part");
    CHECK(d == NULL);
}

/* More boxes than max_boxes are refused with the boxes a model would train on: crowd regions and
 * boxes outside the image are not counted. */
TEST(too_many_boxes_are_counted_as_trained_on)
{
    uint8_t pixels[8 * 8] = {0};
    fv_det_image im = {.id = 1,
                       .file_name = "a.png",
                       .width = 8,
                       .height = 8,
                       .first = 0,
                       .count = 5,
                       .pixels = pixels};
    fv_det_annotation an[5] = {
        {.id = 1, .bbox = {0, 0, 2, 2}},
        {.id = 2, .bbox = {4, 4, 2, 2}},
        {.id = 3, .bbox = {0, 0, 8, 8}, .iscrowd = true},
        {.id = 4, .bbox = {1, 1, 3, 3}, .iscrowd = true},
        {.id = 5, .bbox = {8, 8, 1, 1}}, /* nothing of it inside the image */
    };
    fv_det_category cat = {.id = 0, .name = "a"};
    fv_detset d = {.channels = 1,
                   .nimages = 1,
                   .nannotations = 5,
                   .ncategories = 1,
                   .images = &im,
                   .annotations = an,
                   .categories = &cat};
    fv_dataset *out = NULL;
    CHECK(fv_detset_to_dataset(&d, 8, 8, 1, "det", &out) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "a.png: 2 boxes, more than the head's max_boxes=1");
    CHECK_OK(fv_detset_to_dataset(&d, 8, 8, 2, "det", &out));
    fv_dataset_free(out);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/fovea_detection_io.%ld", (long)getpid());
    mkdir(tmp_root, 0777);
    RUN(coco_instances_are_read_grouped_by_image);
    RUN(coco_bad_annotations_are_named_by_id);
    RUN(coco_results_are_read_and_bad_elements_named);
    RUN(yolo_labels_become_pixel_boxes);
    RUN(yolo_bad_label_lines_are_named);
    RUN(data_yaml_names_as_a_list_or_a_mapping);
    RUN(scenes_written_in_both_layouts_read_back_the_same);
    RUN(yolo_folders_in_either_arrangement_and_their_errors);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    RUN(too_many_boxes_are_counted_as_trained_on);
    return TEST_SUMMARY();
}
