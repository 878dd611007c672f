#include "nn/layers.h"

#include <cmath>

#include "autograd/functions_basic.h"
#include "autograd/functions_vision.h"
#include "base/profiler.h"
#include "base/random.h"

namespace hsanet::nn {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, Rng& rng, const Conv2dOptions& o)
    : in_channels(in), out_channels(out), kernel(k), opt(o) {
  if (in <= 0 || out <= 0 || k <= 0 || o.groups <= 0 || in % o.groups != 0 || out % o.groups != 0)
    throw std::invalid_argument("Conv2d: bad sizes in=" + std::to_string(in) + " out=" +
                                std::to_string(out) + " kernel=" + std::to_string(k) +
                                " groups=" + std::to_string(o.groups));
  // Kaiming normal, mode fan_out: std = sqrt(2 / (out * k * k)) (torchvision ResNet).
  weight = register_parameter(
      "weight", Tensor::kaiming_normal({out, in / o.groups, k, k}, out * k * k / o.groups, rng));
  if (o.bias) bias = register_parameter("bias", Tensor::zeros({out}));
}

Conv2dArgs Conv2d::args() const {
  Conv2dArgs a;
  a.stride_h = a.stride_w = opt.stride;
  a.pad_h = a.pad_w = opt.padding;
  a.dilation_h = a.dilation_w = opt.dilation;
  a.groups = opt.groups;
  a.precision = opt.precision;
  a.bf16_output = opt.bf16_output;
  a.algorithm = opt.algorithm;
  return a;
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, args()); }

namespace {
// Calls f(options) for every Conv2d in m and below.
template <class F>
void for_each_conv(Module& m, const F& f) {
  for_each_module(m, [&f](Module& x) {
    if (auto* conv = dynamic_cast<Conv2d*>(&x)) f(conv->opt);
  });
}
}  // namespace

void set_precision(Module& m, ops::Precision p) {
  for_each_conv(m, [p](Conv2dOptions& o) { o.precision = p; });
}

void set_conv_algorithm(Module& m, ops::Conv2dAlgorithm a) {
  for_each_conv(m, [a](Conv2dOptions& o) { o.algorithm = a; });
}

double Conv2d::flops(const Shape& in, const Shape& out) const {
  return 2.0 * static_cast<double>(numel(out)) * static_cast<double>(in_channels / opt.groups) *
         static_cast<double>(kernel * kernel);
}

BatchNorm2d::BatchNorm2d(int64_t channels, float eps, float momentum) : eps(eps), momentum(momentum) {
  weight = register_parameter("weight", Tensor::ones({channels}));
  bias = register_parameter("bias", Tensor::zeros({channels}));
  running_mean = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var = register_buffer("running_var", Tensor::ones({channels}));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (sync && is_training()) return synced("batch_norm2d", x, Tensor(), false);
  return batch_norm2d(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x, ReLU& relu) {
  if (ModuleTrace::active()) return relu((*this)(x));
  ProfileRegion region("forward", "BatchNorm2d+ReLU");
  if (sync && is_training()) return synced("batch_norm2d_relu", x, Tensor(), true);
  return batch_norm2d_relu(x, weight, bias, running_mean, running_var, is_training(), momentum, eps,
                           bf16_output);
}

Tensor BatchNorm2d::forward_add_relu(const Tensor& x, const Tensor& residual, ReLU& relu) {
  if (ModuleTrace::active()) return relu(add((*this)(x), residual));
  ProfileRegion region("forward", "BatchNorm2d+add+ReLU");
  if (sync && is_training()) return synced("batch_norm2d_add_relu", x, residual, true);
  return batch_norm2d_add_relu(x, residual, weight, bias, running_mean, running_var, is_training(),
                               momentum, eps);
}

Tensor BatchNorm2d::synced(const char* op, const Tensor& x, const Tensor& residual, bool relu) {
  ops::BatchNormOptions opt;
  opt.eps = eps;
  opt.momentum = momentum;
  opt.relu = relu;
  return sync_batch_norm(op, x, residual, weight, bias, running_mean, running_var, opt, sync);
}

void convert_sync_batchnorm(Module& m, const StatsAllReduce& all_reduce) {
  for_each_module(m, [&all_reduce](Module& x) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&x)) bn->sync = all_reduce;
  });
}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel, stride, padding); }

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, kernel, stride, 0, ceil_mode); }

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return global_avg_pool(x); }

}  // namespace hsanet::nn
