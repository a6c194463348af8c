/* metrics.c — evaluation metrics (fovea.h, "Metrics") and the per-epoch accumulator behind
 * compile's metrics=... (metrics.h). Counts (confusion matrix, error sums) are updated batch by
 * batch; AUC and average precision sort each class's scores once at the end, exactly as
 * scikit-learn's roc_auc_score and average_precision_score do.
 */
#include "train/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Keras' backend epsilon: probabilities are clipped to [EPS, 1 - EPS] before a log. */
#define CE_EPS 1e-7

/* ---- metric names --------------------------------------------------------------------------- */

enum {
    G_ACCURACY,
    G_CROSSENTROPY,
    G_PRECISION,
    G_RECALL,
    G_F1,
    G_ROC_AUC,
    G_AP,
    G_MAP,
    G_MSE,
    G_RMSE,
    G_MAE,
    G_CONFUSION,
    G_LOSS, /* the model's loss, when fv_metrics_set_loss gave it */
    G_COUNT
};

typedef struct group_info {
    const char *name;    /* in `select`, JSON and fv_metrics_get */
    const char *history; /* in compile's metrics= and the history; NULL: not a training metric */
    bool regression;     /* also applies to a regression model */
} group_info;

static const group_info groups[G_COUNT] = {
    [G_ACCURACY] = {"accuracy", "accuracy", false},
    [G_CROSSENTROPY] = {"crossentropy", "crossentropy", false},
    [G_PRECISION] = {"precision", "precision", false},
    [G_RECALL] = {"recall", "recall", false},
    [G_F1] = {"f1", "f1", false},
    [G_ROC_AUC] = {"roc_auc", "auc", false},
    [G_AP] = {"average_precision", "prc", false},
    [G_MAP] = {"mean_average_precision", "map", false},
    [G_MSE] = {"mse", "mse", true},
    [G_RMSE] = {"rmse", "rmse", true},
    [G_MAE] = {"mae", "mae", true},
    [G_CONFUSION] = {"confusion_matrix", NULL, false},
    [G_LOSS] = {"loss", NULL, true},
};

static const struct {
    const char *alias;
    int group;
} aliases[] = {
    {"acc", G_ACCURACY}, {"f1_score", G_F1}, {"auc", G_ROC_AUC},         {"pr_auc", G_AP},
    {"prc", G_AP},       {"map", G_MAP},     {"confusion", G_CONFUSION},
};

/* The group named by s[0..len) (a name, a history name or an alias), -1 if none. */
static int group_find(const char *s, size_t len)
{
    for (int g = 0; g < G_COUNT; g++) {
        const char *h = groups[g].history;
        if (strlen(groups[g].name) == len && memcmp(groups[g].name, s, len) == 0) return g;
        if (h && strlen(h) == len && memcmp(h, s, len) == 0) return g;
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strlen(aliases[i].alias) == len && memcmp(aliases[i].alias, s, len) == 0)
            return aliases[i].group;
    return -1;
}

/* "accuracy, crossentropy, ..." for error messages: the names valid for the task. */
static void valid_names(char *buf, size_t n, bool regression, bool history)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int g = 0; g < G_COUNT; g++) {
        const char *name = history ? groups[g].history : groups[g].name;
        if (!name || (regression && !groups[g].regression)) continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", name);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits a comma-separated list into groups (a bit each in *mask). order/count (may be NULL)
 * receive the groups in the order given; with `history` (compile's metrics=) duplicates are
 * errors and only training metrics are known. */
static fv_status parse_names(const char *list, bool regression, bool history, unsigned *mask,
                             int *order, int *count)
{
    char valid[512];
    *mask = 0;
    if (count) *count = 0;
    if (!list) return FV_OK;
    const char *p = list;
    while (*p) {
        while (is_space(*p))
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && is_space(last[-1]))
            last--;
        size_t len = (size_t)(last - p);
        if (len) {
            int g = group_find(p, len);
            if (g >= 0 && history && !groups[g].history) g = -1;
            if (g < 0 || (regression && !groups[g].regression)) {
                valid_names(valid, sizeof valid, regression, history);
                if (g < 0)
                    return fv__fail(FV_ERR_INVALID, "unknown metric '%.*s'; valid metrics: %s",
                                    (int)len, p, valid);
                return fv__fail(FV_ERR_INVALID,
                                "metric '%.*s' does not apply to a regression model; valid "
                                "metrics: %s",
                                (int)len, p, valid);
            }
            if (history && (*mask & (1u << g)))
                return fv__fail(FV_ERR_INVALID, "metric '%.*s' is given twice", (int)len, p);
            if (!(*mask & (1u << g)) && order) order[(*count)++] = g;
            *mask |= 1u << g;
        }
        p = *end ? end + 1 : end;
    }
    return FV_OK;
}

/* The groups of a writer's `select`: NULL, "" and "all" select every group of the task. */
static fv_status parse_select(const char *select, bool regression, unsigned *mask)
{
    const char *p = select;
    while (p && is_space(*p))
        p++;
    if (!p || !*p || strcmp(p, "all") == 0) {
        *mask = 0;
        for (int g = 0; g < G_COUNT; g++)
            if (!regression || groups[g].regression) *mask |= 1u << g;
        return FV_OK;
    }
    fv_status s = parse_names(select, regression, false, mask, NULL, NULL);
    if (s == FV_OK && *mask == 0) s = fv__fail(FV_ERR_INVALID, "no metric named in '%s'", select);
    return s;
}

fv_status fv_metrics_check_select(const char *select, bool regression)
{
    unsigned mask;
    return parse_select(select, regression, &mask);
}

const char *fv__metric_canonical(const char *name)
{
    if (!name) return NULL;
    int g = group_find(name, strlen(name));
    return g >= 0 ? groups[g].history : NULL;
}

fv_status fv__metric_check_names(const char *names, bool regression)
{
    unsigned mask;
    return parse_names(names, regression, true, &mask, NULL, NULL);
}

/* ---- the figures ---------------------------------------------------------------------------- */

struct fv_metrics {
    bool regression;
    bool ranked;  /* auc and ap hold values */
    int64_t n, k; /* samples counted, model outputs */
    int64_t nc;   /* classes: max(k, 2); outputs for a regression */
    /* counts, updated per batch */
    int64_t *confusion; /* nc × nc, row the true class */
    double ce_sum, se_sum, ae_sum;
    /* derived by finish() */
    int64_t *support, *predicted; /* nc */
    double *prf[3];               /* precision, recall, f1 per class (nc each) */
    double *auc, *ap;             /* nc, NaN where undefined */
    double avg[3][3];             /* [precision|recall|f1][macro|micro|weighted] */
    int64_t present;              /* classes among labels or predictions */
    double accuracy, crossentropy, mse, rmse, mae;
    double loss; /* fv_metrics_set_loss, else NaN */
    bool has_loss;
    double auc_macro, ap_macro;
    int64_t auc_classes, ap_classes; /* classes where each is defined */
};

enum { AVG_MACRO, AVG_MICRO, AVG_WEIGHTED };

/* Allocates the per-class arrays (one block) of an empty report. */
static fv_status metrics_init(fv_metrics *m, bool regression, int64_t k)
{
    memset(m, 0, sizeof *m);
    m->regression = regression;
    m->k = k;
    m->nc = regression ? k : (k < 2 ? 2 : k);
    if (regression) return FV_OK;
    int64_t cells, words;
    if (!fv__mul_i64(m->nc, m->nc, &cells) || !fv__add_i64(cells, 9 * m->nc, &words) ||
        (uint64_t)words > SIZE_MAX / 8)
        return fv__fail(FV_ERR_NOMEM, "metrics: %" PRId64 " classes are too many", m->nc);
    void *block = calloc((size_t)words, 8);
    if (!block)
        return fv__fail(FV_ERR_NOMEM, "metrics: out of memory for %" PRId64 " classes", m->nc);
    int64_t *iw = block;
    m->confusion = iw;
    m->support = iw + cells;
    m->predicted = m->support + m->nc;
    double *dw = (double *)(m->predicted + m->nc);
    for (int i = 0; i < 3; i++)
        m->prf[i] = dw + i * m->nc;
    m->auc = dw + 3 * m->nc;
    m->ap = dw + 4 * m->nc;
    return FV_OK;
}

static void metrics_release(fv_metrics *m)
{
    free(m->confusion);
    m->confusion = NULL;
}

static void metrics_clear_counts(fv_metrics *m)
{
    m->n = 0;
    m->ce_sum = m->se_sum = m->ae_sum = 0;
    m->ranked = false;
    if (m->confusion) memset(m->confusion, 0, (size_t)(m->nc * m->nc) * sizeof *m->confusion);
}

/* Checks a batch before anything of it is counted. */
static fv_status check_classification(const float *y, const int32_t *labels, int64_t n, int64_t k)
{
    if (n > 0 && (!y || !labels)) return fv__fail(FV_ERR_INVALID, "metrics: NULL scores or labels");
    int64_t classes = k < 2 ? 2 : k;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= classes)
            return fv__fail(FV_ERR_INVALID,
                            "metrics: label %" PRId32 " of sample %" PRId64
                            " is outside 0..%" PRId64,
                            labels[i], i, classes - 1);
        for (int64_t c = 0; c < k; c++)
            if (!isfinite(y[i * k + c]))
                return fv__fail(FV_ERR_NUMERIC,
                                "metrics: score %g of sample %" PRId64 ", column %" PRId64
                                " is not finite",
                                (double)y[i * k + c], i, c);
    }
    return FV_OK;
}

static fv_status check_regression(const float *y, const float *t, int64_t n, int64_t k)
{
    if (n > 0 && (!y || !t)) return fv__fail(FV_ERR_INVALID, "metrics: NULL outputs or targets");
    for (int64_t i = 0; i < n * k; i++) {
        if (!isfinite(y[i]))
            return fv__fail(FV_ERR_NUMERIC,
                            "metrics: output %g of sample %" PRId64 ", column %" PRId64
                            " is not finite",
                            (double)y[i], i / k, i % k);
        if (!isfinite(t[i]))
            return fv__fail(FV_ERR_NUMERIC,
                            "metrics: target %g of sample %" PRId64 ", column %" PRId64
                            " is not finite",
                            (double)t[i], i / k, i % k);
    }
    return FV_OK;
}

/* The predicted class: argmax (first on ties), or p > 0.5 for one output (Keras' threshold). */
static int64_t predict(const float *row, int64_t k)
{
    if (k == 1) return row[0] > 0.5f ? 1 : 0;
    int64_t best = 0;
    for (int64_t c = 1; c < k; c++)
        if (row[c] > row[best]) best = c;
    return best;
}

static double clip(double p)
{
    return p < CE_EPS ? CE_EPS : p > 1.0 - CE_EPS ? 1.0 - CE_EPS : p;
}

/* Keras' cross-entropy of one sample: binary for one output, else categorical with the row
 * normalised to sum 1 (when its sum is positive). */
static double crossentropy(const float *row, int64_t k, int32_t y)
{
    if (k == 1) {
        double p = clip(row[0]);
        return y ? -log(p) : -log(1.0 - p);
    }
    double sum = 0;
    for (int64_t c = 0; c < k; c++)
        sum += row[c];
    double p = row[y];
    if (sum > 0) p /= sum;
    return -log(clip(p));
}

static void count_classification(fv_metrics *m, const float *y, const int32_t *labels, int64_t n)
{
    const int64_t k = m->k, nc = m->nc;
    for (int64_t i = 0; i < n; i++) {
        const float *row = y + i * k;
        int32_t t = labels[i];
        m->confusion[t * nc + predict(row, k)]++;
        m->ce_sum += crossentropy(row, k, t);
        for (int64_t c = 0; c < k; c++) {
            double target = k == 1 ? (double)t : (double)(c == t);
            double d = (double)row[c] - target;
            m->se_sum += d * d;
            m->ae_sum += fabs(d);
        }
    }
    m->n += n;
}

static void count_regression(fv_metrics *m, const float *y, const float *t, int64_t n)
{
    for (int64_t i = 0; i < n * m->k; i++) {
        double d = (double)y[i] - (double)t[i];
        m->se_sum += d * d;
        m->ae_sum += fabs(d);
    }
    m->n += n;
}

/* Everything that follows from the counts: accuracy, errors, precision, recall, F1. */
static void finish_counts(fv_metrics *m)
{
    const double n = (double)m->n;
    double cells = n * (double)m->k;
    m->mse = m->n ? m->se_sum / cells : NAN;
    m->rmse = sqrt(m->mse);
    m->mae = m->n ? m->ae_sum / cells : NAN;
    if (m->regression) return;

    const int64_t nc = m->nc;
    int64_t correct = 0;
    memset(m->support, 0, (size_t)nc * sizeof *m->support);
    memset(m->predicted, 0, (size_t)nc * sizeof *m->predicted);
    for (int64_t t = 0; t < nc; t++)
        for (int64_t p = 0; p < nc; p++) {
            int64_t v = m->confusion[t * nc + p];
            m->support[t] += v;
            m->predicted[p] += v;
            if (t == p) correct += v;
        }
    m->accuracy = m->n ? (double)correct / n : NAN;
    m->crossentropy = m->n ? m->ce_sum / n : NAN;

    double macro[3] = {0, 0, 0}, weighted[3] = {0, 0, 0};
    m->present = 0;
    for (int64_t c = 0; c < nc; c++) {
        int64_t tp = m->confusion[c * nc + c], pred = m->predicted[c], sup = m->support[c];
        /* zero_division = 0, as scikit-learn's default */
        m->prf[0][c] = pred ? (double)tp / (double)pred : 0.0;
        m->prf[1][c] = sup ? (double)tp / (double)sup : 0.0;
        m->prf[2][c] = pred + sup ? 2.0 * (double)tp / (double)(pred + sup) : 0.0;
        if (pred || sup) {
            m->present++;
            for (int i = 0; i < 3; i++)
                macro[i] += m->prf[i][c];
        }
        for (int i = 0; i < 3; i++)
            weighted[i] += (double)sup * m->prf[i][c];
    }
    for (int i = 0; i < 3; i++) {
        m->avg[i][AVG_MACRO] = m->present ? macro[i] / (double)m->present : NAN;
        m->avg[i][AVG_MICRO] = m->accuracy; /* one label per sample: Σtp / n */
        m->avg[i][AVG_WEIGHTED] = m->n ? weighted[i] / n : NAN;
    }
}

/* ---- exact ROC AUC and average precision ---------------------------------------------------- */

typedef struct rank_item {
    float key;
    int32_t positive;
} rank_item;

static int by_key_descending(const void *a, const void *b)
{
    float x = ((const rank_item *)a)->key, y = ((const rank_item *)b)->key;
    return (x < y) - (x > y);
}

/* One class against the rest, from scores [n × k] and labels [n]; scratch holds n items.
 * Walks the distinct scores from the highest: a group of tied scores adds one trapezoid to the
 * ROC area, (Δfp)(tp_before + tp_after)/2, counted in integers (exact below n ≈ 4·10⁹), and
 * (ΔR)·P to the average precision. */
static void rank_class(const float *scores, const int32_t *labels, int64_t n, int64_t k, int64_t c,
                       rank_item *scratch, double *auc, double *ap)
{
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        /* one output p: class 1 ranked by p, class 0 by -p (the order of 1 - p, exactly) */
        float key = k == 1 ? (c == 1 ? scores[i] : -scores[i]) : scores[i * k + c];
        scratch[i].key = key;
        scratch[i].positive = labels[i] == c;
        pos += scratch[i].positive;
    }
    int64_t neg = n - pos;
    qsort(scratch, (size_t)n, sizeof *scratch, by_key_descending);
    int64_t tp = 0, fp = 0, area2 = 0;
    double ap_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t dtp = 0, dfp = 0, j = i;
        for (; j < n && scratch[j].key == scratch[i].key; j++) {
            dtp += scratch[j].positive;
            dfp += !scratch[j].positive;
        }
        area2 += dfp * (2 * tp + dtp);
        tp += dtp;
        fp += dfp;
        if (dtp) ap_sum += (double)dtp * ((double)tp / (double)(tp + fp));
        i = j;
    }
    *auc = pos && neg ? (double)area2 / (2.0 * (double)pos * (double)neg) : NAN;
    *ap = pos ? ap_sum / (double)pos : NAN;
}

static void rank_all(fv_metrics *m, const float *scores, const int32_t *labels, int64_t n,
                     rank_item *scratch)
{
    double auc_sum = 0, ap_sum = 0;
    m->auc_classes = m->ap_classes = 0;
    for (int64_t c = 0; c < m->nc; c++) {
        rank_class(scores, labels, n, m->k, c, scratch, &m->auc[c], &m->ap[c]);
        if (!isnan(m->auc[c])) auc_sum += m->auc[c], m->auc_classes++;
        if (!isnan(m->ap[c])) ap_sum += m->ap[c], m->ap_classes++;
    }
    m->auc_macro = m->auc_classes ? auc_sum / (double)m->auc_classes : NAN;
    m->ap_macro = m->ap_classes ? ap_sum / (double)m->ap_classes : NAN;
    m->ranked = true;
}

/* ---- public construction -------------------------------------------------------------------- */

static fv_status check_sizes(const void *a, const void *b, int64_t n, int64_t k)
{
    int64_t cells;
    if (!a || !b) return fv__fail(FV_ERR_INVALID, "metrics: NULL input");
    if (n < 1) return fv__fail(FV_ERR_INVALID, "metrics: no samples (n = %" PRId64 ")", n);
    if (k < 1) return fv__fail(FV_ERR_INVALID, "metrics: no outputs (k = %" PRId64 ")", k);
    if (!fv__mul_i64(n, k, &cells) || (uint64_t)n > SIZE_MAX / sizeof(rank_item))
        return fv__fail(FV_ERR_NOMEM, "metrics: %" PRId64 " × %" PRId64 " is too large", n, k);
    return FV_OK;
}

fv_metrics *fv_metrics_classification(const float *scores, const int32_t *labels, int64_t n,
                                      int64_t k)
{
    fv_status s = check_sizes(scores, labels, n, k);
    if (s == FV_OK) s = check_classification(scores, labels, n, k);
    if (s != FV_OK) return NULL;
    fv_metrics *m = calloc(1, sizeof *m);
    rank_item *scratch = malloc((size_t)n * sizeof *scratch);
    if (!m || !scratch || metrics_init(m, false, k) != FV_OK) {
        fv_metrics_free(m);
        free(scratch);
        fv__fail(FV_ERR_NOMEM, "metrics: out of memory for %" PRId64 " samples", n);
        return NULL;
    }
    count_classification(m, scores, labels, n);
    finish_counts(m);
    rank_all(m, scores, labels, n, scratch);
    free(scratch);
    return m;
}

fv_metrics *fv_metrics_regression(const float *outputs, const float *targets, int64_t n, int64_t k)
{
    fv_status s = check_sizes(outputs, targets, n, k);
    if (s == FV_OK) s = check_regression(outputs, targets, n, k);
    if (s != FV_OK) return NULL;
    fv_metrics *m = malloc(sizeof *m);
    if (!m) {
        fv__fail(FV_ERR_NOMEM, "metrics: out of memory");
        return NULL;
    }
    metrics_init(m, true, k); /* allocates nothing for a regression */
    count_regression(m, outputs, targets, n);
    finish_counts(m);
    return m;
}

void fv_metrics_free(fv_metrics *m)
{
    if (!m) return;
    metrics_release(m);
    free(m);
}

bool fv_metrics_is_regression(const fv_metrics *m)
{
    return m && m->regression;
}

int64_t fv_metrics_samples(const fv_metrics *m)
{
    return m ? m->n : 0;
}

int64_t fv_metrics_classes(const fv_metrics *m)
{
    return m ? m->nc : 0;
}

const int64_t *fv_metrics_confusion(const fv_metrics *m, int64_t *classes)
{
    if (classes) *classes = m && !m->regression ? m->nc : 0;
    return m && !m->regression ? m->confusion : NULL;
}

/* ---- figures by name ------------------------------------------------------------------------ */

enum { V_NONE, V_MACRO, V_MICRO, V_WEIGHTED, V_CLASS };
enum { F_PRECISION, F_RECALL, F_F1, F_ROC_AUC, F_AP, F_SUPPORT, F_COUNT };

static const struct {
    const char *prefix;
    unsigned variants; /* bit per V_ */
} families[F_COUNT] = {
    [F_PRECISION] = {"precision", 0x1f},
    [F_RECALL] = {"recall", 0x1f},
    [F_F1] = {"f1", 0x1f},
    [F_ROC_AUC] = {"roc_auc", 1u << V_NONE | 1u << V_MACRO | 1u << V_CLASS},
    [F_AP] = {"average_precision", 1u << V_NONE | 1u << V_MACRO | 1u << V_CLASS},
    [F_SUPPORT] = {"support", 1u << V_CLASS},
};

static const char valid_get_names[] =
    "accuracy, crossentropy, precision, recall, f1 (each also _macro, _micro, _weighted, "
    "_class_<c>), roc_auc, average_precision (each also _macro, _class_<c>), "
    "mean_average_precision, support_class_<c>, mse, rmse, mae";

/* The headline value of precision, recall or f1: class 1 of a binary classifier, else macro. */
static double headline_prf(const fv_metrics *m, int i)
{
    return m->k == 1 ? m->prf[i][1] : m->avg[i][AVG_MACRO];
}

/* A family name with a suffix: sets *family, *variant and *cls; false if not of that form. */
static bool parse_family(const char *name, int *family, int *variant, int64_t *cls)
{
    static const char *const suffixes[] = {"", "_macro", "_micro", "_weighted"};
    for (int f = 0; f < F_COUNT; f++) {
        size_t len = strlen(families[f].prefix);
        if (strncmp(name, families[f].prefix, len) != 0) continue;
        const char *rest = name + len;
        int v = -1;
        for (int s = 0; s < 4; s++)
            if (strcmp(rest, suffixes[s]) == 0) v = s;
        if (v < 0 && strncmp(rest, "_class_", 7) == 0 && rest[7] >= '0' && rest[7] <= '9') {
            char *end;
            long long c = strtoll(rest + 7, &end, 10);
            if (*end == '\0') v = V_CLASS, *cls = (int64_t)c;
        }
        if (v < 0 || !(families[f].variants & (1u << v))) continue;
        *family = f;
        *variant = v;
        return true;
    }
    return false;
}

fv_status fv_metrics_lookup(const fv_metrics *m, const char *name, double *value)
{
    double v = NAN;
    if (value) *value = NAN;
    if (!m || !name || !value) return fv__fail(FV_ERR_INVALID, "fv_metrics_lookup: NULL argument");
    int g = group_find(name, strlen(name));
    int family = -1, variant = V_NONE;
    int64_t cls = 0;
    if (g == G_CONFUSION)
        return fv__fail(FV_ERR_INVALID, "'%s' is not one figure: use fv_metrics_confusion", name);
    if (g < 0 && !parse_family(name, &family, &variant, &cls))
        return fv__fail(FV_ERR_INVALID, "unknown metric '%s'; valid names: %s", name,
                        valid_get_names);
    if (g >= 0 && m->regression && !groups[g].regression) return FV_OK;
    if (g < 0 && m->regression) return FV_OK;
    if (variant == V_CLASS && (cls < 0 || cls >= m->nc))
        return fv__fail(FV_ERR_INVALID, "metric '%s': class %" PRId64 " is outside 0..%" PRId64,
                        name, cls, m->nc - 1);
    if (m->n == 0) return FV_OK;
    switch (g) {
    case G_LOSS:
        v = m->has_loss ? m->loss : NAN;
        break;
    case G_ACCURACY:
        v = m->accuracy;
        break;
    case G_CROSSENTROPY:
        v = m->crossentropy;
        break;
    case G_PRECISION:
        v = headline_prf(m, 0);
        break;
    case G_RECALL:
        v = headline_prf(m, 1);
        break;
    case G_F1:
        v = headline_prf(m, 2);
        break;
    case G_ROC_AUC:
        v = m->ranked ? m->auc_macro : NAN;
        break;
    case G_AP:
        v = !m->ranked ? NAN : m->k == 1 ? m->ap[1] : m->ap_macro;
        break;
    case G_MAP:
        v = m->ranked ? m->ap_macro : NAN;
        break;
    case G_MSE:
        v = m->mse;
        break;
    case G_RMSE:
        v = m->rmse;
        break;
    case G_MAE:
        v = m->mae;
        break;
    default:
        break;
    }
    if (g < 0 && family <= F_F1) {
        if (variant == V_NONE)
            v = headline_prf(m, family);
        else if (variant == V_CLASS)
            v = m->prf[family][cls];
        else
            v = m->avg[family][variant - V_MACRO];
    } else if (g < 0 && family == F_SUPPORT) {
        v = (double)m->support[cls];
    } else if (g < 0 && m->ranked) {
        const double *per = family == F_ROC_AUC ? m->auc : m->ap;
        double macro = family == F_ROC_AUC ? m->auc_macro : m->ap_macro;
        if (variant == V_CLASS)
            v = per[cls];
        else if (variant == V_MACRO || family == F_ROC_AUC || m->k > 1)
            v = macro;
        else
            v = per[1];
    }
    *value = v;
    return FV_OK;
}

double fv_metrics_get(const fv_metrics *m, const char *name)
{
    double v;
    fv_metrics_lookup(m, name, &v);
    return v;
}

/* ---- text report ---------------------------------------------------------------------------- */

#define HAS(mask, g) (((mask) >> (g)) & 1u)

/* A number for the table: 4 decimals, "-" when undefined. */
static const char *fmt(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.4f", v);
    return buf;
}

static const char *class_label(const char *const *names, int64_t c, char *buf, size_t n)
{
    if (names && names[c]) return names[c];
    snprintf(buf, n, "%" PRId64, c);
    return buf;
}

/* "name ... value" lines of the summary, the value right-aligned. */
static void scalar_line(FILE *out, const char *name, double v, const char *note)
{
    char b[32];
    fprintf(out, "%-30s %10s%s%s\n", name, fmt(b, sizeof b, v), note ? "  " : "", note ? note : "");
}

static int digits(int64_t v)
{
    int d = 1;
    while (v >= 10)
        v /= 10, d++;
    return d;
}

/* One row of the per-class table; NAN cells in columns that do not apply are left blank when
 * `blank` has their bit. */
typedef struct table {
    int label_width;
    bool col[5]; /* precision, recall, f1, roc-auc, avg-prec */
} table;

static void table_row(FILE *out, const table *t, const char *label, const double v[5],
                      unsigned blank, int64_t support, bool *undefined)
{
    char b[32];
    fprintf(out, "%*s", t->label_width, label);
    for (int i = 0; i < 5; i++) {
        if (!t->col[i]) continue;
        if (blank & (1u << i))
            fprintf(out, " %10s", "");
        else {
            fprintf(out, " %10s", fmt(b, sizeof b, v[i]));
            if (isnan(v[i])) *undefined = true;
        }
    }
    fprintf(out, " %10" PRId64 "\n", support);
}

static void write_table(FILE *out, const fv_metrics *m, unsigned mask, const char *const *names,
                        int label_width, bool *undefined)
{
    static const char *const heads[5] = {"precision", "recall", "f1-score", "roc-auc", "avg-prec"};
    table t = {.label_width = label_width};
    t.col[0] = HAS(mask, G_PRECISION);
    t.col[1] = HAS(mask, G_RECALL);
    t.col[2] = HAS(mask, G_F1);
    t.col[3] = HAS(mask, G_ROC_AUC);
    t.col[4] = HAS(mask, G_AP);
    bool prf = t.col[0] || t.col[1] || t.col[2];
    char b[32];

    fprintf(out, "\n%*s", label_width, "");
    for (int i = 0; i < 5; i++)
        if (t.col[i]) fprintf(out, " %10s", heads[i]);
    fprintf(out, " %10s\n\n", "support");
    for (int64_t c = 0; c < m->nc; c++) {
        double v[5] = {m->prf[0][c], m->prf[1][c], m->prf[2][c], m->auc[c], m->ap[c]};
        table_row(out, &t, class_label(names, c, b, sizeof b), v, 0, m->support[c], undefined);
    }
    fprintf(out, "\n");
    const unsigned ranks = 1u << 3 | 1u << 4;
    if (prf) {
        double v[5] = {m->avg[0][AVG_MICRO], m->avg[1][AVG_MICRO], m->avg[2][AVG_MICRO], 0, 0};
        table_row(out, &t, "micro avg", v, ranks, m->n, undefined);
    }
    double v[5] = {m->avg[0][AVG_MACRO], m->avg[1][AVG_MACRO], m->avg[2][AVG_MACRO], m->auc_macro,
                   m->ap_macro};
    table_row(out, &t, "macro avg", v, 0, m->n, undefined);
    if (prf) {
        double w[5] = {m->avg[0][AVG_WEIGHTED], m->avg[1][AVG_WEIGHTED], m->avg[2][AVG_WEIGHTED], 0,
                       0};
        table_row(out, &t, "weighted avg", w, ranks, m->n, undefined);
    }
}

/* Column headers are the class names when they are no wider than the counts, else the class
 * indices, and then each row is labelled "index name". */
static void write_confusion(FILE *out, const fv_metrics *m, const char *const *names,
                            int label_width)
{
    int64_t most = 0;
    char b[32];
    for (int64_t i = 0; i < m->nc * m->nc; i++)
        if (m->confusion[i] > most) most = m->confusion[i];
    int width = digits(most), name_width = 0;
    if (digits(m->nc - 1) > width) width = digits(m->nc - 1);
    for (int64_t c = 0; c < m->nc; c++) {
        int len = (int)strlen(class_label(names, c, b, sizeof b));
        if (len > name_width) name_width = len;
    }
    bool by_index = name_width > (width < 4 ? 4 : width);
    if (by_index) {
        int w = digits(m->nc - 1) + 1 + name_width;
        if (w > label_width) label_width = w;
    } else if (name_width > width) {
        width = name_width;
    }
    fprintf(out, "\nconfusion matrix (rows: true class, columns: predicted class)\n\n%*s",
            label_width, "");
    for (int64_t c = 0; c < m->nc; c++) {
        if (by_index)
            fprintf(out, "  %*" PRId64, width, c);
        else
            fprintf(out, "  %*s", width, class_label(names, c, b, sizeof b));
    }
    fprintf(out, "\n");
    for (int64_t t = 0; t < m->nc; t++) {
        if (by_index)
            fprintf(out, "%*" PRId64 " %-*s", digits(m->nc - 1), t,
                    label_width - digits(m->nc - 1) - 1, class_label(names, t, b, sizeof b));
        else
            fprintf(out, "%*s", label_width, class_label(names, t, b, sizeof b));
        for (int64_t p = 0; p < m->nc; p++)
            fprintf(out, "  %*" PRId64, width, m->confusion[t * m->nc + p]);
        fprintf(out, "\n");
    }
}

/* "(over 9 of 10 classes)" when a macro average leaves classes out. */
static const char *over_note(char *buf, size_t n, int64_t used, int64_t all)
{
    if (used == all) return NULL;
    snprintf(buf, n, "(over %" PRId64 " of %" PRId64 " classes)", used, all);
    return buf;
}

fv_status fv_metrics_write_text(const fv_metrics *m, FILE *out, const char *select,
                                const char *const *class_names)
{
    unsigned mask;
    if (!m || !out) return fv__fail(FV_ERR_INVALID, "fv_metrics_write_text: NULL argument");
    fv_status s = parse_select(select, m->regression, &mask);
    if (s != FV_OK) return s;

    if (m->regression) {
        fprintf(out, "%-30s %10" PRId64 "\n%-30s %10" PRId64 "\n", "samples", m->n, "outputs",
                m->k);
        if (HAS(mask, G_LOSS) && m->has_loss) scalar_line(out, "loss", m->loss, NULL);
        if (HAS(mask, G_MSE)) scalar_line(out, "mse", m->mse, NULL);
        if (HAS(mask, G_RMSE)) scalar_line(out, "rmse", m->rmse, NULL);
        if (HAS(mask, G_MAE)) scalar_line(out, "mae", m->mae, NULL);
        return ferror(out) ? fv__fail(FV_ERR_IO, "metrics: writing the report failed") : FV_OK;
    }

    bool undefined = false, binary = m->k == 1;
    char b[32], note[64];
    int label_width = 12; /* "weighted avg" */
    for (int64_t c = 0; c < m->nc; c++) {
        int len = (int)strlen(class_label(class_names, c, b, sizeof b));
        if (len > label_width) label_width = len;
    }
    fprintf(out, "%-30s %10" PRId64 "\n%-30s %10" PRId64 "%s\n", "samples", m->n, "classes", m->nc,
            binary ? "  (one output p: class 1 when p > 0.5)" : "");
    if (HAS(mask, G_LOSS) && m->has_loss) scalar_line(out, "loss", m->loss, NULL);
    if (HAS(mask, G_ACCURACY)) scalar_line(out, "accuracy", m->accuracy, NULL);
    if (HAS(mask, G_CROSSENTROPY))
        scalar_line(out, binary ? "crossentropy (binary)" : "crossentropy", m->crossentropy, NULL);

    if (mask & (1u << G_PRECISION | 1u << G_RECALL | 1u << G_F1 | 1u << G_ROC_AUC | 1u << G_AP))
        write_table(out, m, mask, class_names, label_width, &undefined);

    bool summary = mask & (1u << G_ROC_AUC | 1u << G_AP | 1u << G_MAP | 1u << G_MSE | 1u << G_RMSE |
                           1u << G_MAE);
    if (binary && (mask & (1u << G_PRECISION | 1u << G_RECALL | 1u << G_F1))) summary = true;
    if (summary) fprintf(out, "\n");
    if (binary) {
        if (HAS(mask, G_PRECISION)) scalar_line(out, "precision (class 1)", m->prf[0][1], NULL);
        if (HAS(mask, G_RECALL)) scalar_line(out, "recall (class 1)", m->prf[1][1], NULL);
        if (HAS(mask, G_F1)) scalar_line(out, "f1 (class 1)", m->prf[2][1], NULL);
    }
    if (HAS(mask, G_ROC_AUC))
        scalar_line(out, binary ? "roc_auc" : "roc_auc (macro, one-vs-rest)", m->auc_macro,
                    binary ? NULL : over_note(note, sizeof note, m->auc_classes, m->nc));
    if (HAS(mask, G_AP)) {
        if (binary)
            scalar_line(out, "average_precision (class 1)", m->ap[1], NULL);
        else
            scalar_line(out, "average_precision (macro)", m->ap_macro,
                        over_note(note, sizeof note, m->ap_classes, m->nc));
    }
    if (HAS(mask, G_MAP))
        scalar_line(out, "mean_average_precision", m->ap_macro,
                    over_note(note, sizeof note, m->ap_classes, m->nc));
    if (HAS(mask, G_MSE)) scalar_line(out, "mse", m->mse, NULL);
    if (HAS(mask, G_RMSE)) scalar_line(out, "rmse", m->rmse, NULL);
    if (HAS(mask, G_MAE)) scalar_line(out, "mae", m->mae, NULL);
    if ((HAS(mask, G_ROC_AUC) && isnan(m->auc_macro)) ||
        ((HAS(mask, G_AP) || HAS(mask, G_MAP)) && isnan(m->ap_macro)))
        undefined = true;

    if (HAS(mask, G_CONFUSION)) write_confusion(out, m, class_names, label_width);
    if (undefined)
        fprintf(out, "\n-: undefined (roc-auc: a class with no positive or no negative example; "
                     "avg-prec: no positive example)\n");
    return ferror(out) ? fv__fail(FV_ERR_IO, "metrics: writing the report failed") : FV_OK;
}

/* ---- JSON report ---------------------------------------------------------------------------- */

/* The shortest of %.15g and %.17g that reads back as v; null for NaN and infinities. */
static void json_number(FILE *out, double v)
{
    char buf[40];
    if (!isfinite(v)) {
        fputs("null", out);
        return;
    }
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, out);
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void json_doubles(FILE *out, const double *v, int64_t n)
{
    fputc('[', out);
    for (int64_t i = 0; i < n; i++) {
        if (i) fputs(", ", out);
        json_number(out, v[i]);
    }
    fputc(']', out);
}

static void json_ints(FILE *out, const int64_t *v, int64_t n)
{
    fputc('[', out);
    for (int64_t i = 0; i < n; i++)
        fprintf(out, "%s%" PRId64, i ? ", " : "", v[i]);
    fputc(']', out);
}

static void json_key(FILE *out, const char *key)
{
    fputs(",\n  ", out);
    json_string(out, key);
    fputs(": ", out);
}

static void json_scalar(FILE *out, const char *key, double v)
{
    json_key(out, key);
    json_number(out, v);
}

fv_status fv_metrics_write_json(const fv_metrics *m, FILE *out, const char *select,
                                const char *const *class_names)
{
    unsigned mask;
    if (!m || !out) return fv__fail(FV_ERR_INVALID, "fv_metrics_write_json: NULL argument");
    fv_status s = parse_select(select, m->regression, &mask);
    if (s != FV_OK) return s;

    fprintf(out, "{\n  \"task\": \"%s\",\n  \"samples\": %" PRId64,
            m->regression ? "regression" : "classification", m->n);
    if (HAS(mask, G_LOSS) && m->has_loss) json_scalar(out, "loss", m->loss);
    if (m->regression) {
        fprintf(out, ",\n  \"outputs\": %" PRId64, m->k);
    } else {
        char b[32];
        json_key(out, "classes");
        fputc('[', out);
        for (int64_t c = 0; c < m->nc; c++) {
            if (c) fputs(", ", out);
            json_string(out, class_label(class_names, c, b, sizeof b));
        }
        fputc(']', out);
        if (HAS(mask, G_ACCURACY)) json_scalar(out, "accuracy", m->accuracy);
        if (HAS(mask, G_CROSSENTROPY)) json_scalar(out, "crossentropy", m->crossentropy);
        for (int i = 0; i < 3; i++) {
            if (!HAS(mask, G_PRECISION + i)) continue;
            json_key(out, groups[G_PRECISION + i].name);
            fputs("{\"value\": ", out);
            json_number(out, headline_prf(m, i));
            static const char *const avg_names[3] = {"macro", "micro", "weighted"};
            for (int a = 0; a < 3; a++) {
                fprintf(out, ", \"%s\": ", avg_names[a]);
                json_number(out, m->avg[i][a]);
            }
            fputs(", \"per_class\": ", out);
            json_doubles(out, m->prf[i], m->nc);
            fputc('}', out);
        }
        if (HAS(mask, G_ROC_AUC)) {
            json_key(out, "roc_auc");
            fputs("{\"value\": ", out);
            json_number(out, m->auc_macro);
            fputs(", \"macro\": ", out);
            json_number(out, m->auc_macro);
            fputs(", \"per_class\": ", out);
            json_doubles(out, m->auc, m->nc);
            fputc('}', out);
        }
        if (HAS(mask, G_AP)) {
            json_key(out, "average_precision");
            fputs("{\"value\": ", out);
            json_number(out, m->k == 1 ? m->ap[1] : m->ap_macro);
            fputs(", \"macro\": ", out);
            json_number(out, m->ap_macro);
            fputs(", \"per_class\": ", out);
            json_doubles(out, m->ap, m->nc);
            fputc('}', out);
        }
        if (HAS(mask, G_MAP)) json_scalar(out, "mean_average_precision", m->ap_macro);
    }
    if (HAS(mask, G_MSE)) json_scalar(out, "mse", m->mse);
    if (HAS(mask, G_RMSE)) json_scalar(out, "rmse", m->rmse);
    if (HAS(mask, G_MAE)) json_scalar(out, "mae", m->mae);
    if (!m->regression) {
        json_key(out, "support");
        json_ints(out, m->support, m->nc);
        if (HAS(mask, G_CONFUSION)) {
            json_key(out, "confusion_matrix");
            fputc('[', out);
            for (int64_t t = 0; t < m->nc; t++) {
                fputs(t ? ",\n    " : "\n    ", out);
                json_ints(out, m->confusion + t * m->nc, m->nc);
            }
            fputs("\n  ]", out);
        }
    }
    fputs("\n}\n", out);
    return ferror(out) ? fv__fail(FV_ERR_IO, "metrics: writing the JSON report failed") : FV_OK;
}

/* ---- the training-time accumulator ---------------------------------------------------------- */

struct fv__metric_acc {
    fv_metrics r; /* counts of the samples added, figures derived on demand */
    int count;
    int order[FV__METRIC_MAX]; /* groups, as given */
    bool rank;                 /* keeps every score: auc, prc or map asked for */
    int64_t capacity;
    float *scores;      /* capacity × k, when rank */
    int32_t *labels;    /* capacity, when rank */
    rank_item *scratch; /* capacity, when rank */
};

fv__metric_acc *fv__metric_acc_new(const char *names, int64_t k, bool regression, int64_t capacity)
{
    unsigned mask;
    int order[G_COUNT], count;
    if (k < 1 || capacity < 0) {
        fv__fail(FV_ERR_INVALID, "metrics: bad sizes (k = %" PRId64 ", capacity = %" PRId64 ")", k,
                 capacity);
        return NULL;
    }
    if (parse_names(names, regression, true, &mask, order, &count) != FV_OK) return NULL;
    fv__metric_acc *a = calloc(1, sizeof *a);
    if (!a || metrics_init(&a->r, regression, k) != FV_OK) {
        free(a);
        fv__fail(FV_ERR_NOMEM, "metrics: out of memory");
        return NULL;
    }
    a->count = count;
    memcpy(a->order, order, (size_t)count * sizeof *order);
    a->rank = mask & (1u << G_ROC_AUC | 1u << G_AP | 1u << G_MAP);
    a->capacity = capacity;
    if (a->rank) {
        int64_t cells;
        if (!fv__mul_i64(capacity, k, &cells) || (uint64_t)cells > SIZE_MAX / sizeof(float)) {
            fv__metric_acc_free(a);
            fv__fail(FV_ERR_NOMEM, "metrics: %" PRId64 " samples are too many", capacity);
            return NULL;
        }
        size_t c = capacity ? (size_t)capacity : 1;
        a->scores = malloc((cells ? (size_t)cells : 1) * sizeof *a->scores);
        a->labels = malloc(c * sizeof *a->labels);
        a->scratch = malloc(c * sizeof *a->scratch);
        if (!a->scores || !a->labels || !a->scratch) {
            fv__metric_acc_free(a);
            fv__fail(FV_ERR_NOMEM, "metrics: out of memory for %" PRId64 " samples", capacity);
            return NULL;
        }
    }
    return a;
}

void fv__metric_acc_free(fv__metric_acc *a)
{
    if (!a) return;
    metrics_release(&a->r);
    free(a->scores);
    free(a->labels);
    free(a->scratch);
    free(a);
}

void fv__metric_acc_reset(fv__metric_acc *a)
{
    metrics_clear_counts(&a->r);
}

fv_status fv__metric_acc_add(fv__metric_acc *a, const float *y, const fv_targets *t, int64_t n)
{
    if (!a || !t || n < 0) return fv__fail(FV_ERR_INVALID, "metrics: bad batch");
    const int64_t k = a->r.k;
    if (a->r.regression) {
        fv_status s = check_regression(y, t->values, n, k);
        if (s != FV_OK) return s;
        count_regression(&a->r, y, t->values, n);
        return FV_OK;
    }
    fv_status s = check_classification(y, t->labels, n, k);
    if (s != FV_OK) return s;
    if (a->rank) {
        if (n > a->capacity - a->r.n)
            return fv__fail(FV_ERR_STATE,
                            "metrics: %" PRId64 " samples in an epoch, more than the %" PRId64
                            " planned",
                            a->r.n + n, a->capacity);
        memcpy(a->scores + a->r.n * k, y, (size_t)(n * k) * sizeof *y);
        memcpy(a->labels + a->r.n, t->labels, (size_t)n * sizeof *t->labels);
    }
    count_classification(&a->r, y, t->labels, n);
    return FV_OK;
}

int fv__metric_acc_count(const fv__metric_acc *a)
{
    return a ? a->count : 0;
}

const char *fv__metric_acc_name(const fv__metric_acc *a, int i)
{
    return a && i >= 0 && i < a->count ? groups[a->order[i]].history : NULL;
}

int64_t fv__metric_acc_samples(const fv__metric_acc *a)
{
    return a ? a->r.n : 0;
}

void fv__metric_acc_result(fv__metric_acc *a, double *values)
{
    finish_counts(&a->r);
    if (a->rank && !a->r.regression) rank_all(&a->r, a->scores, a->labels, a->r.n, a->scratch);
    for (int i = 0; i < a->count; i++)
        fv_metrics_lookup(&a->r, groups[a->order[i]].name, &values[i]);
}

void fv_metrics_set_loss(fv_metrics *m, double loss)
{
    if (!m) return;
    m->loss = loss;
    m->has_loss = true;
}
