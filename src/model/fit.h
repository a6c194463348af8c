/* fit.h — the state of one fv_model_fit, shared by the training loop and callbacks (fit.c) and
 * the checkpoints (checkpoint.c): the history's columns, the metric accumulators, the
 * callbacks' counters and the description of the run that a checkpoint must match.
 */
#ifndef FV_MODEL_FIT_H
#define FV_MODEL_FIT_H

#include "model/model_impl.h"
#include "train/metrics.h"

/* loss, each output's loss and every metric of each output, the loss's named terms, their val_
 * twins, and the rate */
enum { FV__FIT_MAX_COLS = 2 * (1 + FV_MAX_OUTPUTS * (1 + FV__METRIC_MAX) + FV_MAX_TERMS) + 1 };

/* One output with a loss ("head"): its metric accumulators and columns. A model with several
 * outputs names its columns OUTPUT_loss, OUTPUT_accuracy, ... as Keras 3 does. */
typedef struct fv__head {
    /* `acc` for the counted metrics, `rank` for auc, prc and map (they keep every score of an
     * epoch); reused for validation after a reset. *_col[i]: the training column of the
     * accumulator's metric i, *_vcol[i]: its val_ column or -1. */
    fv__metric_acc *acc, *rank;
    int acc_col[FV__METRIC_MAX], acc_vcol[FV__METRIC_MAX];
    int rank_col[FV__METRIC_MAX], rank_vcol[FV__METRIC_MAX];
    int col_loss, col_val_loss; /* OUTPUT_loss and its val_ twin (several outputs), else -1 */
    bool regression;            /* float targets */
    double loss_sum;            /* this epoch's weighted loss × samples so far */
} fv__head;

/* A callback's monitored column and the best value seen. */
typedef struct fv__monitor {
    int col;     /* column index, -1: the callback is off */
    bool higher; /* larger is better (Keras' mode 'auto') */
    double best; /* +inf or -inf before the first epoch */
} fv__monitor;

typedef struct fv__fit {
    fv_model *m;
    const fv_fit_opts *o;
    const fv_dataset *train, *val;
    int64_t n_train, val_first, val_count, batch;

    /* columns: training ones first (on_batch sees those), sorted by name; then val_; then lr */
    int ncols, ntrain;
    char names_buf[FV__FIT_MAX_COLS][FV_MONITOR_MAX];
    const char *names[FV__FIT_MAX_COLS];
    double values[FV__FIT_MAX_COLS];
    int col_loss, col_val_loss, col_lr;

    fv__head heads[FV_MAX_OUTPUTS]; /* one per output with a loss (fv__model_heads) */
    int nheads;
    /* the loss's named terms (m->term_names): columns, and this epoch's sums × samples */
    int term_col[FV_MAX_TERMS], term_vcol[FV_MAX_TERMS];
    double term_sum[FV_MAX_TERMS];

    fv_history *h;

    /* callbacks (Keras' EarlyStopping, ReduceLROnPlateau, ModelCheckpoint(save_best_only)) */
    fv__monitor es, rlr, sb;
    int64_t es_wait, es_best_epoch, es_stopped_epoch;
    bool es_have_best, es_restored;
    float *es_best_weights; /* nweights, when restore_best_weights */
    int64_t rlr_wait, rlr_cooldown;

    /* checkpoints */
    char *run;           /* the description a checkpoint must match (malloc'd) */
    int64_t epochs_done; /* completed epochs (restored ones included) */
    /* a GAN's fit (gan.c): its two optimizers are checkpointed instead of the model's one */
    struct fv__gan_state *gan;
} fv__fit;

/* A GAN's training state (gan.c): the split of the weights at the generator's output `node`
 * (the generator's trainable weights [0, ng), the discriminator's [ng, ntrain)), the two
 * optimizers and their states, and the buffers of one step for batches of up to n. */
typedef struct fv__gan_state {
    int node;
    int64_t ng, n;
    fv_optim opt_g, opt_d;
    float *state_g, *state_d; /* Adam's m and v of each */
    float *saved_state;       /* the moving statistics, kept across the generator's pass */
    float *gbuf[2];           /* the discriminator's gradients on real images */
    int32_t *zeros, *ones;    /* targets */
} fv__gan_state;

/* Checks the model as a GAN (fit gan=NODE) and sets up st for batches of up to n: FV_ERR_INVALID
 * naming what does not fit (the node, a discriminator layer reading the generator's inside, a
 * loss other than binary cross-entropy on one unit, a frozen layer). */
fv_status fv__gan_init(fv_model *m, int64_t n, fv__gan_state *st);
void fv__gan_free(fv__gan_state *st);
/* One step on n <= st->n samples: z [n × noise] the generator's input, real [n × image] real
 * images in the generator's range; the discriminator's loss (on G(z) and on real, summed, as
 * PyTorch's errD) and the generator's into *d_loss and *g_loss. */
fv_status fv__gan_step(fv_model *m, fv__gan_state *st, const float *z, const float *real, int64_t n,
                       double *d_loss, double *g_loss);

/* The order of epoch `epoch`'s samples: perm [n] the identity, shuffled (Fisher-Yates from the
 * stream of (seed, epoch)) when shuffle is set. */
void fv__epoch_order(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

/* Writes DIR/checkpoint.safetensors for the state after f->epochs_done epochs, atomically. */
fv_status fv__checkpoint_write(const fv__fit *f, const char *dir);

/* Restores the model, the optimizer, the counters, the callbacks' state and the history from
 * DIR's checkpoint. *found is false (and nothing changes) when DIR has none. Everything is
 * checked before anything of the model changes. */
fv_status fv__checkpoint_restore(fv__fit *f, const char *dir, bool *found);

/* The description of this run that a checkpoint records: the model (layers and compile), seed,
 * batch size, shuffling, data sizes and hashes, columns and callbacks. Sets f->run. */
fv_status fv__checkpoint_describe_run(fv__fit *f);

/* Makes DIR if missing (one level) and takes an exclusive lock on DIR/checkpoint.lock for
 * the fit; removes temporary files left by a killed writer. *fd receives the lock's file. */
fv_status fv__checkpoint_lock(const char *dir, int *fd);
void fv__checkpoint_unlock(int fd);

/* Whether a tensor name is one of a checkpoint's state tensors (optimizer.m, ...), which a
 * model loading a checkpoint as weights skips. */
bool fv__checkpoint_state_tensor(const char *name);

#endif
