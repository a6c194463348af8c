/* codes.c — codes for a decoder or generator: z ~ N(0, I) from fovea's seeded generator, the
 * latent vectors `fovea generate` decodes (Keras' VAE example: random.normal; DCGAN: the noise).
 */
#include "generative/generative.h"

fv_status fv_sample_normal(int64_t n, int64_t dim, uint64_t seed, float *z)
{
    if (!z) return fv__fail(FV_ERR_INVALID, "fv_sample_normal: NULL argument");
    int64_t count;
    if (n < 1 || dim < 1 || !fv__mul_i64(n, dim, &count))
        return fv__fail(FV_ERR_INVALID, "fv_sample_normal: %lld codes of %lld values", (long long)n,
                        (long long)dim);
    /* Code i from its own stream: the first codes are the same whatever n. */
    fv_rng base;
    fv__rng_seed(&base, seed);
    for (int64_t i = 0; i < n; i++) {
        fv_rng s;
        fv__rng_split(&base, (uint64_t)i, &s);
        for (int64_t j = 0; j < dim; j++)
            z[i * dim + j] = (float)fv__rng_normal(&s);
    }
    return FV_OK;
}
