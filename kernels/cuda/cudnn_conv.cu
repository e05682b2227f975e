// conv2d forward and both backward passes through cuDNN (legacy convolution API), when
// the build found cuDNN (ANNEAL_WITH_CUDNN). Algorithms come from cuDNN's heuristics
// (no benchmarking runs, so it also works inside a CUDA graph capture), cached per shape,
// geometry, dtype and math mode; deterministic algorithms only, so gradients do not vary
// from run to run; the workspace comes from the caching allocator. Each entry returns
// false when cuDNN cannot take the call (not built, ANNEAL_CUDNN=0, dtype, empty
// tensors), and conv.cu runs its im2col path instead.
#include "kernels/cuda/cudnn_conv.h"
#include "runtime/env.h"

#ifdef ANNEAL_WITH_CUDNN
#include <cudnn.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/kernels.h"

namespace anneal::cuda {
namespace {

#define ANNEAL_CUDNN_CHECK(call, what)                                                                       \
  do {                                                                                                       \
    const cudnnStatus_t s__ = (call);                                                                        \
    if (s__ != CUDNN_STATUS_SUCCESS)                                                                         \
      throw ::anneal::Error(::anneal::str(what, ": ", #call, " failed: ", cudnnGetErrorString(s__), " (",    \
                                          int(s__), ")"));                                                   \
  } while (0)

bool cudnn_enabled() {
  static const bool on = env_switch("ANNEAL_CUDNN", true);
  return on;
}

// One handle per device (cuDNN handles are tied to a device, not a thread); the stream is
// set to the caller's current stream before each call.
cudnnHandle_t handle() {
  static std::mutex mu;
  static std::map<int, cudnnHandle_t> handles;  // leaked: destroyed with the process
  int device = 0;
  ANNEAL_CUDA_CHECK(cudaGetDevice(&device), "cuDNN handle");
  std::lock_guard<std::mutex> lock(mu);
  auto it = handles.find(device);
  cudnnHandle_t h = nullptr;
  if (it == handles.end()) {
    ANNEAL_CUDNN_CHECK(cudnnCreate(&h), "cuDNN handle");
    handles[device] = h;
  } else {
    h = it->second;
  }
  ANNEAL_CUDNN_CHECK(cudnnSetStream(h, current_stream()), "cuDNN handle");
  return h;
}

bool cudnn_type(DType dt, cudnnDataType_t* data, cudnnDataType_t* compute) {
  switch (dt) {
    case DType::Float32: *data = CUDNN_DATA_FLOAT, *compute = CUDNN_DATA_FLOAT; return true;
    case DType::Float64: *data = CUDNN_DATA_DOUBLE, *compute = CUDNN_DATA_DOUBLE; return true;
    case DType::Float16: *data = CUDNN_DATA_HALF, *compute = CUDNN_DATA_FLOAT; return true;
    case DType::BFloat16: *data = CUDNN_DATA_BFLOAT16, *compute = CUDNN_DATA_FLOAT; return true;
    default: return false;
  }
}

// The descriptors of one convolution call, destroyed with it.
struct ConvDescriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool is_double = false;
  std::string shapes;  // for errors

  ConvDescriptors(const Tensor& x_t, const Tensor& w_t, const Tensor& y_t, const Conv2dGeometry& g, int64_t groups) {
    cudnnDataType_t data, compute;
    cudnn_type(x_t.dtype(), &data, &compute);
    is_double = data == CUDNN_DATA_DOUBLE;
    shapes = str("x ", x_t.shape_str(), ", w ", w_t.shape_str(), ", out ", y_t.shape_str(), ", ", dtype_name(x_t.dtype()));
    const char* what = "cuDNN conv2d descriptors";
    ANNEAL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x), what);
    ANNEAL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y), what);
    ANNEAL_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w), what);
    ANNEAL_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv), what);
    ANNEAL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, data, int(x_t.size(0)), int(x_t.size(1)),
                                                  int(x_t.size(2)), int(x_t.size(3))),
                       what);
    ANNEAL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, data, int(y_t.size(0)), int(y_t.size(1)),
                                                  int(y_t.size(2)), int(y_t.size(3))),
                       what);
    ANNEAL_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, data, CUDNN_TENSOR_NCHW, int(w_t.size(0)), int(w_t.size(1)),
                                                  int(w_t.size(2)), int(w_t.size(3))),
                       what);
    ANNEAL_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, int(g.ph), int(g.pw), int(g.sh), int(g.sw), int(g.dh),
                                                       int(g.dw), CUDNN_CROSS_CORRELATION, compute),
                       what);
    ANNEAL_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, int(groups)), what);
    // float32 stays exact unless TF32 is allowed (as cuBLAS); half types use tensor cores
    cudnnMathType_t math = CUDNN_DEFAULT_MATH;
    if (data == CUDNN_DATA_FLOAT) math = cuda_allow_tf32() ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    else if (data == CUDNN_DATA_HALF || data == CUDNN_DATA_BFLOAT16) math = CUDNN_TENSOR_OP_MATH;
    ANNEAL_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math), what);
  }
  ~ConvDescriptors() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
  ConvDescriptors(const ConvDescriptors&) = delete;
  ConvDescriptors& operator=(const ConvDescriptors&) = delete;
};

enum class Pass { Forward, BackwardData, BackwardFilter };

// What picks an algorithm: the pass, the shapes, the geometry, groups, dtype, TF32, device.
using AlgoKey = std::tuple<int, std::vector<int64_t>, int>;
struct AlgoChoice {
  int algo;
  size_t workspace;
};

AlgoKey key_of(Pass pass, const Tensor& x, const Tensor& w, const Conv2dGeometry& g, int64_t groups) {
  std::vector<int64_t> k(x.sizes().begin(), x.sizes().end());
  k.insert(k.end(), w.sizes().begin(), w.sizes().end());
  k.insert(k.end(), {g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, groups, int64_t(x.dtype()), cuda_allow_tf32()});
  int device = 0;
  ANNEAL_CUDA_CHECK(cudaGetDevice(&device), "cuDNN conv2d");
  return {int(pass), std::move(k), device};
}

// The first deterministic algorithm cuDNN's heuristics rank, cached per key.
template <typename Perf, typename Query>
AlgoChoice choose(const AlgoKey& key, const std::string& shapes, const char* pass_name, Query query) {
  static std::mutex mu;
  static std::map<AlgoKey, AlgoChoice> cache;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  constexpr int kMax = 16;
  Perf perf[kMax];
  int n = 0;
  query(kMax, &n, perf);
  for (int i = 0; i < n; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    const AlgoChoice c{int(perf[i].algo), perf[i].memory};
    std::lock_guard<std::mutex> lock(mu);
    cache[key] = c;
    return c;
  }
  throw NotImplementedError(str("cuDNN conv2d ", pass_name, ": no deterministic algorithm for ", shapes));
}

Tensor workspace(size_t bytes, const Device& device) {
  return make_empty({int64_t(bytes > 0 ? bytes : 1)}, DType::UInt8, allocator_for(device));
}

bool usable(const Tensor& x, const Tensor& w, const Tensor& y) {
  cudnnDataType_t data, compute;
  if (!cudnn_enabled() || !cudnn_type(x.dtype(), &data, &compute)) return false;
  for (const Tensor* t : {&x, &w, &y})
    for (int64_t s : t->sizes())
      if (s == 0 || s > INT32_MAX) return false;
  return x.is_contiguous() && w.is_contiguous() && y.is_contiguous();
}

}  // namespace

bool cudnn_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& out, const Conv2dGeometry& g,
                          int64_t groups) {
  if (!usable(x, w, out)) return false;
  ConvDescriptors d(x, w, out, g, groups);
  cudnnHandle_t h = handle();
  const AlgoChoice c = choose<cudnnConvolutionFwdAlgoPerf_t>(
      key_of(Pass::Forward, x, w, g, groups), d.shapes, "forward", [&](int max, int* n, cudnnConvolutionFwdAlgoPerf_t* p) {
        ANNEAL_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, max, n, p),
                           str("cuDNN conv2d forward (", d.shapes, ")"));
      });
  Tensor ws = workspace(c.workspace, x.device());
  const float one_f = 1, zero_f = 0;
  const double one_d = 1, zero_d = 0;
  const void* one = d.is_double ? static_cast<const void*>(&one_d) : &one_f;
  const void* zero = d.is_double ? static_cast<const void*>(&zero_d) : &zero_f;
  ANNEAL_CUDNN_CHECK(cudnnConvolutionForward(h, one, d.x, x.impl()->data(), d.w, w.impl()->data(), d.conv,
                                             cudnnConvolutionFwdAlgo_t(c.algo), ws.impl()->data(), c.workspace, zero,
                                             d.y, out.impl()->data()),
                     str("cuDNN conv2d forward (", d.shapes, ")"));
  return true;
}

bool cudnn_conv2d_backward(const Tensor& gout, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                           const Tensor& grad_w, const Conv2dGeometry& g, int64_t groups) {
  if (!usable(x, w, gout)) return false;
  if ((grad_x.defined() && !grad_x.is_contiguous()) || (grad_w.defined() && !grad_w.is_contiguous())) return false;
  ConvDescriptors d(x, w, gout, g, groups);
  cudnnHandle_t h = handle();
  const float one_f = 1, zero_f = 0;
  const double one_d = 1, zero_d = 0;
  const void* one = d.is_double ? static_cast<const void*>(&one_d) : &one_f;
  const void* zero = d.is_double ? static_cast<const void*>(&zero_d) : &zero_f;
  if (grad_x.defined()) {
    const AlgoChoice c = choose<cudnnConvolutionBwdDataAlgoPerf_t>(
        key_of(Pass::BackwardData, x, w, g, groups), d.shapes, "backward (input)",
        [&](int max, int* n, cudnnConvolutionBwdDataAlgoPerf_t* p) {
          ANNEAL_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, max, n, p),
                             str("cuDNN conv2d backward (", d.shapes, ")"));
        });
    Tensor ws = workspace(c.workspace, x.device());
    ANNEAL_CUDNN_CHECK(cudnnConvolutionBackwardData(h, one, d.w, w.impl()->data(), d.y, gout.impl()->data(), d.conv,
                                                    cudnnConvolutionBwdDataAlgo_t(c.algo), ws.impl()->data(),
                                                    c.workspace, zero, d.x, grad_x.impl()->data()),
                       str("cuDNN conv2d backward, input (", d.shapes, ")"));
  }
  if (grad_w.defined()) {
    const AlgoChoice c = choose<cudnnConvolutionBwdFilterAlgoPerf_t>(
        key_of(Pass::BackwardFilter, x, w, g, groups), d.shapes, "backward (weight)",
        [&](int max, int* n, cudnnConvolutionBwdFilterAlgoPerf_t* p) {
          ANNEAL_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, max, n, p),
                             str("cuDNN conv2d backward (", d.shapes, ")"));
        });
    Tensor ws = workspace(c.workspace, x.device());
    ANNEAL_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, one, d.x, x.impl()->data(), d.y, gout.impl()->data(), d.conv,
                                                      cudnnConvolutionBwdFilterAlgo_t(c.algo), ws.impl()->data(),
                                                      c.workspace, zero, d.w, grad_w.impl()->data()),
                       str("cuDNN conv2d backward, weight (", d.shapes, ")"));
  }
  return true;
}

bool cudnn_is_built() { return true; }

}  // namespace anneal::cuda

#else  // no cuDNN in this build: conv.cu's own kernels do the work

namespace anneal::cuda {
bool cudnn_conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Conv2dGeometry&, int64_t) { return false; }
bool cudnn_conv2d_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                           const Conv2dGeometry&, int64_t) {
  return false;
}
bool cudnn_is_built() { return false; }
}  // namespace anneal::cuda

#endif
