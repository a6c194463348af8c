/* eltwise_body.h — the element-wise kernels of eltwise.h written once in GCC/Clang vectors of EW_W
 * floats, included by eltwise.c once per path with (it undefines them at its end):
 *   EW_W        floats per vector (4: portable; 8: AVX2; 16: AVX-512)
 *   EW_NAME(s)  the path's name for symbol s
 *   EW_ATTR     function attributes (the target instruction set)
 *   EW_REGS     vector registers of the target (16, or 32 with AVX-512)
 *   EW_CVT_WIDE (optional) the target's float → double conversion of a half vector
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
typedef double EW_NAME(hd) __attribute__((vector_size(4 * EW_W)));
typedef double EW_NAME(hdu) __attribute__((vector_size(4 * EW_W), aligned(8), may_alias));
#define HF     EW_NAME(hf)
#define HFU    EW_NAME(hfu)
#define HD     EW_NAME(hd)
#define HDU    EW_NAME(hdu)
#define LDH(p) ((HF) * (const HFU *)(p))
#define LDD(p) ((HD) * (const HDU *)(p))
/* Widening: EW_CVT_WIDE where the path defines it (GCC 12 splits __builtin_convertvector of 8
 * floats to 8 doubles into halves and reassembles them), else the generic conversion; the same
 * rounding either way. */
#ifdef EW_CVT_WIDE
#define CVT(v) ((HD)EW_CVT_WIDE(v))
#else
#define CVT(v) __builtin_convertvector((v), HD)
#endif

/* kind 0: s1 += Σ(x − m), s2 += Σ(x − m)²; 1: s1 += Σ(x − m)² — for channels [c0, c0 + nh·HW),
 * over all rows with the sums in registers (each channel still summed over the rows in order).
 * Inlined with kind and nh constants. */
EW_ATTR static inline __attribute__((always_inline)) void
EW_NAME(sums_block)(int kind, int nh, const float *x, int64_t rows, int64_t C, int64_t c0,
                    const double *dm, double *s1, double *s2)
{
    HD a[8], b[8], m[8];
#pragma GCC unroll 8
    for (int k = 0; k < nh; k++) {
        const int64_t c = c0 + k * HW;
        a[k] = LDD(s1 + c), m[k] = LDD(dm + c);
        if (kind == 0) b[k] = LDD(s2 + c);
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C + c0;
#pragma GCC unroll 8
        for (int k = 0; k < nh; k++) {
            const HD d = CVT(LDH(xr + k * HW)) - m[k];
            if (kind == 0) {
                a[k] += d;
                b[k] += d * d;
            } else {
                a[k] += d * d;
            }
        }
    }
#pragma GCC unroll 8
    for (int k = 0; k < nh; k++) {
        *(HDU *)(s1 + c0 + k * HW) = a[k];
        if (kind == 0) *(HDU *)(s2 + c0 + k * HW) = b[k];
    }
}

/* The sums of kind over rows [0, rows), on a tile of rows at a time: the channel blocks of a tile
 * read it from L1 (a block over all rows would stream the tensor once per block). Each channel is
 * still summed over the rows in order. */
EW_ATTR static inline __attribute__((always_inline)) void
EW_NAME(sums_tile)(int kind, const float *x, int64_t rows, int64_t C, const double *dm, double *s1,
                   double *s2)
{
    int64_t c = 0;
    /* Blocks of up to 8 half vectors while their registers fit the path's (EW_REGS): up to three
     * per half vector (the sums, the shift). */
    const int most = EW_REGS / 4;
    for (; most >= 8 && c + 8 * HW <= C; c += 8 * HW)
        EW_NAME(sums_block)(kind, 8, x, rows, C, c, dm, s1, s2);
    for (; most >= 4 && c + 4 * HW <= C; c += 4 * HW)
        EW_NAME(sums_block)(kind, 4, x, rows, C, c, dm, s1, s2);
    for (; c + 2 * HW <= C; c += 2 * HW)
        EW_NAME(sums_block)(kind, 2, x, rows, C, c, dm, s1, s2);
    for (; c + HW <= C; c += HW)
        EW_NAME(sums_block)(kind, 1, x, rows, C, c, dm, s1, s2);
    for (; c < C; c++) /* the reference's operations, channel by channel */
        for (int64_t r = 0; r < rows; r++) {
            const double d = (double)x[r * C + c] - dm[c];
            if (kind == 0) {
                s1[c] += d;
                s2[c] += d * d;
            } else {
                s1[c] += d * d;
            }
        }
}

EW_ATTR static inline __attribute__((always_inline)) void EW_NAME(sums)(int kind, const float *x,
                                                                        int64_t rows, int64_t C,
                                                                        const double *dm,
                                                                        double *s1, double *s2)
{
    const int64_t tile = C < 256 ? 2048 / C : 8; /* about 8 KiB of each array */
    for (int64_t r = 0; r < rows; r += tile)
        EW_NAME(sums_tile)(kind, x + r * C, rows - r < tile ? rows - r : tile, C, dm, s1, s2);
}

/* The halves of a float vector, as half vectors. */
#if EW_W == 4
#define LOHALF(v) __builtin_shufflevector((v), (v), 0, 1)
#define HIHALF(v) __builtin_shufflevector((v), (v), 2, 3)
#elif EW_W == 8
#define LOHALF(v) __builtin_shufflevector((v), (v), 0, 1, 2, 3)
#define HIHALF(v) __builtin_shufflevector((v), (v), 4, 5, 6, 7)
#else
#define LOHALF(v) __builtin_shufflevector((v), (v), 0, 1, 2, 3, 4, 5, 6, 7)
#define HIHALF(v) __builtin_shufflevector((v), (v), 8, 9, 10, 11, 12, 13, 14, 15)
#endif

/* sum_dy for channels [c0, c0 + nv·EW_W) over rows [0, rows), rows a whole number of blocks but
 * for the last: per block of FV_ELT_SUM_BLOCK rows, the sums in float vectors in registers, then
 * added to s1, s2 in double. Inlined with nv constant. */
EW_ATTR static inline __attribute__((always_inline)) void
EW_NAME(sumdy_block)(int nv, const float *x, const float *dy, const float *relu_y,
                     const fv__bn_relu *rx, float *gout, int64_t rows, int64_t C, int64_t c0,
                     const float *mean, const float *inv, double *s1, double *s2)
{
    const VF zero = {0}, one = zero + 1.0f;
    VF m[4], iv[4], gm[4], bt[4];
#pragma GCC unroll 4
    for (int k = 0; k < nv; k++) {
        const int64_t c = c0 + k * EW_W;
        m[k] = LD(mean + c), iv[k] = LD(inv + c);
        gm[k] = rx && rx->gamma ? LD(rx->gamma + c) : one;
        bt[k] = rx && rx->beta ? LD(rx->beta + c) : zero;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += FV_ELT_SUM_BLOCK) {
        const int64_t r1 = rows - r0 < FV_ELT_SUM_BLOCK ? rows : r0 + FV_ELT_SUM_BLOCK;
        VF a[4], b[4];
#pragma GCC unroll 4
        for (int k = 0; k < nv; k++)
            a[k] = zero, b[k] = zero;
        for (int64_t r = r0; r < r1; r++) {
#pragma GCC unroll 4
            for (int k = 0; k < nv; k++) {
                const int64_t e = r * C + c0 + k * EW_W;
                VF g = LD(dy + e);
                /* x̂ = (x − mean)·inv is bn_norm's first two operations: x̂·γ + β its value */
                const VF xh = (LD(x + e) - m[k]) * iv[k];
                if (relu_y)
                    g = KEEP(g, LD(relu_y + e) > zero);
                else if (rx)
                    g = KEEP(g, xh * gm[k] + bt[k] > zero);
                if (gout) *(VFU *)(gout + e) = g;
                a[k] += g;
                b[k] += g * xh;
            }
        }
#pragma GCC unroll 4
        for (int k = 0; k < nv; k++) {
            double *p1 = s1 + c0 + k * EW_W, *p2 = s2 + c0 + k * EW_W;
            *(HDU *)p1 = LDD(p1) + CVT(LOHALF(a[k]));
            *(HDU *)(p1 + HW) = LDD(p1 + HW) + CVT(HIHALF(a[k]));
            *(HDU *)p2 = LDD(p2) + CVT(LOHALF(b[k]));
            *(HDU *)(p2 + HW) = LDD(p2 + HW) + CVT(HIHALF(b[k]));
        }
    }
}

/* sum_dy over a tile of rows (a whole number of blocks but for the last) at a time, as sums. */
EW_ATTR static void EW_NAME(sum_dy)(const float *x, const float *dy, const float *relu_y,
                                    const fv__bn_relu *rx, float *gout, int64_t rows, int64_t C,
                                    const float *mean, const float *inv, double *s1, double *s2)
{
    /* about 8 KiB of each array, a whole number of blocks */
    const int64_t B = FV_ELT_SUM_BLOCK, tile = C < 2048 / B ? 2048 / C / B * B : B;
    for (int64_t r = 0; r < rows; r += tile) {
        const int64_t o = r * C, h = rows - r < tile ? rows - r : tile;
        const float *xt = x + o, *dt = dy + o, *yt = relu_y ? relu_y + o : NULL;
        float *gt = gout ? gout + o : NULL;
        int64_t c = 0;
        for (; EW_REGS >= 32 && c + 4 * EW_W <= C; c += 4 * EW_W)
            EW_NAME(sumdy_block)(4, xt, dt, yt, rx, gt, h, C, c, mean, inv, s1, s2);
        for (; c + 2 * EW_W <= C; c += 2 * EW_W)
            EW_NAME(sumdy_block)(2, xt, dt, yt, rx, gt, h, C, c, mean, inv, s1, s2);
        for (; c + EW_W <= C; c += EW_W)
            EW_NAME(sumdy_block)(1, xt, dt, yt, rx, gt, h, C, c, mean, inv, s1, s2);
        if (c < C) /* the reference's operations on the last channels */
            sum_dy_cols(xt, dt, yt, rx, gt, h, C, c, mean, inv, s1, s2);
    }
}

EW_ATTR static void EW_NAME(sum_sq)(const float *x, int64_t rows, int64_t C, const double *k,
                                    double *s1, double *s2)
{
    EW_NAME(sums)(0, x, rows, C, k, s1, s2);
}

EW_ATTR static void EW_NAME(sum_sqdev)(const float *x, int64_t rows, int64_t C, const double *mean,
                                       double *s)
{
    EW_NAME(sums)(1, x, rows, C, mean, s, NULL);
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
            VF v = (LD(xr + c) - LD(mean + c)) * LD(inv + c) * g + b; /* as fv__bn_relu's */
            if (ar) v = v + LD(ar + c);
            if (relu) v = KEEP(v, v > zero);
            *(VFU *)(yr + c) = v;
        }
        for (; c < C; c++)
            yr[c] = norm1(xr[c], mean[c], inv[c], gamma ? gamma[c] : 1.0f, beta ? beta[c] : 0.0f,
                          ar, c, relu);
    }
}

EW_ATTR static void EW_NAME(bn_dx)(const float *x, const float *dy, const float *relu_y,
                                   const fv__bn_relu *rx, float *dx, int64_t rows, int64_t C,
                                   const float *mean, const float *k)
{
    const VF zero = {0}, one = zero + 1.0f;
    const float *ka = k, *kb = k + C, *kd = k + 2 * C;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * C;
        int64_t c = 0;
        for (; c + EW_W <= C; c += EW_W) {
            VF g = LD(dy + o + c);
            const VF t = LD(x + o + c) - LD(mean + c);
            if (relu_y) {
                g = KEEP(g, LD(relu_y + o + c) > zero);
            } else if (rx) { /* bn_norm's value, (x − mean)·inv·γ + β */
                const VF gm = rx->gamma ? LD(rx->gamma + c) : one;
                const VF bt = rx->beta ? LD(rx->beta + c) : zero;
                g = KEEP(g, t * LD(rx->inv + c) * gm + bt > zero);
            }
            const VF v = LD(ka + c) * g + LD(kb + c) * t;
            *(VFU *)(dx + o + c) = v + LD(kd + c);
        }
        for (; c < C; c++) {
            const float g = relu_g1(relu_y, rx, o + c, c, x, dy, mean[c]);
            dx[o + c] = dx1(x[o + c], g, mean[c], ka[c], kb[c], kd[c]);
        }
    }
}

#undef LOHALF
#undef HIHALF
#undef CVT
#undef LDD
#undef LDH
#undef HDU
#undef HD
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
    .sum_sq = EW_NAME(sum_sq),
    .sum_sqdev = EW_NAME(sum_sqdev),
    .sum_dy = EW_NAME(sum_dy),
    .bn_norm = EW_NAME(bn_norm),
    .bn_dx = EW_NAME(bn_dx),
};

/* this instance's parameters, set by the file that includes it */
#undef EW_CVT_WIDE
#undef EW_W
#undef EW_REGS
#undef EW_NAME
#undef EW_ATTR
#undef EW_PATH_NAME
