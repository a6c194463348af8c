/* viz.c — `fovea viz kernels|features|activations`: pictures of what a network learned (the
 * filters of a convolution, the feature maps of one input) and of the activation functions;
 * and the picture helpers shared with plot, evaluate, train and report.
 */
#include "viz.h"

#include "commands.h"
#include "pose.h"
#include "common.h"
#include "generative.h"
#include "detect.h"
#include "images.h"

#include <math.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ------------------------------------------------------------------------ */

void cli_alias_output(int argc, char **argv)
{
    static char output[] = "--output";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "-o") == 0) argv[i] = output;
    }
}

int cli_check_picture_path(const char *cmd, const char *flag, const char *path)
{
    if (!cli_has_suffix(path, ".png") && !cli_has_suffix(path, ".svg"))
        return cli_usage_error(cmd, "%s: '%s': name a .png or .svg file", flag, path);
    return cli_check_writable(cmd, flag, path) ? CLI_FAIL : 0;
}

int cli_save_picture(const char *cmd, const char *flag, fv_picture *p, const char *path)
{
    if (!p) return cli_fail_lib(cmd, NULL, FV_ERR_INVALID);
    fv_status s = fv_picture_save(p, path);
    fv_picture_free(p);
    if (s != FV_OK) return cli_fail_lib(cmd, flag, s);
    return 0;
}

int cli_plot_history(const char *cmd, const char *flag, const fv_history *h, const char *path)
{
    fv_picture *p = fv_plot_history(h, NULL);
    if (!p) return cli_fail_lib(cmd, flag, FV_ERR_INVALID);
    return cli_save_picture(cmd, flag, p, path);
}

static const char *const fashion_names[] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                            "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                            "Bag",         "Ankle boot"};

void cli_free_class_names(char **names, int64_t count)
{
    if (!names) return;
    for (int64_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* Whether path is a folder holding image files itself (not class folders, not IDX files). */
static bool dir_has_images(const char *path)
{
    DIR *dir = cli_is_dir(path) ? opendir(path) : NULL;
    bool found = false;
    for (struct dirent *e; dir && !found && (e = readdir(dir));)
        found = e->d_name[0] != '.' && cli_is_image_file(e->d_name);
    if (dir) closedir(dir);
    return found;
}

int cli_model_class_names(const char *cmd, const fv_model *m, char ***names, int64_t *count)
{
    int64_t n = 0;
    const char *const *model = fv_model_class_names(m, &n);
    int64_t k = fv_model_output_size(m);
    if (*names || !model || n != (k == 1 ? 2 : k)) return 0; /* names of every class, or none */
    char **copy = calloc((size_t)n, sizeof *copy);
    for (int64_t i = 0; copy && i < n; i++)
        if (!(copy[i] = strdup(model[i]))) {
            cli_free_class_names(copy, i);
            copy = NULL;
        }
    if (!copy) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    *names = copy;
    *count = n;
    return 0;
}

int cli_class_names(const char *cmd, const char *text, char ***names, int64_t *count)
{
    *names = NULL;
    *count = 0;
    if (!text) return 0;
    bool fashion = strcmp(text, "fashion-mnist") == 0;
    int64_t n = fashion ? 10 : 1;
    for (const char *c = text; !fashion && *c; c++)
        n += *c == ',';
    char **out = calloc((size_t)n, sizeof *out);
    if (!out) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    const char *s = text;
    for (int64_t i = 0; i < n; i++) {
        size_t len = fashion ? strlen(fashion_names[i]) : strcspn(s, ",");
        const char *from = fashion ? fashion_names[i] : s;
        if (len == 0) {
            cli_free_class_names(out, n);
            return cli_usage_error(cmd, "--class-names: name %lld is empty in '%s'",
                                   (long long)i + 1, text);
        }
        out[i] = malloc(len + 1);
        if (!out[i]) {
            cli_free_class_names(out, n);
            cli_error(cmd, "out of memory");
            return CLI_FAIL;
        }
        memcpy(out[i], from, len);
        out[i][len] = '\0';
        if (!fashion) s += len + 1;
    }
    *names = out;
    *count = n;
    return 0;
}

int cli_names_and_picture(const char *cmd, const char *names_text, const char *path, char ***names,
                          int64_t *count)
{
    int rc = cli_class_names(cmd, names_text, names, count);
    if (rc) return rc;
    if ((rc = cli_check_picture_path(cmd, "--output", path))) {
        cli_free_class_names(*names, *count);
        *names = NULL, *count = 0;
    }
    return rc;
}

int cli_check_class_names(const char *cmd, int64_t count, int64_t outputs)
{
    /* A one-unit (sigmoid) classifier has two classes, 0 and 1. */
    int64_t classes = outputs == 1 ? 2 : outputs;
    if (count == 0 || count == classes) return 0;
    cli_error(cmd, "--class-names: %lld names given, but the model has %lld classes",
              (long long)count, (long long)classes);
    return CLI_FAIL;
}

/* ---- fovea viz ----------------------------------------------------------------------------- */

static const char usage[] =
    "usage: fovea viz kernels|features|activations|reconstructions|latent|interpolate|boxes|\n"
    "                 detections|augment|pose ARGS -o OUT.png|OUT.svg\n"
    "\n"
    "Pictures of what a network learned:\n"
    "  fovea viz kernels MODEL.safetensors [--layer NAME] -o kernels.png\n"
    "      every filter of a conv2d layer as a grid of tiles, blue negative, white zero,\n"
    "      red positive\n"
    "  fovea viz features MODEL.safetensors --input DATA [--index N] -o features.png\n"
    "      one image run through the model: the image, then every conv2d, pooling and\n"
    "      activation output, one tile per channel\n"
    "  fovea viz activations -o activations.png\n"
    "      each activation function of fovea and its derivative\n"
    "  fovea viz reconstructions MODEL.safetensors --data DIR -o recon.png\n"
    "      an autoencoder's or VAE's test images above their reconstructions\n"
    "  fovea viz latent MODEL.safetensors --data DIR -o latent.png\n"
    "      a VAE's codes of the test images by class, and its decoded manifold\n"
    "  fovea viz interpolate MODEL.safetensors --data DIR --from I --to J -o interp.png\n"
    "      images decoded along the line between two test images' codes\n"
    "  fovea viz boxes DIR [--detections DET.json] -o boxes.png\n"
    "      images of a detection dataset with their boxes (and a detector's)\n"
    "  fovea viz detections MODEL --input IMG|DIR -o det.png\n"
    "      a detector's boxes over images (with --data DIR, beside the ground truth)\n"
    "  fovea viz augment MODEL --data DATA [--index N] [--copies K] -o aug.png\n"
    "      one image and copies of it through the model's augmentation layers, as\n"
    "      training draws them\n"
    "  fovea viz pose MODEL --input IMG|DIR -o pose.png\n"
    "      a pose network's estimate as the object's projected 3-D box and axes (beside\n"
    "      the true pose for images of a BOP dataset)\n"
    "\n"
    "'fovea viz kernels --help' (and so on) shows each one's options. The picture's format\n"
    "follows the extension of -o: .png or .svg.\n";

static const char kernels_usage[] =
    "usage: fovea viz kernels MODEL.safetensors [--layer NAME] -o OUT.png|OUT.svg\n"
    "\n"
    "Draws every filter of a convolution layer of a saved model: one row per filter and one tile\n"
    "per input channel (for a first layer with one input channel, the filters side by side),\n"
    "all on one scale symmetric around zero: blue negative, white zero, red positive, with a\n"
    "colour bar.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     the picture, .png or .svg (required)\n"
    "  --layer NAME          the conv2d layer (default: the first; see 'fovea summary MODEL')\n";

static const char features_usage[] =
    "usage: fovea viz features MODEL.safetensors --input DATA [--index N] -o OUT.png|OUT.svg\n"
    "\n"
    "Runs one image through a saved model and draws it, then the output of every conv2d,\n"
    "pooling and activation layer as a grid with one tile per channel, each section titled\n"
    "with the layer's name and shape.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     the picture, .png or .svg (required)\n"
    "  --input DATA          a folder of IDX files (its test set), an IDX image file, a\n"
    "                        float32 .npy array of images, an image file (PNG, JPEG, BMP,\n"
    "                        GIF), a folder of images (its test/ or val/ folder when it has\n"
    "                        train/) or CIFAR binary files (required)\n"
    "  --index N             which image, from 0 (default 0)\n"
    "  --cmap viridis|grey   the colour map of the feature maps (default viridis)\n"
    "  --class-names LIST    names of the classes, comma-separated, or 'fashion-mnist'\n";

static const char activations_usage[] =
    "usage: fovea viz activations -o OUT.png|OUT.svg\n"
    "\n"
    "Draws each activation function of the seed's list (sigmoid, tanh, ReLU, leaky ReLU,\n"
    "maxout, ELU) and its derivative, computed by fovea's own kernels.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     the picture, .png or .svg (required)\n";

static int viz_kernels(int argc, char **argv)
{
    const char *cmd = "viz kernels";
    cli_opt opts[] = {{"output", true, false, NULL}, {"layer", true, false, NULL}};
    const int nopts = 2;
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, kernels_usage, argc, argv, opts, nopts, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if ((rc = cli_check_picture_path(cmd, "--output", opts[0].value))) return rc;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    if (!m) return CLI_FAIL;
    fv_picture *p = fv_plot_kernels(m, opts[1].seen ? opts[1].value : NULL);
    rc = p ? cli_save_picture(cmd, "--output", p, opts[0].value)
           : cli_fail_lib(cmd, pos[0], FV_ERR_INVALID);
    fv_model_free(m);
    return rc ? CLI_FAIL : CLI_OK;
}

/* Loads --input: a folder (its test set), .npy or .csv through cli_load_data, else an IDX image
 * file. */
static int load_images(const char *cmd, const char *path, fv_dataset **d)
{
    *d = NULL;
    if (cli_is_dir(path) || cli_has_suffix(path, ".npy") || cli_has_suffix(path, ".csv")) {
        int rc = cli_load_data(cmd, path, NULL, NULL, d);
        if (rc) return rc;
        if (!*d) {
            cli_error(cmd, "--input: '%s' has no test set (t10k-images-idx3-ubyte)", path);
            return CLI_FAIL;
        }
        return 0;
    }
    if (!cli_exists(path)) {
        cli_error(cmd, "--input: '%s': no such file or folder", path);
        return CLI_FAIL;
    }
    *d = fv_dataset_load_idx(path, NULL);
    return *d ? 0 : cli_fail_lib(cmd, "--input", FV_ERR_FORMAT);
}

/* "label 3 (Dress), predicted 3 (Dress), p = 0.97" for sample i, from the model's last output
 * (already computed for it) when that output reads as class probabilities. */
static void describe(char *buf, size_t n, const fv_model *m, const fv_dataset *d, int64_t i,
                     char *const *names, int64_t nnames)
{
    size_t used = 0;
    const int32_t *labels = fv_dataset_labels(d);
    if (labels) {
        int32_t y = labels[i];
        used += (size_t)snprintf(buf + used, n - used, ", label %d", y);
        if (names && y >= 0 && y < nnames)
            used += (size_t)snprintf(buf + used, n - used, " (%s)", names[y]);
    }
    int last = fv_model_layer_count(m) - 1;
    const float *out = fv_model_layer_output(m, last);
    int64_t k = fv_model_output_size(m);
    if (!out || k < 1 || used >= n) return;
    double sum = 0;
    bool probs = true;
    for (int64_t c = 0; c < k; c++) {
        if (!(out[c] >= 0 && out[c] <= 1)) probs = false;
        sum += out[c];
    }
    if (!probs || (k > 1 && fabs(sum - 1) > 1e-3)) return;
    int64_t best = 0;
    double p = out[0];
    if (k == 1) {
        best = out[0] > 0.5f;
        p = best ? out[0] : 1 - out[0];
    } else {
        for (int64_t c = 1; c < k; c++)
            if (out[c] > out[best]) best = c;
        p = out[best];
    }
    used += (size_t)snprintf(buf + used, n - used, ", predicted %lld", (long long)best);
    if (names && best < nnames && used < n)
        used += (size_t)snprintf(buf + used, n - used, " (%s)", names[best]);
    if (used < n) snprintf(buf + used, n - used, " with p = %.3f", p);
}

int cli_viz_load_input(const char *cmd, const char *path, const fv_model *m, fv_dataset **d)
{
    cli_image_flags imf = {.quiet = true};
    int rc = cli_load_image_eval(cmd, path, m, &imf, d);
    if (rc == CLI_CONTINUE && dir_has_images(path)) {
        const char *in = path; /* a plain folder of image files, as predict takes */
        rc = cli_load_image_inputs(cmd, &in, 1, m, &imf, d);
    }
    if (rc == CLI_CONTINUE) rc = load_images(cmd, path, d);
    return rc;
}

static int viz_features(int argc, char **argv)
{
    const char *cmd = "viz features";
    enum { O_OUT, O_INPUT, O_INDEX, O_CMAP, O_NAMES, O_N };
    cli_opt opts[O_N] = {
        [O_OUT] = {"output", true, false, NULL},        [O_INPUT] = {"input", true, false, NULL},
        [O_INDEX] = {"index", true, false, NULL},       [O_CMAP] = {"cmap", true, false, NULL},
        [O_NAMES] = {"class-names", true, false, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, features_usage, argc, argv, opts, O_N, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[O_OUT].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if (!opts[O_INPUT].seen) return cli_usage_error(cmd, "--input is required");
    int64_t index = 0;
    if (opts[O_INDEX].seen && (rc = cli_int(cmd, "--index", opts[O_INDEX].value, 0, INT64_MAX,
                                            "a sample index from 0", &index)))
        return rc;
    const char *cmap = opts[O_CMAP].seen ? opts[O_CMAP].value : "viridis";
    if (strcmp(cmap, "viridis") != 0 && strcmp(cmap, "grey") != 0 && strcmp(cmap, "gray") != 0)
        return cli_usage_error(cmd, "--cmap: expected viridis or grey, got '%s'", cmap);
    char **names = NULL;
    int64_t nnames = 0;
    if ((rc = cli_names_and_picture(cmd, opts[O_NAMES].seen ? opts[O_NAMES].value : NULL,
                                    opts[O_OUT].value, &names, &nnames)))
        return rc;

    fv_model *m = NULL;
    fv_dataset *d = NULL;
    float *x = NULL;
    rc = CLI_FAIL;
    if (!(m = cli_load_trained_model(cmd, pos[0]))) goto done;
    if (cli_model_class_names(cmd, m, &names, &nnames)) goto done;
    if (cli_check_class_names(cmd, nnames, fv_model_output_size(m))) goto done;
    if (!names && (rc = cli_model_class_names(cmd, m, &names, &nnames))) goto done;
    if ((rc = cli_viz_load_input(cmd, opts[O_INPUT].value, m, &d))) goto done;
    rc = CLI_FAIL;
    int64_t count = fv_dataset_count(d);
    if (index >= count) {
        cli_error(cmd, "--index %lld: '%s' has %lld images (indices 0 to %lld)", (long long)index,
                  opts[O_INPUT].value, (long long)count, (long long)count - 1);
        goto done;
    }
    if (cli_check_input_shape(cmd, m, d, "--input")) goto done;
    int64_t dims[4];
    int rank = fv_dataset_shape(d, dims);
    if (rank < 2 || rank > 3) {
        cli_error(cmd, "--input: '%s' holds vectors, not images; feature maps need images",
                  opts[O_INPUT].value);
        goto done;
    }
    if (!(x = malloc((size_t)fv_model_input_size(m) * sizeof *x))) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    fv_status s = fv_dataset_get(d, index, x);
    if (s == FV_OK) s = fv_model_forward(m, x, 1);
    if (s != FV_OK) {
        cli_fail_lib(cmd, "--input", s);
        goto done;
    }
    char caption[512];
    int len = snprintf(caption, sizeof caption, "image %lld of %s", (long long)index,
                       opts[O_INPUT].value);
    if (len > 0 && (size_t)len < sizeof caption)
        describe(caption + len, sizeof caption - (size_t)len, m, d, index, names, nnames);
    fv_picture *p = fv_plot_features(m, x, rank, dims, caption, cmap);
    if (!p) {
        cli_fail_lib(cmd, NULL, FV_ERR_INVALID);
        goto done;
    }
    if (cli_save_picture(cmd, "--output", p, opts[O_OUT].value)) goto done;
    rc = CLI_OK;
done:
    free(x);
    fv_dataset_free(d);
    fv_model_free(m);
    cli_free_class_names(names, nnames);
    return rc;
}

static int viz_activations(int argc, char **argv)
{
    const char *cmd = "viz activations";
    cli_opt opts[] = {{"output", true, false, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, activations_usage, argc, argv, opts, 1, pos, 0, 0, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if ((rc = cli_check_picture_path(cmd, "--output", opts[0].value))) return rc;
    return cli_save_picture(cmd, "--output", fv_plot_activations(), opts[0].value) ? CLI_FAIL
                                                                                   : CLI_OK;
}

int cmd_viz(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    cli_alias_output(argc - 1, argv + 1);
    if (strcmp(sub, "kernels") == 0) return viz_kernels(argc - 1, argv + 1);
    if (strcmp(sub, "features") == 0) return viz_features(argc - 1, argv + 1);
    if (strcmp(sub, "activations") == 0) return viz_activations(argc - 1, argv + 1);
    if (strcmp(sub, "reconstructions") == 0) return viz_reconstructions(argc - 1, argv + 1);
    if (strcmp(sub, "latent") == 0) return viz_latent(argc - 1, argv + 1);
    if (strcmp(sub, "interpolate") == 0) return viz_interpolate(argc - 1, argv + 1);
    if (strcmp(sub, "boxes") == 0) return cmd_viz_boxes(argc - 1, argv + 1);
    if (strcmp(sub, "detections") == 0) return cmd_viz_detections(argc - 1, argv + 1);
    if (strcmp(sub, "augment") == 0) return cli_viz_augment(argc - 1, argv + 1);
    if (strcmp(sub, "pose") == 0) return cmd_viz_pose(argc - 1, argv + 1);
    return cli_usage_error("viz",
                           "unknown picture '%s' (known: kernels, features, activations, "
                           "reconstructions, latent, interpolate, boxes, detections, augment, "
                           "pose)",
                           sub);
}
