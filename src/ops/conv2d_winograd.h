// The convolution passes that run on hsanet's own Winograd transforms over NHWC (winograd.h has
// the algebra, docs/winograd.md the measurements): F(2x2, 3x3) (m = 2) and F(4x4, 3x3) (m = 4),
// each as (m+2)^2 batched oneDNN matmuls between the transforms. The transformed activations live
// in the convolution scratch slots, the transformed weights U in the WeightCache.
// conv2d.cc decides when they run.
#pragma once

#include <cstdint>

#include "ops/conv2d.h"

namespace hsanet::ops::detail {

struct Conv2dContext;

// 3x3, stride 1, padding 1 geometries only; m = 2 or 4.
//   x, dx: [N, H, W, C]  w, dw: [O, C, 3, 3]  bias, dbias: [O]  y, dy: [N, H, W, O]
void winograd_forward(Conv2dContext& ctx, int64_t m, const Conv2dShape& s, const float* x,
                      const float* w, const float* bias, float* y, const WeightId& wid);
void winograd_backward_data(Conv2dContext& ctx, int64_t m, const Conv2dShape& s, const float* dy,
                            const float* w, float* dx, const WeightId& wid);
void winograd_backward_weights(Conv2dContext& ctx, int64_t m, const Conv2dShape& s,
                               const float* x, const float* dy, float* dw, float* dbias);

}  // namespace hsanet::ops::detail
