// Batched matrix products through cuBLAS, and products with a bias epilogue through
// cuBLASLt (one kernel instead of a product and a broadcast add). anneal's tensors are row-major, cuBLAS's
// column-major, so C[M,N] = A·B is computed as Cᵀ = Bᵀ·Aᵀ: the row-major operands read as
// column-major are already the transposes, and a transposed view (unit stride along the
// other dim) becomes CUBLAS_OP_T with no copy. Broadcast batches have stride 0.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <cstdlib>

#include <map>
#include <mutex>
#include <utility>

#include "kernels/cuda/cuda_common.cuh"
#include "runtime/env.h"
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

// One handle per device, created on first use (handles are not tied to a thread); each
// Create lambda type gets its own table.
template <typename Handle, typename Create>
Handle per_device_handle(const char* what, Create create) {
  static std::mutex mu;
  static std::map<int, Handle> handles;  // leaked: destroyed with the process
  int device = 0;
  ANNEAL_CUDA_CHECK(cudaGetDevice(&device), what);
  std::lock_guard<std::mutex> l(mu);
  auto it = handles.find(device);
  if (it != handles.end()) return it->second;
  Handle h{};
  ANNEAL_CUBLAS_CHECK(create(&h), what);
  handles[device] = h;
  return h;
}

cublasHandle_t handle() {
  return per_device_handle<cublasHandle_t>("cuBLAS", [](cublasHandle_t* h) { return cublasCreate(h); });
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

void CudaBackend::bmm(const Tensor& a, const Tensor& b, const Tensor& out) {
  DeviceGuard device_guard(device_);
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

namespace {

cublasLtHandle_t lt_handle() {
  return per_device_handle<cublasLtHandle_t>("cuBLASLt", [](cublasLtHandle_t* h) { return cublasLtCreate(h); });
}

bool lt_enabled() {
  static const bool on = env_switch("ANNEAL_CUBLASLT", true);
  return on;
}

// The largest power of two (up to 256) dividing the address: the heuristics must only
// offer algorithms whose alignment needs the operands meet.
uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && a % al != 0) al /= 2;
  return al;
}

// The cuBLASLt objects of one call, destroyed with it.
struct LtCall {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtCall() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

constexpr size_t kLtWorkspace = size_t(32) << 20;  // what cuBLASLt suggests for Hopper

}  // namespace

bool CudaBackend::gemm_bias(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  DeviceGuard device_guard(device_);
  const DType dt = a.dtype();
  if (!lt_enabled() || (dt != DType::Float32 && dt != DType::Float16 && dt != DType::BFloat16)) return false;
  if (b.dtype() != dt || bias.dtype() != dt || out.dtype() != dt || !bias.is_contiguous() || !out.is_contiguous())
    return false;
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  if (M == 0 || N == 0 || K == 0 || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) return false;
  if (alignment_of(bias.impl()->data()) < 16) return false;
  // column-major: outᵀ [N, M] = bᵀ [N, K] · aᵀ [K, M] + bias (one value per row of outᵀ)
  const Operand ob = as_column_major(K, N, b.stride(0), b.stride(1));
  const Operand oa = as_column_major(M, K, a.stride(0), a.stride(1));
  const cudaDataType_t t = dt == DType::Float32 ? CUDA_R_32F : dt == DType::Float16 ? CUDA_R_16F : CUDA_R_16BF;
  const cublasComputeType_t compute =
      dt == DType::Float32 && cuda_allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const std::string what = str("linear (cuBLASLt) [", M, ", ", K, "] x [", K, ", ", N, "] ", dtype_name(dt));
  LtCall call;
  ANNEAL_CUBLAS_CHECK(cublasLtMatmulDescCreate(&call.desc, compute, CUDA_R_32F), what);
  const cublasOperation_t op_a = ob.op, op_b = oa.op;
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  const void* bias_ptr = bias.impl()->data();
  ANNEAL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a), what);
  ANNEAL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b), what);
  ANNEAL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue),
                      what);
  ANNEAL_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof bias_ptr), what);
  // stored shapes (before the op): bᵀ is N×K (op N) or K×N (op T); aᵀ is K×M or M×K
  ANNEAL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&call.a, t, op_a == CUBLAS_OP_N ? N : K, op_a == CUBLAS_OP_N ? K : N,
                                                 ob.ld),
                      what);
  ANNEAL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&call.b, t, op_b == CUBLAS_OP_N ? K : M, op_b == CUBLAS_OP_N ? M : K,
                                                 oa.ld),
                      what);
  ANNEAL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&call.c, t, N, M, N), what);
  ANNEAL_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&call.pref), what);
  const uint64_t ws_bytes = kLtWorkspace;
  ANNEAL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(call.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                           &ws_bytes, sizeof ws_bytes),
                      what);
  const std::pair<cublasLtMatmulPreferenceAttributes_t, const void*> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, b.impl()->data()},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, a.impl()->data()},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, out.impl()->data()},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, out.impl()->data()}};
  for (const auto& [attribute, data] : alignments) {
    const uint32_t bytes = alignment_of(data);
    ANNEAL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(call.pref, attribute, &bytes, sizeof bytes), what);
  }
  cublasLtHandle_t h = lt_handle();
  cublasLtMatmulHeuristicResult_t result = {};
  int found = 0;
  ANNEAL_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(h, call.desc, call.a, call.b, call.c, call.c, call.pref, 1, &result,
                                                     &found),
                      what);
  if (found == 0) return false;  // no algorithm with this epilogue: product + add instead
  Tensor workspace = make_empty({int64_t(result.workspaceSize > 0 ? result.workspaceSize : 1)}, DType::UInt8,
                                allocator_for(out.device()));
  const float one = 1.f, zero = 0.f;
  ANNEAL_CUBLAS_CHECK(cublasLtMatmul(h, call.desc, &one, b.impl()->data(), call.a, a.impl()->data(), call.b, &zero,
                                     out.impl()->data(), call.c, out.impl()->data(), call.c, &result.algo,
                                     workspace.impl()->data(), result.workspaceSize, current_stream()),
                      what);
  return true;
}

}  // namespace anneal::cuda
