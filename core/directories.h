#pragma once
// Making a directory (and its parents) with failures as anneal errors that name the
// directory and the system's reason, not a std::filesystem_error escaping to the caller.
#include <string>

namespace anneal {

// ValueError "<what>: cannot create the directory '<dir>': <reason>" (also when a file
// of that name is in the way).
void make_directories(const std::string& dir, const char* what);

// Whether `path` exists; a path that cannot be examined (permission denied on a parent)
// is an error naming it rather than "no".
bool path_exists(const std::string& path, const char* what);

}  // namespace anneal
