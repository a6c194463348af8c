/* model.c — building a Sequential model: layers from model-file lines or typed calls, the compile
 * and fit directives, shape checks as each layer is added, the canonical model text and the
 * Keras summary table.
 */
#include "kernels/bf16.h"
#include "model/model_impl.h"
#include "train/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- life cycle --------------------------------------------------------------------------- */

fv_model *fv_model_new(void)
{
    fv_model *m = calloc(1, sizeof *m);
    if (!m) {
        fv__fail(FV_ERR_NOMEM, "out of memory: cannot allocate a model");
        return NULL;
    }
    fv__optim_defaults(&m->optim, FV_OPT_ADAM);
    for (int k = 0; k < FV_MAX_OUTPUTS; k++)
        m->out_weight[k] = 1.0;
    m->fit = fv_fit_defaults();
    m->seed = m->fit.seed;
    return m;
}

void fv_model_free(fv_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->nlayers; i++)
        free(m->layers[i].cfg);
    free(m->layers);
    fv__free(m->weights);
    fv__free(m->grads);
    fv__free(m->opt_state);
    free(m->acts);
    free(m->gbuf);
    free(m->gslot);
    free(m->gtemp);
    free(m->needs_grad);
    free(m->gwritten);
    free(m->skip);
    free(m->fuse_tail);
    free(m->sums);
    fv__free(m->block);
    fv__label_info_free(&m->labels);
    free(m);
}

/* ---- tokens of one line ------------------------------------------------------------------- */

/* MAX_LAYERS bounds the work a hostile model file can cause (naming is quadratic in the layer
 * count); Keras' largest Sequential models have a few hundred layers. */
enum { MAX_TOKENS = 32, MAX_LINE = 4096, MAX_LAYERS = 1000 };

typedef struct line_tokens {
    char buf[MAX_LINE];
    char *kind;
    int n;
    char *key[MAX_TOKENS];
    char *value[MAX_TOKENS];
} line_tokens;

/* Splits "kind key=value ..." (a '#' starts a comment). Returns FV_OK with kind NULL for a
 * blank line. */
static fv_status tokenize(const char *line, line_tokens *t)
{
    size_t len = strcspn(line, "#\n");
    if (len >= sizeof t->buf)
        return fv__fail(FV_ERR_INVALID, "line longer than %d characters", MAX_LINE - 1);
    memcpy(t->buf, line, len);
    t->buf[len] = '\0';
    t->kind = NULL;
    t->n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(t->buf, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        if (!t->kind) {
            t->kind = tok;
            continue;
        }
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || eq[1] == '\0')
            return fv__fail(FV_ERR_INVALID, "%s: expected key=value, got '%s'", t->kind, tok);
        if (t->n == MAX_TOKENS)
            return fv__fail(FV_ERR_INVALID, "%s: more than %d arguments", t->kind, MAX_TOKENS);
        *eq = '\0';
        for (int i = 0; i < t->n; i++)
            if (strcmp(t->key[i], tok) == 0)
                return fv__fail(FV_ERR_INVALID, "%s: argument '%s' given twice", t->kind, tok);
        t->key[t->n] = tok;
        t->value[t->n] = eq + 1;
        t->n++;
    }
    return FV_OK;
}

/* ---- numbers in directives ------------------------------------------------------------------ */

static fv_status parse_double(const char *where, const char *key, const char *v, double lo,
                              double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || x < lo || x > hi)
        return fv__fail(FV_ERR_INVALID, "%s: %s=%s: expected a number in [%g, %g]", where, key, v,
                        lo, hi);
    *out = x;
    return FV_OK;
}

static fv_status parse_int(const char *where, const char *key, const char *v, int64_t lo,
                           int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return fv__fail(FV_ERR_INVALID, "%s: %s=%s: expected an integer in [%lld, %lld]", where,
                        key, v, (long long)lo, (long long)hi);
    *out = x;
    return FV_OK;
}

static fv_status parse_bool(const char *where, const char *key, const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0)
        *out = false;
    else
        return fv__fail(FV_ERR_INVALID, "%s: %s=%s: expected true or false", where, key, v);
    return FV_OK;
}

/* ---- input ---------------------------------------------------------------------------------- */

static fv_status valid_name(const fv_model *m, const char *name);
static void default_input_name(const fv_model *m, char *out, size_t n);

static fv_status set_input(fv_model *m, int rank, const int64_t *dims, const char *name, int line)
{
    if (m->weights) return fv__fail(FV_ERR_STATE, "input: the model already has weights");
    if (m->ninputs == FV_MAX_MODEL_INPUTS)
        return fv__fail(FV_ERR_INVALID, "input: a model has at most %d inputs",
                        FV_MAX_MODEL_INPUTS);
    if (rank != 1 && rank != 3)
        return fv__fail(
            FV_ERR_SHAPE,
            "input: shape must have 1 value (features) or 3 (height, width, channels), got %d",
            rank);
    fv_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 1 || dims[i] > (1 << 24))
            return fv__fail(FV_ERR_SHAPE, "input: dimension %d is %lld; must be in [1, %d]", i + 1,
                            (long long)dims[i], 1 << 24);
        s.d[i] = dims[i];
    }
    if (fv__shape_size(&s) < 0 || fv__shape_size(&s) > ((int64_t)1 << 31))
        return fv__fail(FV_ERR_SHAPE, "input: %lld values per sample is too large",
                        (long long)fv__shape_size(&s));
    if (name) {
        fv_status st = valid_name(m, name);
        if (st != FV_OK) {
            fv__error_prefix("input: ");
            return st;
        }
    }
    fv_model_input *in = &m->inputs[m->ninputs];
    memset(in, 0, sizeof *in);
    in->shape = s;
    in->line = line;
    in->before = m->nlayers;
    in->named = name != NULL;
    if (name)
        snprintf(in->name, sizeof in->name, "%s", name);
    else
        default_input_name(m, in->name, sizeof in->name);
    m->last_node = fv__input_node(m->ninputs);
    m->ninputs++;
    if (m->ninputs > 1) m->functional = true;
    m->input = m->inputs[0].shape;
    m->has_input = true;
    return FV_OK;
}

static fv_status input_line(fv_model *m, const line_tokens *t, int line)
{
    const char *shape = NULL, *name = NULL;
    for (int i = 0; i < t->n; i++) {
        if (strcmp(t->key[i], "shape") == 0 || strcmp(t->key[i], "input_shape") == 0)
            shape = t->value[i];
        else if (strcmp(t->key[i], "name") == 0)
            name = t->value[i];
        else
            return fv__fail(FV_ERR_INVALID, "input: unknown argument '%s' (known: shape, name)",
                            t->key[i]);
    }
    if (!shape) return fv__fail(FV_ERR_INVALID, "input: missing shape=H,W,C (or shape=FEATURES)");
    int64_t dims[4];
    int rank = 0;
    const char *p = shape;
    while (*p) {
        if (rank == 4)
            return fv__fail(FV_ERR_SHAPE, "input: shape=%s has more than 3 values", shape);
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || (*end && *end != ','))
            return fv__fail(FV_ERR_INVALID,
                            "input: shape=%s: expected integers separated by commas", shape);
        dims[rank++] = v;
        p = *end ? end + 1 : end;
    }
    return set_input(m, rank, dims, name, line);
}

/* ---- layers --------------------------------------------------------------------------------- */

/* Whether one of the first `count` layers has this name. */
static bool name_taken(const fv_model *m, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (strcmp(m->layers[i].name, name) == 0) return true;
    for (int k = 0; k < m->ninputs; k++)
        if (strcmp(m->inputs[k].name, name) == 0) return true;
    return false;
}

/* Keras 3's default names for inputs: input_layer, input_layer_1, ... */
static void default_input_name(const fv_model *m, char *out, size_t n)
{
    for (int i = 0;; i++) {
        if (i == 0)
            snprintf(out, n, "input_layer");
        else
            snprintf(out, n, "input_layer_%d", i);
        if (!name_taken(m, m->nlayers, out)) return;
    }
}

/* The node named `name` among the inputs and layers defined so far; false if none. */
static bool find_node(const fv_model *m, const char *name, int *node)
{
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return *node = i, true;
    for (int k = 0; k < m->ninputs; k++)
        if (strcmp(m->inputs[k].name, name) == 0) return *node = fv__input_node(k), true;
    return false;
}

/* Resolves "a,b,c" into nodes; errors name the key and the unknown name. */
static fv_status parse_node_list(const fv_model *m, const char *key, const char *value, int *nodes,
                                 int max, int *count)
{
    char buf[MAX_LINE];
    snprintf(buf, sizeof buf, "%s", value);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) return fv__fail(FV_ERR_INVALID, "%s=%s: more than %d names", key, value, max);
        if (!find_node(m, tok, &nodes[n]))
            return fv__fail(FV_ERR_INVALID,
                            "%s=%s: no input or layer named '%s' is defined before this line", key,
                            value, tok);
        n++;
    }
    if (!n || value[0] == ',' || value[strlen(value) - 1] == ',' || strstr(value, ",,"))
        return fv__fail(FV_ERR_INVALID, "%s=%s: expected NAME or NAME,NAME,...", key, value);
    *count = n;
    return FV_OK;
}

/* Keras' default name for a layer of kind k added after the first `count` layers: the kind's
 * snake-case name, then _1, _2, ... the first that none of them has. One pass marks the taken
 * suffixes (at most count are taken, so one of 0..count is free): trying each candidate against
 * every layer instead made a model file of a few thousand layers take minutes to parse. */
static void default_name(const fv_model *m, int count, const fv_layer_kind *k, char *out, size_t n)
{
    bool taken[MAX_LAYERS + FV_MAX_MODEL_INPUTS + 1] = {false};
    FV_ASSERT(count <= MAX_LAYERS);
    const size_t len = strlen(k->keras_name);
    /* Inputs share the layers' namespace (an input may be named "dense"): those whose lines
     * come before layer `count` take their names first. */
    const int limit = count + m->ninputs;
    for (int i = 0; i < limit; i++) {
        if (i >= count && m->inputs[i - count].before > count) continue;
        const char *name = i < count ? m->layers[i].name : m->inputs[i - count].name;
        if (strncmp(name, k->keras_name, len) != 0) continue;
        const char *p = name + len;
        if (*p == '\0') {
            taken[0] = true;
            continue;
        }
        if (*p++ != '_' || *p < '1' || *p > '9') continue; /* "%s_%d" never writes "_01" */
        long v = 0;
        for (; *p >= '0' && *p <= '9' && v <= limit; p++)
            v = v * 10 + (*p - '0');
        if (*p == '\0' && v <= limit) taken[v] = true;
    }
    int i = 0;
    while (taken[i])
        i++;
    if (i == 0)
        snprintf(out, n, "%s", k->keras_name);
    else
        snprintf(out, n, "%s_%d", k->keras_name, i);
}

static fv_status valid_name(const fv_model *m, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= sizeof m->layers[0].name)
        return fv__fail(FV_ERR_INVALID, "name=%s: must be 1 to %zu characters", name,
                        sizeof m->layers[0].name - 1);
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            return fv__fail(FV_ERR_INVALID, "name=%s: use letters, digits, '_' and '-' only", name);
    if (name_taken(m, m->nlayers, name))
        return fv__fail(FV_ERR_INVALID, "name=%s: another layer has this name", name);
    return FV_OK;
}

/* A compiled task loss belongs to its output layer's kind: a line that would move the outputs
 * (a layer after the last output of a sequential model, a model line) would leave the loss on a
 * layer that has none. */
static fv_status task_heads_stay(const fv_model *m, const char *what)
{
    if (!m->compiled) return FV_OK;
    for (int j = 0; j < fv__model_heads(m); j++)
        if (fv__model_head_task(m, j))
            return fv__fail(FV_ERR_INVALID,
                            "%s: after compile loss=%s, whose task loss belongs to output layer "
                            "'%s': put the compile line after the layers and the model line",
                            what, fv__model_head_loss_name(m, j),
                            fv__model_node_name(m, fv__model_head_node(m, j)));
    return FV_OK;
}

static fv_status layer_line(fv_model *m, const fv_layer_kind *k, const line_tokens *t, int line)
{
    if (m->weights)
        return fv__fail(FV_ERR_STATE, "%s: cannot add layers once the model has weights", k->name);
    if (!m->noutputs) {
        fv_status st = task_heads_stay(m, k->name);
        if (st != FV_OK) return st;
    }
    if (!m->has_input)
        return fv__fail(FV_ERR_INVALID,
                        "%s: the model needs an input line first (e.g. input shape=28,28,1)",
                        k->name);
    if (m->nlayers == MAX_LAYERS)
        return fv__fail(FV_ERR_INVALID,
                        "%s: the model already has %d layers, the most fovea builds", k->name,
                        MAX_LAYERS);
    if (m->nlayers == m->cap) {
        int cap = m->cap ? 2 * m->cap : 8;
        fv_layer *nl = realloc(m->layers, (size_t)cap * sizeof *nl);
        if (!nl) return fv__fail(FV_ERR_NOMEM, "out of memory adding a layer");
        m->layers = nl;
        m->cap = cap;
    }
    fv_layer *l = &m->layers[m->nlayers];
    memset(l, 0, sizeof *l);
    l->kind = k;
    l->line = line;
    l->trainable = true;
    l->nin = 1;
    l->src[0] = m->last_node;
    l->cfg = calloc(1, k->cfg_size ? k->cfg_size : 1);
    if (!l->cfg) return fv__fail(FV_ERR_NOMEM, "out of memory adding a layer");
    fv_status s = fv__args_defaults(k->args, l->cfg);
    const char *name = NULL;
    bool inputs_given = false;
    for (int i = 0; s == FV_OK && i < t->n; i++) {
        if (strcmp(t->key[i], "name") == 0) {
            name = t->value[i];
            s = valid_name(m, name);
        } else if (strcmp(t->key[i], "inputs") == 0) {
            s = parse_node_list(m, "inputs", t->value[i], l->src, FV_MAX_INPUTS, &l->nin);
            if (s != FV_OK) fv__error_prefix("%s: ", k->name);
            inputs_given = true;
        } else if (strcmp(t->key[i], "trainable") == 0) {
            s = parse_bool(k->name, "trainable", t->value[i], &l->trainable);
        } else {
            s = fv__args_set(k->args, l->cfg, t->key[i], t->value[i], &l->given);
        }
    }
    const int lo = k->min_inputs ? k->min_inputs : 1, hi = k->max_inputs ? k->max_inputs : 1;
    if (s == FV_OK && (l->nin < lo || l->nin > hi)) {
        if (lo == hi)
            s = fv__fail(FV_ERR_INVALID, "%s: takes %d input%s, got %d", k->name, lo,
                         lo == 1 ? "" : "s", l->nin);
        else if (!inputs_given)
            s = fv__fail(FV_ERR_INVALID,
                         "%s: takes %d or more inputs: name them with inputs=NAME,NAME,...",
                         k->name, lo);
        else
            s = fv__fail(FV_ERR_INVALID, "%s: takes %d to %d inputs, got %d", k->name, lo, hi,
                         l->nin);
    }
    for (int j = 0; s == FV_OK && j < l->nin; j++)
        l->in[j] = *fv__model_node_shape(m, l->src[j]);
    if (s == FV_OK) {
        if (name)
            snprintf(l->name, sizeof l->name, "%s", name);
        else
            default_name(m, m->nlayers, k, l->name, sizeof l->name);
        s = k->build(l);
        /* Name the layers behind "input 1", "input 2" of a merge's shape error. */
        if (s != FV_OK && l->nin > 1) {
            char names[512];
            size_t used = 0;
            for (int j = 0; j < l->nin && used < sizeof names; j++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", j ? "," : "",
                                         fv__model_node_name(m, l->src[j]));
            fv__error_prefix("inputs=%s: ", names);
        }
    }
    if (s != FV_OK) {
        free(l->cfg);
        return s;
    }
    if (inputs_given) m->functional = true;
    m->last_node = m->nlayers;
    m->nlayers++;
    return FV_OK;
}

/* `model outputs=NAME[,NAME...]`: the model's outputs, in order. */
static fv_status model_line(fv_model *m, const line_tokens *t, int line)
{
    if (m->weights) return fv__fail(FV_ERR_STATE, "model: the model already has weights");
    fv_status st = task_heads_stay(m, "model");
    if (st != FV_OK) return st;
    /* A compile line that named outputs keeps them by their place: they cannot move under it. */
    if (m->compiled && (m->out_named || m->weights_named || strchr(m->metrics_text, ':')))
        return fv__fail(FV_ERR_INVALID,
                        "model: the outputs must be named before a compile line that names them "
                        "(in loss=, loss_weights= or metrics=)");
    for (int i = 0; i < t->n; i++) {
        if (strcmp(t->key[i], "outputs") != 0)
            return fv__fail(FV_ERR_INVALID, "model: unknown argument '%s' (known: outputs)",
                            t->key[i]);
        int nodes[FV_MAX_OUTPUTS], n;
        fv_status s = parse_node_list(m, "model: outputs", t->value[i], nodes, FV_MAX_OUTPUTS, &n);
        if (s != FV_OK) return s;
        for (int a = 0; a < n; a++) {
            if (nodes[a] < 0)
                return fv__fail(FV_ERR_INVALID, "model: outputs: '%s' is an input, not a layer",
                                fv__model_node_name(m, nodes[a]));
            for (int b = 0; b < a; b++)
                if (nodes[a] == nodes[b])
                    return fv__fail(FV_ERR_INVALID, "model: outputs: '%s' is named twice",
                                    fv__model_node_name(m, nodes[a]));
        }
        memcpy(m->outputs, nodes, sizeof nodes);
        m->noutputs = n;
        m->outputs_line = line;
        m->functional = true;
    }
    if (!m->noutputs) return fv__fail(FV_ERR_INVALID, "model: missing outputs=NAME[,NAME...]");
    return FV_OK;
}

/* ---- compile -------------------------------------------------------------------------------- */

/* compile's keys; CK_ names their bits in compile_given. */
static const char *const compile_keys[] = {
    "loss",       "optimizer",   "learning_rate", "beta_1",        "beta_2",
    "epsilon",    "momentum",    "nesterov",      "metrics",       "weight_decay",
    "schedule",   "decay_steps", "alpha",         "warmup_target", "warmup_steps",
    "decay_rate", "staircase",   "loss_weights",  "precision",     "conv_algorithm",
    NULL};
enum {
    CK_LOSS,
    CK_OPTIMIZER,
    CK_LR,
    CK_BETA_1,
    CK_BETA_2,
    CK_EPSILON,
    CK_MOMENTUM,
    CK_NESTEROV,
    CK_METRICS,
    CK_WEIGHT_DECAY,
    CK_SCHEDULE,
    CK_DECAY_STEPS,
    CK_ALPHA,
    CK_WARMUP_TARGET,
    CK_WARMUP_STEPS,
    CK_DECAY_RATE,
    CK_STAIRCASE,
    CK_LOSS_WEIGHTS,
    CK_PRECISION,
    CK_CONV_ALGORITHM,
};
#define CK_BIT(k) ((uint64_t)1 << (k))
/* Settings that belong to the optimizer: a new optimizer= drops them. */
#define CK_OPTIMIZER_KEYS                                                                          \
    (CK_BIT(CK_LR) | CK_BIT(CK_BETA_1) | CK_BIT(CK_BETA_2) | CK_BIT(CK_EPSILON) |                  \
     CK_BIT(CK_MOMENTUM) | CK_BIT(CK_NESTEROV) | CK_BIT(CK_WEIGHT_DECAY))
#define CK_SCHEDULE_KEYS                                                                           \
    (CK_BIT(CK_DECAY_STEPS) | CK_BIT(CK_ALPHA) | CK_BIT(CK_WARMUP_TARGET) |                        \
     CK_BIT(CK_WARMUP_STEPS) | CK_BIT(CK_DECAY_RATE) | CK_BIT(CK_STAIRCASE))

static const char *const optimizer_names[] = {"adam", "sgd", "adamw", NULL}; /* fv_optim_kind */
static const char *const schedule_names[] = {"none", "cosine_decay", "exponential_decay", NULL};

static int key_index(const char *const *keys, const char *key)
{
    for (int i = 0; keys[i]; i++)
        if (strcmp(keys[i], key) == 0) return i;
    return -1;
}

static void list_keys(const char *const *keys, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; keys[i] && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", keys[i]);
}

/* Compile's metrics=: any training metric of train/metrics.h (accuracy, precision, recall, f1,
 * auc, prc, map, crossentropy, mse, rmse, mae and their aliases). Whether each applies to the
 * data (classes or float targets) is only known at fit. */
static int output_index(const fv_model *m, const char *name, size_t len);

/* metrics=a,b or, for a model with several outputs, OUT:a,OUT2:b (a name without OUT: applies
 * to every output). */
static fv_status set_metrics(fv_model *m, const char *v)
{
    if (strlen(v) >= sizeof m->metrics_text)
        return fv__fail(FV_ERR_INVALID, "compile: metrics=%s is too long", v);
    /* Each output's list (the names without OUT: and its own) is checked on its own, so that
     * the same metric on two outputs (a:accuracy,b:accuracy) is fine and twice on one is not. */
    const int nlists = m->noutputs > 1 ? m->noutputs : 1;
    fv_status s = FV_OK;
    for (int k = 0; k < nlists && s == FV_OK; k++) {
        char names[sizeof m->metrics_text];
        size_t used = 0;
        names[0] = '\0';
        for (const char *p = v; *p;) {
            const char *comma = strchr(p, ','), *colon = strchr(p, ':');
            if (!comma) comma = p + strlen(p);
            bool mine = true;
            if (colon && colon < comma) {
                const int o = output_index(m, p, (size_t)(colon - p));
                if (o < 0)
                    return fv__fail(FV_ERR_INVALID,
                                    "compile: metrics=%s: '%.*s' is not one of the model's "
                                    "outputs (named on a `model outputs=` line before compile)",
                                    v, (int)(colon - p), p);
                mine = o == k;
                p = colon + 1;
            }
            if (mine)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%.*s",
                                         used ? "," : "", (int)(comma - p), p);
            p = *comma ? comma + 1 : comma;
        }
        s = fv__metric_check_names(names, false);
    }
    if (s != FV_OK) {
        fv__error_prefix("compile: metrics=%s: ", v);
        return s;
    }
    snprintf(m->metrics_text, sizeof m->metrics_text, "%s", v);
    return FV_OK;
}

/* The index of v in names (also matched case-insensitively: Keras' class names Adam, SGD,
 * AdamW), or -1. */
static int name_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++)
        if (strcasecmp(names[i], v) == 0) return i;
    return -1;
}

/* Checks that an optimizer setting applies to the chosen optimizer. */
static fv_status optimizer_key_applies(const fv_model *m, int key)
{
    const fv_optim_kind k = m->optim.kind;
    const bool adam_like = k == FV_OPT_ADAM || k == FV_OPT_ADAMW;
    const char *needs = NULL;
    if ((key == CK_BETA_1 || key == CK_BETA_2 || key == CK_EPSILON) && !adam_like)
        needs = "adam or adamw";
    if ((key == CK_MOMENTUM || key == CK_NESTEROV) && k != FV_OPT_SGD) needs = "sgd";
    if (!needs) return FV_OK;
    return fv__fail(FV_ERR_INVALID, "compile: %s applies to %s, not %s", compile_keys[key], needs,
                    optimizer_names[k]);
}

/* The index among the model's outputs of the output named `name` (its layer's name), or -1. */
static int output_index(const fv_model *m, const char *name, size_t len)
{
    for (int k = 0; k < m->noutputs; k++) {
        const char *o = m->layers[m->outputs[k]].name;
        if (strlen(o) == len && strncmp(o, name, len) == 0) return k;
    }
    return -1;
}

/* The loss named `name` for the output at node: one of Keras' losses, or the task loss the output
 * layer's kind provides (FV_LOSS_TASK); FV_LOSS_NONE with the error set when neither. */
static fv_loss_kind head_loss_named(const fv_model *m, int node, const char *name, const char *v)
{
    const fv_loss_kind k = fv__loss_from_name(name);
    if (k != FV_LOSS_NONE) return k;
    const fv_layer *head = node >= 0 ? &m->layers[node] : NULL;
    const fv_task_loss *t = head ? head->kind->task_loss : NULL;
    if (t && strcmp(t->name, name) == 0) return FV_LOSS_TASK;
    /* the task losses there are, with the layer kinds that provide them */
    char task[256] = "";
    size_t used = 0;
    if (t)
        used += (size_t)snprintf(task, sizeof task, ", %s (output layer %s)", t->name,
                                 head->kind->name);
    for (int i = 0; fv__layer_kinds[i]; i++)
        if (fv__layer_kinds[i]->task_loss && fv__layer_kinds[i]->task_loss != t &&
            used < sizeof task)
            used += (size_t)snprintf(task + used, sizeof task - used, ", %s (output layer %s)",
                                     fv__layer_kinds[i]->task_loss->name, fv__layer_kinds[i]->name);
    fv__fail(FV_ERR_INVALID,
             "compile: loss=%s: '%s' is not a loss for output '%s' (%s): expected "
             "categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy, "
             "mean_squared_error (mse) or mean_absolute_error (mae)%s%s",
             v, name, head ? head->name : "the input", head ? head->kind->name : "input",
             task[0] ? ", or a task loss of its output layer's kind: " : "",
             task[0] ? task + 2 : "");
    return FV_LOSS_NONE;
}

/* loss=NAME (every output) or loss=OUT1:NAME,OUT2:NAME (one per output, all named). */
static fv_status set_losses(fv_model *m, const char *v)
{
    if (!strchr(v, ':')) {
        const int heads = fv__model_heads(m);
        m->loss = FV_LOSS_NONE;
        for (int k = 0; k < heads; k++) {
            const fv_loss_kind kind = head_loss_named(m, fv__model_head_node(m, k), v, v);
            if (kind == FV_LOSS_NONE) return FV_ERR_INVALID;
            m->loss = kind;
        }
        for (int k = 0; k < FV_MAX_OUTPUTS; k++)
            m->out_loss[k] = m->loss;
        m->out_named = false;
        return FV_OK;
    }
    if (m->noutputs < 2)
        return fv__fail(FV_ERR_INVALID,
                        "compile: loss=%s names outputs, but the model has one output (name "
                        "several with a `model outputs=` line before compile)",
                        v);
    bool seen[FV_MAX_OUTPUTS] = {false};
    for (const char *p = v; *p;) {
        const char *colon = strchr(p, ':'), *comma = strchr(p, ',');
        if (!comma) comma = p + strlen(p);
        if (!colon || colon > comma)
            return fv__fail(FV_ERR_INVALID, "compile: loss=%s: expected OUTPUT:LOSS,OUTPUT:LOSS",
                            v);
        const int k = output_index(m, p, (size_t)(colon - p));
        if (k < 0)
            return fv__fail(FV_ERR_INVALID,
                            "compile: loss=%s: '%.*s' is not one of the model's outputs", v,
                            (int)(colon - p), p);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(comma - colon - 1), colon + 1);
        m->out_loss[k] = head_loss_named(m, m->outputs[k], name, v);
        if (m->out_loss[k] == FV_LOSS_NONE) return FV_ERR_INVALID;
        seen[k] = true;
        p = *comma ? comma + 1 : comma;
    }
    for (int k = 0; k < m->noutputs; k++)
        if (!seen[k])
            return fv__fail(FV_ERR_INVALID, "compile: loss=%s: no loss for output '%s'", v,
                            m->layers[m->outputs[k]].name);
    m->loss = m->out_loss[0];
    m->out_named = true;
    return FV_OK;
}

/* loss_weights=OUT1:W,OUT2:W (unnamed outputs keep 1). */
static fv_status set_loss_weights(fv_model *m, const char *v)
{
    for (int k = 0; k < FV_MAX_OUTPUTS; k++)
        m->out_weight[k] = 1.0;
    for (const char *p = v; *p;) {
        const char *colon = strchr(p, ':'), *comma = strchr(p, ',');
        if (!comma) comma = p + strlen(p);
        if (!colon || colon > comma)
            return fv__fail(FV_ERR_INVALID,
                            "compile: loss_weights=%s: expected OUTPUT:WEIGHT,OUTPUT:WEIGHT", v);
        const int k = output_index(m, p, (size_t)(colon - p));
        if (k < 0)
            return fv__fail(FV_ERR_INVALID,
                            "compile: loss_weights=%s: '%.*s' is not one of the model's outputs", v,
                            (int)(colon - p), p);
        char num[64];
        snprintf(num, sizeof num, "%.*s", (int)(comma - colon - 1), colon + 1);
        fv_status s = parse_double("compile", "loss_weights", num, 0, 1e6, &m->out_weight[k]);
        if (s != FV_OK) return s;
        p = *comma ? comma + 1 : comma;
    }
    m->weights_named = true;
    return FV_OK;
}

/* precision=fp32|bf16 into *bf16; bf16 only where the CPU multiplies bf16 (no emulation). */
static fv_status precision_parse(const char *v, bool *bf16)
{
    if (strcmp(v, "fp32") == 0) {
        *bf16 = false;
        return FV_OK;
    }
    if (strcmp(v, "bf16") != 0)
        return fv__fail(FV_ERR_INVALID, "precision=%s: expected fp32 or bf16", v);
    if (strcmp(fv_gemm_bf16_path(), "emulated") == 0)
        return fv__fail(FV_ERR_INVALID,
                        "precision=bf16: this CPU has neither AVX512_BF16 nor AMX-BF16, so bf16 "
                        "would run emulated, 100 times slower than fp32; use precision=fp32");
    *bf16 = true;
    return FV_OK;
}

/* *flag ← v for the compile key `key` (precision=, conv_algorithm=), which the layers' scratch
 * depends on: a change drops the plan. */
static void set_plan_flag(fv_model *m, bool *flag, bool v, int key)
{
    if (v != *flag) fv__model_plan_reset(m);
    *flag = v;
    m->compile_given |= CK_BIT(key);
}

fv_status fv_model_set_precision(fv_model *m, const char *precision)
{
    bool bf16 = false;
    fv_status s = precision_parse(precision ? precision : "", &bf16);
    if (s == FV_OK) set_plan_flag(m, &m->bf16, bf16, CK_PRECISION);
    return s;
}

const char *fv_model_precision(const fv_model *m)
{
    return m->bf16 ? "bf16" : "fp32";
}

/* conv_algorithm=direct|winograd into *winograd (oneDNN's convolution_direct and
 * convolution_winograd). */
static fv_status conv_algorithm_parse(const char *v, bool *winograd)
{
    if (strcmp(v, "direct") != 0 && strcmp(v, "winograd") != 0)
        return fv__fail(FV_ERR_INVALID, "conv_algorithm=%s: expected direct or winograd", v);
    *winograd = strcmp(v, "winograd") == 0;
    return FV_OK;
}

fv_status fv_model_set_conv_algorithm(fv_model *m, const char *algorithm)
{
    bool winograd = false;
    fv_status s = conv_algorithm_parse(algorithm ? algorithm : "", &winograd);
    if (s == FV_OK) set_plan_flag(m, &m->winograd, winograd, CK_CONV_ALGORITHM);
    return s;
}

const char *fv_model_conv_algorithm(const fv_model *m)
{
    return m->winograd ? "winograd" : "direct";
}

static fv_status compile_tokens(fv_model *m, const line_tokens *t)
{
    fv_model saved = *m; /* restore on any error: compile is all or nothing */
    fv_status s = FV_OK;
    /* The optimizer first: it resets its own defaults. */
    for (int i = 0; i < t->n; i++) {
        if (strcmp(t->key[i], "optimizer") != 0) continue;
        const int kind = name_index(optimizer_names, t->value[i]);
        if (kind < 0)
            s = fv__fail(FV_ERR_INVALID, "compile: optimizer=%s: expected adam, adamw or sgd",
                         t->value[i]);
        else
            fv__optim_defaults(&m->optim, (fv_optim_kind)kind);
        m->compile_given &= ~(uint64_t)(CK_OPTIMIZER_KEYS | CK_SCHEDULE_KEYS | CK_BIT(CK_SCHEDULE));
        m->compile_given |= CK_BIT(CK_OPTIMIZER);
    }
    /* Then the schedule: its settings are checked against it. */
    for (int i = 0; s == FV_OK && i < t->n; i++) {
        if (strcmp(t->key[i], "schedule") != 0) continue;
        const int kind = name_index(schedule_names, t->value[i]);
        if (kind < 0)
            s = fv__fail(FV_ERR_INVALID,
                         "compile: schedule=%s: expected cosine_decay, exponential_decay or none",
                         t->value[i]);
        else
            m->optim.schedule = (fv_schedule_kind)kind;
    }
    for (int i = 0; s == FV_OK && i < t->n; i++) {
        const char *k = t->key[i], *v = t->value[i];
        int idx = key_index(compile_keys, k);
        if (idx < 0) {
            char known[512];
            list_keys(compile_keys, known, sizeof known);
            s = fv__fail(FV_ERR_INVALID, "compile: unknown argument '%s' (known: %s)", k, known);
            break;
        }
        if (idx == CK_OPTIMIZER) continue;
        m->compile_given |= CK_BIT(idx);
        s = optimizer_key_applies(m, idx);
        if (s != FV_OK) break;
        fv_optim *o = &m->optim;
        const bool cosine = o->schedule == FV_SCHED_COSINE_DECAY;
        const bool expo = o->schedule == FV_SCHED_EXPONENTIAL_DECAY;
        if ((idx == CK_ALPHA || idx == CK_WARMUP_TARGET || idx == CK_WARMUP_STEPS) && !cosine)
            s = fv__fail(FV_ERR_INVALID, "compile: %s applies to schedule=cosine_decay", k);
        else if ((idx == CK_DECAY_RATE || idx == CK_STAIRCASE) && !expo)
            s = fv__fail(FV_ERR_INVALID, "compile: %s applies to schedule=exponential_decay", k);
        else if (idx == CK_DECAY_STEPS && !cosine && !expo)
            s = fv__fail(FV_ERR_INVALID,
                         "compile: decay_steps applies to a schedule (schedule=cosine_decay or "
                         "exponential_decay)");
        if (s != FV_OK) break;
        int64_t steps;
        switch (idx) {
        case CK_LOSS:
            s = set_losses(m, v);
            break;
        case CK_LOSS_WEIGHTS:
            s = set_loss_weights(m, v);
            break;
        case CK_LR:
            s = parse_double("compile", k, v, 0, 1e3, &o->learning_rate);
            break;
        case CK_BETA_1:
            s = parse_double("compile", k, v, 0, 0.999999999, &o->beta_1);
            break;
        case CK_BETA_2:
            s = parse_double("compile", k, v, 0, 0.999999999, &o->beta_2);
            break;
        case CK_EPSILON:
            s = parse_double("compile", k, v, 0, 1, &o->epsilon);
            break;
        case CK_MOMENTUM:
            s = parse_double("compile", k, v, 0, 1, &o->momentum);
            break;
        case CK_NESTEROV:
            s = parse_bool("compile", k, v, &o->nesterov);
            break;
        case CK_METRICS:
            s = set_metrics(m, v);
            break;
        case CK_WEIGHT_DECAY:
            s = parse_double("compile", k, v, 0, 1, &o->weight_decay);
            break;
        case CK_DECAY_STEPS:
            s = parse_int("compile", k, v, 1, INT64_MAX / 2, &o->decay_steps);
            break;
        case CK_ALPHA:
            s = parse_double("compile", k, v, 0, 1, &o->alpha);
            break;
        case CK_WARMUP_TARGET:
            s = parse_double("compile", k, v, 0, 1e3, &o->warmup_target);
            break;
        case CK_WARMUP_STEPS:
            s = parse_int("compile", k, v, 0, INT64_MAX / 2, &steps);
            o->warmup_steps = steps;
            break;
        case CK_DECAY_RATE:
            s = parse_double("compile", k, v, 0, 1e3, &o->decay_rate);
            break;
        case CK_STAIRCASE:
            s = parse_bool("compile", k, v, &o->staircase);
            break;
        case CK_PRECISION:
            s = precision_parse(v, &m->bf16);
            break;
        case CK_CONV_ALGORITHM:
            s = conv_algorithm_parse(v, &m->winograd);
            break;
        default:
            break;
        }
    }
    if (s == FV_OK && m->loss == FV_LOSS_NONE)
        s = fv__fail(FV_ERR_INVALID, "compile: missing loss= (e.g. loss=categorical_crossentropy)");
    if (s == FV_OK && m->optim.schedule != FV_SCHED_NONE &&
        !(m->compile_given & CK_BIT(CK_DECAY_STEPS)))
        s = fv__fail(FV_ERR_INVALID, "compile: schedule=%s needs decay_steps=N",
                     schedule_names[m->optim.schedule]);
    if (s == FV_OK && (m->compile_given & CK_BIT(CK_WARMUP_STEPS)) && isnan(m->optim.warmup_target))
        s = fv__fail(FV_ERR_INVALID,
                     "compile: warmup_steps needs warmup_target (the rate reached at its end)");
    if (s == FV_OK && !isnan(m->optim.warmup_target) && m->optim.warmup_steps < 1)
        s = fv__fail(FV_ERR_INVALID, "compile: warmup_target needs warmup_steps=N (N >= 1)");
    if (s == FV_OK) s = fv__model_terms_refresh(m);
    if (s != FV_OK) {
        *m = saved;
        return s;
    }
    /* a plan made under the previous loss sized its target buffers and scratch for it (a task
     * loss's width is its own, not the output's) */
    fv__model_plan_reset(m);
    m->compiled = true;
    m->compiled_lr = m->optim.learning_rate;
    return FV_OK;
}

fv_status fv_model_compile(fv_model *m, const char *args)
{
    line_tokens *t = malloc(sizeof *t);
    if (!t) return fv__fail(FV_ERR_NOMEM, "out of memory");
    char line[MAX_LINE];
    snprintf(line, sizeof line, "compile %s", args ? args : "");
    fv_status s = tokenize(line, t);
    if (s == FV_OK) s = compile_tokens(m, t);
    free(t);
    return s;
}

/* ---- fit line ------------------------------------------------------------------------------- */

/* clang-format off */
static const char *const fit_keys[] = {"batch_size",
                                       "epochs",
                                       "shuffle",
                                       "validation_split",
                                       "seed",
                                       "early_stopping",
                                       "patience",
                                       "min_delta",
                                       "restore_best_weights",
                                       "reduce_lr_on_plateau",
                                       "lr_factor",
                                       "lr_patience",
                                       "lr_min_delta",
                                       "lr_cooldown",
                                       "min_lr",
                                       "target",
                                       "gan",
                                       NULL};
/* clang-format on */
enum {
    FK_BATCH,
    FK_EPOCHS,
    FK_SHUFFLE,
    FK_VSPLIT,
    FK_SEED,
    FK_ES,
    FK_PATIENCE,
    FK_MIN_DELTA,
    FK_RESTORE,
    FK_RLR,
    FK_LR_FACTOR,
    FK_LR_PATIENCE,
    FK_LR_MIN_DELTA,
    FK_LR_COOLDOWN,
    FK_MIN_LR,
    FK_TARGET,
    FK_GAN
};
#define FK_BIT(k)  ((uint64_t)1 << (k))
#define FK_ES_KEYS (FK_BIT(FK_PATIENCE) | FK_BIT(FK_MIN_DELTA) | FK_BIT(FK_RESTORE))
#define FK_RLR_KEYS                                                                                \
    (FK_BIT(FK_LR_FACTOR) | FK_BIT(FK_LR_PATIENCE) | FK_BIT(FK_LR_MIN_DELTA) |                     \
     FK_BIT(FK_LR_COOLDOWN) | FK_BIT(FK_MIN_LR))

fv_fit_opts fv_fit_defaults(void)
{
    fv_fit_opts o;
    memset(&o, 0, sizeof o);
    o.batch_size = 32;
    o.epochs = 1;
    o.shuffle = true;
    o.seed = 42;
    /* Keras' EarlyStopping and ReduceLROnPlateau defaults */
    o.patience = 0;
    o.min_delta = 0;
    o.restore_best_weights = false;
    o.lr_factor = 0.1;
    o.lr_patience = 10;
    o.lr_min_delta = 1e-4;
    o.lr_cooldown = 0;
    o.min_lr = 0;
    return o;
}

fv_fit_opts fv_model_fit_opts(const fv_model *m)
{
    fv_fit_opts o = m->fit;
    o.early_stopping = m->es_monitor[0] ? m->es_monitor : NULL;
    o.reduce_lr_on_plateau = m->rlr_monitor[0] ? m->rlr_monitor : NULL;
    return o;
}

/* ---- monitored columns ----------------------------------------------------------------------- */

bool fv__monitor_higher_is_better(const char *column)
{
    static const char *const higher[] = {"accuracy", "precision", "recall", "f1",
                                         "auc",      "prc",       "map",    NULL};
    const char *base = strncmp(column, "val_", 4) == 0 ? column + 4 : column;
    const char *canon = fv__metric_canonical(base);
    if (canon) base = canon;
    for (int i = 0; higher[i]; i++)
        if (strcmp(base, higher[i]) == 0) return true;
    return false;
}

fv_status fv__monitor_canonical(const char *name, char *out, size_t size)
{
    bool val = strncmp(name, "val_", 4) == 0;
    const char *base = val ? name + 4 : name;
    const char *canon = strcmp(base, "loss") == 0 ? "loss" : fv__metric_canonical(base);
    if (!canon)
        return fv__fail(
            FV_ERR_INVALID,
            "'%s' is not a column a callback can monitor: expected loss, a metric "
            "(accuracy, precision, recall, f1, auc, prc, map, crossentropy, mse, rmse, mae) or "
            "either with val_ (val_loss, val_accuracy, ...)",
            name);
    snprintf(out, size, "%s%s", val ? "val_" : "", canon);
    return FV_OK;
}

static fv_status fit_tokens(fv_model *m, const line_tokens *t)
{
    fv_fit_opts f = m->fit;
    uint64_t given = m->fit_given;
    char es[FV_MONITOR_MAX], rlr[FV_MONITOR_MAX];
    snprintf(es, sizeof es, "%s", m->es_monitor);
    snprintf(rlr, sizeof rlr, "%s", m->rlr_monitor);
    char target[sizeof m->fit_target], gan[sizeof m->fit_gan];
    snprintf(target, sizeof target, "%s", m->fit_target);
    snprintf(gan, sizeof gan, "%s", m->fit_gan);
    for (int i = 0; i < t->n; i++) {
        const char *k = t->key[i], *v = t->value[i];
        int idx = key_index(fit_keys, k);
        int64_t x;
        fv_status s = FV_OK;
        switch (idx) {
        case FK_BATCH:
            s = parse_int("fit", k, v, 1, 1 << 20, &f.batch_size);
            break;
        case FK_EPOCHS:
            s = parse_int("fit", k, v, 0, 1000000, &f.epochs);
            break;
        case FK_SHUFFLE:
            s = parse_bool("fit", k, v, &f.shuffle);
            break;
        case FK_VSPLIT:
            s = parse_double("fit", k, v, 0, 0.999, &f.validation_split);
            break;
        case FK_SEED:
            s = parse_int("fit", k, v, 0, INT64_MAX, &x);
            f.seed = (uint64_t)x;
            break;
        case FK_ES:
        case FK_RLR:
            s = fv__monitor_canonical(v, idx == FK_ES ? es : rlr, FV_MONITOR_MAX);
            if (s != FV_OK) fv__error_prefix("fit: %s=%s: ", k, v);
            break;
        case FK_PATIENCE:
            s = parse_int("fit", k, v, 0, 1000000, &f.patience);
            break;
        case FK_MIN_DELTA:
            s = parse_double("fit", k, v, 0, 1e300, &f.min_delta);
            break;
        case FK_RESTORE:
            s = parse_bool("fit", k, v, &f.restore_best_weights);
            break;
        case FK_LR_FACTOR:
            s = parse_double("fit", k, v, 0, 1, &f.lr_factor);
            if (s == FV_OK && (f.lr_factor <= 0 || f.lr_factor >= 1))
                s = fv__fail(FV_ERR_INVALID,
                             "fit: lr_factor=%s: must be above 0 and below 1 (the learning rate is "
                             "multiplied by it)",
                             v);
            break;
        case FK_LR_PATIENCE:
            s = parse_int("fit", k, v, 0, 1000000, &f.lr_patience);
            break;
        case FK_LR_MIN_DELTA:
            s = parse_double("fit", k, v, 0, 1e300, &f.lr_min_delta);
            break;
        case FK_LR_COOLDOWN:
            s = parse_int("fit", k, v, 0, 1000000, &f.lr_cooldown);
            break;
        case FK_MIN_LR:
            s = parse_double("fit", k, v, 0, 1e3, &f.min_lr);
            break;
        case FK_TARGET:
            s = fv__target_parse(v, target, sizeof target);
            break;
        case FK_GAN:
            s = fv__gan_parse(v, gan, sizeof gan);
            break;
        default: {
            char known[512];
            list_keys(fit_keys, known, sizeof known);
            return fv__fail(FV_ERR_INVALID, "fit: unknown argument '%s' (known: %s)", k, known);
        }
        }
        if (s != FV_OK) return s;
        given |= FK_BIT(idx);
    }
    /* A setting of a callback that is off is a mistake (lr_patience meant, say), not a default. */
    if ((given & FK_ES_KEYS) && !es[0])
        return fv__fail(FV_ERR_INVALID,
                        "fit: patience, min_delta and restore_best_weights set early stopping, "
                        "which is off: add early_stopping=val_loss (or another column to monitor)");
    if ((given & FK_RLR_KEYS) && !rlr[0])
        return fv__fail(FV_ERR_INVALID,
                        "fit: lr_factor, lr_patience, lr_min_delta, lr_cooldown and min_lr set "
                        "reduce_lr_on_plateau, which is off: add reduce_lr_on_plateau=val_loss (or "
                        "another column to monitor)");
    snprintf(m->es_monitor, sizeof m->es_monitor, "%s", es);
    snprintf(m->rlr_monitor, sizeof m->rlr_monitor, "%s", rlr);
    snprintf(m->fit_target, sizeof m->fit_target, "%s", target);
    snprintf(m->fit_gan, sizeof m->fit_gan, "%s", gan);
    f.early_stopping = m->es_monitor[0] ? m->es_monitor : NULL;
    f.reduce_lr_on_plateau = m->rlr_monitor[0] ? m->rlr_monitor : NULL;
    m->fit = f;
    m->fit_given = given;
    m->seed = f.seed;
    return FV_OK;
}

/* ---- one line ------------------------------------------------------------------------------- */

static fv_status add_line(fv_model *m, const char *line, int lineno)
{
    line_tokens *t = malloc(sizeof *t);
    if (!t) return fv__fail(FV_ERR_NOMEM, "out of memory");
    fv_status s = tokenize(line, t);
    if (s == FV_OK && t->kind) {
        const fv_layer_kind *k;
        if (strcmp(t->kind, "input") == 0)
            s = input_line(m, t, lineno);
        else if (strcmp(t->kind, "model") == 0)
            s = model_line(m, t, lineno);
        else if (strcmp(t->kind, "compile") == 0)
            s = compile_tokens(m, t);
        else if (strcmp(t->kind, "fit") == 0)
            s = fit_tokens(m, t);
        else if ((k = fv__layer_kind_find(t->kind)))
            s = layer_line(m, k, t, lineno);
        else {
            char known[2048]; /* every registered kind's name (512 cut the list mid-name) */
            size_t used = 0;
            known[0] = '\0';
            for (int i = 0; fv__layer_kinds[i] && used < sizeof known; i++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s, ",
                                         fv__layer_kinds[i]->name);
            s = fv__fail(FV_ERR_INVALID,
                         "unknown layer or directive '%s' (known: input, %smodel, compile, fit)",
                         t->kind, known);
        }
    }
    free(t);
    return s;
}

fv_status fv_model_add(fv_model *m, const char *line)
{
    if (!m || !line) return fv__fail(FV_ERR_INVALID, "fv_model_add: NULL argument");
    return add_line(m, line, 0);
}

fv_model *fv_model_parse_string(const char *text, const char *origin)
{
    if (!origin) origin = "<model>";
    fv_text t;
    if (fv__text_init(&t, text, text ? strlen(text) : 0, origin) != FV_OK) {
        fv__text_free(&t);
        return NULL;
    }
    fv_model *m = fv_model_new();
    const char *p;
    size_t len;
    char line[MAX_LINE];
    while (m && fv__text_line(&t, &p, &len)) {
        int lineno = (int)t.line;
        if (len >= sizeof line) {
            fv__fail(FV_ERR_INVALID, "%s:%d: line longer than %d characters", origin, lineno,
                     MAX_LINE - 1);
            fv_model_free(m);
            m = NULL;
            break;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        if (add_line(m, line, lineno) != FV_OK) {
            fv__error_prefix("%s:%d: ", origin, lineno);
            fv_model_free(m);
            m = NULL;
        }
    }
    fv__text_free(&t);
    if (m && !m->has_input) {
        fv__fail(FV_ERR_INVALID, "%s: no input line (e.g. input shape=28,28,1)", origin);
        fv_model_free(m);
        return NULL;
    }
    int bad_line;
    if (m && fv__model_graph_check(m, &bad_line) != FV_OK) {
        if (bad_line)
            fv__error_prefix("%s:%d: ", origin, bad_line);
        else
            fv__error_prefix("%s: ", origin);
        fv_model_free(m);
        return NULL;
    }
    return m;
}

fv_model *fv_model_parse_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fv__fail(FV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    enum { MAX_MODEL_FILE = 1 << 20 };
    char *text = malloc(MAX_MODEL_FILE + 1);
    size_t n = text ? fread(text, 1, MAX_MODEL_FILE + 1, f) : 0;
    bool err = ferror(f);
    fclose(f);
    if (!text) {
        fv__fail(FV_ERR_NOMEM, "out of memory reading %s", path);
        return NULL;
    }
    if (err || n > MAX_MODEL_FILE) {
        fv__fail(err ? FV_ERR_IO : FV_ERR_FORMAT, "%s: %s", path,
                 err ? "read error" : "larger than 1 MiB: not a model file");
        free(text);
        return NULL;
    }
    /* The shared text reader refuses NUL bytes and invalid UTF-8 with their line and offset,
     * which the NUL-terminated string below could no longer show. */
    fv_text t;
    fv_status s = fv__text_init(&t, text, n, path);
    free(text);
    fv_model *m = s == FV_OK ? fv_model_parse_string(t.buf, path) : NULL;
    fv__text_free(&t);
    return m;
}

/* ---- typed constructors ---------------------------------------------------------------------- */

static const char *act_name(fv_activation a)
{
    return (a >= FV_ACT_LINEAR && a <= FV_ACT_SOFTMAX) ? fv__activation_names[a] : "?";
}

fv_status fv_model_add_input(fv_model *m, int rank, const int64_t *dims)
{
    if (!m || !dims) return fv__fail(FV_ERR_INVALID, "fv_model_add_input: NULL argument");
    return set_input(m, rank, dims, NULL, 0);
}

fv_status fv_model_add_conv2d(fv_model *m, int64_t filters, int64_t kernel_size, int64_t strides,
                              fv_padding padding, fv_activation activation)
{
    char line[256];
    snprintf(line, sizeof line,
             "conv2d filters=%lld kernel_size=%lld strides=%lld padding=%s activation=%s",
             (long long)filters, (long long)kernel_size, (long long)strides,
             padding == FV_PAD_SAME ? "same" : "valid", act_name(activation));
    return fv_model_add(m, line);
}

fv_status fv_model_add_maxpool2d(fv_model *m, int64_t pool_size)
{
    char line[128];
    snprintf(line, sizeof line, "maxpool2d pool_size=%lld", (long long)pool_size);
    return fv_model_add(m, line);
}

fv_status fv_model_add_dropout(fv_model *m, double rate)
{
    char line[128];
    snprintf(line, sizeof line, "dropout rate=%.17g", rate);
    return fv_model_add(m, line);
}

fv_status fv_model_add_flatten(fv_model *m)
{
    return fv_model_add(m, "flatten");
}

fv_status fv_model_add_dense(fv_model *m, int64_t units, fv_activation activation)
{
    char line[128];
    snprintf(line, sizeof line, "dense units=%lld activation=%s", (long long)units,
             act_name(activation));
    return fv_model_add(m, line);
}

fv_status fv_model_add_activation(fv_model *m, fv_activation activation)
{
    char line[128];
    snprintf(line, sizeof line, "activation activation=%s", act_name(activation));
    return fv_model_add(m, line);
}

/* ---- canonical text -------------------------------------------------------------------------- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static void format_double(char *buf, size_t n, double v)
{
    snprintf(buf, n, "%.17g", v);
    /* The shortest text that reads back the same value (0.001, not 0.0010000000000000000208). */
    for (int prec = 1; prec <= 17; prec++) {
        char t[64];
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v) {
            snprintf(buf, n, "%s", t);
            return;
        }
    }
}

char *fv_model_to_text(const fv_model *m)
{
    strbuf b = {0};
    int next_input = 0, last = 0;
    for (int i = 0; i <= m->nlayers; i++) {
        /* Inputs where their lines stood, so that every line reads only what precedes it. */
        while (next_input < m->ninputs && m->inputs[next_input].before == i) {
            const fv_model_input *in = &m->inputs[next_input];
            sb_printf(&b, "input shape=");
            for (int d = 0; d < in->shape.rank; d++)
                sb_printf(&b, "%s%lld", d ? "," : "", (long long)in->shape.d[d]);
            if (in->named) sb_printf(&b, " name=%s", in->name);
            sb_printf(&b, "\n");
            last = fv__input_node(next_input++);
        }
        if (i == m->nlayers) break;
        const fv_layer *l = &m->layers[i];
        char args[1024];
        fv__args_format(l->kind->args, l->cfg, l->given, args, sizeof args);
        sb_printf(&b, "%s%s%s", l->kind->name, args[0] ? " " : "", args);
        char def[64];
        default_name(m, i, l->kind, def, sizeof def);
        if (strcmp(def, l->name) != 0) sb_printf(&b, " name=%s", l->name);
        if (l->nin != 1 || l->src[0] != last || (m->functional && i == 0)) {
            sb_printf(&b, " inputs=");
            for (int j = 0; j < l->nin; j++)
                sb_printf(&b, "%s%s", j ? "," : "", fv__model_node_name(m, l->src[j]));
        }
        if (!l->trainable) sb_printf(&b, " trainable=false");
        sb_printf(&b, "\n");
        last = i;
    }
    if (m->noutputs) {
        sb_printf(&b, "model outputs=");
        for (int k = 0; k < m->noutputs; k++)
            sb_printf(&b, "%s%s", k ? "," : "", fv__model_node_name(m, m->outputs[k]));
        sb_printf(&b, "\n");
    }
    if (m->compiled) {
        char num[64];
        const fv_optim *o = &m->optim;
        const uint64_t g = m->compile_given;
        sb_printf(&b, "compile loss=");
        for (int k = 0; k < (m->out_named ? m->noutputs : 1); k++)
            sb_printf(&b, "%s%s%s%s", k ? "," : "",
                      m->out_named ? m->layers[m->outputs[k]].name : "", m->out_named ? ":" : "",
                      fv__model_head_loss_name(m, k));
        if (m->weights_named)
            for (int k = 0; k < m->noutputs; k++) {
                format_double(num, sizeof num, m->out_weight[k]);
                sb_printf(&b, "%s%s:%s", k ? "," : " loss_weights=", m->layers[m->outputs[k]].name,
                          num);
            }
        sb_printf(&b, " optimizer=%s", optimizer_names[o->kind]);
        format_double(num, sizeof num, o->learning_rate);
        sb_printf(&b, " learning_rate=%s", num);
        struct {
            int key;
            double v;
        } nums[] = {{CK_BETA_1, o->beta_1},
                    {CK_BETA_2, o->beta_2},
                    {CK_EPSILON, o->epsilon},
                    {CK_MOMENTUM, o->momentum},
                    {CK_WEIGHT_DECAY, o->weight_decay}};
        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
            if (g & CK_BIT(nums[i].key))
                format_double(num, sizeof num, nums[i].v),
                    sb_printf(&b, " %s=%s", compile_keys[nums[i].key], num);
        if (g & CK_BIT(CK_NESTEROV)) sb_printf(&b, " nesterov=%s", o->nesterov ? "true" : "false");
        if (o->schedule != FV_SCHED_NONE) {
            sb_printf(&b, " schedule=%s decay_steps=%lld", schedule_names[o->schedule],
                      (long long)o->decay_steps);
            if (g & CK_BIT(CK_ALPHA))
                format_double(num, sizeof num, o->alpha), sb_printf(&b, " alpha=%s", num);
            if (!isnan(o->warmup_target))
                format_double(num, sizeof num, o->warmup_target),
                    sb_printf(&b, " warmup_target=%s warmup_steps=%lld", num,
                              (long long)o->warmup_steps);
            if (g & CK_BIT(CK_DECAY_RATE))
                format_double(num, sizeof num, o->decay_rate), sb_printf(&b, " decay_rate=%s", num);
            if (g & CK_BIT(CK_STAIRCASE))
                sb_printf(&b, " staircase=%s", o->staircase ? "true" : "false");
        }
        if (m->metrics_text[0]) sb_printf(&b, " metrics=%s", m->metrics_text);
        /* bf16 only, as conv_algorithm below: fp32 is the default, and a run that names it is the
         * same run (a checkpoint resumes with or without it) */
        if (m->bf16) sb_printf(&b, " precision=bf16");
        /* winograd only: direct is the default, and a run that names it is the same run (a
         * checkpoint resumes with or without it) */
        if (m->winograd) sb_printf(&b, " conv_algorithm=winograd");
        sb_printf(&b, "\n");
    }
    if (m->fit_given) {
        char num[64];
        sb_printf(&b, "fit");
        if (m->fit_given & 1) sb_printf(&b, " batch_size=%lld", (long long)m->fit.batch_size);
        if (m->fit_given & 2) sb_printf(&b, " epochs=%lld", (long long)m->fit.epochs);
        if (m->fit_given & 4) sb_printf(&b, " shuffle=%s", m->fit.shuffle ? "true" : "false");
        if (m->fit_given & 8)
            format_double(num, sizeof num, m->fit.validation_split),
                sb_printf(&b, " validation_split=%s", num);
        if (m->fit_given & 16) sb_printf(&b, " seed=%llu", (unsigned long long)m->fit.seed);
        uint64_t g = m->fit_given;
        if (g & FK_BIT(FK_ES)) sb_printf(&b, " early_stopping=%s", m->es_monitor);
        if (g & FK_BIT(FK_PATIENCE)) sb_printf(&b, " patience=%lld", (long long)m->fit.patience);
        if (g & FK_BIT(FK_MIN_DELTA))
            format_double(num, sizeof num, m->fit.min_delta), sb_printf(&b, " min_delta=%s", num);
        if (g & FK_BIT(FK_RESTORE))
            sb_printf(&b, " restore_best_weights=%s",
                      m->fit.restore_best_weights ? "true" : "false");
        if (g & FK_BIT(FK_RLR)) sb_printf(&b, " reduce_lr_on_plateau=%s", m->rlr_monitor);
        if (g & FK_BIT(FK_LR_FACTOR))
            format_double(num, sizeof num, m->fit.lr_factor), sb_printf(&b, " lr_factor=%s", num);
        if (g & FK_BIT(FK_LR_PATIENCE))
            sb_printf(&b, " lr_patience=%lld", (long long)m->fit.lr_patience);
        if (g & FK_BIT(FK_LR_MIN_DELTA))
            format_double(num, sizeof num, m->fit.lr_min_delta),
                sb_printf(&b, " lr_min_delta=%s", num);
        if (g & FK_BIT(FK_LR_COOLDOWN))
            sb_printf(&b, " lr_cooldown=%lld", (long long)m->fit.lr_cooldown);
        if (g & FK_BIT(FK_MIN_LR))
            format_double(num, sizeof num, m->fit.min_lr), sb_printf(&b, " min_lr=%s", num);
        if (g & FK_BIT(FK_TARGET)) sb_printf(&b, " target=%s", m->fit_target);
        if (g & FK_BIT(FK_GAN)) sb_printf(&b, " gan=%s", m->fit_gan);
        sb_printf(&b, "\n");
    }
    if (b.oom || !b.s) {
        free(b.s);
        fv__fail(FV_ERR_NOMEM, "out of memory writing the model text");
        return NULL;
    }
    return b.s;
}
