// Element-wise kernels (Highway, threaded with OpenMP for large arrays).
// All pointers are float32 arrays of n elements unless said otherwise; out may alias an input.
#pragma once

#include <cstdint>

namespace hsanet::ops {

void add(const float* a, const float* b, float* out, int64_t n);       // out = a + b
void sub(const float* a, const float* b, float* out, int64_t n);       // out = a - b
void mul(const float* a, const float* b, float* out, int64_t n);       // out = a * b
void scale(const float* x, float alpha, float* out, int64_t n);        // out = alpha * x
void add_inplace(float* acc, const float* x, int64_t n);               // acc += x
void axpy(float alpha, const float* x, float* y, int64_t n);           // y += alpha * x

// ReLU. Backward uses the output: dx = dy where y > 0, else 0 (at 0 the subgradient 0 is taken).
void relu_forward(const float* x, float* y, int64_t n);
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);

// Per-channel broadcasting over a [rows, C] array (C contiguous: NHWC images are rows = N*H*W).
void add_channel(const float* x, const float* bias, float* out, int64_t rows, int64_t C);  // x + bias[c]
void mul_channel(const float* x, const float* w, float* out, int64_t rows, int64_t C);     // x * w[c]
// out[c] = sum over rows of x[r, c] (the backward of a broadcast); threads combine per-thread
// partial sums in a fixed order, so the result is deterministic for a given thread count.
void sum_rows(const float* x, float* out, int64_t rows, int64_t C);
// out[c] = sum over rows of a[r, c] * b[r, c]
void sum_rows_product(const float* a, const float* b, float* out, int64_t rows, int64_t C);

}  // namespace hsanet::ops
