// CudaGraph over the CUDA backend's graph entry points, or DeviceErrors in a build
// without it.
#include "runtime/cuda_graph.h"

#include "core/error.h"
#ifdef ANNEAL_WITH_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace anneal {

#ifdef ANNEAL_WITH_CUDA
struct CudaGraph::State {
  void* handle = nullptr;
};

CudaGraph::CudaGraph(int device) : device_(device), state_(std::make_unique<State>()) {
  const int n = cuda::device_count();
  ANNEAL_CHECK(n > 0, DeviceError, "CUDA graphs need a CUDA device, and none is available");
  ANNEAL_CHECK(device >= 0 && device < n, DeviceError, "cuda:", device, " does not exist (", n, " device(s))");
  state_->handle = cuda::graph_create(device);
}
CudaGraph::~CudaGraph() {
  if (state_ && state_->handle) cuda::graph_destroy(state_->handle);
}
void CudaGraph::capture_begin() { cuda::graph_capture_begin(state_->handle); }
void CudaGraph::capture_end() { cuda::graph_capture_end(state_->handle); }
void CudaGraph::replay() { cuda::graph_replay(state_->handle); }
bool CudaGraph::captured() const { return cuda::graph_captured(state_->handle); }

bool cuda_is_capturing(int device) { return cuda::device_count() > 0 && cuda::is_capturing(device); }

#else
struct CudaGraph::State {};

CudaGraph::CudaGraph(int device) : device_(device) {
  throw DeviceError("CUDA graphs: anneal was built without CUDA support (configure with -DANNEAL_CUDA=ON)");
}
CudaGraph::~CudaGraph() = default;
void CudaGraph::capture_begin() {}
void CudaGraph::capture_end() {}
void CudaGraph::replay() {}
bool CudaGraph::captured() const { return false; }

bool cuda_is_capturing(int) { return false; }
#endif

}  // namespace anneal
