// Highway kernels for pool.h. Every kernel walks the spatial positions in scalar code and the
// contiguous channel axis in vectors. Both backward passes are written as gathers -- each input
// position sums the outputs whose window covers it -- so every dx element is written once by one
// thread, with no zeroing pass, no atomics, and a summation order independent of the threads.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/pool.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/simd_tail-inl.h"
#include "ops/parallel.h"
#include "ops/pool.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Runs body(row) for row in [0, rows), rows split across threads when the work is large enough
// to pay for waking them (elems_per_row elements touched per row).
template <class Body>
void ParallelRows(int64_t rows, int64_t elems_per_row, Body&& body) {
  if (rows * elems_per_row < kParallelGrain || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (int64_t r = 0; r < rows; ++r) body(r);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) body(r);
}

// The outputs whose window covers input position i along one axis: [lo, hi).
// Window o covers [o*s - p, o*s - p + k), so o*s - p <= i  and  i <= o*s - p + k - 1.
inline void CoveringOutputs(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out, int64_t& lo,
                            int64_t& hi) {
  const int64_t a = i + p - k + 1;  // smallest o*s allowed
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  hi = std::min(out, (i + p) / s + 1);
}

// Runs fn(n, oh, ow, h0, h1, w0, w1) for every output position, threaded over output rows:
// [h0, h1) x [w0, w1) is the window of (oh, ow) clipped to the image.
template <class Fn>
void ForEachWindow(const Pool2dShape& s, const Fn& fn) {
  const int64_t OH = s.OH(), OW = s.OW();
  ParallelRows(s.N * OH, OW * s.C * s.KH * s.KW, [&](int64_t row) {
    const int64_t n = row / OH, oh = row % OH, h0 = s.row_begin(oh), h1 = s.row_end(oh);
    for (int64_t ow = 0; ow < OW; ++ow) fn(n, oh, ow, h0, h1, s.col_begin(ow), s.col_end(ow));
  });
}

// ---------------------------------------------------------------- max pool

void MaxPoolForward(const Pool2dShape& s, const float* HWY_RESTRICT x, float* HWY_RESTRICT y,
                    int32_t* HWY_RESTRICT argmax) {
  // x: [N, H, W, C]  y, argmax: [N, OH, OW, C]
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t L = hn::Lanes(d), C = s.C, OH = s.OH(), OW = s.OW();
  ForEachWindow(s, [&](int64_t n, int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0,
                       int64_t w1) {
    const float* xn = x + n * s.H * s.W * C;
    const int64_t out = ((n * OH + oh) * OW + ow) * C;
    for (int64_t c = 0; c < C; c += L) {
      const size_t nl = static_cast<size_t>(std::min(L, C - c));
      auto best = hn::Set(d, -HUGE_VALF);
      // Start at the first tap so that a window of -infinity still routes to a real input.
      auto best_at = hn::Set(di, static_cast<int32_t>(h0 * s.W + w0));
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) {
          const auto v = LoadPart(d, xn + (h * s.W + w) * C + c, nl);
          // Strictly greater: the first maximum in scan order wins, as in PyTorch; a NaN
          // replaces anything so that it propagates.
          const auto take = hn::Or(hn::Gt(v, best), hn::IsNaN(v));
          best = hn::IfThenElse(take, v, best);
          best_at = hn::IfThenElse(hn::RebindMask(di, take),
                                   hn::Set(di, static_cast<int32_t>(h * s.W + w)), best_at);
        }
      StorePart(best, d, y + out + c, nl);
      if (argmax) StorePart(best_at, di, argmax + out + c, nl);
    }
  });
}

void MaxPoolBackward(const Pool2dShape& s, const float* HWY_RESTRICT dy,
                     const int32_t* HWY_RESTRICT argmax, float* HWY_RESTRICT dx) {
  // dy, argmax: [N, OH, OW, C]  dx: [N, H, W, C]
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t L = hn::Lanes(d), C = s.C, OH = s.OH(), OW = s.OW();
  ParallelRows(s.N * s.H, s.W * C * 4, [&](int64_t row) {
    const int64_t n = row / s.H, h = row % s.H;
    int64_t oh0, oh1;
    CoveringOutputs(h, s.KH, s.stride_h, s.pad_h, OH, oh0, oh1);
    for (int64_t w = 0; w < s.W; ++w) {
      int64_t ow0, ow1;
      CoveringOutputs(w, s.KW, s.stride_w, s.pad_w, OW, ow0, ow1);
      const auto here = hn::Set(di, static_cast<int32_t>(h * s.W + w));
      float* dxp = dx + (row * s.W + w) * C;
      for (int64_t c = 0; c < C; c += L) {
        const size_t nl = static_cast<size_t>(std::min(L, C - c));
        auto acc = hn::Zero(d);
        for (int64_t oh = oh0; oh < oh1; ++oh)
          for (int64_t ow = ow0; ow < ow1; ++ow) {
            const int64_t o = ((n * OH + oh) * OW + ow) * C + c;
            // From the forward's `best = v` at the argmax: the gradient goes there only.
            const auto won = hn::Eq(LoadPart(di, argmax + o, nl), here);
            acc = hn::Add(acc, hn::IfThenElseZero(hn::RebindMask(d, won),
                                                  LoadPart(d, dy + o, nl)));
          }
        StorePart(acc, d, dxp + c, nl);
      }
    }
  });
}

// ---------------------------------------------------------------- average pool

// 1 / the divisor of every window (oh, ow), [OH * OW]: the same for every image and channel, so
// computed once per call rather than in the channel loops. With count_include_pad a window counts
// the padding it covers but not what lies past the padded edge (a ceil_mode window can reach
// there).
std::vector<float> InverseDivisors(const Pool2dShape& s) {
  const int64_t OH = s.OH(), OW = s.OW();
  std::vector<float> inv(static_cast<size_t>(OH * OW));
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      int64_t h0 = oh * s.stride_h - s.pad_h, w0 = ow * s.stride_w - s.pad_w;
      int64_t h1 = std::min(h0 + s.KH, s.H + s.pad_h), w1 = std::min(w0 + s.KW, s.W + s.pad_w);
      if (!s.count_include_pad) {
        h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
        h1 = std::min(h1, s.H), w1 = std::min(w1, s.W);
      }
      inv[oh * OW + ow] = 1.f / static_cast<float>((h1 - h0) * (w1 - w0));
    }
  return inv;
}

void AvgPoolForward(const Pool2dShape& s, const float* HWY_RESTRICT x, float* HWY_RESTRICT y) {
  // x: [N, H, W, C]  y: [N, OH, OW, C]
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d), C = s.C, OH = s.OH(), OW = s.OW();
  const std::vector<float> inverse = InverseDivisors(s);
  ForEachWindow(s, [&](int64_t n, int64_t oh, int64_t ow, int64_t h0, int64_t h1, int64_t w0,
                       int64_t w1) {
    const float* xn = x + n * s.H * s.W * C;
    const auto inv = hn::Set(d, inverse[oh * OW + ow]);
    float* yp = y + ((n * OH + oh) * OW + ow) * C;
    for (int64_t c = 0; c < C; c += L) {
      const size_t nl = static_cast<size_t>(std::min(L, C - c));
      auto acc = hn::Zero(d);
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w)
          acc = hn::Add(acc, LoadPart(d, xn + (h * s.W + w) * C + c, nl));
      StorePart(hn::Mul(acc, inv), d, yp + c, nl);
    }
  });
}

void AvgPoolBackward(const Pool2dShape& s, const float* HWY_RESTRICT dy, float* HWY_RESTRICT dx) {
  // dy: [N, OH, OW, C]  dx: [N, H, W, C]
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d), C = s.C, OH = s.OH(), OW = s.OW();
  const std::vector<float> inverse = InverseDivisors(s);
  ParallelRows(s.N * s.H, s.W * C * 4, [&](int64_t row) {
    const int64_t n = row / s.H, h = row % s.H;
    int64_t oh0, oh1;
    CoveringOutputs(h, s.KH, s.stride_h, s.pad_h, OH, oh0, oh1);
    for (int64_t w = 0; w < s.W; ++w) {
      int64_t ow0, ow1;
      CoveringOutputs(w, s.KW, s.stride_w, s.pad_w, OW, ow0, ow1);
      float* dxp = dx + (row * s.W + w) * C;
      for (int64_t c = 0; c < C; c += L) {
        const size_t nl = static_cast<size_t>(std::min(L, C - c));
        auto acc = hn::Zero(d);
        for (int64_t oh = oh0; oh < oh1; ++oh)
          for (int64_t ow = ow0; ow < ow1; ++ow) {
            // From the forward's `y = sum(x) * inv`: each x in the window gets dy * inv.
            const auto inv = hn::Set(d, inverse[oh * OW + ow]);
            const auto g = LoadPart(d, dy + ((n * OH + oh) * OW + ow) * C + c, nl);
            acc = hn::MulAdd(g, inv, acc);
          }
        StorePart(acc, d, dxp + c, nl);
      }
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops {

HWY_EXPORT(MaxPoolForward);
HWY_EXPORT(MaxPoolBackward);
HWY_EXPORT(AvgPoolForward);
HWY_EXPORT(AvgPoolBackward);

void check_pool2d(const Pool2dShape& s, const char* op) {
  auto fail = [&](const std::string& why) {
    auto str = [](int64_t v) { return std::to_string(v); };
    throw std::invalid_argument(std::string(op) + ": " + why + " (input [" + str(s.N) + ", " +
                                str(s.H) + ", " + str(s.W) + ", " + str(s.C) + "] NHWC, kernel " +
                                str(s.KH) + "x" + str(s.KW) + ", stride " + str(s.stride_h) + "x" +
                                str(s.stride_w) + ", padding " + str(s.pad_h) + "x" +
                                str(s.pad_w) + (s.ceil_mode ? ", ceil_mode" : "") + ")");
  };
  if (s.N <= 0 || s.H <= 0 || s.W <= 0 || s.C <= 0) fail("input sizes must be positive");
  if (s.KH <= 0 || s.KW <= 0) fail("kernel sizes must be positive");
  if (s.stride_h <= 0 || s.stride_w <= 0) fail("stride must be positive");
  if (s.pad_h < 0 || s.pad_w < 0) fail("padding must be non-negative");
  // Larger padding would make windows that see only padding (PyTorch forbids it too).
  if (2 * s.pad_h > s.KH || 2 * s.pad_w > s.KW) fail("padding must be at most half the kernel");
  if (s.KH > s.H + 2 * s.pad_h || s.KW > s.W + 2 * s.pad_w)
    fail("kernel is larger than the padded input");
  if (s.H * s.W >= (int64_t{1} << 31)) fail("too many positions for int32 argmax indices");
}

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) {
  check_pool2d(s, "max_pool2d");
  HWY_DYNAMIC_DISPATCH(MaxPoolForward)(s, x, y, argmax);
}
void max_pool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx) {
  check_pool2d(s, "max_pool2d_backward");
  HWY_DYNAMIC_DISPATCH(MaxPoolBackward)(s, dy, argmax, dx);
}
void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  check_pool2d(s, "avg_pool2d");
  HWY_DYNAMIC_DISPATCH(AvgPoolForward)(s, x, y);
}
void avg_pool2d_backward(const Pool2dShape& s, const float* dy, float* dx) {
  check_pool2d(s, "avg_pool2d_backward");
  HWY_DYNAMIC_DISPATCH(AvgPoolBackward)(s, dy, dx);
}

}  // namespace hsanet::ops
#endif  // HWY_ONCE
