/* train.c — `fovea train MODEL --data DIR|FILE.csv`: trains a model file (or continues a saved
 * model) with the file's compile and fit lines, overridden by flags of the same names, showing
 * Keras' progress, then saves the model and history and prints the test loss and accuracy.
 * A failed or interrupted run writes nothing: --save and --history are written only at the end
 * of a successful one (and atomically, by the library).
 */
#include "commands.h"
#include "common.h"
#include "progress.h"

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: fovea train MODEL --data DIR|FILE.csv [options]\n"
    "\n"
    "Trains MODEL (a model file such as examples/mnist_cnn.fv, or a model saved by --save, whose\n"
    "weights are then the starting point) on the data, with the model file's compile and fit\n"
    "lines; the flags below override the file's values of the same names.\n"
    "\n"
    "data:\n"
    "  --data DIR|FILE.csv       a folder with the four MNIST-named IDX files (gzipped or not;\n"
    "                            the test set is the validation data unless --validation-split\n"
    "                            is given), or a CSV table with a header row\n"
    "  --label-column NAME       the CSV column holding the labels (default: the last)\n"
    "\n"
    "outputs (written only when training succeeds; an existing file is replaced atomically):\n"
    "  --save OUT.safetensors    the trained model: weights and model text in one file\n"
    "  --history H.csv           one row per epoch: epoch,accuracy,loss,val_accuracy,val_loss\n"
    "\n"
    "training:\n"
    "  --weights INIT.safetensors  start from these weights instead of fresh initialisation\n"
    "  --epochs N                passes over the training data\n"
    "  --batch-size N            samples per step\n"
    "  --learning-rate X         the optimizer's step size\n"
    "  --optimizer adam|sgd      switching optimizer resets its settings to Keras' defaults\n"
    "  --seed N                  weights initialisation, shuffling and dropout\n"
    "  --validation-split F      validate on the last fraction F of the training data, taken\n"
    "                            before shuffling as Keras does (0 < F < 1; 0 turns it off)\n"
    "  --no-shuffle              keep the training data in file order\n"
    "  --threads N               threads to use (default: FOVEA_THREADS, else all cores)\n"
    "  --verbose 0|1|2           0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a\n"
    "                            terminal, else 2)\n"
    "\n"
    "Ctrl-C stops training after the current step; nothing is saved then.\n";

/* ---- compile overrides ----------------------------------------------------------------------- */

/* Settings that belong to one optimizer and are dropped when --optimizer switches to another. */
static bool optimizer_specific(const char *key, size_t len)
{
    static const char *const keys[] = {"learning_rate", "beta_1",   "beta_2", "epsilon",
                                       "momentum",      "nesterov", "amsgrad"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == len && strncmp(keys[i], key, len) == 0) return true;
    return false;
}

static bool key_is(const char *tok, size_t keylen, const char *key)
{
    return strlen(key) == keylen && strncmp(tok, key, keylen) == 0;
}

/* The compile line of the model's text (without the word "compile"), malloc'd, or NULL if the
 * model has none. *oom is set when the text could not be made. */
static char *compile_args(const fv_model *m, bool *oom)
{
    *oom = false;
    char *text = fv_model_to_text(m);
    if (!text) {
        *oom = true;
        return NULL;
    }
    char *found = NULL;
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        while (isspace((unsigned char)*line))
            line++;
        if (strncmp(line, "compile", 7) == 0 &&
            (line[7] == '\0' || isspace((unsigned char)line[7]))) {
            found = strdup(line + 7);
            if (!found) *oom = true;
            break;
        }
        line = next;
    }
    free(text);
    return found;
}

/* Re-compiles the model with --optimizer and --learning-rate applied to its compile line. */
static int apply_compile_overrides(const char *cmd, fv_model *m, const char *model_path,
                                   const char *optimizer, const char *learning_rate)
{
    bool oom;
    char *args = compile_args(m, &oom);
    if (!args) {
        if (oom)
            cli_error(cmd, "out of memory");
        else
            cli_error(cmd,
                      "%s: the model has no compile line (for example 'compile "
                      "loss=categorical_crossentropy optimizer=adam metrics=accuracy')",
                      model_path);
        return CLI_FAIL;
    }
    if (!optimizer && !learning_rate) {
        free(args);
        return 0;
    }
    /* Which optimizer the file chose (Keras' compile has no default; fovea's is adam). */
    char current[32] = "adam";
    for (char *t = strstr(args, "optimizer="); t; t = strstr(t + 1, "optimizer=")) {
        if (t != args && !isspace((unsigned char)t[-1])) continue;
        size_t n = strcspn(t + 10, " \t\r");
        snprintf(current, sizeof current, "%.*s", (int)(n < 31 ? n : 31), t + 10);
        break;
    }
    bool switching = optimizer && strcmp(optimizer, current) != 0;
    size_t cap = strlen(args) + 128;
    char *out = malloc(cap);
    if (!out) {
        free(args);
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    size_t used = 0;
    out[0] = '\0';
    for (char *tok = strtok(args, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
        size_t keylen = strcspn(tok, "=");
        if (optimizer && key_is(tok, keylen, "optimizer")) continue;
        if (learning_rate && key_is(tok, keylen, "learning_rate")) continue;
        if (switching && optimizer_specific(tok, keylen)) continue;
        used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? " " : "", tok);
    }
    if (optimizer)
        used +=
            (size_t)snprintf(out + used, cap - used, "%soptimizer=%s", used ? " " : "", optimizer);
    if (learning_rate)
        snprintf(out + used, cap - used, "%slearning_rate=%s", used ? " " : "", learning_rate);
    free(args);
    fv_status s = fv_model_compile(m, out);
    free(out);
    if (s != FV_OK)
        return cli_fail_lib(cmd,
                            optimizer && learning_rate ? "--optimizer, --learning-rate"
                            : optimizer                ? "--optimizer"
                                                       : "--learning-rate",
                            s);
    return 0;
}

/* ---- the command ----------------------------------------------------------------------------- */

enum {
    O_DATA,
    O_LABEL,
    O_SAVE,
    O_HISTORY,
    O_WEIGHTS,
    O_EPOCHS,
    O_BATCH,
    O_LR,
    O_OPTIMIZER,
    O_SEED,
    O_VSPLIT,
    O_NO_SHUFFLE,
    O_THREADS,
    O_VERBOSE,
    O_COUNT
};

int cmd_train(int argc, char **argv)
{
    const char *cmd = "train";
    cli_opt opts[O_COUNT] = {
        [O_DATA] = {"data", true, false, NULL},
        [O_LABEL] = {"label-column", true, false, NULL},
        [O_SAVE] = {"save", true, false, NULL},
        [O_HISTORY] = {"history", true, false, NULL},
        [O_WEIGHTS] = {"weights", true, false, NULL},
        [O_EPOCHS] = {"epochs", true, false, NULL},
        [O_BATCH] = {"batch-size", true, false, NULL},
        [O_LR] = {"learning-rate", true, false, NULL},
        [O_OPTIMIZER] = {"optimizer", true, false, NULL},
        [O_SEED] = {"seed", true, false, NULL},
        [O_VSPLIT] = {"validation-split", true, false, NULL},
        [O_NO_SHUFFLE] = {"no-shuffle", false, false, NULL},
        [O_THREADS] = {"threads", true, false, NULL},
        [O_VERBOSE] = {"verbose", true, false, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, O_COUNT, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    const char *model_path = pos[0];
    if (!opts[O_DATA].seen) return cli_usage_error(cmd, "--data is required");

    /* Every number first, so that a typo costs nothing. */
    int64_t epochs = 0, batch_size = 0, nthreads = 0, verbose = -1;
    uint64_t seed = 0;
    double lr = 0, vsplit = -1;
    if (opts[O_EPOCHS].seen && (rc = cli_int(cmd, "--epochs", opts[O_EPOCHS].value, 1, INT32_MAX,
                                             "a positive integer", &epochs)))
        return rc;
    if (opts[O_BATCH].seen && (rc = cli_int(cmd, "--batch-size", opts[O_BATCH].value, 1, INT32_MAX,
                                            "a positive integer", &batch_size)))
        return rc;
    /* Checked here, then given to the compile line as the user's own text (digits kept). */
    if (opts[O_LR].seen && (rc = cli_double(cmd, "--learning-rate", opts[O_LR].value, 0, true, 1e3,
                                            false, "a positive number up to 1000", &lr)))
        return rc;
    if (opts[O_OPTIMIZER].seen && strcmp(opts[O_OPTIMIZER].value, "adam") != 0 &&
        strcmp(opts[O_OPTIMIZER].value, "sgd") != 0)
        return cli_usage_error(cmd, "--optimizer: expected adam or sgd, got '%s'",
                               opts[O_OPTIMIZER].value);
    if (opts[O_SEED].seen && (rc = cli_u64(cmd, "--seed", opts[O_SEED].value, &seed))) return rc;
    if (opts[O_VSPLIT].seen &&
        (rc = cli_double(cmd, "--validation-split", opts[O_VSPLIT].value, 0, false, 1, true,
                         "a fraction at least 0 and below 1", &vsplit)))
        return rc;
    if (opts[O_THREADS].seen && (rc = cli_int(cmd, "--threads", opts[O_THREADS].value, 1, 4096,
                                              "a positive integer", &nthreads)))
        return rc;
    if (opts[O_VERBOSE].seen &&
        (rc = cli_int(cmd, "--verbose", opts[O_VERBOSE].value, 0, 2, "0, 1 or 2", &verbose)))
        return rc;
    if (verbose < 0) verbose = isatty(STDOUT_FILENO) ? 1 : 2;
    if (nthreads > 0) fv_set_threads((int)nthreads);

    /* Where results go must be writable before an hour is spent training. */
    const char *save = opts[O_SAVE].seen ? opts[O_SAVE].value : NULL;
    const char *hist_path = opts[O_HISTORY].seen ? opts[O_HISTORY].value : NULL;
    if (save && cli_check_writable(cmd, "--save", save)) return CLI_FAIL;
    if (hist_path && cli_check_writable(cmd, "--history", hist_path)) return CLI_FAIL;
    if (save && hist_path && strcmp(save, hist_path) == 0)
        return cli_usage_error(cmd, "--save and --history name the same file '%s'", save);
    if (opts[O_WEIGHTS].seen && !cli_exists(opts[O_WEIGHTS].value)) {
        cli_error(cmd, "--weights: '%s': no such file", opts[O_WEIGHTS].value);
        return CLI_FAIL;
    }
    if (cli_has_suffix(opts[O_DATA].value, ".npy")) {
        cli_error(cmd,
                  "--data: '%s': a .npy array holds features only, no labels to train "
                  "on; use an IDX folder or a CSV table",
                  opts[O_DATA].value);
        return CLI_FAIL;
    }

    fv_model *m = NULL;
    fv_dataset *train = NULL, *test = NULL, *val = NULL;
    fv_history *history = NULL;
    rc = CLI_FAIL;

    m = cli_load_model(cmd, model_path, NULL);
    if (!m) goto done;
    if (apply_compile_overrides(cmd, m, model_path,
                                opts[O_OPTIMIZER].seen ? opts[O_OPTIMIZER].value : NULL,
                                opts[O_LR].seen ? opts[O_LR].value : NULL))
        goto done;
    fv_fit_opts fit = fv_model_fit_opts(m);
    if (epochs > 0) fit.epochs = epochs;
    if (batch_size > 0) fit.batch_size = batch_size;
    if (opts[O_SEED].seen) fit.seed = seed;
    if (opts[O_NO_SHUFFLE].seen) fit.shuffle = false;
    if (vsplit >= 0) fit.validation_split = vsplit;

    if ((rc = cli_load_data(cmd, opts[O_DATA].value,
                            opts[O_LABEL].seen ? opts[O_LABEL].value : NULL, &train, &test)))
        goto done;
    rc = CLI_FAIL;
    if (cli_check_input_shape(cmd, m, train, "--data")) goto done;

    /* Validation: the last fraction of the training data (before shuffling), else the test
     * set. The split is made here so that the library sees one validation dataset either way. */
    if (fit.validation_split > 0) {
        int64_t n = fv_dataset_count(train);
        val = fv_dataset_split_tail(train, fit.validation_split);
        if (!val) {
            cli_fail_lib(cmd, "--validation-split", FV_ERR_INVALID);
            goto done;
        }
        if (fv_dataset_count(val) == 0 || fv_dataset_count(train) == 0) {
            cli_error(cmd, "--validation-split %g of %lld samples leaves %s", fit.validation_split,
                      (long long)n,
                      fv_dataset_count(val) == 0 ? "no validation samples" : "no training samples");
            goto done;
        }
        fit.validation_split = 0;
        fit.validation_data = val;
    } else {
        fit.validation_data = test;
    }

    if (opts[O_WEIGHTS].seen) {
        fv_status s = fv_model_load_weights(m, opts[O_WEIGHTS].value);
        if (s != FV_OK) {
            cli_fail_lib(cmd, "--weights", s);
            goto done;
        }
    }

    progress prog;
    progress_init(&prog, stdout, (int)verbose, fit.epochs);
    fit.on_batch = progress_on_batch;
    fit.on_epoch = progress_on_epoch;
    fit.user = &prog;
    /* A closed standard output (`fovea train ... | head`) must not kill the run before it saves:
     * writes then fail quietly instead of raising SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    progress_catch_signals();
    fv_status s = fv_model_fit(m, train, &fit, &history);
    progress_restore_signals();
    progress_finish(&prog);
    if (s != FV_OK) {
        if (s == FV_ERR_INTERRUPTED && progress_interrupted())
            cli_error(cmd, "interrupted in epoch %lld/%lld at step %lld/%lld; nothing was saved",
                      (long long)(prog.last_epoch + 1), (long long)fit.epochs,
                      (long long)prog.last_step, (long long)prog.last_steps);
        else
            cli_fail_lib(cmd, NULL, s);
        goto done;
    }

    if (save) {
        s = fv_model_save(m, save);
        if (s != FV_OK) {
            cli_fail_lib(cmd, "--save", s);
            goto done;
        }
    }
    if (hist_path && history) {
        s = fv_history_write_csv(history, hist_path);
        if (s != FV_OK) {
            cli_fail_lib(cmd, "--history", s);
            goto done;
        }
    }
    if (test) {
        double loss = NAN, accuracy = NAN;
        s = fv_model_evaluate(m, test, fit.batch_size, &loss, &accuracy);
        if (s != FV_OK) {
            cli_fail_lib(cmd, "evaluating the test set", s);
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
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(cmd, "cannot write to standard output%s", save ? " (the model was saved)" : "");
        goto done;
    }
    rc = CLI_OK;
done:
    fv_history_free(history);
    fv_dataset_free(val);
    fv_dataset_free(test);
    fv_dataset_free(train);
    fv_model_free(m);
    return rc;
}
