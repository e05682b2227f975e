#pragma once
// safetensors files (the format of Hugging Face tooling and PyTorch's ecosystem): an
// 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
// byte range, then the raw little-endian data.
#include <map>
#include <string>

#include "nn/module.h"

namespace anneal::nn {

// Writes atomically (temporary file, fsync, rename). Tensors are written contiguous, on
// the CPU; metadata goes into "__metadata__".
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Reads every tensor (in the file's order). A truncated or malformed file is a
// ValueError naming the file and what was wrong.
StateDict load_safetensors(const std::string& path);

}  // namespace anneal::nn
