/* model.h — the Sequential model's internals, shared by the files of src/model/ and by tests that
 * need to reach below the public API (fixtures from PyTorch, gradient checks of whole models).
 */
#ifndef FV_MODEL_H
#define FV_MODEL_H

#include "core/core.h"
#include "layers/layer.h"
#include "train/train.h"

/* Computes the loss of one batch and the gradients of all parameters (replacing, not adding
 * to, the gradient block), without an optimizer step. x [n × input size], targets as for
 * fv__loss. training selects dropout. The model must be compiled. */
fv_status fv__model_loss_and_grad(fv_model *m, const float *x, const fv_targets *t, int64_t n,
                                  bool training, double *loss);

/* One training step on a batch: loss_and_grad then the optimizer's update. */
fv_status fv__model_train_step(fv_model *m, const float *x, const fv_targets *t, int64_t n,
                               double *loss);

/* The same for a model with several inputs and outputs: x[k] [n × size of input k], t[j] are head
 * j's targets (fv__model_heads);
 * *loss receives Σ weight_j·loss_j (+ the regularizers' penalty) and head_loss[j] (when not
 * NULL) each weight_j·loss_j, as Keras 3 reports an output's loss after its weight. */
fv_status fv__model_loss_and_grad_heads(fv_model *m, const float *const *x, const fv_targets *t,
                                        int64_t n, bool training, double *loss, double *head_loss);
fv_status fv__model_train_step_heads(fv_model *m, const float *const *x, const fv_targets *t,
                                     int64_t n, double *loss, double *head_loss);

/* Whether the training steps, and evaluations on a training plan (fit's validation), run
 * BatchNormalization → [Add →] ReLU as one pass (fuse.c; on by default). Off: every layer runs
 * alone, the reference the fused passes are tested against. */
void fv__model_set_fusion(fv_model *m, bool on);

/* Whether backward lets a layer whose kind can (adds_dx: fp32 conv2d) add its input gradient
 * into a tensor's gradient that a later reader already wrote, instead of writing it apart and
 * summing after (run.c; on by default). Off: the reference the in-place sums are tested against
 * (the same bits). */
void fv__model_set_dx_add(fv_model *m, bool on);

/* Whether the plans give an identity layer (fv_layer_kind.identity: flatten, reshape; dropout and
 * GaussianNoise at inference) its input's buffer and skip its passes (run.c; on by default).
 * Off: every such layer copies, the reference the aliases are tested against (the same bits). */
void fv__model_set_alias(fv_model *m, bool on);

/* Whether the plans let a producer (conv2d) run the layers after it that work sample by sample
 * (max-pooling, dropout: forward_sample) on each sample as soon as it is written, while it is in
 * cache (fv_chain; run.c, on by default). Off: every layer runs its own pass over the batch, the
 * reference the chains are tested against (the same bits). */
void fv__model_set_chains(fv_model *m, bool on);

/* Whether training plans let a chain's producer (conv2d) also run its members' backward
 * (backward_sample) on each sample just before it reads that sample's gradient, and let a
 * max-pooling there apply the producer's ReLU mask (fv_bchain; run.c, on by default). Off: each
 * member runs its own backward pass over the batch, the reference the backward chains are tested
 * against (the same bits). */
void fv__model_set_backward_chains(fv_model *m, bool on);

/* Whether conv2d does BatchNormalization's passes (fv_bn_pair, fuse.c; all on by default): the
 * forward's channel sums (sums) and the backward's input gradient (dx) of the BatchNormalization
 * that alone reads its output, and the forward's output (y) of the one whose output it reads
 * first. Off: the BatchNormalization does them itself (the same bits), for bench/bench_pairs.c's
 * comparison. */
void fv__model_set_bn_pairs(fv_model *m, bool sums, bool dx, bool y);
/* Tests: on false, inference plans run each ReLU layer apart instead of in the epilogue of the
 * convolution whose folded BatchNormalization it reads (the reference); true by default. Resets
 * the plans. */
void fv__model_set_lean_relu(fv_model *m, bool on);

/* The gradient of a parameter tensor by name ("conv2d.kernel"), NULL if absent. */
float *fv__model_grad(fv_model *m, const char *tensor);

#endif
