/* idx.c — LeCun's IDX format (MNIST): magic 0,0,type,rank; rank big-endian u32 dimensions;
 * the unsigned bytes. Only type 0x08 is accepted, and the data must be exactly the product of
 * the dimensions: a short or long file is an error saying by how much.
 */
#include "io/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *idx_type_name(uint8_t t)
{
    switch (t) {
    case 0x08:
        return "unsigned byte";
    case 0x09:
        return "signed byte";
    case 0x0B:
        return "int16";
    case 0x0C:
        return "int32";
    case 0x0D:
        return "float32";
    case 0x0E:
        return "float64";
    }
    return NULL;
}

/* Writes "60000x28x28" into buf. */
static void format_dims(const int64_t *d, int rank, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < rank && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? "x" : "", (long long)d[i]);
}

/* Checks the header and the data size; fills out's rank, dims and count and *data_off. */
static fv_status parse_header(const uint8_t *buf, size_t len, const char *origin, fv_idx *out,
                              size_t *data_off)
{
    if (len < 4)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte %zu: file ends after %zu bytes; an IDX header needs at least 4 "
                        "(magic 00 00 08 <rank>)",
                        origin, len, len);
    if (buf[0] != 0 || buf[1] != 0) {
        const char *hint = buf[0] == 0x1f && buf[1] == 0x8b ? " (this is gzip data)" : "";
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte 0: not an IDX file: magic bytes are %02x %02x %02x %02x, "
                        "expected 00 00 08 <rank>%s",
                        origin, buf[0], buf[1], buf[2], buf[3], hint);
    }
    if (buf[2] != 0x08) {
        const char *name = idx_type_name(buf[2]);
        if (name)
            return fv__fail(FV_ERR_FORMAT,
                            "%s: byte 2: IDX type 0x%02X (%s) is not supported; expected 0x08 "
                            "(unsigned byte)",
                            origin, buf[2], name);
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte 2: unknown IDX type 0x%02X; expected 0x08 (unsigned byte)",
                        origin, buf[2]);
    }
    int rank = buf[3];
    if (rank < 1 || rank > 4)
        return fv__fail(FV_ERR_FORMAT, "%s: byte 3: IDX rank %d is not supported; expected 1 to 4",
                        origin, rank);
    size_t hdr = 4 + 4 * (size_t)rank;
    if (len < hdr)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte %zu: file ends inside the IDX header: rank %d needs %zu header "
                        "bytes but the file has %zu",
                        origin, len, rank, hdr, len);
    int64_t count = 1;
    bool overflow = false;
    for (int i = 0; i < rank; i++) {
        const uint8_t *p = buf + 4 + 4 * i;
        out->dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
                                 (uint32_t)p[3]);
        if (!overflow && !fv__mul_i64(count, out->dims[i], &count)) overflow = true;
    }
    char dims[80];
    format_dims(out->dims, rank, dims, sizeof dims);
    if (overflow)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte 4: IDX dimensions %s overflow a 64-bit element count", origin,
                        dims);
    size_t avail = len - hdr;
    if ((uint64_t)count > (uint64_t)avail)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte 4: IDX header claims %s = %lld bytes but only %zu follow", origin,
                        dims, (long long)count, avail);
    if ((uint64_t)count < (uint64_t)avail)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: byte %llu: IDX header claims %s = %lld bytes but %zu follow (%llu "
                        "trailing bytes)",
                        origin, (unsigned long long)(hdr + (size_t)count), dims, (long long)count,
                        avail, (unsigned long long)(avail - (size_t)count));
    out->rank = rank;
    for (int i = rank; i < 4; i++)
        out->dims[i] = 1;
    out->count = count;
    *data_off = hdr;
    return FV_OK;
}

fv_status fv__idx_parse(const uint8_t *buf, size_t len, const char *origin, fv_idx *out)
{
    memset(out, 0, sizeof *out);
    size_t off;
    fv_idx tmp;
    memset(&tmp, 0, sizeof tmp);
    fv_status st = parse_header(buf, len, origin, &tmp, &off);
    if (st != FV_OK) return st;
    tmp.data = malloc((size_t)tmp.count ? (size_t)tmp.count : 1);
    if (!tmp.data)
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory: cannot hold %lld bytes of IDX data",
                        origin, (long long)tmp.count);
    memcpy(tmp.data, buf + off, (size_t)tmp.count);
    *out = tmp;
    return FV_OK;
}

fv_status fv__idx_read(const char *path, fv_idx *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len, off;
    fv_status st = fv__read_file(path, FV__MAX_INPUT_BYTES, true, &buf, &len);
    if (st != FV_OK) return st;
    fv_idx tmp;
    memset(&tmp, 0, sizeof tmp);
    st = parse_header(buf, len, path, &tmp, &off);
    if (st != FV_OK) {
        free(buf);
        return st;
    }
    /* Keep the file's buffer as the data: slide the bytes down over the header. */
    memmove(buf, buf + off, (size_t)tmp.count);
    uint8_t *shrunk = realloc(buf, (size_t)tmp.count ? (size_t)tmp.count : 1);
    tmp.data = shrunk ? shrunk : buf;
    *out = tmp;
    return FV_OK;
}

fv_status fv__idx_write(const char *path, const fv_idx *idx)
{
    if (!idx || idx->rank < 1 || idx->rank > 4)
        return fv__fail(FV_ERR_INVALID, "%s: IDX rank must be 1 to 4", path);
    uint8_t hdr[20] = {0, 0, 0x08, (uint8_t)idx->rank};
    int64_t count = 1;
    for (int i = 0; i < idx->rank; i++) {
        int64_t d = idx->dims[i];
        if (d < 0 || d > (int64_t)UINT32_MAX)
            return fv__fail(FV_ERR_INVALID,
                            "%s: IDX dimension %d is %lld; it must be 0 to 4294967295", path, i,
                            (long long)d);
        if (!fv__mul_i64(count, d, &count))
            return fv__fail(FV_ERR_INVALID, "%s: IDX dimensions overflow a 64-bit count", path);
        uint8_t *p = hdr + 4 + 4 * i;
        p[0] = (uint8_t)(d >> 24);
        p[1] = (uint8_t)(d >> 16);
        p[2] = (uint8_t)(d >> 8);
        p[3] = (uint8_t)d;
    }
    if (count != idx->count || (count > 0 && !idx->data))
        return fv__fail(FV_ERR_INVALID,
                        "%s: IDX count %lld does not match the product of the dimensions %lld",
                        path, (long long)idx->count, (long long)count);
    fv_afile a;
    fv_status st = fv__afile_open(&a, path);
    if (st != FV_OK) return st;
    size_t hdr_len = 4 + 4 * (size_t)idx->rank;
    if (fwrite(hdr, 1, hdr_len, a.f) != hdr_len ||
        (count > 0 && fwrite(idx->data, 1, (size_t)count, a.f) != (size_t)count)) {
        st = fv__fail(FV_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        fv__afile_abort(&a);
        return st;
    }
    return fv__afile_commit(&a);
}

void fv__idx_free(fv_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    idx->data = NULL;
    idx->count = 0;
}
