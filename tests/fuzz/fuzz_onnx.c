/* fuzz_onnx.c — libFuzzer target for the ONNX reader (fv_model_import_onnx): any bytes are either
 * refused with one message naming the file, or give a model whose layers have positive shapes,
 * which exports back to ONNX and imports again to a model with the same layers and parameters.
 * In a build without ONNX every input is refused with the message that says so.
 */
#include "fuzz_common.h"

static void round_trip(fv_model *m)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/dev/shm/fovea-fuzz-%ld.onnx", (long)getpid());
    fv_onnx_opts o = {.opset = 13};
    if (fv_model_export_onnx(m, path, &o) != FV_OK) {
        /* Export covers every layer kind the import makes; only memory may run out. */
        fprintf(stderr, "export of an imported model failed: %s\n", fv_last_error());
        FUZZ_CHECK(0);
    }
    fv_model *m2 = fv_model_import_onnx(path, NULL);
    if (!m2) fprintf(stderr, "re-import failed: %s\n", fv_last_error());
    FUZZ_CHECK(m2);
    FUZZ_CHECK(fv_model_layer_count(m2) == fv_model_layer_count(m));
    FUZZ_CHECK(fv_model_param_count(m2) == fv_model_param_count(m));
    fv_model_free(m2);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    fv_model *m = fv_model_import_onnx(path, NULL);
    if (!m) {
        FUZZ_CHECK_ERROR(path);
        return 0;
    }
    FUZZ_CHECK(fv_model_input_size(m) >= 1 && fv_model_output_size(m) >= 1);
    for (int i = 0; i < fv_model_layer_count(m); i++) {
        int64_t dims[4];
        int rank = fv_model_layer_shape(m, i, dims);
        FUZZ_CHECK(rank >= 1 && rank <= 4);
        for (int k = 0; k < rank; k++)
            FUZZ_CHECK(dims[k] >= 1);
    }
    round_trip(m);
    fv_model_free(m);
    return 0;
}
