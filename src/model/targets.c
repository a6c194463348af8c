/* targets.c — targets that are the model's own input (Keras' fit(x, x), autoencoders): the fit
 * line's `target=input` (every output), `target=NAME` (a named input) or `target=OUT:SRC,...`
 * (per output). The target is the batch's input as gathered, scaled as the input is (pixels /
 * 255), before any layer: never the noised or augmented copy the model's layers make.
 */
#include "model/model_impl.h"
#include "io/dataset.h"
#include "model/parallel.h"

#include <string.h>

/* The input a source name stands for: "input" is the first (and must be the only) one. */
static int source_input(const fv_model *m, const char *src, size_t len)
{
    if (len == 5 && memcmp(src, "input", 5) == 0 && m->ninputs == 1) return 0;
    for (int k = 0; k < m->ninputs; k++)
        if (strlen(m->inputs[k].name) == len && memcmp(m->inputs[k].name, src, len) == 0) return k;
    return -1;
}

/* Resolves item by item into which[] (per head, -1: the data's own targets). */
static fv_status resolve(const fv_model *m, int *which)
{
    const int heads = fv__model_heads(m);
    for (int j = 0; j < heads; j++)
        which[j] = -1;
    const char *p = m->fit_target;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *src = colon ? colon + 1 : p;
        int k = source_input(m, src, (size_t)(end - src));
        if (k < 0)
            return fv__fail(FV_ERR_INVALID, "fit: target=%s: '%.*s' is not %s", m->fit_target,
                            (int)(end - src), src,
                            m->ninputs == 1 ? "'input' or the model's input name"
                                            : "the name of one of the model's inputs");
        bool found = false;
        for (int j = 0; j < heads; j++) {
            const char *name = fv__model_node_name(m, fv__model_head_node(m, j));
            if (colon &&
                !(strlen(name) == (size_t)(colon - p) && memcmp(name, p, (size_t)(colon - p)) == 0))
                continue;
            which[j] = k;
            found = true;
        }
        if (!found)
            return fv__fail(FV_ERR_INVALID, "fit: target=%s: '%.*s' is not an output of the model",
                            m->fit_target, (int)(colon - p), p);
        p = *end ? end + 1 : end;
    }
    return FV_OK;
}

int fv__model_target_input(const fv_model *m, int j)
{
    int which[FV_MAX_OUTPUTS];
    if (!m->fit_target[0] || resolve(m, which) != FV_OK) return -1;
    return which[j];
}

fv_status fv__model_targets_check(const fv_model *m, const fv_dataset *d, const char *what)
{
    int which[FV_MAX_OUTPUTS];
    if (!m->fit_target[0]) return FV_OK;
    fv_status s = resolve(m, which);
    for (int j = 0; s == FV_OK && j < fv__model_heads(m); j++) {
        if (which[j] < 0) continue;
        const int node = fv__model_head_node(m, j);
        const fv_shape *out = fv__model_node_shape(m, node), *in = &m->inputs[which[j]].shape;
        bool same = out->rank == in->rank;
        for (int i = 0; same && i < in->rank; i++)
            same = out->d[i] == in->d[i];
        if (!same) {
            char a[96], b[96];
            fv__shape_format(out, a, sizeof a);
            fv__shape_format(in, b, sizeof b);
            s = fv__fail(FV_ERR_SHAPE,
                         "fit: target=%s: output '%s' has shape %s but its target, input '%s', "
                         "has shape %s",
                         m->fit_target, fv__model_node_name(m, node), a, m->inputs[which[j]].name,
                         b);
        }
        /* Float inputs under binary cross-entropy must be probabilities (pixels always are). */
        const fv_dataset *x = which[j] == 0 ? d : fv__dataset_input(d, m->inputs[which[j]].name);
        if (s != FV_OK || fv__model_head_loss(m, j) != FV_LOSS_BINARY_CE || !x || !x->f32) continue;
        for (int64_t i = 0; i < x->n * x->sample; i++)
            if (!(x->f32[i] >= 0 && x->f32[i] <= 1)) {
                s = fv__fail(FV_ERR_INVALID,
                             "%s: fit target=%s: sample %lld (counting from 0) of input '%s' holds "
                             "%g, which binary_crossentropy cannot take as a target (it needs "
                             "values in [0, 1])",
                             what, m->fit_target, (long long)(i / x->sample),
                             m->inputs[which[j]].name, (double)x->f32[i]);
                break;
            }
    }
    return s;
}

void fv__model_targets_fill(fv_model *m, const fv_dataset *d, const int64_t *idx, int64_t first,
                            int64_t count, fv_targets *t)
{
    if (!m->fit_target[0]) return;
    int which[FV_MAX_OUTPUTS];
    if (resolve(m, which) != FV_OK) return;
    for (int j = 0; j < fv__model_heads(m); j++) {
        if (which[j] < 0) continue;
        /* The whole batch's rows (data-parallel training gathers only a slice of the inputs),
         * gathered as the input is: pixels / 255. */
        int32_t *labels;
        float *values;
        fv__dp_target_bufs(m, j, &labels, &values);
        const fv_dataset *x = which[j] == 0 ? d : fv__dataset_input(d, m->inputs[which[j]].name);
        fv__dataset_gather(x, idx, first, count, values, NULL, NULL);
        t[j] = (fv_targets){.labels = NULL, .values = values};
    }
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == '/';
}

fv_status fv__target_parse(const char *v, char *out, size_t n)
{
    const size_t len = strlen(v);
    if (len >= n)
        return fv__fail(FV_ERR_INVALID, "fit: target=%s: longer than %zu characters", v, n - 1);
    /* Each item: a name, or a name ':' a name; items separated by single commas. */
    const char *p = v;
    for (;;) {
        int names = 0;
        for (;;) {
            const char *q = p;
            while (name_char(*q))
                q++;
            if (q == p) goto bad;
            names++;
            p = q;
            if (*p != ':') break;
            if (names == 2) goto bad;
            p++;
        }
        if (!*p) break;
        if (*p != ',') goto bad;
        p++;
    }
    memcpy(out, v, len + 1);
    return FV_OK;
bad:
    return fv__fail(FV_ERR_INVALID,
                    "fit: target=%s: expected 'input' (the model's input is the target of every "
                    "output, Keras' fit(x, x)), an input's name, or OUTPUT:INPUT items separated "
                    "by commas",
                    v);
}

const char *fv_model_target(const fv_model *m)
{
    return m && m->fit_target[0] ? m->fit_target : NULL;
}
