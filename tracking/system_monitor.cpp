#include "tracking/system_monitor.h"

#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

namespace anneal::tracking {
namespace {

struct ProcStat {
  int pid = 0, ppid = 0, pgrp = 0;
  double cpu_s = 0;  // utime + stime
  int64_t threads = 0, rss_pages = 0;
};

bool read_stat(int pid, ProcStat& out) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(f, text)) return false;
  const auto close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> v;
  std::string x;
  while (rest >> x) v.push_back(x);
  if (v.size() < 22) return false;
  // fields after the name, from 3: state ppid pgrp ... utime(14) stime(15) ... num_threads(20) ... rss(24)
  static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  out.pid = pid;
  out.ppid = std::atoi(v[1].c_str());
  out.pgrp = std::atoi(v[2].c_str());
  out.cpu_s = (std::atof(v[11].c_str()) + std::atof(v[12].c_str())) / tick;
  out.threads = std::atoll(v[17].c_str());
  out.rss_pages = std::atoll(v[21].c_str());
  return v[0] != "Z";
}

std::pair<int64_t, int64_t> read_io(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  int64_t value, rd = 0, wr = 0;
  while (f >> key >> value) {
    if (key == "read_bytes:") rd = value;
    if (key == "write_bytes:") wr = value;
  }
  return {rd, wr};
}

std::pair<int64_t, int64_t> read_net() {
  std::ifstream f("/proc/net/dev");
  std::string line;
  int64_t rx = 0, tx = 0;
  while (std::getline(f, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name == "lo") continue;
    std::istringstream in(line.substr(colon + 1));
    int64_t v[16] = {0};
    for (int i = 0; i < 16 && in >> v[i]; ++i) {
    }
    rx += v[0];
    tx += v[8];
  }
  return {rx, tx};
}

// NVML, opened at run time (the machine's driver brings it; none: no GPU rows).
struct Nvml {
  using Init = int (*)();
  using Count = int (*)(unsigned*);
  using Handle = int (*)(unsigned, void**);
  using Util = int (*)(void*, unsigned*);  // nvmlUtilization_t {gpu, memory}
  using Mem = int (*)(void*, unsigned long long*);  // nvmlMemory_t {total, free, used}
  using Power = int (*)(void*, unsigned*);
  using Temp = int (*)(void*, int, unsigned*);
  void* lib = nullptr;
  Count count = nullptr;
  Handle handle = nullptr;
  Util util = nullptr;
  Mem mem = nullptr;
  Power power = nullptr;
  Temp temp = nullptr;
  bool ok = false;
  Nvml() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    auto init = reinterpret_cast<Init>(dlsym(lib, "nvmlInit_v2"));
    count = reinterpret_cast<Count>(dlsym(lib, "nvmlDeviceGetCount_v2"));
    handle = reinterpret_cast<Handle>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
    util = reinterpret_cast<Util>(dlsym(lib, "nvmlDeviceGetUtilizationRates"));
    mem = reinterpret_cast<Mem>(dlsym(lib, "nvmlDeviceGetMemoryInfo"));
    power = reinterpret_cast<Power>(dlsym(lib, "nvmlDeviceGetPowerUsage"));
    temp = reinterpret_cast<Temp>(dlsym(lib, "nvmlDeviceGetTemperature"));
    ok = init && count && handle && util && mem && power && temp && init() == 0;
  }
  ~Nvml() {
    if (ok)
      if (auto shutdown = reinterpret_cast<Init>(dlsym(lib, "nvmlShutdown"))) shutdown();
    if (lib) dlclose(lib);
  }
};

}  // namespace

struct SystemMonitor::State {
  int root = 0;
  std::chrono::steady_clock::time_point last_time;
  std::map<int, double> cpu;  // per process: its CPU seconds at the last sample
  std::map<int, std::pair<int64_t, int64_t>> io;
  std::pair<int64_t, int64_t> net{0, 0};
  bool first = true;
  Nvml nvml;
};

SystemMonitor::SystemMonitor(int root_pid) : s_(std::make_unique<State>()) {
  s_->root = root_pid;
  s_->last_time = std::chrono::steady_clock::now();
  s_->net = read_net();
}
SystemMonitor::~SystemMonitor() = default;

std::map<std::string, double> SystemMonitor::sample() {
  // the program's processes: its group, and every descendant (ranks may start groups of their own)
  std::vector<ProcStat> all;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      const int pid = std::atoi(e->d_name);
      ProcStat st;
      if (pid > 0 && read_stat(pid, st)) all.push_back(st);
    }
    closedir(d);
  }
  std::set<int> mine{s_->root};
  for (bool grew = true; grew;) {
    grew = false;
    for (auto& p : all)
      if (!mine.count(p.pid) && (mine.count(p.ppid) || p.pgrp == s_->root)) grew = mine.insert(p.pid).second || grew;
  }
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::max(1e-3, std::chrono::duration<double>(now - s_->last_time).count());
  s_->last_time = now;
  double cpu = 0, rss = 0, threads = 0, procs = 0, rd = 0, wr = 0;
  std::map<int, double> cpu_now;
  std::map<int, std::pair<int64_t, int64_t>> io_now;
  static const double page_mb = static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
  for (auto& p : all) {
    if (!mine.count(p.pid)) continue;
    ++procs;
    threads += double(p.threads);
    rss += double(p.rss_pages) * page_mb;
    auto prev = s_->cpu.find(p.pid);
    cpu += p.cpu_s - (prev == s_->cpu.end() ? (s_->first ? p.cpu_s : 0.0) : prev->second);
    cpu_now[p.pid] = p.cpu_s;
    auto io = read_io(p.pid);
    auto pio = s_->io.find(p.pid);
    if (pio != s_->io.end()) {
      rd += double(io.first - pio->second.first);
      wr += double(io.second - pio->second.second);
    }
    io_now[p.pid] = io;
  }
  s_->cpu = std::move(cpu_now);
  s_->io = std::move(io_now);
  auto net = read_net();
  std::map<std::string, double> m = {
      {"system/cpu_percent", s_->first ? 0.0 : 100.0 * cpu / dt},
      {"system/rss_mb", rss},
      {"system/threads", threads},
      {"system/processes", procs},
      {"system/disk_read_mb_s", rd / dt / (1 << 20)},
      {"system/disk_write_mb_s", wr / dt / (1 << 20)},
      {"system/net_recv_mb_s", double(net.first - s_->net.first) / dt / (1 << 20)},
      {"system/net_sent_mb_s", double(net.second - s_->net.second) / dt / (1 << 20)},
  };
  s_->net = net;
  s_->first = false;
  if (s_->nvml.ok) {
    unsigned n = 0;
    if (s_->nvml.count(&n) == 0) {
      for (unsigned i = 0; i < n && i < 64; ++i) {
        void* h = nullptr;
        if (s_->nvml.handle(i, &h) != 0) continue;
        const std::string k = "system/gpu" + std::to_string(i) + "_";
        unsigned u[2] = {0, 0}, mw = 0, t = 0;
        unsigned long long mem[3] = {0, 0, 0};
        if (s_->nvml.util(h, u) == 0) m[k + "utilization"] = u[0];
        if (s_->nvml.mem(h, mem) == 0) m[k + "memory_mb"] = double(mem[2]) / (1 << 20);
        if (s_->nvml.power(h, &mw) == 0) m[k + "power_w"] = mw / 1000.0;
        if (s_->nvml.temp(h, 0, &t) == 0) m[k + "temperature_c"] = t;
      }
    }
  }
  return m;
}

}  // namespace anneal::tracking
