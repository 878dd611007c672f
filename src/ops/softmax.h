// Row softmax and log-softmax over a [rows, cols] array (Highway; threads over rows).
// The per-row inline kernel (softmax-inl.h) is what other Highway kernels (attention) reuse.
#pragma once

#include <cstdint>

namespace hsanet::ops {

void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols);      // y may alias x
void log_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols);  // y may alias x
// Backward of y = softmax(x): dx = y * (dy - sum(dy * y)) per row.
void softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);

}  // namespace hsanet::ops
