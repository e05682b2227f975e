#include "train/metrics.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/directories.h"
#include "core/error.h"

namespace anneal::train {

MetricsLog::MetricsLog(const std::string& path) {
  if (path.empty()) return;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) make_directories(parent.string(), "MetricsLog");
  f_ = std::fopen(path.c_str(), "a");
  ANNEAL_CHECK(f_ != nullptr, ValueError, "MetricsLog: cannot open '", path, "' for appending");
}
MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}
void MetricsLog::write(const std::map<std::string, double>& record) {
  if (!f_) return;
  std::string line = "{";
  for (auto& [k, v] : record) {
    if (line.size() > 1) line += ", ";
    line += "\"" + k + "\": ";
    if (!std::isfinite(v)) {
      line += "null";
    } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
      line += std::to_string(int64_t(v));
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", v);
      line += buf;
    }
  }
  line += "}\n";
  std::fputs(line.c_str(), f_);
  std::fflush(f_);  // a crashed run keeps every record written so far
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

std::string format_duration(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = int64_t(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(t / 3600), (long long)(t % 3600 / 60));
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(t / 60), (long long)(t % 60));
  else std::snprintf(buf, sizeof buf, "%llds", (long long)t);
  return buf;
}

Progress::Progress(int64_t total_steps, bool live, int64_t every)
    : total_(total_steps), every_(every), live_(live), start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t step, int64_t epoch, double loss, double samples_per_s) {
  if (first_step_ < 0) first_step_ = step - 1;
  if (!live_ && (every_ <= 0 || step % every_ != 0)) return;  // every <= 0: silent (ranks other than 0)
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string eta;
  if (total_ > 0 && step > first_step_)
    eta = " eta " + format_duration(elapsed / double(step - first_step_) * double(total_ - step));
  char line[256];
  if (total_ > 0)
    std::snprintf(line, sizeof line, "epoch %lld step %lld/%lld loss %.4f %.0f samples/s%s", (long long)epoch + 1,
                  (long long)step, (long long)total_, loss, samples_per_s, eta.c_str());
  else
    std::snprintf(line, sizeof line, "epoch %lld step %lld loss %.4f %.0f samples/s", (long long)epoch + 1,
                  (long long)step, loss, samples_per_s);
  if (live_) {
    std::printf("\r\033[K%s", line);
    drawn_ = true;
  } else {
    std::printf("%s\n", line);
  }
  std::fflush(stdout);
}

void Progress::message(const std::string& text) {
  if (drawn_) std::printf("\r\033[K");
  drawn_ = false;
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

void Progress::finish() {
  if (drawn_) std::printf("\n");
  drawn_ = false;
  std::fflush(stdout);
}

}  // namespace anneal::train
