#include "jobs/sweep.h"

#include <filesystem>
#include <functional>
#include <regex>

#include "jobs/schema.h"
#include "jobs/sobol_directions.h"
#include "jobs/tpe.h"

namespace anneal::jobs {
namespace fs = std::filesystem;

Sweep load_sweep(const std::string& path, const std::vector<std::string>& sets, const std::string& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw JobError(str("sweep file '", path, "' does not exist (or is not a file)"));
  Node tree = load_yaml_file(path);
  for (auto& s : sets) apply_set(tree, s);
  validate(tree, sweep_schema());
  Sweep sw;
  sw.file = fs::absolute(path).lexically_normal().string();
  sw.dir = dir.empty() ? fs::path(sw.file).parent_path().string() : dir;
  RunHeader head = read_header(tree);
  sw.name = head.name;
  sw.experiment = head.experiment;
  sw.description = head.description;
  sw.tags = head.tags;
  const Node* trial = tree.find("trial");
  if (trial->is_scalar()) {  // a path to a job file
    fs::path p = trial->text;
    if (p.is_relative()) p = fs::path(sw.dir) / p;
    if (!fs::is_regular_file(p, ec))
      throw JobError(str(trial->origin.str(), ": trial: '", trial->text, "' is not a job file"));
    sw.trial = load_yaml_file(p.string());
  } else if (trial->is_map()) {
    sw.trial = *trial;
  } else {
    throw JobError(str(trial->origin.str(), ": trial: expected a job (a map) or the path of a job file, got ",
                       trial->describe()));
  }
  sw.space = parse_search_space(*tree.find("search_space"));
  if (const Node* s = tree.find("sampling_algorithm")) {
    const Node* type = s->is_map() ? s->find("type") : s;
    if (!type || !type->is_scalar())
      throw JobError(str(s->origin.str(), ": sampling_algorithm: expected grid, random or {type: random, seed: N}"));
    sw.sampler = type->text;
    if (sw.sampler != "grid" && sw.sampler != "random" && sw.sampler != "sobol" && sw.sampler != "bayesian") {
      std::string hint = closest(sw.sampler, {"grid", "random", "sobol", "bayesian"});
      throw JobError(str(type->origin.str(), ": sampling_algorithm: '", sw.sampler, "' is not one anneal has yet ",
                         "(grid, random, sobol, bayesian)", hint.empty() || hint == sw.sampler ? "" : "; did you mean '" + hint + "'?"));
    }
    if (s->is_map()) {
      for (size_t i = 0; i < s->map.size(); ++i)
        if (s->map[i].first != "type" && s->map[i].first != "seed" && s->map[i].first != "scramble")
          throw JobError(str(s->key_origins[i].str(), ": sampling_algorithm.", s->map[i].first,
                             ": unknown key (type, seed, scramble)"));
      if (const Node* sc = s->find("scramble")) {
        auto b = sc->as_bool();
        if (!b) throw JobError(str(sc->origin.str(), ": sampling_algorithm.scramble: expected true or false"));
        sw.scramble = *b;
      }
      if (const Node* seed = s->find("seed")) {
        auto v = seed->as_int();
        if (!v || *v < 0) throw JobError(str(seed->origin.str(), ": sampling_algorithm.seed: expected a whole number >= 0"));
        sw.seed = static_cast<uint64_t>(*v);
      }
    }
  }
  const Node* obj = tree.find("objective");
  sw.metric = obj->find("primary_metric")->text;
  sw.goal = obj->find("goal")->text;
  if (const Node* l = tree.find("limits")) {
    auto i = [&](const char* k, int64_t d) { return l->find(k) ? *l->find(k)->as_int() : d; };
    sw.max_total = i("max_total_trials", sw.sampler == "grid" ? 0 : 10);
    sw.max_concurrent = i("max_concurrent_trials", 1);
    sw.max_failed = i("max_failed_trials", 0);
    if (const Node* t = l->find("timeout")) sw.timeout_s = *parse_duration(*t);
    if (const Node* t = l->find("trial_timeout")) sw.trial_timeout_s = *parse_duration(*t);
  } else if (sw.sampler == "grid") {
    sw.max_total = 0;
  }
  if (sw.sampler == "bayesian") check_tpe_space(sw.space);
  if (sw.sampler == "sobol" && sw.space.size() > size_t(kSobolMaxDims))
    throw JobError(str(tree.find("search_space")->origin.str(), ": search_space: sobol takes at most ", kSobolMaxDims,
                       " parameters"));
  if (sw.sampler == "grid") {
    const int64_t size = static_cast<int64_t>(grid(sw.space).size());
    sw.max_total = sw.max_total > 0 ? std::min(sw.max_total, size) : size;
  }
  sw.policy = parse_policy(tree.find("early_termination"));
  // compute: slurm: each trial is an sbatch job with the sweep's slurm settings
  if (const Node* c = tree.find("compute"); c && c->text == "slurm") {
    sw.compute = "slurm";
    Node m;
    m.kind = Node::Kind::Map;
    if (const Node* sl = tree.find("slurm")) {
      for (const char* k : {"partition", "time", "account"})
        if (const Node* v = sl->find(k)) m.set(k, *v, {});
      Node extra;
      extra.kind = Node::Kind::List;
      if (const Node* v = sl->find("cpus_per_trial")) extra.list.push_back(scalar("--cpus-per-task=" + v->text, true, {}));
      if (const Node* v = sl->find("gpus_per_trial"); v && v->text != "0")
        extra.list.push_back(scalar("--gres=gpu:" + v->text, true, {}));
      if (const Node* v = sl->find("extra_args"))
        for (auto& a : v->list) extra.list.push_back(a);
      if (!extra.list.empty()) m.set("extra_args", extra, {});
    }
    sw.trial.set("compute", scalar("slurm", false, {}), {});
    if (!m.map.empty()) sw.trial.set("slurm", m, {});
  }
  // trial_timeout: each trial's limits.timeout (unless the trial sets its own)
  if (sw.trial_timeout_s > 0) {
    Node* limits = sw.trial.find("limits");
    if (!limits) {
      Node m;
      m.kind = Node::Kind::Map;
      limits = &sw.trial.set("limits", m, {});
    }
    if (!limits->find("timeout")) limits->set("timeout", scalar(std::to_string(sw.trial_timeout_s), false, {}), {});
  }
  sw.tree = std::move(tree);
  // the trial must be a valid job with the values of the first sample
  trial_job(sw, sweep_sample(sw, 0), nullptr);
  return sw;
}

Sample sweep_sample(const Sweep& sw, int64_t index, const std::vector<Observation>& history) {
  if (sw.sampler == "bayesian") return tpe_sample(sw.space, history, sw.goal == "maximize", sw.seed, index);
  return sweep_sample(sw, index);
}

Sample sweep_sample(const Sweep& sw, int64_t index) {
  if (sw.sampler == "grid") {
    auto all = grid(sw.space);
    return all.at(static_cast<size_t>(index) % all.size());
  }
  if (sw.sampler == "sobol") return sobol_sample(sw.space, sw.seed, index, sw.scramble);
  return random_sample(sw.space, sw.seed, index);
}

Job trial_job(const Sweep& sw, const Sample& sample, std::string* text) {
  Node t = sw.trial;
  static const std::regex ref(R"(\$\{\{\s*search_space\.([A-Za-z0-9_.-]+)\s*\}\})");
  std::function<void(Node&, const std::string&)> walk = [&](Node& n, const std::string& path) {
    if (n.is_scalar()) {
      std::smatch m;
      std::string out;
      std::string rest = n.text;
      bool whole = std::regex_match(n.text, m, ref);
      while (std::regex_search(rest, m, ref)) {
        auto it = sample.values.find(m[1].str());
        if (it == sample.values.end()) {
          std::vector<std::string> names;
          for (auto& d : sw.space) names.push_back(d.name);
          std::string hint = closest(m[1].str(), names);
          throw JobError(str(n.origin.str(), ": trial.", path, ": ${{search_space.", m[1].str(),
                             "}}: the search space has no '", m[1].str(), "'",
                             hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
        }
        out += m.prefix().str() + it->second;
        rest = m.suffix().str();
      }
      if (!out.empty() || whole) {
        n.text = out + rest;
        if (whole) n.quoted = false;  // `lr: ${{search_space.lr}}` is the number itself
      }
    }
    for (auto& [k, v] : n.map) walk(v, path.empty() ? k : path + "." + k);
    for (size_t i = 0; i < n.list.size(); ++i) walk(n.list[i], path + "[" + std::to_string(i) + "]");
  };
  walk(t, "");
  // the trial's job file stands on its own (it is kept in the trial's folder and reruns
  // from there): its code folder and a train job's data path made absolute
  const bool command = t.find("command") != nullptr;
  if (command) {
    fs::path code = t.find("code") ? fs::path(t.find("code")->text) : fs::path();
    if (code.empty() || code.is_relative()) code = (fs::path(sw.dir) / code).lexically_normal();
    t.set("code", scalar(code.string(), true, {}), {});
  } else if (Node* d = t.find("data")) {
    if (Node* p = d->find("path"); p && !p->text.empty() && fs::path(p->text).is_relative())
      p->text = (fs::path(sw.dir) / p->text).lexically_normal().string();
  }
  // the trial's own experiment is the sweep's
  t.erase("experiment");
  t.erase("experiment_name");
  const std::string yaml = to_yaml(t);
  if (text) *text = yaml;
  try {
    return load_job_text(yaml, sw.file + " (trial)", sw.dir);
  } catch (const JobError& e) {
    throw JobError(str(e.what(), " [in the sweep's trial with ", [&] {
                         std::string o;
                         for (auto& [k, v] : sample.values) o += (o.empty() ? "" : ", ") + k + "=" + v;
                         return o;
                       }(), "]"));
  }
}

}  // namespace anneal::jobs
