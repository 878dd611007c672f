// Differentiable vision functions over NHWC images: convolution (oneDNN), pooling and batch
// norm (Highway), each running the kernels of src/ops and recording its backward on the tape.
// Global average pooling lives with the basic functions (functions_basic.h).
#pragma once

#include <cstdint>

#include "autograd/tensor.h"
#include "ops/conv2d.h"
#include "ops/precision.h"

namespace hsanet {

// 2-D convolution with PyTorch's semantics.
//   x: [N, H, W, C]   weight: [O, C / groups, KH, KW] (OIHW)   bias: [O] or undefined
//   returns [N, OH, OW, O]
// Backward computes only what is needed: no input gradient when x needs none (the first
// layer), no bias gradient without a bias. The weight's version() keys the cache of its
// reordered copy: an in-place update must bump_version() (optimisers do).
struct Conv2dArgs {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  // kBF16: mixed precision (docs/precision.md). x and the incoming gradient are rounded to bf16,
  // the weight's bf16 copy is made once per version, products accumulate in float32; the output
  // and the gradients are float32. The bf16 copy of x, not x, is what backward keeps.
  ops::Precision precision = ops::Precision::kF32;
  // With kBF16: write the output in bf16 (Tensor::is_bf16), for a batch norm, which reads it so
  // and hands back its gradient in bf16. Half the bytes written, read and kept for backward.
  bool bf16_output = false;
  // kFast: Winograd and im2col where they pay (ops/conv2d.h); kDirect: the direct algorithm.
  ops::Conv2dAlgorithm algorithm = ops::Conv2dAlgorithm::kFast;
};
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dArgs& args);
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1,
              ops::Precision precision = ops::Precision::kF32, bool bf16_output = false,
              ops::Conv2dAlgorithm algorithm = ops::Conv2dAlgorithm::kFast);

// Inference only (nothing is recorded; throws std::logic_error when an input needs a gradient):
//   y = relu?(conv2d(x, weight) + bias + residual?) in bf16, as one bf16 convolution whose sum and
// ReLU run inside it (ops/conv2d.h: Conv2dEpilogue) -- a batch norm folded into weight and bias
// (nn/conv_bn_fold.h) makes it a whole Conv-BN-[add]-ReLU. a.precision and a.bf16_output are not
// read. The residual is written in place when nothing else holds it (move it in), else copied.
//   x: [N, H, W, C] float32 or bf16   residual: [N, OH, OW, O] or undefined   y: bf16 [N, OH, OW, O]
Tensor conv2d_inference_bf16(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Conv2dArgs& a, Tensor residual = Tensor(), bool relu = false);

// A bf16 tensor (a bf16 convolution's output) widened to float32, exactly; x itself when it is
// float32 already. Differentiable: the gradient passes through.
Tensor float32(const Tensor& x);

// Max pooling; padding counts as -infinity and is at most kernel / 2. [N, H, W, C] -> [N, OH, OW, C]
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0,
                  bool ceil_mode = false);
// Average pooling (PyTorch's count_include_pad and ceil_mode semantics).
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);

// Batch norm over the last (channel) axis of x [..., C] (NHWC images: over N, H and W).
// training: normalise with the batch mean and biased variance and update running_mean and
// running_var in place (momentum, unbiased variance) when they are defined; else normalise
// with the running statistics. weight (gamma) and bias (beta): [C], or undefined for 1 and 0.
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    float momentum = 0.1f, float eps = 1e-5f);
// relu(batch_norm2d(x)) in one pass over memory each way. x may be bf16 (a bf16 convolution's
// output; so may x in the other two): its gradient is then bf16 too. With bf16_output and a bf16
// x the output is bf16 as well, for a bf16 convolution that alone reads it.
Tensor batch_norm2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                         const Tensor& running_mean, const Tensor& running_var, bool training,
                         float momentum = 0.1f, float eps = 1e-5f, bool bf16_output = false);
// Throws std::invalid_argument, naming `op`, when the batch-norm arguments do not fit together
// (shapes, missing running statistics in evaluation mode, one value per channel in training).
void check_batch_norm_args(const char* op, const Tensor& x, const Tensor& residual,
                           const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, bool training);
// relu(batch_norm2d(x) + residual): the end of a ResNet bottleneck. residual has x's shape.
Tensor batch_norm2d_add_relu(const Tensor& x, const Tensor& residual, const Tensor& weight,
                             const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, bool training, float momentum = 0.1f,
                             float eps = 1e-5f);

}  // namespace hsanet
