/* conv_fast.c — the convolution the layers use: implicit GEMM (no im2col) with the weights packed
 * once per batch and bias + ReLU applied in the tile's epilogue; a backward pass that applies the
 * ReLU mask itself and, when most of the output gradient is exactly zero (as behind a max-pool),
 * computes the weight and input gradients from the nonzero entries only. Same results as the
 * reference up to summation order. Inner loops: conv_tile.h, for AVX-512, AVX2 + FMA or
 * portable C.
 */
#include "kernels/bf16.h"
#include "kernels/conv_internal.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#define FV_CONV_X86 1
#include <immintrin.h>
#endif

/* The loops over one window, on the zero-padded input (so no tap is ever outside). */
typedef struct cgeo {
    int64_t Hp, Wp, C, F, P, out_w, s_h, s_w;
    int64_t nh, hstep, nw, wstep, nc; /* taps: kh < nh (step hstep), kw < nw (wstep), c < nc */
    int64_t K, nseg, seglen;          /* segment s = kh·nw + kw: nc contiguous floats */
    int64_t pad_top, pad_left;
    bool padded;
    /* Lines to prefetch while the forward tiles run (pf NULL: none): the next image's input,
     * pf_lines cache lines of 64 bytes from pf, spread over the tiles (pf_part). */
    const char *pf;
    int64_t pf_lines;
    bool add; /* the forward tiles add their outputs to y (fv_conv2d_forward_add) */
} cgeo;

typedef float cv8 __attribute__((vector_size(32)));
typedef float cv8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t cv8i __attribute__((vector_size(32)));
typedef float cv16 __attribute__((vector_size(64)));
typedef float cv16u __attribute__((vector_size(64), aligned(4), may_alias));
typedef int32_t cv16i __attribute__((vector_size(64)));

static int64_t seg_off(const cgeo *G, int64_t s)
{
    return (s / G->nw) * G->hstep + (s % G->nw) * G->wstep;
}

/* Offset of tap k = (kh, kw, c) from a window's origin. */
static int64_t tap_off(const cgeo *G, int64_t k)
{
    return seg_off(G, k / G->seglen) + k % G->seglen;
}

/* Prefetches into L2 the share t of nt of G->pf's lines (nothing where pf is NULL). A tile of the
 * forward takes 100-2,000 cycles; a share of a few lines each leaves the misses of the next
 * image's input to overlap the FMAs, where its padded copy (pad_copy) would wait for them. */
static inline __attribute__((always_inline)) void pf_part(const cgeo *G, int64_t t, int64_t nt)
{
    if (G->pf) fv__pf_share(G->pf, G->pf_lines, t, nt);
}

/* With G->add (fv_conv2d_forward_add), prefetches for writing the outputs of the tile after the
 * one of pixels [p0, p0 + mr) at c (where there is one: rows of mr pixels, ld floats apart, n
 * floats from c each): the epilogue reads them to add, and y is out of cache in a training step
 * (another reader's gradient, written layers before); one tile ahead is a few hundred FMAs,
 * longer than a miss. */
static inline __attribute__((always_inline)) void pf_out(const cgeo *G, const float *c, int64_t p0,
                                                         int64_t mr, int64_t ld, int64_t n)
{
    if (!G->add || p0 + mr >= G->P) return;
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < n; j += 16)
            __builtin_prefetch(c + (mr + i) * ld + j, 1, 3);
}

#define CT_SPLAT8(x)                                                                               \
    __extension__({                                                                                \
        const float s_ = (x);                                                                      \
        (cv8){s_, s_, s_, s_, s_, s_, s_, s_};                                                     \
    })
#define CT_SPLAT16(x)                                                                              \
    __extension__({                                                                                \
        const float s_ = (x);                                                                      \
        (cv16){s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_};                    \
    })

#define CT_V        cv8
#define CT_VU       cv8u
#define CT_VI       cv8i
#define CT_W        8
#define CT_SPLAT(x) CT_SPLAT8(x)
#define CT_NAME(s)  generic_##s
#define CT_ATTR
#define CT_DW_NV 1
#include "kernels/conv_tile.h"
#undef CT_NAME
#undef CT_ATTR
#undef CT_DW_NV

#if defined(FV_CONV_X86)
#define CT_NAME(s) avx2_##s
#define CT_ATTR    __attribute__((target("avx2,fma")))
#define CT_DW_NV   2
#include "kernels/conv_tile.h"
#undef CT_NAME
#undef CT_ATTR
#undef CT_DW_NV
#undef CT_V
#undef CT_VU
#undef CT_VI
#undef CT_W
#undef CT_SPLAT

/* AVX-512: 16-wide vectors, tiles of 6 × 64 and 12 × 32 filters (conv_tile.h). The same code
 * compiled for AVX2 ("wide" path: each vector two ymm) tests its logic on AVX2 machines. */
#define CT_V        cv16
#define CT_VU       cv16u
#define CT_VI       cv16i
#define CT_W        16
#define CT_SPLAT(x) CT_SPLAT16(x)
#define CT_GATHER8  avx2_gather_runs
#define CT_NAME(s)  avx512_##s
#define CT_ATTR     __attribute__((target("avx512f,avx512vl,avx2,fma")))
#include "kernels/conv_tile.h"
#undef CT_NAME
#undef CT_ATTR
#define CT_NAME(s) wide_##s
#define CT_ATTR    __attribute__((target("avx2,fma")))
#include "kernels/conv_tile.h"
#undef CT_NAME
#undef CT_ATTR
#undef CT_GATHER8
#endif
#undef CT_V
#undef CT_VU
#undef CT_VI
#undef CT_W
#undef CT_SPLAT

/* ---- the scan of an image's output gradient ------------------------------------------------
 * gz [P × ldg] ← dy [P × F] with the ReLU mask of y_relu applied (when not NULL), columns F..ldg
 * zero (gz NULL: not written); db [F] += column sums (pixel order; db NULL: none); and, when lp_f
 * is not NULL, the nonzeros listed by
 * pixel: entries lp_start[p] .. lp_start[p+1] hold the filter (lp_f) and value (lp_g) of each
 * nonzero of pixel p in filter order. The lists need 8 entries of slack past P·F. Returns the
 * number of nonzeros. */
typedef int64_t (*scan_fn)(const float *dy, const float *y_relu, int64_t P, int64_t F, int64_t ldg,
                           float *gz, float *db, int32_t *lp_start, int32_t *lp_f, float *lp_g);

static int64_t scan_generic(const float *dy, const float *y_relu, int64_t P, int64_t F, int64_t ldg,
                            float *gz, float *db, int32_t *lp_start, int32_t *lp_f, float *lp_g)
{
    int64_t cnt = 0;
    for (int64_t p = 0; p < P; p++) {
        const float *d = dy + p * F, *yy = y_relu ? y_relu + p * F : NULL;
        float *o = gz ? gz + p * ldg : NULL;
        if (lp_f) lp_start[p] = (int32_t)cnt;
        for (int64_t j = 0; j < F; j++) {
            const float v = yy && !(yy[j] > 0.0f) ? 0.0f : d[j];
            if (o) o[j] = v;
            if (db) db[j] += v;
            if (v != 0.0f) {
                if (lp_f) lp_f[cnt] = (int32_t)j, lp_g[cnt] = v;
                cnt++;
            }
        }
        for (int64_t j = F; o && j < ldg; j++)
            o[j] = 0.0f;
    }
    if (lp_f) lp_start[P] = (int32_t)cnt;
    return cnt;
}

#if defined(FV_CONV_X86)
/* Lane indices that pack the set lanes of an 8-bit mask to the front, one byte each:
 * entry m holds the positions of m's set bits in increasing order. */
static const uint64_t left_pack[256] = {
    0x0000000000000000ULL, 0x0000000000000000ULL, 0x0000000000000001ULL, 0x0000000000000100ULL,
    0x0000000000000002ULL, 0x0000000000000200ULL, 0x0000000000000201ULL, 0x0000000000020100ULL,
    0x0000000000000003ULL, 0x0000000000000300ULL, 0x0000000000000301ULL, 0x0000000000030100ULL,
    0x0000000000000302ULL, 0x0000000000030200ULL, 0x0000000000030201ULL, 0x0000000003020100ULL,
    0x0000000000000004ULL, 0x0000000000000400ULL, 0x0000000000000401ULL, 0x0000000000040100ULL,
    0x0000000000000402ULL, 0x0000000000040200ULL, 0x0000000000040201ULL, 0x0000000004020100ULL,
    0x0000000000000403ULL, 0x0000000000040300ULL, 0x0000000000040301ULL, 0x0000000004030100ULL,
    0x0000000000040302ULL, 0x0000000004030200ULL, 0x0000000004030201ULL, 0x0000000403020100ULL,
    0x0000000000000005ULL, 0x0000000000000500ULL, 0x0000000000000501ULL, 0x0000000000050100ULL,
    0x0000000000000502ULL, 0x0000000000050200ULL, 0x0000000000050201ULL, 0x0000000005020100ULL,
    0x0000000000000503ULL, 0x0000000000050300ULL, 0x0000000000050301ULL, 0x0000000005030100ULL,
    0x0000000000050302ULL, 0x0000000005030200ULL, 0x0000000005030201ULL, 0x0000000503020100ULL,
    0x0000000000000504ULL, 0x0000000000050400ULL, 0x0000000000050401ULL, 0x0000000005040100ULL,
    0x0000000000050402ULL, 0x0000000005040200ULL, 0x0000000005040201ULL, 0x0000000504020100ULL,
    0x0000000000050403ULL, 0x0000000005040300ULL, 0x0000000005040301ULL, 0x0000000504030100ULL,
    0x0000000005040302ULL, 0x0000000504030200ULL, 0x0000000504030201ULL, 0x0000050403020100ULL,
    0x0000000000000006ULL, 0x0000000000000600ULL, 0x0000000000000601ULL, 0x0000000000060100ULL,
    0x0000000000000602ULL, 0x0000000000060200ULL, 0x0000000000060201ULL, 0x0000000006020100ULL,
    0x0000000000000603ULL, 0x0000000000060300ULL, 0x0000000000060301ULL, 0x0000000006030100ULL,
    0x0000000000060302ULL, 0x0000000006030200ULL, 0x0000000006030201ULL, 0x0000000603020100ULL,
    0x0000000000000604ULL, 0x0000000000060400ULL, 0x0000000000060401ULL, 0x0000000006040100ULL,
    0x0000000000060402ULL, 0x0000000006040200ULL, 0x0000000006040201ULL, 0x0000000604020100ULL,
    0x0000000000060403ULL, 0x0000000006040300ULL, 0x0000000006040301ULL, 0x0000000604030100ULL,
    0x0000000006040302ULL, 0x0000000604030200ULL, 0x0000000604030201ULL, 0x0000060403020100ULL,
    0x0000000000000605ULL, 0x0000000000060500ULL, 0x0000000000060501ULL, 0x0000000006050100ULL,
    0x0000000000060502ULL, 0x0000000006050200ULL, 0x0000000006050201ULL, 0x0000000605020100ULL,
    0x0000000000060503ULL, 0x0000000006050300ULL, 0x0000000006050301ULL, 0x0000000605030100ULL,
    0x0000000006050302ULL, 0x0000000605030200ULL, 0x0000000605030201ULL, 0x0000060503020100ULL,
    0x0000000000060504ULL, 0x0000000006050400ULL, 0x0000000006050401ULL, 0x0000000605040100ULL,
    0x0000000006050402ULL, 0x0000000605040200ULL, 0x0000000605040201ULL, 0x0000060504020100ULL,
    0x0000000006050403ULL, 0x0000000605040300ULL, 0x0000000605040301ULL, 0x0000060504030100ULL,
    0x0000000605040302ULL, 0x0000060504030200ULL, 0x0000060504030201ULL, 0x0006050403020100ULL,
    0x0000000000000007ULL, 0x0000000000000700ULL, 0x0000000000000701ULL, 0x0000000000070100ULL,
    0x0000000000000702ULL, 0x0000000000070200ULL, 0x0000000000070201ULL, 0x0000000007020100ULL,
    0x0000000000000703ULL, 0x0000000000070300ULL, 0x0000000000070301ULL, 0x0000000007030100ULL,
    0x0000000000070302ULL, 0x0000000007030200ULL, 0x0000000007030201ULL, 0x0000000703020100ULL,
    0x0000000000000704ULL, 0x0000000000070400ULL, 0x0000000000070401ULL, 0x0000000007040100ULL,
    0x0000000000070402ULL, 0x0000000007040200ULL, 0x0000000007040201ULL, 0x0000000704020100ULL,
    0x0000000000070403ULL, 0x0000000007040300ULL, 0x0000000007040301ULL, 0x0000000704030100ULL,
    0x0000000007040302ULL, 0x0000000704030200ULL, 0x0000000704030201ULL, 0x0000070403020100ULL,
    0x0000000000000705ULL, 0x0000000000070500ULL, 0x0000000000070501ULL, 0x0000000007050100ULL,
    0x0000000000070502ULL, 0x0000000007050200ULL, 0x0000000007050201ULL, 0x0000000705020100ULL,
    0x0000000000070503ULL, 0x0000000007050300ULL, 0x0000000007050301ULL, 0x0000000705030100ULL,
    0x0000000007050302ULL, 0x0000000705030200ULL, 0x0000000705030201ULL, 0x0000070503020100ULL,
    0x0000000000070504ULL, 0x0000000007050400ULL, 0x0000000007050401ULL, 0x0000000705040100ULL,
    0x0000000007050402ULL, 0x0000000705040200ULL, 0x0000000705040201ULL, 0x0000070504020100ULL,
    0x0000000007050403ULL, 0x0000000705040300ULL, 0x0000000705040301ULL, 0x0000070504030100ULL,
    0x0000000705040302ULL, 0x0000070504030200ULL, 0x0000070504030201ULL, 0x0007050403020100ULL,
    0x0000000000000706ULL, 0x0000000000070600ULL, 0x0000000000070601ULL, 0x0000000007060100ULL,
    0x0000000000070602ULL, 0x0000000007060200ULL, 0x0000000007060201ULL, 0x0000000706020100ULL,
    0x0000000000070603ULL, 0x0000000007060300ULL, 0x0000000007060301ULL, 0x0000000706030100ULL,
    0x0000000007060302ULL, 0x0000000706030200ULL, 0x0000000706030201ULL, 0x0000070603020100ULL,
    0x0000000000070604ULL, 0x0000000007060400ULL, 0x0000000007060401ULL, 0x0000000706040100ULL,
    0x0000000007060402ULL, 0x0000000706040200ULL, 0x0000000706040201ULL, 0x0000070604020100ULL,
    0x0000000007060403ULL, 0x0000000706040300ULL, 0x0000000706040301ULL, 0x0000070604030100ULL,
    0x0000000706040302ULL, 0x0000070604030200ULL, 0x0000070604030201ULL, 0x0007060403020100ULL,
    0x0000000000070605ULL, 0x0000000007060500ULL, 0x0000000007060501ULL, 0x0000000706050100ULL,
    0x0000000007060502ULL, 0x0000000706050200ULL, 0x0000000706050201ULL, 0x0000070605020100ULL,
    0x0000000007060503ULL, 0x0000000706050300ULL, 0x0000000706050301ULL, 0x0000070605030100ULL,
    0x0000000706050302ULL, 0x0000070605030200ULL, 0x0000070605030201ULL, 0x0007060503020100ULL,
    0x0000000007060504ULL, 0x0000000706050400ULL, 0x0000000706050401ULL, 0x0000070605040100ULL,
    0x0000000706050402ULL, 0x0000070605040200ULL, 0x0000070605040201ULL, 0x0007060504020100ULL,
    0x0000000706050403ULL, 0x0000070605040300ULL, 0x0000070605040301ULL, 0x0007060504030100ULL,
    0x0000070605040302ULL, 0x0007060504030200ULL, 0x0007060504030201ULL, 0x0706050403020100ULL};

/* Arguments as scan_generic; the same results. Eight filters at a time: compare, mask, and
 * the nonzeros packed to the front with one permutation (left_pack). */
__attribute__((target("avx2,fma"))) static int64_t
scan_avx2(const float *dy, const float *y_relu, int64_t P, int64_t F, int64_t ldg, float *gz,
          float *db, int32_t *lp_start, int32_t *lp_f, float *lp_g)
{
    if (F % 8 != 0) return scan_generic(dy, y_relu, P, F, ldg, gz, db, lp_start, lp_f, lp_g);
    int64_t cnt = 0;
    const __m256 zero = _mm256_setzero_ps();
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t p = 0; p < P; p++) {
        const float *d = dy + p * F, *yy = y_relu ? y_relu + p * F : NULL;
        float *o = gz ? gz + p * ldg : NULL;
        if (lp_f) lp_start[p] = (int32_t)cnt;
        for (int64_t j = 0; j < F; j += 8) {
            __m256 v = _mm256_loadu_ps(d + j);
            if (yy) v = _mm256_and_ps(v, _mm256_cmp_ps(_mm256_loadu_ps(yy + j), zero, _CMP_GT_OQ));
            if (o) _mm256_storeu_ps(o + j, v);
            if (db) _mm256_storeu_ps(db + j, _mm256_add_ps(_mm256_loadu_ps(db + j), v));
            const int m = _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ));
            if (lp_f) {
                const __m256i idx =
                    _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)left_pack[m]));
                _mm256_storeu_ps(lp_g + cnt, _mm256_permutevar8x32_ps(v, idx));
                _mm256_storeu_si256((__m256i *)(lp_f + cnt),
                                    _mm256_add_epi32(_mm256_permutevar8x32_epi32(lane, idx),
                                                     _mm256_set1_epi32((int)j)));
            }
            cnt += __builtin_popcount((unsigned)m);
        }
        for (int64_t j = F; o && j < ldg; j++)
            o[j] = 0.0f;
    }
    if (lp_f) lp_start[P] = (int32_t)cnt;
    return cnt;
}
#endif

/* Arguments as scan_generic; the same results. Sixteen filters at a time, the nonzeros packed to
 * the front by VCOMPRESSPS into a register (stored whole: the 16 values past the count are
 * overwritten by the next group or lie within P·F, as the AVX2 scan's 8). */
__attribute__((target("avx512f,avx512vl"))) static int64_t
scan_avx512(const float *dy, const float *y_relu, int64_t P, int64_t F, int64_t ldg, float *gz,
            float *db, int32_t *lp_start, int32_t *lp_f, float *lp_g)
{
    if (F % 16 != 0) return scan_avx2(dy, y_relu, P, F, ldg, gz, db, lp_start, lp_f, lp_g);
    int64_t cnt = 0;
    const __m512 zero = _mm512_setzero_ps();
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t p = 0; p < P; p++) {
        const float *d = dy + p * F, *yy = y_relu ? y_relu + p * F : NULL;
        float *o = gz ? gz + p * ldg : NULL;
        if (lp_f) lp_start[p] = (int32_t)cnt;
        for (int64_t j = 0; j < F; j += 16) {
            __m512 v = _mm512_loadu_ps(d + j);
            if (yy) /* masked lanes +0, as the AND of the other scans */
                v = _mm512_maskz_mov_ps(
                    _mm512_cmp_ps_mask(_mm512_loadu_ps(yy + j), zero, _CMP_GT_OQ), v);
            if (o) _mm512_storeu_ps(o + j, v);
            if (db) _mm512_storeu_ps(db + j, _mm512_add_ps(_mm512_loadu_ps(db + j), v));
            const __mmask16 m = _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ);
            if (lp_f) {
                _mm512_storeu_ps(lp_g + cnt, _mm512_maskz_compress_ps(m, v));
                _mm512_storeu_si512(lp_f + cnt,
                                    _mm512_maskz_compress_epi32(
                                        m, _mm512_add_epi32(lane, _mm512_set1_epi32((int)j))));
            }
            cnt += __builtin_popcount((unsigned)m);
        }
        for (int64_t j = F; o && j < ldg; j++)
            o[j] = 0.0f;
    }
    if (lp_f) lp_start[P] = (int32_t)cnt;
    return cnt;
}

typedef struct conv_fns {
    fv__gemm_path path;
    int64_t (*fwd_cols)(const cgeo *G, const float *x, const float *bp, int64_t pstride, float *y,
                        int64_t F, const float *bias, bool relu, int64_t rem);
    int64_t (*dw_cols)(const cgeo *G, const float *x, const int32_t *pb, const float *gz,
                       int64_t ldg, float *dw, int64_t rem);
    void (*gather_runs)(int64_t len, const float *src, const int32_t *base, int64_t scale,
                        const float *g, int64_t ne, float *dst);
    scan_fn scan;
} conv_fns;

static const conv_fns fns_generic = {FV__GEMM_GENERIC, generic_fwd_cols, generic_dw_cols,
                                     generic_gather_runs, scan_generic};
#if defined(FV_CONV_X86)
static const conv_fns fns_avx2 = {FV__GEMM_AVX2, avx2_fwd_cols, avx2_dw_cols, avx2_gather_runs,
                                  scan_avx2};
static const conv_fns fns_avx512 = {FV__GEMM_AVX512, avx512_fwd_cols, avx512_dw_cols,
                                    avx512_gather_runs, scan_avx512};
static const conv_fns fns_wide = {FV__GEMM_WIDE_ON_AVX2, wide_fwd_cols, wide_dw_cols,
                                  wide_gather_runs, scan_avx2};
#endif

/* ---- paths ---------------------------------------------------------------------------------- */

bool fv__conv_path_supported(fv__gemm_path p)
{
    if (p == FV__GEMM_GENERIC) return true;
#if defined(FV_CONV_X86)
    if (p == FV__GEMM_AVX2 || p == FV__GEMM_WIDE_ON_AVX2 || p == FV__GEMM_AVX512)
        return fv__gemm_path_supported(p);
#endif
    return false;
}

/* -1: the best path for this CPU; else a forced path (tests and benchmarks). The one global of
 * this file: written only by fv__conv_force_path, which tests call before any threads run. */
static int forced = -1;

void fv__conv_force_path(int p)
{
    __atomic_store_n(&forced, p, __ATOMIC_RELAXED);
}

static const conv_fns *fns(void)
{
    int p = __atomic_load_n(&forced, __ATOMIC_RELAXED);
    if (p < 0) p = fv__kernel_path_best();
#if defined(FV_CONV_X86)
    if (fv__conv_path_supported((fv__gemm_path)p)) {
        if (p == FV__GEMM_AVX512) return &fns_avx512;
        if (p == FV__GEMM_AVX2) return &fns_avx2;
        if (p == FV__GEMM_WIDE_ON_AVX2) return &fns_wide;
    }
#endif
    return &fns_generic;
}

const char *fv_conv_path(void)
{
    return fv__gemm_path_name(fv__conv_path_now());
}

fv__gemm_path fv__conv_path_now(void)
{
    return fns()->path;
}

/* ---- geometry ------------------------------------------------------------------------------- */

static int64_t round16(int64_t v)
{
    return (v + 15) & ~(int64_t)15;
}

static void geo_init(const fv_conv_geom *g, cgeo *G)
{
    memset(G, 0, sizeof *G);
    const int64_t span_h = g->dil_h * (g->k_h - 1) + 1, span_w = g->dil_w * (g->k_w - 1) + 1;
    const int64_t ext_h = (g->out_h - 1) * g->stride_h + span_h;
    const int64_t ext_w = (g->out_w - 1) * g->stride_w + span_w;
    G->pad_top = g->pad_top, G->pad_left = g->pad_left;
    G->Hp = g->in_h + g->pad_top > ext_h ? g->in_h + g->pad_top : ext_h;
    G->Wp = g->in_w + g->pad_left > ext_w ? g->in_w + g->pad_left : ext_w;
    G->padded = g->pad_top > 0 || g->pad_left > 0 || ext_h > g->in_h || ext_w > g->in_w;
    if (!G->padded) G->Hp = g->in_h, G->Wp = g->in_w;
    G->C = g->in_c, G->F = g->out_c, G->P = g->out_h * g->out_w, G->out_w = g->out_w;
    G->s_h = g->stride_h, G->s_w = g->stride_w;
    G->nh = g->k_h, G->hstep = g->dil_h * G->Wp * G->C;
    if (g->dil_w == 1) {
        G->nw = 1, G->wstep = 0, G->nc = g->k_w * G->C; /* a kernel row is one run */
    } else {
        G->nw = g->k_w, G->wstep = g->dil_w * G->C, G->nc = G->C;
    }
    G->K = g->k_h * g->k_w * G->C;
    G->nseg = G->nh * G->nw;
    G->seglen = G->nc;
}

/* Whether the sparse (list) paths apply: segments a whole number of vectors, and offsets that
 * fit the int32 lists. */
static bool lists_apply(const cgeo *G)
{
    return G->seglen % 8 == 0 && G->Hp * G->Wp * G->C < INT32_MAX &&
           G->nseg * G->F * G->seglen < INT32_MAX;
}

/* Window origins of all output pixels in the padded input. */
static void pixel_bases(const cgeo *G, int32_t *pb)
{
    for (int64_t p = 0; p < G->P; p++) {
        const int64_t oh = p / G->out_w, ow = p % G->out_w;
        pb[p] = (int32_t)((oh * G->s_h * G->Wp + ow * G->s_w) * G->C);
    }
}

/* xp [Hp, Wp, C] ← x placed at (pad_top, pad_left), zeros around it. Only the border is
 * zeroed (the rows above and below, and each image row's left and right margins, which are
 * contiguous from one row's end to the next one's start), so each float is written once. */
static void pad_copy(const fv_conv_geom *g, const cgeo *G, const float *x, float *xp)
{
    const int64_t C = G->C, row = g->in_w * C, Wp = G->Wp, top = G->pad_top;
    const int64_t left = G->pad_left * C, right = (Wp - G->pad_left - g->in_w) * C;
    memset(xp, 0, (size_t)(top * Wp * C + left) * sizeof(float));
    for (int64_t h = 0; h < g->in_h; h++) {
        float *d = xp + ((h + top) * Wp + G->pad_left) * C;
        memcpy(d, x + h * row, (size_t)row * sizeof(float));
        /* this row's right margin, then the next row's left one (or the bottom rows) */
        const int64_t gap = h + 1 < g->in_h ? right + left : G->Hp * Wp * C - (d + row - xp);
        memset(d + row, 0, (size_t)gap * sizeof(float));
    }
}

/* dx += the image part of the padded dxp. */
static void unpad_add(const fv_conv_geom *g, const cgeo *G, const float *dxp, float *dx)
{
    const int64_t row = g->in_w * G->C;
    for (int64_t h = 0; h < g->in_h; h++) {
        const float *s = dxp + ((h + G->pad_top) * G->Wp + G->pad_left) * G->C;
        float *d = dx + h * row;
        for (int64_t j = 0; j < row; j++)
            d[j] += s[j];
    }
}

/* ---- forward ----------------------------------------------------------------------------------
 */

int64_t fv_conv_fwd_pack_floats(const fv_conv_geom *g)
{
    return round16(g->out_c) * g->k_h * g->k_w * g->in_c;
}

void fv_conv_fwd_pack(const fv_conv_geom *g, const float *w, float *wp)
{
    const int64_t K = g->k_h * g->k_w * g->in_c, F = g->out_c;
    for (int64_t j0 = 0; j0 < F; j0 += 16) {
        const int64_t n = F - j0 < 16 ? F - j0 : 16;
        float *dst = wp + j0 * K;
        for (int64_t k = 0; k < K; k++, dst += 16) {
            for (int64_t j = 0; j < n; j++)
                dst[j] = w[k * F + j0 + j];
            for (int64_t j = n; j < 16; j++)
                dst[j] = 0.0f;
        }
    }
}

int64_t fv_conv_fwd_scratch_floats(const fv_conv_geom *g)
{
    cgeo G;
    geo_init(g, &G);
    return G.padded ? round16(G.Hp * G.Wp * G.C) : 0;
}

/* fv_conv2d_forward_next, or with add fv_conv2d_forward_add. */
static void forward(const fv_conv_geom *g, const float *x, const float *wp, const float *b,
                    bool relu, bool add, float *y, float *scratch, const float *next,
                    int64_t next_floats)
{
    cgeo G;
    geo_init(g, &G);
    G.add = add;
    const conv_fns *f = fns();
    if (G.padded) {
        pad_copy(g, &G, x, scratch);
        x = scratch;
    }
    if (next && next_floats > 0) /* during the first group of filters only */
        G.pf = (const char *)next, G.pf_lines = fv__pf_lines(next_floats);
    const int64_t F = G.F;
    for (int64_t j0 = 0; j0 < F;) {
        _Alignas(64) float bias[64] = {0};
        for (int64_t j = 0; b && j < 64 && j0 + j < F; j++)
            bias[j] = b[j0 + j];
        j0 += f->fwd_cols(&G, x, wp + j0 * G.K, 16 * G.K, y + j0, F, bias, relu, F - j0);
        G.pf = NULL;
    }
}

void fv_conv2d_forward_next(const fv_conv_geom *g, const float *x, const float *wp, const float *b,
                            bool relu, float *y, float *scratch, const float *next,
                            int64_t next_floats)
{
    forward(g, x, wp, b, relu, false, y, scratch, next, next_floats);
}

void fv_conv2d_forward_add(const fv_conv_geom *g, const float *x, const float *wp, float *y,
                           float *scratch, const float *next, int64_t next_floats)
{
    forward(g, x, wp, NULL, false, true, y, scratch, next, next_floats);
}

void fv_conv2d_forward_fast(const fv_conv_geom *g, const float *x, const float *wp, const float *b,
                            bool relu, float *y, float *scratch)
{
    fv_conv2d_forward_next(g, x, wp, b, relu, y, scratch, NULL, 0);
}

/* ---- forward with bf16 products (precision=bf16) ---------------------------------------------
 * The same windows and tiles as the fp32 forward, on a bf16 copy of the (padded) input and the
 * weights packed in bf16 pairs along the taps: each step of a tile is one VDPBF16PS per vector,
 * two taps at once. Each output is, exactly,
 *   acc = 0; for each pair (k, k+1) of taps in k order: acc = fv_vdpbf16ps_lane(acc, w pair, x
 * pair) y = acc + b, then max(y, 0) with relu (NaN gives 0), on the AVX512_BF16 tiles and on the
 * emulation alike (tested bit for bit). */

bool fv_conv_bf16_applies(const fv_conv_geom *g)
{
    cgeo G;
    geo_init(g, &G);
    return G.seglen % 2 == 0; /* pairs of taps never straddle two segments */
}

int64_t fv_conv_fwd_pack_bf16_size(const fv_conv_geom *g)
{
    return round16(g->out_c) * g->k_h * g->k_w * g->in_c;
}

void fv_conv_fwd_pack_bf16(const fv_conv_geom *g, const float *w, uint16_t *wp)
{
    const int64_t K = g->k_h * g->k_w * g->in_c, F = g->out_c;
    for (int64_t j0 = 0; j0 < F; j0 += 16) {
        const int64_t n = F - j0 < 16 ? F - j0 : 16;
        uint16_t *dst = wp + j0 * K;
        for (int64_t q = 0; q < K / 2; q++, dst += 32)
            for (int64_t j = 0; j < 16; j++) {
                dst[2 * j] = j < n ? fv_bf16_from_f32(w[2 * q * F + j0 + j]) : 0;
                dst[2 * j + 1] = j < n ? fv_bf16_from_f32(w[(2 * q + 1) * F + j0 + j]) : 0;
            }
    }
}

int64_t fv_conv_fwd_bf16_scratch_floats(const fv_conv_geom *g)
{
    cgeo G;
    geo_init(g, &G);
    return round16((G.Hp * G.Wp * G.C + 2) / 2 + 1);
}

static uint32_t pair32(const uint16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Arguments as fwd_cols (conv_tile.h) with bf16 x and weights: the emulation, one panel of 16
 * filters at a time. */
static int64_t bf16_cols_emul(const cgeo *G, const uint16_t *x, const uint16_t *bp, float *y,
                              int64_t F, const float *bias, bool relu, int64_t rem)
{
    const int64_t n = rem < 16 ? rem : 16;
    for (int64_t p = 0; p < G->P; p++) {
        const int64_t oh = p / G->out_w, ow = p % G->out_w;
        const uint16_t *row = x + (oh * G->s_h * G->Wp + ow * G->s_w) * G->C;
        for (int64_t j = 0; j < n; j++) {
            float acc = 0.0f;
            const uint16_t *b = bp + 2 * j;
            for (int64_t kh = 0; kh < G->nh; kh++)
                for (int64_t kw = 0; kw < G->nw; kw++) {
                    const uint16_t *r = row + kh * G->hstep + kw * G->wstep;
                    for (int64_t q = 0; q < G->nc / 2; q++, b += 32)
                        acc = fv_vdpbf16ps_lane(acc, pair32(b), pair32(r + 2 * q));
                }
            float v = acc + bias[j];
            if (relu) v = v > 0.0f ? v : 0.0f;
            y[p * F + j] = v;
        }
    }
    return n;
}

#if defined(FV_CONV_X86)
#define BF_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* A tile of MR pixels × NV vectors of 16 filters (as fwd_run in conv_tile.h). */
BF_ATTR static inline __attribute__((always_inline)) void
bf16_run(const int MR, const int NV, const uint16_t *const *rows, const cgeo *G,
         const uint16_t *restrict bp, int64_t pstride, float *c, int64_t ldc, const float *bias,
         bool relu, int m, int n)
{
    __m512 acc[12][4];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = _mm512_setzero_ps();
    const uint16_t *b = bp;
    for (int64_t kh = 0; kh < G->nh; kh++) {
        for (int64_t kw = 0; kw < G->nw; kw++) {
            const int64_t o = kh * G->hstep + kw * G->wstep;
            const uint16_t *r[12];
#pragma GCC unroll 12
            for (int i = 0; i < MR; i++)
                r[i] = rows[i] + o;
            for (int64_t q = 0; q < G->nc / 2; q++, b += 32) {
                __m512bh bv[4];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    bv[v] = (__m512bh)_mm512_loadu_si512(b + v * pstride);
#pragma GCC unroll 12
                for (int i = 0; i < MR; i++) {
                    const __m512bh t = (__m512bh)_mm512_set1_epi32((int)pair32(r[i] + 2 * q));
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++)
                        acc[i][v] = _mm512_dpbf16_ps(acc[i][v], bv[v], t);
                }
            }
        }
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const __m512 bb = _mm512_loadu_ps(bias + 16 * v);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            acc[i][v] = _mm512_add_ps(acc[i][v], bb);
            if (relu) acc[i][v] = _mm512_max_ps(acc[i][v], zero); /* NaN gives the 0 */
        }
    }
    if (m == MR && n == 16 * NV) {
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
        return;
    }
    _Alignas(64) float t[12][64];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            _mm512_storeu_ps(t[i] + 16 * v, acc[i][v]);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[i * ldc + j] = t[i][j];
}

/* Arguments as bf16_cols_emul: 6 × 64 where four panels remain, else 12 × 32 or 12 × 16. */
BF_ATTR static int64_t bf16_cols_avx512(const cgeo *G, const uint16_t *x, const uint16_t *bp,
                                        float *y, int64_t F, const float *bias, bool relu,
                                        int64_t rem)
{
    const int MR = rem > 48 ? 6 : 12, NV = rem > 48 ? 4 : rem > 16 ? 2 : 1;
    const int64_t pstride = 16 * G->K;
    const int n = (int)(rem < 16 * NV ? rem : 16 * NV);
    for (int64_t p0 = 0; p0 < G->P; p0 += MR) {
        const int m = (int)(G->P - p0 < MR ? G->P - p0 : MR);
        const uint16_t *rows[12];
        for (int i = 0; i < MR; i++) {
            const int64_t p = p0 + (i < m ? i : m - 1), oh = p / G->out_w, ow = p % G->out_w;
            rows[i] = x + (oh * G->s_h * G->Wp + ow * G->s_w) * G->C;
        }
        float *c = y + p0 * F;
        if (NV == 4)
            bf16_run(6, 4, rows, G, bp, pstride, c, F, bias, relu, m, n);
        else if (NV == 2)
            bf16_run(12, 2, rows, G, bp, pstride, c, F, bias, relu, m, n);
        else
            bf16_run(12, 1, rows, G, bp, pstride, c, F, bias, relu, m, n);
    }
    return n;
}
#endif

/* -1: the best; 0: the emulation (tests). The second global of this file, as `forced`. */
static int bf16_forced = -1;

void fv__conv_bf16_force_emulation(bool on)
{
    __atomic_store_n(&bf16_forced, on ? 0 : -1, __ATOMIC_RELAXED);
}

void fv_conv2d_forward_bf16(const fv_conv_geom *g, const float *x, const uint16_t *wp,
                            const float *b, bool relu, float *y, float *scratch)
{
    cgeo G;
    geo_init(g, &G);
    uint16_t *x16 = (uint16_t *)scratch;
    if (G.padded) {
        memset(x16, 0, (size_t)(G.Hp * G.Wp * G.C) * sizeof(uint16_t));
        const int64_t row = g->in_w * G.C;
        for (int64_t h = 0; h < g->in_h; h++)
            fv_bf16_from_f32_n(x + h * row, x16 + ((h + G.pad_top) * G.Wp + G.pad_left) * G.C, row);
    } else {
        fv_bf16_from_f32_n(x, x16, G.Hp * G.Wp * G.C);
    }
    int64_t (*cols)(const cgeo *, const uint16_t *, const uint16_t *, float *, int64_t,
                    const float *, bool, int64_t) = bf16_cols_emul;
#if defined(FV_CONV_X86)
    if (__atomic_load_n(&bf16_forced, __ATOMIC_RELAXED) < 0 && fv__cpu_has_avx512_bf16())
        cols = bf16_cols_avx512;
#endif
    const int64_t F = G.F;
    for (int64_t j0 = 0; j0 < F;) {
        _Alignas(64) float bias[64] = {0};
        for (int64_t j = 0; b && j < 64 && j0 + j < F; j++)
            bias[j] = b[j0 + j];
        j0 += cols(&G, x16, wp + j0 * G.K, y + j0, F, bias, relu, F - j0);
    }
}

/* ---- backward ---------------------------------------------------------------------------------
 */

int64_t fv_conv_bwd_pack_floats(const fv_conv_geom *g)
{
    return g->k_h * g->k_w * g->in_c * g->out_c;
}

void fv_conv_bwd_pack(const fv_conv_geom *g, const float *w, float *wt)
{
    cgeo G;
    geo_init(g, &G);
    for (int64_t s = 0; s < G.nseg; s++)
        for (int64_t f = 0; f < G.F; f++)
            for (int64_t j = 0; j < G.seglen; j++)
                wt[(s * G.F + f) * G.seglen + j] = w[(s * G.seglen + j) * G.F + f];
}

int64_t fv_conv_sparse_dw_index(const fv_conv_geom *g, int64_t k, int64_t f)
{
    const int64_t seglen = g->dil_w == 1 ? g->k_w * g->in_c : g->in_c;
    return ((k / seglen) * g->out_c + f) * seglen + k % seglen;
}

/* ---- the gathers of the backward in bf16 ------------------------------------------------------
 * A job is up to RUNS_MAX runs of at most 32 values: run r reads src + soff[r] and adds into
 * dst + doff[r], len[r] values. For each run and c < len[r]:
 *   acc = 0; for each pair of entries (2i, 2i+1) in list order (the partner of an odd last entry
 *   is zero in both operands),
 *     acc = fv_vdpbf16ps_lane(acc, s(2i) | s(2i+1) << 16, g[2i] | g[2i+1] << 16),
 *     s(e) = src[scale·base[e] + soff[r] + c]   (bf16 values and gradients);
 *   dst[doff[r] + c] += acc (fp32),
 * so two entries go into one VDPBF16PS, their products summed as the instruction does (the odd
 * entry first). The runs of a job cover every kernel segment of a pixel (the input gradient) or
 * of a filter (the weight gradient) at once, so that 2·runs independent accumulators hide the
 * instruction's latency (one segment's 96 values at a time left the fp32 gathers bound by it). */
enum { RUNS_MAX = 9 };

typedef struct gjob {
    int nrun;
    int64_t soff[RUNS_MAX], doff[RUNS_MAX];
    int len[RUNS_MAX];
} gjob;

typedef void (*gather16_fn)(const gjob *j, const uint16_t *src, const int32_t *base, int64_t scale,
                            const uint16_t *g, int64_t ne, float *dst);

static void gather16_emul(const gjob *j, const uint16_t *src, const int32_t *base, int64_t scale,
                          const uint16_t *g, int64_t ne, float *dst)
{
    for (int r = 0; r < j->nrun; r++)
        for (int64_t c = 0; c < j->len[r]; c++) {
            float acc = 0.0f;
            const uint16_t *s = src + j->soff[r] + c;
            for (int64_t e = 0; e < ne; e += 2) {
                const bool two = e + 1 < ne;
                const uint32_t s0 = s[scale * base[e]], s1 = two ? s[scale * base[e + 1]] : 0;
                const uint32_t g0 = g[e], g1 = two ? g[e + 1] : 0;
                acc = fv_vdpbf16ps_lane(acc, s0 | s1 << 16, g0 | g1 << 16);
            }
            dst[j->doff[r] + c] += acc;
        }
}

#if defined(FV_CONV_X86)
#define G16_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* VPERMW indices that interleave the low 16 words of a vector with its high 16: a vector
 * VCVTNE2PS2BF16(b, a) becomes the 16 pairs (a[i], b[i]). */
static const uint16_t interleave16[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                          21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                          11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

/* NR runs: per pair of entries, each run's two source rows are loaded (masked to its length)
 * and interleaved word by word (VPUNPCKLWD/VPUNPCKHWD, within 128-bit lanes), so that the low
 * accumulator holds values 8L+0..3 and the high one 8L+4..7 of each lane L; one permutation per
 * run at the end puts them back in order. */
G16_ATTR static inline __attribute__((always_inline)) void
gather16_run(const int NR, const bool FULL, const gjob *j, const uint16_t *restrict src,
             const int32_t *restrict base, int64_t scale, const uint16_t *restrict g, int64_t ne,
             float *restrict dst)
{
    __m512 lo[RUNS_MAX], hi[RUNS_MAX];
    __mmask32 k[RUNS_MAX];
    int64_t so[RUNS_MAX];
#pragma GCC unroll 9
    for (int r = 0; r < NR; r++) {
        k[r] = j->len[r] >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << j->len[r]) - 1);
        so[r] = j->soff[r];
        lo[r] = _mm512_setzero_ps(), hi[r] = _mm512_setzero_ps();
    }
    int64_t e = 0;
    for (; e + 1 < ne; e += 2) {
        const uint16_t *s0 = src + scale * base[e], *s1 = src + scale * base[e + 1];
        uint32_t gp;
        memcpy(&gp, g + e, sizeof gp);
        const __m512bh gv = (__m512bh)_mm512_set1_epi32((int)gp);
#pragma GCC unroll 9
        for (int r = 0; r < NR; r++) {
            const __m512i a =
                FULL ? _mm512_loadu_si512(s0 + so[r]) : _mm512_maskz_loadu_epi16(k[r], s0 + so[r]);
            const __m512i c =
                FULL ? _mm512_loadu_si512(s1 + so[r]) : _mm512_maskz_loadu_epi16(k[r], s1 + so[r]);
            lo[r] = _mm512_dpbf16_ps(lo[r], (__m512bh)_mm512_unpacklo_epi16(a, c), gv);
            hi[r] = _mm512_dpbf16_ps(hi[r], (__m512bh)_mm512_unpackhi_epi16(a, c), gv);
        }
    }
    if (e < ne) {
        const uint16_t *s0 = src + scale * base[e];
        const __m512bh gv = (__m512bh)_mm512_set1_epi32((int)g[e]);
        const __m512i z = _mm512_setzero_si512();
#pragma GCC unroll 9
        for (int r = 0; r < NR; r++) {
            const __m512i a = _mm512_maskz_loadu_epi16(k[r], s0 + so[r]);
            lo[r] = _mm512_dpbf16_ps(lo[r], (__m512bh)_mm512_unpacklo_epi16(a, z), gv);
            hi[r] = _mm512_dpbf16_ps(hi[r], (__m512bh)_mm512_unpackhi_epi16(a, z), gv);
        }
    }
    const __m512i i0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i i1 =
        _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
#pragma GCC unroll 9
    for (int r = 0; r < NR; r++) {
        const __mmask16 k0 = (__mmask16)k[r], k1 = (__mmask16)(k[r] >> 16);
        float *d = dst + j->doff[r];
        _mm512_mask_storeu_ps(
            d, k0,
            _mm512_add_ps(_mm512_maskz_loadu_ps(k0, d), _mm512_permutex2var_ps(lo[r], i0, hi[r])));
        _mm512_mask_storeu_ps(d + 16, k1,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(k1, d + 16),
                                            _mm512_permutex2var_ps(lo[r], i1, hi[r])));
    }
}

/* Arguments as gather16_emul; the same bits. */
G16_ATTR static void gather16_avx512(const gjob *j, const uint16_t *src, const int32_t *base,
                                     int64_t scale, const uint16_t *g, int64_t ne, float *dst)
{
    bool full = true; /* every run 32 values long: loads without masks */
    for (int r = 0; r < j->nrun; r++)
        full &= j->len[r] == 32;
    switch (j->nrun) {
#define G16_CASE(n)                                                                                \
    case n:                                                                                        \
        if (full)                                                                                  \
            gather16_run(n, true, j, src, base, scale, g, ne, dst);                                \
        else                                                                                       \
            gather16_run(n, false, j, src, base, scale, g, ne, dst);                               \
        break;
        /* clang-format off */
        G16_CASE(1) G16_CASE(2) G16_CASE(3) G16_CASE(4) G16_CASE(5) G16_CASE(6) G16_CASE(7)
        G16_CASE(8) G16_CASE(9)
        /* clang-format on */
#undef G16_CASE
                default : break;
    }
}
#endif

/* The jobs that cover every kernel segment (seglen values each) in order, runs of 32 values,
 * RUNS_MAX runs a job: for the input gradient segment s is read from the bf16 weights at
 * s·F·seglen and added at seg_off(s) of the window, for the weight gradient read at seg_off(s)
 * of the window and added at s·F·seglen. Returns the number of jobs (bwd_layout's njobs). */
static int make_jobs(const cgeo *G, bool for_dx, gjob *jobs)
{
    int nj = 0;
    for (int64_t s = 0; s < G->nseg; s++) {
        const int64_t packed = s * G->F * G->seglen, window = seg_off(G, s);
        for (int64_t c = 0; c < G->seglen; c += 32) {
            if (nj == 0 || jobs[nj - 1].nrun == RUNS_MAX) jobs[nj++].nrun = 0;
            gjob *j = &jobs[nj - 1];
            j->soff[j->nrun] = (for_dx ? packed : window) + c;
            j->doff[j->nrun] = (for_dx ? window : packed) + c;
            j->len[j->nrun++] = (int)(G->seglen - c < 32 ? G->seglen - c : 32);
        }
    }
    return nj;
}

/* ---- the dense weight gradient in bf16 ------------------------------------------------------
 * dw[k·F + j] += acc for the taps k of a tile and filters j < n, where acc = 0 and, for each pair
 * of pixels (2q, 2q+1) in pixel order (an odd last pixel paired with zeros),
 *   acc = fv_vdpbf16ps_lane(acc, gz2[q·ldg + j], x16[pb[2q] + off(k)] | x16[pb[2q+1] + off(k)] <<
 * 16) with gz2[q·ldg + j] = bf16(∂L/∂z[2q][j]) | bf16(∂L/∂z[2q+1][j]) << 16: two pixels per
 * VDPBF16PS, the fp32 dense tiles' shape (conv_tile.h dw_run) with pixels taken two at a time. */

static inline uint32_t x_pair(const uint16_t *x16, const int32_t *pb, int64_t P, int64_t q,
                              int64_t off)
{
    const uint32_t lo = x16[pb[2 * q] + off];
    return 2 * q + 1 < P ? lo | (uint32_t)x16[pb[2 * q + 1] + off] << 16 : lo;
}

static int64_t dw16_emul(const cgeo *G, const uint16_t *x16, const int32_t *pb, const uint32_t *gz2,
                         int64_t ldg, float *dw, int64_t rem)
{
    const int64_t n = rem < 32 ? rem : 32, nq = (G->P + 1) / 2;
    for (int64_t k = 0; k < G->K; k++) {
        const int64_t off = tap_off(G, k);
        for (int64_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int64_t q = 0; q < nq; q++)
                acc = fv_vdpbf16ps_lane(acc, gz2[q * ldg + j], x_pair(x16, pb, G->P, q, off));
            dw[k * G->F + j] += acc;
        }
    }
    return n;
}

#if defined(FV_CONV_X86)
/* 12 taps × NV vectors of 16 filters (as dw_run). */
G16_ATTR static inline __attribute__((always_inline)) void
dw16_run(const int NV, const uint16_t *restrict x16, const uint32_t *restrict x2, int64_t d,
         const int32_t *restrict pb, int64_t P, const int64_t *off, const uint32_t *restrict gz2,
         int64_t ldg, float *dw, int64_t F, int m, int n)
{
    __m512 acc[12][2];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[i][v] = _mm512_setzero_ps();
    const int64_t nq = (P + 1) / 2;
    for (int64_t q = 0; q < nq; q++) {
        __m512bh bv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            bv[v] = (__m512bh)_mm512_loadu_si512(gz2 + q * ldg + 16 * v);
        if (2 * q + 1 < P && pb[2 * q + 1] - pb[2 * q] == d) {
            /* Neighbours in a row: the pairs lie ready in x2. */
            const uint32_t *xq = x2 + pb[2 * q];
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++) {
                const __m512bh tv = (__m512bh)_mm512_set1_epi32((int)xq[off[i]]);
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++)
                    acc[i][v] = _mm512_dpbf16_ps(acc[i][v], bv[v], tv);
            }
            continue;
        }
        const uint16_t *x0 = x16 + pb[2 * q];
        const uint16_t *x1 = 2 * q + 1 < P ? x16 + pb[2 * q + 1] : NULL;
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) {
            const uint32_t t = x1 ? (uint32_t)x0[off[i]] | (uint32_t)x1[off[i]] << 16 : x0[off[i]];
            const __m512bh tv = (__m512bh)_mm512_set1_epi32((int)t);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm512_dpbf16_ps(acc[i][v], bv[v], tv);
        }
    }
    _Alignas(64) float t[12][32];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            _mm512_storeu_ps(t[i] + 16 * v, acc[i][v]);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            dw[i * F + j] += t[i][j];
}

/* x2[e] = bf16(x[e]) | bf16(x[e + d]) << 16 for e < total (zero past the end): the pair of a tap
 * for two pixels d apart. */
G16_ATTR static void pair_image_avx512(const float *x, int64_t total, int64_t d, uint32_t *x2)
{
    const __m512i idx = _mm512_loadu_si512(interleave16);
    for (int64_t e = 0; e < total; e += 16) {
        const int64_t r0 = total - e < 16 ? total - e : 16;
        const int64_t r1 = total - e - d < 16 ? (total - e - d > 0 ? total - e - d : 0) : 16;
        const __mmask16 k0 = (__mmask16)((1u << r0) - 1), k1 = (__mmask16)((1u << r1) - 1);
        const __m512 v0 = _mm512_maskz_loadu_ps(k0, x + e);
        const __m512 v1 = _mm512_maskz_loadu_ps(k1, x + e + d);
        _mm512_mask_storeu_epi32(
            x2 + e, k0, _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(v1, v0)));
    }
}

/* Arguments as dw16_emul, and x2 from pair_image_avx512 with d = s_w·C (two neighbours in an
 * output row); the same bits. */
G16_ATTR static int64_t dw16_avx512(const cgeo *G, const uint16_t *x16, const uint32_t *x2,
                                    const int32_t *pb, const uint32_t *gz2, int64_t ldg, float *dw,
                                    int64_t rem)
{
    const int NV = rem > 16 ? 2 : 1;
    const int n = (int)(rem < 16 * NV ? rem : 16 * NV);
    const int64_t d = G->s_w * G->C;
    for (int64_t k0 = 0; k0 < G->K; k0 += 12) {
        const int m = (int)(G->K - k0 < 12 ? G->K - k0 : 12);
        int64_t off[12];
        for (int i = 0; i < 12; i++)
            off[i] = tap_off(G, k0 + (i < m ? i : m - 1));
        if (NV == 2)
            dw16_run(2, x16, x2, d, pb, G->P, off, gz2, ldg, dw + k0 * G->F, G->F, m, n);
        else
            dw16_run(1, x16, x2, d, pb, G->P, off, gz2, ldg, dw + k0 * G->F, G->F, m, n);
    }
    return n;
}
#endif

/* gz2 [ceil(P/2) × ldg] ← the pixel pairs of gz [P × ldg] in bf16 (zero past P); ldg a multiple
 * of 16. */
static void pair_pixels_emul(const float *gz, int64_t P, int64_t ldg, uint32_t *gz2)
{
    for (int64_t q = 0; 2 * q < P; q++)
        for (int64_t j = 0; j < ldg; j++) {
            const uint32_t hi = 2 * q + 1 < P ? fv_bf16_from_f32(gz[(2 * q + 1) * ldg + j]) : 0;
            gz2[q * ldg + j] = (uint32_t)fv_bf16_from_f32(gz[2 * q * ldg + j]) | hi << 16;
        }
}

#if defined(FV_CONV_X86)
/* As pair_pixels_emul: VCVTNE2PS2BF16 rounds 16 values of both pixels, VPERMW interleaves them
 * (the same bits: the conversion is fv_bf16_from_f32's, tested in test_bf16). */
G16_ATTR static void pair_pixels_avx512(const float *gz, int64_t P, int64_t ldg, uint32_t *gz2)
{
    const __m512i idx = _mm512_loadu_si512(interleave16);
    for (int64_t q = 0; 2 * q < P; q++) {
        const float *r0 = gz + 2 * q * ldg, *r1 = 2 * q + 1 < P ? r0 + ldg : NULL;
        for (int64_t j = 0; j < ldg; j += 16) {
            const __m512 v0 = _mm512_loadu_ps(r0 + j);
            const __m512 v1 = r1 ? _mm512_loadu_ps(r1 + j) : _mm512_setzero_ps();
            _mm512_storeu_si512(gz2 + q * ldg + j, _mm512_permutexvar_epi16(
                                                       idx, (__m512i)_mm512_cvtne2ps_pbh(v1, v0)));
        }
    }
}
#endif

/* The per-thread scratch of fv_conv2d_backward_fast, in floats (int32 lists share the float
 * size), laid out in this order. */
typedef struct bwd_layout {
    int64_t xpad, dxpad, gz, pb, lf_base, lf_g, lf_n, lp_start, lp_f, lp_g, dcol;
    /* precision=bf16 (lists only): x and both value lists in bf16, the gather jobs */
    int64_t x16, lp_g16, lf_g16, jobs;
    int64_t gz2, x2; /* precision=bf16, dense weight gradient: ∂L/∂z and x as pixel pairs */
    int njobs;       /* jobs per gradient */
    int64_t total;
} bwd_layout;

static void bwd_layout_of(const fv_conv_geom *g, const cgeo *G, bool bf16, bwd_layout *L)
{
    const int64_t pad = G->padded ? round16(G->Hp * G->Wp * G->C) : 0;
    const int64_t PF = round16(G->P * G->F + 8), ldg = round16(G->F);
    const bool lists = lists_apply(G);
    int64_t o = 0;
    L->xpad = o, o += pad;
    L->dxpad = o, o += lists ? pad : 0;
    L->gz = o, o += round16(G->P * ldg);
    L->pb = o, o += round16(G->P);
    L->lf_base = o, o += lists ? PF : 0;
    L->lf_g = o, o += lists ? PF : 0;
    L->lf_n = o, o += 2 * round16(G->F); /* counts, then cursors */
    L->lp_start = o, o += lists ? round16(G->P + 1) : 0;
    L->lp_f = o, o += lists ? PF : 0;
    L->lp_g = o, o += lists ? PF : 0;
    L->dcol = o, o += lists ? 0 : round16(fv_conv_col_floats(g));
    const bool b16 = bf16 && lists;
    L->x16 = o, o += bf16 ? round16((G->Hp * G->Wp * G->C + 1) / 2) : 0;
    L->gz2 = o, o += bf16 ? round16((G->P + 1) / 2 * ldg) : 0;
    L->x2 = o, o += bf16 ? round16(G->Hp * G->Wp * G->C) : 0;
    L->lp_g16 = o, o += b16 ? round16((PF + 1) / 2) : 0;
    L->lf_g16 = o, o += b16 ? round16((PF + 1) / 2) : 0;
    L->njobs = (int)((G->nseg * ((G->seglen + 31) / 32) + RUNS_MAX - 1) / RUNS_MAX);
    L->jobs = o, o += b16 ? round16(2 * L->njobs * (int64_t)((sizeof(gjob) + 3) / 4)) : 0;
    L->total = o;
}

int64_t fv_conv_bwd_scratch_floats(const fv_conv_geom *g)
{
    cgeo G;
    bwd_layout L;
    geo_init(g, &G);
    bwd_layout_of(g, &G, false, &L);
    return L.total;
}

int64_t fv_conv_bwd_bf16_scratch_floats(const fv_conv_geom *g)
{
    cgeo G;
    bwd_layout L;
    geo_init(g, &G);
    bwd_layout_of(g, &G, true, &L);
    return L.total;
}

int64_t fv_conv_bwd_pack_bf16_size(const fv_conv_geom *g)
{
    return fv_conv_bwd_pack_floats(g);
}

void fv_conv_bwd_pack_bf16(const fv_conv_geom *g, const float *w, uint16_t *wt)
{
    cgeo G;
    geo_init(g, &G);
    for (int64_t s = 0; s < G.nseg; s++)
        for (int64_t f = 0; f < G.F; f++)
            for (int64_t j = 0; j < G.seglen; j++)
                wt[(s * G.F + f) * G.seglen + j] =
                    fv_bf16_from_f32(w[(s * G.seglen + j) * G.F + f]);
}

/* Weight gradient by dense tiles of taps × filters: dw [K×F] += Σ_p window(p)ᵀ gz[p]. */
static void dw_dense(const conv_fns *f, const cgeo *G, const float *x, const int32_t *pb,
                     const float *gz, int64_t ldg, float *dw)
{
    for (int64_t j0 = 0; j0 < G->F;)
        j0 += f->dw_cols(G, x, pb, gz + j0, ldg, dw + j0, G->F - j0);
}

static gather16_fn best_gather16(void)
{
#if defined(FV_CONV_X86)
    if (__atomic_load_n(&bf16_forced, __ATOMIC_RELAXED) < 0 && fv__cpu_has_avx512_bf16())
        return gather16_avx512;
#endif
    return gather16_emul;
}

/* fv_conv2d_backward_fast, and with wt16 (not NULL: precision=bf16) its bf16 form. */
static fv_conv_bwd_path backward(const fv_conv_geom *g, const float *x, const float *y_relu,
                                 const float *dy, const float *w, const float *wt,
                                 const uint16_t *wt16, float *dw, float *dws, float *db, float *dx,
                                 float *scratch)
{
    cgeo G;
    bwd_layout L;
    const bool bf16 = wt16 != NULL;
    geo_init(g, &G);
    bwd_layout_of(g, &G, bf16, &L);
    const conv_fns *f = fns();
    const gather16_fn g16 = bf16 ? best_gather16() : NULL;
    const bool hw16 = bf16 && g16 != gather16_emul;
    (void)hw16; /* only x86-64 has the AVX512_BF16 tiles */
    const int64_t P = G.P, F = G.F, ldg = round16(F);
    float *gz = scratch + L.gz;
    int32_t *pb = (int32_t *)(scratch + L.pb);

    const bool lists = lists_apply(&G);
    int32_t *lp_start = (int32_t *)(scratch + L.lp_start), *lp_f = (int32_t *)(scratch + L.lp_f);
    float *lp_g = scratch + L.lp_g;
    /* The bias gradient and the nonzeros of dy with the ReLU mask applied: listed by pixel when
     * the list kernels apply, else written out whole as gz for the dense ones. */
    const int64_t nnz =
        f->scan(dy, y_relu, P, F, ldg, lists ? NULL : gz, db, lp_start, lists ? lp_f : NULL, lp_g);
    if (G.padded) {
        pad_copy(g, &G, x, scratch + L.xpad);
        x = scratch + L.xpad;
    }
    pixel_bases(&G, pb);

    const bool sparse = lists && nnz * 2 <= P * F;
    /* bf16 (lists only): the listed values, and x where the sparse weight gradient reads it. */
    uint16_t *lp_g16 = NULL, *lf_g16 = NULL, *x16 = NULL;
    if (bf16 && lists) {
        lp_g16 = (uint16_t *)(scratch + L.lp_g16), lf_g16 = (uint16_t *)(scratch + L.lf_g16);
        fv_bf16_from_f32_n(lp_g, lp_g16, nnz);
        if (dw && sparse) {
            x16 = (uint16_t *)(scratch + L.x16);
            fv_bf16_from_f32_n(x, x16, G.Hp * G.Wp * G.C);
        }
    }
    if (dw && !sparse) {
        if (lists) f->scan(dy, y_relu, P, F, ldg, gz, NULL, NULL, NULL, NULL);
        if (bf16) {
            /* Two pixels per VDPBF16PS: x and ∂L/∂z in bf16, the pixels of ∂L/∂z in pairs. */
            uint16_t *xb = (uint16_t *)(scratch + L.x16);
            uint32_t *gz2 = (uint32_t *)(scratch + L.gz2);
            fv_bf16_from_f32_n(x, xb, G.Hp * G.Wp * G.C);
#if defined(FV_CONV_X86)
            if (hw16) {
                uint32_t *x2 = (uint32_t *)(scratch + L.x2);
                pair_image_avx512(x, G.Hp * G.Wp * G.C, G.s_w * G.C, x2);
                pair_pixels_avx512(gz, P, ldg, gz2);
                for (int64_t j0 = 0; j0 < F;)
                    j0 += dw16_avx512(&G, xb, x2, pb, gz2 + j0, ldg, dw + j0, F - j0);
            } else
#endif
            {
                pair_pixels_emul(gz, P, ldg, gz2);
                for (int64_t j0 = 0; j0 < F;)
                    j0 += dw16_emul(&G, xb, pb, gz2 + j0, ldg, dw + j0, F - j0);
            }
        } else {
            dw_dense(f, &G, x, pb, gz, ldg, dw);
        }
    }
    if (!lists) {
        /* Input gradient by GEMM + col2im: segments too short for the list kernels. */
        if (dx) {
            float *dcol = scratch + L.dcol;
            fv_gemm(false, true, P, G.K, F, 1.0f, gz, ldg, w, F, 0.0f, dcol, G.K);
            fv_col2im(g, dcol, dx);
        }
        return FV_CONV_BWD_DENSE;
    }

    if (dw && sparse) {
        /* The nonzeros by filter, in pixel order (a counting sort of the pixel lists), then each
         * filter's gradient from its own pixels. */
        int32_t *lf_base = (int32_t *)(scratch + L.lf_base);
        int32_t *lf_n = (int32_t *)(scratch + L.lf_n);
        float *lf_g = scratch + L.lf_g;
        for (int64_t j = 0; j < F; j++)
            lf_n[j] = 0;
        for (int64_t p = 0; p < P; p++) {
            const int32_t base = pb[p];
            for (int32_t e = lp_start[p]; e < lp_start[p + 1]; e++) {
                const int32_t j = lp_f[e];
                const int64_t at = j * P + lf_n[j]++;
                lf_base[at] = base;
                if (x16)
                    lf_g16[at] = lp_g16[e];
                else
                    lf_g[at] = lp_g[e];
            }
        }
        /* By blocks of output rows whose input rows take at most about 40 KiB (so they stay in
         * L1 or next to it; measured best on the seed's shapes against 8 to 24 KiB and no
         * blocking): each filter's entries in the block, in pixel order, block after block. */
        const int64_t row_bytes = G.Wp * G.C * (int64_t)(x16 ? sizeof *x16 : sizeof(float));
        /* bf16: every segment of a filter in one pass of its entries. */
        gjob *jobs = (gjob *)(scratch + L.jobs);
        if (x16) make_jobs(&G, false, jobs);
        const int64_t span = (G.nh - 1) * (G.hstep / (G.Wp * G.C)) + 1;
        int64_t rows = 1;
        while (((rows * 2 - 1) * G.s_h + span) * row_bytes <= 40960)
            rows *= 2;
        int32_t *cur = lf_n + round16(F);
        for (int64_t j = 0; j < F; j++)
            cur[j] = 0;
        for (int64_t p0 = 0; p0 < P; p0 += rows * G.out_w) {
            const int64_t p1 = p0 + rows * G.out_w;
            const int64_t bound = p1 < P ? pb[p1] : INT64_MAX;
            for (int64_t j = 0; j < F; j++) {
                const int32_t *lb = lf_base + j * P;
                int64_t e0 = cur[j], e1 = e0;
                while (e1 < lf_n[j] && lb[e1] < bound)
                    e1++;
                cur[j] = (int32_t)e1;
                if (e1 == e0) continue;
                if (x16) {
                    for (int q = 0; q < L.njobs; q++)
                        g16(&jobs[q], x16, lb + e0, 1, lf_g16 + j * P + e0, e1 - e0,
                            dws + j * G.seglen);
                    continue;
                }
                for (int64_t s = 0; s < G.nseg; s++)
                    f->gather_runs(G.seglen, x + seg_off(&G, s), lb + e0, 1, lf_g + j * P + e0,
                                   e1 - e0, dws + (s * F + j) * G.seglen);
            }
        }
    }
    if (dx) {
        float *d = dx;
        if (G.padded) {
            d = scratch + L.dxpad;
            memset(d, 0, (size_t)(G.Hp * G.Wp * G.C) * sizeof(float));
        }
        if (bf16) {
            /* Pixel by pixel, every segment of its window in one pass of its entries (the bf16
             * weights, K·F values, take half the room of fp32's). */
            gjob *jobs = (gjob *)(scratch + L.jobs) + L.njobs;
            make_jobs(&G, true, jobs);
            for (int64_t p = 0; p < P; p++) {
                const int64_t e0 = lp_start[p], ne = lp_start[p + 1] - e0;
                if (!ne) continue;
                for (int q = 0; q < L.njobs; q++)
                    g16(&jobs[q], wt16, lp_f + e0, G.seglen, lp_g16 + e0, ne, d + pb[p]);
            }
        } else {
            /* Segment by segment: one segment's weights (F·seglen floats) stay in L1. */
            for (int64_t s = 0; s < G.nseg; s++) {
                const int64_t so = seg_off(&G, s);
                for (int64_t p = 0; p < P; p++) {
                    const int64_t e0 = lp_start[p], ne = lp_start[p + 1] - e0;
                    if (ne)
                        f->gather_runs(G.seglen, wt + s * F * G.seglen, lp_f + e0, G.seglen,
                                       lp_g + e0, ne, d + pb[p] + so);
                }
            }
        }
        if (G.padded) unpad_add(g, &G, d, dx);
    }
    return sparse ? FV_CONV_BWD_SPARSE : FV_CONV_BWD_DENSE;
}

fv_conv_bwd_path fv_conv2d_backward_fast(const fv_conv_geom *g, const float *x, const float *y_relu,
                                         const float *dy, const float *w, const float *wt,
                                         float *dw, float *dws, float *db, float *dx,
                                         float *scratch)
{
    return backward(g, x, y_relu, dy, w, wt, NULL, dw, dws, db, dx, scratch);
}

fv_conv_bwd_path fv_conv2d_backward_bf16(const fv_conv_geom *g, const float *x, const float *y_relu,
                                         const float *dy, const float *w, const uint16_t *wt16,
                                         float *dw, float *dws, float *db, float *dx,
                                         float *scratch)
{
    static const uint16_t none = 0; /* marks bf16 where dx (and so wt16) is not wanted */
    return backward(g, x, y_relu, dy, w, NULL, wt16 ? wt16 : &none, dw, dws, db, dx, scratch);
}

bool fv_conv_bwd_uses_lists(const fv_conv_geom *g)
{
    cgeo G;
    geo_init(g, &G);
    return lists_apply(&G);
}

int64_t fv_conv_bwd_nonzeros(const fv_conv_geom *g, const float *scratch)
{
    cgeo G;
    bwd_layout L; /* lp_start lies before the bf16 parts: the same offset in both layouts */
    geo_init(g, &G);
    if (!lists_apply(&G)) return -1;
    bwd_layout_of(g, &G, false, &L);
    return ((const int32_t *)(scratch + L.lp_start))[G.P];
}

/* ---- the weight gradient of several images in one pass ----------------------------------------
 * The images' (padded) inputs side by side, every pixel of every image in one list of window
 * origins, and dw_dense over that list: each tile's accumulators reduce over n·P pixels, where
 * the per-image tiles reduce over P (49 on a ResNet's last stage), and no im2col rows are
 * written (the GEMM this replaces read 9× the input through them). */

typedef struct dwi_layout {
    int64_t img;          /* floats from one image's (padded) input to the next */
    int64_t xs, pb, gz;   /* offsets in the scratch */
    int64_t total, ldg;   /* scratch floats; the gradient rows' leading dimension */
    bool copy_x, copy_gz; /* padded copies of x; ∂L/∂z copied to rows of ldg floats */
} dwi_layout;

static void dwi_layout_of(const cgeo *G, int64_t n, dwi_layout *L)
{
    L->copy_x = G->padded;
    L->img = G->padded ? round16(G->Hp * G->Wp * G->C) : G->Hp * G->Wp * G->C;
    L->copy_gz = G->F % 16 != 0; /* the tiles read whole vectors of 8 or 16 filters */
    L->ldg = L->copy_gz ? round16(G->F) : G->F;
    int64_t o = 0;
    L->xs = o, o += L->copy_x ? n * L->img : 0;
    L->pb = o, o += round16(n * G->P);
    L->gz = o, o += L->copy_gz ? round16(n * G->P * L->ldg) : 0;
    L->total = o;
}

int64_t fv_conv_dw_images_max(const fv_conv_geom *g)
{
    cgeo G;
    dwi_layout L;
    geo_init(g, &G);
    dwi_layout_of(&G, 1, &L);
    return (INT32_MAX - G.Hp * G.Wp * G.C) / L.img + 1;
}

int64_t fv_conv_dw_images_scratch_floats(const fv_conv_geom *g, int64_t n)
{
    cgeo G;
    dwi_layout L;
    geo_init(g, &G);
    dwi_layout_of(&G, n, &L);
    return L.total;
}

void fv_conv_dw_images(const fv_conv_geom *g, int64_t n, const float *x, const float *dz, float *dw,
                       float *scratch)
{
    cgeo G;
    dwi_layout L;
    geo_init(g, &G);
    dwi_layout_of(&G, n, &L);
    const int64_t P = G.P, F = G.F, in_sz = g->in_h * g->in_w * g->in_c;
    const float *xs = x, *gz = dz;
    int32_t *pb = (int32_t *)(scratch + L.pb);
    if (L.copy_x) {
        float *d = scratch + L.xs;
        for (int64_t i = 0; i < n; i++)
            pad_copy(g, &G, x + i * in_sz, d + i * L.img);
        xs = d;
    }
    if (L.copy_gz) {
        float *d = scratch + L.gz;
        for (int64_t p = 0; p < n * P; p++) {
            memcpy(d + p * L.ldg, dz + p * F, (size_t)F * sizeof(float));
            memset(d + p * L.ldg + F, 0, (size_t)(L.ldg - F) * sizeof(float));
        }
        gz = d;
    }
    pixel_bases(&G, pb);
    for (int64_t i = 1; i < n; i++)
        for (int64_t p = 0; p < P; p++)
            pb[i * P + p] = (int32_t)(i * L.img + pb[p]);
    cgeo all = G;
    all.P = n * P;
    dw_dense(fns(), &all, xs, pb, gz, L.ldg, dw);
}
