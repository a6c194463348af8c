/* winograd.c — Winograd F(2×2, 3×3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional
 * Neural Networks", CVPR 2016) for 3×3 kernels at stride 1: 16 multiplies per 2×2 outputs and
 * channel pair where the direct convolution takes 36. Input tiles transformed in blocks that stay
 * in L2, one GEMM per transformed position, the output transform with bias, ReLU or the add in its
 * epilogue. Inner loops: winograd_tile.h, for AVX-512, AVX2 + FMA or portable C.
 */
#include "kernels/conv_internal.h"
#include "kernels/winograd_transform.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#define FV_WG_X86 1
#endif

/* One image's geometry and the scratch's parts. Tiles t = ty·tw + tx cover the output in 2×2
 * pixels, th × tw of them; a block holds TB tiles' transformed inputs and GEMM outputs. */
typedef struct wgeo {
    int64_t in_h, in_w, C, Cv, F, Fp, out_h, out_w, pad_top, pad_left;
    int64_t th, tw, T, TB;
    const float *bias; /* Fp floats: the bias, zeros past F (or all zeros) */
} wgeo;

typedef float wv8 __attribute__((vector_size(32)));
typedef float wv8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t wv8i __attribute__((vector_size(32)));
typedef float wv16 __attribute__((vector_size(64)));
typedef float wv16u __attribute__((vector_size(64), aligned(4), may_alias));
typedef int32_t wv16i __attribute__((vector_size(64)));

/* o[2a + b] ← (A^T M A)[a][b] for M[4i + j], A^T = [1 1 1 0; 0 1 −1 −1] (the paper's). */
#define WG_ATMA(m, o)                                                                              \
    do {                                                                                           \
        __typeof__((m)[0]) s_[8];                                                                  \
        _Pragma("GCC unroll 4") for (int j_ = 0; j_ < 4; j_++)                                     \
        {                                                                                          \
            s_[j_] = (m)[j_] + (m)[4 + j_] + (m)[8 + j_];                                          \
            s_[4 + j_] = (m)[4 + j_] - (m)[8 + j_] - (m)[12 + j_];                                 \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int a_ = 0; a_ < 2; a_++)                                     \
        {                                                                                          \
            (o)[2 * a_] = s_[4 * a_] + s_[4 * a_ + 1] + s_[4 * a_ + 2];                            \
            (o)[2 * a_ + 1] = s_[4 * a_ + 1] - s_[4 * a_ + 2] - s_[4 * a_ + 3];                    \
        }                                                                                          \
    } while (0)

/* The runs of the 16-channel path (WT_NAME(runs16)): 24 tiles, one register tile of AVX-512's
 * 24 × 16 (four of AVX2's 6 × 16) per position. */
enum { WG_RUN = 24 };

/* The cache lines of y [out_h, out_w, F] up to the last output row of the tiles of run k (runs of
 * R tiles): what the runs prefetch before they write them. */
static int64_t wg_run_lines(const wgeo *G, int64_t R, int64_t k)
{
    const int64_t e = (k + 1) * R < G->T ? (k + 1) * R : G->T;
    const int64_t r1 = 2 * ((e - 1) / G->tw) + 2;
    return fv__pf_lines((r1 < G->out_h ? r1 : G->out_h) * G->out_w * G->F);
}

#define WT_V  wv8
#define WT_VU wv8u
#define WT_VI wv8i
#define WT_W  8
#define WT_SPLAT(x)                                                                                \
    __extension__({                                                                                \
        const float s_ = (x);                                                                      \
        (wv8){s_, s_, s_, s_, s_, s_, s_, s_};                                                     \
    })
#define WT_NAME(s) wg_generic_##s
#define WT_ATTR
#include "kernels/winograd_tile.h"
#undef WT_NAME
#undef WT_ATTR
#if defined(FV_WG_X86)
#define WT_NAME(s) wg_avx2_##s
#define WT_ATTR    __attribute__((target("avx2,fma")))
#include "kernels/winograd_tile.h"
#undef WT_NAME
#undef WT_ATTR
#endif
#undef WT_V
#undef WT_VU
#undef WT_VI
#undef WT_W
#undef WT_SPLAT

#if defined(FV_WG_X86)
/* AVX-512: 16-wide, tiles of 6 × 64, 8 × 48, 12 × 32 and 14 × 16 filters; the same code compiled
 * for AVX2 ("wide": each vector two ymm) tests its logic on AVX2 machines. */
#define WT_V  wv16
#define WT_VU wv16u
#define WT_VI wv16i
#define WT_W  16
#define WT_SPLAT(x)                                                                                \
    __extension__({                                                                                \
        const float s_ = (x);                                                                      \
        (wv16){s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_};                    \
    })
#define WT_NAME(s) wg_avx512_##s
#define WT_ATTR    __attribute__((target("avx512f,avx512vl,avx2,fma")))
#include "kernels/winograd_tile.h"
#undef WT_NAME
#undef WT_ATTR
#define WT_NAME(s) wg_wide_##s
#define WT_ATTR    __attribute__((target("avx2,fma")))
#include "kernels/winograd_tile.h"
#undef WT_NAME
#undef WT_ATTR
#undef WT_V
#undef WT_VU
#undef WT_VI
#undef WT_W
#undef WT_SPLAT
#endif

typedef struct wg_fns {
    void (*in_transform)(const wgeo *G, const float *x, int64_t t0, int64_t nt, float *V);
    void (*gemm)(const wgeo *G, const float *V, const float *U, float *M, int64_t nt);
    void (*out_transform)(const wgeo *G, const float *M, int64_t t0, int64_t nt, float *y,
                          bool relu, bool add);
    void (*runs16)(const wgeo *G, const float *x, const float *U, float *buf, float *y, bool relu,
                   bool add, const float *next, int64_t lines);
} wg_fns;

static const wg_fns wg_generic = {wg_generic_in_transform, wg_generic_gemm,
                                  wg_generic_out_transform, wg_generic_runs16};
#if defined(FV_WG_X86)
static const wg_fns wg_avx2 = {wg_avx2_in_transform, wg_avx2_gemm, wg_avx2_out_transform,
                               wg_avx2_runs16};
static const wg_fns wg_avx512 = {wg_avx512_in_transform, wg_avx512_gemm, wg_avx512_out_transform,
                                 wg_avx512_runs16};
static const wg_fns wg_wide = {wg_wide_in_transform, wg_wide_gemm, wg_wide_out_transform,
                               wg_wide_runs16};
#endif

/* Set by fv__conv_winograd_force_blocks (tests): the 16-channel images in blocks too. */
static bool wg_blocks_forced;

void fv__conv_winograd_force_blocks(bool on)
{
    __atomic_store_n(&wg_blocks_forced, on, __ATOMIC_RELAXED);
}

/* The direct convolution's run-time path (fv__conv_path_now: FOVEA_KERNELS, fv_set_kernel_path
 * and the tests' forcing included) picks the instance. */
static const wg_fns *wg_fns_now(void)
{
#if defined(FV_WG_X86)
    switch (fv__conv_path_now()) {
    case FV__GEMM_AVX512:
        return &wg_avx512;
    case FV__GEMM_AVX2:
        return &wg_avx2;
    case FV__GEMM_WIDE_ON_AVX2:
        return &wg_wide;
    default:
        break;
    }
#endif
    return &wg_generic;
}

static int64_t round16(int64_t v)
{
    return (v + 15) & ~(int64_t)15;
}

/* The transformed inputs and GEMM outputs of a block take at most this many floats (256 KiB, in
 * L2 with the transformed kernel beside them). Measured on Zen 5 (bench/bench_winograd.c, the
 * 28×28 16-channel layer, hot, against 64 Ki): 8 Ki floats 0.90× as fast, 16 Ki 0.93-0.98×,
 * 32 Ki 0.95×, 128 Ki (the whole image) 1.02×; in a training step of the ResNet example 64 Ki to
 * 256 Ki were within its noise and 8 Ki 15% slower. Each block pays 16 GEMM calls, each with its
 * tiles' set-up and its remainder of rows, which small blocks cannot amortise. */
enum { WG_BLOCK_FLOATS = 1 << 16 };

static void wgeo_init(const fv_conv_geom *g, wgeo *G)
{
    memset(G, 0, sizeof *G);
    G->in_h = g->in_h, G->in_w = g->in_w, G->C = g->in_c, G->Cv = round16(g->in_c);
    G->F = g->out_c, G->Fp = round16(g->out_c), G->out_h = g->out_h, G->out_w = g->out_w;
    G->pad_top = g->pad_top, G->pad_left = g->pad_left;
    G->th = (g->out_h + 1) / 2, G->tw = (g->out_w + 1) / 2, G->T = G->th * G->tw;
    /* as many tiles as fit the budget (at least 16), then the blocks evened out */
    int64_t tb = WG_BLOCK_FLOATS / (16 * (G->Cv + G->Fp));
    if (tb < 16) tb = 16;
    const int64_t nb = (G->T + tb - 1) / tb;
    G->TB = (G->T + nb - 1) / nb;
}

bool fv_conv_winograd_applies(const fv_conv_geom *g)
{
    return fv__conv_winograd_computes(g) && g->in_c >= 16 && g->out_c >= 16;
}

bool fv__conv_winograd_computes(const fv_conv_geom *g)
{
    return g->k_h == 3 && g->k_w == 3 && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 &&
           g->dil_w == 1 && g->pad_top >= 0 && g->pad_left >= 0 && g->in_h > 0 && g->in_w > 0 &&
           g->in_c > 0 && g->out_h > 0 && g->out_w > 0 && g->out_c > 0;
}

int64_t fv_conv_winograd_pack_floats(const fv_conv_geom *g)
{
    return 16 * g->in_c * round16(g->out_c);
}

/* U = G k Gᵀ of the 3×3 kernels k[t] (t = 3·kh + kw, each a lane of T) into o[4i + j], with
 * G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1] (the paper's): along kh, then along kw, each (k0 + k2) first,
 * then ± k1, then the exact halving. */
#define WG_GKGT(T, k, o)                                                                           \
    do {                                                                                           \
        T gk_[12];                                                                                 \
        for (int b_ = 0; b_ < 3; b_++) {                                                           \
            const T t_ = (k)[b_] + (k)[6 + b_];                                                    \
            gk_[b_] = (k)[b_];                                                                     \
            gk_[3 + b_] = (t_ + (k)[3 + b_]) * 0.5f;                                               \
            gk_[6 + b_] = (t_ - (k)[3 + b_]) * 0.5f;                                               \
            gk_[9 + b_] = (k)[6 + b_];                                                             \
        }                                                                                          \
        for (int i_ = 0; i_ < 4; i_++) {                                                           \
            const T t_ = gk_[3 * i_] + gk_[3 * i_ + 2];                                            \
            (o)[4 * i_] = gk_[3 * i_];                                                             \
            (o)[4 * i_ + 1] = (t_ + gk_[3 * i_ + 1]) * 0.5f;                                       \
            (o)[4 * i_ + 2] = (t_ - gk_[3 * i_ + 1]) * 0.5f;                                       \
            (o)[4 * i_ + 3] = gk_[3 * i_ + 2];                                                     \
        }                                                                                          \
    } while (0)

void fv_conv_winograd_pack(const fv_conv_geom *g, const float *w, float *u)
{
    const int64_t C = g->in_c, F = g->out_c, Fp = round16(F);
    for (int64_t c = 0; c < C; c++) {
        const float *k[9];
        float *o[16];
        for (int t = 0; t < 9; t++)
            k[t] = w + (t * C + c) * F;
        for (int p = 0; p < 16; p++)
            o[p] = u + (p * C + c) * Fp;
        int64_t f = 0;
        for (; f + 8 <= F; f += 8) { /* 8 filters a vector: the same operations lane by lane */
            wv8 kv[9], ov[16];
            for (int t = 0; t < 9; t++)
                kv[t] = *(const wv8u *)(k[t] + f);
            WG_GKGT(wv8, kv, ov);
            for (int p = 0; p < 16; p++)
                *(wv8u *)(o[p] + f) = ov[p];
        }
        for (; f < F; f++) {
            float ks[9], os[16];
            for (int t = 0; t < 9; t++)
                ks[t] = k[t][f];
            WG_GKGT(float, ks, os);
            for (int p = 0; p < 16; p++)
                o[p][f] = os[p];
        }
        for (; f < Fp; f++)
            for (int p = 0; p < 16; p++)
                o[p][f] = 0.0f;
    }
}

int64_t fv_conv_winograd_scratch_floats(const fv_conv_geom *g)
{
    wgeo G;
    wgeo_init(g, &G);
    const int64_t blocks = 16 * G.TB * (G.Cv + G.Fp),
                  runs = 16 * (G.T < WG_RUN ? G.T : WG_RUN) * 16;
    /* 16 channels: the runs' buffer, or the blocks' where a test forces them */
    return G.Fp + (G.Cv == 16 && G.Fp == 16 && runs > blocks ? runs : blocks);
}

double fv_conv_winograd_flop(const fv_conv_geom *g)
{
    const double T = (double)(((g->out_h + 1) / 2) * ((g->out_w + 1) / 2));
    return T * (32.0 * (double)g->in_c * (double)g->out_c + 32.0 * (double)g->in_c +
                24.0 * (double)g->out_c);
}

/* fv_conv2d_forward_winograd, or with add fv_conv2d_forward_winograd_add. */
static void wg_forward(const fv_conv_geom *g, const float *x, const float *u, const float *b,
                       bool relu, bool add, float *y, float *scratch, const float *next,
                       int64_t next_floats)
{
    wgeo G;
    wgeo_init(g, &G);
    const wg_fns *fn = wg_fns_now();
    float *bias = scratch, *V = bias + G.Fp, *M = V + 16 * G.TB * G.Cv;
    for (int64_t f = 0; f < G.Fp; f++)
        bias[f] = b && f < G.F ? b[f] : 0.0f;
    G.bias = bias;
    const int64_t nb = (G.T + G.TB - 1) / G.TB, steps = nb * 16;
    const int64_t lines = next && next_floats > 0 ? fv__pf_lines(next_floats) : 0;
    if (G.Cv == 16 && G.Fp == 16 && !__atomic_load_n(&wg_blocks_forced, __ATOMIC_RELAXED)) {
        fn->runs16(&G, x, u, V, y, relu, add, next, lines); /* in L1, run by run */
        return;
    }
    const int64_t us = G.C * G.Fp, vs = G.TB * G.Cv, ms = G.TB * G.Fp;
    for (int64_t k = 0; k < nb; k++) {
        const int64_t t0 = k * G.TB, nt = G.T - t0 < G.TB ? G.T - t0 : G.TB;
        fn->in_transform(&G, x, t0, nt, V);
        /* with add: the block's output rows, read by the epilogue and out of cache in a training
         * step (another reader's gradient), prefetched a sixteenth a position */
        const int64_t r0 = 2 * (t0 / G.tw), r1 = 2 * ((t0 + nt - 1) / G.tw) + 2;
        const float *ya = y + r0 * G.out_w * G.F;
        const int64_t ylines =
            add ? fv__pf_lines(((r1 < G.out_h ? r1 : G.out_h) - r0) * G.out_w * G.F) : 0;
        for (int p = 0; p < 16; p++) {
            if (lines) fv__pf_share(next, lines, k * 16 + p, steps);
            for (int64_t l = p * ylines / 16, e = (p + 1) * ylines / 16; l < e; l++)
                __builtin_prefetch((const char *)ya + 64 * l, 1, 3);
            fn->gemm(&G, V + p * vs, u + p * us, M + p * ms, nt);
        }
        fn->out_transform(&G, M, t0, nt, y, relu, add);
    }
}

void fv_conv2d_forward_winograd(const fv_conv_geom *g, const float *x, const float *u,
                                const float *b, bool relu, float *y, float *scratch,
                                const float *next, int64_t next_floats)
{
    wg_forward(g, x, u, b, relu, false, y, scratch, next, next_floats);
}

void fv_conv2d_forward_winograd_add(const fv_conv_geom *g, const float *x, const float *u, float *y,
                                    float *scratch, const float *next, int64_t next_floats)
{
    wg_forward(g, x, u, NULL, false, true, y, scratch, next, next_floats);
}
