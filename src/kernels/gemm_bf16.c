/* gemm_bf16.c — GEMM with bf16 products and fp32 accumulation (bf16.h): B packed once into pairs
 * along K, A rounded to bf16 per block, register tiles for AVX512_BF16 (vdpbf16ps), tile code for
 * AMX-BF16 (tdpbf16ps), and the same drivers on the portable emulations, chosen at run time.
 */
#include "kernels/bf16.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#define FV_BF16_X86 1
#include <immintrin.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

/* Blocking: panels of NR = 32 columns (two zmm, or two 16-column AMX tiles); NC columns of C per
 * block; KB pairs (2·KB of K) per depth block, a multiple of the AMX tile depth (16 pairs).
 * The fp32 accumulators of a row strip carry from one depth block to the next through acc[]
 * unrounded, so the blocking changes no result. */
enum { NR = 32, NC = 128, KB = 256, MR_MAX = 32, MR_DOT = 12, MR_AMX = 32 };
_Static_assert(NC % NR == 0 && KB % 16 == 0, "blocking must fit the tiles");

double fv_bf16_gemm_rtol(int64_t K)
{
    return ldexp(1.0, -7) + ldexp(1.0, -15) + (double)(K + 1) * ldexp(1.0, -23);
}

/* K rounded up to a multiple of 32, and the pairs in it. */
static inline int64_t kpad(int64_t K)
{
    return (K + 31) / 32 * 32;
}

int64_t fv_gemm_bf16_packed_size(int64_t K, int64_t N)
{
    if (K < 0 || N < 0 || K > INT64_MAX / 2 || N > INT64_MAX / 2) return -1;
    const int64_t kp = kpad(K), np = (N + NR - 1) / NR * NR;
    if (np != 0 && kp > INT64_MAX / np) return -1;
    return kp * np;
}

/* ---- interleaving two rows into pairs ----------------------------------------------------------
 * out[2j] = bf16(r0[j]), out[2j+1] = bf16(r1[j]) (0 when r1 is NULL), j < n: two rows of K
 * (k, k+1) become n dwords, the pair layout of both packed operands. */
typedef void (*interleave_fn)(const float *r0, const float *r1, int64_t n, uint16_t *out);

static void interleave_generic(const float *r0, const float *r1, int64_t n, uint16_t *out)
{
    for (int64_t j = 0; j < n; j++) {
        out[2 * j] = fv_bf16_from_f32(r0[j]);
        out[2 * j + 1] = r1 ? fv_bf16_from_f32(r1[j]) : 0;
    }
}

#if defined(FV_BF16_X86)
#define DOT_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* 16 columns at a time: VCVTNE2PS2BF16 rounds both rows (bit-identical to fv_bf16_from_f32),
 * VPERMW interleaves them. */
DOT_ATTR static void interleave_avx512(const float *r0, const float *r1, int64_t n, uint16_t *out)
{
    static const uint16_t order[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                       21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                       11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_loadu_si512(order);
    for (int64_t j = 0; j < n; j += 16) {
        const int64_t w = n - j < 16 ? n - j : 16;
        const __mmask16 k = (__mmask16)((1u << w) - 1);
        const __m512 v0 = _mm512_maskz_loadu_ps(k, r0 + j);
        const __m512 v1 = r1 ? _mm512_maskz_loadu_ps(k, r1 + j) : _mm512_setzero_ps();
        const __m512i x = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(v1, v0));
        const __mmask32 k2 = w == 16 ? 0xFFFFFFFFu : (__mmask32)((1u << (2 * w)) - 1);
        _mm512_mask_storeu_epi16(out + 2 * j, k2, x);
    }
}
#endif

/* The k-major packing of pack_a below for one strip: ap[2(p·mr + i) + h] = bf16 of op(A)(ic+i,
 * k0+2p+h) = A[(k0+2p+h)·lda + ic+i], zero past K and for i >= m. */
typedef void (*pack_kmajor_fn)(uint16_t *ap, const float *A, int64_t lda, int64_t K, int64_t k0,
                               int64_t ic, int64_t m, int mr, int64_t kb);

static void pack_kmajor_generic(uint16_t *ap, const float *A, int64_t lda, int64_t K, int64_t k0,
                                int64_t ic, int64_t m, int mr, int64_t kb)
{
    memset(ap, 0, (size_t)(2 * kb * mr) * sizeof *ap);
    for (int64_t p = 0; p < kb && k0 + 2 * p < K; p++) {
        const int64_t k = k0 + 2 * p;
        interleave_generic(A + k * lda + ic, k + 1 < K ? A + (k + 1) * lda + ic : NULL, m,
                           ap + 2 * p * mr);
    }
}

#if defined(FV_BF16_X86)
/* mr <= 16: one masked load per stored row of A and pair half, one conversion and one VPERMW per
 * pair, the rows past m (and past K) loaded as zeros. */
DOT_ATTR static void pack_kmajor_avx512(uint16_t *ap, const float *A, int64_t lda, int64_t K,
                                        int64_t k0, int64_t ic, int64_t m, int mr, int64_t kb)
{
    static const uint16_t order[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                       21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                       11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_loadu_si512(order);
    const __mmask16 km = (__mmask16)((1u << m) - 1);
    const __mmask32 ks = (__mmask32)(((uint64_t)1 << (2 * mr)) - 1);
    for (int64_t p = 0; p < kb; p++) {
        const int64_t k = k0 + 2 * p;
        const __m512 v0 = k < K ? _mm512_maskz_loadu_ps(km, A + k * lda + ic) : _mm512_setzero_ps();
        const __m512 v1 =
            k + 1 < K ? _mm512_maskz_loadu_ps(km, A + (k + 1) * lda + ic) : _mm512_setzero_ps();
        const __m512i x = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(v1, v0));
        _mm512_mask_storeu_epi16(ap + 2 * p * mr, ks, x);
    }
}
#endif

#if defined(FV_BF16_X86)
/* Transposes 16 × 16 dwords in place: r[i] dword e becomes r[e] dword i. */
DOT_ATTR static inline void transpose16(__m512i r[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4g + c], 128-bit lane L: rows 4g .. 4g+3 at dword 4L + c. */
    for (int g = 0; g < 16; g += 4) {
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i v = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
        const __m512i w = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xDD);
        const __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
        const __m512i w2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_i32x4(v, v2, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(w, w2, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(v, v2, 0xDD);
        r[12 + c] = _mm512_shuffle_i32x4(w, w2, 0xDD);
    }
}

/* One full panel (32 columns) of a transposed B, 32 deep from k0: column j0+j of op(B) is row
 * j0+j of B, whose 32 floats round into 16 pairs (one zmm); two 16 × 16 transposes turn the
 * columns' pairs into the panel's pair rows. */
DOT_ATTR static void pack_bt_block_avx512(uint16_t *panel, const float *B, int64_t ldb, int64_t j0,
                                          int64_t k0)
{
    for (int h = 0; h < 2; h++) {
        __m512i r[16];
        for (int j = 0; j < 16; j++) {
            const float *row = B + (j0 + 16 * h + j) * ldb + k0;
            r[j] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + 16), _mm512_loadu_ps(row));
        }
        transpose16(r);
        for (int p = 0; p < 16; p++)
            _mm512_storeu_si512(panel + (k0 / 2 + p) * 2 * NR + 32 * h, r[p]);
    }
}
#endif

#if defined(FV_BF16_X86)
/* The whole pairs of rows of one full panel (32 columns from j0) of an untransposed B: per pair
 * row, four loads, two VCVTNE2PS2BF16 and two VPERMW, as interleave_avx512 (the same bits),
 * without a call per row. Returns the first row not packed (K rounded down to even). */
DOT_ATTR static int64_t pack_rows_avx512(uint16_t *panel, const float *B, int64_t ldb, int64_t j0,
                                         int64_t K)
{
    static const uint16_t order[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                       21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                       11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_loadu_si512(order);
    int64_t k = 0;
    for (; k + 2 <= K; k += 2) {
        const float *r0 = B + k * ldb + j0, *r1 = r0 + ldb;
        const __m512i lo = _mm512_permutexvar_epi16(
            idx, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(r1), _mm512_loadu_ps(r0)));
        const __m512i hi = _mm512_permutexvar_epi16(
            idx, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(r1 + 16), _mm512_loadu_ps(r0 + 16)));
        _mm512_storeu_si512(panel + k * NR, lo);
        _mm512_storeu_si512(panel + k * NR + 32, hi);
    }
    return k;
}
#endif

static interleave_fn best_interleave(void)
{
#if defined(FV_BF16_X86)
    if (fv__cpu_has_avx512_bf16()) return interleave_avx512;
#endif
    return interleave_generic;
}

void fv__bf16_interleave(const float *r0, const float *r1, int64_t n, uint16_t *out)
{
    best_interleave()(r0, r1, n, out);
}

void fv_gemm_bf16_pack_b(bool trans_b, int64_t K, int64_t N, const float *B, int64_t ldb,
                         uint16_t *bp)
{
    const int64_t kp = kpad(K), np = (N + NR - 1) / NR * NR;
    const interleave_fn il = best_interleave();
    for (int64_t j0 = 0; j0 < np; j0 += NR) {
        uint16_t *panel = bp + j0 * kp;
        const int64_t n = N - j0 < NR ? (N - j0 > 0 ? N - j0 : 0) : NR;
        /* Zeros where nothing below writes: a full panel's pair rows past K's whole pairs (the
         * odd last k's partner and the padding to kp), else everything first. */
        const int64_t z = n == NR ? K / 2 * 2 * NR : 0;
        memset(panel + z, 0, (size_t)(NR * kp - z) * sizeof *panel);
        if (!trans_b) {
            /* Rows k and k+1 of B, n columns each, into pair row k/2 of the panel. */
            int64_t k = 0;
#if defined(FV_BF16_X86)
            if (n == NR && fv__cpu_has_avx512_bf16()) k = pack_rows_avx512(panel, B, ldb, j0, K);
#endif
            for (; k < K; k += 2)
                il(B + k * ldb + j0, k + 1 < K ? B + (k + 1) * ldb + j0 : NULL, n, panel + k * NR);
        } else {
            /* Column j of op(B) is row j0+j of B: its pairs lie contiguous there. */
            int64_t kv = 0;
#if defined(FV_BF16_X86)
            if (n == NR && fv__cpu_has_avx512_bf16())
                for (; kv + 32 <= K; kv += 32)
                    pack_bt_block_avx512(panel, B, ldb, j0, kv);
#endif
            for (int64_t j = 0; j < n; j++) {
                const float *src = B + (j0 + j) * ldb;
                for (int64_t k = kv; k < K; k++)
                    panel[(k / 2) * 2 * NR + 2 * j + k % 2] = fv_bf16_from_f32(src[k]);
            }
        }
    }
}

/* ---- A: a row strip rounded to bf16, as pairs ------------------------------------------------
 * Pair p of row i (elements k = 2(pc+p) and k+1 of row ic+i of op(A), rounded to bf16, k in the
 * low half; zero past K and for rows i >= m, up to mr) is the dword at ap[2(i·si + p·sp)]:
 *   row-major (si = kb, sp = 1): what AMX loads as tiles (16 rows × 16 pairs, stride kb dwords),
 *     and what the dot tiles read when A is row-major (each row converted as one run);
 *   k-major (si = 1, sp = mr): for a transposed A, whose stored rows are rows of K: two of them
 *     interleave into the mr pairs of one p. */
static void pack_a(uint16_t *restrict ap, bool kmajor, pack_kmajor_fn pk, bool trans_a,
                   const float *restrict A, int64_t lda, int64_t K, int64_t ic, int64_t m, int mr,
                   int64_t pc, int64_t kb)
{
    const int64_t k0 = 2 * pc, kn = 2 * kb;
    if (kmajor) {
        /* trans_a: element (i, k) of op(A) is A[k·lda + i]. */
        pk(ap, A, lda, K, k0, ic, m, mr, kb);
        return;
    }
    /* Elements inside K (converted as a run where A is row-major); the rest are zero. */
    const int64_t kfull = K - k0 >= kn ? kn : K - k0;
    for (int64_t i = 0; i < mr; i++) {
        uint16_t *dst = ap + 2 * i * kb;
        if (i >= m) {
            memset(dst, 0, (size_t)kn * sizeof *dst);
            continue;
        }
        if (!trans_a) {
            fv_bf16_from_f32_n(A + (ic + i) * lda + k0, dst, kfull);
        } else {
            for (int64_t k = 0; k < kfull; k++)
                dst[k] = fv_bf16_from_f32(A[(k0 + k) * lda + ic + i]);
        }
        for (int64_t k = kfull; k < kn; k++)
            dst[k] = 0;
    }
}

/* ---- tiles -------------------------------------------------------------------------------------
 * A tile accumulates acc[mr × 32] (leading dimension ldacc; starting from zero when first, else
 * from acc) += the kb pairs of a (pack_a, mr rows; pair p of row i at dword i·si + p·sp) times
 * the panel rows b (pair row p at dword p·32). AMX tiles take a row-major a (sp = 1). */
typedef void (*tile_fn)(int64_t kb, const uint16_t *a, int64_t si, int64_t sp, const uint16_t *b,
                        float *acc, int64_t ldacc, bool first);

/* The dword (pair) q of a bf16 array; memcpy keeps the access within C's aliasing rules. */
static inline uint32_t pair_at(const uint16_t *x, int64_t q)
{
    uint32_t v;
    memcpy(&v, x + 2 * q, sizeof v);
    return v;
}
/* C[m × n] ← alpha·acc (+ beta·C), the formula in bf16.h. */
typedef void (*epi_fn)(int64_t m, int64_t n, const float *acc, int64_t ldacc, float *C, int64_t ldc,
                       float alpha, float beta);

static void epi_generic(int64_t m, int64_t n, const float *acc, int64_t ldacc, float *C,
                        int64_t ldc, float alpha, float beta)
{
    for (int64_t i = 0; i < m; i++) {
        float *c = C + i * ldc;
        const float *s = acc + i * ldacc;
        for (int64_t j = 0; j < n; j++)
            c[j] = beta == 0.0f   ? alpha * s[j]
                   : beta == 1.0f ? fmaf(alpha, s[j], c[j])
                                  : fmaf(alpha, s[j], beta * c[j]);
    }
}

/* The dot order on the emulation: B is src1, the broadcast A pair src2. */
static void dot_emul(int64_t kb, const uint16_t *a, int64_t si, int64_t sp, const uint16_t *b,
                     float *acc, int64_t ldacc, bool first)
{
    for (int i = 0; i < MR_DOT; i++) {
        float *c = acc + i * ldacc;
        if (first)
            for (int j = 0; j < NR; j++)
                c[j] = 0.0f;
        for (int64_t p = 0; p < kb; p++) {
            const uint32_t ai = pair_at(a, i * si + p * sp);
            for (int j = 0; j < NR; j++)
                c[j] = fv_vdpbf16ps_lane(c[j], pair_at(b, p * NR + j), ai);
        }
    }
}

#if defined(FV_BF16_X86)
/* 12 rows × 32 columns: 24 zmm accumulators; per pair, two loads of B and one broadcast of A
 * per row (folded into vdpbf16ps's m32bcst operand). */
DOT_ATTR static void dot_avx512(int64_t kb, const uint16_t *a, int64_t si, int64_t sp,
                                const uint16_t *b, float *acc, int64_t ldacc, bool first)
{
    __m512 c0[MR_DOT], c1[MR_DOT];
#pragma GCC unroll 12
    for (int i = 0; i < MR_DOT; i++) {
        c0[i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + i * ldacc);
        c1[i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + i * ldacc + 16);
    }
    for (int64_t p = 0; p < kb; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + 2 * p * NR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 2 * p * NR + 32);
#pragma GCC unroll 12
        for (int i = 0; i < MR_DOT; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)pair_at(a, i * si + p * sp));
            c0[i] = _mm512_dpbf16_ps(c0[i], b0, ai);
            c1[i] = _mm512_dpbf16_ps(c1[i], b1, ai);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR_DOT; i++) {
        _mm512_storeu_ps(acc + i * ldacc, c0[i]);
        _mm512_storeu_ps(acc + i * ldacc + 16, c1[i]);
    }
}

/* epi_generic with AVX-512 (the same correctly rounded operations, so the same bits). */
DOT_ATTR static void epi_avx512(int64_t m, int64_t n, const float *acc, int64_t ldacc, float *C,
                                int64_t ldc, float alpha, float beta)
{
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int64_t i = 0; i < m; i++) {
        float *c = C + i * ldc;
        const float *s = acc + i * ldacc;
        for (int64_t j = 0; j < n; j += 16) {
            const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
            const __m512 x = _mm512_maskz_loadu_ps(k, s + j);
            __m512 r;
            if (beta == 0.0f)
                r = _mm512_mul_ps(va, x);
            else if (beta == 1.0f)
                r = _mm512_fmadd_ps(va, x, _mm512_maskz_loadu_ps(k, c + j));
            else
                r = _mm512_fmadd_ps(va, x, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(k, c + j)));
            _mm512_mask_storeu_ps(c + j, k, r);
        }
    }
}
#endif

/* ---- AMX ---------------------------------------------------------------------------------------
 * One tile function, written once over tile operations, compiled twice: on the hardware
 * (tileloadd, tdpbf16ps, ...) and on memory tiles with fv_tdpbf16ps_emul, so that the order in
 * which the hardware path loads and multiplies tiles is the code the emulation tests. Tiles: C
 * 0..3 (2 × 2 of 16 rows × 16 fp32), A 4..5 (rows 0-15, 16-31; 16 pairs each), B 6..7 (columns
 * 0-15, 16-31 of the panel; 16 pair-rows at a 128-byte stride). All are 16 rows × 64 bytes. */
#define AMX_TILE_BODY(ZERO, LOAD, STORE, DP)                                                       \
    do {                                                                                           \
        const int64_t sc = ldacc * 4, sa = si * 4;                                                 \
        if (first) {                                                                               \
            ZERO(0);                                                                               \
            ZERO(1);                                                                               \
            ZERO(2);                                                                               \
            ZERO(3);                                                                               \
        } else {                                                                                   \
            LOAD(0, acc, sc);                                                                      \
            LOAD(1, acc + 16, sc);                                                                 \
            LOAD(2, acc + 16 * ldacc, sc);                                                         \
            LOAD(3, acc + 16 * ldacc + 16, sc);                                                    \
        }                                                                                          \
        for (int64_t t = 0; t < kb; t += 16) {                                                     \
            LOAD(4, a + 2 * t, sa);                                                                \
            LOAD(5, a + 2 * (16 * si + t), sa);                                                    \
            LOAD(6, b + 2 * t * NR, NR * 4);                                                       \
            LOAD(7, b + 2 * t * NR + 32, NR * 4);                                                  \
            DP(0, 4, 6);                                                                           \
            DP(1, 4, 7);                                                                           \
            DP(2, 5, 6);                                                                           \
            DP(3, 5, 7);                                                                           \
        }                                                                                          \
        STORE(0, acc, sc);                                                                         \
        STORE(1, acc + 16, sc);                                                                    \
        STORE(2, acc + 16 * ldacc, sc);                                                            \
        STORE(3, acc + 16 * ldacc + 16, sc);                                                       \
    } while (0)

/* The emulated tile registers: one set per thread, configured as the hardware's palette 1
 * configuration below (every tile 16 rows × 64 bytes). */
static _Thread_local fv_amx_tile emu_tiles[8];

static void emu_config(void)
{
    for (int i = 0; i < 8; i++)
        emu_tiles[i].rows = 16, emu_tiles[i].colsb = 64;
}

static void emu_zero(int t)
{
    memset(emu_tiles[t].data, 0, sizeof emu_tiles[t].data);
}

static void emu_load(int t, const void *p, int64_t stride)
{
    fv_amx_tile *x = &emu_tiles[t];
    memset(x->data, 0, sizeof x->data);
    for (int r = 0; r < x->rows; r++)
        memcpy(x->data + r * 64, (const uint8_t *)p + r * stride, (size_t)x->colsb);
}

static void emu_store(int t, void *p, int64_t stride)
{
    const fv_amx_tile *x = &emu_tiles[t];
    for (int r = 0; r < x->rows; r++)
        memcpy((uint8_t *)p + r * stride, x->data + r * 64, (size_t)x->colsb);
}

static void emu_dp(int c, int a, int b)
{
    fv_tdpbf16ps_emul(&emu_tiles[c], &emu_tiles[a], &emu_tiles[b]);
}

static void amx_emul(int64_t kb, const uint16_t *a, int64_t si, int64_t sp, const uint16_t *b,
                     float *acc, int64_t ldacc, bool first)
{
    (void)sp; /* row-major A: sp = 1 */
    AMX_TILE_BODY(emu_zero, emu_load, emu_store, emu_dp);
}

#if defined(FV_BF16_X86)
#define AMX_ATTR          __attribute__((target("amx-tile,amx-bf16")))
#define HW_ZERO(t)        _tile_zero(t)
#define HW_LOAD(t, p, s)  _tile_loadd(t, p, s)
#define HW_STORE(t, p, s) _tile_stored(t, p, s)
#define HW_DP(c, a, b)    _tile_dpbf16ps(c, a, b)

AMX_ATTR static void amx_hw(int64_t kb, const uint16_t *a, int64_t si, int64_t sp,
                            const uint16_t *b, float *acc, int64_t ldacc, bool first)
{
    (void)sp; /* row-major A: sp = 1 */
    AMX_TILE_BODY(HW_ZERO, HW_LOAD, HW_STORE, HW_DP);
}

/* Palette 1, every tile 16 rows × 64 bytes (SDM LDTILECFG: byte 0 palette, bytes 16.. colsb as
 * 16-bit words, bytes 48.. rows as bytes). */
AMX_ATTR static void amx_hw_config(void)
{
    _Alignas(64) uint8_t cfg[64] = {0};
    cfg[0] = 1;
    for (int t = 0; t < 8; t++) {
        cfg[16 + 2 * t] = 64;
        cfg[48 + t] = 16;
    }
    _tile_loadconfig(cfg);
}

AMX_ATTR static void amx_hw_release(void)
{
    _tile_release();
}
#endif

/* ---- the driver ---------------------------------------------------------------------------- */

typedef struct bf16_path {
    int mr;
    bool amx; /* K in whole 16-pair tiles (the packed B's padding) rather than ceil(K/2) pairs */
    tile_fn tile;
    epi_fn epi;
    pack_kmajor_fn pk; /* the conversion of a transposed A's rows into pairs */
} bf16_path;

static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : C[i * ldc + j] * beta;
}

/* Asks for a block of A (rows r0 .. r0+mr of op(A), pairs pc .. pc+kb) ahead of its packing,
 * so that converting A does not wait on memory at each block's start (the hardware prefetcher
 * follows the block's many short row streams too slowly). One request per 64-byte line. */
static void prefetch_block(const float *A, int64_t lda, bool trans_a, int64_t M, int64_t K,
                           int64_t r0, int mr, int64_t pc, int64_t kb)
{
    const int64_t k0 = 2 * pc, k1 = 2 * (pc + kb) < K ? 2 * (pc + kb) : K;
    const int64_t r1 = r0 + mr < M ? r0 + mr : M;
    if (r0 >= M) return;
    if (!trans_a) {
        for (int64_t r = r0; r < r1; r++)
            for (int64_t k = k0; k < k1; k += 16)
                __builtin_prefetch(A + r * lda + k);
    } else {
        for (int64_t k = k0; k < k1; k++) {
            __builtin_prefetch(A + k * lda + r0);
            __builtin_prefetch(A + k * lda + r1 - 1);
        }
    }
}

/* Loops: NC columns of C; strips of mr rows; depth blocks of KB pairs (A's block rounded and
 * packed once, used by every panel); panels of 32 columns. acc holds the strip's fp32 sums. */
/* prefetch_block for a bf16 row-major A. */
static void prefetch_block16(const uint16_t *A, int64_t lda, int64_t M, int64_t K, int64_t r0,
                             int mr, int64_t pc, int64_t kb)
{
    const int64_t k0 = 2 * pc, k1 = 2 * (pc + kb) < K ? 2 * (pc + kb) : K;
    const int64_t r1 = r0 + mr < M ? r0 + mr : M;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t k = k0; k < k1; k += 32)
            __builtin_prefetch(A + r * lda + k);
}

/* The operand A: fp32 (A, op(A) = A or Aᵀ) or bf16 row-major (A16). */
typedef struct a_operand {
    const float *A;
    const uint16_t *A16;
    bool trans;
    int64_t lda;
} a_operand;

/* ap as pack_a's row-major layout, from a bf16 row-major A (a copy, zero past K and m). */
static void pack_a16(uint16_t *restrict ap, const uint16_t *restrict A, int64_t lda, int64_t K,
                     int64_t ic, int64_t m, int mr, int64_t pc, int64_t kb)
{
    const int64_t k0 = 2 * pc, kn = 2 * kb, kfull = K - k0 >= kn ? kn : K - k0;
    for (int64_t i = 0; i < mr; i++) {
        uint16_t *dst = ap + 2 * i * kb;
        if (i < m) memcpy(dst, A + (ic + i) * lda + k0, (size_t)kfull * sizeof *dst);
        memset(dst + (i < m ? kfull : 0), 0, (size_t)(kn - (i < m ? kfull : 0)) * sizeof *dst);
    }
}

static void gemm_driver(const bf16_path *t, a_operand op, int64_t M, int64_t N, int64_t K,
                        float alpha, const uint16_t *bp, float beta, float *C, int64_t ldc)
{
    const float *A = op.A;
    const bool trans_a = op.trans;
    const int64_t lda = op.lda;
    _Alignas(64) uint16_t ap[MR_MAX * KB * 2];
    _Alignas(64) float acc[MR_MAX * NC];
    const int mr = t->mr;
    const int64_t kp = kpad(K), pairs = t->amx ? kp / 2 : (K + 1) / 2;

    /* A transposed A is packed k-major for the dot tiles; AMX loads rows of A as tiles. */
    const bool kmajor = trans_a && !t->amx;

    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = N - jc < NC ? N - jc : NC;
        for (int64_t ic = 0; ic < M; ic += mr) {
            const int64_t m = M - ic < mr ? M - ic : mr;
            for (int64_t pc = 0; pc < pairs; pc += KB) {
                const int64_t kb = pairs - pc < KB ? pairs - pc : KB;
                int64_t si = kmajor ? 1 : kb, sp = kmajor ? mr : 1;
                const uint16_t *a = ap;
                if (op.A16) {
                    if (m == mr && lda % 2 == 0 && 2 * (pc + kb) <= K)
                        /* A whole block of a bf16 A is already in the row-major pair layout. */
                        a = op.A16 + ic * lda + 2 * pc, si = lda / 2;
                    else
                        pack_a16(ap, op.A16, lda, K, ic, m, mr, pc, kb);
                    if (pc + KB < pairs)
                        prefetch_block16(op.A16, lda, M, K, ic, mr, pc + KB, KB);
                    else
                        prefetch_block16(op.A16, lda, M, K, ic + mr, mr, 0, KB);
                } else {
                    pack_a(ap, kmajor, t->pk, trans_a, A, lda, K, ic, m, mr, pc, kb);
                    /* The next block in this loop order: the strip's next depth block, else
                     * the next strip's first. */
                    if (pc + KB < pairs)
                        prefetch_block(A, lda, trans_a, M, K, ic, mr, pc + KB, KB);
                    else
                        prefetch_block(A, lda, trans_a, M, K, ic + mr, mr, 0, KB);
                }
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    /* Panel (jc + jr)/32 (32·kp elements), pair row pc (64 elements each). */
                    const uint16_t *b = bp + (jc + jr) * kp + pc * 2 * NR;
                    t->tile(kb, a, si, sp, b, acc + jr, NC, pc == 0);
                }
            }
            t->epi(m, nc, acc, NC, C + ic * ldc + jc, ldc, alpha, beta);
        }
    }
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static const bf16_path path_emul_dot = {MR_DOT, false, dot_emul, epi_generic, pack_kmajor_generic};
static const bf16_path path_emul_amx = {MR_AMX, true, amx_emul, epi_generic, pack_kmajor_generic};
#if defined(FV_BF16_X86)
static const bf16_path path_avx512 = {MR_DOT, false, dot_avx512, epi_avx512, pack_kmajor_avx512};
static const bf16_path path_amx = {MR_AMX, true, amx_hw, epi_avx512, pack_kmajor_avx512};
#endif

#if defined(FV_BF16_X86) && defined(__linux__)
/* Linux keeps the AMX tile data state off until a process asks (arch_prctl
 * ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA = 18; Documentation/arch/x86/xstate.rst); without
 * it tileloadd faults. Asked once per process; the answer is cached. */
static bool amx_permitted(void)
{
    static int state = -1; /* -1 not asked, 0 refused, 1 granted */
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s < 0) {
        enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XTILEDATA = 18 };
        s = 0;
        if (fv__cpu_has_amx_bf16() && fv__cpu_has_avx512_bf16() &&
            syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XTILEDATA) == 0) {
            unsigned long mask = 0;
            if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) == 0 &&
                (mask >> XTILEDATA) & 1ul)
                s = 1;
        }
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s == 1;
}
#else
static bool amx_permitted(void)
{
    return false;
}
#endif

bool fv__gemm_bf16_path_supported(fv__gemm_bf16_path p)
{
    switch (p) {
    case FV__BF16_EMUL_DOT:
    case FV__BF16_EMUL_AMX:
        return true;
    case FV__BF16_AVX512:
        return fv__cpu_has_avx512_bf16();
    case FV__BF16_AMX:
        return amx_permitted();
    default:
        return false;
    }
}

const char *fv__gemm_bf16_path_name(fv__gemm_bf16_path p)
{
    static const char *const names[FV__BF16_NPATHS] = {"emulated", "avx512-bf16",
                                                       "amx-bf16-emulated", "amx-bf16"};
    return p >= 0 && p < FV__BF16_NPATHS ? names[p] : "unknown";
}

static bool on_path(fv__gemm_bf16_path p, a_operand op, int64_t M, int64_t N, int64_t K,
                    float alpha, const uint16_t *bp, float beta, float *C, int64_t ldc)
{
    if (!fv__gemm_bf16_path_supported(p)) return false;
    if (M <= 0 || N <= 0) return true;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return true;
    }
    switch (p) {
    case FV__BF16_EMUL_DOT:
        gemm_driver(&path_emul_dot, op, M, N, K, alpha, bp, beta, C, ldc);
        break;
    case FV__BF16_EMUL_AMX:
        emu_config();
        gemm_driver(&path_emul_amx, op, M, N, K, alpha, bp, beta, C, ldc);
        break;
#if defined(FV_BF16_X86)
    case FV__BF16_AVX512:
        gemm_driver(&path_avx512, op, M, N, K, alpha, bp, beta, C, ldc);
        break;
    case FV__BF16_AMX:
        amx_hw_config();
        gemm_driver(&path_amx, op, M, N, K, alpha, bp, beta, C, ldc);
        amx_hw_release();
        break;
#endif
    default:
        return false;
    }
    return true;
}

bool fv__gemm_bf16_on_path(fv__gemm_bf16_path p, bool trans_a, int64_t M, int64_t N, int64_t K,
                           float alpha, const float *A, int64_t lda, const uint16_t *bp, float beta,
                           float *C, int64_t ldc)
{
    const a_operand op = {A, NULL, trans_a, lda};
    return on_path(p, op, M, N, K, alpha, bp, beta, C, ldc);
}

bool fv__gemm_bf16_a16_on_path(fv__gemm_bf16_path p, int64_t M, int64_t N, int64_t K, float alpha,
                               const uint16_t *A, int64_t lda, const uint16_t *bp, float beta,
                               float *C, int64_t ldc)
{
    const a_operand op = {NULL, A, false, lda};
    return on_path(p, op, M, N, K, alpha, bp, beta, C, ldc);
}

static fv__gemm_bf16_path best_path(void)
{
    static int chosen = -1;
    int p = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (p < 0) {
        p = fv__gemm_bf16_path_supported(FV__BF16_AMX)      ? FV__BF16_AMX
            : fv__gemm_bf16_path_supported(FV__BF16_AVX512) ? FV__BF16_AVX512
                                                            : FV__BF16_EMUL_DOT;
        __atomic_store_n(&chosen, p, __ATOMIC_RELAXED);
    }
    return (fv__gemm_bf16_path)p;
}

void fv_gemm_bf16(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const uint16_t *bp, float beta, float *C, int64_t ldc)
{
    fv__gemm_bf16_on_path(best_path(), trans_a, M, N, K, alpha, A, lda, bp, beta, C, ldc);
}

void fv_gemm_bf16_a16(int64_t M, int64_t N, int64_t K, float alpha, const uint16_t *A, int64_t lda,
                      const uint16_t *bp, float beta, float *C, int64_t ldc)
{
    fv__gemm_bf16_a16_on_path(best_path(), M, N, K, alpha, A, lda, bp, beta, C, ldc);
}

const char *fv_gemm_bf16_path(void)
{
    return fv__gemm_bf16_path_name(best_path());
}

/* ---- the specification: plain loops ---------------------------------------------------------- */

void fv__gemm_bf16_ref(bool amx, bool trans_a, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *A, int64_t lda, const uint16_t *bp, float beta, float *C,
                       int64_t ldc)
{
    const int64_t kp = kpad(K);
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            float acc = 0.0f, even = 0.0f, odd = 0.0f;
            const int64_t pairs = amx ? kp / 2 : (K + 1) / 2;
            for (int64_t p = 0; p < pairs; p++) {
                float a[2];
                for (int h = 0; h < 2; h++) {
                    const int64_t k = 2 * p + h;
                    const float v = k >= K ? 0.0f : trans_a ? A[k * lda + i] : A[i * lda + k];
                    a[h] = fv_bf16_to_f32(fv_bf16_from_f32(v));
                }
                const uint16_t *bb = bp + (j / NR) * NR * kp + p * 2 * NR + (j % NR) * 2;
                const float b0 = fv_bf16_to_f32(bb[0]), b1 = fv_bf16_to_f32(bb[1]);
                if (!amx) {
                    /* VDPBF16PS: the odd (high) element first; B is src1. */
                    acc = fv_bf16_fma_dazftz(b1, a[1], acc);
                    acc = fv_bf16_fma_dazftz(b0, a[0], acc);
                } else {
                    /* TDPBF16PS: A is tsrc1. */
                    even = fv_bf16_fma_dazftz(a[0], b0, even);
                    odd = fv_bf16_fma_dazftz(a[1], b1, odd);
                    if (p % 16 == 15) {
                        acc = fv_bf16_fma_dazftz(acc, 1.0f, fv_bf16_fma_dazftz(even, 1.0f, odd));
                        even = odd = 0.0f;
                    }
                }
            }
            float *c = &C[i * ldc + j];
            *c = beta == 0.0f   ? alpha * acc
                 : beta == 1.0f ? fmaf(alpha, acc, *c)
                                : fmaf(alpha, acc, beta * *c);
        }
    }
}
