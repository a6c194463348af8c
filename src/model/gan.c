/* gan.c — a generator and a discriminator trained alternately (Goodfellow et al. 2014, with the
 * non-saturating generator loss; the recipe of Radford et al.'s DCGAN as PyTorch's example runs
 * it): one model file holds both as one graph, z → generator → NODE → discriminator → p(real),
 * and its fit line says gan=NODE. Each step: the discriminator on G(z) (target 0) and on a real
 * batch (target 1), its gradients summed, its own Adam; then the generator through the
 * discriminator with target 1, its own Adam. The two optimizers are copies of the compiled one.
 */
#include "model/fit.h"
#include "io/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

fv_status fv__gan_parse(const char *v, char *out, size_t n)
{
    const size_t len = strlen(v);
    if (len == 0 || len >= n)
        return fv__fail(FV_ERR_INVALID,
                        "fit: gan=%s: expected the name of the generator's output layer (where "
                        "the discriminator begins), at most %zu characters",
                        v, n - 1);
    memcpy(out, v, len + 1);
    return FV_OK;
}

const char *fv_model_gan(const fv_model *m)
{
    return m && m->fit_gan[0] ? m->fit_gan : NULL;
}

/* The split of the weights: the generator's trainable tensors are [0, ng), the discriminator's
 * [ng, ntrain); found from the layers, and checked. */
static fv_status gan_check(const fv_model *m, int *node, int64_t *ng)
{
    int g = -1;
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, m->fit_gan) == 0) g = i;
    if (g < 0)
        return fv__fail(FV_ERR_INVALID, "fit: gan=%s: the model has no layer of that name",
                        m->fit_gan);
    if (g == m->nlayers - 1 || fv__model_heads(m) != 1 ||
        fv__model_head_node(m, 0) != m->nlayers - 1)
        return fv__fail(FV_ERR_INVALID,
                        "fit: gan=%s: the discriminator's layers must follow it, the last of them "
                        "the model's one output",
                        m->fit_gan);
    if (fv__model_head_loss(m, 0) != FV_LOSS_BINARY_CE || fv__model_out_size(m) != 1 ||
        fv__layer_activation(&m->layers[m->nlayers - 1]) != FV_ACT_SIGMOID)
        return fv__fail(FV_ERR_INVALID,
                        "fit: gan=%s: the discriminator ends in one sigmoid unit under "
                        "loss=binary_crossentropy (its probability that an image is real)",
                        m->fit_gan);
    if (m->ninputs != 1 || m->inputs[0].shape.rank != 1)
        return fv__fail(FV_ERR_INVALID,
                        "fit: gan=%s: the generator takes one input, a vector of noise",
                        m->fit_gan);
    /* Layers after g read only g or each other; layers up to g never read a later layer (the
     * definition order guarantees that). */
    int64_t split = -1;
    for (int i = g + 1; i < m->nlayers; i++) {
        const fv_layer *l = &m->layers[i];
        for (int j = 0; j < l->nin; j++)
            if (l->src[j] < g)
                return fv__fail(FV_ERR_INVALID,
                                "fit: gan=%s: discriminator layer '%s' reads '%s', which comes "
                                "before the generator's output",
                                m->fit_gan, l->name, fv__model_node_name(m, l->src[j]));
        for (int p = 0; p < l->nparams; p++)
            if (!l->params[p].state) {
                const int64_t off = l->params[p].w - m->weights;
                if (split < 0 || off < split) split = off;
            }
    }
    for (int i = 0; i < m->nlayers; i++)
        if (!m->layers[i].trainable)
            return fv__fail(FV_ERR_INVALID, "fit: gan=%s: layer '%s' is frozen (trainable=false)",
                            m->fit_gan, m->layers[i].name);
    if (split < 0) split = m->ntrain;
    for (int i = 0; i <= g; i++)
        for (int p = 0; p < m->layers[i].nparams; p++)
            if (!m->layers[i].params[p].state && m->layers[i].params[p].w - m->weights >= split)
                return fv__fail(FV_ERR_STATE, "gan: the generator's weights are not first");
    *node = g;
    *ng = split;
    return FV_OK;
}

/* The discriminator alone on real images x [n × image] with target 1: forward from the layer after
 * `node`, the loss (returned), and backward ADDING its weights' gradients. gbuf[0..1] are
 * n × (largest discriminator layer) floats each. */
static double real_pass(fv_model *m, int node, const float *x, int64_t n, float *const *gbuf,
                        const int32_t *ones)
{
    fv_rng r;
    fv__rng_seed(&r, m->seed ^ 0x9a11ULL ^ (uint64_t)m->dropout_step);
    fv_run run = {
        .n = n, .training = true, .rng = &r, .scratch = m->scratch, .threads = m->plan_threads};
    for (int i = node + 1; i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        const float *xs[FV_MAX_INPUTS];
        for (int j = 0; j < l->nin; j++)
            xs[j] = l->src[j] == node ? x : m->acts[l->src[j]];
        l->kind->forward(l, xs, m->acts[i], &run);
    }
    fv_layer *out = &m->layers[m->nlayers - 1];
    const fv_targets t = {.labels = ones, .values = NULL};
    float *dy = gbuf[0];
    const double loss =
        fv__loss(FV_LOSS_BINARY_CE, m->acts[m->nlayers - 1], &t, n, 1, out->fused_act, dy);
    /* A chain (checked by the caller's plan: each layer reads the one before it). */
    for (int i = m->nlayers - 1; i > node; i--) {
        fv_layer *l = &m->layers[i];
        const float *xs[FV_MAX_INPUTS];
        float *dxs[FV_MAX_INPUTS] = {0};
        for (int j = 0; j < l->nin; j++)
            xs[j] = l->src[j] == node ? x : m->acts[l->src[j]];
        float *dx = gbuf[(m->nlayers - i) % 2];
        dxs[0] = i > node + 1 ? dx : NULL;
        l->kind->backward(l, xs, m->acts[i], dy, dxs, &run);
        dy = dx;
    }
    return loss;
}

fv_status fv__gan_step(fv_model *m, fv__gan_state *st, const float *z, const float *real, int64_t n,
                       double *d_loss, double *g_loss)
{
    const int64_t ns = m->nweights - m->ntrain; /* state tensors: the generator's moving stats */
    double lf, lr, lg;
    fv_targets t = {.labels = st->zeros, .values = NULL};
    const float *zs[1] = {z};
    /* 1. the discriminator on G(z), target 0: every gradient replaced; G's moving statistics
     *    take this step's batch (the generator runs once per step, as in PyTorch's example). */
    fv_status s = fv__model_loss_and_grad_heads(m, zs, &t, n, true, &lf, NULL);
    if (s != FV_OK) return s;
    /* 2. on real images, target 1: its gradients added to the discriminator's. */
    lr = real_pass(m, st->node, real, n, st->gbuf, st->ones);
    /* 3. the discriminator's Adam. */
    fv__optim_step(&st->opt_d, m->weights + st->ng, m->grads + st->ng, st->state_d,
                   m->ntrain - st->ng);
    /* 4. the generator through the updated discriminator, target 1 (non-saturating); the moving
     *    statistics are put back, since this pass runs the generator on the same batch again. */
    memcpy(st->saved_state, m->weights + m->ntrain, (size_t)ns * sizeof(float));
    t.labels = st->ones;
    s = fv__model_loss_and_grad_heads(m, zs, &t, n, true, &lg, NULL);
    memcpy(m->weights + m->ntrain, st->saved_state, (size_t)ns * sizeof(float));
    if (s != FV_OK) return s;
    fv__optim_step(&st->opt_g, m->weights, m->grads, st->state_g, st->ng);
    m->dropout_step++;
    *d_loss = lf + lr;
    *g_loss = lg;
    if (!isfinite(lf + lr) || !isfinite(lg))
        return fv__fail(FV_ERR_NUMERIC, "the %s loss is %s",
                        isfinite(lg) ? "discriminator's" : "generator's",
                        isnan(isfinite(lg) ? lf + lr : lg) ? "NaN" : "infinite");
    return FV_OK;
}

fv_status fv__gan_init(fv_model *m, int64_t n, fv__gan_state *st)
{
    memset(st, 0, sizeof *st);
    if (!m->compiled)
        return fv__fail(FV_ERR_STATE, "the model is not compiled: add a compile line (compile "
                                      "loss=binary_crossentropy optimizer=adam ...)");
    fv_status s = fv__model_ensure_weights(m, m->seed);
    if (s == FV_OK) s = gan_check(m, &st->node, &st->ng);
    if (s == FV_OK) s = fv__model_plan(m, n);
    if (s != FV_OK) return s;
    /* The discriminator must be a chain for its pass on real images. */
    int64_t largest = fv__shape_size(&m->layers[st->node].out);
    for (int i = st->node + 1; i < m->nlayers; i++) {
        const fv_layer *l = &m->layers[i];
        if (l->nin != 1 || l->src[0] != i - 1)
            return fv__fail(FV_ERR_INVALID,
                            "fit: gan=%s: the discriminator must be a chain of layers, each "
                            "reading the one before it ('%s' does not)",
                            m->fit_gan, l->name);
        const int64_t size = fv__shape_size(&l->out);
        if (size > largest) largest = size;
    }
    st->n = n;
    st->opt_g = st->opt_d = m->optim;
    st->opt_g.iterations = st->opt_d.iterations = 0;
    const int slots = fv__optim_slots(&m->optim);
    const int64_t nd = m->ntrain - st->ng, ns = m->nweights - m->ntrain;
    st->state_g = calloc((size_t)(slots * st->ng) + 1, sizeof(float));
    st->state_d = calloc((size_t)(slots * nd) + 1, sizeof(float));
    st->saved_state = malloc(((size_t)ns + 1) * sizeof(float));
    st->gbuf[0] = malloc((size_t)(n * largest) * sizeof(float));
    st->gbuf[1] = malloc((size_t)(n * largest) * sizeof(float));
    st->zeros = calloc((size_t)n, sizeof(int32_t));
    st->ones = malloc((size_t)n * sizeof(int32_t));
    if (!st->state_g || !st->state_d || !st->saved_state || !st->gbuf[0] || !st->gbuf[1] ||
        !st->zeros || !st->ones) {
        fv__gan_free(st);
        return fv__fail(FV_ERR_NOMEM, "out of memory for a GAN's optimizers and buffers");
    }
    for (int64_t i = 0; i < n; i++)
        st->ones[i] = 1;
    return FV_OK;
}

void fv__gan_free(fv__gan_state *st)
{
    free(st->state_g), free(st->state_d), free(st->saved_state);
    free(st->gbuf[0]), free(st->gbuf[1]), free(st->zeros), free(st->ones);
    memset(st, 0, sizeof *st);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const gan_columns[2] = {"d_loss", "g_loss"};

/* Calls a progress callback (if any) with the running d_loss and g_loss; false: stop. */
static bool report(fv_callback cb, const fv_fit_opts *o, int64_t epoch, int64_t step, int64_t steps,
                   double t0, const double *values)
{
    fv_logs logs = {.epoch = epoch,
                    .epochs = o->epochs,
                    .step = step,
                    .steps = steps,
                    .seconds = seconds_now() - t0,
                    .count = 2,
                    .names = gan_columns,
                    .values = values};
    return !cb || cb(o->user, &logs);
}

fv_status fv__gan_fit(fv_model *m, const fv_dataset *train, const fv_fit_opts *o,
                      fv_history **history)
{
    if (o->early_stopping || o->reduce_lr_on_plateau || o->save_best || o->validation_split > 0 ||
        o->collective)
        return fv__fail(FV_ERR_INVALID,
                        "fit: gan=%s: early stopping, reducing the learning rate, saving the best "
                        "model, validation and data-parallel training are not done for GANs yet",
                        m->fit_gan);
    if (o->batch_size < 1 || o->epochs < 0)
        return fv__fail(FV_ERR_INVALID, "batch_size=%lld, epochs=%lld", (long long)o->batch_size,
                        (long long)o->epochs);
    if (o->resume && !o->checkpoint_dir)
        return fv__fail(FV_ERR_INVALID, "resume needs a checkpoint folder (checkpoint_dir)");
    m->seed = o->seed;
    fv__gan_state st;
    const int64_t n = train->n, batch = o->batch_size < n ? o->batch_size : n;
    if (n < 1) return fv__fail(FV_ERR_INVALID, "training data: no samples");
    fv_status s = fv__gan_init(m, batch, &st);
    if (s != FV_OK) return s;
    s = fv__dataset_check_shape(train, &m->layers[st.node].out, "training data (real images)");
    if (s != FV_OK) {
        fv__gan_free(&st);
        return s;
    }
    const int64_t zdim = fv__shape_size(&m->inputs[0].shape), image = train->sample;
    /* The run as a checkpoint sees it: two columns, no validation, no callbacks, and the two
     * optimizers (checkpoint.c). */
    fv__fit f = {.m = m,
                 .o = o,
                 .train = train,
                 .n_train = n,
                 .batch = batch,
                 .ncols = 2,
                 .ntrain = 2,
                 .col_loss = -1,
                 .col_val_loss = -1,
                 .col_lr = -1,
                 .gan = &st};
    f.es.col = f.rlr.col = f.sb.col = -1;
    f.names[0] = gan_columns[0], f.names[1] = gan_columns[1];
    int lock = -1;
    f.h = fv__history_new(2, gan_columns);
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    float *z = malloc((size_t)(batch * zdim) * sizeof *z);
    float *real = malloc((size_t)(batch * image) * sizeof *real);
    if (!f.h || !perm || !z || !real) {
        s = fv__fail(FV_ERR_NOMEM, "out of memory for a GAN's batches");
        goto done;
    }
    if (o->checkpoint_dir) {
        s = fv__checkpoint_lock(o->checkpoint_dir, &lock);
        if (s == FV_OK) s = fv__checkpoint_describe_run(&f);
        if (s == FV_OK && o->resume) {
            bool found;
            s = fv__checkpoint_restore(&f, o->checkpoint_dir, &found);
            if (s == FV_OK && found)
                m->last_fit.initial_epoch = m->last_fit.checkpoint_epochs =
                    m->last_fit.epochs_done = f.epochs_done;
        }
        if (s != FV_OK) goto done;
    }
    const int64_t steps = (n + batch - 1) / batch;
    for (int64_t epoch = f.epochs_done; s == FV_OK && epoch < o->epochs; epoch++) {
        fv__epoch_order(perm, n, o->seed, epoch, o->shuffle);
        double sums[2] = {0, 0}, values[2];
        int64_t seen = 0;
        const double t0 = seconds_now();
        for (int64_t step = 0; s == FV_OK && step < steps; step++) {
            const int64_t first = step * batch, nb = n - first < batch ? n - first : batch;
            fv__dataset_gather(train, perm + first, 0, nb, real, NULL, NULL);
            /* Pixels in [0, 1] to the tanh generator's [-1, 1] (PyTorch's Normalize(0.5, 0.5)). */
            for (int64_t i = 0; i < nb * image; i++)
                real[i] = 2.0f * real[i] - 1.0f;
            /* The noise is a function of (seed, step): a resumed run draws the same. */
            s = fv_sample_normal(nb, zdim,
                                 o->seed ^ ((uint64_t)m->dropout_step * 0x9e3779b97f4a7c15ULL), z);
            double dl, gl;
            if (s == FV_OK) s = fv__gan_step(m, &st, z, real, nb, &dl, &gl);
            if (s != FV_OK) {
                fv__error_prefix("epoch %lld, step %lld: ", (long long)epoch + 1,
                                 (long long)step + 1);
                break;
            }
            sums[0] += dl * (double)nb, sums[1] += gl * (double)nb;
            seen += nb;
            values[0] = sums[0] / (double)seen, values[1] = sums[1] / (double)seen;
            if (!report(o->on_batch, o, epoch, step + 1, steps, t0, values))
                s = fv__fail(FV_ERR_INTERRUPTED, "training stopped by a callback in epoch %lld",
                             (long long)epoch + 1);
        }
        if (s != FV_OK) break;
        if ((s = fv__history_append(f.h, values)) != FV_OK) break;
        f.epochs_done = m->last_fit.epochs_done = epoch + 1;
        if (o->checkpoint_dir) {
            if ((s = fv__checkpoint_write(&f, o->checkpoint_dir)) != FV_OK) {
                fv__error_prefix("checkpoint after epoch %lld: ", (long long)epoch + 1);
                break;
            }
            m->last_fit.checkpoint_epochs = f.epochs_done;
        }
        if (!report(o->on_epoch, o, epoch, steps, steps, t0, values))
            s = fv__fail(FV_ERR_INTERRUPTED, "training stopped by a callback after epoch %lld",
                         (long long)epoch + 1);
    }
done:
    if (lock >= 0) fv__checkpoint_unlock(lock);
    free(f.run);
    free(perm), free(z), free(real);
    fv__gan_free(&st);
    if (s == FV_OK && history)
        *history = f.h;
    else
        fv_history_free(f.h);
    return s;
}
