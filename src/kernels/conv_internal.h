/* conv_internal.h — private to the kernels and their tests: the fast convolution's code paths,
 * so that tests can run the portable one on any machine.
 */
#ifndef FV_CONV_INTERNAL_H
#define FV_CONV_INTERNAL_H

#include "kernels/gemm_internal.h"

#include <stdint.h>

/* Whether the fast convolution has path p here: FV__GEMM_GENERIC always; on x86-64,
 * FV__GEMM_AVX2 and FV__GEMM_WIDE_ON_AVX2 (the AVX-512 tiles compiled for AVX2, for tests) with
 * AVX2 + FMA, FV__GEMM_AVX512 with AVX-512 F + VL. The FMA paths give the same bits. */
bool fv__conv_path_supported(fv__gemm_path p);
/* Forces the fast convolution onto path p (-1: back to the best for this CPU). For tests and
 * benchmarks only, before any threads run: it is process-wide. */
void fv__conv_force_path(int p);
/* The path the fast convolution runs now (the forced one, else the best for this CPU). */
fv__gemm_path fv__conv_path_now(void);

/* The cache lines of 64 bytes that n floats span: what the prefetches of a next image cover. */
static inline int64_t fv__pf_lines(int64_t n)
{
    return (n * (int64_t)sizeof(float) + 63) / 64;
}

/* Prefetches into L2 the share t of nt of the lines [0, lines) of 64 bytes from p (a hint only:
 * p is never read as data), so that a next image's misses spread over nt steps of work. */
static inline __attribute__((always_inline)) void fv__pf_share(const void *p, int64_t lines,
                                                               int64_t t, int64_t nt)
{
    for (int64_t l = t * lines / nt, e = (t + 1) * lines / nt; l < e; l++)
        __builtin_prefetch((const char *)p + 64 * l, 0, 2);
}

/* Whether the Winograd kernels (winograd.c) compute g: a 3×3 kernel, strides 1, dilation 1,
 * padding ≥ 0, any channels (fv_conv_winograd_applies adds where conv2d uses them: 16 channels
 * or more in and out). */
bool fv__conv_winograd_computes(const fv_conv_geom *g);

/* Makes the Winograd forward take its blocked order (V and M of a block through L2) for the
 * 16-channel images too, instead of its runs in L1 (winograd_tile.h's runs16): the same bits
 * either way (tests). */
void fv__conv_winograd_force_blocks(bool on);

/* Likewise for the Winograd weight gradient (fv_conv_dw_wino_images): its blocks for 16 channels
 * and filters too, instead of its rows of tiles in L1 (winograd_dw_tile.h's rows16). */
void fv__conv_dw_wino_force_blocks(bool on);

/* Runs fv_conv2d_forward_bf16 on the emulation even where the CPU has AVX512_BF16 (tests). */
void fv__conv_bf16_force_emulation(bool on);

#endif
