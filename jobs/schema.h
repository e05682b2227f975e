#pragma once
// The job file's schema: one table (schema.cpp) that the loader checks every job against
// before anything runs, and that `anneal schema` prints (docs/jobs.md is written from it).
// An unknown key, a wrong type or a bad value is a JobError naming the file, line, key
// path and what was expected, with the closest valid key when the key looks like a typo.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "jobs/config_tree.h"

namespace anneal::jobs {

struct Spec {
  enum class Type {
    String, Int, Number, Bool, Scalar,  // Scalar: any of the four
    Object,      // fixed fields (below)
    Settings,    // an Object whose unlisted keys are free scalar settings (a model's)
    MapOf,       // free keys, each value of `item`
    ListOf,      // values of `item`
    Duration,    // seconds, or "90s", "15m", "2h", "1d"
    ScalarOrObject,  // an input: a value, or an object as `item` describes
    Any,         // checked by its own parser (a sweep's trial and search space)
  };
  Type type = Type::String;
  std::string doc;
  std::vector<std::string> choices;  // allowed values of a String
  double min = -1e300, max = 1e300;  // of an Int or Number
  bool required = false;
  std::vector<std::pair<std::string, std::shared_ptr<Spec>>> fields;  // Object / Settings
  std::shared_ptr<Spec> item;  // MapOf / ListOf / ScalarOrObject
};

// The command or training job.
const Spec& job_schema();
// The sweep file (its `trial:` is a job, checked against job_schema per trial).
const Spec& sweep_schema();
// The pipeline file (its `jobs:` are steps, each checked as a job).
const Spec& pipeline_schema();

// Checks `root` against `spec`; throws the first problem as a JobError.
void validate(const Node& root, const Spec& spec);

// The closest of `options` to `word` (edit distance at most a third of its length), or "".
std::string closest(const std::string& word, const std::vector<std::string>& options);

// The schema as a Markdown table of key paths, types and meanings.
std::string schema_markdown(const Spec& spec);

// "90s" / "15m" / "2h" / "1d" / a number of seconds -> seconds (nullopt: not a duration).
std::optional<double> parse_duration(const Node& n);

}  // namespace anneal::jobs
