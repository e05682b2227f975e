#include "data/dataloader.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <numeric>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "runtime/device.h"
#include "ops/ops.h"

namespace anneal::data {

Batch Dataset::get_batch(const std::vector<int64_t>& indices) const {
  TensorList xs, ys;
  for (int64_t i : indices) {
    Batch b = get(i);
    ANNEAL_CHECK(b.data.defined(), ValueError, "Dataset: example ", i, " has no data");
    xs.push_back(b.data);
    if (b.target.defined()) ys.push_back(b.target);
    // a batch never comes back with fewer targets than examples
    ANNEAL_CHECK(ys.empty() || ys.size() == xs.size(), ValueError, "Dataset: example ", i,
                 b.target.defined() ? " has a target but earlier examples of the batch do not"
                                    : " has no target but earlier examples of the batch do");
  }
  return {stack(xs), ys.empty() ? Tensor() : stack(ys)};
}

TensorDataset::TensorDataset(Tensor data, Tensor target) : data_(std::move(data)), target_(std::move(target)) {
  ANNEAL_CHECK(data_.defined() && data_.dim() >= 1, ValueError, "TensorDataset: data must have at least 1 dim");
  ANNEAL_CHECK(!target_.defined() || (target_.dim() >= 1 && target_.size(0) == data_.size(0)), ValueError,
               "TensorDataset: data has ", data_.size(0), " examples but target has ",
               target_.defined() && target_.dim() ? target_.size(0) : 0);
}

Batch TensorDataset::get(int64_t i) const {
  ANNEAL_CHECK(i >= 0 && i < size(), IndexError, "TensorDataset: index ", i, " is out of range for ", size(),
               " examples");
  return {data_[i], target_.defined() ? target_[i] : Tensor()};
}

Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  Tensor idx = tensor(indices, {int64_t(indices.size())});
  return {index_select(data_, 0, idx), target_.defined() ? index_select(target_, 0, idx) : Tensor()};
}

namespace {
void check_options(const DataLoaderOptions& opt) {
  ANNEAL_CHECK(opt.batch_size > 0, ValueError, "DataLoader: batch_size should be a positive integer, got ",
               opt.batch_size);
  ANNEAL_CHECK(opt.num_workers >= 0, ValueError, "DataLoader: num_workers must be non-negative, got ",
               opt.num_workers);
  ANNEAL_CHECK(opt.prefetch >= 1, ValueError, "DataLoader: prefetch must be at least 1, got ", opt.prefetch);
  if (opt.pin_memory && !pinned_host_allocator()) {
    static std::once_flag warned;
    std::call_once(warned, [] {
      std::fprintf(stderr, "anneal: DataLoader pin_memory=true but %s; batches stay in ordinary memory\n",
                   cuda_is_built() ? "no CUDA device is available" : "anneal was built without CUDA");
    });
  }
}
}  // namespace

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), opt_(std::move(options)) {
  ANNEAL_CHECK(dataset_ != nullptr, ValueError, "DataLoader: dataset is null");
  check_options(opt_);
}

DataLoader::DataLoader(std::shared_ptr<IterableDataset> stream, DataLoaderOptions options)
    : stream_(std::move(stream)), opt_(std::move(options)) {
  ANNEAL_CHECK(stream_ != nullptr, ValueError, "DataLoader: dataset is null");
  check_options(opt_);
  ANNEAL_CHECK(!opt_.shuffle && !opt_.sampler, ValueError,
               "DataLoader: shuffle and sampler do not apply to a stream (IterableDataset); shuffle inside it");
}

DataLoader::~DataLoader() {
  if (!abandoned_) stop_workers();
}

void DataLoader::set_wait_hook(std::function<bool()> interrupted, std::chrono::milliseconds period) {
  std::lock_guard<std::mutex> api(api_mu_);
  wait_hook_ = std::move(interrupted);
  wait_period_ = period;
}

bool DataLoader::shutdown(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  stopping_ = true;
  cv_.notify_all();
  if (!cv_.wait_for(l, timeout, [&] { return live_workers_ == 0; })) {
    for (auto& t : workers_) t.detach();
    workers_.clear();
    abandoned_ = true;
    return false;
  }
  l.unlock();
  stop_workers();
  return true;
}

int64_t DataLoader::num_batches() const {
  if (stream_) return -1;
  const int64_t n = opt_.sampler ? opt_.sampler->size() : dataset_->size(), b = opt_.batch_size;
  return opt_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> l(mu_);
  stopping_ = false;
  ready_.clear();
  error_ = nullptr;
  error_batch_ = -1;
  stream_done_ = false;
  stream_batches_ = 0;
}

void DataLoader::start_epoch(int64_t epoch) {
  std::lock_guard<std::mutex> api(api_mu_);
  start_epoch_locked(epoch, 0);
}

// A worker's body; a thread that the runtime unwinds (pthread_cancel, or Python ending
// while the thread waits for the GIL) must not have that unwinding swallowed, or the
// process aborts with "FATAL: exception not rethrown".
#define ANNEAL_RETHROW_FORCED_UNWIND \
  catch (abi::__forced_unwind&) {    \
    throw;                           \
  }

// Counts a worker out on every way it leaves (return, exception, forced unwind), for
// shutdown()'s timed wait.
struct DataLoader::WorkerExit {
  DataLoader& d;
  explicit WorkerExit(DataLoader& loader) : d(loader) {}
  ~WorkerExit() {
    std::lock_guard<std::mutex> l(d.mu_);
    --d.live_workers_;
    d.cv_.notify_all();
  }
};

void DataLoader::start_epoch_locked(int64_t epoch, int64_t first_batch) {
  ANNEAL_CHECK(!abandoned_, ValueError, "DataLoader: the loader was shut down");
  stop_workers();
  started_ = true;
  epoch_ = epoch;
  next_batch_ = first_batch;
  next_to_build_ = first_batch;
  // Workers start with the first next(), not here: a skip() that follows (resuming
  // mid-epoch) then builds none of the batches it skips.
  workers_pending_ = opt_.num_workers > 0;
  if (stream_) {
    stream_->start(epoch);
    return;
  }
  const int64_t n = dataset_->size();
  std::vector<int64_t> order = opt_.sampler  ? opt_.sampler->indices(epoch)
                               : opt_.shuffle ? permutation(n, opt_.seed, epoch)
                                              : SequentialSampler(n).indices(epoch);
  for (int64_t i : order)
    ANNEAL_CHECK(i >= 0 && i < n, IndexError, "DataLoader: the sampler gave index ", i, " for a dataset of ", n,
                 " examples");
  plan_.clear();
  for (int64_t b = 0; b < num_batches(); ++b) {
    int64_t s = b * opt_.batch_size, e = std::min(int64_t(order.size()), s + opt_.batch_size);
    plan_.emplace_back(order.begin() + s, order.begin() + e);
  }
  ANNEAL_CHECK(first_batch >= 0 && first_batch <= int64_t(plan_.size()), ValueError, "DataLoader.skip: ", first_batch,
               " batches is outside this epoch's ", plan_.size());
}

void DataLoader::launch_workers() {
  workers_pending_ = false;
  if (stream_) {
    start_stream_worker();
    return;
  }
  if (next_to_build_ >= int64_t(plan_.size())) return;  // nothing left to build
  {
    std::lock_guard<std::mutex> l(mu_);
    live_workers_ = opt_.num_workers;
  }
  for (int w = 0; w < opt_.num_workers; ++w) {
    workers_.emplace_back([this] {
      NoGradGuard ng;
      const WorkerExit exit(*this);
      while (true) {
        int64_t b;
        {
          std::unique_lock<std::mutex> l(mu_);
          cv_.wait(l, [&] {
            return stopping_ || error_ ||
                   (next_to_build_ < int64_t(plan_.size()) &&
                    next_to_build_ < next_batch_ + int64_t(opt_.prefetch) * opt_.num_workers);
          });
          if (stopping_ || error_ || next_to_build_ >= int64_t(plan_.size())) return;
          b = next_to_build_++;
        }
        try {
          Batch batch = make_batch(b);
          std::lock_guard<std::mutex> l(mu_);
          ready_[b] = std::move(batch);
        }
        ANNEAL_RETHROW_FORCED_UNWIND
        catch (...) {
          std::lock_guard<std::mutex> l(mu_);
          if (!error_) {
            error_ = std::current_exception();
            error_batch_ = b;
          }
        }
        cv_.notify_all();
      }
    });
  }
}

Batch DataLoader::make_batch(int64_t b) const {
  const std::vector<int64_t>& indices = plan_[size_t(b)];
  if (!opt_.collate) return transformed(dataset_->get_batch(indices), b);
  std::vector<Batch> examples;
  examples.reserve(indices.size());
  for (int64_t i : indices) examples.push_back(dataset_->get(i));
  return transformed(opt_.collate(std::move(examples)), b);
}

Batch DataLoader::transformed(Batch batch, int64_t b) const {
  if (opt_.transform) batch = opt_.transform(std::move(batch), opt_.seed * 1000003ull + uint64_t(epoch_) * 65537ull + uint64_t(b));
  if (opt_.pin_memory && pinned_host_allocator()) {
    for (Tensor* t : {&batch.data, &batch.target})
      if (t->defined() && t->device().is_cpu()) *t = t->pin_memory();
  }
  return batch;
}

bool DataLoader::pull_stream_batch(Batch& out) {
  std::vector<Batch> examples;
  Batch example;
  while (int64_t(examples.size()) < opt_.batch_size && stream_->next(example)) examples.push_back(std::move(example));
  if (examples.empty() || (opt_.drop_last && int64_t(examples.size()) < opt_.batch_size)) return false;
  if (opt_.collate) {
    out = opt_.collate(std::move(examples));
    return true;
  }
  TensorList xs, ys;
  for (auto& e : examples) {
    xs.push_back(e.data);
    if (e.target.defined()) ys.push_back(e.target);
  }
  ANNEAL_CHECK(ys.empty() || ys.size() == xs.size(), ValueError,
               "DataLoader: some examples of the stream have a target and some do not");
  out = {stack(xs), ys.empty() ? Tensor() : stack(ys)};
  return true;
}

// One producer keeps the stream's order; it runs up to `prefetch` batches ahead.
void DataLoader::start_stream_worker() {
  if (opt_.num_workers == 0) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    live_workers_ = 1;
  }
  workers_.emplace_back([this] {
    NoGradGuard ng;
    const WorkerExit exit(*this);
    while (true) {
      int64_t b;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return stopping_ || next_to_build_ < next_batch_ + int64_t(opt_.prefetch); });
        if (stopping_) return;
        b = next_to_build_++;
      }
      bool finished = false;
      try {
        Batch batch;
        bool more = pull_stream_batch(batch);
        if (more) batch = transformed(std::move(batch), b);
        std::lock_guard<std::mutex> l(mu_);
        if (!more) {
          stream_done_ = finished = true;
          stream_batches_ = b;
        } else {
          ready_[b] = std::move(batch);
        }
      }
      ANNEAL_RETHROW_FORCED_UNWIND
      catch (...) {
        std::lock_guard<std::mutex> l(mu_);
        error_ = std::current_exception();
        error_batch_ = b;
        finished = true;
      }
      cv_.notify_all();
      if (finished) return;
    }
  });
}

bool DataLoader::next_from_stream(Batch& out) {
  if (opt_.num_workers == 0) {
    if (stream_done_ || !pull_stream_batch(out)) {
      stream_done_ = true;
      return false;
    }
    out = transformed(std::move(out), next_batch_++);
    return true;
  }
  return take_ready(out);
}

bool DataLoader::take_ready(Batch& out) {
  std::unique_lock<std::mutex> l(mu_);
  auto arrived = [&] {
    return ready_.count(next_batch_) || (error_ && error_batch_ <= next_batch_) ||
           (stream_done_ && next_batch_ >= stream_batches_);
  };
  if (!wait_hook_) {
    cv_.wait(l, arrived);
  } else {
    while (!cv_.wait_for(l, wait_period_, arrived)) {
      l.unlock();  // the hook may take other locks (Python's GIL)
      const bool stop = wait_hook_();
      l.lock();
      if (stop && !arrived()) throw Interrupted("DataLoader: interrupted while waiting for a batch");
    }
  }
  auto it = ready_.find(next_batch_);
  if (it == ready_.end()) {
    if (!error_) return false;  // the stream ended
    std::exception_ptr e = error_;
    l.unlock();
    stop_workers();
    std::rethrow_exception(e);
  }
  out = std::move(it->second);
  ready_.erase(it);
  ++next_batch_;
  l.unlock();
  cv_.notify_all();
  return true;
}

void DataLoader::skip(int64_t batches) {
  std::lock_guard<std::mutex> api(api_mu_);
  ANNEAL_CHECK(batches >= 0, ValueError, "DataLoader.skip: batches must be non-negative, got ", batches);
  if (!stream_) {
    start_epoch_locked(epoch_, batches);  // workers start at the first batch kept
    return;
  }
  // A stream can only be read through: its skipped examples are read, but not collated,
  // transformed or pinned, on the calling thread before any worker starts.
  start_epoch_locked(epoch_, 0);
  Batch example;
  for (int64_t i = 0; i < batches; ++i) {
    int64_t got = 0;
    while (got < opt_.batch_size && stream_->next(example)) ++got;
    ANNEAL_CHECK(got > 0 && !(opt_.drop_last && got < opt_.batch_size), ValueError, "DataLoader.skip: the stream ended after ",
                 i, " of ", batches, " batches");
  }
  next_batch_ = next_to_build_ = batches;
}

bool DataLoader::next(Batch& out) {
  std::lock_guard<std::mutex> api(api_mu_);
  return next_locked(out);
}

bool DataLoader::next_locked(Batch& out) {
  if (!started_) start_epoch_locked(epoch_, 0);
  if (workers_pending_) launch_workers();
  if (stream_) return next_from_stream(out);
  if (next_batch_ >= int64_t(plan_.size())) return false;
  if (opt_.num_workers == 0) {
    out = make_batch(next_batch_++);
    return true;
  }
  return take_ready(out);
}

}  // namespace anneal::data
