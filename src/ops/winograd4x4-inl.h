// Winograd F(4x4, 3x3)'s transforms (winograd.h), Highway kernels. Each 2-D transform runs as
// two passes of a 1-D one: down the tile's columns into a small block on the stack, then along
// its rows; every transform vectorises along the contiguous channel axis. The interpolation
// points are 0, 1, -1, 1/2, -2 (and infinity): in float32 they round 2-5x less than the textbook
// 0, +-1, +-2 (docs/winograd.md). The 1-D transforms:
//   B^T u = (u0 - 3/2 u1 - 2u2 + 3/2 u3 + u4,  -u1 + u2/2 + 5/2 u3 + u4,
//            u1 - 5/2 u2 + u3/2 + u4,  -2u1 - u2 + 2u3 + u4,  u1/2 - u2 - u3/2 + u4,
//            u1 - 3/2 u2 - 2u3 + 3/2 u4 + u5)
//   A^T u = (u0 + u1 + u2 + u3 + u4,  u1 - u2 + u3/2 - 2u4,  u1 + u2 + u3/4 + 4u4,
//            u1 - u2 + u3/8 - 8u4 + u5)
//   G g   = (g0,  (g0 + g1 + g2)/3,  (-g0 + g1 - g2)/3,  -(16g0 + 8g1 + 4g2)/15,
//            (g0 - 2g1 + 4g2)/15,  g2)
// and their transposes for the backward passes.
//
// Highway's "-inl.h" pattern: re-included once per target by winograd.cc, the guard toggles.
#if defined(HSANET_OPS_WINOGRAD4X4_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HSANET_OPS_WINOGRAD4X4_INL_H_
#undef HSANET_OPS_WINOGRAD4X4_INL_H_
#else
#define HSANET_OPS_WINOGRAD4X4_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <vector>

#include "hwy/highway.h"
#include "ops/winograd.h"
#include "ops/winograd_loops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops::winograd {
namespace HWY_NAMESPACE {
namespace f4x4 {
namespace hn = hwy::HWY_NAMESPACE;
using namespace winograd_loops::HWY_NAMESPACE;  // the shared tile loops and tap moves

constexpr int64_t kPositions = 36;

constexpr int64_t kLanes = winograd_loops::HWY_NAMESPACE::kMaxLanes;
using Block = float[kPositions][kLanes];  // one vector's worth of channels per tile position

// Loads u_k = in[k * si] for k < K.
#define HSANET_LOAD6(d, in, si)                                                          \
  const auto u0 = hn::LoadU(d, in), u1 = hn::LoadU(d, in + si),                         \
             u2 = hn::LoadU(d, in + 2 * si), u3 = hn::LoadU(d, in + 3 * si),             \
             u4 = hn::LoadU(d, in + 4 * si), u5 = hn::LoadU(d, in + 5 * si)

// r = B^T u (6 -> 6), reading u_k at in[k * si] and writing r_k at out[k * so].
template <class D>
HWY_INLINE void InputT(D d, const float* in, int64_t si, float* out, int64_t so) {
  HSANET_LOAD6(d, in, si);
  const auto half = hn::Set(d, 0.5f), c15 = hn::Set(d, 1.5f), two = hn::Set(d, 2.f);
  const auto c25 = hn::Set(d, 2.5f);
  const auto d31 = hn::Sub(u3, u1), e42 = hn::Sub(u4, u2);
  hn::StoreU(hn::MulAdd(c15, d31, hn::NegMulAdd(two, u2, hn::Add(u0, u4))), d, out);
  hn::StoreU(hn::MulAdd(c25, u3, hn::MulAdd(half, u2, hn::Sub(u4, u1))), d, out + so);
  hn::StoreU(hn::NegMulAdd(c25, u2, hn::MulAdd(half, u3, hn::Add(u1, u4))), d, out + 2 * so);
  hn::StoreU(hn::MulAdd(two, d31, e42), d, out + 3 * so);
  hn::StoreU(hn::NegMulAdd(half, d31, e42), d, out + 4 * so);
  hn::StoreU(hn::MulAdd(c15, hn::Sub(u4, u2), hn::NegMulAdd(two, u3, hn::Add(u1, u5))), d,
             out + 5 * so);
}
// r = B u (6 -> 6), the adjoint.
template <class D>
HWY_INLINE void InputAdjoint(D d, const float* in, int64_t si, float* out, int64_t so) {
  HSANET_LOAD6(d, in, si);
  const auto half = hn::Set(d, 0.5f), c15 = hn::Set(d, 1.5f), two = hn::Set(d, 2.f);
  const auto c25 = hn::Set(d, 2.5f);
  hn::StoreU(u0, d, out);
  // -1.5u0 - u1 + u2 - 2u3 + 0.5u4 + u5
  const auto r1 = hn::MulAdd(half, u4, hn::Add(hn::Sub(u2, u1), u5));
  hn::StoreU(hn::NegMulAdd(c15, u0, hn::NegMulAdd(two, u3, r1)), d, out + so);
  // -2u0 + 0.5u1 - 2.5u2 - u3 - u4 - 1.5u5
  const auto r2 = hn::NegMulAdd(c25, u2, hn::NegMulAdd(c15, u5, hn::Neg(hn::Add(u3, u4))));
  hn::StoreU(hn::NegMulAdd(two, u0, hn::MulAdd(half, u1, r2)), d, out + 2 * so);
  // 1.5u0 + 2.5u1 + 0.5(u2 - u4) + 2(u3 - u5)
  const auto r3 = hn::MulAdd(half, hn::Sub(u2, u4), hn::Mul(two, hn::Sub(u3, u5)));
  hn::StoreU(hn::MulAdd(c15, u0, hn::MulAdd(c25, u1, r3)), d, out + 3 * so);
  // u0 + u1 + u2 + u3 + u4 + 1.5u5
  const auto r4 = hn::Add(hn::Add(hn::Add(u0, u1), hn::Add(u2, u3)), u4);
  hn::StoreU(hn::MulAdd(c15, u5, r4), d, out + 4 * so);
  hn::StoreU(u5, d, out + 5 * so);
}
// r = A^T u (6 -> 4).
template <class D>
HWY_INLINE void OutputT(D d, const float* in, int64_t si, float* out, int64_t so) {
  HSANET_LOAD6(d, in, si);
  const auto s12 = hn::Add(u1, u2), d12 = hn::Sub(u1, u2);
  const auto two = hn::Set(d, 2.f), four = hn::Set(d, 4.f), eight = hn::Set(d, 8.f);
  hn::StoreU(hn::Add(hn::Add(u0, s12), hn::Add(u3, u4)), d, out);
  hn::StoreU(hn::NegMulAdd(two, u4, hn::MulAdd(hn::Set(d, 0.5f), u3, d12)), d, out + so);
  hn::StoreU(hn::MulAdd(four, u4, hn::MulAdd(hn::Set(d, 0.25f), u3, s12)), d, out + 2 * so);
  const auto r3 = hn::MulAdd(hn::Set(d, 0.125f), u3, hn::Add(d12, u5));
  hn::StoreU(hn::NegMulAdd(eight, u4, r3), d, out + 3 * so);
}
// r = A g (4 -> 6), the adjoint.
template <class D>
HWY_INLINE void OutputAdjoint(D d, const float* in, int64_t si, float* out, int64_t so) {
  const auto g0 = hn::LoadU(d, in), g1 = hn::LoadU(d, in + si), g2 = hn::LoadU(d, in + 2 * si);
  const auto g3 = hn::LoadU(d, in + 3 * si);
  const auto s02 = hn::Add(g0, g2), s13 = hn::Add(g1, g3);
  const auto half = hn::Set(d, 0.5f), minus2 = hn::Set(d, -2.f);
  hn::StoreU(g0, d, out);
  hn::StoreU(hn::Add(s02, s13), d, out + so);
  hn::StoreU(hn::Sub(s02, s13), d, out + 2 * so);
  // g0 + g1/2 + g2/4 + g3/8, by Horner's rule
  const auto r3 = hn::MulAdd(half, hn::MulAdd(half, hn::MulAdd(half, g3, g2), g1), g0);
  hn::StoreU(r3, d, out + 3 * so);
  // g0 - 2g1 + 4g2 - 8g3, by Horner's rule
  const auto r4 = hn::MulAdd(minus2, hn::MulAdd(minus2, hn::MulAdd(minus2, g3, g2), g1), g0);
  hn::StoreU(r4, d, out + 4 * so);
  hn::StoreU(g3, d, out + 5 * so);
}
// r = G g (3 -> 6).
template <class D>
HWY_INLINE void WeightT(D d, const float* in, int64_t si, float* out, int64_t so) {
  const auto g0 = hn::LoadU(d, in), g1 = hn::LoadU(d, in + si), g2 = hn::LoadU(d, in + 2 * si);
  const auto third = hn::Set(d, 1.f / 3.f), fifteenth = hn::Set(d, 1.f / 15.f);
  const auto outer = hn::Add(g0, g2), four = hn::Set(d, 4.f), two = hn::Set(d, 2.f);
  hn::StoreU(g0, d, out);
  hn::StoreU(hn::Mul(third, hn::Add(outer, g1)), d, out + so);
  hn::StoreU(hn::Mul(third, hn::Sub(g1, outer)), d, out + 2 * so);
  // -(16g0 + 8g1 + 4g2)/15
  const auto r3 = hn::MulAdd(four, g0, hn::MulAdd(two, g1, g2));
  hn::StoreU(hn::Mul(hn::Set(d, -4.f / 15.f), r3), d, out + 3 * so);
  // (g0 - 2g1 + 4g2)/15
  hn::StoreU(hn::Mul(fifteenth, hn::MulAdd(four, g2, hn::NegMulAdd(two, g1, g0))), d, out + 4 * so);
  hn::StoreU(g2, d, out + 5 * so);
}
// r = G^T u (6 -> 3), the adjoint.
template <class D>
HWY_INLINE void WeightAdjoint(D d, const float* in, int64_t si, float* out, int64_t so) {
  HSANET_LOAD6(d, in, si);
  const auto third = hn::Set(d, 1.f / 3.f), fifteenth = hn::Set(d, 1.f / 15.f);
  const auto d12 = hn::Mul(third, hn::Sub(u1, u2)), s12 = hn::Mul(third, hn::Add(u1, u2));
  // u0 + (u1 - u2)/3 + (u4 - 16u3)/15
  const auto r0 = hn::NegMulAdd(hn::Set(d, 16.f), u3, u4);
  hn::StoreU(hn::MulAdd(fifteenth, r0, hn::Add(u0, d12)), d, out);
  // (u1 + u2)/3 - (8u3 + 2u4)/15
  const auto r1 = hn::MulAdd(hn::Set(d, 8.f), u3, hn::Add(u4, u4));
  hn::StoreU(hn::NegMulAdd(fifteenth, r1, s12), d, out + so);
  // (u1 - u2)/3 + 4(u4 - u3)/15 + u5
  const auto r2 = hn::MulAdd(hn::Set(d, 4.f / 15.f), hn::Sub(u4, u3), hn::Add(d12, u5));
  hn::StoreU(r2, d, out + 2 * so);
}
#undef HSANET_LOAD6

void InputTransform(const Tiling& tl, int64_t C, const float* x, float* V) {
  const int64_t P = tl.tiles();
  ForInputWindows(tl, C, x, [&](int64_t p, const float* const* src) {
    ForChannels(C, [&](auto d, int64_t c) {
      HWY_ALIGN Block t;  // B^T d down the columns: t[6 * row + column]
      HWY_ALIGN Block win;
      for (int k = 0; k < 36; ++k) hn::Store(hn::LoadU(d, src[k] + c), d, win[k]);
      for (int l = 0; l < 6; ++l) InputT(d, win[l], 6 * kLanes, t[l], 6 * kLanes);
      for (int r = 0; r < 6; ++r)
        InputT(d, t[6 * r], kLanes, V + (6 * r * P + p) * C + c, P * C);
    });
  });
}

void InputTransformBackward(const Tiling& tl, int64_t C, const float* dV, float* dx) {
  const int64_t P = tl.tiles();
  ForInputWindowsScattering(tl, C, dx, [&](int64_t p, float* const* dst) {
    ForChannels(C, [&](auto d, int64_t c) {
      HWY_ALIGN Block t, g;
      for (int l = 0; l < 6; ++l)  // B down each column of dV
        InputAdjoint(d, dV + (l * P + p) * C + c, 6 * P * C, t[l], 6 * kLanes);
      for (int r = 0; r < 6; ++r) InputAdjoint(d, t[6 * r], kLanes, g[6 * r], kLanes);
      for (int q = 0; q < 36; ++q)
        if (dst[q]) hn::StoreU(hn::Add(hn::LoadU(d, dst[q] + c), hn::Load(d, g[q])), d, dst[q] + c);
    });
  });
}

void OutputTransform(const Tiling& tl, int64_t O, const float* M, const float* bias, float* y) {
  const int64_t P = tl.tiles();
  const std::vector<float> zeros(static_cast<size_t>(O), 0.f);  // no bias: [O]
  const float* b = bias ? bias : zeros.data();
  ForOutputBlocks(tl, O, y, [&](int64_t p, float* const* dst) {
    ForChannels(O, [&](auto d, int64_t c) {
      HWY_ALIGN Block t, out;  // A^T M down the columns: t[6 * row + column], rows 0..3
      for (int l = 0; l < 6; ++l) OutputT(d, M + (l * P + p) * O + c, 6 * P * O, t[l], 6 * kLanes);
      for (int r = 0; r < 4; ++r) OutputT(d, t[6 * r], kLanes, out[4 * r], kLanes);
      const auto bv = hn::LoadU(d, b + c);
      for (int q = 0; q < 16; ++q)
        if (dst[q]) hn::StoreU(hn::Add(hn::Load(d, out[q]), bv), d, dst[q] + c);
    });
  });
}

void OutputTransformBackward(const Tiling& tl, int64_t O, const float* dy, float* dM) {
  const int64_t P = tl.tiles();
  ForOutputGradBlocks(tl, O, dy, [&](int64_t p, const float* const* src) {
    ForChannels(O, [&](auto d, int64_t c) {
      HWY_ALIGN Block g, t;  // g: the 4x4 block; t: A g down the columns, [6 rows][4 columns]
      for (int q = 0; q < 16; ++q) hn::Store(hn::LoadU(d, src[q] + c), d, g[q]);
      for (int b = 0; b < 4; ++b) OutputAdjoint(d, g[b], 4 * kLanes, t[b], 4 * kLanes);
      for (int r = 0; r < 6; ++r)
        OutputAdjoint(d, t[4 * r], kLanes, dM + (6 * r * P + p) * O + c, P * O);
    });
  });
}

// The weight transforms. A filter's 9 taps are contiguous in OIHW, so the filters
// w[o, c .. c+n) pass through a transposed block on the stack: tap k of filter c+j at [k][j].
void WeightTransform(int64_t O, int64_t C, const float* w, float* U) {
  ForTiles(O, O * C * kPositions, [&](int64_t o) {
    ForChannels(C, [&](auto d, int64_t c) {
      HWY_ALIGN float taps[9][kLanes];
      HWY_ALIGN Block t;  // G g down the columns: t[3 * row + column], rows 0..5
      GatherTaps(d, w + (o * C + c) * 9, taps);
      for (int l = 0; l < 3; ++l) WeightT(d, taps[l], 3 * kLanes, t[l], 3 * kLanes);
      for (int r = 0; r < 6; ++r) WeightT(d, t[3 * r], kLanes, U + (6 * r * O + o) * C + c, O * C);
    });
  });
}

void WeightTransformBackward(int64_t O, int64_t C, const float* dU, float* dw) {
  ForTiles(O, O * C * kPositions, [&](int64_t o) {
    ForChannels(C, [&](auto d, int64_t c) {
      HWY_ALIGN Block t;  // G^T dU down the columns: t[6 * row + column], rows 0..2
      HWY_ALIGN float taps[9][kLanes];
      for (int s = 0; s < 6; ++s)
        WeightAdjoint(d, dU + (s * O + o) * C + c, 6 * O * C, t[s], 6 * kLanes);
      for (int r = 0; r < 3; ++r) WeightAdjoint(d, t[6 * r], kLanes, taps[3 * r], kLanes);
      ScatterTaps(d, taps, dw + (o * C + c) * 9);
    });
  });
}

}  // namespace f4x4
}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops::winograd
HWY_AFTER_NAMESPACE();

#endif  // include guard
