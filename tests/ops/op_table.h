#pragma once
// Maps the op names of tests/ops/golden.py onto anneal calls. One table serves the
// PyTorch comparison and the finite-difference gradient checks.
#include <functional>
#include <map>
#include <string>

#include "anneal.h"

namespace anneal::test {

struct Kw {
  std::map<std::string, std::string> values;
  bool has(const std::string& k) const { return values.count(k) > 0; }
  const std::string& s(const std::string& k) const;
  double d(const std::string& k) const { return std::stod(s(k)); }
  double d(const std::string& k, double def) const { return has(k) ? d(k) : def; }
  int64_t i(const std::string& k) const { return std::stoll(s(k)); }
  int64_t i(const std::string& k, int64_t def) const { return has(k) ? i(k) : def; }
  IntList list(const std::string& k) const;  // "1,2,3"
};

using OpFn = std::function<Tensor(const TensorList&, const Kw&)>;
const std::map<std::string, OpFn>& op_table();

}  // namespace anneal::test
