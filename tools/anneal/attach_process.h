#pragma once
// Starting a recorded run's supervisor (`anneal _attach ID`) as a child process: what
// sweeps and pipelines do for each trial and step.
#include <sys/types.h>

#include <map>
#include <string>

#include "tools/anneal/run_command.h"

namespace anneal::tools {

// This program's path (/proc/self/exe).
std::string self_exe();

// Forks `anneal _attach ID --quiet` with its stdin and stdout on /dev/null (the run's logs
// have its output), SIGINT ignored (the parent decides what a Ctrl-C stops), and `env`
// added to its environment.
pid_t spawn_attach(const std::string& id, const RegistryArgs& reg, const std::map<std::string, std::string>& env = {});

}  // namespace anneal::tools
