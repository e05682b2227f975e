#pragma once
// Logging into a run from any program, with MLflow's fluent names:
//
//   anneal::tracking::log_param("lr", "0.1");
//   for (...) anneal::tracking::log_metric("loss", loss, step);
//
// Inside `anneal run` the calls find their run through ANNEAL_RUN_ID / ANNEAL_RUN_DIR /
// ANNEAL_TRACKING_URI (set by the command). Elsewhere the first call creates a run under
// ANNEAL_RUNS_DIR (default ./runs) in the registry ANNEAL_TRACKING_URI (default
// runs/anneal.db), marked running with a heartbeat and completed at exit (failed when the
// process dies: the next look finds it gone).
//
// Calls only queue the records: a background thread appends them to the run folder and
// the registry once a second (ANNEAL_TRACKING_FLUSH_MS), so logging never waits for disk
// or database and a crash loses at most the last interval. A registry that cannot be
// reached is retried at every flush; the run folder keeps everything meanwhile.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace anneal::tracking {

struct StartOptions {
  std::string experiment;   // default: ANNEAL_EXPERIMENT, else "default"
  std::string name;         // display name (default: the id)
  std::string runs_root;    // default: default_runs_root()
  std::string tracking_uri; // default: default_tracking_uri(runs_root)
  std::map<std::string, std::string> tags;
};

// Starts a run owned by this process (an error when one is active). Returns its id.
std::string start_run(const StartOptions& options = {});
// Flushes and, for a run this process started, records its end status (completed, failed
// or canceled). Inside `anneal run` the command records the status; this only flushes.
void end_run(const std::string& status = "completed");

// The active run's id, without creating one (nullopt: none in this process and no
// ANNEAL_RUN_ID).
std::optional<std::string> active_run_id();
// The active run's id and folder, creating the run on first use.
std::string run_id();
std::string run_dir();

// step < 0: the next step of that key (0, 1, 2, ...). Keys: letters, digits, '_', '-',
// '.', '/', ' ' (at most 250 characters); "step" and "time" are taken by the records.
void log_metric(const std::string& key, double value, int64_t step = -1);
void log_metrics(const std::map<std::string, double>& metrics, int64_t step = -1);
void log_param(const std::string& key, const std::string& value);
void log_params(const std::map<std::string, std::string>& params);
void set_tag(const std::string& key, const std::string& value);
void set_tags(const std::map<std::string, std::string>& tags);
// Copies a file or folder into the run's artifacts/ (under `artifact_path`, a relative
// folder) and records it; returns where it went.
std::string log_artifact(const std::string& local_path, const std::string& artifact_path = "");
// A program resumed from a checkpoint taken at `step` logs the later steps again: this
// drops the points logged after it, from the run folder and the registry (the Trainer does
// it when it resumes), so the curves are those of a run that never stopped.
void discard_metrics_after(int64_t step);
// Writes what is queued now (also done every flush interval and at end_run / exit).
void flush();

}  // namespace anneal::tracking
