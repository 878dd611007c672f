// Scalar reference for matmul.h, templated on the number type.
#pragma once

#include <cstdint>

namespace hsanet::ops::ref {

template <typename T>
void matmul(const T* A, const T* B, T* C, int64_t batch, int64_t M, int64_t N, int64_t K,
            bool trans_a = false, bool trans_b = false, bool accumulate = false,
            bool broadcast_b = false) {
  for (int64_t b = 0; b < batch; ++b) {
    const T* a = A + b * M * K;
    const T* bb = B + (broadcast_b ? 0 : b * K * N);
    T* c = C + b * M * N;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        T s = 0;
        for (int64_t k = 0; k < K; ++k) {
          const T av = trans_a ? a[k * M + i] : a[i * K + k];
          const T bv = trans_b ? bb[j * K + k] : bb[k * N + j];
          s += av * bv;
        }
        c[i * N + j] = accumulate ? c[i * N + j] + s : s;
      }
  }
}

}  // namespace hsanet::ops::ref
