#pragma once
// The model zoo: models a job can name (make_model) or a program can build directly.
#include <map>
#include <string>

#include "core/generator.h"
#include "nn/attention.h"
#include "nn/layers.h"

namespace anneal::nn {

// Fully connected: sizes {in, hidden..., out}, ReLU between layers, optional dropout.
// Flattens its input from dim 1.
class MLP : public Sequential {
 public:
  explicit MLP(std::vector<int64_t> sizes, double dropout = 0.0);
  std::string type_name() const override { return "MLP"; }
};

// The small image CNN: [conv3x3 (pad 1) -> (BN) -> ReLU -> max-pool 2] per entry of
// `channels`, then fc hidden -> ReLU -> (dropout) -> fc classes.
struct SmallCNNOptions {
  int64_t in_channels = 1, image_size = 28, num_classes = 10;
  std::vector<int64_t> channels = {32, 64};
  int64_t hidden = 128;
  bool batch_norm = false;
  double dropout = 0.0;
};
class SmallCNN : public Sequential {
 public:
  explicit SmallCNN(SmallCNNOptions options = {});
  std::string type_name() const override { return "SmallCNN"; }
};

// ResNet-18, CIFAR variant: 3x3 stem without max-pool, four stages of two basic blocks
// (width, 2, 4, 8 x width channels), global average pool, fc. Names follow torchvision.
class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm> bn1_, bn2_;
  std::shared_ptr<Sequential> downsample_;  // null when the shortcut is the identity
};
class ResNet18 : public Module {
 public:
  explicit ResNet18(int64_t num_classes = 10, int64_t in_channels = 3, int64_t width = 64);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ResNet18"; }

 private:
  std::shared_ptr<Sequential> stem_, layers_;
  std::shared_ptr<Linear> fc_;
};

// Decoder-only transformer (GPT-2 layout, pre-LN blocks, learned positions, output
// projection tied to the token embedding). Initialised as GPT-2: N(0, 0.02) weights,
// residual projections N(0, 0.02/sqrt(2 n_layer)), zero biases.
struct GPTConfig {
  int64_t vocab_size = 256, context = 128, n_layer = 4, n_head = 4, d_model = 128;
  double dropout = 0.0;
  bool bias = true;
};
class GPT : public Module {
 public:
  explicit GPT(GPTConfig config);
  // tokens [B, T] (integers < vocab, T <= context) -> logits [B, T, vocab]
  Tensor forward(const Tensor& tokens) override;
  // Appends `new_tokens` sampled tokens to `prompt` [T] (or [1, T]) and returns them all,
  // one row. temperature > 0; top_k = 0 keeps the whole distribution.
  Tensor generate(const Tensor& prompt, int64_t new_tokens, double temperature = 1.0, int64_t top_k = 0,
                  Generator* gen = nullptr);
  std::string type_name() const override { return "GPT"; }
  std::string extra_repr() const override;
  const GPTConfig& config() const { return cfg_; }

 private:
  GPTConfig cfg_;
  std::shared_ptr<Embedding> wte_, wpe_;
  std::shared_ptr<ModuleList> blocks_;
  std::shared_ptr<LayerNorm> ln_f_;
};

// Builds a zoo model by name ("mlp", "cnn", "resnet18", "gpt") from string settings, e.g.
// {"sizes": "784,512,256,10"} or {"n_layer": "4", "d_model": "128"}; an unknown name or
// setting is a ValueError listing what is accepted.
using ModelConfig = std::map<std::string, std::string>;
std::shared_ptr<Module> make_model(const std::string& name, const ModelConfig& config = {});

}  // namespace anneal::nn
