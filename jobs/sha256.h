#pragma once
// SHA-256 (FIPS 180-4), for the pipeline cache's keys: of text, and of files and folders by
// content (a folder: every file's relative path and content, in sorted order).
#include <cstdint>
#include <string>
#include <vector>

namespace anneal::jobs {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::string hex();  // finishes; the hash as 64 hex digits

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t bytes_ = 0;
};

std::string sha256_hex(const std::string& text);
// A file's or a folder's content hash (ValueError naming the path when it cannot be read).
// Folders named in `skip` (absolute paths), and dot-folders and __pycache__, are left out.
std::string content_hash(const std::string& path, const std::vector<std::string>& skip = {});

}  // namespace anneal::jobs
