// One rank of the distributed benchmarks (bench/dist.sh starts the ranks; rank 0 prints
// one JSON line per measurement). PyTorch's counterpart is bench/dist_reference.py.
//
//   dist_bench allreduce            float32 all-reduce, 1 KiB .. 64 MiB: time, bus bandwidth
//   dist_bench ddp mlp|cnn MODE     training steps/s; MODE: ddp (buckets overlap backward),
//                                   no-overlap (one bucket, sent after backward), local (no
//                                   communication: the compute alone), plain (no DDP wrapper)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "anneal.h"

using namespace anneal;
namespace dist = anneal::distributed;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int allreduce(const dist::ProcessGroupPtr& pg, int64_t lo, int64_t hi, int64_t factor) {
  const int n = pg->size();
  for (int64_t bytes = lo; bytes <= hi; bytes *= factor) {
    Tensor t = ones({bytes / 4});
    const int iters = static_cast<int>(std::clamp<int64_t>((256ll << 20) / bytes, 5, 2000));
    for (int i = 0; i < 3; ++i) pg->all_reduce(t)->wait();
    pg->barrier()->wait();
    auto start = Clock::now();
    for (int i = 0; i < iters; ++i) pg->all_reduce(t)->wait();
    const double s = seconds_since(start) / iters;
    const double algbw = static_cast<double>(bytes) / s / 1e9;
    if (pg->rank() == 0)
      std::printf("{\"bench\":\"allreduce\",\"impl\":\"anneal\",\"ranks\":%d,\"bytes\":%lld,\"us\":%.2f,"
                  "\"algbw_GBps\":%.4f,\"busbw_GBps\":%.4f}\n",
                  n, (long long)bytes, s * 1e6, algbw, algbw * 2.0 * (n - 1) / n);
  }
  return 0;
}

int ddp(const dist::ProcessGroupPtr& pg, const std::string& model, const std::string& mode) {
  manual_seed(1);
  const bool mlp = model == "mlp";
  const int64_t global = mlp ? 128 : 64;
  const int64_t per_rank = mode == "plain" ? global : global / pg->size();
  auto net = mlp ? nn::make_model("mlp", {{"sizes", "784,512,256,10"}}) : nn::make_model("cnn");
  std::shared_ptr<nn::Module> m = net;
  std::shared_ptr<dist::DistributedDataParallel> wrapped;
  if (mode == "ddp" || mode == "no-overlap") {
    dist::DDPOptions o;
    if (mode == "no-overlap") o.bucket_cap_mb = 1e5;  // one bucket: it can only start after backward
    wrapped = std::make_shared<dist::DistributedDataParallel>(net, pg, o);
    m = wrapped;
  }
  std::unique_ptr<optim::Optimizer> opt;
  if (mlp) opt = std::make_unique<optim::SGD>(m->parameters(), 0.1, 0.9);
  else opt = std::make_unique<optim::Adam>(m->parameters(), 1e-3);
  std::vector<std::pair<Tensor, Tensor>> batches;
  for (int i = 0; i < 8; ++i)
    batches.push_back({randn({per_rank, 1, 28, 28}), randint(0, 10, {per_rank}, DType::Int64)});
  const int warmup = 5, steps = mlp ? 150 : 30;
  std::vector<double> ms;
  for (int s = 0; s < warmup + steps; ++s) {
    auto& [x, y] = batches[s % batches.size()];
    auto start = Clock::now();
    opt->zero_grad();
    cross_entropy((*m)(mlp ? x.flatten(1) : x), y).backward();
    opt->step();
    if (s >= warmup) ms.push_back(seconds_since(start) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  const double p50 = ms[ms.size() / 2];
  double total = 0;
  for (double v : ms) total += v;
  const double mean = total / ms.size();
  if (pg->rank() == 0)
    std::printf("{\"bench\":\"ddp\",\"impl\":\"anneal\",\"model\":\"%s\",\"mode\":\"%s\",\"ranks\":%d,"
                "\"global_batch\":%lld,\"p50_step_ms\":%.3f,\"mean_step_ms\":%.3f,\"samples_per_s\":%.1f,"
                "\"buckets\":%zu}\n",
                model.c_str(), mode.c_str(), pg->size(), (long long)(mode == "plain" ? per_rank : global), p50, mean,
                (mode == "plain" || mode == "local" ? per_rank * (mode == "local" ? pg->size() : 1) : global) / (mean / 1e3),
                wrapped ? wrapped->reducer().bucket_indices().size() : 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) {
    std::fprintf(stderr, "usage: dist_bench allreduce | ddp mlp|cnn ddp|no-overlap|local|plain\n");
    return 2;
  }
  try {
    auto pg = dist::init_process_group();
    // allreduce [MIN_BYTES MAX_BYTES FACTOR]: 1 KiB .. 64 MiB by 4 unless given
    int rc = a[0] == "allreduce" ? allreduce(pg, a.size() > 1 ? std::stoll(a[1]) : 1024, a.size() > 2 ? std::stoll(a[2]) : 64 << 20,
                                             a.size() > 3 ? std::stoll(a[3]) : 4)
                                 : ddp(pg, a.at(1), a.at(2));
    pg->barrier()->wait();
    pg.reset();
    dist::destroy_process_group();
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_bench: %s\n", e.what());
    return 1;
  }
}
