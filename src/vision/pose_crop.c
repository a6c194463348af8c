/* pose_crop.c — a crop around the object as a pose network's input ("dynamic zoom-in"): the
 * virtual camera turned to look through the crop's centre, the crop's pixels sampled through it,
 * and an estimate in the crop's camera turned back into the image's.
 */
#include "fovea.h"

#include <math.h>
#include <string.h>

void fv_pose_crop_camera(const double K[9], const double centre[2], double side_px, int64_t out_h,
                         int64_t out_w, double Rv[9], double Kv[9])
{
    /* a: the unit ray through the centre; Rv = I + [v]x + [v]x^2 / (1 + c) with v = a x e_z and
     * c = a . e_z, the rotation about v that takes a to e_z (a is never opposite e_z: a_z > 0) */
    double a[3] = {(centre[0] - K[2]) / K[0], (centre[1] - K[5]) / K[4], 1};
    const double na = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    for (int k = 0; k < 3; k++)
        a[k] /= na;
    const double v[3] = {a[1], -a[0], 0}, c = a[2], q = 1 / (1 + c);
    const double X[9] = {0, -v[2], v[1], v[2], 0, -v[0], -v[1], v[0], 0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double x2 = 0;
            for (int k = 0; k < 3; k++)
                x2 += X[i * 3 + k] * X[k * 3 + j];
            Rv[i * 3 + j] = (i == j) + X[i * 3 + j] + q * x2;
        }
    const double kv[9] = {K[0] * (double)out_w / side_px,
                          0,
                          0.5 * (double)(out_w - 1),
                          0,
                          K[4] * (double)out_h / side_px,
                          0.5 * (double)(out_h - 1),
                          0,
                          0,
                          1};
    memcpy(Kv, kv, sizeof kv);
}

void fv_pose_crop_image(const uint8_t *src, int64_t h, int64_t w, int channels, const double K[9],
                        const double Rv[9], const double Kv[9], uint8_t *out, int64_t out_h,
                        int64_t out_w)
{
    /* M = K Rv^T Kv^-1: a crop pixel (u, v, 1) to the image's homogeneous pixel */
    const double Ki[9] = {1 / Kv[0], 0, -Kv[2] / Kv[0], 0, 1 / Kv[4], -Kv[5] / Kv[4], 0, 0, 1};
    double A[9], M[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            A[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                A[i * 3 + j] += Rv[k * 3 + i] * Ki[k * 3 + j];
        }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            M[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                M[i * 3 + j] += K[i * 3 + k] * A[k * 3 + j];
        }
    for (int64_t y = 0; y < out_h; y++)
        for (int64_t x = 0; x < out_w; x++) {
            const double p0 = M[0] * (double)x + M[1] * (double)y + M[2];
            const double p1 = M[3] * (double)x + M[4] * (double)y + M[5];
            const double p2 = M[6] * (double)x + M[7] * (double)y + M[8];
            uint8_t *o = out + (y * out_w + x) * channels;
            const double u = p0 / p2, v = p1 / p2;
            if (!(p2 > 0) || !(u > -1 && u < (double)w && v > -1 && v < (double)h)) {
                memset(o, 0, (size_t)channels);
                continue;
            }
            const double fu = floor(u), fv = floor(v), du = u - fu, dv = v - fv;
            const int64_t x0 = (int64_t)fu, y0 = (int64_t)fv;
            const double wt[4] = {(1 - du) * (1 - dv), du * (1 - dv), (1 - du) * dv, du * dv};
            for (int c = 0; c < channels; c++) {
                double acc = 0;
                for (int k = 0; k < 4; k++) {
                    const int64_t xx = x0 + (k & 1), yy = y0 + (k >> 1);
                    if (xx >= 0 && xx < w && yy >= 0 && yy < h)
                        acc += wt[k] * src[(yy * w + xx) * channels + c];
                }
                o[c] = (uint8_t)(acc > 255 ? 255 : acc + 0.5);
            }
        }
}

void fv_pose_sample_estimate(const fv_pose_sample *s, const float y[12], fv_pose *out)
{
    fv_pose p;
    fv_pose_from_head(y, s->Kin, &p);
    for (int i = 0; i < 3; i++) {
        out->t[i] = 0;
        for (int k = 0; k < 3; k++)
            out->t[i] += s->Rv[k * 3 + i] * p.t[k];
        for (int j = 0; j < 3; j++) {
            out->R[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++)
                out->R[i * 3 + j] += s->Rv[k * 3 + i] * p.R[k * 3 + j];
        }
    }
}
