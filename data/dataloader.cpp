#include "data/dataloader.h"

#include <algorithm>
#include <numeric>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/philox.h"
#include "ops/ops.h"

namespace anneal::data {

Batch Dataset::get_batch(const std::vector<int64_t>& indices) const {
  TensorList xs, ys;
  for (int64_t i : indices) {
    Batch b = get(i);
    xs.push_back(b.data);
    if (b.target.defined()) ys.push_back(b.target);
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

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), opt_(std::move(options)) {
  ANNEAL_CHECK(dataset_ != nullptr, ValueError, "DataLoader: dataset is null");
  ANNEAL_CHECK(opt_.batch_size > 0, ValueError, "DataLoader: batch_size should be a positive integer, got ",
               opt_.batch_size);
  ANNEAL_CHECK(opt_.num_workers >= 0, ValueError, "DataLoader: num_workers must be non-negative, got ",
               opt_.num_workers);
  ANNEAL_CHECK(opt_.prefetch >= 1, ValueError, "DataLoader: prefetch must be at least 1, got ", opt_.prefetch);
}

DataLoader::~DataLoader() { stop_workers(); }

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_->size(), b = opt_.batch_size;
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
}

void DataLoader::start_epoch(int64_t epoch) {
  stop_workers();
  epoch_ = epoch;
  next_batch_ = 0;
  const int64_t n = dataset_->size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (opt_.shuffle) {
    // Fisher-Yates driven by the Philox stream of (seed, epoch): the same permutation
    // on any machine and with any number of workers.
    const uint64_t key = opt_.seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch);
    for (int64_t i = n - 1; i > 0; --i) {
      philox::U32x4 r = philox::philox4x32_10(uint64_t(i), key);
      uint64_t x = (uint64_t(r.v[0]) << 32) | r.v[1];
      std::swap(order[size_t(i)], order[size_t(x % uint64_t(i + 1))]);
    }
  }
  plan_.clear();
  for (int64_t b = 0; b < num_batches(); ++b) {
    int64_t s = b * opt_.batch_size, e = std::min(n, s + opt_.batch_size);
    plan_.emplace_back(order.begin() + s, order.begin() + e);
  }
  next_to_build_ = 0;
  for (int w = 0; w < opt_.num_workers; ++w) {
    workers_.emplace_back([this] {
      NoGradGuard ng;
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
        } catch (...) {
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
  Batch batch = dataset_->get_batch(plan_[size_t(b)]);
  if (opt_.transform) batch = opt_.transform(std::move(batch), opt_.seed * 1000003ull + uint64_t(epoch_) * 65537ull + uint64_t(b));
  return batch;
}

void DataLoader::skip(int64_t batches) {
  ANNEAL_CHECK(batches >= 0 && batches <= int64_t(plan_.size()), ValueError, "DataLoader.skip: ", batches,
               " batches is outside this epoch's ", plan_.size());
  int64_t epoch = epoch_;
  start_epoch(epoch);
  next_batch_ = batches;
  std::lock_guard<std::mutex> l(mu_);
  next_to_build_ = batches;
}

bool DataLoader::next(Batch& out) {
  if (plan_.empty() && next_batch_ == 0 && workers_.empty()) start_epoch(epoch_);
  if (next_batch_ >= int64_t(plan_.size())) return false;
  if (opt_.num_workers == 0) {
    out = make_batch(next_batch_++);
    return true;
  }
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return ready_.count(next_batch_) || (error_ && error_batch_ <= next_batch_); });
  auto it = ready_.find(next_batch_);
  if (it == ready_.end()) {
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

}  // namespace anneal::data
