// What tells two convolution plans apart: the key of the cached oneDNN primitives, both the
// convolution ones (conv2d_onednn.h) and the matmuls of the GEMM paths (conv2d_gemm.h).
#pragma once

#include <array>
#include <cstdint>

#include <dnnl.hpp>

#include "ops/conv2d.h"

namespace hsanet::ops::detail {

enum class Direction : int64_t {
  kForwardTraining, kForwardInference, kBackwardData, kBackwardWeights,
  kBackwardDataAccumulate,  // matmul plans only: dx += dy * w (a sum post-op)
};

// What a plan computes in: float32 throughout; bf16 operands with float32 results; or bf16
// operands and a bf16 forward output, for a batch norm that reads bf16 (docs/precision.md).
enum class Numerics : int64_t { kF32, kBF16, kBF16Out };

// A forward's epilogue (conv2d.h: Conv2dEpilogue) as a number: 0 none, +1 the sum with y's
// previous content, +2 the ReLU after it.
inline int64_t epilogue_code(const Conv2dEpilogue& e) {
  return (e.add_to_y ? 1 : 0) + (e.relu ? 2 : 0);
}
// The primitive attributes that carry an epilogue: oneDNN's post-ops, in that order.
inline dnnl::primitive_attr epilogue_attr(int64_t code) {
  dnnl::primitive_attr attr;
  if (code == 0) return attr;
  dnnl::post_ops po;
  if (code & 1) po.append_sum(1.0f);
  if (code & 2) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  attr.set_post_ops(po);
  return attr;
}

// Everything that makes two convolutions need different primitives; `winograd`: the plan runs
// oneDNN's Winograd algorithm rather than the direct one; `epilogue`: epilogue_code.
using PlanKey = std::array<int64_t, 19>;
inline PlanKey plan_key(const Conv2dShape& s, Direction dir, bool with_bias, bool winograd,
                        Numerics numerics = Numerics::kF32, int64_t epilogue = 0) {
  return {s.N, s.H, s.W, s.C, s.O, s.KH, s.KW, s.stride_h, s.stride_w, s.pad_h, s.pad_w,
          s.dilation_h, s.dilation_w, s.groups, static_cast<int64_t>(dir), with_bias ? 1 : 0,
          winograd ? 1 : 0, static_cast<int64_t>(numerics), epilogue};
}

}  // namespace hsanet::ops::detail
