// anneal.Tensor for Python: properties, operators, indexing with views, autograd, NumPy.
#include "common.h"
#include "core/tensor_impl.h"

namespace anneal::python {

namespace {

using GilRelease = py::call_guard<py::gil_scoped_release>;

// Python-style binary operator: the other side may be a Tensor or a number (anything
// else: NotImplemented, so Python tries the reflected operator); reflected swaps sides.
template <typename F>
auto binary(F f, const char* name, bool reflected = false) {
  return [f, name, reflected](const Tensor& a, py::object b) -> py::object {
    if (!py::isinstance<Tensor>(b) && !is_scalar(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    Tensor other = as_tensor(b, a, name), r;
    {
      py::gil_scoped_release release;
      r = reflected ? f(other, a) : f(a, other);
    }
    return py::cast(r);
  };
}
template <typename F>
auto rbinary(F f, const char* name) {
  return binary(f, name, true);
}

// t[...]: ints select (dim dropped), slices are views, None adds a dim, Ellipsis skips,
// a Tensor indexes dim 0 (integer indices or a bool mask).
Tensor getitem(const Tensor& t, py::handle key) {
  if (py::isinstance<Tensor>(key)) return t.index(key.cast<Tensor>());
  py::tuple items = py::isinstance<py::tuple>(key) ? py::reinterpret_borrow<py::tuple>(key) : py::make_tuple(key);
  int64_t real = 0;  // indices that consume a dim of t
  for (py::handle k : items) real += !(k.is_none() || k.is(py::ellipsis()));
  ANNEAL_CHECK(real <= t.dim(), IndexError, "too many indices for tensor of dimension ", t.dim());
  Tensor r = t;
  int64_t d = 0;
  for (py::handle k : items) {
    if (k.is_none()) {
      r = r.unsqueeze(d++);
    } else if (k.is(py::ellipsis())) {
      d += t.dim() - real;  // the dims no index names
    } else if (py::isinstance<py::int_>(k)) {
      r = r.select(d, k.cast<int64_t>());
    } else if (py::isinstance<py::slice>(k)) {
      auto sl = py::reinterpret_borrow<py::slice>(k);
      auto get = [&](const char* attr) -> std::optional<int64_t> {
        py::object v = sl.attr(attr);
        if (v.is_none()) return std::nullopt;
        return v.cast<int64_t>();
      };
      std::optional<int64_t> step = get("step");
      ANNEAL_CHECK(!step || *step > 0, ValueError, "step must be greater than zero");
      r = r.slice(d, get("start"), get("stop"), step.value_or(1));
      ++d;
    } else {
      throw TypeError(str("tensor indices must be ints, slices, None, Ellipsis or tensors, got ",
                          type_name(k)));
    }
  }
  return r;
}

IntList shape_args(py::args args, const char* what) {
  if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) return to_int_list(args[0], what);
  return to_int_list(args, what);
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::enum_<DType>(m, "dtype")
      .value("bool", DType::Bool)
      .value("uint8", DType::UInt8)
      .value("int32", DType::Int32)
      .value("int64", DType::Int64)
      .value("float16", DType::Float16)
      .value("bfloat16", DType::BFloat16)
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .def("__repr__", [](DType d) { return str("anneal.", dtype_name(d)); })
      .def("__str__", [](DType d) { return str("anneal.", dtype_name(d)); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating(d); })
      .def_property_readonly("itemsize", [](DType d) { return element_size(d); });
  for (DType d : {DType::Bool, DType::UInt8, DType::Int32, DType::Int64, DType::Float16, DType::BFloat16,
                  DType::Float32, DType::Float64})
    m.attr(dtype_name(d)) = d;
  m.attr("float") = DType::Float32;
  m.attr("double") = DType::Float64;
  m.attr("long") = DType::Int64;
  m.attr("int") = DType::Int32;
  m.attr("half") = DType::Float16;

  py::class_<Tensor> t(m, "Tensor", py::buffer_protocol(), py::dynamic_attr());
  t.def_property_readonly("shape", [](const Tensor& x) { return py::tuple(py::cast(std::vector<int64_t>(x.sizes().begin(), x.sizes().end()))); })
      .def("size", [](const Tensor& x, std::optional<int64_t> d) -> py::object {
        if (d) return py::cast(x.size(*d));
        return py::tuple(py::cast(std::vector<int64_t>(x.sizes().begin(), x.sizes().end())));
      }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& x) { return py::tuple(py::cast(std::vector<int64_t>(x.strides().begin(), x.strides().end()))); })
      .def_property_readonly("ndim", &Tensor::dim)
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("__len__", [](const Tensor& x) {
        ANNEAL_CHECK(x.dim() > 0, TypeError, "len() of a 0-d tensor");
        return x.size(0);
      })
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("device", [](const Tensor& x) { return x.device().str(); })
      .def_property_readonly("is_cuda", [](const Tensor& x) { return x.device().is_cuda(); })
      .def("cuda", [](const Tensor& x, std::optional<int> device, bool non_blocking) {
        const Device d(DeviceType::CUDA, device.value_or(0));
        py::gil_scoped_release release;
        return x.to(d, non_blocking);
      }, py::arg("device") = py::none(), py::arg("non_blocking") = false, "x.to('cuda:N')")
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property_readonly("grad_fn", [](const Tensor& x) -> py::object {
        auto fn = x.grad_fn();
        if (!fn) return py::none();
        return py::str("<" + fn->name() + ">");
      })
      .def_property("requires_grad", &Tensor::requires_grad, [](Tensor& x, bool r) { x.set_requires_grad(r); })
      .def("requires_grad_", [](Tensor& x, bool r) { return x.set_requires_grad(r); }, py::arg("requires_grad") = true)
      .def_property("grad", [](const Tensor& x) -> py::object {
        const Tensor& g = x.grad();
        if (!g.defined()) return py::none();
        return py::cast(g);
      }, [](Tensor& x, py::object g) { x.set_grad(g.is_none() ? Tensor() : g.cast<Tensor>()); })
      .def_property_readonly("_version", &Tensor::version)
      // fn(grad) -> grad or None, called with the GIL taken during backward (the Python
      // side, Tensor.register_hook, wraps it in a removable handle)
      .def("_register_hook", [](const Tensor& x, py::function fn) {
        SharedPyObject f(std::move(fn));
        x.register_hook([f](const Tensor& g) -> Tensor {
          py::gil_scoped_acquire gil;
          py::object r = f.get()(g);
          return r.is_none() ? Tensor() : r.cast<Tensor>();
        });
      })
      .def("retain_grad", &Tensor::retain_grad)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("is_floating_point", &Tensor::is_floating_point)
      .def("backward", [](const Tensor& x, std::optional<Tensor> gradient, bool retain_graph, bool create_graph) {
        py::gil_scoped_release release;
        x.backward(gradient.value_or(Tensor()), retain_graph, create_graph);
      }, py::arg("gradient") = py::none(), py::arg("retain_graph") = false, py::arg("create_graph") = false)
      .def("detach", &Tensor::detach)
      .def("detach_", [](Tensor& x) { return x.detach_(); })
      .def("clone", &Tensor::clone, GilRelease())
      .def("contiguous", &Tensor::contiguous, GilRelease())
      .def("pin_memory", &Tensor::pin_memory, GilRelease())
      .def("is_pinned", &Tensor::is_pinned)
      .def("record_stream", [](const Tensor& x, const CudaStream& s) { record_stream(x, s); }, py::arg("stream"),
           "Marks the tensor's memory as used by work on `stream`: freeing it waits for that work")
      .def("item", [](const Tensor& x) -> py::object {
        Scalar s = x.item();
        if (s.kind() == Scalar::Kind::Bool) return py::bool_(s.to_bool());
        if (s.kind() == Scalar::Kind::Int) return py::int_(s.to_int());
        return py::float_(s.to_double());
      })
      .def("numpy", [](const Tensor& x) { return to_numpy(x); })
      .def("__array__", [](const Tensor& x, py::object dtype) {
        py::array a = to_numpy(x.detach());
        return dtype.is_none() ? a : py::array(a.attr("astype")(dtype));
      }, py::arg("dtype") = py::none())
      .def("tolist", [](const Tensor& x) { return to_numpy(x.detach().cpu()).attr("tolist")(); })
      .def("to", [](const Tensor& x, py::object target, bool non_blocking) {
        if (py::isinstance<DType>(target)) {
          DType d = target.cast<DType>();
          py::gil_scoped_release release;
          return x.to(d);
        }
        Device dev(target.cast<std::string>());
        py::gil_scoped_release release;
        return x.to(dev, non_blocking);
      }, py::arg("target"), py::arg("non_blocking") = false)
      .def("cpu", &Tensor::cpu, GilRelease())
      .def("float", [](const Tensor& x) { return x.to(DType::Float32); })
      .def("double", [](const Tensor& x) { return x.to(DType::Float64); })
      .def("long", [](const Tensor& x) { return x.to(DType::Int64); })
      .def("view", [](const Tensor& x, py::args s) { return x.view(shape_args(s, "view")); })
      .def("reshape", [](const Tensor& x, py::args s) { return x.reshape(shape_args(s, "reshape")); })
      .def("permute", [](const Tensor& x, py::args s) { return x.permute(shape_args(s, "permute")); })
      .def("transpose", &Tensor::transpose)
      .def("t", &Tensor::t)
      .def_property_readonly("T", [](const Tensor& x) {
        IntList dims;
        for (int64_t d = x.dim() - 1; d >= 0; --d) dims.push_back(d);
        return x.permute(dims);
      })
      .def_property_readonly("mT", &Tensor::mT)
      .def("squeeze", [](const Tensor& x, std::optional<int64_t> d) { return d ? x.squeeze(*d) : x.squeeze(); },
           py::arg("dim") = py::none())
      .def("unsqueeze", &Tensor::unsqueeze)
      .def("flatten", &Tensor::flatten, py::arg("start_dim") = 0, py::arg("end_dim") = -1)
      .def("expand", [](const Tensor& x, py::args s) { return x.expand(shape_args(s, "expand")); })
      .def("narrow", &Tensor::narrow)
      .def("__getitem__", &getitem)
      .def("__setitem__", [](Tensor& x, py::handle key, py::object value) {
        Tensor dst = getitem(x, key);
        NoGradGuard ng;
        if (py::isinstance<Tensor>(value)) dst.copy_(value.cast<Tensor>());
        else dst.fill_(to_scalar(value, "__setitem__"));
      })
      .def("__repr__", &Tensor::str)
      .def("__bool__", [](const Tensor& x) {
        ANNEAL_CHECK(x.numel() == 1, ValueError, "the truth value of a tensor with more than one element is ambiguous");
        return x.item().to_bool();
      })
      .def("__float__", [](const Tensor& x) { return x.item().to_double(); })
      // through Python's own conversions: int(nan) is a ValueError, int(1e30) exact, as in PyTorch
      .def("__int__", [](const Tensor& x) -> py::object {
        const Scalar s = x.item();
        if (s.is_floating()) {
          PyObject* r = PyNumber_Long(py::float_(s.to_double()).ptr());
          if (!r) throw py::error_already_set();
          return py::reinterpret_steal<py::object>(r);
        }
        return py::int_(s.to_int());
      })
      .def("__hash__", [](const Tensor& x) { return std::hash<const void*>()(x.impl()); })
      .def("__add__", binary([](const Tensor& a, const Tensor& b) { return a + b; }, "add"))
      .def("__radd__", rbinary([](const Tensor& a, const Tensor& b) { return a + b; }, "add"))
      .def("__sub__", binary([](const Tensor& a, const Tensor& b) { return a - b; }, "sub"))
      .def("__rsub__", rbinary([](const Tensor& a, const Tensor& b) { return a - b; }, "sub"))
      .def("__mul__", binary([](const Tensor& a, const Tensor& b) { return a * b; }, "mul"))
      .def("__rmul__", rbinary([](const Tensor& a, const Tensor& b) { return a * b; }, "mul"))
      .def("__truediv__", binary([](const Tensor& a, const Tensor& b) { return a / b; }, "div"))
      .def("__rtruediv__", rbinary([](const Tensor& a, const Tensor& b) { return a / b; }, "div"))
      .def("__matmul__", binary([](const Tensor& a, const Tensor& b) { return matmul(a, b); }, "matmul"))
      .def("__pow__", binary([](const Tensor& a, const Tensor& b) { return pow(a, b); }, "pow"))
      .def("__rpow__", rbinary([](const Tensor& a, const Tensor& b) { return pow(a, b); }, "pow"))
      .def("__eq__", binary([](const Tensor& a, const Tensor& b) { return eq(a, b); }, "eq"))
      .def("__ne__", binary([](const Tensor& a, const Tensor& b) { return ne(a, b); }, "ne"))
      .def("__lt__", binary([](const Tensor& a, const Tensor& b) { return lt(a, b); }, "lt"))
      .def("__le__", binary([](const Tensor& a, const Tensor& b) { return le(a, b); }, "le"))
      .def("__gt__", binary([](const Tensor& a, const Tensor& b) { return gt(a, b); }, "gt"))
      .def("__ge__", binary([](const Tensor& a, const Tensor& b) { return ge(a, b); }, "ge"))
      .def("__neg__", [](const Tensor& a) { return -a; })
      .def("__abs__", [](const Tensor& a) { return abs(a); })
      .def("__iadd__", [](Tensor& a, py::object b) -> Tensor& { return a.add_(as_tensor(b, a, "add_")); })
      .def("__isub__", [](Tensor& a, py::object b) -> Tensor& { return a.sub_(as_tensor(b, a, "sub_")); })
      .def("__imul__", [](Tensor& a, py::object b) -> Tensor& { return a.mul_(as_tensor(b, a, "mul_")); })
      .def("__itruediv__", [](Tensor& a, py::object b) -> Tensor& { return a.div_(as_tensor(b, a, "div_")); })
      .def("add_", [](Tensor& a, py::object b, double alpha) -> Tensor& { return a.add_(as_tensor(b, a, "add_"), alpha); },
           py::arg("other"), py::arg("alpha") = 1.0)
      .def("mul_", [](Tensor& a, py::object b) -> Tensor& { return a.mul_(as_tensor(b, a, "mul_")); })
      .def("zero_", [](Tensor& a) -> Tensor& { return a.zero_(); })
      .def("fill_", [](Tensor& a, py::object v) -> Tensor& { return a.fill_(to_scalar(v, "fill_")); })
      .def("copy_", [](Tensor& a, const Tensor& s) -> Tensor& { return a.copy_(s); }, GilRelease());
}

}  // namespace anneal::python
