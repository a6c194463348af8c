/* report_generative.c — `fovea report`'s sections for a generative model (an autoencoder or a VAE,
 * trained on its own input, or a GAN): the figures `fovea evaluate` prints for it (the loss and
 * its terms, the reconstruction's error, a VAE's negative ELBO, the FID-style distance with
 * --features), a grid of samples (`fovea generate`), reconstructions (`viz reconstructions`) and
 * a VAE's latent space (`viz latent`), all drawn by generative.c's functions.
 */
#include "commands.h"
#include "common.h"
#include "generative.h"
#include "images.h"
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pictures' sizes: `fovea generate`'s and `viz reconstructions`' defaults, Keras' manifold. */
enum { SAMPLES = 64, RECONSTRUCTIONS = 10, LATENT_POINTS = 10000, MANIFOLD = 30 };

typedef struct generative {
    fv_dataset *test;
    cli_gen_figures g;
    bool figures; /* g computed (a GAN without --features has none) */
    bool vae;     /* a sampling layer: samples from its prior, and the latent space */
} generative;

static bool has_sampling(const fv_model *m)
{
    for (int i = 0; i < fv_model_layer_count(m); i++)
        if (strcmp(fv_model_layer_kind(m, i), "sampling") == 0) return true;
    return false;
}

static int prepare(report *r)
{
    generative *gm = report_task_new(r, sizeof *gm);
    if (!gm) return CLI_FAIL;
    const char *cmd = r->cmd;
    if (report_check_not_task_data(r, fv_model_gan(r->m)
                                          ? "a generative model (fit gan=...): give its images"
                                          : "a generative model (fit target=input): give its "
                                            "images"))
        return CLI_FAIL;
    /* an image folder or CIFAR files as `fovea evaluate` reads them, else IDX or arrays */
    cli_image_flags imf = {.quiet = true};
    int rc = cli_load_image_eval(cmd, r->data_path, r->m, &imf, &gm->test);
    if (rc == CLI_CONTINUE) rc = cli_load_data(cmd, r->data_path, NULL, NULL, &gm->test);
    if (rc) return rc;
    if (!gm->test) {
        cli_error(cmd, "--data: '%s' has no test set (t10k-images-idx3-ubyte)", r->data_path);
        return CLI_FAIL;
    }
    gm->vae = has_sampling(r->m);
    if (fv_model_gan(r->m)) {
        int rank;
        int64_t dims[4];
        fv_status s = fv_model_node_shape(r->m, fv_model_gan(r->m), &rank, dims);
        if (s == FV_OK) s = fv_dataset_check_shape(gm->test, rank, dims);
        if (s != FV_OK) return cli_fail_lib(cmd, "--data", s);
    } else if (cli_check_input_shape(cmd, r->m, gm->test, "--data")) {
        return CLI_FAIL;
    }
    if (!fv_model_gan(r->m) || r->features) {
        if ((rc = cli_generative_figures(cmd, r->m, gm->test, r->batch, false, r->features,
                                         r->layer, r->samples, r->seed, &gm->g)))
            return rc;
        gm->figures = true;
    }
    const int64_t n = fv_dataset_count(gm->test);
    if (fv_dataset_labels(gm->test))
        snprintf(r->meta, sizeof r->meta, "%lld test images, %lld classes", (long long)n,
                 (long long)fv_dataset_classes(gm->test));
    else
        snprintf(r->meta, sizeof r->meta, "%lld test images", (long long)n);
    return 0;
}

static void nav(const report *r, FILE *f)
{
    const generative *gm = r->task;
    fputs("<a href=\"#figures\">Figures</a>", f);
    if (gm->vae || fv_model_gan(r->m)) fputs("<a href=\"#samples\">Samples</a>", f);
    if (!fv_model_gan(r->m)) fputs("<a href=\"#reconstructions\">Reconstructions</a>", f);
    if (gm->vae) fputs("<a href=\"#latent\">Latent space</a>", f);
    fputs("<a href=\"#kernels\">Kernels</a>", f);
}

static void cards(const report *r, FILE *f)
{
    const generative *gm = r->task;
    const cli_gen_figures *g = &gm->g;
    if (gm->figures && g->reconstructs) {
        report_card(f, g->loss, 4, "Test loss");
        if (g->vae) report_card(f, g->nelbo, 2, "Negative ELBO per image");
        if (g->probabilities) report_card(f, g->bce_image, 2, "Reconstruction BCE per image");
        report_card(f, g->mse_pixel, 5, "Reconstruction MSE per pixel");
    }
    if (gm->figures && g->has_fid) report_card(f, g->fid, 3, "FID-style distance");
    if (!gm->figures) report_card(f, NAN, 0, "FID-style distance: needs --features");
}

/* One row of the figures' table: key, the name `evaluate --json` gives it. */
static void row(FILE *f, const char *key, const char *label, double v)
{
    fputs("<tr data-key=\"", f);
    report_esc(f, key);
    fputs("\"><th>", f);
    report_esc(f, label);
    fputs("</th>", f);
    if (isnan(v))
        fputs("<td class=\"na\">-</td>", f);
    else
        fprintf(f, "<td>%.6g</td>", v);
    fputs("</tr>\n", f);
}

typedef struct figures_of {
    const report *r;
    const cli_gen_figures *g;
} figures_of;

static fv_status figures_text(FILE *out, const void *arg)
{
    const figures_of *fo = arg;
    cli_print_generative_figures(out, fo->r->m, fo->g, fo->r->features, fo->r->names,
                                 fo->r->nnames);
    return FV_OK;
}

static int figures(report *r, FILE *f)
{
    const generative *gm = r->task;
    const cli_gen_figures *g = &gm->g;
    fputs("<h2 id=\"figures\">Figures on the test set</h2>\n", f);
    if (!gm->figures) {
        fputs("<p>A GAN reconstructs nothing: its figure is the FID-style distance of its samples "
              "to the test images, computed in the features of a classifier trained on the same "
              "data by <code>fovea evaluate MODEL --data DIR --features CLASSIFIER.safetensors "
              "--layer NAME</code> (or this report with the same <code>--features</code> and "
              "<code>--layer</code>).</p>\n",
              f);
        return 0;
    }
    /* The command that prints these figures: a GAN's needs the classifier (it has no other). */
    fputs("<p class=\"meta\">As <code>fovea evaluate MODEL --data DIR", f);
    if (r->features) {
        fputs(" --features ", f);
        report_esc(f, r->features);
        fputs(" --layer ", f);
        report_esc(f, r->layer);
    }
    fputs("</code> prints them", f);
    if (g->reconstructs)
        fputs(": the loss and its terms as training reports them, the reconstruction's squared "
              "error per pixel and binary cross-entropy summed over each image's pixels (on grey "
              "pixels a cross-entropy, not a log-likelihood in nats: it has a floor above 0), and "
              "a VAE's negative ELBO per image (reconstruction + KL, z sampled once per image)",
              f);
    if (g->has_fid)
        fprintf(f,
                "; the FID-style distance is the Fréchet distance between %lld samples (z ~ N(0, "
                "I), seed %llu) and the first %lld test images in the %lld features of a "
                "classifier's layer, not Inception's",
                (long long)g->fid_count, (unsigned long long)g->seed, (long long)g->fid_count,
                (long long)g->fid_features);
    fputs(".</p>\n<table class=\"kv\" id=\"figures-table\">\n", f);
    if (g->reconstructs) {
        row(f, "loss", "loss", g->loss);
        for (int k = 0; k < g->nterms; k++)
            row(f, fv_model_loss_term(r->m, k), fv_model_loss_term(r->m, k), g->terms[k]);
        row(f, "reconstruction_mse_per_pixel", "reconstruction MSE per pixel", g->mse_pixel);
        if (g->probabilities) {
            row(f, "reconstruction_bce_per_image", "reconstruction binary cross-entropy per image",
                g->bce_image);
            row(f, "reconstruction_bce_per_pixel", "reconstruction binary cross-entropy per pixel",
                g->bce_pixel);
        }
        if (g->vae && g->probabilities) {
            row(f, "kl_per_image", "KL divergence per image", g->kl);
            row(f, "negative_elbo_per_image", "negative ELBO per image", g->nelbo);
        }
    }
    if (g->has_fid) row(f, "fid_style_distance", "FID-style distance", g->fid);
    fputs("</table>\n", f);
    if (g->has_fid) {
        fputs("<h3>Samples by the classifier's predicted class</h3>\n<table class=\"grid\">\n"
              "<tr><th>class</th><th>samples</th><th>share</th></tr>\n",
              f);
        for (int64_t k = 0; k < g->classes; k++) {
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)k);
            fputs("<tr><th>", f);
            report_esc(f, r->names && k < r->nnames ? r->names[k] : num);
            fprintf(f, "</th><td>%lld</td><td>%.1f%%</td></tr>\n", (long long)g->hist[k],
                    100.0 * (double)g->hist[k] / (double)g->fid_count);
        }
        fputs("</table>\n", f);
    }
    const figures_of fo = {r, g};
    return report_printed(r, f, figures_text, &fo);
}

static int body(report *r, FILE *f)
{
    const generative *gm = r->task;
    if (figures(r, f)) return CLI_FAIL;
    fv_picture *p = NULL;
    if (gm->vae || fv_model_gan(r->m)) {
        fprintf(f,
                "<h2 id=\"samples\">Samples</h2>\n<p class=\"meta\">As <code>fovea generate "
                "--n %d --seed %llu</code> draws them.</p>\n",
                SAMPLES, (unsigned long long)r->seed);
        if (cli_samples_picture(r->cmd, r->m, r->model_path, SAMPLES, r->seed, NULL, &p) ||
            report_img(r->cmd, f, p, "samples"))
            return CLI_FAIL;
    }
    if (!fv_model_gan(r->m)) {
        const int64_t count = fv_dataset_count(gm->test);
        const int64_t n = count < RECONSTRUCTIONS ? count : RECONSTRUCTIONS;
        fprintf(f,
                "<h2 id=\"reconstructions\">Reconstructions</h2>\n<p class=\"meta\">The first "
                "%lld test images above the model's reconstructions of them (<code>fovea viz "
                "reconstructions</code>)%s.</p>\n",
                (long long)n,
                gm->vae ? "; a VAE samples z at inference, as Keras' example's layer does" : "");
        if (cli_reconstructions_picture(r->cmd, r->m, r->model_path, gm->test, r->data_path, 0, n,
                                        false, NULL, &p) ||
            report_img(r->cmd, f, p, "reconstructions"))
            return CLI_FAIL;
    }
    if (!gm->vae && !fv_model_gan(r->m))
        fputs("<p>An autoencoder has no prior to sample from, so no samples; its code is drawn by "
              "<code>fovea viz latent MODEL --data DIR --latent NAME</code> (NAME: its "
              "bottleneck layer).</p>\n",
              f);
    if (gm->vae) {
        const int64_t count = fv_dataset_count(gm->test);
        fprintf(f,
                "<h2 id=\"latent\">Latent space</h2>\n<p class=\"meta\">z_mean of the first "
                "%lld test images (<code>fovea viz latent</code>): for a 2-D latent space the "
                "codes themselves and the images decoded from a %d × %d grid of codes over [-1, "
                "1]², as Keras' VAE example draws them; for a larger one the first two principal "
                "components.</p>\n",
                (long long)(count < LATENT_POINTS ? count : LATENT_POINTS), MANIFOLD, MANIFOLD);
        if (cli_latent_picture(r->cmd, r->m, r->model_path, gm->test, r->data_path, LATENT_POINTS,
                               MANIFOLD, 1.0, r->names, r->nnames, NULL, NULL, &p) ||
            report_img(r->cmd, f, p, "latent space"))
            return CLI_FAIL;
    }
    return report_kernels(r, f);
}

static void release(report *r)
{
    generative *gm = r->task;
    if (!gm) return;
    cli_gen_figures_free(&gm->g);
    fv_dataset_free(gm->test);
    free(gm);
    r->task = NULL;
}

const report_kind report_generative = {prepare, nav, cards, body, release};
