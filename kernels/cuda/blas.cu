// Batched matrix products through cuBLAS. anneal's tensors are row-major, cuBLAS's
// column-major, so C[M,N] = A·B is computed as Cᵀ = Bᵀ·Aᵀ: the row-major operands read as
// column-major are already the transposes, and a transposed view (unit stride along the
// other dim) becomes CUBLAS_OP_T with no copy. Broadcast batches have stride 0.
#include <cublas_v2.h>

#include <map>
#include <mutex>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

const char* cublas_status(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "error";
  }
}

#define ANNEAL_CUBLAS_CHECK(call, what)                                                                  \
  do {                                                                                                   \
    cublasStatus_t s__ = (call);                                                                         \
    if (s__ != CUBLAS_STATUS_SUCCESS)                                                                    \
      throw ::anneal::Error(::anneal::str(what, ": ", #call, " failed: ", cublas_status(s__), " (", int(s__), ")")); \
  } while (0)

// One handle per device, created on first use (handles are not tied to a thread).
cublasHandle_t handle() {
  static std::mutex mu;
  static std::map<int, cublasHandle_t> handles;
  int device = 0;
  ANNEAL_CUDA_CHECK(cudaGetDevice(&device), "cuBLAS");
  std::lock_guard<std::mutex> l(mu);
  auto it = handles.find(device);
  if (it != handles.end()) return it->second;
  cublasHandle_t h;
  ANNEAL_CUBLAS_CHECK(cublasCreate(&h), "cuBLAS");
  handles[device] = h;
  return h;
}

// How a row-major [rows, cols] operand with strides (rs, cs) reads in column-major terms.
struct Operand {
  cublasOperation_t op;
  int64_t ld;
};
Operand as_column_major(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (cs == 1 && (rows == 1 || rs >= cols)) return {CUBLAS_OP_N, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
  if (rs == 1 && (cols == 1 || cs >= rows)) return {CUBLAS_OP_T, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
  throw NotImplementedError(str("CUDA bmm: operand of strides (", rs, ", ", cs, ") has no unit stride"));
}

}  // namespace

void bmm(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  if (B == 0 || M == 0 || N == 0) return;
  if (K == 0) {
    fill(out, Scalar(0));
    return;
  }
  // column-major: out^T [N, M] = b^T [N, K] · a^T [K, M]
  const Operand ob = as_column_major(K, N, b.stride(1), b.stride(2));
  const Operand oa = as_column_major(M, K, a.stride(1), a.stride(2));
  const long long sa = a.stride(0), sb = b.stride(0), sc = M * N;
  cublasHandle_t h = handle();
  ANNEAL_CUBLAS_CHECK(cublasSetStream(h, current_stream()), "CUDA bmm");
  const char* what = "CUDA bmm";
  switch (a.dtype()) {
    case DType::Float64: {
      const double one = 1.0, zero = 0.0;
      ANNEAL_CUBLAS_CHECK(cublasDgemmStridedBatched(h, ob.op, oa.op, int(N), int(M), int(K), &one, ptr<double>(b),
                                                    int(ob.ld), sb, ptr<double>(a), int(oa.ld), sa, &zero,
                                                    ptr<double>(out), int(N), sc, int(B)),
                          what);
      break;
    }
    case DType::Float32:
    case DType::Float16:
    case DType::BFloat16: {  // float32 accumulation; TF32 inputs for float32 only when allowed
      const float one = 1.f, zero = 0.f;
      const cudaDataType_t t = a.dtype() == DType::Float32   ? CUDA_R_32F
                               : a.dtype() == DType::Float16 ? CUDA_R_16F
                                                             : CUDA_R_16BF;
      const cublasComputeType_t compute =
          a.dtype() == DType::Float32 && cuda_allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      ANNEAL_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, ob.op, oa.op, int(N), int(M), int(K), &one, b.impl()->data(), t,
                                                     int(ob.ld), sb, a.impl()->data(), t, int(oa.ld), sa, &zero,
                                                     out.impl()->data(), t, int(N), sc, int(B), compute,
                                                     CUBLAS_GEMM_DEFAULT),
                          what);
      break;
    }
    default: throw TypeError(str("CUDA bmm: unsupported dtype ", dtype_name(a.dtype())));
  }
}

}  // namespace anneal::cuda
