#pragma once
// The `bayesian` sampler: a Tree-structured Parzen Estimator (Bergstra et al. 2011; as
// Optuna's TPESampler, with independent parameters). The first `startup` trials are
// random; then the finished trials are split into the best gamma(n) = min(ceil(0.1 n), 25)
// and the rest, each parameter's values in the two groups become Parzen densities l(x) and
// g(x) (Gaussians at the observations, in log space for the log forms, plus a flat prior;
// counts plus a prior for choices), and of 24 candidates drawn from l the one with the
// largest l(x) / g(x) is taken. Takes choice, uniform, quniform, loguniform, qloguniform,
// randint.
#include <cstdint>
#include <utility>
#include <vector>

#include "jobs/search_space.h"

namespace anneal::jobs {

struct Observation {
  Sample sample;
  double objective;
};

// Trial `index`'s values given the finished trials so far.
Sample tpe_sample(const std::vector<Distribution>& space, const std::vector<Observation>& history, bool maximize,
                  uint64_t seed, int64_t index, int startup = 10);

// A JobError when `space` has a parameter the bayesian sampler does not take.
void check_tpe_space(const std::vector<Distribution>& space);

}  // namespace anneal::jobs
