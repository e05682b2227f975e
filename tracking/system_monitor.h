#pragma once
// What a run's processes use, sampled from outside them (so any program is covered, C++ or
// Python, one process or many ranks): the CPU, memory, threads and disk traffic of the
// program and every process it started (/proc), the machine's network traffic, and on
// NVIDIA GPUs their utilisation, memory, power and temperature through NVML
// (libnvidia-ml.so.1, opened at run time; without it there are no GPU rows).
#include <map>
#include <memory>
#include <string>

namespace anneal::tracking {

class SystemMonitor {
 public:
  explicit SystemMonitor(int root_pid);
  ~SystemMonitor();
  // The system/* metrics since the previous sample (rates) or now (levels):
  //   system/cpu_percent (100 = one core), system/rss_mb, system/threads, system/processes,
  //   system/disk_read_mb_s, system/disk_write_mb_s, system/net_recv_mb_s, system/net_sent_mb_s,
  //   system/gpuN_utilization, system/gpuN_memory_mb, system/gpuN_power_w, system/gpuN_temperature_c
  std::map<std::string, double> sample();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace anneal::tracking
