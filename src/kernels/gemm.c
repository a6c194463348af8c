/* gemm.c — single-precision GEMM: the reference triple loop (the specification) and the fast
 * path used by convolution and dense layers: B packed into cache blocks, register-tile
 * micro-kernels for AVX-512, AVX2 and portable C, chosen once at run time from the CPU.
 */
#include "kernels/gemm_internal.h"

#include "core/core.h"

#include <stddef.h>
#include <string.h>

/* The x86-64 micro-kernels; -DFV_GEMM_PORTABLE_ONLY builds what other architectures get. */
#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#define FV_GEMM_X86 1
#include <immintrin.h>
#endif

/* Element (i, j) of op(X) for a row-major X with leading dimension ld. */
static inline float op_at(const float *X, int64_t ld, bool trans, int64_t i, int64_t j)
{
    return trans ? X[j * ld + i] : X[i * ld + j];
}

/* Scales C[M×N] by beta; beta == 0 writes zeros without reading C (so NaNs do not survive). */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f) {
            for (int64_t j = 0; j < N; j++)
                c[j] = 0.0f;
        } else {
            for (int64_t j = 0; j < N; j++)
                c[j] *= beta;
        }
    }
}

/* A [M×K] (or [K×M] with trans_a), B [K×N] (or [N×K] with trans_b), C [M×N]. Sums in double so
 * that the reference is more accurate than anything it is compared with. */
void fv_gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            if (alpha != 0.0f)
                for (int64_t k = 0; k < K; k++)
                    s += (double)op_at(A, lda, trans_a, i, k) * op_at(B, ldb, trans_b, k, j);
            float *c = &C[i * ldc + j];
            *c = beta == 0.0f ? (float)(alpha * s) : (float)(alpha * s + (double)beta * *c);
        }
    }
}

/* ---- micro-kernels ---------------------------------------------------------------------------
 * Each instruction set gets the same template (gemm_tile.h). A tile function computes
 * C[mr × nr] = alpha · op(A) · Bp (+ beta · C) over one block of kc; "rows" reads A row-major,
 * "kmaj" reads it k-major. */

typedef void (*tile_fn)(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                        int64_t ldc, float alpha, float beta);

/* Packs one full panel of a transposed B: dst[k·nr + j] = src[j·ldb + k], j < nr, k < kc. */
typedef void (*pack_bt_fn)(float *dst, const float *src, int64_t ldb, int64_t kc, int nr);

typedef struct gemm_tiles {
    int mr, nr;
    tile_fn rows, kmaj;
    pack_bt_fn pack_bt;
} gemm_tiles;

/* Arguments as pack_bt_fn. Reads run along k; the writes are strided. */
static void pack_bt_scalar(float *restrict dst, const float *restrict src, int64_t ldb, int64_t kc,
                           int nr)
{
    for (int j = 0; j < nr; j++)
        for (int64_t k = 0; k < kc; k++)
            dst[k * nr + j] = src[j * ldb + k];
}

/* Portable: GCC/Clang vector extensions, lowered to whatever SIMD the target has (SSE2 on any
 * x86-64, NEON on arm64) or to scalars. */
typedef float v4f __attribute__((vector_size(16)));
typedef float v4fu __attribute__((vector_size(16), aligned(4), may_alias));
#define TILE_NAME(s) generic_##s
#define TILE_ATTR
#define TILE_V            v4f
#define TILE_VU           v4fu
#define TILE_W            4
#define TILE_MR           6
#define TILE_SPLAT(x)     ((v4f){0.0f, 0.0f, 0.0f, 0.0f} + (x))
#define TILE_FMA(a, b, c) ((a) * (b) + (c))
#include "kernels/gemm_tile.h"
#undef TILE_NAME
#undef TILE_ATTR
#undef TILE_V
#undef TILE_VU
#undef TILE_W
#undef TILE_MR
#undef TILE_SPLAT
#undef TILE_FMA

static const gemm_tiles tiles_generic = {6, 8, generic_rows, generic_kmaj, pack_bt_scalar};

#if defined(FV_GEMM_X86)
typedef float v8fu __attribute__((vector_size(32), aligned(4), may_alias));
typedef float v16fu __attribute__((vector_size(64), aligned(4), may_alias));

/* AVX2 + FMA: 6 × 16, twelve accumulators of the sixteen ymm registers; enough independent
 * FMAs to cover their latency on two pipes. */
#define TILE_NAME(s)      avx2_##s
#define TILE_ATTR         __attribute__((target("avx2,fma")))
#define TILE_V            __m256
#define TILE_VU           v8fu
#define TILE_W            8
#define TILE_MR           6
#define TILE_SPLAT(x)     _mm256_set1_ps(x)
#define TILE_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#include "kernels/gemm_tile.h"
#undef TILE_NAME
#undef TILE_ATTR
#undef TILE_V
#undef TILE_VU
#undef TILE_W
#undef TILE_MR
#undef TILE_SPLAT
#undef TILE_FMA

/* AVX-512: 12 × 32, 24 accumulators of the 32 zmm registers. 12 rows divide the seed CNN's
 * row counts (576, 288) and waste little on 128. */
#define TILE_NAME(s)      avx512_##s
#define TILE_ATTR         __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define TILE_V            __m512
#define TILE_VU           v16fu
#define TILE_W            16
#define TILE_MR           12
#define TILE_SPLAT(x)     _mm512_set1_ps(x)
#define TILE_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#include "kernels/gemm_tile.h"
#undef TILE_NAME
#undef TILE_ATTR
#undef TILE_V
#undef TILE_VU
#undef TILE_W
#undef TILE_MR
#undef TILE_SPLAT
#undef TILE_FMA

/* The AVX-512 tile's code compiled for AVX2 (each 16-float vector split in two by the
 * compiler), so that its blocking and edge handling are tested on any AVX2 machine. Only tests
 * and benchmarks use it. */
typedef float v16f __attribute__((vector_size(64)));
#define TILE_NAME(s)      wide_##s
#define TILE_ATTR         __attribute__((target("avx2,fma")))
#define TILE_V            v16f
#define TILE_VU           v16fu
#define TILE_W            16
#define TILE_MR           12
#define TILE_SPLAT(x)     ((v16f){0.0f} + (x))
#define TILE_FMA(a, b, c) ((a) * (b) + (c))
#include "kernels/gemm_tile.h"
#undef TILE_NAME
#undef TILE_ATTR
#undef TILE_V
#undef TILE_VU
#undef TILE_W
#undef TILE_MR
#undef TILE_SPLAT
#undef TILE_FMA

/* Arguments as pack_bt_fn; nr a multiple of 8. The transposed B is packed 8 × 8 blocks at a time
 * with an in-register transpose, several times faster than the scalar loop; it matters when M
 * is small and each packed element is used by few row tiles (dense dX = dY·Wᵀ by batch
 * blocks). Also used by the AVX-512 path: every AVX-512 CPU has AVX2. */
__attribute__((target("avx2,fma"))) static void
pack_bt_avx2(float *restrict dst, const float *restrict src, int64_t ldb, int64_t kc, int nr)
{
    for (int j0 = 0; j0 < nr; j0 += 8) {
        const float *s0 = src + j0 * ldb;
        int64_t k0 = 0;
        for (; k0 + 8 <= kc; k0 += 8) {
            __m256 r[8], t[8], u[8];
            for (int q = 0; q < 8; q++)
                r[q] = _mm256_loadu_ps(s0 + q * ldb + k0);
            for (int q = 0; q < 8; q += 2) {
                t[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
                t[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
            }
            for (int q = 0; q < 8; q += 4) {
                u[q] = _mm256_shuffle_ps(t[q], t[q + 2], 0x44);
                u[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], 0xEE);
                u[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0x44);
                u[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0xEE);
            }
            /* u[q] holds k = k0+q (low half) and k0+q+4 (high half) of rows 0..3 (q < 4) or
             * rows 4..7 (q >= 4); the lane permutes join the two row halves. */
            for (int q = 0; q < 4; q++) {
                _mm256_storeu_ps(dst + (k0 + q) * nr + j0,
                                 _mm256_permute2f128_ps(u[q], u[q + 4], 0x20));
                _mm256_storeu_ps(dst + (k0 + q + 4) * nr + j0,
                                 _mm256_permute2f128_ps(u[q], u[q + 4], 0x31));
            }
        }
        for (; k0 < kc; k0++)
            for (int j = 0; j < 8; j++)
                dst[k0 * nr + j0 + j] = s0[j * ldb + k0];
    }
}

static const gemm_tiles tiles_avx2 = {6, 16, avx2_rows, avx2_kmaj, pack_bt_avx2};
static const gemm_tiles tiles_avx512 = {12, 32, avx512_rows, avx512_kmaj, pack_bt_avx2};
static const gemm_tiles tiles_wide = {12, 32, wide_rows, wide_kmaj, pack_bt_avx2};
#endif

/* ---- the blocked driver ------------------------------------------------------------------------
 * Loops: columns of C in blocks of NC; depth in blocks of at most KC (B's block packed once and
 * kept in L2); rows in tiles of mr (A's rows then stay in L1 across the nc/nr tiles); columns
 * in tiles of nr. A row-major A is read where it lies (packing it would be a transpose, as
 * costly as the arithmetic when N is small); a transposed A, and the last partial row tile,
 * are copied into a k-major panel, which keeps a large lda from thrashing L1. Buffers live on
 * the stack (about 146 KiB): no allocation and no shared state, so callers may run it from
 * many threads at once. */

/* Block sizes; -D overrides are for tuning experiments only. */
#ifndef FV_GEMM_KC
#define FV_GEMM_KC 256
#endif
#ifndef FV_GEMM_NC
#define FV_GEMM_NC 128
#endif
enum { KC = FV_GEMM_KC, NC = FV_GEMM_NC, MR_MAX = 16, NR_MAX = 32 };
/* Panels are padded to whole multiples of nr (8, 16 or 32): NC must hold them exactly. */
_Static_assert(NC % NR_MAX == 0 && KC > 0, "NC must be a multiple of every tile width");

/* Bp ← op(B)[pc .. pc+kc, jc .. jc+nc] as panels of nr columns, panel p at Bp + p·nr·kc, row k
 * of a panel at + k·nr; columns past nc are zero. B [K×N] (or [N×K] with trans_b). */
static void pack_b(const gemm_tiles *t, float *restrict bp, bool trans_b, const float *restrict B,
                   int64_t ldb, int64_t pc, int64_t jc, int64_t kc, int64_t nc, int nr)
{
    for (int64_t jr = 0; jr < nc; jr += nr) {
        const int64_t n = nc - jr < nr ? nc - jr : nr;
        float *dst = bp + jr * kc;
        if (!trans_b) {
            const float *src = B + pc * ldb + jc + jr;
            for (int64_t k = 0; k < kc; k++, src += ldb, dst += nr) {
                /* Constant sizes for full panels: inlined vector moves, not library calls. */
                if (n == 32)
                    memcpy(dst, src, 32 * sizeof(float));
                else if (n == 16)
                    memcpy(dst, src, 16 * sizeof(float));
                else if (n == 8)
                    memcpy(dst, src, 8 * sizeof(float));
                else {
                    for (int64_t j = 0; j < n; j++)
                        dst[j] = src[j];
                    for (int64_t j = n; j < nr; j++)
                        dst[j] = 0.0f;
                }
            }
        } else {
            /* Column j of the panel is row jc+jr+j of the stored B, contiguous in k. */
            const float *src = B + (jc + jr) * ldb + pc;
            if (n == nr) {
                t->pack_bt(dst, src, ldb, kc, nr);
                continue;
            }
            for (int64_t j = 0; j < n; j++)
                for (int64_t k = 0; k < kc; k++)
                    dst[k * nr + j] = src[j * ldb + k];
            for (int64_t j = n; j < nr; j++)
                for (int64_t k = 0; k < kc; k++)
                    dst[k * nr + j] = 0.0f;
        }
    }
}

/* ap[kc × mr] (k-major) ← op(A)[ic .. ic+m, pc .. pc+kc], rows past m zero. */
static void pack_a_edge(float *restrict ap, bool trans_a, const float *restrict A, int64_t lda,
                        int64_t ic, int64_t pc, int64_t m, int64_t kc, int mr)
{
    for (int64_t k = 0; k < kc; k++) {
        float *dst = ap + k * mr;
        const float *src = A + (pc + k) * lda + ic;
        /* Constant sizes let the compiler copy full tiles with a vector move or two. */
        if (trans_a && m == 6)
            memcpy(dst, src, 6 * sizeof(float));
        else if (trans_a && m == 12)
            memcpy(dst, src, 12 * sizeof(float));
        else if (trans_a)
            for (int64_t i = 0; i < m; i++)
                dst[i] = src[i];
        else
            for (int64_t i = 0; i < m; i++)
                dst[i] = A[(ic + i) * lda + pc + k];
        for (int64_t i = m; i < mr; i++)
            dst[i] = 0.0f;
    }
}

/* C[m × n] ← T[m × n] (+ beta · C unless beta is 0): a partial tile computed into T. */
static void merge_tile(const float *t, int64_t ldt, float *c, int64_t ldc, int64_t m, int64_t n,
                       float beta)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? t[i * ldt + j] : t[i * ldt + j] + beta * c[i * ldc + j];
}

/* Prefetches part `part` of `parts` of the next row strip of A (rows r0 .. r0+mr, columns
 * pc .. pc+kc), so that the strip arrives from L3 while the current one is computed: the
 * hardware prefetcher follows the mr row streams too slowly when A is large. */
static inline void prefetch_rows(const float *A, int64_t lda, int64_t r0, int64_t M, int64_t pc,
                                 int64_t kc, int64_t part, int64_t parts, int mr)
{
    const int64_t lines = (kc + 15) / 16; /* 64-byte lines per row */
    const int64_t total = lines * mr;
    for (int64_t l = part * total / parts; l < (part + 1) * total / parts; l++) {
        const int64_t r = r0 + l / lines;
        if (r >= M) return;
        __builtin_prefetch(A + r * lda + pc + (l % lines) * 16);
    }
}

/* Arguments as fv_gemm; M, N > 0, K > 0, alpha != 0. */
static void gemm_blocked(const gemm_tiles *t, bool trans_a, bool trans_b, int64_t M, int64_t N,
                         int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                         int64_t ldb, float beta, float *C, int64_t ldc)
{
    _Alignas(64) float bp[KC * NC];
    _Alignas(64) float ap[KC * MR_MAX];
    _Alignas(64) float ct[MR_MAX * NR_MAX];
    const int mr = t->mr, nr = t->nr;
    /* Equal depth blocks: K = 288 runs as 2 × 144 rather than 256 + 32. */
    const int64_t nkb = (K + KC - 1) / KC, kstep = (K + nkb - 1) / nkb;

    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = N - jc < NC ? N - jc : NC;
        for (int64_t pc = 0; pc < K; pc += kstep) {
            const int64_t kc = K - pc < kstep ? K - pc : kstep;
            /* The first depth block applies beta; later ones add. */
            const float bk = pc == 0 ? beta : 1.0f;
            pack_b(t, bp, trans_b, B, ldb, pc, jc, kc, nc, nr);
            for (int64_t ic = 0; ic < M; ic += mr) {
                const int64_t m = M - ic < mr ? M - ic : mr;
                tile_fn f = t->kmaj;
                const float *a = ap;
                int64_t la = mr;
                if (m < mr || trans_a) {
                    pack_a_edge(ap, trans_a, A, lda, ic, pc, m, kc, mr);
                } else {
                    f = t->rows, a = A + ic * lda + pc, la = lda;
                }
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    const int64_t n = nc - jr < nr ? nc - jr : nr;
                    float *c = C + ic * ldc + jc + jr;
                    if (!trans_a)
                        prefetch_rows(A, lda, ic + mr, M, pc, kc, jr / nr, (nc + nr - 1) / nr, mr);
                    if (m == mr && n == nr) {
                        f(kc, a, la, bp + jr * kc, c, ldc, alpha, bk);
                    } else {
                        f(kc, a, la, bp + jr * kc, ct, nr, alpha, 0.0f);
                        merge_tile(ct, nr, c, ldc, m, n, bk);
                    }
                }
            }
        }
    }
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static const gemm_tiles *tiles_of(fv__gemm_path p)
{
    switch (p) {
#if defined(FV_GEMM_X86)
    case FV__GEMM_AVX512:
        return &tiles_avx512;
    case FV__GEMM_AVX2:
        return &tiles_avx2;
    case FV__GEMM_WIDE_ON_AVX2:
        return &tiles_wide;
#endif
    default:
        return &tiles_generic;
    }
}

bool fv__gemm_path_supported(fv__gemm_path p)
{
    switch (p) {
    case FV__GEMM_GENERIC:
        return true;
#if defined(FV_GEMM_X86)
    case FV__GEMM_AVX2:
    case FV__GEMM_WIDE_ON_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FV__GEMM_AVX512:
        /* libgcc's check includes the OS saving the zmm state (XGETBV). */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#endif
    default:
        return false;
    }
}

const char *fv__gemm_path_name(fv__gemm_path p)
{
    static const char *const names[FV__GEMM_NPATHS] = {"generic", "avx2", "avx512",
                                                       "avx512-tile-on-avx2"};
    return p >= 0 && p < FV__GEMM_NPATHS ? names[p] : "unknown";
}

void fv__gemm_on_path(fv__gemm_path p, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    /* Never run instructions this CPU lacks, whatever the caller asked for. */
    if (!fv__gemm_path_supported(p)) p = FV__GEMM_GENERIC;
    gemm_blocked(tiles_of(p), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* -1: the best path for this CPU; else the path fv__gemm_force_path set (tests only). */
static int forced = -1;

void fv__gemm_force_path(int p)
{
    __atomic_store_n(&forced, p, __ATOMIC_RELAXED);
}

/* The path fv_set_kernel_path chose (-1: none, the CPU's best). */
static int user_path = -1;

int fv__kernel_path_best(void)
{
    const int u = __atomic_load_n(&user_path, __ATOMIC_RELAXED);
    if (u >= 0) return u;
    /* Decided on first use. The mutable globals of the kernels: every thread that races to fill
     * `chosen` computes and stores the same value, and the atomic accesses make that race
     * well-defined. */
    static int chosen = -1;
    int p = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (p < 0) {
        p = fv__gemm_path_supported(FV__GEMM_AVX512) ? FV__GEMM_AVX512
            : fv__gemm_path_supported(FV__GEMM_AVX2) ? FV__GEMM_AVX2
                                                     : FV__GEMM_GENERIC;
        __atomic_store_n(&chosen, p, __ATOMIC_RELAXED);
    }
    return p;
}

fv_status fv_set_kernel_path(const char *name)
{
    if (!name || strcmp(name, "auto") == 0 || name[0] == '\0') {
        __atomic_store_n(&user_path, -1, __ATOMIC_RELAXED);
        return FV_OK;
    }
    char avail[96] = "auto";
    for (int p = 0; p < FV__GEMM_NPATHS; p++) {
        if (p == FV__GEMM_WIDE_ON_AVX2 || !fv__gemm_path_supported((fv__gemm_path)p)) continue;
        if (strcmp(name, fv__gemm_path_name((fv__gemm_path)p)) == 0) {
            __atomic_store_n(&user_path, p, __ATOMIC_RELAXED);
            return FV_OK;
        }
        strcat(avail, ", "), strcat(avail, fv__gemm_path_name((fv__gemm_path)p));
    }
    return fv__fail(FV_ERR_INVALID, "kernel path '%s' is not one this CPU has (it has: %s)", name,
                    avail);
}

const char *fv_kernel_path(void)
{
    return fv__gemm_path_name((fv__gemm_path)fv__kernel_path_best());
}

/* The forced path (tests), else the user's, else the best for this CPU. */
static fv__gemm_path best_path(void)
{
    const int f = __atomic_load_n(&forced, __ATOMIC_RELAXED);
    if (f >= 0)
        return fv__gemm_path_supported((fv__gemm_path)f) ? (fv__gemm_path)f : FV__GEMM_GENERIC;
    return (fv__gemm_path)fv__kernel_path_best();
}

void fv_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc)
{
    fv__gemm_on_path(best_path(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *fv_gemm_path(void)
{
    return fv__gemm_path_name(best_path());
}
