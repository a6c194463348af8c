/* evaluate.c — `fovea evaluate MODEL --data DIR|FILE`: the test loss and accuracy of a saved
 * model, printed as the seed program prints them.
 */
#include "commands.h"
#include "common.h"

#include <math.h>
#include <stdio.h>

static const char usage[] =
    "usage: fovea evaluate MODEL.safetensors --data DIR|FILE.csv [options]\n"
    "\n"
    "Prints 'Test loss: X' and 'Test accuracy: Y' of a model saved by 'fovea train --save' on\n"
    "the test set of an IDX folder (t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])\n"
    "or on every row of a CSV table.\n"
    "\n"
    "options:\n"
    "  --data DIR|FILE.csv    the data (required)\n"
    "  --label-column NAME    the CSV column holding the labels (default: the last)\n"
    "  --batch-size N         samples per batch (default: the model's fit line, else 32)\n"
    "  --threads N            threads to use (default: FOVEA_THREADS, else all cores)\n";

int cmd_evaluate(int argc, char **argv)
{
    const char *cmd = "evaluate";
    cli_opt opts[] = {
        {"data", true, false, NULL},
        {"label-column", true, false, NULL},
        {"batch-size", true, false, NULL},
        {"threads", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    cli_opt *data = cli_find(opts, nopts, "data");
    cli_opt *label = cli_find(opts, nopts, "label-column");
    cli_opt *batch = cli_find(opts, nopts, "batch-size");
    cli_opt *threads = cli_find(opts, nopts, "threads");
    if (!data->seen) return cli_usage_error(cmd, "--data is required");
    int64_t batch_size = 0, nthreads = 0;
    if (batch->seen && (rc = cli_int(cmd, "--batch-size", batch->value, 1, INT32_MAX,
                                     "a positive integer", &batch_size)))
        return rc;
    if (threads->seen &&
        (rc = cli_int(cmd, "--threads", threads->value, 1, 4096, "a positive integer", &nthreads)))
        return rc;
    if (nthreads > 0) fv_set_threads((int)nthreads);

    fv_model *m = NULL;
    fv_dataset *test = NULL;
    rc = CLI_FAIL;
    bool has_weights = false;
    m = cli_load_model(cmd, pos[0], &has_weights);
    if (!m) goto done;
    if (!has_weights) {
        cli_error(cmd,
                  "%s: a model file holds no trained weights; give a model saved by "
                  "'fovea train --save'",
                  pos[0]);
        goto done;
    }
    if ((rc = cli_load_data(cmd, data->value, label->seen ? label->value : NULL, NULL, &test)))
        goto done;
    rc = CLI_FAIL;
    if (!test) {
        cli_error(cmd,
                  "--data: '%s' has no test set (t10k-images-idx3-ubyte, "
                  "t10k-labels-idx1-ubyte)",
                  data->value);
        goto done;
    }
    if (!fv_dataset_labels(test) && cli_has_suffix(data->value, ".npy")) {
        cli_error(cmd, "--data: '%s' holds features only, no labels to evaluate against",
                  data->value);
        goto done;
    }
    if (cli_check_input_shape(cmd, m, test, "--data")) goto done;
    if (batch_size == 0) {
        fv_fit_opts fit = fv_model_fit_opts(m);
        batch_size = fit.batch_size > 0 ? fit.batch_size : 32;
    }
    double loss = NAN, accuracy = NAN;
    fv_status s = fv_model_evaluate(m, test, batch_size, &loss, &accuracy);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    fputs("Test loss: ", stdout);
    cli_print_repr(stdout, loss);
    fputc('\n', stdout);
    if (!isnan(accuracy)) {
        fputs("Test accuracy: ", stdout);
        cli_print_repr(stdout, accuracy);
        fputc('\n', stdout);
    }
    rc = CLI_OK;
done:
    fv_dataset_free(test);
    fv_model_free(m);
    return rc;
}
