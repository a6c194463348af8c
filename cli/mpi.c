/* mpi.c — data-parallel `fovea train` over MPI: MPI's start and end, the two collective hooks
 * of fv_fit_opts (gather: MPI_Allgatherv; sum: a fixed binary tree over the ranks, reduce-scatter
 * by recursive halving with neighbours paired first, then MPI_Allgatherv), and the checkpoint
 * sent from process 0 to the others on --resume. A process that dies ends the whole job: Open
 * MPI's mpirun notices it, names its rank and kills the others (MPI's errors are fatal here).
 */
#include "mpi.h"
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FOVEA_MPI
#include <mpi.h>
#endif

/* The launcher's process count when this process was started by mpirun (Open MPI, or a PMI
 * launcher such as MPICH's), else 0. */
static int launched_size(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    return v ? atoi(v) : 0;
}

#ifdef FOVEA_MPI

static fv_status mpi_gather(void *ctx, void *buf, const size_t *off)
{
    cli_mpi *p = ctx;
    int counts[FV_BATCH_CHUNKS], displs[FV_BATCH_CHUNKS];
    for (int q = 0; q < p->size; q++) {
        if (off[q + 1] > INT_MAX) {
            cli_error("train", "process %d: a gather of %zu bytes is beyond MPI's int counts",
                      p->rank, off[p->size]);
            return FV_ERR_NOMEM;
        }
        counts[q] = (int)(off[q + 1] - off[q]);
        displs[q] = (int)off[q];
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_BYTE,
                   MPI_COMM_WORLD);
    return FV_OK;
}

/* The elements process q owns after the reduce-scatter of n: at each step (mask 1, 2, 4, ...)
 * it keeps the lower half of its range when bit `mask` of q is clear, else the upper half. */
static void owned(int q, int size, int64_t n, int64_t *lo, int64_t *hi)
{
    *lo = 0, *hi = n;
    for (int mask = 1; mask < size; mask <<= 1) {
        const int64_t mid = *lo + (*hi - *lo) / 2;
        if (q & mask)
            *lo = mid;
        else
            *hi = mid;
    }
}

/* a ← the balanced tree sum over the ranks, ((a0 + a1) + (a2 + a3)) + ...: at step `mask` two
 * partners that hold the same sums of their groups of `mask` ranks swap halves and each adds
 * the half it keeps (a + b = b + a exactly, so both get the same bits). 2(P−1)/P·n floats sent
 * and received per process, as a ring allreduce. */
static fv_status mpi_sum(void *ctx, float *a, int64_t n)
{
    cli_mpi *p = ctx;
    if (p->size == 1 || n == 0) return FV_OK;
    if (n > INT_MAX) {
        cli_error("train", "process %d: %lld gradients are beyond MPI's int counts", p->rank,
                  (long long)n);
        return FV_ERR_NOMEM;
    }
    const size_t half = (size_t)(n + 1) / 2;
    if (p->buf_floats < half) {
        float *b = realloc(p->buf, half * sizeof(float));
        if (!b) {
            cli_error("train", "process %d: out of memory summing the gradients", p->rank);
            return FV_ERR_NOMEM;
        }
        p->buf = b, p->buf_floats = half;
    }
    int64_t lo = 0, hi = n;
    for (int mask = 1; mask < p->size; mask <<= 1) {
        const int partner = p->rank ^ mask;
        const int64_t mid = lo + (hi - lo) / 2;
        const bool low = (p->rank & mask) == 0;
        const int64_t keep = low ? lo : mid, keep_n = low ? mid - lo : hi - mid;
        const int64_t send = low ? mid : lo, send_n = low ? hi - mid : mid - lo;
        MPI_Sendrecv(a + send, (int)send_n, MPI_FLOAT, partner, mask, p->buf, (int)keep_n,
                     MPI_FLOAT, partner, mask, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        for (int64_t e = 0; e < keep_n; e++)
            a[keep + e] = low ? a[keep + e] + p->buf[e] : p->buf[e] + a[keep + e];
        lo = keep, hi = keep + keep_n;
    }
    int counts[FV_BATCH_CHUNKS], displs[FV_BATCH_CHUNKS];
    for (int q = 0; q < p->size; q++) {
        int64_t qlo, qhi;
        owned(q, p->size, n, &qlo, &qhi);
        counts[q] = (int)(qhi - qlo);
        displs[q] = (int)qlo;
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, a, counts, displs, MPI_FLOAT,
                   MPI_COMM_WORLD);
    return FV_OK;
}

int cli_mpi_start(const char *cmd, cli_mpi *p)
{
    memset(p, 0, sizeof *p);
    p->size = 1;
    if (launched_size() < 1) return CLI_OK;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        cli_error(cmd, "MPI_Init failed");
        return CLI_FAIL;
    }
    MPI_Comm_size(MPI_COMM_WORLD, &p->size);
    MPI_Comm_rank(MPI_COMM_WORLD, &p->rank);
    p->coll = (fv_collective){
        .size = p->size, .rank = p->rank, .ctx = p, .gather = mpi_gather, .sum = mpi_sum};
    if (FV_BATCH_CHUNKS % p->size != 0) {
        if (p->rank == 0)
            cli_error(cmd,
                      "%d processes: data-parallel training needs a process count that divides "
                      "%d, the fixed chunks of a batch (1, 2, 4, 8 or 16), so that the result is "
                      "that of one process",
                      p->size, FV_BATCH_CHUNKS);
        /* Every process found the same: all end normally, so that no MPI_Abort from another
         * process kills process 0 before its message has left (mpirun then reports the exit
         * codes). */
        fflush(stderr);
        MPI_Finalize();
        return CLI_FAIL;
    }
    if (p->rank > 0 && !freopen("/dev/null", "w", stdout)) {
        cli_error(cmd, "process %d: cannot silence standard output: %s", p->rank, strerror(errno));
        return cli_mpi_finish(p, CLI_FAIL);
    }
    return CLI_OK;
}

/* Removes a process > 0's private checkpoint folder and what the fit left in it. */
static void remove_tmpdir(cli_mpi *p)
{
    if (!p->tmpdir[0]) return;
    DIR *d = opendir(p->tmpdir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[sizeof p->tmpdir + 256];
        snprintf(path, sizeof path, "%s/%s", p->tmpdir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(p->tmpdir);
    p->tmpdir[0] = '\0';
}

int cli_mpi_finish(cli_mpi *p, int rc)
{
    remove_tmpdir(p);
    free(p->buf);
    p->buf = NULL;
    int init = 0;
    MPI_Initialized(&init);
    if (!init) return rc;
    fflush(stdout);
    fflush(stderr);
    if (rc != CLI_OK && p->size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
    return rc;
}

/* Reads a whole file into *bytes (malloc'd) and *n; *n = -1 when it does not exist. Reports and
 * returns CLI_FAIL when it cannot be read. */
static int read_file(const char *cmd, const char *path, char **bytes, int64_t *n)
{
    *bytes = NULL, *n = -1;
    FILE *f = fopen(path, "rb");
    if (!f && errno == ENOENT) return 0;
    long len = -1;
    bool ok = f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
              fseek(f, 0, SEEK_SET) == 0 && (*bytes = malloc(len ? (size_t)len : 1)) &&
              fread(*bytes, 1, (size_t)len, f) == (size_t)len;
    const int err = errno;
    if (f) fclose(f);
    if (!ok) {
        cli_error(cmd, "--resume: cannot read '%s': %s", path, strerror(err));
        free(*bytes);
        *bytes = NULL;
        return CLI_FAIL;
    }
    *n = len;
    return 0;
}

/* Broadcasts n bytes from process 0 in pieces that MPI's int counts can hold. */
static void broadcast(void *buf, int64_t n)
{
    for (int64_t at = 0; at < n; at += INT_MAX / 2) {
        const int64_t len = n - at < INT_MAX / 2 ? n - at : INT_MAX / 2;
        MPI_Bcast((char *)buf + at, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
}

int cli_mpi_checkpoint(const char *cmd, cli_mpi *p, const char *ckpt, const char **dir,
                       bool *resume)
{
    *dir = p->rank == 0 ? ckpt : NULL;
    if (p->size == 1 || !ckpt || !*resume) {
        if (p->rank > 0) *resume = false;
        return 0;
    }
    /* Process 0 reads the file (n = -1: there is none yet; -2: it cannot be read). */
    int64_t n = -1;
    char *bytes = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", ckpt);
    if (p->rank == 0 && read_file(cmd, path, &bytes, &n)) n = -2;
    MPI_Bcast(&n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    if (n == -2) {
        free(bytes);
        return CLI_FAIL;
    }
    if (n == -1) { /* no checkpoint yet: every process starts from epoch 1 */
        if (p->rank > 0) *resume = false;
        return 0;
    }
    if (p->rank > 0 && !(bytes = malloc(n ? (size_t)n : 1))) {
        cli_error(cmd, "process %d: out of memory receiving the checkpoint (%lld bytes)", p->rank,
                  (long long)n);
        MPI_Abort(MPI_COMM_WORLD, CLI_FAIL);
    }
    broadcast(bytes, n);
    int rc = 0;
    if (p->rank > 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(p->tmpdir, sizeof p->tmpdir, "%s/fovea-checkpoint-%d-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp", p->rank);
        FILE *f = NULL;
        if (!mkdtemp(p->tmpdir)) {
            cli_error(cmd, "process %d: cannot make a folder for the checkpoint '%s': %s", p->rank,
                      p->tmpdir, strerror(errno));
            p->tmpdir[0] = '\0';
            rc = CLI_FAIL;
        } else {
            snprintf(path, sizeof path, "%s/checkpoint.safetensors", p->tmpdir);
            f = fopen(path, "wb");
            bool ok = f && fwrite(bytes, 1, (size_t)n, f) == (size_t)n;
            if (f && fclose(f) != 0) ok = false;
            if (!ok) {
                cli_error(cmd, "process %d: cannot write '%s': %s", p->rank, path, strerror(errno));
                rc = CLI_FAIL;
            }
            *dir = p->tmpdir;
        }
    }
    free(bytes);
    return rc;
}

#else /* built without MPI */

int cli_mpi_start(const char *cmd, cli_mpi *p)
{
    memset(p, 0, sizeof *p);
    p->size = 1;
    const int n = launched_size();
    if (n <= 1) return CLI_OK;
    cli_error(cmd,
              "started by mpirun as one of %d processes, but this fovea was built without MPI "
              "(FOVEA_MPI=OFF: install libopenmpi-dev and rebuild): each process would train "
              "alone; run it without mpirun",
              n);
    return CLI_FAIL;
}

int cli_mpi_finish(cli_mpi *p, int rc)
{
    (void)p;
    return rc;
}

int cli_mpi_checkpoint(const char *cmd, cli_mpi *p, const char *ckpt, const char **dir,
                       bool *resume)
{
    (void)cmd, (void)p, (void)resume;
    *dir = ckpt;
    return 0;
}

#endif
