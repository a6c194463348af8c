/* image_dir.c — datasets of image files: Keras' image_dataset_from_directory (one subfolder per
 * class, the seeded shuffle and split of NumPy's RandomState reproduced exactly), a list of files
 * for prediction, and one file read whole. Files are decoded once, in parallel, into uint8.
 */
#include "io/dataset.h"
#include "io/image.h"
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Nested folders inside a class folder deeper than this are an error (a guard for link cycles
 * that stat cannot see and for absurd trees). */
#define MAX_DEPTH 64
/* The largest image file read. */
#define MAX_FILE_BYTES ((size_t)1 << 30)

fv_image_opts fv_image_defaults(void)
{
    fv_image_opts o;
    memset(&o, 0, sizeof o);
    o.channels = 3;
    o.interpolation = FV_INTERP_BILINEAR;
    o.max_pixels = FV_IMAGE_MAX_PIXELS;
    o.order = FV_ORDER_CLASS;
    o.seed = 42;
    return o;
}

static fv_status check_opts(const fv_image_opts *o, bool need_size)
{
    if (!o) return fv__fail(FV_ERR_INVALID, "no image options given (see fv_image_defaults)");
    if (o->channels != 1 && o->channels != 3 && o->channels != 4)
        return fv__fail(FV_ERR_INVALID,
                        "images: %d channels asked for; expected 1 (grayscale), 3 (rgb) or 4 "
                        "(rgba)",
                        o->channels);
    if (o->interpolation != FV_INTERP_BILINEAR && o->interpolation != FV_INTERP_NEAREST)
        return fv__fail(FV_ERR_INVALID, "images: unknown interpolation %d", (int)o->interpolation);
    if (need_size && (o->height < 1 || o->width < 1 || o->height > 65535 || o->width > 65535))
        return fv__fail(FV_ERR_INVALID, "images: the size %lld x %lld is not within 1..65535",
                        (long long)o->width, (long long)o->height);
    if (!(o->validation_split >= 0 && o->validation_split < 1))
        return fv__fail(FV_ERR_INVALID, "validation_split must be in [0, 1), not %g",
                        o->validation_split);
    return FV_OK;
}

/* ---- NumPy's legacy RandomState(seed).shuffle: MT19937 seeded by init_genrand, then
 * Fisher-Yates from the end with random_interval's masked rejection sampling. ----------------- */

typedef struct mt19937 {
    uint32_t mt[624];
    int i;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed)
{
    m->mt[0] = seed;
    for (int i = 1; i < 624; i++)
        m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}

static uint32_t mt_next(mt19937 *m)
{
    if (m->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->mt[k] & 0x80000000u) | (m->mt[(k + 1) % 624] & 0x7fffffffu);
            m->mt[k] = m->mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    uint32_t y = m->mt[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static uint64_t mt_next64(mt19937 *m)
{
    uint64_t hi = mt_next(m);
    return hi << 32 | mt_next(m);
}

/* random_interval(max): uniform in 0..max. */
static uint64_t mt_interval(mt19937 *m, uint64_t max)
{
    if (max == 0) return 0;
    uint64_t mask = max, v;
    mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8;
    mask |= mask >> 16, mask |= mask >> 32;
    if (max <= 0xffffffffu) {
        while ((v = (mt_next(m) & mask)) > max) {
        }
    } else {
        while ((v = (mt_next64(m) & mask)) > max) {
        }
    }
    return v;
}

/* Permutes perm[0..n) as np.random.RandomState(seed).shuffle does a list (seed < 2^32, as NumPy
 * requires; a larger seed is reduced modulo 2^32). */
void fv__numpy_shuffle(int64_t *perm, int64_t n, uint64_t seed)
{
    mt19937 m;
    mt_seed(&m, (uint32_t)seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)mt_interval(&m, (uint64_t)i);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* ---- listing ----------------------------------------------------------------------------------
 */

typedef struct entry {
    char *path;
    const char *base; /* inside path */
    int32_t label;
} entry;

typedef struct listing {
    entry *e;
    int64_t n, cap;
    char **classes;
    int64_t nclasses, ccap;
    const fv_image_opts *o;
} listing;

static void warn(const fv_image_opts *o, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(const fv_image_opts *o, const char *path, const char *fmt, ...)
{
    if (!o->on_skip) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->on_skip(o->user, path, msg);
}

static bool image_extension(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif"};
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot, ext[i]) == 0) return true;
    return false;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t o = a;
    if (a && dir[a - 1] != '/') p[o++] = '/';
    memcpy(p + o, name, b + 1);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir (without . and ..), sorted; NULL with an error if it cannot be read. */
static fv_status read_names(const char *dir, char ***names, int64_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return fv__fail(FV_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
    char **v = NULL;
    int64_t cap = 0, cnt = 0;
    struct dirent *de;
    fv_status st = FV_OK;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                st = fv__fail(FV_ERR_NOMEM, "%s: out of memory listing the folder", dir);
                break;
            }
            v = nv;
        }
        if (!(v[cnt] = strdup(de->d_name))) {
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory listing the folder", dir);
            break;
        }
        cnt++;
    }
    closedir(d);
    if (st != FV_OK) {
        for (int64_t i = 0; i < cnt; i++)
            free(v[i]);
        free(v);
        return st;
    }
    if (cnt > 1) qsort(v, (size_t)cnt, sizeof *v, cmp_str);
    *names = v;
    *n = cnt;
    return FV_OK;
}

static void free_names(char **v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static fv_status add_entry(listing *l, char *path, int32_t label)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 1024;
        entry *e = realloc(l->e, (size_t)cap * sizeof *e);
        if (!e) {
            free(path);
            return fv__fail(FV_ERR_NOMEM, "out of memory listing image files");
        }
        l->e = e;
        l->cap = cap;
    }
    const char *slash = strrchr(path, '/');
    l->e[l->n++] = (entry){path, slash ? slash + 1 : path, label};
    return FV_OK;
}

/* The folders entered so far on the way down (for link loops). */
typedef struct ancestors {
    dev_t dev[MAX_DEPTH + 2];
    ino_t ino[MAX_DEPTH + 2];
    int n;
} ancestors;

/* Adds the image files under dir (any depth) with the label, depth-first; list_tree then sorts
 * each class's files into Keras' order (cmp_root). */
static fv_status walk(listing *l, const char *dir, int32_t label, ancestors *up, int64_t *found)
{
    const fv_image_opts *o = l->o;
    if (up->n > MAX_DEPTH)
        return fv__fail(FV_ERR_FORMAT, "%s: folders nested more than %d deep", dir, MAX_DEPTH);
    char **names;
    int64_t n;
    fv_status st = read_names(dir, &names, &n);
    if (st != FV_OK) return st;
    char **subdirs = calloc((size_t)(n ? n : 1), sizeof *subdirs);
    int64_t nsub = 0;
    if (!subdirs) {
        free_names(names, n);
        return fv__fail(FV_ERR_NOMEM, "out of memory listing %s", dir);
    }
    for (int64_t i = 0; i < n && st == FV_OK; i++) {
        char *path = join(dir, names[i]);
        if (!path) {
            st = fv__fail(FV_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        struct stat ls, s;
        if (lstat(path, &ls) != 0) {
            warn(o, path, "cannot read: %s", strerror(errno));
            free(path);
            continue;
        }
        bool link = S_ISLNK(ls.st_mode);
        if (link && stat(path, &s) != 0) {
            if (image_extension(names[i])) {
                (*found)++;
                warn(o, path, "a symbolic link that leads nowhere (%s)", strerror(errno));
            }
            free(path);
            continue;
        }
        if (!link) s = ls;
        if (S_ISDIR(s.st_mode)) {
            if (link && !o->follow_links) {
                warn(o, path, "a symbolic link to a folder, not followed (follow_links is off)");
                free(path);
                continue;
            }
            subdirs[nsub++] = path;
            continue;
        }
        if (!image_extension(names[i]) || strncmp(names[i], "._", 2) == 0 || !S_ISREG(s.st_mode)) {
            free(path);
            continue;
        }
        (*found)++;
        st = add_entry(l, path, label);
    }
    for (int64_t i = 0; i < nsub; i++) {
        if (st == FV_OK) {
            struct stat s;
            bool loop = false;
            if (stat(subdirs[i], &s) == 0)
                for (int k = 0; k < up->n; k++)
                    loop = loop || (up->dev[k] == s.st_dev && up->ino[k] == s.st_ino);
            if (loop) {
                warn(o, subdirs[i], "a symbolic link loop (leads back to a folder above it)");
            } else {
                up->dev[up->n] = s.st_dev, up->ino[up->n] = s.st_ino, up->n++;
                st = walk(l, subdirs[i], label, up, found);
                up->n--;
            }
        }
        free(subdirs[i]);
    }
    free(subdirs);
    free_names(names, n);
    return st;
}

/* Keras' iter_valid_files: `sorted(os.walk(d), key=lambda x: x[0])`, then `sorted(files)`: by the
 * folder's path as a string, then the file name (byte order, which is code point order in
 * UTF-8). Walking depth-first differs when a folder name holds a character below '/' ("a b"
 * sorts before "a/c" as a path). */
static int cmp_root(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    size_t dx = (size_t)(x->base - x->path), dy = (size_t)(y->base - y->path);
    dx = dx ? dx - 1 : 0, dy = dy ? dy - 1 : 0; /* without the '/' before the name */
    int c = memcmp(x->path, y->path, dx < dy ? dx : dy);
    if (c) return c;
    if (dx != dy) return dx < dy ? -1 : 1;
    return strcmp(x->base, y->base);
}

static int cmp_base(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->base, y->base);
    return c ? c : strcmp(x->path, y->path);
}

static void free_listing(listing *l)
{
    for (int64_t i = 0; i < l->n; i++)
        free(l->e[i].path);
    free(l->e);
    free_names(l->classes, l->nclasses);
    memset(l, 0, sizeof *l);
}

/* The class folders of dir (or o->class_names) and their image files, in o->order. */
static fv_status list_tree(const char *dir, const fv_image_opts *o, listing *l, int64_t *found)
{
    memset(l, 0, sizeof *l);
    l->o = o;
    struct stat sb;
    if (stat(dir, &sb) != 0) return fv__fail(FV_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return fv__fail(FV_ERR_IO, "%s: not a folder (expected one subfolder per class)", dir);
    char **names;
    int64_t n;
    fv_status st = read_names(dir, &names, &n);
    if (st != FV_OK) return st;
    /* The class folders: subfolders (symbolic links to folders only with follow_links). */
    char **cls = calloc((size_t)(n ? n : 1), sizeof *cls);
    int64_t ncls = 0;
    if (!cls) {
        free_names(names, n);
        return fv__fail(FV_ERR_NOMEM, "out of memory listing %s", dir);
    }
    for (int64_t i = 0; i < n; i++) {
        char *path = join(dir, names[i]);
        struct stat ls, s;
        bool isdir = path && lstat(path, &ls) == 0 && stat(path, &s) == 0 && S_ISDIR(s.st_mode);
        if (isdir && S_ISLNK(ls.st_mode) && !o->follow_links) {
            warn(o, path, "a symbolic link to a folder, not followed (follow_links is off)");
            isdir = false;
        }
        free(path);
        if (isdir) cls[ncls++] = names[i], names[i] = NULL;
    }
    free_names(names, n);
    if (o->class_names) {
        /* Keras: every folder must be one of the classes given; a class may have no folder. */
        for (int64_t i = 0; i < ncls && st == FV_OK; i++) {
            bool known = false;
            for (int64_t k = 0; k < o->nclass_names && !known; k++)
                known = o->class_names[k] && strcmp(o->class_names[k], cls[i]) == 0;
            if (!known)
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: the folder '%s' is not one of the %lld classes of the training "
                              "data",
                              dir, cls[i], (long long)o->nclass_names);
        }
        free_names(cls, ncls);
        if (st != FV_OK) return st;
        cls = calloc((size_t)(o->nclass_names > 0 ? o->nclass_names : 1), sizeof *cls);
        if (!cls) return fv__fail(FV_ERR_NOMEM, "out of memory");
        ncls = o->nclass_names;
        for (int64_t k = 0; k < ncls; k++)
            if (!(cls[k] = strdup(o->class_names[k] ? o->class_names[k] : ""))) {
                free_names(cls, k);
                return fv__fail(FV_ERR_NOMEM, "out of memory");
            }
    }
    l->classes = cls;
    l->nclasses = ncls;
    if (ncls == 0)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: no class subfolders (expected DIR/CLASS/image.png, one subfolder per "
                        "class)",
                        dir);
    if (ncls > INT32_MAX) return fv__fail(FV_ERR_FORMAT, "%s: too many classes", dir);
    for (int64_t k = 0; k < ncls && st == FV_OK; k++) {
        char *path = join(dir, cls[k]);
        if (!path) return fv__fail(FV_ERR_NOMEM, "out of memory");
        struct stat s;
        if (stat(path, &s) == 0 && S_ISDIR(s.st_mode)) {
            ancestors up = {.n = 2};
            up.dev[0] = sb.st_dev, up.ino[0] = sb.st_ino; /* dir itself */
            up.dev[1] = s.st_dev, up.ino[1] = s.st_ino;
            int64_t before = l->n;
            st = walk(l, path, (int32_t)k, &up, found);
            if (st == FV_OK && l->n == before)
                warn(o, path, "an empty class folder: no image files (the class keeps label %lld)",
                     (long long)k);
            /* Keras' order within a class: folders sorted by their whole path, then names. */
            if (st == FV_OK && l->n - before > 1)
                qsort(l->e + before, (size_t)(l->n - before), sizeof *l->e, cmp_root);
        }
        free(path);
    }
    if (st == FV_OK && o->order == FV_ORDER_NAME && l->n > 1)
        qsort(l->e, (size_t)l->n, sizeof *l->e, cmp_base);
    return st;
}

/* ---- decoding ---------------------------------------------------------------------------------
 */

/* Decodes files[0..n) into x (n × sample bytes) in parallel, in blocks so that progress is
 * reported from the calling thread; err[i] receives file i's message (malloc'd) or stays NULL. */
static fv_status decode_all(char *const *files, int64_t n, const fv_image_opts *o, uint8_t *x,
                            int64_t sample, char **err)
{
    const int64_t block = 256 * (int64_t)fv__threads();
    int threads = fv__threads();
    (void)threads;
    bool oom = false;
    for (int64_t b0 = 0; b0 < n; b0 += block) {
        int64_t b1 = b0 + block < n ? b0 + block : n;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
        for (int64_t i = b0; i < b1; i++) {
            uint8_t *buf = NULL;
            size_t len = 0;
            fv_image out = {0};
            fv_status st = fv__read_file(files[i], MAX_FILE_BYTES, false, &buf, &len);
            if (st == FV_OK) st = fv__image_load_mem(buf, len, files[i], o, x + i * sample, &out);
            free(buf);
            if (st != FV_OK) {
                err[i] = strdup(fv_last_error());
                if (!err[i]) {
#pragma omp atomic write
                    oom = true;
                }
            }
        }
        if (oom) return fv__fail(FV_ERR_NOMEM, "out of memory decoding images");
        if (o->on_progress) o->on_progress(o->user, b1, n);
    }
    return FV_OK;
}

/* A dataset of the samples [first, first + count) of *xp whose err is NULL, in order, with labels
 * and file paths (ownership of the paths moves). adopt (first 0 only): the kept samples are moved
 * down inside *xp, which the dataset then takes (*xp becomes NULL), so that the peak memory of a
 * load stays N·H·W·C bytes plus the validation part; else they are copied. */
static fv_dataset *make_dataset(const fv_image_opts *o, uint8_t **xp, bool adopt, int64_t sample,
                                const int32_t *labels, char **paths, char **err, int64_t first,
                                int64_t count, int64_t nclasses, char *const *classes)
{
    uint8_t *x = *xp;
    FV_ASSERT(!adopt || first == 0);
    fv_dataset *d = fv__dataset_new();
    if (!d) return NULL;
    int64_t kept = 0;
    for (int64_t i = first; i < first + count; i++)
        kept += err[i] == NULL;
    d->n = kept;
    int64_t dims[3] = {o->height, o->width, o->channels};
    if (fv__dataset_set_shape(d, 3, dims, "images") != FV_OK) goto fail;
    if (!adopt) d->u8 = malloc((size_t)(kept * sample) + 1);
    d->files = calloc((size_t)kept + 1, sizeof *d->files);
    d->nfiles = kept;
    if (labels) d->labels = malloc((size_t)kept * sizeof *d->labels + 1);
    if ((!adopt && !d->u8) || !d->files || (labels && !d->labels)) {
        fv__fail(FV_ERR_NOMEM, "out of memory for %lld images", (long long)kept);
        goto fail;
    }
    int64_t j = 0;
    for (int64_t i = first; i < first + count; i++) {
        if (err[i]) continue;
        if (!adopt)
            memcpy(d->u8 + j * sample, x + i * sample, (size_t)sample);
        else if (j != i)
            memmove(x + j * sample, x + i * sample, (size_t)sample);
        d->files[j] = paths[i];
        paths[i] = NULL;
        if (labels) d->labels[j] = labels[i];
        j++;
    }
    if (labels) {
        d->classes = nclasses;
        if (classes &&
            fv__dataset_set_class_names(d, nclasses, (const char *const *)classes) != FV_OK)
            goto fail;
    }
    if (adopt) {
        uint8_t *shrunk = realloc(x, (size_t)(kept * sample) + 1);
        d->u8 = shrunk ? shrunk : x;
        *xp = NULL;
    }
    return d;
fail:
    fv_dataset_free(d);
    return NULL;
}

/* Decodes the files (paths taken over: freed here), reports and counts the failures, and makes
 * the datasets: [0, n - nval) and, when nval > 0, [n - nval, n). */
static fv_status load_files(char **paths, int32_t *labels, int64_t n, int64_t nval,
                            const fv_image_opts *o, int64_t nclasses, char *const *classes,
                            fv_dataset **train, fv_dataset **val, fv_image_info *info)
{
    fv_status st = FV_OK;
    int64_t sample = o->height * o->width * o->channels; /* <= 65535² × 4: no overflow */
    int64_t total;
    uint8_t *x = NULL;
    char **err = calloc((size_t)(n ? n : 1), sizeof *err);
    if (!fv__mul_i64(n, sample, &total) || (uint64_t)total > SIZE_MAX)
        st = fv__fail(FV_ERR_NOMEM, "%lld images of %lld bytes do not fit in memory", (long long)n,
                      (long long)sample);
    else if (!err || !(x = malloc((size_t)total + 1)))
        st = fv__fail(
            FV_ERR_NOMEM, "out of memory: %lld images at %lld x %lld x %d need %lld bytes",
            (long long)n, (long long)o->height, (long long)o->width, o->channels, (long long)total);
    if (st == FV_OK) st = decode_all(paths, n, o, x, sample, err);
    int64_t skipped = 0;
    for (int64_t i = 0; st == FV_OK && i < n; i++) {
        if (!err[i]) continue;
        skipped++;
        if (o->strict) {
            st = fv__fail(FV_ERR_FORMAT, "%s", err[i]);
            break;
        }
        if (o->on_skip) o->on_skip(o->user, paths[i], err[i]);
    }
    if (info) info->loaded = n - skipped, info->skipped = skipped;
    if (st == FV_OK && skipped == n)
        st =
            fv__fail(FV_ERR_FORMAT, "none of the %lld image files could be decoded (the first: %s)",
                     (long long)n, n ? err[0] : "none");
    /* The validation part is copied out first; the training part then takes x itself. */
    if (st == FV_OK && nval > 0) {
        *val = make_dataset(o, &x, false, sample, labels, paths, err, n - nval, nval, nclasses,
                            classes);
        if (!*val) st = FV_ERR_NOMEM;
    }
    if (st == FV_OK) {
        *train =
            make_dataset(o, &x, true, sample, labels, paths, err, 0, n - nval, nclasses, classes);
        if (!*train) st = FV_ERR_NOMEM;
    }
    if (st == FV_OK && (fv_dataset_count(*train) == 0 || (nval > 0 && fv_dataset_count(*val) == 0)))
        st = fv__fail(
            FV_ERR_FORMAT, "after skipping %lld undecodable files the %s set holds no images",
            (long long)skipped, fv_dataset_count(*train) == 0 ? "training" : "validation");
    if (st != FV_OK) {
        fv_dataset_free(*train);
        if (val) fv_dataset_free(*val);
        *train = NULL;
        if (val) *val = NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        free(err ? err[i] : NULL);
        free(paths[i]);
    }
    free(err);
    free(paths);
    free(x);
    return st;
}

fv_status fv_dataset_load_image_dir(const char *dir, const fv_image_opts *o, fv_dataset **train,
                                    fv_dataset **validation, fv_image_info *info)
{
    if (train) *train = NULL;
    if (validation) *validation = NULL;
    if (info) memset(info, 0, sizeof *info);
    if (!dir || !train) return fv__fail(FV_ERR_INVALID, "fv_dataset_load_image_dir: no folder");
    fv_status st = check_opts(o, true);
    if (st != FV_OK) return st;
    if (o->validation_split > 0 && !validation)
        return fv__fail(FV_ERR_INVALID, "validation_split is set but no validation dataset asked");
    listing l;
    int64_t found = 0;
    st = list_tree(dir, o, &l, &found);
    if (info) info->files = found, info->classes = l.nclasses;
    if (st != FV_OK) {
        free_listing(&l);
        return st;
    }
    if (l.n == 0) {
        free_listing(&l);
        return fv__fail(FV_ERR_FORMAT,
                        "%s: no image files (.png, .jpg, .jpeg, .bmp, .gif) in its class folders",
                        dir);
    }
    int64_t n = l.n, nval = 0;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    char **paths = calloc((size_t)n, sizeof *paths);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    if (!perm || !paths || !labels) {
        free(perm), free(paths), free(labels);
        free_listing(&l);
        return fv__fail(FV_ERR_NOMEM, "out of memory listing %lld files", (long long)n);
    }
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    if (o->validation_split > 0) {
        /* Keras: num_val_samples = int(validation_split * len(samples)) of the shuffled list. */
        nval = (int64_t)(o->validation_split * (double)n);
        if (nval < 1 || nval >= n) {
            free(perm), free(paths), free(labels);
            free_listing(&l);
            return fv__fail(FV_ERR_INVALID,
                            "%s: %lld files are too few to split with validation_split=%g", dir,
                            (long long)n, o->validation_split);
        }
        fv__numpy_shuffle(perm, n, o->seed);
    }
    for (int64_t i = 0; i < n; i++) {
        paths[i] = l.e[perm[i]].path;
        labels[i] = l.e[perm[i]].label;
        l.e[perm[i]].path = NULL;
    }
    free(perm);
    char **classes = l.classes;
    int64_t ncls = l.nclasses;
    l.classes = NULL, l.nclasses = 0;
    free_listing(&l);
    st = load_files(paths, labels, n, nval, o, ncls, classes, train, validation, info);
    free(labels);
    free_names(classes, ncls);
    if (info) info->classes = ncls;
    return st;
}

fv_dataset *fv_dataset_load_image_files(const char *const *paths, int64_t n, const fv_image_opts *o,
                                        fv_image_info *info)
{
    if (info) memset(info, 0, sizeof *info);
    if (!paths || n < 1) {
        fv__fail(FV_ERR_INVALID, "fv_dataset_load_image_files: no files given");
        return NULL;
    }
    if (check_opts(o, true) != FV_OK) return NULL;
    char **copy = calloc((size_t)n, sizeof *copy);
    if (!copy) {
        fv__fail(FV_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (!(copy[i] = strdup(paths[i] ? paths[i] : ""))) {
            for (int64_t k = 0; k < i; k++)
                free(copy[k]);
            free(copy);
            fv__fail(FV_ERR_NOMEM, "out of memory");
            return NULL;
        }
    if (info) info->files = n;
    fv_dataset *d = NULL;
    load_files(copy, NULL, n, 0, o, 0, NULL, &d, NULL, info);
    return d;
}

fv_status fv_image_read(const char *path, const fv_image_opts *o, uint8_t **pixels, int64_t *height,
                        int64_t *width)
{
    if (pixels) *pixels = NULL;
    if (!path || !pixels || !height || !width)
        return fv__fail(FV_ERR_INVALID, "fv_image_read: NULL argument");
    fv_status st = check_opts(o, o && (o->height > 0 || o->width > 0));
    if (st != FV_OK) return st;
    uint8_t *buf = NULL, *dst = NULL;
    size_t len = 0;
    if ((st = fv__read_file(path, MAX_FILE_BYTES, false, &buf, &len)) != FV_OK) return st;
    bool sized = o->height > 0 && o->width > 0;
    if (sized && !(dst = malloc((size_t)(o->height * o->width * o->channels)))) {
        free(buf);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    }
    fv_image im = {0};
    st = fv__image_load_mem(buf, len, path, o, dst, &im);
    free(buf);
    if (st != FV_OK) {
        free(dst);
        return st;
    }
    *pixels = sized ? dst : im.px;
    *height = im.h;
    *width = im.w;
    return FV_OK;
}
