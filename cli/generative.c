/* generative.c — `fovea generate` (a grid of samples decoded from z ~ N(0, I)) and the pictures of
 * `fovea viz reconstructions|latent|interpolate`, for autoencoders, VAEs and generators. The
 * decoder is the part of the model after its latent node (fv_model_run_from), as Keras' examples
 * build `decoder = Model(latent_inputs, outputs)`.
 */
#include "generative.h"

#include "commands.h"
#include "common.h"
#include "images.h"
#include "viz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The nodes a picture needs: latent, the decoder's input (codes are decoded from there), and code,
 * the node whose values are an image's code (a VAE's z_mean; an autoencoder's bottleneck). */
typedef struct nodes {
    char latent[128], code[128];
    int code_layer; /* code's layer index, -1 for an input */
} nodes;

static int layer_index(const fv_model *m, const char *name)
{
    for (int i = 0; i < fv_model_layer_count(m); i++)
        if (strcmp(fv_model_layer_name(m, i), name) == 0) return i;
    return -1;
}

/* Defaults: the model's sampling layer is the latent node and its first input (z_mean) the
 * code; without one, --latent names both. sample_ok: the command draws codes z ~ N(0, I) (generate,
 * the FID-style distance), where a GAN's latent node is its input; otherwise it encodes test
 * images, which a GAN cannot. model_name names the model in the messages. */
static int find_nodes(const char *cmd, const fv_model *m, const char *model_name,
                      const char *latent, const char *code, bool sample_ok, nodes *out)
{
    char names[512];
    if (!sample_ok && fv_model_gan(m)) {
        cli_error(cmd,
                  "'%s' is a GAN: it has no encoder, so test images have no codes (fovea "
                  "generate draws its samples)",
                  model_name);
        return CLI_FAIL;
    }
    const int sampling = cli_sampling_layer(m);
    if (!latent && sampling >= 0) latent = fv_model_layer_name(m, sampling);
    if (!latent && sample_ok && fv_model_gan(m)) latent = fv_model_input_name(m, 0);
    if (!latent) {
        cli_layer_names(m, names, sizeof names);
        if (!fv_model_target(m))
            cli_error(cmd, "'%s' is %s, not an autoencoder, a VAE or a GAN", model_name,
                      cli_model_kind(m));
        else if (sample_ok)
            cli_error(cmd,
                      "'%s' is an autoencoder: it has no prior to draw codes from (a VAE's "
                      "sampling layer is one); --latent NAME decodes N(0, I) codes at that layer "
                      "anyway (its layers: %s)",
                      model_name, names);
        else
            cli_error(cmd,
                      "'%s' is an autoencoder without a sampling layer: name its latent layer "
                      "(its bottleneck) with --latent NAME (its layers: %s)",
                      model_name, names);
        return CLI_USAGE;
    }
    if (!code)
        code = sampling >= 0 && strcmp(latent, fv_model_layer_name(m, sampling)) == 0
                   ? fv_model_layer_input(m, sampling, 0)
                   : latent;
    int rank;
    int64_t dims[4];
    for (int k = 0; k < 2; k++) {
        const char *node = k ? code : latent;
        if (fv_model_node_shape(m, node, &rank, dims) != FV_OK) {
            cli_layer_names(m, names, sizeof names);
            cli_error(cmd, "%s: '%s' has no layer '%s' (its layers: %s)", k ? "--code" : "--latent",
                      model_name, node, names);
            return CLI_USAGE;
        }
    }
    snprintf(out->latent, sizeof out->latent, "%s", latent);
    snprintf(out->code, sizeof out->code, "%s", code);
    out->code_layer = layer_index(m, code);
    return 0;
}

static int64_t node_size(const fv_model *m, const char *name, int *rank, int64_t dims[4])
{
    int r;
    int64_t d[4], size = 1;
    if (fv_model_node_shape(m, name, &r, d) != FV_OK) return -1;
    for (int i = 0; i < r; i++)
        size *= d[i];
    if (rank) *rank = r;
    if (dims) memcpy(dims, d, sizeof d);
    return size;
}

/* The shape of the images the model makes (its output; a GAN's generator's output), checked to
 * be images (H, W[, C]) for the pictures; cmd NULL: no message. */
static int output_images(const char *cmd, const fv_model *m, const char *model_name, int *rank,
                         int64_t dims[4])
{
    if (!fv_model_gan(m) || fv_model_node_shape(m, fv_model_gan(m), rank, dims) != FV_OK)
        *rank = fv_model_output_shape(m, 0, dims);
    if ((*rank == 2 || *rank == 3) && (*rank == 2 || dims[2] == 1 || dims[2] == 3)) return 0;
    if (cmd)
        cli_error(cmd, "'%s' is %s: its output is not an image (H, W, 1 or 3), nothing to draw",
                  model_name, cli_model_kind(m));
    return CLI_FAIL;
}

/* Values per image the model makes (a GAN's: its generator's output). */
static int64_t image_size(const fv_model *m)
{
    return fv_model_gan(m) ? node_size(m, fv_model_gan(m), NULL, NULL) : fv_model_output_size(m);
}

/* -1..1 when some value is below 0 (a tanh generator), else 0..1. */
static void value_range(const float *v, int64_t count, double *lo, double *hi)
{
    bool negative = false;
    for (int64_t i = 0; i < count && !negative; i++)
        negative = v[i] < -1e-3f;
    *lo = negative ? -1 : 0;
    *hi = 1;
}

/* Codes (the values of node nd->code) of images [first, first + n) of d into codes [n × size]. */
static int encode(const char *cmd, fv_model *m, const fv_dataset *d, int64_t first, int64_t n,
                  const nodes *nd, float *codes)
{
    if (nd->code_layer < 0) {
        cli_error(cmd, "--code: '%s' is an input of the model, not an encoder's output", nd->code);
        return CLI_FAIL;
    }
    const int64_t in = fv_model_input_size(m), size = node_size(m, nd->code, NULL, NULL);
    enum { BATCH = 256 };
    float *x = malloc((size_t)(BATCH * in) * sizeof *x);
    if (!x) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    fv_status s = FV_OK;
    for (int64_t b = 0; s == FV_OK && b < n; b += BATCH) {
        const int64_t nb = n - b < BATCH ? n - b : BATCH;
        for (int64_t i = 0; s == FV_OK && i < nb; i++)
            s = fv_dataset_get(d, first + b + i, x + i * in);
        if (s == FV_OK) s = fv_model_forward(m, x, nb);
        if (s == FV_OK)
            memcpy(codes + b * size, fv_model_layer_output(m, nd->code_layer),
                   (size_t)(nb * size) * sizeof(float));
    }
    free(x);
    return s == FV_OK ? 0 : cli_fail_lib(cmd, "--data", s);
}

/* The index of the model's sampling layer when it samples z at inference (Keras' example's
 * layer; not inference=mean), else -1: for the reconstructions' caption. */
static int sampling_layer(const fv_model *m)
{
    int sampling = cli_sampling_layer(m);
    char mode[16];
    if (sampling >= 0 && fv_model_layer_arg(m, sampling, "inference", mode, sizeof mode) == FV_OK &&
        strcmp(mode, "mean") == 0)
        sampling = -1;
    return sampling;
}

/* The test images of --data, checked against the model's input, for the commands that encode
 * them (which a GAN cannot). */
static int load_test(const char *cmd, const fv_model *m, const char *model_name, const char *path,
                     fv_dataset **d)
{
    *d = NULL;
    if (fv_model_gan(m)) {
        cli_error(cmd,
                  "'%s' is a GAN: it has no encoder, so test images have no codes or "
                  "reconstructions (fovea generate draws its samples)",
                  model_name);
        return CLI_FAIL;
    }
    /* an image folder or CIFAR files as `fovea evaluate` reads them, else IDX or arrays */
    cli_image_flags imf = {.quiet = true};
    int rc = cli_load_image_eval(cmd, path, m, &imf, d);
    if (rc == CLI_CONTINUE) rc = cli_load_data(cmd, path, NULL, NULL, d);
    if (rc) return rc;
    if (!*d) {
        cli_error(cmd, "--data: '%s' has no test set (t10k-images-idx3-ubyte)", path);
        return CLI_FAIL;
    }
    return cli_check_input_shape(cmd, m, *d, "--data");
}

int cli_samples_picture(const char *cmd, fv_model *m, const char *model_name, int64_t n,
                        uint64_t seed, const char *latent, fv_picture **out)
{
    nodes nd;
    float *z = NULL, *y = NULL;
    int rank;
    int64_t dims[4];
    *out = NULL;
    int rc = find_nodes(cmd, m, model_name, latent, NULL, true, &nd);
    if (!rc) rc = output_images(cmd, m, model_name, &rank, dims);
    if (rc) return rc;
    rc = CLI_FAIL;
    const int64_t zsize = node_size(m, nd.latent, NULL, NULL), osize = image_size(m);
    z = malloc((size_t)(n * zsize) * sizeof *z);
    y = malloc((size_t)(n * osize) * sizeof *y);
    if (!z || !y) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    fv_status s = fv_sample_normal(n, zsize, seed, z);
    if (s == FV_OK) s = fv_model_run_from(m, nd.latent, fv_model_gan(m), z, n, 256, seed, y);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    double lo, hi;
    value_range(y, n * osize, &lo, &hi);
    char title[256], sub[512];
    snprintf(title, sizeof title, "%lld sample%s of %s", (long long)n, n == 1 ? "" : "s",
             model_name);
    /* A generator's codes are its input ("generated from z"); a VAE's decoder's, its z. */
    const bool generator = fv_model_gan(m) || strcmp(nd.latent, fv_model_input_name(m, 0)) == 0;
    snprintf(sub, sizeof sub,
             "%s from %s ~ N(0, I) (%lld values, seed %llu); pixels %g..%g drawn black to white",
             generator ? "generated" : "decoded", generator ? "z" : nd.latent, (long long)zsize,
             (unsigned long long)seed, lo, hi);
    int64_t cols = (int64_t)ceil(sqrt((double)n));
    *out = fv_plot_image_grid(y, n, rank, dims, cols, lo, hi, title, sub, NULL);
    rc = *out ? CLI_OK : cli_fail_lib(cmd, "the samples' picture", FV_ERR_INVALID);
done:
    free(z), free(y);
    return rc;
}

/* ---- fovea generate ------------------------------------------------------------------------- */

static const char generate_usage[] =
    "usage: fovea generate MODEL.safetensors [--n 64] [--seed S] [--latent NAME] -o OUT.png\n"
    "\n"
    "Draws n samples of a trained VAE or generator as a grid: codes z ~ N(0, I), drawn from\n"
    "fovea's generator seeded with S, run through the layers after the latent node to the\n"
    "model's output (Keras' decoder = Model(latent_inputs, outputs)).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  the picture, .png or .svg (required)\n"
    "  --n N              samples (default 64), drawn sqrt(N) to a row\n"
    "  --seed S           the codes' seed (default 1)\n"
    "  --latent NAME      the node whose values the codes stand for (default: the model's\n"
    "                     sampling layer, a VAE's z; else its input, a generator's)\n"
    "  --threads N        threads to use (default: FOVEA_THREADS, else OMP_NUM_THREADS, else\n"
    "                     all cores)\n";

int cmd_generate(int argc, char **argv)
{
    const char *cmd = "generate";
    cli_alias_output(argc, argv);
    enum { O_OUT, O_N, O_SEED, O_LATENT, O_THREADS, O_COUNT };
    cli_opt opts[O_COUNT] = {[O_OUT] = {"output", true, false, NULL},
                             [O_N] = {"n", true, false, NULL},
                             [O_SEED] = {"seed", true, false, NULL},
                             [O_LATENT] = {"latent", true, false, NULL},
                             [O_THREADS] = {"threads", true, false, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, generate_usage, argc, argv, opts, O_COUNT, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[O_OUT].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    int64_t n = 64;
    uint64_t seed = 1;
    if (opts[O_N].seen &&
        (rc = cli_int(cmd, "--n", opts[O_N].value, 1, 4096, "a count from 1 to 4096", &n)))
        return rc;
    if (opts[O_SEED].seen && (rc = cli_u64(cmd, "--seed", opts[O_SEED].value, &seed))) return rc;
    if ((rc = cli_apply_threads(cmd, &opts[O_THREADS]))) return rc;
    if ((rc = cli_check_picture_path(cmd, "--output", opts[O_OUT].value))) return rc;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    if (!m) return CLI_FAIL;
    fv_picture *p = NULL;
    rc = cli_samples_picture(cmd, m, pos[0], n, seed, opts[O_LATENT].value, &p);
    if (!rc) rc = cli_save_picture(cmd, "--output", p, opts[O_OUT].value) ? CLI_FAIL : CLI_OK;
    fv_model_free(m);
    return rc;
}

int cli_reconstructions_picture(const char *cmd, fv_model *m, const char *model_name,
                                const fv_dataset *d, const char *data_name, int64_t first,
                                int64_t n, bool z_mean, const char *latent, fv_picture **pic)
{
    float *img = NULL, *codes = NULL;
    int rank;
    int64_t dims[4];
    nodes nd;
    *pic = NULL;
    if (fv_model_gan(m)) {
        cli_error(cmd,
                  "'%s' is a GAN: it has no encoder, so nothing reconstructs test images (fovea "
                  "generate draws its samples)",
                  model_name);
        return CLI_FAIL;
    }
    int rc = output_images(cmd, m, model_name, &rank, dims);
    if (!rc && z_mean) rc = find_nodes(cmd, m, model_name, latent, NULL, false, &nd);
    if (rc) return rc;
    rc = CLI_FAIL;
    if (first + n > fv_dataset_count(d)) {
        cli_error(cmd, "--index %lld --n %lld: '%s' has %lld test images", (long long)first,
                  (long long)n, data_name, (long long)fv_dataset_count(d));
        goto done;
    }
    const int64_t in = fv_model_input_size(m), out = fv_model_output_size(m);
    if (in != out) {
        cli_error(cmd,
                  "the model's output (%lld values) is not the size of its input (%lld): "
                  "not an autoencoder",
                  (long long)out, (long long)in);
        goto done;
    }
    img = malloc((size_t)(2 * n * in) * sizeof *img);
    if (!img) goto oom;
    fv_status s = FV_OK;
    for (int64_t i = 0; s == FV_OK && i < n; i++)
        s = fv_dataset_get(d, first + i, img + i * in);
    if (s == FV_OK && z_mean) {
        const int64_t zsize = node_size(m, nd.code, NULL, NULL);
        if (zsize != node_size(m, nd.latent, NULL, NULL)) {
            cli_error(cmd, "--z-mean: '%s' and '%s' differ in size", nd.code, nd.latent);
            goto done;
        }
        if (!(codes = malloc((size_t)(n * zsize) * sizeof *codes))) goto oom;
        if (encode(cmd, m, d, first, n, &nd, codes)) goto done;
        s = fv_model_run_from(m, nd.latent, NULL, codes, n, 0, 1, img + n * in);
    } else if (s == FV_OK) {
        const float *xs[1] = {img};
        float *ys[1] = {img + n * in};
        s = fv_model_predict_arrays(m, xs, n, 0, ys);
    }
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    double lo, hi;
    value_range(img + n * in, n * in, &lo, &hi);
    char title[256], sub[1024], how[512] = "";
    snprintf(title, sizeof title, "Reconstructions by %s", model_name);
    const int sampling = sampling_layer(m);
    if (z_mean)
        snprintf(how, sizeof how, "; decoded from z = %s", nd.code);
    else if (sampling >= 0)
        snprintf(how, sizeof how,
                 "; decoded from z sampled: %s + exp(½·%s)·ε, ε seeded by the model's seed %llu "
                 "(--z-mean: z = %s)",
                 fv_model_layer_input(m, sampling, 0), fv_model_layer_input(m, sampling, 1),
                 (unsigned long long)fv_model_fit_opts(m).seed,
                 fv_model_layer_input(m, sampling, 0));
    snprintf(sub, sizeof sub, "test images %lld to %lld of %s%s", (long long)first,
             (long long)(first + n - 1), data_name, how);
    const char *rows[] = {"test images", "reconstructions"};
    *pic = fv_plot_image_grid(img, 2 * n, rank, dims, n, lo, hi, title, sub, rows);
    rc = *pic ? CLI_OK : cli_fail_lib(cmd, "the reconstructions' picture", FV_ERR_INVALID);
    goto done;
oom:
    cli_error(cmd, "out of memory");
done:
    free(img), free(codes);
    return rc;
}

/* ---- fovea viz reconstructions -------------------------------------------------------------- */

static const char recon_usage[] =
    "usage: fovea viz reconstructions MODEL.safetensors --data DIR [--n 10] [--index I]\n"
    "                                 [--z-mean] -o OUT.png\n"
    "\n"
    "Draws n test images (from index I) above the model's reconstructions of them. A VAE\n"
    "samples z at inference as Keras' example's layer does; --z-mean decodes z = z_mean instead.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  the picture, .png or .svg (required)\n"
    "  --data DIR         the test images (a folder of IDX files, a .npy array) (required)\n"
    "  --n N              images (default 10)\n"
    "  --index I          the first one, from 0 (default 0)\n"
    "  --z-mean           decode each image's z_mean (the sampling layer's first input)\n"
    "  --latent NAME      with --z-mean: the decoder's input (default: the sampling layer)\n";

int viz_reconstructions(int argc, char **argv)
{
    const char *cmd = "viz reconstructions";
    enum { O_OUT, O_DATA, O_N, O_INDEX, O_MEAN, O_LATENT, O_COUNT };
    cli_opt opts[O_COUNT] = {
        [O_OUT] = {"output", true, false, NULL},   [O_DATA] = {"data", true, false, NULL},
        [O_N] = {"n", true, false, NULL},          [O_INDEX] = {"index", true, false, NULL},
        [O_MEAN] = {"z-mean", false, false, NULL}, [O_LATENT] = {"latent", true, false, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, recon_usage, argc, argv, opts, O_COUNT, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[O_OUT].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if (!opts[O_DATA].seen) return cli_usage_error(cmd, "--data is required");
    int64_t n = 10, first = 0;
    if (opts[O_N].seen &&
        (rc = cli_int(cmd, "--n", opts[O_N].value, 1, 64, "a count from 1 to 64", &n)))
        return rc;
    if (opts[O_INDEX].seen && (rc = cli_int(cmd, "--index", opts[O_INDEX].value, 0, INT64_MAX,
                                            "an image index from 0", &first)))
        return rc;
    if ((rc = cli_check_picture_path(cmd, "--output", opts[O_OUT].value))) return rc;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    if (!m) return CLI_FAIL;
    fv_dataset *d = NULL;
    fv_picture *p = NULL;
    rc = load_test(cmd, m, pos[0], opts[O_DATA].value, &d);
    if (!rc)
        rc = cli_reconstructions_picture(cmd, m, pos[0], d, opts[O_DATA].value, first, n,
                                         opts[O_MEAN].seen, opts[O_LATENT].value, &p);
    if (!rc) rc = cli_save_picture(cmd, "--output", p, opts[O_OUT].value) ? CLI_FAIL : CLI_OK;
    fv_dataset_free(d);
    fv_model_free(m);
    return rc;
}

int cli_latent_picture(const char *cmd, fv_model *m, const char *model_name, const fv_dataset *d,
                       const char *data_name, int64_t n, int64_t grid, double scale,
                       char *const *names, int64_t nnames, const char *latent, const char *code,
                       fv_picture **pic)
{
    float *codes = NULL, *pts = NULL, *grid_z = NULL, *man = NULL;
    int rank = 0;
    int64_t dims[4] = {0};
    nodes nd;
    *pic = NULL;
    int rc = find_nodes(cmd, m, model_name, latent, code, false, &nd);
    if (rc) return rc;
    rc = CLI_FAIL;
    if (n > fv_dataset_count(d)) n = fv_dataset_count(d);
    const int64_t zsize = node_size(m, nd.code, NULL, NULL);
    const int32_t *labels = fv_dataset_labels(d);
    const int64_t classes = labels ? fv_dataset_classes(d) : 0;
    if (names && nnames < classes) {
        cli_error(cmd, "--class-names: %lld names, but the labels have %lld classes",
                  (long long)nnames, (long long)classes);
        goto done;
    }
    codes = malloc((size_t)(n * zsize) * sizeof *codes);
    pts = malloc((size_t)(n * 2) * sizeof *pts);
    if (!codes || !pts) goto oom;
    if (encode(cmd, m, d, 0, n, &nd, codes)) goto done;
    char xlabel[512], ylabel[512];
    fv_status s = FV_OK;
    if (zsize == 2) {
        memcpy(pts, codes, (size_t)(n * 2) * sizeof *pts);
        snprintf(xlabel, sizeof xlabel, "%s[0]", nd.code);
        snprintf(ylabel, sizeof ylabel, "%s[1]", nd.code);
        if (node_size(m, nd.latent, NULL, NULL) == 2 &&
            output_images(NULL, m, NULL, &rank, dims) == 0) {
            grid_z = malloc((size_t)(grid * grid * 2) * sizeof *grid_z);
            man = malloc((size_t)(grid * grid * fv_model_output_size(m)) * sizeof *man);
            if (!grid_z || !man) goto oom;
            /* Row r, column k: (−S + k·step, S − r·step), Keras' plot_latent_space. */
            const double step = 2 * scale / (double)(grid - 1);
            for (int64_t r = 0; r < grid; r++)
                for (int64_t k = 0; k < grid; k++) {
                    grid_z[(r * grid + k) * 2] = (float)(-scale + (double)k * step);
                    grid_z[(r * grid + k) * 2 + 1] = (float)(scale - (double)r * step);
                }
            s = fv_model_run_from(m, nd.latent, NULL, grid_z, grid * grid, 256, 1, man);
        }
    } else if (zsize > 2) {
        double ex[2];
        s = fv_principal_components(codes, n, zsize, 2, pts, ex);
        snprintf(xlabel, sizeof xlabel, "principal component 1 of %s (%.0f%% of the variance)",
                 nd.code, 100 * ex[0]);
        snprintf(ylabel, sizeof ylabel, "principal component 2 (%.0f%%)", 100 * ex[1]);
    } else {
        cli_error(cmd, "'%s' has one value per image: nothing to draw in two dimensions", nd.code);
        goto done;
    }
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    char title[256];
    snprintf(title, sizeof title, "Latent space of %s: %lld test images of %s", model_name,
             (long long)n, data_name);
    *pic = fv_plot_latent(pts, n, labels, (const char *const *)names, classes, xlabel, ylabel,
                          title, man, grid, rank, dims, -scale, scale);
    rc = *pic ? CLI_OK : cli_fail_lib(cmd, "the latent space's picture", FV_ERR_INVALID);
    goto done;
oom:
    cli_error(cmd, "out of memory");
done:
    free(codes), free(pts), free(grid_z), free(man);
    return rc;
}

/* ---- fovea viz latent ----------------------------------------------------------------------- */

static const char latent_usage[] =
    "usage: fovea viz latent MODEL.safetensors --data DIR [--n 10000] [--grid 30] [--scale 1]\n"
    "                        [--class-names LIST] -o OUT.png\n"
    "\n"
    "The latent space as Keras' VAE example draws it: the test images' codes (z_mean) as a\n"
    "scatter plot coloured by class, and for a 2-D latent space the images decoded from a\n"
    "grid x grid of codes over [-scale, scale]^2. A larger latent space is drawn by its first\n"
    "two principal components (no manifold).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  the picture, .png or .svg (required)\n"
    "  --data DIR         the test images and labels (required)\n"
    "  --n N              test images to encode (default: all of them, up to 10000; at most\n"
    "                     100000)\n"
    "  --grid G           manifold images per side (default 30, as Keras' example)\n"
    "  --scale S          the manifold's codes span [-S, S] (default 1, as Keras' example)\n"
    "  --class-names LIST the legend's names, comma-separated, or 'fashion-mnist'\n"
    "  --latent NAME      the decoder's input (default: the sampling layer)\n"
    "  --code NAME        an image's code (default: the sampling layer's first input, z_mean)\n";

int viz_latent(int argc, char **argv)
{
    const char *cmd = "viz latent";
    enum { O_OUT, O_DATA, O_N, O_GRID, O_SCALE, O_NAMES, O_LATENT, O_CODE, O_COUNT };
    cli_opt opts[O_COUNT] = {
        [O_OUT] = {"output", true, false, NULL},    [O_DATA] = {"data", true, false, NULL},
        [O_N] = {"n", true, false, NULL},           [O_GRID] = {"grid", true, false, NULL},
        [O_SCALE] = {"scale", true, false, NULL},   [O_NAMES] = {"class-names", true, false, NULL},
        [O_LATENT] = {"latent", true, false, NULL}, [O_CODE] = {"code", true, false, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, latent_usage, argc, argv, opts, O_COUNT, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[O_OUT].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if (!opts[O_DATA].seen) return cli_usage_error(cmd, "--data is required");
    int64_t n = 10000, grid = 30;
    double scale = 1;
    if (opts[O_N].seen &&
        (rc = cli_int(cmd, "--n", opts[O_N].value, 2, 100000, "a count from 2 to 100000", &n)))
        return rc;
    if (opts[O_GRID].seen &&
        (rc = cli_int(cmd, "--grid", opts[O_GRID].value, 2, 64, "a count from 2 to 64", &grid)))
        return rc;
    if (opts[O_SCALE].seen && (rc = cli_double(cmd, "--scale", opts[O_SCALE].value, 0, true, 1e3,
                                               false, "a positive number", &scale)))
        return rc;
    char **names = NULL;
    int64_t nnames = 0;
    if ((rc = cli_names_and_picture(cmd, opts[O_NAMES].seen ? opts[O_NAMES].value : NULL,
                                    opts[O_OUT].value, &names, &nnames)))
        return rc;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    fv_dataset *d = NULL;
    fv_picture *p = NULL;
    rc = m ? 0 : CLI_FAIL;
    if (!rc) rc = load_test(cmd, m, pos[0], opts[O_DATA].value, &d);
    if (!rc && (opts[O_SCALE].seen || opts[O_GRID].seen)) {
        /* the manifold is drawn for a 2-D latent space only: say so rather than ignore them */
        nodes nd;
        rc = find_nodes(cmd, m, pos[0], opts[O_LATENT].value, opts[O_CODE].value, false, &nd);
        if (!rc && node_size(m, nd.code, NULL, NULL) != 2)
            rc = cli_usage_error(cmd,
                                 "%s shapes the decoded manifold, which a 2-D latent space has; "
                                 "'%s' has %lld dimensions (its picture is the codes' first two "
                                 "principal components)",
                                 opts[O_SCALE].seen ? "--scale" : "--grid", nd.code,
                                 (long long)node_size(m, nd.code, NULL, NULL));
    }
    if (!rc)
        rc = cli_latent_picture(cmd, m, pos[0], d, opts[O_DATA].value, n, grid, scale,
                                (char *const *)names, nnames, opts[O_LATENT].value,
                                opts[O_CODE].value, &p);
    if (!rc) rc = cli_save_picture(cmd, "--output", p, opts[O_OUT].value) ? CLI_FAIL : CLI_OK;
    cli_free_class_names(names, nnames);
    fv_dataset_free(d);
    fv_model_free(m);
    return rc;
}

/* ---- fovea viz interpolate ------------------------------------------------------------------ */

static const char interp_usage[] =
    "usage: fovea viz interpolate MODEL.safetensors --data DIR --from I --to J [--steps 10]\n"
    "                             -o OUT.png\n"
    "\n"
    "Decodes codes along the line between two test images' codes (z_mean for a VAE):\n"
    "(1 - t)·code(I) + t·code(J) for t from 0 to 1, drawn between the two images.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  the picture, .png or .svg (required)\n"
    "  --data DIR         the test images (required)\n"
    "  --from I, --to J   the two test images, indices from 0 (required)\n"
    "  --steps N          decoded images, t = 0 and t = 1 included (default 10)\n"
    "  --latent NAME      the decoder's input (default: the sampling layer)\n"
    "  --code NAME        an image's code (default: the sampling layer's first input, z_mean)\n";

int viz_interpolate(int argc, char **argv)
{
    const char *cmd = "viz interpolate";
    enum { O_OUT, O_DATA, O_FROM, O_TO, O_STEPS, O_LATENT, O_CODE, O_COUNT };
    cli_opt opts[O_COUNT] = {
        [O_OUT] = {"output", true, false, NULL},  [O_DATA] = {"data", true, false, NULL},
        [O_FROM] = {"from", true, false, NULL},   [O_TO] = {"to", true, false, NULL},
        [O_STEPS] = {"steps", true, false, NULL}, [O_LATENT] = {"latent", true, false, NULL},
        [O_CODE] = {"code", true, false, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, interp_usage, argc, argv, opts, O_COUNT, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[O_OUT].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if (!opts[O_DATA].seen) return cli_usage_error(cmd, "--data is required");
    if (!opts[O_FROM].seen || !opts[O_TO].seen)
        return cli_usage_error(cmd, "--from I and --to J are required");
    int64_t from, to, steps = 10;
    if ((rc = cli_int(cmd, "--from", opts[O_FROM].value, 0, INT64_MAX, "an image index from 0",
                      &from)) ||
        (rc = cli_int(cmd, "--to", opts[O_TO].value, 0, INT64_MAX, "an image index from 0", &to)))
        return rc;
    if (opts[O_STEPS].seen &&
        (rc = cli_int(cmd, "--steps", opts[O_STEPS].value, 2, 64, "a count from 2 to 64", &steps)))
        return rc;
    if ((rc = cli_check_picture_path(cmd, "--output", opts[O_OUT].value))) return rc;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    fv_dataset *d = NULL;
    float *codes = NULL, *line = NULL, *img = NULL;
    int rank;
    int64_t dims[4];
    nodes nd;
    rc = m ? 0 : CLI_FAIL;
    if (!rc) rc = find_nodes(cmd, m, pos[0], opts[O_LATENT].value, opts[O_CODE].value, false, &nd);
    if (!rc) rc = output_images(cmd, m, pos[0], &rank, dims);
    if (!rc) rc = load_test(cmd, m, pos[0], opts[O_DATA].value, &d);
    if (rc) goto done;
    rc = CLI_FAIL;
    const int64_t count = fv_dataset_count(d);
    if (from >= count || to >= count) {
        cli_error(cmd, "--from %lld --to %lld: '%s' has %lld test images (0 to %lld)",
                  (long long)from, (long long)to, opts[O_DATA].value, (long long)count,
                  (long long)count - 1);
        goto done;
    }
    const int64_t zsize = node_size(m, nd.code, NULL, NULL), in = fv_model_input_size(m),
                  out = fv_model_output_size(m);
    if (zsize != node_size(m, nd.latent, NULL, NULL) || in != out) {
        cli_error(cmd, "'%s' and '%s' differ in size, or the output is not the input's size",
                  nd.code, nd.latent);
        goto done;
    }
    codes = malloc((size_t)(2 * zsize) * sizeof *codes);
    line = malloc((size_t)(steps * zsize) * sizeof *line);
    img = malloc((size_t)((steps + 2) * in) * sizeof *img);
    if (!codes || !line || !img) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (encode(cmd, m, d, from, 1, &nd, codes) || encode(cmd, m, d, to, 1, &nd, codes + zsize))
        goto done;
    for (int64_t k = 0; k < steps; k++) {
        const double t = (double)k / (double)(steps - 1);
        for (int64_t j = 0; j < zsize; j++)
            line[k * zsize + j] = (float)((1 - t) * codes[j] + t * codes[zsize + j]);
    }
    fv_status s = fv_dataset_get(d, from, img);
    if (s == FV_OK) s = fv_dataset_get(d, to, img + (steps + 1) * in);
    if (s == FV_OK) s = fv_model_run_from(m, nd.latent, NULL, line, steps, 0, 1, img + in);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    double lo, hi;
    value_range(img + in, steps * in, &lo, &hi);
    char title[512], sub[1024];
    snprintf(title, sizeof title, "From test image %lld to %lld through the latent space of %s",
             (long long)from, (long long)to, pos[0]);
    snprintf(
        sub, sizeof sub,
        "first and last: the test images; between: decoded from (1 - t)·%s(%lld) + t·%s(%lld), "
        "t = 0 to 1 in %lld steps",
        nd.code, (long long)from, nd.code, (long long)to, (long long)steps);
    rc = cli_save_picture(
             cmd, "--output",
             fv_plot_image_grid(img, steps + 2, rank, dims, steps + 2, lo, hi, title, sub, NULL),
             opts[O_OUT].value)
             ? CLI_FAIL
             : CLI_OK;
done:
    free(codes), free(line), free(img);
    fv_dataset_free(d);
    fv_model_free(m);
    return rc;
}

/* ---- fovea evaluate for generative models ---------------------------------------------------- */

/* Features of `layer` of classifier c for images x [n × size] (pixels 0..1), in batches. */
static fv_status features_of(fv_model *c, int li, const float *x, int64_t n, int64_t fsize,
                             float *f, int64_t *hist, int64_t classes)
{
    const int64_t in = fv_model_input_size(c);
    enum { BATCH = 250 };
    fv_status s = FV_OK;
    for (int64_t b = 0; s == FV_OK && b < n; b += BATCH) {
        const int64_t nb = n - b < BATCH ? n - b : BATCH;
        s = fv_model_forward(c, x + b * in, nb);
        if (s != FV_OK) break;
        memcpy(f + b * fsize, fv_model_layer_output(c, li), (size_t)(nb * fsize) * sizeof(float));
        const float *p = fv_model_layer_output(c, fv_model_layer_count(c) - 1);
        for (int64_t i = 0; hist && i < nb; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < classes; k++)
                if (p[i * classes + k] > p[i * classes + best]) best = k;
            hist[best]++;
        }
    }
    return s;
}

/* fv_frechet_distance's bound on the features (a d × d eigen-decomposition). */
#define FEATURES_MAX 16384

/* The values per sample of classifier c's layer li. */
static int64_t layer_features(const fv_model *c, int li)
{
    int64_t fd[4], n = 1;
    const int rank = fv_model_layer_shape(c, li, fd);
    for (int i = 0; i < rank; i++)
        n *= fd[i];
    return n;
}

/* The --features classifier, loaded and checked before any work: a classifier (one vector of
 * class scores) with a layer `layer`, taking the model's images, and count samples no more than
 * the test images. */
static int load_classifier(const char *cmd, const fv_model *m, const fv_dataset *d,
                           const char *cpath, const char *layer, int64_t count, fv_model **out,
                           int *li)
{
    *out = NULL;
    if (!fv_model_gan(m) && strcmp(cli_model_kind(m), "an autoencoder") == 0) {
        cli_error(cmd, "--features: an autoencoder has no prior to draw samples from, so no "
                       "FID-style distance (a VAE or a GAN has one)");
        return CLI_USAGE;
    }
    if (count > fv_dataset_count(d)) {
        cli_error(cmd,
                  "--samples %lld: the test set has %lld images, and the distance compares as "
                  "many samples as test images",
                  (long long)count, (long long)fv_dataset_count(d));
        return CLI_USAGE;
    }
    if (!cli_exists(cpath)) {
        cli_error(cmd, "--features: '%s': no such file", cpath);
        return CLI_FAIL;
    }
    fv_model *c = cli_load_trained_model(cmd, cpath);
    if (!c) return CLI_FAIL;
    char names[512];
    if (!cli_is_classifier(c)) {
        cli_error(cmd,
                  "--features: '%s' is %s, not a classifier (its output must be one vector of "
                  "class scores)",
                  cpath, cli_model_kind(c));
    } else if ((*li = layer_index(c, layer)) < 0) {
        cli_layer_names(c, names, sizeof names);
        cli_error(cmd, "--layer: the classifier '%s' has no layer '%s' (its layers: %s)", cpath,
                  layer, names);
    } else if (fv_model_input_size(c) != image_size(m)) {
        cli_error(cmd,
                  "--features: the classifier '%s' takes %lld values, the model makes images of "
                  "%lld",
                  cpath, (long long)fv_model_input_size(c), (long long)image_size(m));
    } else if (layer_features(c, *li) > FEATURES_MAX) {
        cli_error(cmd,
                  "--layer %s: %lld features; the distance decomposes a features × features "
                  "covariance and takes at most %d (a dense layer's, as the seed CNN's 'dense')",
                  layer, (long long)layer_features(c, *li), FEATURES_MAX);
    } else {
        *out = c;
        return 0;
    }
    fv_model_free(c);
    return CLI_FAIL;
}

/* The FID-style figure: g->fid_count samples decoded from z ~ N(0, I) against the first as many
 * test images, in the features of layer li of classifier c (cpath); and the classifier's
 * predicted classes of the samples (g->hist). */
static int frechet(const char *cmd, fv_model *m, const fv_dataset *d, fv_model *c, int li,
                   uint64_t seed, cli_gen_figures *g)
{
    int rc = CLI_FAIL;
    float *z = NULL, *gen = NULL, *real = NULL, *fg = NULL, *fr = NULL;
    nodes nd;
    if ((rc = find_nodes(cmd, m, "the model", NULL, NULL, true, &nd))) goto done;
    rc = CLI_FAIL;
    const int64_t count = g->fid_count;
    const int64_t size = image_size(m), zsize = node_size(m, nd.latent, NULL, NULL);
    int64_t fd[4];
    const int fr_rank = fv_model_layer_shape(c, li, fd);
    int64_t fsize = 1, classes = fv_model_output_size(c);
    for (int i = 0; i < fr_rank; i++)
        fsize *= fd[i];
    g->fid_features = fsize, g->classes = classes;
    z = malloc((size_t)(count * zsize) * sizeof *z);
    gen = malloc((size_t)(count * size) * sizeof *gen);
    real = malloc((size_t)(count * size) * sizeof *real);
    fg = malloc((size_t)(count * fsize) * sizeof *fg);
    fr = malloc((size_t)(count * fsize) * sizeof *fr);
    g->hist = calloc((size_t)classes, sizeof *g->hist);
    if (!z || !gen || !real || !fg || !fr || !g->hist) {
        cli_error(cmd, "out of memory for %lld samples", (long long)count);
        goto done;
    }
    fv_status s = fv_sample_normal(count, zsize, seed, z);
    if (s == FV_OK) s = fv_model_run_from(m, nd.latent, fv_model_gan(m), z, count, 256, seed, gen);
    for (int64_t i = 0; s == FV_OK && i < count; i++)
        s = fv_dataset_get(d, i, real + i * size);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    /* The classifier reads pixels in [0, 1]: a tanh generator's -1..1 are mapped there. */
    double lo, hi;
    value_range(gen, count * size, &lo, &hi);
    if (lo < 0)
        for (int64_t i = 0; i < count * size; i++)
            gen[i] = 0.5f * (gen[i] + 1.0f);
    s = features_of(c, li, gen, count, fsize, fg, g->hist, classes);
    if (s == FV_OK) s = features_of(c, li, real, count, fsize, fr, NULL, classes);
    if (s == FV_OK) s = fv_frechet_distance(fg, count, fr, count, fsize, &g->fid);
    if (s != FV_OK) {
        cli_fail_lib(cmd, "--features", s);
        goto done;
    }
    g->has_fid = true;
    rc = 0;
done:
    free(z), free(gen), free(real), free(fg), free(fr);
    return rc;
}

int cli_generative_figures(const char *cmd, fv_model *m, fv_dataset *test, int64_t batch,
                           bool binarize, const char *features, const char *layer, int64_t count,
                           uint64_t seed, cli_gen_figures *g)
{
    *g = (cli_gen_figures){.loss = NAN,
                           .fid = NAN,
                           .fid_count = count,
                           .seed = seed,
                           .features = features,
                           .layer = layer,
                           .binarized = binarize};
    if (count <= 0) {
        count = fv_dataset_count(test) < 10000 ? fv_dataset_count(test) : 10000;
        g->fid_count = count;
        if (features && count < 2) {
            cli_error(cmd, "--features: the test set has %lld image; the distance needs 2 or more",
                      (long long)count);
            return CLI_USAGE;
        }
    }
    fv_model *c = NULL;
    int li = -1;
    if (features) {
        const int rc = load_classifier(cmd, m, test, features, layer, count, &c, &li);
        if (rc) return rc;
    }
    if (fv_model_gan(m)) {
        /* A GAN reconstructs nothing: its figure is the samples' distance to the test images. */
        if (!features) {
            cli_error(cmd, "a GAN has no reconstruction to evaluate: give --features "
                           "CLASSIFIER.safetensors --layer NAME for its FID-style distance");
            return CLI_USAGE;
        }
        int rank;
        int64_t dims[4];
        fv_status s = fv_model_node_shape(m, fv_model_gan(m), &rank, dims);
        if (s == FV_OK) s = fv_dataset_check_shape(test, rank, dims);
        const int rc =
            s == FV_OK ? frechet(cmd, m, test, c, li, seed, g) : cli_fail_lib(cmd, "--data", s);
        fv_model_free(c);
        return rc;
    }
    g->reconstructs = true;
    fv_dataset *bin = NULL, *const grey = test; /* the FID-style distance's real images */
    float *x = NULL, *y = NULL;
    int rc = CLI_FAIL;
    const int64_t n = fv_dataset_count(test), in = fv_model_input_size(m),
                  out = fv_model_output_size(m);
    if (in != out) {
        cli_error(cmd,
                  "the model's output (%lld values) is not the size of its input (%lld): "
                  "not an autoencoder",
                  (long long)out, (long long)in);
        fv_model_free(c);
        return CLI_FAIL;
    }
    x = malloc((size_t)(n * in) * sizeof *x);
    y = malloc((size_t)(n * out) * sizeof *y);
    if (!x || !y) {
        cli_error(cmd, "out of memory for %lld images", (long long)n);
        goto done;
    }
    fv_status s = FV_OK;
    for (int64_t i = 0; s == FV_OK && i < n; i++)
        s = fv_dataset_get(test, i, x + i * in);
    if (s == FV_OK && binarize) {
        /* Pixels >= 0.5 become 1, the rest 0: a binary image, whose cross-entropy is a
         * log-likelihood in nats. */
        uint8_t *u = malloc((size_t)(n * in));
        if (!u) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < n * in; i++)
            x[i] = x[i] >= 0.5f ? 1.0f : 0.0f, u[i] = x[i] > 0 ? 255 : 0;
        int64_t dims[4];
        const int rank = fv_model_input_shape(m, 0, dims);
        bin = fv_dataset_from_u8(n, rank, dims, u, fv_dataset_labels(test));
        free(u);
        if (!bin) {
            cli_fail_lib(cmd, NULL, FV_ERR_NOMEM);
            goto done;
        }
        test = bin;
    }
    const int nterms = fv_model_loss_terms(m);
    g->nterms = nterms > 0 && nterms <= 64 ? nterms : 0;
    if (s == FV_OK) {
        const float *xs[1] = {x};
        float *ys[1] = {y};
        s = fv_model_predict_arrays(m, xs, n, batch, ys);
    }
    if (s == FV_OK)
        s = g->nterms > 0 ? fv_model_evaluate_terms(m, test, batch, &g->loss, g->terms)
                          : fv_model_evaluate(m, test, batch, &g->loss, NULL);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    /* Keras' binary cross-entropy (probabilities clipped to [1e-7, 1 - 1e-7]) summed over each
     * image's pixels, and the squared error, both averaged over the images. */
    double bce = 0, se = 0;
    bool probabilities = true;
    for (int64_t i = 0; i < n * out; i++) {
        const double t = x[i], p0 = y[i];
        probabilities = probabilities && p0 >= 0 && p0 <= 1;
        const double p = p0 < 1e-7 ? 1e-7 : p0 > 1 - 1e-7 ? 1 - 1e-7 : p0;
        bce += -(t * log(p) + (1 - t) * log(1 - p));
        se += (p0 - t) * (p0 - t);
    }
    for (int k = 0; k < g->nterms; k++)
        if (strstr(fv_model_loss_term(m, k), "kl_loss")) g->kl += g->terms[k], g->vae = true;
    g->pixels = out;
    g->mse_pixel = se / (double)(n * out);
    g->probabilities = probabilities;
    g->bce_image = bce / (double)n;
    g->bce_pixel = bce / (double)(n * out);
    g->nelbo = g->vae ? g->bce_image + g->kl : NAN;
    rc = features ? frechet(cmd, m, grey, c, li, seed, g) : CLI_OK;
done:
    free(x), free(y);
    fv_dataset_free(bin);
    fv_model_free(c);
    return rc;
}

void cli_gen_figures_free(cli_gen_figures *g)
{
    free(g->hist);
    g->hist = NULL;
}

void cli_print_generative_figures(FILE *out, const fv_model *m, const cli_gen_figures *g,
                                  const char *classifier, char *const *names, int64_t nnames)
{
    if (g->reconstructs) {
        fputs("Test loss: ", out);
        cli_print_repr(out, g->loss);
        fputs("\n", out);
        for (int k = 0; k < g->nterms; k++) {
            fprintf(out, "Test %s: ", fv_model_loss_term(m, k));
            cli_print_repr(out, g->terms[k]);
            fputs("\n", out);
        }
        fprintf(out, "Reconstruction mean squared error per pixel: %.6g\n", g->mse_pixel);
        if (g->probabilities) {
            fprintf(out,
                    "Reconstruction binary cross-entropy per image: %.4f (summed over its %lld "
                    "pixels; %.6g per pixel)\n",
                    g->bce_image, (long long)g->pixels, g->bce_pixel);
            if (g->vae)
                fprintf(out,
                        "Negative ELBO per image: %.4f (reconstruction %.4f + KL %.4f; z "
                        "sampled, one sample per image)\n",
                        g->nelbo, g->bce_image, g->kl);
            fprintf(out, "%s\n",
                    !g->binarized && g->vae
                        ? "  on grey pixels: a cross-entropy, not a log-likelihood in nats, with a "
                          "floor above 0 (--binarize for a bound in nats)"
                    : !g->binarized ? "  on grey pixels: a cross-entropy, not a log-likelihood in "
                                      "nats, with a floor above 0"
                    : g->vae ? "  on binarised test images (pixels >= 0.5 are 1): a bound on "
                               "the negative log-likelihood, in nats"
                             : "  on binarised test images (pixels >= 0.5 are 1): in nats, the "
                               "decoder's Bernoulli pixels given each image's own code (an "
                               "autoencoder has no prior: not a likelihood bound)");
        }
    }
    if (!g->has_fid) return;
    fputs("FID-style distance: ", out);
    cli_print_repr(out, g->fid);
    fprintf(out,
            "  (the Fréchet distance between %lld samples (z ~ N(0, I), seed %llu) and the first "
            "%lld test images%s in the %lld features of layer '%s' of %s, not Inception's)\n",
            (long long)g->fid_count, (unsigned long long)g->seed, (long long)g->fid_count,
            g->binarized ? " (as they are, not binarised)" : "", (long long)g->fid_features,
            g->layer, classifier);
    if (g->fid_count <= g->fid_features)
        fprintf(out,
                "  with %lld samples for %lld features the covariances are rank-deficient: the "
                "figure is strongly biased (FID is computed on thousands of samples)\n",
                (long long)g->fid_count, (long long)g->fid_features);
    fputs("Samples by predicted class:", out);
    for (int64_t k = 0; k < g->classes; k++) {
        const double pct = 100.0 * (double)g->hist[k] / (double)g->fid_count;
        const char *sep = k + 1 < g->classes ? "," : "\n";
        if (names && k < nnames)
            fprintf(out, " %s %.1f%%%s", names[k], pct, sep);
        else
            fprintf(out, " %lld: %.1f%%%s", (long long)k, pct, sep);
    }
}

/* s as a JSON string: quoted, with ", \\ and control characters escaped. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* "key": value, NaN as null (JSON has no NaN), after "{" or ",". */
static void json_number(FILE *out, const char *key, double v, bool *first)
{
    fputs(*first ? "{\n  " : ",\n  ", out);
    *first = false;
    json_string(out, key);
    if (isnan(v))
        fputs(": null", out);
    else
        fprintf(out, ": %.17g", v);
}

void cli_print_generative_json(FILE *out, const fv_model *m, const cli_gen_figures *g,
                               char *const *names, int64_t nnames)
{
    bool first = true;
    if (g->reconstructs) {
        json_number(out, "loss", g->loss, &first);
        for (int k = 0; k < g->nterms; k++)
            json_number(out, fv_model_loss_term(m, k), g->terms[k], &first);
        json_number(out, "reconstruction_mse_per_pixel", g->mse_pixel, &first);
        if (g->probabilities) {
            json_number(out, "reconstruction_bce_per_image", g->bce_image, &first);
            json_number(out, "reconstruction_bce_per_pixel", g->bce_pixel, &first);
        }
        if (g->vae && g->probabilities) {
            json_number(out, "kl_per_image", g->kl, &first);
            json_number(out, "negative_elbo_per_image", g->nelbo, &first);
        }
        fprintf(out, ",\n  \"binarized\": %s", g->binarized ? "true" : "false");
    }
    if (g->has_fid) {
        json_number(out, "fid_style_distance", g->fid, &first);
        fprintf(out, ",\n  \"fid_samples\": %lld,\n  \"fid_features\": %lld,\n  \"fid_layer\": ",
                (long long)g->fid_count, (long long)g->fid_features);
        json_string(out, g->layer);
        fputs(",\n  \"samples_by_class\": {", out);
        for (int64_t k = 0; k < g->classes; k++) {
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)k);
            fputs(k ? ", " : "", out);
            json_string(out, names && k < nnames ? names[k] : num);
            fprintf(out, ": %lld", (long long)g->hist[k]);
        }
        fputs("}", out);
    }
    fputs(first ? "{}\n" : "\n}\n", out);
}

int cli_evaluate_generative(const char *cmd, fv_model *m, fv_dataset *test, int64_t batch,
                            bool binarize, const char *features, const char *layer, int64_t count,
                            uint64_t seed, char *const *names, int64_t nnames, bool json)
{
    cli_gen_figures g;
    int rc =
        cli_generative_figures(cmd, m, test, batch, binarize, features, layer, count, seed, &g);
    if (!rc) {
        if (json)
            cli_print_generative_json(stdout, m, &g, names, nnames);
        else
            cli_print_generative_figures(stdout, m, &g, features, names, nnames);
        if (fflush(stdout) != 0) rc = CLI_FAIL;
    }
    cli_gen_figures_free(&g);
    return rc;
}
