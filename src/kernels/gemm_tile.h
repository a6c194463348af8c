/* gemm_tile.h — the GEMM register-tile micro-kernels as a template, included once per
 * instruction set by gemm.c (no include guard on purpose). The includer defines:
 *   TILE_NAME(s)       a name for this instantiation's function s
 *   TILE_ATTR          function attributes (the target instruction set)
 *   TILE_V, TILE_W     the vector type and its width in floats
 *   TILE_VU            the same vector type, unaligned (aligned(4)) and may_alias
 *   TILE_MR            rows of the tile; the tile is TILE_MR × 2·TILE_W
 *   TILE_SPLAT(x)      a vector with every lane x
 *   TILE_FMA(a, b, c)  a·b + c
 * Every instantiation is the same code, so the wide (AVX-512) tile can also be compiled for
 * AVX2 and tested on machines without AVX-512.
 */

#define TILE_NR (2 * TILE_W)

/* Unaligned vector load and store through TILE_VU, the includer's unaligned, may_alias
 * version of TILE_V. */
#define TILE_LD(p)    (*(const TILE_VU *)(p))
#define TILE_ST(p, v) (*(TILE_VU *)(p) = (v))

/* Writes the accumulated tile: c = alpha·acc (+ beta·c unless beta is 0, when c is not read).
 * A macro rather than a function so that the accumulators stay in registers. */
#define TILE_EPILOGUE()                                                                            \
    do {                                                                                           \
        const TILE_V va = TILE_SPLAT(alpha);                                                       \
        if (beta == 0.0f) {                                                                        \
            _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)                             \
            {                                                                                      \
                TILE_ST(c + i * ldc, acc0[i] * va);                                                \
                TILE_ST(c + i * ldc + TILE_W, acc1[i] * va);                                       \
            }                                                                                      \
        } else if (beta == 1.0f) {                                                                 \
            _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)                             \
            {                                                                                      \
                float *ci = c + i * ldc;                                                           \
                TILE_ST(ci, TILE_FMA(acc0[i], va, TILE_LD(ci)));                                   \
                TILE_ST(ci + TILE_W, TILE_FMA(acc1[i], va, TILE_LD(ci + TILE_W)));                 \
            }                                                                                      \
        } else {                                                                                   \
            const TILE_V vb = TILE_SPLAT(beta);                                                    \
            _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)                             \
            {                                                                                      \
                float *ci = c + i * ldc;                                                           \
                TILE_ST(ci, TILE_FMA(acc0[i], va, TILE_LD(ci) * vb));                              \
                TILE_ST(ci + TILE_W, TILE_FMA(acc1[i], va, TILE_LD(ci + TILE_W) * vb));            \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* The k loop: each step broadcasts one element of A per row and multiplies it into one row of
 * the packed B panel. AT(i, k) is the expression that reads op(A)[i][k]. */
#define TILE_LOOP(AT)                                                                              \
    TILE_V acc0[TILE_MR], acc1[TILE_MR];                                                           \
    _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++) acc0[i] = acc1[i] =                 \
        TILE_SPLAT(0.0f);                                                                          \
    for (int64_t k = 0; k < kc; k++) {                                                             \
        const TILE_V b0 = TILE_LD(b + k * TILE_NR);                                                \
        const TILE_V b1 = TILE_LD(b + k * TILE_NR + TILE_W);                                       \
        _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)                                 \
        {                                                                                          \
            const TILE_V ai = TILE_SPLAT(AT(i, k));                                                \
            acc0[i] = TILE_FMA(ai, b0, acc0[i]);                                                   \
            acc1[i] = TILE_FMA(ai, b1, acc1[i]);                                                   \
        }                                                                                          \
    }

/* C[MR × NR] = alpha · A[MR × kc] · Bp[kc × NR] (+ beta · C), with A row-major (a[i·lda + k]),
 * Bp packed (row k of the panel at b + k·NR), C with leading dimension ldc. */
static TILE_ATTR void TILE_NAME(rows)(int64_t kc, const float *restrict a, int64_t lda,
                                      const float *restrict b, float *restrict c, int64_t ldc,
                                      float alpha, float beta)
{
#define TILE_AT_ROWS(i, k) a[(i)*lda + (k)]
    TILE_LOOP(TILE_AT_ROWS)
    TILE_EPILOGUE();
#undef TILE_AT_ROWS
}

/* The same with A read k-major (a[k·lda + i]), as gemm.c packs a transposed A or a partial
 * row tile. */
static TILE_ATTR void TILE_NAME(kmaj)(int64_t kc, const float *restrict a, int64_t lda,
                                      const float *restrict b, float *restrict c, int64_t ldc,
                                      float alpha, float beta)
{
#define TILE_AT_KMAJ(i, k) a[(k)*lda + (i)]
    TILE_LOOP(TILE_AT_KMAJ)
    TILE_EPILOGUE();
#undef TILE_AT_KMAJ
}

#undef TILE_LOOP
#undef TILE_EPILOGUE
#undef TILE_NR
#undef TILE_LD
#undef TILE_ST
