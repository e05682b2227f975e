#pragma once
// `anneal sweep FILE`, `anneal sweep show|cancel|resume ID`: trials of a sweep as runs in the
// registry (parent: the sweep's run), at most max_concurrent_trials at once, each with its
// share of the cores, early termination applied as their primary metric arrives, and the
// sweep's state in its run folder (sweep.json) so `resume` after a crash or kill -9
// continues without rerunning finished trials.
#include <string>
#include <vector>

#include "tools/anneal/run_command.h"

namespace anneal::tools {

int sweep_run(const std::string& file, const std::vector<std::string>& sets, const RegistryArgs& reg);
int sweep_resume(const std::string& id, const RegistryArgs& reg);
int sweep_show(const std::string& id, const RegistryArgs& reg, bool json);
int sweep_cancel(const std::string& id, const RegistryArgs& reg);

}  // namespace anneal::tools
