/* images.h — what the subcommands share for image data: recognising an image folder or CIFAR's
 * binary files, the image flags (--interpolation, --crop-to-aspect-ratio, --follow-links,
 * --strict, --file-order), loading with a progress bar and Keras' "Found N files belonging to K
 * classes." line, and the model's input size.
 */
#ifndef FOVEA_CLI_IMAGES_H
#define FOVEA_CLI_IMAGES_H

#include "fovea.h"

#include <stdbool.h>

/* The image flags as given on a command line (NULL or false when absent). */
typedef struct cli_image_flags {
    const char *interpolation; /* bilinear|nearest */
    bool crop_to_aspect_ratio;
    bool follow_links;
    bool strict;
    const char *file_order;  /* class|name */
    const char *label_mode;  /* CIFAR-100: fine|coarse */
    const char *class_names; /* "A,B,C" or "@FILE" (one name a line): Keras' class_names */
    bool quiet;              /* no "Found ..." line and no progress bar (warnings still shown) */
} cli_image_flags;

/* The usage text of those flags (for the subcommands' help). */
#define CLI_IMAGE_FLAGS_USAGE                                                                      \
    "  --interpolation bilinear|nearest  how image files are resized to the model's input\n"       \
    "                            (default bilinear: tf.image.resize, half-pixel centres)\n"        \
    "  --crop-to-aspect-ratio    centre-crop to the input's aspect ratio before resizing\n"        \
    "  --follow-links            enter folders reached through symbolic links\n"                   \
    "  --strict                  an image file that cannot be decoded is an error (default: it\n"  \
    "                            is skipped with a warning)\n"                                     \
    "  --file-order class|name   class: Keras' order (classes, then file names); name: all "       \
    "files\n"                                                                                      \
    "                            by file name (the IDX order of 'fovea data get --format png')\n"  \
    "  --class-names A,B,...|@FILE  the classes in label order (Keras' class_names; each must\n"   \
    "                            be a subfolder; default: the subfolders sorted); @FILE reads\n"   \
    "                            one name a line ('fovea data get --format png' writes\n"          \
    "                            DIR/class_names.txt in the IDX label order)\n"                    \
    "  --label-mode fine|coarse  CIFAR-100's labels (default fine)\n"

/* Checks the flags' values; a usage error (CLI_USAGE) or 0. */
int cli_image_flags_check(const char *cmd, const cli_image_flags *f);

/* True if path is a folder of CIFAR binary files / of images (DIR/train/CLASS or DIR/CLASS,
 * without MNIST's IDX files). */
bool cli_is_cifar_dir(const char *path);
bool cli_is_image_dir(const char *path);
/* True if the file name has an image extension (.png .jpg .jpeg .bmp .gif, any case). */
bool cli_is_image_file(const char *path);

/* The model's input as height, width, channels from its model text; false if it is not an image
 * input (rank 3). */
bool cli_model_image_shape(const fv_model *m, int64_t *h, int64_t *w, int *c);

/* Image options for the model's input and the flags, with the CLI's skip and progress reporting. */
fv_image_opts cli_image_opts(const fv_model *m, const cli_image_flags *f);

/* Loads an image folder for the model: DIR/train (+ DIR/test or DIR/val) or one tree; with
 * vsplit > 0 the training tree is split as Keras does (seeded shuffle, then the tail) into
 * *val. Prints the "Found" line(s) and the skipped files. test or val may be NULL. Returns 0 or
 * CLI_FAIL/CLI_USAGE after a message. */
int cli_load_image_dir(const char *cmd, const char *dir, const fv_model *m,
                       const cli_image_flags *f, double vsplit, uint64_t seed, fv_dataset **train,
                       fv_dataset **val, fv_dataset **test);

/* Loads image files named on the command line, or every image file in a folder given as one of
 * them (sorted), without labels. Explicit files must decode (an error otherwise); files found
 * in a folder are skipped with a warning unless --strict. */
int cli_load_image_inputs(const char *cmd, const char *const *inputs, int n, const fv_model *m,
                          const cli_image_flags *f, fv_dataset **out);

/* Evaluation data from image files for a trained model (viz features, report): an image folder
 * (DIR/test or DIR/val when DIR/train exists, else the tree itself), labelled with the model's
 * saved class names when it has them (else the subfolders sorted); CIFAR binary files (the test
 * set); image files (unlabelled). Returns CLI_CONTINUE with *d NULL when path is none of
 * these, so that the caller falls back to its array readers; else 0 or CLI_FAIL. */
int cli_load_image_eval(const char *cmd, const char *path, const fv_model *m,
                        const cli_image_flags *f, fv_dataset **d);

/* cli_model_class_names (viz.h) gives the model's saved class names. */
/* Loads CIFAR binary files. */
int cli_load_cifar(const char *cmd, const char *dir, const cli_image_flags *f, fv_dataset **train,
                   fv_dataset **test);

/* Prints fv_model_check_rescaling's warning, prefixed by the model's path, when the model
 * rescales by 1/255 data that is already in [0, 1]. Returns 0, or CLI_FAIL after a message. */
int cli_warn_rescaling(const char *cmd, const char *model_path, const fv_model *m,
                       const fv_dataset *d);

/* Copies the dataset's class names into the model (when it has them). */
int cli_keep_class_names(const char *cmd, fv_model *m, const fv_dataset *d);

#endif
