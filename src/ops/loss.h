// Cross-entropy over integer labels, from logits, with optional label smoothing.
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

}  // namespace hsanet::ops
