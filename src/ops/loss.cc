// Cross-entropy on Highway: the row softmax of softmax-inl.h, then the loss from the same pass.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/loss.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/loss.h"
#include "ops/softmax-inl.h"

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {

// p = softmax(z) over one row of K; returns log sum_k exp(z_k), in double, for the loss.
double SoftmaxRowLse(const float* z, float* p, int64_t K) {
  const float m = RowMax(z, K);
  const float s = ExpShiftSum(z, m, p, K);  // p = exp(z - m), s = sum
  ScaleRow(p, 1.f / s, K);
  return static_cast<double>(m) + std::log(static_cast<double>(s));
}

float CrossEntropyForwardImpl(const float* logits, const int32_t* labels, int64_t N, int64_t K,
                              float smoothing, float* probs) {
  // logits, probs: [N, K]. The batch is small (N = 4 in the paper's recipe): one thread.
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* z = logits + n * K;
    float* p = probs + n * K;
    const double lse = SoftmaxRowLse(z, p, K);
    // -sum_k q_k log p_k with q = (1-eps) onehot + eps/K and log p_k = z_k - lse.
    double mean_logp = 0;
    if (smoothing != 0.f) {
      for (int64_t k = 0; k < K; ++k) mean_logp += z[k] - lse;
      mean_logp /= static_cast<double>(K);
    }
    const double logp_label = z[labels[n]] - lse;
    total -= (1.0 - smoothing) * logp_label + smoothing * mean_logp;
  }
  return static_cast<float>(total / static_cast<double>(N));
}

float SoftCrossEntropyForwardImpl(const float* logits, const float* targets, int64_t N, int64_t K,
                                  float* probs) {
  // logits, targets, probs: [N, K]. The same row softmax as above; the loss in double.
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* z = logits + n * K;
    const float* t = targets + n * K;
    float* p = probs + n * K;
    const double lse = SoftmaxRowLse(z, p, K);
    // -sum_k t_k (z_k - lse) = lse * sum_k t_k - sum_k t_k z_k
    double sum_t = 0, sum_tz = 0;
    for (int64_t k = 0; k < K; ++k) {
      sum_t += t[k];
      sum_tz += static_cast<double>(t[k]) * z[k];
    }
    total += lse * sum_t - sum_tz;
  }
  return static_cast<float>(total / static_cast<double>(N));
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops {

HWY_EXPORT(CrossEntropyForwardImpl);
HWY_EXPORT(SoftCrossEntropyForwardImpl);

float cross_entropy_forward(const float* logits, const int32_t* labels, int64_t N, int64_t K,
                            float smoothing, float* probs) {
  return HWY_DYNAMIC_DISPATCH(CrossEntropyForwardImpl)(logits, labels, N, K, smoothing, probs);
}

void cross_entropy_backward(const float* probs, const int32_t* labels, int64_t N, int64_t K,
                            float smoothing, float grad_loss, float* dlogits) {
  // d/dz_k of -sum_j q_j log softmax(z)_j = p_k - q_k; the batch mean divides by N.
  const float g = grad_loss / static_cast<float>(N);
  const float off = smoothing / static_cast<float>(K);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const float q = (k == labels[n] ? 1.f - smoothing : 0.f) + off;
      dlogits[n * K + k] = g * (probs[n * K + k] - q);
    }
}

float soft_cross_entropy_forward(const float* logits, const float* targets, int64_t N, int64_t K,
                                 float* probs) {
  return HWY_DYNAMIC_DISPATCH(SoftCrossEntropyForwardImpl)(logits, targets, N, K, probs);
}

void soft_cross_entropy_backward(const float* probs, const float* targets, int64_t N, int64_t K,
                                 float grad_loss, float* dlogits) {
  // probs, targets, dlogits: [N, K]. d/dz_k of -sum_j t_j log softmax(z)_j = p_k sum_j t_j - t_k.
  const float g = grad_loss / static_cast<float>(N);
  for (int64_t n = 0; n < N; ++n) {
    const float* t = targets + n * K;
    float sum_t = 0;
    for (int64_t k = 0; k < K; ++k) sum_t += t[k];
    for (int64_t k = 0; k < K; ++k) dlogits[n * K + k] = g * (probs[n * K + k] * sum_t - t[k]);
  }
}

}  // namespace hsanet::ops
#endif  // HWY_ONCE
