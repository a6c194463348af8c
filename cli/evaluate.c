/* evaluate.c — `fovea evaluate MODEL --data DIR|FILE`: the test loss and accuracy of a saved
 * model, printed as the seed program prints them, then the full metrics report of a classifier
 * (fv_metrics_*: per class and averaged), as text or JSON, and optionally as a picture.
 */
#include "commands.h"
#include "common.h"
#include "pose.h"
#include "generative.h"
#include "detect.h"
#include "images.h"
#include "viz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: fovea evaluate MODEL.safetensors --data DIR|FILE.csv|X.npy [options]\n"
    "\n"
    "Prints 'Test loss: X' and 'Test accuracy: Y' of a model saved by 'fovea train --save' on\n"
    "the test set of an IDX folder (t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])\n"
    "or on every row of a CSV table, then the metrics of a classifier: accuracy, cross-entropy,\n"
    "precision, recall and F1 per class with their micro, macro and weighted averages, ROC AUC\n"
    "and PR AUC (average precision) per class and macro, mean average precision, MSE, RMSE and\n"
    "MAE of the probabilities against the one-hot labels, and the confusion matrix.\n"
    "\n"
    "options:\n"
    "  --data DIR|FILE.csv    the data (required): an IDX folder's test set, a CSV table, a\n"
    "                         folder of images (its test/ or val/ folder when it has train/;\n"
    "                         labelled by the class names saved with the model), CIFAR files,\n"
    "                         or X.npy with --labels Y.npy\n"
    "  --label-column NAME    the CSV column holding the labels (default: the one the\n"
    "                         model was trained with, else the last)\n"
    "  --labels Y.npy         the labels of --data X.npy: (N,) or (N, 1) class indices, or\n"
    "                         (N, K) one-hot rows\n"
    "  --metrics a,b,c        only these metrics (loss, accuracy, crossentropy, precision, "
    "recall,\n"
    "                         f1, roc_auc, average_precision, mean_average_precision, mse, rmse,\n"
    "                         mae, confusion_matrix; default: all)\n"
    "  --json                 print the metrics as one JSON object instead (no other output)\n"
    "  --plot FILE.png|.svg   draw the confusion matrix and the per-class table\n"
    "  --class-names LIST     names of the classes, comma-separated, or 'fashion-mnist'\n"
    "  --batch-size N         samples per batch (default: the model's fit line, else 32)\n"
    "  --threads N            threads to use (default: FOVEA_THREADS, else\n"
    "                         OMP_NUM_THREADS, else all cores)\n"
    "  --precision fp32|bf16  the arithmetic of the dense and conv2d layers (default: the\n"
    "                         model's own): bf16 products with fp32 sums, also on a model\n"
    "                         trained in fp32; refused where the CPU has no bf16 instructions\n"
    "  --conv-algorithm A     direct or winograd: the algorithm of the 3x3 stride-1 conv2d\n"
    "                         layers (default: the model's own)\n"
    "\n"
    "fovea evaluate --detections DET.json --annotations INSTANCES.json scores any detector's\n"
    "results as COCO does (see 'fovea evaluate --detections x --help').\n"
    "\n"
    "fovea evaluate --poses POSES.csv --data DIR [--split test] [--json] scores 6D pose\n"
    "estimates in BOP's result format against a BOP dataset, with no model: ADD(-S) accuracy,\n"
    "MSSD and MSPD recalls, rotation and translation errors, 5deg/5cm and 2-D projection\n"
    "accuracy ('fovea evaluate --poses --help' for the details). For a model ending in the\n"
    "pose head, 'fovea evaluate MODEL --data BOPDIR' prints the same figures from the model's\n"
    "estimates on DIR/test (the object: --object OBJ_ID, default the only one); --plot draws\n"
    "the ADD(-S) accuracy against the threshold; --tta N combines N crops per image (as\n"
    "'fovea pose --tta').\n"
    "\n"
    "A model trained on its own input (fit target=input: an autoencoder, a VAE) prints the loss\n"
    "and its terms, the reconstruction's error per pixel and cross-entropy per image, and a\n"
    "VAE's negative ELBO per image, then with --features the FID-style distance (--json: one\n"
    "JSON object of them):\n"
    "  --binarize             threshold the test pixels at 0.5 (a bound in nats)\n"
    "  --features CLS.safetensors --layer NAME\n"
    "                         the Fréchet distance between samples (z ~ N(0, I)) and test\n"
    "                         images in the features of a classifier's layer, and the\n"
    "                         classifier's predicted classes of the samples\n"
    "  --samples N            samples and test images compared (default 10000, or every\n"
    "                         test image when there are fewer)\n"
    "  --seed S               the samples' codes (default 1)\n";

/* The metrics of a classifier on a labelled dataset, from the model's predictions. NULL on
 * failure (reported). */
static fv_metrics *classify(const char *cmd, fv_model *m, const fv_dataset *d, int64_t batch)
{
    int64_t n = fv_dataset_count(d), k = fv_model_output_size(m);
    float *scores = malloc((size_t)n * (size_t)k * sizeof *scores);
    if (!scores) {
        cli_error(cmd, "out of memory for %lld predictions", (long long)n);
        return NULL;
    }
    fv_metrics *mt = NULL;
    fv_status s = fv_model_predict(m, d, batch, scores);
    if (s == FV_OK) mt = fv_metrics_classification(scores, fv_dataset_labels(d), n, k);
    if (!mt) cli_fail_lib(cmd, NULL, s != FV_OK ? s : FV_ERR_INVALID); /* "metrics: ..." */
    free(scores);
    return mt;
}

/* Reads --binarize, --features, --layer, --samples, --seed and --json for cli_evaluate_generative.
 */
static int evaluate_generative(const char *cmd, fv_model *m, fv_dataset *test, int64_t batch,
                               cli_opt *opts, int nopts, char *const *names, int64_t nnames)
{
    cli_opt *features = cli_find(opts, nopts, "features"), *layer = cli_find(opts, nopts, "layer");
    cli_opt *samples = cli_find(opts, nopts, "samples"), *seed = cli_find(opts, nopts, "seed");
    int64_t count = 0; /* 10000, or every test image when there are fewer */
    uint64_t sd = 1;
    int rc;
    if (features->seen != layer->seen)
        return cli_usage_error(cmd, "--features CLASSIFIER and --layer NAME go together");
    if (!features->seen && (samples->seen || seed->seen))
        return cli_usage_error(cmd,
                               "%s sets the FID-style distance's samples: give --features "
                               "CLASSIFIER.safetensors --layer NAME too",
                               samples->seen ? "--samples" : "--seed");
    if (fv_model_gan(m) && cli_find(opts, nopts, "binarize")->seen)
        return cli_usage_error(cmd, "--binarize applies to the reconstruction of an autoencoder "
                                    "or a VAE; a GAN reconstructs nothing");
    if (samples->seen && (rc = cli_int(cmd, "--samples", samples->value, 2, 1000000,
                                       "a count from 2 to 1000000", &count)))
        return rc;
    if (seed->seen && (rc = cli_u64(cmd, "--seed", seed->value, &sd))) return rc;
    return cli_evaluate_generative(cmd, m, test, batch, cli_find(opts, nopts, "binarize")->seen,
                                   features->seen ? features->value : NULL,
                                   layer->seen ? layer->value : NULL, count, sd, names, nnames,
                                   cli_find(opts, nopts, "json")->seen);
}

int cmd_evaluate(int argc, char **argv)
{
    const char *cmd = "evaluate";
    if (cli_is_detection_evaluation(argc, argv)) return cmd_evaluate_detections(argc, argv);
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) /* 6D pose: no model */
        if (strcmp(argv[i], "--poses") == 0 || strncmp(argv[i], "--poses=", 8) == 0)
            return cmd_evaluate_poses(argc, argv);
    cli_opt opts[] = {
        {"data", true, false, NULL},       {"label-column", true, false, NULL},
        {"batch-size", true, false, NULL}, {"threads", true, false, NULL},
        {"metrics", true, false, NULL},    {"json", false, false, NULL},
        {"plot", true, false, NULL},       {"class-names", true, false, NULL},
        {"labels", true, false, NULL},     {"metric", true, false, NULL},
        {"output", true, false, NULL},     {"binarize", false, false, NULL},
        {"features", true, false, NULL},   {"layer", true, false, NULL},
        {"samples", true, false, NULL},    {"seed", true, false, NULL},
        {"object", true, false, NULL},     {"precision", true, false, NULL},
        {"tta", true, false, NULL},        {"conv-algorithm", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    cli_opt *data = cli_find(opts, nopts, "data");
    cli_opt *label = cli_find(opts, nopts, "label-column");
    cli_opt *batch = cli_find(opts, nopts, "batch-size");
    cli_opt *threads = cli_find(opts, nopts, "threads");
    cli_opt *select = cli_find(opts, nopts, "metrics");
    cli_opt *json = cli_find(opts, nopts, "json");
    cli_opt *plot = cli_find(opts, nopts, "plot");
    cli_opt *names_opt = cli_find(opts, nopts, "class-names");
    cli_opt *precision = cli_find(opts, nopts, "precision");
    if (!data->seen) return cli_usage_error(cmd, "--data is required");
    cli_opt *conv_alg = cli_find(opts, nopts, "conv-algorithm");
    if ((rc = cli_precision_check(cmd, precision))) return rc;
    if ((rc = cli_conv_algorithm_check(cmd, conv_alg))) return rc;
    int64_t batch_size = 0;
    if (batch->seen && (rc = cli_int(cmd, "--batch-size", batch->value, 1, INT32_MAX,
                                     "a positive integer", &batch_size)))
        return rc;
    if ((rc = cli_apply_threads(cmd, threads))) return rc;
    if (select->seen && fv_metrics_check_select(select->value, false) != FV_OK)
        return cli_usage_error(cmd, "--metrics: %s", fv_last_error());
    if (plot->seen && (rc = cli_check_picture_path(cmd, "--plot", plot->value))) return rc;
    char **names = NULL;
    int64_t nnames = 0;
    if ((rc = cli_class_names(cmd, names_opt->seen ? names_opt->value : NULL, &names, &nnames)))
        return rc;

    fv_model *m = NULL;
    fv_dataset *test = NULL;
    fv_metrics *mt = NULL;
    rc = CLI_FAIL;
    m = cli_load_trained_model(cmd, pos[0]);
    if (!m || cli_precision_apply(cmd, m, precision) || cli_conv_algorithm_apply(cmd, m, conv_alg))
        goto done;
    /* Options of one kind of model, refused for the others rather than ignored. */
    const bool generative = fv_model_target(m) || fv_model_gan(m);
    static const char *const gen_only[] = {"binarize", "features", "layer", "samples", "seed"};
    static const char *const not_gen[] = {"metrics", "plot", "label-column", "labels"};
    for (int i = 0; i < 5; i++) {
        const char *o = generative ? (i < 4 ? not_gen[i] : NULL) : gen_only[i];
        if (!o || !cli_find(opts, nopts, o)->seen) continue;
        rc = cli_usage_error(cmd, "--%s applies to %s; '%s' is %s%s", o,
                             generative ? (strcmp(o, "plot") == 0
                                               ? "classifiers, detectors and pose networks"
                                               : "classifiers")
                                        : "autoencoders, VAEs and GANs",
                             pos[0], cli_model_kind(m),
                             generative ? " (its pictures: fovea generate, fovea viz "
                                          "reconstructions|latent|interpolate)"
                                        : "");
        goto done;
    }
    cli_opt *metric = cli_find(opts, nopts, "metric"), *output = cli_find(opts, nopts, "output");
    const bool detector = fv_model_detector_max_boxes(m) > 0;
    if (!detector && (metric->seen || output->seen)) {
        rc = cli_usage_error(cmd, "--metric and --output apply to detectors only");
        goto done;
    }
    if (metric->seen && strcmp(metric->value, "coco") != 0 && strcmp(metric->value, "voc") != 0) {
        rc = cli_usage_error(cmd, "--metric: expected coco or voc, got '%s'", metric->value);
        goto done;
    }
    cli_opt *object = cli_find(opts, nopts, "object"), *tta = cli_find(opts, nopts, "tta");
    if (fv_model_is_pose(m, NULL)) {
        int64_t n_tta = 1;
        if (!tta->seen || !(rc = cli_int(cmd, "--tta", tta->value, 1, 1024, "1 to 1024", &n_tta)))
            rc = cli_evaluate_pose_model(cmd, m, data->value, object->seen ? object->value : NULL,
                                         n_tta, json->seen, plot->seen ? plot->value : NULL);
        goto done;
    }
    if (object->seen || tta->seen) {
        rc = cli_usage_error(cmd, "--%s applies to pose models only",
                             object->seen ? "object" : "tta");
        goto done;
    }
    if (detector) {
        if (output->seen && (rc = cli_check_writable(cmd, "--output", output->value))) goto done;
        rc = cli_evaluate_detector(
            cmd, m, data->value, json->seen, metric->seen && strcmp(metric->value, "voc") == 0,
            plot->seen ? plot->value : NULL, output->seen ? output->value : NULL);
        goto done;
    }
    /* A detection or pose folder would be taken for class folders ("annotations", "labels"). */
    if (cli_is_pose_dir(data->value) || cli_is_detection_dir(data->value)) {
        cli_error(cmd, "--data: '%s' is a %s dataset, but %s is not a %s", data->value,
                  cli_is_pose_dir(data->value) ? "6D pose (BOP)" : "detection", pos[0],
                  cli_is_pose_dir(data->value) ? "pose network (its output is no pose head)"
                                               : "detector (its output is no yolo head)");
        goto done;
    }
    /* An image folder or CIFAR files first (labelled by the model's class names), else arrays. */
    if (!names && (rc = cli_model_class_names(cmd, m, &names, &nnames))) goto done;
    cli_image_flags imf = {.quiet = true};
    cli_opt *labels_opt = cli_find(opts, nopts, "labels");
    if (cli_is_npy_dir(m, data->value))
        rc = cli_load_npy_dir(cmd, m, data->value, &test);
    else
        rc = cli_load_image_eval(cmd, data->value, m, &imf, &test);
    if (rc == CLI_CONTINUE) {
        if (!(rc =
                  cli_load_data(cmd, data->value,
                                cli_label_column(m, label->seen ? label->value : NULL, data->value),
                                NULL, &test)))
            rc = cli_load_labels(cmd, data->value, labels_opt->seen ? labels_opt->value : NULL,
                                 test);
    }
    if (rc) goto done;
    rc = CLI_FAIL;
    if (!test) {
        cli_error(cmd,
                  "--data: '%s' has no test set (t10k-images-idx3-ubyte, "
                  "t10k-labels-idx1-ubyte)",
                  data->value);
        goto done;
    }
    if (!fv_model_gan(m) && cli_check_input_shape(cmd, m, test, "--data")) goto done;
    if (generative) {
        /* An autoencoder, a VAE or a GAN: a generative model's figures, not a classifier's. */
        if (batch_size == 0) batch_size = fv_model_fit_opts(m).batch_size;
        rc = evaluate_generative(cmd, m, test, batch_size, opts, nopts, names, nnames);
        goto done;
    }
    if (!labels_opt->seen && cli_has_suffix(data->value, ".npy")) {
        cli_error(cmd, "--data: '%s' holds features only, no labels to evaluate against",
                  data->value);
        goto done;
    }
    if (cli_use_model_classes(cmd, m, test)) goto done;
    if (!names && cli_model_class_names(cmd, m, &names, &nnames)) goto done;
    if (cli_check_class_names(cmd, nnames, fv_model_output_size(m))) goto done;
    if (batch_size == 0) {
        fv_fit_opts fit = fv_model_fit_opts(m);
        batch_size = fit.batch_size > 0 ? fit.batch_size : 32;
    }
    double loss = NAN, accuracy = NAN;
    fv_status s;
    const int nout = fv_model_output_count(m), nterms = fv_model_loss_terms(m);
    if (nout > 1 || nterms > 0) {
        /* Several outputs, or a loss of several terms: the total, each output's loss and each
         * term, as the history's columns. */
        if (json->seen || select->seen || plot->seen) {
            cli_error(cmd,
                      "--json, --metrics and --plot report one classifier's metrics; this "
                      "model has %d outputs and %d loss terms (its training history has each "
                      "output's metrics)",
                      nout, nterms);
            goto done;
        }
        double out_loss[64], terms[64];
        s = nout <= 64 ? fv_model_evaluate_outputs(m, test, batch_size, &loss, out_loss)
                       : FV_ERR_INVALID;
        if (s == FV_OK && nterms > 0)
            s = fv_model_evaluate_terms(m, test, batch_size, &loss, terms);
        if (s != FV_OK) {
            cli_fail_lib(cmd, NULL, s);
            goto done;
        }
        fputs("Test loss: ", stdout);
        cli_print_repr(stdout, loss);
        fputc('\n', stdout);
        for (int j = 0; j < nout && nout > 1; j++) {
            printf("Test %s_loss: ", fv_model_output_name(m, j));
            cli_print_repr(stdout, out_loss[j]);
            fputc('\n', stdout);
        }
        for (int k = 0; k < nterms; k++) {
            printf("Test %s: ", fv_model_loss_term(m, k));
            cli_print_repr(stdout, terms[k]);
            fputc('\n', stdout);
        }
        rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
        goto done;
    }
    s = fv_model_evaluate(m, test, batch_size, &loss, &accuracy);
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    /* The metrics report needs class labels; a regression table (float targets) has only the
     * loss. */
    const int32_t *labels = fv_dataset_labels(test);
    if (labels && !(mt = classify(cmd, m, test, batch_size))) goto done;
    if (mt) fv_metrics_set_loss(mt, loss); /* --metrics loss, JSON "loss" */
    if ((json->seen || select->seen || plot->seen) && !mt) {
        cli_error(cmd, "--data: '%s' has no class labels, so no classification metrics",
                  data->value);
        goto done;
    }
    const char *const *cn = (const char *const *)names;
    if (json->seen) {
        s = fv_metrics_write_json(mt, stdout, select->seen ? select->value : NULL, cn);
    } else {
        fputs("Test loss: ", stdout);
        cli_print_repr(stdout, loss);
        fputc('\n', stdout);
        if (!isnan(accuracy)) {
            fputs("Test accuracy: ", stdout);
            cli_print_repr(stdout, accuracy);
            fputc('\n', stdout);
        }
        if (mt) {
            fputc('\n', stdout);
            s = fv_metrics_write_text(mt, stdout, select->seen ? select->value : NULL, cn);
        }
    }
    if (s != FV_OK) {
        cli_fail_lib(cmd, NULL, s);
        goto done;
    }
    if (plot->seen && cli_save_picture(cmd, "--plot", fv_plot_confusion(mt, cn, NULL), plot->value))
        goto done;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(cmd, "cannot write to standard output");
        goto done;
    }
    rc = CLI_OK;
done:
    fv_metrics_free(mt);
    cli_free_class_names(names, nnames);
    fv_dataset_free(test);
    fv_model_free(m);
    return rc;
}
