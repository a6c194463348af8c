/* test_yolo.c — the detection head: CIoU and GIoU against hand-worked values and finite
 * differences, the assignment of boxes to cells and anchors by hand, the yolo loss against
 * PyTorch fixtures (tests/fixtures/make_yolo_fixture.py) and finite differences, the targets'
 * checks, and a detector that learns.
 */
#include "fovea.h"
#include "io/io.h"
#include "layers/yolo.h"
#include "model/model_impl.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

/* A model holding one yolo layer over an input grid, compiled with the yolo loss. */
static fv_model *yolo_model(int64_t H, int64_t W, int64_t channels, const char *layer)
{
    char text[512];
    snprintf(text, sizeof text, "input shape=%lld,%lld,%lld\n%s\ncompile loss=yolo optimizer=sgd\n",
             (long long)H, (long long)W, (long long)channels, layer);
    return fv_model_parse_string(text, "yolo.fv");
}

/* The task loss of a model's yolo layer on (y, t), with its gradient when dy is not NULL. */
static double yolo_loss(fv_model *m, const float *y, const float *t, int64_t n, float *dy,
                        double parts[3])
{
    const fv_layer *head = &m->layers[0];
    const fv_task_loss *tl = head->kind->task_loss;
    void *scratch = malloc(tl->scratch_bytes(head, n));
    const double L = tl->compute(head, y, t, n, dy, parts, scratch);
    free(scratch);
    return L;
}

TEST(ciou_and_giou_by_hand)
{
    const double a[4] = {0, 0, 2, 2}, same[4] = {0, 0, 2, 2}, far[4] = {4, 0, 2, 2},
                 half[4] = {1, 0, 2, 2}, wide[4] = {0, 0, 2, 1}, tall[4] = {0, 0, 1, 2};
    CHECK_CLOSE(fv__box_ciou(a, same, false, NULL), 1, 1e-6, 0);
    CHECK_CLOSE(fv__box_ciou(a, same, true, NULL), 1, 1e-6, 0);
    /* apart by 2: IoU 0; the enclosing box 6 × 2 (C 12, U 8): GIoU −1/3; ρ² 16, c² 40 */
    CHECK_CLOSE(fv__box_ciou(a, far, true, NULL), -1.0 / 3, 1e-6, 0);
    CHECK_CLOSE(fv__box_ciou(a, far, false, NULL), -0.4, 1e-6, 0);
    /* overlapping by half: I 2, U 6, IoU 1/3; enclosing 3 × 2 = U... GIoU 1/3; ρ² 1, c² 13 */
    CHECK_CLOSE(fv__box_ciou(a, half, true, NULL), 1.0 / 3, 1e-6, 0);
    CHECK_CLOSE(fv__box_ciou(a, half, false, NULL), 1.0 / 3 - 1.0 / 13, 1e-6, 0);
    /* crossed 2×1 and 1×2: IoU 1/3, C 4: GIoU 1/12; v = 4/π²·(atan 2 − atan ½)², α = v/(v + ⅔) */
    const double v = 4 / (M_PI * M_PI) * pow(atan(2.0) - atan(0.5), 2), alpha = v / (v + 2.0 / 3);
    CHECK_CLOSE(fv__box_ciou(wide, tall, true, NULL), 1.0 / 12, 1e-6, 0);
    CHECK_CLOSE(fv__box_ciou(wide, tall, false, NULL), 1.0 / 3 - alpha * v, 1e-6, 0);
}

/* CIoU's α·v for boxes p and g (Zheng et al.: v = 4/π²·(atan(wg/hg) − atan(w/h))², α = v/(v −
 * IoU + 1)), computed here from the definitions. */
static double alpha_v(const double p[4], const double g[4], double *v_out)
{
    const double iw = fmin(p[0] + p[2] / 2, g[0] + g[2] / 2) -
                      fmax(p[0] - p[2] / 2, g[0] - g[2] / 2),
                 ih = fmin(p[1] + p[3] / 2, g[1] + g[3] / 2) -
                      fmax(p[1] - p[3] / 2, g[1] - g[3] / 2);
    const double I = iw > 0 && ih > 0 ? iw * ih : 0;
    const double iou = I / (p[2] * p[3] + g[2] * g[3] - I + 1e-7);
    const double v = 4 / (M_PI * M_PI) * pow(atan(g[2] / g[3]) - atan(p[2] / p[3]), 2);
    *v_out = v;
    return v / (v - iou + 1 + 1e-7) * v;
}

/* The analytic gradient of CIoU and GIoU with respect to the predicted box, against central
 * differences, on random pairs (overlapping, apart, nested). The analytic gradient holds CIoU's
 * α constant (as YOLOv5's does), so the numeric one has α's own change taken out:
 * numeric + Δ(α·v)/2h − α₀·Δv/2h. */
TEST(ciou_and_giou_gradients_match_finite_differences)
{
    fv_rng r;
    fv__rng_seed(&r, 41);
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        double p[4], g[4], d[4];
        for (int k = 0; k < 2; k++)
            p[k] = 4 * fv__rng_uniform(&r), g[k] = 4 * fv__rng_uniform(&r);
        for (int k = 2; k < 4; k++)
            p[k] = 0.3 + 3 * fv__rng_uniform(&r), g[k] = 0.3 + 3 * fv__rng_uniform(&r);
        const bool giou = trial % 2;
        fv__box_ciou(p, g, giou, d);
        for (int k = 0; k < 4; k++) {
            const double h = 1e-6;
            double pp[4], pm[4];
            memcpy(pp, p, sizeof pp), memcpy(pm, p, sizeof pm);
            pp[k] += h, pm[k] -= h;
            double num =
                (fv__box_ciou(pp, g, giou, NULL) - fv__box_ciou(pm, g, giou, NULL)) / (2 * h);
            if (!giou) {
                double vp, vm, v0;
                const double avp = alpha_v(pp, g, &vp), avm = alpha_v(pm, g, &vm),
                             av0 = alpha_v(p, g, &v0);
                const double a0 = v0 > 0 ? av0 / v0 : 0;
                num += ((avp - avm) - a0 * (vp - vm)) / (2 * h);
            }
            if (!(fabs(num - d[k]) <= 1e-5 + 1e-4 * fabs(num)) && bad++ < 5)
                fprintf(stderr, "  trial %d (%s) d[%d]: analytic %.8g, numeric %.8g\n", trial,
                        giou ? "giou" : "ciou", k, d[k], num);
        }
    }
    CHECK(bad == 0);
}

/* A 4 × 4 grid with anchors (1, 1) and (3, 3) in cells. */
TEST(boxes_go_to_their_centre_cell_and_matching_anchors)
{
    fv_model *m = yolo_model(4, 4, 2 * 7, "yolo classes=2 anchors=1,1,3,3 max_boxes=3");
    CHECK(m != NULL);
    if (!m) return;
    int32_t owner[32];
    /* a box of 1 × 1 cells centred in cell (row 2, col 1): both anchors (ratios 1 and 3 < 4) */
    const float t1[16] = {1, 0, 0.3f, 0.6f, 0.25f, 0.25f};
    CHECK(fv__yolo_assign(&m->layers[0], t1, owner) == 2);
    CHECK(owner[(2 * 4 + 1) * 2 + 0] == 0 && owner[(2 * 4 + 1) * 2 + 1] == 0);
    /* 0.4 × 0.4 cells: the large anchor's ratio is 7.5 — only the small one */
    const float t2[16] = {1, 1, 0.3f, 0.6f, 0.1f, 0.1f};
    CHECK(fv__yolo_assign(&m->layers[0], t2, owner) == 1);
    CHECK(owner[(2 * 4 + 1) * 2 + 0] == 0 && owner[(2 * 4 + 1) * 2 + 1] == -1);
    /* 0.2 × 0.2 cells, ratios 5 and 15: no anchor matches, the best (the small one) takes it;
     * a centre on the far edge stays in the last cell */
    const float t3[16] = {1, 0, 1.0f, 1.0f, 0.05f, 0.05f};
    CHECK(fv__yolo_assign(&m->layers[0], t3, owner) == 1);
    CHECK(owner[(3 * 4 + 3) * 2 + 0] == 0);
    /* 4 × 4 cells: the small anchor's ratio is exactly 4, not below anchor_t */
    const float t5[16] = {1, 0, 0.5f, 0.5f, 1.0f, 1.0f};
    CHECK(fv__yolo_assign(&m->layers[0], t5, owner) == 1);
    CHECK(owner[(2 * 4 + 2) * 2 + 1] == 0);
    /* two boxes in one cell: the smaller takes the slots it wants, the larger keeps the rest */
    const float t4[16] = {2, 0, 0.3f, 0.6f, 0.3f, 0.3f, 1, 0.31f, 0.61f, 0.2f, 0.2f};
    CHECK(fv__yolo_assign(&m->layers[0], t4, owner) == 2);
    CHECK(owner[(2 * 4 + 1) * 2 + 0] == 1 && owner[(2 * 4 + 1) * 2 + 1] == 1);
    fv_model_free(m);
}

/* YOLOv5's neighbour cells on a 4 × 4 grid with one anchor (1, 1). */
TEST(neighbor_cells_add_the_two_nearest_cells)
{
    fv_model *m = yolo_model(4, 4, 7, "yolo classes=2 anchors=1,1 max_boxes=2 neighbor_cells=2");
    CHECK(m != NULL);
    if (!m) return;
    int32_t owner[16];
    /* centre (1.2, 2.7) cells: its cell (row 2, col 1); x in the left half but gx = 1.2 > 1:
     * col 0; y in the lower half and gy = 2.7 < 3: row 3 */
    const float t1[11] = {1, 0, 0.3f, 0.675f, 0.25f, 0.25f};
    CHECK(fv__yolo_assign(&m->layers[0], t1, owner) == 3);
    CHECK(owner[2 * 4 + 1] == 0 && owner[2 * 4 + 0] == 0 && owner[3 * 4 + 1] == 0);
    /* centre (0.8, 3.4): x in the right half, gx < 3: col 1; y in the left half, gy > 1: row 2 */
    const float t2[11] = {1, 1, 0.2f, 0.85f, 0.25f, 0.25f};
    CHECK(fv__yolo_assign(&m->layers[0], t2, owner) == 3);
    CHECK(owner[3 * 4 + 0] == 0 && owner[3 * 4 + 1] == 0 && owner[2 * 4 + 0] == 0);
    /* centre (0.4, 3.6): gx < 1 and gy > 3 — no neighbour on either axis */
    const float t3[11] = {1, 1, 0.1f, 0.9f, 0.25f, 0.25f};
    CHECK(fv__yolo_assign(&m->layers[0], t3, owner) == 1);
    CHECK(owner[3 * 4 + 0] == 0);
    /* the centre on the far corner (4, 4), clamped into cell (3, 3): its neighbours g − 0.5 = 3.5
     * fall in the same cell — one slot */
    const float t4[11] = {1, 1, 1.0f, 1.0f, 0.25f, 0.25f};
    CHECK(fv__yolo_assign(&m->layers[0], t4, owner) == 1);
    CHECK(owner[3 * 4 + 3] == 0);
    /* a neighbour slot another box's centre wants goes to the smaller box */
    const float t5[11] = {2, 0, 0.3f, 0.675f, 0.25f, 0.25f, 1, 0.125f, 0.625f, 0.2f, 0.2f};
    CHECK(fv__yolo_assign(&m->layers[0], t5, owner) == 3);
    CHECK(owner[2 * 4 + 0] == 1 && owner[2 * 4 + 1] == 0 && owner[3 * 4 + 1] == 0);
    fv_model_free(m);
    CHECK(yolo_model(4, 4, 7, "yolo classes=2 anchors=1,1 neighbor_cells=1") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "neighbor_cells=1");
}

static void fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "fixtures/%s.safetensors", name);
    fv_st_file f;
    CHECK_OK(fv__st_read(path, &f));
    const fv_st_tensor *ty = fv__st_find(&f, "y"), *tt = fv__st_find(&f, "t"),
                       *tg = fv__st_find(&f, "grad"), *tp = fv__st_find(&f, "parts"),
                       *tl = fv__st_find(&f, "loss");
    const char *line = fv__st_meta(&f, "fovea.layer");
    CHECK(ty && tt && tg && tp && tl && line);
    if (!ty || !tt || !tg || !tp || !tl || !line) {
        fv__st_free(&f);
        return;
    }
    const int64_t n = ty->dims[0], count = n * ty->dims[1] * ty->dims[2] * ty->dims[3];
    fv_model *m = yolo_model(ty->dims[1], ty->dims[2], ty->dims[3], line);
    CHECK(m != NULL);
    float *y = malloc((size_t)count * sizeof(float)), *g = malloc((size_t)count * sizeof(float)),
          *want = malloc((size_t)count * sizeof(float)),
          *t = malloc((size_t)(n * tt->dims[1]) * sizeof(float));
    float parts_want[3], loss_want;
    fv__st_copy_f32(&f, ty, y), fv__st_copy_f32(&f, tt, t), fv__st_copy_f32(&f, tg, want);
    fv__st_copy_f32(&f, tp, parts_want), fv__st_copy_f32(&f, tl, &loss_want);
    if (m) {
        double parts[3];
        const double L = yolo_loss(m, y, t, n, g, parts);
        CHECK_CLOSE(L, loss_want, 0, 1e-5);
        for (int k = 0; k < 3; k++)
            CHECK_CLOSE(parts[k], parts_want[k], 1e-7, 1e-5);
        double worst = 0, scale = 0;
        for (int64_t i = 0; i < count; i++)
            worst = fmax(worst, fabs(g[i] - want[i])), scale = fmax(scale, fabs(want[i]));
        if (!(worst <= 1e-5 * scale)) {
            fprintf(stderr, "  %s: gradient differs by %.3g (largest %.3g)\n", name, worst, scale);
            test_failed_checks++;
        }
        /* the same loss through the model: compile loss=yolo, targets by output name */
        const int64_t dims[3] = {ty->dims[1], ty->dims[2], ty->dims[3]};
        fv_dataset *d = fv_dataset_from_f32(n, 3, dims, y, NULL);
        CHECK_OK(fv_dataset_add_output(d, fv_model_layer_name(m, 0), tt->dims[1], t));
        double el, terms[3];
        CHECK(fv_model_loss_terms(m) == 3);
        CHECK_OK(fv_model_evaluate_terms(m, d, n, &el, terms));
        CHECK_CLOSE(el, loss_want, 0, 1e-5);
        CHECK(strcmp(fv_model_loss_term(m, 0), "box_loss") == 0);
        fv_dataset_free(d);
    }
    free(y), free(g), free(want), free(t);
    fv_model_free(m);
    fv__st_free(&f);
}

TEST(yolo_loss_matches_pytorch)
{
    fixture("yolo_ciou");
    fixture("yolo_giou");
    fixture("yolo_neighbors");
}

/* Central differences of the whole loss with respect to every raw prediction of a small grid.
 * Two things are held constant in the analytic gradient, as YOLOv5 holds them: CIoU's α and the
 * objectness target (the slot's IoU). So the box and class terms are checked with GIoU and no
 * objectness term, and the objectness term alone everywhere but the positive slots' box values
 * (through which only its constant target moves). CIoU's gradient is checked in
 * ciou_and_giou_gradients_match_finite_differences and against PyTorch. */
TEST(yolo_loss_gradient_matches_finite_differences)
{
    const char *lines[] = {
        "yolo classes=2 anchors=1,1.2,2,2 max_boxes=2 obj=0 iou_loss=giou",
        "yolo classes=2 anchors=1,1.2,2,2 max_boxes=2 box=0 cls=0",
    };
    for (int li = 0; li < 2; li++) {
        fv_model *m = yolo_model(3, 3, 14, lines[li]);
        CHECK(m != NULL);
        if (!m) continue;
        enum { N = 2, K = 7, SLOTS = 3 * 3 * 2, COUNT = N * SLOTS * K };
        float y[COUNT], g[COUNT];
        fv_rng r;
        fv__rng_seed(&r, 7 + (uint64_t)li);
        for (int i = 0; i < COUNT; i++)
            y[i] = 3 * fv__rng_uniform(&r) - 1.5f;
        const float t[2 * 11] = {2,    1,    0.4f, 0.5f, 0.3f, 0.5f, 0,    0.8f, 0.2f,
                                 0.5f, 0.3f, 1,    0,    0.1f, 0.9f, 0.2f, 0.15f};
        int32_t owner[2][SLOTS];
        int64_t pos = 0;
        for (int i = 0; i < N; i++)
            pos += fv__yolo_assign(&m->layers[0], t + i * 11, owner[i]);
        CHECK(pos >= 3);
        double parts[3];
        yolo_loss(m, y, t, N, g, parts);
        int bad = 0, checked = 0;
        for (int i = 0; i < COUNT; i++) {
            const int sample = i / (SLOTS * K), slot = i / K % SLOTS, k = i % K;
            if (li == 1 && owner[sample][slot] >= 0 && k < 4) continue;
            const float y0 = y[i], h = 1e-2f;
            y[i] = y0 + h;
            const double lp = yolo_loss(m, y, t, N, NULL, parts);
            y[i] = y0 - h;
            const double lm = yolo_loss(m, y, t, N, NULL, parts);
            y[i] = y0;
            const double num = (lp - lm) / (2.0 * h);
            checked++;
            if (!(fabs(num - g[i]) <= 2e-5 + 1e-2 * fabs(num)) && bad++ < 5)
                fprintf(stderr, "  %s: y[%d]: analytic %.8g, numeric %.8g\n", lines[li], i,
                        (double)g[i], num);
        }
        CHECK(bad == 0 && checked > COUNT / 2);
        fv_model_free(m);
    }
}

TEST(yolo_targets_are_checked_before_training)
{
    fv_model *m = yolo_model(2, 2, 7, "yolo classes=2 anchors=1,1 max_boxes=2");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 2 };
    float x[N * 2 * 2 * 7] = {0};
    const int64_t dims[3] = {2, 2, 7};
    struct {
        float t[N * 11];
        const char *want;
    } cases[] = {
        {{1, 0, 0.5f, 0.5f, 0.2f, 0.2f, 0, 0, 0, 0, 0, 3},
         "sample 1 (counting from 0): the box count 3 is not"},
        {{1, 2, 0.5f, 0.5f, 0.2f, 0.2f}, "sample 0, box 0"},
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0.5f, 1.5f, 0.2f, 0.2f}, "sample 1, box 0"},
        {{1, 1, 0.5f, 0.5f, 0, 0.2f}, "size in (0, 1]"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fv_dataset *d = fv_dataset_from_f32(N, 3, dims, x, NULL);
        CHECK_OK(fv_dataset_add_output(d, fv_model_layer_name(m, 0), 11, cases[c].t));
        double loss;
        CHECK(fv_model_evaluate(m, d, N, &loss, NULL) == FV_ERR_INVALID);
        CHECK_STR_CONTAINS(fv_last_error(), cases[c].want);
        fv_dataset_free(d);
    }
    /* anchors must come in pairs; the grid must have anchors × (5 + classes) channels */
    CHECK(yolo_model(2, 2, 7, "yolo classes=2 anchors=1,1,2") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "not a whole number of pairs");
    CHECK(yolo_model(2, 2, 8, "yolo classes=2 anchors=1,1") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "(rows, cols, 1 × 7 = 7), got (None, 2, 2, 8)");
    fv_model_free(m);
}

/* A detector that learns: one bright square per 16 × 16 image, its class from its brightness;
 * fifteen epochs of a small CNN with the yolo head lower every part of the loss. */
TEST(a_small_detector_learns)
{
    const char *text = "input shape=16,16,1\n"
                       "conv2d filters=8 kernel_size=3 padding=same activation=relu\n"
                       "conv2d filters=8 kernel_size=3 strides=2 padding=same activation=relu\n"
                       "conv2d filters=8 kernel_size=3 strides=2 padding=same activation=relu\n"
                       "conv2d name=pred filters=7 kernel_size=1\n"
                       "yolo name=det classes=2 anchors=1,1 max_boxes=1\n"
                       "compile loss=yolo optimizer=adam learning_rate=0.01\n";
    fv_model *m = fv_model_parse_string(text, "det.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 128 };
    float *x = calloc(N * 256, sizeof(float)), *t = calloc(N * 6, sizeof(float));
    fv_rng r;
    fv__rng_seed(&r, 3);
    for (int i = 0; i < N; i++) {
        const int s = 3 + (int)fv__rng_below(&r, 3),
                  x0 = (int)fv__rng_below(&r, (uint64_t)(16 - s)),
                  y0 = (int)fv__rng_below(&r, (uint64_t)(16 - s)), cls = i % 2;
        for (int yy = y0; yy < y0 + s; yy++)
            for (int xx = x0; xx < x0 + s; xx++)
                x[i * 256 + yy * 16 + xx] = cls ? 1.0f : 0.5f;
        const float row[6] = {1,         (float)cls, (x0 + s / 2.0f) / 16, (y0 + s / 2.0f) / 16,
                              s / 16.0f, s / 16.0f};
        memcpy(t + i * 6, row, sizeof row);
    }
    const int64_t dims[3] = {16, 16, 1};
    fv_dataset *d = fv_dataset_from_f32(N, 3, dims, x, NULL);
    CHECK_OK(fv_dataset_add_output(d, "det", 6, t));
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 15, o.batch_size = 16, o.seed = 1;
    fv_history *h = NULL;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    const char *cols[] = {"loss", "box_loss", "obj_loss", "cls_loss"};
    for (int c = 0; c < 4 && h; c++) {
        const double *v = fv_history_get(h, cols[c]);
        CHECK(v != NULL);
        if (!v) continue;
        /* the box term falls slowest (its gain is 0.05; mean 1 − CIoU from about 0.6) */
        if (!(v[14] < (c == 1 ? 0.85 : 0.5) * v[0])) {
            fprintf(stderr, "  %s: %.4f -> %.4f\n", cols[c], v[0], v[14]);
            test_failed_checks++;
        }
    }
    fv_history_free(h);
    fv_dataset_free(d);
    free(x), free(t);
    fv_model_free(m);
}

/* A model planned for one loss and compiled again with a task loss plans its target buffers and
 * the loss's scratch for the new loss's width: the yolo targets (1 + 5·max_boxes floats a sample)
 * are wider here than the grid that mse's targets had. */
TEST(recompiling_with_a_task_loss_plans_its_targets)
{
    const char *text = "input shape=1,1,6\n"
                       "yolo name=det classes=1 anchors=1,1 max_boxes=16\n"
                       "compile loss=mse optimizer=sgd\n";
    fv_model *m = fv_model_parse_string(text, "recompile.fv");
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 4, TW = 1 + 5 * 16 };
    float x[N * 6] = {0}, t[N * TW] = {0};
    for (int i = 0; i < N; i++) {
        const float box[6] = {1, 0, 0.5f, 0.5f, 0.5f, 0.5f};
        memcpy(t + i * TW, box, sizeof box);
    }
    const int64_t dims[3] = {1, 1, 6};
    fv_dataset *d = fv_dataset_from_f32(N, 3, dims, x, NULL);
    CHECK_OK(fv_dataset_add_output(d, "det", 6, x));
    double loss = NAN;
    CHECK_OK(fv_model_evaluate(m, d, N, &loss, NULL));
    fv_dataset_free(d);
    CHECK_OK(fv_model_compile(m, "loss=yolo optimizer=sgd"));
    d = fv_dataset_from_f32(N, 3, dims, x, NULL);
    CHECK_OK(fv_dataset_add_output(d, "det", TW, t));
    /* zero logits: the decoded box (0.5, 0.5, 1, 1) against (0.5, 0.5, 0.5, 0.5) has CIoU 0.25;
     * the objectness and class BCEs of a zero logit are log 2 whatever the target */
    double terms[3] = {NAN, NAN, NAN};
    CHECK_OK(fv_model_evaluate_terms(m, d, N, &loss, terms));
    CHECK_CLOSE(terms[0], 0.05 * 0.75, 1e-6, 0);
    CHECK_CLOSE(terms[1], log(2.0), 1e-6, 0);
    CHECK_CLOSE(terms[2], 0.5 * log(2.0), 1e-6, 0);
    fv_history *h = NULL;
    fv_fit_opts o = fv_fit_defaults();
    o.epochs = 1, o.batch_size = N;
    CHECK_OK(fv_model_fit(m, d, &o, &h));
    fv_history_free(h);
    fv_dataset_free(d);
    fv_model_free(m);
}

/* compile loss=yolo belongs to the yolo output layer: a layer that would become the output after
 * it, or a model line that would move the outputs, is refused (the loss was left on a layer
 * without one: check_targets dereferenced its NULL task loss). */
TEST(a_task_loss_stays_on_its_output_layer)
{
    const char *head = "input shape=1,1,6\n"
                       "yolo name=det classes=1 anchors=1,1 max_boxes=1\n"
                       "compile loss=yolo optimizer=sgd\n";
    char text[512];
    snprintf(text, sizeof text, "%sdropout name=drop rate=0.1\n", head);
    CHECK(fv_model_parse_string(text, "after.fv") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(),
                       "after.fv:4: dropout: after compile loss=yolo, whose task loss belongs to "
                       "output layer 'det'");
    snprintf(text, sizeof text, "%smodel outputs=det\n", head);
    CHECK(fv_model_parse_string(text, "outputs.fv") == NULL);
    CHECK_STR_CONTAINS(fv_last_error(), "outputs.fv:4: model: after compile loss=yolo");
    /* layers before the compile line, and a model without a task loss, are as before */
    snprintf(text, sizeof text,
             "input shape=1,1,6\nyolo name=det classes=1 anchors=1,1\n"
             "compile loss=mse optimizer=sgd\ndropout rate=0.1\n");
    fv_model *m = fv_model_parse_string(text, "mse.fv");
    CHECK(m != NULL);
    fv_model_free(m);
}

int main(void)
{
    RUN(ciou_and_giou_by_hand);
    RUN(ciou_and_giou_gradients_match_finite_differences);
    RUN(boxes_go_to_their_centre_cell_and_matching_anchors);
    RUN(neighbor_cells_add_the_two_nearest_cells);
    RUN(yolo_loss_matches_pytorch);
    RUN(yolo_loss_gradient_matches_finite_differences);
    RUN(yolo_targets_are_checked_before_training);
    RUN(a_small_detector_learns);
    RUN(recompiling_with_a_task_loss_plans_its_targets);
    RUN(a_task_loss_stays_on_its_output_layer);
    return TEST_SUMMARY();
}
