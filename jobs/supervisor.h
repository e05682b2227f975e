#pragma once
// What `anneal run` and `anneal resume` do around the program of a job: start it in its own
// process group with the run's variables (ANNEAL_RUN_ID, ANNEAL_RUN_DIR,
// ANNEAL_TRACKING_URI), copy its stdout and stderr into the run's logs (and to the
// terminal unless detached), beat the run's heartbeat, stop it on timeout, on
// `anneal runs cancel` or on SIGINT/SIGTERM (SIGTERM to the group, SIGKILL after a grace
// period), and record how it ended: completed, failed (exit code or signal, and the last
// error line), or canceled. Meanwhile it samples what the program's processes use
// (tracking/system_monitor.h) into the run as system/* metrics.
#include <map>
#include <string>
#include <vector>

#include "tracking/registry.h"
#include "tracking/run_folder.h"

namespace anneal::jobs {

struct ProgramPlan {
  std::vector<std::string> argv;  // argv[0] found on PATH
  std::string cwd;
  std::map<std::string, std::string> env;  // added to this process's environment
  double timeout_s = 0;                    // 0: none
  std::vector<std::string> outputs;        // outputs/<name> folders that must not be empty at the end
  bool echo = true;                        // copy the output to this process's stdout/stderr
  double stop_grace_s = 10;
  double heartbeat_s = 2;
  double monitor_s = 2;  // system/* metrics every this many seconds (ANNEAL_MONITOR_INTERVAL; 0: off)
};

// Runs the program to its end, keeping `run` (already in the registry, status running)
// up to date. Returns the exit status for the command line (0 when completed).
int supervise(const std::string& tracking_uri, const tracking::RunFolder& folder, tracking::RunRecord& run,
              const ProgramPlan& plan);

// 128 + signal for a signalled child, its exit code otherwise (as shells report it).
int exit_status_of(int wait_status);

}  // namespace anneal::jobs
