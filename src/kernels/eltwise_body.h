/* eltwise_body.h — the element-wise kernels of eltwise.h written once in GCC/Clang vectors of EW_W
 * floats, included by eltwise.c once per path with:
 *   EW_W        floats per vector (4: portable; 8: AVX2; 16: AVX-512)
 *   EW_NAME(s)  the path's name for symbol s
 *   EW_ATTR     function attributes (the target instruction set)
 *   EW_REGS     vector registers of the target (16, or 32 with AVX-512)
 *   EW_CVT_WIDE, EW_CVT_NARROW  (optional) the target's float ↔ double conversion of a half vector
 * Each vector lane does the reference's operations in its order; the columns past the last whole
 * vector of a row go through the reference's scalar helpers (eltwise.c).
 */

typedef float EW_NAME(vf) __attribute__((vector_size(4 * EW_W)));
typedef float EW_NAME(vfu) __attribute__((vector_size(4 * EW_W), aligned(4), may_alias));
typedef int32_t EW_NAME(vi) __attribute__((vector_size(4 * EW_W)));

#define VF    EW_NAME(vf)
#define VFU   EW_NAME(vfu)
#define VI    EW_NAME(vi)
#define LD(p) ((VF) * (const VFU *)(p))
/* v where m is true, +0 elsewhere. */
#define KEEP(v, m) ((VF)((VI)(v) & (m)))

EW_ATTR static void EW_NAME(relu_forward)(const float *x, float *y, int64_t n)
{
    const VF zero = {0};
    int64_t i = 0;
    for (; i + EW_W <= n; i += EW_W) {
        const VF v = LD(x + i);
        *(VFU *)(y + i) = KEEP(v, v > zero);
    }
    for (; i < n; i++)
        y[i] = relu1(x[i]);
}

EW_ATTR static void EW_NAME(relu_backward)(const float *y, const float *dy, float *dx, int64_t n)
{
    const VF zero = {0};
    int64_t i = 0;
    for (; i + EW_W <= n; i += EW_W)
        *(VFU *)(dx + i) = KEEP(LD(dy + i), LD(y + i) > zero);
    for (; i < n; i++)
        dx[i] = relu_grad1(y[i], dy[i]);
}

/* The double-precision work runs on half vectors: EW_W / 2 floats widened to EW_W / 2 doubles fill
 * one machine register (a zmm for AVX-512). GCC splits a vector of EW_W doubles into two registers
 * but kept such accumulators in memory across the rows (a store and a load per row: the sums ran at
 * a fifth of the loads' rate); half vectors stay in registers. */
#define HW (EW_W / 2)
typedef float EW_NAME(hf) __attribute__((vector_size(2 * EW_W)));
typedef float EW_NAME(hfu) __attribute__((vector_size(2 * EW_W), aligned(4), may_alias));
typedef int32_t EW_NAME(hi) __attribute__((vector_size(2 * EW_W)));
typedef double EW_NAME(hd) __attribute__((vector_size(4 * EW_W)));
typedef double EW_NAME(hdu) __attribute__((vector_size(4 * EW_W), aligned(8), may_alias));
#define HF     EW_NAME(hf)
#define HFU    EW_NAME(hfu)
#define HI     EW_NAME(hi)
#define HD     EW_NAME(hd)
#define HDU    EW_NAME(hdu)
#define LDH(p) ((HF) * (const HFU *)(p))
#define LDD(p) ((HD) * (const HDU *)(p))
/* Widening and narrowing: EW_CVT_WIDE / EW_CVT_NARROW where the path defines them (GCC 12 splits
 * __builtin_convertvector of 8 floats to 8 doubles into halves and reassembles them), else the
 * generic conversion; the same rounding either way. */
#ifdef EW_CVT_WIDE
#define CVT(v)    ((HD)EW_CVT_WIDE(v))
#define NARROW(v) ((HF)EW_CVT_NARROW(v))
#else
#define CVT(v)    __builtin_convertvector((v), HD)
#define NARROW(v) __builtin_convertvector((v), HF)
#endif
/* The gradient through the optional ReLU, on a half vector at channel c of row arrays ry, dy. */
#define GRADH(ry, dy, c)                                                                           \
    ((ry) ? (HF)((HI)LDH((dy) + (c)) & (LDH((ry) + (c)) > hzero)) : LDH((dy) + (c)))

/* kind 0: s1 += Σx; 1: s1 += Σ(x − dmean)²; 2: s1 += Σg, s2 += Σg·x̂ (sum_dy) — for channels
 * [c0, c0 + nh·HW), over all rows with the sums in registers (each channel still summed over
 * the rows in order). Inlined with kind and nh constants. */
EW_ATTR static inline __attribute__((always_inline)) void
EW_NAME(sums_block)(int kind, int nh, const float *x, const float *dy, const float *relu_y,
                    int64_t rows, int64_t C, int64_t c0, const float *mean, const double *dmean,
                    const float *inv, double *s1, double *s2)
{
    const HF hzero = {0};
    HD a[8], b[8], m[8], iv[8];
#pragma GCC unroll 8
    for (int k = 0; k < nh; k++) {
        const int64_t c = c0 + k * HW;
        a[k] = LDD(s1 + c);
        if (kind == 2) b[k] = LDD(s2 + c);
        if (kind == 1) m[k] = LDD(dmean + c);
        if (kind == 2) m[k] = CVT(LDH(mean + c)), iv[k] = CVT(LDH(inv + c));
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C + c0;
#pragma GCC unroll 8
        for (int k = 0; k < nh; k++) {
            if (kind == 0) {
                a[k] += CVT(LDH(xr + k * HW));
            } else if (kind == 1) {
                const HD d = CVT(LDH(xr + k * HW)) - m[k];
                a[k] += d * d;
            } else {
                const HD g = CVT(GRADH(relu_y ? relu_y + r * C : NULL, dy + r * C, c0 + k * HW));
                const HD xh = (CVT(LDH(xr + k * HW)) - m[k]) * iv[k];
                a[k] += g;
                b[k] += g * xh;
            }
        }
    }
#pragma GCC unroll 8
    for (int k = 0; k < nh; k++) {
        *(HDU *)(s1 + c0 + k * HW) = a[k];
        if (kind == 2) *(HDU *)(s2 + c0 + k * HW) = b[k];
    }
}

/* The sums of kind over rows [0, rows), on a tile of rows at a time: the channel blocks of a tile
 * read it from L1 (a block over all rows would stream the tensor once per block). Each channel is
 * still summed over the rows in order. */
EW_ATTR static inline __attribute__((always_inline)) void
EW_NAME(sums_tile)(int kind, const float *x, const float *dy, const float *relu_y, int64_t rows,
                   int64_t C, const float *mean, const double *dmean, const float *inv, double *s1,
                   double *s2)
{
    int64_t c = 0;
    /* Blocks of up to 8 half vectors while their registers fit the path's (EW_REGS): Σx and
     * Σ(x − mean)² hold two per half vector (the sum, the mean), sum_dy four (two sums, mean, inv).
     */
    const int most = (kind == 2 ? EW_REGS / 8 : EW_REGS / 4);
    for (; most >= 8 && c + 8 * HW <= C; c += 8 * HW)
        EW_NAME(sums_block)(kind, 8, x, dy, relu_y, rows, C, c, mean, dmean, inv, s1, s2);
    for (; most >= 4 && c + 4 * HW <= C; c += 4 * HW)
        EW_NAME(sums_block)(kind, 4, x, dy, relu_y, rows, C, c, mean, dmean, inv, s1, s2);
    for (; c + 2 * HW <= C; c += 2 * HW)
        EW_NAME(sums_block)(kind, 2, x, dy, relu_y, rows, C, c, mean, dmean, inv, s1, s2);
    for (; c + HW <= C; c += HW)
        EW_NAME(sums_block)(kind, 1, x, dy, relu_y, rows, C, c, mean, dmean, inv, s1, s2);
    for (; c < C; c++) /* the reference's operations, channel by channel */
        for (int64_t r = 0; r < rows; r++) {
            const int64_t e = r * C + c;
            if (kind == 0) {
                s1[c] += x[e];
            } else if (kind == 1) {
                const double d = (double)x[e] - dmean[c];
                s1[c] += d * d;
            } else {
                const float g = relu_y ? relu_grad1(relu_y[e], dy[e]) : dy[e];
                const double xh = ((double)x[e] - mean[c]) * inv[c];
                s1[c] += g;
                s2[c] += g * xh;
            }
        }
}

EW_ATTR static inline __attribute__((always_inline)) void
EW_NAME(sums)(int kind, const float *x, const float *dy, const float *relu_y, int64_t rows,
              int64_t C, const float *mean, const double *dmean, const float *inv, double *s1,
              double *s2)
{
    const int64_t tile = C < 256 ? 2048 / C : 8; /* about 8 KiB of each array */
    for (int64_t r = 0; r < rows; r += tile) {
        const int64_t o = r * C, h = rows - r < tile ? rows - r : tile;
        EW_NAME(sums_tile)
        (kind, x + o, dy ? dy + o : NULL, relu_y ? relu_y + o : NULL, h, C, mean, dmean, inv, s1,
         s2);
    }
}

EW_ATTR static void EW_NAME(sum)(const float *x, int64_t rows, int64_t C, double *s)
{
    EW_NAME(sums)(0, x, NULL, NULL, rows, C, NULL, NULL, NULL, s, NULL);
}

EW_ATTR static void EW_NAME(sum_sqdev)(const float *x, int64_t rows, int64_t C, const double *mean,
                                       double *s)
{
    EW_NAME(sums)(1, x, NULL, NULL, rows, C, NULL, mean, NULL, s, NULL);
}

EW_ATTR static void EW_NAME(sum_dy)(const float *x, const float *dy, const float *relu_y,
                                    int64_t rows, int64_t C, const float *mean, const float *inv,
                                    double *s1, double *s2)
{
    EW_NAME(sums)(2, x, dy, relu_y, rows, C, mean, NULL, inv, s1, s2);
}

EW_ATTR static void EW_NAME(bn_norm)(const float *x, float *y, int64_t rows, int64_t C,
                                     const float *mean, const float *inv, const float *gamma,
                                     const float *beta, const float *add, bool relu)
{
    const VF zero = {0}, one = zero + 1.0f;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C, *ar = add ? add + r * C : NULL;
        float *yr = y + r * C;
        int64_t c = 0;
        for (; c + EW_W <= C; c += EW_W) {
            const VF g = gamma ? LD(gamma + c) : one, b = beta ? LD(beta + c) : zero;
            VF v = (LD(xr + c) - LD(mean + c)) * LD(inv + c) * g + b;
            if (ar) v = v + LD(ar + c);
            if (relu) v = KEEP(v, v > zero);
            *(VFU *)(yr + c) = v;
        }
        for (; c < C; c++)
            yr[c] = norm1(xr[c], mean[c], inv[c], gamma ? gamma[c] : 1.0f, beta ? beta[c] : 0.0f,
                          ar, c, relu);
    }
}

EW_ATTR static void EW_NAME(bn_dx)(const float *x, const float *dy, const float *relu_y, float *dx,
                                   float *dskip, int64_t rows, int64_t C, const float *mean,
                                   const float *inv, const double *coef, double M,
                                   const double *sdy, const double *sdyx)
{
    const HF hzero = {0};
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * C;
        const float *yr = relu_y ? relu_y + o : NULL;
        int64_t c = 0;
        for (; c + HW <= C; c += HW) {
            const HF gf = GRADH(yr, dy + o, c);
            if (dskip) *(HFU *)(dskip + o + c) = gf;
            if (!dx) continue;
            const HD xh = (CVT(LDH(x + o + c)) - CVT(LDH(mean + c))) * CVT(LDH(inv + c));
            const HD v = LDD(coef + c) * (M * CVT(gf) - LDD(sdy + c) - xh * LDD(sdyx + c));
            *(HFU *)(dx + o + c) = NARROW(v);
        }
        for (; c < C; c++) {
            const float gf = yr ? relu_grad1(yr[c], dy[o + c]) : dy[o + c];
            if (dskip) dskip[o + c] = gf;
            if (dx) dx[o + c] = dx1(x[o + c], gf, mean[c], inv[c], coef[c], M, sdy[c], sdyx[c]);
        }
    }
}

#undef GRADH
#undef CVT
#undef NARROW
#undef LDD
#undef LDH
#undef HDU
#undef HD
#undef HI
#undef HFU
#undef HF
#undef HW
#undef KEEP
#undef LD
#undef VI
#undef VFU
#undef VF

static const fv__elt_ops EW_NAME(ops) = {
    .name = EW_PATH_NAME,
    .relu_forward = EW_NAME(relu_forward),
    .relu_backward = EW_NAME(relu_backward),
    .sum = EW_NAME(sum),
    .sum_sqdev = EW_NAME(sum_sqdev),
    .sum_dy = EW_NAME(sum_dy),
    .bn_norm = EW_NAME(bn_norm),
    .bn_dx = EW_NAME(bn_dx),
};
