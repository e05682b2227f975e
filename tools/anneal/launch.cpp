#include "tools/anneal/launch.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

namespace anneal::tools {
namespace {

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 29500;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

struct Child {
  int rank = 0, local_rank = 0;
  pid_t pid = -1;
  int out_fd = -1, err_fd = -1;
  std::string out_buf, err_buf;
  bool exited = false;
  int status = 0;
};

// The exit status a shell would report: the code, or 128 + the signal.
int shell_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "unknown status";
}

class Group {
 public:
  Group(const LaunchOptions& o, int port, int attempt) : o_(o), port_(port), attempt_(attempt) {}

  // false when a child could not be started
  bool start() {
    const int world = o_.nnodes * o_.nproc_per_node;
    for (int local = 0; local < o_.nproc_per_node; ++local) {
      Child c;
      c.local_rank = local;
      c.rank = o_.node_rank * o_.nproc_per_node + local;
      int out[2], err[2];
      if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
        std::cerr << "anneal launch: pipe failed: " << std::strerror(errno) << std::endl;
        return false;
      }
      const pid_t parent = ::getpid();
      pid_t pid = ::fork();
      if (pid < 0) {
        std::cerr << "anneal launch: fork failed: " << std::strerror(errno) << std::endl;
        return false;
      }
      if (pid == 0) {
        // the child: dies with the launcher, so no rank outlives a killed launcher
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        auto set = [](const char* k, const std::string& v) { ::setenv(k, v.c_str(), 1); };
        set("RANK", std::to_string(c.rank));
        set("WORLD_SIZE", std::to_string(world));
        set("LOCAL_RANK", std::to_string(local));
        set("LOCAL_WORLD_SIZE", std::to_string(o_.nproc_per_node));
        set("GROUP_RANK", std::to_string(o_.node_rank));
        set("NODE_RANK", std::to_string(o_.node_rank));
        set("ROLE_RANK", std::to_string(c.rank));
        set("ROLE_WORLD_SIZE", std::to_string(world));
        set("MASTER_ADDR", o_.master_addr);
        set("MASTER_PORT", std::to_string(port_));
        set("TORCHELASTIC_RESTART_COUNT", std::to_string(attempt_));
        set("ANNEAL_RESTART_COUNT", std::to_string(attempt_));
        set("PYTHONUNBUFFERED", "1");  // lines appear as they are printed
        // N ranks on one node share its cores (as torchrun, which sets OMP_NUM_THREADS=1):
        // each gets its share unless the caller chose
        if (o_.nproc_per_node > 1) {
          const long cores = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
          const std::string share = std::to_string(std::max(1L, cores / o_.nproc_per_node));
          if (!std::getenv("OMP_NUM_THREADS")) set("OMP_NUM_THREADS", share);
          if (!std::getenv("ANNEAL_NUM_THREADS")) set("ANNEAL_NUM_THREADS", share);
        }
        std::vector<char*> argv;
        for (auto& a : o_.command) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        std::fprintf(stderr, "anneal launch: cannot run '%s': %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
      }
      ::close(out[1]);
      ::close(err[1]);
      c.pid = pid;
      c.out_fd = out[0];
      c.err_fd = err[0];
      children_.push_back(std::move(c));
    }
    return true;
  }

  // Copies what the children printed, line by line with their rank in front.
  void pump(int timeout_ms) {
    std::vector<pollfd> fds;
    std::vector<std::pair<size_t, bool>> who;
    for (size_t i = 0; i < children_.size(); ++i) {
      if (children_[i].out_fd >= 0) {
        fds.push_back({children_[i].out_fd, POLLIN, 0});
        who.push_back({i, false});
      }
      if (children_[i].err_fd >= 0) {
        fds.push_back({children_[i].err_fd, POLLIN, 0});
        who.push_back({i, true});
      }
    }
    if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
      return;
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      Child& c = children_[who[k].first];
      const bool is_err = who[k].second;
      char buf[65536];
      ssize_t n = ::read(fds[k].fd, buf, sizeof buf);
      std::string& pending = is_err ? c.err_buf : c.out_buf;
      if (n <= 0) {
        flush_partial(c, is_err);
        ::close(fds[k].fd);
        (is_err ? c.err_fd : c.out_fd) = -1;
        continue;
      }
      pending.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        emit(c, is_err, pending.substr(0, nl + 1));
        pending.erase(0, nl + 1);
      }
    }
  }

  // Reaps exited children; returns the first that failed (or null).
  Child* reap() {
    Child* failed = nullptr;
    for (auto& c : children_) {
      if (c.exited) continue;
      int st = 0;
      pid_t r = ::waitpid(c.pid, &st, WNOHANG);
      if (r == c.pid) {
        c.exited = true;
        c.status = st;
        if (shell_status(st) != 0 && !failed_) failed_ = &c;
      }
    }
    failed = failed_;
    return failed;
  }

  bool all_exited() const {
    for (auto& c : children_)
      if (!c.exited || c.out_fd >= 0 || c.err_fd >= 0) return false;
    return true;
  }

  void signal_all(int sig) {
    for (auto& c : children_)
      if (!c.exited) ::kill(c.pid, sig);
  }

  // SIGTERM, then SIGKILL for ranks still running after the grace period.
  void stop(double grace) {
    signal_all(SIGTERM);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace * 1000));
    while (!all_exited()) {
      pump(20);
      reap();
      if (std::chrono::steady_clock::now() > until) {
        signal_all(SIGKILL);
        until = std::chrono::steady_clock::now() + std::chrono::hours(1);
      }
    }
  }

  const std::vector<Child>& children() const { return children_; }

 private:
  void emit(const Child& c, bool is_err, const std::string& line) {
    std::ostream& os = is_err ? std::cerr : std::cout;
    if (o_.prefix_output) os << "[rank" << c.rank << "]: ";
    os << line;
    os.flush();
  }
  void flush_partial(Child& c, bool is_err) {
    std::string& pending = is_err ? c.err_buf : c.out_buf;
    if (!pending.empty()) emit(c, is_err, pending + "\n");
    pending.clear();
  }

  const LaunchOptions& o_;
  int port_, attempt_;
  std::vector<Child> children_;
  Child* failed_ = nullptr;
};

}  // namespace

int launch(const LaunchOptions& o) {
  if (o.command.empty()) {
    std::cerr << "anneal launch: no program given (anneal launch --nproc-per-node N -- program args...)" << std::endl;
    return 2;
  }
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  const int port = o.master_port > 0 ? o.master_port : (o.nnodes == 1 ? free_port() : 29500);
  const int interval_ms = std::max(1, static_cast<int>(o.monitor_interval * 1000));
  for (int attempt = 0;; ++attempt) {
    Group g(o, port, attempt);
    if (!g.start()) {
      g.stop(o.stop_grace);
      return 1;
    }
    Child* failed = nullptr;
    while (!g.all_exited()) {
      g.pump(interval_ms);
      if (g_signal) {
        const int sig = g_signal;
        std::cerr << "anneal launch: got " << strsignal(sig) << ", stopping the ranks" << std::endl;
        g.signal_all(sig);
        g.stop(o.stop_grace);
        return 128 + sig;
      }
      failed = g.reap();
      if (failed) break;
    }
    if (!failed) {
      for (auto& c : g.children())
        if (shell_status(c.status) != 0) failed = const_cast<Child*>(&c);
      if (!failed) return 0;
    }
    const int rank = failed->rank, status = failed->status;
    std::cerr << "anneal launch: rank " << rank << " (pid " << failed->pid << ") failed with " << describe_status(status)
              << "; stopping the other ranks" << std::endl;
    g.stop(o.stop_grace);
    if (attempt >= o.max_restarts) {
      if (o.max_restarts > 0)
        std::cerr << "anneal launch: giving up after " << o.max_restarts << " restart(s)" << std::endl;
      return shell_status(status);
    }
    std::cerr << "anneal launch: restarting the group (restart " << attempt + 1 << " of " << o.max_restarts << ")"
              << std::endl;
  }
}

}  // namespace anneal::tools
