#include "ops/conv2d_winograd.h"

#include <dnnl.hpp>

#include "ops/conv2d_context.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/winograd.h"

namespace hsanet::ops::detail {
namespace {

// The passes' counters, by tile size.
int64_t& winograd_calls(Conv2dContext& ctx, int64_t m) {
  return m == 2 ? ctx.counters.winograd2x2_calls : ctx.counters.winograd4x4_calls;
}

// U = the weights' transform, [T, O, C]: cached per weight version, or made in scratch slot 2.
const float* winograd_weights(Conv2dContext& ctx, int64_t m, const Conv2dShape& s, const float* w,
                              const WeightId& wid) {
  using dnnl::memory;
  const int64_t T = (m + 2) * (m + 2);
  const memory::desc md({T, s.O, s.C}, memory::data_type::f32, memory::format_tag::abc);
  auto transform = [&](float* U) { winograd::weight_transform(m, s.O, s.C, w, U); };
  const float* U = ctx.weights.copy(w, wid, md, transform);
  if (U) return U;
  float* own = ctx.scratch.get(2, static_cast<size_t>(T * s.C * s.O));
  transform(own);
  return own;
}

// One pass's tiling and its two transformed activations, in the shared scratch slots (the
// weights' transform or gradient, when needed, takes slot 2); making one counts the pass.
// T = (m+2)^2 tile positions.
struct WinogradPass {
  winograd::Tiling tl;
  int64_t T, P;
  float* in;   // V or dV: [T, P, C], slot 0
  float* out;  // M or dM: [T, P, O], slot 1
  WinogradPass(Conv2dContext& ctx, int64_t m, const Conv2dShape& s)
      : tl{m, s.N, s.H, s.W}, T(tl.positions()), P(tl.tiles()),
        in(ctx.scratch.get(0, static_cast<size_t>(T * P * s.C))),
        out(ctx.scratch.get(1, static_cast<size_t>(T * P * s.O))) {
    winograd_calls(ctx, m)++;
  }
};

}  // namespace

void winograd_forward(Conv2dContext& ctx, int64_t m, const Conv2dShape& s, const float* x,
                      const float* w, const float* bias, float* y, const WeightId& wid) {
  const WinogradPass w2(ctx, m, s);
  const float* U = winograd_weights(ctx, m, s, w, wid);
  winograd::input_transform(w2.tl, s.C, x, w2.in);
  matmul(w2.in, U, w2.out, w2.T, w2.P, s.O, s.C, false, /*trans_b=*/true);  // M_t = V_t U_t^T
  winograd::output_transform(w2.tl, s.O, w2.out, bias, y);
}

void winograd_backward_data(Conv2dContext& ctx, int64_t m, const Conv2dShape& s, const float* dy,
                            const float* w, float* dx, const WeightId& wid) {
  const WinogradPass w2(ctx, m, s);
  const float* U = winograd_weights(ctx, m, s, w, wid);
  winograd::output_transform_backward(w2.tl, s.O, dy, w2.out);
  matmul(w2.out, U, w2.in, w2.T, w2.P, s.C, s.O);  // dV_t = dM_t U_t
  winograd::input_transform_backward(w2.tl, s.C, w2.in, dx);
}

void winograd_backward_weights(Conv2dContext& ctx, int64_t m, const Conv2dShape& s,
                               const float* x, const float* dy, float* dw, float* dbias) {
  const WinogradPass w2(ctx, m, s);
  float* dU = ctx.scratch.get(2, static_cast<size_t>(w2.T * s.C * s.O));  // [T, O, C]
  winograd::input_transform(w2.tl, s.C, x, w2.in);
  winograd::output_transform_backward(w2.tl, s.O, dy, w2.out);
  matmul(w2.out, w2.in, dU, w2.T, s.O, s.C, w2.P, /*trans_a=*/true);  // dU_t = dM_t^T V_t
  winograd::weight_transform_backward(m, s.O, s.C, dU, dw);
  if (dbias) sum_rows(dy, dbias, s.N * s.H * s.W, s.O);
}

}  // namespace hsanet::ops::detail
