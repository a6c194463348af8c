/* winograd_dw.c — the weight gradient of a 3×3, stride-1 convolution by Winograd's F(2×2, 3×3)
 * (Lavin & Gray, CVPR 2016): 16 GEMMs over the transformed tiles instead of 9 over the pixels,
 * 2.25× fewer multiplies. Loops: winograd_dw_tile.h, for AVX-512, AVX2 + FMA or portable C.
 */
#include "kernels/conv_internal.h"
#include "kernels/kernels.h"
#include "kernels/winograd_transform.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#define FV_WD_X86 1
#endif

/* ---- the transforms, for any type with + and − (floats, or vectors of them) ------------------
 * Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], A = [1 0; 1 1; 1 −1; 0 −1] (= (Aᵀ)ᵀ),
 * G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]; arrays row-major, 4×4 as ξ = 4i + j. */

/* o[8] ← A y (4×2, row-major), y[4] the 2×2 output gradient: the GEMMs form A y Aᵀ from it, its
 * rows [p, q] becoming [p, p + q, p − q, −q]. */
#define WD_AY(y, o)                                                                                \
    do {                                                                                           \
        (o)[0] = (y)[0], (o)[1] = (y)[1];                                                          \
        (o)[2] = (y)[0] + (y)[2], (o)[3] = (y)[1] + (y)[3];                                        \
        (o)[4] = (y)[0] - (y)[2], (o)[5] = (y)[1] - (y)[3];                                        \
        (o)[6] = -(y)[2], (o)[7] = -(y)[3];                                                        \
    } while (0)

/* o[9] ← Gᵀ u G, u[16]: each 4-vector [u0, u1, u2, u3] becomes [u0 + ½(u1+u2), ½(u1−u2),
 * ½(u1+u2) + u3], first along rows, then along columns (the halvings are exact). */
#define WD_GTUG(u, o)                                                                              \
    do {                                                                                           \
        __typeof__((u)[0]) h_[12];                                                                 \
        _Pragma("GCC unroll 4") for (int i_ = 0; i_ < 4; i_++)                                     \
        {                                                                                          \
            const __typeof__((u)[0]) s_ = 0.5f * ((u)[4 * i_ + 1] + (u)[4 * i_ + 2]);              \
            h_[3 * i_] = (u)[4 * i_] + s_;                                                         \
            h_[3 * i_ + 1] = 0.5f * ((u)[4 * i_ + 1] - (u)[4 * i_ + 2]);                           \
            h_[3 * i_ + 2] = s_ + (u)[4 * i_ + 3];                                                 \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int j_ = 0; j_ < 3; j_++)                                     \
        {                                                                                          \
            const __typeof__((u)[0]) s_ = 0.5f * (h_[3 + j_] + h_[6 + j_]);                        \
            (o)[j_] = h_[j_] + s_;                                                                 \
            (o)[3 + j_] = 0.5f * (h_[3 + j_] - h_[6 + j_]);                                        \
            (o)[6 + j_] = s_ + h_[9 + j_];                                                         \
        }                                                                                          \
    } while (0)

/* ---- layout ---------------------------------------------------------------------------------- */

/* The scratch (offsets in floats, each a multiple of 16): du [16][C × ldm] the transformed
 * gradient; v [16][tb × C] and m [8][tb × ldm] one block of tb tiles transformed (m: A dY, half of
 * the gradient's transform), the planes uxs, vxs and mxs floats apart (an odd number of 64-byte
 * lines: the transforms write 16 streams at once, which a multiple of 4 KiB would put in one set of
 * L1's). */
typedef struct wdl {
    int64_t th, tw;          /* tiles of 2×2 outputs down and across an image */
    int64_t ldm, tb;         /* out_c rounded up to 16; tiles per block (whole rows) */
    int64_t uxs, vxs, mxs;   /* the planes' strides */
    int64_t du, v, m, total; /* offsets; the scratch's floats */
} wdl;

/* The floats of one plane of a block (16 KiB and a line: an odd number of lines), where it
 * holds tb tiles' in_c and out_c: the 32 planes of v and m (512 KiB) stay in a core's L2 (1 MiB
 * on Zen 4 and 5, 2 MiB on Intel's), and the planes' offsets are constants in the transforms. */
enum { WD_PLANE = 4096 + 16 };

/* The planes of one row of tiles at 16 channels and 16 filters (WD_NAME(rows16)): 16 tiles of
 * 16 floats and a line, 17 lines. */
enum { WD_ROW16 = 16 * 16 + 16 };

static int64_t r16(int64_t v)
{
    return (v + 15) & ~(int64_t)15;
}

/* v rounded up to an odd number of 16 floats. */
static int64_t odd16(int64_t v)
{
    v = r16(v);
    return (v / 16) % 2 ? v : v + 16;
}

static void layout_of(const fv_conv_geom *g, int64_t n, wdl *L)
{
    const int64_t C = g->in_c;
    L->th = (g->out_h + 1) / 2, L->tw = (g->out_w + 1) / 2;
    L->ldm = r16(g->out_c);
    /* whole rows of tiles per block: as many as a plane holds, at least one */
    const int64_t row = L->tw * (C > L->ldm ? C : L->ldm);
    int64_t rb = row > 0 ? WD_PLANE / row : 1;
    if (rb < 1) rb = 1;
    if (rb > n * L->th) rb = n * L->th;
    L->tb = rb * L->tw;
    L->uxs = odd16(C * L->ldm);
    L->vxs = L->tb * C <= WD_PLANE ? WD_PLANE : odd16(L->tb * C);
    L->mxs = L->tb * L->ldm <= WD_PLANE ? WD_PLANE : odd16(L->tb * L->ldm);
    int64_t o = 0;
    L->du = o, o += 16 * L->uxs;
    L->v = o, o += 16 * L->vxs;
    L->m = o, o += 8 * L->mxs;
    L->total = o;
}

/* ---- the instruction sets ------------------------------------------------------------------- */

typedef float wv8 __attribute__((vector_size(32)));
typedef float wv8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef float wv16 __attribute__((vector_size(64)));
typedef float wv16u __attribute__((vector_size(64), aligned(4), may_alias));

#define WD_V       wv8
#define WD_VU      wv8u
#define WD_W       8
#define WD_NAME(s) generic_##s
#define WD_ATTR
#include "kernels/winograd_dw_tile.h"
#undef WD_NAME
#undef WD_ATTR

#if defined(FV_WD_X86)
#define WD_NAME(s) avx2_##s
#define WD_ATTR    __attribute__((target("avx2,fma")))
#include "kernels/winograd_dw_tile.h"
#undef WD_NAME
#undef WD_ATTR
#undef WD_V
#undef WD_VU
#undef WD_W

/* AVX-512: 16-wide vectors; the same code compiled for AVX2 ("wide": each vector two ymm) tests
 * its tiles on AVX2 machines. */
#define WD_V       wv16
#define WD_VU      wv16u
#define WD_W       16
#define WD_NAME(s) avx512_##s
#define WD_ATTR    __attribute__((target("avx512f,avx512vl,avx2,fma")))
#include "kernels/winograd_dw_tile.h"
#undef WD_NAME
#undef WD_ATTR
#define WD_NAME(s) wide_##s
#define WD_ATTR    __attribute__((target("avx2,fma")))
#include "kernels/winograd_dw_tile.h"
#undef WD_NAME
#undef WD_ATTR
#endif
#undef WD_V
#undef WD_VU
#undef WD_W

/* ---- the interface ------------------------------------------------------------------------- */

/* Set by fv__conv_dw_wino_force_blocks (tests): the 16-channel rows in blocks too. */
static bool wd_blocks_forced;

void fv__conv_dw_wino_force_blocks(bool on)
{
    __atomic_store_n(&wd_blocks_forced, on, __ATOMIC_RELAXED);
}

bool fv_conv_dw_wino_applies(const fv_conv_geom *g)
{
    return g->k_h == 3 && g->k_w == 3 && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 &&
           g->dil_w == 1 && g->in_c > 0 && g->out_c > 0 && g->out_h > 0 && g->out_w > 0;
}

int64_t fv_conv_dw_wino_scratch_floats(const fv_conv_geom *g, int64_t n)
{
    wdl L;
    layout_of(g, n, &L);
    return L.total;
}

void fv_conv_dw_wino_images(const fv_conv_geom *g, int64_t n, const float *x, const float *dz,
                            float *dw, float *scratch)
{
    if (n <= 0) return;
    wdl L;
    layout_of(g, n, &L);
    /* 16 channels and filters, rows of at most 16 tiles: row by row in L1 (unless forced) */
    const bool r16 = g->in_c == 16 && L.ldm == 16 && g->out_c == 16 && L.tw * 16 <= WD_ROW16 - 16 &&
                     !__atomic_load_n(&wd_blocks_forced, __ATOMIC_RELAXED);
    switch (fv__conv_path_now()) {
#if defined(FV_WD_X86)
    case FV__GEMM_AVX512:
        avx512_run(g, &L, n, x, dz, dw, scratch, r16);
        return;
    case FV__GEMM_AVX2:
        avx2_run(g, &L, n, x, dz, dw, scratch, r16);
        return;
    case FV__GEMM_WIDE_ON_AVX2:
        wide_run(g, &L, n, x, dz, dw, scratch, r16);
        return;
#endif
    default:
        generic_run(g, &L, n, x, dz, dw, scratch, r16);
    }
}
