/* kernels.h — pure numerical functions on pointers and sizes: GEMM, convolution (im2col), pooling,
 * activations, fused softmax + cross-entropy. Each has a plain reference version (`_ref`) that is
 * the specification, and the fast version used by the layers, tested against it. Kernels are
 * single-threaded and allocate nothing: callers pass scratch and split work across threads.
 * Layouts are channels-last (NHWC) as everywhere in fovea.
 */
#ifndef FV_KERNELS_H
#define FV_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- GEMM -------------------------------------------------------------------------------- */

/* C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C, row-major with leading dimensions.
 * op(X) is X, or Xᵀ when the flag is set (then A is stored K×M, B is stored N×K).
 * beta == 0 means C is written without being read (NaNs in C do not propagate). */
void fv_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc);
void fv_gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc);

/* The name of the GEMM path picked at run time for this CPU ("avx512", "avx2", "generic"). */
const char *fv_gemm_path(void);

/* The dense layer's fp32 weight gradient (dense_dw.c): dW[m × N] (rows lddw apart) += the balanced
 * tree (left + right) over the chunks [bounds[c], bounds[c+1]) (nchunks a power of two ≤ 16) of
 * G_c = Σ over the chunk's samples s of x[s·ldx + k]·dy[s·lddy + j], each element one FMA chain
 * from 0 in sample order: the bits of fv_gemm(true, false, m, N, chunk, 1, x, ldx, dy, lddy, 0,
 * ...) per chunk on its AVX2 and AVX-512 paths, then the tree, then dW + the tree, with every
 * chunk's sum and the tree of a register tile (8 rows × 32 columns) in one pass. Runs where fv_gemm
 * takes the AVX-512 path and the CPU has AVX512_BF16 too (the kernel is one template with the bf16
 * one), for chunks of at most 256 samples (fv_gemm's one depth block); returns false, and does
 * nothing, otherwise (the caller then sums the chunks with fv_gemm: the same bits). */
bool fv_dense_dw_f32(int64_t m, int64_t N, int nchunks, const int64_t *bounds, const float *x,
                     int64_t ldx, const float *dy, int64_t lddy, float *dw, int64_t lddw);

/* ---- convolution geometry ----------------------------------------------------------------- */

typedef struct fv_conv_geom {
    int64_t in_h, in_w, in_c;    /* input image */
    int64_t k_h, k_w;            /* kernel */
    int64_t out_h, out_w, out_c; /* output image (out_c = filters) */
    int64_t stride_h, stride_w;
    int64_t dil_h, dil_w;
    int64_t pad_top, pad_left; /* leading padding; trailing padding is implied by out size */
} fv_conv_geom;

/* Output size of one axis: (W - (D(F-1)+1) + pad_total)/S + 1, or -1 if it is not positive.
 * For same padding: out = ceil(W/S), pad_total = max((out-1)S + D(F-1)+1 - W, 0), and the
 * leading pad is pad_total/2 (Keras/TensorFlow: the odd extra at the bottom/right). */
int64_t fv_conv_out_size(int64_t w, int64_t f, int64_t s, int64_t d, bool same, int64_t *pad_lead);

/* im2col for one image: col[P×K], P = out_h·out_w, K = k_h·k_w·in_c in (kh, kw, c) order, so that
 * col · W with W as (kh, kw, in_c, filters) = (K × filters) gives the NHWC output. Padding reads
 * as zero. */
void fv_im2col(const fv_conv_geom *g, const float *x, float *col);
/* The adjoint: dx[in_h·in_w·in_c] += scatter of dcol[P×K]. */
void fv_col2im(const fv_conv_geom *g, const float *dcol, float *dx);

/* ---- convolution, one image at a time ------------------------------------------------------
 * x [in_h, in_w, in_c], w [k_h, k_w, in_c, out_c], b [out_c] or NULL, y [out_h, out_w, out_c].
 * col is scratch of fv_conv_col_floats(g) floats (unused and may be NULL when the convolution is
 * 1×1 with stride 1 and no padding). */
int64_t fv_conv_col_floats(const fv_conv_geom *g);
void fv_conv2d_forward(const fv_conv_geom *g, const float *x, const float *w, const float *b,
                       float *y, float *col);
void fv_conv2d_forward_ref(const fv_conv_geom *g, const float *x, const float *w, const float *b,
                           float *y);
/* Adds this image's gradients: dw += ∂/∂w, db += ∂/∂b (db may be NULL), dx += ∂/∂x (dx may be
 * NULL: no input gradient). dy [out_h, out_w, out_c]. col: scratch as above; dcol: a second
 * scratch of the same size (needed only when dx is not NULL). */
void fv_conv2d_backward(const fv_conv_geom *g, const float *x, const float *w, const float *dy,
                        float *dw, float *db, float *dx, float *col, float *dcol);
void fv_conv2d_backward_ref(const fv_conv_geom *g, const float *x, const float *w, const float *dy,
                            float *dw, float *db, float *dx);

/* ---- fast convolution, one image at a time: what the layers use -----------------------------
 * Implicit GEMM: the windows are read where they lie in x (a zero-padded copy when the geometry
 * pads), never copied into a col matrix; the weights are packed once per batch. Same results as
 * the _ref versions up to the order of summation. Inner loops for AVX-512, AVX2 + FMA or
 * portable C, chosen at run time (fv_conv_path: "avx512", "avx2" or "generic"; the kernel path of
 * fv_set_kernel_path when one is set). AVX-512 and AVX2 give the same bits. */
const char *fv_conv_path(void);

/* wp [fv_conv_fwd_pack_floats(g)] ← w [k_h, k_w, in_c, out_c] in panels of 16 filters. */
int64_t fv_conv_fwd_pack_floats(const fv_conv_geom *g);
void fv_conv_fwd_pack(const fv_conv_geom *g, const float *w, float *wp);
/* y [out_h, out_w, out_c] = conv(x, w) + b, then max(·, 0) when relu is set (NaN gives 0, as
 * fv_act_forward). x [in_h, in_w, in_c]; wp from fv_conv_fwd_pack; b [out_c] or NULL; scratch of
 * fv_conv_fwd_scratch_floats(g) floats (0: may be NULL). */
int64_t fv_conv_fwd_scratch_floats(const fv_conv_geom *g);
void fv_conv2d_forward_fast(const fv_conv_geom *g, const float *x, const float *wp, const float *b,
                            bool relu, float *y, float *scratch);
/* fv_conv2d_forward_fast (the same results), which also prefetches next [next_floats] (the next
 * image's input; NULL: nothing) into L2 a share at a time between its tiles, so that the misses
 * of that input overlap this image's FMAs instead of stalling its padded copy. A hint only: next
 * is never read as data, and any address (even past an array's end) is harmless. */
void fv_conv2d_forward_next(const fv_conv_geom *g, const float *x, const float *wp, const float *b,
                            bool relu, float *y, float *scratch, const float *next,
                            int64_t next_floats);
/* y [out_h, out_w, out_c] ← y + the convolution of x (no bias, no activation), each element
 * y + (Σ + 0.0f): the bits of fv_conv2d_forward_next (b NULL, relu false) into a buffer t and
 * fv__add_run(y, t) after, in the tiles' epilogue, where y's lines are read anyway for the store
 * (conv2d's stride-1 input gradient added in place, fv_run.dx_add). Arguments as
 * fv_conv2d_forward_next's. */
void fv_conv2d_forward_add(const fv_conv_geom *g, const float *x, const float *wp, float *y,
                           float *scratch, const float *next, int64_t next_floats);

/* Winograd F(2×2, 3×3) (winograd.c; Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", CVPR 2016, with their B^T 4×4, G 4×3 and A^T 2×4): the output in tiles of 2×2
 * pixels, each from the 4×4 input tile at (2·ty − pad_top, 2·tx − pad_left) (zero outside x),
 *   Y = A^T [ Σ_c U_c ⊙ V_c ] A,  U_c = G g_c G^T (the 3×3 kernel of channel c, per filter),
 *   V_c = B^T d_c B,
 * 16 multiplies per tile and channel pair where the direct convolution takes 36: the 16
 * transformed positions are 16 GEMMs [tiles × in_c] · [in_c × out_c] (each element one FMA chain
 * over the channels from 0), over blocks of tiles whose transforms stay in L2 (where in_c and out_c
 * round up to 16: runs of 24 tiles whose transforms stay in L1, the same bits). The tiles' pixels
 * past the bottom or right edge are computed and not written. The kernels compute any 3×3
 * geometry with strides 1, dilation 1 and padding ≥ 0 (same or valid) and any in_c, out_c ≥ 1;
 * fv_conv_winograd_applies says where conv2d uses them: those geometries with in_c ≥ 16 and
 * out_c ≥ 16. Below that the transforms, per channel and per filter, cost more than the
 * multiplies saved and the vectors' tails run scalar (bench/bench_winograd.c on Zen 5, AVX-512:
 * the ResNet stem, 1 → 16 channels at 28×28, 5× slower than direct; 8 → 8, 5×; 16 → 8, 1.6×;
 * 16 → 16, 1.2× faster; 32 → 64 at 26×26, 1.7× faster).
 * Results depend on the instruction set's path only (fv_conv_path: AVX-512 and AVX2 the same bits,
 * the portable path without FMA differs), never on threads. Not the direct convolution's sums:
 * each output is within (in_c + 13)·2^-24·S (to first order) of the exact convolution, where S is
 * the same algorithm on |x| with |A|, |G|, |B| (the depth of the longest chain of roundings: 4 in
 * U, 2 in V, the product, in_c in the GEMM, 4 in the output, the bias and the add; docs/design.md,
 * "Winograd"; tested in tests/test_winograd.c). S exceeds the direct convolution's Σ|x·w| (the
 * transforms add and subtract neighbouring pixels and taps), hence the larger error.
 * u [fv_conv_winograd_pack_floats(g)] ← U of w [3, 3, in_c, out_c]: u[(pos·in_c + c)·Fp + f]
 * with pos = 4i + j the transformed position and Fp = out_c rounded up to 16 (zeros past out_c),
 * once per weight update as fv_conv_fwd_pack. */
bool fv_conv_winograd_applies(const fv_conv_geom *g);
int64_t fv_conv_winograd_pack_floats(const fv_conv_geom *g);
void fv_conv_winograd_pack(const fv_conv_geom *g, const float *w, float *u);
/* Scratch floats of one image: Fp + 16·TB·(Cv + Fp) (Cv, Fp the channels rounded up to 16, TB
 * the tiles of a block: at most 2^16 floats of transforms, at least 16 tiles), and where Cv = Fp =
 * 16 at least Fp + 256·min(tiles, 24) (the runs' buffer). */
int64_t fv_conv_winograd_scratch_floats(const fv_conv_geom *g);
/* The FLOPs performed for one image (2 per multiply-add of the GEMMs, 1 per addition of the
 * transforms): the profile's executed count. */
double fv_conv_winograd_flop(const fv_conv_geom *g);
/* The contract of fv_conv2d_forward_next by Winograd: y [out_h, out_w, out_c] = conv(x, w) + b,
 * then max(·, 0) with relu (NaN gives 0); x [in_h, in_w, in_c]; u from fv_conv_winograd_pack;
 * b [out_c] or NULL; scratch [fv_conv_winograd_scratch_floats(g)] (any alignment); next
 * [next_floats]: the next image's input, prefetched into L2 a share per GEMM (a hint only: never
 * read as data; NULL: none). g: a 3×3 kernel, strides 1, dilation 1, padding ≥ 0, any channels
 * (fv_conv_winograd_applies adds where conv2d uses it). */
void fv_conv2d_forward_winograd(const fv_conv_geom *g, const float *x, const float *u,
                                const float *b, bool relu, float *y, float *scratch,
                                const float *next, int64_t next_floats);
/* y ← y + the Winograd convolution of x (no bias, no activation), added in the output
 * transform's epilogue, which prefetches the rows it adds to: conv2d's stride-1 input gradient
 * added in place (fv_run.dx_add). Arguments as fv_conv2d_forward_winograd's. */
void fv_conv2d_forward_winograd_add(const fv_conv_geom *g, const float *x, const float *u, float *y,
                                    float *scratch, const float *next, int64_t next_floats);

/* A strided convolution's input gradient by phases (conv_phase.c): the input positions (ih, iw)
 * with (ih + pad_top) mod stride_h = rh and (iw + pad_left) mod stride_w = rw get
 *   dx[ih, iw, c] = Σ_{j, i, f} dy[q_h − j, q_w − i, f] · w[rh + stride_h·j, rw + stride_w·i, c, f]
 * (q = (position + pad) div stride; dy zero outside it), a stride-1 convolution of dy with that
 * phase's taps turned 180° and their channel axes swapped, run by fv_conv2d_forward_fast. Applies
 * (fv_conv_dx_phases_apply) to strides above 1 without dilation whose phases need no negative
 * padding. wp [fv_conv_dx_phases_pack_floats(g)] ← the phases' packed kernels from w [k_h, k_w,
 * in_c, out_c] (once per weight update); dx [in_h, in_w, in_c] ← the gradient (overwritten, every
 * position) from dy [out_h, out_w, out_c], or with add, dx ← dx + the gradient (each position's
 * sum as fv__add_run's: the bits of writing the gradient elsewhere and adding it after);
 * scratch of fv_conv_dx_phases_scratch_floats(g) floats.
 * Each dx element is one FMA chain over the phase's taps in (j, i, f) order: the same result for
 * any thread count; against the backward's gathers, a different summation order. */
bool fv_conv_dx_phases_apply(const fv_conv_geom *g);
/* Whether fv_conv_dx_phases adds into dx (add) as fast as it writes it: where its tiles write dx
 * in place, prefetching the rows ahead (a 3×3 kernel at stride 2 on the AVX-512 path, the
 * blocks of conv_phase.c). Elsewhere it adds through each phase's buffer, scattered reads of dx
 * that in a training step measured slower than writing a buffer and adding it after (AVX2:
 * s2_conv1's backward 5.7-5.8 → 6.2-6.3 ms a batch). */
bool fv_conv_dx_phases_adds_in_place(const fv_conv_geom *g);
int64_t fv_conv_dx_phases_pack_floats(const fv_conv_geom *g);
void fv_conv_dx_phases_pack(const fv_conv_geom *g, const float *w, float *wp);
int64_t fv_conv_dx_phases_scratch_floats(const fv_conv_geom *g);
/* The FLOPs fv_conv_dx_phases performs for one image (2 per multiply-add of every live phase's
 * stride-1 convolution, its dropped leading outputs included): the profile's executed count. */
double fv_conv_dx_phases_flop(const fv_conv_geom *g);
/* fv_conv_dx_phases (the same results), which also prefetches next [next_floats] into L2 as
 * fv_conv2d_forward_next does, spread over the blocks' rows (or by the first live phase's forward
 * tiles; not where the kernel is smaller than the stride, whose weight gradient reads part of its
 * input): conv2d's backward gives it the input of the image a group ahead, which the next group's
 * weight gradient (fv_conv_dw_images) copies first. A hint only: next is never read as data. */
void fv_conv_dx_phases_next(const fv_conv_geom *g, const float *dy, const float *wp, float *dx,
                            float *scratch, bool add, const float *next, int64_t next_floats);
void fv_conv_dx_phases(const fv_conv_geom *g, const float *dy, const float *wp, float *dx,
                       float *scratch, bool add);

/* The weight gradient of n consecutive images in one pass (conv_fast.c):
 *   dw[k, f] += Σ over the images i < n in order, and their pixels p < out_h·out_w in order, of
 *               window_i(p)[k] · dz[(i·out_h·out_w + p)·out_c + f],
 * each element one FMA chain from 0 over the n·out_h·out_w pixels, then added to dw; the same
 * register tiles as fv_conv2d_backward_fast's dense weight gradient (which is this with n = 1),
 * reading the windows where they lie in x (or in zero-padded copies), without im2col.
 * x: n images [in_h, in_w, in_c], contiguous; dz: n·out_h·out_w rows of out_c, ∂L/∂z (the
 * activation's gradient already applied), contiguous; dw [k_h, k_w, in_c, out_c]; scratch of
 * fv_conv_dw_images_scratch_floats(g, n) floats, 64-byte aligned. n at most
 * fv_conv_dw_images_max(g) (the window origins are int32). Summation order against the
 * reference: per element, pixel by pixel (the reference sums each image in double). */
int64_t fv_conv_dw_images_max(const fv_conv_geom *g);
int64_t fv_conv_dw_images_scratch_floats(const fv_conv_geom *g, int64_t n);
void fv_conv_dw_images(const fv_conv_geom *g, int64_t n, const float *x, const float *dz, float *dw,
                       float *scratch);

/* The forward with bf16 products and fp32 sums (precision=bf16): the same windows and tiles on a
 * bf16 copy of x and the weights packed in bf16 pairs along the taps (VDPBF16PS on AVX512_BF16,
 * else its emulation, bit-identical). Applies when a kernel segment (k_w·in_c with dilation 1,
 * else in_c) is even, so that tap pairs never straddle two of them. Each output is
 *   acc = 0; for each tap pair (k, k+1) in k order: acc = fv_vdpbf16ps_lane(acc, w pair, x pair);
 *   y = acc + b, then max(·, 0) with relu (NaN gives 0),
 * within fv_bf16_gemm_rtol(K)·Σ_k|x·w| of the exact sum before the bias (kernels/bf16.h).
 * wp [fv_conv_fwd_pack_bf16_size(g)] ← w in panels of 16 filters, pairs of taps as dwords;
 * scratch of fv_conv_fwd_bf16_scratch_floats(g) floats. */
bool fv_conv_bf16_applies(const fv_conv_geom *g);
int64_t fv_conv_fwd_pack_bf16_size(const fv_conv_geom *g);
void fv_conv_fwd_pack_bf16(const fv_conv_geom *g, const float *w, uint16_t *wp);
int64_t fv_conv_fwd_bf16_scratch_floats(const fv_conv_geom *g);
void fv_conv2d_forward_bf16(const fv_conv_geom *g, const float *x, const uint16_t *wp,
                            const float *b, bool relu, float *y, float *scratch);

/* Backward of one image. The weight gradient is added either into dw [k_h, k_w, in_c, out_c]
 * (dense tiles) or, when at most half of the output gradient is nonzero and the lists apply,
 * into dws [fv_conv_bwd_pack_floats(g)] in a transposed layout: element (k, f) of the gradient
 * is dws[fv_conv_sparse_dw_index(g, k, f)]. The caller sums both. Zeros are skipped exactly, so
 * either way the gradient is the same up to summation order.
 *   x [in_h, in_w, in_c], dy [out_h, out_w, out_c] (not modified),
 *   y_relu: the forward output of a ReLU convolution, whose mask is applied to dy; NULL when
 *     dy is already ∂L/∂z,
 *   w [k_h, k_w, in_c, out_c]; wt: w packed by fv_conv_bwd_pack, needed when
 *     fv_conv_bwd_uses_lists(g) and dx is wanted (else may be NULL),
 *   db [out_c] += Σ ∂L/∂z (NULL: none), dx [in_h, in_w, in_c] += ∂L/∂x (NULL: none),
 *   scratch: fv_conv_bwd_scratch_floats(g) floats, 64-byte aligned.
 * Returns the weight-gradient path taken. */
typedef enum fv_conv_bwd_path { FV_CONV_BWD_DENSE = 0, FV_CONV_BWD_SPARSE } fv_conv_bwd_path;
int64_t fv_conv_bwd_pack_floats(const fv_conv_geom *g);
void fv_conv_bwd_pack(const fv_conv_geom *g, const float *w, float *wt);
bool fv_conv_bwd_uses_lists(const fv_conv_geom *g);
int64_t fv_conv_sparse_dw_index(const fv_conv_geom *g, int64_t k, int64_t f);
int64_t fv_conv_bwd_scratch_floats(const fv_conv_geom *g);
fv_conv_bwd_path fv_conv2d_backward_fast(const fv_conv_geom *g, const float *x, const float *y_relu,
                                         const float *dy, const float *w, const float *wt,
                                         float *dw, float *dws, float *db, float *dx,
                                         float *scratch);
/* The nonzeros of ∂L/∂z (dy with the ReLU mask) that the last fv_conv2d_backward_fast or
 * fv_conv2d_backward_bf16 call with this scratch listed: its sparse weight gradient and its
 * input gradient by the lists each performed k_h·k_w·in_c multiply-adds per nonzero. -1 when
 * the lists do not apply to g (fv_conv_bwd_uses_lists: the dense paths then ran). Reads one
 * count the call left in scratch; no work per element. */
int64_t fv_conv_bwd_nonzeros(const fv_conv_geom *g, const float *scratch);

/* The backward with bf16 products and fp32 sums (precision=bf16). Where the lists apply
 * (fv_conv_bwd_uses_lists), the input gradient and the sparse weight gradient are the same
 * gathers over the listed nonzeros of ∂L/∂z, taking the entries two at a time into one VDPBF16PS
 * (AVX512_BF16, else its emulation, bit-identical; fv__conv_bf16_force_emulation): for each
 * element, acc = 0; for each pair of list entries (e, e+1) in list order,
 * acc = fv_vdpbf16ps_lane(acc, bf16 pair of the two source values, bf16 pair of the two
 * gradients) (a zero partner for an odd last one), then dst += acc in fp32. Sources: the
 * weights wt16 (fv_conv_bwd_pack_bf16) for dx, a bf16 copy of x for dW. The dense weight
 * gradient (more than half of ∂L/∂z nonzero, or no lists) takes tiles of 12 taps × 32 filters
 * over pixel pairs: acc = 0; for each pair of pixels (2q, 2q+1) (an odd last one paired with
 * zeros), acc = fv_vdpbf16ps_lane(acc, bf16 pair of ∂L/∂z of the two pixels, bf16 pair of their
 * x at the tap), then dw += acc. Where the lists do not apply the input gradient stays fp32
 * (GEMM and col2im, as fv_conv2d_backward_fast). Each element of dW is within
 * fv_bf16_gemm_rtol(n)·Σ|x·∂L/∂z| of the exact sum of its n = out_h·out_w terms (plus the fp32
 * additions), each element of dx within fv_bf16_gemm_rtol(n)·Σ|∂L/∂z·w| for its
 * n <= k_h·k_w·out_c terms (kernels/bf16.h). Arguments as fv_conv2d_backward_fast, with wt16
 * [fv_conv_bwd_pack_bf16_size(g)] (needed when the lists apply and dx is wanted; else may be
 * NULL) in place of wt, and scratch of fv_conv_bwd_bf16_scratch_floats(g) floats. */
int64_t fv_conv_bwd_pack_bf16_size(const fv_conv_geom *g);
void fv_conv_bwd_pack_bf16(const fv_conv_geom *g, const float *w, uint16_t *wt16);
int64_t fv_conv_bwd_bf16_scratch_floats(const fv_conv_geom *g);
fv_conv_bwd_path fv_conv2d_backward_bf16(const fv_conv_geom *g, const float *x, const float *y_relu,
                                         const float *dy, const float *w, const uint16_t *wt16,
                                         float *dw, float *dws, float *db, float *dx,
                                         float *scratch);

/* The weight gradient of a 3×3, stride-1 convolution by Winograd's F(2×2, 3×3) (winograd_dw.c;
 * Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016): fv_conv_dw_images'
 * data contract (x: n images [in_h, in_w, in_c]; dz: n·out_h·out_w rows of out_c; dw [3, 3, in_c,
 * out_c] += the gradient; scratch of fv_conv_dw_wino_scratch_floats(g, n) floats, 64-byte
 * aligned) with 2.25× fewer multiplies. The outputs in tiles of 2×2 (zero past the edge), the
 * input windows of 4×4 under them (zero outside the image: any padding), per tile t
 *   V_t = Bᵀ d_t B (4×4 per in_c), M_t = A dY_t Aᵀ (4×4 per out_c),
 *   dU[ξ][c][f] = Σ over the images in order and their tiles in row-major order of
 * V_t[ξ][c]·M_t[ξ][f] (each element one FMA chain from 0, the same bits for any blocking and on the
 * AVX2 and AVX-512 paths; the portable path without FMA rounds each product), then dw[·, ·, c, f]
 * += Gᵀ dU[·][c][f] G. Against the exact gradient each element is within γ_k · Σ|terms| of the
 * transforms taken in absolute values, k = n·tiles + 12 (docs/design.md, Winograd weight gradient).
 * Applies (fv_conv_dw_wino_applies) to 3×3 kernels with strides 1 and dilation 1, any padding. */
bool fv_conv_dw_wino_applies(const fv_conv_geom *g);
int64_t fv_conv_dw_wino_scratch_floats(const fv_conv_geom *g, int64_t n);
void fv_conv_dw_wino_images(const fv_conv_geom *g, int64_t n, const float *x, const float *dz,
                            float *dw, float *scratch);

/* ---- max pooling, one image -----------------------------------------------------------------
 * Geometry as convolution with k = pool size, in_c = out_c, dil = 1. x [in_h, in_w, c],
 * y [out_h, out_w, c]. Padding never wins the max (it reads as -inf). argmax [out_h·out_w·c]
 * receives the flat input index of each maximum: on ties the first one in row-major window
 * order (Keras' and TensorFlow's rule). NaN propagates, as in PyTorch: a window holding a NaN
 * gives NaN, and its argmax is the window's last NaN (PyTorch's CPU kernels take a tap when
 * `val > maxval || isnan(val)`), so the gradient goes to a NaN input. A window made only of
 * padding gives -inf and argmax -1. fv_maxpool_forward handles four channels at a time; where
 * the windows tile the input (strides equal to the pool, no padding or dilation: Keras' default)
 * it keeps each window's maximum and argmax in registers over its taps, eight channels at a time
 * (AVX2 on the fast convolution's AVX2 and AVX-512 paths, fv__conv_path_now; two SSE vectors
 * otherwise). With argmax NULL it computes y alone (inference: no backward pass to scatter to; 4
 * of every 8 bytes it writes); fv_maxpool_forward_ref, one element and one tap at a time, is its
 * specification, which every path matches value for value and index for index. */
void fv_maxpool_forward(const fv_conv_geom *g, const float *x, float *y, int32_t *argmax);
void fv_maxpool_forward_ref(const fv_conv_geom *g, const float *x, float *y, int32_t *argmax);
/* dx[argmax[i]] += dy[i]. dx must be zeroed by the caller before the first image. */
void fv_maxpool_backward(const fv_conv_geom *g, const float *dy, const int32_t *argmax, float *dx);
/* dx [in_h, in_w, c] written whole: what zeroing it and fv_maxpool_backward give, bit for bit.
 * Where the windows tile the input (strides equal to the pool, no dilation, no padding: Keras'
 * default MaxPooling2D) in one pass that writes each element once (each window's winner, 0
 * elsewhere); otherwise by zeroing and scattering. With relu_y, the pooled output y
 * [out_h·out_w·c] (not NULL), a window sends its gradient only where y > 0: the mask of a ReLU
 * before the pooling, x > 0 ? dx : 0, since a winner's x is its window's y (the same bits as
 * masking dx afterwards, -0 and NaN in dy included; tests/test_kernels.c). */
void fv_maxpool_backward_write(const fv_conv_geom *g, const float *dy, const int32_t *argmax,
                               const float *relu_y, float *dx);

/* ---- activations ----------------------------------------------------------------------------
 * Element-wise, in place on n values. alpha is ELU's alpha or leaky ReLU's negative slope. The
 * backward forms take the forward OUTPUT y (all these derivatives are functions of y) and turn
 * the gradient g = ∂L/∂y into ∂L/∂z in place. */
typedef enum fv_act_kind {
    FV_K_LINEAR = 0,
    FV_K_RELU,
    FV_K_SIGMOID,
    FV_K_TANH,
    FV_K_LEAKY_RELU,
    FV_K_ELU
} fv_act_kind;

void fv_act_forward(fv_act_kind k, float alpha, float *y, int64_t n);
void fv_act_backward(fv_act_kind k, float alpha, const float *y, float *g, int64_t n);

/* Softmax over the last axis of rows × cols, in place, max-subtracted. */
void fv_softmax_forward(float *y, int64_t rows, int64_t cols);
/* g ← J_softmaxᵀ g for each row, from the softmax output y. */
void fv_softmax_backward(const float *y, float *g, int64_t rows, int64_t cols);

/* Maxout over channel groups: x [n, c], y [n, units], c = units · k, group j is channels
 * j·k .. j·k+k-1; argmax [n, units] the channel index that won (first on ties). */
void fv_maxout_forward(const float *x, float *y, int32_t *argmax, int64_t n, int64_t c,
                       int64_t units);
void fv_maxout_backward(const float *dy, const int32_t *argmax, float *dx, int64_t n, int64_t c,
                        int64_t units);

/* ---- transposed and depthwise convolution (conv2d_transpose, depthwise_conv2d,
 * separable_conv2d) ------------------------------------------------------------------------- */

/* Output size of one axis of a transposed convolution, as Keras 3 computes it
 * (keras/src/backend/common/backend_utils.py, _get_output_shape_given_tf_padding and
 * _convert_conv_transpose_padding_args_from_keras_to_jax). With span = d(f-1)+1:
 *   valid: out = (w-1)s + span + op, op defaulting to max(span, s) - span; lead 0;
 *   same:  out = w·s when op is None, else (w-1)s + span%2 + op; with pad_len = s + span - 2
 *          (op None) or span + span%2 - 2 + op, lead = span - 1 - min(ceil(pad_len/2), span-1).
 * op < 0 means None. Output position o receives input i through tap k where
 * o = i·s - lead + k·d (positions past the natural end (w-1)s + span - lead receive nothing but
 * the bias). *pad_lead receives lead, which is the pad_top/pad_left of the convolution whose
 * adjoint this is. Returns -1 if the output would be empty or absurdly large (> 2^62). */
int64_t fv_conv_transpose_out_size(int64_t w, int64_t f, int64_t s, int64_t d, bool same,
                                   int64_t op, int64_t *pad_lead);

/* Depthwise convolution of one image: every input channel c is convolved with its own
 * depth_multiplier filters; output channel c·dm + m (Keras' order) is
 *   y[oh,ow,c·dm+m] = b[c·dm+m] + Σ_{kh,kw} x[ih,iw,c] · w[kh,kw,c,m],
 * ih = oh·stride_h − pad_top + kh·dil_h (likewise iw); taps outside the image read zero.
 * Geometry as convolution with out_c = in_c·dm (dm = out_c / in_c). x [in_h, in_w, in_c],
 * w [k_h, k_w, in_c, dm], b [in_c·dm] or NULL, y [out_h, out_w, in_c·dm] (written). */
void fv_depthwise_forward(const fv_conv_geom *g, const float *x, const float *w, const float *b,
                          float *y);
/* Its gradients for one image, ADDED: dw [k_h, k_w, in_c, dm] += ∂L/∂w, db [in_c·dm] += ∂L/∂b
 * (NULL: none), dx [in_h, in_w, in_c] += ∂L/∂x (NULL: none). dy [out_h, out_w, in_c·dm]. */
void fv_depthwise_backward(const fv_conv_geom *g, const float *x, const float *w, const float *dy,
                           float *dw, float *db, float *dx);

#endif
