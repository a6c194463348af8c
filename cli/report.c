/* report.c — `fovea report MODEL --data DIR -o report.html`: one self-contained HTML page about a
 * trained model, as a TensorBoard user would want it on one screen: the summary table, the
 * training curves, then the sections of the model's kind — a classifier's test metrics,
 * confusion matrix and feature maps of a few test images, some of them misclassified (here); a
 * detector's, a generative model's and a pose network's in report_detection.c,
 * report_generative.c and report_pose.c — and the kernels of every convolution. Pictures are
 * PNGs inlined as base64 data: URIs, so the page is one file that opens anywhere, offline. It is
 * built in memory and written atomically (a temporary file, then rename).
 */
#define _GNU_SOURCE /* open_memstream */
#include "commands.h"
#include "common.h"
#include "detect.h"
#include "images.h"
#include "pose.h"
#include "report.h"
#include "viz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: fovea report MODEL.safetensors --data DIR|FILE.csv -o REPORT.html [options]\n"
    "\n"
    "Writes one self-contained HTML page about a trained model: its summary table, the training\n"
    "curves (with --history), then the sections of its kind, and the kernels of every conv2d\n"
    "layer. The pictures are inlined, so the page is one file that opens offline in any browser.\n"
    "  a classifier          the test loss, accuracy and every metric of 'fovea evaluate', the\n"
    "                        confusion matrix, and the feature maps of a few test images, some\n"
    "                        of them misclassified, with their true and predicted labels\n"
    "  a detector (its output a yolo head; --data a YOLO or COCO folder): COCO's twelve figures\n"
    "                        and each class's AP as 'fovea evaluate' prints them, the precision-\n"
    "                        recall curves at IoU 0.5, and the best and worst test images by\n"
    "                        their F1 (detections scoring 0.25 or more matched at IoU 0.5)\n"
    "                        drawn with their true and detected boxes\n"
    "  a generative model (fit target=input: an autoencoder, a VAE; or a GAN): the figures of\n"
    "                        'fovea evaluate' (reconstruction loss, negative ELBO; the FID-style\n"
    "                        distance with --features), 64 samples as 'fovea generate' draws\n"
    "                        them (VAE, GAN), 10 reconstructions and a VAE's latent space\n"
    "  a pose network (its output a pose head; --data a BOP folder): the figures of 'fovea\n"
    "                        evaluate' (ADD(-S), MSSD, MSPD, rotation and translation errors),\n"
    "                        the ADD(-S) accuracy-threshold curve, and the best and worst test\n"
    "                        images by ADD(-S), estimate beside truth\n"
    "\n"
    "options:\n"
    "  -o, --output FILE.html  the page (required; replaced atomically)\n"
    "  --data DIR|FILE.csv     the test data (required): an IDX folder's test set, a CSV table,\n"
    "                          a folder of images (its test/ or val/ folder when it has train/;\n"
    "                          labels by the class names saved with the model) or CIFAR files;\n"
    "                          a detection folder (YOLO's or COCO's layout) for a detector, a\n"
    "                          BOP folder for a pose network (their test or val part)\n"
    "  --history H.csv         the history written by 'fovea train --history': draws the curves\n"
    "  --examples N            test images to draw (default 4; 0 for none): a classifier's\n"
    "                          feature maps, up to half of them misclassified; a detector's or\n"
    "                          pose network's best N - N/2 and worst N/2 images\n"
    "  --class-names LIST      names of the classes, comma-separated, or 'fashion-mnist'\n"
    "                          (classifiers; generative models: the latent space's legend)\n"
    "  --label-column NAME     the CSV column holding the labels (default: the one the\n"
    "                          model was trained with, else the last; classifiers)\n"
    "  --labels Y.npy          the labels of --data X.npy: (N,) or (N, 1) class indices, or\n"
    "                          (N, K) one-hot rows (classifiers)\n"
    "  --object OBJ_ID         the object of a BOP folder (pose networks; default: the only one)\n"
    "  --features CLS.safetensors --layer NAME\n"
    "                          the FID-style distance in a classifier's layer's features, as\n"
    "                          'fovea evaluate' computes it (generative models)\n"
    "  --samples N             samples and test images it compares (default 10000, or\n"
    "                          every test image when there are fewer)\n"
    "  --seed S                the samples' codes, in the figure and the picture (default 1)\n"
    "  --batch-size N          samples per batch (default: the model's fit line, else 32)\n"
    "  --threads N             threads to use (default: FOVEA_THREADS, else\n"
    "                          OMP_NUM_THREADS, else all cores)\n";

/* ---- HTML pieces ------------------------------------------------------------------------- */

void report_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void base64(FILE *f, const unsigned char *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
        fwrite(q, 1, 4, f);
    }
    if (i < n) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0);
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=', '='};
        fwrite(q, 1, 4, f);
    }
}

int report_img(const char *cmd, FILE *f, fv_picture *p, const char *alt)
{
    if (!p) return cli_fail_lib(cmd, alt, FV_ERR_INVALID);
    unsigned char *data;
    size_t len;
    fv_status s = fv_picture_encode(p, "png", &data, &len);
    if (s != FV_OK) {
        fv_picture_free(p);
        return cli_fail_lib(cmd, alt, s);
    }
    fprintf(f, "<img width=\"%d\" height=\"%d\" alt=\"", fv_picture_width(p), fv_picture_height(p));
    report_esc(f, alt);
    fputs("\" src=\"data:image/png;base64,", f);
    base64(f, data, len);
    fputs("\">\n", f);
    free(data);
    fv_picture_free(p);
    return 0;
}

void report_cell(FILE *f, double v)
{
    if (isnan(v))
        fputs("<td class=\"na\">-</td>", f);
    else
        fprintf(f, "<td>%.4f</td>", v);
}

static void class_name(char *buf, size_t n, char *const *names, int64_t c)
{
    if (names)
        snprintf(buf, n, "%s", names[c]);
    else
        snprintf(buf, n, "%lld", (long long)c);
}

static double get(const fv_metrics *mt, const char *fmt, int64_t c)
{
    char name[64];
    snprintf(name, sizeof name, fmt, (long long)c);
    return fv_metrics_get(mt, name);
}

static void metrics_tables(FILE *f, const fv_metrics *mt, char *const *names)
{
    static const struct {
        const char *key, *label;
    } scalars[] = {
        {"accuracy", "accuracy"},
        {"crossentropy", "cross-entropy"},
        {"precision_macro", "precision (macro)"},
        {"recall_macro", "recall (macro)"},
        {"f1_macro", "F1 (macro)"},
        {"f1_micro", "F1 (micro)"},
        {"f1_weighted", "F1 (weighted)"},
        {"roc_auc_macro", "ROC AUC (macro, one-vs-rest)"},
        {"average_precision_macro", "PR AUC / average precision (macro)"},
        {"mean_average_precision", "mean average precision"},
        {"rmse", "RMSE (probabilities vs one-hot)"},
        {"mae", "MAE (probabilities vs one-hot)"},
    };
    fputs("<table class=\"kv\">\n", f);
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        fprintf(f, "<tr><th>%s</th>", scalars[i].label);
        report_cell(f, fv_metrics_get(mt, scalars[i].key));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);

    int64_t k = fv_metrics_classes(mt);
    fputs("<table class=\"grid\">\n<tr><th>class</th><th>precision</th><th>recall</th>"
          "<th>f1-score</th><th>ROC AUC</th><th>avg precision</th><th>support</th></tr>\n",
          f);
    char buf[256];
    for (int64_t c = 0; c < k; c++) {
        class_name(buf, sizeof buf, names, c);
        fputs("<tr><th>", f);
        report_esc(f, buf);
        fputs("</th>", f);
        report_cell(f, get(mt, "precision_class_%lld", c));
        report_cell(f, get(mt, "recall_class_%lld", c));
        report_cell(f, get(mt, "f1_class_%lld", c));
        report_cell(f, get(mt, "roc_auc_class_%lld", c));
        report_cell(f, get(mt, "average_precision_class_%lld", c));
        fprintf(f, "<td>%.0f</td></tr>\n", get(mt, "support_class_%lld", c));
    }
    static const char *const avg[] = {"micro", "macro", "weighted"};
    for (int a = 0; a < 3; a++) {
        char key[64];
        fprintf(f, "<tr class=\"avg\"><th>%s avg</th>", avg[a]);
        snprintf(key, sizeof key, "precision_%s", avg[a]);
        report_cell(f, fv_metrics_get(mt, key));
        snprintf(key, sizeof key, "recall_%s", avg[a]);
        report_cell(f, fv_metrics_get(mt, key));
        snprintf(key, sizeof key, "f1_%s", avg[a]);
        report_cell(f, fv_metrics_get(mt, key));
        report_cell(f, a == 1 ? fv_metrics_get(mt, "roc_auc_macro") : NAN);
        report_cell(f, a == 1 ? fv_metrics_get(mt, "average_precision_macro") : NAN);
        fprintf(f, "<td>%lld</td></tr>\n", (long long)fv_metrics_samples(mt));
    }
    fputs("</table>\n", f);
}

static const char style[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:0 auto;max-width:1320px;"
    "padding:0 24px 48px;color:#222;line-height:1.45}"
    "h1{font-size:28px;margin:28px 0 4px}h2{font-size:21px;margin:36px 0 10px;"
    "border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}"
    ".meta{color:#666;margin:0 0 18px}"
    ".cards{display:flex;gap:16px;flex-wrap:wrap;margin-top:14px}.card{border:1px solid "
    "#ddd;border-radius:6px;"
    "padding:10px 18px;min-width:160px}.card .v{font-size:26px;font-weight:bold}"
    ".card .l{color:#666;font-size:13px}"
    "pre{background:#f6f6f6;border:1px solid #e4e4e4;padding:10px 12px;overflow:auto;"
    "font-size:13px;line-height:1.3}"
    "img{max-width:100%;height:auto;display:block;border:1px solid #eee}"
    "table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}"
    "th,td{padding:3px 10px;text-align:right}th{text-align:left}"
    "table.grid tr:first-child th{text-align:right;border-bottom:1px solid #999}"
    "table.grid tr:first-child th:first-child{text-align:left}"
    "tr.avg th,tr.avg td{border-top:1px solid #ddd}td.na{color:#aaa}"
    "table.kv th{font-weight:normal;color:#444}"
    "figure{margin:16px 0 28px}figcaption{margin:6px 0;font-size:15px}"
    ".wrong{color:#b2182b;font-weight:bold}.right{color:#1a7f37;font-weight:bold}"
    "nav a{margin-right:14px}";

/* ---- shared parts ------------------------------------------------------------------------ */

void report_card(FILE *f, double value, int digits, const char *label)
{
    if (isnan(value))
        fputs("<div class=\"card\"><div class=\"v\">-</div>", f);
    else
        fprintf(f, "<div class=\"card\"><div class=\"v\">%.*f</div>", digits, value);
    fputs("<div class=\"l\">", f);
    report_esc(f, label);
    fputs("</div></div>\n", f);
}

void report_pre(FILE *f, const char *text)
{
    fputs("<pre>", f);
    report_esc(f, text);
    fputs("</pre>\n", f);
}

void *report_task_new(report *r, size_t size)
{
    if (!(r->task = calloc(1, size))) cli_error(r->cmd, "out of memory");
    return r->task;
}

int report_check_not_task_data(const report *r, const char *what)
{
    const bool pose = cli_is_pose_dir(r->data_path);
    if (!pose && !cli_is_detection_dir(r->data_path)) return 0;
    cli_error(r->cmd, "--data: '%s' is a %s dataset, but %s is %s", r->data_path,
              pose ? "6D pose (BOP)" : "detection", r->model_path, what);
    return CLI_FAIL;
}

int report_printed(const report *r, FILE *f, report_writer w, const void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&text, &len);
    if (!ms) {
        cli_error(r->cmd, "out of memory");
        return CLI_FAIL;
    }
    fv_status s = w(ms, arg);
    fclose(ms);
    if (s == FV_OK) {
        fputs("<details><summary>As <code>fovea evaluate</code> prints it</summary>\n", f);
        report_pre(f, text);
        fputs("</details>\n", f);
    }
    free(text);
    return 0;
}

int report_best_worst(const report *r, FILE *f, const int64_t *order, int64_t n, report_drawer draw)
{
    const int64_t want = r->examples < n ? r->examples : n;
    const int64_t worst = want / 2, best = want - worst;
    int64_t idx[64];
    for (int64_t q = 0; q < worst; q++)
        idx[q] = order[n - 1 - q];
    if (best > 0 && draw(r, f, order, best, "Best")) return CLI_FAIL;
    return worst > 0 ? draw(r, f, idx, worst, "Worst") : 0;
}

int report_kernels(const report *r, FILE *f)
{
    fputs("<h2 id=\"kernels\">Kernels</h2>\n", f);
    int convs = 0;
    for (int i = 0; i < fv_model_layer_count(r->m); i++) {
        if (strcmp(fv_model_layer_kind(r->m, i), "conv2d") != 0) continue;
        const char *name = fv_model_layer_name(r->m, i);
        fputs("<h3>", f);
        report_esc(f, name);
        fputs("</h3>\n", f);
        char alt[200];
        snprintf(alt, sizeof alt, "kernels of %s", name);
        if (report_img(r->cmd, f, fv_plot_kernels(r->m, name), alt)) return CLI_FAIL;
        convs++;
    }
    if (!convs) fputs("<p>The model has no convolution layer.</p>\n", f);
    return 0;
}

/* ---- a classifier's sections ---------------------------------------------------------------- */

typedef struct classifier {
    fv_dataset *test;
    fv_metrics *mt;
    float *scores; /* n × k */
    double loss, accuracy;
} classifier;

static int64_t predicted(const float *row, int64_t k)
{
    if (k == 1) return row[0] > 0.5f;
    int64_t best = 0;
    for (int64_t c = 1; c < k; c++)
        if (row[c] > row[best]) best = c;
    return best;
}

/* Up to n test images: up to half misclassified, the rest right, in index order of each kind. */
static int64_t pick_examples(const report *r, int64_t *picked, int64_t n)
{
    const classifier *cl = r->task;
    int64_t count = fv_dataset_count(cl->test), k = fv_model_output_size(r->m);
    const int32_t *labels = fv_dataset_labels(cl->test);
    int64_t wrong = 0, right = 0;
    for (int64_t i = 0; i < count; i++)
        if (predicted(cl->scores + i * k, k) != labels[i]) wrong++;
    right = count - wrong;
    int64_t want_wrong = wrong < n / 2 ? wrong : n / 2;
    if (right < n - want_wrong) want_wrong = wrong < n - right ? wrong : n - right;
    int64_t want_right = n - want_wrong < right ? n - want_wrong : right;
    int64_t got = 0, gw = 0, gr = 0;
    for (int64_t i = 0; i < count && got < want_wrong + want_right; i++) {
        bool bad = predicted(cl->scores + i * k, k) != labels[i];
        if (bad && gw < want_wrong) picked[got++] = i, gw++;
        if (!bad && gr < want_right) picked[got++] = i, gr++;
    }
    return got;
}

static int features_section(const report *r, FILE *f)
{
    const classifier *cl = r->task;
    int64_t dims[4];
    int rank = fv_dataset_shape(cl->test, dims);
    if (rank < 2 || rank > 3) {
        fputs("<p>The data are not images, so there are no feature maps to draw.</p>\n", f);
        return 0;
    }
    int64_t picked[64];
    int64_t n = pick_examples(r, picked, r->examples < 64 ? r->examples : 64);
    int64_t k = fv_model_output_size(r->m);
    float *x = malloc((size_t)fv_model_input_size(r->m) * sizeof *x);
    if (!x) {
        cli_error(r->cmd, "out of memory");
        return CLI_FAIL;
    }
    for (int64_t e = 0; e < n; e++) {
        int64_t i = picked[e];
        const float *row = cl->scores + i * k;
        int64_t y = fv_dataset_labels(cl->test)[i], p = predicted(row, k);
        double prob = k == 1 ? (p ? row[0] : 1 - row[0]) : row[p];
        char truth[160], pred[160], caption[400];
        class_name(truth, sizeof truth, r->names, y);
        class_name(pred, sizeof pred, r->names, p);
        snprintf(caption, sizeof caption, "test image %lld: true %s, predicted %s (p = %.3f)%s",
                 (long long)i, truth, pred, prob, p == y ? "" : " - wrong");
        fv_status s = fv_dataset_get(cl->test, i, x);
        if (s != FV_OK) {
            free(x);
            return cli_fail_lib(r->cmd, "--data", s);
        }
        fputs("<figure>\n<figcaption>", f);
        fprintf(f, "Test image %lld: true <b>", (long long)i);
        report_esc(f, truth);
        fputs("</b>, predicted <b>", f);
        report_esc(f, pred);
        fprintf(f, "</b> (p = %.3f) <span class=\"%s\">%s</span></figcaption>\n", prob,
                p == y ? "right" : "wrong", p == y ? "right" : "wrong");
        if (report_img(r->cmd, f, fv_plot_features(r->m, x, rank, dims, caption, NULL), caption)) {
            free(x);
            return CLI_FAIL;
        }
        fputs("</figure>\n", f);
    }
    free(x);
    return 0;
}

static int classifier_prepare(report *r)
{
    classifier *cl = report_task_new(r, sizeof *cl);
    if (!cl) return CLI_FAIL;
    const char *cmd = r->cmd;
    if (report_check_not_task_data(r, "a classifier (its output is not a yolo or pose head)"))
        return CLI_FAIL;
    cli_image_flags imf = {.quiet = true};
    int rc = cli_load_image_eval(cmd, r->data_path, r->m, &imf, &cl->test);
    if (rc == CLI_CONTINUE)
        rc = cli_load_data(cmd, r->data_path, cli_label_column(r->m, r->label_column, r->data_path),
                           NULL, &cl->test);
    if (!rc && cl->test) rc = cli_load_labels(cmd, r->data_path, r->labels, cl->test);
    if (rc) return rc;
    if (!cl->test) {
        cli_error(cmd,
                  "--data: '%s' has no test set (t10k-images-idx3-ubyte, "
                  "t10k-labels-idx1-ubyte)",
                  r->data_path);
        return CLI_FAIL;
    }
    if (cli_check_input_shape(cmd, r->m, cl->test, "--data")) return CLI_FAIL;
    if (cli_use_model_classes(cmd, r->m, cl->test)) return CLI_FAIL;
    if (cli_model_class_names(cmd, r->m, &r->names, &r->nnames)) return CLI_FAIL;
    if (cli_check_class_names(cmd, r->nnames, fv_model_output_size(r->m))) return CLI_FAIL;
    fv_status s = fv_model_evaluate(r->m, cl->test, r->batch, &cl->loss, &cl->accuracy);
    if (s != FV_OK) return cli_fail_lib(cmd, NULL, s);
    /* after evaluate, which names a label that is not a class index with its file and line */
    if (!fv_dataset_labels(cl->test)) {
        cli_error(cmd, "--data: '%s' has no class labels to evaluate against", r->data_path);
        return CLI_FAIL;
    }
    int64_t n = fv_dataset_count(cl->test), k = fv_model_output_size(r->m);
    if (!(cl->scores = malloc((size_t)n * (size_t)k * sizeof *cl->scores))) {
        cli_error(cmd, "out of memory for %lld predictions", (long long)n);
        return CLI_FAIL;
    }
    if ((s = fv_model_predict(r->m, cl->test, r->batch, cl->scores)) != FV_OK)
        return cli_fail_lib(cmd, NULL, s);
    if (!(cl->mt = fv_metrics_classification(cl->scores, fv_dataset_labels(cl->test), n, k)))
        return cli_fail_lib(cmd, NULL, FV_ERR_INVALID); /* the message starts "metrics: " */
    snprintf(r->meta, sizeof r->meta, "%lld samples, %lld classes", (long long)n,
             (long long)fv_metrics_classes(cl->mt));
    return 0;
}

static void classifier_nav(const report *r, FILE *f)
{
    (void)r;
    fputs("<a href=\"#metrics\">Metrics</a><a href=\"#confusion\">Confusion matrix</a>"
          "<a href=\"#kernels\">Kernels</a><a href=\"#features\">Feature maps</a>",
          f);
}

static void classifier_cards(const report *r, FILE *f)
{
    const classifier *cl = r->task;
    report_card(f, cl->loss, 4, "Test loss");
    report_card(f, fv_metrics_get(cl->mt, "accuracy"), 4, "Test accuracy");
    report_card(f, fv_metrics_get(cl->mt, "f1_macro"), 4, "F1 (macro)");
    report_card(f, fv_metrics_get(cl->mt, "roc_auc_macro"), 4, "ROC AUC (macro)");
}

typedef struct metrics_names {
    const fv_metrics *mt;
    const char *const *names;
} metrics_names;

static fv_status metrics_text(FILE *out, const void *arg)
{
    const metrics_names *mn = arg;
    return fv_metrics_write_text(mn->mt, out, NULL, mn->names);
}

static int classifier_body(report *r, FILE *f)
{
    const classifier *cl = r->task;
    fputs("<h2 id=\"metrics\">Metrics on the test set</h2>\n", f);
    fputs(
        "<p class=\"meta\">Averages as scikit-learn takes them: macro is the unweighted mean over "
        "the classes present, micro pools the counts, weighted weighs each class by its "
        "support; AUCs are exact (sorted scores, ties as one step); \"-\" where a value is "
        "undefined (a class without a positive example).</p>\n",
        f);
    fputs("<table class=\"kv\"><tr><th>loss</th>", f);
    report_cell(f, cl->loss);
    fputs("</tr></table>\n", f);
    metrics_tables(f, cl->mt, r->names);
    metrics_names mn = {cl->mt, (const char *const *)r->names};
    if (report_printed(r, f, metrics_text, &mn)) return CLI_FAIL;

    fputs("<h2 id=\"confusion\">Confusion matrix</h2>\n", f);
    if (report_img(r->cmd, f, fv_plot_confusion(cl->mt, (const char *const *)r->names, NULL),
                   "confusion matrix"))
        return CLI_FAIL;
    if (report_kernels(r, f)) return CLI_FAIL;
    fputs("<h2 id=\"features\">Feature maps</h2>\n", f);
    return r->examples > 0 ? features_section(r, f) : 0;
}

static void classifier_release(report *r)
{
    classifier *cl = r->task;
    if (!cl) return;
    free(cl->scores);
    fv_metrics_free(cl->mt);
    fv_dataset_free(cl->test);
    free(cl);
    r->task = NULL;
}

const report_kind report_classifier = {classifier_prepare, classifier_nav, classifier_cards,
                                       classifier_body, classifier_release};

/* ---- the page ------------------------------------------------------------------------------ */

static int write_page(report *r, const report_kind *kind, FILE *f)
{
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    fputs("fovea report: ", f);
    report_esc(f, r->model_path);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", style);
    fputs("<h1>fovea report</h1>\n<p class=\"meta\">Model <code>", f);
    report_esc(f, r->model_path);
    fputs("</code>, test data <code>", f);
    report_esc(f, r->data_path);
    fputs("</code> (", f);
    report_esc(f, r->meta);
    fprintf(f, "); fovea %s, %s</p>\n", FV_VERSION, when);
    fputs("<nav><a href=\"#model\">Model</a>", f);
    if (r->history) fputs("<a href=\"#curves\">Training curves</a>", f);
    kind->nav(r, f);
    fputs("</nav>\n<div class=\"cards\">\n", f);
    kind->cards(r, f);
    fputs("</div>\n", f);

    /* The summary table, as `fovea summary` prints it, and the model text. */
    fputs("<h2 id=\"model\">Model</h2>\n", f);
    char *sum = NULL;
    size_t sum_len = 0;
    FILE *ms = open_memstream(&sum, &sum_len);
    if (!ms) {
        cli_error(r->cmd, "out of memory");
        return CLI_FAIL;
    }
    fv_status s = fv_model_summary(r->m, ms);
    fclose(ms);
    if (s != FV_OK) {
        free(sum);
        return cli_fail_lib(r->cmd, "summary", s);
    }
    report_pre(f, sum);
    free(sum);
    char *text = fv_model_to_text(r->m);
    if (text) {
        fputs("<details><summary>Model file</summary>\n", f);
        report_pre(f, text);
        fputs("</details>\n", f);
        free(text);
    }

    if (r->history) {
        fputs("<h2 id=\"curves\">Training curves</h2>\n<p class=\"meta\">From <code>", f);
        report_esc(f, r->hist_path);
        fprintf(f, "</code>, %lld epoch%s.</p>\n", (long long)fv_history_epochs(r->history),
                fv_history_epochs(r->history) == 1 ? "" : "s");
        if (report_img(r->cmd, f, fv_plot_history(r->history, NULL), "training curves"))
            return CLI_FAIL;
    }
    if (kind->body(r, f)) return CLI_FAIL;
    fputs("</body>\n</html>\n", f);
    return 0;
}

static int write_atomic(const char *cmd, const char *path, const char *data, size_t len)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        cli_error(cmd, "out of memory");
        return CLI_FAIL;
    }
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        unlink(tmp);
        cli_error(cmd, "--output: cannot write '%s'", path);
    }
    free(tmp);
    return ok ? 0 : CLI_FAIL;
}

/* The kind of model: its output layer says (a yolo head, a pose head), or its fit line (a target
 * that is its input, a GAN). */
static const report_kind *kind_of(const fv_model *m)
{
    if (fv_model_detector_max_boxes(m) > 0) return &report_detection;
    if (fv_model_is_pose(m, NULL)) return &report_pose;
    if (fv_model_target(m) || fv_model_gan(m)) return &report_generative;
    return &report_classifier;
}

/* An option given for another kind of model: a usage error naming the kinds it is for. */
static int check_option(const char *cmd, const cli_opt *o, bool applies, const char *for_what)
{
    if (!o->seen || applies) return 0;
    return cli_usage_error(cmd, "--%s applies to %s only", o->name, for_what);
}

int cmd_report(int argc, char **argv)
{
    const char *cmd = "report";
    enum {
        O_OUT,
        O_DATA,
        O_HIST,
        O_EXAMPLES,
        O_NAMES,
        O_LABEL,
        O_LABELS,
        O_BATCH,
        O_THREADS,
        O_OBJECT,
        O_FEATURES,
        O_LAYER,
        O_SAMPLES,
        O_SEED,
        O_N
    };
    cli_opt opts[O_N] = {
        [O_OUT] = {"output", true, false, NULL},
        [O_DATA] = {"data", true, false, NULL},
        [O_HIST] = {"history", true, false, NULL},
        [O_EXAMPLES] = {"examples", true, false, NULL},
        [O_NAMES] = {"class-names", true, false, NULL},
        [O_LABEL] = {"label-column", true, false, NULL},
        [O_LABELS] = {"labels", true, false, NULL},
        [O_BATCH] = {"batch-size", true, false, NULL},
        [O_THREADS] = {"threads", true, false, NULL},
        [O_OBJECT] = {"object", true, false, NULL},
        [O_FEATURES] = {"features", true, false, NULL},
        [O_LAYER] = {"layer", true, false, NULL},
        [O_SAMPLES] = {"samples", true, false, NULL},
        [O_SEED] = {"seed", true, false, NULL},
    };
    const char *pos[1];
    int npos;
    cli_alias_output(argc, argv);
    int rc = cli_parse(cmd, usage, argc, argv, opts, O_N, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[O_OUT].seen) return cli_usage_error(cmd, "-o REPORT.html is required");
    if (!cli_has_suffix(opts[O_OUT].value, ".html") && !cli_has_suffix(opts[O_OUT].value, ".htm"))
        return cli_usage_error(cmd, "--output: '%s': the report is an HTML page; name it .html",
                               opts[O_OUT].value);
    if (!opts[O_DATA].seen) return cli_usage_error(cmd, "--data is required");
    if (opts[O_FEATURES].seen != opts[O_LAYER].seen)
        return cli_usage_error(cmd, "--features CLASSIFIER and --layer NAME go together");
    report r = {.cmd = cmd,
                .model_path = pos[0],
                .data_path = opts[O_DATA].value,
                .examples = 4,
                .label_column = opts[O_LABEL].seen ? opts[O_LABEL].value : NULL,
                .labels = opts[O_LABELS].seen ? opts[O_LABELS].value : NULL,
                .object = opts[O_OBJECT].seen ? opts[O_OBJECT].value : NULL,
                .features = opts[O_FEATURES].seen ? opts[O_FEATURES].value : NULL,
                .layer = opts[O_LAYER].seen ? opts[O_LAYER].value : NULL,
                .samples = 0, /* 10000, or every test image when there are fewer */
                .seed = 1};
    if (opts[O_EXAMPLES].seen && (rc = cli_int(cmd, "--examples", opts[O_EXAMPLES].value, 0, 64,
                                               "a count from 0 to 64", &r.examples)))
        return rc;
    if (opts[O_BATCH].seen && (rc = cli_int(cmd, "--batch-size", opts[O_BATCH].value, 1, INT32_MAX,
                                            "a positive integer", &r.batch)))
        return rc;
    if ((rc = cli_apply_threads(cmd, &opts[O_THREADS]))) return rc;
    if (opts[O_SAMPLES].seen && (rc = cli_int(cmd, "--samples", opts[O_SAMPLES].value, 2, 1000000,
                                              "a count from 2 to 1000000", &r.samples)))
        return rc;
    if (opts[O_SEED].seen && (rc = cli_u64(cmd, "--seed", opts[O_SEED].value, &r.seed))) return rc;
    if ((rc = cli_class_names(cmd, opts[O_NAMES].seen ? opts[O_NAMES].value : NULL, &r.names,
                              &r.nnames)))
        return rc;
    rc = CLI_FAIL;
    char *page = NULL;
    size_t page_len = 0;
    const report_kind *kind = NULL;
    if (cli_check_writable(cmd, "--output", opts[O_OUT].value)) goto done;

    /* The cheap checks first: the history, then the model and the data. */
    if (opts[O_HIST].seen) {
        r.hist_path = opts[O_HIST].value;
        if (!(r.history = fv_history_read_csv(r.hist_path))) {
            cli_fail_lib(cmd, "--history", FV_ERR_FORMAT);
            goto done;
        }
        fv_picture *check = fv_plot_history(r.history, NULL);
        if (!check) {
            cli_fail_lib(cmd, r.hist_path, FV_ERR_INVALID);
            goto done;
        }
        fv_picture_free(check);
    }
    if (!(r.m = cli_load_trained_model(cmd, pos[0]))) goto done;
    kind = kind_of(r.m);
    const bool classifier = kind == &report_classifier, generative = kind == &report_generative;
    if ((rc = check_option(cmd, &opts[O_OBJECT], kind == &report_pose, "pose networks")) ||
        (rc = check_option(cmd, &opts[O_FEATURES], generative, "generative models")) ||
        (rc = check_option(cmd, &opts[O_SAMPLES], generative, "generative models")) ||
        (rc = check_option(cmd, &opts[O_SEED], generative, "generative models")) ||
        (rc = check_option(cmd, &opts[O_LABEL], classifier, "classifiers")) ||
        (rc = check_option(cmd, &opts[O_LABELS], classifier, "classifiers")) ||
        (rc = check_option(cmd, &opts[O_NAMES], classifier || generative,
                           "classifiers and generative models")))
        goto done;
    rc = CLI_FAIL;
    if (!r.names && cli_model_class_names(cmd, r.m, &r.names, &r.nnames)) goto done;
    if (r.batch == 0) {
        fv_fit_opts fit = fv_model_fit_opts(r.m);
        r.batch = fit.batch_size > 0 ? fit.batch_size : 32;
    }
    if ((rc = kind->prepare(&r))) goto done;
    rc = CLI_FAIL;

    FILE *f = open_memstream(&page, &page_len);
    if (!f) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    int wrc = write_page(&r, kind, f);
    bool failed = ferror(f);
    fclose(f);
    if (wrc) goto done;
    if (failed) {
        cli_error(cmd, "out of memory while writing the page");
        goto done;
    }
    if (write_atomic(cmd, opts[O_OUT].value, page, page_len)) goto done;
    rc = CLI_OK;
done:
    if (kind) kind->release(&r);
    free(page);
    fv_model_free(r.m);
    fv_history_free(r.history);
    cli_free_class_names(r.names, r.nnames);
    return rc;
}
