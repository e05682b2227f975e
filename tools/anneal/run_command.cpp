#include "tools/anneal/run_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/read_file.h"
#include "distributed/init.h"
#include "distributed/process_group_gloo.h"
#include "jobs/job.h"
#include "runtime/device.h"
#include "train/checkpoint.h"
#include "jobs/supervisor.h"
#include "tools/anneal/attach_process.h"
#include "tools/anneal/resolve_id.h"
#include "tracking/liveness.h"
#include "tracking/registry.h"
#include "tracking/run_folder.h"
#include "tracking/sql.h"

extern char** environ;

namespace anneal::tools {
namespace fs = std::filesystem;
using namespace anneal::tracking;

std::string RegistryArgs::root() const {
  return runs_dir.empty() ? default_runs_root() : fs::absolute(runs_dir).lexically_normal().string();
}
std::string RegistryArgs::uri() const { return tracking_uri.empty() ? default_tracking_uri(root()) : tracking_uri; }

namespace {


// The built-in trainer's program: beside this one (build tree and install alike).
std::string trainer_exe() {
  if (const char* env = std::getenv("ANNEAL_TRAIN_PROGRAM"); env && *env) return env;
  return (fs::path(self_exe()).parent_path() / "anneal-train").string();
}

std::string capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

nlohmann::json environment_record(const jobs::Job& job) {
  nlohmann::json e;
  e["anneal"] = {{"version", ANNEAL_VERSION},
                 {"program", self_exe()},
                 {"build", {{"gloo", distributed::gloo_is_available()},
                            {"postgresql_registry", tracking::postgres_available()},
                            {"checkpoints", train::checkpoints_available()},
                            {"cuda_device_available", cuda_is_available()},
                            {"nccl_available", distributed::nccl_is_available()}}}};
  e["compiler"] = __VERSION__;
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0) {
      e["cpu"] = line.substr(line.find(':') + 2);
      break;
    }
  e["threads"] = std::thread::hardware_concurrency();
  e["host"] = this_host();
  const std::string code = shell_quote(job.code_dir);
  const std::string commit = capture("git -C " + code + " rev-parse HEAD 2>/dev/null");
  if (!commit.empty()) {
    e["git"] = {{"commit", commit},
                {"dirty", !capture("git -C " + code + " status --porcelain --untracked-files=no 2>/dev/null").empty()},
                {"folder", capture("git -C " + code + " rev-parse --show-toplevel 2>/dev/null")}};
  }
  if (::access("/usr/bin/nvidia-smi", X_OK) == 0) {
    const std::string gpus = capture("nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null");
    if (!gpus.empty()) e["gpus"] = gpus;
  }
  nlohmann::json vars = nlohmann::json::object();
  for (char** v = environ; *v; ++v) {
    std::string kv = *v;
    const std::string k = kv.substr(0, kv.find('='));
    for (const char* p : {"ANNEAL_", "OMP_", "CUDA_", "NCCL_", "GLOO_", "SLURM_", "MASTER_", "OPENBLAS_", "MKL_"})
      if (k.rfind(p, 0) == 0) vars[k] = kv.substr(k.size() + 1);
    if (k == "WORLD_SIZE" || k == "RANK" || k == "LOCAL_RANK" || k == "PATH" || k == "LD_LIBRARY_PATH" ||
        k == "PYTHONPATH")
      vars[k] = kv.substr(k.size() + 1);
  }
  e["environment_variables"] = vars;
  e["job_environment_variables"] = job.env;
  return e;
}

void write_text(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& os) { os << text; }, "anneal run");
}

// The program a recorded run runs, from its resolved.yaml.
jobs::ProgramPlan plan_for(const RunFolder& folder, const RunRecord& run, const std::string& uri, bool echo) {
  const jobs::Job job = jobs::load_job(folder.file("resolved.yaml"));
  jobs::ProgramPlan plan;
  plan.echo = echo;
  plan.timeout_s = job.timeout_s;
  plan.outputs = job.outputs;
  std::vector<std::string> program;
  if (job.type == "train") {
    program = {trainer_exe(), folder.dir};
    plan.cwd = fs::path(job.file).parent_path().string();
  } else {
    program = {"/bin/sh", "-c", job.command};
    plan.cwd = job.code_dir;
  }
  if (job.distribution == "pytorch" && (job.procs_per_instance > 1 || job.instance_count > 1)) {
    std::vector<std::string> p = {self_exe(), "launch", "--nproc-per-node", std::to_string(job.procs_per_instance)};
    if (job.instance_count > 1) {
      // one `anneal launch` per node under SLURM (srun), node 0 hosting the store
      p = {"srun", "--ntasks-per-node=1", "--kill-on-bad-exit=1", self_exe(), "launch", "--nproc-per-node",
           std::to_string(job.procs_per_instance), "--nnodes", std::to_string(job.instance_count)};
    }
    p.push_back("--");
    p.insert(p.end(), program.begin(), program.end());
    program = p;
  } else if (job.distribution == "mpi" && job.procs_per_instance * job.instance_count > 1) {
    std::vector<std::string> p = {"mpirun", "-np", std::to_string(job.procs_per_instance * job.instance_count),
                                  "--oversubscribe", "--tag-output"};
    if (::geteuid() == 0) p.push_back("--allow-run-as-root");
    p.insert(p.end(), program.begin(), program.end());
    program = p;
  }
  plan.argv = program;
  plan.env = job.env;
  // the Python package of this build (beside this program) is importable by the job's
  // scripts, unless the job sets PYTHONPATH itself
  const fs::path py = fs::path(self_exe()).parent_path() / "python";
  std::error_code ec;
  if (!plan.env.count("PYTHONPATH") && fs::exists(py / "anneal" / "__init__.py", ec)) {
    const char* have = std::getenv("PYTHONPATH");
    plan.env["PYTHONPATH"] = py.string() + (have && *have ? ":" + std::string(have) : "");
  }
  plan.env["ANNEAL_RUN_ID"] = run.id;
  plan.env["ANNEAL_RUN_DIR"] = folder.dir;
  plan.env["ANNEAL_TRACKING_URI"] = uri;
  plan.env["ANNEAL_EXPERIMENT"] = run.experiment;
  return plan;
}

void flatten_params(const jobs::Node& n, const std::string& path, std::map<std::string, std::string>& out) {
  static const std::set<std::string> skip = {"command", "description", "tags", "environment_variables", "$schema",
                                             "name", "display_name", "experiment", "experiment_name", "code"};
  if (n.is_map()) {
    for (auto& [k, v] : n.map) {
      if (path.empty() && skip.count(k)) continue;
      flatten_params(v, path.empty() ? k : path + "." + k, out);
    }
  } else if (n.kind == jobs::Node::Kind::List) {
    std::string joined;
    for (auto& i : n.list) joined += (joined.empty() ? "" : ",") + (i.is_scalar() ? i.text : std::string("..."));
    out[path] = "[" + joined + "]";
  } else if (!path.empty()) {
    out[path] = n.text;
  }
}

std::string duration_text(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

// Starts `anneal _attach ID` in its own session, detached from this terminal.
void spawn_detached(const std::string& id, const RegistryArgs& reg, const std::string& folder) {
  const pid_t pid = ::fork();
  if (pid < 0) throw ValueError(str("anneal run --detach: fork: ", std::strerror(errno)));
  if (pid == 0) {
    ::setsid();
    if (::fork() != 0) _exit(0);  // the grandchild is no session leader: it never gets a terminal
    int devnull = ::open("/dev/null", O_RDWR);
    int log = ::open((folder + "/supervisor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(devnull, 0);
    ::dup2(log >= 0 ? log : devnull, 1);
    ::dup2(log >= 0 ? log : devnull, 2);
    const std::string exe = self_exe();
    std::vector<std::string> args = {exe, "_attach", id, "--runs-dir", reg.root(), "--tracking-uri", reg.uri(), "--quiet"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    _exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
}

}  // namespace

// An sbatch script that runs `anneal _attach ID` on the allocated node.
std::string submit_to_slurm(const jobs::Job& job, const RunRecord& run, const RegistryArgs& reg,
                            Registry& registry, bool quiet) {
  const RunFolder folder{run.folder};
  std::string script = "#!/bin/sh\n";
  script += "#SBATCH --job-name=" + run.id + "\n";
  script += "#SBATCH --output=" + folder.file("slurm-%j.log") + "\n";
  script += "#SBATCH --nodes=" + std::to_string(job.instance_count) + "\n";
  if (!job.slurm_partition.empty()) script += "#SBATCH --partition=" + job.slurm_partition + "\n";
  if (!job.slurm_time.empty()) script += "#SBATCH --time=" + job.slurm_time + "\n";
  if (!job.slurm_account.empty()) script += "#SBATCH --account=" + job.slurm_account + "\n";
  for (auto& a : job.slurm_extra) script += "#SBATCH " + a + "\n";
  script += "exec " + shell_quote(self_exe()) + " _attach " + run.id + " --runs-dir " + shell_quote(reg.root()) +
            " --tracking-uri " + shell_quote(reg.uri()) + " --quiet\n";
  write_text(folder.file("sbatch.sh"), script);
  const std::string out = capture("sbatch --parsable " + shell_quote(folder.file("sbatch.sh")) + " 2>&1");
  const std::string slurm_id = out.substr(0, out.find(';'));
  if (slurm_id.empty() || slurm_id.find_first_not_of("0123456789") != std::string::npos) {
    RunUpdate u;
    u.status = kFailed;
    u.error = "sbatch failed: " + out;
    u.ended = now_seconds();
    registry.update_run(run.id, u);
    if (!quiet) std::cerr << "anneal run: sbatch failed: " << out << std::endl;
    return "";
  }
  registry.log_batch(run.id, {}, {}, {{"slurm.job_id", slurm_id}});
  if (!quiet)
    std::cout << "anneal: run " << run.id << " submitted to SLURM as job " << slurm_id << "; records in " << folder.dir
              << std::endl;
  return slurm_id;
}


tracking::RunRecord record_run(const jobs::Job& job, const std::string& job_text, const RegistryArgs& reg,
                              const RecordOptions& o) {
  const std::string root = reg.root(), uri = reg.uri();
  auto registry = Registry::open(uri);
  RunRecord run;
  run.id = new_run_id();
  run.experiment = o.experiment.empty() ? job.experiment : o.experiment;
  check_name(run.experiment, "the experiment name");
  run.name = !o.name.empty() ? o.name : !job.name.empty() ? job.name : run.id;
  run.kind = job.type;
  run.status = kQueued;
  run.host = this_host();
  run.created = now_seconds();
  run.parent = o.parent;
  run.tags = job.tags;
  for (auto& [k, v] : o.tags) run.tags[k] = v;
  if (!job.description.empty()) run.tags["description"] = job.description;
  RunFolder folder = make_run_folder(root, run.experiment, run.id);
  run.folder = folder.dir;
  jobs::Resolved resolved = jobs::resolve(job, {run.id, folder.dir, run.name, run.experiment});
  // resolved.yaml stands on its own: absolute code folder and input paths, no base files
  if (job.type == "command") {
    resolved.tree.set("code", jobs::scalar(job.code_dir, true, {}), {});
    if (jobs::Node* in = resolved.tree.find("inputs"))
      for (auto& [k, v] : in->map)
        if (jobs::Node* p = v.is_map() ? v.find("path") : nullptr) p->text = job.inputs.at(k);
  }
  // a train job's data path is relative to the job file, not to where the trainer runs
  if (job.type == "train")
    if (jobs::Node* d = resolved.tree.find("data"))
      if (jobs::Node* p = d->find("path"); p && !p->text.empty() && fs::path(p->text).is_relative())
        p->text = (fs::path(job.code_dir) / p->text).lexically_normal().string();
  run.command = job.type == "train" ? "anneal-train (built-in trainer)" : resolved.command;
  write_text(folder.file("job.yaml"), job_text);
  write_text(folder.file("resolved.yaml"), jobs::to_yaml(resolved.tree));
  write_text(folder.file("environment.json"), environment_record(job).dump(2) + "\n");
  for (auto& out : job.outputs) fs::create_directories(folder.outputs() + "/" + out);
  // the job's settings are the run's params: --where "param.optimizer.lr < 0.1" finds them
  flatten_params(resolved.tree, "", run.params);
  for (auto& [k, v] : o.params) run.params[k] = v;
  write_run_json(folder, run);
  registry->create_run(run);
  return run;
}

int run_job(const RunArgs& a) {
  jobs::Job job;
  try {
    job = jobs::load_job(a.job_file, a.sets);
  } catch (const std::exception& e) {
    std::cerr << "anneal run: " << e.what() << std::endl;
    return 2;
  }
  RunRecord run = record_run(job, read_whole_file(a.job_file, "anneal run"), a.reg, {a.name, a.experiment});
  RunFolder folder{run.folder};
  std::cout << "anneal: run " << run.id << " (experiment " << run.experiment << "), records in " << folder.dir
            << std::endl;
  if (job.compute == "slurm") {
    auto registry = Registry::open(a.reg.uri());
    return submit_to_slurm(job, run, a.reg, *registry, false).empty() ? 1 : 0;
  }
  if (a.detach) {
    spawn_detached(run.id, a.reg, folder.dir);
    std::cout << "anneal: running detached; follow it with `anneal runs logs " << run.id << " --follow`" << std::endl;
    return 0;
  }
  return attach_run(run.id, a.reg, true);
}

int attach_run(const std::string& id, const RegistryArgs& reg, bool echo) {
  auto registry = Registry::open(reg.uri());
  auto found = registry->get_run(id);
  if (!found) {
    std::cerr << "anneal: no run " << id << " in " << reg.uri() << std::endl;
    return 2;
  }
  RunRecord run = *found;
  RunFolder folder{run.folder};
  run = read_run_json(folder.dir);
  jobs::ProgramPlan plan = plan_for(folder, run, reg.uri(), echo);
  if (std::getenv("ANNEAL_RESUME")) plan.env["ANNEAL_RESUME"] = "1";
  registry.reset();
  const double t0 = now_seconds();
  const int code = jobs::supervise(reg.uri(), folder, run, plan);
  if (echo) {
    std::cout << "anneal: run " << run.id << " " << run.status << " in " << duration_text(now_seconds() - t0)
              << (run.error.empty() ? "" : ": " + run.error) << std::endl;
    // the run's own summary line (the built-in trainer's test accuracy) comes last
    auto r = Registry::open(reg.uri())->get_run(run.id);
    if (r && r->tags.count("result") && run.status == kCompleted) std::cout << r->tags.at("result") << std::endl;
  }
  return code;
}

int resume_run(const std::string& id_or_prefix, const RegistryArgs& reg, bool detach) {
  auto registry = Registry::open(reg.uri());
  reap_stale_runs(*registry);
  const std::string id = resolve_run_id(*registry, id_or_prefix);
  RunRecord run = *registry->get_run(id);
  if (run.status == kRunning || run.status == kQueued) {
    std::cerr << "anneal resume: run " << id << " is " << run.status << " (pid " << run.pid << " on " << run.host
              << "); cancel it first" << std::endl;
    return 2;
  }
  if (run.status == kCompleted) {
    std::cerr << "anneal resume: run " << id << " has completed; there is nothing to resume" << std::endl;
    return 2;
  }
  RunUpdate u;
  u.status = kQueued;
  u.clear_exit = true;
  u.cancel_requested = false;
  u.heartbeat = now_seconds();
  u.host = this_host();
  u.pid = getpid();
  registry->update_run(id, u);
  RunRecord rec = read_run_json(run.folder);
  rec.status = kQueued;
  rec.exit_code.reset();
  rec.error.clear();
  rec.ended = 0;
  write_run_json(RunFolder{run.folder}, rec);
  registry.reset();
  std::cout << "anneal: resuming run " << id << " from its last checkpoint; records in " << run.folder << std::endl;
  ::setenv("ANNEAL_RESUME", "1", 1);
  if (detach) {
    spawn_detached(id, reg, run.folder);
    return 0;
  }
  return attach_run(id, reg, true);
}

}  // namespace anneal::tools
