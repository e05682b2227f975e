#pragma once
// conv2d through cuDNN (cudnn_conv.cu); each returns false when cuDNN cannot take the
// call (built without cuDNN, ANNEAL_CUDNN=0, a dtype or layout it does not cover), and
// the caller runs its own kernels instead. Same contract as Backend::conv2d_forward /
// conv2d_backward, without the bias (added by the caller).
#include "kernels/backend.h"

namespace anneal::cuda {

bool cudnn_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& out, const Conv2dGeometry& g, int64_t groups);
bool cudnn_conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& w, const Tensor& grad_x,
                           const Tensor& grad_w, const Conv2dGeometry& g, int64_t groups);
bool cudnn_is_built();

}  // namespace anneal::cuda
