#include "tools/anneal/resolve_id.h"

#include "core/error.h"

namespace anneal::tools {

std::string resolve_run_id(tracking::Registry& registry, const std::string& text) {
  ANNEAL_CHECK(!text.empty(), ValueError, "no run id given");
  if (registry.get_run(text)) return text;
  auto ids = registry.find_ids(text, 6);
  if (ids.size() == 1) return ids[0];
  if (ids.empty()) {
    std::vector<std::string> by_name;
    for (auto& r : registry.list_runs())
      if (r.name == text) by_name.push_back(r.id);
    if (by_name.size() == 1) return by_name[0];
    if (by_name.empty()) throw ValueError(str("no run '", text, "' (not an id, an id's beginning or a run's name)"));
    ids = by_name;
  }
  std::string list;
  for (auto& i : ids) list += " " + i;
  throw ValueError(str("'", text, "' names several runs:", list, ids.size() >= 6 ? " ..." : "", "; give more of the id"));
}

}  // namespace anneal::tools
