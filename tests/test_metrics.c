/* test_metrics.c — every metric against scikit-learn's values (fixtures/metrics/cases.json, made
 * by fixtures/make_metrics_fixtures.py), plus hand-made cases, the selection of metrics, the text
 * and JSON reports, and the training-time accumulator against the one-shot report.
 */
#include "fovea.h"
#include "test.h"
#include "train/metrics.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Relative tolerance against scikit-learn (float64, other summation orders). */
#define RTOL 1e-9
#define ATOL 1e-12

static cJSON *fixture;
static const char *fixture_arg;
static int values_checked;

/* ---- helpers -------------------------------------------------------------------------------- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

static cJSON *load_fixture(void)
{
    const char *paths[] = {fixture_arg, "fixtures/metrics/cases.json",
                           "tests/fixtures/metrics/cases.json"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!paths[i]) continue;
        char *text = read_text(paths[i]);
        if (!text) continue;
        cJSON *j = cJSON_Parse(text);
        free(text);
        if (j) return j;
    }
    return NULL;
}

/* A case's inputs, as the C API takes them. */
typedef struct test_case {
    const char *name;
    bool regression;
    int64_t n, k;
    float *x;       /* scores or outputs, n × k */
    float *targets; /* regression */
    int32_t *labels;
    const cJSON *expected;
} test_case;

static float *floats(const cJSON *a)
{
    int n = cJSON_GetArraySize(a);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) v[i++] = (float)e->valuedouble; /* float32 values, written exactly */
    return v;
}

static test_case get_case(const cJSON *c)
{
    test_case t = {0};
    t.name = cJSON_GetObjectItem(c, "name")->valuestring;
    t.regression = strcmp(cJSON_GetObjectItem(c, "task")->valuestring, "regression") == 0;
    t.n = (int64_t)cJSON_GetObjectItem(c, "n")->valuedouble;
    t.k = (int64_t)cJSON_GetObjectItem(c, "k")->valuedouble;
    t.expected = cJSON_GetObjectItem(c, "expected");
    if (t.regression) {
        t.x = floats(cJSON_GetObjectItem(c, "outputs"));
        t.targets = floats(cJSON_GetObjectItem(c, "targets"));
    } else {
        t.x = floats(cJSON_GetObjectItem(c, "scores"));
        const cJSON *l = cJSON_GetObjectItem(c, "labels");
        t.labels = malloc((size_t)t.n * sizeof *t.labels);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, l) t.labels[i++] = (int32_t)e->valuedouble;
    }
    return t;
}

static void free_case(test_case *t)
{
    free(t->x);
    free(t->targets);
    free(t->labels);
}

static fv_metrics *compute(const test_case *t)
{
    return t->regression ? fv_metrics_regression(t->x, t->targets, t->n, t->k)
                         : fv_metrics_classification(t->x, t->labels, t->n, t->k);
}

/* got against want (a JSON number, or null for NaN), naming the case and the metric. */
static void check_value(const char *cs, const char *name, double got, const cJSON *want)
{
    values_checked++;
    if (cJSON_IsNull(want)) {
        if (!isnan(got)) {
            fprintf(stderr, "  %s: %s = %.17g, expected NaN (null)\n", cs, name, got);
            test_failed_checks++;
        }
        return;
    }
    double w = want->valuedouble;
    if (!(fabs(got - w) <= ATOL + RTOL * fabs(w))) {
        fprintf(stderr, "  %s: %s = %.17g, expected %.17g (scikit-learn)\n", cs, name, got, w);
        test_failed_checks++;
    }
}

static char *
to_string(fv_status (*write)(const fv_metrics *, FILE *, const char *, const char *const *),
          const fv_metrics *m, const char *select, const char *const *names, fv_status *status)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *status = write(m, f, select, names);
    fclose(f);
    return buf;
}

/* ---- against scikit-learn ------------------------------------------------------------------- */

/* Every figure of every fixture case: scalars by name, per-class arrays by _class_<c>, and the
 * confusion matrix. */
TEST(every_metric_matches_scikit_learn)
{
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(fixture, "cases"))
    {
        test_case t = get_case(c);
        fv_metrics *m = compute(&t);
        CHECK(m != NULL);
        if (!m) {
            fprintf(stderr, "  %s: %s\n", t.name, fv_last_error());
            free_case(&t);
            continue;
        }
        cases++;
        CHECK(fv_metrics_samples(m) == t.n);
        CHECK(fv_metrics_is_regression(m) == t.regression);
        const cJSON *e;
        cJSON_ArrayForEach(e, t.expected)
        {
            const char *key = e->string;
            if (strcmp(key, "confusion") == 0) {
                int64_t k = 0;
                const int64_t *cm = fv_metrics_confusion(m, &k);
                CHECK(cm != NULL && k == cJSON_GetArraySize(e));
                CHECK(k == fv_metrics_classes(m));
                int64_t r = 0;
                const cJSON *row;
                cJSON_ArrayForEach(row, e)
                {
                    int64_t col = 0;
                    const cJSON *v;
                    cJSON_ArrayForEach(v, row)
                    {
                        values_checked++;
                        if (cm && r < k && col < k && cm[r * k + col] != (int64_t)v->valuedouble) {
                            fprintf(stderr, "  %s: confusion[%ld][%ld] = %ld, expected %g\n",
                                    t.name, (long)r, (long)col, (long)cm[r * k + col],
                                    v->valuedouble);
                            test_failed_checks++;
                        }
                        col++;
                    }
                    r++;
                }
            } else if (cJSON_IsArray(e)) { /* "<metric>_class": one value per class */
                CHECK(cJSON_GetArraySize(e) == fv_metrics_classes(m));
                int i = 0;
                const cJSON *v;
                cJSON_ArrayForEach(v, e)
                {
                    char name[96];
                    snprintf(name, sizeof name, "%s_%d", key, i++);
                    double got = NAN;
                    CHECK_OK(fv_metrics_lookup(m, name, &got));
                    check_value(t.name, name, got, v);
                }
            } else {
                double got = NAN;
                CHECK_OK(fv_metrics_lookup(m, key, &got));
                check_value(t.name, key, got, e);
            }
        }
        fv_metrics_free(m);
        free_case(&t);
    }
    CHECK(cases >= 13);
}

/* ---- hand-made cases (independent of scikit-learn) ------------------------------------------ */

/* All scores tied: the ROC curve is the diagonal (AUC 1/2), and average precision is the
 * prevalence (one threshold, recall 0 -> 1 at precision P/n). */
TEST(all_tied_scores_give_auc_half_and_ap_prevalence)
{
    const float s[5] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
    const int32_t y[5] = {1, 0, 1, 0, 0};
    fv_metrics *m = fv_metrics_classification(s, y, 5, 1);
    CHECK(m != NULL);
    CHECK_CLOSE(fv_metrics_get(m, "roc_auc"), 0.5, 1e-15, 0);
    CHECK_CLOSE(fv_metrics_get(m, "average_precision"), 0.4, 1e-15, 0);
    CHECK_CLOSE(fv_metrics_get(m, "average_precision_class_0"), 0.6, 1e-15, 0);
    fv_metrics_free(m);
}

/* Ties across classes: pairs (pos, neg) with equal scores count one half. */
TEST(tied_pairs_count_half)
{
    /* class 1 scores: positives 0.8, 0.5; negatives 0.5, 0.2. Pairs: (0.8>0.5) (0.8>0.2)
     * (0.5=0.5 -> 1/2) (0.5>0.2): 3.5 / 4. */
    const float s[4] = {0.8f, 0.5f, 0.5f, 0.2f};
    const int32_t y[4] = {1, 1, 0, 0};
    fv_metrics *m = fv_metrics_classification(s, y, 4, 1);
    CHECK_CLOSE(fv_metrics_get(m, "roc_auc"), 0.875, 1e-15, 0);
    /* thresholds 0.8: R 1/2, P 1; 0.5: R 1, P 2/3 -> AP = 1/2 + 1/2 · 2/3 */
    CHECK_CLOSE(fv_metrics_get(m, "average_precision"), 0.5 + 1.0 / 3.0, 1e-15, 0);
    fv_metrics_free(m);
}

/* p == 0.5 is class 0 (Keras: class 1 when p > 0.5). */
TEST(binary_threshold_is_strictly_greater_than_half)
{
    const float s[3] = {0.5f, 0.50001f, 0.49f};
    const int32_t y[3] = {0, 1, 0};
    fv_metrics *m = fv_metrics_classification(s, y, 3, 1);
    CHECK(fv_metrics_get(m, "accuracy") == 1.0);
    int64_t k;
    const int64_t *cm = fv_metrics_confusion(m, &k);
    CHECK(k == 2 && cm[0] == 2 && cm[3] == 1);
    fv_metrics_free(m);
}

/* Argmax ties go to the first class, as numpy and Keras do. */
TEST(argmax_ties_take_the_first_class)
{
    const float s[6] = {0.4f, 0.4f, 0.2f, 0.1f, 0.45f, 0.45f};
    const int32_t y[2] = {0, 1};
    fv_metrics *m = fv_metrics_classification(s, y, 2, 3);
    CHECK(fv_metrics_get(m, "accuracy") == 1.0);
    fv_metrics_free(m);
}

/* A class with no positive example: its AUC and AP are NaN, the macro averages skip it, its
 * precision/recall/F1 are 0 and, as it is never predicted either, the P/R/F1 macro skips it. */
TEST(class_without_positives_is_nan_and_left_out_of_macros)
{
    const float s[12] = {0.7f, 0.2f, 0.1f, 0.6f, 0.3f, 0.1f, 0.2f, 0.7f, 0.1f, 0.4f, 0.5f, 0.1f};
    const int32_t y[4] = {0, 0, 1, 1};
    fv_metrics *m = fv_metrics_classification(s, y, 4, 3);
    CHECK(isnan(fv_metrics_get(m, "roc_auc_class_2")));
    CHECK(isnan(fv_metrics_get(m, "average_precision_class_2")));
    CHECK(fv_metrics_get(m, "roc_auc_class_0") == 1.0);
    CHECK(fv_metrics_get(m, "roc_auc_class_1") == 1.0);
    CHECK(fv_metrics_get(m, "roc_auc_macro") == 1.0);
    CHECK(fv_metrics_get(m, "mean_average_precision") == 1.0);
    CHECK(fv_metrics_get(m, "precision_class_2") == 0.0);
    CHECK(fv_metrics_get(m, "support_class_2") == 0.0);
    CHECK(fv_metrics_get(m, "precision_macro") == 1.0);
    CHECK(fv_metrics_get(m, "f1") == 1.0);

    fv_status st;
    char *text = to_string(fv_metrics_write_text, m, NULL, NULL, &st);
    CHECK_OK(st);
    CHECK_STR_CONTAINS(text, "-: undefined");
    CHECK_STR_CONTAINS(text, "(over 2 of 3 classes)");
    free(text);
    char *json = to_string(fv_metrics_write_json, m, NULL, NULL, &st);
    CHECK_OK(st);
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    const cJSON *auc = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "roc_auc"), "per_class");
    CHECK(cJSON_IsNull(cJSON_GetArrayItem(auc, 2)));
    CHECK(cJSON_GetArrayItem(auc, 0)->valuedouble == 1.0);
    cJSON_Delete(j);
    free(json);
    fv_metrics_free(m);
}

/* Every AUC undefined: the macro is NaN, written "-" and null. */
TEST(no_defined_auc_gives_nan_macro)
{
    const float s[4] = {0.2f, 0.8f, 0.3f, 0.7f};
    const int32_t y[2] = {1, 1};
    fv_metrics *m = fv_metrics_classification(s, y, 2, 2);
    CHECK(isnan(fv_metrics_get(m, "roc_auc")));
    CHECK(isnan(fv_metrics_get(m, "roc_auc_macro")));
    CHECK(fv_metrics_get(m, "average_precision") == 1.0); /* class 1: all positives */
    fv_status st;
    char *json = to_string(fv_metrics_write_json, m, "roc_auc", NULL, &st);
    CHECK_OK(st);
    cJSON *j = cJSON_Parse(json);
    CHECK(j && cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "roc_auc"), "macro")));
    cJSON_Delete(j);
    free(json);
    fv_metrics_free(m);
}

/* Keras' clip: a zero probability for the label costs -log(1e-7), not infinity. */
TEST(crossentropy_is_clipped_as_keras)
{
    const float s[2] = {0.0f, 1.0f};
    const int32_t y[1] = {0};
    fv_metrics *m = fv_metrics_classification(s, y, 1, 2);
    CHECK_CLOSE(fv_metrics_get(m, "crossentropy"), -log(1e-7), 0, 1e-15);
    fv_metrics_free(m);
    const float p[1] = {1.0f};
    m = fv_metrics_classification(p, y, 1, 1);
    CHECK_CLOSE(fv_metrics_get(m, "crossentropy"), -log(1e-7), 0, 1e-9);
    fv_metrics_free(m);
}

TEST(bad_inputs_are_errors)
{
    const float s[4] = {0.5f, 0.5f, 0.2f, 0.8f};
    const int32_t y[2] = {0, 2};
    CHECK(fv_metrics_classification(s, y, 2, 2) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "label 2 of sample 1 is outside 0..1");
    const int32_t y1[4] = {0, 1, 2, 0};
    CHECK(fv_metrics_classification(s, y1, 4, 1) == NULL); /* one output: labels 0 or 1 */
    const int32_t ok[2] = {0, 1};
    const float bad[4] = {0.5f, NAN, 0.2f, 0.8f};
    CHECK(fv_metrics_classification(bad, ok, 2, 2) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "not finite");
    CHECK(fv_metrics_classification(s, ok, 0, 2) == NULL);
    CHECK(fv_metrics_classification(s, ok, 2, 0) == NULL);
    CHECK(fv_metrics_classification(NULL, ok, 2, 2) == NULL);
    CHECK(fv_metrics_regression(s, NULL, 2, 2) == NULL);
    CHECK(fv_metrics_regression(s, bad, 2, 2) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "target");
    fv_metrics_free(NULL);
}

/* ---- names ---------------------------------------------------------------------------------- */

TEST(unknown_names_are_errors_listing_the_valid_ones)
{
    const float s[4] = {0.6f, 0.4f, 0.2f, 0.8f};
    const int32_t y[2] = {0, 1};
    fv_metrics *m = fv_metrics_classification(s, y, 2, 2);
    double v = 0;
    CHECK(fv_metrics_lookup(m, "precission", &v) == FV_ERR_INVALID);
    CHECK(isnan(v));
    CHECK_STR_CONTAINS(fv_last_error(), "'precission'");
    CHECK_STR_CONTAINS(fv_last_error(), "roc_auc");
    CHECK(fv_metrics_lookup(m, "f1_class_2", &v) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "outside 0..1");
    CHECK(fv_metrics_lookup(m, "roc_auc_weighted", &v) == FV_ERR_INVALID);
    CHECK(fv_metrics_lookup(m, "precision_class_", &v) == FV_ERR_INVALID);
    CHECK(fv_metrics_lookup(m, "precision_class_1x", &v) == FV_ERR_INVALID);
    CHECK(isnan(fv_metrics_get(m, "nonsense")));
    CHECK(fv_metrics_lookup(m, "confusion_matrix", &v) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "fv_metrics_confusion");
    /* aliases name the headline values */
    CHECK(fv_metrics_get(m, "auc") == fv_metrics_get(m, "roc_auc"));
    CHECK(fv_metrics_get(m, "map") == fv_metrics_get(m, "mean_average_precision"));
    CHECK(fv_metrics_get(m, "acc") == fv_metrics_get(m, "accuracy"));
    fv_metrics_free(m);

    const float o[2] = {1, 2}, t[2] = {1.5f, 2};
    m = fv_metrics_regression(o, t, 2, 1);
    CHECK_OK(fv_metrics_lookup(m, "accuracy", &v)); /* known, does not apply: NaN */
    CHECK(isnan(v));
    CHECK_CLOSE(fv_metrics_get(m, "mae"), 0.25, 0, 1e-15);
    CHECK(fv_metrics_confusion(m, NULL) == NULL);
    fv_metrics_free(m);
}

TEST(select_unknown_name_is_an_error_and_writes_nothing)
{
    const float s[4] = {0.6f, 0.4f, 0.2f, 0.8f};
    const int32_t y[2] = {0, 1};
    fv_metrics *m = fv_metrics_classification(s, y, 2, 2);
    fv_status st;
    char *text = to_string(fv_metrics_write_text, m, "accuracy, presicion", NULL, &st);
    CHECK(st == FV_ERR_INVALID);
    CHECK(text && text[0] == '\0');
    CHECK_STR_CONTAINS(fv_last_error(), "unknown metric 'presicion'");
    CHECK_STR_CONTAINS(fv_last_error(),
                       "valid metrics: accuracy, crossentropy, precision, recall, f1, roc_auc, "
                       "average_precision, mean_average_precision, mse, rmse, mae, "
                       "confusion_matrix");
    free(text);
    char *json = to_string(fv_metrics_write_json, m, "bogus", NULL, &st);
    CHECK(st == FV_ERR_INVALID);
    CHECK(json && json[0] == '\0');
    free(json);
    CHECK(fv_metrics_check_select(",,", false) == FV_ERR_INVALID);
    CHECK(fv_metrics_check_select(NULL, false) == FV_OK);
    CHECK(fv_metrics_check_select("all", true) == FV_OK);
    CHECK(fv_metrics_check_select(" acc , auc,prc,pr_auc,map,f1_score,confusion ", false) == FV_OK);
    CHECK(fv_metrics_check_select("accuracy", true) == FV_ERR_INVALID);
    CHECK_STR_CONTAINS(fv_last_error(), "does not apply to a regression model");
    CHECK_STR_CONTAINS(fv_last_error(), "valid metrics: mse, rmse, mae");
    fv_metrics_free(m);
}

TEST(select_picks_what_is_written)
{
    const float s[6] = {0.6f, 0.3f, 0.1f, 0.2f, 0.7f, 0.1f};
    const int32_t y[2] = {0, 2};
    fv_metrics *m = fv_metrics_classification(s, y, 2, 3);
    fv_status st;
    char *text = to_string(fv_metrics_write_text, m, "accuracy,auc", NULL, &st);
    CHECK_OK(st);
    CHECK_STR_CONTAINS(text, "accuracy");
    CHECK_STR_CONTAINS(text, "roc-auc");
    CHECK(!strstr(text, "precision") && !strstr(text, "confusion") && !strstr(text, "rmse"));
    free(text);
    char *json = to_string(fv_metrics_write_json, m, "f1,rmse", NULL, &st);
    CHECK_OK(st);
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    CHECK(cJSON_GetObjectItem(j, "f1") && cJSON_GetObjectItem(j, "rmse"));
    CHECK(!cJSON_GetObjectItem(j, "accuracy") && !cJSON_GetObjectItem(j, "confusion_matrix"));
    cJSON_Delete(j);
    free(json);
    fv_metrics_free(m);
}

/* ---- reports -------------------------------------------------------------------------------- */

/* The JSON of every fixture case parses and holds exactly the values fv_metrics_get gives. */
TEST(json_is_valid_and_round_trips)
{
    static const char *const prf[] = {"precision", "recall", "f1"};
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(fixture, "cases"))
    {
        test_case t = get_case(c);
        fv_metrics *m = compute(&t);
        fv_status st;
        char *json = to_string(fv_metrics_write_json, m, NULL, NULL, &st);
        CHECK_OK(st);
        cJSON *j = cJSON_Parse(json);
        if (!j) {
            fprintf(stderr, "  %s: invalid JSON:\n%s\n", t.name, json);
            test_failed_checks++;
            free(json);
            fv_metrics_free(m);
            free_case(&t);
            continue;
        }
        CHECK(cJSON_GetObjectItem(j, "samples")->valuedouble == (double)t.n);
        const char *scalars[] = {"accuracy", "crossentropy", "mean_average_precision",
                                 "mse",      "rmse",         "mae"};
        for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++) {
            const cJSON *v = cJSON_GetObjectItem(j, scalars[i]);
            if (t.regression && i < 3) {
                CHECK(v == NULL);
                continue;
            }
            double want = fv_metrics_get(m, scalars[i]);
            CHECK(v != NULL && (isnan(want) ? cJSON_IsNull(v) : v->valuedouble == want));
        }
        if (!t.regression) {
            int64_t k = fv_metrics_classes(m);
            for (int f = 0; f < 5; f++) {
                const char *g = f < 3 ? prf[f] : f == 3 ? "roc_auc" : "average_precision";
                const cJSON *o = cJSON_GetObjectItem(j, g);
                CHECK(o != NULL);
                if (!o) continue;
                double want = fv_metrics_get(m, g);
                const cJSON *v = cJSON_GetObjectItem(o, "value");
                CHECK(isnan(want) ? cJSON_IsNull(v) : v->valuedouble == want);
                const cJSON *per = cJSON_GetObjectItem(o, "per_class");
                CHECK(cJSON_GetArraySize(per) == k);
                for (int64_t i = 0; i < k; i++) {
                    char name[64];
                    snprintf(name, sizeof name, "%s_class_%ld", g, (long)i);
                    double w = fv_metrics_get(m, name);
                    const cJSON *e = cJSON_GetArrayItem(per, (int)i);
                    CHECK(isnan(w) ? cJSON_IsNull(e) : e->valuedouble == w);
                }
            }
            const cJSON *cm = cJSON_GetObjectItem(j, "confusion_matrix");
            CHECK(cJSON_GetArraySize(cm) == k);
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "classes")) == k);
        }
        cJSON_Delete(j);
        free(json);
        fv_metrics_free(m);
        free_case(&t);
    }
}

TEST(json_escapes_class_names)
{
    const float s[4] = {0.6f, 0.4f, 0.2f, 0.8f};
    const int32_t y[2] = {0, 1};
    const char *names[2] = {"say \"hi\"\\", "tab\there\x01"};
    fv_metrics *m = fv_metrics_classification(s, y, 2, 2);
    fv_status st;
    char *json = to_string(fv_metrics_write_json, m, NULL, names, &st);
    CHECK_OK(st);
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    const cJSON *cl = cJSON_GetObjectItem(j, "classes");
    CHECK(cl && strcmp(cJSON_GetArrayItem(cl, 0)->valuestring, names[0]) == 0);
    CHECK(cl && strcmp(cJSON_GetArrayItem(cl, 1)->valuestring, names[1]) == 0);
    cJSON_Delete(j);
    free(json);
    fv_metrics_free(m);
}

/* Lines [from, to) of text all have the same length. */
static bool aligned(const char *text, const char *start_marker, int lines)
{
    const char *p = strstr(text, start_marker);
    if (!p) return false;
    p += strlen(start_marker);
    size_t len = 0;
    for (int i = 0; i < lines; i++) {
        const char *e = strchr(p, '\n');
        if (!e) return false;
        if (i == 0)
            len = (size_t)(e - p);
        else if ((size_t)(e - p) != len)
            return false;
        p = e + 1;
    }
    return true;
}

TEST(text_report_has_aligned_table_and_confusion_matrix)
{
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(fixture, "cases"), 1); /* k = 10 */
    test_case t = get_case(c);
    CHECK(t.k == 10);
    fv_metrics *m = compute(&t);
    const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    fv_status st;
    char *text = to_string(fv_metrics_write_text, m, NULL, names, &st);
    CHECK_OK(st);
    CHECK_STR_CONTAINS(text, "precision     recall   f1-score    roc-auc   avg-prec    support");
    CHECK_STR_CONTAINS(text, "T-shirt/top");
    CHECK_STR_CONTAINS(text, "   macro avg");
    CHECK_STR_CONTAINS(text, "weighted avg");
    CHECK_STR_CONTAINS(text, "micro avg");
    CHECK_STR_CONTAINS(text, "mean_average_precision");
    CHECK(aligned(text, "support\n\n", 10));          /* the 10 class rows */
    CHECK(aligned(text, "predicted class)\n\n", 11)); /* header and 10 rows */
    CHECK_STR_CONTAINS(text, "\n0 T-shirt/top ");     /* long names: "index name" rows */
    if (getenv("FV_SHOW_REPORT")) fputs(text, stdout);
    free(text);
    fv_metrics_free(m);
    free_case(&t);
}

TEST(text_report_of_binary_and_regression)
{
    const float s[4] = {0.9f, 0.2f, 0.6f, 0.4f};
    const int32_t y[4] = {1, 0, 0, 1};
    fv_metrics *m = fv_metrics_classification(s, y, 4, 1);
    fv_status st;
    char *text = to_string(fv_metrics_write_text, m, NULL, NULL, &st);
    CHECK_OK(st);
    CHECK_STR_CONTAINS(text, "class 1 when p > 0.5");
    CHECK_STR_CONTAINS(text, "precision (class 1)");
    CHECK_STR_CONTAINS(text, "average_precision (class 1)");
    if (getenv("FV_SHOW_REPORT")) fputs(text, stdout);
    free(text);
    fv_metrics_free(m);

    const float o[4] = {1, 2, 3, 4}, tg[4] = {1, 2, 3, 5};
    m = fv_metrics_regression(o, tg, 2, 2);
    text = to_string(fv_metrics_write_text, m, NULL, NULL, &st);
    CHECK_OK(st);
    CHECK_STR_CONTAINS(text, "rmse");
    CHECK(!strstr(text, "accuracy"));
    free(text);
    fv_metrics_free(m);
}

/* ---- the training-time accumulator ---------------------------------------------------------- */

/* Fed in uneven batches, it gives exactly the one-shot figures. */
TEST(accumulator_equals_one_shot_report)
{
    const char *list = "acc,crossentropy,precision,recall,f1_score,auc,prc,map,mse,rmse,mae";
    static const char *const canon[] = {"accuracy", "crossentropy", "precision", "recall",
                                        "f1",       "auc",          "prc",       "map",
                                        "mse",      "rmse",         "mae"};
    static const char *const get_names[] = {
        "accuracy",          "crossentropy",           "precision", "recall", "f1", "roc_auc",
        "average_precision", "mean_average_precision", "mse",       "rmse",   "mae"};
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(fixture, "cases"))
    {
        test_case t = get_case(c);
        if (t.regression) {
            free_case(&t);
            continue;
        }
        fv_metrics *m = compute(&t);
        fv__metric_acc *a = fv__metric_acc_new(list, t.k, false, t.n);
        CHECK(a != NULL);
        if (!a) {
            fprintf(stderr, "  %s\n", fv_last_error());
            free_case(&t);
            fv_metrics_free(m);
            continue;
        }
        CHECK(fv__metric_acc_count(a) == 11);
        for (int pass = 0; pass < 2; pass++) { /* the second pass after a reset */
            fv__metric_acc_reset(a);
            const int64_t sizes[] = {1, 7, 32, 3};
            for (int64_t i = 0, b = 0; i < t.n; b++) {
                int64_t nb = sizes[b % 4] < t.n - i ? sizes[b % 4] : t.n - i;
                fv_targets tg = {.labels = t.labels + i, .values = NULL};
                CHECK_OK(fv__metric_acc_add(a, t.x + i * t.k, &tg, nb));
                i += nb;
            }
            CHECK(fv__metric_acc_samples(a) == t.n);
            double v[FV__METRIC_MAX];
            fv__metric_acc_result(a, v);
            for (int i = 0; i < 11; i++) {
                CHECK(strcmp(fv__metric_acc_name(a, i), canon[i]) == 0);
                double w = fv_metrics_get(m, get_names[i]);
                if (!(isnan(w) ? isnan(v[i]) : fabs(v[i] - w) <= 1e-15 * fabs(w))) {
                    fprintf(stderr, "  %s: accumulated %s = %.17g, one-shot %.17g\n", t.name,
                            canon[i], v[i], w);
                    test_failed_checks++;
                }
            }
        }
        fv__metric_acc_free(a);
        fv_metrics_free(m);
        free_case(&t);
    }
}

TEST(accumulator_names_capacity_and_reset)
{
    CHECK(fv__metric_acc_new("accuracy,bogus", 3, false, 10) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "unknown metric 'bogus'");
    CHECK_STR_CONTAINS(fv_last_error(), "accuracy, crossentropy, precision, recall, f1, auc, prc");
    CHECK(fv__metric_acc_new("accuracy,acc", 3, false, 10) == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "given twice");
    CHECK(fv__metric_acc_new("confusion_matrix", 3, false, 10) == NULL);
    CHECK(fv__metric_acc_new("auc", 1, true, 10) == NULL);
    CHECK(fv__metric_check_names("mse,mae", true) == FV_OK);
    CHECK(fv__metric_check_names(NULL, false) == FV_OK);
    CHECK(strcmp(fv__metric_canonical("roc_auc"), "auc") == 0);
    CHECK(strcmp(fv__metric_canonical("acc"), "accuracy") == 0);
    CHECK(fv__metric_canonical("nope") == NULL);

    fv__metric_acc *a = fv__metric_acc_new("accuracy,auc", 2, false, 3);
    CHECK(a != NULL);
    double v[2];
    fv__metric_acc_result(a, v); /* nothing added yet */
    CHECK(isnan(v[0]) && isnan(v[1]));
    const float s[8] = {0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f, 0.3f, 0.7f};
    const int32_t y[4] = {0, 1, 1, 1};
    fv_targets t = {.labels = y};
    CHECK_OK(fv__metric_acc_add(a, s, &t, 2));
    CHECK(fv__metric_acc_add(a, s + 4, &t, 2) == FV_ERR_STATE); /* 4 > capacity 3 */
    CHECK(fv__metric_acc_samples(a) == 2);                      /* nothing of it added */
    const int32_t bad[1] = {5};
    fv_targets tb = {.labels = bad};
    CHECK(fv__metric_acc_add(a, s, &tb, 1) == FV_ERR_INVALID);
    fv__metric_acc_result(a, v);
    CHECK(v[0] == 1.0 && v[1] == 1.0);
    fv__metric_acc_reset(a);
    CHECK(fv__metric_acc_samples(a) == 0);
    const int32_t wrong[2] = {1, 0};
    fv_targets tw = {.labels = wrong};
    CHECK_OK(fv__metric_acc_add(a, s + 4, &tw, 2)); /* 0.6/0.4 label 1; 0.3/0.7 label 0 */
    fv__metric_acc_result(a, v);
    CHECK(v[0] == 0.0 && v[1] == 0.0);
    fv__metric_acc_free(a);
    fv__metric_acc_free(NULL);
}

TEST(accumulator_regression)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(fixture, "cases"))
    {
        test_case t = get_case(c);
        if (!t.regression) {
            free_case(&t);
            continue;
        }
        fv__metric_acc *a = fv__metric_acc_new("rmse, mae,mse", t.k, true, 0);
        CHECK(a != NULL);
        for (int64_t i = 0; i < t.n; i += 16) {
            int64_t nb = t.n - i < 16 ? t.n - i : 16;
            fv_targets tg = {.values = t.targets + i * t.k};
            CHECK_OK(fv__metric_acc_add(a, t.x + i * t.k, &tg, nb));
        }
        double v[3];
        fv__metric_acc_result(a, v);
        check_value(t.name, "rmse", v[0], cJSON_GetObjectItem(t.expected, "rmse"));
        check_value(t.name, "mae", v[1], cJSON_GetObjectItem(t.expected, "mae"));
        check_value(t.name, "mse", v[2], cJSON_GetObjectItem(t.expected, "mse"));
        fv__metric_acc_free(a);
        free_case(&t);
    }
}

int main(int argc, char **argv)
{
    fixture_arg = argc > 1 ? argv[1] : NULL;
    fixture = load_fixture();
    if (!fixture) {
        fprintf(stderr, "cannot read fixtures/metrics/cases.json (run from tests/ or give its "
                        "path)\n");
        return 1;
    }
    RUN(every_metric_matches_scikit_learn);
    RUN(all_tied_scores_give_auc_half_and_ap_prevalence);
    RUN(tied_pairs_count_half);
    RUN(binary_threshold_is_strictly_greater_than_half);
    RUN(argmax_ties_take_the_first_class);
    RUN(class_without_positives_is_nan_and_left_out_of_macros);
    RUN(no_defined_auc_gives_nan_macro);
    RUN(crossentropy_is_clipped_as_keras);
    RUN(bad_inputs_are_errors);
    RUN(unknown_names_are_errors_listing_the_valid_ones);
    RUN(select_unknown_name_is_an_error_and_writes_nothing);
    RUN(select_picks_what_is_written);
    RUN(json_is_valid_and_round_trips);
    RUN(json_escapes_class_names);
    RUN(text_report_has_aligned_table_and_confusion_matrix);
    RUN(text_report_of_binary_and_regression);
    RUN(accumulator_equals_one_shot_report);
    RUN(accumulator_names_capacity_and_reset);
    RUN(accumulator_regression);
    printf("%d values compared with scikit-learn\n", values_checked);
    cJSON_Delete(fixture);
    return TEST_SUMMARY();
}
