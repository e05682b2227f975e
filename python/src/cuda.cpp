// anneal.cuda: device discovery, synchronisation and the caching allocator's numbers.
// Present in every build; without the CUDA backend (or a GPU) is_available() is False
// and the per-device calls raise a RuntimeError that says why.
#include "common.h"

namespace anneal::python {

namespace {

Allocator* cuda_allocator(int device) { return allocator_for(Device(DeviceType::CUDA, device)); }

}  // namespace

void bind_cuda(py::module_& m) {
  py::module_ c = m.def_submodule("cuda", "anneal.cuda");
  c.def("is_available", &cuda_is_available, "True when a CUDA device can run anneal's kernels");
  c.def("is_built", &cuda_is_built, "True when anneal was compiled with its CUDA backend");
  c.def("device_count", &cuda_device_count);
  c.def("set_allow_tf32", &cuda_set_allow_tf32, py::arg("allow"),
        "let float32 matrix products use TF32 tensor cores (faster, ~1e-3 relative error)");
  c.def("allow_tf32", &cuda_allow_tf32);
  c.def("synchronize", [](int device) { cuda_synchronize(device); }, py::arg("device") = -1,
        py::call_guard<py::gil_scoped_release>());
  c.def("memory_allocated", [](int d) { return cuda_allocator(d)->stats().allocated_bytes; }, py::arg("device") = 0);
  c.def("max_memory_allocated", [](int d) { return cuda_allocator(d)->stats().peak_allocated_bytes; },
        py::arg("device") = 0);
  c.def("memory_reserved", [](int d) { return cuda_allocator(d)->stats().reserved_bytes; }, py::arg("device") = 0);
  c.def("reset_peak_memory_stats", [](int d) { cuda_allocator(d)->reset_peak_stats(); }, py::arg("device") = 0);
  c.def("empty_cache", [] {
    for (int d = 0; d < cuda_device_count(); ++d) cuda_allocator(d)->empty_cache();
  });
  py::class_<CudaStream>(c, "Stream")
      .def(py::init([](int device) { return CudaStream::create(device); }), py::arg("device") = 0,
           "a new stream on cuda:device")
      .def_static("default", &CudaStream::default_stream, py::arg("device") = 0)
      .def_static("current", &CudaStream::current, py::arg("device") = 0)
      .def_property_readonly("device", &CudaStream::device)
      .def("synchronize", &CudaStream::synchronize, py::call_guard<py::gil_scoped_release>())
      .def("query", &CudaStream::query)
      .def("__eq__", &CudaStream::operator==);
  py::class_<CudaStreamGuard>(c, "_StreamGuard").def(py::init<const CudaStream&>(), py::keep_alive<1, 2>());
  py::class_<CudaEvent>(c, "Event")
      .def(py::init<int, bool>(), py::arg("device") = 0, py::arg("enable_timing") = true)
      .def("record", [](CudaEvent& e, std::optional<CudaStream> s) {
        if (s) e.record(*s);
        else e.record();
      }, py::arg("stream") = py::none())
      .def("synchronize", &CudaEvent::synchronize, py::call_guard<py::gil_scoped_release>())
      .def("query", &CudaEvent::query)
      .def("wait", &CudaEvent::block, py::arg("stream"), "make `stream` wait for this event")
      .def("elapsed_time", &CudaEvent::elapsed_ms, py::arg("end"), "milliseconds from this event to `end`");
  py::class_<CudaGraph>(c, "CUDAGraph",
                        "Records this thread's work on a device between capture_begin and capture_end; replay() "
                        "runs it again with one launch (see anneal.cuda.graph)")
      .def(py::init<int>(), py::arg("device") = 0)
      .def("capture_begin", &CudaGraph::capture_begin)
      .def("capture_end", &CudaGraph::capture_end)
      .def("replay", &CudaGraph::replay, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("captured", &CudaGraph::captured)
      .def_property_readonly("device", &CudaGraph::device);
  c.def("is_current_stream_capturing", &cuda_is_capturing, py::arg("device") = 0);
  c.def("memory_stats", [](int d) {
    MemoryStats s = cuda_allocator(d)->stats();
    py::dict out;
    out["allocated_bytes"] = s.allocated_bytes;
    out["peak_allocated_bytes"] = s.peak_allocated_bytes;
    out["reserved_bytes"] = s.reserved_bytes;
    out["num_system_allocs"] = s.num_system_allocs;
    out["num_cache_hits"] = s.num_cache_hits;
    return out;
  }, py::arg("device") = 0);
}

}  // namespace anneal::python
