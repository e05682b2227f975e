#pragma once
// Finding and ordering runs by what they recorded, for `anneal runs list --where/--sort`
// and the page: fields are metric.KEY (its last value), param.KEY, tag.KEY, and the run's
// own id, name, experiment, status, kind, created, duration (seconds).
//
//   --where "metric.val_loss < 0.3 and param.optimizer.name = adam or status = failed"
//   --sort -metric.accuracy        (descending; runs without the field go last)
//
// Operators: = (or ==), !=, <, <=, >, >=, ~ (contains). `and` binds tighter than `or`.
// Two numbers compare as numbers, anything else as text. A run without the field never
// matches a comparison on it.
#include <optional>
#include <string>
#include <vector>

#include "tracking/registry.h"

namespace anneal::tracking {

// The field's value on a run as text (numbers formatted), or nullopt when absent.
std::optional<std::string> run_field(const RunRecord& run, const std::string& field);

class RunFilter {
 public:
  RunFilter() = default;  // matches everything
  // A ValueError naming the position and what was expected for a malformed expression.
  explicit RunFilter(const std::string& expression);
  bool matches(const RunRecord& run) const;

 private:
  struct Cond {
    std::string field, op, value;
  };
  std::vector<std::vector<Cond>> any_of_;  // or of ands
};

// Sorts by `key` ("-" in front: descending); ValueError for an unknown field kind.
void sort_runs(std::vector<RunRecord>& runs, const std::string& key);
// Whether `field` names something a run can have.
bool is_run_field(const std::string& field);

}  // namespace anneal::tracking
