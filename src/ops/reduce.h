// Reductions: whole-array sum, and global average pooling over H and W.
#pragma once

#include <cstdint>

namespace hsanet::ops {

// Sum of n floats, accumulated in double per thread (so it does not drift on big arrays).
double sum(const float* x, int64_t n);

// Global average pool, NHWC:  x: [N, HW, C]  ->  y: [N, C],  y[n, c] = mean over hw of x[n, hw, c]
void global_avg_pool_forward(const float* x, float* y, int64_t N, int64_t HW, int64_t C);
// dx[n, hw, c] = dy[n, c] / HW
void global_avg_pool_backward(const float* dy, float* dx, int64_t N, int64_t HW, int64_t C);

}  // namespace hsanet::ops
