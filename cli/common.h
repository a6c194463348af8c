/* common.h — what the subcommands of the fovea command share: option parsing with checked numbers,
 * error reporting ("fovea CMD: message" on stderr), exit codes, and loading models and datasets
 * named on the command line. The CLI is a client of fovea.h alone.
 */
#ifndef FOVEA_CLI_COMMON_H
#define FOVEA_CLI_COMMON_H

#include "fovea.h"

#include <stdbool.h>
#include <stdint.h>

/* Exit statuses: success, a runtime failure, a usage error (as getopt-based tools do). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* ---- messages ----------------------------------------------------------------------------- */

/* Prints "fovea CMD: message\n" (or "fovea: message" when cmd is NULL) on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Under mpirun: this process's rank and the process count (set once by train). Processes other
 * than 0 then drop messages that begin "warning: " (process 0 prints the same ones) and name
 * themselves in errors ("fovea train (process 1 of 2): ..."). cli_is_worker: rank > 0. */
void cli_set_process(int rank, int count);
bool cli_is_worker(void);

/* Reports a failed library call: the library's message, or the status name if it left none,
 * after an optional context ("--weights"). Returns CLI_FAIL. */
int cli_fail_lib(const char *cmd, const char *context, fv_status s);

/* Reports a usage error, adds "(see 'fovea CMD --help')" and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options ------------------------------------------------------------------------------- */

typedef struct cli_opt {
    const char *name;  /* without dashes: "epochs" for --epochs */
    bool takes_value;  /* --name VALUE or --name=VALUE; else a switch */
    bool seen;         /* set by cli_parse */
    const char *value; /* set by cli_parse (the last one given wins) */
} cli_opt;

/* Result of cli_parse besides the exit statuses above. */
enum { CLI_CONTINUE = -1 };

/* Parses argv[1..argc) (argv[0] is the subcommand's name): options in opts, positional arguments
 * into pos[0..max_pos) with their count in *npos. "--" ends the options; "-h"/"--help" prints
 * usage to stdout. Returns CLI_CONTINUE to go on, CLI_OK after help, or CLI_USAGE after an error
 * message (unknown option, missing value, too many or too few positional arguments: min_pos). */
int cli_parse(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts, int nopts,
              const char **pos, int min_pos, int max_pos, int *npos);

/* The option named name (must exist in opts). */
cli_opt *cli_find(cli_opt *opts, int nopts, const char *name);

/* Number arguments: the whole text must be a number within [min, max]; otherwise a usage error
 * "fovea CMD: --FLAG: expected WHAT, got 'TEXT'" is printed and CLI_USAGE returned (else 0). */
int cli_int(const char *cmd, const char *flag, const char *text, int64_t min, int64_t max,
            const char *what, int64_t *out);
int cli_u64(const char *cmd, const char *flag, const char *text, uint64_t *out);
/* Finite numbers only; lo_open/hi_open make the bounds exclusive. */
int cli_double(const char *cmd, const char *flag, const char *text, double min, bool lo_open,
               double max, bool hi_open, const char *what, double *out);

/* ---- files ------------------------------------------------------------------------------- */

/* Checks that a file can be created at path (its folder exists and is writable, and path is not
 * a folder) by creating and removing a temporary file beside it. Reports "--FLAG: ..." and
 * returns CLI_FAIL if not, 0 if so. */
int cli_check_writable(const char *cmd, const char *flag, const char *path);

/* True if a and b name the same existing file (device and inode: links and relative paths too). */
bool cli_same_file(const char *a, const char *b);

/* True if path names an existing folder / file. */
bool cli_is_dir(const char *path);
bool cli_exists(const char *path);

/* --threads N when given (o->seen): parsed (1 to 4096) and set with fv_set_threads. 0, or the
 * usage error's status. */
int cli_apply_threads(const char *cmd, const cli_opt *o);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC): differences time a command's parts. */
double cli_now(void);

/* True if path ends with suffix (case-insensitive). */
bool cli_has_suffix(const char *path, const char *suffix);

/* ---- models and data ----------------------------------------------------------------------- */

/* Loads a model: a saved weights file (safetensors, recognised by its contents) with
 * fv_model_load, else a model text file with fv_model_parse_file. *has_weights tells which.
 * Reports failures; NULL on failure. */
fv_model *cli_load_model(const char *cmd, const char *path, bool *has_weights);

/* Loads a model saved by `fovea train --save`, refusing a model text file (it has no trained
 * weights). Reports failures; NULL on failure. */
fv_model *cli_load_trained_model(const char *cmd, const char *path);
/* What kind of model m is, with its article, for messages: "a GAN" (a fit gan= line), "a VAE"
 * (a sampling layer and fit target=input), "an autoencoder" (target=input), "a detector", "a
 * pose network", "a classifier" (one output, a vector of two or more scores), else "a model". */
const char *cli_model_kind(const fv_model *m);
/* The index of m's first sampling layer (a VAE's z), -1 when it has none. */
int cli_sampling_layer(const fv_model *m);
bool cli_is_classifier(const fv_model *m);

/* m's layer names, comma-separated, into buf (cut with "..." when they do not fit). */
void cli_layer_names(const fv_model *m, char *buf, size_t size);

/* --precision fp32|bf16 of predict and evaluate: cli_precision_check refuses another value
 * (usage error, CLI_USAGE; 0 when absent or valid), cli_precision_apply sets a loaded model's
 * precision (fv_model_set_precision: a model trained in fp32 runs its dense and conv2d products
 * in bf16, and a bf16 one in fp32) and reports the library's refusal (bf16 on a CPU with
 * neither AVX512_BF16 nor AMX-BF16) as CLI_FAIL; 0 when absent or done. */
int cli_precision_check(const char *cmd, const cli_opt *precision);
int cli_precision_apply(const char *cmd, fv_model *m, const cli_opt *precision);
/* --conv-algorithm direct|winograd of train, predict and evaluate, likewise
 * (fv_model_set_conv_algorithm). */
int cli_conv_algorithm_check(const char *cmd, const cli_opt *algorithm);
int cli_conv_algorithm_apply(const char *cmd, fv_model *m, const cli_opt *algorithm);

/* Loads the data named by --data: a folder of IDX files (train and/or test as asked; the test
 * set is optional: NULL when the folder has none), a CSV table (into *train, or *test if train
 * is NULL) with label_column, or a float32 .npy array (features only). Reports failures and
 * returns CLI_FAIL or CLI_USAGE; 0 on success. */
int cli_load_data(const char *cmd, const char *path, const char *label_column, fv_dataset **train,
                  fv_dataset **test);

/* Checks that the dataset's samples have the model's input shape (fv_dataset_check_shape); on
 * a mismatch reports the library's message after "WHAT: " and returns CLI_FAIL. */
int cli_check_input_shape(const char *cmd, const fv_model *m, const fv_dataset *d,
                          const char *what);

/* The label column for data_path: the one given (--label-column), else for a CSV table the one
 * the model was trained with (NULL when it knows none: the last column). */
const char *cli_label_column(const fv_model *m, const char *given, const char *data_path);

/* Adds --labels Y.npy (fv_dataset_load_labels_npy) to the features of data_path, a .npy array;
 * nothing when labels_path is NULL. Reports and returns CLI_USAGE or CLI_FAIL, else 0. */
int cli_load_labels(const char *cmd, const char *data_path, const char *labels_path, fv_dataset *d);

/* Renumbers a table's class-name labels to the model's classes (fv_dataset_use_class_names);
 * reports a failure and returns CLI_FAIL, else 0. */
int cli_use_model_classes(const char *cmd, const fv_model *m, fv_dataset *d);

/* Formats a sample shape as "28x28x1" into buf. */
void cli_format_shape(char *buf, size_t size, int rank, const int64_t *dims);

/* Prints x as Python's repr of a float does (the shortest text that reads back the same), as
 * the seed program's print("Test loss:", score[0]) shows it. */
void cli_print_repr(FILE *out, double x);

/* Whether DIR is a folder of .npy arrays (x.npy, or the model's first input's name when m is not
 * NULL): a model's data as Keras' dicts of arrays. */
bool cli_is_npy_dir(const fv_model *m, const char *path);
/* Loads such a folder: x.npy (or FIRSTINPUT.npy) for the first input, INPUT.npy for each other
 * input, OUTPUT.npy for each output (one output: OUTPUT.npy or y.npy, its labels or targets, may
 * be absent for predictions). A missing file is an error naming it. */
int cli_load_npy_dir(const char *cmd, const fv_model *m, const char *dir, fv_dataset **out);

#endif
