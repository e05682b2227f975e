#pragma once
// `anneal pipeline run FILE [--force-rerun] [--set ...]` and `anneal pipeline show ID`: the
// pipeline is a run whose steps are its child runs, run in dependency order (independent
// ones at once), each reusing an earlier completed run's outputs when its cache key matches
// (shown as "reused from run X"); a failed step stops its descendants, and the rest unless
// settings.continue_on_step_failure.
#include <string>
#include <vector>

#include "tools/anneal/run_command.h"

namespace anneal::tools {

int pipeline_run(const std::string& file, const std::vector<std::string>& sets, bool force_rerun,
                 const RegistryArgs& reg);
int pipeline_show(const std::string& id, const RegistryArgs& reg, bool json);

}  // namespace anneal::tools
