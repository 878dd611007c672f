// Cross-entropy from logits: over integer labels with optional label smoothing, and over soft
// targets (one distribution per row, as mixup and cutmix make).
#pragma once

#include <cstdint>

namespace hsanet::ops {

// logits: [N, K], labels: [N] in [0, K), probs (out): [N, K] softmax, saved for backward.
// Target distribution q = (1 - s) * onehot(label) + s / K  (s = smoothing, as PyTorch).
// Returns mean over the batch of  -sum_k q_k log p_k, computed from a stable log-softmax:
// log p_k = (z_k - max) - log(sum exp(z - max)).
float cross_entropy_forward(const float* logits, const int32_t* labels, int64_t N, int64_t K,
                            float smoothing, float* probs);

// dlogits[n, k] = grad_loss / N * (p_k - q_k)
void cross_entropy_backward(const float* probs, const int32_t* labels, int64_t N, int64_t K,
                            float smoothing, float grad_loss, float* dlogits);

// logits, targets, probs (out): [N, K]; probs is the softmax, saved for backward. Each target row
// is a distribution over the K classes (timm's SoftTargetCrossEntropy).
// Returns mean over the batch of  -sum_k t_k log p_k, from the same stable log-softmax.
float soft_cross_entropy_forward(const float* logits, const float* targets, int64_t N, int64_t K,
                                 float* probs);

// dlogits[n, k] = grad_loss / N * (p_k * sum_j t_j - t_k), which is p_k - t_k when the row of
// targets sums to 1 (the general form keeps the gradient exact for any targets).
void soft_cross_entropy_backward(const float* probs, const float* targets, int64_t N, int64_t K,
                                 float grad_loss, float* dlogits);

}  // namespace hsanet::ops
