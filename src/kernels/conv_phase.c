/* conv_phase.c — a strided convolution's input gradient as stride-1 forward convolutions, one per
 * phase of the input (the input pixels whose row and column have given remainders modulo the
 * strides), each run by the forward kernels' register tiles (conv_fast.c) instead of the
 * backward's gathers; for a 3×3 kernel at stride 2 on the AVX-512 path, the four phases of each
 * 2×2 block of positions in one tile (conv_phase_tile.h).
 */
#include "kernels/conv_internal.h"
#include "kernels/kernels.h"
#include "kernels/vec.h"

#include <stdint.h>
#include <string.h>

/* One axis of one phase r (0 ≤ r < s): the input positions i = q·s + r − pad for q in
 * [q0, q0 + n) inside [0, in); their taps k = r + s·j for j < nj (k < kernel). The stride-1
 * convolution computes the positions from q0 − extra on (extra > 0 where q0 > nj − 1: the first
 * extra outputs fall before the image and are dropped), with leading padding lead =
 * nj − 1 − (q0 − extra) ≥ 0. */
typedef struct axis {
    int64_t q0, n, nj, lead, extra;
} axis;

static int64_t floor_div(int64_t a, int64_t s)
{
    return a >= 0 ? a / s : -((-a + s - 1) / s);
}

static axis axis_of(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t r)
{
    axis a;
    a.nj = r < k ? (k - r + s - 1) / s : 0;
    a.q0 = -floor_div(r - pad, s);                   /* ceil((pad − r) / s) */
    a.n = floor_div(in - 1 + pad - r, s) - a.q0 + 1; /* may be ≤ 0: no such position */
    if (a.n < 0) a.n = 0;
    a.extra = a.nj > 0 && a.q0 > a.nj - 1 ? a.q0 - (a.nj - 1) : 0;
    a.lead = a.nj - 1 - (a.q0 - a.extra);
    return a;
}

/* Phase (rh, rw) = (idx / stride_w, idx % stride_w): its two axes and, when live (taps and
 * positions on both axes), the stride-1 convolution of dy [out_h, out_w, out_c] that gives its
 * positions' dx (extra + n a side, in_c channels), kernel nj_h × nj_w. */
typedef struct phase {
    int64_t rh, rw;
    axis ah, aw;
    fv_conv_geom p;
    bool live;
} phase;

static phase phase_of(const fv_conv_geom *g, int64_t idx)
{
    phase f;
    f.rh = idx / g->stride_w, f.rw = idx % g->stride_w;
    f.ah = axis_of(g->in_h, g->k_h, g->stride_h, g->pad_top, f.rh);
    f.aw = axis_of(g->in_w, g->k_w, g->stride_w, g->pad_left, f.rw);
    f.live = f.ah.nj > 0 && f.aw.nj > 0 && f.ah.n > 0 && f.aw.n > 0;
    f.p = (fv_conv_geom){.in_h = g->out_h,
                         .in_w = g->out_w,
                         .in_c = g->out_c,
                         .k_h = f.ah.nj,
                         .k_w = f.aw.nj,
                         .out_h = f.ah.extra + f.ah.n,
                         .out_w = f.aw.extra + f.aw.n,
                         .out_c = g->in_c,
                         .stride_h = 1,
                         .stride_w = 1,
                         .dil_h = 1,
                         .dil_w = 1,
                         .pad_top = f.ah.lead,
                         .pad_left = f.aw.lead};
    return f;
}

static int64_t round16(int64_t v)
{
    return (v + 15) & ~(int64_t)15;
}

/* ---- 3×3, stride 2: the four phases in one pass over dy -------------------------------------
 * Every input position (ih, iw) lies in a block (q_h, q_w) = ((ih + pad_top) div 2, (iw +
 * pad_left) div 2) at phase (rh, rw) = the remainders, and its gradient reads dy at (q_h − j, q_w
 * − i) for j < 2 − rh, i < 2 − rw with the taps (rh + 2j, rw + 2i). One tile takes 7 blocks of a
 * block row and all four phases of each (conv_phase_tile.h): each dy value it broadcasts feeds
 * one or two phases (9 FMAs per 5 broadcasts, where a phase's own stride-1 convolution takes one
 * broadcast per FMA with 16 input channels, one vector), and writes dx in place, where the phases
 * go through a buffer and a copy. Each output is the phase convolution's FMA chain (the same
 * bits). */

#if defined(__x86_64__) && !defined(FV_GEMM_PORTABLE_ONLY)
#define FV_PHASE_X86 1
typedef float pv16 __attribute__((vector_size(64)));
typedef float pv16u __attribute__((vector_size(64), aligned(4), may_alias));
#define PT_V  pv16
#define PT_VU pv16u
#define PT_W  16
#define PT_MB 7
#define PT_SPLAT(x)                                                                                \
    __extension__({                                                                                \
        const float s_ = (x);                                                                      \
        (pv16){s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_, s_};                    \
    })
#define PT_NAME(s) avx512_##s
#define PT_ATTR    __attribute__((target("avx512f,avx512vl,avx2,fma")))
#include "kernels/conv_phase_tile.h"
#undef PT_NAME
#undef PT_ATTR
#define PT_NAME(s) wide_##s
#define PT_ATTR    __attribute__((target("avx2,fma")))
#include "kernels/conv_phase_tile.h"
#undef PT_NAME
#undef PT_ATTR
#undef PT_V
#undef PT_VU
#undef PT_W
#undef PT_MB
#undef PT_SPLAT
#endif

typedef void (*block_row_fn)(const float *d, int64_t ld, int64_t F, const float *wb, int64_t nb,
                             float *dx0, float *dx1, int64_t C, int64_t iw0, int64_t in_w, int nc,
                             bool add);

/* The block tile of the path the convolution runs (fv__conv_path_now), or NULL where the blocks
 * do not run: on the AVX-512 path (and its tiles compiled for AVX2, which tests compare with the
 * AVX2 path's phases). With 8-float vectors (AVX2: 16 registers) a tile holds 3 blocks, and
 * measured slower than the phases' own convolutions (s2_conv1 2.4 → 2.9 ms a batch). */
static block_row_fn block_path(void)
{
#if defined(FV_PHASE_X86)
    const fv__gemm_path p = fv__conv_path_now();
    if (p == FV__GEMM_AVX512) return avx512_block_row;
    if (p == FV__GEMM_WIDE_ON_AVX2) return wide_block_row;
#endif
    return NULL;
}

/* One axis of the blocks: q in [lo, lo + n) holds an input position; dy's rows lo − 1 .. lo + n
 * − 1 are read, in the padded copy from its row (or column) 0. */
typedef struct block_axis {
    int64_t lo, n;
} block_axis;

static block_axis block_axis_of(int64_t in, int64_t pad)
{
    const block_axis a = {floor_div(pad, 2), floor_div(in - 1 + pad, 2) - floor_div(pad, 2) + 1};
    return a;
}

/* Whether the blocks' geometry holds: a 3×3 kernel at stride 2 without dilation; and whether they
 * run: that, on a path with a tile. */
static bool blocks_geom(const fv_conv_geom *g)
{
    return g->k_h == 3 && g->k_w == 3 && g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 &&
           g->dil_w == 1;
}

static bool blocks_apply(const fv_conv_geom *g)
{
    return blocks_geom(g) && block_path();
}

/* The blocks' packed weights: per 16 input channels, 9·F·16 floats (block_row's layout). */
static int64_t block_pack_floats(const fv_conv_geom *g)
{
    return (g->in_c + 15) / 16 * 9 * g->out_c * 16;
}

static void block_pack(const fv_conv_geom *g, const float *w, float *wp)
{
    /* per dy offset (j, i) in raster order ((0, 0) in two runs), the phases that take it and
     * their taps (kh, kw) */
    static const int taps[9][2] = {{2, 2}, {2, 0}, {2, 1}, {0, 2}, {1, 2},
                                   {0, 0}, {0, 1}, {1, 0}, {1, 1}};
    static const int first[6] = {0, 1, 3, 5, 7, 9}; /* the runs in taps */
    const int64_t C = g->in_c, F = g->out_c;
    for (int64_t c0 = 0; c0 < C; c0 += 16)
        for (int o = 0; o < 5; o++)
            for (int64_t f = 0; f < F; f++)
                for (int t = first[o]; t < first[o + 1]; t++, wp += 16) {
                    const float *src = w + ((int64_t)taps[t][0] * 3 + taps[t][1]) * C * F + f;
                    for (int64_t c = 0; c < 16; c++)
                        wp[c] = c0 + c < C ? src[(c0 + c) * F] : 0.0f;
                }
}

/* The padded copy of dy: rows and columns from lo − 1 on, 8 spare columns for the last tile
 * (*ws columns a row), and its floats. */
static int64_t block_scratch(const fv_conv_geom *g, int64_t *ws)
{
    const block_axis bh = block_axis_of(g->in_h, g->pad_top);
    const block_axis bw = block_axis_of(g->in_w, g->pad_left);
    *ws = bw.n + 9;
    return round16((bh.n + 1) * *ws * g->out_c);
}

static void dx_blocks(const fv_conv_geom *g, const float *dy, const float *wp, float *dx,
                      float *scratch, bool add, const float *next, int64_t next_floats)
{
    const int64_t C = g->in_c, F = g->out_c;
    const block_axis bh = block_axis_of(g->in_h, g->pad_top);
    const block_axis bw = block_axis_of(g->in_w, g->pad_left);
    int64_t ws;
    const int64_t copy = block_scratch(g, &ws);
    float *img = scratch;
    enum { width = 16, mb = 7 }; /* the tile's (PT_W, PT_MB) */
    const block_row_fn row = block_path();
    /* dy (oh, ow) at (oh − lo_h + 1, ow − lo_w + 1), zeros around it */
    memset(img, 0, (size_t)copy * sizeof(float));
    for (int64_t r = 0; r < bh.n + 1; r++) {
        const int64_t oh = r + bh.lo - 1;
        if (oh < 0 || oh >= g->out_h) continue;
        const int64_t ow0 = bw.lo - 1 > 0 ? bw.lo - 1 : 0;
        const int64_t ow1 = bw.lo + bw.n < g->out_w ? bw.lo + bw.n : g->out_w; /* exclusive */
        if (ow1 > ow0)
            memcpy(img + (r * ws + ow0 - bw.lo + 1) * F, dy + (oh * g->out_w + ow0) * F,
                   (size_t)((ow1 - ow0) * F) * sizeof(float));
    }
    const int64_t nb = (bw.n + mb - 1) / mb * mb;
    /* next's lines, a share before each block row (fv__pf_share, as the forward's tiles) */
    const int64_t lines = next ? fv__pf_lines(next_floats) : 0;
    const int64_t rows = (C + width - 1) / width * bh.n;
    int64_t t = 0;
    for (int64_t c0 = 0; c0 < C; c0 += width) {
        const int64_t nc = C - c0 < width ? C - c0 : width;
        const float *wb = wp + c0 * 9 * F; /* block_pack's slots of channels c0.. */
        for (int64_t qh = 0; qh < bh.n; qh++) {
            const int64_t ih = 2 * (bh.lo + qh) - g->pad_top; /* the block's row rh = 0 */
            float *r0 = ih >= 0 ? dx + ih * g->in_w * C + c0 : NULL;
            float *r1 = ih + 1 < g->in_h ? dx + (ih + 1) * g->in_w * C + c0 : NULL;
            /* the next block row's dx rows, for writing (and reading, with add): dx is out of
             * cache (written by another layer, or not since the last step), and the tile's
             * stores would wait for each line (43% of its time in the step, with add) */
            for (int64_t h = ih + 2; qh + 1 < bh.n && h < ih + 4 && h < g->in_h; h++)
                for (int64_t o = 0; o < g->in_w * C; o += 16)
                    __builtin_prefetch(dx + h * g->in_w * C + o, 1, 3);
            fv__pf_share(next, lines, t++, rows);
            row(img + ((qh + 1) * ws + 1) * F, ws * F, F, wb, nb, r0, r1, C,
                2 * bw.lo - g->pad_left, g->in_w, (int)nc, add);
        }
    }
}

bool fv_conv_dx_phases_apply(const fv_conv_geom *g)
{
    return (g->stride_h > 1 || g->stride_w > 1) && g->dil_h == 1 && g->dil_w == 1;
}

bool fv_conv_dx_phases_adds_in_place(const fv_conv_geom *g)
{
    return blocks_apply(g);
}

double fv_conv_dx_phases_flop(const fv_conv_geom *g)
{
    if (blocks_apply(g)) { /* 9 taps of every block (its positions outside the image included;
                              the tile's blocks past a row's end, like empty lanes, are not) */
        const block_axis bh = block_axis_of(g->in_h, g->pad_top);
        const block_axis bw = block_axis_of(g->in_w, g->pad_left);
        return 2.0 * (double)(bh.n * bw.n * 9) * (double)(g->in_c * g->out_c);
    }
    double flop = 0;
    for (int64_t i = 0; i < g->stride_h * g->stride_w; i++) {
        const phase f = phase_of(g, i);
        if (f.live) /* its stride-1 convolution, the dropped extra outputs included */
            flop += 2.0 * (double)(f.p.out_h * f.p.out_w) * (double)(f.p.k_h * f.p.k_w * f.p.in_c) *
                    (double)f.p.out_c;
    }
    return flop;
}

/* The sizes below hold the blocks' and the phases' needs, whichever runs: a plan made on one path
 * stays large enough if a test forces another (fv__conv_force_path) before the next batch. */
int64_t fv_conv_dx_phases_pack_floats(const fv_conv_geom *g)
{
    int64_t n = 0;
    for (int64_t i = 0; i < g->stride_h * g->stride_w; i++) {
        const phase f = phase_of(g, i);
        if (f.live) n += round16(fv_conv_fwd_pack_floats(&f.p));
    }
    /* and room for one phase's kernel before packing (at most the whole kernel) */
    n += g->k_h * g->k_w * g->in_c * g->out_c;
    return blocks_geom(g) && block_pack_floats(g) > n ? block_pack_floats(g) : n;
}

void fv_conv_dx_phases_pack(const fv_conv_geom *g, const float *w, float *wp)
{
    if (blocks_apply(g)) {
        block_pack(g, w, wp);
        return;
    }
    const int64_t C = g->in_c, F = g->out_c;
    float *kt = wp + fv_conv_dx_phases_pack_floats(g) - g->k_h * g->k_w * C * F;
    for (int64_t i = 0; i < g->stride_h * g->stride_w; i++) {
        const phase f = phase_of(g, i);
        if (!f.live) continue;
        /* kt[a, b, o, c] = w[rh + stride_h·(nj_h − 1 − a), rw + stride_w·(nj_w − 1 − b), c, o] */
        for (int64_t a = 0; a < f.ah.nj; a++)
            for (int64_t b = 0; b < f.aw.nj; b++) {
                const int64_t kh = f.rh + g->stride_h * (f.ah.nj - 1 - a);
                const int64_t kw = f.rw + g->stride_w * (f.aw.nj - 1 - b);
                const float *src = w + (kh * g->k_w + kw) * C * F;
                float *dst = kt + (a * f.aw.nj + b) * F * C;
                for (int64_t o = 0; o < F; o++)
                    for (int64_t c = 0; c < C; c++)
                        dst[o * C + c] = src[c * F + o];
            }
        fv_conv_fwd_pack(&f.p, kt, wp);
        wp += round16(fv_conv_fwd_pack_floats(&f.p));
    }
}

/* One zero-padded copy of dy [out_h, out_w, F] that every live phase reads in place: dy at
 * (top, left) of an hs × ws image, top and left the phases' largest leading padding, hs and ws
 * wide enough for every phase's windows from its origin (top − its lead, left − its lead).
 * copy: false where no phase pads (dy itself is the image). */
typedef struct shared_pad {
    int64_t top, left, hs, ws;
    bool copy;
} shared_pad;

static shared_pad shared_of(const fv_conv_geom *g)
{
    shared_pad sp = {0, 0, g->out_h, g->out_w, false};
    for (int64_t i = 0; i < g->stride_h * g->stride_w; i++) {
        const phase f = phase_of(g, i);
        if (!f.live) continue;
        if (f.ah.lead > sp.top) sp.top = f.ah.lead;
        if (f.aw.lead > sp.left) sp.left = f.aw.lead;
    }
    sp.hs += sp.top, sp.ws += sp.left;
    for (int64_t i = 0; i < g->stride_h * g->stride_w; i++) {
        const phase f = phase_of(g, i);
        if (!f.live) continue; /* the windows' extent: outputs + taps − 1 */
        const int64_t eh = sp.top - f.ah.lead + f.p.out_h + f.p.k_h - 1;
        const int64_t ew = sp.left - f.aw.lead + f.p.out_w + f.p.k_w - 1;
        if (eh > sp.hs) sp.hs = eh;
        if (ew > sp.ws) sp.ws = ew;
    }
    sp.copy = sp.hs != g->out_h || sp.ws != g->out_w;
    return sp;
}

/* The shared padded copy (rounded to 16 floats; 0 without one) and the largest phase's output,
 * in *fs and *out. */
static void scratch_parts(const fv_conv_geom *g, int64_t *fs, int64_t *out)
{
    const shared_pad sp = shared_of(g);
    *fs = sp.copy ? round16(sp.hs * sp.ws * g->out_c) : 0, *out = 0;
    for (int64_t i = 0; i < g->stride_h * g->stride_w; i++) {
        const phase f = phase_of(g, i);
        if (!f.live) continue;
        const int64_t o = f.p.out_h * f.p.out_w * g->in_c;
        if (o > *out) *out = o;
    }
}

int64_t fv_conv_dx_phases_scratch_floats(const fv_conv_geom *g)
{
    int64_t fs, out, ws;
    scratch_parts(g, &fs, &out);
    const int64_t b = blocks_geom(g) ? block_scratch(g, &ws) : 0;
    return b > fs + out ? b : fs + out;
}

/* d[v·step + c] ← s[v·C + c] for v < n, c < C: one row of a phase's positions, four channels
 * to a vector (SSE's width, on any x86-64): GCC turns plain loops into a libc memmove call per
 * pixel. With add, d[v·step + c] ← d[v·step + c] + s[v·C + c] (fv__add_run's sum). */
static void put_row(float *restrict d, const float *restrict s, int64_t n, int64_t C, int64_t step,
                    bool add)
{
    for (int64_t v = 0; v < n; v++, d += step, s += C)
        if (add)
            fv__add_run(d, s, C);
        else
            fv__copy_run(d, s, C);
}

/* With add, the positions of a phase f without taps: d ← d + 0 (the sum with this layer's zero
 * gradient, as fv__add_run would do it: the same value, and −0 becomes +0). */
static void add_zero_phase(const fv_conv_geom *g, const phase *f, float *dx)
{
    const int64_t C = g->in_c;
    for (int64_t u = 0; u < f->ah.n; u++) {
        const int64_t ih = (f->ah.q0 + u) * g->stride_h + f->rh - g->pad_top;
        for (int64_t v = 0; v < f->aw.n; v++) {
            const int64_t iw = (f->aw.q0 + v) * g->stride_w + f->rw - g->pad_left;
            float *d = dx + (ih * g->in_w + iw) * C;
            for (int64_t c = 0; c < C; c++)
                d[c] = d[c] + 0.0f;
        }
    }
}

void fv_conv_dx_phases(const fv_conv_geom *g, const float *dy, const float *wp, float *dx,
                       float *scratch, bool add)
{
    fv_conv_dx_phases_next(g, dy, wp, dx, scratch, add, NULL, 0);
}

void fv_conv_dx_phases_next(const fv_conv_geom *g, const float *dy, const float *wp, float *dx,
                            float *scratch, bool add, const float *next, int64_t next_floats)
{
    if (blocks_apply(g)) {
        dx_blocks(g, dy, wp, dx, scratch, add, next, next_floats);
        return;
    }
    const int64_t C = g->in_c, F = g->out_c;
    int64_t fs, out;
    scratch_parts(g, &fs, &out);
    float *y = scratch + fs;
    /* a kernel smaller than the stride (the 1×1 projections) reads part of its input's pixels for
     * the weight gradient, in place: the whole next image's lines would only take bandwidth
     * (s2_proj's backward 0.58 → 0.62 ms a batch at two threads, quiet) */
    if (g->k_h < g->stride_h || g->k_w < g->stride_w) next = NULL;
    const shared_pad sp = shared_of(g);
    const float *img = dy; /* the shared padded copy, or dy itself */
    if (sp.copy) {
        const int64_t row = g->out_w * F;
        memset(scratch, 0, (size_t)(sp.hs * sp.ws * F) * sizeof(float));
        for (int64_t h = 0; h < g->out_h; h++)
            memcpy(scratch + ((sp.top + h) * sp.ws + sp.left) * F, dy + h * row,
                   (size_t)row * sizeof(float));
        img = scratch;
    }
    /* the positions no tap reaches (phases without taps) are 0: the whole image zeroed once,
     * faster than pixel by pixel (with add: each such position plus 0) */
    for (int64_t i = 0; i < g->stride_h * g->stride_w; i++) {
        const phase f = phase_of(g, i);
        if (f.live) continue;
        if (add) {
            add_zero_phase(g, &f, dx);
            continue;
        }
        memset(dx, 0, (size_t)(g->in_h * g->in_w * C) * sizeof(float));
        break;
    }
    for (int64_t i = 0; i < g->stride_h * g->stride_w; i++) {
        const phase f = phase_of(g, i);
        if (!f.live) continue; /* its positions were zeroed first */
        /* the phase's convolution on the shared image from its origin, rows ws floats apart:
         * every window inside it, so the forward kernels pad nothing (no scratch) */
        fv_conv_geom q = f.p;
        const int64_t oh = sp.top - f.ah.lead, ow = sp.left - f.aw.lead;
        q.in_h = sp.hs - oh, q.in_w = sp.ws, q.pad_top = 0, q.pad_left = 0;
        fv_conv2d_forward_next(&q, img + (oh * sp.ws + ow) * F, wp, NULL, false, y, NULL, next,
                               next_floats);
        next = NULL; /* all of it during the first live phase */
        wp += round16(fv_conv_fwd_pack_floats(&f.p));
        /* the phase's positions: its outputs past the extra ones */
        const int64_t iw0 = f.aw.q0 * g->stride_w + f.rw - g->pad_left;
        for (int64_t u = 0; u < f.ah.n; u++) {
            const int64_t ih = (f.ah.q0 + u) * g->stride_h + f.rh - g->pad_top;
            put_row(dx + (ih * g->in_w + iw0) * C,
                    y + ((f.ah.extra + u) * f.p.out_w + f.aw.extra) * C, f.aw.n, C, g->stride_w * C,
                    add);
        }
    }
}
