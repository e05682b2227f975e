// Learning-rate schedules, gradient clipping and checkpoints for Python.
#include "common.h"

namespace anneal::python {

namespace {
template <typename S, typename... Args>
void schedule(py::module_& m, const char* name, Args&&... init_args) {
  py::class_<S, optim::LRScheduler>(m, name).def(std::forward<Args>(init_args)..., py::keep_alive<1, 2>());
}
}  // namespace

void bind_train(py::module_& root) {
  py::module_ o = root.attr("optim").cast<py::module_>();
  py::class_<optim::LRScheduler>(o, "LRScheduler")
      .def("step", &optim::LRScheduler::step)
      .def("get_last_lr", &optim::LRScheduler::last_lr)
      .def_property_readonly("last_step", &optim::LRScheduler::last_step)
      .def("state_dict", &optim::LRScheduler::state_dict)
      .def("load_state_dict", &optim::LRScheduler::load_state_dict);
  schedule<optim::StepLR>(o, "StepLR", py::init<optim::Optimizer&, int64_t, double>(), py::arg("optimizer"),
                          py::arg("step_size"), py::arg("gamma") = 0.1);
  schedule<optim::MultiStepLR>(o, "MultiStepLR", py::init<optim::Optimizer&, std::vector<int64_t>, double>(),
                               py::arg("optimizer"), py::arg("milestones"), py::arg("gamma") = 0.1);
  schedule<optim::ExponentialLR>(o, "ExponentialLR", py::init<optim::Optimizer&, double>(), py::arg("optimizer"),
                                 py::arg("gamma"));
  schedule<optim::CosineAnnealingLR>(o, "CosineAnnealingLR", py::init<optim::Optimizer&, int64_t, double>(),
                                     py::arg("optimizer"), py::arg("T_max"), py::arg("eta_min") = 0.0);
  schedule<optim::LinearLR>(o, "LinearLR", py::init<optim::Optimizer&, double, double, int64_t>(), py::arg("optimizer"),
                            py::arg("start_factor") = 1.0 / 3, py::arg("end_factor") = 1.0, py::arg("total_iters") = 5);
  schedule<optim::WarmupCosineLR>(o, "WarmupCosineLR", py::init<optim::Optimizer&, int64_t, int64_t, double>(),
                                  py::arg("optimizer"), py::arg("warmup_steps"), py::arg("total_steps"),
                                  py::arg("min_lr") = 0.0);
  o.def("clip_grad_norm_", &optim::clip_grad_norm_, py::arg("parameters"), py::arg("max_norm"),
        py::arg("norm_type") = 2.0, py::arg("error_if_nonfinite") = false, py::call_guard<py::gil_scoped_release>());
  o.def("clip_grad_value_", &optim::clip_grad_value_, py::arg("parameters"), py::arg("clip_value"));

  // Checkpoints (model, optimizer, RNG, step/epoch, config), the same files C++ writes.
  py::module_ t = root.def_submodule("train", "anneal.train");
  t.def("checkpoints_available", &train::checkpoints_available);
  t.def("save_checkpoint", [](const std::string& path, const nn::Module& model, optim::Optimizer* opt, int64_t step,
                              int64_t epoch, const std::string& config) {
    train::Checkpoint c = train::capture(model, opt);
    c.step = step, c.epoch = epoch, c.config = config;
    py::gil_scoped_release release;
    train::save_checkpoint(path, c);
  }, py::arg("path"), py::arg("model"), py::arg("optimizer") = nullptr, py::arg("step") = 0, py::arg("epoch") = 0,
     py::arg("config") = "");
  t.def("load_checkpoint", [](const std::string& path, nn::Module& model, optim::Optimizer* opt) {
    train::Checkpoint c;
    {
      py::gil_scoped_release release;
      c = train::load_checkpoint(path);
    }
    train::restore(c, model, opt);
    py::dict info;
    info["step"] = c.step;
    info["epoch"] = c.epoch;
    info["batch_in_epoch"] = c.batch_in_epoch;
    info["config"] = c.config;
    return info;
  }, py::arg("path"), py::arg("model"), py::arg("optimizer") = nullptr);
}

}  // namespace anneal::python
