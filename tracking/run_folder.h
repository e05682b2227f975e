#pragma once
// A run's folder, the source of truth of its records: runs/<experiment>/<id>/ holding
//   run.json          the run record (status, times, exit code, host and pid)
//   job.yaml          the job file as given;  resolved.yaml  after includes, --set and ${{...}}
//   environment.json  anneal build, git state of the code, compiler, CPU, GPUs, variables
//   stdout.log, stderr.log   the program's output (rank-prefixed for distributed runs)
//   metrics.jsonl     one line per log call: {"step": 3, "time": 1.7e9, "loss": 0.25, ...}
//   params.json, tags.json
//   checkpoints/, outputs/, artifacts/
#include <string>

#include "tracking/registry.h"

namespace anneal::tracking {

struct RunFolder {
  std::string dir;
  std::string file(const char* name) const { return dir + "/" + name; }
  std::string run_json() const { return file("run.json"); }
  std::string metrics() const { return file("metrics.jsonl"); }
  std::string params() const { return file("params.json"); }
  std::string tags() const { return file("tags.json"); }
  std::string stdout_log() const { return file("stdout.log"); }
  std::string stderr_log() const { return file("stderr.log"); }
  std::string checkpoints() const { return file("checkpoints"); }
  std::string outputs() const { return file("outputs"); }
  std::string artifacts() const { return file("artifacts"); }
};

// ANNEAL_RUNS_DIR, else ./runs (absolute).
std::string default_runs_root();
// ANNEAL_TRACKING_URI, else sqlite:<runs_root>/anneal.db.
std::string default_tracking_uri(const std::string& runs_root);

// "20261201-193512-3fa9c2": the start time (UTC) and 24 random bits; sorts by time.
std::string new_run_id();
// Names that become folder names (experiments) or are typed in commands: letters, digits,
// '.', '_', '-', not starting with '.', at most 100 characters. `what` names it in errors.
void check_name(const std::string& name, const char* what);

// The run's folder under `runs_root` (created with checkpoints/, outputs/, artifacts/).
RunFolder make_run_folder(const std::string& runs_root, const std::string& experiment, const std::string& id);

// run.json (written atomically) from/to a RunRecord (without params, tags and metrics).
void write_run_json(const RunFolder& folder, const RunRecord& run);
RunRecord read_run_json(const std::string& dir);

// A lock on a run's metrics.jsonl between the processes that append to it (shared) and the
// one that rewrites it when a resumed run drops the steps it will log again (exclusive).
class MetricsFileLock {
 public:
  MetricsFileLock(const RunFolder& folder, bool exclusive);
  ~MetricsFileLock();
  MetricsFileLock(const MetricsFileLock&) = delete;
  MetricsFileLock& operator=(const MetricsFileLock&) = delete;

 private:
  int fd_ = -1;
};

// The seconds since the epoch, as a double.
double now_seconds();
std::string this_host();

}  // namespace anneal::tracking
