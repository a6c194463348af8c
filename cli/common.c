/* common.c — option parsing, checked numbers, error messages and loading of the models and
 * datasets named on the command line, shared by every subcommand of fovea.
 */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- messages ----------------------------------------------------------------------------- */

/* Under mpirun (cli_set_process): this process's rank and the process count. */
static int process_rank, process_count = 1;

void cli_set_process(int rank, int count)
{
    process_rank = rank, process_count = count;
}

bool cli_is_worker(void)
{
    return process_rank > 0;
}

static void verror(const char *cmd, const char *fmt, va_list ap)
{
    /* Under mpirun every process meets the same warnings: process 0 alone reports them. An
     * error may be one process's own (its file cannot be read), so each reports it, named. */
    if (process_rank > 0 && strncmp(fmt, "warning: ", 9) == 0) return;
    fflush(stdout); /* keep stdout's earlier lines before the message when both go to one place */
    /* one write per message, so that two processes' messages do not interleave in a line */
    char text[4096];
    int n = process_count > 1 && process_rank > 0
                ? snprintf(text, sizeof text, "fovea %s (process %d of %d): ", cmd ? cmd : "",
                           process_rank, process_count)
            : cmd ? snprintf(text, sizeof text, "fovea %s: ", cmd)
                  : snprintf(text, sizeof text, "fovea: ");
    if (n < 0 || (size_t)n >= sizeof text) n = 0;
    const int m = vsnprintf(text + n, sizeof text - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof text - 2) len = sizeof text - 2; /* a cut message keeps its newline */
    text[len++] = '\n';
    fwrite(text, 1, len, stderr);
    fflush(stderr);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(cmd, fmt, ap);
    va_end(ap);
}

int cli_fail_lib(const char *cmd, const char *context, fv_status s)
{
    const char *msg = fv_last_error();
    if (!msg || !*msg) msg = fv_status_str(s);
    if (context)
        cli_error(cmd, "%s: %s", context, msg);
    else
        cli_error(cmd, "%s", msg);
    return CLI_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (cmd)
        cli_error(cmd, "%s (see 'fovea %s --help')", text, cmd);
    else
        cli_error(NULL, "%s (see 'fovea --help')", text);
    return CLI_USAGE;
}

/* ---- options ------------------------------------------------------------------------------- */

cli_opt *cli_find(cli_opt *opts, int nopts, const char *name)
{
    for (int i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0) return &opts[i];
    return NULL;
}

static cli_opt *find_prefix(cli_opt *opts, int nopts, const char *arg, size_t len)
{
    for (int i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0) return &opts[i];
    return NULL;
}

int cli_parse(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts, int nopts,
              const char **pos, int min_pos, int max_pos, int *npos)
{
    bool options_done = false;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (*npos >= max_pos) return cli_usage_error(cmd, "unexpected argument '%s'", arg);
            pos[(*npos)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage, stdout);
            return CLI_OK;
        }
        if (arg[1] != '-') return cli_usage_error(cmd, "unknown option '%s'", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_opt *o = find_prefix(opts, nopts, name, len);
        if (!o) return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, name);
        if (!o->takes_value) {
            if (eq) return cli_usage_error(cmd, "--%s takes no value", o->name);
            o->seen = true;
            o->value = "";
            continue;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else {
            /* "--save --epochs 3" is a forgotten value, not a file named "--epochs". */
            if (i + 1 >= argc || (argv[i + 1][0] == '-' && argv[i + 1][1] == '-'))
                return cli_usage_error(cmd, "--%s: missing value", o->name);
            value = argv[++i];
        }
        if (!*value) return cli_usage_error(cmd, "--%s: empty value", o->name);
        o->seen = true;
        o->value = value;
    }
    if (*npos < min_pos) {
        /* Name what is missing by the usage line: "usage: fovea train MODEL --data ...". */
        size_t n = strcspn(usage, "\n");
        return cli_usage_error(cmd, "missing argument; %.*s", (int)n, usage);
    }
    return CLI_CONTINUE;
}

static int bad_number(const char *cmd, const char *flag, const char *what, const char *text)
{
    return cli_usage_error(cmd, "%s: expected %s, got '%s'", flag, what, text);
}

int cli_int(const char *cmd, const char *flag, const char *text, int64_t min, int64_t max,
            const char *what, int64_t *out)
{
    if (!text || !*text || isspace((unsigned char)text[0]))
        return bad_number(cmd, flag, what, text ? text : "");
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v < min || v > max) return bad_number(cmd, flag, what, text);
    *out = (int64_t)v;
    return 0;
}

int cli_u64(const char *cmd, const char *flag, const char *text, uint64_t *out)
{
    const char *what = "a non-negative integer";
    /* strtoull accepts "-1" and wraps it around: insist on a digit first. */
    if (!text || !isdigit((unsigned char)text[0]))
        return bad_number(cmd, flag, what, text ? text : "");
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end) return bad_number(cmd, flag, what, text);
    *out = (uint64_t)v;
    return 0;
}

int cli_double(const char *cmd, const char *flag, const char *text, double min, bool lo_open,
               double max, bool hi_open, const char *what, double *out)
{
    if (!text || !*text || isspace((unsigned char)text[0]))
        return bad_number(cmd, flag, what, text ? text : "");
    errno = 0;
    char *end;
    double v = strtod(text, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max || (lo_open && v == min) ||
        (hi_open && v == max))
        return bad_number(cmd, flag, what, text);
    *out = v;
    return 0;
}

int cli_apply_threads(const char *cmd, const cli_opt *o)
{
    int64_t nt = 0;
    int rc;
    if (!o->seen) return 0;
    if ((rc = cli_int(cmd, "--threads", o->value, 1, 4096, "a positive integer", &nt))) return rc;
    fv_set_threads((int)nt);
    return 0;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- files ------------------------------------------------------------------------------- */

bool cli_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool cli_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

bool cli_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

bool cli_has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n >= k && strcasecmp(path + n - k, suffix) == 0;
}

int cli_check_writable(const char *cmd, const char *flag, const char *path)
{
    if (cli_is_dir(path)) {
        cli_error(cmd, "%s: '%s' is a folder; give a file name", flag, path);
        return CLI_FAIL;
    }
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *tmpl = malloc(dlen + 64);
    if (!tmpl) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    if (!slash)
        strcpy(tmpl, ".");
    else if (dlen == 0)
        strcpy(tmpl, "/");
    else {
        memcpy(tmpl, path, dlen);
        tmpl[dlen] = '\0';
    }
    if (!cli_is_dir(tmpl)) {
        if (cli_exists(tmpl))
            cli_error(cmd, "%s: cannot write '%s': '%s' is not a folder", flag, path, tmpl);
        else
            cli_error(cmd, "%s: cannot write '%s': folder '%s' does not exist", flag, path, tmpl);
        free(tmpl);
        return CLI_FAIL;
    }
    size_t base = strlen(tmpl);
    strcpy(tmpl + base, "/.fovea-write-check-XXXXXX");
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        int err = errno;
        tmpl[base] = '\0';
        cli_error(cmd, "%s: cannot write '%s': cannot create files in folder '%s': %s", flag, path,
                  tmpl, strerror(err));
        free(tmpl);
        return CLI_FAIL;
    }
    close(fd);
    unlink(tmpl);
    free(tmpl);
    return 0;
}

/* ---- models and data ----------------------------------------------------------------------- */

/* A safetensors file opens with its JSON header's length (8 bytes, little-endian) and then '{';
 * a model text file never has zero bytes in its first eight. */
static bool looks_like_safetensors(const char *path)
{
    unsigned char b[9];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    return n == sizeof b && b[8] == '{' && b[7] == 0 && b[6] == 0 && b[5] == 0;
}

fv_model *cli_load_model(const char *cmd, const char *path, bool *has_weights)
{
    if (!cli_exists(path)) {
        cli_error(cmd, "'%s': no such file", path);
        return NULL;
    }
    if (cli_is_dir(path)) {
        cli_error(cmd, "'%s': is a folder, not a model file", path);
        return NULL;
    }
    bool st = looks_like_safetensors(path);
    fv_model *m = st ? fv_model_load(path) : fv_model_parse_file(path);
    if (!m) {
        cli_fail_lib(cmd, NULL, FV_ERR_FORMAT);
        return NULL;
    }
    if (has_weights) *has_weights = st;
    return m;
}

fv_model *cli_load_trained_model(const char *cmd, const char *path)
{
    bool has_weights = false;
    fv_model *m = cli_load_model(cmd, path, &has_weights);
    if (m && !has_weights) {
        cli_error(cmd,
                  "%s: a model file holds no trained weights; give a model saved by "
                  "'fovea train --save'",
                  path);
        fv_model_free(m);
        return NULL;
    }
    return m;
}

int cli_sampling_layer(const fv_model *m)
{
    for (int i = 0; i < fv_model_layer_count(m); i++)
        if (strcmp(fv_model_layer_kind(m, i), "sampling") == 0) return i;
    return -1;
}

bool cli_is_classifier(const fv_model *m)
{
    int64_t dims[4];
    return !fv_model_gan(m) && !fv_model_target(m) && fv_model_detector_max_boxes(m) == 0 &&
           !fv_model_is_pose(m, NULL) && fv_model_output_count(m) == 1 &&
           fv_model_output_shape(m, 0, dims) == 1 && dims[0] >= 2;
}

const char *cli_model_kind(const fv_model *m)
{
    if (fv_model_gan(m)) return "a GAN";
    if (fv_model_target(m)) return cli_sampling_layer(m) >= 0 ? "a VAE" : "an autoencoder";
    if (fv_model_detector_max_boxes(m) > 0) return "a detector";
    if (fv_model_is_pose(m, NULL)) return "a pose network";
    return cli_is_classifier(m) ? "a classifier" : "a model";
}

void cli_layer_names(const fv_model *m, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < fv_model_layer_count(m); i++) {
        const char *name = fv_model_layer_name(m, i);
        if (used + strlen(name) + 7 >= size) {
            snprintf(buf + used, size - used, "%s...", used ? ", " : "");
            return;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", name);
    }
}

int cli_precision_check(const char *cmd, const cli_opt *precision)
{
    if (!precision->seen || strcmp(precision->value, "fp32") == 0 ||
        strcmp(precision->value, "bf16") == 0)
        return 0;
    return cli_usage_error(cmd, "--precision: expected fp32 or bf16, got '%s'", precision->value);
}

int cli_precision_apply(const char *cmd, fv_model *m, const cli_opt *precision)
{
    if (!precision->seen) return 0;
    const fv_status s = fv_model_set_precision(m, precision->value);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, "--precision", s);
}

int cli_conv_algorithm_check(const char *cmd, const cli_opt *algorithm)
{
    if (!algorithm->seen || strcmp(algorithm->value, "direct") == 0 ||
        strcmp(algorithm->value, "winograd") == 0)
        return 0;
    return cli_usage_error(cmd, "--conv-algorithm: expected direct or winograd, got '%s'",
                           algorithm->value);
}

int cli_conv_algorithm_apply(const char *cmd, fv_model *m, const cli_opt *algorithm)
{
    if (!algorithm->seen) return 0;
    const fv_status s = fv_model_set_conv_algorithm(m, algorithm->value);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, "--conv-algorithm", s);
}

/* True if dir holds the named IDX file, gzipped or not. */
static bool has_idx(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (cli_exists(path)) return true;
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    return cli_exists(path);
}

int cli_load_data(const char *cmd, const char *path, const char *label_column, fv_dataset **train,
                  fv_dataset **test)
{
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (!cli_exists(path)) {
        cli_error(cmd, "--data: '%s': no such file or folder", path);
        return CLI_FAIL;
    }
    if (cli_is_dir(path)) {
        if (label_column)
            return cli_usage_error(cmd,
                                   "--label-column applies to CSV data only, and '%s' is a "
                                   "folder of IDX files",
                                   path);
        if (strlen(path) > 3000) {
            cli_error(cmd, "--data: folder name too long");
            return CLI_FAIL;
        }
        /* The test set is optional for training; a folder without one is not an error, but a
         * test set that is there and broken is. */
        bool want_test = test && (has_idx(path, "t10k-images-idx3-ubyte") ||
                                  has_idx(path, "t10k-labels-idx1-ubyte") || !train);
        fv_status s = fv_dataset_load_idx_dir(path, train, want_test ? test : NULL);
        if (s != FV_OK) return cli_fail_lib(cmd, NULL, s);
        return 0;
    }
    fv_dataset **dst = train ? train : test;
    if (cli_has_suffix(path, ".csv")) {
        *dst = fv_dataset_load_csv(path, label_column);
    } else if (cli_has_suffix(path, ".npy")) {
        if (label_column) return cli_usage_error(cmd, "--label-column applies to CSV data only");
        *dst = fv_dataset_load_npy(path);
    } else {
        cli_error(cmd, "--data: '%s': expected a folder of IDX files, a .csv or a .npy file", path);
        return CLI_FAIL;
    }
    if (!*dst) return cli_fail_lib(cmd, NULL, FV_ERR_FORMAT);
    return 0;
}

void cli_format_shape(char *buf, size_t size, int rank, const int64_t *dims)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < rank && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%lld", i ? "x" : "", (long long)dims[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

int cli_check_input_shape(const char *cmd, const fv_model *m, const fv_dataset *d, const char *what)
{
    int64_t dims[4];
    int rank = fv_model_input_shape(m, 0, dims);
    if (rank < 1) return 0;
    fv_status s = fv_dataset_check_shape(d, rank, dims);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, what, s);
}

const char *cli_label_column(const fv_model *m, const char *given, const char *data_path)
{
    if (given) return given;
    if (data_path && cli_has_suffix(data_path, ".csv")) return fv_model_label_column(m);
    return NULL;
}

int cli_load_labels(const char *cmd, const char *data_path, const char *labels_path, fv_dataset *d)
{
    if (!labels_path) return 0;
    if (!cli_has_suffix(data_path, ".npy"))
        return cli_usage_error(cmd,
                               "--labels applies to a .npy array of features; '%s' has its "
                               "own labels",
                               data_path);
    if (!cli_exists(labels_path)) {
        cli_error(cmd, "--labels: '%s': no such file", labels_path);
        return CLI_FAIL;
    }
    fv_status s = fv_dataset_load_labels_npy(d, labels_path);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, "--labels", s);
}

/* DIR/NAME.npy into buf; false if it does not exist. */
static bool npy_in(const char *dir, const char *name, char *buf, size_t size)
{
    return (size_t)snprintf(buf, size, "%s/%s.npy", dir, name) < size && cli_exists(buf);
}

bool cli_is_npy_dir(const fv_model *m, const char *path)
{
    char buf[4096];
    return cli_is_dir(path) && (npy_in(path, "x", buf, sizeof buf) ||
                                (m && fv_model_input_count(m) > 0 &&
                                 npy_in(path, fv_model_input_name(m, 0), buf, sizeof buf)));
}

int cli_load_npy_dir(const char *cmd, const fv_model *m, const char *dir, fv_dataset **out)
{
    char path[4096];
    *out = NULL;
    if (!npy_in(dir, "x", path, sizeof path))
        npy_in(dir, fv_model_input_name(m, 0), path, sizeof path);
    fv_dataset *d = fv_dataset_load_npy(path);
    if (!d) return cli_fail_lib(cmd, "--data", FV_ERR_FORMAT);
    fv_status s = FV_OK;
    /* every other input by its name */
    for (int k = 1; s == FV_OK && k < fv_model_input_count(m); k++) {
        const char *name = fv_model_input_name(m, k);
        if (!npy_in(dir, name, path, sizeof path)) {
            cli_error(cmd, "--data: '%s' has no %s.npy for the model's input '%s'", dir, name,
                      name);
            fv_dataset_free(d);
            return CLI_FAIL;
        }
        s = fv_dataset_add_input_npy(d, name, path);
    }
    /* targets: one file per output named after it; a single output's may be y.npy */
    const int nout = fv_model_output_count(m);
    for (int j = 0; s == FV_OK && j < nout; j++) {
        const char *name = fv_model_output_name(m, j);
        bool found = npy_in(dir, name, path, sizeof path) ||
                     (nout == 1 && npy_in(dir, "y", path, sizeof path));
        if (!found && nout > 1) {
            cli_error(cmd, "--data: '%s' has no %s.npy for the model's output '%s'", dir, name,
                      name);
            fv_dataset_free(d);
            return CLI_FAIL;
        }
        if (found)
            s = nout > 1 ? fv_dataset_add_output_npy(d, name, path)
                         : fv_dataset_load_labels_npy(d, path);
    }
    if (s != FV_OK) {
        fv_dataset_free(d);
        return cli_fail_lib(cmd, "--data", s);
    }
    *out = d;
    return 0;
}

int cli_use_model_classes(const char *cmd, const fv_model *m, fv_dataset *d)
{
    int64_t n = 0;
    const char *const *names = fv_model_class_names(m, &n);
    fv_status s = fv_dataset_use_class_names(d, names, n);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, "--data", s);
}

void cli_print_repr(FILE *out, double x)
{
    char buf[64];
    if (isnan(x)) {
        fputs("nan", out);
        return;
    }
    if (isinf(x)) {
        fputs(x > 0 ? "inf" : "-inf", out);
        return;
    }
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
    int exp10 = atoi(strchr(buf, 'e') + 1);
    /* Python's rule: positional notation for exponents -4..15, else scientific. */
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = prec - 1 - exp10;
        snprintf(buf, sizeof buf, "%.*f", decimals > 0 ? decimals : 0, x);
        if (!strchr(buf, '.')) strcat(buf, ".0");
    }
    fputs(buf, out);
}
