// Differentiable losses.
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace hsanet {

// Mean cross-entropy of logits [N, K] against integer labels (N of them, each in [0, K)), with
// optional label smoothing in [0, 1). Returns a one-element tensor [1].
Tensor cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels,
                     float label_smoothing = 0.f);

// Mean soft-target cross-entropy of logits [N, K] against targets [N, K] (each row a
// distribution, e.g. mixup's lambda * onehot(a) + (1 - lambda) * onehot(b)): the mean over rows of
// -sum_k t_k log softmax(z)_k, as timm's SoftTargetCrossEntropy. The targets take no gradient.
// Returns a one-element tensor [1].
Tensor soft_cross_entropy(const Tensor& logits, const Tensor& targets);

// Row-wise softmax of [N, K] logits, without autograd (for prediction and reports).
Tensor softmax_no_grad(const Tensor& logits);

}  // namespace hsanet
