/* npy.c — NumPy's .npy format, versions 1.0, 2.0 and 3.0: magic "\x93NUMPY", a Python dict
 * literal {'descr': ..., 'fortran_order': ..., 'shape': (...)} and the raw C-order data.
 * Reads little-endian float32 and uint8; writes float32 with a version 1.0 header.
 */
#include "io/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_RANK 8

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__)
#error "cannot tell the byte order of this machine"
#endif

/* A cursor over the header dict; pos is relative to the file start, for messages. */
typedef struct hcur {
    const uint8_t *p; /* the whole file */
    size_t pos, end;
    const char *origin;
} hcur;

static void skip_ws(hcur *c)
{
    while (c->pos < c->end && (c->p[c->pos] == ' ' || c->p[c->pos] == '\t' ||
                               c->p[c->pos] == '\n' || c->p[c->pos] == '\r'))
        c->pos++;
}

static fv_status expected(const hcur *c, const char *what)
{
    if (c->pos >= c->end)
        return fv__fail(FV_ERR_FORMAT, "%s: byte %zu: the .npy header ends where %s was expected",
                        c->origin, c->pos, what);
    uint8_t ch = c->p[c->pos];
    if (ch >= 0x20 && ch < 0x7f)
        return fv__fail(FV_ERR_FORMAT, "%s: byte %zu: found '%c' in the .npy header; expected %s",
                        c->origin, c->pos, ch, what);
    return fv__fail(FV_ERR_FORMAT,
                    "%s: byte %zu: found byte 0x%02x in the .npy header; expected %s", c->origin,
                    c->pos, ch, what);
}

static bool accept(hcur *c, char ch)
{
    skip_ws(c);
    if (c->pos < c->end && c->p[c->pos] == (uint8_t)ch) {
        c->pos++;
        return true;
    }
    return false;
}

/* A quoted Python string without escapes, copied (truncated) into out. */
static fv_status parse_string(hcur *c, char *out, size_t n)
{
    skip_ws(c);
    if (c->pos >= c->end || (c->p[c->pos] != '\'' && c->p[c->pos] != '"'))
        return expected(c, "a quoted string");
    uint8_t q = c->p[c->pos++];
    size_t start = c->pos, k = 0;
    while (c->pos < c->end && c->p[c->pos] != q) {
        uint8_t ch = c->p[c->pos];
        if (ch == '\\' || ch == '\n')
            return fv__fail(FV_ERR_FORMAT,
                            "%s: byte %zu: escapes and line breaks are not supported in .npy "
                            "header strings",
                            c->origin, c->pos);
        if (k + 1 < n) out[k++] = (char)ch;
        c->pos++;
    }
    if (c->pos >= c->end)
        return fv__fail(FV_ERR_FORMAT, "%s: byte %zu: string in the .npy header is not closed",
                        c->origin, start - 1);
    c->pos++;
    out[k] = '\0';
    return FV_OK;
}

static bool accept_word(hcur *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if (c->end - c->pos < n || memcmp(c->p + c->pos, w, n) != 0) return false;
    size_t after = c->pos + n;
    if (after < c->end) {
        uint8_t ch = c->p[after];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_')
            return false;
    }
    c->pos = after;
    return true;
}

/* A tuple of non-negative integers: "()", "(3,)", "(60000, 28, 28)"; "3L" (Python 2) too. */
static fv_status parse_shape(hcur *c, fv_npy *out)
{
    skip_ws(c);
    if (!accept(c, '(')) return expected(c, "a tuple such as (60000, 784) for 'shape'");
    out->rank = 0;
    for (;;) {
        if (accept(c, ')')) break;
        skip_ws(c);
        size_t at = c->pos;
        if (c->pos >= c->end || c->p[c->pos] < '0' || c->p[c->pos] > '9')
            return expected(c, "a non-negative integer in 'shape'");
        int64_t v = 0;
        while (c->pos < c->end && c->p[c->pos] >= '0' && c->p[c->pos] <= '9') {
            if (!fv__mul_i64(v, 10, &v) || !fv__add_i64(v, c->p[c->pos] - '0', &v))
                return fv__fail(FV_ERR_FORMAT,
                                "%s: byte %zu: a dimension in 'shape' overflows 64 bits", c->origin,
                                at);
            c->pos++;
        }
        if (c->pos < c->end && (c->p[c->pos] == 'L' || c->p[c->pos] == 'l')) c->pos++;
        if (out->rank == NPY_MAX_RANK)
            return fv__fail(FV_ERR_FORMAT,
                            "%s: byte %zu: 'shape' has more than %d dimensions, the most fovea "
                            "reads",
                            c->origin, at, NPY_MAX_RANK);
        out->dims[out->rank++] = v;
        if (accept(c, ')')) break;
        if (!accept(c, ',')) return expected(c, "',' or ')' in 'shape'");
    }
    return FV_OK;
}

/* Parses the magic, version and header dict; fills rank, dims, count, is_u8 and *data_off. */
static fv_status parse_header(const uint8_t *buf, size_t len, const char *origin, fv_npy *out,
                              size_t *data_off)
{
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
            return fv__fail(FV_ERR_FORMAT,
                            "%s: byte %zu: file ends inside the .npy preamble (10 bytes needed)",
                            origin, len);
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte 0: not a .npy file: it does not start with \"\\x93NUMPY\"",
                        origin);
    }
    int major = buf[6], minor = buf[7];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return fv__fail(FV_ERR_FORMAT,
                            "%s: byte %zu: file ends inside the .npy preamble (12 bytes needed)",
                            origin, len);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte 6: .npy version %d.%d is not supported; expected 1.0, 2.0 or "
                        "3.0",
                        origin, major, minor);
    }
    if (hlen > len - hstart)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte 8: .npy header length %zu but only %zu bytes follow", origin,
                        hlen, len - hstart);

    hcur c = {buf, hstart, hstart + hlen, origin};
    char descr[32] = "";
    bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
    size_t fortran_at = 0;
    fv_status st;
    if (!accept(&c, '{')) return expected(&c, "'{' opening the .npy header dict");
    for (;;) {
        if (accept(&c, '}')) break;
        char key[32];
        skip_ws(&c);
        size_t key_at = c.pos;
        if ((st = parse_string(&c, key, sizeof key)) != FV_OK) return st;
        if (!accept(&c, ':')) return expected(&c, "':' after a key");
        bool *have;
        skip_ws(&c);
        if (strcmp(key, "descr") == 0) {
            have = &have_descr;
            if (c.pos < c.end && c.p[c.pos] == '[')
                return fv__fail(FV_ERR_FORMAT,
                                "%s: byte %zu: structured dtypes are not supported; expected "
                                "'descr' '<f4' (float32) or '|u1' (uint8)",
                                origin, c.pos);
            if ((st = parse_string(&c, descr, sizeof descr)) != FV_OK) return st;
        } else if (strcmp(key, "fortran_order") == 0) {
            have = &have_fortran;
            fortran_at = c.pos;
            if (accept_word(&c, "True"))
                fortran = true;
            else if (accept_word(&c, "False"))
                fortran = false;
            else
                return expected(&c, "True or False for 'fortran_order'");
        } else if (strcmp(key, "shape") == 0) {
            have = &have_shape;
            if ((st = parse_shape(&c, out)) != FV_OK) return st;
        } else {
            return fv__fail(FV_ERR_FORMAT,
                            "%s: byte %zu: unknown key '%s' in the .npy header; expected "
                            "'descr', 'fortran_order' and 'shape'",
                            origin, key_at, key);
        }
        if (*have)
            return fv__fail(FV_ERR_FORMAT,
                            "%s: byte %zu: key '%s' appears twice in the .npy "
                            "header",
                            origin, key_at, key);
        *have = true;
        if (accept(&c, '}')) break;
        if (!accept(&c, ',')) return expected(&c, "',' or '}' in the .npy header dict");
    }
    skip_ws(&c);
    if (c.pos != c.end) return expected(&c, "the end of the .npy header after '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return fv__fail(FV_ERR_FORMAT, "%s: byte %zu: the .npy header has no '%s' key", origin,
                        hstart,
                        !have_descr     ? "descr"
                        : !have_fortran ? "fortran_order"
                                        : "shape");
    if (fortran)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte %zu: 'fortran_order': True is not supported; save the array "
                        "in C order (numpy.ascontiguousarray)",
                        origin, fortran_at);
    /* Numbers of any width numpy writes by default (int64 labels, float64 arrays) are read;
     * everything but uint8 becomes float32 (fv__npy_parse converts). */
    static const struct {
        const char *descr;
        int size;
    } types[] = {{"<f4", 4}, {"<f8", 8}, {"<i8", 8}, {"<i4", 4}, {"<i2", 2},
                 {"|i1", 1}, {"<u8", 8}, {"<u4", 4}, {"<u2", 2}, {"|b1", 1}};
    out->is_u8 = strcmp(descr, "|u1") == 0 || strcmp(descr, "<u1") == 0;
    out->elem = out->is_u8 ? 1 : 0;
    for (size_t i = 0; !out->is_u8 && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(descr, types[i].descr) == 0) {
            snprintf(out->descr, sizeof out->descr, "%s", descr);
            out->elem = types[i].size;
        }
    if (!out->elem)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: the array's type '%s' is not supported: fovea reads little-endian "
                        "numbers (float32, float64, signed and unsigned integers, bool; uint8 as "
                        "pixels scaled by 1/255); save it with x.astype(numpy.float32)",
                        origin, descr);

    int64_t count = 1;
    for (int i = 0; i < out->rank; i++)
        if (!fv__mul_i64(count, out->dims[i], &count))
            return fv__fail(FV_ERR_FORMAT,
                            "%s: byte %zu: the .npy 'shape' has an element count that overflows "
                            "64 bits",
                            origin, hstart);
    int64_t bytes;
    if (!fv__mul_i64(count, out->elem, &bytes))
        return fv__fail(FV_ERR_FORMAT, "%s: byte %zu: the .npy data size overflows 64 bits", origin,
                        hstart);
    size_t off = hstart + hlen, avail = len - off;
    char shape[200];
    size_t o = 0;
    shape[0] = '\0';
    for (int i = 0; i < out->rank && o < sizeof shape; i++)
        o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%lld", i ? ", " : "",
                              (long long)out->dims[i]);
    if ((uint64_t)bytes > (uint64_t)avail)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte %zu: .npy header claims shape (%s) of %s = %lld bytes but only "
                        "%zu follow",
                        origin, off, shape, descr, (long long)bytes, avail);
    if ((uint64_t)bytes < (uint64_t)avail)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte %llu: .npy header claims shape (%s) of %s = %lld bytes but %zu "
                        "follow (%llu trailing bytes)",
                        origin, (unsigned long long)(off + (size_t)bytes), shape, descr,
                        (long long)bytes, avail, (unsigned long long)(avail - (size_t)bytes));
    out->count = count;
    *data_off = off;
    return FV_OK;
}

static void fix_byte_order(fv_npy *n)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    if (!n->is_u8) {
        uint8_t *p = n->data;
        for (int64_t i = 0; i < n->count; i++, p += n->elem)
            for (int a = 0, b = n->elem - 1; a < b; a++, b--) {
                uint8_t t = p[a];
                p[a] = p[b], p[b] = t;
            }
    }
#else
    (void)n;
#endif
}

/* The elements as float32, in place when they are 4 bytes wide, else in a new buffer (the old
 * one freed). Integers beyond 2^24 round to the nearest float; FV_ERR_NOMEM if out of memory. */
static fv_status to_float32(fv_npy *n, const char *origin)
{
    if (n->is_u8 || strcmp(n->descr, "<f4") == 0) return FV_OK;
    const uint8_t *p = n->data;
    float *f = n->elem == 4 ? (float *)n->data : malloc((size_t)n->count * sizeof *f + 1);
    if (!f)
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory converting %lld values to float32", origin,
                        (long long)n->count);
    for (int64_t i = 0; i < n->count; i++, p += n->elem) {
        double v;
        const char *d = n->descr;
        if (!strcmp(d, "<f8")) {
            double x;
            memcpy(&x, p, 8);
            v = x;
        } else if (!strcmp(d, "<i8")) {
            int64_t x;
            memcpy(&x, p, 8);
            v = (double)x;
        } else if (!strcmp(d, "<i4")) {
            int32_t x;
            memcpy(&x, p, 4);
            v = x;
        } else if (!strcmp(d, "<i2")) {
            int16_t x;
            memcpy(&x, p, 2);
            v = x;
        } else if (!strcmp(d, "|i1")) {
            int8_t x;
            memcpy(&x, p, 1);
            v = x;
        } else if (!strcmp(d, "<u8")) {
            uint64_t x;
            memcpy(&x, p, 8);
            v = (double)x;
        } else if (!strcmp(d, "<u4")) {
            uint32_t x;
            memcpy(&x, p, 4);
            v = x;
        } else if (!strcmp(d, "<u2")) {
            uint16_t x;
            memcpy(&x, p, 2);
            v = x;
        } else
            v = p[0] != 0; /* |b1 */
        f[i] = (float)v;
    }
    if ((void *)f != n->data) free(n->data);
    n->data = f;
    n->elem = 4;
    snprintf(n->descr, sizeof n->descr, "<f4");
    return FV_OK;
}

fv_status fv__npy_parse(const uint8_t *buf, size_t len, const char *origin, fv_npy *out)
{
    memset(out, 0, sizeof *out);
    fv_npy tmp;
    memset(&tmp, 0, sizeof tmp);
    size_t off;
    fv_status st = parse_header(buf, len, origin, &tmp, &off);
    if (st != FV_OK) return st;
    size_t bytes = len - off;
    tmp.data = malloc(bytes ? bytes : 1);
    if (!tmp.data)
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory: cannot hold %zu bytes of .npy data",
                        origin, bytes);
    memcpy(tmp.data, buf + off, bytes);
    fix_byte_order(&tmp);
    if ((st = to_float32(&tmp, origin)) != FV_OK) {
        free(tmp.data);
        return st;
    }
    *out = tmp;
    return FV_OK;
}

fv_status fv__npy_read(const char *path, fv_npy *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len, off;
    fv_status st = fv__read_file(path, FV__MAX_INPUT_BYTES, true, &buf, &len);
    if (st != FV_OK) return st;
    fv_npy tmp;
    memset(&tmp, 0, sizeof tmp);
    if ((st = parse_header(buf, len, path, &tmp, &off)) != FV_OK) {
        free(buf);
        return st;
    }
    /* Keep the file's buffer as the data: slide the bytes down over the header. */
    size_t bytes = len - off;
    memmove(buf, buf + off, bytes);
    uint8_t *shrunk = realloc(buf, bytes ? bytes : 1);
    tmp.data = shrunk ? shrunk : buf;
    fix_byte_order(&tmp);
    if ((st = to_float32(&tmp, path)) != FV_OK) {
        free(tmp.data);
        return st;
    }
    *out = tmp;
    return FV_OK;
}

fv_status fv__npy_write_f32(const char *path, int rank, const int64_t *dims, const float *data)
{
    if (rank < 0 || rank > NPY_MAX_RANK || (rank > 0 && !dims))
        return fv__fail(FV_ERR_INVALID, "%s: .npy rank %d is not 0 to %d", path, rank,
                        NPY_MAX_RANK);
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (!fv__mul_i64(count, dims[i], &count))
            return fv__fail(FV_ERR_INVALID, "%s: .npy dimensions are negative or overflow", path);
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    }
    size_t bytes;
    if (!fv__mul_size((size_t)count, 4, &bytes) || (count > 0 && !data))
        return fv__fail(FV_ERR_INVALID, "%s: .npy data size overflows or no data given", path);
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%s), }", rank == 1 ? "," : "");
    /* numpy pads with spaces and ends with '\n' so that the data starts at a multiple of 64. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    FV_ASSERT(padded - 10 <= sizeof hdr);
    memset(hdr + n, ' ', padded - total);
    hdr[padded - 10 - 1] = '\n';
    size_t hlen = padded - 10;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)hlen, (uint8_t)(hlen >> 8)};

    fv_afile a;
    fv_status st = fv__afile_open(&a, path);
    if (st != FV_OK) return st;
    bool ok = fwrite(pre, 1, 10, a.f) == 10 && fwrite(hdr, 1, hlen, a.f) == hlen;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    ok = ok && (bytes == 0 || fwrite(data, 1, bytes, a.f) == bytes);
#else
    for (int64_t i = 0; ok && i < count; i++) {
        uint32_t u;
        memcpy(&u, data + i, 4);
        uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        ok = fwrite(b, 1, 4, a.f) == 4;
    }
#endif
    if (!ok) {
        st = fv__fail(FV_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        fv__afile_abort(&a);
        return st;
    }
    return fv__afile_commit(&a);
}

void fv__npy_free(fv_npy *n)
{
    if (!n) return;
    free(n->data);
    n->data = NULL;
    n->count = 0;
}
