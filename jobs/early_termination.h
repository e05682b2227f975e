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
//     exclude_finished_jobs leaves completed trials out of the ranking).
#include <optional>
#include <string>
#include <vector>

#include "jobs/config_tree.h"

namespace anneal::jobs {

struct PolicySpec {
  std::string type;  // "" (none), bandit, median_stopping, truncation_selection
  int64_t evaluation_interval = 1, delay_evaluation = 0;
  std::optional<double> slack_factor, slack_amount;
  double truncation_percentage = 0;
  bool exclude_finished_jobs = false;
};

// `early_termination:` of a sweep file (checked; errors name the line).
PolicySpec parse_policy(const Node* node);

struct TrialCurve {
  std::string id;
  std::vector<double> values;  // values[k - 1]: the primary metric at interval k
  bool finished = false;       // completed (not running)
};

// Whether `policy` applies at interval k.
bool evaluates_at(const PolicySpec& policy, int64_t k);

// The reason to cancel trials[t] at interval k (it has at least k values), or "" to let it
// run. Only trials with at least k values take part.
std::string should_cancel(const PolicySpec& policy, bool maximize, const std::vector<TrialCurve>& trials, size_t t,
                          int64_t k);

}  // namespace anneal::jobs
