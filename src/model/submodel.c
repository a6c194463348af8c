/* submodel.c — a part of the graph run as a model of its own: from one node (a VAE's latent z, a
 * generator's input) to an output, Keras' `decoder = Model(latent_inputs, outputs)` over the
 * trained layers. The layers the output needs are found backwards from it; every one of them
 * must be computed from that node alone.
 */
#include "model/model_impl.h"

#include <stdlib.h>
#include <string.h>

/* The node named name (an input's or a layer's), or INT32_MIN. */
static int find_node(const fv_model *m, const char *name)
{
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return i;
    for (int k = 0; k < m->ninputs; k++)
        if (strcmp(m->inputs[k].name, name) == 0) return fv__input_node(k);
    return INT32_MIN;
}

fv_status fv_model_node_shape(const fv_model *m, const char *name, int *rank, int64_t dims[4])
{
    if (!m || !name || !rank || !dims)
        return fv__fail(FV_ERR_INVALID, "fv_model_node_shape: NULL argument");
    const int node = find_node(m, name);
    if (node == INT32_MIN)
        return fv__fail(FV_ERR_INVALID, "the model has no layer or input named '%s'", name);
    const fv_shape *s = fv__model_node_shape(m, node);
    *rank = s->rank;
    for (int i = 0; i < 4; i++)
        dims[i] = i < s->rank ? s->d[i] : 0;
    return FV_OK;
}

const char *fv_model_layer_input(const fv_model *m, int i, int j)
{
    if (!m || i < 0 || i >= m->nlayers || j < 0 || j >= m->layers[i].nin) return NULL;
    return fv__model_node_name(m, m->layers[i].src[j]);
}

/* Marks in need[] the layers that output node `out` needs, computed from node `from`; fails
 * naming the first layer that reads a node not computed from it. */
static fv_status mark_needed(const fv_model *m, int from, int out, bool *need)
{
    if (out == from) return FV_OK;
    if (out < 0)
        return fv__fail(FV_ERR_INVALID,
                        "the output '%s' is an input of the model, not computed "
                        "from '%s'",
                        fv__model_node_name(m, out), fv__model_node_name(m, from));
    if (from >= 0 && out < from)
        return fv__fail(FV_ERR_INVALID, "the output '%s' comes before '%s' in the model",
                        fv__model_node_name(m, out), fv__model_node_name(m, from));
    need[out] = true;
    for (int i = out; i >= 0; i--) {
        if (!need[i]) continue;
        const fv_layer *l = &m->layers[i];
        for (int j = 0; j < l->nin; j++) {
            const int src = l->src[j];
            if (src == from) continue;
            if (src < 0 || (from >= 0 && src < from))
                return fv__fail(FV_ERR_INVALID,
                                "layer '%s' (on the way to '%s') reads '%s', which is not "
                                "computed from '%s' alone",
                                l->name, fv__model_node_name(m, out), fv__model_node_name(m, src),
                                fv__model_node_name(m, from));
            need[src] = true;
        }
    }
    return FV_OK;
}

fv_status fv_model_run_from(fv_model *m, const char *from, const char *output, const float *z,
                            int64_t n, int64_t batch_size, uint64_t seed, float *out)
{
    if (!m || !from || !z || !out)
        return fv__fail(FV_ERR_INVALID, "fv_model_run_from: NULL argument");
    if (n < 1) return fv__fail(FV_ERR_INVALID, "fv_model_run_from: n = %lld", (long long)n);
    if (!m->nlayers) return fv__fail(FV_ERR_STATE, "the model has no layers");
    const int src = find_node(m, from);
    if (src == INT32_MIN)
        return fv__fail(FV_ERR_INVALID, "the model has no layer or input named '%s'", from);
    int dst = fv__model_output_node(m);
    if (output) {
        dst = find_node(m, output);
        if (dst == INT32_MIN)
            return fv__fail(FV_ERR_INVALID, "the model has no layer or input named '%s'", output);
    }
    bool *need = calloc((size_t)m->nlayers, sizeof *need);
    if (!need) return fv__fail(FV_ERR_NOMEM, "out of memory");
    fv_status s = mark_needed(m, src, dst, need);
    if (batch_size <= 0) batch_size = 32;
    if (batch_size > n) batch_size = n;
    if (s == FV_OK) s = fv__model_ensure_weights(m, m->seed);
    /* The full plan keeps every layer's output and folds nothing: src's buffer takes z. */
    if (s == FV_OK) s = fv__model_plan(m, batch_size);
    if (s != FV_OK) {
        free(need);
        return s;
    }
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].fused_act = false;
    const int64_t zsize = fv__shape_size(fv__model_node_shape(m, src)),
                  osize = fv__shape_size(fv__model_node_shape(m, dst));
    fv_rng base;
    fv__rng_seed(&base, seed);
    for (int64_t b = 0; b < n; b += batch_size) {
        const int64_t nb = n - b < batch_size ? n - b : batch_size;
        const float *zb = z + b * zsize;
        for (int i = 0; i < m->nlayers; i++) {
            if (!need[i]) continue;
            fv_layer *l = &m->layers[i];
            const float *xs[FV_MAX_INPUTS];
            for (int j = 0; j < l->nin; j++)
                xs[j] = l->src[j] == src ? zb : m->acts[l->src[j]];
            /* Random layers on the way (a sampling layer) draw from (seed, batch, layer). */
            fv_rng r;
            fv__rng_split(&base, (uint64_t)b * 1024u + (uint64_t)i, &r);
            fv_run run = {.n = nb,
                          .training = false,
                          .rng = &r,
                          .scratch = m->scratch,
                          .threads = m->plan_threads};
            l->kind->forward(l, xs, m->acts[i], &run);
        }
        memcpy(out + b * osize, dst == src ? zb : m->acts[dst],
               (size_t)(nb * osize) * sizeof(float));
    }
    m->out_of_last = 0; /* the layers' outputs are not those of a whole forward pass */
    free(need);
    return FV_OK;
}
