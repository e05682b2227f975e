#pragma once
// Run records: metrics as JSON lines (one object per record) and a progress display that
// redraws one line on a terminal and prints plain log lines otherwise.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

namespace anneal::train {

class MetricsLog {
 public:
  // Appends to `path` (created with its folder); an empty path records nothing.
  explicit MetricsLog(const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  // {"step": 10, "loss": 0.5, ...}: non-finite values are written as null.
  void write(const std::map<std::string, double>& record);

 private:
  std::FILE* f_ = nullptr;
};

class Progress {
 public:
  // total_steps <= 0: unknown (no ETA). `live`: redraw one line (a terminal) instead of
  // printing a line every `every` updates; not live with every <= 0 prints nothing.
  Progress(int64_t total_steps, bool live, int64_t every);
  void update(int64_t step, int64_t epoch, double loss, double samples_per_s);
  void message(const std::string& text);  // a line of its own (evaluation results)
  void finish();

 private:
  int64_t total_, every_;
  bool live_, drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  int64_t first_step_ = -1;
};

bool stdout_is_terminal();
std::string format_duration(double seconds);  // "1h02m", "3m07s", "12s"

}  // namespace anneal::train
