/* viz_augment.c — `fovea viz augment MODEL --data DATA -o aug.png`: one image and copies of it
 * through the model's leading preprocessing layers as a training batch draws them, so that a
 * user sees what the model sees.
 */
#include "viz.h"

#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char augment_usage[] =
    "usage: fovea viz augment MODEL --data DATA [--index N] [--copies K] [--step S]\n"
    "                         -o OUT.png|OUT.svg\n"
    "\n"
    "Runs one image through the model's leading preprocessing layers (rescaling, resizing,\n"
    "center_crop, normalization and the random_* augmentation layers that follow its input)\n"
    "in training mode, K times as K samples of one training batch, and draws the image and\n"
    "its copies in a grid. At inference these random layers are the identity (random_crop\n"
    "resizes its centre window). MODEL is a model file (.fv) or a saved model; its seed and\n"
    "the step choose the draws, so the same command draws the same picture.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     the picture, .png or .svg (required)\n"
    "  --data DATA           an image folder (its test/ or val/ folder when it has train/), an\n"
    "                        image file, CIFAR binary files, an IDX folder (its test set) or\n"
    "                        file, or a float32 .npy array of images (required)\n"
    "  --index N             which image, from 0 (default 0)\n"
    "  --copies K            augmented copies, 1 to 63 (default 11)\n"
    "  --step S              the training step whose draws to show, from 0 (default 0)\n";

int cli_viz_augment(int argc, char **argv)
{
    const char *cmd = "viz augment";
    enum { O_OUT, O_DATA, O_INDEX, O_COPIES, O_STEP, O_N };
    cli_opt opts[O_N] = {
        [O_OUT] = {"output", true, false, NULL},  [O_DATA] = {"data", true, false, NULL},
        [O_INDEX] = {"index", true, false, NULL}, [O_COPIES] = {"copies", true, false, NULL},
        [O_STEP] = {"step", true, false, NULL},
    };
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, augment_usage, argc, argv, opts, O_N, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[O_OUT].seen) return cli_usage_error(cmd, "-o OUT.png is required");
    if (!opts[O_DATA].seen) return cli_usage_error(cmd, "--data is required");
    int64_t index = 0, copies = 11, step = 0;
    if ((opts[O_INDEX].seen && (rc = cli_int(cmd, "--index", opts[O_INDEX].value, 0, INT64_MAX,
                                             "a sample index from 0", &index))) ||
        (opts[O_COPIES].seen && (rc = cli_int(cmd, "--copies", opts[O_COPIES].value, 1, 63,
                                              "a count from 1 to 63", &copies))) ||
        (opts[O_STEP].seen && (rc = cli_int(cmd, "--step", opts[O_STEP].value, 0, INT64_MAX,
                                            "a training step from 0", &step))))
        return rc;
    if ((rc = cli_check_picture_path(cmd, "--output", opts[O_OUT].value))) return rc;

    bool has_weights;
    fv_model *m = cli_load_model(cmd, pos[0], &has_weights);
    fv_dataset *d = NULL;
    float *x = NULL;
    rc = CLI_FAIL;
    if (!m) goto done;
    if ((rc = cli_viz_load_input(cmd, opts[O_DATA].value, m, &d))) goto done;
    rc = CLI_FAIL;
    const int64_t count = fv_dataset_count(d);
    if (index >= count) {
        cli_error(cmd, "--index %lld: '%s' has %lld images (indices 0 to %lld)", (long long)index,
                  opts[O_DATA].value, (long long)count, (long long)count - 1);
        goto done;
    }
    if (cli_check_input_shape(cmd, m, d, "--data")) goto done;
    if (fv_model_augment_layers(m) == 0)
        fprintf(stderr,
                "fovea %s: note: %s has no preprocessing layers after its input; the "
                "copies equal the image\n",
                cmd, pos[0]);
    if (!(x = malloc((size_t)fv_model_input_size(m) * sizeof *x))) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    fv_status s = fv_dataset_get(d, index, x);
    if (s != FV_OK) {
        cli_fail_lib(cmd, "--data", s);
        goto done;
    }
    char caption[512];
    snprintf(caption, sizeof caption, "%s, image %lld of %s", pos[0], (long long)index,
             opts[O_DATA].value);
    fv_picture *p = fv_plot_augment(m, x, copies, step, caption);
    if (cli_save_picture(cmd, "--output", p, opts[O_OUT].value)) goto done;
    rc = CLI_OK;
done:
    free(x);
    fv_dataset_free(d);
    fv_model_free(m);
    return rc;
}
