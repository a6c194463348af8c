/* fuzz_history.c — libFuzzer target for the history CSV reader (fv_history_read_csv, through its
 * in-memory twin fv__history_parse_csv): files written by fovea or by Keras' CSVLogger, and
 * anything else, which must be refused with a message naming the file. A history read is written
 * back (Keras' layout: epoch, then the columns sorted by name) and must read back the same.
 */
#include "fuzz_common.h"
#include "train/train.h"

#include <math.h>

static const char ORIGIN[] = "fuzz-history.csv";

/* Same value, NaN equal to NaN. */
static bool same(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static void round_trip(const fv_history *h)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/dev/shm/fovea-fuzz-%ld.csv", (long)getpid());
    if (fv_history_write_csv(h, path) != FV_OK) return; /* no /dev/shm */
    fv_history *g = fv_history_read_csv(path);
    if (!g) fprintf(stderr, "re-reading the written history failed: %s\n", fv_last_error());
    FUZZ_CHECK(g);
    FUZZ_CHECK(fv_history_columns(g) == fv_history_columns(h));
    FUZZ_CHECK(fv_history_epochs(g) == fv_history_epochs(h));
    /* Lookups by name are linear: compare column by column only where that stays cheap. */
    for (int c = 0; c < fv_history_columns(h) && c < 64; c++) {
        const char *name = fv_history_column_name(h, c);
        int found = 0;
        for (int d = 0; d < fv_history_columns(g); d++)
            found += strcmp(fv_history_column_name(g, d), name) == 0;
        FUZZ_CHECK(found == 1);
        const double *a = fv_history_get(h, name), *b = fv_history_get(g, name);
        for (int64_t e = 0; e < fv_history_epochs(h); e++)
            FUZZ_CHECK(same(a[e], b[e]));
    }
    fv_history_free(g);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fv_history *h = fv__history_parse_csv((const char *)data, size, ORIGIN);
    if (!h) {
        FUZZ_CHECK_ERROR(ORIGIN);
        return 0;
    }
    const int ncols = fv_history_columns(h);
    const int64_t epochs = fv_history_epochs(h);
    FUZZ_CHECK(ncols >= 0 && epochs >= 0);
    for (int c = 0; c < ncols; c++) {
        const char *name = fv_history_column_name(h, c);
        FUZZ_CHECK(name && name[0] && strcmp(name, "epoch") != 0);
        if (c >= 64) continue; /* fv_history_get is linear in the columns */
        const double *v = fv_history_get(h, name);
        FUZZ_CHECK(v || epochs == 0);
        if (v) fuzz_use(fuzz_touch(v, (size_t)epochs * sizeof *v));
    }
    FUZZ_CHECK(fv_history_column_name(h, ncols) == NULL);
    round_trip(h);
    fv_history_free(h);
    return 0;
}
