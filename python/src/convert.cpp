// Conversions between Python values, NumPy arrays and anneal tensors.
#include <cstring>

#include "common.h"
#include "core/tensor_impl.h"

namespace anneal::python {

std::string type_name(py::handle v) { return py::str(py::type::of(v).attr("__name__")).cast<std::string>(); }

bool is_scalar(py::handle v) {
  return py::isinstance<py::bool_>(v) || py::isinstance<py::int_>(v) || py::isinstance<py::float_>(v);
}

Scalar to_scalar(py::handle v, const char* what) {
  if (py::isinstance<py::bool_>(v)) return Scalar(v.cast<bool>());
  if (py::isinstance<py::int_>(v)) return Scalar(v.cast<int64_t>());
  if (py::isinstance<py::float_>(v)) return Scalar(v.cast<double>());
  throw TypeError(str(what, ": expected a number, got ", type_name(v)));
}

Tensor as_tensor(py::handle v, const Tensor& like, const char* what) {
  if (py::isinstance<Tensor>(v)) return v.cast<Tensor>();
  return wrapped_scalar(to_scalar(v, what), like.defined() ? like.device() : Device(kCPU));
}

IntList to_int_list(py::handle v, const char* what) {
  IntList out;
  if (py::isinstance<py::int_>(v)) {
    out.push_back(v.cast<int64_t>());
    return out;
  }
  if (py::isinstance<py::tuple>(v) || py::isinstance<py::list>(v)) {
    for (py::handle item : v) {
      ANNEAL_CHECK(py::isinstance<py::int_>(item), TypeError, what, ": expected ints, got ",
                   type_name(item));
      out.push_back(item.cast<int64_t>());
    }
    return out;
  }
  throw TypeError(str(what, ": expected an int or a sequence of ints, got ",
                      type_name(v)));
}

DType dtype_from_numpy(const py::dtype& dt) {
  switch (dt.kind()) {
    case 'f':
      if (dt.itemsize() == 4) return DType::Float32;
      if (dt.itemsize() == 8) return DType::Float64;
      if (dt.itemsize() == 2) return DType::Float16;
      break;
    case 'i':
      if (dt.itemsize() == 8) return DType::Int64;
      if (dt.itemsize() == 4) return DType::Int32;
      break;
    case 'u':
      if (dt.itemsize() == 1) return DType::UInt8;
      break;
    case 'b': return DType::Bool;
  }
  throw TypeError(str("can't convert a numpy array of dtype ", dt.attr("name").cast<std::string>(),
                      "; supported: float64, float32, float16, int64, int32, uint8 and bool"));
}

py::dtype numpy_dtype(DType dt) {
  switch (dt) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
    case DType::Float16: return py::dtype("float16");
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Int32: return py::dtype::of<int32_t>();
    case DType::UInt8: return py::dtype::of<uint8_t>();
    case DType::Bool: return py::dtype::of<bool>();
    default: break;
  }
  throw TypeError(str("numpy has no dtype for anneal.", dtype_name(dt), "; convert with .to(anneal.float32) first"));
}

bool has_native_byte_order(const py::dtype& dt) {
  const char order = dt.attr("byteorder").cast<std::string>().at(0);
  const char native = py::module_::import("sys").attr("byteorder").cast<std::string>() == "little" ? '<' : '>';
  return order == '=' || order == '|' || order == native;
}

Tensor from_numpy(py::array arr) {
  const DType dt = dtype_from_numpy(arr.dtype());
  // Sharing memory means reading it as it is: bytes of the other order would be garbage.
  ANNEAL_CHECK(has_native_byte_order(arr.dtype()), ValueError,
               "from_numpy: the array's byte order (", arr.dtype().attr("str").cast<std::string>(),
               ") is not this machine's; convert it first, e.g. arr.astype(arr.dtype.newbyteorder('='))");
  const auto itemsize = py::ssize_t(element_size(dt));
  Shape shape, strides;
  for (py::ssize_t d = 0; d < arr.ndim(); ++d) {
    ANNEAL_CHECK(arr.strides(d) % itemsize == 0, ValueError,
                 "from_numpy: strides that are not a multiple of the element size are not supported");
    shape.push_back(arr.shape(d));
    strides.push_back(arr.strides(d) / itemsize);
  }
  ANNEAL_CHECK(arr.writeable(), ValueError, "from_numpy: the array is read-only; pass a writeable copy (arr.copy())");
  // The tensor keeps the array alive; releasing it needs the GIL, which a C++ thread
  // dropping the last reference may not hold.
  auto* keep = new py::object(arr);
  return from_blob(arr.mutable_data(), shape, dt, strides, [keep](void*) {
    py::gil_scoped_acquire gil;
    delete keep;
  });
}

py::array to_numpy(const Tensor& t) {
  ANNEAL_CHECK(t.device().is_cpu(), TypeError, "can't convert ", t.device().str(),
               " tensor to numpy; use Tensor.cpu() to copy the tensor to host memory first");
  ANNEAL_CHECK(!t.requires_grad(), ValueError,
               "can't call numpy() on a tensor that requires grad; use tensor.detach().numpy() instead");
  const py::dtype dt = numpy_dtype(t.dtype());
  std::vector<py::ssize_t> shape, strides;
  for (int64_t d = 0; d < t.dim(); ++d) {
    shape.push_back(t.size(d));
    strides.push_back(t.stride(d) * py::ssize_t(t.element_size()));
  }
  // The array's base owns a reference to the tensor, so the memory outlives either side.
  auto* owner = new Tensor(t);
  py::capsule base(owner, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(dt, shape, strides, t.numel() ? t.data_ptr() : nullptr, base);
}

}  // namespace anneal::python
