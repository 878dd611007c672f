// The layers of a convolutional network as modules, named as in PyTorch (Conv2d, BatchNorm2d,
// MaxPool2d, AvgPool2d, AdaptiveAvgPool2d) so that state dicts and summaries read the same.
// Activations are NHWC; weights are stored in PyTorch's layouts (OIHW).
#pragma once

#include "autograd/functions_vision.h"
#include "base/random.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/sync_batch_norm.h"
#include "ops/conv2d.h"
#include "ops/precision.h"

namespace hsanet::nn {

struct Conv2dOptions {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = false;
  // The arithmetic of the convolution (functions_vision.h: Conv2dArgs::precision); set_precision
  // sets it for every Conv2d of a model.
  ops::Precision precision = ops::Precision::kF32;
  // In bf16 precision, write the output in bf16: only for a Conv2d whose output goes to a
  // BatchNorm2d alone (the models' convolutions, all but the attention's qkv), since batch norm
  // is the one layer that reads bf16 (autograd/tensor.h).
  bool bf16_output = false;
  // Winograd and im2col where they pay, or the direct algorithm (ops/conv2d.h);
  // set_conv_algorithm sets it for every Conv2d of a model.
  ops::Conv2dAlgorithm algorithm = ops::Conv2dAlgorithm::kFast;
};

class Conv2d : public Module {
 public:
  // Weights: Kaiming normal, fan-out, ReLU gain (torchvision's ResNet initialisation), drawn
  // from rng.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, Rng& rng,
         const Conv2dOptions& opt = {});
  Tensor forward(const Tensor& x) override;  // [N, H, W, in] -> [N, OH, OW, out]
  // The arguments of this layer's conv2d calls (its options, square in both axes).
  Conv2dArgs args() const;
  double flops(const Shape& in, const Shape& out) const override;
  std::string type_name() const override { return "Conv2d"; }

  Tensor weight;  // [out, in/groups, k, k]
  Tensor bias;    // [out] or undefined
  int64_t in_channels, out_channels, kernel;
  Conv2dOptions opt;
};

// Sets the precision of every Conv2d in m and below (docs/precision.md): the one switch between
// fp32 and bf16 mixed precision. Parameters stay float32 either way.
void set_precision(Module& m, ops::Precision p);
// Sets the algorithm of every Conv2d in m and below (--conv-algorithm).
void set_conv_algorithm(Module& m, ops::Conv2dAlgorithm a);

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, float eps = 1e-5f, float momentum = 0.1f);
  Tensor forward(const Tensor& x) override;  // training: batch statistics; eval: running ones
  std::string type_name() const override { return "BatchNorm2d"; }
  // relu(bn(x)) and relu(bn(x) + residual) in one pass each way (no intermediate tensors).
  // `relu` is the ReLU module the unfused form would call: while a ModuleTrace records (model
  // summaries), the unfused calls are made so the trace shows the same modules as PyTorch's.
  Tensor forward_relu(const Tensor& x, ReLU& relu);
  Tensor forward_add_relu(const Tensor& x, const Tensor& residual, ReLU& relu);

  Tensor weight, bias;                // gamma (1) and beta (0): [C]
  Tensor running_mean, running_var;   // buffers (0 and 1): [C]
  float eps, momentum;
  // forward_relu of a bf16 input (a bf16 convolution's output) writes bf16 too: set only where
  // a bf16 convolution alone reads the output (the models' bottlenecks, docs/precision.md).
  bool bf16_output = false;
  // When set, training mode takes its statistics over every process through this sum
  // (sync_batch_norm.h; convert_sync_batchnorm sets it on a whole model). Empty: local.
  StatsAllReduce sync;

 private:
  Tensor synced(const char* op, const Tensor& x, const Tensor& residual, bool relu);
};

// PyTorch's SyncBatchNorm.convert_sync_batchnorm: every BatchNorm2d in m and below takes its
// training statistics over the processes `all_reduce` sums across (an empty one: local again).
void convert_sync_batchnorm(Module& m, const StatsAllReduce& all_reduce);

class MaxPool2d : public Module {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0)
      : kernel(kernel), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  int64_t kernel, stride, padding;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(int64_t kernel, int64_t stride, bool ceil_mode = false)
      : kernel(kernel), stride(stride), ceil_mode(ceil_mode) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  int64_t kernel, stride;
  bool ceil_mode;
};

// Global average pool: [N, H, W, C] -> [N, C] (PyTorch: AdaptiveAvgPool2d(1) then flatten).
class AdaptiveAvgPool2d : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
};

}  // namespace hsanet::nn
