// Sweeps: early-termination policies worked by hand, the search space's distributions
// (Kolmogorov-Smirnov against their definitions), grid and seeded random sampling, and the
// sweep file's errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "jobs/early_termination.h"
#include "jobs/search_space.h"
#include "jobs/sweep.h"

using namespace anneal;
using namespace anneal::jobs;

namespace {

std::vector<TrialCurve> curves(std::vector<std::vector<double>> v) {
  std::vector<TrialCurve> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back({"t" + std::to_string(i), v[i], false});
  return out;
}

PolicySpec policy(const std::string& yaml) { return parse_policy(new Node(parse_yaml(yaml, "p.yaml"))); }

bool cancels(const PolicySpec& p, bool maximize, const std::vector<TrialCurve>& c, size_t t, int64_t k) {
  return !should_cancel(p, maximize, c, t, k).empty();
}

// The Kolmogorov-Smirnov statistic of samples against a CDF.
double ks(std::vector<double> x, const std::function<double(double)>& cdf) {
  std::sort(x.begin(), x.end());
  double d = 0;
  const double n = double(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double f = cdf(x[i]);
    d = std::max({d, f - double(i) / n, double(i + 1) / n - f});
  }
  return d;
}

std::vector<double> draws(const std::string& yaml, int n = 4000) {
  auto space = parse_search_space(parse_yaml(yaml, "s.yaml"));
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(std::stod(random_sample(space, 11, i).values.begin()->second));
  return out;
}

double phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

}  // namespace

TEST(EarlyTermination, BanditWithSlackFactorAndAmountBothWays) {
  // maximising; at interval 2 the best trial's value is 0.8: the limit is 0.8 / 1.1 = 0.7273
  auto c = curves({{0.5, 0.8, 0.9}, {0.6, 0.72, 0.5}, {0.74, 0.70}});
  auto p = policy("{type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 2}");
  EXPECT_FALSE(cancels(p, true, c, 1, 1));  // before delay_evaluation
  EXPECT_TRUE(cancels(p, true, c, 1, 2));   // best so far 0.72 < 0.7273
  EXPECT_FALSE(cancels(p, true, c, 2, 2));  // best so far 0.74 (interval 1) >= 0.7273
  EXPECT_FALSE(cancels(p, true, c, 0, 2));
  auto a = policy("{type: bandit, slack_amount: 0.05}");
  EXPECT_TRUE(cancels(a, true, c, 2, 2));   // 0.74 < 0.8 - 0.05 = 0.75
  EXPECT_TRUE(cancels(a, true, c, 1, 2));   // 0.72 < 0.75
  // minimising (losses): best at interval 2 is 0.2: factor limit 0.22, amount limit 0.25
  auto m = curves({{0.5, 0.2}, {0.3, 0.23}, {0.24, 0.4}});
  EXPECT_TRUE(cancels(p, false, m, 1, 2));   // 0.23 > 0.22
  EXPECT_FALSE(cancels(a, false, m, 1, 2));  // 0.23 <= 0.25
  EXPECT_FALSE(cancels(a, false, m, 2, 2));  // its best so far 0.24 <= 0.25
  EXPECT_TRUE(cancels(p, false, m, 2, 2));   // 0.24 > 0.22
  // evaluation_interval 2: intervals 2, 4, ... only
  auto e = policy("{type: bandit, slack_factor: 0.1, evaluation_interval: 2}");
  auto long_c = curves({{1, 1, 1, 1}, {0.1, 0.1, 0.1, 0.1}});
  EXPECT_FALSE(cancels(e, true, long_c, 1, 1));
  EXPECT_TRUE(cancels(e, true, long_c, 1, 2));
  EXPECT_FALSE(cancels(e, true, long_c, 1, 3));
  EXPECT_TRUE(cancels(e, true, long_c, 1, 4));
  EXPECT_NE(should_cancel(p, true, c, 1, 2).find("0.727273"), std::string::npos) << should_cancel(p, true, c, 1, 2);
}

TEST(EarlyTermination, MedianStoppingComparesBestSoFarWithTheMedianOfRunningAverages) {
  // at interval 3 the running averages are 2, 3, 4, and (1+1+1.5)/3: median of
  // {1.1667, 2, 3, 4} = 2.5
  auto c = curves({{1, 2, 3}, {2, 3, 4}, {3, 4, 5}, {1, 1, 1.5}});
  auto p = policy("{type: median_stopping}");
  EXPECT_TRUE(cancels(p, true, c, 3, 3));   // best 1.5 < 2.5
  EXPECT_FALSE(cancels(p, true, c, 0, 3));  // best 3 >= 2.5
  // minimising: the same numbers as losses, median 2.5: trial 2's best (3) is worse
  EXPECT_TRUE(cancels(p, false, c, 2, 3));
  EXPECT_FALSE(cancels(p, false, c, 3, 3));
  // only trials that reached the interval count: at 4, trial 0 alone... with one other
  auto d = curves({{1, 1, 1, 5}, {2, 2, 2}});
  EXPECT_FALSE(cancels(p, true, d, 0, 4));  // alone at interval 4: its own average is the median
}

TEST(EarlyTermination, TruncationSelectionCancelsTheLowestShare) {
  // five trials at interval 1 with values 5 4 3 2 1: 40% -> the lowest 2 (values 2 and 1)
  auto c = curves({{5}, {4}, {3}, {2}, {1}});
  auto p = policy("{type: truncation_selection, truncation_percentage: 40}");
  std::vector<bool> got;
  for (size_t t = 0; t < 5; ++t) got.push_back(cancels(p, true, c, t, 1));
  EXPECT_EQ(got, (std::vector<bool>{false, false, false, true, true}));
  // minimising: the highest values go
  got.clear();
  for (size_t t = 0; t < 5; ++t) got.push_back(cancels(p, false, c, t, 1));
  EXPECT_EQ(got, (std::vector<bool>{true, true, false, false, false}));
  // 20% of 4 trials rounds down to none
  auto q = policy("{type: truncation_selection, truncation_percentage: 20}");
  auto four = curves({{4}, {3}, {2}, {1}});
  for (size_t t = 0; t < 4; ++t) EXPECT_FALSE(cancels(q, true, four, t, 1));
  // exclude_finished_jobs: finished trials leave the ranking
  auto x = policy("{type: truncation_selection, truncation_percentage: 50, exclude_finished_jobs: true}");
  auto mixed = curves({{1}, {0.5}, {3}, {4}});
  mixed[0].finished = mixed[1].finished = true;
  EXPECT_FALSE(cancels(x, true, mixed, 2, 1) && cancels(x, true, mixed, 3, 1));
  EXPECT_TRUE(cancels(x, true, mixed, 2, 1));  // of the running {3, 4} (and itself), 3 is the lower half
  auto y = policy("{type: truncation_selection, truncation_percentage: 50}");
  EXPECT_FALSE(cancels(y, true, mixed, 2, 1));  // counting the finished 1 and 0.5, 3 is in the upper half
}

TEST(EarlyTermination, PolicyFilesAreChecked) {
  EXPECT_THROW(policy("{type: bandit}"), JobError);  // no slack
  EXPECT_THROW(policy("{type: bandit, slack_factor: 0.1, slack_amount: 1}"), JobError);
  EXPECT_THROW(policy("{type: median_stopping, slack_factor: 0.1}"), JobError);
  EXPECT_THROW(policy("{type: truncation_selection}"), JobError);
}

TEST(SearchSpace, EachDistributionMatchesItsDefinition) {
  // K-S critical value at alpha = 0.001 for n = 4000: 1.95 / sqrt(n) = 0.031
  const double crit = 1.95 / std::sqrt(4000.0);
  EXPECT_LT(ks(draws("x: {type: uniform, min_value: -2, max_value: 3}"), [](double v) { return (v + 2) / 5; }), crit);
  EXPECT_LT(ks(draws("x: {type: loguniform, min_value: -5, max_value: 0}"),
               [](double v) { return (std::log(v) + 5) / 5; }),
            crit);
  EXPECT_LT(ks(draws("x: {type: normal, mu: 1, sigma: 2}"), [](double v) { return phi((v - 1) / 2); }), crit);
  EXPECT_LT(ks(draws("x: {type: lognormal, mu: 0, sigma: 0.5}"), [](double v) { return phi(std::log(v) / 0.5); }),
            crit);
  // quantized forms land on multiples of q
  for (double v : draws("x: {type: quniform, min_value: 0, max_value: 10, q: 2.5}", 200))
    EXPECT_DOUBLE_EQ(std::fmod(v, 2.5), 0.0);
  for (double v : draws("x: {type: qnormal, mu: 0, sigma: 5, q: 1}", 200)) EXPECT_DOUBLE_EQ(v, std::round(v));
  for (double v : draws("x: {type: qloguniform, min_value: 0, max_value: 5, q: 1}", 200)) EXPECT_DOUBLE_EQ(v, std::round(v));
  for (double v : draws("x: {type: qlognormal, mu: 1, sigma: 1, q: 1}", 200)) EXPECT_DOUBLE_EQ(v, std::round(v));
  // randint: 0 .. upper-1, uniformly (chi-square on 5 cells)
  auto r = draws("x: {type: randint, upper: 5}", 5000);
  std::vector<int> cells(5, 0);
  for (double v : r) {
    ASSERT_GE(v, 0);
    ASSERT_LT(v, 5);
    cells[size_t(v)]++;
  }
  double chi = 0;
  for (int c : cells) chi += (c - 1000.0) * (c - 1000.0) / 1000.0;
  EXPECT_LT(chi, 18.47);  // chi-square, 4 degrees of freedom, alpha = 0.001
  // choice: every value, about equally
  auto space = parse_search_space(parse_yaml("x: {type: choice, values: [a, b, c]}", "s"));
  std::map<std::string, int> seen;
  for (int i = 0; i < 3000; ++i) seen[random_sample(space, 1, i).values["x"]]++;
  EXPECT_EQ(seen.size(), 3u);
  for (auto& [k, n] : seen) EXPECT_NEAR(n, 1000, 120) << k;
}

TEST(SearchSpace, RandomIsReproducibleBySeedAndGridEnumeratesTheProductOnce) {
  auto space = parse_search_space(parse_yaml("a: {type: uniform, min_value: 0, max_value: 1}\nb: [1, 2]", "s"));
  EXPECT_EQ(random_sample(space, 5, 3).values, random_sample(space, 5, 3).values);
  EXPECT_NE(random_sample(space, 5, 3).values, random_sample(space, 6, 3).values);
  EXPECT_NE(random_sample(space, 5, 3).values, random_sample(space, 5, 4).values);
  auto g = parse_search_space(parse_yaml("a: [1, 2, 3]\nb: {type: choice, values: [x, y]}\nc: [true]", "s"));
  auto all = grid(g);
  ASSERT_EQ(all.size(), 6u);
  std::set<std::map<std::string, std::string>> distinct;
  for (auto& s : all) distinct.insert(s.values);
  EXPECT_EQ(distinct.size(), 6u);
  EXPECT_THROW(grid(space), JobError);  // uniform is not a grid parameter
}

TEST(SearchSpace, MistakesNameTheParameterAndLine) {
  auto err = [](const std::string& yaml) {
    try {
      parse_search_space(parse_yaml(yaml, "s.yaml"));
      return std::string();
    } catch (const JobError& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(err("lr: {type: unifrom, min_value: 0, max_value: 1}").find("did you mean 'uniform'?"), std::string::npos);
  EXPECT_NE(err("lr: {type: uniform, min_value: 1, max_value: 0}").find("must be below max_value"), std::string::npos);
  EXPECT_NE(err("lr: {type: uniform, min_value: 0}").find("needs `max_value:`"), std::string::npos);
  EXPECT_NE(err("lr: {type: normal, mu: 0, sigma: 0}").find("sigma must be positive"), std::string::npos);
  EXPECT_NE(err("lr: {type: uniform, min_value: 0, max_value: 1, q: 1}").find("not a setting of uniform"),
            std::string::npos);
  EXPECT_NE(err("n: {type: randint, upper: 0}").find("upper >= 1"), std::string::npos);
  EXPECT_NE(err("c: {type: choice, values: []}").find("non-empty list"), std::string::npos);
  EXPECT_NE(err("c: 5").find("s.yaml:1"), std::string::npos);
}

TEST(SweepFile, TrialsAreCheckedBeforeAnyRuns) {
  auto dir = std::filesystem::temp_directory_path() / ("anneal-sweep-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& text) {
    std::ofstream(dir / "s.yaml") << text;
    return (dir / "s.yaml").string();
  };
  const std::string head = "objective: {primary_metric: acc, goal: maximize}\n";
  Sweep sw = load_sweep(write(head + "trial:\n  command: run --lr ${{search_space.lr}}\n  limits: {timeout: 5}\n"
                                     "search_space:\n  lr: [0.1, 0.2]\nsampling_algorithm: grid\n"));
  EXPECT_EQ(sw.max_total, 2);
  std::string text;
  Job j = trial_job(sw, sweep_sample(sw, 1), &text);
  EXPECT_EQ(j.command, "run --lr 0.2");
  // a whole-value reference keeps the number's type in a train job
  sw = load_sweep(write(head + "trial:\n  model: {name: mlp}\n  data: {name: fashion_mnist}\n  optimizer:\n"
                               "    name: sgd\n    lr: \"${{search_space.lr}}\"\nsearch_space:\n  lr: [0.5]\n"));
  j = trial_job(sw, sweep_sample(sw, 0), nullptr);
  EXPECT_EQ(*j.tree.find("optimizer")->find("lr")->as_number(), 0.5);
  auto err = [&](const std::string& body) {
    try {
      load_sweep(write(body));
      return std::string();
    } catch (const JobError& e) {
      return std::string(e.what());
    }
  };
  // (${{...}} inside a flow map {...} is not YAML: block style, as here, or quotes)
  EXPECT_NE(err(head + "trial:\n  command: run ${{search_space.lrr}}\nsearch_space: {lr: [1]}\n").find("did you mean 'lr'?"),
            std::string::npos);
  EXPECT_NE(err(head + "trial: {command: run, epochs: 3}\nsearch_space: {lr: [1]}\n").find("epochs: belongs to the built-in"),
            std::string::npos);
  EXPECT_NE(err("trial: {command: run}\nsearch_space: {lr: [1]}\n").find("'objective' is required"), std::string::npos);
  EXPECT_NE(err(head + "trial: {command: run}\nsearch_space: {lr: [1]}\nsampling_algorithm: sobl\n").find("sobol"),
            std::string::npos);
  EXPECT_NE(err(head + "trial: {command: run}\nsearch_space: {lr: [1]}\nearly_termination: {type: bandit}\n")
                .find("exactly one of slack_factor and slack_amount"),
            std::string::npos);
  EXPECT_NE(err(head + "trial: {command: run}\nsearch_space: {lr: {type: uniform, min_value: 0, max_value: 1}}\n"
                       "sampling_algorithm: grid\n").find("grid takes choice parameters only"),
            std::string::npos);
}
