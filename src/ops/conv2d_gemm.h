// The convolutions that run as oneDNN matrix products over the caller's buffers, with the OIHW
// weights read in place and the weight gradient written straight in OIHW (no reorder at all):
//   - pointwise (1x1, stride 1, no padding or groups): an NHWC activation is a row-major [P, C]
//     matrix over the P = N*H*W positions, an OIHW weight a row-major [O, C] one;
//   - strided pointwise: the same after gathering the sampled positions into a dense matrix;
//   - im2col: a 3x3 laid out as a [P, 9C] matrix of input windows is a pointwise convolution
//     with 9C channels.
// conv2d.cc decides when they run (docs/conv.md has the measurements).
#pragma once

#include <map>

#include <dnnl.hpp>

#include "ops/conv2d.h"
#include "ops/conv2d_plan_key.h"

namespace hsanet::ops::detail {

struct Conv2dContext;

// One cached matmul and the memories re-pointed at each call's buffers:
//   forward          y[P, O]  = x[P, C] * w^T         (w: [O, C] row-major, read as [C, O])
//   backward-data    dx[P, C] = dy[P, O] * w[O, C]
//   backward-weights dw[O, C] = dy^T * x              (dy: [P, O], read as [O, P])
struct GemmPlan {
  dnnl::primitive mm;
  dnnl::memory a, b, c, bias;
};
using GemmPlans = std::map<PlanKey, GemmPlan>;

// Pointwise, stride 1. dx is overwritten, or added to with `accumulate` (a sum post-op).
//   x: [N, H, W, C]  w: [O, C, 1, 1]  bias: [O] or nullptr  y, dy: [N, H, W, O]  dx: like x
void pointwise_forward(Conv2dContext& ctx, const Conv2dShape& s, const float* x, const float* w,
                       const float* bias, float* y);
void pointwise_backward_data(Conv2dContext& ctx, const Conv2dShape& s, const float* dy,
                             const float* w, float* dx, bool accumulate);

// Pointwise with stride > 1, over the positions (i * stride_h, j * stride_w) gathered into
// scratch slot 0. Backward-data scatters its product back (zeros, or nothing when accumulating,
// where no window reads).
//   x, dx: [N, H, W, C]  y, dy: [N, OH, OW, O]
void strided_pointwise_forward(Conv2dContext& ctx, const Conv2dShape& s, const float* x,
                               const float* w, const float* bias, float* y);
void strided_pointwise_backward_data(Conv2dContext& ctx, const Conv2dShape& s, const float* dy,
                                     const float* w, float* dx, bool accumulate);

// Pointwise, either stride: dw = dy^T * x (the sampled x when strided) and, when dbias is not
// nullptr, dbias = the column sums of dy.
//   dw: [O, C, 1, 1]  dbias: [O]
void pointwise_backward_weights(Conv2dContext& ctx, const Conv2dShape& s, const float* x,
                                const float* dy, float* dw, float* dbias);

// im2col: the forward and backward-weights over the [N*OH*OW, C*KH*KW] window matrix in scratch
// slot 0 (backward-data stays on the convolution primitives).
//   x: [N, H, W, C]  w, dw: [O, C, KH, KW]  y, dy: [N, OH, OW, O]
void im2col_forward(Conv2dContext& ctx, const Conv2dShape& s, const float* x, const float* w,
                    const float* bias, float* y);
void im2col_backward_weights(Conv2dContext& ctx, const Conv2dShape& s, const float* x,
                             const float* dy, float* dw, float* dbias);

// bf16 mixed precision: the same products on bf16 activations and the bf16 copy of the weights
// (from the weight cache, once per version), float32 out (y in bf16 with y_bf16); the strided
// ones gather bf16 rows.
//   x, dy: bf16 [N, H, W, C] and [N, OH, OW, O]   w, dw: float32 [O, C, 1, 1]   dx: float32
void pointwise_forward_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                            const float* w, const float* bias, void* y, bool y_bf16,
                            const WeightId& wid, int64_t epilogue = 0);
void pointwise_backward_data_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* dy,
                                  const float* w, float* dx, const WeightId& wid,
                                  bool accumulate);
void strided_pointwise_forward_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                                    const float* w, const float* bias, void* y, bool y_bf16,
                                    const WeightId& wid, int64_t epilogue = 0);
void strided_pointwise_backward_data_bf16(Conv2dContext& ctx, const Conv2dShape& s,
                                          const uint16_t* dy, const float* w, float* dx,
                                          const WeightId& wid, bool accumulate);
// epilogue: epilogue_code, for a bf16 y (the forward_inference of conv2d.h's Conv2dEpilogue).
// im2col over bf16 windows (scratch slot 0), with the [O, C*KH*KW] bf16 copy of the weights.
void im2col_forward_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                         const float* w, const float* bias, void* y, bool y_bf16,
                         const WeightId& wid, int64_t epilogue = 0);
void im2col_backward_weights_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                                  const uint16_t* dy, float* dw, float* dbias);
// Either stride.
void pointwise_backward_weights_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                                     const uint16_t* dy, float* dw, float* dbias);

}  // namespace hsanet::ops::detail
