// Per-target inline softmax over one row, shared by softmax.cc, loss.cc and the attention
// kernels. Highway's "-inl.h" pattern: re-included once per target by foreach_target.h, so the
// include guard toggles instead of staying set.
#if defined(HSANET_OPS_SOFTMAX_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HSANET_OPS_SOFTMAX_INL_H_
#undef HSANET_OPS_SOFTMAX_INL_H_
#else
#define HSANET_OPS_SOFTMAX_INL_H_
#endif

#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "ops/simd_tail-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// max over x[0, n); n >= 1.
HWY_INLINE float RowMax(const float* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  auto m = hn::Set(d, -HUGE_VALF);
  int64_t i = 0;
  for (; i + L <= n; i += L) m = hn::Max(m, hn::LoadU(d, x + i));
  if (i < n) {
    const auto mask = hn::FirstN(d, static_cast<size_t>(n - i));
    m = hn::Max(m, hn::IfThenElse(mask, LoadPart(d, x + i, static_cast<size_t>(n - i)),
                                  hn::Set(d, -HUGE_VALF)));
  }
  return hn::GetLane(hn::MaxOfLanes(d, m));
}

// y = exp(x - shift), returns sum(y). Two accumulators hide the add latency.
HWY_INLINE float ExpShiftSum(const float* HWY_RESTRICT x, float shift, float* HWY_RESTRICT y,
                             int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  const auto vshift = hn::Set(d, shift);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto e0 = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vshift));
    const auto e1 = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i + L), vshift));
    hn::StoreU(e0, d, y + i);
    hn::StoreU(e1, d, y + i + L);
    s0 = hn::Add(s0, e0);
    s1 = hn::Add(s1, e1);
  }
  for (; i < n; i += L) {
    const size_t rest = static_cast<size_t>(n - i) < static_cast<size_t>(L) ? static_cast<size_t>(n - i) : static_cast<size_t>(L);
    const auto mask = hn::FirstN(d, rest);
    // Lanes past the row load 0 and give exp(-shift); IfThenElseZero drops them from the sum.
    const auto e = hn::IfThenElseZero(mask, hn::Exp(d, hn::Sub(LoadPart(d, x + i, rest), vshift)));
    StorePart(e, d, y + i, rest);
    s0 = hn::Add(s0, e);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
}

// y *= alpha
HWY_INLINE void ScaleRow(float* HWY_RESTRICT y, float alpha, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  const auto va = hn::Set(d, alpha);
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Mul(hn::LoadU(d, y + i), va), d, y + i);
  for (; i < n; ++i) y[i] *= alpha;
}

// Numerically stable softmax of one row: max, exp(x - max), sum, scale by 1/sum.
// Subtracting the max keeps every exp in (0, 1], so logits of +-1e4 stay finite; the largest
// term is exactly 1, so the sum is >= 1 and the division is safe. y may alias x.
HWY_INLINE void SoftmaxRow(const float* x, float* y, int64_t n) {
  const float m = RowMax(x, n);
  const float s = ExpShiftSum(x, m, y, n);
  ScaleRow(y, 1.f / s, n);
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#endif  // include guard
