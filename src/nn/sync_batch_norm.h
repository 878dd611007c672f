// Synchronised batch norm: in training mode, the per-channel statistics are those of the global
// batch, split over several processes, instead of the local one. A BatchNorm2d takes this path
// when it carries an all-reduce (nn::convert_sync_batchnorm, PyTorch's SyncBatchNorm); without
// one (the default) it runs the single-pass kernels untouched.
//
// Forward: local per-channel sums of x and x^2 and the row count -> all-reduce (sum over processes)
// -> global mean and biased variance -> normalise. Backward: the kernel's backward with the
// statistics held constant gives gamma * invstd * dy and the local sums of dy and dy * xhat;
// those sums go through the all-reduce, and dx gets the two terms that differentiate the statistics,
// with the global count:
//   dx = gamma * invstd * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M)
// The weight and bias gradients stay local: the gradient all-reduce sums them like any other.
#pragma once

#include <cstdint>
#include <functional>

#include "autograd/tensor.h"
#include "ops/batchnorm.h"

namespace hsanet::nn {

// Sums `n` doubles in place across every process of the job (a blocking collective: every
// process must make the same calls in the same order, which the same network does).
using StatsAllReduce = std::function<void(double* data, int64_t n)>;

// Training-mode batch norm over the global batch: relu(bn(x) [+ residual]) as opt.relu and the
// residual say, with the statistics summed by `all_reduce`. x may be bf16 (it is widened).
//   x, residual: [..., C] (residual may be undefined)   weight, bias, running_*: [C]
Tensor sync_batch_norm(const char* op, const Tensor& x, const Tensor& residual, const Tensor& weight,
                       const Tensor& bias, const Tensor& running_mean, const Tensor& running_var,
                       const ops::BatchNormOptions& opt, const StatsAllReduce& all_reduce);

}  // namespace hsanet::nn
