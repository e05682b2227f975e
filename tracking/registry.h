#pragma once
// The registry: an index of the run folders for search, comparison and the page. The run
// folders (tracking/run_folder.h) stay the source of truth; the registry can be rebuilt
// from them. One implementation over SqlConnection runs on SQLite (`runs/anneal.db`, the
// default) and PostgreSQL (`postgresql://...`, a registry many machines share), with a
// schema version and migrations applied on open. Many processes may write at once.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tracking/sql.h"

namespace anneal::tracking {

// Run states. Terminal: completed, failed, canceled.
inline constexpr const char* kQueued = "queued";
inline constexpr const char* kRunning = "running";
inline constexpr const char* kCompleted = "completed";
inline constexpr const char* kFailed = "failed";
inline constexpr const char* kCanceled = "canceled";
bool is_terminal_status(const std::string& status);
bool is_known_status(const std::string& status);

struct MetricPoint {
  std::string key;
  double value;  // NaN and infinities are kept as NaN (NULL in the database)
  int64_t step;
  double timestamp;  // seconds since the epoch
};

struct MetricSummary {
  double last = 0, min = 0, max = 0;  // NaN when no finite value was logged
  int64_t last_step = 0, count = 0;
};

struct RunRecord {
  std::string id, experiment = "default", name, status = kQueued, kind = "command", folder, host, command, error,
                               parent;
  int64_t pid = 0;            // the process that answers for the run (anneal run's supervisor)
  int64_t program_group = 0;  // the run's program's process group on `host` (run.json only)
  std::optional<int> exit_code;
  double created = 0, started = 0, ended = 0, heartbeat = 0;  // 0: not yet
  bool cancel_requested = false;
  std::map<std::string, std::string> params, tags;
  std::map<std::string, MetricSummary> metrics;  // by key
};

// Fields to change on a run; unset ones are left as they are.
struct RunUpdate {
  std::optional<std::string> status, host, error, command;
  std::optional<int64_t> pid;
  std::optional<int> exit_code;
  std::optional<double> started, ended, heartbeat;
  std::optional<bool> cancel_requested;
  bool clear_exit = false;  // a resumed run: exit code, error and end time cleared
};

struct ArtifactRecord {
  std::string path;  // relative to the run folder
  int64_t size = 0;
  double created = 0;
};

class Registry {
 public:
  // uri: "sqlite:PATH", "sqlite:///ABSOLUTE", a path to a .db file, or
  // "postgresql://..." / "postgres://..." (libpq's connection URI).
  static std::unique_ptr<Registry> open(const std::string& uri);
  explicit Registry(std::unique_ptr<SqlConnection> db);

  static constexpr int kSchemaVersion = 1;
  int schema_version();
  std::string engine() const { return db_->engine(); }

  void create_run(const RunRecord& run);
  void update_run(const std::string& id, const RunUpdate& update);
  // Points, params and tags of one run in one transaction (the tracking client's flush).
  void log_batch(const std::string& id, const std::vector<MetricPoint>& points,
                 const std::map<std::string, std::string>& params = {},
                 const std::map<std::string, std::string>& tags = {});
  void log_artifact(const std::string& id, const ArtifactRecord& artifact);
  // Drops the points logged at steps after `step` (a run resumed from a checkpoint at that
  // step logs them again) and recomputes the summaries.
  void discard_metrics_after(const std::string& id, int64_t step);

  std::optional<RunRecord> get_run(const std::string& id);
  // Ids starting with `prefix` (at most `limit`).
  std::vector<std::string> find_ids(const std::string& prefix, int limit = 10);
  // Newest first. Empty arguments match all.
  std::vector<RunRecord> list_runs(const std::string& experiment = "", const std::string& status = "",
                                   const std::string& parent = "");
  // Every point of `keys` (all keys when empty), by key, in step order.
  std::map<std::string, std::vector<MetricPoint>> metric_history(const std::string& id,
                                                                 const std::vector<std::string>& keys = {});
  std::vector<ArtifactRecord> artifacts(const std::string& id);
  std::vector<std::string> experiments();
  void delete_run(const std::string& id);  // with its params, tags, metrics, artifacts

 private:
  void migrate();
  void load_details(std::vector<RunRecord>& runs);
  std::unique_ptr<SqlConnection> db_;
};

}  // namespace anneal::tracking
