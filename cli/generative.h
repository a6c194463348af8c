/* generative.h — the pictures of generative models, subcommands of `fovea viz` (generative.c):
 * reconstructions, the latent space, interpolations. Each takes its own name as argv[0].
 */
#ifndef FOVEA_CLI_GENERATIVE_H
#define FOVEA_CLI_GENERATIVE_H

#include "fovea.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

int viz_reconstructions(int argc, char **argv);
int viz_latent(int argc, char **argv);
int viz_interpolate(int argc, char **argv);

/* `fovea evaluate` of a model whose target is its input (an autoencoder, a VAE): the loss and its
 * terms as training reports them, the reconstruction's squared error per pixel and binary
 * cross-entropy summed per image, a VAE's negative ELBO per image (reconstruction + KL, z sampled
 * once per image); on binarised test images with binarize; with features (a classifier's
 * safetensors) and layer, the FID-style distance of count samples against the first count test
 * images, and the samples' predicted classes (names: the legend). Prints on stdout, as text or
 * (json) one JSON object (cli_print_generative_json); returns 0 or CLI_FAIL (reported). */
int cli_evaluate_generative(const char *cmd, fv_model *m, fv_dataset *test, int64_t batch,
                            bool binarize, const char *features, const char *layer, int64_t count,
                            uint64_t seed, char *const *names, int64_t nnames, bool json);

/* The figures of cli_evaluate_generative, computed (cli_generative_figures) apart from printed
 * (cli_print_generative_figures), for `fovea evaluate` and `fovea report`. A GAN has only the
 * FID-style ones (reconstructs false). hist: the samples' predicted classes, `classes` counts
 * (malloc'd; cli_gen_figures_free). */
typedef struct cli_gen_figures {
    bool reconstructs, probabilities, vae, binarized, has_fid;
    double loss, terms[64]; /* the loss and its terms (the model's fv_model_loss_term names) */
    int nterms;
    double mse_pixel, bce_image, bce_pixel, kl, nelbo; /* nelbo NaN for a model without KL */
    int64_t pixels;
    double fid;
    int64_t fid_count, fid_features, classes, *hist;
    uint64_t seed;
    const char *features, *layer;
} cli_gen_figures;
/* count: the FID-style distance's samples (0: 10000, or every test image when there are fewer;
 * more than the test images is refused). */
int cli_generative_figures(const char *cmd, fv_model *m, fv_dataset *test, int64_t batch,
                           bool binarize, const char *features, const char *layer, int64_t count,
                           uint64_t seed, cli_gen_figures *g);
void cli_print_generative_figures(FILE *out, const fv_model *m, const cli_gen_figures *g,
                                  const char *classifier, char *const *names, int64_t nnames);
/* The figures as one JSON object, Keras' evaluate(return_dict=True) names for the loss and its
 * terms, then reconstruction_mse_per_pixel, reconstruction_bce_per_image and _per_pixel (when the
 * outputs are probabilities), kl_per_image and negative_elbo_per_image (a VAE), binarized, and with
 * the FID-style distance fid_style_distance, fid_samples, fid_features, fid_layer and
 * samples_by_class ({class name: count}); numbers with 17 significant digits, NaN as null. */
void cli_print_generative_json(FILE *out, const fv_model *m, const cli_gen_figures *g,
                               char *const *names, int64_t nnames);
void cli_gen_figures_free(cli_gen_figures *g);

/* The pictures of `fovea generate`, `viz reconstructions` and `viz latent` for model m (its
 * path model_name, for the titles) as *pic (NULL on failure): n samples from z ~ N(0, I) of the
 * node latent (NULL: the sampling layer, else the model's input); test images first..first+n of
 * d (data_name) above their reconstructions (z_mean: decoded from each image's z_mean); the
 * codes of d's first n images as a scatter plot and, for a 2-D latent, the decoded manifold of
 * grid × grid codes over [-scale, scale]² (names: the legend; latent and code NULL: the sampling
 * layer and its first input). 0 or a CLI status after a message. */
int cli_samples_picture(const char *cmd, fv_model *m, const char *model_name, int64_t n,
                        uint64_t seed, const char *latent, fv_picture **pic);
int cli_reconstructions_picture(const char *cmd, fv_model *m, const char *model_name,
                                const fv_dataset *d, const char *data_name, int64_t first,
                                int64_t n, bool z_mean, const char *latent, fv_picture **pic);
int cli_latent_picture(const char *cmd, fv_model *m, const char *model_name, const fv_dataset *d,
                       const char *data_name, int64_t n, int64_t grid, double scale,
                       char *const *names, int64_t nnames, const char *latent, const char *code,
                       fv_picture **pic);

#endif
