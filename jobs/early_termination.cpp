#include "jobs/early_termination.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "jobs/schema.h"

namespace anneal::jobs {
namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

double best_so_far(const TrialCurve& c, int64_t k, bool maximize) {
  double b = c.values[0];
  for (int64_t i = 1; i < k; ++i) b = maximize ? std::max(b, c.values[size_t(i)]) : std::min(b, c.values[size_t(i)]);
  return b;
}

}  // namespace

PolicySpec parse_policy(const Node* n) {
  PolicySpec p;
  if (!n || n->kind == Node::Kind::Null) return p;
  p.type = n->find("type")->text;
  auto i = [&](const char* k, int64_t d) { return n->find(k) ? *n->find(k)->as_int() : d; };
  auto f = [&](const char* k) -> std::optional<double> {
    if (!n->find(k)) return std::nullopt;
    return *n->find(k)->as_number();
  };
  p.evaluation_interval = i("evaluation_interval", 1);
  p.delay_evaluation = i("delay_evaluation", 0);
  p.slack_factor = f("slack_factor");
  p.slack_amount = f("slack_amount");
  p.truncation_percentage = f("truncation_percentage").value_or(0);
  p.exclude_finished_jobs = n->find("exclude_finished_jobs") && *n->find("exclude_finished_jobs")->as_bool();
  p.grace_period = i("grace_period", 1);
  p.max_t = i("max_t", 100);
  p.reduction_factor = f("reduction_factor").value_or(4);
  p.n_startup_trials = i("n_startup_trials", 5);
  p.n_warmup_steps = i("n_warmup_steps", 0);
  p.interval_steps = i("interval_steps", 1);
  const bool azure = p.type == "bandit" || p.type == "median_stopping" || p.type == "truncation_selection";
  if (!azure)
    for (const char* k : {"evaluation_interval", "delay_evaluation", "slack_factor", "slack_amount",
                          "truncation_percentage", "exclude_finished_jobs"})
      if (const Node* v = n->find(k))
        throw JobError(str(v->origin.str(), ": early_termination.", k, ": not a setting of ", p.type));
  if (p.type != "asha")
    for (const char* k : {"grace_period", "max_t", "reduction_factor"})
      if (const Node* v = n->find(k))
        throw JobError(str(v->origin.str(), ": early_termination.", k, ": a setting of asha, not of ", p.type));
  if (p.type != "median")
    for (const char* k : {"n_startup_trials", "n_warmup_steps", "interval_steps"})
      if (const Node* v = n->find(k))
        throw JobError(str(v->origin.str(), ": early_termination.", k, ": a setting of median, not of ", p.type));
  if (p.type == "asha" && !(p.reduction_factor > 1))
    throw JobError(str(n->origin.str(), ": early_termination: asha's reduction_factor must be above 1"));
  if (p.type == "asha" && p.max_t <= p.grace_period)
    throw JobError(str(n->origin.str(), ": early_termination: asha's max_t must be above grace_period"));
  auto forbid = [&](const char* key) {
    if (const Node* v = n->find(key))
      throw JobError(str(v->origin.str(), ": early_termination.", key, ": not a setting of ", p.type));
  };
  if (p.type == "bandit") {
    if (p.slack_factor.has_value() == p.slack_amount.has_value())
      throw JobError(str(n->origin.str(), ": early_termination: bandit needs exactly one of slack_factor and slack_amount"));
    forbid("truncation_percentage");
    forbid("exclude_finished_jobs");
  } else if (p.type == "median_stopping") {
    for (const char* k : {"slack_factor", "slack_amount", "truncation_percentage", "exclude_finished_jobs"}) forbid(k);
  } else if (p.type == "truncation_selection") {
    for (const char* k : {"slack_factor", "slack_amount"}) forbid(k);
    if (!(p.truncation_percentage >= 1 && p.truncation_percentage <= 99))
      throw JobError(str(n->origin.str(), ": early_termination: truncation_selection needs truncation_percentage "
                                          "between 1 and 99"));
  }
  return p;
}

bool evaluates_at(const PolicySpec& p, int64_t k) {
  if (p.type.empty()) return false;
  if (p.type == "asha") {
    for (double m = double(p.grace_period); m < double(p.max_t); m *= p.reduction_factor)
      if (k == static_cast<int64_t>(std::llround(m))) return true;
    return false;
  }
  if (p.type == "median") return k - 1 >= p.n_warmup_steps && (k - 1) % p.interval_steps == 0;
  return k >= std::max<int64_t>(p.delay_evaluation, 1) && k % p.evaluation_interval == 0;
}

namespace {
// numpy's percentile (linear interpolation) of `v`, q in [0, 100]
double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * double(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}
}  // namespace

std::string should_cancel(const PolicySpec& p, bool maximize, const std::vector<TrialCurve>& trials, size_t t,
                          int64_t k) {
  if (!evaluates_at(p, k) || trials[t].values.size() < size_t(k)) return "";
  const TrialCurve& me = trials[t];
  const double mine = best_so_far(me, k, maximize);
  const auto better = [&](double a, double b) { return maximize ? a > b : a < b; };
  std::vector<size_t> at_k;
  for (size_t j = 0; j < trials.size(); ++j)
    if (trials[j].values.size() >= size_t(k)) at_k.push_back(j);
  const std::string where = str(p.type, " at interval ", k, ": ");
  if (p.type == "bandit") {
    size_t best = at_k[0];
    for (size_t j : at_k)
      if (better(trials[j].values[size_t(k - 1)], trials[best].values[size_t(k - 1)])) best = j;
    const double b = trials[best].values[size_t(k - 1)];
    double limit;
    std::string rule;
    if (p.slack_factor) {
      limit = maximize ? b / (1 + *p.slack_factor) : b * (1 + *p.slack_factor);
      rule = str(num(b), maximize ? " / (1 + " : " * (1 + ", num(*p.slack_factor), ") = ", num(limit));
    } else {
      limit = maximize ? b - *p.slack_amount : b + *p.slack_amount;
      rule = str(num(b), maximize ? " - " : " + ", num(*p.slack_amount), " = ", num(limit));
    }
    if (better(limit, mine))
      return where + str("its best so far ", num(mine), maximize ? " < " : " > ", rule, " (best trial ",
                         trials[best].id, ")");
    return "";
  }
  if (p.type == "median_stopping") {
    std::vector<double> averages;
    for (size_t j : at_k) {
      double s = 0;
      for (int64_t i = 0; i < k; ++i) s += trials[j].values[size_t(i)];
      averages.push_back(s / double(k));
    }
    std::sort(averages.begin(), averages.end());
    const size_t n = averages.size();
    const double median = n % 2 ? averages[n / 2] : (averages[n / 2 - 1] + averages[n / 2]) / 2;
    if (better(median, mine))
      return where + str("its best so far ", num(mine), maximize ? " < " : " > ", "the median ", num(median),
                         " of the running averages of ", n, " trials");
    return "";
  }
  if (p.type == "asha") {
    // the values recorded at this rung by trials that reached it before this one
    std::vector<double> earlier;
    for (size_t j : at_k)
      if (j != t && trials[j].order < me.order) earlier.push_back(trials[j].values[size_t(k - 1)]);
    if (earlier.empty()) return "";
    // Ray Tune works in "higher is better": a minimised metric is negated
    for (double& v : earlier) v = maximize ? v : -v;
    const double mine_now = maximize ? me.values[size_t(k - 1)] : -me.values[size_t(k - 1)];
    const double cutoff = percentile(earlier, (1 - 1 / p.reduction_factor) * 100);
    if (mine_now < cutoff)
      return where + str("its value ", num(me.values[size_t(k - 1)]), " is worse than the rung's cutoff ",
                         num(maximize ? cutoff : -cutoff), " (the top 1/", num(p.reduction_factor), " of ",
                         earlier.size(), " earlier trials)");
    return "";
  }
  if (p.type == "median") {
    int64_t completed = 0;
    std::vector<double> at_step;
    for (size_t j = 0; j < trials.size(); ++j) {
      if (j == t || !trials[j].finished) continue;
      ++completed;
      if (trials[j].values.size() >= size_t(k)) at_step.push_back(trials[j].values[size_t(k - 1)]);
    }
    if (completed < p.n_startup_trials || at_step.empty()) return "";
    const double median = percentile(at_step, 50);
    if (better(median, mine))
      return where + str("its best so far ", num(mine), maximize ? " < " : " > ", "the median ", num(median),
                         " of ", at_step.size(), " completed trials at step ", k - 1);
    return "";
  }
  if (p.type == "truncation_selection") {
    std::vector<size_t> ranked;
    for (size_t j : at_k)
      if (!(p.exclude_finished_jobs && trials[j].finished) || j == t) ranked.push_back(j);
    // worst first (ties keep the trials' order)
    std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
      const double va = trials[a].values[size_t(k - 1)], vb = trials[b].values[size_t(k - 1)];
      return better(vb, va);
    });
    const size_t cut = static_cast<size_t>(std::floor(double(ranked.size()) * p.truncation_percentage / 100.0));
    for (size_t r = 0; r < cut; ++r)
      if (ranked[r] == t)
        return where + str("its value ", num(me.values[size_t(k - 1)]), " is among the lowest ",
                           num(p.truncation_percentage), "% (", cut, " of ", ranked.size(), " trials)");
    return "";
  }
  return "";
}

}  // namespace anneal::jobs
