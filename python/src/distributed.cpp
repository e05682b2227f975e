// anneal._C.distributed: process groups, the default group's functions and the DDP reducer.
// Everything that can wait on other ranks releases the GIL, so a waiting rank keeps its
// Python threads (and Ctrl-C handling between calls) alive.
#include "common.h"

namespace anneal::python {

namespace dist = anneal::distributed;
using GilRelease = py::call_guard<py::gil_scoped_release>;

namespace {

std::chrono::milliseconds seconds(double s) {
  ANNEAL_CHECK(s >= 0 && s < 1e9, ValueError, "timeout must be a non-negative number of seconds, got ", s);
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

}  // namespace

void bind_distributed(py::module_& root) {
  py::module_ m = root.def_submodule("distributed", "anneal._C.distributed");
  // The errors, as torch.distributed names them: DistError is a RuntimeError.
  static py::handle dist_error = PyErr_NewExceptionWithDoc(
      "anneal.distributed.DistError", "A failed collective, store operation or rendezvous.", PyExc_RuntimeError, nullptr);
  static py::handle store_error = PyErr_NewExceptionWithDoc(
      "anneal.distributed.DistStoreError", "The rendezvous store failed or timed out.", dist_error.ptr(), nullptr);
  static py::handle network_error = PyErr_NewExceptionWithDoc(
      "anneal.distributed.DistNetworkError", "A peer's connection closed.", dist_error.ptr(), nullptr);
  static py::handle timeout_error = PyErr_NewExceptionWithDoc(
      "anneal.distributed.DistTimeoutError", "An operation did not finish within its timeout.", dist_error.ptr(), nullptr);
  m.attr("DistError") = dist_error;
  m.attr("DistStoreError") = store_error;
  m.attr("DistNetworkError") = network_error;
  m.attr("DistTimeoutError") = timeout_error;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const dist::DistStoreError& e) {
      PyErr_SetString(store_error.ptr(), e.what());
    } catch (const dist::DistNetworkError& e) {
      PyErr_SetString(network_error.ptr(), e.what());
    } catch (const dist::DistTimeoutError& e) {
      PyErr_SetString(timeout_error.ptr(), e.what());
    } catch (const dist::DistError& e) {
      PyErr_SetString(dist_error.ptr(), e.what());
    }
  });

  py::enum_<dist::ReduceOp>(m, "ReduceOp")
      .value("SUM", dist::ReduceOp::Sum)
      .value("AVG", dist::ReduceOp::Avg)
      .value("PRODUCT", dist::ReduceOp::Product)
      .value("MIN", dist::ReduceOp::Min)
      .value("MAX", dist::ReduceOp::Max);

  py::class_<dist::Work, std::shared_ptr<dist::Work>>(m, "Work")
      .def("wait", [](dist::Work& w, double timeout) {
        w.wait(seconds(timeout));
        return true;
      }, py::arg("timeout") = 0.0, GilRelease(), "Blocks until done (timeout > 0: at most that many seconds)")
      .def("is_completed", &dist::Work::is_completed)
      .def("is_success", &dist::Work::is_success)
      .def_property_readonly("op", &dist::Work::op)
      .def_property_readonly("sequence_number", &dist::Work::sequence_number);

  py::class_<dist::ProcessGroup, std::shared_ptr<dist::ProcessGroup>>(m, "ProcessGroup")
      .def("rank", &dist::ProcessGroup::rank)
      .def("size", &dist::ProcessGroup::size)
      .def("backend", &dist::ProcessGroup::backend_name)
      .def_property("timeout", [](const dist::ProcessGroup& g) { return g.timeout().count() / 1000.0; },
                    [](dist::ProcessGroup& g, double s) { g.set_timeout(seconds(s)); })
      .def("all_reduce", [](dist::ProcessGroup& g, Tensor& t, dist::ReduceOp op) { return g.all_reduce(t, op); },
           py::arg("tensor"), py::arg("op") = dist::ReduceOp::Sum, GilRelease())
      .def("broadcast", [](dist::ProcessGroup& g, Tensor& t, int root) { return g.broadcast(t, root); },
           py::arg("tensor"), py::arg("root") = 0, GilRelease())
      .def("all_gather", [](dist::ProcessGroup& g, TensorList outputs, const Tensor& t) { return g.all_gather(outputs, t); },
           py::arg("outputs"), py::arg("tensor"), GilRelease())
      .def("all_gather_into_tensor",
           [](dist::ProcessGroup& g, Tensor& out, const Tensor& in) { return g.all_gather_into_tensor(out, in); },
           py::arg("output"), py::arg("input"), GilRelease())
      .def("reduce_scatter",
           [](dist::ProcessGroup& g, Tensor& out, const TensorList& ins, dist::ReduceOp op) {
             return g.reduce_scatter(out, ins, op);
           },
           py::arg("output"), py::arg("inputs"), py::arg("op") = dist::ReduceOp::Sum, GilRelease())
      .def("reduce_scatter_tensor",
           [](dist::ProcessGroup& g, Tensor& out, const Tensor& in, dist::ReduceOp op) {
             return g.reduce_scatter_tensor(out, in, op);
           },
           py::arg("output"), py::arg("input"), py::arg("op") = dist::ReduceOp::Sum, GilRelease())
      .def("barrier", &dist::ProcessGroup::barrier, GilRelease())
      .def("send", [](dist::ProcessGroup& g, const Tensor& t, int dst, int tag) { return g.send(t, dst, tag); },
           py::arg("tensor"), py::arg("dst"), py::arg("tag") = 0, GilRelease())
      .def("recv", [](dist::ProcessGroup& g, Tensor& t, int src, int tag) { return g.recv(t, src, tag); },
           py::arg("tensor"), py::arg("src"), py::arg("tag") = 0, GilRelease());

  // torch.distributed.TCPStore's constructor and methods (values are bytes)
  py::class_<dist::TCPStore, std::shared_ptr<dist::TCPStore>>(m, "TCPStore")
      .def(py::init([](const std::string& host, int port, py::object world_size, bool is_master, double timeout) {
        (void)world_size;
        return std::make_shared<dist::TCPStore>(host, port, is_master, seconds(timeout));
      }), py::arg("host_name"), py::arg("port"), py::arg("world_size") = py::none(), py::arg("is_master") = false,
          py::arg("timeout") = 300.0, GilRelease())
      .def("set", [](dist::TCPStore& s, const std::string& k, const std::string& v) { s.set(k, v); }, GilRelease())
      .def("get", [](dist::TCPStore& s, const std::string& k) {
        std::string v;
        {
          py::gil_scoped_release nogil;
          v = s.get(k);
        }
        return py::bytes(v);
      })
      .def("add", &dist::TCPStore::add, GilRelease())
      .def("compare_set", [](dist::TCPStore& s, const std::string& k, const std::string& e, const std::string& d) {
        std::string v;
        {
          py::gil_scoped_release nogil;
          v = s.compare_set(k, e, d);
        }
        return py::bytes(v);
      })
      .def("check", &dist::TCPStore::check, GilRelease())
      .def("wait", [](dist::TCPStore& s, const std::vector<std::string>& keys, double timeout) {
        s.wait(keys, timeout > 0 ? seconds(timeout) : s.timeout());
      }, py::arg("keys"), py::arg("timeout") = 0.0, GilRelease())
      .def("delete_key", &dist::TCPStore::delete_key, GilRelease())
      .def("num_keys", &dist::TCPStore::num_keys, GilRelease())
      .def_property_readonly("port", &dist::TCPStore::port)
      .def_property_readonly("host", &dist::TCPStore::host);

  m.def("init_process_group",
        [](const std::string& backend, const std::string& init_method, int rank, int world_size, double timeout,
           double init_timeout, std::shared_ptr<dist::TCPStore> store) {
          dist::InitOptions o;
          o.store = std::move(store);
          o.backend = backend;
          o.init_method = init_method;
          o.rank = rank;
          o.world_size = world_size;
          o.timeout = seconds(timeout);
          o.init_timeout = seconds(init_timeout);
          return dist::init_process_group(o);
        },
        py::arg("backend") = "", py::arg("init_method") = "env://", py::arg("rank") = -1, py::arg("world_size") = -1,
        py::arg("timeout") = 0.0, py::arg("init_timeout") = 0.0, py::arg("store") = nullptr, GilRelease());
  m.def("destroy_process_group", &dist::destroy_process_group, GilRelease());
  m.def("is_initialized", &dist::is_initialized);
  m.def("default_group", &dist::default_group);
  m.def("new_group", [](const std::vector<int>& ranks, double timeout) { return dist::new_group(ranks, seconds(timeout)); },
        py::arg("ranks") = std::vector<int>{}, py::arg("timeout") = 0.0, GilRelease());
  m.def("local_rank", [] { return dist::bootstrap_info().local_rank; });
  m.def("local_world_size", [] { return dist::bootstrap_info().local_world_size; });
  m.def("is_gloo_available", &dist::gloo_is_available);
  m.def("is_nccl_available", &dist::nccl_is_available);
  m.def("broadcast_coalesced", [](dist::ProcessGroup& g, TensorList tensors, int root) {
    dist::broadcast_coalesced(g, tensors, root);
  }, py::arg("group"), py::arg("tensors"), py::arg("root") = 0, GilRelease());

  py::class_<dist::Reducer, std::shared_ptr<dist::Reducer>>(m, "Reducer")
      .def("prepare_for_backward", &dist::Reducer::prepare_for_backward, py::arg("outputs"), GilRelease())
      .def("prepare_for_local_backward", &dist::Reducer::prepare_for_local_backward)
      .def("_register_builtin_comm_hook", [](dist::Reducer& r, const std::string& name) {
        ANNEAL_CHECK(name == "fp16" || name == "bf16", ValueError, "unknown built-in communication hook '", name, "'");
        r.register_comm_hook(name == "fp16" ? dist::fp16_compress_hook() : dist::bf16_compress_hook());
      })
      .def("bucket_indices", &dist::Reducer::bucket_indices)
      .def_property_readonly("rebuilt", &dist::Reducer::rebuilt)
      .def_property_readonly("buckets_finished_before_backward_end",
                             &dist::Reducer::buckets_finished_before_backward_end);
  m.def("_make_reducer",
        [](const std::vector<std::pair<std::string, Tensor>>& named, TensorList buffers,
           std::shared_ptr<dist::ProcessGroup> group, double bucket_cap_mb, bool find_unused, bool as_view) {
          dist::DDPOptions o;
          o.bucket_cap_mb = bucket_cap_mb;
          o.find_unused_parameters = find_unused;
          o.gradient_as_bucket_view = as_view;
          return dist::make_ddp_reducer(named, std::move(buffers), group ? group : dist::default_group(), o);
        },
        py::arg("named_parameters"), py::arg("buffers"), py::arg("group"), py::arg("bucket_cap_mb") = 25.0,
        py::arg("find_unused_parameters") = false, py::arg("gradient_as_bucket_view") = false, GilRelease());
}

}  // namespace anneal::python
