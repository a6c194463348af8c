/* core.c — errors, checked sizes, aligned memory, the RNG, shapes and the thread count.
 */
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- errors ------------------------------------------------------------------------------ */

/* The only per-thread state: the last error message of this thread. */
static _Thread_local char last_error[1024];

const char *fv_status_str(fv_status s)
{
    switch (s) {
    case FV_OK:
        return "ok";
    case FV_ERR_INVALID:
        return "invalid argument";
    case FV_ERR_SHAPE:
        return "shape mismatch";
    case FV_ERR_NOMEM:
        return "out of memory";
    case FV_ERR_IO:
        return "input/output error";
    case FV_ERR_FORMAT:
        return "malformed file";
    case FV_ERR_NUMERIC:
        return "numerical error";
    case FV_ERR_INTERRUPTED:
        return "interrupted";
    case FV_ERR_STATE:
        return "wrong state";
    }
    return "unknown status";
}

const char *fv_last_error(void)
{
    return last_error;
}

fv_status fv__fail(fv_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

void fv__error_prefix(const char *fmt, ...)
{
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = n < 0 ? 0 : (size_t)n < sizeof prefix ? (size_t)n : sizeof prefix - 1;
    size_t old = strlen(last_error);
    if (plen + old >= sizeof last_error) old = sizeof last_error - 1 - plen;
    memmove(last_error + plen, last_error, old);
    memcpy(last_error, prefix, plen);
    last_error[plen + old] = '\0';
}

void fv__error_clear(void)
{
    last_error[0] = '\0';
}

void fv__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "fovea: internal error: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

/* ---- checked sizes ----------------------------------------------------------------------- */

bool fv__mul_i64(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return false;
    return !__builtin_mul_overflow(a, b, out);
}

bool fv__add_i64(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return false;
    return !__builtin_add_overflow(a, b, out);
}

bool fv__mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* ---- memory ------------------------------------------------------------------------------ */

void *fv__alloc(size_t bytes, const char *what)
{
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes || posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
        fv__fail(FV_ERR_NOMEM, "out of memory: cannot allocate %zu bytes for %s", bytes, what);
        return NULL;
    }
    return p;
}

void *fv__calloc(size_t bytes, const char *what)
{
    void *p = fv__alloc(bytes, what);
    if (p) memset(p, 0, bytes);
    return p;
}

void fv__free(void *p)
{
    free(p);
}

char *fv__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        fv__fail(FV_ERR_NOMEM, "out of memory: cannot copy a string of %zu bytes", n);
        return NULL;
    }
    return memcpy(d, s, n);
}

/* ---- random numbers ---------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fv__rng_seed(fv_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

float fv__rng_uniform(fv_rng *r)
{
    return (float)(fv__rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

uint64_t fv__rng_below(fv_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t x = fv__rng_next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = fv__rng_next(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double fv__rng_normal(fv_rng *r)
{
    double u1 = ((double)(fv__rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(fv__rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void fv__rng_split(const fv_rng *r, uint64_t label, fv_rng *out)
{
    uint64_t x = r->s[0] ^ rotl(r->s[1], 13) ^ rotl(r->s[2], 29) ^ rotl(r->s[3], 47);
    x ^= label * 0xd1b54a32d192ed03ULL;
    fv__rng_seed(out, x);
}

/* ---- shapes ------------------------------------------------------------------------------ */

int64_t fv__shape_size(const fv_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        if (!fv__mul_i64(n, s->d[i], &n)) return -1;
    return n;
}

bool fv__shape_equal(const fv_shape *a, const fv_shape *b)
{
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i]) return false;
    return true;
}

void fv__shape_format(const fv_shape *s, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "(None");
    for (int i = 0; i < s->rank && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, ", %lld", (long long)s->d[i]);
    if (used < n) snprintf(buf + used, n - used, ")");
}

/* ---- threads ----------------------------------------------------------------------------- */

/* Process-wide setting, like omp_set_num_threads; written only by fv_set_threads. */
static int thread_count;

int fv_set_threads(int n)
{
    if (n <= 0) {
        const char *env = getenv("FOVEA_THREADS");
        n = env ? atoi(env) : 0;
    }
    if (n <= 0) {
        /* OpenMP's own variable, as PyTorch and OpenMP programs read it: its first level
         * ("4" or "4,2") */
        const char *env = getenv("OMP_NUM_THREADS");
        n = env ? atoi(env) : 0;
    }
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
#else
    n = 1;
#endif
    __atomic_store_n(&thread_count, n, __ATOMIC_RELAXED);
    return n;
}

int fv__threads(void)
{
    int n = __atomic_load_n(&thread_count, __ATOMIC_RELAXED);
    return n > 0 ? n : fv_set_threads(0);
}
