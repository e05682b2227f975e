#pragma once
// Writing a file so that readers see the old file or the whole new one, never a part:
// write a temporary file beside it (a unique name per writer, so two writers never share
// one), fsync it, rename it over the target, and fsync the directory so the rename
// survives a crash. Every system call's result is checked: a save that reports success
// is on disk.
#include <functional>
#include <ostream>
#include <string>

namespace anneal {

// `write` fills the stream; `what` names the caller in errors ("save_checkpoint").
// A failure (disk full, no permission, an I/O error at fsync, a failed rename) is a
// ValueError naming the path, the step and the system's reason, and leaves `path` as it
// was; the temporary file is removed.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                           const char* what);

}  // namespace anneal
