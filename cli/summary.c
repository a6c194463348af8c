/* summary.c — `fovea summary MODEL`: Keras' summary table of a model file or a saved model. */
#include "commands.h"
#include "common.h"

#include <stdio.h>

static const char usage[] =
    "usage: fovea summary MODEL\n"
    "\n"
    "Prints the model's layers (Keras' names), their output shapes and parameter counts, and\n"
    "the totals. MODEL is a model file (.fv) or a model saved by 'fovea train --save'.\n";

int cmd_summary(int argc, char **argv)
{
    const char *cmd = "summary";
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, NULL, 0, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    fv_model *m = cli_load_model(cmd, pos[0], NULL);
    if (!m) return CLI_FAIL;
    fv_status s = fv_model_summary(m, stdout);
    if (s != FV_OK)
        rc = cli_fail_lib(cmd, pos[0], s);
    else if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(cmd, "cannot write the summary to standard output");
        rc = CLI_FAIL;
    } else
        rc = CLI_OK;
    fv_model_free(m);
    return rc;
}
