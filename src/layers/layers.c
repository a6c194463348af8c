/* layers.c — the registry of layer kinds, the argument machinery every kind shares (defaults,
 * parsing by type with range checks, canonical text) and the activation helpers used by conv2d,
 * dense and the activation layers.
 */
#include "layers/layer.h"
#include "layers/augment.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- registry ------------------------------------------------------------------------------ */

/* One line per kind (kept so by clang-format off): adding a layer kind is adding a line. */
/* clang-format off */
const fv_layer_kind *const fv__layer_kinds[] = {
    &fv__kind_conv2d,
    &fv__kind_maxpool2d,
    &fv__kind_dropout,
    &fv__kind_flatten,
    &fv__kind_dense,
    &fv__kind_activation,
    &fv__kind_relu,
    &fv__kind_sigmoid,
    &fv__kind_tanh,
    &fv__kind_leaky_relu,
    &fv__kind_elu,
    &fv__kind_softmax,
    &fv__kind_maxout,
    &fv__kind_add,
    &fv__kind_subtract,
    &fv__kind_multiply,
    &fv__kind_average,
    &fv__kind_maximum,
    &fv__kind_concatenate,
    &fv__kind_batch_normalization,
    &fv__kind_global_average_pooling2d,
    &fv__kind_global_max_pooling2d,
    &fv__kind_average_pooling2d,
    &fv__kind_upsampling2d,
    &fv__kind_zero_padding2d,
    &fv__kind_cropping2d,
    &fv__kind_reshape,
    &fv__kind_conv2d_transpose,
    &fv__kind_depthwise_conv2d,
    &fv__kind_separable_conv2d,
    &fv__kind_random_flip,
    &fv__kind_random_translation,
    &fv__kind_random_rotation,
    &fv__kind_random_zoom,
    &fv__kind_random_crop,
    &fv__kind_center_crop,
    &fv__kind_resizing,
    &fv__kind_random_contrast,
    &fv__kind_random_brightness,
    &fv__kind_rescaling,
    &fv__kind_normalization,
    &fv__kind_activity_regularization,
    &fv__kind_gaussian_noise,
    &fv__kind_sampling,
    &fv__kind_yolo,
    &fv__kind_pose,
    NULL,
};
/* clang-format on */

const fv_layer_kind *fv__layer_kind_find(const char *name)
{
    for (int i = 0; fv__layer_kinds[i]; i++)
        if (strcmp(fv__layer_kinds[i]->name, name) == 0 ||
            (fv__layer_kinds[i]->alias && strcmp(fv__layer_kinds[i]->alias, name) == 0))
            return fv__layer_kinds[i];
    return NULL;
}

void fv__param_set(fv_param *p, const char *suffix, int rank, const int64_t *dims, int init,
                   bool state)
{
    memset(p, 0, sizeof *p);
    snprintf(p->suffix, sizeof p->suffix, "%s", suffix);
    p->rank = rank;
    p->size = 1;
    for (int i = 0; i < rank; i++) {
        p->dims[i] = dims[i];
        p->size *= dims[i];
    }
    p->init = init;
    p->state = state;
}

const char *const fv__activation_names[] = {
    "linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "softmax", NULL,
};

const char *const fv__padding_names[] = {"valid", "same", NULL};

fv_activation fv__layer_activation(const fv_layer *l)
{
    return l->kind->activation ? l->kind->activation(l) : FV_ACT_LINEAR;
}

/* ---- activations --------------------------------------------------------------------------- */

fv_act_kind fv__act_kind(fv_activation a)
{
    switch (a) {
    case FV_ACT_LINEAR:
        return FV_K_LINEAR;
    case FV_ACT_RELU:
        return FV_K_RELU;
    case FV_ACT_SIGMOID:
        return FV_K_SIGMOID;
    case FV_ACT_TANH:
        return FV_K_TANH;
    case FV_ACT_LEAKY_RELU:
        return FV_K_LEAKY_RELU;
    case FV_ACT_ELU:
        return FV_K_ELU;
    case FV_ACT_SOFTMAX:
        return FV_K_LINEAR;
    }
    return FV_K_LINEAR;
}

float fv__act_alpha(fv_activation a)
{
    /* keras.activations.leaky_relu(negative_slope=0.2), keras.activations.elu(alpha=1.0). The
     * LeakyReLU *layer* defaults to 0.3: that one is the leaky_relu kind's own argument. */
    if (a == FV_ACT_LEAKY_RELU) return 0.2f;
    if (a == FV_ACT_ELU) return 1.0f;
    return 0.0f;
}

void fv__act_forward_rows(fv_activation a, float alpha, float *y, int64_t rows, int64_t cols)
{
    if (a == FV_ACT_SOFTMAX)
        fv_softmax_forward(y, rows, cols);
    else
        fv_act_forward(fv__act_kind(a), alpha, y, rows * cols);
}

void fv__act_backward_rows(fv_activation a, float alpha, const float *y, float *g, int64_t rows,
                           int64_t cols)
{
    if (a == FV_ACT_SOFTMAX)
        fv_softmax_backward(y, g, rows, cols);
    else
        fv_act_backward(fv__act_kind(a), alpha, y, g, rows * cols);
}

/* ---- errors shared by the kinds ------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

fv_status fv__fail_window(const char *kind, const char *window, const fv_conv_geom *g)
{
    const int64_t span_h = g->dil_h * (g->k_h - 1) + 1, span_w = g->dil_w * (g->k_w - 1) + 1;
    char dilated[64] = "";
    if (span_h != g->k_h || span_w != g->k_w)
        snprintf(dilated, sizeof dilated, " (dilated to %lldx%lld)", (long long)span_h,
                 (long long)span_w);
    /* Show the arithmetic of the axis that fails (rows first). */
    bool rows = g->in_h < span_h;
    int64_t w = rows ? g->in_h : g->in_w, span = rows ? span_h : span_w;
    int64_t s = rows ? g->stride_h : g->stride_w;
    return fv__fail(FV_ERR_SHAPE,
                    "%s: %s %lldx%lld%s does not fit input %lldx%lld with padding=valid: "
                    "(%lld - %lld + 0)/%lld + 1 = %lld",
                    kind, window, (long long)g->k_h, (long long)g->k_w, dilated, (long long)g->in_h,
                    (long long)g->in_w, (long long)w, (long long)span, (long long)s,
                    (long long)(floor_div(w - span, s) + 1));
}

fv_status fv__window_geom(const fv_layer *l, const char *window, const int64_t k[2],
                          const int64_t s[2], const int64_t d[2], bool same, int64_t out_c,
                          fv_conv_geom *g)
{
    const char *kind = l->kind->name;
    if (l->in[0].rank != 3) {
        char in[96];
        fv__shape_format(&l->in[0], in, sizeof in);
        return fv__fail(FV_ERR_SHAPE,
                        "%s: input %s has rank %d; %s needs images (None, height, width, channels)",
                        kind, in, l->in[0].rank, kind);
    }
    memset(g, 0, sizeof *g);
    g->in_h = l->in[0].d[0], g->in_w = l->in[0].d[1], g->in_c = l->in[0].d[2];
    g->k_h = k[0], g->k_w = k[1];
    g->stride_h = s[0], g->stride_w = s[1];
    g->dil_h = d[0], g->dil_w = d[1];
    g->out_c = out_c;
    /* Spans beyond any real image are rejected before the window arithmetic can overflow. */
    int64_t span_h, span_w;
    if (!fv__mul_i64(g->dil_h, g->k_h, &span_h) || !fv__mul_i64(g->dil_w, g->k_w, &span_w))
        return fv__fail(FV_ERR_SHAPE, "%s: %s size times dilation_rate is too large", kind, window);
    g->out_h = fv_conv_out_size(g->in_h, g->k_h, g->stride_h, g->dil_h, same, &g->pad_top);
    g->out_w = fv_conv_out_size(g->in_w, g->k_w, g->stride_w, g->dil_w, same, &g->pad_left);
    if (g->out_h < 1 || g->out_w < 1) return fv__fail_window(kind, window, g);
    return FV_OK;
}

/* ---- arguments ----------------------------------------------------------------------------- */

/* The kind whose table spec is, to name it in messages ("conv2d: ..."); "" for other tables. */
static const char *owner_prefix(const fv_arg_spec *spec, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; fv__layer_kinds[i]; i++)
        if (fv__layer_kinds[i]->args == spec) {
            snprintf(buf, n, "%s: ", fv__layer_kinds[i]->name);
            break;
        }
    return buf;
}

static bool is_none_default(const fv_arg_spec *a)
{
    return a->def && strcmp(a->def, "None") == 0;
}

/* How None is stored for an argument whose default is None: the integer just below its range
 * (0 for maxpool2d's strides, whose minimum is 1; -1 for conv2d_transpose's output_padding,
 * where 0 is a value of its own). */
static int64_t none_value(const fv_arg_spec *a)
{
    return (int64_t)a->min - 1;
}

/* A decimal integer, optional sign, nothing else (no spaces, no trailing text). */
static bool parse_int(const char *s, int64_t *out)
{
    if (!(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9'))) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

/* A finite decimal number, nothing else. */
static bool parse_float(const char *s, double *out)
{
    if (!(*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9'))) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE && fabs(v) > 1.0) return false;
    if (end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Comma-separated items, each parsed by one(text, &out[n]) (an int64_t or a double parser): up to
 * max of them; returns the count, -1 if malformed. */
static int parse_list(const char *s, void *out, size_t item, int max,
                      bool (*one)(const char *, void *))
{
    int n = 0;
    char buf[64];
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (n == max || len == 0 || len >= sizeof buf) return -1;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (!one(buf, (char *)out + (size_t)n++ * item)) return -1;
        if (!comma) return n;
        s = comma + 1;
    }
}

static bool parse_int_item(const char *s, void *out)
{
    return parse_int(s, out);
}

static bool parse_float_item(const char *s, void *out)
{
    return parse_float(s, out);
}

/* Comma-separated integers: up to max of them into out; returns the count, -1 if malformed. */
static int parse_int_list(const char *s, int64_t *out, int max)
{
    return parse_list(s, out, sizeof *out, max, parse_int_item);
}

/* Comma-separated finite numbers: up to max of them into out; returns the count, -1 if
 * malformed. */
static int parse_float_list(const char *s, double *out, int max)
{
    return parse_list(s, out, sizeof *out, max, parse_float_item);
}

/* Shortest text that reads back as exactly v. */
/* v[0..n) as "a,b,c" into val (size bytes; "" for none), cut at the end of val. */
static void format_ints(const int64_t *v, int n, char *val, size_t size)
{
    size_t u = 0;
    val[0] = '\0';
    for (int d = 0; d < n && u < size; d++)
        u += (size_t)snprintf(val + u, size - u, "%s%lld", d ? "," : "", (long long)v[d]);
}

static void format_double(double v, char *buf, size_t n)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static fv_status check_range(const char *pre, const fv_arg_spec *a, const char *value, double v)
{
    char lim[32];
    if (v < a->min) {
        format_double(a->min, lim, sizeof lim);
        return fv__fail(FV_ERR_INVALID, "%sargument %s=%s: must be at least %s", pre, a->key, value,
                        lim);
    }
    if (v > a->max) {
        format_double(a->max, lim, sizeof lim);
        return fv__fail(FV_ERR_INVALID, "%sargument %s=%s: must be at most %s", pre, a->key, value,
                        lim);
    }
    return FV_OK;
}

static size_t choices_list(const char *const *choices, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; choices[i] && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", choices[i]);
    return used;
}

/* Levenshtein distance, for "did you mean"; long strings count as far apart. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXL = 40 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXL || lb >= MAXL) return 1000;
    int row[MAXL + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of names (NULL-terminated) to word if it is close enough to be a likely typo,
 * else NULL. */
static const char *closest(const char *word, const char *const *names)
{
    const char *best = NULL;
    int best_d = 1000;
    for (const char *const *p = names; *p; p++) {
        int d = edit_distance(word, *p);
        size_t lw = strlen(word), lp = strlen(*p);
        /* A prefix of at least 3 characters also counts ("kernel" for "kernel_size"). */
        if (lw >= 3 && lw < lp && strncmp(word, *p, lw) == 0 && d > 2) d = 2;
        if (d < best_d) best_d = d, best = *p;
    }
    size_t lw = strlen(word);
    int limit = lw <= 3 ? 1 : lw <= 6 ? 2 : 3;
    return best_d <= limit ? best : NULL;
}

/* Parses value for argument a into dst (a->type's C type); FV_OK or an error naming it. */
static fv_status parse_value(const char *pre, const fv_arg_spec *a, const char *value, void *dst)
{
    switch (a->type) {
    case FV_ARG_INT: {
        int64_t v;
        if (is_none_default(a) && strcmp(value, "None") == 0) {
            v = none_value(a);
        } else {
            if (!parse_int(value, &v))
                return fv__fail(FV_ERR_INVALID, "%sargument %s=%s: expected an integer", pre,
                                a->key, value);
            fv_status s = check_range(pre, a, value, (double)v);
            if (s) return s;
        }
        memcpy(dst, &v, sizeof v);
        return FV_OK;
    }
    case FV_ARG_PAIR: {
        int64_t v[2] = {none_value(a), none_value(a)};
        if (!(is_none_default(a) && strcmp(value, "None") == 0)) {
            int n = parse_int_list(value, v, 2);
            if (n < 0)
                return fv__fail(FV_ERR_INVALID,
                                "%sargument %s=%s: expected an integer or two integers as "
                                "rows,cols (3 or 3,2)",
                                pre, a->key, value);
            if (n == 1) v[1] = v[0];
            for (int i = 0; i < 2; i++) {
                fv_status s = check_range(pre, a, value, (double)v[i]);
                if (s) return s;
            }
        }
        memcpy(dst, v, sizeof v);
        return FV_OK;
    }
    case FV_ARG_FLOAT: {
        double v;
        if (is_none_default(a) && strcmp(value, "None") == 0) {
            v = NAN;
            memcpy(dst, &v, sizeof v);
            return FV_OK;
        }
        if (!parse_float(value, &v))
            return fv__fail(FV_ERR_INVALID, "%sargument %s=%s: expected a number", pre, a->key,
                            value);
        fv_status s = check_range(pre, a, value, v);
        if (s) return s;
        memcpy(dst, &v, sizeof v);
        return FV_OK;
    }
    case FV_ARG_BOOL: {
        bool v;
        if (strcmp(value, "true") == 0 || strcmp(value, "True") == 0)
            v = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "False") == 0)
            v = false;
        else
            return fv__fail(FV_ERR_INVALID, "%sargument %s=%s: expected true or false", pre, a->key,
                            value);
        memcpy(dst, &v, sizeof v);
        return FV_OK;
    }
    case FV_ARG_CHOICE: {
        for (int i = 0; a->choices[i]; i++)
            if (strcmp(a->choices[i], value) == 0) {
                memcpy(dst, &i, sizeof i);
                return FV_OK;
            }
        char list[512], hint[96] = "";
        choices_list(a->choices, list, sizeof list);
        const char *near = closest(value, a->choices);
        if (near) snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
        return fv__fail(FV_ERR_INVALID, "%sargument %s=%s: expected one of %s%s", pre, a->key,
                        value, list, hint);
    }
    case FV_ARG_REGULARIZER: {
        fv_regularizer r = {0, 0};
        const char *colon = strchr(value, ':');
        double f1 = 0, f2 = 0;
        bool ok = strcmp(value, "None") == 0;
        if (!ok && colon) {
            const size_t klen = (size_t)(colon - value);
            char nums[64];
            snprintf(nums, sizeof nums, "%s", colon + 1);
            char *comma = strchr(nums, ',');
            if (comma) *comma = '\0';
            ok = parse_float(nums, &f1) && f1 >= 0 &&
                 (!comma || (parse_float(comma + 1, &f2) && f2 >= 0));
            if (ok && klen == 2 && strncmp(value, "l1", 2) == 0 && !comma)
                r.l1 = f1;
            else if (ok && klen == 2 && strncmp(value, "l2", 2) == 0 && !comma)
                r.l2 = f1;
            else if (ok && klen == 5 && strncmp(value, "l1_l2", 5) == 0 && comma)
                r.l1 = f1, r.l2 = f2;
            else
                ok = false;
        }
        if (!ok)
            return fv__fail(FV_ERR_INVALID,
                            "%sargument %s=%s: expected l2:FACTOR, l1:FACTOR, l1_l2:L1,L2 (factors "
                            ">= 0, as Keras' L1L2) or None",
                            pre, a->key, value);
        memcpy(dst, &r, sizeof r);
        return FV_OK;
    }
    case FV_ARG_SHAPE: {
        fv_shape sh = {0};
        int n = parse_int_list(value, sh.d, 4);
        if (n != 1 && n != 3)
            return fv__fail(FV_ERR_INVALID,
                            "%sargument %s=%s: expected a shape of 1 or 3 dimensions "
                            "(features, or height,width,channels as 28,28,1)",
                            pre, a->key, value);
        for (int i = 0; i < n; i++)
            if (sh.d[i] < 1 || sh.d[i] > FV_ARG_DIM_MAX)
                return fv__fail(FV_ERR_INVALID,
                                "%sargument %s=%s: dimension %d is %lld; dimensions must be "
                                "between 1 and %.0f",
                                pre, a->key, value, i + 1, (long long)sh.d[i], FV_ARG_DIM_MAX);
        sh.rank = n;
        if (fv__shape_size(&sh) < 0)
            return fv__fail(FV_ERR_INVALID, "%sargument %s=%s: the shape is too large", pre, a->key,
                            value);
        memcpy(dst, &sh, sizeof sh);
        return FV_OK;
    }
    case FV_ARG_INTS: {
        fv_ints v = {0};
        v.n = parse_int_list(value, v.v, 4);
        if (v.n < 1)
            return fv__fail(FV_ERR_INVALID,
                            "%sargument %s=%s: expected 1 to 4 integers separated by commas", pre,
                            a->key, value);
        for (int i = 0; i < v.n; i++) {
            fv_status s = check_range(pre, a, value, (double)v.v[i]);
            if (s) return s;
        }
        memcpy(dst, &v, sizeof v);
        return FV_OK;
    }
    case FV_ARG_FLOATS: {
        fv_floats v = {0};
        if (!(is_none_default(a) && strcmp(value, "None") == 0)) {
            v.n = parse_float_list(value, v.v, FV_FLOATS_MAX);
            if (v.n < 1)
                return fv__fail(FV_ERR_INVALID,
                                "%sargument %s=%s: expected 1 to %d numbers separated by commas",
                                pre, a->key, value, FV_FLOATS_MAX);
            for (int i = 0; i < v.n; i++) {
                fv_status s = check_range(pre, a, value, v.v[i]);
                if (s) return s;
            }
        }
        memcpy(dst, &v, sizeof v);
        return FV_OK;
    }
    }
    FV_ASSERT(!"unknown argument type");
    return FV_ERR_INVALID;
}

/* The size of a type's C value in a config struct. */
static size_t arg_size(fv_arg_type t)
{
    switch (t) {
    case FV_ARG_INT:
        return sizeof(int64_t);
    case FV_ARG_PAIR:
        return 2 * sizeof(int64_t);
    case FV_ARG_FLOAT:
        return sizeof(double);
    case FV_ARG_BOOL:
        return sizeof(bool);
    case FV_ARG_CHOICE:
        return sizeof(int);
    case FV_ARG_SHAPE:
        return sizeof(fv_shape);
    case FV_ARG_REGULARIZER:
        return sizeof(fv_regularizer);
    case FV_ARG_INTS:
        return sizeof(fv_ints);
    case FV_ARG_FLOATS:
        return sizeof(fv_floats);
    }
    FV_ASSERT(!"unknown argument type");
    return 0;
}

/* Zero of a's C type, for required arguments before they are given. */
static void zero_value(const fv_arg_spec *a, void *dst)
{
    memset(dst, 0, arg_size(a->type));
}

fv_status fv__args_defaults(const fv_arg_spec *spec, void *cfg)
{
    char pre[80];
    for (int i = 0; spec[i].key; i++) {
        FV_ASSERT(i < 64); /* `given` is a 64-bit mask */
        const fv_arg_spec *a = &spec[i];
        void *dst = (char *)cfg + a->offset;
        if (!a->def) {
            zero_value(a, dst);
            continue;
        }
        fv_status s = parse_value(owner_prefix(spec, pre, sizeof pre), a, a->def, dst);
        if (s) {
            fv__error_prefix("internal error: bad default: ");
            return s;
        }
    }
    return FV_OK;
}

fv_status fv__args_set(const fv_arg_spec *spec, void *cfg, const char *key, const char *value,
                       uint64_t *given)
{
    char pre[80];
    owner_prefix(spec, pre, sizeof pre);
    for (int i = 0; spec[i].key; i++) {
        if (strcmp(spec[i].key, key) != 0) continue;
        /* Room for the largest argument type (fv_floats: 152 bytes; ASan found the old buffer of
         * sizeof(fv_shape) + sizeof(fv_ints) overrun by anchors=). */
        union {
            int64_t i[2];
            double d;
            fv_shape shape;
            fv_regularizer reg;
            fv_ints ints;
            fv_floats floats;
        } tmp;
        fv_status s = parse_value(pre, &spec[i], value, &tmp);
        if (s) return s;
        /* Copied only once the whole value parsed: a failure leaves cfg as it was. */
        memcpy((char *)cfg + spec[i].offset, &tmp, arg_size(spec[i].type));
        if (given) *given |= (uint64_t)1 << i;
        return FV_OK;
    }

    /* Unknown key: list the known ones, and suggest the nearest. */
    if (!spec[0].key)
        return fv__fail(FV_ERR_INVALID, "%sunknown argument '%s' (%stakes no arguments)", pre, key,
                        pre[0] ? "this layer " : "");
    char list[512], hint[96] = "";
    const char *keys[65];
    size_t used = 0;
    int nkeys = 0;
    list[0] = '\0';
    for (; spec[nkeys].key && nkeys < 64; nkeys++) {
        keys[nkeys] = spec[nkeys].key;
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", nkeys ? ", " : "",
                                     spec[nkeys].key);
    }
    keys[nkeys] = NULL;
    const char *near = closest(key, keys);
    if (near) snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
    return fv__fail(FV_ERR_INVALID, "%sunknown argument '%s' (known: %s)%s", pre, key, list, hint);
}

size_t fv__args_format(const fv_arg_spec *spec, const void *cfg, uint64_t given, char *buf,
                       size_t n)
{
    size_t used = 0;
    if (n) buf[0] = '\0';
    for (int i = 0; spec[i].key; i++) {
        if (!(given & ((uint64_t)1 << i))) continue;
        const fv_arg_spec *a = &spec[i];
        const void *src = (const char *)cfg + a->offset;
        char val[512];
        switch (a->type) {
        case FV_ARG_INT: {
            int64_t v;
            memcpy(&v, src, sizeof v);
            if (is_none_default(a) && v == none_value(a))
                snprintf(val, sizeof val, "None");
            else
                snprintf(val, sizeof val, "%lld", (long long)v);
            break;
        }
        case FV_ARG_PAIR: {
            int64_t v[2];
            memcpy(v, src, sizeof v);
            if (is_none_default(a) && v[0] == none_value(a) && v[1] == none_value(a))
                snprintf(val, sizeof val, "None");
            else if (v[0] == v[1])
                snprintf(val, sizeof val, "%lld", (long long)v[0]);
            else
                snprintf(val, sizeof val, "%lld,%lld", (long long)v[0], (long long)v[1]);
            break;
        }
        case FV_ARG_FLOAT: {
            double v;
            memcpy(&v, src, sizeof v);
            if (isnan(v) && is_none_default(a))
                snprintf(val, sizeof val, "None");
            else
                format_double(v, val, sizeof val);
            break;
        }
        case FV_ARG_BOOL: {
            bool v;
            memcpy(&v, src, sizeof v);
            snprintf(val, sizeof val, "%s", v ? "true" : "false");
            break;
        }
        case FV_ARG_CHOICE: {
            int v;
            memcpy(&v, src, sizeof v);
            snprintf(val, sizeof val, "%s", a->choices[v]);
            break;
        }
        case FV_ARG_REGULARIZER: {
            fv_regularizer r;
            char x[40], y[40];
            memcpy(&r, src, sizeof r);
            format_double(r.l1, x, sizeof x);
            format_double(r.l2, y, sizeof y);
            if (r.l1 == 0 && r.l2 == 0)
                snprintf(val, sizeof val, "None");
            else if (r.l1 == 0)
                snprintf(val, sizeof val, "l2:%s", y);
            else if (r.l2 == 0)
                snprintf(val, sizeof val, "l1:%s", x);
            else
                snprintf(val, sizeof val, "l1_l2:%s,%s", x, y);
            break;
        }
        case FV_ARG_SHAPE: {
            fv_shape sh;
            memcpy(&sh, src, sizeof sh);
            format_ints(sh.d, sh.rank, val, sizeof val);
            break;
        }
        case FV_ARG_INTS: {
            fv_ints v;
            memcpy(&v, src, sizeof v);
            format_ints(v.v, v.n, val, sizeof val);
            break;
        }
        case FV_ARG_FLOATS: {
            fv_floats v;
            memcpy(&v, src, sizeof v);
            size_t u = 0;
            val[0] = '\0';
            if (v.n == 0) snprintf(val, sizeof val, "None");
            for (int d = 0; d < v.n && u < sizeof val; d++) {
                char num[40];
                format_double(v.v[d], num, sizeof num);
                u += (size_t)snprintf(val + u, sizeof val - u, "%s%s", d ? "," : "", num);
            }
            break;
        }
        }
        int w = snprintf(used < n ? buf + used : NULL, used < n ? n - used : 0, "%s%s=%s",
                         used ? " " : "", a->key, val);
        used += (size_t)w;
    }
    return used;
}

fv_status fv__args_check_required(const fv_layer *l)
{
    const fv_arg_spec *spec = l->kind->args;
    for (int i = 0; spec[i].key; i++)
        if (!spec[i].def && !(l->given & ((uint64_t)1 << i)))
            return fv__fail(FV_ERR_INVALID, "%s: missing required argument '%s'", l->kind->name,
                            spec[i].key);
    return FV_OK;
}
