/* bench_clock.h — the benchmark programs' clock: the calling thread's CPU time, so that on a shared
 * machine the time a thread spends descheduled is not counted (each bench/bench_*.c and fma_peak.c
 * includes it; no library function, as the benches link nothing but libfovea).
 */
#ifndef FV_BENCH_CLOCK_H
#define FV_BENCH_CLOCK_H

#include <time.h>

/* Seconds of CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), from an arbitrary origin. */
static inline double bench_cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
