// The fused recurrent gates (ops/rnn.cpp) on the GPU against the CPU's kernels: values and
// gradients of LSTM and GRU steps in float32, float64 and bfloat16 (computed in float).
#include <tuple>

#include "cuda_test.h"

namespace anneal::test {
namespace {

class CudaRnnGates : public CudaTest {};

void expect_near(const Tensor& got, const Tensor& want, double tol, const char* what) {
  Tensor g = got.cpu().to(DType::Float64), w = want.to(DType::Float64);
  const double err = (g - w).abs().max().item<double>(), scale = std::max(1.0, w.abs().max().item<double>());
  EXPECT_LE(err, tol * scale) << what;
}

double tolerance(DType d) { return d == DType::Float64 ? 1e-12 : d == DType::Float32 ? 1e-5 : 2e-2; }

TEST_F(CudaRnnGates, LstmMatchesTheCpu) {
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16}) {
    Generator g(7);
    Tensor gates = randn({5, 12}, {}, &g).to(d), c = randn({5, 3}, {}, &g).to(d);
    Tensor ph = randn({5, 3}, {}, &g).to(d), pc = randn({5, 3}, {}, &g).to(d);
    Tensor gq = gates.clone().set_requires_grad(), cq = c.clone().set_requires_grad();
    Tensor gd = gates.to(gpu).set_requires_grad(), cd = c.to(gpu).set_requires_grad();
    auto [h1, c1] = lstm_cell_gates(gq, cq);
    auto [h2, c2] = lstm_cell_gates(gd, cd);
    ((h1 * ph).sum() + (c1 * pc).sum()).backward();
    ((h2 * ph.to(gpu)).sum() + (c2 * pc.to(gpu)).sum()).backward();
    const double tol = tolerance(d);
    expect_near(h2, h1, tol, "h'");
    expect_near(c2, c1, tol, "c'");
    expect_near(gd.grad(), gq.grad(), tol, "grad gates");
    expect_near(cd.grad(), cq.grad(), tol, "grad c");
  }
}

TEST_F(CudaRnnGates, GruMatchesTheCpu) {
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16}) {
    Generator g(9);
    Tensor xg = randn({4, 9}, {}, &g).to(d), hg = randn({4, 9}, {}, &g).to(d), h = randn({4, 3}, {}, &g).to(d);
    Tensor probe = randn({4, 3}, {}, &g).to(d);
    TensorList cpu_in{xg.clone().set_requires_grad(), hg.clone().set_requires_grad(), h.clone().set_requires_grad()};
    TensorList gpu_in{xg.to(gpu).set_requires_grad(), hg.to(gpu).set_requires_grad(), h.to(gpu).set_requires_grad()};
    Tensor o1 = gru_cell_gates(cpu_in[0], cpu_in[1], cpu_in[2]);
    Tensor o2 = gru_cell_gates(gpu_in[0], gpu_in[1], gpu_in[2]);
    (o1 * probe).sum().backward();
    (o2 * probe.to(gpu)).sum().backward();
    const double tol = tolerance(d);
    expect_near(o2, o1, tol, "h'");
    for (size_t i = 0; i < 3; ++i) expect_near(gpu_in[i].grad(), cpu_in[i].grad(), tol, "gradient");
  }
}

}  // namespace
}  // namespace anneal::test
