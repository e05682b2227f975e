// Inputs a hostile user would try: shapes past the inline size, sizes that overflow,
// views past their storage, pooling windows that do not fit, float-to-int conversions,
// malformed safetensors headers, DataLoaders used from two threads or skipped into.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "anneal.h"
#include "core/checked_size.h"
#include "core/directories.h"
#include "core/small_vector.h"
#include "core/tensor_impl.h"

using namespace anneal;

namespace {

// Every operation at every size from 0 to 16 against std::vector, with N = 6 inline.
TEST(SmallVector, MatchesStdVectorAtEverySizeAcrossTheInlineBoundary) {
  using SV = SmallVector<int64_t, 6>;
  auto same = [](const SV& a, const std::vector<int64_t>& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  };
  std::mt19937 rng(1);
  for (size_t n = 0; n <= 16; ++n) {
    SCOPED_TRACE(n);
    SV v;
    std::vector<int64_t> ref;
    for (size_t i = 0; i < n; ++i) v.push_back(int64_t(i * 7)), ref.push_back(int64_t(i * 7));
    ASSERT_TRUE(same(v, ref));
    SV copy(v), assigned;
    assigned = v;
    EXPECT_TRUE(same(copy, ref));
    EXPECT_TRUE(same(assigned, ref));
    SV moved(std::move(copy));
    EXPECT_TRUE(same(moved, ref));
    SV move_assigned;
    move_assigned = std::move(assigned);
    EXPECT_TRUE(same(move_assigned, ref));
    for (size_t pos = 0; pos <= n; ++pos) {  // insert at every position, then erase it again
      SV w(v);
      std::vector<int64_t> r(ref);
      w.insert(w.begin() + pos, -1);
      r.insert(r.begin() + long(pos), -1);
      ASSERT_TRUE(same(w, r));
      w.insert(w.begin() + pos, {5, 6, 7});
      r.insert(r.begin() + long(pos), {5, 6, 7});
      ASSERT_TRUE(same(w, r));
      w.erase(w.begin() + pos);
      r.erase(r.begin() + long(pos));
      ASSERT_TRUE(same(w, r));
    }
    SV grown(v);
    grown.reserve(n + 20);  // growing keeps the elements
    EXPECT_TRUE(same(grown, ref));
    grown.resize(n + 3, 9);
    std::vector<int64_t> r(ref);
    r.resize(n + 3, 9);
    EXPECT_TRUE(same(grown, r));
    SV self(v);
    self.insert(self.begin(), self.begin(), self.end());  // a range from the vector itself
    std::vector<int64_t> rr(ref);
    rr.insert(rr.begin(), ref.begin(), ref.end());
    EXPECT_TRUE(same(self, rr));
    for (int k = 0; k < 50; ++k) {  // random mixes
      const int op = int(rng() % 3);
      if (op == 0) v.push_back(int64_t(rng())), ref.push_back(v.back());
      if (op == 1 && !ref.empty()) v.pop_back(), ref.pop_back();
      if (op == 2) {
        const size_t p = ref.empty() ? 0 : rng() % (ref.size() + 1);
        v.insert(v.begin() + p, 3), ref.insert(ref.begin() + long(p), 3);
      }
      ASSERT_TRUE(same(v, ref));
    }
  }
}

TEST(Shapes, MoreThanSixDimsSurviveEveryShapeOp) {
  Tensor x = ones({2, 3, 4, 5, 1, 2, 3, 2, 1});
  EXPECT_EQ(x.sizes(), (Shape{2, 3, 4, 5, 1, 2, 3, 2, 1}));
  Tensor u = ones({1, 2, 3, 4, 5, 6}).unsqueeze(0).unsqueeze(7);
  EXPECT_EQ(u.sizes(), (Shape{1, 1, 2, 3, 4, 5, 6, 1}));
  EXPECT_EQ(x.sum().item<double>(), 2.0 * 3 * 4 * 5 * 2 * 3 * 2);
  EXPECT_EQ(x.permute({8, 7, 6, 5, 4, 3, 2, 1, 0}).contiguous().sizes(), (Shape{1, 2, 3, 2, 1, 5, 4, 3, 2}));
}

TEST(CheckedSizes, OverflowingCountsAndHugeAllocationsAreErrors) {
  EXPECT_THROW(checked_numel({int64_t(1) << 32, int64_t(1) << 32}, "t"), ValueError);
  EXPECT_EQ(checked_numel({int64_t(1) << 62, 0, int64_t(1) << 62}, "t"), 0);
  EXPECT_THROW(checked_numel({3, -1}, "t"), ValueError);
  EXPECT_THROW(checked_nbytes(int64_t(1) << 62, 4, "t"), OutOfMemoryError);
  EXPECT_EQ(checked_nbytes(10, 8, "t"), 80u);
  EXPECT_THROW(empty({int64_t(1) << 62}), OutOfMemoryError);
  EXPECT_THROW(empty({int64_t(1) << 32, int64_t(1) << 32}), ValueError);
  EXPECT_THROW(eye(int64_t(1) << 31), OutOfMemoryError);
  EXPECT_THROW(arange(0.0, 1e300, 1.0), ValueError);
  EXPECT_THROW(linspace(0, 1, int64_t(1) << 62), OutOfMemoryError);
  EXPECT_THROW(full({int64_t(1) << 40, int64_t(1) << 40}, 1.0), ValueError);
  EXPECT_THROW(ones({3}).expand({int64_t(1) << 40, int64_t(1) << 40, 3}), ValueError);
  EXPECT_THROW(nn::Linear(int64_t(1) << 32, int64_t(1) << 32), ValueError);
  EXPECT_THROW(empty({0, int64_t(1) << 48, int64_t(1) << 40}), ValueError);  // its strides do not fit
}

TEST(CheckedSizes, AViewNeverReachesPastItsStorage) {
  Tensor base = zeros({10});
  EXPECT_NO_THROW(make_view(base, {2, 5}, {5, 1}, 0));
  EXPECT_THROW(make_view(base, {2, 5}, {5, 1}, 1), ValueError);
  EXPECT_THROW(make_view(base, {11}, {1}, 0), ValueError);
  EXPECT_THROW(make_view(base, {2}, {int64_t(1) << 62}, 0), ValueError);
  EXPECT_THROW(make_view(base, {2}, {-1}, 1), ValueError);
  EXPECT_NO_THROW(make_view(base, {0, 100}, {100, 1}, 0));  // no elements, nothing reached
}

TEST(Pooling, WindowsThatDoNotFitAreErrors) {
  Tensor x = ones({1, 1, 2, 2});
  EXPECT_THROW(max_pool2d(x, 3), ValueError);          // kernel larger than the input
  EXPECT_THROW(max_pool2d(ones({1, 1, 2, 2}), 4, 3), ValueError);
  EXPECT_THROW(avg_pool2d(x, 4, 3), ValueError);
  EXPECT_THROW(max_pool2d(ones({1, 1, 4, 4}), 2, 0), ValueError);  // stride 0
  EXPECT_THROW(avg_pool2d(ones({1, 1, 4, 4}), 2, -5), ValueError);
  EXPECT_THROW(nn::MaxPool2d(2, 0), ValueError);
  EXPECT_THROW(max_pool2d(ones({1, 1, 4, 4}), 2, 1, 0, int64_t(1) << 62), ValueError);  // huge dilation
  EXPECT_EQ(max_pool2d(ones({1, 1, 5, 5}), 2).sizes(), (Shape{1, 1, 2, 2}));  // floor, as PyTorch
  EXPECT_EQ(Conv2dGeometry::out_len(2, 0, 1, 4, 3), 0);
  EXPECT_EQ(Conv2dGeometry::out_len(5, 0, 1, 2, 2), 2);
}

TEST(Scalars, FloatToIntRefusesNanInfinityAndOverflow) {
  EXPECT_THROW(full({}, std::nan("")).item<int64_t>(), ValueError);
  EXPECT_THROW(Scalar(INFINITY).to_int(), ValueError);
  EXPECT_THROW(Scalar(1e19).to_int(), ValueError);
  EXPECT_EQ(Scalar(-2.7).to_int(), -2);
  EXPECT_EQ(Scalar(-0x1p63).to_int(), INT64_MIN);
}

std::string tmp(const std::string& n) { return ::testing::TempDir() + "anneal_hard_" + n; }
void write_safetensors(const std::string& path, const std::string& header, const std::string& data) {
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  std::ofstream(path, std::ios::binary) << len << header << data;
}
std::string safetensors_error(const std::string& header, const std::string& data) {
  write_safetensors(tmp("st"), header, data);
  try {
    nn::load_safetensors(tmp("st"));
  } catch (const ValueError& e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(Safetensors, EveryFieldIsValidated) {
  const std::string ok = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  EXPECT_EQ(safetensors_error(ok, "xy"), "(loaded)");
  EXPECT_NE(safetensors_error(std::string(50000, '[') + std::string(50000, ']'), "").find("must be a JSON object"),
            std::string::npos);
  EXPECT_NE(safetensors_error("{\"a\":" + std::string(50000, '['), "").find("nests deeper"), std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "xy")
                .find("twice"),
            std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":["0",2]}})", "xy").find("non-negative integers"),
            std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"U8","shape":[2.5],"data_offsets":[0,2]}})", "xy").find("non-negative integers"),
            std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x")
                .find("overlaps"),
            std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "xy").find("no holes"),
            std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "xy").find("after the last"),
            std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,2]}})", "xy")
                .find("larger than any tensor"),
            std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x07", 2))
                .find("holds byte 7"),
            std::string::npos);
  EXPECT_NE(safetensors_error(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":1}})", "xy").find("unexpected field"),
            std::string::npos);
  EXPECT_NE(safetensors_error("{\"a\xff\":{}}", "").find("malformed header"), std::string::npos);  // not UTF-8
  EXPECT_NE(safetensors_error(R"({"__metadata__":{"k":1}})", "").find("must be a string"), std::string::npos);
  // escapes decode as JSON says: \u00e9 is é (two UTF-8 bytes), \r is a carriage return
  write_safetensors(tmp("esc"), R"({"caf\u00e9\r":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "z");
  EXPECT_EQ(nn::load_safetensors(tmp("esc"))[0].first, "caf\xc3\xa9\r");
  // and what is saved loads back, names with escapes included, in order
  nn::save_safetensors(tmp("rt"), {{"z\"q\\\n\xc3\xa9", ones({2})}, {"a", zeros({1}, DType::Bool)}});
  auto back = nn::load_safetensors(tmp("rt"));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].first, "z\"q\\\n\xc3\xa9");
  EXPECT_EQ(back[1].first, "a");
  EXPECT_THROW(nn::save_safetensors(tmp("bad"), {{"\xff", ones({1})}}), ValueError);
}

TEST(Readers, IdxDeclaringMoreThanItHoldsCostsOnlyWhatArrives) {
  std::string f("\x00\x00\x08\x02\x00\x00\x80\x00\x00\x00\x40\x00", 12);  // 32768 x 16384 bytes declared
  std::ofstream(tmp("idx"), std::ios::binary) << f << "abcd";
  const int64_t before = cpu_allocator()->stats().peak_allocated_bytes;
  try {
    data::read_idx(tmp("idx"));
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cpu_allocator()->stats().peak_allocated_bytes, before);  // no tensor of the declared size was made
  // eight dimensions (past the inline size of a shape) load whole
  std::string eight("\x00\x00\x08\x08", 4);
  for (int d = 0; d < 8; ++d) eight += std::string("\x00\x00\x00", 3) + char(d == 7 ? 2 : 1);
  std::ofstream(tmp("idx8"), std::ios::binary) << eight << "\x05\x09";
  Tensor t = data::read_idx(tmp("idx8"));
  EXPECT_EQ(t.sizes(), (Shape{1, 1, 1, 1, 1, 1, 1, 2}));
  EXPECT_EQ(t.reshape({2})[1].item<int64_t>(), 9);
  EXPECT_THROW(data::read_idx(::testing::TempDir()), ValueError);  // a directory
}

TEST(Readers, TextMustBeStrictUtf8) {
  EXPECT_THROW(data::CharVocab::from_text("ab\xc0\xaf"), ValueError);      // overlong '/'
  EXPECT_THROW(data::CharVocab::from_text("\xed\xa0\x80"), ValueError);    // a surrogate
  EXPECT_THROW(data::CharVocab::from_text("\xf4\x90\x80\x80"), ValueError);  // beyond U+10FFFF
  auto v = data::CharVocab::from_text("na\xc3\xafve \xf0\x9f\x98\x80");
  EXPECT_EQ(v.decode(v.encode("na\xc3\xafve")), "na\xc3\xafve");
}

class CountingDataset : public data::Dataset {
 public:
  int64_t size() const override { return 40; }
  data::Batch get(int64_t i) const override {
    ++gets;
    return {full({2}, double(i)), full({}, double(i), DType::Int64)};
  }
  mutable std::atomic<int> gets{0};
};

TEST(DataLoaderHardening, SkipBuildsNoSkippedBatch) {
  auto ds = std::make_shared<CountingDataset>();
  for (int workers : {0, 2}) {
    ds->gets = 0;
    data::DataLoader loader(ds, {.batch_size = 4, .num_workers = workers, .collate = [](std::vector<data::Batch> b) {
                                   TensorList xs, ys;
                                   for (auto& e : b) xs.push_back(e.data), ys.push_back(e.target);
                                   return data::Batch{stack(xs), stack(ys)};
                                 }});
    loader.start_epoch(0);
    loader.skip(8);
    data::Batch b;
    ASSERT_TRUE(loader.next(b));
    EXPECT_EQ(b.target[0].item<int64_t>(), 32);
    ASSERT_TRUE(loader.next(b));
    EXPECT_FALSE(loader.next(b));
    EXPECT_EQ(ds->gets.load(), 8) << "workers " << workers;  // only batches 8 and 9 were built
  }
}

TEST(DataLoaderHardening, TwoThreadsShareOneLoaderWithoutDuplicates) {
  auto ds = std::make_shared<data::TensorDataset>(arange(1000).to(DType::Float32).reshape({1000, 1}), arange(1000));
  data::DataLoader loader(ds, {.batch_size = 10, .shuffle = true, .seed = 3, .num_workers = 2});
  loader.start_epoch(0);
  std::vector<int64_t> seen[2];
  auto drain = [&](int k) {
    data::Batch b;
    while (loader.next(b))
      for (int64_t i = 0; i < b.target.numel(); ++i) seen[k].push_back(b.target[i].item<int64_t>());
  };
  std::thread a(drain, 0), c(drain, 1);
  a.join(), c.join();
  std::vector<int64_t> all(seen[0]);
  all.insert(all.end(), seen[1].begin(), seen[1].end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 1000u);
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(all[size_t(i)], i);
}

class HalfTargets : public data::Dataset {
 public:
  int64_t size() const override { return 4; }
  data::Batch get(int64_t i) const override { return {ones({2}), i % 2 ? Tensor() : zeros({})}; }
};

TEST(DataLoaderHardening, MissingTargetsOnSomeExamplesAreAnError) {
  data::DataLoader loader(std::make_shared<HalfTargets>(), {.batch_size = 4});
  data::Batch b;
  EXPECT_THROW(loader.next(b), ValueError);
}

TEST(DataLoaderHardening, AWaitHookInterruptsAWaitForASlowBatch) {
  class Slow : public data::Dataset {
   public:
    int64_t size() const override { return 2; }
    data::Batch get(int64_t) const override {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      return {ones({1}), Tensor()};
    }
  };
  data::DataLoader loader(std::make_shared<Slow>(), {.batch_size = 1, .num_workers = 1});
  int calls = 0;
  loader.set_wait_hook([&] { return ++calls >= 2; }, std::chrono::milliseconds(20));
  data::Batch b;
  EXPECT_THROW(loader.next(b), data::Interrupted);
  loader.set_wait_hook(nullptr, std::chrono::milliseconds(20));
  EXPECT_TRUE(loader.next(b));  // the batch it waited for was still coming
  EXPECT_TRUE(loader.shutdown(std::chrono::seconds(5)));
}

}  // namespace

namespace {

TEST(InPlace, OverlappingSourcesGiveTheResultOfACopyAndExpandedTargetsAreRefused) {
  Tensor x = arange(4).to(DType::Float32).reshape({2, 2});
  Tensor want = x.t().contiguous();
  x.copy_(x.t());  // reads what it overwrites unless the source is copied first
  EXPECT_TRUE(equal(x, want)) << x.str();
  Tensor y = arange(6).to(DType::Float32);
  Tensor head = y.slice(0, 0, 5), tail = y.slice(0, 1, 6);
  head.add_(tail);  // y[i] += y[i+1] with every y[i+1] read before it changes
  EXPECT_TRUE(equal(y, tensor(std::vector<float>{1, 3, 5, 7, 9, 5}))) << y.str();
  Tensor z = arange(3).to(DType::Float32);
  z.add_(z);  // the same elements: fine without a copy
  EXPECT_TRUE(equal(z, tensor(std::vector<float>{0, 2, 4})));
  Tensor e = zeros({3}).expand({2, 3});
  EXPECT_THROW(e.add_(1.0), ValueError);
  EXPECT_THROW(e.fill_(1.0), ValueError);
  EXPECT_THROW(e.copy_(ones({2, 3})), ValueError);
  EXPECT_THROW(e.relu_(), ValueError);
  EXPECT_NO_THROW(zeros({1, 3}).expand({1, 3}).add_(1.0));  // stride 0 on a size-1 dim writes each element once
}

}  // namespace
