/* report_pose.c — `fovea report`'s sections for a pose network (a model ending in the pose head):
 * the figures of `fovea evaluate MODEL --data BOPDIR` (ADD(-S), BOP's MSSD and MSPD recalls, the
 * rotation and translation errors), the ADD(-S) accuracy-threshold curve (`evaluate --plot`), and
 * the test images with the best and the worst ADD(-S), estimate beside truth (`viz pose`).
 */
#include "commands.h"
#include "common.h"
#include "pose.h"
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pose_report {
    cli_pose_eval ev;
    int64_t *order;            /* [n] sample indices by increasing ADD(-S) error, ties by index */
    fv_pose_model_info *infos; /* models_info.json's, ninfos */
    int64_t ninfos;
    const fv_pose_model_info *info; /* the object's, in infos */
} pose_report;

static const double *sort_err; /* qsort's key; the report runs in one thread */

static int by_err(const void *a, const void *b)
{
    const int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    const double x = sort_err[i], y = sort_err[j];
    if (isnan(x) != isnan(y)) return isnan(x) ? 1 : -1; /* no estimate: last */
    if (x != y && !isnan(x)) return x < y ? -1 : 1;
    return (i > j) - (i < j);
}

static int prepare(report *r)
{
    pose_report *p = report_task_new(r, sizeof *p);
    if (!p) return CLI_FAIL;
    if (!cli_is_pose_dir(r->data_path)) {
        cli_error(r->cmd,
                  "--data: '%s' is not a 6D pose dataset in BOP's layout (no "
                  "models/models_info.json), but %s is a pose network (its output is a pose head)",
                  r->data_path, r->model_path);
        return CLI_FAIL;
    }
    int rc = cli_pose_evaluation(r->cmd, r->m, r->data_path, r->object, true, 1, &p->ev);
    if (rc) return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/models/models_info.json", r->data_path);
    fv_status s = fv_bop_read_models_info(path, &p->infos, &p->ninfos);
    if (s != FV_OK) return cli_fail_lib(r->cmd, "--data", s);
    for (int64_t i = 0; i < p->ninfos; i++)
        if (p->infos[i].obj_id == p->ev.obj_id) p->info = &p->infos[i];
    if (!p->info) { /* cli_pose_evaluation has found it there */
        cli_error(r->cmd, "--data: %s has no obj_id %lld", path, (long long)p->ev.obj_id);
        return CLI_FAIL;
    }
    const int64_t n = p->ev.n;
    if (!(p->order = malloc((size_t)(n ? n : 1) * sizeof *p->order))) {
        cli_error(r->cmd, "out of memory");
        return CLI_FAIL;
    }
    for (int64_t i = 0; i < n; i++)
        p->order[i] = i;
    sort_err = p->ev.err;
    qsort(p->order, (size_t)n, sizeof *p->order, by_err);
    snprintf(r->meta, sizeof r->meta, "obj_id %lld, %lld test images", (long long)p->ev.obj_id,
             (long long)n);
    return 0;
}

static void nav(const report *r, FILE *f)
{
    (void)r;
    fputs("<a href=\"#pose\">Pose figures</a><a href=\"#add\">ADD(-S) curve</a>"
          "<a href=\"#images\">Best and worst images</a><a href=\"#kernels\">Kernels</a>",
          f);
}

static void cards(const report *r, FILE *f)
{
    const fv_pose_scores *s = &((const pose_report *)r->task)->ev.sc;
    report_card(f, s->add_accuracy, 4, "ADD(-S) accuracy (0.1 d)");
    report_card(f, s->mssd_recall, 4, "MSSD recall");
    report_card(f, s->mspd_recall, 4, "MSPD recall");
    report_card(f, s->rotation_error_mean, 2, "Rotation error (deg)");
    report_card(f, s->translation_error_mean, 2, "Translation error (mm)");
}

/* One row of the figures' table: data-key the name `evaluate --json` gives the figure. */
static void row(FILE *f, const char *key, const char *label, double v, int digits)
{
    fprintf(f, "<tr data-key=\"%s\"><th>%s</th>", key, label);
    if (isnan(v))
        fputs("<td class=\"na\">-</td></tr>\n", f);
    else
        fprintf(f, "<td>%.*f</td></tr>\n", digits, v);
}

static void figures(const report *r, FILE *f)
{
    const pose_report *p = r->task;
    const fv_pose_scores *s = &p->ev.sc;
    fputs("<h2 id=\"pose\">Pose figures on the test set</h2>\n", f);
    fprintf(f,
            "<p class=\"meta\">As <code>fovea evaluate MODEL --data DIR</code> computes them, "
            "on the object's most visible instance in each test image: ADD%s below 10%% of the "
            "object's diameter (Hinterstoisser et al. 2012), BOP 2019's average recalls of MSSD "
            "(0.05 to 0.50 of the diameter) and MSPD (5 to 50 px at a width of 640; the images "
            "are %lld px wide), the geodesic rotation error (the smallest over the object's "
            "symmetries), the translation error, the 5°/5 cm accuracy and the 2-D projection "
            "accuracy at 5 px.</p>\n",
            fv_pose_model_symmetric(p->info) ? "-S (the object is symmetric)"
                                             : " (the object has no symmetry)",
            (long long)s->image_width);
    fprintf(f,
            "<table class=\"kv\" id=\"pose-figures\">\n<tr data-key=\"targets\"><th>targets"
            "</th><td>%lld</td></tr>\n<tr data-key=\"estimated\"><th>with an estimate</th><td>"
            "%lld</td></tr>\n<tr data-key=\"symmetric_targets\"><th>symmetric</th><td>%lld"
            "</td></tr>\n",
            (long long)s->targets, (long long)s->estimated, (long long)s->symmetric);
    row(f, "add_accuracy", "ADD(-S) accuracy (&lt; 0.1 diameter)", s->add_accuracy, 4);
    row(f, "add_mean_mm", "mean ADD(-S) (mm)", s->add_mean, 2);
    row(f, "mssd_recall", "MSSD recall (BOP AR)", s->mssd_recall, 4);
    row(f, "mspd_recall", "MSPD recall (BOP AR)", s->mspd_recall, 4);
    row(f, "rotation_error_mean_deg", "mean rotation error (deg)", s->rotation_error_mean, 3);
    row(f, "translation_error_mean_mm", "mean translation error (mm)", s->translation_error_mean,
        3);
    row(f, "acc_5deg_5cm", "5°/5 cm accuracy", s->acc_5deg_5cm, 4);
    row(f, "proj_accuracy_5px", "2-D projection accuracy (&lt; 5 px)", s->proj_accuracy_5px, 4);
    fputs("</table>\n<table class=\"grid\" id=\"pose-recalls\">\n<tr><th>threshold</th>", f);
    for (int k = 1; k <= 10; k++)
        fprintf(f, "<th>%d</th>", k);
    fputs("</tr>\n<tr><th>MSSD (× 0.05 d)</th>", f);
    for (int k = 0; k < 10; k++)
        fprintf(f, "<td>%.3f</td>", s->mssd_recalls[k]);
    fputs("</tr>\n<tr><th>MSPD (× 5 px)</th>", f);
    for (int k = 0; k < 10; k++)
        fprintf(f, "<td>%.3f</td>", s->mspd_recalls[k]);
    fputs("</tr>\n</table>\n", f);
}

/* Samples idx[0..n) drawn with their estimated and true poses. */
static int images(const report *r, FILE *f, const int64_t *idx, int64_t n, const char *title)
{
    const pose_report *p = r->task;
    fv_pose_view v[64];
    uint8_t *px[64] = {0};
    char captions[64][96];
    int64_t dims[4];
    fv_model_input_shape(r->m, 0, dims);
    fv_image_opts io = fv_image_defaults();
    io.channels = (int)dims[2];
    io.height = io.width = 0;
    io.strict = true;
    int rc = 0;
    fprintf(f, "<h3>%s</h3>\n", title);
    fputs("<table class=\"grid\">\n<tr><th>image</th><th>scene_id</th><th>im_id</th><th>ADD(-S) / "
          "diameter</th><th>rotation error (deg)</th><th>translation error (mm)</th></tr>\n",
          f);
    for (int64_t q = 0; q < n; q++) {
        const fv_pose_sample *s = &p->ev.smp[idx[q]];
        fputs("<tr><th>", f);
        report_esc(f, s->path);
        fprintf(f, "</th><td>%lld</td><td>%lld</td>", (long long)s->scene_id, (long long)s->im_id);
        report_cell(f, p->ev.err[idx[q]]);
        fprintf(f, "<td>%.2f</td><td>%.2f</td></tr>\n",
                fv_rotation_error_sym(p->ev.r[idx[q]].pose.R, s->gt.R, p->info),
                fv_translation_error(p->ev.r[idx[q]].pose.t, s->gt.t));
    }
    fputs("</table>\n", f);
    for (int64_t q = 0; q < n && !rc; q++) {
        const fv_pose_sample *s = &p->ev.smp[idx[q]];
        fv_status st = fv_image_read(s->path, &io, &px[q], &v[q].height, &v[q].width);
        if (st != FV_OK) {
            rc = cli_fail_lib(r->cmd, "--data", st);
            break;
        }
        const char *base = strrchr(s->path, '/');
        snprintf(captions[q], sizeof captions[q], "%.24s, ADD %.2f d", base ? base + 1 : s->path,
                 p->ev.err[idx[q]]);
        v[q].pixels = px[q];
        v[q].channels = io.channels;
        memcpy(v[q].K, s->K, sizeof v[q].K);
        v[q].est = &p->ev.r[idx[q]].pose;
        v[q].gt = &s->gt;
        v[q].caption = captions[q];
    }
    char alt[128];
    snprintf(alt, sizeof alt, "%s: estimated and true poses", title);
    if (!rc) rc = report_img(r->cmd, f, fv_plot_poses(v, n, p->info->min, p->info->size), alt);
    for (int64_t q = 0; q < n; q++)
        free(px[q]);
    return rc;
}

static int body(report *r, FILE *f)
{
    const pose_report *p = r->task;
    figures(r, f);
    fputs("<h2 id=\"add\">ADD(-S) accuracy against the threshold</h2>\n", f);
    if (report_img(r->cmd, f, fv_plot_pose_accuracy(p->ev.err, p->ev.n), "ADD(-S) curve"))
        return CLI_FAIL;
    fputs("<h2 id=\"images\">Best and worst test images</h2>\n<p class=\"meta\">Ranked by ADD "
          "(ADD-S for a symmetric object) over the object's diameter; each image drawn twice, "
          "the estimate (orange box) beside the true pose (green box), with the object's axes "
          "(x red, y green, z blue).</p>\n",
          f);
    if (report_best_worst(r, f, p->order, p->ev.n, images)) return CLI_FAIL;
    return report_kernels(r, f);
}

static void release(report *r)
{
    pose_report *p = r->task;
    if (!p) return;
    cli_pose_eval_free(&p->ev);
    fv_bop_free_models_info(p->infos, p->ninfos);
    free(p->order);
    free(p);
    r->task = NULL;
}

const report_kind report_pose = {prepare, nav, cards, body, release};
