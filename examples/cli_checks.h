#pragma once
// Argument checks the examples share (CLI11 validators with plain messages).
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

namespace examples {

// A whole number >= min ("--epochs must be a whole number >= 1, got '-1'").
inline CLI::Validator whole_number_at_least(long long min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || errno == ERANGE || v < min)
          return "must be a whole number >= " + std::to_string(min) + ", got '" + s + "'";
        return "";
      },
      "INT>=" + std::to_string(min));
}

// A finite number >= min.
inline CLI::Validator number_at_least(double min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !(v >= min) || v == HUGE_VAL)
          return "must be a number >= " + std::to_string(min) + ", got '" + s + "'";
        return "";
      },
      "NUM>=" + std::to_string(min));
}

// Parses or exits: --help prints and exits 0; a bad argument prints what is wrong, exit 2.
inline void parse_or_exit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    std::exit(code == 0 ? 0 : 2);
  }
}

}  // namespace examples
