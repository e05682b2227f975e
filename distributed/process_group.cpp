#include "distributed/process_group.h"

#include "core/autograd/grad_mode.h"
#include "ops/factory.h"
#include "ops/shape.h"
#include "runtime/thread_pool.h"

namespace anneal::distributed {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Avg: return "avg";
    case ReduceOp::Product: return "product";
    case ReduceOp::Min: return "min";
    case ReduceOp::Max: return "max";
  }
  return "?";
}

bool Work::is_completed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

bool Work::is_success() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_ && !error_;
}

std::exception_ptr Work::exception() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void Work::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (timeout.count() > 0) {
    if (!cv_.wait_for(lock, timeout, [&] { return done_; }))
      throw DistTimeoutError(str(op_, " #", seq_, " did not finish within the wait's ", timeout.count(), " ms"));
  } else {
    cv_.wait(lock, [&] { return done_; });
  }
  if (error_) std::rethrow_exception(error_);
}

void Work::finish(std::exception_ptr error) {
  std::vector<std::function<void(Work&)>> callbacks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = error;
    callbacks.swap(callbacks_);
  }
  // Callbacks (copy-outs of all_gather into a list, DDP's unflatten) run before waiters
  // are released, so a finished wait sees their results; their errors become the work's.
  for (auto& cb : callbacks) {
    try {
      cb(*this);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
}

void Work::then(std::function<void(Work&)> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!done_) {
      callbacks_.push_back(std::move(fn));
      return;
    }
  }
  fn(*this);
}

void ProcessGroup::check_tensor(const Tensor& t, const char* what) const {
  ANNEAL_CHECK(t.defined(), ValueError, what, ": the tensor is undefined");
  ANNEAL_CHECK(t.is_contiguous(), ValueError, what, ": tensors must be contiguous (got shape ", t.shape_str(),
               " with strides that are not); call .contiguous() first");
  ANNEAL_CHECK(t.device().type == device_type(), DeviceError, what, ": the ", backend_name(),
               " process group moves ", device_type() == DeviceType::CPU ? "CPU" : "CUDA", " tensors, got one on ",
               t.device().str());
}

void ProcessGroup::check_rank(int r, const char* what, const char* role) const {
  ANNEAL_CHECK(r >= 0 && r < size_, ValueError, what, ": ", role, " rank ", r, " is not in this group of ", size_,
               " ranks");
}

WorkPtr ProcessGroup::all_gather(TensorList& outputs, const Tensor& input) {
  check_tensor(input, "all_gather");
  ANNEAL_CHECK(outputs.size() == static_cast<size_t>(size_), ValueError, "all_gather: got ", outputs.size(),
               " output tensors for a group of ", size_, " ranks");
  for (size_t i = 0; i < outputs.size(); ++i) {
    ANNEAL_CHECK(outputs[i].defined() && outputs[i].sizes() == input.sizes() && outputs[i].dtype() == input.dtype(),
                 ValueError, "all_gather: output ", i, " must be shaped and typed like the input (",
                 input.shape_str(), " ", dtype_name(input.dtype()), ")");
    ANNEAL_CHECK(outputs[i].device() == input.device(), DeviceError, "all_gather: output ", i,
                 " is on another device than the input");
  }
  Shape gathered = input.sizes();
  gathered.insert(gathered.begin(), size_);
  Tensor flat = empty(gathered, TensorOptions(input.dtype(), input.device()));
  WorkPtr w = all_gather_into_tensor(flat, input);
  TensorList outs = outputs;  // share the tensors: the copies land in the caller's
  w->then([flat, outs](Work& work) mutable {
    if (work.exception()) return;
    NoGradGuard ng;
    cpu::SerialScope serial;  // on the communication thread: no OpenMP team beside the compute's
    for (size_t r = 0; r < outs.size(); ++r) outs[r].copy_(flat.select(0, static_cast<int64_t>(r)));
  });
  return w;
}

WorkPtr ProcessGroup::reduce_scatter(Tensor& output, const TensorList& inputs, ReduceOp op) {
  ANNEAL_CHECK(inputs.size() == static_cast<size_t>(size_), ValueError, "reduce_scatter: got ", inputs.size(),
               " input tensors for a group of ", size_, " ranks");
  check_tensor(output, "reduce_scatter");
  for (size_t i = 0; i < inputs.size(); ++i)
    ANNEAL_CHECK(inputs[i].defined() && inputs[i].sizes() == output.sizes() && inputs[i].dtype() == output.dtype(),
                 ValueError, "reduce_scatter: input ", i, " must be shaped and typed like the output (",
                 output.shape_str(), " ", dtype_name(output.dtype()), ")");
  NoGradGuard ng;
  TensorList flat;
  for (auto& t : inputs) flat.push_back(t.reshape({-1}));
  Tensor joined = cat(flat, 0);
  return reduce_scatter_tensor(output, joined, op);
}

}  // namespace anneal::distributed
