/* mnist_cnn.c — the seed's Keras MNIST program, in C with fovea: build the CNN layer by layer,
 * compile, fit with the test set as validation data, evaluate and save.
 * Usage: mnist_cnn DATA_DIR [OUT.safetensors]   (DATA_DIR holds the four MNIST IDX files)
 */
#include <fovea.h>

#include <stdio.h>

static bool print_epoch(void *user, const fv_logs *logs)
{
    (void)user;
    printf("Epoch %lld/%lld - %.0fs", (long long)logs->epoch + 1, (long long)logs->epochs, logs->seconds);
    for (int i = 0; i < logs->count; i++) printf(" - %s: %.4f", logs->names[i], logs->values[i]);
    printf("\n");
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [OUT.safetensors]\n", argv[0]);
        return 2;
    }
    fv_dataset *train = NULL, *test = NULL;
    fv_model *model = fv_model_new();
    fv_history *history = NULL;
    int rc = 1;
    if (!model || fv_dataset_load_idx_dir(argv[1], &train, &test) != FV_OK) goto done;

    /* model = Sequential(); model.add(Conv2D(32, kernel_size=(3, 3), activation='relu', ...)) */
    if (fv_model_add_input(model, 3, (int64_t[]){28, 28, 1}) ||
        fv_model_add_conv2d(model, 32, 3, 1, FV_PAD_VALID, FV_ACT_RELU) ||
        fv_model_add_conv2d(model, 64, 3, 1, FV_PAD_VALID, FV_ACT_RELU) ||
        fv_model_add_maxpool2d(model, 2) ||
        fv_model_add_dropout(model, 0.25) ||
        fv_model_add_flatten(model) ||
        fv_model_add_dense(model, 128, FV_ACT_RELU) ||
        fv_model_add_dropout(model, 0.5) ||
        fv_model_add_dense(model, 10, FV_ACT_SOFTMAX) ||
        fv_model_compile(model, "loss=categorical_crossentropy optimizer=adam metrics=accuracy"))
        goto done;
    fv_model_summary(model, stdout);

    fv_fit_opts fit = fv_fit_defaults();
    fit.batch_size = 128;
    fit.epochs = 5;
    fit.validation_data = test;
    fit.on_epoch = print_epoch;
    if (fv_model_fit(model, train, &fit, &history) != FV_OK) goto done;

    double loss, accuracy;
    if (fv_model_evaluate(model, test, 128, &loss, &accuracy) != FV_OK) goto done;
    printf("Test loss: %.4f\nTest accuracy: %.4f\n", loss, accuracy);
    if (argc > 2 && fv_model_save(model, argv[2]) != FV_OK) goto done;
    rc = 0;
done:
    if (rc) fprintf(stderr, "mnist_cnn: %s\n", fv_last_error());
    fv_history_free(history);
    fv_model_free(model);
    fv_dataset_free(train);
    fv_dataset_free(test);
    return rc;
}
