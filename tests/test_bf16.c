/* test_bf16.c — bf16 conversion, the emulations of VDPBF16PS and TDPBF16PS against the SDM's
 * documented behaviour (and against the instruction, where this CPU has it), every bf16 GEMM
 * path this machine can run against the plain-loop specification of its order, bit for bit, and
 * the dense layer's one-pass weight-gradient kernels (bf16 and fp32) against the chunked GEMMs.
 */
#include "core/core.h"
#include "kernels/bf16.h"
#include "kernels/kernels.h"
#include "test.h"
#include "test_arrays.h"

#include <float.h>
#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Bitwise equality of n floats (NaN payloads and signed zeros included); prints the first
 * differences. */
static int check_bits(const char *what, const float *a, const float *b, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (f2u(a[i]) != f2u(b[i])) {
            if (bad < 5)
                fprintf(stderr, "  %s[%ld]: %08x (%.9g) vs %08x (%.9g)\n", what, (long)i, f2u(a[i]),
                        (double)a[i], f2u(b[i]), (double)b[i]);
            bad++;
        }
    }
    if (bad) {
        fprintf(stderr, "  %s: %ld of %ld differ\n", what, (long)bad, (long)n);
        test_failed_checks++;
    }
    return bad == 0;
}

/* check_bits, except that any NaN equals any NaN: which of two NaNs an fp32 addition returns is
 * the compiler's choice of operand order, not fixed by C. */
static int check_bits_any_nan(const char *what, float *a, float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (a[i] != a[i] && b[i] != b[i]) a[i] = b[i];
    return check_bits(what, a, b, n);
}

/* ---- conversion -------------------------------------------------------------------------------
 */

TEST(conversion_rounds_to_nearest_even_and_keeps_nan_quiet)
{
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x00000000u, 0x0000}, {0x80000000u, 0x8000}, /* signed zeros */
        {0x3F800000u, 0x3F80},                        /* 1 */
        {0x3F808000u, 0x3F80},                        /* tie, even below: down */
        {0x3F818000u, 0x3F82},                        /* tie, odd below: up */
        {0x3F808001u, 0x3F81},                        /* above the tie: up */
        {0x3F807FFFu, 0x3F80},                        /* below the tie: down */
        {0xBF818000u, 0xBF82},                        /* negative tie: away from zero to even */
        {0x7F7FFFFFu, 0x7F80},                        /* FLT_MAX rounds to +inf */
        {0x7F7F7FFFu, 0x7F7F},                        /* the largest bf16 stays */
        {0x7F800000u, 0x7F80}, {0xFF800000u, 0xFF80}, /* infinities */
        {0x7FC00000u, 0x7FC0},                        /* quiet NaN */
        {0x7FA00000u, 0x7FE0},                        /* signalling NaN: made quiet */
        {0x7F800001u, 0x7FC0},                        /* payload only in the low half */
        {0xFF80FFFFu, 0xFFC0},                        /* negative NaN keeps its sign */
        {0x00000001u, 0x0000}, {0x807FFFFFu, 0x8000}, /* denormals: zero of their sign */
        {0x00800000u, 0x0080},                        /* FLT_MIN */
        {0x00FFFFFFu, 0x0100},                        /* rounds up into the next binade */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t got = fv_bf16_from_f32(u2f(cases[i].in));
        if (got != cases[i].out) {
            fprintf(stderr, "  %08x -> %04x, expected %04x\n", cases[i].in, got, cases[i].out);
            test_failed_checks++;
        }
    }
    CHECK(fv_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(f2u(fv_bf16_to_f32(0xFFC1)) == 0xFFC10000u);
}

/* Nearest-even rounding of a normal finite x to 8 significant bits, by comparing distances in
 * double (a second derivation of the integer-add formula). */
static uint16_t round_by_distance(uint32_t u)
{
    const uint16_t lo = (uint16_t)(u >> 16);
    const uint16_t hi = (uint16_t)(lo + 1);
    const double x = u2f(u), dl = fabs(x - fv_bf16_to_f32(lo));
    const double up = (hi & 0x7F80) == 0x7F80 ? copysign(ldexp(1.0, 128), x) : fv_bf16_to_f32(hi);
    const double dh = fabs(up - x);
    if (dl < dh) return lo;
    if (dh < dl) return hi;
    return (lo & 1) ? hi : lo;
}

TEST(conversion_matches_rounding_by_distance_and_the_vector_forms)
{
    enum { CHUNK = 4096 };
    static float x[CHUNK];
    static uint16_t y0[CHUNK], y1[CHUNK];
    int64_t bad = 0, n = 0;
    bool have_avx512 = false;
    /* A stride through all 2^32 patterns (prime, so every bit position varies). */
    for (uint64_t base = 0; base < (1ull << 32); base += (uint64_t)CHUNK * 1021u) {
        for (int i = 0; i < CHUNK; i++)
            x[i] = u2f((uint32_t)(base + (uint64_t)i * 1021u));
        CHECK(fv__bf16_from_f32_n_on(0, x, y0, CHUNK));
        have_avx512 = fv__bf16_from_f32_n_on(1, x, y1, CHUNK - 5); /* odd tail */
        for (int i = 0; i < CHUNK; i++, n++) {
            const uint32_t u = f2u(x[i]);
            const uint16_t s = fv_bf16_from_f32(x[i]);
            const uint32_t mag = u & 0x7FFFFFFFu;
            bool ok = y0[i] == s && (!have_avx512 || i >= CHUNK - 5 || y1[i] == s);
            if (mag >= 0x00800000u && mag < 0x7F800000u) ok = ok && s == round_by_distance(u);
            if (!ok && bad++ < 5)
                fprintf(stderr, "  %08x: scalar %04x portable %04x avx512 %04x\n", u, s, y0[i],
                        y1[i]);
        }
    }
    CHECK(bad == 0);
    printf("  %ld patterns; AVX512_BF16 conversion %s\n", (long)n,
           have_avx512 ? "tested" : "skipped: not on this CPU");
    /* bf16 values survive the round trip. */
    for (uint32_t h = 0; h < 0x10000u; h++) {
        const uint16_t b = (uint16_t)h;
        const float f = fv_bf16_to_f32(b);
        const bool nan = (h & 0x7FFF) > 0x7F80, denormal = (h & 0x7F80) == 0;
        if (!nan && !denormal && fv_bf16_from_f32(f) != b) {
            test_failed_checks++;
            break;
        }
    }
}

/* ---- the emulated FMA and VDPBF16PS ------------------------------------------------------------
 */

TEST(fma_flushes_denormals_and_detects_tininess_after_rounding)
{
    /* Exact value 2^-126 - 2^-150: fmaf rounds it to 2^-126 on the denormal grid, but rounded to
     * 24 bits with unbounded exponent it stays below 2^-126, so x86's FTZ flushes it. */
    const float a = 1.0f + ldexpf(1, -12), b = ldexpf(1.0f + ldexpf(1, -13), -125);
    const float c = -ldexpf(1.0f + 6145 * ldexpf(1, -23), -126);
    CHECK(fmaf(a, b, c) == FLT_MIN);
    CHECK(f2u(fv_bf16_fma_dazftz(a, b, c)) == 0u);
    /* Exact value 2^-126 - 2^-151 rounds to 2^-126 with unbounded exponent: not tiny. */
    const float b2 = ldexpf(1.0f + 1536 * ldexpf(1, -23), -125);
    const float c2 = -ldexpf(1.0f + 7169 * ldexpf(1, -23), -126);
    CHECK(fv_bf16_fma_dazftz(a, b2, c2) == FLT_MIN);
    /* A tiny negative result is -0; denormal inputs count as zero. */
    CHECK(f2u(fv_bf16_fma_dazftz(-ldexpf(1, -100), ldexpf(1, -30), 0.0f)) == 0x80000000u);
    CHECK(fv_bf16_fma_dazftz(u2f(0x00000001u), 1.0f, 1.0f) == 1.0f);
    CHECK(f2u(fv_bf16_fma_dazftz(1.0f, 1.0f, u2f(0x80400000u))) == 0x3F800000u);
    /* NaNs: the first NaN operand, quieted; an invalid operation gives the default NaN. */
    CHECK(f2u(fv_bf16_fma_dazftz(u2f(0x7F800001u), u2f(0xFFC00002u), 1.0f)) == 0x7FC00001u);
    CHECK(f2u(fv_bf16_fma_dazftz(1.0f, u2f(0xFFA00002u), u2f(0x7FC00003u))) == 0xFFE00002u);
    CHECK(f2u(fv_bf16_fma_dazftz(INFINITY, 0.0f, 1.0f)) == 0xFFC00000u);
    CHECK(f2u(fv_bf16_fma_dazftz(INFINITY, 1.0f, -INFINITY)) == 0xFFC00000u);
}

static uint32_t pair(float lo, float hi)
{
    return (uint32_t)fv_bf16_from_f32(lo) | (uint32_t)fv_bf16_from_f32(hi) << 16;
}

TEST(vdpbf16ps_lane_takes_the_odd_element_first)
{
    /* hi product 3·2^-24, lo product -1, acc 1: in the SDM's order 1 + 3·2^-24 rounds to
     * 1 + 2^-22 (a tie, to even) and then -1 leaves 2^-22; low first would give 3·2^-24. */
    const float r = fv_vdpbf16ps_lane(1.0f, pair(-1.0f, 3 * ldexpf(1, -24)), pair(1.0f, 1.0f));
    CHECK(r == ldexpf(1, -22));
    /* NaN priority (SDM Table 5-1): src1 low, src2 low, src1 high, src2 high, srcdest. */
    const uint32_t n1l = 0x7F81u, n2l = 0x7F82u, n1h = 0x7F83u, n2h = 0x7F84u, one = 0x3F80u;
    const float nd = u2f(0x7F800005u);
    CHECK(f2u(fv_vdpbf16ps_lane(nd, n1l | n1h << 16, n2l | n2h << 16)) == 0x7FC10000u);
    CHECK(f2u(fv_vdpbf16ps_lane(nd, one | n1h << 16, n2l | n2h << 16)) == 0x7FC20000u);
    CHECK(f2u(fv_vdpbf16ps_lane(nd, one | n1h << 16, one | n2h << 16)) == 0x7FC30000u);
    CHECK(f2u(fv_vdpbf16ps_lane(nd, one | one << 16, one | n2h << 16)) == 0x7FC40000u);
    CHECK(f2u(fv_vdpbf16ps_lane(nd, one | one << 16, one | one << 16)) == 0x7FC00005u);
    /* bf16 denormal operands are zero. */
    CHECK(fv_vdpbf16ps_lane(0.0f, 0x0001u | 0x0001u << 16, one | one << 16) == 0.0f);
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bf16"))) static void hw_dp(float *acc, const uint32_t *a,
                                                                const uint32_t *b)
{
    __m512 c = _mm512_loadu_ps(acc);
    c = _mm512_dpbf16_ps(c, (__m512bh)_mm512_loadu_si512(a), (__m512bh)_mm512_loadu_si512(b));
    _mm512_storeu_ps(acc, c);
}
#endif

/* A random bf16 of one of several kinds: ordinary, any bits, near the bottom or the top of the
 * exponent range. */
static uint16_t random_bf16(fv_rng *r, int kind)
{
    const uint64_t x = fv__rng_next(r);
    const uint16_t sign = (uint16_t)((x >> 8) & 1) << 15, frac = (uint16_t)((x >> 16) & 0x7F);
    switch (kind) {
    case 0:
        return fv_bf16_from_f32(fv__rng_uniform(r) * 20.0f - 10.0f);
    case 1:
        return (uint16_t)x;
    case 2:
        return (uint16_t)(sign | (uint16_t)(x % 12) << 7 | frac);
    default:
        return (uint16_t)(sign | (uint16_t)(0xF8 + x % 8) << 7 | frac);
    }
}

TEST(vdpbf16ps_emulation_matches_the_instruction)
{
#if defined(__x86_64__)
    if (!fv__cpu_has_avx512_bf16()) {
        printf("  skipped: no AVX512_BF16 on this CPU\n");
        return;
    }
    fv_rng r;
    fv__rng_seed(&r, 15);
    int64_t bad = 0, n = 0;
    for (int kind = 0; kind < 4; kind++)
        for (int it = 0; it < 20000; it++) {
            uint32_t a[16], b[16];
            float acc[16], em[16];
            for (int i = 0; i < 16; i++) {
                a[i] = random_bf16(&r, kind) | (uint32_t)random_bf16(&r, kind) << 16;
                b[i] = random_bf16(&r, kind) | (uint32_t)random_bf16(&r, kind) << 16;
                const float scale = kind == 2 ? 1e-36f : kind == 3 ? 1e30f : 0.125f;
                acc[i] = kind == 1 ? u2f((uint32_t)fv__rng_next(&r))
                                   : (fv__rng_uniform(&r) - 0.5f) * scale;
                em[i] = fv_vdpbf16ps_lane(acc[i], a[i], b[i]);
            }
            hw_dp(acc, a, b);
            for (int i = 0; i < 16; i++, n++)
                if (f2u(acc[i]) != f2u(em[i]) && bad++ < 5)
                    fprintf(stderr, "  kind %d: src1 %08x src2 %08x: cpu %08x, emulation %08x\n",
                            kind, a[i], b[i], f2u(acc[i]), f2u(em[i]));
        }
    CHECK(bad == 0);
    printf("  %ld lanes, bit-exact\n", (long)n);
#else
    printf("  skipped: not x86-64\n");
#endif
}

/* ---- TDPBF16PS ---------------------------------------------------------------------------------
 */

static void tile_put_f32(fv_amx_tile *t, int row, int col, float v)
{
    memcpy(t->data + row * 64 + 4 * col, &v, 4);
}

static float tile_f32(const fv_amx_tile *t, int row, int col)
{
    float v;
    memcpy(&v, t->data + row * 64 + 4 * col, 4);
    return v;
}

static void tile_put_pair(fv_amx_tile *t, int row, int col, uint32_t p)
{
    memcpy(t->data + row * 64 + 4 * col, &p, 4);
}

TEST(tdpbf16ps_sums_even_and_odd_apart)
{
    static fv_amx_tile c, a, b;
    memset(&c, 0xFF, sizeof c); /* bytes outside the configured shape must come back zero */
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
    c.rows = 2, c.colsb = 8; /* 2 × 2 fp32 */
    a.rows = 2, a.colsb = 8; /* 2 rows × 2 pairs */
    b.rows = 2, b.colsb = 8; /* 2 pair-rows × 2 columns */
    tile_put_f32(&c, 0, 0, 0.0f), tile_put_f32(&c, 0, 1, 0.0f);
    tile_put_f32(&c, 1, 0, 10.0f), tile_put_f32(&c, 1, 1, 0.0f);
    /* Row 0: even products 1 and -1, odd products 3·2^-24 and 0 (B = 1). even = 0, odd =
     * 3·2^-24, C = 3·2^-24; the VDPBF16PS chain would give 2^-22. */
    tile_put_pair(&a, 0, 0, pair(1.0f, 3 * ldexpf(1, -24)));
    tile_put_pair(&a, 0, 1, pair(-1.0f, 0.0f));
    tile_put_pair(&a, 1, 0, pair(2.0f, 3.0f));
    tile_put_pair(&a, 1, 1, pair(4.0f, 5.0f));
    for (int k = 0; k < 2; k++) {
        tile_put_pair(&b, k, 0, pair(1.0f, 1.0f));
        tile_put_pair(&b, k, 1, pair(0.5f, -1.0f));
    }
    fv_amx_tile c0 = c;
    fv_tdpbf16ps_emul(&c, &a, &b);
    CHECK(tile_f32(&c, 0, 0) == 3 * ldexpf(1, -24));
    CHECK(tile_f32(&c, 1, 0) == 10.0f + 2 + 3 + 4 + 5);
    CHECK(tile_f32(&c, 1, 1) == 1 - 3 + 2 - 5);
    float chain = 0.0f;
    chain = fv_vdpbf16ps_lane(chain, pair(1.0f, 3 * ldexpf(1, -24)), pair(1.0f, 1.0f));
    chain = fv_vdpbf16ps_lane(chain, pair(-1.0f, 0.0f), pair(1.0f, 1.0f));
    CHECK(chain == ldexpf(1, -22));
    bool zeroed = true;
    for (int row = 0; row < 16; row++)
        for (int byte = row < 2 ? 8 : 0; byte < 64; byte++)
            zeroed = zeroed && c.data[row * 64 + byte] == 0;
    CHECK(zeroed);
    (void)c0;
}

/* ---- packing -----------------------------------------------------------------------------------
 */

/* Packing B, both layouts of B (the transposed one has its own vector path for whole panels of
 * 32 columns and whole blocks of 32 of K): every element where the documented index says. */
TEST(packed_b_follows_the_documented_index)
{
    static const int64_t sizes[][2] = {{35, 37}, {100, 70}, {5, 3}};
    for (int c = 0; c < 3; c++) {
        const int64_t K = sizes[c][0], N = sizes[c][1], kp = (K + 31) / 32 * 32;
        const int64_t n = fv_gemm_bf16_packed_size(K, N);
        CHECK(n == kp * ((N + 31) / 32 * 32));
        float *B = fv__alloc((size_t)(K * N) * 4, "B"), *Bt = fv__alloc((size_t)(K * N) * 4, "Bt");
        uint16_t *p = fv__alloc((size_t)n * 2, "p"), *pt = fv__alloc((size_t)n * 2, "pt");
        if (!B || !Bt || !p || !pt) {
            test_failed_checks++;
        } else {
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < N; j++)
                    B[k * N + j] = Bt[j * K + k] = (float)(k * 100 + j) + 0.25f;
            memset(p, 0xFF, (size_t)n * 2), memset(pt, 0xFF, (size_t)n * 2);
            fv_gemm_bf16_pack_b(false, K, N, B, N, p);
            fv_gemm_bf16_pack_b(true, K, N, Bt, K, pt);
            CHECK(memcmp(p, pt, (size_t)n * 2) == 0);
            int64_t bad = 0;
            for (int64_t k = 0; k < kp; k++)
                for (int64_t j = 0; j < n / kp; j++) {
                    const uint16_t want = k < K && j < N ? fv_bf16_from_f32(B[k * N + j]) : 0;
                    if (p[(j / 32) * 32 * kp + (k / 2) * 64 + (j % 32) * 2 + k % 2] != want) bad++;
                }
            CHECK(bad == 0);
        }
        fv__free(B), fv__free(Bt), fv__free(p), fv__free(pt);
    }
    CHECK(fv_gemm_bf16_packed_size(-1, 3) == -1);
    CHECK(fv_gemm_bf16_packed_size(INT64_MAX / 4, INT64_MAX / 4) == -1);
    CHECK(fv_gemm_bf16_packed_size(0, 0) == 0);
}

/* ---- the GEMM paths ----------------------------------------------------------------------------
 */

typedef struct gshape {
    int64_t M, N, K;
} gshape;

/* Odd and edge shapes: 1, primes, the tile sizes ± 1, more than one column block (N > 128),
 * more than one depth block (K > 512), the dense layer's depth 9216, a tall 9216. */
static const gshape shapes[] = {
    {1, 1, 1},      {7, 7, 7},     {31, 33, 32}, {33, 31, 33}, {32, 64, 31},
    {64, 32, 64},   {13, 70, 128}, {128, 40, 9}, {3, 5, 9216}, {7, 33, 1025},
    {25, 129, 300}, {40, 7, 600},  {9216, 3, 7}, {12, 32, 2},  {1, 128, 33},
};

/* Random data in [-1, 1) with some exact zeros, or (wild) values across the whole exponent
 * range, with infinities and NaNs. */
static void fill(fv_rng *r, float *x, int64_t n, bool wild)
{
    for (int64_t i = 0; i < n; i++) {
        const float u = fv__rng_uniform(r);
        if (!wild) {
            x[i] = u < 0.05f ? 0.0f : 2.0f * fv__rng_uniform(r) - 1.0f;
            continue;
        }
        const uint64_t z = fv__rng_next(r);
        if (u < 0.01f)
            x[i] = (z & 1) ? INFINITY : -INFINITY;
        else if (u < 0.02f)
            x[i] = u2f(0x7FC00000u | (uint32_t)(z & 0x3FFFFF));
        else
            x[i] = ldexpf(2.0f * fv__rng_uniform(r) - 1.0f, (int)(z % 120) - 60);
    }
}

/* One path against the plain loops of its order on every shape, both layouts of A, several
 * alpha/beta, leading dimensions wider than the matrices. Returns false if the path cannot run. */
static bool gemm_path_matches_spec(fv__gemm_bf16_path path, bool wild)
{
    if (!fv__gemm_bf16_path_supported(path)) return false;
    const bool amx = path == FV__BF16_AMX || path == FV__BF16_EMUL_AMX;
    fv_rng r;
    fv__rng_seed(&r, 1500 + (uint64_t)path + (wild ? 100 : 0));
    static const float alphas[] = {1.0f, -0.75f, 1.0f}, betas[] = {0.0f, 1.0f, 0.5f};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < nshapes; s++) {
        const gshape g = shapes[s];
        /* The emulated paths are slow: the tall and deep shapes once. */
        const int ncases = g.M * g.N * g.K > 200000 ? 1 : 3;
        for (int c = 0; c < ncases; c++) {
            const bool ta = (c + s) % 2 == 1;
            const int64_t lda = (ta ? g.M : g.K) + c, ldb = g.N + 1, ldc = g.N + 2 * c;
            const int64_t na = (ta ? g.K : g.M) * lda, nb = g.K * ldb, nc = g.M * ldc;
            const int64_t np = fv_gemm_bf16_packed_size(g.K, g.N);
            float *A = fv__alloc((size_t)na * 4, "A"), *B = fv__alloc((size_t)nb * 4, "B");
            float *C = fv__alloc((size_t)nc * 4, "C"), *R = fv__alloc((size_t)nc * 4, "R");
            uint16_t *bp = fv__alloc((size_t)np * 2, "bp");
            if (!A || !B || !C || !R || !bp) {
                test_failed_checks++;
            } else {
                fill(&r, A, na, wild), fill(&r, B, nb, wild), fill(&r, C, nc, false);
                memcpy(R, C, (size_t)nc * 4);
                fv_gemm_bf16_pack_b(false, g.K, g.N, B, ldb, bp);
                CHECK(fv__gemm_bf16_on_path(path, ta, g.M, g.N, g.K, alphas[c], A, lda, bp,
                                            betas[c], C, ldc));
                fv__gemm_bf16_ref(amx, ta, g.M, g.N, g.K, alphas[c], A, lda, bp, betas[c], R, ldc);
                char what[96];
                snprintf(what, sizeof what, "%s M=%ld N=%ld K=%ld ta=%d alpha=%g beta=%g",
                         fv__gemm_bf16_path_name(path), (long)g.M, (long)g.N, (long)g.K, ta,
                         (double)alphas[c], (double)betas[c]);
                check_bits(what, C, R, nc);
            }
            fv__free(A), fv__free(B), fv__free(C), fv__free(R), fv__free(bp);
        }
    }
    return true;
}

static int paths_tested;

static void report_path(fv__gemm_bf16_path p, bool ran)
{
    if (ran)
        paths_tested++;
    else
        printf("  %s skipped: not on this CPU (or the OS refused the AMX tile state)\n",
               fv__gemm_bf16_path_name(p));
}

TEST(emulated_dot_path_is_bit_exact_to_its_spec)
{
    report_path(FV__BF16_EMUL_DOT, gemm_path_matches_spec(FV__BF16_EMUL_DOT, false));
    gemm_path_matches_spec(FV__BF16_EMUL_DOT, true);
}

TEST(avx512_bf16_path_is_bit_exact_to_the_emulation)
{
    report_path(FV__BF16_AVX512, gemm_path_matches_spec(FV__BF16_AVX512, false));
    gemm_path_matches_spec(FV__BF16_AVX512, true);
}

TEST(emulated_amx_tiles_are_bit_exact_to_the_amx_spec)
{
    report_path(FV__BF16_EMUL_AMX, gemm_path_matches_spec(FV__BF16_EMUL_AMX, false));
    gemm_path_matches_spec(FV__BF16_EMUL_AMX, true);
}

TEST(amx_path_is_bit_exact_to_the_amx_spec)
{
    report_path(FV__BF16_AMX, gemm_path_matches_spec(FV__BF16_AMX, false));
    gemm_path_matches_spec(FV__BF16_AMX, true);
}

/* A given in bf16 (fv_gemm_bf16_a16) gives the same bits as its fp32 values through
 * fv_gemm_bf16, on every path here: blocks read in place (even K and lda) and copied (odd K or
 * lda, a partial strip, AMX's padded depth). */
TEST(bf16_a_gives_the_bits_of_its_fp32_values)
{
    static const gshape sh[] = {{24, 40, 64}, {25, 33, 31}, {12, 32, 512}, {36, 70, 1030},
                                {7, 9, 9216}, {1, 1, 1},    {96, 64, 288}, {13, 128, 2}};
    fv_rng r;
    fv__rng_seed(&r, 16);
    int paths = 0;
    for (int p = 0; p < FV__BF16_NPATHS; p++) {
        if (!fv__gemm_bf16_path_supported((fv__gemm_bf16_path)p)) continue;
        paths++;
        for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
            const gshape g = sh[s];
            const int64_t lda = g.K + (int64_t)(s % 2), np = fv_gemm_bf16_packed_size(g.K, g.N);
            uint16_t *A16 = fv__alloc((size_t)(g.M * lda) * 2, "A16");
            float *A = fv__alloc((size_t)(g.M * lda) * 4, "A");
            float *B = fv__alloc((size_t)(g.K * g.N) * 4, "B");
            float *C = fv__alloc((size_t)(g.M * g.N) * 4, "C");
            float *R = fv__alloc((size_t)(g.M * g.N) * 4, "R");
            uint16_t *bp = fv__alloc((size_t)np * 2, "bp");
            if (!A16 || !A || !B || !C || !R || !bp) {
                test_failed_checks++;
            } else {
                fill(&r, A, g.M * lda, s == 3), fill(&r, B, g.K * g.N, false);
                fill(&r, C, g.M * g.N, false);
                memcpy(R, C, (size_t)(g.M * g.N) * 4);
                fv_bf16_from_f32_n(A, A16, g.M * lda);
                fv_bf16_to_f32_n(A16, A, g.M * lda);
                fv_gemm_bf16_pack_b(false, g.K, g.N, B, g.N, bp);
                CHECK(fv__gemm_bf16_a16_on_path((fv__gemm_bf16_path)p, g.M, g.N, g.K, 0.5f, A16,
                                                lda, bp, 1.0f, C, g.N));
                CHECK(fv__gemm_bf16_on_path((fv__gemm_bf16_path)p, false, g.M, g.N, g.K, 0.5f, A,
                                            lda, bp, 1.0f, R, g.N));
                char what[96];
                snprintf(what, sizeof what, "%s a16 M=%ld N=%ld K=%ld lda=%ld",
                         fv__gemm_bf16_path_name((fv__gemm_bf16_path)p), (long)g.M, (long)g.N,
                         (long)g.K, (long)lda);
                check_bits(what, C, R, g.M * g.N);
            }
            fv__free(A16), fv__free(A), fv__free(B), fv__free(C), fv__free(R), fv__free(bp);
        }
    }
    CHECK(paths >= 2);
}

/* An element depends only on its row of A, its column of B, alpha, beta and its C: computing C
 * in pieces (as threads split rows or columns) gives the same bits as computing it at once. */
TEST(results_do_not_depend_on_how_the_work_is_split)
{
    const int64_t M = 53, N = 75, K = 700, mcut = 17, ncut = 39;
    fv_rng r;
    fv__rng_seed(&r, 17);
    const int64_t np = fv_gemm_bf16_packed_size(K, N), nbh = fv_gemm_bf16_packed_size(K, N - ncut);
    float *A = fv__alloc((size_t)(M * K) * 4, "A"), *B = fv__alloc((size_t)(K * N) * 4, "B");
    float *C = fv__alloc((size_t)(M * N) * 4, "C"), *R = fv__alloc((size_t)(M * N) * 4, "R");
    uint16_t *bp = fv__alloc((size_t)np * 2, "bp"), *bl = fv__alloc((size_t)np * 2, "bl");
    uint16_t *bh = fv__alloc((size_t)nbh * 2, "bh");
    if (!A || !B || !C || !R || !bp || !bl || !bh) {
        test_failed_checks++;
        goto out;
    }
    fill(&r, A, M * K, false), fill(&r, B, K * N, false), fill(&r, C, M * N, false);
    memcpy(R, C, (size_t)(M * N) * 4);
    fv_gemm_bf16_pack_b(false, K, N, B, N, bp);
    fv_gemm_bf16_pack_b(false, K, ncut, B, N, bl);
    fv_gemm_bf16_pack_b(false, K, N - ncut, B + ncut, N, bh);
    for (int p = 0; p < FV__BF16_NPATHS; p++) {
        const fv__gemm_bf16_path path = (fv__gemm_bf16_path)p;
        if (!fv__gemm_bf16_path_supported(path)) continue;
        memcpy(C, R, (size_t)(M * N) * 4);
        float *W = fv__alloc((size_t)(M * N) * 4, "W");
        if (!W) {
            test_failed_checks++;
            continue;
        }
        memcpy(W, R, (size_t)(M * N) * 4);
        fv__gemm_bf16_on_path(path, false, M, N, K, 0.5f, A, K, bp, 1.0f, W, N);
        /* Rows split at mcut, columns at ncut: four calls. */
        fv__gemm_bf16_on_path(path, false, mcut, ncut, K, 0.5f, A, K, bl, 1.0f, C, N);
        fv__gemm_bf16_on_path(path, false, mcut, N - ncut, K, 0.5f, A, K, bh, 1.0f, C + ncut, N);
        fv__gemm_bf16_on_path(path, false, M - mcut, ncut, K, 0.5f, A + mcut * K, K, bl, 1.0f,
                              C + mcut * N, N);
        fv__gemm_bf16_on_path(path, false, M - mcut, N - ncut, K, 0.5f, A + mcut * K, K, bh, 1.0f,
                              C + mcut * N + ncut, N);
        check_bits(fv__gemm_bf16_path_name(path), C, W, M * N);
        fv__free(W);
    }
out:
    fv__free(A), fv__free(B), fv__free(C), fv__free(R), fv__free(bp), fv__free(bl), fv__free(bh);
}

/* ---- against fp32 ------------------------------------------------------------------------------
 */

/* The bf16 GEMM on the best path against the fp32 reference (double sums of the unrounded
 * values), within the bound of bf16.h per element; and not equal to it (bf16 rounding happened). */
TEST(bf16_gemm_is_within_the_stated_bound_of_fp32)
{
    static const gshape seed[] = {{64, 64, 288}, {4, 128, 9216}, {33, 10, 128}};
    fv_rng r;
    fv__rng_seed(&r, 151);
    for (int s = 0; s < 3; s++) {
        const gshape g = seed[s];
        const int64_t np = fv_gemm_bf16_packed_size(g.K, g.N);
        float *A = fv__alloc((size_t)(g.M * g.K) * 4, "A");
        float *B = fv__alloc((size_t)(g.K * g.N) * 4, "B");
        float *C = fv__alloc((size_t)(g.M * g.N) * 4, "C");
        float *R = fv__alloc((size_t)(g.M * g.N) * 4, "R");
        float *absA = fv__alloc((size_t)(g.M * g.K) * 4, "absA");
        float *absB = fv__alloc((size_t)(g.K * g.N) * 4, "absB");
        float *S = fv__alloc((size_t)(g.M * g.N) * 4, "S");
        uint16_t *bp = fv__alloc((size_t)np * 2, "bp");
        if (!A || !B || !C || !R || !absA || !absB || !S || !bp) {
            test_failed_checks++;
            goto next;
        }
        fill(&r, A, g.M * g.K, false), fill(&r, B, g.K * g.N, false);
        for (int64_t i = 0; i < g.M * g.K; i++)
            absA[i] = fabsf(A[i]);
        for (int64_t i = 0; i < g.K * g.N; i++)
            absB[i] = fabsf(B[i]);
        fv_gemm_bf16_pack_b(false, g.K, g.N, B, g.N, bp);
        fv_gemm_ref(false, false, g.M, g.N, g.K, 1.0f, A, g.K, B, g.N, 0.0f, R, g.N);
        fv_gemm_ref(false, false, g.M, g.N, g.K, 1.0f, absA, g.K, absB, g.N, 0.0f, S, g.N);
        /* Every path: the dot and the AMX orders both stay within the bound. */
        for (int p = 0; p < FV__BF16_NPATHS; p++) {
            const fv__gemm_bf16_path path = (fv__gemm_bf16_path)p;
            if (!fv__gemm_bf16_on_path(path, false, g.M, g.N, g.K, 1.0f, A, g.K, bp, 0.0f, C, g.N))
                continue;
            double worst = 0.0, bound = fv_bf16_gemm_rtol(g.K);
            int64_t over = 0;
            for (int64_t i = 0; i < g.M * g.N; i++) {
                const double e = fabs((double)C[i] - (double)R[i]);
                const double rel = S[i] > 0 ? e / S[i] : e;
                if (rel > bound) over++;
                if (rel > worst) worst = rel;
            }
            CHECK(over == 0);
            CHECK(worst > 0.0);
            printf("  %s M=%ld N=%ld K=%ld: largest |bf16 - fp32| / Σ|a·b| = %.2e (bound %.2e)\n",
                   fv__gemm_bf16_path_name(path), (long)g.M, (long)g.N, (long)g.K, worst, bound);
        }
    next:
        fv__free(A), fv__free(B), fv__free(C), fv__free(R), fv__free(absA), fv__free(absB);
        fv__free(S), fv__free(bp);
    }
}

/* ---- the dense layer's weight gradient (fv_dense_dw_bf16) -------------------------------------
 * The specification: each chunk's X_cᵀ·dY_c by the dot path's plain loops (fv__gemm_bf16_ref,
 * A = X transposed, B = the chunk's dY packed), the chunks added as the balanced tree
 * t[j] + t[j + w], then dW + the tree. Both implementations (the emulation everywhere, AVX512_BF16
 * where the CPU has it) must give its bits, for odd sizes, odd and empty chunks, and for dW's
 * rows split between two calls (as the layer's blocks split them); on wild data (infinities,
 * NaNs, 2^±60) too, up to which NaN comes out where two meet in an addition. */
/* The dense weight-gradient cases: a batch of n, chunks c0 .. c1 of its 16, dW [m × N]. */
static const struct {
    int64_t n, m, N, c0, c1;
} dw_cases[] = {
    {128, 256, 128, 0, 16}, /* the seed's dense layer, one block */
    {29, 37, 70, 0, 16},    /* odd chunks (1 or 2 samples), odd rows and columns */
    {10, 9, 5, 4, 12},      /* a slice of the batch, empty chunks */
    {3, 1, 33, 0, 2},       {40, 8, 16, 0, 1}, {77, 19, 47, 8, 16},
};

/* Case s's chunk bounds, relative to its first sample (bd[0 .. chunks]); returns the chunks. */
static int dw_case_bounds(size_t s, int64_t bd[17])
{
    const int nch = (int)(dw_cases[s].c1 - dw_cases[s].c0);
    const int64_t n = dw_cases[s].n, first = dw_cases[s].c0 * n / 16;
    for (int c = 0; c <= nch; c++)
        bd[c] = (dw_cases[s].c0 + c) * n / 16 - first;
    return nch;
}

/* n floats (at least one), or the test aborts. */
/* The dense layer's chunk tree over nch leaves of size floats (t, leaf c at t + c·size; t is
 * overwritten): t[c] + t[c + w] as a balanced tree (left + right), then out = base + the tree. */
static void tree_then_add(float *t, int nch, int64_t size, const float *base, float *out)
{
    for (int w = 1; w < nch; w *= 2)
        for (int c = 0; c + w < nch; c += 2 * w)
            for (int64_t e = 0; e < size; e++)
                t[c * size + e] = t[c * size + e] + t[(c + w) * size + e];
    for (int64_t e = 0; e < size; e++)
        out[e] = base[e] + t[e];
}

static void dw_spec(int64_t m, int64_t N, int nch, const int64_t *bd, const float *X, int64_t ldx,
                    const float *dY, float *dW)
{
    float *t = fv__alloc((size_t)(nch * m * N) * 4, "t");
    uint16_t *bp = fv__alloc((size_t)fv_gemm_bf16_packed_size(bd[nch], N) * 2 + 64, "bp");
    if (!t || !bp) {
        test_failed_checks++;
        fv__free(t), fv__free(bp);
        return;
    }
    for (int c = 0; c < nch; c++) {
        float *leaf = t + c * m * N;
        memset(leaf, 0, (size_t)(m * N) * 4);
        const int64_t lo = bd[c], len = bd[c + 1] - bd[c];
        if (len == 0) continue;
        fv_gemm_bf16_pack_b(false, len, N, dY + lo * N, N, bp);
        fv__gemm_bf16_ref(false, true, m, N, len, 1.0f, X + lo * ldx, ldx, bp, 0.0f, leaf, N);
    }
    tree_then_add(t, nch, m * N, dW, dW);
    fv__free(t), fv__free(bp);
}

TEST(dense_weight_gradient_is_the_chunked_gemm_and_tree_bit_for_bit)
{
    fv_rng r;
    fv__rng_seed(&r, 21);
    int impls = 0;
    for (size_t s = 0; s < sizeof dw_cases / sizeof dw_cases[0]; s++) {
        const int64_t n = dw_cases[s].n, m = dw_cases[s].m, N = dw_cases[s].N, ldx = m + 3;
        int64_t bd[17];
        const int nch = dw_case_bounds(s, bd);
        const int64_t rows = fv_dense_bf16_pair_rows(nch, bd), len = bd[nch];
        for (int wild = 0; wild < 2; wild++) {
            float *X = fv__alloc((size_t)(len * ldx) * 4 + 4, "X");
            float *dY = fv__alloc((size_t)(len * N) * 4 + 4, "dY");
            float *W0 = fv__alloc((size_t)(m * N) * 4, "W0"),
                  *R = fv__alloc((size_t)(m * N) * 4, "R");
            float *D = fv__alloc((size_t)(m * N) * 4, "D");
            uint16_t *xp = fv__alloc((size_t)(rows * m) * 4 + 4, "xp");
            uint16_t *dp = fv__alloc((size_t)(rows * N) * 4 + 4, "dp");
            if (!X || !dY || !W0 || !R || !D || !xp || !dp) {
                test_failed_checks++;
            } else {
                fill(&r, X, len * ldx, wild), fill(&r, dY, len * N, wild);
                fill(&r, W0, m * N, false);
                memcpy(R, W0, (size_t)(m * N) * 4);
                dw_spec(m, N, nch, bd, X, ldx, dY, R);
                fv_dense_bf16_pack_pairs(X, ldx, m, nch, bd, xp, m);
                fv_dense_bf16_pack_pairs(dY, N, N, nch, bd, dp, N);
                for (int impl = 0; impl < 2; impl++) {
                    memcpy(D, W0, (size_t)(m * N) * 4);
                    /* Rows [0, cut) and [cut, m) in two calls, as two blocks of the layer. */
                    const int64_t cut = m / 3;
                    if (!fv__dense_dw_bf16_on(impl, cut, N, nch, bd, xp, m, dp, N, D, N)) {
                        if (impl == 1 && !wild && s == 0)
                            printf("  dense dW avx512-bf16 skipped: not on this CPU\n");
                        continue;
                    }
                    CHECK(fv__dense_dw_bf16_on(impl, m - cut, N, nch, bd, xp + 2 * cut, m, dp, N,
                                               D + cut * N, N));
                    impls += !wild && s == 0;
                    char what[96];
                    snprintf(what, sizeof what, "dense dW impl %d n=%ld m=%ld N=%ld chunks=%d%s",
                             impl, (long)n, (long)m, (long)N, nch, wild ? " wild" : "");
                    if (wild)
                        check_bits_any_nan(what, D, R, m * N);
                    else
                        check_bits(what, D, R, m * N);
                }
            }
            fv__free(X), fv__free(dY), fv__free(W0), fv__free(R), fv__free(D), fv__free(xp);
            fv__free(dp);
        }
    }
    CHECK(impls >= 1);
    /* Chunk counts the layers never use are refused, not summed in another order. */
    const int64_t bad[4] = {0, 1, 2, 3};
    float d = 0.0f;
    const uint16_t z[4] = {0};
    CHECK(!fv__dense_dw_bf16_on(0, 1, 1, 3, bad, z, 1, z, 1, &d, 1));
}

/* fv_dense_dw_f32 against what the dense layer computes without it: each chunk's X_cᵀ·dY_c by
 * fv_gemm (beta 0), the chunks added as the balanced tree, then dW + the tree; bit for bit, on
 * odd sizes, odd and empty chunks, a slice of the batch, and dW's rows split between two calls;
 * on wild values too (infinities, NaNs: any NaN equals any NaN, since which of two NaNs an
 * addition keeps is the compiler's operand order). Where the kernel does not run (another path,
 * no AVX512_BF16) it must say so and leave dW alone. */
TEST(dense_fp32_weight_gradient_is_the_chunked_gemm_and_tree)
{
    fv_rng r;
    fv__rng_seed(&r, 91);
    int ran = 0;
    for (size_t s = 0; s < sizeof dw_cases / sizeof dw_cases[0]; s++)
        for (int wild = 0; wild < 2; wild++) {
            const int64_t m = dw_cases[s].m, N = dw_cases[s].N, ldx = m + 5;
            int64_t bd[17];
            const int nch = dw_case_bounds(s, bd);
            const int64_t len = bd[nch];
            float *X = falloc(len * ldx), *dY = falloc(len * N), *W0 = falloc(m * N);
            float *R = falloc(m * N), *D = falloc(m * N), *t = falloc(nch * m * N);
            fill(&r, X, len * ldx, false), fill(&r, dY, len * N, false), fill(&r, W0, m * N, false);
            if (wild)
                for (int64_t i = 0; i < len * N; i += 7)
                    dY[i] = i % 3 == 0 ? INFINITY : i % 3 == 1 ? NAN : ldexpf(dY[i], 60);
            for (int c = 0; c < nch; c++) {
                if (bd[c + 1] > bd[c])
                    fv_gemm(true, false, m, N, bd[c + 1] - bd[c], 1.0f, X + bd[c] * ldx, ldx,
                            dY + bd[c] * N, N, 0.0f, t + c * m * N, N);
                else
                    memset(t + c * m * N, 0, (size_t)(m * N) * sizeof(float));
            }
            tree_then_add(t, nch, m * N, W0, R);
            memcpy(D, W0, (size_t)(m * N) * sizeof(float));
            const int64_t cut = m / 3;
            if (fv_dense_dw_f32(cut, N, nch, bd, X, ldx, dY, N, D, N)) {
                CHECK(fv_dense_dw_f32(m - cut, N, nch, bd, X + cut, ldx, dY, N, D + cut * N, N));
                int64_t bad = 0;
                for (int64_t e = 0; e < m * N; e++) {
                    const bool nan2 = D[e] != D[e] && R[e] != R[e];
                    if (!nan2 && memcmp(&D[e], &R[e], sizeof(float)) != 0 && bad++ < 3)
                        fprintf(stderr, "  dW[%ld]: %.9g vs %.9g (case %zu%s)\n", (long)e,
                                (double)D[e], (double)R[e], s, wild ? ", wild" : "");
                }
                CHECK(bad == 0);
                ran++;
            } else {
                CHECK(memcmp(D, W0, (size_t)(m * N) * sizeof(float)) == 0);
            }
            free(X), free(dY), free(W0), free(R), free(D), free(t);
        }
    if (!ran) printf("  fp32 dense dW kernel not run: needs the avx512 path and AVX512_BF16\n");
    /* A chunk deeper than fv_gemm's one depth block is left to fv_gemm. */
    const int64_t deep[3] = {0, 300, 301};
    float x1[301] = {0}, d1[301] = {0}, w1 = 0.0f;
    CHECK(!fv_dense_dw_f32(1, 1, 2, deep, x1, 1, d1, 1, &w1, 1));
}

TEST(zero_sizes_and_alpha_zero_only_scale_c)
{
    float C[6] = {1, 2, 3, 4, 5, u2f(0x7FC00000u)};
    const uint16_t bp[1] = {0};
    CHECK(fv__gemm_bf16_on_path(FV__BF16_EMUL_DOT, false, 2, 3, 0, 1.0f, NULL, 1, bp, 2.0f, C, 3));
    CHECK(C[0] == 2 && C[4] == 10);
    CHECK(fv__gemm_bf16_on_path(FV__BF16_EMUL_DOT, false, 2, 3, 0, 1.0f, NULL, 1, bp, 0.0f, C, 3));
    CHECK(C[0] == 0 && f2u(C[5]) == 0); /* beta 0 does not read C: the NaN is gone */
    CHECK(fv__gemm_bf16_on_path(FV__BF16_EMUL_DOT, false, 0, 3, 5, 1.0f, NULL, 1, bp, 0.0f, C, 3));
    CHECK(strlen(fv_gemm_bf16_path()) > 0);
}

int main(void)
{
    RUN(conversion_rounds_to_nearest_even_and_keeps_nan_quiet);
    RUN(conversion_matches_rounding_by_distance_and_the_vector_forms);
    RUN(fma_flushes_denormals_and_detects_tininess_after_rounding);
    RUN(vdpbf16ps_lane_takes_the_odd_element_first);
    RUN(vdpbf16ps_emulation_matches_the_instruction);
    RUN(tdpbf16ps_sums_even_and_odd_apart);
    RUN(packed_b_follows_the_documented_index);
    RUN(emulated_dot_path_is_bit_exact_to_its_spec);
    RUN(avx512_bf16_path_is_bit_exact_to_the_emulation);
    RUN(emulated_amx_tiles_are_bit_exact_to_the_amx_spec);
    RUN(amx_path_is_bit_exact_to_the_amx_spec);
    RUN(bf16_a_gives_the_bits_of_its_fp32_values);
    RUN(results_do_not_depend_on_how_the_work_is_split);
    RUN(bf16_gemm_is_within_the_stated_bound_of_fp32);
    RUN(zero_sizes_and_alpha_zero_only_scale_c);
    RUN(dense_weight_gradient_is_the_chunked_gemm_and_tree_bit_for_bit);
    RUN(dense_fp32_weight_gradient_is_the_chunked_gemm_and_tree);
    printf("bf16 GEMM paths tested: %d of %d (fv_gemm_bf16 uses %s)\n", paths_tested,
           FV__BF16_NPATHS, fv_gemm_bf16_path());
    if (paths_tested == 0) return 77;
    return TEST_SUMMARY();
}
