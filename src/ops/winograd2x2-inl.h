// Winograd F(2x2, 3x3)'s transforms (winograd.h), Highway kernels. Every transform vectorises
// along the contiguous channel axis (one vector of channels per tile position); the activation
// transforms thread over tiles, the weight transforms over output channels.
//
// The 1-D transforms (applied along the tile's rows, then along its columns):
//   B^T u = (u0 - u2,  u1 + u2,  u2 - u1,  u1 - u3)        input
//   B u   = (u0,  u1 - u2 + u3,  u1 + u2 - u0,  -u3)        its adjoint
//   A^T u = (u0 + u1 + u2,  u1 - u2 - u3)                   output (4 -> 2)
//   A g   = (g0,  g0 + g1,  g0 - g1,  -g1)                  its adjoint (2 -> 4)
//   G g   = (g0,  (g0 + g1 + g2)/2,  (g0 - g1 + g2)/2,  g2)  weights (3 -> 4)
//   G^T u = (u0 + (u1 + u2)/2,  (u1 - u2)/2,  (u1 + u2)/2 + u3)   its adjoint (4 -> 3)
//
// Highway's "-inl.h" pattern: re-included once per target by winograd.cc, the guard toggles.
#if defined(HSANET_OPS_WINOGRAD2X2_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HSANET_OPS_WINOGRAD2X2_INL_H_
#undef HSANET_OPS_WINOGRAD2X2_INL_H_
#else
#define HSANET_OPS_WINOGRAD2X2_INL_H_
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
namespace f2x2 {
namespace hn = hwy::HWY_NAMESPACE;
using namespace winograd_loops::HWY_NAMESPACE;  // the shared tile loops and tap moves

constexpr int64_t kPositions = 16;

template <class V>
HWY_INLINE void InputT(V& u0, V& u1, V& u2, V& u3) {  // u <- B^T u
  const V r0 = hn::Sub(u0, u2), r1 = hn::Add(u1, u2), r2 = hn::Sub(u2, u1), r3 = hn::Sub(u1, u3);
  u0 = r0, u1 = r1, u2 = r2, u3 = r3;
}
template <class V>
HWY_INLINE void InputAdjoint(V& u0, V& u1, V& u2, V& u3) {  // u <- B u
  const V r1 = hn::Add(hn::Sub(u1, u2), u3), r2 = hn::Sub(hn::Add(u1, u2), u0), r3 = hn::Neg(u3);
  u1 = r1, u2 = r2, u3 = r3;
}
template <class V>
HWY_INLINE void OutputT(V u0, V u1, V u2, V u3, V& r0, V& r1) {  // (r0, r1) = A^T u
  r0 = hn::Add(hn::Add(u0, u1), u2);
  r1 = hn::Sub(hn::Sub(u1, u2), u3);
}
template <class V>
HWY_INLINE void OutputAdjoint(V g0, V g1, V& r0, V& r1, V& r2, V& r3) {  // r = A g
  r0 = g0, r1 = hn::Add(g0, g1), r2 = hn::Sub(g0, g1), r3 = hn::Neg(g1);
}

void InputTransform(const Tiling& tl, int64_t C, const float* x, float* V) {
  const int64_t P = tl.tiles();
  ForInputWindows(tl, C, x, [&](int64_t p, const float* const* src) {
    float* dst = V + p * C;  // position t at dst + t * P * C
    ForChannels(C, [&](auto d, int64_t c) {
      auto v0 = hn::LoadU(d, src[0] + c), v1 = hn::LoadU(d, src[1] + c);
      auto v2 = hn::LoadU(d, src[2] + c), v3 = hn::LoadU(d, src[3] + c);
      auto v4 = hn::LoadU(d, src[4] + c), v5 = hn::LoadU(d, src[5] + c);
      auto v6 = hn::LoadU(d, src[6] + c), v7 = hn::LoadU(d, src[7] + c);
      auto v8 = hn::LoadU(d, src[8] + c), v9 = hn::LoadU(d, src[9] + c);
      auto v10 = hn::LoadU(d, src[10] + c), v11 = hn::LoadU(d, src[11] + c);
      auto v12 = hn::LoadU(d, src[12] + c), v13 = hn::LoadU(d, src[13] + c);
      auto v14 = hn::LoadU(d, src[14] + c), v15 = hn::LoadU(d, src[15] + c);
      InputT(v0, v4, v8, v12), InputT(v1, v5, v9, v13);  // down each column
      InputT(v2, v6, v10, v14), InputT(v3, v7, v11, v15);
      InputT(v0, v1, v2, v3), InputT(v4, v5, v6, v7);  // along each row
      InputT(v8, v9, v10, v11), InputT(v12, v13, v14, v15);
      float* o = dst + c;
      const int64_t s = P * C;
      hn::StoreU(v0, d, o), hn::StoreU(v1, d, o + s), hn::StoreU(v2, d, o + 2 * s);
      hn::StoreU(v3, d, o + 3 * s), hn::StoreU(v4, d, o + 4 * s), hn::StoreU(v5, d, o + 5 * s);
      hn::StoreU(v6, d, o + 6 * s), hn::StoreU(v7, d, o + 7 * s), hn::StoreU(v8, d, o + 8 * s);
      hn::StoreU(v9, d, o + 9 * s), hn::StoreU(v10, d, o + 10 * s);
      hn::StoreU(v11, d, o + 11 * s), hn::StoreU(v12, d, o + 12 * s);
      hn::StoreU(v13, d, o + 13 * s), hn::StoreU(v14, d, o + 14 * s);
      hn::StoreU(v15, d, o + 15 * s);
    });
  });
}

void InputTransformBackward(const Tiling& tl, int64_t C, const float* dV, float* dx) {
  const int64_t P = tl.tiles();
  ForInputWindowsScattering(tl, C, dx, [&](int64_t p, float* const* dst) {
    const float* src = dV + p * C;
    const int64_t s = P * C;
    ForChannels(C, [&](auto d, int64_t c) {
      const float* g = src + c;
      auto v0 = hn::LoadU(d, g), v1 = hn::LoadU(d, g + s), v2 = hn::LoadU(d, g + 2 * s);
      auto v3 = hn::LoadU(d, g + 3 * s), v4 = hn::LoadU(d, g + 4 * s);
      auto v5 = hn::LoadU(d, g + 5 * s), v6 = hn::LoadU(d, g + 6 * s);
      auto v7 = hn::LoadU(d, g + 7 * s), v8 = hn::LoadU(d, g + 8 * s);
      auto v9 = hn::LoadU(d, g + 9 * s), v10 = hn::LoadU(d, g + 10 * s);
      auto v11 = hn::LoadU(d, g + 11 * s), v12 = hn::LoadU(d, g + 12 * s);
      auto v13 = hn::LoadU(d, g + 13 * s), v14 = hn::LoadU(d, g + 14 * s);
      auto v15 = hn::LoadU(d, g + 15 * s);
      InputAdjoint(v0, v4, v8, v12), InputAdjoint(v1, v5, v9, v13);
      InputAdjoint(v2, v6, v10, v14), InputAdjoint(v3, v7, v11, v15);
      InputAdjoint(v0, v1, v2, v3), InputAdjoint(v4, v5, v6, v7);
      InputAdjoint(v8, v9, v10, v11), InputAdjoint(v12, v13, v14, v15);
      auto add = [&](int t, hn::Vec<decltype(d)> v) {
        if (dst[t]) hn::StoreU(hn::Add(hn::LoadU(d, dst[t] + c), v), d, dst[t] + c);
      };
      add(0, v0), add(1, v1), add(2, v2), add(3, v3), add(4, v4), add(5, v5), add(6, v6);
      add(7, v7), add(8, v8), add(9, v9), add(10, v10), add(11, v11), add(12, v12);
      add(13, v13), add(14, v14), add(15, v15);
    });
  });
}

void OutputTransform(const Tiling& tl, int64_t O, const float* M, const float* bias, float* y) {
  const int64_t P = tl.tiles();
  const std::vector<float> zeros(static_cast<size_t>(O), 0.f);  // no bias: [O]
  const float* b = bias ? bias : zeros.data();
  ForOutputBlocks(tl, O, y, [&](int64_t p, float* const* dst) {
    const float* src = M + p * O;
    const int64_t s = P * O;
    ForChannels(O, [&](auto d, int64_t c) {
      const float* m = src + c;
      auto ld = [&](int t) { return hn::LoadU(d, m + t * s); };
      hn::Vec<decltype(d)> a0, a1, a2, a3, e0, e1, e2, e3;  // A^T down each column: rows 0 and 1
      OutputT(ld(0), ld(4), ld(8), ld(12), a0, e0);
      OutputT(ld(1), ld(5), ld(9), ld(13), a1, e1);
      OutputT(ld(2), ld(6), ld(10), ld(14), a2, e2);
      OutputT(ld(3), ld(7), ld(11), ld(15), a3, e3);
      hn::Vec<decltype(d)> y00, y01, y10, y11;
      OutputT(a0, a1, a2, a3, y00, y01);
      OutputT(e0, e1, e2, e3, y10, y11);
      const auto bv = hn::LoadU(d, b + c);
      if (dst[0]) hn::StoreU(hn::Add(y00, bv), d, dst[0] + c);
      if (dst[1]) hn::StoreU(hn::Add(y01, bv), d, dst[1] + c);
      if (dst[2]) hn::StoreU(hn::Add(y10, bv), d, dst[2] + c);
      if (dst[3]) hn::StoreU(hn::Add(y11, bv), d, dst[3] + c);
    });
  });
}

void OutputTransformBackward(const Tiling& tl, int64_t O, const float* dy, float* dM) {
  const int64_t P = tl.tiles();
  ForOutputGradBlocks(tl, O, dy, [&](int64_t p, const float* const* src) {
    float* dst = dM + p * O;
    const int64_t s = P * O;
    ForChannels(O, [&](auto d, int64_t c) {
      const auto g00 = hn::LoadU(d, src[0] + c), g01 = hn::LoadU(d, src[1] + c);
      const auto g10 = hn::LoadU(d, src[2] + c), g11 = hn::LoadU(d, src[3] + c);
      hn::Vec<decltype(d)> e00, e10, e20, e30, e01, e11, e21, e31;  // A down each column
      OutputAdjoint(g00, g10, e00, e10, e20, e30);
      OutputAdjoint(g01, g11, e01, e11, e21, e31);
      float* o = dst + c;
      hn::Vec<decltype(d)> r0, r1, r2, r3;  // A along each row
      OutputAdjoint(e00, e01, r0, r1, r2, r3);
      hn::StoreU(r0, d, o), hn::StoreU(r1, d, o + s), hn::StoreU(r2, d, o + 2 * s);
      hn::StoreU(r3, d, o + 3 * s);
      OutputAdjoint(e10, e11, r0, r1, r2, r3);
      hn::StoreU(r0, d, o + 4 * s), hn::StoreU(r1, d, o + 5 * s), hn::StoreU(r2, d, o + 6 * s);
      hn::StoreU(r3, d, o + 7 * s);
      OutputAdjoint(e20, e21, r0, r1, r2, r3);
      hn::StoreU(r0, d, o + 8 * s), hn::StoreU(r1, d, o + 9 * s);
      hn::StoreU(r2, d, o + 10 * s), hn::StoreU(r3, d, o + 11 * s);
      OutputAdjoint(e30, e31, r0, r1, r2, r3);
      hn::StoreU(r0, d, o + 12 * s), hn::StoreU(r1, d, o + 13 * s);
      hn::StoreU(r2, d, o + 14 * s), hn::StoreU(r3, d, o + 15 * s);
    });
  });
}

template <class D, class V>
HWY_INLINE void WeightT(D d, V g0, V g1, V g2, V& r0, V& r1, V& r2, V& r3) {  // r = G g
  const V half = hn::Set(d, 0.5f), outer = hn::Add(g0, g2);
  r0 = g0, r1 = hn::Mul(half, hn::Add(outer, g1)), r2 = hn::Mul(half, hn::Sub(outer, g1)), r3 = g2;
}
template <class D, class V>
HWY_INLINE void WeightAdjoint(D d, V u0, V u1, V u2, V u3, V& r0, V& r1, V& r2) {  // r = G^T u
  const V half = hn::Set(d, 0.5f), mid = hn::Mul(half, hn::Add(u1, u2));
  r0 = hn::Add(u0, mid), r1 = hn::Mul(half, hn::Sub(u1, u2)), r2 = hn::Add(mid, u3);
}

// The weight transforms, vectorised along c. A filter's 9 taps are contiguous in OIHW, so the
// filters w[o, c .. c+n) pass through a small transposed block on the stack: tap k of filter
// c+j at block[k][j].
void WeightTransform(int64_t O, int64_t C, const float* w, float* U) {
  const int64_t s = O * C;  // one position's [O, C] plane
  ForTiles(O, O * C * kPositions, [&](int64_t o) {
    ForChannels(C, [&](auto d, int64_t c) {
      using V = hn::Vec<decltype(d)>;
      HWY_ALIGN float block[9][kMaxLanes];
      GatherTaps(d, w + (o * C + c) * 9, block);
      auto tap = [&](int k) { return hn::Load(d, block[k]); };
      V a00, a10, a20, a30, a01, a11, a21, a31, a02, a12, a22, a32;  // G g: a_rl
      WeightT(d, tap(0), tap(3), tap(6), a00, a10, a20, a30);  // down each column l
      WeightT(d, tap(1), tap(4), tap(7), a01, a11, a21, a31);
      WeightT(d, tap(2), tap(5), tap(8), a02, a12, a22, a32);
      float* u = U + o * C + c;
      V u0, u1, u2, u3;
      auto row = [&](int r, V x0, V x1, V x2) {  // (G g) G^T, row r
        WeightT(d, x0, x1, x2, u0, u1, u2, u3);
        hn::StoreU(u0, d, u + (4 * r) * s), hn::StoreU(u1, d, u + (4 * r + 1) * s);
        hn::StoreU(u2, d, u + (4 * r + 2) * s), hn::StoreU(u3, d, u + (4 * r + 3) * s);
      };
      row(0, a00, a01, a02), row(1, a10, a11, a12), row(2, a20, a21, a22), row(3, a30, a31, a32);
    });
  });
}

void WeightTransformBackward(int64_t O, int64_t C, const float* dU, float* dw) {
  const int64_t s = O * C;
  ForTiles(O, O * C * kPositions, [&](int64_t o) {
    ForChannels(C, [&](auto d, int64_t c) {
      using V = hn::Vec<decltype(d)>;
      const float* u = dU + o * C + c;
      auto pos = [&](int t) { return hn::LoadU(d, u + t * s); };
      V h00, h10, h20, h01, h11, h21, h02, h12, h22, h03, h13, h23;  // G^T dU: h_kl
      WeightAdjoint(d, pos(0), pos(4), pos(8), pos(12), h00, h10, h20);  // down each column l
      WeightAdjoint(d, pos(1), pos(5), pos(9), pos(13), h01, h11, h21);
      WeightAdjoint(d, pos(2), pos(6), pos(10), pos(14), h02, h12, h22);
      WeightAdjoint(d, pos(3), pos(7), pos(11), pos(15), h03, h13, h23);
      HWY_ALIGN float block[9][kMaxLanes];  // tap k of filter c+j: [k][j]
      V g0, g1, g2;
      auto row = [&](int k, V x0, V x1, V x2, V x3) {  // (G^T dU) G, row k
        WeightAdjoint(d, x0, x1, x2, x3, g0, g1, g2);
        hn::Store(g0, d, block[3 * k]), hn::Store(g1, d, block[3 * k + 1]);
        hn::Store(g2, d, block[3 * k + 2]);
      };
      row(0, h00, h01, h02, h03), row(1, h10, h11, h12, h13), row(2, h20, h21, h22, h23);
      ScatterTaps(d, block, dw + (o * C + c) * 9);
    });
  });
}

}  // namespace f2x2
}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops::winograd
HWY_AFTER_NAMESPACE();

#endif  // include guard
