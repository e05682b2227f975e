#pragma once
// The recurrent cells' gate formulas, written once for the CPU and CUDA kernels (as
// kernels/elementwise_math.h does for the elementwise maps). M is the math policy for
// exp and tanh. Gate orders are PyTorch's: LSTM i, f, g, o; GRU r, z, n. The forward
// keeps the activated gates (the kernels' workspace), so the backward needs no
// transcendental function at all.
#include "core/macros.h"

namespace anneal::math {

template <class M, class C>
ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C gate_sigmoid(C x) {
  return C(1) / (C(1) + M::exp(-x));
}

// LSTM: a* are the pre-activations (x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh).
// c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c'); act receives σ(i), σ(f), tanh(g),
// σ(o) and tanh(c').
template <class M, class C>
ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE void lstm_forward(C ai, C af, C ag, C ao, C c, C& h_new, C& c_new, C& i, C& f,
                                                         C& g, C& o, C& tc) {
  i = gate_sigmoid<M>(ai), f = gate_sigmoid<M>(af), g = M::tanh(ag), o = gate_sigmoid<M>(ao);
  c_new = f * c + i * g;
  tc = M::tanh(c_new);
  h_new = o * tc;
}

// Its gradients from gh = dL/dh' and gc = dL/dc', given the activations.
template <class C>
ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE void lstm_backward(C i, C f, C g, C o, C tc, C c, C gh, C gc, C& dai, C& daf,
                                                          C& dag, C& dao, C& dc) {
  const C dcn = gc + gh * o * (C(1) - tc * tc);
  dao = gh * tc * o * (C(1) - o);
  dai = dcn * g * i * (C(1) - i);
  daf = dcn * c * f * (C(1) - f);
  dag = dcn * i * (C(1) - g * g);
  dc = dcn * f;
}

// GRU: x* = x·W_ihᵀ + b_ih and h* = h·W_hhᵀ + b_hh per gate.
// r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r·hn), h' = (1 − z)·n + z·h.
template <class M, class C>
ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE C gru_forward(C xr, C xz, C xn, C hr, C hz, C hn, C h, C& r, C& z, C& n) {
  r = gate_sigmoid<M>(xr + hr), z = gate_sigmoid<M>(xz + hz);
  n = M::tanh(xn + r * hn);
  return (C(1) - z) * n + z * h;
}

// Its gradients from gh = dL/dh': dr and dz are those of both projections' r and z parts;
// the n part differs (dxn, and dhn = dxn·r).
template <class C>
ANNEAL_HOST_DEVICE ANNEAL_FORCE_INLINE void gru_backward(C r, C z, C n, C hn, C h, C gh, C& dr, C& dz, C& dxn, C& dhn,
                                                         C& dh) {
  dxn = gh * (C(1) - z) * (C(1) - n * n);
  dhn = dxn * r;
  dr = dxn * hn * r * (C(1) - r);
  dz = gh * (h - n) * z * (C(1) - z);
  dh = gh * z;
}

}  // namespace anneal::math
