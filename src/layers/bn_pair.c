/* bn_pair.c — what a layer does for the BatchNormalization that alone reads its output
 * (fv_bn_pair, layer.h): forward, the batch's channel sums image by image while each image's
 * output is in cache, and the BatchNormalization's output image by image just before the
 * convolution reading it reads it; backward, the BatchNormalization's input gradient chunk by
 * chunk just before the layer reads it. The bits of the BatchNormalization's own passes.
 */
#include "layers/layer.h"

#include "kernels/eltwise.h"

#include <string.h>

double *fv__bn_pair_row(const fv_run *r, int j)
{
    const fv_bn_pair *s = r->sums;
    const int first = fv__run_first_chunk(r);
    double *row = s->part + (int64_t)(first + j) * 2 * s->C;
    memset(row, 0, (size_t)(2 * s->C) * sizeof(double));
    return row;
}

/* sum_sq continues each channel's chain from the row's value, so the images of a chunk added one
 * by one in order give the bits of one call over the chunk's rows (the BatchNormalization's). */
void fv__bn_pair_add(const fv_run *r, double *row, const float *y, int64_t rows)
{
    const fv_bn_pair *s = r->sums;
    fv__elt()->sum_sq(y, rows, s->C, s->shift, row, row + s->C);
}

/* The samples [lo, hi) of bn_norm (norm: the output, y) or bn_dx (the input gradient, dx), each
 * element-wise: sample by sample they give the bits of the BatchNormalization's own loops. */
static void pair_pass(const fv_bn_pair *s, bool norm, int64_t lo, int64_t hi)
{
    const fv__elt_ops *ops = fv__elt();
    const int64_t per = s->rows * s->C;
    for (int64_t i = lo; i < hi; i++) {
        const float *x = s->x + i * per;
        if (norm)
            ops->bn_norm(x, s->y + i * per, s->rows, s->C, s->mean, s->mean + s->C, s->gamma,
                         s->beta, s->add ? s->add + i * per : NULL, s->relu);
        else
            ops->bn_dx(x, s->g + i * per, s->relu_y ? s->relu_y + i * per : NULL,
                       s->rx.inv ? &s->rx : NULL, s->dx + i * per, s->rows, s->C, s->mean, s->k);
    }
}

void fv__bn_pair_y(const fv_run *r, int64_t lo, int64_t hi)
{
    if (r->fill && r->fill->y_left) pair_pass(r->fill, true, lo, hi);
}

void fv__bn_pair_dx(const fv_run *r, int64_t lo, int64_t hi)
{
    if (r->sums && r->sums->dx_left) pair_pass(r->sums, false, lo, hi);
}
