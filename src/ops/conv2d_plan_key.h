// What tells two convolution plans apart: the key of the cached oneDNN primitives, both the
// convolution ones (conv2d_onednn.h) and the matmuls of the GEMM paths (conv2d_gemm.h).
#pragma once

#include <array>
#include <cstdint>

#include "ops/conv2d.h"

namespace hsanet::ops::detail {

enum class Direction : int64_t {
  kForwardTraining, kForwardInference, kBackwardData, kBackwardWeights,
  kBackwardDataAccumulate,  // matmul plans only: dx += dy * w (a sum post-op)
};

// What a plan computes in: float32 throughout; bf16 operands with float32 results; or bf16
// operands and a bf16 forward output, for a batch norm that reads bf16 (docs/precision.md).
enum class Numerics : int64_t { kF32, kBF16, kBF16Out };

// Everything that makes two convolutions need different primitives; `winograd`: the plan runs
// oneDNN's Winograd algorithm rather than the direct one.
using PlanKey = std::array<int64_t, 18>;
inline PlanKey plan_key(const Conv2dShape& s, Direction dir, bool with_bias, bool winograd,
                        Numerics numerics = Numerics::kF32) {
  return {s.N, s.H, s.W, s.C, s.O, s.KH, s.KW, s.stride_h, s.stride_w, s.pad_h, s.pad_w,
          s.dilation_h, s.dilation_w, s.groups, static_cast<int64_t>(dir), with_bias ? 1 : 0,
          winograd ? 1 : 0, static_cast<int64_t>(numerics)};
}

}  // namespace hsanet::ops::detail
