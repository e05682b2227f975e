// anneal.nn for Python: the C++ Module (subclassable from Python, with a Python forward),
// the layers and the model zoo. A Python subclass's forward is called by C++ containers
// (Sequential, ModuleList) through the virtual forward, so Python and C++ modules mix in
// one tree.
#include <pybind11/functional.h>

#include "common.h"

namespace anneal::python {

namespace {

// Lets Python classes derive from nn::Module and override forward / type_name.
class PyModule : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { PYBIND11_OVERRIDE(Tensor, nn::Module, forward, x); }
  std::string type_name() const override {
    py::gil_scoped_acquire gil;
    py::function override = py::get_override(static_cast<const nn::Module*>(this), "type_name");
    if (override) return override().cast<std::string>();
    return py::type::of(py::cast(this)).attr("__name__").cast<std::string>();
  }
  // The registration calls are protected in C++ (a module registers its own members).
  void add_module_public(const std::string& name, std::shared_ptr<nn::Module> m) { add_child(name, std::move(m)); }
};

// A module as a C++ container will hold it: the pointer also owns the Python object.
// Otherwise, once the last Python name for it went away, the object (its Python class,
// attributes and forward) would be freed and the container would hand back a bare C++
// Module. Python objects that refer to the container still form ordinary,
// collectable cycles only through Python attributes.
std::shared_ptr<nn::Module> hold(py::handle h) {
  auto sp = h.cast<std::shared_ptr<nn::Module>>();
  auto* owner = new py::object(py::reinterpret_borrow<py::object>(h));
  return std::shared_ptr<nn::Module>(sp.get(), [owner, sp](nn::Module*) {
    if (!Py_IsInitialized()) return;  // at interpreter exit: leave it to the process's end
    py::gil_scoped_acquire gil;
    delete owner;
  });
}

// An empty slot (PyTorch's None parameter) as None.
py::object or_none(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }
py::list slots(const nn::StateDict& sd) {
  py::list out;
  for (auto& [k, v] : sd) out.append(py::make_tuple(k, or_none(v)));
  return out;
}

py::dict to_dict(const nn::StateDict& sd) {
  py::module_ collections = py::module_::import("collections");
  py::object d = collections.attr("OrderedDict")();
  for (auto& [k, v] : sd) d[py::str(k)] = v;
  return d;
}

template <typename M, typename... Extra>
auto layer(py::module_& m, const char* name, Extra... extra) {
  return py::class_<M, nn::Module, std::shared_ptr<M>>(m, name, extra...);
}

}  // namespace

void bind_nn(py::module_& root) {
  py::module_ m = root.def_submodule("nn", "anneal.nn (C++ part)");
  py::class_<nn::Module, PyModule, std::shared_ptr<nn::Module>>(m, "Module", py::dynamic_attr())
      .def(py::init<>())
      .def("forward", &nn::Module::forward, py::call_guard<py::gil_scoped_release>())
      .def("_call", [](nn::Module& self, const Tensor& x) { return self(x); })  // with hooks
      .def("register_parameter", [](nn::Module& self, const std::string& name, py::object value, bool requires_grad) {
        Tensor t = value.is_none() ? Tensor() : value.cast<Tensor>();
        return self.register_parameter(name, t, requires_grad);
      }, py::arg("name"), py::arg("param"), py::arg("requires_grad") = true)
      .def("register_buffer", [](nn::Module& self, const std::string& name, const Tensor& t) {
        return self.register_buffer(name, t);
      })
      .def("add_module", [](nn::Module& self, const std::string& name, py::object child) {
        auto* py_self = dynamic_cast<PyModule*>(&self);
        ANNEAL_CHECK(py_self != nullptr, TypeError, "add_module: only modules defined in Python take new children");
        py_self->add_module_public(name, hold(child));
      })
      .def("_set_parameter", [](nn::Module& self, const std::string& name, py::object value, bool requires_grad) {
        return or_none(self.set_parameter(name, value.is_none() ? Tensor() : value.cast<Tensor>(), requires_grad));
      })
      .def("_set_buffer", [](nn::Module& self, const std::string& name, py::object value) {
        return or_none(self.set_buffer(name, value.is_none() ? Tensor() : value.cast<Tensor>()));
      })
      .def("_set_child", [](nn::Module& self, const std::string& name, py::object child) {
        self.set_child(name, hold(child));
      })
      .def("_remove_parameter", &nn::Module::remove_parameter)
      .def("_remove_buffer", &nn::Module::remove_buffer)
      .def("_remove_child", &nn::Module::remove_child)
      .def("_named_parameter_slots", [](const nn::Module& self) { return slots(self.parameter_slots()); })
      .def("_named_buffer_slots", [](const nn::Module& self) { return slots(self.buffer_slots()); })
      .def("parameters", &nn::Module::parameters, py::arg("recurse") = true)
      .def("named_parameters", [](const nn::Module& self, bool recurse) {
        auto sd = self.named_parameters(recurse);
        return std::vector<std::pair<std::string, Tensor>>(sd.begin(), sd.end());
      }, py::arg("recurse") = true)
      .def("buffers", &nn::Module::buffers, py::arg("recurse") = true)
      .def("named_buffers", [](const nn::Module& self, bool recurse) {
        auto sd = self.named_buffers(recurse);
        return std::vector<std::pair<std::string, Tensor>>(sd.begin(), sd.end());
      }, py::arg("recurse") = true)
      .def("named_children", &nn::Module::named_children)
      .def("children", [](const nn::Module& self) {
        std::vector<std::shared_ptr<nn::Module>> out;
        for (auto& [n, c] : self.named_children()) out.push_back(c);
        return out;
      })
      .def("named_modules", &nn::Module::named_modules)
      .def("num_parameters", &nn::Module::num_parameters)
      .def("train", [](nn::Module& self, bool mode) -> nn::Module& {
        self.train(mode);
        return self;
      }, py::arg("mode") = true, py::return_value_policy::reference)
      .def("eval", [](nn::Module& self) -> nn::Module& {
        self.eval();
        return self;
      }, py::return_value_policy::reference)
      .def_property_readonly("training", &nn::Module::is_training)
      .def("zero_grad", &nn::Module::zero_grad, py::arg("set_to_none") = true)
      .def("to", [](nn::Module& self, py::object target) -> nn::Module& {
        if (py::isinstance<DType>(target)) self.to(target.cast<DType>());
        else self.to(Device(target.cast<std::string>()));
        return self;
      }, py::return_value_policy::reference)
      .def("state_dict", [](const nn::Module& self) { return to_dict(self.state_dict()); })
      .def("load_state_dict", [](nn::Module& self, py::dict d, bool strict) {
        nn::StateDict sd;
        for (auto [k, v] : d) sd.emplace_back(k.cast<std::string>(), v.cast<Tensor>());
        self.load_state_dict(sd, strict);
      }, py::arg("state_dict"), py::arg("strict") = true)
      // children first, then the module itself, as PyTorch; each one as its Python object
      .def("apply", [](py::object self, py::function fn) {
        for (auto& [name, child] : self.cast<nn::Module&>().named_children()) py::cast(child).attr("apply")(fn);
        fn(self);
        return self;
      }, py::arg("fn"))
      .def("type_name", &nn::Module::type_name)
      .def("__repr__", &nn::Module::to_string);

  layer<nn::Linear>(m, "Linear")
      .def(py::init<int64_t, int64_t, bool>(), py::arg("in_features"), py::arg("out_features"), py::arg("bias") = true)
      .def_property_readonly("weight", [](nn::Linear& l) { return l.weight; })
      .def_property_readonly("bias", [](nn::Linear& l) -> py::object {
        return l.bias.defined() ? py::cast(l.bias) : py::none();
      });
  layer<nn::Conv2d>(m, "Conv2d")
      .def(py::init([](int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, int64_t dilation,
                       int64_t groups, bool bias) {
        return std::make_shared<nn::Conv2d>(in, out, k, nn::Conv2dArgs{stride, padding, dilation, groups, bias});
      }), py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
          py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("bias") = true)
      .def_property_readonly("weight", [](nn::Conv2d& l) { return l.weight; });
  layer<nn::BatchNorm>(m, "_BatchNorm");
  m.def("BatchNorm1d", &nn::BatchNorm1d, py::arg("num_features"), py::arg("eps") = 1e-5, py::arg("momentum") = 0.1);
  m.def("BatchNorm2d", &nn::BatchNorm2d, py::arg("num_features"), py::arg("eps") = 1e-5, py::arg("momentum") = 0.1);
  layer<nn::LayerNorm>(m, "LayerNorm")
      .def(py::init([](py::object shape, double eps, bool affine) {
        return std::make_shared<nn::LayerNorm>(to_int_list(shape, "normalized_shape"), eps, affine);
      }), py::arg("normalized_shape"), py::arg("eps") = 1e-5, py::arg("elementwise_affine") = true);
  layer<nn::Embedding>(m, "Embedding")
      .def(py::init<int64_t, int64_t, std::optional<int64_t>>(), py::arg("num_embeddings"), py::arg("embedding_dim"),
           py::arg("padding_idx") = py::none())
      .def_property_readonly("weight", [](nn::Embedding& l) { return l.weight; });
  layer<nn::Dropout>(m, "Dropout").def(py::init<double>(), py::arg("p") = 0.5);
  layer<nn::ReLU>(m, "ReLU").def(py::init<>());
  layer<nn::SiLU>(m, "SiLU").def(py::init<>());
  layer<nn::Tanh>(m, "Tanh").def(py::init<>());
  layer<nn::Sigmoid>(m, "Sigmoid").def(py::init<>());
  layer<nn::Identity>(m, "Identity").def(py::init<>());
  layer<nn::GELU>(m, "GELU").def(py::init([](const std::string& approximate) {
    return std::make_shared<nn::GELU>(gelu_uses_tanh(approximate));
  }), py::arg("approximate") = "none");
  layer<nn::MaxPool2d>(m, "MaxPool2d")
      .def(py::init<int64_t, int64_t, int64_t>(), py::arg("kernel_size"), py::arg("stride") = -1, py::arg("padding") = 0);
  layer<nn::AvgPool2d>(m, "AvgPool2d")
      .def(py::init<int64_t, int64_t, int64_t>(), py::arg("kernel_size"), py::arg("stride") = -1, py::arg("padding") = 0);
  layer<nn::AdaptiveAvgPool2d>(m, "AdaptiveAvgPool2d").def(py::init<int64_t, int64_t>());
  layer<nn::Flatten>(m, "Flatten")
      .def(py::init<int64_t, int64_t>(), py::arg("start_dim") = 1, py::arg("end_dim") = -1);
  layer<nn::Sequential>(m, "Sequential")
      .def(py::init([](py::args mods) {
        auto s = std::make_shared<nn::Sequential>();
        for (py::handle h : mods) s->push_back(hold(h));
        return s;
      }))
      .def("append", [](nn::Sequential& s, py::object m) { s.push_back(hold(m)); })
      .def("__len__", &nn::Sequential::size)
      .def("__getitem__", &nn::Sequential::operator[]);
  layer<nn::ModuleList>(m, "ModuleList")
      .def(py::init([](py::iterable mods) {
        auto s = std::make_shared<nn::ModuleList>();
        for (py::handle h : mods) s->push_back(hold(h));
        return s;
      }), py::arg("modules") = py::list())
      .def("append", [](nn::ModuleList& s, py::object m) { s.push_back(hold(m)); })
      .def("__len__", &nn::ModuleList::size)
      .def("__getitem__", &nn::ModuleList::operator[])
      .def("__iter__", [](const nn::ModuleList& l) {
        std::vector<std::shared_ptr<nn::Module>> out;
        for (auto& [n, c] : l.named_children()) out.push_back(c);
        return py::iter(py::cast(out));
      });
  layer<nn::MultiheadAttention>(m, "MultiheadAttention")
      .def(py::init([](int64_t e, int64_t h, double dropout, bool bias, bool causal) {
        return std::make_shared<nn::MultiheadAttention>(e, h, nn::MultiheadAttentionOptions{dropout, bias, causal});
      }), py::arg("embed_dim"), py::arg("num_heads"), py::arg("dropout") = 0.0, py::arg("bias") = true,
          py::arg("causal") = false)
      .def("attend", &nn::MultiheadAttention::attend, py::arg("query"), py::arg("key"), py::arg("value"),
           py::arg("attn_mask") = Tensor());
  layer<nn::TransformerBlock>(m, "TransformerBlock")
      .def(py::init([](int64_t d, int64_t h, double dropout, bool causal) {
        return std::make_shared<nn::TransformerBlock>(d, h, nn::TransformerBlockOptions{dropout, causal});
      }), py::arg("d_model"), py::arg("num_heads"), py::arg("dropout") = 0.0, py::arg("causal") = true);
  layer<nn::GPT>(m, "GPT")
      .def(py::init([](int64_t vocab, int64_t context, int64_t n_layer, int64_t n_head, int64_t d_model, double dropout) {
        return std::make_shared<nn::GPT>(nn::GPTConfig{vocab, context, n_layer, n_head, d_model, dropout});
      }), py::arg("vocab_size"), py::arg("context") = 128, py::arg("n_layer") = 4, py::arg("n_head") = 4,
          py::arg("d_model") = 128, py::arg("dropout") = 0.0)
      .def("generate", [](nn::GPT& g, const Tensor& prompt, int64_t n, double temperature, int64_t top_k) {
        py::gil_scoped_release release;
        return g.generate(prompt, n, temperature, top_k);
      }, py::arg("prompt"), py::arg("new_tokens"), py::arg("temperature") = 1.0, py::arg("top_k") = 0);
  m.def("make_model", [](const std::string& name, py::kwargs settings) {
    nn::ModelConfig c;
    for (auto [k, v] : settings) c[k.cast<std::string>()] = py::str(v).cast<std::string>();
    return nn::make_model(name, c);
  }, py::arg("name"));
  m.def("save_safetensors", [](const std::string& path, py::dict tensors) {
    nn::StateDict sd;
    for (auto [k, v] : tensors) sd.emplace_back(k.cast<std::string>(), v.cast<Tensor>());
    nn::save_safetensors(path, sd);
  });
  m.def("load_safetensors", [](const std::string& path) { return to_dict(nn::load_safetensors(path)); });
}

}  // namespace anneal::python
