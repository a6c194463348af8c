/* fuzz_model.c — libFuzzer target for the model file: fv_model_parse_string on the bytes up to
 * the first NUL; the bytes after it, if any, as the arguments of fv_model_compile. A model that
 * parses must print its summary and give a canonical text that parses again to the same text.
 * Bytes that look like a safetensors file (an 8-byte length, then '{') go to fv_model_load
 * instead, as `fovea evaluate MODEL.safetensors` reads them: the model text in the metadata,
 * then every tensor checked against the model.
 */
#include "fuzz_common.h"

static const char ORIGIN[] = "fuzz.fv";

static FILE *devnull(void)
{
    static FILE *f;
    if (!f) f = fopen("/dev/null", "w");
    FUZZ_CHECK(f);
    return f;
}

/* The canonical text parses again, to a model with the same layers, parameters and text. */
static void round_trip(const fv_model *m)
{
    char *t1 = fv_model_to_text(m);
    FUZZ_CHECK(t1);
    fv_model *m2 = fv_model_parse_string(t1, "canonical text");
    if (!m2)
        fprintf(stderr, "the canonical text does not parse: %s\n---\n%s---\n", fv_last_error(), t1);
    FUZZ_CHECK(m2);
    char *t2 = fv_model_to_text(m2);
    FUZZ_CHECK(t2);
    if (strcmp(t1, t2) != 0) fprintf(stderr, "canonical text changed:\n%s---\n%s---\n", t1, t2);
    FUZZ_CHECK(strcmp(t1, t2) == 0);
    FUZZ_CHECK(fv_model_layer_count(m2) == fv_model_layer_count(m));
    FUZZ_CHECK(fv_model_param_count(m2) == fv_model_param_count(m));
    free(t1);
    free(t2);
    fv_model_free(m2);
}

static void check_model(const fv_model *m)
{
    FUZZ_CHECK(fv_model_summary(m, devnull()) == FV_OK);
    FUZZ_CHECK(fv_model_param_count(m) >= 0);
    FUZZ_CHECK(fv_model_input_size(m) >= 1 && fv_model_output_size(m) >= 1);
    for (int i = 0; i < fv_model_layer_count(m); i++) {
        int64_t dims[4];
        FUZZ_CHECK(fv_model_layer_name(m, i) && fv_model_layer_kind(m, i));
        int rank = fv_model_layer_shape(m, i, dims);
        FUZZ_CHECK(rank >= 1 && rank <= 4);
        for (int k = 0; k < rank && k < 4; k++)
            FUZZ_CHECK(dims[k] >= 1);
    }
    round_trip(m);
}

static void load_safetensors(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    fv_model *m = fv_model_load(path);
    if (!m) {
        FUZZ_CHECK_ERROR(path);
        return;
    }
    check_model(m);
    /* The file holds exactly this model's tensors, so loading them again must work. */
    FUZZ_CHECK(fv_model_load_weights(m, path) == FV_OK);
    fv_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 9 && data[8] == '{') {
        load_safetensors(data, size);
        return 0;
    }
    char *text = malloc(size + 2);
    FUZZ_CHECK(text);
    memcpy(text, data, size);
    text[size] = text[size + 1] = '\0';
    const char *nul = memchr(text, '\0', size);
    const char *args = nul && (size_t)(nul - text) < size ? nul + 1 : NULL;

    fv_model *m = fv_model_parse_string(text, ORIGIN);
    if (!m) {
        FUZZ_CHECK_ERROR(ORIGIN);
        free(text);
        return 0;
    }
    if (args) (void)fv_model_compile(m, args); /* all or nothing: the model stays valid */
    check_model(m);
    fv_model_free(m);
    free(text);
    return 0;
}
