// Checkpoints: bitwise round trip of every field; corrupted, truncated and foreign files
// rejected with clear errors; atomic replacement.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "anneal.h"

using namespace anneal;

namespace {

std::string tmp(const std::string& n) { return ::testing::TempDir() + "anneal_ckpt_" + n; }
std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
std::string error_of(const std::string& path) {
  try {
    train::load_checkpoint(path);
  } catch (const ValueError& e) {
    return e.what();
  }
  return "(loaded)";
}

std::shared_ptr<nn::Sequential> small_model() {
  return std::make_shared<nn::Sequential>(nn::Sequential{std::make_shared<nn::Linear>(3, 4), nn::BatchNorm1d(4),
                                                         std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(4, 2)});
}

// One Adam step so the optimizer has state.
void train_once(nn::Module& m, optim::Optimizer& opt) {
  m(randn({5, 3})).pow(2).mean().backward();
  opt.step();
  opt.zero_grad();
}

TEST(Checkpoint, RoundTripsEveryField) {
  if (!train::checkpoints_available()) GTEST_SKIP() << "built without protobuf";
  manual_seed(1);
  auto m = small_model();
  optim::AdamW opt(m->parameters(), 1e-2);
  optim::CosineAnnealingLR sched(opt, 10);
  train_once(*m, opt);
  sched.step();
  train::Checkpoint c = train::capture(*m, &opt);
  c.scheduler = sched.state_dict();
  c.step = 12, c.epoch = 3, c.batch_in_epoch = 5;
  c.config = "model: gpt\nlr: 3e-4\n";
  c.metadata = {{"host", "x"}};
  c.extra = {{"best", 0.25}};
  c.model.emplace_back("int_buffer", arange(5));
  c.model.emplace_back("half", randn({2, 2}).to(DType::BFloat16));
  train::save_checkpoint(tmp("a.ckpt"), c);
  EXPECT_FALSE(std::filesystem::exists(tmp("a.ckpt.tmp")));

  train::Checkpoint d = train::load_checkpoint(tmp("a.ckpt"));
  ASSERT_EQ(d.model.size(), c.model.size());
  for (size_t i = 0; i < c.model.size(); ++i) {
    EXPECT_EQ(d.model[i].first, c.model[i].first);
    EXPECT_EQ(d.model[i].second.dtype(), c.model[i].second.dtype());
    EXPECT_TRUE(equal(d.model[i].second, c.model[i].second)) << c.model[i].first;
  }
  EXPECT_EQ(d.optimizer_type, "AdamW");
  ASSERT_EQ(d.optimizer.groups.size(), 1u);
  EXPECT_EQ(d.optimizer.groups[0], c.optimizer.groups[0]);
  ASSERT_EQ(d.optimizer.state.size(), c.optimizer.state.size());
  for (auto& [idx, st] : c.optimizer.state)
    for (auto& [k, t] : st) EXPECT_TRUE(equal(d.optimizer.state.at(idx).at(k), t)) << idx << " " << k;
  EXPECT_EQ(d.scheduler, c.scheduler);
  EXPECT_EQ(d.rng_seed, c.rng_seed);
  EXPECT_EQ(d.rng_offset, c.rng_offset);
  EXPECT_EQ(d.step, 12);
  EXPECT_EQ(d.epoch, 3);
  EXPECT_EQ(d.batch_in_epoch, 5);
  EXPECT_EQ(d.config, c.config);
  EXPECT_EQ(d.metadata, c.metadata);
  EXPECT_EQ(d.extra, c.extra);
  // Same state, same bytes.
  train::save_checkpoint(tmp("b.ckpt"), d);
  EXPECT_EQ(slurp(tmp("a.ckpt")), slurp(tmp("b.ckpt")));
}

TEST(Checkpoint, RestoreContinuesIdentically) {
  if (!train::checkpoints_available()) GTEST_SKIP() << "built without protobuf";
  manual_seed(2);
  auto a = small_model();
  optim::Adam opt_a(a->parameters(), 1e-2);
  train_once(*a, opt_a);
  train::save_checkpoint(tmp("r.ckpt"), train::capture(*a, &opt_a));
  manual_seed(99);  // different init and RNG: restore must overwrite both
  auto b = small_model();
  optim::Adam opt_b(b->parameters(), 1e-2);
  train::restore(train::load_checkpoint(tmp("r.ckpt")), *b, &opt_b);
  Tensor x = randn({5, 3});  // drawn from the restored RNG
  manual_seed(0);
  train::restore(train::load_checkpoint(tmp("r.ckpt")), *a, &opt_a);
  Tensor x2 = randn({5, 3});
  EXPECT_TRUE(equal(x, x2));
  for (auto* m : {a.get(), b.get()}) {
    (*m)(x).pow(2).mean().backward();
  }
  opt_a.step(), opt_b.step();
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(equal(pa[i], pb[i])) << i;
  optim::SGD sgd(b->parameters(), 0.1);
  EXPECT_THROW(train::restore(train::load_checkpoint(tmp("r.ckpt")), *b, &sgd), ValueError);
}

TEST(Checkpoint, CorruptedTruncatedAndForeignFilesAreClearErrors) {
  if (!train::checkpoints_available()) GTEST_SKIP() << "built without protobuf";
  manual_seed(3);
  auto m = small_model();
  optim::Adam opt(m->parameters());
  train_once(*m, opt);
  train::save_checkpoint(tmp("c.ckpt"), train::capture(*m, &opt));
  const std::string good = slurp(tmp("c.ckpt"));

  // Every truncation is an error, never a crash.
  for (size_t n = 0; n < good.size(); n += std::max<size_t>(1, good.size() / 97)) {
    spit(tmp("t.ckpt"), good.substr(0, n));
    std::string e = error_of(tmp("t.ckpt"));
    EXPECT_NE(e, "(loaded)") << n;
    if (n >= 24) EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  }
  // A flipped bit anywhere in the payload is caught by the checksum.
  for (size_t pos : {size_t(30), good.size() / 2, good.size() - 1}) {
    std::string bad = good;
    bad[pos] = char(bad[pos] ^ 0x10);
    spit(tmp("x.ckpt"), bad);
    EXPECT_NE(error_of(tmp("x.ckpt")).find("corrupted"), std::string::npos) << pos;
  }
  spit(tmp("f.ckpt"), "{\"not\": \"a checkpoint\"}");
  EXPECT_NE(error_of(tmp("f.ckpt")).find("not an anneal checkpoint"), std::string::npos);
  EXPECT_NE(error_of(tmp("missing.ckpt")).find("cannot read"), std::string::npos);
  std::string future = good;
  future[8] = 9;
  spit(tmp("v.ckpt"), future);
  EXPECT_NE(error_of(tmp("v.ckpt")).find("format version 9"), std::string::npos);
  // A model of another shape refuses the weights and stays as it was.
  nn::Linear other(3, 5);
  Tensor before = other.weight.clone();
  EXPECT_THROW(train::restore(train::load_checkpoint(tmp("c.ckpt")), other), ValueError);
  EXPECT_TRUE(equal(other.weight, before));
}

TEST(Checkpoint, FailedWriteLeavesTheOldFile) {
  if (!train::checkpoints_available()) GTEST_SKIP() << "built without protobuf";
  nn::Linear m(2, 2);
  train::save_checkpoint(tmp("keep.ckpt"), train::capture(m));
  const std::string before = slurp(tmp("keep.ckpt"));
  EXPECT_THROW(train::save_checkpoint(tmp("no/such/dir/x.ckpt"), train::capture(m)), ValueError);
  // Replacing an existing file goes through rename: a reader sees old or new, whole.
  nn::Linear m2(2, 2);
  train::save_checkpoint(tmp("keep.ckpt"), train::capture(m2));
  EXPECT_NE(slurp(tmp("keep.ckpt")), before);
  EXPECT_TRUE(equal(train::load_checkpoint(tmp("keep.ckpt")).model[0].second, m2.weight));
}

}  // namespace
