/* viz.h — what the picture-making subcommands (plot, viz, evaluate --plot, train --plot, report)
 * share: the -o short option, checking and writing picture files, class names.
 */
#ifndef FOVEA_CLI_VIZ_H
#define FOVEA_CLI_VIZ_H

#include "fovea.h"

#include <stdint.h>

/* Turns each "-o" before a "--" into "--output", so cli_parse sees one long option. */
void cli_alias_output(int argc, char **argv);

/* Checks a picture file name before any work: a .png or .svg extension (else a usage error,
 * CLI_USAGE) in a writable folder (else CLI_FAIL). 0 if fine. */
int cli_check_picture_path(const char *cmd, const char *flag, const char *path);

/* Writes p to path (atomically, by the library) and frees it. A NULL p means the drawing failed:
 * its message is reported. Returns 0 or CLI_FAIL. */
int cli_save_picture(const char *cmd, const char *flag, fv_picture *p, const char *path);

/* Draws the training curves of h into path: the seed's "Model accuracy" and "Model loss" (or
 * the loss alone for a history without accuracy). Returns 0 or CLI_FAIL. */
int cli_plot_history(const char *cmd, const char *flag, const fv_history *h, const char *path);

/* Class names from --class-names: a comma-separated list, or "fashion-mnist" for that dataset's
 * ten names. *names is malloc'd (free with cli_free_class_names); NULL text gives NULL names.
 * Returns 0 or CLI_USAGE. */
int cli_class_names(const char *cmd, const char *text, char ***names, int64_t *count);
void cli_free_class_names(char **names, int64_t count);
/* cli_class_names of names_text, then cli_check_picture_path of path (--output): both checked
 * before any work; on failure *names is left NULL. Returns 0, CLI_USAGE or CLI_FAIL. */
int cli_names_and_picture(const char *cmd, const char *names_text, const char *path, char ***names,
                          int64_t *count);
/* When *names is NULL, copies the class names the model was trained with (if any) into *names
 * and *count. Returns 0, or CLI_FAIL (reported) when out of memory. */
int cli_model_class_names(const char *cmd, const fv_model *m, char ***names, int64_t *count);
/* Checks the count against the classes of a model with `outputs` outputs (2 for one output: a
 * binary classifier); reports and returns CLI_FAIL on mismatch. 0 names always pass. */
int cli_check_class_names(const char *cmd, int64_t count, int64_t outputs);

/* The images of --input (viz features) or --data (viz augment) for model m: an image folder or
 * file, CIFAR files, an IDX folder (its test set) or file, .npy or .csv. 0 or a CLI status after
 * a message. */
int cli_viz_load_input(const char *cmd, const char *path, const fv_model *m, fv_dataset **d);
/* `fovea viz augment` (viz_augment.c). */
int cli_viz_augment(int argc, char **argv);

#endif
