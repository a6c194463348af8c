/* onnx_export.c — writes a fovea model as an ONNX graph through protobuf-c. One table maps each
 * layer kind to the function that writes its nodes; every tensor carries the layouts it exists in
 * (fovea's, NCHW, or NCHW flattened), so a Transpose is written only where nothing absorbs it.
 */
#include "io/io.h"
#include "io/onnx_internal.h"
#include "layers/layer.h"
#include "model/model_impl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx_export.c writes raw_data in the machine's byte order: little-endian only"
#endif

/* A tensor's layouts. PLAIN is fovea's (N×H×W×C for rank 3, N×units for rank 1); NCHW is
 * ONNX's convolution layout; FLAT is the flatten of an NCHW tensor, (C, H, W) order, which a
 * following dense layer absorbs by reordering its kernel's rows. */
typedef enum lay { LAY_PLAIN, LAY_NCHW, LAY_FLAT, NLAY } lay;
static const char *const lay_suffix[NLAY] = {"nhwc", "nchw", "flat_chw"};

typedef struct tstate {
    const char *name[NLAY]; /* the tensor in each layout; NULL: not made */
    lay prod;               /* the layout its layer wrote it in */
    int64_t fh, fw, fc;     /* LAY_FLAT: the (H, W, C) it was flattened from */
} tstate;

typedef struct ex {
    const fv_model *m;
    const fv_onnx_opts *o;
    void **allocs;
    size_t nallocs, cap_allocs;
    Onnx__NodeProto **nodes;
    size_t nnodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t ninits, cap_inits;
    const char **names; /* every tensor name used, for uniqueness */
    size_t nnames, cap_names;
    tstate *t;     /* per node, indexed by node + ninputs */
    int *alias;    /* per layer: the node its output equals (dropout, linear activation) */
    fv_status err; /* the first failure (its message recorded by fv__fail) */
    const char **node_names; /* node names used (their own namespace) */
    size_t nnode_names, cap_node_names;
    const char *layer_name; /* the layer being written: its first node takes its name */
    bool principal_done;
    int helper; /* > 0 inside get(): layout nodes, named after their output */
} ex;

enum { NO_ALIAS = -1000000 };
enum { MAX_ATTRS = 8 };

/* ---- memory: every allocation is kept and freed at the end ---------------------------------- */

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p) return false;
    *arr = p;
    *cap = c;
    return true;
}

static fv_status oom(void)
{
    return fv__fail(FV_ERR_NOMEM, "ONNX export: out of memory");
}

/* Records the first failure; returns it. A NULL from a helper below has always recorded one. */
static fv_status ex_fail(ex *e)
{
    if (!e->err) e->err = oom();
    return e->err;
}

static void *ex_alloc(ex *e, size_t n)
{
    void *p = NULL;
    if (grow((void **)&e->allocs, &e->cap_allocs, e->nallocs + 1, sizeof(void *)))
        p = calloc(1, n ? n : 1);
    if (p)
        e->allocs[e->nallocs++] = p;
    else
        ex_fail(e);
    return p;
}

static char *ex_strdup(ex *e, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ex_alloc(e, n);
    if (p) memcpy(p, s, n);
    return p;
}

static bool name_used(const ex *e, const char *s)
{
    for (size_t i = 0; i < e->nnames; i++)
        if (strcmp(e->names[i], s) == 0) return true;
    return false;
}

/* A new tensor name "base" or "base/suffix", made unique with "_1", "_2", ... */
static const char *ex_name(ex *e, const char *base, const char *suffix)
{
    char buf[256], alt[280];
    snprintf(buf, sizeof buf, "%s%s%s", base, suffix ? "/" : "", suffix ? suffix : "");
    snprintf(alt, sizeof alt, "%s", buf);
    for (int k = 1; name_used(e, alt); k++)
        snprintf(alt, sizeof alt, "%s_%d", buf, k);
    char *s = ex_strdup(e, alt);
    if (!s) return NULL;
    if (!grow((void **)&e->names, &e->cap_names, e->nnames + 1, sizeof(char *))) {
        ex_fail(e);
        return NULL;
    }
    e->names[e->nnames++] = s;
    return s;
}

/* A node name "base" or "base/suffix", unique among node names. The first node of a layer
 * is named after the layer ("conv2d"), the others "conv2d/Relu", layout changes after their
 * output, so that import gives the layers back their names. */
static char *node_name(ex *e, const char *base, const char *suffix)
{
    char buf[256], alt[280];
    snprintf(buf, sizeof buf, "%s%s%s", base, suffix ? "/" : "", suffix ? suffix : "");
    snprintf(alt, sizeof alt, "%s", buf);
    for (int k = 1;; k++) {
        bool used = false;
        for (size_t i = 0; i < e->nnode_names && !used; i++)
            used = !strcmp(e->node_names[i], alt);
        if (!used) break;
        snprintf(alt, sizeof alt, "%s_%d", buf, k);
    }
    char *r = ex_strdup(e, alt);
    if (!r) return NULL;
    if (!grow((void **)&e->node_names, &e->cap_node_names, e->nnode_names + 1, sizeof(char *))) {
        ex_fail(e);
        return NULL;
    }
    e->node_names[e->nnode_names++] = r;
    return r;
}

/* ---- nodes, attributes, initializers ----------------------------------------------------------
 */

static Onnx__NodeProto *ex_node(ex *e, const char *op, const char *const *in, int nin,
                                const char *out)
{
    if (!out) return NULL;
    if (!grow((void **)&e->nodes, &e->cap_nodes, e->nnodes + 1, sizeof(void *))) {
        ex_fail(e);
        return NULL;
    }
    Onnx__NodeProto *n = ex_alloc(e, sizeof *n);
    char **ins = ex_alloc(e, (size_t)nin * sizeof(char *));
    char **outs = ex_alloc(e, sizeof(char *));
    Onnx__AttributeProto **attrs = ex_alloc(e, MAX_ATTRS * sizeof(void *));
    if (!n || !ins || !outs || !attrs) return NULL;
    onnx__node_proto__init(n);
    for (int i = 0; i < nin; i++) {
        if (!in[i]) return NULL;
        ins[i] = (char *)in[i];
    }
    outs[0] = (char *)out;
    n->n_input = (size_t)nin;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->op_type = (char *)op;
    if (e->helper || !e->layer_name)
        n->name = node_name(e, out, NULL);
    else if (!e->principal_done)
        n->name = node_name(e, e->layer_name, NULL), e->principal_done = true;
    else
        n->name = node_name(e, e->layer_name, op);
    if (!n->name) return NULL;
    n->attribute = attrs;
    e->nodes[e->nnodes++] = n;
    return n;
}

static Onnx__AttributeProto *ex_attr(ex *e, Onnx__NodeProto *n, const char *name,
                                     Onnx__AttributeProto__AttributeType type)
{
    if (!n) return NULL;
    FV_ASSERT(n->n_attribute < MAX_ATTRS);
    Onnx__AttributeProto *a = ex_alloc(e, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static bool attr_i(ex *e, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ex_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return false;
    a->has_i = 1;
    a->i = v;
    return true;
}

static bool attr_f(ex *e, Onnx__NodeProto *n, const char *name, double v)
{
    Onnx__AttributeProto *a = ex_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return false;
    a->has_f = 1;
    a->f = (float)v;
    return true;
}

static bool attr_ints(ex *e, Onnx__NodeProto *n, const char *name, const int64_t *v, int k)
{
    Onnx__AttributeProto *a = ex_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *c = ex_alloc(e, (size_t)k * sizeof *c);
    if (!a || !c) return false;
    memcpy(c, v, (size_t)k * sizeof *c);
    a->n_ints = (size_t)k;
    a->ints = c;
    return true;
}

/* An initializer holding a copy of data (float32 or int64, by dtype). Returns its name. */
static const char *ex_init(ex *e, const char *base, const char *suffix, int dtype, int rank,
                           const int64_t *dims, const void *data)
{
    int64_t count = 1;
    size_t bytes = 0;
    bool ok = true;
    for (int i = 0; i < rank; i++)
        ok = ok && fv__mul_i64(count, dims[i], &count);
    if (!ok || !fv__mul_size((size_t)count, dtype == FV__ONNX_INT64 ? 8 : 4, &bytes)) {
        ex_fail(e);
        return NULL;
    }
    const char *name = ex_name(e, base, suffix);
    Onnx__TensorProto *t = ex_alloc(e, sizeof *t);
    int64_t *d = ex_alloc(e, (size_t)(rank ? rank : 1) * sizeof *d);
    uint8_t *raw = ex_alloc(e, bytes);
    if (!name || !t || !d || !raw) return NULL;
    if (!grow((void **)&e->inits, &e->cap_inits, e->ninits + 1, sizeof(void *))) {
        ex_fail(e);
        return NULL;
    }
    onnx__tensor_proto__init(t);
    if (rank) memcpy(d, dims, (size_t)rank * sizeof *d);
    if (bytes) memcpy(raw, data, bytes);
    t->n_dims = (size_t)rank;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->name = (char *)name;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = raw;
    e->inits[e->ninits++] = t;
    return name;
}

static const char *init_f32(ex *e, const char *base, const char *suffix, int rank,
                            const int64_t *dims, const float *data)
{
    return ex_init(e, base, suffix, FV__ONNX_FLOAT, rank, dims, data);
}

static const char *init_i64(ex *e, const char *base, const char *suffix, int k, const int64_t *v)
{
    const int64_t dims[1] = {k};
    return ex_init(e, base, suffix, FV__ONNX_INT64, 1, dims, v);
}

/* ---- nodes of the graph and their layouts ------------------------------------------------------
 */

static const fv_layer *layer(const ex *e, int i)
{
    return &e->m->layers[i];
}

/* The node a node's value equals (through dropout and linear activations). */
static int resolve(const ex *e, int node)
{
    while (node >= 0 && e->alias[node] != NO_ALIAS)
        node = e->alias[node];
    return node;
}

static tstate *ts(const ex *e, int node)
{
    return &e->t[resolve(e, node) + e->m->ninputs];
}

static const fv_shape *shape_of(const ex *e, int node)
{
    return fv__model_node_shape(e->m, node);
}

/* The layout a graph input or output of this rank has: NCHW for rank 3 with --nchw. */
static lay ext_layout(const ex *e, int rank)
{
    return e->o->nchw && rank == 3 ? LAY_NCHW : LAY_PLAIN;
}

/* A fresh name for node's tensor in layout L: the node's own name in the graph's outside layout,
 * else "NAME/nchw" and the like. */
static const char *name_for(ex *e, int node, lay L)
{
    const char *base = fv__model_node_name(e->m, node);
    return ex_name(e, base, L == ext_layout(e, shape_of(e, node)->rank) ? NULL : lay_suffix[L]);
}

static const char *transpose(ex *e, const char *x, const int64_t perm[4], const char *out)
{
    Onnx__NodeProto *n = ex_node(e, "Transpose", &x, 1, out);
    return n && attr_ints(e, n, "perm", perm, 4) ? out : NULL;
}

static const char *reshape(ex *e, const char *x, const int64_t *shape, int k, const char *base,
                           const char *out)
{
    const char *s = init_i64(e, base, "shape", k, shape);
    const char *in[2] = {x, s};
    return s && ex_node(e, "Reshape", in, 2, out) ? out : NULL;
}

/* The ONNX row of a (C, H, W)-order flatten holding fovea's (H, W, C)-order element j. */
static int64_t flat_row(const tstate *s, int64_t j)
{
    const int64_t c = j % s->fc, hw = j / s->fc;
    return c * s->fh * s->fw + hw;
}

/* Node's tensor in layout L, writing the Transpose (and Reshape) that makes it if needed.
 * NULL on failure (out of memory; a layout the node cannot have is an internal error). */
static const char *get_impl(ex *e, int node, lay L);

static const char *get(ex *e, int node, lay L)
{
    e->helper++;
    const char *r = get_impl(e, node, L);
    e->helper--;
    return r;
}

static const char *get_impl(ex *e, int node, lay L)
{
    node = resolve(e, node);
    tstate *s = ts(e, node);
    if (s->name[L]) return s->name[L];
    const fv_shape *sh = shape_of(e, node);
    const char *base = fv__model_node_name(e->m, node);
    static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
    const char *r = NULL;
    if (sh->rank == 3 && L == LAY_NCHW && s->name[LAY_PLAIN])
        r = transpose(e, s->name[LAY_PLAIN], to_nchw, name_for(e, node, L));
    else if (sh->rank == 3 && L == LAY_PLAIN && s->name[LAY_NCHW])
        r = transpose(e, s->name[LAY_NCHW], to_nhwc, name_for(e, node, L));
    else if (sh->rank == 1 && L == LAY_PLAIN && s->name[LAY_FLAT]) {
        const int64_t chw[4] = {0, s->fc, s->fh, s->fw}, flat[2] = {0, -1};
        const char *a = reshape(e, s->name[LAY_FLAT], chw, 4, base, ex_name(e, base, "chw"));
        const char *b = a ? transpose(e, a, to_nhwc, ex_name(e, base, "hwc")) : NULL;
        r = b ? reshape(e, b, flat, 2, base, name_for(e, node, L)) : NULL;
    } else {
        if (!e->err)
            e->err = fv__fail(FV_ERR_STATE, "ONNX export: %s has no %s form (internal error)", base,
                              lay_suffix[L]);
        return NULL;
    }
    if (!r) return NULL;
    s->name[L] = r;
    return r;
}

/* Records layer i's output as the tensor `name` in layout L. */
static void set_out(ex *e, int i, lay L, const char *name, const tstate *flat)
{
    tstate *s = &e->t[i + e->m->ninputs];
    if (flat) s->fh = flat->fh, s->fw = flat->fw, s->fc = flat->fc;
    s->name[L] = name;
    s->prod = L;
}

/* ---- layer arguments, read from the canonical text ----------------------------------------------
 */

/* The value of argument key of layer l as model text: the given value, else the kind's default
 * (Keras'). NULL when the kind has no such argument. */
static const char *arg(const fv_layer *l, const char *key, char *buf, size_t n)
{
    char text[2048];
    size_t len = fv__args_format(l->kind->args, l->cfg, l->given, text, sizeof text);
    if (len >= sizeof text) return NULL;
    const size_t klen = strlen(key);
    for (char *p = text; *p;) {
        char *end = strchr(p, ' ');
        size_t tl = end ? (size_t)(end - p) : strlen(p);
        if (tl > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            snprintf(buf, n, "%.*s", (int)(tl - klen - 1), p + klen + 1);
            return buf;
        }
        if (!end) break;
        p = end + 1;
    }
    for (const fv_arg_spec *a = l->kind->args; a && a->key; a++)
        if (strcmp(a->key, key) == 0) {
            if (!a->def) return NULL;
            snprintf(buf, n, "%s", a->def);
            return buf;
        }
    return NULL;
}

static bool is_none(const char *v)
{
    return !v || strcmp(v, "None") == 0;
}

static int64_t arg_int(const fv_layer *l, const char *key, int64_t def)
{
    char b[64];
    const char *v = arg(l, key, b, sizeof b);
    return is_none(v) ? def : strtoll(v, NULL, 10);
}

static double arg_double(const fv_layer *l, const char *key, double def)
{
    char b[64];
    const char *v = arg(l, key, b, sizeof b);
    return is_none(v) ? def : strtod(v, NULL);
}

static bool arg_bool(const fv_layer *l, const char *key, bool def)
{
    char b[16];
    const char *v = arg(l, key, b, sizeof b);
    return is_none(v) ? def : strcmp(v, "true") == 0;
}

/* A pair argument ("3" or "3,2"); def when absent or None. */
static void arg_pair(const fv_layer *l, const char *key, const int64_t def[2], int64_t out[2])
{
    char b[64];
    const char *v = arg(l, key, b, sizeof b);
    if (is_none(v)) {
        out[0] = def[0], out[1] = def[1];
        return;
    }
    char *end;
    out[0] = strtoll(v, &end, 10);
    out[1] = *end == ',' ? strtoll(end + 1, NULL, 10) : out[0];
}

/* The weight tensor of l with this suffix, NULL if it has none. */
static const fv_param *param(const fv_layer *l, const char *suffix)
{
    for (int i = 0; i < l->nparams; i++)
        if (strcmp(l->params[i].suffix, suffix) == 0) return &l->params[i];
    return NULL;
}

static fv_status refuse(ex *e, const fv_layer *l, const char *what)
{
    if (!e->err)
        e->err = fv__fail(FV_ERR_INVALID, "layer %s (%s): %s", l->name, l->kind->name, what);
    return e->err;
}

/* ---- activations ------------------------------------------------------------------------------
 */

/* Writes the activation named act (fovea's names) on x into out; alpha for leaky_relu and elu.
 * The softmax axis is the channel axis of layout L. Returns out, or NULL with an error set. */
static const char *emit_act(ex *e, const fv_layer *l, const char *act, double alpha, const char *x,
                            lay L, const char *out)
{
    static const struct {
        const char *name, *op;
    } ops[] = {{"relu", "Relu"}, {"sigmoid", "Sigmoid"},
               {"tanh", "Tanh"}, {"leaky_relu", "LeakyRelu"},
               {"elu", "Elu"},   {"softmax", "Softmax"}};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        if (strcmp(ops[k].name, act) != 0) continue;
        Onnx__NodeProto *n = ex_node(e, ops[k].op, &x, 1, out);
        bool ok = n != NULL;
        if (ok && (!strcmp(act, "leaky_relu") || !strcmp(act, "elu")))
            ok = attr_f(e, n, "alpha", alpha);
        if (ok && !strcmp(act, "softmax")) ok = attr_i(e, n, "axis", L == LAY_NCHW ? 1 : -1);
        if (!ok) ex_fail(e);
        return ok ? out : NULL;
    }
    char what[96];
    snprintf(what, sizeof what, "activation '%s' has no ONNX operator here", act);
    refuse(e, l, what);
    return NULL;
}

/* The alpha fovea gives an activation named as an argument (fv__act_alpha). */
static double act_alpha(const char *act)
{
    for (int k = 0; fv__activation_names[k]; k++)
        if (strcmp(fv__activation_names[k], act) == 0) return fv__act_alpha((fv_activation)k);
    return 0.0;
}

/* The layer's core operator writes into the returned name: the final output when the activation
 * is linear, else an intermediate "NAME/op". */
static const char *core_out(ex *e, int i, const char *act, lay L, const char *op)
{
    return strcmp(act, "linear") == 0 ? name_for(e, i, L) : ex_name(e, layer(e, i)->name, op);
}

/* Finishes a conv2d/dense-like layer: activation (if any) and the output record. */
static fv_status finish_act(ex *e, int i, const char *act, const char *y, lay L, const tstate *flat)
{
    const fv_layer *l = layer(e, i);
    if (strcmp(act, "linear") != 0) {
        y = emit_act(e, l, act, act_alpha(act), y, L, name_for(e, i, L));
        if (!y) return ex_fail(e);
    }
    set_out(e, i, L, y, flat);
    return FV_OK;
}

/* ---- the layer kinds ---------------------------------------------------------------------------
 */

/* Keras' padding of one axis as explicit (begin, end): "same" puts the odd extra at the end. */
static void keras_pads(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, bool same,
                       int64_t *begin, int64_t *end)
{
    int64_t total = same ? (out - 1) * s + d * (k - 1) + 1 - in : 0;
    if (total < 0) total = 0;
    *begin = total / 2;
    *end = total - *begin;
}

/* The window arguments of a convolution-like layer (kernel_size, strides, dilation_rate, each 1
 * when absent), whether its padding is same, and its activation's name (act, 32 bytes); refused
 * as refuse() does without padding or activation. */
static fv_status window_args(ex *e, const fv_layer *l, int64_t ks[2], int64_t st[2], int64_t dil[2],
                             bool *same, char act[32])
{
    static const int64_t one[2] = {1, 1};
    char pad[16];
    arg_pair(l, "kernel_size", one, ks);
    arg_pair(l, "strides", one, st);
    arg_pair(l, "dilation_rate", one, dil);
    if (!arg(l, "padding", pad, sizeof pad) || !arg(l, "activation", act, 32))
        return refuse(e, l, "no padding or activation argument");
    *same = strcmp(pad, "same") == 0;
    return FV_OK;
}

static fv_status emit_conv2d(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    int64_t ks[2], st[2], dil[2];
    char act[32];
    bool same;
    const fv_status ws = window_args(e, l, ks, st, dil, &same, act);
    if (ws != FV_OK) return ws;
    const fv_param *k = param(l, "kernel"), *b = param(l, "bias");
    if (!k || k->rank != 4) return refuse(e, l, "no rank-4 kernel");
    const int64_t kh = k->dims[0], kw = k->dims[1], cin = k->dims[2], cout = k->dims[3];
    float *w = malloc((size_t)k->size * sizeof *w), *bias = calloc((size_t)cout, sizeof *bias);
    if (!w || !bias) {
        free(w);
        free(bias);
        return ex_fail(e);
    }
    /* fovea's (kh, kw, in, out) to ONNX's (out, in, kh, kw) */
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t c = 0; c < cin; c++)
                for (int64_t o = 0; o < cout; o++)
                    w[((o * cin + c) * kh + y) * kw + x] =
                        k->w[((y * kw + x) * cin + c) * cout + o];
    if (b) memcpy(bias, b->w, (size_t)cout * sizeof *bias);
    /* No bias input without use_bias, so that import gives back the same weights. */
    const int64_t wd[4] = {cout, cin, kh, kw}, bd[1] = {cout};
    const char *in[3] = {get(e, l->src[0], LAY_NCHW), init_f32(e, l->name, "kernel", 4, wd, w),
                         b ? init_f32(e, l->name, "bias", 1, bd, bias) : ""};
    free(w);
    free(bias);
    if (!in[0] || !in[1] || !in[2]) return ex_fail(e);
    int64_t pads[4];
    keras_pads(l->in[0].d[0], l->out.d[0], ks[0], st[0], dil[0], same, &pads[0], &pads[2]);
    keras_pads(l->in[0].d[1], l->out.d[1], ks[1], st[1], dil[1], same, &pads[1], &pads[3]);
    const char *y = core_out(e, i, act, LAY_NCHW, "Conv");
    Onnx__NodeProto *n = ex_node(e, "Conv", in, b ? 3 : 2, y);
    if (!n || !attr_ints(e, n, "kernel_shape", ks, 2) || !attr_ints(e, n, "strides", st, 2) ||
        !attr_ints(e, n, "dilations", dil, 2) || !attr_ints(e, n, "pads", pads, 4) ||
        !attr_i(e, n, "group", 1))
        return ex_fail(e);
    return finish_act(e, i, act, y, LAY_NCHW, NULL);
}

/* MaxPool and AveragePool share Keras' pool_size, strides and padding; AveragePool leaves the
 * padded positions out of the count, as Keras' same padding does. */
static fv_status emit_pool2d(ex *e, int i, const char *op)
{
    const fv_layer *l = layer(e, i);
    static const int64_t two[2] = {2, 2};
    int64_t ps[2], st[2];
    char pad[16];
    arg_pair(l, "pool_size", two, ps);
    arg_pair(l, "strides", ps, st);
    if (!arg(l, "padding", pad, sizeof pad)) return refuse(e, l, "no padding argument");
    const bool same = strcmp(pad, "same") == 0;
    int64_t pads[4];
    keras_pads(l->in[0].d[0], l->out.d[0], ps[0], st[0], 1, same, &pads[0], &pads[2]);
    keras_pads(l->in[0].d[1], l->out.d[1], ps[1], st[1], 1, same, &pads[1], &pads[3]);
    const char *x = get(e, l->src[0], LAY_NCHW);
    const char *y = name_for(e, i, LAY_NCHW);
    const bool avg = strcmp(op, "AveragePool") == 0;
    Onnx__NodeProto *n = x ? ex_node(e, op, &x, 1, y) : NULL;
    if (!n || !attr_ints(e, n, "kernel_shape", ps, 2) || !attr_ints(e, n, "strides", st, 2) ||
        !attr_ints(e, n, "pads", pads, 4) || (avg && !attr_i(e, n, "count_include_pad", 0)))
        return ex_fail(e);
    set_out(e, i, LAY_NCHW, y, NULL);
    return FV_OK;
}

static fv_status emit_maxpool2d(ex *e, int i)
{
    return emit_pool2d(e, i, "MaxPool");
}

static fv_status emit_average_pooling2d(ex *e, int i)
{
    return emit_pool2d(e, i, "AveragePool");
}

/* Dropout is the identity at inference: the layer's output is its input. */
static fv_status emit_identity(ex *e, int i)
{
    e->alias[i] = layer(e, i)->src[0];
    return FV_OK;
}

static fv_status emit_flatten(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    const fv_shape *in = &l->in[0];
    if (in->rank == 1) return emit_identity(e, i);
    const tstate *s = ts(e, l->src[0]);
    const bool chw = in->rank == 3 && s->prod == LAY_NCHW;
    /* When H·W or C is 1, the (C, H, W) and (H, W, C) orders are the same. */
    const bool same_order = in->rank == 3 && (in->d[0] * in->d[1] == 1 || in->d[2] == 1);
    const lay L = chw && !same_order ? LAY_FLAT : LAY_PLAIN;
    const char *x = get(e, l->src[0], chw ? LAY_NCHW : LAY_PLAIN);
    const char *y = name_for(e, i, L);
    Onnx__NodeProto *n = x ? ex_node(e, "Flatten", &x, 1, y) : NULL;
    if (!n || !attr_i(e, n, "axis", 1)) return ex_fail(e);
    tstate f = {0};
    if (L == LAY_FLAT) f.fh = in->d[0], f.fw = in->d[1], f.fc = in->d[2];
    set_out(e, i, L, y, L == LAY_FLAT ? &f : NULL);
    return FV_OK;
}

static fv_status emit_dense(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    char act[32];
    if (!arg(l, "activation", act, sizeof act)) return refuse(e, l, "no activation argument");
    const fv_param *k = param(l, "kernel"), *b = param(l, "bias");
    if (!k || k->rank != 2 || l->in[0].rank != 1) return refuse(e, l, "needs a rank-1 input");
    const int64_t nin = k->dims[0], units = k->dims[1];
    const tstate *s = ts(e, l->src[0]);
    const bool flat = s->name[LAY_FLAT] != NULL;
    float *w = malloc((size_t)k->size * sizeof *w), *bias = calloc((size_t)units, sizeof *bias);
    if (!w || !bias) {
        free(w);
        free(bias);
        return ex_fail(e);
    }
    /* B[o][row] with transB=1; a (C, H, W)-order input takes fovea's rows reordered. */
    for (int64_t j = 0; j < nin; j++) {
        const int64_t row = flat ? flat_row(s, j) : j;
        for (int64_t o = 0; o < units; o++)
            w[o * nin + row] = k->w[j * units + o];
    }
    if (b) memcpy(bias, b->w, (size_t)units * sizeof *bias);
    const int64_t wd[2] = {units, nin}, bd[1] = {units};
    const char *in[3] = {get(e, l->src[0], flat ? LAY_FLAT : LAY_PLAIN),
                         init_f32(e, l->name, "kernel", 2, wd, w),
                         b ? init_f32(e, l->name, "bias", 1, bd, bias) : ""};
    free(w);
    free(bias);
    if (!in[0] || !in[1] || !in[2]) return ex_fail(e);
    const char *y = core_out(e, i, act, LAY_PLAIN, "Gemm");
    Onnx__NodeProto *n = ex_node(e, "Gemm", in, b ? 3 : 2, y);
    if (!n || !attr_i(e, n, "transB", 1)) return ex_fail(e);
    return finish_act(e, i, act, y, LAY_PLAIN, NULL);
}

/* An element-wise activation layer keeps its input's layout. */
static fv_status emit_act_layer(ex *e, int i, const char *act, double alpha)
{
    const fv_layer *l = layer(e, i);
    if (strcmp(act, "linear") == 0) return emit_identity(e, i);
    const tstate *s = ts(e, l->src[0]);
    tstate f = *s;
    const lay L = s->prod;
    const char *x = get(e, l->src[0], L);
    if (!x) return ex_fail(e);
    const char *y = emit_act(e, l, act, alpha, x, L, name_for(e, i, L));
    if (!y) return ex_fail(e);
    set_out(e, i, L, y, L == LAY_FLAT ? &f : NULL);
    return FV_OK;
}

static fv_status emit_activation(ex *e, int i)
{
    char act[32];
    if (!arg(layer(e, i), "activation", act, sizeof act))
        return refuse(e, layer(e, i), "no activation argument");
    return emit_act_layer(e, i, act, act_alpha(act));
}

static fv_status emit_sigmoid(ex *e, int i)
{
    return emit_act_layer(e, i, "sigmoid", 0);
}

static fv_status emit_tanh(ex *e, int i)
{
    return emit_act_layer(e, i, "tanh", 0);
}

static fv_status emit_softmax(ex *e, int i)
{
    return emit_act_layer(e, i, "softmax", 0);
}

static fv_status emit_leaky_relu(ex *e, int i)
{
    return emit_act_layer(e, i, "leaky_relu", arg_double(layer(e, i), "negative_slope", 0.3));
}

static fv_status emit_elu(ex *e, int i)
{
    return emit_act_layer(e, i, "elu", arg_double(layer(e, i), "alpha", 1.0));
}

/* ReLU, with Keras' max_value, negative_slope and threshold where the kind has them. */
static fv_status emit_relu(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    const double slope = arg_double(l, "negative_slope", 0.0);
    const double thr = arg_double(l, "threshold", 0.0);
    char b[64];
    const char *mv = arg(l, "max_value", b, sizeof b);
    if (thr != 0.0) return refuse(e, l, "threshold other than 0 has no ONNX operator here");
    if (is_none(mv)) return emit_act_layer(e, i, slope != 0.0 ? "leaky_relu" : "relu", slope);
    if (slope != 0.0)
        return refuse(e, l, "max_value with negative_slope has no ONNX operator here");
    /* Clip(x, 0, max_value) */
    const tstate *s = ts(e, l->src[0]);
    tstate f = *s;
    const lay L = s->prod;
    const float lo = 0.0f, hi = (float)strtod(mv, NULL);
    const char *in[3] = {get(e, l->src[0], L), init_f32(e, l->name, "min", 0, NULL, &lo),
                         init_f32(e, l->name, "max", 0, NULL, &hi)};
    const char *y = name_for(e, i, L);
    if (!in[0] || !in[1] || !in[2] || !ex_node(e, "Clip", in, 3, y)) return ex_fail(e);
    set_out(e, i, L, y, L == LAY_FLAT ? &f : NULL);
    return FV_OK;
}

/* Maxout: groups of consecutive channels, each giving its maximum: Reshape to (N, units, k, rest)
 * or (N, rest, units, k), ReduceMax over k keeping the axis, Reshape to the output. OpenCV 4.6
 * loses track of shapes through 5-D tensors and through ReduceMax without keepdims when the
 * batch is dynamic; this form it runs. */
static fv_status emit_maxout(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    const int64_t units = arg_int(l, "units", 1);
    const fv_shape *in = &l->in[0];
    const int64_t ch = in->d[in->rank - 1], k = ch / units;
    int64_t rest = 1;
    for (int d = 0; d < in->rank - 1; d++)
        rest *= in->d[d];
    const bool nchw = in->rank == 3 && ts(e, l->src[0])->prod == LAY_NCHW;
    const lay L = nchw ? LAY_NCHW : LAY_PLAIN;
    const int64_t grp_c[4] = {0, units, k, rest}, grp_l[4] = {0, rest, units, k};
    const int64_t axis = nchw ? 2 : 3;
    int64_t out[5] = {0};
    int r = 1;
    if (nchw) {
        out[r++] = units, out[r++] = in->d[0], out[r++] = in->d[1];
    } else {
        for (int d = 0; d < in->rank - 1; d++)
            out[r++] = in->d[d];
        out[r++] = units;
    }
    const char *x = get(e, l->src[0], L);
    const char *g =
        x ? reshape(e, x, nchw ? grp_c : grp_l, 4, l->name, ex_name(e, l->name, "groups")) : NULL;
    const char *mx = ex_name(e, l->name, "max");
    Onnx__NodeProto *n = g ? ex_node(e, "ReduceMax", &g, 1, mx) : NULL;
    if (!n || !attr_ints(e, n, "axes", &axis, 1) || !attr_i(e, n, "keepdims", 1)) return ex_fail(e);
    const char *y = reshape(e, mx, out, r, l->name, name_for(e, i, L));
    if (!y) return ex_fail(e);
    set_out(e, i, L, y, NULL);
    return FV_OK;
}

/* The layout several inputs are brought to: NCHW for rank 3 when one of them has it, the flatten
 * layout when all are flattens of one geometry (element-wise merges only), else fovea's. */
static lay merge_layout(const ex *e, const fv_layer *l, bool elementwise, tstate *flat)
{
    const int rank = l->in[0].rank;
    if (rank == 3) {
        for (int k = 0; k < l->nin; k++)
            if (ts(e, l->src[k])->prod == LAY_NCHW) return LAY_NCHW;
        return LAY_PLAIN;
    }
    if (rank != 1 || !elementwise) return LAY_PLAIN;
    const tstate *a = ts(e, l->src[0]);
    for (int k = 0; k < l->nin; k++) {
        const tstate *b = ts(e, l->src[k]);
        if (!b->name[LAY_FLAT] || b->fh != a->fh || b->fw != a->fw || b->fc != a->fc)
            return LAY_PLAIN;
    }
    *flat = *a;
    for (int k = 0; k < NLAY; k++)
        flat->name[k] = NULL;
    return LAY_FLAT;
}

/* An element-wise merge: op2 for two inputs, opn (variadic) or a chain of op2 for more; scale
 * (average's 1/k, as fovea computes it: the sum times 1/k) as a Mul by a scalar when not 1. */
static fv_status emit_merge(ex *e, int i, const char *op2, const char *opn, float scale)
{
    const fv_layer *l = layer(e, i);
    tstate f = {0};
    const lay L = merge_layout(e, l, true, &f);
    const char *in[FV_MAX_INPUTS];
    for (int k = 0; k < l->nin; k++)
        if (!(in[k] = get(e, l->src[k], L))) return ex_fail(e);
    const char *y = name_for(e, i, L);
    const char *m = scale != 1.0f ? ex_name(e, l->name, "sum") : y;
    if (l->nin == 2 || opn) {
        if (!ex_node(e, l->nin == 2 ? op2 : opn, in, l->nin, m)) return ex_fail(e);
    } else { /* a chain of binary operators, in input order */
        const char *acc = in[0];
        for (int k = 1; k < l->nin; k++) {
            const char *pair[2] = {acc, in[k]};
            const char *o = k == l->nin - 1 ? m : ex_name(e, l->name, op2);
            if (!ex_node(e, op2, pair, 2, o)) return ex_fail(e);
            acc = o;
        }
    }
    if (scale != 1.0f) {
        const char *mul[2] = {m, init_f32(e, l->name, "scale", 0, NULL, &scale)};
        if (!mul[1] || !ex_node(e, "Mul", mul, 2, y)) return ex_fail(e);
    }
    set_out(e, i, L, y, L == LAY_FLAT ? &f : NULL);
    return FV_OK;
}

static fv_status emit_add(ex *e, int i)
{
    return emit_merge(e, i, "Add", "Sum", 1.0f);
}

static fv_status emit_subtract(ex *e, int i)
{
    return emit_merge(e, i, "Sub", NULL, 1.0f);
}

static fv_status emit_multiply(ex *e, int i)
{
    return emit_merge(e, i, "Mul", NULL, 1.0f);
}

/* Average as Sum and Mul rather than ONNX's Mean, which OpenCV 4.6 cannot run. */
static fv_status emit_average(ex *e, int i)
{
    return emit_merge(e, i, "Add", "Sum", 1.0f / (float)layer(e, i)->nin);
}

static fv_status emit_maximum(ex *e, int i)
{
    return emit_merge(e, i, "Max", "Max", 1.0f);
}

static fv_status emit_concatenate(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    const int rank = l->in[0].rank;
    int64_t a = arg_int(l, "axis", -1);
    a = (a < 0 ? a + rank + 1 : a) - 1; /* the axis within a sample */
    tstate f;
    const lay L = merge_layout(e, l, false, &f);
    static const int64_t nchw_axis[3] = {2, 3, 1};
    const int64_t axis = L == LAY_NCHW ? nchw_axis[a] : a + 1;
    const char *in[FV_MAX_INPUTS];
    for (int k = 0; k < l->nin; k++)
        if (!(in[k] = get(e, l->src[k], L))) return ex_fail(e);
    const char *y = name_for(e, i, L);
    Onnx__NodeProto *n = ex_node(e, "Concat", in, l->nin, y);
    if (!n || !attr_i(e, n, "axis", axis)) return ex_fail(e);
    set_out(e, i, L, y, NULL);
    return FV_OK;
}

static fv_status emit_batch_normalization(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    const int rank = l->in[0].rank;
    if (rank != 1 && rank != 3)
        return refuse(e, l,
                      "ONNX's BatchNormalization takes channels on axis 1: only rank-1 and "
                      "rank-3 inputs are exported");
    const tstate *s = ts(e, l->src[0]);
    const lay L = rank == 3 ? LAY_NCHW : s->name[LAY_FLAT] ? LAY_FLAT : LAY_PLAIN;
    tstate f = *s;
    const int64_t c = l->in[0].d[rank - 1];
    static const char *const names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    static const float defaults[4] = {1, 0, 0, 1};
    const char *in[5] = {get(e, l->src[0], L)};
    float *v = malloc((size_t)c * sizeof *v);
    if (!v) return ex_fail(e);
    for (int k = 0; k < 4; k++) {
        const fv_param *p = param(l, names[k]);
        for (int64_t j = 0; j < c; j++) {
            const float x = p ? p->w[j] : defaults[k];
            v[L == LAY_FLAT ? flat_row(s, j) : j] = x;
        }
        in[k + 1] = init_f32(e, l->name, names[k], 1, &c, v);
    }
    free(v);
    const char *y = name_for(e, i, L);
    for (int k = 0; k < 5; k++)
        if (!in[k]) return ex_fail(e);
    Onnx__NodeProto *n = ex_node(e, "BatchNormalization", in, 5, y);
    /* momentum: ONNX's moving = moving·momentum + batch·(1 − momentum) is Keras' */
    if (!n || !attr_f(e, n, "epsilon", arg_double(l, "epsilon", 0.001)) ||
        !attr_f(e, n, "momentum", arg_double(l, "momentum", 0.99)))
        return ex_fail(e);
    set_out(e, i, L, y, L == LAY_FLAT ? &f : NULL);
    return FV_OK;
}

static fv_status emit_global_pool(ex *e, int i, const char *op)
{
    const fv_layer *l = layer(e, i);
    const bool keep = arg_bool(l, "keepdims", false);
    const char *x = get(e, l->src[0], LAY_NCHW);
    if (!x) return ex_fail(e);
    const char *p = keep ? name_for(e, i, LAY_NCHW) : ex_name(e, l->name, op);
    if (!ex_node(e, op, &x, 1, p)) return ex_fail(e);
    if (keep) {
        set_out(e, i, LAY_NCHW, p, NULL);
        return FV_OK;
    }
    const char *y = name_for(e, i, LAY_PLAIN);
    Onnx__NodeProto *n = ex_node(e, "Flatten", &p, 1, y);
    if (!n || !attr_i(e, n, "axis", 1)) return ex_fail(e);
    set_out(e, i, LAY_PLAIN, y, NULL);
    return FV_OK;
}

static fv_status emit_gap(ex *e, int i)
{
    return emit_global_pool(e, i, "GlobalAveragePool");
}

static fv_status emit_gmp(ex *e, int i)
{
    return emit_global_pool(e, i, "GlobalMaxPool");
}

/* An ints argument (1 to 4 values) into v; returns the count (0: absent). */
static int arg_ints(const fv_layer *l, const char *key, int64_t v[4])
{
    char b[128];
    const char *t = arg(l, key, b, sizeof b);
    int n = 0;
    while (t && *t && n < 4) {
        char *end;
        v[n++] = strtoll(t, &end, 10);
        t = *end == ',' ? end + 1 : end;
        if (!*end) break;
    }
    return n;
}

/* Keras' padding/cropping forms: N, (H, W) or (top, bottom, left, right). */
static void edges(const int64_t *v, int n, int64_t e[4])
{
    if (n == 4)
        e[0] = v[0], e[1] = v[1], e[2] = v[2], e[3] = v[3];
    else if (n == 2)
        e[0] = e[1] = v[0], e[2] = e[3] = v[1];
    else
        e[0] = e[1] = e[2] = e[3] = n ? v[0] : 0;
}

static fv_status emit_zero_padding2d(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    int64_t v[4], g[4];
    edges(v, arg_ints(l, "padding", v), g);
    /* (N, C, top, left) begins, (N, C, bottom, right) ends */
    const int64_t pads[8] = {0, 0, g[0], g[2], 0, 0, g[1], g[3]};
    const char *in[2] = {get(e, l->src[0], LAY_NCHW), init_i64(e, l->name, "pads", 8, pads)};
    const char *y = name_for(e, i, LAY_NCHW);
    if (!in[0] || !in[1] || !ex_node(e, "Pad", in, 2, y)) return ex_fail(e);
    set_out(e, i, LAY_NCHW, y, NULL);
    return FV_OK;
}

static fv_status emit_cropping2d(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    int64_t v[4], g[4];
    edges(v, arg_ints(l, "cropping", v), g);
    const int64_t starts[2] = {g[0], g[2]}, ends[2] = {l->in[0].d[0] - g[1], l->in[0].d[1] - g[3]},
                  axes[2] = {2, 3};
    const char *in[4] = {get(e, l->src[0], LAY_NCHW), init_i64(e, l->name, "starts", 2, starts),
                         init_i64(e, l->name, "ends", 2, ends),
                         init_i64(e, l->name, "axes", 2, axes)};
    const char *y = name_for(e, i, LAY_NCHW);
    if (!in[0] || !in[1] || !in[2] || !in[3] || !ex_node(e, "Slice", in, 4, y)) return ex_fail(e);
    set_out(e, i, LAY_NCHW, y, NULL);
    return FV_OK;
}

/* Resize with Keras 3's coordinates: nearest repeats rows and columns (asymmetric, floor);
 * bilinear samples at half-pixel centres. */
static fv_status emit_upsampling2d(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    static const int64_t two[2] = {2, 2};
    int64_t sz[2];
    char interp[16];
    arg_pair(l, "size", two, sz);
    if (!arg(l, "interpolation", interp, sizeof interp)) return refuse(e, l, "no interpolation");
    const bool nearest = strcmp(interp, "nearest") == 0;
    const float scales[4] = {1, 1, (float)sz[0], (float)sz[1]};
    const int64_t four = 4;
    const char *in[3] = {get(e, l->src[0], LAY_NCHW), "",
                         init_f32(e, l->name, "scales", 1, &four, scales)};
    const char *y = name_for(e, i, LAY_NCHW);
    Onnx__NodeProto *n = in[0] && in[2] ? ex_node(e, "Resize", in, 3, y) : NULL;
    if (!n) return ex_fail(e);
    Onnx__AttributeProto *mode =
        ex_attr(e, n, "mode", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    Onnx__AttributeProto *ctm = ex_attr(e, n, "coordinate_transformation_mode",
                                        ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (!mode || !ctm) return ex_fail(e);
    const char *m = nearest ? "nearest" : "linear", *c = nearest ? "asymmetric" : "half_pixel";
    mode->has_s = 1, mode->s.data = (uint8_t *)m, mode->s.len = strlen(m);
    ctm->has_s = 1, ctm->s.data = (uint8_t *)c, ctm->s.len = strlen(c);
    if (nearest) {
        Onnx__AttributeProto *nm =
            ex_attr(e, n, "nearest_mode", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
        if (!nm) return ex_fail(e);
        nm->has_s = 1, nm->s.data = (uint8_t *)"floor", nm->s.len = 5;
    }
    set_out(e, i, LAY_NCHW, y, NULL);
    return FV_OK;
}

/* Reshape keeps fovea's channels-last order: the input in fovea's layout, the batch kept. */
static fv_status emit_reshape(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    int64_t shape[5] = {0};
    for (int d = 0; d < l->out.rank; d++)
        shape[d + 1] = l->out.d[d];
    const char *x = get(e, l->src[0], LAY_PLAIN);
    const char *y =
        x ? reshape(e, x, shape, l->out.rank + 1, l->name, name_for(e, i, LAY_PLAIN)) : NULL;
    if (!y) return ex_fail(e);
    set_out(e, i, LAY_PLAIN, y, NULL);
    return FV_OK;
}

/* DepthwiseConv2D: Conv with one group per input channel, weights (C·M, 1, kh, kw) from
 * fovea's (kh, kw, C, M) (output channel c·M + m, as Keras orders them). SeparableConv2D: that,
 * without bias, then a 1×1 Conv from the pointwise kernel (1, 1, C·M, F) with the bias. */
static fv_status emit_depthwise(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    int64_t ks[2], st[2], dil[2];
    char act[32];
    bool same;
    const fv_status ws = window_args(e, l, ks, st, dil, &same, act);
    if (ws != FV_OK) return ws;
    const fv_param *k = param(l, "depthwise_kernel"), *pw = param(l, "pointwise_kernel"),
                   *b = param(l, "bias");
    if (!k || k->rank != 4) return refuse(e, l, "no rank-4 depthwise kernel");
    const int64_t kh = k->dims[0], kw = k->dims[1], C = k->dims[2], M = k->dims[3];
    float *w = malloc((size_t)k->size * sizeof *w);
    if (!w) return ex_fail(e);
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t m = 0; m < M; m++)
                    w[((c * M + m) * kh + y) * kw + x] = k->w[((y * kw + x) * C + c) * M + m];
    const int64_t wd[4] = {C * M, 1, kh, kw};
    const char *kn = init_f32(e, l->name, "depthwise_kernel", 4, wd, w);
    free(w);
    const fv_param *db = pw ? NULL : b; /* depthwise_conv2d's bias; separable's goes last */
    const int64_t bd[1] = {db ? db->dims[0] : 0};
    const char *in[3] = {get(e, l->src[0], LAY_NCHW), kn,
                         db ? init_f32(e, l->name, "bias", 1, bd, db->w) : ""};
    if (!in[0] || !in[1] || !in[2]) return ex_fail(e);
    int64_t pads[4];
    keras_pads(l->in[0].d[0], l->out.d[0], ks[0], st[0], dil[0], same, &pads[0], &pads[2]);
    keras_pads(l->in[0].d[1], l->out.d[1], ks[1], st[1], dil[1], same, &pads[1], &pads[3]);
    const char *y = pw ? ex_name(e, l->name, "depthwise") : core_out(e, i, act, LAY_NCHW, "Conv");
    Onnx__NodeProto *n = ex_node(e, "Conv", in, db ? 3 : 2, y);
    if (!n || !attr_ints(e, n, "kernel_shape", ks, 2) || !attr_ints(e, n, "strides", st, 2) ||
        !attr_ints(e, n, "dilations", dil, 2) || !attr_ints(e, n, "pads", pads, 4) ||
        !attr_i(e, n, "group", C))
        return ex_fail(e);
    if (pw) {
        const int64_t F = pw->dims[3], CM = pw->dims[2];
        float *p = malloc((size_t)pw->size * sizeof *p);
        if (!p) return ex_fail(e);
        for (int64_t c = 0; c < CM; c++)
            for (int64_t f = 0; f < F; f++)
                p[f * CM + c] = pw->w[c * F + f];
        const int64_t pd[4] = {F, CM, 1, 1}, fb[1] = {F};
        const char *pin[3] = {y, init_f32(e, l->name, "pointwise_kernel", 4, pd, p),
                              b ? init_f32(e, l->name, "bias", 1, fb, b->w) : ""};
        free(p);
        if (!pin[1] || !pin[2]) return ex_fail(e);
        y = core_out(e, i, act, LAY_NCHW, "Conv");
        n = ex_node(e, "Conv", pin, b ? 3 : 2, y);
        static const int64_t pointwise[2] = {1, 1};
        if (!n || !attr_ints(e, n, "kernel_shape", pointwise, 2)) return ex_fail(e);
    }
    return finish_act(e, i, act, y, LAY_NCHW, NULL);
}

/* Conv2DTranspose: ConvTranspose with fovea's (kh, kw, filters, in) kernel as (in, filters, kh,
 * kw). Output position o = i·stride − lead + k·dilation in both; the lead is the top/left pad of
 * the convolution whose adjoint the layer is (Keras' same or none), and the end pads (or
 * output_padding, when negative) give fovea's output size exactly. */
static fv_status emit_conv2d_transpose(ex *e, int i)
{
    const fv_layer *l = layer(e, i);
    int64_t ks[2], st[2], dil[2];
    char act[32];
    bool same;
    const fv_status ws = window_args(e, l, ks, st, dil, &same, act);
    if (ws != FV_OK) return ws;
    const fv_param *k = param(l, "kernel"), *b = param(l, "bias");
    if (!k || k->rank != 4) return refuse(e, l, "no rank-4 kernel");
    const int64_t kh = k->dims[0], kw = k->dims[1], F = k->dims[2], C = k->dims[3];
    /* Symmetric pads (the lead on both sides: OpenCV 4.6 refuses asymmetric ones), then the
     * size fixed at the end: output_padding where rows are missing, a Slice where there are
     * too many. */
    int64_t pads[4], opad[2], cut[2];
    for (int a = 0; a < 2; a++) {
        const int64_t in = l->in[0].d[a], out = l->out.d[a], kk = a ? kw : kh;
        int64_t lead, unused;
        keras_pads(out, in, kk, st[a], dil[a], same, &lead, &unused);
        const int64_t size = st[a] * (in - 1) + dil[a] * (kk - 1) + 1 - 2 * lead;
        pads[a] = pads[a + 2] = lead;
        opad[a] = size < out ? out - size : 0;
        cut[a] = size > out ? size - out : 0;
        if (opad[a] >= st[a] && opad[a] >= dil[a])
            return refuse(e, l, "its geometry needs an output_padding ONNX does not allow");
    }
    float *w = malloc((size_t)k->size * sizeof *w);
    if (!w) return ex_fail(e);
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t f = 0; f < F; f++)
                for (int64_t c = 0; c < C; c++)
                    w[((c * F + f) * kh + y) * kw + x] = k->w[((y * kw + x) * F + f) * C + c];
    const int64_t wd[4] = {C, F, kh, kw}, bd[1] = {F};
    const char *in[3] = {get(e, l->src[0], LAY_NCHW), init_f32(e, l->name, "kernel", 4, wd, w),
                         b ? init_f32(e, l->name, "bias", 1, bd, b->w) : ""};
    free(w);
    if (!in[0] || !in[1] || !in[2]) return ex_fail(e);
    const bool crop = cut[0] || cut[1];
    const char *y =
        crop ? ex_name(e, l->name, "full") : core_out(e, i, act, LAY_NCHW, "ConvTranspose");
    Onnx__NodeProto *n = ex_node(e, "ConvTranspose", in, b ? 3 : 2, y);
    if (!n || !attr_ints(e, n, "kernel_shape", ks, 2) || !attr_ints(e, n, "strides", st, 2) ||
        !attr_ints(e, n, "dilations", dil, 2) || !attr_ints(e, n, "pads", pads, 4) ||
        ((opad[0] || opad[1]) && !attr_ints(e, n, "output_padding", opad, 2)))
        return ex_fail(e);
    if (crop) {
        const int64_t starts[2] = {0, 0}, ends[2] = {l->out.d[0], l->out.d[1]}, axes[2] = {2, 3};
        const char *sl[4] = {y, init_i64(e, l->name, "starts", 2, starts),
                             init_i64(e, l->name, "ends", 2, ends),
                             init_i64(e, l->name, "axes", 2, axes)};
        y = core_out(e, i, act, LAY_NCHW, "Slice");
        if (!sl[1] || !sl[2] || !sl[3] || !ex_node(e, "Slice", sl, 4, y)) return ex_fail(e);
    }
    return finish_act(e, i, act, y, LAY_NCHW, NULL);
}

/* The mapping: one entry per layer kind (fovea's model-file name). */
static const struct {
    const char *kind;
    fv_status (*emit)(ex *e, int i);
} kinds[] = {
    {"conv2d", emit_conv2d},
    {"maxpool2d", emit_maxpool2d},
    {"dropout", emit_identity},
    {"gaussian_noise", emit_identity},
    {"flatten", emit_flatten},
    {"dense", emit_dense},
    {"activation", emit_activation},
    {"relu", emit_relu},
    {"sigmoid", emit_sigmoid},
    {"tanh", emit_tanh},
    {"leaky_relu", emit_leaky_relu},
    {"elu", emit_elu},
    {"softmax", emit_softmax},
    {"maxout", emit_maxout},
    {"add", emit_add},
    {"subtract", emit_subtract},
    {"multiply", emit_multiply},
    {"average", emit_average},
    {"maximum", emit_maximum},
    {"concatenate", emit_concatenate},
    {"batch_normalization", emit_batch_normalization},
    {"global_average_pooling2d", emit_gap},
    {"global_max_pooling2d", emit_gmp},
    {"zero_padding2d", emit_zero_padding2d},
    {"cropping2d", emit_cropping2d},
    {"average_pooling2d", emit_average_pooling2d},
    {"upsampling2d", emit_upsampling2d},
    {"reshape", emit_reshape},
    {"depthwise_conv2d", emit_depthwise},
    {"separable_conv2d", emit_depthwise},
    {"conv2d_transpose", emit_conv2d_transpose},
    /* The random preprocessing layers are the identity at inference (random_crop is not). */
    {"random_flip", emit_identity},
    {"random_translation", emit_identity},
    {"random_rotation", emit_identity},
    {"random_zoom", emit_identity},
    {"random_contrast", emit_identity},
    {"random_brightness", emit_identity},
};

/* ---- the model ----------------------------------------------------------------------------------
 */

static Onnx__ValueInfoProto *value_info(ex *e, const char *name, const fv_shape *sh, lay L)
{
    Onnx__ValueInfoProto *v = ex_alloc(e, sizeof *v);
    Onnx__TypeProto *tp = ex_alloc(e, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ex_alloc(e, sizeof *tt);
    Onnx__TensorShapeProto *sp = ex_alloc(e, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dims = ex_alloc(e, 5 * sizeof(void *));
    if (!v || !tp || !tt || !sp || !dims) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    int64_t d[5];
    int r = 0;
    d[r++] = e->o->batch;
    if (L == LAY_NCHW) {
        d[r++] = sh->d[2], d[r++] = sh->d[0], d[r++] = sh->d[1];
    } else {
        for (int k = 0; k < sh->rank; k++)
            d[r++] = sh->d[k];
    }
    for (int k = 0; k < r; k++) {
        Onnx__TensorShapeProto__Dimension *x = ex_alloc(e, sizeof *x);
        if (!x) return NULL;
        onnx__tensor_shape_proto__dimension__init(x);
        if (k == 0 && e->o->batch == 0) {
            x->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            x->dim_param = "N";
        } else {
            x->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            x->dim_value = d[k];
        }
        dims[k] = x;
    }
    sp->n_dim = (size_t)r;
    sp->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = FV__ONNX_FLOAT;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = (char *)name;
    v->type = tp;
    return v;
}

/* The IR version of the ONNX release that introduced each opset (13: 1.8, 15: 1.10, 17: 1.12). */
static int64_t ir_version(int opset)
{
    return opset <= 14 ? 7 : 8;
}

/* Builds the graph into e; the caller packs it. */
static fv_status build_graph(ex *e, Onnx__GraphProto *g)
{
    const fv_model *m = e->m;
    Onnx__ValueInfoProto **gin = ex_alloc(e, (size_t)(m->ninputs + 1) * sizeof(void *));
    if (!gin) return ex_fail(e);
    for (int k = 0; k < m->ninputs; k++) {
        const fv_shape *sh = &m->inputs[k].shape;
        const lay L = ext_layout(e, sh->rank);
        tstate *s = &e->t[k];
        s->name[L] = ex_name(e, m->inputs[k].name, NULL);
        s->prod = L;
        if (!s->name[L] || !(gin[k] = value_info(e, s->name[L], sh, L))) return ex_fail(e);
    }
    for (int i = 0; i < m->nlayers; i++) {
        const fv_layer *l = layer(e, i);
        fv_status st = FV_ERR_INVALID;
        bool found = false;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            if (strcmp(kinds[k].kind, l->kind->name) == 0) {
                found = true;
                e->layer_name = l->name;
                e->principal_done = false;
                st = kinds[k].emit(e, i);
                e->layer_name = NULL;
                break;
            }
        if (!found) return refuse(e, l, "this layer kind has no ONNX export yet");
        if (st) return st;
    }
    int outs[FV_MAX_OUTPUTS], nout = m->noutputs;
    if (nout)
        memcpy(outs, m->outputs, (size_t)nout * sizeof *outs);
    else
        outs[0] = fv__model_output_node(m), nout = 1;
    Onnx__ValueInfoProto **gout = ex_alloc(e, (size_t)nout * sizeof(void *));
    if (!gout) return ex_fail(e);
    for (int k = 0; k < nout; k++) {
        const fv_shape *sh = shape_of(e, outs[k]);
        const lay L = ext_layout(e, sh->rank);
        const char *want = fv__model_node_name(m, outs[k]);
        const char *x = get(e, outs[k], L);
        if (!x) return ex_fail(e);
        if (strcmp(x, want) != 0) { /* a dropout or linear activation at the end, or an input */
            const char *y = ex_name(e, want, NULL);
            if (!y || !ex_node(e, "Identity", &x, 1, y)) return ex_fail(e);
            x = y;
        }
        if (!(gout[k] = value_info(e, x, sh, L))) return ex_fail(e);
    }
    g->name = "fovea";
    g->n_node = e->nnodes;
    g->node = e->nodes;
    g->n_initializer = e->ninits;
    g->initializer = e->inits;
    g->n_input = (size_t)m->ninputs;
    g->input = gin;
    g->n_output = (size_t)nout;
    g->output = gout;
    return FV_OK;
}

/* The class names as a JSON array of strings (as fovea's safetensors metadata holds them):
 * opts' comma-separated list, else the model's own (fv_model_class_name), else none. *json NULL
 * when there are none; malloc'd otherwise. */
static fv_status class_names_json(const fv_model *m, const char *path, const char *list,
                                  char **json)
{
    *json = NULL;
    const int64_t have = fv_model_class_count(m);
    if (!list && have == 0) return FV_OK;
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return oom();
    int64_t n = 0;
    bool ok = true;
    if (list) {
        for (const char *p = list;; n++) {
            const char *end = strchr(p, ',');
            const size_t len = end ? (size_t)(end - p) : strlen(p);
            char *one = malloc(len + 1);
            cJSON *item = NULL;
            if (one) {
                memcpy(one, p, len);
                one[len] = '\0';
                item = cJSON_CreateString(one);
                free(one);
            }
            ok = ok && item && cJSON_AddItemToArray(arr, item);
            if (!end) break;
            p = end + 1;
        }
        n++;
    } else {
        for (; n < have; n++) {
            cJSON *item = cJSON_CreateString(fv_model_class_name(m, n));
            ok = ok && item && cJSON_AddItemToArray(arr, item);
        }
    }
    const int out = fv__model_output_node(m);
    const fv_shape *sh = fv__model_node_shape(m, out);
    fv_status st = FV_OK;
    if (!ok)
        st = oom();
    else if (sh->rank != 1)
        st = fv__fail(FV_ERR_INVALID,
                      "%s: class names need an output of rank 1 (one unit per class); %s has "
                      "rank %d",
                      path, fv__model_node_name(m, out), sh->rank);
    else if (sh->d[0] != n)
        st = fv__fail(FV_ERR_INVALID, "%s: %lld class names for the %lld units of %s", path,
                      (long long)n, (long long)sh->d[0], fv__model_node_name(m, out));
    else if (!(*json = cJSON_PrintUnformatted(arr)))
        st = oom();
    cJSON_Delete(arr);
    return st;
}

fv_status fv__onnx_export(const fv_model *m, const char *path, const fv_onnx_opts *opts)
{
    if (!m->weights || m->nlayers == 0)
        return fv__fail(FV_ERR_STATE, "%s: the model has %s: export a trained or loaded model",
                        path, m->nlayers ? "no weights yet" : "no layers");
    char *names = NULL;
    fv_status cs = class_names_json(m, path, opts->class_names, &names);
    if (cs) return cs;
    ex e = {.m = m, .o = opts};
    fv_status st = FV_OK;
    uint8_t *buf = NULL;
    char *text = NULL;
    e.t = calloc((size_t)(m->ninputs + m->nlayers), sizeof *e.t);
    e.alias = malloc((size_t)m->nlayers * sizeof *e.alias);
    if (!e.t || !e.alias) {
        st = oom();
        goto done;
    }
    for (int i = 0; i < m->nlayers; i++)
        e.alias[i] = NO_ALIAS;

    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    if ((st = build_graph(&e, &graph))) goto done;

    Onnx__OperatorSetIdProto opset;
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = 1;
    opset.version = opts->opset;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};

    text = fv_model_to_text(m);
    if (!text) {
        st = oom();
        goto done;
    }
    Onnx__StringStringEntryProto meta[3];
    Onnx__StringStringEntryProto *metas[3] = {&meta[0], &meta[1], &meta[2]};
    for (int k = 0; k < 3; k++)
        onnx__string_string_entry_proto__init(&meta[k]);
    meta[0].key = "fovea.model";
    meta[0].value = text;
    meta[1].key = "fovea.layout";
    meta[1].value = opts->nchw ? "NCHW" : "NHWC";
    meta[2].key = "fovea.class_names";
    meta[2].value = names;

    Onnx__ModelProto model;
    onnx__model_proto__init(&model);
    model.has_ir_version = 1;
    model.ir_version = ir_version(opts->opset);
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = "fovea";
    model.producer_version = FV_VERSION;
    model.graph = &graph;
    model.n_metadata_props = names ? 3 : 2;
    model.metadata_props = metas;

    const size_t len = onnx__model_proto__get_packed_size(&model);
    if (len > (size_t)INT32_MAX) {
        st = fv__fail(FV_ERR_INVALID,
                      "%s: the model takes %zu bytes; protobuf files stop at 2 GiB and external "
                      "data is not written",
                      path, len);
        goto done;
    }
    buf = malloc(len ? len : 1);
    if (!buf) {
        st = oom();
        goto done;
    }
    if (onnx__model_proto__pack(&model, buf) != len) {
        st = fv__fail(FV_ERR_STATE, "%s: protobuf-c packed an unexpected size", path);
        goto done;
    }
    fv_afile a;
    if ((st = fv__afile_open(&a, path))) goto done;
    if (fwrite(buf, 1, len, a.f) != len) {
        fv__afile_abort(&a);
        st = fv__fail(FV_ERR_IO, "%s: cannot write", path);
        goto done;
    }
    st = fv__afile_commit(&a);

done:
    for (size_t k = 0; k < e.nallocs; k++)
        free(e.allocs[k]);
    free(e.allocs);
    free(e.nodes);
    free(e.inits);
    free(e.names);
    free(e.node_names);
    free(e.t);
    free(e.alias);
    free(buf);
    free(text);
    free(names);
    return st;
}
