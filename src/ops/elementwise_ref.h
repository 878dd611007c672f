// Scalar references for elementwise.h, templated on the number type (double for gradient checks).
#pragma once

#include <cstdint>

namespace hsanet::ops::ref {

template <typename T>
void relu_forward(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}
template <typename T>
void relu_backward(const T* y, const T* dy, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}
template <typename T>
void add_channel(const T* x, const T* bias, T* out, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = x[r * C + c] + bias[c];
}
template <typename T>
void mul_channel(const T* x, const T* w, T* out, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = x[r * C + c] * w[c];
}
template <typename T>
void sum_rows(const T* x, T* out, int64_t rows, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = T(0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) out[c] += x[r * C + c];
}

}  // namespace hsanet::ops::ref
