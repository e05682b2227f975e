// Sweeps: early-termination policies worked by hand, the search space's distributions
// (Kolmogorov-Smirnov against their definitions), grid and seeded random sampling, and the
// sweep file's errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "jobs/early_termination.h"
#include "jobs/search_space.h"
#include "jobs/sweep.h"
#include "jobs/tpe.h"

using namespace anneal;
using namespace anneal::jobs;

namespace {

std::vector<TrialCurve> curves(std::vector<std::vector<double>> v) {
  std::vector<TrialCurve> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back({"t" + std::to_string(i), v[i], false, int64_t(i)});
  return out;
}

PolicySpec policy(const std::string& yaml) {
  const Node n = parse_yaml(yaml, "p.yaml");
  return parse_policy(&n);
}

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

// What a Python script (Debian's interpreter: SciPy and Optuna are the references) prints.
std::string python_output(const std::string& script) {
  const std::string file = (std::filesystem::temp_directory_path() /
                            ("anneal_ref_" + std::to_string(::getpid()) + ".py")).string();
  std::ofstream(file) << script;
  FILE* p = popen((std::string(ANNEAL_TEST_PYTHON) + " " + file + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p) pclose(p);
  return out;
}

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

TEST(SearchSpace, SobolEqualsScipysUnscrambledPointsAndScramblesBySeed) {
  // SciPy's scipy.stats.qmc.Sobol (Debian's python3-scipy) as the reference
  const int dims = 12, n = 128;
  const std::string all = python_output(
      "import warnings; warnings.simplefilter('ignore')\nfrom scipy.stats import qmc\n"
      "for p in qmc.Sobol(" + std::to_string(dims) + ", scramble=False).random(" + std::to_string(n) + "):\n"
      "    print(' '.join(repr(float(v)) for v in p))\n");
  std::vector<double> ref;
  if (all.find("No module named") != std::string::npos) GTEST_SKIP() << "SciPy is not installed (python3-scipy)";
  std::istringstream in(all);
  for (double v; in >> v;) ref.push_back(v);
  ASSERT_EQ(ref.size(), size_t(dims * n)) << all.substr(0, 400);
  for (int i = 0; i < n; ++i) {
    auto pt = sobol_point(dims, uint64_t(i), false, 0);
    for (int j = 0; j < dims; ++j) ASSERT_DOUBLE_EQ(pt[size_t(j)], ref[size_t(i * dims + j)]) << "point " << i << " dim " << j;
  }
  // scrambled: reproducible by seed, different across seeds, still in [0, 1) and balanced
  EXPECT_EQ(sobol_point(3, 17, true, 4), sobol_point(3, 17, true, 4));
  EXPECT_NE(sobol_point(3, 17, true, 4), sobol_point(3, 17, true, 5));
  int low = 0;
  for (int i = 0; i < 256; ++i) {
    auto pt = sobol_point(2, uint64_t(i), true, 9);
    ASSERT_GE(pt[0], 0.0);
    ASSERT_LT(pt[0], 1.0);
    low += pt[0] < 0.5;
  }
  EXPECT_EQ(low, 128);  // a digital shift keeps the net's balance: exactly half in each half
  // the quantile function behind the normal forms
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_quantile(1e-10), -6.361340902404056, 1e-9);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-15);
}

namespace {
double branin(double x1, double x2) {
  const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
  return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
}
double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

TEST(SearchSpace, TpeBeatsRandomOnBraninAndKeepsUpWithOptuna) {
  auto space = parse_search_space(parse_yaml("x1: {type: uniform, min_value: -5, max_value: 10}\n"
                                             "x2: {type: uniform, min_value: 0, max_value: 15}", "s"));
  const int budget = 60;
  std::vector<double> tpe_best, random_best;
  for (uint64_t seed = 0; seed < 7; ++seed) {
    std::vector<Observation> history;
    double best_t = 1e300, best_r = 1e300;
    for (int i = 0; i < budget; ++i) {
      Sample s = tpe_sample(space, history, false, seed, i);
      const double v = branin(std::stod(s.values["x1"]), std::stod(s.values["x2"]));
      history.push_back({s, v});
      best_t = std::min(best_t, v);
      Sample r = random_sample(space, seed, i);
      best_r = std::min(best_r, branin(std::stod(r.values["x1"]), std::stod(r.values["x2"])));
    }
    tpe_best.push_back(best_t);
    random_best.push_back(best_r);
  }
  const double tpe = median_of(tpe_best), rnd = median_of(random_best);
  EXPECT_LT(tpe, rnd) << "TPE " << tpe << " random " << rnd;
  // Optuna's TPESampler (Debian's python3-optuna) with the same budget and startup
  const std::string out = python_output(std::string() +
      "import math, optuna; optuna.logging.set_verbosity(optuna.logging.ERROR)\n"
      "def f(t):\n"
      "    x1 = t.suggest_float('x1', -5, 10); x2 = t.suggest_float('x2', 0, 15)\n"
      "    b = 5.1 / (4 * math.pi ** 2); c = 5 / math.pi; r = 1 / (8 * math.pi)\n"
      "    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - r) * math.cos(x1) + 10\n"
      "for seed in range(7):\n"
      "    s = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=10))\n"
      "    s.optimize(f, n_trials=" + std::to_string(budget) + ")\n"
      "    print(s.best_value)\n");
  if (out.find("No module named") != std::string::npos) GTEST_SKIP() << "Optuna is not installed (python3-optuna)";
  std::istringstream in(out);
  std::vector<double> optuna;
  for (double v; in >> v;) optuna.push_back(v);
  ASSERT_EQ(optuna.size(), 7u) << out.substr(0, 500);
  const double ref = median_of(optuna);
  std::printf("Branin, %d trials, median best of 7 seeds: anneal TPE %.4f, Optuna TPE %.4f, random %.4f (optimum 0.3979)\n",
              budget, tpe, ref, rnd);
  EXPECT_LE(tpe, ref * 1.25 + 0.02) << "TPE " << tpe << " Optuna " << ref;
}

TEST(EarlyTermination, AshaStopsBelowTheRungCutoff) {
  // rungs at 1, 2, 4, 8 (grace 1, rf 2, max_t 10); values at rung 2 of earlier trials:
  // 0.5, 0.7, 0.9 -> cutoff = 50th percentile = 0.7
  auto p = policy("{type: asha, grace_period: 1, reduction_factor: 2, max_t: 10}");
  EXPECT_TRUE(evaluates_at(p, 1) && evaluates_at(p, 2) && evaluates_at(p, 4) && evaluates_at(p, 8));
  EXPECT_FALSE(evaluates_at(p, 3) || evaluates_at(p, 16));
  auto c = curves({{0.1, 0.5}, {0.1, 0.7}, {0.1, 0.9}, {0.9, 0.6}, {0.9, 0.8}});
  EXPECT_TRUE(cancels(p, true, c, 3, 2));   // 0.6 < 0.7
  EXPECT_FALSE(cancels(p, true, c, 4, 2));  // 0.8 >= cutoff of {0.5, 0.7, 0.9, 0.6} = 0.65
  EXPECT_FALSE(cancels(p, true, c, 0, 2));  // the first at the rung: nothing to compare with
  // minimising: cutoff of -{0.5, 0.7, 0.9} at the 50th percentile = -0.7: 0.8 is worse
  EXPECT_TRUE(cancels(p, false, c, 4, 2));
  EXPECT_FALSE(cancels(p, false, c, 3, 2));  // 0.6 is better than 0.7
  // rf 4: the top quarter passes: trial 3 meets {0.5, 0.7, 0.9}, whose 75th percentile is 0.8
  auto q = policy("{type: asha, grace_period: 2, reduction_factor: 4}");
  EXPECT_TRUE(cancels(q, true, c, 3, 2));   // 0.6 < 0.8
  EXPECT_FALSE(cancels(q, true, c, 4, 2));  // {0.5, 0.6, 0.7, 0.9}: 75th percentile 0.75 <= 0.8
}

TEST(EarlyTermination, MedianMatchesOptunasMedianPruner) {
  // curves reported one trial after another, as Optuna's study.optimize runs them
  const std::vector<std::vector<double>> c = {
      {0.9, 0.8, 0.7, 0.6, 0.5}, {0.95, 0.9, 0.85, 0.8, 0.75}, {0.7, 0.6, 0.55, 0.5, 0.45},
      {0.99, 0.97, 0.96, 0.95, 0.94}, {0.8, 0.7, 0.5, 0.4, 0.3}, {0.85, 0.84, 0.83, 0.82, 0.81},
      {0.6, 0.5, 0.4, 0.35, 0.3}, {0.9, 0.88, 0.6, 0.5, 0.4}};
  for (const char* settings : {"{type: median, n_startup_trials: 2, n_warmup_steps: 1}",
                               "{type: median, n_startup_trials: 3, n_warmup_steps: 0, interval_steps: 2}"}) {
    auto p = policy(settings);
    // anneal: trials one after another; a pruned trial keeps the values up to the prune
    std::vector<TrialCurve> done;
    std::vector<int> ours;
    for (size_t t = 0; t < c.size(); ++t) {
      int pruned = -1;
      for (size_t k = 1; k <= c[t].size(); ++k) {
        auto all = done;
        all.push_back({"t", std::vector<double>(c[t].begin(), c[t].begin() + long(k)), false, int64_t(t)});
        if (!should_cancel(p, false, all, all.size() - 1, int64_t(k)).empty()) {
          pruned = int(k - 1);
          break;
        }
      }
      ours.push_back(pruned);
      // a pruned trial is not "completed": Optuna leaves it out of the medians too
      done.push_back({"t", pruned < 0 ? c[t] : std::vector<double>(c[t].begin(), c[t].begin() + pruned + 1),
                      pruned < 0, int64_t(t)});
    }
    Node n = parse_yaml(settings, "p");
    std::string py = "import optuna; optuna.logging.set_verbosity(optuna.logging.ERROR)\n";
    py += "c = [";
    for (auto& v : c) {
      py += "[";
      for (double x : v) py += std::to_string(x) + ",";
      py += "],";
    }
    py += "]\np = optuna.pruners.MedianPruner(n_startup_trials=" + n.find("n_startup_trials")->text +
          ", n_warmup_steps=" + n.find("n_warmup_steps")->text + ", interval_steps=" +
          (n.find("interval_steps") ? n.find("interval_steps")->text : std::string("1")) + ")\n";
    py += "s = optuna.create_study(direction='minimize', pruner=p)\nout = []\n"
          "def f(trial):\n"
          "    curve = c[trial.number]\n"
          "    for step, v in enumerate(curve):\n"
          "        trial.report(v, step)\n"
          "        if trial.should_prune():\n"
          "            out.append(step); raise optuna.TrialPruned()\n"
          "    out.append(-1); return curve[-1]\n"
          "s.optimize(f, n_trials=len(c))\nprint(' '.join(map(str, out)))\n";
    const std::string out = python_output(py);
    if (out.find("No module named") != std::string::npos) GTEST_SKIP() << "Optuna is not installed";
    std::istringstream in(out);
    std::vector<int> theirs;
    for (int v; in >> v;) theirs.push_back(v);
    EXPECT_EQ(ours, theirs) << settings << "\n" << out;
    EXPECT_TRUE(std::any_of(ours.begin(), ours.end(), [](int v) { return v >= 0; })) << "nothing pruned: a weak case";
  }
}
