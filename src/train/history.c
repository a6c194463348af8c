/* history.c — the History of a fit: one row of figures per epoch, columns by name; written and
 * read as CSV in the layout of Keras' CSVLogger (epoch numbered from 0, then the columns sorted
 * by name), so a fovea history and a Keras one are read by the same tools.
 */
#include "train/train.h"
#include "io/io.h" /* fv__text_init: the one text reader */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fv_history {
    int ncols;
    char **names;   /* ncols, owned */
    double **cols;  /* ncols columns of cap entries; column-major so fv_history_get is a pointer */
    int64_t epochs; /* rows filled */
    int64_t cap;    /* rows allocated in every column */
};

/* ---- building -------------------------------------------------------------------------------- */

/* A column's name and its index, to sort columns by name in O(n log n): a header of a hundred
 * thousand names must not take minutes (it did, compared pairwise). */
typedef struct named {
    const char *name;
    int index;
} named;

static int cmp_named(const void *a, const void *b)
{
    const named *x = a, *y = b;
    const int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* names[0..n) as (name, index) pairs sorted by name, then index; NULL if out of memory. */
static named *sorted_names(int n, const char *const *names)
{
    named *s = malloc(((size_t)n + 1) * sizeof *s);
    if (!s) return NULL;
    for (int c = 0; c < n; c++)
        s[c] = (named){names[c], c};
    qsort(s, (size_t)n, sizeof *s, cmp_named);
    return s;
}

/* A name the CSV round trip keeps apart from the rest: non-empty, not "epoch" (the column the
 * file adds), not repeated. Returns the index of the first bad name, or -1 (*why says why). */
static int bad_name(int ncols, const char *const *names, const char **why)
{
    int bad = -1;
    for (int c = 0; c < ncols && bad < 0; c++) {
        if (names[c][0] == '\0') {
            *why = "an empty column name";
            bad = c;
        } else if (strcmp(names[c], "epoch") == 0) {
            *why = "a second 'epoch' column";
            bad = c;
        }
    }
    named *s = sorted_names(ncols, names);
    if (!s) { /* out of memory: the same answer, pairwise */
        for (int c = 0; c < (bad < 0 ? ncols : bad); c++)
            for (int d = 0; d < c; d++)
                if (strcmp(names[c], names[d]) == 0) return *why = "a repeated column name", c;
        return bad;
    }
    /* A name equal to its predecessor in the sorted list repeats an earlier column; the first
     * repeat in file order is the smallest such index. */
    for (int i = 1; i < ncols; i++) {
        if (strcmp(s[i].name, s[i - 1].name) == 0 && (bad < 0 || s[i].index < bad)) {
            *why = "a repeated column name";
            bad = s[i].index;
        }
    }
    free(s);
    return bad;
}

void fv_history_free(fv_history *h)
{
    if (!h) return;
    for (int c = 0; c < h->ncols; c++) {
        if (h->names) free(h->names[c]);
        if (h->cols) free(h->cols[c]);
    }
    free(h->names);
    free(h->cols);
    free(h);
}

fv_history *fv__history_new(int ncols, const char *const *names)
{
    FV_ASSERT(ncols >= 0 && (ncols == 0 || names));
    for (int c = 0; c < ncols; c++)
        FV_ASSERT(names[c]);
    const char *why = NULL;
    const int bad = bad_name(ncols, names, &why);
    if (bad >= 0) {
        fv__fail(FV_ERR_INVALID, "history column %d \"%s\": %s", bad + 1, names[bad], why);
        return NULL;
    }
    fv_history *h = calloc(1, sizeof *h);
    if (!h) goto nomem;
    h->ncols = ncols;
    h->names = calloc((size_t)ncols + 1, sizeof *h->names);
    h->cols = calloc((size_t)ncols + 1, sizeof *h->cols);
    if (!h->names || !h->cols) goto nomem;
    for (int c = 0; c < ncols; c++)
        if (!(h->names[c] = fv__strdup(names[c]))) goto fail;
    return h;
nomem:
    fv__fail(FV_ERR_NOMEM, "out of memory: cannot create a history of %d columns", ncols);
fail:
    fv_history_free(h);
    return NULL;
}

fv_status fv__history_append(fv_history *h, const double *row)
{
    FV_ASSERT(h && (h->ncols == 0 || row));
    if (h->epochs == h->cap) {
        const int64_t cap = h->cap ? h->cap * 2 : 16;
        size_t bytes;
        if (cap < h->cap || !fv__mul_size((size_t)cap, sizeof(double), &bytes))
            return fv__fail(FV_ERR_NOMEM, "out of memory: history of %lld epochs",
                            (long long)h->epochs);
        /* A column that grew before a later one failed keeps its larger block: cap only counts
         * once every column has it, so a failure leaves the history as it was. */
        for (int c = 0; c < h->ncols; c++) {
            double *p = realloc(h->cols[c], bytes);
            if (!p)
                return fv__fail(FV_ERR_NOMEM, "out of memory: history of %lld epochs",
                                (long long)h->epochs);
            h->cols[c] = p;
        }
        h->cap = cap;
    }
    for (int c = 0; c < h->ncols; c++)
        h->cols[c][h->epochs] = row[c];
    h->epochs++;
    return FV_OK;
}

/* ---- access ---------------------------------------------------------------------------------- */

int64_t fv_history_epochs(const fv_history *h)
{
    return h ? h->epochs : 0;
}

int fv_history_columns(const fv_history *h)
{
    return h ? h->ncols : 0;
}

const char *fv_history_column_name(const fv_history *h, int col)
{
    return h && col >= 0 && col < h->ncols ? h->names[col] : NULL;
}

/* The pointer stays valid until the next append (which may move the column). */
const double *fv_history_get(const fv_history *h, const char *name)
{
    if (!h || !name) return NULL;
    for (int c = 0; c < h->ncols; c++)
        if (strcmp(h->names[c], name) == 0) return h->cols[c];
    return NULL;
}

/* ---- writing --------------------------------------------------------------------------------- */

/* The shortest "%.{p}g" that reads back to the same double, as Python's repr (which CSVLogger's
 * csv writer uses) gives the shortest round-tripping digits; "nan" and "inf" as Python spells
 * them. */
static void format_value(double x, char *buf, size_t n)
{
    if (isnan(x)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, n, x > 0 ? "inf" : "-inf");
        return;
    }
    /* A double's shortest round-trip form has at most 17 digits; one of 15 or fewer is also
     * what %.15g prints (15-digit decimals are all distinct doubles), so start there. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

/* A name as one CSV field: quoted (RFC 4180, "" for ") only when it holds a separator, a quote,
 * a line break or edge spaces. */
static void write_name(FILE *f, const char *s)
{
    const size_t len = strlen(s);
    if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && s[len - 1] != ' ') {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The atomic write of io.h's fv__afile_* (PATH.tmp.PID, flushed, fsync'd, renamed over PATH),
 * repeated here because train may use core only (ARCHITECTURE.md), not io. */
static FILE *afile_open(const char *path, char **tmp)
{
    const size_t n = strlen(path) + 32;
    *tmp = malloc(n);
    if (!*tmp) {
        fv__fail(FV_ERR_NOMEM, "out of memory: cannot name a temporary file for %s", path);
        return NULL;
    }
    snprintf(*tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(*tmp, "w");
    if (!f) {
        fv__fail(FV_ERR_IO, "%s: cannot create temporary file %s: %s", path, *tmp, strerror(errno));
        free(*tmp);
        *tmp = NULL;
    }
    return f;
}

static fv_status afile_commit(FILE *f, char *tmp, const char *path)
{
    int err = 0;
    if (ferror(f)) err = errno ? errno : EIO;
    if (!err && fflush(f) != 0) err = errno;
    if (!err && fsync(fileno(f)) != 0) err = errno;
    if (fclose(f) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) remove(tmp);
    free(tmp);
    if (err) return fv__fail(FV_ERR_IO, "%s: cannot write: %s", path, strerror(err));
    return FV_OK;
}

fv_status fv_history_write_csv(const fv_history *h, const char *path)
{
    if (!h || !path) return fv__fail(FV_ERR_INVALID, "fv_history_write_csv: NULL argument");
    if (!*path)
        return fv__fail(FV_ERR_INVALID, "cannot write a history to a file with an empty name");
    /* CSVLogger sorts its keys (sorted(logs.keys())): accuracy, loss, val_accuracy, val_loss. */
    named *order = sorted_names(h->ncols, (const char *const *)h->names);
    if (!order) return fv__fail(FV_ERR_NOMEM, "out of memory: writing %s", path);
    char *tmp = NULL;
    FILE *f = afile_open(path, &tmp);
    if (!f) {
        free(order);
        return FV_ERR_IO;
    }
    errno = 0;
    fputs("epoch", f);
    for (int c = 0; c < h->ncols; c++) {
        fputc(',', f);
        write_name(f, order[c].name);
    }
    fputc('\n', f);
    /* Epochs from 0, as CSVLogger writes the epoch index that fit passes to its callbacks. */
    char num[40];
    for (int64_t e = 0; e < h->epochs; e++) {
        fprintf(f, "%lld", (long long)e);
        for (int c = 0; c < h->ncols; c++) {
            format_value(h->cols[order[c].index][e], num, sizeof num);
            fputc(',', f);
            fputs(num, f);
        }
        fputc('\n', f);
    }
    free(order);
    return afile_commit(f, tmp, path);
}

/* ---- reading --------------------------------------------------------------------------------- */

/* A history file is a few kilobytes; anything past this is not one. */
#define MAX_CSV_BYTES ((size_t)64 << 20)

typedef struct lexer {
    const char *path;
    char *buf; /* len + 1 bytes: cells are unquoted in place and NUL-terminated */
    size_t len, pos;
    int64_t line;
} lexer;

typedef struct record {
    char **cells;
    int n, cap;
    int64_t line; /* where the record begins */
} record;

static fv_status read_all(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fv__fail(FV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    fv_status s = FV_OK;
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap >= MAX_CSV_BYTES) {
            s = fv__fail(FV_ERR_FORMAT, "%s: larger than %zu bytes: not a history file", path,
                         MAX_CSV_BYTES);
            break;
        }
        cap *= 2;
        char *p = realloc(b, cap + 1);
        if (!p) free(b);
        b = p;
    }
    if (!b) s = fv__fail(FV_ERR_NOMEM, "%s: out of memory reading the file", path);
    if (s == FV_OK && ferror(f))
        s = fv__fail(FV_ERR_IO, "%s: read error: %s", path, strerror(errno));
    fclose(f);
    if (s != FV_OK) {
        free(b);
        return s;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return FV_OK;
}

static fv_status push_cell(lexer *lx, record *r, char *cell)
{
    if (r->n == r->cap) {
        const int cap = r->cap ? r->cap * 2 : 16;
        char **p = realloc(r->cells, (size_t)cap * sizeof *p);
        if (!p)
            return fv__fail(FV_ERR_NOMEM, "%s: line %lld: out of memory", lx->path,
                            (long long)r->line);
        r->cells = p;
        r->cap = cap;
    }
    r->cells[r->n++] = cell;
    return FV_OK;
}

/* The next record (RFC 4180: "," between cells, CRLF or LF between records, "..." quoting with
 * "" for a quote, line breaks allowed inside quotes). Blank lines are skipped. Returns 1 with a
 * record, 0 at the end, -1 on error. */
static int next_record(lexer *lx, record *r)
{
    char *const b = lx->buf;
    for (;;) {
        if (lx->pos >= lx->len) return 0;
        r->n = 0;
        r->line = lx->line;
        bool quoted_any = false;
        for (;;) {
            char *const cell = b + lx->pos;
            char *out = cell;
            if (b[lx->pos] == '"') {
                quoted_any = true;
                lx->pos++;
                for (;;) {
                    if (lx->pos >= lx->len) {
                        fv__fail(FV_ERR_FORMAT, "%s: line %lld, column %d: unterminated quote",
                                 lx->path, (long long)r->line, r->n + 1);
                        return -1;
                    }
                    const char c = b[lx->pos++];
                    if (c == '"') {
                        if (lx->pos < lx->len && b[lx->pos] == '"') {
                            *out++ = '"';
                            lx->pos++;
                            continue;
                        }
                        break;
                    }
                    if (c == '\n') lx->line++;
                    *out++ = c;
                }
            } else {
                while (lx->pos < lx->len && b[lx->pos] != ',' && b[lx->pos] != '\n' &&
                       !(b[lx->pos] == '\r' && (lx->pos + 1 == lx->len || b[lx->pos + 1] == '\n')))
                    *out++ = b[lx->pos++];
            }
            /* out never runs ahead of pos, so the terminator overwrites only consumed bytes */
            const char end = lx->pos < lx->len ? b[lx->pos] : '\n';
            if (end != ',' && end != '\n' && end != '\r') {
                fv__fail(FV_ERR_FORMAT,
                         "%s: line %lld, column %d: unexpected character after a closing quote",
                         lx->path, (long long)lx->line, r->n + 1);
                return -1;
            }
            *out = '\0';
            if (push_cell(lx, r, cell) != FV_OK) return -1;
            if (lx->pos < lx->len) lx->pos++;
            if (end == ',') continue;
            if (end == '\r' && lx->pos < lx->len && b[lx->pos] == '\n') lx->pos++;
            lx->line++;
            break;
        }
        if (r->n == 1 && !quoted_any && r->cells[0][0] == '\0') continue; /* a blank line */
        return 1;
    }
}

/* A cell as a number: what strtod reads (decimal, exponent, nan, inf), with spaces around
 * allowed and nothing else. */
static bool parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (end == s) return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0') return false;
    if (errno == ERANGE && isinf(v)) return false; /* 1e999: out of range, not infinity */
    *out = v;
    return true;
}

static bool is_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

/* Parses the text in buf[0..len) (buf holds len + 1 bytes, the last one NUL; it is unquoted in
 * place and freed here). path names the text in messages. */
static fv_history *parse_buffer(char *buf, size_t len, const char *path)
{
    lexer lx = {.path = path, .len = len, .line = 1};
    record r = {0};
    fv_history *h = NULL;
    const char **names = NULL;
    double *row = NULL;

    /* The shared text reader: a byte-order mark skipped, CR and CRLF made LF, NUL bytes and
     * invalid UTF-8 refused with their line and offset. */
    fv_text t;
    fv_status ts = fv__text_init(&t, buf, len, path);
    free(buf);
    if (ts != FV_OK) return NULL;
    lx.buf = t.buf; /* owned from here: freed below */
    lx.len = t.len;
    const int got = next_record(&lx, &r);
    if (got < 0) goto fail;
    if (got == 0) {
        fv__fail(FV_ERR_FORMAT,
                 "%s: line 1: empty file, expected a header row with an 'epoch' column", path);
        goto fail;
    }
    const int64_t header_line = r.line;
    const int ncells = r.n;
    int epoch_col = -1;
    for (int c = 0; c < ncells && epoch_col < 0; c++)
        if (strcmp(r.cells[c], "epoch") == 0) epoch_col = c;
    if (epoch_col < 0) {
        fv__fail(FV_ERR_FORMAT, "%s: line %lld: the header has no 'epoch' column", path,
                 (long long)header_line);
        goto fail;
    }
    /* The header's cells stay in lx.buf (unquoted in place), so names can point at them. */
    names = malloc((size_t)ncells * sizeof *names);
    row = malloc((size_t)ncells * sizeof *row);
    if (!names || !row) {
        fv__fail(FV_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int ncols = 0;
    for (int c = 0; c < ncells; c++)
        if (c != epoch_col) names[ncols++] = r.cells[c];
    const char *why = NULL;
    const int bad = bad_name(ncols, names, &why);
    if (bad >= 0) {
        const int col = bad + (bad >= epoch_col); /* back to the file's 0-based column */
        fv__fail(FV_ERR_FORMAT, "%s: line %lld, column %d: \"%.40s\": %s", path,
                 (long long)header_line, col + 1, names[bad], why);
        goto fail;
    }
    if (!(h = fv__history_new(ncols, names))) goto fail;

    int g;
    while ((g = next_record(&lx, &r)) > 0) {
        if (r.n != ncells) {
            if (r.n < ncells)
                fv__fail(FV_ERR_FORMAT,
                         "%s: line %lld, column %d: the row ends after %d cells, but the header "
                         "has %d columns",
                         path, (long long)r.line, r.n + 1, r.n, ncells);
            else
                fv__fail(FV_ERR_FORMAT,
                         "%s: line %lld, column %d: the row has %d cells, but the header has %d "
                         "columns",
                         path, (long long)r.line, ncells + 1, r.n, ncells);
            goto fail;
        }
        int k = 0;
        for (int c = 0; c < ncells; c++) {
            double v;
            const char *cell = r.cells[c];
            const char *name = c == epoch_col ? "epoch" : names[c - (c > epoch_col)];
            if (is_blank(cell)) {
                fv__fail(FV_ERR_FORMAT,
                         "%s: line %lld, column %d (%s): empty cell, expected a number", path,
                         (long long)r.line, c + 1, name);
                goto fail;
            }
            if (!parse_number(cell, &v)) {
                fv__fail(FV_ERR_FORMAT, "%s: line %lld, column %d (%s): \"%.40s\" is not a number",
                         path, (long long)r.line, c + 1, name, cell);
                goto fail;
            }
            if (c != epoch_col) row[k++] = v;
        }
        if (fv__history_append(h, row) != FV_OK) {
            fv__error_prefix("%s: ", path);
            goto fail;
        }
    }
    if (g < 0) goto fail;
    free(r.cells);
    free(names);
    free(row);
    free(lx.buf);
    return h;
fail:
    fv_history_free(h);
    free(r.cells);
    free(names);
    free(row);
    free(lx.buf);
    return NULL;
}

fv_history *fv_history_read_csv(const char *path)
{
    if (!path || !*path) {
        fv__fail(FV_ERR_INVALID, "fv_history_read_csv: no file name");
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    if (read_all(path, &buf, &len) != FV_OK) return NULL;
    return parse_buffer(buf, len, path);
}

fv_history *fv__history_parse_csv(const char *text, size_t len, const char *origin)
{
    if (!text && len > 0) {
        fv__fail(FV_ERR_INVALID, "fv__history_parse_csv: NULL text");
        return NULL;
    }
    if (!origin) origin = "<history>";
    if (len > MAX_CSV_BYTES) {
        fv__fail(FV_ERR_FORMAT, "%s: larger than %zu bytes: not a history file", origin,
                 MAX_CSV_BYTES);
        return NULL;
    }
    char *buf = malloc(len + 1);
    if (!buf) {
        fv__fail(FV_ERR_NOMEM, "%s: out of memory reading the history", origin);
        return NULL;
    }
    if (len) memcpy(buf, text, len);
    buf[len] = '\0';
    return parse_buffer(buf, len, origin);
}
