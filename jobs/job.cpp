#include "jobs/job.h"

#include <filesystem>
#include <functional>
#include <regex>
#include <set>

#include "jobs/schema.h"

namespace anneal::jobs {
namespace fs = std::filesystem;
void check_name(const std::string& name, const Origin& where);

namespace {

std::string text_of(const Node* n, const std::string& fallback = "") {
  return n && n->is_scalar() ? n->text : fallback;
}
int64_t int_of(const Node* n, int64_t fallback) {
  if (!n || !n->is_scalar()) return fallback;
  return n->as_int().value_or(fallback);
}

// `base:` chains, merged in order under the file that names them.
Node load_with_bases(const std::string& path, std::vector<std::string>& chain, const std::string& shown) {
  const std::string abs = fs::absolute(path).lexically_normal().string();
  for (auto& c : chain)
    if (c == abs) throw JobError(str(path, ": its base files include it again (", chain.front(), " ... ", abs, ")"));
  if (chain.size() >= 16) throw JobError(str(path, ": base files nest deeper than 16"));
  std::error_code ec;
  if (!fs::is_regular_file(abs, ec))
    throw JobError(chain.empty() ? str("job file '", path, "' does not exist (or is not a file)")
                                 : str(chain.back(), ": its base file '", shown, "' does not exist (", path, ")"));
  chain.push_back(abs);
  Node me = load_yaml_file(abs);
  const Node* base = me.is_map() ? me.find("base") : nullptr;
  if (!base) {
    chain.pop_back();
    return me;
  }
  std::vector<const Node*> names;
  if (base->kind == Node::Kind::List)
    for (auto& b : base->list) names.push_back(&b);
  else
    names.push_back(base);
  Node merged;
  merged.kind = Node::Kind::Map;
  merged.origin = me.origin;
  for (const Node* b : names) {
    if (!b->is_scalar() || b->text.empty())
      throw JobError(str(b->origin.str(), ": base: expected a path to a job file, got ", b->describe()));
    fs::path p = b->text;
    if (p.is_relative()) p = fs::path(abs).parent_path() / p;
    merge_into(merged, load_with_bases(p.string(), chain, b->text));
  }
  me.erase("base");
  merge_into(merged, me);
  chain.pop_back();
  return merged;
}

const std::regex& reference_re() {
  static const std::regex re(R"(\$\{\{\s*([^}]*?)\s*\}\})");
  return re;
}

// Replaces each ${{name}} in `text` through `lookup` (which throws for unknown names).
std::string substitute(const std::string& text, const std::function<std::string(const std::string&)>& lookup) {
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), reference_re());
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += text.substr(last, size_t(it->position()) - last);
    out += lookup((*it)[1].str());
    last = size_t(it->position() + it->length());
  }
  out += text.substr(last);
  return out;
}

void for_each_string(Node& n, const std::string& path, const std::function<void(Node&, const std::string&)>& f) {
  if (n.is_scalar()) f(n, path);
  for (auto& [k, v] : n.map) for_each_string(v, path.empty() ? k : path + "." + k, f);
  for (size_t i = 0; i < n.list.size(); ++i) for_each_string(n.list[i], path + "[" + std::to_string(i) + "]", f);
}

// The value of a ${{...}} reference, or a JobError naming it and what exists.
std::string lookup(const Job& job, const RunValues& run, const std::string& ref, const Node& where,
                   const std::string& path) {
  auto bad = [&](const std::string& why) -> std::string {
    throw JobError(str(where.origin.str(), ": ", path, ": ${{", ref, "}}: ", why));
  };
  auto dot = ref.find('.');
  const std::string head = ref.substr(0, dot), rest = dot == std::string::npos ? "" : ref.substr(dot + 1);
  if (head == "inputs") {
    auto it = job.inputs.find(rest);
    if (it != job.inputs.end()) return it->second;
    std::vector<std::string> names;
    for (auto& [k, v] : job.inputs) names.push_back(k);
    std::string hint = closest(rest, names);
    return bad(names.empty() ? "the job has no inputs" : "no input '" + rest + "'" +
                                                            (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  if (head == "outputs") {
    for (auto& o : job.outputs)
      if (o == rest) return run.dir + "/outputs/" + o;
    std::string hint = closest(rest, job.outputs);
    return bad("no output '" + rest + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  if (head == "run") {
    if (rest == "id") return run.id;
    if (rest == "dir") return run.dir;
    if (rest == "name") return run.name;
    if (rest == "experiment") return run.experiment;
    return bad("the run's values are run.id, run.dir, run.name and run.experiment");
  }
  if (head == "search_space") return bad("search_space values exist only in a sweep's trial");
  return bad("unknown reference (expected inputs.NAME, outputs.NAME or run.id/dir/name/experiment)");
}

Job from_tree(Node tree, const std::string& file, const std::string& dir) {
  validate(tree, job_schema());
  Job job;
  job.file = file;
  const Node* cmd = tree.find("command");
  const Node* type = tree.find("type");
  job.type = type && type->is_scalar() ? type->text : cmd ? "command" : "train";
  static const char* kTrainKeys[] = {"model", "data", "optimizer", "schedule", "epochs", "max_steps", "batch_size",
                                     "accumulate", "clip_grad_norm", "precision", "device", "seed",
                                     "checkpoint_every", "eval_every", "log_every"};
  if (job.type == "command") {
    if (!cmd || text_of(cmd).empty())
      throw JobError(str(tree.origin.str(), ": a command job needs `command:` (or give `model:` and `data:` for the "
                                            "built-in trainer)"));
    for (const char* k : kTrainKeys)
      if (const Node* n = tree.find(k))
        throw JobError(str(n->origin.str(), ": ", k, ": belongs to the built-in trainer (type: train), not a command job"));
  } else {
    if (cmd) throw JobError(str(cmd->origin.str(), ": command: a train job runs the built-in trainer; drop `command` "
                                                   "or set type: command"));
    for (const char* k : {"model", "data"})
      if (!tree.find(k)) throw JobError(str(tree.origin.str(), ": a train job needs `", k, ":`"));
    for (const char* k : {"inputs", "outputs", "code"})
      if (const Node* n = tree.find(k))
        throw JobError(str(n->origin.str(), ": ", k, ": belongs to command jobs, not the built-in trainer"));
    if (const Node* d = tree.find("device")) {
      static const std::regex re(R"(auto|cpu|cuda(:[0-9]+)?)");
      if (!std::regex_match(d->text, re))
        throw JobError(str(d->origin.str(), ": device: expected auto, cpu, cuda or cuda:N, got '", d->text, "'"));
    }
  }
  RunHeader head = read_header(tree);
  job.name = head.name;
  job.experiment = head.experiment;
  job.description = head.description;
  job.tags = head.tags;
  if (const Node* e = tree.find("environment_variables"))
    for (auto& [k, v] : e->map) job.env[k] = v.text;
  job.command = text_of(cmd);
  fs::path code = dir;
  if (const Node* c = tree.find("code")) {
    fs::path p = c->text;
    code = p.is_relative() ? fs::path(dir) / p : p;
    std::error_code ec;
    if (!fs::is_directory(code, ec))
      throw JobError(str(c->origin.str(), ": code: '", c->text, "' is not a folder (", code.string(), ")"));
  }
  job.code_dir = fs::absolute(code).lexically_normal().string();
  if (const Node* in = tree.find("inputs")) {
    for (auto& [k, v] : in->map) {
      if (v.is_scalar() || v.kind == Node::Kind::Null) {
        job.inputs[k] = v.text;
        continue;
      }
      const std::string t = text_of(v.find("type"), v.find("path") ? "uri_folder" : "string");
      if (t == "uri_file" || t == "uri_folder") {
        const Node* p = v.find("path");
        if (!p || p->text.empty())
          throw JobError(str(v.origin.str(), ": inputs.", k, ": a ", t, " input needs `path:`"));
        fs::path path = p->text;
        if (path.is_relative()) path = fs::path(dir) / path;
        std::error_code ec;
        const bool ok = t == "uri_file" ? fs::is_regular_file(path, ec) : fs::is_directory(path, ec);
        if (!ok)
          throw JobError(str(p->origin.str(), ": inputs.", k, ".path: '", p->text, "' is not ",
                             t == "uri_file" ? "a file" : "a folder", " (", path.string(), ")"));
        job.inputs[k] = fs::absolute(path).lexically_normal().string();
      } else {
        const Node* val = v.find("value");
        if (!val) throw JobError(str(v.origin.str(), ": inputs.", k, ": a ", t, " input needs `value:`"));
        if ((t == "integer" && !val->as_int()) || (t == "number" && !val->as_number()) ||
            (t == "boolean" && !val->as_bool()))
          throw JobError(str(val->origin.str(), ": inputs.", k, ".value: expected ", t == "integer" ? "a whole number"
                                                                                    : t == "number" ? "a number"
                                                                                                    : "true or false",
                             ", got ", val->describe()));
        job.inputs[k] = val->text;
      }
    }
  }
  if (const Node* out = tree.find("outputs"))
    for (auto& [k, v] : out->map) {
      for (char c : k)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
          throw JobError(str(out->origin.str(), ": outputs.", k, ": an output name may hold only letters, digits, '_' and '-'"));
      job.outputs.push_back(k);
    }
  if (const Node* l = tree.find("limits"))
    if (const Node* t = l->find("timeout")) job.timeout_s = parse_duration(*t).value_or(0);
  job.compute = text_of(tree.find("compute"), "local");
  if (const Node* r = tree.find("resources")) job.instance_count = int_of(r->find("instance_count"), 1);
  if (const Node* d = tree.find("distribution")) {
    job.distribution = text_of(d->find("type"));
    job.procs_per_instance = int_of(d->find("process_count_per_instance"), 1);
  }
  if (job.compute == "local" && job.instance_count > 1) {
    const Node* r = tree.find("resources");
    throw JobError(str(r->origin.str(), ": resources.instance_count: ", job.instance_count,
                       " machines need compute: slurm (a local run has one machine)"));
  }
  if (const Node* s = tree.find("slurm")) {
    job.slurm_partition = text_of(s->find("partition"));
    job.slurm_time = text_of(s->find("time"));
    job.slurm_account = text_of(s->find("account"));
    if (const Node* e = s->find("extra_args"))
      for (auto& a : e->list) job.slurm_extra.push_back(a.text);
  }
  check_name(job.experiment, tree.find("experiment") ? tree.find("experiment")->origin
                                                      : tree.find("experiment_name") ? tree.find("experiment_name")->origin
                                                                                     : tree.origin);
  job.tree = std::move(tree);
  // every reference must resolve now, not halfway through a run
  resolve(job, {"RUNID", "/RUNDIR", "NAME", job.experiment});
  return job;
}

}  // namespace

// experiment names become folder names
void check_name(const std::string& name, const Origin& where) {
  bool ok = !name.empty() && name.size() <= 100 && name[0] != '.';
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok)
    throw JobError(str(where.str(), ": experiment: '", name,
                       "' must be 1-100 letters, digits, '.', '_' or '-' (not starting with '.')"));
}

RunHeader read_header(const Node& tree) {
  RunHeader h;
  h.name = text_of(tree.find("name"), text_of(tree.find("display_name")));
  h.experiment = text_of(tree.find("experiment"), text_of(tree.find("experiment_name"), "default"));
  h.description = text_of(tree.find("description"));
  if (const Node* t = tree.find("tags"))
    for (auto& e : t->map) h.tags[e.first] = e.second.text;
  return h;
}

Job load_job(const std::string& path, const std::vector<std::string>& sets) {
  std::vector<std::string> chain;
  Node tree = load_with_bases(path, chain, path);
  for (auto& s : sets) apply_set(tree, s);
  const std::string abs = fs::absolute(path).lexically_normal().string();
  return from_tree(std::move(tree), abs, fs::path(abs).parent_path().string());
}

Job load_job_text(const std::string& text, const std::string& origin, const std::string& dir,
                  const std::vector<std::string>& sets) {
  Node tree = parse_yaml(text, origin);
  if (tree.is_map() && tree.find("base"))
    throw JobError(str(tree.find("base")->origin.str(), ": base: only job files on disk may have base files"));
  for (auto& s : sets) apply_set(tree, s);
  return from_tree(std::move(tree), origin, dir);
}

Resolved resolve(const Job& job, const RunValues& run) {
  Resolved r;
  r.tree = job.tree;
  r.tree.erase("base");
  for_each_string(r.tree, "", [&](Node& n, const std::string& path) {
    if (n.text.find("${{") == std::string::npos) return;
    n.text = substitute(n.text, [&](const std::string& ref) { return lookup(job, run, ref, n, path); });
  });
  if (const Node* c = r.tree.find("command")) r.command = c->text;
  if (const Node* e = r.tree.find("environment_variables"))
    for (auto& [k, v] : e->map) r.env[k] = v.text;
  return r;
}

}  // namespace anneal::jobs
