#pragma once
// The readers take paths: each input is written to one file per process, then read back.
// An anneal::Error is a correct answer to a bad file; anything else (a crash, a sanitizer
// report, a foreign exception) is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"

namespace anneal::fuzz {

inline const std::string& scratch_path() {
  static const std::string p = "/tmp/anneal_fuzz_" + std::to_string(::getpid()) + ".bin";
  return p;
}

inline const std::string& write_input(const uint8_t* data, size_t size) {
  const std::string& p = scratch_path();
  FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return p;
}

template <typename F>
void expect_anneal_error_or_success(F&& f) {
  try {
    f();
  } catch (const anneal::Error&) {
  }
}

}  // namespace anneal::fuzz
