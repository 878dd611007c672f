// Row softmax, log-softmax and the softmax backward (softmax.h) on Highway. The per-row kernel
// lives in softmax-inl.h so that attention reuses exactly the same arithmetic.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/softmax.cc"
#include "ops/softmax.h"

#include <omp.h>

#include <cmath>
#include <cstring>

#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/parallel.h"
#include "ops/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sum exp(x - shift) without writing anything: log-softmax may run in place, so x must survive
// until the final pass.
HWY_INLINE float SumExpShift(const float* HWY_RESTRICT x, float shift, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  const auto vshift = hn::Set(d, shift);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);  // two sums: exp is long, the adds need not wait
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    s0 = hn::Add(s0, hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vshift)));
    s1 = hn::Add(s1, hn::Exp(d, hn::Sub(hn::LoadU(d, x + i + L), vshift)));
  }
  for (; i < n; i += L) {
    const auto m = hn::FirstN(d, static_cast<size_t>(n - i));
    s0 = hn::Add(s0,
                 hn::IfThenElseZero(m, hn::Exp(d, hn::Sub(hn::MaskedLoad(m, d, x + i), vshift))));
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
}

// Below AVX2 (SSE4, SSSE3, emulated), Highway 1.0.3's MaskedLoad is a full *aligned* load: a
// row tail that is unaligned, or ends near a page boundary, would fault. On those targets each
// row is staged through aligned scratch padded to whole vectors; AVX2 and AVX-512 mask in
// hardware and work on the caller's memory directly.
constexpr bool kStageRows = HWY_TARGET > HWY_AVX2;

// Calls fn(a_row, b_row, out_row, cols) for every row; b may be null. Rows are independent:
// threads split them and each row is done by exactly one thread.
template <class RowFn>
void ForRows(int64_t rows, int64_t cols, const float* a, const float* b, float* out, RowFn fn) {
  const bool par = rows * cols >= kParallelGrain && rows > 1 && !omp_in_parallel();
#pragma omp parallel if (par)
  {
    hwy::AlignedFreeUniquePtr<float[]> scratch;
    const hn::ScalableTag<float> d;
    const int64_t padded = (cols + hn::Lanes(d) - 1) / hn::Lanes(d) * hn::Lanes(d);
    if (kStageRows) scratch = hwy::AllocateAligned<float>(3 * padded);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      if constexpr (!kStageRows) {
        fn(a + r * cols, b ? b + r * cols : nullptr, out + r * cols, cols);
      } else {
        float* sa = scratch.get();
        float* sb = sa + padded;
        float* so = sb + padded;
        std::memcpy(sa, a + r * cols, cols * sizeof(float));
        if (b) std::memcpy(sb, b + r * cols, cols * sizeof(float));
        fn(sa, b ? sb : nullptr, so, cols);
        std::memcpy(out + r * cols, so, cols * sizeof(float));
      }
    }
  }
}

void SoftmaxRowsImpl(const float* x, float* y, int64_t rows, int64_t cols) {
  ForRows(rows, cols, x, nullptr, y,
          [](const float* xr, const float*, float* yr, int64_t n) { SoftmaxRow(xr, yr, n); });
}

// log softmax(x)_i = (x_i - max) - log sum exp(x - max): the max keeps every exp <= 1, so the
// log is of a number in [1, cols] and never overflows or underflows. The two subtractions stay
// separate: max + log(sum) would round to the spacing of max (1e-3 at 1e4) and lose the log.
void LogSoftmaxRowsImpl(const float* x, float* y, int64_t rows, int64_t cols) {
  ForRows(rows, cols, x, nullptr, y, [](const float* xr, const float*, float* yr, int64_t n) {
    const hn::ScalableTag<float> d;
    const int64_t L = hn::Lanes(d);
    const float m = RowMax(xr, n);
    const auto vmax = hn::Set(d, m);
    const auto vlog = hn::Set(d, std::log(SumExpShift(xr, m, n)));
    int64_t i = 0;
    for (; i + L <= n; i += L)
      hn::StoreU(hn::Sub(hn::Sub(hn::LoadU(d, xr + i), vmax), vlog), d, yr + i);
    if (i < n) {
      const auto mask = hn::FirstN(d, static_cast<size_t>(n - i));
      hn::BlendedStore(hn::Sub(hn::Sub(hn::MaskedLoad(mask, d, xr + i), vmax), vlog), mask, d,
                       yr + i);
    }
  });
}

// y = softmax(x) row-wise  =>  dx_i = sum_j dy_j dy_j/dx_i = y_i (dy_i - sum_j dy_j y_j).
void SoftmaxRowsBackwardImpl(const float* y, const float* dy, float* dx, int64_t rows,
                             int64_t cols) {
  ForRows(rows, cols, y, dy, dx, [](const float* yr, const float* gr, float* xr, int64_t n) {
    const hn::ScalableTag<float> d;
    const int64_t L = hn::Lanes(d);
    auto acc = hn::Zero(d);
    int64_t i = 0;
    for (; i + L <= n; i += L) acc = hn::MulAdd(hn::LoadU(d, yr + i), hn::LoadU(d, gr + i), acc);
    if (i < n) {
      const auto mask = hn::FirstN(d, static_cast<size_t>(n - i));
      acc = hn::MulAdd(hn::MaskedLoad(mask, d, yr + i), hn::MaskedLoad(mask, d, gr + i), acc);
    }
    const auto dot = hn::Set(d, hn::GetLane(hn::SumOfLanes(d, acc)));
    for (i = 0; i + L <= n; i += L)
      hn::StoreU(hn::Mul(hn::LoadU(d, yr + i), hn::Sub(hn::LoadU(d, gr + i), dot)), d, xr + i);
    if (i < n) {
      const auto mask = hn::FirstN(d, static_cast<size_t>(n - i));
      hn::BlendedStore(
          hn::Mul(hn::MaskedLoad(mask, d, yr + i), hn::Sub(hn::MaskedLoad(mask, d, gr + i), dot)),
          mask, d, xr + i);
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops {

HWY_EXPORT(SoftmaxRowsImpl);
HWY_EXPORT(LogSoftmaxRowsImpl);
HWY_EXPORT(SoftmaxRowsBackwardImpl);

void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  HWY_DYNAMIC_DISPATCH(SoftmaxRowsImpl)(x, y, rows, cols);
}
void log_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  HWY_DYNAMIC_DISPATCH(LogSoftmaxRowsImpl)(x, y, rows, cols);
}
void softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  HWY_DYNAMIC_DISPATCH(SoftmaxRowsBackwardImpl)(y, dy, dx, rows, cols);
}

}  // namespace hsanet::ops
#endif  // HWY_ONCE
