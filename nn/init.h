#pragma once
// Parameter initialisers (torch.nn.init), all in place and without autograd.
#include "core/generator.h"
#include "core/tensor.h"

namespace anneal::nn::init {

enum class FanMode { FanIn, FanOut };
// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field.
std::pair<int64_t, int64_t> fans(const Tensor& t);
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

void uniform_(Tensor& t, double low = 0, double high = 1);
void normal_(Tensor& t, double mean = 0, double std = 1);
void constant_(Tensor& t, double value);
void zeros_(Tensor& t);
void ones_(Tensor& t);
void xavier_uniform_(Tensor& t, double gain = 1.0);
void xavier_normal_(Tensor& t, double gain = 1.0);
// a: the negative slope of the rectifier after this layer ("leaky_relu"); PyTorch's
// Linear/Conv default is kaiming_uniform_(w, sqrt(5)).
void kaiming_uniform_(Tensor& t, double a = 0, FanMode mode = FanMode::FanIn,
                      const std::string& nonlinearity = "leaky_relu");
void kaiming_normal_(Tensor& t, double a = 0, FanMode mode = FanMode::FanIn,
                     const std::string& nonlinearity = "leaky_relu");

}  // namespace anneal::nn::init
