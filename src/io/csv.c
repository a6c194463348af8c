/* csv.c — comma-separated tables: a header row of column names (the first non-empty line), then
 * rows of finite numbers (and, in a label column, class names). RFC 4180 quoting; the text is
 * read through fv__text_init (a byte-order mark skipped, LF, CRLF or CR line ends, UTF-8 only).
 * Numbers are read in the C locale whatever the program's locale is.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l: numbers in the C locale without touching the thread's locale */
#endif
#include "io/io.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A cursor over the text. */
typedef struct ccur {
    const char *s;
    size_t pos, len;
    int64_t line;
    const char *origin;
} ccur;

/* The fields of one record, unquoted, each NUL-terminated in buf. */
typedef struct record {
    char *buf;
    size_t used, cap;
    size_t *start; /* offsets of the fields in buf */
    int64_t n, ncap;
    int64_t line; /* where the record starts */
} record;

static bool rec_putc(record *r, char ch)
{
    if (r->used == r->cap) {
        size_t want = r->cap ? r->cap * 2 : 256;
        if (want < r->cap) return false;
        char *p = realloc(r->buf, want);
        if (!p) return false;
        r->buf = p;
        r->cap = want;
    }
    r->buf[r->used++] = ch;
    return true;
}

static bool rec_new_field(record *r)
{
    if (r->n == r->ncap) {
        int64_t want = r->ncap ? r->ncap * 2 : 16;
        size_t bytes;
        if (!fv__mul_size((size_t)want, sizeof *r->start, &bytes)) return false;
        size_t *p = realloc(r->start, bytes);
        if (!p) return false;
        r->start = p;
        r->ncap = want;
    }
    r->start[r->n++] = r->used;
    return true;
}

static bool at_eol(const ccur *c)
{
    return c->pos < c->len && (c->s[c->pos] == '\n' || c->s[c->pos] == '\r');
}

/* Consumes one line break ("\r\n", "\n" or a lone "\r"). */
static void eat_eol(ccur *c)
{
    if (c->s[c->pos] == '\r' && c->pos + 1 < c->len && c->s[c->pos + 1] == '\n') c->pos++;
    c->pos++;
    c->line++;
}

/* Skips lines that are empty or hold only spaces and tabs. False at the end of the text. */
static bool skip_blank_lines(ccur *c)
{
    for (;;) {
        size_t p = c->pos;
        while (p < c->len && (c->s[p] == ' ' || c->s[p] == '\t'))
            p++;
        if (p == c->len) {
            c->pos = p;
            return false;
        }
        if (c->s[p] != '\n' && c->s[p] != '\r') return true;
        c->pos = p;
        eat_eol(c);
    }
}

/* A printable, shortened copy of text from the file, for messages. */
static const char *shown(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    for (; *s && o + 8 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
        else
            buf[o++] = (char)ch;
    }
    if (*s) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* Reads one record (the cursor is at its first character, not at a line end). */
static fv_status read_record(ccur *c, record *r)
{
    r->used = 0;
    r->n = 0;
    r->line = c->line;
    for (;;) {
        if (!rec_new_field(r)) goto nomem;
        if (c->pos < c->len && c->s[c->pos] == '"') {
            int64_t opened = c->line;
            c->pos++;
            for (;;) {
                if (c->pos >= c->len)
                    return fv__fail(FV_ERR_FORMAT,
                                    "%s: line %lld: a quoted field opened on line %lld is never "
                                    "closed",
                                    c->origin, (long long)c->line, (long long)opened);
                char ch = c->s[c->pos];
                if (ch == '"') {
                    if (c->pos + 1 < c->len && c->s[c->pos + 1] == '"') {
                        if (!rec_putc(r, '"')) goto nomem;
                        c->pos += 2;
                        continue;
                    }
                    c->pos++;
                    break;
                }
                if (ch == '\n' ||
                    (ch == '\r' && !(c->pos + 1 < c->len && c->s[c->pos + 1] == '\n')))
                    c->line++;
                if (!rec_putc(r, ch)) goto nomem;
                c->pos++;
            }
            while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t'))
                c->pos++;
            if (c->pos < c->len && c->s[c->pos] != ',' && !at_eol(c)) {
                char bad[16];
                char one[2] = {c->s[c->pos], '\0'};
                return fv__fail(FV_ERR_FORMAT,
                                "%s: line %lld: found \"%s\" after a closing quote; expected ',' "
                                "or the end of the line",
                                c->origin, (long long)c->line, shown(one, bad, sizeof bad));
            }
        } else {
            while (c->pos < c->len && c->s[c->pos] != ',' && !at_eol(c)) {
                if (!rec_putc(r, c->s[c->pos])) goto nomem;
                c->pos++;
            }
        }
        if (!rec_putc(r, '\0')) goto nomem;
        if (c->pos < c->len && c->s[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (c->pos < c->len) eat_eol(c);
        return FV_OK;
    }
nomem:
    return fv__fail(FV_ERR_NOMEM, "%s: line %lld: out of memory", c->origin, (long long)c->line);
}

/* The cell's text without the spaces and tabs around it (trimmed in place). */
static char *trimmed_cell(const record *r, int64_t k)
{
    char *s = r->buf + r->start[k];
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static bool is_empty_cell(const record *r, int64_t k)
{
    return *trimmed_cell(r, k) == '\0';
}

/* Parses a cell as a finite number. */
static fv_status parse_cell(const ccur *c, const record *r, int64_t k, const char *colname,
                            locale_t cloc, double *v)
{
    char *s = r->buf + r->start[k];
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    char cn[96], txt[96];
    if (n == 0)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: line %lld, column \"%s\": empty cell; expected a number", c->origin,
                        (long long)r->line, shown(colname, cn, sizeof cn));
    char *end;
    errno = 0;
    double x = strtod_l(s, &end, cloc);
    if (end == s || *end != '\0')
        return fv__fail(FV_ERR_FORMAT, "%s: line %lld, column \"%s\": \"%s\" is not a number",
                        c->origin, (long long)r->line, shown(colname, cn, sizeof cn),
                        shown(s, txt, sizeof txt));
    if (!isfinite(x) || (errno == ERANGE && fabs(x) > 1.0))
        return fv__fail(FV_ERR_FORMAT,
                        "%s: line %lld, column \"%s\": \"%s\" is not a finite number in range",
                        c->origin, (long long)r->line, shown(colname, cn, sizeof cn),
                        shown(s, txt, sizeof txt));
    *v = x;
    return FV_OK;
}

/* Parses the table; label names the column whose cells may be text (class names), label_last
 * makes it the last column, neither: every cell is a number. */
static fv_status csv_parse(const char *text, size_t len, const char *origin, const char *label,
                           bool label_last, fv_csv *out)
{
    memset(out, 0, sizeof *out);
    out->text_col = -1;
    fv_status st = FV_OK;
    record r = {0};
    int64_t cap = 0;
    locale_t cloc = (locale_t)0;
    fv_text t;
    if ((st = fv__text_init(&t, text, len, origin)) != FV_OK) goto fail;
    ccur c = {t.buf, 0, t.len, 1, origin};
    if (!skip_blank_lines(&c)) {
        st = fv__fail(FV_ERR_FORMAT,
                      "%s: line %lld: the file is empty; expected a header row of "
                      "column names",
                      origin, (long long)c.line);
        goto fail;
    }
    if ((st = read_record(&c, &r)) != FV_OK) goto fail;
    if (r.n > INT_MAX) {
        st = fv__fail(FV_ERR_FORMAT, "%s: line %lld: too many columns", origin, (long long)r.line);
        goto fail;
    }
    int64_t header_line = r.line;
    out->ncols = (int)r.n;
    out->names = calloc((size_t)r.n, sizeof(char *));
    if (!out->names) goto nomem;
    for (int64_t k = 0; k < r.n; k++) {
        char *s = r.buf + r.start[k];
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        if (!(out->names[k] = fv__strdup(s))) goto nomem;
    }
    if (label_last) out->text_col = out->ncols - 1;
    if (label) out->text_col = fv__csv_column(out, label);

    cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (cloc == (locale_t)0) goto nomem;
    while (skip_blank_lines(&c)) {
        if ((st = read_record(&c, &r)) != FV_OK) goto fail;
        if (r.n != out->ncols) {
            st = fv__fail(FV_ERR_FORMAT,
                          "%s: line %lld: %lld field%s, but the header (line %lld) has %d columns",
                          origin, (long long)r.line, (long long)r.n, r.n == 1 ? "" : "s",
                          (long long)header_line, out->ncols);
            goto fail;
        }
        if (out->nrows == cap) {
            int64_t want = cap ? cap * 2 : 64, cells;
            size_t bytes, lbytes;
            if (!fv__mul_i64(want, out->ncols, &cells) ||
                !fv__mul_size((size_t)cells, sizeof(double), &bytes) ||
                !fv__mul_size((size_t)want, sizeof(int64_t), &lbytes))
                goto nomem;
            double *p = realloc(out->cells, bytes ? bytes : 1);
            if (!p) goto nomem;
            out->cells = p;
            int64_t *l = realloc(out->lines, lbytes);
            if (!l) goto nomem;
            out->lines = l;
            if (out->text_col >= 0) {
                char **tx = realloc(out->text, (size_t)want * sizeof *tx);
                if (!tx) goto nomem;
                out->text = tx;
            }
            cap = want;
        }
        double *row = out->cells + out->nrows * out->ncols;
        if (out->text_col >= 0) out->text[out->nrows] = NULL;
        for (int k = 0; k < out->ncols; k++) {
            st = parse_cell(&c, &r, k, out->names[k], cloc, &row[k]);
            if (st == FV_ERR_FORMAT && k == out->text_col && !is_empty_cell(&r, k)) {
                /* a class name: kept as text, the number left NaN */
                row[k] = NAN;
                if (!(out->text[out->nrows] = fv__strdup(trimmed_cell(&r, k)))) goto nomem;
                fv__error_clear();
                st = FV_OK;
            }
            if (st != FV_OK) {
                out->nrows++; /* so that fv__csv_free frees this row's text */
                goto fail;
            }
        }
        out->lines[out->nrows++] = r.line;
    }
    freelocale(cloc);
    free(r.buf);
    free(r.start);
    fv__text_free(&t);
    return FV_OK;
nomem:
    st = fv__fail(FV_ERR_NOMEM, "%s: out of memory reading the table", origin);
fail:
    if (cloc != (locale_t)0) freelocale(cloc);
    free(r.buf);
    free(r.start);
    fv__text_free(&t);
    fv__csv_free(out);
    return st;
}

fv_status fv__csv_parse(const char *text, size_t len, const char *origin, fv_csv *out)
{
    return csv_parse(text, len, origin, NULL, false, out);
}

fv_status fv__csv_parse_labelled(const char *text, size_t len, const char *origin,
                                 const char *label_column, fv_csv *out)
{
    return csv_parse(text, len, origin, label_column, label_column == NULL, out);
}

fv_status fv__csv_read(const char *path, fv_csv *out)
{
    return fv__csv_read_labelled(path, NULL, false, out);
}

fv_status fv__csv_read_labelled(const char *path, const char *label_column, bool labelled,
                                fv_csv *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    fv_status st = fv__read_file(path, FV__MAX_INPUT_BYTES, true, &buf, &len);
    if (st != FV_OK) return st;
    st = labelled ? fv__csv_parse_labelled((const char *)buf, len, path, label_column, out)
                  : fv__csv_parse((const char *)buf, len, path, out);
    free(buf);
    return st;
}

int fv__csv_column(const fv_csv *c, const char *name)
{
    for (int i = 0; i < c->ncols; i++)
        if (strcmp(c->names[i], name) == 0) return i;
    return -1;
}

void fv__csv_free(fv_csv *c)
{
    if (!c) return;
    if (c->names)
        for (int i = 0; i < c->ncols; i++)
            free(c->names[i]);
    free(c->names);
    free(c->cells);
    free(c->lines);
    if (c->text)
        for (int64_t i = 0; i < c->nrows; i++)
            free(c->text[i]);
    free(c->text);
    memset(c, 0, sizeof *c);
}
