/* model_impl.h — the layout of struct fv_model, private to the files of src/model/.
 */
#ifndef FV_MODEL_IMPL_H
#define FV_MODEL_IMPL_H

#include "model/model.h"

/* Keys the fit line accepts; bit i of fit_given marks key i as given. */
enum { FV_FIT_KEYS = 5 };

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
    bool metric_accuracy;
    char metrics_text[256];

    /* fit line */
    fv_fit_opts fit;
    uint64_t fit_given;

    /* parameters: one block each for weights, gradients and optimizer state */
    int64_t nweights;
    float *weights, *grads, *opt_state;
    int opt_slots; /* state floats per weight the block was sized for */

    /* the plan for batches of up to plan_n samples with plan_threads threads */
    int64_t plan_n;
    int plan_threads;
    float **acts;        /* per layer: plan_n × out */
    float *dbuf[2];      /* ping-pong gradients, plan_n × largest layer size */
    float *xbuf;         /* one batch of inputs */
    int32_t *lbuf;       /* its labels */
    float *tbuf;         /* its float targets */
    void *scratch;
    size_t scratch_bytes;
    void *block;         /* the one allocation holding all of the above */
    size_t block_bytes;
    int64_t out_of_last; /* n of the last forward pass (fv_model_layer_output) */

    uint64_t seed;      /* for dropout streams */
    int64_t dropout_step; /* training steps taken: names each step's dropout stream */
};

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
/* Whether the compiled loss uses integer labels. */
bool fv__model_accuracy_defined(const fv_model *m);
/* Correct predictions in a batch for Keras' accuracy matching the loss. */
int64_t fv__model_count_correct(const fv_model *m, const float *y, const int32_t *labels,
                                int64_t n);

#endif
