/* progress.c — Keras' progress bar and per-epoch lines for `fovea train`, drawn from fit's
 * callbacks, and the SIGINT/SIGTERM handling that lets training stop cleanly after a step.
 * The formats follow Keras 2's Progbar: `237/469 [=========>....] - ETA: 7s - loss: 0.3980`,
 * `469/469 [=====] - 12s 25ms/step - loss: ...`, and `469/469 - 12s - 25ms/step - loss: ...`.
 */
#include "progress.h"
#include "common.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH      30
#define REDRAW_SECONDS 0.1 /* at most ten redraws a second: drawing must never cost time */

static volatile sig_atomic_t stop_requested; /* the signal's number, 0 before one */

static bool bar_on_screen; /* set before the handler is installed, only read by it */

static void on_signal(int sig)
{
    static const char msg[] =
        "\nfovea train: interrupted; stopping after this step (Ctrl-C again to quit at once)\n";
    stop_requested = sig;
    if (sig == SIGINT) {
        /* The leading newline ends a bar drawn on the terminal. */
        size_t skip = bar_on_screen ? 0 : 1;
        ssize_t r = write(STDERR_FILENO, msg + skip, sizeof msg - 1 - skip);
        (void)r;
    }
}

void progress_catch_signals(void)
{
    bar_on_screen = isatty(STDOUT_FILENO) != 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* the second signal takes its default action: quit now */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void progress_restore_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

bool progress_interrupted(void)
{
    return stop_requested != 0;
}

int progress_exit_status(void)
{
    return stop_requested ? 128 + stop_requested : 0;
}

/* Keras 2's order: loss, the other training metrics, val_loss, the other validation metrics. */
static int name_rank(const char *name)
{
    if (strcmp(name, "loss") == 0) return 0;
    if (strcmp(name, "val_loss") == 0) return 2;
    return strncmp(name, "val_", 4) == 0 ? 3 : 1;
}

static size_t append(char *buf, size_t size, size_t used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t append(char *buf, size_t size, size_t used, const char *fmt, ...)
{
    if (used >= size) return used;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
    if (n < 0) return used;
    return used + (size_t)n < size ? used + (size_t)n : size - 1;
}

void progress_format_logs(char *buf, size_t size, const fv_logs *logs)
{
    size_t used = strlen(buf);
    for (int rank = 0; rank < 4; rank++)
        for (int i = 0; i < logs->count; i++) {
            if (!logs->names[i] || name_rank(logs->names[i]) != rank) continue;
            double v = logs->values[i];
            used = append(buf, size, used, fabs(v) > 1e-3 ? " - %s: %.4f" : " - %s: %.4e",
                          logs->names[i], v);
        }
}

static int digits(int64_t n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* " 25ms/step": the time per step in the unit Keras picks. */
static size_t append_per_step(char *buf, size_t size, size_t used, double per_step)
{
    if (per_step >= 1 || per_step == 0) return append(buf, size, used, "%.0fs/step", per_step);
    if (per_step >= 1e-3) return append(buf, size, used, "%.0fms/step", per_step * 1e3);
    return append(buf, size, used, "%.0fus/step", per_step * 1e6);
}

static void print_header(progress *p, int64_t epoch, int64_t epochs)
{
    if (p->verbose == 0 || p->header_for == epoch || epoch >= epochs) return;
    fprintf(p->out, "Epoch %lld/%lld\n", (long long)(epoch + 1), (long long)epochs);
    fflush(p->out);
    p->header_for = epoch;
}

void progress_init(progress *p, FILE *out, int verbose, int64_t epochs)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->verbose = verbose;
    p->epochs = epochs;
    p->header_for = -1;
    p->last_draw = -1e9;
    stop_requested = 0;
    /* The first header waits for the first step: a data error found by fit's checks is then
     * not preceded by "Epoch 1/N". */
}

/* Draws the bar line (without a newline) in place of the one on screen. */
static void draw_bar(progress *p, const fv_logs *logs, bool final)
{
    char line[1024];
    int64_t step = logs->step, steps = logs->steps > 0 ? logs->steps : 1;
    if (step > steps) step = steps;
    size_t used = 0;
    line[0] = '\0';
    used = append(line, sizeof line, used, "%*lld/%lld [", digits(steps), (long long)step,
                  (long long)steps);
    int width = (int)((double)BAR_WIDTH * (double)step / (double)steps);
    for (int i = 0; i < width - 1; i++)
        line[used++] = '=';
    if (width > 0) line[used++] = step < steps ? '>' : '=';
    for (int i = width; i < BAR_WIDTH; i++)
        line[used++] = '.';
    line[used++] = ']';
    line[used] = '\0';
    if (final) {
        used = append(line, sizeof line, used, " - %.0fs ", logs->seconds);
        used = append_per_step(line, sizeof line, used, logs->seconds / (double)steps);
    } else {
        double eta = step > 0 ? logs->seconds / (double)step * (double)(steps - step) : 0;
        long e = (long)eta;
        if (eta > 3600)
            used = append(line, sizeof line, used, " - ETA: %ld:%02ld:%02ld", e / 3600,
                          (e % 3600) / 60, e % 60);
        else if (eta > 60)
            used = append(line, sizeof line, used, " - ETA: %ld:%02ld", e / 60, e % 60);
        else
            used = append(line, sizeof line, used, " - ETA: %lds", e);
    }
    progress_format_logs(line, sizeof line, logs);
    used = strlen(line);
    /* Blank out what is left of a longer earlier line. */
    size_t pad = p->prev_width > used ? p->prev_width - used : 0;
    if (final && pad > 0)
        /* blank first, so that the line kept on screen (and in a log) ends with no spaces */
        fprintf(p->out, "\r%*s\r%s", (int)p->prev_width, "", line);
    else
        fprintf(p->out, "\r%s%*s", line, (int)pad, "");
    if (final) {
        fputc('\n', p->out);
        p->mid_line = false;
        p->prev_width = 0;
    } else {
        p->mid_line = true;
        p->prev_width = used;
    }
    fflush(p->out);
}

bool progress_on_batch(void *user, const fv_logs *logs)
{
    progress *p = user;
    p->last_epoch = logs->epoch;
    p->last_step = logs->step;
    p->last_steps = logs->steps;
    if (p->verbose == 2) print_header(p, logs->epoch, logs->epochs);
    if (p->verbose == 1) {
        print_header(p, logs->epoch, logs->epochs);
        double t = cli_now();
        if (t - p->last_draw >= REDRAW_SECONDS || logs->step <= 1) {
            draw_bar(p, logs, false);
            p->last_draw = t;
        }
    }
    return !stop_requested;
}

bool progress_on_epoch(void *user, const fv_logs *logs)
{
    progress *p = user;
    p->last_epoch = logs->epoch;
    p->last_step = logs->steps;
    p->last_steps = logs->steps;
    if (p->verbose == 1) {
        print_header(p, logs->epoch, logs->epochs);
        draw_bar(p, logs, true);
    } else if (p->verbose == 2) {
        print_header(p, logs->epoch, logs->epochs);
        char line[1024];
        int64_t steps = logs->steps > 0 ? logs->steps : 1;
        size_t used = 0;
        line[0] = '\0';
        used = append(line, sizeof line, used, "%lld/%lld - %.0fs - ", (long long)steps,
                      (long long)steps, logs->seconds);
        append_per_step(line, sizeof line, used, logs->seconds / (double)steps);
        progress_format_logs(line, sizeof line, logs);
        fprintf(p->out, "%s\n", line);
        fflush(p->out);
    }
    /* Announce the next epoch now, as Keras does, so that a slow first step shows where it is. */
    if (logs->epoch + 1 < logs->epochs && !stop_requested)
        print_header(p, logs->epoch + 1, logs->epochs);
    return !stop_requested;
}

void progress_finish(progress *p)
{
    if (p->mid_line) {
        fputc('\n', p->out);
        fflush(p->out);
        p->mid_line = false;
    }
}
