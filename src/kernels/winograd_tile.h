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

/* One tile's B^T d B: d[r][s][c] at o + r·rs + s·cs + c (c < C) where bit 4r + s of mask is set,
 * else 0 (and never read), into v[k·vs + c]. */
static inline __attribute__((always_inline)) void WT_NAME(tile_in)(const float *o, int64_t rs,
                                                                   int64_t cs, int64_t C,
                                                                   unsigned mask, float *v,
                                                                   int64_t vs)
{
    int64_t c = 0;
    for (; c + WT_W <= C; c += WT_W) {
        WT_V d[16], t[16];
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++) {
            d[k] = (WT_V){0};
            if (mask >> k & 1) d[k] = WT_LD(o + (k / 4) * rs + (k % 4) * cs + c);
        }
        WG_BTDB(d, t);
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            WT_ST(v + k * vs + c, t[k]);
    }
    for (; c < C; c++) {
        float d[16], t[16];
        for (int k = 0; k < 16; k++)
            d[k] = mask >> k & 1 ? o[(k / 4) * rs + (k % 4) * cs + c] : 0.0f;
        WG_BTDB(d, t);
        for (int k = 0; k < 16; k++)
            v[k * vs + c] = t[k];
    }
}

/* V[pos][i][c] (positions TB·Cv floats apart, tiles Cv apart) ← B^T d B of the input tiles
 * t0 .. t0+nt−1 (d: 4×4 pixels from (2·ty − pad_top, 2·tx − pad_left), zero outside x). */
static WT_ATTR void WT_NAME(in_transform)(const wgeo *G, const float *x, int64_t t0, int64_t nt,
                                          float *V)
{
    const int64_t C = G->C, Cv = G->Cv, vs = G->TB * Cv, rs = G->in_w * C;
    int64_t ty = t0 / G->tw, tx = t0 % G->tw;
    for (int64_t i = 0; i < nt; i++) {
        const int64_t ih0 = 2 * ty - G->pad_top, iw0 = 2 * tx - G->pad_left;
        if (ih0 >= 0 && ih0 + 4 <= G->in_h && iw0 >= 0 && iw0 + 4 <= G->in_w) {
            WT_NAME(tile_in)(x + ih0 * rs + iw0 * C, rs, C, C, 0xffffu, V + i * Cv, vs);
        } else { /* the pixels inside the image; the tile's origin may lie outside it */
            unsigned mask = 0;
            for (int k = 0; k < 16; k++) {
                const int64_t ih = ih0 + k / 4, iw = iw0 + k % 4;
                mask |= (unsigned)(ih >= 0 && ih < G->in_h && iw >= 0 && iw < G->in_w) << k;
            }
            WT_NAME(tile_in)(x + ih0 * rs + iw0 * C, rs, C, C, mask, V + i * Cv, vs);
        }
        if (++tx == G->tw) tx = 0, ty++;
    }
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
static WT_ATTR void WT_NAME(out_transform)(const wgeo *G, const float *M, int64_t t0, int64_t nt,
                                           float *y, bool relu, bool add)
{
    const int64_t F = G->F, ms = G->TB * G->Fp, W = G->out_w;
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

#undef WT_LD
#undef WT_ST
