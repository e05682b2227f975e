#pragma once
// `anneal run JOB.yaml`, `anneal resume ID` and the hidden `anneal _attach ID` that both
// use (directly, detached, or inside a SLURM batch job) to run a recorded run's program.
#include <string>
#include <vector>

namespace anneal::tools {

struct RegistryArgs {
  std::string runs_dir;      // default: ANNEAL_RUNS_DIR, else ./runs
  std::string tracking_uri;  // default: ANNEAL_TRACKING_URI, else sqlite:<runs_dir>/anneal.db
  std::string root() const;
  std::string uri() const;
};

struct RunArgs {
  std::string job_file;
  std::vector<std::string> sets;
  std::string name, experiment;
  bool detach = false;
  RegistryArgs reg;
};

int run_job(const RunArgs& args);
int resume_run(const std::string& id, const RegistryArgs& reg, bool detach);
int attach_run(const std::string& id, const RegistryArgs& reg, bool echo);

}  // namespace anneal::tools
