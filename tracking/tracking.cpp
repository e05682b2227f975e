#include "tracking/tracking.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/directories.h"
#include "core/error.h"
#include "core/read_file.h"
#include "tracking/errors.h"
#include "tracking/registry.h"
#include "tracking/run_folder.h"

namespace anneal::tracking {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

void check_key(const std::string& key, const char* what) {
  ANNEAL_CHECK(!key.empty(), ValueError, "tracking: ", what, " key is empty");
  ANNEAL_CHECK(key.size() <= 250, ValueError, "tracking: ", what, " key '", key.substr(0, 40),
               "...' is longer than 250 characters");
  for (char c : key) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/' ||
                    c == ' ';
    ANNEAL_CHECK(ok, ValueError, "tracking: ", what, " key '", key,
                 "' may hold only letters, digits, '_', '-', '.', '/' and spaces");
  }
}

// One log call's points: a line of metrics.jsonl.
struct Record {
  int64_t step;
  double time;
  std::vector<std::pair<std::string, double>> values;
};

// The shortest text that reads back as the same double (std::to_chars), null when not finite.
void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A key as a JSON string (keys are checked: only quotes and backslashes could need care,
// and check_key admits neither).
void append_key(std::string& out, const std::string& k) {
  out += '"';
  out += k;
  out += "\": ";
}

// params.json / tags.json: merged with what other processes of the run wrote, under a lock.
void merge_json_file(const std::string& path, const std::map<std::string, std::string>& add) {
  if (add.empty()) return;
  const std::string lock_path = path + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::flock(fd, LOCK_EX);
  nlohmann::json j = nlohmann::json::object();
  try {
    if (std::filesystem::exists(path)) j = nlohmann::json::parse(read_whole_file(path, "tracking", 64 << 20));
  } catch (const std::exception&) {
    j = nlohmann::json::object();  // a damaged file is rewritten from what is known
  }
  if (!j.is_object()) j = nlohmann::json::object();
  for (auto& [k, v] : add) j[k] = v;
  const std::string text = j.dump(2) + "\n";
  try {
    write_file_atomically(path, [&](std::ostream& os) { os << text; }, "tracking");
  } catch (...) {
    if (fd >= 0) ::close(fd);
    throw;
  }
  if (fd >= 0) ::close(fd);
}

class Session {
 public:
  Session(RunRecord run, RunFolder folder, std::string uri, bool owned)
      : run_(std::move(run)), folder_(std::move(folder)), uri_(std::move(uri)), owned_(owned) {
    const long ms = std::strtol(env_or("ANNEAL_TRACKING_FLUSH_MS", "1000").c_str(), nullptr, 10);
    interval_ = std::chrono::milliseconds(ms > 0 ? ms : 1000);
    std::FILE* probe = std::fopen(folder_.metrics().c_str(), "a");
    ANNEAL_CHECK(probe != nullptr, ValueError, "tracking: cannot append to '", folder_.metrics(), "'");
    std::fclose(probe);
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "anneal-tracking");
      loop();
    });
  }
  ~Session() { close(std::nullopt); }

  const RunRecord& run() const { return run_; }
  const RunFolder& folder() const { return folder_; }

  void add(Record r) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(r));
  }
  int64_t next_step(const std::string& key, int64_t step) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& next = next_step_[key];
    if (step < 0) step = next;
    next = std::max(next, step + 1);
    return step;
  }
  void params(const std::map<std::string, std::string>& p, bool tags) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, v] : p) (tags ? pending_tags_ : pending_params_)[k] = v;
  }
  void artifact(const ArtifactRecord& a) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_artifacts_.push_back(a);
  }

  // Writes what is queued now; waits for it.
  void flush_now() {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t want = ++flush_requests_;
    cv_.notify_all();
    done_cv_.wait(lock, [&] { return flushed_ >= want || stopped_; });
  }

  void discard_after(int64_t step) {
    flush_now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [k, next] : next_step_) next = std::min(next, step + 1);
    }
    std::lock_guard<std::mutex> io(io_mu_);  // no flush writes meanwhile
    // the folder: metrics.jsonl without the records after `step`, replaced atomically
    try {
      MetricsFileLock lock(folder_, true);
      const std::string text = read_whole_file(folder_.metrics(), "tracking");
      std::string kept;
      size_t at = 0;
      while (at < text.size()) {
        size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(at, end - at);
        at = end + 1;
        int64_t s = 0;
        if (std::sscanf(line.c_str(), "{\"step\": %lld", reinterpret_cast<long long*>(&s)) == 1 && s > step) continue;
        kept += line + "\n";
      }
      write_file_atomically(folder_.metrics(), [&](std::ostream& os) { os << kept; }, "tracking");
      if (registry()) registry_->discard_metrics_after(run_.id, step);
    } catch (const std::exception& e) {
      warn(e.what());
    }
  }

  // Stops the thread after a last flush; records the end status when this process owns the run.
  void close(std::optional<std::string> status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (owned_) {
      run_.status = status.value_or(kCompleted);
      run_.ended = now_seconds();
      run_.exit_code = run_.status == kCompleted ? 0 : 1;
      try {
        write_run_json(folder_, run_);
        if (registry()) {
          RunUpdate u;
          u.status = run_.status;
          u.ended = run_.ended;
          u.exit_code = *run_.exit_code;
          registry_->update_run(run_.id, u);
        }
      } catch (const std::exception& e) {
        warn(e.what());
      }
    }
  }

 private:
  Registry* registry() {
    if (!registry_) {
      try {
        registry_ = Registry::open(uri_);
      } catch (const std::exception& e) {
        warn(e.what());
      }
    }
    return registry_.get();
  }
  void warn(const std::string& what) {
    if (warned_) return;
    warned_ = true;
    std::cerr << "anneal.tracking: " << what
              << " (records stay in " << folder_.dir << "; the registry is retried at every flush)" << std::endl;
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait_for(lock, interval_, [&] { return stop_ || flush_requests_ > flushed_; });
      const bool last = stop_;
      const uint64_t serving = flush_requests_;
      std::vector<Record> records;
      records.swap(pending_);
      auto params = std::move(pending_params_);
      auto tags = std::move(pending_tags_);
      auto artifacts = std::move(pending_artifacts_);
      pending_params_.clear();
      pending_tags_.clear();
      pending_artifacts_.clear();
      lock.unlock();
      {
        std::lock_guard<std::mutex> io(io_mu_);
        write(records, params, tags, artifacts);
      }
      lock.lock();
      flushed_ = serving;
      done_cv_.notify_all();
      if (last) {
        stopped_ = true;
        done_cv_.notify_all();
        return;
      }
    }
  }

  void write(const std::vector<Record>& records, const std::map<std::string, std::string>& params,
             const std::map<std::string, std::string>& tags, const std::vector<ArtifactRecord>& artifacts) {
    // The folder first (the source of truth), in one write per flush.
    if (!records.empty()) {
      std::string text;
      text.reserve(records.size() * 64);
      for (auto& r : records) {
        text += "{\"step\": ";
        text += std::to_string(r.step);
        text += ", \"time\": ";
        append_number(text, r.time);
        for (auto& [k, v] : r.values) {
          text += ", ";
          append_key(text, k);
          append_number(text, v);
        }
        text += "}\n";
      }
      // opened for each flush (once a second): another process of the run may have replaced
      // the file (a resume's discard), and a held handle would write into the old one
      MetricsFileLock lock(folder_, false);
      // one write() on an O_APPEND descriptor: the line block lands whole even while other
      // processes of the run append (stdio would split it into buffer-sized pieces)
      const int fd = ::open(folder_.metrics().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      size_t done = 0;
      while (fd >= 0 && done < text.size()) {
        const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += size_t(w);
      }
      if (fd < 0 || done != text.size()) warn("cannot append to " + folder_.metrics());
      if (fd >= 0) ::close(fd);
    }
    try {
      merge_json_file(folder_.params(), params);
      merge_json_file(folder_.tags(), tags);
    } catch (const std::exception& e) {
      warn(e.what());
    }
    for (auto& r : records)
      for (auto& [k, v] : r.values) unsent_.push_back({k, v, r.step, r.time});
    for (auto& [k, v] : params) unsent_params_[k] = v;
    for (auto& [k, v] : tags) unsent_tags_[k] = v;
    unsent_artifacts_.insert(unsent_artifacts_.end(), artifacts.begin(), artifacts.end());
    // A registry that stays away must not grow this process without bound: the oldest
    // points go (the run folder still has them; the registry can be rebuilt from it).
    constexpr size_t kMaxUnsent = 5'000'000;
    if (unsent_.size() > kMaxUnsent) unsent_.erase(unsent_.begin(), unsent_.begin() + (unsent_.size() - kMaxUnsent));
    Registry* reg = registry();
    if (!reg) return;
    try {
      reg->log_batch(run_.id, unsent_, unsent_params_, unsent_tags_);
      unsent_.clear();
      unsent_params_.clear();
      unsent_tags_.clear();
      for (auto& a : unsent_artifacts_) reg->log_artifact(run_.id, a);
      unsent_artifacts_.clear();
      if (owned_) {
        RunUpdate u;
        u.heartbeat = now_seconds();
        reg->update_run(run_.id, u);
      }
    } catch (const std::exception& e) {
      warn(e.what());
      registry_.reset();  // reconnect at the next flush
    }
  }

  RunRecord run_;
  RunFolder folder_;
  std::string uri_;
  bool owned_;
  std::chrono::milliseconds interval_{1000};
  std::unique_ptr<Registry> registry_;  // used by the flush thread only (and close, after it)
  bool warned_ = false;

  std::mutex mu_;
  std::mutex io_mu_;  // the folder's files and the registry: one writer at a time
  std::condition_variable cv_, done_cv_;
  std::vector<Record> pending_;
  std::map<std::string, std::string> pending_params_, pending_tags_;
  std::vector<ArtifactRecord> pending_artifacts_;
  std::map<std::string, int64_t> next_step_;
  uint64_t flush_requests_ = 0, flushed_ = 0;
  bool stop_ = false, stopped_ = false;

  std::vector<MetricPoint> unsent_;
  std::map<std::string, std::string> unsent_params_, unsent_tags_;
  std::vector<ArtifactRecord> unsent_artifacts_;
  std::thread thread_;
};

std::mutex g_mu;
std::unique_ptr<Session> g_session;  // ended at exit by the static destructor below

struct EndAtExit {
  ~EndAtExit() {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_session) g_session->close(std::nullopt);
    g_session.reset();
  }
} g_end_at_exit;

Session& start_locked(const StartOptions& o) {
  const std::string root = o.runs_root.empty() ? default_runs_root() : o.runs_root;
  const std::string uri = o.tracking_uri.empty() ? default_tracking_uri(root) : o.tracking_uri;
  RunRecord run;
  run.id = new_run_id();
  run.experiment = o.experiment.empty() ? env_or("ANNEAL_EXPERIMENT", "default") : o.experiment;
  run.name = o.name.empty() ? run.id : o.name;
  run.status = kRunning;
  run.kind = "process";
  run.host = this_host();
  run.pid = getpid();
  run.created = run.started = run.heartbeat = now_seconds();
  run.tags = o.tags;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  run.command = ec ? "" : exe.string();
  RunFolder folder = make_run_folder(root, run.experiment, run.id);
  run.folder = folder.dir;
  write_run_json(folder, run);
  Registry::open(uri)->create_run(run);  // fails loudly at the start, not silently later
  merge_json_file(folder.tags(), run.tags);
  g_session = std::make_unique<Session>(run, folder, uri, /*owned=*/true);
  return *g_session;
}

// The active session: attached to `anneal run`'s run, or created on first use.
Session& session() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_session) return *g_session;
  const std::string id = env_or("ANNEAL_RUN_ID", "");
  if (!id.empty()) {
    const std::string dir = env_or("ANNEAL_RUN_DIR", "");
    ANNEAL_CHECK(!dir.empty(), ValueError, "tracking: ANNEAL_RUN_ID is set (", id, ") but ANNEAL_RUN_DIR is not");
    RunRecord run = read_run_json(dir);
    ANNEAL_CHECK(run.id == id, ValueError, "tracking: ANNEAL_RUN_ID is ", id, " but ", dir, "/run.json is run ", run.id);
    const std::string root = std::filesystem::path(dir).parent_path().parent_path().string();
    g_session = std::make_unique<Session>(run, RunFolder{dir}, env_or("ANNEAL_TRACKING_URI", default_tracking_uri(root)),
                                          /*owned=*/false);
    return *g_session;
  }
  return start_locked({});
}

}  // namespace

std::string start_run(const StartOptions& options) {
  std::lock_guard<std::mutex> lock(g_mu);
  ANNEAL_CHECK(!g_session, ValueError, "tracking: run ", g_session ? g_session->run().id : "",
               " is active; end_run() it before starting another");
  ANNEAL_CHECK(std::getenv("ANNEAL_RUN_ID") == nullptr || !*std::getenv("ANNEAL_RUN_ID"), ValueError,
               "tracking: this program runs inside `anneal run` (run ", std::getenv("ANNEAL_RUN_ID"),
               "); it logs into that run, so start_run() is not needed");
  return start_locked(options).run().id;
}

void end_run(const std::string& status) {
  ANNEAL_CHECK(status == kCompleted || status == kFailed || status == kCanceled, ValueError,
               "tracking: end_run status must be completed, failed or canceled, not '", status, "'");
  std::unique_ptr<Session> s;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    s = std::move(g_session);
  }
  if (s) s->close(status);
}

std::optional<std::string> active_run_id() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_session) return g_session->run().id;
  const std::string id = env_or("ANNEAL_RUN_ID", "");
  if (!id.empty()) return id;
  return std::nullopt;
}

std::string run_id() { return session().run().id; }
std::string run_dir() { return session().folder().dir; }

void log_metric(const std::string& key, double value, int64_t step) { log_metrics({{key, value}}, step); }

void log_metrics(const std::map<std::string, double>& metrics, int64_t step) {
  if (metrics.empty()) return;
  for (auto& [k, v] : metrics) {
    check_key(k, "metric");
    ANNEAL_CHECK(k != "step" && k != "time", ValueError, "tracking: the metric key '", k,
                 "' is taken by the record's own field; use another name");
  }
  Session& s = session();
  Record r;
  r.time = now_seconds();
  r.step = -1;
  for (auto& [k, v] : metrics) {
    const int64_t st = s.next_step(k, step);
    if (r.step < 0 || r.step == st) {
      r.step = st;
      r.values.emplace_back(k, v);
    } else {  // keys at different automatic steps: a record each
      s.add({st, r.time, {{k, v}}});
    }
  }
  s.add(std::move(r));
}

void log_param(const std::string& key, const std::string& value) { log_params({{key, value}}); }
void log_params(const std::map<std::string, std::string>& params) {
  for (auto& [k, v] : params) check_key(k, "param");
  session().params(params, false);
}
void set_tag(const std::string& key, const std::string& value) { set_tags({{key, value}}); }
void set_tags(const std::map<std::string, std::string>& tags) {
  for (auto& [k, v] : tags) check_key(k, "tag");
  session().params(tags, true);
}

std::string log_artifact(const std::string& local_path, const std::string& artifact_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  ANNEAL_CHECK(fs::exists(local_path, ec), ValueError, "log_artifact: '", local_path, "' does not exist");
  const fs::path rel = fs::path(artifact_path).lexically_normal();
  ANNEAL_CHECK(artifact_path.empty() || (rel.is_relative() && *rel.begin() != ".."), ValueError,
               "log_artifact: artifact_path '", artifact_path, "' must be a relative folder inside the run");
  Session& s = session();
  fs::path dest_dir = fs::path(s.folder().artifacts()) / (artifact_path.empty() ? fs::path() : rel);
  make_directories(dest_dir.string(), "log_artifact");
  const fs::path dest = dest_dir / fs::path(local_path).filename();
  fs::copy(local_path, dest, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  ANNEAL_CHECK(!ec, ValueError, "log_artifact: cannot copy '", local_path, "' to '", dest.string(), "': ", ec.message());
  int64_t size = 0;
  if (fs::is_directory(dest)) {
    for (auto& e : fs::recursive_directory_iterator(dest, ec))
      if (e.is_regular_file()) size += static_cast<int64_t>(e.file_size());
  } else {
    size = static_cast<int64_t>(fs::file_size(dest, ec));
  }
  s.artifact({fs::relative(dest, s.folder().dir).string(), size, now_seconds()});
  return dest.string();
}

void discard_metrics_after(int64_t step) { session().discard_after(step); }

void flush() {
  Session* s = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    s = g_session.get();
  }
  if (s) s->flush_now();
}

}  // namespace anneal::tracking
