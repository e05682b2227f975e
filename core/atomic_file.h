#pragma once
// Writing a file so that readers see the old file or the whole new one, never a part:
// write a temporary file beside it, flush and fsync it, rename it over the target, and
// fsync the directory so the rename survives a crash.
#include <functional>
#include <ostream>
#include <string>

namespace anneal {

// `write` fills the stream; `what` names the caller in errors ("save_checkpoint").
// A failure (disk full, no permission) is a ValueError and leaves `path` as it was.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const char* what);

}  // namespace anneal
