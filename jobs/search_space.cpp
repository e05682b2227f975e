#include "jobs/search_space.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <random>

#include <algorithm>

#include "core/error.h"
#include "jobs/sobol_directions.h"

namespace anneal::jobs {
namespace {

// The shortest text that reads back as the same double.
std::string number_text(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

double quantize(double v, double q) { return q > 0 ? std::round(v / q) * q : v; }


double num(const Node& n, const char* key, const Node& where, const std::string& name, bool required = true,
           double fallback = 0) {
  const Node* v = n.find(key);
  if (!v) {
    if (!required) return fallback;
    throw JobError(str(where.origin.str(), ": search_space.", name, ": ", n.find("type")->text, " needs `", key, ":`"));
  }
  auto x = v->as_number();
  if (!x || !std::isfinite(*x))
    throw JobError(str(v->origin.str(), ": search_space.", name, ".", key, ": expected a number, got ", v->describe()));
  return *x;
}

}  // namespace

std::vector<Distribution> parse_search_space(const Node& node) {
  if (!node.is_map() || node.map.empty())
    throw JobError(str(node.origin.str(), ": search_space: expected a map of parameters, got ", node.describe()));
  static const std::map<std::string, std::vector<std::string>> kKeys = {
      {"choice", {"values"}},
      {"randint", {"upper"}},
      {"uniform", {"min_value", "max_value"}},
      {"loguniform", {"min_value", "max_value"}},
      {"quniform", {"min_value", "max_value", "q"}},
      {"qloguniform", {"min_value", "max_value", "q"}},
      {"normal", {"mu", "sigma"}},
      {"lognormal", {"mu", "sigma"}},
      {"qnormal", {"mu", "sigma", "q"}},
      {"qlognormal", {"mu", "sigma", "q"}},
  };
  std::vector<Distribution> out;
  for (auto& [name, spec] : node.map) {
    Distribution d;
    d.name = name;
    if (spec.kind == Node::Kind::List) {  // shorthand: a list is a choice
      d.type = "choice";
      d.values = spec.list;
    } else {
      if (!spec.is_map() || !spec.find("type"))
        throw JobError(str(spec.origin.str(), ": search_space.", name,
                           ": expected {type: choice|randint|uniform|loguniform|normal|lognormal|quniform|"
                           "qloguniform|qnormal|qlognormal, ...} or a list of choices"));
      d.type = spec.find("type")->text;
      auto it = kKeys.find(d.type);
      if (it == kKeys.end()) {
        std::vector<std::string> names;
        for (auto& [k, v] : kKeys) names.push_back(k);
        std::string hint = closest(d.type, names);
        throw JobError(str(spec.find("type")->origin.str(), ": search_space.", name, ".type: unknown '", d.type, "'",
                           hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      for (size_t i = 0; i < spec.map.size(); ++i) {
        const std::string& k = spec.map[i].first;
        if (k == "type") continue;
        if (std::find(it->second.begin(), it->second.end(), k) == it->second.end())
          throw JobError(str(spec.key_origins[i].str(), ": search_space.", name, ".", k, ": not a setting of ", d.type,
                             " (it takes ", [&] {
                               std::string o;
                               for (auto& x : it->second) o += (o.empty() ? "" : ", ") + x;
                               return o;
                             }(), ")"));
      }
      if (d.type == "choice") {
        const Node* v = spec.find("values");
        if (!v || v->kind != Node::Kind::List || v->list.empty())
          throw JobError(str(spec.origin.str(), ": search_space.", name, ": choice needs a non-empty list `values:`"));
        d.values = v->list;
      } else if (d.type == "randint") {
        const Node* u = spec.find("upper");
        auto x = u ? u->as_int() : std::nullopt;
        if (!x || *x < 1)
          throw JobError(str((u ? u : &spec)->origin.str(), ": search_space.", name,
                             ".upper: randint needs a whole number upper >= 1 (values 0 .. upper-1)"));
        d.upper = *x;
      } else if (d.type.find("uniform") != std::string::npos) {
        d.min = num(spec, "min_value", spec, name);
        d.max = num(spec, "max_value", spec, name);
        if (!(d.min < d.max))
          throw JobError(str(spec.origin.str(), ": search_space.", name, ": min_value ", d.min,
                             " must be below max_value ", d.max));
        if (d.type[0] == 'q') d.q = num(spec, "q", spec, name);
      } else {
        d.mu = num(spec, "mu", spec, name);
        d.sigma = num(spec, "sigma", spec, name);
        if (!(d.sigma > 0)) throw JobError(str(spec.origin.str(), ": search_space.", name, ": sigma must be positive"));
        if (d.type[0] == 'q') d.q = num(spec, "q", spec, name);
      }
      if (d.type[0] == 'q' && !(d.q > 0))
        throw JobError(str(spec.origin.str(), ": search_space.", name, ": q must be positive"));
    }
    for (auto& v : d.values)
      if (!v.is_scalar())
        throw JobError(str(v.origin.str(), ": search_space.", name, ": a choice must be a value, got ", v.describe()));
    out.push_back(std::move(d));
  }
  return out;
}

double normal_quantile(double p) {
  // Acklam's rational approximation, then one Halley step on erfc (|error| < 1e-15)
  p = std::clamp(p, 1e-300, 1 - 1e-16);
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

std::vector<double> sobol_point(int dims, uint64_t index, bool scramble, uint64_t seed) {
  ANNEAL_CHECK(dims >= 1 && dims <= kSobolMaxDims, ValueError, "sobol: ", dims, " parameters; at most ",
               kSobolMaxDims);
  constexpr int kBits = 30;  // as SciPy's default
  ANNEAL_CHECK(index < (uint64_t(1) << kBits), ValueError, "sobol: trial index ", index, " past 2^30");
  const uint64_t gray = index ^ (index >> 1);
  std::vector<double> out(static_cast<size_t>(dims));
  std::mt19937_64 shift(seed ^ 0x5DEECE66Dull);
  for (int j = 0; j < dims; ++j) {
    uint32_t v[kBits + 1] = {0};
    if (j == 0) {
      for (int k = 1; k <= kBits; ++k) v[k] = 1u << (kBits - k);
    } else {
      const SobolDirection& dir = kSobolDirections[j - 1];
      const int s = static_cast<int>(dir.s);
      for (int k = 1; k <= s && k <= kBits; ++k) v[k] = dir.m[k - 1] << (kBits - k);
      for (int k = s + 1; k <= kBits; ++k) {
        uint32_t x = v[k - s] ^ (v[k - s] >> s);
        for (int i = 1; i < s; ++i)
          if ((dir.a >> (s - 1 - i)) & 1) x ^= v[k - i];
        v[k] = x;
      }
    }
    uint32_t x = 0;
    for (int k = 1; k <= kBits; ++k)
      if ((gray >> (k - 1)) & 1) x ^= v[k];
    if (scramble) x ^= static_cast<uint32_t>(shift() & ((1u << kBits) - 1));
    out[size_t(j)] = double(x) / double(1u << kBits);
  }
  return out;
}

Sample sobol_sample(const std::vector<Distribution>& space, uint64_t seed, int64_t index, bool scramble) {
  auto u = sobol_point(static_cast<int>(space.size()), static_cast<uint64_t>(index), scramble, seed);
  Sample s;
  for (size_t i = 0; i < space.size(); ++i) s.values[space[i].name] = draw(space[i], u[i]);
  return s;
}

std::string draw(const Distribution& d, double u1) {
  if (d.type == "choice") {
    size_t i = std::min(d.values.size() - 1, static_cast<size_t>(u1 * double(d.values.size())));
    return d.values[i].text;
  }
  if (d.type == "randint")
    return std::to_string(std::min<int64_t>(d.upper - 1, static_cast<int64_t>(u1 * double(d.upper))));
  double v;
  if (d.type == "uniform" || d.type == "quniform") v = d.min + u1 * (d.max - d.min);
  else if (d.type == "loguniform" || d.type == "qloguniform") v = std::exp(d.min + u1 * (d.max - d.min));
  else if (d.type == "normal" || d.type == "qnormal") v = d.mu + d.sigma * normal_quantile(u1);
  else v = std::exp(d.mu + d.sigma * normal_quantile(u1));  // lognormal, qlognormal
  return number_text(quantize(v, d.q));
}

Sample random_sample(const std::vector<Distribution>& space, uint64_t seed, int64_t index) {
  // trial i's stream: the seed and i alone (a resumed sweep draws the same trials)
  std::mt19937_64 gen(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) * 0xD1B54A32D192ED03ull + 1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Sample s;
  for (auto& d : space) s.values[d.name] = draw(d, u(gen));
  return s;
}

std::vector<Sample> grid(const std::vector<Distribution>& space) {
  size_t total = 1;
  for (auto& d : space) {
    if (d.type != "choice")
      throw JobError(str("sampling_algorithm: grid takes choice parameters only; '", d.name, "' is ", d.type));
    total *= d.values.size();
    if (total > 1000000) throw JobError("sampling_algorithm: grid: more than 1,000,000 combinations");
  }
  std::vector<Sample> out;
  for (size_t i = 0; i < total; ++i) {
    Sample s;
    size_t rest = i;
    // the last parameter varies fastest
    for (size_t k = space.size(); k-- > 0;) {
      const auto& d = space[k];
      s.values[d.name] = d.values[rest % d.values.size()].text;
      rest /= d.values.size();
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace anneal::jobs
