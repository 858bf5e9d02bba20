/* LD_PRELOAD fault injector for the fault tests (reliability T06/T07):
 *  - the Nth call to fsync or fdatasync in the process (VB_FAIL_FSYNC_AT=N, counting both)
 *    fails with EIO, as a failing disk reports it; the number of calls seen is written to
 *    VB_FSYNC_COUNT_FILE at exit, so a sweep knows when it has covered them all;
 *  - or one fsync/fdatasync of a file whose path contains VB_FAIL_FSYNC_PATH: the first after
 *    VB_FAIL_FSYNC_PATH_SKIP such calls (default 0), to hit one kind of file (a recorder's
 *    object files: ".vbo") at one point of its life, whatever else syncs meanwhile;
 *  - a full disk: once write() has put VB_ENOSPC_AFTER_BYTES bytes into regular files, every
 *    further write() to a regular file writes what still fits and then fails with ENOSPC.
 * Every other call goes to the real function. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int calls = 0;

static int path_failed = 0, path_seen = 0;

static int should_fail(int fd) {
  const char* at = getenv("VB_FAIL_FSYNC_AT");
  const char* path = getenv("VB_FAIL_FSYNC_PATH");
  ++calls;
  if (path && !path_failed) {
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
      target[n] = 0;
      const char* skip = getenv("VB_FAIL_FSYNC_PATH_SKIP");
      if (strstr(target, path) && path_seen++ >= (skip ? atoi(skip) : 0)) {
        path_failed = 1;
        return 1;
      }
    }
  }
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
  if (should_fail(fd)) {
    errno = EIO;
    return -1;
  }
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return real(fd);
}

int fdatasync(int fd) {
  if (should_fail(fd)) {
    errno = EIO;
    return -1;
  }
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real(fd);
}

static long long written_to_files = 0;

ssize_t write(int fd, const void* buf, size_t count) {
  ssize_t (*real)(int, const void*, size_t) =
      (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  const char* limit_text = getenv("VB_ENOSPC_AFTER_BYTES");
  struct stat st;
  if (!limit_text || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return real(fd, buf, count);
  const long long limit = atoll(limit_text);
  if (written_to_files >= limit) {
    errno = ENOSPC;
    return -1;
  }
  if (written_to_files + (long long)count > limit) count = (size_t)(limit - written_to_files);
  const ssize_t n = real(fd, buf, count);
  if (n > 0) written_to_files += n;
  return n;
}
