#pragma once
#include "kernels/backend.h"

namespace anneal::cpu {

// The CPU implementation of the primitive kernels; its methods are spread over the
// files of kernels/cpu by kind (elementwise, reduce, matmul, index, conv, random).
class CpuBackend final : public Backend {
 public:
  DeviceType device_type() const override { return DeviceType::CPU; }
  void fill(const Tensor& out, Scalar value) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void unary(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& in, const Tensor& out) override;
  void bmm(const Tensor& a, const Tensor& b, const Tensor& out) override;
  void arange(const Tensor& out, double start, double step) override;
  void random_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void random_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override;
  void index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out) override;
  void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) override;
  Tensor nonzero(const Tensor& in) override;
  void im2col(const Tensor& in, const Tensor& cols, const Conv2dGeometry& g, double pad_value) override;
  void col2im(const Tensor& cols, const Tensor& out, const Conv2dGeometry& g) override;
  void copy_across(const Tensor& dst, const Tensor& src, bool non_blocking = false) override;
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out,
                      const Conv2dGeometry& g, int64_t groups) override;
  void conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                       const Tensor& grad_w, const Conv2dGeometry& g, int64_t groups) override;
  void channel_sums(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                    const Tensor& sum_a, const Tensor& sum_ab) override;
  void channel_affine(const Tensor& a, const Tensor& a_shift, const Tensor& b, const Tensor& b_shift,
                      const Tensor& ca, const Tensor& cb, const Tensor& c0, const Tensor& out) override;
  void max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const Conv2dGeometry& g) override;
  void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in) override;
  void sgd_step(const Tensor& p, const Tensor& g, const Tensor& buf, double lr, double momentum, double dampening,
                double weight_decay, bool nesterov, bool first_step) override;
  void adam_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& max_v, double b1,
                 double b2, double eps, double step_size, double bc2_sqrt) override;
  void softmax_rows(const Tensor& in, const Tensor& out, bool log, int64_t causal_len) override;
  bool lstm_cell(const Tensor& gates, const Tensor& c, const Tensor& h_out, const Tensor& c_out,
                 const Tensor& act) override;
  bool lstm_cell_backward(const Tensor& act, const Tensor& c, const Tensor& grad_h, const Tensor& grad_c_out,
                          const Tensor& grad_gates, const Tensor& grad_c) override;
  bool gru_cell(const Tensor& x_gates, const Tensor& h_gates, const Tensor& h, const Tensor& h_out,
                const Tensor& act) override;
  bool gru_cell_backward(const Tensor& act, const Tensor& h_gates, const Tensor& h, const Tensor& grad_h_out,
                         const Tensor& grad_x_gates, const Tensor& grad_h_gates, const Tensor& grad_h) override;
  void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& grad_in, bool log) override;
  void layer_norm_rows(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                       const Tensor& mean, const Tensor& rstd) override;
  void layer_norm_rows_backward(const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db) override;
};

CpuBackend& cpu_backend();

}  // namespace anneal::cpu
