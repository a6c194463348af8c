/* eltwise_body.h — the element-wise kernels of eltwise.h written once in GCC/Clang vectors of EW_W
 * floats, included by eltwise.c once per path with:
 *   EW_W        floats per vector (4: portable; 16: AVX-512)
 *   EW_NAME(s)  the path's name for symbol s
 *   EW_ATTR     function attributes (the target instruction set)
 * Each vector lane does the reference's operations in its order; the columns past the last whole
 * vector of a row go through the reference's scalar helpers (eltwise.c).
 */

typedef float EW_NAME(vf) __attribute__((vector_size(4 * EW_W)));
typedef float EW_NAME(vfu) __attribute__((vector_size(4 * EW_W), aligned(4), may_alias));
typedef int32_t EW_NAME(vi) __attribute__((vector_size(4 * EW_W)));
typedef double EW_NAME(vd) __attribute__((vector_size(8 * EW_W)));
typedef double EW_NAME(vdu) __attribute__((vector_size(8 * EW_W), aligned(8), may_alias));

#define VF    EW_NAME(vf)
#define VFU   EW_NAME(vfu)
#define VI    EW_NAME(vi)
#define VD    EW_NAME(vd)
#define VDU   EW_NAME(vdu)
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

EW_ATTR static void EW_NAME(sum)(const float *x, int64_t rows, int64_t C, double *s)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        int64_t c = 0;
        for (; c + EW_W <= C; c += EW_W)
            *(VDU *)(s + c) += __builtin_convertvector(LD(xr + c), VD);
        for (; c < C; c++)
            s[c] += xr[c];
    }
}

EW_ATTR static void EW_NAME(sum_sqdev)(const float *x, int64_t rows, int64_t C, const float *mean,
                                       double *s)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        int64_t c = 0;
        for (; c + EW_W <= C; c += EW_W) {
            const VD d =
                __builtin_convertvector(LD(xr + c), VD) - __builtin_convertvector(LD(mean + c), VD);
            *(VDU *)(s + c) += d * d;
        }
        for (; c < C; c++) {
            const double d = (double)xr[c] - mean[c];
            s[c] += d * d;
        }
    }
}

/* The gradient reaching BatchNormalization's output: dy, or dy through the ReLU after it. */
#define GRAD(ry, dy, c) ((ry) ? KEEP(LD((dy) + (c)), LD((ry) + (c)) > zero) : LD((dy) + (c)))

EW_ATTR static void EW_NAME(sum_dy)(const float *x, const float *dy, const float *relu_y,
                                    int64_t rows, int64_t C, const float *mean, const float *inv,
                                    double *s1, double *s2)
{
    const VF zero = {0};
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C, *gr = dy + r * C, *yr = relu_y ? relu_y + r * C : NULL;
        int64_t c = 0;
        for (; c + EW_W <= C; c += EW_W) {
            const VD g = __builtin_convertvector(GRAD(yr, gr, c), VD);
            const VD xh = (__builtin_convertvector(LD(xr + c), VD) -
                           __builtin_convertvector(LD(mean + c), VD)) *
                          __builtin_convertvector(LD(inv + c), VD);
            *(VDU *)(s1 + c) += g;
            *(VDU *)(s2 + c) += g * xh;
        }
        for (; c < C; c++) {
            const float g = yr ? relu_grad1(yr[c], gr[c]) : gr[c];
            const double xh = ((double)xr[c] - mean[c]) * inv[c];
            s1[c] += g;
            s2[c] += g * xh;
        }
    }
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
    const VF zero = {0};
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * C;
        const float *yr = relu_y ? relu_y + o : NULL;
        int64_t c = 0;
        for (; c + EW_W <= C; c += EW_W) {
            const VF gf = GRAD(yr, dy + o, c);
            if (dskip) *(VFU *)(dskip + o + c) = gf;
            if (!dx) continue;
            const VD d = __builtin_convertvector(gf, VD);
            const VD xh = (__builtin_convertvector(LD(x + o + c), VD) -
                           __builtin_convertvector(LD(mean + c), VD)) *
                          __builtin_convertvector(LD(inv + c), VD);
            const VD v =
                (VD) * (const VDU *)(coef + c) *
                (M * d - (VD) * (const VDU *)(sdy + c) - xh * (VD) * (const VDU *)(sdyx + c));
            *(VFU *)(dx + o + c) = __builtin_convertvector(v, VF);
        }
        for (; c < C; c++) {
            const float gf = yr ? relu_grad1(yr[c], dy[o + c]) : dy[o + c];
            if (dskip) dskip[o + c] = gf;
            if (dx) dx[o + c] = dx1(x[o + c], gf, mean[c], inv[c], coef[c], M, sdy[c], sdyx[c]);
        }
    }
}

#undef GRAD
#undef KEEP
#undef LD
#undef VDU
#undef VD
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
