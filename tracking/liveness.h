#pragma once
// Runs whose process died without saying so (kill -9, a lost machine) are found out: a
// queued or running run on this host whose process is gone, or one whose heartbeat is
// older than ANNEAL_HEARTBEAT_TIMEOUT seconds (default 60; heartbeats come every few
// seconds), is marked failed with the reason. Every `anneal runs` command looks first.
#include <string>
#include <vector>

#include "tracking/registry.h"

namespace anneal::tracking {

// The reason a run that says it is running is not, or "" when it may well be running.
std::string why_not_alive(const RunRecord& run, double now);
// Marks those runs failed (in the registry and their run.json); returns their ids.
std::vector<std::string> reap_stale_runs(Registry& registry, const std::string& experiment = "");
// Whether a process with this pid exists on this machine.
bool process_alive(int64_t pid);

}  // namespace anneal::tracking
