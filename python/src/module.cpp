// The `anneal._C` extension module: anneal's C++ core for Python. Errors cross as Python
// exceptions of matching kinds with the C++ message intact.
#include <filesystem>
#include <ios>
#include <stdexcept>

#include "common.h"

namespace anneal::python {

PYBIND11_MODULE(_C, m) {
  m.doc() = "anneal's C++ core";
  m.attr("__version__") = ANNEAL_VERSION;  // project(anneal VERSION ...) in CMakeLists.txt
  // anneal.OutOfMemoryError: a RuntimeError, as torch.cuda.OutOfMemoryError is.
  static py::handle oom = PyErr_NewExceptionWithDoc("anneal.OutOfMemoryError",
                                                    "An allocation the device or anneal's size limit refused.",
                                                    PyExc_RuntimeError, nullptr);
  m.attr("OutOfMemoryError") = oom;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const OutOfMemoryError& e) {
      PyErr_SetString(oom.ptr(), e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const std::filesystem::filesystem_error& e) {  // foreign exceptions keep their message
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const std::ios_base::failure& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const std::length_error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const std::out_of_range& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    }
  });
  bind_tensor(m);
  bind_functions(m);
  bind_nn(m);
  bind_dlpack(m);
  bind_data(m);
  bind_train(m);
  bind_cuda(m);
  bind_distributed(m);
  bind_tracking(m);
  m.def("memory_allocated", [](const std::string& device) { return allocator_for(Device(device))->stats().allocated_bytes; },
        py::arg("device") = "cpu", "bytes held by live tensors on the device");
  m.def("set_num_threads", &set_num_threads);
  m.def("get_num_threads", &get_num_threads);
}

}  // namespace anneal::python
