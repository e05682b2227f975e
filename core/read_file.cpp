#include "core/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace anneal {

namespace {
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
[[noreturn]] void cannot(const char* what, const std::string& path, const std::string& why) {
  throw ValueError(str(what, ": cannot read '", path, "': ", why));
}
}  // namespace

uint64_t regular_file_size(const std::string& path, const char* what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) cannot(what, path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) cannot(what, path, "it is a directory");
  return S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
}

std::string read_whole_file(const std::string& path, const char* what, uint64_t max_bytes) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) cannot(what, path, std::strerror(errno));
  struct stat st;
  if (::fstat(f.fd, &st) != 0) cannot(what, path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) cannot(what, path, "it is a directory");
  // A regular file's size is known up front; pipes and devices are read until they end.
  const uint64_t expected = S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
  if (expected > max_bytes)
    cannot(what, path, str("it has ", expected, " bytes, more than the ", max_bytes, " accepted"));
  std::string out;
  out.reserve(size_t(expected));
  char chunk[1 << 16];
  while (true) {
    const ssize_t n = ::read(f.fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) cannot(what, path, std::strerror(errno));
    if (n == 0) break;
    if (out.size() + size_t(n) > max_bytes) cannot(what, path, str("it has more than the ", max_bytes, " bytes accepted"));
    out.append(chunk, size_t(n));
  }
  return out;
}

ReadOnlyFile::ReadOnlyFile(const std::string& path, const char* what) : path_(path), what_(what) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) cannot(what, path, std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string why = S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file";
    ::close(fd_);
    cannot(what, path, why);
  }
  size_ = uint64_t(st.st_size);
}

ReadOnlyFile::~ReadOnlyFile() {
  if (fd_ >= 0) ::close(fd_);
}

void ReadOnlyFile::read_at(uint64_t offset, void* dst, uint64_t n) const {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd_, p, size_t(std::min<uint64_t>(n, uint64_t(1) << 30)), off_t(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) cannot(what_, path_, std::strerror(errno));
    if (r == 0) cannot(what_, path_, str("the file ended at byte ", offset, " (it changed while being read?)"));
    p += r, offset += uint64_t(r), n -= uint64_t(r);
  }
}

}  // namespace anneal
