/* augment.c — the model's leading preprocessing layers as one unit: run alone (what
 * `fovea viz augment` draws), the affine map they applied to each sample (so that a detection
 * or pose loss can move its boxes with the image), and the warning for a rescaling by 1/255 of
 * data that is already in [0, 1].
 */
#include "model/model_impl.h"
#include "layers/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fv__model_augment_chain(const fv_model *m)
{
    int k = 0;
    while (k < m->nlayers) {
        const fv_layer *l = &m->layers[k];
        if (!fv__augment_is_preprocessing(l) || l->nin != 1 ||
            l->src[0] != (k == 0 ? fv__input_node(0) : k - 1))
            break;
        k++;
    }
    return k;
}

/* b ← a ∘ b for 2×3 affine maps (b applied first). */
static void compose(const double a[6], double b[6])
{
    const double r[6] = {
        a[0] * b[0] + a[1] * b[3], a[0] * b[1] + a[1] * b[4], a[0] * b[2] + a[1] * b[5] + a[2],
        a[3] * b[0] + a[4] * b[3], a[3] * b[1] + a[4] * b[4], a[3] * b[2] + a[4] * b[5] + a[5],
    };
    memcpy(b, r, sizeof r);
}

void fv__model_augment_affine(const fv_model *m, int64_t n, bool training, double *A)
{
    const int k = fv__model_augment_chain(m);
    for (int64_t i = 0; i < n; i++) {
        double *t = A + 6 * i;
        const double id[6] = {1, 0, 0, 0, 1, 0};
        memcpy(t, id, sizeof id);
        for (int j = 0; j < k; j++) {
            double mj[6];
            if (fv__augment_affine(&m->layers[j], i, training, mj)) compose(mj, t);
        }
    }
}

int fv_model_augment_layers(const fv_model *m)
{
    return m ? fv__model_augment_chain(m) : 0;
}

int fv_model_augment_shape(const fv_model *m, int64_t dims[4])
{
    if (!m || !m->has_input) return 0;
    const int k = fv__model_augment_chain(m);
    const fv_shape *s = k ? &m->layers[k - 1].out : &m->inputs[0].shape;
    for (int d = 0; d < s->rank; d++)
        dims[d] = s->d[d];
    return s->rank;
}

fv_status fv_model_augment(fv_model *m, const float *x, int64_t n, int64_t step, float *y,
                           double *affine)
{
    if (!m || !x || !y || n < 1 || step < 0)
        return fv__fail(FV_ERR_INVALID, "fv_model_augment: NULL argument, n < 1 or step < 0");
    if (!m->has_input) return fv__fail(FV_ERR_STATE, "the model has no input");
    const int k = fv__model_augment_chain(m);
    const int64_t in_size = fv__shape_size(&m->inputs[0].shape);
    if (k == 0) {
        memcpy(y, x, (size_t)(n * in_size) * sizeof(float));
        if (affine) fv__model_augment_affine(m, n, true, affine);
        return FV_OK;
    }
    /* Two activation buffers used in turn, each layer's own saved state (the maps), and the
     * largest scratch; the model's planned memory is left as it was. */
    int64_t most = in_size;
    size_t scratch_bytes = 0;
    const int threads = fv__threads();
    for (int j = 0; j < k; j++) {
        const int64_t s = fv__shape_size(&m->layers[j].out);
        most = s > most ? s : most;
        const fv_layer *l = &m->layers[j];
        const size_t b = l->kind->scratch_bytes ? l->kind->scratch_bytes(l, n, threads) : 0;
        scratch_bytes = b > scratch_bytes ? b : scratch_bytes;
    }
    size_t act_bytes, saved_bytes = 0;
    if (!fv__mul_size((size_t)most, (size_t)n * sizeof(float), &act_bytes))
        return fv__fail(FV_ERR_NOMEM, "fv_model_augment: %lld samples are too many", (long long)n);
    float *buf[2] = {fv__alloc(act_bytes, "augmented images"),
                     fv__alloc(act_bytes, "augmented images")};
    void *scratch = fv__alloc(scratch_bytes, "augmentation scratch");
    void **saved_of = calloc((size_t)k, sizeof *saved_of), **kept = calloc((size_t)k, sizeof *kept);
    fv_status st = buf[0] && buf[1] && scratch && saved_of && kept ? FV_OK : FV_ERR_NOMEM;
    for (int j = 0; j < k && st == FV_OK; j++) {
        if (!fv__mul_size(m->layers[j].saved_per_sample, (size_t)n, &saved_bytes) ||
            !(saved_of[j] = fv__alloc(saved_bytes, "augmentation maps")))
            st = FV_ERR_NOMEM;
    }
    if (st != FV_OK) {
        st = fv__fail(FV_ERR_NOMEM, "out of memory augmenting %lld images", (long long)n);
        goto done;
    }
    const float *cur = x;
    for (int j = 0; j < k; j++) {
        fv_layer *l = &m->layers[j];
        kept[j] = l->saved;
        l->saved = saved_of[j];
        fv_rng r;
        fv__model_step_rng(m, step, j, &r);
        fv_run run = {.n = n, .training = true, .rng = &r, .scratch = scratch, .threads = threads};
        float *out = j == k - 1 ? y : buf[j & 1];
        const float *xs[1] = {cur};
        l->kind->forward(l, xs, out, &run);
        cur = out;
    }
    if (affine) fv__model_augment_affine(m, n, true, affine);
    for (int j = 0; j < k; j++)
        m->layers[j].saved = kept[j];
done:
    for (int j = 0; saved_of && j < k; j++)
        fv__free(saved_of[j]);
    free(saved_of), free(kept);
    fv__free(buf[0]), fv__free(buf[1]), fv__free(scratch);
    return st;
}

fv_status fv_model_check_rescaling(const fv_model *m, const fv_dataset *d, char *warning,
                                   size_t size)
{
    if (!m || !d || !warning || size == 0)
        return fv__fail(FV_ERR_INVALID, "fv_model_check_rescaling: NULL argument");
    warning[0] = '\0';
    const int k = fv__model_augment_chain(m);
    int at = -1;
    double scale = 0, offset = 0;
    for (int j = 0; j < k && at < 0; j++)
        if (fv__augment_rescaling(&m->layers[j], &scale, &offset) &&
            fabs(scale * 255.0 - 1.0) < 1e-3)
            at = j;
    const int64_t count = fv_dataset_count(d), size_in = fv_model_input_size(m);
    if (at < 0 || count < 1 || size_in < 1) return FV_OK;
    float *x = malloc((size_t)size_in * sizeof *x);
    if (!x) return fv__fail(FV_ERR_NOMEM, "out of memory reading samples");
    /* Up to 256 samples spread over the data. */
    const int64_t step = count > 256 ? count / 256 : 1;
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < count; i += step) {
        fv_status s = fv_dataset_get(d, i, x);
        if (s != FV_OK) {
            free(x);
            return s;
        }
        for (int64_t j = 0; j < size_in; j++)
            lo = x[j] < lo ? x[j] : lo, hi = x[j] > hi ? x[j] : hi;
    }
    free(x);
    if (!(lo >= 0.0f && hi <= 1.0f)) return FV_OK;
    const fv_layer *l = &m->layers[at];
    char line[32] = "";
    if (l->line > 0) snprintf(line, sizeof line, " (line %d)", l->line);
    snprintf(warning, size,
             "layer '%s'%s rescales by 1/255, but the data is already in [0, 1] (fovea's "
             "readers divide pixels by 255, where Keras' image datasets give 0-255): the model "
             "would see values in [%g, %g]. Remove the rescaling line, or give the range you "
             "want (rescaling scale=2 offset=-1 gives [-1, 1])",
             l->name, line, offset + scale * lo, offset + scale * hi);
    return FV_OK;
}

void fv__model_summary_preprocessing(const fv_model *m, FILE *out)
{
    int name_w = 0, count = 0;
    for (int i = 0; i < m->nlayers; i++)
        if (fv__augment_is_preprocessing(&m->layers[i])) {
            const int w = (int)strlen(m->layers[i].name);
            name_w = w > name_w ? w : name_w, count++;
        }
    if (!count) return;
    fprintf(out, "Preprocessing layers (random_*: in training only, the identity at inference, "
                 "but random_crop\nresizes its centre window; the others always act):\n");
    for (int i = 0; i < m->nlayers; i++) {
        const fv_layer *l = &m->layers[i];
        if (!fv__augment_is_preprocessing(l)) continue;
        int nargs = 0;
        while (l->kind->args[nargs].key)
            nargs++;
        const uint64_t all = nargs >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << nargs) - 1;
        char args[512];
        fv__args_format(l->kind->args, l->cfg, all, args, sizeof args);
        fprintf(out, " %-*s  %s\n", name_w, l->name, args);
    }
}

/* Adapts layer j (normalization adapt=true, in the leading chain): the layers before it run in
 * inference mode over d, in batches, and the mean and variance of each value of the last axis of
 * what reaches it are combined batch by batch (Chan, Golub and LeVeque's pairwise update), in the
 * data's order: the same figures on any thread count. Keras' Normalization.adapt: population
 * variance over every axis but the last. */
static fv_status adapt_one(fv_model *m, int j, const fv_dataset *d)
{
    enum { B = 256 };
    fv_layer *l = &m->layers[j];
    const int64_t n = fv_dataset_count(d), in_size = fv__shape_size(&m->inputs[0].shape);
    const int64_t size = fv__shape_size(&l->in[0]), last = l->in[0].d[l->in[0].rank - 1];
    int64_t most = in_size;
    for (int k = 0; k < j; k++) {
        const int64_t s = fv__shape_size(&m->layers[k].out);
        most = s > most ? s : most;
    }
    float *buf[2] = {malloc((size_t)(B * most) * sizeof(float)),
                     malloc((size_t)(B * most) * sizeof(float))};
    double *mean = calloc((size_t)last, sizeof *mean), *m2 = calloc((size_t)last, sizeof *m2);
    double *bm = calloc((size_t)last, sizeof *bm), *bq = calloc((size_t)last, sizeof *bq);
    fv_status st = FV_OK;
    if (!buf[0] || !buf[1] || !mean || !m2 || !bm || !bq) {
        st = fv__fail(FV_ERR_NOMEM, "out of memory adapting layer '%s'", l->name);
        goto done;
    }
    double total = 0;
    for (int64_t b0 = 0; b0 < n && st == FV_OK; b0 += B) {
        const int64_t nb = n - b0 < B ? n - b0 : B;
        for (int64_t i = 0; i < nb && st == FV_OK; i++)
            st = fv_dataset_get(d, b0 + i, buf[0] + i * in_size);
        if (st != FV_OK) break;
        const float *cur = buf[0];
        for (int k = 0; k < j; k++) {
            fv_layer *p = &m->layers[k];
            fv_rng r;
            fv__rng_seed(&r, 0); /* inference: no draws */
            fv_run run = {.n = nb, .training = false, .rng = &r, .threads = fv__threads()};
            float *out = buf[(k + 1) & 1];
            const float *xs[1] = {cur};
            p->kind->forward(p, xs, out, &run);
            cur = out;
        }
        /* This batch's mean and sum of squared deviations per value of the last axis. */
        const int64_t rows = nb * size / last;
        memset(bm, 0, (size_t)last * sizeof *bm);
        memset(bq, 0, (size_t)last * sizeof *bq);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < last; c++)
                bm[c] += cur[r * last + c];
        for (int64_t c = 0; c < last; c++)
            bm[c] /= (double)rows;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < last; c++) {
                const double e = cur[r * last + c] - bm[c];
                bq[c] += e * e;
            }
        const double nt = total + (double)rows;
        for (int64_t c = 0; c < last; c++) {
            const double delta = bm[c] - mean[c];
            mean[c] += delta * (double)rows / nt;
            m2[c] += bq[c] + delta * delta * total * (double)rows / nt;
        }
        total = nt;
    }
    if (st == FV_OK && total > 0) {
        for (int64_t c = 0; c < last; c++)
            m2[c] /= total;
        fv__augment_adapted(l, mean, m2, total);
    }
done:
    free(buf[0]), free(buf[1]), free(mean), free(m2), free(bm), free(bq);
    return st;
}

fv_status fv__model_adapt(fv_model *m, const fv_dataset *d)
{
    const int k = fv__model_augment_chain(m);
    for (int j = 0; j < m->nlayers; j++) {
        if (!fv__augment_needs_adapt(&m->layers[j])) continue;
        const fv_layer *l = &m->layers[j];
        if (j >= k)
            return fv__fail(FV_ERR_INVALID,
                            "layer '%s' (line %d): normalization adapt=true must be among the "
                            "preprocessing layers that follow the model's input (it adapts to the "
                            "data as they deliver it)",
                            l->name, l->line);
        fv_status s = adapt_one(m, j, d);
        if (s != FV_OK) return s;
    }
    return FV_OK;
}

fv_status fv__model_augment_check(const fv_model *m)
{
    const int k = fv__model_augment_chain(m);
    for (int j = 0; j < fv__model_heads(m); j++) {
        const fv_task_loss *t = fv__model_head_task(m, j);
        if (!t) continue;
        for (int i = 0; i < k; i++) {
            const fv_layer *l = &m->layers[i];
            if (!fv__augment_moves_pixels(l)) continue;
            return fv__fail(FV_ERR_INVALID,
                            "layer '%s' (line %d) moves pixels, but the targets of the %s loss do "
                            "not move with them yet: a %s in front of a %s head is not supported "
                            "(augment values with random_contrast or random_brightness, or remove "
                            "the line)",
                            l->name, l->line, t->name, l->kind->name, t->name);
        }
    }
    return FV_OK;
}
