#pragma once
// A sweep file: its trial job, search space, sampler, objective, limits and early
// termination, checked at load (the trial is checked as a job with the first sample's
// values, so its mistakes show before any trial runs).
#include <map>
#include <string>
#include <vector>

#include "jobs/config_tree.h"
#include "jobs/early_termination.h"
#include "jobs/job.h"
#include "jobs/search_space.h"

namespace anneal::jobs {

struct Sweep {
  std::string file, dir;  // the sweep file and its folder (trials' relative paths start there)
  std::string name, experiment = "default", description;
  std::map<std::string, std::string> tags;
  Node trial;             // the trial job (a map)
  std::vector<Distribution> space;
  std::string sampler = "random";  // random, grid, sobol or bayesian
  uint64_t seed = 0;
  bool scramble = true;            // sobol
  std::string metric, goal;        // objective
  int64_t max_total = 10, max_concurrent = 1, max_failed = 0;  // 0: no limit on failures
  double timeout_s = 0, trial_timeout_s = 0;
  PolicySpec policy;
  std::string compute = "local";  // local or slurm (each trial an sbatch job)
  Node tree;  // the whole file after --set
};

// `dir`: where the trial's relative paths start (default: the sweep file's folder; a
// resumed sweep reads its copy of the file and gives the original's folder).
Sweep load_sweep(const std::string& path, const std::vector<std::string>& sets = {}, const std::string& dir = "");

// The trial job for `sample` (its ${{search_space.X}} replaced; a whole-value reference
// keeps the value's type), checked as a job; `text` receives its YAML.
Job trial_job(const Sweep& sweep, const Sample& sample, std::string* text);

// Trial i's sample (grid: the i-th combination; bayesian without history: random).
Sample sweep_sample(const Sweep& sweep, int64_t index);
// The same, given the finished trials (what the bayesian sampler learns from).
struct Observation;
Sample sweep_sample(const Sweep& sweep, int64_t index, const std::vector<Observation>& history);

}  // namespace anneal::jobs
