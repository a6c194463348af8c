/* report.h — the parts of `fovea report`'s page that every kind of model shares (report.c: the
 * page's frame, HTML escaping, inlined PNGs, the kernels) and the sections of each kind of model,
 * one file each: a classifier's (report.c), a detector's (report_detection.c), a generative
 * model's (report_generative.c) and a pose network's (report_pose.c).
 */
#ifndef FOVEA_CLI_REPORT_H
#define FOVEA_CLI_REPORT_H

#include "fovea.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct report report;

/* One kind of model's part of the page. prepare loads the test data and computes every figure
 * before a byte of the page is written (a failure leaves no page): it fills r->meta and r->task,
 * and returns 0 or a CLI status after a message. nav writes the <a> links of its sections, cards
 * the headline figures, body the sections (calling report_kernels where they belong) and returns
 * 0 or CLI_FAIL after a message; release frees r->task (also after a failed prepare). */
typedef struct report_kind {
    int (*prepare)(report *r);
    void (*nav)(const report *r, FILE *f);
    void (*cards)(const report *r, FILE *f);
    int (*body)(report *r, FILE *f);
    void (*release)(report *r);
} report_kind;

struct report {
    const char *cmd, *model_path, *data_path, *hist_path;
    fv_model *m;
    fv_history *history;
    char **names; /* class names (--class-names, else the model's), may be NULL */
    int64_t nnames;
    int64_t examples, batch; /* --examples, --batch-size (0: the model's fit line) */
    /* the options of some kinds (NULL or 0 when not given) */
    const char *label_column, *labels, *object, *features, *layer;
    int64_t samples;
    uint64_t seed;
    char meta[256]; /* the test data in a few words, after its path: "(80 samples, 4 classes)" */
    void *task;     /* the kind's own state */
};

extern const report_kind report_classifier, report_detection, report_generative, report_pose;

/* HTML text with &, <, > and " escaped. */
void report_esc(FILE *f, const char *s);
/* <img> with p inlined as a PNG (alt text alt), p freed. NULL p (a failed drawing): the library's
 * message is reported and CLI_FAIL returned; else 0. */
int report_img(const char *cmd, FILE *f, fv_picture *p, const char *alt);
/* A table cell of v to 4 decimals ("-" for NaN). */
void report_cell(FILE *f, double v);
/* One headline figure: value to 4 decimals (digits: other decimals) above its label. */
void report_card(FILE *f, double value, int digits, const char *label);
/* Text in <pre>, escaped. */
void report_pre(FILE *f, const char *text);
/* A new zeroed state of size bytes as r->task, or NULL after a message (out of memory). */
void *report_task_new(report *r, size_t size);
/* CLI_FAIL after one message when --data is a detection or pose (BOP) folder, which `what` (the
 * model's kind in words: "a classifier") cannot read; else 0. */
int report_check_not_task_data(const report *r, const char *what);
/* What `fovea evaluate` prints, written by w(out, arg), as a folded <pre> block; nothing when w
 * fails. 0, or CLI_FAIL after a message (out of memory). */
typedef fv_status (*report_writer)(FILE *out, const void *arg);
int report_printed(const report *r, FILE *f, report_writer w, const void *arg);
/* Draws test items idx[0..n) under the heading title ("Best", "Worst"). 0 or CLI_FAIL. */
typedef int (*report_drawer)(const report *r, FILE *f, const int64_t *idx, int64_t n,
                             const char *title);
/* The best and the worst of n test items ranked best first in order (no item twice): of
 * min(--examples, n), the first half rounded up under "Best", the rest from the end of order
 * (the worst first) under "Worst", each drawn by draw. 0 or CLI_FAIL. */
int report_best_worst(const report *r, FILE *f, const int64_t *order, int64_t n,
                      report_drawer draw);
/* The "Kernels" section: each conv2d layer's kernels (`fovea viz kernels`). 0 or CLI_FAIL. */
int report_kernels(const report *r, FILE *f);

#endif
