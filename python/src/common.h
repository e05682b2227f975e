#pragma once
// Shared pieces of the Python binding: conversions between Python values and anneal's
// Scalar / dtype / shape types.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "anneal.h"

namespace anneal::python {

namespace py = pybind11;

// A Python bool / int / float as a Scalar (kinds kept, as PyTorch's wrapped numbers);
// anything else is a TypeError naming `what`.
Scalar to_scalar(py::handle v, const char* what);
bool is_scalar(py::handle v);
// The Python type name of v ("str", "list", ...), for error messages.
std::string type_name(py::handle v);
// A Tensor, or a Python number wrapped as a 0-dim tensor on `like`'s device.
Tensor as_tensor(py::handle v, const Tensor& like, const char* what);
// Dims given as an int, a tuple/list of ints, or *args.
IntList to_int_list(py::handle v, const char* what);
// GELU's `approximate`: "none" or "tanh" (anything else is a ValueError, as in PyTorch).
inline bool gelu_uses_tanh(const std::string& approximate) {
  ANNEAL_CHECK(approximate == "none" || approximate == "tanh", ValueError,
               "gelu: approximate argument must be either none or tanh, got '", approximate, "'");
  return approximate == "tanh";
}

// A Python object owned by C++ (an autograd node's backward, a tensor hook): it may be
// released by a C++ thread that does not hold the GIL, so the last owner takes it first.
// Copies share the one reference.
class SharedPyObject {
 public:
  explicit SharedPyObject(py::object o)
      : p_(new py::object(std::move(o)), [](py::object* x) {
          if (!Py_IsInitialized()) {  // the interpreter is gone: nothing left to release
            x->release();
            delete x;
            return;
          }
          py::gil_scoped_acquire gil;
          delete x;
        }) {}
  const py::object& get() const { return *p_; }

 private:
  std::shared_ptr<py::object> p_;
};

// numpy <-> anneal
DType dtype_from_numpy(const py::dtype& dt);
py::dtype numpy_dtype(DType dt);
Tensor from_numpy(py::array arr);  // shares the array's memory
bool has_native_byte_order(const py::dtype& dt);
py::array to_numpy(const Tensor& t);  // shares the tensor's memory (CPU)

void bind_tensor(py::module_& m);
void bind_functions(py::module_& m);
void bind_nn(py::module_& m);
void bind_dlpack(py::module_& m);
void bind_data(py::module_& m);
void bind_train(py::module_& m);
void bind_cuda(py::module_& m);
void bind_distributed(py::module_& m);
void bind_tracking(py::module_& m);

}  // namespace anneal::python
