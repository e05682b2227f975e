#pragma once
// The CUDA kernels behind CudaBackend, as plain C++ declarations (no CUDA header), one
// group per .cu file. Each receives tensors on the current device whose shapes and
// dtypes the ops layer has already checked, as described in kernels/backend.h.
#include "kernels/backend.h"

namespace anneal::cuda {

// elementwise.cu
void fill(const Tensor& out, Scalar value);
void copy(const Tensor& dst, const Tensor& src);
void unary(UnaryOp op, const Tensor& in, const Tensor& out, UnaryParams p);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
void arange(const Tensor& out, double start, double step);
void random_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi);
void random_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std);

// attention.cu: false when the shapes/dtypes/layout are not the kernel's (see there)
bool flash_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                             bool causal, double scale);

// reduce.cu
void reduce(ReduceOp op, const Tensor& in, const Tensor& out);

// blas.cu (cuBLAS)
void bmm(const Tensor& a, const Tensor& b, const Tensor& out);
// out [M, N] = a [M, K] · b [K, N] + bias [N] in one cuBLASLt call; false when it cannot
// (dtype, alignment, no algorithm with the epilogue, ANNEAL_CUBLASLT=0)
bool gemm_bias(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out);

// rows.cu
void softmax_rows(const Tensor& in, const Tensor& out, bool log, int64_t causal_len);
void softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& grad_in, bool log);
void layer_norm_rows(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                     const Tensor& mean, const Tensor& rstd);
void cross_entropy_rows(const Tensor& logits, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                        const Tensor& lse);
void cross_entropy_rows_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& grad_loss,
                                 int64_t ignore_index, const Tensor& grad_logits);
void layer_norm_rows_backward(const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                              const Tensor& w, const Tensor& dx, const Tensor& dw, const Tensor& db);

// optim.cu
void sgd_step(const Tensor& p, const Tensor& g, const Tensor& buf, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step);
void adam_step_device_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& max_v,
                           const Tensor& step, double lr, double b1, double b2, double eps);
void adam_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& max_v, double b1,
               double b2, double eps, double step_size, double bc2_sqrt);

// index.cu
void index_select(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out);
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
void gather(const Tensor& in, int64_t dim, const Tensor& index, const Tensor& out);
void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate);
Tensor nonzero(const Tensor& in);

// conv.cu (im2col + cuBLAS)
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out, const Conv2dGeometry& g,
                    int64_t groups);
void conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                     const Tensor& grad_w, const Conv2dGeometry& g, int64_t groups);

// conv_pool.cu
void im2col(const Tensor& in, const Tensor& cols, const Conv2dGeometry& g, double pad_value);
void col2im(const Tensor& cols, const Tensor& out, const Conv2dGeometry& g);
void max_pool2d(const Tensor& in, const Tensor& out, const Tensor& indices, const Conv2dGeometry& g);
void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in);
void channel_sums(const Tensor& a, const Tensor& b, const Tensor& b_shift, const Tensor& sum_a, const Tensor& sum_ab);
void channel_affine(const Tensor& a, const Tensor& b, const Tensor& ca, const Tensor& cb, const Tensor& c0,
                    const Tensor& out);

}  // namespace anneal::cuda
