// Does the size of a small write change what fdatasync costs on this disk? Overwrites of
// 4, 16, 20 and 64 KiB at offsets inside a pre-written 16 MiB file, each followed by
// fdatasync, the sizes taking turns, 400 rounds. The figure behind row d's reading in
// BENCHMARKS.md (a one-put commit writes 12-20 KiB, the raw baseline 4 KiB). Not part of the
// addon or the tests:
//   cc -O2 -o /tmp/sync-size bench/sync-size.c && /tmp/sync-size [file (default /tmp/ved-sync-size.bin)]
// Units: microseconds per write + fdatasync, p50 and p90.
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 400

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  const char* file = argc > 1 ? argv[1] : "/tmp/ved-sync-size.bin";
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  char* buf = calloc(1, 1 << 20);
  if (fd < 0 || buf == NULL) return perror("open"), 1;
  for (int i = 0; i < 16; i++)
    if (write(fd, buf, 1 << 20) != 1 << 20) return perror("write"), 1;
  fsync(fd);
  const int sizes[] = {4096, 16384, 20480, 65536};
  static double latency_us[4][ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    for (int s = 0; s < 4; s++) {
      double started = now_us();
      if (pwrite(fd, buf, sizes[s], (off_t)((r * 4 + s) % 200) * 65536) != sizes[s]) return perror("pwrite"), 1;
      if (fdatasync(fd) != 0) return perror("fdatasync"), 1;
      latency_us[s][r] = now_us() - started;
    }
  }
  for (int s = 0; s < 4; s++) {
    qsort(latency_us[s], ROUNDS, sizeof(double), by_value);
    printf("%6d bytes: p50 %.0f us, p90 %.0f us\n", sizes[s], latency_us[s][ROUNDS / 2], latency_us[s][ROUNDS * 9 / 10]);
  }
  close(fd);
  unlink(file);
  return 0;
}
