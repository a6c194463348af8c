/* predict.c — `fovea predict MODEL --input X [--output P.csv|P.npy]`: the predicted classes of a
 * saved model for IDX images, a float32 .npy array or image files, printed as a table (a summary
 * for many samples; each file's top classes by name for images), and written as a CSV of the top
 * classes or as the raw outputs (.npy, atomically).
 */
#include "commands.h"
#include "common.h"
#include "images.h"
#include "predictions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: fovea predict MODEL.safetensors --input X [--output P.csv|P.npy] [options]\n"
    "       fovea predict MODEL.safetensors --input IMAGE [IMAGE ...] | DIR [--top-k K]\n"
    "                     [--output P.npy|PREDS.csv] [options]\n"
    "\n"
    "Predicts the class of every sample of X (an IDX image file, gzipped or not, pixels scaled by\n"
    "1/255 as in training; or a .npy array of any numeric type in NHWC order, read as float32)\n"
    "with a model saved by 'fovea train --save', and prints each sample's class (its name when\n"
    "the model was trained on named classes) and probability, or for more than 20 samples the\n"
    "count of each predicted class.\n"
    "\n"
    "Image files (PNG, JPEG, BMP, GIF; or every image file in a folder DIR, sorted) are decoded\n"
    "and resized to the model's input as in training; each file's top K classes are printed by\n"
    "name (the class names saved with the model, else the indices) with their probabilities.\n"
    "--output PREDS.csv writes them as rows index,file,rank,class,name,probability (rank from\n"
    "1); --output P.npy the raw outputs.\n"
    "\n"
    "options:\n"
    "  --input X          the samples (required)\n"
    "  --output P.csv     one row per sample and rank: index,file,rank,class,name,probability\n"
    "                     (file is empty for array input)\n"
    "  --output P.npy     the final layer's raw outputs instead (float32, N x units)\n"
    "                     (either is replaced only when complete)\n"
    "  --top-k K          the K most probable classes of each sample (default 1; 3 for image\n"
    "                     files)\n"
    "  --batch-size N     samples per batch (default: the model's fit line, else 32)\n"
    "  --threads N        threads to use (default: FOVEA_THREADS, else\n"
    "                     OMP_NUM_THREADS, else all cores)\n"
    "  --precision P      fp32 or bf16: the arithmetic of the dense and conv2d layers\n"
    "                     (default: the model's own); bf16 multiplies in bf16 with fp32 sums,\n"
    "                     also on a model trained in fp32; refused where the CPU has no bf16\n"
    "                     instructions\n"
    "  --conv-algorithm A direct or winograd: the algorithm of the 3x3 stride-1 conv2d layers\n"
    "                     (default: the model's own)\n"
    "  --interpolation bilinear|nearest, --crop-to-aspect-ratio: as for 'fovea train'\n"
    "  --strict           a file found in a folder that cannot be decoded is an error (default:\n"
    "                     skipped with a warning; files named one by one must always decode)\n"
    "  --timing           print where the time went (IDX and .npy input): loading the model,\n"
    "                     reading the input, and the prediction itself (every batch, the pixels'\n"
    "                     conversion included), in milliseconds\n";

/* An autoencoder's or VAE's outputs are images, not class scores: only --output P.npy takes them.
 * Returns CLI_OK when the model is a classifier or the output is a .npy file, else an error. */
static int check_not_autoencoder(const char *cmd, const fv_model *m, const char *model_path,
                                 const char *output)
{
    if (!fv_model_target(m) || (output && cli_has_suffix(output, ".npy"))) return CLI_OK;
    cli_error(cmd,
              "'%s' is %s: its outputs are reconstructions, not class scores; --output P.npy "
              "writes them (fovea viz reconstructions draws them)",
              model_path, cli_model_kind(m));
    return CLI_USAGE;
}

/* The input's kind, from its first bytes: .npy's magic, or IDX's (0, 0, type, rank); gzip is
 * taken as IDX, the only compressed input read. */
typedef enum input_kind { INPUT_UNKNOWN, INPUT_NPY, INPUT_IDX } input_kind;

static input_kind sniff_input(const char *path)
{
    unsigned char b[6] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return INPUT_UNKNOWN;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n >= 6 && memcmp(b, "\x93NUMPY", 6) == 0) return INPUT_NPY;
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return INPUT_IDX;
    if (n >= 4 && b[0] == 0 && b[1] == 0) return INPUT_IDX;
    return INPUT_UNKNOWN;
}

static bool little_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* Writes the .npy v1.0 header for a C-order '<f4' array: magic, version, header length, and
 * the dictionary padded with spaces and a newline so that the data starts at a multiple of 64. */
static bool write_npy_header(FILE *f, int rank, const int64_t *dims)
{
    char shape[256] = "(";
    size_t used = 1;
    for (int i = 0; i < rank; i++) {
        int n = snprintf(shape + used, sizeof shape - used, "%lld, ", (long long)dims[i]);
        if (n < 0 || (size_t)n >= sizeof shape - used) return false;
        used += (size_t)n;
    }
    if (rank > 1)
        used -= 2; /* (N, K) but (N,) */
    else
        used -= 1;
    shape[used] = ')';
    shape[used + 1] = '\0';
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                       shape);
    if (len < 0 || (size_t)len >= sizeof dict - 80) return false;
    size_t total = 10 + (size_t)len + 1; /* magic 6, version 2, length 2, dict, '\n' */
    size_t pad = (64 - total % 64) % 64;
    memset(dict + len, ' ', pad);
    dict[(size_t)len + pad] = '\n';
    size_t hlen = (size_t)len + pad + 1;
    unsigned char pre[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    return fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(dict, 1, hlen, f) == hlen;
}

static bool write_npy_data(FILE *f, const float *x, size_t count)
{
    if (little_endian()) return fwrite(x, sizeof(float), count, f) == count;
    for (size_t i = 0; i < count; i++) {
        unsigned char b[4], le[4];
        memcpy(b, &x[i], 4);
        le[0] = b[3], le[1] = b[2], le[2] = b[1], le[3] = b[0];
        if (fwrite(le, 1, 4, f) != 4) return false;
    }
    return true;
}

/* Writes a float32 .npy file: to a temporary file beside path, flushed to disk, then renamed
 * over path, so that an existing file is replaced only by a complete one. */
static int write_npy_atomic(const char *cmd, const char *path, int rank, const int64_t *dims,
                            const float *x, size_t count)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cli_error(cmd, "--output: cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return CLI_FAIL;
    }
    /* mkstemp creates 0600; give the file the permissions a plain fopen would. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask); /* on failure the file keeps 0600: still usable */
    FILE *f = fdopen(fd, "wb");
    bool ok = f && write_npy_header(f, rank, dims) && write_npy_data(f, x, count);
    int err = errno;
    if (f) {
        ok = fflush(f) == 0 && ok;
        ok = fsync(fileno(f)) == 0 && ok;
        if (!ok) err = errno;
        ok = fclose(f) == 0 && ok;
    } else {
        close(fd);
    }
    if (ok && rename(tmp, path) != 0) {
        err = errno;
        ok = false;
    }
    if (!ok) {
        unlink(tmp);
        cli_error(cmd, "--output: cannot write '%s': %s", path, strerror(err));
    }
    free(tmp);
    return ok ? CLI_OK : CLI_FAIL;
}

/* The table (or summary) on stdout, and the CSV when asked for. */
static int report_predictions(const char *cmd, const fv_model *m, const float *out, int64_t n,
                              int64_t k, int64_t top_k, const char *path, bool csv)
{
    int64_t nnames = 0;
    const char *const *names = fv_model_class_names(m, &nnames);
    cli_predictions pr = {
        .scores = out, .n = n, .k = k, .top_k = top_k, .names = names, .nnames = nnames};
    if (csv && cli_predictions_write_csv(cmd, "--output", path, &pr)) return CLI_FAIL;
    if (cli_predictions_print(stdout, &pr, path) != 0 || fflush(stdout) != 0) {
        cli_error(cmd, "cannot write to standard output%s",
                  path ? " (the output was written)" : "");
        return CLI_FAIL;
    }
    return 0;
}

/* ---- image files: top classes by name ------------------------------------------------------- */

/* The classes of row p (k scores; k == 1: a sigmoid's P(class 1), read as two classes) in
 * decreasing probability (the lower index first on ties), the first top of them into idx/prob. */
static int top_classes(const float *p, int64_t k, int top, int64_t *idx, double *prob)
{
    int64_t classes = k == 1 ? 2 : k;
    int n = 0;
    for (int64_t c = 0; c < classes; c++) {
        double v = k == 1 ? (c == 1 ? p[0] : 1.0 - p[0]) : p[c];
        int pos = n < top ? n : top;
        while (pos > 0 && prob[pos - 1] < v)
            pos--;
        if (pos >= top) continue;
        int last = n < top ? n : top - 1;
        for (int j = last; j > pos; j--)
            idx[j] = idx[j - 1], prob[j] = prob[j - 1];
        idx[pos] = c, prob[pos] = v;
        if (n < top) n++;
    }
    return n;
}

static const char *class_label(const fv_model *m, int64_t c, char *buf, size_t size)
{
    const char *name = fv_model_class_name(m, c);
    if (name) return name;
    snprintf(buf, size, "%lld", (long long)c);
    return buf;
}

/* The CSV of the image files' top classes: the rows of cli_predictions_write_csv, file named. */
static int write_top_csv(const char *cmd, const char *path, const fv_model *m, const fv_dataset *x,
                         const float *out, int64_t k, int top)
{
    const int64_t n = fv_dataset_count(x);
    const char **files = calloc((size_t)(n > 0 ? n : 1), sizeof *files);
    if (!files) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    for (int64_t i = 0; i < n; i++)
        files[i] = fv_dataset_file(x, i) ? fv_dataset_file(x, i) : "";
    int64_t nnames = 0;
    const char *const *names = fv_model_class_names(m, &nnames);
    cli_predictions pr = {.scores = out,
                          .n = n,
                          .k = k,
                          .top_k = top,
                          .names = names,
                          .nnames = nnames,
                          .files = files};
    int rc = cli_predictions_write_csv(cmd, "--output", path, &pr);
    free(files);
    return rc;
}

static void print_top(const fv_model *m, const fv_dataset *x, const float *out, int64_t k, int top)
{
    int64_t idx[64];
    double prob[64];
    char buf[32];
    for (int64_t i = 0; i < fv_dataset_count(x); i++) {
        int n = top_classes(out + i * k, k, top, idx, prob);
        printf("%s:", fv_dataset_file(x, i));
        for (int r = 0; r < n; r++)
            printf("%s %s %.4f", r ? "," : "", class_label(m, idx[r], buf, sizeof buf), prob[r]);
        printf("\n");
    }
}

/* predict on image files: decode, run, then print, CSV or .npy. */
static int predict_images(const char *cmd, const char *model_path, const char *const *inputs,
                          int ninputs, const char *output, int64_t batch_size, int top,
                          const cli_image_flags *imf, const cli_opt *precision,
                          const cli_opt *conv_alg)
{
    fv_model *m = NULL;
    fv_dataset *x = NULL;
    float *out = NULL;
    int rc = CLI_FAIL;
    m = cli_load_trained_model(cmd, model_path);
    if (!m || cli_precision_apply(cmd, m, precision) || cli_conv_algorithm_apply(cmd, m, conv_alg))
        goto done;
    if ((rc = check_not_autoencoder(cmd, m, model_path, output))) goto done;
    if ((rc = cli_load_image_inputs(cmd, inputs, ninputs, m, imf, &x))) goto done;
    rc = CLI_FAIL;
    if (batch_size == 0) {
        fv_fit_opts fit = fv_model_fit_opts(m);
        batch_size = fit.batch_size > 0 ? fit.batch_size : 32;
    }
    int64_t n = fv_dataset_count(x), k = fv_model_output_size(m);
    if (k <= 0 || (uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)k) {
        cli_error(cmd, "--input: %lld images x %lld outputs is too large", (long long)n,
                  (long long)k);
        goto done;
    }
    out = malloc((size_t)n * (size_t)k * sizeof *out);
    if (!out) {
        cli_error(cmd, "out of memory for %lld x %lld outputs", (long long)n, (long long)k);
        goto done;
    }
    fv_status s = fv_model_predict(m, x, batch_size, out);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    if (output && cli_has_suffix(output, ".npy")) {
        int64_t dims[2] = {n, k};
        rc = write_npy_atomic(cmd, output, 2, dims, out, (size_t)(n * k));
    } else if (output) {
        rc = write_top_csv(cmd, output, m, x, out, k, top);
    } else {
        print_top(m, x, out, k, top);
        rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
    }
done:
    free(out);
    fv_dataset_free(x);
    fv_model_free(m);
    return rc;
}

static int predict_command(const char *cmd, cli_opt *opts, int nopts, const char **pos, int npos);

int cmd_predict(int argc, char **argv)
{
    const char *cmd = "predict";
    cli_opt opts[] = {
        {"input", true, false, NULL},
        {"output", true, false, NULL},
        {"batch-size", true, false, NULL},
        {"threads", true, false, NULL},
        {"top-k", true, false, NULL},
        {"interpolation", true, false, NULL},
        {"crop-to-aspect-ratio", false, false, NULL},
        {"strict", false, false, NULL},
        {"precision", true, false, NULL},
        {"conv-algorithm", true, false, NULL},
        {"timing", false, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    /* MODEL, then (image input only) more image files after --input's */
    enum { MAX_INPUTS = 65536 };
    const char **pos = malloc(MAX_INPUTS * sizeof *pos);
    if (!pos) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, MAX_INPUTS - 1, &npos);
    if (rc != CLI_CONTINUE) {
        free(pos);
        return rc;
    }
    rc = predict_command(cmd, opts, nopts, pos, npos);
    free(pos);
    return rc;
}

static int predict_command(const char *cmd, cli_opt *opts, int nopts, const char **pos, int npos)
{
    int rc;
    cli_opt *input = cli_find(opts, nopts, "input");
    cli_opt *output = cli_find(opts, nopts, "output");
    cli_opt *batch = cli_find(opts, nopts, "batch-size");
    cli_opt *threads = cli_find(opts, nopts, "threads");
    cli_opt *topk = cli_find(opts, nopts, "top-k");
    cli_opt *precision = cli_find(opts, nopts, "precision");
    cli_opt *timing = cli_find(opts, nopts, "timing");
    cli_opt *conv_alg = cli_find(opts, nopts, "conv-algorithm");
    if (!input->seen) return cli_usage_error(cmd, "--input is required");
    if ((rc = cli_precision_check(cmd, precision))) return rc;
    if ((rc = cli_conv_algorithm_check(cmd, conv_alg))) return rc;
    bool csv = output->seen && cli_has_suffix(output->value, ".csv");
    if (output->seen && !csv && !cli_has_suffix(output->value, ".npy"))
        return cli_usage_error(cmd, "--output: '%s': expected a .csv or a .npy file name",
                               output->value);
    cli_image_flags imf = {
        .interpolation = cli_find(opts, nopts, "interpolation")->value,
        .crop_to_aspect_ratio = cli_find(opts, nopts, "crop-to-aspect-ratio")->seen,
        .strict = cli_find(opts, nopts, "strict")->seen,
        .quiet = true,
    };
    if ((rc = cli_image_flags_check(cmd, &imf))) return rc;
    bool images = cli_is_image_file(input->value) ||
                  (cli_is_dir(input->value) && !cli_is_cifar_dir(input->value) &&
                   !cli_is_npy_dir(NULL, input->value));
    if (!images && npos > 1) return cli_usage_error(cmd, "unexpected argument '%s'", pos[1]);
    int64_t top_k = images ? 3 : 1;
    if (topk->seen &&
        (rc = cli_int(cmd, "--top-k", topk->value, 1, INT32_MAX, "a positive integer", &top_k)))
        return rc;
    if (images && top_k > 64)
        return cli_usage_error(cmd, "--top-k: at most 64 classes a file for image input, got %lld",
                               (long long)top_k);
    if (images) {
        if (timing->seen)
            return cli_usage_error(cmd, "--timing times IDX and .npy input, not image files (their "
                                        "decoding would be counted too)");
        int64_t bs = 0;
        if (batch->seen && (rc = cli_int(cmd, "--batch-size", batch->value, 1, INT32_MAX,
                                         "a positive integer", &bs)))
            return rc;
        if ((rc = cli_apply_threads(cmd, threads))) return rc;
        if (output->seen && cli_check_writable(cmd, "--output", output->value)) return CLI_FAIL;
        const char **inputs = pos; /* pos[0] is MODEL: reuse its slot for --input's file */
        const char *model_path = pos[0];
        inputs[0] = input->value;
        return predict_images(cmd, model_path, inputs, npos, output->seen ? output->value : NULL,
                              bs, (int)top_k, &imf, precision, conv_alg);
    }
    int64_t batch_size = 0;
    if (batch->seen && (rc = cli_int(cmd, "--batch-size", batch->value, 1, INT32_MAX,
                                     "a positive integer", &batch_size)))
        return rc;
    if ((rc = cli_apply_threads(cmd, threads))) return rc;
    if (output->seen && cli_check_writable(cmd, "--output", output->value)) return CLI_FAIL;

    fv_model *m = NULL;
    fv_dataset *x = NULL;
    float *out = NULL;
    rc = CLI_FAIL;
    const double t_start = cli_now();
    m = cli_load_trained_model(cmd, pos[0]);
    if (!m || cli_precision_apply(cmd, m, precision) || cli_conv_algorithm_apply(cmd, m, conv_alg))
        goto done;
    if ((rc = check_not_autoencoder(cmd, m, pos[0], output->seen ? output->value : NULL)))
        goto done;
    rc = CLI_FAIL;
    const double t_model = cli_now();
    if (cli_is_npy_dir(m, input->value)) {
        /* a folder of .npy arrays: x.npy or one per input, as for train and evaluate */
        if (cli_load_npy_dir(cmd, m, input->value, &x)) goto done;
    } else if (!cli_exists(input->value) || cli_is_dir(input->value)) {
        cli_error(cmd, "--input: '%s': %s", input->value,
                  cli_exists(input->value)
                      ? "is a folder without x.npy; give an IDX or .npy file, or such a folder"
                      : "no such file");
        goto done;
    } else
        switch (sniff_input(input->value)) {
        case INPUT_NPY:
            x = fv_dataset_load_npy(input->value);
            break;
        case INPUT_IDX:
            x = fv_dataset_load_idx(input->value, NULL);
            break;
        default:
            cli_error(cmd, "--input: '%s': neither an IDX image file nor a .npy array",
                      input->value);
            goto done;
        }
    if (!x) {
        cli_fail_lib(cmd, NULL, FV_ERR_FORMAT);
        goto done;
    }
    if (cli_check_input_shape(cmd, m, x, "--input")) goto done;
    if (batch_size == 0) {
        fv_fit_opts fit = fv_model_fit_opts(m);
        batch_size = fit.batch_size > 0 ? fit.batch_size : 32;
    }

    int64_t n = fv_dataset_count(x);
    int64_t k = fv_model_output_size(m);
    if (n <= 0 || k <= 0) {
        cli_error(cmd, "--input: '%s' holds no samples", input->value);
        goto done;
    }
    if ((uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)k) {
        cli_error(cmd, "--input: %lld samples x %lld outputs is too large", (long long)n,
                  (long long)k);
        goto done;
    }
    size_t count = (size_t)n * (size_t)k;
    out = malloc(count * sizeof(float));
    if (!out) {
        cli_error(cmd, "out of memory for %lld x %lld outputs", (long long)n, (long long)k);
        goto done;
    }
    const double t_input = cli_now();
    fv_status s = fv_model_predict(m, x, batch_size, out);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    if (timing->seen) {
        /* the model-loaded steady state (bench/run's figure against ONNX Runtime's session.run) */
        const double t_pred = cli_now();
        printf("Timing: model loaded in %.1f ms, input read in %.1f ms, %lld samples predicted "
               "in %.1f ms (%.3f ms/sample, batch %lld)\n",
               1e3 * (t_model - t_start), 1e3 * (t_input - t_model), (long long)n,
               1e3 * (t_pred - t_input), 1e3 * (t_pred - t_input) / (double)n,
               (long long)batch_size);
    }
    /* Shape (N, final layer's shape): (N, units) for a dense head. */
    int64_t dims[5] = {n, k};
    int rank = 2;
    int layers = fv_model_layer_count(m);
    int64_t ldims[4];
    int lrank = layers > 0 ? fv_model_layer_shape(m, layers - 1, ldims) : 0;
    int64_t lsize = 1;
    for (int i = 0; i < lrank && i < 4; i++)
        lsize *= ldims[i];
    if (lrank >= 1 && lrank <= 4 && lsize == k) {
        for (int i = 0; i < lrank; i++)
            dims[1 + i] = ldims[i];
        rank = 1 + lrank;
    }
    rc = output->seen && !csv ? write_npy_atomic(cmd, output->value, rank, dims, out, count) : 0;
    if (rc == 0 && fv_model_target(m)) { /* an autoencoder's images: no class table */
        printf("%lld reconstructions, %lld values each, written to %s\n", (long long)n,
               (long long)k, output->value);
        rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
    } else if (rc == 0)
        rc = report_predictions(cmd, m, out, n, k, top_k, output->seen ? output->value : NULL, csv);
done:
    free(out);
    fv_dataset_free(x);
    fv_model_free(m);
    return rc;
}
