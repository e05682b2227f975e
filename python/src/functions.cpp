// Module-level functions: factories, math, nn.functional, autograd and optimizers.
#include "common.h"

namespace anneal::python {

namespace {

// The rule for every binding here: the GIL is released while anneal computes, so Python
// threads run beside it. A binding with only C++ arguments takes GilRelease; one that
// reads Python objects (py::object, lists of sizes, numbers) converts them first and then
// releases the GIL itself (py::gil_scoped_release), or holds it when it returns Python
// objects built inside.
using GilRelease = py::call_guard<py::gil_scoped_release>;

Reduction reduction_of(const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw ValueError(str("reduction must be 'mean', 'sum' or 'none', got '", r, "'"));
}

IntList dims_of(py::object dim) { return dim.is_none() ? IntList{} : to_int_list(dim, "dim"); }

Tensor opt_tensor(const std::optional<Tensor>& t) { return t.value_or(Tensor()); }

// anneal.tensor(data): NumPy converts nested lists; Python floats become float32 and
// ints int64, as in PyTorch.
Tensor make_tensor(py::object data, std::optional<DType> dtype, bool requires_grad) {
  Tensor t;
  if (py::isinstance<Tensor>(data)) {
    t = data.cast<Tensor>().detach().clone();
  } else {
    py::module_ np = py::module_::import("numpy");
    py::array arr = np.attr("array")(data);
    if (!dtype && arr.dtype().kind() == 'f' && !py::isinstance<py::array>(data)) arr = arr.attr("astype")("float32");
    if (arr.dtype().kind() == 'i' && arr.dtype().itemsize() != 8 && !py::isinstance<py::array>(data))
      arr = arr.attr("astype")("int64");
    // anneal.tensor copies, so it reads other byte orders by converting them (as torch.tensor)
    if (!has_native_byte_order(arr.dtype())) arr = arr.attr("astype")(arr.dtype().attr("newbyteorder")("="));
    arr = np.attr("require")(arr, py::none(), "C");  // (ascontiguousarray turns a 0-d array into 1-d)
    t = from_numpy(arr).clone();
  }
  if (dtype) t = t.to(*dtype);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

TensorOptions opts(std::optional<DType> dtype, const std::string& device) {
  return TensorOptions(dtype.value_or(DType::Float32), Device(device));
}

}  // namespace

void bind_functions(py::module_& m) {
  // ---- factories ----
  m.def("tensor", &make_tensor, py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("from_numpy", &from_numpy, py::arg("array"));
  auto factory = [&](const char* name, auto f) {
    m.def(name, [f](py::args shape, std::optional<DType> dtype, std::string device, bool requires_grad) {
      IntList s = shape.size() == 1 && !py::isinstance<py::int_>(shape[0]) ? to_int_list(shape[0], "shape")
                                                                            : to_int_list(shape, "shape");
      Tensor t = f(Shape(s.begin(), s.end()), opts(dtype, device));
      if (requires_grad) t.set_requires_grad(true);
      return t;
    }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = "cpu", py::arg("requires_grad") = false);
  };
  factory("zeros", [](const Shape& s, TensorOptions o) { return zeros(s, o); });
  factory("ones", [](const Shape& s, TensorOptions o) { return ones(s, o); });
  factory("empty", [](const Shape& s, TensorOptions o) { return empty(s, o); });
  factory("rand", [](const Shape& s, TensorOptions o) { return rand(s, o); });
  factory("randn", [](const Shape& s, TensorOptions o) { return randn(s, o); });
  m.def("full", [](py::object shape, py::object value, std::optional<DType> dtype) {
    IntList s = to_int_list(shape, "shape");
    Scalar v = to_scalar(value, "full");
    DType d = dtype.value_or(v.kind() == Scalar::Kind::Float ? DType::Float32
                             : v.kind() == Scalar::Kind::Int ? DType::Int64 : DType::Bool);
    return full(Shape(s.begin(), s.end()), v, d);
  }, py::arg("size"), py::arg("fill_value"), py::arg("dtype") = py::none());
  m.def("randint", [](int64_t low, int64_t high, py::object size) {
    IntList s = to_int_list(size, "size");
    return randint(low, high, Shape(s.begin(), s.end()));
  }, py::arg("low"), py::arg("high"), py::arg("size"));
  m.def("arange", [](py::object start, py::object end, py::object step, std::optional<DType> dtype) {
    Scalar a = to_scalar(start, "arange"), b = end.is_none() ? a : to_scalar(end, "arange");
    if (end.is_none()) a = Scalar(int64_t(0));
    Tensor t = arange(a, b, to_scalar(step, "arange"));
    return dtype ? t.to(*dtype) : t;
  }, py::arg("start"), py::arg("end") = py::none(), py::arg("step") = 1, py::arg("dtype") = py::none());
  m.def("eye", [](int64_t n, std::optional<DType> dtype) { return eye(n, {}, dtype.value_or(DType::Float32)); },
        py::arg("n"), py::arg("dtype") = py::none(), GilRelease());
  m.def("zeros_like", &zeros_like, GilRelease());
  m.def("ones_like", &ones_like, GilRelease());
  m.def("randn_like", [](const Tensor& t) { return randn_like(t); }, GilRelease());
  m.def("manual_seed", [](uint64_t s) { manual_seed(s); }, GilRelease());

  // ---- math ----
  m.def("matmul", &matmul, GilRelease());
  m.def("mm", &mm, GilRelease());
  m.def("bmm", &bmm, GilRelease());
  m.def("outer", &outer, GilRelease());
  for (auto [name, fn] : std::initializer_list<std::pair<const char*, Tensor (*)(const Tensor&)>>{
           {"exp", &exp}, {"log", &log}, {"sqrt", &sqrt}, {"rsqrt", &rsqrt}, {"abs", &abs}, {"neg", &neg},
           {"sin", &sin}, {"cos", &cos}, {"tanh", &tanh}, {"sigmoid", &sigmoid}, {"relu", &relu},
           {"square", &square}, {"log1p", &log1p}, {"expm1", &expm1}, {"floor", &floor}, {"ceil", &ceil},
           {"sign", &sign}, {"erf", &erf}, {"isnan", &isnan}, {"logical_not", &logical_not}}) {
    m.def(name, fn, GilRelease());
  }
  m.def("pow", [](const Tensor& a, py::object e) {
    Tensor b = as_tensor(e, a, "pow");
    py::gil_scoped_release release;
    return pow(a, b);
  });
  m.def("maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, GilRelease());
  m.def("minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, GilRelease());
  m.def("where", [](const Tensor& c, py::object a, py::object b) {
    Tensor like = py::isinstance<Tensor>(a) ? a.cast<Tensor>() : py::isinstance<Tensor>(b) ? b.cast<Tensor>() : c;
    Tensor ta = as_tensor(a, like, "where"), tb = as_tensor(b, like, "where");
    py::gil_scoped_release release;
    return where(c, ta, tb);
  });
  m.def("clamp", [](const Tensor& x, std::optional<double> lo, std::optional<double> hi) { return clamp(x, lo, hi); },
        py::arg("input"), py::arg("min") = py::none(), py::arg("max") = py::none(), GilRelease());
  // (functions that read Python objects convert them before releasing the GIL)
  m.def("sum", [](const Tensor& x, py::object dim, bool keepdim) {
    IntList dims = dims_of(dim);
    py::gil_scoped_release release;
    return sum(x, dims, keepdim);
  }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("mean", [](const Tensor& x, py::object dim, bool keepdim) {
    IntList dims = dims_of(dim);
    py::gil_scoped_release release;
    return mean(x, dims, keepdim);
  }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("var", [](const Tensor& x, py::object dim, bool unbiased, bool keepdim) {
    IntList dims = dims_of(dim);
    py::gil_scoped_release release;
    return var(x, dims, unbiased, keepdim);
  },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("unbiased") = true, py::arg("keepdim") = false);
  m.def("amax", [](const Tensor& x, py::object dim, bool keepdim) {
    IntList dims = dims_of(dim);
    py::gil_scoped_release release;
    return amax(x, dims, keepdim);
  },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("max", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) -> py::object {
    if (!dim) return py::cast(max(x));
    auto [v, i] = max(x, *dim, keepdim);
    return py::make_tuple(v, i);
  }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("argmax", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return argmax(x, dim, keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false, GilRelease());
  m.def("softmax", &softmax, py::arg("input"), py::arg("dim"), GilRelease());
  m.def("log_softmax", &log_softmax, py::arg("input"), py::arg("dim"), GilRelease());
  m.def("cat", [](const TensorList& xs, int64_t dim) { return cat(xs, dim); }, py::arg("tensors"), py::arg("dim") = 0,
        GilRelease());
  m.def("stack", [](const TensorList& xs, int64_t dim) { return stack(xs, dim); }, py::arg("tensors"), py::arg("dim") = 0,
        GilRelease());
  m.def("transpose", [](const Tensor& x, int64_t a, int64_t b) { return transpose(x, a, b); }, GilRelease());
  m.def("reshape", [](const Tensor& x, py::object s) { return reshape(x, to_int_list(s, "reshape")); });
  // indexing and shape
  m.def("gather", [](const Tensor& x, int64_t dim, const Tensor& idx) { return gather(x, dim, idx); }, GilRelease());
  m.def("scatter", [](const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src) { return scatter(x, dim, idx, src); },
        GilRelease());
  m.def("scatter_add", [](const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src) {
    return scatter_add(x, dim, idx, src);
  }, GilRelease());
  m.def("index_select", [](const Tensor& x, int64_t dim, const Tensor& idx) { return index_select(x, dim, idx); },
        GilRelease());
  m.def("index_add", [](const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src) {
    return index_add(x, dim, idx, src);
  }, GilRelease());
  m.def("masked_select", &masked_select, GilRelease());
  m.def("nonzero", &nonzero, GilRelease());
  m.def("tril", &tril, py::arg("input"), py::arg("diagonal") = 0, GilRelease());
  m.def("triu", &triu, py::arg("input"), py::arg("diagonal") = 0, GilRelease());
  m.def("split", [](const Tensor& x, int64_t size, int64_t dim) { return split(x, size, dim); }, py::arg("tensor"),
        py::arg("split_size"), py::arg("dim") = 0, GilRelease());
  m.def("chunk", [](const Tensor& x, int64_t n, int64_t dim) { return chunk(x, n, dim); }, py::arg("input"),
        py::arg("chunks"), py::arg("dim") = 0, GilRelease());
  m.def("repeat", [](const Tensor& x, py::object r) { return repeat(x, to_int_list(r, "repeat")); });
  // more reductions
  m.def("prod", [](const Tensor& x, py::object dim, bool keepdim) { return prod(x, dims_of(dim), keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("std", [](const Tensor& x, py::object dim, bool unbiased, bool keepdim) { return anneal::std(x, dims_of(dim), unbiased, keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("unbiased") = true, py::arg("keepdim") = false);
  m.def("logsumexp", [](const Tensor& x, py::object dim, bool keepdim) { return logsumexp(x, to_int_list(dim, "dim"), keepdim); },
        py::arg("input"), py::arg("dim"), py::arg("keepdim") = false);
  m.def("norm", [](const Tensor& x, double p, py::object dim, bool keepdim) { return norm(x, p, dims_of(dim), keepdim); },
        py::arg("input"), py::arg("p") = 2.0, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("amin", [](const Tensor& x, py::object dim, bool keepdim) { return amin(x, dims_of(dim), keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("allclose", [](const Tensor& a, const Tensor& b, double rtol, double atol) { return allclose(a, b, rtol, atol); },
        py::arg("input"), py::arg("other"), py::arg("rtol") = 1e-5, py::arg("atol") = 1e-8, GilRelease());
  m.def("equal", &equal, GilRelease());
  m.def("min", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) -> py::object {
    if (!dim) return py::cast(min(x));
    auto [v, i] = min(x, *dim, keepdim);
    return py::make_tuple(v, i);
  }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("argmin", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return argmin(x, dim, keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false, GilRelease());
  m.def("all", [](const Tensor& x, py::object dim, bool keepdim) { return all(x, dims_of(dim), keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("any", [](const Tensor& x, py::object dim, bool keepdim) { return any(x, dims_of(dim), keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("round", &round, GilRelease());
  m.def("reciprocal", &reciprocal, GilRelease());
  m.def("atan2", [](const Tensor& a, const Tensor& b) { return atan2(a, b); }, GilRelease());
  m.def("logical_and", [](const Tensor& a, const Tensor& b) { return logical_and(a, b); }, GilRelease());
  m.def("logical_or", [](const Tensor& a, const Tensor& b) { return logical_or(a, b); }, GilRelease());
  m.def("lerp", [](const Tensor& a, const Tensor& b, py::object w) {
    if (py::isinstance<Tensor>(w)) return lerp(a, b, w.cast<Tensor>());
    return lerp(a, b, to_scalar(w, "lerp"));
  }, py::arg("input"), py::arg("end"), py::arg("weight"));
  m.def("masked_fill", [](const Tensor& x, const Tensor& mask, py::object v) {
    return masked_fill(x, mask, to_scalar(v, "masked_fill"));
  }, py::arg("input"), py::arg("mask"), py::arg("value"));
  m.def("unflatten", [](const Tensor& x, int64_t dim, py::object sizes) {
    return unflatten(x, dim, to_int_list(sizes, "sizes"));
  }, py::arg("input"), py::arg("dim"), py::arg("sizes"));
  m.def("full_like", [](const Tensor& t, py::object v) { return full_like(t, to_scalar(v, "full_like")); },
        py::arg("input"), py::arg("fill_value"));
  m.def("rand_like", [](const Tensor& t) { return rand_like(t); }, GilRelease());
  m.def("linspace", [](double start, double end, int64_t steps, std::optional<DType> dtype, std::string device) {
    return linspace(start, end, steps, opts(dtype, device));
  }, py::arg("start"), py::arg("end"), py::arg("steps"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("device") = "cpu", GilRelease());

  // ---- nn.functional ----
  py::module_ F = m.def_submodule("functional", "anneal.nn.functional");
  F.def("relu", &relu, GilRelease());
  F.def("gelu", [](const Tensor& x, const std::string& approximate) { return gelu(x, gelu_uses_tanh(approximate)); },
        py::arg("input"), py::arg("approximate") = "none", GilRelease());
  F.def("silu", &silu, GilRelease());
  F.def("sigmoid", &sigmoid, GilRelease());
  F.def("tanh", &tanh, GilRelease());
  F.def("softmax", &softmax, py::arg("input"), py::arg("dim"), GilRelease());
  F.def("log_softmax", &log_softmax, py::arg("input"), py::arg("dim"), GilRelease());
  F.def("linear", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b) { return linear(x, w, opt_tensor(b)); },
        py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), GilRelease());
  F.def("cross_entropy", [](const Tensor& x, const Tensor& y, std::optional<Tensor> weight, int64_t ignore_index,
                            const std::string& reduction, double label_smoothing) {
    CrossEntropyOptions o;
    o.weight = opt_tensor(weight);
    o.ignore_index = ignore_index;
    o.reduction = reduction_of(reduction);
    o.label_smoothing = label_smoothing;
    py::gil_scoped_release release;
    return cross_entropy(x, y, o);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
     py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0);
  F.def("mse_loss", [](const Tensor& x, const Tensor& y, const std::string& r) { return mse_loss(x, y, reduction_of(r)); },
        py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", GilRelease());
  F.def("l1_loss", [](const Tensor& x, const Tensor& y, const std::string& r) { return l1_loss(x, y, reduction_of(r)); },
        py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", GilRelease());
  F.def("binary_cross_entropy_with_logits", [](const Tensor& x, const Tensor& y, const std::string& r) {
    return binary_cross_entropy_with_logits(x, y, Tensor(), Tensor(), reduction_of(r));
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", GilRelease());
  F.def("conv2d", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, int64_t stride, int64_t padding,
                     int64_t dilation, int64_t groups) {
    py::gil_scoped_release release;
    return conv2d(x, w, opt_tensor(b), Conv2dOptions::square(stride, padding, dilation, groups));
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
     py::arg("dilation") = 1, py::arg("groups") = 1);
  F.def("max_pool2d", [](const Tensor& x, int64_t k, std::optional<int64_t> stride, int64_t padding) {
    return max_pool2d(x, k, stride.value_or(k), padding);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0, GilRelease());
  F.def("max_pool2d_with_indices", [](const Tensor& x, int64_t k, std::optional<int64_t> stride, int64_t padding,
                                      int64_t dilation) {
    auto [v, i] = max_pool2d_with_indices(x, k, stride.value_or(k), padding, dilation);
    return py::make_tuple(v, i);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
     py::arg("dilation") = 1);
  F.def("unfold", [](const Tensor& x, py::object kernel, int64_t dilation, int64_t padding, int64_t stride) {
    IntList k = to_int_list(kernel, "kernel_size");
    ANNEAL_CHECK(k.size() == 1 || k.size() == 2, ValueError, "unfold: kernel_size must be an int or a pair, got ",
                 k.size(), " values");
    py::gil_scoped_release release;
    return unfold(x, k[0], k.size() > 1 ? k[1] : k[0], Conv2dOptions::square(stride, padding, dilation));
  }, py::arg("input"), py::arg("kernel_size"), py::arg("dilation") = 1, py::arg("padding") = 0, py::arg("stride") = 1);
  F.def("batch_norm", [](const Tensor& x, std::optional<Tensor> mean, std::optional<Tensor> var, std::optional<Tensor> w,
                         std::optional<Tensor> b, bool training, double momentum, double eps) {
    py::gil_scoped_release release;
    return batch_norm(x, opt_tensor(mean), opt_tensor(var), opt_tensor(w), opt_tensor(b), training, momentum, eps);
  }, py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
     py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5);
  F.def("avg_pool2d", [](const Tensor& x, int64_t k, std::optional<int64_t> stride, int64_t padding) {
    return avg_pool2d(x, k, stride.value_or(k), padding);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0, GilRelease());
  F.def("dropout", [](const Tensor& x, double p, bool training) { return dropout(x, p, training); },
        py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true, GilRelease());
  F.def("layer_norm", [](const Tensor& x, py::object shape, std::optional<Tensor> w, std::optional<Tensor> b, double eps) {
    return layer_norm(x, to_int_list(shape, "normalized_shape"), opt_tensor(w), opt_tensor(b), eps);
  }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5);
  F.def("embedding", [](const Tensor& idx, const Tensor& w) { return embedding(w, idx); }, GilRelease());
  F.def("pad", [](const Tensor& x, py::object p, double value) { return pad(x, to_int_list(p, "pad"), value); },
        py::arg("input"), py::arg("pad"), py::arg("value") = 0.0);
  F.def("one_hot", &one_hot, py::arg("tensor"), py::arg("num_classes") = -1, GilRelease());
  F.def("nll_loss", [](const Tensor& x, const Tensor& y, const std::string& r) {
    return nll_loss(x, y, Tensor(), -100, reduction_of(r));
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", GilRelease());
  F.def("smooth_l1_loss", [](const Tensor& x, const Tensor& y, const std::string& r, double beta) {
    return smooth_l1_loss(x, y, reduction_of(r), beta);
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", py::arg("beta") = 1.0, GilRelease());
  F.def("binary_cross_entropy", [](const Tensor& x, const Tensor& y, const std::string& r) {
    return binary_cross_entropy(x, y, Tensor(), reduction_of(r));
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", GilRelease());
  F.def("group_norm", [](const Tensor& x, int64_t groups, std::optional<Tensor> w, std::optional<Tensor> b, double eps) {
    return group_norm(x, groups, opt_tensor(w), opt_tensor(b), eps);
  }, py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5, GilRelease());
  F.def("adaptive_avg_pool2d", [](const Tensor& x, py::object size) {
    IntList s = to_int_list(size, "output_size");
    ANNEAL_CHECK(s.size() == 1 || s.size() == 2, ValueError, "adaptive_avg_pool2d: output_size must be one or two "
                 "sizes, got ", s.size());
    return adaptive_avg_pool2d(x, s[0], s.size() > 1 ? s[1] : s[0]);
  });
  F.def("leaky_relu", [](const Tensor& x, double slope) { return leaky_relu(x, slope); }, py::arg("input"),
        py::arg("negative_slope") = 0.01, GilRelease());
  F.def("softplus", [](const Tensor& x, double beta, double threshold) { return softplus(x, beta, threshold); },
        py::arg("input"), py::arg("beta") = 1.0, py::arg("threshold") = 20.0, GilRelease());
  // the recurrent layers' fused gates (anneal.nn's RNN/LSTM/GRU and their cells use them)
  F.def("lstm_cell_gates", [](const Tensor& gates, const Tensor& c) {
    auto [h, cn] = lstm_cell_gates(gates, c);
    return py::make_tuple(h, cn);
  }, py::arg("gates"), py::arg("c"), "(h', c') of one LSTM step from its gates [.., 4H] (i, f, g, o) and c [.., H]");
  F.def("gru_cell_gates", &gru_cell_gates, py::arg("x_gates"), py::arg("h_gates"), py::arg("h"), GilRelease(),
        "h' of one GRU step from x·W_ihᵀ + b_ih and h·W_hhᵀ + b_hh [.., 3H] (r, z, n) and h [.., H]");
  F.def("scaled_dot_product_attention", [](const Tensor& q, const Tensor& k, const Tensor& v,
                                           std::optional<Tensor> mask, double dropout_p, bool is_causal) {
    py::gil_scoped_release release;
    return scaled_dot_product_attention(q, k, v, opt_tensor(mask), is_causal, {}, dropout_p);
  }, py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(),
     py::arg("dropout_p") = 0.0, py::arg("is_causal") = false);

  // ---- autograd ----
  py::module_ ag = m.def_submodule("autograd", "anneal.autograd");
  ag.def("grad", [](py::object outputs, py::object inputs, py::object grad_outputs, std::optional<bool> retain_graph,
                    bool create_graph, bool allow_unused) -> py::object {
    auto as_list = [](py::object o) {
      if (o.is_none()) return TensorList{};
      if (py::isinstance<Tensor>(o)) return TensorList{o.cast<Tensor>()};
      return o.cast<TensorList>();
    };
    TensorList outs = as_list(outputs), ins = as_list(inputs), gos = as_list(grad_outputs);
    TensorList grads;
    {
      py::gil_scoped_release release;
      grads = autograd::grad(outs, ins, gos, retain_graph, create_graph, allow_unused);
    }
    py::tuple result(grads.size());
    for (size_t i = 0; i < grads.size(); ++i) result[i] = grads[i].defined() ? py::cast(grads[i]) : py::none();
    return result;
  }, py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs") = py::none(), py::arg("retain_graph") = py::none(),
     py::arg("create_graph") = false, py::arg("allow_unused") = false);
  // The node of a Python autograd.Function (anneal/autograd/function.py builds on it):
  // `backward` is called with the output gradients as a list and returns one gradient or
  // None per input. It runs with the GIL taken, from whichever thread runs backward.
  ag.def("_record_function", [](const std::string& name, const TensorList& inputs, const TensorList& outputs,
                                py::function backward) {
    SharedPyObject fn(std::move(backward));
    const size_t n_inputs = inputs.size();
    auto node = autograd::record(name.c_str(), inputs, outputs, [fn, name, n_inputs](const TensorList& grads) {
      py::gil_scoped_acquire gil;
      py::object r = fn.get()(py::cast(grads));
      TensorList out;
      for (py::handle g : r) out.push_back(g.is_none() ? Tensor() : g.cast<Tensor>());
      ANNEAL_CHECK(out.size() == n_inputs, AutogradError, name, ": backward returned ", out.size(),
                   " gradients, expected ", n_inputs);
      return out;
    });
    return node != nullptr;
  }, py::arg("name"), py::arg("inputs"), py::arg("outputs"), py::arg("backward"));
  m.def("is_grad_enabled", &GradMode::is_enabled, GilRelease());
  m.def("_set_grad_enabled", &GradMode::set_enabled, GilRelease());

  // ---- optimizers over lists of tensors ----
  py::module_ optim_m = m.def_submodule("optim", "anneal.optim");
  py::class_<optim::Optimizer>(optim_m, "Optimizer")
      .def("step", &optim::Optimizer::step, GilRelease())
      .def("zero_grad", &optim::Optimizer::zero_grad, py::arg("set_to_none") = true)
      .def_property("lr", [](optim::Optimizer& o) { return o.param_groups().front().get("lr"); },
                    [](optim::Optimizer& o, double lr) {
                      for (auto& g : o.param_groups()) g.options["lr"] = lr;
                    })
      // The pieces anneal.optim's PyTorch-style classes (param_groups as dicts, state,
      // state_dict) are built from; options are numbers keyed by the C++ names.
      .def("_group_count", [](optim::Optimizer& o) { return o.param_groups().size(); })
      .def("_group_params", [](optim::Optimizer& o, size_t i) { return o.param_groups().at(i).params; })
      .def("_add_param_group", [](optim::Optimizer& o, TensorList params, optim::Options options) {
        o.add_param_group({std::move(params), std::move(options)});
      }, py::keep_alive<1, 2>())
      .def("_get_option", [](optim::Optimizer& o, size_t i, const std::string& key) {
        return o.param_groups().at(i).get(key);
      })
      .def("_set_option", [](optim::Optimizer& o, size_t i, const std::string& key, double v) {
        o.param_groups().at(i).options[key] = v;
      })
      .def("_options", [](optim::Optimizer& o, size_t i) { return o.param_groups().at(i).options; })
      .def("_state_of", [](optim::Optimizer& o, const Tensor& p) { return o.state_of(p); })
      .def("_state_dict", [](const optim::Optimizer& o) {
        optim::OptimizerState s = o.state_dict();
        return py::make_tuple(s.groups, s.state);
      })
      .def("_load_state_dict", [](optim::Optimizer& o, std::vector<optim::Options> groups,
                                  std::map<int64_t, std::map<std::string, Tensor>> state) {
        o.load_state_dict({std::move(groups), std::move(state)});
      })
      .def("_name", &optim::Optimizer::name);
  py::class_<optim::GradScaler>(optim_m, "GradScaler")
      .def(py::init([](double init_scale, double growth_factor, double backoff_factor, int64_t growth_interval,
                       bool enabled) {
        return optim::GradScaler({init_scale, growth_factor, backoff_factor, growth_interval, enabled});
      }), py::arg("init_scale") = 65536.0, py::arg("growth_factor") = 2.0, py::arg("backoff_factor") = 0.5,
          py::arg("growth_interval") = 2000, py::arg("enabled") = true)
      .def("scale", &optim::GradScaler::scale)
      .def("unscale_", &optim::GradScaler::unscale_, GilRelease())
      .def("step", &optim::GradScaler::step, GilRelease())
      .def("update", &optim::GradScaler::update)
      .def("get_scale", &optim::GradScaler::get_scale)
      .def("state_dict", &optim::GradScaler::state_dict)
      .def("load_state_dict", &optim::GradScaler::load_state_dict);
  // autocast scopes: the Python context manager keeps one guard per `with` block
  py::class_<AutocastGuard>(m, "_AutocastGuard")
      .def(py::init([](const std::string& device_type, DType dtype, bool enabled) {
        ANNEAL_CHECK(device_type == "cpu" || device_type == "cuda", ValueError,
                     "autocast: device_type must be 'cpu' or 'cuda', got '", device_type, "'");
        return std::make_unique<AutocastGuard>(device_type == "cpu" ? DeviceType::CPU : DeviceType::CUDA, dtype, enabled);
      }));
  m.def("is_autocast_enabled", [] { return autocast_state().enabled; }, GilRelease());
  py::class_<optim::SGD, optim::Optimizer>(optim_m, "SGD")
      .def(py::init<TensorList, double, double, double, double, bool, bool>(), py::arg("params"), py::arg("lr"),
           py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
           py::arg("nesterov") = false, py::arg("maximize") = false, py::keep_alive<1, 2>());
  py::class_<optim::Adam, optim::Optimizer>(optim_m, "Adam")
      .def(py::init([](TensorList params, double lr, std::pair<double, double> betas, double eps, double wd, bool ams,
                       bool capturable) {
        return new optim::Adam(std::move(params), lr, betas.first, betas.second, eps, wd, ams, capturable);
      }), py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
          py::arg("weight_decay") = 0.0, py::arg("amsgrad") = false, py::arg("capturable") = false);
  py::class_<optim::RMSprop, optim::Optimizer>(optim_m, "RMSprop")
      .def(py::init<TensorList, double, double, double, double, double, bool>(), py::arg("params"), py::arg("lr") = 1e-2,
           py::arg("alpha") = 0.99, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0,
           py::arg("centered") = false, py::keep_alive<1, 2>());
  py::class_<optim::Adagrad, optim::Optimizer>(optim_m, "Adagrad")
      .def(py::init<TensorList, double, double, double, double, double>(), py::arg("params"), py::arg("lr") = 1e-2,
           py::arg("lr_decay") = 0.0, py::arg("weight_decay") = 0.0, py::arg("initial_accumulator_value") = 0.0,
           py::arg("eps") = 1e-10, py::keep_alive<1, 2>());
  py::class_<optim::AdamW, optim::Adam>(optim_m, "AdamW")
      .def(py::init([](TensorList params, double lr, std::pair<double, double> betas, double eps, double wd, bool ams,
                       bool capturable) {
        return new optim::AdamW(std::move(params), lr, betas.first, betas.second, eps, wd, ams, capturable);
      }), py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
          py::arg("weight_decay") = 1e-2, py::arg("amsgrad") = false, py::arg("capturable") = false);
}

}  // namespace anneal::python
