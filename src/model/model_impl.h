/* model_impl.h — the layout of struct fv_model, private to the files of src/model/.
 */
#ifndef FV_MODEL_IMPL_H
#define FV_MODEL_IMPL_H

#include "model/model.h"
#include "io/io.h"

/* Room for a monitored column name ("val_mean_average_precision" and shorter). */
enum { FV_MONITOR_MAX = 48 };

struct fv_model {
    fv_layer *layers; /* the Sequential list, input excluded */
    int nlayers, cap;
    fv_shape input;
    bool has_input;

    /* compile */
    bool compiled;
    fv_loss_kind loss;
    fv_optim optim;
    uint64_t compile_given; /* bits of compile keys given (canonical text) */
    char metrics_text[256]; /* compile's metrics= as given (checked by fv__metric_check_names) */
    double compiled_lr; /* the learning rate compile set (reduce_lr_on_plateau changes optim's) */

    /* fit line; fit.early_stopping and fit.reduce_lr_on_plateau point to the arrays below */
    fv_fit_opts fit;
    uint64_t fit_given; /* bit i: the fit line gave key i of model.c's fit_keys */
    char es_monitor[FV_MONITOR_MAX];
    char rlr_monitor[FV_MONITOR_MAX];

    fv_fit_info last_fit; /* fv_model_last_fit */

    /* parameters: one block each for weights, gradients and optimizer state */
    int64_t nweights;
    float *weights, *grads, *opt_state;
    int opt_slots; /* state floats per weight the block was sized for */

    /* the plan for batches of up to plan_n samples with plan_threads threads */
    int64_t plan_n;
    int plan_threads;
    float **acts;   /* per layer: plan_n × out */
    float *dbuf[2]; /* ping-pong gradients, plan_n × largest layer size */
    float *xbuf;    /* one batch of inputs */
    int32_t *lbuf;  /* its labels */
    float *tbuf;    /* its float targets */
    void *scratch;
    size_t scratch_bytes;
    void *block; /* the one allocation holding all of the above */
    size_t block_bytes;
    int64_t out_of_last; /* n of the last forward pass (fv_model_layer_output) */

    uint64_t seed;        /* for dropout streams */
    int64_t dropout_step; /* training steps taken: names each step's dropout stream */

    char **class_names; /* nclass_names names (classes.c), or NULL */
    int64_t nclass_names;
};

/* classes.c: the class names as the metadata entry "fovea.class_names" (a JSON array), NULL when
 * there are none (malloc'd); and read back from a loaded file's entry (NULL: none). */
#define FV_CLASS_NAMES_KEY "fovea.class_names"
char *fv__model_class_names_json(const fv_model *m);
fv_status fv__model_class_names_parse(fv_model *m, const char *json, const char *path);
void fv__model_class_names_free(fv_model *m);

/* Writes the model as fv_model_save does, plus extra tensors and metadata (a checkpoint's). */
fv_status fv__model_write(const fv_model *m, const char *path, const fv_st_out *extra, int nextra,
                          const char *const *xkeys, const char *const *xvalues, int nxmeta);
/* Checks that f holds the model's tensors with its shapes, then copies them into the model.
 * A checkpoint's state tensors are allowed beside them. */
fv_status fv__model_load_tensors(fv_model *m, const fv_st_file *f, const char *path);

/* Allocates and initialises the weights if they do not exist yet (glorot_uniform from seed). */
fv_status fv__model_ensure_weights(fv_model *m, uint64_t seed);
/* Sizes the optimizer state for the compiled optimizer (zeroed when newly allocated). */
fv_status fv__model_ensure_opt_state(fv_model *m);
/* Makes buffers for batches of n samples. */
fv_status fv__model_plan(fv_model *m, int64_t n);
/* Forward pass over n samples in m->xbuf-like x; training enables dropout. */
void fv__model_forward(fv_model *m, const float *x, int64_t n, bool training);
/* Output size of the last layer (or the input when there are no layers). */
int64_t fv__model_out_size(const fv_model *m);
/* Checks that a dataset fits the model (sample shape, labels within the output units). */
fv_status fv__model_check_data(const fv_model *m, const fv_dataset *d, const char *what);
/* Whether accuracy means something for the compiled loss (a classification loss, or mse/mae
 * with more than one output). */
bool fv__model_accuracy_defined(const fv_model *m);
/* Keras' mode 'auto' for a monitored column: true when larger is better (accuracy, precision,
 * recall, f1, auc, prc, map, with or without val_). */
bool fv__monitor_higher_is_better(const char *column);
/* The canonical form of a monitored column name ("val_acc" -> "val_accuracy", "loss"), written
 * into out; FV_ERR_INVALID naming the valid forms if it is not one. */
fv_status fv__monitor_canonical(const char *name, char *out, size_t size);
/* Correct predictions in a batch for Keras' accuracy matching the loss. */
int64_t fv__model_count_correct(const fv_model *m, const float *y, const int32_t *labels,
                                int64_t n);

#endif
