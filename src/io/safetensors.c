/* safetensors.c — the safetensors format: u64 header length, a JSON header (parsed with cJSON)
 * and the raw little-endian data. The reader checks what huggingface/safetensors' validate()
 * checks; the writer produces what its serializer produces (compact JSON padded to 8 bytes).
 */
#include "io/io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER 100000000ull
#define ST_MAX_RANK   8
/* Larger integers are not exact in cJSON's doubles; no valid offset or dimension is that big. */
#define ST_MAX_INT 9007199254740992.0

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__)
#error "cannot tell the byte order of this machine"
#endif
#define ST_LITTLE (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

/* Serialises calls into cJSON's parser, whose error position is a global (see fv__st_parse). */
static pthread_mutex_t cjson_lock = PTHREAD_MUTEX_INITIALIZER;

void *fv__json_parse(const char *text)
{
    pthread_mutex_lock(&cjson_lock);
    cJSON *root = cJSON_Parse(text);
    pthread_mutex_unlock(&cjson_lock);
    return root;
}

typedef struct dtype_info {
    const char *name;
    int bits;
} dtype_info;

/* The reference implementation's dtypes and their sizes in bits. */
static const dtype_info dtypes[] = {
    {"BOOL", 8},    {"U8", 8},   {"I8", 8},      {"F8_E5M2", 8}, {"F8_E4M3", 8},
    {"F8_E8M0", 8}, {"F4", 4},   {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"I16", 16},
    {"U16", 16},    {"F16", 16}, {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32},    {"F64", 64}, {"I64", 64},    {"U64", 64},    {"C64", 64},
};

static const dtype_info *find_dtype(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0) return &dtypes[i];
    return NULL;
}

/* Length of the valid UTF-8 prefix of s[0..n) (n when all of it is valid): no overlong forms,
 * no surrogates, nothing above U+10FFFF. */
static size_t utf8_valid_prefix(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, cp = c & 0x07;
        } else {
            return i;
        }
        if (n - i <= k) return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += k + 1;
    }
    return n;
}

/* A printable, shortened copy of a name from the file, for messages. */
static const char *shown(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    for (; *s && o + 8 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (*s) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A non-negative integer JSON number that is exact in a double. */
static bool json_uint(const cJSON *x, uint64_t *v)
{
    if (!cJSON_IsNumber(x)) return false;
    double d = x->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_INT) || (double)(uint64_t)d != d) return false;
    *v = (uint64_t)d;
    return true;
}

static const char *json_kind(const cJSON *x)
{
    if (cJSON_IsArray(x)) return "an array";
    if (cJSON_IsString(x)) return "a string";
    if (cJSON_IsNumber(x)) return "a number";
    if (cJSON_IsBool(x)) return "a boolean";
    if (cJSON_IsNull(x)) return "null";
    return "an object";
}

/* Finds what cJSON would accept but JSON (and the reference reader) forbids, or would read
 * wrongly: a raw control character inside a string, and an escaped NUL ("\u0000"), at which
 * cJSON would silently cut the string. Returns a description and sets *pos, or NULL. */
static const char *json_prescan(const char *json, size_t n, size_t *pos)
{
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)json[i];
        if (!in_string) {
            if (c == '"') in_string = true;
            continue;
        }
        if (c == '"') {
            in_string = false;
        } else if (c < 0x20) {
            *pos = i;
            return "a raw control character inside a string (it must be escaped)";
        } else if (c == '\\') {
            if (n - i >= 6 && memcmp(json + i, "\\u0000", 6) == 0) {
                *pos = i;
                return "\\u0000 inside a string, which fovea does not accept";
            }
            i++; /* the escaped character cannot end the string */
        }
    }
    return NULL;
}

static int cmp_offsets(const void *a, const void *b)
{
    const fv_st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_tensor_names(const void *a, const void *b)
{
    return strcmp((*(const fv_st_tensor *const *)a)->name, (*(const fv_st_tensor *const *)b)->name);
}

/* Finds a name that occurs twice among names[0..n) in O(n log n): *dup receives it (or NULL).
 * False if out of memory. */
static bool find_duplicate(char *const *names, int n, const char **dup)
{
    *dup = NULL;
    const char **sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    if (!sorted) return false;
    for (int i = 0; i < n; i++)
        sorted[i] = names[i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_names);
    for (int i = 1; i < n && !*dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) *dup = sorted[i];
    free(sorted);
    return true;
}

/* Parses one tensor entry of the header into t (name already set). */
static fv_status parse_tensor(const cJSON *e, const char *origin, size_t data_len, fv_st_tensor *t)
{
    char nm[128];
    const char *name = shown(t->name, nm, sizeof nm);
    if (!cJSON_IsObject(e))
        return fv__fail(FV_ERR_FORMAT, "%s: header entry \"%s\" is %s; expected an object", origin,
                        name, json_kind(e));
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *f = e->child; f; f = f->next) {
        const cJSON **slot = strcmp(f->string, "dtype") == 0          ? &dtype
                             : strcmp(f->string, "shape") == 0        ? &shape
                             : strcmp(f->string, "data_offsets") == 0 ? &offsets
                                                                      : NULL;
        if (!slot) continue; /* unknown fields are ignored, as the reference does */
        if (*slot)
            return fv__fail(FV_ERR_FORMAT, "%s: tensor \"%s\": field %s appears twice", origin,
                            name, f->string);
        *slot = f;
    }
    if (!dtype || !shape || !offsets)
        return fv__fail(FV_ERR_FORMAT, "%s: tensor \"%s\": missing field %s", origin, name,
                        !dtype   ? "dtype"
                        : !shape ? "shape"
                                 : "data_offsets");

    if (!cJSON_IsString(dtype))
        return fv__fail(FV_ERR_FORMAT, "%s: tensor \"%s\": field dtype is %s; expected a string",
                        origin, name, json_kind(dtype));
    const dtype_info *dt = find_dtype(dtype->valuestring);
    if (!dt) {
        char dn[64];
        return fv__fail(FV_ERR_FORMAT,
                        "%s: tensor \"%s\": unknown dtype \"%s\" (expected F32, F16, BF16, F64, "
                        "I8..I64, U8..U64, BOOL, ...)",
                        origin, name, shown(dtype->valuestring, dn, sizeof dn));
    }
    memcpy(t->dtype, dt->name, strlen(dt->name) + 1);

    if (!cJSON_IsArray(shape))
        return fv__fail(FV_ERR_FORMAT, "%s: tensor \"%s\": field shape is %s; expected an array",
                        origin, name, json_kind(shape));
    int rank = cJSON_GetArraySize(shape);
    if (rank > ST_MAX_RANK)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: tensor \"%s\": shape has %d dimensions; at most %d are supported",
                        origin, name, rank, ST_MAX_RANK);
    t->rank = rank;
    int64_t count = 1;
    bool overflow = false;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (!json_uint(d, &v))
            return fv__fail(FV_ERR_FORMAT,
                            "%s: tensor \"%s\": shape entry %d is not a non-negative integer",
                            origin, name, i);
        t->dims[i] = (int64_t)v;
        if (!fv__mul_i64(count, (int64_t)v, &count)) overflow = true;
    }
    int64_t bits;
    if (overflow || !fv__mul_i64(count, dt->bits, &bits))
        return fv__fail(FV_ERR_FORMAT,
                        "%s: tensor \"%s\": the size of shape × dtype %s overflows 64 bits", origin,
                        name, dt->name);
    if (bits % 8 != 0)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: tensor \"%s\": %lld elements of %d bits do not fill whole bytes",
                        origin, name, (long long)count, dt->bits);

    uint64_t b, en;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(offsets->child, &b) || !json_uint(offsets->child->next, &en))
        return fv__fail(FV_ERR_FORMAT,
                        "%s: tensor \"%s\": field data_offsets must be [begin, end] with two "
                        "non-negative integers",
                        origin, name);
    if (b > en)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin",
                        origin, name, (unsigned long long)b, (unsigned long long)en);
    if (en > data_len)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: tensor \"%s\": data_offsets [%llu, %llu] lie past the end of the "
                        "data section (%zu bytes)",
                        origin, name, (unsigned long long)b, (unsigned long long)en, data_len);
    if ((uint64_t)(bits / 8) != en - b) {
        char sh[160];
        size_t o = 0;
        sh[0] = '\0';
        for (int k = 0; k < rank && o < sizeof sh; k++)
            o += (size_t)snprintf(sh + o, sizeof sh - o, "%s%lld", k ? ", " : "",
                                  (long long)t->dims[k]);
        return fv__fail(FV_ERR_FORMAT,
                        "%s: tensor \"%s\": shape [%s] of %s needs %lld bytes but data_offsets "
                        "[%llu, %llu] hold %llu",
                        origin, name, sh, dt->name, (long long)(bits / 8), (unsigned long long)b,
                        (unsigned long long)en, (unsigned long long)(en - b));
    }
    t->begin = (size_t)b;
    t->end = (size_t)en;
    return FV_OK;
}

static fv_status parse_meta(const cJSON *m, const char *origin, fv_st_file *out)
{
    if (cJSON_IsNull(m)) return FV_OK;
    if (!cJSON_IsObject(m))
        return fv__fail(FV_ERR_FORMAT, "%s: header field __metadata__ is %s; expected an object",
                        origin, json_kind(m));
    int n = cJSON_GetArraySize(m);
    out->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    out->meta_values = calloc((size_t)n + 1, sizeof(char *));
    if (!out->meta_keys || !out->meta_values)
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory reading __metadata__", origin);
    for (const cJSON *e = m->child; e; e = e->next) {
        char kn[128];
        if (!cJSON_IsString(e))
            return fv__fail(FV_ERR_FORMAT, "%s: __metadata__ entry \"%s\" is %s; expected a string",
                            origin, shown(e->string, kn, sizeof kn), json_kind(e));
        int i = out->nmeta;
        out->meta_keys[i] = fv__strdup(e->string);
        out->meta_values[i] = fv__strdup(e->valuestring);
        out->nmeta++;
        if (!out->meta_keys[i] || !out->meta_values[i])
            return fv__fail(FV_ERR_NOMEM, "%s: out of memory reading __metadata__", origin);
    }
    const char *dup;
    if (!find_duplicate(out->meta_keys, out->nmeta, &dup))
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory reading __metadata__", origin);
    if (dup) {
        char kn[128];
        return fv__fail(FV_ERR_FORMAT, "%s: __metadata__ entry \"%s\" appears twice", origin,
                        shown(dup, kn, sizeof kn));
    }
    return FV_OK;
}

/* fv__st_parse, buf mapped (fv__st_free unmaps it) or not. */
static fv_status parse(uint8_t *buf, size_t len, bool mapped, const char *origin, fv_st_file *out);

fv_status fv__st_parse(uint8_t *buf, size_t len, const char *origin, fv_st_file *out)
{
    return parse(buf, len, false, origin, out);
}

static fv_status parse(uint8_t *buf, size_t len, bool mapped, const char *origin, fv_st_file *out)
{
    memset(out, 0, sizeof *out);
    out->buf = buf;
    out->len = len;
    out->mapped = mapped;
    fv_status st = FV_OK;
    char *json = NULL;
    cJSON *root = NULL;

    if (len < 8) {
        st = fv__fail(FV_ERR_FORMAT,
                      "%s: byte %zu: file ends after %zu bytes; a safetensors file starts with an "
                      "8-byte header length",
                      origin, len, len);
        goto fail;
    }
    uint64_t n = le64(buf);
    if (n > ST_MAX_HEADER) {
        st = fv__fail(FV_ERR_FORMAT,
                      "%s: byte 0: header length %llu exceeds the limit of %llu bytes", origin,
                      (unsigned long long)n, ST_MAX_HEADER);
        goto fail;
    }
    if (n > len - 8) {
        st = fv__fail(FV_ERR_FORMAT, "%s: byte 0: header length %llu but only %zu bytes follow",
                      origin, (unsigned long long)n, len - 8);
        goto fail;
    }
    size_t hlen = (size_t)n, data_len = len - 8 - hlen;
    out->data_off = 8 + hlen;
    size_t good = utf8_valid_prefix(buf + 8, hlen);
    if (good != hlen) {
        st = fv__fail(FV_ERR_FORMAT, "%s: byte %zu: the header is not valid UTF-8", origin,
                      8 + good);
        goto fail;
    }
    const uint8_t *nul = memchr(buf + 8, 0, hlen);
    if (nul) {
        st = fv__fail(FV_ERR_FORMAT, "%s: byte %zu: the header contains a NUL byte", origin,
                      (size_t)(nul - buf));
        goto fail;
    }
    json = malloc(hlen + 1);
    if (!json) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory: cannot hold a %zu-byte header", origin,
                      hlen);
        goto fail;
    }
    memcpy(json, buf + 8, hlen);
    json[hlen] = '\0';
    size_t at;
    const char *why = json_prescan(json, hlen, &at);
    if (why) {
        st = fv__fail(FV_ERR_FORMAT, "%s: byte %zu: the header holds %s", origin, 8 + at, why);
        goto fail;
    }
    const char *end = NULL;
    /* cJSON records its last error in a static variable: parse one header at a time, so that
     * two threads loading models never race on it. */
    pthread_mutex_lock(&cjson_lock);
    root = cJSON_ParseWithOpts(json, &end, 1);
    pthread_mutex_unlock(&cjson_lock);
    if (!root) {
        size_t pos = end && end >= json && end <= json + hlen ? (size_t)(end - json) : 0;
        st = fv__fail(FV_ERR_FORMAT, "%s: byte %zu: the header is not valid JSON", origin, 8 + pos);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        st = fv__fail(FV_ERR_FORMAT, "%s: byte 8: the header is %s; expected a JSON object", origin,
                      json_kind(root));
        goto fail;
    }

    int entries = cJSON_GetArraySize(root);
    out->tensors = calloc((size_t)entries + 1, sizeof *out->tensors);
    if (!out->tensors) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory for %d header entries", origin, entries);
        goto fail;
    }
    bool seen_meta = false;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta) {
                st = fv__fail(FV_ERR_FORMAT, "%s: header field __metadata__ appears twice", origin);
                goto fail;
            }
            seen_meta = true;
            if ((st = parse_meta(e, origin, out)) != FV_OK) goto fail;
            continue;
        }
        fv_st_tensor *t = &out->tensors[out->ntensors];
        if (!(t->name = fv__strdup(e->string))) {
            st = FV_ERR_NOMEM;
            goto fail;
        }
        out->ntensors++;
        if ((st = parse_tensor(e, origin, data_len, t)) != FV_OK) goto fail;
    }
    cJSON_Delete(root);
    root = NULL;
    free(json);
    json = NULL;

    /* Tensors in data order; then an index by name (kept for fv__st_find, a binary search: a
     * linear one per model parameter made a 100 MB header of a million empty tensors take
     * minutes to load). Names must be unique: equal names are neighbours in the index. */
    int nt = out->ntensors;
    qsort(out->tensors, (size_t)nt, sizeof *out->tensors, cmp_offsets);
    out->by_name = malloc(((size_t)nt + 1) * sizeof *out->by_name);
    if (!out->by_name) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", origin);
        goto fail;
    }
    for (int i = 0; i < nt; i++)
        out->by_name[i] = &out->tensors[i];
    qsort(out->by_name, (size_t)nt, sizeof *out->by_name, cmp_tensor_names);
    for (int i = 1; i < nt; i++) {
        if (strcmp(out->by_name[i - 1]->name, out->by_name[i]->name) == 0) {
            char nm[128];
            st = fv__fail(FV_ERR_FORMAT, "%s: tensor \"%s\" appears twice in the header", origin,
                          shown(out->by_name[i]->name, nm, sizeof nm));
            goto fail;
        }
    }

    /* In data order, each tensor must start where the previous one ended. */
    size_t pos = 0;
    for (int i = 0; i < nt; i++) {
        const fv_st_tensor *t = &out->tensors[i];
        char nm[128], pn[128];
        if (t->begin > pos) {
            st = fv__fail(FV_ERR_FORMAT,
                          "%s: tensor \"%s\": data_offsets [%zu, %zu] leave a gap: bytes %zu to "
                          "%zu of the data section belong to no tensor",
                          origin, shown(t->name, nm, sizeof nm), t->begin, t->end, pos, t->begin);
            goto fail;
        }
        if (t->begin < pos) {
            st = fv__fail(FV_ERR_FORMAT,
                          "%s: tensor \"%s\": data_offsets [%zu, %zu] overlap tensor \"%s\", "
                          "which ends at %zu",
                          origin, shown(t->name, nm, sizeof nm), t->begin, t->end,
                          shown(out->tensors[i - 1].name, pn, sizeof pn), pos);
            goto fail;
        }
        pos = t->end;
    }
    if (pos != data_len) {
        st = fv__fail(FV_ERR_FORMAT,
                      "%s: byte %zu: the tensors cover %zu bytes of the %zu-byte data section; "
                      "%zu bytes at its end belong to no tensor",
                      origin, out->data_off + pos, pos, data_len, data_len - pos);
        goto fail;
    }
    return FV_OK;
fail:
    cJSON_Delete(root);
    free(json);
    fv__st_free(out);
    return st;
}

fv_status fv__st_read(const char *path, fv_st_file *out)
{
    memset(out, 0, sizeof *out);
    /* A regular file is mapped (read-only, populated at once): the page cache's pages themselves,
     * where reading it copied them into fresh pages the kernel had to clear first (a one-image
     * `fovea predict` spent a third of its model loading so). Anything else, or a failed map, is
     * read as before. */
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 8 &&
        (uint64_t)sb.st_size <= FV__MAX_INPUT_BYTES) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        close(fd);
        if (p != MAP_FAILED) return parse(p, (size_t)sb.st_size, true, path, out);
    } else if (fd >= 0) {
        close(fd);
    }
    uint8_t *buf;
    size_t len;
    fv_status st = fv__read_file(path, FV__MAX_INPUT_BYTES, false, &buf, &len);
    if (st != FV_OK) return st;
    return fv__st_parse(buf, len, path, out);
}

const fv_st_tensor *fv__st_find(const fv_st_file *f, const char *name)
{
    int lo = 0, hi = f->ntensors; /* by_name[lo..hi) may hold it */
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        const int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *fv__st_meta(const fv_st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

void fv__st_copy_f32(const fv_st_file *f, const fv_st_tensor *t, float *out)
{
    FV_ASSERT(strcmp(t->dtype, "F32") == 0 && t->end <= f->len - f->data_off);
    const uint8_t *p = f->buf + f->data_off + t->begin;
    size_t bytes = t->end - t->begin;
#if ST_LITTLE
    memcpy(out, p, bytes);
#else
    for (size_t i = 0; i < bytes / 4; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(out + i, &u, 4);
    }
#endif
}

void fv__st_free(fv_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->ntensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->by_name);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    if (f->mapped)
        munmap(f->buf, f->len);
    else
        free(f->buf);
    memset(f, 0, sizeof *f);
}

/* ---- writer -------------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->cap - b->len < n) {
        size_t want = b->cap ? b->cap : 256;
        while (want - b->len < n) {
            if (want > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            want *= 2;
        }
        char *p = realloc(b->p, want);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = want;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* A JSON string literal, escaped as serde_json escapes it. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"':
            sb_puts(b, "\\\"");
            break;
        case '\\':
            sb_puts(b, "\\\\");
            break;
        case '\n':
            sb_puts(b, "\\n");
            break;
        case '\r':
            sb_puts(b, "\\r");
            break;
        case '\t':
            sb_puts(b, "\\t");
            break;
        case '\b':
            sb_puts(b, "\\b");
            break;
        case '\f':
            sb_puts(b, "\\f");
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_puts(b, esc);
        }
        run = s + 1;
    }
    sb_put(b, run, (size_t)(s - run));
    sb_put(b, "\"", 1);
}

static bool valid_utf8_string(const char *s)
{
    size_t n = strlen(s);
    return utf8_valid_prefix((const uint8_t *)s, n) == n;
}

/* Checks the names and sizes given to the writer; bytes[i] receives tensor i's byte count. */
static fv_status check_write_args(const char *path, const fv_st_out *t, int n,
                                  const char *const *keys, const char *const *values, int nmeta,
                                  size_t *bytes)
{
    if (n < 0 || nmeta < 0 || (n > 0 && !t) || (nmeta > 0 && (!keys || !values)))
        return fv__fail(FV_ERR_INVALID, "%s: invalid tensor or metadata list", path);
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !valid_utf8_string(t[i].name) || strcmp(t[i].name, "__metadata__") == 0)
            return fv__fail(FV_ERR_INVALID,
                            "%s: tensor %d: the name must be a UTF-8 string other than "
                            "__metadata__",
                            path, i);
        if (t[i].rank < 0 || t[i].rank > 4)
            return fv__fail(FV_ERR_INVALID, "%s: tensor \"%s\": rank %d is not 0 to 4", path,
                            t[i].name, t[i].rank);
        int64_t count = 1;
        for (int k = 0; k < t[i].rank; k++)
            if (!fv__mul_i64(count, t[i].dims[k], &count))
                return fv__fail(FV_ERR_INVALID,
                                "%s: tensor \"%s\": dimensions are negative or overflow", path,
                                t[i].name);
        if (!fv__mul_size((size_t)count, sizeof(float), &bytes[i]) || (count > 0 && !t[i].data))
            return fv__fail(FV_ERR_INVALID, "%s: tensor \"%s\": bad size or no data", path,
                            t[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(t[j].name, t[i].name) == 0)
                return fv__fail(FV_ERR_INVALID, "%s: tensor \"%s\" is given twice", path,
                                t[i].name);
    }
    for (int i = 0; i < nmeta; i++) {
        if (!keys[i] || !values[i] || !valid_utf8_string(keys[i]) || !valid_utf8_string(values[i]))
            return fv__fail(FV_ERR_INVALID,
                            "%s: metadata entry %d: key and value must be UTF-8 strings", path, i);
        for (int j = 0; j < i; j++)
            if (strcmp(keys[j], keys[i]) == 0)
                return fv__fail(FV_ERR_INVALID, "%s: metadata key \"%s\" is given twice", path,
                                keys[i]);
    }
    return FV_OK;
}

static bool write_f32(FILE *f, const float *x, size_t bytes)
{
#if ST_LITTLE
    return fwrite(x, 1, bytes, f) == bytes;
#else
    uint8_t tmp[4096];
    size_t n = bytes / 4;
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof tmp / 4 && i < n; k++, i++) {
            uint32_t u;
            memcpy(&u, x + i, 4);
            for (int j = 0; j < 4; j++)
                tmp[4 * k + j] = (uint8_t)(u >> (8 * j));
        }
        if (fwrite(tmp, 1, 4 * k, f) != 4 * k) return false;
    }
    return true;
#endif
}

fv_status fv__st_write(const char *path, const fv_st_out *t, int n, const char *const *meta_keys,
                       const char *const *meta_values, int nmeta)
{
    size_t *bytes = calloc((size_t)(n > 0 ? n : 0) + 1, sizeof *bytes);
    if (!bytes) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    sbuf h = {0};
    fv_status st = check_write_args(path, t, n, meta_keys, meta_values, nmeta, bytes);
    if (st != FV_OK) goto done;

    sb_puts(&h, "{");
    if (nmeta > 0) {
        sb_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) sb_puts(&h, ",");
            sb_json_string(&h, meta_keys[i]);
            sb_puts(&h, ":");
            sb_json_string(&h, meta_values[i]);
        }
        sb_puts(&h, "}");
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        char num[64];
        if (i || nmeta > 0) sb_puts(&h, ",");
        sb_json_string(&h, t[i].name);
        sb_puts(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < t[i].rank; k++) {
            snprintf(num, sizeof num, "%s%lld", k ? "," : "", (long long)t[i].dims[k]);
            sb_puts(&h, num);
        }
        if (off > SIZE_MAX - bytes[i]) {
            st = fv__fail(FV_ERR_INVALID, "%s: the tensors' total size overflows", path);
            goto done;
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes[i]);
        sb_puts(&h, num);
        off += bytes[i];
    }
    sb_puts(&h, "}");
    while (h.len % 8)
        sb_puts(&h, " "); /* aligns the data to 8 bytes, as the reference does */
    if (h.oom) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory building the header", path);
        goto done;
    }
    if (h.len > ST_MAX_HEADER) {
        st = fv__fail(FV_ERR_INVALID,
                      "%s: the header would be %zu bytes, more than the %llu that readers accept",
                      path, h.len, ST_MAX_HEADER);
        goto done;
    }

    fv_afile a;
    if ((st = fv__afile_open(&a, path)) != FV_OK) goto done;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    bool ok = fwrite(len8, 1, 8, a.f) == 8 && fwrite(h.p, 1, h.len, a.f) == h.len;
    for (int i = 0; ok && i < n; i++)
        ok = write_f32(a.f, t[i].data, bytes[i]);
    if (!ok) {
        st = fv__fail(FV_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        fv__afile_abort(&a);
        goto done;
    }
    st = fv__afile_commit(&a);
done:
    free(h.p);
    free(bytes);
    return st;
}
