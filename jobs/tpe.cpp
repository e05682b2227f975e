#include "jobs/tpe.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"

namespace anneal::jobs {
namespace {

bool is_log(const Distribution& d) { return d.type == "loguniform" || d.type == "qloguniform"; }

// The parameter's internal range: [min, max] (log forms: the exponents; randint: [0, upper)).
std::pair<double, double> bounds(const Distribution& d) {
  if (d.type == "randint") return {-0.5, double(d.upper) - 0.5};
  return {d.min, d.max};
}

double to_internal(const Distribution& d, double v) { return is_log(d) ? std::log(v) : v; }

std::string from_internal(const Distribution& d, double x) {
  auto [lo, hi] = bounds(d);
  x = std::clamp(x, lo, hi);
  if (d.type == "randint") return std::to_string(std::clamp<int64_t>(std::llround(x), 0, d.upper - 1));
  // draw() maps u in [0, 1) through the distribution: invert its position
  const double u = hi > lo ? (x - lo) / (hi - lo) : 0.0;
  return draw(d, std::min(u, std::nextafter(1.0, 0.0)));
}

struct Parzen {
  std::vector<double> mu, sigma, weight;
};

// Gaussians at the points and a prior one at the centre (sigma: the range), each point's
// bandwidth the larger gap to its neighbours among the sorted centres, the outermost ones
// taking their inner gap (as Optuna's Parzen estimator without endpoints), clipped to
// [range / min(100, 1 + kernels), range].
Parzen build(std::vector<double> points, double lo, double hi) {
  Parzen p;
  const double range = hi - lo, prior = (lo + hi) / 2;
  std::vector<double> mus = points;
  mus.push_back(prior);
  std::sort(mus.begin(), mus.end());
  const size_t n = mus.size();
  std::vector<double> with_ends;
  with_ends.push_back(lo);
  with_ends.insert(with_ends.end(), mus.begin(), mus.end());
  with_ends.push_back(hi);
  std::vector<double> sigma(n);
  for (size_t i = 0; i < n; ++i)
    sigma[i] = std::max(with_ends[i + 1] - with_ends[i], with_ends[i + 2] - with_ends[i + 1]);
  if (with_ends.size() >= 4) {
    sigma[0] = with_ends[2] - with_ends[1];
    sigma[n - 1] = with_ends[n] - with_ends[n - 1];
  }
  const double min_sigma = range / std::min(100.0, 1.0 + double(n));
  bool prior_seen = false;
  for (size_t i = 0; i < n; ++i) {
    p.mu.push_back(mus[i]);
    if (!prior_seen && mus[i] == prior) {  // the prior keeps the whole range
      prior_seen = true;
      p.sigma.push_back(range);
    } else {
      p.sigma.push_back(std::clamp(sigma[i], min_sigma, range));
    }
    p.weight.push_back(1.0 / double(n));
  }
  return p;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// The density of the mixture truncated to [lo, hi], in log.
double log_density(const Parzen& p, double x, double lo, double hi) {
  double s = 0;
  for (size_t i = 0; i < p.mu.size(); ++i) {
    const double z = (x - p.mu[i]) / p.sigma[i];
    const double mass = normal_cdf((hi - p.mu[i]) / p.sigma[i]) - normal_cdf((lo - p.mu[i]) / p.sigma[i]);
    s += p.weight[i] * std::exp(-0.5 * z * z) / (p.sigma[i] * std::sqrt(2 * M_PI) * std::max(mass, 1e-12));
  }
  return std::log(std::max(s, 1e-300));
}

double sample_from(const Parzen& p, double lo, double hi, std::mt19937_64& gen) {
  std::discrete_distribution<size_t> pick(p.weight.begin(), p.weight.end());
  const size_t i = pick(gen);
  std::normal_distribution<double> nd(p.mu[i], p.sigma[i]);
  for (int tries = 0; tries < 100; ++tries) {
    const double x = nd(gen);
    if (x >= lo && x <= hi) return x;
  }
  return std::clamp(p.mu[i], lo, hi);
}

}  // namespace

void check_tpe_space(const std::vector<Distribution>& space) {
  for (auto& d : space)
    if (d.type != "choice" && d.type != "uniform" && d.type != "quniform" && d.type != "loguniform" &&
        d.type != "qloguniform" && d.type != "randint")
      throw JobError(str("sampling_algorithm: bayesian takes choice, randint, uniform, quniform, loguniform and "
                         "qloguniform parameters; '", d.name, "' is ", d.type));
}

Sample tpe_sample(const std::vector<Distribution>& space, const std::vector<Observation>& history, bool maximize,
                  uint64_t seed, int64_t index, int startup) {
  std::vector<const Observation*> done;
  for (auto& h : history)
    if (std::isfinite(h.objective)) done.push_back(&h);
  if (done.size() < size_t(std::max(startup, 2))) return random_sample(space, seed, index);
  std::stable_sort(done.begin(), done.end(), [&](auto* a, auto* b) {
    return maximize ? a->objective > b->objective : a->objective < b->objective;
  });
  const size_t n_good = std::min<size_t>(25, static_cast<size_t>(std::ceil(0.1 * double(done.size()))));
  std::mt19937_64 gen(seed * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15ull + 7);
  Sample s;
  for (auto& d : space) {
    if (d.type == "choice") {
      // counts of each choice in the two groups, plus one (the prior)
      const size_t k = d.values.size();
      std::vector<double> good(k, 1.0), bad(k, 1.0);
      for (size_t i = 0; i < done.size(); ++i) {
        const std::string& v = done[i]->sample.values.at(d.name);
        for (size_t c = 0; c < k; ++c)
          if (d.values[c].text == v) (i < n_good ? good : bad)[c] += 1;
      }
      double gs = 0, bs = 0;
      for (size_t c = 0; c < k; ++c) gs += good[c], bs += bad[c];
      std::discrete_distribution<size_t> pick(good.begin(), good.end());
      size_t best = 0;
      double best_ratio = -1e300;
      for (int cand = 0; cand < 24; ++cand) {
        const size_t c = pick(gen);
        const double ratio = std::log(good[c] / gs) - std::log(bad[c] / bs);
        if (ratio > best_ratio) best_ratio = ratio, best = c;
      }
      s.values[d.name] = d.values[best].text;
      continue;
    }
    auto [lo, hi] = bounds(d);
    if (is_log(d)) {  // the exponents are the range
      lo = d.min;
      hi = d.max;
    }
    std::vector<double> good_x, bad_x;
    for (size_t i = 0; i < done.size(); ++i) {
      const double v = std::stod(done[i]->sample.values.at(d.name));
      (i < n_good ? good_x : bad_x).push_back(to_internal(d, v));
    }
    const Parzen l = build(good_x, lo, hi), g = build(bad_x, lo, hi);
    double best_x = lo, best_ratio = -1e300;
    for (int cand = 0; cand < 24; ++cand) {
      const double x = sample_from(l, lo, hi, gen);
      const double ratio = log_density(l, x, lo, hi) - log_density(g, x, lo, hi);
      if (ratio > best_ratio) best_ratio = ratio, best_x = x;
    }
    s.values[d.name] = from_internal(d, best_x);
  }
  return s;
}

}  // namespace anneal::jobs
