// Conversions between float32 and bfloat16 for mixed-precision training (docs/precision.md).
// bf16 values travel as their 16-bit patterns (uint16_t), the type oneDNN's bf16 memories hold.
// Narrowing rounds to nearest, ties to even; NaN stays NaN; widening is exact (bf16_ref.h has the
// rules one value at a time). Memory-bound, so one vectorised pass threaded over chunks.
#pragma once

#include <cstdint>

namespace hsanet::ops {

//   x: [n] float32  ->  y: [n] bf16 bit patterns
void float_to_bf16(const float* x, uint16_t* y, int64_t n);
//   x: [n] bf16 bit patterns  ->  y: [n] float32
void bf16_to_float(const uint16_t* x, float* y, int64_t n);

}  // namespace hsanet::ops
