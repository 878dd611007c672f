// Batch normalisation over the channels of NHWC images (Highway; threads over rows).
// An image batch [N, H, W, C] is seen as rows = N*H*W rows of C contiguous channels; statistics
// are per channel, over all rows. docs/batchnorm.md derives the backward pass.
//
// Optional fusions, because each saves a full pass over memory in every ResNet block:
//   y = relu(bn(x))              (relu = true)
//   y = relu(bn(x) + residual)   (relu = true, residual != nullptr): the end of a bottleneck
#pragma once

#include <cstdint>

namespace hsanet::ops {

struct BatchNormOptions {
  float eps = 1e-5f;       // added to the variance before the square root
  float momentum = 0.1f;   // running = (1 - momentum) * running + momentum * batch statistic
  bool relu = false;       // fuse a ReLU after the normalisation (and the residual add)
};

// Training mode: normalise with the batch mean and biased variance, save mean and 1/sqrt(var+eps)
// for the backward pass, and update the running statistics (running_var with the unbiased
// variance, as PyTorch does) when the pointers are not nullptr. rows must be at least 2.
//   x, residual, y: [rows, C]   gamma, beta, mean, invstd, running_mean, running_var: [C]
// y = act(gamma * (x - mean) * invstd + beta [+ residual]); residual may be nullptr.
void batchnorm_forward_train(const float* x, const float* gamma, const float* beta,
                             const float* residual, float* y, float* mean, float* invstd,
                             float* running_mean, float* running_var, int64_t rows, int64_t C,
                             const BatchNormOptions& opt);

// Evaluation mode: the running statistics stand in for the batch ones.
//   x, residual, y: [rows, C]   gamma, beta, running_mean, running_var: [C]
void batchnorm_forward_eval(const float* x, const float* gamma, const float* beta,
                            const float* residual, const float* running_mean,
                            const float* running_var, float* y, int64_t rows, int64_t C,
                            const BatchNormOptions& opt);

// Backward. `mean` and `invstd` are what the forward normalised with: the saved batch statistics
// (batch_stats = true) or the running ones turned into 1/sqrt(var+eps) (batch_stats = false, when
// they are constants and dx loses the two terms that differentiate the statistics).
// The fused ReLU's mask is the sign of the forward's output `y`. Without a residual, y may be
// nullptr: the mask is then recomputed from x, mean, invstd, gamma and beta exactly as
// batchnorm_forward_train computed the pre-activation -- the same bits when mean and invstd are
// the ones it saved -- which spares the backward a read of y in each of its two passes.
// Without relu, y and beta may be nullptr.
// Outputs may be nullptr when not needed: dx, dresidual (= the gradient reaching the sum, the
// residual's gradient), dgamma, dbeta. Overwrites what it writes.
//   x, y, dy, dx, dresidual: [rows, C]   mean, invstd, gamma, beta, dgamma, dbeta: [C]
void batchnorm_backward(const float* x, const float* y, const float* dy, const float* mean,
                        const float* invstd, const float* gamma, const float* beta, float* dx,
                        float* dresidual, float* dgamma, float* dbeta, int64_t rows, int64_t C,
                        bool batch_stats, const BatchNormOptions& opt);

// bf16 mixed precision (docs/precision.md): the same three with x in bf16 (a bf16
// convolution's output) and, in the backward, dx in bf16 too (for that convolution's backward).
// Each widens x exactly and computes in float32 as above: the results are those of the float32
// kernels on the widened x, dx rounded to nearest even. y, dy, residual, dresidual: float32.
void batchnorm_forward_train(const uint16_t* x, const float* gamma, const float* beta,
                             const float* residual, float* y, float* mean, float* invstd,
                             float* running_mean, float* running_var, int64_t rows, int64_t C,
                             const BatchNormOptions& opt);
void batchnorm_forward_eval(const uint16_t* x, const float* gamma, const float* beta,
                            const float* residual, const float* running_mean,
                            const float* running_var, float* y, int64_t rows, int64_t C,
                            const BatchNormOptions& opt);
// And with y in bf16 too (rounded to nearest even), for a consumer that reads bf16 (a bf16
// convolution). The backward of such a forward has no y (it recomputes the ReLU's mask from x).
void batchnorm_forward_train(const uint16_t* x, const float* gamma, const float* beta,
                             const float* residual, uint16_t* y, float* mean, float* invstd,
                             float* running_mean, float* running_var, int64_t rows, int64_t C,
                             const BatchNormOptions& opt);
void batchnorm_forward_eval(const uint16_t* x, const float* gamma, const float* beta,
                            const float* residual, const float* running_mean,
                            const float* running_var, uint16_t* y, int64_t rows, int64_t C,
                            const BatchNormOptions& opt);
void batchnorm_backward(const uint16_t* x, const float* y, const float* dy, const float* mean,
                        const float* invstd, const float* gamma, const float* beta, uint16_t* dx,
                        float* dresidual, float* dgamma, float* dbeta, int64_t rows, int64_t C,
                        bool batch_stats, const BatchNormOptions& opt);

}  // namespace hsanet::ops
