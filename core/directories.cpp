#include "core/directories.h"

#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace anneal {

void make_directories(const std::string& dir, const char* what) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw ValueError(str(what, ": cannot create the directory '", dir, "': ", ec.message()));
  ANNEAL_CHECK(std::filesystem::is_directory(dir, ec), ValueError, what, ": cannot create the directory '", dir,
               "': a file of that name is in the way");
}

bool path_exists(const std::string& path, const char* what) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) throw ValueError(str(what, ": cannot examine '", path, "': ", ec.message()));
  return exists;
}

}  // namespace anneal
