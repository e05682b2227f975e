#pragma once
// Reads the cases written by tests/ops/golden.py.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/tensor_impl.h"
#include "op_table.h"

namespace anneal::test {

struct TensorData {
  DType dtype = DType::Float64;
  Shape shape;
  std::vector<double> values;
  bool noncontig = false;
  bool requires_grad = false;

  // The tensor these values describe; `noncontig` builds it as a transposed view.
  Tensor make(std::optional<DType> as = {}) const {
    DType dt = as.value_or(dtype);
    Tensor t = tensor(values, shape.empty() ? Shape{} : shape, TensorOptions(DType::Float64));
    if (shape.empty()) t = t.reshape({});
    t = t.to(dt);
    if (noncontig && t.dim() >= 2) t = t.mT().contiguous().mT();
    return t.detach();
  }
};

struct GoldenCase {
  std::string name, op;
  Kw kw;
  std::vector<TensorData> inputs;
  TensorData output;
  std::optional<TensorData> cotangent;
  std::map<size_t, TensorData> grads;
};

// gtest prints a parameter with this instead of its bytes.
inline void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name << " (" << c.op << ")"; }

inline TensorData parse_tensor(std::istringstream& in, bool with_flags) {
  TensorData t;
  std::string dt;
  in >> dt;
  t.dtype = dtype_from_name(dt);
  if (with_flags) in >> t.noncontig >> t.requires_grad;
  size_t nd;
  in >> nd;
  t.shape.resize(nd);
  for (auto& s : t.shape) in >> s;
  std::string v;
  while (in >> v) t.values.push_back(std::stod(v));  // stod reads inf and nan
  return t;
}

inline std::vector<GoldenCase> load_golden_cases() {
  std::vector<GoldenCase> cases;
  std::ifstream f(ANNEAL_GOLDEN_FILE);
  if (!f) throw std::runtime_error(std::string("cannot open golden file ") + ANNEAL_GOLDEN_FILE);
  std::string line;
  GoldenCase c;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "case") {
      c = GoldenCase();
      size_t n;
      in >> c.name >> c.op >> n;
    } else if (tag == "kw") {
      std::string k, v;
      in >> k >> v;
      c.kw.values[k] = v;
    } else if (tag == "input") {
      c.inputs.push_back(parse_tensor(in, true));
    } else if (tag == "output") {
      c.output = parse_tensor(in, false);
    } else if (tag == "cotangent") {
      c.cotangent = parse_tensor(in, false);
    } else if (tag.rfind("grad", 0) == 0) {
      c.grads[std::stoul(tag.substr(4))] = parse_tensor(in, false);
    } else if (tag == "end") {
      cases.push_back(c);
    }
  }
  return cases;
}

inline const std::vector<GoldenCase>& golden_cases() {
  static const std::vector<GoldenCase> cases = load_golden_cases();
  return cases;
}

struct Tol {
  double rtol, atol;
};
using TolFn = Tol (*)(DType);

// got (any device) against the reference values: shape, dtype, then every element within
// tol(dtype); NaN matches NaN and an infinity itself.
inline ::testing::AssertionResult matches(const char* what, const Tensor& got, const TensorData& want, TolFn tol_of) {
  if (got.sizes() != want.shape)
    return ::testing::AssertionFailure() << what << ": shape " << got.shape_str() << " != expected "
                                         << shape_to_string(want.shape);
  if (got.dtype() != want.dtype)
    return ::testing::AssertionFailure() << what << ": dtype " << dtype_name(got.dtype()) << " != expected "
                                         << dtype_name(want.dtype);
  Tensor g = got.detach().cpu().to(DType::Float64).contiguous();
  const double* p = g.data_ptr<double>();
  const Tol tol = tol_of(want.dtype);
  for (size_t i = 0; i < want.values.size(); ++i) {
    const double a = p[i], b = want.values[i];
    if (std::isnan(a) && std::isnan(b)) continue;
    if (std::isinf(b) && a == b) continue;
    if (!(std::fabs(a - b) <= tol.atol + tol.rtol * std::fabs(b)))
      return ::testing::AssertionFailure() << what << ": element " << i << " is " << a << ", expected " << b
                                           << "\n got: " << got.cpu();
  }
  return ::testing::AssertionSuccess();
}

// A golden input on `device`: on the CPU as made; on a GPU copied there with the same
// transposed layout (a non-contiguous input stays non-contiguous on the device).
inline Tensor place(const TensorData& d, Device device) {
  if (device.is_cpu()) return d.make();
  TensorData c = d;
  c.noncontig = false;
  Tensor t = c.make().to(device);
  if (d.noncontig && t.dim() >= 2) t = t.mT().contiguous().mT();
  return t.detach();
}

// The one body of the golden test on every device: the op's output, and each input's
// gradient for the case's cotangent, against PyTorch's values, on `device`.
inline void check_golden_case(const GoldenCase& c, Device device, TolFn tolerance) {
  auto it = op_table().find(c.op);
  ASSERT_NE(it, op_table().end()) << "op '" << c.op << "' has no entry in tests/ops/op_table.cpp";
  auto on_device_and_matches = [&](const char* what, const Tensor& got, const TensorData& want) {
    if (got.device() != device) return ::testing::AssertionFailure() << what << ": on " << got.device().str();
    return matches(what, got, want, tolerance);
  };
  TensorList inputs;
  for (const auto& in : c.inputs) {
    Tensor t = place(in, device);
    if (in.requires_grad) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  Tensor out = it->second(inputs, c.kw);
  EXPECT_TRUE(on_device_and_matches("output", out, c.output));
  if (!c.cotangent) return;
  ASSERT_TRUE(out.requires_grad()) << "output does not require grad";
  out.backward(place(*c.cotangent, device));
  for (const auto& [i, g] : c.grads) {
    ASSERT_TRUE(inputs[i].grad().defined()) << "input " << i << " received no gradient";
    EXPECT_TRUE(on_device_and_matches(("grad of input " + std::to_string(i)).c_str(), inputs[i].grad(), g));
  }
}

}  // namespace anneal::test
