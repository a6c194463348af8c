/* test_eltwise.c — the element-wise kernels (kernels/eltwise.h): the reference by hand on small
 * cases, and every vector path this CPU has against the reference, bit for bit, on random data and
 * odd shapes (channel counts below, at and past a vector, aliasing, optional arrays).
 */
#include "core/core.h"
#include "kernels/eltwise.h"
#include "test.h"
#include "test_arrays.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static double *dalloc(int64_t n)
{
    double *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!p) abort();
    return p;
}

/* Uniform in [-1, 1), with some exact zeros and negative zeros (ReLU's edge). */
static void fill(fv_rng *r, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float u = fv__rng_uniform(r);
        x[i] = u < 0.05f ? 0.0f : u < 0.1f ? -0.0f : 2.0f * fv__rng_uniform(r) - 1.0f;
    }
}

/* Bit-for-bit equality, naming the first difference. */
static void same_bits(const char *what, const char *path, const void *a, const void *b,
                      size_t bytes)
{
    if (memcmp(a, b, bytes) == 0) return;
    const unsigned char *p = a, *q = b;
    size_t i = 0;
    while (p[i] == q[i])
        i++;
    fprintf(stderr, "  %s on path %s: differs from the reference at byte %zu of %zu\n", what, path,
            i, bytes);
    test_failed_checks++;
}

TEST(reference_by_hand)
{
    const fv__elt_ops *ref = fv__elt_path(0);
    const float x[4] = {-1.5f, 0.0f, 2.0f, -0.0f};
    float y[4], dx[4];
    ref->relu_forward(x, y, 4);
    CHECK(y[0] == 0.0f && y[1] == 0.0f && y[2] == 2.0f && y[3] == 0.0f && !signbit(y[3]));
    const float dy[4] = {5.0f, 6.0f, 7.0f, 8.0f};
    ref->relu_backward(y, dy, dx, 4);
    CHECK(dx[0] == 0.0f && dx[1] == 0.0f && dx[2] == 7.0f && dx[3] == 0.0f);

    /* Two channels, three rows: channel 0 holds 1, 2, 6 (mean 3), channel 1 holds 0, 0, 3. */
    const float v[6] = {1, 0, 2, 0, 6, 3};
    double s[2] = {10, 20}, sq[2] = {1, 2};
    const double shift[2] = {2, -1};
    ref->sum_sq(v, 3, 2, shift, s, sq); /* about 2 and −1: −1, 0, 4 and 1, 1, 4 */
    CHECK(s[0] == 10 + 3 && s[1] == 20 + 6 && sq[0] == 1 + 1 + 0 + 16 && sq[1] == 2 + 1 + 1 + 16);
    const float mean[2] = {3, 1}, inv[2] = {0.5f, 2.0f}, gamma[2] = {2, 1}, beta[2] = {1, -1};
    const double dmean[2] = {3, 1};
    double q[2] = {0, 0};
    ref->sum_sqdev(v, 3, 2, dmean, q);
    CHECK(q[0] == 4 + 1 + 9 && q[1] == 1 + 1 + 4);
    /* y = (x − mean)·inv·γ + β: channel 0 (1 − 3)·0.5·2 + 1 = −1, then + add 0.5, ReLU: 0. */
    const float add[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    float out[6];
    ref->bn_norm(v, out, 3, 2, mean, inv, gamma, beta, NULL, false);
    CHECK(out[0] == -1 && out[1] == -3 && out[2] == 0 && out[3] == -3 && out[4] == 4 &&
          out[5] == 3);
    ref->bn_norm(v, out, 3, 2, mean, inv, gamma, beta, add, true);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0.5f && out[3] == 0 && out[4] == 4.5f &&
          out[5] == 3.5f);
    ref->bn_norm(v, out, 3, 2, mean, inv, NULL, NULL, NULL, false);
    CHECK(out[0] == -1 && out[1] == -2 && out[4] == 1.5f && out[5] == 4);

    /* Through the ReLU of output ry: g = dy where ry > 0. x̂ of channel 0: −1, −0.5, 1.5. */
    const float ry[6] = {1, 0, 0, 1, 1, 1}, g[6] = {1, 2, 3, 4, 5, 6};
    double s1[2] = {0, 0}, s2[2] = {0, 0};
    float gs[6];
    ref->sum_dy(v, g, ry, NULL, gs, 3, 2, mean, inv, s1, s2);
    CHECK(gs[0] == 1 && gs[1] == 0 && gs[2] == 0 && gs[3] == 4 && gs[4] == 5 && gs[5] == 6);
    CHECK(s1[0] == 1 + 5 && s1[1] == 4 + 6);
    CHECK(s2[0] == 1 * -1.0 + 5 * 1.5 && s2[1] == 4 * -2.0 + 6 * 4.0);
    /* dx = coef·(M·g − sdy − x̂·sdyx), with coef = γ·inv/M, as a·g + b·(x − mean) + d: channel 0
     * a = 2·0.5 = 1, b = −(1/3)·0.5·6.5, d = −(1/3)·6; channel 1 a = 2, b = −(2/3)·2·16, d =
     * −(2/3)·10. */
    const double M = 3, coef[2] = {2 * 0.5 / 3, 1 * 2.0 / 3};
    float k[6], d[6];
    fv__bn_dx_coef(2, gamma, inv, M, s1, s2, k);
    CHECK(k[0] == 1 && k[1] == 2 && k[2] == (float)(-6.5 / 6) && k[3] == (float)(-64.0 / 3));
    CHECK(k[4] == -2 && k[5] == (float)(-20.0 / 3));
    fv__bn_dx_coef(2, NULL, inv, M, s1, s2, k + 0); /* γ = 1 */
    CHECK(k[0] == 0.5f && k[1] == 2 && k[2] == (float)(-6.5 / 12) && k[4] == -1);
    fv__bn_dx_coef(2, gamma, inv, M, s1, s2, k);
    ref->bn_dx(v, g, ry, NULL, d, 3, 2, mean, k);
    CHECK_CLOSE(d[0], coef[0] * (3 * 1 - s1[0] - (-1.0) * s2[0]), 1e-6, 1e-6);
    CHECK_CLOSE(d[2], coef[0] * (0 - s1[0] - (-0.5) * s2[0]), 1e-6, 1e-6);
    CHECK_CLOSE(d[5], coef[1] * (3 * 6 - s1[1] - 4.0 * s2[1]), 1e-6, 1e-6);
}

/* Every kernel of path p against the reference, on rows × C values. */
static void compare_path(const fv__elt_ops *p, fv_rng *rng, int64_t rows, int64_t C)
{
    const fv__elt_ops *ref = fv__elt_path(0);
    const int64_t n = rows * C;
    float *x = falloc(n), *dy = falloc(n), *ry = falloc(n), *add = falloc(n);
    float *a = falloc(n), *b = falloc(n), *a2 = falloc(n), *b2 = falloc(n);
    float *mean = falloc(C), *inv = falloc(C), *gamma = falloc(C), *beta = falloc(C);
    double *s = dalloc(4 * C), *t = dalloc(4 * C);
    fill(rng, x, n), fill(rng, dy, n), fill(rng, ry, n), fill(rng, add, n);
    fill(rng, mean, C), fill(rng, gamma, C), fill(rng, beta, C);
    for (int64_t c = 0; c < C; c++)
        inv[c] = 0.5f + fv__rng_uniform(rng);

    ref->relu_forward(x, a, n), p->relu_forward(x, b, n);
    same_bits("relu_forward", p->name, a, b, (size_t)n * 4);
    memcpy(b, x, (size_t)n * 4);
    p->relu_forward(b, b, n); /* in place */
    same_bits("relu_forward in place", p->name, a, b, (size_t)n * 4);
    ref->relu_backward(ry, dy, a, n), p->relu_backward(ry, dy, b, n);
    same_bits("relu_backward", p->name, a, b, (size_t)n * 4);
    memcpy(b, dy, (size_t)n * 4);
    p->relu_backward(ry, b, b, n);
    same_bits("relu_backward in place", p->name, a, b, (size_t)n * 4);

    for (int64_t c = 0; c < 4 * C; c++) /* the sums add to what is there */
        s[c] = t[c] = (double)c - 1.5;
    double *dm = dalloc(C); /* a mean in double, as BatchNormalization's */
    for (int64_t c = 0; c < C; c++)
        dm[c] = (double)mean[c] + 1e-3 * (double)c;
    ref->sum_sq(x, rows, C, dm, s, s + C), p->sum_sq(x, rows, C, dm, t, t + C);
    same_bits("sum_sq", p->name, s, t, (size_t)(2 * C) * 8);
    ref->sum_sqdev(x, rows, C, dm, s + C), p->sum_sqdev(x, rows, C, dm, t + C);
    free(dm);
    same_bits("sum_sqdev", p->name, s, t, (size_t)(2 * C) * 8);
    for (int q = 0; q < 3; q++) { /* through a ReLU or not; g written or not */
        const float *r = q ? ry : NULL;
        ref->sum_dy(x, dy, r, NULL, q == 2 ? a2 : NULL, rows, C, mean, inv, s + 2 * C, s + 3 * C);
        p->sum_dy(x, dy, r, NULL, q == 2 ? b2 : NULL, rows, C, mean, inv, t + 2 * C, t + 3 * C);
        same_bits("sum_dy", p->name, s + 2 * C, t + 2 * C, (size_t)(2 * C) * 8);
        if (q == 2) same_bits("sum_dy's g", p->name, a2, b2, (size_t)n * 4);
    }
    { /* g written over dy */
        double s1[2 * 70], s2[2 * 70];
        memset(s1, 0, sizeof s1), memset(s2, 0, sizeof s2);
        memcpy(b2, dy, (size_t)n * 4);
        p->sum_dy(x, b2, ry, NULL, b2, rows, C, mean, inv, s1, s2);
        same_bits("sum_dy's g in place", p->name, a2, b2, (size_t)n * 4);
    }

    for (int k = 0; k < 16; k++) { /* gamma, beta, add and relu each on or off */
        const float *g = k & 1 ? gamma : NULL, *be = k & 2 ? beta : NULL, *ad = k & 4 ? add : NULL;
        ref->bn_norm(x, a, rows, C, mean, inv, g, be, ad, k & 8);
        p->bn_norm(x, b, rows, C, mean, inv, g, be, ad, k & 8);
        same_bits("bn_norm", p->name, a, b, (size_t)n * 4);
    }
    memcpy(b, x, (size_t)n * 4);
    p->bn_norm(b, b, rows, C, mean, inv, gamma, beta, add, true); /* y = x */
    same_bits("bn_norm in place", p->name, a, b, (size_t)n * 4);

    float *k = falloc(3 * C); /* bn_dx's coefficients from the sums above */
    fv__bn_dx_coef(C, gamma, inv, (double)rows, s + 2 * C, s + 3 * C, k);
    for (int q = 0; q < 2; q++) { /* through a ReLU or not */
        const float *r = q ? ry : NULL;
        ref->bn_dx(x, dy, r, NULL, a, rows, C, mean, k);
        p->bn_dx(x, dy, r, NULL, b, rows, C, mean, k);
        same_bits("bn_dx", p->name, a, b, (size_t)n * 4);
    }
    /* dx written over dy */
    ref->bn_dx(x, dy, ry, NULL, a, rows, C, mean, k);
    memcpy(b, dy, (size_t)n * 4);
    p->bn_dx(x, b, ry, NULL, b, rows, C, mean, k);
    same_bits("bn_dx in place", p->name, a, b, (size_t)n * 4);

    /* The ReLU's mask from x (fv__bn_relu) against reading the ReLU's output that bn_norm wrote
     * on this path, for gamma and beta each on or off: the same bits from sum_dy (its sums and
     * g) and bn_dx, and the reference's from every path. Some x equal the mean (bn_norm's value
     * ±0 or β). */
    for (int64_t e = 0; e < n; e += 5)
        x[e] = mean[e % C];
    for (int64_t c = 0; c < C; c++) { /* and β cancels the last row's (x − mean)·inv·γ exactly */
        const int64_t e = (rows - 1) * C + c;
        volatile float t = x[e] - mean[c];
        t = t * inv[c];
        t = t * gamma[c];
        beta[c] = -t;
    }
    for (int q = 0; q < 4; q++) {
        const fv__bn_relu rx = {inv, q & 1 ? gamma : NULL, q & 2 ? beta : NULL};
        p->bn_norm(x, a, rows, C, mean, inv, rx.gamma, rx.beta, NULL, true); /* the ReLU's output */
        double u[4 * 70], w[4 * 70];
        memset(u, 0, sizeof u), memset(w, 0, sizeof w);
        p->sum_dy(x, dy, a, NULL, a2, rows, C, mean, inv, u, u + C);
        p->sum_dy(x, dy, NULL, &rx, b2, rows, C, mean, inv, w, w + C);
        same_bits("sum_dy from x", p->name, u, w, (size_t)(2 * C) * 8);
        same_bits("sum_dy's g from x", p->name, a2, b2, (size_t)n * 4);
        ref->sum_dy(x, dy, NULL, &rx, b2, rows, C, mean, inv, w + 2 * C, w + 3 * C);
        same_bits("sum_dy from x, reference", p->name, u, w + 2 * C, (size_t)(2 * C) * 8);
        p->bn_dx(x, dy, a, NULL, a2, rows, C, mean, k);
        p->bn_dx(x, dy, NULL, &rx, b2, rows, C, mean, k);
        same_bits("bn_dx from x", p->name, a2, b2, (size_t)n * 4);
        ref->bn_dx(x, dy, NULL, &rx, b2, rows, C, mean, k);
        same_bits("bn_dx from x, reference", p->name, a2, b2, (size_t)n * 4);
    }
    free(k);

    free(x), free(dy), free(ry), free(add), free(a), free(b), free(a2), free(b2);
    free(mean), free(inv), free(gamma), free(beta), free(s), free(t);
}

TEST(every_path_matches_the_reference_bit_for_bit)
{
    const int64_t Cs[] = {1, 3, 4, 5, 15, 16, 17, 32, 33, 64, 70};
    const int64_t rows[] = {1, 2, 7, 33};
    fv_rng rng;
    fv__rng_seed(&rng, 15);
    int paths = 0;
    for (int i = 1; fv__elt_path(i); i++, paths++)
        for (size_t c = 0; c < sizeof Cs / sizeof *Cs; c++)
            for (size_t r = 0; r < sizeof rows / sizeof *rows; r++)
                compare_path(fv__elt_path(i), &rng, rows[r], Cs[c]);
    CHECK(paths >= 1);
}

/* The float arithmetic's stated bounds (eltwise.h), against the formulas in long double from the
 * same float inputs: u = 2⁻²⁴, the unit roundoff of float. */
#define U_FLOAT (1.0 / 16777216.0)

/* sum_dy's float blocks: |s1 − Σg| ≤ (B − 1)·u·Σ|g|, |s2 − Σg·x̂| ≤ (B + 2)·u·Σ|g·x̂|, on 1,000
 * rows (63 blocks) of a channel near zero, one at 10⁶ ± 1 and one whose gradient has one sign. */
TEST(sum_dy_stays_within_its_bound)
{
    const fv__elt_ops *ref = fv__elt_path(0);
    const int64_t rows = 1000, C = 3, B = FV_ELT_SUM_BLOCK;
    float *x = falloc(rows * C), *dy = falloc(rows * C), *ry = falloc(rows * C);
    fv_rng rng;
    fv__rng_seed(&rng, 77);
    fill(&rng, x, rows * C), fill(&rng, dy, rows * C), fill(&rng, ry, rows * C);
    for (int64_t r = 0; r < rows; r++) {
        x[r * C + 1] = 1e6f + x[r * C + 1];
        dy[r * C + 2] = 1.0f + fabsf(dy[r * C + 2]);
    }
    const float mean[3] = {0.01f, 1e6f, -0.5f}, inv[3] = {1.7f, 0.9f, 3.0f};
    for (int relu = 0; relu < 2; relu++) {
        double s1[3] = {0, 0, 0}, s2[3] = {0, 0, 0};
        ref->sum_dy(x, dy, relu ? ry : NULL, NULL, NULL, rows, C, mean, inv, s1, s2);
        for (int64_t c = 0; c < C; c++) {
            long double e1 = 0, e2 = 0, a1 = 0, a2 = 0;
            for (int64_t r = 0; r < rows; r++) {
                const int64_t e = r * C + c;
                const long double g = relu && !(ry[e] > 0) ? 0 : dy[e];
                const long double xh = ((long double)x[e] - mean[c]) * inv[c];
                e1 += g, e2 += g * xh, a1 += fabsl(g), a2 += fabsl(g * xh);
            }
            CHECK(fabsl(s1[c] - e1) <= (B - 1) * U_FLOAT * a1);
            CHECK(fabsl(s2[c] - e2) <= (B + 2) * U_FLOAT * a2);
        }
    }
    free(x), free(dy), free(ry);
}

/* bn_dx in float: |dx − coef·(M·g − Σg − x̂·Σg·x̂)| ≤ 5·u·(|a·g| + |b·(x − mean)| + |d|) to first
 * order (5.5 here for the second-order terms), with the exact formula and coefficients in long
 * double, on a channel of random gradients, one where dy = α + β·x̂ + a little noise (the three
 * terms cancel: dx is a thousandth of them) and one at 10⁶ ± 1 (where x·b + d in float, without
 * subtracting the mean first, would be off by far more than the bound). */
TEST(bn_dx_stays_within_its_bound_where_the_terms_cancel)
{
    const fv__elt_ops *ref = fv__elt_path(0);
    const int64_t rows = 500, C = 3;
    const long double M = rows;
    float *x = falloc(rows * C), *dy = falloc(rows * C), *dx = falloc(rows * C);
    fv_rng rng;
    fv__rng_seed(&rng, 78);
    fill(&rng, x, rows * C), fill(&rng, dy, rows * C);
    float mean[3], inv[3], k[9];
    const float gamma[3] = {1.3f, -0.7f, 2.0f};
    for (int64_t r = 0; r < rows; r++)
        x[r * C + 2] = 1e6f + x[r * C + 2];
    for (int64_t c = 0; c < C; c++) {
        long double m = 0, v = 0;
        for (int64_t r = 0; r < rows; r++)
            m += x[r * C + c];
        m /= M;
        for (int64_t r = 0; r < rows; r++)
            v += (x[r * C + c] - m) * (x[r * C + c] - m);
        mean[c] = (float)m, inv[c] = (float)(1 / sqrtl(v / M)); /* ε = 0: x̂ has norm √M */
    }
    for (int64_t r = 0; r < rows; r++) { /* channel 1: affine in x̂, plus noise of 10⁻⁴ */
        const float xh = (x[r * C + 1] - mean[1]) * inv[1];
        dy[r * C + 1] = 0.3f - 0.8f * xh + 1e-4f * dy[r * C + 1];
    }
    double sdy[3], sdyx[3];
    for (int64_t c = 0; c < C; c++) {
        long double s1 = 0, s2 = 0;
        for (int64_t r = 0; r < rows; r++)
            s1 += dy[r * C + c],
                s2 += dy[r * C + c] * (((long double)x[r * C + c] - mean[c]) * inv[c]);
        sdy[c] = (double)s1, sdyx[c] = (double)s2;
    }
    fv__bn_dx_coef(C, gamma, inv, (double)M, sdy, sdyx, k);
    ref->bn_dx(x, dy, NULL, NULL, dx, rows, C, mean, k);
    for (int64_t c = 0; c < C; c++) {
        const long double coef = (long double)gamma[c] * inv[c] / M,
                          a = gamma[c] * (long double)inv[c];
        const long double b = -coef * inv[c] * sdyx[c], d = -coef * sdy[c];
        long double worst = 0, most_dx = 0, most_t = 0;
        for (int64_t r = 0; r < rows; r++) {
            const int64_t e = r * C + c;
            const long double xh = ((long double)x[e] - mean[c]) * inv[c];
            const long double exact = coef * (M * dy[e] - sdy[c] - xh * sdyx[c]);
            const long double T =
                fabsl(a * dy[e]) + fabsl(b * ((long double)x[e] - mean[c])) + fabsl(d);
            const long double err = fabsl(dx[e] - exact) / T;
            worst = err > worst ? err : worst;
            most_dx = fabsl(exact) > most_dx ? fabsl(exact) : most_dx;
            most_t = T > most_t ? T : most_t;
        }
        CHECK(worst <= 5.5 * U_FLOAT);
        if (c == 1) CHECK(most_dx < 1e-3L * most_t); /* the case cancels */
        if (worst > 5.5 * U_FLOAT)
            fprintf(stderr, "  channel %lld: error %.3Lg of the terms, bound %.3g\n", (long long)c,
                    worst, 5.5 * U_FLOAT);
    }
    free(x), free(dy), free(dx);
}

TEST(the_chosen_path_is_one_of_the_paths)
{
    bool found = false;
    for (int i = 1; fv__elt_path(i); i++)
        found = found || fv__elt_path(i) == fv__elt();
    CHECK(found);
}

int main(void)
{
    printf("element-wise path: %s; tested paths:", fv__elt()->name);
    for (int i = 1; fv__elt_path(i); i++)
        printf(" %s", fv__elt_path(i)->name);
    printf("\n");
    RUN(reference_by_hand);
    RUN(every_path_matches_the_reference_bit_for_bit);
    RUN(sum_dy_stays_within_its_bound);
    RUN(bn_dx_stays_within_its_bound_where_the_terms_cancel);
    RUN(the_chosen_path_is_one_of_the_paths);
    return TEST_SUMMARY();
}
