// Samplers: orders against hand-computed PyTorch DistributedSampler results, weighted
// frequencies, seeds and epochs; the DataLoader driven by a sampler; streams.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "anneal.h"

using namespace anneal;
using namespace anneal::data;

namespace {

using Idx = std::vector<int64_t>;

TEST(Sampler, SequentialAndRandom) {
  EXPECT_EQ(SequentialSampler(4).indices(3), (Idx{0, 1, 2, 3}));
  RandomSampler r(100, 7);
  Idx a = r.indices(0), b = r.indices(1);
  EXPECT_EQ(a, RandomSampler(100, 7).indices(0));  // the seed and epoch decide
  EXPECT_NE(a, b);
  EXPECT_NE(a, RandomSampler(100, 8).indices(0));
  std::sort(a.begin(), a.end());
  EXPECT_EQ(a, SequentialSampler(100).indices(0));  // a permutation
}

TEST(Sampler, DistributedMatchesPyTorchWithoutShuffle) {
  // torch.utils.data.DistributedSampler(range(10), num_replicas=4, rank=r, shuffle=False)
  EXPECT_EQ(DistributedSampler(10, 4, 0, false).indices(0), (Idx{0, 4, 8}));
  EXPECT_EQ(DistributedSampler(10, 4, 1, false).indices(0), (Idx{1, 5, 9}));
  EXPECT_EQ(DistributedSampler(10, 4, 2, false).indices(0), (Idx{2, 6, 0}));
  EXPECT_EQ(DistributedSampler(10, 4, 3, false).indices(0), (Idx{3, 7, 1}));
  // drop_last=True cuts to 8
  EXPECT_EQ(DistributedSampler(10, 4, 3, false, 0, true).indices(0), (Idx{3, 7}));
  // fewer examples than ranks: the list repeats
  EXPECT_EQ(DistributedSampler(2, 5, 4, false).indices(0), (Idx{0}));
  EXPECT_EQ(DistributedSampler(10, 4, 0, false).size(), 3);
}

TEST(Sampler, DistributedRanksPartitionOneShuffle) {
  const int64_t n = 103, world = 3;
  std::multiset<int64_t> all;
  for (int64_t r = 0; r < world; ++r)
    for (int64_t i : DistributedSampler(n, world, r, true, 5).indices(2)) all.insert(i);
  EXPECT_EQ(int64_t(all.size()), 105);  // padded to a multiple of 3
  for (int64_t i = 0; i < n; ++i) EXPECT_GE(all.count(i), 1u) << i;
  EXPECT_NE(DistributedSampler(n, world, 0, true, 5).indices(2), DistributedSampler(n, world, 0, true, 5).indices(3));
  EXPECT_THROW(DistributedSampler(10, 2, 2), ValueError);
  EXPECT_THROW(DistributedSampler(10, 0, 0), ValueError);
}

TEST(Sampler, WeightedFrequenciesFollowTheWeights) {
  WeightedRandomSampler s({1, 0, 3, 6}, 100000, true, 3);
  Idx idx = s.indices(0);
  std::vector<double> count(4);
  for (int64_t i : idx) count[size_t(i)] += 1;
  EXPECT_EQ(count[1], 0);
  EXPECT_NEAR(count[0] / 1e5, 0.1, 0.005);
  EXPECT_NEAR(count[2] / 1e5, 0.3, 0.005);
  EXPECT_NEAR(count[3] / 1e5, 0.6, 0.005);
  // Without replacement: distinct, never a zero-weight index, heavier ones first more often.
  Idx w = WeightedRandomSampler({1, 0, 3, 6}, 3, false, 3).indices(0);
  EXPECT_EQ(std::set<int64_t>(w.begin(), w.end()), (std::set<int64_t>{0, 2, 3}));
  int first_is_heaviest = 0;
  for (int e = 0; e < 1000; ++e) first_is_heaviest += WeightedRandomSampler({1, 0, 3, 6}, 2, false, 3).indices(e)[0] == 3;
  EXPECT_NEAR(first_is_heaviest / 1000.0, 0.6, 0.05);
  EXPECT_THROW(WeightedRandomSampler({1, 0}, 2, false), ValueError);
  EXPECT_THROW(WeightedRandomSampler({-1, 2}, 2), ValueError);
  EXPECT_THROW(WeightedRandomSampler({0, 0}, 2), ValueError);
}

TEST(Sampler, DrivesTheDataLoader) {
  auto ds = std::make_shared<TensorDataset>(arange(10).reshape({10, 1}), arange(10));
  for (int workers : {0, 2}) {
    DataLoader loader(ds, {.batch_size = 2, .num_workers = workers});
    DataLoaderOptions o{.batch_size = 2, .sampler = std::make_shared<DistributedSampler>(10, 4, 2, false),
                        .num_workers = workers};
    DataLoader dl(ds, o);
    EXPECT_EQ(dl.num_batches(), 2);
    Batch b;
    Idx seen;
    while (dl.next(b))
      for (int64_t i = 0; i < b.target.numel(); ++i) seen.push_back(b.target[i].item<int64_t>());
    EXPECT_EQ(seen, (Idx{2, 6, 0}));
  }
  struct Bad : Sampler {
    Idx indices(int64_t) const override { return {0, 11}; }
    int64_t size() const override { return 2; }
  };
  DataLoader bad(ds, {.batch_size = 2, .sampler = std::make_shared<Bad>()});
  Batch b;
  EXPECT_THROW(bad.next(b), IndexError);
}

TEST(DataLoader, CustomCollateBuildsEachBatch) {
  auto ds = std::make_shared<TensorDataset>(arange(10).reshape({10, 1}), arange(10));
  DataLoaderOptions o{.batch_size = 4, .num_workers = 2};
  // pads every batch to 4 examples with -1 targets, and records the batch size
  o.collate = [](std::vector<Batch> ex) {
    TensorList xs, ys;
    for (auto& e : ex) xs.push_back(e.data), ys.push_back(e.target);
    while (xs.size() < 4) xs.push_back(zeros({1}, DType::Int64)), ys.push_back(full({}, -1, DType::Int64));
    return Batch{stack(xs), stack(ys)};
  };
  DataLoader dl(ds, o);
  Batch b;
  std::vector<Idx> got;
  while (dl.next(b)) {
    ASSERT_EQ(b.target.numel(), 4);
    Idx t;
    for (int64_t i = 0; i < 4; ++i) t.push_back(b.target[i].item<int64_t>());
    got.push_back(t);
  }
  EXPECT_EQ(got, (std::vector<Idx>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, -1, -1}}));
}

// Counts 0..n-1 as a stream, optionally failing at `fail_at`.
class Counter : public IterableDataset {
 public:
  Counter(int64_t n, int64_t fail_at = -1) : n_(n), fail_at_(fail_at) {}
  void start(int64_t epoch) override { i_ = 0, epoch_ = epoch; }
  bool next(Batch& ex) override {
    if (i_ == fail_at_) throw ValueError("record " + std::to_string(i_) + " is corrupt");
    if (i_ >= n_) return false;
    ex = {full({2}, double(i_ + 100 * epoch_)), scalar_tensor(i_, DType::Int64)};
    ++i_;
    return true;
  }

 private:
  int64_t n_, fail_at_, i_ = 0, epoch_ = 0;
};

Idx drain(DataLoader& dl, std::vector<int64_t>* sizes = nullptr) {
  Idx out;
  Batch b;
  while (dl.next(b)) {
    if (sizes) sizes->push_back(b.data.size(0));
    for (int64_t i = 0; i < b.target.numel(); ++i) out.push_back(b.target[i].item<int64_t>());
  }
  return out;
}

TEST(Stream, BatchesInStreamOrderWithAnyWorkers) {
  for (int workers : {0, 1, 3}) {
    for (bool drop_last : {false, true}) {
      DataLoader dl(std::make_shared<Counter>(7), {.batch_size = 3, .drop_last = drop_last, .num_workers = workers});
      EXPECT_EQ(dl.num_batches(), -1);
      std::vector<int64_t> sizes;
      Idx got = drain(dl, &sizes);
      Idx want = drop_last ? Idx{0, 1, 2, 3, 4, 5} : Idx{0, 1, 2, 3, 4, 5, 6};
      EXPECT_EQ(got, want) << workers;
      EXPECT_EQ(sizes.back(), drop_last ? 3 : 1);
      // A new epoch restarts the stream.
      dl.start_epoch(1);
      Batch b;
      ASSERT_TRUE(dl.next(b));
      EXPECT_EQ(b.data[0][0].item<double>(), 100.0);
    }
  }
}

TEST(Stream, SkipAndErrors) {
  DataLoader dl(std::make_shared<Counter>(7), {.batch_size = 2, .num_workers = 1});
  dl.skip(2);
  EXPECT_EQ(drain(dl), (Idx{4, 5, 6}));
  EXPECT_THROW(dl.skip(5), ValueError);
  for (int workers : {0, 1}) {
    DataLoader bad(std::make_shared<Counter>(9, 5), {.batch_size = 2, .num_workers = workers});
    Batch b;
    ASSERT_TRUE(bad.next(b));
    ASSERT_TRUE(bad.next(b));
    try {
      bad.next(b);
      FAIL() << "expected the stream's error";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("record 5 is corrupt"), std::string::npos);
    }
  }
  EXPECT_THROW(DataLoader(std::make_shared<Counter>(3), {.batch_size = 2, .shuffle = true}), ValueError);
}

}  // namespace
