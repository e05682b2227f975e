#include "data/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/philox.h"

namespace anneal::data {

namespace {
uint64_t stream_key(uint64_t seed, int64_t epoch) { return seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch); }
// Uniform in [0, 1) from draw i of the stream `key`.
double uniform(uint64_t i, uint64_t key) {
  philox::U32x4 r = philox::philox4x32_10(i, key);
  return philox::to_unit_double(r.v[0], r.v[1]);
}
}  // namespace

std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const uint64_t key = stream_key(seed, epoch);
  for (int64_t i = n - 1; i > 0; --i) {
    philox::U32x4 r = philox::philox4x32_10(uint64_t(i), key);
    uint64_t x = (uint64_t(r.v[0]) << 32) | r.v[1];
    std::swap(order[size_t(i)], order[size_t(x % uint64_t(i + 1))]);
  }
  return order;
}

SequentialSampler::SequentialSampler(int64_t n) : n_(n) {
  ANNEAL_CHECK(n >= 0, ValueError, "SequentialSampler: size must be non-negative, got ", n);
}
std::vector<int64_t> SequentialSampler::indices(int64_t) const {
  std::vector<int64_t> order(static_cast<size_t>(n_));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

RandomSampler::RandomSampler(int64_t n, uint64_t seed) : n_(n), seed_(seed) {
  ANNEAL_CHECK(n >= 0, ValueError, "RandomSampler: size must be non-negative, got ", n);
}

WeightedRandomSampler::WeightedRandomSampler(std::vector<double> weights, int64_t num_samples, bool replacement,
                                             uint64_t seed)
    : weights_(std::move(weights)), num_samples_(num_samples), replacement_(replacement), seed_(seed) {
  ANNEAL_CHECK(num_samples > 0, ValueError, "WeightedRandomSampler: num_samples must be positive, got ", num_samples);
  int64_t positive = 0;
  for (double w : weights_) {
    ANNEAL_CHECK(std::isfinite(w) && w >= 0, ValueError,
                 "WeightedRandomSampler: weights must be finite and non-negative, got ", w);
    positive += w > 0;
  }
  ANNEAL_CHECK(positive > 0, ValueError, "WeightedRandomSampler: at least one weight must be positive");
  ANNEAL_CHECK(replacement || num_samples <= positive, ValueError, "WeightedRandomSampler: cannot draw ", num_samples,
               " samples without replacement from ", positive, " indices of non-zero weight");
}

std::vector<int64_t> WeightedRandomSampler::indices(int64_t epoch) const {
  const uint64_t key = stream_key(seed_, epoch);
  std::vector<int64_t> out;
  out.reserve(size_t(num_samples_));
  if (replacement_) {
    // Inverse CDF by binary search.
    std::vector<double> cdf(weights_.size());
    std::partial_sum(weights_.begin(), weights_.end(), cdf.begin());
    for (int64_t i = 0; i < num_samples_; ++i) {
      double u = uniform(uint64_t(i), key) * cdf.back();
      auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
      int64_t idx = std::min<int64_t>(it - cdf.begin(), int64_t(cdf.size()) - 1);
      while (weights_[size_t(idx)] == 0) --idx;  // u landed exactly on a zero-width step's edge
      out.push_back(idx);
    }
  } else {
    // Exponential-race keys (Efraimidis-Spirakis): the num_samples largest u^(1/w) are a
    // weighted sample without replacement, visited largest key first.
    std::vector<std::pair<double, int64_t>> keys;
    for (size_t i = 0; i < weights_.size(); ++i)
      if (weights_[i] > 0) keys.emplace_back(std::log(uniform(i, key) + 1e-300) / weights_[i], int64_t(i));
    std::partial_sort(keys.begin(), keys.begin() + num_samples_, keys.end(), std::greater<>());
    for (int64_t i = 0; i < num_samples_; ++i) out.push_back(keys[size_t(i)].second);
  }
  return out;
}

DistributedSampler::DistributedSampler(int64_t n, int64_t world_size, int64_t rank, bool shuffle, uint64_t seed,
                                       bool drop_last)
    : n_(n), world_(world_size), rank_(rank), shuffle_(shuffle), drop_last_(drop_last), seed_(seed) {
  ANNEAL_CHECK(world_size > 0, ValueError, "DistributedSampler: world_size must be positive, got ", world_size);
  ANNEAL_CHECK(rank >= 0 && rank < world_size, ValueError, "DistributedSampler: rank ", rank,
               " is outside [0, world_size = ", world_size, ")");
  ANNEAL_CHECK(n >= 0, ValueError, "DistributedSampler: dataset size must be non-negative, got ", n);
  per_rank_ = drop_last ? n / world_size : (n + world_size - 1) / world_size;
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> order = shuffle_ ? permutation(n_, seed_, epoch) : SequentialSampler(n_).indices(epoch);
  const size_t total = size_t(per_rank_ * world_);
  if (order.size() > total) {
    order.resize(total);
  } else if (!order.empty()) {
    for (size_t i = 0; order.size() < total; ++i) order.push_back(order[i]);  // pad by repeating the start
  }
  std::vector<int64_t> mine;
  for (size_t i = size_t(rank_); i < order.size(); i += size_t(world_)) mine.push_back(order[i]);
  return mine;
}

}  // namespace anneal::data
