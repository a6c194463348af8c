/* conv_tile.h — the inner loops of the fast convolution (conv_fast.c) as a template, included
 * once per instruction set (no include guard on purpose). The includer defines:
 *   CT_NAME(s)   a name for this instantiation's function s
 *   CT_ATTR      function attributes (the target instruction set)
 *   CT_V, CT_VU  the vector type (aligned) and the same unaligned and may_alias; CT_VI its int32
 *                lanes; CT_W its width in floats: 8 (AVX2, portable) or 16 (AVX-512)
 *   CT_SPLAT(x)  every lane x, as one broadcast from memory (adding x to a zero vector would cost
 *                an add first)
 *   CT_GATHER8   (CT_W 16 only) an 8-wide instance's gather_runs, for runs of 8 floats past the
 *                last whole vector
 *   CT_DW_NV     (CT_W 8 only) the weight gradient's tile width in vectors: 2, or 1
 * and, before the first inclusion, the loop description struct cgeo and tap_off.
 * Every instantiation is the same code, and every output element is one chain of FMAs in the
 * same order whatever the vector width or tile shape, so the AVX-512 instance gives the AVX2
 * one's bits (tested). Vectors are written with GCC's vector extensions: a*b + c becomes an FMA
 * where the target has one (GNU C contracts by default), two SSE operations per vector on plain
 * x86-64.
 */

#define CT_LD(p)    (*(const CT_VU *)(p))
#define CT_ST(p, v) (*(CT_VU *)(p) = (v))
/* Offset of vector v of a filter group in the packed weights: panels of 16 filters, pstride
 * floats apart. */
#define CT_VOFF(v, pstride) (((v)*CT_W / 16) * (pstride) + (v)*CT_W % 16)

/* A tile's results into memory: rows i < m and columns j < n of dst (leading dimension ld) ← or,
 * with add, += acc[i][v] (i < MR ≤ 14, v < NV), whole vectors where the tile is whole. */
static inline __attribute__((always_inline)) void CT_NAME(tile_out)(const int MR, const int NV,
                                                                    CT_V (*acc)[4], float *dst,
                                                                    int64_t ld, bool add, int m,
                                                                    int n)
{
    if (m == MR && n == NV * CT_W) {
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                float *d = dst + i * ld + v * CT_W;
                if (add)
                    CT_ST(d, CT_LD(d) + acc[i][v]);
                else
                    CT_ST(d, acc[i][v]);
            }
        return;
    }
    _Alignas(64) float t[14][4 * CT_W];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            CT_ST(t[i] + v * CT_W, acc[i][v]);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            dst[i * ld + j] = add ? dst[i * ld + j] + t[i][j] : t[i][j];
}

/* The forward tiles' epilogue: acc[i][v] (i < MR ≤ 14 pixels, v < NV vectors) + bias, then
 * max(·, 0) with relu (NaN gives 0, as fv_act_forward), into rows i < m and columns j < n of c
 * (leading dimension ldc), or with add (G->add: fv_conv2d_forward_add) added to them, c + that. */
static inline __attribute__((always_inline)) void
CT_NAME(fwd_store)(const int MR, const int NV, CT_V (*acc)[4], float *c, int64_t ldc,
                   const float *bias, bool relu, bool add, int m, int n)
{
    const CT_V zero = {0};
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const CT_V bb = CT_LD(bias + v * CT_W);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            acc[i][v] = acc[i][v] + bb;
            if (relu) acc[i][v] = (CT_V)((CT_VI)acc[i][v] & (acc[i][v] > zero));
        }
    }
    CT_NAME(tile_out)(MR, NV, acc, c, ldc, add, m, n);
}

/* ---- forward: a tile of MR output pixels × NV vectors of filters --------------------------------
 * rows[i]: pixel i's window origin in the (padded) input; the window's taps are at
 * rows[i] + kh·hstep + kw·wstep + c for kh < nh, kw < nw, c < nc, in k order. bp: the first
 * packed weight panel (row k at bp + 16k), the next ones pstride floats on. c: output, leading
 * dimension ldc; bias [NV·CT_W] (zeros where the layer has none). relu: max(·, 0) (NaN gives 0,
 * as fv_act_forward). Only m rows and n columns are written. */
static inline __attribute__((always_inline)) void
CT_NAME(fwd_run)(const int MR, const int NV, const float *const *rows, const cgeo *G,
                 const float *restrict bp, int64_t pstride, float *c, int64_t ldc,
                 const float *bias, bool relu, int m, int n)
{
    CT_V acc[12][4];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = (CT_V){0};
    const float *b = bp;
    for (int64_t kh = 0; kh < G->nh; kh++) {
        for (int64_t kw = 0; kw < G->nw; kw++) {
            const int64_t o = kh * G->hstep + kw * G->wstep;
            const float *r[12];
#pragma GCC unroll 12
            for (int i = 0; i < MR; i++)
                r[i] = rows[i] + o;
            for (int64_t k = 0; k < G->nc; k++, b += 16) {
                CT_V bv[4];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    bv[v] = CT_LD(b + CT_VOFF(v, pstride));
#pragma GCC unroll 12
                for (int i = 0; i < MR; i++) {
                    const CT_V t = CT_SPLAT(r[i][k]);
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++)
                        acc[i][v] = t * bv[v] + acc[i][v];
                }
            }
        }
    }
    CT_NAME(fwd_store)(MR, NV, acc, c, ldc, bias, relu, G->add, m, n);
}

#if CT_W == 16
/* MR consecutive pixels of one output row whose windows lie STEP floats apart (stride_w ·
 * channels: 1, 16, 32 or 64 in the ResNet example) × NV vectors of filters: 14 × 16, 14 × 32, 7 ×
 * 32 or 7 × 64 (14 to 28 accumulators). One pointer for all MR windows, at constant displacements,
 * where fwd_run's 12 row pointers leave too few general registers (two of them lived in vector
 * registers, moved back on every tap), and rows of 7 or 14 pixels fill every tile where fwd_run's
 * 12 or 6 leave the last one part empty (49 pixels: 5 tiles of 12). Arguments as fwd_run (r0 the
 * first pixel's window origin, m = MR, weight panels pstride apart); each output the same FMA
 * chain in k order, so the same bits. One image, mean of 200 calls (loaded): 28×28×16 → 16 202-206
 * → 228-230 GFLOP/s; 14×14×32 → 32 234-238 → 250-255; 7×7×64 → 32 201-207 → 251-253; 7×7×64 → 64
 * 232-233 → 239-242; the stem, 28×28×1 → 16, 73-74 → 121-123. */
static inline __attribute__((always_inline)) void
CT_NAME(row_run)(const int MR, const int STEP, const int NV, const float *r0, const cgeo *G,
                 const float *restrict bp, int64_t pstride, float *c, int64_t ldc,
                 const float *bias, bool relu, int n)
{
    CT_V acc[14][4];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = (CT_V){0};
    const float *b = bp;
    for (int64_t kh = 0; kh < G->nh; kh++) {
        for (int64_t kw = 0; kw < G->nw; kw++) {
            const float *r = r0 + kh * G->hstep + kw * G->wstep;
            for (int64_t k = 0; k < G->nc; k++, b += 16) {
                CT_V bv[4];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    bv[v] = CT_LD(b + v * pstride);
#pragma GCC unroll 14
                for (int i = 0; i < MR; i++) {
                    const CT_V t = CT_SPLAT(r[i * STEP + k]);
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++)
                        acc[i][v] = t * bv[v] + acc[i][v];
                }
            }
        }
    }
    CT_NAME(fwd_store)(MR, NV, acc, c, ldc, bias, relu, G->add, MR, n);
}

/* Every pixel with row_run where it applies (rows of a multiple of 14 pixels for one or two
 * vectors of filters, else of 7 for two or four; windows 1, 16, 32 or 64 floats apart); false, and
 * nothing done, otherwise. Out of line, so that fwd_cols' other tiles keep their register
 * allocation. */
static CT_ATTR __attribute__((noinline)) bool
CT_NAME(fwd_rows)(const int NV, const cgeo *G, const float *x, const float *bp, int64_t pstride,
                  float *y, int64_t F, const float *bias, bool relu, int n)
{
    const int64_t step = G->s_w * G->C;
    const int MR = G->out_w % 14 == 0 && NV <= 2 ? 14 : G->out_w % 7 == 0 && NV >= 2 ? 7 : 0;
    if (!MR || (step != 1 && step != 16 && step != 32 && step != 64)) return false;
    for (int64_t p0 = 0; p0 < G->P; p0 += MR) {
        const int64_t oh = p0 / G->out_w, ow = p0 % G->out_w;
        const float *r0 = x + (oh * G->s_h * G->Wp + ow * G->s_w) * G->C;
        float *c = y + p0 * F;
        pf_part(G, p0 / MR, G->P / MR);
        pf_out(G, c, p0, MR, F, n);
#define CT_ROW(S)                                                                                  \
    (NV == 1    ? CT_NAME(row_run)(14, S, 1, r0, G, bp, pstride, c, F, bias, relu, n)              \
     : MR == 14 ? CT_NAME(row_run)(14, S, 2, r0, G, bp, pstride, c, F, bias, relu, n)              \
     : NV == 2  ? CT_NAME(row_run)(7, S, 2, r0, G, bp, pstride, c, F, bias, relu, n)               \
                : CT_NAME(row_run)(7, S, 4, r0, G, bp, pstride, c, F, bias, relu, n))
        if (step == 1)
            CT_ROW(1);
        else if (step == 16)
            CT_ROW(16);
        else if (step == 32)
            CT_ROW(32);
        else
            CT_ROW(64);
#undef CT_ROW
    }
    return true;
}
#endif

/* All P pixels of the filters j0 .. j0+n: x the (padded) input, bp the panel of filter j0,
 * y the output at column j0 (leading dimension F), bias [64] from column j0 (zero-padded), rem
 * the filters left (F − j0). Returns n, the filters done: the tile shape is chosen from rem. */
static CT_ATTR int64_t CT_NAME(fwd_cols)(const cgeo *G, const float *x, const float *bp,
                                         int64_t pstride, float *y, int64_t F, const float *bias,
                                         bool relu, int64_t rem)
{
#if CT_W == 8
    enum { MR = 6, NV = 2 };
#define CT_FWD(MR_, NV_) CT_NAME(fwd_run)(MR_, NV_, rows, G, bp, pstride, c, F, bias, relu, m, n)
#else
    /* 6 × 64 where four panels remain (4 weight loads and 6 broadcasts per 24 FMAs), else
     * 12 × 32 or 12 × 16: 24 or 12 accumulators of the 32 zmm registers. */
    const int MR = rem > 48 ? 6 : 12, NV = rem > 48 ? 4 : rem > 16 ? 2 : 1;
#define CT_FWD(MR_, NV_)                                                                           \
    (NV == 4   ? CT_NAME(fwd_run)(6, 4, rows, G, bp, pstride, c, F, bias, relu, m, n)              \
     : NV == 2 ? CT_NAME(fwd_run)(12, 2, rows, G, bp, pstride, c, F, bias, relu, m, n)             \
               : CT_NAME(fwd_run)(12, 1, rows, G, bp, pstride, c, F, bias, relu, m, n))
#endif
    const int n = (int)(rem < NV * CT_W ? rem : NV * CT_W);
#if CT_W == 16
    if (CT_NAME(fwd_rows)(NV, G, x, bp, pstride, y, F, bias, relu, n)) return n;
#endif
    for (int64_t p0 = 0; p0 < G->P; p0 += MR) {
        const int m = (int)(G->P - p0 < MR ? G->P - p0 : MR);
        const float *rows[12];
        for (int i = 0; i < MR; i++) {
            const int64_t p = p0 + (i < m ? i : m - 1), oh = p / G->out_w, ow = p % G->out_w;
            rows[i] = x + (oh * G->s_h * G->Wp + ow * G->s_w) * G->C;
        }
        float *c = y + p0 * F;
        pf_part(G, p0 / MR, (G->P + MR - 1) / MR);
        pf_out(G, c, p0, MR, F, n);
        CT_FWD(MR, NV);
    }
#undef CT_FWD
    return n;
}

/* ---- weight gradient, dense: a tile of MR kernel taps × NV vectors of filters ------------------
 * dw[(k0+i)·F + j] += Σ_p x[pb[p] + off[i]] · gz[p·ldg + j] for i < m, j < n, p < P, summed in
 * pixel order. gz points at the group's first column (NV·CT_W columns readable). */
static inline __attribute__((always_inline)) void
CT_NAME(dw_run)(const int MR, const int NV, const float *restrict x, const int32_t *restrict pb,
                int64_t P, const int64_t *off, const float *restrict gz, int64_t ldg, float *dw,
                int64_t F, int m, int n)
{
    CT_V acc[12][4];
    int64_t o[12];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        o[i] = off[i];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[i][v] = (CT_V){0};
    }
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x + pb[p], *g = gz + p * ldg;
        CT_V bv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            bv[v] = CT_LD(g + v * CT_W);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const CT_V t = CT_SPLAT(xp[o[i]]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                acc[i][v] = t * bv[v] + acc[i][v];
        }
    }
    CT_NAME(tile_out)(MR, NV, acc, dw, F, true, m, n); /* a whole tile by vector adds */
}

#if CT_W == 16
/* The weight gradient of 24 consecutive taps (one segment: off0 .. off0+23 from each window's
 * origin) × one vector of filters: dw[i·F + j] += Σ_p x[pb[p] + off0 + i] · gz[p·ldg + j] for
 * i < 24, j < n, summed in pixel order as dw_run. 24 accumulators halve the reads of each
 * pixel's gradient row against dw_run's 12 taps, and one pointer per pixel addresses the taps
 * by constant displacements (24 offsets would not fit the general registers). Out of line: the
 * other tiles of dw_cols keep their code. */
static CT_ATTR __attribute__((noinline)) void
CT_NAME(dw_run24)(const float *restrict x, const int32_t *restrict pb, int64_t P, int64_t off0,
                  const float *restrict gz, int64_t ldg, float *dw, int64_t F, int n)
{
    CT_V acc[24];
#pragma GCC unroll 24
    for (int i = 0; i < 24; i++)
        acc[i] = (CT_V){0};
    const float *x0 = x + off0;
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x0 + pb[p];
        const CT_V bv = CT_LD(gz + p * ldg);
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++)
            acc[i] = CT_SPLAT(xp[i]) * bv + acc[i];
    }
    if (n == CT_W) { /* a whole vector of filters: vector adds (the same sums) */
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++)
            CT_ST(dw + i * F, CT_LD(dw + i * F) + acc[i]);
        return;
    }
    _Alignas(64) float t[24][CT_W];
#pragma GCC unroll 24
    for (int i = 0; i < 24; i++)
        CT_ST(t[i], acc[i]);
    for (int i = 0; i < 24; i++)
        for (int j = 0; j < n; j++)
            dw[i * F + j] += t[i][j];
}
#endif

#if CT_W == 16
/* The weight gradient of 48 consecutive taps (within one segment: off0 .. off0+47 from each
 * window's origin) × 8 filters, with the taps along the vectors: dw[i·F + j] += Σ_p x[pb[p] + off0
 * + i] · gz[p·ldg + j] for i < 48, j < nf (≤ 8), summed in pixel order as dw_run24 (the same
 * products, the same chains: the same bits). Per pixel 3 loads of x and 8 broadcasts of its
 * gradient row for 24 FMAs, where dw_run24 takes a load for every FMA. Out of line, as dw_run24. */
static CT_ATTR __attribute__((noinline)) void
CT_NAME(dw_run48t)(const float *restrict x, const int32_t *restrict pb, int64_t P, int64_t off0,
                   const float *restrict gz, int64_t ldg, float *dw, int64_t F, int nf)
{
    CT_V acc[8][3];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            acc[j][v] = (CT_V){0};
    const float *x0 = x + off0;
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x0 + pb[p], *g = gz + p * ldg;
        CT_V xv[3];
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            xv[v] = CT_LD(xp + v * CT_W);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const CT_V t = CT_SPLAT(g[j]);
#pragma GCC unroll 3
            for (int v = 0; v < 3; v++)
                acc[j][v] = xv[v] * t + acc[j][v];
        }
    }
    _Alignas(64) float t[8][48];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            CT_ST(t[j] + v * CT_W, acc[j][v]);
    for (int i = 0; i < 48; i++)
        for (int j = 0; j < nf; j++)
            dw[i * F + j] += t[j][i];
}
#endif

/* The weight gradient of the filters j0 .. j0+n over all K taps: dw [K × F] at column j0, gz
 * [P × ldg] at column j0, pb the pixels' window origins, rem = F − j0. Returns n. */
static CT_ATTR int64_t CT_NAME(dw_cols)(const cgeo *G, const float *x, const int32_t *pb,
                                        const float *gz, int64_t ldg, float *dw, int64_t rem)
{
#if CT_W == 8
    /* 6 taps × 16 filters (12 ymm accumulators with AVX2), or × 8 where the includer sets
     * CT_DW_NV to 1 (the portable instance: on plain x86-64 the 6 × 16 tile's accumulators, pairs
     * of SSE registers, spilled: 3 against 25 GFLOP/s) */
    enum { MR = 6, NV = CT_DW_NV };
#else
    const int MR = 12, NV = rem > 16 ? 2 : 1;
#endif
    const int n = (int)(rem < NV * CT_W ? rem : NV * CT_W);
    for (int64_t k0 = 0; k0 < G->K; k0 += MR) {
#if CT_W == 16
        /* one vector of filters: 48 taps of one segment (kernel rows of 48 or more floats) × 8
         * filters at a time, the taps along the vectors, where they remain (28×28×16 → 16, 8
         * images: 214 → 242 GFLOP/s); then 24 taps × 16 filters (26 → 22.5 µs an image) */
        while (NV == 1 && G->K - k0 >= 48 && k0 / G->seglen == (k0 + 47) / G->seglen) {
            for (int f0 = 0; f0 < n; f0 += 8)
                CT_NAME(dw_run48t)
            (x, pb, G->P, tap_off(G, k0), gz + f0, ldg, dw + k0 * G->F + f0, G->F,
             n - f0 < 8 ? n - f0 : 8);
            k0 += 48;
        }
        while (NV == 1 && G->K - k0 >= 24 && k0 / G->seglen == (k0 + 23) / G->seglen) {
            CT_NAME(dw_run24)(x, pb, G->P, tap_off(G, k0), gz, ldg, dw + k0 * G->F, G->F, n);
            k0 += 24;
        }
        if (k0 >= G->K) break;
#endif
        const int m = (int)(G->K - k0 < MR ? G->K - k0 : MR);
        int64_t off[12];
        for (int i = 0; i < MR; i++)
            off[i] = tap_off(G, k0 + (i < m ? i : m - 1));
        float *d = dw + k0 * G->F;
#if CT_W == 8
        CT_NAME(dw_run)(MR, NV, x, pb, G->P, off, gz, ldg, d, G->F, m, n);
#else
        /* the last taps in a tile of 4 or 8 where they fit (K = 16: 12 + 4, not 12 + 12 with 8
         * repeated rows; the 1×1 projections' 16 and 32 taps), each element the same chain */
        if (NV == 2 && m <= 4)
            CT_NAME(dw_run)(4, 2, x, pb, G->P, off, gz, ldg, d, G->F, m, n);
        else if (NV == 2 && m <= 8)
            CT_NAME(dw_run)(8, 2, x, pb, G->P, off, gz, ldg, d, G->F, m, n);
        else if (NV == 2)
            CT_NAME(dw_run)(12, 2, x, pb, G->P, off, gz, ldg, d, G->F, m, n);
        else if (m <= 4)
            CT_NAME(dw_run)(4, 1, x, pb, G->P, off, gz, ldg, d, G->F, m, n);
        else if (m <= 8)
            CT_NAME(dw_run)(8, 1, x, pb, G->P, off, gz, ldg, d, G->F, m, n);
        else
            CT_NAME(dw_run)(12, 1, x, pb, G->P, off, gz, ldg, d, G->F, m, n);
#endif
    }
    return n;
}

/* ---- sparse gradients: runs of NV vectors ------------------------------------------------------
 * The nonzero gradients of an image are listed twice: by filter (base offsets of the pixels and
 * values, pixel order) and by pixel (filters and values, filter order). */

/* dst[0 .. CT_W·NV) += Σ_e g[e] · src[scale·base[e] .. + CT_W·NV), in list order. */
static inline __attribute__((always_inline)) void
CT_NAME(gather_run)(int NV, const float *restrict src, const int32_t *restrict base, int64_t scale,
                    const float *restrict g, int64_t ne, float *restrict dst)
{
    CT_V acc[12];
#pragma GCC unroll 12
    for (int v = 0; v < NV; v++)
        acc[v] = (CT_V){0};
    for (int64_t e = 0; e < ne; e++) {
        const CT_V s = CT_SPLAT(g[e]);
        const float *q = src + base[e] * scale;
#pragma GCC unroll 12
        for (int v = 0; v < NV; v++)
            acc[v] = s * CT_LD(q + CT_W * v) + acc[v];
    }
#pragma GCC unroll 12
    for (int v = 0; v < NV; v++)
        CT_ST(dst + CT_W * v, CT_LD(dst + CT_W * v) + acc[v]);
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

/* The gather over a run of len floats (a multiple of 8) in chunks of at most 12 vectors; with
 * 16-wide vectors an odd 8 at the end goes to the 8-wide instance (same sums: each element is
 * its own chain). */
static CT_ATTR void CT_NAME(gather_runs)(int64_t len, const float *src, const int32_t *base,
                                         int64_t scale, const float *g, int64_t ne, float *dst)
{
    const int64_t whole = len / CT_W * CT_W;
    for (int64_t c0 = 0; c0 < whole; c0 += 12 * CT_W) {
        const int nv = (int)((whole - c0 < 12 * CT_W ? whole - c0 : 12 * CT_W) / CT_W);
        CT_NAME(gather)(nv, src + c0, base, scale, g, ne, dst + c0);
    }
#if CT_W == 16
    if (whole < len) CT_GATHER8(len - whole, src + whole, base, scale, g, ne, dst + whole);
#endif
}

#undef CT_LD
#undef CT_ST
#undef CT_VOFF
