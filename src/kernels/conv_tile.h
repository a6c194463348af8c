/* conv_tile.h — the inner loops of the fast convolution (conv_fast.c) as a template, included
 * once per instruction set (no include guard on purpose). The includer defines:
 *   CT_NAME(s)   a name for this instantiation's function s
 *   CT_ATTR      function attributes (the target instruction set)
 * and, before the first inclusion, the 8-float vector types cv8 (aligned) and cv8u (unaligned,
 * may_alias), cv8i (int32 lanes), and the loop description struct cgeo.
 * Every instantiation is the same code, so the portable version tests the AVX2 one's logic.
 * Vectors are written with GCC's vector extensions: a*b + c becomes an FMA where the target has
 * one (GNU C contracts by default), two SSE operations per vector on plain x86-64.
 */

#define CT_LD(p)    (*(const cv8u *)(p))
#define CT_ST(p, v) (*(cv8u *)(p) = (v))
/* Every lane x: one broadcast from memory (adding x to a zero vector would cost an add first). */
#define CT_SPLAT(x)                                                                                \
    __extension__({                                                                                \
        const float s_ = (x);                                                                      \
        (cv8){s_, s_, s_, s_, s_, s_, s_, s_};                                                     \
    })

/* ---- forward: a tile of 6 output pixels × 16 filters ------------------------------------------
 * rows[i]: pixel i's window origin in the (padded) input; the window's taps are at
 * rows[i] + kh·hstep + kw·wstep + c for kh < nh, kw < nw, c < nc, in k order. bp: the packed
 * weight panel, row k at bp + 16k. c: output, leading dimension ldc; bias[16] (zeros when the
 * layer has none). relu: apply max(·, 0) (NaN gives 0, as fv_act_forward). Only m rows and n
 * columns are written. */
static CT_ATTR void CT_NAME(fwd_tile)(const float *const rows[6], const cgeo *G,
                                      const float *restrict bp, float *c, int64_t ldc,
                                      const float *bias, bool relu, int m, int n)
{
    cv8 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0};
    cv8 a30 = {0}, a31 = {0}, a40 = {0}, a41 = {0}, a50 = {0}, a51 = {0};
    const float *b = bp;
    for (int64_t kh = 0; kh < G->nh; kh++) {
        for (int64_t kw = 0; kw < G->nw; kw++) {
            const int64_t o = kh * G->hstep + kw * G->wstep;
            const float *r0 = rows[0] + o, *r1 = rows[1] + o, *r2 = rows[2] + o;
            const float *r3 = rows[3] + o, *r4 = rows[4] + o, *r5 = rows[5] + o;
            for (int64_t k = 0; k < G->nc; k++, b += 16) {
                const cv8 b0 = CT_LD(b), b1 = CT_LD(b + 8);
                cv8 t;
                t = CT_SPLAT(r0[k]), a00 = t * b0 + a00, a01 = t * b1 + a01;
                t = CT_SPLAT(r1[k]), a10 = t * b0 + a10, a11 = t * b1 + a11;
                t = CT_SPLAT(r2[k]), a20 = t * b0 + a20, a21 = t * b1 + a21;
                t = CT_SPLAT(r3[k]), a30 = t * b0 + a30, a31 = t * b1 + a31;
                t = CT_SPLAT(r4[k]), a40 = t * b0 + a40, a41 = t * b1 + a41;
                t = CT_SPLAT(r5[k]), a50 = t * b0 + a50, a51 = t * b1 + a51;
            }
        }
    }
    const cv8 bb0 = CT_LD(bias), bb1 = CT_LD(bias + 8);
    cv8 acc[12] = {a00 + bb0, a01 + bb1, a10 + bb0, a11 + bb1, a20 + bb0, a21 + bb1,
                   a30 + bb0, a31 + bb1, a40 + bb0, a41 + bb1, a50 + bb0, a51 + bb1};
    if (relu) {
        const cv8 zero = {0};
        for (int i = 0; i < 12; i++)
            acc[i] = (cv8)((cv8i)acc[i] & (acc[i] > zero));
    }
    if (m == 6 && n == 16) {
        for (int i = 0; i < 6; i++) {
            CT_ST(c + i * ldc, acc[2 * i]);
            CT_ST(c + i * ldc + 8, acc[2 * i + 1]);
        }
        return;
    }
    _Alignas(32) float t[6][16];
    for (int i = 0; i < 6; i++) {
        CT_ST(t[i], acc[2 * i]);
        CT_ST(t[i] + 8, acc[2 * i + 1]);
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[i * ldc + j] = t[i][j];
}

/* ---- weight gradient, dense: a tile of 6 kernel taps × 16 filters ------------------------------
 * dw[(k0+i)·F + j] += Σ_p x[pb[p] + off[i]] · gz[p·ldg + j] for i < m, j < n, p < P, summed in
 * pixel order. gz points at the panel's first column. */
static CT_ATTR void CT_NAME(dw_tile)(const float *restrict x, const int32_t *restrict pb, int64_t P,
                                     const int64_t off[6], const float *restrict gz, int64_t ldg,
                                     float *dw, int64_t F, int m, int n)
{
    cv8 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0};
    cv8 a30 = {0}, a31 = {0}, a40 = {0}, a41 = {0}, a50 = {0}, a51 = {0};
    const int64_t o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4], o5 = off[5];
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x + pb[p], *g = gz + p * ldg;
        const cv8 b0 = CT_LD(g), b1 = CT_LD(g + 8);
        cv8 t;
        t = CT_SPLAT(xp[o0]), a00 = t * b0 + a00, a01 = t * b1 + a01;
        t = CT_SPLAT(xp[o1]), a10 = t * b0 + a10, a11 = t * b1 + a11;
        t = CT_SPLAT(xp[o2]), a20 = t * b0 + a20, a21 = t * b1 + a21;
        t = CT_SPLAT(xp[o3]), a30 = t * b0 + a30, a31 = t * b1 + a31;
        t = CT_SPLAT(xp[o4]), a40 = t * b0 + a40, a41 = t * b1 + a41;
        t = CT_SPLAT(xp[o5]), a50 = t * b0 + a50, a51 = t * b1 + a51;
    }
    _Alignas(32) float t[6][16];
    CT_ST(t[0], a00), CT_ST(t[0] + 8, a01), CT_ST(t[1], a10), CT_ST(t[1] + 8, a11);
    CT_ST(t[2], a20), CT_ST(t[2] + 8, a21), CT_ST(t[3], a30), CT_ST(t[3] + 8, a31);
    CT_ST(t[4], a40), CT_ST(t[4] + 8, a41), CT_ST(t[5], a50), CT_ST(t[5] + 8, a51);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            dw[i * F + j] += t[i][j];
}

/* ---- sparse gradients: runs of NV vectors ------------------------------------------------------
 * The nonzero gradients of an image are listed twice: by filter (base offsets of the pixels and
 * values, pixel order) and by pixel (filters and values, filter order). */

/* dst[0 .. 8NV) += Σ_e g[e] · src[scale·base[e] .. + 8NV), in list order. */
static inline __attribute__((always_inline)) void
CT_NAME(gather_run)(int NV, const float *restrict src, const int32_t *restrict base, int64_t scale,
                    const float *restrict g, int64_t ne, float *restrict dst)
{
    cv8 acc[12];
#pragma GCC unroll 12
    for (int v = 0; v < NV; v++)
        acc[v] = (cv8){0};
    for (int64_t e = 0; e < ne; e++) {
        const cv8 s = CT_SPLAT(g[e]);
        const float *q = src + base[e] * scale;
#pragma GCC unroll 12
        for (int v = 0; v < NV; v++)
            acc[v] = s * CT_LD(q + 8 * v) + acc[v];
    }
#pragma GCC unroll 12
    for (int v = 0; v < NV; v++)
        CT_ST(dst + 8 * v, CT_LD(dst + 8 * v) + acc[v]);
}

/* gather_run with NV a run-time value 1..12, dispatched to constant instantiations. */
static CT_ATTR void CT_NAME(gather)(int nv, const float *src, const int32_t *base, int64_t scale,
                                    const float *g, int64_t ne, float *dst)
{
    switch (nv) {
#define CT_CASE(k)                                                                                 \
    case k:                                                                                        \
        CT_NAME(gather_run)(k, src, base, scale, g, ne, dst);                                      \
        break;
        /* clang-format off */
        CT_CASE(1) CT_CASE(2) CT_CASE(3) CT_CASE(4) CT_CASE(5) CT_CASE(6)
        CT_CASE(7) CT_CASE(8) CT_CASE(9) CT_CASE(10) CT_CASE(11) CT_CASE(12)
        /* clang-format on */
#undef CT_CASE
                default : break;
    }
}

#undef CT_LD
#undef CT_ST
#undef CT_SPLAT
