/* bf16.c — bfloat16 conversion (scalar, portable vector loop, AVX512_BF16) and portable
 * emulations of VDPBF16PS and TDPBF16PS following the SDM's Operation sections, which the bf16
 * GEMM's paths are tested against. CPU detection for the bf16 instructions.
 */
#include "kernels/bf16.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#define FV_BF16_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- conversion ---------------------------------------------------------------------------- */

/* SDM VCVTNEPS2BF16, convert_fp32_to_bfloat16: zero or denormal -> signed zero; NaN -> upper
 * half with the quiet bit (bf16 bit 6) set; otherwise the integer add of 0x7FFF + lsb rounds to
 * nearest even (and carries a value past the largest bf16 into the infinity pattern; infinity
 * itself is unchanged by it). Written without branches so that the loop below vectorises. */
static inline uint16_t round_bits(uint32_t u)
{
    const uint32_t mag = u & 0x7FFFFFFFu;
    const uint32_t rne = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    const uint32_t nan = (u >> 16) | 0x40u;
    const uint32_t zero = (u >> 16) & 0x8000u;
    uint32_t r = mag > 0x7F800000u ? nan : rne;
    r = mag < 0x00800000u ? zero : r;
    return (uint16_t)r;
}

uint16_t fv_bf16_from_f32(float x)
{
    return round_bits(f2u(x));
}

float fv_bf16_to_f32(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

static void from_f32_portable(const float *restrict x, uint16_t *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        y[i] = round_bits(u);
    }
}

#if defined(FV_BF16_X86)
/* VCVTNE2PS2BF16: 32 floats per instruction; the tail through the scalar form. */
__attribute__((target("avx512f,avx512bw,avx512bf16"))) static void
from_f32_avx512(const float *restrict x, uint16_t *restrict y, int64_t n)
{
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512((void *)(y + i), (__m512i)v);
    }
    for (; i < n; i++)
        y[i] = fv_bf16_from_f32(x[i]);
}
#endif

bool fv__bf16_from_f32_n_on(int impl, const float *x, uint16_t *y, int64_t n)
{
    if (impl == 0) {
        from_f32_portable(x, y, n);
        return true;
    }
#if defined(FV_BF16_X86)
    if (impl == 1 && fv__cpu_has_avx512_bf16()) {
        from_f32_avx512(x, y, n);
        return true;
    }
#endif
    return false;
}

void fv_bf16_from_f32_n(const float *x, uint16_t *y, int64_t n)
{
    if (!fv__bf16_from_f32_n_on(1, x, y, n)) from_f32_portable(x, y, n);
}

void fv_bf16_to_f32_n(const uint16_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)x[i] << 16;
        memcpy(y + i, &u, sizeof u);
    }
}

/* ---- the FMA of both instructions ------------------------------------------------------------ */

static const uint32_t DEFAULT_NAN = 0xFFC00000u; /* x86 "QNaN floating-point indefinite" */

static inline bool is_nan_bits(uint32_t u)
{
    return (u & 0x7FFFFFFFu) > 0x7F800000u;
}

/* DAZ: a denormal input counts as zero of its sign. */
static inline float daz(float x)
{
    const uint32_t u = f2u(x);
    return (u & 0x7F800000u) == 0 ? u2f(u & 0x80000000u) : x;
}

/* a·b + c rounded once to nearest even, then FTZ with x86's tininess after rounding: a nonzero
 * result whose exact value, rounded to 24 bits with unbounded exponent, is below 2^-126 becomes
 * zero of its sign. a, b, c are not NaN and not denormal. */
static float fma_ftz(float a, float b, float c)
{
    const float r = fmaf(a, b, c);
    if (r != r) return u2f(DEFAULT_NAN); /* inf·0 or inf - inf */
    const float ar = fabsf(r);
    if (ar < FLT_MIN) return copysignf(0.0f, r);
    if (ar == FLT_MIN) {
        /* The only case where rounding to the denormal grid (fmaf) and rounding with unbounded
         * exponent disagree on tininess: the exact value in [2^-126 - 2^-150, 2^-126 - 2^-151)
         * gives 2^-126 in fmaf but is tiny for x86. The exact value is s + e (TwoSum in double,
         * where a·b is exact). */
        const double p = (double)a * (double)b, s = p + (double)c, bb = s - p;
        const double e = (p - (s - bb)) + ((double)c - bb);
        const double t = ldexp(1.0, -126) - ldexp(1.0, -151);
        const double as = fabs(s);
        if (as < t || (as == t && e != 0 && (e < 0) != (s < 0))) return copysignf(0.0f, r);
    }
    return r;
}

float fv_bf16_fma_dazftz(float a, float b, float c)
{
    const uint32_t ua = f2u(a), ub = f2u(b), uc = f2u(c);
    if (is_nan_bits(ua)) return u2f(ua | 0x00400000u);
    if (is_nan_bits(ub)) return u2f(ub | 0x00400000u);
    if (is_nan_bits(uc)) return u2f(uc | 0x00400000u);
    return fma_ftz(daz(a), daz(b), daz(c));
}

/* The FMA of one bf16 product: a and b have 8 significant bits, so a·b (16 bits) is exact in
 * fp32 unless it overflows or leaves the normal range, and then the fp32 sum p + c is the
 * correctly rounded FMA; a result that is denormal is then exact (a sum of two floats that is
 * denormal always is), so tiny, and flushed. Everything else takes the general route. */
static inline float dp_fma(float a, float b, float c)
{
    const uint32_t ua = f2u(a), ub = f2u(b), uc = f2u(c);
    if (is_nan_bits(ua) || is_nan_bits(ub) || is_nan_bits(uc)) return fv_bf16_fma_dazftz(a, b, c);
    a = daz(a), b = daz(b), c = daz(c);
    const float p = a * b, ap = fabsf(p);
    if ((ap >= FLT_MIN && ap <= FLT_MAX) || (a == 0.0f && fabsf(b) <= FLT_MAX) ||
        (b == 0.0f && fabsf(a) <= FLT_MAX)) {
        const float r = p + c;
        if (r != r) return u2f(DEFAULT_NAN);
        return fabsf(r) < FLT_MIN ? copysignf(0.0f, r) : r;
    }
    return fma_ftz(a, b, c);
}

float fv_vdpbf16ps_lane(float acc, uint32_t s1, uint32_t s2)
{
    /* SDM: srcdest.fp32[i] += make_fp32(src1.bfloat16[2i+1]) * make_fp32(t.bfloat[1]), then the
     * same with element 0. */
    acc = dp_fma(u2f(s1 & 0xFFFF0000u), u2f(s2 & 0xFFFF0000u), acc);
    return dp_fma(u2f(s1 << 16), u2f(s2 << 16), acc);
}

void fv_tdpbf16ps_emul(fv_amx_tile *dst, const fv_amx_tile *a, const fv_amx_tile *b)
{
    const int kpairs = a->colsb / 4, ncols = dst->colsb / 4;
    for (int m = 0; m < dst->rows; m++) {
        float even[16] = {0}, odd[16] = {0};
        const uint8_t *arow = a->data + m * 64;
        for (int k = 0; k < kpairs; k++) {
            uint32_t ap;
            memcpy(&ap, arow + 4 * k, 4);
            const uint8_t *brow = b->data + k * 64;
            for (int n = 0; n < ncols; n++) {
                uint32_t bp;
                memcpy(&bp, brow + 4 * n, 4);
                even[n] = dp_fma(u2f(ap << 16), u2f(bp << 16), even[n]);
                odd[n] = dp_fma(u2f(ap & 0xFFFF0000u), u2f(bp & 0xFFFF0000u), odd[n]);
            }
        }
        uint8_t *crow = dst->data + m * 64;
        for (int n = 0; n < ncols; n++) {
            float c;
            memcpy(&c, crow + 4 * n, 4);
            const float t = fv_bf16_fma_dazftz(even[n], 1.0f, odd[n]);
            c = fv_bf16_fma_dazftz(c, 1.0f, t);
            memcpy(crow + 4 * n, &c, 4);
        }
        memset(dst->data + m * 64 + dst->colsb, 0, (size_t)(64 - dst->colsb));
    }
    memset(dst->data + dst->rows * 64, 0, (size_t)(16 - dst->rows) * 64);
}

/* ---- CPU detection --------------------------------------------------------------------------- */

/* CPUID traps to the hypervisor in a virtual machine (microseconds): each answer is asked once
 * and cached. Threads that race to fill a cache store the same value; the atomics make the race
 * well-defined. */
static bool cpu_has_avx512_bf16(void);
static bool cpu_has_amx_bf16(void);

static bool cached(int *slot, bool (*ask)(void))
{
    int v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (v < 0) {
        v = ask() ? 1 : 0;
        __atomic_store_n(slot, v, __ATOMIC_RELAXED);
    }
    return v == 1;
}

bool fv__cpu_has_avx512_bf16(void)
{
    static int v = -1;
    return cached(&v, cpu_has_avx512_bf16);
}

bool fv__cpu_has_amx_bf16(void)
{
    static int v = -1;
    return cached(&v, cpu_has_amx_bf16);
}

static bool cpu_has_avx512_bf16(void)
{
#if defined(FV_BF16_X86)
    unsigned a, b, c, d;
    /* CPUID.(EAX=7, ECX=1):EAX bit 5 is AVX512_BF16; libgcc's avx512f check includes the OS
     * saving the zmm state. */
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl"))
        return false;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
    return (a >> 5) & 1u;
#else
    return false;
#endif
}

static bool cpu_has_amx_bf16(void)
{
#if defined(FV_BF16_X86)
    unsigned a, b, c, d;
    /* CPUID.(EAX=7, ECX=0):EDX bit 22 AMX-BF16, bit 24 AMX-TILE. */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return ((d >> 22) & 1u) && ((d >> 24) & 1u);
#else
    return false;
#endif
}
