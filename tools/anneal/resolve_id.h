#pragma once
// A run named on the command line: its full id, a unique prefix of it, or its unique name.
#include <string>

#include "tracking/registry.h"

namespace anneal::tools {

// ValueError listing the candidates when `text` matches none or several.
std::string resolve_run_id(tracking::Registry& registry, const std::string& text);

}  // namespace anneal::tools
