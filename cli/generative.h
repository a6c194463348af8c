/* generative.h — the pictures of generative models, subcommands of `fovea viz` (generative.c):
 * reconstructions, the latent space, interpolations. Each takes its own name as argv[0].
 */
#ifndef FOVEA_CLI_GENERATIVE_H
#define FOVEA_CLI_GENERATIVE_H

#include "fovea.h"

#include <stdbool.h>
#include <stdint.h>

int viz_reconstructions(int argc, char **argv);
int viz_latent(int argc, char **argv);
int viz_interpolate(int argc, char **argv);

/* `fovea evaluate` of a model whose target is its input (an autoencoder, a VAE): the loss and its
 * terms as training reports them, the reconstruction's squared error per pixel and binary
 * cross-entropy summed per image, a VAE's negative ELBO per image (reconstruction + KL, z sampled
 * once per image); on binarised test images with binarize; with features (a classifier's
 * safetensors) and layer, the FID-style distance of count samples against the first count test
 * images, and the samples' predicted classes (names: the legend). Prints on stdout; returns 0 or
 * CLI_FAIL (reported). */
int cli_evaluate_generative(const char *cmd, fv_model *m, fv_dataset *test, int64_t batch,
                            bool binarize, const char *features, const char *layer, int64_t count,
                            uint64_t seed, char *const *names, int64_t nnames);

#endif
