/* predictions.c — a classifier's predictions for people and for programs: a table of each
 * sample's top classes (names where the model knows them) or, for many samples, a summary; and
 * the CSV of every sample and rank (index,file,rank,class,name,probability).
 */
#include "predictions.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The classes of one output row by decreasing probability (ties: the lower class first):
 * k >= 2: the softmax row; k == 1: a sigmoid unit p, class 1 with p and class 0 with 1 - p. */
static int64_t rank_row(const float *row, int64_t k, int64_t top, int64_t *cls, double *p)
{
    if (k == 1) {
        double p1 = row[0];
        bool one = p1 > 0.5; /* Keras' threshold, as fv_metrics uses it */
        cls[0] = one ? 1 : 0;
        p[0] = one ? p1 : 1 - p1;
        cls[1] = one ? 0 : 1;
        p[1] = one ? 1 - p1 : p1;
        return top < 2 ? top : 2;
    }
    int64_t m = top < k ? top : k;
    for (int64_t r = 0; r < m; r++) {
        int64_t best = -1;
        for (int64_t c = 0; c < k; c++) {
            bool taken = false;
            for (int64_t q = 0; q < r && !taken; q++)
                taken = cls[q] == c;
            if (!taken && (best < 0 || row[c] > row[best])) best = c;
        }
        cls[r] = best;
        p[r] = row[best];
    }
    return m;
}

static const char *class_name(const cli_predictions *pr, int64_t c)
{
    return pr->names && c >= 0 && c < pr->nnames ? pr->names[c] : "";
}

/* The ranks a row gives (at most top_k and at most 2 for a sigmoid unit). */
static int64_t ranks(const cli_predictions *pr)
{
    int64_t classes = pr->k == 1 ? 2 : pr->k;
    return pr->top_k < classes ? pr->top_k : classes;
}

int cli_predictions_print(FILE *out, const cli_predictions *pr, const char *written)
{
    int64_t r = ranks(pr);
    int64_t *cls = malloc((size_t)r * sizeof *cls);
    double *p = malloc((size_t)r * sizeof *p);
    int64_t classes = pr->k == 1 ? 2 : pr->k;
    int64_t *count = calloc((size_t)classes, sizeof *count);
    if (!cls || !p || !count) {
        free(cls);
        free(p);
        free(count);
        return -1;
    }
    int name_w = 4;
    for (int64_t c = 0; pr->names && c < pr->nnames; c++)
        if ((int)strlen(pr->names[c]) > name_w) name_w = (int)strlen(pr->names[c]);
    if (name_w > 40) name_w = 40;
    if (pr->n <= CLI_PREDICTIONS_TABLE_MAX) {
        fprintf(out, "%-7s%s%-7s", "index", r > 1 ? "rank  " : "", "class");
        if (pr->names) fprintf(out, "%-*s  ", name_w, "name");
        fprintf(out, "probability\n");
        for (int64_t i = 0; i < pr->n; i++) {
            int64_t m = rank_row(pr->scores + i * pr->k, pr->k, r, cls, p);
            for (int64_t q = 0; q < m; q++) {
                fprintf(out, "%-7lld", (long long)i);
                if (r > 1) fprintf(out, "%-6lld", (long long)q + 1);
                fprintf(out, "%-7lld", (long long)cls[q]);
                if (pr->names) fprintf(out, "%-*.40s  ", name_w, class_name(pr, cls[q]));
                fprintf(out, "%.4f\n", p[q]);
            }
        }
    } else {
        for (int64_t i = 0; i < pr->n; i++) {
            rank_row(pr->scores + i * pr->k, pr->k, 1, cls, p);
            count[cls[0]]++;
        }
        fprintf(out, "%lld samples; predicted class counts:\n", (long long)pr->n);
        fprintf(out, "%-7s", "class");
        if (pr->names) fprintf(out, "%-*s  ", name_w, "name");
        fprintf(out, "%8s  %6s\n", "count", "share");
        for (int64_t c = 0; c < classes; c++) {
            fprintf(out, "%-7lld", (long long)c);
            if (pr->names) fprintf(out, "%-*.40s  ", name_w, class_name(pr, c));
            fprintf(out, "%8lld  %5.1f%%\n", (long long)count[c],
                    100.0 * (double)count[c] / (double)pr->n);
        }
    }
    if (written)
        fprintf(out, "Wrote %s\n", written);
    else if (pr->n > CLI_PREDICTIONS_TABLE_MAX)
        fprintf(out, "--output P.csv writes every sample's prediction\n");
    free(cls);
    free(p);
    free(count);
    return ferror(out) ? -1 : 0;
}

/* A CSV field, quoted when it holds a separator, a quote or a line break (RFC 4180). */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
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

int cli_predictions_write_csv(const char *cmd, const char *flag, const char *path,
                              const cli_predictions *pr)
{
    int64_t r = ranks(pr);
    int64_t *cls = malloc((size_t)r * sizeof *cls);
    double *p = malloc((size_t)r * sizeof *p);
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!cls || !p || !tmp) {
        free(cls);
        free(p);
        free(tmp);
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int err = f ? 0 : errno;
    if (f) {
        fputs("index,file,rank,class,name,probability\n", f);
        for (int64_t i = 0; i < pr->n; i++) {
            int64_t m = rank_row(pr->scores + i * pr->k, pr->k, r, cls, p);
            for (int64_t q = 0; q < m; q++) {
                fprintf(f, "%lld,", (long long)i);
                csv_field(f, pr->files && pr->files[i] ? pr->files[i] : "");
                fprintf(f, ",%lld,%lld,", (long long)q + 1, (long long)cls[q]);
                csv_field(f, class_name(pr, cls[q]));
                fprintf(f, ",%.9g\n", p[q]);
            }
        }
        bool ok = !ferror(f) && fflush(f) == 0 && fsync(fileno(f)) == 0;
        if (!ok) err = errno;
        if (fclose(f) != 0 && ok) {
            ok = false;
            err = errno;
        }
        if (ok && rename(tmp, path) != 0) {
            ok = false;
            err = errno;
        }
        if (ok) err = 0;
    }
    if (err) {
        unlink(tmp);
        cli_error(cmd, "%s: cannot write '%s': %s", flag, path, strerror(err));
    }
    free(cls);
    free(p);
    free(tmp);
    return err ? CLI_FAIL : 0;
}
