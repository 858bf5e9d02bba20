/* LD_PRELOAD fault injector for the fault-sweep tests (reliability T06/T07): the Nth call to
 * fsync or fdatasync in the process (VB_FAIL_FSYNC_AT=N, counting both) fails with EIO, as a
 * failing disk reports it. Every other call goes to the real function. Writes the number of
 * calls seen to VB_FSYNC_COUNT_FILE at exit, so a sweep knows when it has covered them all. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int calls = 0;

static int should_fail(void) {
  const char* at = getenv("VB_FAIL_FSYNC_AT");
  ++calls;
  return at && calls == atoi(at);
}

__attribute__((destructor)) static void report(void) {
  const char* path = getenv("VB_FSYNC_COUNT_FILE");
  if (!path) return;
  FILE* f = fopen(path, "w");
  if (f) {
    fprintf(f, "%d\n", calls);
    fclose(f);
  }
}

int fsync(int fd) {
  if (should_fail()) {
    errno = EIO;
    return -1;
  }
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return real(fd);
}

int fdatasync(int fd) {
  if (should_fail()) {
    errno = EIO;
    return -1;
  }
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real(fd);
}
