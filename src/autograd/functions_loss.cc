#include "autograd/functions_loss.h"

#include <stdexcept>
#include <string>

#include "autograd/node.h"
#include "ops/loss.h"

namespace hsanet {

Tensor cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels,
                     float label_smoothing) {
  if (logits.ndim() != 2)
    throw std::invalid_argument("cross_entropy: logits must be [N, K], got " +
                                shape_str(logits.shape()));
  const int64_t N = logits.size(0), K = logits.size(1);
  if (static_cast<int64_t>(labels.size()) != N || N == 0)
    throw std::invalid_argument("cross_entropy: " + std::to_string(labels.size()) +
                                " labels for a batch of " + std::to_string(N));
  for (int32_t l : labels)
    if (l < 0 || l >= K)
      throw std::invalid_argument("cross_entropy: label " + std::to_string(l) +
                                  " outside [0, " + std::to_string(K) + ")");
  if (!(label_smoothing >= 0.f && label_smoothing < 1.f))
    throw std::invalid_argument("cross_entropy: label smoothing must be in [0, 1)");
  Tensor probs = Tensor::empty({N, K});  // saved: softmax(logits), [N, K]
  const float loss = ops::cross_entropy_forward(logits.data(), labels.data(), N, K,
                                                label_smoothing, probs.data());
  Tensor y = Tensor::full({1}, loss);
  return record("cross_entropy", y, {logits},
                [probs, labels, label_smoothing, N, K](const Tensor& gy, const NeedsGrad&) {
                  Tensor g = Tensor::empty({N, K});
                  ops::cross_entropy_backward(probs.data(), labels.data(), N, K, label_smoothing,
                                              gy.item(), g.data());
                  return std::vector<Tensor>{g};
                });
}

Tensor soft_cross_entropy(const Tensor& logits, const Tensor& targets) {
  if (logits.ndim() != 2 || logits.size(0) == 0)
    throw std::invalid_argument("soft_cross_entropy: logits must be [N, K] with N > 0, got " +
                                shape_str(logits.shape()));
  if (targets.shape() != logits.shape())
    throw std::invalid_argument("soft_cross_entropy: targets " + shape_str(targets.shape()) +
                                " for logits " + shape_str(logits.shape()));
  const int64_t N = logits.size(0), K = logits.size(1);
  Tensor probs = Tensor::empty({N, K});  // saved: softmax(logits), [N, K]
  Tensor t = targets.detach();           // saved: the targets, [N, K]
  const float loss = ops::soft_cross_entropy_forward(logits.data(), t.data(), N, K, probs.data());
  Tensor y = Tensor::full({1}, loss);
  return record("soft_cross_entropy", y, {logits},
                [probs, t, N, K](const Tensor& gy, const NeedsGrad&) {
                  Tensor g = Tensor::empty({N, K});  // [N, K]
                  ops::soft_cross_entropy_backward(probs.data(), t.data(), N, K, gy.item(), g.data());
                  return std::vector<Tensor>{g};
                });
}

Tensor softmax_no_grad(const Tensor& logits) {
  if (logits.ndim() != 2)
    throw std::invalid_argument("softmax: logits must be [N, K], got " + shape_str(logits.shape()));
  const int64_t N = logits.size(0), K = logits.size(1);
  Tensor probs = Tensor::empty({N, K});
  std::vector<int32_t> zeros(static_cast<size_t>(N), 0);
  ops::cross_entropy_forward(logits.data(), zeros.data(), N, K, 0.f, probs.data());
  return probs;
}

}  // namespace hsanet
