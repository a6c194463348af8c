/* bf16.h — bfloat16 arithmetic for the kernels: fp32 <-> bf16 conversion, portable emulations of
 * the two x86 bf16 dot-product instructions (AVX512_BF16 VDPBF16PS, AMX-BF16 TDPBF16PS) exactly as
 * Intel documents them, and a GEMM with bf16 products and fp32 accumulation that runs on
 * AVX512_BF16, on AMX-BF16 tiles, or on the emulation, chosen at run time.
 *
 * bf16 is the upper half of an IEEE fp32: sign, 8 exponent bits, 7 fraction bits (8 significant
 * bits, unit roundoff u = 2^-8), stored here as uint16_t. Every formula below is the one in the
 * Intel® 64 and IA-32 Architectures Software Developer's Manual (SDM), vol. 2, instruction
 * pages VCVTNEPS2BF16, VDPBF16PS and TDPBF16PS (Operation sections), named where it is used.
 *
 * Accuracy against fp32 (what a layer may expect; tests/test_bf16.c asserts it): rounding an
 * operand to bf16 has a relative error of at most u = 2^-8, so a product of two rounded operands
 * is off by at most 2u + u² = 2^-7 + 2^-16 of its size, and K fp32 accumulations (u = 2^-24 each)
 * add at most about K·2^-24 of Σ|a·b|. An element of the bf16 GEMM is therefore within
 *     fv_bf16_gemm_rtol(K) · Σ_k |a_ik·b_kj|,   fv_bf16_gemm_rtol(K) = 2^-7 + 2^-15 + (K+1)·2^-23
 * of the exact Σ a·b (before alpha and beta; the last two terms carry a factor 2 of margin for
 * second-order terms; flushed denormals add at most 2^-126 per operation). On random data the
 * error is far smaller, as independent roundings cancel: typically about 2^-8/sqrt(K) of
 * Σ|a·b|, a few times that at the worst element (measured: 6.6e-4 at K = 288, 1.1e-4 at 9216).
 */
#ifndef FV_BF16_H
#define FV_BF16_H

#include <stdbool.h>
#include <stdint.h>

/* ---- conversion ----------------------------------------------------------------------------
 * fp32 -> bf16 as VCVTNEPS2BF16 (SDM, "convert_fp32_to_bfloat16"): round to nearest, ties to
 * even (values past the largest bf16 become ±inf); NaN keeps its sign and upper payload bits and
 * is made quiet (fraction bit 6 set); zero and fp32 denormals become zero of the same sign (the
 * instruction treats input denormals as zero). bf16 -> fp32 is exact (the 16 bits become the
 * upper half). */
uint16_t fv_bf16_from_f32(float x);
float fv_bf16_to_f32(uint16_t h);
/* y[i] = fv_bf16_from_f32(x[i]) for i < n, vectorised (AVX512_BF16 VCVTNE2PS2BF16 where the CPU
 * has it, else portable C); bit-identical to the scalar form on every input. */
void fv_bf16_from_f32_n(const float *x, uint16_t *y, int64_t n);
/* y[i] = fv_bf16_to_f32(x[i]) for i < n. */
void fv_bf16_to_f32_n(const uint16_t *x, float *y, int64_t n);

/* out[2j] = fv_bf16_from_f32(r0[j]), out[2j+1] = fv_bf16_from_f32(r1[j]) (0 when r1 is NULL),
 * j < n: two fp32 rows become n bf16 pairs (dwords), the layout VDPBF16PS multiplies; vectorised
 * where the CPU has AVX512_BF16, the same bits everywhere. */
void fv__bf16_interleave(const float *r0, const float *r1, int64_t n, uint16_t *out);

/* ---- emulation of the instructions ---------------------------------------------------------
 * Both instructions do "FP32 FMA with DAZ=FTZ=1, RNE rounding; MXCSR neither consulted nor
 * updated" (SDM): inputs that are fp32 denormals count as zero of their sign; the exact
 * a·b + c is rounded once to nearest-even; a result that is tiny after rounding (nonzero, of
 * magnitude below 2^-126 when rounded to 24 bits with unbounded exponent, the x86 rule) becomes
 * zero of its sign. NaNs (SDM VDPBF16PS Table 5-1, which is the FMA's operand order): a NaN
 * operand is returned quieted, the first of a, b, c; an invalid operation (inf·0, inf - inf)
 * gives the default NaN 0xFFC00000. */
float fv_bf16_fma_dazftz(float a, float b, float c);

/* One lane of VDPBF16PS (SDM Operation, per dword i): with s1 = src1.dword[i], s2 = the dword of
 * src2 (each the bf16 pair lo = bits 0..15, hi = bits 16..31),
 *     acc = fma(hi(s1), hi(s2), acc);   acc = fma(lo(s1), lo(s2), acc)
 * in that order (the odd element first), each fv_bf16_fma_dazftz. Returns the new acc. */
float fv_vdpbf16ps_lane(float acc, uint32_t s1, uint32_t s2);

/* One AMX tile: rows × colsb bytes used of 16 rows × 64 bytes, row r at data + r·64. */
typedef struct fv_amx_tile {
    int rows, colsb;
    _Alignas(64) uint8_t data[16 * 64];
} fv_amx_tile;

/* TDPBF16PS dst, a, b (SDM Operation): C = m × n (dst, fp32), A = m × k pairs (a), B = k × n
 * pairs (b); for each row m, two fp32 partial sums per column n start at zero and take, for
 * k = 0 .. a.colsb/4 - 1 in order, even += fma(A[m].bf16[2k], B[k].bf16[2n]) and
 * odd += fma(A[m].bf16[2k+1], B[k].bf16[2n+1]) (fv_bf16_fma_dazftz); then
 * C[m][n] = C[m][n] + (even + odd), both additions DAZ/FTZ with RNE. Bytes of dst past its
 * colsb in each row, and rows past its rows, become zero (write_row_and_zero, zero_upper_rows).
 * Shapes must agree as the instruction requires (a.rows = dst.rows, a.colsb/4 = b.rows,
 * b.colsb = dst.colsb); the caller checks. This is the SDM's order; the Intrinsics Guide's
 * pseudo-code for _tile_dpbf16ps (both products of a pair added straight into C) is another,
 * and real hardware may follow neither: tests/test_bf16.c checks the AMX path against this one
 * bit for bit where the CPU has AMX. */
void fv_tdpbf16ps_emul(fv_amx_tile *dst, const fv_amx_tile *a, const fv_amx_tile *b);

/* ---- GEMM with bf16 products and fp32 accumulation -----------------------------------------
 * C[M×N] = alpha · op(A)[M×K] · B[K×N] + beta · C, row-major, as fv_gemm (kernels.h), with B (the
 * weights) packed once by fv_gemm_bf16_pack_b and A (the activations) given in fp32 and rounded
 * to bf16 as the GEMM reads it. beta == 0 writes C without reading it.
 *
 * Packed B: op(B) rounded to bf16, in panels of 32 columns; K is padded with zeros to
 * KP = K rounded up to a multiple of 32 (an AMX tile's depth) and N to whole panels. Element
 * (k, j) is at bp[(j/32)·32·KP + (k/2)·64 + (j%32)·2 + k%2]: each row of a panel holds, for
 * each of its 32 columns, the pair (k, k+1) as one dword (the "VNNI" layout that VDPBF16PS
 * reads as 16 dwords per zmm and TDPBF16PS as tile rows of 16 dwords with a 128-byte stride).
 *
 * The arithmetic, identical on every path that shares an order (see fv__gemm_bf16_path):
 *   dot path (AVX512_BF16 and its emulation): acc = 0; for each pair p = 0 .. ceil(K/2)-1,
 *     acc = fv_vdpbf16ps_lane(acc, B pair (2p, 2p+1) of column j, A pair (2p, 2p+1) of row i)
 *     (B is src1, A is src2, as the broadcast operand must be); bit-exact between the two.
 *   AMX path (and its emulation): acc = 0; for each 32-deep block of K, the TDPBF16PS step
 *     above (even/odd partial sums over 16 pairs, then acc + (even + odd)).
 *   then C = alpha·acc (beta == 0), fma(alpha, acc, C) (beta == 1), fma(alpha, acc, beta·C).
 * The two orders differ by rounding only (within the accuracy bound at the top). An element
 * depends only on its row of A, its column of B, alpha, beta and its own C — not on M, N, the
 * blocking, or how callers split rows or columns among threads — so results are bit-identical for
 * any thread count, per path. */

/* The accuracy bound above, per unit of Σ|a·b|, for depth K. */
double fv_bf16_gemm_rtol(int64_t K);

/* uint16_t elements of the packed op(B)[K×N]; -1 if K or N is negative or the size overflows. */
int64_t fv_gemm_bf16_packed_size(int64_t K, int64_t N);
/* bp ← op(B) packed as above (op(B) = B [K×N], or Bᵀ with trans_b: B stored N×K), fp32 rounded by
 * fv_bf16_from_f32. bp has fv_gemm_bf16_packed_size(K, N) elements; every one is written. */
void fv_gemm_bf16_pack_b(bool trans_b, int64_t K, int64_t N, const float *B, int64_t ldb,
                         uint16_t *bp);
/* C[M×N] = alpha · op(A) · B + beta · C. A [M×K] (or stored K×M with trans_a), lda its leading
 * dimension; bp from fv_gemm_bf16_pack_b(.., K, N, ..). Single-threaded, allocates nothing
 * (about 48 KiB of stack); callers split M or N across threads. On the best path this CPU
 * has: AMX-BF16 (when Linux grants the tile state), else AVX512_BF16, else the emulation (exact
 * but about 1 GFLOP/s, 100-250× slower than fp32: the model should refuse bf16 there; see
 * fv_gemm_bf16_path). */
void fv_gemm_bf16(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const uint16_t *bp, float beta, float *C, int64_t ldc);
/* The same with A already in bf16 (activations stored as bf16): A [M×K] row-major, lda its
 * leading dimension in elements. Same arithmetic and bits as fv_gemm_bf16 on the fp32 values of
 * A; no conversion. When K and lda are even (and, for AMX, K a multiple of 32), whole row strips
 * are read where they lie, with no copy. */
void fv_gemm_bf16_a16(int64_t M, int64_t N, int64_t K, float alpha, const uint16_t *A, int64_t lda,
                      const uint16_t *bp, float beta, float *C, int64_t ldc);
/* The path fv_gemm_bf16 takes on this CPU: "amx-bf16", "avx512-bf16" or "emulated". */
const char *fv_gemm_bf16_path(void);

/* ---- the dense layer's weight gradient (dense_bf16.c) -------------------------------------
 * A run's n samples are summed in nchunks chunks [bounds[c], bounds[c+1]) (a power of two, at
 * most 16; the layers' fixed gradient chunks). Within a chunk the samples pair up as (s, s+1),
 * (s+2, s+3), ..., the last of an odd chunk with zeros; the pairs of all chunks, in order, are
 * the pair rows q = 0 .. fv_dense_bf16_pair_rows - 1. */
int64_t fv_dense_bf16_pair_rows(int nchunks, const int64_t *bounds);
/* out pair row q (dwords out[2(q·ld + c)], c < cols) = fv__bf16_interleave of X's rows s and s+1
 * (rows ldx floats apart; zeros for a missing s+1), for every pair row q. */
void fv_dense_bf16_pack_pairs(const float *X, int64_t ldx, int64_t cols, int nchunks,
                              const int64_t *bounds, uint16_t *out, int64_t ld);
/* dW[m × N] (rows lddw apart) += Σ over the chunks, as a balanced tree (t_c + t_c+w, left +
 * right), of G_c[k][j] = the chain, from 0, over chunk c's pair rows q of
 *     acc = fv_vdpbf16ps_lane(acc, dyp pair (q, j), xp pair (q, k))
 * with xp = X's pair rows (ldxp dwords apart; column k of the block) and dyp = dY's (lddyp).
 * These are the bits of fv_gemm_bf16's dot path on each chunk (trans_a, A = X, B = dY packed)
 * added as the dense layer's chunk tree, for any split of k and j among callers. AVX512_BF16
 * (8 rows × 32 columns of accumulators, the tree's partial sums beside them in L1) where the CPU
 * has it, on AMX machines too; else the portable emulation. Each element is within
 * fv_bf16_gemm_rtol(chunk)·Σ_i|x_ik·dy_ij| per chunk of the exact sum, plus the fp32 tree's own
 * rounding. */
void fv_dense_dw_bf16(int64_t m, int64_t N, int nchunks, const int64_t *bounds, const uint16_t *xp,
                      int64_t ldxp, const uint16_t *dyp, int64_t lddyp, float *dw, int64_t lddw);
/* The same on a named implementation: 0 the emulation, 1 AVX512_BF16; false (nothing done) where
 * the CPU lacks it or the chunks are not as above. For tests. */
bool fv__dense_dw_bf16_on(int impl, int64_t m, int64_t N, int nchunks, const int64_t *bounds,
                          const uint16_t *xp, int64_t ldxp, const uint16_t *dyp, int64_t lddyp,
                          float *dw, int64_t lddw);

/* ---- the paths by name: for tests and benchmarks ------------------------------------------- */

typedef enum fv__gemm_bf16_path {
    FV__BF16_EMUL_DOT = 0, /* portable C: fv_vdpbf16ps_lane in the dot order */
    FV__BF16_AVX512,       /* AVX512_BF16: vdpbf16ps on zmm, 12 × 32 register tile */
    FV__BF16_EMUL_AMX,     /* the AMX path's tile code on fv_tdpbf16ps_emul (memory tiles) */
    FV__BF16_AMX,          /* AMX-BF16: tdpbf16ps, 2 × 2 tiles of 16 × 16 */
    FV__BF16_NPATHS
} fv__gemm_bf16_path;

/* Whether this build and this CPU (and, for AMX, the kernel's permission) can run path p. */
bool fv__gemm_bf16_path_supported(fv__gemm_bf16_path p);
/* "emulated", "avx512-bf16", "amx-bf16-emulated", "amx-bf16". */
const char *fv__gemm_bf16_path_name(fv__gemm_bf16_path p);
/* fv_gemm_bf16 on path p; false (and nothing done) if p is not supported here. */
bool fv__gemm_bf16_on_path(fv__gemm_bf16_path p, bool trans_a, int64_t M, int64_t N, int64_t K,
                           float alpha, const float *A, int64_t lda, const uint16_t *bp, float beta,
                           float *C, int64_t ldc);
/* fv_gemm_bf16_a16 on path p; false (and nothing done) if p is not supported here. */
bool fv__gemm_bf16_a16_on_path(fv__gemm_bf16_path p, int64_t M, int64_t N, int64_t K, float alpha,
                               const uint16_t *A, int64_t lda, const uint16_t *bp, float beta,
                               float *C, int64_t ldc);
/* The specification of each order, as plain loops (no blocking): acc chains as described above,
 * from the fp32 A and the packed B. amx selects the AMX order. */
void fv__gemm_bf16_ref(bool amx, bool trans_a, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *A, int64_t lda, const uint16_t *bp, float beta, float *C,
                       int64_t ldc);
/* Whether the CPU has the instructions (CPUID), whatever the OS grants. */
bool fv__cpu_has_avx512_bf16(void);
bool fv__cpu_has_amx_bf16(void);
/* The vectorised conversion on a named implementation: 0 portable C, 1 AVX512_BF16 (false if
 * this CPU lacks it). For tests. */
bool fv__bf16_from_f32_n_on(int impl, const float *x, uint16_t *y, int64_t n);

#endif
