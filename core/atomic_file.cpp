#include "core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <streambuf>
#include <vector>

#include "core/error.h"

namespace anneal {

namespace {

// An output stream buffer over a file descriptor that remembers the first failed write
// (with its errno), so a full disk is reported instead of lost inside an ofstream.
class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd), buf_(size_t(1) << 20) { setp(buf_.data(), buf_.data() + buf_.size()); }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n >= std::streamsize(buf_.size())) {  // large blocks (tensor data) go straight to the file
      if (!drain() || !write_all(s, size_t(n))) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    const size_t n = size_t(pptr() - pbase());
    const bool ok = write_all(pbase(), n);
    setp(buf_.data(), buf_.data() + buf_.size());
    return ok;
  }
  bool write_all(const char* p, size_t n) {
    if (error_) return false;
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        error_ = w < 0 ? errno : EIO;
        return false;
      }
      p += w, n -= size_t(w);
    }
    return true;
  }
  int fd_;
  std::vector<char> buf_;
  int error_ = 0;
};

std::string reason(int err) { return std::strerror(err); }

// path + ".tmp.<pid>.<n>": unique per process and call, so concurrent writers (two
// threads, two processes sharing a run folder) never write into each other's file.
std::string temporary_name(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
}

void fail(const char* what, const std::string& step, const std::string& file, int err) {
  throw ValueError(str(what, ": ", step, " '", file, "' failed: ", reason(err)));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const char* what) {
  const std::string tmp = temporary_name(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail(what, "creating", tmp, errno);
  bool fd_open = true;
  auto abandon = [&] {
    if (fd_open) ::close(fd);
    fd_open = false;
    ::unlink(tmp.c_str());
  };
  try {
    FdStreamBuf buf(fd);
    {
      std::ostream os(&buf);
      write(os);
      os.flush();
      if (buf.error()) fail(what, "writing", tmp, buf.error());
      if (!os.good()) fail(what, "writing", tmp, EIO);
    }
    if (::fsync(fd) != 0) fail(what, "fsync of", tmp, errno);
    fd_open = false;
    if (::close(fd) != 0) fail(what, "closing", tmp, errno);
  } catch (...) {
    abandon();
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(what, str("renaming '", tmp, "' to").c_str(), path, err);
  }
  // The rename is durable only once the directory is on disk too. (Some file systems
  // cannot fsync a directory: EINVAL there is not a failure.)
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail(what, "opening the directory", dir, errno);
  const int rc = ::fsync(dfd), err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL) fail(what, "fsync of the directory", dir, err);
}

}  // namespace anneal
