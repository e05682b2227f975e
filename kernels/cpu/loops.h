#pragma once
// Strided iteration over K same-shape operands (broadcast inputs have stride 0).
// Dims of size 1 are dropped and adjacent dims that are contiguous for every operand are
// merged, so a contiguous tensor becomes one flat loop the compiler vectorises; the work
// is split into fixed-size chunks of the flat index for the thread pool.
#include <array>
#include <cstdint>

#include "core/error.h"
#include "core/tensor_impl.h"
#include "kernels/strided_layout.h"
#include "runtime/thread_pool.h"

namespace anneal::cpu {

using anneal::kMaxDims;
using anneal::make_layout;
using anneal::StridedLayout;

// inner(char* ptrs[K], const int64_t strides[K], int64_t n): process n elements of the
// innermost dim starting at ptrs, stepping by strides (bytes).
template <int K, typename Inner>
void for_each_strided(const std::array<const Tensor*, K>& ts, const Inner& inner,
                      int64_t grain = kElementwiseGrain) {
  // The common case first: every operand contiguous (or a one-element broadcast).
  {
    const int64_t n = ts[0]->numel();
    bool flat = true;
    int64_t strides[K];
    char* base[K];
    for (int k = 0; k < K && flat; ++k) {
      const TensorImpl* t = ts[k]->impl();
      base[k] = static_cast<char*>(t->data());
      if (t->is_contiguous() && t->numel() == n) strides[k] = int64_t(element_size(t->dtype()));
      else if (t->numel() == 1) strides[k] = 0;
      else flat = false;
    }
    if (flat) {
      parallel_for(n, grain, [&](int64_t b, int64_t e) {
        char* p[K];
        for (int k = 0; k < K; ++k) p[k] = base[k] + b * strides[k];
        inner(p, strides, e - b);
      });
      return;
    }
  }
  StridedLayout<K> L = make_layout<K>(ts);
  if (L.numel == 0) return;
  if (L.ndim == 0) {
    int64_t zero[K] = {};
    char* p[K];
    for (int k = 0; k < K; ++k) p[k] = L.base[k];
    inner(p, zero, int64_t(1));
    return;
  }
  const int last = L.ndim - 1;
  int64_t inner_strides[K];
  for (int k = 0; k < K; ++k) inner_strides[k] = L.strides[k][last];
  parallel_for(L.numel, grain, [&](int64_t begin, int64_t end) {
    int64_t idx[kMaxDims];
    int64_t rem = begin;
    for (int d = last; d >= 0; --d) {
      idx[d] = rem % L.sizes[d];
      rem /= L.sizes[d];
    }
    int64_t pos = begin;
    while (pos < end) {
      char* p[K];
      for (int k = 0; k < K; ++k) {
        p[k] = L.base[k];
        for (int d = 0; d <= last; ++d) p[k] += idx[d] * L.strides[k][d];
      }
      int64_t n = std::min(L.sizes[last] - idx[last], end - pos);
      inner(p, inner_strides, n);
      pos += n;
      idx[last] += n;
      for (int d = last; d > 0 && idx[d] >= L.sizes[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  });
}

}  // namespace anneal::cpu
