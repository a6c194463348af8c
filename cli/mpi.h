/* mpi.h — `fovea train` under mpirun: data-parallel training over MPI (Open MPI from Debian).
 * MPI is set up here, in the command, never in the library: the library only calls the two hooks
 * of fv_collective that this module implements. Built without MPI (cmake -DFOVEA_MPI=OFF), a run
 * under mpirun with more than one process is refused with a message that says so.
 */
#ifndef FOVEA_CLI_MPI_H
#define FOVEA_CLI_MPI_H

#include "fovea.h"

typedef struct cli_mpi {
    int size, rank;     /* 1 and 0 when not run under mpirun */
    fv_collective coll; /* the hooks, for fv_fit_opts.collective when size > 1 */
    char tmpdir[4096];  /* a process > 0's private copy of the checkpoint ("": none) */
    float *buf;         /* the tree sum's receive buffer */
    size_t buf_floats;
} cli_mpi;

/* Starts MPI when the process was started by mpirun (or another MPI launcher); otherwise sets
 * size 1. Processes other than 0 write nothing to standard output from then on. Reports and
 * returns CLI_FAIL when MPI cannot start, when the process count does not divide
 * FV_BATCH_CHUNKS, or when fovea was built without MPI and started as one of several processes. */
int cli_mpi_start(const char *cmd, cli_mpi *p);

/* Ends MPI: MPI_Finalize after success; after a failure MPI_Abort, which ends every process of
 * the job (none is left waiting in a collective). Removes the private checkpoint copy. Returns
 * rc. */
int cli_mpi_finish(cli_mpi *p, int rc);

/* --checkpoint DIR under mpirun: process 0 uses DIR; with --resume it reads DIR's checkpoint and
 * sends it to the others (no shared file system is assumed), which resume from a private copy
 * in a temporary folder and write none of their own to DIR. *dir and *resume receive what this
 * process's fit uses. Reports and returns CLI_FAIL on an error, else 0. */
int cli_mpi_checkpoint(const char *cmd, cli_mpi *p, const char *ckpt, const char **dir,
                       bool *resume);

#endif
