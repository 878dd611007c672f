// The attention core's matrix products on Highway: a register-tiled GEMM with an optional
// transposed A, and the packing of its operands into dense rows. Per target, inline, used by
// attention.cc (one head at a time: M, Nc, Kd up to a few hundred) and tested on its own
// (tests/test_gemm.cc) against a double reference on every compiled target.
// Highway's "-inl.h" pattern: re-included once per target, the guard toggles.
#if defined(HSANET_OPS_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HSANET_OPS_GEMM_INL_H_
#undef HSANET_OPS_GEMM_INL_H_
#else
#define HSANET_OPS_GEMM_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "ops/simd_tail-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Register tile of the GEMM: kMR rows of C by kNV vectors of columns. With AVX-512's 32
// registers, 8 x 3 = 24 accumulators + 3 B vectors + 1 broadcast fit; per step of the inner
// loop that is 24 FMAs for 11 loads, so the two FMA ports, not the load ports, set the pace.
// Measured against 6 x 4, 4 x 6, 12 x 2 and 7 x 3 on this project's shapes, 8 x 3 was 3-15%
// faster: its B panel (Kd x 48 floats) still fits L1 at Kd = 196, where 6 x 4's does not.
// The 16-register targets (AVX2, SSE4) use 4 x 2.
#if HWY_TARGET <= HWY_AVX3
constexpr int kMR = 8;
constexpr int kNV = 3;
#else
constexpr int kMR = 4;
constexpr int kNV = 2;
#endif

HWY_INLINE int64_t RoundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// ---------------------------------------------------------------------------------------------
// GEMM: C[M, Nc] (= or +=) A[M, Kd] B[Kd, Nc].
//   A: element (i, p) at a[i * lda + p], or at a[p * lda + i] when kTransA (A^T is stored).
//      Only ever read one scalar at a time (broadcast), so any layout and alignment works.
//   B: row p at b + p * ldb; full vectors are loaded, so each row must be readable up to
//      RoundUp(Nc, Lanes) columns (the callers pad their buffers or use exact multiples).
//   C: row i at c + i * ldc; exactly Nc columns are written (and read when accumulating).
// ---------------------------------------------------------------------------------------------

// One tile of up to kMR rows and NV vectors. Rows past `mr` re-read row mr-1 (their sums are
// thrown away): one code path for full and edge tiles, at the price of a few wasted FMAs.
template <int NV, bool kTransA>
HWY_INLINE void GemmTile(int mr, int Kd, const float* HWY_RESTRICT a, int64_t lda,
                         const float* HWY_RESTRICT b, int64_t ldb, float* HWY_RESTRICT c,
                         int64_t ldc, int64_t nc, bool accumulate) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  int64_t aoff[kMR];  // where row i of the tile starts in A
  for (int i = 0; i < kMR; ++i) aoff[i] = std::min(i, mr - 1) * (kTransA ? 1 : lda);
  const int64_t astep = kTransA ? lda : 1;  // A's stride along p

  hn::Vec<hn::ScalableTag<float>> acc[kMR][NV];
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = hn::Zero(d);
  for (int p = 0; p < Kd; ++p) {
    const float* bp = b + p * ldb;
    const float* ap = a + p * astep;
    hn::Vec<hn::ScalableTag<float>> bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = hn::LoadU(d, bp + j * L);
    for (int i = 0; i < kMR; ++i) {
      const auto ai = hn::Set(d, ap[aoff[i]]);
      for (int j = 0; j < NV; ++j) acc[i][j] = hn::MulAdd(ai, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < NV; ++j) {
      const int64_t cols = std::min<int64_t>(L, nc - j * L);
      auto v = acc[i][j];
      if (cols == L) {
        if (accumulate) v = hn::Add(v, hn::LoadU(d, ci + j * L));
        hn::StoreU(v, d, ci + j * L);
      } else {
        if (accumulate) v = hn::Add(v, LoadPart(d, ci + j * L, cols));
        StorePart(v, d, ci + j * L, cols);
      }
    }
  }
}

template <bool kTransA>
void Gemm(int M, int Nc, int Kd, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
          int64_t ldc, bool accumulate) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  if (M <= 0 || Nc <= 0) return;
  if (Kd <= 0) {  // empty sum: C = 0 (or unchanged)
    if (!accumulate)
      for (int i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + Nc, 0.f);
    return;
  }
  // Column blocks outside, row tiles inside: a B panel [Kd, kNV * L] (37 KB at Kd = 196)
  // stays in L1/L2 while the A rows stream past it.
  for (int64_t j0 = 0; j0 < Nc; j0 += kNV * L) {
    const int64_t nc = std::min<int64_t>(kNV * L, Nc - j0);
    const int nv = static_cast<int>((nc + L - 1) / L);
    for (int i0 = 0; i0 < M; i0 += kMR) {
      const int mr = std::min(kMR, M - i0);
      const float* ai = a + (kTransA ? i0 : i0 * lda);
      float* ci = c + i0 * ldc + j0;
      const float* bj = b + j0;
      switch (nv) {
#if HWY_TARGET <= HWY_AVX3
        case 3:
          GemmTile<3, kTransA>(mr, Kd, ai, lda, bj, ldb, ci, ldc, nc, accumulate);
          break;
#endif
        case 2:
          GemmTile<2, kTransA>(mr, Kd, ai, lda, bj, ldb, ci, ldc, nc, accumulate);
          break;
        default:
          GemmTile<1, kTransA>(mr, Kd, ai, lda, bj, ldb, ci, ldc, nc, accumulate);
          break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Packing. The B operands are packed per head into dense rows: q, k, v and dout rows sit
// 3C = 1536 (or C) floats apart in the caller's layout, and at that power-of-two-ish stride the
// 196 rows of a GEMM's B panel fall into a handful of L1 sets and evict each other. Dense
// 128-float rows spread over every set.
// ---------------------------------------------------------------------------------------------

// dst[m * ld_dst + c] = src[m * ld_src + c] for c < cols, zero up to ld_dst.
inline void PackRows(const float* src, int64_t ld_src, int rows, int cols, float* dst,
                     int64_t ld_dst) {
  for (int m = 0; m < rows; ++m) {
    std::memcpy(dst + m * ld_dst, src + m * ld_src, cols * sizeof(float));
    std::fill(dst + m * ld_dst + cols, dst + (m + 1) * ld_dst, 0.f);
  }
}

// dst[c * ld_dst + m] = src[m * ld_src + c] for m < rows, c < cols (columns >= rows of dst are
// left alone). 4 x 4 tiles are transposed in registers, four floats per load and store instead
// of one: the scalar loop was a tenth of the forward's time.
inline void PackTransposed(const float* HWY_RESTRICT src, int64_t ld_src, int rows, int cols,
                           float* HWY_RESTRICT dst, int64_t ld_dst) {
  int m0 = 0;
#if HWY_TARGET != HWY_SCALAR
  if (cols % 4 == 0) {
    const hn::Full128<float> d4;
    for (; m0 + 4 <= rows; m0 += 4) {
      const float* s = src + m0 * ld_src;
      for (int c = 0; c < cols; c += 4) {
        const auto r0 = hn::LoadU(d4, s + c), r1 = hn::LoadU(d4, s + ld_src + c);
        const auto r2 = hn::LoadU(d4, s + 2 * ld_src + c), r3 = hn::LoadU(d4, s + 3 * ld_src + c);
        const auto t0 = hn::InterleaveLower(d4, r0, r1);  // a0 b0 a1 b1
        const auto t1 = hn::InterleaveLower(d4, r2, r3);  // c0 d0 c1 d1
        const auto t2 = hn::InterleaveUpper(d4, r0, r1);  // a2 b2 a3 b3
        const auto t3 = hn::InterleaveUpper(d4, r2, r3);  // c2 d2 c3 d3
        float* o = dst + c * ld_dst + m0;
        hn::StoreU(hn::ConcatLowerLower(d4, t1, t0), d4, o);               // a0 b0 c0 d0
        hn::StoreU(hn::ConcatUpperUpper(d4, t1, t0), d4, o + ld_dst);      // a1 b1 c1 d1
        hn::StoreU(hn::ConcatLowerLower(d4, t3, t2), d4, o + 2 * ld_dst);  // a2 b2 c2 d2
        hn::StoreU(hn::ConcatUpperUpper(d4, t3, t2), d4, o + 3 * ld_dst);  // a3 b3 c3 d3
      }
    }
  }
#endif
  for (int m = m0; m < rows; ++m)
    for (int c = 0; c < cols; ++c) dst[c * ld_dst + m] = src[m * ld_src + c];
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#endif  // include guard
