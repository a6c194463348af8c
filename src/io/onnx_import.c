/* onnx_import.c — reads an ONNX file into a fovea model: a bounded pre-pass over the protobuf
 * wire format (size, nesting depth, message count) before protobuf-c unpacks it, then a check of
 * the graph (defined names, tensor sizes) and one table entry per ONNX operator that writes the
 * model text and converts the weights once into fovea's channels-last layout.
 */
#include "io/io.h"
#include "io/onnx_internal.h"
#include "kernels/kernels.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx_import.c reads raw_data in the machine's byte order: little-endian only"
#endif

/* ---- the pre-pass: protobuf-c recurses without a limit and allocates per message ------------- */

enum { PB_MAX_DEPTH = 24, PB_MAX_MESSAGES = 1 << 20 };

typedef enum pbmsg {
    PB_LEAF,
    PB_MODEL,
    PB_GRAPH,
    PB_NODE,
    PB_ATTR,
    PB_VALUEINFO,
    PB_TYPE,
    PB_TTENSOR,
    PB_SHAPE,
    PB_TYPE1,
    PB_TYPE2,
    PB_TRAINING,
    PB_FUNCTION,
    PB_SPARSE,
    PB_TENSOR
} pbmsg;

/* The message type of field f of a message of type t (onnx.proto's field numbers), PB_LEAF for a
 * message that holds no further messages, -1 for a field that is not a message. */
static int pb_child(pbmsg t, uint64_t f)
{
    switch (t) {
    case PB_MODEL:
        return f == 7                ? PB_GRAPH
               : f == 20             ? PB_TRAINING
               : f == 25             ? PB_FUNCTION
               : (f == 8 || f == 14) ? PB_LEAF
                                     : -1;
    case PB_GRAPH:
        return f == 1                            ? PB_NODE
               : f == 5                          ? PB_TENSOR
               : f == 15                         ? PB_SPARSE
               : (f == 11 || f == 12 || f == 13) ? PB_VALUEINFO
               : f == 14                         ? PB_LEAF
                                                 : -1;
    case PB_NODE:
        return f == 5 ? PB_ATTR : -1;
    case PB_ATTR:
        return (f == 5 || f == 10)    ? PB_TENSOR
               : (f == 6 || f == 11)  ? PB_GRAPH
               : (f == 22 || f == 23) ? PB_SPARSE
               : (f == 14 || f == 15) ? PB_TYPE
                                      : -1;
    case PB_VALUEINFO:
        return f == 2 ? PB_TYPE : -1;
    case PB_TYPE:
        return (f == 1 || f == 8)   ? PB_TTENSOR
               : (f == 4 || f == 9) ? PB_TYPE1
               : f == 5             ? PB_TYPE2
                                    : -1;
    case PB_TTENSOR:
        return f == 2 ? PB_SHAPE : -1;
    case PB_SHAPE:
        return f == 1 ? PB_LEAF : -1;
    case PB_TYPE1:
        return f == 1 ? PB_TYPE : -1; /* Sequence, Optional: elem_type */
    case PB_TYPE2:
        return f == 2 ? PB_TYPE : -1; /* Map: value_type */
    case PB_TRAINING:
        return (f == 1 || f == 2) ? PB_GRAPH : (f == 3 || f == 4) ? PB_LEAF : -1;
    case PB_FUNCTION:
        return f == 7 ? PB_NODE : f == 9 ? PB_LEAF : -1;
    case PB_SPARSE:
        return (f == 1 || f == 2) ? PB_TENSOR : -1;
    case PB_TENSOR:
        return (f == 3 || f == 13) ? PB_LEAF : -1;
    case PB_LEAF:
        return -1;
    }
    return -1;
}

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end) return false;
        const uint8_t b = *(*p)++;
        if (shift == 63 && b > 1) return false;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

typedef struct pbwalk {
    const uint8_t *base;
    const char *origin;
    int64_t messages;
} pbwalk;

static fv_status pb_bad(const pbwalk *w, const uint8_t *at, const char *what)
{
    return fv__fail(FV_ERR_FORMAT, "%s: byte %lld: %s", w->origin, (long long)(at - w->base), what);
}

/* Walks the fields of one message of type t in [p, end). */
static fv_status pb_walk(pbwalk *w, pbmsg t, const uint8_t *p, const uint8_t *end, int depth)
{
    if (depth > PB_MAX_DEPTH)
        return pb_bad(w, p, "messages nested deeper than 24 levels (an ONNX model needs about 8)");
    if (++w->messages > PB_MAX_MESSAGES)
        return pb_bad(w, p, "more than 1048576 messages: not a model fovea reads");
    while (p < end) {
        const uint8_t *at = p;
        uint64_t key, len;
        if (!pb_varint(&p, end, &key)) return pb_bad(w, at, "truncated or malformed field key");
        const uint64_t field = key >> 3;
        if (field == 0) return pb_bad(w, at, "field number 0");
        switch (key & 7) {
        case 0:
            if (!pb_varint(&p, end, &len)) return pb_bad(w, at, "truncated varint");
            break;
        case 1:
            if (end - p < 8) return pb_bad(w, at, "truncated 64-bit field");
            p += 8;
            break;
        case 5:
            if (end - p < 4) return pb_bad(w, at, "truncated 32-bit field");
            p += 4;
            break;
        case 2: {
            if (!pb_varint(&p, end, &len) || len > (uint64_t)(end - p))
                return pb_bad(w, at, "a length that runs past the end of its message (truncated?)");
            const int child = pb_child(t, field);
            if (child >= 0) {
                fv_status s = pb_walk(w, (pbmsg)child, p, p + len, depth + 1);
                if (s) return s;
            }
            p += len;
            break;
        }
        default:
            return pb_bad(w, at, "wire type 3, 4, 6 or 7 (groups or garbage)");
        }
    }
    return FV_OK;
}

/* ---- the import state ---------------------------------------------------------------------- */

/* How an ONNX tensor relates to the fovea tensor it stands for: the same values in the same
 * order (PLAIN: N×units, or N×H×W×C from a channels-last graph), the NCHW view of fovea's NHWC
 * tensor, or the (C, H, W)-order flatten of fovea's (H, W, C)-order flatten. */
typedef enum view { V_PLAIN, V_NCHW, V_FLAT } view;

typedef struct tval {
    const char *name;              /* the ONNX name */
    const Onnx__TensorProto *init; /* an initializer, or NULL: a value with a fovea node */
    char node[64];                 /* the fovea node (input or layer name) */
    view v;
    fv_shape shape;     /* fovea's sample shape */
    int64_t fh, fw, fc; /* V_FLAT: the (H, W, C) it is the flatten of */
    /* A shape computation (Shape, Gather, Unsqueeze, Concat of int64 values): its values, with
     * SYM_BATCH for the batch size; sym_scalar: a rank-0 value; sym_rows > 0: a matrix of that
     * many rows (PyTorch's pads computation), 0: a vector. */
    bool sym, sym_scalar;
    int nsym, sym_rows;
    int64_t symv[8];
} tval;

#define SYM_BATCH INT64_MIN

typedef struct pending {
    char tensor[96]; /* "layer.kernel" */
    int64_t count;
    float *data;
} pending;

typedef struct im {
    const char *origin;
    const Onnx__ModelProto *mp;
    const Onnx__GraphProto *g;
    int64_t opset;
    const fv_onnx_import_opts *o;
    tval *t;
    size_t nt, cap_t;
    pending *w;
    size_t nw, cap_w;
    char *text;
    size_t tlen, tcap;
    int nlayers;
    const Onnx__NodeProto *node; /* the node being converted, for messages */
    bool *skip;                  /* per node: taken by an earlier node's pattern */
    /* The conv2d or dense layer of the last model line, which an activation that follows may
     * join as its activation= (fusable_len: the text's length right after that line). */
    char fusable[64];
    size_t fusable_len;
    int64_t batch; /* the graph input's fixed batch size, 0 if free */
} im;

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap * 2 : 32;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p) return false;
    *arr = p;
    *cap = c;
    return true;
}

static fv_status nomem(const im *s)
{
    return fv__fail(FV_ERR_NOMEM, "%s: out of memory", s->origin);
}

/* A refusal naming the node being converted, its operator and what is wrong. */
static fv_status bad(const im *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static fv_status bad(const im *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->node)
        return fv__fail(FV_ERR_INVALID, "%s: node '%s' (%s): %s", s->origin,
                        s->node->name && *s->node->name ? s->node->name
                        : s->node->n_output             ? s->node->output[0]
                                                        : "?",
                        s->node->op_type ? s->node->op_type : "?", msg);
    return fv__fail(FV_ERR_INVALID, "%s: %s", s->origin, msg);
}

static fv_status emit(im *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static fv_status emit(im *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) return bad(s, "a model line longer than 1024 bytes");
    if (!grow((void **)&s->text, &s->tcap, s->tlen + (size_t)n + 2, 1)) return nomem(s);
    memcpy(s->text + s->tlen, line, (size_t)n);
    s->tlen += (size_t)n;
    s->text[s->tlen++] = '\n';
    s->text[s->tlen] = '\0';
    return FV_OK;
}

static tval *find(const im *s, const char *name)
{
    if (!name) return NULL;
    for (size_t i = s->nt; i-- > 0;)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

static tval *add_t(im *s, const char *name)
{
    if (!grow((void **)&s->t, &s->cap_t, s->nt + 1, sizeof *s->t)) return NULL;
    tval *t = &s->t[s->nt++];
    memset(t, 0, sizeof *t);
    t->name = name;
    return t;
}

/* A fovea name from an ONNX one: letters, digits, '_' and '-' ("/conv1/Conv_output_0" gives
 * "conv1_Conv_output_0"), unique among the names given so far. */
static void fovea_name(const im *s, const char *onnx, const char *fallback, char out[64])
{
    char b[48];
    size_t n = 0;
    for (const char *p = onnx; *p && n < sizeof b - 1; p++) {
        const char c = *p;
        const bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!okc && (n == 0 || b[n - 1] == '_')) continue;
        b[n++] = okc ? c : '_';
    }
    while (n && b[n - 1] == '_')
        n--;
    b[n] = '\0';
    if (n == 0 || (b[0] >= '0' && b[0] <= '9')) snprintf(b, sizeof b, "%s", fallback);
    snprintf(out, 64, "%s", b);
    for (int k = 1;; k++) {
        bool used = false;
        for (size_t i = 0; i < s->nt && !used; i++)
            used = !s->t[i].init && strcmp(s->t[i].node, out) == 0;
        if (!used) return;
        snprintf(out, 64, "%s_%d", b, k);
    }
}

/* ---- attributes and initializers ------------------------------------------------------------- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_i ? a->i : def;
}

static double attr_f(const Onnx__NodeProto *n, const char *name, double def)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_f ? a->f : def;
}

/* An INTS attribute of exactly k values into out (def when absent); false if it has another count.
 */
static bool attr_ints(const Onnx__NodeProto *n, const char *name, int k, const int64_t *def,
                      int64_t *out)
{
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a) {
        memcpy(out, def, (size_t)k * sizeof *out);
        return true;
    }
    if (a->n_ints != (size_t)k) return false;
    memcpy(out, a->ints, (size_t)k * sizeof *out);
    return true;
}

static const char *attr_s(const Onnx__NodeProto *n, const char *name, char *buf, size_t size)
{
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a || !a->has_s) return NULL;
    snprintf(buf, size, "%.*s", (int)(a->s.len < size ? a->s.len : size - 1),
             (const char *)a->s.data);
    return buf;
}

static int64_t tensor_count(const Onnx__TensorProto *t)
{
    int64_t c = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        if (t->dims[i] < 0 || !fv__mul_i64(c, t->dims[i], &c)) return -1;
    return c;
}

/* Checks an initializer: float32 (or int64), stored in the file, with as many values as its dims
 * say. */
static fv_status check_init(const im *s, const Onnx__TensorProto *t)
{
    const char *name = t->name ? t->name : "?";
    if (t->n_external_data ||
        (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return fv__fail(FV_ERR_INVALID,
                        "%s: initializer '%s' keeps its data in an external file, which fovea "
                        "does not read (save the model with its weights inside)",
                        s->origin, name);
    if (t->n_dims > 8)
        return fv__fail(FV_ERR_FORMAT, "%s: initializer '%s' has %zu dims (at most 8)", s->origin,
                        name, t->n_dims);
    const int64_t c = tensor_count(t);
    if (c < 0 || c > ((int64_t)1 << 31))
        return fv__fail(FV_ERR_FORMAT,
                        "%s: initializer '%s': its dims give a negative or too large element "
                        "count (more than 2^31)",
                        s->origin, name);
    const int dt = t->has_data_type ? t->data_type : 0;
    if (dt != FV__ONNX_FLOAT && dt != FV__ONNX_INT64)
        return fv__fail(FV_ERR_INVALID,
                        "%s: initializer '%s' has data type %d; fovea reads float32 (1) and "
                        "int64 (7)",
                        s->origin, name, dt);
    const size_t esize = dt == FV__ONNX_FLOAT ? 4 : 8;
    const size_t have = t->has_raw_data        ? t->raw_data.len
                        : dt == FV__ONNX_FLOAT ? t->n_float_data * 4
                                               : t->n_int64_data * 8;
    if (have != (size_t)c * esize)
        return fv__fail(FV_ERR_FORMAT,
                        "%s: initializer '%s': dims give %lld values (%zu bytes) but it holds %zu "
                        "bytes",
                        s->origin, name, (long long)c, (size_t)c * esize, have);
    return FV_OK;
}

static const float *init_f32(const Onnx__TensorProto *t)
{
    return t->has_raw_data ? (const float *)t->raw_data.data : t->float_data;
}

/* A float32 initializer of the given rank among node input k, or NULL with an error. */
static const Onnx__TensorProto *weight(im *s, const Onnx__NodeProto *n, size_t k, int rank,
                                       const char *what)
{
    if (k >= n->n_input || !n->input[k] || !*n->input[k]) {
        bad(s, "no %s (input %zu)", what, k);
        return NULL;
    }
    const tval *v = find(s, n->input[k]);
    if (!v || !v->init) {
        bad(s, "its %s '%s' is computed, not a constant initializer", what, n->input[k]);
        return NULL;
    }
    if ((int)v->init->n_dims != rank || v->init->data_type != FV__ONNX_FLOAT) {
        bad(s, "its %s '%s' is not a float32 tensor of rank %d", what, n->input[k], rank);
        return NULL;
    }
    return v->init;
}

/* The value tensor of node input k (computed by an earlier node or a graph input). */
static tval *value(im *s, const Onnx__NodeProto *n, size_t k)
{
    if (k >= n->n_input || !n->input[k] || !*n->input[k]) {
        bad(s, "input %zu is missing", k);
        return NULL;
    }
    tval *v = find(s, n->input[k]);
    if (!v) {
        bad(s,
            "reads '%s', which no earlier node, graph input or initializer defines (a "
            "dangling name or a cycle)",
            n->input[k]);
        return NULL;
    }
    if (v->init || v->sym) {
        bad(s, "input %zu '%s' is a constant; fovea's layers take computed tensors there", k,
            n->input[k]);
        return NULL;
    }
    return v;
}

/* Records node output 0 as a new fovea layer's output; its name is chosen here. */
static tval *out_layer(im *s, const Onnx__NodeProto *n, const char *kind, view v,
                       const fv_shape *shape)
{
    if (n->n_output < 1 || !n->output[0] || !*n->output[0]) {
        bad(s, "has no output");
        return NULL;
    }
    if (find(s, n->output[0])) {
        bad(s, "its output '%s' is already defined (names must be assigned once)", n->output[0]);
        return NULL;
    }
    char name[64];
    char fb[32];
    snprintf(fb, sizeof fb, "%s_%d", kind, s->nlayers);
    fovea_name(s, n->name && *n->name ? n->name : n->output[0], fb, name);
    tval *t = add_t(s, n->output[0]);
    if (!t) {
        nomem(s);
        return NULL;
    }
    snprintf(t->node, sizeof t->node, "%s", name);
    t->v = v;
    t->shape = *shape;
    s->nlayers++;
    return t;
}

/* Node output 0 is the same fovea tensor as x, seen as view v. */
static fv_status out_alias(im *s, const Onnx__NodeProto *n, const tval *x, view v)
{
    if (n->n_output < 1 || !n->output[0] || !*n->output[0]) return bad(s, "has no output");
    if (find(s, n->output[0]))
        return bad(s, "its output '%s' is already defined (names must be assigned once)",
                   n->output[0]);
    tval copy = *x;
    tval *t = add_t(s, n->output[0]);
    if (!t) return nomem(s);
    *t = copy;
    t->name = n->output[0];
    t->v = v;
    return FV_OK;
}

static fv_status add_weight(im *s, const char *layer, const char *suffix, float *data,
                            int64_t count)
{
    if (!grow((void **)&s->w, &s->cap_w, s->nw + 1, sizeof *s->w)) {
        free(data);
        return nomem(s);
    }
    pending *p = &s->w[s->nw++];
    snprintf(p->tensor, sizeof p->tensor, "%s.%s", layer, suffix);
    p->count = count;
    p->data = data;
    return FV_OK;
}

static fv_status copy_weight(im *s, const char *layer, const char *suffix, const float *src,
                             int64_t count)
{
    float *d = malloc((size_t)(count ? count : 1) * sizeof *d);
    if (!d) return nomem(s);
    memcpy(d, src, (size_t)count * sizeof *d);
    return add_weight(s, layer, suffix, d, count);
}

/* The ONNX position, in a (C, H, W)-order flatten, of fovea's (H, W, C)-order element j. */
static int64_t hwc_to_chw(const tval *t, int64_t j)
{
    return (j % t->fc) * t->fh * t->fw + j / t->fc;
}

/* ---- padding --------------------------------------------------------------------------------- */

/* Keras' same padding of one axis: (begin, end). */
static void same_pads(int64_t in, int64_t k, int64_t st, int64_t d, int64_t *b, int64_t *e)
{
    const int64_t out = (in + st - 1) / st;
    int64_t total = (out - 1) * st + d * (k - 1) + 1 - in;
    if (total < 0) total = 0;
    *b = total / 2;
    *e = total - *b;
}

/* Decides the padding of a Conv or MaxPool on an h×w input: writes "valid" or "same" into pad and
 * the output size; refuses pads that neither gives. */
static fv_status window_padding(im *s, const Onnx__NodeProto *n, const int64_t in0[2],
                                const int64_t k[2], const int64_t st[2], const int64_t d[2],
                                bool ceil_mode, const char **pad, int64_t out[2], int64_t *zp)
{
    int64_t in[2] = {in0[0], in0[1]};
    static const int64_t zeros[4] = {0};
    int64_t p[4];
    char ap[32] = "NOTSET";
    attr_s(n, "auto_pad", ap, sizeof ap);
    if (!attr_ints(n, "pads", 4, zeros, p)) return bad(s, "pads must have 4 values");
    int64_t sp[4];
    same_pads(in[0], k[0], st[0], d[0], &sp[0], &sp[2]);
    same_pads(in[1], k[1], st[1], d[1], &sp[1], &sp[3]);
    bool same;
    if (strcmp(ap, "SAME_UPPER") == 0)
        same = true;
    else if (strcmp(ap, "VALID") == 0)
        same = false;
    else if (strcmp(ap, "NOTSET") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
        if (strcmp(ap, "SAME_LOWER") == 0) /* the odd pad at the start: same only when even */
            p[0] = sp[2], p[2] = sp[0], p[1] = sp[3], p[3] = sp[1];
        const bool zero = !p[0] && !p[1] && !p[2] && !p[3];
        same = !zero && p[0] == sp[0] && p[1] == sp[1] && p[2] == sp[2] && p[3] == sp[3];
        if (!zero && !same && zp) {
            /* explicit zeros before a valid window (Keras' ZeroPadding2D, then the layer) */
            for (int a = 0; a < 4; a++)
                if (p[a] < 0 || p[a] > (1 << 20)) return bad(s, "pads must be 0 to 2^20");
            zp[0] = p[0], zp[1] = p[2], zp[2] = p[1], zp[3] = p[3];
            in[0] += p[0] + p[2], in[1] += p[1] + p[3];
        } else if (!zero && !same)
            return bad(s,
                       "pads=[%lld,%lld,%lld,%lld] on a %lldx%lld input are neither none nor "
                       "Keras' same padding ([%lld,%lld,%lld,%lld]), and padding with zeros "
                       "would change a max pooling",
                       (long long)p[0], (long long)p[1], (long long)p[2], (long long)p[3],
                       (long long)in[0], (long long)in[1], (long long)sp[0], (long long)sp[1],
                       (long long)sp[2], (long long)sp[3]);
    } else
        return bad(s, "auto_pad=%s is not an ONNX value", ap);
    for (int a = 0; a < 2; a++) {
        const int64_t span = d[a] * (k[a] - 1) + 1;
        if (same) {
            out[a] = (in[a] + st[a] - 1) / st[a];
        } else {
            if (in[a] < span)
                return bad(s, "a window of %lld does not fit the input's %lld", (long long)span,
                           (long long)in[a]);
            out[a] = (in[a] - span) / st[a] + 1;
            if (ceil_mode && (in[a] - span) % st[a] != 0)
                return bad(s, "ceil_mode=1 adds a partial window here, which Keras' pooling "
                              "does not have");
        }
    }
    *pad = same ? "same" : "valid";
    return FV_OK;
}

/* Reserves a fovea name for a layer that node n writes before the one its output names (a
 * zero_padding2d before a convolution, a conv2d_transpose before its crop): the node's name and
 * suffix. The layer's output is an NCHW image of the given shape. */
static fv_status inner_layer(im *s, const Onnx__NodeProto *n, const char *suffix, const char *kind,
                             const fv_shape *shape, char name[64])
{
    char base[80];
    if (n->n_output < 1 || !n->output[0] || !*n->output[0]) return bad(s, "has no output");
    snprintf(base, sizeof base, "%s%s", n->name && *n->name ? n->name : n->output[0], suffix);
    fovea_name(s, base, kind, name);
    tval *t = add_t(s, "\001inner"); /* reserves the name; no ONNX tensor is called that */
    if (!t) return nomem(s);
    snprintf(t->node, sizeof t->node, "%s", name);
    t->shape = *shape;
    t->v = V_NCHW;
    s->nlayers++;
    return FV_OK;
}

/* Writes a zero_padding2d layer (top, bottom, left, right) on fovea node src before a layer
 * whose ONNX pads Keras' same cannot express; src then names it, and shape grows. */
static fv_status zero_pad_layer(im *s, const Onnx__NodeProto *n, const int64_t zp[4], char src[64],
                                fv_shape *shape)
{
    if (!zp[0] && !zp[1] && !zp[2] && !zp[3]) return FV_OK;
    char name[64];
    shape->d[0] += zp[0] + zp[1];
    shape->d[1] += zp[2] + zp[3];
    fv_status r = inner_layer(s, n, "_pad", "zero_padding2d", shape, name);
    if (r) return r;
    r = emit(s, "zero_padding2d name=%s inputs=%s padding=%lld,%lld,%lld,%lld", name, src,
             (long long)zp[0], (long long)zp[1], (long long)zp[2], (long long)zp[3]);
    snprintf(src, 64, "%s", name);
    return r;
}

/* ---- the operators --------------------------------------------------------------------------- */

/* The kernel of layer from an ONNX (A, B, kh, kw) weight, as fovea's (kh, kw, B, A) (Conv: A the
 * filters, B the input channels; ConvTranspose: A the input channels, B the filters), and its
 * bias (as many values as the layer's filters) when bias is not NULL. */
static fv_status add_kernel(im *s, const char *layer, const Onnx__TensorProto *W,
                            const Onnx__TensorProto *bias)
{
    const int64_t A = W->dims[0], Bn = W->dims[1], kh = W->dims[2], kw = W->dims[3];
    const int64_t count = A * Bn * kh * kw;
    float *kf = malloc((size_t)(count ? count : 1) * sizeof *kf);
    if (!kf) return nomem(s);
    const float *w = init_f32(W);
    for (int64_t i = 0; i < A; i++)
        for (int64_t j = 0; j < Bn; j++)
            for (int64_t a = 0; a < kh; a++)
                for (int64_t b = 0; b < kw; b++)
                    kf[((a * kw + b) * Bn + j) * A + i] = w[((i * Bn + j) * kh + a) * kw + b];
    fv_status r = add_weight(s, layer, "kernel", kf, count);
    if (r || !bias) return r;
    return copy_weight(s, layer, "bias", init_f32(bias), bias->dims[0]);
}

static int readers(const im *s, const char *name, size_t *only);

/* The 1x1 Conv (group 1, strides, dilations 1, no pads) that is the only reader of depthwise
 * Conv n's output, with constant weight (F, cm, 1, 1) and bias: with n a separable_conv2d.
 * NULL (and no error) when there is none. */
static const Onnx__NodeProto *pointwise(im *s, const Onnx__NodeProto *n, int64_t cm, size_t *at,
                                        const Onnx__TensorProto **W, const Onnx__TensorProto **B)
{
    size_t r;
    if (n->n_output != 1 || readers(s, n->output[0], &r) != 1) return NULL;
    const Onnx__NodeProto *m = s->g->node[r];
    if (!m->op_type || strcmp(m->op_type, "Conv") || m->n_input < 2 || m->n_input > 3 ||
        m->n_output != 1 || !m->input[0] || strcmp(m->input[0], n->output[0]))
        return NULL;
    const tval *w = find(s, m->input[1]);
    const tval *b = m->n_input > 2 && m->input[2] && *m->input[2] ? find(s, m->input[2]) : NULL;
    if (!w || !w->init || w->init->data_type != FV__ONNX_FLOAT || w->init->n_dims != 4 ||
        w->init->dims[0] < 1 || w->init->dims[1] != cm || w->init->dims[2] != 1 ||
        w->init->dims[3] != 1)
        return NULL;
    if (m->n_input > 2 && m->input[2] && *m->input[2] &&
        (!b || !b->init || b->init->data_type != FV__ONNX_FLOAT || b->init->n_dims != 1 ||
         b->init->dims[0] != w->init->dims[0]))
        return NULL;
    static const int64_t ones[2] = {1, 1}, zeros[4] = {0};
    int64_t st[2], d[2], k[2], p[4];
    char ap[32] = "NOTSET";
    attr_s(m, "auto_pad", ap, sizeof ap);
    if (attr_i(m, "group", 1) != 1 || !attr_ints(m, "strides", 2, ones, st) ||
        !attr_ints(m, "dilations", 2, ones, d) || !attr_ints(m, "kernel_shape", 2, ones, k) ||
        !attr_ints(m, "pads", 4, zeros, p) || st[0] != 1 || st[1] != 1 || d[0] != 1 || d[1] != 1 ||
        k[0] != 1 || k[1] != 1 || p[0] || p[1] || p[2] || p[3] || strcmp(ap, "NOTSET"))
        return NULL;
    *at = r;
    *W = w->init;
    *B = b ? b->init : NULL;
    return m;
}

static fv_status op_conv(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (x->v != V_NCHW) return bad(s, "its input is not an image in NCHW layout");
    const Onnx__TensorProto *W = weight(s, n, 1, 4, "weight");
    if (!W) return FV_ERR_INVALID;
    const Onnx__TensorProto *B = n->n_input > 2 && *n->input[2] ? weight(s, n, 2, 1, "bias") : NULL;
    if (n->n_input > 2 && *n->input[2] && !B) return FV_ERR_INVALID;
    const int64_t group = attr_i(n, "group", 1);
    const int64_t O = W->dims[0], I = W->dims[1], kh = W->dims[2], kw = W->dims[3];
    const int64_t C = x->shape.d[2];
    /* group = channels with one input channel per group: DepthwiseConv2D */
    const bool depthwise = group != 1 && group == C && I == 1 && O % C == 0 && O > 0;
    if (group != 1 && !depthwise)
        return bad(s,
                   "group=%lld: fovea has ordinary (group 1) and depthwise (group = input "
                   "channels) convolutions only",
                   (long long)group);
    if (!depthwise && I != C)
        return bad(s, "weight has %lld input channels for an input of %lld", (long long)I,
                   (long long)C);
    static const int64_t ones[2] = {1, 1};
    int64_t k[2], st[2], d[2], out[2];
    const int64_t kd[2] = {kh, kw};
    if (!attr_ints(n, "kernel_shape", 2, kd, k) || k[0] != kh || k[1] != kw)
        return bad(s, "kernel_shape does not match the weight");
    if (!attr_ints(n, "strides", 2, ones, st) || !attr_ints(n, "dilations", 2, ones, d) ||
        st[0] < 1 || st[1] < 1 || d[0] < 1 || d[1] < 1)
        return bad(s, "strides and dilations must be 2 positive values");
    const char *pad;
    int64_t zp[4] = {0};
    fv_status r = window_padding(s, n, x->shape.d, k, st, d, false, &pad, out, zp);
    if (r) return r;
    if (B && B->dims[0] != O)
        return bad(s, "bias has %lld values for %lld filters", (long long)B->dims[0], (long long)O);
    /* a depthwise Conv without bias whose only reader is a 1x1 Conv: SeparableConv2D */
    const Onnx__TensorProto *PW = NULL, *PB = NULL;
    size_t at = 0;
    const Onnx__NodeProto *pw = depthwise && !B ? pointwise(s, n, O, &at, &PW, &PB) : NULL;
    Onnx__NodeProto alias = *n;
    if (pw) alias.output = pw->output, s->skip[at] = true;
    const int64_t F = pw ? PW->dims[0] : O;
    const fv_shape sh = {.rank = 3, .d = {out[0], out[1], F}};
    char src[64];
    fv_shape padded = x->shape;
    snprintf(src, sizeof src, "%s", x->node);
    if ((r = zero_pad_layer(s, n, zp, src, &padded))) return r;
    tval *y = out_layer(s, &alias,
                        pw          ? "separable_conv2d"
                        : depthwise ? "depthwise_conv2d"
                                    : "conv2d",
                        V_NCHW, &sh);
    if (!y) return FV_ERR_INVALID;
    if (pw)
        r = emit(s,
                 "separable_conv2d name=%s inputs=%s filters=%lld kernel_size=%lld,%lld "
                 "strides=%lld,%lld padding=%s depth_multiplier=%lld dilation_rate=%lld,%lld "
                 "use_bias=%s",
                 y->node, src, (long long)F, (long long)kh, (long long)kw, (long long)st[0],
                 (long long)st[1], pad, (long long)(O / C), (long long)d[0], (long long)d[1],
                 PB ? "true" : "false");
    else if (depthwise)
        r = emit(s,
                 "depthwise_conv2d name=%s inputs=%s kernel_size=%lld,%lld strides=%lld,%lld "
                 "padding=%s depth_multiplier=%lld dilation_rate=%lld,%lld use_bias=%s",
                 y->node, src, (long long)kh, (long long)kw, (long long)st[0], (long long)st[1],
                 pad, (long long)(O / C), (long long)d[0], (long long)d[1], B ? "true" : "false");
    else
        r = emit(s,
                 "conv2d name=%s inputs=%s filters=%lld kernel_size=%lld,%lld strides=%lld,%lld "
                 "padding=%s dilation_rate=%lld,%lld use_bias=%s",
                 y->node, src, (long long)O, (long long)kh, (long long)kw, (long long)st[0],
                 (long long)st[1], pad, (long long)d[0], (long long)d[1], B ? "true" : "false");
    if (r) return r;
    snprintf(s->fusable, sizeof s->fusable, "%s", y->node);
    s->fusable_len = s->tlen;
    if (depthwise) { /* ONNX (C·M, 1, kh, kw) to fovea (kh, kw, C, M) */
        const int64_t M = O / C, count = O * kh * kw;
        float *kf = malloc((size_t)count * sizeof *kf);
        if (!kf) return nomem(s);
        const float *w = init_f32(W);
        for (int64_t c = 0; c < C; c++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t a = 0; a < kh; a++)
                    for (int64_t b = 0; b < kw; b++)
                        kf[((a * kw + b) * C + c) * M + m] = w[((c * M + m) * kh + a) * kw + b];
        if ((r = add_weight(s, y->node, "depthwise_kernel", kf, count))) return r;
        if (pw) { /* ONNX (F, C·M, 1, 1) to fovea (1, 1, C·M, F) */
            float *pk = malloc((size_t)(F * O) * sizeof *pk);
            if (!pk) return nomem(s);
            const float *p = init_f32(PW);
            for (int64_t c = 0; c < O; c++)
                for (int64_t f = 0; f < F; f++)
                    pk[c * F + f] = p[f * O + c];
            if ((r = add_weight(s, y->node, "pointwise_kernel", pk, F * O))) return r;
            return PB ? copy_weight(s, y->node, "bias", init_f32(PB), F) : FV_OK;
        }
        return B ? copy_weight(s, y->node, "bias", init_f32(B), O) : FV_OK;
    }
    return add_kernel(s, y->node, W, B);
}

static fv_status op_maxpool(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (x->v != V_NCHW) return bad(s, "its input is not an image in NCHW layout");
    if (n->n_output > 1) return bad(s, "its Indices output has no fovea equivalent");
    static const int64_t ones[2] = {1, 1};
    int64_t k[2], st[2], d[2], out[2];
    if (!attr(n, "kernel_shape") || !attr_ints(n, "kernel_shape", 2, ones, k) || k[0] < 1 ||
        k[1] < 1)
        return bad(s, "kernel_shape must be 2 positive values");
    if (!attr_ints(n, "strides", 2, ones, st) || st[0] < 1 || st[1] < 1)
        return bad(s, "strides must be 2 positive values");
    if (!attr_ints(n, "dilations", 2, ones, d) || d[0] != 1 || d[1] != 1)
        return bad(s, "dilations other than 1 are not in Keras' MaxPooling2D");
    if (attr_i(n, "storage_order", 0) != 0) return bad(s, "storage_order=1 is not supported");
    const char *pad;
    fv_status r =
        window_padding(s, n, x->shape.d, k, st, d, attr_i(n, "ceil_mode", 0) != 0, &pad, out, NULL);
    if (r) return r;
    const fv_shape sh = {.rank = 3, .d = {out[0], out[1], x->shape.d[2]}};
    char src[64];
    snprintf(src, sizeof src, "%s", x->node);
    tval *y = out_layer(s, n, "maxpool2d", V_NCHW, &sh);
    if (!y) return FV_ERR_INVALID;
    return emit(s, "maxpool2d name=%s inputs=%s pool_size=%lld,%lld strides=%lld,%lld padding=%s",
                y->node, src, (long long)k[0], (long long)k[1], (long long)st[0], (long long)st[1],
                pad);
}

static bool int_values(const im *s, const char *name, int64_t *v, int *n, bool *scalar);
static bool scalar(const im *s, const char *name, float *v);

/* AveragePool: Keras' pooling leaves the padding out of the count (count_include_pad=0) with
 * same padding; pads counted as zeros (count_include_pad=1, PyTorch's default) are a
 * zero_padding2d before a valid pooling, which counts them the same way. */
static fv_status op_avgpool(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (x->v != V_NCHW) return bad(s, "its input is not an image in NCHW layout");
    static const int64_t ones[2] = {1, 1};
    int64_t k[2], st[2], out[2], zp[4] = {0};
    if (!attr(n, "kernel_shape") || !attr_ints(n, "kernel_shape", 2, ones, k) || k[0] < 1 ||
        k[1] < 1)
        return bad(s, "kernel_shape must be 2 positive values");
    if (!attr_ints(n, "strides", 2, ones, st) || st[0] < 1 || st[1] < 1)
        return bad(s, "strides must be 2 positive values");
    const bool count_pad = attr_i(n, "count_include_pad", 0) != 0;
    const char *pad;
    fv_status r = window_padding(s, n, x->shape.d, k, st, ones, attr_i(n, "ceil_mode", 0) != 0,
                                 &pad, out, count_pad ? zp : NULL);
    if (r) return r;
    if (count_pad && !strcmp(pad, "same"))
        return bad(s, "count_include_pad=1 with Keras' same pads counts the padding, which "
                      "Keras' pooling does not");
    const fv_shape sh = {.rank = 3, .d = {out[0], out[1], x->shape.d[2]}};
    char src[64];
    fv_shape padded = x->shape;
    snprintf(src, sizeof src, "%s", x->node);
    if ((r = zero_pad_layer(s, n, zp, src, &padded))) return r;
    tval *y = out_layer(s, n, "average_pooling2d", V_NCHW, &sh);
    if (!y) return FV_ERR_INVALID;
    return emit(s,
                "average_pooling2d name=%s inputs=%s pool_size=%lld,%lld strides=%lld,%lld "
                "padding=%s",
                y->node, src, (long long)k[0], (long long)k[1], (long long)st[0], (long long)st[1],
                pad);
}

/* Pad with zeros around the image axes of NCHW data: ZeroPadding2D. */
static fv_status op_pad(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    char mode[16] = "constant";
    attr_s(n, "mode", mode, sizeof mode);
    int64_t p[8];
    int np = 0;
    bool sc;
    const Onnx__AttributeProto *pa = attr(n, "pads");
    if (pa && pa->n_ints == 8)
        memcpy(p, pa->ints, sizeof p), np = 8;
    else if (n->n_input >= 2 && !int_values(s, n->input[1], p, &np, &sc))
        np = 0;
    float v = 0;
    if (n->n_input >= 3 && *n->input[2] && (!scalar(s, n->input[2], &v) || v != 0))
        return bad(s, "only padding with zeros is read");
    if (strcmp(mode, "constant") || x->v != V_NCHW || np != 8 || p[0] || p[1] || p[4] || p[5])
        return bad(s, "only constant zeros around the image axes of NCHW data are read");
    for (int a = 0; a < 8; a++)
        if (p[a] < 0 || p[a] > (1 << 20)) return bad(s, "pads must be 0 to 2^20");
    const tval in = *x;
    fv_shape sh = in.shape;
    sh.d[0] += p[2] + p[6], sh.d[1] += p[3] + p[7];
    tval *y = out_layer(s, n, "zero_padding2d", V_NCHW, &sh);
    if (!y) return FV_ERR_INVALID;
    return emit(s, "zero_padding2d name=%s inputs=%s padding=%lld,%lld,%lld,%lld", y->node, in.node,
                (long long)p[2], (long long)p[6], (long long)p[3], (long long)p[7]);
}

/* A dense layer from the constant matrix B of (nin, units), or (units, nin) when tb, on the
 * batch of vectors x; node n names the output. Keras' kernel is (nin, units) with rows in x's
 * (H, W, C) order, so rows are read back from ONNX's (C, H, W) order after a flatten. */
static fv_status dense_from(im *s, const Onnx__NodeProto *n, const tval *x,
                            const Onnx__TensorProto *B, bool tb, int64_t nin, int64_t units,
                            const float *bias)
{
    const tval in = *x;
    const fv_shape sh = {.rank = 1, .d = {units}};
    tval *y = out_layer(s, n, "dense", V_PLAIN, &sh);
    if (!y) return FV_ERR_INVALID;
    fv_status r = emit(s, "dense name=%s inputs=%s units=%lld use_bias=%s", y->node, in.node,
                       (long long)units, bias ? "true" : "false");
    if (r) return r;
    snprintf(s->fusable, sizeof s->fusable, "%s", y->node);
    s->fusable_len = s->tlen;
    float *kf = malloc((size_t)(nin * units) * sizeof *kf);
    if (!kf) return nomem(s);
    const float *b = init_f32(B);
    for (int64_t j = 0; j < nin; j++) {
        /* fovea's row j is ONNX input index col: the (C, H, W) position of (H, W, C) element j */
        const int64_t col = in.v == V_FLAT ? hwc_to_chw(&in, j) : j;
        for (int64_t o = 0; o < units; o++)
            kf[j * units + o] = tb ? b[o * nin + col] : b[col * units + o];
    }
    if ((r = add_weight(s, y->node, "kernel", kf, nin * units))) return r;
    return bias ? copy_weight(s, y->node, "bias", bias, units) : FV_OK;
}

static fv_status op_gemm(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (x->shape.rank != 1) return bad(s, "its input A is not a batch of vectors (rank 2)");
    if (attr_i(n, "transA", 0) != 0 || attr_f(n, "alpha", 1.0) != 1.0 ||
        attr_f(n, "beta", 1.0) != 1.0)
        return bad(s, "transA, alpha and beta must keep their defaults (0, 1, 1)");
    const bool tb = attr_i(n, "transB", 0) != 0;
    const Onnx__TensorProto *B = weight(s, n, 1, 2, "B");
    if (!B) return FV_ERR_INVALID;
    const int64_t nin = tb ? B->dims[1] : B->dims[0], units = tb ? B->dims[0] : B->dims[1];
    if (nin != x->shape.d[0])
        return bad(s, "B takes %lld inputs for an input of %lld", (long long)nin,
                   (long long)x->shape.d[0]);
    const Onnx__TensorProto *C = NULL;
    if (n->n_input > 2 && *n->input[2]) {
        const tval *c = find(s, n->input[2]);
        if (!c || !c->init || c->init->data_type != FV__ONNX_FLOAT ||
            tensor_count(c->init) != units ||
            !(c->init->n_dims == 1 || (c->init->n_dims == 2 && c->init->dims[0] == 1)))
            return bad(s, "C must be a constant float32 vector of %lld values", (long long)units);
        C = c->init;
    }
    return dense_from(s, n, x, B, tb, nin, units, C ? init_f32(C) : NULL);
}

static int readers(const im *s, const char *name, size_t *only);

/* The shortest decimal text that reads back as the float v (ONNX attributes are float32). */
static const char *float_text(float v, char *buf, size_t size)
{
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, size, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    return buf;
}

/* An element-wise activation: joined to the conv2d or dense layer before it as its activation=
 * (fused, as Keras writes it) when that layer's output feeds nothing else and fovea's activation
 * of that name is the same function (fuse: its name, or NULL); else an activation layer with
 * the input's view. */
static fv_status act_layer(im *s, const Onnx__NodeProto *n, const char *kind, const char *args,
                           const char *fuse)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    const tval in = *x;
    size_t only;
    if (fuse && s->fusable_len && s->fusable_len == s->tlen && !strcmp(in.node, s->fusable) &&
        readers(s, n->input[0], &only) == 1) {
        static const char key[] = " activation=";
        const size_t add = sizeof key - 1 + strlen(fuse);
        if (!grow((void **)&s->text, &s->tcap, s->tlen + add + 1, 1)) return nomem(s);
        snprintf(s->text + s->tlen - 1, add + 2, "%s%s\n", key, fuse);
        s->tlen += add;
        s->fusable_len = 0;
        return out_alias(s, n, x, in.v);
    }
    tval *y = out_layer(s, n, kind, in.v, &in.shape);
    if (!y) return FV_ERR_INVALID;
    y->fh = in.fh, y->fw = in.fw, y->fc = in.fc;
    return emit(s, "%s name=%s inputs=%s%s", kind, y->node, in.node, args);
}

static fv_status op_relu(im *s, const Onnx__NodeProto *n)
{
    return act_layer(s, n, "relu", "", "relu");
}

static fv_status op_sigmoid(im *s, const Onnx__NodeProto *n)
{
    return act_layer(s, n, "sigmoid", "", "sigmoid");
}

static fv_status op_tanh(im *s, const Onnx__NodeProto *n)
{
    return act_layer(s, n, "tanh", "", "tanh");
}

static fv_status op_leaky_relu(im *s, const Onnx__NodeProto *n)
{
    char a[64];
    const float alpha = (float)attr_f(n, "alpha", 0.01);
    char f[32];
    snprintf(a, sizeof a, " negative_slope=%s", float_text(alpha, f, sizeof f));
    /* activation=leaky_relu on a layer is Keras' function, slope 0.2 */
    return act_layer(s, n, "leaky_relu", a, alpha == 0.2f ? "leaky_relu" : NULL);
}

static fv_status op_elu(im *s, const Onnx__NodeProto *n)
{
    char a[64];
    const float alpha = (float)attr_f(n, "alpha", 1.0);
    char f[32];
    snprintf(a, sizeof a, " alpha=%s", float_text(alpha, f, sizeof f));
    return act_layer(s, n, "elu", a, alpha == 1.0f ? "elu" : NULL);
}

/* Softmax over the channels (fovea's last axis): axis 1 of NCHW, the last axis of vectors. */
static fv_status op_softmax(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    const int rank = x->shape.rank + 1;
    int64_t axis = attr_i(n, "axis", s->opset >= 13 ? -1 : 1);
    if (axis < 0) axis += rank;
    const bool ok = x->v == V_NCHW ? axis == 1 && s->opset >= 13 : axis == rank - 1;
    if (!ok)
        return bad(s, "axis=%lld: fovea's softmax runs over the channels only",
                   (long long)attr_i(n, "axis", s->opset >= 13 ? -1 : 1));
    return act_layer(s, n, "softmax", "", "softmax");
}

/* Dropout (inference: the identity) and Identity. */
static fv_status op_identity(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (!strcmp(n->op_type, "Dropout") && n->n_input > 2 && *n->input[2])
        return bad(s, "a training_mode input: fovea imports inference graphs");
    return out_alias(s, n, x, x->v);
}

/* Transpose between NHWC and NCHW: the same fovea tensor seen the other way. */
static fv_status sym_transpose(im *s, const Onnx__NodeProto *n);
static bool is_int_value(const im *s, const char *name);

static fv_status op_transpose(im *s, const Onnx__NodeProto *n)
{
    if (n->n_input && is_int_value(s, n->input[0])) return sym_transpose(s, n);
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
    int64_t p[4] = {0};
    const Onnx__AttributeProto *a = attr(n, "perm");
    if (x->shape.rank == 3 && a && a->n_ints == 4) memcpy(p, a->ints, sizeof p);
    if (x->v == V_PLAIN && x->shape.rank == 3 && !memcmp(p, to_nchw, sizeof p))
        return out_alias(s, n, x, V_NCHW);
    if (x->v == V_NCHW && !memcmp(p, to_nhwc, sizeof p)) return out_alias(s, n, x, V_PLAIN);
    return bad(s, "perm: only NHWC <-> NCHW transposes of images are layout changes fovea "
                  "absorbs");
}

/* A flatten of x that keeps the batch axis (Flatten axis=1, or a Reshape to (N, -1)). */
static fv_status flatten(im *s, const Onnx__NodeProto *n, tval *x)
{
    const tval in = *x;
    if (in.shape.rank == 1) return out_alias(s, n, x, in.v);
    int64_t size = 1;
    for (int d = 0; d < in.shape.rank; d++)
        size *= in.shape.d[d];
    const fv_shape sh = {.rank = 1, .d = {size}};
    /* (C, H, W) and (H, W, C) orders are the same when H·W or C is 1 */
    const bool chw = in.v == V_NCHW && in.shape.d[0] * in.shape.d[1] != 1 && in.shape.d[2] != 1;
    tval *y = out_layer(s, n, "flatten", chw ? V_FLAT : V_PLAIN, &sh);
    if (!y) return FV_ERR_INVALID;
    if (chw) y->fh = in.shape.d[0], y->fw = in.shape.d[1], y->fc = in.shape.d[2];
    return emit(s, "flatten name=%s inputs=%s", y->node, in.node);
}

static fv_status op_flatten(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (attr_i(n, "axis", 1) != 1)
        return bad(s, "axis=%lld: only axis=1 (keep the batch)", (long long)attr_i(n, "axis", 1));
    return flatten(s, n, x);
}

/* Constant: its value tensor becomes a constant like an initializer. */
static fv_status op_constant(im *s, const Onnx__NodeProto *n)
{
    const Onnx__AttributeProto *a = attr(n, "value");
    if (!a || !a->t || n->n_attribute != 1)
        return bad(s, "only a 'value' tensor is read (not value_float, value_ints, ...)");
    if (n->n_output != 1 || !n->output[0] || !*n->output[0]) return bad(s, "has no output");
    if (find(s, n->output[0]))
        return bad(s, "its output '%s' is already defined (names must be assigned once)",
                   n->output[0]);
    fv_status r = check_init(s, a->t);
    if (r) return r;
    tval *t = add_t(s, n->output[0]);
    if (!t) return nomem(s);
    t->init = a->t;
    return FV_OK;
}

static fv_status op_batchnorm(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (attr_i(n, "training_mode", 0) != 0 || n->n_output > 1)
        return bad(s, "training_mode: fovea imports inference graphs");
    const tval in = *x;
    if (in.shape.rank == 3 && in.v != V_NCHW)
        return bad(s, "its input is a channels-last image, whose channels are not ONNX's axis 1");
    if (in.shape.rank != 1 && in.shape.rank != 3)
        return bad(s, "its input has rank %d; fovea normalises rank 2 or 4", in.shape.rank + 1);
    const int64_t c = in.shape.d[in.shape.rank - 1];
    static const char *const what[4] = {"scale", "B", "input_mean", "input_var"};
    static const char *const suffix[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    const Onnx__TensorProto *p[4];
    for (int k = 0; k < 4; k++) {
        if (!(p[k] = weight(s, n, (size_t)k + 1, 1, what[k]))) return FV_ERR_INVALID;
        if (p[k]->dims[0] != c)
            return bad(s, "%s has %lld values for %lld channels", what[k], (long long)p[k]->dims[0],
                       (long long)c);
    }
    tval *y = out_layer(s, n, "batch_normalization", in.v, &in.shape);
    if (!y) return FV_ERR_INVALID;
    y->fh = in.fh, y->fw = in.fw, y->fc = in.fc;
    char eps[32], mom[32];
    fv_status r = emit(s, "batch_normalization name=%s inputs=%s epsilon=%s momentum=%s", y->node,
                       in.node, float_text((float)attr_f(n, "epsilon", 1e-5), eps, sizeof eps),
                       float_text((float)attr_f(n, "momentum", 0.9), mom, sizeof mom));
    for (int k = 0; k < 4 && !r; k++) {
        float *v = malloc((size_t)c * sizeof *v);
        if (!v) return nomem(s);
        const float *src = init_f32(p[k]);
        for (int64_t j = 0; j < c; j++)
            v[j] = src[in.v == V_FLAT ? hwc_to_chw(&in, j) : j];
        r = add_weight(s, y->node, suffix[k], v, c);
    }
    return r;
}

/* Add, Sub, Mul, Max, Sum, Mean of tensors of one shape (no broadcasting): fovea's merges. */
static fv_status merge(im *s, const Onnx__NodeProto *n, const char *kind, int min, int max)
{
    if ((int)n->n_input < min || (int)n->n_input > max || n->n_input > 32)
        return bad(s, "%zu inputs (%s takes %d to %d)", n->n_input, kind, min, max);
    char list[32 * 66] = "";
    size_t used = 0;
    tval first = {0};
    for (size_t k = 0; k < n->n_input; k++) {
        tval *x = value(s, n, k);
        if (!x) return FV_ERR_INVALID;
        if (k == 0) first = *x;
        if (x->v != first.v || !fv__shape_equal(&x->shape, &first.shape) ||
            (first.v == V_FLAT && (x->fh != first.fh || x->fw != first.fw || x->fc != first.fc)))
            return bad(s, "inputs of different shapes or layouts (fovea's merges do not "
                          "broadcast)");
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? "," : "", x->node);
    }
    tval *y = out_layer(s, n, kind, first.v, &first.shape);
    if (!y) return FV_ERR_INVALID;
    y->fh = first.fh, y->fw = first.fw, y->fc = first.fc;
    return emit(s, "%s name=%s inputs=%s", kind, y->node, list);
}

/* How many times name is read (node inputs and graph outputs); *only receives the index of the
 * reading node when there is exactly one and it is a node. */
static int readers(const im *s, const char *name, size_t *only)
{
    int count = 0;
    if (!name) return 0;
    for (size_t i = 0; i < s->g->n_node; i++)
        for (size_t k = 0; k < s->g->node[i]->n_input; k++)
            if (s->g->node[i]->input[k] && !strcmp(s->g->node[i]->input[k], name)) {
                count++;
                *only = i;
            }
    for (size_t i = 0; i < s->g->n_output; i++)
        if (s->g->output[i]->name && !strcmp(s->g->output[i]->name, name)) count += 2;
    return count;
}

/* A one-element float32 initializer's value. */
static bool scalar(const im *s, const char *name, float *v)
{
    const tval *t = find(s, name);
    if (!t || !t->init || t->init->data_type != FV__ONNX_FLOAT || tensor_count(t->init) != 1)
        return false;
    *v = init_f32(t->init)[0];
    return true;
}

/* The sum of k tensors whose only reader multiplies it by 1/k (fovea's export of average). */
static const Onnx__NodeProto *average_mul(im *s, const Onnx__NodeProto *n)
{
    size_t r;
    if (n->n_output != 1 || readers(s, n->output[0], &r) != 1) return NULL;
    const Onnx__NodeProto *m = s->g->node[r];
    if (!m->op_type || strcmp(m->op_type, "Mul") || m->n_input != 2 || m->n_output != 1)
        return NULL;
    float v;
    if (!m->input[0] || !m->input[1]) return NULL;
    const char *other = !strcmp(m->input[0], n->output[0]) ? m->input[1] : m->input[0];
    if (!scalar(s, other, &v) || v != 1.0f / (float)n->n_input) return NULL;
    s->skip[r] = true;
    return m;
}

static fv_status op_add_or_average(im *s, const Onnx__NodeProto *n, int max)
{
    const Onnx__NodeProto *m = average_mul(s, n);
    if (!m) return merge(s, n, "add", 2, max);
    /* the Mul's output is the layer's */
    Onnx__NodeProto alias = *n;
    alias.output = m->output;
    return merge(s, &alias, "average", 2, 32);
}

static fv_status op_add(im *s, const Onnx__NodeProto *n)
{
    return op_add_or_average(s, n, 2);
}

static fv_status op_sum(im *s, const Onnx__NodeProto *n)
{
    return op_add_or_average(s, n, 32);
}

static fv_status op_sub(im *s, const Onnx__NodeProto *n)
{
    return merge(s, n, "subtract", 2, 2);
}

static fv_status op_mul(im *s, const Onnx__NodeProto *n)
{
    return merge(s, n, "multiply", 2, 2);
}

static fv_status op_max(im *s, const Onnx__NodeProto *n)
{
    return merge(s, n, "maximum", 2, 32);
}

static fv_status op_mean(im *s, const Onnx__NodeProto *n)
{
    return merge(s, n, "average", 2, 32);
}

static fv_status op_concat(im *s, const Onnx__NodeProto *n)
{
    if (n->n_input < 1 || n->n_input > 32) return bad(s, "1 to 32 inputs are read");
    tval *x0 = value(s, n, 0);
    if (!x0) return FV_ERR_INVALID;
    const tval first = *x0;
    const int rank = first.shape.rank + 1;
    int64_t a = attr_i(n, "axis", 1);
    if (a < 0) a += rank;
    if (a < 1 || a >= rank || first.v == V_FLAT)
        return bad(s, "axis=%lld: only a sample axis of images or vectors is joined",
                   (long long)attr_i(n, "axis", 1));
    /* the fovea axis (Keras' counting, batch = 0) */
    static const int64_t from_nchw[4] = {0, 3, 1, 2};
    const int64_t fa = first.v == V_NCHW ? from_nchw[a] : a;
    char list[32 * 66] = "";
    size_t used = 0;
    fv_shape sh = first.shape;
    sh.d[fa - 1] = 0;
    for (size_t k = 0; k < n->n_input; k++) {
        tval *x = value(s, n, k);
        if (!x) return FV_ERR_INVALID;
        bool fits = x->v == first.v && x->shape.rank == first.shape.rank;
        for (int d = 0; fits && d < sh.rank; d++)
            fits = d == fa - 1 || x->shape.d[d] == first.shape.d[d];
        if (!fits) return bad(s, "inputs whose shapes differ off the joined axis");
        sh.d[fa - 1] += x->shape.d[fa - 1];
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? "," : "", x->node);
    }
    tval *y = out_layer(s, n, "concatenate", first.v, &sh);
    if (!y) return FV_ERR_INVALID;
    return emit(s, "concatenate name=%s inputs=%s axis=%lld", y->node, list, (long long)fa);
}

static fv_status global_pool(im *s, const Onnx__NodeProto *n, const char *kind)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (x->v != V_NCHW) return bad(s, "its input is not an image in NCHW layout");
    const tval in = *x;
    /* followed by its only reader Flatten(axis=1): Keras' keepdims=false */
    size_t r;
    if (n->n_output == 1 && readers(s, n->output[0], &r) == 1 && s->g->node[r]->op_type &&
        !strcmp(s->g->node[r]->op_type, "Flatten") && attr_i(s->g->node[r], "axis", 1) == 1 &&
        s->g->node[r]->n_output == 1) {
        s->skip[r] = true;
        Onnx__NodeProto alias = *n;
        alias.output = s->g->node[r]->output;
        const fv_shape sh = {.rank = 1, .d = {in.shape.d[2]}};
        tval *y = out_layer(s, &alias, kind, V_PLAIN, &sh);
        if (!y) return FV_ERR_INVALID;
        return emit(s, "%s name=%s inputs=%s", kind, y->node, in.node);
    }
    const fv_shape sh = {.rank = 3, .d = {1, 1, in.shape.d[2]}};
    tval *y = out_layer(s, n, kind, V_NCHW, &sh);
    if (!y) return FV_ERR_INVALID;
    return emit(s, "%s name=%s inputs=%s keepdims=true", kind, y->node, in.node);
}

static fv_status op_gap(im *s, const Onnx__NodeProto *n)
{
    return global_pool(s, n, "global_average_pooling2d");
}

static fv_status op_gmp(im *s, const Onnx__NodeProto *n)
{
    return global_pool(s, n, "global_max_pooling2d");
}

/* MatMul by a constant (in, units) matrix: a dense layer; an Add of a constant vector of units
 * that is its only reader becomes the bias. */
static fv_status op_matmul(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (x->shape.rank != 1) return bad(s, "its input A is not a batch of vectors (rank 2)");
    const Onnx__TensorProto *B = weight(s, n, 1, 2, "B");
    if (!B) return FV_ERR_INVALID;
    const int64_t nin = B->dims[0], units = B->dims[1];
    if (nin != x->shape.d[0])
        return bad(s, "B takes %lld inputs for an input of %lld", (long long)nin,
                   (long long)x->shape.d[0]);
    const float *bias = NULL;
    const char *const *outname = (const char *const *)n->output;
    size_t r;
    if (n->n_output == 1 && readers(s, n->output[0], &r) == 1) {
        const Onnx__NodeProto *add = s->g->node[r];
        if (add->op_type && !strcmp(add->op_type, "Add") && add->n_input == 2 &&
            add->n_output == 1) {
            const char *other = !add->input[0] || !add->input[1]       ? NULL
                                : !strcmp(add->input[0], n->output[0]) ? add->input[1]
                                                                       : add->input[0];
            const tval *c = find(s, other);
            if (c && c->init && c->init->data_type == FV__ONNX_FLOAT &&
                tensor_count(c->init) == units &&
                (c->init->n_dims == 1 || (c->init->n_dims == 2 && c->init->dims[0] == 1))) {
                bias = init_f32(c->init);
                s->skip[r] = true;
                outname = (const char *const *)add->output;
            }
        }
    }
    Onnx__NodeProto alias = *n;
    alias.output = (char **)outname;
    return dense_from(s, &alias, x, B, false, nin, units, bias);
}

/* An int64 initializer of k values into v; false if it is not one. */
static bool shape_init(const im *s, const char *name, int k, int64_t *v)
{
    const tval *t = find(s, name);
    if (!t || !t->init || t->init->data_type != FV__ONNX_INT64 || tensor_count(t->init) != k)
        return false;
    const int64_t *d =
        t->init->has_raw_data ? (const int64_t *)t->init->raw_data.data : t->init->int64_data;
    memcpy(v, d, (size_t)k * sizeof *v);
    return true;
}

/* An int64 vector known at import: a shape computation or an int64 constant of at most 8
 * values, written into v[0..*n) (v holds 8). */
static bool int_values(const im *s, const char *name, int64_t *v, int *n, bool *scalar)
{
    const tval *t = find(s, name);
    if (!t) return false;
    if (t->sym) {
        if (t->sym_rows) return false; /* a matrix: int_matrix's */
        memcpy(v, t->symv, (size_t)t->nsym * sizeof *v);
        *n = t->nsym;
        *scalar = t->sym_scalar;
        return true;
    }
    if (!t->init || t->init->data_type != FV__ONNX_INT64 || tensor_count(t->init) > 8) return false;
    *n = (int)tensor_count(t->init);
    *scalar = t->init->n_dims == 0;
    const int64_t *d =
        t->init->has_raw_data ? (const int64_t *)t->init->raw_data.data : t->init->int64_data;
    memcpy(v, d, (size_t)*n * sizeof *v);
    return true;
}

static fv_status out_sym(im *s, const Onnx__NodeProto *n, const int64_t *v, int k, bool scalar)
{
    if (n->n_output != 1 || !n->output[0] || !*n->output[0]) return bad(s, "one output is read");
    if (find(s, n->output[0]))
        return bad(s, "its output '%s' is already defined (names must be assigned once)",
                   n->output[0]);
    tval *t = add_t(s, n->output[0]);
    if (!t) return nomem(s);
    t->sym = true;
    t->sym_scalar = scalar;
    t->nsym = k;
    memcpy(t->symv, v, (size_t)k * sizeof *v);
    return FV_OK;
}

/* Shape of a computed tensor, as ONNX sees it (NCHW for images taken as NCHW). */
static fv_status op_shape(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (attr(n, "start") || attr(n, "end")) return bad(s, "start and end are not read");
    int64_t v[8] = {SYM_BATCH};
    int k = 1;
    if (x->v == V_NCHW)
        v[k++] = x->shape.d[2], v[k++] = x->shape.d[0], v[k++] = x->shape.d[1];
    else
        for (int d = 0; d < x->shape.rank; d++)
            v[k++] = x->shape.d[d];
    return out_sym(s, n, v, k, false);
}

static fv_status op_gather(im *s, const Onnx__NodeProto *n)
{
    int64_t v[8], idx[8], out[8];
    int nv, ni;
    bool sv, si;
    if (n->n_input != 2 || !int_values(s, n->input[0], v, &nv, &sv) || sv ||
        !int_values(s, n->input[1], idx, &ni, &si) || attr_i(n, "axis", 0) != 0)
        return bad(s, "only a Gather from a shape (axis 0, constant indices) is read");
    for (int k = 0; k < ni; k++) {
        const int64_t i = idx[k] < 0 ? idx[k] + nv : idx[k];
        if (i < 0 || i >= nv) return bad(s, "index %lld is out of range", (long long)idx[k]);
        out[k] = v[i];
    }
    return out_sym(s, n, out, ni, si);
}

static fv_status op_unsqueeze(im *s, const Onnx__NodeProto *n)
{
    int64_t v[8], axes[8];
    int nv, na = 0;
    bool sv, sa;
    if (!n->n_input || !int_values(s, n->input[0], v, &nv, &sv))
        return bad(s, "only an Unsqueeze of a shape value is read");
    const Onnx__AttributeProto *a = attr(n, "axes");
    if (a && a->n_ints <= 8)
        na = (int)a->n_ints, memcpy(axes, a->ints, (size_t)na * sizeof *axes);
    else if (n->n_input != 2 || !int_values(s, n->input[1], axes, &na, &sa))
        return bad(s, "no axes");
    if (!sv || na != 1 || (axes[0] != 0 && axes[0] != -1))
        return bad(s, "only a scalar made a 1-value vector is read");
    return out_sym(s, n, v, 1, false);
}

/* Concat of shape values (axis 0); a Concat of computed tensors is op_concat's. */
static fv_status op_concat(im *s, const Onnx__NodeProto *n);

static fv_status op_concat_or_shape(im *s, const Onnx__NodeProto *n)
{
    bool any_sym = false;
    for (size_t k = 0; k < n->n_input; k++) {
        const tval *t = find(s, n->input[k]);
        any_sym = any_sym || (t && t->sym);
    }
    if (!any_sym) return op_concat(s, n);
    int64_t v[8];
    int nv = 0;
    for (size_t k = 0; k < n->n_input; k++) {
        int64_t p[8];
        int np;
        bool sc;
        if (!int_values(s, n->input[k], p, &np, &sc) || sc || nv + np > 8)
            return bad(s, "input '%s' is not a known int64 vector", n->input[k]);
        memcpy(v + nv, p, (size_t)np * sizeof *p);
        nv += np;
    }
    return out_sym(s, n, v, nv, false);
}

/* ---- int64 values known at import: the pads computation PyTorch writes for ZeroPad2d
 * (ConstantOfShape, Concat, Reshape to (-1, 2), Slice backwards, Transpose, Reshape, Cast) --------
 */

/* An int64 value known at import (a shape computation or an int64 constant of at most 8 values,
 * rank 0 to 2): v[0..*n) in row-major order, *rows its rows (0: a vector), *scalar for rank 0. */
static bool int_matrix(const im *s, const char *name, int64_t *v, int *n, int *rows, bool *scalar)
{
    const tval *t = find(s, name);
    if (!t) return false;
    if (t->sym) {
        memcpy(v, t->symv, (size_t)t->nsym * sizeof *v);
        *n = t->nsym;
        *rows = t->sym_rows;
        *scalar = t->sym_scalar;
        return true;
    }
    if (!t->init || t->init->n_dims > 2 || !int_values(s, name, v, n, scalar)) return false;
    *rows = t->init->n_dims == 2 ? (int)t->init->dims[0] : 0;
    return true;
}

/* Whether name is an int64 value known at import (then the node computes one too). */
static bool is_int_value(const im *s, const char *name)
{
    const tval *t = find(s, name);
    return t && (t->sym || (t->init && t->init->data_type == FV__ONNX_INT64));
}

static fv_status out_sym_rows(im *s, const Onnx__NodeProto *n, const int64_t *v, int k, int rows,
                              bool scalar)
{
    fv_status r = out_sym(s, n, v, k, scalar);
    if (!r) s->t[s->nt - 1].sym_rows = rows;
    return r;
}

static fv_status op_constant_of_shape(im *s, const Onnx__NodeProto *n)
{
    int64_t shape[8], fill, v[8];
    int k;
    bool sc;
    if (n->n_input != 1 || !int_values(s, n->input[0], shape, &k, &sc) || sc || k != 1 ||
        shape[0] < 0 || shape[0] > 8)
        return bad(s, "only a vector of at most 8 values is made (its input must be a 1-value "
                      "int64 vector known at import)");
    const Onnx__AttributeProto *a = attr(n, "value");
    if (!a || !a->t) return bad(s, "no 'value': only an int64 fill is read");
    fv_status r = check_init(s, a->t);
    if (r) return r;
    if (a->t->data_type != FV__ONNX_INT64 || tensor_count(a->t) != 1)
        return bad(s, "'value' is not one int64: only an int64 fill is read");
    memcpy(&fill, a->t->has_raw_data ? (const void *)a->t->raw_data.data : a->t->int64_data,
           sizeof fill);
    for (int i = 0; i < shape[0]; i++)
        v[i] = fill;
    return out_sym(s, n, v, (int)shape[0], false);
}

static fv_status op_cast(im *s, const Onnx__NodeProto *n)
{
    int64_t v[8];
    int k, rows;
    bool sc;
    if (n->n_input != 1 || attr_i(n, "to", 0) != FV__ONNX_INT64 ||
        !int_matrix(s, n->input[0], v, &k, &rows, &sc))
        return bad(s, "only a Cast to int64 of int64 values known at import is read");
    return out_sym_rows(s, n, v, k, rows, sc);
}

/* Reshape of int64 values known at import, to a vector or a matrix. */
static fv_status sym_reshape(im *s, const Onnx__NodeProto *n)
{
    int64_t v[8], g[8], in[2], d[2];
    int k, rows, ng;
    bool sc, gs;
    if (n->n_input != 2 || !int_matrix(s, n->input[0], v, &k, &rows, &sc) ||
        !int_values(s, n->input[1], g, &ng, &gs) || gs || ng < 1 || ng > 2)
        return bad(s, "only a Reshape of int64 values known at import to 1 or 2 axes is read");
    const int in_rank = rows ? 2 : 1;
    in[0] = rows ? rows : k, in[1] = rows ? k / rows : 1;
    int unknown = -1;
    int64_t known = 1;
    for (int i = 0; i < ng; i++) {
        d[i] = g[i];
        if (g[i] == 0 && !attr_i(n, "allowzero", 0)) {
            if (i >= in_rank) return bad(s, "shape value 0 copies an axis the input lacks");
            d[i] = in[i];
        }
        if (d[i] == -1 && unknown < 0) {
            unknown = i;
            continue;
        }
        if (d[i] < 0 || d[i] > 8)
            return bad(s, "shape value %lld is out of range", (long long)g[i]);
        known *= d[i];
    }
    if (unknown >= 0) {
        if (known == 0 || k % known) return bad(s, "%d values do not fill the shape", k);
        d[unknown] = k / known;
    } else if (known != k)
        return bad(s, "%d values do not fill the shape", k);
    return out_sym_rows(s, n, v, k, ng == 2 ? (int)d[0] : 0, false);
}

static fv_status sym_transpose(im *s, const Onnx__NodeProto *n)
{
    int64_t v[8], t[8];
    int k, rows;
    bool sc;
    if (!int_matrix(s, n->input[0], v, &k, &rows, &sc))
        return bad(s, "only a Transpose of int64 values known at import is read");
    const Onnx__AttributeProto *a = attr(n, "perm");
    if (!rows) {
        if (a && (a->n_ints != 1 || a->ints[0] != 0))
            return bad(s, "perm must be [0] for a vector");
        return out_sym_rows(s, n, v, k, 0, sc);
    }
    if (a && (a->n_ints != 2 || a->ints[0] != 1 || a->ints[1] != 0))
        return bad(s, "perm must be [1, 0] for a matrix");
    if (k % rows) return bad(s, "a matrix of %d values in %d rows", k, rows);
    const int cols = k / rows;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            t[c * rows + r] = v[r * cols + c];
    return out_sym_rows(s, n, t, k, cols, false);
}

/* ONNX Slice of one axis of length dim (starts and ends counted from the end when negative,
 * then clamped): the first index taken and how many; false for step 0. */
static bool slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                       int64_t *count)
{
    if (step == 0 || dim < 1) return false;
    if (step > dim) step = dim; /* one element at most either way; keeps the arithmetic small */
    if (step < -dim) step = -dim;
    if (start < 0) start = start < -dim ? -1 : start + dim;
    if (end < 0) end = end < -dim ? -1 : end + dim;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        *count = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = start < 0 ? -1 : start > dim - 1 ? dim - 1 : start;
        end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
        *count = start > end ? (start - end - 1) / -step + 1 : 0;
    }
    *first = start;
    return true;
}

typedef struct slice_args {
    int n;
    int64_t starts[8], ends[8], axes[8], steps[8];
} slice_args;

/* Slice's starts, ends, axes and steps (inputs 1 to 4), axes made non-negative for rank. */
static fv_status slice_params(im *s, const Onnx__NodeProto *n, int rank, slice_args *a)
{
    int k;
    bool sc;
    if (n->n_input < 3 || n->n_input > 5 || !int_values(s, n->input[1], a->starts, &a->n, &sc) ||
        !int_values(s, n->input[2], a->ends, &k, &sc) || k != a->n)
        return bad(s, "starts and ends must be int64 vectors of one length, known at import");
    for (int i = 0; i < a->n; i++)
        a->axes[i] = i, a->steps[i] = 1;
    if (n->n_input > 3 && *n->input[3] &&
        (!int_values(s, n->input[3], a->axes, &k, &sc) || k != a->n))
        return bad(s, "axes must be an int64 vector as long as starts, known at import");
    if (n->n_input > 4 && *n->input[4] &&
        (!int_values(s, n->input[4], a->steps, &k, &sc) || k != a->n))
        return bad(s, "steps must be an int64 vector as long as starts, known at import");
    for (int i = 0; i < a->n; i++) {
        if (a->axes[i] < -rank || a->axes[i] >= rank)
            return bad(s, "axis %lld is out of range", (long long)a->axes[i]);
        if (a->axes[i] < 0) a->axes[i] += rank;
        for (int j = 0; j < i; j++)
            if (a->axes[j] == a->axes[i])
                return bad(s, "axis %lld is sliced twice", (long long)a->axes[i]);
    }
    return FV_OK;
}

/* Slice of int64 values known at import, along their first axis. */
static fv_status sym_slice(im *s, const Onnx__NodeProto *n)
{
    int64_t v[8], t[8], first, count;
    int k, rows;
    bool sc;
    slice_args a;
    if (!int_matrix(s, n->input[0], v, &k, &rows, &sc) || sc)
        return bad(s, "only a Slice of int64 vectors or matrices known at import is read");
    fv_status r = slice_params(s, n, rows ? 2 : 1, &a);
    if (r) return r;
    const int len = rows ? rows : k, cols = rows ? k / rows : 1;
    if (a.n != 1 || a.axes[0] != 0 ||
        !slice_axis(len, a.starts[0], a.ends[0], a.steps[0], &first, &count))
        return bad(s, "only one slice of the first axis, step not 0, is read");
    for (int64_t i = 0; i < count; i++)
        for (int c = 0; c < cols; c++)
            t[i * cols + c] = v[(first + i * a.steps[0]) * cols + c];
    return out_sym_rows(s, n, t, (int)(count * cols), rows ? (int)count : 0, false);
}

/* ---- Slice, Resize, ConvTranspose, Clip and Reshape of computed tensors ---------------------- */

/* The rows and columns cut by a Slice of image x (NCHW, or NHWC from a channels-last graph):
 * crop = (top, bottom, left, right); the batch and channels must be kept whole, steps 1. */
static fv_status slice_crop(im *s, const Onnx__NodeProto *n, const tval *x, int64_t crop[4])
{
    if (x->shape.rank != 3 || (x->v != V_NCHW && x->v != V_PLAIN))
        return bad(s, "only a crop of the rows and columns of images is read");
    slice_args a;
    fv_status r = slice_params(s, n, 4, &a);
    if (r) return r;
    const bool nchw = x->v == V_NCHW;
    const int64_t dims[4] = {0, nchw ? x->shape.d[2] : x->shape.d[0],
                             nchw ? x->shape.d[0] : x->shape.d[1],
                             nchw ? x->shape.d[1] : x->shape.d[2]};
    const int hax = nchw ? 2 : 1, cax = nchw ? 1 : 3;
    memset(crop, 0, 4 * sizeof *crop);
    for (int i = 0; i < a.n; i++) {
        const int64_t ax = a.axes[i];
        int64_t first, count;
        if (a.steps[i] != 1) return bad(s, "steps other than 1 (cropping2d keeps every row)");
        if (ax == 0) {
            if (a.starts[i] != 0 || a.ends[i] < ((int64_t)1 << 62))
                return bad(s, "it cuts the batch axis");
            continue;
        }
        slice_axis(dims[ax], a.starts[i], a.ends[i], 1, &first, &count);
        if (ax == cax) {
            if (first != 0 || count != dims[ax])
                return bad(s, "it cuts the channels (cropping2d cuts rows and columns)");
            continue;
        }
        if (count < 1) return bad(s, "it leaves no rows or columns");
        const int e = ax == hax ? 0 : 2;
        crop[e] = first, crop[e + 1] = dims[ax] - first - count;
    }
    return FV_OK;
}

/* Slice: a crop of rows and columns (cropping2d), or of int64 values known at import. */
static fv_status op_slice(im *s, const Onnx__NodeProto *n)
{
    if (n->n_input && is_int_value(s, n->input[0])) return sym_slice(s, n);
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    int64_t c[4];
    fv_status r = slice_crop(s, n, x, c);
    if (r) return r;
    const tval in = *x;
    if (!c[0] && !c[1] && !c[2] && !c[3]) return out_alias(s, n, x, in.v);
    fv_shape sh = in.shape;
    sh.d[0] -= c[0] + c[1], sh.d[1] -= c[2] + c[3];
    tval *y = out_layer(s, n, "cropping2d", in.v, &sh);
    if (!y) return FV_ERR_INVALID;
    return emit(s, "cropping2d name=%s inputs=%s cropping=%lld,%lld,%lld,%lld", y->node, in.node,
                (long long)c[0], (long long)c[1], (long long)c[2], (long long)c[3]);
}

/* The source row of output row o of an ONNX Resize in nearest mode (scale = out / in), by the
 * operator's coordinate_transformation_mode and nearest_mode; -1 for a mode fovea does not
 * know. */
static int64_t nearest_source(int64_t o, int64_t in, int64_t out, double scale, const char *ctm,
                              const char *nm)
{
    double x;
    if (!strcmp(ctm, "half_pixel") || !strcmp(ctm, "pytorch_half_pixel"))
        x = !strcmp(ctm, "pytorch_half_pixel") && out == 1 ? 0 : (o + 0.5) / scale - 0.5;
    else if (!strcmp(ctm, "asymmetric"))
        x = o / scale;
    else if (!strcmp(ctm, "align_corners"))
        x = out == 1 ? 0 : (double)o * (double)(in - 1) / (double)(out - 1);
    else if (!strcmp(ctm, "tf_half_pixel_for_nn"))
        x = (o + 0.5) / scale;
    else
        return -1;
    double r;
    if (!strcmp(nm, "round_prefer_floor"))
        r = ceil(x - 0.5);
    else if (!strcmp(nm, "round_prefer_ceil"))
        r = floor(x + 0.5);
    else if (!strcmp(nm, "floor"))
        r = floor(x);
    else if (!strcmp(nm, "ceil"))
        r = ceil(x);
    else
        return -1;
    return r < 0 ? 0 : r > (double)(in - 1) ? in - 1 : (int64_t)r;
}

/* Resize by whole factors on the image axes: upsampling2d. nearest when the operator's
 * coordinates pick source row o / factor for every output row o (asymmetric with floor, as
 * PyTorch writes it, and the others that agree at this size); bilinear for linear with
 * half-pixel centres (half_pixel, or pytorch_half_pixel, which differs only for one-pixel
 * outputs). */
static fv_status op_resize(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (x->v != V_NCHW) return bad(s, "its input is not an image in NCHW layout");
    const tval in = *x;
    char mode[32] = "nearest", ctm[32] = "half_pixel", nm[32] = "round_prefer_floor";
    attr_s(n, "mode", mode, sizeof mode);
    attr_s(n, "coordinate_transformation_mode", ctm, sizeof ctm);
    attr_s(n, "nearest_mode", nm, sizeof nm);
    if (attr_i(n, "exclude_outside", 0) != 0) return bad(s, "exclude_outside=1 is not read");
    const bool nearest = !strcmp(mode, "nearest");
    if (!nearest && strcmp(mode, "linear"))
        return bad(s, "mode=%s: fovea's upsampling2d is nearest or bilinear", mode);
    if (!nearest && strcmp(ctm, "half_pixel") && strcmp(ctm, "pytorch_half_pixel"))
        return bad(s,
                   "coordinate_transformation_mode=%s: fovea's bilinear upsampling samples at "
                   "half-pixel centres (half_pixel, pytorch_half_pixel)",
                   ctm);
    const int64_t ih = in.shape.d[0], iw = in.shape.d[1];
    int64_t f[2] = {0, 0};
    const bool has_scales = n->n_input > 2 && *n->input[2];
    const bool has_sizes = n->n_input > 3 && *n->input[3];
    const tval *sc = has_scales ? find(s, n->input[2]) : NULL;
    if (has_scales && sc && sc->init && sc->init->data_type == FV__ONNX_FLOAT &&
        tensor_count(sc->init) == 0 && has_sizes)
        sc = NULL; /* an empty scales beside sizes */
    if (sc) {
        if (!sc->init || sc->init->data_type != FV__ONNX_FLOAT || tensor_count(sc->init) != 4)
            return bad(s, "scales must be 4 float32 constants");
        const float *v = init_f32(sc->init);
        for (int a = 0; a < 2; a++) {
            const float q = v[a + 2];
            if (!(q >= 1 && q <= 4096) || q != floorf(q))
                return bad(s, "scale %g: fovea's upsampling2d has whole factors of 1 to 4096",
                           (double)q);
            f[a] = (int64_t)q;
        }
        if (v[0] != 1 || v[1] != 1) return bad(s, "it scales the batch or channel axis");
    } else if (has_sizes) {
        int64_t z[8];
        int k;
        bool scl;
        if (!int_values(s, n->input[3], z, &k, &scl) || scl || k != 4)
            return bad(s, "sizes must be 4 int64 values known at import");
        if (!(z[0] == SYM_BATCH || (s->batch > 0 && z[0] == s->batch)) || z[1] != in.shape.d[2])
            return bad(s, "sizes change the batch or channel axis");
        const int64_t ins[2] = {ih, iw};
        for (int a = 0; a < 2; a++) {
            if (z[a + 2] < ins[a] || z[a + 2] % ins[a] || z[a + 2] / ins[a] > 4096)
                return bad(s, "sizes %lld for %lld rows is not a whole factor of 1 to 4096",
                           (long long)z[a + 2], (long long)ins[a]);
            f[a] = z[a + 2] / ins[a];
        }
    } else
        return bad(s, "neither scales nor sizes");
    if (ih * f[0] > (1 << 20) || iw * f[1] > (1 << 20))
        return bad(s, "an output of more than 2^20 rows or columns");
    if (nearest) {
        /* Output row o = q·f + r reads source q + g(r) (clamped) in every mode but
         * align_corners, with |g| <= 1: rows of blocks q = 1..3 show g unclamped, so the first
         * and last 4 blocks decide (all of them for inputs of up to 8 rows). align_corners is
         * checked row by row, up to 2^16 rows. */
        const int64_t ins[2] = {ih, iw};
        const bool every = !strcmp(ctm, "align_corners");
        for (int a = 0; a < 2; a++) {
            const int64_t out = ins[a] * f[a], w = 4 * f[a];
            if (every && out > (1 << 16))
                return bad(s, "coordinate_transformation_mode=align_corners with nearest on "
                              "more than 2^16 rows is not read");
            for (int64_t o = 0; o < out;
                 o = !every && o + 1 == w && out - w > o + 1 ? out - w : o + 1) {
                const int64_t src = nearest_source(o, ins[a], out, (double)f[a], ctm, nm);
                if (src < 0)
                    return bad(s,
                               "coordinate_transformation_mode=%s with nearest_mode=%s is not "
                               "read",
                               ctm, nm);
                if (src != o / f[a])
                    return bad(s,
                               "coordinate_transformation_mode=%s with nearest_mode=%s does not "
                               "repeat rows and columns (as fovea's nearest upsampling2d does) "
                               "at a factor of %lld",
                               ctm, nm, (long long)f[a]);
            }
        }
    }
    const fv_shape sh = {.rank = 3, .d = {ih * f[0], iw * f[1], in.shape.d[2]}};
    tval *y = out_layer(s, n, "upsampling2d", V_NCHW, &sh);
    if (!y) return FV_ERR_INVALID;
    return emit(s, "upsampling2d name=%s inputs=%s size=%lld,%lld interpolation=%s", y->node,
                in.node, (long long)f[0], (long long)f[1], nearest ? "nearest" : "bilinear");
}

/* Keras' padding and output_padding (op: -1 for None) of a transposed convolution on an input
 * of `in` whose output position o receives input i through tap k at o = i·s − lead + k·d and
 * whose output is `out` long, on both axes; false if neither padding gives them. */
static bool keras_transpose(const int64_t in[2], const int64_t k[2], const int64_t st[2],
                            const int64_t d[2], const int64_t lead[2], const int64_t out[2],
                            bool *same, int64_t op[2])
{
    for (int p = 0; p < 2; p++) {
        bool none = true, given = true;
        for (int a = 0; a < 2; a++) {
            int64_t l;
            const int64_t o = fv_conv_transpose_out_size(in[a], k[a], st[a], d[a], p, -1, &l);
            none = none && o == out[a] && l == lead[a];
            /* output_padding given: out = (in−1)s + span%2 + op (same) or (in−1)s + span + op */
            const int64_t span = d[a] * (k[a] - 1) + 1;
            op[a] = out[a] - (in[a] - 1) * st[a] - (p ? span % 2 : span);
            const int64_t og =
                op[a] >= 0 && op[a] < st[a]
                    ? fv_conv_transpose_out_size(in[a], k[a], st[a], d[a], p, op[a], &l)
                    : -1;
            given = given && og == out[a] && l == lead[a];
        }
        if (none) op[0] = op[1] = -1;
        if (none || given) {
            *same = p;
            return true;
        }
    }
    return false;
}

/* ConvTranspose: conv2d_transpose. ONNX places output o = i·s − pads_begin + k·d, out long
 * (s(in−1) + output_padding + span − pads_begin − pads_end); Keras' padding and
 * output_padding give that placement and length when one of them fits, taking in a Slice that
 * is the only reader and cuts its end (fovea's export of a Keras size ONNX's pads cannot give);
 * else a valid conv2d_transpose (lead 0) with a cropping2d after it. Kernel (in, filters, kh,
 * kw) to fovea's (kh, kw, filters, in). */
static fv_status op_conv_transpose(im *s, const Onnx__NodeProto *n)
{
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    if (x->v != V_NCHW) return bad(s, "its input is not an image in NCHW layout");
    const tval in = *x;
    const Onnx__TensorProto *W = weight(s, n, 1, 4, "weight");
    if (!W) return FV_ERR_INVALID;
    const Onnx__TensorProto *B = n->n_input > 2 && *n->input[2] ? weight(s, n, 2, 1, "bias") : NULL;
    if (n->n_input > 2 && *n->input[2] && !B) return FV_ERR_INVALID;
    if (attr_i(n, "group", 1) != 1) return bad(s, "group other than 1 is not read");
    if (attr(n, "output_shape")) return bad(s, "output_shape is not read (give pads)");
    const int64_t C = W->dims[0], F = W->dims[1], kh = W->dims[2], kw = W->dims[3];
    if (C != in.shape.d[2])
        return bad(s, "weight has %lld input channels for an input of %lld", (long long)C,
                   (long long)in.shape.d[2]);
    if (B && B->dims[0] != F)
        return bad(s, "bias has %lld values for %lld filters", (long long)B->dims[0], (long long)F);
    static const int64_t ones[2] = {1, 1}, zeros[4] = {0};
    int64_t k[2], st[2], d[2], op[2], p[4];
    const int64_t kd[2] = {kh, kw};
    char ap[32] = "NOTSET";
    attr_s(n, "auto_pad", ap, sizeof ap);
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
        return bad(s, "auto_pad=%s is not read (give pads)", ap);
    if (!attr_ints(n, "kernel_shape", 2, kd, k) || k[0] != kh || k[1] != kw)
        return bad(s, "kernel_shape does not match the weight");
    if (!attr_ints(n, "strides", 2, ones, st) || !attr_ints(n, "dilations", 2, ones, d) ||
        !attr_ints(n, "output_padding", 2, zeros, op) || !attr_ints(n, "pads", 4, zeros, p))
        return bad(s, "strides, dilations, output_padding and pads must have 2, 2, 2 and 4 values");
    if (!strcmp(ap, "VALID")) memset(p, 0, sizeof p);
    int64_t lead[2], out[2], full[2];
    const int64_t ins[2] = {in.shape.d[0], in.shape.d[1]};
    for (int a = 0; a < 2; a++) {
        if (st[a] < 1 || st[a] > (1 << 20) || d[a] < 1 || d[a] > (1 << 20) || k[a] < 1 ||
            k[a] > (1 << 20))
            return bad(s, "kernel_shape, strides and dilations must be 1 to 2^20");
        if (op[a] < 0 || (op[a] >= st[a] && op[a] >= d[a]))
            return bad(s, "output_padding must be less than the stride or the dilation");
        if (p[a] < 0 || p[a + 2] < 0 || p[a] > (1 << 20) || p[a + 2] > (1 << 20))
            return bad(s, "pads must be 0 to 2^20");
        full[a] = (ins[a] - 1) * st[a] + d[a] * (k[a] - 1) + 1 + op[a];
        lead[a] = p[a];
        out[a] = full[a] - p[a] - p[a + 2];
        if (out[a] < 1 || full[a] > (1 << 21))
            return bad(s, "an output of %lld rows or columns", (long long)out[a]);
    }
    bool same;
    int64_t kop[2];
    /* a Slice that is the only reader and keeps the first rows and columns */
    size_t r;
    Onnx__NodeProto alias = *n;
    if (n->n_output == 1 && readers(s, n->output[0], &r) == 1 && s->g->node[r]->op_type &&
        !strcmp(s->g->node[r]->op_type, "Slice") && s->g->node[r]->n_output == 1) {
        tval probe = in;
        probe.shape.d[0] = out[0], probe.shape.d[1] = out[1], probe.shape.d[2] = F;
        int64_t c[4];
        const Onnx__NodeProto *keep = s->node;
        s->node = s->g->node[r];
        const bool cut = slice_crop(s, s->g->node[r], &probe, c) == FV_OK && !c[0] && !c[2];
        s->node = keep;
        const int64_t o2[2] = {out[0] - c[1], out[1] - c[3]};
        if (cut && keras_transpose(ins, k, st, d, lead, o2, &same, kop)) {
            s->skip[r] = true;
            alias.output = s->g->node[r]->output;
            out[0] = o2[0], out[1] = o2[1];
        }
    }
    const bool exact =
        alias.output != n->output || keras_transpose(ins, k, st, d, lead, out, &same, kop);
    int64_t crop[4] = {0};
    if (!exact) { /* valid (lead 0), output_padding to reach lead + out, then a crop */
        same = false;
        for (int a = 0; a < 2; a++) {
            const int64_t natural = full[a] - op[a];
            kop[a] = lead[a] + out[a] > natural ? lead[a] + out[a] - natural : 0;
            if (kop[a] >= st[a])
                return bad(s,
                           "output_padding=%lld,%lld with these pads needs rows Keras' "
                           "output_padding (less than the stride) cannot add",
                           (long long)op[0], (long long)op[1]);
            crop[2 * a] = lead[a], crop[2 * a + 1] = natural + kop[a] - lead[a] - out[a];
        }
    }
    char opad[48] = "";
    if (kop[0] >= 0)
        snprintf(opad, sizeof opad, " output_padding=%lld,%lld", (long long)kop[0],
                 (long long)kop[1]);
    const fv_shape sh = {.rank = 3, .d = {out[0], out[1], F}};
    char name[64];
    fv_shape full_sh = {.rank = 3,
                        .d = {out[0] + crop[0] + crop[1], out[1] + crop[2] + crop[3], F}};
    tval *y = NULL;
    if (exact) {
        if (!(y = out_layer(s, &alias, "conv2d_transpose", V_NCHW, &sh))) return FV_ERR_INVALID;
        snprintf(name, sizeof name, "%s", y->node);
    } else {
        fv_status e = inner_layer(s, n, "_full", "conv2d_transpose", &full_sh, name);
        if (e) return e;
    }
    fv_status e = emit(s,
                       "conv2d_transpose name=%s inputs=%s filters=%lld kernel_size=%lld,%lld "
                       "strides=%lld,%lld padding=%s%s dilation_rate=%lld,%lld use_bias=%s",
                       name, in.node, (long long)F, (long long)kh, (long long)kw, (long long)st[0],
                       (long long)st[1], same ? "same" : "valid", opad, (long long)d[0],
                       (long long)d[1], B ? "true" : "false");
    if (e) return e;
    if (exact) {
        snprintf(s->fusable, sizeof s->fusable, "%s", name);
        s->fusable_len = s->tlen;
    } else {
        if (!(y = out_layer(s, n, "cropping2d", V_NCHW, &sh))) return FV_ERR_INVALID;
        if ((e = emit(s, "cropping2d name=%s inputs=%s cropping=%lld,%lld,%lld,%lld", y->node, name,
                      (long long)crop[0], (long long)crop[1], (long long)crop[2],
                      (long long)crop[3])))
            return e;
    }
    return add_kernel(s, name, W, B);
}

/* Clip(x, 0, max): ReLU with max_value (PyTorch's ReLU6 is Clip(0, 6)); Clip(x, 0): ReLU. */
static fv_status op_clip(im *s, const Onnx__NodeProto *n)
{
    float lo = 0, hi = 0;
    const bool has_lo = n->n_input > 1 && *n->input[1], has_hi = n->n_input > 2 && *n->input[2];
    if ((has_lo && !scalar(s, n->input[1], &lo)) || (has_hi && !scalar(s, n->input[2], &hi)))
        return bad(s, "min and max must be float32 constants");
    if (!has_lo || lo != 0)
        return bad(s, "min must be 0 (a ReLU with max_value): fovea has no other clipping");
    if (!has_hi) return act_layer(s, n, "relu", "", "relu");
    if (!(hi > 0)) return bad(s, "max must be positive");
    char a[64], f[32];
    snprintf(a, sizeof a, " max_value=%s", float_text(hi, f, sizeof f));
    return act_layer(s, n, "relu", a, NULL);
}

/* The Maxout of fovea's export: Reshape to groups, ReduceMax over the group axis (keepdims),
 * Reshape to the output; NULL (and no error) when n does not start one. */
static fv_status maxout(im *s, const Onnx__NodeProto *n, const tval *x, bool *taken)
{
    const tval in = *x;
    const char *no = "the Reshape, ReduceMax, Reshape of a Maxout with these shapes";
    int64_t g[8], axis; /* int_values writes up to 8 */
    size_t r1, r2;
    *taken = false;
    if (n->n_input != 2 || n->n_output != 1 || !shape_init(s, n->input[1], 4, g) ||
        readers(s, n->output[0], &r1) != 1)
        return FV_OK;
    const Onnx__NodeProto *rm = s->g->node[r1];
    if (!rm->op_type || strcmp(rm->op_type, "ReduceMax") || rm->n_output != 1 ||
        attr_i(rm, "keepdims", 1) != 1 || !attr(rm, "axes") || attr(rm, "axes")->n_ints != 1 ||
        readers(s, rm->output[0], &r2) != 1)
        return FV_OK;
    *taken = true;
    axis = attr(rm, "axes")->ints[0];
    const Onnx__NodeProto *back = s->g->node[r2];
    if (!back->op_type || strcmp(back->op_type, "Reshape") || back->n_input != 2 ||
        back->n_output != 1)
        return bad(s, "%s is not read", no);
    const int64_t ch = in.shape.d[in.shape.rank - 1], rest = fv__shape_size(&in.shape) / ch;
    const bool nchw = in.v == V_NCHW;
    const int64_t units = nchw ? g[1] : g[2], k = nchw ? g[2] : g[3];
    const bool groups_ok = in.v != V_FLAT && g[0] == 0 && units >= 1 && k >= 1 && units * k == ch &&
                           (nchw ? g[3] == rest : g[1] == rest) && axis == (nchw ? 2 : 3);
    fv_shape sh = in.shape;
    sh.d[sh.rank - 1] = units;
    int64_t want[5] = {0}, got[5];
    int wr = 1;
    if (nchw)
        want[wr++] = units, want[wr++] = in.shape.d[0], want[wr++] = in.shape.d[1];
    else
        for (int d = 0; d < sh.rank; d++)
            want[wr++] = sh.d[d];
    if (!groups_ok || !shape_init(s, back->input[1], wr, got) ||
        memcmp(got, want, (size_t)wr * sizeof *got) != 0)
        return bad(s, "%s is not read", no);
    s->skip[r1] = s->skip[r2] = true;
    Onnx__NodeProto alias = *n;
    alias.output = back->output;
    tval *y = out_layer(s, &alias, "maxout", in.v, &sh);
    if (!y) return FV_ERR_INVALID;
    return emit(s, "maxout name=%s inputs=%s units=%lld", y->node, in.node, (long long)units);
}

/* Reshape keeping the batch axis: a flatten (shape (0, -1), (-1, size), (batch, -1), its batch
 * computed by Shape-Gather-Unsqueeze-Concat or not), the Maxout of fovea's export, or a
 * reshape of a tensor whose ONNX order is fovea's (channels-last data, or an NCHW image with one
 * channel or one pixel). A rank-4 result is an NCHW image when it has one channel or one pixel
 * (both orders agree), else it stays a plain (rows, columns, depth) tensor, which the NCHW
 * layers refuse. Reshapes of int64 values known at import are computed. */
static fv_status op_reshape(im *s, const Onnx__NodeProto *n)
{
    if (n->n_input && is_int_value(s, n->input[0])) return sym_reshape(s, n);
    tval *x = value(s, n, 0);
    if (!x) return FV_ERR_INVALID;
    const tval in = *x;
    bool taken;
    fv_status r = maxout(s, n, x, &taken);
    if (r || taken) return r;
    int64_t g[8];
    int ng = 0;
    bool gs = false;
    if (n->n_input != 2 || !int_values(s, n->input[1], g, &ng, &gs) || gs || ng < 2 || ng > 4)
        return bad(s, "the shape must be 2 to 4 int64 values known at import");
    const bool allowzero = attr_i(n, "allowzero", 0) != 0;
    const int64_t size = fv__shape_size(&in.shape);
    /* the input's ONNX dims, batch first */
    int64_t dims[5] = {SYM_BATCH};
    int rank = 1;
    if (in.v == V_NCHW)
        dims[rank++] = in.shape.d[2], dims[rank++] = in.shape.d[0], dims[rank++] = in.shape.d[1];
    else
        for (int d = 0; d < in.shape.rank; d++)
            dims[rank++] = in.shape.d[d];
    if (in.v == V_FLAT) dims[1] = size, rank = 2;
    const bool batch = (g[0] == 0 && !allowzero) || g[0] == SYM_BATCH ||
                       (g[0] > 0 && g[0] == s->batch) || g[0] == -1;
    if (!batch) return bad(s, "shape[0]=%lld: the batch axis must be kept", (long long)g[0]);
    int64_t o[4], known = 1;
    int unknown = g[0] == -1 ? 0 : -1;
    for (int i = 1; i < ng; i++) {
        o[i] = g[i] == 0 && !allowzero ? (i < rank ? dims[i] : -2) : g[i];
        if (o[i] == -1 && unknown < 0) {
            unknown = i;
            continue;
        }
        if (o[i] < 1 || o[i] > (1 << 30) || !fv__mul_i64(known, o[i], &known) || known > size)
            return bad(s, "shape[%d]=%lld is not a size fovea reads here", i, (long long)g[i]);
    }
    if (unknown > 0) {
        if (size % known)
            return bad(s, "%lld values per sample do not fill the shape", (long long)size);
        o[unknown] = size / known;
    } else if (known != size)
        return bad(s, "%lld values per sample do not fill the shape", (long long)size);
    if (ng == 2) return flatten(s, n, x);
    const bool same_order =
        in.v == V_PLAIN ||
        (in.v == V_NCHW && (in.shape.d[2] == 1 || in.shape.d[0] * in.shape.d[1] == 1));
    if (!same_order)
        return bad(s, "a reshape of NCHW data or of its flatten reorders values in a way "
                      "fovea's channels-last reshape cannot (Transpose to NHWC first)");
    fv_shape sh = {.rank = ng - 1};
    view v = V_PLAIN;
    /* Both readings of a rank-4 result with one channel or one pixel hold the same values in the
     * same order; a Transpose to NCHW reading it (fovea's export of a reshape before a
     * convolution) says it is channels-last. */
    bool nhwc = false;
    for (size_t i = 0; n->n_output && i < s->g->n_node && !nhwc; i++) {
        const Onnx__NodeProto *m = s->g->node[i];
        const Onnx__AttributeProto *pa = attr(m, "perm");
        static const int64_t to_nchw[4] = {0, 3, 1, 2};
        nhwc = m->op_type && !strcmp(m->op_type, "Transpose") && m->n_input == 1 && m->input[0] &&
               !strcmp(m->input[0], n->output[0]) && pa && pa->n_ints == 4 &&
               !memcmp(pa->ints, to_nchw, sizeof to_nchw);
    }
    if (ng == 4 && !nhwc && (o[1] == 1 || o[2] * o[3] == 1)) /* an NCHW image */
        sh.d[0] = o[2], sh.d[1] = o[3], sh.d[2] = o[1], v = V_NCHW;
    else
        for (int i = 1; i < ng; i++)
            sh.d[i - 1] = o[i];
    if (fv__shape_equal(&sh, &in.shape)) return out_alias(s, n, x, v);
    tval *y = out_layer(s, n, "reshape", v, &sh);
    if (!y) return FV_ERR_INVALID;
    char t[96];
    int used = 0;
    for (int i = 0; i < sh.rank; i++)
        used +=
            snprintf(t + used, sizeof t - (size_t)used, "%s%lld", i ? "," : "", (long long)sh.d[i]);
    return emit(s, "reshape name=%s inputs=%s target_shape=%s", y->node, in.node, t);
}

/* The mapping: one entry per ONNX operator (default domain). */
static const struct {
    const char *op;
    fv_status (*convert)(im *s, const Onnx__NodeProto *n);
} ops[] = {
    {"Conv", op_conv},
    {"MaxPool", op_maxpool},
    {"AveragePool", op_avgpool},
    {"Pad", op_pad},
    {"Gemm", op_gemm},
    {"MatMul", op_matmul},
    {"Relu", op_relu},
    {"Sigmoid", op_sigmoid},
    {"Tanh", op_tanh},
    {"LeakyRelu", op_leaky_relu},
    {"Elu", op_elu},
    {"Softmax", op_softmax},
    {"Dropout", op_identity},
    {"Identity", op_identity},
    {"Transpose", op_transpose},
    {"Flatten", op_flatten},
    {"BatchNormalization", op_batchnorm},
    {"Add", op_add},
    {"Sum", op_sum},
    {"Sub", op_sub},
    {"Mul", op_mul},
    {"Max", op_max},
    {"Mean", op_mean},
    {"Concat", op_concat_or_shape},
    {"Shape", op_shape},
    {"Gather", op_gather},
    {"Unsqueeze", op_unsqueeze},
    {"GlobalAveragePool", op_gap},
    {"GlobalMaxPool", op_gmp},
    {"Reshape", op_reshape},
    {"Constant", op_constant},
    {"ConvTranspose", op_conv_transpose},
    {"Resize", op_resize},
    {"Slice", op_slice},
    {"Clip", op_clip},
    {"ConstantOfShape", op_constant_of_shape},
    {"Cast", op_cast},
};

/* ---- the model --------------------------------------------------------------------------- */

/* The graph input: its fovea shape (channels last) and view, from the file or opts. */
static fv_status graph_input(im *s, const Onnx__ValueInfoProto *vi, bool nchw)
{
    const char *name = vi->name;
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type)
        return bad(s, "graph input '%s' is not a tensor", name);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    if (tt->has_elem_type && tt->elem_type != FV__ONNX_FLOAT)
        return bad(s, "graph input '%s' has element type %d; fovea takes float32 (1)", name,
                   tt->elem_type);
    int64_t d[4] = {0};
    int rank = 0;
    if (tt->shape) {
        rank = (int)tt->shape->n_dim;
        if (rank != 2 && rank != 4)
            return bad(s,
                       "graph input '%s' has rank %d; fovea takes images (rank 4) or "
                       "vectors (rank 2)",
                       name, rank);
        for (int k = 1; k < rank; k++) {
            const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[k];
            d[k] = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                       ? dm->dim_value
                       : -1;
        }
    }
    if (tt->shape && tt->shape->n_dim >= 1 &&
        tt->shape->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
        s->batch = tt->shape->dim[0]->dim_value;
    fv_shape sh = {0};
    if (s->o && s->o->input_rank) {
        sh.rank = s->o->input_rank;
        for (int k = 0; k < sh.rank; k++)
            sh.d[k] = s->o->input_shape[k];
        if (rank && rank != sh.rank + 1)
            return bad(s,
                       "--input-shape has %d axes but graph input '%s' has %d besides the "
                       "batch",
                       sh.rank, name, rank - 1);
    } else {
        if (!rank) return bad(s, "graph input '%s' has no shape: give --input-shape H,W,C", name);
        sh.rank = rank - 1;
        for (int k = 1; k < rank; k++)
            if (d[k] < 1 || d[k] > (1 << 20))
                return bad(s, "graph input '%s' has a free or bad axis %d: give --input-shape",
                           name, k);
        if (rank == 4 && nchw)
            sh.d[0] = d[2], sh.d[1] = d[3], sh.d[2] = d[1];
        else
            for (int k = 1; k < rank; k++)
                sh.d[k - 1] = d[k];
    }
    if (sh.rank != 1 && sh.rank != 3) return bad(s, "graph input '%s': give H,W,C or units", name);
    for (int k = 0; k < sh.rank; k++)
        if (sh.d[k] < 1 || sh.d[k] > (1 << 20))
            return bad(s, "graph input '%s': axis %d of %lld is out of range", name, k,
                       (long long)sh.d[k]);
    if (find(s, name)) return bad(s, "graph input '%s' is defined twice", name);
    char node[64];
    fovea_name(s, name, "input_layer", node);
    tval *t = add_t(s, name);
    if (!t) return nomem(s);
    memcpy(t->node, node, sizeof node);
    t->v = sh.rank == 3 && nchw ? V_NCHW : V_PLAIN;
    t->shape = sh;
    if (sh.rank == 3)
        return emit(s, "input shape=%lld,%lld,%lld name=%s", (long long)sh.d[0], (long long)sh.d[1],
                    (long long)sh.d[2], t->node);
    return emit(s, "input shape=%lld name=%s", (long long)sh.d[0], t->node);
}

static const char *meta(const Onnx__ModelProto *mp, const char *key)
{
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (mp->metadata_props[i]->key && !strcmp(mp->metadata_props[i]->key, key))
            return mp->metadata_props[i]->value;
    return NULL;
}

/* Converts the unpacked model into s->text and s->w. */
static fv_status convert(im *s)
{
    const Onnx__ModelProto *mp = s->mp;
    const Onnx__GraphProto *g = mp->graph;
    if (!g) return bad(s, "no graph");
    s->g = g;
    s->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) s->opset = o->version;
    }
    if (s->opset < 11 || s->opset > 17)
        return bad(s, "opset %lld of the default domain: fovea reads opsets 11 to 17",
                   (long long)s->opset);
    /* Names are looked up by linear search: a bound keeps a hostile graph's cost quadratic in
     * a small number. */
    if (g->n_node > 10000 || g->n_initializer > 10000 || g->n_input > 10000)
        return bad(s, "more than 10000 nodes, initializers or inputs");
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        fv_status r = check_init(s, t);
        if (r) return r;
        if (!t->name || !*t->name || find(s, t->name))
            return bad(s, "initializer %zu has no name or a name used twice", i);
        tval *v = add_t(s, t->name);
        if (!v) return nomem(s);
        v->init = t;
    }
    if (g->n_sparse_initializer) return bad(s, "sparse initializers are not read");
    const char *layout = meta(mp, "fovea.layout");
    const bool nchw = !layout || strcmp(layout, "NHWC") != 0;
    int ninputs = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !*vi->name) return bad(s, "graph input %zu has no name", i);
        const tval *t = find(s, vi->name);
        if (t && t->init) continue; /* older exporters list initializers as inputs */
        if (++ninputs > 16) return bad(s, "more than 16 graph inputs");
        fv_status r = graph_input(s, vi, nchw);
        if (r) return r;
    }
    if (!ninputs) return bad(s, "the graph has no input");
    s->skip = calloc(g->n_node ? g->n_node : 1, sizeof *s->skip);
    if (!s->skip) return nomem(s);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        s->node = n;
        if (s->skip[i]) continue;
        if (!n->op_type) return bad(s, "no op_type");
        if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0)
            return bad(s, "domain '%s': fovea reads the default ONNX domain only", n->domain);
        /* every input, read by the conversion or not, must be defined before the node: this
         * refuses dangling names and cycles (a node reading its own or a later output) */
        for (size_t k = 0; k < n->n_input; k++) {
            if (!n->input[k]) return bad(s, "an input without a name");
            if (*n->input[k] && !find(s, n->input[k]))
                return bad(s,
                           "reads '%s', which no earlier node, graph input or initializer "
                           "defines (a dangling name or a cycle)",
                           n->input[k]);
        }
        for (size_t k = 0; k < n->n_output; k++)
            if (!n->output[k]) return bad(s, "an output without a name");
        size_t k = 0;
        while (k < sizeof ops / sizeof ops[0] && strcmp(ops[k].op, n->op_type) != 0)
            k++;
        if (k == sizeof ops / sizeof ops[0])
            return bad(
                s, "an operator fovea does not have (it reads: Conv, ConvTranspose, MaxPool, "
                   "AveragePool, Pad, Slice (a crop), Resize (whole factors), Gemm, MatMul, "
                   "BatchNormalization, Relu, Clip (from 0), LeakyRelu, Elu, Sigmoid, Tanh, "
                   "Softmax, Flatten, Reshape, Add, Sub, Mul, Max, Sum, Mean, Concat, "
                   "GlobalAveragePool, GlobalMaxPool, Dropout, Identity, Transpose, Constant, "
                   "the Reshape-ReduceMax-Reshape of a Maxout, and Shape, Gather, Unsqueeze, "
                   "Concat, ConstantOfShape, Cast, Slice, Reshape and Transpose of int64 values "
                   "known at import)");
        fv_status r = ops[k].convert(s, n);
        if (r) return r;
    }
    s->node = NULL;
    if (g->n_output < 1 || g->n_output > 16)
        return bad(s, "the graph has %zu outputs (1 to 16)", g->n_output);
    char list[16 * 66] = "";
    size_t used = 0;
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = g->output[i]->name ? g->output[i]->name : "";
        const tval *t = find(s, name);
        if (!t) return bad(s, "graph output '%s' is not computed by any node", name);
        if (t->init || t->sym) return bad(s, "graph output '%s' is a constant", name);
        if (t->v == V_FLAT)
            return bad(s,
                       "graph output '%s' is a flatten of NCHW data, whose (C, H, W) order "
                       "fovea's channels-last tensors cannot give",
                       name);
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? "," : "", t->node);
    }
    if (!s->nlayers) return bad(s, "the graph has no layers");
    fv_status r = emit(s, "model outputs=%s", list);
    if (!r && s->o && s->o->compile) {
        if (strchr(s->o->compile, '\n')) return bad(s, "compile arguments on one line");
        r = emit(s, "compile %s", s->o->compile);
    }
    return r;
}

static void im_free(im *s)
{
    for (size_t i = 0; i < s->nw; i++)
        free(s->w[i].data);
    free(s->w);
    free(s->t);
    free(s->skip);
    free(s->text);
}

/* metadata_props' fovea.class_names (a JSON array of strings, as fovea's export writes it) onto
 * the model. */
static fv_status import_class_names(fv_model *m, const Onnx__ModelProto *mp, const char *origin)
{
    const char *text = meta(mp, "fovea.class_names");
    if (!text) return FV_OK;
    cJSON *arr = cJSON_Parse(text);
    const int n = arr && cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    const char **names = n > 0 ? calloc((size_t)n, sizeof *names) : NULL;
    bool ok = names != NULL;
    for (int i = 0; ok && i < n; i++) {
        const cJSON *item = cJSON_GetArrayItem(arr, i);
        ok = cJSON_IsString(item) && item->valuestring;
        if (ok) names[i] = item->valuestring;
    }
    fv_status st = FV_OK;
    if (!ok)
        st =
            fv__fail(FV_ERR_FORMAT,
                     "%s: metadata_props fovea.class_names is not a JSON array of strings", origin);
    else if ((st = fv_model_set_class_names(m, n, names)))
        fv__error_prefix("%s: metadata_props fovea.class_names: ", origin);
    free(names);
    cJSON_Delete(arr);
    return st;
}

fv_status fv__onnx_import_parse(const uint8_t *buf, size_t len, const char *origin,
                                const fv_onnx_import_opts *opts, fv_model **out)
{
    *out = NULL;
    if (len > (size_t)INT32_MAX)
        return fv__fail(FV_ERR_FORMAT, "%s: %zu bytes: protobuf files stop at 2 GiB", origin, len);
    if (len == 0) return fv__fail(FV_ERR_FORMAT, "%s: empty file", origin);
    pbwalk w = {.base = buf, .origin = origin};
    fv_status r = pb_walk(&w, PB_MODEL, buf, buf + len, 0);
    if (r) return r;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp)
        return fv__fail(FV_ERR_FORMAT, "%s: not an ONNX model (protobuf-c cannot unpack it)",
                        origin);
    im s = {.origin = origin, .mp = mp, .o = opts};
    fv_model *m = NULL;
    if ((r = convert(&s))) goto done;
    m = fv_model_parse_string(s.text, origin);
    if (!m) {
        r = FV_ERR_INVALID;
        fv__error_prefix("%s: the converted model: ", origin);
        goto done;
    }
    for (size_t i = 0; i < s.nw; i++) {
        int rank;
        int64_t dims[4];
        float *p = fv_model_param(m, s.w[i].tensor, &rank, dims);
        int64_t count = 1;
        for (int k = 0; p && k < rank; k++)
            count *= dims[k];
        if (!p || count != s.w[i].count) {
            r = fv__fail(FV_ERR_STATE, "%s: weight %s does not fit the converted model", origin,
                         s.w[i].tensor);
            goto done;
        }
        memcpy(p, s.w[i].data, (size_t)count * sizeof *p);
    }
    if ((r = import_class_names(m, mp, origin))) goto done;
    *out = m;
    m = NULL;
done:
    fv_model_free(m);
    im_free(&s);
    onnx__model_proto__free_unpacked(mp, NULL);
    return r;
}

fv_status fv__onnx_import(const char *path, const fv_onnx_import_opts *opts, fv_model **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    *out = NULL;
    fv_status r = fv__read_file(path, (size_t)INT32_MAX, false, &buf, &len);
    if (r) return r;
    r = fv__onnx_import_parse(buf, len, path, opts, out);
    free(buf);
    return r;
}
