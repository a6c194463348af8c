/* predictions.h — printing and writing a classifier's predictions: a table for a few samples, a
 * summary for many, and a CSV of one row per sample and rank.
 */
#ifndef FOVEA_CLI_PREDICTIONS_H
#define FOVEA_CLI_PREDICTIONS_H

#include "common.h"

#include <stdio.h>

/* Up to this many samples the predictions are printed one by one; beyond, as a summary. */
enum { CLI_PREDICTIONS_TABLE_MAX = 20 };

typedef struct cli_predictions {
    const float *scores; /* n × k outputs: softmax rows, or one sigmoid unit (k == 1) */
    int64_t n, k;
    int64_t top_k;            /* ranks per sample (>= 1; at most the classes) */
    const char *const *names; /* class names (nnames), or NULL */
    int64_t nnames;
    const char *const *files; /* n source file names, or NULL (array input: empty) */
} cli_predictions;

/* Prints, for n <= CLI_PREDICTIONS_TABLE_MAX, each sample's top classes (index, rank when
 * top_k > 1, class, name when known, probability); else the count and share of each predicted
 * class. Then "Wrote PATH" when written is not NULL. Returns 0, or -1 if writing failed. */
int cli_predictions_print(FILE *out, const cli_predictions *pr, const char *written);

/* Writes the CSV "index,file,rank,class,name,probability", one row per sample and rank (rank
 * from 1, class the output index, name empty when unknown, file empty for array input),
 * atomically (a temporary file, fsync, rename). Reports "FLAG: cannot write ..." and returns
 * CLI_FAIL on failure, else 0. */
int cli_predictions_write_csv(const char *cmd, const char *flag, const char *path,
                              const cli_predictions *pr);

#endif
