// Gloo's TCP transport under the ProcessGroup interface. The collectives of a group run on
// one worker thread in issue order (the order every rank issues them in), each with the
// group's timeout. A failure names the operation and its sequence number; the rank to
// blame comes from the store, which sees a dead process's connection close and records
// the last operation each live process started.
#include "distributed/process_group_gloo.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <pthread.h>
#include <thread>

#include "core/half.h"
#include "core/tensor_impl.h"

#ifdef ANNEAL_WITH_GLOO
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoall.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/types.h>
#endif

namespace anneal::distributed {

#ifndef ANNEAL_WITH_GLOO

bool gloo_is_available() { return false; }
struct ProcessGroupGloo::Impl {};
ProcessGroupGloo::ProcessGroupGloo(std::shared_ptr<Store>, int rank, int size, GlooOptions) : ProcessGroup(rank, size) {
  throw NotImplementedError(
      "anneal was built without Gloo (Debian's libgloo-dev): CPU collectives are unavailable; install it and rebuild");
}
ProcessGroupGloo::~ProcessGroupGloo() = default;
WorkPtr ProcessGroupGloo::all_reduce(Tensor&, ReduceOp) { return nullptr; }
WorkPtr ProcessGroupGloo::broadcast(Tensor&, int) { return nullptr; }
WorkPtr ProcessGroupGloo::all_gather_into_tensor(Tensor&, const Tensor&) { return nullptr; }
WorkPtr ProcessGroupGloo::reduce_scatter_tensor(Tensor&, const Tensor&, ReduceOp) { return nullptr; }
WorkPtr ProcessGroupGloo::barrier() { return nullptr; }
WorkPtr ProcessGroupGloo::send(const Tensor&, int, int) { return nullptr; }
WorkPtr ProcessGroupGloo::recv(Tensor&, int, int) { return nullptr; }

#else

bool gloo_is_available() { return true; }

namespace {

// Gloo's rendezvous reads and writes through our store.
class GlooStore : public gloo::rendezvous::Store {
 public:
  explicit GlooStore(std::shared_ptr<distributed::Store> s) : s_(std::move(s)) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    s_->set(key, std::string(data.begin(), data.end()));
  }
  std::vector<char> get(const std::string& key) override {
    std::string v = s_->get(key);
    return {v.begin(), v.end()};
  }
  void wait(const std::vector<std::string>& keys) override { s_->wait(keys); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    s_->wait(keys, timeout);
  }

 private:
  std::shared_ptr<distributed::Store> s_;
};

// ---- reductions, per dtype (Gloo calls fn(out, a, b, n): out[i] = a[i] op b[i]) ----
template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

template <typename T, typename F>
void elementwise(void* c, const void* a, const void* b, size_t n, F f) {
  T* o = static_cast<T*>(c);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; ++i) o[i] = T(f(Acc<T>(x[i]), Acc<T>(y[i])));
}
template <typename T> void sum_fn(void* c, const void* a, const void* b, size_t n) {
  elementwise<T>(c, a, b, n, [](auto x, auto y) { return x + y; });
}
template <typename T> void prod_fn(void* c, const void* a, const void* b, size_t n) {
  elementwise<T>(c, a, b, n, [](auto x, auto y) { return x * y; });
}
// NaN wins, as in torch.maximum / minimum
template <typename T> void max_fn(void* c, const void* a, const void* b, size_t n) {
  elementwise<T>(c, a, b, n, [](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>) {
      if (std::isnan(x) || std::isnan(y)) return x + y;
    }
    return x > y ? x : y;
  });
}
template <typename T> void min_fn(void* c, const void* a, const void* b, size_t n) {
  elementwise<T>(c, a, b, n, [](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>) {
      if (std::isnan(x) || std::isnan(y)) return x + y;
    }
    return x < y ? x : y;
  });
}
void or_fn(void* c, const void* a, const void* b, size_t n) {
  elementwise<uint8_t>(c, a, b, n, [](uint8_t x, uint8_t y) { return uint8_t(x || y); });
}
void and_fn(void* c, const void* a, const void* b, size_t n) {
  elementwise<uint8_t>(c, a, b, n, [](uint8_t x, uint8_t y) { return uint8_t(x && y); });
}

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

template <typename T>
ReduceFn typed_reduce(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Avg: return &sum_fn<T>;
    case ReduceOp::Product: return &prod_fn<T>;
    case ReduceOp::Max: return &max_fn<T>;
    case ReduceOp::Min: return &min_fn<T>;
  }
  return nullptr;
}

ReduceFn reduce_fn(DType t, ReduceOp op) {
  switch (t) {
    case DType::Bool: return op == ReduceOp::Sum || op == ReduceOp::Max ? &or_fn : &and_fn;
    case DType::UInt8: return typed_reduce<uint8_t>(op);
    case DType::Int32: return typed_reduce<int32_t>(op);
    case DType::Int64: return typed_reduce<int64_t>(op);
    case DType::Float16: return typed_reduce<Half>(op);
    case DType::BFloat16: return typed_reduce<BFloat16>(op);
    case DType::Float32: return typed_reduce<float>(op);
    case DType::Float64: return typed_reduce<double>(op);
  }
  return nullptr;
}

// Avg = sum / world size, written in the tensor's own dtype.
template <typename T>
void scale_typed(void* p, size_t n, double s) {
  T* x = static_cast<T*>(p);
  for (size_t i = 0; i < n; ++i) x[i] = T(static_cast<Acc<T>>(Acc<T>(x[i]) * s));
}
void scale(void* p, size_t n, DType t, double s) {
  switch (t) {
    case DType::Float16: return scale_typed<Half>(p, n, s);
    case DType::BFloat16: return scale_typed<BFloat16>(p, n, s);
    case DType::Float32: return scale_typed<float>(p, n, s);
    case DType::Float64: return scale_typed<double>(p, n, s);
    default: return;
  }
}

// The element types Gloo's typed setters see (only their size matters to Gloo).
template <typename F>
void with_elem(size_t elem_size, F f) {
  switch (elem_size) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    default: return f(uint64_t{});
  }
}

uint8_t dtype_code(DType t) { return static_cast<uint8_t>(t); }
constexpr uint8_t kP2PSlotPrefix = 0x70;

std::string describe_tensor(const Tensor& t) { return str(t.numel(), " ", dtype_name(t.dtype()), " elements"); }

}  // namespace

struct ProcessGroupGloo::Impl {
  struct Task {
    WorkPtr work;
    int64_t fingerprint[5] = {0, 0, 0, 0, 0};  // op, dtype, numel, root/extra, seq
    std::string describe;                       // "all_reduce(sum) of 1000 float32 elements"
    std::function<void(uint32_t tag)> run;
  };

  ProcessGroupGloo* pg;
  GlooOptions opt;
  std::shared_ptr<gloo::rendezvous::Context> ctx;
  std::shared_ptr<gloo::transport::Device> device;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Task> queue;
  bool stop = false;
  uint64_t next_seq = 0, next_p2p = 0;
  std::exception_ptr broken;  // after a transport failure the mesh is unusable
  std::string broken_what;
  std::thread worker;
  std::chrono::steady_clock::time_point last_report{};

  std::chrono::milliseconds timeout() const { return pg->timeout(); }
  int global_rank(int r) const { return opt.global_ranks.empty() ? r : opt.global_ranks[static_cast<size_t>(r)]; }

  WorkPtr enqueue(Task t, const char* op) {
    std::lock_guard<std::mutex> lock(mu);
    uint64_t seq = next_seq++;
    t.work = std::make_shared<Work>(op, seq);
    t.fingerprint[4] = static_cast<int64_t>(seq);
    WorkPtr w = t.work;
    queue.push_back(std::move(t));
    cv.notify_one();
    return w;
  }

  void loop() {
    for (;;) {
      Task t;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop || !queue.empty(); });
        if (queue.empty()) return;
        t = std::move(queue.front());
        queue.pop_front();
      }
      std::exception_ptr err;
      if (broken) {
        err = std::make_exception_ptr(DistError(str(label(t), " was not run: the process group failed earlier (",
                                                     broken_what, ")")));
      } else {
        try {
          const uint32_t tag = static_cast<uint32_t>(t.work->sequence_number() & 0x3fffffff);
          // Progress reports cost a message to the store: at most one a second on the hot
          // path (a rank that fails at a timeout reports its own exactly, see translate)
          if (opt.report_progress && opt.status_store) {
            auto now = std::chrono::steady_clock::now();
            if (now - last_report >= std::chrono::seconds(1)) {
              opt.status_store->report_progress(static_cast<int64_t>(t.work->sequence_number()));
              last_report = now;
            }
          }
          if (ctx->getTimeout() != timeout()) ctx->setTimeout(timeout());  // waits that use the context's
          if (opt.debug_detail) check_fingerprint(t, tag | 0x40000000u);
          t.run(tag);
        } catch (const gloo::Exception& e) {
          err = translate(t, e.what());
          broken = err;
          broken_what = label(t) + " failed";
        } catch (const DistError& e) {
          err = std::current_exception();
          broken = err;
          broken_what = label(t) + " failed";
        } catch (...) {
          err = std::current_exception();
        }
      }
      t.work->finish(err);
    }
  }

  std::string label(const Task& t) const {
    return str(t.work->op(), " #", t.work->sequence_number(), " (", t.describe, ") on ", pg->backend_name(), " rank ",
               global_rank(pg->rank()));
  }

  // Turns Gloo's transport message into one that names the rank to blame.
  std::exception_ptr translate(const Task& t, const std::string& what) {
    const bool timed_out = what.find("imed out") != std::string::npos;
    std::string blame;
    if (opt.status_store) {
      if (timed_out && opt.report_progress) {
        // every live rank waiting in this operation times out about now and reports that
        // it reached it; a rank that never reports is the one that did not
        try {
          opt.status_store->report_progress(static_cast<int64_t>(t.work->sequence_number()));
        } catch (const DistError&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      }
      // a dead peer's store connection closes at the same moment as its Gloo pairs:
      // give the store a moment to notice
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timed_out ? 200 : 1500);
      try {
        do {
          std::string gone, behind;
          for (const RankStatus& s : opt.status_store->rank_status(std::chrono::seconds(2))) {
            bool member = opt.global_ranks.empty()
                              ? s.rank < pg->size()
                              : std::find(opt.global_ranks.begin(), opt.global_ranks.end(), s.rank) != opt.global_ranks.end();
            if (!member || s.rank == global_rank(pg->rank())) continue;
            if (s.state != RankStatus::Alive) gone += (gone.empty() ? "" : ", ") + std::to_string(s.rank);
            else if (opt.report_progress && s.last_started < static_cast<int64_t>(t.work->sequence_number()))
              behind += str(behind.empty() ? "" : "; ", "rank ", s.rank, " has not reached it (the last it reported is #",
                            s.last_started, ")");
          }
          if (!gone.empty()) {
            blame = str("rank ", gone, " is gone (its process exited or its connection closed)");
            break;
          }
          if (!behind.empty()) blame = behind;
          if (timed_out) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } while (std::chrono::steady_clock::now() < until);
      } catch (const DistError&) {
        blame = "rank 0 is gone (the rendezvous store it hosts does not answer)";
      }
    }
    std::string msg = str(label(t), timed_out ? " timed out after " + std::to_string(timeout().count()) + " ms" : " failed",
                          blame.empty() ? "" : ": " + blame, " [gloo: ", what, "]");
    if (timed_out) return std::make_exception_ptr(DistTimeoutError(msg));
    return std::make_exception_ptr(DistNetworkError(msg));
  }

  // ANNEAL_DISTRIBUTED_DEBUG=DETAIL: every rank shows the others what it is about to run.
  void check_fingerprint(const Task& t, uint32_t tag) {
    const size_t n = static_cast<size_t>(pg->size());
    if (n == 1) return;
    std::vector<int64_t> all(5 * n);
    gloo::AllgatherOptions o(ctx);
    o.setInput(const_cast<int64_t*>(t.fingerprint), 5);
    o.setOutput(all.data(), all.size());
    o.setTag(tag);
    o.setTimeout(timeout());
    gloo::allgather(o);
    for (size_t r = 0; r < n; ++r) {
      if (std::equal(all.begin() + static_cast<long>(5 * r), all.begin() + static_cast<long>(5 * r + 5), t.fingerprint))
        continue;
      static const char* names[] = {"all_reduce", "broadcast", "all_gather", "reduce_scatter", "barrier"};
      const int64_t* f = &all[5 * r];
      auto name = [&](int64_t op) { return op >= 0 && op < 5 ? names[op] : "?"; };
      throw DistError(str("collective mismatch (ANNEAL_DISTRIBUTED_DEBUG=DETAIL) at #", t.work->sequence_number(),
                          ": rank ", global_rank(pg->rank()), " runs ", t.describe, " but rank ",
                          global_rank(static_cast<int>(r)), " runs ", name(f[0]), " of ", f[2], " ",
                          f[1] >= 0 && f[1] < kNumDTypes ? dtype_name(static_cast<DType>(f[1])) : "?",
                          " elements (sequence #", f[4], ")"));
    }
  }

  // Point-to-point operations are posted at once on the caller's thread (Gloo sends and
  // receives asynchronously) and completed by a waiter thread of their own: queued behind
  // each other on the worker, a send would wait forever for the peer's receive queued
  // behind its own send.
  WorkPtr post_p2p(const Tensor& t, int peer, int tag, bool is_send, const std::string& describe) {
    WorkPtr work;
    {
      std::lock_guard<std::mutex> lock(mu);
      work = std::make_shared<Work>(is_send ? "send" : "recv", next_p2p++);
    }
    std::shared_ptr<gloo::transport::UnboundBuffer> buf(
        ctx->createUnboundBuffer(t.data_ptr(), static_cast<size_t>(t.numel()) * element_size(t.dtype())));
    const uint64_t slot = gloo::Slot::build(kP2PSlotPrefix, static_cast<uint32_t>(tag));
    try {
      if (is_send) buf->send(peer, slot);
      else buf->recv(peer, slot);
    } catch (const gloo::Exception& e) {
      throw DistNetworkError(str(work->op(), " (", describe, ") failed: ", e.what()));
    }
    auto limit = timeout();
    std::string what = str(work->op(), " #", work->sequence_number(), " (", describe, ")");
    auto keep_ctx = ctx;
    std::thread([work, buf, t, is_send, limit, what, keep_ctx] {
      pthread_setname_np(pthread_self(), is_send ? "anneal-send" : "anneal-recv");
      std::exception_ptr err;
      try {
        bool ok = is_send ? buf->waitSend(limit) : buf->waitRecv(limit);
        if (!ok) err = std::make_exception_ptr(DistTimeoutError(str(what, " timed out after ", limit.count(), " ms")));
      } catch (const std::exception& e) {
        err = std::make_exception_ptr(DistNetworkError(str(what, " failed: ", e.what())));
      }
      work->finish(err);
    }).detach();
    return work;
  }
};

ProcessGroupGloo::ProcessGroupGloo(std::shared_ptr<Store> store, int rank, int size, GlooOptions options)
    : ProcessGroup(rank, size), impl_(std::make_unique<Impl>()) {
  ANNEAL_CHECK(size >= 1 && rank >= 0 && rank < size, ValueError, "ProcessGroupGloo: rank ", rank,
               " is not in a group of ", size);
  options_.timeout = options.timeout;
  impl_->pg = this;
  impl_->opt = std::move(options);
  gloo::transport::tcp::attr attr;
  if (!impl_->opt.iface.empty()) attr.iface = impl_->opt.iface;
  else attr.hostname = impl_->opt.hostname;
  try {
    impl_->device = gloo::transport::tcp::CreateDevice(attr);
    impl_->ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
    impl_->ctx->setTimeout(options_.timeout);
    GlooStore gs(store);
    impl_->ctx->connectFullMesh(gs, impl_->device);
  } catch (const gloo::Exception& e) {
    throw DistNetworkError(str("gloo: rank ", rank, " of ", size, " could not connect to its peers within ",
                               options_.timeout.count(), " ms: ", e.what()));
  } catch (const DistStoreError& e) {
    throw DistStoreError(str("gloo: rank ", rank, " of ", size, " did not meet its peers in the store: ", e.what()));
  }
  impl_->worker = std::thread([this] {
    pthread_setname_np(pthread_self(), "anneal-gloo");  // named in top -H, gdb and perf
    impl_->loop();
  });
}

ProcessGroupGloo::~ProcessGroupGloo() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
}

WorkPtr ProcessGroupGloo::all_reduce(Tensor& tensor, ReduceOp op) {
  check_tensor(tensor, "all_reduce");
  const DType dt = tensor.dtype();
  ANNEAL_CHECK(op != ReduceOp::Avg || is_floating(dt), TypeError, "all_reduce: ReduceOp.AVG needs a floating tensor, got ",
               dtype_name(dt));
  Impl::Task t;
  t.fingerprint[0] = 0;
  t.fingerprint[1] = dtype_code(dt);
  t.fingerprint[2] = tensor.numel();
  t.fingerprint[3] = static_cast<int64_t>(op);
  t.describe = str("all_reduce(", reduce_op_name(op), ") of ", describe_tensor(tensor));
  Tensor keep = tensor;
  auto ctx = impl_->ctx;
  const size_t n = static_cast<size_t>(tensor.numel()), es = element_size(dt);
  const int world = size();
  t.run = [this, keep, ctx, n, es, dt, op, world](uint32_t tag) {
    if (n == 0 || world == 1) return;
    void* p = keep.data_ptr();
    with_elem(es, [&](auto e) {
      using E = decltype(e);
      gloo::AllreduceOptions o(ctx);
      o.setOutput(static_cast<E*>(p), n);
      o.setReduceFunction(reduce_fn(dt, op));
      // The ring: Gloo's bcube is 1.3-2x faster below 4 MiB here, but its waits ignore the
      // timeout (a stopped peer would hang it forever), so it is not used.
      o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
      o.setTag(tag);
      o.setTimeout(timeout());
      gloo::allreduce(o);
    });
    if (op == ReduceOp::Avg) scale(p, n, dt, 1.0 / world);
  };
  return impl_->enqueue(std::move(t), "all_reduce");
}

WorkPtr ProcessGroupGloo::broadcast(Tensor& tensor, int root) {
  check_tensor(tensor, "broadcast");
  check_rank(root, "broadcast", "root");
  Impl::Task t;
  t.fingerprint[0] = 1;
  t.fingerprint[1] = dtype_code(tensor.dtype());
  t.fingerprint[2] = tensor.numel();
  t.fingerprint[3] = root;
  t.describe = str("broadcast from ", root, " of ", describe_tensor(tensor));
  Tensor keep = tensor;
  auto ctx = impl_->ctx;
  const size_t n = static_cast<size_t>(tensor.numel()), es = element_size(tensor.dtype());
  t.run = [this, keep, ctx, n, es, root](uint32_t tag) {
    if (n == 0 || size() == 1) return;
    with_elem(es, [&](auto e) {
      using E = decltype(e);
      gloo::BroadcastOptions o(ctx);
      o.setOutput(static_cast<E*>(keep.data_ptr()), n);
      o.setRoot(root);
      o.setTag(tag);
      o.setTimeout(timeout());
      gloo::broadcast(o);
    });
  };
  return impl_->enqueue(std::move(t), "broadcast");
}

WorkPtr ProcessGroupGloo::all_gather_into_tensor(Tensor& output, const Tensor& input) {
  check_tensor(input, "all_gather");
  check_tensor(output, "all_gather");
  ANNEAL_CHECK(output.dtype() == input.dtype(), TypeError, "all_gather: output is ", dtype_name(output.dtype()),
               ", input ", dtype_name(input.dtype()));
  ANNEAL_CHECK(output.numel() == input.numel() * size(), ValueError, "all_gather: the output has ", output.numel(),
               " elements; ", size(), " ranks x ", input.numel(), " = ", input.numel() * size(), " expected");
  Impl::Task t;
  t.fingerprint[0] = 2;
  t.fingerprint[1] = dtype_code(input.dtype());
  t.fingerprint[2] = input.numel();
  t.describe = str("all_gather of ", describe_tensor(input));
  Tensor in = input, out = output;
  auto ctx = impl_->ctx;
  const size_t n = static_cast<size_t>(input.numel()), es = element_size(input.dtype());
  t.run = [this, in, out, ctx, n, es](uint32_t tag) {
    if (n == 0) return;
    if (size() == 1) {
      std::memcpy(out.data_ptr(), in.data_ptr(), n * es);
      return;
    }
    with_elem(es, [&](auto e) {
      using E = decltype(e);
      gloo::AllgatherOptions o(ctx);
      o.setInput(static_cast<E*>(in.data_ptr()), n);
      o.setOutput(static_cast<E*>(out.data_ptr()), n * static_cast<size_t>(size()));
      o.setTag(tag);
      o.setTimeout(timeout());
      gloo::allgather(o);
    });
  };
  return impl_->enqueue(std::move(t), "all_gather");
}

WorkPtr ProcessGroupGloo::reduce_scatter_tensor(Tensor& output, const Tensor& input, ReduceOp op) {
  check_tensor(input, "reduce_scatter");
  check_tensor(output, "reduce_scatter");
  const DType dt = input.dtype();
  ANNEAL_CHECK(output.dtype() == dt, TypeError, "reduce_scatter: output is ", dtype_name(output.dtype()), ", input ",
               dtype_name(dt));
  ANNEAL_CHECK(input.numel() == output.numel() * size(), ValueError, "reduce_scatter: the input has ", input.numel(),
               " elements; ", size(), " ranks x ", output.numel(), " = ", output.numel() * size(), " expected");
  ANNEAL_CHECK(op != ReduceOp::Avg || is_floating(dt), TypeError,
               "reduce_scatter: ReduceOp.AVG needs a floating tensor, got ", dtype_name(dt));
  Impl::Task t;
  t.fingerprint[0] = 3;
  t.fingerprint[1] = dtype_code(dt);
  t.fingerprint[2] = output.numel();
  t.fingerprint[3] = static_cast<int64_t>(op);
  t.describe = str("reduce_scatter(", reduce_op_name(op), ") of ", describe_tensor(input));
  Tensor in = input, out = output;
  auto ctx = impl_->ctx;
  const size_t n = static_cast<size_t>(output.numel()), es = element_size(dt);
  const int world = size();
  t.run = [this, in, out, ctx, n, es, dt, op, world](uint32_t tag) {
    if (n == 0) return;
    // Every rank sends chunk j to rank j (all-to-all) and reduces what it received: the
    // bytes moved equal a ring reduce-scatter's.
    std::vector<char> got(n * es * static_cast<size_t>(world));
    if (world == 1) {
      std::memcpy(got.data(), in.data_ptr(), got.size());
    } else {
      with_elem(es, [&](auto e) {
        using E = decltype(e);
        gloo::AlltoallOptions o(ctx);
        o.setInput(static_cast<E*>(in.data_ptr()), n * static_cast<size_t>(world));
        o.setOutput(reinterpret_cast<E*>(got.data()), n * static_cast<size_t>(world));
        o.setTag(tag);
        o.setTimeout(timeout());
        gloo::alltoall(o);
      });
    }
    char* o = static_cast<char*>(out.data_ptr());
    std::memcpy(o, got.data(), n * es);
    ReduceFn f = reduce_fn(dt, op);
    for (int r = 1; r < world; ++r) f(o, o, got.data() + static_cast<size_t>(r) * n * es, n);
    if (op == ReduceOp::Avg) scale(o, n, dt, 1.0 / world);
  };
  return impl_->enqueue(std::move(t), "reduce_scatter");
}

WorkPtr ProcessGroupGloo::barrier() {
  Impl::Task t;
  t.fingerprint[0] = 4;
  t.describe = "barrier";
  auto ctx = impl_->ctx;
  t.run = [this, ctx](uint32_t tag) {
    if (size() == 1) return;
    gloo::BarrierOptions o(ctx);
    o.setTag(tag);
    o.setTimeout(timeout());
    gloo::barrier(o);
  };
  return impl_->enqueue(std::move(t), "barrier");
}

WorkPtr ProcessGroupGloo::send(const Tensor& tensor, int dst, int tag) {
  check_tensor(tensor, "send");
  check_rank(dst, "send", "destination");
  ANNEAL_CHECK(dst != rank(), ValueError, "send: a rank cannot send to itself (rank ", dst, ")");
  ANNEAL_CHECK(tag >= 0, ValueError, "send: tag must be non-negative, got ", tag);
  return impl_->post_p2p(tensor, dst, tag, true, str("send to ", dst, " (tag ", tag, ") of ", describe_tensor(tensor)));
}

WorkPtr ProcessGroupGloo::recv(Tensor& tensor, int src, int tag) {
  check_tensor(tensor, "recv");
  check_rank(src, "recv", "source");
  ANNEAL_CHECK(src != rank(), ValueError, "recv: a rank cannot receive from itself (rank ", src, ")");
  ANNEAL_CHECK(tag >= 0, ValueError, "recv: tag must be non-negative, got ", tag);
  return impl_->post_p2p(tensor, src, tag, false, str("recv from ", src, " (tag ", tag, ") of ", describe_tensor(tensor)));
}

#endif  // ANNEAL_WITH_GLOO

}  // namespace anneal::distributed
