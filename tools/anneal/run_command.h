#pragma once
// `anneal run JOB.yaml`, `anneal resume ID` and the hidden `anneal _attach ID` that both
// use (directly, detached, or inside a SLURM batch job) to run a recorded run's program.
#include <map>
#include <string>
#include <vector>

#include "jobs/job.h"
#include "tracking/registry.h"

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

// Submits a recorded run (compute: slurm) as an sbatch job that runs `anneal _attach ID`
// on its node; returns the SLURM job id ("" when sbatch refused, the run then failed).
std::string submit_to_slurm(const jobs::Job& job, const tracking::RunRecord& run, const RegistryArgs& reg,
                            tracking::Registry& registry, bool quiet);

// Records a run of `job` (queued): its folder with job.yaml (= job_text), resolved.yaml and
// environment.json, and its registry entry. Sweeps record their trials with it.
struct RecordOptions {
  std::string name, experiment, parent;
  std::map<std::string, std::string> tags, params;
};
tracking::RunRecord record_run(const jobs::Job& job, const std::string& job_text, const RegistryArgs& reg,
                               const RecordOptions& options);
int resume_run(const std::string& id, const RegistryArgs& reg, bool detach);
int attach_run(const std::string& id, const RegistryArgs& reg, bool echo);

}  // namespace anneal::tools
