// Vector conversions between float32 and bf16 (the rules of bf16_ref.h: round to nearest, ties
// to even; NaN stays NaN; widening exact), for Highway kernels that read or write bf16 arrays:
// LoadF32/StoreF32 load and store n <= Lanes floats from a float32 or a bf16 array alike, so one
// kernel template serves both.
// Highway's "-inl.h" pattern: re-included once per target, the guard toggles.
#if defined(HSANET_OPS_BF16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HSANET_OPS_BF16_INL_H_
#undef HSANET_OPS_BF16_INL_H_
#else
#define HSANET_OPS_BF16_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "ops/simd_tail-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The float32 vector of the bf16 patterns v (as many u16 lanes as df has floats).
template <class DF>
HWY_INLINE hn::Vec<DF> WidenBf16(DF df, hn::Vec<hn::Rebind<uint16_t, DF>> v) {
  const hn::RebindToUnsigned<DF> du;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, v)));
}

// The bf16 patterns of f, rounded to nearest even, NaN kept quiet with its sign.
template <class DF>
HWY_INLINE hn::Vec<hn::Rebind<uint16_t, DF>> NarrowToBf16(DF df, hn::Vec<DF> f) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint16_t, DF> d16;
  const auto u = hn::BitCast(du, f);
  const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
  const auto rounded = hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), lsb)));
  // A NaN by its bits (exponent all ones, mantissa not zero): a float compare of f with itself
  // is not dependable here (x86's ordered not-equal is false for NaN).
  const auto magnitude = hn::BitCast(di, hn::And(u, hn::Set(du, 0x7fffffffu)));
  const auto nan = hn::RebindMask(du, hn::Gt(magnitude, hn::Set(di, 0x7f800000)));
  const auto bits = hn::IfThenElse(nan, hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u)), rounded);
  return hn::DemoteTo(d16, hn::BitCast(di, bits));  // bits <= 0xffff: no saturation
}

// n <= Lanes(df) values from p as float32 (the other lanes zero); p float32 or bf16.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadF32(DF df, const float* HWY_RESTRICT p, size_t n) {
  return LoadPart(df, p, n);
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadF32(DF df, const uint16_t* HWY_RESTRICT p, size_t n) {
  const hn::Rebind<uint16_t, DF> d16;
  return WidenBf16(df, LoadPart(d16, p, n));
}

// Writes the first n <= Lanes(df) lanes of v to p[0, n), as float32 or rounded to bf16.
template <class DF>
HWY_INLINE void StoreF32(hn::Vec<DF> v, DF df, float* HWY_RESTRICT p, size_t n) {
  StorePart(v, df, p, n);
}
template <class DF>
HWY_INLINE void StoreF32(hn::Vec<DF> v, DF df, uint16_t* HWY_RESTRICT p, size_t n) {
  const hn::Rebind<uint16_t, DF> d16;
  StorePart(NarrowToBf16(df, v), d16, p, n);
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#endif  // HSANET_OPS_BF16_INL_H_
