#include "jobs/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "tracking/liveness.h"
#include "tracking/system_monitor.h"

extern char** environ;

namespace anneal::jobs {
namespace {

volatile sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // a closed terminal must not stop the run
    }
    p += w;
    n -= size_t(w);
  }
}

// The last non-empty line of what the program wrote to stderr (for the run's error).
struct TailKeeper {
  std::string partial, last;
  void feed(const char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (p[i] == '\n') {
        if (partial.find_first_not_of(" \t\r") != std::string::npos) last = partial;
        partial.clear();
      } else if (partial.size() < 2000) {
        partial += p[i];
      }
    }
  }
  std::string line() const {
    return partial.find_first_not_of(" \t\r") != std::string::npos ? partial : last;
  }
};

bool folder_empty(const std::string& dir) {
  std::error_code ec;
  auto it = std::filesystem::directory_iterator(dir, ec);
  return ec || it == std::filesystem::directory_iterator();
}

}  // namespace

int exit_status_of(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

int supervise(const std::string& uri, const tracking::RunFolder& folder, tracking::RunRecord& run,
              const ProgramPlan& plan) {
  using namespace tracking;
  ANNEAL_CHECK(!plan.argv.empty(), ValueError, "supervise: no program to run");
  auto registry = Registry::open(uri);
  double plan_monitor_s = plan.monitor_s;
  const int out_log = ::open(folder.stdout_log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int err_log = ::open(folder.stderr_log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ANNEAL_CHECK(out_log >= 0 && err_log >= 0, ValueError, "anneal run: cannot write the logs in ", folder.dir, ": ",
               std::strerror(errno));
  int out_pipe[2], err_pipe[2];
  ANNEAL_CHECK(::pipe2(out_pipe, O_CLOEXEC) == 0 && ::pipe2(err_pipe, O_CLOEXEC) == 0, ValueError,
               "anneal run: pipe: ", std::strerror(errno));

  // The child's environment: ours plus the run's and the job's variables.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (plan.env.count(key)) continue;
    env_strings.push_back(std::move(kv));
  }
  for (auto& [k, v] : plan.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = plan.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const pid_t child = ::fork();
  ANNEAL_CHECK(child >= 0, ValueError, "anneal run: fork: ", std::strerror(errno));
  if (child == 0) {
    ::setpgid(0, 0);  // its own group: a cancel stops every process it started
    // a supervisor killed with SIGKILL takes its program along (what the program started
    // itself is ended by the next look at the run: tracking/liveness.h)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) _exit(137);  // the supervisor died before the line above
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (!plan.cwd.empty() && ::chdir(plan.cwd.c_str()) != 0) {
      std::string m = "anneal run: cannot enter " + plan.cwd + ": " + std::strerror(errno) + "\n";
      write_all(2, m.data(), m.size());
      _exit(126);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    std::string m = "anneal run: cannot start '" + plan.argv[0] + "': " + std::strerror(errno) + "\n";
    write_all(2, m.data(), m.size());
    _exit(127);
  }
  ::setpgid(child, child);  // also here: no race with the child's own call
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  RunUpdate start;
  start.status = kRunning;
  start.pid = getpid();  // the supervisor answers for the run: its death is the run's
  start.host = this_host();
  start.heartbeat = now_seconds();
  if (run.started <= 0) start.started = *start.heartbeat;  // a resumed run keeps its first start
  registry->update_run(run.id, start);
  if (start.started) run.started = *start.started;
  run.status = kRunning;
  run.pid = getpid();
  run.host = *start.host;
  run.program_group = child;
  write_run_json(folder, run);

  SystemMonitor monitor(child);
  if (const char* m = std::getenv("ANNEAL_MONITOR_INTERVAL")) plan_monitor_s = std::strtod(m, nullptr);
  double last_sample = now_seconds();
  int64_t samples = 0;
  auto record_sample = [&](double now) {
    auto m = monitor.sample();
    std::string line = "{\"step\": " + std::to_string(samples) + ", \"time\": " + str(std::fixed, now);
    std::vector<MetricPoint> points;
    for (auto& [k, v] : m) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%.6g", v);
      line += ", \"" + k + "\": " + buf;
      points.push_back({k, v, samples, now});
    }
    line += "}\n";
    // opened for each sample: a resumed program may replace metrics.jsonl (dropping the
    // steps it logs again), and an old descriptor would write into the replaced file
    MetricsFileLock lock(folder, false);
    const int metrics_fd = ::open(folder.metrics().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (metrics_fd >= 0) {
      write_all(metrics_fd, line.data(), line.size());  // one write: whole lines
      ::close(metrics_fd);
    }
    try {
      registry->log_batch(run.id, points);
    } catch (const std::exception&) {
      // the run folder has them; the registry is only an index
    }
    ++samples;
  };
  monitor.sample();  // the baseline the first rates are measured from (not recorded)
  double next_sample = std::min(1.0, plan_monitor_s);  // a first sample soon, then every interval

  TailKeeper tail;
  std::string stop_reason;  // why we are stopping it ("" while it runs on its own)
  std::string stop_status;
  double stop_sent_at = 0;
  const double t0 = now_seconds();
  double last_beat = t0, exited_at = 0;
  bool out_open = true, err_open = true, exited = false;
  int wait_status = 0;
  char buf[65536];
  while (out_open || err_open || !exited) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    if (!out_open) fds[0].fd = -1;
    if (!err_open) fds[1].fd = -1;
    const int n = (out_open || err_open) ? ::poll(fds, 2, 200) : 0;
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        ::close(fds[i].fd);
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      write_all(i == 0 ? out_log : err_log, buf, size_t(r));
      if (plan.echo) write_all(i == 0 ? 1 : 2, buf, size_t(r));
      if (i == 1) tail.feed(buf, size_t(r));
    }
    if (!exited) {
      pid_t w = ::waitpid(child, &wait_status, WNOHANG);
      if (w == child) exited = true;
      if (!out_open && !err_open && !exited) {  // output closed, process still there
        ::usleep(50000);
      }
    }
    const double now = now_seconds();
    if (stop_reason.empty()) {
      if (g_stop_signal) {
        stop_reason = str("stopped by signal ", int(g_stop_signal), " (", strsignal(g_stop_signal), ") to anneal");
        try {  // `anneal runs cancel` asks through the registry, then signals
          auto r = registry->get_run(run.id);
          if (r && r->cancel_requested) stop_reason = "canceled (anneal runs cancel)";
        } catch (const std::exception&) {
        }
        stop_status = kCanceled;
      } else if (plan.timeout_s > 0 && now - t0 > plan.timeout_s) {
        stop_reason = str("timed out after limits.timeout = ", plan.timeout_s, " s");
        stop_status = kCanceled;
      }
    }
    if (plan_monitor_s > 0 && !exited && now - last_sample >= next_sample) {
      last_sample = now;
      next_sample = plan_monitor_s;
      record_sample(now);
    }
    if (now - last_beat >= plan.heartbeat_s) {
      last_beat = now;
      try {
        RunUpdate u;
        u.heartbeat = now;
        registry->update_run(run.id, u);
        if (stop_reason.empty()) {
          auto r = registry->get_run(run.id);
          if (r && r->cancel_requested) {
            stop_reason = "canceled (anneal runs cancel)";
            stop_status = kCanceled;
          }
        }
      } catch (const std::exception& e) {
        // a registry hiccup must not stop the run; the next beat tries again
      }
    }
    if (!stop_reason.empty() && !exited) {
      if (stop_sent_at == 0) {
        ::kill(-child, SIGTERM);
        stop_sent_at = now;
        const std::string m = "anneal: " + stop_reason + "; stopping the program\n";
        write_all(err_log, m.data(), m.size());
        if (plan.echo) write_all(2, m.data(), m.size());
      } else if (now - stop_sent_at > plan.stop_grace_s) {
        ::kill(-child, SIGKILL);
      }
    }
    if (exited && (out_open || err_open)) {
      // The program exited but something it left in its group holds the pipes open: give
      // that a few seconds to finish its output, then end it.
      if (exited_at == 0) exited_at = now;
      else if (now - exited_at > 5) ::kill(-child, SIGKILL);
    }
  }
  if (!exited) ::waitpid(child, &wait_status, 0);
  ::kill(-child, SIGKILL);  // whatever it left behind in its group
  ::close(out_log);
  ::close(err_log);

  const int code = exit_status_of(wait_status);
  run.ended = now_seconds();
  run.exit_code = code;
  if (!stop_reason.empty()) {
    run.status = stop_status;
    run.error = stop_reason;
  } else if (code == 0) {
    run.status = kCompleted;
    run.error.clear();
    for (auto& o : plan.outputs)
      if (folder_empty(folder.outputs() + "/" + o)) {
        run.status = kFailed;
        run.error = "the output '" + o + "' (outputs/" + o + ") is empty";
        break;
      }
  } else {
    run.status = kFailed;
    run.error = WIFSIGNALED(wait_status) ? str("killed by signal ", WTERMSIG(wait_status), " (",
                                               strsignal(WTERMSIG(wait_status)), ")")
                                         : code > 128 && code <= 128 + 64
                                               // a shell reports its program's death by signal so
                                               ? str("exit code ", code, " (killed by signal ", code - 128, ", ",
                                                     strsignal(code - 128), ")")
                                               : str("exit code ", code);
    const std::string last = tail.line();
    if (!last.empty()) run.error += ": " + last.substr(0, 500);
  }
  write_run_json(folder, run);
  RunUpdate end;
  end.status = run.status;
  end.exit_code = code;
  end.ended = run.ended;
  end.error = run.error;
  end.heartbeat = run.ended;
  registry->update_run(run.id, end);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (run.status == kCompleted) return 0;
  return code != 0 ? code : 1;
}

}  // namespace anneal::jobs
