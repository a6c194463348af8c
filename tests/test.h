/* test.h — a minimal test harness: TEST(name) functions registered by RUN(name) in main, checks
 * that print file:line, the expression and the values, and a closing "N passed, N failed" line.
 * A test that cannot run calls SKIP(why); the program then exits 77 (CTest's SKIP_RETURN_CODE)
 * unless a test failed, so the summary counts it as skipped, never as passed. Under CI (the
 * environment variable CI set and not empty) a skip is a failure: CI installs everything.
 */
#ifndef FV_TEST_H
#define FV_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_checks;
static int test_skipped __attribute__((unused)); /* read by RUN and TEST_SUMMARY */
static int tests_passed, tests_failed, tests_skipped;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        int s_ = (int)(expr);                                                                      \
        if (s_ != 0) {                                                                             \
            fprintf(stderr, "  %s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #expr, s_,        \
                    fv_last_error());                                                              \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

/* |a - b| <= atol + rtol·|b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                              \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_))) {                                        \
            fprintf(stderr, "  %s:%d: %s = %.9g, expected %s = %.9g\n", __FILE__, __LINE__, #a,    \
                    a_, #b, b_);                                                                   \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (!h_ || !strstr(h_, (needle))) {                                                        \
            fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,       \
                    h_ ? h_ : "(null)", (needle));                                                 \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

/* Ends the current test as skipped (a failure under CI), saying why; use in the TEST itself. */
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        const char *ci_ = getenv("CI");                                                            \
        fprintf(ci_ &&*ci_ ? stderr : stdout,                                                      \
                "     %s: ", ci_ &&*ci_ ? "cannot run, and CI must run it" : "skipped");           \
        fprintf(ci_ &&*ci_ ? stderr : stdout, __VA_ARGS__);                                        \
        fprintf(ci_ &&*ci_ ? stderr : stdout, "\n");                                               \
        if (ci_ && *ci_)                                                                           \
            test_failed_checks++;                                                                  \
        else                                                                                       \
            test_skipped = 1;                                                                      \
        return;                                                                                    \
    } while (0)

#define TEST(name) static void name(void)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        test_failed_checks = 0;                                                                    \
        test_skipped = 0;                                                                          \
        name();                                                                                    \
        if (test_failed_checks) {                                                                  \
            tests_failed++;                                                                        \
            fprintf(stderr, "FAIL %s\n", #name);                                                   \
        } else if (test_skipped) {                                                                 \
            tests_skipped++;                                                                       \
            printf("skip %s\n", #name);                                                            \
        } else {                                                                                   \
            tests_passed++;                                                                        \
            printf("ok   %s\n", #name);                                                            \
        }                                                                                          \
    } while (0)

/* The closing line and the exit status: 1 if any test failed, else 77 if any was skipped. */
#define TEST_SUMMARY()                                                                             \
    (printf("%d passed, %d failed, %d skipped\n", tests_passed, tests_failed, tests_skipped),      \
     tests_failed    ? 1                                                                           \
     : tests_skipped ? 77                                                                          \
                     : 0)

/* Compares two float arrays; prints the first few differing elements and the largest
 * difference (as llm.c's tests do). Returns 1 when all |a-b| <= atol + rtol|b|. */
static inline int check_arrays(const char *what, const float *a, const float *b, long n,
                               double atol, double rtol)
{
    double worst = 0;
    long bad = 0, worst_i = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= atol + rtol * fabs((double)b[i]))) {
            if (bad < 5)
                fprintf(stderr, "  %s[%ld]: %.9g vs %.9g\n", what, i, (double)a[i], (double)b[i]);
            bad++;
        }
        if (d > worst || d != d) worst = d, worst_i = i;
    }
    if (bad) {
        fprintf(stderr, "  %s: %ld of %ld differ; largest difference %.3g at %ld\n", what, bad, n,
                worst, worst_i);
        test_failed_checks++;
    }
    return bad == 0;
}

/* ---- a test program's temporary folder ------------------------------------------------------ */

#include <dirent.h>
#include <sys/stat.h>

static char test_tmpdir_path[64];

/* Removes path and, for a folder, everything in it (links themselves, not what they name). */
static int test_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return -1;
        struct dirent *e;
        int bad = 0;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            bad |= test_remove_tree(sub) != 0;
        }
        closedir(d);
        if (bad) return -1;
    }
    return remove(path);
}

static void test_tmpdir_remove(void)
{
    struct stat st; /* a program that removed it itself leaves nothing to do */
    if (test_tmpdir_path[0] && lstat(test_tmpdir_path, &st) == 0 &&
        test_remove_tree(test_tmpdir_path) != 0)
        fprintf(stderr, "could not remove %s\n", test_tmpdir_path);
}

/* A fresh folder for the program's files, /tmp/fovea-test-NAME-XXXXXX, copied into buf (n
 * bytes) and removed with everything in it when the program exits. Exits 2 with the reason
 * when it cannot be made. */
static void __attribute__((unused)) test_tmpdir(const char *name, char *buf, size_t n)
{
    int len =
        snprintf(test_tmpdir_path, sizeof test_tmpdir_path, "/tmp/fovea-test-%s-XXXXXX", name);
    if (len < 0 || (size_t)len >= sizeof test_tmpdir_path || (size_t)len >= n) {
        fprintf(stderr, "test_tmpdir: the name '%s' is too long\n", name);
        exit(2);
    }
    if (!mkdtemp(test_tmpdir_path)) {
        perror("mkdtemp");
        exit(2);
    }
    atexit(test_tmpdir_remove);
    memcpy(buf, test_tmpdir_path, (size_t)len + 1);
}

#endif
