/* winograd_transform.h — the input transform Bᵀ d B of Winograd's F(2×2, 3×3) (Lavin & Gray,
 * CVPR 2016), shared by the forward (winograd.c) and the weight gradient (winograd_dw.c), so that
 * the two compute V with the same operations in the same order.
 */
#ifndef FV_KERNELS_WINOGRAD_TRANSFORM_H
#define FV_KERNELS_WINOGRAD_TRANSFORM_H

/* o[4i + j] ← (B^T d B)[i][j] for d[4r + s] a 4×4 tile, with (the paper's)
 * B^T = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]: the rows combined, then the columns alike. Lanes
 * of any type with + and −; no multiply, so no contraction into FMAs. */
#define WG_BTDB(d, o)                                                                              \
    do {                                                                                           \
        __typeof__((d)[0]) r_[16];                                                                 \
        _Pragma("GCC unroll 4") for (int j_ = 0; j_ < 4; j_++)                                     \
        {                                                                                          \
            r_[j_] = (d)[j_] - (d)[8 + j_];                                                        \
            r_[4 + j_] = (d)[4 + j_] + (d)[8 + j_];                                                \
            r_[8 + j_] = (d)[8 + j_] - (d)[4 + j_];                                                \
            r_[12 + j_] = (d)[4 + j_] - (d)[12 + j_];                                              \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int i_ = 0; i_ < 4; i_++)                                     \
        {                                                                                          \
            (o)[4 * i_] = r_[4 * i_] - r_[4 * i_ + 2];                                             \
            (o)[4 * i_ + 1] = r_[4 * i_ + 1] + r_[4 * i_ + 2];                                     \
            (o)[4 * i_ + 2] = r_[4 * i_ + 2] - r_[4 * i_ + 1];                                     \
            (o)[4 * i_ + 3] = r_[4 * i_ + 1] - r_[4 * i_ + 3];                                     \
        }                                                                                          \
    } while (0)

#endif
