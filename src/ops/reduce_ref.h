// Scalar references for reduce.h.
#pragma once

#include <cstdint>

namespace hsanet::ops::ref {

template <typename T>
void global_avg_pool_forward(const T* x, T* y, int64_t N, int64_t HW, int64_t C) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      T s = 0;
      for (int64_t p = 0; p < HW; ++p) s += x[(n * HW + p) * C + c];
      y[n * C + c] = s / T(HW);
    }
}

template <typename T>
void global_avg_pool_backward(const T* dy, T* dx, int64_t N, int64_t HW, int64_t C) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < HW; ++p)
      for (int64_t c = 0; c < C; ++c) dx[(n * HW + p) * C + c] = dy[n * C + c] / T(HW);
}

}  // namespace hsanet::ops::ref
