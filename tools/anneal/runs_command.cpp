#include "tools/anneal/runs_command.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/read_file.h"
#include "tools/anneal/resolve_id.h"
#include "tracking/liveness.h"
#include "tracking/registry.h"
#include "tracking/run_folder.h"
#include "tracking/run_query.h"

namespace anneal::tools {
namespace fs = std::filesystem;
using namespace anneal::tracking;
using nlohmann::json;

namespace {

std::unique_ptr<Registry> open_and_reap(const RegistryArgs& reg) {
  auto r = Registry::open(reg.uri());
  reap_stale_runs(*r);
  return r;
}

std::string num(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
std::string when(double t) {
  if (t <= 0) return "-";
  std::time_t s = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}
std::string duration(const RunRecord& r) {
  if (r.started <= 0) return "-";
  const double end = r.ended > 0 ? r.ended : now_seconds();
  const double s = end - r.started;
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

json run_json(const RunRecord& r) {
  json j = {{"id", r.id},         {"name", r.name},       {"experiment", r.experiment}, {"status", r.status},
            {"kind", r.kind},     {"folder", r.folder},   {"host", r.host},             {"pid", r.pid},
            {"created", r.created}, {"started", r.started}, {"ended", r.ended},         {"heartbeat", r.heartbeat},
            {"command", r.command}, {"error", r.error},   {"params", r.params},         {"tags", r.tags}};
  j["exit_code"] = r.exit_code ? json(*r.exit_code) : json(nullptr);
  json m = json::object();
  for (auto& [k, s] : r.metrics) {
    auto v = [](double x) { return std::isnan(x) ? json(nullptr) : json(x); };
    m[k] = {{"last", v(s.last)}, {"min", v(s.min)}, {"max", v(s.max)}, {"last_step", s.last_step}, {"count", s.count}};
  }
  j["metrics"] = m;
  return j;
}

// Prints rows as aligned columns.
void table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

// A verdict on how the run used the machine, from the means of its system/* samples.
std::string compute_verdict(Registry& registry, const RunRecord& r) {
  if (!r.metrics.count("system/cpu_percent")) return "";
  auto h = registry.metric_history(r.id, {"system/cpu_percent", "system/gpu0_utilization"});
  auto mean = [&](const std::string& k) {
    double sum = 0;
    int n = 0;
    for (auto& p : h[k])
      if (std::isfinite(p.value)) sum += p.value, ++n;
    return n ? sum / n : std::nan("");
  };
  const double cpu = mean("system/cpu_percent");
  if (std::isnan(cpu)) return "";
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  char buf[160];
  std::snprintf(buf, sizeof buf, "CPU %.0f%% of %.0f cores (%.0f%% of the machine)", cpu, cores, cpu / cores);
  std::string v = buf;
  const double gpu = mean("system/gpu0_utilization");
  if (!std::isnan(gpu)) {
    std::snprintf(buf, sizeof buf, ", GPU %.0f%%", gpu);
    v += buf;
    v += gpu < 50 ? ": the GPU waits; data loading or host work bound?" : gpu > 90 ? ": GPU bound" : "";
  } else if (cpu < 60 * cores) {
    v += ": the cores are not busy; data loading, I/O or a serial step bound?";
  } else {
    v += ": compute bound; more cores or a GPU would help";
  }
  return v;
}

}  // namespace

int runs_list(const RegistryArgs& reg, const ListArgs& a) {
  if (!a.status.empty() && !is_known_status(a.status)) {
    std::cerr << "anneal runs list: --status must be queued, running, completed, failed or canceled" << std::endl;
    return 2;
  }
  RunFilter filter = a.where.empty() ? RunFilter() : RunFilter(a.where);
  auto registry = open_and_reap(reg);
  std::vector<RunRecord> runs;
  for (auto& r : registry->list_runs(a.experiment, a.status))
    if (filter.matches(r)) runs.push_back(std::move(r));
  sort_runs(runs, a.sort);
  if (a.limit > 0 && runs.size() > size_t(a.limit)) runs.resize(size_t(a.limit));
  if (a.json) {
    json out = json::array();
    for (auto& r : runs) out.push_back(run_json(r));
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  if (runs.empty()) {
    std::cout << "no runs" << (a.experiment.empty() ? "" : " in experiment " + a.experiment) << "\n";
    return 0;
  }
  // the metrics most runs have, as columns (the sort key first)
  std::map<std::string, int> counts;
  for (auto& r : runs)
    for (auto& [k, s] : r.metrics)
      if (k.rfind("system/", 0) != 0) counts[k]++;
  std::vector<std::string> cols;
  const std::string sort_metric = a.sort.find("metric.") != std::string::npos ? a.sort.substr(a.sort.find("metric.") + 7) : "";
  if (!sort_metric.empty()) cols.push_back(sort_metric);
  // evaluation metrics first, then the loss, then what most runs have
  auto rank = [](const std::string& k) {
    for (const char* w : {"accuracy", "val", "test", "eval"})
      if (k.find(w) != std::string::npos) return 0;
    return k == "loss" ? 1 : 2;
  };
  std::vector<std::tuple<int, int, std::string>> order;
  for (auto& [k, c] : counts)
    if (k != sort_metric) order.emplace_back(rank(k), -c, k);
  std::sort(order.begin(), order.end());
  for (auto& [r, c, k] : order)
    if (cols.size() < 4) cols.push_back(k);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"ID", "NAME", "EXPERIMENT", "STATUS", "STARTED", "DURATION"};
  for (auto& c : cols) head.push_back(c);
  rows.push_back(head);
  for (auto& r : runs) {
    std::vector<std::string> row = {r.id, r.name == r.id ? "-" : r.name, r.experiment, r.status, when(r.started),
                                    duration(r)};
    for (auto& c : cols) {
      auto it = r.metrics.find(c);
      row.push_back(it == r.metrics.end() ? "-" : num(it->second.last));
    }
    rows.push_back(row);
  }
  table(rows);
  return 0;
}

int runs_show(const RegistryArgs& reg, const std::string& text, bool as_json) {
  auto registry = open_and_reap(reg);
  const std::string id = resolve_run_id(*registry, text);
  RunRecord r = *registry->get_run(id);
  if (as_json) {
    json j = run_json(r);
    j["artifacts"] = json::array();
    for (auto& a : registry->artifacts(id)) j["artifacts"].push_back({{"path", a.path}, {"size", a.size}});
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::cout << "run        " << r.id << (r.name != r.id ? "  (" + r.name + ")" : "") << "\n";
  std::cout << "experiment " << r.experiment << "\n";
  std::cout << "status     " << r.status << (r.exit_code ? " (exit code " + std::to_string(*r.exit_code) + ")" : "")
            << "\n";
  if (!r.error.empty()) std::cout << "error      " << r.error << "\n";
  std::cout << "kind       " << r.kind << "\n";
  if (!r.command.empty()) std::cout << "command    " << r.command << "\n";
  std::cout << "started    " << when(r.started) << "   duration " << duration(r) << "   host " << r.host << "\n";
  std::cout << "folder     " << r.folder << "\n";
  const std::string verdict = compute_verdict(*registry, r);
  if (!verdict.empty()) std::cout << "compute    " << verdict << "\n";
  if (!r.params.empty()) {
    std::cout << "\nparams\n";
    for (auto& [k, v] : r.params) std::cout << "  " << k << " = " << v << "\n";
  }
  if (!r.tags.empty()) {
    std::cout << "\ntags\n";
    for (auto& [k, v] : r.tags) std::cout << "  " << k << " = " << v << "\n";
  }
  if (!r.metrics.empty()) {
    std::cout << "\nmetrics\n";
    std::vector<std::vector<std::string>> rows = {{"  KEY", "LAST", "MIN", "MAX", "STEP", "POINTS"}};
    for (auto& [k, s] : r.metrics)
      rows.push_back({"  " + k, num(s.last), num(s.min), num(s.max), std::to_string(s.last_step), std::to_string(s.count)});
    table(rows);
  }
  auto arts = registry->artifacts(id);
  if (!arts.empty()) {
    std::cout << "\nartifacts\n";
    for (auto& a : arts) std::cout << "  " << a.path << " (" << a.size << " bytes)\n";
  }
  return 0;
}

int runs_compare(const RegistryArgs& reg, const std::vector<std::string>& texts) {
  if (texts.size() < 2) {
    std::cerr << "anneal runs compare: give at least two runs" << std::endl;
    return 2;
  }
  auto registry = open_and_reap(reg);
  std::vector<RunRecord> runs;
  for (auto& t : texts) runs.push_back(*registry->get_run(resolve_run_id(*registry, t)));
  auto section = [&](const char* title, const std::set<std::string>& keys,
                     const std::function<std::string(const RunRecord&, const std::string&)>& cell) {
    if (keys.empty()) return;
    std::cout << "\n" << title << "\n";
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> head = {"  "};
    for (auto& r : runs) head.push_back(r.id);
    rows.push_back(head);
    for (auto& k : keys) {
      std::vector<std::string> row;
      std::set<std::string> distinct;
      for (auto& r : runs) {
        row.push_back(cell(r, k));
        distinct.insert(row.back());
      }
      row.insert(row.begin(), (distinct.size() > 1 ? "* " : "  ") + k);  // * marks a difference
      rows.push_back(row);
    }
    table(rows);
  };
  std::set<std::string> pkeys, mkeys;
  for (auto& r : runs) {
    for (auto& [k, v] : r.params) pkeys.insert(k);
    for (auto& [k, v] : r.metrics) mkeys.insert(k);
  }
  std::cout << "(* marks rows that differ)\n";
  section("status", {"status", "duration"}, [](const RunRecord& r, const std::string& k) {
    return k == "status" ? r.status : duration(r);
  });
  section("params", pkeys, [](const RunRecord& r, const std::string& k) {
    auto it = r.params.find(k);
    return it == r.params.end() ? std::string("-") : it->second;
  });
  std::set<std::string> final_keys, best_keys;
  for (auto& k : mkeys) {
    final_keys.insert(k + " (last)");
    best_keys.insert(k + " (min / max)");
  }
  section("metrics", final_keys, [](const RunRecord& r, const std::string& k) {
    auto it = r.metrics.find(k.substr(0, k.size() - 7));
    return it == r.metrics.end() ? std::string("-") : num(it->second.last);
  });
  section("best", best_keys, [](const RunRecord& r, const std::string& k) {
    auto it = r.metrics.find(k.substr(0, k.size() - 12));
    return it == r.metrics.end() ? std::string("-") : num(it->second.min) + " / " + num(it->second.max);
  });
  // the resolved configs, as a line diff against the first run's
  auto lines_of = [](const RunRecord& r) {
    std::vector<std::string> out;
    std::ifstream f(r.folder + "/resolved.yaml");
    std::string l;
    while (std::getline(f, l)) out.push_back(l);
    return out;
  };
  const auto base = lines_of(runs[0]);
  for (size_t i = 1; i < runs.size(); ++i) {
    const auto other = lines_of(runs[i]);
    std::cout << "\nresolved.yaml: " << runs[0].id << " -> " << runs[i].id << "\n";
    // LCS diff (configs are short)
    const size_t n = base.size(), m = other.size();
    std::vector<std::vector<int>> L(n + 1, std::vector<int>(m + 1, 0));
    for (size_t a = n; a-- > 0;)
      for (size_t b = m; b-- > 0;)
        L[a][b] = base[a] == other[b] ? L[a + 1][b + 1] + 1 : std::max(L[a + 1][b], L[a][b + 1]);
    size_t a = 0, b = 0;
    bool any = false;
    while (a < n || b < m) {
      if (a < n && b < m && base[a] == other[b]) {
        ++a, ++b;
      } else if (b < m && (a == n || L[a][b + 1] >= L[a + 1][b])) {
        std::cout << "+ " << other[b++] << "\n";
        any = true;
      } else {
        std::cout << "- " << base[a++] << "\n";
        any = true;
      }
    }
    if (!any) std::cout << "  (the same)\n";
  }
  return 0;
}

int runs_logs(const RegistryArgs& reg, const std::string& text, bool follow, bool stderr_only) {
  auto registry = open_and_reap(reg);
  const std::string id = resolve_run_id(*registry, text);
  const RunFolder folder{registry->get_run(id)->folder};
  const std::string path = stderr_only ? folder.stderr_log() : folder.stdout_log();
  std::ifstream f(path, std::ios::binary);
  // a run that has just started (detached) may not have opened its log yet
  while (!f && follow) {
    auto r = registry->get_run(id);
    if (!r || is_terminal_status(r->status)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!why_not_alive(*r, now_seconds()).empty()) reap_stale_runs(*registry);
    f.open(path, std::ios::binary);
  }
  if (!f) {
    std::cerr << "anneal runs logs: run " << id << " has no log (" << path << ")" << std::endl;
    return 1;
  }
  char buf[65536];
  for (;;) {
    while (f.read(buf, sizeof buf) || f.gcount() > 0) {
      std::cout.write(buf, f.gcount());
      if (f.eof()) break;
    }
    std::cout.flush();
    if (!follow) return 0;
    f.clear();
    auto r = registry->get_run(id);
    if (!r || is_terminal_status(r->status)) {
      // what was written between the last read and the end
      while (f.read(buf, sizeof buf) || f.gcount() > 0) {
        std::cout.write(buf, f.gcount());
        if (f.eof()) break;
      }
      std::cout.flush();
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (!why_not_alive(*r, now_seconds()).empty()) reap_stale_runs(*registry);
  }
}

int runs_cancel(const RegistryArgs& reg, const std::string& text) {
  auto registry = open_and_reap(reg);
  const std::string id = resolve_run_id(*registry, text);
  RunRecord r = *registry->get_run(id);
  if (is_terminal_status(r.status)) {
    std::cout << "run " << id << " has already ended (" << r.status << ")\n";
    return 0;
  }
  RunUpdate u;
  u.cancel_requested = true;
  registry->update_run(id, u);
  // On this machine the supervisor hears at once; elsewhere it sees the request at its
  // next heartbeat.
  if (r.host == this_host() && r.pid > 0 && process_alive(r.pid)) ::kill(static_cast<pid_t>(r.pid), SIGTERM);
  if (r.status == kQueued) {
    if (r.tags.count("slurm.job_id"))
      std::system(("scancel " + r.tags.at("slurm.job_id") + " >/dev/null 2>&1").c_str());
    RunUpdate q;
    q.status = kCanceled;
    q.ended = now_seconds();
    q.error = "canceled before it started";
    registry->update_run(id, q);
  }
  // wait (briefly) for the supervisor to record the end
  for (int i = 0; i < 150; ++i) {
    auto now = registry->get_run(id);
    if (now && is_terminal_status(now->status)) {
      std::cout << "run " << id << " " << now->status << "\n";
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << "run " << id << ": cancel requested; it stops at its next heartbeat\n";
  return 0;
}

int runs_rm(const RegistryArgs& reg, const std::vector<std::string>& texts, bool yes) {
  auto registry = open_and_reap(reg);
  std::vector<RunRecord> runs;
  for (auto& t : texts) runs.push_back(*registry->get_run(resolve_run_id(*registry, t)));
  for (auto& r : runs)
    if (!is_terminal_status(r.status)) {
      std::cerr << "anneal runs rm: run " << r.id << " is " << r.status << "; cancel it first" << std::endl;
      return 2;
    }
  if (!yes) {
    std::cout << "delete " << runs.size() << " run(s) and their folders:";
    for (auto& r : runs) std::cout << " " << r.id;
    std::cout << "? [y/N] " << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer) || (answer != "y" && answer != "Y" && answer != "yes")) {
      std::cout << "nothing deleted\n";
      return 1;
    }
  }
  const std::string root = fs::weakly_canonical(reg.root()).string();
  for (auto& r : runs) {
    registry->delete_run(r.id);
    // only a folder inside the runs root, and named as the run, is removed
    std::error_code ec;
    const fs::path folder = fs::weakly_canonical(r.folder, ec);
    const std::string f = folder.string();
    if (!ec && folder.filename() == r.id && f.rfind(root + "/", 0) == 0) fs::remove_all(folder, ec);
    std::cout << "deleted " << r.id << "\n";
  }
  return 0;
}

}  // namespace anneal::tools

#include "tracking/export.h"

namespace anneal::tools {
int runs_export(const RegistryArgs& reg, const std::string& text, const std::string& format, const std::string& out) {
  auto registry = open_and_reap(reg);
  const std::string id = resolve_run_id(*registry, text);
  std::cout << tracking::export_run(*registry, id, format, out) << std::endl;
  return 0;
}
}  // namespace anneal::tools
