// Scalar reference for the bf16 conversions (bf16.h): one value at a time, the rules written
// out. bf16 is float32's top 16 bits: the sign, the same 8-bit exponent, 7 of the 23 mantissa
// bits. Narrowing rounds to nearest, ties to even (as oneDNN's reorders and PyTorch's
// .to(torch.bfloat16) do); a NaN stays a NaN (quiet, same sign); a finite value past bf16's
// largest rounds to infinity.
#pragma once

#include <cstdint>
#include <cstring>

namespace hsanet::ops::ref {

inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  // Adding 0x7fff plus the lowest kept bit carries into the kept bits exactly when the dropped
  // half is above one half, or equal to it with an odd kept part: round half to even.
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;  // exact: the dropped bits were zero
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace hsanet::ops::ref
