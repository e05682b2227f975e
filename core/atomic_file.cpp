#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "core/error.h"

namespace anneal {

namespace {
void fsync_path(const std::string& p, int flags) {
  int fd = ::open(p.c_str(), flags);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const char* what) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    ANNEAL_CHECK(f.good(), ValueError, what, ": cannot write '", tmp, "'");
    write(f);
    f.flush();
    if (!f.good()) {
      f.close();
      std::remove(tmp.c_str());
      throw ValueError(str(what, ": writing '", tmp, "' failed (disk full?)"));
    }
  }
  fsync_path(tmp, O_RDONLY);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw ValueError(str(what, ": cannot move '", tmp, "' to '", path, "'"));
  }
  const size_t slash = path.find_last_of('/');
  fsync_path(slash == std::string::npos ? "." : path.substr(0, slash + 1), O_RDONLY | O_DIRECTORY);
}

}  // namespace anneal
