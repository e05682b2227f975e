#include "kernels/backend.h"

#include "core/error.h"
#include "kernels/elementwise_math.h"
#include "kernels/cpu/cpu_backend.h"
#ifdef ANNEAL_WITH_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace anneal {

Backend& backend_for(Device d) {
  if (d.is_cpu()) return cpu::cpu_backend();
  require_device(d);
#ifdef ANNEAL_WITH_CUDA
  return cuda::backend(d.index);
#else
  throw DeviceError(str("cannot use ", d.str(), ": anneal was built without CUDA support"));
#endif
}

namespace math {

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Expm1: return "expm1";
    case UnaryOp::Log: return "log";
    case UnaryOp::Log1p: return "log1p";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Rsqrt: return "rsqrt";
    case UnaryOp::Reciprocal: return "reciprocal";
    case UnaryOp::Square: return "square";
    case UnaryOp::Sin: return "sin";
    case UnaryOp::Cos: return "cos";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::LeakyRelu: return "leaky_relu";
    case UnaryOp::Gelu: return "gelu";
    case UnaryOp::GeluTanh: return "gelu(approximate='tanh')";
    case UnaryOp::Silu: return "silu";
    case UnaryOp::Softplus: return "softplus";
    case UnaryOp::Sign: return "sign";
    case UnaryOp::PowScalar: return "pow";
    case UnaryOp::Clamp: return "clamp";
    case UnaryOp::Floor: return "floor";
    case UnaryOp::Ceil: return "ceil";
    case UnaryOp::Round: return "round";
    case UnaryOp::Erf: return "erf";
    case UnaryOp::LogicalNot: return "logical_not";
    case UnaryOp::IsNan: return "isnan";
    case UnaryOp::GeluGrad: return "gelu backward";
  }
  return "unary op";
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Pow: return "pow";
    case BinaryOp::Maximum: return "maximum";
    case BinaryOp::Minimum: return "minimum";
    case BinaryOp::Atan2: return "atan2";
    case BinaryOp::ReluGrad: return "relu backward";
    case BinaryOp::Eq: return "eq";
    case BinaryOp::Ne: return "ne";
    case BinaryOp::Lt: return "lt";
    case BinaryOp::Le: return "le";
    case BinaryOp::Gt: return "gt";
    case BinaryOp::Ge: return "ge";
    case BinaryOp::LogicalAnd: return "logical_and";
    case BinaryOp::LogicalOr: return "logical_or";
  }
  return "binary op";
}

}  // namespace math

}  // namespace anneal
