#pragma once
// IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed.
#include <string>

#include "core/tensor.h"

namespace anneal::data {

// The array in an IDX file as a tensor: uint8 data stays uint8, int8/int16/int32 become
// int32, float32/float64 keep their type. A missing, malformed or truncated file is a
// ValueError naming the file, what was expected and what was found.
Tensor read_idx(const std::string& path);

}  // namespace anneal::data
