/* fma_peak.c — the machine's fp32 arithmetic peak: a loop of independent FMAs on every core at
 * once (one OpenMP thread per core), with the widest vectors this CPU has, chosen at run time
 * (AVX-512, AVX2 + FMA, or plain SSE multiply + add). bench/run states fovea's speed as a
 * fraction of this figure.
 *
 * Each thread times itself in its own CPU time and the best of many short trials is kept, so
 * the figure is what the cores can do, not what a busy shared machine happened to give; the
 * wall-clock rate of the same runs is printed beside it.
 *
 * usage: fma_peak [--threads N] [--isa avx512|avx2|generic] [--json]   (default: all online CPUs,
 *        the widest vectors the CPU has; --isa: the peak of that path, the one fovea runs on when
 *        FOVEA_KERNELS narrows it, refused when the CPU lacks it)
 * build: cc -O2 -fopenmp bench/fma_peak.c -o fma_peak     (bench/run does it)
 */
#include "bench_clock.h"
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Each kernel runs `iters` rounds of 12 independent chains (enough to cover the FMA latency on
 * two pipes) and returns the FLOPs done; the result is folded into *sink so the loop stays. */
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double run_avx512(long iters, float *sink)
{
    __m512 acc[12], m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, acc[i]);
    *sink += _mm512_reduce_add_ps(s);
    return (double)iters * 12 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double run_avx2(long iters, float *sink)
{
    __m256 acc[12], m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    }
    float out[8];
    __m256 s = acc[0];
    for (int i = 1; i < 12; i++)
        s = _mm256_add_ps(s, acc[i]);
    _mm256_storeu_ps(out, s);
    *sink += out[0];
    return (double)iters * 12 * 8 * 2;
}
#endif

/* Portable: 4-float vectors, a multiply and an add (2 FLOPs per lane, as an FMA counts). */
typedef float v4 __attribute__((vector_size(16)));
static double run_generic(long iters, float *sink)
{
    v4 acc[12], m = {0.999f, 0.999f, 0.999f, 0.999f}, a = {1e-3f, 1e-3f, 1e-3f, 1e-3f};
    for (int i = 0; i < 12; i++)
        acc[i] = (v4){(float)i, (float)i, (float)i, (float)i};
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = acc[i] * m + a;
    }
    v4 s = acc[0];
    for (int i = 1; i < 12; i++)
        s += acc[i];
    *sink += s[0];
    return (double)iters * 12 * 4 * 2;
}

typedef double (*kernel)(long, float *);

/* The widest path the CPU has, or no wider than `isa` (NULL: any); NULL when isa names a path
 * the CPU lacks. */
static kernel pick(const char *isa, const char **name)
{
    const bool any = !isa;
#if defined(__x86_64__)
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (__builtin_cpu_supports("avx512f") && (any || strcmp(isa, "avx512") == 0))
        return *name = "avx512", run_avx512;
    if (avx2 && (any || strcmp(isa, "avx2") == 0)) return *name = "avx2+fma", run_avx2;
#endif
    if (!any && strcmp(isa, "generic") != 0) return NULL;
    *name = "generic (mul + add)";
    return run_generic;
}

int main(int argc, char **argv)
{
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), json = 0;
    const char *isa = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc)
            isa = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: fma_peak [--threads N] [--isa avx512|avx2|generic] [--json]\n");
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    const char *name;
    kernel k = pick(isa, &name);
    if (!k) {
        fprintf(stderr, "fma_peak: --isa %s: this CPU has no such path (avx512, avx2, generic)\n",
                isa);
        return 2;
    }
    /* About 2 ms per trial at peak; 150 trials per thread, all threads at once. */
    const long iters = 200000;
    double best[1024] = {0}, wall_best = 0;
    float sink = 0;
    if (threads > 1024) threads = 1024;
    for (int trial = 0; trial < 150; trial++) {
        double w0 = wall_now(), flop_all = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flop_all)
        {
            float s = 0;
            double t0 = bench_cpu_seconds();
            double flop = k(iters, &s);
            double t = bench_cpu_seconds() - t0;
            int id = omp_get_thread_num();
            if (t > 0 && flop / t > best[id]) best[id] = flop / t;
            flop_all += flop;
#pragma omp atomic
            sink += s;
        }
        double w = wall_now() - w0;
        if (w > 0 && flop_all / w > wall_best) wall_best = flop_all / w;
    }
    double total = 0;
    for (int i = 0; i < threads; i++)
        total += best[i];
    if (json)
        printf("{\"path\": \"%s\", \"threads\": %d, \"peak_gflops\": %.2f, "
               "\"per_core_gflops\": %.2f, \"wall_gflops\": %.2f}\n",
               name, threads, total * 1e-9, total / threads * 1e-9, wall_best * 1e-9);
    else
        printf("fp32 FMA peak (%s): %.1f GFLOP/s on %d threads (%.1f per core; best wall-clock "
               "rate of the same runs %.1f)\n",
               name, total * 1e-9, threads, total / threads * 1e-9, wall_best * 1e-9);
    return sink == 12345.0f; /* never: keeps the loops */
}
