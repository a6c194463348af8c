/* model_impl.h — the layout of struct fv_model, private to the files of src/model/.
 */
#ifndef FV_MODEL_IMPL_H
#define FV_MODEL_IMPL_H

#include "model/model.h"
#include "io/io.h"

/* Room for a monitored column name ("val_mean_average_precision" and shorter). */
enum { FV_MONITOR_MAX = 48 };

/* Inputs and outputs a model may have; named terms of its loss (task-loss parts, added losses). */
enum { FV_MAX_MODEL_INPUTS = 16, FV_MAX_OUTPUTS = 16, FV_MAX_TERMS = 16 };

/* The graph. A node is a tensor: a model input or a layer's output. A node id >= 0 is the output
 * of layer `id`; a node id < 0 is model input -1 - id (fv__input_node). Layers are kept in the
 * order they were defined, and a layer may only read nodes defined before it, so the list is a
 * topological order and the graph has no cycle by construction. */
static inline int fv__input_node(int k)
{
    return -1 - k;
}

typedef struct fv_model_input {
    fv_shape shape;
    char name[64];
    int line;   /* model-text line (0: none) */
    int before; /* layers defined before this input (its place in the text) */
    bool named; /* name= given (else Keras' default "input_layer", "input_layer_1", ...) */
} fv_model_input;

struct fv_model {
    fv_layer *layers; /* in definition order, which is a topological order */
    int nlayers, cap;
    fv_model_input inputs[FV_MAX_MODEL_INPUTS];
    int ninputs;
    fv_shape input; /* inputs[0].shape: the single-input calls' input */
    bool has_input; /* ninputs > 0 */
    int last_node;  /* the node the next layer line reads by default (the previous line's) */
    int outputs[FV_MAX_OUTPUTS]; /* output nodes; by default the last layer */
    int noutputs;                /* 0: not given (the last layer) */
    int outputs_line;
    bool
        functional; /* written with inputs=, several inputs or outputs: Keras' functional summary */

    /* compile */
    bool compiled;
    fv_loss_kind loss; /* the loss of the first output (of every output when none is named) */
    /* Several outputs (Keras 3's dict form of compile): each output's loss and weight, in the
     * order of `model outputs=`; out_named: loss= named outputs (OUT:loss,...). */
    fv_loss_kind out_loss[FV_MAX_OUTPUTS];
    double out_weight[FV_MAX_OUTPUTS];
    bool out_named, weights_named;
    fv_optim optim;
    uint64_t compile_given; /* bits of compile keys given (canonical text) */
    char metrics_text[256]; /* compile's metrics= as given (checked by fv__metric_check_names) */
    bool bf16; /* precision=bf16 (fv_model_set_precision): copied into each layer by the plan */
    /* conv_algorithm=winograd (fv_model_set_conv_algorithm): copied into each layer by the plan */
    bool winograd;
    double compiled_lr; /* the learning rate compile set (reduce_lr_on_plateau changes optim's) */
    /* The loss's named terms beyond `loss` and OUT_loss (fv__model_terms_refresh): each task-loss
     * head's parts, then each added loss with a column, in layer order; their values on the
     * last batch whose loss was computed. */
    int nterms;
    char term_names[FV_MAX_TERMS][FV_MONITOR_MAX];
    double term_value[FV_MAX_TERMS];

    /* fit line; fit.early_stopping and fit.reduce_lr_on_plateau point to the arrays below */
    fv_fit_opts fit;
    uint64_t fit_given; /* bit i: the fit line gave key i of model.c's fit_keys */
    char es_monitor[FV_MONITOR_MAX];
    char rlr_monitor[FV_MONITOR_MAX];
    char fit_target[128]; /* fit target= as given ("input", "OUT:input,..."), "" : the data's */
    char fit_gan[64];     /* fit gan=NODE: the generator's output, where the discriminator begins */

    fv_fit_info last_fit; /* fv_model_last_fit */
    fv_label_info labels; /* the training data's label column and class names (save.c) */

    /* parameters: one block each for weights, gradients and optimizer state. The weight block
     * holds the trainable tensors first [0, ntrain), then the frozen layers' tensors, then the
     * state tensors (moving statistics); gradients cover [0, ngrads) (trainable and frozen: a
     * frozen layer still passes gradients through, its own are computed and left unused); the
     * optimizer state and its update cover [0, ntrain) only. */
    int64_t nweights, ntrain, ngrads;
    /* grads [ngrads] are all zero: the optimizer cleared them after its step
     * (fv__optim_step_clear), so the next pass skips zeroing them */
    bool grads_clear;
    float *weights, *grads, *opt_state;
    int opt_slots; /* state floats per trainable weight the block was sized for */

    /* the plan for batches of up to plan_n samples with plan_threads threads */
    int64_t plan_n;
    int plan_threads;
    float **acts;     /* per layer: plan_n × out */
    float **gbuf;     /* gradient buffers, plan_n × largest layer size each, reused by lifetime */
    int ngbuf;        /* how many: 2 for a chain */
    int *gslot;       /* per layer: its output gradient's buffer, -1: none needed */
    int *gtemp;       /* per layer: first of its input slots' temporary buffers (fan-in sums) */
    bool *needs_grad; /* per layer: some weight at or before it receives a gradient */
    bool *gwritten;   /* per layer, during backward: its gradient buffer holds a first sum */
    float *xbufs[FV_MAX_MODEL_INPUTS]; /* one batch of each input */
    float *xbuf;                       /* xbufs[0] */
    int32_t *lbuf;                     /* its labels (the first output's) */
    float *tbuf;                       /* its float targets (the first output's) */
    int32_t *lbufs[FV_MAX_OUTPUTS];    /* each output's labels and targets for the batch */
    float *tbufs[FV_MAX_OUTPUTS];
    void *scratch;
    size_t scratch_bytes;
    void *block; /* the one allocation holding all of the above */
    size_t block_bytes;
    int64_t out_of_last; /* n of the last forward pass (fv_model_layer_output) */
    /* A lean plan (prediction, evaluation): activation buffers reused once no later layer reads
     * them, no saved state, and each BatchNormalization that follows a convolution or dense
     * layer folded into a copy of its weights (layer->fold_w, fold_b) and skipped. */
    bool plan_lean;
    /* per layer: no pass of its own: folded into the layer before it or run in its epilogue
     * (lean plans), or aliased to its input (both plans: fv_layer_kind.identity) */
    bool *skip;
    /* Fused groups of a full plan (fuse.c), run by the training steps' passes: per layer, for a
     * BatchNormalization or Add run inside a group, the group's ReLU (else -1); for that ReLU, the
     * group's BatchNormalization and Add (-1: none; else both -1). */
    int *fuse_tail, *fuse_bn, *fuse_add;
    /* Per layer of a full plan (fuse.c): for a layer whose output's channel sums its only reader,
     * a BatchNormalization, takes from its forward (fv_bn_pair), that reader (else -1); and the
     * sums' buffers, indexed by the producing layer. */
    int *fuse_sums;
    fv_bn_pair *sums;
    /* Per layer of a full plan: for such a layer whose BatchNormalization leaves its input
     * gradient to the layer's backward (fv_bn_pair), the BatchNormalization's place in the
     * backward order (its group's ReLU, or itself); else -1. */
    int *fuse_dx;
    /* Per layer of a full plan: for a conv2d that reads first the output of a BatchNormalization
     * (or its group) paired with a layer p, and writes that output itself (fv_bn_pair.defer_y),
     * p; else -1. */
    int *fuse_y;
    bool pair_sums_off, pair_dx_off, pair_y_off; /* fv__model_set_bn_pairs */
    bool fuse_off;   /* fv__model_set_fusion(m, false): no groups (the tests' reference) */
    bool fusing;     /* the running pass is a training step's (loss_and_grad) or an evaluation's
                        (fit.c evaluate_range): groups run fused where the plan has them */
    bool fused_last; /* the last forward pass ran fused: the groups' inner outputs are not kept */
    bool
        lean_relu_off; /* fv__model_set_lean_relu(m, false): inference plans run every ReLU apart */
    bool dx_add_off; /* fv__model_set_dx_add(m, false): every second reader's gradient summed apart
                      */
    bool alias_off; /* fv__model_set_alias(m, false): identity layers copy (the tests' reference) */
    bool chain_off; /* fv__model_set_chains(m, false): every layer runs its own forward pass */
    /* Per layer of a plan: the producer whose forward runs it sample by sample (fv_chain), or -1 */
    int *chain_of;
    bool
        bchain_off; /* fv__model_set_backward_chains(m, false): every chain member's own backward */
    /* Per layer of a training plan: the producer whose backward runs its backward sample by sample
     * (fv_bchain), or -1 */
    int *bchain_of;

    uint64_t seed;        /* for dropout streams */
    int64_t dropout_step; /* training steps taken: names each step's dropout stream */

    /* Data-parallel training (parallel.c), set during fv_model_fit only (coll NULL otherwise):
     * the current batch of dp_batch samples, of which this process holds chunks [dp_c0, dp_c1)
     * starting at the batch's sample dp_first; the whole batch's targets, outputs and output
     * gradients per head; the first failure of a collective during a pass. */
    const fv_collective *coll;
    int64_t dp_batch, dp_first;
    /* Inference: the evaluated data's index of the current batch's sample 0 (the loops of
     * evaluate and predict set it; a sampling layer's draw at inference is keyed by it). */
    int64_t infer_first;
    int dp_c0, dp_c1;
    fv_status dp_status;
    int32_t *dp_labels[FV_MAX_OUTPUTS];
    float *dp_targets[FV_MAX_OUTPUTS], *dp_y[FV_MAX_OUTPUTS], *dp_dy[FV_MAX_OUTPUTS];
    void *dp_scratch; /* the task losses' scratch for the whole batch */
    float *dp_added;  /* an added loss's layer inputs and output for the whole batch */
    void *dp_block;
};

/* Layer `layer`'s random stream at training step `step` (dropout masks, augmentation maps). */
void fv__model_step_rng(const fv_model *m, int64_t step, int layer, fv_rng *out);
/* The model's leading preprocessing layers (augment.c): how many of its first layers form a
 * chain of preprocessing kinds from its first input (layer 0 reads it, each next one the one
 * before). */
int fv__model_augment_chain(const fv_model *m);
/* The affine map (layers/augment.h: input pixel coordinates to output ones, 6 numbers) that
 * those layers applied to each of the n samples of the last forward pass, composed in order,
 * into A [n × 6]; training says whether that pass was a training one. The identity for each
 * sample when no layer moves pixels. For a detection or pose loss that must move its targets
 * with the image: call after the training forward pass, before the loss. */
void fv__model_augment_affine(const fv_model *m, int64_t n, bool training, double *A);
/* Keras' Normalization.adapt for every normalization adapt=true layer not adapted yet (its count
 * is 0): the mean and variance of what reaches it from d (fit calls it once its weights exist).
 * FV_ERR_INVALID when such a layer is not in the leading preprocessing chain. */
fv_status fv__model_adapt(fv_model *m, const fv_dataset *d);
/* Refuses a leading preprocessing layer that moves pixels (flip, translation, rotation, zoom,
 * crops, resizing) in front of a head with a task loss (yolo: its boxes would not move with the
 * image); FV_ERR_INVALID naming the layer, line and loss. fit calls it before training. */
fv_status fv__model_augment_check(const fv_model *m);
/* The summary's closing lines for a model with preprocessing layers: each one with all its
 * arguments, defaults included (value_range=0,1), and when it acts. Nothing for other models. */
void fv__model_summary_preprocessing(const fv_model *m, FILE *out);

/* Fills the fused groups (fuse_tail, fuse_bn, fuse_add: arrays of nlayers) of a full plan: each
 * plain ReLU whose input is a BatchNormalization, or an Add of a BatchNormalization and another
 * tensor, where the ReLU and the Add are those outputs' only readers, none is a model output, and
 * no other layer between the group's first and last reads the group's inputs (their gradients are
 * then summed in the unfused order). on false: no groups. */
void fv__fuse_plan(fv_model *m, bool on);
/* Whether node is one of the model's outputs (the last layer's, or those `model outputs=` names).
 */
bool fv__model_is_output(const fv_model *m, int node);
/* Whether node is read by exactly one input slot of one layer, which is reader, and is no model
 * output. */
bool fv__model_only_reader(const fv_model *m, int node, int reader);
/* Whether l is a ReLU layer or an activation layer of activation=relu with Keras' defaults (no
 * max_value, slope or threshold): the ReLU the plans fuse. */
bool fv__fuse_plain_relu(const fv_layer *l);
/* Fills fuse_sums of a full plan (after the groups): each layer whose kind gives_sums and whose
 * output is read only by one layer, of a kind with input_sums, and is no model output; fuse_dx,
 * where nothing but that reader's group runs between them; and fuse_y, for the layer of a kind
 * that gives_sums reading that reader's (group's) output first, alone, when it is no model
 * output. on false: none. */
void fv__fuse_plan_sums(fv_model *m, bool on);
/* The nodes whose gradients layer t's backward writes, in order, into src (FV_MAX_INPUTS):
 * its inputs, or for a group's ReLU the Add's other input, then the BatchNormalization's input.
 * Returns the count. */
int fv__fuse_grad_inputs(const fv_model *m, int t, int *src);
/* For a group's ReLU t with an Add: the node the Add adds to the BatchNormalization's output. */
int fv__fuse_skip_input(const fv_model *m, int t);

/* Writes the model as fv_model_save does, plus extra tensors and metadata (a checkpoint's). */
fv_status fv__model_write(const fv_model *m, const char *path, const fv_st_out *extra, int nextra,
                          const char *const *xkeys, const char *const *xvalues, int nxmeta);
/* Checks that f holds the model's tensors with its shapes, then copies them into the model.
 * A checkpoint's state tensors are allowed beside them. */
fv_status fv__model_load_tensors(fv_model *m, const fv_st_file *f, const char *path);

/* Allocates and initialises the weights if they do not exist yet (glorot_uniform from seed). */
fv_status fv__model_ensure_weights(fv_model *m, uint64_t seed);
/* The same allocation with the values left unset, for a caller that writes every weight next
 * (loading a file that holds them all): no initialisation to throw away. */
fv_status fv__model_alloc_weights(fv_model *m);
/* Sizes the optimizer state for the compiled optimizer (zeroed when newly allocated). */
fv_status fv__model_ensure_opt_state(fv_model *m);
/* Makes buffers for batches of n samples: every layer's output kept, gradients and saved state
 * (training, and fv_model_forward's layer outputs). */
fv_status fv__model_plan(fv_model *m, int64_t n);
/* Drops the plan (the next run makes a new one): a compile changes the heads' target widths and
 * the task losses' scratch that the plan sized; the precision, the layers' scratch. */
void fv__model_plan_reset(fv_model *m);
/* Sets a plan switch (*off = !on: m->fuse_off, chain_off, ...) and, when it changes, drops the plan
 * so that the next pass plans with it or without. */
void fv__model_plan_switch(fv_model *m, bool *off, bool on);
/* For inference only (predict, evaluate): the plan in place if it is large enough, else a lean
 * one; refreshes the folded weights from the current ones. */
fv_status fv__model_plan_inference(fv_model *m, int64_t n);
/* Forward pass over n samples of a single-input model, x [n × input size]; training selects
 * training mode (dropout, batch statistics). */
void fv__model_forward(fv_model *m, const float *x, int64_t n, bool training);
/* The same for any number of inputs: x[k] [n × size of input k]. */
void fv__model_forward_inputs(fv_model *m, const float *const *x, int64_t n, bool training);
/* The outputs that carry a loss ("heads"): every `model outputs=` output, or the single output.
 * fv__model_head_node gives head j's node. */
int fv__model_heads(const fv_model *m);
int fv__model_head_node(const fv_model *m, int j);
/* Head j's loss and weight (Keras' compile: loss per output, loss_weights). */
fv_loss_kind fv__model_head_loss(const fv_model *m, int j);
/* Head j's task loss (FV_LOSS_TASK: its output layer kind's), or NULL. */
const fv_task_loss *fv__model_head_task(const fv_model *m, int j);
/* Head j's loss as compile names it ("mean_squared_error", a task loss's name). */
const char *fv__model_head_loss_name(const fv_model *m, int j);
/* Floats of target per sample head j takes: its output's size, or its task loss's width. */
int64_t fv__model_head_target_width(const fv_model *m, int j);
/* Recomputes the loss's named terms (nterms, term_names) from the compiled losses and the
 * layers; FV_ERR_INVALID when there are too many or a name is too long for a column. */
fv_status fv__model_terms_refresh(fv_model *m);
/* The loss of a batch after the forward pass: the weighted sum of each head's loss (y[j] its
 * output [n × size]; t[j] its targets; fused[j] as fv__loss, NULL: none) plus the layers' added
 * losses. dy (NULL: no gradients) receives each head's ∂loss/∂y where dy[j] is not NULL;
 * head_loss[j] (NULL: not wanted) each head's weighted loss; terms[] the named terms, in
 * term_names order. Regularizers' penalty not included. */
double fv__model_heads_loss(fv_model *m, const float *const *y, const fv_targets *t, int64_t n,
                            const bool *fused, float *const *dy, double *head_loss, double *terms);
/* The node of the single-output calls: outputs[0], or the last layer when none was named. */
int fv__model_output_node(const fv_model *m);
/* Output size of that node (or of the first input when there are no layers). */
int64_t fv__model_out_size(const fv_model *m);
/* The activations of the output node after the last forward pass. */
const float *fv__model_out(const fv_model *m);
/* The shape of a node. */
const fv_shape *fv__model_node_shape(const fv_model *m, int node);
/* The name of a node (an input's or a layer's). */
const char *fv__model_node_name(const fv_model *m, int node);
/* Checks the finished graph: every input and layer output is read by a layer or is a model
 * output. Errors name the layer; *line (when not NULL) receives its model-text line (0: none).
 * Called before weights are made. */
fv_status fv__model_graph_check(const fv_model *m, int *line);
/* The weight regularizers' penalty, Σ l1·|w| + l2·w² over the trainable tensors that have one
 * (Keras' kernel_regularizer, bias_regularizer), summed in double in tensor order; with grad,
 * adds its gradient l1·sign(w) + 2·l2·w into the gradient block. */
double fv__model_penalty(fv_model *m, bool grad);
/* Gathers samples of every input into the model's input buffers (xbufs): d's own samples for the
 * first input, its arrays by name (fv_dataset_add_input) for the others. */
void fv__model_gather_inputs(fv_model *m, const fv_dataset *d, const int64_t *idx, int64_t first,
                             int64_t count);
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

/* Targets that are the model's input (fit target=, targets.c). Which input is head j's target,
 * or -1 (the data's own targets, also when target= does not resolve). */
int fv__model_target_input(const fv_model *m, int j);
/* A GAN (fit gan=NODE, gan.c): checks that v is a node name and copies it into out. */
fv_status fv__gan_parse(const char *v, char *out, size_t n);
/* fv_model_fit of a model whose fit line says gan=NODE: the generator and discriminator trained
 * alternately (gan.c). */
fv_status fv__gan_fit(fv_model *m, const fv_dataset *train, const fv_fit_opts *opts,
                      fv_history **history);

/* Checks the syntax of a fit line's target= value (items [OUT:]SRC separated by commas, names
 * of letters, digits, '_', '.', '-', '/') and copies it into out; names are resolved later. */
fv_status fv__target_parse(const char *v, char *out, size_t n);
/* Checks target= against the graph and the data d (named by what in messages): every item names
 * an input ('input' for a single-input model, or an input's name) and, with OUT:, an output;
 * each such output has its input's shape; under binary_crossentropy the input's values are in
 * [0, 1] (pixels always are). FV_ERR_INVALID or FV_ERR_SHAPE naming the item and both shapes,
 * or the sample and value. */
fv_status fv__model_targets_check(const fv_model *m, const fv_dataset *d, const char *what);
/* After the inputs of a batch (samples idx[first..first + count), or first.. when idx is NULL)
 * were gathered: gathers each target input's rows of the whole batch from d into its head's
 * target buffer, as the input is gathered (pixels / 255), and points t[j] at it. Heads without
 * one are left as they are. */
void fv__model_targets_fill(fv_model *m, const fv_dataset *d, const int64_t *idx, int64_t first,
                            int64_t count, fv_targets *t);

#endif
