#pragma once
// Early termination of sweep trials, with Azure ML's semantics. An "interval" is each time
// a trial logs the primary metric (the k-th value is interval k); a policy is applied at
// every interval k that is a multiple of `evaluation_interval`, from `delay_evaluation` on.
//   bandit: cancel a trial whose best value so far is worse than the best trial's value at
//     that interval by more than the slack (maximising: below best / (1 + slack_factor), or
//     best - slack_amount; minimising: above best * (1 + slack_factor), or best + slack_amount);
//   median_stopping: cancel a trial whose best value so far is worse than the median of the
//     running averages (mean of the first k values) of all trials at that interval;
//   truncation_selection: at each evaluation, cancel the trial when it is among the lowest
//     truncation_percentage % of the trials at that interval (by their value there;
//     exclude_finished_jobs leaves completed trials out of the ranking);
// and beyond Azure ML:
//   asha (Ray Tune's asynchronous successive halving): rungs at grace_period * rf^i below
//     max_t; a trial reaching a rung is stopped when its value there is worse than the
//     (1 - 1/rf) quantile of the values earlier trials recorded at that rung;
//   median (Optuna's MedianPruner): after n_startup_trials completed trials and past
//     n_warmup_steps (steps are intervals - 1), every interval_steps: stopped when its best
//     value so far is worse than the median of the completed trials' values at that step.
#include <optional>
#include <string>
#include <vector>

#include "jobs/config_tree.h"

namespace anneal::jobs {

struct PolicySpec {
  std::string type;  // "" (none), bandit, median_stopping, truncation_selection, asha, median
  int64_t evaluation_interval = 1, delay_evaluation = 0;
  std::optional<double> slack_factor, slack_amount;
  double truncation_percentage = 0;
  bool exclude_finished_jobs = false;
  int64_t grace_period = 1, max_t = 100;  // asha
  double reduction_factor = 4;
  int64_t n_startup_trials = 5, n_warmup_steps = 0, interval_steps = 1;  // median
};

// `early_termination:` of a sweep file (checked; errors name the line).
PolicySpec parse_policy(const Node* node);

struct TrialCurve {
  std::string id;
  std::vector<double> values;  // values[k - 1]: the primary metric at interval k
  bool finished = false;       // completed (not running)
  int64_t order = 0;           // when it started (asha's "earlier trials"): the trial's index
};

// Whether `policy` applies at interval k.
bool evaluates_at(const PolicySpec& policy, int64_t k);

// The reason to cancel trials[t] at interval k (it has at least k values), or "" to let it
// run. Only trials with at least k values take part.
std::string should_cancel(const PolicySpec& policy, bool maximize, const std::vector<TrialCurve>& trials, size_t t,
                          int64_t k);

}  // namespace anneal::jobs
