/* parallel.h — data-parallel training inside fv_model_fit (see fv_collective in fovea.h): each
 * process's slice of a batch, the whole batch's loss from the gathered outputs, the gradients'
 * tree sum over the processes, and the check at start that all processes train the same run.
 */
#ifndef FV_MODEL_PARALLEL_H
#define FV_MODEL_PARALLEL_H

#include "model/fit.h"

/* The largest slice of a batch of `batch` that a process of c holds (batch when c is NULL):
 * the size the model's plan needs. */
int64_t fv__dp_plan_n(const fv_collective *c, int64_t batch);

/* Checks f->o->collective (a size dividing FV_BATCH_CHUNKS, a rank below it, both hooks),
 * allocates the whole batch's targets, outputs and output gradients, and checks that every
 * process holds the same fovea version, model, settings, data and weights (FV_ERR_INVALID
 * naming the first process that differs and what). Needs f->run (fv__checkpoint_describe_run).
 * Nothing to do without a collective. */
fv_status fv__dp_begin(fv__fit *f);
/* Frees what fv__dp_begin made, and plans for the whole batch (as a fit alone leaves the
 * model); the model trains alone again. */
void fv__dp_end(fv_model *m, int64_t batch);

/* For a batch of count samples: this process's samples [*lo, *lo + *n) of it (all of them when
 * the model trains alone), remembered for the layers' runs. */
void fv__dp_slice(fv_model *m, int64_t count, int64_t *lo, int64_t *n);
/* Head j's buffers for the whole batch's targets: the plan's when the model trains alone. */
void fv__dp_target_bufs(fv_model *m, int j, int32_t **labels, float **values);
/* fv__model_heads_loss in data-parallel training: y[j] [n × head j's size] are this process's
 * slice of the outputs, t the whole batch's targets; the outputs are gathered and the loss, its
 * terms and the heads' losses computed on the whole batch as one process would; dy[j] (when
 * given) receive the slice's rows of the whole batch's gradient. A failure of the gather is kept
 * in m->dp_status (the result is NaN). */
double fv__dp_heads_loss(fv_model *m, const float *const *y, const fv_targets *t, int64_t n,
                         const bool *fused, float *const *dy, double *head_loss, double *terms);
/* Layer i's added loss on the whole batch: its inputs x (n samples of this process) and its
 * output gathered, then the kind's loss on them (failures as fv__dp_heads_loss's). */
double fv__dp_added_loss(fv_model *m, int i, const float *const *x, int64_t n);
/* Head j's outputs for the whole batch after the loss: the gathered ones in data-parallel
 * training, else y (this process's, which are the whole batch's). */
const float *fv__dp_head_output(const fv_model *m, int j, const float *y);
/* Sums the gradient block over the processes (the tree of fv_collective.sum). */
fv_status fv__dp_sum_grads(fv_model *m);

#endif
