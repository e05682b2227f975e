#include "tracking/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/directories.h"
#include "core/error.h"
#include "core/read_file.h"

namespace anneal::tracking {

std::string default_runs_root() {
  const char* env = std::getenv("ANNEAL_RUNS_DIR");
  std::string root = env && *env ? env : "runs";
  return std::filesystem::absolute(root).lexically_normal().string();
}

std::string default_tracking_uri(const std::string& runs_root) {
  const char* env = std::getenv("ANNEAL_TRACKING_URI");
  if (env && *env) return env;
  return "sqlite:" + runs_root + "/anneal.db";
}

std::string new_run_id() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  const uint32_t r = (rd() ^ (static_cast<uint32_t>(getpid()) << 8)) & 0xffffff;
  char id[48];
  std::snprintf(id, sizeof id, "%s-%06x", when, r);
  return id;
}

void check_name(const std::string& name, const char* what) {
  ANNEAL_CHECK(!name.empty(), ValueError, what, " is empty");
  ANNEAL_CHECK(name.size() <= 100, ValueError, what, " '", name.substr(0, 40), "...' is longer than 100 characters");
  ANNEAL_CHECK(name[0] != '.', ValueError, what, " '", name, "' may not start with '.'");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    ANNEAL_CHECK(ok, ValueError, what, " '", name, "' may hold only letters, digits, '.', '_' and '-'");
  }
}

RunFolder make_run_folder(const std::string& runs_root, const std::string& experiment, const std::string& id) {
  check_name(experiment, "the experiment name");
  check_name(id, "the run id");
  RunFolder f{runs_root + "/" + experiment + "/" + id};
  for (const auto& d : {f.checkpoints(), f.outputs(), f.artifacts()}) make_directories(d, "run folder");
  return f;
}

namespace {
nlohmann::json to_json(const RunRecord& r) {
  nlohmann::json j = {{"id", r.id},     {"experiment", r.experiment}, {"name", r.name}, {"status", r.status},
                      {"kind", r.kind}, {"host", r.host},             {"pid", r.pid},   {"created", r.created},
                      {"started", r.started}, {"ended", r.ended},     {"command", r.command}, {"error", r.error},
                      {"parent", r.parent}, {"program_group", r.program_group}};
  j["exit_code"] = r.exit_code ? nlohmann::json(*r.exit_code) : nlohmann::json(nullptr);
  return j;
}
}  // namespace

void write_run_json(const RunFolder& folder, const RunRecord& r) {
  const std::string text = to_json(r).dump(2) + "\n";
  write_file_atomically(folder.run_json(), [&](std::ostream& os) { os << text; }, "run record");
}

RunRecord read_run_json(const std::string& dir) {
  const std::string path = dir + "/run.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_whole_file(path, "run record", 1 << 20));
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(str("run record '", path, "' is not valid JSON: ", e.what()));
  }
  RunRecord r;
  auto s = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  auto d = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0; };
  r.id = s("id");
  r.experiment = s("experiment");
  r.name = s("name");
  r.status = s("status");
  r.kind = s("kind");
  r.host = s("host");
  r.command = s("command");
  r.error = s("error");
  r.parent = s("parent");
  r.pid = static_cast<int64_t>(d("pid"));
  r.program_group = static_cast<int64_t>(d("program_group"));
  r.created = d("created");
  r.started = d("started");
  r.ended = d("ended");
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) r.exit_code = j["exit_code"].get<int>();
  r.folder = dir;
  return r;
}

MetricsFileLock::MetricsFileLock(const RunFolder& folder, bool exclusive) {
  fd_ = ::open((folder.metrics() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ >= 0) ::flock(fd_, exclusive ? LOCK_EX : LOCK_SH);  // (no lock file: appends go on unlocked)
}
MetricsFileLock::~MetricsFileLock() {
  if (fd_ >= 0) ::close(fd_);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string this_host() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace anneal::tracking
