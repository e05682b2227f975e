#include "tracking/liveness.h"

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tracking/run_folder.h"

namespace anneal::tracking {

bool process_alive(int64_t pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;  // EPERM: someone else's
  // A zombie (dead, not yet reaped: its parent is gone and pid 1 does not reap, as in
  // many containers) still answers kill(0).
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;  // no /proc: trust kill
  const auto close = text.rfind(')');
  return !(close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z');
}

std::string why_not_alive(const RunRecord& run, double now) {
  if (run.status != kRunning && run.status != kQueued) return "";
  if (run.status == kQueued && run.pid <= 0) return "";  // waiting in a scheduler's queue
  if (run.host == this_host() && run.pid > 0 && !process_alive(run.pid))
    return str("its process (pid ", run.pid, " on ", run.host, ") is gone without recording an end");
  const char* env = std::getenv("ANNEAL_HEARTBEAT_TIMEOUT");
  const double limit = env && *env ? std::strtod(env, nullptr) : 60.0;
  const double last = run.heartbeat > 0 ? run.heartbeat : run.started > 0 ? run.started : run.created;
  if (limit > 0 && last > 0 && now - last > limit)
    return str("no heartbeat for ", static_cast<int64_t>(now - last), " s (its process on ", run.host,
               " is gone or hung)");
  return "";
}

std::vector<std::string> reap_stale_runs(Registry& registry, const std::string& experiment) {
  std::vector<std::string> reaped;
  const double now = now_seconds();
  for (const char* status : {kRunning, kQueued}) {
    for (auto& run : registry.list_runs(experiment, status)) {
      const std::string why = why_not_alive(run, now);
      if (why.empty()) continue;
      RunUpdate u;
      u.status = kFailed;
      u.error = why;
      u.ended = now;
      registry.update_run(run.id, u);
      std::error_code ec;
      if (!run.folder.empty() && std::filesystem::exists(run.folder + "/run.json", ec)) {
        try {
          RunRecord r = read_run_json(run.folder);
          // what the run's program left running (its supervisor is gone) ends with it
          if (r.program_group > 1 && r.host == this_host()) ::kill(-static_cast<pid_t>(r.program_group), SIGKILL);
          r.status = kFailed;
          r.error = why;
          r.ended = now;
          write_run_json(RunFolder{run.folder}, r);
        } catch (const std::exception&) {
          // the registry has it; a damaged run.json is not worth failing a listing for
        }
      }
      reaped.push_back(run.id);
    }
  }
  return reaped;
}

}  // namespace anneal::tracking
