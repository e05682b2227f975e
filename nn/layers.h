#pragma once
// The standard layers, initialised as PyTorch initialises them.
#include <initializer_list>

#include "nn/module.h"
#include "ops/ops.h"

namespace anneal::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Tensor& weight;  // [out, in]
  Tensor& bias;    // [out] or undefined
 private:
  int64_t in_, out_;
};

struct Conv2dArgs {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dArgs args = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  Tensor& weight;  // [out, in/groups, k, k]
  Tensor& bias;
 private:
  int64_t in_, out_, k_;
  Conv2dArgs args_;
};

// Normalises over every dim but 1 (BatchNorm1d: [N, C] or [N, C, L]; 2d: [N, C, H, W]).
class BatchNorm : public Module {
 public:
  BatchNorm(int64_t num_features, int64_t expected_dims, double eps = 1e-5, double momentum = 0.1, bool affine = true,
            bool track_running_stats = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return expected_dims_ == 4 ? "BatchNorm2d" : "BatchNorm1d"; }
  std::string extra_repr() const override;
 private:
  int64_t num_features_, expected_dims_;
  double eps_, momentum_;
  bool affine_, track_;
};
std::shared_ptr<BatchNorm> BatchNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1);
std::shared_ptr<BatchNorm> BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1);

class LayerNorm : public Module {
 public:
  explicit LayerNorm(IntList normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;
 private:
  IntList shape_;
  double eps_;
  bool affine_;
};

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "GroupNorm"; }
  std::string extra_repr() const override;
 private:
  int64_t groups_, channels_;
  double eps_;
  bool affine_;
};

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = {});
  Tensor forward(const Tensor& indices) override;
  std::string type_name() const override { return "Embedding"; }
  std::string extra_repr() const override;
  Tensor& weight;
 private:
  int64_t num_, dim_;
  std::optional<int64_t> padding_idx_;
};

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training()); }
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;
 private:
  double p_;
};

// Stateless function layers.
#define ANNEAL_FN_LAYER(Name, expr)                                     \
  class Name : public Module {                                          \
   public:                                                              \
    Tensor forward(const Tensor& x) override { return expr; }           \
    std::string type_name() const override { return #Name; }           \
  };
ANNEAL_FN_LAYER(ReLU, relu(x))
ANNEAL_FN_LAYER(SiLU, silu(x))
ANNEAL_FN_LAYER(Tanh, tanh(x))
ANNEAL_FN_LAYER(Sigmoid, sigmoid(x))
ANNEAL_FN_LAYER(Identity, x)
#undef ANNEAL_FN_LAYER

class GELU : public Module {
 public:
  explicit GELU(bool tanh_approximation = false) : tanh_(tanh_approximation) {}
  Tensor forward(const Tensor& x) override { return gelu(x, tanh_); }
  std::string type_name() const override { return "GELU"; }
  std::string extra_repr() const override { return tanh_ ? "approximate='tanh'" : ""; }
 private:
  bool tanh_;
};

// A pooling layer's stride: -1 (the default) is the kernel size; anything else must be
// positive (checked when the layer is made, not at its first forward).
int64_t pool_stride_arg(const char* layer, int64_t kernel_size, int64_t stride);

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = -1, int64_t padding = 0)
      : k_(kernel_size), s_(pool_stride_arg("MaxPool2d", kernel_size, stride)), p_(padding) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, k_, s_, p_); }
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;
 private:
  int64_t k_, s_, p_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = -1, int64_t padding = 0)
      : k_(kernel_size), s_(pool_stride_arg("AvgPool2d", kernel_size, stride)), p_(padding) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, k_, s_, p_); }
  std::string type_name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;
 private:
  int64_t k_, s_, p_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(int64_t out_h, int64_t out_w) : h_(out_h), w_(out_w) {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, h_, w_); }
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override;
 private:
  int64_t h_, w_;
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_, end_); }
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;
 private:
  int64_t start_, end_;
};

// Runs its children in order; they are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  size_t size() const { return named_children().size(); }
  std::shared_ptr<Module> operator[](size_t i) const;
};

// Holds modules for a parent to call as it likes (no forward of its own).
class ModuleList : public Module {
 public:
  void push_back(std::shared_ptr<Module> m);
  std::string type_name() const override { return "ModuleList"; }
  size_t size() const { return named_children().size(); }
  std::shared_ptr<Module> operator[](size_t i) const;
};

// Children by name, in insertion order (torch.nn.ModuleDict).
class ModuleDict : public Module {
 public:
  void insert(const std::string& name, std::shared_ptr<Module> m) { add_child(name, std::move(m)); }
  bool contains(const std::string& name) const;
  std::shared_ptr<Module> operator[](const std::string& name) const;
  std::string type_name() const override { return "ModuleDict"; }
  size_t size() const { return named_children().size(); }
};

}  // namespace anneal::nn
