// The cost of tracking, as JSON lines:
//   tracking_bench RUNS_DIR [POSTGRES_URI]
// - log_metric: 100,000 calls from a loop (what the training loop pays), then the flush
//   that writes them (the background thread's work, paid off the loop);
// - registry writes: points per second into the registry in batches of 10,000 (one
//   transaction each, as a flush does), on SQLite and, given a URI, on PostgreSQL.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tracking/registry.h"
#include "tracking/run_folder.h"
#include "tracking/tracking.h"

using namespace anneal::tracking;
using Clock = std::chrono::steady_clock;

static double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

static void registry_rate(const std::string& engine, const std::string& uri) {
  auto reg = Registry::open(uri);
  RunRecord r;
  r.id = new_run_id() + "-bench-" + engine;
  r.experiment = "bench";
  r.name = r.id;
  r.status = kRunning;
  r.folder = "/dev/null";
  r.created = now_seconds();
  reg->create_run(r);
  std::vector<double> rates;
  for (int round = 0; round < 5; ++round) {
    std::vector<MetricPoint> batch;
    for (int i = 0; i < 10000; ++i) batch.push_back({"loss", 1.0 / (i + 1), round * 10000 + i, now_seconds()});
    auto t0 = Clock::now();
    reg->log_batch(r.id, batch);
    rates.push_back(10000 / seconds(t0, Clock::now()));
  }
  std::sort(rates.begin(), rates.end());
  reg->delete_run(r.id);
  bench::emit("{\"bench\": \"registry_write\", \"engine\": \"" + engine + "\", \"batch\": 10000, \"points_per_s\": " +
              std::to_string(rates[rates.size() / 2]) + ", \"min\": " + std::to_string(rates.front()) +
              ", \"max\": " + std::to_string(rates.back()) + "}");
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tracking_bench RUNS_DIR [POSTGRES_URI]\n");
    return 2;
  }
  const std::string root = argv[1];
  start_run({"bench", "log-cost", root});
  std::vector<double> loops, flushes;
  for (int round = 0; round < 5; ++round) {
    auto t0 = Clock::now();
    for (int i = 0; i < 100000; ++i) log_metric("loss", 1.0 / (i + 1), round * 100000 + i);
    auto t1 = Clock::now();
    flush();
    auto t2 = Clock::now();
    loops.push_back(seconds(t0, t1));
    flushes.push_back(seconds(t1, t2));
  }
  end_run();
  std::sort(loops.begin(), loops.end());
  std::sort(flushes.begin(), flushes.end());
  bench::emit("{\"bench\": \"log_metric_100k\", \"lang\": \"c++\", \"loop_s\": " + std::to_string(loops[2]) +
              ", \"flush_s\": " + std::to_string(flushes[2]) + "}");
  registry_rate("sqlite", "sqlite:" + root + "/anneal.db");
  if (argc > 2) registry_rate("postgresql", argv[2]);
  return 0;
}
