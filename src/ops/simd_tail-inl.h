// Partial vector loads and stores for the tail of a row: touch exactly p[0, n), n <= Lanes.
// Highway 1.0.3 implements MaskedLoad and BlendedStore below AVX2 (SSE4, SSSE3, emulated) with
// whole-vector memory accesses (HWY_MEM_OPS_MIGHT_FAULT): on an unaligned tail they can fault or
// race with a neighbour's writes. There the tail goes through an aligned stack copy instead.
// Highway's "-inl.h" pattern: re-included once per target, the guard toggles.
#if defined(HSANET_OPS_SIMD_TAIL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HSANET_OPS_SIMD_TAIL_INL_H_
#undef HSANET_OPS_SIMD_TAIL_INL_H_
#else
#define HSANET_OPS_SIMD_TAIL_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The first n lanes of p; the other lanes are zero.
template <class D>
HWY_INLINE hn::Vec<D> LoadPart(D d, const hn::TFromD<D>* HWY_RESTRICT p, size_t n) {
  if (n == hn::Lanes(d)) return hn::LoadU(d, p);
#if HWY_MEM_OPS_MIGHT_FAULT
  HWY_ALIGN hn::TFromD<D> buf[HWY_MAX_BYTES / sizeof(hn::TFromD<D>)] = {};
  n = HWY_MIN(n, sizeof(buf) / sizeof(buf[0]));  // n <= Lanes; said so for the compiler
  for (size_t i = 0; i < n; ++i) buf[i] = p[i];
  return hn::Load(d, buf);
#else
  return hn::IfThenElseZero(hn::FirstN(d, n), hn::MaskedLoad(hn::FirstN(d, n), d, p));
#endif
}

// Writes the first n lanes of v to p[0, n) and nothing else.
template <class D>
HWY_INLINE void StorePart(hn::Vec<D> v, D d, hn::TFromD<D>* HWY_RESTRICT p, size_t n) {
  if (n == hn::Lanes(d)) return hn::StoreU(v, d, p);
#if HWY_MEM_OPS_MIGHT_FAULT
  HWY_ALIGN hn::TFromD<D> buf[HWY_MAX_BYTES / sizeof(hn::TFromD<D>)];
  hn::Store(v, d, buf);
  n = HWY_MIN(n, sizeof(buf) / sizeof(buf[0]));  // n <= Lanes; said so for the compiler
  for (size_t i = 0; i < n; ++i) p[i] = buf[i];
#else
  hn::BlendedStore(v, hn::FirstN(d, n), d, p);
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#endif  // include guard
