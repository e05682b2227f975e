#include "jobs/schema.h"

#include <algorithm>
#include <cmath>
#include <regex>

namespace anneal::jobs {
namespace {

using T = Spec::Type;
using SpecPtr = std::shared_ptr<Spec>;

SpecPtr s(T type, std::string doc) {
  auto p = std::make_shared<Spec>();
  p->type = type;
  p->doc = std::move(doc);
  return p;
}
SpecPtr choice(std::vector<std::string> choices, std::string doc) {
  auto p = s(T::String, std::move(doc));
  p->choices = std::move(choices);
  return p;
}
SpecPtr integer(double min, std::string doc, double max = 1e300) {
  auto p = s(T::Int, std::move(doc));
  p->min = min;
  p->max = max;
  return p;
}
SpecPtr number(double min, std::string doc, double max = 1e300) {
  auto p = s(T::Number, std::move(doc));
  p->min = min;
  p->max = max;
  return p;
}
SpecPtr object(std::string doc, std::vector<std::pair<std::string, SpecPtr>> fields, T type = T::Object) {
  auto p = s(type, std::move(doc));
  p->fields = std::move(fields);
  return p;
}
SpecPtr required(SpecPtr p) {
  p->required = true;
  return p;
}
SpecPtr map_of(SpecPtr item, std::string doc) {
  auto p = s(T::MapOf, std::move(doc));
  p->item = std::move(item);
  return p;
}
SpecPtr list_of(SpecPtr item, std::string doc) {
  auto p = s(T::ListOf, std::move(doc));
  p->item = std::move(item);
  return p;
}

Spec build_job_schema() {
  auto input = s(T::ScalarOrObject, "a value (`lr: 0.1`) or a file or folder");
  input->item = object("", {
      {"type", choice({"uri_file", "uri_folder", "string", "integer", "number", "boolean"},
                      "uri_file / uri_folder: a path checked to exist and passed as an absolute path")},
      {"path", s(T::String, "the file or folder (relative to the job file)")},
      {"value", s(T::Scalar, "the value of a string/integer/number/boolean input")},
      {"mode", choice({"ro_mount", "rw_mount", "download", "direct"}, "accepted for Azure ML files; anneal reads in place")},
      {"description", s(T::String, "what it is")},
  });
  auto output = object("a folder the run must produce (created empty in outputs/<name>)", {
      {"type", choice({"uri_folder", "uri_file"}, "what the run writes there")},
      {"mode", choice({"rw_mount", "upload"}, "accepted for Azure ML files")},
      {"description", s(T::String, "what it is")},
  });
  Spec job = *object("", {
      {"$schema", s(T::String, "accepted and ignored (an Azure ML schema URL)")},
      {"type", choice({"command", "train"}, "command: run `command`; train: the built-in trainer. Default: command "
                                            "when `command` is given, else train")},
      {"name", s(T::String, "the run's display name (default: its id)")},
      {"display_name", s(T::String, "Azure ML's name for `name`")},
      {"experiment", s(T::String, "the experiment (folder runs/<experiment>/); default: default")},
      {"experiment_name", s(T::String, "Azure ML's name for `experiment`")},
      {"description", s(T::String, "free text kept with the run")},
      {"tags", map_of(s(T::Scalar, ""), "tags of the run (key: value)")},
      {"base", s(T::Scalar, "a job file this one extends (a path, or a list of paths, merged in order)")},
      // command jobs
      {"command", s(T::String, "the command line, run by /bin/sh in `code`; ${{inputs.x}}, ${{outputs.x}}, "
                               "${{run.id}}, ${{run.dir}} are substituted")},
      {"code", s(T::String, "the folder the command runs in (relative to the job file; default: the job file's)")},
      {"environment", s(T::String, "accepted for Azure ML jobs; anneal runs in the current environment")},
      {"inputs", map_of(input, "named inputs for ${{inputs.NAME}}")},
      {"outputs", map_of(output, "named output folders for ${{outputs.NAME}}")},
      {"environment_variables", map_of(s(T::Scalar, ""), "variables set for the command")},
      {"limits", object("", {{"timeout", s(T::Duration, "the run is canceled after this long (seconds, or 90s, 15m, 2h, 1d)")}})},
      // where it runs
      {"compute", choice({"local", "slurm"}, "local processes (default) or one SLURM batch job through sbatch")},
      {"resources", object("", {{"instance_count", integer(1, "machines (SLURM nodes; local runs take 1)")}})},
      {"distribution", object("data-parallel launch of the program", {
          {"type", required(choice({"pytorch", "mpi"}, "pytorch: `anneal launch` (torchrun's variables); mpi: mpirun"))},
          {"process_count_per_instance", integer(1, "ranks per machine")},
      })},
      {"slurm", object("sbatch settings of compute: slurm", {
          {"partition", s(T::String, "sbatch --partition")},
          {"time", s(T::String, "sbatch --time (e.g. 01:00:00)")},
          {"account", s(T::String, "sbatch --account")},
          {"extra_args", list_of(s(T::String, ""), "more sbatch arguments")},
      })},
      // the built-in trainer
      {"model", object("a model of the zoo: `name` and its settings (e.g. n_layer: 4)",
                       {{"name", required(choice({"mlp", "cnn", "resnet18", "gpt"}, "the zoo model"))}}, T::Settings)},
      {"data", object("", {
          {"name", required(choice({"fashion_mnist", "cifar10", "text", "token_shards"}, "the dataset"))},
          {"path", s(T::String, "its folder or file (default: where scripts/data.sh puts it)")},
          {"limit", integer(0, "train on the first N examples only (0: all)")},
          {"normalize", s(T::Bool, "images: standardise the pixels (default true)")},
          {"val_fraction", number(0, "text: the share held out for validation (default 0.1)", 0.9)},
      })},
      {"optimizer", object("", {
          {"name", required(choice({"sgd", "adam", "adamw", "rmsprop", "adagrad"}, "the optimizer"))},
          {"lr", number(0, "learning rate (default: adam/adamw 1e-3, sgd 0.1, rmsprop/adagrad 1e-2)")},
          {"momentum", number(0, "sgd / rmsprop momentum", 1)},
          {"weight_decay", number(0, "weight decay")},
          {"nesterov", s(T::Bool, "sgd: Nesterov momentum")},
          {"betas", list_of(number(0, "", 1), "adam/adamw: [beta1, beta2]")},
          {"eps", number(0, "adam/adamw/rmsprop/adagrad epsilon")},
      })},
      {"schedule", object("", {
          {"name", required(choice({"constant", "cosine", "warmup_cosine", "step", "exponential"}, "the learning-rate schedule"))},
          {"warmup_steps", integer(0, "warmup_cosine: linear warmup steps")},
          {"min_lr", number(0, "cosine / warmup_cosine: the final learning rate")},
          {"step_size", integer(1, "step: steps between decays")},
          {"gamma", number(0, "step / exponential: the decay factor")},
      })},
      {"epochs", integer(1, "passes over the training data (default 1)")},
      {"max_steps", integer(0, "stop after this many optimizer steps (0: no limit)")},
      {"batch_size", integer(1, "examples per optimizer step (default 128; split over ranks)")},
      {"accumulate", integer(1, "micro-batches per optimizer step")},
      {"clip_grad_norm", number(0, "clip the gradient norm to this (0: off)")},
      {"precision", choice({"fp32", "bf16", "fp16"}, "fp32 (default), bf16 or fp16 autocast with fp32 weights")},
      {"device", s(T::String, "auto (default: the first GPU when there is one), cpu, cuda or cuda:N")},
      {"seed", integer(0, "the random seed (default 0)")},
      {"checkpoint_every", integer(-1, "steps between checkpoints (0: every epoch, -1: never)")},
      {"eval_every", integer(0, "steps between evaluations (0: every epoch)")},
      {"log_every", integer(1, "steps between metric records (default 50)")},
  });
  return job;
}

Spec build_sweep_schema() {
  return *object("", {
      {"$schema", s(T::String, "accepted and ignored")},
      {"type", choice({"sweep"}, "sweep")},
      {"name", s(T::String, "the sweep's display name")},
      {"display_name", s(T::String, "Azure ML's name for `name`")},
      {"experiment", s(T::String, "the experiment of the sweep and its trials (default: default)")},
      {"experiment_name", s(T::String, "Azure ML's name for `experiment`")},
      {"description", s(T::String, "free text")},
      {"tags", map_of(s(T::Scalar, ""), "tags of the sweep's run")},
      {"trial", required(s(T::Any, "the job each trial runs (a map as in a job file, or the path of one); "
                                   "${{search_space.NAME}} is the trial's value"))},
      {"search_space", required(s(T::Any, "NAME: {type: choice|randint|uniform|loguniform|normal|lognormal|quniform|"
                                          "qloguniform|qnormal|qlognormal, ...} (or a list of choices)"))},
      {"sampling_algorithm", s(T::Any, "grid, random (default), sobol, bayesian (TPE), or {type: random|sobol|bayesian, "
                                        "seed: N, scramble: true|false}")},
      {"objective", required(object("", {
          {"primary_metric", required(s(T::String, "the metric the trials log"))},
          {"goal", required(choice({"maximize", "minimize"}, "which way is better"))},
      }))},
      {"limits", object("", {
          {"max_total_trials", integer(1, "trials in all (default 10; grid: its size)")},
          {"max_concurrent_trials", integer(1, "trials at once (default 1)")},
          {"max_failed_trials", integer(1, "stop the sweep after this many failed trials")},
          {"timeout", s(T::Duration, "the whole sweep's time")},
          {"trial_timeout", s(T::Duration, "each trial's time")},
      })},
      {"early_termination", object("", {
          {"type", required(choice({"bandit", "median_stopping", "truncation_selection", "asha", "median"}, "the policy"))},
          {"evaluation_interval", integer(1, "apply at every multiple of this interval")},
          {"delay_evaluation", integer(0, "not before this interval")},
          {"slack_factor", number(0, "bandit: the allowed ratio to the best")},
          {"slack_amount", number(0, "bandit: the allowed distance to the best")},
          {"truncation_percentage", number(1, "truncation_selection: the share cancelled", 99)},
          {"exclude_finished_jobs", s(T::Bool, "truncation_selection: rank running trials only")},
          {"grace_period", integer(1, "asha: the first rung (intervals)")},
          {"reduction_factor", number(1, "asha: keep the top 1/this at each rung (default 4)")},
          {"max_t", integer(2, "asha: no rung at or past this interval (default 100)")},
          {"n_startup_trials", integer(0, "median: completed trials before it prunes (default 5)")},
          {"n_warmup_steps", integer(0, "median: steps (intervals - 1) before it prunes (default 0)")},
          {"interval_steps", integer(1, "median: prune every this many steps (default 1)")},
      })},
      {"compute", choice({"local", "slurm"}, "local trial processes (default), or one sbatch job per trial")},
      {"slurm", object("sbatch settings of each trial (compute: slurm)", {
          {"partition", s(T::String, "sbatch --partition")},
          {"time", s(T::String, "sbatch --time per trial")},
          {"account", s(T::String, "sbatch --account")},
          {"cpus_per_trial", integer(1, "sbatch --cpus-per-task")},
          {"gpus_per_trial", integer(0, "sbatch --gres=gpu:N")},
          {"extra_args", list_of(s(T::String, ""), "more sbatch arguments")},
      })},
  });
}

Spec build_pipeline_schema() {
  return *object("", {
      {"$schema", s(T::String, "accepted and ignored")},
      {"type", choice({"pipeline"}, "pipeline")},
      {"name", s(T::String, "the pipeline's display name")},
      {"display_name", s(T::String, "Azure ML's name for `name`")},
      {"experiment", s(T::String, "the experiment of the pipeline and its steps (default: default)")},
      {"experiment_name", s(T::String, "Azure ML's name for `experiment`")},
      {"description", s(T::String, "free text")},
      {"tags", map_of(s(T::Scalar, ""), "tags of the pipeline's run")},
      {"inputs", s(T::Any, "NAME: a value, {path: FILE_OR_FOLDER} or {value: V}, for ${{parent.inputs.NAME}}")},
      {"settings", object("", {
          {"continue_on_step_failure", s(T::Bool, "a failed step stops its descendants only (default false: all)")},
          {"force_rerun", s(T::Bool, "run every step, reusing nothing")},
          {"default_compute", choice({"local"}, "where steps run")},
          {"max_concurrent_steps", integer(1, "steps at once (default: the cores)")},
      })},
      {"jobs", required(s(T::Any, "STEP: a command or train job (plus is_deterministic: false to never reuse it); "
                                  "${{parent.jobs.STEP.outputs.NAME}} reads another step's output folder"))},
  });
}

std::string type_name(const Spec& sp) {
  switch (sp.type) {
    case T::String: return sp.choices.empty() ? "a string" : "one of " + [&] {
      std::string o;
      for (size_t i = 0; i < sp.choices.size(); ++i) o += (i ? ", " : "") + sp.choices[i];
      return o;
    }();
    case T::Int: return "a whole number";
    case T::Number: return "a number";
    case T::Bool: return "true or false";
    case T::Scalar: return "a value";
    case T::Object: case T::Settings: return "a map";
    case T::MapOf: return "a map";
    case T::ListOf: return "a list";
    case T::Duration: return "a duration (seconds, or 90s, 15m, 2h, 1d)";
    case T::ScalarOrObject: return "a value or a map";
    case T::Any: return "see its description";
  }
  return "?";
}

std::string path_join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

[[noreturn]] void fail(const Origin& at, const std::string& path, const std::string& what) {
  throw JobError(str(at.str(), ": ", path.empty() ? std::string("the job") : path, ": ", what));
}

void check_range(const Node& n, const Spec& sp, double v, const std::string& path) {
  if (v < sp.min || v > sp.max || std::isnan(v)) {
    std::string range = sp.max < 1e300 ? str("between ", sp.min, " and ", sp.max) : str("at least ", sp.min);
    fail(n.origin, path, str("expected ", type_name(sp), " ", range, ", got ", n.text));
  }
}

void check(const Node& n, const Spec& sp, const std::string& path) {
  auto expected = [&] { fail(n.origin, path, "expected " + type_name(sp) + ", got " + n.describe()); };
  switch (sp.type) {
    case T::String:
      if (!n.is_scalar()) expected();
      if (!sp.choices.empty() && std::find(sp.choices.begin(), sp.choices.end(), n.text) == sp.choices.end()) {
        std::string hint = closest(n.text, sp.choices);
        fail(n.origin, path, "expected " + type_name(sp) + ", got '" + n.text + "'" +
                                 (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      return;
    case T::Int: {
      auto v = n.as_int();
      if (!v) expected();
      check_range(n, sp, double(*v), path);
      return;
    }
    case T::Number: {
      auto v = n.as_number();
      if (!v) expected();
      check_range(n, sp, *v, path);
      return;
    }
    case T::Bool:
      if (!n.as_bool()) expected();
      return;
    case T::Scalar:
      if (!n.is_scalar()) expected();
      return;
    case T::Duration:
      if (!parse_duration(n)) expected();
      if (*parse_duration(n) <= 0) fail(n.origin, path, "expected a positive duration, got " + n.text);
      return;
    case T::ListOf:
      if (n.kind != Node::Kind::List) expected();
      for (size_t i = 0; i < n.list.size(); ++i) check(n.list[i], *sp.item, path + "[" + std::to_string(i) + "]");
      return;
    case T::MapOf:
      if (n.kind == Node::Kind::Null) return;
      if (!n.is_map()) expected();
      for (auto& [k, v] : n.map) {
        if (sp.item->type == T::Object && v.kind == Node::Kind::Null) continue;  // `model:` with no settings
        check(v, *sp.item, path_join(path, k));
      }
      return;
    case T::Any:
      return;
    case T::ScalarOrObject:
      if (n.is_scalar()) return;
      if (!n.is_map()) expected();
      check(n, *sp.item, path);
      return;
    case T::Object:
    case T::Settings: {
      if (!n.is_map()) expected();
      std::vector<std::string> names;
      for (auto& [k, f] : sp.fields) names.push_back(k);
      for (size_t i = 0; i < n.map.size(); ++i) {
        const std::string& k = n.map[i].first;
        const Node& v = n.map[i].second;
        auto it = std::find_if(sp.fields.begin(), sp.fields.end(), [&](auto& f) { return f.first == k; });
        if (it == sp.fields.end()) {
          if (sp.type == T::Settings) {
            if (!v.is_scalar() && v.kind != Node::Kind::List)
              fail(v.origin, path_join(path, k), "a setting must be a value or a list, got " + v.describe());
            continue;
          }
          std::string hint = closest(k, names);
          fail(n.key_origins[i], path_join(path, k),
               hint.empty() ? "unknown key (valid here: " + [&] {
                 std::string o;
                 for (size_t j = 0; j < names.size(); ++j) o += (j ? ", " : "") + names[j];
                 return o;
               }() + ")"
                            : "unknown key; did you mean '" + hint + "'?");
        }
        if (v.kind == Node::Kind::Null && it->second->type != T::Object) continue;  // `key:` left empty = unset
        check(v, *it->second, path_join(path, k));
      }
      for (auto& [k, f] : sp.fields)
        if (f->required && !n.find(k)) fail(n.origin, path, "the key '" + k + "' is required (" + f->doc + ")");
      return;
    }
  }
}

void markdown_rows(const Spec& sp, const std::string& path, std::string& out) {
  for (auto& [k, f] : sp.fields) {
    const std::string p = path_join(path, k);
    out += "| `" + p + "` | " + type_name(*f) + (f->required ? " (required)" : "") + " | " + f->doc + " |\n";
    if (f->type == T::Object || f->type == T::Settings) markdown_rows(*f, p, out);
    if ((f->type == T::MapOf || f->type == T::ScalarOrObject) && f->item &&
        (f->item->type == T::Object || f->item->type == T::ScalarOrObject)) {
      const Spec& item = f->item->type == T::ScalarOrObject ? *f->item->item : *f->item;
      markdown_rows(item, p + ".NAME", out);
    }
  }
}

}  // namespace

const Spec& job_schema() {
  static const Spec spec = build_job_schema();
  return spec;
}

const Spec& sweep_schema() {
  static const Spec spec = build_sweep_schema();
  return spec;
}

const Spec& pipeline_schema() {
  static const Spec spec = build_pipeline_schema();
  return spec;
}

void validate(const Node& root, const Spec& spec) {
  if (root.kind == Node::Kind::Null) throw JobError(str(root.origin.file, ": the job file is empty"));
  if (!root.is_map()) fail(root.origin, "", "expected a map of settings at the top, got " + root.describe());
  check(root, spec, "");
}

std::string closest(const std::string& word, const std::vector<std::string>& options) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (auto& o : options) {
    // Levenshtein distance
    std::vector<size_t> prev(o.size() + 1), cur(o.size() + 1);
    for (size_t j = 0; j <= o.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= o.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (word[i - 1] == o[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    if (prev[o.size()] < best_d) {
      best_d = prev[o.size()];
      best = o;
    }
  }
  const size_t limit = std::max<size_t>(1, std::max(word.size(), best.size()) / 3);
  return best_d <= limit ? best : "";
}

std::optional<double> parse_duration(const Node& n) {
  if (!n.is_scalar()) return std::nullopt;
  if (auto v = n.as_number()) return *v;
  static const std::regex re(R"(\s*([0-9]+(\.[0-9]*)?)\s*(s|m|h|d)\s*)");
  std::smatch m;
  if (!std::regex_match(n.text, m, re)) return std::nullopt;
  const double v = std::stod(m[1]);
  const char unit = m[3].str()[0];
  return v * (unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400);
}

std::string schema_markdown(const Spec& spec) {
  std::string out = "| key | type | meaning |\n|---|---|---|\n";
  markdown_rows(spec, "", out);
  return out;
}

}  // namespace anneal::jobs
