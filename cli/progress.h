/* progress.h — Keras' training progress display, driven by fit's on_batch and on_epoch callbacks:
 * a live bar redrawn in place on a terminal (verbose 1), one line per epoch otherwise
 * (verbose 2), nothing at verbose 0. Also turns SIGINT/SIGTERM into a request to stop after the
 * current step.
 */
#ifndef FOVEA_CLI_PROGRESS_H
#define FOVEA_CLI_PROGRESS_H

#include "fovea.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct progress {
    FILE *out;
    int verbose; /* 0, 1 (bar) or 2 (line per epoch) */
    int64_t epochs;
    int64_t header_for; /* the epoch whose "Epoch i/N" line was printed, -1 before any */
    double last_draw;   /* monotonic seconds of the last redraw of the bar */
    size_t prev_width;  /* characters of the bar line now on screen */
    bool mid_line;      /* a bar is on screen without its newline */
    int64_t last_epoch, last_step, last_steps; /* where training was, for messages */
} progress;

/* Sets up the display; "Epoch 1/N" is printed at the first step (unless verbose is 0). */
void progress_init(progress *p, FILE *out, int verbose, int64_t epochs);

/* Callbacks for fv_fit_opts (user = the progress). They return false once an interrupt was
 * asked for, which makes fit stop after the current step. */
bool progress_on_batch(void *user, const fv_logs *logs);
bool progress_on_epoch(void *user, const fv_logs *logs);

/* Ends a bar left mid-line (training stopped inside an epoch). */
void progress_finish(progress *p);

/* SIGINT and SIGTERM ask training to stop after the current step (a second SIGINT ends the
 * process at once); progress_interrupted() says whether that happened, and
 * progress_exit_status() gives the shell's status for it: 128 + the signal (130 for SIGINT, 143
 * for SIGTERM), 0 when none came. */
void progress_catch_signals(void);
void progress_restore_signals(void);
bool progress_interrupted(void);
int progress_exit_status(void);

/* Appends " - name: value" for each log entry in Keras' order (loss, metrics, val_loss, val_
 * metrics), values as Keras prints them (%.4f, or %.4e when |value| <= 1e-3). */
void progress_format_logs(char *buf, size_t size, const fv_logs *logs);

#endif
