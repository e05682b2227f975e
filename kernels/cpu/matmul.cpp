// Batched matrix product on Eigen. Each operand is mapped in place (row- or
// column-major by its strides), so transposed views cost no copy.
#include <Eigen/Core>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemm_f32.h"
#include "runtime/thread_pool.h"

namespace anneal::cpu {
namespace {

using Eigen::Dynamic;
using Eigen::OuterStride;
template <typename T, int Order>
using MapC = Eigen::Map<const Eigen::Matrix<T, Dynamic, Dynamic, Order>, 0, OuterStride<>>;
template <typename T>
using MapOut = Eigen::Map<Eigen::Matrix<T, Dynamic, Dynamic, Eigen::RowMajor>>;

// A 2-D slice's layout: row-major when its last dim has unit stride.
struct Layout {
  bool row_major;
  int64_t ld;
};
Layout layout_of(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col) {
  if (s_col == 1 && (s_row >= cols || rows <= 1)) return {true, std::max<int64_t>(s_row, cols)};
  return {false, std::max<int64_t>(s_col, rows)};
}

template <typename T>
void gemm_one(const T* a, Layout la, const T* b, Layout lb, T* c, int64_t M, int64_t K, int64_t N) {
  MapOut<T> C(c, M, N);
  if (K == 0) {
    C.setZero();
    return;
  }
  auto run = [&](const auto& A) {
    if (lb.row_major) C.noalias() = A * MapC<T, Eigen::RowMajor>(b, K, N, OuterStride<>(lb.ld));
    else C.noalias() = A * MapC<T, Eigen::ColMajor>(b, K, N, OuterStride<>(lb.ld));
  };
  if (la.row_major) run(MapC<T, Eigen::RowMajor>(a, M, K, OuterStride<>(la.ld)));
  else run(MapC<T, Eigen::ColMajor>(a, M, K, OuterStride<>(la.ld)));
}

template <typename T>
void bmm_typed(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  Layout la = layout_of(M, K, a.stride(1), a.stride(2));
  Layout lb = layout_of(K, N, b.stride(1), b.stride(2));
  const T* pa = static_cast<const T*>(a.data_ptr());
  const T* pb = static_cast<const T*>(b.data_ptr());
  T* pc = static_cast<T*>(out.data_ptr());
  const int64_t sa = a.stride(0), sb = b.stride(0);
  // Many small products: one per thread. Few large ones: Eigen parallelises inside.
  // Many products (a convolution over a batch, attention heads): one per thread, which
  // beats splitting each modest product across threads.
  const bool per_batch = B >= 2 * get_num_threads() && M * N * K < (int64_t(1) << 25);
  if constexpr (std::is_same_v<T, float>) {
    // the packed AVX-512/AVX2 kernel when the CPU has one (parallel inside, or per batch)
    auto one = [&](int64_t i) {
      return sgemm(M, N, K, pa + i * sa, a.stride(1), a.stride(2), pb + i * sb, b.stride(1), b.stride(2),
                   pc + i * M * N, N);
    };
    if (B > 0 && one(0)) {
      if (per_batch) {
        parallel_for(B - 1, 1, [&](int64_t s, int64_t e) {
          for (int64_t i = s; i < e; ++i) one(i + 1);
        });
      } else {
        for (int64_t i = 1; i < B; ++i) one(i);
      }
      return;
    }
  }
  if (per_batch) {
    parallel_for(B, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) gemm_one<T>(pa + i * sa, la, pb + i * sb, lb, pc + i * M * N, M, K, N);
    });
  } else {
    for (int64_t i = 0; i < B; ++i) gemm_one<T>(pa + i * sa, la, pb + i * sb, lb, pc + i * M * N, M, K, N);
  }
}

}  // namespace

void CpuBackend::bmm(const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (a.dtype()) {
    case DType::Float32: return bmm_typed<float>(a, b, out);
    case DType::Float64: return bmm_typed<double>(a, b, out);
    case DType::Int32: return bmm_typed<int32_t>(a, b, out);
    case DType::Int64: return bmm_typed<int64_t>(a, b, out);
    default: break;
  }
  throw TypeError(str("bmm: CPU kernel expects float32, float64, int32 or int64 (16-bit floats are computed in "
                      "float32 by the op), got ", dtype_name(a.dtype())));
}

}  // namespace anneal::cpu
