// Recurrent cells' gates as fused ops: the backend's one-pass kernels where they apply
// (kernels/rnn_math.h), else the composite of sigmoid/tanh/chunk, which is also what
// create_graph differentiates (ops/fused.h).
#include "ops/nn.h"

#include "core/autograd/engine.h"
#include "ops/elementwise.h"
#include "ops/fused.h"
#include "ops/internal.h"
#include "ops/shape.h"

namespace anneal {
using namespace detail;
using autograd::record;

namespace {

// [..., k·H] and [..., H] with the same leading dims; returns H.
int64_t check_gates(const char* op, const Tensor& gates, int64_t k, const Tensor& state, const char* state_name) {
  check_defined(op, gates, "gates");
  check_defined(op, state, state_name);
  ANNEAL_CHECK(gates.dim() >= 1 && state.dim() == gates.dim(), ValueError, op, ": gates ", gates.shape_str(), " and ",
               state_name, " ", state.shape_str(), " must have the same number of dims (at least one)");
  const int64_t H = state.size(-1);
  bool ok = gates.size(-1) == k * H;
  for (int64_t d = 0; d + 1 < gates.dim(); ++d) ok = ok && gates.size(d) == state.size(d);
  ANNEAL_CHECK(ok, ValueError, op, ": expected gates of shape [..., ", k, " * H] for ", state_name, " ",
               state.shape_str(), ", got ", gates.shape_str());
  ANNEAL_CHECK(gates.device() == state.device(), DeviceError, op, ": gates on ", gates.device().str(), " but ",
               state_name, " on ", state.device().str());
  ANNEAL_CHECK(is_floating(gates.dtype()) && is_floating(state.dtype()), TypeError, op,
               ": expected floating tensors, got ", dtype_name(gates.dtype()), " and ", dtype_name(state.dtype()));
  return H;
}

// A contiguous [rows, width] view of t (copied only when t is not contiguous).
Tensor as_rows(const Tensor& t, int64_t width) {
  Tensor c = contiguous_raw(t);
  const int64_t rows = width == 0 ? 0 : c.numel() / width;
  return make_view(c, {rows, width}, {width, 1}, c.storage_offset());
}
Tensor shaped_like(const Tensor& rows, const Tensor& like) {
  return make_view(rows, like.sizes(), contiguous_strides(like.sizes()), rows.storage_offset());
}

std::tuple<Tensor, Tensor> lstm_composite(const Tensor& gates, const Tensor& c) {
  TensorList g = chunk(gates, 4, -1);
  Tensor c_new = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
  return {sigmoid(g[3]) * tanh(c_new), c_new};
}
Tensor gru_composite(const Tensor& xg, const Tensor& hg, const Tensor& h) {
  TensorList x = chunk(xg, 3, -1), hh = chunk(hg, 3, -1);
  Tensor r = sigmoid(x[0] + hh[0]), z = sigmoid(x[1] + hh[1]);
  Tensor n = tanh(x[2] + r * hh[2]);
  return (1.0 - z) * n + z * h;
}

}  // namespace

std::tuple<Tensor, Tensor> lstm_cell_gates(const Tensor& gates, const Tensor& c) {
  const int64_t H = check_gates("lstm_cell_gates", gates, 4, c, "c");
  if (gates.dtype() != c.dtype()) return lstm_composite(gates, c);  // promotion: the composite's rules
  Tensor g2 = as_rows(gates, 4 * H), c2 = as_rows(c, H);
  Tensor h_out = empty_on(c2.sizes(), c.dtype(), c.device()), c_out = empty_on(c2.sizes(), c.dtype(), c.device());
  // the activated gates and tanh(c'): the backward's inputs (no autograd history of its own)
  Tensor act = empty_on({c2.size(0), 5 * H}, c.dtype(), c.device());
  if (!backend_of(c).lstm_cell(g2, c2, h_out, c_out, act)) return lstm_composite(gates, c);
  Tensor h = shaped_like(h_out, c), cn = shaped_like(c_out, c);
  if (autograd::any_requires_grad({gates, c})) {
    record("LstmCellGatesBackward0", {gates, c}, {h, cn},
           [sg = SavedTensor(gates, false), sc = SavedTensor(c, false), act, H](const TensorList& gr) -> TensorList {
             Tensor gates_in = sg.unpack(), c_in = sc.unpack();
             if (GradMode::is_enabled())  // create_graph: differentiate the composite form
               return composite_backward(
                   [](const TensorList& in) {
                     auto [h2, c2] = lstm_composite(in[0], in[1]);
                     return cat({h2, c2}, -1);
                   },
                   {gates_in, c_in}, cat({gr[0], gr[1]}, -1));
             Tensor c2 = as_rows(c_in, H);
             Tensor dg = empty_on({c2.size(0), 4 * H}, c2.dtype(), c2.device());
             Tensor dc = empty_on(c2.sizes(), c2.dtype(), c2.device());
             backend_of(c_in).lstm_cell_backward(act, c2, as_rows(gr[0], H), as_rows(gr[1], H), dg, dc);
             return {shaped_like(dg, gates_in), shaped_like(dc, c_in)};
           });
  }
  return {h, cn};
}

Tensor gru_cell_gates(const Tensor& x_gates, const Tensor& h_gates, const Tensor& h) {
  const int64_t H = check_gates("gru_cell_gates", x_gates, 3, h, "h");
  check_gates("gru_cell_gates", h_gates, 3, h, "h");
  if (x_gates.dtype() != h.dtype() || h_gates.dtype() != h.dtype()) return gru_composite(x_gates, h_gates, h);
  Tensor x2 = as_rows(x_gates, 3 * H), hg2 = as_rows(h_gates, 3 * H), h2 = as_rows(h, H);
  Tensor out = empty_on(h2.sizes(), h.dtype(), h.device());
  Tensor act = empty_on({h2.size(0), 3 * H}, h.dtype(), h.device());  // r, z, n for the backward
  if (!backend_of(h).gru_cell(x2, hg2, h2, out, act)) return gru_composite(x_gates, h_gates, h);
  Tensor h_new = shaped_like(out, h);
  if (autograd::any_requires_grad({x_gates, h_gates, h})) {
    record("GruCellGatesBackward0", {x_gates, h_gates, h}, {h_new},
           [sx = SavedTensor(x_gates, false), shg = SavedTensor(h_gates, false), sh = SavedTensor(h, false), act,
            H](const TensorList& gr) -> TensorList {
             Tensor x_in = sx.unpack(), hg_in = shg.unpack(), h_in = sh.unpack();
             if (GradMode::is_enabled())
               return composite_backward(
                   [](const TensorList& in) { return gru_composite(in[0], in[1], in[2]); }, {x_in, hg_in, h_in}, gr[0]);
             Tensor hg2 = as_rows(hg_in, 3 * H), h2 = as_rows(h_in, H);
             Tensor dx = empty_on(hg2.sizes(), hg2.dtype(), hg2.device()), dhg = empty_on(hg2.sizes(), hg2.dtype(), hg2.device());
             Tensor dh = empty_on(h2.sizes(), h2.dtype(), h2.device());
             backend_of(h_in).gru_cell_backward(act, hg2, h2, as_rows(gr[0], H), dx, dhg, dh);
             return {shaped_like(dx, x_in), shaped_like(dhg, hg_in), shaped_like(dh, h_in)};
           });
  }
  return h_new;
}

}  // namespace anneal
