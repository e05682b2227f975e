#pragma once
// A sweep's search space, with Azure ML's expressions: choice, randint, uniform,
// loguniform (bounds are exponents of e), normal, lognormal, quniform, qloguniform, qnormal,
// qlognormal; and the samplers that draw trials from it: grid (choices only: the product,
// each combination once), random (seeded: trial i's values depend only on the seed and i),
// sobol (trial i is point i of the Sobol sequence, one dimension per parameter; scrambled
// by a seeded random digital shift, or plain: then equal to SciPy's unscrambled points).
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

// The value of `d` at u in [0, 1) (the inverse of its CDF: one uniform per parameter, so a
// low-discrepancy point maps to values as a random one does).
std::string draw(const Distribution& d, double u);

// Point `index` of the `dims`-dimensional Sobol sequence (dims <= 64), in [0, 1)^dims.
// scramble: XOR with a random digital shift drawn from `seed`.
std::vector<double> sobol_point(int dims, uint64_t index, bool scramble, uint64_t seed);
Sample sobol_sample(const std::vector<Distribution>& space, uint64_t seed, int64_t index, bool scramble);

// The standard normal's inverse CDF.
double normal_quantile(double p);

// Random sampling: trial `index` of the sweep with `seed`.
Sample random_sample(const std::vector<Distribution>& space, uint64_t seed, int64_t index);
// Grid: every combination of the choices, in a fixed order (an error for other types).
std::vector<Sample> grid(const std::vector<Distribution>& space);

}  // namespace anneal::jobs
