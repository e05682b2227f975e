#pragma once
// A pipeline file (Azure ML's pipeline job): `jobs:` steps, each a command or train job,
// wired by ${{parent.jobs.STEP.outputs.NAME}} and ${{parent.inputs.NAME}}; checked at load
// (an unknown step, output or input, or a cycle, is an error naming the step). Each step
// gets a cache key: SHA-256 of its job with the references replaced by the content hashes
// of what they point to, and of its code folder's content, so an unchanged step with
// unchanged inputs reuses an earlier run's outputs (DVC's rule).
#include <map>
#include <string>
#include <vector>

#include "jobs/config_tree.h"
#include "jobs/job.h"

namespace anneal::jobs {

struct PipelineStep {
  std::string name;
  Node tree;                   // the step's job (is_deterministic removed)
  bool deterministic = true;   // false: never reused
  std::vector<std::string> deps;  // the steps whose outputs it reads
};

struct Pipeline {
  std::string file, dir, name, experiment = "default", description;
  std::map<std::string, std::string> tags, inputs;  // inputs: value, or an absolute path
  std::map<std::string, bool> input_is_path;
  bool continue_on_step_failure = false, force_rerun = false;
  int64_t max_concurrent_steps = 0;  // 0: the machine's cores
  std::vector<PipelineStep> steps;  // in an order where each step follows its deps
};

Pipeline load_pipeline(const std::string& path, const std::vector<std::string>& sets = {});

// A step ready to run: its job (references replaced by paths), the YAML of it, and its
// cache key (with_key false: not computed, as when the load checks each step with stand-in
// paths). `outputs`: each finished step's output folders (step -> name -> path).
struct StepPlan {
  Job job;
  std::string text, key;
};
StepPlan plan_step(const Pipeline& p, const PipelineStep& step,
                   const std::map<std::string, std::map<std::string, std::string>>& outputs,
                   const std::vector<std::string>& skip_folders, bool with_key = true);

// The steps that depend on `name`, directly or not.
std::vector<std::string> descendants(const Pipeline& p, const std::string& name);

}  // namespace anneal::jobs
