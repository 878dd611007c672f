// Scalar reference for loss.h, templated on the number type.
#pragma once

#include <cmath>
#include <cstdint>

namespace hsanet::ops::ref {

// log sum_k exp(z[k]) over z[0, K), shifted by the max so that no exp overflows.
template <typename T>
T log_sum_exp(const T* z, int64_t K) {
  T m = z[0];
  for (int64_t k = 1; k < K; ++k) m = z[k] > m ? z[k] : m;
  T s = 0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(z[k] - m);
  return m + std::log(s);
}

template <typename T>
T cross_entropy_forward(const T* logits, const int32_t* labels, int64_t N, int64_t K, T smoothing,
                        T* probs) {
  T total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* z = logits + n * K;
    const T lse = log_sum_exp(z, K);
    for (int64_t k = 0; k < K; ++k) {
      const T logp = z[k] - lse;
      probs[n * K + k] = std::exp(logp);
      const T q = (k == labels[n] ? T(1) - smoothing : T(0)) + smoothing / T(K);
      total -= q * logp;
    }
  }
  return total / T(N);
}

template <typename T>
void cross_entropy_backward(const T* probs, const int32_t* labels, int64_t N, int64_t K,
                            T smoothing, T grad_loss, T* dlogits) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const T q = (k == labels[n] ? T(1) - smoothing : T(0)) + smoothing / T(K);
      dlogits[n * K + k] = grad_loss / T(N) * (probs[n * K + k] - q);
    }
}

// targets: [N, K], one distribution per row; probs (out): [N, K].
template <typename T>
T soft_cross_entropy_forward(const T* logits, const T* targets, int64_t N, int64_t K, T* probs) {
  T total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* z = logits + n * K;
    const T lse = log_sum_exp(z, K);
    for (int64_t k = 0; k < K; ++k) {
      const T logp = z[k] - lse;
      probs[n * K + k] = std::exp(logp);
      total -= targets[n * K + k] * logp;
    }
  }
  return total / T(N);
}

// d/dz_k of -sum_j t_j (z_j - lse(z)) = -t_k + p_k sum_j t_j.
template <typename T>
void soft_cross_entropy_backward(const T* probs, const T* targets, int64_t N, int64_t K, T grad_loss,
                                 T* dlogits) {
  for (int64_t n = 0; n < N; ++n) {
    T sum_t = 0;
    for (int64_t k = 0; k < K; ++k) sum_t += targets[n * K + k];
    for (int64_t k = 0; k < K; ++k)
      dlogits[n * K + k] = grad_loss / T(N) * (probs[n * K + k] * sum_t - targets[n * K + k]);
  }
}

}  // namespace hsanet::ops::ref
