// IDX reading on good and bad files; DataLoader batches, determinism across worker
// counts, resumption, and error paths.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "anneal.h"

using namespace anneal;
using namespace anneal::data;

namespace {

std::string tmp_path(const std::string& name) { return ::testing::TempDir() + "anneal_" + name; }

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), unsigned(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
}

std::vector<unsigned char> idx_u8(const std::vector<uint32_t>& dims, const std::vector<unsigned char>& values) {
  std::vector<unsigned char> b = {0, 0, 0x08, (unsigned char)dims.size()};
  for (uint32_t d : dims) b.insert(b.end(), {(unsigned char)(d >> 24), (unsigned char)(d >> 16), (unsigned char)(d >> 8), (unsigned char)d});
  b.insert(b.end(), values.begin(), values.end());
  return b;
}

template <typename F>
void expect_value_error(F f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning " << fragment;
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Idx, ReadsRawAndGzip) {
  for (bool gz : {false, true}) {
    std::string p = tmp_path(gz ? "a.idx.gz" : "a.idx");
    write_bytes(p, idx_u8({2, 3}, {1, 2, 3, 4, 5, 6}), gz);
    Tensor t = read_idx(p);
    EXPECT_EQ(t.dtype(), DType::UInt8);
    EXPECT_EQ(t.sizes(), (Shape{2, 3}));
    EXPECT_EQ(t[1][2].item<int64_t>(), 6);
  }
  // big-endian int32 payload
  std::vector<unsigned char> b = {0, 0, 0x0C, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 0};
  write_bytes(tmp_path("i32.idx"), b, false);
  Tensor t = read_idx(tmp_path("i32.idx"));
  EXPECT_EQ(t.dtype(), DType::Int32);
  EXPECT_EQ(t[0].item<int64_t>(), -2);
  EXPECT_EQ(t[1].item<int64_t>(), 256);
}

TEST(Idx, BadFilesAreClearErrors) {
  expect_value_error([] { read_idx(tmp_path("missing.idx")); }, "cannot open");
  write_bytes(tmp_path("short.idx"), {0, 0}, false);
  expect_value_error([] { read_idx(tmp_path("short.idx")); }, "expected a 4-byte IDX header, found 2 bytes");
  write_bytes(tmp_path("magic.idx"), {1, 2, 8, 1, 0, 0, 0, 1, 0}, false);
  expect_value_error([] { read_idx(tmp_path("magic.idx")); }, "expected magic bytes 00 00");
  write_bytes(tmp_path("type.idx"), {0, 0, 0x42, 1, 0, 0, 0, 1, 0}, false);
  expect_value_error([] { read_idx(tmp_path("type.idx")); }, "unknown IDX element type");
  auto truncated = idx_u8({10}, {1, 2, 3});
  write_bytes(tmp_path("trunc.idx.gz"), truncated, true);
  expect_value_error([] { read_idx(tmp_path("trunc.idx.gz")); }, "needs 10 bytes of data, found 3");
  auto trailing = idx_u8({2}, {1, 2, 3});
  write_bytes(tmp_path("trail.idx"), trailing, false);
  expect_value_error([] { read_idx(tmp_path("trail.idx")); }, "trailing bytes");
}

TEST(Idx, ReadsTheFashionMnistSlice) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::ifstream(dir + "/t10k-labels-idx1-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  Tensor labels = read_idx(dir + "/t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(labels.sizes(), (Shape{10000}));
  EXPECT_EQ(amax(labels.to(DType::Int64)).item<int64_t>(), 9);
  Tensor images = read_idx(dir + "/t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(images.sizes(), (Shape{10000, 28, 28}));
}

std::vector<int64_t> loader_targets(int workers, uint64_t seed, int64_t epoch, bool drop_last = false) {
  auto ds = std::make_shared<TensorDataset>(arange(103).reshape({103, 1}).to(DType::Float32), arange(103));
  DataLoader loader(ds, {.batch_size = 10, .shuffle = true, .drop_last = drop_last, .seed = seed, .num_workers = workers});
  loader.start_epoch(epoch);
  std::vector<int64_t> out;
  Batch b;
  while (loader.next(b)) {
    EXPECT_TRUE(equal(b.data.reshape({-1}).to(DType::Int64), b.target));
    for (int64_t i = 0; i < b.target.numel(); ++i) out.push_back(b.target[i].item<int64_t>());
  }
  return out;
}

TEST(DataLoader, OrderDependsOnlyOnSeedAndEpoch) {
  auto a = loader_targets(0, 1, 0);
  EXPECT_EQ(a.size(), 103u);
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 103u);  // a permutation
  EXPECT_EQ(a, loader_targets(1, 1, 0));
  EXPECT_EQ(a, loader_targets(3, 1, 0));
  EXPECT_NE(a, loader_targets(0, 1, 1));  // next epoch reshuffles
  EXPECT_NE(a, loader_targets(0, 2, 0));
  EXPECT_EQ(loader_targets(2, 1, 0, true).size(), 100u);
}

TEST(DataLoader, SkipResumesMidEpoch) {
  auto ds = std::make_shared<TensorDataset>(arange(50).to(DType::Float32), arange(50));
  DataLoader full(ds, {.batch_size = 8, .shuffle = true, .seed = 9, .num_workers = 2});
  full.start_epoch(3);
  std::vector<Tensor> all;
  Batch b;
  while (full.next(b)) all.push_back(b.target);
  DataLoader resumed(ds, {.batch_size = 8, .shuffle = true, .seed = 9, .num_workers = 2});
  resumed.start_epoch(3);
  resumed.skip(4);
  size_t i = 4;
  while (resumed.next(b)) EXPECT_TRUE(equal(b.target, all[i++]));
  EXPECT_EQ(i, all.size());
}

class ThrowingDataset : public Dataset {
 public:
  int64_t size() const override { return 20; }
  Batch get(int64_t i) const override {
    if (i == 13) throw ValueError("example 13 is corrupt");
    return {full({2}, double(i)), full({}, i, DType::Int64)};
  }
};

TEST(DataLoader, WorkerErrorsReachTheCaller) {
  for (int workers : {0, 2}) {
    DataLoader loader(std::make_shared<ThrowingDataset>(), {.batch_size = 4, .num_workers = workers});
    loader.start_epoch(0);
    Batch b;
    int good = 0;
    try {
      while (loader.next(b)) ++good;
      ADD_FAILURE() << "expected the worker's error";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("example 13 is corrupt"), std::string::npos);
    }
    EXPECT_EQ(good, 3);  // batches before the bad one arrive intact
  }
}

TEST(DataLoader, BadOptions) {
  auto ds = std::make_shared<TensorDataset>(zeros({4, 1}), zeros({4}));
  EXPECT_THROW(DataLoader(ds, {.batch_size = 0}), ValueError);
  EXPECT_THROW(DataLoader(ds, {.batch_size = 1, .num_workers = -1}), ValueError);
  EXPECT_THROW(TensorDataset(zeros({4, 1}), zeros({3})), ValueError);
}

}  // namespace

// pin_memory: the same batches, in page-locked memory where a CUDA device exists; in
// ordinary memory (one warning) where none does. Tensor::pin_memory says why it cannot.
TEST(DataLoader, PinMemoryGivesTheSameBatches) {
  auto ds = std::make_shared<TensorDataset>(arange(60).reshape({30, 2}).to(DType::Float32), arange(30));
  auto run = [&](bool pin, int workers) {
    DataLoader loader(ds, {.batch_size = 7, .shuffle = true, .seed = 4, .num_workers = workers, .pin_memory = pin});
    loader.start_epoch(0);
    std::vector<Batch> out;
    Batch b;
    while (loader.next(b)) out.push_back(b);
    return out;
  };
  auto plain = run(false, 0);
  for (int workers : {0, 2}) {
    auto pinned = run(true, workers);
    ASSERT_EQ(pinned.size(), plain.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_TRUE(equal(pinned[i].data, plain[i].data));
      EXPECT_TRUE(equal(pinned[i].target, plain[i].target));
      EXPECT_EQ(pinned[i].data.is_pinned(), cuda_is_available());
      EXPECT_EQ(pinned[i].target.is_pinned(), cuda_is_available());
      EXPECT_FALSE(plain[i].data.is_pinned());
    }
  }
  Tensor x = arange(5).to(DType::Float32);
  if (!cuda_is_available()) {
    try {
      (void)x.pin_memory();
      FAIL() << "pin_memory without a CUDA device should throw";
    } catch (const DeviceError& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
    }
  } else {
    Tensor p = x.pin_memory();
    EXPECT_TRUE(p.is_pinned());
    EXPECT_TRUE(equal(p, x));
    EXPECT_EQ(p.pin_memory().data_ptr(), p.data_ptr());  // already pinned: itself
  }
}
