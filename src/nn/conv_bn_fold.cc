#include "nn/conv_bn_fold.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "autograd/functions_vision.h"
#include "autograd/node.h"

namespace hsanet::nn {

bool can_fold_batch_norm(const Module& owner, const Conv2d& conv, const BatchNorm2d& bn) {
  return !owner.is_training() && !grad_enabled() && !ModuleTrace::active() &&
         conv.opt.precision == ops::Precision::kBF16 && !conv.output_hook && !bn.output_hook;
}

void ConvBnFold::refresh(const Conv2d& conv, const BatchNorm2d& bn) {
  const Tensor* sources[6] = {&conv.weight, &conv.bias, &bn.weight, &bn.bias, &bn.running_mean,
                              &bn.running_var};
  bool fresh = weight_.defined();
  for (int i = 0; i < 6; ++i)
    fresh = fresh && seen_[i].impl.lock() == sources[i]->impl_ptr() &&
            seen_[i].version == sources[i]->version();
  if (fresh) return;

  const int64_t O = conv.weight.size(0), per_filter = conv.weight.numel() / O;
  if (bn.weight.numel() != O)
    throw std::invalid_argument("ConvBnFold: the convolution has " + std::to_string(O) +
                                " output channels, its batch norm " +
                                std::to_string(bn.weight.numel()));
  Tensor w = Tensor::empty(conv.weight.shape());  // [O, C/groups, KH, KW]
  Tensor b = Tensor::empty({O});                  // [O]
  const float* w0 = conv.weight.data();
  const float* gamma = bn.weight.data();
  const float* beta = bn.bias.data();
  const float* mean = bn.running_mean.data();
  const float* var = bn.running_var.data();
  for (int64_t o = 0; o < O; ++o) {
    // The scale eval-mode batch norm applies (ops/batchnorm: 1 / sqrt(var + eps) times gamma).
    const float scale = gamma[o] / std::sqrt(var[o] + bn.eps);
    const float conv_bias = conv.bias.defined() ? conv.bias.data()[o] : 0.0f;
    for (int64_t k = 0; k < per_filter; ++k) w.data()[o * per_filter + k] = w0[o * per_filter + k] * scale;
    b.data()[o] = beta[o] + (conv_bias - mean[o]) * scale;
  }
  weight_ = w;  // new tensors: the convolution cache converts them once, as new weights
  bias_ = b;
  for (int i = 0; i < 6; ++i) seen_[i] = {sources[i]->impl_ptr(), sources[i]->version()};
}

Tensor ConvBnFold::operator()(const Conv2d& conv, const BatchNorm2d& bn, const Tensor& x,
                              Tensor residual, bool relu) {
  refresh(conv, bn);
  return conv2d_inference_bf16(x, weight_, bias_, conv.args(), std::move(residual), relu);
}

}  // namespace hsanet::nn
