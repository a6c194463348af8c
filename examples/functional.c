/* functional.c — a graph built from C, as Keras' Functional API builds it: a residual block whose
 * first activation feeds two layers, an add of the two branches, then a classifier; its summary,
 * and a prediction on a batch of random images.
 * Build: part of the CMake build (build/functional). Run: build/functional
 */
#include <fovea.h>

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    static const char *const lines[] = {
        "input shape=28,28,1 name=image",
        "conv2d name=stem filters=16 kernel_size=3 padding=same use_bias=false",
        "batch_normalization",
        "relu name=r0",
        "conv2d filters=16 kernel_size=3 padding=same use_bias=false",
        "batch_normalization",
        "relu",
        "conv2d filters=16 kernel_size=3 padding=same use_bias=false",
        "batch_normalization name=bn_b",
        "add name=res inputs=r0,bn_b", /* the shortcut: r0 is read twice */
        "relu",
        "global_average_pooling2d",
        "dense name=probabilities units=10 activation=softmax",
        "compile loss=sparse_categorical_crossentropy optimizer=adam metrics=accuracy",
    };
    fv_model *m = fv_model_new();
    if (!m) goto fail;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (fv_model_add(m, lines[i]) != FV_OK) goto fail;
    if (fv_model_summary(m, stdout) != FV_OK) goto fail;

    enum { N = 4 };
    float *x = malloc(N * 28 * 28 * sizeof *x), *y = malloc(N * 10 * sizeof *y);
    if (!x || !y) goto fail;
    for (int i = 0; i < N * 28 * 28; i++)
        x[i] = (float)((i % 29) * (i / 784 + 1) % 29) / 28.0f; /* a pattern per image */
    const float *inputs[] = {x};
    float *outputs[] = {y};
    if (fv_model_predict_arrays(m, inputs, N, N, outputs) != FV_OK) goto fail;
    printf("\n%s of %d images (untrained weights):\n", fv_model_output_name(m, 0), N);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 10; j++)
            printf(" %.3f", y[i * 10 + j]);
        printf("\n");
    }
    free(x), free(y);
    fv_model_free(m);
    return 0;
fail:
    fprintf(stderr, "functional: %s\n", fv_last_error());
    fv_model_free(m);
    return 1;
}
