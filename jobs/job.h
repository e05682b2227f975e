#pragma once
// A job file loaded and checked: `base:` files merged under it, --set overrides applied,
// the schema checked (jobs/schema.h), inputs resolved and every ${{...}} reference known,
// all before anything runs. resolve() then substitutes the run's own values.
#include <map>
#include <string>
#include <vector>

#include "jobs/config_tree.h"

namespace anneal::jobs {

struct Job {
  std::string file;      // the job file (absolute)
  std::string type;      // "command" or "train"
  std::string name, experiment = "default", description;
  std::map<std::string, std::string> tags, env;
  std::string command;   // before substitution
  std::string code_dir;  // absolute
  std::map<std::string, std::string> inputs;  // name -> its value (paths absolute)
  std::vector<std::string> outputs;
  double timeout_s = 0;  // 0: none
  std::string compute = "local";
  int64_t instance_count = 1;
  std::string distribution;  // "", "pytorch" or "mpi"
  int64_t procs_per_instance = 1;
  std::string slurm_partition, slurm_time, slurm_account;
  std::vector<std::string> slurm_extra;
  Node tree;  // the merged job with --set applied (before substitution)
};

// The run's own values for ${{run.*}} and ${{outputs.*}}.
struct RunValues {
  std::string id, dir, name, experiment;
};

Job load_job(const std::string& path, const std::vector<std::string>& sets = {});
// A job from YAML text (tests, resolved.yaml); `origin` names it in errors and `dir` is where
// relative paths start.
Job load_job_text(const std::string& text, const std::string& origin, const std::string& dir,
                  const std::vector<std::string>& sets = {});

// The job with every ${{...}} replaced: the tree written as resolved.yaml, and its command.
struct Resolved {
  Node tree;
  std::string command;
  std::map<std::string, std::string> env;
};
Resolved resolve(const Job& job, const RunValues& run);

// What every file kind (job, sweep, pipeline) says of its run: name (or Azure ML's
// display_name), experiment (or experiment_name), description, tags.
struct RunHeader {
  std::string name, experiment = "default", description;
  std::map<std::string, std::string> tags;
};
RunHeader read_header(const Node& tree);

// Experiment and step names become folder names (JobError at `where` otherwise).
void check_name(const std::string& name, const Origin& where);

}  // namespace anneal::jobs
