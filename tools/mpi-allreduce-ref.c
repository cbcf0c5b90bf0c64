/* Open MPI's own all-reduce timed from C: the reference `zerots bench comm --transport mpi` compares with.
 * Built with mpicc as a shared library (`mpicc -O2 -shared -fPIC -o libzerots-mpiref.so mpi-allreduce-ref.c`) and
 * loaded into the same mpirun job through koffi, so both sides run the same call on the same buffer in one run.
 * With -DMAIN it is also a standalone program: mpirun -np 2 ./mpi-allreduce-ref [bytes]. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median seconds of `reps` in-place MPI_Allreduce(float, sum) of `count` floats, a barrier before each, after 3
 * untimed calls (the same protocol as bench-comm.ts). */
double zerots_ref_allreduce(float *buf, int count, int reps) {
  double t[64];
  if (reps > 64) reps = 64;
  for (int i = 0; i < 3; i++) MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  for (int i = 0; i < reps; i++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    t[i] = MPI_Wtime() - t0;
  }
  qsort(t, reps, sizeof t[0], cmp);
  return t[reps / 2];
}

/* Microseconds per 1-float all-reduce over `iters` back-to-back calls (after iters/10 untimed). */
double zerots_ref_tiny(float *buf, int iters) {
  for (int i = 0; i < iters / 10; i++) MPI_Allreduce(MPI_IN_PLACE, buf, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int i = 0; i < iters; i++) MPI_Allreduce(MPI_IN_PLACE, buf, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  return (MPI_Wtime() - t0) * 1e6 / iters;
}

#ifdef MAIN
int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long bytes = argc > 1 ? atol(argv[1]) : 128L << 20;
  int n = (int)(bytes / 4);
  float *buf = malloc((size_t)n * 4);
  for (int i = 0; i < n; i++) buf[i] = 1;
  double s = zerots_ref_allreduce(buf, n, 5);
  double us = zerots_ref_tiny(buf, 20000);
  if (rank == 0)
    printf("{\"bench\":\"mpi-c\",\"world_size\":%d,\"bytes\":%ld,\"algbw_gbps\":%.3f,\"tiny_latency_us\":%.3f}\n", size,
           bytes, n * 4.0 / s / 1e9, us);
  free(buf);
  MPI_Finalize();
  return 0;
}
#endif
