/* evaluate_pose.c — `fovea evaluate --poses poses.csv --data DIR [--split S] [--json]`: scores 6D
 * pose estimates in BOP's result format from any method against a BOP dataset's ground truth
 * (fv_pose_evaluate), as text or one JSON object.
 */
#include "commands.h"
#include "common.h"
#include "pose.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: fovea evaluate --poses POSES.csv --data DIR [--split test] [--json]\n"
    "\n"
    "Scores 6D pose estimates in BOP's result format (scene_id,im_id,obj_id,score,R,t,time)\n"
    "against the ground truth of a BOP dataset (DIR/SPLIT/SCENE/scene_gt.json, ...; made by\n"
    "'fovea data make pose' or a BOP download). Each (scene, image, object) of the ground truth\n"
    "is one target, scored against that object's most visible instance; a target without an\n"
    "estimate counts as wrong. Prints:\n"
    "  ADD(-S) accuracy      ADD below 10% of the diameter (ADD-S for symmetric objects)\n"
    "  MSSD and MSPD recall  BOP 2019's average recalls (MSSD: 0.05..0.50 of the diameter;\n"
    "                        MSPD: 5..50 px at a width of 640), and each threshold's\n"
    "  rotation error        mean geodesic error in degrees, smallest over the symmetries\n"
    "  translation error     mean in mm\n"
    "  (the means, and the mean ADD(-S), are over the targets with an estimate; the\n"
    "  accuracies and recalls over all targets)\n"
    "  5deg/5cm accuracy     rotation error < 5 degrees and translation error < 50 mm\n"
    "  2-D projection        mean projected model-point distance < 5 px accuracy\n"
    "\n"
    "options:\n"
    "  --poses FILE.csv   the estimates (required)\n"
    "  --data DIR         the dataset (required)\n"
    "  --split NAME       its split to score (default test)\n"
    "  --json             print one JSON object instead\n"
    "  --threads N        threads to use (default: FOVEA_THREADS, else OMP_NUM_THREADS, else\n"
    "                     all cores)\n";

static void print_num(const char *key, double v, bool last)
{
    if (isnan(v))
        printf("  \"%s\": null%s\n", key, last ? "" : ",");
    else
        printf("  \"%s\": %.17g%s\n", key, v, last ? "" : ",");
}

static void print_json(const fv_pose_scores *s)
{
    printf("{\n  \"targets\": %lld,\n  \"estimated\": %lld,\n  \"unmatched_estimates\": %lld,\n"
           "  \"symmetric_targets\": %lld,\n  \"image_width\": %lld,\n",
           (long long)s->targets, (long long)s->estimated, (long long)s->unmatched,
           (long long)s->symmetric, (long long)s->image_width);
    print_num("add_accuracy", s->add_accuracy, false);
    print_num("add_mean_mm", s->add_mean, false);
    print_num("mssd_recall", s->mssd_recall, false);
    print_num("mspd_recall", s->mspd_recall, false);
    for (int m = 0; m < 2; m++) {
        printf("  \"%s_recalls\": [", m ? "mspd" : "mssd");
        for (int k = 0; k < 10; k++)
            printf("%s%.17g", k ? ", " : "", m ? s->mspd_recalls[k] : s->mssd_recalls[k]);
        printf("],\n");
    }
    print_num("rotation_error_mean_deg", s->rotation_error_mean, false);
    print_num("translation_error_mean_mm", s->translation_error_mean, false);
    print_num("acc_5deg_5cm", s->acc_5deg_5cm, false);
    print_num("proj_accuracy_5px", s->proj_accuracy_5px, true);
    printf("}\n");
}

/* A mean over the targets with an estimate as text: "n/a (no estimates)" when there is none. */
static const char *mean_text(double v, const char *fmt, char *buf, size_t size)
{
    if (isnan(v)) return "n/a (no estimates)";
    snprintf(buf, size, fmt, v);
    return buf;
}

static void print_text(const fv_pose_scores *s)
{
    char b1[64], b2[64], b3[64];
    printf("Targets: %lld (%lld with an estimate, %lld symmetric); estimates of no target: %lld\n",
           (long long)s->targets, (long long)s->estimated, (long long)s->symmetric,
           (long long)s->unmatched);
    printf("ADD(-S) accuracy (< 0.1 diameter): %.4f   (mean ADD(-S) %s)\n", s->add_accuracy,
           mean_text(s->add_mean, "%.2f mm", b1, sizeof b1));
    printf("MSSD recall (BOP AR): %.4f   at 0.05..0.50 d:", s->mssd_recall);
    for (int k = 0; k < 10; k++)
        printf(" %.3f", s->mssd_recalls[k]);
    printf("\nMSPD recall (BOP AR): %.4f   at 5..50 px (width 640):", s->mspd_recall);
    for (int k = 0; k < 10; k++)
        printf(" %.3f", s->mspd_recalls[k]);
    printf("\nMean rotation error: %s\n",
           mean_text(s->rotation_error_mean, "%.3f deg", b2, sizeof b2));
    printf("Mean translation error: %s\n",
           mean_text(s->translation_error_mean, "%.3f mm", b3, sizeof b3));
    printf("5deg/5cm accuracy: %.4f\n", s->acc_5deg_5cm);
    printf("2-D projection accuracy (< 5 px): %.4f\n", s->proj_accuracy_5px);
}

void cli_print_pose_scores(const fv_pose_scores *s, bool json)
{
    if (json)
        print_json(s);
    else
        print_text(s);
}

int cmd_evaluate_poses(int argc, char **argv)
{
    const char *cmd = "evaluate";
    cli_opt opts[] = {{"poses", true, false, NULL},
                      {"data", true, false, NULL},
                      {"split", true, false, NULL},
                      {"json", false, false, NULL},
                      {"threads", true, false, NULL}};
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { /* --poses --help */
            fputs(usage, stdout);
            return CLI_OK;
        }
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 0, 0, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].seen) return cli_usage_error(cmd, "--poses is required");
    if (!opts[1].seen) return cli_usage_error(cmd, "--data is required with --poses");
    if ((rc = cli_apply_threads(cmd, &opts[4]))) return rc;
    const char *split = opts[2].seen ? opts[2].value : "test";
    if (!*split || strchr(split, '/'))
        return cli_usage_error(cmd, "--split: expected a folder name, got '%s'", split);
    fv_bop_result *r = NULL;
    int64_t n = 0;
    fv_status s = fv_bop_read_results(opts[0].value, &r, &n);
    if (s != FV_OK) return cli_fail_lib(cmd, "--poses", s);
    fv_pose_scores sc;
    s = fv_pose_evaluate(opts[1].value, split, r, n, &sc);
    free(r);
    if (s != FV_OK) return cli_fail_lib(cmd, "--data", s);
    cli_print_pose_scores(&sc, opts[3].seen);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(cmd, "cannot write to standard output");
        return CLI_FAIL;
    }
    return CLI_OK;
}
