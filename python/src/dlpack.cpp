// DLPack: tensors pass to and from PyTorch, NumPy and other frameworks without copies
// (CPU memory for now). The exported capsule owns a reference to the tensor; an imported
// tensor calls the producer's deleter when anneal drops its last reference.
#include <dlpack/dlpack.h>

#include "common.h"

namespace anneal::python {

namespace {

DLDataType dl_dtype(DType dt) {
  switch (dt) {
    case DType::Float32: return {kDLFloat, 32, 1};
    case DType::Float64: return {kDLFloat, 64, 1};
    case DType::Float16: return {kDLFloat, 16, 1};
    case DType::BFloat16: return {kDLBfloat, 16, 1};
    case DType::Int64: return {kDLInt, 64, 1};
    case DType::Int32: return {kDLInt, 32, 1};
    case DType::UInt8: return {kDLUInt, 8, 1};
    default: break;
  }
  throw TypeError(str("__dlpack__: anneal.", dtype_name(dt), " has no DLPack type in this version; convert it first"));
}

DType from_dl_dtype(DLDataType t) {
  ANNEAL_CHECK(t.lanes == 1, TypeError, "from_dlpack: vector types (lanes = ", t.lanes, ") are not supported");
  if (t.code == kDLFloat && t.bits == 32) return DType::Float32;
  if (t.code == kDLFloat && t.bits == 64) return DType::Float64;
  if (t.code == kDLFloat && t.bits == 16) return DType::Float16;
  if (t.code == kDLBfloat && t.bits == 16) return DType::BFloat16;
  if (t.code == kDLInt && t.bits == 64) return DType::Int64;
  if (t.code == kDLInt && t.bits == 32) return DType::Int32;
  if (t.code == kDLUInt && t.bits == 8) return DType::UInt8;
  if (t.code == 6 && t.bits == 8) return DType::Bool;  // kDLBool (DLPack 0.8)
  throw TypeError(str("from_dlpack: unsupported DLPack type (code ", int(t.code), ", ", int(t.bits), " bits)"));
}

struct Export {
  Tensor tensor;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed{};
};

}  // namespace

py::capsule to_dlpack(const Tensor& t) {
  ANNEAL_CHECK(t.device().is_cpu(), NotImplementedError, "__dlpack__: only CPU tensors so far");
  auto* e = new Export{t.detach(), {}, {}, {}};
  for (int64_t d = 0; d < t.dim(); ++d) e->shape.push_back(t.size(d)), e->strides.push_back(t.stride(d));
  DLTensor& dl = e->managed.dl_tensor;
  dl.data = t.numel() ? t.data_ptr() : nullptr;
  dl.device = {kDLCPU, 0};
  dl.ndim = int(t.dim());
  dl.dtype = dl_dtype(t.dtype());
  dl.shape = e->shape.data();
  dl.strides = e->strides.data();
  dl.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = [](DLManagedTensor* m) { delete static_cast<Export*>(m->manager_ctx); };
  // A capsule nobody consumed still owns the tensor; a consumer renames it "used_dltensor".
  return py::capsule(&e->managed, "dltensor", [](PyObject* cap) {
    if (PyCapsule_IsValid(cap, "dltensor")) {
      auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
      if (m && m->deleter) m->deleter(m);
    } else {
      PyErr_Clear();
    }
  });
}

Tensor from_dlpack(py::object obj) {
  py::object cap = py::hasattr(obj, "__dlpack__") ? obj.attr("__dlpack__")() : obj;
  ANNEAL_CHECK(PyCapsule_IsValid(cap.ptr(), "dltensor"), TypeError,
               "from_dlpack: expected an object with __dlpack__ or an unused DLPack capsule");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  const DLTensor& dl = m->dl_tensor;
  ANNEAL_CHECK(dl.device.device_type == kDLCPU, NotImplementedError, "from_dlpack: only CPU memory so far (device type ",
               int(dl.device.device_type), ")");
  const DType dt = from_dl_dtype(dl.dtype);
  Shape shape, strides;
  for (int d = 0; d < dl.ndim; ++d) shape.push_back(dl.shape[d]);
  if (dl.strides) {
    for (int d = 0; d < dl.ndim; ++d) strides.push_back(dl.strides[d]);
  }
  char* data = static_cast<char*>(dl.data) + dl.byte_offset;
  Tensor t = from_blob(data, shape, dt, strides, [m](void*) {
    if (m->deleter) m->deleter(m);
  });
  PyCapsule_SetName(cap.ptr(), "used_dltensor");
  return t;
}

void bind_dlpack(py::module_& m) {
  m.def("from_dlpack", &from_dlpack, py::arg("ext_tensor"),
        "a tensor sharing the memory of any object with __dlpack__ (PyTorch, NumPy) or a DLPack capsule");
  py::class_<Tensor>(m.attr("Tensor"))
      .def("__dlpack__", [](const Tensor& t, py::object stream) { return to_dlpack(t); }, py::arg("stream") = py::none())
      .def("__dlpack_device__", [](const Tensor& t) { return py::make_tuple(int(kDLCPU), 0); });
}

}  // namespace anneal::python
