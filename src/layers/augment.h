/* augment.h — what the preprocessing and augmentation layers (augment_geometric.c,
 * augment_value.c) share with each other and with the rest of fovea: the argument helpers for
 * Keras' "a float or a tuple" factors, and the affine map each geometric layer applied to each
 * sample, so that boxes and keypoints can move with the image.
 */
#ifndef FV_AUGMENT_H
#define FV_AUGMENT_H

#include "layers/layer.h"

/* The preprocessing kinds, two family files (Keras 3's preprocessing layers). */
extern const fv_layer_kind fv__kind_random_flip, fv__kind_random_translation,
    fv__kind_random_rotation, fv__kind_random_zoom, fv__kind_random_crop, fv__kind_center_crop,
    fv__kind_resizing, fv__kind_random_contrast, fv__kind_random_brightness, fv__kind_rescaling,
    fv__kind_normalization;

/* Whether l is one of the kinds above: a map of each sample without weights learned by
 * gradient, which Keras runs as the model's preprocessing. */
bool fv__augment_is_preprocessing(const fv_layer *l);

/* The affine map that l applied to sample i in its last forward pass:
 *     (x', y') = (m[0]·x + m[1]·y + m[2],  m[3]·x + m[4]·y + m[5])
 * takes a point (x, y) of the layer's input image to its place (x', y') in the output image. Both
 * are continuous pixel coordinates: pixel (row r, column c) covers [c, c+1) × [r, r+1), x to the
 * right and y down, as COCO's boxes are written; an output point outside [0, out width) ×
 * [0, out height) has left the picture. training says whether that pass was in training mode:
 * the random kinds keep each sample's map then (in l->saved, so i < the n of that pass); at
 * inference they are the identity, random_crop takes its centre window and resizes, and
 * center_crop and resizing do what they always do. Returns true for the kinds that move pixels
 * (random_flip, random_translation, random_rotation, random_zoom, random_crop, center_crop,
 * resizing); false for every other layer, with m the identity. */
bool fv__augment_affine(const fv_layer *l, int64_t i, bool training, double m[6]);

/* Whether l is a kind that moves pixels (the kinds for which fv__augment_affine is true). */
bool fv__augment_moves_pixels(const fv_layer *l);

/* For a rescaling layer: its scale and offset, and true; false for any other layer. */
bool fv__augment_rescaling(const fv_layer *l, double *scale, double *offset);

/* normalization adapt=true: whether l still needs its mean and variance (its count is 0), and
 * setting them (one per value of the last axis) with the count of values they came from. */
bool fv__augment_needs_adapt(const fv_layer *l);
void fv__augment_adapted(fv_layer *l, const double *mean, const double *variance, double count);

/* Moves a box with the image: in = (x1, y1, x2, y2) in the input's pixel coordinates (as
 * fv__augment_affine's), out = the smallest box holding its four corners moved by m, clipped to the
 * output image [0, w] × [0, h] (Keras' transform_bounding_boxes: corners, then clip_to_image_size).
 * Returns the fraction of the moved box's area left inside the image (0 when it left entirely, or
 * the moved box has no area), for the caller's rule on what to keep. */
double fv__augment_move_box(const double m[6], const double in[4], double w, double h,
                            double out[4]);

/* Keras' factor argument (base_image_preprocessing_layer._set_factor): one number f gives the
 * range [-|f|, |f|], two numbers give [min, max] of them (Keras sorts them). Fails naming the
 * kind and key when more than two numbers were given. */
fv_status fv__augment_factor(const fv_layer *l, const char *key, const fv_floats *f,
                             double range[2]);

/* A uniform draw in [lo, hi] with 53 random bits (lo itself when lo == hi). */
double fv__augment_uniform(fv_rng *r, double lo, double hi);

#endif
