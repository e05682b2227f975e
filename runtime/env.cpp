#include "runtime/env.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace anneal {

bool env_switch(const char* name, bool default_on) {
  const char* e = std::getenv(name);
  if (!e) return default_on;
  std::string v(e);
  for (char& c : v) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  std::fprintf(stderr, "anneal: ignoring %s='%s' (expected 1 or 0); it stays %s\n", name, e, default_on ? "on" : "off");
  return default_on;
}

}  // namespace anneal
