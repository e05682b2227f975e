#pragma once
// Samplers: the order in which a DataLoader visits a dataset's examples in each epoch.
// Every sampler is a pure function of (its settings, seed, epoch), so a run resumes
// with the same order and the order never depends on the number of workers.
#include <cstdint>
#include <vector>

namespace anneal::data {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The indices of epoch `epoch`, in visiting order.
  virtual std::vector<int64_t> indices(int64_t epoch) const = 0;
  // How many indices an epoch has.
  virtual int64_t size() const = 0;
};

// A seeded permutation of 0..n-1 (Fisher-Yates on the Philox stream of (seed, epoch)).
std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch);

class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(int64_t n);
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return n_; }

 private:
  int64_t n_;
};

class RandomSampler : public Sampler {
 public:
  RandomSampler(int64_t n, uint64_t seed);
  std::vector<int64_t> indices(int64_t epoch) const override { return permutation(n_, seed_, epoch); }
  int64_t size() const override { return n_; }

 private:
  int64_t n_;
  uint64_t seed_;
};

// Draws num_samples indices with probability proportional to `weights` (which need not
// sum to one), with or without replacement (torch.utils.data.WeightedRandomSampler).
class WeightedRandomSampler : public Sampler {
 public:
  WeightedRandomSampler(std::vector<double> weights, int64_t num_samples, bool replacement = true, uint64_t seed = 0);
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return num_samples_; }

 private:
  std::vector<double> weights_;
  int64_t num_samples_;
  bool replacement_;
  uint64_t seed_;
};

// One rank's share of the dataset for data-parallel training, as PyTorch's
// DistributedSampler: every rank shuffles with the same (seed, epoch); the order is
// padded by repeating its start (or, with drop_last, cut) to a multiple of world_size;
// rank r takes positions r, r + world_size, ...
class DistributedSampler : public Sampler {
 public:
  DistributedSampler(int64_t n, int64_t world_size, int64_t rank, bool shuffle = true, uint64_t seed = 0,
                     bool drop_last = false);
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return per_rank_; }

 private:
  int64_t n_, world_, rank_, per_rank_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
};

}  // namespace anneal::data
