#pragma once
// The built-in trainer of `type: train` jobs: builds the zoo model, the dataset, the
// optimizer and the schedule a job names, trains with train::Trainer (checkpoints in the
// run's checkpoints/, so `anneal resume` continues bitwise where it stopped), evaluates, and
// logs everything into the run through anneal::tracking. Under `anneal launch` (a job's
// `distribution:`) it trains data-parallel.
#include <string>

namespace anneal::jobs {

// Trains the job in `run_dir`/resolved.yaml; returns the process exit status.
int run_builtin_training(const std::string& run_dir);

}  // namespace anneal::jobs
