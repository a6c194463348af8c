/* layer.h — the contract every layer kind fulfils, and the registry that lists them.
 * A kind declares its arguments (Keras' names and defaults) in a table, checks them against its
 * input shape in build(), and provides forward and backward on a batch. The model, the
 * model-file parser, the summary and the weights file only go through this contract.
 */
#ifndef FV_LAYER_H
#define FV_LAYER_H

#include "core/core.h"
#include "kernels/eltwise.h"
#include "kernels/kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- arguments ----------------------------------------------------------------------------- */

typedef enum fv_arg_type {
    FV_ARG_INT,         /* int64_t */
    FV_ARG_PAIR,        /* int64_t[2]: "3" means 3,3; "3,2" is (rows, cols) */
    FV_ARG_FLOAT,       /* double; with default "None": NAN stands for None */
    FV_ARG_BOOL,        /* bool: true|false */
    FV_ARG_CHOICE,      /* int: index into choices */
    FV_ARG_SHAPE,       /* fv_shape: "28,28,1" or "4" */
    FV_ARG_REGULARIZER, /* fv_regularizer: "l2:0.0001", "l1:0.01", "l1_l2:0.01,0.01" or None */
    FV_ARG_INTS,  /* fv_ints: 1 to 4 comma-separated integers, each in [min, max], kept as given */
    FV_ARG_FLOATS /* fv_floats: 1 to 18 comma-separated numbers, each in [min, max]; with default
                     "None": n = 0 stands for None */
} fv_arg_type;

/* Keras' L1L2 weight regularizer: the penalty l1·Σ|w| + l2·Σw² is added to the loss. */
typedef struct fv_regularizer {
    double l1, l2;
} fv_regularizer;

/* The value of an FV_ARG_INTS argument: "1,2,3,4" is n = 4 and v = {1, 2, 3, 4}. The kind says
 * which counts it accepts (zero_padding2d: 1, 2 or 4; reshape: 1 to 3). */
typedef struct fv_ints {
    int n;
    int64_t v[4];
} fv_ints;

/* The value of an FV_ARG_FLOATS argument: "10,13,16,30" is n = 4 and v = {10, 13, 16, 30}
 * (yolo's anchors: up to nine width,height pairs; Keras' "a float or a tuple", as random_zoom's
 * height_factor=0.2 or -0.3,0.1 and value_range=0,255). */
enum { FV_FLOATS_MAX = 18 };
typedef struct fv_floats {
    int n;
    double v[FV_FLOATS_MAX];
} fv_floats;

typedef struct fv_arg_spec {
    const char *key;
    fv_arg_type type;
    size_t offset;              /* into the kind's config struct */
    const char *def;            /* default, in model-file text; NULL: required; None: min - 1 */
    const char *const *choices; /* FV_ARG_CHOICE: NULL-terminated names */
    double min;                 /* smallest accepted value for numbers */
    double max;                 /* largest (inclusive) */
} fv_arg_spec;

/* Activation names accepted by `activation=` (index = fv_activation). */
extern const char *const fv__activation_names[];

/* ---- layers -------------------------------------------------------------------------------- */

/* Inputs a layer may take (merge layers), and weight tensors a layer may have. */
enum { FV_MAX_INPUTS = 32, FV_MAX_PARAMS = 4 };

enum { FV_INIT_GLOROT_UNIFORM, FV_INIT_ZEROS, FV_INIT_ONES };

/* One weight tensor of a layer, named "LAYER.SUFFIX" in files (Keras' weight names). A state
 * tensor (BatchNormalization's moving_mean, moving_variance) is a non-trainable weight in Keras'
 * sense: it is saved and loaded, never given a gradient, and changed only by the layer itself. */
typedef struct fv_param {
    char suffix[24]; /* "kernel", "bias", "gamma", "moving_variance", "depthwise_kernel", ... */
    int rank;
    int64_t dims[4];
    int64_t size;
    int init;
    int64_t fan_in, fan_out; /* for glorot_uniform */
    bool state;              /* non-trainable by nature: no gradient */
    fv_regularizer reg;      /* the layer's kernel_regularizer / bias_regularizer (0: none) */
    float *w;                /* into the model's parameter block */
    float *g; /* into the model's gradient block (accumulated by backward); NULL for a state */
} fv_param;

typedef struct fv_layer fv_layer;

/* A task loss: a loss that a head layer's kind provides, for targets of its own layout (a
 * detector's padded boxes, a pose network's rotation and translation). `compile loss=NAME` selects
 * it when the output layer's kind provides a task loss of that name; the targets come from the
 * dataset as the output's float targets, target_width(head) values per sample. As Keras' custom
 * loss objects (keras.losses.Loss: call(y_true, y_pred) with y_true of any shape). */
typedef struct fv_task_loss {
    const char *name;     /* compile's loss= name: "yolo", "pose" */
    const char *parts[8]; /* its terms, history columns ("box_loss", ...), NULL-terminated */
    /* Floats of target per sample for this head (its cfg decides: max objects × 5, ...). */
    int64_t (*target_width)(const fv_layer *head);
    /* Scratch bytes for a batch of n (NULL: none). */
    size_t (*scratch_bytes)(const fv_layer *head, int64_t n);
    /* Checks n samples' targets t [n × target_width] before training or evaluation starts;
     * FV_ERR_INVALID naming the sample and the value (NULL: any floats do). */
    fv_status (*check_targets)(const fv_layer *head, const float *t, int64_t n);
    /* y [n × head out] (the head's output), t [n × target_width]: writes parts[i] (each term's
     * batch value, weighted so that they sum to the loss) and returns the loss; dy, when not
     * NULL, receives ∂loss/∂y [n × head out] (written, not added). */
    double (*compute)(const fv_layer *head, const float *y, const float *t, int64_t n, float *dy,
                      double *parts, void *scratch);
} fv_task_loss;

/* What a layer (conv2d) does for the BatchNormalization that alone reads its output, while its own
 * pass has the data in cache (model/fuse.c pairs them; docs/design.md "BatchNormalization's passes
 * inside the convolution's"; bn_pair.c):
 * - forward: the batch's channel sums. For the run's chunk j, row (c0 + j) of part
 *   [FV_GRAD_CHUNKS × 2C] holds Σ(y − shift[c]) then Σ(y − shift[c])² over the chunk's samples in
 *   order, each channel summed over the rows in order (eltwise.h's sum_sq): the bits of the
 *   BatchNormalization's own pass, which it then skips.
 * - backward: the BatchNormalization's input gradient (eltwise.h's bn_dx), left by it to the
 *   producer's backward, which writes it chunk by chunk just before it reads it: the same bits,
 *   one pass over the gradient fewer from memory.
 * - forward, when defer_y: the BatchNormalization's output (eltwise.h's bn_norm, with its fused
 *   Add and ReLU), left by it to the conv2d that reads that output first, which writes it image by
 *   image just before it reads it (fv_run.fill). */
typedef struct fv_bn_pair {
    int64_t C;
    double *shift; /* [C]: the BatchNormalization's moving mean */
    double *part;  /* [FV_GRAD_CHUNKS × 2C]; in backward, k's room */
    bool done;     /* forward: the producer filled this run's rows in this pass */
    int64_t taken; /* forward passes whose BatchNormalization used them (for the tests) */
    /* backward, when dx_left: bn_dx's arguments per sample of per = rows·C values */
    bool dx_left;
    const float *x, *g, *relu_y, *mean, *k;
    fv__bn_relu rx; /* rx.inv set: the ReLU's mask from x (relu_y NULL); all NULL: none */
    float *dx;
    int64_t rows;
    int64_t left; /* backward passes that left dx to the producer (for the tests) */
    /* forward, when y_left: bn_norm's arguments besides x, mean (inv follows it) and rows */
    bool defer_y, y_left;
    const float *gamma, *beta, *add;
    float *y;
    bool relu;
    int64_t normed; /* forward passes that left y to its reader (for the tests) */
} fv_bn_pair;

/* One batch's run context. A run may hold a slice of a larger batch (data-parallel training:
 * see fv_collective in fovea.h): chunks [c0, c1) of the FV_GRAD_CHUNKS chunks of a batch of
 * `batch` samples, its sample 0 being the batch's sample `first`. All four zero (a run made with
 * only the first fields set) means the run holds the whole batch of n. */
typedef struct fv_run {
    int64_t n;     /* samples in this batch (this process's slice) */
    bool training; /* training mode (Keras' training=True): dropout, batch statistics */
    fv_rng *rng;   /* this layer's stream for this step: split it by fv__run_sample, never by i */
    void *scratch; /* scratch_bytes(l, n) bytes, 64-byte aligned */
    int threads;
    int64_t batch, first; /* the whole batch's size; the batch's index of this run's sample 0 */
    int64_t index0;       /* inference: the evaluated data's index of this run's sample 0 */
    int c0, c1;           /* the chunks this run holds */
    /* Gathers per-chunk sums from the other processes (NULL: one process); a failure is kept in
     * *status (the layer carries on; the model checks it after the pass). */
    const struct fv_collective *coll;
    fv_status *status;
    /* Backward: bit i set when dx[i] already holds the gradient that the layers after this one
     * sent to that tensor; backward then adds its own into it, dx[i] ← dx[i] + ∂L/∂x[i], each
     * element as fv__add_run adds (the bits of writing it elsewhere and adding it after). Set only
     * where the kind's adds_dx says it can. */
    unsigned dx_add;
    /* The pair of a layer and the BatchNormalization that alone reads its output (fv_bn_pair;
     * NULL: none): forward, for the layer, the sums to take, and for the BatchNormalization the
     * sums taken (used when done); backward, for the BatchNormalization, where to leave its input
     * gradient, and for the layer, that gradient to write chunk by chunk (when dx_left). */
    fv_bn_pair *sums;
    /* Forward: the pair whose BatchNormalization left its output, this layer's input, to this
     * layer (fv_bn_pair.defer_y; NULL: none): written image by image before it is read. */
    fv_bn_pair *fill;
    /* Forward, for a kind that runs chains (fv_layer_kind.runs_chain): the layers to run sample by
     * sample on each sample's output as soon as it is written (fv__run_chain; NULL: none). */
    const struct fv_chain *chain;
    /* Backward, for a kind that runs backward chains (fv_layer_kind.runs_bchain): the layers whose
     * input gradient, sample by sample, is this layer's output gradient, to run just before it
     * reads that sample's (fv__run_bchain; NULL: none). */
    const struct fv_bchain *bchain;
} fv_run;

/* The layers a producer's forward runs sample by sample, each right after the one before it has
 * written that sample, while the sample's tensors are in cache (the plan's chains, run.c,
 * docs/design.md "Chains"): layer[k] reads layer[k - 1]'s output (the producer's for k = 0) and
 * writes y[k] [n × its out] with its own run[k]; their own forward passes are skipped. */
enum { FV_MAX_CHAIN = 4 };
typedef struct fv_chain {
    int len;
    struct fv_layer *layer[FV_MAX_CHAIN];
    float *y[FV_MAX_CHAIN];
    fv_run run[FV_MAX_CHAIN];
    fv_rng rng[FV_MAX_CHAIN]; /* run[k].rng's stream */
} fv_chain;

/* A chain's backward (the plan's backward chains, run.c, docs/design.md "Chains"): the members
 * of a producer's chain whose backward runs sample by sample inside the producer's backward, each
 * sample's just before the producer reads its output gradient, while the sample's gradients are
 * in cache. m holds them as a forward chain does (layer, output y, run); member k also reads its
 * output gradient dy[k] [n × its out] and writes dx[k] [n × its in] (dx[0] is the producer's
 * output gradient, dy[k] is dx[k + 1]); their own backward passes are skipped. */
typedef struct fv_bchain {
    fv_chain m;
    const float *dy[FV_MAX_CHAIN];
    float *dx[FV_MAX_CHAIN];
} fv_bchain;

/* What a training plan fuses after a layer (the model's graph optimisation, docs/design.md
 * "Fused BatchNormalization, Add and ReLU"): its output y becomes ReLU(y + add), the output of the
 * Add and ReLU layers that follow it, whose own passes are then skipped. */
typedef struct fv_epilogue {
    const float *add; /* [n × out]: the residual Add's other input; NULL: no Add */
    bool relu;        /* a ReLU (max(v, 0)) last */
    float *dadd;      /* backward: receives the gradient of add's tensor (NULL: not needed) */
} fv_epilogue;

typedef struct fv_layer_kind {
    const char *name;        /* model-file name: "conv2d" */
    const char *keras_class; /* "Conv2D" */
    const char *keras_name;  /* default-name prefix: "conv2d", "max_pooling2d" */
    const char *alias;       /* another accepted spelling ("max_pooling2d"), or NULL */
    const fv_arg_spec *args; /* terminated by key == NULL */
    size_t cfg_size;
    /* Inputs the kind takes: [min_inputs, max_inputs]; 0 and 0 mean exactly one. */
    int min_inputs, max_inputs;
    /* Checks the config against l->in[0..nin), sets l->out, l->params and l->saved_per_sample;
     * on failure records an error with the numbers (the caller prefixes file:line). */
    fv_status (*build)(fv_layer *l);
    /* Scratch bytes for a batch of n with the given thread count (NULL: none). */
    size_t (*scratch_bytes)(const fv_layer *l, int64_t n, int threads);
    /* x[i] [n × in[i]] for each input i < nin, y [n × out]. May save what backward needs in
     * l->saved. In training mode a layer with state tensors may update them (moving averages). */
    void (*forward)(fv_layer *l, const float *const *x, float *y, fv_run *r);
    /* dy [n × out] (the layer may overwrite it); dx[i] [n × in[i]] to be written (not added,
     * unless bit i of r->dx_add is set: see fv_run), or NULL when that input's gradient is not
     * needed (dx itself is never NULL). The dx[i] never alias each other, x or y. Parameter
     * gradients are ADDED into param[i].g (state tensors have none). */
    void (*backward)(fv_layer *l, const float *const *x, const float *y, float *dy,
                     float *const *dx, fv_run *r);
    /* forward and backward with an epilogue fused in (NULL: the kind fuses none). y is then the
     * epilogue's output, and backward's dy its gradient; each result is bit for bit that of the
     * layers run one by one. */
    void (*forward_fused)(fv_layer *l, const float *const *x, float *y, fv_run *r,
                          const fv_epilogue *e);
    void (*backward_fused)(fv_layer *l, const float *const *x, const float *y, float *dy,
                           float *const *dx, fv_run *r, const fv_epilogue *e);
    /* The output activation (NULL: none, i.e. linear); read through fv__layer_activation. */
    fv_activation (*activation)(const fv_layer *l);
    /* For a layer that is an affine map per channel at inference (BatchNormalization): writes
     * scale[c] and shift[c] with y = x·scale + shift, for folding into the convolution or dense
     * layer before it. NULL: not foldable. */
    void (*inference_affine)(const fv_layer *l, float *scale, float *shift);
    /* Floating-point operations per sample of the dense computation (2 per multiply-add) of the
     * forward pass, or of the backward pass with or without the input gradient; for the
     * profile's GFLOP/s. NULL: none worth counting (pooling, dropout, reshapes). */
    double (*flops)(const fv_layer *l, bool backward, bool input_grad);
    /* Whether backward does less (or more) than the dense computation and says how much: it then
     * sets l->exec_bwd_flop to the FLOPs (2 per multiply-add) that call performed, counted per
     * image where the kernels decide (conv2d skips exact zeros of ∂L/∂z), and forward sets
     * l->exec_fwd_flop likewise (conv2d's Winograd forward). false: its forward and backward
     * perform exactly flops(l, ·, ·) per sample. */
    bool reports_work;
    /* Whether backward can add input i's gradient into dx[i] (fv_run.dx_add) instead of writing
     * it, saving the model a buffer and a pass where a tensor has several readers (NULL: never). */
    bool (*adds_dx)(const fv_layer *l, int input);
    /* The task loss this kind provides as a model output (NULL: none). */
    const fv_task_loss *task_loss;
    /* An added loss (Keras' add_loss: the VAE's KL term, ActivityRegularization): the term's batch
     * value after forward, from the layer's inputs and output, in training and in evaluation. Its
     * gradient is added by the kind's own backward into dx (and into its parameters' g). NULL:
     * none. The model calls it right after the layer's forward, while x and y are intact (in
     * data-parallel training on the whole batch's x and y, gathered); backward's share of a batch
     * mean divides by fv__run_batch(r), not r->n. */
    double (*loss)(const fv_layer *l, const float *const *x, const float *y, int64_t n);
    /* The history column of the added loss ("kl_loss"); NULL: counted in `loss` only. */
    const char *added_loss;
    /* Forward can take its input's channel sums from the layer that produced it (fv_bn_pair):
     * whether it would in a run in this mode (training: the batch statistics), writing the shift
     * [C] they are taken about. NULL: never (BatchNormalization's). */
    bool (*input_sums)(const fv_layer *l, bool training, double *shift);
    /* Whether the kind does the passes of a BatchNormalization paired with it (fv_bn_pair:
     * forward, r->sums and r->fill when set; backward, fv__bn_pair_dx) (conv2d's). */
    bool gives_sums;
    /* Whether forward's output is its one input value for value, and backward's input gradient
     * its output gradient, in every run of a plan of this kind (inference: an inference plan,
     * whose runs never train; else a training plan, which also runs evaluations). The model then
     * gives the output its input's buffer (and the input's gradient the output's) and skips both
     * passes, where the layer is its input's only reader (flatten and reshape always; dropout
     * and GaussianNoise at inference, or at a rate or stddev of 0). The kind's passes must then
     * still be right when y == x (and dx == dy): a caller that runs them directly (the GAN's and
     * the submodels' loops) does. NULL: never. */
    bool (*identity)(const fv_layer *l, bool inference);
    /* Forward of sample i alone: x [in] and y [out] that sample's, r the whole run's; writes what
     * forward writes for that sample (its saved state included), bit for bit. Lets the plan run
     * the layer in a producer's chain (fv_chain). NULL: none (maxpool2d and dropout have one). */
    void (*forward_sample)(fv_layer *l, const float *x, float *y, int64_t i, const fv_run *r);
    /* Whether forward runs r->chain after each sample (fv__run_chain) (conv2d's). */
    bool runs_chain;
    /* Backward of sample i alone: y, dy [out] and dx [in] that sample's, r the whole run's; writes
     * dx as backward writes it for that sample (never adds), bit for bit. With relu, where the
     * kind can (maxpool2d: its input's values are its windows' maxima), it also applies the mask
     * of a ReLU its input went through, dx ← x > 0 ? dx : 0 with x that input, and returns true;
     * else it returns false and leaves the mask to the producer. Lets the plan run the layer in a
     * producer's backward chain (fv_bchain). NULL: none (maxpool2d and dropout have one). */
    bool (*backward_sample)(fv_layer *l, const float *y, const float *dy, float *dx, int64_t i,
                            const fv_run *r, bool relu);
    /* Whether backward runs r->bchain before it reads each sample's output gradient
     * (fv__run_bchain) (conv2d's). */
    bool runs_bchain;
} fv_layer_kind;

struct fv_layer {
    const fv_layer_kind *kind;
    char name[64];
    int line;       /* model-text line it came from (0: none) */
    void *cfg;      /* kind's config, cfg_size bytes, owned */
    uint64_t given; /* bit i set: args[i] was given explicitly */
    int nin;        /* inputs, at least 1 */
    fv_shape in[FV_MAX_INPUTS], out;
    int src[FV_MAX_INPUTS]; /* the graph node each input reads (set by the model; see model.h) */
    bool trainable;         /* false: frozen (Keras' trainable=False): weights never updated */
    int nparams;
    fv_param params[FV_MAX_PARAMS];
    size_t saved_per_sample; /* bytes of forward state kept for backward, per sample */
    void *saved;             /* n × saved_per_sample, planned by the model */
    bool fused_act;          /* the loss already returned ∂L/∂z: skip the output activation */
    /* Inference weights that replace params[0] and the bias (conv2d, dense) while set: the
     * kernel and bias with the following BatchNormalization folded in (set by the model's
     * inference plan; NULL otherwise). */
    const float *fold_w, *fold_b;
    /* conv2d in an inference plan: the ReLU that alone reads its folded BatchNormalization runs
     * in its epilogue (the ReLU layer is skipped; set by the model's plan, false otherwise). */
    bool lean_relu;
    /* A training plan runs the layer's backward chain (fv_bchain; set by the plan, false
     * otherwise): its scratch may hold a sample's output gradient per thread for the chain to
     * write (fv__run_bchain's dst). */
    bool bchain;
    /* Profile of the training steps (fv_model_profile): wall seconds in forward and backward,
     * and the samples they processed. */
    double prof_fwd_s, prof_bwd_s;
    int64_t prof_fwd_n, prof_bwd_n;
    /* kind->reports_work: the FLOPs of the last backward call, and their sum over the profiled
     * training steps. */
    double exec_bwd_flop, prof_exec_bwd;
    /* kind->reports_work: the FLOPs of the last forward call (conv2d: Winograd's where it ran),
     * and their sum over the profiled training steps. */
    double exec_fwd_flop, prof_exec_fwd;
    /* The added loss's value after the last forward pass (kind->loss; 0 without). */
    double added_value;
    /* precision=bf16 (set by the model's plan): the kinds that support it (dense; conv2d's
     * forward and backward gathers) multiply in bf16 with fp32 accumulation (kernels/bf16.h);
     * weights, gradients and activations stay fp32. Their scratch_bytes depends on it. */
    bool bf16;
    /* conv_algorithm=winograd (set by the model's plan): conv2d's 3×3 stride-1 forward and input
     * gradient by Winograd F(2×2, 3×3) (kernels.h, fv_conv_winograd_applies) in fp32; its
     * scratch_bytes depends on it. */
    bool winograd;
};

/* The per-sample FLOPs of l (0 when its kind does not count them). */
static inline double fv__layer_flops(const fv_layer *l, bool backward, bool input_grad)
{
    return l->kind->flops ? l->kind->flops(l, backward, input_grad) : 0.0;
}

/* The activation of a layer's output, if it has one (conv2d, dense and activation layers);
 * lets the model fuse softmax/sigmoid into the loss. FV_ACT_LINEAR if none. */
fv_activation fv__layer_activation(const fv_layer *l);

/* The registry: all kinds, NULL-terminated. Adding a layer kind is one line there. */
extern const fv_layer_kind *const fv__layer_kinds[];
const fv_layer_kind *fv__layer_kind_find(const char *name);

/* Argument handling shared by all kinds (layers.c). cfg receives defaults then the given
 * values; errors name the argument and what was expected. */
fv_status fv__args_defaults(const fv_arg_spec *spec, void *cfg);
fv_status fv__args_set(const fv_arg_spec *spec, void *cfg, const char *key, const char *value,
                       uint64_t *given);
/* Writes "key=value" for every given argument (canonical text), separated by single spaces.
 * Returns the length of the full text, as snprintf does (the text was cut if it is >= n). */
size_t fv__args_format(const fv_arg_spec *spec, const void *cfg, uint64_t given, char *buf,
                       size_t n);

/* Activation helpers shared by conv2d, dense and the activation layers. FV_ACT_SOFTMAX has no
 * element-wise kind: fv__act_kind gives FV_K_LINEAR for it, and the _rows helpers below handle
 * it (softmax over the last axis, cols). */
fv_act_kind fv__act_kind(fv_activation a);

/* ---- shared by the kinds in src/layers/ ---------------------------------------------------- */

/* Padding names accepted by `padding=` (index = fv_padding). */
extern const char *const fv__padding_names[];

/* Parameter gradients are summed over a batch in this many fixed chunks of consecutive samples
 * (chunk c holds samples [c·N/16, (c+1)·N/16), empty when N < 16 leaves it none), each into
 * its own partial buffer, then the partials are added as a balanced binary tree over the chunks
 * (fv__chunk_tree). A process of a data-parallel run holds an aligned run of 16/P chunks, a
 * subtree, and the processes' sums are added by the same tree (fv_collective.sum): the result is
 * bit-identical for any thread count and any process count P dividing 16. */
#define FV_GRAD_CHUNKS FV_BATCH_CHUNKS

/* The chunks a run holds (c1 - c0; FV_GRAD_CHUNKS for a whole batch). */
int fv__run_chunks(const fv_run *r);
/* The batch's index of the run's first chunk (c0; 0 for a whole batch). */
int fv__run_first_chunk(const fv_run *r);
/* The run's samples [*lo, *hi) of its j-th chunk (0 <= j < fv__run_chunks). */
void fv__run_chunk(const fv_run *r, int j, int64_t *lo, int64_t *hi);
/* The whole batch's sample count (r->n unless the run holds a slice of it): the denominator of
 * a batch mean, such as an added loss's. */
int64_t fv__run_batch(const fv_run *r);
/* Whether the run holds the batch's first chunk: a layer whose parameter gradient comes from
 * sums already gathered over the whole batch (BatchNormalization) adds it there only. */
bool fv__run_leader(const fv_run *r);
/* Sample i's own stream of the run's (split by the batch's sample index, so a process draws for
 * its slice what one process draws for those samples). */
void fv__run_sample(const fv_run *r, int64_t i, fv_rng *out);
/* r->chain's layers on sample i, whose output y (that sample's) the producer has just written;
 * nothing without a chain. Called by the thread that wrote the sample. */
void fv__run_chain(const fv_run *r, int64_t i, const float *y);
/* r->bchain's layers on sample i, the last first, so that the producer's output gradient of that
 * sample is written: at dst [the producer's out] where not NULL (a thread's buffer, which stays in
 * cache), else in its place in the batch's (r->bchain->dx[0]); nothing without a chain. relu: the
 * producer's output went through a ReLU whose mask it applies to that gradient; returns whether
 * the chain applied it instead (the producer then must not read its output for the mask). Called
 * by the thread that reads the sample's gradient next. */
bool fv__run_bchain(const fv_run *r, int64_t i, bool relu, float *dst);
/* Σ v[j·stride] for j < count (a power of two) as a balanced binary tree: ((v0+v1)+(v2+v3))... */
float fv__chunk_tree(const float *v, int64_t stride, int count);
/* part holds FV_GRAD_CHUNKS rows of len doubles, this run's rows [c0, c1) filled: fills the
 * others from the processes that hold them (nothing to do for a whole batch). */
void fv__run_gather_chunks(const fv_run *r, double *part, int64_t len);
/* fv_bn_pair (bn_pair.c), forward: the row of r->sums->part of the run's chunk j, zeroed; then
 * each of the chunk's images in order, y [rows × C], added to it. */
double *fv__bn_pair_row(const fv_run *r, int j);
void fv__bn_pair_add(const fv_run *r, double *row, const float *y, int64_t rows);
/* Backward: when r->sums->dx_left, writes the BatchNormalization's input gradient of samples
 * [lo, hi) (the layer's ∂L/∂y) before the layer reads them. */
void fv__bn_pair_dx(const fv_run *r, int64_t lo, int64_t hi);
/* Forward: when r->fill->y_left, writes the BatchNormalization's output of samples [lo, hi) (the
 * layer's input) before the layer reads them. */
void fv__bn_pair_y(const fv_run *r, int64_t lo, int64_t hi);

/* The largest size accepted for one axis or count argument (sizes stay far from overflow). */
#define FV_ARG_DIM_MAX 2147483647.0

/* The slope or alpha an activation gets when named as an argument (activation=leaky_relu on
 * conv2d, dense or an activation layer): Keras' functions, leaky_relu 0.2, elu 1.0; else 0. */
float fv__act_alpha(fv_activation a);
/* y [rows × cols] in place: y ← a(y) (softmax over each row of cols). */
void fv__act_forward_rows(fv_activation a, float alpha, float *y, int64_t rows, int64_t cols);
/* g [rows × cols] in place: ∂L/∂y → ∂L/∂z, from the forward output y. */
void fv__act_backward_rows(fv_activation a, float alpha, const float *y, float *g, int64_t rows,
                           int64_t cols);

/* Fails (FV_ERR_INVALID) naming the first required argument of l's kind not given. */
fv_status fv__args_check_required(const fv_layer *l);

/* The geometry of a window (a kernel or a pool, named by `window` in errors) sliding over l's
 * image input: checks that the input is an image (rank 3: FV_ERR_SHAPE naming the kind and the
 * shape), fills g from the window k (rows, cols), strides s, dilation d, Keras' padding (same:
 * the odd extra at the bottom/right) and out_c output channels, and fails as fv__fail_window when
 * the window does not fit. Shared by conv2d and the pooling layers. */
fv_status fv__window_geom(const fv_layer *l, const char *window, const int64_t k[2],
                          const int64_t s[2], const int64_t d[2], bool same, int64_t out_c,
                          fv_conv_geom *g);

/* The FV_ERR_SHAPE error of a window (kernel or pool) that does not fit its input with valid
 * padding, with the arithmetic of the failing axis. g holds input, window, stride, dilation. */
fv_status fv__fail_window(const char *kind, const char *window, const fv_conv_geom *g);

/* Threads a run may use (at least 1). Layers size per-thread scratch by the count given to
 * scratch_bytes; a run must not ask for more threads than that. */
static inline int fv__run_threads(const fv_run *r)
{
    return r->threads > 0 ? r->threads : 1;
}

/* Below this much work (multiply-adds, or values touched) a pass runs on one thread: starting
 * a parallel region would cost more than it saves. Results do not depend on it. */
#define FV_PARALLEL_MIN 65536

/* Marks a variable that only OpenMP directives read (unused when built without OpenMP). */
#define FV_OMP_ONLY __attribute__((unused))

/* Threads for a pass of the given work: fv__run_threads, or 1 for small work. */
static inline int fv__work_threads(const fv_run *r, int64_t work)
{
    return work < FV_PARALLEL_MIN ? 1 : fv__run_threads(r);
}

/* The OpenMP thread number inside a parallel region (0 without OpenMP). */
static inline int fv__thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* The kinds, one file each (activation.c holds the family of activation layers). */
extern const fv_layer_kind fv__kind_conv2d, fv__kind_maxpool2d, fv__kind_dropout, fv__kind_flatten,
    fv__kind_dense, fv__kind_activation, fv__kind_relu, fv__kind_sigmoid, fv__kind_tanh,
    fv__kind_leaky_relu, fv__kind_elu, fv__kind_softmax, fv__kind_maxout, fv__kind_add,
    fv__kind_subtract, fv__kind_multiply, fv__kind_average, fv__kind_maximum, fv__kind_concatenate,
    fv__kind_batch_normalization, fv__kind_global_average_pooling2d, fv__kind_global_max_pooling2d;
/* Pooling, resizing and reshaping kinds (average_pooling2d.c, upsampling2d.c, padding2d.c,
 * reshape.c). */
extern const fv_layer_kind fv__kind_average_pooling2d, fv__kind_upsampling2d,
    fv__kind_zero_padding2d, fv__kind_cropping2d, fv__kind_reshape;
/* The convolution family (conv2d_transpose.c; depthwise_conv2d.c holds depthwise and separable). */
extern const fv_layer_kind fv__kind_conv2d_transpose, fv__kind_depthwise_conv2d,
    fv__kind_separable_conv2d;
/* Layers that add a loss of their own (activity_regularization.c); detection heads (yolo.c). */
extern const fv_layer_kind fv__kind_activity_regularization, fv__kind_yolo;
/* Generative models' kinds (gaussian_noise.c, sampling.c). */
extern const fv_layer_kind fv__kind_gaussian_noise, fv__kind_sampling;
/* The 6D pose head (pose.c): the 6-D rotation to a matrix; the task loss `pose`. */
extern const fv_layer_kind fv__kind_pose;

/* Makes conv2d's dense weight gradients take Winograd F(2×2, 3×3) where it applies
 * (fv_conv_dw_wino_images), or not (the default). Tests only, from one thread, set the same
 * when a model is planned and when it runs (the threads' scratch is sized for the choice). */
void fv__conv2d_force_wino_dw(bool on);

/* Sets a weight tensor's description (rank 1-4 dims, init); fan_in/fan_out are left 0. */
void fv__param_set(fv_param *p, const char *suffix, int rank, const int64_t *dims, int init,
                   bool state);

#endif
