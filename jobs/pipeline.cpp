#include "jobs/pipeline.h"

#include <filesystem>
#include <functional>
#include <regex>
#include <set>

#include "jobs/schema.h"
#include "jobs/sha256.h"

namespace anneal::jobs {
namespace fs = std::filesystem;
namespace {

const std::regex& parent_ref() {
  static const std::regex re(R"(\$\{\{\s*parent\.(inputs\.([A-Za-z0-9_-]+)|jobs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+))\s*\}\})");
  return re;
}

// Replaces every parent reference in the strings of `n` through `f(input, step, output, node)`.
void replace_refs(Node& n, const std::function<std::string(const std::string&, const std::string&,
                                                           const std::string&, const Node&)>& f) {
  if (n.is_scalar() && n.text.find("${{") != std::string::npos) {
    std::string out, rest = n.text;
    std::smatch m;
    while (std::regex_search(rest, m, parent_ref())) {
      out += m.prefix().str() + f(m[2].str(), m[3].str(), m[4].str(), n);
      rest = m.suffix().str();
    }
    n.text = out + rest;
  }
  for (auto& e : n.map) replace_refs(e.second, f);
  for (auto& c : n.list) replace_refs(c, f);
}

std::set<std::string> declared_outputs(const Node& step) {
  std::set<std::string> out;
  if (const Node* o = step.find("outputs"))
    for (auto& e : o->map) out.insert(e.first);
  return out;
}

}  // namespace

Pipeline load_pipeline(const std::string& path, const std::vector<std::string>& sets) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw JobError(str("pipeline file '", path, "' does not exist (or is not a file)"));
  Node tree = load_yaml_file(path);
  for (auto& s : sets) apply_set(tree, s);
  validate(tree, pipeline_schema());
  Pipeline p;
  p.file = fs::absolute(path).lexically_normal().string();
  p.dir = fs::path(p.file).parent_path().string();
  RunHeader head = read_header(tree);
  p.name = head.name;
  p.experiment = head.experiment;
  p.description = head.description;
  p.tags = head.tags;
  if (const Node* in = tree.find("inputs")) {
    if (!in->is_map()) throw JobError(str(in->origin.str(), ": inputs: expected a map"));
    for (auto& [k, v] : in->map) {
      if (v.is_scalar()) {
        p.inputs[k] = v.text;
        continue;
      }
      const Node* type = v.is_map() ? v.find("type") : nullptr;
      const Node* where = v.is_map() ? v.find("path") : nullptr;
      const Node* value = v.is_map() ? v.find("value") : nullptr;
      if (where) {
        fs::path q = where->text;
        if (q.is_relative()) q = fs::path(p.dir) / q;
        if (!fs::exists(q, ec))
          throw JobError(str(where->origin.str(), ": inputs.", k, ".path: '", where->text, "' does not exist"));
        p.inputs[k] = fs::absolute(q).lexically_normal().string();
        p.input_is_path[k] = true;
      } else if (value && value->is_scalar()) {
        p.inputs[k] = value->text;
      } else {
        throw JobError(str(v.origin.str(), ": inputs.", k, ": expected a value, {path: ...} or {value: ...}",
                           type ? "" : ""));
      }
    }
  }
  if (const Node* s = tree.find("settings")) {
    if (const Node* c = s->find("continue_on_step_failure")) p.continue_on_step_failure = *c->as_bool();
    if (const Node* f = s->find("force_rerun")) p.force_rerun = *f->as_bool();
    if (const Node* m = s->find("max_concurrent_steps")) p.max_concurrent_steps = *m->as_int();
  }
  const Node* jobs = tree.find("jobs");
  if (!jobs->is_map() || jobs->map.empty()) throw JobError(str(jobs->origin.str(), ": jobs: expected a map of steps"));
  std::map<std::string, PipelineStep> steps;
  std::vector<std::string> order_in_file;
  for (auto& [name, node] : jobs->map) {
    {
      bool ok = !name.empty() && name.size() <= 100 && name[0] != '.';
      for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
      if (!ok) throw JobError(str(node.origin.str(), ": jobs.", name, ": a step name is letters, digits, '_' and '-'"));
    }
    if (!node.is_map()) throw JobError(str(node.origin.str(), ": jobs.", name, ": expected a job (a map)"));
    PipelineStep st;
    st.name = name;
    st.tree = node;
    if (const Node* d = st.tree.find("is_deterministic")) {
      auto b = d->as_bool();
      if (!b) throw JobError(str(d->origin.str(), ": jobs.", name, ".is_deterministic: expected true or false"));
      st.deterministic = *b;
      st.tree.erase("is_deterministic");
    }
    steps[name] = st;
    order_in_file.push_back(name);
  }
  // references: known steps, outputs and inputs; the dependencies they make
  for (auto& name : order_in_file) {
    PipelineStep& st = steps[name];
    std::set<std::string> deps;
    Node copy = st.tree;
    replace_refs(copy, [&](const std::string& input, const std::string& step, const std::string& output,
                           const Node& at) -> std::string {
      if (!input.empty()) {
        if (!p.inputs.count(input))
          throw JobError(str(at.origin.str(), ": jobs.", name, ": ${{parent.inputs.", input,
                             "}}: the pipeline has no input '", input, "'"));
        return "";
      }
      auto it = steps.find(step);
      if (it == steps.end()) {
        std::string hint = closest(step, order_in_file);
        throw JobError(str(at.origin.str(), ": jobs.", name, ": ${{parent.jobs.", step, ".outputs.", output,
                           "}}: there is no step '", step, "'", hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      if (step == name) throw JobError(str(at.origin.str(), ": jobs.", name, ": a step cannot read its own outputs"));
      if (!declared_outputs(it->second.tree).count(output))
        throw JobError(str(at.origin.str(), ": jobs.", name, ": ${{parent.jobs.", step, ".outputs.", output,
                           "}}: step '", step, "' declares no output '", output, "'"));
      deps.insert(step);
      return "";
    });
    st.deps.assign(deps.begin(), deps.end());
  }
  // a topological order (Kahn), or the cycle
  std::map<std::string, int> state;  // 0 new, 1 on the stack, 2 done
  std::vector<std::string> order, stack;
  std::function<void(const std::string&)> visit = [&](const std::string& n) {
    if (state[n] == 2) return;
    if (state[n] == 1) {
      auto from = std::find(stack.begin(), stack.end(), n);
      std::string cycle;
      for (auto it = from; it != stack.end(); ++it) cycle += *it + " -> ";
      throw JobError(str(p.file, ": jobs: the steps depend on each other in a cycle: ", cycle, n));
    }
    state[n] = 1;
    stack.push_back(n);
    for (auto& d : steps[n].deps) visit(d);
    stack.pop_back();
    state[n] = 2;
    order.push_back(n);
  };
  for (auto& n : order_in_file) visit(n);
  for (auto& n : order) p.steps.push_back(steps[n]);
  // each step must be a valid job (with stand-in paths for what it reads)
  for (auto& st : p.steps) {
    std::map<std::string, std::map<std::string, std::string>> fake;
    for (auto& d : st.deps)
      for (auto& o : declared_outputs(steps[d].tree)) fake[d][o] = "/nonexistent/" + d + "/" + o;
    plan_step(p, st, fake, {}, /*with_key=*/false);
  }
  return p;
}

StepPlan plan_step(const Pipeline& p, const PipelineStep& st,
                   const std::map<std::string, std::map<std::string, std::string>>& outputs,
                   const std::vector<std::string>& skip, bool with_key) {
  Node run_tree = st.tree, key_tree = st.tree;
  auto value_of = [&](const std::string& input, const std::string& step, const std::string& output) {
    if (!input.empty()) return p.inputs.at(input);
    return outputs.at(step).at(output);
  };
  replace_refs(run_tree, [&](const std::string& i, const std::string& s, const std::string& o, const Node&) {
    return value_of(i, s, o);
  });
  // the key sees what a reference points to by content, not where it is
  replace_refs(key_tree, [&](const std::string& i, const std::string& s, const std::string& o, const Node&) {
    if (!with_key) return std::string("?");
    if (!i.empty()) return p.input_is_path.count(i) ? content_hash(p.inputs.at(i), skip) : "value:" + p.inputs.at(i);
    return content_hash(outputs.at(s).at(o), skip);
  });
  // the step's code folder is the pipeline file's unless it says otherwise
  if (run_tree.find("command") && !run_tree.find("code")) run_tree.set("code", scalar(p.dir, true, {}), {});
  if (const Node* c = run_tree.find("code"); c && fs::path(c->text).is_relative())
    run_tree.set("code", scalar((fs::path(p.dir) / c->text).lexically_normal().string(), true, {}), {});
  run_tree.erase("experiment");
  StepPlan plan;
  plan.text = to_yaml(run_tree);
  try {
    plan.job = load_job_text(plan.text, p.file + " (step " + st.name + ")", p.dir);
  } catch (const JobError& e) {
    throw JobError(str(e.what(), " [in pipeline step '", st.name, "']"));
  }
  if (with_key) {
    Sha256 h;
    h.update(to_yaml(key_tree));
    h.update("\ncode:");
    // the code folder's content, without the pipeline's input folders (hashed as inputs)
    // and the pipeline file
    std::vector<std::string> code_skip = skip;
    code_skip.push_back(p.file);  // the steps' own settings are in the key already
    for (auto& [name, is_path] : p.input_is_path)
      if (is_path) code_skip.push_back(p.inputs.at(name));
    if (plan.job.type == "command") h.update(content_hash(plan.job.code_dir, code_skip));
    plan.key = h.hex();
  }
  return plan;
}

std::vector<std::string> descendants(const Pipeline& p, const std::string& name) {
  std::set<std::string> out{name};
  for (bool grew = true; grew;) {
    grew = false;
    for (auto& st : p.steps)
      if (!out.count(st.name))
        for (auto& d : st.deps)
          if (out.count(d)) {
            out.insert(st.name);
            grew = true;
            break;
          }
  }
  out.erase(name);
  return {out.begin(), out.end()};
}

}  // namespace anneal::jobs
