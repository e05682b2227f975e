// Reductions over the middle dim of a contiguous [outer, r, inner] tensor.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/reduce_combine.h"
#include "runtime/thread_pool.h"

namespace anneal::cpu {
namespace {

template <typename T> struct Acc { using type = double; };
template <> struct Acc<int32_t> { using type = int64_t; };
template <> struct Acc<int64_t> { using type = int64_t; };
template <> struct Acc<uint8_t> { using type = int64_t; };
template <> struct Acc<bool> { using type = int64_t; };

template <typename A>
inline bool is_nan(A v) {
  return reduce_is_nan(v);
}

// Combines an accumulator with a value (kernels/reduce_combine.h, shared with CUDA).
template <typename A>
struct Combine {
  ReduceOp op;
  A identity() const { return reduce_identity<A>(op); }
  A operator()(A acc, A v) const { return reduce_combine(op, acc, v); }
};

constexpr int64_t kReduceChunk = 16384;

template <typename T>
void reduce_values(ReduceOp op, const Tensor& in, const Tensor& out) {
  using A = typename Acc<T>::type;
  const int64_t outer = in.size(0), r = in.size(1), inner = in.size(2);
  const T* x = in.data_ptr<T>();
  Combine<A> comb{op};
  auto store = [&](int64_t idx, A v) {
    if (out.dtype() == DType::Bool) out.data_ptr<bool>()[idx] = v != A(0);
    else out.data_ptr<T>()[idx] = T(compute_t<T>(v));
  };
  if (inner == 1 && outer < 4 && r > 2 * kReduceChunk) {
    // Few long rows: per-chunk partials combined in chunk order (thread-count independent).
    const int64_t nchunks = (r + kReduceChunk - 1) / kReduceChunk;
    for (int64_t o = 0; o < outer; ++o) {
      std::vector<A> partial(size_t(nchunks), comb.identity());
      const T* row = x + o * r;
      parallel_for(nchunks, 1, [&](int64_t cb, int64_t ce) {
        for (int64_t c = cb; c < ce; ++c) {
          A acc = comb.identity();
          int64_t e = std::min(r, (c + 1) * kReduceChunk);
          for (int64_t j = c * kReduceChunk; j < e; ++j) acc = comb(acc, A(compute_t<T>(row[j])));
          partial[size_t(c)] = acc;
        }
      });
      A acc = comb.identity();
      for (A p : partial) acc = comb(acc, p);
      store(o, acc);
    }
    return;
  }
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kReduceChunk / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * r;
        A acc = comb.identity();
        if (op == ReduceOp::Sum) {
          A s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // independent chains let the loop pipeline
          int64_t j = 0;
          for (; j + 4 <= r; j += 4) {
            s0 += A(compute_t<T>(row[j]));
            s1 += A(compute_t<T>(row[j + 1]));
            s2 += A(compute_t<T>(row[j + 2]));
            s3 += A(compute_t<T>(row[j + 3]));
          }
          for (; j < r; ++j) s0 += A(compute_t<T>(row[j]));
          acc = (s0 + s1) + (s2 + s3);
        } else {
          for (int64_t j = 0; j < r; ++j) acc = comb(acc, A(compute_t<T>(row[j])));
        }
        store(o, acc);
      }
    });
    return;
  }
  // inner > 1: walk r outside, accumulate a row of `inner` accumulators (vectorises).
  parallel_for(outer * inner, kReduceChunk, [&](int64_t b, int64_t e) {
    std::vector<A> acc;
    int64_t pos = b;
    while (pos < e) {
      int64_t o = pos / inner, i0 = pos % inner;
      int64_t i1 = std::min(inner, i0 + (e - pos));
      acc.assign(size_t(i1 - i0), comb.identity());
      for (int64_t j = 0; j < r; ++j) {
        const T* row = x + (o * r + j) * inner;
        if (op == ReduceOp::Sum)
          for (int64_t i = i0; i < i1; ++i) acc[size_t(i - i0)] += A(compute_t<T>(row[i]));
        else
          for (int64_t i = i0; i < i1; ++i) acc[size_t(i - i0)] = comb(acc[size_t(i - i0)], A(compute_t<T>(row[i])));
      }
      for (int64_t i = i0; i < i1; ++i) store(o * inner + i, acc[size_t(i - i0)]);
      pos += i1 - i0;
    }
  });
}

template <typename T>
void reduce_arg(bool is_max, const Tensor& in, const Tensor& out) {
  using C = compute_t<T>;
  const int64_t outer = in.size(0), r = in.size(1), inner = in.size(2);
  const T* x = in.data_ptr<T>();
  int64_t* o_idx = out.data_ptr<int64_t>();
  parallel_for(outer * inner, std::max<int64_t>(1, kReduceChunk / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      int64_t o = p / inner, i = p % inner;
      const T* base = x + o * r * inner + i;
      C best = C(base[0]);
      int64_t best_j = 0;
      for (int64_t j = 1; j < r && !is_nan(best); ++j) {
        C v = C(base[j * inner]);
        if (is_nan(v) || (is_max ? v > best : v < best)) {
          best = v;
          best_j = j;
        }
      }
      o_idx[p] = best_j;
    }
  });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& in, const Tensor& out) {
  if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) {
    ANNEAL_DISPATCH_ALL(in.dtype(), "argmax/argmin", [&] { reduce_arg<scalar_t>(op == ReduceOp::ArgMax, in, out); });
    return;
  }
  ANNEAL_DISPATCH_ALL(in.dtype(), "reduce", [&] { reduce_values<scalar_t>(op, in, out); });
}

}  // namespace anneal::cpu
