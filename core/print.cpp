// Printing in PyTorch's format: `tensor([[1., 2.],\n        [3., 4.]], dtype=anneal.float64)`.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/tensor_impl.h"

namespace anneal {
namespace {

constexpr int64_t kSummarizeThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

enum class FloatMode { Integer, Fixed, Scientific };

struct Formatter {
  DType dtype;
  FloatMode mode = FloatMode::Fixed;
  int width = 1;

  std::string format(double v) const {
    char buf[64];
    if (dtype == DType::Bool) return v != 0 ? "True" : "False";
    if (!is_floating(dtype)) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
      return buf;
    }
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (mode == FloatMode::Integer) std::snprintf(buf, sizeof buf, "%.0f.", v);
    else if (mode == FloatMode::Scientific) std::snprintf(buf, sizeof buf, "%.4e", v);
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
  }
  std::string padded(double v) const {
    std::string s = format(v);
    return std::string(width > int(s.size()) ? size_t(width) - s.size() : 0, ' ') + s;
  }
};

double read_as_double(const Tensor& t, int64_t offset_elems) {
  const char* base = static_cast<const char*>(t.impl()->data());
  return ANNEAL_DISPATCH_ALL(t.dtype(), "print", [&]() -> double {
    return double(compute_t<scalar_t>(reinterpret_cast<const scalar_t*>(base)[offset_elems]));
  });
}

// Visits the printed elements (with summarisation) and calls f(offset_in_elements).
template <typename F>
void for_printed(const Tensor& t, bool summarize, int64_t dim, int64_t off, F&& f) {
  if (dim == t.dim()) return f(off);
  int64_t n = t.size(dim);
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) i = n - kEdgeItems;
    for_printed(t, summarize, dim + 1, off + i * t.stride(dim), f);
  }
}

void print_rec(std::ostream& os, const Tensor& t, const Formatter& fmt, bool summarize, int64_t dim, int64_t off,
               int indent) {
  if (dim == t.dim()) {
    os << fmt.padded(read_as_double(t, off));
    return;
  }
  int64_t n = t.size(dim);
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      if (dim + 1 == t.dim()) os << "...";
      else os << "...";
      os << (dim + 1 == t.dim() ? ", " : ",\n" + std::string(size_t(indent + 1), ' '));
      i = n - kEdgeItems;
    }
    print_rec(os, t, fmt, summarize, dim + 1, off + i * t.stride(dim), indent + 1);
    if (i + 1 < n) {
      if (dim + 1 == t.dim()) os << ", ";
      else os << ',' << std::string(size_t(t.dim() - dim - 1), '\n') << std::string(size_t(indent + 1), ' ');
    }
  }
  os << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  Tensor t = device().is_cpu() ? *this : cpu();
  std::ostringstream os;
  const std::string prefix = "tensor(";
  bool summarize = t.numel() > kSummarizeThreshold;
  Formatter fmt{t.dtype()};
  if (t.numel() > 0) {
    bool all_int = true;
    double max_abs = 0, min_abs = INFINITY;
    for_printed(t, summarize, 0, 0, [&](int64_t off) {
      double v = read_as_double(t, off);
      if (!std::isfinite(v)) return;
      if (v != std::floor(v)) all_int = false;
      max_abs = std::max(max_abs, std::fabs(v));
      if (v != 0) min_abs = std::min(min_abs, std::fabs(v));
    });
    if (is_floating(t.dtype())) {
      if (all_int) fmt.mode = max_abs > 1e8 ? FloatMode::Scientific : FloatMode::Integer;
      else if (max_abs > 1e8 || (min_abs < 1e-4 && min_abs > 0) || (min_abs < INFINITY && max_abs / min_abs > 1000))
        fmt.mode = FloatMode::Scientific;
    }
    for_printed(t, summarize, 0, 0,
                [&](int64_t off) { fmt.width = std::max(fmt.width, int(fmt.format(read_as_double(t, off)).size())); });
  }
  os << prefix;
  if (t.numel() == 0 && t.dim() != 1) {
    os << "[], size=(";
    for (int64_t i = 0; i < t.dim(); ++i) os << (i ? ", " : "") << t.size(i);
    os << (t.dim() == 1 ? ",)" : ")");
  } else {
    print_rec(os, t, fmt, summarize, 0, 0, int(prefix.size()));
  }
  if (!device().is_cpu()) os << ", device='" << device().str() << "'";
  DType d = dtype();
  bool default_dtype = d == default_float_dtype() || d == DType::Int64 || d == DType::Bool;
  if (!default_dtype) os << ", dtype=anneal." << dtype_name(d);
  if (auto fn = grad_fn()) os << ", grad_fn=<" << fn->name() << '>';
  else if (requires_grad()) os << ", requires_grad=True";
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace anneal
