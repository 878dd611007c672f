// The loops the Winograd transform kernels (winograd2x2-inl.h, winograd4x4-inl.h) share:
// vectors along the channel axis, threads over tiles. Highway's "-inl.h" pattern: re-included
// once per target, the guard toggles.
#if defined(HSANET_OPS_WINOGRAD_LOOPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HSANET_OPS_WINOGRAD_LOOPS_INL_H_
#undef HSANET_OPS_WINOGRAD_LOOPS_INL_H_
#else
#define HSANET_OPS_WINOGRAD_LOOPS_INL_H_
#endif

#include <cstdint>

#include <algorithm>
#include <vector>

#include "hwy/highway.h"
#include "ops/parallel.h"
#include "ops/winograd.h"

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

constexpr int64_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Points at the k x k pixels of image n whose top-left pixel is (h0, w0), row-major:
// out[a * k + b] is pixel (h0 + a, w0 + b), or `outside` where that pixel is off the map.
//   base: [N, H, W, C]
template <class T>
HWY_INLINE void Window(const winograd::Tiling& tl, T* base, int64_t C, int64_t n, int64_t h0,
                       int64_t w0, int64_t k, T* outside, T** out) {
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b < k; ++b) {
      const int64_t h = h0 + a, w = w0 + b;
      const bool inside = h >= 0 && h < tl.H && w >= 0 && w < tl.W;
      out[a * k + b] = inside ? base + ((n * tl.H + h) * tl.W + w) * C : outside;
    }
}

// A filter's 9 taps are contiguous in OIHW; the weight transforms want one vector per tap.
// taps[k][j] = g[j * 9 + k] for the Lanes(d) filters at g, and back. Gathering with a stride of
// 9 floats beat a scalar transposition (the 512-channel 7x7 forward with its transform: 3.04 ->
// 2.51 ms); scattering did not (backward-weights +1.4 ms a step), so the way back is scalar.
template <class D>
HWY_INLINE void GatherTaps(D d, const float* g, float (*taps)[kMaxLanes]) {
  const hn::RebindToSigned<D> di;
  const auto stride9 = hn::Mul(hn::Iota(di, 0), hn::Set(di, 9));
  for (int k = 0; k < 9; ++k) hn::Store(hn::GatherIndex(d, g + k, stride9), d, taps[k]);
}
template <class D>
HWY_INLINE void ScatterTaps(D d, const float (*taps)[kMaxLanes], float* g) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t j = 0; j < n; ++j)
    for (int k = 0; k < 9; ++k) g[j * 9 + k] = taps[k][j];
}

// Tile p's image n, tile row i and tile column j.
struct TileAt {
  int64_t n, i, j;
  TileAt(const winograd::Tiling& tl, int64_t p)
      : n(p / (tl.rows() * tl.cols())), i(p / tl.cols() % tl.rows()), j(p % tl.cols()) {}
};

// The four activation passes' loops over tiles, around a transform set's per-tile kernel fn.
// Windows are (m+2) x (m+2) input pixels from (m*i - 1, m*j - 1); blocks m x m output pixels
// from (m*i, m*j).
constexpr int kMaxWindow = 36;

// Input transform: fn(p, src) for every tile p, src its window's pixels (zeros in the padding).
//   x: [N, H, W, C]
template <class Fn>
void ForInputWindows(const winograd::Tiling& tl, int64_t C, const float* x, const Fn& fn) {
  const int64_t P = tl.tiles(), m = tl.m;
  const std::vector<float> zeros(static_cast<size_t>(C), 0.f);  // the padding: [C]
  ForTiles(P, P * tl.positions() * C, [&](int64_t p) {
    const TileAt t(tl, p);
    const float* src[kMaxWindow];
    Window(tl, x, C, t.n, m * t.i - 1, m * t.j - 1, m + 2, zeros.data(), src);
    fn(p, src);
  });
}

// Its adjoint, a scatter: zeroes dx, then fn(p, dst) for every tile p, dst its window's pixels
// (null off the map). Windows of neighbouring tile rows overlap by two pixels, those of rows two
// apart do not; so the rows of one parity run threaded, then the other's, each row's tiles in
// order on one thread (they overlap too).
//   dx: [N, H, W, C]
template <class Fn>
void ForInputWindowsScattering(const winograd::Tiling& tl, int64_t C, float* dx, const Fn& fn) {
  const int64_t pixels = tl.N * tl.H * tl.W, R = tl.rows(), Q = tl.cols(), m = tl.m;
  ForTiles(pixels, pixels * C, [&](int64_t r) { std::fill(dx + r * C, dx + (r + 1) * C, 0.f); });
  for (int64_t parity = 0; parity < 2; ++parity) {
    const int64_t per_n = (R - parity + 1) / 2;  // rows of this parity in one image
    ForTiles(tl.N * per_n, tl.N * per_n * Q * tl.positions() * C, [&](int64_t k) {
      const int64_t n = k / per_n, i = 2 * (k % per_n) + parity;
      for (int64_t j = 0; j < Q; ++j) {
        float* dst[kMaxWindow];
        Window(tl, dx, C, n, m * i - 1, m * j - 1, m + 2, static_cast<float*>(nullptr), dst);
        fn((n * R + i) * Q + j, dst);
      }
    });
  }
}

// Output transform: fn(p, dst) for every tile p, dst its block's pixels (null where the block
// overhangs the map).
//   y: [N, H, W, O]
template <class Fn>
void ForOutputBlocks(const winograd::Tiling& tl, int64_t O, float* y, const Fn& fn) {
  const int64_t P = tl.tiles(), m = tl.m;
  ForTiles(P, P * tl.positions() * O, [&](int64_t p) {
    const TileAt t(tl, p);
    float* dst[kMaxWindow];
    Window(tl, y, O, t.n, m * t.i, m * t.j, m, static_cast<float*>(nullptr), dst);
    fn(p, dst);
  });
}

// Its adjoint: fn(p, src) for every tile p, src its block's pixels of dy (zeros where the block
// overhangs the map).
//   dy: [N, H, W, O]
template <class Fn>
void ForOutputGradBlocks(const winograd::Tiling& tl, int64_t O, const float* dy, const Fn& fn) {
  const int64_t P = tl.tiles(), m = tl.m;
  const std::vector<float> zeros(static_cast<size_t>(O), 0.f);  // the overhang: [O]
  ForTiles(P, P * tl.positions() * O, [&](int64_t p) {
    const TileAt t(tl, p);
    const float* src[kMaxWindow];
    Window(tl, dy, O, t.n, m * t.i, m * t.j, m, zeros.data(), src);
    fn(p, src);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops::winograd_loops
HWY_AFTER_NAMESPACE();

#endif  // include guard
