#pragma once
// `anneal runs list|show|compare|logs|cancel|rm|export`: reading the registry and the run
// folders. Every command first marks runs whose process is gone as failed.
#include <string>
#include <vector>

#include "tools/anneal/run_command.h"

namespace anneal::tools {

struct ListArgs {
  std::string experiment, status, where, sort;
  bool json = false;
  int limit = 0;
};

int runs_list(const RegistryArgs& reg, const ListArgs& a);
int runs_show(const RegistryArgs& reg, const std::string& id, bool json);
int runs_compare(const RegistryArgs& reg, const std::vector<std::string>& ids);
int runs_logs(const RegistryArgs& reg, const std::string& id, bool follow, bool stderr_only);
int runs_cancel(const RegistryArgs& reg, const std::string& id);
int runs_rm(const RegistryArgs& reg, const std::vector<std::string>& ids, bool yes);
int runs_export(const RegistryArgs& reg, const std::string& id, const std::string& format, const std::string& out);

}  // namespace anneal::tools
