#include "tools/anneal/attach_process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"

namespace anneal::tools {

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "anneal" : p.string();
}

pid_t spawn_attach(const std::string& id, const RegistryArgs& reg, const std::map<std::string, std::string>& env) {
  const std::string exe = self_exe();
  std::vector<std::string> args = {exe, "_attach", id, "--runs-dir", reg.root(), "--tracking-uri", reg.uri(), "--quiet"};
  const pid_t pid = ::fork();
  if (pid < 0) throw ValueError(str("anneal: fork: ", std::strerror(errno)));
  if (pid == 0) {
    for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    signal(SIGINT, SIG_IGN);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace anneal::tools
