#pragma once
// CUDA graphs: the kernels of a piece of work (a whole training step: forward, backward,
// optimizer) are recorded once and replayed with one launch, which removes the per-kernel
// launch cost that dominates small models. Plain C++, usable in every build; without the
// CUDA backend or a device each call is a DeviceError saying so.
//
// As in PyTorch (torch.cuda.CUDAGraph), a captured graph replays the same kernels on the
// same memory: inputs must be copied into the tensors used at capture time, outputs are
// read from the tensors made at capture time. Memory allocated during capture comes from
// a private pool that stays reserved while the graph lives. During capture:
// - run the step eagerly a few times first, so optimizer state and gradients exist;
// - nothing may wait for the device (item(), to(cpu), printing a device tensor): CUDA
//   refuses, and the error says so;
// - host numbers are frozen into the graph: a learning rate changed later is not seen,
//   Adam/AdamW must be made with capturable = true (step count on the device), and random
//   ops (dropout, rand) are refused because each replay would draw the same numbers;
// - index bounds are not checked on the device (the check would wait for it).
#include <cstdint>
#include <memory>

namespace anneal {

class CudaGraph {
 public:
  explicit CudaGraph(int device = 0);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Work issued by this thread on the device between the two calls is recorded (on a
  // capture stream made current meanwhile), not run.
  void capture_begin();
  void capture_end();
  void replay();  // on the current stream
  bool captured() const;
  int device() const { return device_; }

 private:
  struct State;
  int device_;
  std::unique_ptr<State> state_;
};

// Whether this thread's current stream on `device` is being captured into a graph (false
// in a build without CUDA).
bool cuda_is_capturing(int device = 0);

}  // namespace anneal
