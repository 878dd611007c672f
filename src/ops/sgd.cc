// Highway kernel for sgd.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/sgd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "ops/simd_tail-inl.h"
#include "ops/parallel.h"
#include "ops/sgd.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Elements [j0, j1). Pointers come in as parameters, not captures, so that the stores cannot
// make the compiler reload them. The same fused multiply-adds run whether a vector is whole or a
// tail, so a chunk boundary never changes a result.
void UpdateRange(float* HWY_RESTRICT w, const float* HWY_RESTRICT g, float* HWY_RESTRICT buf,
                 int64_t j0, int64_t j1, SgdStep s) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  const auto lr = hn::Set(d, s.lr), mom = hn::Set(d, s.momentum), wd = hn::Set(d, s.weight_decay);
  const auto keep = hn::Set(d, 1.f - s.dampening);
  const bool undamped = s.dampening == 0.f;
  for (int64_t j = j0; j < j1; j += L) {
    const size_t n = static_cast<size_t>(std::min(L, j1 - j));
    const auto w0 = LoadPart(d, w + j, n);
    auto step = hn::MulAdd(wd, w0, LoadPart(d, g + j, n));  // d = g + wd * w
    if (buf) {
      const auto dd = undamped ? step : hn::Mul(keep, step);
      const auto b = s.first ? step : hn::MulAdd(mom, LoadPart(d, buf + j, n), dd);
      // A whole, aligned vector goes out with a streaming store (no read for ownership, no
      // cache line kept); a part goes through the ordinary partial store.
      if (n == static_cast<size_t>(L) && reinterpret_cast<uintptr_t>(buf + j) % (L * sizeof(float)) == 0)
        hn::Stream(b, d, buf + j);
      else
        StorePart(b, d, buf + j, n);
      step = s.nesterov ? hn::MulAdd(mom, b, step) : b;
    }
    StorePart(hn::NegMulAdd(lr, step, w0), d, w + j, n);  // w -= lr * d
  }
  hwy::FlushStream();  // the streaming stores become visible before the threads join
}

void Update(float* w, const float* g, float* buf, int64_t n, const SgdStep& s) {
  parallel_chunks(n, [&](int64_t j0, int64_t j1) { UpdateRange(w, g, buf, j0, j1, s); });
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops {

HWY_EXPORT(Update);

void sgd_update(float* w, const float* g, float* buf, int64_t n, const SgdStep& s) {
  if (n < 0) throw std::invalid_argument("sgd_update: negative size " + std::to_string(n));
  if (s.momentum != 0.f && !buf)
    throw std::invalid_argument("sgd_update: momentum " + std::to_string(s.momentum) +
                                " needs a buffer");
  if (n == 0) return;
  HWY_DYNAMIC_DISPATCH(Update)(w, g, s.momentum != 0.f ? buf : nullptr, n, s);
}

}  // namespace hsanet::ops
#endif  // HWY_ONCE
