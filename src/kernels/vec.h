/* vec.h — small element-wise loops written in 4-float vectors (GCC/Clang vector extension: SSE
 * on x86-64, NEON on arm64), because -O2's cost model does not vectorize a loop that needs a
 * scalar tail. Inline, for the hot loops of the kernels and layers.
 */
#ifndef FV_KERNELS_VEC_H
#define FV_KERNELS_VEC_H

#include <stdint.h>

/* An unaligned 4-float vector, its compares' lane masks, and an unaligned 8-float vector (AVX's
 * width where the target has it, two 4-float halves where not). */
typedef float fv__v4u __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t fv__v4i __attribute__((vector_size(16)));
typedef float fv__v8u __attribute__((vector_size(32), aligned(4), may_alias));

/* d[n] += s[n], the two not overlapping. */
static inline void fv__add_run(float *restrict d, const float *restrict s, int64_t n)
{
    int64_t j = 0;
    for (; j + 4 <= n; j += 4)
        *(fv__v4u *)(d + j) += *(const fv__v4u *)(s + j);
    for (; j < n; j++)
        d[j] += s[j];
}

/* d[n] = s[n], the two not overlapping: a loop, where a libc memcpy call per short run costs
 * more than the copy. */
static inline void fv__copy_run(float *restrict d, const float *restrict s, int64_t n)
{
    int64_t j = 0;
    for (; j + 4 <= n; j += 4)
        *(fv__v4u *)(d + j) = *(const fv__v4u *)(s + j);
    for (; j < n; j++)
        d[j] = s[j];
}

#endif
