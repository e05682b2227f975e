#include "nn/layers.h"

#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "nn/init.h"
#include "ops/ops.h"

namespace anneal::nn {

int64_t pool_stride_arg(const char* layer, int64_t kernel_size, int64_t stride) {
  ANNEAL_CHECK(kernel_size > 0, ValueError, layer, ": kernel_size must be positive, got ", kernel_size);
  ANNEAL_CHECK(stride == -1 || stride > 0, ValueError, layer, ": stride must be positive, got ", stride);
  return stride == -1 ? kernel_size : stride;
}

namespace {
// PyTorch's default for Linear and Conv: kaiming_uniform_(w, a=sqrt(5)), which is
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same bound.
Tensor default_weight(const Shape& shape) {
  Tensor w = empty(shape);
  init::kaiming_uniform_(w, std::sqrt(5.0));
  return w;
}
Tensor default_bias(int64_t n, int64_t fan_in) {
  Tensor b = empty({n});
  double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
  init::uniform_(b, -bound, bound);
  return b;
}
void check_positive(const char* layer, const char* what, int64_t v) {
  ANNEAL_CHECK(v > 0, ValueError, layer, ": ", what, " must be positive, got ", v);
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool bias)
    : weight((check_positive("Linear", "in_features", in), check_positive("Linear", "out_features", out),
              register_parameter("weight", default_weight({out, in})))),
      bias(register_parameter("bias", bias ? default_bias(out, in) : Tensor())),
      in_(in),
      out_(out) {}
Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }
std::string Linear::extra_repr() const {
  return str("in_features=", in_, ", out_features=", out_, ", bias=", bias.defined() ? "True" : "False");
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, Conv2dArgs a)
    : weight((check_positive("Conv2d", "in_channels", in), check_positive("Conv2d", "out_channels", out),
              check_positive("Conv2d", "kernel_size", k), check_positive("Conv2d", "groups", a.groups),
              register_parameter("weight", default_weight({out, in / a.groups, k, k})))),
      bias(register_parameter("bias", a.bias ? default_bias(out, in / a.groups * k * k) : Tensor())),
      in_(in),
      out_(out),
      k_(k),
      args_(a) {
  ANNEAL_CHECK(in % a.groups == 0 && out % a.groups == 0, ValueError, "Conv2d: in_channels (", in,
               ") and out_channels (", out, ") must be divisible by groups (", a.groups, ")");
}
Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, Conv2dOptions::square(args_.stride, args_.padding, args_.dilation, args_.groups));
}
std::string Conv2d::extra_repr() const {
  std::string s = str(in_, ", ", out_, ", kernel_size=(", k_, ", ", k_, "), stride=(", args_.stride, ", ",
                      args_.stride, ")");
  if (args_.padding) s += str(", padding=(", args_.padding, ", ", args_.padding, ")");
  if (args_.dilation != 1) s += str(", dilation=(", args_.dilation, ", ", args_.dilation, ")");
  if (args_.groups != 1) s += str(", groups=", args_.groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

BatchNorm::BatchNorm(int64_t n, int64_t dims, double eps, double momentum, bool affine, bool track)
    : num_features_(n), expected_dims_(dims), eps_(eps), momentum_(momentum), affine_(affine), track_(track) {
  check_positive("BatchNorm", "num_features", n);
  if (affine) {
    register_parameter("weight", ones({n}));
    register_parameter("bias", zeros({n}));
  }
  if (track) {
    register_buffer("running_mean", zeros({n}));
    register_buffer("running_var", ones({n}));
    register_buffer("num_batches_tracked", zeros({}, DType::Int64));
  }
}
Tensor BatchNorm::forward(const Tensor& x) {
  if (expected_dims_ == 4)
    ANNEAL_CHECK(x.dim() == 4, ValueError, "BatchNorm2d: expected 4D input (got ", x.dim(), "D input of shape ",
                 x.shape_str(), ")");
  else
    ANNEAL_CHECK(x.dim() == 2 || x.dim() == 3, ValueError, "BatchNorm1d: expected 2D or 3D input (got ", x.dim(),
                 "D input of shape ", x.shape_str(), ")");
  ANNEAL_CHECK(x.size(1) == num_features_, ValueError, type_name(), ": expected ", num_features_,
               " channels, got input of shape ", x.shape_str());
  Tensor w = affine_ ? param("weight") : Tensor(), b = affine_ ? param("bias") : Tensor();
  const bool use_batch = is_training() || !track_;
  Tensor rm = track_ ? buffer("running_mean") : Tensor(), rv = track_ ? buffer("running_var") : Tensor();
  if (is_training() && track_) {
    NoGradGuard ng;
    buffer("num_batches_tracked").add_(int64_t(1));
  }
  return batch_norm(x, use_batch && !is_training() ? Tensor() : rm, use_batch && !is_training() ? Tensor() : rv, w, b,
                    use_batch, momentum_, eps_);
}
std::string BatchNorm::extra_repr() const {
  return str(num_features_, ", eps=", eps_, ", momentum=", momentum_, ", affine=", affine_ ? "True" : "False",
             ", track_running_stats=", track_ ? "True" : "False");
}
std::shared_ptr<BatchNorm> BatchNorm1d(int64_t n, double eps, double momentum) {
  return std::make_shared<BatchNorm>(n, 2, eps, momentum);
}
std::shared_ptr<BatchNorm> BatchNorm2d(int64_t n, double eps, double momentum) {
  return std::make_shared<BatchNorm>(n, 4, eps, momentum);
}

LayerNorm::LayerNorm(IntList shape, double eps, bool affine) : shape_(std::move(shape)), eps_(eps), affine_(affine) {
  ANNEAL_CHECK(!shape_.empty(), ValueError, "LayerNorm: normalized_shape must not be empty");
  if (affine) {
    register_parameter("weight", ones(shape_));
    register_parameter("bias", zeros(shape_));
  }
}
Tensor LayerNorm::forward(const Tensor& x) {
  return affine_ ? layer_norm(x, shape_, param("weight"), param("bias"), eps_) : layer_norm(x, shape_, {}, {}, eps_);
}
std::string LayerNorm::extra_repr() const { return str(shape_to_string(shape_), ", eps=", eps_); }

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps, bool affine)
    : groups_(groups), channels_(channels), eps_(eps), affine_(affine) {
  ANNEAL_CHECK(groups > 0 && channels % groups == 0, ValueError, "GroupNorm: num_channels (", channels,
               ") must be divisible by num_groups (", groups, ")");
  if (affine) {
    register_parameter("weight", ones({channels}));
    register_parameter("bias", zeros({channels}));
  }
}
Tensor GroupNorm::forward(const Tensor& x) {
  return affine_ ? group_norm(x, groups_, param("weight"), param("bias"), eps_) : group_norm(x, groups_, {}, {}, eps_);
}
std::string GroupNorm::extra_repr() const { return str(groups_, ", ", channels_, ", eps=", eps_); }

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> padding_idx)
    : weight((check_positive("Embedding", "num_embeddings", num), check_positive("Embedding", "embedding_dim", dim),
              register_parameter("weight", randn({num, dim})))),
      num_(num),
      dim_(dim),
      padding_idx_(padding_idx) {
  if (padding_idx) {
    int64_t p = *padding_idx < 0 ? *padding_idx + num : *padding_idx;
    ANNEAL_CHECK(p >= 0 && p < num, IndexError, "Embedding: padding_idx ", *padding_idx, " must be within num_embeddings (",
                 num, ")");
    padding_idx_ = p;
    NoGradGuard ng;
    weight.select(0, p).zero_();
  }
}
Tensor Embedding::forward(const Tensor& idx) { return embedding(weight, idx, padding_idx_); }
std::string Embedding::extra_repr() const {
  return str(num_, ", ", dim_) + (padding_idx_ ? str(", padding_idx=", *padding_idx_) : "");
}

Dropout::Dropout(double p) : p_(p) {
  ANNEAL_CHECK(p >= 0 && p <= 1, ValueError, "Dropout: probability has to be between 0 and 1, but got ", p);
}
std::string Dropout::extra_repr() const { return str("p=", p_); }
std::string MaxPool2d::extra_repr() const { return str("kernel_size=", k_, ", stride=", s_, ", padding=", p_); }
std::string AvgPool2d::extra_repr() const { return str("kernel_size=", k_, ", stride=", s_, ", padding=", p_); }
std::string AdaptiveAvgPool2d::extra_repr() const { return str("output_size=(", h_, ", ", w_, ")"); }
std::string Flatten::extra_repr() const { return str("start_dim=", start_, ", end_dim=", end_); }

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(m);
}
void Sequential::push_back(std::shared_ptr<Module> m) { add_child(std::to_string(size()), std::move(m)); }
Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [n, m] : named_children()) h = (*m)(h);
  return h;
}
std::shared_ptr<Module> Sequential::operator[](size_t i) const {
  auto c = named_children();
  ANNEAL_CHECK(i < c.size(), IndexError, "Sequential: index ", i, " is out of range (", c.size(), " modules)");
  return c[i].second;
}
void ModuleList::push_back(std::shared_ptr<Module> m) { add_child(std::to_string(size()), std::move(m)); }
std::shared_ptr<Module> ModuleList::operator[](size_t i) const {
  auto c = named_children();
  ANNEAL_CHECK(i < c.size(), IndexError, "ModuleList: index ", i, " is out of range (", c.size(), " modules)");
  return c[i].second;
}

bool ModuleDict::contains(const std::string& name) const {
  for (auto& [n, m] : named_children())
    if (n == name) return true;
  return false;
}
std::shared_ptr<Module> ModuleDict::operator[](const std::string& name) const {
  std::string known;
  for (auto& [n, m] : named_children()) {
    if (n == name) return m;
    known += (known.empty() ? "" : ", ") + n;
  }
  throw IndexError(str("ModuleDict: no module named '", name, "' (has: ", known, ")"));
}

}  // namespace anneal::nn
