/* fuzz_common.h — helpers shared by the libFuzzer targets of tests/fuzz: an in-memory file (a
 * memfd) for readers that only take a path, and a check that aborts (a libFuzzer finding) when an
 * invariant of a successful parse does not hold.
 */
#ifndef FV_FUZZ_COMMON_H
#define FV_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fovea.h"

/* A finding: print what broke and abort, so that libFuzzer saves the input. */
#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #c);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Puts data[0..size) in memory-backed file number slot (0 or 1), reused by every run, and
 * returns a path that opens it from the start ("/proc/self/fd/N"). It is a regular file to
 * fstat, as a file on disk is, so readers take the same path through their code. */
static const char *fuzz_file_slot(int slot, const uint8_t *data, size_t size)
{
    static int fd[2] = {-1, -1};
    static char path[2][64];
    FUZZ_CHECK(slot == 0 || slot == 1);
    if (fd[slot] < 0) {
        fd[slot] = memfd_create("fovea-fuzz", 0);
        FUZZ_CHECK(fd[slot] >= 0);
        snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
    }
    FUZZ_CHECK(ftruncate(fd[slot], 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd[slot], data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
    return path[slot];
}

static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    return fuzz_file_slot(0, data, size);
}

/* A failure must leave one message that names the input. */
#define FUZZ_CHECK_ERROR(origin)                                                                   \
    do {                                                                                           \
        const char *e_ = fv_last_error();                                                          \
        if (!e_[0] || !strstr(e_, (origin))) {                                                     \
            fprintf(stderr, "%s:%d: the error message does not name %s: \"%s\"\n", __FILE__,       \
                    __LINE__, (origin), e_);                                                       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A sum over every byte, so that reading past an allocation shows up under ASan and an
 * uninitialised byte under MSan or valgrind. */
static inline uint64_t fuzz_touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

/* Keeps a value alive so that the compiler cannot drop the work that made it. */
static inline void fuzz_use(uint64_t v)
{
    __asm__ volatile("" : : "r"(v) : "memory");
}

#endif
