/* file.c — whole-file reading (inflating gzip streams with zlib, bounded by a size limit) and
 * atomic file replacement: write "PATH.tmp.PID", flush, fsync, rename over PATH.
 */
#include "io/io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum { CHUNK = 1 << 16 };

/* Grows *buf so that it holds more than *cap bytes, never beyond limit + 1 bytes (one more than
 * allowed, so that "more than the limit" can be seen). False if it cannot grow. */
static bool grow(uint8_t **buf, size_t *cap, size_t limit)
{
    size_t want = *cap < CHUNK ? CHUNK : *cap;
    if (want > SIZE_MAX / 2) want = SIZE_MAX / 2;
    want *= 2;
    if (want > limit + 1) want = limit + 1;
    if (want <= *cap) return false;
    uint8_t *p = realloc(*buf, want);
    if (!p) return false;
    *buf = p;
    *cap = want;
    return true;
}

static fv_status read_error(const char *path)
{
    return fv__fail(FV_ERR_IO, "%s: cannot read: %s", path, errno ? strerror(errno) : "read error");
}

/* Reads the rest of f into a buffer that already holds `have` bytes. */
static fv_status read_raw(FILE *f, const char *path, size_t max_bytes, uint8_t **bufp, size_t *capp,
                          size_t have, size_t *len)
{
    for (;;) {
        if (have == *capp && !grow(bufp, capp, max_bytes)) {
            if (*capp > max_bytes)
                return fv__fail(FV_ERR_IO, "%s: the file is larger than the limit of %zu bytes",
                                path, max_bytes);
            return fv__fail(FV_ERR_NOMEM, "%s: out of memory reading the file (%zu bytes so far)",
                            path, have);
        }
        size_t want = *capp - have;
        size_t got = fread(*bufp + have, 1, want, f);
        have += got;
        if (got < want) {
            if (ferror(f)) return read_error(path);
            break;
        }
    }
    if (have > max_bytes)
        return fv__fail(FV_ERR_IO, "%s: the file is larger than the limit of %zu bytes", path,
                        max_bytes);
    *len = have;
    return FV_OK;
}

/* Inflates the gzip stream of f (one or more members) whose first `nin` bytes are already in
 * in[]. Output goes to a growing buffer bounded by max_bytes. */
static fv_status inflate_gzip(FILE *f, const char *path, size_t max_bytes, uint8_t *in, size_t nin,
                              uint8_t **bufp, size_t *capp, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return fv__fail(FV_ERR_NOMEM, "%s: cannot start zlib decompression", path);
    fv_status st = FV_OK;
    uint64_t fed = nin; /* compressed bytes handed to zlib so far */
    bool eof = false, member_done = false;
    int members = 0; /* completed gzip members */
    size_t have = 0;
    z.next_in = in;
    z.avail_in = (uInt)nin;
    for (;;) {
        if (z.avail_in == 0 && !eof) {
            size_t got = fread(in, 1, CHUNK, f);
            if (got == 0) {
                if (ferror(f)) {
                    st = read_error(path);
                    goto done;
                }
                eof = true;
            }
            z.next_in = in;
            z.avail_in = (uInt)got;
            fed += got;
        }
        if (member_done) {
            if (z.avail_in == 0 && eof) break; /* clean end after the last member */
            if (z.avail_in == 0) continue;
            /* Another gzip member follows (as `cat a.gz b.gz` makes); inflate it too. */
            if (inflateReset(&z) != Z_OK) {
                st = fv__fail(FV_ERR_NOMEM, "%s: cannot restart zlib decompression", path);
                goto done;
            }
            member_done = false;
        }
        if (have == *capp && !grow(bufp, capp, max_bytes)) {
            if (*capp > max_bytes)
                st = fv__fail(FV_ERR_IO, "%s: decompresses to more than the limit of %zu bytes",
                              path, max_bytes);
            else
                st = fv__fail(FV_ERR_NOMEM, "%s: out of memory decompressing (%zu bytes so far)",
                              path, have);
            goto done;
        }
        size_t room = *capp - have;
        if (room > (1u << 30)) room = 1u << 30;
        z.next_out = *bufp + have;
        z.avail_out = (uInt)room;
        int ret = inflate(&z, Z_NO_FLUSH);
        have += room - z.avail_out;
        uint64_t pos = fed - z.avail_in;
        switch (ret) {
        case Z_STREAM_END:
            member_done = true;
            members++;
            break;
        case Z_OK:
            break;
        case Z_BUF_ERROR: /* no progress possible: more input needed, or more room */
            if (z.avail_in == 0 && eof) {
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: byte %llu: unexpected end of compressed data (the gzip stream "
                              "is truncated)",
                              path, (unsigned long long)pos);
                goto done;
            }
            break;
        case Z_MEM_ERROR:
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory in zlib", path);
            goto done;
        default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            if (members > 0 && z.total_out == 0)
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: byte %llu: data after the end of the compressed stream is not "
                              "another gzip member (%s)",
                              path, (unsigned long long)pos, z.msg ? z.msg : "bad header");
            else
                st = fv__fail(FV_ERR_FORMAT, "%s: byte %llu: corrupt compressed data (%s)", path,
                              (unsigned long long)pos, z.msg ? z.msg : "zlib error");
            goto done;
        }
    }
    *len = have;
done:
    inflateEnd(&z);
    return st;
}

fv_status fv__read_file(const char *path, size_t max_bytes, bool gunzip, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (max_bytes >= SIZE_MAX - 1) max_bytes = SIZE_MAX - 2;
    FILE *f = fopen(path, "rb");
    if (!f) return fv__fail(FV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fv_status st = FV_OK;
    uint8_t *out = NULL, *in = NULL;
    size_t cap = 0, nin = 0;

    struct stat sb;
    if (fstat(fileno(f), &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            st = fv__fail(FV_ERR_IO, "%s: cannot read: it is a directory", path);
            goto fail;
        }
    }
    in = malloc(CHUNK);
    if (!in) {
        st = fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    /* Peek at the first bytes: a gzip stream starts 0x1f 0x8b. */
    nin = fread(in, 1, CHUNK, f);
    if (nin < CHUNK && ferror(f)) {
        st = read_error(path);
        goto fail;
    }
    if (gunzip && nin >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
        st = inflate_gzip(f, path, max_bytes, in, nin, &out, &cap, len);
    } else {
        /* A regular file's size is known: allocate it at once (plus one byte to see EOF). */
        size_t first = nin;
        if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
            if ((uint64_t)sb.st_size > max_bytes) {
                st = fv__fail(FV_ERR_IO, "%s: the file is %lld bytes, more than the limit of %zu",
                              path, (long long)sb.st_size, max_bytes);
                goto fail;
            }
            first = (size_t)sb.st_size;
        }
        if (first < nin) first = nin;
        cap = first + 1;
        out = malloc(cap);
        if (!out) {
            st = fv__fail(FV_ERR_NOMEM, "%s: out of memory: cannot hold %zu bytes", path, first);
            goto fail;
        }
        memcpy(out, in, nin);
        st = read_raw(f, path, max_bytes, &out, &cap, nin, len);
    }
    if (st != FV_OK) goto fail;
    free(in);
    fclose(f);
    if (!out) { /* an empty gzip member list never allocates; keep *buf non-NULL */
        out = malloc(1);
        if (!out) return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    }
    *buf = out;
    return FV_OK;
fail:
    free(in);
    free(out);
    fclose(f);
    *len = 0;
    return st;
}

/* ---- atomic replacement -------------------------------------------------------------------- */

static void afile_release(fv_afile *a)
{
    free(a->tmp_path);
    free(a->path);
    a->f = NULL;
    a->tmp_path = NULL;
    a->path = NULL;
}

fv_status fv__afile_open(fv_afile *a, const char *path)
{
    a->f = NULL;
    a->tmp_path = NULL;
    a->path = NULL;
    if (!path || !*path) return fv__fail(FV_ERR_INVALID, "cannot write a file with an empty name");
    size_t n = strlen(path) + 32;
    a->path = fv__strdup(path);
    a->tmp_path = malloc(n);
    if (!a->path || !a->tmp_path) {
        afile_release(a);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(a->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp_path, "wb");
    if (!a->f) {
        fv_status st =
            fv__fail(FV_ERR_IO, "%s: cannot create %s: %s", path, a->tmp_path, strerror(errno));
        afile_release(a);
        return st;
    }
    return FV_OK;
}

/* Makes the rename itself durable; failure here does not undo a completed write. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash)
        dir = fv__strdup(".");
    else if (slash == path)
        dir = fv__strdup("/");
    else if ((dir = malloc((size_t)(slash - path) + 1)) != NULL) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

fv_status fv__afile_commit(fv_afile *a)
{
    if (!a->f) return fv__fail(FV_ERR_STATE, "commit of a file that is not open");
    fv_status st = FV_OK;
    int err = 0;
    if (fflush(a->f) != 0 || ferror(a->f))
        err = errno ? errno : EIO;
    else if (fsync(fileno(a->f)) != 0)
        err = errno;
    if (fclose(a->f) != 0 && !err) err = errno ? errno : EIO;
    a->f = NULL;
    if (err) {
        st = fv__fail(FV_ERR_IO, "%s: cannot write %s: %s", a->path, a->tmp_path, strerror(err));
        unlink(a->tmp_path);
    } else if (rename(a->tmp_path, a->path) != 0) {
        st = fv__fail(FV_ERR_IO, "%s: cannot rename %s over it: %s", a->path, a->tmp_path,
                      strerror(errno));
        unlink(a->tmp_path);
    } else {
        sync_parent_dir(a->path);
    }
    afile_release(a);
    return st;
}

void fv__afile_abort(fv_afile *a)
{
    if (!a) return;
    if (a->f) fclose(a->f);
    if (a->tmp_path) unlink(a->tmp_path);
    afile_release(a);
}

fv_status fv__write_json(const char *path, cJSON *root, bool pretty)
{
    char *text = !root ? NULL : pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return fv__fail(FV_ERR_NOMEM, "%s: out of memory for the JSON", path);
    fv_afile a;
    fv_status st = fv__afile_open(&a, path);
    if (st == FV_OK) {
        fputs(text, a.f);
        fputc('\n', a.f);
        st = fv__afile_commit(&a);
    }
    cJSON_free(text);
    return st;
}

fv_status fv__make_dirs(const char *path)
{
    char *p = fv__strdup(path);
    if (!p) return fv__fail(FV_ERR_NOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char keep = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            fv_status st =
                fv__fail(FV_ERR_IO, "%s: cannot make the folder: %s", p, strerror(errno));
            free(p);
            return st;
        }
        *s = keep;
        if (!keep) break;
    }
    free(p);
    return FV_OK;
}
