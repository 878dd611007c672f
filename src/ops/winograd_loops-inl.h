// The loops the Winograd transform kernels (winograd2x2.cc, winograd4x4.cc) share: vectors
// along the channel axis, threads over tiles. Highway's "-inl.h" pattern: re-included once per
// target, the guard toggles.
#if defined(HSANET_OPS_WINOGRAD_LOOPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HSANET_OPS_WINOGRAD_LOOPS_INL_H_
#undef HSANET_OPS_WINOGRAD_LOOPS_INL_H_
#else
#define HSANET_OPS_WINOGRAD_LOOPS_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"
#include "ops/parallel.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops::winograd_loops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// body(d, c) for c in [0, C): whole vectors, then single lanes for the tail.
template <class Body>
HWY_INLINE void ForChannels(int64_t C, const Body& body) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  int64_t c = 0;
  for (; c + L <= C; c += L) body(d, c);
  const hn::CappedTag<float, 1> d1;
  for (; c < C; ++c) body(d1, c);
}

// fn(i) for i in [0, n), threaded when the work is worth waking the team for.
template <class Fn>
void ForTiles(int64_t n, int64_t work, const Fn& fn) {
  const bool threaded = work >= kParallelGrain && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops::winograd_loops
HWY_AFTER_NAMESPACE();

#endif  // include guard
