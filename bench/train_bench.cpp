// Training throughput of the three reference workloads, one JSON line per workload:
//   train_bench mlp|cnn|char_gpt [steps]
// mlp: 784-512-256-10, SGD 0.1 momentum 0.9, batch 128; cnn: conv3x3 1->32, pool,
// conv3x3 32->64, pool, fc 3136->128, fc 10, Adam 1e-3, batch 128; char_gpt: GPT with 4
// layers, d_model 128, 4 heads, context 128, vocabulary 75, AdamW 3e-4, batch 32.
// Batches are pre-built in memory (data loading is not measured); warm-up steps are
// excluded; peak RSS is the process's, so run one workload per process (bench/train.sh).
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

Workload make(const std::string& name) {
  Workload w;
  Generator g(1);
  if (name == "mlp" || name == "cnn") {
    if (name == "mlp") {
      w.model = nn::make_model("mlp", {{"sizes", "784,512,256,10"}});
      w.opt = std::make_unique<optim::SGD>(w.model->parameters(), 0.1, 0.9);
    } else {
      w.model = nn::make_model("cnn");
      w.opt = std::make_unique<optim::Adam>(w.model->parameters(), 1e-3);
    }
    for (int i = 0; i < 8; ++i)
      w.batches.push_back({randn({128, 1, 28, 28}, {}, &g), randint(0, 10, {128}, DType::Int64, &g)});
    w.loss = [](nn::Module& m, const data::Batch& b) { return cross_entropy(m(b.data), b.target); };
    w.items_per_step = 128;
    w.unit = "samples_per_s";
  } else if (name == "char_gpt") {
    w.model = nn::make_model("gpt", {{"vocab_size", "75"}, {"context", "128"}, {"n_layer", "4"}, {"n_head", "4"},
                                     {"d_model", "128"}});
    w.opt = std::make_unique<optim::AdamW>(w.model->parameters(), 3e-4, 0.9, 0.999, 1e-8, 0.01);
    for (int i = 0; i < 8; ++i)
      w.batches.push_back({randint(0, 75, {32, 128}, DType::Int64, &g), randint(0, 75, {32, 128}, DType::Int64, &g)});
    w.loss = [](nn::Module& m, const data::Batch& b) {
      return cross_entropy(m(b.data).flatten(0, 1), b.target.flatten());
    };
    w.items_per_step = 32 * 128;
    w.unit = "tokens_per_s";
  } else {
    throw ValueError("train_bench: unknown workload '" + name + "' (mlp, cnn, char_gpt)");
  }
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: train_bench mlp|cnn|char_gpt [steps]\n");
    return 2;
  }
  const std::string name = argv[1];
  try {
    Workload w = make(name);
    const int steps = argc > 2 ? std::atoi(argv[2]) : (name == "char_gpt" ? 60 : name == "cnn" ? 60 : 300);
    const int warmup = std::max(3, steps / 10);
    std::vector<double> ms;
    for (int s = 0; s < warmup + steps; ++s) {
      const data::Batch& b = w.batches[size_t(s) % w.batches.size()];
      auto t0 = std::chrono::steady_clock::now();
      w.opt->zero_grad();
      Tensor loss = w.loss(*w.model, b);
      loss.backward();
      w.opt->step();
      (void)loss.item<double>();
      if (s >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    double total = 0;
    for (double m : ms) total += m;
    std::sort(ms.begin(), ms.end());
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    char line[512];
    std::snprintf(line, sizeof line,
                  "{\"impl\": \"anneal\", \"workload\": \"%s\", \"%s\": %.1f, \"p50_step_ms\": %.3f, "
                  "\"p90_step_ms\": %.3f, \"peak_rss_mb\": %.1f, \"threads\": %d, \"steps\": %d}",
                  name.c_str(), w.unit, double(w.items_per_step) * double(ms.size()) / (total / 1000.0),
                  ms[ms.size() / 2], ms[ms.size() * 9 / 10], double(ru.ru_maxrss) / 1024.0, get_num_threads(), steps);
    bench::emit(line);
  } catch (const Error& e) {
    std::fprintf(stderr, "train_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
