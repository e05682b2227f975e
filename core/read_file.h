#pragma once
// Reading a whole file with every failure as an anneal error naming the file and the
// system's reason: a directory, a missing file, an I/O error, or a file larger than the
// caller accepts. (std::ifstream throws std::ios_base::failure from inside libstdc++ when
// asked to read a directory; the readers use this instead.)
#include <cstdint>
#include <string>

namespace anneal {

// ValueError "<what>: cannot read '<path>': <reason>".
std::string read_whole_file(const std::string& path, const char* what, uint64_t max_bytes = UINT64_MAX);

// A file opened for reading at offsets, with the same errors: the safetensors reader
// checks a header against size() and then reads each tensor straight into its memory.
class ReadOnlyFile {
 public:
  ReadOnlyFile(const std::string& path, const char* what);
  ~ReadOnlyFile();
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;
  uint64_t size() const { return size_; }
  // Exactly n bytes at `offset` (ValueError when the file ends first or a read fails).
  void read_at(uint64_t offset, void* dst, uint64_t n) const;

 private:
  std::string path_;
  const char* what_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The size of a regular file (ValueError as above when it is not one or cannot be read).
uint64_t regular_file_size(const std::string& path, const char* what);

}  // namespace anneal
