/* replay.c — a main for the fuzz targets without libFuzzer: runs LLVMFuzzerTestOneInput once on
 * every file named (a folder: every file in it, in name order). CTest replays each target's
 * committed corpus with it (fuzz_replay_NAME), seeds and regression inputs alike, with any
 * compiler and under the sanitizers of scripts/sanitize.sh.
 *   usage: fuzz_NAME_replay FILE|DIR...
 * Memory is capped as libFuzzer caps it (-malloc_limit_mb, -rss_limit_mb), so that an input
 * that once made fovea allocate gigabytes fails its replay instead of passing slowly: one
 * allocation over REPLAY_MALLOC_LIMIT_MB is a finding (abort), and the whole address space is
 * limited to REPLAY_AS_LIMIT_MB (setrlimit RLIMIT_AS). Under AddressSanitizer, whose shadow
 * memory needs terabytes of address space, ASan's own allocation and RSS limits do the same
 * (__asan_default_options below; ASAN_OPTIONS from the environment still apply on top). CTest
 * adds a TIMEOUT to every replay (CMakeLists.txt).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_MALLOC_LIMIT_MB 256
#define REPLAY_AS_LIMIT_MB     1024

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif

#define REPLAY_STR_(x) #x
#define REPLAY_STR(x)  REPLAY_STR_(x)

#ifdef REPLAY_ASAN
/* Read by ASan at start-up, before ASAN_OPTIONS (which override it key by key). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=0:max_allocation_size_mb=" REPLAY_STR(
        REPLAY_MALLOC_LIMIT_MB) ":hard_rss_limit_mb=" REPLAY_STR(REPLAY_AS_LIMIT_MB);
}
#else
/* glibc's allocator under its own names: the definitions below replace malloc & co. for the
 * whole program (fovea and the libraries it uses), as libFuzzer's malloc hooks do. */
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);

static void check_size(const char *fn, size_t n)
{
    if (n > (size_t)REPLAY_MALLOC_LIMIT_MB << 20) {
        char msg[160];
        int len = snprintf(msg, sizeof msg,
                           "replay: %s(%zu): one allocation over the %d MiB limit (as libFuzzer's "
                           "-malloc_limit_mb): a finding\n",
                           fn, n, REPLAY_MALLOC_LIMIT_MB);
        if (len > 0) (void)!write(2, msg, (size_t)len < sizeof msg ? (size_t)len : sizeof msg);
        abort();
    }
}

void *malloc(size_t n)
{
    check_size("malloc", n);
    return __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
    if (n && k > SIZE_MAX / n) return __libc_calloc(k, n); /* overflow: glibc says ENOMEM */
    check_size("calloc", k * n);
    return __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
    check_size("realloc", n);
    return __libc_realloc(p, n);
}

int posix_memalign(void **p, size_t align, size_t n)
{
    if (!align || (align & (align - 1)) || align % sizeof(void *)) return EINVAL;
    check_size("posix_memalign", n);
    void *q = __libc_memalign(align, n);
    if (!q) return ENOMEM;
    *p = q;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    check_size("aligned_alloc", n);
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    check_size("memalign", n);
    return __libc_memalign(align, n);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "%s: out of memory\n", path);
            fclose(f);
            return 1;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *p = realloc(buf, cap *= 2);
        if (!p) free(buf);
        buf = p;
    }
    fclose(f);
    /* An exact-size copy, so that ASan sees a read one byte past the input. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return 1;
    }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                bad = 1;
                break;
            }
            names = p;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len))) {
            bad = 1;
            break;
        }
        snprintf(names[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (!bad && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            bad |= run_file(names[i]);
            ++*count;
        }
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
#ifndef REPLAY_ASAN
    struct rlimit lim = {(rlim_t)REPLAY_AS_LIMIT_MB << 20, (rlim_t)REPLAY_AS_LIMIT_MB << 20};
    if (setrlimit(RLIMIT_AS, &lim) != 0) {
        perror("setrlimit(RLIMIT_AS)");
        return 1;
    }
#endif
    int bad = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            bad = 1;
        } else if (S_ISDIR(st.st_mode)) {
            bad |= run_dir(argv[i], &count);
        } else {
            bad |= run_file(argv[i]);
            count++;
        }
    }
    if (count == 0) {
        fprintf(stderr, "%s: no inputs\n", argv[0]);
        return 1;
    }
    printf("%s: %d inputs ran without a finding\n", argv[0], count);
    return bad;
}
