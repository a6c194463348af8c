/* winograd_tile.h — the inner loops of the Winograd F(2×2, 3×3) convolution (winograd.c) as a
 * template, included once per instruction set (no include guard on purpose). The includer defines
 *   WT_NAME(s)  a name for this instantiation's function s
 *   WT_ATTR     function attributes (the target instruction set)
 *   WT_V, WT_VU the vector type (aligned) and the same unaligned and may_alias; WT_VI its int32
 *               lanes; WT_W its width in floats: 8 (AVX2, portable) or 16 (AVX-512)
 *   WT_SPLAT(x) every lane x
 * and, before the first inclusion, the struct wgeo and the transforms WG_BTDB and WG_ATMA.
 * Every instantiation is the same arithmetic in the same order (the transforms lane by lane, each
 * GEMM element one chain of FMAs over the channels from 0), so the AVX-512 instance gives the AVX2
 * one's bits (tested); the portable one has no FMA and rounds each product.
 */

#define WT_LD(p)    (*(const WT_VU *)(p))
#define WT_ST(p, v) (*(WT_VU *)(p) = (v))

/* Bᵀ d B's first pass on one column of a tile, W channels from c: q[i] ← (d0 − d2, d1 + d2,
 * d2 − d1, d1 − d3)[i] of the column's pixels d_r at p + r·rs + c for the rows r whose bit of rmask
 * is set (else 0, never read), all 0 where the column lies outside the image (in false). */
static inline __attribute__((always_inline)) void
WT_NAME(in_col)(const float *p, int64_t rs, int64_t c, unsigned rmask, bool in, WT_V *q)
{
    WT_V d[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        d[r] = (WT_V){0};
        if (in && (rmask >> r & 1)) d[r] = WT_LD(p + r * rs + c);
    }
    q[0] = d[0] - d[2], q[1] = d[1] + d[2], q[2] = d[2] - d[1], q[3] = d[1] - d[3];
}

/* V[pos][i][c] (positions TB·Cv floats apart, tiles Cv apart) ← B^T d B of the input tiles
 * t0 .. t0+nt−1 (d: 4×4 pixels from (2·ty − pad_top, 2·tx − pad_left), zero outside x): WG_BTDB's
 * operations, with the first pass of the two columns that horizontal neighbours share computed
 * once (8 loads and 24 additions a tile where each tile alone takes 16 and 32). */
static inline __attribute__((always_inline)) void
WT_NAME(in_tiles)(const wgeo *G, const float *x, int64_t t0, int64_t nt, float *V, const int64_t vs)
{
    const int64_t C = G->C, Cv = G->Cv, rs = G->in_w * C;
    int64_t ty = t0 / G->tw, tx = t0 % G->tw;
    for (int64_t i = 0; i < nt;) {
        /* a run of the tiles i .. i+n−1 of one tile row, columns from iw0 on */
        const int64_t n = nt - i < G->tw - tx ? nt - i : G->tw - tx;
        const int64_t ih0 = 2 * ty - G->pad_top, iw0 = 2 * tx - G->pad_left;
        unsigned rmask = 0;
        for (int r = 0; r < 4; r++)
            rmask |= (unsigned)(ih0 + r >= 0 && ih0 + r < G->in_h) << r;
        /* (the image's pixels only are ever read; these addresses serve as bases) */
        const uintptr_t row = (uintptr_t)x + (uintptr_t)(ih0 * rs) * sizeof(float);
#define WT_COL(iw, q)                                                                              \
    WT_NAME(in_col)                                                                                \
    ((const float *)(row + (uintptr_t)((iw)*C) * sizeof(float)), rs, c, rmask,                     \
     (iw) >= 0 && (iw) < G->in_w, q)
        int64_t c = 0;
        for (; c + WT_W <= C; c += WT_W) {
            WT_V q[4][4], o[16];
            WT_COL(iw0, q[0]);
            WT_COL(iw0 + 1, q[1]);
            for (int64_t k = 0; k < n; k++) {
                const int64_t iw = iw0 + 2 * k;
                WT_COL(iw + 2, q[2]);
                WT_COL(iw + 3, q[3]);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    o[4 * r] = q[0][r] - q[2][r];
                    o[4 * r + 1] = q[1][r] + q[2][r];
                    o[4 * r + 2] = q[2][r] - q[1][r];
                    o[4 * r + 3] = q[1][r] - q[3][r];
                }
                float *v = V + (i + k) * Cv + c;
#pragma GCC unroll 16
                for (int p = 0; p < 16; p++)
                    WT_ST(v + p * vs, o[p]);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    q[0][r] = q[2][r], q[1][r] = q[3][r];
            }
        }
#undef WT_COL
        for (int64_t k = 0; c < C && k < n; k++) { /* the channels past the last vector */
            const int64_t iw = iw0 + 2 * k;
            for (int64_t cc = c; cc < C; cc++) {
                float d[16], t[16];
                for (int e = 0; e < 16; e++) {
                    const int64_t w = iw + e % 4;
                    d[e] = rmask >> (e / 4) & 1 && w >= 0 && w < G->in_w
                               ? x[(ih0 + e / 4) * rs + w * C + cc]
                               : 0.0f;
                }
                WG_BTDB(d, t);
                for (int e = 0; e < 16; e++)
                    V[(i + k) * Cv + e * vs + cc] = t[e];
            }
        }
        i += n, tx = 0, ty++;
    }
}

static WT_ATTR void WT_NAME(in_transform)(const wgeo *G, const float *x, int64_t t0, int64_t nt,
                                          float *V)
{
    WT_NAME(in_tiles)(G, x, t0, nt, V, G->TB * G->Cv);
}

/* A register tile of the GEMM of one position: rows i < MR of a (tiles, lda floats apart: their
 * transformed inputs; rows past mrows read row mrows−1), NV vectors of filters from u (row c at
 * u + c·ldu): m[i][v·W ..] ← Σ_{c < C} a[i][c] · u[c][..], one FMA chain from 0 in c order; rows
 * i < mrows are stored (ldm apart). */
static inline __attribute__((always_inline)) void
WT_NAME(gemm_run)(const int MR, const int NV, const float *a, const int64_t lda,
                  const float *restrict u, const int64_t ldu, const int64_t C, float *m,
                  const int64_t ldm, const int mrows)
{
    WT_V acc[24][4];
#pragma GCC unroll 24
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = (WT_V){0};
    int64_t off[24];
#pragma GCC unroll 24
    for (int i = 0; i < MR; i++)
        off[i] = (i < mrows ? i : mrows - 1) * lda;
    for (int64_t c = 0; c < C; c++, u += ldu) {
        WT_V bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = WT_LD(u + v * WT_W);
#pragma GCC unroll 24
        for (int i = 0; i < MR; i++) {
            const WT_V x = WT_SPLAT(a[off[i] + c]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[i][v] = x * bv[v] + acc[i][v];
        }
    }
#pragma GCC unroll 24
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            if (i < mrows) WT_ST(m + i * ldm + v * WT_W, acc[i][v]);
}

/* The tiles of MR rows over nt rows of V (ldv apart, C channels) by the NV-vector panel at column
 * j of u (rows ldm apart) into m (rows ldm apart). Inlined with ldv, ldm and C constant for the
 * common channel counts, so that the rows' broadcasts are one base register and constant
 * displacements (the whole tiles; the last, partial one with its rows clamped). */
static inline __attribute__((always_inline)) void
WT_NAME(gemm_panel)(const int MR, const int NV, const float *V, const float *u, float *m,
                    int64_t nt, int64_t j, const int64_t ldv, const int64_t ldm, const int64_t C)
{
    int64_t r0 = 0;
    for (; r0 + MR <= nt; r0 += MR)
        WT_NAME(gemm_run)(MR, NV, V + r0 * ldv, ldv, u + j, ldm, C, m + r0 * ldm + j, ldm, MR);
    for (; r0 < nt; r0 += 4) /* the rest 4 rows at a time (the last with its rows clamped) */
        WT_NAME(gemm_run)
    (4, NV, V + r0 * ldv, ldv, u + j, ldm, C, m + r0 * ldm + j, ldm,
     nt - r0 < 4 ? (int)(nt - r0) : 4);
}

/* M[nt × Fp] ← V[nt × C] (rows Cv apart) · U[C × Fp] of one position, with the panels of
 * fv_conv_winograd's comment, for ldv = Cv, ldm = Fp and C (constants when inlined). */
static inline __attribute__((always_inline)) void
WT_NAME(gemm_body)(const float *V, const float *U, float *M, int64_t nt, const int64_t ldv,
                   const int64_t ldm, const int64_t C)
{
    for (int64_t j = 0; j < ldm;) {
#if WT_W == 16
        const int64_t nv = (ldm - j) / 16;
        if (nv >= 4) {
            WT_NAME(gemm_panel)(6, 4, V, U, M, nt, j, ldv, ldm, C);
            j += 64;
        } else if (nv == 3) {
            WT_NAME(gemm_panel)(8, 3, V, U, M, nt, j, ldv, ldm, C);
            j += 48;
        } else if (nv == 2) {
            WT_NAME(gemm_panel)(12, 2, V, U, M, nt, j, ldv, ldm, C);
            j += 32;
        } else {
            WT_NAME(gemm_panel)(24, 1, V, U, M, nt, j, ldv, ldm, C);
            j += 16;
        }
#else
        WT_NAME(gemm_panel)(6, 2, V, U, M, nt, j, ldv, ldm, C); /* ldm is a multiple of 16 */
        j += 16;
#endif
    }
}

static WT_ATTR void WT_NAME(gemm)(const wgeo *G, const float *V, const float *U, float *M,
                                  int64_t nt)
{
    if (G->C == G->Cv && G->Cv == G->Fp) { /* 16, 32, 64 channels in and out: constants */
        if (G->C == 16) {
            WT_NAME(gemm_body)(V, U, M, nt, 16, 16, 16);
            return;
        }
        if (G->C == 32) {
            WT_NAME(gemm_body)(V, U, M, nt, 32, 32, 32);
            return;
        }
        if (G->C == 64) {
            WT_NAME(gemm_body)(V, U, M, nt, 64, 64, 64);
            return;
        }
    }
    WT_NAME(gemm_body)(V, U, M, nt, G->Cv, G->Fp, G->C);
}

/* The outputs of tiles t0 .. t0+nt−1: A^T M A of each from M[pos][i][f] (positions TB·Fp floats
 * apart, tiles Fp apart), + bias then max(·, 0) with relu (NaN gives 0), or with add y + that
 * (no bias); the pixels of a tile past the output's bottom or right edge are not written. */
static inline __attribute__((always_inline)) void WT_NAME(out_tiles)(const wgeo *G, const float *M,
                                                                     int64_t t0, int64_t nt,
                                                                     float *y, bool relu, bool add,
                                                                     const int64_t ms)
{
    const int64_t F = G->F, W = G->out_w;
    const WT_V zero = {0};
    int64_t ty = t0 / G->tw, tx = t0 % G->tw;
    for (int64_t i = 0; i < nt; i++, tx = tx + 1 == G->tw ? 0 : tx + 1, ty += tx == 0) {
        const int64_t oh = 2 * ty, ow = 2 * tx;
        float *yo[4] = {y + (oh * W + ow) * F, NULL, NULL, NULL};
        const bool down = oh + 1 < G->out_h, right = ow + 1 < W;
        if (right) yo[1] = yo[0] + F;
        if (down) yo[2] = yo[0] + W * F;
        if (down && right) yo[3] = yo[2] + F;
        const float *m = M + i * G->Fp;
        int64_t f = 0;
        for (; f + WT_W <= F; f += WT_W) {
            WT_V d[16], o[4];
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++)
                d[k] = WT_LD(m + k * ms + f);
            WG_ATMA(d, o);
            const WT_V bb = WT_LD(G->bias + f);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                if (!yo[k]) continue;
                WT_V v = o[k];
                if (add) {
                    v = WT_LD(yo[k] + f) + v;
                } else {
                    v = v + bb;
                    if (relu) v = (WT_V)((WT_VI)v & (v > zero));
                }
                WT_ST(yo[k] + f, v);
            }
        }
        for (; f < F; f++) {
            float d[16], o[4];
            for (int k = 0; k < 16; k++)
                d[k] = m[k * ms + f];
            WG_ATMA(d, o);
            for (int k = 0; k < 4; k++) {
                if (!yo[k]) continue;
                float v = o[k];
                if (add) {
                    v = yo[k][f] + v;
                } else {
                    v = v + G->bias[f];
                    if (relu) v = v > 0.0f ? v : 0.0f;
                }
                yo[k][f] = v;
            }
        }
    }
}

static WT_ATTR void WT_NAME(out_transform)(const wgeo *G, const float *M, int64_t t0, int64_t nt,
                                           float *y, bool relu, bool add)
{
    WT_NAME(out_tiles)(G, M, t0, nt, y, relu, add, G->TB * G->Fp);
}

/* The whole image where Cv = Fp = 16 (1 to 16 channels and filters; fv_conv2d_forward_winograd's
 * contract, buf: 256·R floats, R = min(T, WG_RUN)): the tiles in runs of R, each run's transformed
 * inputs in buf [16 positions][R][16] (24 KiB: in L1 beside U's 16 KiB), each position's GEMM
 * writing its M over its V (a register tile reads all its rows of V before it stores the same rows
 * of M; one panel of 16 filters), the run's output transform from there. Nothing of a run leaves
 * L1, where the blocked order (wg_forward) sends each image's V and M (200 KiB each at 28×28)
 * through L2. The same operations on the same values as the blocked order: the same bits. next:
 * lines cache lines to prefetch, a share a run; the next run's output rows are prefetched for
 * writing during this run's GEMMs (in a training step y is out of cache: a new image's output, or
 * with add another reader's gradient), so that the output transform's stores do not wait for
 * them. ps: R·16, the positions' stride (a constant where R = WG_RUN). */
static inline __attribute__((always_inline)) void
WT_NAME(runs)(const wgeo *G, const float *x, const float *U, float *buf, float *y, bool relu,
              bool add, const float *next, int64_t lines, const int64_t ps)
{
    const int64_t T = G->T, R = ps / 16, n = (T + R - 1) / R, us = G->C * 16;
    int64_t ydone = wg_run_lines(G, R, 0); /* y's lines prefetched for writing */
    for (int64_t l = 0; l < ydone; l++) /* the first run's rows now, each next run's during the */
        __builtin_prefetch((const char *)y + 64 * l, 1, 3); /* GEMMs of the run before it */
    for (int64_t k = 0; k < n; k++) {
        const int64_t t0 = k * R, nt = T - t0 < R ? T - t0 : R;
        if (lines) fv__pf_share(next, lines, k, n);
        const int64_t y0 = ydone, y1 = k + 1 < n ? wg_run_lines(G, R, k + 1) : ydone;
        ydone = y1;
        WT_NAME(in_tiles)(G, x, t0, nt, buf, ps);
        for (int p = 0; p < 16; p++) {
            for (int64_t l = y0 + p * (y1 - y0) / 16, e = y0 + (p + 1) * (y1 - y0) / 16; l < e; l++)
                __builtin_prefetch((const char *)y + 64 * l, 1, 3);
            float *v = buf + p * ps;
            if (G->C == 16)
                WT_NAME(gemm_body)(v, U + p * us, v, nt, 16, 16, 16);
            else
                WT_NAME(gemm_body)(v, U + p * us, v, nt, 16, 16, G->C);
        }
        WT_NAME(out_tiles)(G, buf, t0, nt, y, relu, add, ps);
    }
}

static WT_ATTR void WT_NAME(runs16)(const wgeo *G, const float *x, const float *U, float *buf,
                                    float *y, bool relu, bool add, const float *next, int64_t lines)
{
    if (G->T >= WG_RUN)
        WT_NAME(runs)(G, x, U, buf, y, relu, add, next, lines, WG_RUN * 16);
    else /* an image of fewer tiles: one run of all of them */
        WT_NAME(runs)(G, x, U, buf, y, relu, add, next, lines, G->T * 16);
}

#undef WT_LD
#undef WT_ST
