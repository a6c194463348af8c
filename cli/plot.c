/* plot.c — `fovea plot HISTORY.csv -o curves.png`: the training curves of the seed program,
 * "Model accuracy" and "Model loss", from a history written by `fovea train --history` or by
 * Keras' CSVLogger.
 */
#include "commands.h"
#include "common.h"
#include "viz.h"

#include <stdio.h>

static const char usage[] =
    "usage: fovea plot HISTORY.csv -o OUT.png|OUT.svg [options]\n"
    "\n"
    "Draws the training curves of a history written by 'fovea train --history' (or Keras'\n"
    "CSVLogger), as the seed program's two plots: \"Model accuracy\" and \"Model loss\" side by\n"
    "side, epochs on x, the training and validation values with a legend. Other metrics in the\n"
    "history (precision, auc, ...) get a panel each.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     the picture, .png or .svg (required)\n"
    "  --metrics a,b         only these columns, one panel each (val_ columns come with them)\n";

int cmd_plot(int argc, char **argv)
{
    const char *cmd = "plot";
    cli_opt opts[] = {{"output", true, false, NULL}, {"metrics", true, false, NULL}};
    const int nopts = 2;
    const char *pos[1];
    int npos;
    cli_alias_output(argc, argv);
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if ((rc = cli_check_picture_path(cmd, "--output", opts[0].value))) return rc;
    fv_history *h = fv_history_read_csv(pos[0]);
    if (!h) return cli_fail_lib(cmd, NULL, FV_ERR_FORMAT);
    fv_picture *p = fv_plot_history(h, opts[1].seen ? opts[1].value : NULL);
    fv_history_free(h);
    if (!p) return cli_fail_lib(cmd, pos[0], FV_ERR_INVALID);
    return cli_save_picture(cmd, "--output", p, opts[0].value) ? CLI_FAIL : CLI_OK;
}
