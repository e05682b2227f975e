#pragma once
// K same-shape operands (broadcast inputs have stride 0) described for one strided loop:
// dims of size 1 are dropped and adjacent dims that are contiguous for every operand are
// merged, so a contiguous tensor becomes one flat dim. Shared by the CPU loops and the
// CUDA elementwise kernels (a plain struct: it is passed to kernels by value).
#include <array>
#include <cstdint>

#include "core/error.h"
#include "core/tensor_impl.h"

namespace anneal {

constexpr int kMaxDims = 25;

template <int K>
struct StridedLayout {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[K][kMaxDims];  // bytes
  char* base[K];
  int64_t numel = 1;
};

template <int K>
StridedLayout<K> make_layout(const std::array<const Tensor*, K>& ts) {
  StridedLayout<K> L;
  const Shape& shape = ts[0]->sizes();
  ANNEAL_CHECK(shape.size() <= size_t(kMaxDims), ValueError, "tensors with more than ", kMaxDims,
               " dims are not supported");
  for (int k = 0; k < K; ++k) L.base[k] = static_cast<char*>(ts[k]->impl()->data());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    int i = L.ndim++;
    L.sizes[i] = shape[d];
    for (int k = 0; k < K; ++k) L.strides[k][i] = ts[k]->strides()[d] * int64_t(ts[k]->element_size());
  }
  for (int64_t s : shape) L.numel *= s;
  // merge dim i-1 into i when every operand steps through both as one
  int out = 0;
  for (int i = 0; i < L.ndim; ++i) {
    if (out > 0) {
      bool mergeable = true;
      for (int k = 0; k < K; ++k) mergeable &= L.strides[k][out - 1] == L.strides[k][i] * L.sizes[i];
      if (mergeable) {
        L.sizes[out - 1] *= L.sizes[i];
        for (int k = 0; k < K; ++k) L.strides[k][out - 1] = L.strides[k][i];
        continue;
      }
    }
    L.sizes[out] = L.sizes[i];
    for (int k = 0; k < K; ++k) L.strides[k][out] = L.strides[k][i];
    ++out;
  }
  L.ndim = out;
  return L;
}

}  // namespace anneal
