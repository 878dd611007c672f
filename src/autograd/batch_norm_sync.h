// Synchronised batch norm: in training mode, the per-channel statistics are those of the global
// batch, split over several processes, instead of the local one. The batch-norm functions
// (functions_vision.h) take this path while a sum hook is installed; with none (the default)
// they run the single-pass kernels untouched.
//
// Forward: local per-channel sums of x and x^2 and the row count -> hook (sum over processes)
// -> global mean and biased variance -> normalise. Backward: the kernel's backward with the
// statistics held constant gives gamma * invstd * dy and the local sums of dy and dy * xhat;
// those sums go through the hook, and dx gets the two terms that differentiate the statistics,
// with the global count:
//   dx = gamma * invstd * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M)
// The weight and bias gradients stay local: the gradient all-reduce sums them like any other.
#pragma once

#include <cstdint>
#include <functional>

#include "autograd/tensor.h"
#include "ops/batchnorm.h"

namespace hsanet {

// Sums `n` doubles in place across every process of the job (a blocking collective: every
// process must make the same calls in the same order, which the same network does).
using StatsAllReduce = std::function<void(double* data, int64_t n)>;

// Installs the hook (an empty one turns synchronisation off); returns the previous one.
StatsAllReduce set_batch_norm_sync(StatsAllReduce hook);
const StatsAllReduce& batch_norm_sync();

// The synchronised training-mode path, after batch_norm_impl has checked the arguments.
//   x, residual: [rows, C] (residual may be undefined)   gamma, beta: [C] (defined)
//   weight, bias: the caller's (maybe undefined)   running_mean, running_var: [C] or undefined
Tensor batch_norm_synced(const char* op, const Tensor& x, const Tensor& residual, const Tensor& weight,
                         const Tensor& bias, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                         const Tensor& running_var, const ops::BatchNormOptions& opt);

}  // namespace hsanet
