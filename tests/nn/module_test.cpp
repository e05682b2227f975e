// Modules: registration and names, init bounds, state dicts, train/eval, dtype moves,
// hooks and printing.
#include <gtest/gtest.h>

#include <cmath>

#include "anneal.h"

using namespace anneal;
using namespace anneal::nn;

namespace {

std::shared_ptr<Sequential> small_cnn() {
  return std::make_shared<Sequential>(Sequential{
      std::make_shared<Conv2d>(1, 4, 3, Conv2dArgs{.padding = 1}), BatchNorm2d(4), std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2), std::make_shared<Flatten>(), std::make_shared<Linear>(4 * 4 * 4, 3)});
}

TEST(Module, NamesParametersAndBuffers) {
  auto net = small_cnn();
  std::vector<std::string> names;
  for (auto& [n, t] : net->named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"}));
  std::vector<std::string> bufs;
  for (auto& [n, t] : net->named_buffers()) bufs.push_back(n);
  EXPECT_EQ(bufs, (std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"}));
  EXPECT_EQ(net->num_parameters(), 4 * 9 + 4 + 4 + 4 + 64 * 3 + 3);
  EXPECT_EQ(net->named_modules().size(), 7u);
  Tensor y = (*net)(randn({2, 1, 8, 8}));
  EXPECT_EQ(y.sizes(), (Shape{2, 3}));
}

TEST(Module, DefaultInitFollowsPyTorch) {
  manual_seed(0);
  Linear lin(100, 50);
  double bound = 1.0 / std::sqrt(100.0);
  EXPECT_LE(amax(abs(lin.weight)).item<double>(), bound);
  EXPECT_GT(amax(abs(lin.weight)).item<double>(), 0.9 * bound);  // fills the range
  EXPECT_LE(amax(abs(lin.bias)).item<double>(), bound);
  // U(-b, b) has variance b^2 / 3
  EXPECT_NEAR(var(lin.weight).item<double>(), bound * bound / 3, 0.1 * bound * bound / 3);
  Conv2d conv(8, 16, 3);
  double cb = 1.0 / std::sqrt(8.0 * 9);
  EXPECT_LE(amax(abs(conv.weight)).item<double>(), cb);
  Embedding emb(10, 4, 0);
  EXPECT_EQ(abs(emb.weight[0]).sum().item<double>(), 0.0);  // the padding row starts at zero
}

TEST(Module, StateDictRoundTripAndErrors) {
  auto a = small_cnn(), b = small_cnn();
  b->load_state_dict(a->state_dict());
  auto sa = a->state_dict(), sb = b->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(equal(sa[i].second, sb[i].second)) << sa[i].first;
  StateDict missing(sa.begin() + 1, sa.end());
  try {
    b->load_state_dict(missing);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("Missing key(s) in state_dict: \"0.weight\""), std::string::npos) << e.what();
  }
  b->load_state_dict(missing, /*strict=*/false);  // allowed without strict
  StateDict extra = sa;
  extra.emplace_back("9.weight", ones({1}));
  EXPECT_THROW(b->load_state_dict(extra), ValueError);
  StateDict wrong = sa;
  wrong[0].second = ones({2, 2});
  try {
    b->load_state_dict(wrong, false);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("size mismatch for \"0.weight: checkpoint has shape [2, 2]"), std::string::npos)
        << e.what();
  }
}

TEST(Module, TrainAndEvalChangeBatchNormAndDropout) {
  manual_seed(1);
  auto net = std::make_shared<Sequential>(Sequential{BatchNorm1d(3), std::make_shared<Dropout>(0.5)});
  Tensor x = randn({8, 3}) * 3 + 1;
  Tensor y_train = (*net)(x);
  EXPECT_GT(sum(eq(y_train, 0.0)).item<int64_t>(), 0);  // dropout active
  auto bufs = net->named_buffers();
  EXPECT_EQ(bufs[2].second.item<int64_t>(), 1);  // num_batches_tracked
  EXPECT_FALSE(equal(bufs[0].second, zeros({3})));  // running mean moved
  net->eval();
  EXPECT_FALSE(net->is_training());
  Tensor y1 = (*net)(x), y2 = (*net)(x);
  EXPECT_TRUE(equal(y1, y2));  // deterministic in eval
  EXPECT_EQ(bufs[2].second.item<int64_t>(), 1);  // eval does not track
}

TEST(Module, ToDtypeKeepsTensorIdentity) {
  Linear lin(3, 2);
  Tensor w = lin.weight;  // what an optimizer holds
  lin.to(DType::Float64);
  EXPECT_EQ(w.dtype(), DType::Float64);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_EQ(lin(ones({1, 3}, DType::Float64)).dtype(), DType::Float64);
  EXPECT_THROW(lin.to(DType::Int32), TypeError);
}

TEST(Module, ZeroGradAndHooks) {
  Linear lin(3, 2);
  int pre = 0, post = 0;
  lin.register_forward_pre_hook([&](Module&, const Tensor&) -> std::optional<Tensor> {
    ++pre;
    return std::nullopt;
  });
  lin.register_forward_hook([&](Module&, const Tensor&, const Tensor& out) -> std::optional<Tensor> {
    ++post;
    return out * 0.0;  // replaces the output
  });
  Tensor y = lin(ones({1, 3}));
  EXPECT_EQ(pre, 1);
  EXPECT_EQ(post, 1);
  EXPECT_EQ(abs(y).sum().item<double>(), 0.0);
  sum(lin(ones({1, 3}))).backward();
  EXPECT_TRUE(lin.weight.grad().defined());
  lin.zero_grad(false);
  EXPECT_EQ(lin.weight.grad().sum().item<double>(), 0.0);
  lin.zero_grad();
  EXPECT_FALSE(lin.weight.grad().defined());
}

TEST(Module, PrintsASummary) {
  auto net = small_cnn();
  std::string s = net->to_string();
  EXPECT_NE(s.find("(0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"), std::string::npos) << s;
  EXPECT_NE(s.find("(5): Linear(in_features=64, out_features=3, bias=True)"), std::string::npos) << s;
  EXPECT_NE(s.find("parameters: 243 (243 trainable)"), std::string::npos) << s;
}

TEST(Module, BadArgumentsAreErrors) {
  EXPECT_THROW(Linear(0, 3), ValueError);
  EXPECT_THROW(Conv2d(3, 4, 3, Conv2dArgs{.groups = 2}), ValueError);
  EXPECT_THROW(Dropout(1.5), ValueError);
  EXPECT_THROW(GroupNorm(3, 4), ValueError);
  Linear lin(3, 2);
  EXPECT_THROW(lin(ones({2, 4})), ValueError);
  auto bn = BatchNorm2d(3);
  EXPECT_THROW((*bn)(ones({2, 3})), ValueError);
  EXPECT_THROW(lin.register_parameter("weight", ones({1})), ValueError);
  EXPECT_THROW(lin.register_parameter("a.b", ones({1})), ValueError);
}

}  // namespace
