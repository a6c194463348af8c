/* test_layers.c — the layer kinds: a finite-difference gradient check of every registered kind
 * (input and parameter gradients), hand-worked forward values, shape inference on the seed
 * model, error messages, argument text, and gradients that do not depend on the thread count.
 */
#include "kernels/bf16.h"
#include "kernels/conv_internal.h"
#include "layers/layer.h"
#include "test.h"

#include <stdint.h>

/* ---- a layer with its memory, planned as the model plans it ------------------------------- */

typedef struct tlayer {
    fv_layer l;
    float *w, *g; /* all parameters, one block each */
    int64_t nw;
    void *saved;
    void *scratch;
    int64_t n; /* planned batch */
} tlayer;

static fv_shape shape3(int64_t h, int64_t w, int64_t c)
{
    return (fv_shape){.rank = 3, .d = {h, w, c}};
}

static fv_shape shape1(int64_t n)
{
    return (fv_shape){.rank = 1, .d = {n}};
}

/* "key=value key=value" through fv__args_set, as the model-file parser does. */
static fv_status set_args(fv_layer *l, const char *args)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) return fv__fail(FV_ERR_INVALID, "test: '%s' is not key=value", tok);
        *eq = '\0';
        fv_status s = fv__args_set(l->kind->args, l->cfg, tok, eq + 1, &l->given);
        if (s) return s;
    }
    return FV_OK;
}

/* Configures and builds on nin inputs of shapes ins; t must be freed with tl_free whatever the
 * result. */
static fv_status tl_build_n(tlayer *t, const char *kind, const char *args, int nin,
                            const fv_shape *ins)
{
    memset(t, 0, sizeof *t);
    t->l.kind = fv__layer_kind_find(kind);
    if (!t->l.kind) return fv__fail(FV_ERR_INVALID, "test: no layer kind '%s'", kind);
    t->l.cfg = calloc(1, t->l.kind->cfg_size);
    fv_status s = fv__args_defaults(t->l.kind->args, t->l.cfg);
    if (!s) s = set_args(&t->l, args);
    if (!s) {
        t->l.nin = nin;
        for (int j = 0; j < nin; j++)
            t->l.in[j] = ins[j];
        t->l.trainable = true;
        s = t->l.kind->build(&t->l);
    }
    return s;
}

static fv_status tl_build(tlayer *t, const char *kind, const char *args, fv_shape in)
{
    return tl_build_n(t, kind, args, 1, &in);
}

/* The input pointers of a layer whose inputs lie one after the other in x (n samples each). */
static void split_inputs(const tlayer *t, int64_t n, const float *x, const float **xs)
{
    for (int j = 0; j < t->l.nin; j++) {
        xs[j] = x;
        x += n * fv__shape_size(&t->l.in[j]);
    }
}

/* Parameters (zeroed), saved state and scratch for batches of up to n with `threads`. */
static void tl_plan(tlayer *t, int64_t n, int threads)
{
    t->n = n;
    t->nw = 0;
    for (int i = 0; i < t->l.nparams; i++)
        t->nw += t->l.params[i].size;
    t->w = calloc((size_t)t->nw + 1, sizeof(float));
    t->g = calloc((size_t)t->nw + 1, sizeof(float));
    for (int i = 0, off = 0; i < t->l.nparams; off += (int)t->l.params[i].size, i++) {
        t->l.params[i].w = t->w + off;
        t->l.params[i].g = t->g + off;
    }
    t->saved = fv__calloc((size_t)n * t->l.saved_per_sample, "saved");
    t->l.saved = t->saved;
    if (t->l.kind->scratch_bytes)
        t->scratch = fv__calloc(t->l.kind->scratch_bytes(&t->l, n, threads), "scratch");
}

static void tl_free(tlayer *t)
{
    free(t->l.cfg);
    free(t->w);
    free(t->g);
    fv__free(t->saved);
    fv__free(t->scratch);
    memset(t, 0, sizeof *t);
}

static void tl_forward(tlayer *t, int64_t n, const float *x, float *y, bool training, uint64_t seed,
                       int threads)
{
    fv_rng rng;
    fv__rng_seed(&rng, seed);
    fv_run r = {
        .n = n, .training = training, .rng = &rng, .scratch = t->scratch, .threads = threads};
    const float *xs[FV_MAX_INPUTS];
    split_inputs(t, n, x, xs);
    t->l.kind->forward(&t->l, xs, y, &r);
}

static void tl_backward(tlayer *t, int64_t n, const float *x, const float *y, float *dy, float *dx,
                        bool training, uint64_t seed, int threads)
{
    fv_rng rng;
    fv__rng_seed(&rng, seed);
    fv_run r = {
        .n = n, .training = training, .rng = &rng, .scratch = t->scratch, .threads = threads};
    const float *xs[FV_MAX_INPUTS];
    float *dxs[FV_MAX_INPUTS];
    split_inputs(t, n, x, xs);
    split_inputs(t, n, dx, (const float **)dxs);
    if (!dx)
        for (int j = 0; j < t->l.nin; j++)
            dxs[j] = NULL;
    t->l.kind->backward(&t->l, xs, y, dy, dxs, &r);
}

/* Values per sample over all inputs. */
static int64_t in_size(const tlayer *t)
{
    int64_t n = 0;
    for (int j = 0; j < t->l.nin; j++)
        n += fv__shape_size(&t->l.in[j]);
    return n;
}

static int64_t out_size(const tlayer *t)
{
    return fv__shape_size(&t->l.out);
}

static float *floats(int64_t n)
{
    return calloc((size_t)n + 1, sizeof(float));
}

/* Builds kind(args) on nin inputs for n samples, checking that it builds. */
static bool tl_make_n(tlayer *t, const char *kind, const char *args, int nin, const fv_shape *ins,
                      int64_t n)
{
    fv_status s = tl_build_n(t, kind, args, nin, ins);
    if (s) {
        fprintf(stderr, "  %s %s: %s\n", kind, args, fv_last_error());
        CHECK(s == FV_OK);
        return false;
    }
    tl_plan(t, n, 2);
    return true;
}

static bool tl_make(tlayer *t, const char *kind, const char *args, fv_shape in, int64_t n)
{
    return tl_make_n(t, kind, args, 1, &in, n);
}

/* ---- the generic finite-difference gradient check ----------------------------------------- */

typedef struct gc_case {
    const char *kind, *args;
    fv_shape in;
    int nin;      /* inputs (0: one) */
    fv_shape in2; /* the shape of inputs 2.. (rank 0: the same as in) */
} gc_case;

/* A case's input shapes; returns their count. */
static int gc_inputs(const gc_case *c, fv_shape *ins)
{
    const int nin = c->nin ? c->nin : 1;
    for (int j = 0; j < nin; j++)
        ins[j] = j && c->in2.rank ? c->in2 : c->in;
    return nin;
}

#define S3(h, w, c)                                                                                \
    {                                                                                              \
        .rank = 3, .d = { h, w, c }                                                                \
    }
#define S1(n)                                                                                      \
    {                                                                                              \
        .rank = 1, .d = { n }                                                                      \
    }

/* Every kind, every padding/stride/dilation combination, odd sizes and every activation. The
 * single-input cases leave nin and in2 at zero. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const gc_case gc_cases[] = {
    {"conv2d", "filters=2 kernel_size=3", S3(5, 5, 1)},
    {"conv2d", "filters=3 kernel_size=3 padding=same", S3(6, 5, 2)},
    {"conv2d", "filters=2 kernel_size=3 strides=2 padding=same", S3(4, 4, 1)},
    {"conv2d", "filters=2 kernel_size=3 strides=2", S3(7, 6, 2)},
    {"conv2d", "filters=2 kernel_size=2,3 strides=2,1 padding=same", S3(5, 7, 2)},
    {"conv2d", "filters=2 kernel_size=3,2 strides=1,3", S3(6, 7, 1)},
    {"conv2d", "filters=2 kernel_size=3 dilation_rate=2", S3(7, 7, 1)},
    {"conv2d", "filters=2 kernel_size=3 dilation_rate=2,1 padding=same", S3(5, 6, 2)},
    {"conv2d", "filters=2 kernel_size=3 strides=2 dilation_rate=2 padding=same", S3(7, 7, 2)},
    {"conv2d", "filters=2 kernel_size=2 strides=3 dilation_rate=2", S3(8, 7, 1)},
    {"conv2d", "filters=3 kernel_size=1", S3(3, 3, 2)},
    {"conv2d", "filters=2 kernel_size=1 strides=2 padding=same", S3(5, 5, 3)},
    {"conv2d", "filters=2 kernel_size=5 padding=same", S3(3, 4, 1)},
    {"conv2d", "filters=2 kernel_size=3 use_bias=false", S3(5, 4, 2)},
    {"conv2d", "filters=2 kernel_size=3 activation=relu", S3(5, 5, 2)},
    {"conv2d", "filters=2 kernel_size=3 activation=sigmoid", S3(5, 5, 1)},
    {"conv2d", "filters=2 kernel_size=3 activation=tanh padding=same", S3(4, 5, 1)},
    {"conv2d", "filters=2 kernel_size=3 activation=leaky_relu", S3(5, 5, 1)},
    {"conv2d", "filters=2 kernel_size=3 activation=elu", S3(5, 5, 1)},
    {"conv2d", "filters=3 kernel_size=3 activation=softmax", S3(5, 5, 2)},
    {"conv2d", "filters=1 kernel_size=3 activation=linear", S3(3, 3, 1)},
    {"maxpool2d", "", S3(4, 4, 2)},
    {"maxpool2d", "pool_size=3", S3(7, 7, 1)},
    {"maxpool2d", "pool_size=2 strides=1", S3(5, 5, 2)},
    {"maxpool2d", "pool_size=3 strides=2 padding=same", S3(6, 5, 2)},
    {"maxpool2d", "pool_size=2 padding=same", S3(5, 5, 1)},
    {"maxpool2d", "pool_size=2,3 strides=1,2", S3(5, 7, 2)},
    {"maxpool2d", "pool_size=3 strides=None padding=same", S3(4, 5, 1)},
    {"dropout", "rate=0.5", S3(4, 4, 2)},
    {"dropout", "rate=0.2", S1(11)},
    {"dropout", "rate=0", S1(5)},
    {"flatten", "", S3(3, 4, 2)},
    {"flatten", "", S1(5)},
    {"dense", "units=4", S1(7)},
    {"dense", "units=3 use_bias=false", S1(5)},
    {"dense", "units=1", S1(1)},
    {"dense", "units=3 activation=relu", S1(6)},
    {"dense", "units=3 activation=sigmoid", S1(6)},
    {"dense", "units=3 activation=tanh", S1(6)},
    {"dense", "units=3 activation=leaky_relu", S1(6)},
    {"dense", "units=3 activation=elu", S1(6)},
    {"dense", "units=5 activation=softmax", S1(6)},
    {"activation", "activation=linear", S1(6)},
    {"activation", "activation=relu", S3(2, 3, 2)},
    {"activation", "activation=sigmoid", S1(6)},
    {"activation", "activation=tanh", S1(6)},
    {"activation", "activation=leaky_relu", S1(6)},
    {"activation", "activation=elu", S1(6)},
    {"activation", "activation=softmax", S3(2, 1, 3)},
    {"relu", "", S3(3, 2, 2)},
    {"sigmoid", "", S3(2, 2, 3)},
    {"tanh", "", S1(7)},
    {"leaky_relu", "", S1(7)},
    {"leaky_relu", "negative_slope=0.1", S3(2, 2, 2)},
    {"elu", "", S1(7)},
    {"elu", "alpha=0.5", S3(2, 2, 2)},
    {"softmax", "", S1(5)},
    {"softmax", "", S3(2, 3, 4)},
    {"maxout", "units=2", S1(6)},
    {"maxout", "units=3", S3(3, 2, 6)},
    {"maxout", "units=1", S1(4)},
    {"add", "", S3(2, 3, 2), 2, {0}},
    {"add", "", S1(5), 3, {0}},
    {"subtract", "", S3(2, 2, 3), 2, {0}},
    {"multiply", "", S1(6), 2, {0}},
    {"multiply", "", S3(2, 1, 3), 3, {0}},
    {"average", "", S1(5), 3, {0}},
    {"maximum", "", S1(7), 2, {0}},
    {"maximum", "", S3(2, 2, 2), 3, {0}},
    {"concatenate", "", S3(2, 3, 2), 2, S3(2, 3, 3)},
    {"concatenate", "axis=1", S3(2, 3, 2), 3, S3(1, 3, 2)},
    {"concatenate", "axis=2", S3(2, 3, 2), 2, S3(2, 1, 2)},
    {"concatenate", "", S1(3), 2, S1(4)},
    {"batch_normalization", "", S3(3, 2, 4)},
    {"batch_normalization", "", S1(5)},
    {"batch_normalization", "center=false", S3(2, 2, 3)},
    {"batch_normalization", "scale=false momentum=0.9 epsilon=0.01", S1(4)},
    {"global_average_pooling2d", "", S3(3, 4, 2)},
    {"global_average_pooling2d", "keepdims=true", S3(2, 3, 3)},
    {"global_max_pooling2d", "", S3(3, 3, 2)},
    {"global_max_pooling2d", "keepdims=true", S3(2, 2, 3)},
    /* The convolution family: every padding, stride, dilation and output_padding combination
     * (strides and dilation together, which Keras refuses, included), odd sizes. */
    {"conv2d_transpose", "filters=2 kernel_size=3", S3(3, 4, 2)},
    {"conv2d_transpose", "filters=2 kernel_size=3 strides=2", S3(3, 2, 1)},
    {"conv2d_transpose", "filters=2 kernel_size=2 strides=3", S3(2, 3, 2)},
    {"conv2d_transpose", "filters=2 kernel_size=3 strides=2 output_padding=1", S3(3, 3, 1)},
    {"conv2d_transpose", "filters=1 kernel_size=2,3 strides=3,2 output_padding=2,0", S3(2, 3, 2)},
    {"conv2d_transpose", "filters=3 kernel_size=3 padding=same", S3(3, 4, 2)},
    {"conv2d_transpose", "filters=2 kernel_size=3 strides=2 padding=same", S3(3, 3, 1)},
    {"conv2d_transpose", "filters=2 kernel_size=4 strides=2 padding=same", S3(3, 2, 2)},
    {"conv2d_transpose", "filters=2 kernel_size=2 padding=same", S3(3, 3, 1)},
    {"conv2d_transpose", "filters=2 kernel_size=3 padding=same output_padding=0", S3(3, 3, 1)},
    {"conv2d_transpose", "filters=2 kernel_size=3 strides=2 padding=same output_padding=0",
     S3(3, 2, 1)},
    {"conv2d_transpose", "filters=2 kernel_size=3 strides=2 padding=same output_padding=1",
     S3(2, 3, 2)},
    {"conv2d_transpose", "filters=2 kernel_size=2 strides=3 padding=same output_padding=2",
     S3(2, 2, 1)},
    {"conv2d_transpose", "filters=2 kernel_size=3 dilation_rate=2", S3(3, 3, 1)},
    {"conv2d_transpose", "filters=2 kernel_size=3 dilation_rate=2,1 padding=same", S3(3, 4, 2)},
    {"conv2d_transpose", "filters=2 kernel_size=3 strides=2 dilation_rate=2", S3(3, 2, 1)},
    {"conv2d_transpose",
     "filters=2 kernel_size=2 strides=2 dilation_rate=2 padding=same output_padding=1",
     S3(2, 3, 1)},
    {"conv2d_transpose", "filters=2 kernel_size=3 strides=2 use_bias=false activation=relu",
     S3(3, 3, 2)},
    {"conv2d_transpose", "filters=2 kernel_size=3 activation=tanh padding=same", S3(2, 3, 1)},
    {"conv2d_transpose", "filters=3 kernel_size=2 activation=softmax", S3(2, 2, 1)},
    {"conv2d_transpose", "filters=3 kernel_size=1 strides=2", S3(3, 3, 2)},
    {"depthwise_conv2d", "kernel_size=3", S3(5, 4, 2)},
    {"depthwise_conv2d", "kernel_size=3 depth_multiplier=2 padding=same", S3(5, 5, 2)},
    {"depthwise_conv2d", "kernel_size=3 strides=2 padding=same depth_multiplier=3", S3(5, 6, 1)},
    {"depthwise_conv2d", "kernel_size=2,3 strides=2,1", S3(7, 5, 3)},
    {"depthwise_conv2d", "kernel_size=3 dilation_rate=2 depth_multiplier=2", S3(7, 6, 2)},
    {"depthwise_conv2d", "kernel_size=3 dilation_rate=2,1 padding=same", S3(5, 6, 2)},
    {"depthwise_conv2d", "kernel_size=3 strides=2 dilation_rate=2 padding=same depth_multiplier=2",
     S3(7, 7, 1)},
    {"depthwise_conv2d", "kernel_size=2 strides=3 dilation_rate=2", S3(8, 7, 2)},
    {"depthwise_conv2d", "kernel_size=3 use_bias=false activation=relu depth_multiplier=2",
     S3(5, 5, 2)},
    {"depthwise_conv2d", "kernel_size=1 strides=2 padding=same activation=tanh", S3(5, 5, 3)},
    {"separable_conv2d", "filters=3 kernel_size=3", S3(5, 4, 2)},
    {"separable_conv2d", "filters=2 kernel_size=3 depth_multiplier=2 padding=same", S3(5, 5, 2)},
    {"separable_conv2d", "filters=2 kernel_size=3 strides=2 padding=same", S3(6, 5, 3)},
    {"separable_conv2d", "filters=2 kernel_size=2,3 strides=2,1 depth_multiplier=3", S3(5, 6, 1)},
    {"separable_conv2d", "filters=2 kernel_size=3 dilation_rate=2 padding=same", S3(5, 6, 2)},
    {"separable_conv2d", "filters=2 kernel_size=3 strides=2 dilation_rate=2 depth_multiplier=2",
     S3(7, 7, 1)},
    {"separable_conv2d", "filters=3 kernel_size=3 use_bias=false activation=relu", S3(5, 5, 2)},
    {"separable_conv2d", "filters=2 kernel_size=1 activation=elu", S3(3, 3, 2)},
    /* Pooling, resizing, padding, reshaping; ReLU with Keras' arguments (the plain one above). */
    {"average_pooling2d", "", S3(4, 4, 2)},
    {"average_pooling2d", "pool_size=3 strides=2 padding=same", S3(7, 6, 2)},
    {"average_pooling2d", "pool_size=2,3 strides=1,2", S3(5, 7, 1)},
    {"average_pooling2d", "pool_size=3 padding=same", S3(4, 5, 2)},
    {"average_pooling2d", "pool_size=2 strides=1 padding=same", S3(3, 3, 1)},
    {"average_pooling2d", "pool_size=4,2 strides=3,1 padding=same", S3(5, 4, 1)},
    {"upsampling2d", "", S3(2, 3, 2)},
    {"upsampling2d", "size=3,2", S3(3, 2, 1)},
    {"upsampling2d", "interpolation=bilinear", S3(3, 3, 2)},
    {"upsampling2d", "size=3,2 interpolation=bilinear", S3(2, 3, 1)},
    {"upsampling2d", "size=1,4 interpolation=bilinear", S3(1, 3, 2)},
    {"zero_padding2d", "", S3(3, 2, 2)},
    {"zero_padding2d", "padding=2,1", S3(2, 3, 1)},
    {"zero_padding2d", "padding=1,0,3,2", S3(3, 3, 2)},
    {"zero_padding2d", "padding=0", S3(2, 2, 1)},
    {"cropping2d", "", S3(3, 3, 1)},
    {"cropping2d", "cropping=1", S3(4, 5, 2)},
    {"cropping2d", "cropping=1,2", S3(5, 6, 1)},
    {"cropping2d", "cropping=0,2,1,0", S3(5, 4, 2)},
    {"reshape", "target_shape=6,2", S3(2, 3, 2)},
    {"reshape", "target_shape=-1", S3(2, 2, 3)},
    {"reshape", "target_shape=3,-1,2", S1(12)},
    {"reshape", "target_shape=2,3,1", S3(3, 2, 1)},
    {"relu", "max_value=0.6", S3(3, 2, 2)},
    {"relu", "negative_slope=0.3", S1(7)},
    {"relu", "threshold=0.3", S1(8)},
    {"relu", "max_value=0.5 negative_slope=0.2 threshold=0.25", S3(2, 3, 2)},
    {"relu", "max_value=0.2 threshold=0.5 negative_slope=1.5", S1(9)},
    {"relu", "max_value=6", S1(5)},
    /* The preprocessing layers in training mode (the run's stream fixes each sample's map, so
     * the output is linear in x; contrast and brightness clip far outside the inputs). */
    {"random_flip", "", S3(4, 5, 2)},
    {"random_flip", "mode=horizontal", S3(3, 4, 1)},
    {"random_flip", "mode=vertical", S3(3, 2, 2)},
    {"random_translation", "height_factor=0.3 width_factor=0.2", S3(5, 6, 2)},
    {"random_translation", "height_factor=-0.4,0.4 width_factor=0.5 fill_mode=wrap", S3(4, 5, 1)},
    {"random_translation", "height_factor=0.3 width_factor=0.3 fill_mode=constant fill_value=0.5",
     S3(5, 5, 2)},
    {"random_translation", "height_factor=0.3 width_factor=0.3 fill_mode=nearest", S3(4, 6, 1)},
    {"random_translation", "height_factor=0.4 width_factor=0.4 interpolation=nearest", S3(5, 4, 2)},
    {"random_rotation", "factor=0.2", S3(5, 5, 2)},
    {"random_rotation", "factor=0.1 fill_mode=constant", S3(4, 6, 1)},
    {"random_rotation", "factor=-0.5,0.5 interpolation=nearest fill_mode=wrap", S3(5, 4, 1)},
    {"random_zoom", "height_factor=0.3", S3(5, 5, 2)},
    {"random_zoom", "height_factor=-0.5,0.5 width_factor=0.2 fill_mode=nearest", S3(4, 6, 1)},
    {"random_crop", "height=3 width=4", S3(5, 6, 2)},
    {"random_crop", "height=6 width=6", S3(4, 5, 1)},
    {"center_crop", "height=3 width=2", S3(5, 5, 2)},
    {"center_crop", "height=7 width=5", S3(4, 5, 1)},
    {"resizing", "height=3 width=7", S3(5, 4, 2)},
    {"resizing", "height=2 width=3 interpolation=nearest", S3(5, 4, 1)},
    {"resizing", "height=3 width=3 crop_to_aspect_ratio=true", S3(4, 6, 1)},
    {"random_contrast", "factor=0.5 value_range=-10,10", S3(3, 4, 2)},
    {"random_contrast", "factor=0.2,0.9 value_range=-10,10", S3(2, 3, 1)},
    {"random_brightness", "factor=0.3 value_range=-10,10", S3(3, 3, 2)},
    {"rescaling", "scale=0.5 offset=-1", S3(3, 3, 2)},
    {"rescaling", "scale=0.00392156862745098", S1(6)},
    {"normalization", "mean=0.5,0.2 variance=4,0.25", S3(3, 3, 2)},
    {"normalization", "mean=1 variance=2 invert=true", S1(5)},
    {"activity_regularization", "l1=0.03 l2=0.2", S3(3, 2, 2)},
    {"activity_regularization", "l2=0.5", S1(6)},
    {"yolo", "classes=2 anchors=1,1.5,2,2", S3(3, 2, 14)},
    {"pose", "extent=80,50,30", S1(9)},
    {"gaussian_noise", "stddev=0.3", S3(3, 4, 2)},
    {"gaussian_noise", "stddev=0", S1(5)},
    {"sampling", "", S1(4), 2, {0}},
    {"sampling", "inference=mean", S3(2, 2, 3), 2, {0}},
};
#pragma GCC diagnostic pop

/* Central differences with step h = 1e-2 on up to GC_PROBES elements of every tensor.
 * |analytic - numeric| <= GC_ATOL + GC_RTOL·|numeric|: the loss is summed in double from float
 * outputs, whose rounding contributes about 1e-5 at this step, and the O(h²) curvature term
 * about as much for the smooth activations.
 * Kinks: inputs and weights lie in [-1, 1] and [-0.5, 0.5], so one probe moves a pre-activation
 * by at most h; samples whose pre-activations come within GC_MARGIN of a kink are drawn again
 * (maxima: inputs 0.05 apart; kinked activation layers: inputs at least 0.05 from zero). A probe
 * that still changes a kink side or a maximum is skipped, and at most a quarter may be. */
enum { GC_PROBES = 40, GC_TRIES = 200 };
static const float GC_STEP = 1e-2f, GC_MARGIN = 1.5e-2f;
static const double GC_ATOL = 1e-3, GC_RTOL = 1e-2;

/* Kinds whose values may tie (maxima): inputs are distinct values 0.05 apart, which a step of
 * 0.01 cannot reorder. */
static bool gc_spaced(const fv_layer *l)
{
    return l->kind == &fv__kind_maxpool2d || l->kind == &fv__kind_maxout ||
           l->kind == &fv__kind_maximum || l->kind == &fv__kind_global_max_pooling2d;
}

/* Whether a kind's saved state is a discrete choice (argmax, dropout mask) that a probe must not
 * change; BatchNormalization saves its batch statistics, which move smoothly with x. */
static bool gc_saved_is_pattern(const fv_layer *l)
{
    return l->kind != &fv__kind_batch_normalization;
}

/* Activations with a kink at 0: probes that move an output across it are rejected. */
static bool gc_kinked(const fv_layer *l)
{
    fv_activation a = fv__layer_activation(l);
    return a == FV_ACT_RELU || a == FV_ACT_LEAKY_RELU || a == FV_ACT_ELU;
}

/* Totals over all cases, printed by the test: what was checked, and how closely. */
static struct {
    long probes, skipped, redraws;
    double worst; /* largest |analytic - numeric| / (GC_ATOL + GC_RTOL·|numeric|) */
} gc_stats;

typedef struct gc_state {
    tlayer *t;
    float kinks[3]; /* inputs are drawn at least 0.05 away from these */
    int nkinks;
    int64_t n;
    float *x, *y, *r;
    unsigned char *pattern, *probe_pattern; /* kink side of each output, then saved state */
    size_t pattern_bytes;
    float h; /* finite-difference step */
} gc_state;

/* For conv2d, dense and the convolution family with a kinked activation: the same layer with
 * activation=linear, whose outputs are the pre-activations. False for the other kinds (their input
 * is the pre-activation). */
static bool gc_twin(const gc_case *c, const tlayer *t, int64_t n, tlayer *twin)
{
    if (!(t->l.kind == &fv__kind_conv2d || t->l.kind == &fv__kind_dense ||
          t->l.kind == &fv__kind_conv2d_transpose || t->l.kind == &fv__kind_depthwise_conv2d ||
          t->l.kind == &fv__kind_separable_conv2d) ||
        !gc_kinked(&t->l))
        return false;
    char args[256];
    const char *a = strstr(c->args, "activation=");
    const char *end = strchr(a, ' ');
    snprintf(args, sizeof args, "%.*sactivation=linear%s", (int)(a - c->args), c->args,
             end ? end : "");
    fv_shape ins[FV_MAX_INPUTS];
    if (!tl_make_n(twin, c->kind, args, gc_inputs(c, ins), ins, n)) return false;
    return true;
}

/* The value of "key=" in a case's arguments, or def. */
static float gc_arg(const gc_case *c, const char *key, float def)
{
    const char *p = strstr(c->args, key);
    return p ? strtof(p + strlen(key), NULL) : def;
}

/* The input values where an element-wise kind's derivative jumps: 0, and ReLU's threshold and
 * max_value when they are given. */
static void gc_set_kinks(gc_state *s, const gc_case *c)
{
    s->nkinks = 0;
    s->kinks[s->nkinks++] = 0.0f;
    if (strcmp(c->kind, "relu") != 0) return;
    if (strstr(c->args, "threshold=")) s->kinks[s->nkinks++] = gc_arg(c, "threshold=", 0);
    if (strstr(c->args, "max_value=")) s->kinks[s->nkinks++] = gc_arg(c, "max_value=", 0);
}

static bool gc_near_kink(const gc_state *s, float x)
{
    for (int k = 0; k < s->nkinks; k++)
        if (fabsf(x - s->kinks[k]) < 0.05f) return true;
    return false;
}

/* Draws weights, inputs and output weighting for a case, away from kinks and ties. */
static void gc_draw(gc_state *s, tlayer *twin, bool has_twin, fv_rng *rng)
{
    tlayer *t = s->t;
    const int64_t nx = s->n * in_size(t), ny = s->n * out_size(t);
    for (int tries = 0; tries < GC_TRIES; tries++) {
        for (int64_t i = 0; i < t->nw; i++)
            t->w[i] = fv__rng_uniform(rng) - 0.5f;
        if (gc_spaced(&t->l)) {
            /* A shuffled ladder of distinct values 0.05 apart. */
            for (int64_t i = 0; i < nx; i++)
                s->x[i] = 0.05f * (float)(i - nx / 2);
            for (int64_t i = nx - 1; i > 0; i--) {
                int64_t j = (int64_t)fv__rng_below(rng, (uint64_t)i + 1);
                float tmp = s->x[i];
                s->x[i] = s->x[j], s->x[j] = tmp;
            }
        } else {
            /* At least 0.05 away from the kinks of the activation layers. */
            for (int64_t i = 0; i < nx; i++) {
                do
                    s->x[i] = 2.0f * fv__rng_uniform(rng) - 1.0f;
                while (gc_near_kink(s, s->x[i]));
            }
        }
        if (!has_twin) break;
        memcpy(twin->w, t->w, (size_t)t->nw * sizeof(float));
        tl_forward(twin, s->n, s->x, s->y, true, 77, 2);
        bool near = false;
        for (int64_t i = 0; i < ny; i++)
            near = near || fabsf(s->y[i]) < GC_MARGIN;
        if (!near) break;
        gc_stats.redraws++;
    }
    for (int64_t i = 0; i < ny; i++)
        s->r[i] = 2.0f * fv__rng_uniform(rng) - 1.0f;
}

/* Forward at the current x and weights (same dropout mask every time); returns Σ r·y and writes
 * the pattern of kinks and maxima into pat. */
static double gc_loss(gc_state *s, unsigned char *pat)
{
    tlayer *t = s->t;
    const int64_t ny = s->n * out_size(t);
    tl_forward(t, s->n, s->x, s->y, true, 77, 2);
    double L = 0;
    for (int64_t i = 0; i < ny; i++)
        L += (double)s->r[i] * s->y[i];
    /* a kind's added loss is part of what its backward differentiates */
    if (t->l.kind->loss) {
        const float *xs[FV_MAX_INPUTS];
        split_inputs(t, s->n, s->x, xs);
        L += t->l.kind->loss(&t->l, xs, s->y, s->n);
    }
    size_t k = 0;
    if (gc_kinked(&t->l))
        for (int64_t i = 0; i < ny; i++)
            pat[k++] = s->y[i] > 0.0f;
    if (gc_saved_is_pattern(&t->l)) memcpy(pat + k, t->saved, (size_t)s->n * t->l.saved_per_sample);
    return L;
}

/* Checks the analytic derivatives ana[0..size) of the loss wrt v[0..size) against central
 * differences. Returns the number of mismatches. */
static int gc_check_tensor(gc_state *s, const char *what, const gc_case *c, float *v,
                           const float *ana, int64_t size, fv_rng *rng)
{
    int bad = 0, skipped = 0, probes = 0;
    for (int p = 0; p < GC_PROBES && p < size; p++, probes++) {
        int64_t j = size <= GC_PROBES ? p : (int64_t)fv__rng_below(rng, (uint64_t)size);
        const float v0 = v[j];
        v[j] = v0 + s->h;
        double lp = gc_loss(s, s->probe_pattern);
        bool same = memcmp(s->pattern, s->probe_pattern, s->pattern_bytes) == 0;
        v[j] = v0 - s->h;
        double lm = gc_loss(s, s->probe_pattern);
        same = same && memcmp(s->pattern, s->probe_pattern, s->pattern_bytes) == 0;
        v[j] = v0;
        if (!same) {
            skipped++; /* a kink or a change of maximum between the two points */
            continue;
        }
        double num = (lp - lm) / (2.0 * (double)s->h);
        double ratio = fabs(ana[j] - num) / (GC_ATOL + GC_RTOL * fabs(num));
        if (ratio > gc_stats.worst) gc_stats.worst = ratio;
        if (!(fabs(ana[j] - num) <= GC_ATOL + GC_RTOL * fabs(num))) {
            if (bad < 3)
                fprintf(stderr, "  %s %s (n=%lld): %s[%lld] analytic %.6g, numeric %.6g\n", c->kind,
                        c->args, (long long)s->n, what, (long long)j, (double)ana[j], num);
            bad++;
        }
    }
    gc_stats.probes += probes;
    gc_stats.skipped += skipped;
    if (skipped > 2 && skipped * 4 > probes) {
        fprintf(stderr, "  %s %s (n=%lld): %s: %d of %d probes crossed a kink\n", c->kind, c->args,
                (long long)s->n, what, skipped, probes);
        bad++;
    }
    return bad;
}

/* One case at one batch size; returns the number of failures. */
static int gradcheck_case(const gc_case *c, int64_t n, uint64_t seed)
{
    tlayer t;
    int bad = 0;
    fv_shape ins[FV_MAX_INPUTS];
    if (!tl_make_n(&t, c->kind, c->args, gc_inputs(c, ins), ins, n)) {
        tl_free(&t);
        return 1;
    }
    fv_rng rng;
    fv__rng_seed(&rng, seed);
    const int64_t nx = n * in_size(&t), ny = n * out_size(&t);
    gc_state s = {.t = &t, .n = n, .x = floats(nx), .y = floats(ny), .r = floats(ny)};
    s.pattern_bytes = (gc_kinked(&t.l) ? (size_t)ny : 0) +
                      (gc_saved_is_pattern(&t.l) ? (size_t)n * t.l.saved_per_sample : 0);
    s.h = GC_STEP;
    gc_set_kinks(&s, c);
    s.pattern = calloc(s.pattern_bytes + 1, 1);
    s.probe_pattern = calloc(s.pattern_bytes + 1, 1);
    float *dy = floats(ny), *dx = floats(nx), *g0 = floats(t.nw), *g1 = floats(t.nw);

    tlayer twin;
    memset(&twin, 0, sizeof twin);
    const bool has_twin = gc_twin(c, &t, n, &twin);
    gc_draw(&s, &twin, has_twin, &rng);
    tl_free(&twin);

    gc_loss(&s, s.pattern);
    for (int64_t i = 0; i < ny; i++)
        bad += !isfinite(s.y[i]);

    /* Analytic: dx is written (NaN beforehand must not survive), parameter gradients added. */
    memcpy(dy, s.r, (size_t)ny * sizeof(float));
    for (int64_t i = 0; i < nx; i++)
        dx[i] = NAN;
    for (int64_t i = 0; i < t.nw; i++)
        t.g[i] = 0.0f;
    tl_backward(&t, n, s.x, s.y, dy, dx, true, 77, 2);
    memcpy(g0, t.g, (size_t)t.nw * sizeof(float));
    for (int64_t i = 0; i < nx; i++)
        if (!isfinite(dx[i])) {
            if (!bad)
                fprintf(stderr, "  %s %s: dx[%lld] not written\n", c->kind, c->args, (long long)i);
            bad++;
        }

    /* Gradients accumulate: starting from 0.5 gives 0.5 + the same values. */
    memcpy(dy, s.r, (size_t)ny * sizeof(float));
    for (int64_t i = 0; i < t.nw; i++)
        t.g[i] = 0.5f;
    tl_backward(&t, n, s.x, s.y, dy, dx, true, 77, 2);
    for (int64_t i = 0; i < t.nw; i++)
        if (!(fabsf(t.g[i] - 0.5f - g0[i]) <= 1e-5f * (1.0f + fabsf(g0[i])))) {
            if (!bad) fprintf(stderr, "  %s %s: gradients are not added\n", c->kind, c->args);
            bad++;
        }

    /* Without an input gradient, the same parameter gradients, bit for bit. */
    memcpy(dy, s.r, (size_t)ny * sizeof(float));
    memset(t.g, 0, (size_t)t.nw * sizeof(float));
    tl_backward(&t, n, s.x, s.y, dy, NULL, true, 77, 2);
    memcpy(g1, t.g, (size_t)t.nw * sizeof(float));
    if (memcmp(g0, g1, (size_t)t.nw * sizeof(float)) != 0) {
        fprintf(stderr, "  %s %s: dx=NULL changes the parameter gradients\n", c->kind, c->args);
        bad++;
    }

    bad += gc_check_tensor(&s, "x", c, s.x, dx, nx, &rng);
    for (int i = 0; i < t.l.nparams; i++) {
        fv_param *p = &t.l.params[i];
        bad += gc_check_tensor(&s, p->suffix, c, p->w, g0 + (p->g - t.g), p->size, &rng);
    }

    free(s.x), free(s.y), free(s.r), free(s.pattern), free(s.probe_pattern);
    free(dy), free(dx), free(g0), free(g1);
    tl_free(&t);
    return bad;
}

TEST(test_gradcheck_every_case)
{
    const int ncases = (int)(sizeof gc_cases / sizeof gc_cases[0]);
    for (int i = 0; i < ncases; i++) {
        CHECK(gradcheck_case(&gc_cases[i], 1, 1000 + (uint64_t)i) == 0);
        CHECK(gradcheck_case(&gc_cases[i], 3, 2000 + (uint64_t)i) == 0);
    }
    printf("     %d cases at n=1 and n=3: %ld probes, %ld skipped at a kink, %ld samples drawn "
           "again, largest error %.2f of the tolerance\n",
           ncases, gc_stats.probes, gc_stats.skipped, gc_stats.redraws, gc_stats.worst);
}

TEST(test_gradcheck_covers_every_registered_kind)
{
    const int ncases = (int)(sizeof gc_cases / sizeof gc_cases[0]);
    for (int k = 0; fv__layer_kinds[k]; k++) {
        bool found = false;
        for (int i = 0; i < ncases; i++)
            found = found || strcmp(gc_cases[i].kind, fv__layer_kinds[k]->name) == 0;
        if (!found) fprintf(stderr, "  no gradient-check case for %s\n", fv__layer_kinds[k]->name);
        CHECK(found);
    }
    /* Every activation appears on conv2d, dense and the activation layer. */
    const char *kinds[] = {"conv2d", "dense", "activation"};
    for (int k = 0; k < 3; k++)
        for (int a = 0; fv__activation_names[a]; a++) {
            char want[64];
            snprintf(want, sizeof want, "activation=%s", fv__activation_names[a]);
            bool found = a == FV_ACT_LINEAR && k < 2; /* the default */
            for (int i = 0; i < ncases; i++)
                found = found ||
                        (strcmp(gc_cases[i].kind, kinds[k]) == 0 && strstr(gc_cases[i].args, want));
            if (!found) fprintf(stderr, "  no case %s %s\n", kinds[k], want);
            CHECK(found);
        }
}

/* ---- the registry and arguments ---------------------------------------------------------- */

TEST(test_registry_names)
{
    int count = 0;
    for (int i = 0; fv__layer_kinds[i]; i++, count++) {
        const fv_layer_kind *k = fv__layer_kinds[i];
        CHECK(k->name && k->keras_class && k->keras_name && k->args && k->build && k->forward &&
              k->backward && k->cfg_size > 0);
        CHECK(fv__layer_kind_find(k->name) == k);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(fv__layer_kinds[j]->name, k->name) != 0);
    }
    CHECK(fv__layer_kind_find("conv3d") == NULL);
    CHECK(fv__layer_kind_find("") == NULL);

    struct {
        const char *name, *cls, *prefix;
    } keras[] = {
        {"conv2d", "Conv2D", "conv2d"},
        {"maxpool2d", "MaxPooling2D", "max_pooling2d"},
        {"dropout", "Dropout", "dropout"},
        {"gaussian_noise", "GaussianNoise", "gaussian_noise"},
        {"sampling", "Sampling", "sampling"},
        {"flatten", "Flatten", "flatten"},
        {"dense", "Dense", "dense"},
        {"activation", "Activation", "activation"},
        {"relu", "ReLU", "re_lu"},
        {"sigmoid", "Activation", "activation"},
        {"tanh", "Activation", "activation"},
        {"leaky_relu", "LeakyReLU", "leaky_re_lu"},
        {"elu", "ELU", "elu"},
        {"softmax", "Softmax", "softmax"},
        {"maxout", "Maxout", "maxout"},
    };
    for (size_t i = 0; i < sizeof keras / sizeof keras[0]; i++) {
        const fv_layer_kind *k = fv__layer_kind_find(keras[i].name);
        CHECK(k != NULL);
        if (!k) continue;
        CHECK(strcmp(k->keras_class, keras[i].cls) == 0);
        CHECK(strcmp(k->keras_name, keras[i].prefix) == 0);
    }
}

TEST(test_activation_names_follow_the_enum)
{
    CHECK(strcmp(fv__activation_names[FV_ACT_LINEAR], "linear") == 0);
    CHECK(strcmp(fv__activation_names[FV_ACT_RELU], "relu") == 0);
    CHECK(strcmp(fv__activation_names[FV_ACT_SIGMOID], "sigmoid") == 0);
    CHECK(strcmp(fv__activation_names[FV_ACT_TANH], "tanh") == 0);
    CHECK(strcmp(fv__activation_names[FV_ACT_LEAKY_RELU], "leaky_relu") == 0);
    CHECK(strcmp(fv__activation_names[FV_ACT_ELU], "elu") == 0);
    CHECK(strcmp(fv__activation_names[FV_ACT_SOFTMAX], "softmax") == 0);
    CHECK(fv__activation_names[FV_ACT_SOFTMAX + 1] == NULL);
    CHECK(fv__act_kind(FV_ACT_RELU) == FV_K_RELU);
    CHECK(fv__act_kind(FV_ACT_ELU) == FV_K_ELU);
    CHECK(fv__act_kind(FV_ACT_SOFTMAX) == FV_K_LINEAR);
    CHECK(strcmp(fv__padding_names[FV_PAD_VALID], "valid") == 0);
    CHECK(strcmp(fv__padding_names[FV_PAD_SAME], "same") == 0);
}

TEST(test_layer_activation_is_reported_for_fusion)
{
    struct {
        const char *kind, *args;
        fv_shape in;
        fv_activation want;
    } cases[] = {
        {"conv2d", "filters=2 kernel_size=1 activation=softmax", shape3(2, 2, 1), FV_ACT_SOFTMAX},
        {"conv2d", "filters=2 kernel_size=1", shape3(2, 2, 1), FV_ACT_LINEAR},
        {"dense", "units=3 activation=sigmoid", shape1(4), FV_ACT_SIGMOID},
        {"dense", "units=3 activation=softmax", shape1(4), FV_ACT_SOFTMAX},
        {"activation", "activation=softmax", shape1(4), FV_ACT_SOFTMAX},
        {"softmax", "", shape1(4), FV_ACT_SOFTMAX},
        {"sigmoid", "", shape1(4), FV_ACT_SIGMOID},
        {"tanh", "", shape1(4), FV_ACT_TANH},
        {"relu", "", shape1(4), FV_ACT_RELU},
        {"leaky_relu", "", shape1(4), FV_ACT_LEAKY_RELU},
        {"elu", "", shape1(4), FV_ACT_ELU},
        {"flatten", "", shape1(4), FV_ACT_LINEAR},
        {"maxout", "units=2", shape1(4), FV_ACT_LINEAR},
        {"dropout", "rate=0.5", shape1(4), FV_ACT_LINEAR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tlayer t;
        CHECK_OK(tl_build(&t, cases[i].kind, cases[i].args, cases[i].in));
        CHECK(fv__layer_activation(&t.l) == cases[i].want);
        tl_free(&t);
    }
}

TEST(test_args_defaults_follow_keras)
{
    tlayer t;
    char buf[256];
    CHECK_OK(tl_build(&t, "conv2d", "filters=32 kernel_size=3", shape3(28, 28, 1)));
    CHECK(t.l.nparams == 2); /* use_bias=true */
    CHECK(fv__layer_activation(&t.l) == FV_ACT_LINEAR);
    CHECK(t.l.out.d[0] == 26 && t.l.out.d[1] == 26); /* strides 1, valid, dilation 1 */
    /* Only given arguments are written back. */
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "filters=32 kernel_size=3") == 0);
    tl_free(&t);

    /* MaxPooling2D: pool 2, strides None = pool_size, valid. */
    CHECK_OK(tl_build(&t, "maxpool2d", "", shape3(6, 6, 1)));
    CHECK(t.l.out.d[0] == 3 && t.l.out.d[1] == 3);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "maxpool2d", "pool_size=3", shape3(6, 6, 1)));
    CHECK(t.l.out.d[0] == 2 && t.l.out.d[1] == 2); /* stride 3, not 1 */
    tl_free(&t);
    CHECK_OK(tl_build(&t, "maxpool2d", "pool_size=3 strides=None", shape3(6, 6, 1)));
    CHECK(t.l.out.d[0] == 2 && t.l.out.d[1] == 2);
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "pool_size=3 strides=None") == 0);
    tl_free(&t);
}

TEST(test_args_format_is_canonical_and_round_trips)
{
    tlayer t, u;
    char buf[256], buf2[256];
    CHECK_OK(tl_build(&t, "conv2d",
                      "use_bias=false activation=relu filters=32 kernel_size=3,2 strides=2,2 "
                      "padding=same dilation_rate=1,3",
                      shape3(28, 28, 1)));
    size_t len = fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    const char *want = "filters=32 kernel_size=3,2 strides=2 padding=same dilation_rate=1,3 "
                       "activation=relu use_bias=false";
    CHECK(strcmp(buf, want) == 0);
    CHECK(len == strlen(want));
    CHECK_OK(tl_build(&u, "conv2d", buf, shape3(28, 28, 1)));
    fv__args_format(u.l.kind->args, u.l.cfg, u.l.given, buf2, sizeof buf2);
    CHECK(strcmp(buf, buf2) == 0);
    CHECK(u.l.given == t.l.given);
    CHECK(memcmp(&u.l.out, &t.l.out, sizeof u.l.out) == 0);

    /* A short buffer: cut, NUL-terminated, and the full length returned (as snprintf). */
    char small[10];
    CHECK(fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, small, sizeof small) == len);
    CHECK(strlen(small) == sizeof small - 1);
    CHECK(strncmp(small, want, sizeof small - 1) == 0);
    tl_free(&t);
    tl_free(&u);

    /* Floats: the shortest text that reads back exactly. */
    CHECK_OK(tl_build(&t, "dropout", "rate=0.1", shape1(4)));
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "rate=0.1") == 0);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "leaky_relu", "negative_slope=2.5e-1", shape1(4)));
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "negative_slope=0.25") == 0);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "flatten", "", shape1(4)));
    CHECK(fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf) == 0);
    CHECK(buf[0] == '\0');
    tl_free(&t);
}

/* A table owned by no layer kind: no prefix in messages; the one user of FV_ARG_SHAPE. */
typedef struct shape_cfg {
    fv_shape shape;
    int64_t count;
} shape_cfg;
static const fv_arg_spec shape_args[] = {
    {"shape", FV_ARG_SHAPE, offsetof(shape_cfg, shape), NULL, NULL, 0, 0},
    {"count", FV_ARG_INT, offsetof(shape_cfg, count), "7", NULL, -3, 9},
    {0},
};

TEST(test_args_shape_and_int_parsing)
{
    shape_cfg c;
    uint64_t given = 0;
    CHECK_OK(fv__args_defaults(shape_args, &c));
    CHECK(c.count == 7 && c.shape.rank == 0);
    CHECK_OK(fv__args_set(shape_args, &c, "shape", "28,28,1", &given));
    CHECK(c.shape.rank == 3 && c.shape.d[0] == 28 && c.shape.d[1] == 28 && c.shape.d[2] == 1);
    CHECK(given == 1);
    CHECK_OK(fv__args_set(shape_args, &c, "shape", "4", &given));
    CHECK(c.shape.rank == 1 && c.shape.d[0] == 4);
    CHECK_OK(fv__args_set(shape_args, &c, "count", "-3", &given));
    CHECK(c.count == -3 && given == 3);
    char buf[64];
    fv__args_format(shape_args, &c, given, buf, sizeof buf);
    CHECK(strcmp(buf, "shape=4 count=-3") == 0);

    const char *bad_shapes[] = {"28,28", "28,28,1,1", "0,1,1", "28,,1", "28,28,",
                                "a",     "",          "-1",    "3 ",    "(28,28,1)"};
    for (size_t i = 0; i < sizeof bad_shapes / sizeof bad_shapes[0]; i++) {
        CHECK(fv__args_set(shape_args, &c, "shape", bad_shapes[i], &given) == FV_ERR_INVALID);
        CHECK_STR_CONTAINS(fv_last_error(), "argument shape=");
        CHECK(strncmp(fv_last_error(), "argument", 8) == 0); /* no kind prefix */
    }
    CHECK(c.shape.rank == 1 && c.shape.d[0] == 4); /* failures left it as it was */

    CHECK(fv__args_set(shape_args, &c, "count", "10", &given) == FV_ERR_INVALID);
    CHECK(strcmp(fv_last_error(), "argument count=10: must be at most 9") == 0);
    CHECK(fv__args_set(shape_args, &c, "count", "-4", &given) == FV_ERR_INVALID);
    CHECK(strcmp(fv_last_error(), "argument count=-4: must be at least -3") == 0);
    const char *bad_ints[] = {"1.5", "", "1e3", " 5", "5x", "99999999999999999999", "0x5"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
        CHECK(fv__args_set(shape_args, &c, "count", bad_ints[i], &given) == FV_ERR_INVALID);
        CHECK_STR_CONTAINS(fv_last_error(), "expected an integer");
    }
    CHECK(c.count == -3);
}

/* The message of building kind(args) on in, which must fail with status want. */
static const char *build_error(const char *kind, const char *args, fv_shape in, fv_status want)
{
    static char msg[1024];
    tlayer t;
    fv__error_clear();
    fv_status s = tl_build(&t, kind, args, in);
    if (s != want) fprintf(stderr, "  %s %s: status %d, wanted %d\n", kind, args, s, want);
    CHECK(s == want);
    snprintf(msg, sizeof msg, "%s", fv_last_error());
    tl_free(&t);
    return msg;
}

TEST(test_bad_argument_values)
{
    const fv_shape img = shape3(8, 8, 1);
    const fv_status E = FV_ERR_INVALID;
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=0", img, E),
                 "conv2d: argument kernel_size=0: must be at least 1") == 0);
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=3,0", img, E),
                 "conv2d: argument kernel_size=3,0: must be at least 1") == 0);
    CHECK(strcmp(build_error("conv2d", "filters=0 kernel_size=3", img, E),
                 "conv2d: argument filters=0: must be at least 1") == 0);
    CHECK_STR_CONTAINS(build_error("conv2d", "filters=abc kernel_size=3", img, E),
                       "conv2d: argument filters=abc: expected an integer");
    CHECK_STR_CONTAINS(build_error("conv2d", "filters=3.5 kernel_size=3", img, E),
                       "expected an integer");
    const char *bad_pairs[] = {"3,3,3", "3,", ",3", "(3,3)", "3x3", "None", "3;3"};
    for (size_t i = 0; i < sizeof bad_pairs / sizeof bad_pairs[0]; i++) {
        char args[64];
        snprintf(args, sizeof args, "filters=4 kernel_size=%s", bad_pairs[i]);
        CHECK_STR_CONTAINS(build_error("conv2d", args, img, E),
                           "expected an integer or two integers as rows,cols (3 or 3,2)");
    }
    CHECK_STR_CONTAINS(build_error("conv2d", "filters=4 kernel_size=3 strides=0", img, E),
                       "conv2d: argument strides=0: must be at least 1");
    CHECK_STR_CONTAINS(build_error("conv2d", "filters=4 kernel_size=3 dilation_rate=0", img, E),
                       "conv2d: argument dilation_rate=0: must be at least 1");
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=3 padding=full", img, E),
                 "conv2d: argument padding=full: expected one of valid, same") == 0);
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=3 padding=Same", img, E),
                 "conv2d: argument padding=Same: expected one of valid, same; did you mean "
                 "'same'?") == 0);
    CHECK_STR_CONTAINS(build_error("conv2d", "filters=4 kernel_size=3 activation=rellu", img, E),
                       "expected one of linear, relu, sigmoid, tanh, leaky_relu, elu, softmax; "
                       "did you mean 'relu'?");
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=3 use_bias=yes", img, E),
                 "conv2d: argument use_bias=yes: expected true or false") == 0);
    CHECK(strcmp(build_error("dense", "units=-1", shape1(4), E),
                 "dense: argument units=-1: must be at least 1") == 0);
    CHECK(strcmp(build_error("dropout", "rate=1.5", shape1(4), E),
                 "dropout: argument rate=1.5: must be at most 1") == 0);
    CHECK(strcmp(build_error("dropout", "rate=-0.1", shape1(4), E),
                 "dropout: argument rate=-0.1: must be at least 0") == 0);
    CHECK_STR_CONTAINS(build_error("dropout", "rate=1", shape1(4), E),
                       "dropout: argument rate=1: must be less than 1");
    CHECK_STR_CONTAINS(build_error("dropout", "rate=nan", shape1(4), E), "expected a number");
    CHECK_STR_CONTAINS(build_error("dropout", "rate=inf", shape1(4), E), "expected a number");
    CHECK_STR_CONTAINS(build_error("dropout", "rate=0.5.", shape1(4), E), "expected a number");
    CHECK_STR_CONTAINS(build_error("dropout", "rate=", shape1(4), E), "expected a number");
    CHECK_STR_CONTAINS(build_error("leaky_relu", "negative_slope=-0.1", shape1(4), E),
                       "leaky_relu: argument negative_slope=-0.1: must be at least 0");
    CHECK_STR_CONTAINS(build_error("elu", "alpha=-1", shape1(4), E),
                       "elu: argument alpha=-1: must be at least 0");
    CHECK_STR_CONTAINS(build_error("maxout", "units=0", shape1(4), E),
                       "maxout: argument units=0: must be at least 1");
    CHECK_STR_CONTAINS(build_error("maxpool2d", "pool_size=0", img, E),
                       "maxpool2d: argument pool_size=0: must be at least 1");
    CHECK_STR_CONTAINS(build_error("maxpool2d", "strides=0", img, E),
                       "maxpool2d: argument strides=0: must be at least 1");
}

TEST(test_unknown_and_missing_arguments)
{
    const fv_shape img = shape3(8, 8, 1);
    const fv_status E = FV_ERR_INVALID;
    CHECK(strcmp(build_error("conv2d", "filter=4 kernel_size=3", img, E),
                 "conv2d: unknown argument 'filter' (known: filters, kernel_size, strides, "
                 "padding, dilation_rate, activation, use_bias, kernel_regularizer, "
                 "bias_regularizer); did you mean 'filters'?") == 0);
    CHECK_STR_CONTAINS(build_error("conv2d", "filters=4 kernel=3", img, E),
                       "did you mean 'kernel_size'?");
    CHECK_STR_CONTAINS(build_error("conv2d", "filters=4 kernel_size=3 stride=2", img, E),
                       "did you mean 'strides'?");
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=3 zzz=1", img, E),
                 "conv2d: unknown argument 'zzz' (known: filters, kernel_size, strides, padding, "
                 "dilation_rate, activation, use_bias, kernel_regularizer, bias_regularizer)") ==
          0);
    CHECK(strcmp(build_error("dense", "units=4 unit=3", shape1(4), E),
                 "dense: unknown argument 'unit' (known: units, activation, use_bias, "
                 "kernel_regularizer, bias_regularizer); did you mean 'units'?") == 0);
    CHECK(strcmp(build_error("flatten", "data_format=channels_last", img, E),
                 "flatten: unknown argument 'data_format' (this layer takes no arguments)") == 0);
    CHECK_STR_CONTAINS(build_error("leaky_relu", "alpha=0.1", shape1(4), E),
                       "leaky_relu: unknown argument 'alpha' (known: negative_slope)");
    CHECK(strcmp(build_error("conv2d", "kernel_size=3", img, E),
                 "conv2d: missing required argument 'filters'") == 0);
    CHECK(strcmp(build_error("conv2d", "filters=3", img, E),
                 "conv2d: missing required argument 'kernel_size'") == 0);
    CHECK(strcmp(build_error("dense", "", shape1(4), E),
                 "dense: missing required argument 'units'") == 0);
    CHECK(strcmp(build_error("dropout", "", shape1(4), E),
                 "dropout: missing required argument 'rate'") == 0);
    CHECK(strcmp(build_error("activation", "", shape1(4), E),
                 "activation: missing required argument 'activation'") == 0);
    CHECK(strcmp(build_error("maxout", "", shape1(4), E),
                 "maxout: missing required argument 'units'") == 0);
}

TEST(test_failed_argument_leaves_config_unchanged)
{
    tlayer t;
    char buf[128];
    CHECK_OK(tl_build(&t, "conv2d", "filters=4 kernel_size=3", shape3(8, 8, 1)));
    const uint64_t given = t.l.given;
    CHECK(fv__args_set(t.l.kind->args, t.l.cfg, "kernel_size", "5,x", &t.l.given) ==
          FV_ERR_INVALID);
    CHECK(fv__args_set(t.l.kind->args, t.l.cfg, "padding", "full", &t.l.given) == FV_ERR_INVALID);
    CHECK(t.l.given == given);
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "filters=4 kernel_size=3") == 0);
    CHECK_OK(t.l.kind->build(&t.l));
    CHECK(t.l.out.d[0] == 6);
    tl_free(&t);
}

/* ---- shapes and errors of build ----------------------------------------------------------- */

typedef struct chain_step {
    const char *kind, *args;
    int rank;
    int64_t out[3];
    int64_t params;
} chain_step;

/* Builds a Sequential chain from `in`, checking each output shape and parameter count. */
static int64_t check_chain(fv_shape in, const chain_step *steps, int nsteps)
{
    int64_t total = 0;
    for (int i = 0; i < nsteps; i++) {
        tlayer t;
        fv_status s = tl_build(&t, steps[i].kind, steps[i].args, in);
        CHECK_OK(s);
        if (s) {
            tl_free(&t);
            return -1;
        }
        int64_t p = 0;
        for (int j = 0; j < t.l.nparams; j++)
            p += t.l.params[j].size;
        CHECK(t.l.out.rank == steps[i].rank);
        for (int d = 0; d < steps[i].rank; d++)
            CHECK(t.l.out.d[d] == steps[i].out[d]);
        if (p != steps[i].params)
            fprintf(stderr, "  %s %s: %lld parameters, expected %lld\n", steps[i].kind,
                    steps[i].args, (long long)p, (long long)steps[i].params);
        CHECK(p == steps[i].params);
        total += p;
        in = t.l.out;
        tl_free(&t);
    }
    return total;
}

TEST(test_seed_model_shapes_and_parameter_counts)
{
    const chain_step seed[] = {
        {"conv2d", "filters=32 kernel_size=3 activation=relu", 3, {26, 26, 32}, 320},
        {"conv2d", "filters=64 kernel_size=3 activation=relu", 3, {24, 24, 64}, 18496},
        {"maxpool2d", "pool_size=2", 3, {12, 12, 64}, 0},
        {"dropout", "rate=0.25", 3, {12, 12, 64}, 0},
        {"flatten", "", 1, {9216}, 0},
        {"dense", "units=128 activation=relu", 1, {128}, 1179776},
        {"dropout", "rate=0.5", 1, {128}, 0},
        {"dense", "units=10 activation=softmax", 1, {10}, 1290},
    };
    CHECK(check_chain(shape3(28, 28, 1), seed, 8) == 320 + 18496 + 1179776 + 1290);

    /* keras-io's mnist_convnet: 34,826 parameters. */
    const chain_step keras[] = {
        {"conv2d", "filters=32 kernel_size=3,3 activation=relu", 3, {26, 26, 32}, 320},
        {"maxpool2d", "pool_size=2,2", 3, {13, 13, 32}, 0},
        {"conv2d", "filters=64 kernel_size=3,3 activation=relu", 3, {11, 11, 64}, 18496},
        {"maxpool2d", "pool_size=2,2", 3, {5, 5, 64}, 0},
        {"flatten", "", 1, {1600}, 0},
        {"dropout", "rate=0.5", 1, {1600}, 0},
        {"dense", "units=10 activation=softmax", 1, {10}, 16010},
    };
    CHECK(check_chain(shape3(28, 28, 1), keras, 7) == 34826);

    /* Other shapes: same padding keeps ceil(n/s); dilation; maxout; no bias. */
    const chain_step other[] = {
        {"conv2d", "filters=8 kernel_size=3 strides=2 padding=same", 3, {14, 14, 8}, 80},
        {"conv2d", "filters=6 kernel_size=3 dilation_rate=2", 3, {10, 10, 6}, 438},
        {"conv2d", "filters=6 kernel_size=5,3 strides=3,2 padding=same", 3, {4, 5, 6}, 546},
        {"maxpool2d", "pool_size=3 strides=2 padding=same", 3, {2, 3, 6}, 0},
        {"maxout", "units=3", 3, {2, 3, 3}, 0},
        {"relu", "", 3, {2, 3, 3}, 0},
        {"flatten", "", 1, {18}, 0},
        {"dense", "units=4 use_bias=false", 1, {4}, 72},
        {"maxout", "units=2", 1, {2}, 0},
        {"softmax", "", 1, {2}, 0},
    };
    CHECK(check_chain(shape3(28, 28, 1), other, 10) == 80 + 438 + 546 + 72);
}

TEST(test_parameter_layout_and_glorot_fans)
{
    tlayer t;
    CHECK_OK(tl_build(&t, "conv2d", "filters=64 kernel_size=3,2", shape3(24, 24, 32)));
    fv_param *k = &t.l.params[0], *b = &t.l.params[1];
    CHECK(strcmp(k->suffix, "kernel") == 0 && strcmp(b->suffix, "bias") == 0);
    CHECK(k->rank == 4 && k->dims[0] == 3 && k->dims[1] == 2 && k->dims[2] == 32 &&
          k->dims[3] == 64);
    CHECK(k->size == 3 * 2 * 32 * 64 && k->init == FV_INIT_GLOROT_UNIFORM);
    CHECK(k->fan_in == 3 * 2 * 32 && k->fan_out == 3 * 2 * 64);
    CHECK(b->rank == 1 && b->dims[0] == 64 && b->size == 64 && b->init == FV_INIT_ZEROS);
    CHECK(t.l.saved_per_sample == 0);
    tl_free(&t);

    CHECK_OK(tl_build(&t, "dense", "units=128", shape1(9216)));
    k = &t.l.params[0];
    CHECK(k->rank == 2 && k->dims[0] == 9216 && k->dims[1] == 128);
    CHECK(k->fan_in == 9216 && k->fan_out == 128);
    CHECK(t.l.nparams == 2 && t.l.params[1].size == 128);
    tl_free(&t);

    CHECK_OK(tl_build(&t, "dense", "units=10 use_bias=false", shape1(20)));
    CHECK(t.l.nparams == 1);
    tl_free(&t);

    CHECK_OK(tl_build(&t, "maxpool2d", "", shape3(24, 24, 64)));
    CHECK(t.l.nparams == 0 && t.l.saved_per_sample == 12 * 12 * 64 * sizeof(int32_t));
    tl_free(&t);
    CHECK_OK(tl_build(&t, "dropout", "rate=0.5", shape1(100)));
    CHECK(t.l.saved_per_sample == 100);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "dropout", "rate=0", shape1(100)));
    CHECK(t.l.saved_per_sample == 0);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "maxout", "units=4", shape1(12)));
    CHECK(t.l.saved_per_sample == 4 * sizeof(int32_t));
    tl_free(&t);
}

TEST(test_impossible_shapes_are_explained)
{
    const fv_status E = FV_ERR_SHAPE;
    CHECK(
        strcmp(build_error("conv2d", "filters=4 kernel_size=5 dilation_rate=2", shape3(8, 8, 1), E),
               "conv2d: kernel 5x5 (dilated to 9x9) does not fit input 8x8 with padding=valid: "
               "(8 - 9 + 0)/1 + 1 = 0") == 0);
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=5 strides=2", shape3(3, 8, 1), E),
                 "conv2d: kernel 5x5 does not fit input 3x8 with padding=valid: "
                 "(3 - 5 + 0)/2 + 1 = 0") == 0);
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=3,9", shape3(8, 8, 1), E),
                 "conv2d: kernel 3x9 does not fit input 8x8 with padding=valid: "
                 "(8 - 9 + 0)/1 + 1 = 0") == 0);
    CHECK(strcmp(build_error("maxpool2d", "pool_size=3", shape3(2, 2, 4), E),
                 "maxpool2d: pool 3x3 does not fit input 2x2 with padding=valid: "
                 "(2 - 3 + 0)/3 + 1 = 0") == 0);
    /* 'same' padding fits any input. */
    tlayer t;
    CHECK_OK(tl_build(&t, "conv2d", "filters=4 kernel_size=5 dilation_rate=2 padding=same",
                      shape3(2, 3, 1)));
    CHECK(t.l.out.d[0] == 2 && t.l.out.d[1] == 3);
    tl_free(&t);

    CHECK(strcmp(build_error("dense", "units=10", shape3(12, 12, 64), E),
                 "dense: input (None, 12, 12, 64) has rank 3; add a flatten layer before it") == 0);
    CHECK(strcmp(build_error("conv2d", "filters=4 kernel_size=3", shape1(784), E),
                 "conv2d: input (None, 784) has rank 1; conv2d needs images (None, height, "
                 "width, channels)") == 0);
    CHECK_STR_CONTAINS(build_error("maxpool2d", "", shape1(784), E),
                       "maxpool2d: input (None, 784) has rank 1");
    CHECK(strcmp(build_error("maxout", "units=3", shape3(4, 4, 10), E),
                 "maxout: input (None, 4, 4, 10) has 10 channels on its last axis, which do not "
                 "divide into units=3 groups") == 0);
    CHECK_STR_CONTAINS(build_error("maxout", "units=20", shape1(10), E),
                       "has 10 channels on its last axis, which do not divide into units=20");
}

/* ---- hand-worked forward values ----------------------------------------------------------- */

TEST(test_conv2d_3x3_on_4x4_by_hand)
{
    /* The kernel has five non-zero taps: w(0,0)=1, w(0,2)=2, w(1,1)=1, w(2,0)=-1, w(2,2)=1.
     * y(0,0) = 1·1 + 2·0 + 1·1 - 1·2 + 1·1 = 1     y(0,1) = 1·2 + 2·1 + 1·3 - 1·0 + 1·2 = 9
     * y(1,0) = 1·0 + 2·3 + 1·0 - 1·1 + 1·0 = 5     y(1,1) = 1·1 + 2·1 + 1·1 - 1·1 + 1·3 = 6 */
    const float x[16] = {1, 2, 0, 1, 0, 1, 3, 1, 2, 0, 1, 2, 1, 1, 0, 3};
    const float w[9] = {1, 0, 2, 0, 1, 0, -1, 0, 1};
    tlayer t;
    float y[4];
    if (!tl_make(&t, "conv2d", "filters=1 kernel_size=3", shape3(4, 4, 1), 1)) goto done;
    memcpy(t.l.params[0].w, w, sizeof w);
    t.l.params[1].w[0] = 0.0f;
    tl_forward(&t, 1, x, y, false, 0, 1);
    const float want[4] = {1, 9, 5, 6};
    check_arrays("linear", y, want, 4, 0, 0);
    tl_free(&t);

    /* Bias −2 then ReLU, fused. */
    if (!tl_make(&t, "conv2d", "filters=1 kernel_size=3 activation=relu", shape3(4, 4, 1), 1))
        goto done;
    memcpy(t.l.params[0].w, w, sizeof w);
    t.l.params[1].w[0] = -2.0f;
    tl_forward(&t, 1, x, y, false, 0, 1);
    const float want_relu[4] = {0, 7, 3, 4};
    check_arrays("relu", y, want_relu, 4, 0, 0);
done:
    tl_free(&t);
}

TEST(test_conv2d_same_padding_is_asymmetric)
{
    /* 4x4, kernel 3, stride 2, same: out 2x2, total padding 1: none at the top/left, one row
     * and column at the bottom/right (TensorFlow/Keras). Symmetric padding would give 14 first. */
    float x[16], y[4];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    tlayer t;
    if (!tl_make(&t, "conv2d", "filters=1 kernel_size=3 strides=2 padding=same use_bias=false",
                 shape3(4, 4, 1), 1))
        goto done;
    CHECK(t.l.out.d[0] == 2 && t.l.out.d[1] == 2);
    for (int i = 0; i < 9; i++)
        t.l.params[0].w[i] = 1.0f;
    tl_forward(&t, 1, x, y, false, 0, 1);
    const float want[4] = {54, 45, 72, 54};
    check_arrays("same", y, want, 4, 0, 0);
done:
    tl_free(&t);
}

TEST(test_conv2d_kernel_layout_is_kh_kw_in_out)
{
    /* 1x1 kernel, 2 inputs, 2 filters: y[f] = Σ_c x[c]·w[c][f] + b[f]. */
    const float x[4] = {1, 2, -1, 3}; /* two pixels */
    const float w[4] = {1, 2, 3, 4};  /* (1, 1, in=2, out=2) */
    float y[4];
    tlayer t;
    if (!tl_make(&t, "conv2d", "filters=2 kernel_size=1", shape3(1, 2, 2), 1)) goto done;
    memcpy(t.l.params[0].w, w, sizeof w);
    t.l.params[1].w[0] = 0.5f, t.l.params[1].w[1] = -0.5f;
    tl_forward(&t, 1, x, y, false, 0, 1);
    const float want[4] = {1 + 6 + 0.5f, 2 + 8 - 0.5f, -1 + 9 + 0.5f, -2 + 12 - 0.5f};
    check_arrays("1x1", y, want, 4, 0, 0);
done:
    tl_free(&t);
}

TEST(test_maxpool_by_hand)
{
    const float x[16] = {1, 3, 2, 0, 4, 2, 1, 5, 0, 1, 7, 6, 2, 8, 3, 1};
    float y[4], dy[4] = {1, 2, 3, 4}, dx[16];
    tlayer t;
    if (!tl_make(&t, "maxpool2d", "", shape3(4, 4, 1), 1)) goto done;
    tl_forward(&t, 1, x, y, true, 0, 1);
    const float want[4] = {4, 5, 8, 7};
    check_arrays("pool", y, want, 4, 0, 0);
    for (int i = 0; i < 16; i++)
        dx[i] = NAN;
    tl_backward(&t, 1, x, y, dy, dx, true, 0, 1);
    const float want_dx[16] = {0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 4, 0, 0, 3, 0, 0};
    check_arrays("scatter", dx, want_dx, 16, 0, 0);
    tl_free(&t);

    /* Same padding on 5x5 of negative values: the padding never wins (-25, not 0). */
    float xn[25], yn[9];
    for (int i = 0; i < 25; i++)
        xn[i] = -(float)(i + 1);
    if (!tl_make(&t, "maxpool2d", "padding=same", shape3(5, 5, 1), 1)) goto done;
    CHECK(t.l.out.d[0] == 3 && t.l.out.d[1] == 3);
    tl_forward(&t, 1, xn, yn, false, 0, 1);
    const float want_same[9] = {-1, -3, -5, -11, -13, -15, -21, -23, -25};
    check_arrays("same", yn, want_same, 9, 0, 0);
    tl_free(&t);

    /* Inference without saved state (the model may plan none): the scratch takes the argmax. */
    if (!tl_make(&t, "maxpool2d", "", shape3(4, 4, 1), 1)) goto done;
    t.l.saved = NULL;
    tl_forward(&t, 1, x, y, false, 0, 2);
    check_arrays("no saved", y, want, 4, 0, 0);
done:
    tl_free(&t);
}

TEST(test_dense_by_hand)
{
    /* W (in=2, units=3); two samples. */
    const float x[4] = {1, -1, 2, 1};
    const float w[6] = {1, 2, 3, 4, 5, 6}, b[3] = {0.5f, -1, 0};
    float y[6], dy[6] = {1, 0, 0, 0, 1, 0}, dx[4];
    tlayer t;
    if (!tl_make(&t, "dense", "units=3", shape1(2), 2)) goto done;
    memcpy(t.l.params[0].w, w, sizeof w);
    memcpy(t.l.params[1].w, b, sizeof b);
    tl_forward(&t, 2, x, y, false, 0, 2);
    const float want[6] = {-2.5f, -4, -3, 6.5f, 8, 12};
    check_arrays("y", y, want, 6, 0, 0);
    tl_backward(&t, 2, x, y, dy, dx, false, 0, 2);
    const float want_dw[6] = {1, 2, 0, -1, 1, 0}, want_db[3] = {1, 1, 0};
    const float want_dx[4] = {1, 4, 2, 5};
    check_arrays("dW", t.l.params[0].g, want_dw, 6, 0, 0);
    check_arrays("db", t.l.params[1].g, want_db, 3, 0, 0);
    check_arrays("dx", dx, want_dx, 4, 0, 0);
done:
    tl_free(&t);
}

/* Runs kind(args) forward on n values of rank 1 and compares with want. */
static void check_act(const char *kind, const char *args, const float *x, const float *want, int n)
{
    tlayer t;
    float y[16];
    if (tl_make(&t, kind, args, shape1(n), 1)) {
        tl_forward(&t, 1, x, y, false, 0, 1);
        if (!check_arrays(kind, y, want, out_size(&t), 1e-6, 1e-6))
            fprintf(stderr, "  (%s)\n", args);
    }
    tl_free(&t);
}

TEST(test_activations_at_a_few_points)
{
    const float x3[3] = {-1, 0, 2};
    check_act("relu", "", x3, (const float[]){0, 0, 2}, 3);
    check_act("activation", "activation=relu", x3, (const float[]){0, 0, 2}, 3);
    check_act("activation", "activation=linear", x3, x3, 3);
    check_act("sigmoid", "", (const float[]){0, 2, -2},
              (const float[]){0.5f, 0.880797078f, 0.119202922f}, 3);
    check_act("tanh", "", (const float[]){1, -0.5f, 0},
              (const float[]){0.761594156f, -0.462117157f, 0}, 3);
    /* LeakyReLU the layer: 0.3; leaky_relu the function (activation=): 0.2, as Keras. */
    check_act("leaky_relu", "", (const float[]){-2, 3}, (const float[]){-0.6f, 3}, 2);
    check_act("leaky_relu", "negative_slope=0.1", (const float[]){-2, 3}, (const float[]){-0.2f, 3},
              2);
    check_act("activation", "activation=leaky_relu", (const float[]){-2, 3},
              (const float[]){-0.4f, 3}, 2);
    check_act("elu", "", (const float[]){-1, 2}, (const float[]){-0.632120559f, 2}, 2);
    check_act("elu", "alpha=0.5", (const float[]){-1, 2}, (const float[]){-0.316060279f, 2}, 2);
    check_act("activation", "activation=elu", (const float[]){-1}, (const float[]){-0.632120559f},
              1);
    check_act("softmax", "", (const float[]){1, 2, 3},
              (const float[]){0.0900305732f, 0.244728471f, 0.665240956f}, 3);
    check_act("maxout", "units=2", (const float[]){1, 5, 2, 3, 0, 4}, (const float[]){5, 4}, 6);

    /* As dense's activation argument, leaky_relu is also 0.2: identity weights. */
    tlayer t;
    float y[2];
    if (tl_make(&t, "dense", "units=2 activation=leaky_relu use_bias=false", shape1(2), 1)) {
        const float w[4] = {1, 0, 0, 1};
        memcpy(t.l.params[0].w, w, sizeof w);
        tl_forward(&t, 1, (const float[]){-2, 3}, y, false, 0, 1);
        check_arrays("dense leaky", y, (const float[]){-0.4f, 3}, 2, 1e-7, 0);
    }
    tl_free(&t);

    /* Softmax over the last axis only: each pixel of (1, 2, 3) separately. */
    float ys[6];
    if (tl_make(&t, "softmax", "", shape3(1, 2, 3), 1)) {
        tl_forward(&t, 1, (const float[]){1, 2, 3, 0, 0, 0}, ys, false, 0, 1);
        const float want[6] = {0.0900305732f, 0.244728471f, 0.665240956f,
                               1 / 3.f,       1 / 3.f,      1 / 3.f};
        check_arrays("softmax rows", ys, want, 6, 1e-6, 1e-6);
    }
    tl_free(&t);
}

TEST(test_maxout_rank3_by_hand)
{
    const float x[6] = {1, 5, 2, 3, 0, 4};
    float y[3], dy[3] = {1, 2, 3}, dx[6];
    tlayer t;
    if (!tl_make(&t, "maxout", "units=3", shape3(1, 1, 6), 1)) goto done;
    CHECK(t.l.out.rank == 3 && t.l.out.d[2] == 3);
    tl_forward(&t, 1, x, y, true, 0, 1);
    check_arrays("y", y, (const float[]){5, 3, 4}, 3, 0, 0);
    for (int i = 0; i < 6; i++)
        dx[i] = NAN;
    tl_backward(&t, 1, x, y, dy, dx, true, 0, 1);
    check_arrays("dx", dx, (const float[]){0, 1, 0, 2, 0, 3}, 6, 0, 0);
done:
    tl_free(&t);
}

TEST(test_dropout_masks_and_scales)
{
    enum { N = 4, SIZE = 2500 };
    float *x = floats(N * SIZE), *y = floats(N * SIZE), *y2 = floats(N * SIZE);
    float *dy = floats(N * SIZE), *dx = floats(N * SIZE);
    for (int i = 0; i < N * SIZE; i++)
        x[i] = 1.0f + (float)(i % 7), dy[i] = 1.0f;
    tlayer t;
    if (!tl_make(&t, "dropout", "rate=0.4", shape1(SIZE), N)) goto done;

    /* Inference: the identity, bit for bit. */
    tl_forward(&t, N, x, y, false, 5, 2);
    CHECK(memcmp(x, y, sizeof(float) * N * SIZE) == 0);

    /* Training: about 60% kept, each scaled by 1/(1 - 0.4); the rest zero. */
    tl_forward(&t, N, x, y, true, 5, 2);
    const float scale = (float)(1.0 / 0.6);
    int kept = 0, wrong = 0;
    for (int i = 0; i < N * SIZE; i++) {
        if (y[i] != 0.0f) {
            kept++;
            wrong += y[i] != x[i] * scale;
        }
    }
    CHECK(wrong == 0);
    CHECK(fabs(kept / (double)(N * SIZE) - 0.6) < 0.02);
    /* The same stream gives the same mask whatever the threads; another gives another. */
    tl_forward(&t, N, x, y2, true, 5, 1);
    CHECK(memcmp(y, y2, sizeof(float) * N * SIZE) == 0);
    tl_forward(&t, N, x, y2, true, 6, 2);
    CHECK(memcmp(y, y2, sizeof(float) * N * SIZE) != 0);
    /* Samples get different masks. */
    int differ = 0;
    for (int i = 0; i < SIZE; i++)
        differ += (y[i] == 0.0f) != (y[SIZE + i] == 0.0f);
    CHECK(differ > SIZE / 4);
    /* Backward passes gradients where the (last) mask kept values. */
    tl_forward(&t, N, x, y, true, 5, 2);
    tl_backward(&t, N, x, y, dy, dx, true, 5, 2);
    wrong = 0;
    for (int i = 0; i < N * SIZE; i++)
        wrong += dx[i] != (y[i] != 0.0f ? scale : 0.0f);
    CHECK(wrong == 0);
    tl_free(&t);

    /* rate=0: the identity in training too. */
    if (!tl_make(&t, "dropout", "rate=0", shape1(SIZE), N)) goto done;
    tl_forward(&t, N, x, y, true, 5, 2);
    CHECK(memcmp(x, y, sizeof(float) * N * SIZE) == 0);
done:
    tl_free(&t);
    free(x), free(y), free(y2), free(dy), free(dx);
}

TEST(test_gaussian_noise_adds_noise_in_training_only)
{
    enum { N = 4, SIZE = 2500 };
    float *x = floats(N * SIZE), *y = floats(N * SIZE), *y2 = floats(N * SIZE);
    float *dy = floats(N * SIZE), *dx = floats(N * SIZE);
    for (int i = 0; i < N * SIZE; i++)
        x[i] = 0.25f * (float)(i % 5), dy[i] = 0.5f + (float)(i % 3);
    tlayer t;
    if (!tl_make(&t, "gaussian_noise", "stddev=0.2", shape1(SIZE), N)) goto done;

    /* Inference: the identity, bit for bit, and so is backward. */
    tl_forward(&t, N, x, y, false, 5, 2);
    CHECK(memcmp(x, y, sizeof(float) * N * SIZE) == 0);
    tl_backward(&t, N, x, y, dy, dx, false, 5, 2);
    CHECK(memcmp(dx, dy, sizeof(float) * N * SIZE) == 0);

    /* Training: y - x has mean 0 and standard deviation 0.2 (10,000 draws: the mean's standard
     * error is 0.002, the deviation's about 0.0014). */
    tl_forward(&t, N, x, y, true, 5, 2);
    double sum = 0, sq = 0;
    for (int i = 0; i < N * SIZE; i++) {
        const double e = (double)y[i] - (double)x[i];
        sum += e, sq += e * e;
    }
    const double mean = sum / (N * SIZE), sd = sqrt(sq / (N * SIZE) - mean * mean);
    CHECK(fabs(mean) < 0.01);
    CHECK(fabs(sd - 0.2) < 0.01);
    /* The same stream gives the same noise whatever the threads; another gives another; the
     * samples of a batch get different noise. */
    tl_forward(&t, N, x, y2, true, 5, 1);
    CHECK(memcmp(y, y2, sizeof(float) * N * SIZE) == 0);
    tl_forward(&t, N, x, y2, true, 6, 2);
    CHECK(memcmp(y, y2, sizeof(float) * N * SIZE) != 0);
    CHECK(y[0] - x[0] != y[SIZE] - x[SIZE]);
    /* Backward is the identity in training too (the noise does not depend on x). */
    tl_backward(&t, N, x, y, dy, dx, true, 5, 2);
    CHECK(memcmp(dx, dy, sizeof(float) * N * SIZE) == 0);
done:
    tl_free(&t);
    free(x), free(y), free(y2), free(dy), free(dx);
}

TEST(test_flatten_keeps_hwc_order)
{
    float x[12], y[12], dx[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    tlayer t;
    if (!tl_make(&t, "flatten", "", shape3(2, 3, 2), 1)) goto done;
    CHECK(t.l.out.rank == 1 && t.l.out.d[0] == 12);
    tl_forward(&t, 1, x, y, false, 0, 1);
    CHECK(memcmp(x, y, sizeof x) == 0);
    tl_backward(&t, 1, x, y, y, dx, false, 0, 1);
    CHECK(memcmp(x, dx, sizeof x) == 0);
done:
    tl_free(&t);
}

/* ---- fused activations and determinism ---------------------------------------------------- */

/* With fused_act, backward skips the output activation: the same gradients as the layer with a
 * linear activation, given the same dy. */
static void check_fused(const char *kind, const char *args, const char *linear_kind,
                        const char *linear_args, fv_shape in)
{
    enum { N = 3 };
    tlayer a, b;
    if (!tl_make(&a, kind, args, in, N) || !tl_make(&b, linear_kind, linear_args, in, N)) {
        tl_free(&a);
        tl_free(&b);
        return;
    }
    a.l.fused_act = true;
    const int64_t nx = N * in_size(&a), ny = N * out_size(&a);
    float *x = floats(nx), *y = floats(ny), *dy = floats(ny), *dya = floats(ny);
    float *dxa = floats(nx), *dxb = floats(nx);
    fv_rng rng;
    fv__rng_seed(&rng, 9);
    for (int64_t i = 0; i < a.nw; i++)
        a.w[i] = b.w[i] = fv__rng_uniform(&rng) - 0.5f;
    for (int64_t i = 0; i < nx; i++)
        x[i] = fv__rng_uniform(&rng) - 0.5f;
    for (int64_t i = 0; i < ny; i++)
        dy[i] = fv__rng_uniform(&rng) - 0.5f;
    tl_forward(&a, N, x, y, true, 0, 2);
    memcpy(dya, dy, (size_t)ny * sizeof(float));
    tl_backward(&a, N, x, y, dya, dxa, true, 0, 2);
    tl_backward(&b, N, x, y, dy, dxb, true, 0, 2);
    check_arrays("fused dx", dxa, dxb, nx, 0, 0);
    check_arrays("fused grads", a.g, b.g, a.nw, 0, 0);
    free(x), free(y), free(dy), free(dya), free(dxa), free(dxb);
    tl_free(&a);
    tl_free(&b);
}

TEST(test_fused_activation_is_skipped_in_backward)
{
    check_fused("dense", "units=4 activation=softmax", "dense", "units=4", shape1(5));
    check_fused("dense", "units=1 activation=sigmoid", "dense", "units=1", shape1(5));
    check_fused("conv2d", "filters=3 kernel_size=3 activation=softmax", "conv2d",
                "filters=3 kernel_size=3", shape3(4, 4, 2));
    check_fused("softmax", "", "activation", "activation=linear", shape1(5));
    check_fused("sigmoid", "", "activation", "activation=linear", shape3(2, 2, 3));
    check_fused("activation", "activation=softmax", "activation", "activation=linear", shape1(5));
}

/* ---- the layers' fast paths against plain references at real sizes ---------------------- */

/* Every GEMM path this machine has (fv_gemm forced onto it), with the fast convolution on the
 * same path where it has one (else its best): the layers' code runs on each. */
static int force_path(int p)
{
    if (!fv__gemm_path_supported((fv__gemm_path)p)) return 0;
    fv__gemm_force_path(p);
    fv__conv_force_path(fv__conv_path_supported((fv__gemm_path)p) ? p : -1);
    return 1;
}

static void unforce_paths(void)
{
    fv__gemm_force_path(-1);
    fv__conv_force_path(-1);
}

/* Dense with `units` units on `in` inputs, batch n, two threads, on every path: y = x·W + b,
 * dW = xᵀ·dy, db = Σ dy, dx = dy·Wᵀ, the references summed in double in the test. The layer
 * works in blocks of 64 units (forward) and 256 inputs (backward): the sizes straddle them. */
static void dense_against_reference(int64_t in, int64_t units, int64_t n)
{
    char args[64];
    snprintf(args, sizeof args, "units=%lld", (long long)units);
    tlayer t;
    if (!tl_make(&t, "dense", args, shape1(in), n)) {
        tl_free(&t);
        return;
    }
    float *x = floats(n * in), *dy = floats(n * units), *y = floats(n * units),
          *dx = floats(n * in);
    float *yr = floats(n * units), *dxr = floats(n * in), *dwr = floats(in * units),
          *dbr = floats(units);
    fv_rng rng;
    fv__rng_seed(&rng, (uint64_t)(in * 1000 + units * 10 + n));
    for (int64_t i = 0; i < t.nw; i++)
        t.w[i] = 2.0f * fv__rng_uniform(&rng) - 1.0f;
    for (int64_t i = 0; i < n * in; i++)
        x[i] = 2.0f * fv__rng_uniform(&rng) - 1.0f;
    for (int64_t i = 0; i < n * units; i++)
        dy[i] = 2.0f * fv__rng_uniform(&rng) - 1.0f;
    const float *W = t.l.params[0].w, *b = t.l.params[1].w;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < units; j++) {
            double sum = b[j];
            for (int64_t k = 0; k < in; k++)
                sum += (double)x[i * in + k] * W[k * units + j];
            yr[i * units + j] = (float)sum;
        }
    for (int64_t k = 0; k < in; k++) {
        for (int64_t j = 0; j < units; j++) {
            double sum = 0;
            for (int64_t i = 0; i < n; i++)
                sum += (double)x[i * in + k] * dy[i * units + j];
            dwr[k * units + j] = (float)sum;
        }
        for (int64_t i = 0; i < n; i++) {
            double sum = 0;
            for (int64_t j = 0; j < units; j++)
                sum += (double)dy[i * units + j] * W[k * units + j];
            dxr[i * in + k] = (float)sum;
        }
    }
    for (int64_t j = 0; j < units; j++) {
        double sum = 0;
        for (int64_t i = 0; i < n; i++)
            sum += dy[i * units + j];
        dbr[j] = (float)sum;
    }
    /* Float sums of `in` (forward), n (dW, db) and `units` (dx) terms of size <= 1. */
    const double tol_y = 2e-6 * (double)in, tol_w = 2e-6 * (double)n, tol_x = 2e-6 * (double)units;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!force_path(p)) continue;
        memset(t.g, 0, (size_t)t.nw * sizeof(float));
        tl_forward(&t, n, x, y, true, 1, 2);
        tl_backward(&t, n, x, y, dy, dx, true, 1, 2);
        bool ok = check_arrays("y", y, yr, (long)(n * units), tol_y, 1e-5);
        ok &= check_arrays("dx", dx, dxr, (long)(n * in), tol_x, 1e-5);
        ok &=
            check_arrays("kernel gradient", t.l.params[0].g, dwr, (long)(in * units), tol_w, 1e-5);
        ok &= check_arrays("bias gradient", t.l.params[1].g, dbr, (long)units, tol_w, 1e-5);
        if (!ok)
            fprintf(stderr, "  dense %lld -> %lld, batch %lld, path %s\n", (long long)in,
                    (long long)units, (long long)n, fv__gemm_path_name((fv__gemm_path)p));
    }
    unforce_paths();
    free(x), free(dy), free(y), free(dx), free(yr), free(dxr), free(dwr), free(dbr);
    tl_free(&t);
}

TEST(test_dense_matches_reference_at_seed_and_block_sizes)
{
    dense_against_reference(9216, 128, 3); /* the seed CNN's dense layer */
    dense_against_reference(9216, 128, 130);
    static const int64_t units[] = {63, 64, 65, 129}, ins[] = {255, 256, 257, 513};
    for (int u = 0; u < 4; u++)
        for (int i = 0; i < 4; i++)
            dense_against_reference(ins[i], units[u], 5 + u);
}

/* Conv2d(args) on n images of h×w×c, two threads, on every path, against the kernels' plain
 * references fv_conv2d_forward_ref and fv_conv2d_backward_ref (the ReLU and its mask applied
 * here when relu is set). */
static void conv_against_reference(int64_t h, int64_t w, int64_t c, int64_t filters, bool relu,
                                   int64_t n)
{
    char args[96];
    snprintf(args, sizeof args, "filters=%lld kernel_size=3%s", (long long)filters,
             relu ? " activation=relu" : "");
    tlayer t;
    if (!tl_make(&t, "conv2d", args, shape3(h, w, c), n)) {
        tl_free(&t);
        return;
    }
    const fv_conv_geom g = {.in_h = h,
                            .in_w = w,
                            .in_c = c,
                            .k_h = 3,
                            .k_w = 3,
                            .out_h = h - 2,
                            .out_w = w - 2,
                            .out_c = filters,
                            .stride_h = 1,
                            .stride_w = 1,
                            .dil_h = 1,
                            .dil_w = 1};
    const int64_t nin = h * w * c, nout = g.out_h * g.out_w * filters;
    float *x = floats(n * nin), *dy = floats(n * nout), *dz = floats(n * nout),
          *y = floats(n * nout), *dx = floats(n * nin);
    float *yr = floats(n * nout), *dxr = floats(n * nin), *dwr = floats(t.l.params[0].size),
          *dbr = floats(filters);
    fv_rng rng;
    fv__rng_seed(&rng, (uint64_t)(c * 100 + filters));
    for (int64_t i = 0; i < t.nw; i++)
        t.w[i] = fv__rng_uniform(&rng) - 0.5f;
    for (int64_t i = 0; i < n * nin; i++)
        x[i] = fv__rng_uniform(&rng);
    for (int64_t i = 0; i < n * nout; i++)
        dy[i] = 2.0f * fv__rng_uniform(&rng) - 1.0f;
    for (int64_t i = 0; i < n; i++) {
        fv_conv2d_forward_ref(&g, x + i * nin, t.l.params[0].w, t.l.params[1].w, yr + i * nout);
        for (int64_t j = 0; j < nout; j++) {
            if (relu && !(yr[i * nout + j] > 0)) yr[i * nout + j] = 0;
            dz[i * nout + j] = relu && !(yr[i * nout + j] > 0) ? 0 : dy[i * nout + j];
        }
        fv_conv2d_backward_ref(&g, x + i * nin, t.l.params[0].w, dz + i * nout, dwr, dbr,
                               dxr + i * nin);
    }
    const double tol = 2e-6 * (double)(9 * c > filters ? 9 * c : filters) * (double)n;
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!force_path(p)) continue;
        memset(t.g, 0, (size_t)t.nw * sizeof(float));
        tl_forward(&t, n, x, y, true, 1, 2);
        tl_backward(&t, n, x, y, dy, dx, true, 1, 2);
        bool ok = check_arrays("y", y, yr, (long)(n * nout), tol, 1e-5);
        ok &= check_arrays("dx", dx, dxr, (long)(n * nin), tol, 1e-5);
        ok &= check_arrays("kernel gradient", t.l.params[0].g, dwr, (long)t.l.params[0].size,
                           tol * 20, 1e-4);
        ok &= check_arrays("bias gradient", t.l.params[1].g, dbr, (long)filters, tol * 20, 1e-4);
        if (!ok)
            fprintf(stderr, "  conv2d %s on %lldx%lldx%lld, batch %lld, path %s\n", args,
                    (long long)h, (long long)w, (long long)c, (long long)n,
                    fv__gemm_path_name((fv__gemm_path)p));
    }
    unforce_paths();
    free(x), free(dy), free(dz), free(y), free(dx), free(yr), free(dxr), free(dwr), free(dbr);
    tl_free(&t);
}

TEST(test_conv2d_matches_reference_at_seed_sizes)
{
    conv_against_reference(28, 28, 1, 32, true, 3); /* the seed CNN's two convolutions */
    conv_against_reference(26, 26, 32, 64, true, 3);
    conv_against_reference(12, 11, 33, 65, false, 2); /* one more than a panel of 16 filters */
}

/* Forward output and all gradients of kind(args) on n samples with the given threads. */
static void run_with_threads(const char *kind, const char *args, fv_shape in, int64_t n,
                             int threads, float **out)
{
    tlayer t;
    *out = NULL;
    if (!tl_make(&t, kind, args, in, n)) {
        tl_free(&t);
        return;
    }
    fv__free(t.scratch);
    t.scratch = fv__calloc(t.l.kind->scratch_bytes ? t.l.kind->scratch_bytes(&t.l, n, threads) : 0,
                           "scratch");
    const int64_t nx = n * in_size(&t), ny = n * out_size(&t);
    float *buf = floats(ny + nx + t.nw), *x = floats(nx), *dy = floats(ny);
    fv_rng rng;
    fv__rng_seed(&rng, 4242);
    for (int64_t i = 0; i < t.nw; i++)
        t.w[i] = fv__rng_uniform(&rng) - 0.5f;
    for (int64_t i = 0; i < nx; i++)
        x[i] = fv__rng_uniform(&rng) - 0.5f;
    for (int64_t i = 0; i < ny; i++)
        dy[i] = fv__rng_uniform(&rng) - 0.5f;
    tl_forward(&t, n, x, buf, true, 1, threads);
    tl_backward(&t, n, x, buf, dy, buf + ny, true, 1, threads);
    memcpy(buf + ny + nx, t.g, (size_t)t.nw * sizeof(float));
    *out = buf;
    free(x), free(dy);
    tl_free(&t);
}

static void check_thread_independence(const char *kind, const char *args, fv_shape in, int64_t n)
{
    tlayer t;
    CHECK_OK(tl_build(&t, kind, args, in));
    const int64_t total = n * (in_size(&t) + out_size(&t));
    int64_t nw = 0;
    for (int i = 0; i < t.l.nparams; i++)
        nw += t.l.params[i].size;
    tl_free(&t);
    float *one, *two, *three;
    run_with_threads(kind, args, in, n, 1, &one);
    run_with_threads(kind, args, in, n, 2, &two);
    run_with_threads(kind, args, in, n, 3, &three);
    if (one && two && three) {
        bool same2 = memcmp(one, two, (size_t)(total + nw) * sizeof(float)) == 0;
        bool same3 = memcmp(one, three, (size_t)(total + nw) * sizeof(float)) == 0;
        if (!same2 || !same3) fprintf(stderr, "  %s %s n=%lld differs\n", kind, args, (long long)n);
        CHECK(same2 && same3);
    }
    free(one), free(two), free(three);
}

/* Weights, inputs and an output gradient drawn from seed (uniform in ±0.5; dy nonzero with
 * probability keep), then one forward and backward of t on n samples. Returns a buffer of
 * [y | dx | grads | x | weights | dy]. */
static float *fill_and_run(tlayer *t, int64_t n, uint64_t seed, float keep, int threads)
{
    const int64_t nx = n * in_size(t), ny = n * out_size(t), total = ny + nx + t->nw;
    float *buf = floats(total + nx + t->nw + ny), *x = buf + total, *w = x + nx, *dy = w + t->nw;
    fv_rng rng;
    fv__rng_seed(&rng, seed);
    for (int64_t i = 0; i < t->nw; i++)
        w[i] = t->w[i] = fv__rng_uniform(&rng) - 0.5f;
    for (int64_t i = 0; i < nx; i++)
        x[i] = fv__rng_uniform(&rng) - 0.5f;
    for (int64_t i = 0; i < ny; i++)
        dy[i] = fv__rng_uniform(&rng) < keep ? fv__rng_uniform(&rng) - 0.5f : 0.0f;
    tl_forward(t, n, x, buf, true, 1, threads);
    tl_backward(t, n, x, buf, dy, buf + ny, true, 1, threads);
    memcpy(buf + ny + nx, t->g, (size_t)t->nw * sizeof(float));
    return buf;
}

/* conv2d's backward with an output gradient that is mostly exactly zero (as behind ReLU +
 * max-pool): the layer takes the sparse path; its gradients must match the reference kernels
 * and not depend on the thread count. */
static void sparse_conv_case(const char *args, fv_shape in, int64_t n, int threads, float **out)
{
    tlayer t;
    *out = NULL;
    if (!tl_make(&t, "conv2d", args, in, n)) {
        tl_free(&t);
        return;
    }
    fv__free(t.scratch);
    t.scratch = fv__calloc(t.l.kind->scratch_bytes(&t.l, n, threads), "scratch");
    *out = fill_and_run(&t, n, 99, 0.2f, threads);
    tl_free(&t);
}

TEST(test_flops_count_the_dense_multiply_adds)
{
    /* The profile's FLOPs: 2 per multiply-add; backward the weights, plus the input when its
     * gradient is wanted; none for kinds without arithmetic worth counting. */
    tlayer t;
    CHECK_OK(tl_build(&t, "conv2d", "filters=64 kernel_size=3", shape3(26, 26, 32)));
    const double conv = 2.0 * 24 * 24 * (3 * 3 * 32) * 64;
    CHECK(fv__layer_flops(&t.l, false, false) == conv);
    CHECK(fv__layer_flops(&t.l, true, false) == conv);
    CHECK(fv__layer_flops(&t.l, true, true) == 2 * conv);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "dense", "units=128", shape1(9216)));
    CHECK(fv__layer_flops(&t.l, false, false) == 2.0 * 9216 * 128);
    CHECK(fv__layer_flops(&t.l, true, true) == 4.0 * 9216 * 128);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "maxpool2d", "", shape3(24, 24, 64)));
    CHECK(fv__layer_flops(&t.l, false, false) == 0.0);
    tl_free(&t);
}

/* v[0..n) ← uniform in ±0.5 from r. */
static void fill_centered(fv_rng *r, float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = fv__rng_uniform(r) - 0.5f;
}

/* conv2d's backward (at precision=bf16 with bf16) on n images, every value of ∂L/∂y nonzero
 * (sparse == 0) or only those of the pixels p with p % 4 == 1 (sparse == 1; pixel 0, 8, ... zero,
 * so the layer's sampling sees a mostly zero gradient), or alternating by image (sparse == 2:
 * odd images sparse). Returns the FLOPs the layer says it performed (l->exec_bwd_flop). */
static double conv_work(const char *args, fv_shape in, int64_t n, int sparse, bool input_grad,
                        int threads, bool bf16)
{
    tlayer t;
    double work = -1.0;
    if (!tl_make(&t, "conv2d", args, in, n)) goto done;
    fv__free(t.scratch);
    t.l.bf16 = bf16;
    t.scratch = fv__calloc(t.l.kind->scratch_bytes(&t.l, n, 2), "scratch");
    const int64_t nx = n * in_size(&t), ny = n * out_size(&t), F = t.l.out.d[2];
    float *x = floats(nx), *dx = floats(nx), *y = floats(ny), *dy = floats(ny);
    fv_rng rng;
    fv__rng_seed(&rng, 5);
    fill_centered(&rng, t.w, t.nw);
    fill_centered(&rng, x, nx);
    for (int64_t i = 0; i < ny; i++) {
        const int64_t image = i / out_size(&t), p = (i % out_size(&t)) / F;
        const bool zero = (sparse == 1 || (sparse == 2 && image % 2 == 1)) && p % 4 != 1;
        dy[i] = zero ? 0.0f : 0.25f + 0.25f * fv__rng_uniform(&rng); /* never exactly zero */
    }
    tl_forward(&t, n, x, y, true, 1, threads);
    tl_backward(&t, n, x, y, dy, input_grad ? dx : NULL, true, 1, threads);
    work = t.l.exec_bwd_flop;
    free(x), free(dx), free(y), free(dy);
done:
    tl_free(&t);
    return work;
}

TEST(test_conv2d_reports_the_multiply_adds_it_performed)
{
    /* Hand-counted: K = 3·3·8 = 72 taps, F = 16 filters, 4 images; 2 FLOPs per multiply-add. */
    const double K = 72, F = 16;
    for (int threads = 1; threads <= 2; threads++) {
        /* valid, 8×8 → 6×6 (P = 36, at most 256 pixels: the weight gradient by GEMM, P·K·F), the
         * input gradient as a forward convolution over the padded gradient: 8·8 pixels × K × F,
         * more than the dense P·K·F. */
        const fv_shape in8 = shape3(8, 8, 8);
        CHECK(conv_work("filters=16 kernel_size=3", in8, 4, 0, true, threads, false) ==
              4 * 2 * (36 * K * F + 64 * K * F));
        /* no input gradient (a first layer): the weights' P·K·F only */
        CHECK(conv_work("filters=16 kernel_size=3", in8, 4, 0, false, threads, false) ==
              4 * 2 * 36 * K * F);
        /* 9 of the 36 pixels nonzero: 9·16 = 144 nonzeros of ∂L/∂z, K each for the weight and
         * for the input gradient */
        CHECK(conv_work("filters=16 kernel_size=3", in8, 4, 1, true, threads, false) ==
              4 * 2 * (144 * K + 144 * K));
        /* two images of each */
        CHECK(conv_work("filters=16 kernel_size=3", in8, 4, 2, true, threads, false) ==
              2 * 2 * (36 * K * F + 64 * K * F) + 2 * 2 * (144 * K + 144 * K));
        /* padding=same: P = 64 both ways, so the dense path is the dense count exactly */
        tlayer t;
        CHECK_OK(tl_build(&t, "conv2d", "filters=16 kernel_size=3 padding=same", in8));
        CHECK(conv_work("filters=16 kernel_size=3 padding=same", in8, 4, 0, true, threads, false) ==
              4 * fv__layer_flops(&t.l, true, true));
        tl_free(&t);
        /* stride 2, 9×9 → 4×4 (P = 16): weights by GEMM, the input gradient by phases (one
         * stride-1 convolution of dy per remainder of the input position mod 2): phase (0, 0)
         * gives 5×5 positions with 2×2 taps, (0, 1) 5×4 with 2×1, (1, 0) 4×5 with 1×2, (1, 1)
         * 4×4 with 1 — 100 + 40 + 40 + 16 = 196 position-taps, each F·C multiply-adds (more
         * than the dense count's 16·9 = 144: the phases' edge positions multiply padding too);
         * on the AVX-512 path the four phases run as one (the blocks of 2×2 positions): 5×5
         * blocks × 9 taps = 225, the positions of row and column 9 computed and dropped;
         * sparse: pixels 1, 5, 9, 13, 64 nonzeros, K each, both gradients, by the lists */
        const fv_shape in9 = shape3(9, 9, 8);
        const double taps = strcmp(fv_conv_path(), "avx512") == 0 ? 225 : 196;
        CHECK(conv_work("filters=16 kernel_size=3 strides=2", in9, 4, 0, true, threads, false) ==
              4 * 2 * (16 * K * F + taps * F * 8));
        CHECK(conv_work("filters=16 kernel_size=3 strides=2", in9, 4, 1, true, threads, false) ==
              4 * 2 * (64 * K + 64 * K));
        /* one input channel (segments of 3 taps: no lists): dense whatever the zeros, the
         * weights by GEMM (16 pixels × 9 taps × F) and the input by the phases (taps × F × 1) */
        CHECK(conv_work("filters=16 kernel_size=3 strides=2", shape3(9, 9, 1), 4, 1, true, threads,
                        false) == 4 * 2 * (16 * 9 * F + taps * F));
        /* precision=bf16: always the backward kernels (no GEMM weight gradient, no input
         * gradient by the forward): dense, P·K·F for the weights and the lists' 576 nonzeros × K
         * for the input; sparse, as in fp32 */
        CHECK(conv_work("filters=16 kernel_size=3", in8, 4, 0, true, threads, true) ==
              4 * 2 * (36 * K * F + 576 * K));
        CHECK(conv_work("filters=16 kernel_size=3", in8, 4, 1, true, threads, true) ==
              4 * 2 * (144 * K + 144 * K));
    }
}

TEST(test_conv2d_sparse_gradients_match_reference_and_threads)
{
    static const struct {
        const char *args;
        int64_t h, w, c, f, kh, kw, s, d;
        bool same, relu;
    } cases[] = {
        {"filters=16 kernel_size=3 activation=relu", 12, 11, 8, 16, 3, 3, 1, 1, false, true},
        {"filters=9 kernel_size=3 padding=same strides=2", 9, 10, 16, 9, 3, 3, 2, 1, true, false},
        {"filters=8 kernel_size=2,3 dilation_rate=2 activation=relu", 9, 9, 8, 8, 2, 3, 1, 2, false,
         true},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t n = 21;
        const fv_shape in = shape3(cases[c].h, cases[c].w, cases[c].c);
        tlayer r;
        CHECK_OK(tl_build(&r, "conv2d", cases[c].args, in));
        const int64_t isz = in_size(&r), osz = out_size(&r), nx = n * isz, ny = n * osz;
        tl_plan(&r, n, 1);
        float *one, *two, *three;
        sparse_conv_case(cases[c].args, in, n, 1, &one);
        sparse_conv_case(cases[c].args, in, n, 2, &two);
        sparse_conv_case(cases[c].args, in, n, 3, &three);
        if (!one || !two || !three) {
            CHECK(false);
            free(one), free(two), free(three);
            tl_free(&r);
            continue;
        }
        const size_t bytes = (size_t)(ny + nx + r.nw) * sizeof(float);
        CHECK(memcmp(one, two, bytes) == 0 && memcmp(one, three, bytes) == 0);

        /* The same gradients from the reference kernel, image by image. */
        fv_conv_geom g = {.in_h = cases[c].h,
                          .in_w = cases[c].w,
                          .in_c = cases[c].c,
                          .k_h = cases[c].kh,
                          .k_w = cases[c].kw,
                          .out_c = cases[c].f,
                          .stride_h = cases[c].s,
                          .stride_w = cases[c].s,
                          .dil_h = cases[c].d,
                          .dil_w = cases[c].d};
        g.out_h = fv_conv_out_size(g.in_h, g.k_h, g.stride_h, g.dil_h, cases[c].same, &g.pad_top);
        g.out_w = fv_conv_out_size(g.in_w, g.k_w, g.stride_w, g.dil_w, cases[c].same, &g.pad_left);
        CHECK(g.out_h * g.out_w * g.out_c == osz);
        fv_rng rng;
        fv__rng_seed(&rng, 99);
        for (int64_t i = 0; i < r.nw; i++)
            r.w[i] = fv__rng_uniform(&rng) - 0.5f;
        float *x = floats(nx), *dy = floats(ny), *dx = floats(nx), *gw = floats(r.nw);
        for (int64_t i = 0; i < nx; i++)
            x[i] = fv__rng_uniform(&rng) - 0.5f;
        for (int64_t i = 0; i < ny; i++)
            dy[i] = fv__rng_uniform(&rng) < 0.2f ? fv__rng_uniform(&rng) - 0.5f : 0.0f;
        float *gb = r.l.nparams > 1 ? gw + r.l.params[0].size : NULL;
        for (int64_t i = 0; i < n; i++) {
            float *dyi = dy + i * osz;
            if (cases[c].relu)
                for (int64_t k = 0; k < osz; k++)
                    if (!(one[i * osz + k] > 0.0f)) dyi[k] = 0.0f;
            fv_conv2d_backward_ref(&g, x + i * isz, r.w, dyi, gw, gb, dx + i * isz);
        }
        int bad = 0;
        for (int64_t i = 0; i < nx; i++)
            bad += !(fabsf(one[ny + i] - dx[i]) <= 1e-5f + 1e-4f * fabsf(dx[i]));
        for (int64_t i = 0; i < r.nw; i++)
            bad += !(fabsf(one[ny + nx + i] - gw[i]) <= 1e-4f + 1e-4f * fabsf(gw[i]));
        if (bad)
            fprintf(stderr, "  conv2d %s: %d values differ from the reference\n", cases[c].args,
                    bad);
        CHECK(bad == 0);
        free(x), free(dy), free(dx), free(gw);
        tl_free(&r);
        free(one), free(two), free(three);
    }
}

TEST(test_conv_and_dense_threads_on_every_path)
{
    /* The promise holds per kernel path: on each path this machine has (AVX-512's 6 × 64 and
     * 12 × 32 convolution tiles and their remainders included), 1, 2 and 3 threads give the
     * same bits. */
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (!force_path(p)) continue;
        check_thread_independence("conv2d", "filters=70 kernel_size=3 activation=relu",
                                  shape3(9, 8, 8), 13);
        check_thread_independence("conv2d", "filters=40 kernel_size=3 padding=same",
                                  shape3(7, 9, 3), 11);
        check_thread_independence("dense", "units=37 activation=relu", shape1(90), 29);
        check_thread_independence("dense", "units=37", shape1(530), 128); /* 16 whole chunks */
    }
    unforce_paths();
}

TEST(test_dense_fp32_same_bits_on_the_fma_paths)
{
    /* On AVX-512 the weight gradient takes the one-pass kernel (where the CPU has AVX512_BF16),
     * on AVX2 the chunked GEMMs: the same FMA chains and tree, so the same bits, whole chunks
     * and odd ones (n = 128 and 29), several blocks of rows (530 inputs). */
    if (!force_path(FV__GEMM_AVX2) || !force_path(FV__GEMM_AVX512)) {
        unforce_paths();
        printf("    (needs the avx2 and avx512 paths)\n");
        return;
    }
    static const int64_t ns[] = {128, 29};
    for (size_t c = 0; c < 2; c++) {
        const int64_t n = ns[c];
        float *a, *b;
        force_path(FV__GEMM_AVX2);
        run_with_threads("dense", "units=37", shape1(530), n, 2, &a);
        force_path(FV__GEMM_AVX512);
        run_with_threads("dense", "units=37", shape1(530), n, 2, &b);
        const int64_t total = n * (530 + 37) + 530 * 37 + 37;
        CHECK(a && b && memcmp(a, b, (size_t)total * sizeof(float)) == 0);
        free(a), free(b);
    }
    unforce_paths();
}

/* ---- precision=bf16 (dense, conv2d) ------------------------------------------------------- */

/* One layer's forward output, input gradient and parameter gradients for n samples, in fp32 or
 * bf16, from the same seeded weights, inputs and output gradient: out [y | dx | grads], then
 * (*xw, when not NULL) the inputs, the weights and dy. Returns the size of [y | dx | grads]. */
static int64_t run_precision(const char *kind, const char *args, fv_shape in, int64_t n, bool bf16,
                             int threads, float **out, float **xw)
{
    tlayer t;
    *out = NULL;
    if (!tl_make(&t, kind, args, in, n)) {
        tl_free(&t);
        return 0;
    }
    fv__free(t.scratch);
    t.l.bf16 = bf16;
    t.scratch = fv__calloc(t.l.kind->scratch_bytes(&t.l, n, threads), "scratch");
    const int64_t total = n * (in_size(&t) + out_size(&t)) + t.nw;
    *out = fill_and_run(&t, n, 31, 0.5f, threads);
    if (xw) *xw = *out + total; /* x, the weights and dy, after the outputs */
    tl_free(&t);
    return total;
}

/* |a − b| <= bound for all i < n, the bound per element. Returns the number of elements where
 * a and b differ at all. */
static int64_t check_within(const char *what, const float *a, const float *b, const double *bound,
                            int64_t n)
{
    int64_t differ = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        differ += a[i] != b[i];
        if (!(fabs((double)a[i] - (double)b[i]) <= bound[i])) {
            if (bad++ < 3)
                fprintf(stderr, "  %s[%lld]: %.9g vs %.9g, bound %.3g\n", what, (long long)i, a[i],
                        b[i], bound[i]);
        }
    }
    CHECK(bad == 0);
    return differ;
}

/* The bound on |bf16 − fp32| of one output of depth K with Σ|a·b| = s and size |y|: the bf16
 * GEMM's (kernels/bf16.h), the fp32 sum's own K·2^-24·s, and the fp32 rounding of the bias
 * addition. */
static double bf16_bound(int64_t K, double s, double y)
{
    return (fv_bf16_gemm_rtol(K) + (double)(K + 1) * 0x1p-24) * s + 0x1p-22 * fabs(y) + 1e-30;
}

TEST(test_dense_bf16_within_its_bound_of_fp32)
{
    /* y = x·W + b (linear, so that the bound applies as is), dW = xᵀ·dY, dX = dY·Wᵀ, each element
     * against the fp32 layer within its own bound; db is fp32 in both, so equal. The forward is
     * also bit for bit the kernels' specification of the bf16 GEMM on this CPU's order. */
    const int64_t n = 29, in = 150, units = 70;
    float *a, *b, *xw;
    const int64_t total = run_precision("dense", "units=70", shape1(in), n, false, 2, &a, &xw);
    run_precision("dense", "units=70", shape1(in), n, true, 2, &b, NULL);
    CHECK(total == n * units + n * in + in * units + units);
    const float *x = xw, *w = xw + n * in;
    double *bound = calloc((size_t)total, sizeof(double));
    const float *dy = w + in * units + units;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < units; j++) {
            double s = 0;
            for (int64_t k = 0; k < in; k++)
                s += fabs((double)x[i * in + k] * w[k * units + j]);
            bound[i * units + j] = bf16_bound(in, s, a[i * units + j]);
        }
    const int64_t ny = n * units, nx = n * in;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < in; k++) {
            double s = 0;
            for (int64_t j = 0; j < units; j++)
                s += fabs((double)dy[i * units + j] * w[k * units + j]);
            bound[ny + i * in + k] = bf16_bound(units, s, 0);
        }
    for (int64_t k = 0; k < in; k++)
        for (int64_t j = 0; j < units; j++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++)
                s += fabs((double)x[i * in + k] * dy[i * units + j]);
            bound[ny + nx + k * units + j] = bf16_bound(n, s, 0);
        }
    CHECK(check_within("dense y", b, a, bound, ny) > 0);
    CHECK(check_within("dense dx", b + ny, a + ny, bound + ny, nx) > 0);
    CHECK(check_within("dense dW", b + ny + nx, a + ny + nx, bound + ny + nx, in * units) > 0);
    CHECK(memcmp(b + ny + nx + in * units, a + ny + nx + in * units, units * sizeof(float)) == 0);

    /* The forward, bit for bit: the packed weights times x in the order of this CPU's path, then
     * the bias (zero here: the layer's bias starts at the drawn values, added in fp32). */
    const bool amx = strcmp(fv_gemm_bf16_path(), "amx-bf16") == 0;
    uint16_t *wp = malloc((size_t)fv_gemm_bf16_packed_size(in, units) * sizeof(uint16_t));
    float *ref = floats(ny);
    fv_gemm_bf16_pack_b(false, in, units, w, units, wp);
    fv__gemm_bf16_ref(amx, false, n, units, in, 1.0f, x, in, wp, 0.0f, ref, units);
    const float *bias = w + in * units;
    for (int64_t i = 0; i < ny; i++)
        ref[i] += bias[i % units];
    CHECK(memcmp(ref, b, (size_t)ny * sizeof(float)) == 0);
    free(wp), free(ref), free(bound), free(a), free(b);
}

TEST(test_conv2d_bf16_within_its_bound_of_fp32)
{
    /* The forward (vdpbf16ps tiles) within its bound of fp32 for every output (Σ|x·w| from the
     * reference convolution of |x| and |w|, depth K = k_h·k_w·in_c); the backward's dx within
     * the bound of depth k_h·k_w·filters with Σ|dy·w|, dW (summed over the n images) of depth
     * n·out_h·out_w with Σ|x·dy|, both from the reference backward on absolute values; the
     * bias gradient fp32 in both, bit for bit. Three tile remainders (70 filters), padding,
     * stride, a pointwise case, and a kernel whose rows of taps are odd (3 × 3 channels), where
     * the forward and dx stay fp32 (dW is bf16 on every geometry). */
    static const struct {
        const char *args;
        int64_t h, w, c, kh, kw, f, s;
        bool same;
    } cases[] = {
        {"filters=70 kernel_size=3", 9, 8, 8, 3, 3, 70, 1, false},
        {"filters=33 kernel_size=3 padding=same strides=2", 9, 10, 6, 3, 3, 33, 2, true},
        {"filters=16 kernel_size=1", 6, 7, 16, 1, 1, 16, 1, false},
        {"filters=9 kernel_size=3", 7, 7, 3, 3, 3, 9, 1, false}, /* odd rows of taps: fp32 */
    };
    int backward_bf16 = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t n = 5;
        const fv_shape in = shape3(cases[c].h, cases[c].w, cases[c].c);
        float *a, *b, *xw;
        const int64_t total = run_precision("conv2d", cases[c].args, in, n, false, 2, &a, &xw);
        run_precision("conv2d", cases[c].args, in, n, true, 2, &b, NULL);
        fv_conv_geom g = {0};
        g.in_h = cases[c].h, g.in_w = cases[c].w, g.in_c = cases[c].c;
        g.k_h = cases[c].kh, g.k_w = cases[c].kw, g.out_c = cases[c].f;
        g.stride_h = g.stride_w = cases[c].s, g.dil_h = g.dil_w = 1;
        g.out_h = fv_conv_out_size(g.in_h, g.k_h, g.stride_h, 1, cases[c].same, &g.pad_top);
        g.out_w = fv_conv_out_size(g.in_w, g.k_w, g.stride_w, 1, cases[c].same, &g.pad_left);
        const int64_t isz = g.in_h * g.in_w * g.in_c, osz = g.out_h * g.out_w * g.out_c;
        const int64_t nw = g.k_h * g.k_w * g.in_c * g.out_c, K = g.k_h * g.k_w * g.in_c;
        const int64_t F = g.out_c, P = g.out_h * g.out_w;
        CHECK(total == n * (osz + isz) + nw + F);
        const float *dy = xw + n * isz + nw + F;
        float *ax = floats(isz), *aw = floats(nw), *s = floats(osz), *ady = floats(osz);
        float *sdx = floats(isz), *sdw = floats(nw);
        double *bound = calloc((size_t)total, sizeof(double));
        for (int64_t i = 0; i < nw; i++)
            aw[i] = fabsf(xw[n * isz + i]);
        memset(sdw, 0, (size_t)nw * sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            for (int64_t e = 0; e < isz; e++)
                ax[e] = fabsf(xw[i * isz + e]);
            for (int64_t e = 0; e < osz; e++)
                ady[e] = fabsf(dy[i * osz + e]);
            fv_conv2d_forward_ref(&g, ax, aw, NULL, s);
            for (int64_t e = 0; e < osz; e++)
                bound[i * osz + e] = bf16_bound(K, s[e], a[i * osz + e]);
            memset(sdx, 0, (size_t)isz * sizeof(float));
            fv_conv2d_backward_ref(&g, ax, aw, ady, sdw, NULL, sdx);
            for (int64_t e = 0; e < isz; e++)
                bound[n * osz + i * isz + e] = bf16_bound(g.k_h * g.k_w * F, sdx[e], 0);
        }
        for (int64_t e = 0; e < nw; e++)
            bound[n * (osz + isz) + e] = bf16_bound(n * P, sdw[e], a[n * (osz + isz) + e]);
        if (fv_conv_bf16_applies(&g))
            CHECK(check_within("conv2d y", b, a, bound, n * osz) > 0);
        else
            CHECK(memcmp(a, b, (size_t)(n * osz) * sizeof(float)) == 0);
        const int64_t bw = check_within("conv2d dx and dW", b + n * osz, a + n * osz,
                                        bound + n * osz, n * isz + nw);
        CHECK(bw > 0); /* dW in bf16 always; dx where the lists apply */
        backward_bf16 += fv_conv_bwd_uses_lists(&g);
        CHECK(memcmp(a + total - F, b + total - F, (size_t)F * sizeof(float)) == 0);
        free(ax), free(aw), free(s), free(ady), free(sdx), free(sdw), free(bound), free(a), free(b);
    }
    CHECK(backward_bf16 >= 2);
}

TEST(test_bf16_layers_do_not_depend_on_thread_count)
{
    static const struct {
        const char *kind, *args;
        fv_shape in;
        int64_t n;
    } cases[] = {
        {"dense", "units=70 activation=relu", {1, {300}}, 29},
        {"dense", "units=37", {1, {530}}, 128}, /* 16 whole chunks, three blocks of rows */
        {"conv2d", "filters=70 kernel_size=3 activation=relu", {3, {9, 8, 8}}, 13},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float *one, *two, *three;
        const int64_t total = run_precision(cases[c].kind, cases[c].args, cases[c].in, cases[c].n,
                                            true, 1, &one, NULL);
        run_precision(cases[c].kind, cases[c].args, cases[c].in, cases[c].n, true, 2, &two, NULL);
        run_precision(cases[c].kind, cases[c].args, cases[c].in, cases[c].n, true, 3, &three, NULL);
        CHECK(total > 0 && memcmp(one, two, (size_t)total * sizeof(float)) == 0);
        CHECK(total > 0 && memcmp(one, three, (size_t)total * sizeof(float)) == 0);
        free(one), free(two), free(three);
    }
}

TEST(test_gradients_do_not_depend_on_thread_count)
{
    check_thread_independence("conv2d", "filters=8 kernel_size=3 padding=same activation=relu",
                              shape3(9, 9, 4), 37);
    check_thread_independence("conv2d", "filters=5 kernel_size=3 strides=2", shape3(8, 7, 3), 5);
    check_thread_independence("conv2d", "filters=4 kernel_size=1", shape3(6, 6, 3), 19);
    check_thread_independence("dense", "units=20 activation=tanh", shape1(150), 70);
    check_thread_independence("dense", "units=130", shape1(70), 33);
    /* The cheap kinds run on one thread below FV_PARALLEL_MIN values: these are above it. */
    check_thread_independence("dropout", "rate=0.3", shape3(32, 32, 8), 9);
    check_thread_independence("gaussian_noise", "stddev=0.3", shape3(32, 32, 8), 9);
    check_thread_independence("maxpool2d", "pool_size=3 strides=2 padding=same", shape3(33, 31, 8),
                              9);
    check_thread_independence("softmax", "", shape3(16, 16, 5), 17);
    check_thread_independence("elu", "", shape1(4000), 17);
    check_thread_independence("maxout", "units=2", shape3(16, 16, 6), 17);
    /* The preprocessing layers: each sample's map is drawn from its own stream. */
    check_thread_independence("random_rotation", "factor=0.2", shape3(32, 32, 3), 23);
    check_thread_independence("random_crop", "height=28 width=30", shape3(32, 32, 3), 23);
    check_thread_independence("random_contrast", "factor=0.5", shape3(32, 32, 3), 23);
}

/* ---- the convolution family: conv2d_transpose, depthwise_conv2d, separable_conv2d --------- */

TEST(test_conv_family_registry_and_keras_names)
{
    const struct {
        const char *name, *cls;
    } k[] = {{"conv2d_transpose", "Conv2DTranspose"},
             {"depthwise_conv2d", "DepthwiseConv2D"},
             {"separable_conv2d", "SeparableConv2D"}};
    for (int i = 0; i < 3; i++) {
        const fv_layer_kind *kind = fv__layer_kind_find(k[i].name);
        CHECK(kind != NULL);
        if (!kind) continue;
        CHECK(strcmp(kind->keras_class, k[i].cls) == 0);
        CHECK(strcmp(kind->keras_name, k[i].name) == 0);
    }
}

/* One axis of conv2d_transpose's output (rows): input rows, kernel, strides, dilation, padding,
 * output_padding (NULL: None) -> rows, each worked from Keras 3's formulas. */
TEST(test_conv2d_transpose_output_size_is_keras)
{
    const struct {
        int64_t in, k, s, d;
        const char *pad, *op;
        int64_t want;
    } cases[] = {
        {5, 3, 1, 1, "valid", NULL, 7},  /* (5-1)·1 + 3 */
        {5, 3, 2, 1, "valid", NULL, 11}, /* (5-1)·2 + 3 */
        {5, 2, 3, 1, "valid", NULL, 15}, /* (5-1)·3 + 2 + (max(2,3) - 2) */
        {5, 3, 2, 1, "valid", "1", 12},  /* (5-1)·2 + 3 + 1 */
        {5, 3, 2, 1, "valid", "0", 11},  {4, 3, 1, 2, "valid", NULL, 8}, /* span 5: 3 + 5 */
        {5, 3, 1, 1, "same", NULL, 5},                                   /* 5·1 */
        {5, 3, 2, 1, "same", NULL, 10},                                  /* 5·2 */
        {5, 4, 2, 1, "same", NULL, 10},  {5, 3, 2, 1, "same", "0", 9},   /* (5-1)·2 + 3%2 + 0 */
        {5, 3, 2, 1, "same", "1", 10},   {5, 4, 2, 1, "same", "1", 9},   /* (5-1)·2 + 4%2 + 1 */
        {5, 2, 1, 1, "same", "0", 4},                                    /* (5-1)·1 + 0 + 0 */
        {5, 3, 3, 1, "same", "2", 15},                                   /* (5-1)·3 + 1 + 2 */
        {3, 2, 2, 2, "same", NULL, 6}, /* strides and dilation together: 3·2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[160];
        snprintf(
            args, sizeof args,
            "filters=1 kernel_size=%lld,1 strides=%lld,1 dilation_rate=%lld,1 padding=%s%s%s%s",
            (long long)cases[i].k, (long long)cases[i].s, (long long)cases[i].d, cases[i].pad,
            cases[i].op ? " output_padding=" : "", cases[i].op ? cases[i].op : "",
            cases[i].op ? ",0" : "");
        tlayer t;
        CHECK_OK(tl_build(&t, "conv2d_transpose", args, shape3(cases[i].in, 2, 1)));
        if (t.l.out.d[0] != cases[i].want)
            fprintf(stderr, "  %s on %lld rows: %lld rows, want %lld\n", args,
                    (long long)cases[i].in, (long long)t.l.out.d[0], (long long)cases[i].want);
        CHECK(t.l.out.d[0] == cases[i].want && t.l.out.d[1] == 2 && t.l.out.d[2] == 1);
        tl_free(&t);
    }
}

/* y for a (1, 2) image holding 1 and 10, a 1×k kernel, one filter, bias b. */
static void transpose_row(const char *args, const float *w, int k, float b, const float *want,
                          int64_t nout)
{
    const float x[2] = {1, 10};
    float y[16];
    tlayer t;
    if (!tl_make(&t, "conv2d_transpose", args, shape3(1, 2, 1), 1)) goto done;
    CHECK(t.l.out.d[0] == 1 && t.l.out.d[1] == nout);
    if (t.l.out.d[1] != nout) goto done;
    memcpy(t.l.params[0].w, w, (size_t)k * sizeof(float));
    t.l.params[1].w[0] = b;
    tl_forward(&t, 1, x, y, false, 0, 1);
    check_arrays(args, y, want, (long)nout, 0, 0);
done:
    tl_free(&t);
}

TEST(test_conv2d_transpose_by_hand)
{
    /* Input i reaches output o = i·stride − lead + k·dilation through tap k. With the kernel
     * 1,2,3 and strides 2 the full result is 1, 2, 3+10, 20, 30. */
    const float w3[3] = {1, 2, 3}, w2[2] = {1, 2};
    const float valid[5] = {1, 2, 13, 20, 30};
    transpose_row("filters=1 kernel_size=1,3 strides=1,2", w3, 3, 0, valid, 5);
    /* same: 2·2 = 4 columns, lead max((3 - 2)/2, 0) = 0: the last one cropped. */
    const float same[4] = {1, 2, 13, 20};
    transpose_row("filters=1 kernel_size=1,3 strides=1,2 padding=same", w3, 3, 0, same, 4);
    /* same, output_padding=0: (2-1)·2 + 1 + 0 = 3 columns, lead (3 - 1 - 0)/2 = 1. */
    const float same0[3] = {2, 13, 20};
    transpose_row("filters=1 kernel_size=1,3 strides=1,2 padding=same output_padding=0", w3, 3, 0,
                  same0, 3);
    /* valid, output_padding=1: one more column, which receives only the bias (0.5). */
    const float valid1[6] = {1.5f, 2.5f, 13.5f, 20.5f, 30.5f, 0.5f};
    transpose_row("filters=1 kernel_size=1,3 strides=1,2 output_padding=0,1", w3, 3, 0.5f, valid1,
                  6);
    /* strides 3 > kernel 2: Keras' default output_padding max(2,3) - 2 = 1 keeps w·s columns. */
    const float gap[6] = {1, 2, 0, 10, 20, 0};
    transpose_row("filters=1 kernel_size=1,2 strides=1,3", w2, 2, 0, gap, 6);
    /* strides 2 with dilation 2 (Keras refuses it; fovea computes the same formula): taps two
     * apart, span 3, (2-1)·2 + 3 = 5 columns, the two inputs' taps meeting at column 2. */
    const float dil[5] = {1, 0, 12, 0, 20};
    transpose_row("filters=1 kernel_size=1,2 strides=1,2 dilation_rate=1,2", w2, 2, 0, dil, 5);
}

TEST(test_conv2d_transpose_kernel_layout_is_kh_kw_filters_in)
{
    /* 1×1 kernel, 2 input channels, 2 filters: y[f] = Σ_c x[c]·w[0,0,f,c] + b[f]. */
    const float x[2] = {1, 2}, w[4] = {1, 2, 3, 4}; /* (1, 1, filters=2, in=2) */
    float y[2];
    tlayer t;
    if (!tl_make(&t, "conv2d_transpose", "filters=2 kernel_size=1", shape3(1, 1, 2), 1)) goto done;
    CHECK(t.l.params[0].dims[2] == 2 && t.l.params[0].dims[3] == 2);
    memcpy(t.l.params[0].w, w, sizeof w);
    t.l.params[1].w[0] = 0.5f, t.l.params[1].w[1] = -0.5f;
    tl_forward(&t, 1, x, y, false, 0, 1);
    const float want[2] = {1 + 4 + 0.5f, 3 + 8 - 0.5f};
    check_arrays("1x1", y, want, 2, 0, 0);
done:
    tl_free(&t);
}

TEST(test_depthwise_conv2d_by_hand)
{
    /* 1×1 kernel, 2 channels, depth_multiplier 2: output channel c·2 + m = x[c]·w[0,0,c,m]. */
    const float x[2] = {1, 10}, w[4] = {1, 2, 3, 4};
    float y[8];
    tlayer t;
    if (!tl_make(&t, "depthwise_conv2d", "kernel_size=1 depth_multiplier=2", shape3(1, 1, 2), 1))
        goto done;
    CHECK(t.l.out.d[2] == 4 && t.l.params[1].size == 4);
    memcpy(t.l.params[0].w, w, sizeof w);
    for (int i = 0; i < 4; i++)
        t.l.params[1].w[i] = 0.25f * (float)i;
    tl_forward(&t, 1, x, y, false, 0, 1);
    const float want[4] = {1, 2.25f, 30.5f, 40.75f};
    check_arrays("channel order", y, want, 4, 0, 0);
    tl_free(&t);

    /* 1×3 image of 2 channels, kernel 1×2, padding same (one zero column at the right): each
     * channel is filtered on its own. */
    const float x2[6] = {1, 10, 2, 20, 3, 30}; /* (1, 3, 2) */
    const float w2[4] = {1, -1, 2, 1};         /* (1, 2, 2, 1): tap 0: 1, -1; tap 1: 2, 1 */
    if (!tl_make(&t, "depthwise_conv2d", "kernel_size=1,2 padding=same use_bias=false",
                 shape3(1, 3, 2), 1))
        goto done;
    memcpy(t.l.params[0].w, w2, sizeof w2);
    tl_forward(&t, 1, x2, y, false, 0, 1);
    const float want2[6] = {1 + 4, -10 + 20, 2 + 6, -20 + 30, 3, -30};
    check_arrays("taps", y, want2, 6, 0, 0);
done:
    tl_free(&t);
}

TEST(test_separable_conv2d_is_depthwise_then_pointwise)
{
    /* x = (1, 10); depthwise 1×1 (2, 3) gives (2, 30); pointwise (1, 0.5) gives 2 + 15 = 17;
     * bias 1: 18; relu keeps it. */
    const float x[2] = {1, 10}, dk[2] = {2, 3}, pk[2] = {1, 0.5f};
    float y[1];
    tlayer t;
    if (!tl_make(&t, "separable_conv2d", "filters=1 kernel_size=1 activation=relu", shape3(1, 1, 2),
                 1))
        goto done;
    CHECK(t.l.nparams == 3);
    CHECK(strcmp(t.l.params[0].suffix, "depthwise_kernel") == 0);
    CHECK(strcmp(t.l.params[1].suffix, "pointwise_kernel") == 0);
    CHECK(strcmp(t.l.params[2].suffix, "bias") == 0);
    memcpy(t.l.params[0].w, dk, sizeof dk);
    memcpy(t.l.params[1].w, pk, sizeof pk);
    t.l.params[2].w[0] = 1.0f;
    tl_forward(&t, 1, x, y, false, 0, 1);
    CHECK(y[0] == 18.0f);
done:
    tl_free(&t);
}

TEST(test_conv_family_parameters_and_glorot_fans)
{
    tlayer t;
    /* Conv2DTranspose kernel (kh, kw, filters, in): fans = receptive field × filters, × in. */
    CHECK_OK(tl_build(&t, "conv2d_transpose", "filters=8 kernel_size=3,2", shape3(5, 5, 4)));
    fv_param *k = &t.l.params[0];
    CHECK(t.l.nparams == 2 && strcmp(k->suffix, "kernel") == 0);
    CHECK(k->rank == 4 && k->dims[0] == 3 && k->dims[1] == 2 && k->dims[2] == 8 &&
          k->dims[3] == 4 && k->size == 3 * 2 * 8 * 4);
    CHECK(k->init == FV_INIT_GLOROT_UNIFORM && k->fan_in == 6 * 8 && k->fan_out == 6 * 4);
    CHECK(strcmp(t.l.params[1].suffix, "bias") == 0 && t.l.params[1].size == 8);
    tl_free(&t);

    /* DepthwiseConv2D kernel (kh, kw, in, depth_multiplier), bias in·depth_multiplier. */
    CHECK_OK(tl_build(&t, "depthwise_conv2d", "kernel_size=3 depth_multiplier=2", shape3(7, 7, 5)));
    k = &t.l.params[0];
    CHECK(strcmp(k->suffix, "depthwise_kernel") == 0 && k->rank == 4 && k->dims[0] == 3 &&
          k->dims[1] == 3 && k->dims[2] == 5 && k->dims[3] == 2);
    CHECK(k->fan_in == 9 * 5 && k->fan_out == 9 * 2);
    CHECK(t.l.nparams == 2 && t.l.params[1].size == 10 && t.l.params[1].init == FV_INIT_ZEROS);
    CHECK(t.l.out.d[0] == 5 && t.l.out.d[1] == 5 && t.l.out.d[2] == 10);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "depthwise_conv2d", "kernel_size=3 use_bias=false", shape3(7, 7, 5)));
    CHECK(t.l.nparams == 1 && t.l.out.d[2] == 5);
    tl_free(&t);

    /* SeparableConv2D: depthwise (kh, kw, in, dm), pointwise (1, 1, in·dm, filters), bias. */
    CHECK_OK(tl_build(&t, "separable_conv2d", "filters=7 kernel_size=3 depth_multiplier=2",
                      shape3(7, 7, 5)));
    CHECK(t.l.nparams == 3);
    k = &t.l.params[1];
    CHECK(strcmp(k->suffix, "pointwise_kernel") == 0 && k->rank == 4 && k->dims[0] == 1 &&
          k->dims[1] == 1 && k->dims[2] == 10 && k->dims[3] == 7);
    CHECK(k->init == FV_INIT_GLOROT_UNIFORM && k->fan_in == 10 && k->fan_out == 7);
    CHECK(t.l.params[0].fan_in == 9 * 5 && t.l.params[0].fan_out == 9 * 2);
    CHECK(t.l.params[2].size == 7 && t.l.out.d[2] == 7);
    tl_free(&t);
}

TEST(test_conv_family_errors_name_the_numbers)
{
    CHECK(strcmp(build_error("conv2d_transpose",
                             "filters=1 kernel_size=3 strides=2 "
                             "output_padding=2",
                             shape3(4, 4, 1), FV_ERR_INVALID),
                 "conv2d_transpose: output_padding=2,2 must be less than strides=2,2 on each axis "
                 "(as Keras requires)") == 0);
    CHECK(strcmp(build_error("conv2d_transpose",
                             "filters=1 kernel_size=3 output_padding=1 "
                             "strides=1,2",
                             shape3(4, 4, 1), FV_ERR_INVALID),
                 "conv2d_transpose: output_padding=1,1 must be less than strides=1,2 on each axis "
                 "(as Keras requires)") == 0);
    CHECK(strcmp(build_error("conv2d_transpose",
                             "filters=1 kernel_size=2 padding=same output_padding=0",
                             shape3(1, 3, 1), FV_ERR_SHAPE),
                 "conv2d_transpose: the output height is empty with padding=same and "
                 "output_padding=0: (1 - 1)*1 + 2%2 + 0 = 0") == 0);
    CHECK(
        strcmp(build_error("conv2d_transpose", "filters=1 kernel_size=3", shape1(9), FV_ERR_SHAPE),
               "conv2d_transpose: input (None, 9) has rank 1; conv2d_transpose needs images "
               "(None, height, width, channels)") == 0);
    CHECK(strcmp(build_error("conv2d_transpose", "kernel_size=3", shape3(4, 4, 1), FV_ERR_INVALID),
                 "conv2d_transpose: missing required argument 'filters'") == 0);
    CHECK(strcmp(build_error("depthwise_conv2d", "kernel_size=5 strides=2", shape3(3, 8, 1),
                             FV_ERR_SHAPE),
                 "depthwise_conv2d: kernel 5x5 does not fit input 3x8 with padding=valid: "
                 "(3 - 5 + 0)/2 + 1 = 0") == 0);
    CHECK(strcmp(build_error("separable_conv2d", "filters=2 kernel_size=3 dilation_rate=3",
                             shape3(6, 9, 2), FV_ERR_SHAPE),
                 "separable_conv2d: kernel 3x3 (dilated to 7x7) does not fit input 6x9 with "
                 "padding=valid: (6 - 7 + 0)/1 + 1 = 0") == 0);
    CHECK(strcmp(build_error("depthwise_conv2d", "kernel_size=3 depth_multiplier=0",
                             shape3(6, 6, 2), FV_ERR_INVALID),
                 "depthwise_conv2d: argument depth_multiplier=0: must be at least 1") == 0);
    CHECK(strcmp(build_error("separable_conv2d", "kernel_size=3", shape3(6, 6, 2), FV_ERR_INVALID),
                 "separable_conv2d: missing required argument 'filters'") == 0);
    CHECK(strcmp(build_error("conv2d_transpose", "filters=1 kernel_size=3 output_padding=-1",
                             shape3(4, 4, 1), FV_ERR_INVALID),
                 "conv2d_transpose: argument output_padding=-1: must be at least 0") == 0);
}

/* Keras refuses strides > 1 with dilation_rate > 1 on all three; fovea builds them, as its
 * conv2d does (values: test_conv2d_transpose_by_hand; gradients: the gradient-check cases). */
TEST(test_conv_family_accepts_strides_with_dilation)
{
    tlayer t;
    CHECK_OK(tl_build(&t, "conv2d_transpose", "filters=2 kernel_size=3 strides=2 dilation_rate=2",
                      shape3(4, 5, 1)));
    CHECK(t.l.out.d[0] == 3 * 2 + 5 && t.l.out.d[1] == 4 * 2 + 5); /* (w-1)·2 + span 5 */
    tl_free(&t);
    CHECK_OK(tl_build(&t, "depthwise_conv2d", "kernel_size=3 strides=2 dilation_rate=2",
                      shape3(9, 8, 1)));
    CHECK(t.l.out.d[0] == 3 && t.l.out.d[1] == 2); /* (9 - 5)/2 + 1, (8 - 5)/2 + 1 */
    tl_free(&t);
    CHECK_OK(tl_build(&t, "separable_conv2d",
                      "filters=3 kernel_size=3 strides=2 dilation_rate=2 padding=same",
                      shape3(9, 8, 1)));
    CHECK(t.l.out.d[0] == 5 && t.l.out.d[1] == 4 && t.l.out.d[2] == 3);
    tl_free(&t);
}

/* output_padding=None (Keras' default) and output_padding=0 are different layers, and the
 * canonical text keeps them apart. */
TEST(test_conv2d_transpose_output_padding_none_and_zero_differ)
{
    const char *args[] = {"filters=1 kernel_size=3 strides=2 padding=same",
                          "filters=1 kernel_size=3 strides=2 padding=same output_padding=None",
                          "filters=1 kernel_size=3 strides=2 padding=same output_padding=0"};
    const int64_t want[] = {10, 10, 9};
    for (int i = 0; i < 3; i++) {
        tlayer t, u;
        char buf[160], buf2[160];
        CHECK_OK(tl_build(&t, "conv2d_transpose", args[i], shape3(5, 5, 1)));
        CHECK(t.l.out.d[0] == want[i]);
        fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
        CHECK(strcmp(buf, args[i]) == 0);
        CHECK_OK(tl_build(&u, "conv2d_transpose", buf, shape3(5, 5, 1)));
        fv__args_format(u.l.kind->args, u.l.cfg, u.l.given, buf2, sizeof buf2);
        CHECK(strcmp(buf, buf2) == 0 && u.l.out.d[0] == want[i]);
        tl_free(&t);
        tl_free(&u);
    }
}

/* Keras' Conv2DTranspose is the gradient of Conv2D with respect to its input: with the same
 * kernel memory (conv2d's (kh, kw, in, out) is conv2d_transpose's (kh, kw, filters, in)),
 * <conv2d(u), v> = <u, conv2d_transpose(v)> whenever conv2d maps the transposed layer's output
 * size back to its input size. This ties the transposed layer's size and placement to conv2d's
 * (checked against PyTorch with Keras' asymmetric padding). */
TEST(test_conv2d_transpose_is_the_adjoint_of_conv2d)
{
    const struct {
        const char *args;  /* shared by both layers */
        const char *extra; /* conv2d_transpose only */
        int64_t in;        /* conv2d_transpose's input rows and columns */
    } cases[] = {
        {"kernel_size=3 strides=2 padding=same", "", 5},
        {"kernel_size=4 strides=2 padding=same", "", 5},
        {"kernel_size=3 strides=2", "", 4},
        {"kernel_size=2 strides=3", "", 3},
        {"kernel_size=3 dilation_rate=2 padding=same", "", 4},
        {"kernel_size=3,2 strides=2,3 dilation_rate=1 padding=same", " output_padding=1,2", 3},
        {"kernel_size=3 strides=2 dilation_rate=2", "", 3},
    };
    fv_rng rng;
    fv__rng_seed(&rng, 99);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char targs[160], cargs[160];
        snprintf(targs, sizeof targs, "filters=3 use_bias=false %s%s", cases[i].args,
                 cases[i].extra);
        snprintf(cargs, sizeof cargs, "filters=2 use_bias=false %s", cases[i].args);
        tlayer t, c;
        const fv_shape vin = shape3(cases[i].in, cases[i].in + 1, 2);
        if (!tl_make(&t, "conv2d_transpose", targs, vin, 1)) {
            tl_free(&t);
            continue;
        }
        const fv_shape uin = shape3(t.l.out.d[0], t.l.out.d[1], 3);
        if (!tl_make(&c, "conv2d", cargs, uin, 1)) {
            tl_free(&t), tl_free(&c);
            continue;
        }
        CHECK(c.l.out.d[0] == vin.d[0] && c.l.out.d[1] == vin.d[1] && c.l.out.d[2] == 2);
        CHECK(c.nw == t.nw);
        if (c.l.out.d[0] != vin.d[0] || c.l.out.d[1] != vin.d[1] || c.nw != t.nw) {
            fprintf(stderr, "  %s: conv2d maps %lldx%lld to %lldx%lld\n", targs,
                    (long long)uin.d[0], (long long)uin.d[1], (long long)c.l.out.d[0],
                    (long long)c.l.out.d[1]);
            tl_free(&t), tl_free(&c);
            continue;
        }
        const int64_t nu = in_size(&c), nv = in_size(&t);
        float *u = floats(nu), *v = floats(nv), *cu = floats(nv), *tv = floats(nu);
        for (int64_t j = 0; j < t.nw; j++)
            t.w[j] = c.w[j] = fv__rng_uniform(&rng) - 0.5f;
        for (int64_t j = 0; j < nu; j++)
            u[j] = fv__rng_uniform(&rng) - 0.5f;
        for (int64_t j = 0; j < nv; j++)
            v[j] = fv__rng_uniform(&rng) - 0.5f;
        tl_forward(&c, 1, u, cu, false, 0, 1);
        tl_forward(&t, 1, v, tv, false, 0, 1);
        double a = 0, b = 0, scale = 0;
        for (int64_t j = 0; j < nv; j++)
            a += (double)cu[j] * v[j], scale += fabs((double)cu[j] * v[j]);
        for (int64_t j = 0; j < nu; j++)
            b += (double)u[j] * tv[j];
        if (!(fabs(a - b) <= 1e-5 * scale))
            fprintf(stderr, "  %s: <conv2d(u), v> = %.9g, <u, conv2d_transpose(v)> = %.9g\n", targs,
                    a, b);
        CHECK(fabs(a - b) <= 1e-5 * scale);
        free(u), free(v), free(cu), free(tv);
        tl_free(&t), tl_free(&c);
    }
}

/* Keras' weight regularizers, each on its own tensor: kernel_regularizer and bias_regularizer
 * (Conv2DTranspose); depthwise_regularizer, pointwise_regularizer (SeparableConv2D) and
 * bias_regularizer. The penalty itself is the model's (tests/test_optim.c). */
TEST(test_conv_family_regularizers_reach_their_tensors)
{
    tlayer t;
    CHECK_OK(tl_build(&t, "conv2d_transpose",
                      "filters=2 kernel_size=3 kernel_regularizer=l2:0.01 bias_regularizer=l1:0.5",
                      shape3(4, 4, 1)));
    CHECK(t.l.params[0].reg.l2 == 0.01 && t.l.params[0].reg.l1 == 0);
    CHECK(t.l.params[1].reg.l1 == 0.5 && t.l.params[1].reg.l2 == 0);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "depthwise_conv2d", "kernel_size=3 depthwise_regularizer=l1_l2:0.1,0.2",
                      shape3(4, 4, 2)));
    CHECK(t.l.params[0].reg.l1 == 0.1 && t.l.params[0].reg.l2 == 0.2);
    CHECK(t.l.params[1].reg.l1 == 0 && t.l.params[1].reg.l2 == 0);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "separable_conv2d",
                      "filters=3 kernel_size=3 pointwise_regularizer=l2:0.03 "
                      "bias_regularizer=l2:0.04",
                      shape3(4, 4, 2)));
    CHECK(t.l.params[0].reg.l2 == 0 && t.l.params[1].reg.l2 == 0.03 &&
          t.l.params[2].reg.l2 == 0.04);
    tl_free(&t);
    CHECK(strcmp(build_error("depthwise_conv2d", "kernel_size=3 kernel_regularizer=l2:0.1",
                             shape3(4, 4, 2), FV_ERR_INVALID),
                 "depthwise_conv2d: unknown argument 'kernel_regularizer' (known: kernel_size, "
                 "strides, padding, depth_multiplier, dilation_rate, activation, use_bias, "
                 "depthwise_regularizer, bias_regularizer)") == 0);
}

/* 1, 2 and 3 threads give bit-identical outputs and gradients (work above FV_PARALLEL_MIN, so
 * that the threads are really used). */
TEST(test_conv_family_gradients_do_not_depend_on_thread_count)
{
    check_thread_independence("conv2d_transpose",
                              "filters=8 kernel_size=3 strides=2 padding=same activation=relu",
                              shape3(8, 7, 4), 19);
    check_thread_independence("conv2d_transpose", "filters=3 kernel_size=2 strides=3",
                              shape3(9, 9, 5), 17);
    check_thread_independence("depthwise_conv2d",
                              "kernel_size=3 depth_multiplier=2 padding=same activation=tanh",
                              shape3(16, 15, 4), 17);
    check_thread_independence("separable_conv2d",
                              "filters=8 kernel_size=3 strides=2 padding=same depth_multiplier=2",
                              shape3(15, 15, 4), 17);
}

/* ---- pooling, resizing, padding, reshaping, ReLU's arguments ------------------------------ */

TEST(test_shape_kinds_keras_names)
{
    struct {
        const char *name, *cls, *prefix;
    } keras[] = {
        {"average_pooling2d", "AveragePooling2D", "average_pooling2d"},
        {"upsampling2d", "UpSampling2D", "up_sampling2d"},
        {"zero_padding2d", "ZeroPadding2D", "zero_padding2d"},
        {"cropping2d", "Cropping2D", "cropping2d"},
        {"reshape", "Reshape", "reshape"},
    };
    for (size_t i = 0; i < sizeof keras / sizeof keras[0]; i++) {
        const fv_layer_kind *k = fv__layer_kind_find(keras[i].name);
        CHECK(k != NULL);
        if (!k) continue;
        CHECK(strcmp(k->keras_class, keras[i].cls) == 0);
        CHECK(strcmp(k->keras_name, keras[i].prefix) == 0);
    }
    /* Keras' class in snake case is accepted too. */
    CHECK(fv__layer_kind_find("up_sampling2d") == &fv__kind_upsampling2d);
}

/* Runs kind(args) on one image x of shape in, compares y with want (out_size values) and, when
 * dy and want_dx are given, the input gradient. */
static void check_image(const char *kind, const char *args, fv_shape in, const float *x,
                        const float *want, const float *dy, const float *want_dx)
{
    tlayer t;
    if (tl_make(&t, kind, args, in, 1)) {
        float *y = floats(out_size(&t)), *dx = floats(in_size(&t)), *g = floats(out_size(&t));
        tl_forward(&t, 1, x, y, false, 0, 1);
        if (!check_arrays(kind, y, want, out_size(&t), 1e-6, 1e-6))
            fprintf(stderr, "  (%s)\n", args);
        if (dy) {
            memcpy(g, dy, (size_t)out_size(&t) * sizeof(float));
            for (int64_t i = 0; i < in_size(&t); i++)
                dx[i] = NAN;
            tl_backward(&t, 1, x, y, g, dx, false, 0, 1);
            if (!check_arrays("dx", dx, want_dx, in_size(&t), 1e-6, 1e-6))
                fprintf(stderr, "  (%s %s)\n", kind, args);
        }
        free(y), free(dx), free(g);
    }
    tl_free(&t);
}

TEST(test_average_pooling_by_hand)
{
    float x9[9], x16[16];
    for (int i = 0; i < 9; i++)
        x9[i] = (float)(i + 1);
    for (int i = 0; i < 16; i++)
        x16[i] = (float)(i + 1);
    /* 3x3, pool 2, valid: one window, (1+2+4+5)/4. */
    check_image("average_pooling2d", "", shape3(3, 3, 1), x9, (const float[]){3}, NULL, NULL);
    /* Same padding on 3x3 with pool 2, stride 2: one padded row and column at the bottom/right,
     * left out of the count: (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9/1 (counted in, they would be
     * 3, 2.25, 3.75, 2.25). Backward shares each gradient among the pixels its window covers. */
    check_image("average_pooling2d", "padding=same", shape3(3, 3, 1), x9,
                (const float[]){3, 4.5f, 7.5f, 9}, (const float[]){4, 2, 6, 1},
                (const float[]){1, 1, 1, 1, 1, 1, 3, 3, 1});
    /* Pool 3, stride 1, same on 4x4: one padded row/column on each side; the corner window covers
     * 2x2 pixels (1, 2, 5, 6), an edge window 2x3 (1, 2, 3, 5, 6, 7), an inner one 3x3. */
    {
        tlayer t;
        float y[16];
        if (tl_make(&t, "average_pooling2d", "pool_size=3 strides=1 padding=same", shape3(4, 4, 1),
                    1)) {
            tl_forward(&t, 1, x16, y, false, 0, 1);
            CHECK(t.l.out.d[0] == 4 && t.l.out.d[1] == 4);
            CHECK_CLOSE(y[0], 3.5, 1e-6, 0);
            CHECK_CLOSE(y[1], 4.0, 1e-6, 0);
            CHECK_CLOSE(y[5], 6.0, 1e-6, 0); /* (1+2+3+5+6+7+9+10+11)/9 */
            CHECK_CLOSE(y[15], 13.5, 1e-6, 0);
        }
        tl_free(&t);
    }
    /* Channels are pooled separately; a 2x1 pool with strides 1,2. */
    check_image("average_pooling2d", "pool_size=2,1 strides=1,2", shape3(2, 3, 2),
                (const float[]){1, 10, 2, 20, 3, 30, 5, 50, 6, 60, 7, 70},
                (const float[]){3, 30, 5, 50}, NULL, NULL);
}

TEST(test_upsampling_by_hand)
{
    const float x[4] = {1, 2, 3, 8};
    /* Nearest repeats rows and columns; backward sums each block. */
    check_image(
        "upsampling2d", "size=2,3", shape3(2, 2, 1), x,
        (const float[]){1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 8, 8, 8, 3, 3, 3, 8, 8, 8},
        (const float[]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
        (const float[]){6, 7, 0, 1});
    /* Bilinear, half-pixel centres, factor 2 on 2x2: output index o reads source position
     * (o + 1/2)/2 - 1/2 = -0.25, 0.25, 0.75, 1.25, clamped to the image: the fractions 0, 0.25,
     * 0.75, 1 between the two rows (columns). On [[1, 2], [3, 8]] that is
     * f(r, c) = 1 + c + 2r + 4rc. */
    const float want[16] = {1,    1.25f, 1.75f, 2,    1.5f, 2,     3,     3.5f,
                            2.5f, 3.5f,  5.5f,  6.5f, 3,    4.25f, 6.75f, 8};
    /* The gradient of the output's (1, 1) element: weights (1-.25)(1-.25), .75·.25, .25·.75,
     * .25·.25 on the four inputs. */
    float dy[16] = {0};
    dy[5] = 1;
    check_image("upsampling2d", "interpolation=bilinear", shape3(2, 2, 1), x, want, dy,
                (const float[]){0.5625f, 0.1875f, 0.1875f, 0.0625f});
    /* Factor 3 along a row of two: positions -1/3, 0, 1/3, 2/3, 1, 4/3. */
    check_image("upsampling2d", "size=1,3 interpolation=bilinear", shape3(1, 2, 1),
                (const float[]){0, 3}, (const float[]){0, 0, 1, 2, 3, 3}, NULL, NULL);
}

TEST(test_padding_cropping_and_reshape_by_hand)
{
    const float x[4] = {1, 2, 3, 4};
    /* padding=TOP,BOTTOM,LEFT,RIGHT = 1,0,0,2 on 2x2: 3x4. */
    check_image("zero_padding2d", "padding=1,0,0,2", shape3(2, 2, 1), x,
                (const float[]){0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0},
                (const float[]){9, 9, 9, 9, 5, 6, 9, 9, 7, 8, 9, 9}, (const float[]){5, 6, 7, 8});
    /* padding=H,W: rows above and below, columns left and right. */
    check_image("zero_padding2d", "padding=0,1", shape3(2, 2, 1), x,
                (const float[]){0, 1, 2, 0, 0, 3, 4, 0}, NULL, NULL);
    float x12[12];
    for (int i = 0; i < 12; i++)
        x12[i] = (float)(i + 1);
    /* cropping=1,0,1,2 on 3x4 (values 1..12): rows 1-2, column 1: 6 and 10. */
    check_image("cropping2d", "cropping=1,0,1,2", shape3(3, 4, 1), x12, (const float[]){6, 10},
                (const float[]){1, 2}, (const float[]){0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0});
    check_image("cropping2d", "cropping=1", shape3(3, 4, 1), x12, (const float[]){6, 7}, NULL,
                NULL);

    /* Reshape keeps the memory order; -1 is inferred. */
    tlayer t;
    if (tl_make(&t, "reshape", "target_shape=-1,3", shape3(2, 3, 2), 1)) {
        CHECK(t.l.out.rank == 2 && t.l.out.d[0] == 4 && t.l.out.d[1] == 3);
        float y[12];
        tl_forward(&t, 1, x12, y, false, 0, 1);
        CHECK(memcmp(x12, y, sizeof y) == 0);
    }
    tl_free(&t);
    if (tl_make(&t, "reshape", "target_shape=2,2,-1", shape1(12), 1))
        CHECK(t.l.out.rank == 3 && t.l.out.d[2] == 3);
    tl_free(&t);
}

TEST(test_relu_arguments_at_a_few_points)
{
    const float x5[5] = {-10, -5, 0, 5, 10};
    /* keras.activations.relu's documented examples. */
    check_act("relu", "negative_slope=0.5", x5, (const float[]){-5, -2.5f, 0, 5, 10}, 5);
    check_act("relu", "max_value=5", x5, (const float[]){0, 0, 0, 5, 5}, 5);
    check_act("relu", "threshold=5", x5, (const float[]){0, 0, 0, 0, 10}, 5); /* f(5) = 0 */
    check_act("relu", "max_value=10 negative_slope=0.5", x5, (const float[]){-5, -2.5f, 0, 5, 10},
              5);
    /* ReLU6, and all three: f(x) = 0.5(x - 1) up to the threshold 1, then x, then 3. */
    check_act("relu", "max_value=6", (const float[]){-1, 3, 6, 7}, (const float[]){0, 3, 6, 6}, 4);
    check_act("relu", "max_value=3 negative_slope=0.5 threshold=1",
              (const float[]){-1, 0.5f, 1, 2, 4}, (const float[]){-1, -0.25f, 0, 2, 3}, 5);
    /* The defaults written out are the plain ReLU. */
    check_act("relu", "max_value=None negative_slope=0 threshold=0", (const float[]){-1, 2},
              (const float[]){0, 2}, 2);

    /* Backward from x: negative_slope below the threshold, 1 between, 0 from max_value on. */
    tlayer t;
    if (tl_make(&t, "relu", "max_value=3 negative_slope=0.5 threshold=1", shape1(5), 1)) {
        const float x[5] = {-1, 0.5f, 2, 3, 4};
        float y[5], dy[5] = {1, 2, 3, 4, 5}, dx[5];
        tl_forward(&t, 1, x, y, true, 0, 1);
        tl_backward(&t, 1, x, y, dy, dx, true, 0, 1);
        check_arrays("relu dx", dx, (const float[]){0.5f, 1, 3, 0, 0}, 5, 0, 0);
    }
    tl_free(&t);

    /* Only the plain form is reported as FV_ACT_RELU (what the model may fuse). */
    const char *general[] = {"max_value=6", "negative_slope=0.1", "threshold=0.5"};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(tl_build(&t, "relu", general[i], shape1(4)));
        CHECK(fv__layer_activation(&t.l) == FV_ACT_LINEAR);
        tl_free(&t);
    }
    CHECK_OK(tl_build(&t, "relu", "max_value=None negative_slope=0 threshold=0", shape1(4)));
    CHECK(fv__layer_activation(&t.l) == FV_ACT_RELU);
    tl_free(&t);
}

TEST(test_shape_kinds_arguments_and_errors)
{
    tlayer t;
    char buf[256];
    /* Defaults as Keras: pool 2 with strides = pool; size 2 nearest; padding 1; cropping 0. */
    CHECK_OK(tl_build(&t, "average_pooling2d", "", shape3(6, 7, 3)));
    CHECK(t.l.out.d[0] == 3 && t.l.out.d[1] == 3 && t.l.out.d[2] == 3);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "upsampling2d", "", shape3(2, 3, 4)));
    CHECK(t.l.out.d[0] == 4 && t.l.out.d[1] == 6 && t.l.out.d[2] == 4);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "zero_padding2d", "", shape3(2, 3, 4)));
    CHECK(t.l.out.d[0] == 4 && t.l.out.d[1] == 5);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "cropping2d", "", shape3(2, 3, 4)));
    CHECK(t.l.out.d[0] == 2 && t.l.out.d[1] == 3);
    tl_free(&t);

    /* The canonical text writes the values as given, and reads back the same. */
    CHECK_OK(tl_build(&t, "zero_padding2d", "padding=1,2,3,4", shape3(2, 3, 4)));
    CHECK(t.l.out.d[0] == 5 && t.l.out.d[1] == 10);
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "padding=1,2,3,4") == 0);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "relu", "threshold=0.5 max_value=6", shape1(3)));
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "max_value=6 threshold=0.5") == 0);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "relu", "max_value=None", shape1(3)));
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "max_value=None") == 0);
    tl_free(&t);
    CHECK_OK(tl_build(&t, "reshape", "target_shape=4,-1", shape1(8)));
    fv__args_format(t.l.kind->args, t.l.cfg, t.l.given, buf, sizeof buf);
    CHECK(strcmp(buf, "target_shape=4,-1") == 0);
    tl_free(&t);

    const fv_status E = FV_ERR_INVALID, S = FV_ERR_SHAPE;
    const fv_shape img = shape3(4, 5, 2);
    CHECK(strcmp(build_error("zero_padding2d", "padding=1,2,3", img, E),
                 "zero_padding2d: argument padding=1,2,3 has 3 values; expected 1 (every side), "
                 "2 (rows,cols) or 4 (top,bottom,left,right)") == 0);
    CHECK(strcmp(build_error("zero_padding2d", "padding=1,2,3,4,5", img, E),
                 "zero_padding2d: argument padding=1,2,3,4,5: expected 1 to 4 integers "
                 "separated by commas") == 0);
    CHECK(strcmp(build_error("zero_padding2d", "padding=-1", img, E),
                 "zero_padding2d: argument padding=-1: must be at least 0") == 0);
    CHECK_OK(tl_build(&t, "cropping2d", "cropping=2,1,0,0", img)); /* one row left */
    CHECK(t.l.out.d[0] == 1 && t.l.out.d[1] == 5);
    tl_free(&t);
    CHECK(strcmp(build_error("cropping2d", "cropping=2,2,0,0", img, S),
                 "cropping2d: cropping=2,2,0,0 removes 2+2 rows and 0+0 columns of input "
                 "(None, 4, 5, 2), leaving 0x5") == 0);
    CHECK_STR_CONTAINS(build_error("cropping2d", "cropping=1", shape1(5), S),
                       "cropping2d: input (None, 5) has rank 1");
    CHECK(strcmp(build_error("reshape", "", img, E),
                 "reshape: missing required argument 'target_shape'") == 0);
    CHECK(strcmp(build_error("reshape", "target_shape=3,-1", img, S),
                 "reshape: input (None, 4, 5, 2) has 40 values per sample; target_shape=3,-1 "
                 "cannot hold them") == 0);
    CHECK(strcmp(build_error("reshape", "target_shape=4,5", img, S),
                 "reshape: input (None, 4, 5, 2) has 40 values per sample; target_shape=4,5 "
                 "cannot hold them") == 0);
    CHECK(strcmp(build_error("reshape", "target_shape=-1,-1", img, E),
                 "reshape: argument target_shape=-1,-1: only one dimension may be -1") == 0);
    CHECK(strcmp(build_error("reshape", "target_shape=0,-1", img, E),
                 "reshape: argument target_shape=0,-1: dimension 1 is 0") == 0);
    CHECK(strcmp(build_error("reshape", "target_shape=-2,20", img, E),
                 "reshape: argument target_shape=-2,20: must be at least -1") == 0);
    CHECK(strcmp(build_error("reshape", "target_shape=2,2,2,5", img, E),
                 "reshape: argument target_shape=2,2,2,5 has 4 dimensions; fovea's shapes have 1 "
                 "to 3 (features, or height,width,channels)") == 0);
    CHECK(strcmp(build_error("average_pooling2d", "pool_size=5", img, S),
                 "average_pooling2d: pool 5x5 does not fit input 4x5 with padding=valid: "
                 "(4 - 5 + 0)/5 + 1 = 0") == 0);
    CHECK(strcmp(build_error("upsampling2d", "interpolation=bicubic", img, E),
                 "upsampling2d: argument interpolation=bicubic: expected one of nearest, "
                 "bilinear") == 0);
    CHECK_STR_CONTAINS(build_error("upsampling2d", "size=2147483647", img, S),
                       "upsampling2d: input (None, 4, 5, 2) times size 2147483647x2147483647 is "
                       "too large");
    CHECK(strcmp(build_error("relu", "max_value=-1", shape1(3), E),
                 "relu: argument max_value=-1: must be at least 0") == 0);
    CHECK(strcmp(build_error("relu", "negative_slope=-0.1", shape1(3), E),
                 "relu: argument negative_slope=-0.1: must be at least 0") == 0);
    CHECK(strcmp(build_error("relu", "threshold=x", shape1(3), E),
                 "relu: argument threshold=x: expected a number") == 0);
}

TEST(test_shape_kinds_do_not_depend_on_thread_count)
{
    /* Above FV_PARALLEL_MIN values, so that several threads run. */
    check_thread_independence("average_pooling2d", "pool_size=3 strides=2 padding=same",
                              shape3(33, 31, 8), 9);
    check_thread_independence("upsampling2d", "interpolation=bilinear size=3,2", shape3(17, 15, 8),
                              9);
    check_thread_independence("upsampling2d", "size=2", shape3(17, 15, 8), 9);
    check_thread_independence("zero_padding2d", "padding=1,2,3,4", shape3(30, 20, 8), 9);
    check_thread_independence("cropping2d", "cropping=3", shape3(30, 20, 8), 9);
    check_thread_independence("relu", "max_value=6 negative_slope=0.1", shape1(4000), 17);
}

/* conv2d's backward paths (conv2d.c): at stride 1 the input gradient as a forward convolution of
 * dy with the flipped kernel, strided by phases, or by the gathers where dy is mostly zero; the
 * weight gradient of a chunk's dense images in one pass of the tiles (fv_conv_dw_images), of a
 * mostly-zero image by the gathers. Input, kernel and bias gradients against the reference
 * backward at ResNet's channel counts and on odd geometries (valid, same, dilation, a 2x3 kernel,
 * a ReLU, strides 2, small and large images), dy dense and 80% zero, 11 images (a pass of 8 and
 * one of 3, or of the dense ones between sparse ones), within summation-order rounding:
 * |fast − ref| <= 1e-5 + 1e-4·|ref|. */
TEST(test_conv2d_backward_paths_match_reference)
{
    static const struct {
        int64_t h, w, c, filters, kh, kw, dh;
        bool same, relu;
        int64_t stride;
    } cases[] = {
        {9, 7, 16, 16, 3, 3, 1, true, false, 1},   {6, 5, 16, 32, 3, 3, 1, true, false, 1},
        {4, 4, 64, 64, 3, 3, 1, true, false, 1},   {7, 8, 5, 17, 3, 3, 1, false, false, 1},
        {6, 7, 16, 16, 2, 3, 1, true, true, 1},    {8, 6, 3, 8, 3, 3, 2, true, false, 1},
        {5, 5, 32, 16, 1, 1, 1, false, false, 1},  {20, 15, 8, 16, 3, 3, 1, true, false, 1},
        {14, 13, 16, 32, 3, 3, 1, true, false, 2}, {9, 9, 16, 32, 1, 1, 1, false, false, 2},
        {7, 8, 8, 16, 3, 3, 1, false, true, 2},
    };
    for (size_t k = 0; k < 2 * sizeof cases / sizeof *cases; k++) {
        const int64_t n = 11;
        const bool sparse = k & 1;
        const int64_t stride = cases[k / 2].stride;
        char args[160];
        snprintf(args, sizeof args,
                 "filters=%lld kernel_size=%lld,%lld dilation_rate=%lld,1 padding=%s "
                 "activation=%s strides=%lld",
                 (long long)cases[k / 2].filters, (long long)cases[k / 2].kh,
                 (long long)cases[k / 2].kw, (long long)cases[k / 2].dh,
                 cases[k / 2].same ? "same" : "valid", cases[k / 2].relu ? "relu" : "linear",
                 (long long)stride);
        tlayer t;
        if (!tl_make(&t, "conv2d", args, shape3(cases[k / 2].h, cases[k / 2].w, cases[k / 2].c),
                     n)) {
            tl_free(&t);
            continue;
        }
        fv_conv_geom geo;
        const int64_t ks[2] = {cases[k / 2].kh, cases[k / 2].kw}, st[2] = {stride, stride},
                      dil[2] = {cases[k / 2].dh, 1};
        CHECK_OK(fv__window_geom(&t.l, "kernel", ks, st, dil, cases[k / 2].same,
                                 cases[k / 2].filters, &geo));
        const int64_t nx = in_size(&t), ny = out_size(&t);
        float *x = floats(n * nx), *y = floats(n * ny), *dy = floats(n * ny), *dx = floats(n * nx);
        float *ref = floats(n * nx), *dw = floats(t.l.params[0].size), *dz = floats(ny);
        float *db = floats(cases[k / 2].filters);
        const int64_t ksz = t.l.params[0].size;
        fv_rng rng;
        fv__rng_seed(&rng, 77 + k);
        for (int64_t i = 0; i < t.nw; i++)
            t.w[i] = fv__rng_uniform(&rng) - 0.5f;
        for (int64_t i = 0; i < n * nx; i++)
            x[i] = fv__rng_uniform(&rng) - 0.5f;
        for (int64_t i = 0; i < n * ny; i++)
            dy[i] = sparse && fv__rng_uniform(&rng) < 0.8f ? 0.0f : fv__rng_uniform(&rng) - 0.5f;
        tl_forward(&t, n, x, y, true, 1, 1);
        for (int64_t i = 0; i < n; i++) { /* ∂L/∂z: through the ReLU where there is one */
            for (int64_t e = 0; e < ny; e++)
                dz[e] = cases[k / 2].relu && !(y[i * ny + e] > 0.0f) ? 0.0f : dy[i * ny + e];
            fv_conv2d_backward_ref(&geo, x + i * nx, t.l.params[0].w, dz, dw, db, ref + i * nx);
        }
        tl_backward(&t, n, x, y, dy, dx, true, 1, 1);
        check_arrays(args, dx, ref, (long)(n * nx), 1e-5, 1e-4);
        check_arrays("kernel gradient", t.l.params[0].g, dw, (long)ksz, 1e-5, 1e-4);
        check_arrays("bias gradient", t.l.params[1].g, db, (long)cases[k / 2].filters, 1e-5, 1e-4);
        free(x), free(y), free(dy), free(dx), free(ref), free(dw), free(dz), free(db);
        tl_free(&t);
    }
}

/* conv2d's dense weight gradient by Winograd F(2x2, 3x3) (fv__conv2d_force_wino_dw, the switch
 * that conv_algorithm=winograd is to take): 3x3 stride-1 layers at ResNet's channel counts and an
 * odd one (9 channels: a vector of 8 and one more), same and valid padding, 11 images (a pass of 8
 * and one of 3). The kernel gradient against the reference backward within 1e-4 + 1e-4·|ref| (the
 * kernel's own bound is checked in test_winograd_dw.c; here a wrong pointer or scratch would give
 * errors of the gradient's size), the same bits on 1 and 2 threads, and the input and bias
 * gradients the bits of the implicit GEMM's run. */
TEST(test_conv2d_winograd_weight_gradient_matches_reference)
{
    static const struct {
        int64_t h, w, c, filters;
        bool same;
    } cases[] = {{9, 7, 16, 16, true},
                 {6, 5, 16, 32, true},
                 {4, 4, 64, 64, true},
                 {7, 8, 9, 32, false},
                 {14, 14, 32, 32, true}};
    const int64_t n = 11;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char args[96];
        snprintf(args, sizeof args, "filters=%lld kernel_size=3 padding=%s",
                 (long long)cases[k].filters, cases[k].same ? "same" : "valid");
        const fv_shape in = shape3(cases[k].h, cases[k].w, cases[k].c);
        tlayer t[2]; /* the implicit GEMM's, Winograd's */
        fv__conv2d_force_wino_dw(false);
        bool made = tl_make(&t[0], "conv2d", args, in, n);
        fv__conv2d_force_wino_dw(true);
        made = tl_make(&t[1], "conv2d", args, in, n) && made;
        fv__conv2d_force_wino_dw(false);
        if (!made) {
            tl_free(&t[0]), tl_free(&t[1]);
            continue;
        }
        fv_conv_geom geo;
        const int64_t ks[2] = {3, 3}, one[2] = {1, 1};
        CHECK_OK(fv__window_geom(&t[0].l, "kernel", ks, one, one, cases[k].same, cases[k].filters,
                                 &geo));
        const int64_t nx = in_size(&t[0]), ny = out_size(&t[0]), nw = t[0].nw;
        const int64_t ksz = t[0].l.params[0].size;
        float *x = floats(n * nx), *y = floats(n * ny), *dy = floats(n * ny);
        float *dx[3] = {floats(n * nx), floats(n * nx), floats(n * nx)};
        float *g[3] = {floats(nw), floats(nw), floats(nw)}, *ref = floats(ksz);
        fv_rng rng;
        fv__rng_seed(&rng, 515 + k);
        for (int64_t i = 0; i < nw; i++)
            t[0].w[i] = t[1].w[i] = fv__rng_uniform(&rng) - 0.5f;
        for (int64_t i = 0; i < n * nx; i++)
            x[i] = fv__rng_uniform(&rng) - 0.5f;
        for (int64_t i = 0; i < n * ny; i++)
            dy[i] = fv__rng_uniform(&rng) - 0.5f;
        for (int64_t i = 0; i < n; i++)
            fv_conv2d_backward_ref(&geo, x + i * nx, t[0].w, dy + i * ny, ref, NULL, NULL);
        tl_forward(&t[0], n, x, y, true, 1, 1);
        /* runs: the implicit GEMM on 2 threads, Winograd on 2, then on 1 */
        for (int r = 0; r < 3; r++) {
            tlayer *tr = &t[r ? 1 : 0];
            memset(tr->g, 0, (size_t)nw * sizeof(float));
            fv__conv2d_force_wino_dw(r > 0); /* as when it was planned */
            tl_backward(tr, n, x, y, dy, dx[r], true, 1, r == 2 ? 1 : 2);
            fv__conv2d_force_wino_dw(false);
            memcpy(g[r], tr->g, (size_t)nw * sizeof(float));
        }
        check_arrays(args, g[1], ref, (long)ksz, 1e-4, 1e-4);
        CHECK(memcmp(g[1], g[2], (size_t)nw * sizeof(float)) == 0);
        CHECK(memcmp(dx[0], dx[1], (size_t)(n * nx) * sizeof(float)) == 0);
        CHECK(memcmp(g[0] + ksz, g[1] + ksz, (size_t)(nw - ksz) * sizeof(float)) == 0);
        free(x), free(y), free(dy), free(ref);
        for (int r = 0; r < 3; r++)
            free(dx[r]), free(g[r]);
        tl_free(&t[0]), tl_free(&t[1]);
    }
}

int main(void)
{
    RUN(test_conv2d_backward_paths_match_reference);
    RUN(test_conv2d_winograd_weight_gradient_matches_reference);
    RUN(test_registry_names);
    RUN(test_activation_names_follow_the_enum);
    RUN(test_layer_activation_is_reported_for_fusion);
    RUN(test_args_defaults_follow_keras);
    RUN(test_args_format_is_canonical_and_round_trips);
    RUN(test_args_shape_and_int_parsing);
    RUN(test_bad_argument_values);
    RUN(test_unknown_and_missing_arguments);
    RUN(test_failed_argument_leaves_config_unchanged);
    RUN(test_seed_model_shapes_and_parameter_counts);
    RUN(test_parameter_layout_and_glorot_fans);
    RUN(test_impossible_shapes_are_explained);
    RUN(test_conv2d_3x3_on_4x4_by_hand);
    RUN(test_conv2d_same_padding_is_asymmetric);
    RUN(test_conv2d_kernel_layout_is_kh_kw_in_out);
    RUN(test_maxpool_by_hand);
    RUN(test_dense_by_hand);
    RUN(test_activations_at_a_few_points);
    RUN(test_maxout_rank3_by_hand);
    RUN(test_dropout_masks_and_scales);
    RUN(test_gaussian_noise_adds_noise_in_training_only);
    RUN(test_flatten_keeps_hwc_order);
    RUN(test_fused_activation_is_skipped_in_backward);
    RUN(test_gradients_do_not_depend_on_thread_count);
    RUN(test_conv_and_dense_threads_on_every_path);
    RUN(test_dense_fp32_same_bits_on_the_fma_paths);
    RUN(test_dense_bf16_within_its_bound_of_fp32);
    RUN(test_conv2d_bf16_within_its_bound_of_fp32);
    RUN(test_bf16_layers_do_not_depend_on_thread_count);
    RUN(test_conv2d_sparse_gradients_match_reference_and_threads);
    RUN(test_flops_count_the_dense_multiply_adds);
    RUN(test_conv2d_reports_the_multiply_adds_it_performed);
    RUN(test_dense_matches_reference_at_seed_and_block_sizes);
    RUN(test_conv2d_matches_reference_at_seed_sizes);
    RUN(test_gradcheck_covers_every_registered_kind);
    RUN(test_gradcheck_every_case);
    RUN(test_conv_family_registry_and_keras_names);
    RUN(test_conv2d_transpose_output_size_is_keras);
    RUN(test_conv2d_transpose_by_hand);
    RUN(test_conv2d_transpose_kernel_layout_is_kh_kw_filters_in);
    RUN(test_conv2d_transpose_is_the_adjoint_of_conv2d);
    RUN(test_depthwise_conv2d_by_hand);
    RUN(test_separable_conv2d_is_depthwise_then_pointwise);
    RUN(test_conv_family_parameters_and_glorot_fans);
    RUN(test_conv_family_errors_name_the_numbers);
    RUN(test_conv_family_accepts_strides_with_dilation);
    RUN(test_conv2d_transpose_output_padding_none_and_zero_differ);
    RUN(test_conv_family_gradients_do_not_depend_on_thread_count);
    RUN(test_conv_family_regularizers_reach_their_tensors);
    RUN(test_shape_kinds_keras_names);
    RUN(test_average_pooling_by_hand);
    RUN(test_upsampling_by_hand);
    RUN(test_padding_cropping_and_reshape_by_hand);
    RUN(test_relu_arguments_at_a_few_points);
    RUN(test_shape_kinds_arguments_and_errors);
    RUN(test_shape_kinds_do_not_depend_on_thread_count);
    return TEST_SUMMARY();
}
