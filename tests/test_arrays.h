/* test_arrays.h — the float arrays the kernel tests fill: an allocation that aborts on failure
 * and uniform random values, one copy for test_kernels, test_bf16, test_eltwise and the Winograd
 * tests (each had its own).
 */
#ifndef FV_TEST_ARRAYS_H
#define FV_TEST_ARRAYS_H

#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>

/* n floats (at least one) from malloc; aborts when out of memory. */
static __attribute__((unused)) float *falloc(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) abort();
    return p;
}

/* x[i] uniform in [-1, 1) from r, i < n. */
static __attribute__((unused)) void fill_rand(fv_rng *r, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.0f * fv__rng_uniform(r) - 1.0f;
}

#endif
