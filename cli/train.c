/* train.c — `fovea train MODEL --data DIR|FILE.csv`: trains a model file (or continues a saved
 * model) with the file's compile and fit lines, overridden by flags of the same names, showing
 * Keras' progress, then saves the model and history and prints the test loss and accuracy.
 * A failed or interrupted run writes nothing: --save and --history are written only at the end
 * of a successful one (and atomically, by the library).
 */
#include "commands.h"
#include "common.h"
#include "detect.h"
#include "pose.h"
#include "images.h"
#include "mpi.h"
#include "progress.h"
#include "viz.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: fovea train MODEL --data DIR|FILE.csv|X.npy [options]\n"
    "\n"
    "Trains MODEL (a model file such as examples/mnist_cnn.fv, or a model saved by --save, whose\n"
    "weights are then the starting point) on the data, with the model file's compile and fit\n"
    "lines; the flags below override the file's values of the same names.\n"
    "\n"
    "data:\n"
    "  --data DIR|FILE.csv|X.npy  a folder with the four MNIST-named IDX files (gzipped or not;\n"
    "                            the test set is the validation data unless --validation-split\n"
    "                            is given), a CSV table with a header row, a .npy array\n"
    "                            of features with --labels, a folder of images\n"
    "                            (DIR/train/CLASS/*.png with DIR/test/CLASS or DIR/val/CLASS,\n"
    "                            or one tree DIR/CLASS/*.png; PNG, JPEG, BMP, GIF) resized to\n"
    "                            the model's input, or CIFAR-10/100 binary files\n"
    "  --label-column NAME       the CSV column holding the labels (default: the one a\n"
    "                            saved model was trained with, else the last); the\n"
    "                            saved model remembers it and the class names\n"
    "  --labels Y.npy            the labels of --data X.npy (a .npy of features): (N,) or\n"
    "                            (N, 1) class indices, or (N, K) one-hot rows (or targets\n"
    "                            for mse/mae)\n"
    "  --object OBJ_ID           a BOP dataset (DIR/models/models_info.json, DIR/train/SCENE/...)\n"
    "                            for a model ending in the pose head: the object to learn\n"
    "                            (default: the only one); each image's most visible instance\n"
    "                            of it; images resized, K with them\n" CLI_IMAGE_FLAGS_USAGE "\n"
    "outputs (written only when training succeeds; an existing file is replaced atomically):\n"
    "  --save OUT.safetensors    the trained model: weights and model text in one file\n"
    "  --history H.csv           one row per epoch: epoch,accuracy,loss,val_accuracy,val_loss\n"
    "  --plot CURVES.png|.svg    the training curves: model accuracy and loss per epoch\n"
    "\n"
    "training:\n"
    "  --weights INIT.safetensors  start from these weights instead of fresh initialisation\n"
    "  --epochs N                passes over the training data (0: with --save, the initial\n"
    "                            weights, as Keras' fit(epochs=0))\n"
    "  --batch-size N            samples per step\n"
    "  --learning-rate X         the optimizer's step size\n"
    "  --optimizer adam|adamw|sgd switching optimizer resets its settings to Keras' defaults\n"
    "  --seed N                  weights initialisation, shuffling and dropout\n"
    "  --validation-split F      validate on the last fraction F of the training data, taken\n"
    "                            before shuffling as Keras does (0 < F < 1; 0 turns it off);\n"
    "                            for a folder of images, as image_dataset_from_directory: the\n"
    "                            file list shuffled with --seed, then the last int(F * N) files\n"
    "  --no-validation           no validation pass after each epoch (Keras' fit without\n"
    "                            validation_data); the test set is still scored at the end\n"
    "  --no-shuffle              keep the training data in file order\n"
    "  --threads N               threads to use (default: FOVEA_THREADS, else\n"
    "                            OMP_NUM_THREADS, else all cores)\n"
    "  --profile                 after training, print each layer's forward and backward time\n"
    "                            per step and its dense-equivalent GFLOP/s\n"
    "  --precision fp32|bf16     bf16: the dense and conv2d layers multiply in bf16 (fp32\n"
    "                            sums, weights and optimizer); refused where the CPU has no bf16\n"
    "                            instructions\n"
    "  --conv-algorithm direct|winograd\n"
    "                            winograd: the 3x3 stride-1 conv2d layers by Winograd\n"
    "                            F(2x2,3x3) (forward and input gradient with 16 channels or more\n"
    "                            in and out, weight gradient with 8 or more and filters in\n"
    "                            16s), fewer multiplies, larger rounding\n"
    "                            (default: the model's compile line, else direct)\n"
    "  --verbose 0|1|2           0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a\n"
    "                            terminal, else 2)\n"
    "\n"
    "checkpoints and the best model:\n"
    "  --checkpoint DIR          after every epoch, write DIR/checkpoint.safetensors atomically:\n"
    "                            weights, optimizer state, counters, callbacks and history\n"
    "  --resume                  continue from the checkpoint in DIR (needs --checkpoint, and the\n"
    "                            same model, data and settings; --epochs may grow); the result is\n"
    "                            bit for bit that of a run that never stopped\n"
    "  --save-best PATH          after every epoch whose --monitor value is the best so far, save\n"
    "                            the model to PATH (Keras' ModelCheckpoint, save_best_only)\n"
    "  --monitor NAME            the column --save-best watches (default: val_loss)\n"
    "\n"
    "Early stopping and reducing the learning rate on a plateau are set on the model file's fit\n"
    "line: fit early_stopping=val_loss patience=3 restore_best_weights=true\n"
    "      reduce_lr_on_plateau=val_loss lr_factor=0.1 lr_patience=10\n"
    "\n"
    "Ctrl-C (or SIGTERM) stops training after the current step; --save and --history are then not\n"
    "written. With --checkpoint, the last complete epoch's checkpoint stays, and the message says\n"
    "how to resume. A loss that becomes NaN stops training the same way.\n";

/* ---- labels -------------------------------------------------------------------------------- */

/* The model remembers the training data's label column and class names (saved with it, so that
 * evaluate and predict use them). A model trained before keeps its classes: the table's names
 * are renumbered to them. */
static int remember_labels(const char *cmd, fv_model *m, fv_dataset *train)
{
    int64_t n = 0;
    const char *const *names = fv_model_class_names(m, &n);
    if (names) {
        if (cli_use_model_classes(cmd, m, train)) return CLI_FAIL;
    } else {
        names = fv_dataset_class_names(train, &n);
    }
    fv_status s = fv_model_set_labels(m, fv_dataset_label_column(train), names, n);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, NULL, s);
}

/* ---- compile overrides ----------------------------------------------------------------------- */

/* Settings that belong to one optimizer and are dropped when --optimizer switches to another. */
static bool optimizer_specific(const char *key, size_t len)
{
    static const char *const keys[] = {"learning_rate", "beta_1",   "beta_2",  "epsilon",
                                       "momentum",      "nesterov", "amsgrad", "weight_decay"};
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
    O_LABELS,
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
    O_NO_VALIDATION,
    O_THREADS,
    O_VERBOSE,
    O_PLOT,
    O_CHECKPOINT,
    O_RESUME,
    O_SAVE_BEST,
    O_MONITOR,
    O_PROFILE,
    O_INTERP,
    O_CROP,
    O_FOLLOW,
    O_STRICT,
    O_ORDER,
    O_LABEL_MODE,
    O_CLASS_NAMES,
    O_PRECISION,
    O_CONV_ALGORITHM,
    O_OBJECT,
    O_COUNT
};

/* ---- what training shows besides the progress bar ------------------------------------------- */

typedef struct train_ui {
    progress prog;
    const fv_model *m;
    int verbose;
    long long kill_after, steps; /* FOVEA_TEST_KILL_AFTER_STEP; steps done by this process */
} train_ui;

/* For tests only (tests/cli_checkpoint.sh): FOVEA_TEST_KILL_AFTER_STEP=k makes the process kill
 * itself with SIGKILL right after its k-th training step (counted from its start, resumed
 * epochs not included), so that a kill lands at a known step instead of after a timed delay.
 * 0 or unset: off. */
static long long kill_after_step(void)
{
    const char *v = getenv("FOVEA_TEST_KILL_AFTER_STEP");
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long long k = strtoll(v, &end, 10);
    return errno || *end || k < 0 ? 0 : k;
}

static bool ui_on_batch(void *user, const fv_logs *logs)
{
    train_ui *ui = user;
    if (ui->kill_after > 0 && ++ui->steps == ui->kill_after) raise(SIGKILL);
    return progress_on_batch(&ui->prog, logs);
}

/* The epoch's line, then what the callbacks did, as Keras prints it, before the next epoch's
 * header. */
static bool ui_on_epoch(void *user, const fv_logs *logs)
{
    train_ui *ui = user;
    fv_fit_info info = fv_model_last_fit(ui->m);
    bool reduced = info.lr_reduced_epoch == logs->epoch,
         stopped = info.stopped_epoch == logs->epoch;
    if (!reduced && !stopped) return progress_on_epoch(&ui->prog, logs);
    fv_logs last = *logs;
    last.epochs = logs->epoch + 1; /* the next epoch's header comes after the messages */
    bool go = progress_on_epoch(&ui->prog, &last);
    if (ui->verbose > 0) {
        if (reduced) {
            printf("Epoch %lld: ReduceLROnPlateau reducing learning rate to ",
                   (long long)logs->epoch + 1);
            cli_print_repr(stdout, info.learning_rate);
            printf(".\n");
        }
        if (stopped && info.restored_best_weights)
            printf("Restoring model weights from the end of the best epoch: %lld.\n",
                   (long long)info.best_epoch + 1);
        if (stopped) printf("Epoch %lld: early stopping\n", (long long)logs->epoch + 1);
        if (!stopped && go && logs->epoch + 1 < logs->epochs) {
            printf("Epoch %lld/%lld\n", (long long)logs->epoch + 2, (long long)logs->epochs);
            ui->prog.header_for = logs->epoch + 1;
        }
        fflush(stdout);
    }
    return go;
}

/* --profile: per layer, the training steps' forward and backward milliseconds per batch and
 * dense-equivalent GFLOP/s (convolutions skip exact zeros, so a rate may pass the peak), then
 * the GFLOP actually executed beside the dense-equivalent GFLOP of each pass, summed over the
 * run, and the executed FLOPs per training image against the dense ones. */
static void print_profile(const fv_model *m, int64_t batch)
{
    int n = fv_model_layer_count(m);
    double tf = 0, tb = 0, ff = 0, fb = 0, xf = 0, xb = 0;
    int64_t images = 0;   /* the training images the steps processed */
    int nw = 18, kw = 14; /* widened to the longest name and kind */
    for (int i = 0; i < n; i++) {
        int a = (int)strlen(fv_model_layer_name(m, i)), b = (int)strlen(fv_model_layer_kind(m, i));
        nw = a > nw ? a : nw, kw = b > kw ? b : kw;
    }
    printf("\nProfile of the training steps (wall time per batch of %lld; GFLOP/s counts the dense "
           "computation)\n",
           (long long)batch);
    printf("  %-*s %-*s %9s %9s %9s %9s %6s %10s %10s %10s %10s\n", nw, "layer", kw, "kind",
           "fwd ms", "fwd GF/s", "bwd ms", "bwd GF/s", "share", "fwd GFLOP", "(dense)", "bwd GFLOP",
           "(dense)");
    fv_layer_profile p;
    for (int i = 0; i < n; i++)
        if (fv_model_profile(m, i, &p) == FV_OK) tf += p.forward_s, tb += p.backward_s;
    for (int i = 0; i < n; i++) {
        if (fv_model_profile(m, i, &p) != FV_OK || p.forward_samples == 0) continue;
        double steps = (double)p.forward_samples / (double)batch;
        char gf[16] = "-", gb[16] = "-";
        if (p.forward_flop > 0 && p.forward_s > 0)
            snprintf(gf, sizeof gf, "%.1f", p.forward_flop / p.forward_s * 1e-9);
        if (p.backward_flop > 0 && p.backward_s > 0)
            snprintf(gb, sizeof gb, "%.1f", p.backward_flop / p.backward_s * 1e-9);
        printf("  %-*s %-*s %9.3f %9s %9.3f %9s %5.1f%% %10.4g %10.4g %10.4g %10.4g\n", nw,
               fv_model_layer_name(m, i), kw, fv_model_layer_kind(m, i), 1e3 * p.forward_s / steps,
               gf, 1e3 * p.backward_s / steps, gb,
               tf + tb > 0 ? 100.0 * (p.forward_s + p.backward_s) / (tf + tb) : 0.0,
               1e-9 * p.forward_executed_flop, 1e-9 * p.forward_flop,
               1e-9 * p.backward_executed_flop, 1e-9 * p.backward_flop);
        ff += p.forward_flop, fb += p.backward_flop;
        xf += p.forward_executed_flop, xb += p.backward_executed_flop;
        images = p.forward_samples > images ? p.forward_samples : images;
    }
    if (fv_model_profile(m, 0, &p) == FV_OK && p.forward_samples > 0) {
        double steps = (double)p.forward_samples / (double)batch;
        printf("  %-*s %-*s %9.3f %9.1f %9.3f %9.1f %6s %10.4g %10.4g %10.4g %10.4g\n", nw, "total",
               kw, "", 1e3 * tf / steps, tf > 0 ? ff / tf * 1e-9 : 0.0, 1e3 * tb / steps,
               tb > 0 ? fb / tb * 1e-9 : 0.0, "", 1e-9 * xf, 1e-9 * ff, 1e-9 * xb, 1e-9 * fb);
        printf("  executed %.6g MFLOP per training image against %.6g dense-equivalent (%.1f%%); "
               "executed %.1f GFLOP/s in the layers' time (the skipped zero gradients are not "
               "counted as done)\n",
               1e-6 * (xf + xb) / (double)images, 1e-6 * (ff + fb) / (double)images,
               ff + fb > 0 ? 100.0 * (xf + xb) / (ff + fb) : 0.0,
               tf + tb > 0 ? 1e-9 * (xf + xb) / (tf + tb) : 0.0);
        printf("  layers' share of the steps: forward + backward %.1f s over %.0f steps; the rest "
               "(loss, optimizer, data) is not in the table\n",
               tf + tb, steps);
        int fused = 0; /* every layer runs in a training step unless it ran inside a group */
        for (int i = 0; i < n; i++)
            fused += fv_model_profile(m, i, &p) == FV_OK && p.forward_samples == 0;
        if (fused)
            printf("  %d Add and ReLU layers ran fused into the batch_normalization before them "
                   "and are timed in its row\n",
                   fused);
    }
}

/* The command line that resumes this run: the same arguments, shell-quoted, plus --resume. */
static void format_resume_command(char *buf, size_t size, int argc, char **argv)
{
    size_t used = (size_t)snprintf(buf, size, "fovea");
    bool has_resume = false;
    for (int i = 0; i < argc && used < size; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--resume") == 0) has_resume = true;
        bool plain = *a != '\0';
        for (const char *c = a; *c && plain; c++)
            plain = isalnum((unsigned char)*c) || strchr("_-./,:=@%+", *c);
        if (plain) {
            used += (size_t)snprintf(buf + used, size - used, " %s", a);
            continue;
        }
        used += (size_t)snprintf(buf + used, size - used, " '");
        for (const char *c = a; *c && used < size; c++)
            used += (size_t)snprintf(buf + used, size - used, *c == '\'' ? "'\\''" : "%c", *c);
        if (used < size) used += (size_t)snprintf(buf + used, size - used, "'");
    }
    if (!has_resume && used < size) snprintf(buf + used, size - used, " --resume");
}

static int train(int argc, char **argv, cli_mpi *mp)
{
    const char *cmd = "train";
    cli_opt opts[O_COUNT] = {
        [O_DATA] = {"data", true, false, NULL},
        [O_LABEL] = {"label-column", true, false, NULL},
        [O_LABELS] = {"labels", true, false, NULL},
        [O_OBJECT] = {"object", true, false, NULL},
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
        [O_NO_VALIDATION] = {"no-validation", false, false, NULL},
        [O_THREADS] = {"threads", true, false, NULL},
        [O_VERBOSE] = {"verbose", true, false, NULL},
        [O_PLOT] = {"plot", true, false, NULL},
        [O_CHECKPOINT] = {"checkpoint", true, false, NULL},
        [O_RESUME] = {"resume", false, false, NULL},
        [O_SAVE_BEST] = {"save-best", true, false, NULL},
        [O_MONITOR] = {"monitor", true, false, NULL},
        [O_PROFILE] = {"profile", false, false, NULL},
        [O_INTERP] = {"interpolation", true, false, NULL},
        [O_CROP] = {"crop-to-aspect-ratio", false, false, NULL},
        [O_FOLLOW] = {"follow-links", false, false, NULL},
        [O_STRICT] = {"strict", false, false, NULL},
        [O_ORDER] = {"file-order", true, false, NULL},
        [O_LABEL_MODE] = {"label-mode", true, false, NULL},
        [O_CLASS_NAMES] = {"class-names", true, false, NULL},
        [O_PRECISION] = {"precision", true, false, NULL},
        [O_CONV_ALGORITHM] = {"conv-algorithm", true, false, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, O_COUNT, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    const char *model_path = pos[0];
    if (!opts[O_DATA].seen) return cli_usage_error(cmd, "--data is required");

    /* Every number first, so that a typo costs nothing. */
    int64_t epochs = -1, batch_size = 0, verbose = -1;
    uint64_t seed = 0;
    double lr = 0, vsplit = -1;
    if (opts[O_EPOCHS].seen && (rc = cli_int(cmd, "--epochs", opts[O_EPOCHS].value, 0, INT32_MAX,
                                             "a whole number >= 0", &epochs)))
        return rc;
    if (opts[O_BATCH].seen && (rc = cli_int(cmd, "--batch-size", opts[O_BATCH].value, 1, INT32_MAX,
                                            "a positive integer", &batch_size)))
        return rc;
    /* Checked here, then given to the compile line as the user's own text (digits kept). */
    if (opts[O_LR].seen && (rc = cli_double(cmd, "--learning-rate", opts[O_LR].value, 0, true, 1e3,
                                            false, "a positive number up to 1000", &lr)))
        return rc;
    if (opts[O_PRECISION].seen && strcmp(opts[O_PRECISION].value, "fp32") != 0 &&
        strcmp(opts[O_PRECISION].value, "bf16") != 0)
        return cli_usage_error(cmd, "--precision: expected fp32 or bf16, got '%s'",
                               opts[O_PRECISION].value);
    if ((rc = cli_conv_algorithm_check(cmd, &opts[O_CONV_ALGORITHM]))) return rc;
    if (opts[O_OPTIMIZER].seen && strcmp(opts[O_OPTIMIZER].value, "adam") != 0 &&
        strcmp(opts[O_OPTIMIZER].value, "adamw") != 0 &&
        strcmp(opts[O_OPTIMIZER].value, "sgd") != 0)
        return cli_usage_error(cmd, "--optimizer: expected adam, adamw or sgd, got '%s'",
                               opts[O_OPTIMIZER].value);
    if (opts[O_SEED].seen && (rc = cli_u64(cmd, "--seed", opts[O_SEED].value, &seed))) return rc;
    if (opts[O_VSPLIT].seen &&
        (rc = cli_double(cmd, "--validation-split", opts[O_VSPLIT].value, 0, false, 1, true,
                         "a fraction at least 0 and below 1", &vsplit)))
        return rc;
    if ((rc = cli_apply_threads(cmd, &opts[O_THREADS]))) return rc;
    if (opts[O_VERBOSE].seen &&
        (rc = cli_int(cmd, "--verbose", opts[O_VERBOSE].value, 0, 2, "0, 1 or 2", &verbose)))
        return rc;
    if (verbose < 0) verbose = isatty(STDOUT_FILENO) ? 1 : 2;
    cli_image_flags imf = {
        .interpolation = opts[O_INTERP].seen ? opts[O_INTERP].value : NULL,
        .crop_to_aspect_ratio = opts[O_CROP].seen,
        .follow_links = opts[O_FOLLOW].seen,
        .strict = opts[O_STRICT].seen,
        .file_order = opts[O_ORDER].seen ? opts[O_ORDER].value : NULL,
        .label_mode = opts[O_LABEL_MODE].seen ? opts[O_LABEL_MODE].value : NULL,
        .class_names = opts[O_CLASS_NAMES].seen ? opts[O_CLASS_NAMES].value : NULL,
        .quiet = verbose == 0,
    };
    if ((rc = cli_image_flags_check(cmd, &imf))) return rc;

    /* Under mpirun, process 0 alone writes results and pictures (the others compute the same). */
    if (mp->rank > 0)
        opts[O_SAVE].seen = opts[O_HISTORY].seen = opts[O_PLOT].seen = opts[O_SAVE_BEST].seen =
            opts[O_MONITOR].seen = opts[O_PROFILE].seen = false;
    /* Where results go must be writable before an hour is spent training. */
    const char *save = opts[O_SAVE].seen ? opts[O_SAVE].value : NULL;
    const char *hist_path = opts[O_HISTORY].seen ? opts[O_HISTORY].value : NULL;
    if (save && cli_check_writable(cmd, "--save", save)) return CLI_FAIL;
    if (hist_path && cli_check_writable(cmd, "--history", hist_path)) return CLI_FAIL;
    if (opts[O_PLOT].seen && (rc = cli_check_picture_path(cmd, "--plot", opts[O_PLOT].value)))
        return rc;
    if (save && hist_path && strcmp(save, hist_path) == 0)
        return cli_usage_error(cmd, "--save and --history name the same file '%s'", save);
    for (int k = 0; k < 2; k++) { /* a model text must not be replaced by the weights */
        const char *out = k ? (opts[O_SAVE_BEST].seen ? opts[O_SAVE_BEST].value : NULL) : save;
        if (out && !cli_has_suffix(model_path, ".safetensors") && cli_same_file(out, model_path))
            return cli_usage_error(cmd,
                                   "%s '%s' is the model file being trained: saving there would "
                                   "replace its text with the weights; give another name, such "
                                   "as a .safetensors one",
                                   k ? "--save-best" : "--save", out);
    }
    const char *ckpt = opts[O_CHECKPOINT].seen ? opts[O_CHECKPOINT].value : NULL;
    const char *save_best = opts[O_SAVE_BEST].seen ? opts[O_SAVE_BEST].value : NULL;
    if (opts[O_RESUME].seen && !ckpt)
        return cli_usage_error(
            cmd, "--resume needs --checkpoint DIR (the folder of the checkpoint to resume from)");
    if (opts[O_NO_VALIDATION].seen && opts[O_VSPLIT].seen)
        return cli_usage_error(cmd, "--no-validation and --validation-split contradict each other: "
                                    "give one");
    if (opts[O_MONITOR].seen && !save_best)
        return cli_usage_error(
            cmd, "--monitor sets what --save-best watches; give --save-best PATH too");
    if (save_best && ((save && strcmp(save, save_best) == 0) ||
                      (hist_path && strcmp(hist_path, save_best) == 0)))
        return cli_usage_error(cmd, "--save-best names the same file as %s: '%s'",
                               save && strcmp(save, save_best) == 0 ? "--save" : "--history",
                               save_best);
    if (save_best && cli_check_writable(cmd, "--save-best", save_best)) return CLI_FAIL;
    if (ckpt && mp->rank == 0) {
        if (cli_exists(ckpt) && !cli_is_dir(ckpt)) {
            cli_error(cmd, "--checkpoint: '%s' is not a folder", ckpt);
            return CLI_FAIL;
        }
        if (!cli_exists(ckpt) && mkdir(ckpt, 0777) != 0) {
            cli_error(cmd, "--checkpoint: cannot create folder '%s': %s", ckpt, strerror(errno));
            return CLI_FAIL;
        }
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/checkpoint.safetensors", ckpt);
        if (cli_check_writable(cmd, "--checkpoint", probe)) return CLI_FAIL;
    }
    if (opts[O_WEIGHTS].seen && !cli_exists(opts[O_WEIGHTS].value)) {
        cli_error(cmd, "--weights: '%s': no such file", opts[O_WEIGHTS].value);
        return CLI_FAIL;
    }
    fv_model *m = NULL;
    fv_dataset *train = NULL, *test = NULL, *val = NULL;
    fv_history *history = NULL;
    rc = CLI_FAIL;

    m = cli_load_model(cmd, model_path, NULL);
    if (!m) goto done;
    /* An autoencoder's targets are its inputs (Keras' fit(x, x)) and a GAN's data are images
     * alone: only the others need labels beside a .npy array. */
    if (cli_has_suffix(opts[O_DATA].value, ".npy") && !opts[O_LABELS].seen && !fv_model_target(m) &&
        !fv_model_gan(m)) {
        cli_error(cmd,
                  "--data: '%s': a .npy array holds features only, no labels to train "
                  "on; give them with --labels Y.npy, or use an IDX folder or a CSV table",
                  opts[O_DATA].value);
        goto done;
    }
    if (apply_compile_overrides(cmd, m, model_path,
                                opts[O_OPTIMIZER].seen ? opts[O_OPTIMIZER].value : NULL,
                                opts[O_LR].seen ? opts[O_LR].value : NULL))
        goto done;
    if (opts[O_PRECISION].seen && fv_model_set_precision(m, opts[O_PRECISION].value) != FV_OK) {
        fprintf(stderr, "fovea train: --precision: %s\n", fv_last_error());
        goto done;
    }
    if (cli_conv_algorithm_apply(cmd, m, &opts[O_CONV_ALGORITHM])) goto done;
    fv_fit_opts fit = fv_model_fit_opts(m);
    if (epochs >= 0) fit.epochs = epochs;
    if (batch_size > 0) fit.batch_size = batch_size;
    if (opts[O_SEED].seen) fit.seed = seed;
    if (opts[O_NO_SHUFFLE].seen) fit.shuffle = false;
    if (vsplit >= 0) fit.validation_split = vsplit;
    if (fv_model_gan(m) && opts[O_SAVE_BEST].seen) {
        rc = cli_usage_error(cmd,
                             "--save-best: %s is a GAN: no validation figure to watch (validation "
                             "and early stopping are not done for GANs yet); --save keeps the "
                             "last epoch's model, --checkpoint every epoch's",
                             model_path);
        goto done;
    }
    if (fv_model_gan(m) && fit.validation_split > 0 && !opts[O_NO_VALIDATION].seen) {
        rc = cli_usage_error(cmd,
                             "%s: %s is a GAN, and validation is not done for GANs (its d_loss "
                             "and g_loss are training figures)%s",
                             opts[O_VSPLIT].seen ? "--validation-split" : "validation_split",
                             model_path,
                             opts[O_VSPLIT].seen ? ""
                                                 : ": its fit line asks for it; --no-validation "
                                                   "overrides it");
        goto done;
    }

    bool image_dir = cli_is_image_dir(opts[O_DATA].value),
         cifar = cli_is_cifar_dir(opts[O_DATA].value);
    if ((image_dir || cifar) && opts[O_LABEL].seen) {
        rc = cli_usage_error(cmd, "--label-column applies to CSV data only");
        goto done;
    }
    if (cli_is_npy_dir(m, opts[O_DATA].value)) {
        if ((rc = cli_load_npy_dir(cmd, m, opts[O_DATA].value, &train))) goto done;
    } else if (fv_model_is_pose(m, NULL) || cli_is_pose_dir(opts[O_DATA].value)) {
        rc = cli_load_pose(cmd, m, opts[O_DATA].value,
                           opts[O_OBJECT].seen ? opts[O_OBJECT].value : NULL, fit.seed, &train,
                           &test);
        if (rc) goto done;
    } else if (fv_model_detector_max_boxes(m) > 0 || cli_is_detection_dir(opts[O_DATA].value)) {
        if ((rc = cli_load_detection(cmd, m, opts[O_DATA].value, &train, &test))) goto done;
    } else if (image_dir) {
        /* The split is the loader's (shuffled first, as image_dataset_from_directory). */
        rc = cli_load_image_dir(cmd, opts[O_DATA].value, m, &imf, fit.validation_split, fit.seed,
                                &train, &val, &test);
        if (rc) goto done;
        fit.validation_split = 0;
    } else if (cifar) {
        if ((rc = cli_load_cifar(cmd, opts[O_DATA].value, &imf, &train, &test))) goto done;
    } else if ((rc = cli_load_data(cmd, opts[O_DATA].value,
                                   cli_label_column(m,
                                                    opts[O_LABEL].seen ? opts[O_LABEL].value : NULL,
                                                    opts[O_DATA].value),
                                   &train, &test)) ||
               (rc = cli_load_labels(cmd, opts[O_DATA].value,
                                     opts[O_LABELS].seen ? opts[O_LABELS].value : NULL, train))) {
        goto done;
    }
    rc = CLI_FAIL;
    /* A GAN's input is noise: the data are real images for its discriminator (checked by fit). */
    if (!fv_model_gan(m) && cli_check_input_shape(cmd, m, train, "--data")) goto done;
    if (!fv_model_gan(m) && test && cli_check_input_shape(cmd, m, test, "--data")) goto done;
    if (cli_warn_rescaling(cmd, model_path, m, train)) goto done;
    if (remember_labels(cmd, m, train)) goto done;

    /* Validation: the last fraction of the training data (before shuffling), else the test
     * set. The split is made here so that the library sees one validation dataset either way. */
    if (opts[O_NO_VALIDATION].seen) {
        fit.validation_split = 0;
        fit.validation_data = NULL;
    } else if (val) {
        fit.validation_data = val;
    } else if (fit.validation_split > 0) {
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

    fit.resume = opts[O_RESUME].seen;
    if (cli_mpi_checkpoint(cmd, mp, ckpt, &fit.checkpoint_dir, &fit.resume)) goto done;
    fit.collective = mp->size > 1 ? &mp->coll : NULL;
    fit.save_best = save_best;
    fit.save_best_monitor = opts[O_MONITOR].seen ? opts[O_MONITOR].value : NULL;
    int64_t resumed = 0;
    if (fit.resume) {
        bool found = false;
        int64_t total = 0;
        fv_status s = fv_checkpoint_info(fit.checkpoint_dir, &found, &resumed, &total);
        if (s != FV_OK) {
            cli_fail_lib(cmd, "--resume", s);
            goto done;
        }
        if (verbose > 0 && !found)
            printf("No checkpoint in %s yet: starting from epoch 1\n", ckpt);
        else if (verbose > 0 && resumed >= fit.epochs)
            printf("The checkpoint in %s holds %lld epoch%s already: nothing left to train\n", ckpt,
                   (long long)resumed, resumed == 1 ? "" : "s");
        else if (verbose > 0)
            printf("Resuming after epoch %lld/%lld from the checkpoint in %s\n", (long long)resumed,
                   (long long)fit.epochs, ckpt);
    }

    train_ui ui = {.m = m, .verbose = (int)verbose, .kill_after = kill_after_step()};
    /* A resumed run's first header is its first epoch's, printed when that epoch starts. */
    progress_init(&ui.prog, stdout, resumed > 0 ? 0 : (int)verbose, fit.epochs);
    ui.prog.verbose = (int)verbose;
    fit.on_batch = ui_on_batch;
    fit.on_epoch = ui_on_epoch;
    fit.user = &ui;
    /* A closed standard output (`fovea train ... | head`) must not kill the run before it saves:
     * writes then fail quietly instead of raising SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    progress_catch_signals();
    fv_status s = fv_model_fit(m, train, &fit, &history);
    progress_restore_signals();
    progress_finish(&ui.prog);
    if (s != FV_OK) {
        fv_fit_info info = fv_model_last_fit(m);
        char kept[8192] = "";
        if (ckpt && info.checkpoint_epochs > 0) {
            char resume[6144];
            format_resume_command(resume, sizeof resume, argc, argv);
            snprintf(kept, sizeof kept, "the checkpoint of epoch %lld is in %s: resume with '%s'",
                     (long long)info.checkpoint_epochs, ckpt, resume);
        } else if (ckpt) {
            snprintf(kept, sizeof kept,
                     "no epoch was completed, so there is no checkpoint to resume from");
        }
        if (s == FV_ERR_INTERRUPTED && progress_interrupted()) {
            /* process 0 says what was kept: the checkpoints are its own */
            if (mp->rank == 0)
                cli_error(cmd, "interrupted in epoch %lld/%lld at step %lld/%lld; %s%s",
                          (long long)(ui.prog.last_epoch + 1), (long long)fit.epochs,
                          (long long)ui.prog.last_step, (long long)ui.prog.last_steps,
                          ckpt ? "--save and --history were not written; " : "nothing was saved",
                          kept);
            rc = progress_exit_status();
        } else if (s == FV_ERR_NUMERIC && ckpt && info.checkpoint_epochs > 0)
            cli_error(cmd,
                      "%s; training stopped, --save and --history were not written; the last good "
                      "checkpoint (epoch %lld) is kept in %s",
                      fv_last_error(), (long long)info.checkpoint_epochs, ckpt);
        else if (s == FV_ERR_NUMERIC)
            cli_error(cmd, "%s; training stopped and nothing was saved", fv_last_error());
        else if (s == FV_ERR_NOMEM)
            cli_error(cmd, "%s (a smaller --batch-size needs less memory)", fv_last_error());
        else
            cli_fail_lib(cmd, NULL, s);
        goto done;
    }

    if (opts[O_PROFILE].seen) print_profile(m, fit.batch_size);
    fv_fit_info done_info = fv_model_last_fit(m);
    if (verbose > 0 && done_info.stopped_epoch >= 0 &&
        done_info.stopped_epoch < done_info.initial_epoch)
        printf("The checkpoint's run stopped early after epoch %lld: nothing left to train\n",
               (long long)done_info.stopped_epoch + 1);
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
    if (opts[O_PLOT].seen && history &&
        cli_plot_history(cmd, "--plot", history, opts[O_PLOT].value))
        goto done;
    if (test && mp->rank == 0 && !fv_model_gan(m)) {
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

int cmd_train(int argc, char **argv)
{
    cli_mpi mp;
    int rc = cli_mpi_start("train", &mp);
    if (rc != CLI_OK) return rc;
    cli_set_process(mp.rank, mp.size);
    return cli_mpi_finish(&mp, train(argc, argv, &mp));
}
