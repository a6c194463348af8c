/* yolo.c — YOLO's detection layout (Ultralytics' two arrangements: images/SPLIT + labels/SPLIT, or
 * SPLIT/images + SPLIT/labels; class names from data.yaml, read with libyaml, or classes.txt),
 * read into a detection set, and the choice between YOLO's and COCO's layout for a folder.
 * Label files are text read through fv__text (line numbers in every message).
 */
#include "io/detection.h"
#include "io/io.h"
#include "vision/vision.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_TEXT_BYTES ((size_t)256 << 20)
#define COORD_SLACK    1e-6 /* normalised coordinates may pass 0 or 1 by this much (rounding) */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
    if (!p) fv__fail(FV_ERR_NOMEM, "out of memory");
    return p;
}

/* ---- label files --------------------------------------------------------------------------- */

/* Parses a whole number token; false if it is not one. */
static bool parse_class(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno) return false;
    *v = x;
    return true;
}

fv_status fv__yolo_parse_labels(const char *text, size_t len, const char *origin, int64_t width,
                                int64_t height, int64_t nclasses, double **boxes, int64_t **classes,
                                int64_t *n)
{
    *boxes = NULL, *classes = NULL, *n = 0;
    fv_text t;
    fv_status st = fv__text_init(&t, text, len, origin);
    if (st != FV_OK) {
        fv__text_free(&t);
        return st;
    }
    int64_t cap = 0, count = 0;
    double *b = NULL;
    int64_t *c = NULL;
    const char *line;
    size_t ll;
    while (fv__text_line(&t, &line, &ll)) {
        char buf[512];
        if (ll >= sizeof buf) {
            st = fv__fail(FV_ERR_FORMAT, "%s:%lld: a line of %zu bytes; expected 'class cx cy w h'",
                          origin, (long long)t.line, ll);
            goto fail;
        }
        memcpy(buf, line, ll);
        buf[ll] = '\0';
        char *tok[6], *save = NULL;
        int nt = 0;
        for (char *p = strtok_r(buf, " \t", &save); p && nt < 6; p = strtok_r(NULL, " \t", &save))
            tok[nt++] = p;
        if (nt == 0) continue;
        if (nt != 5) {
            st = fv__fail(FV_ERR_FORMAT, "%s:%lld: expected 5 fields 'class cx cy w h', found %s%d",
                          origin, (long long)t.line, nt == 6 ? "more than " : "", nt == 6 ? 5 : nt);
            goto fail;
        }
        int64_t cls;
        if (!parse_class(tok[0], &cls) || cls < 0 || cls >= nclasses) {
            st = fv__fail(FV_ERR_FORMAT, "%s:%lld: class '%s' is not a class number 0..%lld",
                          origin, (long long)t.line, tok[0], (long long)nclasses - 1);
            goto fail;
        }
        double v[4];
        for (int k = 0; k < 4; k++) {
            char *end;
            v[k] = strtod(tok[k + 1], &end);
            if (end == tok[k + 1] || *end || !isfinite(v[k])) {
                st = fv__fail(FV_ERR_FORMAT, "%s:%lld: '%s' is not a number", origin,
                              (long long)t.line, tok[k + 1]);
                goto fail;
            }
        }
        if (v[2] < 0 || v[3] < 0) {
            st = fv__fail(FV_ERR_FORMAT, "%s:%lld: a negative size (w %g, h %g)", origin,
                          (long long)t.line, v[2], v[3]);
            goto fail;
        }
        double x1 = v[0] - v[2] / 2, y1 = v[1] - v[3] / 2, x2 = v[0] + v[2] / 2,
               y2 = v[1] + v[3] / 2;
        if (x1 < -COORD_SLACK || y1 < -COORD_SLACK || x2 > 1 + COORD_SLACK ||
            y2 > 1 + COORD_SLACK) {
            st = fv__fail(FV_ERR_FORMAT,
                          "%s:%lld: the box (cx %g, cy %g, w %g, h %g) reaches outside the image "
                          "(coordinates are fractions of its size, 0 to 1)",
                          origin, (long long)t.line, v[0], v[1], v[2], v[3]);
            goto fail;
        }
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            double *nb = realloc(b, (size_t)cap * 4 * sizeof *b);
            int64_t *nc = nb ? realloc(c, (size_t)cap * sizeof *c) : NULL;
            if (nb) b = nb;
            if (nc) c = nc;
            if (!nb || !nc) {
                st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
                goto fail;
            }
        }
        x1 = fmax(x1, 0), y1 = fmax(y1, 0), x2 = fmin(x2, 1), y2 = fmin(y2, 1);
        double *q = b + 4 * count;
        q[0] = x1 * (double)width, q[1] = y1 * (double)height;
        q[2] = (x2 - x1) * (double)width, q[3] = (y2 - y1) * (double)height;
        c[count++] = cls;
    }
    fv__text_free(&t);
    *boxes = b, *classes = c, *n = count;
    return FV_OK;
fail:
    fv__text_free(&t);
    free(b);
    free(c);
    return st;
}

/* ---- class names ----------------------------------------------------------------------------- */

static void free_names(char **names, int64_t n)
{
    if (names)
        for (int64_t i = 0; i < n; i++)
            free(names[i]);
    free(names);
}

static char *scalar(yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (char *)node->data.scalar.value : NULL;
}

fv_status fv__yolo_parse_yaml(const char *text, size_t len, const char *origin, char ***names,
                              int64_t *n)
{
    *names = NULL, *n = 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fv_status st =
            fv__fail(FV_ERR_FORMAT, "%s:%zu: %s", origin, (size_t)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "not valid YAML");
        yaml_parser_delete(&parser);
        return st;
    }
    fv_status st = FV_OK;
    char **out = NULL;
    int64_t count = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *value = NULL;
    if (root && root->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
             p++) {
            char *k = scalar(yaml_document_get_node(&doc, p->key));
            if (k && strcmp(k, "names") == 0) value = yaml_document_get_node(&doc, p->value);
        }
    if (!value) {
        st = fv__fail(FV_ERR_FORMAT,
                      "%s: no 'names:' (a list of class names, or a mapping of "
                      "class numbers to names)",
                      origin);
        goto done;
    }
    size_t line = value->start_mark.line + 1;
    if (value->type == YAML_SEQUENCE_NODE) {
        count = value->data.sequence.items.top - value->data.sequence.items.start;
    } else if (value->type == YAML_MAPPING_NODE) {
        count = value->data.mapping.pairs.top - value->data.mapping.pairs.start;
    } else {
        st = fv__fail(FV_ERR_FORMAT, "%s:%zu: 'names:' must be a list or a mapping", origin, line);
        goto done;
    }
    if (count == 0) {
        st = fv__fail(FV_ERR_FORMAT, "%s:%zu: 'names:' is empty", origin, line);
        goto done;
    }
    if (!(out = calloc((size_t)count, sizeof *out))) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        goto done;
    }
    for (int64_t i = 0; i < count; i++) {
        yaml_node_t *kn = NULL, *vn;
        if (value->type == YAML_SEQUENCE_NODE) {
            vn = yaml_document_get_node(&doc, value->data.sequence.items.start[i]);
        } else {
            yaml_node_pair_t *p = value->data.mapping.pairs.start + i;
            kn = yaml_document_get_node(&doc, p->key);
            vn = yaml_document_get_node(&doc, p->value);
        }
        int64_t at = i;
        size_t l = (kn ? kn : vn) ? (kn ? kn : vn)->start_mark.line + 1 : line;
        if (kn && (!scalar(kn) || !parse_class(scalar(kn), &at) || at < 0 || at >= count)) {
            st = fv__fail(FV_ERR_FORMAT, "%s:%zu: a 'names:' key must be a class number 0..%lld",
                          origin, l, (long long)count - 1);
            goto done;
        }
        if (out[at]) {
            st = fv__fail(FV_ERR_FORMAT, "%s:%zu: class %lld is named twice", origin, l,
                          (long long)at);
            goto done;
        }
        char *s = scalar(vn);
        if (!s || !*s) {
            st = fv__fail(FV_ERR_FORMAT, "%s:%zu: a class name must be a non-empty string", origin,
                          l);
            goto done;
        }
        if (!(out[at] = fv__strdup(s))) {
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
            goto done;
        }
    }
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (st != FV_OK) {
        free_names(out, count);
        return st;
    }
    *names = out, *n = count;
    return FV_OK;
}

/* classes.txt: one name a line, empty lines at the end ignored. */
static fv_status parse_classes_txt(const char *text, size_t len, const char *origin, char ***names,
                                   int64_t *n)
{
    *names = NULL, *n = 0;
    fv_text t;
    fv_status st = fv__text_init(&t, text, len, origin);
    char **out = NULL;
    int64_t count = 0, blank = 0;
    const char *line;
    size_t ll;
    while (st == FV_OK && fv__text_line(&t, &line, &ll)) {
        while (ll && (line[ll - 1] == ' ' || line[ll - 1] == '\t'))
            ll--;
        if (ll == 0) {
            blank = t.line;
            continue;
        }
        if (blank) {
            st = fv__fail(FV_ERR_FORMAT, "%s:%lld: an empty line among the class names", origin,
                          (long long)blank);
            break;
        }
        char **grown = realloc(out, (size_t)(count + 1) * sizeof *out);
        if (!grown || !(grown[count] = malloc(ll + 1))) {
            if (grown) out = grown;
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
            break;
        }
        out = grown;
        memcpy(out[count], line, ll);
        out[count++][ll] = '\0';
    }
    fv__text_free(&t);
    if (st == FV_OK && count == 0) st = fv__fail(FV_ERR_FORMAT, "%s: no class names", origin);
    if (st != FV_OK) {
        free_names(out, count);
        return st;
    }
    *names = out, *n = count;
    return FV_OK;
}

static fv_status read_names(const char *dir, char ***names, int64_t *n)
{
    const char *files[2] = {"data.yaml", "classes.txt"};
    for (int i = 0; i < 2; i++) {
        char *path = join(dir, files[i], NULL);
        if (!path) return FV_ERR_NOMEM;
        if (!is_file(path)) {
            free(path);
            continue;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        fv_status st = fv__read_file(path, MAX_TEXT_BYTES, false, &buf, &len);
        if (st == FV_OK)
            st = i == 0 ? fv__yolo_parse_yaml((const char *)buf, len, path, names, n)
                        : parse_classes_txt((const char *)buf, len, path, names, n);
        free(buf);
        free(path);
        return st;
    }
    return fv__fail(FV_ERR_IO, "%s: no data.yaml or classes.txt naming the classes", dir);
}

/* ---- folders ----------------------------------------------------------------------------------
 */

static bool image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif"};
    if (!dot) return false;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot, ext[i]) == 0) return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir whose names pass keep(), sorted by name. */
static fv_status list_files(const char *dir, bool (*keep)(const char *), char ***out, int64_t *n)
{
    *out = NULL, *n = 0;
    DIR *d = opendir(dir);
    if (!d) return fv__fail(FV_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
    char **names = NULL;
    int64_t count = 0;
    struct dirent *e;
    fv_status st = FV_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !keep(e->d_name)) continue;
        char *path = join(dir, e->d_name, NULL);
        bool file = path && is_file(path);
        free(path);
        if (!file) continue;
        char **grown = realloc(names, (size_t)(count + 1) * sizeof *names);
        if (!grown || !(grown[count] = fv__strdup(e->d_name))) {
            if (grown) names = grown;
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        names = grown;
        count++;
    }
    closedir(d);
    if (st != FV_OK) {
        free_names(names, count);
        return st;
    }
    if (count) qsort(names, (size_t)count, sizeof *names, cmp_str);
    *out = names, *n = count;
    return FV_OK;
}

static bool txt_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && strcmp(dot, ".txt") == 0 && strcmp(name, "classes.txt") != 0;
}

typedef struct stem_ref {
    const char *name;
    int64_t index;
} stem_ref;

/* Orders file names by their stems (up to the last dot). */
static int cmp_stem(const void *pa, const void *pb)
{
    const char *a = ((const stem_ref *)pa)->name, *b = ((const stem_ref *)pb)->name;
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
    size_t na = da ? (size_t)(da - a) : strlen(a), nb = db ? (size_t)(db - b) : strlen(b);
    int c = strncmp(a, b, na < nb ? na : nb);
    if (c) return c;
    return (na > nb) - (na < nb);
}

/* The images and labels folders of a split, in either arrangement. */
static fv_status find_split(const char *dir, const char *split, char **images, char **labels)
{
    *images = join(dir, "images", split);
    *labels = join(dir, "labels", split);
    if (!*images || !*labels) goto nomem;
    if (is_dir(*images)) return FV_OK;
    free(*images), free(*labels);
    *images = join(dir, split, "images");
    *labels = join(dir, split, "labels");
    if (!*images || !*labels) goto nomem;
    if (is_dir(*images)) return FV_OK;
    free(*images), free(*labels);
    *images = *labels = NULL;
    return fv__fail(FV_ERR_IO, "%s: no %s/images/%s or %s/%s/images folder", dir, dir, split, dir,
                    split);
nomem:
    free(*images), free(*labels);
    *images = *labels = NULL;
    return FV_ERR_NOMEM;
}

/* One image and its label file into d (image i; annotations appended at *at). */
static fv_status read_one(fv_detset *d, int64_t i, const char *images, const char *labels,
                          const char *name, const char *label_name, int channels, int64_t *at,
                          int64_t *cap)
{
    fv_det_image *im = &d->images[i];
    im->id = i + 1;
    if (!(im->file_name = fv__strdup(name))) return fv__fail(FV_ERR_NOMEM, "out of memory");
    char *path = join(images, name, NULL);
    if (!path) return FV_ERR_NOMEM;
    fv_image_opts o = fv_image_defaults();
    o.channels = channels ? channels : 1;
    fv_status st = fv_image_read(path, &o, &im->pixels, &im->height, &im->width);
    free(path);
    if (st != FV_OK) return st;
    if (!channels) free(im->pixels), im->pixels = NULL;
    im->first = *at;
    if (!label_name) return FV_OK;
    char *lpath = join(labels, label_name, NULL);
    if (!lpath) return FV_ERR_NOMEM;
    uint8_t *buf = NULL;
    size_t len = 0;
    double *boxes = NULL;
    int64_t *classes = NULL, n = 0;
    st = fv__read_file(lpath, MAX_TEXT_BYTES, false, &buf, &len);
    if (st == FV_OK)
        st = fv__yolo_parse_labels((const char *)buf, len, lpath, im->width, im->height,
                                   d->ncategories, &boxes, &classes, &n);
    free(buf);
    free(lpath);
    if (st == FV_OK && *at + n > *cap) {
        int64_t ncap = (*at + n) * 2;
        fv_det_annotation *g = realloc(d->annotations, (size_t)ncap * sizeof *g);
        if (!g)
            st = fv__fail(FV_ERR_NOMEM, "out of memory for %lld boxes", (long long)ncap);
        else
            d->annotations = g, *cap = ncap;
    }
    for (int64_t j = 0; st == FV_OK && j < n; j++) {
        fv_det_annotation *a = &d->annotations[*at];
        memset(a, 0, sizeof *a);
        a->id = *at + 1, a->image = i, a->category = classes[j];
        memcpy(a->bbox, boxes + 4 * j, sizeof a->bbox);
        a->area = a->bbox[2] * a->bbox[3];
        (*at)++;
    }
    im->count = *at - im->first;
    free(boxes);
    free(classes);
    return st;
}

fv_status fv_detset_load_yolo(const char *dir, const char *split, int channels, fv_detset **out)
{
    *out = NULL;
    if (channels != 0 && channels != 1 && channels != 3)
        return fv__fail(FV_ERR_INVALID, "%s: channels must be 0, 1 or 3, not %d", dir, channels);
    char *images = NULL, *labels = NULL, **names = NULL, **files = NULL, **lfiles = NULL;
    int64_t nnames = 0, nfiles = 0, nlabels = 0;
    fv_detset *d = NULL;
    fv_status st = read_names(dir, &names, &nnames);
    if (st != FV_OK) goto done;
    if ((st = find_split(dir, split, &images, &labels)) != FV_OK) goto done;
    if (!is_dir(labels)) {
        st = fv__fail(FV_ERR_IO, "%s: no labels folder %s beside the images", dir, labels);
        goto done;
    }
    if ((st = list_files(images, image_ext, &files, &nfiles)) != FV_OK) goto done;
    if ((st = list_files(labels, txt_ext, &lfiles, &nlabels)) != FV_OK) goto done;
    if (nfiles == 0) {
        st = fv__fail(FV_ERR_FORMAT, "%s: no image files (.png, .jpg, .jpeg, .bmp, .gif)", images);
        goto done;
    }
    /* every label file has its image: the images' stems sorted, each label's stem looked up */
    int64_t *label_of = calloc((size_t)nfiles, sizeof *label_of);
    stem_ref *stems = calloc((size_t)nfiles, sizeof *stems);
    if (!label_of || !stems) {
        free(label_of), free(stems);
        st = fv__fail(FV_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < nfiles; i++) {
        label_of[i] = -1;
        stems[i] = (stem_ref){files[i], i};
    }
    qsort(stems, (size_t)nfiles, sizeof *stems, cmp_stem);
    for (int64_t l = 0; l < nlabels; l++) {
        stem_ref key = {lfiles[l], -1};
        const stem_ref *f = bsearch(&key, stems, (size_t)nfiles, sizeof *stems, cmp_stem);
        if (!f) {
            st = fv__fail(FV_ERR_FORMAT, "%s/%s: a label file without an image in %s", labels,
                          lfiles[l], images);
            free(label_of), free(stems);
            goto done;
        }
        label_of[f->index] = l;
    }
    free(stems);
    d = fv__detset_new(nfiles, 0, nnames);
    int64_t at = 0, cap = 0;
    if (!d) st = FV_ERR_NOMEM;
    for (int64_t k = 0; st == FV_OK && k < nnames; k++) {
        d->categories[k].id = k;
        d->categories[k].name = names[k];
        names[k] = NULL;
    }
    for (int64_t i = 0; st == FV_OK && i < nfiles; i++)
        st = read_one(d, i, images, labels, files[i], label_of[i] >= 0 ? lfiles[label_of[i]] : NULL,
                      channels, &at, &cap);
    free(label_of);
    if (st == FV_OK) {
        d->nannotations = at;
        d->channels = channels;
        if (!(d->image_dir = fv__strdup(images))) st = fv__fail(FV_ERR_NOMEM, "out of memory");
    }
done:
    free(images);
    free(labels);
    free_names(names, nnames);
    free_names(files, nfiles);
    free_names(lfiles, nlabels);
    if (st != FV_OK) {
        fv_detset_free(d);
        return st;
    }
    *out = d;
    return FV_OK;
}

fv_status fv_detset_load(const char *dir, const char *split, int channels, fv_detset **out)
{
    *out = NULL;
    if (!is_dir(dir))
        return fv__fail(FV_ERR_IO, "%s: %s", dir,
                        access(dir, F_OK) == 0 ? "not a folder" : "no such folder");
    const char *try[2] = {split, strcmp(split, "test") == 0 ? "val" : NULL};
    for (int i = 0; i < 2 && try[i]; i++) {
        char name[64];
        snprintf(name, sizeof name, "instances_%.40s.json", try[i]);
        char *json = join(dir, "annotations", name);
        if (!json) return FV_ERR_NOMEM;
        if (is_file(json)) {
            char *cand[3] = {join(dir, "images", try[i]), join(dir, try[i], NULL),
                             join(dir, "images", NULL)};
            const char *images = NULL;
            for (int c = 0; c < 3 && !images; c++)
                if (cand[c] && is_dir(cand[c])) images = cand[c];
            fv_status st = images ? fv_detset_load_coco(json, images, channels, out)
                                  : fv__fail(FV_ERR_IO, "%s: no images/%s, %s or images folder",
                                             dir, try[i], try[i]);
            for (int c = 0; c < 3; c++)
                free(cand[c]);
            free(json);
            return st;
        }
        free(json);
        char *yi = join(dir, "images", try[i]), *ys = join(dir, try[i], "images");
        bool yolo = (yi && is_dir(yi)) || (ys && is_dir(ys));
        free(yi), free(ys);
        if (yolo) return fv_detset_load_yolo(dir, try[i], channels, out);
    }
    return fv__fail(FV_ERR_IO,
                    "%s: no %s part in COCO's layout (annotations/instances_%s.json) or YOLO's "
                    "(images/%s, %s/images)%s",
                    dir, split, split, split, split, try[1] ? " (nor a val part)" : "");
}
