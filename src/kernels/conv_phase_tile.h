/* conv_phase_tile.h — the inner loop of a 3×3, stride-2 convolution's input gradient by blocks
 * (conv_phase.c) as a template, included once per instruction set (no include guard on purpose).
 * The includer defines PT_V, PT_VU (the vector type, aligned and unaligned + may_alias), PT_W (its
 * floats: 8 or 16), PT_MB (blocks per tile), PT_SPLAT(x), PT_NAME(s) and PT_ATTR (the target).
 */

#define PT_LD(p)    (*(const PT_VU *)(p))
#define PT_ST(p, v) (*(PT_VU *)(p) = (v))

/* One dy pixel offset of a tile: for every f < F, acc[P_q][b] += dy(block b's pixel at d)[f] ·
 * w[f·NP + q] (q < NP) over the tile's blocks, the weights' vectors 16 floats apart. */
#define PT_OFFSET(NP, P0, P1, P2, P3, d)                                                           \
    do {                                                                                           \
        const int p_[4] = {P0, P1, P2, P3};                                                        \
        for (int64_t f = 0; f < F; f++, w += 16 * (NP)) {                                          \
            PT_V wv[4];                                                                            \
            _Pragma("GCC unroll 4") for (int q = 0; q < (NP); q++) wv[q] = PT_LD(w + 16 * q);      \
            _Pragma("GCC unroll 8") for (int b = 0; b < PT_MB; b++)                                \
            {                                                                                      \
                const PT_V t = PT_SPLAT((d)[b * F + f]);                                           \
                _Pragma("GCC unroll 4") for (int q = 0; q < (NP); q++) acc[p_[q]][b] =             \
                    t * wv[q] + acc[p_[q]][b];                                                     \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* A row of nb blocks (a multiple of PT_MB), nc ≤ PT_W channels from c0 (dx0, dx1 below point at
 * channel c0): phase p = 2·rh + rw of block b is the input position (row rh: dx0, or dx1 for rh
 * = 1; column iw = iw0 + 2b + rw), whose nc floats receive its sum (or, with add, their sum with
 * it), where the row is not NULL and 0 ≤ iw < in_w. d: block 0's dy pixel (q_h, q_w) in the
 * padded copy (rows ld floats apart, F channels); the taps reach (q_h − 1, q_w − 1). wb: the
 * channels' packed weights (conv_phase.c block_pack): per dy offset in raster order ((−1, −1),
 * (−1, 0), (0, −1), (0, 0) twice), per f, one 16-float slot per phase that takes that offset
 * ({0}, {0, 1}, {0, 2}, {0, 1}, {2, 3}). Each output is one FMA chain over (offset, f) in that
 * order: a phase's taps in raster order of dy, f inner, the chain of fv_conv2d_forward_fast on the
 * phase (the same bits). */
static PT_ATTR void PT_NAME(block_row)(const float *d, int64_t ld, int64_t F, const float *wb,
                                       int64_t nb, float *dx0, float *dx1, int64_t C, int64_t iw0,
                                       int64_t in_w, int nc, bool add)
{
    for (int64_t b0 = 0; b0 < nb; b0 += PT_MB, d += PT_MB * F) {
        PT_V acc[4][PT_MB];
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)
#pragma GCC unroll 8
            for (int b = 0; b < PT_MB; b++)
                acc[p][b] = (PT_V){0};
        const float *w = wb;
        PT_OFFSET(1, 0, 0, 0, 0, d - ld - F);
        PT_OFFSET(2, 0, 1, 0, 0, d - ld);
        PT_OFFSET(2, 0, 2, 0, 0, d - F);
        PT_OFFSET(2, 0, 1, 0, 0, d); /* (0, 0) in two halves: 4 weight vectors and 28 */
        PT_OFFSET(2, 2, 3, 0, 0, d); /* accumulators would not fit the 32 registers */
        for (int b = 0; b < PT_MB; b++)
            for (int p = 0; p < 4; p++) {
                float *row = p < 2 ? dx0 : dx1;
                const int64_t iw = iw0 + 2 * (b0 + b) + p % 2;
                if (!row || iw < 0 || iw >= in_w) continue;
                float *o = row + iw * C;
                if (nc == PT_W) {
                    if (add)
                        PT_ST(o, PT_LD(o) + acc[p][b]);
                    else
                        PT_ST(o, acc[p][b]);
                    continue;
                }
                _Alignas(64) float t[PT_W];
                PT_ST(t, acc[p][b]);
                for (int c = 0; c < nc; c++)
                    o[c] = add ? o[c] + t[c] : t[c];
            }
    }
}

#undef PT_OFFSET
#undef PT_LD
#undef PT_ST
