/* images.c — image data on the command line: folders of images (Keras'
 * image_dataset_from_directory layout), image files given to predict, and CIFAR's binary files;
 * the progress bar of a slow load, the skipped files' warnings and Keras' "Found N files belonging
 * to K classes." line.
 */
#include "images.h"
#include "common.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Warnings printed one by one; past this many only their count is given. */
#define MAX_WARNINGS 20

int cli_image_flags_check(const char *cmd, const cli_image_flags *f)
{
    if (f->interpolation && strcmp(f->interpolation, "bilinear") != 0 &&
        strcmp(f->interpolation, "nearest") != 0)
        return cli_usage_error(cmd, "--interpolation: expected bilinear or nearest, got '%s'",
                               f->interpolation);
    if (f->file_order && strcmp(f->file_order, "class") != 0 && strcmp(f->file_order, "name") != 0)
        return cli_usage_error(cmd, "--file-order: expected class or name, got '%s'",
                               f->file_order);
    if (f->label_mode && strcmp(f->label_mode, "fine") != 0 && strcmp(f->label_mode, "coarse") != 0)
        return cli_usage_error(cmd, "--label-mode: expected fine or coarse, got '%s'",
                               f->label_mode);
    return 0;
}

static bool file_in(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool dir_in(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return cli_is_dir(p);
}

bool cli_is_cifar_dir(const char *path)
{
    return cli_is_dir(path) &&
           (file_in(path, "data_batch_1.bin") || file_in(path, "test_batch.bin") ||
            file_in(path, "train.bin") || file_in(path, "test.bin"));
}

bool cli_is_image_file(const char *path)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (cli_has_suffix(path, ext[i])) return true;
    return false;
}

bool cli_is_image_dir(const char *path)
{
    if (!cli_is_dir(path) || strlen(path) > 4000) return false;
    if (file_in(path, "train-images-idx3-ubyte") || file_in(path, "train-images-idx3-ubyte.gz") ||
        file_in(path, "t10k-images-idx3-ubyte") || file_in(path, "t10k-images-idx3-ubyte.gz"))
        return false;
    if (dir_in(path, "train")) return true;
    DIR *d = opendir(path);
    if (!d) return false;
    bool sub = false;
    struct dirent *de;
    while (!sub && (de = readdir(d)))
        sub = de->d_name[0] != '.' && dir_in(path, de->d_name);
    closedir(d);
    return sub;
}

bool cli_model_image_shape(const fv_model *m, int64_t *h, int64_t *w, int *c)
{
    char *text = fv_model_to_text(m);
    if (!text) return false;
    bool found = false;
    for (char *line = text; line && *line && !found;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        while (isspace((unsigned char)*line))
            line++;
        char *sh;
        if (strncmp(line, "input", 5) == 0 && isspace((unsigned char)line[5]) &&
            (sh = strstr(line, "shape="))) {
            long long a, b, k;
            int used = 0;
            if (sscanf(sh + 6, "%lld,%lld,%lld%n", &a, &b, &k, &used) == 3 && a > 0 && b > 0 &&
                (k == 1 || k == 3 || k == 4) &&
                (sh[6 + used] == '\0' || isspace((unsigned char)sh[6 + used]))) {
                *h = a, *w = b, *c = (int)k;
                found = true;
            }
            break;
        }
        line = next;
    }
    free(text);
    return found;
}

/* ---- reporting --------------------------------------------------------------------------------
 */

/* Why files were skipped, for the summary line: told apart by the library's messages (src/io's
 * image.c and image_dir.c write them; a reason not recognised counts as corrupt). */
enum { WHY_EMPTY, WHY_NOT_IMAGE, WHY_TOO_LARGE, WHY_UNREADABLE, WHY_CORRUPT, WHY_N };
static const char *const why_text[WHY_N] = {"empty", "not an image", "over the size limit",
                                            "unreadable", "cut short or corrupt"};

typedef struct load_ui {
    const char *cmd;
    bool tty, drawn, quiet;
    double start;
    int64_t warnings;
    int64_t why[WHY_N];
} load_ui;

static int skip_reason(const char *reason)
{
    if (strstr(reason, ": empty file")) return WHY_EMPTY;
    if (strstr(reason, ": not a PNG, JPEG, BMP or GIF file")) return WHY_NOT_IMAGE;
    if (strstr(reason, "more than the limit of") || strstr(reason, "do not fit in memory"))
        return WHY_TOO_LARGE;
    if (strstr(reason, ": cannot read") || strstr(reason, "larger than the limit of"))
        return WHY_UNREADABLE;
    return WHY_CORRUPT;
}

static void on_progress(void *user, int64_t done, int64_t total)
{
    load_ui *ui = user;
    if (ui->quiet || !ui->tty || (cli_now() - ui->start < 1.0 && !ui->drawn)) return;
    const int width = 30;
    int filled = total > 0 ? (int)(width * done / total) : width;
    fprintf(stderr, "\rDecoding images %lld/%lld [", (long long)done, (long long)total);
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '=' : (i == filled ? '>' : '.'), stderr);
    fprintf(stderr, "] %.0f s", cli_now() - ui->start);
    ui->drawn = true;
    if (done == total) {
        fputc('\n', stderr);
        ui->drawn = false;
    }
    fflush(stderr);
}

static void on_skip(void *user, const char *path, const char *reason)
{
    load_ui *ui = user;
    if (ui->drawn) {
        fputc('\n', stderr);
        ui->drawn = false;
    }
    size_t n = strlen(path);
    bool file = strncmp(reason, path, n) == 0 && reason[n] == ':'; /* else a folder notice */
    if (file) ui->why[skip_reason(reason)]++;
    if (++ui->warnings > MAX_WARNINGS) return;
    if (file)
        cli_error(ui->cmd, "warning: skipped %s", reason);
    else
        cli_error(ui->cmd, "warning: %s: %s", path, reason);
}

static void finish_warnings(load_ui *ui)
{
    if (ui->warnings > MAX_WARNINGS)
        cli_error(ui->cmd, "warning: ... and %lld more like these",
                  (long long)(ui->warnings - MAX_WARNINGS));
    ui->warnings = 0;
}

fv_image_opts cli_image_opts(const fv_model *m, const cli_image_flags *f)
{
    fv_image_opts o = fv_image_defaults();
    int c = 3;
    cli_model_image_shape(m, &o.height, &o.width, &c);
    o.channels = c;
    if (f->interpolation && strcmp(f->interpolation, "nearest") == 0)
        o.interpolation = FV_INTERP_NEAREST;
    o.crop_to_aspect_ratio = f->crop_to_aspect_ratio;
    o.follow_links = f->follow_links;
    o.strict = f->strict;
    if (f->file_order && strcmp(f->file_order, "name") == 0) o.order = FV_ORDER_NAME;
    return o;
}

static void print_found(load_ui *ui, const fv_image_info *info, const char *what)
{
    if (!ui->quiet) {
        printf("Found %lld files belonging to %lld classes%s%s%s.\n", (long long)info->files,
               (long long)info->classes, what ? " (" : "", what ? what : "", what ? ")" : "");
        if (info->skipped > 0) {
            printf("Skipped %lld of them that could not be decoded:", (long long)info->skipped);
            const char *sep = " ";
            for (int k = 0; k < WHY_N; k++)
                if (ui->why[k]) {
                    printf("%s%lld %s", sep, (long long)ui->why[k], why_text[k]);
                    sep = ", ";
                }
            printf(" (the warnings name each).\n");
        }
    }
    memset(ui->why, 0, sizeof ui->why);
}

/* One tree; *val only with vsplit > 0. */
static int load_tree(const char *cmd, const char *dir, const fv_image_opts *base, load_ui *ui,
                     double vsplit, uint64_t seed, const fv_dataset *classes_from, fv_dataset **out,
                     fv_dataset **val, const char *what)
{
    fv_image_opts o = *base;
    o.on_progress = on_progress;
    o.on_skip = on_skip;
    o.user = ui;
    o.validation_split = vsplit > 0 ? vsplit : 0;
    o.seed = seed;
    const char **names = NULL;
    if (classes_from) {
        int64_t k = fv_dataset_classes(classes_from);
        names = calloc((size_t)(k > 0 ? k : 1), sizeof *names);
        if (!names) {
            cli_error(cmd, "out of memory");
            return CLI_FAIL;
        }
        for (int64_t i = 0; i < k; i++)
            names[i] = fv_dataset_class_name(classes_from, i);
        o.class_names = names;
        o.nclass_names = k;
    }
    fv_image_info info;
    ui->start = cli_now();
    fv_status s = fv_dataset_load_image_dir(dir, &o, out, val, &info);
    free(names);
    if (ui->drawn) {
        fputc('\n', stderr);
        ui->drawn = false;
    }
    finish_warnings(ui);
    if (s != FV_OK) return cli_fail_lib(cmd, "--data", s);
    print_found(ui, &info, what);
    if (vsplit > 0 && !ui->quiet)
        printf("Using %lld files for training.\nUsing %lld files for validation.\n",
               (long long)fv_dataset_count(*out), (long long)fv_dataset_count(*val));
    return 0;
}

/* The names of --class-names ("A,B" or "@FILE", one a line; blank lines ignored) into a
 * malloc'd array of strings pointing into *text (also malloc'd). */
static int parse_class_names(const char *cmd, const char *arg, char **text, const char ***names,
                             int64_t *n)
{
    *text = NULL, *names = NULL, *n = 0;
    const char *sep = ",";
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "rb");
        if (!f) {
            cli_error(cmd, "--class-names: cannot read '%s'", arg + 1);
            return CLI_FAIL;
        }
        size_t cap = 1 << 16, len = 0;
        *text = malloc(cap + 1);
        if (*text) len = fread(*text, 1, cap, f);
        bool more = *text && fgetc(f) != EOF;
        fclose(f);
        if (!*text || more) {
            cli_error(cmd, "--class-names: '%s' is larger than 64 KiB", arg + 1);
            free(*text);
            *text = NULL;
            return CLI_FAIL;
        }
        (*text)[len] = '\0';
        sep = "\r\n";
    } else if (!(*text = strdup(arg))) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    size_t cap = strlen(*text) / 2 + 2;
    *names = calloc(cap, sizeof **names);
    if (!*names) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    char *save = NULL;
    for (char *t = strtok_r(*text, sep, &save); t; t = strtok_r(NULL, sep, &save)) {
        for (int64_t i = 0; i < *n; i++)
            if (strcmp((*names)[i], t) == 0) {
                cli_error(cmd, "--class-names: '%s' is named twice", t);
                return CLI_FAIL;
            }
        (*names)[(*n)++] = t;
    }
    if (*n == 0) {
        cli_error(cmd, "--class-names: no names in '%s'", arg);
        return CLI_FAIL;
    }
    return 0;
}

int cli_load_image_dir(const char *cmd, const char *dir, const fv_model *m,
                       const cli_image_flags *f, double vsplit, uint64_t seed, fv_dataset **train,
                       fv_dataset **val, fv_dataset **test)
{
    *train = NULL;
    if (val) *val = NULL;
    if (test) *test = NULL;
    int64_t h, w;
    int c;
    if (!cli_model_image_shape(m, &h, &w, &c)) {
        cli_error(cmd,
                  "--data: '%s' is a folder of images, but the model's input is not an image "
                  "(input shape=HEIGHT,WIDTH,CHANNELS with 1, 3 or 4 channels)",
                  dir);
        return CLI_FAIL;
    }
    fv_image_opts o = cli_image_opts(m, f);
    load_ui ui = {.cmd = cmd, .tty = isatty(STDERR_FILENO) != 0, .quiet = f->quiet};
    char sub[4200];
    char *names_text = NULL;
    const char **names = NULL;
    int64_t nnames = 0;
    int rc = 0;
    if (f->class_names &&
        (rc = parse_class_names(cmd, f->class_names, &names_text, &names, &nnames))) {
        free(names_text);
        free(names);
        return rc;
    }
    o.class_names = names, o.nclass_names = nnames;
    if (!dir_in(dir, "train"))
        rc = load_tree(cmd, dir, &o, &ui, vsplit, seed, NULL, train, val, NULL);
    else {
        snprintf(sub, sizeof sub, "%s/train", dir);
        rc = load_tree(cmd, sub, &o, &ui, vsplit, seed, NULL, train, val, "train");
    }
    free(names_text);
    free(names);
    o.class_names = NULL, o.nclass_names = 0;
    if (rc || !test || !dir_in(dir, "train")) return rc;
    const char *tname = dir_in(dir, "test") ? "test" : dir_in(dir, "val") ? "val" : NULL;
    if (!tname) return 0;
    snprintf(sub, sizeof sub, "%s/%s", dir, tname);
    /* The training folder's classes: a class without a test folder is empty there. */
    rc = load_tree(cmd, sub, &o, &ui, 0, seed, *train, test, NULL, tname);
    if (rc) {
        fv_dataset_free(*train);
        *train = NULL;
        if (val) {
            fv_dataset_free(*val);
            *val = NULL;
        }
    }
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the image files of dir (sorted, not recursive) to *list. */
static int add_folder(const char *cmd, const char *dir, char ***list, int64_t *n, int64_t *cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        cli_error(cmd, "--input: '%s': cannot open the folder", dir);
        return CLI_FAIL;
    }
    int64_t first = *n;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!cli_is_image_file(de->d_name) || strncmp(de->d_name, "._", 2) == 0) continue;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 64;
            char **nl = realloc(*list, (size_t)*cap * sizeof *nl);
            if (!nl) break;
            *list = nl;
        }
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(len);
        if (!p) break;
        snprintf(p, len, "%s/%s", dir, de->d_name);
        if (cli_is_dir(p)) {
            free(p);
            continue;
        }
        (*list)[(*n)++] = p;
    }
    closedir(d);
    if (*n - first > 1) qsort(*list + first, (size_t)(*n - first), sizeof **list, cmp_str);
    if (*n == first) {
        cli_error(cmd, "--input: '%s': no image files (.png, .jpg, .jpeg, .bmp, .gif) in it", dir);
        return CLI_FAIL;
    }
    return 0;
}

int cli_load_image_inputs(const char *cmd, const char *const *inputs, int n, const fv_model *m,
                          const cli_image_flags *f, fv_dataset **out)
{
    *out = NULL;
    int64_t h, w;
    int c;
    if (!cli_model_image_shape(m, &h, &w, &c)) {
        cli_error(cmd, "--input: image files need a model whose input is an image (input "
                       "shape=HEIGHT,WIDTH,CHANNELS with 1, 3 or 4 channels)");
        return CLI_FAIL;
    }
    char **list = NULL;
    int64_t cnt = 0, cap = 0;
    bool any_folder = false;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (cli_is_dir(inputs[i])) {
            any_folder = true;
            rc = add_folder(cmd, inputs[i], &list, &cnt, &cap);
            continue;
        }
        if (!cli_exists(inputs[i])) {
            cli_error(cmd, "--input: '%s': no such file", inputs[i]);
            rc = CLI_FAIL;
            break;
        }
        if (cnt == cap) {
            cap = cap ? 2 * cap : 64;
            char **nl = realloc(list, (size_t)cap * sizeof *nl);
            if (!nl) {
                rc = CLI_FAIL;
                break;
            }
            list = nl;
        }
        if (!(list[cnt] = strdup(inputs[i]))) {
            rc = CLI_FAIL;
            break;
        }
        cnt++;
    }
    if (!rc) {
        fv_image_opts o = cli_image_opts(m, f);
        load_ui ui = {.cmd = cmd, .tty = isatty(STDERR_FILENO) != 0, .quiet = true};
        o.on_progress = on_progress;
        o.on_skip = on_skip;
        o.user = &ui;
        o.strict = f->strict || !any_folder;
        ui.start = cli_now();
        fv_image_info info;
        *out = fv_dataset_load_image_files((const char *const *)list, cnt, &o, &info);
        finish_warnings(&ui);
        if (!*out) rc = cli_fail_lib(cmd, "--input", FV_ERR_FORMAT);
    }
    for (int64_t i = 0; i < cnt; i++)
        free(list[i]);
    free(list);
    return rc;
}

int cli_load_image_eval(const char *cmd, const char *path, const fv_model *m,
                        const cli_image_flags *f, fv_dataset **d)
{
    *d = NULL;
    if (cli_is_cifar_dir(path)) {
        int rc = cli_load_cifar(cmd, path, f, NULL, d);
        if (!rc && !*d) {
            cli_error(cmd, "'%s': no CIFAR test file (test_batch.bin or test.bin)", path);
            return CLI_FAIL;
        }
        return rc;
    }
    if (!cli_is_dir(path) && cli_is_image_file(path))
        return cli_load_image_inputs(cmd, &path, 1, m, f, d);
    if (!cli_is_image_dir(path)) return CLI_CONTINUE;
    int64_t h, w;
    int c;
    if (!cli_model_image_shape(m, &h, &w, &c)) {
        cli_error(cmd, "'%s' is a folder of images, but the model's input is not an image", path);
        return CLI_FAIL;
    }
    char sub[4200];
    const char *dir = path;
    if (dir_in(path, "train")) {
        const char *t = dir_in(path, "test") ? "test" : dir_in(path, "val") ? "val" : NULL;
        if (!t) {
            cli_error(cmd, "'%s' has train/ but no test/ or val/ folder to evaluate on", path);
            return CLI_FAIL;
        }
        snprintf(sub, sizeof sub, "%s/%s", path, t);
        dir = sub;
    }
    fv_image_opts o = cli_image_opts(m, f);
    int64_t k = fv_model_class_count(m);
    const char **names = k > 0 ? calloc((size_t)k, sizeof *names) : NULL;
    for (int64_t i = 0; names && i < k; i++)
        names[i] = fv_model_class_name(m, i);
    o.class_names = names, o.nclass_names = names ? k : 0;
    load_ui ui = {.cmd = cmd, .tty = isatty(STDERR_FILENO) != 0, .quiet = true};
    o.on_progress = on_progress, o.on_skip = on_skip, o.user = &ui;
    ui.start = cli_now();
    fv_image_info info;
    fv_status s = fv_dataset_load_image_dir(dir, &o, d, NULL, &info);
    free(names);
    finish_warnings(&ui);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, "--data", s);
}

int cli_load_cifar(const char *cmd, const char *dir, const cli_image_flags *f, fv_dataset **train,
                   fv_dataset **test)
{
    fv_status s = fv_dataset_load_cifar(dir, f->label_mode, train, test);
    if (s != FV_OK) return cli_fail_lib(cmd, "--data", s);
    return 0;
}

int cli_keep_class_names(const char *cmd, fv_model *m, const fv_dataset *d)
{
    int64_t k = fv_dataset_classes(d);
    if (k <= 0 || !fv_dataset_class_name(d, 0)) return 0;
    const char **names = calloc((size_t)k, sizeof *names);
    if (!names) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    for (int64_t i = 0; i < k; i++)
        names[i] = fv_dataset_class_name(d, i);
    fv_status s = fv_model_set_class_names(m, k, names);
    free(names);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, NULL, s);
}

int cli_warn_rescaling(const char *cmd, const char *model_path, const fv_model *m,
                       const fv_dataset *d)
{
    char warning[512];
    fv_status s = fv_model_check_rescaling(m, d, warning, sizeof warning);
    if (s != FV_OK) return cli_fail_lib(cmd, model_path, s);
    if (warning[0]) cli_error(cmd, "warning: %s: %s", model_path, warning);
    return 0;
}
