/* fovea.h — the one public header of fovea: Keras-style Sequential networks in C.
 *
 * Overview
 * --------
 * A model is a list of layers (input, conv2d, maxpool2d, dropout, flatten, dense, activations),
 * built from C calls or from a model file whose lines read like the Keras program, compiled with
 * a loss and an optimizer, then fitted, evaluated, used to predict and saved as one safetensors
 * file that holds both the weights and the model text.
 *
 *     fv_model *m = fv_model_new();
 *     fv_model_add(m, "input shape=28,28,1");
 *     fv_model_add(m, "conv2d filters=32 kernel_size=3 activation=relu");
 *     fv_model_add(m, "flatten");
 *     fv_model_add(m, "dense units=10 activation=softmax");
 *     fv_model_compile(m, "loss=categorical_crossentropy optimizer=adam");
 *     fv_fit_opts fit = fv_fit_defaults();
 *     fit.batch_size = 128;
 *     fv_model_fit(m, train, &fit, &history);
 *
 * Conventions (Keras' own): tensors are channels-last (NHWC) float32; a Conv2D kernel is
 * (kh, kw, in_channels, filters); a Dense kernel is (in, units); Flatten flattens (H, W, C);
 * argument names, defaults and default layer names are Keras'.
 *
 * Errors: every function that can fail returns an fv_status (or NULL) and leaves a message for
 * the calling thread in fv_last_error(). The library never prints (except to a FILE* you pass),
 * never exits and never aborts on anything a caller can cause.
 *
 * Ownership: every _new or _load has a _free that accepts NULL. Objects are independent: two
 * models may be used at once from two threads; one object must not be used from two threads at
 * once. There is no global mutable state.
 *
 * Threads: OpenMP. fv_set_threads() or the FOVEA_THREADS (else OMP_NUM_THREADS) environment
 * variable set the count.
 */
#ifndef FOVEA_H
#define FOVEA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FV_VERSION "0.1.0"

typedef enum fv_status {
    FV_OK = 0,
    FV_ERR_INVALID,     /* a bad argument, name or value */
    FV_ERR_SHAPE,       /* shapes that do not fit together */
    FV_ERR_NOMEM,       /* an allocation failed or a size overflowed */
    FV_ERR_IO,          /* a file could not be opened, read or written */
    FV_ERR_FORMAT,      /* a file's contents are malformed */
    FV_ERR_NUMERIC,     /* a loss or weight became NaN or infinite */
    FV_ERR_INTERRUPTED, /* a callback asked to stop */
    FV_ERR_STATE        /* a call made in the wrong order (fit before compile, say) */
} fv_status;

/* A short name for a status ("invalid argument"). Never NULL. */
const char *fv_status_str(fv_status s);

/* The message of the last failure on the calling thread ("" if none). Valid until the next
 * fovea call on this thread. */
const char *fv_last_error(void);

/* Threads used by all fovea work of this process from now on; n <= 0 restores the default
 * (FOVEA_THREADS if set to a positive count, else OMP_NUM_THREADS's first level, else all cores).
 * Returns the count in effect. */
int fv_set_threads(int n);

/* The vector instruction set the kernels (GEMM, convolution) run: "avx512", "avx2" or
 * "generic", the best this CPU has unless fv_set_kernel_path chose another. */
const char *fv_kernel_path(void);
/* Runs the kernels of this process on the named path from now on ("auto" or NULL: the best this
 * CPU has). Results are bit-identical for any thread count on each path; paths may differ in the
 * last bits (avx512 and avx2 give the same bits). FV_ERR_INVALID, naming the paths this CPU has,
 * for an unknown name or one this CPU lacks. Call it before any training or inference runs. */
fv_status fv_set_kernel_path(const char *name);

/* ---------------------------------------------------------------------------------------------
 * Datasets: images kept as uint8 (scaled by 1/255 per batch) or features as float32, with
 * integer class labels or float targets. */

typedef struct fv_dataset fv_dataset;

/* Reads an IDX image file (rank 3: N,H,W; or rank 4: N,H,W,C; uint8) and an IDX label file
 * (rank 1, uint8), each gzipped or not. labels_path may be NULL (images only). */
fv_dataset *fv_dataset_load_idx(const char *images_path, const char *labels_path);

/* Reads the standard four MNIST files from a folder (train-images-idx3-ubyte[.gz], ...).
 * train or test may be NULL if not wanted. */
fv_status fv_dataset_load_idx_dir(const char *dir, fv_dataset **train, fv_dataset **test);

/* Reads a CSV table with a header row of column names and numeric cells. label_column names the
 * label column (NULL: the last). Labels that are all whole numbers from 0 become class ids; a
 * label column of words (class names, "setosa") becomes class ids in sorted order of the names
 * (fv_dataset_class_names); a column mixing words and numbers is FV_ERR_FORMAT naming the line.
 * Other numbers are float targets; a classifier refuses them at fit or evaluate, naming the file,
 * line and column of the first that is not a class index. Text as fv_model_parse_file reads it
 * (a byte-order mark, LF, CRLF or CR line ends; UTF-8 only). */
fv_dataset *fv_dataset_load_csv(const char *path, const char *label_column);

/* Reads a float32 .npy array (rank >= 2, first axis samples), features only. */
fv_dataset *fv_dataset_load_npy(const char *path);

/* Adds labels read from a .npy file (float32 or uint8) to a dataset of features without labels
 * (from .npy or IDX images): shape (N,) or (N, 1), as Keras' sparse_categorical_crossentropy
 * takes them (whole numbers from 0 become class ids; other numbers are float targets), or (N, K)
 * rows (one-hot rows become class ids; other rows are float targets of a regression). N must be
 * the dataset's count. A classifier then refuses rows of another width than its outputs
 * ("y.npy has shape (5, 3); the model's output is (None, 10): ...") and labels that are not
 * class indices, naming the file and sample. FV_ERR_SHAPE for another rank or count. */
fv_status fv_dataset_load_labels_npy(fv_dataset *d, const char *path);

/* The targets of one output of a model (Keras' `y` given as a dict by output name; for a model
 * with one output they take the place of the dataset's own labels): n rows (the dataset's count)
 * of k values, copied — class indices (k = 1, whole numbers
 * from 0) or one-hot rows for the cross-entropies, the values themselves for mse and mae. Checked
 * against the output's shape and loss when training or evaluating starts. The _npy form reads
 * them from a .npy file of shape (N,), (N, 1) or (N, K), float32 or uint8, as
 * fv_dataset_load_labels_npy does. FV_ERR_INVALID for an output named twice. */
fv_status fv_dataset_add_output(fv_dataset *d, const char *output, int64_t k, const float *values);
fv_status fv_dataset_add_output_npy(fv_dataset *d, const char *output, const char *path);

/* The array of one more input of a model with several inputs (Keras' `x` as a dict): the
 * dataset's own samples feed the model's first input, and this array (n samples of shape
 * dims[0..rank), float, copied; or a .npy file) the input named `input`. Its shape is checked
 * against the input's when training, evaluating or predicting starts. FV_ERR_SHAPE if the sample
 * count differs from the dataset's, FV_ERR_INVALID for an input named twice. */
fv_status fv_dataset_add_input(fv_dataset *d, const char *input, int rank, const int64_t *dims,
                               const float *x);
fv_status fv_dataset_add_input_npy(fv_dataset *d, const char *input, const char *path);

/* A dataset from memory (copied). Sample shape is rank dims[]. labels may be NULL. */
fv_dataset *fv_dataset_from_u8(int64_t n, int rank, const int64_t *dims, const uint8_t *x,
                               const int32_t *labels);
fv_dataset *fv_dataset_from_f32(int64_t n, int rank, const int64_t *dims, const float *x,
                                const int32_t *labels);

/* Splits off the last fraction (0 < frac < 1) of samples as a new dataset, as Keras'
 * validation_split does (before any shuffling). The source keeps the first part. */
fv_dataset *fv_dataset_split_tail(fv_dataset *d, double frac);

/* A new dataset holding the first n samples (n clamped to the count). */
fv_dataset *fv_dataset_head(const fv_dataset *d, int64_t n);

int64_t fv_dataset_count(const fv_dataset *d);
/* Sample shape: writes up to 4 dims, returns the rank. */
int fv_dataset_shape(const fv_dataset *d, int64_t dims[4]);
/* Class count (max label + 1), 0 if the dataset has no labels. */
int64_t fv_dataset_classes(const fv_dataset *d);
/* Labels of all samples, or NULL if none. Owned by the dataset. */
const int32_t *fv_dataset_labels(const fv_dataset *d);
/* The name of the CSV column the labels came from (NULL for other data). Owned by the dataset. */
const char *fv_dataset_label_column(const fv_dataset *d);
/* Class names, when the CSV label column held names rather than numbers ("setosa"): the
 * distinct names in sorted order, label i naming class_names[i] (or the names given to
 * fv_dataset_use_class_names). NULL (and *n = 0) for numeric labels. Owned by the dataset. */
const char *const *fv_dataset_class_names(const fv_dataset *d, int64_t *n);
/* Renumbers labels given as names to the classes of a trained model (names[0..n), as
 * fv_model_class_names gives them), so that a test table whose names are a subset or in
 * another order gets the model's indices. A name not among them is FV_ERR_INVALID naming the
 * file, line and column; names for a model trained on numeric labels (n == 0) too. Numeric
 * labels are left as they are. */
fv_status fv_dataset_use_class_names(fv_dataset *d, const char *const *names, int64_t n);
/* Checks that the samples have a model's input shape dims[0..rank) (fv_model_input_shape):
 * exactly that, or (H, W) for an (H, W, 1) input. A flat row is accepted only by a rank-1
 * (features) input: an image model does not reshape rows, nor a rank-1 model flatten images.
 * FV_ERR_SHAPE otherwise, naming the file and both shapes with the samples first:
 * "x.npy has shape (2, 3, 4, 4); the model's input is (None, 4, 4, 3): channels last ...".
 * fv_model_fit, fv_model_evaluate and fv_model_predict make the same check. */
fv_status fv_dataset_check_shape(const fv_dataset *d, int rank, const int64_t *dims);
/* Copies sample i as float32 (scaled by 1/255 for uint8 data) into out[sample size]. */
fv_status fv_dataset_get(const fv_dataset *d, int64_t i, float *out);
void fv_dataset_free(fv_dataset *d);

/* The name of class i (from the image folders' names or a CIFAR names file), or NULL when the
 * dataset has no class names or i is outside 0..classes-1. Owned by the dataset. */
const char *fv_dataset_class_name(const fv_dataset *d, int64_t i);
/* The file sample i was decoded from (image datasets), or NULL. Owned by the dataset. */
const char *fv_dataset_file(const fv_dataset *d, int64_t i);

/* ---- Image files ----
 * PNG (libpng: 1 to 16 bits, grey, grey+alpha, RGB, RGBA, palette with or without tRNS,
 * interlaced), JPEG (libjpeg-turbo: baseline and progressive, grey, YCbCr/RGB, CMYK and YCCK),
 * BMP and GIF (stb_image from Debian's libstb; GIF: the first frame), recognised by their first
 * bytes, not their extension. Every image becomes 8-bit pixels (16-bit samples keep their high
 * byte), converted to `channels` (Keras' color_mode: 1 grayscale, 3 rgb, 4 rgba; RGB to grey
 * with tf.image.rgb_to_grayscale's ITU-R 601 weights 0.2989, 0.5870, 0.1140; alpha and palette
 * transparency dropped, not composited; CMYK to RGB with TensorFlow's formula) and resized to
 * height × width as tf.image.resize does (antialias=False; bilinear: half-pixel centres) with the
 * result rounded to uint8 (Keras keeps float32: a difference of at most 0.5/255). Pixels reach
 * the model as value/255, as for IDX data. */

/* Pillow's decompression-bomb limit (2 × Image.MAX_IMAGE_PIXELS): a file whose header claims
 * more pixels (height × width) is refused before any pixel memory is allocated. */
#define FV_IMAGE_MAX_PIXELS ((int64_t)178956970)

typedef enum fv_interpolation { FV_INTERP_BILINEAR = 0, FV_INTERP_NEAREST } fv_interpolation;

/* Sample order of an image dataset before any split: Keras' (classes in order; each class's
 * files by their folder's path, then by file name, as Keras' iter_valid_files), or all files
 * sorted by file name across classes (the IDX order of a folder written by `fovea data get ...
 * --format png`, whose names are the sample numbers). */
typedef enum fv_file_order { FV_ORDER_CLASS = 0, FV_ORDER_NAME } fv_file_order;

typedef struct fv_image_opts {
    int64_t height, width; /* the model's input size; 0, 0: each file's own size (one file) */
    int channels;          /* 1, 3 or 4 (Keras' color_mode grayscale, rgb, rgba); default 3 */
    fv_interpolation interpolation; /* bilinear */
    bool crop_to_aspect_ratio;      /* false: Keras' smart_resize centre crop when true */
    int64_t max_pixels;             /* 0: FV_IMAGE_MAX_PIXELS */
    bool follow_links;   /* enter folders reached through symbolic links (Keras' follow_links) */
    bool strict;         /* a file that cannot be decoded is an error, not skipped */
    fv_file_order order; /* FV_ORDER_CLASS */
    double validation_split; /* fv_dataset_load_image_dir: 0, or the fraction for validation */
    uint64_t seed;           /* the shuffle before the split (seed 42 by default) */
    /* Class names to use (Keras' class_names), e.g. the training folder's for its test folder:
     * a subfolder not in the list is an error; a listed class without a folder is empty. NULL:
     * the subfolders, sorted. */
    const char *const *class_names;
    int64_t nclass_names;
    /* Called from the calling thread: on_progress after each block of files is decoded (done of
     * total); on_skip for each file skipped (its path and the reason, which names the file) and
     * for notices about folders (an empty class folder, a symbolic link to a folder not followed,
     * a link loop: path and reason). Either may be NULL. */
    void (*on_progress)(void *user, int64_t done, int64_t total);
    void (*on_skip)(void *user, const char *path, const char *reason);
    void *user;
} fv_image_opts;

fv_image_opts fv_image_defaults(void);

/* What a load found: image files (by extension), those decoded, those skipped (the reasons went
 * to on_skip), and the classes. */
typedef struct fv_image_info {
    int64_t files, loaded, skipped, classes;
} fv_image_info;

/* Keras' image_dataset_from_directory: dir holds one subfolder per class (names sorted by byte
 * value; Keras' labels_inferred), each holding image files (any depth) with the extensions .png,
 * .jpg, .jpeg, .bmp, .gif in any case; other files and macOS "._" files are ignored; a symbolic
 * link to a file is read, one to a folder is entered only with follow_links (a loop is skipped
 * with a reason). Every file is decoded once, in parallel, into uint8 at height × width ×
 * channels (memory N·H·W·C bytes). A file that cannot be decoded is skipped and reported to
 * on_skip (strict: the load fails with its message).
 * validation_split > 0 splits as Keras does: the file list (in `order`) is shuffled with NumPy's
 * RandomState(seed).shuffle (MT19937, reproduced exactly), and the last int(split · N) files are
 * the validation set; *validation receives it (else NULL). The training set keeps the shuffled
 * order. (The array datasets' fv_dataset_split_tail takes the tail before shuffling, as Keras'
 * fit does; a class-sorted folder's tail would be one class, hence the shuffle here.)
 * Returns FV_OK, or an error naming the file or folder: no class folders, no image files, every
 * file skipped, a file too large or out of memory (FV_ERR_NOMEM). */
fv_status fv_dataset_load_image_dir(const char *dir, const fv_image_opts *o, fv_dataset **train,
                                    fv_dataset **validation, fv_image_info *info);

/* The given image files, in order, without labels (for prediction). A file that cannot be decoded
 * is skipped (on_skip) unless strict. */
fv_dataset *fv_dataset_load_image_files(const char *const *paths, int64_t n, const fv_image_opts *o,
                                        fv_image_info *info);

/* One image file decoded and converted as above; o->height, o->width 0 keep its size. *pixels
 * (malloc'd, h × w × channels bytes) receives it. */
fv_status fv_image_read(const char *path, const fv_image_opts *o, uint8_t **pixels, int64_t *height,
                        int64_t *width);

/* CIFAR's binary format (https://www.cs.toronto.edu/~kriz/cifar.html): records of label byte(s)
 * and 3,072 pixel bytes (1,024 per channel R, G, B, rows top to bottom), 32 × 32 × 3 samples.
 * CIFAR-10: dir holds data_batch_1.bin ... data_batch_5.bin (those present, in order) and
 * test_batch.bin, names from batches.meta.txt. CIFAR-100: train.bin and test.bin with a coarse
 * then a fine label byte; label_mode "fine" (NULL) or "coarse", names from fine_label_names.txt
 * or coarse_label_names.txt. A names file is optional; when present it must name every class.
 * train or test may be NULL if not wanted; a missing test file leaves *test NULL. */
fv_status fv_dataset_load_cifar(const char *dir, const char *label_mode, fv_dataset **train,
                                fv_dataset **test);

/* ---------------------------------------------------------------------------------------------
 * Models */

typedef struct fv_model fv_model;

typedef enum fv_activation {
    FV_ACT_LINEAR = 0,
    FV_ACT_RELU,
    FV_ACT_SIGMOID,
    FV_ACT_TANH,
    FV_ACT_LEAKY_RELU, /* as an argument: negative_slope 0.2 (Keras); the layer: 0.3 */
    FV_ACT_ELU,        /* alpha 1.0 */
    FV_ACT_SOFTMAX
} fv_activation;

typedef enum fv_padding { FV_PAD_VALID = 0, FV_PAD_SAME } fv_padding;

/* An empty Sequential model. NULL if out of memory. */
fv_model *fv_model_new(void);
void fv_model_free(fv_model *m);

/* Adds a layer or applies a directive, written as one line of a model file:
 *   "input shape=28,28,1 name=image"
 *   "conv2d filters=32 kernel_size=3 strides=1 padding=valid dilation_rate=1 activation=relu"
 *   "add name=res inputs=r0,bn_b"
 *   "model outputs=class,box"
 *   "compile loss=categorical_crossentropy optimizer=adam learning_rate=0.001"
 *   "fit batch_size=128 epochs=5"
 * A model is a graph of layers, as Keras' Functional API builds it. A layer reads the previous
 * line's output (an input line's or a layer's) unless inputs=NAME[,NAME...] names earlier
 * layers or inputs, by name= or by Keras' default name (conv2d_1, add, input_layer, ...).
 * Several input lines make several inputs; `model outputs=` names the outputs (default: the last
 * layer). Every layer takes name= and trainable=true|false (false: its weights are frozen, and a
 * frozen batch_normalization runs in inference mode, as in Keras). Unknown layer kinds, argument
 * names or values, names not yet defined and shapes that do not fit are errors naming the
 * argument and the shapes, never defaults. Shapes are checked as each layer is added; that every
 * layer's output is read (or is an output) is checked when the model is first run. */
fv_status fv_model_add(fv_model *m, const char *line);

/* Typed constructors for the common cases; each is the same as the model-file line with the
 * given arguments and Keras' defaults for the rest. name may be NULL (Keras' default name). */
fv_status fv_model_add_input(fv_model *m, int rank, const int64_t *dims);
fv_status fv_model_add_conv2d(fv_model *m, int64_t filters, int64_t kernel_size, int64_t strides,
                              fv_padding padding, fv_activation activation);
fv_status fv_model_add_maxpool2d(fv_model *m, int64_t pool_size);
fv_status fv_model_add_dropout(fv_model *m, double rate);
fv_status fv_model_add_flatten(fv_model *m);
fv_status fv_model_add_dense(fv_model *m, int64_t units, fv_activation activation);
fv_status fv_model_add_activation(fv_model *m, fv_activation activation);

/* Parses a whole model file (layers and optional compile and fit lines). Errors name the file
 * and line. A UTF-8 byte-order mark is skipped and LF, CRLF and CR line ends are all accepted; a
 * NUL byte or invalid UTF-8 is refused with its line and byte offset. NULL on failure (see
 * fv_last_error). */
fv_model *fv_model_parse_file(const char *path);
/* The same from a string; origin names it in error messages. */
fv_model *fv_model_parse_string(const char *text, const char *origin);

/* The canonical model text (every layer, compile and fit line), as stored in saved files.
 * Caller frees with free(). NULL if out of memory. */
char *fv_model_to_text(const fv_model *m);

/* Sets loss, optimizer and metrics, as the model file's compile line does: same syntax.
 * Keys: loss, optimizer (adam|sgd), learning_rate, beta_1, beta_2, epsilon, momentum,
 * nesterov, metrics, seed, precision (fp32|bf16: fv_model_set_precision), conv_algorithm
 * (direct|winograd: fv_model_set_conv_algorithm). Calling it again
 * replaces earlier values. */
fv_status fv_model_compile(fv_model *m, const char *args);

/* The arithmetic of the model's dense and conv2d layers: "fp32" (the default) or "bf16" (also
 * the compile line's precision=bf16): bf16 products with fp32 accumulation (AMX-BF16 where Linux
 * grants it, else AVX512_BF16) in the dense layers' three GEMMs, in conv2d's forward where a
 * kernel row's taps come in pairs (k_w·in_c even; else that layer's forward stays fp32), in
 * conv2d's weight gradient, and in its input gradient where its list kernels apply (k_w·in_c a
 * multiple of 8); weights, optimizer state, gradients, the loss and all other layers stay
 * fp32. May be set on a trained model (inference in bf16 of a model trained in fp32, or
 * the reverse: `fovea predict --precision`). Each bf16 output is within
 * (2^-7 + (K+1)·2^-23)·Σ|a·b| of the exact product (K the depth; kernels/bf16.h).
 * Bit-identical for any thread count per precision and instruction set; AMX and AVX512_BF16
 * differ by rounding. FV_ERR_INVALID for another name, or for "bf16" on a CPU with neither
 * instruction set (the message says so: fovea does not run bf16 emulated). A compiled model
 * records it in its compile line. */
fv_status fv_model_set_precision(fv_model *m, const char *precision);
/* "fp32" or "bf16". */
const char *fv_model_precision(const fv_model *m);

/* The algorithm of the model's conv2d layers: "direct" (the default: implicit GEMM) or
 * "winograd" (also the compile line's conv_algorithm=winograd; oneDNN's names are
 * convolution_direct and convolution_winograd): every conv2d layer with a 3×3 kernel, strides 1,
 * dilation 1 (any padding) and 16 channels or more in and out (below, the transforms cost more
 * than they save) computes its forward and its input gradient by Winograd
 * F(2×2, 3×3) (Lavin & Gray, CVPR 2016): 2.25× fewer multiplies, at a larger rounding error
 * (each output within (in_c + 13)·2^-24 times the transform's sum of magnitudes; kernels.h,
 * fv_conv_winograd_applies). The weight gradient of the 3×3 stride-1 layers (dilation 1) with 8
 * channels or more in and filters in 16s likewise (kernels.h, fv_conv_dw_wino_images; where it
 * measured faster). Everything else stays direct;
 * at precision=bf16 the bf16 kernels stay (Winograd is fp32 only). Bit-identical for any thread
 * count per instruction set, as the direct kernels. May be set on a trained model (inference
 * with either). FV_ERR_INVALID for another name. A compiled model records winograd in its
 * compile line, and so in saved models and checkpoints (direct, the default, is left out: a run
 * that names it is the same run). */
fv_status fv_model_set_conv_algorithm(fv_model *m, const char *algorithm);
/* "direct" or "winograd". */
const char *fv_model_conv_algorithm(const fv_model *m);

/* Prints Keras' summary table (name, output shape, parameter count, totals). */
fv_status fv_model_summary(const fv_model *m, FILE *out);

int64_t fv_model_param_count(const fv_model *m);
int fv_model_layer_count(const fv_model *m);
/* Layer i's name ("conv2d_1"), kind ("conv2d") and output shape per sample. */
const char *fv_model_layer_name(const fv_model *m, int i);
const char *fv_model_layer_kind(const fv_model *m, int i);
int fv_model_layer_shape(const fv_model *m, int i, int64_t dims[4]);
/* The value of layer i's argument `key` as model-file text, given or default (Keras' get_config
 * for one key): "mean" for a sampling layer's inference=mean, "2" for strides=2,2, "None" for an
 * unset optional one. Writes it into buf (NUL-terminated; n bytes at most). Returns FV_OK;
 * FV_ERR_INVALID when i is not a layer or the layer's kind has no argument `key` (buf is then "");
 * FV_ERR_NOMEM when the text needs more than n bytes (buf holds its first n - 1). */
fv_status fv_model_layer_arg(const fv_model *m, int i, const char *key, char *buf, size_t n);
/* Per-sample input and output sizes in floats (the first input, the first output). */
int64_t fv_model_input_size(const fv_model *m);
int64_t fv_model_output_size(const fv_model *m);
/* Trainable parameters: those of layers not frozen, without state tensors (BatchNormalization's
 * moving statistics), as Keras' summary counts them. */
int64_t fv_model_trainable_param_count(const fv_model *m);
/* The model's inputs and outputs, in the order of the input lines and of `model outputs=`: their
 * count, name and per-sample shape (no batch axis; rank returned, dims filled; 0 if k is out of
 * range or the model has no input yet). */
int fv_model_input_count(const fv_model *m);
const char *fv_model_input_name(const fv_model *m, int k);
int fv_model_input_shape(const fv_model *m, int k, int64_t dims[4]);
int fv_model_output_count(const fv_model *m);
const char *fv_model_output_name(const fv_model *m, int k);
/* The loss compile gave output k, by its name: Keras' ("categorical_crossentropy",
 * "mean_squared_error", ...) or the task loss of the output's layer ("pose", "yolo", ...); NULL
 * before compile or when k is out of range. The string is static. */
const char *fv_model_output_loss(const fv_model *m, int k);
int fv_model_output_shape(const fv_model *m, int k, int64_t dims[4]);

/* Parameter access by tensor name ("conv2d.kernel", "dense_1.bias"): pointer to the live
 * float32 data in Keras layout, and its shape. NULL if no such tensor (or not yet built). */
float *fv_model_param(fv_model *m, const char *tensor, int *rank, int64_t dims[4]);

/* ---------------------------------------------------------------------------------------------
 * Training */

typedef struct fv_history fv_history;

/* What a callback sees: the running (training) or final (epoch end) figures by name. */
typedef struct fv_logs {
    int64_t epoch; /* 0-based */
    int64_t epochs;
    int64_t step;             /* steps done in this epoch */
    int64_t steps;            /* steps per epoch */
    double seconds;           /* since the epoch began */
    int count;                /* entries in names/values */
    const char *const *names; /* "loss", "accuracy", "val_loss", "val_accuracy" ... */
    const double *values;
} fv_logs;

/* A callback returns false to stop training (fit then returns FV_ERR_INTERRUPTED after the
 * current step). */
typedef bool (*fv_callback)(void *user, const fv_logs *logs);

/* Columns of the history and of the logs: loss and each compile metric (canonical names:
 * accuracy, crossentropy, precision, recall, f1, auc, prc, map, mse, rmse, mae), sorted by name;
 * then the same with val_ when there is validation data; then lr when reduce_lr_on_plateau is
 * on (the learning rate used during the epoch, before the callback lowers it). on_batch sees
 * the training columns only, as running figures over the epoch so far (exact, not averages of
 * batch figures; auc, prc and map are refreshed whenever the samples seen have doubled, and
 * exactly at the last step); on_epoch sees them all.
 *
 * Callbacks (Keras' EarlyStopping, ReduceLROnPlateau and ModelCheckpoint(save_best_only=True),
 * with Keras' defaults) monitor one column by name ("val_loss", "val_accuracy", "loss", ...); it
 * must exist in this fit, or fit fails before training. Keras' mode 'auto': larger is better for
 * accuracy, precision, recall, f1, auc, prc and map (with or without val_), smaller for the
 * rest. The fit line of a model file sets them as `early_stopping=val_loss patience=3
 * min_delta=0 restore_best_weights=true` and `reduce_lr_on_plateau=val_loss lr_factor=0.1
 * lr_patience=10 lr_min_delta=1e-4 lr_cooldown=0 min_lr=0`.
 *  - early stopping: an epoch improves when its value beats the best by more than min_delta;
 *    after `patience` epochs in a row without improvement (and not in the first epoch) training
 *    stops after that epoch, with FV_OK. restore_best_weights then puts back the weights of the
 *    best epoch (only when it stops early, as Keras does).
 *  - reduce_lr_on_plateau: after lr_patience epochs without an improvement of more than
 *    lr_min_delta, the learning rate becomes max(lr · lr_factor, min_lr) (if above min_lr), then
 *    waits lr_cooldown epochs before counting again. The rate is kept in double.
 *  - save_best: fv_model_save to this path (atomically) after every epoch whose monitored value
 *    is strictly better than all before it.
 *
 * Checkpoints: with checkpoint_dir, fit writes DIR/checkpoint.safetensors at the end of every
 * epoch (atomically: a temporary file, fsync, rename; a crash at any moment leaves the last
 * complete one), holding the weights (as fv_model_save names them, so fv_model_load reads a
 * checkpoint as a model), the optimizer's slots ("optimizer.m", "optimizer.v" for Adam,
 * "optimizer.velocity" for SGD with momentum: flat, in the order of the weights) and, in the
 * metadata entry "fovea.checkpoint" (JSON), the epochs done, the optimizer's step count and
 * learning rate, the dropout step counter, the callbacks' state, the history so far and a
 * description of the run (model, seed, batch size, shuffling, data sizes and a hash of the
 * data). With resume, fit first restores all of that from DIR and continues with the next
 * epoch up to opts->epochs (which may be larger than before); with no checkpoint in DIR yet it
 * starts afresh. Each epoch's order of samples is a function of (seed, epoch) and each step's
 * dropout masks of (seed, step), so a run stopped at any moment and resumed ends with exactly
 * the weights and history, bit for bit, of one that never stopped. A checkpoint written by a
 * different run (another model, seed, batch size, data, callbacks) is refused with
 * FV_ERR_STATE, naming the first difference. A folder is used by one fit at a time (a lock).
 *
 * Failures: a loss that becomes NaN or infinite stops training with FV_ERR_NUMERIC and a
 * message naming the epoch and step (the update that step would make is not applied; the
 * checkpoint of the last complete epoch stays as it was), as do weights or a validation loss
 * that are not finite at the end of an epoch. Memory for a batch size that cannot fit (more than
 * the machine's physical memory, or a size that overflows) is FV_ERR_NOMEM before any step. */
typedef struct fv_fit_opts {
    int64_t batch_size;                /* Keras default 32 */
    int64_t epochs;                    /* 1 */
    bool shuffle;                      /* true: reshuffle the training samples every epoch */
    double validation_split;           /* 0: none; else the last fraction, taken before shuffling */
    const fv_dataset *validation_data; /* used when validation_split is 0; may be NULL */
    uint64_t seed;                     /* weights initialisation, shuffling and dropout */
    fv_callback on_batch;              /* after every step (may be NULL) */
    fv_callback on_epoch; /* after every epoch, with validation figures (may be NULL) */
    void *user;

    /* Callbacks (see above); strings are read during fv_model_fit only. */
    const char *early_stopping;       /* monitored column, NULL: off */
    int64_t patience;                 /* 0 */
    double min_delta;                 /* 0 */
    bool restore_best_weights;        /* false */
    const char *reduce_lr_on_plateau; /* monitored column, NULL: off */
    double lr_factor;                 /* 0.1; in (0, 1) */
    int64_t lr_patience;              /* 10 */
    double lr_min_delta;              /* 1e-4 */
    int64_t lr_cooldown;              /* 0 */
    double min_lr;                    /* 0 */
    const char *save_best;            /* a path for the best model so far, NULL: off */
    const char *save_best_monitor;    /* NULL: "val_loss" */

    /* Checkpoints (see above). */
    const char *checkpoint_dir; /* NULL: none; created if missing (one level) */
    bool resume;                /* continue from checkpoint_dir's checkpoint */

    /* Data-parallel training (see fv_collective below); NULL: this process trains alone. */
    const struct fv_collective *collective;
} fv_fit_opts;

/* Data-parallel training: P processes each train on a slice of every batch and get the same
 * weights and history, bit for bit, as one process training alone on the whole batches.
 * A batch of N samples is cut into FV_BATCH_CHUNKS chunks (chunk c: samples [c·N/16,
 * (c+1)·N/16), empty ones included); process q holds chunks [q·16/P, (q+1)·16/P). Every process
 * must hold the same model, weights, data and options; each computes the forward and backward
 * pass of its slice, and fovea calls the hooks below, in the same order on every process, to
 * combine what depends on the whole batch: the parameter gradients (sum), BatchNormalization's
 * batch statistics, and the outputs from which the loss and the metrics are computed (gather).
 * The library holds no connection of its own: the caller (the fovea command, over MPI) sets
 * them up. Validation batches are split the same way. */
#define FV_BATCH_CHUNKS 16

typedef struct fv_collective {
    int size; /* processes P: a divisor of FV_BATCH_CHUNKS (1, 2, 4, 8 or 16) */
    int rank; /* this process, in [0, P) */
    void *ctx;
    /* buf holds the processes' parts end to end, process q's part being bytes [off[q],
     * off[q + 1]) (off has P + 1 entries); this process has filled its own. On return every
     * part is filled, on every process (MPI_Allgatherv). A failure ends the fit with it. */
    fv_status (*gather)(void *ctx, void *buf, const size_t *off);
    /* Replaces a[0..n) on every process by the sum over the processes of their arrays, added as
     * a balanced binary tree over the ranks in order, ((a0 + a1) + (a2 + a3)) + ..., the same on
     * every process (not MPI_Allreduce, whose order is unspecified): these are the top levels of
     * the tree whose lower levels each process has added over its own chunks. */
    fv_status (*sum)(void *ctx, float *a, int64_t n);
} fv_collective;

/* Keras' defaults: batch 32, 1 epoch, shuffle, no validation; seed 42; callbacks off with
 * Keras' settings; no checkpoint. The library prints nothing: progress is reported through the
 * callbacks (the fovea command draws Keras' bar). */
fv_fit_opts fv_fit_defaults(void);

/* The fit options a model file's `fit` line set (Keras' defaults where it set none). Its
 * strings point into the model and stay valid until the model is freed or its fit line
 * changes. */
fv_fit_opts fv_model_fit_opts(const fv_model *m);

/* The fit line's target= ("input": the model's input is the target of its outputs, Keras'
 * fit(x, x), as autoencoders train), or NULL when the targets are the data's labels or arrays.
 * Owned by the model. */
const char *fv_model_target(const fv_model *m);

/* The fit line's gan= (the generator's output layer, where the discriminator begins: the model
 * is a GAN, trained by fv_model_fit with the two networks alternating), or NULL. */
const char *fv_model_gan(const fv_model *m);

/* Trains. The model must be compiled. history may be NULL; otherwise *history receives a new
 * history (free with fv_history_free) even when training stops early. Weights are initialised
 * on the first fit (or load) from opts->seed. */
fv_status fv_model_fit(fv_model *m, const fv_dataset *train, const fv_fit_opts *opts,
                       fv_history **history);

/* What the last fv_model_fit did, also while it runs (read it from on_epoch: it is updated
 * before on_epoch is called). Epochs are 0-based indices; counts count epochs. */
typedef struct fv_fit_info {
    int64_t initial_epoch;     /* epochs restored from a checkpoint (0: a fresh run) */
    int64_t epochs_done;       /* epochs completed, restored ones included */
    int64_t checkpoint_epochs; /* epochs held by the checkpoint now in checkpoint_dir, 0: none */
    int64_t stopped_epoch;     /* the epoch after which early stopping ended training, or -1 */
    int64_t best_epoch;        /* early stopping's best epoch so far, or -1 */
    bool restored_best_weights;
    double learning_rate;     /* the optimizer's learning rate now */
    int64_t lr_reduced_epoch; /* the last epoch after which reduce_lr_on_plateau lowered it, -1 */
    int64_t save_best_epoch;  /* the last epoch written to save_best, or -1 */
} fv_fit_info;

fv_fit_info fv_model_last_fit(const fv_model *m);

/* Looks for a checkpoint in dir without loading it: *found tells whether there is one; if so,
 * *epochs_done (completed epochs) and *epochs (the epochs its run asked for) are set (either may
 * be NULL). FV_OK when there is none; FV_ERR_FORMAT or FV_ERR_IO when there is one that cannot
 * be read. */
fv_status fv_checkpoint_info(const char *dir, bool *found, int64_t *epochs_done, int64_t *epochs);

/* Loss and accuracy over a whole labelled dataset (dropout off). accuracy may be NULL; it is
 * NaN for losses without classes. */
fv_status fv_model_evaluate(fv_model *m, const fv_dataset *data, int64_t batch_size, double *loss,
                            double *accuracy);

/* The same for a model with several outputs, each with its loss (compile's loss=OUT:LOSS,...):
 * *loss receives the total (Σ weight·loss + the regularizers' penalty, as fv_model_evaluate) and
 * output_losses[j] output j's weighted loss (Keras 3's OUT_loss), for j < fv_model_output_count.
 * Targets as for fit (fv_dataset_add_output). */
fv_status fv_model_evaluate_outputs(fv_model *m, const fv_dataset *data, int64_t batch_size,
                                    double *loss, double *output_losses);

/* Final-layer outputs for every sample: out holds count × fv_model_output_size floats.
 * Inference is deterministic: a VAE's sampling layer (which samples at inference, as Keras'
 * example's) draws sample i's ε from the model's fit-line seed, i's index in this call's data
 * (from 0) and its code — the same for any batch size or thread count, here, in
 * fv_model_evaluate*, fv_model_predict_arrays and fv_model_forward*. */
fv_status fv_model_predict(fv_model *m, const fv_dataset *data, int64_t batch_size, float *out);

/* The loss's named terms beyond `loss` and each output's OUT_loss, as the history names their
 * columns: the parts of each output's task loss (a detector's box_loss, obj_loss, cls_loss; with
 * several outputs prefixed OUT_) and each layer's added loss (Keras' add_loss: the VAE sampling
 * layer's kl_loss; prefixed LAYER_ when two layers add the same term), in that order.
 * fv_model_loss_terms: how many (0 before compile); fv_model_loss_term: term k's name (owned by
 * the model, valid until it changes), NULL when k is out of range. */
int fv_model_loss_terms(const fv_model *m);
const char *fv_model_loss_term(const fv_model *m, int k);
/* As fv_model_evaluate, and terms[k] (fv_model_loss_terms(m) values; may be NULL when there are
 * none) receives each term's mean per sample over data, in inference mode. Returns FV_OK, or
 * the error of fv_model_evaluate. */
fv_status fv_model_evaluate_terms(fv_model *m, const fv_dataset *data, int64_t batch_size,
                                  double *loss, double *terms);
/* Prediction for a model with any number of inputs and outputs (Keras' model.predict with a list
 * of arrays): x[k] holds n samples of input k in NHWC float (fv_model_input_shape k), out[j]
 * receives n × (the size of output j) floats, in the order of `model outputs=`. Inference mode,
 * in batches of batch_size (<= 0: 32). FV_ERR_INVALID if an array is NULL or n < 1. */
fv_status fv_model_predict_arrays(fv_model *m, const float *const *x, int64_t n, int64_t batch_size,
                                  float *const *out);

/* Runs one batch forward (inference mode) and gives each layer's output: outputs[i] points into
 * model memory holding n × (layer i output size) floats, valid until the next model call.
 * x holds n samples (n <= batch the model was last run with, or any n: the model replans). */
fv_status fv_model_forward(fv_model *m, const float *x, int64_t n);
/* The same for a model with any number of inputs: x[k] holds n samples of input k (NHWC floats),
 * for every k < fv_model_input_count. FV_ERR_INVALID if one is NULL. */
fv_status fv_model_forward_inputs(fv_model *m, const float *const *x, int64_t n);
const float *fv_model_layer_output(const fv_model *m, int i);

/* The model's leading preprocessing layers: the chain of rescaling, normalization, resizing,
 * center_crop and random_* layers that begins at its first input (Keras 3's preprocessing
 * layers placed in the model). fv_model_augment_shape gives the per-sample shape of their
 * output (the input's when there are none): rank returned, dims filled; 0 without an input.
 * fv_model_augment runs them alone, in training mode, on x [n × input size] into
 * y [n × that size], drawing as training step `step` draws (sample i of x as sample i of that
 * step's batch, from the model's seed): what the model sees in training. affine, when not NULL,
 * receives n × 6 numbers: for sample i, the map (x', y') = (a0·x + a1·y + a2, a3·x + a4·y + a5)
 * from a point of the input image to its place in the output, in pixel coordinates (pixel
 * (r, c) covers [c, c+1) × [r, r+1)), so that boxes can move with the image. The model's
 * weights, state and memory are untouched. FV_ERR_INVALID: NULL x or y, n < 1 or step < 0;
 * FV_ERR_STATE: no input; FV_ERR_NOMEM. */
int fv_model_augment_shape(const fv_model *m, int64_t dims[4]);
/* How many layers that chain has (they are layers 0 .. count - 1). */
int fv_model_augment_layers(const fv_model *m);
fv_status fv_model_augment(fv_model *m, const float *x, int64_t n, int64_t step, float *y,
                           double *affine);
/* Keras' image datasets give pixels in 0-255 and Keras models begin with Rescaling(1./255);
 * fovea's readers already divide by 255. When a rescaling layer with scale 1/255 (within 0.1%)
 * is among the model's leading preprocessing layers and d's values (up to 256 samples spread
 * over it) all lie in [0, 1], writes a warning naming the layer, its line and the range the
 * model would see into warning[size]; else writes "". FV_ERR_INVALID on NULL arguments. */
fv_status fv_model_check_rescaling(const fv_model *m, const fv_dataset *d, char *warning,
                                   size_t size);
/* Output k's values after the last forward pass: n × (its size) floats in model memory, valid
 * until the next model call; NULL before any forward pass or if k is out of range. */
const float *fv_model_output(const fv_model *m, int k);

/* A part of the graph as a model of its own (Keras' `decoder = Model(latent_inputs, outputs)`
 * over the trained layers): runs, in inference mode, the layers that node `output` (a layer's
 * name; NULL: the model's output) needs, computed from node `from` (a layer's or an input's
 * name: a VAE's latent z, a generator's input) alone. z holds n rows of from's values (NHWC
 * floats, fv_model_node_shape), out receives n × (output's size) floats; batches of batch_size
 * (<= 0: 32). Random layers on the way (a sampling layer) draw from streams named by (seed,
 * batch, layer). FV_ERR_INVALID naming the node when a name is unknown, or naming the layer on
 * the way that reads another node (an input, a layer before from). Layer outputs read after it
 * (fv_model_layer_output) are not available: it is not a whole forward pass. */
fv_status fv_model_run_from(fv_model *m, const char *from, const char *output, const float *z,
                            int64_t n, int64_t batch_size, uint64_t seed, float *out);
/* The shape (without the batch axis) of the node named name, a layer's output or an input:
 * *rank and dims[0..rank); FV_ERR_INVALID if the model has no such node. */
fv_status fv_model_node_shape(const fv_model *m, const char *name, int *rank, int64_t dims[4]);
/* The name of the node that input j of layer i reads (a layer's or an input's), NULL if i or j
 * is out of range. */
const char *fv_model_layer_input(const fv_model *m, int i, int j);

/* Where the training steps' time goes, per layer, since the model was made or since
 * fv_model_profile_reset: wall seconds in the forward and backward passes of training steps
 * (evaluation and prediction are not counted), the samples they processed, and their
 * floating-point operations counted as the dense computation does them (2 per multiply-add;
 * a layer whose pass runs inside another's shows 0 seconds with its samples counted: the
 * BatchNormalization's Add and ReLU of a fused group, the max-pooling and dropout that a
 * convolution runs image by image, and the flatten, reshape and inference-time dropout that take
 * their input's buffer and have no pass at all;
 * 0 for layers without arithmetic worth counting, such as pooling and dropout). Convolutions
 * skip gradients that are exactly zero, so flop / seconds is a dense-equivalent rate that can
 * exceed the machine's arithmetic peak. forward_executed_flop and backward_executed_flop are the
 * FLOPs (2 per multiply-add) the layer actually performed in the same passes: Conv2D's backward
 * counts, per image, the multiply-adds of the path its kernels took (k_h·k_w·in_c per nonzero of
 * ∂L/∂z for the sparse weight and input gradients, out_h·out_w·k_h·k_w·in_c·filters for a dense
 * weight gradient or a GEMM input gradient, in_h·in_w·k_h·k_w·in_c·filters for a stride-1 input
 * gradient run as a forward convolution over the padded gradient, which for padding="valid"
 * exceeds the dense figure); with conv_algorithm=winograd, Conv2D's forward, input gradient and
 * weight gradient count Winograd's operations where they took it (2 per multiply-add of its
 * GEMMs, 1 per addition of its transforms); every other kind performs the dense computation, so its
 * executed figures equal forward_flop and backward_flop. Lanes of a vector register left empty by a
 * shape are not counted. Counting changes no result. */
typedef struct fv_layer_profile {
    double forward_s, backward_s;
    int64_t forward_samples, backward_samples;
    double forward_flop, backward_flop;
    double forward_executed_flop, backward_executed_flop;
} fv_layer_profile;
fv_status fv_model_profile(const fv_model *m, int i, fv_layer_profile *out);
void fv_model_profile_reset(fv_model *m);

/* The class names of a classifier (Keras' class_names), kept in the saved model's metadata as
 * __metadata__["fovea.class_names"] (a JSON array of strings). Set copies names[0..n); n 0
 * clears them. Get: name i, or NULL when the model has none or i is outside 0..count-1. */
fv_status fv_model_set_class_names(fv_model *m, int64_t n, const char *const *names);
int64_t fv_model_class_count(const fv_model *m);
const char *fv_model_class_name(const fv_model *m, int64_t i);

/* Weights: one safetensors file with tensors LAYER.kernel / LAYER.bias and the model text in
 * __metadata__["fovea.model"]. Save writes a temporary file and renames it, so an existing
 * file is never left half-written. */
fv_status fv_model_save(const fv_model *m, const char *path);
/* A model from a file written by fv_model_save. */
fv_model *fv_model_load(const char *path);
/* The labels the model was trained with: the CSV column that held them (NULL: not CSV, or not
 * known) and, for labels given as names, the class names (output unit i is class_names[i]).
 * Saved in the model file's metadata ("fovea.label_column"; "fovea.class_names", a JSON array
 * of strings) and restored by fv_model_load, so that evaluate and predict use the same column
 * and names. set copies its arguments; label_column NULL and n 0 clear them. */
fv_status fv_model_set_labels(fv_model *m, const char *label_column, const char *const *class_names,
                              int64_t n);
const char *fv_model_label_column(const fv_model *m);
/* NULL (and *n = 0) when the model knows no names. Owned by the model. */
const char *const *fv_model_class_names(const fv_model *m, int64_t *n);
/* Loads weights into a built model; every tensor must be present with the model's shapes. */
fv_status fv_model_load_weights(fv_model *m, const char *path);

/* ONNX export. The graph computes what fv_model_predict computes (inference mode: dropout
 * removed, BatchNormalization with its moving statistics) for every model output.
 *   opset: the ONNX operator set, 13 to 17 (0: 13). The file's IR version is the one of the ONNX
 *          release that introduced the opset (7 for 13-14, 8 for 15-17).
 *   batch: a fixed batch size (>= 1), or 0 for a dynamic first axis named "N".
 *   nchw:  false: each rank-3 input and output is N×H×W×C as fovea's (channels last); the graph
 *          transposes to N×C×H×W once where a convolution needs it. true: they are N×C×H×W, as
 *          PyTorch's graphs take them. Rank-1 inputs and outputs are N×units either way.
 *   class_names: the output classes' names separated by commas ("cat,dog"), or NULL for the
 *          model's own (fv_model_class_name), if any; kept in metadata_props as
 *          "fovea.class_names", a JSON array of strings as in fovea's weights files; their count
 *          must equal the first output's units.
 * Layout changes sit in the weights where a convolution or dense layer can absorb them (a
 * flatten before dense reorders the dense kernel's rows, so the graph keeps fovea's (H, W, C)
 * flatten order without a Transpose); a Transpose node is written only where nothing absorbs
 * it. Operators and the mapping of each layer kind: docs/design.md, "ONNX". */
typedef struct fv_onnx_opts {
    int opset;
    int64_t batch;
    bool nchw;
    const char *class_names;
} fv_onnx_opts;

/* Writes m (built, with weights: a loaded or trained model) as an ONNX file at path, atomically
 * (a complete file or none). Graph inputs and outputs are named after the model's inputs and
 * output layers; metadata_props holds the model text under "fovea.model", the input layout under
 * "fovea.layout" (NHWC or NCHW) and the class names if given. opts NULL: the
 * defaults above. FV_ERR_INVALID for a bad option or a layer that ONNX cannot express (the
 * message names the layer and its argument), FV_ERR_STATE when m has no weights or fovea was
 * built without ONNX (FOVEA_ONNX), FV_ERR_IO when the file cannot be written. */
fv_status fv_model_export_onnx(const fv_model *m, const char *path, const fv_onnx_opts *opts);

/* ONNX import: input_rank 0 takes the input shape from the file; else input_shape[0..rank) is
 * the sample shape in fovea's order (H, W, C or units), for files whose input axes are free.
 * compile: NULL, or the arguments of a compile line for the model ("loss=... optimizer=...":
 * ONNX files carry no loss), so that evaluate and train take the imported model. */
typedef struct fv_onnx_import_opts {
    int input_rank;
    int64_t input_shape[4];
    const char *compile;
} fv_onnx_import_opts;

/* Reads an ONNX file into a new model with its weights (not compiled; caller frees). Images are
 * converted once into fovea's channels-last layout: a graph takes N×C×H×W input (PyTorch's
 * torch.onnx.export) unless its metadata_props say fovea.layout=NHWC (fovea's own export); Conv
 * weights become (kh, kw, in, out), Gemm weights (in, units), with the rows of a dense layer
 * after a flatten of NCHW data reordered to fovea's (H, W, C) flatten. Operators: Conv (other
 * pads than Keras' same become a zero_padding2d before it; one group per channel: depthwise;
 * without bias and read only by a 1x1 Conv: separable_conv2d), ConvTranspose (conv2d_transpose,
 * with a cropping2d after it where Keras' padding cannot place ONNX's output), MaxPool (pads none
 * or Keras' same), AveragePool, Pad (zeros), Slice of rows and columns (cropping2d), Resize by
 * whole factors (upsampling2d: nearest where the operator's coordinates repeat rows, bilinear for
 * half-pixel linear), Gemm, MatMul (+ Add as bias), BatchNormalization (epsilon and momentum
 * kept), Relu, Clip from 0 (relu max_value), LeakyRelu, Elu, Sigmoid, Tanh, Softmax over channels,
 * Flatten, Add, Sub, Mul, Max, Sum, Mean, Concat, GlobalAveragePool, GlobalMaxPool, Dropout,
 * Identity, NHWC<->NCHW Transpose, Reshape keeping the batch (a flatten, or a reshape where the
 * ONNX order is fovea's), shapes and pads computed from int64 values known at import (Shape,
 * Gather, Unsqueeze, Concat, ConstantOfShape, Cast, Slice, Reshape, Transpose: PyTorch's
 * x.view(x.size(0), -1) and ZeroPad2d), Constant, and fovea's own Maxout pattern; opsets 11 to
 * 17. The file is read as hostile: its size, nesting depth
 * and message count are bounded before protobuf-c unpacks it, initializer sizes are checked against
 * their dims and type, and a node that reads a name nothing defined before it (a dangling name or a
 * cycle) is refused. Class names in metadata_props (fovea.class_names, a JSON array) become the
 * model's. NULL on failure, with one message (fv_last_error) naming the file and the node, its
 * operator and the attribute at fault. */
fv_model *fv_model_import_onnx(const char *path, const fv_onnx_import_opts *opts);

/* History: one row per epoch, columns by name. */
int64_t fv_history_epochs(const fv_history *h);
int fv_history_columns(const fv_history *h);
const char *fv_history_column_name(const fv_history *h, int col);
/* Values of a named column (epochs entries), NULL if absent. */
const double *fv_history_get(const fv_history *h, const char *name);
/* Writes CSV as Keras' CSVLogger does: epoch (from 0), then the columns sorted by name
 * (accuracy,loss,val_accuracy,val_loss), values as the shortest decimal that reads back exactly.
 * Atomic: a temporary file, then rename. */
fv_status fv_history_write_csv(const fv_history *h, const char *path);
/* Reads a history written by fv_history_write_csv or by Keras' CSVLogger: a header row with an
 * `epoch` column, then one row of numbers per epoch (nan and inf allowed). The other columns
 * become the history's, in file order. NULL on failure (missing or empty file, no `epoch`,
 * rows of the wrong length, cells that are not numbers), with a message naming the file, line
 * and column. Free with fv_history_free. */
fv_history *fv_history_read_csv(const char *path);
void fv_history_free(fv_history *h);

/* ---- Pictures ---- */
/* Pictures of a model and its training, drawn with cairo: the training curves of the seed
 * ("Model accuracy", "Model loss"), the kernels of a convolution, the feature maps of one input,
 * a confusion matrix with the per-class table, and the activation functions.
 *
 *     fv_picture *p = fv_plot_history(history, NULL);
 *     if (!p || fv_picture_save(p, "curves.png") != FV_OK) fprintf(stderr, "%s\n",
 * fv_last_error()); fv_picture_free(p);
 *
 * A picture is drawn once and written at its natural size in pixels as PNG or SVG (the same
 * drawing). Colour maps: kernels use one symmetric scale for the whole layer, blue negative,
 * white zero, red positive; feature maps scale each channel to its own min..max. */

typedef struct fv_picture fv_picture;
typedef struct fv_metrics fv_metrics;

/* Training curves, one panel per metric, epochs (from 1) on x, the training values and the
 * validation ones (val_NAME) with a legend 'Train' / 'Validation'. metrics: comma-separated
 * column names ("accuracy,loss"); NULL or "" for every training column of the history
 * (accuracy first, then loss, then the rest in file order; 'acc' counts as 'accuracy'). A named
 * column that the history lacks, or no 'loss' column when metrics is NULL, is FV_ERR_INVALID
 * with a message naming the column and listing the history's. */
fv_picture *fv_plot_history(const fv_history *h, const char *metrics);

/* The kernels of a conv2d layer (layer NULL: the first one): one row per filter and one tile
 * per input channel, or the filters side by side in a grid when there is one input channel;
 * each tile labelled, with a colour bar. A layer that is absent or not a convolution is
 * FV_ERR_INVALID naming it and listing the model's conv2d layers. The model must hold weights
 * (loaded or initialised). */
fv_picture *fv_plot_kernels(fv_model *m, const char *layer);

/* Runs one sample x (the model's input size, floats) through the model and draws it (shape
 * dims[0..rank), rank 2 or 3: H,W[,C]; C 1 is grey, 3 is RGB) followed by the output of every
 * layer with an (H, W, C) output except dropout (conv2d, pooling, activations), one tile per
 * channel, each section titled with the layer's name and shape. caption (may be NULL) is
 * printed under the title; cmap: "viridis" (NULL) or "grey". */
fv_picture *fv_plot_features(fv_model *m, const float *x, int rank, const int64_t *dims,
                             const char *caption, const char *cmap);

/* The confusion matrix of a classifier's metrics (cells coloured by the fraction of the true
 * class, counts written in them, class names on both axes) beside the per-class precision,
 * recall, F1 and support table with its averages. class_names: fv_metrics_classes strings or
 * NULL for the indices. title may be NULL. FV_ERR_INVALID for regression metrics. */
fv_picture *fv_plot_confusion(const fv_metrics *m, const char *const *class_names,
                              const char *title);

/* Each activation of the seed's list (sigmoid, tanh, ReLU, leaky ReLU, ELU, maxout) and its
 * derivative, computed by fovea's own kernels, one panel each. */
fv_picture *fv_plot_activations(void);
/* What the model sees in training: the image x (the model's input shape) and `copies` (1..64)
 * copies of it through the model's leading preprocessing layers as training step `step` draws
 * them (fv_model_augment), in a grid titled with caption (NULL: none) and the chain of layers.
 * The original keeps its own grey or colour scale; the copies share one. */
fv_picture *fv_plot_augment(fv_model *m, const float *x, int64_t copies, int64_t step,
                            const char *caption);

/* A grid of images, cols to a row: images holds n images of shape dims[0..rank) (H, W[, C], C 1
 * grey or 3 RGB) one after the other, values lo..hi drawn black..white (0..1 for pixels, -1..1
 * for a tanh generator's). title and subtitle may be NULL; row_labels (NULL, or one string or
 * NULL per row) are written left of the rows. Each tile is a region "tile R C" (row, column from
 * 0). FV_ERR_SHAPE for another image shape, FV_ERR_INVALID for no images or lo >= hi. */
fv_picture *fv_plot_image_grid(const float *images, int64_t n, int rank, const int64_t *dims,
                               int64_t cols, double lo, double hi, const char *title,
                               const char *subtitle, const char *const *row_labels);

/* A latent space, as Keras' VAE example draws it: points [n × 2] (codes, or their first two
 * principal components) as a scatter plot coloured by labels[i] in [0, nclasses) with a legend of
 * class_names (NULL: the indices; labels NULL: one colour, no legend), axes xlabel and ylabel;
 * and, when manifold is not NULL, beside it the grid × grid images decoded from a regular grid of
 * codes over [zlo, zhi]² (shape dims[0..rank) as in fv_plot_image_grid, values 0..1): row r,
 * column k decoded from (zlo + k·s, zhi − r·s), s = (zhi − zlo)/(grid − 1), the first code
 * running left to right and the second bottom to top, with ticks. Regions "scatter" (the plot
 * area, with its data range) and "manifold". title may be NULL. */
fv_picture *fv_plot_latent(const float *points, int64_t n, const int32_t *labels,
                           const char *const *class_names, int64_t nclasses, const char *xlabel,
                           const char *ylabel, const char *title, const float *manifold,
                           int64_t grid, int rank, const int64_t *dims, double zlo, double zhi);

/* Size in pixels (0 for NULL). */
int fv_picture_width(const fv_picture *p);
int fv_picture_height(const fv_picture *p);

/* Writes the picture as PNG or SVG, by the file name's extension (.png, .svg; any case);
 * another extension is FV_ERR_INVALID. Atomic: a temporary file, then rename. */
fv_status fv_picture_save(const fv_picture *p, const char *path);

/* The picture encoded in memory as "png" or "svg": *data is malloc'd (the caller frees it with
 * free()) and NUL-terminated after *len bytes. */
fv_status fv_picture_encode(const fv_picture *p, const char *format, unsigned char **data,
                            size_t *len);

void fv_picture_free(fv_picture *p);

/* ---- Metrics ---- */
/* Evaluation metrics of a classifier or a regression model over a whole dataset, computed
 * exactly in double (AUCs from sorted scores, not from a histogram of thresholds) and tested
 * against scikit-learn.
 *
 *     fv_metrics *m = fv_metrics_classification(scores, labels, n, k);
 *     if (!m) fprintf(stderr, "%s\n", fv_last_error());
 *     printf("macro F1 %.4f\n", fv_metrics_get(m, "f1_macro"));
 *     fv_metrics_write_text(m, stdout, "accuracy,precision,recall,f1,confusion_matrix", NULL);
 *     fv_metrics_free(m);
 *
 * Inputs. A classifier gives scores [n × k], row i the predicted probabilities of sample i, and
 * labels [n] in 0..k-1. k == 1 is a binary classifier whose one column is p = P(class 1), with
 * labels 0 or 1; it is reported as two classes, 0 and 1, class 0 ranked by 1 - p. The predicted
 * class is the argmax of the row (the first on ties), or for k == 1 class 1 when p > 0.5 and 0
 * otherwise (Keras' threshold, strictly greater). A regression model gives outputs and targets,
 * both [n × k].
 *
 * Conventions (names as fv_metrics_get takes them; <c> a class index):
 *  - accuracy: the fraction of samples whose predicted class is their label.
 *  - crossentropy: Keras' formula. k >= 2: categorical: each row divided by its sum (when the
 *    sum is > 0), the label's probability clipped to [1e-7, 1 - 1e-7], -log, mean over samples.
 *    k == 1: binary: p clipped the same way, -(y log p + (1 - y) log(1 - p)), mean.
 *  - precision_class_<c> = tp / (predicted c), recall_class_<c> = tp / (labelled c),
 *    f1_class_<c> = 2 tp / (predicted c + labelled c); 0 when the denominator is 0, as
 *    scikit-learn's default zero_division (which warns, then gives 0). support_class_<c>: the
 *    number of samples labelled c.
 *  - _macro: the unweighted mean over the classes that occur among the labels or among the
 *    predictions (scikit-learn's default `labels`); a class that occurs in neither is listed
 *    with 0s but left out of the mean. _weighted: the mean weighted by support. _micro: from
 *    the counts summed over classes; with one label per sample it equals accuracy.
 *  - precision, recall, f1 (no suffix): class 1 when k == 1 (scikit-learn's average='binary',
 *    Keras' Precision and Recall); the macro average when k >= 2.
 *  - roc_auc_class_<c>: the area under the one-vs-rest ROC curve of column c (label c positive,
 *    any other label negative), exact: scores sorted, a group of tied scores one trapezoid
 *    (scikit-learn's roc_auc_score). NaN when the class has no positive or no negative example.
 *    roc_auc_macro: the mean over the classes where it is defined, NaN if there is none.
 *    roc_auc: the macro; for k == 1 both classes have the same AUC, so it is also class 1's,
 *    scikit-learn's binary roc_auc_score and the exact value of Keras' AUC.
 *  - average_precision_class_<c> (PR AUC): sum over the distinct scores, in decreasing order,
 *    of (R_n - R_{n-1}) P_n, no interpolation (scikit-learn's average_precision_score). NaN when
 *    the class has no positive example (scikit-learn warns and gives 0 there). A class whose
 *    samples are all positive has 1. average_precision_macro: the mean over the classes with a
 *    positive example. average_precision: class 1's when k == 1, else the macro.
 *  - mean_average_precision: the mean of the average precision over the classes that have at
 *    least one positive example: the same number as average_precision_macro (for k == 1 also
 *    over both classes), under the name retrieval and detection use.
 *  - mse, rmse, mae: of the scores against the one-hot targets over all n × k entries (for
 *    k == 1, of p against the label); rmse = sqrt(mse), not a mean of per-column RMSEs. For
 *    regression: of the outputs against the targets, over all n × k entries.
 *  - confusion matrix: classes × classes counts, row the true class, column the predicted one.
 *
 * Names for `select` (comma-separated, spaces allowed; NULL, "" or "all" for everything):
 * classification: loss (when set), accuracy, crossentropy, precision, recall, f1, roc_auc,
 * average_precision, mean_average_precision, mse, rmse, mae, confusion_matrix (aliases: acc,
 * f1_score, auc, pr_auc, prc, map, confusion); regression: loss, mse, rmse, mae. An unknown
 * name, or one that does not apply to the model (accuracy of a regression), is FV_ERR_INVALID
 * with a message that names it and lists the valid ones. Writers check `select` before writing
 * anything. */

typedef struct fv_metrics fv_metrics;

/* Every metric of a classifier: scores [n × k], labels [n], both read during the call only.
 * NULL on failure (fv_last_error): n < 1, k < 1, a label outside 0..k-1 (0..1 when k == 1), a
 * NaN score, or out of memory. Free with fv_metrics_free. */
fv_metrics *fv_metrics_classification(const float *scores, const int32_t *labels, int64_t n,
                                      int64_t k);

/* mse, rmse and mae of a regression model: outputs and targets [n × k], read during the call
 * only. NULL on failure: n < 1, k < 1, a NaN value, or out of memory. */
fv_metrics *fv_metrics_regression(const float *outputs, const float *targets, int64_t n, int64_t k);

/* Records the model's loss on the same data (fv_model_evaluate's), so that the report has a
 * "loss" figure (`select` name "loss"; JSON key "loss"); written only when set. For a model
 * compiled with a cross-entropy loss it is the crossentropy figure up to float rounding. */
void fv_metrics_set_loss(fv_metrics *m, double loss);

void fv_metrics_free(fv_metrics *m);

bool fv_metrics_is_regression(const fv_metrics *m);
int64_t fv_metrics_samples(const fv_metrics *m);
/* Classes in the report: k, or 2 for a binary classifier (k == 1). Outputs k for regression. */
int64_t fv_metrics_classes(const fv_metrics *m);

/* One figure by name: accuracy, crossentropy, mse, rmse, mae, mean_average_precision,
 * precision|recall|f1 with no suffix or _macro, _micro, _weighted, _class_<c>; roc_auc and
 * average_precision with no suffix or _macro, _class_<c>; support_class_<c>. NaN where the value
 * is undefined (see above), for a name that does not apply to the model, or an unknown name
 * (then with a message in fv_last_error). */
double fv_metrics_get(const fv_metrics *m, const char *name);
/* The same, telling an unknown name (FV_ERR_INVALID, the message lists the valid names) from an
 * undefined value (FV_OK and NaN). */
fv_status fv_metrics_lookup(const fv_metrics *m, const char *name, double *value);

/* The confusion matrix: classes × classes counts, row-major, row the true class; owned by m.
 * *classes receives the class count. NULL for a regression. */
const int64_t *fv_metrics_confusion(const fv_metrics *m, int64_t *classes);

/* Checks a selection (see `select` above) without a report at hand, as a command line does
 * before it runs a model. */
fv_status fv_metrics_check_select(const char *select, bool regression);

/* A report for a terminal: the selected scalars, a per-class table as scikit-learn's
 * classification_report (precision, recall, f1-score, roc-auc, avg-prec, support; then micro,
 * macro and weighted averages), the macro AUC and AP, the errors and the confusion matrix, with
 * aligned columns; "-" marks an undefined value. class_names: fv_metrics_classes(m) strings, or
 * NULL for the indices; read during the call only. FV_ERR_IO if writing failed. */
fv_status fv_metrics_write_text(const fv_metrics *m, FILE *out, const char *select,
                                const char *const *class_names);

/* The same as one JSON object: "task", "samples", "classes" (names), then per selected metric a
 * number, or for precision, recall, f1, roc_auc and average_precision an object with "value"
 * (the name without suffix), "macro", ("micro", "weighted",) "per_class": [...]; "support" and
 * "confusion_matrix" as arrays. NaN is written as null. */
fv_status fv_metrics_write_json(const fv_metrics *m, FILE *out, const char *select,
                                const char *const *class_names);

/* ---- generative models --------------------------------------------------------------------- */

/* The Fréchet distance between two sets of feature vectors, each taken as a Gaussian: the FID's
 * formula (Heusel et al. 2017, "GANs trained by a two time-scale update rule ...", eq. 6), here
 * in whatever features the caller gives (fovea's are a classifier's layer, not Inception's):
 *   d² = |μ₁ − μ₂|² + Tr Σ₁ + Tr Σ₂ − 2 Tr((Σ₁^½ Σ₂ Σ₁^½)^½).
 * a [na × d] and b [nb × d] are rows of features; means and covariances (divided by n − 1, as
 * numpy.cov) in double; the trace term in the symmetric form above from two symmetric
 * eigen-decompositions (LAPACK's dsyevd), negative eigenvalues (rounding, rank-deficient
 * covariances) clamped to 0; *out = d² (FID reports d², not d), clamped at 0. FV_ERR_INVALID for
 * fewer than 2 rows or d outside [1, 16384]; FV_ERR_NUMERIC if LAPACK fails. The figure's bias
 * depends on na and nb: compare figures made with the same counts. */
fv_status fv_frechet_distance(const float *a, int64_t na, const float *b, int64_t nb, int64_t d,
                              double *out);

/* n codes of dim values, z [n × dim] ~ N(0, I), from fovea's generator seeded with seed; code i
 * depends on (seed, i) only, so the first codes are the same whatever n. */
fv_status fv_sample_normal(int64_t n, int64_t dim, uint64_t seed, float *z);

/* Principal component analysis of rows x [n × d]: out [n × k] receives each row's coordinates
 * along the covariance's k eigenvectors of the largest eigenvalues (centred on the mean; each
 * vector's sign fixed so that its largest coordinate is positive, as scikit-learn's svd_flip),
 * explained [k] (may be NULL) each component's fraction of the total variance. LAPACK's dsyevd.
 * FV_ERR_INVALID for n < 2, d outside [1, 16384] or k outside [1, d]. */
fv_status fv_principal_components(const float *x, int64_t n, int64_t d, int k, float *out,
                                  double *explained);
/* ---- Object detection ----
 * Boxes, non-maximum suppression, detection datasets (YOLO's and COCO's layouts), COCO's
 * evaluation (pycocotools' COCOeval for boxes) and VOC's AP50, and generated scenes.
 *
 * Boxes are float64 pixels in one of three layouts, four values each: xyxy (x1, y1, x2, y2:
 * left, top, right, bottom), COCO's xywh (x, y, width, height: the top-left corner and the size)
 * and YOLO's cxcywh (centre x, centre y, width, height). Coordinates are continuous: pixel
 * (row i, column j) covers [j, j + 1) × [i, i + 1), so a box tight around columns 3..5 is
 * x1 = 3, x2 = 6, width 3. A box with x2 < x1 or y2 < y1 has area 0. */

/* Intersection over union of two xyxy boxes: |A∩B| / |A∪B|; 0 when the union is 0 (two boxes
 * of zero area). */
double fv_box_iou(const double a[4], const double b[4]);

/* Generalised IoU (Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019, Alg. 1):
 * IoU − |C \ (A∪B)| / |C|, C the smallest box enclosing both; in [−1, 1]. IoU when |C| is 0. */
double fv_box_giou(const double a[4], const double b[4]);

/* Complete IoU (Zheng et al., "Distance-IoU Loss", AAAI 2020, eqs. 6, 9-11) of a predicted box
 * and a target box: IoU − ρ²/c² − α·v, ρ the distance of the centres, c the diagonal of the
 * enclosing box, v = (4/π²)(atan(w_t/h_t) − atan(w_p/h_p))² (atan2(w, h), so a zero height
 * gives π/2), α = v / ((1 − IoU) + v) (0 when v is 0). ρ²/c² is 0 when c is 0. */
double fv_box_ciou(const double pred[4], const double target[4]);

/* Layout conversions of one box (in and out may be the same array). */
void fv_box_xywh_to_xyxy(const double xywh[4], double xyxy[4]);
void fv_box_xyxy_to_xywh(const double xyxy[4], double xywh[4]);
void fv_box_cxcywh_to_xyxy(const double cxcywh[4], double xyxy[4]);
void fv_box_xyxy_to_cxcywh(const double xyxy[4], double cxcywh[4]);

/* Letterboxing (Ultralytics' LetterBox with auto=False, center=True, and its scale_boxes): an
 * h × w image scaled by r = min(dst_h / h, dst_w / w) to round(h·r) × round(w·r) (rounding half
 * to even, as Python's round), placed at (pad_x, pad_y) = (round(dw − 0.1), round(dh − 0.1)) with
 * dw, dh half the padding of each axis, the rest padded. */
typedef struct fv_letterbox {
    int64_t src_h, src_w; /* the original image */
    int64_t dst_h, dst_w; /* the model's input */
    int64_t new_h, new_w; /* the scaled image inside it */
    double scale;         /* r */
    int64_t pad_x, pad_y; /* left and top padding in pixels */
} fv_letterbox;

/* The letterbox of an src_h × src_w image in a dst_h × dst_w input. FV_ERR_INVALID for a size
 * below 1. */
fv_status fv_letterbox_fit(int64_t src_h, int64_t src_w, int64_t dst_h, int64_t dst_w,
                           fv_letterbox *lb);
/* Maps n xyxy boxes [n × 4] in place from the original image to the model's input
 * (x·r + pad_x), or back (x − pad_x) / r, clipped to the original image (scale_boxes). */
void fv_letterbox_to_input(const fv_letterbox *lb, double *xyxy, int64_t n);
void fv_letterbox_to_image(const fv_letterbox *lb, double *xyxy, int64_t n);

/* Class-wise greedy non-maximum suppression (torchvision's batched_nms): boxes xyxy [n × 4],
 * scores [n], classes [n] (NULL: all one class). Boxes are taken by decreasing score, equal
 * scores in input order (a stable sort); a box is dropped when a kept box of the same class
 * overlaps it with IoU > iou_threshold (strictly). A zero-area box overlaps nothing (IoU 0), so
 * overlap never drops it, nor does it drop another. keep [n] receives the kept indices in that
 * order, at most max_keep of them (max_keep <= 0: no limit); *nkeep their count. All read during
 * the call only. FV_ERR_INVALID for n < 0, a NaN score or a NaN coordinate. */
fv_status fv_nms(const double *boxes, const double *scores, const int64_t *classes, int64_t n,
                 double iou_threshold, int64_t max_keep, int64_t *keep, int64_t *nkeep);

/* A detection dataset: images, their boxes and the categories, as COCO's instances JSON holds
 * them (and YOLO's layout is read into). Plain arrays, owned by the set (fv_detset_free). */
typedef struct fv_det_image {
    int64_t id;      /* COCO's image id (YOLO: 1, 2, ... in file-name order) */
    char *file_name; /* relative to the set's image_dir */
    int64_t width, height;
    int64_t first, count; /* its annotations: annotations[first .. first + count) */
    uint8_t *pixels;      /* height × width × channels bytes when loaded with pixels, else NULL */
} fv_det_image;

typedef struct fv_det_annotation {
    int64_t id;       /* COCO's annotation id (YOLO: 1, 2, ... in reading order) */
    int64_t image;    /* index into images (not the id) */
    int64_t category; /* index into categories: the class a model predicts */
    double bbox[4];   /* x, y, width, height in pixels (xywh) */
    double area;      /* COCO's `area` (what the area ranges use); YOLO: width × height */
    bool iscrowd;
} fv_det_annotation;

typedef struct fv_det_category {
    int64_t id; /* COCO's category id (YOLO: the class number) */
    char *name;
} fv_det_category;

typedef struct fv_detset {
    char *image_dir; /* the folder that file names are relative to */
    int channels;    /* of the pixels: 0 (not loaded), 1 or 3 */
    int64_t nimages, nannotations, ncategories;
    fv_det_image *images;           /* COCO: in the file's order; YOLO: by file name */
    fv_det_annotation *annotations; /* grouped by image; in file order within an image */
    fv_det_category *categories;    /* COCO: in the file's order; YOLO: by class number */
} fv_detset;

/* Reads COCO's instances JSON (cJSON): `images` ({id, file_name, width, height}),
 * `annotations` ({id, image_id, category_id, bbox [x, y, width, height] in pixels, area,
 * iscrowd}) and `categories` ({id, name}). `area` defaults to width × height and `iscrowd` to
 * 0 when absent. image_dir: where the image files are (NULL: the JSON's folder); channels 0
 * leaves the pixels unread, 1 or 3 decodes every image with fv_image_read (its size must match
 * the JSON's). Errors (FV_ERR_FORMAT, one message naming the file and the annotation or image
 * id): a missing or mistyped field, a duplicate id, an unknown image or category, a negative
 * size, a box reaching outside its image (by more than 0.01 pixel). */
fv_status fv_detset_load_coco(const char *json_path, const char *image_dir, int channels,
                              fv_detset **out);

/* Reads one part (split "train", "val" or "test") of a dataset in YOLO's layout, in either of
 * Ultralytics' arrangements: DIR/images/SPLIT + DIR/labels/SPLIT, or DIR/SPLIT/images +
 * DIR/SPLIT/labels. Class names from DIR/data.yaml (libyaml; `names:` a list, or a mapping of
 * class numbers to names) or else DIR/classes.txt (one name a line). Each image file (.png,
 * .jpg, .jpeg, .bmp, .gif) is decoded with fv_image_read (for its size; pixels kept when
 * channels is 1 or 3); its label file (same stem, .txt) holds one `class cx cy w h` line per
 * object, normalised to [0, 1]; no label file: no objects. Errors (FV_ERR_FORMAT naming the file
 * and line): a line that is not five numbers, a class outside the names, a negative size, a box
 * outside [0, 1] (by more than 1e-6), a label file without an image, an image that cannot be
 * read; FV_ERR_IO for a missing folder. */
fv_status fv_detset_load_yolo(const char *dir, const char *split, int channels, fv_detset **out);

/* Either layout: COCO's when DIR/annotations/instances_SPLIT.json exists (images in
 * DIR/images/SPLIT, else DIR/SPLIT, else DIR/images), else YOLO's. split "test" falls back to
 * "val" when DIR has no test part. */
fv_status fv_detset_load(const char *dir, const char *split, int channels, fv_detset **out);

void fv_detset_free(fv_detset *d);

/* Writes a detection set as COCO's instances JSON (images, annotations with bbox, area and
 * iscrowd, categories), atomically. */
fv_status fv_detset_write_coco(const fv_detset *d, const char *path);

/* Writes a detection set that holds pixels (channels 1 or 3) as part `split` of a dataset folder
 * in both layouts at once: the images as 8-bit PNG in DIR/images/SPLIT (file names must be
 * NAME.png), YOLO's DIR/labels/SPLIT/NAME.txt (`class cx cy w h`, fractions of the image size,
 * 8 significant digits) with DIR/data.yaml (names as a mapping) and DIR/classes.txt, and COCO's
 * DIR/annotations/instances_SPLIT.json. Folders are made as needed; each file is written
 * atomically. Categories must be numbered 0, 1, ... (their ids are the class numbers).
 * FV_ERR_INVALID otherwise or without pixels; FV_ERR_IO when writing fails. */
fv_status fv_detset_save(const fv_detset *d, const char *dir, const char *split);

/* Generated scenes (`fovea data make detection`): each size × size grey scene has a cluttered
 * background (uniform noise of a random level up to 40, and 2 to 7 fragments, 4 to H/2 + 3
 * pixels a side, of random source images at 25-55 % brightness) and 1 to max_objects objects:
 * source images scaled (bilinear, as tf.image.resize) to s × s with s uniform in
 * min_object..max_object, placed uniformly at random, later objects over earlier ones (alpha
 * rising from 0 at value 8 to 1 at value 40); a placement whose box overlaps an earlier box
 * with IoU > 0.5 is tried again (20 times at most, then the object is left out), so objects
 * overlap without hiding each other. An object's box is tight around all of its pixels above 8,
 * also those that a later object covers; its area is the box's width × height. */
typedef struct fv_scene_opts {
    int64_t size;                   /* 128 */
    int max_objects;                /* 6 */
    int64_t min_object, max_object; /* 16, 64 (sides in pixels) */
    uint64_t seed;                  /* 1 */
} fv_scene_opts;

fv_scene_opts fv_scene_defaults(void);

/* count scenes from src (labelled uint8 grey images, (H, W) or (H, W, 1), labels 0..nclasses-1
 * named class_names[]), into a new detection set with pixels (channels 1): images 000001.png,
 * ..., ids from 1; category ids the class numbers; annotation ids from 1. Deterministic for a
 * seed. FV_ERR_INVALID for a source or option out of range (the message says which). */
fv_status fv_detset_make_scenes(const fv_dataset *src, const char *const *class_names,
                                int64_t nclasses, int64_t count, const fv_scene_opts *o,
                                fv_detset **out);

/* One detection in COCO's results format: {"image_id", "category_id", "bbox": [x, y, w, h],
 * "score"} (category_id and image_id are COCO's ids, not indices). */
typedef struct fv_detection {
    int64_t image_id, category_id;
    double bbox[4];
    double score;
} fv_detection;

/* Reads a COCO results JSON (a list of the objects above; other keys ignored). *dets (malloc'd,
 * free()) and *n receive them. FV_ERR_FORMAT naming the file and the element's index: not a
 * list, a missing field, a NaN or infinite value, a negative width or height. */
fv_status fv_detections_read_json(const char *path, fv_detection **dets, int64_t *n);

/* Writes detections as COCO's results JSON, each with "file_name" too when gt (the dataset whose
 * image ids they use; may be NULL) knows the image. Atomic. */
fv_status fv_detections_write_json(const char *path, const fv_detection *dets, int64_t n,
                                   const fv_detset *gt);

/* COCO's evaluation of boxes, exactly as pycocotools' COCOeval (iouType "bbox", the default
 * Params) runs evaluate(), accumulate() and summarize():
 * - images and categories are the ground truth's, sorted by id; a detection on an image the
 *   ground truth lacks is an error (loadRes' assertion); one of a category it lacks is ignored;
 * - per image and category, detections sorted by decreasing score (stable: ties in input order)
 *   and cut to the largest maxDets (100); IoU of boxes, a crowd region's as intersection over the
 *   detection's area;
 * - per IoU threshold .50:.05:.95, greedy matching in score order, each detection to the
 *   unmatched (or crowd) ground truth of largest IoU >= the threshold, ground truths that are not
 *   ignored preferred; crowd regions and those outside the area range are ignored, and so are
 *   unmatched detections whose area (w × h) is outside it; area ranges all [0, 1e10], small
 *   [0, 32²], medium [32², 96²], large [96², 1e10], both ends included;
 * - per category, area range and maxDets (1, 10, 100): the detections of all images (each cut
 *   to maxDets) sorted by score (stable), precision made monotone and sampled at the 101 recall
 *   points 0:.01:1, recall the last; −1 where the category has no ground truth that is not
 *   ignored (or no image has either); summarize() averages the entries that are not −1 (−1
 *   when none is).
 * As pycocotools, a ground truth whose annotation id is 0 cannot count as matched.
 * VOC's AP50 is computed too, per category: detections of all images by decreasing score,
 * each matched to the ground truth of largest IoU if that IoU is > 0.5 and the ground truth not
 * yet taken (else a false positive; crowd regions are VOC's "difficult": neither), AP the area
 * under the precision envelope over all recall points (VOC2010-2012 devkit's all-point
 * interpolation; boxes continuous, without the devkit's +1 pixel).
 * gt and dets are read during the call only. NULL on failure (fv_last_error). */
typedef struct fv_coco_eval fv_coco_eval;
fv_coco_eval *fv_coco_evaluate(const fv_detset *gt, const fv_detection *dets, int64_t n);
void fv_coco_eval_free(fv_coco_eval *e);

/* The twelve figures of summarize() (COCOeval.stats): AP @[.50:.95], AP50, AP75, AP small,
 * medium, large (maxDets 100); AR @[.50:.95] at maxDets 1, 10, 100; AR small, medium, large
 * (maxDets 100). −1 where undefined. */
void fv_coco_eval_stats(const fv_coco_eval *e, double stats[12]);

/* The categories of an evaluation, in increasing id order (pycocotools' catIds): the count, and
 * category k's id and name (owned by e; NULL for k out of range). Every per-category figure below
 * takes this k. */
int64_t fv_coco_eval_categories(const fv_coco_eval *e);
const char *fv_coco_eval_category(const fv_coco_eval *e, int64_t k, int64_t *id);

/* Per category k: AP @[.50:.95] (area all, maxDets 100) when iou < 0,
 * else AP at that IoU threshold (one of .50, .55, ..., .95, else NaN); −1 when undefined. */
double fv_coco_eval_class_ap(const fv_coco_eval *e, int64_t k, double iou);

/* VOC's AP50 of category k (−1 for a category without ground truth); k < 0: the mean over the
 * categories where it is defined (−1 if none). */
double fv_coco_eval_voc_ap(const fv_coco_eval *e, int64_t k);

/* accumulate()'s precision[t][r][k][a][m] (t: IoU threshold 0..9, r: recall point 0..100, a:
 * area range 0..3 all/small/medium/large, m: maxDets 0..2 for 1/10/100) and recall[t][k][a][m];
 * −1 where undefined, NaN for an index out of range. */
double fv_coco_eval_precision(const fv_coco_eval *e, int t, int r, int64_t k, int a, int m);
double fv_coco_eval_recall(const fv_coco_eval *e, int t, int64_t k, int a, int m);

/* The twelve lines of summarize(), character for character, then a table of each category's
 * AP, AP50 and AP75 (and VOC's AP50 when voc); with voc alone (only_voc) the VOC table and its
 * mean. FV_ERR_IO if writing fails. */
fv_status fv_coco_eval_write_text(const fv_coco_eval *e, FILE *out, bool voc, bool only_voc);
/* The same as one JSON object: {"stats": {"AP": .., "AP50": .., ...}, "per_class": [{"id",
 * "name", "AP", "AP50", "AP75", "voc_AP50"}], "voc_mAP50"}; −1 stays −1. */
fv_status fv_coco_eval_write_json(const fv_coco_eval *e, FILE *out);

/* One image's detection F1 (report's best and worst images): image is an index into gt->images;
 * the detections of that image (image_id its id, category_id a category's id) scoring at least
 * min_score, by decreasing score (ties in input order), each matched to the unmatched ground
 * truth of its category with the largest IoU >= iou_threshold (a true positive), else a false
 * positive, unless it overlaps a crowd region of its category that much (then neither, VOC's
 * "difficult"; a crowd region's overlap is COCO's, the intersection over the detection's area);
 * ground truths left unmatched (crowd regions aside) are misses.
 * *f1 = 2·TP / (2·TP + FP + FN) (the F1 score of those counts), 1 when all three are 0 (no
 * object, no detection). counts (may be NULL) receives TP, FP, FN. FV_ERR_INVALID for an index
 * out of range or a threshold outside [0, 1]; FV_ERR_NOMEM. */
fv_status fv_detection_image_f1(const fv_detset *gt, int64_t image, const fv_detection *dets,
                                int64_t ndets, double min_score, double iou_threshold,
                                int64_t counts[3], double *f1);

/* Precision-recall curves at IoU 0.5 (area all, maxDets 100), one per category with ground
 * truth, from the 101 sampled points, with each curve's AP50 in the legend. */
fv_picture *fv_plot_pr(const fv_coco_eval *e);

/* ---- detection with a model ----------------------------------------------------------------
 * A detector is a model whose output is a `yolo` head (src/layers/yolo.c): a grid of raw
 * predictions, A anchors per cell, each tx, ty, tw, th, objectness and one logit per class.
 * Training targets are the head's output array (fv_dataset_add_output): per image a count, then
 * max_boxes rows of (class, cx, cy, w, h) normalised to the model's input. */

/* Letterboxes an lb->src_h × lb->src_w × channels image src into dst [lb->dst_h × lb->dst_w ×
 * channels]: scaled (bilinear, as fv_image_read resizes) into place, the rest grey 114 (as
 * Ultralytics pads). FV_ERR_INVALID for a NULL argument, FV_ERR_NOMEM. */
fv_status fv_letterbox_pixels(const uint8_t *src, int64_t channels, const fv_letterbox *lb,
                              uint8_t *dst);

/* A detection set (with pixels) as a dataset for a detector of input height × width (the set's
 * channels): each image letterboxed, and the targets of output `output` (the yolo layer's name):
 * per image the count of its boxes that are not crowd regions and keep some area at this size,
 * then each as (class index, cx, cy, w, h) normalised to the input, padded to max_boxes rows.
 * *out (fv_dataset_free) has no labels. FV_ERR_INVALID for an image with more than max_boxes
 * boxes (naming the file), a set without pixels; FV_ERR_NOMEM. */
fv_status fv_detset_to_dataset(const fv_detset *d, int64_t height, int64_t width, int64_t max_boxes,
                               const char *output, fv_dataset **out);

/* The max_boxes of a detector's yolo head (its targets per image), 0 when the model's output is
 * not a yolo head. */
int64_t fv_model_detector_max_boxes(const fv_model *m);
/* The classes a detector's yolo head predicts, 0 when the model's output is not a yolo head. */
int64_t fv_model_detector_classes(const fv_model *m);

/* How fv_model_detect turns the head's grid into boxes. */
typedef struct fv_detect_opts {
    double score_threshold; /* 0.25: keep boxes with objectness × class probability >= this */
    double iou_threshold;   /* 0.45: class-wise NMS drops a box overlapping a kept one by more */
    int64_t max_detections; /* 100 per image, the best scores */
    bool multi_label;       /* false: each box's best class only; true: every class above the
                               threshold (YOLOv5's validation setting) */
} fv_detect_opts;
fv_detect_opts fv_detect_defaults(void);

/* Detects objects in a dataset of images already letterboxed to the model's input (as
 * fv_detset_to_dataset or fv_letterbox_pixels makes them). Per image: every anchor's box decoded
 * as YOLOv5 does (centre (2σ(tx) − 0.5 + col, 2σ(ty) − 0.5 + row), size ((2σ(tw))²·aw,
 * (2σ(th))²·ah) in grid cells, scaled by the input's size over the grid's), scored σ(obj)·σ(cls),
 * thresholded, class-wise NMS (fv_nms), at most max_detections. lb (NULL: boxes stay in the
 * input's pixels) gives each image's letterbox, through which boxes go back to the original
 * image (fv_letterbox_to_image, clipped). *dets (malloc'd, free()) receives *count detections
 * with image_id the image's index in `images`, category_id the class index, bbox (x, y, w, h)
 * in pixels; images in order, each by decreasing score. FV_ERR_INVALID when the model's output
 * is not a yolo head or an option is out of range (the message says which). */
fv_status fv_model_detect(fv_model *m, const fv_dataset *images, const fv_letterbox *lb,
                          const fv_detect_opts *opts, fv_detection **dets, int64_t *count);

/* Images of a detection set with pixels, in a grid of up to 4 columns, each scaled by a whole
 * factor to about 256 pixels: images[0..n) (indices into d->images; NULL: the first n), their
 * ground-truth boxes solid in the class's colour (matplotlib's tab10) with the class name above,
 * and the detections on them (dets[0..ndets), matched by image id; may be NULL) dashed with name
 * and score below, those scoring under min_score left out. 1 <= n <= 64. FV_ERR_INVALID for a
 * set without pixels or an index out of range. */
fv_picture *fv_plot_detections(const fv_detset *d, const int64_t *images, int64_t n,
                               const fv_detection *dets, int64_t ndets, double min_score);

/* ---- 6D pose (issue 13) ---- */
/* Rotations, the pose errors of the field, the BOP dataset format, meshes and an offscreen
 * renderer, for networks that estimate an object's rotation and translation from one image.
 *
 * Conventions are the BOP toolkit's (Hodaň et al., "BOP: Benchmark for 6D Object Pose
 * Estimation", ECCV 2018): a pose maps model coordinates to camera coordinates,
 * x_cam = R·x_model + t, with R a 3×3 rotation written row-major (BOP's cam_R_m2c) and t in
 * millimetres (cam_t_m2c). The camera is OpenCV's: x right, y down, looking along +z; K is the
 * 3×3 intrinsic matrix row-major (cam_K: fx 0 cx / 0 fy cy / 0 0 1), a point projects to
 * (fx·x/z + cx, fy·y/z + cy) in pixels, pixel (0, 0)'s centre at (0, 0). Model points are in
 * millimetres. Every function here is pure (no state, thread-safe) unless it says otherwise.
 *
 *     fv_pose est, gt;  // from a network and from scene_gt.json
 *     double e = fv_pose_add(pts, n, &est, &gt);       // mm
 *     bool ok = e < 0.1 * info.diameter;             // ADD at 10% of the diameter
 */

typedef struct fv_pose {
    double R[9]; /* rotation, row-major, model → camera */
    double t[3]; /* translation, mm */
} fv_pose;

/* The continuous 6-D rotation representation (Zhou et al., "On the Continuity of Rotation
 * Representations in Neural Networks", CVPR 2019, section 4.2): r6 holds the first two columns
 * of R, a1 = r6[0..3) and a2 = r6[3..6). To a matrix by Gram–Schmidt: b1 = a1/|a1|,
 * u = a2 − (b1·a2) b1, b2 = u/|u|, b3 = b1 × b2, R = [b1 b2 b3] (as columns; written
 * row-major). A norm below 1e-12 is taken as 1e-12 (as PyTorch's F.normalize does), so every
 * finite input gives a finite R, a rotation whenever a1 ≠ 0 and a2 is not parallel to a1. */
void fv_rot6d_to_matrix(const double r6[6], double R[9]);
/* The first two columns of R (row-major) as r6 = (R00, R10, R20, R01, R11, R21): the inverse of
 * fv_rot6d_to_matrix on rotations. */
void fv_rot6d_from_matrix(const double R[9], double r6[6]);
/* Backward of fv_rot6d_to_matrix: from dL/dR [9] (row-major, as R) writes dL/dr6 [6] (written,
 * not added). Exact (the chain rule through both normalisations and the cross product); tested
 * by finite differences. */
void fv_rot6d_backward(const double r6[6], const double dR[9], double dr6[6]);

/* The geodesic distance between two rotations in degrees, in [0, 180]:
 * arccos((tr(Ra·Rbᵀ) − 1)/2), the cosine clamped to [−1, 1] (BOP toolkit's pose_error.re). */
double fv_rotation_error(const double Ra[9], const double Rb[9]);

/* Euler angles in degrees, convention "xyz extrinsic" (the same as "ZYX intrinsic", roll–pitch–
 * yaw; SciPy's Rotation.as_euler("xyz", degrees=True)): R = Rz(e[2])·Ry(e[1])·Rx(e[0]), each a
 * right-handed rotation about the fixed camera axis. e[0], e[2] in (−180, 180], e[1] in
 * [−90, 90]; at gimbal lock (|e[1]| = 90) e[2] is set to 0 and e[0] takes the whole turn, as
 * SciPy does. */
void fv_rotation_to_euler(const double R[9], double e[3]);
void fv_rotation_from_euler(const double e[3], double R[9]);

/* A rigid symmetry transformation S of a model (x ↦ S.R·x + S.t; t mm): the model looks the same
 * under it, so a pose P and P·S are indistinguishable. */
typedef struct fv_pose_symmetry {
    double R[9];
    double t[3];
} fv_pose_symmetry;

/* A continuous rotational symmetry as BOP's models_info.json gives it: every rotation about
 * axis (a unit vector) through the point offset (mm). */
typedef struct fv_pose_continuous_symmetry {
    double axis[3];
    double offset[3];
} fv_pose_continuous_symmetry;

/* One object's entry of BOP's models_info.json. */
typedef struct fv_pose_model_info {
    int64_t obj_id;
    double diameter;        /* the largest distance between two model vertices, mm */
    double min[3], size[3]; /* the bounding box: min_x, min_y, min_z, size_x, ... (mm) */
    int64_t n_discrete;     /* symmetries_discrete: 4×4 row-major matrices [R t; 0 0 0 1] */
    double (*discrete)[16]; /* n_discrete, or NULL */
    int64_t n_continuous;   /* symmetries_continuous */
    fv_pose_continuous_symmetry *continuous; /* n_continuous, or NULL */
} fv_pose_model_info;

/* True when the object has a symmetry (discrete or continuous): ADD-S applies, not ADD. */
bool fv_pose_model_symmetric(const fv_pose_model_info *info);

/* The object's set of symmetry transformations, as the BOP toolkit's
 * misc.get_symmetry_transformations builds it: the identity and each discrete symmetry D; each
 * continuous symmetry discretised into n = ceil(π / max_sym_disc_step) rotations C_k by 2πk/n
 * about its axis (so that the vertex farthest from the axis moves at most max_sym_disc_step of
 * the diameter between steps; BOP uses 0.01); with continuous symmetries the set is every
 * C_k·D (t: C_k.R·D.t + C_k.t), else the discrete ones alone. *syms is malloc'd (free with
 * free()), *n its count (>= 1). FV_ERR_INVALID for max_sym_disc_step outside (0, 1], an axis of
 * zero length, or more than 10⁷ transformations; FV_ERR_NOMEM. */
fv_status fv_pose_symmetries(const fv_pose_model_info *info, double max_sym_disc_step,
                             fv_pose_symmetry **syms, int64_t *n);

/* The geodesic rotation error in degrees with symmetries: the smallest
 * fv_rotation_error(R_est, R_gt·S.R) over the symmetries S of info (NULL: none). A continuous
 * symmetry is minimised over its whole circle in closed form (max over θ of A cos θ + B sin θ),
 * not over a discretisation. */
double fv_rotation_error_sym(const double R_est[9], const double R_gt[9],
                             const fv_pose_model_info *info);

/* Translation error |t_est − t_gt| in mm (BOP's te). */
double fv_translation_error(const double t_est[3], const double t_gt[3]);

/* Pose errors over model points pts [n × 3] (float, mm), n >= 1. Sources: BOP toolkit's
 * pose_error.py; ADD and ADD-S: Hinterstoisser et al., ACCV 2012; proj: Brachmann et al.,
 * CVPR 2016; MSSD, MSPD: the BOP Challenge 2019.
 *  - add: mean over points of |P_est·x − P_gt·x| (mm).
 *  - adds (ADD-S, BOP's adi): mean over points x of the distance from P_gt·x to the nearest
 *    P_est·y (mm); exact, O(n²).
 *  - mssd: min over syms of max over points of |P_est·x − (P_gt·S)·x| (mm).
 *  - mspd: min over syms of max over points of |π(P_est·x) − π((P_gt·S)·x)| (pixels).
 *  - proj: mean over points of |π(P_est·x) − π(P_gt·x)| (pixels).
 * syms [nsyms >= 1], from fv_pose_symmetries; K [9] row-major. A point behind or on the camera
 * plane projects to infinity (the error is then +inf). NaN when n < 1 (or nsyms < 1), and from
 * fv_pose_adds also when out of memory. */
double fv_pose_add(const float *pts, int64_t n, const fv_pose *est, const fv_pose *gt);
double fv_pose_adds(const float *pts, int64_t n, const fv_pose *est, const fv_pose *gt);
double fv_pose_mssd(const float *pts, int64_t n, const fv_pose *est, const fv_pose *gt,
                    const fv_pose_symmetry *syms, int64_t nsyms);
double fv_pose_mspd(const float *pts, int64_t n, const double K[9], const fv_pose *est,
                    const fv_pose *gt, const fv_pose_symmetry *syms, int64_t nsyms);
double fv_pose_proj(const float *pts, int64_t n, const double K[9], const fv_pose *est,
                    const fv_pose *gt);

/* The rotation nearest to a 3×3 matrix M (row-major) in the Frobenius norm: R = U·diag(1, 1,
 * det(U·Vᵀ))·Vᵀ from M's SVD M = U·S·Vᵀ (LAPACK's dgesvd; the orthogonal Procrustes solution,
 * Umeyama, IEEE TPAMI 1991). FV_ERR_INVALID for a non-finite M, FV_ERR_NUMERIC when the SVD does
 * not converge; R untouched then. */
fv_status fv_rotation_nearest(const double M[9], double R[9]);

/* One pose from n >= 1 estimates of it (test-time augmentation: the same object seen through
 * several crops). fv_pose_mean: t the arithmetic mean, R the chordal L2 mean (Hartley, Trumpf,
 * Dai and Li, "Rotation Averaging", IJCV 2013, section 5.3): the rotation nearest
 * (fv_rotation_nearest) to the arithmetic mean of the matrices, the rotation minimising the sum
 * of the squared Frobenius distances to them. For a symmetric object the estimates may be
 * different but equivalent rotations, whose mean means nothing: fv_pose_medoid takes the
 * rotation of the estimate whose summed ADD-S to the others, both ways (ADD-S(a, b) + ADD-S(b, a):
 * fv_pose_adds is not symmetric; over pts [npts × 3], mm, translations set to 0) is the
 * smallest, the first on a tie, and the mean t.
 * FV_ERR_INVALID for n < 1, a non-finite pose (naming its index) or npts < 1; FV_ERR_NUMERIC
 * from the SVD, FV_ERR_NOMEM; *out untouched on error. */
fv_status fv_pose_mean(const fv_pose *poses, int64_t n, fv_pose *out);
fv_status fv_pose_medoid(const fv_pose *poses, int64_t n, const float *pts, int64_t npts,
                         fv_pose *out);

/* Frees the arrays of an fv_pose_model_info (discrete, continuous) and zeroes their counts;
 * accepts NULL. */
void fv_pose_model_info_clear(fv_pose_model_info *info);

/* A triangle mesh: an object model, in mm. */
typedef struct fv_mesh {
    int64_t n_vertices;
    float *vertices; /* n_vertices × 3 (x, y, z), mm */
    float *normals;  /* n_vertices × 3 unit vectors, or NULL */
    uint8_t *colors; /* n_vertices × 3 (R, G, B), or NULL */
    int64_t n_faces;
    int32_t *faces; /* n_faces × 3 vertex indices, counter-clockwise seen from outside */
} fv_mesh;

/* Reads a PLY model (ASCII or binary, as BOP ships them) with Debian's assimp
 * (aiProcess_Triangulate | aiProcess_JoinIdenticalVertices): vertices, normals and colours when
 * present (assimp's colours scaled to 0..255), faces as triangles; every mesh of the file in one.
 * FV_ERR_FORMAT naming the file with assimp's reason (or "no triangles"), FV_ERR_IO, FV_ERR_NOMEM.
 * *out: free with fv_mesh_free. */
fv_status fv_mesh_read_ply(const char *path, fv_mesh **out);
/* Writes m as an ASCII PLY file in BOP's layout (x y z nx ny nz red green blue per vertex, the
 * normals and colours when m has them; faces as vertex_indices lists), atomically. */
fv_status fv_mesh_write_ply(const fv_mesh *m, const char *path);
void fv_mesh_free(fv_mesh *m);

/* The largest distance between two vertices, in mm (what BOP's models_info.json calls the
 * diameter), exact (O(n²)); 0 for fewer than two vertices. */
double fv_mesh_diameter(const fv_mesh *m);

/* A procedural object model, built in code (no file), and its models_info entry (obj_id, the
 * diameter from fv_mesh_diameter, the bounding box and the symmetries; arrays malloc'd, free with
 * fv_pose_model_info_clear):
 *  - "tripod" (obj_id 1): three orthogonal arms of 80, 56 and 36 mm from one corner, coloured
 *    red, green and blue: no symmetry, so ADD applies;
 *  - "box" (obj_id 2): a 70 × 50 × 30 mm grey box, centred: discrete symmetries, the three
 *    half-turns about x, y and z;
 *  - "cylinder" (obj_id 3): radius 25 mm, height 70 mm, centred, 32 sides, one colour: a
 *    continuous symmetry about z and the half-turn about x (its 32 sides look round at the sizes
 *    rendered; BOP describes T-LESS's cylinders the same way).
 * FV_ERR_INVALID for another name (the message lists these). */
fv_status fv_mesh_make(const char *name, fv_mesh **out, fv_pose_model_info *info);

/* An offscreen renderer (Mesa's OSMesa: software OpenGL with a 24-bit depth buffer) of a mesh at
 * a pose, seen through intrinsics K, for images of width × height pixels (1..8192 each). It
 * holds an OpenGL context that each fv_render makes current on the calling thread: use one
 * renderer from one thread at a time. NULL on failure (fv_last_error): a bad size, out of
 * memory, or OSMesa unable to create a context (FV_ERR_STATE). */
typedef struct fv_renderer fv_renderer;
fv_renderer *fv_renderer_new(int64_t width, int64_t height);
void fv_renderer_free(fv_renderer *r);

/* Renders m at pose (model → camera, mm) through K (row-major; fx, fy > 0; pixel centres at
 * integer coordinates, as OpenCV and BOP), with the depth test (the nearest surface wins) and
 * Lambert shading: colour × (0.35 + 0.65·max(0, n·l)), the light along the optical axis, the
 * mesh's vertex colours (grey without), n its vertex normals (without: each face's normal from
 * its counter-clockwise winding). Near and far planes at 10 mm
 * and 20 m. Outputs (each may be NULL), row-major, top row first:
 *  - rgb [height × width × 3]: holds the background on entry; the object's pixels are written
 *    over it (no antialiasing);
 *  - mask [height × width]: 255 on the object's silhouette, 0 elsewhere;
 *  - depth [height × width]: the object's z in the camera frame (mm), 0 off the silhouette.
 * FV_ERR_INVALID for a face naming a missing vertex or a bad K; FV_ERR_STATE if OpenGL fails. */
fv_status fv_render(fv_renderer *r, const fv_mesh *m, const fv_pose *pose, const double K[9],
                    uint8_t *rgb, uint8_t *mask, float *depth);

/* Options of fv_pose_make_dataset; fv_pose_data_defaults() gives the defaults noted. */
typedef struct fv_pose_data_opts {
    const char *object; /* "tripod" (default), "box", "cylinder" (fv_mesh_make), or a path to a
                         * PLY model (obj_id 1; its symmetries unknown, so none are written) */
    int64_t n_train;    /* images in train/ (20000); 0: none */
    int64_t n_test;     /* images in test/ (2000); 0: none */
    int64_t size;       /* the images' width and height in pixels (128), 16..4096 */
    uint64_t seed;      /* (0) everything drawn comes from it: the same seed, the same files */
    /* Greyscale pictures whose fragments clutter the backgrounds (Fashion-MNIST's, say): n of
     * height × width bytes, row-major, read during the call only. NULL (0): noise only. */
    const uint8_t *backgrounds;
    int64_t n_backgrounds, bg_height, bg_width;
} fv_pose_data_opts;

fv_pose_data_opts fv_pose_data_defaults(void);

/* Renders a pose dataset into dir in the BOP layout, with the object at rotations uniform over
 * SO(3) (Shoemake's uniform random unit quaternion), its centre projecting uniformly into the
 * middle half of the image, at depths where the diameter spans 35 % to 60 % of the image, lit as
 * fv_render does over a cluttered background: a random grey level, per-pixel noise, and 3 to 6
 * fragments of the background pictures, scaled, tinted and pasted. The camera: fx = fy =
 * 1.25·size, cx = cy = (size − 1)/2, the same for every image. Written:
 *   dir/camera.json, dir/models/obj_NNNNNN.ply, dir/models/models_info.json,
 *   dir/{train,test}/SSSSSS/{rgb/IIIIII.png, mask/IIIIII_000000.png,
 *   mask_visib/IIIIII_000000.png, scene_gt.json, scene_camera.json, scene_gt_info.json}
 *   (scenes of 1000 images), dir/test_targets_bop19.json.
 * visib_fract counts the silhouette outside the image as hidden (a render on a canvas three
 * times as wide gives the whole silhouette). Everything is written under a temporary folder
 * beside dir and renamed to dir at the end, so dir appears whole or not at all; FV_ERR_INVALID
 * if dir exists already, or for an option out of range; FV_ERR_IO, FV_ERR_FORMAT (a bad PLY),
 * FV_ERR_STATE (OSMesa) as they come. Single-threaded (one OpenGL context). */
fv_status fv_pose_make_dataset(const char *dir, const fv_pose_data_opts *o);

/* ---- the BOP dataset format (https://github.com/thodan/bop_toolkit/blob/master/docs/
 * bop_datasets_format.md): every reader names the file and the field of the first problem
 * ("scene_gt.json: \"12\"[0].cam_R_m2c: expected 9 numbers") with FV_ERR_FORMAT, FV_ERR_IO when
 * the file cannot be read, and leaves *out NULL and *n 0 on failure. Writers write JSON that
 * the BOP toolkit's inout.load_json reads, atomically (a temporary file, then rename). Arrays
 * returned are malloc'd: free them with free() (models_info with fv_bop_free_models_info). */

/* One object instance of an image: an entry of scene_gt.json with, once read,
 * scene_gt_info.json's figures. */
typedef struct fv_bop_gt {
    int64_t im_id;
    int64_t gt_id; /* its index in the image's list */
    int64_t obj_id;
    fv_pose pose;           /* cam_R_m2c (a rotation: checked to 1e-3), cam_t_m2c (mm) */
    double visib_fract;     /* the visible fraction of its silhouette, 0..1; NaN if not read */
    int64_t bbox_obj[4];    /* x, y, width, height of the whole silhouette (px); -1s unknown */
    int64_t bbox_visib[4];  /* of the visible part */
    int64_t px_count_all;   /* silhouette pixels; -1 unknown */
    int64_t px_count_visib; /* visible pixels */
} fv_bop_gt;

/* scene_gt.json: {"IM_ID": [{"obj_id", "cam_R_m2c", "cam_t_m2c"}, ...], ...}. *gt sorted by
 * im_id, then gt_id. */
fv_status fv_bop_read_scene_gt(const char *path, fv_bop_gt **gt, int64_t *n);
fv_status fv_bop_write_scene_gt(const char *path, const fv_bop_gt *gt, int64_t n);
/* scene_gt_info.json: the same keys and list lengths as scene_gt.json, each entry with
 * "visib_fract" (required, 0..1) and "bbox_obj", "bbox_visib", "px_count_all",
 * "px_count_visib" (optional). Fills those fields of gt [n] (from fv_bop_read_scene_gt); an
 * image or instance that scene_gt.json does not have, or one it has that is missing here, is
 * FV_ERR_FORMAT naming both files' field. */
fv_status fv_bop_read_scene_gt_info(const char *path, fv_bop_gt *gt, int64_t n);
fv_status fv_bop_write_scene_gt_info(const char *path, const fv_bop_gt *gt, int64_t n);

/* One image's camera: an entry of scene_camera.json. */
typedef struct fv_bop_camera {
    int64_t im_id;
    double K[9];        /* cam_K, row-major (required: fx, fy > 0, last row 0 0 1) */
    double depth_scale; /* mm per depth unit; NaN when absent */
} fv_bop_camera;

/* scene_camera.json: {"IM_ID": {"cam_K": [9 numbers], "depth_scale": x}, ...}; sorted by
 * im_id. */
fv_status fv_bop_read_scene_camera(const char *path, fv_bop_camera **cams, int64_t *n);
fv_status fv_bop_write_scene_camera(const char *path, const fv_bop_camera *cams, int64_t n);

/* models_info.json: {"OBJ_ID": {"diameter" (required, > 0), "min_x", ..., "size_z",
 * "symmetries_discrete": [[16 numbers], ...], "symmetries_continuous": [{"axis": [3],
 * "offset": [3]}, ...]}, ...}; sorted by obj_id. A discrete symmetry's rotation must be a
 * rotation (to 1e-3) and its last row 0 0 0 1; an axis must not be zero. */
fv_status fv_bop_read_models_info(const char *path, fv_pose_model_info **infos, int64_t *n);
fv_status fv_bop_write_models_info(const char *path, const fv_pose_model_info *infos, int64_t n);
void fv_bop_free_models_info(fv_pose_model_info *infos, int64_t n);

/* One estimate in BOP's result format (a CSV line "scene_id,im_id,obj_id,score,R,t,time", R's
 * nine values row-major and t's three (mm) separated by spaces, time in seconds per image, -1
 * unknown; docs/bop_challenge_2019.md). */
typedef struct fv_bop_result {
    int64_t scene_id, im_id, obj_id;
    double score;
    fv_pose pose;
    double time;
} fv_bop_result;

/* Reads a result file: the header line "scene_id,im_id,obj_id,score,R,t,time" (required, the
 * columns in that order), then one estimate per line; empty lines skipped. A bad line is
 * FV_ERR_FORMAT naming the file, line and column. */
fv_status fv_bop_read_results(const char *path, fv_bop_result **r, int64_t *n);
fv_status fv_bop_write_results(const char *path, const fv_bop_result *r, int64_t n);

/* The figures of fv_pose_evaluate. Targets: every (scene, image, object) of the split's
 * scene_gt.json, scored against that object's most visible instance in the image
 * (scene_gt_info.json's visib_fract; the first listed on a tie). An estimate counts for the
 * target of its (scene_id, im_id, obj_id), the highest score first when there are several; a
 * target without an estimate counts as wrong in every accuracy and recall. */
typedef struct fv_pose_scores {
    int64_t targets;   /* targets scored */
    int64_t estimated; /* targets with an estimate */
    int64_t unmatched; /* estimates of no target (another image, scene or object): ignored */
    int64_t symmetric; /* targets of objects with symmetries (ADD-S used for them) */
    /* ADD (ADD-S for a symmetric object) below 10 % of the diameter (Hinterstoisser et al. 2012) */
    double add_accuracy;
    double add_mean; /* mean ADD(-S), mm, over estimated targets */
    /* BOP 2019: the recall at each threshold (MSSD: 0.05, 0.10, ..., 0.50 of the diameter;
     * MSPD: 5, 10, ..., 50 px scaled by width/640, i.e. the error × 640/width against 5..50)
     * and their mean, the average recall AR_MSSD and AR_MSPD. Symmetries discretised with
     * max_sym_disc_step 0.01, as BOP does. */
    double mssd_recalls[10], mssd_recall;
    double mspd_recalls[10], mspd_recall;
    double rotation_error_mean;    /* degrees, geodesic, smallest over symmetries (exact) */
    double translation_error_mean; /* mm */
    double acc_5deg_5cm;           /* rotation error < 5° and translation error < 50 mm */
    double proj_accuracy_5px;      /* mean 2-D distance of the projected model points < 5 px of the
                                    * image (for a symmetric object the smallest over its symmetries) */
    int64_t image_width;           /* from dir/camera.json */
} fv_pose_scores;

/* Scores estimates r [n] (a result file's) against the ground truth of dir/split (a BOP dataset:
 * dir/camera.json with "width", dir/models/models_info.json, dir/models/obj_NNNNNN.ply for each
 * object scored, dir/split/SCENE/scene_gt.json, scene_gt_info.json and scene_camera.json; split
 * NULL: "test"). Model points are the PLY's vertices. FV_ERR_FORMAT or FV_ERR_IO naming the
 * file and field of the first problem (an object without a models_info entry or model, a
 * split with no scenes); FV_ERR_NOMEM. */
fv_status fv_pose_evaluate(const char *dir, const char *split, const fv_bop_result *r, int64_t n,
                           fv_pose_scores *out);

/* ---- a pose network's data and estimates ---- */
/* One training or evaluation sample of a BOP split: an image and its target instance, the
 * chosen object's most visible one (scene_gt_info.json's visib_fract; the first on a tie). */
typedef struct fv_pose_sample {
    int64_t scene_id, im_id, obj_id;
    char path[4096];       /* SPLIT/SCENE/rgb/IIIIII.png */
    double K[9];           /* scene_camera.json's cam_K, for the image at its own size */
    int64_t height, width; /* the image's own size; 0 until fv_bop_to_dataset reads it */
    fv_pose gt;
    double visib_fract;
    double box[4]; /* the object's 2-D box x, y, width, height (px, BOP's bbox: pixel x..x+w-1):
                    * scene_gt_info.json's bbox_visib, else bbox_obj; -1s unknown */
    /* Filled by fv_bop_to_dataset_crop: the camera of the model's input image, its K (Kin) and
     * its rotation from the image's camera (Rv, row-major; the identity without a crop). */
    double Kin[9], Rv[9];
} fv_pose_sample;

/* Every image of dir/split (each scene's scene_gt.json, scene_gt_info.json, scene_camera.json)
 * holding obj_id (>= 1), in scene then im_id order; images without it are left out. *samples
 * malloc'd (free()). FV_ERR_FORMAT naming the file and field of a problem, or the split when no
 * image holds the object; FV_ERR_IO. */
fv_status fv_bop_samples(const char *dir, const char *split, int64_t obj_id,
                         fv_pose_sample **samples, int64_t *n);

/* The samples as a dataset for a network ending in the `pose` head: each image (PNG or JPEG)
 * decoded at `channels` (1 or 3), resized to height × width (bilinear, half-pixel centres,
 * aspect not kept) and its K scaled alike (fv_pose_scale_K); the output named `output` gets 16
 * floats a sample: R (9, row-major), t (3, mm), then the scaled fx, fy, cx, cy (the pose loss's
 * targets). Fills each sample's height, width, Kin and Rv (fv_bop_to_dataset_crop without a
 * crop). FV_ERR_INVALID for bad arguments; the image reader's errors naming the file. */
fv_status fv_bop_to_dataset(fv_pose_sample *samples, int64_t n, int64_t height, int64_t width,
                            int channels, const char *output, fv_dataset **out);

/* K [9] of an image of src_h × src_w resized to dst_h × dst_w (pixel centres at integers, as
 * BOP's K): fx·sx, fy·sy, (cx + 0.5)·sx − 0.5, (cy + 0.5)·sy − 0.5 with sx = dst_w/src_w,
 * sy = dst_h/src_h. */
void fv_pose_scale_K(const double K[9], int64_t src_h, int64_t src_w, int64_t dst_h, int64_t dst_w,
                     double out[9]);

/* A pose from the pose head's output y [12] (R row-major, then x/z, y/z, z/f) and the K [9] of
 * the model's input image: z = y[11]·(fx + fy)/2, t = (y[9]·z, y[10]·z, z) in mm; R copied as
 * the head made it (a rotation by Gram–Schmidt). */
void fv_pose_from_head(const float y[12], const double K[9], fv_pose *out);

/* A crop around the object ("dynamic zoom-in", CDPN and GDR-Net's DZI) as the pose network's
 * input: a square of side pad · max(w, h) of the object's 2-D box (x, y, w, h), centred on it,
 * seen by a virtual camera turned to look through the box's centre (a perspective crop, so that
 * the crop's principal point is its centre and the rotation the network sees is the one the
 * crop shows) and resized to the input. At training, with jitter: the centre moved by up to
 * jitter_shift · (w, h) and the side scaled by 1 ± jitter_scale, uniformly (GDR-Net's "uniform"
 * DZI); the stream seeded by seed and the sample's index. */
typedef struct fv_pose_crop {
    bool enabled;
    double pad;                        /* the side over the box's longer side (GDR-Net: 1.5) */
    double jitter_scale, jitter_shift; /* GDR-Net: 0.25, 0.25 */
    bool jitter;                       /* apply them (training) */
    uint64_t seed;
} fv_pose_crop;

/* The virtual camera of a crop: K [9] the original image's, centre [2] the crop's centre c in
 * its pixels (centres at integers: a box x, y, w, h has c = (x + w/2 − 1/2, y + h/2 − 1/2)) and
 * side_px (> 0) the crop's side there. Rv [9] (row-major) is the smallest
 * rotation that turns the ray through c, K⁻¹(c, 1), onto the optical axis (x_virtual = Rv ·
 * x_camera), and Kv [9] the crop's camera for an out_h × out_w image: fx·out_w/side_px,
 * fy·out_h/side_px, principal point at its centre ((out_w − 1)/2, (out_h − 1)/2). A pose (R, t)
 * in the image's camera is (Rv·R, Rv·t) in the crop's; a pixel p of the crop shows the image's
 * pixel ~ K·Rvᵀ·Kv⁻¹·p (Yu et al., "PCLs: Perspective Crop Layers", CVPR 2021). */
void fv_pose_crop_camera(const double K[9], const double centre[2], double side_px, int64_t out_h,
                         int64_t out_w, double Rv[9], double Kv[9]);

/* The crop's pixels: out [out_h × out_w × channels] (uint8, channels last) sampled bilinearly
 * from src [h × w × channels] at K·Rvᵀ·Kv⁻¹·(u, v, 1) for each crop pixel (u, v); 0 outside the
 * image. */
void fv_pose_crop_image(const uint8_t *src, int64_t h, int64_t w, int channels, const double K[9],
                        const double Rv[9], const double Kv[9], uint8_t *out, int64_t out_h,
                        int64_t out_w);

/* fv_bop_to_dataset with crop (NULL or !enabled: the whole image resized): each sample's box
 * (sample.box, w and h > 0 and not wholly outside the image: FV_ERR_FORMAT naming its image
 * otherwise) gives the crop
 * (fv_pose_crop_camera, the centre and side jittered when crop->jitter), the targets are the
 * pose in the crop's camera (Rv·R, Rv·t) and the crop's fx, fy, cx, cy. Fills each sample's
 * height, width, Kin and Rv (Rv the identity and Kin the resized K without a crop). */
fv_status fv_bop_to_dataset_crop(fv_pose_sample *samples, int64_t n, int64_t height, int64_t width,
                                 int channels, const char *output, const fv_pose_crop *crop,
                                 fv_dataset **out);

/* The estimate in the sample's own camera from the pose head's output y [12] for the sample's
 * input image (after fv_bop_to_dataset_crop): fv_pose_from_head with Kin, then R = Rvᵀ·R',
 * t = Rvᵀ·t'. */
void fv_pose_sample_estimate(const fv_pose_sample *s, const float y[12], fv_pose *out);

/* The crop a pose network expects: its pose head's crop=box, crop_pad=, crop_jitter_scale=,
 * crop_jitter_shift= (jitter and seed left false and 0). false (out->enabled false) when the
 * model's output is not a pose head or it takes whole images (crop=none). */
bool fv_model_pose_crop(const fv_model *m, fv_pose_crop *out);

/* Whether the model's output layer is a `pose` head; *extent (when not NULL) receives its
 * extent= (mm, 3 values). */
bool fv_model_is_pose(const fv_model *m, double extent[3]);

/* Whether the model's output layer is a `pose` head trained for a symmetric object (its
 * symmetry= discrete or continuous: PoseCNN's SLoss); false otherwise. */
bool fv_model_pose_symmetric(const fv_model *m);

/* The ADD(-S) accuracy–threshold curve: err [n] each target's ADD (ADD-S for a symmetric
 * object) over the object's diameter (NaN: no estimate, never counted right), the accuracy at
 * thresholds 0 to 0.5 of the diameter, 10 % marked. NULL with FV_ERR_INVALID when n < 1. */
fv_picture *fv_plot_pose_accuracy(const double *err, int64_t n);

/* One image of fv_plot_poses: its pixels at its own size (height × width × channels, 1 or 3,
 * row-major), its K [9] at that size, the estimate and the true pose (either NULL: none) and a
 * caption (NULL: none). */
typedef struct fv_pose_view {
    const uint8_t *pixels;
    int64_t height, width;
    int channels;
    double K[9];
    const fv_pose *est, *gt;
    const char *caption;
} fv_pose_view;

/* Poses drawn over their images, each scaled by a whole factor to about 256 pixels: the object's
 * bounding box (min [3], size [3] in mm, models_info's min_x.. and size_x..) projected through K
 * as 12 edges (orange: the estimate; green: the true pose) and its axes from the model's origin,
 * x red, y green, z blue, half the box's largest side long; segments with an end behind the
 * camera are left out. With any true pose, each image twice side by side (estimate, truth), two
 * images a row; else four a row. 1 <= n <= 64; FV_ERR_INVALID for an image without pixels. */
fv_picture *fv_plot_poses(const fv_pose_view *v, int64_t n, const double min[3],
                          const double size[3]);

#ifdef __cplusplus
}
#endif
#endif
