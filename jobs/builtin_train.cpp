#include "jobs/builtin_train.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "anneal.h"
#include "jobs/job.h"
#include "tracking/tracking.h"

namespace anneal::jobs {
namespace {

const Node* get(const Node& root, const char* key) { return root.find(key); }
std::string str_of(const Node* n, const std::string& fallback) { return n && n->is_scalar() ? n->text : fallback; }
int64_t int_of(const Node* n, int64_t fallback) { return n ? n->as_int().value_or(fallback) : fallback; }
double num_of(const Node* n, double fallback) { return n ? n->as_number().value_or(fallback) : fallback; }
bool bool_of(const Node* n, bool fallback) { return n ? n->as_bool().value_or(fallback) : fallback; }

struct Ranks {
  bool on = false;
  int rank = 0, world = 1, local_rank = 0;
};

Ranks start_ranks() {
  Ranks r;
  const char* ws = std::getenv("WORLD_SIZE");
  if (!ws || std::atoi(ws) <= 1) return r;
  distributed::init_process_group();
  r.on = true;
  r.rank = distributed::get_rank();
  r.world = distributed::get_world_size();
  r.local_rank = distributed::bootstrap_info().local_rank;
  return r;
}

// The model's settings as the zoo takes them (every key but `name`, as text).
nn::ModelConfig model_settings(const Node& model) {
  nn::ModelConfig c;
  for (auto& [k, v] : model.map) {
    if (k == "name") continue;
    if (v.kind == Node::Kind::List) {
      std::string joined;
      for (auto& i : v.list) joined += (joined.empty() ? "" : ",") + i.text;
      c[k] = joined;
    } else if (auto b = v.as_bool()) {
      c[k] = *b ? "1" : "0";
    } else {
      c[k] = v.text;
    }
  }
  return c;
}

struct Data {
  std::shared_ptr<data::Dataset> train;
  std::function<std::map<std::string, double>(nn::Module&, Device)> evaluate;
  std::string headline;  // e.g. "test accuracy: %.2f%%" with its metric
  std::string headline_metric;
  bool sequence = false;  // targets per position ([B, T])
};

Tensor prepare_images(const Tensor& images, bool normalize, double mean, double std, bool channels_last_input) {
  Tensor x = images.to(DType::Float32) / 255.0;
  if (normalize) x = (x - mean) / std;
  if (channels_last_input) return x.contiguous();
  return x.unsqueeze(1).contiguous();
}

Data make_data(const Node& job, nn::ModelConfig& model_cfg, const std::string& model_name) {
  const Node& d = *get(job, "data");
  const std::string name = str_of(d.find("name"), "");
  const int64_t limit = int_of(d.find("limit"), 0);
  const bool normalize = bool_of(d.find("normalize"), true);
  Data out;
  auto limited = [&](Tensor x) { return limit > 0 ? x.narrow(0, 0, std::min(limit, x.size(0))) : x; };
  if (name == "fashion_mnist") {
    const std::string dir = str_of(d.find("path"), "/usr/share/datasets/fashion-mnist");
    Tensor tx = limited(data::read_idx(dir + "/train-images-idx3-ubyte.gz"));
    Tensor ty = data::read_idx(dir + "/train-labels-idx1-ubyte.gz").to(DType::Int64).narrow(0, 0, tx.size(0));
    Tensor vx = data::read_idx(dir + "/t10k-images-idx3-ubyte.gz");
    Tensor vy = data::read_idx(dir + "/t10k-labels-idx1-ubyte.gz").to(DType::Int64);
    out.train = std::make_shared<data::TensorDataset>(prepare_images(tx, normalize, 0.2860, 0.3530, false), ty);
    auto test = std::make_shared<data::TensorDataset>(prepare_images(vx, normalize, 0.2860, 0.3530, false), vy);
    auto loader = std::make_shared<data::DataLoader>(test, data::DataLoaderOptions{.batch_size = 1000});
    out.evaluate = [loader](nn::Module& m, Device dev) { return train::evaluate_classifier(m, *loader, dev); };
    if (model_name == "mlp" && !model_cfg.count("sizes")) model_cfg["sizes"] = "784,512,256,10";
    if (model_name == "resnet18" && !model_cfg.count("in_channels")) model_cfg["in_channels"] = "1";
    out.headline_metric = "test_accuracy";
  } else if (name == "cifar10") {
    const std::string dir = str_of(d.find("path"), "datasets/cifar-10-batches-bin");
    std::vector<std::string> train_files;
    for (int i = 1; i <= 5; ++i) train_files.push_back(dir + "/data_batch_" + std::to_string(i) + ".bin");
    data::ImageSet tr = data::read_cifar(train_files), te = data::read_cifar({dir + "/test_batch.bin"});
    auto img = [&](const Tensor& x) {  // [N, 3, 32, 32] uint8
      Tensor f = x.to(DType::Float32) / 255.0;
      return (normalize ? (f - 0.4734) / 0.2516 : f).contiguous();
    };
    Tensor tx = limited(tr.images);
    out.train = std::make_shared<data::TensorDataset>(img(tx), tr.labels.to(DType::Int64).narrow(0, 0, tx.size(0)));
    auto test = std::make_shared<data::TensorDataset>(img(te.images), te.labels.to(DType::Int64));
    auto loader = std::make_shared<data::DataLoader>(test, data::DataLoaderOptions{.batch_size = 500});
    out.evaluate = [loader](nn::Module& m, Device dev) { return train::evaluate_classifier(m, *loader, dev); };
    if (model_name == "cnn") {
      model_cfg.try_emplace("in_channels", "3");
      model_cfg.try_emplace("image_size", "32");
    }
    if (model_name == "mlp" && !model_cfg.count("sizes")) model_cfg["sizes"] = "3072,512,256,10";
    out.headline_metric = "test_accuracy";
  } else {  // text (characters) or token_shards (integers)
    Tensor tokens;
    int64_t vocab = 0;
    if (name == "text") {
      const std::string path = str_of(d.find("path"), "datasets/kjv.txt");
      std::string text = data::read_text(path);
      auto v = data::CharVocab::from_text(text, path);
      tokens = v.encode(text).to(DType::Int32);
      vocab = v.size();
    } else {
      const std::string path = str_of(d.find("path"), "");
      ANNEAL_CHECK(!path.empty(), ValueError, "data.path: token_shards needs the shard file");
      tokens = data::read_token_shard(path).to(DType::Int32);
      vocab = max(tokens).item<int64_t>() + 1;
    }
    if (limit > 0) tokens = tokens.narrow(0, 0, std::min(limit, tokens.numel()));
    ANNEAL_CHECK(model_name == "gpt", ValueError, "data: ", name, " trains the gpt model, not '", model_name, "'");
    if (!model_cfg.count("vocab_size")) model_cfg["vocab_size"] = std::to_string(vocab);
    const int64_t context = model_cfg.count("context") ? std::stoll(model_cfg["context"]) : 128;
    const double val_fraction = num_of(d.find("val_fraction"), 0.1);
    const int64_t split = static_cast<int64_t>(double(tokens.numel()) * (1 - val_fraction));
    ANNEAL_CHECK(split > context && tokens.numel() - split > context, ValueError, "data: ", tokens.numel(),
                 " tokens are too few for windows of ", context, " on both sides of the validation split");
    out.train = std::make_shared<data::TextWindows>(tokens.slice(0, 0, split), context);
    auto val = std::make_shared<data::TextWindows>(tokens.slice(0, split, tokens.numel()), context);
    out.evaluate = [val, context](nn::Module& m, Device dev) {
      double total = 0;
      int64_t windows = 0;
      std::vector<int64_t> starts;
      for (int64_t i = 0; i < val->size(); i += context) starts.push_back(i);
      for (size_t s = 0; s < starts.size(); s += 32) {
        std::vector<int64_t> idx(starts.begin() + long(s), starts.begin() + long(std::min(starts.size(), s + 32)));
        data::Batch b = val->get_batch(idx);
        Tensor logits = m(b.data.to(dev, true));
        total += cross_entropy(logits.flatten(0, 1), b.target.to(dev, true).flatten()).item<double>() * double(idx.size());
        windows += int64_t(idx.size());
      }
      return std::map<std::string, double>{{"val_loss", total / double(windows)}};
    };
    out.sequence = true;
    out.headline_metric = "val_loss";
  }
  return out;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const Node* o, TensorList params) {
  const std::string name = o ? str_of(o->find("name"), "adam") : "adam";
  auto f = [&](const char* k, double d) { return o ? num_of(o->find(k), d) : d; };
  const double wd = f("weight_decay", name == "adamw" ? 1e-2 : 0);
  double b1 = 0.9, b2 = 0.999;
  if (o && o->find("betas")) {
    const Node& b = *o->find("betas");
    ANNEAL_CHECK(b.list.size() == 2, ValueError, b.origin.str(), ": optimizer.betas: expected [beta1, beta2]");
    b1 = *b.list[0].as_number();
    b2 = *b.list[1].as_number();
  }
  if (name == "sgd")
    return std::make_unique<optim::SGD>(params, f("lr", 0.1), f("momentum", 0.9), 0.0, wd,
                                        o ? bool_of(o->find("nesterov"), false) : false);
  if (name == "adam") return std::make_unique<optim::Adam>(params, f("lr", 1e-3), b1, b2, f("eps", 1e-8), wd);
  if (name == "adamw") return std::make_unique<optim::AdamW>(params, f("lr", 1e-3), b1, b2, f("eps", 1e-8), wd);
  if (name == "rmsprop")
    return std::make_unique<optim::RMSprop>(params, f("lr", 1e-2), 0.99, f("eps", 1e-8), wd, f("momentum", 0));
  return std::make_unique<optim::Adagrad>(params, f("lr", 1e-2), 0.0, wd, 0.0, f("eps", 1e-10));
}

std::unique_ptr<optim::LRScheduler> make_schedule(const Node* s, optim::Optimizer& opt, int64_t total_steps) {
  const std::string name = s ? str_of(s->find("name"), "constant") : "constant";
  auto f = [&](const char* k, double d) { return s ? num_of(s->find(k), d) : d; };
  auto i = [&](const char* k, int64_t d) { return s ? int_of(s->find(k), d) : d; };
  if (name == "constant") return nullptr;
  if (name == "cosine") return std::make_unique<optim::CosineAnnealingLR>(opt, std::max<int64_t>(total_steps, 1), f("min_lr", 0));
  if (name == "warmup_cosine")
    return std::make_unique<optim::WarmupCosineLR>(opt, i("warmup_steps", 0), std::max<int64_t>(total_steps, 1), f("min_lr", 0));
  if (name == "step") return std::make_unique<optim::StepLR>(opt, i("step_size", 1000), f("gamma", 0.1));
  return std::make_unique<optim::ExponentialLR>(opt, f("gamma", 0.999));
}

}  // namespace

int run_builtin_training(const std::string& run_dir) {
  const Ranks ranks = start_ranks();
  const Job job = load_job(run_dir + "/resolved.yaml");
  const Node& t = job.tree;
  const uint64_t seed = static_cast<uint64_t>(int_of(get(t, "seed"), 0));
  manual_seed(seed);
  const std::string dev = str_of(get(t, "device"), "auto");
  const Device device(dev == "auto" ? (cuda_is_available() ? "cuda:" + std::to_string(ranks.local_rank) : "cpu")
                      : dev == "cuda" ? "cuda:" + std::to_string(ranks.local_rank)
                                      : dev);
  const std::string precision = str_of(get(t, "precision"), "fp32");
  ANNEAL_CHECK(precision != "fp16" || device.is_cuda(), ValueError,
               "precision: fp16 needs a GPU (its loss scaling is for CUDA); use bf16 on the CPU");
  const bool amp = precision != "fp32";
  const DType low = precision == "fp16" ? DType::Float16 : DType::BFloat16;

  const Node& model_node = *get(t, "model");
  const std::string model_name = str_of(model_node.find("name"), "");
  nn::ModelConfig cfg = model_settings(model_node);
  Data d = make_data(t, cfg, model_name);
  auto net = nn::make_model(model_name, cfg);
  net->to(device);
  std::shared_ptr<nn::Module> model = net;
  if (ranks.on) model = std::make_shared<distributed::DistributedDataParallel>(net);

  const int64_t batch = int_of(get(t, "batch_size"), 128);
  data::DataLoaderOptions lo{.batch_size = batch, .shuffle = true, .seed = seed, .pin_memory = device.is_cuda()};
  if (ranks.on) {
    ANNEAL_CHECK(batch % ranks.world == 0, ValueError, "batch_size ", batch, " does not divide among ", ranks.world,
                 " ranks: pick a multiple of the world size");
    lo.batch_size = batch / ranks.world;
    lo.sampler = std::make_shared<data::DistributedSampler>(d.train->size(), ranks.world, ranks.rank, true, seed);
  }
  data::DataLoader loader(d.train, lo);
  auto opt = make_optimizer(get(t, "optimizer"), model->parameters());

  train::TrainerOptions o;
  o.epochs = int_of(get(t, "epochs"), 1);
  o.max_steps = int_of(get(t, "max_steps"), 0);
  o.accumulate = int_of(get(t, "accumulate"), 1);
  o.clip_grad_norm = num_of(get(t, "clip_grad_norm"), 0);
  o.eval_every = int_of(get(t, "eval_every"), 0);
  o.checkpoint_every = int_of(get(t, "checkpoint_every"), 0);
  o.log_every = int_of(get(t, "log_every"), 50);
  o.run_dir = run_dir + "/checkpoints";
  o.metrics_file = false;
  o.config = to_yaml(t);
  const int64_t steps_per_epoch = (loader.num_batches() + o.accumulate - 1) / o.accumulate;
  int64_t total = steps_per_epoch * o.epochs;
  if (o.max_steps > 0) total = std::min(total, o.max_steps);
  auto sched = make_schedule(get(t, "schedule"), *opt, total);

  if (ranks.rank == 0) {
    std::printf("device: %s%s%s\n", device.str().c_str(), amp ? (", autocast " + precision).c_str() : "",
                ranks.on ? (", " + std::to_string(ranks.world) + " ranks (data parallel)").c_str() : "");
    std::map<std::string, std::string> params;
    for (auto& [k, v] : cfg) params["model." + k] = v;
    params["model.name"] = model_name;
    params["parameters"] = std::to_string(net->num_parameters());
    tracking::log_params(params);
  }
  const bool sequence = d.sequence;
  train::Trainer trainer(*model, *opt, loader,
                         [&](nn::Module& m, const data::Batch& b) {
                           AutocastGuard autocast(device.type, low, amp);
                           Tensor logits = m(b.data.to(device, true));
                           Tensor target = b.target.to(device, true);
                           return sequence ? cross_entropy(logits.flatten(0, 1), target.flatten())
                                           : cross_entropy(logits, target);
                         },
                         o);
  trainer.set_scheduler(sched.get());
  trainer.set_evaluator([&](nn::Module& m) {
    AutocastGuard autocast(device.type, low, amp);
    return d.evaluate(m, device);
  });
  train::TrainResult result = trainer.fit();
  if (ranks.rank == 0) {
    const double v = result.last_eval.at(d.headline_metric);
    char line_buf[128];
    if (d.headline_metric == "test_accuracy") std::snprintf(line_buf, sizeof line_buf, "test accuracy: %.2f%%", v);
    else std::snprintf(line_buf, sizeof line_buf, "validation loss: %.4f nats/token after %lld steps", v,
                       static_cast<long long>(result.steps));
    const std::string line = line_buf;
    tracking::set_tag("result", line);
    tracking::flush();
    std::printf("%s\n", line.c_str());
  }
  if (ranks.on) distributed::destroy_process_group();
  return 0;
}

}  // namespace anneal::jobs
