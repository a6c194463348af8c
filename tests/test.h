/* test.h — a minimal test harness: TEST(name) functions registered by RUN(name) in main, checks
 * that print file:line, the expression and the values, and a closing "N passed, N failed" line.
 */
#ifndef FV_TEST_H
#define FV_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_checks;
static int tests_passed, tests_failed;

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

#define TEST(name) static void name(void)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        test_failed_checks = 0;                                                                    \
        name();                                                                                    \
        if (test_failed_checks) {                                                                  \
            tests_failed++;                                                                        \
            fprintf(stderr, "FAIL %s\n", #name);                                                   \
        } else {                                                                                   \
            tests_passed++;                                                                        \
            printf("ok   %s\n", #name);                                                            \
        }                                                                                          \
    } while (0)

#define TEST_SUMMARY()                                                                             \
    (printf("%d passed, %d failed\n", tests_passed, tests_failed), tests_failed ? 1 : 0)

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
                fprintf(stderr, "  %s[%ld]: %.9g vs %.9g\n", what, i, (double)a[i],
                        (double)b[i]);
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

#endif
