// dist.h: the MPI seam of data-parallel training. Built with MPI (make MPI=1, -DMAKEMORE_MPI)
// and started by mpirun, the process is one of P ranks; otherwise (plain build, or the MPI
// build started without mpirun) everything here is a single-rank no-op: P = 1, rank 0,
// allreduce leaves the buffer as it is.
//
// Exits: once dist_init has run, a rank that exits with status 0, 130 or 143 (done, or
// stopped by a signal the ranks agreed on) finalises MPI; any other status (a failure seen
// by this rank alone, a usage error) aborts the whole job with MPI_Abort, so no other rank
// waits forever for it. A rank killed outright is mpirun's to notice: it stops the others
// and exits non-zero. The flags are read before dist_init: a bad flag is every rank's, so
// each exits 2 without MPI (no MPI_Abort and its banner), rank 0 alone saying why; mpirun
// still adds its own notice of a non-zero exit, which `mpirun -q` leaves out.
#ifndef MAKEMORE_DIST_H
#define MAKEMORE_DIST_H

#include <stddef.h>

// Starts MPI when this process was launched by mpirun (else P = 1). Ranks other than 0 send
// their stdout and stderr to /dev/null: every rank runs the same checks on the same inputs,
// so rank 0 prints for all (a rank that fails alone still says so, from its exit handler).
// Idempotent.
void dist_init(void);
int dist_rank(void);
int dist_size(void);
// Ranks on this machine (OMPI_COMM_WORLD_LOCAL_SIZE), for the default thread count.
int dist_local_size(void);
// 1 when this process was started by mpirun (whatever the build).
int dist_launched(void);
// This process's rank as mpirun's environment gives it, before dist_init (0 when not
// launched): for what every rank finds alike, said by rank 0 alone.
int dist_launch_rank(void);
// 1 when built with MPI.
int dist_built(void);
// "built without MPI", "Open MPI v4.1.4; 1 process (not under mpirun)", "Open MPI v4.1.4;
// 2 ranks"
void dist_describe(char *buf, size_t len);

// In place: buf = the sum of every rank's buf (MPI_Allreduce, MPI_SUM). Every rank gets the
// same result. A failed call names itself on stderr and aborts the job.
void dist_allreduce_sum(float *buf, int n);
void dist_allreduce_sum_double(double *buf, int n);
// 1 when buf holds the same bits on every rank.
int dist_same_everywhere(const float *buf, size_t n);

#endif
