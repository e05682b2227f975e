#include "core/dtype.h"

#include <atomic>

namespace anneal {

size_t element_size(DType t) {
  switch (t) {
    case DType::Bool:
    case DType::UInt8: return 1;
    case DType::Float16:
    case DType::BFloat16: return 2;
    case DType::Int32:
    case DType::Float32: return 4;
    case DType::Int64:
    case DType::Float64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::UInt8: return "uint8";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  if (n == "bool") return DType::Bool;
  if (n == "uint8") return DType::UInt8;
  if (n == "int32" || n == "int") return DType::Int32;
  if (n == "int64" || n == "long") return DType::Int64;
  if (n == "float16" || n == "half") return DType::Float16;
  if (n == "bfloat16") return DType::BFloat16;
  if (n == "float32" || n == "float") return DType::Float32;
  if (n == "float64" || n == "double") return DType::Float64;
  throw TypeError(str("unknown dtype name '", n, "'"));
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  // float16 with bfloat16 has no exact common 16-bit type: PyTorch gives float32.
  if ((a == DType::Float16 && b == DType::BFloat16) || (a == DType::BFloat16 && b == DType::Float16))
    return DType::Float32;
  // Otherwise the enum order is the promotion order (bool < uint8 < int32 < int64 <
  // half types < float32 < float64).
  return a > b ? a : b;
}

static std::atomic<DType> g_default_float{DType::Float32};
DType default_float_dtype() { return g_default_float.load(); }
void set_default_float_dtype(DType t) {
  ANNEAL_CHECK(is_floating(t), TypeError, "set_default_float_dtype: expected a floating dtype, got ",
               dtype_name(t));
  g_default_float = t;
}

}  // namespace anneal
