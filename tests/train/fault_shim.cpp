// LD_PRELOAD shim that makes chosen system calls fail, for the checkpoint fault tests.
// ANNEAL_FAULT="<call>:<n>" fails the n-th call (counted from 1) of write, fsync, rename or
// close on a file whose name contains ".tmp." (anneal's temporary checkpoint files) and
// every later one, with EIO (ENOSPC for write). Other files are untouched.
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern "C" {

static int is_temporary_fd(int fd) {
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = 0;
  return strstr(target, ".tmp.") != NULL;
}

// Whether this call of `name` is one to fail.
static int should_fail(const char* name) {
  static int counts[4];
  static const char* const names[4] = {"write", "fsync", "rename", "close"};
  const char* spec = getenv("ANNEAL_FAULT");
  if (!spec) return 0;
  size_t len = strlen(name);
  if (strncmp(spec, name, len) != 0 || spec[len] != ':') return 0;
  for (int i = 0; i < 4; ++i)
    if (strcmp(names[i], name) == 0) return ++counts[i] >= atoi(spec + len + 1);
  return 0;
}

ssize_t write(int fd, const void* buf, size_t n) {
  static ssize_t (*real)(int, const void*, size_t);
  if (!real) real = (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  if (fd > 2 && is_temporary_fd(fd) && should_fail("write")) {
    errno = ENOSPC;
    return -1;
  }
  return real(fd, buf, n);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  if (is_temporary_fd(fd) && should_fail("fsync")) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}

int close(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "close");
  if (fd > 2 && is_temporary_fd(fd) && should_fail("close")) {
    real(fd);
    errno = EIO;
    return -1;
  }
  return real(fd);
}

int rename(const char* from, const char* to) {
  static int (*real)(const char*, const char*);
  if (!real) real = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
  if (strstr(from, ".tmp.") && should_fail("rename")) {
    errno = EIO;
    return -1;
  }
  return real(from, to);
}

}  // extern "C"
