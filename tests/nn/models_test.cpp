// The zoo models and attention layers against PyTorch (tests/nn/models_golden.py, float64):
// outputs, losses, every parameter's gradient and the running statistics after a training
// forward pass; plus construction errors, make_model settings and GPT sampling.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "anneal.h"

using namespace anneal;

namespace {

const std::map<std::string, Tensor>& golden() {
  static const std::map<std::string, Tensor> g = [] {
    std::map<std::string, Tensor> m;
    for (auto& [k, v] : nn::load_safetensors(ANNEAL_MODELS_GOLDEN_FILE)) m.emplace(k, v);
    return m;
  }();
  return g;
}
const Tensor& G(const std::string& key) {
  auto it = golden().find(key);
  if (it == golden().end()) throw std::runtime_error("golden value missing: " + key);
  return it->second;
}
// name.kind.<key> entries of one case, without the prefix.
nn::StateDict entries(const std::string& name, const std::string& kind) {
  nn::StateDict out;
  const std::string prefix = name + "." + kind + ".";
  for (auto& [k, v] : golden())
    if (k.rfind(prefix, 0) == 0) out.emplace_back(k.substr(prefix.size()), v);
  return out;
}
void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(allclose(got.to(DType::Float64), want, 1e-7, 1e-9))
      << what << ": max abs diff " << (got.to(DType::Float64) - want).abs().max().item<double>();
}

// Loads the case's state into `model` (in float64), runs `forward` and the case's loss, and
// compares output, loss, gradients and buffers.
void check_case(const std::string& name, nn::Module& model, const std::function<Tensor()>& forward,
                const std::function<Tensor(const Tensor&)>& loss_of) {
  model.to(DType::Float64);
  nn::StateDict state = entries(name, "param");
  for (auto& b : entries(name, "buffer")) state.push_back(b);
  model.load_state_dict(state);
  model.train();
  Tensor y = forward();
  Tensor loss = loss_of(y);
  loss.backward();
  expect_close(y, G(name + ".output"), name + " output");
  expect_close(loss, G(name + ".loss"), name + " loss");
  auto grads = entries(name, "grad");
  ASSERT_EQ(grads.size(), model.named_parameters().size()) << name;
  for (auto& [k, p] : model.named_parameters()) {
    const std::string& key = k;  // (clang 14 cannot capture a structured binding)
    auto it = std::find_if(grads.begin(), grads.end(), [&](auto& e) { return e.first == key; });
    ASSERT_NE(it, grads.end()) << name << ": no reference gradient for " << k;
    ASSERT_TRUE(p.grad().defined()) << name << ": no gradient for " << k;
    expect_close(p.grad(), it->second, name + " grad " + k);
  }
  for (auto& [k, b] : model.named_buffers())
    if (is_floating(b.dtype())) expect_close(b, G(name + ".buffer_after." + k), name + " buffer " + k);
}
Tensor probe_loss(const std::string& name, const Tensor& y) { return (y * G(name + ".probe")).sum(); }

TEST(Models, MultiheadAttentionCausalSelfAttentionMatchesPyTorch) {
  nn::MultiheadAttention mha(8, 2, {.causal = true});
  check_case("mha_causal", mha, [&] { return mha(G("mha_causal.input")); },
             [](const Tensor& y) { return probe_loss("mha_causal", y); });
}

TEST(Models, MultiheadAttentionCrossWithFloatMaskMatchesPyTorch) {
  nn::MultiheadAttention mha(8, 2);
  mha.to(DType::Float64);
  mha.load_state_dict(entries("mha_cross", "param"));
  Tensor kv = G("mha_cross.key");
  Tensor y = mha.attend(G("mha_cross.input"), kv, kv, G("mha_cross.mask"));
  expect_close(y, G("mha_cross.output"), "output");
  probe_loss("mha_cross", y).backward();
  for (auto& [k, p] : mha.named_parameters()) expect_close(p.grad(), G("mha_cross.grad." + k), "grad " + k);
}

TEST(Models, GPTMatchesPyTorch) {
  nn::GPT gpt({.vocab_size = 11, .context = 8, .n_layer = 2, .n_head = 2, .d_model = 8});
  check_case("gpt", gpt, [&] { return gpt(G("gpt.input")); },
             [](const Tensor& y) { return cross_entropy(y.reshape({-1, 11}), G("gpt.targets").reshape({-1})); });
}

TEST(Models, ResNet18MatchesPyTorch) {
  nn::ResNet18 net(5, 3, 4);
  check_case("resnet18", net, [&] { return net(G("resnet18.input")); },
             [](const Tensor& y) { return probe_loss("resnet18", y); });
}

TEST(Models, SmallCNNWithBatchNormMatchesPyTorch) {
  nn::SmallCNN cnn({.in_channels = 1, .image_size = 12, .num_classes = 10, .channels = {4, 6}, .hidden = 16,
                    .batch_norm = true});
  check_case("cnn", cnn, [&] { return cnn(G("cnn.input")); }, [](const Tensor& y) { return probe_loss("cnn", y); });
}

TEST(Models, MLPMatchesPyTorch) {
  nn::MLP mlp({12, 7, 5, 3});
  check_case("mlp", mlp, [&] { return mlp(G("mlp.input")); }, [](const Tensor& y) { return probe_loss("mlp", y); });
}

TEST(Models, GPTInitialisationFollowsGPT2) {
  manual_seed(1);
  nn::GPT gpt({.vocab_size = 300, .context = 64, .n_layer = 4, .n_head = 4, .d_model = 64});
  auto p = gpt.named_parameters();
  auto get = [&](const std::string& n) {
    for (auto& [k, v] : p)
      if (k == n) return v;
    throw std::runtime_error(n);
  };
  EXPECT_NEAR(anneal::std(get("wte.weight")).item<double>(), 0.02, 0.001);
  EXPECT_NEAR(anneal::std(get("h.0.fc.weight")).item<double>(), 0.02, 0.001);
  EXPECT_NEAR(anneal::std(get("h.3.proj.weight")).item<double>(), 0.02 / std::sqrt(8.0), 0.0005);
  EXPECT_EQ(get("h.1.fc.bias").abs().sum().item<double>(), 0.0);
  EXPECT_EQ(get("h.1.ln_1.weight").sum().item<double>(), 64.0);
  // Tied output projection: no separate head parameter.
  for (auto& [k, v] : p) EXPECT_EQ(k.find("head"), std::string::npos) << k;
}

TEST(Models, GPTGenerateIsSeededAndStaysInVocabulary) {
  manual_seed(2);
  nn::GPT gpt({.vocab_size = 13, .context = 4, .n_layer = 1, .n_head = 1, .d_model = 8});
  gpt.eval();
  Generator g1(5), g2(5);
  Tensor prompt = tensor(std::vector<int64_t>{1, 2, 3});
  Tensor a = gpt.generate(prompt, 10, 0.8, 5, &g1), b = gpt.generate(prompt, 10, 0.8, 5, &g2);
  ASSERT_EQ(a.sizes(), (Shape{13}));
  EXPECT_TRUE(equal(a, b));
  EXPECT_TRUE(equal(a.slice(0, 0, 3), prompt));
  EXPECT_GE(a.min().item<int64_t>(), 0);
  EXPECT_LT(a.max().item<int64_t>(), 13);
  // top_k = 1 is greedy: the argmax at every step, whatever the generator says.
  Generator g3(9);
  Tensor greedy = gpt.generate(prompt, 3, 1.0, 1, &g3);
  Tensor logits = gpt(greedy.slice(0, 2, 5).unsqueeze(0));
  EXPECT_EQ(greedy[5].item<int64_t>(), logits.select(1, 2).argmax(-1).item<int64_t>());
  EXPECT_THROW(gpt.generate(prompt, 1, 0.0), ValueError);
}

TEST(Models, BadConfigurationsAreClearErrors) {
  EXPECT_THROW(nn::MultiheadAttention(10, 3), ValueError);
  EXPECT_THROW(nn::MLP({5}), ValueError);
  nn::GPT gpt({.vocab_size = 5, .context = 4, .n_layer = 1, .n_head = 1, .d_model = 4});
  EXPECT_THROW(gpt(zeros({1, 5}, DType::Int64)), ValueError);   // longer than the context
  EXPECT_THROW(gpt(zeros({5}, DType::Int64)), ValueError);      // not [B, T]
  EXPECT_THROW(gpt(full({1, 2}, 7, DType::Int64)), IndexError); // token outside the vocabulary
  nn::MultiheadAttention mha(8, 2);
  EXPECT_THROW(mha(zeros({2, 3, 6})), ValueError);
}

TEST(Models, MakeModelBuildsByNameAndRejectsUnknownSettings) {
  auto gpt = nn::make_model("gpt", {{"vocab_size", "20"}, {"n_layer", "2"}, {"d_model", "16"}, {"n_head", "2"}});
  EXPECT_EQ(gpt->type_name(), "GPT");
  EXPECT_EQ(gpt->num_parameters(), 20 * 16 + 128 * 16 + 2 * (12 * 16 * 16 + 13 * 16) + 2 * 16);
  auto mlp = nn::make_model("mlp", {{"sizes", "4,3,2"}});
  EXPECT_EQ(mlp->num_parameters(), 4 * 3 + 3 + 3 * 2 + 2);
  EXPECT_EQ(nn::make_model("resnet18")->num_parameters(), 11173962);  // torchvision's CIFAR ResNet-18
  EXPECT_EQ(nn::make_model("cnn")->num_parameters(), 421642);
  try {
    nn::make_model("gpt", {{"layers", "2"}});
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'layers'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("n_layer"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nn::make_model("mlp", {{"sizes", "4,x"}}), ValueError);
  EXPECT_THROW(nn::make_model("vgg"), ValueError);
}

TEST(Models, ModuleDictByName) {
  nn::ModuleDict d;
  d.insert("enc", std::make_shared<nn::Linear>(2, 3));
  d.insert("dec", std::make_shared<nn::Linear>(3, 2));
  EXPECT_TRUE(d.contains("dec"));
  EXPECT_FALSE(d.contains("x"));
  EXPECT_EQ(d["enc"]->num_parameters(), 9);
  EXPECT_THROW(d["x"], IndexError);
  EXPECT_THROW(d.insert("enc", std::make_shared<nn::ReLU>()), ValueError);
  EXPECT_EQ(d.named_parameters()[2].first, "dec.weight");
}

}  // namespace
