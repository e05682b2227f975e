#include "tools/anneal/pipeline_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/read_file.h"
#include "jobs/pipeline.h"
#include "tools/anneal/attach_process.h"
#include "tools/anneal/resolve_id.h"
#include "tracking/liveness.h"
#include "tracking/registry.h"
#include "tracking/run_folder.h"

namespace anneal::tools {
namespace fs = std::filesystem;
using namespace anneal::tracking;
using nlohmann::json;

namespace {

volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

struct StepState {
  std::string status = "waiting";  // waiting, running, completed, failed, canceled, skipped
  std::string run_id, reused_from, error;
  std::map<std::string, std::string> outputs;  // name -> folder
  pid_t supervisor = 0;
};

void save(const RunRecord& run, const jobs::Pipeline& p, const std::map<std::string, StepState>& steps) {
  json j = json::object();
  j["pipeline"] = run.id;
  j["steps"] = json::array();
  for (auto& st : p.steps) {
    const StepState& s = steps.at(st.name);
    j["steps"].push_back({{"name", st.name}, {"deps", st.deps}, {"status", s.status}, {"run_id", s.run_id},
                          {"reused_from", s.reused_from}, {"error", s.error}, {"outputs", s.outputs}});
  }
  const std::string text = j.dump(1) + "\n";
  write_file_atomically(run.folder + "/pipeline.json", [&](std::ostream& os) { os << text; }, "anneal pipeline");
}

// A completed run of a step with this key whose outputs are still there.
std::optional<RunRecord> cached(Registry& registry, const std::string& key, const std::string& experiment) {
  for (auto& r : registry.list_runs(experiment, kCompleted)) {
    auto it = r.tags.find("pipeline.cache_key");
    if (it == r.tags.end() || it->second != key || r.tags.count("pipeline.reused_from")) continue;
    std::error_code ec;
    if (fs::is_directory(r.folder + "/outputs", ec)) return r;
  }
  return std::nullopt;
}

}  // namespace

int pipeline_run(const std::string& file, const std::vector<std::string>& sets, bool force_rerun,
                 const RegistryArgs& reg) {
  jobs::Pipeline p;
  try {
    p = jobs::load_pipeline(file, sets);
  } catch (const std::exception& e) {
    std::cerr << "anneal pipeline: " << e.what() << std::endl;
    return 2;
  }
  force_rerun = force_rerun || p.force_rerun;
  auto registry = Registry::open(reg.uri());
  RunRecord run;
  run.id = new_run_id();
  run.experiment = p.experiment;
  check_name(run.experiment, "the experiment name");
  run.name = p.name.empty() ? run.id : p.name;
  run.kind = "pipeline";
  run.status = kRunning;
  run.host = this_host();
  run.pid = getpid();
  run.created = run.started = run.heartbeat = now_seconds();
  run.tags = p.tags;
  run.command = "anneal pipeline run " + p.file;
  RunFolder folder = make_run_folder(reg.root(), run.experiment, run.id);
  run.folder = folder.dir;
  write_file_atomically(folder.file("pipeline.yaml"), [&](std::ostream& os) { os << read_whole_file(file, "pipeline"); },
                        "anneal pipeline");
  write_run_json(folder, run);
  registry->create_run(run);
  std::cout << "anneal: pipeline " << run.id << " (experiment " << run.experiment << "), " << p.steps.size()
            << " steps; records in " << folder.dir << std::endl;
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::map<std::string, StepState> steps;
  for (auto& st : p.steps) steps[st.name];
  const int64_t limit = p.max_concurrent_steps > 0 ? p.max_concurrent_steps
                                                   : std::max(1u, std::thread::hardware_concurrency());
  const std::vector<std::string> skip = {fs::weakly_canonical(reg.root()).string(), reg.root()};
  bool stopping = false;
  double last_beat = 0;
  auto outputs_so_far = [&] {
    std::map<std::string, std::map<std::string, std::string>> out;
    for (auto& [name, s] : steps)
      if (s.status == kCompleted) out[name] = s.outputs;
    return out;
  };
  auto fail_downstream = [&](const std::string& name) {
    for (auto& d : jobs::descendants(p, name))
      if (steps[d].status == "waiting") {
        steps[d].status = "skipped";
        steps[d].error = "upstream step '" + name + "' did not complete";
      }
  };
  for (;;) {
    // finished steps
    for (auto& st : p.steps) {
      StepState& s = steps[st.name];
      if (s.status != "running") continue;
      if (s.supervisor > 0) {
        int ws = 0;
        if (::waitpid(s.supervisor, &ws, WNOHANG) == s.supervisor) s.supervisor = 0;
      }
      auto r = registry->get_run(s.run_id);
      if (!r || !is_terminal_status(r->status)) {
        if (r && s.supervisor == 0 && !why_not_alive(*r, now_seconds()).empty()) reap_stale_runs(*registry, p.experiment);
        continue;
      }
      s.status = r->status;
      s.error = r->error;
      std::cout << "anneal pipeline: step " << st.name << " " << s.status << " (" << s.run_id << ")"
                << (s.error.empty() ? "" : ": " + s.error) << std::endl;
      if (s.status != kCompleted) {
        fail_downstream(st.name);
        if (!p.continue_on_step_failure) stopping = true;
      }
      save(run, p, steps);
    }
    if (g_stop) stopping = true;
    if (stopping)
      for (auto& [name, s] : steps) {
        if (s.status == "waiting") {
          s.status = "skipped";
          s.error = g_stop ? "the pipeline was stopped" : "another step failed";
        } else if (s.status == "running" && g_stop) {
          RunUpdate u;
          u.cancel_requested = true;
          registry->update_run(s.run_id, u);
          if (s.supervisor > 0) ::kill(s.supervisor, SIGTERM);
        }
      }
    // ready steps, in order
    int64_t running = 0;
    for (auto& [name, s] : steps) running += s.status == "running";
    for (auto& st : p.steps) {
      StepState& s = steps[st.name];
      if (s.status != "waiting" || running >= limit) continue;
      bool ready = true;
      for (auto& d : st.deps) ready = ready && steps[d].status == kCompleted;
      if (!ready) continue;
      jobs::StepPlan plan;
      try {
        plan = jobs::plan_step(p, st, outputs_so_far(), skip);
      } catch (const std::exception& e) {
        s.status = kFailed;
        s.error = e.what();
        std::cout << "anneal pipeline: step " << st.name << " failed: " << s.error << std::endl;
        fail_downstream(st.name);
        if (!p.continue_on_step_failure) stopping = true;
        continue;
      }
      RecordOptions o;
      o.name = (p.name.empty() ? run.id : p.name) + "." + st.name;
      o.experiment = p.experiment;
      o.parent = run.id;
      o.tags = {{"pipeline", run.id}, {"pipeline.step", st.name}, {"pipeline.cache_key", plan.key}};
      std::optional<RunRecord> prior;
      if (!force_rerun && st.deterministic) prior = cached(*registry, plan.key, p.experiment);
      if (prior) o.tags["pipeline.reused_from"] = prior->id;
      RunRecord step_run = record_run(plan.job, plan.text, reg, o);
      s.run_id = step_run.id;
      for (auto& out : plan.job.outputs) s.outputs[out] = step_run.folder + "/outputs/" + out;
      if (prior) {
        // the earlier run's outputs stand for this step's
        s.reused_from = prior->id;
        for (auto& out : plan.job.outputs) s.outputs[out] = prior->folder + "/outputs/" + out;
        RunUpdate u;
        u.status = kCompleted;
        u.started = u.ended = now_seconds();
        u.exit_code = 0;
        registry->update_run(step_run.id, u);
        s.status = kCompleted;
        std::cout << "anneal pipeline: step " << st.name << " reused from run " << prior->id << std::endl;
        save(run, p, steps);
        continue;
      }
      s.supervisor = spawn_attach(step_run.id, reg);
      s.status = "running";
      ++running;
      std::cout << "anneal pipeline: step " << st.name << " started (" << step_run.id << ")" << std::endl;
      save(run, p, steps);
    }
    bool active = false;
    for (auto& [name, s] : steps) active = active || s.status == "running" || (s.status == "waiting" && !stopping);
    if (!active) break;
    const double now = now_seconds();
    if (now - last_beat > 2) {
      last_beat = now;
      RunUpdate u;
      u.heartbeat = now;
      registry->update_run(run.id, u);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  // anything never reached (a step waiting on one that could not run)
  for (auto& [name, s] : steps)
    if (s.status == "waiting") s.status = "skipped";
  save(run, p, steps);
  int completed = 0, reused = 0, failed = 0;
  for (auto& [name, s] : steps) {
    completed += s.status == kCompleted;
    reused += !s.reused_from.empty();
    failed += s.status == kFailed || s.status == kCanceled;
  }
  const bool ok = completed == int(steps.size());
  RunUpdate u;
  u.status = ok ? kCompleted : g_stop ? kCanceled : kFailed;
  u.ended = now_seconds();
  u.exit_code = ok ? 0 : 1;
  if (!ok) u.error = str(failed, " step(s) failed, ", int(steps.size()) - completed - failed, " not run");
  registry->update_run(run.id, u);
  registry->log_batch(run.id, {}, {}, {{"steps", std::to_string(steps.size())}, {"reused", std::to_string(reused)}});
  RunRecord rec = read_run_json(folder.dir);
  rec.status = *u.status;
  rec.ended = *u.ended;
  rec.exit_code = *u.exit_code;
  rec.error = u.error.value_or("");
  write_run_json(folder, rec);
  std::cout << "anneal pipeline: " << run.id << " " << *u.status << ": " << completed << " of " << steps.size()
            << " steps completed (" << reused << " reused)" << std::endl;
  return ok ? 0 : 1;
}

int pipeline_show(const std::string& text, const RegistryArgs& reg, bool as_json) {
  auto registry = Registry::open(reg.uri());
  reap_stale_runs(*registry);
  const std::string id = resolve_run_id(*registry, text);
  RunRecord run = *registry->get_run(id);
  if (run.kind != "pipeline") {
    std::cerr << "anneal pipeline show: run " << id << " is not a pipeline" << std::endl;
    return 2;
  }
  json j = json::parse(read_whole_file(run.folder + "/pipeline.json", "pipeline", 16 << 20));
  j["status"] = run.status;
  if (as_json) {
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::cout << "pipeline " << id << " " << run.status << "\n";
  for (auto& s : j["steps"]) {
    std::string deps;
    for (auto& d : s["deps"]) deps += (deps.empty() ? "" : ", ") + d.get<std::string>();
    std::cout << "  " << s["name"].get<std::string>() << "  " << s["status"].get<std::string>() << "  "
              << s["run_id"].get<std::string>()
              << (s["reused_from"].get<std::string>().empty() ? "" : "  reused from run " + s["reused_from"].get<std::string>())
              << (deps.empty() ? "" : "  after " + deps)
              << (s["error"].get<std::string>().empty() ? "" : "  (" + s["error"].get<std::string>() + ")") << "\n";
  }
  return 0;
}

}  // namespace anneal::tools
