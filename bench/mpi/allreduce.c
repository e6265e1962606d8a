// allreduce.c: the cost of MPI_Allreduce (MPI_SUM, in place) on this machine, for the
// message sizes of the data-parallel step: the synchronised batchnorm sums (2H doubles) and
// the fused gradient buffer (the parameters but bngain/bnbias, + 3 floats), at the lecture's
// size (H = 200: 12 300 floats) and at 4096x1024 (H = 1024: 59 000 floats), and a few more.
// Build and run: make MPI=1 bench-allreduce (mpirun -np 2 by default; NP=P to change).
// Rank 0 prints one CSV line per size: ranks,floats,bytes,us_per_allreduce (the median of
// 7 repetitions of a timed loop).
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int sizes[] = {1, 400, 800, 4096, 12300, 59000, 262144, 1048576};
    float *buf = malloc(sizeof(float) * 1048576);
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 1);
    if (rank == 0) printf("ranks,floats,bytes,us_per_allreduce\n");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s], iters = n < 10000 ? 2000 : n < 100000 ? 400 : 40;
        for (int i = 0; i < n; i++) buf[i] = 1e-3f * (float)(i % 1000);
        double t[7];
        for (int rep = 0; rep < 7; rep++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (int it = 0; it < iters; it++)
                MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            t[rep] = (MPI_Wtime() - t0) / iters;
            for (int i = 0; i < n; i++) buf[i] *= 1.0f / (float)size;  // keep values bounded
        }
        qsort(t, 7, sizeof t[0], cmp_double);
        double worst;
        MPI_Reduce(&t[3], &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) printf("%d,%d,%zu,%.2f\n", size, n, (size_t)n * sizeof(float), 1e6 * worst);
        fflush(stdout);
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
