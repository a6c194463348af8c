/* text.c — the one way text files are read (model files, CSV tables, history CSV): a UTF-8
 * byte-order mark skipped, LF, CRLF and CR line ends all made '\n', and anything that is not
 * text (a NUL byte, invalid UTF-8) refused with its line and byte offset.
 */
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

fv_status fv__text_init(fv_text *t, const char *data, size_t len, const char *origin)
{
    memset(t, 0, sizeof *t);
    t->origin = origin ? origin : "<text>";
    if (!data && len) return fv__fail(FV_ERR_INVALID, "%s: no text", t->origin);
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) i = 3;
    char *out = malloc(len - i + 1);
    if (!out) return fv__fail(FV_ERR_NOMEM, "%s: out of memory reading the text", t->origin);
    size_t o = 0;
    int64_t line = 1;
    while (i < len) {
        unsigned char c = s[i];
        if (c == '\r' || c == '\n') {
            out[o++] = '\n';
            i += c == '\r' && i + 1 < len && s[i + 1] == '\n' ? 2 : 1;
            line++;
            continue;
        }
        if (c == 0) {
            free(out);
            return fv__fail(FV_ERR_FORMAT, "%s:%lld: byte %zu of the file: a NUL byte; this is not a text file",
                            t->origin, (long long)line, i);
        }
        size_t k = utf8_len(s + i, len - i);
        if (!k) {
            free(out);
            return fv__fail(FV_ERR_FORMAT,
                            "%s:%lld: byte %zu of the file: 0x%02x is not valid UTF-8; save the file as UTF-8",
                            t->origin, (long long)line, i, c);
        }
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    t->buf = out;
    t->len = o;
    return FV_OK;
}

bool fv__text_line(fv_text *t, const char **line, size_t *len)
{
    if (!t->buf || t->pos >= t->len) return false;
    const char *start = t->buf + t->pos;
    const char *nl = memchr(start, '\n', t->len - t->pos);
    size_t n = nl ? (size_t)(nl - start) : t->len - t->pos;
    t->pos += n + (nl ? 1 : 0);
    t->line++;
    *line = start;
    *len = n;
    return true;
}

void fv__text_free(fv_text *t)
{
    if (!t) return;
    free(t->buf);
    memset(t, 0, sizeof *t);
}
