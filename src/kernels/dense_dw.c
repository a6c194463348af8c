/* dense_dw.c — the dense layer's weight gradient: dW += Σ over a run's chunks of X_cᵀ·dY_c, each
 * chunk's sum a chain over its samples (VDPBF16PS over pairs of samples at precision=bf16, bf16.h;
 * FMAs in fp32, kernels.h), the chunks added as a balanced tree, in one pass per register tile.
 */
#include "kernels/bf16.h"
#include "kernels/gemm_internal.h"

#include <string.h>

#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#define FV_DW_X86 1
#include <immintrin.h>
#endif

/* The deepest chunk tree: 16 chunks, 5 levels of partial sums on the stack. */
enum { MAX_CHUNKS = 16, LEVELS = 5, TK = 8, TJ = 32 };

static bool bounds_ok(int nchunks, const int64_t *bounds)
{
    if (nchunks < 1 || nchunks > MAX_CHUNKS || (nchunks & (nchunks - 1)) != 0) return false;
    for (int c = 0; c < nchunks; c++)
        if (bounds[c + 1] < bounds[c]) return false;
    return true;
}

int64_t fv_dense_bf16_pair_rows(int nchunks, const int64_t *bounds)
{
    int64_t rows = 0;
    for (int c = 0; c < nchunks; c++)
        rows += (bounds[c + 1] - bounds[c] + 1) / 2;
    return rows;
}

void fv_dense_bf16_pack_pairs(const float *X, int64_t ldx, int64_t cols, int nchunks,
                              const int64_t *bounds, uint16_t *out, int64_t ld)
{
    int64_t q = 0;
    for (int c = 0; c < nchunks; c++)
        for (int64_t s = bounds[c]; s < bounds[c + 1]; s += 2, q++)
            fv__bf16_interleave(X + s * ldx, s + 1 < bounds[c + 1] ? X + (s + 1) * ldx : NULL, cols,
                                out + 2 * q * ld);
}

/* The dword (pair) q of a bf16 array, within C's aliasing rules. */
static inline uint32_t pair_at(const uint16_t *x, int64_t q)
{
    uint32_t v;
    memcpy(&v, x + 2 * q, sizeof v);
    return v;
}

/* The specification, one element at a time: each chunk's chain of fv_vdpbf16ps_lane (dY's pair
 * as src1, X's as src2, as the GEMM's dot order has them), the chunk sums pushed on a stack where
 * two sums of the same level are added (left + right) into one of the next level (for a power
 * of two of chunks, the balanced tree t[j] + t[j + w]), then dW + the tree. */
static void dw_emul(int64_t m, int64_t N, int nchunks, const int64_t *bounds, const uint16_t *xp,
                    int64_t ldxp, const uint16_t *dyp, int64_t lddyp, float *dw, int64_t lddw)
{
    for (int64_t k = 0; k < m; k++)
        for (int64_t j = 0; j < N; j++) {
            float st[LEVELS + 1];
            int level[LEVELS + 1], depth = 0;
            int64_t q = 0;
            for (int c = 0; c < nchunks; c++) {
                float acc = 0.0f;
                for (int64_t s = bounds[c]; s < bounds[c + 1]; s += 2, q++)
                    acc = fv_vdpbf16ps_lane(acc, pair_at(dyp, q * lddyp + j),
                                            pair_at(xp, q * ldxp + k));
                int lv = 0;
                while (depth > 0 && level[depth - 1] == lv)
                    acc = st[--depth] + acc, lv++;
                st[depth] = acc, level[depth++] = lv;
            }
            dw[k * lddw + j] = dw[k * lddw + j] + st[0];
        }
}

#if defined(FV_DW_X86)
/* One template for both kinds (always inlined, so compiled for the union of their instruction
 * sets); the fp32 instance contains no bf16 instruction, but runs only where the CPU has them
 * all (fv_dense_dw_f32). */
#define DW_ALL_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma")))

/* The operands of a tile: bf16 pair rows (xp, dyp: dwords, rows ldx and lddy apart, one row per
 * pair of samples) or fp32 rows (x, dy: one row per sample). */
typedef struct dw_src {
    const uint16_t *xp, *dyp;
    const float *x, *dy;
    int64_t ldx, lddy;
} dw_src;

/* nk (≤ TK) rows of dW × 32 columns (masks m0, m1 for the two halves): 2·nk zmm accumulators
 * per chunk; per pair of samples (bf16) or sample (fp32) two loads of dY and nk broadcasts of X.
 * The stack of partial sums lives in st (L1), the chunk being summed in registers. */
DW_ALL_ATTR static inline __attribute__((always_inline)) void
dw_tile(const bool bf16, const int nk, int64_t k0, int64_t j0, __mmask16 m0, __mmask16 m1,
        int nchunks, const int64_t *bounds, dw_src src, float *dw, int64_t lddw, float *st)
{
    int level[LEVELS + 1], depth = 0;
    int64_t q = 0;
    for (int c = 0; c < nchunks; c++) {
        __m512 a0[TK], a1[TK];
#pragma GCC unroll 8
        for (int kk = 0; kk < nk; kk++)
            a0[kk] = _mm512_setzero_ps(), a1[kk] = _mm512_setzero_ps();
        for (int64_t s = bounds[c]; bf16 && s < bounds[c + 1]; s += 2, q++) {
            const uint16_t *dr = src.dyp + 2 * (q * src.lddy + j0);
            const __m512bh b0 = (__m512bh)_mm512_maskz_loadu_epi32(m0, dr);
            const __m512bh b1 = (__m512bh)_mm512_maskz_loadu_epi32(m1, dr + 32);
            const uint16_t *xr = src.xp + 2 * (q * src.ldx + k0);
#pragma GCC unroll 8
            for (int kk = 0; kk < nk; kk++) {
                const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)pair_at(xr, kk));
                a0[kk] = _mm512_dpbf16_ps(a0[kk], b0, ai);
                a1[kk] = _mm512_dpbf16_ps(a1[kk], b1, ai);
            }
        }
        /* fp32: the FMA chain of fv_gemm's tiles (gemm_tile.h: acc = fma(a, b, acc) from 0). */
        for (int64_t s = bounds[c]; !bf16 && s < bounds[c + 1]; s++) {
            const float *dr = src.dy + s * src.lddy + j0;
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, dr);
            const __m512 b1 = _mm512_maskz_loadu_ps(m1, dr + 16);
            const float *xr = src.x + s * src.ldx + k0;
#pragma GCC unroll 8
            for (int kk = 0; kk < nk; kk++) {
                const __m512 ai = _mm512_set1_ps(xr[kk]);
                a0[kk] = _mm512_fmadd_ps(ai, b0, a0[kk]);
                a1[kk] = _mm512_fmadd_ps(ai, b1, a1[kk]);
            }
        }
        int lv = 0;
        while (depth > 0 && level[depth - 1] == lv) {
            const float *s = st + (depth - 1) * TK * TJ;
#pragma GCC unroll 8
            for (int kk = 0; kk < nk; kk++) {
                a0[kk] = _mm512_add_ps(_mm512_loadu_ps(s + kk * TJ), a0[kk]);
                a1[kk] = _mm512_add_ps(_mm512_loadu_ps(s + kk * TJ + 16), a1[kk]);
            }
            lv++, depth--;
        }
        float *s = st + depth * TK * TJ;
#pragma GCC unroll 8
        for (int kk = 0; kk < nk; kk++) {
            _mm512_storeu_ps(s + kk * TJ, a0[kk]);
            _mm512_storeu_ps(s + kk * TJ + 16, a1[kk]);
        }
        level[depth++] = lv;
    }
#pragma GCC unroll 8
    for (int kk = 0; kk < nk; kk++) {
        float *d = dw + (k0 + kk) * lddw + j0;
        _mm512_mask_storeu_ps(
            d, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, d), _mm512_loadu_ps(st + kk * TJ)));
        _mm512_mask_storeu_ps(
            d + 16, m1,
            _mm512_add_ps(_mm512_maskz_loadu_ps(m1, d + 16), _mm512_loadu_ps(st + kk * TJ + 16)));
    }
}

/* Every tile of dW [m × N], row tiles of TK outer; bf16 selects the operands' kind. */
DW_ALL_ATTR static inline __attribute__((always_inline)) void
dw_tiles(const bool bf16, int64_t m, int64_t N, int nchunks, const int64_t *bounds, dw_src src,
         float *dw, int64_t lddw)
{
    _Alignas(64) float st[(LEVELS + 1) * TK * TJ];
    for (int64_t k0 = 0; k0 < m; k0 += TK) {
        for (int64_t j0 = 0; j0 < N; j0 += TJ) {
            /* dW's rows are read once, at a tile's end, from memory (4.7 MB for the seed's dense
             * layer): ask for those of the same columns one row of tiles ahead (N/32 tiles of
             * time), and for the first row's own. */
            for (int64_t k = k0 == 0 ? 0 : k0 + TK; k < k0 + 2 * TK && k < m; k++) {
                _mm_prefetch((const char *)(dw + k * lddw + j0), _MM_HINT_T0);
                _mm_prefetch((const char *)(dw + k * lddw + j0 + 16), _MM_HINT_T0);
            }
            const int64_t w0 = N - j0 >= 16 ? 16 : N - j0, w1 = N - j0 >= 32 ? 16 : N - j0 - w0;
            const __mmask16 m0 = (__mmask16)((1u << w0) - 1), m1 = (__mmask16)((1u << w1) - 1);
            if (m - k0 >= TK) {
                dw_tile(bf16, TK, k0, j0, m0, m1, nchunks, bounds, src, dw, lddw, st);
            } else {
                for (int64_t k = k0; k < m; k++)
                    dw_tile(bf16, 1, k, j0, m0, m1, nchunks, bounds, src, dw, lddw, st);
            }
        }
    }
}

DW_ALL_ATTR static void dw_avx512(int64_t m, int64_t N, int nchunks, const int64_t *bounds,
                                  const uint16_t *xp, int64_t ldxp, const uint16_t *dyp,
                                  int64_t lddyp, float *dw, int64_t lddw)
{
    const dw_src src = {xp, dyp, NULL, NULL, ldxp, lddyp};
    dw_tiles(true, m, N, nchunks, bounds, src, dw, lddw);
}

DW_ALL_ATTR static void dw_f32_avx512(int64_t m, int64_t N, int nchunks, const int64_t *bounds,
                                      const float *x, int64_t ldx, const float *dy, int64_t lddy,
                                      float *dw, int64_t lddw)
{
    const dw_src src = {NULL, NULL, x, dy, ldx, lddy};
    dw_tiles(false, m, N, nchunks, bounds, src, dw, lddw);
}
#endif

bool fv_dense_dw_f32(int64_t m, int64_t N, int nchunks, const int64_t *bounds, const float *x,
                     int64_t ldx, const float *dy, int64_t lddy, float *dw, int64_t lddw)
{
#if defined(FV_DW_X86)
    /* fv_gemm's chain is one block of depth up to its KC = 256 (gemm.c): chunks that fit. */
    if (!bounds_ok(nchunks, bounds) || strcmp(fv_gemm_path(), "avx512") != 0 ||
        !fv__cpu_has_avx512_bf16())
        return false;
    for (int c = 0; c < nchunks; c++)
        if (bounds[c + 1] - bounds[c] > 256) return false;
    dw_f32_avx512(m, N, nchunks, bounds, x, ldx, dy, lddy, dw, lddw);
    return true;
#else
    (void)m, (void)N, (void)nchunks, (void)bounds, (void)x, (void)ldx, (void)dy, (void)lddy;
    (void)dw, (void)lddw;
    return false;
#endif
}

bool fv__dense_dw_bf16_on(int impl, int64_t m, int64_t N, int nchunks, const int64_t *bounds,
                          const uint16_t *xp, int64_t ldxp, const uint16_t *dyp, int64_t lddyp,
                          float *dw, int64_t lddw)
{
    if (!bounds_ok(nchunks, bounds)) return false;
    if (impl == 0) {
        dw_emul(m, N, nchunks, bounds, xp, ldxp, dyp, lddyp, dw, lddw);
        return true;
    }
#if defined(FV_DW_X86)
    if (impl == 1 && fv__cpu_has_avx512_bf16()) {
        dw_avx512(m, N, nchunks, bounds, xp, ldxp, dyp, lddyp, dw, lddw);
        return true;
    }
#endif
    return false;
}

void fv_dense_dw_bf16(int64_t m, int64_t N, int nchunks, const int64_t *bounds, const uint16_t *xp,
                      int64_t ldxp, const uint16_t *dyp, int64_t lddyp, float *dw, int64_t lddw)
{
    if (!fv__dense_dw_bf16_on(fv__cpu_has_avx512_bf16() ? 1 : 0, m, N, nchunks, bounds, xp, ldxp,
                              dyp, lddyp, dw, lddw))
        fv__dense_dw_bf16_on(0, m, N, nchunks, bounds, xp, ldxp, dyp, lddyp, dw, lddw);
}
