// Training throughput of the reference workloads, one JSON line per workload:
//   train_bench mlp|cnn|char_gpt|gpt2 [steps] [--device cuda:0] [--graph] [--autocast]
// --autocast: forward and loss under bf16 autocast (float32 master weights), as
// train_reference.py --autocast does for PyTorch.
// --graph (CUDA): after eager warm-up steps the whole step (forward, backward, optimizer)
// is captured once into a CUDA graph; each timed step copies its batch into the captured
// input tensors and replays the graph (Adam/AdamW are made capturable).
// mlp: 784-512-256-10, SGD 0.1 momentum 0.9, batch 128; cnn: conv3x3 1->32, pool,
// conv3x3 32->64, pool, fc 3136->128, fc 10, Adam 1e-3, batch 128; char_gpt: GPT with 4
// layers, d_model 128, 4 heads, context 128, vocabulary 75, AdamW 3e-4, batch 32.
// Batches are pre-built in memory (data loading is not measured); warm-up steps are
// excluded; peak RSS is the process's, so run one workload per process (bench/train.sh).
// gpt2: GPT-2 small (12 layers, d_model 768, 12 heads, context 1024, vocabulary 50257,
// batch 4, AdamW), for the GPU; its line also reports model TFLOP/s (6·params·tokens/s).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "anneal.h"
#include "bench_util.h"

using namespace anneal;

namespace {

struct Workload {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> opt;
  std::vector<data::Batch> batches;
  std::function<Tensor(nn::Module&, const data::Batch&)> loss;
  int64_t items_per_step;  // samples or tokens
  const char* unit;
};

// The model is moved to `device` before its optimizer is made, so both live there.
Workload make(const std::string& name, Device device, bool capturable) {
  Workload w;
  Generator g(1);
  if (name == "mlp" || name == "cnn") {
    if (name == "mlp") {
      w.model = nn::make_model("mlp", {{"sizes", "784,512,256,10"}});
      w.model->to(device);
      w.opt = std::make_unique<optim::SGD>(w.model->parameters(), 0.1, 0.9);
    } else {
      w.model = nn::make_model("cnn");
      w.model->to(device);
      w.opt = std::make_unique<optim::Adam>(w.model->parameters(), 1e-3, 0.9, 0.999, 1e-8, 0.0, false, capturable);
    }
    for (int i = 0; i < 8; ++i)
      w.batches.push_back({randn({128, 1, 28, 28}, {}, &g), randint(0, 10, {128}, DType::Int64, &g)});
    w.loss = [](nn::Module& m, const data::Batch& b) { return cross_entropy(m(b.data), b.target); };
    w.items_per_step = 128;
    w.unit = "samples_per_s";
  } else if (name == "char_gpt") {
    w.model = nn::make_model("gpt", {{"vocab_size", "75"}, {"context", "128"}, {"n_layer", "4"}, {"n_head", "4"},
                                     {"d_model", "128"}});
    w.model->to(device);
    w.opt = std::make_unique<optim::AdamW>(w.model->parameters(), 3e-4, 0.9, 0.999, 1e-8, 0.01, false, capturable);
    for (int i = 0; i < 8; ++i)
      w.batches.push_back({randint(0, 75, {32, 128}, DType::Int64, &g), randint(0, 75, {32, 128}, DType::Int64, &g)});
    w.loss = [](nn::Module& m, const data::Batch& b) {
      return cross_entropy(m(b.data).flatten(0, 1), b.target.flatten());
    };
    w.items_per_step = 32 * 128;
    w.unit = "tokens_per_s";
  } else if (name == "gpt2") {
    w.model = nn::make_model("gpt", {{"vocab_size", "50257"}, {"context", "1024"}, {"n_layer", "12"},
                                     {"n_head", "12"}, {"d_model", "768"}});
    w.model->to(device);
    w.opt = std::make_unique<optim::AdamW>(w.model->parameters(), 3e-4, 0.9, 0.95, 1e-8, 0.1, false, capturable);
    for (int i = 0; i < 2; ++i)
      w.batches.push_back({randint(0, 50257, {4, 1024}, DType::Int64, &g), randint(0, 50257, {4, 1024}, DType::Int64, &g)});
    w.loss = [](nn::Module& m, const data::Batch& b) {
      return cross_entropy(m(b.data).flatten(0, 1), b.target.flatten());
    };
    w.items_per_step = 4 * 1024;
    w.unit = "tokens_per_s";
  } else {
    throw ValueError("train_bench: unknown workload '" + name + "' (mlp, cnn, char_gpt, gpt2)");
  }
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  Device device = kCPU;
  bool graph = false, autocast = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = Device(argv[++i]);
    else if (std::strcmp(argv[i], "--graph") == 0) graph = true;
    else if (std::strcmp(argv[i], "--autocast") == 0) autocast = true;
    else args.push_back(argv[i]);
  }
  if (args.empty()) {
    std::fprintf(stderr, "usage: train_bench mlp|cnn|char_gpt|gpt2 [steps] [--device cuda:0] [--graph] [--autocast]\n");
    return 2;
  }
  const std::string name = args[0];
  if (graph && !device.is_cuda()) {
    std::fprintf(stderr, "train_bench: --graph needs --device cuda:N\n");
    return 2;
  }
  try {
    Workload w = make(name, device, graph);
    for (auto& b : w.batches) b = {b.data.to(device), b.target.to(device)};
    const int steps = args.size() > 1 ? std::atoi(args[1].c_str())
                                      : (name == "gpt2" ? 20 : name == "char_gpt" ? 60 : name == "cnn" ? 60 : 300);
    const int warmup = std::max(3, steps / 10);
    std::vector<double> ms;
    auto eager_step = [&](const data::Batch& b) {
      w.opt->zero_grad();
      Tensor loss;
      {
        AutocastGuard ac(device.type, DType::BFloat16, autocast);
        loss = w.loss(*w.model, b);
      }
      loss.backward();
      w.opt->step();
      return loss;
    };
    std::unique_ptr<CudaGraph> cuda_graph;
    data::Batch captured_batch;
    Tensor captured_loss;
    for (int s = 0; s < warmup + steps; ++s) {
      const data::Batch& b = w.batches[size_t(s) % w.batches.size()];
      if (graph && !cuda_graph && s == warmup - 1) {  // capture in the last warm-up step
        captured_batch = {b.data.clone(), b.target.clone()};
        cuda_graph = std::make_unique<CudaGraph>(device.index);
        cuda_graph->capture_begin();
        captured_loss = eager_step(captured_batch);
        cuda_graph->capture_end();
      }
      auto t0 = std::chrono::steady_clock::now();
      if (cuda_graph) {
        captured_batch.data.copy_(b.data);
        captured_batch.target.copy_(b.target);
        cuda_graph->replay();
        (void)captured_loss.item<double>();
      } else {
        (void)eager_step(b).item<double>();
      }
      if (s >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    double total = 0;
    for (double m : ms) total += m;
    std::sort(ms.begin(), ms.end());
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double rate = double(w.items_per_step) * double(ms.size()) / (total / 1000.0);
    int64_t params = 0;
    for (const Tensor& p : w.model->parameters()) params += p.numel();
    char line[640];
    std::snprintf(line, sizeof line,
                  "{\"impl\": \"%s\", \"workload\": \"%s\", \"device\": \"%s\", \"autocast\": %s, \"%s\": %.1f, "
                  "\"p50_step_ms\": %.3f, \"p90_step_ms\": %.3f, \"peak_rss_mb\": %.1f, \"threads\": %d, "
                  "\"steps\": %d, \"model_tflops\": %.2f}",
                  graph ? "anneal-graph" : "anneal", name.c_str(), device.str().c_str(), autocast ? "true" : "false",
                  w.unit, rate, ms[ms.size() / 2], ms[ms.size() * 9 / 10],
                  double(ru.ru_maxrss) / 1024.0, get_num_threads(), steps,
                  std::strcmp(w.unit, "tokens_per_s") == 0 ? 6.0 * double(params) * rate / 1e12 : 0.0);
    bench::emit(line);
  } catch (const Error& e) {
    std::fprintf(stderr, "train_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
