// The NCCL backend. libnccl.so.2 is opened at run time (ANNEAL_NCCL_LIBRARY names another
// file), so a CUDA build runs on machines without NCCL. Each group has its own CUDA stream:
// an operation waits (on the device) for the caller's current stream, runs on the NCCL
// stream, and the caller's stream waits for it in turn, so no host synchronisation sits on
// the hot path. Communicators are non-blocking; a watchdog thread polls each operation's
// completion event and ncclCommGetAsyncError, and aborts the communicator at a timeout or
// an error, after which every call fails with that error instead of hanging.
#include "distributed/process_group_nccl.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <cstdlib>
#include <deque>
#include <thread>

#include "ops/factory.h"
#include "runtime/cuda_stream.h"
#include "runtime/device.h"

namespace anneal::distributed {
namespace {

struct NcclApi {
  void* lib = nullptr;
  std::string error;
  ncclResult_t (*GetUniqueId)(ncclUniqueId*) = nullptr;
  ncclResult_t (*CommInitRankConfig)(ncclComm_t*, int, ncclUniqueId, int, ncclConfig_t*) = nullptr;
  ncclResult_t (*CommInitRank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*CommGetAsyncError)(ncclComm_t, ncclResult_t*) = nullptr;
  ncclResult_t (*CommAbort)(ncclComm_t) = nullptr;
  ncclResult_t (*CommDestroy)(ncclComm_t) = nullptr;
  const char* (*GetErrorString)(ncclResult_t) = nullptr;
  const char* (*GetLastError)(ncclComm_t) = nullptr;
  ncclResult_t (*GetVersion)(int*) = nullptr;
  ncclResult_t (*AllReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*AllGather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*ReduceScatter)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                                cudaStream_t) = nullptr;
  ncclResult_t (*Send)(const void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Recv)(void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*GroupStart)() = nullptr;
  ncclResult_t (*GroupEnd)() = nullptr;
};

const NcclApi& nccl() {
  static NcclApi api = [] {
    NcclApi a;
    const char* name = std::getenv("ANNEAL_NCCL_LIBRARY");
    a.lib = ::dlopen(name ? name : "libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!a.lib) {
      const char* e = ::dlerror();
      a.error = str("cannot load ", name ? name : "libnccl.so.2", " (", e ? e : "?",
                    "): install NCCL (Debian/NVIDIA's libnccl2, or the nvidia-nccl pip package and its lib folder on "
                    "LD_LIBRARY_PATH), or set ANNEAL_NCCL_LIBRARY to the library's path");
      return a;
    }
    auto sym = [&](auto& fn, const char* s, bool required = true) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(a.lib, s));
      if (!fn && required && a.error.empty()) a.error = str("the NCCL library has no ", s, " (too old: 2.14 or newer needed)");
    };
    sym(a.GetUniqueId, "ncclGetUniqueId");
    sym(a.CommInitRankConfig, "ncclCommInitRankConfig", false);
    sym(a.CommInitRank, "ncclCommInitRank");
    sym(a.CommGetAsyncError, "ncclCommGetAsyncError");
    sym(a.CommAbort, "ncclCommAbort");
    sym(a.CommDestroy, "ncclCommDestroy");
    sym(a.GetErrorString, "ncclGetErrorString");
    sym(a.GetLastError, "ncclGetLastError", false);
    sym(a.GetVersion, "ncclGetVersion");
    sym(a.AllReduce, "ncclAllReduce");
    sym(a.Broadcast, "ncclBroadcast");
    sym(a.AllGather, "ncclAllGather");
    sym(a.ReduceScatter, "ncclReduceScatter");
    sym(a.Send, "ncclSend");
    sym(a.Recv, "ncclRecv");
    sym(a.GroupStart, "ncclGroupStart");
    sym(a.GroupEnd, "ncclGroupEnd");
    return a;
  }();
  return api;
}

const NcclApi& require_nccl() {
  const NcclApi& a = nccl();
  if (!a.error.empty()) throw DistError("nccl backend: " + a.error);
  return a;
}

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw DistError(str("nccl backend: ", what, ": ", cudaGetErrorString(e)));
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::Bool:
    case DType::UInt8: return ncclUint8;
    case DType::Int32: return ncclInt32;
    case DType::Int64: return ncclInt64;
    case DType::Float16: return ncclFloat16;
    case DType::BFloat16: return ncclBfloat16;
    case DType::Float32: return ncclFloat32;
    case DType::Float64: return ncclFloat64;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op, DType t) {
  if (t == DType::Bool) return op == ReduceOp::Sum || op == ReduceOp::Max ? ncclMax : ncclMin;  // or / and
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Avg: return ncclAvg;
    case ReduceOp::Product: return ncclProd;
    case ReduceOp::Min: return ncclMin;
    case ReduceOp::Max: return ncclMax;
  }
  return ncclSum;
}

class ProcessGroupNCCL : public ProcessGroup {
 public:
  ProcessGroupNCCL(std::shared_ptr<Store> store, int rank, int size, NcclOptions o)
      : ProcessGroup(rank, size), opt_(std::move(o)), api_(require_nccl()) {
    options_.timeout = opt_.timeout;
    ANNEAL_CHECK(opt_.device_index >= 0 && opt_.device_index < cuda_device_count(), DeviceError,
                 "nccl backend: rank ", rank, " wants cuda:", opt_.device_index, " (LOCAL_RANK) but this machine has ",
                 cuda_device_count(), " GPU(s)");
    check_cuda(cudaSetDevice(opt_.device_index), "cudaSetDevice");
    ncclUniqueId id;
    if (rank == 0) {
      check(api_.GetUniqueId(&id), "ncclGetUniqueId");
      store->set("nccl_unique_id", std::string(reinterpret_cast<const char*>(&id), sizeof id));
    } else {
      std::string v = store->get("nccl_unique_id");
      ANNEAL_CHECK(v.size() == sizeof id, distributed::DistError, "nccl backend: malformed unique id in the store");
      std::memcpy(&id, v.data(), sizeof id);
    }
    ncclResult_t r = ncclInvalidArgument;
    if (api_.CommInitRankConfig) {
      ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
      config.blocking = 0;  // calls return at once; the watchdog can abort a stuck communicator
      r = api_.CommInitRankConfig(&comm_, size, id, rank, &config);
      if (r == ncclSuccess || r == ncclInProgress) r = wait_ready("ncclCommInitRankConfig", opt_.timeout);
      else comm_ = nullptr;
    }
    if (!comm_) {
      // an older library that refuses this header's config: a blocking communicator
      check(api_.CommInitRank(&comm_, size, id, rank), "ncclCommInitRank");
    }
    cudaStream_t s;
    check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    stream_ = s;
    watchdog_ = std::thread([this] { watch(); });
  }

  ~ProcessGroupNCCL() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    if (comm_) {
      if (aborted_) api_.CommAbort(comm_);
      else api_.CommDestroy(comm_);
    }
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string backend_name() const override { return "nccl"; }
  DeviceType device_type() const override { return DeviceType::CUDA; }
  Device device() const override { return Device(DeviceType::CUDA, opt_.device_index); }

  WorkPtr all_reduce(Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce");
    Tensor keep = t;
    return launch("all_reduce", {keep}, [=, this](cudaStream_t s) {
      return api_.AllReduce(keep.data_ptr(), keep.data_ptr(), static_cast<size_t>(keep.numel()), nccl_type(keep.dtype()),
                            nccl_op(op, keep.dtype()), comm_, s);
    });
  }
  WorkPtr broadcast(Tensor& t, int root) override {
    check_tensor(t, "broadcast");
    check_rank(root, "broadcast", "root");
    Tensor keep = t;
    return launch("broadcast", {keep}, [=, this](cudaStream_t s) {
      return api_.Broadcast(keep.data_ptr(), keep.data_ptr(), static_cast<size_t>(keep.numel()), nccl_type(keep.dtype()),
                            root, comm_, s);
    });
  }
  WorkPtr all_gather_into_tensor(Tensor& out, const Tensor& in) override {
    check_tensor(in, "all_gather");
    check_tensor(out, "all_gather");
    ANNEAL_CHECK(out.dtype() == in.dtype() && out.numel() == in.numel() * size(), ValueError,
                 "all_gather: the output must hold ", size(), " x ", in.numel(), " ", dtype_name(in.dtype()), " elements");
    Tensor i = in, o = out;
    return launch("all_gather", {i, o}, [=, this](cudaStream_t s) {
      return api_.AllGather(i.data_ptr(), o.data_ptr(), static_cast<size_t>(i.numel()), nccl_type(i.dtype()), comm_, s);
    });
  }
  WorkPtr reduce_scatter_tensor(Tensor& out, const Tensor& in, ReduceOp op) override {
    check_tensor(in, "reduce_scatter");
    check_tensor(out, "reduce_scatter");
    ANNEAL_CHECK(out.dtype() == in.dtype() && in.numel() == out.numel() * size(), ValueError,
                 "reduce_scatter: the input must hold ", size(), " x ", out.numel(), " ", dtype_name(out.dtype()),
                 " elements");
    Tensor i = in, o = out;
    return launch("reduce_scatter", {i, o}, [=, this](cudaStream_t s) {
      return api_.ReduceScatter(i.data_ptr(), o.data_ptr(), static_cast<size_t>(o.numel()), nccl_type(o.dtype()),
                                nccl_op(op, o.dtype()), comm_, s);
    });
  }
  WorkPtr barrier() override {
    // an all-reduce of one element, waited for on the host (a barrier is a host event)
    if (!barrier_buf_.defined()) barrier_buf_ = zeros({1}, TensorOptions(DType::Float32, device()));
    WorkPtr w = all_reduce(barrier_buf_, ReduceOp::Sum);
    check_cuda(cudaStreamSynchronize(stream_), "barrier");
    rethrow_if_failed();
    return w;
  }
  WorkPtr send(const Tensor& t, int dst, int tag) override {
    check_tensor(t, "send");
    check_rank(dst, "send", "destination");
    Tensor keep = t;
    return launch("send", {keep}, [=, this](cudaStream_t s) {
      return api_.Send(keep.data_ptr(), static_cast<size_t>(keep.numel()), nccl_type(keep.dtype()), dst, comm_, s);
    });
  }
  WorkPtr recv(Tensor& t, int src, int tag) override {
    check_tensor(t, "recv");
    check_rank(src, "recv", "source");
    Tensor keep = t;
    return launch("recv", {keep}, [=, this](cudaStream_t s) {
      return api_.Recv(keep.data_ptr(), static_cast<size_t>(keep.numel()), nccl_type(keep.dtype()), src, comm_, s);
    });
  }

 private:
  struct InFlight {
    std::string what;
    cudaEvent_t done;
    TensorList tensors;  // alive until the NCCL stream is done with them
    std::chrono::steady_clock::time_point start;
  };

  void check(ncclResult_t r, const char* what) {
    if (r == ncclSuccess) return;
    const char* last = api_.GetLastError ? api_.GetLastError(comm_) : "";
    throw DistError(str("nccl backend: ", what, " failed: ", api_.GetErrorString(r), last && *last ? str(" (", last, ")") : ""));
  }

  // A non-blocking communicator answers ncclInProgress until its operation is queued.
  ncclResult_t wait_ready(const char* what, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      ncclResult_t state = ncclSuccess;
      api_.CommGetAsyncError(comm_, &state);
      if (state != ncclInProgress) {
        check(state, what);
        return state;
      }
      if (std::chrono::steady_clock::now() > until) {
        api_.CommAbort(comm_);
        comm_ = nullptr;
        throw DistTimeoutError(str("nccl backend: ", what, " did not finish within ", timeout.count(),
                                   " ms (a peer did not join, or NCCL cannot reach it: see NCCL_DEBUG=INFO)"));
      }
      std::this_thread::yield();
    }
  }

  void rethrow_if_failed() {
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_) std::rethrow_exception(failure_);
  }

  template <typename F>
  WorkPtr launch(const char* op, TensorList tensors, F call) {
    rethrow_if_failed();
    const uint64_t seq = seq_++;
    const int dev = opt_.device_index;
    CudaStream compute = CudaStream::current(dev);
    cudaStream_t caller = static_cast<cudaStream_t>(compute.native_handle());
    // the NCCL stream waits for what the caller queued (the gradients' kernels)
    cudaEvent_t ready;
    check_cuda(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(ready, caller), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    cudaEventDestroy(ready);
    ncclResult_t r = call(stream_);
    if (r == ncclInProgress) r = wait_ready(op, options_.timeout);
    check(r, op);
    cudaEvent_t done;
    check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done, stream_), "cudaEventRecord");
    // and the caller's later work waits for the result, on the device
    check_cuda(cudaStreamWaitEvent(caller, done, 0), "cudaStreamWaitEvent");
    // (the tensors stay referenced in inflight_ until the NCCL stream is done with them, so
    // the caching allocator cannot hand their memory out earlier)
    auto work = std::make_shared<Work>(op, seq);
    {
      std::lock_guard<std::mutex> lock(mu_);
      inflight_.push_back({str(op, " #", seq), done, std::move(tensors), std::chrono::steady_clock::now()});
    }
    cv_.notify_one();
    // ordered on the device: the caller may go on; errors surface on the next call
    work->finish();
    return work;
  }

  void watch() {
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_ || !inflight_.empty(); });
      if (stop_ && inflight_.empty()) return;
      cudaSetDevice(opt_.device_index);
      ncclResult_t state = ncclSuccess;
      if (comm_ && !aborted_) api_.CommGetAsyncError(comm_, &state);
      std::string problem;
      if (state != ncclSuccess && state != ncclInProgress)
        problem = str("NCCL reported ", api_.GetErrorString(state));
      while (!inflight_.empty() && problem.empty()) {
        InFlight& f = inflight_.front();
        cudaError_t q = cudaEventQuery(f.done);
        if (q == cudaSuccess) {
          cudaEventDestroy(f.done);
          inflight_.pop_front();
          continue;
        }
        if (q != cudaErrorNotReady) {
          problem = str(f.what, ": ", cudaGetErrorString(q));
          break;
        }
        if (std::chrono::steady_clock::now() - f.start > options_.timeout)
          problem = str(f.what, " timed out after ", options_.timeout.count(),
                        " ms (a peer is gone or stuck; NCCL_DEBUG=INFO shows which)");
        break;
      }
      if (!problem.empty() && !failure_) {
        failure_ = std::make_exception_ptr(DistTimeoutError("nccl backend, rank " + std::to_string(rank()) + ": " + problem));
        if (comm_) api_.CommAbort(comm_);  // unblocks the kernels so the process can exit
        aborted_ = true;
        comm_ = nullptr;
        for (auto& f : inflight_) cudaEventDestroy(f.done);
        inflight_.clear();
      }
      if (stop_) return;
    }
  }

  NcclOptions opt_;
  const NcclApi& api_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::atomic<uint64_t> seq_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<InFlight> inflight_;
  std::exception_ptr failure_;
  bool stop_ = false, aborted_ = false;
  std::thread watchdog_;
  Tensor barrier_buf_;
};

}  // namespace

bool nccl_library_loads() { return nccl().error.empty(); }

ProcessGroupPtr make_process_group_nccl(std::shared_ptr<Store> store, int rank, int size, NcclOptions options) {
  return std::make_shared<ProcessGroupNCCL>(std::move(store), rank, size, std::move(options));
}

}  // namespace anneal::distributed
