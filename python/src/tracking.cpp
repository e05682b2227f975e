// anneal._C.tracking: the run-logging API (tracking/tracking.h) for anneal.tracking, the
// MLflow-style module. Calls that wait on disk or the registry release the GIL.
#include "common.h"
#include "tracking/tracking.h"

namespace anneal::python {

using GilRelease = py::call_guard<py::gil_scoped_release>;

void bind_tracking(py::module_& root) {
  namespace t = anneal::tracking;
  py::module_ m = root.def_submodule("tracking", "anneal._C.tracking");
  m.def(
      "start_run",
      [](const std::string& experiment, const std::string& name, const std::string& runs_root,
         const std::string& tracking_uri, const std::map<std::string, std::string>& tags) {
        return t::start_run({experiment, name, runs_root, tracking_uri, tags});
      },
      py::arg("experiment") = "", py::arg("name") = "", py::arg("runs_root") = "", py::arg("tracking_uri") = "",
      py::arg("tags") = std::map<std::string, std::string>{}, GilRelease());
  m.def("end_run", &t::end_run, py::arg("status") = "completed", GilRelease());
  m.def("active_run_id", &t::active_run_id);
  m.def("run_id", &t::run_id, GilRelease());
  m.def("run_dir", &t::run_dir, GilRelease());
  m.def("log_metric", &t::log_metric, py::arg("key"), py::arg("value"), py::arg("step") = -1);
  m.def("log_metrics", &t::log_metrics, py::arg("metrics"), py::arg("step") = -1);
  m.def("log_param", &t::log_param, py::arg("key"), py::arg("value"));
  m.def("log_params", &t::log_params, py::arg("params"));
  m.def("set_tag", &t::set_tag, py::arg("key"), py::arg("value"));
  m.def("set_tags", &t::set_tags, py::arg("tags"));
  m.def("log_artifact", &t::log_artifact, py::arg("local_path"), py::arg("artifact_path") = "", GilRelease());
  m.def("discard_metrics_after", &t::discard_metrics_after, py::arg("step"), GilRelease());
  m.def("flush", &t::flush, GilRelease());
}

}  // namespace anneal::python
