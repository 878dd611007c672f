// Highway kernels for bf16.h. Whole vectors go through the integer form of bf16_ref.h's rules
// (bf16-inl.h); a row's last partial vector goes through the reference itself, which gives the same bits (every
// step is exact integer arithmetic), so a chunk boundary never changes a result.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/bf16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/bf16-inl.h"
#include "ops/bf16.h"
#include "ops/bf16_ref.h"
#include "ops/parallel.h"

#include <stdexcept>
#include <string>

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void NarrowRange(const float* HWY_RESTRICT x, uint16_t* HWY_RESTRICT y, int64_t j0, int64_t j1) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> d16;  // as many u16 lanes, half the width
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  int64_t j = j0;
  for (; j + L <= j1; j += L) hn::StoreU(NarrowToBf16(df, hn::LoadU(df, x + j)), d16, y + j);
  for (; j < j1; ++j) y[j] = ref::float_to_bf16(x[j]);
}

void WidenRange(const uint16_t* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t j0, int64_t j1) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> d16;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  int64_t j = j0;
  for (; j + L <= j1; j += L) hn::StoreU(WidenBf16(df, hn::LoadU(d16, x + j)), df, y + j);
  for (; j < j1; ++j) y[j] = ref::bf16_to_float(x[j]);
}

void Narrow(const float* x, uint16_t* y, int64_t n) {
  parallel_chunks(n, [&](int64_t j0, int64_t j1) { NarrowRange(x, y, j0, j1); });
}
void Widen(const uint16_t* x, float* y, int64_t n) {
  parallel_chunks(n, [&](int64_t j0, int64_t j1) { WidenRange(x, y, j0, j1); });
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops {

HWY_EXPORT(Narrow);
HWY_EXPORT(Widen);

void float_to_bf16(const float* x, uint16_t* y, int64_t n) {
  if (n < 0) throw std::invalid_argument("float_to_bf16: negative size " + std::to_string(n));
  if (n > 0) HWY_DYNAMIC_DISPATCH(Narrow)(x, y, n);
}

void bf16_to_float(const uint16_t* x, float* y, int64_t n) {
  if (n < 0) throw std::invalid_argument("bf16_to_float: negative size " + std::to_string(n));
  if (n > 0) HWY_DYNAMIC_DISPATCH(Widen)(x, y, n);
}

}  // namespace hsanet::ops
#endif  // HWY_ONCE
