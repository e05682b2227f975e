#include "nn/models.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "nn/init.h"

namespace anneal::nn {

MLP::MLP(std::vector<int64_t> sizes, double dropout) {
  ANNEAL_CHECK(sizes.size() >= 2, ValueError, "MLP: needs at least an input and an output size, got ", sizes.size(),
               " sizes");
  push_back(std::make_shared<Flatten>());
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    push_back(std::make_shared<Linear>(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.size()) {
      push_back(std::make_shared<ReLU>());
      if (dropout > 0) push_back(std::make_shared<Dropout>(dropout));
    }
  }
}

SmallCNN::SmallCNN(SmallCNNOptions o) {
  ANNEAL_CHECK(!o.channels.empty(), ValueError, "SmallCNN: needs at least one conv stage");
  int64_t c = o.in_channels, side = o.image_size;
  for (int64_t out : o.channels) {
    push_back(std::make_shared<Conv2d>(c, out, 3, Conv2dArgs{.padding = 1, .bias = !o.batch_norm}));
    if (o.batch_norm) push_back(BatchNorm2d(out));
    push_back(std::make_shared<ReLU>());
    push_back(std::make_shared<MaxPool2d>(2));
    c = out, side /= 2;
  }
  ANNEAL_CHECK(side > 0, ValueError, "SmallCNN: image_size ", o.image_size, " is too small for ", o.channels.size(),
               " pooling stages");
  push_back(std::make_shared<Flatten>());
  push_back(std::make_shared<Linear>(c * side * side, o.hidden));
  push_back(std::make_shared<ReLU>());
  if (o.dropout > 0) push_back(std::make_shared<Dropout>(o.dropout));
  push_back(std::make_shared<Linear>(o.hidden, o.num_classes));
}

BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride) {
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, Conv2dArgs{stride, 1, 1, 1, false}));
  bn1_ = register_module("bn1", BatchNorm2d(out));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, Conv2dArgs{1, 1, 1, 1, false}));
  bn2_ = register_module("bn2", BatchNorm2d(out));
  if (stride != 1 || in != out) {
    downsample_ = register_module(
        "downsample", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                          std::make_shared<Conv2d>(in, out, 1, Conv2dArgs{stride, 0, 1, 1, false}), BatchNorm2d(out)}));
  }
}
Tensor BasicBlock::forward(const Tensor& x) {
  Tensor h = relu((*bn1_)((*conv1_)(x)));
  h = (*bn2_)((*conv2_)(h));
  return relu(h + (downsample_ ? (*downsample_)(x) : x));
}

ResNet18::ResNet18(int64_t num_classes, int64_t in_channels, int64_t width) {
  ANNEAL_CHECK(width > 0 && num_classes > 0 && in_channels > 0, ValueError,
               "ResNet18: num_classes, in_channels and width must be positive");
  stem_ = register_module("stem", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                                      std::make_shared<Conv2d>(in_channels, width, 3, Conv2dArgs{1, 1, 1, 1, false}),
                                      BatchNorm2d(width), std::make_shared<ReLU>()}));
  layers_ = register_module("layers", std::make_shared<Sequential>());
  int64_t c = width;
  for (int stage = 0; stage < 4; ++stage) {
    int64_t out = width << stage, stride = stage == 0 ? 1 : 2;
    layers_->push_back(std::make_shared<BasicBlock>(c, out, stride));
    layers_->push_back(std::make_shared<BasicBlock>(out, out, 1));
    c = out;
  }
  fc_ = register_module("fc", std::make_shared<Linear>(c, num_classes));
  // torchvision: kaiming_normal_(fan_out, relu) for convolutions.
  apply([](Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) init::kaiming_normal_(conv->weight, 0, init::FanMode::FanOut, "relu");
  });
}
Tensor ResNet18::forward(const Tensor& x) {
  Tensor h = (*layers_)((*stem_)(x));
  return (*fc_)(adaptive_avg_pool2d(h, 1, 1).flatten(1));
}

GPT::GPT(GPTConfig c) : cfg_(c) {
  ANNEAL_CHECK(c.vocab_size > 0 && c.context > 0 && c.n_layer > 0 && c.n_head > 0 && c.d_model > 0, ValueError,
               "GPT: vocab_size, context, n_layer, n_head and d_model must be positive");
  wte_ = register_module("wte", std::make_shared<Embedding>(c.vocab_size, c.d_model));
  wpe_ = register_module("wpe", std::make_shared<Embedding>(c.context, c.d_model));
  blocks_ = register_module("h", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < c.n_layer; ++i)
    blocks_->push_back(std::make_shared<TransformerBlock>(c.d_model, c.n_head,
                                                          TransformerBlockOptions{c.dropout, true, 4, c.bias}));
  ln_f_ = register_module("ln_f", std::make_shared<LayerNorm>(IntList{c.d_model}));

  const double std = 0.02, residual_std = 0.02 / std::sqrt(2.0 * double(c.n_layer));
  init::normal_(wte_->weight, 0, std);
  init::normal_(wpe_->weight, 0, std);
  for (size_t i = 0; i < blocks_->size(); ++i) {
    auto& b = static_cast<TransformerBlock&>(*(*blocks_)[i]);
    init::normal_(b.attn->in_proj_weight, 0, std);
    init::normal_(b.attn->out_proj->weight, 0, residual_std);
    init::normal_(b.fc->weight, 0, std);
    init::normal_(b.proj->weight, 0, residual_std);
    for (Linear* l : {b.attn->out_proj.get(), b.fc.get(), b.proj.get()})
      if (l->bias.defined()) init::zeros_(l->bias);
  }
}

Tensor GPT::forward(const Tensor& tokens) {
  ANNEAL_CHECK(tokens.defined() && tokens.dim() == 2, ValueError, "GPT: expected tokens of shape [B, T], got ",
               tokens.defined() ? shape_to_string(tokens.shape()) : std::string("an undefined tensor"));
  const int64_t T = tokens.size(1);
  ANNEAL_CHECK(T <= cfg_.context, ValueError, "GPT: sequence length ", T, " exceeds the context (", cfg_.context, ")");
  Tensor pos = arange(0, T, 1, {DType::Int64, tokens.device()});
  Tensor h = dropout((*wte_)(tokens) + (*wpe_)(pos), cfg_.dropout, is_training());  // [B, T, C]
  for (size_t i = 0; i < blocks_->size(); ++i) h = (*(*blocks_)[i])(h);
  return linear((*ln_f_)(h), wte_->weight);  // [B, T, V], tied to the token embedding
}

Tensor GPT::generate(const Tensor& prompt, int64_t new_tokens, double temperature, int64_t top_k, Generator* gen) {
  ANNEAL_CHECK(temperature > 0, ValueError, "GPT.generate: temperature must be positive, got ", temperature);
  ANNEAL_CHECK(prompt.defined() && prompt.numel() > 0 && prompt.dim() <= 2, ValueError,
               "GPT.generate: prompt must be a non-empty [T] or [1, T] tensor of tokens");
  NoGradGuard no_grad;
  std::vector<int64_t> seq;
  Tensor p = prompt.cpu().to(DType::Int64).contiguous();
  seq.assign(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
  for (int64_t n = 0; n < new_tokens; ++n) {
    const int64_t start = std::max<int64_t>(0, int64_t(seq.size()) - cfg_.context);
    std::vector<int64_t> window(seq.begin() + start, seq.end());
    Tensor idx = tensor(window, {1, int64_t(window.size())}).to(wte_->weight.device());
    Tensor logits = forward(idx).select(1, -1).select(0, 0).cpu().to(DType::Float64).contiguous();
    std::vector<double> l(logits.data_ptr<double>(), logits.data_ptr<double>() + logits.numel());
    double cut = -INFINITY;
    if (top_k > 0 && top_k < int64_t(l.size())) {
      std::vector<double> sorted = l;
      std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<>());
      cut = sorted[top_k - 1];
    }
    const double mx = *std::max_element(l.begin(), l.end());
    double total = 0;
    for (double& v : l) total += (v = v < cut ? 0.0 : std::exp((v - mx) / temperature));
    double u = rand({1}, DType::Float64, gen).item<double>() * total;
    int64_t chosen = int64_t(l.size()) - 1;
    for (size_t i = 0; i < l.size(); ++i)
      if ((u -= l[i]) < 0) { chosen = int64_t(i); break; }
    seq.push_back(chosen);
  }
  return tensor(seq, {int64_t(seq.size())});
}

std::string GPT::extra_repr() const {
  return str("vocab_size=", cfg_.vocab_size, ", context=", cfg_.context, ", n_layer=", cfg_.n_layer,
             ", n_head=", cfg_.n_head, ", d_model=", cfg_.d_model, ", dropout=", cfg_.dropout);
}

namespace {
// Reads settings from a ModelConfig, rejecting any it was not asked for.
class Settings {
 public:
  Settings(std::string model, const ModelConfig& c) : model_(std::move(model)), c_(c) {}
  int64_t i(const std::string& key, int64_t def) { return parse<int64_t>(key, def); }
  double d(const std::string& key, double def) { return parse<double>(key, def); }
  bool b(const std::string& key, bool def) { return parse<int64_t>(key, def) != 0; }
  std::vector<int64_t> list(const std::string& key, std::vector<int64_t> def) {
    known_.push_back(key);
    auto it = c_.find(key);
    if (it == c_.end()) return def;
    std::vector<int64_t> out;
    std::stringstream ss(it->second);
    for (std::string item; std::getline(ss, item, ',');) out.push_back(parse_one<int64_t>(key, item));
    return out;
  }
  void finish() const {
    for (auto& [k, v] : c_) {
      if (std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
      std::string known;
      for (auto& n : known_) known += (known.empty() ? "" : ", ") + n;
      throw ValueError(str("make_model: model '", model_, "' has no setting '", k, "' (it accepts: ", known, ")"));
    }
  }

 private:
  template <typename T> T parse(const std::string& key, T def) {
    known_.push_back(key);
    auto it = c_.find(key);
    return it == c_.end() ? def : parse_one<T>(key, it->second);
  }
  template <typename T> T parse_one(const std::string& key, const std::string& text) const {
    std::istringstream ss(text);
    T v{};
    ss >> v;
    ANNEAL_CHECK(!ss.fail() && ss.eof(), ValueError, "make_model: setting '", key, "' of model '", model_,
                 "' must be a number, got '", text, "'");
    return v;
  }
  std::string model_;
  const ModelConfig& c_;
  std::vector<std::string> known_;
};
}  // namespace

std::shared_ptr<Module> make_model(const std::string& name, const ModelConfig& config) {
  Settings s(name, config);
  std::shared_ptr<Module> m;
  if (name == "mlp") {
    auto sizes = s.list("sizes", {784, 512, 256, 10});
    double p = s.d("dropout", 0.0);
    s.finish();
    m = std::make_shared<MLP>(sizes, p);
  } else if (name == "cnn") {
    SmallCNNOptions o;
    o.in_channels = s.i("in_channels", o.in_channels);
    o.image_size = s.i("image_size", o.image_size);
    o.num_classes = s.i("num_classes", o.num_classes);
    o.channels = s.list("channels", o.channels);
    o.hidden = s.i("hidden", o.hidden);
    o.batch_norm = s.b("batch_norm", o.batch_norm);
    o.dropout = s.d("dropout", o.dropout);
    s.finish();
    m = std::make_shared<SmallCNN>(o);
  } else if (name == "resnet18") {
    int64_t classes = s.i("num_classes", 10), in = s.i("in_channels", 3), width = s.i("width", 64);
    s.finish();
    m = std::make_shared<ResNet18>(classes, in, width);
  } else if (name == "gpt") {
    GPTConfig c;
    c.vocab_size = s.i("vocab_size", c.vocab_size);
    c.context = s.i("context", c.context);
    c.n_layer = s.i("n_layer", c.n_layer);
    c.n_head = s.i("n_head", c.n_head);
    c.d_model = s.i("d_model", c.d_model);
    c.dropout = s.d("dropout", c.dropout);
    c.bias = s.b("bias", c.bias);
    s.finish();
    m = std::make_shared<GPT>(c);
  } else {
    throw ValueError(str("make_model: unknown model '", name, "' (known: mlp, cnn, resnet18, gpt)"));
  }
  return m;
}

}  // namespace anneal::nn
