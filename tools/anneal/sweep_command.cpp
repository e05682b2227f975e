#include "tools/anneal/sweep_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/read_file.h"
#include "jobs/sweep.h"
#include "jobs/tpe.h"
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

struct Trial {
  int64_t index = 0;
  std::string run_id;
  std::map<std::string, std::string> values;
  std::string status = kQueued;
  std::string termination;  // the policy's reason when it canceled the trial
  pid_t supervisor = 0;     // our child, or 0 (adopted after a resume: watched through the registry)
  std::vector<double> curve;
  size_t checked = 0;       // intervals the policy has looked at
  bool restarted = false;   // started again by a resumed sweep
  int64_t started_pid = 0;  // the supervisor it was given (kept in sweep.json)
  std::string slurm_job;    // its sbatch job (compute: slurm)
};

struct State {
  std::string sweep_id;
  std::string dir;  // the sweep file's folder: where its trials' relative paths start
  std::vector<std::string> sets;
  int64_t next_index = 0;
  std::vector<Trial> trials;
};

json to_json(const State& s) {
  json t = json::array();
  for (auto& x : s.trials)
    t.push_back({{"index", x.index}, {"run_id", x.run_id}, {"values", x.values}, {"status", x.status},
                 {"termination", x.termination}, {"pid", x.started_pid}, {"slurm_job", x.slurm_job}});
  return {{"sweep", s.sweep_id}, {"dir", s.dir}, {"sets", s.sets}, {"next_index", s.next_index}, {"trials", t}};
}

State from_json(const json& j) {
  State s;
  s.sweep_id = j.at("sweep");
  s.sets = j.at("sets").get<std::vector<std::string>>();
  s.dir = j.value("dir", "");
  s.next_index = j.at("next_index");
  for (auto& t : j.at("trials")) {
    Trial x;
    x.index = t.at("index");
    x.run_id = t.at("run_id");
    x.values = t.at("values").get<std::map<std::string, std::string>>();
    x.status = t.at("status");
    x.termination = t.value("termination", "");
    x.started_pid = t.value("pid", int64_t(0));
    x.slurm_job = t.value("slurm_job", "");
    if (!x.slurm_job.empty()) x.restarted = true;
    s.trials.push_back(std::move(x));
  }
  return s;
}

void save_state(const std::string& dir, const State& s) {
  const std::string text = to_json(s).dump(1) + "\n";
  write_file_atomically(dir + "/sweep.json", [&](std::ostream& os) { os << text; }, "anneal sweep");
}

std::string fmt(double v) {
  if (std::isnan(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

// Whether SLURM still has the job pending or running (squeue).
bool slurm_job_queued(const std::string& job) {
  FILE* p = ::popen(("squeue -h -j " + job + " -o %T 2>/dev/null").c_str(), "r");
  if (!p) return true;  // cannot tell: assume it is
  char buf[256];
  std::string out;
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int rc = ::pclose(p);
  if (rc != 0) return out.empty() ? false : true;
  return out.find_first_not_of(" \n") != std::string::npos;
}

class SweepRunner {
 public:
  SweepRunner(jobs::Sweep sw, State st, RunRecord sweep_run, RegistryArgs reg)
      : sw_(std::move(sw)), st_(std::move(st)), run_(std::move(sweep_run)), reg_(std::move(reg)) {}

  int run() {
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    auto registry = Registry::open(reg_.uri());
    {
      RunUpdate u;
      u.status = kRunning;
      u.pid = getpid();
      u.host = this_host();
      u.heartbeat = now_seconds();
      if (run_.started <= 0) u.started = *u.heartbeat;
      u.clear_exit = true;
      u.cancel_requested = false;
      registry->update_run(run_.id, u);
    }
    const double t0 = now_seconds();
    double last_beat = 0;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    threads_per_trial_ = std::max<int64_t>(1, int64_t(cores) / sw_.max_concurrent);
    std::string stop_reason;
    for (;;) {
      reap_children();
      refresh(*registry);
      apply_policy(*registry);
      const int64_t running = count_active(), failed = count(kFailed);
      const double now = now_seconds();
      if (stop_reason.empty()) {
        if (g_stop) stop_reason = "canceled";
        else if (sw_.timeout_s > 0 && now - t0 > sw_.timeout_s) stop_reason = str("timed out after ", sw_.timeout_s, " s");
        else if (sw_.max_failed > 0 && failed >= sw_.max_failed) stop_reason = str(failed, " trials failed (max_failed_trials)");
        if (now - last_beat > 2) {
          last_beat = now;
          RunUpdate u;
          u.heartbeat = now;
          registry->update_run(run_.id, u);
          auto me = registry->get_run(run_.id);
          if (me && me->cancel_requested) stop_reason = "canceled (anneal sweep cancel)";
        }
        if (!stop_reason.empty()) cancel_all(*registry, stop_reason);
      }
      const bool more = stop_reason.empty() && st_.next_index < sw_.max_total;
      if (more && running < sw_.max_concurrent) {
        launch(*registry);
        continue;
      }
      if (!more && running == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return finish(*registry, stop_reason);
  }

 private:
  void launch(Registry& registry) {
    Trial t;
    t.index = st_.next_index;
    std::vector<jobs::Observation> history;
    if (sw_.sampler == "bayesian")
      for (auto& x : st_.trials) {
        if (!is_terminal_status(x.status)) continue;
        auto r = registry.get_run(x.run_id);
        const double v = r ? objective(*r) : std::nan("");
        if (std::isfinite(v)) history.push_back({{x.values}, v});
      }
    const jobs::Sample sample = jobs::sweep_sample(sw_, t.index, history);
    t.values = sample.values;
    std::string text;
    jobs::Job job = jobs::trial_job(sw_, sample, &text);
    RecordOptions o;
    o.name = (sw_.name.empty() ? run_.id : sw_.name) + "-trial-" + std::to_string(t.index);
    o.experiment = sw_.experiment;
    o.parent = run_.id;
    o.tags = {{"sweep", run_.id}, {"trial", std::to_string(t.index)}};
    for (auto& [k, v] : sample.values) o.params["search_space." + k] = v;
    RunRecord r = record_run(job, text, reg_, o);
    t.run_id = r.id;
    t.status = kQueued;
    st_.trials.push_back(t);
    ++st_.next_index;
    save_state(run_.folder, st_);  // recorded before it starts: a crash now does not lose it
    if (job.compute == "slurm") {
      // the trial's supervisor runs on the node SLURM gives it; the registry says how it goes
      const std::string slurm_id = submit_to_slurm(job, r, reg_, registry, true);
      st_.trials.back().slurm_job = slurm_id;
      st_.trials.back().restarted = true;  // never started again from here
      if (slurm_id.empty()) st_.trials.back().status = kFailed;
    } else {
      st_.trials.back().supervisor = spawn(r.id);
      st_.trials.back().started_pid = st_.trials.back().supervisor;
    }
    save_state(run_.folder, st_);
    std::cout << "anneal sweep: trial " << t.index << " " << r.id << " " << [&] {
      std::string o;
      for (auto& [k, v] : t.values) o += (o.empty() ? "" : ", ") + k + "=" + v;
      return o;
    }() << std::endl;
  }

  pid_t spawn(const std::string& id) {
    // each trial its share of the cores, so concurrent trials do not fight over them
    const std::string n = std::to_string(threads_per_trial_);
    return spawn_attach(id, reg_, {{"ANNEAL_NUM_THREADS", n}, {"OMP_NUM_THREADS", n}});
  }

  void reap_children() {
    for (auto& t : st_.trials)
      if (t.supervisor > 0) {
        int status = 0;
        if (::waitpid(t.supervisor, &status, WNOHANG) == t.supervisor) t.supervisor = 0;
      }
  }

  void refresh(Registry& registry) {
    bool changed = false;
    for (auto& t : st_.trials) {
      if (is_terminal_status(t.status)) continue;
      auto r = registry.get_run(t.run_id);
      if (!r) continue;
      // recorded, but the sweep died before starting it: start it now
      // a SLURM trial still queued whose job is no longer in the queue ended before it started
      if (!t.slurm_job.empty() && r->status == kQueued && now_seconds() - r->created > 5 &&
          !slurm_job_queued(t.slurm_job)) {
        RunUpdate u;
        u.status = kFailed;
        u.error = "its SLURM job " + t.slurm_job + " left the queue without starting it";
        u.ended = now_seconds();
        registry.update_run(t.run_id, u);
        r = registry.get_run(t.run_id);
      }
      // (a supervisor the dead sweep started may still be on its way to running)
      if (t.slurm_job.empty() && t.supervisor == 0 && r->status == kQueued && r->pid <= 0 &&
          !process_alive(t.started_pid)) {
        if (!t.restarted) {
          t.restarted = true;
          t.supervisor = spawn(t.run_id);
          t.started_pid = t.supervisor;
          save_state(run_.folder, st_);
          continue;
        }
        RunUpdate u;  // started twice and never reached running: give up on it
        u.status = kFailed;
        u.error = "its supervisor (anneal _attach) did not start";
        u.ended = now_seconds();
        registry.update_run(t.run_id, u);
        r = registry.get_run(t.run_id);
      }
      if (t.supervisor == 0 && !is_terminal_status(r->status) && !why_not_alive(*r, now_seconds()).empty()) {
        reap_stale_runs(registry, sw_.experiment);
        r = registry.get_run(t.run_id);
      }
      if (r->status != t.status) {
        t.status = r->status;
        changed = true;
        if (is_terminal_status(t.status)) report(registry, t, *r);
      }
    }
    if (changed) save_state(run_.folder, st_);
  }

  double objective(const RunRecord& r) const {
    auto it = r.metrics.find(sw_.metric);
    if (it == r.metrics.end()) return std::nan("");
    return sw_.goal == "maximize" ? it->second.max : it->second.min;
  }

  void report(Registry& registry, const Trial& t, const RunRecord& r) {
    std::cout << "anneal sweep: trial " << t.index << " " << t.run_id << " " << t.status << " " << sw_.metric << " "
              << fmt(objective(r)) << (t.termination.empty() ? "" : " (" + t.termination + ")") << std::endl;
    // the sweep's own curve: the best objective after each finished trial
    double best = std::nan("");
    int64_t finished = 0;
    for (auto& x : st_.trials) {
      if (!is_terminal_status(x.status)) continue;
      ++finished;
      auto rr = registry.get_run(x.run_id);
      const double v = rr ? objective(*rr) : std::nan("");
      if (std::isfinite(v) && (std::isnan(best) || (sw_.goal == "maximize" ? v > best : v < best))) best = v;
    }
    if (std::isfinite(best))
      registry.log_batch(run_.id, {{"best_" + sw_.metric, best, finished, now_seconds()}});
  }

  void apply_policy(Registry& registry) {
    if (sw_.policy.type.empty()) return;
    std::vector<jobs::TrialCurve> curves;
    for (auto& t : st_.trials) {
      if (t.status == kQueued && t.curve.empty()) {
        curves.push_back({t.run_id, {}, false, t.index});
        continue;
      }
      if (!is_terminal_status(t.status) || t.curve.empty()) {
        auto h = registry.metric_history(t.run_id, {sw_.metric});
        t.curve.clear();
        for (auto& p : h[sw_.metric]) t.curve.push_back(p.value);
      }
      curves.push_back({t.run_id, t.curve, t.status == kCompleted, t.index});
    }
    for (size_t i = 0; i < st_.trials.size(); ++i) {
      Trial& t = st_.trials[i];
      if (is_terminal_status(t.status) || !t.termination.empty()) continue;
      while (t.checked < t.curve.size()) {
        const int64_t k = static_cast<int64_t>(++t.checked);
        const std::string why = jobs::should_cancel(sw_.policy, sw_.goal == "maximize", curves, i, k);
        if (why.empty()) continue;
        t.termination = why;
        cancel(registry, t, "early termination: " + why);
        save_state(run_.folder, st_);
        break;
      }
    }
  }

  void cancel(Registry& registry, const Trial& t, const std::string& why) {
    RunUpdate u;
    u.cancel_requested = true;
    registry.update_run(t.run_id, u);
    registry.log_batch(t.run_id, {}, {}, {{"early_termination", why}});
    auto r = registry.get_run(t.run_id);
    if (r && r->pid > 0 && r->host == this_host() && process_alive(r->pid)) ::kill(pid_t(r->pid), SIGTERM);
    else if (t.supervisor > 0) ::kill(t.supervisor, SIGTERM);
    if (!t.slurm_job.empty() && r && r->status == kQueued) {
      // not started yet: out of the queue, and the run ends here
      std::system(("scancel " + t.slurm_job + " >/dev/null 2>&1").c_str());
      RunUpdate q;
      q.status = kCanceled;
      q.error = why;
      q.ended = now_seconds();
      registry.update_run(t.run_id, q);
    }
  }

  void cancel_all(Registry& registry, const std::string& why) {
    for (auto& t : st_.trials)
      if (!is_terminal_status(t.status)) cancel(registry, t, "the sweep stopped: " + why);
  }

  int64_t count_active() const {
    int64_t n = 0;
    for (auto& t : st_.trials) n += !is_terminal_status(t.status);
    return n;
  }
  int64_t count(const char* status) const {
    int64_t n = 0;
    for (auto& t : st_.trials) n += t.status == status;
    return n;
  }

  int finish(Registry& registry, const std::string& stop_reason) {
    // the best trial, its values and the command that reruns it
    const Trial* best = nullptr;
    double best_v = std::nan("");
    for (auto& t : st_.trials) {
      auto r = registry.get_run(t.run_id);
      const double v = r ? objective(*r) : std::nan("");
      if (std::isfinite(v) && (std::isnan(best_v) || (sw_.goal == "maximize" ? v > best_v : v < best_v))) {
        best_v = v;
        best = &t;
      }
    }
    RunUpdate u;
    u.status = stop_reason.empty() ? kCompleted : kCanceled;
    u.ended = now_seconds();
    u.exit_code = stop_reason.empty() ? 0 : 1;
    if (!stop_reason.empty()) u.error = stop_reason;
    registry.update_run(run_.id, u);
    std::map<std::string, std::string> tags = {
        {"trials", std::to_string(st_.trials.size())},
        {"completed", std::to_string(count(kCompleted))},
        {"canceled", std::to_string(count(kCanceled))},
        {"failed", std::to_string(count(kFailed))}};
    std::cout << "anneal sweep: " << run_.id << " " << *u.status << ": " << st_.trials.size() << " trials ("
              << count(kCompleted) << " completed, " << count(kCanceled) << " canceled, " << count(kFailed)
              << " failed)" << (stop_reason.empty() ? "" : "; " + stop_reason) << std::endl;
    if (best) {
      std::string values;
      for (auto& [k, v] : best->values) values += (values.empty() ? "" : ", ") + k + "=" + v;
      auto r = registry.get_run(best->run_id);
      const std::string rerun = "anneal run " + r->folder + "/job.yaml --experiment " + sw_.experiment;
      tags["best_trial"] = best->run_id;
      tags["best_values"] = values;
      tags["rerun"] = rerun;
      std::cout << "best trial: " << best->index << " " << best->run_id << " " << sw_.metric << " " << fmt(best_v)
                << " with " << values << "\nrerun it: " << rerun << std::endl;
    }
    registry.log_batch(run_.id, {}, {}, tags);
    RunRecord rec = read_run_json(run_.folder);
    rec.status = *u.status;
    rec.ended = *u.ended;
    rec.exit_code = *u.exit_code;
    rec.error = stop_reason;
    write_run_json(RunFolder{run_.folder}, rec);
    return stop_reason.empty() ? 0 : 1;
  }

  jobs::Sweep sw_;
  State st_;
  RunRecord run_;
  RegistryArgs reg_;
  int64_t threads_per_trial_ = 1;
};

}  // namespace

int sweep_run(const std::string& file, const std::vector<std::string>& sets, const RegistryArgs& reg) {
  jobs::Sweep sw;
  try {
    sw = jobs::load_sweep(file, sets);
  } catch (const std::exception& e) {
    std::cerr << "anneal sweep: " << e.what() << std::endl;
    return 2;
  }
  auto registry = Registry::open(reg.uri());
  RunRecord run;
  run.id = new_run_id();
  run.experiment = sw.experiment;
  check_name(run.experiment, "the experiment name");
  run.name = sw.name.empty() ? run.id : sw.name;
  run.kind = "sweep";
  run.status = kQueued;
  run.host = this_host();
  run.created = now_seconds();
  run.tags = sw.tags;
  run.tags["objective"] = sw.metric + " (" + sw.goal + ")";
  run.tags["sampler"] = sw.sampler;
  if (!sw.policy.type.empty()) run.tags["early_termination"] = sw.policy.type;
  RunFolder folder = make_run_folder(reg.root(), run.experiment, run.id);
  run.folder = folder.dir;
  run.command = "anneal sweep " + sw.file;
  write_file_atomically(folder.file("sweep.yaml"), [&](std::ostream& os) { os << read_whole_file(file, "sweep"); },
                        "anneal sweep");
  write_run_json(folder, run);
  registry->create_run(run);
  State st;
  st.sweep_id = run.id;
  st.sets = sets;
  st.dir = sw.dir;
  save_state(folder.dir, st);
  std::cout << "anneal: sweep " << run.id << " (experiment " << run.experiment << "), " << sw.max_total
            << " trials, " << sw.max_concurrent << " at once; records in " << folder.dir << std::endl;
  registry.reset();
  return SweepRunner(std::move(sw), std::move(st), run, reg).run();
}

int sweep_resume(const std::string& text, const RegistryArgs& reg) {
  auto registry = Registry::open(reg.uri());
  reap_stale_runs(*registry);
  const std::string id = resolve_run_id(*registry, text);
  RunRecord run = *registry->get_run(id);
  if (run.kind != "sweep") {
    std::cerr << "anneal sweep resume: run " << id << " is not a sweep (use `anneal resume`)" << std::endl;
    return 2;
  }
  if (run.status == kRunning) {
    std::cerr << "anneal sweep resume: sweep " << id << " is running (pid " << run.pid << ")" << std::endl;
    return 2;
  }
  if (run.status == kCompleted) {
    std::cerr << "anneal sweep resume: sweep " << id << " has completed" << std::endl;
    return 2;
  }
  State st = from_json(json::parse(read_whole_file(run.folder + "/sweep.json", "sweep", 64 << 20)));
  jobs::Sweep sw = jobs::load_sweep(run.folder + "/sweep.yaml", st.sets, st.dir);
  // trials whose runs outlived the sweep go on being watched; the rest keep their results
  for (auto& t : st.trials) {
    auto r = registry->get_run(t.run_id);
    if (r) t.status = r->status;
  }
  std::cout << "anneal: resuming sweep " << id << " at trial " << st.next_index << " of " << sw.max_total << std::endl;
  registry.reset();
  return SweepRunner(std::move(sw), std::move(st), run, reg).run();
}

int sweep_show(const std::string& text, const RegistryArgs& reg, bool as_json) {
  auto registry = Registry::open(reg.uri());
  reap_stale_runs(*registry);
  const std::string id = resolve_run_id(*registry, text);
  RunRecord run = *registry->get_run(id);
  if (run.kind != "sweep") {
    std::cerr << "anneal sweep show: run " << id << " is not a sweep" << std::endl;
    return 2;
  }
  State st = from_json(json::parse(read_whole_file(run.folder + "/sweep.json", "sweep", 64 << 20)));
  jobs::Sweep sw = jobs::load_sweep(run.folder + "/sweep.yaml", st.sets, st.dir);
  json trials = json::array();
  for (auto& t : st.trials) {
    auto r = registry->get_run(t.run_id);
    json j = {{"index", t.index}, {"run_id", t.run_id}, {"values", t.values}};
    j["status"] = r ? r->status : t.status;
    auto it = r ? r->metrics.find(sw.metric) : decltype(r->metrics.end()){};
    const bool has = r && it != r->metrics.end();
    j["objective"] = has ? json(sw.goal == "maximize" ? it->second.max : it->second.min) : json(nullptr);
    j["intervals"] = has ? it->second.count : 0;
    j["termination"] = r && r->tags.count("early_termination") ? r->tags.at("early_termination") : "";
    trials.push_back(j);
  }
  if (as_json) {
    std::cout << json({{"sweep", id}, {"status", run.status}, {"metric", sw.metric}, {"goal", sw.goal},
                       {"trials", trials}, {"tags", run.tags}})
                     .dump(2)
              << std::endl;
    return 0;
  }
  std::cout << "sweep " << id << " " << run.status << ", " << sw.metric << " (" << sw.goal << ")\n";
  for (auto& t : trials) {
    std::string values;
    for (auto& [k, v] : t["values"].items()) values += (values.empty() ? "" : ", ") + k + "=" + v.get<std::string>();
    std::cout << "  " << t["index"] << "  " << t["run_id"].get<std::string>() << "  " << t["status"].get<std::string>()
              << "  " << (t["objective"].is_null() ? "-" : fmt(t["objective"].get<double>())) << "  " << values
              << (t["termination"].get<std::string>().empty() ? "" : "  [" + t["termination"].get<std::string>() + "]")
              << "\n";
  }
  if (run.tags.count("best_trial"))
    std::cout << "best: " << run.tags.at("best_trial") << " (" << run.tags.at("best_values") << ")\nrerun it: "
              << run.tags.at("rerun") << "\n";
  return 0;
}

int sweep_cancel(const std::string& text, const RegistryArgs& reg) {
  auto registry = Registry::open(reg.uri());
  const std::string id = resolve_run_id(*registry, text);
  RunRecord run = *registry->get_run(id);
  if (is_terminal_status(run.status)) {
    std::cout << "sweep " << id << " has already ended (" << run.status << ")\n";
    return 0;
  }
  RunUpdate u;
  u.cancel_requested = true;
  registry->update_run(id, u);
  if (run.host == this_host() && run.pid > 0 && process_alive(run.pid)) ::kill(pid_t(run.pid), SIGTERM);
  for (int i = 0; i < 300; ++i) {
    auto r = registry->get_run(id);
    if (r && is_terminal_status(r->status)) {
      std::cout << "sweep " << id << " " << r->status << "\n";
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << "sweep " << id << ": cancel requested\n";
  return 0;
}

}  // namespace anneal::tools
