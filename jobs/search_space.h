#pragma once
// A sweep's search space, with Azure ML's expressions: choice, randint, uniform,
// loguniform (bounds are exponents of e), normal, lognormal, quniform, qloguniform, qnormal,
// qlognormal; and the samplers that draw trials from it: grid (choices only: the product,
// each combination once), random (seeded: trial i's values depend only on the seed and i).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "jobs/config_tree.h"
#include "jobs/schema.h"

namespace anneal::jobs {

struct Distribution {
  std::string name;  // the parameter
  std::string type;  // choice, randint, uniform, ...
  std::vector<Node> values;  // choice: the values (any scalar)
  double min = 0, max = 0, mu = 0, sigma = 1, q = 0;
  int64_t upper = 0;  // randint: [0, upper)
};

// One trial's values, as the text that replaces ${{search_space.NAME}} (and whether it is
// a number, so a whole-scalar reference keeps its type).
struct Sample {
  std::map<std::string, std::string> values;
};

// The `search_space:` map (checked: every error names the line and the parameter).
std::vector<Distribution> parse_search_space(const Node& node);

// The value of `d` for a uniform random u in [0, 1) (and a second one for the normal forms).
std::string draw(const Distribution& d, double u1, double u2);

// Random sampling: trial `index` of the sweep with `seed`.
Sample random_sample(const std::vector<Distribution>& space, uint64_t seed, int64_t index);
// Grid: every combination of the choices, in a fixed order (an error for other types).
std::vector<Sample> grid(const std::vector<Distribution>& space);

}  // namespace anneal::jobs
