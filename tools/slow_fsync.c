/*
 * A slower disk for benchmarks: preloaded into a process, every fdatasync and fsync waits
 * SLOW_FSYNC_US microseconds more after the real one returns. This VM's disk syncs in about
 * 0.4 ms; a cloud block device often takes a few milliseconds, which is where the order of
 * fsyncs on the replication path shows (docs/benchmarks.md, twelfth round). Only the `std`
 * WAL backend goes through these calls (`uring` submits its syncs to the kernel directly).
 *
 *   gcc -O2 -shared -fPIC -o /tmp/slow_fsync.so tools/slow_fsync.c -ldl
 *   SLOW_FSYNC_US=3000 LD_PRELOAD=/tmp/slow_fsync.so make cluster
 *
 * Never used by tests: they run on the real disk.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

/* Calls the C library's `name` (looked up once into `*real`), then waits SLOW_FSYNC_US. */
static int sync_then_pause(int (**real)(int), const char *name, int fd) {
    if (!*real) {
        *real = (int (*)(int))dlsym(RTLD_NEXT, name);
    }
    int r = (*real)(fd);
    const char *v = getenv("SLOW_FSYNC_US");
    long us = v ? atol(v) : 0;
    if (us > 0) {
        struct timespec t = {us / 1000000, (us % 1000000) * 1000};
        nanosleep(&t, NULL);
    }
    return r;
}

int fdatasync(int fd) {
    static int (*real)(int);
    return sync_then_pause(&real, "fdatasync", fd);
}

int fsync(int fd) {
    static int (*real)(int);
    return sync_then_pause(&real, "fsync", fd);
}
