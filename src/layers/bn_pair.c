/* bn_pair.c — what a layer does for the BatchNormalization that alone reads its output
 * (fv_bn_pair, layer.h): forward, the batch's channel sums image by image while each image's
 * output is in cache; backward, the BatchNormalization's input gradient chunk by chunk just
 * before the layer reads it. The bits of the BatchNormalization's own passes.
 */
#include "layers/layer.h"

#include "kernels/eltwise.h"

#include <string.h>

double *fv__bn_pair_row(const fv_run *r, int j)
{
    const fv_bn_pair *s = r->sums;
    const int first = r->c1 > r->c0 ? r->c0 : 0;
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

/* bn_dx is element-wise: sample by sample it gives the bits of the BatchNormalization's loop. */
void fv__bn_pair_dx(const fv_run *r, int64_t lo, int64_t hi)
{
    const fv_bn_pair *s = r->sums;
    if (!s || !s->dx_left) return;
    const fv__elt_ops *ops = fv__elt();
    const int64_t per = s->rows * s->C;
    for (int64_t i = lo; i < hi; i++)
        ops->bn_dx(s->x + i * per, s->g + i * per, s->relu_y ? s->relu_y + i * per : NULL,
                   s->dx + i * per, s->rows, s->C, s->mean, s->k);
}
