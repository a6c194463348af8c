/* winograd_dw_row.h — the transforms of a row of tiles (winograd_dw.c) in vectors of one width, a
 * template included by winograd_dw_tile.h once per width (no include guard on purpose): WD_RV,
 * WD_RVU (the vector type, aligned and unaligned), WD_RW (its floats) and WD_RNAME(s).
 */

#define WD_RLD(p)    ((WD_RV)(*(const WD_RVU *)(p)))
#define WD_RST(p, v) (*(WD_RVU *)(p) = (v))

/* Bᵀ applied down input column col of the 4 rows from iy (rows outside the image, bit i of rows
 * clear, and columns outside it read as 0): the column j of Bᵀ d that WG_BTDB forms. */
static inline __attribute__((always_inline)) void WD_RNAME(col)(const float *x, int64_t rs,
                                                                int64_t iy, int64_t col,
                                                                int64_t in_w, int64_t C,
                                                                unsigned rows, WD_RV r[4])
{
    WD_RV d[4];
    const bool in = col >= 0 && col < in_w;
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        d[i] = in && (rows >> i & 1) ? WD_RLD(x + (iy + i) * rs + col * C) : (WD_RV){0};
    r[0] = d[0] - d[2], r[1] = d[1] + d[2], r[2] = d[2] - d[1], r[3] = d[1] - d[3];
}

/* The input transform of a row of tw tiles (window origins at row iy, columns −pad_left + 2·tx)
 * for the channels [c0, c1) in vectors, into slots 0 .. tw−1 of v (slot s at v + s·C, plane ξ xs
 * floats on): each column's Bᵀ once, shared by the two tiles that hold it; the same operations on
 * the same values as WG_BTDB. */
static inline __attribute__((always_inline)) void
WD_RNAME(in_row)(const float *x, int64_t rs, int64_t iy, unsigned rows, int64_t pad_left,
                 int64_t in_w, int64_t C, int64_t c0, int64_t c1, int64_t tw, float *v, int64_t xs)
{
    for (int64_t c = c0; c + WD_RW <= c1; c += WD_RW) {
        const float *xc = x + c;
        WD_RV a[4], b[4], e[4], f[4];
        WD_RNAME(col)(xc, rs, iy, -pad_left, in_w, C, rows, a);
        WD_RNAME(col)(xc, rs, iy, 1 - pad_left, in_w, C, rows, b);
        float *vc = v + c;
        for (int64_t t = 0; t < tw; t++, vc += C) {
            const int64_t ix = 2 * t - pad_left;
            WD_RNAME(col)(xc, rs, iy, ix + 2, in_w, C, rows, e);
            WD_RNAME(col)(xc, rs, iy, ix + 3, in_w, C, rows, f);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                WD_RST(vc + (4 * i) * xs, a[i] - e[i]);
                WD_RST(vc + (4 * i + 1) * xs, b[i] + e[i]);
                WD_RST(vc + (4 * i + 2) * xs, e[i] - b[i]);
                WD_RST(vc + (4 * i + 3) * xs, b[i] - f[i]);
            }
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                a[i] = e[i], b[i] = f[i];
        }
    }
}

/* The gradient's half transform of a row of tw tiles (outputs from row oy, columns 2·tx) for the
 * filters [f0, f1) in vectors, into slots 0 .. tw−1 of m (slot s at m + s·ldm, plane k < 8 xs
 * floats on): m ← A dY (4×2), dY's pixels past the output 0 (never read); the GEMMs form
 * A dY Aᵀ from it (WD_NAME(tile)). */
static inline __attribute__((always_inline)) void
WD_RNAME(grad_row)(const float *y, int64_t rs, int64_t oy, int64_t out_h, int64_t out_w, int64_t F,
                   int64_t f0, int64_t f1, int64_t tw, float *m, int64_t ldm, int64_t xs)
{
    const bool down = oy + 1 < out_h;
    for (int64_t f = f0; f + WD_RW <= f1; f += WD_RW) {
        const float *yf = y + oy * rs + f;
        float *mf = m + f;
        for (int64_t t = 0; t < tw; t++, yf += 2 * F, mf += ldm) {
            const bool right = 2 * t + 1 < out_w;
            WD_RV in[4], out[8];
            in[0] = WD_RLD(yf);
            in[1] = right ? WD_RLD(yf + F) : (WD_RV){0};
            in[2] = down ? WD_RLD(yf + rs) : (WD_RV){0};
            in[3] = right && down ? WD_RLD(yf + rs + F) : (WD_RV){0};
            WD_AY(in, out);
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                WD_RST(mf + k * xs, out[k]);
        }
    }
}

#undef WD_RLD
#undef WD_RST
