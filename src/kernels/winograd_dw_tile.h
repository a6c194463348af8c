/* winograd_dw_tile.h — the loops of the Winograd F(2×2, 3×3) weight gradient (winograd_dw.c) as
 * a template, included once per instruction set (no include guard on purpose). The includer
 * defines WD_V (vector type), WD_VU (the same unaligned and may_alias), WD_W (its width in floats:
 * 8 or 16), WD_NAME(s) and WD_ATTR (the target), and, before the first inclusion, wdl (the
 * layout), WD_PLANE, the 8-float vector types wv8 and wv8u, and the transforms WG_BTDB, WD_AY and
 * WD_GTUG.
 * Every dU element is one chain of FMAs from its previous value over the tiles in order, whatever
 * the vector width or register tile, so the FMA paths give the same bits (tested).
 */

#define WD_LD(p)    (*(const WD_VU *)(p))
#define WD_ST(p, v) (*(WD_VU *)(p) = (v))

/* du[r·ldm + q·W ..] (r < MR rows of in_c, q < NV vectors of out_c) += Σ_{t < nt} v[t·ldv + r] ·
 * M_t[q·W ..], each element one FMA chain in t order; MR·NV ≤ 16 accumulators. M_t, the row
 * t of the gradient's transform A dY Aᵀ at column J of its 4×4, from the two planes of A dY
 * for its row (p = m0[t·ldm ..], q = m1[t·ldm ..]): p, p + q, p − q or −q (an FNMADD: the same
 * bits as adding the product with −q). */
static inline __attribute__((always_inline)) void
WD_NAME(tile)(const int MR, const int NV, const int J, int64_t nt, const float *v, int64_t ldv,
              const float *m0, const float *m1, int64_t ldm, float *du)
{
    WD_V acc[16][4];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int q = 0; q < NV; q++)
            acc[r][q] = WD_LD(du + r * ldm + q * WD_W);
    for (int64_t t = 0; t < nt; t++, v += ldv, m0 += ldm, m1 += ldm) {
        WD_V b[4];
#pragma GCC unroll 4
        for (int q = 0; q < NV; q++) {
            const WD_V p = WD_LD(m0 + q * WD_W), h = WD_LD(m1 + q * WD_W);
            b[q] = J == 0 ? p : J == 1 ? p + h : J == 2 ? p - h : h;
        }
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
            for (int q = 0; q < NV; q++) /* v[r] in every lane: one broadcast from memory */
                if (J == 3)
                    acc[r][q] -= v[r] * b[q];
                else
                    acc[r][q] += v[r] * b[q];
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int q = 0; q < NV; q++)
            WD_ST(du + r * ldm + q * WD_W, acc[r][q]);
}

/* All C rows of du's columns [co, co + NV·W): tiles of MR rows, then of 8, 4, 2 and 1 below MR. */
static inline __attribute__((always_inline)) void
WD_NAME(rows)(const int MR, const int NV, const int J, int64_t C, int64_t nt, const float *v,
              const float *m0, const float *m1, int64_t ldm, float *du)
{
    int64_t r = 0;
    for (; r + MR <= C; r += MR)
        WD_NAME(tile)(MR, NV, J, nt, v + r, C, m0, m1, ldm, du + r * ldm);
    if (MR > 8 && r + 8 <= C) {
        WD_NAME(tile)(8, NV, J, nt, v + r, C, m0, m1, ldm, du + r * ldm);
        r += 8;
    }
    if (MR > 4 && r + 4 <= C) {
        WD_NAME(tile)(4, NV, J, nt, v + r, C, m0, m1, ldm, du + r * ldm);
        r += 4;
    }
    if (MR > 2 && r + 2 <= C) {
        WD_NAME(tile)(2, NV, J, nt, v + r, C, m0, m1, ldm, du + r * ldm);
        r += 2;
    }
    if (MR > 1 && r + 1 <= C) WD_NAME(tile)(1, NV, J, nt, v + r, C, m0, m1, ldm, du + r * ldm);
}

/* The columns [co, co + NV·W) of the GEMM below, at column J (a constant) of the transform. */
static inline __attribute__((always_inline)) void
WD_NAME(cols)(const int MR, const int NV, int J, int64_t C, int64_t nt, const float *v,
              const float *m0, const float *m1, int64_t ldm, float *du)
{
    if (J == 0)
        WD_NAME(rows)(MR, NV, 0, C, nt, v, m0, m1, ldm, du);
    else if (J == 1)
        WD_NAME(rows)(MR, NV, 1, C, nt, v, m0, m1, ldm, du);
    else if (J == 2)
        WD_NAME(rows)(MR, NV, 2, C, nt, v, m0, m1, ldm, du);
    else
        WD_NAME(rows)(MR, NV, 3, C, nt, v, m0, m1, ldm, du);
}

/* One transformed position's GEMM over a block of nt tiles: du [C × ldm] += vᵀ M, v [nt × C], M
 * [nt × ldm] at column J of the transform from the planes m0 and m1 of A dY (WD_NAME(tile)).
 * Register tiles of 16 accumulators: NV vectors of out_c by 16/NV rows of in_c. */
static WD_ATTR void WD_NAME(gemm)(int64_t C, int64_t ldm, int64_t nt, const float *v, int J,
                                  const float *m0, const float *m1, float *du)
{
    for (int64_t co = 0; co < ldm;) {
        const int64_t nv = (ldm - co) / WD_W;
        const float *p = m0 + co, *q = m1 + co;
#if WD_W == 16
        if (nv >= 4)
            WD_NAME(cols)(4, 4, J, C, nt, v, p, q, ldm, du + co), co += 4 * WD_W;
        else if (nv == 3)
            WD_NAME(cols)(5, 3, J, C, nt, v, p, q, ldm, du + co), co += 3 * WD_W;
        else if (nv == 2)
            WD_NAME(cols)(8, 2, J, C, nt, v, p, q, ldm, du + co), co += 2 * WD_W;
        else
            WD_NAME(cols)(16, 1, J, C, nt, v, p, q, ldm, du + co), co += WD_W;
#else /* ldm is a multiple of 16: pairs of 8-float vectors */
        (void)nv;
        WD_NAME(cols)(6, 2, J, C, nt, v, p, q, ldm, du + co), co += 2 * WD_W;
#endif
    }
}

/* The input transform of one tile, channels c0 ≤ c < C one at a time (those past the vectors'):
 * v[ξ·xs + c] ← (Bᵀ d B)_ξ of the 4×4 window d at row iy, column ix of x (rows rs floats apart):
 * its pixel k = 4i + j where bit k of mask is set, else 0 (outside the image, never read). */
static inline __attribute__((always_inline)) void
WD_NAME(in_tail)(const float *x, int64_t rs, int64_t iy, int64_t ix, int64_t C, int64_t c0,
                 unsigned mask, float *v, int64_t xs)
{
    for (int64_t c = c0; c < C; c++) {
        float in[16], out[16];
        for (int k = 0; k < 16; k++)
            in[k] = mask >> k & 1 ? x[(iy + k / 4) * rs + (ix + k % 4) * C + c] : 0.0f;
        WG_BTDB(in, out);
        for (int k = 0; k < 16; k++)
            v[k * xs + c] = out[k];
    }
}

/* The gradient's half transform of one tile, filters f0 ≤ f < F one at a time (those past the
 * vectors'): m[k·xs + f] ← (A dY)_k (k < 8, 4×2 row-major), and 0 for F ≤ f < ldm; dY's 2×2 pixels
 * k = 2i + j at row oy + i, column ox + j of y (rows rs floats apart) where bit k of mask is set,
 * else 0 (past the output, never read). */
static inline __attribute__((always_inline)) void
WD_NAME(grad_tail)(const float *y, int64_t rs, int64_t oy, int64_t ox, int64_t F, int64_t f0,
                   unsigned mask, int64_t ldm, float *m, int64_t xs)
{
    int64_t f = f0;
    for (; f < F; f++) {
        float in[4], out[8];
        for (int k = 0; k < 4; k++)
            in[k] = mask >> k & 1 ? y[(oy + k / 2) * rs + (ox + k % 2) * F + f] : 0.0f;
        WD_AY(in, out);
        for (int k = 0; k < 8; k++)
            m[k * xs + f] = out[k];
    }
    for (; f < ldm; f++)
        for (int k = 0; k < 8; k++)
            m[k * xs + f] = 0.0f;
}

/* The rows' transforms in vectors of this path's width and, on the 16-wide paths, of 8 for the
 * channels and filters past the last whole 16 (winograd_dw_row.h). */
#define WD_RV       WD_V
#define WD_RVU      WD_VU
#define WD_RW       WD_W
#define WD_RNAME(s) WD_NAME(s)
#include "kernels/winograd_dw_row.h"
#undef WD_RV
#undef WD_RVU
#undef WD_RW
#undef WD_RNAME
#if WD_W == 16
#define WD_RV       wv8
#define WD_RVU      wv8u
#define WD_RW       8
#define WD_RNAME(s) WD_NAME(s##_8)
#include "kernels/winograd_dw_row.h"
#undef WD_RV
#undef WD_RVU
#undef WD_RW
#undef WD_RNAME
#endif

/* dw [3, 3, C, F] += Gᵀ dU G for every (c, f); du's planes [C × ldm] xs floats apart. */
static WD_ATTR void WD_NAME(out_all)(int64_t C, int64_t F, int64_t ldm, const float *du, int64_t xs,
                                     float *dw)
{
    const int64_t ks = C * F;
    for (int64_t c = 0; c < C; c++) {
        const float *u = du + c * ldm;
        float *w = dw + c * F;
        int64_t f = 0;
        for (; f + WD_W <= F; f += WD_W) {
            WD_V in[16], out[9];
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++)
                in[k] = WD_LD(u + k * xs + f);
            WD_GTUG(in, out);
#pragma GCC unroll 9
            for (int k = 0; k < 9; k++)
                WD_ST(w + k * ks + f, WD_LD(w + k * ks + f) + out[k]);
        }
        for (; f < F; f++) {
            float in[16], out[9];
            for (int k = 0; k < 16; k++)
                in[k] = u[k * xs + f];
            WD_GTUG(in, out);
            for (int k = 0; k < 9; k++)
                w[k * ks + f] += out[k];
        }
    }
}

/* The rows of tiles [r0, r0 + nr) of the n images (row r: image r / th, tile row r mod th)
 * transformed into the block's slots (r − r0)·tw + tx of v and m, planes vxs and mxs apart. */
static inline __attribute__((always_inline)) void
WD_NAME(rows_in)(const fv_conv_geom *g, const wdl *L, int64_t r0, int64_t nr, const float *x,
                 const float *dz, float *v, int64_t vxs, float *m, int64_t mxs)
{
    const int64_t C = g->in_c, F = g->out_c, ldm = L->ldm, tw = L->tw;
    const int64_t in_rs = g->in_w * C, in_sz = g->in_h * in_rs, out_rs = g->out_w * F;
    const int64_t out_sz = g->out_h * out_rs;
    for (int64_t r = r0; r < r0 + nr; r++) {
        const int64_t img = r / L->th, oy = 2 * (r % L->th), iy = oy - g->pad_top;
        const float *xi = x + img * in_sz, *yi = dz + img * out_sz;
        float *vr = v + (r - r0) * tw * C, *mr = m + (r - r0) * tw * ldm;
        unsigned rows = 0; /* the window's rows inside the image */
        for (int k = 0; k < 4; k++)
            rows |= (iy + k >= 0 && iy + k < g->in_h) ? 1u << k : 0u;
        int64_t cv = C - C % WD_W, fv = F - F % WD_W; /* the channels, filters in vectors */
        WD_NAME(in_row)(xi, in_rs, iy, rows, g->pad_left, g->in_w, C, 0, cv, tw, vr, vxs);
        WD_NAME(grad_row)(yi, out_rs, oy, g->out_h, g->out_w, F, 0, fv, tw, mr, ldm, mxs);
#if WD_W == 16
        if (C - cv >= 8) {
            WD_NAME(in_row_8)
            (xi, in_rs, iy, rows, g->pad_left, g->in_w, C, cv, cv + 8, tw, vr, vxs);
            cv += 8;
        }
        if (F - fv >= 8) {
            WD_NAME(grad_row_8)
            (yi, out_rs, oy, g->out_h, g->out_w, F, fv, fv + 8, tw, mr, ldm, mxs);
            fv += 8;
        }
#endif
        for (int64_t tx = 0; cv < C && tx < tw; tx++) { /* the channels past the last vector */
            const int64_t ix = 2 * tx - g->pad_left;
            unsigned mask = 0;
            for (int k = 0; k < 16; k++)
                if (rows >> (k / 4) & 1 && ix + k % 4 >= 0 && ix + k % 4 < g->in_w) mask |= 1u << k;
            WD_NAME(in_tail)(xi, in_rs, iy, ix, C, cv, mask, vr + tx * C, vxs);
        }
        for (int64_t tx = 0; fv < ldm && tx < tw; tx++) { /* the filters past it, and zeros */
            const int64_t ox = 2 * tx;
            const unsigned mask = 1u | (ox + 1 < g->out_w ? 2u : 0u) |
                                  (oy + 1 < g->out_h ? 4u : 0u) |
                                  (ox + 1 < g->out_w && oy + 1 < g->out_h ? 8u : 0u);
            WD_NAME(grad_tail)(yi, out_rs, oy, ox, F, fv, mask, ldm, mr + tx * ldm, mxs);
        }
    }
}

/* The rows of tiles of 16 channels and 16 filters (at most WD_ROW16 / 16 tiles a row; C = ldm =
 * 16), one at a time: its v and m (WD_ROW16 floats a plane, 25 KiB in all) and du (17 KiB) stay
 * in L1 from the transforms to the GEMMs, where the blocks of run send 16 × 16 KiB of v and
 * 8 × 16 KiB of m through L2. The same chains in the same order as the blocks': the same bits. */
static WD_ATTR void WD_NAME(rows16)(const fv_conv_geom *g, const wdl *L, int64_t n, const float *x,
                                    const float *dz, float *du, float *v, float *m)
{
    const int64_t rows = n * L->th, tw = L->tw, uxs = L->uxs;
    for (int64_t r = 0; r < rows; r++) {
        WD_NAME(rows_in)(g, L, r, 1, x, dz, v, WD_ROW16, m, WD_ROW16);
        for (int64_t k = 0; k < 16; k++) { /* row k / 4 of A dY's planes, column k mod 4 */
            const float *m0 = m + k / 4 * 2 * WD_ROW16, *vk = v + k * WD_ROW16;
#if WD_W == 16
            WD_NAME(cols)(16, 1, (int)(k % 4), 16, tw, vk, m0, m0 + WD_ROW16, 16, du + k * uxs);
#else
            WD_NAME(cols)(6, 2, (int)(k % 4), 16, tw, vk, m0, m0 + WD_ROW16, 16, du + k * uxs);
#endif
        }
    }
}

/* The whole weight gradient of n images (fv_conv_dw_wino_images' contract) on this path. */
static WD_ATTR void WD_NAME(run)(const fv_conv_geom *g, const wdl *L, int64_t n, const float *x,
                                 const float *dz, float *dw, float *scratch, bool rows16)
{
    const int64_t C = g->in_c, ldm = L->ldm, rows = n * L->th, rb = L->tb / L->tw;
    float *du = scratch + L->du, *v = scratch + L->v, *m = scratch + L->m;
    for (int64_t k = 0; k < 16; k++)
        memset(du + k * L->uxs, 0, (size_t)(C * ldm) * sizeof(float));
    if (rows16) {
        WD_NAME(rows16)(g, L, n, x, dz, du, v, v + 16 * WD_ROW16); /* du, v, m: 42 KiB */
        WD_NAME(out_all)(C, g->out_c, ldm, du, L->uxs, dw);
        return;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += rb) {
        const int64_t nr = rows - r0 < rb ? rows - r0 : rb, nt = nr * L->tw;
        if (L->vxs == WD_PLANE && L->mxs == WD_PLANE) /* the planes' offsets as constants */
            WD_NAME(rows_in)(g, L, r0, nr, x, dz, v, WD_PLANE, m, WD_PLANE);
        else
            WD_NAME(rows_in)(g, L, r0, nr, x, dz, v, L->vxs, m, L->mxs);
        for (int64_t k = 0; k < 16; k++) /* row k / 4 of A dY's planes, column k mod 4 */
            WD_NAME(gemm)
        (C, ldm, nt, v + k * L->vxs, (int)(k % 4), m + k / 4 * 2 * L->mxs,
         m + (k / 4 * 2 + 1) * L->mxs, du + k * L->uxs);
    }
    WD_NAME(out_all)(C, g->out_c, ldm, du, L->uxs, dw);
}

#undef WD_LD
#undef WD_ST
