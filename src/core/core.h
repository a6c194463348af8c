/* core.h — fovea's internal base: errors (thread-local message), checked sizes, aligned memory,
 * the random number generator and per-sample shapes. Used by every other module; uses libc only.
 */
#ifndef FV_CORE_H
#define FV_CORE_H

#include "fovea.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ------------------------------------------------------------------------------ */

/* Records a message for fv_last_error() and returns s, so that `return fv__fail(...)` reads. */
fv_status fv__fail(fv_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends context ("model.fv:3: ") to the current message. */
void fv__error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fv__error_clear(void);

/* An internal invariant: kept in release builds; a failure is a bug in fovea, not user input. */
#define FV_ASSERT(c) ((c) ? (void)0 : fv__assert_fail(#c, __FILE__, __LINE__))
_Noreturn void fv__assert_fail(const char *expr, const char *file, int line);

/* ---- checked sizes ----------------------------------------------------------------------- */

/* a*b into *out; false on overflow or a negative operand. */
bool fv__mul_i64(int64_t a, int64_t b, int64_t *out);
bool fv__add_i64(int64_t a, int64_t b, int64_t *out);
bool fv__mul_size(size_t a, size_t b, size_t *out);

/* ---- memory ------------------------------------------------------------------------------ */

/* 64-byte aligned, NULL on failure (with an error recorded naming `what`). bytes may be 0. */
void *fv__alloc(size_t bytes, const char *what);
void *fv__calloc(size_t bytes, const char *what);
void fv__free(void *p);
/* Duplicates a string; NULL on failure. */
char *fv__strdup(const char *s);

/* ---- random numbers: xoshiro256**, explicit state, never rand() ---------------------------- */

typedef struct fv_rng {
    uint64_t s[4];
} fv_rng;

void fv__rng_seed(fv_rng *r, uint64_t seed);
/* The next 64 bits (Blackman and Vigna, "Scrambled linear pseudorandom number generators", 2021:
 * xoshiro256**). Inline, so that a loop drawing from a local state keeps it in registers (dropout
 * draws one per two values). */
static inline uint64_t fv__rng_next(fv_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t m = s[1] * 5, result = ((m << 7) | (m >> 57)) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}
/* Uniform in [0, 1) with 24 random bits (exact in float). */
float fv__rng_uniform(fv_rng *r);
/* Uniform integer in [0, n). */
uint64_t fv__rng_below(fv_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double fv__rng_normal(fv_rng *r);
/* An independent stream derived from r and a label (for per-layer dropout, say). */
void fv__rng_split(const fv_rng *r, uint64_t label, fv_rng *out);

/* ---- shapes ------------------------------------------------------------------------------ */

/* A per-sample shape (no batch axis): rank 1 (features), 2 or 3 (H, W, C); at most 4. */
typedef struct fv_shape {
    int rank;
    int64_t d[4];
} fv_shape;

int64_t fv__shape_size(const fv_shape *s); /* product of dims; -1 on overflow */
/* Same rank and dimensions. */
bool fv__shape_equal(const fv_shape *a, const fv_shape *b);
/* "(None, 26, 26, 32)" into buf. */
void fv__shape_format(const fv_shape *s, char *buf, size_t n);

/* ---- threads ----------------------------------------------------------------------------- */

/* The thread count in effect (fv_set_threads, else FOVEA_THREADS, else all cores). */
int fv__threads(void);

#endif
