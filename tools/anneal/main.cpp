// The `anneal` command line. Subcommands: run (a job file), runs (list, show, compare,
// logs, cancel, rm, export), resume, schema, and launch (data-parallel ranks on this node).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "jobs/schema.h"
#include "tools/anneal/launch.h"
#include "tools/anneal/run_command.h"
#include "tools/anneal/pipeline_command.h"
#include "tools/anneal/runs_command.h"
#include "tools/anneal/sweep_command.h"
#include "ui/server.h"

namespace {
void registry_options(CLI::App* c, anneal::tools::RegistryArgs& r) {
  c->add_option("--runs-dir", r.runs_dir, "Where run folders live (default: ANNEAL_RUNS_DIR, else ./runs)");
  c->add_option("--tracking-uri", r.tracking_uri,
                "The registry: a .db path, sqlite:PATH or postgresql://... (default: ANNEAL_TRACKING_URI, else "
                "<runs-dir>/anneal.db)");
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"anneal: train, launch and track deep-learning runs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ANNEAL_VERSION));
  using namespace anneal::tools;
  RegistryArgs reg;

  RunArgs ra;
  auto* run = app.add_subcommand("run", "Run a job file and record the run");
  run->add_option("job", ra.job_file, "The job file (YAML; docs/jobs.md)")->required();
  run->add_option("--set", ra.sets, "Override a setting: key.path=value (repeatable)");
  run->add_option("--name", ra.name, "The run's display name");
  run->add_option("--experiment", ra.experiment, "The experiment (overrides the job's)");
  run->add_flag("--detach", ra.detach, "Start it in the background and return");
  registry_options(run, reg);

  auto* runs = app.add_subcommand("runs", "List, show, compare, follow, cancel, delete and export runs");
  runs->require_subcommand(1);
  ListArgs la;
  auto* list = runs->add_subcommand("list", "The runs, newest first");
  list->add_option("--experiment", la.experiment, "Only this experiment");
  list->add_option("--status", la.status, "Only runs with this status (queued, running, completed, failed, canceled)");
  list->add_option("--where", la.where, "A filter, e.g. \"metric.val_loss < 0.3 and param.lr = 0.1\"");
  list->add_option("--sort", la.sort, "Sort by a field, - for descending: -metric.accuracy");
  list->add_option("--limit", la.limit, "At most this many")->check(CLI::NonNegativeNumber);
  list->add_flag("--json", la.json, "JSON instead of a table");
  registry_options(list, reg);
  std::string one_id;
  std::vector<std::string> ids;
  bool json = false, follow = false, errors = false, yes = false;
  auto* show = runs->add_subcommand("show", "One run: status, params, metrics, compute verdict, artifacts");
  show->add_option("id", one_id, "Run id (or its beginning, or its name)")->required();
  show->add_flag("--json", json, "JSON instead of text");
  registry_options(show, reg);
  auto* compare = runs->add_subcommand("compare", "Runs side by side: params, final and best metrics, config diff");
  compare->add_option("ids", ids, "Two or more runs")->required()->expected(2, 1000);
  registry_options(compare, reg);
  auto* logs = runs->add_subcommand("logs", "A run's output");
  logs->add_option("id", one_id, "Run id")->required();
  logs->add_flag("--follow,-f", follow, "Keep printing until the run ends");
  logs->add_flag("--stderr", errors, "stderr.log instead of stdout.log");
  registry_options(logs, reg);
  auto* cancel = runs->add_subcommand("cancel", "Stop a running run (SIGTERM, then SIGKILL after a grace period)");
  cancel->add_option("id", one_id, "Run id")->required();
  registry_options(cancel, reg);
  auto* rm = runs->add_subcommand("rm", "Delete runs and their folders");
  rm->add_option("ids", ids, "Runs")->required();
  rm->add_flag("--yes,-y", yes, "Do not ask");
  registry_options(rm, reg);
  std::string format = "csv", out = ".";
  auto* exp = runs->add_subcommand("export", "A run's metrics as CSV, JSON or TensorBoard event files");
  exp->add_option("id", one_id, "Run id")->required();
  exp->add_option("--format", format, "csv, json or tensorboard")->check(CLI::IsMember({"csv", "json", "tensorboard"}));
  exp->add_option("--out,-o", out, "The folder to write into (default: .)");
  registry_options(exp, reg);

  std::string sweep_file;
  std::vector<std::string> sweep_sets;
  auto* sweep = app.add_subcommand("sweep", "Run a hyperparameter sweep (sweep.yaml), or show, cancel, resume one");
  sweep->add_option("file", sweep_file, "The sweep file (docs/jobs.md, Sweeps)");
  sweep->add_option("--set", sweep_sets, "Override a setting: key.path=value (repeatable)");
  registry_options(sweep, reg);
  auto* sweep_show_cmd = sweep->add_subcommand("show", "A sweep's trials, their objective and the best one");
  sweep_show_cmd->add_option("id", one_id, "The sweep's run id")->required();
  sweep_show_cmd->add_flag("--json", json, "JSON instead of text");
  registry_options(sweep_show_cmd, reg);
  auto* sweep_cancel_cmd = sweep->add_subcommand("cancel", "Stop a sweep and its running trials");
  sweep_cancel_cmd->add_option("id", one_id, "The sweep's run id")->required();
  registry_options(sweep_cancel_cmd, reg);
  auto* sweep_resume_cmd = sweep->add_subcommand("resume", "Continue a sweep that stopped (crash, kill -9, cancel)");
  sweep_resume_cmd->add_option("id", one_id, "The sweep's run id")->required();
  registry_options(sweep_resume_cmd, reg);

  std::string pipeline_file;
  std::vector<std::string> pipeline_sets;
  bool force_rerun = false;
  auto* pipeline = app.add_subcommand("pipeline", "Run a pipeline of cached steps, or show one");
  pipeline->require_subcommand(1);
  auto* pipeline_run_cmd = pipeline->add_subcommand("run", "Run pipeline.yaml: steps in dependency order, unchanged ones reused");
  pipeline_run_cmd->add_option("file", pipeline_file, "The pipeline file (docs/jobs.md, Pipelines)")->required();
  pipeline_run_cmd->add_option("--set", pipeline_sets, "Override a setting: key.path=value (repeatable)");
  pipeline_run_cmd->add_flag("--force-rerun", force_rerun, "Run every step, reusing nothing");
  registry_options(pipeline_run_cmd, reg);
  auto* pipeline_show_cmd = pipeline->add_subcommand("show", "A pipeline's steps: status, run, reused from");
  pipeline_show_cmd->add_option("id", one_id, "The pipeline's run id")->required();
  pipeline_show_cmd->add_flag("--json", json, "JSON instead of text");
  registry_options(pipeline_show_cmd, reg);

  bool detach = false;
  auto* resume = app.add_subcommand("resume", "Continue a failed or canceled run from its last checkpoint");
  resume->add_option("id", one_id, "Run id")->required();
  resume->add_flag("--detach", detach, "In the background");
  registry_options(resume, reg);

  bool quiet = false;
  auto* attach = app.add_subcommand("_attach", "(internal) run a recorded run's program");
  attach->group("");
  attach->add_option("id", one_id)->required();
  attach->add_flag("--quiet", quiet);
  registry_options(attach, reg);

  bool sweep_schema_flag = false;
  bool pipeline_schema_flag = false;
  auto* schema = app.add_subcommand("schema", "Print the job file's schema (Markdown)");
  schema->add_flag("--sweep", sweep_schema_flag, "The sweep file's schema instead");
  schema->add_flag("--pipeline", pipeline_schema_flag, "The pipeline file's schema instead");

  anneal::ui::UiOptions uo;
  auto* ui = app.add_subcommand("ui", "Serve the runs page (and its JSON API)");
  ui->add_option("--port", uo.port, "Port (0: any free one)")->check(CLI::Range(0, 65535));
  ui->add_option("--host", uo.host, "Address to listen on (default 127.0.0.1; another needs a token)");
  ui->add_option("--token", uo.token, "The token every request must carry (made and printed when --host is not loopback)");
  ui->add_option("--port-file", uo.port_file, "Write the port it listens on to this file");
  registry_options(ui, reg);

  anneal::tools::LaunchOptions lo;
  auto* launch = app.add_subcommand("launch", "Start N ranks of a program on this node (torchrun's variables)");
  launch->add_option("--nproc-per-node,--nproc_per_node", lo.nproc_per_node, "Ranks on this node")
      ->check(CLI::Range(1, 1024));
  launch->add_option("--nnodes", lo.nnodes, "Nodes in the job")->check(CLI::Range(1, 100000));
  launch->add_option("--node-rank,--node_rank", lo.node_rank, "This node's index (0 hosts the store)")
      ->check(CLI::NonNegativeNumber);
  launch->add_option("--master-addr,--master_addr", lo.master_addr, "Address of node 0");
  launch->add_option("--master-port,--master_port", lo.master_port,
                     "Port of node 0's store (default: a free one on one node, 29500 across nodes)")
      ->check(CLI::Range(1, 65535));
  launch->add_option("--max-restarts,--max_restarts", lo.max_restarts, "Restarts of the group after a failure")
      ->check(CLI::Range(0, 1000000));
  launch->add_option("--monitor-interval,--monitor_interval", lo.monitor_interval, "Seconds between checks of the ranks")
      ->check(CLI::Range(0.001, 3600.0));
  launch->add_option("--stop-grace", lo.stop_grace, "Seconds a rank gets to exit after SIGTERM")
      ->check(CLI::Range(0.0, 3600.0));
  bool no_prefix = false;
  launch->add_flag("--no-prefix", no_prefix, "Print the ranks' output without [rankN]: in front");
  launch->add_option("command", lo.command, "The program and its arguments (after --)")->required();
  launch->prefix_command(false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (run->parsed()) return run_job(ra);
    if (list->parsed()) return runs_list(reg, la);
    if (show->parsed()) return runs_show(reg, one_id, json);
    if (compare->parsed()) return runs_compare(reg, ids);
    if (logs->parsed()) return runs_logs(reg, one_id, follow, errors);
    if (cancel->parsed()) return runs_cancel(reg, one_id);
    if (rm->parsed()) return runs_rm(reg, ids, yes);
    if (exp->parsed()) return runs_export(reg, one_id, format, out);
    if (resume->parsed()) return resume_run(one_id, reg, detach);
    if (pipeline_run_cmd->parsed()) return pipeline_run(pipeline_file, pipeline_sets, force_rerun, reg);
    if (pipeline_show_cmd->parsed()) return pipeline_show(one_id, reg, json);
    if (sweep_show_cmd->parsed()) return sweep_show(one_id, reg, json);
    if (sweep_cancel_cmd->parsed()) return sweep_cancel(one_id, reg);
    if (sweep_resume_cmd->parsed()) return sweep_resume(one_id, reg);
    if (sweep->parsed()) {
      if (sweep_file.empty()) {
        std::cerr << "anneal sweep: give a sweep file, or show|cancel|resume ID" << std::endl;
        return 2;
      }
      return sweep_run(sweep_file, sweep_sets, reg);
    }
    if (attach->parsed()) return attach_run(one_id, reg, !quiet);
    if (ui->parsed()) {
      uo.tracking_uri = reg.uri();
      std::error_code ec;
      uo.assets_dir = anneal::ui::find_assets_dir(std::filesystem::read_symlink("/proc/self/exe", ec).string());
      return anneal::ui::serve(uo);
    }
    if (schema->parsed()) {
      std::cout << anneal::jobs::schema_markdown(sweep_schema_flag      ? anneal::jobs::sweep_schema()
                                                 : pipeline_schema_flag ? anneal::jobs::pipeline_schema()
                                                                        : anneal::jobs::job_schema());
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "anneal: " << e.what() << std::endl;
    return 1;
  }
  if (launch->parsed()) {
    if (lo.node_rank >= lo.nnodes) {
      std::cerr << "anneal launch: --node-rank " << lo.node_rank << " is not below --nnodes " << lo.nnodes << std::endl;
      return 2;
    }
    lo.prefix_output = !no_prefix;
    return anneal::tools::launch(lo);
  }
  return 0;
}
